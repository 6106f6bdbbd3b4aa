//! Workflows served by the runtime, end to end over real sockets: `discover` directories (a good
//! file served, bad ones failed on the board with the reason), the HTTP routes (synchronous and
//! asynchronous runs, errors naming the node, transactions rolled back), runs and workflows that
//! outlive a restart, registration at run time reaching REST, MCP (a real rmcp session, with
//! `list_changed`) and OpenAPI at once, name clashes refused, and a workflow that is not ready.
//!
//! The database-dependent scenarios run on SQLite, PostgreSQL and MySQL through `conformance!`.
//! No timing assertions: whatever takes time is polled in bounded loops that fail after [`WAIT`].
#![allow(missing_docs)]

mod common;

use common::{Backend, http_client as client, mcp_session, server_builder as builder};
use flowgate::workflow::{self, InputType, Workflow, WorkflowBuilder};
use flowgate::{FieldDef, ModelDef};
use flowgate_actors::{Feature, Handle, State, Supervisor};
use reqwest::{Client, Method, StatusCode};
use rmcp::model::{CallToolRequestParams, ReadResourceRequestParams};
use serde_json::{Value, json};
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

/// The longest any poll or request waits before the test fails.
const WAIT: Duration = Duration::from_secs(20);

fn user() -> ModelDef {
    ModelDef::new("User")
        .field(
            FieldDef::string("email")
                .max_length(254)
                .unique()
                .description("Login address"),
        )
        .field(FieldDef::string("name").max_length(120).optional())
}

fn note() -> ModelDef {
    ModelDef::new("Note")
        .field(FieldDef::string("body").max_length(20))
        .field(FieldDef::integer("user_id").references("User").optional())
}

fn models() -> Vec<ModelDef> {
    vec![user(), note()]
}

const SCHEMA_FILE: &str = r#"
[models.User]
fields.email = { type = "string", max_length = 254, unique = true, description = "Login address" }
fields.name  = { type = "string", max_length = 120, optional = true }
"#;

/// The seed's `create_user` workflow file, `{"email": "{{email}}"}`, as it is.
fn seed_file() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/workflows/create_user.json")
}

fn create_user() -> Workflow {
    workflow::load(&seed_file()).expect("the seed's create_user")
}

/// A user and their first note, in one transaction.
fn signup() -> Workflow {
    WorkflowBuilder::new("signup")
        .description("A user and their first note, in one transaction")
        .transactional(true)
        .input("email", InputType::String)
        .input("note", InputType::String)
        .add_node("UserCreateNode", "user", json!({"email": "${email}"}))
        .add_node("NoteCreateNode", "note", json!({"body": "${note}"}))
        .connect("user", "id", "note", "user_id")
        .build()
        .expect("signup builds")
}

fn count_users() -> Workflow {
    WorkflowBuilder::new("count_users")
        .no_inputs()
        .add_node("UserCountNode", "n", json!({}))
        .build()
        .expect("count_users builds")
}

fn init_logs() {
    let _ = tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_default_env().unwrap_or_else(|_| "warn".into()),
        )
        .with_test_writer()
        .try_init();
}

/// An HTTP answer.
#[derive(Debug)]
struct Resp {
    status: StatusCode,
    headers: reqwest::header::HeaderMap,
    body: Value,
}

impl Resp {
    #[track_caller]
    fn expect(self, status: u16) -> Value {
        assert_eq!(self.status.as_u16(), status, "{:#}", self.body);
        self.body
    }

    /// Asserts the status and the error code; gives the error object.
    #[track_caller]
    fn error(self, status: u16, code: &str) -> Value {
        assert_eq!(self.status.as_u16(), status, "{:#}", self.body);
        assert_eq!(self.body["error"]["code"], code, "{:#}", self.body);
        self.body["error"].clone()
    }

    fn header(&self, name: &str) -> Option<&str> {
        self.headers.get(name).and_then(|v| v.to_str().ok())
    }
}

/// A server and an HTTP client for it.
struct Server {
    handle: Handle,
    base: String,
    http: Client,
}

impl Server {
    /// Starts `builder`, without waiting for readiness.
    async fn start(builder: Supervisor) -> Server {
        init_logs();
        let handle = builder.start().await.expect("start");
        let base = format!("http://{}", handle.http_addr());
        Server {
            handle,
            base,
            http: client(),
        }
    }

