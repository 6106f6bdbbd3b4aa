//! What a client sends cannot take the HTTP gateway down or make it lie (issue 10, items 4, 10
//! and 11), end to end over real sockets against a server started with `Supervisor`:
//!
//! - half-sent requests are timed out (408 in the error format) and capped, and `/health/live`
//!   answers while hundreds of them sit on the port;
//! - heads that are too long or malformed get the error object, not hyper's empty answers;
//! - a browser page on another origin cannot write: foreign `Host` and `Origin` are 403, bodies
//!   need a JSON content type (415), and only `cors_origins` get CORS answers;
//! - query strings and paths decode strictly (invalid UTF-8, a repeated parameter: 400 naming it).
//!
//! No timing assertions: waits are bounded polls that fail after [`WAIT`].
#![allow(missing_docs)]

mod common;

use common::{http_client as client, server_builder as builder};
use flowgate::{FieldDef, ModelDef};
use flowgate_actors::{Config, Handle};
use serde_json::{Map, Value, json};
use std::net::SocketAddr;
use std::time::{Duration, Instant};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

/// The longest any wait lasts before the test fails.
const WAIT: Duration = Duration::from_secs(20);

fn book() -> ModelDef {
    ModelDef::new("Book")
        .field(FieldDef::string("title").max_length(200))
        .field(FieldDef::integer("pages").optional())
        .field(FieldDef::decimal("price").optional())
}

async fn start(settings: &[(&str, Value)]) -> Handle {
    let mut b = builder("sqlite::memory:").model(book());
    for (k, v) in settings {
        b = b.set(k, v.clone());
    }
    let handle = b.start().await.expect("server starts");
    let deadline = Instant::now() + WAIT;
    while handle.board().to_json()["ready"] != true {
        assert!(Instant::now() < deadline, "server never became ready");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    handle
}

/// An answer read off a raw connection: status, headers (lower-case names), body.
#[derive(Debug)]
struct Raw {
    status: u16,
    headers: Vec<(String, String)>,
    body: String,
}

impl Raw {
    fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(n, _)| n == name)
            .map(|(_, v)| v.as_str())
    }

    fn json(&self) -> Value {
        serde_json::from_str(&self.body)
            .unwrap_or_else(|e| panic!("body is not JSON ({e}): {:?}", self.body))
    }

    /// Asserts the documented error answer: JSON content type, `{"error": {"code", "message"}}`.
    fn assert_error(&self, status: u16, code: &str) {
        assert_eq!(self.status, status, "{self:?}");
        assert_eq!(
            self.header("content-type"),
            Some("application/json"),
            "{self:?}"
        );
        let v = self.json();
        assert_eq!(v["error"]["code"], code, "{v}");
        assert!(v["error"]["message"].is_string(), "{v}");
        assert!(self.header("x-request-id").is_some(), "{self:?}");
    }
}

fn parse_raw(bytes: &[u8]) -> Raw {
    let text = String::from_utf8_lossy(bytes);
    let (head, body) = text
        .split_once("\r\n\r\n")
        .unwrap_or_else(|| panic!("no complete answer: {text:?}"));
    let mut lines = head.split("\r\n");
    let status = lines
        .next()
        .and_then(|l| l.split(' ').nth(1))
        .and_then(|s| s.parse().ok())
        .unwrap_or_else(|| panic!("no status line: {head:?}"));
    let headers = lines
        .filter_map(|l| l.split_once(':'))
        .map(|(n, v)| (n.trim().to_ascii_lowercase(), v.trim().to_string()))
        .collect();
    Raw {
        status,
        headers,
        body: body.to_string(),
    }
}

/// Sends `bytes` on a new connection and reads until the server closes it.
async fn raw(addr: SocketAddr, bytes: &[u8]) -> Raw {
    let mut tcp = TcpStream::connect(addr).await.expect("connect");
    tcp.write_all(bytes).await.expect("send");
    let mut out = Vec::new();
    tokio::time::timeout(WAIT, tcp.read_to_end(&mut out))
        .await
        .expect("the server never closed the connection")
        .ok();
    parse_raw(&out)
}

/// The open file descriptors of this process (server and test client alike).
fn open_fds() -> usize {
    std::fs::read_dir("/proc/self/fd").map_or(0, |d| d.count())
}

