//! The dispatcher's part in workflows: waiting for a workflow like for a model, running it, and
//! the [`OpExecutor`] through which a run's model nodes take the request path.
//!
//! Runs are spawned on the workflow table's task tracker, synchronous ones too: a client that
//! hangs up does not cut a run in half, and shutdown waits for the runs in flight before it
//! closes the pool.

use super::{Dispatcher, failed};
use crate::readiness::{Feature, Look, State};
use crate::routes::Target;
use crate::workflows::Served;
use flowgate::workflow::{OpExecutor, RunError, RunOutput, RunRecord, RunStore, Workflow};
use flowgate::{Context, Error, Operation, Transaction};
use futures_util::future::BoxFuture;
use serde_json::Value;
use std::sync::Arc;

/// Why a run did not complete: the run failed (a node, its inputs, its transaction), or it never
/// started (no such workflow, not ready).
#[derive(Debug)]
pub enum RunFailure {
    /// The run failed; the error names the node when a node did.
    Run(Box<RunError>),
    /// The run did not start.
    Refused(Error),
}

impl RunFailure {
    /// The error whose code gives the status (HTTP), the exit code (CLI) and the `code`.
    pub fn error(&self) -> &Error {
        match self {
            RunFailure::Run(e) => &e.error,
            RunFailure::Refused(e) => e,
        }
    }

    /// The error object every channel sends: a failed run's names the node and the run.
    pub fn to_json(&self) -> Value {
        match self {
            RunFailure::Run(e) => e.to_json(),
            RunFailure::Refused(e) => e.to_json(),
        }
    }
}

impl From<Error> for RunFailure {
    fn from(e: Error) -> Self {
        RunFailure::Refused(e)
    }
}

impl OpExecutor for Dispatcher {
    /// A model node's operation, on the request path like any request (waiting `ready_wait_ms`
    /// for a model that is not ready).
    fn execute<'a>(
        &'a self,
        ctx: &'a Context,
        op: &'a Operation,
    ) -> BoxFuture<'a, flowgate::Result<Value>> {
        Box::pin(self.call(
            Target::Model(&op.model),
            op.op,
            ctx.clone(),
            op.params.clone(),
        ))
    }

    /// A transaction on the store's pool: a transactional run's model nodes run in it, one at a
    /// time, through the store's stage (`Transaction::run`) rather than the models' runners.
    fn begin(&self) -> BoxFuture<'_, flowgate::Result<Transaction>> {
        Box::pin(async move {
            match self.workflows().store() {
                Some(store) => store.begin().await,
                None => Err(Error::NotReady {
                    what: Feature::Database.to_string(),
                    state: "starting".into(),
                    retry_after_ms: 1000,
                }),
            }
        })
    }
}

impl Dispatcher {
    /// The admission stage of a run: `workflow:<name>` and its rate limit before anything
    /// waits, then, once the workflow is known, every model node's `<Model>:<op>` for the
    /// caller, so that a run the caller may not finish does not start (a transactional run's
    /// operations do not pass the dispatcher one by one).
    async fn admitted_workflow(&self, name: &str, ctx: &Context) -> flowgate::Result<Arc<Served>> {
        self.auth().admit_workflow(&ctx.principal, name).await?;
        let served = self.workflow(name).await?;
        for permission in crate::auth::node_permissions(&served.workflow) {
            self.auth().authorize(&ctx.principal, permission)?;
        }
        Ok(served)
    }