    /// Starts `builder` and waits until it is ready.
    async fn ready(builder: Supervisor) -> Server {
        let s = Server::start(builder).await;
        assert!(
            s.handle.wait_ready(WAIT).await,
            "not ready: {:#}",
            s.handle.board().to_json()
        );
        s
    }

    async fn send(&self, method: Method, path: &str, body: Option<Value>) -> Resp {
        let mut req = self.http.request(method, format!("{}{path}", self.base));
        if let Some(b) = body {
            req = req.json(&b);
        }
        let resp = req.send().await.expect("request");
        let status = resp.status();
        let headers = resp.headers().clone();
        let text = resp.text().await.expect("body");
        let body = serde_json::from_str(&text).unwrap_or(Value::String(text));
        Resp {
            status,
            headers,
            body,
        }
    }

    async fn get(&self, path: &str) -> Resp {
        self.send(Method::GET, path, None).await
    }

    async fn post(&self, path: &str, body: Value) -> Resp {
        self.send(Method::POST, path, Some(body)).await
    }

    /// `POST /workflows/{name}/execute`, synchronously.
    async fn execute(&self, name: &str, inputs: Value) -> Resp {
        self.post(
            &format!("/workflows/{name}/execute"),
            json!({"inputs": inputs, "mode": "sync"}),
        )
        .await
    }

