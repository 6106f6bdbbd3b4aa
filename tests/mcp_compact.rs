//! MCP tool lists by configuration, end to end with a real rmcp client over streamable HTTP:
//! compact mode (`[mcp] tools = "compact"`: generic tools taking the model as an argument) on
//! SQLite, PostgreSQL and MySQL, and per-model lists limited by `mcp_tools` and
//! `[mcp] default_tools`. Operations not exposed as tools are still served on REST; calling one
//! over MCP is a clean error; workflows are tools in both modes; `list_changed` still fires.
//!
//! No timing assertions: whatever takes time is awaited within [`WAIT`].
#![allow(missing_docs)]

mod common;

use common::models::book;
use common::{Backend, Changes, Listener, mcp_session as connect, server_builder as builder};
use flowgate::workflow::WorkflowBuilder;
use flowgate::{FieldDef, ModelDef, OpKind, Schema, Workflow};
use flowgate_actors::Handle;
use reqwest::StatusCode;
use rmcp::model::{CallToolRequestParams, CallToolResult, ReadResourceRequestParams, Tool};
use rmcp::service::RunningService;
use rmcp::{RoleClient, ServiceError};
use serde_json::{Value, json};
use std::collections::BTreeSet;
use std::time::Duration;

const WAIT: Duration = Duration::from_secs(10);

/// The shared author, described, exposing three operations as tools.
fn author() -> ModelDef {
    common::models::author()
        .description("A person who writes books.")
        .mcp_tools([OpKind::Create, OpKind::Read, OpKind::List])
}

fn review() -> ModelDef {
    ModelDef::new("Review")
        .field(FieldDef::text("body"))
        .field(FieldDef::integer("stars"))
}

fn count_books() -> Workflow {
    WorkflowBuilder::new("count_books")
        .no_inputs()
        .add_node("BookCountNode", "n", json!({}))
        .build()
        .expect("count_books builds")
}

struct Env {
    handle: Handle,
    base: String,
    http: reqwest::Client,
    mcp: RunningService<RoleClient, Listener>,
    changes: Changes,
}

impl Env {
    async fn start(b: Backend, mcp: Value) -> Option<Env> {
        let url = common::fresh_shared_url(b).await?;
        let handle = builder(&url)
            .set("mcp", mcp)
            .models(vec![author(), book()])
            .workflow(count_books())
            .start()
            .await
            .expect("start");
        // No wait for readiness: the first list, right after `initialize`, waits for the
        // declared models and workflows itself.
        let (mcp, changes) = connect(&handle).await;
        let base = format!("http://{}", handle.http_addr());
        Some(Env {
            handle,
            base,
            http: common::http_client(),
            mcp,
            changes,
        })
    }

    async fn tools(&self) -> Vec<Tool> {
        self.mcp.list_all_tools().await.expect("tools/list")
    }

    async fn call(&self, tool: &str, args: Value) -> Result<CallToolResult, ServiceError> {
        let args = args.as_object().cloned().expect("arguments are an object");
        self.mcp
            .call_tool(CallToolRequestParams::new(tool.to_string()).with_arguments(args))
            .await
    }

    /// A tool call that succeeds: its structured content (which the text copy repeats).
    async fn ok(&self, tool: &str, args: Value) -> Value {
        let r = self
            .call(tool, args.clone())
            .await
            .unwrap_or_else(|e| panic!("{tool} {args}: {e}"));
        assert_eq!(r.is_error, Some(false), "{tool} {args}: {r:?}");
        let value = r.structured_content.clone().expect("structuredContent");
        let text = r.content[0].as_text().expect("a text copy").text.clone();
        assert_eq!(serde_json::from_str::<Value>(&text).unwrap(), value);
        value
    }

    /// A tool call that fails as a tool error: its error object, checked for code and field.
    async fn fails(&self, tool: &str, args: Value, code: &str, field: Option<&str>) -> Value {
        let r = self
            .call(tool, args.clone())
            .await
            .unwrap_or_else(|e| panic!("{tool} {args}: {e}"));
        assert_eq!(r.is_error, Some(true), "{tool} {args}: {r:?}");
        let err = r.structured_content.clone().expect("structuredContent")["error"].clone();
        assert_eq!(err["code"], code, "{tool} {args}: {err}");
        assert_eq!(err["field"].as_str(), field, "{tool} {args}: {err}");
        err
    }

    async fn rest(
        &self,
        method: reqwest::Method,
        path: &str,
        body: Option<Value>,
    ) -> (StatusCode, Value) {
        let mut req = self.http.request(method, format!("{}{path}", self.base));
        if let Some(body) = body {
            req = req.json(&body);
        }
        let resp = req.send().await.expect("REST");
        let status = resp.status();
        (status, resp.json().await.unwrap_or(Value::Null))
    }

