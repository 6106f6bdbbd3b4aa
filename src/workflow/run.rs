//! Running a workflow: the executor trait, the scheduler, and what a run returns.
//!
//! The scheduler starts every node whose connections are resolved as soon as they are, so
//! independent nodes run concurrently (as futures of the one run task: the work is I/O on the
//! database). A node is skipped, not run, when a connection into it comes from a skipped node or
//! from a switch branch not taken; a `MergeNode` runs when at least one of its connections is
//! live. On the first failure nothing new starts, nodes already running finish (a statement is
//! never cut in half), and the run fails naming the node.
//!
//! A transactional run begins one [`Transaction`] on the executor and runs every model node in it,
//! one at a time (a transaction is one connection); built-ins still run beside them. The
//! transaction commits when every node succeeded and rolls back otherwise.

use super::path;
use super::{NodeKind, Workflow};
use crate::context::{Channel, Context};
use crate::error::{Error, Result};
use crate::operation::Operation;
use crate::store::{Store, Transaction};
use futures_util::future::BoxFuture;
use futures_util::stream::{FuturesUnordered, StreamExt};
use indexmap::IndexMap;
use serde_json::{Map, Value, json};
use std::collections::VecDeque;
use std::sync::atomic::{AtomicBool, Ordering};
use tracing::Instrument;

/// Runs operations for a workflow. [`Store`] implements it (operations on its pool); the server's
/// dispatcher implements it to send each operation through the model's node actor.
///
/// The methods return boxed futures so that the trait can be used as `dyn OpExecutor`.
pub trait OpExecutor: Send + Sync {
    /// Runs one operation.
    fn execute<'a>(&'a self, ctx: &'a Context, op: &'a Operation) -> BoxFuture<'a, Result<Value>>;

    /// Begins a transaction for a transactional run. The default refuses: an executor that
    /// cannot hand out transactions cannot run transactional workflows.
    fn begin(&self) -> BoxFuture<'_, Result<Transaction>> {
        Box::pin(async {
            Err(Error::Unavailable(
                "this executor cannot run transactional workflows".into(),
            ))
        })
    }
}

impl OpExecutor for Store {
    fn execute<'a>(&'a self, ctx: &'a Context, op: &'a Operation) -> BoxFuture<'a, Result<Value>> {
        Box::pin(Store::execute(self, ctx, op))
    }

    fn begin(&self) -> BoxFuture<'_, Result<Transaction>> {
        Box::pin(Store::begin(self))
    }
}

impl<T: OpExecutor + ?Sized> OpExecutor for std::sync::Arc<T> {
    fn execute<'a>(&'a self, ctx: &'a Context, op: &'a Operation) -> BoxFuture<'a, Result<Value>> {
        (**self).execute(ctx, op)
    }

    fn begin(&self) -> BoxFuture<'_, Result<Transaction>> {
        (**self).begin()
    }
}

/// A completed run: each node's result by node id (declaration order), and the nodes skipped
/// because a switch took another branch.
#[derive(Debug, Clone, PartialEq)]
pub struct RunOutput {
    /// The run's id (a UUIDv7).
    pub run_id: String,
    /// The workflow's name.
    pub workflow: String,
    /// The result of every node that ran, by node id.
    pub results: IndexMap<String, Value>,
    /// The ids of the nodes that did not run because a switch took another branch.
    pub skipped: Vec<String>,
}

impl RunOutput {
    /// `{"run_id", "workflow", "status": "completed", "results": {node_id: result}, "skipped":
    /// [node_id]}`: the answer of a synchronous run on every channel.
    pub fn to_json(&self) -> Value {
        json!({
            "run_id": self.run_id,
            "workflow": self.workflow,
            "status": "completed",
            "results": results_json(&self.results),
            "skipped": self.skipped,
        })
    }
}

fn results_json(results: &IndexMap<String, Value>) -> Value {
    Value::Object(
        results
            .iter()
            .map(|(k, v)| (k.clone(), v.clone()))
            .collect(),
    )
}

/// A failed run: the error of the node that failed first (its code unchanged; a validation or
/// conflict field prefixed with `nodes.<id>.params`), or of the run itself (bad inputs, a
/// transaction that could not begin or commit) when `node` is `None`.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
#[error("{}", self.message())]
pub struct RunError {
    /// The run's id.
    pub run_id: String,
    /// The workflow's name.
    pub workflow: String,
    /// The node that failed, when a node did.
    pub node: Option<String>,
    /// The error.
    pub error: Error,
    /// The results of the nodes that finished before the run stopped (their writes are undone
    /// when `rolled_back`).
    pub results: IndexMap<String, Value>,
    /// Whether the run's transaction was rolled back.
    pub rolled_back: bool,
}

