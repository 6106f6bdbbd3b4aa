//! The `flowgate` binary as a child process, on SQLite: `serve` from a schema file (bound line on
//! stderr, readiness, a create over HTTP, SIGTERM), then `migrate up`, `status` and `down` on an
//! additive change, and a configuration file with an unknown key.
//!
//! No timing assertions: waits are bounded loops that fail after [`WAIT`].
#![allow(missing_docs)]

mod support;

use serde_json::{Value, json};
use std::path::{Path, PathBuf};
use std::process::{ExitStatus, Stdio};
use std::time::{Duration, Instant};
use tokio::io::{AsyncBufReadExt, BufReader};
use tokio::process::{Child, Command};

const WAIT: Duration = Duration::from_secs(10);

const SCHEMA_V1: &str = r#"
[models.Project]
fields.name = { type = "string", max_length = 120, unique = true }

[models.Task]
description = "A unit of work in a project"
fields.title      = { type = "string", max_length = 200 }
fields.state      = { type = "enum", values = ["open", "done"], default = "open" }
fields.project_id = { type = "integer", references = "Project", optional = true }
"#;

/// V1 plus an optional field: an additive change.
const SCHEMA_V2: &str = r#"
[models.Project]
fields.name = { type = "string", max_length = 120, unique = true }

[models.Task]
description = "A unit of work in a project"
fields.title      = { type = "string", max_length = 200 }
fields.state      = { type = "enum", values = ["open", "done"], default = "open" }
fields.project_id = { type = "integer", references = "Project", optional = true }
fields.estimate   = { type = "integer", optional = true }
"#;

/// A fresh directory of this test's own.
fn temp_dir() -> PathBuf {
    support::temp_dir("bin")
}

/// The binary with a clean environment: no `DATABASE_URL` or `FLOWGATE_*` from outside.
fn flowgate(dir: &Path) -> Command {
    support::flowgate(dir, "warn")
}