    /// Polls a run until it has finished; gives its record.
    async fn finished_run(&self, location: &str) -> Value {
        let deadline = Instant::now() + WAIT;
        loop {
            let run = self.get(location).await.expect(200);
            if run["status"] == "completed" || run["status"] == "failed" {
                return run;
            }
            assert!(Instant::now() < deadline, "the run never finished: {run:#}");
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }

    /// The number of users with this email, through REST.
    async fn users_with(&self, email: &str) -> i64 {
        let filter = json!({"email": email}).to_string();
        let resp = self
            .http
            .get(format!("{}/api/users/count", self.base))
            .query(&[("filter", filter)])
            .send()
            .await
            .expect("count");
        assert!(resp.status().is_success());
        let body: Value = resp.json().await.expect("JSON");
        body["count"].as_i64().expect("a count")
    }

    async fn stop(self) {
        tokio::time::timeout(WAIT, self.handle.shutdown())
            .await
            .expect("shutdown within the wait");
    }
}

/// A fresh directory for files.
fn temp_dir(prefix: &str) -> PathBuf {
    let dir = std::env::temp_dir()
        .join("flowgate-tests")
        .join(common::unique_name(prefix));
    std::fs::create_dir_all(&dir).expect("temp dir");
    dir
}

/// The names of the served workflows (`GET /workflows`).
async fn served_names(s: &Server) -> Vec<String> {
    let list = s.get("/workflows").await.expect(200);
    list["workflows"]
        .as_array()
        .expect("a list")
        .iter()
        .map(|w| w["name"].as_str().expect("a name").to_string())
        .collect()
}

// ---------------------------------------------------------------------------------------------
// Discover directories

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn discover_serves_good_files_and_fails_bad_ones_alone() {
    let dir = temp_dir("discover");
    std::fs::write(dir.join("models.toml"), SCHEMA_FILE).unwrap();
    std::fs::copy(seed_file(), dir.join("create_user.json")).unwrap();
    std::fs::write(
        dir.join("broken.yaml"),
        "name: broken\nnodes:\n  - {id: a, type: UserFrobNode}\n",
    )
    .unwrap();
    std::fs::write(
        dir.join("ghost.toml"),
        "name = \"ghost\"\n[[nodes]]\nid = \"g\"\ntype = \"GhostCreateNode\"\n",
    )
    .unwrap();
    let twice = r#"{"name": "twice", "nodes": [{"id": "n", "type": "UserCountNode"}]}"#;
    std::fs::write(dir.join("twice.json"), twice).unwrap();
    std::fs::write(dir.join("twice_again.json"), twice).unwrap();
    std::fs::write(dir.join("README.md"), "not a workflow").unwrap();
    std::fs::write(dir.join(".hidden.json"), "{").unwrap();

    let url = common::fresh_shared_url(Backend::Sqlite).await.unwrap();
    let s = Server::start(
        builder(&url)
            .set("discover", json!([dir.display().to_string()]))
            .set("ready_wait_ms", WAIT.as_millis() as u64),
    )
    .await;
    // The first request comes before the directory is read: it waits for the workflow.
    let first = s
        .execute("create_user", json!({"email": "ada@example.com"}))
        .await
        .expect(200);
    assert_eq!(first["status"], "completed");
    assert_eq!(first["results"]["create_user"]["email"], "ada@example.com");

    let board = s.handle.board();
    assert_eq!(
        board.wait_settled(&Feature::Workflows, WAIT).await,
        Some(State::Ready),
        "{:#}",
        board.to_json()
    );
    let features = board.to_json()["features"].clone();
    assert_eq!(features["discover"]["state"], "ready", "{features:#}");
    assert_eq!(features["model:User"]["state"], "ready", "{features:#}");
    assert_eq!(features["workflow:create_user"]["state"], "ready");
    let reason = |name: &str| {
        let f = &features[format!("workflow:{name}")];
        assert_eq!(f["state"], "failed", "{name}: {features:#}");
        f["reason"].as_str().unwrap().to_string()
    };
    let broken = reason("broken");
    assert!(
        broken.contains("broken.yaml") && broken.contains("nodes.a.type"),
        "{broken}"
    );
    assert!(broken.contains("UserFrobNode"), "{broken}");
    let ghost = reason("ghost");
    assert!(
        ghost.contains("nodes.g.type") && ghost.contains("Ghost"),
        "{ghost}"
    );
    let twice = reason("twice");
    assert!(
        twice.contains("declared more than once")
            && twice.contains("twice.json")
            && twice.contains("twice_again.json"),
        "{twice}"
    );
    assert_eq!(
        features
            .as_object()
            .unwrap()
            .keys()
            .filter(|k| k.starts_with("workflow:"))
            .count(),
        4,
        "README.md and hidden files are left alone: {features:#}"
    );
    // Failed workflows are required features: the server says it is not ready, and why.
    let ready = s.get("/health/ready").await;
    assert_eq!(ready.status, StatusCode::SERVICE_UNAVAILABLE);

    // Only the good one is served; the models of the directory are served too.
    assert_eq!(served_names(&s).await, ["create_user"]);
    s.post("/api/users", json!({"email": "bob@example.com"}))
        .await
        .expect(201);

    // The seed's file is served verbatim: its canonical form, the input schema from the field
    // its `{{email}}` feeds, and the order.
    let described = s.get("/workflows/create_user").await.expect(200);
    assert_eq!(
        described,
        json!({
            "name": "create_user",
            "transactional": false,
            "nodes": [{"id": "create_user", "type": "UserCreateNode", "params": {"email": "{{email}}"}}],
            "connections": [],
            "input_schema": {
                "type": "object",
                "properties": {"email": {"type": "string", "maxLength": 254, "description": "Login address"}},
                "required": ["email"],
                "additionalProperties": false,
            },
            "order": ["create_user"],
        })
    );

    // A failed workflow answers 503 with its reason; an unknown one 404.
    let resp = s.execute("broken", json!({})).await;
    assert_eq!(resp.header("retry-after"), Some("5"));
    let err = resp.error(503, "not_ready");
    assert_eq!(err["details"]["what"], "workflow:broken");
    assert!(
        err["details"]["state"]
            .as_str()
            .unwrap()
            .starts_with("failed: "),
        "{err}"
    );
    s.get("/workflows/ghost").await.error(503, "not_ready");
    let err = s.execute("nope", json!({})).await.error(404, "not_found");
    assert_eq!(err["details"], json!({"model": "workflow", "id": "nope"}));
    s.get("/workflows/nope").await.error(404, "not_found");
    s.stop().await;
    let _ = std::fs::remove_dir_all(&dir);
}

/// A schema file in a `discover` directory that does not read fails the `discover` feature;
/// the rest serves.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_bad_schema_file_in_discover_fails_discover_only() {
    let dir = temp_dir("discover_bad_models");
    std::fs::write(
        dir.join("models.toml"),
        "[models.Thing]\nfields.size = { type = \"huge\" }\n",
    )
    .unwrap();
    std::fs::write(
        dir.join("count_users.yaml"),
        "name: count_users\nnodes:\n  - {id: n, type: UserCountNode}\n",
    )
    .unwrap();
    let url = common::fresh_url(Backend::Sqlite).await.unwrap();
    // A workflow file given to the builder is read by `start`, which fails when it does not read.
    std::fs::write(dir.join("bad.wf"), "name: x").unwrap();
    let refused = builder(&url)
        .models([user()])
        .workflow_file(dir.join("bad.wf"))
        .start()
        .await;
    match refused {
        Err(e) => assert!(e.to_string().contains("bad.wf"), "{e}"),
        Ok(_) => panic!("a workflow file that does not read must stop the start"),
    }
    let s = Server::start(
        builder(&url)
            .models([user()])
            .workflow_file(seed_file())
            .set("discover", json!([dir.display().to_string()])),
    )
    .await;
    let board = s.handle.board();
    assert_eq!(
        board.wait_settled(&Feature::Workflows, WAIT).await,
        Some(State::Ready)
    );
    match board.state(&Feature::Discover) {
        Some(State::Failed(reason)) => {
            assert!(
                reason.contains("models.toml") && reason.contains("huge"),
                "{reason}"
            )
        }
        other => panic!("discover: {other:?}"),
    }
    assert_eq!(
        board.state(&Feature::workflow("count_users")),
        Some(State::Ready)
    );
    assert_eq!(
        board.state(&Feature::workflow("create_user")),
        Some(State::Ready)
    );
    let out = s.execute("count_users", json!({})).await.expect(200);
    assert_eq!(out["results"]["n"], json!({"count": 0}));
    s.stop().await;
    let _ = std::fs::remove_dir_all(&dir);
}

