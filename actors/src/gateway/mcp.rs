//! MCP (DESIGN section 7): the served models' operations as tools, the models and the readiness
//! board as resources, over streamable HTTP at `/mcp` on the MCP port and over stdio (`flowgate
//! mcp --stdio`).
//!
//! Two tool lists (`[mcp] tools`): `per_model` (the default), a tool `<table>_<op>` for every
//! operation a model exposes (`mcp_tools`, else `[mcp] default_tools`, else all eleven); and
//! `compact`, a dozen generic tools that take the model as an argument (`compact`). Operations
//! not exposed are still served on REST, `/nodes` and the CLI; a call to one over MCP is an
//! unknown tool (per model) or a validation error naming `model` (compact).
//!
//! A tool call goes through the same [`Dispatcher::call`] as a REST request, so its result is the
//! JSON the HTTP API returns (as `structuredContent`, plus a text copy) and an operation failure
//! is the same error object (`{"error": {...}}`, with `isError: true`). Protocol misuse (an
//! unknown tool, a malformed request) is a JSON-RPC error. A tool name is resolved once per call
//! (`resolve`): a served or declared workflow, else a model's tool (per model) or a generic tool
//! (compact); only when nothing matches does the call wait for the models and workflows to
//! settle and look once more.
//!
//! Each served workflow is a tool named after it (its arguments are the workflow's inputs; it
//! runs synchronously and answers what `POST /workflows/{name}/execute` answers), and the list of
//! workflows is the resource `flowgate://workflows`. The registry refuses a workflow named like a
//! model's tool, so the two kinds of names cannot collide.
//!
//! Only models and workflows that are served (ready) are listed, but a list first waits for
//! the declared ones to settle (ready or failed, within `ready_wait_ms`: `settle`), as many
//! clients list once right after `initialize`; a call to a model that is declared but not
//! ready yet waits like a REST request and then answers `not_ready` as a tool error. When the set of served models or workflows changes, connected sessions get
//! `notifications/tools/list_changed` and `notifications/resources/list_changed`.
//!
//! Over streamable HTTP, a tool call in a session is answered in its HTTP request's own task, as
//! one JSON body, instead of passing through the session's tasks (`sessions`); everything else
//! goes through the session as rmcp makes it.

mod compact;
mod sessions;
mod tools;

use crate::auth::Permission;
use crate::config::{Config, McpConfig, ToolMode};
use crate::dispatch::Dispatcher;
use crate::readiness::{Board, Feature, Look, State};
use crate::routes::Target;
use flowgate::naming::GenericTool;
use flowgate::{Channel, Context, Error, ModelInfo, OpKind, Principal};
use rmcp::model::{
    CallToolRequestParams, CallToolResponse, CallToolResult, Implementation,
    ListResourceTemplatesResult, ListResourcesResult, ListToolsResult, PaginatedRequestParams,
    ReadResourceRequestParams, ReadResourceResponse, ReadResourceResult, Resource,
    ResourceContents, ResourceTemplate, ServerCapabilities, ServerConfig, SubscriptionFilter, Tool,
};
use rmcp::service::{NotificationContext, RequestContext, SubscriptionContext};
use rmcp::transport::streamable_http_server::session::local::LocalSessionManager;
use rmcp::transport::{StreamableHttpServerConfig, StreamableHttpService};
use rmcp::{ErrorData as McpError, Peer, RoleServer, ServerHandler};
use serde_json::{Value, json};
use std::sync::{Arc, Mutex};
use std::time::Duration;
use tokio::sync::watch;
use tokio_util::sync::CancellationToken;
use tracing::Instrument;

const READINESS_URI: &str = "flowgate://readiness";
const WORKFLOWS_URI: &str = "flowgate://workflows";
const MODEL_URI_PREFIX: &str = "flowgate://models/";

const INSTRUCTIONS: &str = "Flowgate data models. Each model has tools <table>_<op> for the \
operations create, read, update, delete, list, count, upsert, bulk_create, bulk_update, \
bulk_delete and bulk_upsert (a model may expose only some). Results are the records as JSON; \
failures carry {\"error\": {code, message, field?}}. Each model's record schema is the resource \
flowgate://models/{Model}; the server's readiness is flowgate://readiness.";

const COMPACT_INSTRUCTIONS: &str = "Flowgate data models, through generic tools that take the \
model's name as the argument `model`. Start with describe: without arguments it lists the models \
and the tools each allows; with {\"model\": Name} it gives the model's fields (record_schema) and \
what create takes (create_schema), as the resource flowgate://models/{Model} does. The other \
tools are the operations read, list, count, create, update, delete, upsert, bulk_create, \
bulk_update, bulk_delete and bulk_upsert; their arguments are model plus the operation's params \
(create: model and data, the record's fields). Results are the records as JSON; failures carry \
{\"error\": {code, message, field?}}. The server's readiness is flowgate://readiness.";

