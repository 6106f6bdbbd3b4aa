//! The HTTP router without sockets: `gateway::http::router` over the real `Dispatcher` of a
//! server on an in-memory SQLite database (no listener opened), called with
//! `tower::ServiceExt::oneshot`. The HTTP error paths (no route, wrong method, wrong media type,
//! bad query, body too large, a path that does not decode, a declared model that is not ready),
//! and the conventions (ETag and 304, compression negotiated, `GET /`).
//!
//! No timing assertions.
#![allow(missing_docs)]

#[path = "../../tests/common/mod.rs"]
mod common;

use axum::body::Body;
use axum::http::{Request, Response, StatusCode, header};
use flowgate_actors::{Handle, Supervisor};
use serde_json::{Value, json};
use std::io::Read;
use std::time::Duration;
use tower::ServiceExt;

const BODY_LIMIT: usize = 1024;

/// A server of the shared catalogue (authors and books) on `url` that opens no listener; its
/// router is built by the test.
async fn server(url: &str) -> Handle {
    Supervisor::builder()
        .database_url(url)
        .listeners(false, false)
        .set("body_limit", BODY_LIMIT as u64)
        .set("ready_wait_ms", 200)
        .set("connect_retry_max_ms", 100)
        .models(common::models::catalogue())
        .start()
        .await
        .expect("start")
}

async fn ready_server() -> (Handle, axum::Router) {
    let handle = server("sqlite::memory:").await;
    assert!(handle.wait_ready(Duration::from_secs(10)).await, "ready");
    let router =
        flowgate_actors::gateway::http::router(handle.dispatcher().clone(), handle.config());
    (handle, router)
}

/// One request through the router; the answer and its whole body.
async fn call(router: &axum::Router, req: Request<Body>) -> (Response<()>, Vec<u8>) {
    let resp = router.clone().oneshot(req).await.expect("infallible");
    let (parts, body) = resp.into_parts();
    let bytes = axum::body::to_bytes(body, usize::MAX).await.expect("body");
    (Response::from_parts(parts, ()), bytes.to_vec())
}

fn get(uri: &str) -> axum::http::request::Builder {
    Request::builder()
        .header(header::HOST, "localhost")
        .method("GET")
        .uri(uri)
}

fn json_req(method: &str, uri: &str, body: Value) -> Request<Body> {
    Request::builder()
        .header(header::HOST, "localhost")
        .method(method)
        .uri(uri)
        .header(header::CONTENT_TYPE, "application/json")
        .body(Body::from(body.to_string()))
        .unwrap()
}

