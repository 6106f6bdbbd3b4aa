//! MCP end to end: a real rmcp client over streamable HTTP against servers started with
//! `Supervisor` on SQLite, PostgreSQL and MySQL. The handshake, the tool list (names, schemas,
//! annotations), every one of the eleven operations as a tool call with the result the REST API
//! gives for the same params, tool errors with the REST error object, resources, and
//! `notifications/tools/list_changed` after a model is registered at run time.
//!
//! No timing assertions: whatever takes time is awaited within [`WAIT`].
#![allow(missing_docs)]

mod common;

use common::models::{author, book};
use common::{Backend, Changes, Listener, mcp_session as connect, server_builder as builder};
use flowgate::{FieldDef, ModelDef, OpKind, Schema};
use flowgate_actors::Handle;
use reqwest::{Method, StatusCode};
use rmcp::model::{CallToolRequestParams, CallToolResult, ReadResourceRequestParams, Tool};
use rmcp::service::RunningService;
use rmcp::{RoleClient, ServiceError};
use serde_json::{Map, Value, json};
use std::collections::BTreeSet;
use std::time::Duration;

/// The longest any wait lasts before the test fails.
const WAIT: Duration = Duration::from_secs(10);

fn review() -> ModelDef {
    ModelDef::new("Review")
        .field(FieldDef::text("body"))
        .field(FieldDef::integer("stars"))
}

fn models() -> Vec<ModelDef> {
    vec![
        author(),
        book().description("A book in the catalog. It may have an author."),
    ]
}

/// A running server, an HTTP client for its REST API, and an MCP session with it.
struct Env {
    handle: Handle,
    base: String,
    http: reqwest::Client,
    mcp: RunningService<RoleClient, Listener>,
    changes: Changes,
}

impl Env {
    /// A server on a fresh database of the backend, ready, with an MCP session; None when the
    /// backend is not configured.
    async fn start(b: Backend) -> Option<Env> {
        let _ = tracing_subscriber::fmt()
            .with_env_filter(
                tracing_subscriber::EnvFilter::try_from_default_env()
                    .unwrap_or_else(|_| "warn".into()),
            )
            .with_test_writer()
            .try_init();
        let url = common::fresh_shared_url(b).await?;
        let handle = builder(&url).models(models()).start().await.expect("start");
        assert!(
            handle.wait_ready(WAIT).await,
            "not ready: {:#}",
            handle.board().to_json()
        );
        let (mcp, changes) = connect(&handle).await;
        let base = format!("http://{}", handle.http_addr());
        let http = reqwest::Client::builder()
            .no_proxy()
            .timeout(Duration::from_secs(30))
            .build()
            .expect("http client");
        Some(Env {
            handle,
            base,
            http,
            mcp,
            changes,
        })
    }

    /// A tool call; a JSON-RPC error fails the test.
    async fn call(&self, tool: &str, args: Value) -> CallToolResult {
        let Value::Object(args) = args else {
            panic!("arguments are an object: {args}")
        };
        self.mcp
            .call_tool(CallToolRequestParams::new(tool.to_string()).with_arguments(args))
            .await
            .unwrap_or_else(|e| panic!("{tool}: {e}"))
    }

    /// A tool call that succeeds: its structured content, checked against its text copy.
    async fn ok(&self, tool: &str, args: Value) -> Value {
        let r = self.call(tool, args).await;
        assert_eq!(r.is_error, Some(false), "{tool}: {r:?}");
        let value = structured(&r);
        assert!(value.is_object(), "{tool}: {value}");
        value
    }

    /// A tool call that fails as an operation: its error object, checked for `code`.
    async fn tool_error(&self, tool: &str, args: Value, code: &str) -> Value {
        let r = self.call(tool, args).await;
        assert_eq!(r.is_error, Some(true), "{tool}: {r:?}");
        let value = structured(&r);
        let err = value["error"].clone();
        assert_eq!(err["code"], code, "{tool}: {value}");
        assert!(
            err["message"].as_str().is_some_and(|m| !m.is_empty()),
            "{value}"
        );
        err
    }

    /// A REST request: the status and the JSON body.
    async fn rest(&self, method: Method, path: &str, body: Option<Value>) -> (StatusCode, Value) {
        let mut req = self.http.request(method, format!("{}{path}", self.base));
        if let Some(b) = body {
            req = req.json(&b);
        }
        let resp = req.send().await.expect("request");
        let status = resp.status();
        (status, resp.json().await.expect("a JSON body"))
    }