const WORKFLOW_INSTRUCTIONS: &str = "Each workflow is a tool named after it: its arguments \
are the workflow's inputs, its result {run_id, workflow, status, results (by node id), skipped}; \
a failed run's error names the node in details.node. The workflows are listed in \
flowgate://workflows.";

/// The server instructions: what the tools are, and the filter grammar that their `filter`
/// params refer to.
fn instructions(mode: ToolMode) -> String {
    let tools = match mode {
        ToolMode::PerModel => INSTRUCTIONS,
        ToolMode::Compact => COMPACT_INSTRUCTIONS,
    };
    format!(
        "{tools} {WORKFLOW_INSTRUCTIONS} {}",
        tools::filter_grammar()
    )
}

/// What a tool name means, resolved once per call.
enum Resolved {
    /// A model's operation (per-model mode), by model name.
    Op(String, OpKind),
    /// A generic tool (compact mode).
    Generic(GenericTool),
    /// A workflow, served or declared.
    Workflow,
    /// The audit trail (`audit_list`).
    Audit,
}

/// The MCP server over a dispatcher. Cheap to clone; clones share the sessions to notify.
#[derive(Clone)]
pub struct McpServer {
    inner: Arc<Inner>,
    /// The generation of the served set when this session began (see `on_initialized`).
    began_at: u64,
}

struct Inner {
    dispatcher: Dispatcher,
    /// `[mcp]`: the tool list's mode and the operations models expose.
    config: McpConfig,
    /// Sessions that completed the `initialize` handshake, to notify of list changes.
    peers: Mutex<Vec<Peer<RoleServer>>>,
    /// Bumped whenever the set of served models changes.
    generation: watch::Receiver<u64>,
    /// The tool list of one served set.
    tools: Mutex<Option<ToolCache>>,
    stop: CancellationToken,
}

/// The tools of the models and workflows they were made of (held, so that their identity
/// cannot be taken by new ones).
struct ToolCache {
    models: Vec<Arc<ModelInfo>>,
    workflows: Vec<Arc<crate::workflows::Served>>,
    /// Whether the audit trail could be read (`audit_list` listed).
    audit: bool,
    tools: Arc<Vec<Tool>>,
}

/// Whether two lists hold the same `Arc`s in the same order.
fn same_arcs<T>(a: &[Arc<T>], b: &[Arc<T>]) -> bool {
    a.len() == b.len() && a.iter().zip(b).all(|(x, y)| Arc::ptr_eq(x, y))
}

/// The served models and workflows, by name and identity: a model or workflow whose definition
/// changed is a new `Arc`.
fn served_set(d: &Dispatcher) -> Vec<(String, usize)> {
    let models = d
        .routes()
        .served()
        .into_iter()
        .map(|m| (m.name().to_string(), Arc::as_ptr(&m) as usize));
    let workflows = d.workflows().served().into_iter().map(|w| {
        (
            Feature::workflow(w.name()).to_string(),
            Arc::as_ptr(&w) as usize,
        )
    });
    models.chain(workflows).collect()
}

impl McpServer {
    /// A server over `dispatcher`. It watches the readiness board for changes of the served
    /// models until `stop` is cancelled (which also ends the streamable HTTP sessions).
    pub fn new(dispatcher: Dispatcher, config: McpConfig, stop: CancellationToken) -> McpServer {
        let (tx, rx) = watch::channel(0u64);
        let inner = Arc::new(Inner {
            dispatcher,
            config,
            peers: Mutex::default(),
            generation: rx,
            tools: Mutex::default(),
            stop,
        });
        tokio::spawn(watch_models(inner.clone(), tx));
        McpServer { inner, began_at: 0 }
    }

    /// The handler of one new session: it remembers which served set the session begins with.
    pub fn session(&self) -> McpServer {
        McpServer {
            inner: self.inner.clone(),
            began_at: *self.inner.generation.borrow(),
        }
    }

    fn dispatcher(&self) -> &Dispatcher {
        &self.inner.dispatcher
    }