impl RunError {
    /// The error's stable code (`validation`, `conflict`, `not_found`, ...).
    pub fn code(&self) -> &'static str {
        self.error.code()
    }

    fn message(&self) -> String {
        match &self.node {
            Some(node) => format!("node `{node}` failed: {}", self.error),
            None => self.error.to_string(),
        }
    }

    /// The error object every channel sends: `{code, message, field?, details}`, with `details`
    /// holding the inner error's details plus `run_id`, `workflow`, `node` and `rolled_back`.
    pub fn to_json(&self) -> Value {
        let mut obj = self.error.to_json();
        if let Some(m) = obj.as_object_mut() {
            if !matches!(self.error, Error::Internal(_)) {
                m.insert("message".into(), json!(self.message()));
            } else if let Some(node) = &self.node {
                m.insert(
                    "message".into(),
                    json!(format!("node `{node}` failed: internal error")),
                );
            }
            let mut details = match m.remove("details") {
                Some(Value::Object(d)) => d,
                _ => Map::new(),
            };
            details.insert("run_id".into(), json!(self.run_id));
            details.insert("workflow".into(), json!(self.workflow));
            details.insert("node".into(), json!(self.node));
            details.insert("rolled_back".into(), json!(self.rolled_back));
            m.insert("details".into(), Value::Object(details));
        }
        obj
    }

    /// The stored form of a failed run: `{"run_id", "workflow", "status": "failed", "error",
    /// "results", "rolled_back"}`.
    pub fn to_run_json(&self) -> Value {
        json!({
            "run_id": self.run_id,
            "workflow": self.workflow,
            "status": "failed",
            "error": self.to_json(),
            "results": results_json(&self.results),
            "rolled_back": self.rolled_back,
        })
    }
}

impl RunError {
    /// The inner error as a plain [`Error`], its message naming the node for the variants that
    /// carry a message (for callers that handle every failure as an `Error`).
    pub fn into_error(self) -> Error {
        let Some(node) = &self.node else {
            return self.error;
        };
        let prefix = |s: String| format!("node `{node}` failed: {s}");
        match self.error {
            Error::Validation { field, reason } => Error::Validation {
                field,
                reason: prefix(reason),
            },
            Error::Conflict { field, reason } => Error::Conflict {
                field,
                reason: prefix(reason),
            },
            Error::Forbidden(s) => Error::Forbidden(prefix(s)),
            Error::Unauthorized(s) => Error::Unauthorized(prefix(s)),
            Error::Unavailable(s) => Error::Unavailable(prefix(s)),
            other => other,
        }
    }
}

/// What became of a node.
#[derive(Debug)]
enum State {
    /// Waiting for this many connections to resolve.
    Waiting(usize),
    Running,
    Done(Value),
    Skipped,
    Failed,
}

/// The outcome of one node's future.
enum Outcome {
    Ok(Value),
    Err(Error),
    /// It never started: the run had already failed when its turn came.
    NotRun,
}

impl Workflow {
    /// Checks a run's inputs (an object, or null for none): unknown names, missing required
    /// inputs and values of the wrong type are validation errors naming `inputs.<name>`. Returns
    /// the inputs with defaults filled in.
    pub fn check_inputs(&self, inputs: &Value) -> Result<Map<String, Value>> {
        super::inputs::check_run_inputs(&self.inner.inputs, inputs)
    }

    /// Runs the workflow on `exec` with `inputs`. Each operation gets `ctx` with the channel set
    /// to [`Channel::Workflow`].
    pub async fn run(
        &self,
        exec: &dyn OpExecutor,
        ctx: &Context,
        inputs: &Value,
    ) -> Result<RunOutput, RunError> {
        self.run_with_id(exec, ctx, inputs, uuid::Uuid::now_v7().to_string())
            .await
    }