    /// A REST request that succeeds (2xx).
    async fn rest_ok(&self, method: Method, path: &str, body: Option<Value>) -> Value {
        let (status, body) = self.rest(method, path, body).await;
        assert!(status.is_success(), "{path}: {status} {body:#}");
        body
    }

    /// `GET path?query` on the REST API; values are URL-encoded.
    async fn rest_query(&self, path: &str, query: &[(&str, String)]) -> Value {
        let resp = self
            .http
            .get(format!("{}{path}", self.base))
            .query(query)
            .send()
            .await
            .expect("request");
        assert!(resp.status().is_success(), "{path}: {}", resp.status());
        resp.json().await.expect("a JSON body")
    }

    /// A JSON resource, parsed.
    async fn resource(&self, uri: &str) -> Value {
        let r = self
            .mcp
            .read_resource(ReadResourceRequestParams::new(uri))
            .await
            .unwrap_or_else(|e| panic!("{uri}: {e}"));
        let json = serde_json::to_value(&r.contents[0]).expect("contents");
        assert_eq!(json["mimeType"], "application/json", "{json}");
        serde_json::from_str(json["text"].as_str().expect("text")).expect("JSON")
    }

    async fn tools(&self) -> Vec<Tool> {
        self.mcp.list_all_tools().await.expect("tools/list")
    }

    /// Waits for a list-changed notification of `kind` ("tools" or "resources").
    async fn changed(&mut self, kind: &str) {
        self.changes.wait(kind, WAIT).await;
    }

    /// Closes the session and shuts the server down, within the wait.
    async fn stop(self) {
        let _ = self.mcp.cancel().await;
        tokio::time::timeout(Duration::from_secs(60), self.handle.shutdown())
            .await
            .expect("shutdown within the wait");
    }
}

/// The structured content of a tool result, which its text copy repeats.
fn structured(r: &CallToolResult) -> Value {
    let value = r.structured_content.clone().expect("structuredContent");
    let text = r
        .content
        .first()
        .and_then(|c| c.as_text())
        .map(|t| t.text.clone())
        .expect("a text copy");
    let copy: Value = serde_json::from_str(&text).expect("the text copy is JSON");
    assert_eq!(copy, value, "the text copy is the structured content");
    value
}

fn records(v: &Value) -> &Vec<Value> {
    v["records"]
        .as_array()
        .unwrap_or_else(|| panic!("records: {v}"))
}

fn ops_of(tools: &[Tool], table: &str) -> BTreeSet<String> {
    tools
        .iter()
        .filter_map(|t| {
            t.name
                .strip_prefix(&format!("{table}_"))
                .map(str::to_string)
        })
        .collect()
}

