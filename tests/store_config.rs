//! Pools and connection settings: SQLite WAL and in-memory sharing, `echo`, bad URLs and
//! unreachable databases.
#![allow(missing_docs)]

use flowgate::{Context, FieldDef, ModelDef, OpKind, Operation, Schema, Store, StoreConfig};
use serde_json::json;
use std::io::Write;
use std::sync::{Arc, Mutex};

fn note() -> ModelDef {
    ModelDef::new("Note").field(FieldDef::string("body").max_length(100))
}

fn create(body: &str) -> Operation {
    Operation::new("Note", OpKind::Create, json!({ "body": body }))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn memory_database_is_shared_by_every_pooled_connection() {
    let mut cfg = StoreConfig::new("sqlite::memory:");
    cfg.pool_size = 4;
    let store = Store::connect(&cfg, Schema::new([note()]).unwrap())
        .await
        .unwrap();
    store.create_tables().await.unwrap();
    // Hold one connection in an open transaction while other connections read and write: they
    // must all see the same database.
    let mut tx = store.begin().await.unwrap();
    tx.execute(&Context::internal(), &create("in tx"))
        .await
        .unwrap();
    tx.commit().await.unwrap();
    let writers: Vec<_> = (0..8)
        .map(|i| {
            let s = store.clone();
            tokio::spawn(async move {
                s.execute(&Context::internal(), &create(&format!("n{i}")))
                    .await
            })
        })
        .collect();
    for w in writers {
        w.await.unwrap().unwrap();
    }
    let count = store
        .execute(
            &Context::internal(),
            &Operation::new("Note", OpKind::Count, json!({})),
        )
        .await
        .unwrap();
    assert_eq!(count, json!({ "count": 9 }));
}

/// A fresh directory for a test's SQLite file, and the file's URL.
fn sqlite_file(test: &str) -> (std::path::PathBuf, String) {
    let dir = std::env::temp_dir().join(format!("flowgate-{test}-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let url = format!("sqlite://{}", dir.join("notes.db").display());
    (dir, url)
}

#[tokio::test]
async fn sqlite_files_use_wal_and_survive_reopening() {
    let (dir, url) = sqlite_file("wal");
    let store = Store::open(&url, [note()]).await.unwrap();
    store
        .execute(&Context::internal(), &create("kept"))
        .await
        .unwrap();
    store.close().await;

    let raw = sqlx::SqlitePool::connect(&url).await.unwrap();
    let mode: String = sqlx::query_scalar("PRAGMA journal_mode")
        .fetch_one(&raw)
        .await
        .unwrap();
    assert_eq!(mode, "wal");
    raw.close().await;

    let again = Store::open(&url, [note()]).await.unwrap();
    let list = again
        .execute(
            &Context::internal(),
            &Operation::new("Note", OpKind::List, json!({})),
        )
        .await
        .unwrap();
    assert_eq!(list["records"][0]["body"], "kept");
    again.close().await;
    std::fs::remove_dir_all(&dir).ok();
}

/// SQLite runs its WAL auto-checkpoint (at 1,000 frames) only when a statement steps to its end.
/// A single-row write fetched with a row limit stops at its row (sqlx-sqlite then resets the
/// statement), the checkpoint never runs and the log grows with every write: about 2 frames per
/// insert and 1 per update here, so 4,000 and 2,000 frames after these writes.
#[tokio::test]
async fn single_row_writes_keep_the_sqlite_log_bounded() {
    let (dir, url) = sqlite_file("wal-bound");
    let store = Store::open(&url, [note()]).await.unwrap();
    let raw = sqlx::SqlitePool::connect(&url).await.unwrap();
    let frames = || async {
        let (_, log, _): (i64, i64, i64) = sqlx::query_as("PRAGMA wal_checkpoint(PASSIVE)")
            .fetch_one(&raw)
            .await
            .unwrap();
        log
    };
    let ctx = Context::internal();
    let mut ids = Vec::new();
    for i in 0..2000 {
        let rec = store
            .execute(&ctx, &create(&format!("n{i}")))
            .await
            .unwrap();
        ids.push(rec["id"].clone());
    }
    let log = frames().await;
    assert!(
        log < 1500,
        "after creates, the write-ahead log holds {log} frames"
    );
    for (i, id) in ids.iter().enumerate() {
        let update = json!({"id": id, "fields": {"body": format!("u{i}")}});
        store
            .execute(&ctx, &Operation::new("Note", OpKind::Update, update))
            .await
            .unwrap();
    }
    let log = frames().await;
    assert!(
        log < 1500,
        "after updates, the write-ahead log holds {log} frames"
    );
    raw.close().await;
    store.close().await;
    std::fs::remove_dir_all(&dir).ok();
}

/// A writer the tracing subscriber logs into, so the test can read what `echo` printed.
#[derive(Clone, Default)]
struct Captured(Arc<Mutex<Vec<u8>>>);

impl Write for Captured {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.0.lock().unwrap().extend_from_slice(buf);
        Ok(buf.len())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

#[tokio::test]
async fn echo_logs_each_statement_with_its_duration() {
    let captured = Captured::default();
    let writer = captured.clone();
    let subscriber = tracing_subscriber::fmt()
        .with_writer(move || writer.clone())
        .with_ansi(false)
        .finish();
    let _guard = tracing::subscriber::set_default(subscriber);

    for echo in [false, true] {
        let mut cfg = StoreConfig::new("sqlite::memory:");
        cfg.echo = echo;
        let store = Store::connect(&cfg, Schema::new([note()]).unwrap())
            .await
            .unwrap();
        store.create_tables().await.unwrap();
        store
            .execute(
                &Context::internal(),
                &create(if echo { "loud" } else { "quiet" }),
            )
            .await
            .unwrap();
    }
    let log = String::from_utf8(captured.0.lock().unwrap().clone()).unwrap();
    let statements: Vec<&str> = log
        .lines()
        .filter(|l| l.contains("flowgate::sql"))
        .collect();
    assert!(
        statements
            .iter()
            .any(|l| l.contains("INSERT INTO \"notes\"") && l.contains("micros=")),
        "{log}"
    );
    // Only the echoing store logged: two statements (create table, insert), never the values.
    assert_eq!(statements.len(), 2, "{log}");
    assert!(
        !log.contains("loud") && !log.contains("quiet"),
        "bound values must not be logged: {log}"
    );
}

#[tokio::test]
async fn bad_urls_and_unreachable_databases_are_typed_errors() {
    let err = Store::connect(&StoreConfig::new("oracle://x"), Schema::default())
        .await
        .unwrap_err();
    assert_eq!(
        (err.code(), err.field()),
        ("validation", Some("database_url"))
    );

    // Nothing listens on port 1: the pool cannot connect.
    let mut cfg = StoreConfig::new("postgres://postgres@127.0.0.1:1/none");
    cfg.acquire_timeout = std::time::Duration::from_millis(500);
    let err = Store::connect(&cfg, Schema::default()).await.unwrap_err();
    assert_eq!(err.code(), "unavailable", "{err:?}");
}
