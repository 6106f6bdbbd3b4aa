//! The request path: the one way every channel (REST, MCP, the CLI through either, workflow
//! runs) reaches a model's operation or a workflow.
//!
//! A request passes fixed stages, each in one place (ARCHITECTURE.md, "The request path"):
//!
//! 1. **Channel** (`gateway/http.rs`, `gateway/mcp.rs`): reads the wire format, authenticates,
//!    and builds the [`Context`] (request id, channel, principal, tenant).
//! 2. **Dispatcher** ([`Dispatcher::call`], here): admits the request (authorization, rate
//!    limits, idempotency and the cache are checked here, in that order, before anything
//!    waits), then routes it to its model and waits, up to `ready_wait_ms`, for the model to
//!    be ready.
//! 3. **Runner** (`node.rs`): runs the operation in the caller's task under a permit of the
//!    model's share of the pool, and reports writes the database refuses on the board.
//! 4. **Store** (`flowgate::Store::run`, or `Transaction::run` for a transactional workflow run;
//!    both end in the store's one operation dispatch): checks params, scopes by tenant, writes,
//!    audits and bumps the cache generation inside the write's transaction.
//!
//! Workflow runs (`dispatch/workflows.rs`) enter at stage 2 for the workflow, and each model
//! node's operation passes stages 2 to 4 like any request; a transactional run's operations
//! pass stage 4 on one transaction.

mod workflows;

pub use workflows::RunFailure;

use crate::auth::Auth;
use crate::node::{Closed, Runner};
use crate::readiness::{Board, Feature, Look, State};
use crate::routes::{Route, Routes, Target};
use crate::workflows::Workflows;
use flowgate::{Context, Error, Form, OpKind, Output, Params};
use serde_json::Value;
use std::sync::Arc;
use std::time::Duration;

