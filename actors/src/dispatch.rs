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

use crate::node::Closed;
use crate::readiness::{Board, Feature, Look, State};
use crate::routes::{Route, Routes, Target};
use crate::workflows::Workflows;
use flowgate::{Context, Error, OpKind, Params};
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
        let params = params.into();
        // Route, and wait for readiness. A served model, the common case, takes no lock but the
        // routing table's and allocates nothing.
        let mut route = match self.routes.route_of(target) {
            Some(route) => route,
            None => self.wait_route(target, None).await?,
        };
        // Run on the model's runner. A runner closed before the operation started (its node
        // stopped: a model changed or a restart) ran nothing: the operation goes to the next.
        loop {
            match route.runner.run(&ctx, op, &params).await {
                Ok(result) => return result,
                Err(Closed) => route = self.wait_route(target, Some(&route)).await?,
            }
        }
    }

    /// The route of a model that is not served yet (or only by the `stale` route, whose runner
    /// closed), waiting up to `ready_wait` for it.
    ///
    /// A name that is not known yet is not a 404 while the `migrations` feature is still coming
    /// up: the registry has not loaded the persisted models (another application's, say), so the
    /// request waits for them like for a model that is not ready, and gets a 503 when the wait
    /// runs out.
    async fn wait_route(
        &self,
        target: Target<'_>,
        stale: Option<&Route>,
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
                    .filter(|r| !stale.is_some_and(|s| Arc::ptr_eq(&s.runner, &r.runner)));
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