/// Runs a `flowgate` command to the end: its exit status, stdout and stderr.
async fn run(dir: &Path, args: &[&str]) -> (ExitStatus, String, String) {
    let out = tokio::time::timeout(WAIT, flowgate(dir).args(args).output())
        .await
        .unwrap_or_else(|_| panic!("flowgate {args:?} did not finish within {WAIT:?}"))
        .expect("run flowgate");
    (
        out.status,
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

/// Runs a `flowgate migrate ...` command that must succeed and print JSON.
async fn migrate(dir: &Path, args: &[&str]) -> Value {
    let (status, stdout, stderr) = run(dir, args).await;
    assert!(status.success(), "flowgate {args:?}: {status}\n{stderr}");
    serde_json::from_str(&stdout)
        .unwrap_or_else(|e| panic!("flowgate {args:?} printed no JSON ({e}): {stdout}\n{stderr}"))
}

/// `flowgate serve` as a child: waits for its `flowgate listening http=ADDR mcp=...` line and
/// gives the child and the HTTP address. The rest of stderr is drained in the background.
async fn serve(dir: &Path, args: &[&str]) -> (Child, String) {
    let mut child = flowgate(dir)
        .arg("serve")
        .args(args)
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .expect("spawn flowgate serve");
    let mut lines = BufReader::new(child.stderr.take().expect("stderr")).lines();
    let mut seen = Vec::new();
    let addr = tokio::time::timeout(WAIT, async {
        while let Some(line) = lines.next_line().await.expect("read stderr") {
            if let Some(rest) = line.strip_prefix("flowgate listening http=") {
                let (addr, mcp) = rest.split_once(' ').expect("http=ADDR mcp=ADDR");
                assert!(mcp.starts_with("mcp="), "{line}");
                return addr.to_string();
            }
            seen.push(line);
        }
        panic!("flowgate serve exited before it listened: {seen:#?}");
    })
    .await
    .expect("the listening line within the wait");
    tokio::spawn(async move { while let Ok(Some(_)) = lines.next_line().await {} });
    (child, addr)
}

/// [`serve`] on free ports.
async fn serve_free(dir: &Path, args: &[&str]) -> (Child, String) {
    let mut all = args.to_vec();
    all.extend(["--http-port", "0", "--mcp-port", "0"]);
    serve(dir, &all).await
}

fn client() -> reqwest::Client {
    reqwest::Client::builder()
        .no_proxy()
        .timeout(Duration::from_secs(30))
        .build()
        .expect("http client")
}

async fn wait_ready(http: &reqwest::Client, addr: &str) -> Value {
    let deadline = Instant::now() + WAIT;
    loop {
        let r = http
            .get(format!("http://{addr}/health/ready"))
            .send()
            .await
            .expect("health");
        let status = r.status();
        let body: Value = r.json().await.expect("board JSON");
        if status == reqwest::StatusCode::OK {
            return body;
        }
        assert!(Instant::now() < deadline, "not ready: {body:#}");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

async fn post(http: &reqwest::Client, addr: &str, path: &str, body: Value) -> Value {
    let r = http
        .post(format!("http://{addr}{path}"))
        .json(&body)
        .send()
        .await
        .expect("post");
    let status = r.status();
    let body: Value = r.json().await.expect("JSON");
    assert_eq!(status.as_u16(), 201, "{body:#}");
    body
}

/// `GET` a path with query parameters, as JSON.
async fn get(http: &reqwest::Client, addr: &str, path: &str, query: &[(&str, String)]) -> Value {
    http.get(format!("http://{addr}{path}"))
        .query(query)
        .send()
        .await
        .expect("get")
        .json()
        .await
        .expect("JSON")
}

/// SIGTERM, then the exit status (a clean shutdown exits 0).
async fn terminate(mut child: Child) -> ExitStatus {
    let pid = child.id().expect("running").to_string();
    let killed = std::process::Command::new("kill")
        .args(["-TERM", &pid])
        .status()
        .expect("kill");
    assert!(killed.success());
    tokio::time::timeout(WAIT, child.wait())
        .await
        .expect("exits after SIGTERM")
        .expect("wait")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn serve_then_migrate_up_status_down() {
    let dir = temp_dir();
    let schema = dir.join("models.toml");
    std::fs::write(&schema, SCHEMA_V1).unwrap();
    let schema_arg = schema.display().to_string();
    let url = format!("sqlite://{}", dir.join("x.db").display());
    let db = ["--models", &schema_arg, "--database-url", &url];

    // serve: the bound line, readiness, a create.
    let mut args = db.to_vec();
    args.extend(["--http-port", "0", "--mcp-port", "0"]);
    let (child, addr) = serve(&dir, &args).await;
    let http = client();
    let board = wait_ready(&http, &addr).await;
    assert_eq!(
        board["features"]["model:Task"]["state"], "ready",
        "{board:#}"
    );
    let project = post(&http, &addr, "/api/projects", json!({"name": "Flowgate"})).await;
    let task = post(
        &http,
        &addr,
        "/api/tasks",
        json!({"title": "Write tests", "project_id": project["id"]}),
    )
    .await;
    assert_eq!(task["state"], "open");
    let status = terminate(child).await;
    assert!(status.success(), "serve exits cleanly on SIGTERM: {status}");
    assert!(
        http.get(format!("http://{addr}/health/live"))
            .send()
            .await
            .is_err(),
        "the port is closed once serve exits"
    );

    // An additive change, applied with `migrate up`.
    std::fs::write(&schema, SCHEMA_V2).unwrap();
    let mut args = vec!["migrate", "up"];
    args.extend(db);
    let up = migrate(&dir, &args).await;
    let outcomes = up["models"].as_array().expect("models");
    let of = |name: &str| {
        outcomes
            .iter()
            .find(|o| o["model"] == name)
            .unwrap_or_else(|| panic!("no outcome for {name}: {up:#}"))
            .clone()
    };
    assert_eq!(of("Project")["status"], "up_to_date", "{up:#}");
    let task_outcome = of("Task");
    assert_eq!(task_outcome["status"], "migrated", "{up:#}");
    assert_eq!(
        (task_outcome["from"].clone(), task_outcome["to"].clone()),
        (json!(1), json!(2))
    );
    assert!(
        task_outcome["changes"].to_string().contains("estimate"),
        "{up:#}"
    );

    // Up again: nothing to do.
    let again = migrate(&dir, &args).await;
    assert!(
        again["models"]
            .as_array()
            .unwrap()
            .iter()
            .all(|o| o["status"] == "up_to_date"),
        "{again:#}"
    );

    // Status: the history, oldest first.
    let mut args = vec!["migrate", "status"];
    args.extend(db);
    let status = migrate(&dir, &args).await;
    let steps: Vec<(Value, Value, Value)> = status["migrations"]
        .as_array()
        .expect("migrations")
        .iter()
        .map(|m| {
            (
                m["model"].clone(),
                m["to_version"].clone(),
                m["status"].clone(),
            )
        })
        .collect();
    assert_eq!(steps.len(), 3, "{status:#}");
    assert!(steps.contains(&(json!("Project"), json!(1), json!("applied"))));
    assert!(steps.contains(&(json!("Task"), json!(1), json!("applied"))));
    assert_eq!(steps[2], (json!("Task"), json!(2), json!("applied")));

    // Down: the newest migration rolls back.
    let mut args = vec!["migrate", "down"];
    args.extend(db);
    let down = migrate(&dir, &args).await;
    let rolled = &down["rolled_back"];
    assert_eq!(rolled["model"], "Task", "{down:#}");
    assert_eq!(rolled["from_version"], 1);
    assert_eq!(rolled["to_version"], 2);
    let mut status_args = vec!["migrate", "status"];
    status_args.extend(db);
    let status = migrate(&dir, &status_args).await;
    let last = status["migrations"]
        .as_array()
        .unwrap()
        .last()
        .unwrap()
        .clone();
    assert_eq!(
        (
            last["model"].clone(),
            last["to_version"].clone(),
            last["status"].clone()
        ),
        (json!("Task"), json!(2), json!("rolled_back")),
        "{status:#}"
    );

    // The rolled-back schema serves again, data intact, without the new field.
    std::fs::write(&schema, SCHEMA_V1).unwrap();
    let mut args = db.to_vec();
    args.extend(["--http-port", "0", "--mcp-port", "0"]);
    let (child, addr) = serve(&dir, &args).await;
    wait_ready(&http, &addr).await;
    let listed = get(&http, &addr, "/api/tasks", &[]).await;
    let records = listed["records"].as_array().expect("records");
    assert_eq!(records.len(), 1, "{listed:#}");
    assert_eq!(records[0]["title"], "Write tests");
    assert!(records[0].get("estimate").is_none(), "{listed:#}");
    assert!(terminate(child).await.success());
    let _ = std::fs::remove_dir_all(&dir);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn unknown_config_key_is_named() {
    let dir = temp_dir();
    let config = dir.join("flowgate.toml");
    std::fs::write(&config, "http_port = 0\nhtpp_port = 8080\n").unwrap();
    let url = format!("sqlite://{}", dir.join("x.db").display());
    let config_arg = config.display().to_string();
    let (status, _, stderr) = run(
        &dir,
        &["serve", "--config", &config_arg, "--database-url", &url],
    )
    .await;
    assert!(!status.success(), "{stderr}");
    assert!(stderr.contains("htpp_port"), "{stderr}");
    assert!(!stderr.contains("flowgate listening"), "{stderr}");
    let _ = std::fs::remove_dir_all(&dir);
}

/// The resident memory of a process, in bytes (Linux).
fn rss(pid: u32) -> u64 {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).expect("proc status");
    status
        .lines()
        .find_map(|l| l.strip_prefix("VmRSS:"))
        .and_then(|v| v.trim().trim_end_matches(" kB").trim().parse::<u64>().ok())
        .expect("VmRSS")
        * 1024
}

/// Large bulk calls do not leave their memory held: after four bulk creates of a 10 MB body, the
/// server's resident memory comes back near where it started (glibc's allocator kept each call's
/// freed memory in the arena of the thread it ran on; the binary's allocator purges it).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn memory_of_a_large_bulk_call_is_given_back() {
    let dir = temp_dir();
    std::fs::write(dir.join("notes.toml"), "[models.Note]\nfields.title = { type = \"string\" }\nfields.body = { type = \"text\", optional = true }\n").unwrap();
    std::fs::write(dir.join("flowgate.toml"), "body_limit = 67108864\n").unwrap();
    let (child, addr) = serve_free(
        &dir,
        &[
            "--config",
            "flowgate.toml",
            "--models",
            "notes.toml",
            "--database-url",
            "sqlite://notes.db",
        ],
    )
    .await;
    let pid = child.id().expect("pid");
    let http = client();
    wait_ready(&http, &addr).await;
    let records: Vec<Value> = (0..40_000)
        .map(|i| json!({"title": format!("t{i}"), "body": "x".repeat(220)}))
        .collect();
    let body = serde_json::to_vec(&json!({"data": records})).unwrap();
    let size = body.len() as u64;
    let before = rss(pid);
    for _ in 0..4 {
        let r = http
            .post(format!("http://{addr}/api/notes/bulk"))
            .header("content-type", "application/json")
            .header("host", "localhost")
            .body(body.clone())
            .send()
            .await
            .expect("bulk");
        let status = r.status();
        let text = r.text().await.unwrap_or_default();
        assert_eq!(status, reqwest::StatusCode::OK, "{text}");
    }
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        let now = rss(pid);
        if now < before + 4 * size {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "RSS stayed {} MB above the start after 4 calls of {} MB",
            (now - before) >> 20,
            size >> 20
        );
        tokio::time::sleep(Duration::from_millis(500)).await;
    }
    terminate(child).await;
}

/// The server's peak resident memory (`VmHWM`), in bytes.
fn peak_rss(pid: u32) -> u64 {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).expect("proc status");
    status
        .lines()
        .find_map(|l| l.strip_prefix("VmHWM:"))
        .and_then(|v| v.trim().trim_end_matches(" kB").trim().parse::<u64>().ok())
        .expect("VmHWM")
        * 1024
}

/// A 25 MB bulk create raises the server's peak memory by a small multiple of its body: the
/// records are parsed one at a time from the body's text and inserted a chunk at a time, never
/// held as one tree of JSON values (which took about six times the body).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn peak_memory_of_a_large_bulk_call_is_a_small_multiple_of_its_body() {
    let dir = temp_dir();
    std::fs::write(dir.join("notes.toml"), "[models.Note]\nfields.title = { type = \"string\" }\nfields.body = { type = \"text\", optional = true }\n").unwrap();
    std::fs::write(dir.join("flowgate.toml"), "body_limit = 67108864\n").unwrap();
    let (child, addr) = serve_free(
        &dir,
        &[
            "--config",
            "flowgate.toml",
            "--models",
            "notes.toml",
            "--database-url",
            "sqlite://notes.db",
        ],
    )
    .await;
    let pid = child.id().expect("pid");
    let http = client();
    wait_ready(&http, &addr).await;
    let records: Vec<Value> = (0..90_000)
        .map(|i| json!({"title": format!("t{i}"), "body": "x".repeat(260)}))
        .collect();
    let body = serde_json::to_vec(&json!({"data": records})).unwrap();
    drop(records);
    let size = body.len() as u64;
    // Measured from the resident memory before the call: the peak so far (start-up) is lower.
    let before = rss(pid);
    let r = http
        .post(format!("http://{addr}/api/notes/bulk"))
        .header("content-type", "application/json")
        .header("host", "localhost")
        .body(body)
        .send()
        .await
        .expect("bulk");
    let status = r.status();
    let text = r.text().await.unwrap_or_default();
    assert_eq!(status, reqwest::StatusCode::OK, "{text}");
    let out: Value = serde_json::from_str(&text).unwrap();
    assert_eq!(out["inserted"], 90_000);
    let peak = peak_rss(pid);
    let rise = peak.saturating_sub(before);
    eprintln!(
        "body {} MB; peak RSS rose {} MB ({:.1}x the body)",
        size >> 20,
        rise >> 20,
        rise as f64 / size as f64
    );
    assert!(
        rise < 4 * size,
        "peak RSS rose {} MB for a body of {} MB",
        rise >> 20,
        size >> 20
    );
    terminate(child).await;
}

/// Every row of `sqlite_master` but Flowgate's own tables (the registry's): the application's
/// schema, as text.
async fn application_schema(url: &str) -> Vec<(String, String, String)> {
    let pool = sqlx::SqlitePool::connect(url).await.expect("open");
    let rows: Vec<(String, String, String)> = sqlx::query_as(
        "SELECT type, name, COALESCE(sql, '') FROM sqlite_master \
         WHERE tbl_name NOT LIKE 'flowgate\\_%' ESCAPE '\\' ORDER BY type, name",
    )
    .fetch_all(&pool)
    .await
    .expect("schema");
    pool.close().await;
    rows
}

/// A SQLite database Flowgate did not make (`tests/fixtures/introspect/sqlite.sql`) in `dir`:
/// its URL and its schema.
async fn legacy_database(dir: &Path) -> (String, Vec<(String, String, String)>) {
    let url = format!("sqlite://{}", dir.join("legacy.db").display());
    let pool = sqlx::SqlitePool::connect(&format!("{url}?mode=rwc"))
        .await
        .expect("create");
    sqlx::raw_sql(include_str!("../../tests/fixtures/introspect/sqlite.sql"))
        .execute(&pool)
        .await
        .expect("hand-written schema");
    pool.close().await;
    let before = application_schema(&url).await;
    (url, before)
}

/// DESIGN 13.10 as a user meets it: `flowgate introspect` writes a schema file for a database
/// Flowgate did not make, `serve` serves it over REST without a change to its tables, and a
/// view or a table without a primary key is reported, not served.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn introspect_then_serve_an_existing_database() {
    let dir = temp_dir();
    let (url, before) = legacy_database(&dir).await;

    let file = dir.join("legacy.toml").display().to_string();
    let (status, stdout, stderr) = run(
        &dir,
        &["introspect", "--database-url", &url, "--output", &file],
    )
    .await;
    assert!(status.success(), "{stderr}");
    assert!(stdout.is_empty(), "{stdout}");
    assert!(stderr.contains("2 models written"), "{stderr}");
    let text = std::fs::read_to_string(&file).unwrap();
    assert!(
        text.contains("[models.Customer]") && text.contains("managed = false"),
        "{text}"
    );
    assert!(text.contains("#   audit_trail: no primary key"), "{text}");
    // JSON to stdout, the remarks on stderr.
    let (status, stdout, stderr) = run(
        &dir,
        &[
            "introspect",
            "--database-url",
            &url,
            "--format",
            "json",
            "--tables",
            "orders,customers",
        ],
    )
    .await;
    assert!(status.success(), "{stderr}");
    let json: Value = serde_json::from_str(&stdout).expect("a JSON schema file");
    assert_eq!(
        json["models"]["Order"]["fields"]["customer_id"]["references"],
        "Customer"
    );
    assert!(
        stderr.contains("Order: index orders_lower_code"),
        "{stderr}"
    );
    // A database that is not there is not created.
    let missing = format!("sqlite://{}", dir.join("none.db").display());
    let (status, _, stderr) = run(&dir, &["introspect", "--database-url", &missing]).await;
    assert!(!status.success());
    assert!(!dir.join("none.db").exists(), "{stderr}");

    let (child, addr) = serve_free(&dir, &["--models", &file, "--database-url", &url]).await;
    let http = client();
    wait_ready(&http, &addr).await;
    let acme = post(
        &http,
        &addr,
        "/api/customers",
        json!({"name": "Acme", "email": "a@x.io"}),
    )
    .await;
    assert_eq!(acme["tier"], "basic", "{acme:#}");
    let order = post(
        &http,
        &addr,
        "/api/orders",
        json!({"customer_id": acme["id"], "total": "9.90", "placed_on": "2026-12-08"}),
    )
    .await;
    assert_eq!(order["paid"], false, "{order:#}");
    let listed = get(
        &http,
        &addr,
        "/api/orders",
        &[("filter", json!({"customer_id": acme["id"]}).to_string())],
    )
    .await;
    assert_eq!(
        listed["records"].as_array().map(Vec::len),
        Some(1),
        "{listed:#}"
    );
    let models = get(&http, &addr, "/models", &[]).await;
    let order_model = models["models"]
        .as_array()
        .and_then(|all| all.iter().find(|m| m["name"] == "Order"))
        .unwrap_or_else(|| panic!("{models:#}"));
    assert_eq!(order_model["definition"]["managed"], false, "{models:#}");
    assert!(terminate(child).await.success());
    assert_eq!(
        application_schema(&url).await,
        before,
        "the tables are as they were"
    );
    let _ = std::fs::remove_dir_all(&dir);
}