    /// Waits until what the server declared has settled, so that a list answers what serves
    /// rather than what happens to be up yet: the loading of the models (`migrations`, which
    /// also brings the persisted ones), the `discover` directories, the workflows, and every
    /// `model:*` and `workflow:*` on the board, each ready or failed. Bounded by `ready_wait_ms`
    /// from the call, like a `tools/call` for a model that is not ready; after that, the list
    /// is what serves then (and `list_changed` follows when more comes up).
    async fn settle(&self) {
        let deadline = tokio::time::Instant::now() + self.dispatcher().ready_wait();
        let _ = self
            .dispatcher()
            .board()
            .wait_for(deadline, |board| match unsettled(board) {
                true => Look::Wait(()),
                false => Look::Ready(()),
            })
            .await;
    }

    /// The tools of every served model, built once per served set. The cache is keyed by the
    /// served set itself, not by the watcher's generation: a list that follows a model's coming
    /// up (`settle`) must not get the tools of before because the watcher has not run yet.
    fn tools(&self) -> Arc<Vec<Tool>> {
        let served = self.dispatcher().routes().served();
        let workflows = self.dispatcher().workflows().served();
        let audit = self.dispatcher().audited()
            && self.dispatcher().board().state(&Feature::Audit) == Some(State::Ready);
        let mut cache = self.inner.tools.lock().expect("tools lock");
        if let Some(cached) = cache.as_ref()
            && same_arcs(&cached.models, &served)
            && same_arcs(&cached.workflows, &workflows)
            && cached.audit == audit
        {
            return cached.tools.clone();
        }
        let models: Vec<Tool> = match self.inner.config.tools {
            ToolMode::PerModel => {
                let mut relations = flowgate::model::all_relations(served.iter().map(|s| &s.def));
                served
                    .iter()
                    .flat_map(|m| {
                        let of = relations.remove(m.name()).unwrap_or_default();
                        tools::tools(m, self.inner.config.exposed(&m.def), of)
                    })
                    .collect()
            }
            ToolMode::Compact => compact::tools(&served),
        };
        let tools: Arc<Vec<Tool>> = Arc::new(
            models
                .into_iter()
                .chain(workflows.iter().map(|w| tools::workflow_tool(w)))
                .collect(),
        );
        // `audit_list` once the trail can be read, unless a model's or a workflow's tool has
        // the name.
        let tools = if audit && !tools.iter().any(|t| t.name == tools::AUDIT_TOOL) {
            let mut all = (*tools).clone();
            all.push(tools::audit_tool());
            Arc::new(all)
        } else {
            tools
        };
        *cache = Some(ToolCache {
            models: served,
            workflows,
            audit,
            tools: tools.clone(),
        });
        tools
    }

    /// What a tool name means now, without waiting: a served workflow, else a model's tool
    /// (per model; the model served or only declared) or a generic tool (compact), else a
    /// workflow the board knows (declared, coming up or failed).
    fn resolve_now(&self, name: &str) -> Option<Resolved> {
        if self.dispatcher().workflows().get(name).is_some() {
            return Some(Resolved::Workflow);
        }
        let tool = match self.inner.config.tools {
            ToolMode::PerModel => self
                .dispatcher()
                .routes()
                .tool_owner(name)
                .map(|(model, op)| Resolved::Op(model, op)),
            ToolMode::Compact => GenericTool::parse(name).map(Resolved::Generic),
        };
        tool.or_else(|| {
            let declared = self.dispatcher().board().state(&Feature::workflow(name));
            declared.map(|_| Resolved::Workflow)
        })
        .or_else(|| {
            (name == tools::AUDIT_TOOL && self.dispatcher().audited()).then_some(Resolved::Audit)
        })
    }

    /// What a tool name means: resolved once; a name that means nothing yet is looked up once
    /// more after the models and workflows settle (`settle`), as they may still be loading.
    /// `Ok(None)`: no such tool. `Err`: still loading when the wait ran out.
    async fn resolve(&self, name: &str) -> Result<Option<Resolved>, Error> {
        if let Some(r) = self.resolve_now(name) {
            return Ok(Some(r));
        }
        self.settle().await;
        if let Some(r) = self.resolve_now(name) {
            return Ok(Some(r));
        }
        match loading(self.dispatcher().board()) {
            Some((what, state)) => Err(Error::NotReady {
                what: what.to_string(),
                state: state.name().into(),
                retry_after_ms: 1000,
            }),
            None => Ok(None),
        }
    }