async fn tools_describe_every_operation(b: Backend) {
    let Some(env) = Env::start(b).await else {
        return;
    };
    let info = env.mcp.peer_info().expect("server info");
    assert_eq!(
        info.server_info.as_ref().map(|i| i.name.as_str()),
        Some("flowgate")
    );
    let caps = &info.capabilities;
    assert_eq!(
        caps.tools.as_ref().and_then(|t| t.list_changed),
        Some(true),
        "{caps:?}"
    );
    assert_eq!(
        caps.resources.as_ref().and_then(|r| r.list_changed),
        Some(true),
        "{caps:?}"
    );

    // Every operation of both models, and the audit trail's tool.
    let tools = env.tools().await;
    assert_eq!(
        tools.len(),
        23,
        "{:?}",
        tools.iter().map(|t| &t.name).collect::<Vec<_>>()
    );
    let all: BTreeSet<String> = OpKind::ALL.iter().map(|k| k.as_str().to_string()).collect();
    assert_eq!(ops_of(&tools, "books"), all);
    assert_eq!(ops_of(&tools, "authors"), all);

    // The filter grammar is said once, in the instructions; filter params refer to it.
    let instructions = info.instructions.clone().unwrap_or_default();
    for op in flowgate::json_schema::OPERATORS {
        assert!(instructions.contains(op), "{op} in {instructions}");
    }

    let schema = Schema::new(models()).expect("models");
    let book = schema.get("Book").expect("Book");
    for op in OpKind::ALL {
        let name = format!("books_{}", op.as_str());
        let tool = tools.iter().find(|t| t.name == name).expect(&name);
        // The input schema is the operation's params schema, leaner: the filter described
        // briefly, no `include_deleted` (Book has no soft delete), and none of what only
        // validators read.
        let mut expected = flowgate::json_schema::params_schema(book, op);
        if let Some(filter) = expected.pointer_mut("/properties/filter") {
            let note = tool.input_schema["properties"]["filter"]["description"].clone();
            assert!(
                note.as_str()
                    .is_some_and(|n| n.contains("server instructions")),
                "{name}: {note}"
            );
            filter["description"] = note;
        }
        if let Some(props) = expected["properties"].as_object_mut() {
            props.shift_remove("include_deleted");
            // Book's one relation is `author`, a belongs-to: `expand` names it, and
            // `expand_limit` (for has-many relations) is left out.
            if let Some(expand) = props.get_mut("expand") {
                *expand = json!({
                    "type": "array",
                    "items": {"enum": ["author"]},
                    "description": "relations to include: a belongs-to as its record, a has-many as a list",
                });
            }
            props.shift_remove("expand_limit");
        }
        if expected["required"] == json!([]) {
            expected.as_object_mut().unwrap().shift_remove("required");
        }
        without_validator_keywords(&mut expected);
        assert_eq!(
            Value::Object(tool.input_schema.as_ref().clone()),
            expected,
            "{name}"
        );
        assert!(tool.output_schema.is_none(), "{name}: no output schema");
        let description = tool.description.as_deref().unwrap_or_default();
        assert!(description.contains("Book"), "{name}: {description}");
        // The model's description, its first sentence, on the tools an agent starts from.
        let described = matches!(op, OpKind::List | OpKind::Create);
        assert_eq!(
            description.contains("A book in the catalog."),
            described,
            "{name}: {description}"
        );
        assert!(
            !description.contains("It may have an author"),
            "only its first sentence: {description}"
        );
        // Only the hints that differ from MCP's defaults (not read-only, destructive).
        let a = tool.annotations.as_ref().expect("annotations");
        assert_eq!(
            a.read_only_hint,
            op.is_read_only().then_some(true),
            "{name}"
        );
        let destructive = match op {
            OpKind::Read | OpKind::List | OpKind::Count => None,
            OpKind::Create => Some(false),
            _ => Some(true),
        };
        assert_eq!(a.destructive_hint, destructive, "{name}");
    }
    let books: Vec<&Tool> = tools
        .iter()
        .filter(|t| t.name.starts_with("books_"))
        .collect();
    insta::assert_json_snapshot!("mcp_tools_books", books);
    env.stop().await;
}

/// Removes what only validators and code generators read from a params schema, as the tool
/// schemas do: `additionalProperties: false` and the `int64` and `double` formats.
fn without_validator_keywords(v: &mut Value) {
    match v {
        Value::Object(m) => {
            if m.get("additionalProperties") == Some(&json!(false)) {
                m.shift_remove("additionalProperties");
            }
            if m.get("format") == Some(&json!("int64")) || m.get("format") == Some(&json!("double"))
            {
                m.shift_remove("format");
            }
            m.values_mut().for_each(without_validator_keywords);
        }
        Value::Array(items) => items.iter_mut().for_each(without_validator_keywords),
        _ => {}
    }
}

