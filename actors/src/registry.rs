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
use crate::node::{Node, NodeArgs, Runner};
use crate::readiness::{Board, Feature, State};
use crate::routes::Routes;
use crate::workflows::Workflows;
use flowgate::migrate::{MigrateOptions, Outcome};
use flowgate::startup::{
    Interrupted, Models, Phase, Progress, Retry, Startup, StartupConfig, Step,
};
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
    #[cfg(feature = "test-hooks")]
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
    /// Authentication: its API key table is opened once the database is connected.
    pub auth: Arc<crate::auth::Auth>,
}

/// Its state.
pub struct RegistryState {
    args: RegistryArgs,
    /// The start-up sequence (the data layer's, shared with the CLI's local mode).
    startup: Startup,
    /// The store, once the sequence connected.
    store: Option<Store>,
    nodes: HashMap<ActorId, String>,
    restarts: HashMap<String, u32>,
    attempt: u32,
    stopping: bool,
    wf: workflows::WorkflowState,
    /// Whether the database's tables were introspected (`introspect`), once.
    introspected: bool,
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
            startup: Startup::new(startup_config(&args.config)),
            args,
            store: None,
            nodes: HashMap::new(),
            restarts: HashMap::new(),
            attempt: 0,
            stopping: false,
            wf: workflows::WorkflowState::default(),
            introspected: false,
        })
    }

    async fn post_start(
        &self,
        myself: ActorRef<RegistryMsg>,
        state: &mut RegistryState,
    ) -> Result<(), ActorProcessingErr> {
        let registry = myself.clone();
        state
            .args
            .workflows
            .set_registrar(Arc::new(move |workflow, source| {
                let registry = registry.clone();
                Box::pin(async move {
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
                        Ok(ractor::rpc::CallResult::Success(r)) => r,
                        _ => Err(Error::Unavailable(
                            "the registry stopped while registering the workflow".into(),
                        )),
                    }
                })
            }));
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
            #[cfg(feature = "test-hooks")]
            RegistryMsg::PanicNode(model) => {
                if let Some(route) = state.args.routes.route(&model) {
                    let _ = route.node.cast(crate::node::NodeMsg::Panic);
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
        let feature = Feature::model(model.clone());
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
            (Some(info), Some(store)) => match spawn_node(&myself, state, store, info).await {
                Ok(()) => state.args.board.set(&feature, State::Ready),
                Err(e) => state
                    .args
                    .board
                    .set(&feature, State::Failed(format!("restart failed: {e}"))),
            },
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
    let runner = Arc::new(Runner::new(
        store,
        model.clone(),
        state.args.config.workers(),
        state.args.board.clone(),
    ));
    let args = NodeArgs {
        runner: runner.clone(),
    };
    let (node, _) = Actor::spawn_linked(None, Node, args, myself.get_cell()).await?;
    state.nodes.insert(node.get_id(), model.name().to_string());
    state.args.routes.serve(runner, node);
    Ok(())
}

/// The start-up sequence the configuration asks for: the server's connect retries never end.
pub(crate) fn startup_config(cfg: &Config) -> StartupConfig {
    let mut store = StoreConfig::new(cfg.database_url.clone());
    store.pool_size = cfg.pool_size;
    store.echo = cfg.echo;
    store.statement_timeout = cfg.statement_timeout();
    store.multi_tenant = cfg.multi_tenant;
    store.audit_log = cfg.audit_log;
    store.audit_max_rows_per_op = cfg.audit.max_rows_per_op;
    StartupConfig {
        store,
        retry: Retry {
            max_backoff: Duration::from_millis(cfg.connect_retry_max_ms),
            max_attempts: None,
        },
        persistence: cfg.model_persistence,
        models: if cfg.auto_migrate {
            Models::Migrate
        } else {
            Models::Check
        },
        migrate: MigrateOptions {
            allow_destructive: false,
            lock_timeout: Duration::from_secs(cfg.migration_lock_timeout),
            ..MigrateOptions::default()
        },
    }
}

fn feature_of(step: Step<'_>) -> Feature {
    match step {
        Step::Database => Feature::Database,
        Step::Registry => Feature::Registry,
        Step::Migrations => Feature::Migrations,
        Step::Audit => Feature::Audit,
        Step::Model(name) => Feature::model(name),
    }
}

/// The board is where the server's start-up sequence reports.
impl Progress for Board {
    fn report(&self, step: Step<'_>, phase: Phase) {
        self.report_all(vec![(step, phase)]);
    }

    /// Pending steps are registered, the others set, each kind in one change of the board.
    fn report_all(&self, steps: Vec<(Step<'_>, Phase)>) {
        let mut pending = Vec::new();
        let mut set = Vec::new();
        for (step, phase) in steps {
            let feature = feature_of(step);
            match phase {
                Phase::Pending(_) => pending.push(feature),
                Phase::Starting(detail) => set.push((feature, State::Starting(detail))),
                Phase::Ready => set.push((feature, State::Ready)),
                Phase::Failed(reason) => set.push((feature, State::Failed(reason))),
            }
        }
        if !pending.is_empty() {
            self.register_all(&pending, true);
        }
        if !set.is_empty() {
            self.set_all(set.iter().map(|(f, s)| (f, s.clone())));
        }
    }
}

/// Reports a failure that waiting may cure on `feature` and tries [`start`] again after a backoff.
fn backoff_retry(
    myself: &ActorRef<RegistryMsg>,
    state: &mut RegistryState,
    feature: &Feature,
    reason: &str,
) {
    state.attempt += 1;
    let wait = state.startup.config().retry.wait(state.attempt);
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
    let declared = state.args.declared.clone();
    match migrate_and_serve(myself, state, &declared).await {
        Ok(()) => {
            if state.args.config.introspect && !state.introspected {
                state.introspected = true;
                introspect_and_serve(myself, state).await;
            }
            workflows::start_or_retry(myself, state).await
        }
        Err(Interrupted::Retry { after, .. }) => {
            myself.send_after(after, || RegistryMsg::Start);
        }
        Err(Interrupted::Failed(e)) => {
            if state.store.is_some() {
                state.args.board.set(
                    &Feature::Workflows,
                    State::Failed(format!("the models did not load: {}", e.public_message())),
                );
            }
        }
    }
}

/// Opens the API key table (`flowgate_api_keys`, created when missing) beside the start-up
/// sequence, and reports `auth` ready once API keys can be checked. A failure is retried with
/// backoff: until then an API key is answered 503 `not_ready`, never let through.
fn open_keys(store: Store, auth: Arc<crate::auth::Auth>, board: Board) {
    board.retry_until_ready(Feature::Auth, move || {
        let (store, auth) = (store.clone(), auth.clone());
        async move {
            let keys = flowgate::keys::ApiKeys::open(&store).await.map_err(|e| {
                tracing::warn!(error = %e, "cannot open the API key table; retrying");
                e.public_message()
            })?;
            auth.keys().attach(keys);
            Ok(())
        }
    });
}

/// Runs the start-up sequence on `declared` (connecting first, when not connected yet), then
/// serves every model that comes out able to serve.
async fn migrate_and_serve(
    myself: &ActorRef<RegistryMsg>,
    state: &mut RegistryState,
    declared: &[ModelDef],
) -> Result<(), Interrupted> {
    let board = state.args.board.clone();
    let report = state.startup.run(declared, &board).await;
    if state.store.is_none()
        && let Some(store) = state.startup.store()
    {
        state.args.workflows.set_store(store.clone());
        state.store = Some(store.clone());
        open_keys(store.clone(), state.args.auth.clone(), board.clone());
        let cfg = &state.args.config;
        if cfg.audit_log && cfg.audit.retention_days > 0 {
            crate::audit::spawn_pruning(store.clone(), cfg.audit.retention_days);
        }
    }
    let report = report?;
    let store = state.store.clone().expect("the sequence connected");
    for (name, outcome) in &report.outcomes {
        match outcome {
            Outcome::UpToDate { version } | Outcome::Migrated { to: version, .. }
                if *version > 0 =>
            {
                state.args.routes.set_version(name, *version)
            }
            Outcome::Failed(_) => {
                state.args.routes.withdraw(name);
            }
            _ => {}
        }
    }
    // The models whose nodes started: reported ready together once all have (or once one
    // could not start), in one change of the board.
    let mut started = Vec::new();
    let mut spawned = Ok(());
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
            if let Err(e) = spawn_node(myself, state, store.clone(), model.clone()).await {
                spawned = Err(Interrupted::Failed(Error::internal(format!(
                    "spawning the node of {}: {e}",
                    model.name()
                ))));
                break;
            }
            started.push(Feature::model(model.name()));
        }
    }
    board.set_all(started.iter().map(|f| (f, State::Ready)));
    spawned?;
    // Only now: a request for a model not known before (persisted by another application) waits
    // while `migrations` is not ready, and the routes know every served model from here on.
    board.report(Step::Migrations, Phase::Ready);
    Ok(())
}

