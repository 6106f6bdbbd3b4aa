//! The registry actor: everything slow at start, in the background, after the ports are bound.
//!
//! It connects (retrying with backoff while the database is unreachable), opens the registry,
//! takes the migration lock, loads every persisted model, migrates, and spawns one node actor
//! per model, reporting each step on the readiness board. It supervises the nodes: a node that
//! panics is restarted and its model keeps serving. Models added at run time come through it too.
//! Then it serves the workflows (`registry/workflows.rs`), and it reads the `discover`
//! directories before all of this.

mod workflows;

use crate::config::Config;
use crate::node::{Node, NodeArgs, NodeMsg};
use crate::readiness::{Board, State};
use crate::routes::Routes;
use crate::workflows::Workflows;
use flowgate::migrate::{self, MigrateOptions, Outcome};
use flowgate::registry::Registry as ModelRegistry;
use flowgate::workflow::Workflow;
use flowgate::{Error, ModelDef, ModelInfo, Schema, Store, StoreConfig};
use ractor::{Actor, ActorId, ActorProcessingErr, ActorRef, RpcReplyPort, SupervisionEvent};
use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;

/// What the registry actor does.
pub enum RegistryMsg {
    /// Connect, migrate and serve (sent to itself after start, and again after a backoff).
    Start,
    /// Add a model at run time; replies once it serves (or why it cannot).
    Register(ModelDef, RpcReplyPort<flowgate::Result<()>>),
    /// Add (or replace) a workflow at run time; replies whether it is new once it serves, or
    /// why it cannot.
    RegisterWorkflow {
        /// The workflow.
        workflow: Workflow,
        /// Where it comes from (`handle`, `http`), shown nowhere but the logs.
        source: String,
        /// Where the answer goes.
        reply: RpcReplyPort<flowgate::Result<bool>>,
    },
    /// The store, once connected (for embedding applications and the CLI).
    Store(RpcReplyPort<Option<Store>>),
    /// Test hook: make a model's node panic.
    PanicNode(String),
    /// Stop every node gracefully and close the pool.
    Shutdown(RpcReplyPort<()>),
}

/// The registry actor.
pub struct RegistryActor;

/// What it starts with.
pub struct RegistryArgs {
    /// The configuration.
    pub config: Config,
    /// The models the application declares.
    pub declared: Vec<ModelDef>,
    /// The readiness board.
    pub board: Board,
    /// The routing table it fills.
    pub routes: Arc<Routes>,
    /// The workflows declared on the supervisor builder, each with where it came from.
    pub declared_workflows: Vec<(Workflow, String)>,
    /// The table of served workflows it fills.
    pub workflows: Arc<Workflows>,
}

/// Its state.
pub struct RegistryState {
    args: RegistryArgs,
    store: Option<Store>,
    registry: Option<ModelRegistry>,
    nodes: HashMap<ActorId, String>,
    restarts: HashMap<String, u32>,
    attempt: u32,
    stopping: bool,
    wf: workflows::WorkflowState,
}

const MAX_RESTARTS: u32 = 20;

impl Actor for RegistryActor {
    type Msg = RegistryMsg;
    type State = RegistryState;
    type Arguments = RegistryArgs;

    async fn pre_start(
        &self,
        _myself: ActorRef<RegistryMsg>,
        args: RegistryArgs,
    ) -> Result<RegistryState, ActorProcessingErr> {
        Ok(RegistryState {
            args,
            store: None,
            registry: None,
            nodes: HashMap::new(),
            restarts: HashMap::new(),
            attempt: 0,
            stopping: false,
            wf: workflows::WorkflowState::default(),
        })
    }

    async fn post_start(
        &self,
        myself: ActorRef<RegistryMsg>,
        state: &mut RegistryState,
    ) -> Result<(), ActorProcessingErr> {
        state.args.workflows.set_registry(myself.clone());
        myself.cast(RegistryMsg::Start)?;
        Ok(())
    }

    async fn handle(
        &self,
        myself: ActorRef<RegistryMsg>,
        msg: RegistryMsg,
        state: &mut RegistryState,
    ) -> Result<(), ActorProcessingErr> {
        match msg {
            RegistryMsg::Start if !state.stopping => start(&myself, state).await,
            RegistryMsg::Start => {}
            RegistryMsg::Register(def, reply) => {
                let result = register(&myself, state, def).await;
                let _ = reply.send(result);
            }
            RegistryMsg::RegisterWorkflow {
                workflow,
                source,
                reply,
            } => {
                let result = workflows::register(state, workflow, source).await;
                let _ = reply.send(result);
            }
            RegistryMsg::Store(reply) => {
                let _ = reply.send(state.store.clone());
            }
            RegistryMsg::PanicNode(model) => {
                if let Some(route) = state.args.routes.route(&model) {
                    let _ = route.node.cast(NodeMsg::Panic);
                }
            }
            RegistryMsg::Shutdown(reply) => {
                state.stopping = true;
                // Runs in flight need the nodes: let them finish first.
                if !state.args.workflows.drain(Duration::from_secs(30)).await {
                    tracing::warn!("workflow runs did not finish within 30 s of shutdown");
                }
                for model in state.args.routes.served() {
                    if let Some(route) = state.args.routes.withdraw(model.name()) {
                        let _ = route
                            .node
                            .stop_and_wait(Some("shutdown".into()), Some(Duration::from_secs(10)))
                            .await;
                    }
                }
                if let Some(store) = &state.store {
                    store.close().await;
                }
                let _ = reply.send(());
            }
        }
        Ok(())
    }