    /// A served model, waiting for it (up to `ready_wait_ms`) like a request does; a model
    /// that does not serve by then is `not_ready` with its state, as the dispatcher says it.
    async fn served_model(&self, name: &str) -> Result<Arc<ModelInfo>, Error> {
        if let Some(m) = self.model(name) {
            return Ok(m);
        }
        let feature = Feature::model(name);
        let d = self.dispatcher();
        let state = d.board().wait_settled(&feature, d.ready_wait()).await;
        if let Some(m) = self.model(name) {
            return Ok(m);
        }
        Err(match state {
            Some(State::Failed(reason)) => Error::NotReady {
                what: feature.to_string(),
                state: format!("failed: {reason}"),
                retry_after_ms: 5000,
            },
            state => d.not_ready(&feature, state.unwrap_or(State::Pending)),
        })
    }

    /// The model a generic tool's `model` argument names (by name, or by table name), once the
    /// models have settled if it is not known yet.
    async fn model_named(&self, args: &serde_json::Map<String, Value>) -> Result<String, Error> {
        let name = compact::model_arg(args)?;
        let known = |routes: &crate::routes::Routes| {
            if routes.knows(name) {
                Some(name.to_string())
            } else {
                routes.model_of_table(name)
            }
        };
        if let Some(model) = known(self.dispatcher().routes()) {
            return Ok(model);
        }
        self.settle().await;
        known(self.dispatcher().routes()).ok_or_else(|| {
            let names: Vec<String> = self
                .dispatcher()
                .routes()
                .served()
                .iter()
                .map(|m| m.name().to_string())
                .collect();
            Error::validation(
                "model",
                format!(
                    "unknown model `{name}`; the models are: {} (describe lists them)",
                    names.join(", ")
                ),
            )
        })
    }

    /// The tools a model allows: their names (`books_read` per model, `read` in compact mode).
    fn tool_names(&self, m: &ModelInfo) -> Vec<String> {
        let exposed = self.inner.config.exposed(&m.def);
        match self.inner.config.tools {
            ToolMode::PerModel => exposed.iter().map(|op| op.tool_name(&m.table)).collect(),
            ToolMode::Compact => exposed.iter().map(|op| op.as_str().to_string()).collect(),
        }
    }

    /// A model's resource, with the tools it allows.
    fn model_json(&self, m: &ModelInfo) -> Value {
        let mut value =
            flowgate::json_schema::model_document(m, &self.inner.dispatcher.routes().served());
        value["tools"] = json!(self.tool_names(m));
        value
    }

    /// A tool call, on any transport: the operation through the dispatcher, its result as
    /// structured content with a text copy, an operation failure as a tool error carrying the
    /// REST error object, and a name that is no tool as a JSON-RPC error.
    async fn call(
        &self,
        request: CallToolRequestParams,
        principal: Principal,
        tenant: Option<String>,
    ) -> Result<CallToolResult, McpError> {
        let name = request.name.as_ref();
        let ctx = Context {
            principal,
            tenant,
            channel: Channel::Mcp,
            request_id: flowgate::context::new_request_id(),
            via: Some(name.to_string()),
            ..Context::default()
        };
        let span = tracing::info_span!("mcp", tool = %name, request_id = %ctx.request_id);
        let args = request.arguments.unwrap_or_default();
        let resolved = match self.resolve(name).instrument(span.clone()).await {
            Ok(Some(r)) => r,
            Ok(None) => return Err(unknown_tool(name)),
            Err(e) => return Ok(tool_error(&span, e.to_json(), &e)),
        };
        let answer = match resolved {
            Resolved::Workflow => {
                let run = self
                    .dispatcher()
                    .run_workflow(name, ctx, Value::Object(args))
                    .instrument(span.clone())
                    .await;
                return match run {
                    Ok(out) => Ok(CallToolResult::structured(out.to_json())),
                    Err(f) => Ok(tool_error(&span, f.to_json(), f.error())),
                };
            }
            Resolved::Op(model, op) => {
                let exposed = match self.served_model(&model).instrument(span.clone()).await {
                    Ok(m) => self.inner.config.exposed(&m.def).contains(&op),
                    Err(e) => return Ok(tool_error(&span, e.to_json(), &e)),
                };
                if !exposed {
                    return Err(McpError::invalid_params(
                        format!(
                            "unknown tool: {name} (model {model} does not expose {op} as an MCP \
                             tool; REST and the CLI serve it)"
                        ),
                        None,
                    ));
                }
                self.operation(&model, op, ctx, Value::Object(args))
                    .instrument(span.clone())
                    .await
            }
            Resolved::Generic(tool) => self.generic(tool, ctx, args).instrument(span.clone()).await,
            Resolved::Audit => {
                let d = self.dispatcher();
                match crate::audit::query_from(&args) {
                    Ok(q) => {
                        crate::audit::list(d, &ctx.principal, ctx.tenant, q)
                            .instrument(span.clone())
                            .await
                    }
                    Err(e) => Err(e),
                }
            }
        };
        Ok(match answer {
            Ok(value) => CallToolResult::structured(value),
            Err(e) => tool_error(&span, e.to_json(), &e),
        })
    }