    /// Like [`Workflow::run`], with the run id chosen by the caller (the run store chooses it
    /// before the run starts).
    pub async fn run_with_id(
        &self,
        exec: &dyn OpExecutor,
        ctx: &Context,
        inputs: &Value,
        run_id: String,
    ) -> Result<RunOutput, RunError> {
        let span = tracing::info_span!("workflow", name = %self.name(), run_id = %run_id, request_id = %ctx.request_id);
        async {
            let fail = |error: Error| RunError {
                run_id: run_id.clone(),
                workflow: self.name().to_string(),
                node: None,
                error,
                results: IndexMap::new(),
                rolled_back: false,
            };
            let inputs = self.check_inputs(inputs).map_err(fail)?;
            let ctx = Context {
                channel: Channel::Workflow,
                idempotency_key: None,
                ..ctx.clone()
            };
            let needs_tx = self.transactional() && self.nodes().iter().any(|n| n.kind().is_model());
            let tx = if needs_tx {
                Some(tokio::sync::Mutex::new(exec.begin().await.map_err(fail)?))
            } else {
                None
            };
            let result = self.schedule(exec, tx.as_ref(), &ctx, &inputs).await;
            let tx = tx.map(tokio::sync::Mutex::into_inner);
            match result {
                Ok((results, skipped)) => {
                    if let Some(tx) = tx {
                        tx.commit().await.map_err(fail)?;
                    }
                    tracing::debug!("workflow run completed");
                    Ok(RunOutput {
                        run_id: run_id.clone(),
                        workflow: self.name().to_string(),
                        results,
                        skipped,
                    })
                }
                Err((node, error, results)) => {
                    let rolled_back = match tx {
                        Some(tx) => {
                            if let Err(e) = tx.rollback().await {
                                tracing::warn!(error = %e, "rolling back a failed workflow run");
                            }
                            true
                        }
                        None => false,
                    };
                    tracing::debug!(node = %node, code = error.code(), "workflow run failed");
                    Err(RunError {
                        run_id: run_id.clone(),
                        workflow: self.name().to_string(),
                        node: Some(node),
                        error,
                        results,
                        rolled_back,
                    })
                }
            }
        }
        .instrument(span)
        .await
    }

    /// Runs the nodes; returns the results and skipped ids, or the failed node, its error and the
    /// results so far.
    #[allow(clippy::type_complexity)]
    async fn schedule(
        &self,
        exec: &dyn OpExecutor,
        tx: Option<&tokio::sync::Mutex<Transaction>>,
        ctx: &Context,
        inputs: &Map<String, Value>,
    ) -> Result<(IndexMap<String, Value>, Vec<String>), (String, Error, IndexMap<String, Value>)>
    {
        let inner = &self.inner;
        let n = inner.nodes.len();
        let mut state: Vec<State> = inner
            .graph
            .incoming
            .iter()
            .map(|c| State::Waiting(c.len()))
            .collect();
        let mut ready: VecDeque<usize> = inner
            .graph
            .order
            .iter()
            .copied()
            .filter(|&i| inner.graph.incoming[i].is_empty())
            .collect();
        let failed = AtomicBool::new(false);
        let mut failure: Option<(usize, Error)> = None;
        let mut running = FuturesUnordered::new();
        loop {
            while failure.is_none() {
                let Some(i) = ready.pop_front() else { break };
                if self.skips(i, &state) {
                    state[i] = State::Skipped;
                    self.release(i, &mut state, &mut ready);
                    continue;
                }
                match self.params_of(i, &state, inputs) {
                    Ok(params) => {
                        state[i] = State::Running;
                        running.push(self.run_node(i, params, exec, tx, ctx, inputs, &failed));
                    }
                    Err(e) => {
                        state[i] = State::Failed;
                        failed.store(true, Ordering::SeqCst);
                        failure = Some((i, e));
                    }
                }
            }
            let Some((i, outcome)) = running.next().await else {
                break;
            };
            match outcome {
                Outcome::Ok(v) => {
                    state[i] = State::Done(v);
                    self.release(i, &mut state, &mut ready);
                }
                Outcome::Err(e) => {
                    state[i] = State::Failed;
                    failed.store(true, Ordering::SeqCst);
                    if failure.is_none() {
                        failure = Some((i, e));
                    }
                }
                Outcome::NotRun => state[i] = State::Waiting(0),
            }
        }
        let mut results = IndexMap::new();
        let mut skipped = Vec::new();
        for (i, s) in state.into_iter().enumerate() {
            match s {
                State::Done(v) => {
                    results.insert(inner.nodes[i].id.clone(), v);
                }
                State::Skipped => skipped.push(inner.nodes[i].id.clone()),
                _ => {}
            }
        }
        match failure {
            Some((i, e)) => Err((inner.nodes[i].id.clone(), e, results)),
            None => {
                debug_assert_eq!(results.len() + skipped.len(), n);
                Ok((results, skipped))
            }
        }
    }

    /// Marks node `i`'s outgoing connections resolved; queues the targets that have none left.
    fn release(&self, i: usize, state: &mut [State], ready: &mut VecDeque<usize>) {
        for &c in &self.inner.graph.outgoing[i] {
            let to = self.inner.conn_nodes[c].1;
            if let State::Waiting(left) = &mut state[to] {
                *left -= 1;
                if *left == 0 {
                    ready.push_back(to);
                }
            }
        }
    }