// ---------------------------------------------------------------------------------------------
// Runs over HTTP

async fn sync_and_async_runs(b: Backend) {
    let Some(url) = common::fresh_shared_url(b).await else {
        return;
    };
    let s = Server::ready(
        builder(&url)
            .models(models())
            .workflow(create_user())
            .workflow(signup()),
    )
    .await;

    // A synchronous run.
    let out = s
        .execute("create_user", json!({"email": "ada@example.com"}))
        .await
        .expect(200);
    assert_eq!(out["workflow"], "create_user");
    assert_eq!(out["status"], "completed");
    assert_eq!(out["skipped"], json!([]));
    let ada = out["results"]["create_user"].clone();
    assert_eq!(ada["email"], "ada@example.com");
    let read = s
        .get(&format!("/api/users/{}", ada["id"]))
        .await
        .expect(200);
    assert_eq!(read, ada);

    // A node that fails: the status of its code, the error object naming the node and the run.
    let err = s
        .execute("create_user", json!({"email": "ada@example.com"}))
        .await
        .error(409, "conflict");
    assert_eq!(err["field"], "nodes.create_user.params.email");
    assert_eq!(err["details"]["node"], "create_user");
    assert_eq!(err["details"]["workflow"], "create_user");
    assert_eq!(err["details"]["rolled_back"], false);
    assert!(err["details"]["run_id"].is_string(), "{err}");
    assert!(
        err["message"]
            .as_str()
            .unwrap()
            .starts_with("node `create_user` failed: "),
        "{err}"
    );

    // Bad inputs and bad bodies: 400 naming the input or the key; nothing runs.
    let err = s
        .execute("create_user", json!({}))
        .await
        .error(400, "validation");
    assert_eq!(err["field"], "inputs.email");
    let err = s
        .execute("create_user", json!({"email": "x@example.com", "age": 3}))
        .await
        .error(400, "validation");
    assert_eq!(err["field"], "inputs.age");
    let path = "/workflows/create_user/execute";
    let err = s
        .post(
            path,
            json!({"inputs": {"email": "y@example.com"}, "mod": "sync"}),
        )
        .await
        .error(400, "validation");
    assert_eq!(err["field"], "mod");
    let err = s
        .post(
            path,
            json!({"inputs": {"email": "y@example.com"}, "mode": "later"}),
        )
        .await
        .error(400, "validation");
    assert_eq!(err["field"], "mode");
    s.post(path, json!([1, 2])).await.error(400, "validation");
    assert_eq!(s.users_with("x@example.com").await, 0);
    assert_eq!(s.users_with("y@example.com").await, 0);

    // An asynchronous run: 202, its id and where to read it, at once.
    let resp = s
        .post(
            path,
            json!({"inputs": {"email": "bob@example.com"}, "mode": "async"}),
        )
        .await;
    let location = resp.header("location").expect("Location").to_string();
    let accepted = resp.expect(202);
    let run_id = accepted["run_id"].as_str().expect("a run id").to_string();
    assert_eq!(
        accepted,
        json!({"run_id": run_id, "workflow": "create_user", "status": "pending"})
    );
    assert_eq!(location, format!("/workflows/create_user/runs/{run_id}"));
    let run = s.finished_run(&location).await;
    assert_eq!(run["status"], "completed", "{run:#}");
    assert_eq!(run["inputs"], json!({"email": "bob@example.com"}));
    assert_eq!(
        run["results"]["create_user"]["email"], "bob@example.com",
        "{run:#}"
    );
    assert_eq!(run["error"], Value::Null);
    assert_eq!(s.users_with("bob@example.com").await, 1);

    // An asynchronous run that fails keeps its error, naming the node.
    let failing = s
        .post(
            path,
            json!({"inputs": {"email": "bob@example.com"}, "mode": "async"}),
        )
        .await
        .expect(202);
    let failed_at = format!(
        "/workflows/create_user/runs/{}",
        failing["run_id"].as_str().unwrap()
    );
    let run = s.finished_run(&failed_at).await;
    assert_eq!(run["status"], "failed", "{run:#}");
    assert_eq!(run["error"]["code"], "conflict");
    assert_eq!(run["error"]["details"]["node"], "create_user");
    // Bad inputs are refused before anything is stored.
    let err = s
        .post(path, json!({"inputs": {}, "mode": "async"}))
        .await
        .error(400, "validation");
    assert_eq!(err["field"], "inputs.email");
    // A run is read under its own workflow only.
    s.get(&format!("/workflows/signup/runs/{run_id}"))
        .await
        .error(404, "not_found");
    let err = s
        .get("/workflows/create_user/runs/no-such-run")
        .await
        .error(404, "not_found");
    assert_eq!(err["details"], json!({"model": "run", "id": "no-such-run"}));

    // A transactional run that fails at its second node: rolled back, the first write too.
    let err = s
        .execute(
            "signup",
            json!({"email": "carol@example.com", "note": "x".repeat(21)}),
        )
        .await
        .error(400, "validation");
    assert_eq!(err["field"], "nodes.note.params.body");
    assert_eq!(err["details"]["node"], "note");
    assert_eq!(err["details"]["rolled_back"], true);
    assert_eq!(s.users_with("carol@example.com").await, 0);
    // And one that commits: the note belongs to the user.
    let out = s
        .execute(
            "signup",
            json!({"email": "carol@example.com", "note": "hello"}),
        )
        .await
        .expect(200);
    assert_eq!(
        out["results"]["note"]["user_id"],
        out["results"]["user"]["id"]
    );
    assert_eq!(s.users_with("carol@example.com").await, 1);
    s.stop().await;
}

