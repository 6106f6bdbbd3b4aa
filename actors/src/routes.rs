//! The routing table every channel reads: which models exist, under which table names, and the
//! node actor serving each one that is ready. The registry actor writes it.

use crate::node::{Job, NodeMsg};
use crate::readiness::{Board, State};
use crate::workflows::Workflows;
use dashmap::DashMap;
use flowgate::{Context, Error, ModelInfo, OpKind};
use ractor::ActorRef;
use ractor::rpc::CallResult;
use rustc_hash::FxBuildHasher;
use serde_json::Value;
use std::sync::Arc;
use std::time::Duration;

/// A model that is being served.
#[derive(Clone)]
pub struct Route {
    /// The model.
    pub model: Arc<ModelInfo>,
    /// Its node actor.
    pub node: ActorRef<NodeMsg>,
}

/// The routing table. Its maps are read on every request, so they hash with FxHash (the keys
/// are model and table names, which come from model definitions, not from callers: a lookup by
/// a caller's string only reads).
#[derive(Default)]
pub struct Routes {
    serving: DashMap<String, Route, FxBuildHasher>,
    tables: DashMap<String, String, FxBuildHasher>,
    versions: DashMap<String, i64, FxBuildHasher>,
}

impl Routes {
    /// Notes that a model exists under a table name, before it is ready.
    pub fn declare(&self, model: &str, table: &str) {
        self.tables.insert(table.to_string(), model.to_string());
    }

    /// Routes a model to its node.
    pub fn serve(&self, model: Arc<ModelInfo>, node: ActorRef<NodeMsg>) {
        self.declare(model.name(), &model.table);
        self.serving
            .insert(model.name().to_string(), Route { model, node });
    }

    /// Stops routing to a model's node (it failed or shut down).
    pub fn withdraw(&self, model: &str) -> Option<Route> {
        self.serving.remove(model).map(|(_, r)| r)
    }

    /// The model under a table name.
    pub fn model_of_table(&self, table: &str) -> Option<String> {
        self.tables.get(table).map(|m| m.clone())
    }

    /// Whether a model name is known (served or declared).
    pub fn knows(&self, model: &str) -> bool {
        self.serving.contains_key(model) || self.tables.iter().any(|e| e.value() == model)
    }

    /// The route of a served model.
    pub fn route(&self, model: &str) -> Option<Route> {
        self.serving.get(model).map(|r| r.clone())
    }

    /// The route of a target whose model is served, without allocating: the path of every
    /// request once its model is ready.
    pub fn route_of(&self, target: Target<'_>) -> Option<Route> {
        match target {
            Target::Model(name) => self.route(name),
            Target::Table(t) => self.route(self.tables.get(t)?.value()),
        }
    }

    /// Notes the registry version of a model (persisted models count from 1).
    pub fn set_version(&self, model: &str, version: i64) {
        self.versions.insert(model.to_string(), version);
    }

    /// The registry version of a model, when it has one.
    pub fn version(&self, model: &str) -> Option<i64> {
        self.versions.get(model).map(|v| *v)
    }

    /// Every served model, by name.
    pub fn served(&self) -> Vec<Arc<ModelInfo>> {
        let mut out: Vec<Arc<ModelInfo>> = self.serving.iter().map(|r| r.model.clone()).collect();
        out.sort_by(|a, b| a.name().cmp(b.name()));
        out
    }

    /// The model operation whose MCP tool is called `name` (`<table>_<op>`, DESIGN section 7),
    /// among the tables known (served or declared). A workflow's tool is named after the
    /// workflow, so the registry refuses a workflow named like one of these, and a model whose
    /// tools would take a workflow's name.
    pub fn tool_owner(&self, name: &str) -> Option<(String, OpKind)> {
        OpKind::ALL.into_iter().find_map(|op| {
            let table = name.strip_suffix(op.as_str())?.strip_suffix('_')?;
            Some((self.model_of_table(table)?, op))
        })
    }
}