    async fn handle_supervisor_evt(
        &self,
        myself: ActorRef<RegistryMsg>,
        evt: SupervisionEvent,
        state: &mut RegistryState,
    ) -> Result<(), ActorProcessingErr> {
        // Never stop because a child did (ractor's default): restart the node instead.
        let (cell, why) = match evt {
            SupervisionEvent::ActorFailed(cell, err) => (cell, err.to_string()),
            SupervisionEvent::ActorTerminated(cell, _, reason) => {
                (cell, reason.unwrap_or_default())
            }
            _ => return Ok(()),
        };
        let Some(model) = state.nodes.remove(&cell.get_id()) else {
            return Ok(());
        };
        if state.stopping {
            return Ok(());
        }
        let restarts = state.restarts.entry(model.clone()).or_default();
        *restarts += 1;
        let feature = format!("model:{model}");
        if *restarts > MAX_RESTARTS {
            state.args.routes.withdraw(&model);
            state.args.board.set(
                &feature,
                State::Failed(format!(
                    "its node stopped {MAX_RESTARTS} times; last: {why}"
                )),
            );
            return Ok(());
        }
        tracing::warn!(model = %model, reason = %why, "node stopped; restarting");
        let info = state.args.routes.route(&model).map(|r| r.model.clone());
        match (info, state.store.clone()) {
            (Some(info), Some(store)) => {
                if let Err(e) = spawn_node(&myself, state, store, info).await {
                    state
                        .args
                        .board
                        .set(&feature, State::Failed(format!("restart failed: {e}")));
                }
            }
            _ => state
                .args
                .board
                .set(&feature, State::Failed(format!("its node stopped: {why}"))),
        }
        Ok(())
    }
}

async fn spawn_node(
    myself: &ActorRef<RegistryMsg>,
    state: &mut RegistryState,
    store: Store,
    model: Arc<ModelInfo>,
) -> Result<(), ActorProcessingErr> {
    let args = NodeArgs {
        store,
        model: model.clone(),
        workers: state.args.config.workers(),
        board: state.args.board.clone(),
    };
    let (node, _) = Actor::spawn_linked(None, Node, args, myself.get_cell()).await?;
    state.nodes.insert(node.get_id(), model.name().to_string());
    state.args.routes.serve(model.clone(), node);
    state
        .args
        .board
        .set(&format!("model:{}", model.name()), State::Ready);
    Ok(())
}

fn backoff(attempt: u32, max_ms: u64) -> Duration {
    let ms = 50u64
        .saturating_mul(1 << attempt.min(10))
        .min(max_ms.max(50));
    Duration::from_millis(ms)
}

/// Reports a failure that waiting may cure on `feature` and tries [`start`] again after a backoff.
fn backoff_retry(
    myself: &ActorRef<RegistryMsg>,
    state: &mut RegistryState,
    feature: &str,
    reason: &str,
) {
    state.attempt += 1;
    let wait = backoff(state.attempt, state.args.config.connect_retry_max_ms);
    state.args.board.set(
        feature,
        State::Starting(Some(format!(
            "retrying in {} ms: {reason}",
            wait.as_millis()
        ))),
    );
    myself.send_after(wait, || RegistryMsg::Start);
}