/// An asynchronous run's record, and the workflows registered, outlive the server: a new server
/// on the same database reads the run and serves the workflows without declaring them.
async fn runs_and_workflows_outlive_a_restart(b: Backend) {
    let Some(url) = common::fresh_shared_url(b).await else {
        return;
    };
    let first = Server::ready(builder(&url).models(models()).workflow(create_user())).await;
    assert!(
        first
            .handle
            .register_workflow(count_users())
            .await
            .expect("register count_users"),
        "new"
    );
    let accepted = first
        .post(
            "/workflows/create_user/execute",
            json!({"inputs": {"email": "ada@example.com"}, "mode": "async"}),
        )
        .await
        .expect(202);
    let location = format!(
        "/workflows/create_user/runs/{}",
        accepted["run_id"].as_str().unwrap()
    );
    let before = first.finished_run(&location).await;
    assert_eq!(before["status"], "completed", "{before:#}");
    first.stop().await;

    // No workflow declared here: both come from flowgate_workflows.
    let second = Server::ready(builder(&url).models(models())).await;
    assert_eq!(served_names(&second).await, ["count_users", "create_user"]);
    let after = second.get(&location).await.expect(200);
    assert_eq!(after, before);
    let out = second.execute("count_users", json!({})).await.expect(200);
    assert_eq!(out["results"]["n"], json!({"count": 1}));
    second.stop().await;
}

conformance!(sync_and_async_runs, runs_and_workflows_outlive_a_restart);

// ---------------------------------------------------------------------------------------------
// Registration at run time, on every channel