/// Whom a request is for.
#[derive(Debug, Clone, Copy)]
pub enum Target<'a> {
    /// A model by name (`/nodes/UserCreateNode`, MCP tools).
    Model(&'a str),
    /// A model by table name (`/api/users`).
    Table(&'a str),
}

/// The one request path of every channel: resolve the model, wait for it to be ready (up to
/// `ready_wait`), hand the operation to its node, return the node's answer.
#[derive(Clone)]
pub struct Dispatcher {
    routes: Arc<Routes>,
    board: Board,
    ready_wait: Duration,
    workflows: Arc<Workflows>,
}

impl Dispatcher {
    /// A dispatcher over a routing table and a readiness board, with an empty table of
    /// workflows (which the registry fills).
    pub fn new(routes: Arc<Routes>, board: Board, ready_wait: Duration) -> Dispatcher {
        Dispatcher {
            routes,
            board,
            ready_wait,
            workflows: Arc::default(),
        }
    }

    /// The served workflows.
    pub fn workflows(&self) -> &Arc<Workflows> {
        &self.workflows
    }

    /// How long a request waits for a model or workflow that is not ready yet.
    pub fn ready_wait(&self) -> Duration {
        self.ready_wait
    }

    /// The routing table.
    pub fn routes(&self) -> &Arc<Routes> {
        &self.routes
    }

    /// The readiness board.
    pub fn board(&self) -> &Board {
        &self.board
    }

    /// Resolves a target to a model name, or NotFound.
    pub fn resolve(&self, target: Target<'_>) -> flowgate::Result<String> {
        match target {
            Target::Model(name) if self.routes.knows(name) => Ok(name.to_string()),
            Target::Model(name) => Err(Error::not_found(flowgate::Missing::Model, name)),
            Target::Table(t) => self
                .routes
                .model_of_table(t)
                .ok_or_else(|| Error::not_found(flowgate::Missing::Table, t)),
        }
    }

    /// Why `feature` does not serve yet: the database when it is not connected (with what is
    /// wrong, in public words), else the feature's own state.
    fn not_ready(&self, feature: String) -> Error {
        let state = self.board.state(&feature).unwrap_or(State::Pending);
        if matches!(state, State::Pending)
            && let Some(db) = self.board.state("database").filter(|s| !s.is_up())
        {
            return Error::NotReady {
                what: "database".into(),
                state: match db.detail() {
                    Some(d) => format!("{}: {d}", db.name()),
                    None => db.name().into(),
                },
                retry_after_ms: 1000,
            };
        }
        Error::NotReady {
            what: feature,
            state: state.name().into(),
            retry_after_ms: 1000,
        }
    }

    /// Runs an operation through the model's node.
    ///
    /// A name that is not known yet is not a 404 while the `migrations` feature is still coming
    /// up: the registry has not loaded the persisted models (another application's, say), so the
    /// request waits for them like for a model that is not ready, and gets a 503 when the wait
    /// runs out.
    pub async fn call(
        &self,
        target: Target<'_>,
        op: OpKind,
        ctx: Context,
        params: impl Into<flowgate::Params>,
    ) -> flowgate::Result<Value> {
        // Shared, so that a request whose node died before starting it can be sent again.
        let job = Arc::new(Job::new(ctx, params));
        // Dropped with the call (its client went away): the node drops the operation too.
        let _hang_up = HangUp(job.clone());
        // The common case, a served model, takes no lock but the maps' and allocates nothing
        // but the job; everything else (waiting, errors, a restarted node) is `call_slow`.
        let mut dead = None;
        if let Some(route) = self.routes.route_of(target) {
            match send(&route, op, &job).await {
                Some(result) => return result,
                None => dead = Some(route.node.get_id()),
            }
        }
        self.call_slow(target, op, job, dead).await
    }

    /// `call` for a model that is not served yet, or whose node stopped (`dead`) with the
    /// request in its mailbox.
    async fn call_slow(
        &self,
        target: Target<'_>,
        op: OpKind,
        job: Arc<Job>,
        mut dead: Option<ractor::ActorId>,
    ) -> flowgate::Result<Value> {
        let deadline = tokio::time::Instant::now() + self.ready_wait;
        let mut changes = self.board.subscribe();
        let name = loop {
            let not_found = match self.resolve(target) {
                Ok(name) => break name,
                Err(e) => e,
            };
            let loading = match self.board.state("migrations") {
                None => return Err(not_found),
                Some(s) if s.is_up() => return Err(not_found),
                Some(State::Failed(reason)) => {
                    return Err(Error::NotReady {
                        what: "migrations".into(),
                        state: format!("failed: {reason}"),
                        retry_after_ms: 5000,
                    });
                }
                Some(s) => s,
            };
            if tokio::time::timeout_at(deadline, changes.changed())
                .await
                .is_err()
            {
                return Err(Error::NotReady {
                    what: "migrations".into(),
                    state: loading.name().into(),
                    retry_after_ms: 1000,
                });
            }
        };
        let feature = format!("model:{name}");
        loop {
            if let Some(route) = self
                .routes
                .route(&name)
                .filter(|r| Some(r.node.get_id()) != dead)
            {
                if let Some(result) = send(&route, op, &job).await {
                    return result;
                }
                // The node stopped with the request still in its mailbox: nothing ran (a node
                // hands each request to a task before anything touches the database). Wait for
                // its replacement and send the request again.
                dead = Some(route.node.get_id());
                if tokio::time::Instant::now() >= deadline {
                    return Err(Error::Unavailable(format!(
                        "the node of {name} stopped before handling the request; retry"
                    )));
                }
                continue;
            }
            let state = self.board.state(&feature).unwrap_or(State::Pending);
            if let State::Failed(reason) = &state {
                return Err(Error::NotReady {
                    what: feature,
                    state: format!("failed: {reason}"),
                    retry_after_ms: 5000,
                });
            }
            if tokio::time::timeout_at(deadline, changes.changed())
                .await
                .is_err()
            {
                return Err(self.not_ready(feature));
            }
        }
    }
}

/// Tells the node that the caller stopped waiting, when the caller's future is dropped.
struct HangUp(Arc<Job>);

impl Drop for HangUp {
    fn drop(&mut self) {
        self.0.hang_up();
    }
}

/// Sends a job to a node and waits for its answer; `None` when the node stopped before
/// answering (the job never started: see `NodeMsg::Run`).
async fn send(route: &Route, op: OpKind, job: &Arc<Job>) -> Option<flowgate::Result<Value>> {
    let sent = route
        .node
        .call(
            |reply| NodeMsg::Run {
                job: job.clone(),
                op,
                reply,
            },
            None,
        )
        .await;
    match sent {
        Ok(CallResult::Success(result)) => Some(result),
        _ => None,
    }
}