/// The request path of every channel. Cheap to clone.
#[derive(Clone)]
pub struct Dispatcher {
    routes: Arc<Routes>,
    board: Board,
    ready_wait: Duration,
    workflows: Arc<Workflows>,
    auth: Arc<Auth>,
    /// Whether writes are audited (`audit_log`).
    audited: bool,
    /// Whether the application is multi-tenant (`multi_tenant`).
    multi_tenant: bool,
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
            auth: Arc::default(),
            audited: false,
            multi_tenant: false,
        }
    }

    /// The dispatcher knowing whether writes are audited and the application multi-tenant
    /// (what reading the audit trail needs to know).
    pub fn with_settings(mut self, audited: bool, multi_tenant: bool) -> Dispatcher {
        self.audited = audited;
        self.multi_tenant = multi_tenant;
        self
    }

    /// Whether writes are audited.
    pub fn audited(&self) -> bool {
        self.audited
    }

    /// Whether the application is multi-tenant.
    pub fn multi_tenant(&self) -> bool {
        self.multi_tenant
    }

    /// The dispatcher with `auth` as its admission stage (the default lets anyone do
    /// anything, with no rate limit).
    pub fn with_auth(mut self, auth: Arc<Auth>) -> Dispatcher {
        self.auth = auth;
        self
    }

    /// Authentication, authorization and rate limits.
    pub fn auth(&self) -> &Arc<Auth> {
        &self.auth
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

    /// Runs an operation: the stages after the channel's (see the module's documentation).
    ///
    /// Dropping the returned future (the client hung up) drops the operation where it stands,
    /// waiting or running; its statement is stopped (see `flowgate::Store::run`).
    pub async fn call(
        &self,
        target: Target<'_>,
        op: OpKind,
        ctx: Context,
        params: impl Into<Params>,
    ) -> flowgate::Result<Value> {
        self.call_output(target, op, ctx, params.into(), Form::Value)
            .await?
            .into_value()
    }

    /// [`Dispatcher::call`], giving the result in `form`: the REST API asks for JSON text,
    /// which a read by id encodes straight from its row.
    pub async fn call_output(
        &self,
        target: Target<'_>,
        op: OpKind,
        ctx: Context,
        params: Params,
        form: Form,
    ) -> flowgate::Result<Output> {
        // Admit, route, and wait for readiness. A served model, the common case, takes no lock
        // but the routing table's and allocates nothing. A model that is declared but not served
        // yet is admitted before the request waits for it.
        let mut runner = match self.routes.runner_of(target) {
            Some(runner) => {
                let m = runner.model();
                self.auth
                    .admit_op(&ctx.principal, &m.def.name, &m.table, op)
                    .await?;
                runner
            }
            None => {
                let declared = self.resolve(target).ok();
                if let Some(name) = &declared {
                    let table = self.routes.table_of(name).unwrap_or_default();
                    self.auth.admit_op(&ctx.principal, name, &table, op).await?;
                }
                let route = self.wait_route(target, None).await?;
                if declared.is_none() {
                    let m = route.runner.model();
                    self.auth
                        .admit_op(&ctx.principal, &m.def.name, &m.table, op)
                        .await?;
                }
                route.runner
            }
        };
        // `expand` reads other models' records: the caller needs `list` on each (DESIGN 13.10).
        if matches!(op, OpKind::Read | OpKind::List)
            && let Params::Json(v) = &params
            && v.get("expand").is_some()
        {
            let served = self.routes.served();
            let related = flowgate::store::expand::related_models(
                &runner.model().def,
                served.iter().map(|m| &m.def),
                v,
            );
            for model in &related {
                self.auth.authorize(
                    &ctx.principal,
                    crate::auth::Permission::Op {
                        model,
                        op: OpKind::List,
                    },
                )?;
            }
        }
        // Run on the model's runner. A runner closed before the operation started (its node
        // stopped: a model changed or a restart) ran nothing: the operation goes to the next.
        loop {
            match runner.run(&ctx, op, &params, form).await {
                Ok(result) => return result,
                Err(Closed) => runner = self.wait_route(target, Some(&runner)).await?.runner,
            }
        }
    }

    /// The route of a model that is not served yet (or only by the `stale` runner, which
    /// closed), waiting up to `ready_wait` for it.
    ///
    /// A name that is not known yet is not a 404 while the `migrations` feature is still coming
    /// up: the registry has not loaded the persisted models (another application's, say), so the
    /// request waits for them like for a model that is not ready, and gets a 503 when the wait
    /// runs out.
    async fn wait_route(
        &self,
        target: Target<'_>,
        stale: Option<&Arc<Runner>>,
    ) -> flowgate::Result<Route> {
        let deadline = tokio::time::Instant::now() + self.ready_wait;
        let name = self
            .board
            .wait_for(deadline, |board| match self.resolve(target) {
                Ok(name) => Look::Ready(name),
                Err(not_found) => match board.state(&Feature::Migrations) {
                    None => Look::Fail(not_found),
                    Some(s) if s.is_up() => Look::Fail(not_found),
                    Some(State::Failed(reason)) => {
                        Look::Fail(failed(&Feature::Migrations, &reason))
                    }
                    Some(s) => Look::Wait(Error::NotReady {
                        what: Feature::Migrations.to_string(),
                        state: s.name().into(),
                        retry_after_ms: 1000,
                    }),
                },
            })
            .await?;
        let feature = Feature::model(name.clone());
        self.board
            .wait_for(deadline, |board| {
                let fresh = self
                    .routes
                    .route(&name)
                    .filter(|r| !stale.is_some_and(|s| Arc::ptr_eq(s, &r.runner)));
                if let Some(route) = fresh {
                    return Look::Ready(route);
                }
                match board.state(&feature).unwrap_or(State::Pending) {
                    State::Failed(reason) => Look::Fail(failed(&feature, &reason)),
                    state => Look::Wait(self.not_ready(&feature, state)),
                }
            })
            .await
    }

    /// Why `feature` does not serve yet: the database when it is not connected (with what is
    /// wrong, in public words), else the feature's own state.
    pub(crate) fn not_ready(&self, feature: &Feature, state: State) -> Error {
        if matches!(state, State::Pending)
            && let Some(db) = self.board.state(&Feature::Database).filter(|s| !s.is_up())
        {
            return Error::NotReady {
                what: Feature::Database.to_string(),
                state: match db.detail() {
                    Some(d) => format!("{}: {d}", db.name()),
                    None => db.name().into(),
                },
                retry_after_ms: 1000,
            };
        }
        Error::NotReady {
            what: feature.to_string(),
            state: state.name().into(),
            retry_after_ms: 1000,
        }
    }
}

