//! Workflows served by the runtime (DESIGN sections 6 to 8): the table of served workflows every
//! channel reads, and the dispatcher's part in running them.
//!
//! The registry actor fills the table (`registry/workflows.rs`) with the workflows declared on
//! the supervisor builder, found in `discover` directories, saved in `flowgate_workflows` or
//! registered at run time, each checked against the models served. Channels only read it. A run
//! goes through the [`Dispatcher`], whose [`OpExecutor`] sends every model node's operation to
//! the model's node actor, exactly as a REST request or an MCP tool call would; a transactional
//! run takes one `Transaction` from the store instead.
//!
//! Runs are spawned on a task tracker, synchronous ones too: a client that hangs up does not cut
//! a run in half, and shutdown waits for the runs in flight before it closes the pool.

use crate::readiness::State;
use crate::registry::RegistryMsg;
use crate::routes::{Dispatcher, Target};
use flowgate::workflow::{
    NodeKind, OpExecutor, RunError, RunOutput, RunRecord, RunStore, Workflow,
};
use flowgate::{Context, Error, OpKind, Operation, Schema, Store, Transaction};
use futures_util::future::BoxFuture;
use ractor::ActorRef;
use ractor::rpc::CallResult;
use serde_json::{Value, json};
use std::collections::BTreeMap;
use std::sync::{Arc, RwLock};
use std::time::Duration;
use tokio_util::task::TaskTracker;

/// A workflow being served, with what the channels show of it.
#[derive(Debug)]
pub struct Served {
    /// The workflow.
    pub workflow: Workflow,
    /// Where it came from: `builder`, a file's path, `flowgate_workflows`, `handle`, `http`.
    pub source: String,
    /// The JSON Schema of its inputs, against the models served when it was checked.
    pub input_schema: Value,
    /// What `GET /workflows/{name}` answers: the canonical form, `input_schema` and `order`.
    pub describe: Value,
}

impl Served {
    /// A workflow checked against `schema`, ready to serve.
    pub fn new(workflow: Workflow, source: impl Into<String>, schema: &Schema) -> Served {
        Served {
            input_schema: workflow.input_schema(schema),
            describe: workflow.describe(schema),
            workflow,
            source: source.into(),
        }
    }

    /// The workflow's name.
    pub fn name(&self) -> &str {
        self.workflow.name()
    }

    /// Its entry in `GET /workflows` and `flowgate://workflows`.
    pub fn summary(&self) -> Value {
        let nodes: Vec<Value> = self
            .workflow
            .nodes()
            .iter()
            .map(|n| json!({"id": n.id(), "type": n.kind().type_name()}))
            .collect();
        json!({
            "name": self.name(),
            "description": self.workflow.description(),
            "transactional": self.workflow.transactional(),
            "nodes": nodes,
            "input_schema": self.input_schema,
        })
    }
}

/// The served workflows, the run store and what a run needs besides the node actors. Shared by
/// the registry actor (which writes it) and the channels (which read it).
#[derive(Default)]
pub struct Workflows {
    served: RwLock<BTreeMap<String, Arc<Served>>>,
    runs: RwLock<Option<RunStore>>,
    store: RwLock<Option<Store>>,
    registry: RwLock<Option<ActorRef<RegistryMsg>>>,
    tasks: TaskTracker,
}

impl Workflows {
    /// A served workflow by name.
    pub fn get(&self, name: &str) -> Option<Arc<Served>> {
        self.served
            .read()
            .expect("workflows lock")
            .get(name)
            .cloned()
    }

    /// Every served workflow, by name.
    pub fn served(&self) -> Vec<Arc<Served>> {
        self.served
            .read()
            .expect("workflows lock")
            .values()
            .cloned()
            .collect()
    }

    /// Serves a workflow (replacing one of the same name).
    pub fn serve(&self, served: Arc<Served>) {
        self.served
            .write()
            .expect("workflows lock")
            .insert(served.name().to_string(), served);
    }

    /// Stops serving a workflow.
    pub fn withdraw(&self, name: &str) -> Option<Arc<Served>> {
        self.served.write().expect("workflows lock").remove(name)
    }

    /// `{"workflows": [summary, ...]}`: `GET /workflows` and the resource `flowgate://workflows`.
    pub fn list_json(&self) -> Value {
        let list: Vec<Value> = self.served().iter().map(|s| s.summary()).collect();
        json!({ "workflows": list })
    }

    /// The run store, once the registry opened it.
    pub fn runs(&self) -> Option<RunStore> {
        self.runs.read().expect("workflows lock").clone()
    }

    pub(crate) fn set_runs(&self, runs: RunStore) {
        *self.runs.write().expect("workflows lock") = Some(runs);
    }

    /// The store transactional runs begin their transaction on, once connected.
    pub(crate) fn store(&self) -> Option<Store> {
        self.store.read().expect("workflows lock").clone()
    }

    pub(crate) fn set_store(&self, store: Store) {
        *self.store.write().expect("workflows lock") = Some(store);
    }

    pub(crate) fn set_registry(&self, registry: ActorRef<RegistryMsg>) {
        *self.registry.write().expect("workflows lock") = Some(registry);
    }

    fn registry(&self) -> Option<ActorRef<RegistryMsg>> {
        self.registry.read().expect("workflows lock").clone()
    }

    /// Waits for the runs in flight (synchronous and asynchronous) to finish, at most `timeout`.
    /// Gives whether they did.
    pub async fn drain(&self, timeout: Duration) -> bool {
        self.tasks.close();
        let done = tokio::time::timeout(timeout, self.tasks.wait())
            .await
            .is_ok();
        self.tasks.reopen();
        done
    }
}