    /// An operation on a served model, through the dispatcher like every channel's.
    async fn operation(
        &self,
        model: &str,
        op: OpKind,
        ctx: Context,
        params: Value,
    ) -> Result<Value, Error> {
        self.dispatcher()
            .call(Target::Model(model), op, ctx, params)
            .await
    }

    /// A generic tool's call (compact mode): `describe`, or an operation on the model its
    /// `model` argument names, when that model allows it.
    async fn generic(
        &self,
        tool: GenericTool,
        ctx: Context,
        args: serde_json::Map<String, Value>,
    ) -> Result<Value, Error> {
        let op = match tool {
            GenericTool::Describe => return self.describe(args).await,
            GenericTool::Op(op) => op,
        };
        let model = self.model_named(&args).await?;
        let m = self.served_model(&model).await?;
        let exposed = self.inner.config.exposed(&m.def);
        if !exposed.contains(&op) {
            let allowed: Vec<&str> = exposed.iter().map(|k| k.as_str()).collect();
            let allowed = if allowed.is_empty() {
                "nothing".to_string()
            } else {
                allowed.join(", ")
            };
            return Err(Error::validation(
                "model",
                format!(
                    "model {model} does not allow `{op}` over MCP; it allows: {allowed} (REST \
                     and the CLI serve every operation)"
                ),
            ));
        }
        let params = compact::op_params(op, args)?;
        let result = self.operation(&model, op, ctx, params).await;
        if op == OpKind::Create {
            // The record's fields are under `data` here.
            return result.map_err(compact::under_data);
        }
        result
    }

    /// `describe`: every served model in brief, or one model's resource.
    async fn describe(&self, args: serde_json::Map<String, Value>) -> Result<Value, Error> {
        if let Some(key) = args.keys().find(|k| *k != "model") {
            return Err(Error::validation(
                key.clone(),
                format!("unknown argument `{key}`: describe takes only model"),
            ));
        }
        if args.get("model").is_none_or(Value::is_null) {
            self.settle().await;
            let models: Vec<Value> = self
                .dispatcher()
                .routes()
                .served()
                .iter()
                .map(|m| {
                    let mut brief = json!({"name": m.name(), "table": m.table});
                    if let Some(d) = &m.def.description {
                        brief["description"] = json!(d);
                    }
                    brief["tools"] = json!(self.tool_names(m));
                    brief
                })
                .collect();
            return Ok(json!({ "models": models }));
        }
        let model = self.model_named(&args).await?;
        let m = self.served_model(&model).await?;
        Ok(self.model_json(&m))
    }

    /// The principal of a request: the one the HTTP layer (`authenticate`) authenticated from
    /// the request's headers; on a transport without HTTP (stdio), the `local` principal; an
    /// HTTP request the layer did not see, anonymous (it fails closed).
    /// The tenant a request acts for, as the HTTP layer decided it; on stdio, the tenant
    /// `mcp --stdio --tenant` names.
    pub(crate) fn tenant(&self, extensions: &rmcp::model::Extensions) -> Option<String> {
        match extensions.get::<axum::http::request::Parts>() {
            Some(parts) => parts
                .extensions
                .get::<ActingTenant>()
                .and_then(|t| t.0.clone()),
            None => self.dispatcher().auth().local_tenant(),
        }
    }

    pub(crate) fn principal(&self, extensions: &rmcp::model::Extensions) -> Principal {
        match extensions.get::<axum::http::request::Parts>() {
            Some(parts) => parts
                .extensions
                .get::<Principal>()
                .cloned()
                .unwrap_or_else(|| Principal::anonymous(None)),
            None => self.dispatcher().auth().local_principal(),
        }
    }

    /// Whether `principal` may call the tool `name`: a workflow's `workflow:<name>`, a model
    /// tool's `<Model>:<op>`, a generic tool's operation on at least one served model
    /// (`describe` always).
    fn may_call(&self, principal: &Principal, name: &str) -> bool {
        let auth = self.dispatcher().auth();
        if self.dispatcher().workflows().get(name).is_some() {
            return auth.may(principal, Permission::Workflow(name));
        }
        if name == tools::AUDIT_TOOL && matches!(self.resolve_now(name), Some(Resolved::Audit)) {
            return auth.may(principal, Permission::Admin("audit"));
        }
        match self.inner.config.tools {
            ToolMode::PerModel => match self.dispatcher().routes().tool_owner(name) {
                Some((model, op)) => auth.may(principal, Permission::Op { model: &model, op }),
                None => false,
            },
            ToolMode::Compact => match GenericTool::parse(name) {
                Some(GenericTool::Describe) => true,
                Some(GenericTool::Op(op)) => self.dispatcher().routes().served().iter().any(|m| {
                    auth.may(
                        principal,
                        Permission::Op {
                            model: m.name(),
                            op,
                        },
                    )
                }),
                None => false,
            },
        }
    }