    async fn resource(&self, uri: &str) -> Value {
        let r = self
            .mcp
            .read_resource(ReadResourceRequestParams::new(uri))
            .await
            .unwrap_or_else(|e| panic!("{uri}: {e}"));
        let json = serde_json::to_value(&r.contents[0]).expect("contents");
        serde_json::from_str(json["text"].as_str().expect("text")).expect("JSON")
    }

    async fn changed(&mut self, kind: &str) {
        self.changes.wait(kind, WAIT).await;
    }

    async fn stop(self) {
        let _ = self.mcp.cancel().await;
        tokio::time::timeout(Duration::from_secs(60), self.handle.shutdown())
            .await
            .expect("shutdown within the wait");
    }
}

fn names(tools: &[Tool]) -> Vec<String> {
    tools.iter().map(|t| t.name.to_string()).collect()
}

/// Compact mode: the list right after `initialize`, describe, every operation as a generic
/// call with the result REST gives, argument errors naming the argument, a model's `mcp_tools`
/// honoured, the workflow as a tool, and `list_changed` when a model is registered.
async fn compact_mode_end_to_end(b: Backend) {
    let Some(mut env) = Env::start(b, json!({"tools": "compact"})).await else {
        return;
    };
    let tools = env.tools().await;
    let mut want: Vec<String> = ["describe"]
        .into_iter()
        .chain(OpKind::ALL.iter().map(|k| k.as_str()))
        .map(str::to_string)
        .collect();
    want.push("count_books".into());
    want.push("audit_list".into());
    assert_eq!(names(&tools), want);
    for op in OpKind::ALL {
        let tool = tools.iter().find(|t| t.name == op.as_str()).unwrap();
        assert_eq!(tool.input_schema["required"][0], "model", "{op}");
        assert_eq!(tool.input_schema["properties"]["model"]["type"], "string");
        let a = tool.annotations.as_ref().expect("annotations");
        assert_eq!(a.read_only_hint, op.is_read_only().then_some(true), "{op}");
        let destructive = (!op.is_read_only()).then_some(op.is_destructive());
        assert_eq!(a.destructive_hint, destructive, "{op}");
    }
    let describe = &tools[0];
    let text = describe.description.as_deref().unwrap_or_default();
    assert!(text.contains("Author, Book"), "{text}");
    let info = env.mcp.peer_info().expect("server info");
    let instructions = info.instructions.clone().unwrap_or_default();
    assert!(
        instructions.contains("Start with describe"),
        "{instructions}"
    );

    // describe: the models in brief, then one model's schema (its resource).
    let all = env.ok("describe", json!({})).await;
    assert_eq!(
        all,
        json!({"models": [
            {"name": "Author", "table": "authors", "description": "A person who writes books.",
             "tools": ["create", "read", "list"]},
            {"name": "Book", "table": "books",
             "tools": OpKind::ALL.iter().map(|k| k.as_str()).collect::<Vec<_>>()},
        ]})
    );
    let schema = Schema::new(vec![author(), book()]).unwrap();
    let described = env.ok("describe", json!({"model": "Book"})).await;
    assert_eq!(
        described["record_schema"],
        flowgate::json_schema::record_schema(schema.get("Book").unwrap())
    );
    assert_eq!(described, env.resource("flowgate://models/Book").await);
    assert_eq!(
        env.ok("describe", json!({"model": "books"})).await,
        described
    );

    // Every operation, with the result REST gives for the same params.
    use reqwest::Method;
    let ada = env
        .ok(
            "create",
            json!({"model": "Author", "data": {"name": "Ada"}}),
        )
        .await;
    let (_, rest_ada) = env
        .rest(Method::GET, &format!("/api/authors/{}", ada["id"]), None)
        .await;
    assert_eq!(ada, rest_ada);
    let book = env
        .ok(
            "create",
            json!({"model": "Book", "data": {"title": "Notes", "pages": 10, "author_id": ada["id"]}}),
        )
        .await;
    let id = book["id"].clone();
    assert_eq!(
        env.ok("read", json!({"model": "Book", "id": id})).await,
        book
    );
    let updated = env
        .ok(
            "update",
            json!({"model": "Book", "id": id, "fields": {"pages": 12}}),
        )
        .await;
    assert_eq!(updated["pages"], 12);
    let bulk = env
        .ok(
            "bulk_create",
            json!({"model": "books", "data": [{"title": "A", "isbn": "a"}, {"title": "B", "isbn": "b"}]}),
        )
        .await;
    assert_eq!(bulk["inserted"], 2, "{bulk}");
    let upserted = env
        .ok(
            "upsert",
            json!({"model": "Book", "where": {"isbn": "a"}, "update": {"pages": 1}}),
        )
        .await;
    assert_eq!(upserted["action"], "updated", "{upserted}");
    let bu = env
        .ok(
            "bulk_upsert",
            json!({"model": "Book", "data": [{"title": "C", "isbn": "c"}], "conflict_on": ["isbn"]}),
        )
        .await;
    assert_eq!(bu["inserted"], 1, "{bu}");
    let changed = env
        .ok(
            "bulk_update",
            json!({"model": "Book", "filter": {"isbn": {"$in": ["a", "b"]}}, "fields": {"pages": 5}}),
        )
        .await;
    assert_eq!(changed["updated"], 2, "{changed}");
    let list = env
        .ok(
            "list",
            json!({"model": "Book", "filter": {"pages": {"$gte": 5}}, "order_by": "title", "count": true}),
        )
        .await;
    let (_, rest_list) = env
        .rest(
            Method::GET,
            "/api/books?filter=%7B%22pages%22%3A%7B%22%24gte%22%3A5%7D%7D&order_by=title&count=true",
            None,
        )
        .await;
    assert_eq!(list, rest_list);
    assert_eq!(list["count"], 3, "{list}");
    assert_eq!(
        env.ok("count", json!({"model": "Book"})).await,
        json!({"count": 4})
    );
    let deleted = env
        .ok(
            "bulk_delete",
            json!({"model": "Book", "filter": {"isbn": "c"}}),
        )
        .await;
    assert_eq!(deleted["deleted"], 1, "{deleted}");
    assert_eq!(
        env.ok("delete", json!({"model": "Book", "id": id})).await,
        json!({"id": id, "deleted": true})
    );

    // Argument errors name the argument; operation errors are REST's.
    env.fails("read", json!({"id": 1}), "validation", Some("model"))
        .await;
    env.fails(
        "read",
        json!({"model": 7, "id": 1}),
        "validation",
        Some("model"),
    )
    .await;
    let err = env
        .fails(
            "list",
            json!({"model": "Nope"}),
            "validation",
            Some("model"),
        )
        .await;
    assert!(
        err["message"].as_str().unwrap().contains("Author, Book"),
        "{err}"
    );
    env.fails(
        "create",
        json!({"model": "Book"}),
        "validation",
        Some("data"),
    )
    .await;
    env.fails(
        "create",
        json!({"model": "Book", "title": "flat"}),
        "validation",
        Some("title"),
    )
    .await;
    env.fails(
        "update",
        json!({"model": "Book", "id": 1, "fields": {"nope": 1}}),
        "validation",
        Some("fields.nope"),
    )
    .await;
    env.fails(
        "create",
        json!({"model": "Book", "data": {"title": 5}}),
        "validation",
        Some("data.title"),
    )
    .await;
    env.fails(
        "list",
        json!({"model": "Book", "filter": {"pages": {"$near": 1}}}),
        "validation",
        Some("filter.pages.$near"),
    )
    .await;
    env.fails(
        "describe",
        json!({"modle": "Book"}),
        "validation",
        Some("modle"),
    )
    .await;
    env.fails(
        "read",
        json!({"model": "Book", "id": 999_999}),
        "not_found",
        None,
    )
    .await;
    // Author allows create, read and list over MCP only; REST still deletes.
    let err = env
        .fails(
            "delete",
            json!({"model": "Author", "id": ada["id"]}),
            "validation",
            Some("model"),
        )
        .await;
    assert!(
        err["message"]
            .as_str()
            .unwrap()
            .contains("create, read, list"),
        "{err}"
    );
    // Per-model tool names are no tools in compact mode.
    let missing = env.call("books_read", json!({"id": 1})).await;
    assert!(
        matches!(missing, Err(ServiceError::McpError(_))),
        "{missing:?}"
    );

    // The workflow is a tool.
    let run = env.ok("count_books", json!({})).await;
    assert_eq!(run["results"]["n"], json!({"count": 2}), "{run}");

    let (status, _) = env
        .rest(Method::DELETE, &format!("/api/authors/{}", ada["id"]), None)
        .await;
    assert_eq!(status, StatusCode::OK);

    // A model registered at run time: list_changed, and describe names it.
    env.handle
        .register_model(review())
        .await
        .expect("register Review");
    env.changed("tools").await;
    let tools = env.tools().await;
    assert_eq!(tools.len(), 14, "{:?}", names(&tools));
    let text = tools[0].description.as_deref().unwrap_or_default();
    assert!(text.contains("Author, Book, Review"), "{text}");
    let r = env
        .ok(
            "create",
            json!({"model": "Review", "data": {"body": "Good", "stars": 5}}),
        )
        .await;
    assert_eq!(r["stars"], 5);
    env.stop().await;
}