async fn every_operation_matches_rest(b: Backend) {
    let Some(env) = Env::start(b).await else {
        return;
    };
    // Create, then the REST read of the record is the tool's result.
    let a = env
        .ok(
            "books_create",
            json!({"title": "A", "isbn": "I-A", "pages": 100}),
        )
        .await;
    let id = a["id"].clone();
    let path = |id: &Value| {
        format!(
            "/api/books/{}",
            id.as_str().map_or(id.to_string(), str::to_string)
        )
    };
    assert_eq!(a, env.rest_ok(Method::GET, &path(&id), None).await);
    env.ok(
        "books_create",
        json!({"title": "B", "isbn": "I-B", "pages": 250}),
    )
    .await;
    env.ok(
        "books_create",
        json!({"title": "C", "isbn": "I-C", "pages": 300}),
    )
    .await;

    // Read.
    assert_eq!(
        env.ok("books_read", json!({"id": id})).await,
        env.rest_ok(Method::GET, &path(&id), None).await
    );

    // Update: the result is the stored record.
    let updated = env
        .ok("books_update", json!({"id": id, "fields": {"pages": 111}}))
        .await;
    assert_eq!(updated["pages"], 111);
    assert_eq!(updated, env.rest_ok(Method::GET, &path(&id), None).await);

    // List and count: the same params give the same JSON.
    let filter = json!({"pages": {"$gte": 200}});
    let listed = env
        .ok(
            "books_list",
            json!({"filter": filter, "order_by": "-pages", "count": true, "limit": 1}),
        )
        .await;
    let by_rest = env
        .rest_query(
            "/api/books",
            &[
                ("filter", filter.to_string()),
                ("order_by", "-pages".into()),
                ("count", "true".into()),
                ("limit", "1".into()),
            ],
        )
        .await;
    assert_eq!(listed, by_rest);
    assert_eq!(listed["count"], 2);
    assert_eq!(records(&listed)[0]["title"], "C");
    let next = env
        .ok(
            "books_list",
            json!({"filter": filter, "order_by": "-pages", "limit": 1, "cursor": listed["next_cursor"]}),
        )
        .await;
    assert_eq!(records(&next)[0]["title"], "B", "{next}");
    let counted = env.ok("books_count", json!({"filter": filter})).await;
    assert_eq!(counted, json!({"count": 2}));
    assert_eq!(
        counted,
        env.rest_query("/api/books/count", &[("filter", filter.to_string())])
            .await
    );

    // Upsert: created by the tool, then the same params through REST update it.
    let up = json!({"where": {"isbn": "I-D"}, "create": {"title": "D"}, "update": {"pages": 5}});
    let created = env.ok("books_upsert", up.clone()).await;
    assert_eq!(created["action"], "created", "{created}");
    let d_id = created["record"]["id"].clone();
    assert_eq!(
        created["record"],
        env.rest_ok(Method::GET, &path(&d_id), None).await
    );
    let again = env
        .rest_ok(Method::PUT, "/api/books", Some(up.clone()))
        .await;
    assert_eq!(again["action"], "updated");
    let third = env.ok("books_upsert", up).await;
    assert_eq!(third["action"], "updated");
    assert_eq!(third["record"]["id"], d_id);
    assert_eq!(third["record"]["pages"], 5);

    // Bulk writes: a dry run through both channels reports the same, then the tool writes.
    let data = json!({"data": [{"title": "E", "isbn": "I-E"}, {"title": "F", "isbn": "I-F"}]});
    let mut dry = data.clone();
    dry["dry_run"] = json!(true);
    let mcp_dry = env.ok("books_bulk_create", dry.clone()).await;
    let rest_dry = env
        .rest_ok(Method::POST, "/api/books/bulk", Some(dry))
        .await;
    assert_eq!(
        (&mcp_dry["inserted"], &mcp_dry["dry_run"]),
        (&rest_dry["inserted"], &rest_dry["dry_run"]),
        "{mcp_dry} {rest_dry}"
    );
    let bulk = env.ok("books_bulk_create", data).await;
    assert_eq!(bulk["inserted"], 2, "{bulk}");
    assert_eq!(bulk["errors"], json!([]));
    let ids = bulk["ids"].as_array().expect("ids").clone();
    assert_eq!(ids.len(), 2);
    let e = env.rest_ok(Method::GET, &path(&ids[0]), None).await;
    assert_eq!(e["title"], "E");

    let change =
        json!({"filter": {"title": {"$in": ["E", "F"]}}, "fields": {"pages": 7}, "dry_run": true});
    assert_eq!(
        env.ok("books_bulk_update", change.clone()).await,
        env.rest_ok(Method::PATCH, "/api/books/bulk", Some(change.clone()))
            .await
    );
    let mut change = change;
    change["dry_run"] = json!(false);
    let changed = env.ok("books_bulk_update", change).await;
    assert_eq!(changed["updated"], 2, "{changed}");
    assert_eq!(
        env.rest_ok(Method::GET, &path(&ids[1]), None).await["pages"],
        7
    );

    let upsert = json!({
        "data": [{"title": "E2", "isbn": "I-E"}, {"title": "G", "isbn": "I-G"}],
        "conflict_on": ["isbn"],
        "dry_run": true,
    });
    assert_eq!(
        env.ok("books_bulk_upsert", upsert.clone()).await,
        env.rest_ok(Method::PUT, "/api/books/bulk", Some(upsert.clone()))
            .await
    );
    let mut upsert = upsert;
    upsert["dry_run"] = json!(false);
    let upserted = env.ok("books_bulk_upsert", upsert).await;
    assert_eq!(
        (&upserted["inserted"], &upserted["updated"]),
        (&json!(1), &json!(1)),
        "{upserted}"
    );
    assert_eq!(
        env.rest_ok(Method::GET, &path(&ids[0]), None).await["title"],
        "E2"
    );

    let remove = json!({"filter": {"isbn": {"$in": ["I-E", "I-F", "I-G"]}}, "dry_run": true});
    assert_eq!(
        env.ok("books_bulk_delete", remove.clone()).await,
        env.rest_ok(Method::POST, "/api/books/bulk-delete", Some(remove.clone()))
            .await
    );
    let mut remove = remove;
    remove["dry_run"] = json!(false);
    assert_eq!(
        env.ok("books_bulk_delete", remove).await,
        json!({"deleted": 3})
    );

    // Delete: the tool and REST answer alike, and the record is gone for both.
    let deleted = env.ok("books_delete", json!({"id": d_id})).await;
    assert_eq!(deleted["deleted"], true, "{deleted}");
    let c_id = records(&next)[0]["id"].clone();
    let mut by_rest = env.rest_ok(Method::DELETE, &path(&c_id), None).await;
    by_rest["id"] = deleted["id"].clone();
    assert_eq!(deleted, by_rest);
    let (status, _) = env.rest(Method::GET, &path(&d_id), None).await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    env.stop().await;
}