    /// Whether connection `c` carries a value: its source ran and, from a switch, took the branch
    /// the connection names.
    fn live(&self, c: usize, state: &[State]) -> bool {
        let from = self.inner.conn_nodes[c].0;
        match &state[from] {
            State::Done(result) => match self.inner.nodes[from].kind {
                NodeKind::Switch => {
                    let branch = self.inner.conn_paths[c].0.segs().first();
                    branch.is_some_and(|b| result["branch"].as_str() == Some(b.as_str()))
                }
                _ => true,
            },
            _ => false,
        }
    }

    /// Whether node `i` is skipped: a merge when none of its connections is live, any other node
    /// when one is not.
    fn skips(&self, i: usize, state: &[State]) -> bool {
        let incoming = &self.inner.graph.incoming[i];
        if incoming.is_empty() {
            return false;
        }
        match self.inner.nodes[i].kind {
            NodeKind::Merge => !incoming.iter().any(|&c| self.live(c, state)),
            _ => !incoming.iter().all(|&c| self.live(c, state)),
        }
    }

    /// Node `i`'s params: its references resolved, then the values of its live connections put in.
    fn params_of(&self, i: usize, state: &[State], inputs: &Map<String, Value>) -> Result<Value> {
        let inner = &self.inner;
        let node = &inner.nodes[i];
        let mut params = node.tpl.render(inputs);
        for &c in &inner.graph.incoming[i] {
            let (output, Some(input)) = &inner.conn_paths[c] else {
                continue;
            };
            if !self.live(c, state) {
                continue;
            }
            let conn = &inner.connections[c];
            let from = inner.conn_nodes[c].0;
            let State::Done(result) = &state[from] else {
                continue;
            };
            let value = match inner.nodes[from].kind {
                NodeKind::Switch => path::get(&result["value"], output.tail()),
                _ => path::get(result, output.segs()),
            };
            let Some(value) = value else {
                return Err(Error::validation(
                    format!("connections.{c}.output"),
                    format!(
                        "the result of node `{}` has no `{}`",
                        conn.from, conn.output
                    ),
                ));
            };
            path::set(&mut params, input.segs(), value.clone()).map_err(|reason| {
                Error::validation(
                    format!("connections.{c}.input"),
                    format!("cannot put the value into node `{}`: {reason}", conn.to),
                )
            })?;
        }
        Ok(params)
    }

    /// The future of one node: its index and outcome.
    #[allow(clippy::too_many_arguments)]
    fn run_node<'a>(
        &'a self,
        i: usize,
        params: Value,
        exec: &'a dyn OpExecutor,
        tx: Option<&'a tokio::sync::Mutex<Transaction>>,
        ctx: &'a Context,
        inputs: &'a Map<String, Value>,
        failed: &'a AtomicBool,
    ) -> BoxFuture<'a, (usize, Outcome)> {
        let node = &self.inner.nodes[i];
        let span = tracing::debug_span!("node", id = %node.id, kind = %node.kind.type_name());
        Box::pin(
            async move {
                let outcome = match (&node.kind, &node.builtin) {
                    (NodeKind::Model { model, op }, _) => {
                        let op = Operation::new(model.clone(), *op, params);
                        // The audit trail names the workflow and the node.
                        let ctx = &Context {
                            via: Some(format!("workflow:{}/{}", self.name(), node.id)),
                            ..ctx.clone()
                        };
                        let result = match tx {
                            Some(tx) => {
                                let mut tx = tx.lock().await;
                                if failed.load(Ordering::SeqCst) {
                                    return (i, Outcome::NotRun);
                                }
                                tx.execute(ctx, &op).await
                            }
                            None => exec.execute(ctx, &op).await,
                        };
                        result.map_err(|e| e.within(&format!("nodes.{}.params", node.id)))
                    }
                    (_, Some(b)) => b.run(&node.id, params, inputs).await,
                    (_, None) => Err(Error::internal(format!(
                        "built-in node {} has no compiled form",
                        node.id
                    ))),
                };
                match outcome {
                    Ok(v) => (i, Outcome::Ok(v)),
                    Err(e) => (i, Outcome::Err(e)),
                }
            }
            .instrument(span),
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn run_errors_name_the_node_and_keep_the_code() {
        let e = RunError {
            run_id: "r".into(),
            workflow: "w".into(),
            node: Some("user".into()),
            error: Error::Conflict {
                field: Some("nodes.user.params.email".into()),
                reason: "email is taken".into(),
            },
            results: IndexMap::new(),
            rolled_back: true,
        };
        let j = e.to_json();
        assert_eq!(j["code"], "conflict");
        assert_eq!(j["field"], "nodes.user.params.email");
        assert_eq!(j["message"], "node `user` failed: email is taken");
        assert_eq!(j["details"]["node"], "user");
        assert_eq!(j["details"]["rolled_back"], true);
        let plain = e.into_error();
        assert_eq!(plain.code(), "conflict");
        assert!(plain.to_string().contains("node `user`"));
    }
}