// ---------------------------------------------------------------------------------------------
// Item 4: half-sent requests.

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn half_sent_requests_are_capped_and_timed_out() {
    const CAP: usize = 40;
    const FLOOD: usize = 300;
    let h = start(&[
        ("header_timeout_ms", json!(1500)),
        ("idle_timeout_ms", json!(1500)),
        ("max_connections", json!(CAP)),
    ])
    .await;
    let addr = h.http_addr();
    let base = open_fds();

    // Half a request line each, never finished.
    let mut flood = Vec::new();
    for _ in 0..FLOOD {
        let mut tcp = TcpStream::connect(addr).await.expect("connect");
        tcp.write_all(b"GET /health/live HT").await.expect("send");
        flood.push(tcp);
    }
    // The server holds at most its cap of them (plus a few on their way out): the rest of the
    // descriptors are the test's own client ends.
    let mut held = usize::MAX;
    let deadline = Instant::now() + WAIT;
    while Instant::now() < deadline {
        held = open_fds().saturating_sub(base + FLOOD);
        if held <= CAP + 8 {
            break;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    assert!(
        held <= CAP + 8,
        "the server holds {held} descriptors for {FLOOD} half-sent requests (cap {CAP})"
    );

    // Liveness still answers, from a new connection, while the flood sits there.
    let live = client()
        .get(format!("http://{addr}/health/live"))
        .send()
        .await
        .expect("/health/live answers under the flood");
    assert_eq!(live.status(), 200);

    // Every flooding connection is closed: the oldest to make room (quietly), the newest once
    // their header timeout passes, with 408 in the error format.
    let mut timed_out = 0;
    for mut tcp in flood {
        let mut out = Vec::new();
        tokio::time::timeout(WAIT, tcp.read_to_end(&mut out))
            .await
            .expect("a half-sent request was never closed")
            .ok();
        if !out.is_empty() {
            parse_raw(&out).assert_error(408, "request_timeout");
            timed_out += 1;
        }
    }
    assert!(timed_out > 0, "no connection got its 408");
    assert!(
        timed_out <= CAP,
        "{timed_out} connections waited out their timeout, more than the cap {CAP}"
    );

    // A connection that sends nothing at all is closed after the timeout too.
    let mut silent = TcpStream::connect(addr).await.expect("connect");
    let mut out = Vec::new();
    tokio::time::timeout(WAIT, silent.read_to_end(&mut out))
        .await
        .expect("a silent connection was never closed")
        .ok();
    assert!(out.is_empty(), "a silent connection got {out:?}");

    // Keep-alive still works: two requests on one connection.
    let c = client();
    for _ in 0..2 {
        let r = c
            .get(format!("http://{addr}/health/live"))
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), 200);
    }
    h.shutdown().await;
}

// ---------------------------------------------------------------------------------------------
// Item 11: every error is the documented JSON object.

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn heads_too_long_or_malformed_get_the_error_object() {
    let h = start(&[]).await;
    let addr = h.http_addr();

    let big = "a".repeat(20_000);
    let r = raw(
        addr,
        format!("GET /health/live HTTP/1.1\r\nHost: 127.0.0.1\r\nX-Big: {big}\r\n\r\n").as_bytes(),
    )
    .await;
    r.assert_error(431, "headers_too_large");

    // 70 KB of headers over several fields.
    let mut head = String::from("GET /health/live HTTP/1.1\r\nHost: 127.0.0.1\r\n");
    for i in 0..70 {
        head.push_str(&format!("X-H{i}: {}\r\n", "b".repeat(1000)));
    }
    head.push_str("\r\n");
    raw(addr, head.as_bytes())
        .await
        .assert_error(431, "headers_too_large");

    let long_path = format!("/api/books?title={big}");
    let r = raw(
        addr,
        format!("GET {long_path} HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n").as_bytes(),
    )
    .await;
    r.assert_error(414, "uri_too_long");

    raw(addr, b"BLAH BLAH BLAH\r\n\r\n")
        .await
        .assert_error(400, "bad_request");

    // A head just under the limit is served.
    let ok = "c".repeat(8_000);
    let r = raw(
        addr,
        format!(
            "GET /health/live HTTP/1.1\r\nHost: 127.0.0.1\r\nX-Ok: {ok}\r\nConnection: close\r\n\r\n"
        )
        .as_bytes(),
    )
    .await;
    assert_eq!(r.status, 200, "{r:?}");

    // A path that is not UTF-8 once decoded: 400 naming the path parameter, as JSON.
    let r = client()
        .get(format!("http://{addr}/api/books/%FF"))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 400);
    let v: Value = r.json().await.unwrap();
    assert_eq!(v["error"]["code"], "validation", "{v}");
    assert_eq!(v["error"]["field"], "id", "{v}");
    h.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn query_strings_decode_strictly() {
    let h = start(&[]).await;
    let base = format!("http://{}", h.http_addr());
    let c = client();
    for (query, field) in [
        ("filter=%FF", "filter"),
        ("limit=1&limit=2", "limit"),
        ("title%FF=x", "title%FF"),
    ] {
        let r = c
            .get(format!("{base}/api/books?{query}"))
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), 400, "{query}");
        let v: Value = r.json().await.unwrap();
        assert_eq!(v["error"]["code"], "validation", "{query}: {v}");
        assert_eq!(v["error"]["field"], field, "{query}: {v}");
    }
    // `+` is a space and percent-escapes decode.
    let r = c
        .post(format!("{base}/api/books"))
        .json(&json!({"title": "a b\u{e9}"}))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 201);
    let r = c
        .get(format!(
            "{base}/api/books?filter=%7B%22title%22:%22a+b%C3%A9%22%7D&limit=5"
        ))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    let v: Value = r.json().await.unwrap();
    assert_eq!(v["records"].as_array().map(Vec::len), Some(1), "{v}");
    h.shutdown().await;
}