async fn tool_errors_carry_the_rest_error(b: Backend) {
    let Some(env) = Env::start(b).await else {
        return;
    };
    // Validation, naming the field.
    let err = env
        .tool_error("books_create", json!({"title": 5}), "validation")
        .await;
    assert_eq!(err["field"], "title", "{err}");
    let (status, body) = env
        .rest(Method::POST, "/api/books", Some(json!({"title": 5})))
        .await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    assert_eq!(err, body["error"]);
    let err = env
        .tool_error("books_list", json!({"filter": {"nope": 1}}), "validation")
        .await;
    assert!(
        err["field"].as_str().is_some_and(|f| f.contains("nope")),
        "{err}"
    );

    // Not found.
    let err = env
        .tool_error("books_read", json!({"id": "999999"}), "not_found")
        .await;
    let (status, body) = env.rest(Method::GET, "/api/books/999999", None).await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    assert_eq!(err, body["error"]);

    // Conflict on a unique field.
    env.ok("authors_create", json!({"name": "Ann"})).await;
    let err = env
        .tool_error("authors_create", json!({"name": "Ann"}), "conflict")
        .await;
    let (status, body) = env
        .rest(Method::POST, "/api/authors", Some(json!({"name": "Ann"})))
        .await;
    assert_eq!(status, StatusCode::CONFLICT);
    assert_eq!(err, body["error"]);

    // An unknown tool is protocol misuse: a JSON-RPC error, not a tool result.
    for name in ["nothing_read", "books_fly", "books"] {
        let e = env
            .mcp
            .call_tool(CallToolRequestParams::new(name).with_arguments(Map::new()))
            .await
            .expect_err(name);
        match e {
            ServiceError::McpError(data) => {
                assert_eq!(data.code.0, -32602, "{name}: {data:?}");
                assert!(data.message.contains(name), "{data:?}");
            }
            other => panic!("{name}: {other:?}"),
        }
    }
    env.stop().await;
}

