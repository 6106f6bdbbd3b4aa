//! `GET /openapi.json` and `GET /docs` on a real server (`Supervisor`, 127.0.0.1:0): the document
//! is OpenAPI 3.1 by two validators (the `oas3` crate, which deserializes the whole spec and
//! resolves every reference, and Python's `openapi-spec-validator`), it lists every route of
//! DESIGN section 6 and every node, the server serves every operation it lists, it follows models
//! registered at run time, `/docs` needs no other host, and a snapshot pins the document of a
//! fixed model.
//!
//! The Python validator comes from `.ci/run` (`pip install openapi-spec-validator`). Without it
//! the check is skipped with a note, unless `FLOWGATE_TEST_REQUIRE_ALL` is set: then it fails.
#![allow(missing_docs)]

mod common;

use common::models::{author, book};
use common::{Backend, http_client as client};
use flowgate::{FieldDef, IdType, ModelDef, OpKind};
use flowgate_actors::{Handle, Supervisor};
use reqwest::{Client, Method};
use serde_json::{Value, json};
use std::process::Command;
use std::time::{Duration, Instant};

/// The longest any poll waits before the test fails.
const WAIT: Duration = Duration::from_secs(10);

/// The servers' `body_limit`, small, so that the 413 of every body is cheap to provoke.
const BODY_LIMIT: usize = 4096;

/// The shared book, described.
fn catalogue_book() -> ModelDef {
    book().description("A book in the catalogue")
}

/// One model with every field type, a client-supplied uuid id and soft delete.
fn task() -> ModelDef {
    ModelDef::new("Task")
        .id(IdType::Uuid)
        .soft_delete()
        .description("A unit of work")
        .field(
            FieldDef::string("title")
                .max_length(120)
                .description("what to do"),
        )
        .field(FieldDef::text("notes").optional())
        .field(FieldDef::integer("estimate").optional())
        .field(FieldDef::float("weight").default(1.0))
        .field(FieldDef::decimal("budget").optional())
        .field(FieldDef::boolean("urgent").default(false))
        .field(FieldDef::date("due").optional())
        .field(FieldDef::datetime("remind_at").optional())
        .field(FieldDef::uuid("owner").optional())
        .field(FieldDef::json("labels").default(json!([])))
        .field(FieldDef::bytes("attachment").optional())
        .field(FieldDef::enumeration("state", ["open", "done"]).default("open"))
}

struct Server {
    handle: Handle,
    base: String,
    http: Client,
}

impl Server {
    async fn start(url: &str, models: Vec<ModelDef>) -> Server {
        let handle = Supervisor::builder()
            .database_url(url)
            .http_port(0)
            .set("host", "127.0.0.1")
            .set("mcp_port", 0)
            .set("body_limit", BODY_LIMIT)
            .models(models)
            .start()
            .await
            .expect("start");
        assert!(
            handle.wait_ready(WAIT).await,
            "{:#}",
            handle.board().to_json()
        );
        let base = format!("http://{}", handle.http_addr());
        Server {
            handle,
            base,
            http: client(),
        }
    }

    /// Sends a request; gives the status, the content type and the body text.
    async fn send(&self, method: Method, path: &str, body: Option<&str>) -> (u16, String, String) {
        let mut req = self.http.request(method, format!("{}{path}", self.base));
        if let Some(b) = body {
            req = req
                .header("content-type", "application/json")
                .body(b.to_string());
        }
        let resp = req.send().await.expect("request");
        let status = resp.status().as_u16();
        let ty = resp
            .headers()
            .get("content-type")
            .and_then(|v| v.to_str().ok())
            .unwrap_or("")
            .to_string();
        (status, ty, resp.text().await.expect("body"))
    }

    /// `GET /openapi.json`, checked with oas3 and openapi-spec-validator, as JSON.
    async fn document(&self) -> Value {
        let (status, ty, text) = self.send(Method::GET, "/openapi.json", None).await;
        assert_eq!(status, 200, "{text}");
        assert!(ty.starts_with("application/json"), "{ty}");
        check_with_oas3(&text);
        check_with_python(&text);
        serde_json::from_str(&text).expect("JSON")
    }
}

