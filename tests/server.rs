//! The runtime end to end, over real sockets: servers started with `Supervisor` on SQLite,
//! PostgreSQL and MySQL, driven with real HTTP requests. Start-up and readiness, every route of
//! DESIGN section 6, the error format, restarts with persisted models, refused migrations,
//! run-time registration, an unreachable database, concurrent starts, node panics and shutdown.
//!
//! No timing assertions: whatever takes time is polled in bounded loops that fail after
//! [`WAIT`].
#![allow(missing_docs)]

mod common;

use common::models::{author, book, catalogue};
use common::{Backend, http_client as client, server_builder as builder};
use flowgate::registry::Registry;
use flowgate::{FieldDef, ModelDef, Schema, Store, StoreConfig};
use flowgate_actors::{Feature, Handle, State, Supervisor};
use reqwest::header::HeaderMap;
use reqwest::{Client, Method, StatusCode};
use serde_json::{Value, json};
use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::time::{Duration, Instant};
use tokio::net::{TcpListener, TcpStream};
use tokio::task::JoinHandle;

/// The longest any poll waits before the test fails.
const WAIT: Duration = Duration::from_secs(10);

/// An HTTP answer: the status, the headers and the body (JSON when it parses, else its text).
#[derive(Debug)]
struct Resp {
    status: StatusCode,
    headers: HeaderMap,
    body: Value,
}

impl Resp {
    fn header(&self, name: &str) -> Option<&str> {
        self.headers.get(name).and_then(|v| v.to_str().ok())
    }

    /// Asserts the status and gives the body.
    #[track_caller]
    fn expect(self, status: u16) -> Value {
        assert_eq!(self.status.as_u16(), status, "{:#}", self.body);
        self.body
    }

    /// Asserts the status and the JSON error format, and gives the error object.
    #[track_caller]
    fn error(self, status: u16, code: &str) -> Value {
        assert_eq!(self.status.as_u16(), status, "{:#}", self.body);
        let err = &self.body["error"];
        assert_eq!(err["code"], code, "{:#}", self.body);
        assert!(
            err["message"].as_str().is_some_and(|m| !m.is_empty()),
            "{:#}",
            self.body
        );
        err.clone()
    }
}

/// A running server and a client for it.
struct Server {
    handle: Handle,
    base: String,
    http: Client,
}

impl Server {
    async fn start(builder: Supervisor) -> Server {
        // Logs go to the test's output, shown when it fails (`RUST_LOG` to see more).
        let _ = tracing_subscriber::fmt()
            .with_env_filter(
                tracing_subscriber::EnvFilter::try_from_default_env()
                    .unwrap_or_else(|_| "warn".into()),
            )
            .with_test_writer()
            .try_init();
        let handle = builder.start().await.expect("start");
        let base = format!("http://{}", handle.http_addr());
        Server {
            handle,
            base,
            http: client(),
        }
    }

    async fn send(&self, req: reqwest::RequestBuilder) -> Resp {
        let resp = req.send().await.expect("request");
        let status = resp.status();
        let headers = resp.headers().clone();
        let bytes = resp.bytes().await.expect("body");
        let body = if bytes.is_empty() {
            Value::Null
        } else {
            serde_json::from_slice(&bytes)
                .unwrap_or_else(|_| Value::String(String::from_utf8_lossy(&bytes).into_owned()))
        };
        Resp {
            status,
            headers,
            body,
        }
    }

    fn req(&self, method: Method, path: &str) -> reqwest::RequestBuilder {
        self.http.request(method, format!("{}{path}", self.base))
    }

    async fn call(&self, method: Method, path: &str, body: Option<Value>) -> Resp {
        let mut req = self.req(method, path);
        if let Some(b) = body {
            req = req.json(&b);
        }
        self.send(req).await
    }

    async fn get(&self, path: &str) -> Resp {
        self.call(Method::GET, path, None).await
    }

    async fn post(&self, path: &str, body: Value) -> Resp {
        self.call(Method::POST, path, Some(body)).await
    }

    /// `GET path` with a query string (values are URL-encoded).
    async fn get_query(&self, path: &str, query: &[(&str, String)]) -> Resp {
        self.send(self.req(Method::GET, path).query(query)).await
    }