/// `introspect` (DESIGN 13.10): once the declared and persisted models serve, reads the
/// database's other tables and serves each that can be as it is (`managed = false`). A table a
/// served model already has is left to it, and references to it name that model. What cannot
/// be served is logged with the reason; a failure to read leaves the served models as they are.
async fn introspect_and_serve(myself: &ActorRef<RegistryMsg>, state: &mut RegistryState) {
    let served = state.args.routes.served();
    let by_table: HashMap<String, String> = served
        .iter()
        .map(|m| (m.table.clone(), m.name().to_string()))
        .collect();
    let opts = flowgate::introspect::Options::default();
    let found = match flowgate::introspect::introspect(&state.args.config.database_url, &opts).await
    {
        Ok(found) => found,
        Err(e) => {
            tracing::error!(error = %e, "cannot introspect the database; serving the declared models only");
            return;
        }
    };
    for (table, reason) in &found.skipped {
        tracing::info!(%table, %reason, "introspect: table not served");
    }
    // The introspected name of each table, and the name it is served under.
    let renamed: HashMap<String, String> = found
        .models
        .iter()
        .filter_map(|m| Some((m.name.clone(), by_table.get(&m.table_name())?.clone())))
        .collect();
    let mut fresh: Vec<ModelDef> = Vec::new();
    for mut def in found.models {
        if by_table.contains_key(&def.table_name()) || served.iter().any(|m| m.name() == def.name) {
            continue;
        }
        for f in &mut def.fields {
            if let Some(target) = f.references.as_mut()
                && let Some(name) = renamed.get(target)
            {
                *target = name.clone();
            }
        }
        fresh.push(def);
    }
    if fresh.is_empty() {
        return;
    }
    let mut declared = state.args.declared.clone();
    for m in &served {
        if !declared.iter().any(|d| d.name == m.name()) {
            declared.push(m.def.clone());
        }
    }
    declared.extend(fresh.iter().cloned());
    if let Err(e) = Schema::new(declared.clone()) {
        tracing::error!(error = %e, "the introspected models do not fit the served ones; not served");
        return;
    }
    let features: Vec<Feature> = fresh
        .iter()
        .map(|d| Feature::model(d.name.clone()))
        .collect();
    state.args.board.register_all(features.iter(), true);
    tracing::info!(
        models = fresh.len(),
        "introspect: serving the database's tables"
    );
    match migrate_and_serve(myself, state, &declared).await {
        Ok(()) => state.args.declared.extend(fresh),
        Err(e) => {
            state.args.board.report(Step::Migrations, Phase::Ready);
            tracing::error!(error = %e.into_error(), "introspect: the tables could not be served");
        }
    }
}

async fn register(
    myself: &ActorRef<RegistryMsg>,
    state: &mut RegistryState,
    def: ModelDef,
) -> flowgate::Result<()> {
    if state.store.is_none() {
        return Err(Error::NotReady {
            what: Feature::Database.to_string(),
            state: "starting".into(),
            retry_after_ms: 1000,
        });
    }
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
    state
        .args
        .board
        .register(&Feature::model(name.clone()), true);
    let result = migrate_and_serve(myself, state, &declared).await;
    if result.is_err() {
        // The models served before still serve; only the new one did not come.
        state.args.board.report(Step::Migrations, Phase::Ready);
    }
    result.map_err(Interrupted::into_error)?;
    if let Some(State::Failed(reason)) = state.args.board.state(&Feature::model(name.clone())) {
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