/// Per-model mode with `mcp_tools` and `[mcp] default_tools`: only the exposed operations are
/// tools, a call to another is a JSON-RPC error (REST still serves it), the resource says which
/// tools a model has, and the workflow is still a tool.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn mcp_tools_limit_the_per_model_list() {
    let Some(env) = Env::start(
        Backend::Sqlite,
        json!({"default_tools": ["read", "list", "count", "create"]}),
    )
    .await
    else {
        return;
    };
    let tools: BTreeSet<String> = names(&env.tools().await).into_iter().collect();
    let want: BTreeSet<String> = [
        "authors_create",
        "authors_read",
        "authors_list",
        "books_create",
        "books_read",
        "books_list",
        "books_count",
        "count_books",
        "audit_list",
    ]
    .into_iter()
    .map(str::to_string)
    .collect();
    assert_eq!(tools, want);

    let ada = env.ok("authors_create", json!({"name": "Ada"})).await;
    let refused = env.call("authors_delete", json!({"id": ada["id"]})).await;
    match refused {
        Err(ServiceError::McpError(e)) => {
            assert!(e.message.contains("does not expose delete"), "{e:?}")
        }
        other => panic!("a JSON-RPC error: {other:?}"),
    }
    let refused = env
        .call("books_bulk_delete", json!({"confirm_all": true}))
        .await;
    assert!(
        matches!(refused, Err(ServiceError::McpError(_))),
        "{refused:?}"
    );
    // Nothing was deleted, and REST serves every operation.
    let (status, _) = env
        .rest(
            reqwest::Method::GET,
            &format!("/api/authors/{}", ada["id"]),
            None,
        )
        .await;
    assert_eq!(status, StatusCode::OK);
    let (status, body) = env
        .rest(
            reqwest::Method::DELETE,
            &format!("/api/authors/{}", ada["id"]),
            None,
        )
        .await;
    assert_eq!(
        (status, body["deleted"].clone()),
        (StatusCode::OK, json!(true))
    );

    let resource = env.resource("flowgate://models/Author").await;
    assert_eq!(
        resource["tools"],
        json!(["authors_create", "authors_read", "authors_list"])
    );
    assert_eq!(
        env.ok("count_books", json!({})).await["results"]["n"],
        json!({"count": 0})
    );

    // A workflow may not take a generic tool's name, in either mode.
    let clash = WorkflowBuilder::new("count")
        .no_inputs()
        .add_node("BookCountNode", "n", json!({}))
        .build()
        .expect("builds");
    let err = env.handle.register_workflow(clash).await.unwrap_err();
    assert_eq!(err.code(), "conflict", "{err}");
    assert!(err.to_string().contains("generic MCP tool"), "{err}");
    env.stop().await;
}