    /// Polls `/health/ready` until it answers 200, and gives the board.
    async fn ready(&self) -> Value {
        let deadline = Instant::now() + WAIT;
        loop {
            let r = self.get("/health/ready").await;
            if r.status == StatusCode::OK {
                return r.body;
            }
            assert_eq!(r.status, StatusCode::SERVICE_UNAVAILABLE, "{:#}", r.body);
            assert!(
                Instant::now() < deadline,
                "not ready within {WAIT:?}: {:#}",
                r.body
            );
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }

    async fn shutdown(self) {
        self.handle.shutdown().await;
    }
}

/// Waits until a board feature settles (ready, degraded or failed) and gives its state.
async fn settled(handle: &Handle, feature: &str) -> State {
    let name = Feature::parse(feature).expect("a feature of the board");
    match handle.board().wait_settled(&name, WAIT).await {
        Some(s) if s.is_settled() => s,
        other => panic!(
            "{feature} did not settle within {WAIT:?}: {other:?}; board {:#}",
            handle.board().to_json()
        ),
    }
}

fn records(v: &Value) -> &Vec<Value> {
    v["records"]
        .as_array()
        .unwrap_or_else(|| panic!("no records in {v:#}"))
}

fn titles(v: &Value) -> Vec<&str> {
    records(v)
        .iter()
        .map(|r| r["title"].as_str().unwrap_or("?"))
        .collect()
}

/// A book's id as a path segment.
fn id_of(record: &Value) -> String {
    match &record["id"] {
        Value::String(s) => s.clone(),
        other => other.to_string(),
    }
}

// ---------------------------------------------------------------------------------------------
// 1. Start-up, readiness, every route.

async fn starts_at_once_then_serves_every_route(b: Backend) {
    let Some(url) = common::fresh_shared_url(b).await else {
        return;
    };
    let s = Server::start(builder(&url).models(catalogue())).await;

    // The port answers as soon as start() returns, before the database is necessarily up.
    s.get("/health/live").await.expect(200);
    let early = s.get("/health/ready").await;
    assert!(
        matches!(early.status.as_u16(), 200 | 503),
        "{:?}",
        early.status
    );
    assert!(early.body["features"]["http"].is_object(), "{early:?}");
    assert_eq!(early.body["ready"], early.status == StatusCode::OK);

    let board = s.ready().await;
    assert_eq!(board["ready"], true);
    for m in ["Author", "Book"] {
        assert_eq!(
            board["features"][format!("model:{m}")]["state"],
            "ready",
            "{board:#}"
        );
    }

    // Create, read.
    let ann = s
        .post("/api/authors", json!({"name": "Ann"}))
        .await
        .expect(201);
    assert_eq!(ann["name"], "Ann");
    assert!(
        ann["id"].is_number() && ann["created_at"].is_string(),
        "{ann}"
    );
    let mut ids = Vec::new();
    for (title, pages, isbn) in [("A", 100, "I-A"), ("B", 200, "I-B"), ("C", 300, "I-C")] {
        let rec = s
            .post(
                "/api/books",
                json!({"title": title, "pages": pages, "isbn": isbn, "author_id": ann["id"]}),
            )
            .await
            .expect(201);
        assert_eq!(
            (rec["title"].as_str(), rec["pages"].as_i64()),
            (Some(title), Some(pages))
        );
        ids.push(id_of(&rec));
    }
    let read = s.get(&format!("/api/books/{}", ids[0])).await.expect(200);
    assert_eq!(read["title"], "A");
    assert_eq!(read["author_id"], ann["id"]);

    // Update with a flat body.
    let updated = s
        .call(
            Method::PATCH,
            &format!("/api/books/{}", ids[0]),
            Some(json!({"pages": 111})),
        )
        .await
        .expect(200);
    assert_eq!(
        (updated["pages"].as_i64(), updated["title"].as_str()),
        (Some(111), Some("A"))
    );

    // List: filter (JSON, URL-encoded), order_by, count.
    let filter = json!({"pages": {"$gte": 200}}).to_string();
    let listed = s
        .get_query(
            "/api/books",
            &[
                ("filter", filter.clone()),
                ("order_by", "-pages".into()),
                ("count", "true".into()),
            ],
        )
        .await
        .expect(200);
    assert_eq!(titles(&listed), ["C", "B"]);
    assert_eq!(listed["count"], 2);
    assert!(listed.get("next_cursor").is_none(), "{listed}");

    // limit and offset.
    let page = s
        .get_query(
            "/api/books",
            &[
                ("order_by", "title".into()),
                ("limit", "1".into()),
                ("offset", "1".into()),
            ],
        )
        .await
        .expect(200);
    assert_eq!(titles(&page), ["B"]);

    // Cursor paging.
    let first = s
        .get_query(
            "/api/books",
            &[("order_by", "title".into()), ("limit", "2".into())],
        )
        .await
        .expect(200);
    assert_eq!(titles(&first), ["A", "B"]);
    let cursor = first["next_cursor"]
        .as_str()
        .unwrap_or_else(|| panic!("a next_cursor: {first}"))
        .to_string();
    let second = s
        .get_query(
            "/api/books",
            &[
                ("order_by", "title".into()),
                ("limit", "2".into()),
                ("cursor", cursor),
            ],
        )
        .await
        .expect(200);
    assert_eq!(titles(&second), ["C"]);
    assert!(second.get("next_cursor").is_none(), "{second}");

    // fields: the asked fields and the id.
    let slim = s
        .get_query(
            "/api/books",
            &[("fields", "title".into()), ("order_by", "title".into())],
        )
        .await
        .expect(200);
    for r in records(&slim) {
        let mut keys: Vec<&str> = r.as_object().unwrap().keys().map(String::as_str).collect();
        keys.sort();
        assert_eq!(keys, ["id", "title"], "{r}");
    }

    // Count.
    let counted = s
        .get_query("/api/books/count", &[("filter", filter.clone())])
        .await
        .expect(200);
    assert_eq!(counted, json!({"count": 2}));
    let all = s.get("/api/books/count").await.expect(200);
    assert_eq!(all, json!({"count": 3}));

    // Upsert: created, then updated.
    let up = json!({"where": {"isbn": "I-D"}, "create": {"title": "D"}, "update": {"pages": 5}});
    let created = s
        .call(Method::PUT, "/api/books", Some(up.clone()))
        .await
        .expect(200);
    assert_eq!(created["action"], "created", "{created}");
    assert_eq!(created["record"]["title"], "D");
    let again = s
        .call(Method::PUT, "/api/books", Some(up))
        .await
        .expect(200);
    assert_eq!(again["action"], "updated", "{again}");
    assert_eq!(again["record"]["pages"], 5);
    assert_eq!(again["record"]["id"], created["record"]["id"]);

    // Bulk create, bulk update, bulk upsert, bulk delete.
    let bulk = s
        .post(
            "/api/books/bulk",
            json!({"data": [{"title": "E", "isbn": "I-E"}, {"title": "F", "isbn": "I-F"}]}),
        )
        .await
        .expect(200);
    assert_eq!(bulk["inserted"], 2, "{bulk}");
    assert_eq!(bulk["skipped"], 0);
    assert_eq!(bulk["ids"].as_array().map(Vec::len), Some(2));
    assert_eq!(bulk["errors"], json!([]));
    let changed = s
        .call(
            Method::PATCH,
            "/api/books/bulk",
            Some(json!({"filter": {"title": {"$in": ["E", "F"]}}, "fields": {"pages": 7}})),
        )
        .await
        .expect(200);
    assert_eq!(changed, json!({"updated": 2}));
    let upserted = s
        .call(
            Method::PUT,
            "/api/books/bulk",
            Some(json!({
                "data": [{"title": "E2", "isbn": "I-E"}, {"title": "G", "isbn": "I-G"}],
                "conflict_on": ["isbn"],
            })),
        )
        .await
        .expect(200);
    assert_eq!(upserted["inserted"], 1, "{upserted}");
    assert_eq!(upserted["updated"], 1, "{upserted}");
    let e2 = s
        .get_query(
            "/api/books",
            &[("filter", json!({"isbn": "I-E"}).to_string())],
        )
        .await
        .expect(200);
    assert_eq!(titles(&e2), ["E2"]);
    assert_eq!(records(&e2)[0]["pages"], 7, "bulk upsert kept other fields");
    let removed = s
        .post(
            "/api/books/bulk-delete",
            json!({"filter": {"isbn": {"$in": ["I-E", "I-F", "I-G"]}}}),
        )
        .await
        .expect(200);
    assert_eq!(removed, json!({"deleted": 3}));

    // Delete, then the record is gone.
    let deleted = s
        .call(Method::DELETE, &format!("/api/books/{}", ids[2]), None)
        .await
        .expect(200);
    assert_eq!(deleted["deleted"], true, "{deleted}");
    s.get(&format!("/api/books/{}", ids[2]))
        .await
        .error(404, "not_found");

    // The uniform door gives what the REST routes give, for the same params.
    let params = json!({"filter": {"pages": {"$lt": 1000}}, "order_by": "title", "count": true});
    let by_node = s.post("/nodes/BookListNode", params).await.expect(200);
    let by_rest = s
        .get_query(
            "/api/books",
            &[
                ("filter", json!({"pages": {"$lt": 1000}}).to_string()),
                ("order_by", "title".into()),
                ("count", "true".into()),
            ],
        )
        .await
        .expect(200);
    assert_eq!(by_node, by_rest);
    assert_eq!(titles(&by_node), ["A", "B", "D"]);
    let read_node = s
        .post("/nodes/BookReadNode", json!({"id": updated["id"]}))
        .await
        .expect(200);
    assert_eq!(
        read_node,
        s.get(&format!("/api/books/{}", ids[0])).await.expect(200)
    );
    let count_node = s.post("/nodes/BookCountNode", json!({})).await.expect(200);
    assert_eq!(count_node, s.get("/api/books/count").await.expect(200));
    let made = s
        .post("/nodes/AuthorCreateNode", json!({"name": "Bo"}))
        .await
        .expect(201);
    assert_eq!(made["name"], "Bo");
    let upd = s
        .post(
            "/nodes/AuthorUpdateNode",
            json!({"id": made["id"], "fields": {"name": "Bob"}}),
        )
        .await
        .expect(200);
    assert_eq!(
        upd,
        s.get(&format!("/api/authors/{}", id_of(&made)))
            .await
            .expect(200)
    );
    let del = s
        .post("/nodes/AuthorDeleteNode", json!({"id": made["id"]}))
        .await
        .expect(200);
    assert_eq!(del["deleted"], true);
    s.shutdown().await;
}

// ---------------------------------------------------------------------------------------------
// 2. Errors.

async fn errors_have_one_format_and_the_right_status(b: Backend) {
    let Some(url) = common::fresh_shared_url(b).await else {
        return;
    };
    let s = Server::start(builder(&url).models(catalogue()).set("body_limit", 1024)).await;
    s.ready().await;

    // Validation names the field.
    let e = s
        .post("/api/books", json!({"title": 5}))
        .await
        .error(400, "validation");
    assert_eq!(e["field"], "title", "{e}");
    let e = s
        .post("/api/books", json!({"pages": 3}))
        .await
        .error(400, "validation");
    assert_eq!(e["field"], "title", "{e}");
    let e = s
        .get_query("/api/books", &[("filter", json!({"nope": 1}).to_string())])
        .await
        .error(400, "validation");
    assert!(
        e["field"].as_str().is_some_and(|f| f.contains("nope")),
        "{e}"
    );
    let e = s
        .get_query("/api/books", &[("limit", "0".into())])
        .await
        .error(400, "validation");
    assert_eq!(e["field"], "limit");

    // Not found: an unknown table, an unknown id, an unknown route, an unknown node.
    s.get("/api/nopes").await.error(404, "not_found");
    s.post("/api/nopes", json!({}))
        .await
        .error(404, "not_found");
    s.get("/api/books/999999").await.error(404, "not_found");
    s.get("/no/such/route").await.error(404, "not_found");
    s.post("/nodes/NopeCreateNode", json!({}))
        .await
        .error(404, "not_found");
    s.post("/nodes/Gibberish", json!({}))
        .await
        .error(404, "not_found");

    // Wrong method.
    s.call(Method::DELETE, "/api/books", None)
        .await
        .error(405, "method_not_allowed");
    s.call(Method::GET, "/api/books/bulk-delete", None)
        .await
        .error(405, "method_not_allowed");

    // A unique conflict.
    s.post("/api/authors", json!({"name": "Ann"}))
        .await
        .expect(201);
    let e = s
        .post("/api/authors", json!({"name": "Ann"}))
        .await
        .error(409, "conflict");
    assert!(e.get("field").is_some(), "{e}");

    // Malformed JSON.
    let bad = s
        .send(
            s.req(Method::POST, "/api/books")
                .header("content-type", "application/json")
                .body("{\"title\": "),
        )
        .await;
    bad.error(400, "validation");
    let bad = s
        .send(
            s.req(Method::PATCH, "/api/books/1")
                .header("content-type", "application/json")
                .body("[1, 2"),
        )
        .await;
    bad.error(400, "validation");

    // A body over body_limit.
    let big = json!({"title": "x".repeat(4096)}).to_string();
    let r = s
        .send(
            s.req(Method::POST, "/api/books")
                .header("content-type", "application/json")
                .body(big),
        )
        .await;
    r.error(413, "payload_too_large");

    // The request id: echoed when sent, generated when not.
    let r = s
        .send(
            s.req(Method::GET, "/api/books")
                .header("x-request-id", "req-42"),
        )
        .await;
    assert_eq!(r.header("x-request-id"), Some("req-42"));
    let r = s.get("/api/books/999999").await;
    assert_eq!(r.status, StatusCode::NOT_FOUND);
    let generated = r.header("x-request-id").unwrap_or_default().to_string();
    assert!(!generated.is_empty(), "a generated request id");
    let other = s.get("/health/live").await;
    assert_ne!(other.header("x-request-id"), Some(generated.as_str()));
    s.shutdown().await;
}

// ---------------------------------------------------------------------------------------------
// 3. Restarts with persisted models; a second application; an additive migration.

async fn restart_serves_persisted_models(b: Backend) {
    let Some(url) = common::fresh_shared_url(b).await else {
        return;
    };
    let s = Server::start(builder(&url).models(catalogue())).await;
    s.ready().await;
    let ann = s
        .post("/api/authors", json!({"name": "Ann"}))
        .await
        .expect(201);
    s.post(
        "/api/books",
        json!({"title": "Kept", "author_id": ann["id"]}),
    )
    .await
    .expect(201);
    s.shutdown().await;

    // The same application again: its data is there.
    let s = Server::start(builder(&url).models(catalogue())).await;
    s.ready().await;
    let listed = s.get("/api/books").await.expect(200);
    assert_eq!(titles(&listed), ["Kept"]);

    // A second application declaring no models serves the first one's, with their data, even
    // when asked before it has loaded them.
    let other = Server::start(builder(&url).set("ready_wait_ms", WAIT.as_millis() as u64)).await;
    let listed = other.get("/api/books").await.expect(200);
    assert_eq!(titles(&listed), ["Kept"]);
    let board = other.ready().await;
    assert_eq!(
        board["features"]["model:Book"]["state"], "ready",
        "{board:#}"
    );
    other
        .post("/api/books", json!({"title": "From the other app"}))
        .await
        .expect(201);
    assert_eq!(s.get("/api/books/count").await.expect(200)["count"], 2);
    other.shutdown().await;
    s.shutdown().await;
}

async fn additive_migration_applies_on_restart(b: Backend) {
    let Some(url) = common::fresh_shared_url(b).await else {
        return;
    };
    let s = Server::start(builder(&url).models(catalogue())).await;
    s.ready().await;
    s.post("/api/books", json!({"title": "Old"}))
        .await
        .expect(201);
    s.shutdown().await;

    let v2 = book().field(FieldDef::string("subtitle").max_length(100).optional());
    let s = Server::start(builder(&url).models([author(), v2])).await;
    s.ready().await;
    let made = s
        .post(
            "/api/books",
            json!({"title": "New", "subtitle": "with more"}),
        )
        .await
        .expect(201);
    assert_eq!(made["subtitle"], "with more");
    let listed = s
        .get_query("/api/books", &[("order_by", "title".into())])
        .await
        .expect(200);
    assert_eq!(titles(&listed), ["New", "Old"]);
    assert_eq!(records(&listed)[1]["subtitle"], Value::Null);
    let found = s
        .get_query(
            "/api/books",
            &[(
                "filter",
                json!({"subtitle": {"$like": "with%"}}).to_string(),
            )],
        )
        .await
        .expect(200);
    assert_eq!(titles(&found), ["New"]);
    s.shutdown().await;

    let store = Store::connect(&StoreConfig::new(&url), Schema::default())
        .await
        .expect("connect");
    let history = Registry::open(&store)
        .await
        .unwrap()
        .history(Some("Book"))
        .await
        .unwrap();
    let versions: Vec<(Value, Value)> = history
        .iter()
        .map(|m| (m["to_version"].clone(), m["status"].clone()))
        .collect();
    assert_eq!(
        versions,
        [(json!(1), json!("applied")), (json!(2), json!("applied"))]
    );
    store.close().await;
}

// ---------------------------------------------------------------------------------------------
// 4. A destructive change is refused for that model only.

async fn destructive_change_fails_that_model_only(b: Backend) {
    let Some(url) = common::fresh_shared_url(b).await else {
        return;
    };
    let s = Server::start(builder(&url).models(catalogue())).await;
    s.ready().await;
    s.post("/api/books", json!({"title": "Kept", "pages": 10}))
        .await
        .expect(201);
    s.shutdown().await;

    // Book without `pages`: dropping a column is destructive.
    let v2 = ModelDef::new("Book")
        .field(FieldDef::string("title").max_length(200))
        .field(FieldDef::string("isbn").max_length(20).unique().optional())
        .field(
            FieldDef::integer("author_id")
                .references("Author")
                .optional(),
        );
    let s = Server::start(builder(&url).models([author(), v2])).await;
    let state = settled(&s.handle, "model:Book").await;
    let State::Failed(reason) = state else {
        panic!("expected model:Book to fail, got {state:?}");
    };
    assert!(reason.contains("pages"), "{reason}");
    assert_eq!(settled(&s.handle, "model:Author").await, State::Ready);

    let r = s.get("/health/ready").await;
    assert_eq!(r.status, StatusCode::SERVICE_UNAVAILABLE, "{:#}", r.body);
    let book_feature = &r.body["features"]["model:Book"];
    assert_eq!(book_feature["state"], "failed", "{:#}", r.body);
    assert_eq!(book_feature["reason"], reason.as_str());
    assert_eq!(r.body["features"]["model:Author"]["state"], "ready");

    for req in [
        s.req(Method::GET, "/api/books"),
        s.req(Method::POST, "/api/books")
            .json(&json!({"title": "x"})),
        s.req(Method::POST, "/nodes/BookCountNode").json(&json!({})),
    ] {
        let r = s.send(req).await;
        assert!(r.header("retry-after").is_some(), "{r:?}");
        let e = r.error(503, "not_ready");
        assert!(
            e["message"].as_str().unwrap_or_default().contains("pages"),
            "the reason is in the error: {e}"
        );
    }
    // Author serves.
    s.post("/api/authors", json!({"name": "Still"}))
        .await
        .expect(201);
    assert_eq!(s.get("/api/authors/count").await.expect(200)["count"], 1);
    s.shutdown().await;
}

// ---------------------------------------------------------------------------------------------
// 5. ready_wait_ms: a model that does not come up in time answers 503 with Retry-After.

/// A database URL that cannot be served: on PostgreSQL and MySQL a port that accepts and hangs
/// up (the forwarder, never opened); on SQLite a file in a directory that does not exist.
async fn unreachable_url(b: Backend) -> Option<(String, Option<Forwarder>)> {
    match b {
        Backend::Sqlite => {
            let dir = std::env::temp_dir()
                .join("flowgate-tests")
                .join(common::unique_name("missing"))
                .join("deeper");
            Some((format!("sqlite://{}/x.db", dir.display()), None))
        }
        _ => {
            let url = common::fresh_url(b).await?;
            let (url, fwd) = Forwarder::in_front_of(&url).await;
            Some((url, Some(fwd)))
        }
    }
}

async fn not_ready_within_the_wait_is_503(b: Backend) {
    let Some((url, _fwd)) = unreachable_url(b).await else {
        return;
    };
    let s = Server::start(builder(&url).models(catalogue()).set("ready_wait_ms", 200)).await;
    s.get("/health/live").await.expect(200);
    for req in [
        s.req(Method::GET, "/api/books"),
        s.req(Method::POST, "/api/authors")
            .json(&json!({"name": "x"})),
        s.req(Method::POST, "/nodes/AuthorListNode")
            .json(&json!({})),
    ] {
        let r = s.send(req).await;
        let secs: u64 = r
            .header("retry-after")
            .and_then(|v| v.parse().ok())
            .unwrap_or_else(|| panic!("a Retry-After in seconds: {r:?}"));
        assert!(secs >= 1);
        let e = r.error(503, "not_ready");
        assert!(e["details"]["state"].is_string(), "{e}");
    }
    // Until the registry has loaded the persisted models, an unknown table may still be one of
    // them: not a 404 yet.
    let r = s.get("/api/nopes").await;
    assert!(r.header("retry-after").is_some(), "{r:?}");
    r.error(503, "not_ready");
    let r = s.get("/health/ready").await;
    assert_eq!(r.status, StatusCode::SERVICE_UNAVAILABLE, "{:#}", r.body);
    s.shutdown().await;
}

// ---------------------------------------------------------------------------------------------
// 6. A model registered at run time.

async fn register_model_at_run_time(b: Backend) {
    let Some(url) = common::fresh_shared_url(b).await else {
        return;
    };
    let s = Server::start(builder(&url).models(catalogue())).await;
    s.ready().await;
    s.get("/api/reviews").await.error(404, "not_found");

    let review = ModelDef::new("Review")
        .field(FieldDef::integer("book_id").references("Book"))
        .field(FieldDef::integer("stars"));
    s.handle.register_model(review).await.expect("register");
    assert_eq!(
        s.handle.board().state(&Feature::model("Review")),
        Some(State::Ready)
    );

    let book = s
        .post("/api/books", json!({"title": "Reviewed"}))
        .await
        .expect(201);
    let r = s
        .post("/api/reviews", json!({"book_id": book["id"], "stars": 4}))
        .await
        .expect(201);
    assert_eq!(r["stars"], 4);
    let listed = s.get("/api/reviews").await.expect(200);
    assert_eq!(records(&listed).len(), 1);
    s.post("/nodes/ReviewCountNode", json!({}))
        .await
        .expect(200);
    let board = s.ready().await;
    assert_eq!(
        board["features"]["model:Review"]["state"], "ready",
        "{board:#}"
    );
    // The other models kept serving.
    assert_eq!(s.get("/api/books/count").await.expect(200)["count"], 1);

    // A model that cannot be registered is refused with the reason, and nothing else changes.
    let bad = ModelDef::new("Broken").field(FieldDef::integer("x").references("Nowhere"));
    let err = s.handle.register_model(bad).await.expect_err("refused");
    assert_eq!(err.code(), "validation", "{err}");
    assert_eq!(s.get("/api/books/count").await.expect(200)["count"], 1);
    s.shutdown().await;
}

// ---------------------------------------------------------------------------------------------
// 7. The database is unreachable at start, then comes up.

/// A TCP forwarder on 127.0.0.1: while closed it accepts and hangs up at once (the database
/// looks down); once opened it forwards every new connection to the real database.
struct Forwarder {
    open: Arc<AtomicBool>,
    accepted: Arc<AtomicUsize>,
    task: JoinHandle<()>,
}

impl Forwarder {
    /// Starts a closed forwarder to `url`'s host and port; gives `url` pointed at it.
    async fn in_front_of(url: &str) -> (String, Forwarder) {
        let scheme_end = url.find("://").expect("a URL") + 3;
        let rest = &url[scheme_end..];
        let authority_end = rest.find(['/', '?']).unwrap_or(rest.len());
        let authority = &rest[..authority_end];
        let (user, host_port) = match authority.rsplit_once('@') {
            Some((u, h)) => (format!("{u}@"), h),
            None => (String::new(), authority),
        };
        let target = if host_port.contains(':') {
            host_port.to_string()
        } else if url.starts_with("mysql") {
            format!("{host_port}:3306")
        } else {
            format!("{host_port}:5432")
        };
        let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind");
        let addr: SocketAddr = listener.local_addr().expect("addr");
        let open = Arc::new(AtomicBool::new(false));
        let accepted = Arc::new(AtomicUsize::new(0));
        let (o, a) = (open.clone(), accepted.clone());
        let task = tokio::spawn(async move {
            loop {
                let Ok((mut inbound, _)) = listener.accept().await else {
                    continue;
                };
                a.fetch_add(1, Ordering::SeqCst);
                if !o.load(Ordering::SeqCst) {
                    drop(inbound);
                    continue;
                }
                let target = target.clone();
                tokio::spawn(async move {
                    if let Ok(mut outbound) = TcpStream::connect(&target).await {
                        let _ = tokio::io::copy_bidirectional(&mut inbound, &mut outbound).await;
                    }
                });
            }
        });
        let new_url = format!(
            "{}{user}{addr}{}",
            &url[..scheme_end],
            &rest[authority_end..]
        );
        (
            new_url,
            Forwarder {
                open,
                accepted,
                task,
            },
        )
    }