// ---------------------------------------------------------------------------------------------
// Item 10: a browser page on another origin cannot write.

async fn count_books(base: &str) -> Value {
    client()
        .get(format!("{base}/api/books/count"))
        .send()
        .await
        .unwrap()
        .json::<Value>()
        .await
        .unwrap()["count"]
        .clone()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn browsers_on_other_origins_cannot_write() {
    let h = start(&[("cors_origins", json!(["https://app.example.com"]))]).await;
    let addr = h.http_addr();
    let base = format!("http://{addr}");
    let c = client();
    let body = r#"{"title": "planted"}"#;

    // What `fetch(url, {method: "POST", mode: "no-cors", body})` sends from another origin.
    let r = c
        .post(format!("{base}/api/books"))
        .header("content-type", "text/plain;charset=UTF-8")
        .header("origin", "https://evil.example")
        .body(body)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 403);
    let v: Value = r.json().await.unwrap();
    assert_eq!(v["error"]["code"], "forbidden", "{v}");
    assert!(
        v["error"]["message"]
            .as_str()
            .unwrap()
            .contains("evil.example")
    );

    // The same body as text/plain without an Origin (not a browser): 415, nothing written.
    let r = c
        .post(format!("{base}/api/books"))
        .header("content-type", "text/plain")
        .body(body)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 415);
    let v: Value = r.json().await.unwrap();
    assert_eq!(v["error"]["code"], "unsupported_media_type", "{v}");
    // A form, and no content type at all, are refused alike; on /nodes too.
    for (path, ct) in [
        ("/api/books", Some("application/x-www-form-urlencoded")),
        ("/api/books", None),
        ("/nodes/BookCreateNode", Some("text/plain")),
    ] {
        let mut req = c.post(format!("{base}{path}")).body(body);
        if let Some(ct) = ct {
            req = req.header("content-type", ct);
        }
        assert_eq!(req.send().await.unwrap().status(), 415, "{path} {ct:?}");
    }
    assert_eq!(count_books(&base).await, 0, "a refused request wrote");

    // DNS rebinding: a foreign Host is refused, reads included.
    let r = raw(
        addr,
        b"GET /api/books HTTP/1.1\r\nHost: attacker.example\r\nConnection: close\r\n\r\n",
    )
    .await;
    r.assert_error(403, "forbidden");

    // JSON with a JSON content type works; `+json` types too; same-origin pages (Swagger UI)
    // and the allowed origin, which gets the CORS headers.
    let r = c
        .post(format!("{base}/api/books"))
        .header("content-type", "application/json; charset=utf-8")
        .header("origin", format!("http://{addr}"))
        .body(body)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 201);
    let r = c
        .post(format!("{base}/api/books"))
        .header("content-type", "application/merge-patch+json")
        .header("origin", "https://app.example.com")
        .body(body)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 201);
    assert_eq!(
        r.headers()
            .get("access-control-allow-origin")
            .and_then(|v| v.to_str().ok()),
        Some("https://app.example.com")
    );
    let preflight = c
        .request(reqwest::Method::OPTIONS, format!("{base}/api/books"))
        .header("origin", "https://app.example.com")
        .header("access-control-request-method", "POST")
        .header("access-control-request-headers", "content-type")
        .send()
        .await
        .unwrap();
    assert!(preflight.status().is_success(), "{}", preflight.status());
    assert_eq!(
        preflight
            .headers()
            .get("access-control-allow-origin")
            .and_then(|v| v.to_str().ok()),
        Some("https://app.example.com")
    );
    let refused = c
        .request(reqwest::Method::OPTIONS, format!("{base}/api/books"))
        .header("origin", "https://evil.example")
        .header("access-control-request-method", "POST")
        .send()
        .await
        .unwrap();
    assert_eq!(refused.status(), 403);
    assert!(
        refused
            .headers()
            .get("access-control-allow-origin")
            .is_none()
    );
    assert_eq!(count_books(&base).await, 2);

    // Bodiless writes need no content type; workflow files keep YAML by content type.
    let r = c
        .delete(format!("{base}/api/books/1"))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    let yaml = "name: one_book\nnodes:\n  - {id: b, type: BookCreateNode, params: {title: \"${title}\"}}\n";
    let r = c
        .post(format!("{base}/workflows"))
        .header("content-type", "application/yaml")
        .body(yaml)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 201, "{:?}", r.text().await);
    let r = c
        .post(format!("{base}/workflows"))
        .header("content-type", "text/plain")
        .body(yaml)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 415);
    h.shutdown().await;
}

