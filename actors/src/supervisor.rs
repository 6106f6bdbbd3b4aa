//! The supervisor: what applications embed. `start()` binds the ports and returns at once; the
//! registry actor does the slow work in the background while the board reports progress.

use crate::auth::Auth;
use crate::config::{Config, ConfigError};
use crate::dispatch::Dispatcher;
use crate::gateway;
use crate::gateway::mcp::McpServer;
use crate::readiness::{Board, Feature, State};
use crate::registry::{RegistryActor, RegistryArgs, RegistryMsg};
use crate::routes::Routes;
use flowgate::workflow::Workflow;
use flowgate::{Error, ModelDef, Store};
use ractor::rpc::CallResult;
use ractor::{Actor, ActorProcessingErr, ActorRef, SupervisionEvent};
use serde_json::{Map, Value};
use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;
use tokio::sync::watch;
use tokio::task::JoinHandle;
use tokio_util::sync::CancellationToken;

/// Why the server could not start.
#[derive(Debug, thiserror::Error)]
pub enum StartError {
    /// Bad configuration.
    #[error(transparent)]
    Config(#[from] ConfigError),
    /// A bad model definition or schema file.
    #[error("{0}")]
    Models(String),
    /// A workflow file given to the builder that does not read.
    #[error("{0}")]
    Workflows(String),
    /// A port could not be bound.
    #[error("cannot bind {what} on {addr}: {source}")]
    Bind {
        /// Which listener.
        what: &'static str,
        /// The address.
        addr: String,
        /// The cause.
        source: std::io::Error,
    },
    /// An actor could not be spawned.
    #[error("cannot start the {0} actor")]
    Spawn(&'static str),
}

/// Builds and starts a server.
#[derive(Debug, Default)]
pub struct Supervisor {
    config: Option<Config>,
    config_file: Option<PathBuf>,
    overrides: Map<String, Value>,
    models: Vec<ModelDef>,
    model_files: Vec<PathBuf>,
    workflows: Vec<Workflow>,
    workflow_files: Vec<PathBuf>,
    /// Listeners left unbound (`without_listeners`): HTTP, MCP.
    unbound: (bool, bool),
}

impl Supervisor {
    /// A builder with no models and the default configuration (plus file and environment).
    pub fn builder() -> Supervisor {
        Supervisor::default()
    }

    /// Uses this configuration exactly (no file, no environment).
    pub fn config(mut self, config: Config) -> Self {
        self.config = Some(config);
        self
    }

    /// Reads a `flowgate.toml` (the environment and the builder win over it).
    pub fn config_file(mut self, path: impl Into<PathBuf>) -> Self {
        self.config_file = Some(path.into());
        self
    }

    /// Sets one configuration key (the builder wins over the file and the environment).
    pub fn set(mut self, key: &str, value: impl Into<Value>) -> Self {
        self.overrides.insert(key.to_string(), value.into());
        self
    }

    /// Sets the database URL.
    pub fn database_url(self, url: &str) -> Self {
        self.set("database_url", url)
    }

    /// Sets the HTTP port (0 picks a free one).
    pub fn http_port(self, port: u16) -> Self {
        self.set("http_port", port)
    }

    /// Sets the MCP port (0 picks a free one).
    pub fn mcp_port(self, port: u16) -> Self {
        self.set("mcp_port", port)
    }

    /// Which network listeners to open (both by default): `flowgate mcp --stdio` opens none
    /// unless a port is asked for. Without the HTTP listener there is no `http` feature on the
    /// board and [`Handle::http_listener`] is `None`; without the MCP one, MCP is served only
    /// where the application serves [`Handle::mcp`] itself (stdio).
    pub fn listeners(mut self, http: bool, mcp: bool) -> Self {
        self.unbound = (!http, !mcp);
        self
    }

    /// Declares a model.
    pub fn model(mut self, def: ModelDef) -> Self {
        self.models.push(def);
        self
    }

    /// Declares models.
    pub fn models(mut self, defs: impl IntoIterator<Item = ModelDef>) -> Self {
        self.models.extend(defs);
        self
    }

    /// Declares the models of a schema file (TOML or JSON).
    pub fn model_file(mut self, path: impl Into<PathBuf>) -> Self {
        self.model_files.push(path.into());
        self
    }

    /// Serves a workflow on every channel once its models are served (`app.register(name,
    /// workflow)` of DESIGN section 8 before start; [`Handle::register_workflow`] after). A
    /// workflow whose models do not serve fails on the board as `workflow:<name>`, alone.
    pub fn workflow(mut self, workflow: Workflow) -> Self {
        self.workflows.push(workflow);
        self
    }

    /// Serves the workflow of a file (TOML, JSON or YAML). The file is read by `start`, which
    /// fails when it does not read; its check against the models happens in the background.
    pub fn workflow_file(mut self, path: impl Into<PathBuf>) -> Self {
        self.workflow_files.push(path.into());
        self
    }

    /// The configuration this builder would start with.
    pub fn resolve_config(&self) -> Result<Config, ConfigError> {
        match &self.config {
            Some(c) => {
                let mut layers = vec![
                    serde_json::to_value(c)
                        .ok()
                        .and_then(|v| v.as_object().cloned())
                        .unwrap_or_default(),
                ];
                layers.push(self.overrides.clone());
                Config::from_layers(&layers)
            }
            None => Config::load(self.config_file.as_deref(), self.overrides.clone()),
        }
    }

    /// Binds the ports and starts the actors; returns as soon as the ports accept.
    pub async fn start(self) -> Result<Handle, StartError> {
        let config = self.resolve_config()?;
        crate::logging::set_format(config.log_format);
        let mut declared = self.models;
        for path in config.models.iter().chain(&self.model_files) {
            declared.extend(
                flowgate::model::read_schema_file(path)
                    .map_err(|e| StartError::Models(e.to_string()))?,
            );
        }
        let mut workflows: Vec<(Workflow, String)> = self
            .workflows
            .into_iter()
            .map(|w| (w, "builder".to_string()))
            .collect();
        for path in &self.workflow_files {
            let wf =
                flowgate::workflow::load(path).map_err(|e| StartError::Workflows(e.to_string()))?;
            workflows.push((wf, path.display().to_string()));
        }
        let auth = build_auth(&config).await?;
        let board = Board::new();
        for feature in [
            Feature::Http,
            Feature::Mcp,
            Feature::Database,
            Feature::Registry,
            Feature::Migrations,
            Feature::Workflows,
            Feature::Auth,
        ] {
            if feature == Feature::Http && self.unbound.0 {
                continue;
            }
            let required = feature != Feature::Registry || config.model_persistence;
            board.register(&feature, required);
        }
        if !config.discover.is_empty() {
            board.register(&Feature::Discover, true);
        }
        for (wf, _) in &workflows {
            board.register(&Feature::workflow(wf.name()), true);
        }
        for def in &declared {
            board.register(&Feature::model(def.name.clone()), true);
        }

        let http_listener = match self.unbound.0 {
            true => None,
            false => Some(
                gateway::bind(&config.host, config.http_port)
                    .await
                    .map_err(|source| StartError::Bind {
                        what: "http",
                        addr: format!("{}:{}", config.host, config.http_port),
                        source,
                    })?,
            ),
        };
        let mcp_listener = match self.unbound.1 {
            true => None,
            false => Some(gateway::bind(&config.host, config.mcp_port).await.map_err(
                |source| StartError::Bind {
                    what: "mcp",
                    addr: format!("{}:{}", config.host, config.mcp_port),
                    source,
                },
            )?),
        };
        // Table names are declared once the ports are bound: the first one runs the pluralizer's
        // lazy set-up (about 10 ms of regex compilation), which must not delay the bind. The
        // router is built after, so no request is routed before its table is known.
        let routes = Arc::new(Routes::default());
        for def in &declared {
            routes.declare(&def.name, &def.table_name());
        }
        let dispatcher = Dispatcher::new(
            routes.clone(),
            board.clone(),
            Duration::from_millis(config.ready_wait_ms),
        )
        .with_auth(auth.clone())
        .with_settings(config.audit_log, config.multi_tenant);
        if let Some(limiter) = auth.limiter() {
            board.register(&Feature::RateLimit, true);
            // Ready once the limiter's store answers (at once in memory; Redis when it answers
            // a ping). Afterwards a check that cannot reach Redis answers 503 itself.
            let limiter = limiter.clone();
            board.retry_until_ready(Feature::RateLimit, move || {
                let limiter = limiter.clone();
                async move { limiter.ping().await }
            });
        }
        let (stop_tx, stop_rx) = watch::channel(false);
        let http_addr = http_listener.as_ref().map(|(_, addr)| *addr);
        let http = match http_listener {
            Some((listener, _)) => {
                let router = gateway::http::router(dispatcher.clone(), &config);
                let http = tokio::spawn(gateway::serve(
                    listener,
                    router,
                    stop_rx.clone(),
                    gateway::Limits::of(&config),
                ));
                board.set(&Feature::Http, State::Ready);
                http
            }
            None => tokio::spawn(async { Ok(()) }),
        };
        let mcp_stop = CancellationToken::new();
        let mcp_server = McpServer::new(dispatcher.clone(), config.mcp.clone(), mcp_stop.clone());
        let mcp_addr = mcp_listener.as_ref().map(|(_, addr)| *addr);
        let mcp = match mcp_listener {
            Some((listener, _)) => {
                let router = gateway::mcp::router(mcp_server.clone(), &config, mcp_stop.clone());
                tokio::spawn(gateway::serve(
                    listener,
                    router,
                    stop_rx,
                    gateway::Limits::of(&config),
                ))
            }
            None => tokio::spawn(async { Ok(()) }),
        };
        board.set(&Feature::Mcp, State::Ready);

        let args = RootArgs {
            registry: RegistryArgs {
                config: config.clone(),
                declared,
                board: board.clone(),
                routes,
                declared_workflows: workflows,
                workflows: dispatcher.workflows().clone(),
                auth,
            },
        };
        let (root, root_task) = Actor::spawn(None, Root, args)
            .await
            .map_err(|_| StartError::Spawn("supervisor"))?;
        Ok(Handle {
            board,
            http_addr,
            mcp_addr,
            dispatcher,
            mcp_server,
            root,
            root_task,
            http,
            mcp,
            stop: stop_tx,
            mcp_stop,
            config,
        })
    }
}

/// A running server.
pub struct Handle {
    board: Board,
    http_addr: Option<SocketAddr>,
    mcp_addr: Option<SocketAddr>,
    dispatcher: Dispatcher,
    mcp_server: McpServer,
    root: ActorRef<RootMsg>,
    root_task: JoinHandle<()>,
    http: JoinHandle<std::io::Result<()>>,
    mcp: JoinHandle<std::io::Result<()>>,
    stop: watch::Sender<bool>,
    mcp_stop: CancellationToken,
    config: Config,
}

impl Handle {
    /// The readiness board.
    pub fn board(&self) -> &Board {
        &self.board
    }

    /// The bound HTTP address.
    ///
    /// # Panics
    /// When the server was started without its HTTP listener ([`Supervisor::listeners`]).
    pub fn http_addr(&self) -> SocketAddr {
        self.http_addr
            .expect("the server was started without its HTTP listener")
    }

    /// The bound MCP address (streamable HTTP at `/mcp`).
    ///
    /// # Panics
    /// When the server was started without its MCP listener ([`Supervisor::listeners`]).
    pub fn mcp_addr(&self) -> SocketAddr {
        self.mcp_addr
            .expect("the server was started without its MCP listener")
    }

    /// The bound HTTP address, if the HTTP listener was opened.
    pub fn http_listener(&self) -> Option<SocketAddr> {
        self.http_addr
    }

    /// The bound MCP address, if the streamable HTTP MCP listener was opened.
    pub fn mcp_listener(&self) -> Option<SocketAddr> {
        self.mcp_addr
    }

    /// The MCP server, to serve it on another transport too (`flowgate mcp --stdio`).
    pub fn mcp(&self) -> &McpServer {
        &self.mcp_server
    }

    /// The configuration the server runs with.
    pub fn config(&self) -> &Config {
        &self.config
    }

    /// The request path every channel uses.
    pub fn dispatcher(&self) -> &Dispatcher {
        &self.dispatcher
    }

    /// The server's API keys (`flowgate_api_keys` on its database), once the database is
    /// connected and the table open (the `auth` feature ready); `None` before. A key revoked
    /// through this handle keeps working on this server until `auth.key_cache_seconds` pass;
    /// [`Handle::revoke_key`] stops it at once.
    pub fn api_keys(&self) -> Option<flowgate::keys::ApiKeys> {
        self.dispatcher.auth().keys().store().cloned()
    }

    /// Revokes the key named `name_or_id` and forgets it at once on this server.
    pub async fn revoke_key(&self, name_or_id: &str) -> flowgate::Result<flowgate::keys::KeyInfo> {
        let cache = self.dispatcher.auth().keys();
        let info = cache.attached()?.revoke(name_or_id).await?;
        cache.forget(info.id);
        Ok(info)
    }

    /// Waits until every required feature is ready (true) or `timeout` passes (false).
    pub async fn wait_ready(&self, timeout: Duration) -> bool {
        self.board.wait_ready(timeout).await
    }

    async fn registry(&self) -> flowgate::Result<ActorRef<RegistryMsg>> {
        match self.root.call(RootMsg::Registry, None).await {
            Ok(CallResult::Success(Some(r))) => Ok(r),
            _ => Err(Error::Unavailable("the registry is not running".into())),
        }
    }

    /// Adds a model at run time: persisted, migrated, a node spawned, readiness updated.
    pub async fn register_model(&self, def: ModelDef) -> flowgate::Result<()> {
        let registry = self.registry().await?;
        match registry
            .call(|reply| RegistryMsg::Register(def, reply), None)
            .await
        {
            Ok(CallResult::Success(r)) => r,
            _ => Err(Error::Unavailable(
                "the registry stopped while registering the model".into(),
            )),
        }
    }

    /// Adds (or replaces) a workflow at run time (`app.register(name, workflow)` of DESIGN
    /// section 8; the name is the workflow's own): checked against the served models, saved in
    /// `flowgate_workflows` with model persistence, and served on every channel at once (MCP
    /// sessions get `list_changed`). Gives whether it is new. A workflow named like a model's
    /// MCP tool (`<table>_<op>`) is a `conflict`; one whose check fails is refused with the
    /// check's error, and nothing changes.
    pub async fn register_workflow(&self, workflow: Workflow) -> flowgate::Result<bool> {
        self.dispatcher.register_workflow(workflow, "handle").await
    }

    /// The store, once the database is connected.
    pub async fn store(&self) -> Option<Store> {
        let registry = self.registry().await.ok()?;
        match registry.call(RegistryMsg::Store, None).await {
            Ok(CallResult::Success(s)) => s,
            _ => None,
        }
    }

    /// The served models acting for `tenant` (DESIGN 13.4, "a light app per tenant"): the data
    /// layer's `TenantStore` over this server's store. Cheap: no I/O beyond asking for the store,
    /// nothing kept per tenant. `NotReady` while the database is not connected yet.
    pub async fn for_tenant(&self, tenant: &str) -> flowgate::Result<flowgate::TenantStore> {
        let store = self
            .store()
            .await
            .ok_or_else(|| flowgate::Error::NotReady {
                what: Feature::Database.to_string(),
                state: "starting".into(),
                retry_after_ms: 1000,
            })?;
        store.for_tenant(tenant)
    }

    /// Test hook (feature `test-hooks`): makes a model's node actor panic.
    #[cfg(feature = "test-hooks")]
    pub async fn panic_node(&self, model: &str) {
        if let Ok(registry) = self.registry().await {
            let _ = registry.cast(RegistryMsg::PanicNode(model.to_string()));
        }
    }

    /// Graceful shutdown: stop accepting, let in-flight requests finish, stop the node actors,
    /// close the pool, stop the supervisor.
    pub async fn shutdown(self) {
        let _ = self.stop.send(true);
        // Ends the MCP sessions and their event streams, which would hold the port open.
        self.mcp_stop.cancel();
        let servers = async { tokio::join!(self.http, self.mcp) };
        match tokio::time::timeout(Duration::from_secs(30), servers).await {
            Ok((http, mcp)) => {
                for (what, r) in [("http", http), ("mcp", mcp)] {
                    if let Ok(Err(e)) = r {
                        tracing::warn!(error = %e, "{what} server stopped with an error");
                    }
                }
            }
            Err(_) => tracing::warn!("in-flight requests did not finish within 30 s"),
        }
        if let Ok(CallResult::Success(Some(registry))) =
            self.root.call(RootMsg::Registry, None).await
        {
            let _ = registry
                .call(RegistryMsg::Shutdown, Some(Duration::from_secs(30)))
                .await;
        }
        self.root.stop(Some("shutdown".into()));
        let _ = self.root_task.await;
    }
}

/// What the root actor does.
pub enum RootMsg {
    /// The registry actor, when it runs.
    Registry(ractor::RpcReplyPort<Option<ActorRef<RegistryMsg>>>),
}

struct Root;

struct RootArgs {
    registry: RegistryArgs,
}

struct RootState {
    registry: Option<ActorRef<RegistryMsg>>,
    args: RegistryArgs,
    restarts: u32,
}

fn registry_args(a: &RegistryArgs) -> RegistryArgs {
    RegistryArgs {
        config: a.config.clone(),
        declared: a.declared.clone(),
        board: a.board.clone(),
        routes: a.routes.clone(),
        declared_workflows: a.declared_workflows.clone(),
        workflows: a.workflows.clone(),
        auth: a.auth.clone(),
    }
}

impl Actor for Root {
    type Msg = RootMsg;
    type State = RootState;
    type Arguments = RootArgs;

    async fn pre_start(
        &self,
        myself: ActorRef<RootMsg>,
        args: RootArgs,
    ) -> Result<RootState, ActorProcessingErr> {
        let (registry, _) = Actor::spawn_linked(
            None,
            RegistryActor,
            registry_args(&args.registry),
            myself.get_cell(),
        )
        .await?;
        Ok(RootState {
            registry: Some(registry),
            args: args.registry,
            restarts: 0,
        })
    }

    async fn handle(
        &self,
        _myself: ActorRef<RootMsg>,
        msg: RootMsg,
        state: &mut RootState,
    ) -> Result<(), ActorProcessingErr> {
        match msg {
            RootMsg::Registry(reply) => {
                let _ = reply.send(state.registry.clone());
            }
        }
        Ok(())
    }

    async fn handle_supervisor_evt(
        &self,
        myself: ActorRef<RootMsg>,
        evt: SupervisionEvent,
        state: &mut RootState,
    ) -> Result<(), ActorProcessingErr> {
        // The registry died: start a new one (it reconnects and picks up where the database is).
        if let SupervisionEvent::ActorFailed(_, err) = evt {
            state.restarts += 1;
            tracing::error!(error = %err, restarts = state.restarts, "registry actor failed; restarting");
            state.registry = None;
            if state.restarts <= 5 {
                let (registry, _) = Actor::spawn_linked(
                    None,
                    RegistryActor,
                    registry_args(&state.args),
                    myself.get_cell(),
                )
                .await?;
                state.registry = Some(registry);
            } else {
                state.args.board.set(
                    &Feature::Registry,
                    State::Failed(format!("failed {} times: {err}", state.restarts)),
                );
            }
        }
        Ok(())
    }
}

/// The authentication, roles and rate limits of `config`: refused (naming the key) when a
/// setting is wrong, or when a listener beyond loopback would serve anonymous callers without
/// `auth.allow_anonymous`.
async fn build_auth(config: &Config) -> Result<Arc<Auth>, StartError> {
    let all_loopback = crate::auth::is_loopback_host(&config.host);
    let limiter = crate::rate_limit::RateLimiter::new(&config.rate_limit)
        .await
        .map_err(|e| StartError::Config(ConfigError(e)))?;
    Auth::new(&config.auth, all_loopback, Some(limiter))
        .map(Arc::new)
        .map_err(|e| StartError::Config(ConfigError(e)))
}
