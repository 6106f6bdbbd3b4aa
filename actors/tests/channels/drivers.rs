//! The five channels, each turning one step (table, operation, params; or a workflow and its
//! inputs) into its own kind of request and its answer back into a result or an error object. Each also checks what only it
//! can get wrong: REST and `/nodes` the HTTP status of the error code, MCP `isError` and the
//! text copy of the structured content, the CLI its exit code and where it prints.

use super::scenarios::model_of;
use flowgate::OpKind;
use reqwest::{Client, Method, Url};
use rmcp::model::{CallToolRequestParams, CallToolResult};
use rmcp::service::RunningService;
use rmcp::transport::StreamableHttpClientTransport;
use rmcp::{RoleClient, ServiceExt};
use serde_json::{Map, Value};
use std::path::{Path, PathBuf};
use std::time::Duration;
use tokio::process::Command;

/// The longest one request or one CLI run may take before the suite fails.
pub(crate) const WAIT: Duration = Duration::from_secs(60);

/// What one step gave on one channel: the result, or the error object (`{code, message, ...}`).
/// `problem` says what the channel got wrong beside it (a status that does not fit the code).
#[derive(Debug)]
pub(crate) struct Answer {
    pub(crate) result: Result<Value, Value>,
    pub(crate) problem: Option<String>,
}

impl Answer {
    fn ok(v: Value) -> Answer {
        Answer {
            result: Ok(v),
            problem: None,
        }
    }

    /// A failure of the channel itself (no answer in the contract's shape).
    fn broken(what: impl Into<String>) -> Answer {
        let what = what.into();
        Answer {
            result: Err(serde_json::json!({"code": "channel_broken", "message": what.clone()})),
            problem: Some(what),
        }
    }
}

/// The HTTP status of an error code (DESIGN section 5).
fn status_of(code: &str) -> Option<u16> {
    Some(match code {
        "validation" => 400,
        "not_found" => 404,
        "conflict" => 409,
        "forbidden" | "tenant_required" => 403,
        "unauthorized" => 401,
        "rate_limited" => 429,
        "not_ready" | "unavailable" => 503,
        "internal" => 500,
        _ => return None,
    })
}

/// The CLI's exit code of an error code (README, "The command line").
fn exit_code_of(code: &str) -> i32 {
    match code {
        "validation" => 3,
        "not_found" => 4,
        "conflict" => 5,
        "not_ready" | "unavailable" => 6,
        "unauthorized" | "forbidden" | "tenant_required" => 7,
        "rate_limited" => 8,
        _ => 1,
    }
}

/// The channels.
pub(crate) enum Channel {
    /// The model routes of DESIGN section 6 (`POST /api/{table}`, `GET /api/{table}/{id}`, ...).
    Rest(Http),
    /// `POST /nodes/{Model}{Op}Node`.
    Nodes(Http),
    /// MCP `tools/call` of `<table>_<op>` over streamable HTTP, with rmcp's client.
    Mcp(RunningService<RoleClient, ()>),
    /// The `flowgate` binary: `flowgate <table> <op> --data JSON --json`, locally or with
    /// `--server`.
    Cli(Cli),
}

impl Channel {
    /// Runs one step.
    pub(crate) async fn call(&self, table: &str, op: OpKind, params: &Value) -> Answer {
        let run = async {
            match self {
                Channel::Rest(h) => h.rest(table, op, params).await,
                Channel::Nodes(h) => h.node(table, op, params).await,
                Channel::Mcp(s) => mcp(s, table, op, params).await,
                Channel::Cli(c) => c.run(table, op, params).await,
            }
        };
        match tokio::time::timeout(WAIT, run).await {
            Ok(answer) => answer,
            Err(_) => Answer::broken(format!("no answer within {WAIT:?}")),
        }
    }