// ---------------------------------------------------------------------------------------------
// Item 12: the OpenAPI document describes what the server does (Schemathesis checks the rest in
// `.ci/run`).

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn openapi_describes_what_the_server_does() {
    let h = start(&[]).await;
    let base = format!("http://{}", h.http_addr());
    let c = client();
    let doc: Value = c
        .get(format!("{base}/openapi.json"))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let schemas = &doc["components"]["schemas"];

    // X-Request-ID: the documented maximum holds; a longer one is refused, not echoed.
    let list = &doc["paths"]["/api/books"]["get"];
    let request_id = doc["paths"]["/api/books"]["parameters"]
        .as_array()
        .unwrap()
        .iter()
        .find(|p| p["name"] == "X-Request-ID")
        .unwrap()["schema"]
        .clone();
    assert_eq!(request_id["maxLength"], 128);
    let r = c
        .get(format!("{base}/api/books"))
        .header("x-request-id", "r".repeat(129))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 400);
    assert_ne!(
        r.headers().get("x-request-id").unwrap().len(),
        129,
        "the refused id was echoed"
    );
    let v: Value = r.json().await.unwrap();
    assert_eq!(v["error"]["field"], "X-Request-ID", "{v}");
    let r = c
        .get(format!("{base}/api/books"))
        .header("x-request-id", "r".repeat(128))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    assert_eq!(r.headers().get("x-request-id").unwrap().len(), 128);

    // Decimals: documented as decimal text with a pattern; such text is taken.
    let price = &schemas["Book.Create"]["properties"]["price"];
    assert!(price["pattern"].is_string(), "{price}");
    let r = c
        .post(format!("{base}/api/books"))
        .json(&json!({"title": "Dune", "price": "12.50"}))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 201);

    // `fields=` answers partial records: the list's records are `Book.Fields`, which requires
    // only the id, and every key answered is a documented property.
    let items = &list["responses"]["200"]["content"]["application/json"]["schema"]["properties"]["records"]
        ["items"];
    assert_eq!(items["$ref"], "#/components/schemas/Book.Fields", "{items}");
    assert_eq!(schemas["Book.Fields"]["required"], json!(["id"]));
    let page: Value = c
        .get(format!("{base}/api/books?fields=title"))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let record = page["records"][0].as_object().unwrap();
    assert_eq!(record.len(), 2, "{page}");
    for key in record.keys() {
        assert!(
            schemas["Book.Fields"]["properties"].get(key).is_some(),
            "{key}"
        );
    }

    // `cursor` is never empty, as documented; the server refuses an empty one.
    let cursor = list["parameters"]
        .as_array()
        .unwrap()
        .iter()
        .find(|p| p["name"] == "cursor")
        .unwrap();
    assert_eq!(cursor["schema"]["minLength"], 1, "{cursor}");
    let r = c
        .get(format!("{base}/api/books?cursor="))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 400);
    h.shutdown().await;
}

// ---------------------------------------------------------------------------------------------
// The configuration keys refuse bad values, naming the key.

#[test]
fn connection_settings_are_checked() {
    let layer = |k: &str, v: Value| {
        let mut m = Map::new();
        m.insert(k.into(), v);
        Config::from_layers(&[m])
    };
    for key in ["header_timeout_ms", "idle_timeout_ms", "max_connections"] {
        let e = layer(key, json!(0)).unwrap_err();
        assert!(e.0.contains(key), "{e}");
        let e = layer(key, json!("soon")).unwrap_err();
        assert!(e.0.contains(key), "{e}");
    }
    let e = layer("cors_origins", json!(["*"])).unwrap_err();
    assert!(e.0.contains("cors_origins"), "{e}");
    let c = layer(
        "cors_origins",
        json!(["HTTPS://App.Example.com:443", "http://localhost:5173"]),
    )
    .unwrap();
    assert_eq!(
        c.cors_origins,
        ["https://app.example.com", "http://localhost:5173"]
    );
    let d = Config::default();
    assert_eq!(
        (d.header_timeout_ms, d.idle_timeout_ms, d.max_connections),
        (10_000, 60_000, 4096)
    );
}
