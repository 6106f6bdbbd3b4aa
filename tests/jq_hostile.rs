//! Hostile jq programs on a served server, over real HTTP (issue 10, items 1 and 2): a program
//! nesting 1,000 parentheses is refused at registration with 400 and nothing is saved; a
//! registered transform that recurses forever fails its run cleanly and the server keeps
//! serving; a program stopped by its limits stops computing (its thread ends: the count of live
//! evaluations goes back to 0); programs that would take all memory or walk values that share
//! parts without end fail their runs while the server serves on.
//!
//! One test in this binary, so nothing else moves the process-wide count of live evaluations.
//! No timing assertions: waits are bounded loops that fail after [`WAIT`].
#![allow(missing_docs)]

mod common;

use common::{Backend, http_client as client, server_builder as builder};
use flowgate::workflow::live_jq_evaluations;
use serde_json::{Value, json};
use std::time::{Duration, Instant};

/// The longest any wait lasts before the test fails.
const WAIT: Duration = Duration::from_secs(30);

fn transform(name: &str, expr: &str) -> Value {
    json!({
        "name": name,
        "nodes": [{"id": "t", "type": "TransformNode", "params": {"expr": expr}}],
    })
}

async fn send(
    http: &reqwest::Client,
    method: reqwest::Method,
    url: String,
    body: Option<Value>,
) -> (u16, Value) {
    let mut req = http.request(method, url);
    if let Some(b) = body {
        req = req.json(&b);
    }
    let resp = req.send().await.expect("request");
    let status = resp.status().as_u16();
    let text = resp.text().await.expect("body");
    (
        status,
        serde_json::from_str(&text).unwrap_or(Value::String(text)),
    )
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn hostile_programs_over_http() {
    let url = common::fresh_shared_url(Backend::Sqlite).await.unwrap();
    let handle = builder(&url).start().await.expect("start");
    assert!(handle.wait_ready(WAIT).await, "not ready");
    let base = format!("http://{}", handle.http_addr());
    let http = client();
    let post = |path: &str, body: Value| {
        send(
            &http,
            reqwest::Method::POST,
            format!("{base}{path}"),
            Some(body),
        )
    };
    let get = |path: &str| send(&http, reqwest::Method::GET, format!("{base}{path}"), None);
    let execute = |name: &str, inputs: Value| {
        post(
            &format!("/workflows/{name}/execute"),
            json!({"inputs": inputs, "mode": "sync"}),
        )
    };

    // 1,000 nested parentheses: 400 naming the param and the limit, and nothing saved.
    let deep = format!("{}1{}", "(".repeat(1000), ")".repeat(1000));
    let (status, body) = post("/workflows", transform("deep", &deep)).await;
    assert_eq!(status, 400, "{body:#}");
    assert_eq!(body["error"]["code"], "validation", "{body:#}");
    let text = body.to_string();
    assert!(text.contains("expr"), "{body:#}");
    assert!(text.contains("nests brackets"), "{body:#}");
    let (status, body) = get("/workflows/deep").await;
    assert_eq!(status, 404, "{body:#}");

    // Endless recursion: the run fails cleanly, the server keeps serving.
    let (status, body) = post("/workflows", transform("recurse", "def f: 1 + f; f")).await;
    assert_eq!(status, 201, "{body:#}");
    let mut double = transform("double", ". * 2");
    double["nodes"][0]["params"]["input"] = json!(21);
    let (status, body) = post("/workflows", double).await;
    assert_eq!(status, 201, "{body:#}");
    for _ in 0..2 {
        let (status, body) = execute("recurse", json!({})).await;
        assert_eq!(status, 400, "{body:#}");
        assert!(body.to_string().contains("recursed too deeply"), "{body:#}");
        assert_eq!(body["error"]["details"]["node"], "t", "{body:#}");
        let (status, body) = execute("double", json!({})).await;
        assert_eq!(status, 200, "{body:#}");
        assert_eq!(body["results"]["t"], 42, "{body:#}");
    }
    let (status, _) = get("/health/live").await;
    assert_eq!(status, 200);

    // A long program is stopped by its limits (fuel or time, whichever comes first on this
    // machine), and then really stops: its thread ends.
    let (status, body) = post("/workflows", transform("long", "last(range(1e15))")).await;
    assert_eq!(status, 201, "{body:#}");
    let (status, body) = execute("long", json!({})).await;
    assert_eq!(status, 400, "{body:#}");
    assert!(body.to_string().contains("was stopped"), "{body:#}");
    let deadline = Instant::now() + WAIT;
    while live_jq_evaluations() > 0 {
        assert!(
            Instant::now() < deadline,
            "a stopped program is still running"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    let (status, body) = execute("double", json!({})).await;
    assert_eq!(status, 200, "{body:#}");

    // Programs that would take all memory (or abort at once) or walk values that share parts
    // without end: each run fails with the node's error, and the server serves on.
    for (i, expr) in [
        "\"x\" * 1000000000000",
        "def f: . + . | f; [1] | f",
        "def f: . + . | f; \"ab\" | f",
        "reduce range(100) as $i (3; . * .)",
        "reduce range(60) as $i ([1]; [., .]) | sort",
        "reduce range(60) as $i ([1]; [., .]) | \"\\(.)\"",
        "reduce range(60) as $i ({}; {a: ., b: .}) | . == .",
        "\"a\" * 10000000 | [match(\"\"; \"g\")] | length",
    ]
    .into_iter()
    .enumerate()
    {
        let name = format!("hostile{i}");
        let (status, body) = post("/workflows", transform(&name, expr)).await;
        assert_eq!(status, 201, "{expr}: {body:#}");
        let (status, body) = execute(&name, json!({})).await;
        assert_eq!(status, 400, "{expr}: {body:#}");
        assert_eq!(body["error"]["details"]["node"], "t", "{expr}: {body:#}");
        let (status, body) = execute("double", json!({})).await;
        assert_eq!(status, 200, "{expr}: {body:#}");
    }
    let deadline = Instant::now() + WAIT;
    while live_jq_evaluations() > 0 {
        assert!(
            Instant::now() < deadline,
            "a stopped program is still running"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    let (status, _) = get("/health/live").await;
    assert_eq!(status, 200);

    tokio::time::timeout(WAIT, handle.shutdown())
        .await
        .expect("shutdown within the wait");
}