    /// Runs a workflow synchronously with these inputs.
    pub(crate) async fn run(&self, workflow: &str, inputs: &Value) -> Answer {
        let run = async {
            match self {
                Channel::Rest(h) | Channel::Nodes(h) => h.execute(workflow, inputs).await,
                Channel::Mcp(s) => mcp_tool(s, workflow, inputs).await,
                Channel::Cli(c) => c.run_workflow(workflow, inputs).await,
            }
        };
        match tokio::time::timeout(WAIT, run).await {
            Ok(answer) => answer,
            Err(_) => Answer::broken(format!("no answer within {WAIT:?}")),
        }
    }

    /// Ends the MCP session.
    pub(crate) async fn close(self) {
        if let Channel::Mcp(s) = self {
            let _ = s.cancel().await;
        }
    }
}

/// An HTTP client for one server.
pub(crate) struct Http {
    base: Url,
    client: Client,
    token: Option<String>,
    tenant: Option<String>,
}

impl Http {
    pub(crate) fn new(addr: std::net::SocketAddr) -> Http {
        Http {
            base: Url::parse(&format!("http://{addr}/")).expect("base URL"),
            client: Client::builder()
                .no_proxy()
                .timeout(WAIT)
                .build()
                .expect("http client"),
            token: None,
            tenant: None,
        }
    }

    /// The same client sending `X-Tenant-ID: <tenant>`.
    pub(crate) fn with_tenant(mut self, tenant: &str) -> Http {
        self.tenant = Some(tenant.to_string());
        self
    }

    /// The same client sending `Authorization: Bearer <token>`.
    pub(crate) fn with_token(mut self, token: &str) -> Http {
        self.token = Some(token.to_string());
        self
    }

    /// `GET` of a path with query parameters: the body, or the error object (with a status
    /// that does not fit the error's code as the problem).
    pub(crate) async fn get(&self, segments: &[&str], query: &[(&str, &str)]) -> Answer {
        let req = self.client.get(self.url(segments)).query(query);
        self.send(req, 200).await
    }

    /// A URL of path segments (each percent-encoded, as an id may need).
    fn url(&self, segments: &[&str]) -> Url {
        let mut url = self.base.clone();
        url.path_segments_mut()
            .expect("a base URL")
            .clear()
            .extend(segments);
        url
    }

    async fn send(&self, req: reqwest::RequestBuilder, success: u16) -> Answer {
        let req = match &self.token {
            Some(t) => req.bearer_auth(t),
            None => req,
        };
        let req = match &self.tenant {
            Some(t) => req.header("x-tenant-id", t),
            None => req,
        };
        let resp = match req.send().await {
            Ok(r) => r,
            Err(e) => return Answer::broken(format!("request failed: {e}")),
        };
        let status = resp.status();
        let text = resp.text().await.unwrap_or_default();
        let Ok(body) = serde_json::from_str::<Value>(&text) else {
            return Answer::broken(format!("{status} without a JSON body: {text}"));
        };
        if status.is_success() {
            let problem = (status.as_u16() != success)
                .then(|| format!("status {status}, expected {success}"));
            return Answer {
                result: Ok(body),
                problem,
            };
        }
        let Some(err) = body.get("error").filter(|e| e.is_object()).cloned() else {
            return Answer::broken(format!("{status} without an error object: {body}"));
        };
        let code = err["code"].as_str().unwrap_or_default();
        let expected = status_of(code);
        let problem = (expected != Some(status.as_u16()))
            .then(|| format!("status {status} for error code {code:?} (expected {expected:?})"));
        Answer {
            result: Err(err),
            problem,
        }
    }

    /// `POST /workflows/{name}/execute` with `{"inputs": ..., "mode": "sync"}`.
    async fn execute(&self, workflow: &str, inputs: &Value) -> Answer {
        let body = serde_json::json!({"inputs": inputs, "mode": "sync"});
        let req = self
            .client
            .post(self.url(&["workflows", workflow, "execute"]))
            .json(&body);
        self.send(req, 200).await
    }

    /// `POST /nodes/{Model}{Op}Node` with the params as the body.
    async fn node(&self, table: &str, op: OpKind, params: &Value) -> Answer {
        let node = op.node_name(model_of(table));
        let req = self.client.post(self.url(&["nodes", &node])).json(params);
        let success = if op == OpKind::Create { 201 } else { 200 };
        self.send(req, success).await
    }