/// `serve --introspect` with no model declared: the database's tables serve as they are, read
/// in the background once the server is up; the tables are not changed.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn serve_introspect_serves_every_table() {
    let dir = temp_dir();
    let (url, before) = legacy_database(&dir).await;
    let (child, addr) = serve_free(&dir, &["--introspect", "--database-url", &url]).await;
    let http = client();
    let deadline = Instant::now() + WAIT;
    loop {
        let models = get(&http, &addr, "/models", &[]).await;
        let names: Vec<&str> = models["models"]
            .as_array()
            .map(|all| all.iter().filter_map(|m| m["name"].as_str()).collect())
            .unwrap_or_default();
        if names == ["Customer", "Order"] {
            break;
        }
        assert!(Instant::now() < deadline, "not introspected: {models:#}");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    wait_ready(&http, &addr).await;
    let acme = post(
        &http,
        &addr,
        "/api/customers",
        json!({"name": "Acme", "email": "a@x.io"}),
    )
    .await;
    post(
        &http,
        &addr,
        "/api/orders",
        json!({"customer_id": acme["id"], "total": "1.50", "placed_on": "2026-12-08"}),
    )
    .await;
    let model = get(&http, &addr, "/models/Customer", &[]).await;
    assert_eq!(
        model["relations"],
        json!([
            {"name": "orders_by_customer", "kind": "has_many", "model": "Order", "field": "customer_id"},
            {"name": "orders_by_referrer", "kind": "has_many", "model": "Order", "field": "referrer_id"},
            {"name": "orders_by_approver", "kind": "has_many", "model": "Order", "field": "approver_id"},
            {"name": "orders_by_reviewer", "kind": "has_many", "model": "Order", "field": "reviewer_id"},
        ]),
        "{model:#}"
    );
    let customers = get(
        &http,
        &addr,
        "/api/customers",
        &[("expand", "orders_by_customer".to_string())],
    )
    .await;
    assert_eq!(
        customers["records"][0]["orders_by_customer"][0]["total"], "1.5",
        "{customers:#}"
    );
    assert!(terminate(child).await.success());
    assert_eq!(
        application_schema(&url).await,
        before,
        "the tables are as they were"
    );
    let _ = std::fs::remove_dir_all(&dir);
}