async fn resources_describe_models_and_readiness(b: Backend) {
    let Some(env) = Env::start(b).await else {
        return;
    };
    let listed = env.mcp.list_all_resources().await.expect("resources/list");
    let uris: BTreeSet<&str> = listed.iter().map(|r| r.uri.as_str()).collect();
    assert_eq!(
        uris,
        BTreeSet::from([
            "flowgate://models/Author",
            "flowgate://models/Book",
            "flowgate://readiness",
            "flowgate://workflows"
        ])
    );
    assert_eq!(
        env.resource("flowgate://workflows").await,
        json!({"workflows": []})
    );
    let schema = Schema::new(models()).expect("models");
    let book = schema.get("Book").expect("Book");
    let resource = env.resource("flowgate://models/Book").await;
    assert_eq!(resource["name"], "Book");
    assert_eq!(resource["table"], "books");
    assert_eq!(
        resource["record_schema"],
        flowgate::json_schema::record_schema(book)
    );
    assert_eq!(
        resource["create_schema"],
        flowgate::json_schema::create_schema(book)
    );
    assert_eq!(
        resource["definition"],
        flowgate::model::to_json(std::slice::from_ref(&book.def))
    );
    let board = env.resource("flowgate://readiness").await;
    assert_eq!(board["ready"], true, "{board}");
    assert_eq!(board["features"]["mcp"]["state"], "ready", "{board}");
    assert_eq!(board["features"]["model:Book"]["state"], "ready", "{board}");

    let missing = env
        .mcp
        .read_resource(ReadResourceRequestParams::new("flowgate://models/Nope"))
        .await;
    assert!(
        matches!(missing, Err(ServiceError::McpError(_))),
        "{missing:?}"
    );
    env.stop().await;
}

async fn list_changed_after_register_model(b: Backend) {
    let Some(mut env) = Env::start(b).await else {
        return;
    };
    assert!(ops_of(&env.tools().await, "reviews").is_empty());
    // Tool calls are answered outside the session's worker; the session still hears of changes.
    env.ok("authors_create", json!({"name": "Before the change"}))
        .await;
    env.handle
        .register_model(review())
        .await
        .expect("register Review");
    env.changed("tools").await;
    env.changed("resources").await;
    let tools = env.tools().await;
    assert_eq!(ops_of(&tools, "reviews").len(), 11);
    assert_eq!(tools.len(), 34, "33 operations and audit_list");
    // Review has neither soft delete nor a unique field: no params that could not matter.
    for tool in tools.iter().filter(|t| t.name.starts_with("reviews_")) {
        let props = tool.input_schema["properties"]
            .as_object()
            .expect("properties");
        assert!(!props.contains_key("include_deleted"), "{}", tool.name);
        assert!(!props.contains_key("conflict_on"), "{}", tool.name);
    }
    let r = env
        .ok("reviews_create", json!({"body": "Good", "stars": 5}))
        .await;
    assert_eq!(r["stars"], 5);
    let uris: Vec<String> = env
        .mcp
        .list_all_resources()
        .await
        .expect("resources/list")
        .into_iter()
        .map(|r| r.uri)
        .collect();
    assert!(
        uris.contains(&"flowgate://models/Review".to_string()),
        "{uris:?}"
    );
    env.stop().await;
}

conformance!(
    tools_describe_every_operation,
    every_operation_matches_rest,
    tool_errors_carry_the_rest_error,
    resources_describe_models_and_readiness,
    list_changed_after_register_model,
);

/// A model that is not ready is not listed, and a call to it is a `not_ready` tool error
/// (the database here cannot be reached, so nothing becomes ready).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn models_not_ready_are_unlisted_and_calls_answer_not_ready() {
    let dir = std::env::temp_dir().join(common::unique_name("fgt-missing"));
    let url = format!("sqlite://{}", dir.join("no/such/dir/x.db").display());
    let handle = builder(&url)
        .set("ready_wait_ms", 50)
        .models(models())
        .start()
        .await
        .expect("start");
    let (mcp, _changes) = connect(&handle).await;
    let tools = mcp.list_all_tools().await.expect("tools/list");
    assert!(tools.is_empty(), "{tools:?}");
    let r = mcp
        .call_tool(
            CallToolRequestParams::new("books_read")
                .with_arguments(json!({"id": 1}).as_object().cloned().unwrap_or_default()),
        )
        .await
        .expect("a tool result");
    assert_eq!(r.is_error, Some(true), "{r:?}");
    let err = &structured(&r)["error"];
    assert_eq!(err["code"], "not_ready", "{err}");
    // The model waits for the database, and the error says so (and what is wrong with it).
    assert_eq!(err["details"]["what"], "database", "{err}");
    let _ = mcp.cancel().await;
    tokio::time::timeout(Duration::from_secs(60), handle.shutdown())
        .await
        .expect("shutdown within the wait");
}