/// A feature that failed: `not_ready`, retried later than one coming up.
fn failed(feature: &Feature, reason: &str) -> Error {
    Error::NotReady {
        what: feature.to_string(),
        state: format!("failed: {reason}"),
        retry_after_ms: 5000,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::node::{Node, NodeArgs, Runner};
    use flowgate::{FieldDef, ModelDef, Schema, Store, StoreConfig};
    use ractor::Actor;
    use serde_json::json;

    /// A store on an in-memory SQLite database with one model, `Note`.
    async fn store() -> Store {
        let schema = Schema::new([ModelDef::new("Note").field(FieldDef::string("body"))])
            .expect("valid model");
        let store = Store::connect(&StoreConfig::new("sqlite::memory:"), schema)
            .await
            .expect("connect");
        store.create_tables().await.expect("tables");
        store
    }

    /// A runner of `Note` owned by a node actor of its own, routed.
    async fn serve(
        store: &Store,
        routes: &Routes,
        board: &Board,
    ) -> ractor::ActorRef<crate::node::NodeMsg> {
        let model = store.model("Note").expect("Note");
        let runner = Arc::new(Runner::new(store.clone(), model, 2, board.clone()));
        let (node, _) = Actor::spawn(
            None,
            Node,
            NodeArgs {
                runner: runner.clone(),
            },
        )
        .await
        .expect("spawn node");
        routes.serve(runner, node.clone());
        node
    }

    /// An operation that meets a closed runner (its node stopped, the route not withdrawn
    /// yet) ran nothing there, and goes to the model's next runner once it is routed.
    #[tokio::test]
    async fn an_operation_on_a_closed_runner_goes_to_the_next() {
        let store = store().await;
        let board = Board::new();
        board.register(&Feature::model("Note"), true);
        board.set(&Feature::model("Note"), State::Ready);
        let routes = Arc::new(Routes::default());
        let dispatcher = Dispatcher::new(routes.clone(), board.clone(), Duration::from_secs(10));
        let first = serve(&store, &routes, &board).await;
        first.stop_and_wait(None, None).await.expect("stop");

        let next = {
            let (store, routes, board) = (store.clone(), routes.clone(), board.clone());
            tokio::spawn(async move {
                tokio::time::sleep(Duration::from_millis(100)).await;
                let node = serve(&store, &routes, &board).await;
                // The waiter looks again when the board changes.
                board.set(&Feature::model("Note"), State::Ready);
                node
            })
        };
        let created = dispatcher
            .call(
                Target::Model("Note"),
                OpKind::Create,
                Context::internal(),
                json!({"body": "after the restart"}),
            )
            .await
            .expect("created on the next runner");
        assert_eq!(created["body"], "after the restart");
        let count = dispatcher
            .call(
                Target::Table("notes"),
                OpKind::Count,
                Context::internal(),
                json!({}),
            )
            .await
            .expect("count");
        assert_eq!(count["count"], 1, "it ran once, on the next runner");
        next.await.expect("served").stop(None);
    }

    /// Without a next runner, the operation answers `not_ready` when the wait runs out, never
    /// hangs, and runs nothing.
    #[tokio::test]
    async fn an_operation_on_a_closed_runner_without_a_next_one_is_not_ready() {
        let store = store().await;
        let board = Board::new();
        board.register(&Feature::model("Note"), true);
        board.set(&Feature::model("Note"), State::Ready);
        let routes = Arc::new(Routes::default());
        let dispatcher = Dispatcher::new(routes.clone(), board.clone(), Duration::from_millis(200));
        let first = serve(&store, &routes, &board).await;
        first.stop_and_wait(None, None).await.expect("stop");
        let err = dispatcher
            .call(
                Target::Model("Note"),
                OpKind::Create,
                Context::internal(),
                json!({"body": "nowhere"}),
            )
            .await
            .expect_err("no runner");
        assert_eq!(err.code(), "not_ready", "{err:?}");
        let model = store.model("Note").expect("Note");
        let count = store
            .run(&Context::internal(), &model, OpKind::Count, &json!({}))
            .await
            .expect("count");
        assert_eq!(count["count"], 0);
    }
}