    /// The model route of the operation.
    async fn rest(&self, table: &str, op: OpKind, params: &Value) -> Answer {
        let c = &self.client;
        let obj = params.as_object().cloned().unwrap_or_default();
        let (req, success) = match op {
            OpKind::Create => (c.post(self.url(&["api", table])).json(params), 201),
            OpKind::Upsert => (c.put(self.url(&["api", table])).json(params), 200),
            OpKind::BulkCreate => (c.post(self.url(&["api", table, "bulk"])).json(params), 200),
            OpKind::BulkUpdate => (c.patch(self.url(&["api", table, "bulk"])).json(params), 200),
            OpKind::BulkUpsert => (c.put(self.url(&["api", table, "bulk"])).json(params), 200),
            OpKind::BulkDelete => (
                c.post(self.url(&["api", table, "bulk-delete"]))
                    .json(params),
                200,
            ),
            OpKind::List => (
                c.get(self.url(&["api", table]))
                    .query(&query(table, op, obj)),
                200,
            ),
            OpKind::Count => (
                c.get(self.url(&["api", table, "count"]))
                    .query(&query(table, op, obj)),
                200,
            ),
            OpKind::Read => {
                let (id, rest) = split_id(table, op, obj);
                let url = self.url(&["api", table, &id]);
                (c.get(url).query(&query(table, op, rest)), 200)
            }
            OpKind::Update => {
                // The body is the fields; no body, no fields.
                let (id, mut rest) = split_id(table, op, obj);
                let fields = rest.remove("fields");
                let wrapped = fields
                    .as_ref()
                    .and_then(Value::as_object)
                    .is_some_and(|f| f.len() == 1 && f.get("fields").is_some_and(Value::is_object));
                assert!(
                    rest.is_empty() && !wrapped,
                    "{table} update: REST takes `id` and `fields` only: {params}"
                );
                let req = c.request(Method::PATCH, self.url(&["api", table, &id]));
                match fields {
                    Some(f) => (req.json(&f), 200),
                    None => (req, 200),
                }
            }
            OpKind::Delete => {
                let (id, rest) = split_id(table, op, obj);
                assert!(
                    rest.is_empty(),
                    "{table} delete: REST takes only the id: {params}"
                );
                (c.delete(self.url(&["api", table, &id])), 200)
            }
        };
        self.send(req, success).await
    }
}

/// The id of a read, update or delete as its path segment, and the other params.
fn split_id(table: &str, op: OpKind, mut obj: Map<String, Value>) -> (String, Map<String, Value>) {
    let id = match obj.remove("id") {
        Some(Value::String(s)) => s,
        Some(v @ (Value::Number(_) | Value::Bool(_))) => v.to_string(),
        other => panic!(
            "{table} {}: a REST path needs an id (text, number or boolean), got {other:?}",
            op.as_str()
        ),
    };
    (id, obj)
}

/// Params as a query string: text as is, numbers and booleans as their JSON text, filters as
/// JSON text, lists of names joined with commas.
fn query(table: &str, op: OpKind, obj: Map<String, Value>) -> Vec<(String, String)> {
    obj.into_iter()
        .map(|(k, v)| {
            let text = match &v {
                Value::String(s) => s.clone(),
                Value::Number(_) | Value::Bool(_) => v.to_string(),
                Value::Object(_) if k == "filter" => v.to_string(),
                Value::Array(items) if items.iter().all(Value::is_string) => items
                    .iter()
                    .filter_map(Value::as_str)
                    .collect::<Vec<_>>()
                    .join(","),
                _ => panic!(
                    "{table} {}: `{k}` = {v} has no query-string form",
                    op.as_str()
                ),
            };
            (k, text)
        })
        .collect()
}

/// An MCP session with the server at `addr`.
pub(crate) async fn mcp_session(addr: std::net::SocketAddr) -> RunningService<RoleClient, ()> {
    mcp_session_as(addr, None).await.expect("MCP initialize")
}