/// A session that lists once, right after `initialize`, while the declared models are still
/// migrating, gets every one of them (the list waits on the board like a call, within
/// `ready_wait_ms`), and so does `resources/list`.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn lists_right_after_initialize_wait_for_declared_models() {
    let url = common::fresh_shared_url(Backend::Sqlite)
        .await
        .expect("sqlite");
    let many: Vec<ModelDef> = (0..30)
        .map(|i| {
            ModelDef::new(format!("Item{i}"))
                .field(FieldDef::string("name").max_length(80).unique())
                .field(FieldDef::integer("size").optional().indexed())
                .field(FieldDef::text("note").optional())
        })
        .collect();
    let handle = builder(&url)
        // A bound on a hang on a loaded machine, not a measure of speed.
        .set("ready_wait_ms", 30_000)
        .models(many)
        .start()
        .await
        .expect("start");
    let (mcp, _changes) = connect(&handle).await;
    let tools = mcp.list_all_tools().await.expect("tools/list");
    assert_eq!(tools.len(), 30 * 11 + 1, "{:#}", handle.board().to_json());
    let resources = mcp.list_all_resources().await.expect("resources/list");
    let models = resources
        .iter()
        .filter(|r| r.uri.starts_with("flowgate://models/"))
        .count();
    assert_eq!(models, 30, "{resources:?}");
    let _ = mcp.cancel().await;
    tokio::time::timeout(Duration::from_secs(60), handle.shutdown())
        .await
        .expect("shutdown within the wait");
}

/// A raw `tools/call` posted in a session: rmcp's checks of the session still come first, and
/// the answer is one JSON body (not an event stream) with the REST result, the tool error or
/// the JSON-RPC error; other requests still go through the session.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn tool_calls_in_a_session_answer_json() {
    let url = common::fresh_shared_url(Backend::Sqlite)
        .await
        .expect("sqlite");
    let handle = builder(&url).models(models()).start().await.expect("start");
    assert!(handle.wait_ready(WAIT).await, "ready");
    let http = reqwest::Client::builder()
        .no_proxy()
        .timeout(Duration::from_secs(30))
        .build()
        .expect("client");
    let mcp = format!("http://{}/mcp", handle.mcp_addr());
    let post = |session: Option<&str>, body: Value| {
        let mut req = http
            .post(&mcp)
            .header("accept", "application/json, text/event-stream")
            .header("mcp-protocol-version", "2025-11-25")
            .json(&body);
        if let Some(s) = session {
            req = req.header("mcp-session-id", s);
        }
        req.send()
    };
    let call = |id: u64, name: &str, arguments: Value| {
        json!({"jsonrpc": "2.0", "id": id, "method": "tools/call",
               "params": {"name": name, "arguments": arguments}})
    };
    let content_type = |r: &reqwest::Response| {
        r.headers()
            .get("content-type")
            .and_then(|v| v.to_str().ok())
            .unwrap_or_default()
            .to_string()
    };

    // No session, or one the server does not know: refused before any tool runs.
    let args = json!({"name": "Nobody"});
    let r = post(None, call(1, "authors_create", args.clone()))
        .await
        .expect("post");
    assert_eq!(r.status(), StatusCode::BAD_REQUEST);
    let r = post(Some("no-such-session"), call(1, "authors_create", args))
        .await
        .expect("post");
    assert_eq!(r.status(), StatusCode::NOT_FOUND);

    let init = post(
        None,
        json!({"jsonrpc": "2.0", "id": 0, "method": "initialize",
               "params": {"protocolVersion": "2025-11-25", "capabilities": {},
                          "clientInfo": {"name": "raw", "version": "0"}}}),
    )
    .await
    .expect("initialize");
    let session = init
        .headers()
        .get("mcp-session-id")
        .and_then(|v| v.to_str().ok())
        .expect("a session id")
        .to_string();
    let _ = init.text().await;
    let r = post(
        Some(&session),
        json!({"jsonrpc": "2.0", "method": "notifications/initialized"}),
    )
    .await
    .expect("initialized");
    assert_eq!(r.status(), StatusCode::ACCEPTED);

    let r = post(
        Some(&session),
        call(2, "authors_create", json!({"name": "Ann"})),
    )
    .await
    .expect("tools/call");
    assert_eq!(r.status(), StatusCode::OK);
    assert_eq!(content_type(&r), "application/json");
    let answer: Value = r.json().await.expect("a JSON body");
    assert_eq!(answer["id"], 2, "{answer}");
    let result = &answer["result"];
    assert_eq!(result["isError"], false, "{answer}");
    let created = result["structuredContent"].clone();
    let text = result["content"][0]["text"].as_str().expect("a text copy");
    assert_eq!(serde_json::from_str::<Value>(text).expect("JSON"), created);
    let rest: Value = http
        .get(format!(
            "http://{}/api/authors/{}",
            handle.http_addr(),
            created["id"]
        ))
        .send()
        .await
        .expect("GET")
        .json()
        .await
        .expect("JSON");
    assert_eq!(rest, created);

    let r = post(
        Some(&session),
        call(3, "authors_create", json!({"nmae": "Typo"})),
    )
    .await
    .expect("tools/call");
    assert_eq!(content_type(&r), "application/json");
    let answer: Value = r.json().await.expect("a JSON body");
    assert_eq!(answer["result"]["isError"], true, "{answer}");
    assert_eq!(
        answer["result"]["structuredContent"]["error"]["code"], "validation",
        "{answer}"
    );

    let r = post(
        Some(&session),
        call(4, "nothing_here_read", json!({"id": 1})),
    )
    .await
    .expect("tools/call");
    let answer: Value = r.json().await.expect("a JSON body");
    assert_eq!(answer["id"], 4, "{answer}");
    assert!(
        answer["error"]["code"].is_i64(),
        "a JSON-RPC error: {answer}"
    );

    // Other requests are the session's, answered on its event stream.
    let r = post(
        Some(&session),
        json!({"jsonrpc": "2.0", "id": 5, "method": "tools/list"}),
    )
    .await
    .expect("tools/list");
    assert_eq!(content_type(&r), "text/event-stream");
    assert!(r.text().await.expect("text").contains("authors_create"));

    // A closed session takes no more calls.
    let r = http
        .delete(&mcp)
        .header("mcp-session-id", &session)
        .header("mcp-protocol-version", "2025-11-25")
        .send()
        .await
        .expect("DELETE");
    // 204, not rmcp's 202: clients (the Python SDK) take anything but 200 or 204 as a failed
    // termination.
    assert_eq!(r.status(), StatusCode::NO_CONTENT);
    assert!(r.bytes().await.expect("body").is_empty());
    let r = post(
        Some(&session),
        call(6, "authors_create", json!({"name": "Late"})),
    )
    .await
    .expect("tools/call");
    assert_eq!(r.status(), StatusCode::NOT_FOUND);
    tokio::time::timeout(Duration::from_secs(60), handle.shutdown())
        .await
        .expect("shutdown within the wait");
}

