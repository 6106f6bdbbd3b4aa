//! One contract, five channels: the scenario table of `channels/scenarios.rs` (every one of the
//! eleven operations, the filter language, paging, bulk edge cases, soft delete, bad input and
//! workflow runs) runs through the REST model routes, `POST /nodes/{Model}{Op}Node`, MCP
//! `tools/call` over streamable HTTP (rmcp's client), and the `flowgate` binary in local mode and
//! in remote mode (`--server`). Workflow steps run through `POST /workflows/{name}/execute` (on
//! the REST and `/nodes` servers), the workflow's MCP tool, and `flowgate run NAME --param k=v`;
//! the workflows come from files in a `discover` directory. Each channel has a fresh database of
//! its own, so ids agree; every step's result or error object must be the same on all five once
//! timestamps (and the timestamps inside cursors) and run ids are masked, and must be what the
//! table expects. Errors are compared whole: code, message, field and details.
//!
//! SQLite always; PostgreSQL and MySQL when `FLOWGATE_TEST_POSTGRES_URL` and
//! `FLOWGATE_TEST_MYSQL_URL` are set (`FLOWGATE_TEST_REQUIRE_ALL=1` turns a missing one into a
//! failure). No timing assertions: every request and CLI run has a bounded wait.
#![allow(missing_docs)]

#[path = "../../tests/common/mod.rs"]
mod common;
#[path = "channels/drivers.rs"]
#[allow(dead_code)] // the credential helpers serve tests/auth.rs
mod drivers;
#[path = "channels/scenarios.rs"]
mod scenarios;

use base64::Engine as _;
use common::Backend;
use drivers::{Answer, Channel, Cli, Http, WAIT};
use flowgate_actors::{Handle, Supervisor};
use scenarios::{Expect, Scenario, Step, Target};
use serde_json::{Value, json};
use std::path::{Path, PathBuf};

/// The channel every other one is compared with: the uniform door.
const REFERENCE: &str = "/nodes";

/// A fresh directory with the schema file in it, and the workflow files in its `discover`
/// directory.
fn temp_dir(backend: Backend) -> PathBuf {
    let dir = std::env::temp_dir()
        .join("flowgate-tests")
        .join(common::unique_name(&format!("channels_{backend:?}")));
    std::fs::create_dir_all(dir.join("discover")).expect("temp dir");
    std::fs::write(dir.join("models.toml"), scenarios::SCHEMA).expect("schema file");
    for (name, text) in scenarios::WORKFLOWS {
        std::fs::write(dir.join("discover").join(name), text).expect("workflow file");
    }
    dir
}

/// A server on `url` serving the schema file and the workflows of `discover`, ready.
async fn server(url: &str, models: &Path, discover: &Path) -> Handle {
    let handle = Supervisor::builder()
        .database_url(url)
        .http_port(0)
        .mcp_port(0)
        .set("host", "127.0.0.1")
        .set("discover", json!([discover.display().to_string()]))
        .model_file(models)
        .start()
        .await
        .expect("server starts");
    assert!(
        handle.wait_ready(WAIT).await,
        "not ready: {:#}",
        handle.board().to_json()
    );
    handle
}

/// The five channels of one backend, each on a fresh database of its own.
struct Env {
    dir: PathBuf,
    urls: Vec<String>,
    servers: Vec<Handle>,
    channels: Vec<(&'static str, Channel)>,
}

impl Env {
    async fn start(backend: Backend) -> Option<Env> {
        let _ = tracing_subscriber::fmt()
            .with_env_filter(
                tracing_subscriber::EnvFilter::try_from_default_env()
                    .unwrap_or_else(|_| "warn".into()),
            )
            .with_test_writer()
            .try_init();
        let mut urls = Vec::new();
        for _ in 0..5 {
            urls.push(common::fresh_shared_url(backend).await?);
        }
        let dir = temp_dir(backend);
        let models = dir.join("models.toml");
        let discover = dir.join("discover");
        let servers =
            futures_util::future::join_all(urls[..4].iter().map(|u| server(u, &models, &discover)))
                .await;
        let channels = vec![
            ("REST", Channel::Rest(Http::new(servers[0].http_addr()))),
            (REFERENCE, Channel::Nodes(Http::new(servers[1].http_addr()))),
            (
                "MCP",
                Channel::Mcp(drivers::mcp_session(servers[2].mcp_addr()).await),
            ),
            (
                "CLI remote",
                Channel::Cli(Cli::remote(&dir, servers[3].http_addr())),
            ),
            (
                "CLI local",
                Channel::Cli(Cli::local(&dir, &urls[4], &models, &discover)),
            ),
        ];
        Some(Env {
            dir,
            urls,
            servers,
            channels,
        })
    }

