//! Node actors: one per model, each with a bounded pool of workers sharing the database pool.
//!
//! An actor handles one message at a time, so a node never runs a query inline: it hands each
//! operation to a spawned task that first takes a permit from the model's semaphore. One model's
//! slow queries hold only its own permits; other models keep theirs.

use crate::readiness::{Board, State};
use flowgate::{Context, Error, ModelInfo, OpKind, Params, Store};
use futures_util::FutureExt;
use ractor::{Actor, ActorProcessingErr, ActorRef, RpcReplyPort};
use serde_json::Value;
use std::panic::AssertUnwindSafe;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use tokio::sync::{Notify, Semaphore};

/// A request for a node: the operation's context and params. Shared (`Arc`) between the
/// dispatcher and the node, so that a request whose node died before starting it can be sent
/// again without copying.
pub struct Job {
    /// The request context.
    pub ctx: Context,
    /// The operation's params.
    pub params: Params,
    /// Set when the caller stops waiting (its client hung up): the node drops the operation.
    gone: AtomicBool,
    hangup: Notify,
}

impl Job {
    /// A request.
    pub fn new(ctx: Context, params: impl Into<Params>) -> Job {
        Job {
            ctx,
            params: params.into(),
            gone: AtomicBool::new(false),
            hangup: Notify::new(),
        }
    }

    /// The caller no longer waits for the answer (called when its future is dropped; after an
    /// answer nobody listens, so it changes nothing).
    pub fn hang_up(&self) {
        self.gone.store(true, Ordering::Release);
        self.hangup.notify_waiters();
    }

    /// Resolves once the caller has hung up.
    async fn hung_up(&self) {
        let notified = self.hangup.notified();
        tokio::pin!(notified);
        notified.as_mut().enable();
        if self.gone.load(Ordering::Acquire) {
            return;
        }
        notified.await;
    }
}

/// What a node does.
pub enum NodeMsg {
    /// Run an operation and reply with its result.
    Run {
        /// The request.
        job: Arc<Job>,
        /// The operation.
        op: OpKind,
        /// Where the result goes.
        reply: RpcReplyPort<flowgate::Result<Value>>,
    },
    /// Test hook: make the actor itself panic (its supervisor restarts it).
    #[doc(hidden)]
    Panic,
}

/// The node actor.
pub struct Node;

/// What a node starts with.
pub struct NodeArgs {
    /// The store (its pool is shared by every node).
    pub store: Store,
    /// The model served.
    pub model: Arc<ModelInfo>,
    /// How many operations may run at once.
    pub workers: usize,
    /// The readiness board: a write the database cannot take turns `database` degraded, and
    /// the next write it takes turns it ready again.
    pub board: Board,
}

/// A node's state.
pub struct NodeState {
    store: Store,
    model: Arc<ModelInfo>,
    permits: Arc<Semaphore>,
    board: Board,
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
            store: args.store,
            model: args.model,
            permits: Arc::new(Semaphore::new(args.workers.max(1))),
            board: args.board,
        })
    }

    async fn handle(
        &self,
        _myself: ActorRef<NodeMsg>,
        msg: NodeMsg,
        state: &mut NodeState,
    ) -> Result<(), ActorProcessingErr> {
        match msg {
            NodeMsg::Run { job, op, reply } => {
                let store = state.store.clone();
                let model = state.model.clone();
                let permits = state.permits.clone();
                let board = state.board.clone();
                tokio::spawn(async move {
                    let work = async {
                        let Ok(_permit) = permits.acquire_owned().await else {
                            return Err(Error::Unavailable("the model is shutting down".into()));
                        };
                        // Boxed: an operation's future is several kilobytes, and a task's
                        // future is moved (copied) as the task is built; a box moves as a
                        // pointer.
                        AssertUnwindSafe(Box::pin(store.run_params(&job.ctx, &model, op, &job.params)))
                            .catch_unwind()
                            .await
                            .unwrap_or_else(|_| {
                                tracing::error!(model = model.name(), op = op.as_str(), request_id = %job.ctx.request_id, "operation panicked");
                                Err(Error::internal("operation panicked"))
                            })
                    };
                    // A caller that went away (its client hung up) no longer waits for the
                    // answer: the operation is dropped, waiting for a permit or running, which
                    // stops its statement (see `Store::run`).
                    let result = tokio::select! {
                        biased;
                        result = work => result,
                        () = job.hung_up() => {
                            tracing::info!(model = model.name(), op = op.as_str(), request_id = %job.ctx.request_id, "caller went away; operation dropped");
                            return;
                        }
                    };
                    if !op.is_read_only() {
                        report_writes(&board, &result);
                    }
                    let _ = reply.send(result);
                });
                Ok(())
            }
            NodeMsg::Panic => panic!("node of {} asked to panic (test hook)", state.model.name()),
        }
    }
}

/// Keeps the `database` feature true to what writes meet: degraded with the reason while the
/// database refuses writes (a full disk, a lost connection), ready again after one succeeds.
fn report_writes(board: &Board, result: &flowgate::Result<Value>) {
    match result {
        Err(e) if Store::is_database_failure(e) => {
            board.set(
                "database",
                State::Degraded(format!("writes fail: {}", e.public_message())),
            );
        }
        Ok(_) if matches!(board.state("database"), Some(State::Degraded(_))) => {
            board.set("database", State::Ready);
        }
        _ => {}
    }
}