/// Deserializes the whole document with `oas3` and resolves every reference of every operation.
fn check_with_oas3(text: &str) {
    let spec = oas3::from_json(text).unwrap_or_else(|e| panic!("oas3 refuses the document: {e}"));
    let version = spec.validate_version().expect("an OpenAPI 3.1 version");
    assert_eq!((version.major, version.minor), (3, 1));
    let raw: Value = serde_json::from_str(text).unwrap();
    let mut n = 0;
    for (path, method, op) in spec.operations() {
        n += 1;
        let at = format!("{method} {path}");
        op.parameters(&spec)
            .unwrap_or_else(|e| panic!("{at}: parameters: {e}"));
        if let Some(body) = op
            .request_body(&spec)
            .unwrap_or_else(|e| panic!("{at}: request body: {e}"))
        {
            let media = body.content.get("application/json").expect("JSON body");
            media
                .schema(&spec)
                .unwrap_or_else(|e| panic!("{at}: body schema: {e}"))
                .expect("a body schema");
        }
        let declared = raw["paths"][&path][method.as_str().to_lowercase()]["responses"]
            .as_object()
            .map_or(0, |r| r.len());
        let responses = op.responses(&spec);
        assert_eq!(
            responses.len(),
            declared,
            "{at}: a response reference does not resolve"
        );
        for (status, r) in responses {
            for (ty, media) in &r.content {
                media
                    .schema(&spec)
                    .unwrap_or_else(|e| panic!("{at} {status} {ty}: schema: {e}"));
            }
        }
    }
    assert!(n > 0, "no operations");
}

const PY_CHECK: &str = "import json, sys
from openapi_spec_validator import validate, OpenAPIV31SpecValidator
validate(json.load(open(sys.argv[1])), cls=OpenAPIV31SpecValidator)";