/// `Host` is checked against loopback, the bound host and `allowed_hosts`.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn allowed_hosts_are_honoured() {
    let url = common::fresh_shared_url(Backend::Sqlite)
        .await
        .expect("sqlite");
    let handle = builder(&url)
        .set("allowed_hosts", json!(["flowgate.test"]))
        .start()
        .await
        .expect("start");
    let http = reqwest::Client::builder()
        .no_proxy()
        .build()
        .expect("client");
    let init = json!({
        "jsonrpc": "2.0", "id": 1, "method": "initialize",
        "params": {"protocolVersion": "2025-06-18", "capabilities": {},
                   "clientInfo": {"name": "t", "version": "0"}},
    });
    let port = handle.mcp_addr().port();
    for (host, allowed) in [
        (format!("flowgate.test:{port}"), true),
        (format!("127.0.0.1:{port}"), true),
        (format!("localhost:{port}"), true),
        (format!("evil.test:{port}"), false),
    ] {
        let resp = http
            .post(format!("http://{}/mcp", handle.mcp_addr()))
            .header("host", &host)
            .header("accept", "application/json, text/event-stream")
            .json(&init)
            .send()
            .await
            .expect("request");
        assert_eq!(
            resp.status() != StatusCode::FORBIDDEN,
            allowed,
            "{host}: {}",
            resp.status()
        );
        assert!(
            resp.status().is_success() || !allowed,
            "{host}: {}",
            resp.status()
        );
    }
    tokio::time::timeout(Duration::from_secs(60), handle.shutdown())
        .await
        .expect("shutdown within the wait");
}