/// An MCP session with the server at `addr`, sending `Authorization: Bearer <token>` with every
/// request when there is one; the error when initialize fails (a refused credential).
pub(crate) async fn mcp_session_as(
    addr: std::net::SocketAddr,
    token: Option<&str>,
) -> Result<RunningService<RoleClient, ()>, String> {
    mcp_session_for(addr, token, None).await
}

/// [`mcp_session_as`], also sending `X-Tenant-ID: <tenant>` with every request when given.
pub(crate) async fn mcp_session_for(
    addr: std::net::SocketAddr,
    token: Option<&str>,
    tenant: Option<&str>,
) -> Result<RunningService<RoleClient, ()>, String> {
    use rmcp::transport::streamable_http_client::StreamableHttpClientTransportConfig;
    let mut config = StreamableHttpClientTransportConfig::with_uri(format!("http://{addr}/mcp"));
    if let Some(t) = token {
        config = config.auth_header(t);
    }
    if let Some(t) = tenant {
        config.custom_headers.insert(
            reqwest::header::HeaderName::from_static("x-tenant-id"),
            reqwest::header::HeaderValue::from_str(t).expect("a header value"),
        );
    }
    let transport = StreamableHttpClientTransport::from_config(config);
    tokio::time::timeout(WAIT, ().serve(transport))
        .await
        .map_err(|_| format!("no MCP initialize answer within {WAIT:?}"))?
        .map_err(|e| e.to_string())
}

/// `tools/call` of `<table>_<op>`.
async fn mcp(
    s: &RunningService<RoleClient, ()>,
    table: &str,
    op: OpKind,
    params: &Value,
) -> Answer {
    mcp_tool(s, &format!("{table}_{}", op.as_str()), params).await
}

/// `tools/call` of a tool by name: a model operation's, or a workflow's (named after it).
pub(crate) async fn mcp_tool(
    s: &RunningService<RoleClient, ()>,
    tool: &str,
    params: &Value,
) -> Answer {
    let Value::Object(args) = params.clone() else {
        panic!("params are an object: {params}");
    };
    let tool = tool.to_string();
    let r: CallToolResult = match s
        .call_tool(CallToolRequestParams::new(tool.clone()).with_arguments(args))
        .await
    {
        Ok(r) => r,
        Err(e) => return Answer::broken(format!("{tool}: JSON-RPC error: {e}")),
    };
    let Some(value) = r.structured_content.clone() else {
        return Answer::broken(format!("{tool}: no structuredContent: {r:?}"));
    };
    let copy = r
        .content
        .first()
        .and_then(|c| c.as_text())
        .and_then(|t| serde_json::from_str::<Value>(&t.text).ok());
    let mut problem = (copy.as_ref() != Some(&value))
        .then(|| format!("{tool}: the text copy is not the structured content: {copy:?}"));
    let result = if r.is_error == Some(true) {
        match value.get("error").filter(|e| e.is_object()) {
            Some(e) => Err(e.clone()),
            None => {
                return Answer::broken(format!(
                    "{tool}: a tool error without an error object: {value}"
                ));
            }
        }
    } else {
        if r.is_error.is_none() {
            problem.get_or_insert_with(|| format!("{tool}: isError is absent"));
        }
        Ok(value)
    };
    Answer { result, problem }
}

/// The `flowgate` binary in local mode (`--database-url` and `--models`) or remote mode
/// (`--server`).
pub(crate) struct Cli {
    dir: PathBuf,
    args: Vec<String>,
}

impl Cli {
    pub(crate) fn local(dir: &Path, url: &str, models: &Path, discover: &Path) -> Cli {
        Cli {
            dir: dir.to_path_buf(),
            args: vec![
                "--database-url".into(),
                url.into(),
                "--models".into(),
                models.display().to_string(),
                "--discover".into(),
                discover.display().to_string(),
            ],
        }
    }