/// Validates the document with Python's openapi-spec-validator (OpenAPI 3.1 rules).
fn check_with_python(text: &str) {
    let available = Command::new("python3")
        .args(["-c", "import openapi_spec_validator"])
        .output()
        .is_ok_and(|o| o.status.success());
    if !available {
        if std::env::var_os("FLOWGATE_TEST_REQUIRE_ALL").is_some() {
            panic!(
                "python3 with openapi-spec-validator is missing but FLOWGATE_TEST_REQUIRE_ALL is set \
                 (`python3 -m pip install openapi-spec-validator`)"
            );
        }
        eprintln!("note: python3 with openapi-spec-validator is missing; skipping that check");
        return;
    }
    let dir = std::env::temp_dir().join("flowgate-tests");
    std::fs::create_dir_all(&dir).expect("temp dir");
    let file = dir.join(format!("{}.json", common::unique_name("openapi")));
    std::fs::write(&file, text).expect("write the document");
    let out = Command::new("python3")
        .args(["-c", PY_CHECK])
        .arg(&file)
        .output()
        .expect("run python3");
    let _ = std::fs::remove_file(&file);
    assert!(
        out.status.success(),
        "openapi-spec-validator refuses the document:\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
}

/// The methods of a path item, sorted.
fn methods(doc: &Value, path: &str) -> Vec<String> {
    let item = doc["paths"][path]
        .as_object()
        .unwrap_or_else(|| panic!("no path {path}"));
    let mut m: Vec<String> = item
        .keys()
        .filter(|k| *k != "parameters")
        .cloned()
        .collect();
    m.sort();
    m
}

fn statuses(op: &Value) -> Vec<&str> {
    op["responses"]
        .as_object()
        .expect("responses")
        .keys()
        .map(String::as_str)
        .collect()
}

/// Every route of DESIGN section 6 and every node of `model` (served under `table`).
fn assert_model_routes(doc: &Value, model: &str, table: &str) {
    let t = format!("/api/{table}");
    assert_eq!(methods(doc, &t), ["get", "post", "put"]);
    assert_eq!(methods(doc, &format!("{t}/count")), ["get"]);
    assert_eq!(methods(doc, &format!("{t}/bulk")), ["patch", "post", "put"]);
    assert_eq!(methods(doc, &format!("{t}/bulk-delete")), ["post"]);
    assert_eq!(
        methods(doc, &format!("{t}/{{id}}")),
        ["delete", "get", "patch"]
    );
    for op in OpKind::ALL {
        let path = format!("/nodes/{}", op.node_name(model));
        assert_eq!(methods(doc, &path), ["post"], "{path}");
    }
    let schemas = &doc["components"]["schemas"];
    for name in [
        model.to_string(),
        format!("{model}.Create"),
        format!("{model}.Update"),
    ] {
        assert!(schemas[&name].is_object(), "no component schema {name}");
    }

    // Query parameters of list, count and read.
    let names = |op: &Value| -> Vec<String> {
        op["parameters"]
            .as_array()
            .map(|ps| {
                ps.iter()
                    .map(|p| p["name"].as_str().unwrap().to_string())
                    .collect()
            })
            .unwrap_or_default()
    };
    let list = &doc["paths"][&t]["get"];
    for p in [
        "filter",
        "order_by",
        "limit",
        "offset",
        "cursor",
        "count",
        "fields",
        "include_deleted",
        "expand",
        "expand_limit",
    ] {
        assert!(names(list).iter().any(|n| n == p), "list lacks {p}");
    }
    assert_eq!(
        names(&doc["paths"][format!("{t}/count")]["get"]),
        ["filter", "include_deleted", "If-None-Match"]
    );
    assert_eq!(
        names(&doc["paths"][format!("{t}/{{id}}")]["get"]),
        ["include_deleted", "expand", "expand_limit", "If-None-Match"]
    );
    let by_id = &doc["paths"][format!("{t}/{{id}}")];
    assert!(
        by_id["parameters"]
            .as_array()
            .unwrap()
            .iter()
            .any(|p| p["name"] == "id" && p["in"] == "path" && p["required"] == true)
    );

    // Bodies and answers reference the model's schemas and the error format.
    let create = &doc["paths"][&t]["post"];
    assert_eq!(
        create["requestBody"]["content"]["application/json"]["schema"]["$ref"],
        format!("#/components/schemas/{model}.Create")
    );
    assert_eq!(
        create["responses"]["201"]["content"]["application/json"]["schema"]["$ref"],
        format!("#/components/schemas/{model}")
    );
    assert_eq!(
        statuses(create),
        [
            "201", "400", "401", "403", "409", "413", "415", "429", "500", "503"
        ]
    );
    assert_eq!(
        statuses(&by_id["get"]),
        [
            "200", "304", "400", "401", "403", "404", "429", "500", "503"
        ]
    );
    assert_eq!(
        statuses(list),
        ["200", "304", "400", "401", "403", "429", "500", "503"]
    );
    assert!(list["responses"]["200"]["headers"]["ETag"].is_object());
    assert_eq!(
        statuses(&doc["paths"][format!("/nodes/{model}UpdateNode")]["post"]),
        [
            "200", "400", "401", "403", "404", "409", "413", "415", "429", "500", "503"
        ]
    );
}

/// The shared parts: the error format, 503 with Retry-After, health.
fn assert_common(doc: &Value) {
    assert_eq!(doc["openapi"], "3.1.0");
    let error = &doc["components"]["schemas"]["flowgate.Error"];
    assert_eq!(error["required"], json!(["error"]));
    assert_eq!(
        error["properties"]["error"]["$ref"],
        "#/components/schemas/flowgate.ErrorObject"
    );
    let responses = &doc["components"]["responses"];
    for (name, _) in responses.as_object().unwrap() {
        assert_eq!(
            responses[name]["content"]["application/json"]["schema"]["$ref"],
            "#/components/schemas/flowgate.Error",
            "{name}"
        );
    }
    assert_eq!(
        responses["NotReady"]["headers"]["Retry-After"]["$ref"],
        "#/components/headers/Retry-After"
    );
    // Credentials: a bearer token or X-API-Key; a loopback server without `auth.required` also
    // serves anonymous callers, and health needs nothing.
    let schemes = &doc["components"]["securitySchemes"];
    assert_eq!(schemes["bearer"]["scheme"], "bearer");
    assert_eq!(schemes["apiKey"]["name"], "X-API-Key");
    assert_eq!(doc["security"], json!([{"bearer": []}, {"apiKey": []}, {}]));
    assert_eq!(
        doc["paths"]["/health/ready"]["get"]["security"],
        json!([{}])
    );
    for header in [
        "Retry-After",
        "RateLimit-Limit",
        "RateLimit-Remaining",
        "RateLimit-Reset",
    ] {
        assert!(
            responses["RateLimited"]["headers"][header]["$ref"].is_string(),
            "{header}"
        );
    }
    assert_eq!(
        responses["Unauthorized"]["content"]["application/json"]["example"]["error"]["code"],
        "unauthorized"
    );
    for path in ["/", "/health/live", "/models", "/openapi.json", "/docs"] {
        assert_eq!(methods(doc, path), ["get"], "{path}");
    }
    assert_eq!(methods(doc, "/health/ready"), ["get"]);
    assert_eq!(
        statuses(&doc["paths"]["/health/ready"]["get"]),
        ["200", "400", "403", "503"]
    );
}

/// Every operation the document lists is served: its method and path reach a handler (an
/// empty body may be refused as invalid, but never with "no route" or 405).
async fn assert_served(s: &Server, doc: &Value) {
    for (path, item) in doc["paths"].as_object().unwrap() {
        for (method, op) in item.as_object().unwrap() {
            if method == "parameters" {
                continue;
            }
            let m = Method::from_bytes(method.to_uppercase().as_bytes()).unwrap();
            let concrete = path.replace("{id}", "00000000-0000-0000-0000-000000000000");
            let body = op.get("requestBody").map(|_| "{}");
            let (status, _, text) = s.send(m, &concrete, body).await;
            assert_ne!(status, 405, "{method} {path}: {text}");
            assert!(
                !text.contains("no route for"),
                "{method} {path} is not routed: {text}"
            );
            let listed: Vec<&str> = statuses(op);
            assert!(
                listed.contains(&status.to_string().as_str()),
                "{method} {path} answered {status}, which the document does not list: {text}"
            );
            if status >= 400 {
                assert_documented_error(doc, &format!("{method} {path}"), &text);
            }
        }
    }
    // A body over `body_limit` on every operation that takes one.
    let big = format!("{{\"x\": \"{}\"}}", "a".repeat(BODY_LIMIT + 1));
    for (path, item) in doc["paths"].as_object().unwrap() {
        for (method, op) in item.as_object().unwrap() {
            if op.get("requestBody").is_none() {
                continue;
            }
            let m = Method::from_bytes(method.to_uppercase().as_bytes()).unwrap();
            let concrete = path.replace("{id}", "1");
            let (status, _, text) = s.send(m, &concrete, Some(&big)).await;
            assert_eq!(status, 413, "{method} {path}: {text}");
            assert!(statuses(op).contains(&"413"), "{method} {path}");
            assert_documented_error(doc, &format!("{method} {path}"), &text);
        }
    }
}

/// An error body has the documented shape, and its code is one the document lists.
fn assert_documented_error(doc: &Value, at: &str, text: &str) {
    let body: Value =
        serde_json::from_str(text).unwrap_or_else(|_| panic!("{at}: not JSON: {text}"));
    let object = &doc["components"]["schemas"]["flowgate.ErrorObject"];
    let codes = object["properties"]["code"]["enum"].as_array().unwrap();
    let err = &body["error"];
    assert!(
        codes.contains(&err["code"]),
        "{at}: undocumented code in {text}"
    );
    assert!(err["message"].is_string(), "{at}: {text}");
}

async fn document_lists_every_route(b: Backend) {
    let Some(url) = common::fresh_shared_url(b).await else {
        return;
    };
    let s = Server::start(&url, vec![author(), catalogue_book(), task()]).await;
    let doc = s.document().await;
    assert_common(&doc);
    assert_model_routes(&doc, "Author", "authors");
    assert_model_routes(&doc, "Book", "books");
    assert_model_routes(&doc, "Task", "tasks");
    // 3 models x (5 REST paths + 11 nodes), health x 2, /, /models, /models/{name},
    // /openapi.json, /docs, and /workflows, /workflows/{name}, /workflows/{name}/runs/{run_id},
    // and /audit.
    assert_eq!(doc["paths"].as_object().unwrap().len(), 3 * 16 + 11);
    assert_served(&s, &doc).await;
    s.handle.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn document_lists_every_route_sqlite() {
    document_lists_every_route(Backend::Sqlite).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn document_lists_every_route_postgres() {
    document_lists_every_route(Backend::Postgres).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn document_follows_models_registered_at_run_time() {
    let url = common::fresh_shared_url(Backend::Sqlite).await.unwrap();
    let s = Server::start(&url, vec![author(), catalogue_book()]).await;
    let before = s.document().await;
    assert!(before["paths"]["/api/reviews"].is_null());
    assert!(before["paths"]["/nodes/ReviewCreateNode"].is_null());

    let review = ModelDef::new("Review")
        .field(FieldDef::integer("book_id").references("Book"))
        .field(FieldDef::integer("stars"));
    s.handle.register_model(review).await.expect("register");
    let deadline = Instant::now() + WAIT;
    let after = loop {
        let doc = s.document().await;
        if doc["paths"]["/api/reviews"].is_object() {
            break doc;
        }
        assert!(Instant::now() < deadline, "Review never appeared");
        tokio::time::sleep(Duration::from_millis(20)).await;
    };
    assert_model_routes(&after, "Review", "reviews");
    assert_model_routes(&after, "Book", "books");
    assert_eq!(
        after["paths"].as_object().unwrap().len(),
        before["paths"].as_object().unwrap().len() + 16
    );
    s.handle.shutdown().await;
}

/// Workflows: the routes every server has, and one `execute` path per served workflow whose
/// body carries its input schema; a workflow registered at run time is in the next document;
/// every path is served and the document passes both validators.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn document_lists_workflows() {
    let url = common::fresh_shared_url(Backend::Sqlite).await.unwrap();
    let s = Server::start(&url, vec![author(), catalogue_book()]).await;
    let add_book = flowgate::workflow::WorkflowBuilder::new("add_book")
        .description("An author and their first book")
        .transactional(true)
        .add_node("AuthorCreateNode", "author", json!({"name": "${author}"}))
        .add_node("BookCreateNode", "book", json!({"title": "${title}"}))
        .connect("author", "id", "book", "author_id")
        .build()
        .unwrap();
    s.handle
        .register_workflow(add_book)
        .await
        .expect("register add_book");
    let doc = s.document().await;
    assert_common(&doc);
    assert_eq!(methods(&doc, "/workflows"), ["get", "post"]);
    assert_eq!(methods(&doc, "/workflows/{name}"), ["get"]);
    assert_eq!(methods(&doc, "/workflows/{name}/runs/{run_id}"), ["get"]);
    assert_eq!(methods(&doc, "/workflows/add_book/execute"), ["post"]);
    let execute = &doc["paths"]["/workflows/add_book/execute"]["post"];
    assert_eq!(
        statuses(execute),
        [
            "200", "202", "400", "401", "403", "404", "409", "413", "415", "429", "500", "503"
        ]
    );
    let body = &execute["requestBody"]["content"]["application/json"]["schema"];
    assert_eq!(execute["requestBody"]["required"], true);
    assert_eq!(body["required"], json!(["inputs"]));
    assert_eq!(body["properties"]["mode"]["enum"], json!(["sync", "async"]));
    // The undeclared inputs take the schemas of the fields they feed.
    assert_eq!(
        body["properties"]["inputs"],
        json!({
            "type": "object",
            "properties": {
                "author": {"type": "string", "maxLength": 80},
                "title": {"type": "string", "maxLength": 200},
            },
            "required": ["author", "title"],
            "additionalProperties": false,
        })
    );
    assert_eq!(
        execute["responses"]["200"]["content"]["application/json"]["schema"]["$ref"],
        "#/components/schemas/flowgate.WorkflowRun"
    );
    assert!(execute["responses"]["202"]["headers"]["Location"].is_object());
    assert_served(&s, &doc).await;
    s.handle.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn docs_page_is_served_from_the_binary() {
    let url = common::fresh_url(Backend::Sqlite).await.unwrap();
    let s = Server::start(&url, vec![author()]).await;
    let (status, ty, html) = s.send(Method::GET, "/docs", None).await;
    assert_eq!(status, 200);
    assert!(ty.starts_with("text/html"), "{ty}");
    // A strict content security policy: no inline script, nothing from elsewhere.
    let resp = s.http.get(format!("{}/docs", s.base)).send().await.unwrap();
    let csp = resp.headers()["content-security-policy"]
        .to_str()
        .unwrap()
        .to_string();
    assert!(
        csp.starts_with("default-src 'none'; script-src 'self';"),
        "{csp}"
    );
    assert!(csp.contains("frame-ancestors 'none'"), "{csp}");
    assert!(!html.contains("<script>"), "an inline script: {html}");
    let mut loads_the_document = false;
    assert!(
        !html.contains("http://") && !html.contains("https://"),
        "the page names another host: {html}"
    );
    // Every script and style it loads is served here.
    let mut assets = 0;
    for attr in ["src=\"", "href=\""] {
        for (i, _) in html.match_indices(attr) {
            let rest = &html[i + attr.len()..];
            let path = &rest[..rest.find('"').unwrap()];
            assert!(path.starts_with("/docs/"), "{path}");
            let (status, ty, body) = s.send(Method::GET, path, None).await;
            assert_eq!(status, 200, "{path}");
            assert!(!body.is_empty(), "{path}");
            if path.ends_with(".js") {
                assert!(ty.contains("javascript"), "{path}: {ty}");
                loads_the_document |= body.contains("\"/openapi.json\"");
            } else if path.ends_with(".css") {
                assert!(ty.starts_with("text/css"), "{path}: {ty}");
            }
            assets += 1;
        }
    }
    assert!(assets >= 3, "{html}");
    assert!(
        loads_the_document,
        "no script of the page loads /openapi.json"
    );
    let (status, _, body) = s.send(Method::GET, "/docs/nothing.js", None).await;
    assert_eq!(status, 404, "{body}");
    s.handle.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn document_snapshot() {
    let url = common::fresh_url(Backend::Sqlite).await.unwrap();
    let s = Server::start(&url, vec![task()]).await;
    let mut doc = s.document().await;
    // The crate version changes with every release.
    doc["info"]["version"] = json!("[version]");
    insta::assert_json_snapshot!("openapi_task", doc);
    s.handle.shutdown().await;
}