/// A result with its run id masked.
fn masked(mut v: Value) -> Value {
    if v.get("run_id").is_some() {
        v["run_id"] = json!("<run_id>");
    }
    v
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn registered_at_run_time_on_every_channel() {
    let url = common::fresh_shared_url(Backend::Sqlite).await.unwrap();
    let s = Server::ready(builder(&url).models(models())).await;
    let (mcp, mut changes) = mcp_session(&s.handle).await;
    let tools = mcp.list_all_tools().await.expect("tools/list");
    assert!(!tools.iter().any(|t| t.name == "signup"));
    let doc = s.get("/openapi.json").await.expect(200);
    assert!(doc["paths"]["/workflows/signup/execute"].is_null());

    assert!(
        s.handle
            .register_workflow(signup())
            .await
            .expect("register")
    );
    changes.wait("tools", WAIT).await;

    // MCP: a tool named after it, its input schema from the declared inputs.
    let tools = mcp.list_all_tools().await.expect("tools/list");
    let tool = tools
        .iter()
        .find(|t| t.name == "signup")
        .expect("the signup tool");
    assert_eq!(
        serde_json::to_value(&*tool.input_schema).unwrap(),
        json!({
            "type": "object",
            "properties": {"email": {"type": "string"}, "note": {"type": "string"}},
            "required": ["email", "note"],
            "additionalProperties": false,
        })
    );
    let hints = tool.annotations.as_ref().expect("annotations");
    assert_eq!(hints.read_only_hint, Some(false));
    assert_eq!(hints.destructive_hint, Some(false));
    let description = tool.description.as_deref().unwrap_or_default();
    assert!(description.contains("signup"), "{description}");

    let r = mcp
        .call_tool(
            CallToolRequestParams::new("signup").with_arguments(
                json!({"email": "ada@example.com", "note": "hi"})
                    .as_object()
                    .unwrap()
                    .clone(),
            ),
        )
        .await
        .expect("tools/call");
    assert_eq!(r.is_error, Some(false), "{r:?}");
    let by_mcp = r.structured_content.clone().expect("structured content");
    // REST gives the same answer, the same error.
    let by_rest = s
        .execute("signup", json!({"email": "bob@example.com", "note": "hi"}))
        .await
        .expect(200);
    let strip = |mut v: Value| {
        for node in ["user", "note"] {
            for key in ["id", "created_at", "updated_at", "email", "user_id"] {
                v["results"][node][key] = json!("<varies>");
            }
        }
        masked(v)
    };
    assert_eq!(strip(by_mcp.clone()), strip(by_rest));
    let r = mcp
        .call_tool(
            CallToolRequestParams::new("signup").with_arguments(
                json!({"email": "ada@example.com", "note": "again"})
                    .as_object()
                    .unwrap()
                    .clone(),
            ),
        )
        .await
        .expect("tools/call");
    assert_eq!(r.is_error, Some(true), "{r:?}");
    let mcp_error = r.structured_content.clone().unwrap()["error"].clone();
    let rest_error = s
        .execute(
            "signup",
            json!({"email": "ada@example.com", "note": "again"}),
        )
        .await
        .error(409, "conflict");
    let unrun = |mut e: Value| {
        e["details"]["run_id"] = json!("<run_id>");
        e
    };
    assert_eq!(unrun(mcp_error.clone()), unrun(rest_error));
    assert_eq!(mcp_error["details"]["node"], "user");
    // An unknown tool stays a protocol error.
    let missing = mcp
        .call_tool(CallToolRequestParams::new("no_such_workflow"))
        .await;
    assert!(missing.is_err(), "{missing:?}");

    // The resource lists it.
    let resource = mcp
        .read_resource(ReadResourceRequestParams::new("flowgate://workflows"))
        .await
        .expect("resources/read");
    let contents = serde_json::to_value(&resource.contents[0]).unwrap();
    let listed: Value = serde_json::from_str(contents["text"].as_str().unwrap()).unwrap();
    assert_eq!(listed, s.get("/workflows").await.expect(200));
    assert_eq!(listed["workflows"][0]["name"], "signup");

    // OpenAPI has its execute path, the body carrying the input schema.
    let doc = s.get("/openapi.json").await.expect(200);
    let op = &doc["paths"]["/workflows/signup/execute"]["post"];
    assert_eq!(
        op["requestBody"]["content"]["application/json"]["schema"]["properties"]["inputs"],
        serde_json::to_value(&*tool.input_schema).unwrap()
    );
    assert_eq!(op["operationId"], "workflow.signup.execute");

    // `POST /workflows` with a YAML file: 201, then 200 when it replaces it.
    let yaml = "name: count_users\nnodes:\n  - {id: n, type: UserCountNode}\n";
    let post_yaml = |text: &'static str| {
        s.http
            .post(format!("{}/workflows", s.base))
            .header("content-type", "application/yaml")
            .body(text)
            .send()
    };
    let resp = post_yaml(yaml).await.expect("POST /workflows");
    assert_eq!(resp.status(), StatusCode::CREATED);
    let described: Value = resp.json().await.unwrap();
    assert_eq!(described["name"], "count_users");
    changes.wait("tools", WAIT).await;
    let resp = post_yaml(yaml).await.expect("POST /workflows");
    assert_eq!(resp.status(), StatusCode::OK);
    let out = s.execute("count_users", json!({})).await.expect(200);
    assert_eq!(out["results"]["n"], json!({"count": 2}));
    // A file that does not build names the key.
    let err = s
        .post(
            "/workflows",
            json!({"name": "w", "nodes": [{"id": "a", "type": "UserFrobNode"}]}),
        )
        .await
        .error(400, "validation");
    assert_eq!(err["field"], "nodes.a.type");

    // Names cannot collide: a workflow named like a model's tool is refused, and a model whose
    // tools would take a workflow's name too; nothing changes.
    let clash = WorkflowBuilder::new("users_count")
        .add_node("UserCountNode", "n", json!({}))
        .build()
        .unwrap();
    let e = s.handle.register_workflow(clash).await.unwrap_err();
    assert_eq!(e.code(), "conflict", "{e}");
    assert!(e.to_string().contains("MCP tool"), "{e}");
    s.get("/workflows/users_count")
        .await
        .error(404, "not_found");
    let tallies = WorkflowBuilder::new("tallies_count")
        .add_node("UserCountNode", "n", json!({}))
        .build()
        .unwrap();
    s.handle.register_workflow(tallies).await.expect("register");
    let e = s
        .handle
        .register_model(
            ModelDef::new("Tally")
                .table("tallies")
                .field(FieldDef::integer("n")),
        )
        .await
        .unwrap_err();
    assert_eq!(e.code(), "conflict", "{e}");
    assert!(e.to_string().contains("tallies_count"), "{e}");
    s.get("/api/tallies").await.error(404, "not_found");
    // A workflow its models refuse is refused with the check's error, naming the param.
    let bad = WorkflowBuilder::new("bad_fields")
        .add_node(
            "UserCreateNode",
            "u",
            json!({"email": "a@b.c", "colour": "red"}),
        )
        .build()
        .unwrap();
    let e = s.handle.register_workflow(bad).await.unwrap_err();
    assert_eq!(e.field(), Some("nodes.u.params.colour"), "{e}");
    s.get("/workflows/bad_fields").await.error(404, "not_found");

    let _ = mcp.cancel().await;
    s.stop().await;
}

