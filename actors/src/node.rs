//! Node actors: one per model, each owning its model's share of the pool.
//!
//! A node does not relay requests. Its [`Runner`] (the store, the model and a semaphore of
//! `workers` permits) sits in the model's route, and every operation runs in the caller's own
//! task under a permit: one model's slow queries hold only its own permits, other models keep
//! theirs, and no request pays for a message to an actor and a task of its own. A caller that
//! goes away (its client hung up) drops its operation where it stands, waiting for a permit or
//! running, which stops its statement (see `Store::run`).
//!
//! The actor owns the runner's lifecycle: it is spawned (and restarted when it fails) by the
//! registry actor, and when it stops it closes the runner, so that no new operation starts on it
//! while those running finish.

use crate::readiness::{Board, Feature, State};
use flowgate::{Context, Error, Form, ModelInfo, OpKind, Output, Params, Store};
use futures_util::FutureExt;
use ractor::{Actor, ActorProcessingErr, ActorRef};
use std::panic::AssertUnwindSafe;
use std::sync::Arc;
use tokio::sync::Semaphore;

/// What runs a model's operations: its store, its share of the pool, the board to report writes
/// that fail on.
pub struct Runner {
    store: Store,
    model: Arc<ModelInfo>,
    permits: Semaphore,
    board: Board,
}

/// The runner was closed (its node stopped) before the operation started: nothing ran, and the
/// operation may go to the model's next runner.
#[derive(Debug)]
pub struct Closed;

impl Runner {
    /// A runner of `model` on `store`, running at most `workers` operations at once.
    pub fn new(store: Store, model: Arc<ModelInfo>, workers: usize, board: Board) -> Runner {
        Runner {
            store,
            model,
            permits: Semaphore::new(workers.max(1)),
            board,
        }
    }

    /// The model served.
    pub fn model(&self) -> &Arc<ModelInfo> {
        &self.model
    }

    /// Runs one operation in the caller's task, under a permit, giving its result in `form`. A
    /// panic in the operation is an `internal` error for this request only.
    pub async fn run(
        &self,
        ctx: &Context,
        op: OpKind,
        params: &Params,
        form: Form,
    ) -> Result<flowgate::Result<Output>, Closed> {
        let Ok(_permit) = self.permits.acquire().await else {
            return Err(Closed);
        };
        let result = AssertUnwindSafe(self.store.run_output(ctx, &self.model, op, params, form))
            .catch_unwind()
            .await
            .unwrap_or_else(|_| {
                tracing::error!(model = self.model.name(), op = op.as_str(), request_id = %ctx.request_id, "operation panicked");
                Err(Error::internal("operation panicked"))
            });
        if !op.is_read_only() {
            report_writes(&self.board, result.as_ref().err());
        }
        Ok(result)
    }

    /// No operation starts from now on; those running finish.
    pub fn close(&self) {
        self.permits.close();
    }
}

/// What a node does besides owning its runner.
pub enum NodeMsg {
    /// Test hook: make the actor itself panic (its supervisor restarts it).
    #[cfg(feature = "test-hooks")]
    Panic,
}

/// The node actor.
pub struct Node;

/// What a node starts with.
pub struct NodeArgs {
    /// The runner it owns.
    pub runner: Arc<Runner>,
}

/// A node's state.
pub struct NodeState {
    runner: Arc<Runner>,
}

impl Actor for Node {
    type Msg = NodeMsg;
    type State = NodeState;
    type Arguments = NodeArgs;

    async fn pre_start(
        &self,
        _myself: ActorRef<NodeMsg>,
        args: NodeArgs,
    ) -> Result<NodeState, ActorProcessingErr> {
        Ok(NodeState {
            runner: args.runner,
        })
    }

    async fn post_stop(
        &self,
        _myself: ActorRef<NodeMsg>,
        state: &mut NodeState,
    ) -> Result<(), ActorProcessingErr> {
        state.runner.close();
        Ok(())
    }

    #[allow(unused_variables)]
    async fn handle(
        &self,
        _myself: ActorRef<NodeMsg>,
        msg: NodeMsg,
        state: &mut NodeState,
    ) -> Result<(), ActorProcessingErr> {
        match msg {
            #[cfg(feature = "test-hooks")]
            NodeMsg::Panic => panic!(
                "node of {} asked to panic (test hook)",
                state.runner.model.name()
            ),
        }
    }
}

/// Keeps the `database` feature true to what writes meet: degraded with the reason while the
/// database refuses writes (a full disk, a lost connection), ready again after one succeeds.
fn report_writes(board: &Board, failure: Option<&Error>) {
    match failure {
        Some(e) if Store::is_database_failure(e) => {
            board.set(
                &Feature::Database,
                State::Degraded(format!("writes fail: {}", e.public_message())),
            );
        }
        None if matches!(board.state(&Feature::Database), Some(State::Degraded(_))) => {
            board.set(&Feature::Database, State::Ready);
        }
        _ => {}
    }
}