/// The error object of an error answer, after checking its status.
fn error_of(resp: &Response<()>, body: &[u8], status: StatusCode) -> Value {
    assert_eq!(resp.status(), status, "{}", String::from_utf8_lossy(body));
    assert_eq!(resp.headers()[header::CONTENT_TYPE], "application/json");
    let v: Value = serde_json::from_slice(body).expect("JSON error");
    v["error"].clone()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn http_error_paths_answer_the_error_object() {
    let (handle, router) = ready_server().await;

    // No route.
    let (resp, body) = call(&router, get("/nope").body(Body::empty()).unwrap()).await;
    let e = error_of(&resp, &body, StatusCode::NOT_FOUND);
    assert_eq!(e["code"], "not_found");
    assert!(resp.headers().contains_key("x-request-id"));

    // A table nobody declared.
    let (resp, body) = call(&router, get("/api/nobody/1").body(Body::empty()).unwrap()).await;
    assert_eq!(
        error_of(&resp, &body, StatusCode::NOT_FOUND)["code"],
        "not_found"
    );

    // A route that does not take the method.
    let req = Request::builder()
        .header(header::HOST, "localhost")
        .method("DELETE")
        .uri("/api/books")
        .body(Body::empty())
        .unwrap();
    let (resp, body) = call(&router, req).await;
    let e = error_of(&resp, &body, StatusCode::METHOD_NOT_ALLOWED);
    assert_eq!(e["code"], "method_not_allowed");

    // A body without a JSON media type: refused, nothing written.
    let req = Request::builder()
        .header(header::HOST, "localhost")
        .method("POST")
        .uri("/api/books")
        .header(header::CONTENT_TYPE, "text/plain")
        .body(Body::from(r#"{"title": "x"}"#))
        .unwrap();
    let (resp, body) = call(&router, req).await;
    let e = error_of(&resp, &body, StatusCode::UNSUPPORTED_MEDIA_TYPE);
    assert_eq!(e["code"], "unsupported_media_type");

    // A body of whitespace alone is not JSON (an empty body is no params): 400, on a node and a
    // model route alike.
    for (method, uri) in [
        ("POST", "/nodes/BookCountNode"),
        ("PATCH", "/api/books/bulk"),
    ] {
        let req = Request::builder()
            .header(header::HOST, "localhost")
            .method(method)
            .uri(uri)
            .header(header::CONTENT_TYPE, "application/json")
            .body(Body::from("\t \n"))
            .unwrap();
        let (resp, body) = call(&router, req).await;
        let e = error_of(&resp, &body, StatusCode::BAD_REQUEST);
        assert_eq!(e["code"], "validation", "{uri}: {e}");
    }

    // Bad query strings: a parameter twice, a value that is not UTF-8, an unknown param.
    for (uri, field) in [
        ("/api/books?limit=1&limit=2", "limit"),
        ("/api/books?filter=%FF", "filter"),
        ("/api/books/count?colour=red", "colour"),
    ] {
        let (resp, body) = call(&router, get(uri).body(Body::empty()).unwrap()).await;
        let e = error_of(&resp, &body, StatusCode::BAD_REQUEST);
        assert_eq!(e["code"], "validation", "{uri}");
        assert_eq!(e["field"], field, "{uri}: {e}");
    }

    // A malformed JSON body.
    let req = Request::builder()
        .header(header::HOST, "localhost")
        .method("POST")
        .uri("/api/books")
        .header(header::CONTENT_TYPE, "application/json")
        .body(Body::from("{\"title\": "))
        .unwrap();
    let (resp, body) = call(&router, req).await;
    assert_eq!(
        error_of(&resp, &body, StatusCode::BAD_REQUEST)["code"],
        "validation"
    );

    // A body over `body_limit`.
    let big = json!({ "title": "a".repeat(BODY_LIMIT + 1) });
    let (resp, body) = call(&router, json_req("POST", "/api/books", big)).await;
    let e = error_of(&resp, &body, StatusCode::PAYLOAD_TOO_LARGE);
    assert_eq!(e["code"], "payload_too_large");

    // A path segment that is not UTF-8 once decoded names the parameter.
    let (resp, body) = call(
        &router,
        get("/api/books/%FF%FE").body(Body::empty()).unwrap(),
    )
    .await;
    let e = error_of(&resp, &body, StatusCode::BAD_REQUEST);
    assert_eq!(e["code"], "validation");
    assert_eq!(e["field"], "id", "{e}");

    // Nothing above wrote anything.
    let (resp, body) = call(
        &router,
        get("/api/books/count").body(Body::empty()).unwrap(),
    )
    .await;
    assert_eq!(resp.status(), StatusCode::OK);
    assert_eq!(serde_json::from_slice::<Value>(&body).unwrap()["count"], 0);

    handle.shutdown().await;
}

/// A model that is declared but cannot get ready (its database cannot be reached): a request
/// waits `ready_wait_ms` on the board, then 503 `not_ready` with `Retry-After`.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_declared_model_that_is_not_ready_answers_503_after_the_wait() {
    let dir = std::env::temp_dir().join(format!("hht_router_{}", std::process::id()));
    // A directory that does not exist: SQLite cannot open the file, the server keeps retrying.
    let url = format!("sqlite://{}/missing/db.sqlite", dir.display());
    let handle = server(&url).await;
    let router =
        flowgate_actors::gateway::http::router(handle.dispatcher().clone(), handle.config());
    let (resp, body) = call(&router, get("/api/books/1").body(Body::empty()).unwrap()).await;
    let e = error_of(&resp, &body, StatusCode::SERVICE_UNAVAILABLE);
    assert_eq!(e["code"], "not_ready", "{e}");
    assert!(resp.headers().contains_key(header::RETRY_AFTER));
    // The board says why.
    let (resp, body) = call(&router, get("/health/ready").body(Body::empty()).unwrap()).await;
    assert_eq!(resp.status(), StatusCode::SERVICE_UNAVAILABLE);
    assert_eq!(
        serde_json::from_slice::<Value>(&body).unwrap()["ready"],
        false
    );
    handle.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn reads_carry_an_etag_and_if_none_match_answers_304() {
    let (handle, router) = ready_server().await;
    let (resp, body) = call(
        &router,
        json_req("POST", "/api/books", json!({"title": "Dune", "pages": 412})),
    )
    .await;
    assert_eq!(resp.status(), StatusCode::CREATED);
    assert!(
        !resp.headers().contains_key(header::ETAG),
        "writes carry no tag"
    );
    let id = serde_json::from_slice::<Value>(&body).unwrap()["id"].clone();
    let by_id = format!("/api/books/{id}");

    for uri in [by_id.as_str(), "/api/books", "/api/books/count"] {
        let (resp, body) = call(&router, get(uri).body(Body::empty()).unwrap()).await;
        assert_eq!(resp.status(), StatusCode::OK, "{uri}");
        let tag = resp.headers()[header::ETAG].to_str().unwrap().to_string();
        assert!(
            tag.starts_with('"') && tag.ends_with('"') && tag.len() == 34,
            "{tag}"
        );
        // The same read again: the same tag.
        let (again, _) = call(&router, get(uri).body(Body::empty()).unwrap()).await;
        assert_eq!(again.headers()[header::ETAG], tag.as_str(), "{uri}");
        // The tag held: 304, no body, the tag again.
        let req = get(uri)
            .header(header::IF_NONE_MATCH, &tag)
            .body(Body::empty())
            .unwrap();
        let (resp304, body304) = call(&router, req).await;
        assert_eq!(resp304.status(), StatusCode::NOT_MODIFIED, "{uri}");
        assert!(body304.is_empty(), "{uri}");
        assert_eq!(resp304.headers()[header::ETAG], tag.as_str());
        // Another tag: the whole answer.
        let req = get(uri)
            .header(header::IF_NONE_MATCH, "\"0123\"")
            .body(Body::empty())
            .unwrap();
        let (resp, again_body) = call(&router, req).await;
        assert_eq!(resp.status(), StatusCode::OK, "{uri}");
        assert_eq!(again_body, body, "{uri}");
    }

    // A change gives the record a new tag; the old one no longer matches.
    let (resp, _) = call(&router, get(&by_id).body(Body::empty()).unwrap()).await;
    let old = resp.headers()[header::ETAG].clone();
    let (resp, _) = call(&router, json_req("PATCH", &by_id, json!({"pages": 413}))).await;
    assert_eq!(resp.status(), StatusCode::OK);
    let req = get(&by_id)
        .header(header::IF_NONE_MATCH, old.clone())
        .body(Body::empty())
        .unwrap();
    let (resp, body) = call(&router, req).await;
    assert_eq!(resp.status(), StatusCode::OK);
    assert_ne!(resp.headers()[header::ETAG], old);
    assert_eq!(
        serde_json::from_slice::<Value>(&body).unwrap()["pages"],
        413
    );

    // An error carries no tag.
    let (resp, _) = call(
        &router,
        get("/api/books/999999").body(Body::empty()).unwrap(),
    )
    .await;
    assert_eq!(resp.status(), StatusCode::NOT_FOUND);
    assert!(!resp.headers().contains_key(header::ETAG));
    handle.shutdown().await;
}

fn gunzip(b: &[u8]) -> Vec<u8> {
    let mut out = Vec::new();
    flate2::read::GzDecoder::new(b)
        .read_to_end(&mut out)
        .expect("gzip");
    out
}

fn unbrotli(b: &[u8]) -> Vec<u8> {
    let mut out = Vec::new();
    brotli::Decompressor::new(b, 4096)
        .read_to_end(&mut out)
        .expect("br");
    out
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn compression_follows_accept_encoding() {
    let (handle, router) = ready_server().await;
    let rows: Vec<Value> = (0..20)
        .map(|i| json!({"title": format!("Book number {i}"), "pages": i}))
        .collect();
    let (resp, _) = call(
        &router,
        json_req("POST", "/api/books/bulk", json!({ "data": rows })),
    )
    .await;
    assert_eq!(resp.status(), StatusCode::OK);

    let (plain, plain_body) = call(&router, get("/api/books").body(Body::empty()).unwrap()).await;
    assert!(!plain.headers().contains_key(header::CONTENT_ENCODING));
    let plain_tag = plain.headers()[header::ETAG].to_str().unwrap().to_string();
    let bare = plain_tag.trim_matches('"').to_string();

    for (coding, decode) in [("gzip", gunzip as fn(&[u8]) -> Vec<u8>), ("br", unbrotli)] {
        let req = get("/api/books")
            .header(header::ACCEPT_ENCODING, coding)
            .body(Body::empty())
            .unwrap();
        let (resp, body) = call(&router, req).await;
        assert_eq!(resp.status(), StatusCode::OK);
        assert_eq!(resp.headers()[header::CONTENT_ENCODING], coding);
        assert!(body.len() < plain_body.len(), "{coding} is smaller");
        assert_eq!(
            decode(&body),
            plain_body,
            "{coding} decodes to the same JSON"
        );
        // The tag of the compressed bytes names the coding, and matches on the next read.
        let tag = resp.headers()[header::ETAG].to_str().unwrap().to_string();
        assert_eq!(tag, format!("\"{bare}-{coding}\""));
        let req = get("/api/books")
            .header(header::ACCEPT_ENCODING, coding)
            .header(header::IF_NONE_MATCH, &tag)
            .body(Body::empty())
            .unwrap();
        let (resp, body) = call(&router, req).await;
        assert_eq!(resp.status(), StatusCode::NOT_MODIFIED, "{coding}");
        assert!(body.is_empty());
    }

    // Not asked for, or a tiny body: not compressed.
    let req = get("/health/live")
        .header(header::ACCEPT_ENCODING, "gzip, br")
        .body(Body::empty())
        .unwrap();
    let (resp, body) = call(&router, req).await;
    assert!(!resp.headers().contains_key(header::CONTENT_ENCODING));
    assert_eq!(
        serde_json::from_slice::<Value>(&body).unwrap()["status"],
        "live"
    );
    let req = get("/api/books")
        .header(header::ACCEPT_ENCODING, "identity")
        .body(Body::empty())
        .unwrap();
    let (resp, _) = call(&router, req).await;
    assert!(!resp.headers().contains_key(header::CONTENT_ENCODING));
    handle.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn root_links_the_docs_health_and_openapi() {
    let (handle, router) = ready_server().await;
    let (resp, body) = call(&router, get("/").body(Body::empty()).unwrap()).await;
    assert_eq!(resp.status(), StatusCode::OK);
    let v: Value = serde_json::from_slice(&body).unwrap();
    assert_eq!(v["name"], "flowgate");
    for (link, path) in [
        ("docs", "/docs"),
        ("openapi", "/openapi.json"),
        ("live", "/health/live"),
        ("ready", "/health/ready"),
        ("models", "/models"),
    ] {
        assert_eq!(v["links"][link], path);
        // Each link is served.
        let (resp, _) = call(&router, get(path).body(Body::empty()).unwrap()).await;
        assert_eq!(resp.status(), StatusCode::OK, "{path}");
    }
    handle.shutdown().await;
}
