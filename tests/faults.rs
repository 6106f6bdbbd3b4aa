//! Faults a server meets in production, end to end over real sockets and real databases: a
//! database that appears late, a model whose reference cannot resolve, backends terminated under
//! a request, a disk that fills up, statements that run too long and clients that hang up.
//!
//! No timing assertions: whatever takes time is polled in bounded loops that fail after [`WAIT`].
#![allow(missing_docs)]

mod common;

use common::{Backend, http_client, server_builder};
use flowgate::{FieldDef, ModelDef};
use flowgate_actors::{Feature, Handle, State};
use reqwest::StatusCode;
use serde_json::{Value, json};
use std::time::{Duration, Instant};

/// The longest any poll waits before the test fails.
const WAIT: Duration = Duration::from_secs(15);

fn note() -> ModelDef {
    ModelDef::new("Note")
        .field(FieldDef::string("title").max_length(200))
        .field(FieldDef::text("body").optional())
}

fn init_logs() {
    let _ = tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_default_env().unwrap_or_else(|_| "warn".into()),
        )
        .with_test_writer()
        .try_init();
}

/// A JSON answer: status and body.
async fn call(req: reqwest::RequestBuilder) -> (StatusCode, Value) {
    let resp = req.send().await.expect("request");
    let status = resp.status();
    let bytes = resp.bytes().await.expect("body");
    let body = serde_json::from_slice(&bytes)
        .unwrap_or_else(|_| Value::String(String::from_utf8_lossy(&bytes).into_owned()));
    (status, body)
}

fn base(handle: &Handle) -> String {
    format!("http://{}", handle.http_addr())
}