    /// A served workflow. A workflow that is not served yet is waited for, up to
    /// `ready_wait_ms`, while it (or the `workflows` feature) is still coming up; a failed one
    /// answers `not_ready` with its reason; an unknown one is `not_found`.
    pub async fn workflow(&self, name: &str) -> flowgate::Result<Arc<Served>> {
        let deadline = tokio::time::Instant::now() + self.ready_wait();
        let feature = Feature::workflow(name);
        let not_found = || Error::not_found(flowgate::Missing::Workflow, name);
        let waiting = |what: &Feature, state: State| Error::NotReady {
            what: what.to_string(),
            state: state.name().into(),
            retry_after_ms: 1000,
        };
        self.board()
            .wait_for(deadline, |board| {
                if let Some(s) = self.workflows().get(name) {
                    return Look::Ready(s);
                }
                match board.state(&feature) {
                    Some(State::Failed(reason)) => Look::Fail(failed(&feature, &reason)),
                    Some(s) if !s.is_up() => Look::Wait(waiting(&feature, s)),
                    Some(_) => Look::Fail(not_found()),
                    None => match board.state(&Feature::Workflows) {
                        Some(State::Failed(reason)) => {
                            Look::Fail(failed(&Feature::Workflows, &reason))
                        }
                        Some(s) if !s.is_up() => Look::Wait(waiting(&Feature::Workflows, s)),
                        _ => Look::Fail(not_found()),
                    },
                }
            })
            .await
    }

    /// The run store, waiting up to `ready_wait_ms` while the `workflows` feature comes up.
    async fn run_store(&self) -> flowgate::Result<RunStore> {
        let deadline = tokio::time::Instant::now() + self.ready_wait();
        self.board()
            .wait_for(deadline, |board| {
                if let Some(runs) = self.workflows().runs() {
                    return Look::Ready(runs);
                }
                match board.state(&Feature::Workflows).unwrap_or(State::Pending) {
                    State::Failed(reason) => Look::Fail(failed(&Feature::Workflows, &reason)),
                    state => Look::Wait(Error::NotReady {
                        what: Feature::Workflows.to_string(),
                        state: state.name().into(),
                        retry_after_ms: 1000,
                    }),
                }
            })
            .await
    }

    /// Runs a workflow to its end (`mode: sync`): every channel's synchronous run.
    pub async fn run_workflow(
        &self,
        name: &str,
        ctx: Context,
        inputs: Value,
    ) -> Result<RunOutput, RunFailure> {
        let served = self.admitted_workflow(name, &ctx).await?;
        let exec = self.clone();
        let task = self
            .workflows()
            .tasks
            .spawn(async move { served.workflow.run(&exec, &ctx, &inputs).await });
        match task.await {
            Ok(result) => result.map_err(|e| RunFailure::Run(Box::new(e))),
            Err(e) => Err(RunFailure::Refused(Error::internal(format!(
                "the workflow run task failed: {e}"
            )))),
        }
    }

    /// Starts a workflow in the background (`mode: async`): its inputs are checked, the run is
    /// stored `pending` in `flowgate_runs`, and its id comes back at once.
    pub async fn start_workflow(
        &self,
        name: &str,
        ctx: Context,
        inputs: Value,
    ) -> flowgate::Result<String> {
        let served = self.admitted_workflow(name, &ctx).await?;
        let runs = self.run_store().await?;
        let exec: Arc<dyn OpExecutor> = Arc::new(self.clone());
        let started = runs.start(&served.workflow, exec, &ctx, &inputs).await?;
        let task = started.task;
        self.workflows().tasks.spawn(async move {
            let _ = task.await;
        });
        Ok(started.run_id)
    }

    /// A stored run of workflow `name` (from this process or an earlier one); `not_found` when
    /// there is no such run, or it belongs to another workflow.
    pub async fn workflow_run(
        &self,
        name: &str,
        run_id: &str,
        tenant: Option<&str>,
    ) -> flowgate::Result<RunRecord> {
        let runs = self.run_store().await?;
        let record = runs.get(run_id, tenant).await?;
        if record.workflow != name {
            return Err(Error::not_found(flowgate::Missing::Run, run_id));
        }
        Ok(record)
    }

    /// Registers a workflow at run time through the registry actor: checked against the served
    /// models, saved in `flowgate_workflows` (with model persistence), served on every channel.
    /// Gives whether it is new (rather than replacing one of the same name).
    pub async fn register_workflow(
        &self,
        workflow: Workflow,
        source: &str,
    ) -> flowgate::Result<bool> {
        let Some(registrar) = self.workflows().registrar() else {
            return Err(Error::NotReady {
                what: Feature::Registry.to_string(),
                state: "starting".into(),
                retry_after_ms: 1000,
            });
        };
        registrar(workflow, source.to_string()).await
    }
}