    async fn stop(self) {
        for (_, c) in self.channels {
            c.close().await;
        }
        for h in self.servers {
            tokio::time::timeout(WAIT, h.shutdown())
                .await
                .expect("shutdown within the wait");
        }
        for url in &self.urls {
            if let Some(path) = url.strip_prefix("sqlite://") {
                let _ = std::fs::remove_file(path);
            }
        }
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

/// `"{{N.path}}"`: step N's result at `path` (keys and list indexes, dot-separated).
fn reference(s: &str) -> Option<(usize, &str)> {
    let inner = s.strip_prefix("{{")?.strip_suffix("}}")?;
    let (n, path) = inner.split_once('.')?;
    Some((n.parse().ok()?, path))
}

/// The params with every reference replaced from this channel's earlier answers.
fn resolve(params: &Value, earlier: &[Answer]) -> Value {
    match params {
        Value::String(s) => match reference(s) {
            Some((n, path)) => {
                let mut v = match earlier.get(n).map(|a| &a.result) {
                    Some(Ok(v)) => v,
                    _ => return Value::Null,
                };
                for key in path.split('.') {
                    v = match key.parse::<usize>() {
                        Ok(i) => &v[i],
                        Err(_) => &v[key],
                    };
                }
                v.clone()
            }
            None => params.clone(),
        },
        Value::Array(items) => items.iter().map(|v| resolve(v, earlier)).collect(),
        Value::Object(m) => m
            .iter()
            .map(|(k, v)| (k.clone(), resolve(v, earlier)))
            .collect(),
        other => other.clone(),
    }
}

/// Runs the scenarios on one channel, in order.
async fn run_channel(channel: &Channel, scenarios: &[Scenario]) -> Vec<Vec<Answer>> {
    let mut all = Vec::with_capacity(scenarios.len());
    for scenario in scenarios {
        let mut answers: Vec<Answer> = Vec::with_capacity(scenario.steps.len());
        for step in &scenario.steps {
            let params = resolve(&step.params, &answers);
            let answer = match step.target {
                Target::Op(table, op) => channel.call(table, op, &params).await,
                Target::Workflow(name) => channel.run(name, &params).await,
            };
            answers.push(answer);
        }
        all.push(answers);
    }
    all
}

fn is_timestamp(s: &str) -> bool {
    chrono::DateTime::parse_from_rfc3339(s).is_ok()
}

/// What may differ between two databases given the same operations: the managed timestamps,
/// and so the cursors that carry them, and the ids of workflow runs. A cursor is shown decoded,
/// its timestamps masked.
fn normalize(v: &Value) -> Value {
    match v {
        Value::Object(m) => m
            .iter()
            .map(|(k, x)| {
                let x = match (k.as_str(), x) {
                    ("created_at" | "updated_at" | "deleted_at", Value::String(s))
                        if is_timestamp(s) =>
                    {
                        json!("<timestamp>")
                    }
                    ("next_cursor", Value::String(s)) => decode_cursor(s),
                    ("run_id", Value::String(_)) => json!("<run_id>"),
                    _ => normalize(x),
                };
                (k.clone(), x)
            })
            .collect(),
        Value::Array(items) => items.iter().map(normalize).collect(),
        other => other.clone(),
    }
}

/// A cursor as `{"cursor": [sort values]}` with timestamps masked; unchanged if it is not one.
fn decode_cursor(s: &str) -> Value {
    let decoded = base64::engine::general_purpose::URL_SAFE_NO_PAD
        .decode(s)
        .ok()
        .and_then(|b| serde_json::from_slice::<Value>(&b).ok());
    match decoded {
        Some(Value::Array(values)) => {
            let values: Vec<Value> = values
                .into_iter()
                .map(|v| match v {
                    Value::String(t) if is_timestamp(&t) => json!("<timestamp>"),
                    other => other,
                })
                .collect();
            json!({ "cursor": values })
        }
        _ => json!(s),
    }
}

/// The comparable form of an answer: `{"ok": result}` or `{"error": error object}`.
fn outcome(a: &Answer) -> Value {
    match &a.result {
        Ok(v) => json!({ "ok": normalize(v) }),
        Err(e) => json!({ "error": normalize(e) }),
    }
}

/// Where two JSON values differ, as `path: a ≠ b` lines (at most a dozen).
fn diff(a: &Value, b: &Value, path: &str, out: &mut Vec<String>) {
    if out.len() >= 12 || a == b {
        return;
    }
    match (a, b) {
        (Value::Object(x), Value::Object(y)) => {
            let keys: Vec<&String> = x
                .keys()
                .chain(y.keys().filter(|k| !x.contains_key(*k)))
                .collect();
            for k in keys {
                let null = Value::Null;
                let (l, r) = (x.get(k).unwrap_or(&null), y.get(k).unwrap_or(&null));
                if x.contains_key(k) != y.contains_key(k) {
                    out.push(format!(
                        "{path}/{k}: {} ≠ {}",
                        if x.contains_key(k) {
                            l.to_string()
                        } else {
                            "(absent)".into()
                        },
                        if y.contains_key(k) {
                            r.to_string()
                        } else {
                            "(absent)".into()
                        },
                    ));
                } else {
                    diff(l, r, &format!("{path}/{k}"), out);
                }
            }
        }
        (Value::Array(x), Value::Array(y)) if x.len() == y.len() => {
            for (i, (l, r)) in x.iter().zip(y).enumerate() {
                diff(l, r, &format!("{path}/{i}"), out);
            }
        }
        _ => out.push(format!("{path}: {a} ≠ {b}")),
    }
}

/// Whether `actual` contains `expected`: an object's keys (recursively), a list's items one by
/// one (same length), any other value equal.
fn contains(actual: &Value, expected: &Value) -> bool {
    match (actual, expected) {
        (Value::Object(a), Value::Object(e)) => e
            .iter()
            .all(|(k, v)| a.get(k).is_some_and(|x| contains(x, v))),
        (Value::Array(a), Value::Array(e)) => {
            a.len() == e.len() && a.iter().zip(e).all(|(x, y)| contains(x, y))
        }
        _ => actual == expected,
    }
}

/// Why an outcome does not meet the table's expectation, if it does not.
fn unmet(expect: &Expect, outcome: &Value) -> Option<String> {
    match (expect, outcome.get("ok"), outcome.get("error")) {
        (Expect::Ok, Some(_), _) => None,
        (Expect::OkWith(subset), Some(v), _) if contains(v, subset) => None,
        (Expect::OkWith(subset), Some(_), _) => {
            Some(format!("expected a result containing {subset}"))
        }
        (Expect::Err(code, field), _, Some(e))
            if e["code"] == *code && e.get("field").and_then(Value::as_str) == *field =>
        {
            None
        }
        (Expect::Err(code, field), _, _) => {
            Some(format!("expected error {code:?} naming field {field:?}"))
        }
        (_, _, _) => Some("expected a result".to_string()),
    }
}

fn describe(step: &Step) -> String {
    match step.target {
        Target::Op(table, op) => format!("{table} {} {}", op.as_str(), step.params),
        Target::Workflow(name) => format!("workflow {name} {}", step.params),
    }
}

/// Compares every step across channels and with the table; gives one report line block per
/// step that fails, naming the scenario, the step and the channel.
fn compare(
    backend: Backend,
    scenarios: &[Scenario],
    names: &[&str],
    runs: &[Vec<Vec<Answer>>],
) -> Vec<String> {
    let reference = names
        .iter()
        .position(|n| *n == REFERENCE)
        .expect("the reference channel");
    let mut report = Vec::new();
    for (si, scenario) in scenarios.iter().enumerate() {
        for (i, step) in scenario.steps.iter().enumerate() {
            let outcomes: Vec<Value> = runs.iter().map(|r| outcome(&r[si][i])).collect();
            let mut lines = Vec::new();
            for (ci, name) in names.iter().enumerate() {
                let answer = &runs[ci][si][i];
                if let Some(p) = &answer.problem {
                    lines.push(format!("  {name}: channel problem: {p}"));
                }
                if let Some(why) = unmet(&step.expect, &outcomes[ci]) {
                    lines.push(format!("  {name}: {why}, got {}", outcomes[ci]));
                }
                if ci != reference && outcomes[ci] != outcomes[reference] {
                    let mut d = Vec::new();
                    diff(&outcomes[reference], &outcomes[ci], "", &mut d);
                    lines.push(format!(
                        "  {name} differs from {REFERENCE}:\n      {}",
                        d.join("\n      ")
                    ));
                }
            }
            if !lines.is_empty() {
                report.push(format!(
                    "[{backend:?}] scenario {:?}, step {i}: {}\n  {REFERENCE} gave {}\n{}",
                    scenario.name,
                    describe(step),
                    outcomes[reference],
                    lines.join("\n")
                ));
            }
        }
    }
    report
}

async fn channels_agree(backend: Backend) {
    let Some(env) = Env::start(backend).await else {
        return;
    };
    let scenarios = scenarios::scenarios();
    let names: Vec<&str> = env.channels.iter().map(|(n, _)| *n).collect();
    let runs = futures_util::future::join_all(
        env.channels.iter().map(|(_, c)| run_channel(c, &scenarios)),
    )
    .await;
    let report = compare(backend, &scenarios, &names, &runs);
    let steps: usize = scenarios.iter().map(|s| s.steps.len()).sum();
    eprintln!(
        "{backend:?}: {} scenarios, {steps} steps, {} channels",
        scenarios.len(),
        names.len()
    );
    env.stop().await;
    assert!(
        report.is_empty(),
        "{} of {steps} steps failed:\n\n{}",
        report.len(),
        report.join("\n\n")
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sqlite_channels_agree() {
    channels_agree(Backend::Sqlite).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn postgres_channels_agree() {
    channels_agree(Backend::Postgres).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn mysql_channels_agree() {
    channels_agree(Backend::MySql).await;
}

/// The comparison itself: masked timestamps and cursors compare equal; anything else that
/// differs is reported with its path, and expectations are checked.
#[test]
fn the_comparison_sees_differences() {
    let cursor = |t: &str| {
        base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(json!([t, 3]).to_string())
    };
    let a = Answer {
        result: Ok(
            json!({"records": [{"id": 1, "created_at": "2024-01-01T00:00:00.000001Z"}],
                          "next_cursor": cursor("2024-01-01T00:00:00.000001Z")}),
        ),
        problem: None,
    };
    let b = Answer {
        result: Ok(
            json!({"records": [{"id": 1, "created_at": "2025-06-01T10:00:00Z"}],
                          "next_cursor": cursor("2025-06-01T10:00:00Z")}),
        ),
        problem: None,
    };
    assert_eq!(outcome(&a), outcome(&b));
    let c = Answer {
        result: Ok(json!({"records": [{"id": 2, "created_at": "2024-01-01T00:00:00Z"}]})),
        problem: None,
    };
    let mut d = Vec::new();
    diff(&outcome(&a), &outcome(&c), "", &mut d);
    assert_eq!(
        d,
        [
            "/ok/records/0/id: 1 ≠ 2",
            &format!(
                "/ok/next_cursor: {} ≠ (absent)",
                json!({"cursor": ["<timestamp>", 3]})
            )
        ]
    );
    let e = Answer {
        result: Err(json!({"code": "validation", "message": "m", "field": "limit"})),
        problem: None,
    };
    assert_eq!(
        unmet(&Expect::Err("validation", Some("limit")), &outcome(&e)),
        None
    );
    assert!(unmet(&Expect::Err("validation", Some("offset")), &outcome(&e)).is_some());
    assert!(unmet(&Expect::Ok, &outcome(&e)).is_some());
    assert!(
        unmet(
            &Expect::OkWith(json!({"records": [{"id": 2}]})),
            &outcome(&a)
        )
        .is_some()
    );
    assert_eq!(
        unmet(
            &Expect::OkWith(json!({"records": [{"id": 1}]})),
            &outcome(&a)
        ),
        None
    );
}