/// Polls `GET path` until it answers `want`, and gives the last body.
async fn until_status(handle: &Handle, path: &str, want: StatusCode) -> Value {
    let http = http_client();
    let deadline = Instant::now() + WAIT;
    loop {
        let (status, body) = call(http.get(format!("{}{path}", base(handle)))).await;
        if status == want {
            return body;
        }
        assert!(
            Instant::now() < deadline,
            "GET {path} did not answer {want} within {WAIT:?}: {status} {body:#}"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

/// A fresh PostgreSQL schema's URL whose connections carry an application name of their own
/// (so that `pg_stat_activity` tells this test's server apart), and that name.
async fn named_postgres() -> Option<(String, String)> {
    let url = common::fresh_url(Backend::Postgres).await?;
    let app = common::unique_name("fgt_app");
    Some((format!("{url}&application_name={app}"), app))
}

fn postgres_base() -> Option<String> {
    match std::env::var(common::POSTGRES_ENV) {
        Ok(url) => Some(url),
        Err(_) => {
            assert!(
                std::env::var_os("FLOWGATE_TEST_REQUIRE_ALL").is_none(),
                "{} is not set but FLOWGATE_TEST_REQUIRE_ALL is",
                common::POSTGRES_ENV
            );
            eprintln!("note: {} is not set; skipping", common::POSTGRES_ENV);
            None
        }
    }
}

/// `base` with its database name replaced.
fn with_database(base: &str, db: &str) -> String {
    let (head, query) = match base.split_once('?') {
        Some((h, q)) => (h, Some(q)),
        None => (base, None),
    };
    let (root, _) = head.rsplit_once('/').expect("a database url has a path");
    match query {
        Some(q) => format!("{root}/{db}?{q}"),
        None => format!("{root}/{db}"),
    }
}

/// A PostgreSQL database that does not exist when the server starts is picked up once it is
/// created; meanwhile the board and the 503 say what is wrong, in public words.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_postgres_database_created_later_is_picked_up() {
    init_logs();
    let Some(admin_url) = postgres_base() else {
        return;
    };
    let db = common::unique_name("fgt_late");
    let admin = sqlx::PgPool::connect(&admin_url).await.expect("admin");
    let handle = server_builder(&with_database(&admin_url, &db))
        .model(note())
        .set("connect_retry_max_ms", 200)
        .set("ready_wait_ms", 100)
        .start()
        .await
        .expect("start");
    // The first attempt may still be under way; then the answer says what is wrong.
    let deadline = Instant::now() + WAIT;
    loop {
        let body = until_status(&handle, "/api/notes", StatusCode::SERVICE_UNAVAILABLE).await;
        let message = body["error"]["message"].as_str().unwrap_or_default();
        if message.contains("the database does not exist") {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "the 503 says what is wrong: {body:#}"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let board = handle.board().to_json();
    assert_eq!(
        board["features"]["database"]["state"], "starting",
        "{board:#}"
    );
    assert!(
        !board.to_string().contains(&db),
        "the public board carries no database text: {board:#}"
    );
    sqlx::query(sqlx::AssertSqlSafe(format!("CREATE DATABASE \"{db}\"")))
        .execute(&admin)
        .await
        .expect("create database");
    until_status(&handle, "/api/notes", StatusCode::OK).await;
    handle.shutdown().await;
    // Clean-up only: another test's CREATE DATABASE may hold the catalog a moment.
    if let Err(e) = sqlx::query(sqlx::AssertSqlSafe(format!(
        "DROP DATABASE \"{db}\" WITH (FORCE)"
    )))
    .execute(&admin)
    .await
    {
        eprintln!("note: could not drop {db}: {e}");
    }
}

/// A SQLite file in a directory that does not exist yet is opened once the directory is made.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_sqlite_directory_made_later_is_picked_up() {
    init_logs();
    let dir = std::env::temp_dir()
        .join("flowgate-tests")
        .join(common::unique_name("later"));
    let url = format!("sqlite://{}", dir.join("app.db").display());
    let handle = server_builder(&url)
        .model(note())
        .set("connect_retry_max_ms", 200)
        .set("ready_wait_ms", 100)
        .start()
        .await
        .expect("start");
    let body = until_status(&handle, "/api/notes", StatusCode::SERVICE_UNAVAILABLE).await;
    assert_eq!(body["error"]["details"]["what"], "database", "{body:#}");
    let board = handle.board().to_json();
    assert!(
        !board.to_string().contains(&dir.display().to_string()),
        "the public board carries no path: {board:#}"
    );
    std::fs::create_dir_all(&dir).expect("make the directory");
    until_status(&handle, "/api/notes", StatusCode::OK).await;
    handle.shutdown().await;
    let _ = std::fs::remove_dir_all(&dir);
}

/// Bad credentials are retried (they may be fixed while the server waits), and the board says
/// so without the role name the database's own message carries.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_board_never_shows_database_error_text() {
    init_logs();
    let Some(admin_url) = postgres_base() else {
        return;
    };
    let role = common::unique_name("nobody");
    let url = admin_url.replacen("postgres@", &format!("{role}@"), 1);
    assert_ne!(url, admin_url, "the test url names the postgres user");
    let handle = server_builder(&url)
        .model(note())
        .set("connect_retry_max_ms", 200)
        .start()
        .await
        .expect("start");
    let deadline = Instant::now() + WAIT;
    let reason = loop {
        if let Some(State::Starting(Some(reason))) = handle.board().state(&Feature::Database) {
            break reason;
        }
        assert!(Instant::now() < deadline, "{:#}", handle.board().to_json());
        tokio::time::sleep(Duration::from_millis(20)).await;
    };
    assert!(reason.contains("refused the credentials"), "{reason}");
    let board = handle.board().to_json().to_string();
    assert!(!board.contains(&role), "{board}");
    handle.shutdown().await;
}

/// Without model persistence too, a model that refers to a model nobody declared fails at once
/// with the reason; the others serve.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_reference_to_an_unknown_model_fails_that_model_at_once() {
    init_logs();
    for persistence in [false, true] {
        let url = common::fresh_shared_url(Backend::Sqlite).await.unwrap();
        let task = ModelDef::new("Task")
            .field(FieldDef::string("title"))
            .field(FieldDef::integer("owner_id").references("Nobody"));
        let handle = server_builder(&url)
            .models([note(), task])
            .set("model_persistence", persistence)
            .set("ready_wait_ms", 60_000)
            .start()
            .await
            .expect("start");
        until_status(&handle, "/api/notes", StatusCode::OK).await;
        let started = Instant::now();
        let (status, body) = call(http_client().get(format!("{}/api/tasks", base(&handle)))).await;
        assert_eq!(status, StatusCode::SERVICE_UNAVAILABLE, "{body:#}");
        assert!(
            body["error"]["message"]
                .as_str()
                .unwrap_or_default()
                .contains("Nobody"),
            "{body:#}"
        );
        // Failed, not waiting: well before the 60 s ready wait.
        assert!(started.elapsed() < WAIT, "the request waited");
        assert!(matches!(
            handle.board().state(&Feature::model("Task")),
            Some(State::Failed(_))
        ));
        handle.shutdown().await;
    }
}

/// A backend terminated while a read runs (`pg_terminate_backend`, SQLSTATE 57P01) is not a 500:
/// the read runs again on a fresh connection and succeeds.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_read_whose_backend_is_terminated_is_retried() {
    init_logs();
    let Some((url, app)) = named_postgres().await else {
        return;
    };
    let handle = server_builder(&url)
        .model(note())
        .start()
        .await
        .expect("start");
    until_status(&handle, "/api/notes", StatusCode::OK).await;
    let http = http_client();
    let (status, created) = call(
        http.post(format!("{}/api/notes", base(&handle)))
            .json(&json!({"title": "kept"})),
    )
    .await;
    assert_eq!(status, StatusCode::CREATED, "{created:#}");
    let id = created["id"].as_i64().unwrap();

    // Hold the table so that the server's read waits in PostgreSQL; terminate the backend that
    // waits, then let go.
    let admin = sqlx::PgPool::connect(&url).await.expect("admin");
    let mut locker = admin.begin().await.expect("begin");
    sqlx::query("LOCK TABLE notes IN ACCESS EXCLUSIVE MODE")
        .execute(&mut *locker)
        .await
        .expect("lock");
    let read = tokio::spawn(call(http.get(format!("{}/api/notes/{id}", base(&handle)))));
    let deadline = Instant::now() + WAIT;
    loop {
        let waiting: Vec<i32> = sqlx::query_scalar(
            "SELECT pid FROM pg_stat_activity WHERE application_name = $1 AND wait_event_type = 'Lock'",
        )
        .bind(&app)
        .fetch_all(&admin)
        .await
        .expect("activity");
        if let Some(pid) = waiting.first() {
            sqlx::query("SELECT pg_terminate_backend($1)")
                .bind(pid)
                .execute(&admin)
                .await
                .expect("terminate");
            break;
        }
        assert!(
            Instant::now() < deadline,
            "the read never waited on the lock"
        );
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    locker.commit().await.expect("unlock");
    let (status, body) = read.await.expect("read");
    assert_eq!(status, StatusCode::OK, "{body:#}");
    assert_eq!(body["title"], "kept");
    admin.close().await;
    handle.shutdown().await;
}

/// How a test closes the server's idle connections from the database's side.
enum CloseIdle {
    /// PostgreSQL: `pg_terminate_backend` of the connections with this application name.
    Terminate(String),
    /// MySQL/MariaDB: `KILL` of the connections to this database.
    Kill(String),
}

/// Connections the database closed while they sat idle in the pool (a restarted server, a
/// terminated backend) do not fail the next write, which is never retried: a connection idle for
/// more than a second is pinged before it serves, and replaced when the ping fails.
async fn write_after_idle_connections_closed(url: &str, close: CloseIdle) {
    let handle = server_builder(url)
        .model(note())
        .start()
        .await
        .expect("start");
    until_status(&handle, "/api/notes", StatusCode::OK).await;
    // Everything started (nothing else is using the pool while the connections are closed).
    assert!(handle.wait_ready(WAIT).await, "not ready");
    let http = http_client();
    let create = || {
        call(
            http.post(format!("{}/api/notes", base(&handle)))
                .json(&json!({"title": "after"})),
        )
    };
    let (status, body) = create().await;
    assert_eq!(status, StatusCode::CREATED, "{body:#}");

    match close {
        CloseIdle::Terminate(app) => {
            let admin = sqlx::PgPool::connect(url).await.expect("admin");
            let terminated: Vec<bool> = sqlx::query_scalar(
                "SELECT pg_terminate_backend(pid) FROM pg_stat_activity \
                 WHERE application_name = $1 AND pid <> pg_backend_pid()",
            )
            .bind(&app)
            .fetch_all(&admin)
            .await
            .expect("terminate");
            assert!(!terminated.is_empty(), "the server has connections");
            admin.close().await;
        }
        CloseIdle::Kill(db) => {
            let admin_url = std::env::var(common::MYSQL_ENV).expect("MySQL url");
            let admin = sqlx::MySqlPool::connect(&admin_url).await.expect("admin");
            let ids: Vec<i64> = sqlx::query_scalar(
                "SELECT ID FROM information_schema.PROCESSLIST WHERE DB = ? AND ID <> CONNECTION_ID()",
            )
            .bind(&db)
            .fetch_all(&admin)
            .await
            .expect("processes");
            assert!(!ids.is_empty(), "the server has connections");
            for id in ids {
                sqlx::query(sqlx::AssertSqlSafe(format!("KILL {id}")))
                    .execute(&admin)
                    .await
                    .expect("kill");
            }
            admin.close().await;
        }
    }
    // Past the idle time after which a connection is pinged before it serves.
    tokio::time::sleep(Duration::from_millis(1500)).await;

    let (status, body) = create().await;
    assert_eq!(status, StatusCode::CREATED, "{body:#}");
    handle.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_write_after_idle_connections_were_closed_succeeds() {
    init_logs();
    let Some((url, app)) = named_postgres().await else {
        return;
    };
    write_after_idle_connections_closed(&url, CloseIdle::Terminate(app)).await;
}

/// [`write_after_idle_connections_closed`] on MySQL/MariaDB (`KILL`).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_write_after_idle_connections_were_killed_succeeds_on_mysql() {
    init_logs();
    let Some(url) = common::fresh_url(Backend::MySql).await else {
        return;
    };
    let db = url
        .split('?')
        .next()
        .and_then(|u| u.rsplit('/').next())
        .expect("a database name")
        .to_string();
    write_after_idle_connections_closed(&url, CloseIdle::Kill(db)).await;
}

/// A small tmpfs mounted for one test (root only; CI runs as root), unmounted on drop.
struct SmallDisk {
    dir: std::path::PathBuf,
}

impl SmallDisk {
    /// Mounts one, or says why it cannot: the test then fails under FLOWGATE_TEST_REQUIRE_ALL
    /// and is skipped with a note otherwise.
    fn mount(size: &str) -> Option<SmallDisk> {
        let dir = std::env::temp_dir()
            .join("flowgate-tests")
            .join(common::unique_name("disk"));
        std::fs::create_dir_all(&dir).expect("mount point");
        let out = std::process::Command::new("mount")
            .args(["-t", "tmpfs", "-o", &format!("size={size}"), "tmpfs"])
            .arg(&dir)
            .output();
        match out {
            Ok(o) if o.status.success() => Some(SmallDisk { dir }),
            other => {
                let why = format!("cannot mount a tmpfs (needs root): {other:?}");
                assert!(
                    std::env::var_os("FLOWGATE_TEST_REQUIRE_ALL").is_none(),
                    "{why}"
                );
                eprintln!("note: {why}; skipping");
                None
            }
        }
    }

    /// Fills what is left of the disk with a file; gives its path.
    fn fill(&self) -> std::path::PathBuf {
        use std::io::Write;
        let path = self.dir.join("filler");
        let mut f = std::fs::File::create(&path).expect("filler");
        let block = vec![0u8; 4096];
        while f.write_all(&block).is_ok() {}
        let _ = f.sync_all();
        path
    }
}

impl Drop for SmallDisk {
    fn drop(&mut self) {
        let _ = std::process::Command::new("umount")
            .arg("-l")
            .arg(&self.dir)
            .status();
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

/// A full disk fails writes with 503 and turns `database` degraded; once space is freed, every
/// operation works again (no connection went back to the pool inside a transaction) and the
/// board recovers, without a restart.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_full_disk_degrades_then_recovers_by_itself() {
    init_logs();
    let Some(disk) = SmallDisk::mount("1M") else {
        return;
    };
    let url = format!("sqlite://{}", disk.dir.join("app.db").display());
    let handle = server_builder(&url)
        .model(note())
        .start()
        .await
        .expect("start");
    until_status(&handle, "/api/notes", StatusCode::OK).await;
    let http = http_client();
    let notes = format!("{}/api/notes", base(&handle));
    let filler = disk.fill();
    let big = "x".repeat(20_000);
    let mut refused = 0;
    for _ in 0..6 {
        let (status, body) =
            call(http.post(&notes).json(&json!({"title": "t", "body": big}))).await;
        assert_ne!(status, StatusCode::INTERNAL_SERVER_ERROR, "{body:#}");
        if status == StatusCode::SERVICE_UNAVAILABLE {
            assert_eq!(body["error"]["code"], "unavailable", "{body:#}");
            refused += 1;
        }
    }
    assert!(refused > 0, "the disk never filled");
    for _ in 0..3 {
        let (status, body) = call(
            http.post(format!("{notes}/bulk"))
                .json(&json!({"data": [{"title": "a"}]})),
        )
        .await;
        assert_eq!(status, StatusCode::SERVICE_UNAVAILABLE, "{body:#}");
    }
    assert!(
        matches!(
            handle.board().state(&Feature::Database),
            Some(State::Degraded(_))
        ),
        "{:#}",
        handle.board().to_json()
    );
    let (status, _) = call(http.get(&notes)).await;
    assert_eq!(status, StatusCode::OK, "reads still serve");

    std::fs::remove_file(filler).expect("free the disk");
    for _ in 0..5 {
        let (status, body) = call(
            http.post(format!("{notes}/bulk"))
                .json(&json!({"data": [{"title": "b"}]})),
        )
        .await;
        assert_eq!(
            status,
            StatusCode::OK,
            "transactional writes work again: {body:#}"
        );
        let (status, body) = call(http.post(&notes).json(&json!({"title": "c"}))).await;
        assert_eq!(status, StatusCode::CREATED, "{body:#}");
    }
    assert_eq!(handle.board().state(&Feature::Database), Some(State::Ready));
    handle.shutdown().await;
}

/// Fills the `notes` table of a PostgreSQL test schema with `n` rows in one statement.
async fn fill_notes_pg(url: &str, n: i64) {
    let admin = sqlx::PgPool::connect(url).await.expect("admin");
    sqlx::query(
        "INSERT INTO notes (title, body, created_at, updated_at) \
         SELECT md5(i::text) || repeat('ab', 50), 'x', now(), now() FROM generate_series(1, $1) i",
    )
    .bind(n)
    .execute(&admin)
    .await
    .expect("fill");
    admin.close().await;
}

/// The statements of this test's server still running in PostgreSQL.
async fn running(admin: &sqlx::PgPool, app: &str) -> i64 {
    sqlx::query_scalar(
        "SELECT count(*) FROM pg_stat_activity WHERE application_name = $1 AND state = 'active' AND pid <> pg_backend_pid()",
    )
    .bind(app)
    .fetch_one(admin)
    .await
    .expect("activity")
}

/// A statement past `statement_timeout_ms` is stopped by the database and answers 503, and the
/// pool serves the next request.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_statement_past_its_time_limit_is_stopped() {
    init_logs();
    let Some(url) = common::fresh_url(Backend::Postgres).await else {
        return;
    };
    let handle = server_builder(&url)
        .model(note())
        .set("statement_timeout_ms", 100)
        .start()
        .await
        .expect("start");
    until_status(&handle, "/api/notes", StatusCode::OK).await;
    fill_notes_pg(&url, 100_000).await;
    let http = http_client();
    let slow = json!({"title": {"$regex": "(.*b){60}z"}}).to_string();
    let (status, body) = call(
        http.get(format!("{}/api/notes/count", base(&handle)))
            .query(&[("filter", slow.as_str())]),
    )
    .await;
    assert_eq!(status, StatusCode::SERVICE_UNAVAILABLE, "{body:#}");
    assert!(
        body["error"]["message"]
            .as_str()
            .unwrap_or_default()
            .contains("time limit"),
        "{body:#}"
    );
    let (status, body) = call(http.get(format!("{}/api/notes/7", base(&handle)))).await;
    assert_eq!(status, StatusCode::OK, "{body:#}");
    handle.shutdown().await;
}

/// Requests whose clients hang up stop their statements: ten slow counts abandoned after
/// 300 ms leave nothing running in PostgreSQL soon after (uncancelled they would run for tens
/// of seconds), and a read of the same model answers meanwhile.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn abandoned_requests_stop_their_statements() {
    init_logs();
    let Some((url, app)) = named_postgres().await else {
        return;
    };
    let handle = server_builder(&url)
        .model(note())
        .set("pool_size", 4)
        .set("statement_timeout_ms", 120_000)
        .start()
        .await
        .expect("start");
    until_status(&handle, "/api/notes", StatusCode::OK).await;
    fill_notes_pg(&url, 100_000).await;
    let slow = json!({"title": {"$regex": "(.*b){250}z"}}).to_string();
    let impatient = reqwest::Client::builder()
        .no_proxy()
        .timeout(Duration::from_millis(300))
        .build()
        .unwrap();
    let mut abandoned = Vec::new();
    for _ in 0..10 {
        let req = impatient
            .get(format!("{}/api/notes/count", base(&handle)))
            .query(&[("filter", slow.as_str())]);
        abandoned.push(tokio::spawn(req.send()));
    }
    for a in abandoned {
        assert!(a.await.unwrap().is_err(), "the client gave up");
    }
    let admin = sqlx::PgPool::connect(&url).await.expect("admin");
    let deadline = Instant::now() + Duration::from_secs(6);
    loop {
        let n = running(&admin, &app).await;
        if n == 0 {
            break;
        }
        if Instant::now() >= deadline {
            let rows: Vec<(i32, String, String)> = sqlx::query_as(
                "SELECT pid, backend_type, left(query, 60) FROM pg_stat_activity \
                 WHERE application_name = $1 AND state = 'active' AND pid <> pg_backend_pid()",
            )
            .bind(&app)
            .fetch_all(&admin)
            .await
            .unwrap();
            panic!("{n} abandoned statements still run: {rows:?}");
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let (status, body) = call(http_client().get(format!("{}/api/notes/7", base(&handle)))).await;
    assert_eq!(status, StatusCode::OK, "{body:#}");
    admin.close().await;
    handle.shutdown().await;
}

/// SQLite has no statement time limit of its own: a progress handler stops a scan past the
/// limit.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_sqlite_scan_past_its_time_limit_is_stopped() {
    init_logs();
    let url = common::fresh_shared_url(Backend::Sqlite).await.unwrap();
    let handle = server_builder(&url)
        .model(note())
        .set("statement_timeout_ms", 30)
        .start()
        .await
        .expect("start");
    until_status(&handle, "/api/notes", StatusCode::OK).await;
    let filler = sqlx::SqlitePool::connect(&url).await.expect("filler");
    sqlx::query(
        "WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n WHERE i < 200000) \
         INSERT INTO notes (title, body, created_at, updated_at) \
         SELECT hex(randomblob(16)) || 'abababababababababababababab', 'x', '2026-01-01T00:00:00Z', \
         '2026-01-01T00:00:00Z' FROM n",
    )
    .execute(&filler)
    .await
    .expect("fill");
    filler.close().await;
    let http = http_client();
    let slow = json!({"title": {"$regex": "(.*b){25}z"}}).to_string();
    let (status, body) = call(
        http.get(format!("{}/api/notes/count", base(&handle)))
            .query(&[("filter", slow.as_str())]),
    )
    .await;
    assert_eq!(status, StatusCode::SERVICE_UNAVAILABLE, "{body:#}");
    // The connection serves again, by id and by scan.
    let (status, body) = call(http.get(format!("{}/api/notes/7", base(&handle)))).await;
    assert_eq!(status, StatusCode::OK, "{body:#}");
    let (status, body) = call(http.get(format!("{}/api/notes?limit=1", base(&handle)))).await;
    assert_eq!(status, StatusCode::OK, "{body:#}");
    handle.shutdown().await;
}