    fn model(&self, name: &str) -> Option<Arc<ModelInfo>> {
        self.dispatcher().routes().route(name).map(|r| r.model)
    }
}

/// Whether a feature of the board that decides what the lists hold has not settled (is neither
/// up nor failed).
fn unsettled(board: &Board) -> bool {
    board.features().iter().any(|(feature, state)| {
        matches!(
            feature,
            Feature::Migrations
                | Feature::Discover
                | Feature::Workflows
                | Feature::Model(_)
                | Feature::Workflow(_)
        ) && !state.is_settled()
    })
}

/// The first of the features that bring models and workflows (`migrations`, `discover`,
/// `workflows`) that is still coming up, with its state.
fn loading(board: &Board) -> Option<(Feature, State)> {
    [Feature::Migrations, Feature::Discover, Feature::Workflows]
        .into_iter()
        .find_map(|f| {
            let state = board.state(&f).filter(|s| !s.is_settled())?;
            Some((f, state))
        })
}

/// Notifies every session when the served set changes, until the server stops.
async fn watch_models(inner: Arc<Inner>, generation: watch::Sender<u64>) {
    let mut board = inner.dispatcher.board().subscribe();
    let mut last = served_set(&inner.dispatcher);
    loop {
        tokio::select! {
            _ = inner.stop.cancelled() => return,
            changed = board.changed() => if changed.is_err() { return },
        }
        let now = served_set(&inner.dispatcher);
        if now == last {
            continue;
        }
        last = now;
        generation.send_modify(|g| *g += 1);
        let peers: Vec<Peer<RoleServer>> = {
            let mut peers = inner.peers.lock().expect("peers lock");
            peers.retain(|p| !p.is_transport_closed());
            peers.clone()
        };
        for peer in peers {
            // A session that does not read its stream must not hold the others up.
            tokio::spawn(async move {
                let sent = tokio::time::timeout(Duration::from_secs(10), async {
                    peer.notify_tool_list_changed().await?;
                    peer.notify_resource_list_changed().await
                })
                .await;
                if !matches!(sent, Ok(Ok(()))) {
                    tracing::debug!("an MCP session missed a list_changed notification");
                }
            });
        }
    }
}

/// A tool error carrying `object` (the error object of `e`, or of a failed run).
fn tool_error(span: &tracing::Span, object: Value, e: &Error) -> CallToolResult {
    if let Error::Internal(detail) = e {
        span.in_scope(|| tracing::error!(error = %detail, "internal error"));
    }
    CallToolResult::structured_error(json!({ "error": object }))
}

fn unknown_tool(name: &str) -> McpError {
    McpError::invalid_params(format!("unknown tool: {name}"), None)
}

fn json_resource(uri: &str, value: &Value) -> ReadResourceResponse {
    let text = serde_json::to_string_pretty(value).unwrap_or_default();
    ReadResourceResult::new(vec![
        ResourceContents::text(text, uri).with_mime_type("application/json"),
    ])
    .into()
}

impl ServerHandler for McpServer {
    fn get_info(&self) -> ServerConfig {
        ServerConfig::new(
            ServerCapabilities::builder()
                .enable_tools()
                .enable_tool_list_changed()
                .enable_resources()
                .enable_resources_list_changed()
                .build(),
        )
        .with_server_info(Implementation::new("flowgate", env!("CARGO_PKG_VERSION")))
        .with_instructions(instructions(self.inner.config.tools))
    }

    async fn on_initialized(&self, context: NotificationContext<RoleServer>) {
        {
            let mut peers = self.inner.peers.lock().expect("peers lock");
            peers.retain(|p| !p.is_transport_closed());
            peers.push(context.peer.clone());
        }
        // The served set may have changed between `initialize` and now, before this session was
        // on the list the watcher notifies (it bumps the generation before reading the list, so
        // a change is either seen here or reaches this session from the watcher).
        if *self.inner.generation.borrow() != self.began_at {
            let _ = context.peer.notify_tool_list_changed().await;
            let _ = context.peer.notify_resource_list_changed().await;
        }
    }