/// Whether a workflow can serve: its name is no model's MCP tool (`tool_owner` gives the model
/// and operation whose tool a name is), every model it runs serves (`not_served` gives why a
/// model does not), and [`Workflow::check`] passes against `schema`. The server and the command
/// line in local mode both ask this, so they refuse the same workflows with the same errors.
pub fn verify(
    wf: &Workflow,
    schema: &Schema,
    tool_owner: impl Fn(&str) -> Option<(String, OpKind)>,
    not_served: impl Fn(&str) -> Option<Error>,
) -> flowgate::Result<()> {
    if let Some((model, op)) = tool_owner(wf.name()) {
        return Err(Error::Conflict {
            field: Some("name".into()),
            reason: format!(
                "workflow name `{}` is the MCP tool of the {} operation of model {model}; \
                 a workflow's tool is named after it, so it needs another name",
                wf.name(),
                op.as_str()
            ),
        });
    }
    for node in wf.nodes() {
        if let NodeKind::Model { model, .. } = node.kind()
            && let Some(e) = not_served(model)
        {
            return Err(e);
        }
    }
    wf.check(schema)
}

/// Why a workflow declared in more than one place (files, the builder) serves from none.
pub fn declared_twice(name: &str, sources: &[String]) -> String {
    format!(
        "workflow `{name}` is declared more than once: {}",
        sources.join(" and ")
    )
}

/// An error as a reason on the readiness board: the field it names first.
pub fn reason_of(e: &Error) -> String {
    match e.field() {
        Some(f) => format!("{f}: {e}"),
        None => e.to_string(),
    }
}

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
    /// A model node's operation, through the model's node actor (waiting `ready_wait_ms` for a
    /// model that is not ready, like every channel).
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
    /// time, beside the node actors rather than through them.
    fn begin(&self) -> BoxFuture<'_, flowgate::Result<Transaction>> {
        Box::pin(async move {
            match self.workflows().store() {
                Some(store) => store.begin().await,
                None => Err(Error::NotReady {
                    what: "database".into(),
                    state: "starting".into(),
                    retry_after_ms: 1000,
                }),
            }
        })
    }
}

impl Dispatcher {
    /// A served workflow. A workflow that is not served yet is waited for, up to
    /// `ready_wait_ms`, while it (or the `workflows` feature) is still coming up; a failed one
    /// answers `not_ready` with its reason; an unknown one is `not_found`.
    pub async fn workflow(&self, name: &str) -> flowgate::Result<Arc<Served>> {
        let deadline = tokio::time::Instant::now() + self.ready_wait();
        let mut changes = self.board().subscribe();
        let feature = format!("workflow:{name}");
        loop {
            if let Some(s) = self.workflows().get(name) {
                return Ok(s);
            }
            let not_found = || Error::not_found(flowgate::Missing::Workflow, name);
            let (what, state) = match self.board().state(&feature) {
                Some(State::Failed(reason)) => {
                    return Err(Error::NotReady {
                        what: feature,
                        state: format!("failed: {reason}"),
                        retry_after_ms: 5000,
                    });
                }
                Some(s) if !s.is_up() => (feature.clone(), s),
                Some(_) => return Err(not_found()),
                None => match self.board().state("workflows") {
                    Some(State::Failed(reason)) => {
                        return Err(Error::NotReady {
                            what: "workflows".into(),
                            state: format!("failed: {reason}"),
                            retry_after_ms: 5000,
                        });
                    }
                    Some(s) if !s.is_up() => ("workflows".to_string(), s),
                    _ => return Err(not_found()),
                },
            };
            if tokio::time::timeout_at(deadline, changes.changed())
                .await
                .is_err()
            {
                return Err(Error::NotReady {
                    what,
                    state: state.name().into(),
                    retry_after_ms: 1000,
                });
            }
        }
    }

    /// The run store, waiting up to `ready_wait_ms` while the `workflows` feature comes up.
    async fn run_store(&self) -> flowgate::Result<RunStore> {
        let deadline = tokio::time::Instant::now() + self.ready_wait();
        let mut changes = self.board().subscribe();
        loop {
            if let Some(runs) = self.workflows().runs() {
                return Ok(runs);
            }
            let state = self.board().state("workflows").unwrap_or(State::Pending);
            if let State::Failed(reason) = &state {
                return Err(Error::NotReady {
                    what: "workflows".into(),
                    state: format!("failed: {reason}"),
                    retry_after_ms: 5000,
                });
            }
            if tokio::time::timeout_at(deadline, changes.changed())
                .await
                .is_err()
            {
                return Err(Error::NotReady {
                    what: "workflows".into(),
                    state: state.name().into(),
                    retry_after_ms: 1000,
                });
            }
        }
    }

    /// Runs a workflow to its end (`mode: sync`): every channel's synchronous run.
    pub async fn run_workflow(
        &self,
        name: &str,
        ctx: Context,
        inputs: Value,
    ) -> Result<RunOutput, RunFailure> {
        let served = self.workflow(name).await?;
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
        let served = self.workflow(name).await?;
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
    pub async fn workflow_run(&self, name: &str, run_id: &str) -> flowgate::Result<RunRecord> {
        let runs = self.run_store().await?;
        let record = runs.get(run_id).await?;
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
        let Some(registry) = self.workflows().registry() else {
            return Err(Error::NotReady {
                what: "registry".into(),
                state: "starting".into(),
                retry_after_ms: 1000,
            });
        };
        let source = source.to_string();
        match registry
            .call(
                |reply| RegistryMsg::RegisterWorkflow {
                    workflow,
                    source,
                    reply,
                },
                None,
            )
            .await
        {
            Ok(CallResult::Success(r)) => r,
            _ => Err(Error::Unavailable(
                "the registry stopped while registering the workflow".into(),
            )),
        }
    }
}