    fn open(&self) {
        self.open.store(true, Ordering::SeqCst);
    }
}

impl Drop for Forwarder {
    fn drop(&mut self) {
        self.task.abort();
    }
}

async fn comes_up_when_the_database_does(b: Backend) {
    let Some(url) = common::fresh_url(b).await else {
        return;
    };
    let (url, fwd) = Forwarder::in_front_of(&url).await;
    let s = Server::start(builder(&url).models(catalogue())).await;
    // The port is bound at once, whatever the database does.
    s.get("/health/live").await.expect(200);

    // The board says the database is starting, with the reason it retries.
    let deadline = Instant::now() + WAIT;
    loop {
        let r = s.get("/health/ready").await;
        assert_eq!(r.status, StatusCode::SERVICE_UNAVAILABLE, "{:#}", r.body);
        let db = &r.body["features"]["database"];
        assert_eq!(db["state"], "starting", "{:#}", r.body);
        if db["reason"]
            .as_str()
            .is_some_and(|m| m.contains("retrying"))
        {
            break;
        }
        assert!(Instant::now() < deadline, "no retry reason: {:#}", r.body);
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    assert!(fwd.accepted.load(Ordering::SeqCst) >= 1);
    assert_eq!(
        s.handle.board().state(&Feature::model("Book")),
        Some(State::Pending)
    );

    // The database comes up: the server gets ready by itself.
    fwd.open();
    let board = s.ready().await;
    assert_eq!(board["features"]["database"]["state"], "ready");
    s.post("/api/authors", json!({"name": "Late"}))
        .await
        .expect(201);
    s.shutdown().await;
}

mod unreachable_database {
    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn postgres() {
        super::comes_up_when_the_database_does(super::Backend::Postgres).await
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn mysql() {
        super::comes_up_when_the_database_does(super::Backend::MySql).await
    }
}

// ---------------------------------------------------------------------------------------------
// 8. Two servers start at once on one database.

async fn two_servers_start_together(b: Backend) {
    let Some(url) = common::fresh_shared_url(b).await else {
        return;
    };
    let (one, two) = tokio::join!(
        Server::start(builder(&url).models(catalogue())),
        Server::start(builder(&url).models(catalogue()))
    );
    tokio::join!(one.ready(), two.ready());
    let ann = one
        .post("/api/authors", json!({"name": "Ann"}))
        .await
        .expect(201);
    let seen = two
        .get(&format!("/api/authors/{}", id_of(&ann)))
        .await
        .expect(200);
    assert_eq!(seen, ann);
    two.post("/api/books", json!({"title": "T", "author_id": ann["id"]}))
        .await
        .expect(201);
    assert_eq!(one.get("/api/books/count").await.expect(200)["count"], 1);

    let store = Store::connect(&StoreConfig::new(&url), Schema::default())
        .await
        .expect("connect");
    let history = Registry::open(&store)
        .await
        .unwrap()
        .history(None)
        .await
        .unwrap();
    let mut migrated: Vec<&str> = history
        .iter()
        .map(|m| m["model"].as_str().unwrap_or("?"))
        .collect();
    migrated.sort();
    assert_eq!(
        migrated,
        ["Author", "Book"],
        "each migration once: {history:#?}"
    );
    store.close().await;
    tokio::join!(one.shutdown(), two.shutdown());
}

// ---------------------------------------------------------------------------------------------
// 9. A node panics: its model comes back, the others never stop.

async fn node_panic_is_recovered(b: Backend) {
    let Some(url) = common::fresh_shared_url(b).await else {
        return;
    };
    let s = Arc::new(Server::start(builder(&url).models(catalogue())).await);
    s.ready().await;
    s.post("/api/authors", json!({"name": "Ann"}))
        .await
        .expect(201);

    // Book keeps serving while Author's node panics and restarts.
    let stop = Arc::new(AtomicBool::new(false));
    let watcher = {
        let (s, stop) = (s.clone(), stop.clone());
        tokio::spawn(async move {
            let mut served = 0;
            while !stop.load(Ordering::SeqCst) {
                s.get("/api/books").await.expect(200);
                served += 1;
            }
            served
        })
    };
    s.handle.panic_node("Author").await;
    let deadline = Instant::now() + WAIT;
    let mut answers = Vec::new();
    loop {
        let r = s.get("/api/authors").await;
        if r.status == StatusCode::OK {
            assert_eq!(records(&r.body).len(), 1);
            break;
        }
        // While it restarts, the model answers 503, never anything else.
        assert_eq!(r.status, StatusCode::SERVICE_UNAVAILABLE, "{:#}", r.body);
        assert!(r.body["error"]["code"].is_string(), "{:#}", r.body);
        answers.push(r.body["error"]["code"].clone());
        assert!(
            Instant::now() < deadline,
            "Author never came back: {answers:?}"
        );
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    s.post("/api/authors", json!({"name": "Bo"}))
        .await
        .expect(201);
    stop.store(true, Ordering::SeqCst);
    let served = watcher.await.expect("Book kept serving");
    assert!(served >= 1);
    assert_eq!(
        s.handle.board().state(&Feature::model("Author")),
        Some(State::Ready)
    );
    assert_eq!(
        s.handle.board().state(&Feature::model("Book")),
        Some(State::Ready)
    );
    let s = Arc::into_inner(s).expect("the watcher is done");
    s.shutdown().await;
}

// ---------------------------------------------------------------------------------------------
// 10. Graceful shutdown.

async fn shutdown_closes_the_port(b: Backend) {
    let Some(url) = common::fresh_shared_url(b).await else {
        return;
    };
    let s = Server::start(builder(&url).models(catalogue())).await;
    s.ready().await;
    s.post("/api/authors", json!({"name": "Ann"}))
        .await
        .expect(201);
    let addr = s.handle.http_addr();
    s.shutdown().await;
    assert!(
        TcpStream::connect(addr).await.is_err(),
        "the port still accepts after shutdown"
    );
    assert!(
        client()
            .get(format!("http://{addr}/health/live"))
            .send()
            .await
            .is_err()
    );

    // The data was written through before the pool closed.
    let s = Server::start(builder(&url).models(catalogue())).await;
    s.ready().await;
    assert_eq!(s.get("/api/authors/count").await.expect(200)["count"], 1);
    s.shutdown().await;
}

conformance!(
    starts_at_once_then_serves_every_route,
    errors_have_one_format_and_the_right_status,
    restart_serves_persisted_models,
    additive_migration_applies_on_restart,
    destructive_change_fails_that_model_only,
    not_ready_within_the_wait_is_503,
    register_model_at_run_time,
    two_servers_start_together,
    node_panic_is_recovered,
    shutdown_closes_the_port,
);