    /// Sessionless clients (protocol 2026-07-28) listen for the list changes instead.
    fn accepted_subscription_filter(
        &self,
        _requested: &SubscriptionFilter,
    ) -> Option<SubscriptionFilter> {
        Some(
            SubscriptionFilter::builder()
                .tools_list_changed()
                .resources_list_changed()
                .build(),
        )
    }

    async fn listen(&self, context: SubscriptionContext) -> Result<(), McpError> {
        let mut generation = self.inner.generation.clone();
        generation.mark_unchanged();
        loop {
            tokio::select! {
                _ = context.cancelled() => return Ok(()),
                _ = self.inner.stop.cancelled() => return Ok(()),
                changed = generation.changed() => if changed.is_err() { return Ok(()) },
            }
            let sink = context.sink();
            if sink.accepted().tools_list_changed == Some(true) {
                let _ = sink.notify_tool_list_changed().await;
            }
            if sink.accepted().resources_list_changed == Some(true) {
                let _ = sink.notify_resource_list_changed().await;
            }
        }
    }

    async fn list_tools(
        &self,
        _request: Option<PaginatedRequestParams>,
        context: RequestContext<RoleServer>,
    ) -> Result<ListToolsResult, McpError> {
        self.settle().await;
        let principal = self.principal(&context.extensions);
        let tools = self.tools();
        let visible = tools
            .iter()
            .filter(|t| self.may_call(&principal, t.name.as_ref()))
            .cloned()
            .collect();
        Ok(ListToolsResult::with_all_items(visible))
    }

    async fn call_tool(
        &self,
        request: CallToolRequestParams,
        context: RequestContext<RoleServer>,
    ) -> Result<CallToolResponse, McpError> {
        let principal = self.principal(&context.extensions);
        let tenant = self.tenant(&context.extensions);
        self.call(request, principal, tenant).await.map(Into::into)
    }

    async fn list_resources(
        &self,
        _request: Option<PaginatedRequestParams>,
        _context: RequestContext<RoleServer>,
    ) -> Result<ListResourcesResult, McpError> {
        self.settle().await;
        let mut resources = vec![
            Resource::new(READINESS_URI, "readiness")
                .with_description("The readiness board: every feature and its state")
                .with_mime_type("application/json"),
            Resource::new(WORKFLOWS_URI, "workflows")
                .with_description(
                    "The served workflows: name, description, nodes and the input schema of each",
                )
                .with_mime_type("application/json"),
        ];
        for m in self.dispatcher().routes().served() {
            resources.push(
                Resource::new(format!("{MODEL_URI_PREFIX}{}", m.name()), m.name())
                    .with_description(format!(
                        "The {} model: record schema, create schema, definition, tools",
                        m.name()
                    ))
                    .with_mime_type("application/json"),
            );
        }
        Ok(ListResourcesResult::with_all_items(resources))
    }

    async fn list_resource_templates(
        &self,
        _request: Option<PaginatedRequestParams>,
        _context: RequestContext<RoleServer>,
    ) -> Result<ListResourceTemplatesResult, McpError> {
        Ok(ListResourceTemplatesResult::with_all_items(vec![
            ResourceTemplate::new(format!("{MODEL_URI_PREFIX}{{Model}}"), "model")
                .with_description("A served model: record schema, create schema, definition")
                .with_mime_type("application/json"),
        ]))
    }

    async fn read_resource(
        &self,
        request: ReadResourceRequestParams,
        _context: RequestContext<RoleServer>,
    ) -> Result<ReadResourceResponse, McpError> {
        let uri = request.uri.as_str();
        if uri == READINESS_URI {
            return Ok(json_resource(uri, &self.dispatcher().board().to_json()));
        }
        if uri == WORKFLOWS_URI {
            return Ok(json_resource(
                uri,
                &self.dispatcher().workflows().list_json(),
            ));
        }
        match uri
            .strip_prefix(MODEL_URI_PREFIX)
            .and_then(|n| self.model(n))
        {
            Some(m) => Ok(json_resource(uri, &self.model_json(&m))),
            None => Err(McpError::resource_not_found(
                format!("no resource {uri} (models are listed once they are ready)"),
                None,
            )),
        }
    }
}

