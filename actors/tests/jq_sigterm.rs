//! The `flowgate` binary exits on SIGTERM while a jq program is running (issue 10, item 2):
//! a stopped evaluation never holds up shutdown.
//!
//! No timing assertions: the exit is awaited with a generous bound that only detects a hang.
#![allow(missing_docs)]

mod support;

use serde_json::{Value, json};
use std::path::PathBuf;
use std::process::Stdio;
use std::time::{Duration, Instant};
use tokio::io::{AsyncBufReadExt, BufReader};

const WAIT: Duration = Duration::from_secs(20);

fn temp_dir() -> PathBuf {
    support::temp_dir("jq_sigterm")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sigterm_with_a_long_program_in_flight() {
    let dir = temp_dir();
    let url = format!("sqlite://{}", dir.join("x.db").display());
    let mut cmd = support::flowgate(&dir, "warn");
    let mut child = cmd
        .args(["serve", "--database-url", &url])
        .args(["--http-port", "0", "--mcp-port", "0"])
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .expect("spawn flowgate serve");
    let mut lines = BufReader::new(child.stderr.take().expect("stderr")).lines();
    let addr = tokio::time::timeout(WAIT, async {
        while let Some(line) = lines.next_line().await.expect("read stderr") {
            if let Some(rest) = line.strip_prefix("flowgate listening http=") {
                return rest
                    .split_once(' ')
                    .expect("http=ADDR mcp=ADDR")
                    .0
                    .to_string();
            }
        }
        panic!("flowgate serve exited before it listened");
    })
    .await
    .expect("the listening line");
    tokio::spawn(async move { while let Ok(Some(_)) = lines.next_line().await {} });

    let http = reqwest::Client::builder()
        .no_proxy()
        .timeout(Duration::from_secs(30))
        .build()
        .unwrap();
    let deadline = Instant::now() + WAIT;
    while !http
        .get(format!("http://{addr}/health/ready"))
        .send()
        .await
        .is_ok_and(|r| r.status().is_success())
    {
        assert!(Instant::now() < deadline, "never ready");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    let workflow = json!({
        "name": "long",
        "nodes": [{"id": "t", "type": "TransformNode",
                   "params": {"expr": "last(range(1e15))"}}],
    });
    let r = http
        .post(format!("http://{addr}/workflows"))
        .json(&workflow)
        .send()
        .await
        .expect("register");
    assert_eq!(r.status().as_u16(), 201);
    // An asynchronous run: once answered, the program is running.
    let r = http
        .post(format!("http://{addr}/workflows/long/execute"))
        .json(&json!({"inputs": {}, "mode": "async"}))
        .send()
        .await
        .expect("execute");
    assert_eq!(r.status().as_u16(), 202);
    let _: Value = r.json().await.expect("JSON");

    let pid = child.id().expect("running").to_string();
    let killed = std::process::Command::new("kill")
        .args(["-TERM", &pid])
        .status()
        .expect("kill");
    assert!(killed.success());
    let status = tokio::time::timeout(WAIT, child.wait())
        .await
        .expect("the process exits after SIGTERM, with a program in flight")
        .expect("wait");
    assert!(status.success(), "exit status: {status}");
}