/// The compact list for ten models of six fields stays within the budget of 3,000
/// tokens: at most 10,000 characters of `tools/list` (cl100k_base gives about 4.5 characters a
/// token on these lists, `benches/tool_tokens.py`; 10,000 stays under 3,000 tokens even at 3.3),
/// and no longer than the list for one model (`describe`'s list of names aside).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn compact_list_of_ten_models_is_small() {
    let product = |name: String| {
        ModelDef::new(name.clone())
            .description(format!("A {name} in the catalog"))
            .field(FieldDef::string("name").max_length(120))
            .field(FieldDef::integer("stock"))
            .field(FieldDef::float("price"))
            .field(FieldDef::boolean("active"))
            .field(FieldDef::datetime("released_at"))
            .field(FieldDef::text("notes").optional())
    };
    let url = common::fresh_shared_url(Backend::Sqlite).await.unwrap();
    let handle = builder(&url)
        .set("mcp", json!({"tools": "compact"}))
        .models(
            (0..10)
                .map(|i| product(format!("Product{i}")))
                .collect::<Vec<_>>(),
        )
        .start()
        .await
        .expect("start");
    let (mcp, _changes) = connect(&handle).await;
    let tools = mcp.list_all_tools().await.expect("tools/list");
    assert_eq!(tools.len(), 13, "describe, 11 operations, audit_list");
    let json = serde_json::to_string(&rmcp::model::ListToolsResult::with_all_items(tools)).unwrap();
    assert!(json.len() <= 10_000, "{} characters", json.len());
    let _ = mcp.cancel().await;
    tokio::time::timeout(Duration::from_secs(60), handle.shutdown())
        .await
        .expect("shutdown within the wait");
}

conformance!(compact_mode_end_to_end);