/// The router of the MCP port: streamable HTTP at `/mcp`, with sessions (clients that
/// `initialize` get an `Mcp-Session-Id`, and list changes on their standalone event stream), and
/// tool calls answered as JSON (`sessions`).
/// Cancelling `stop` ends every session and stream, so that the port can shut down gracefully.
pub fn router(server: McpServer, config: &Config, stop: CancellationToken) -> axum::Router {
    let auth = server.dispatcher().auth().clone();
    let guard = Arc::new(super::http::origin::Guard::new(config));
    // No priming event (an empty event carrying a retry delay) before each answer: it doubles
    // the events of a tool call's stream, and what it enables, resuming a cut stream, matters
    // little for answers that take milliseconds.
    let http_config = StreamableHttpServerConfig::default()
        .with_sse_retry(None)
        .with_allowed_hosts(super::http::origin::allowed_hosts(config))
        .with_max_request_body_bytes(config.body_limit)
        .with_cancellation_token(stop);
    let mut local = LocalSessionManager::default();
    local.session_config.sse_retry = None;
    let sessions = Arc::new(sessions::Sessions::new(local, server.clone()));
    let service = StreamableHttpService::new(move || Ok(server.session()), sessions, http_config);
    axum::Router::new()
        .route_service("/mcp", service)
        .layer(axum::middleware::from_fn(sessions::json_answers))
        .layer(axum::middleware::from_fn_with_state(auth, authenticate))
        .layer(axum::middleware::from_fn_with_state(guard, refuse_foreign))
        .layer(axum::middleware::map_response(
            |mut resp: axum::response::Response| async move {
                super::http::security_headers(resp.headers_mut());
                resp
            },
        ))
}

/// A browser page on another origin must not drive the MCP port any more than the REST one: a
/// foreign `Origin` (or `Host`) is refused with 403 before anything else, as on the HTTP port
/// (the MCP specification asks servers to check `Origin`).
async fn refuse_foreign(
    axum::extract::State(guard): axum::extract::State<Arc<super::http::origin::Guard>>,
    request: axum::extract::Request,
    next: axum::middleware::Next,
) -> axum::response::Response {
    match guard.refusal(request.headers(), request.uri()) {
        Some(refused) => refused,
        None => next.run(request).await,
    }
}

/// The channel's authentication stage on the MCP port: every HTTP request authenticates from
/// its own headers (a session does not carry a principal from one request to the next). A bad
/// credential, or none when credentials are required, is an HTTP 401 with `WWW-Authenticate:
/// Bearer`, before rmcp sees the request; the principal of the others rides in the request's
/// extensions, which rmcp hands to the handler (`McpServer::principal`).
/// The tenant an MCP request acts for: its principal's, or the `X-Tenant-ID` header its
/// client sends with every request of the session (`Auth::tenant_for`).
#[derive(Debug, Clone, Default)]
pub(crate) struct ActingTenant(pub(crate) Option<String>);

async fn authenticate(
    axum::extract::State(auth): axum::extract::State<Arc<crate::auth::Auth>>,
    mut request: axum::extract::Request,
    next: axum::middleware::Next,
) -> axum::response::Response {
    use axum::response::IntoResponse;
    let addr = request
        .extensions()
        .get::<super::http::conn::ClientAddr>()
        .map(|a| a.0);
    let credential = crate::auth::credential(request.headers());
    if matches!(credential, crate::auth::Credential::None) && !auth.is_required() {
        let p = flowgate::Principal::anonymous(addr);
        return match auth
            .tenant_from_headers(&p, request.headers())
            .map(ActingTenant)
        {
            Ok(tenant) => {
                request.extensions_mut().insert(tenant);
                request.extensions_mut().insert(p);
                next.run(request).await
            }
            Err(e) => super::errors::ApiError(e).into_response(),
        };
    }
    // A refusal is logged (and answered) with the request's id: the one it sent when it is a
    // valid one, else a new one.
    let request_id = request
        .headers()
        .get("x-request-id")
        .and_then(|v| v.to_str().ok())
        .filter(|v| !v.is_empty() && v.len() <= 128 && v.bytes().all(|b| b.is_ascii_graphic()))
        .map(str::to_string)
        .unwrap_or_else(flowgate::context::new_request_id);
    let span = tracing::info_span!("mcp_http", request_id = %request_id);
    let result = auth.authenticate(credential, addr).instrument(span).await;
    let refused = match result {
        Ok(p) if p.is_anonymous() && auth.is_required() => crate::auth::credential_required(),
        Ok(p) => match auth
            .tenant_from_headers(&p, request.headers())
            .map(ActingTenant)
        {
            Ok(tenant) => {
                request.extensions_mut().insert(tenant);
                request.extensions_mut().insert(p);
                return next.run(request).await;
            }
            Err(e) => e,
        },
        Err(e) => e,
    };
    let mut resp = super::errors::ApiError(refused).into_response();
    if let Ok(v) = axum::http::HeaderValue::from_str(&request_id) {
        resp.headers_mut().insert("x-request-id", v);
    }
    resp
}