// ---------------------------------------------------------------------------------------------
// Not ready

/// The database cannot be reached, so nothing comes up: a run waits `ready_wait_ms` for its
/// workflow, then answers 503 with its state and `Retry-After`.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_workflow_that_is_not_ready_answers_503_after_the_wait() {
    let dir = temp_dir("fgt-missing");
    let url = format!("sqlite://{}", dir.join("no/such/dir/x.db").display());
    let s = Server::start(
        builder(&url)
            .set("ready_wait_ms", 50)
            .models(models())
            .workflow(create_user()),
    )
    .await;
    let resp = s.execute("create_user", json!({"email": "a@b.c"})).await;
    assert_eq!(resp.header("retry-after"), Some("1"));
    let err = resp.error(503, "not_ready");
    assert_eq!(err["details"]["what"], "workflow:create_user");
    assert_eq!(err["details"]["state"], "pending");
    // A name that is not declared waits for the workflows to load.
    let err = s.execute("other", json!({})).await.error(503, "not_ready");
    assert_eq!(err["details"]["what"], "workflows");
    s.get("/workflows/create_user/runs/x")
        .await
        .error(503, "not_ready");
    assert_eq!(
        s.get("/workflows").await.expect(200),
        json!({"workflows": []})
    );
    s.stop().await;
}