async fn start(myself: &ActorRef<RegistryMsg>, state: &mut RegistryState) {
    workflows::discover(state);
    let board = state.args.board.clone();
    let cfg = state.args.config.clone();
    if state.store.is_none() {
        board.set("database", State::Starting(None));
        let mut store_cfg = StoreConfig::new(cfg.database_url.clone());
        store_cfg.pool_size = cfg.pool_size;
        store_cfg.echo = cfg.echo;
        store_cfg.statement_timeout = cfg.statement_timeout();
        match Store::connect(&store_cfg, Schema::default()).await {
            Ok(store) => {
                state.args.workflows.set_store(store.clone());
                state.store = Some(store);
                state.attempt = 0;
                board.set("database", State::Ready);
            }
            Err(Error::Unavailable(reason)) => {
                state.attempt += 1;
                let wait = backoff(state.attempt, cfg.connect_retry_max_ms);
                board.set(
                    "database",
                    State::Starting(Some(format!(
                        "retrying in {} ms (attempt {}): {reason}",
                        wait.as_millis(),
                        state.attempt
                    ))),
                );
                myself.send_after(wait, || RegistryMsg::Start);
                return;
            }
            Err(e) => {
                board.set("database", State::Failed(e.public_message()));
                return;
            }
        }
    }
    let store = state.store.clone().expect("connected above");
    let declared = state.args.declared.clone();
    match migrate_and_serve(myself, state, &store, &declared).await {
        Ok(()) => workflows::start_or_retry(myself, state).await,
        Err(Error::Unavailable(reason)) => backoff_retry(myself, state, "migrations", &reason),
        Err(e) => {
            board.set(
                "workflows",
                State::Failed(format!("the models did not load: {}", e.public_message())),
            );
            board.set("migrations", State::Failed(e.public_message()));
        }
    }
}

/// Migrates (or, without persistence, creates tables for) `declared` and serves every model
/// that comes out able to serve.
async fn migrate_and_serve(
    myself: &ActorRef<RegistryMsg>,
    state: &mut RegistryState,
    store: &Store,
    declared: &[ModelDef],
) -> flowgate::Result<()> {
    let board = state.args.board.clone();
    let cfg = state.args.config.clone();
    let report = if cfg.model_persistence {
        if state.registry.is_none() {
            board.set("registry", State::Starting(None));
            let registry = ModelRegistry::open(store)
                .await
                .inspect_err(|e| board.set("registry", State::Failed(e.public_message())))?;
            state.registry = Some(registry);
            board.set("registry", State::Ready);
        }
        let registry = state.registry.clone().expect("opened above");
        board.set("migrations", State::Starting(None));
        let opts = MigrateOptions {
            allow_destructive: false,
            lock_timeout: Duration::from_secs(cfg.migration_lock_timeout),
            ..MigrateOptions::default()
        };
        if cfg.auto_migrate {
            migrate::migrate(store, &registry, declared, &opts).await?
        } else {
            migrate::check(store, &registry, declared).await?
        }
    } else {
        board.set("migrations", State::Starting(None));
        migrate::create_only(store, declared).await?
    };
    store.set_schema(report.schema.clone());
    for (name, outcome) in &report.outcomes {
        state.args.board.register(&format!("model:{name}"), true);
        match outcome {
            Outcome::UpToDate { version } | Outcome::Migrated { to: version, .. }
                if *version > 0 =>
            {
                state.args.routes.set_version(name, *version)
            }
            _ => {}
        }
        if let Outcome::Failed(reason) = outcome {
            state.args.routes.withdraw(name);
            board.set(&format!("model:{name}"), State::Failed(reason.clone()));
        }
    }
    for model in report.schema.models() {
        state.args.routes.declare(model.name(), &model.table);
        let serving = state
            .args
            .routes
            .route(model.name())
            .is_some_and(|r| r.model.def == model.def);
        if !serving {
            if let Some(old) = state.args.routes.withdraw(model.name()) {
                state.nodes.remove(&old.node.get_id());
                old.node.stop(Some("model changed".into()));
            }
            spawn_node(myself, state, store.clone(), model.clone())
                .await
                .map_err(|e| {
                    Error::internal(format!("spawning the node of {}: {e}", model.name()))
                })?;
        }
    }
    board.set("migrations", State::Ready);
    Ok(())
}

async fn register(
    myself: &ActorRef<RegistryMsg>,
    state: &mut RegistryState,
    def: ModelDef,
) -> flowgate::Result<()> {
    let Some(store) = state.store.clone() else {
        return Err(Error::NotReady {
            what: "database".into(),
            state: "starting".into(),
            retry_after_ms: 1000,
        });
    };
    workflows::refuse_tool_clash(state, &def)?;
    let name = def.name.clone();
    let mut declared: Vec<ModelDef> = state
        .args
        .declared
        .iter()
        .filter(|d| d.name != name)
        .cloned()
        .collect();
    // Models served now (persisted by others, say) stay declared as they are.
    for m in state.args.routes.served() {
        if m.name() != name && !declared.iter().any(|d| d.name == m.name()) {
            declared.push(m.def.clone());
        }
    }
    declared.push(def.clone());
    Schema::new(declared.clone())?;
    state.args.board.register(&format!("model:{name}"), true);
    migrate_and_serve(myself, state, &store, &declared).await?;
    if let Some(State::Failed(reason)) = state.args.board.state(&format!("model:{name}")) {
        return Err(Error::Validation {
            field: Some(name),
            reason,
        });
    }
    state.args.declared.retain(|d| d.name != name);
    state.args.declared.push(def);
    // A workflow that waited for this model may serve now.
    workflows::refresh(state);
    Ok(())
}