    pub(crate) fn remote(dir: &Path, addr: std::net::SocketAddr) -> Cli {
        Cli {
            dir: dir.to_path_buf(),
            args: vec!["--server".into(), format!("http://{addr}")],
        }
    }

    /// Remote mode with `--token` when there is one.
    pub(crate) fn remote_as(dir: &Path, addr: std::net::SocketAddr, token: Option<&str>) -> Cli {
        let mut cli = Cli::remote(dir, addr);
        if let Some(t) = token {
            cli.args.extend(["--token".to_string(), t.to_string()]);
        }
        cli
    }

    /// The same command line with more options (`--tenant acme`).
    pub(crate) fn with_args(mut self, args: &[&str]) -> Cli {
        self.args.extend(args.iter().map(|a| a.to_string()));
        self
    }

    /// `flowgate <table> <op> --data JSON --json`.
    async fn run(&self, table: &str, op: OpKind, params: &Value) -> Answer {
        let words = vec![
            table.to_string(),
            op.as_str().replace('_', "-"),
            "--data".into(),
            params.to_string(),
        ];
        self.flowgate(words).await
    }

    /// `flowgate run NAME --param KEY=VALUE ... --json`: a value is written as JSON, except
    /// text that does not read as JSON, which is written as it is (`--param title=Dune`; the
    /// text `1984` is `--param title="1984"`).
    async fn run_workflow(&self, workflow: &str, inputs: &Value) -> Answer {
        let mut words = vec!["run".to_string(), workflow.to_string()];
        for (k, v) in inputs.as_object().into_iter().flatten() {
            let text = match v {
                Value::String(s) if serde_json::from_str::<Value>(s).is_err() => s.clone(),
                other => other.to_string(),
            };
            words.push("--param".into());
            words.push(format!("{k}={text}"));
        }
        self.flowgate(words).await
    }

    /// Any command: `flowgate <words> --json` with the mode's options.
    pub(crate) async fn command(&self, words: &[&str]) -> Answer {
        self.flowgate(words.iter().map(|w| w.to_string()).collect())
            .await
    }

    /// The binary with `words`, `--json` and the mode's options, in a clean environment (no
    /// `DATABASE_URL`, `FLOWGATE_*` or proxies from outside); its result or error object.
    async fn flowgate(&self, words: Vec<String>) -> Answer {
        let mut cmd = Command::new(env!("CARGO_BIN_EXE_flowgate"));
        cmd.current_dir(&self.dir)
            .env("RUST_LOG", "warn")
            .stdin(std::process::Stdio::null())
            .kill_on_drop(true)
            .args(&words)
            .arg("--json")
            .args(&self.args);
        for (name, _) in std::env::vars() {
            let lower = name.to_ascii_lowercase();
            if name.starts_with("FLOWGATE_") || name == "DATABASE_URL" || lower.ends_with("_proxy")
            {
                cmd.env_remove(name);
            }
        }
        let out = match cmd.output().await {
            Ok(o) => o,
            Err(e) => return Answer::broken(format!("cannot run flowgate: {e}")),
        };
        let code = out.status.code().unwrap_or(-1);
        let stdout = String::from_utf8_lossy(&out.stdout);
        let stderr = String::from_utf8_lossy(&out.stderr);
        if code == 0 {
            return match serde_json::from_str(&stdout) {
                Ok(v) => Answer::ok(v),
                Err(e) => Answer::broken(format!("exit 0, stdout is not JSON ({e}): {stdout}")),
            };
        }
        let last = stderr.lines().last().unwrap_or_default();
        let err = serde_json::from_str::<Value>(last)
            .ok()
            .and_then(|v| v.get("error").filter(|e| e.is_object()).cloned());
        let Some(err) = err else {
            return Answer::broken(format!(
                "exit {code} without an error object on stderr:\n{stderr}"
            ));
        };
        let expected = exit_code_of(err["code"].as_str().unwrap_or_default());
        let problem = (expected != code).then(|| {
            format!(
                "exit code {code} for error code {} (expected {expected})",
                err["code"]
            )
        });
        Answer {
            result: Err(err),
            problem,
        }
    }
}
