//! Test harness: one store per test on SQLite (in memory), PostgreSQL (a schema of its own) or
//! MySQL (a database of its own), so that tests run in parallel.
//!
//! PostgreSQL and MySQL tests read `FLOWGATE_TEST_POSTGRES_URL` and `FLOWGATE_TEST_MYSQL_URL`.
//! When a variable is unset the test returns early with a note (plain `cargo test` runs the
//! SQLite suite); when it is set and the database cannot be reached, the test fails.
#![allow(dead_code, unreachable_pub, missing_docs)]

pub mod models;

use flowgate::{ModelDef, Schema, Store, StoreConfig};
use std::sync::atomic::{AtomicU32, Ordering};

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Backend {
    Sqlite,
    Postgres,
    MySql,
}

pub const POSTGRES_ENV: &str = "FLOWGATE_TEST_POSTGRES_URL";
pub const MYSQL_ENV: &str = "FLOWGATE_TEST_MYSQL_URL";

static SEQ: AtomicU32 = AtomicU32::new(0);

/// A unique name for this test's schema or database.
pub fn unique_name(prefix: &str) -> String {
    let n = SEQ.fetch_add(1, Ordering::Relaxed);
    let pid = std::process::id();
    let t = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .subsec_nanos();
    format!("{prefix}_{pid}_{n}_{t:x}")
}

fn missing(var: &str, what: &str) -> Option<String> {
    if std::env::var_os("FLOWGATE_TEST_REQUIRE_ALL").is_some() {
        panic!("{var} is not set but FLOWGATE_TEST_REQUIRE_ALL is: the {what} suite must run");
    }
    eprintln!("note: {var} is not set; skipping the {what} variant");
    None
}

/// The URL of a fresh, empty database of the backend, or None when the backend is not configured.
pub async fn fresh_url(backend: Backend) -> Option<String> {
    match backend {
        Backend::Sqlite => Some("sqlite::memory:".to_string()),
        Backend::Postgres => {
            let Ok(base) = std::env::var(POSTGRES_ENV) else {
                return missing(POSTGRES_ENV, "PostgreSQL");
            };
            let schema = unique_name("fgt");
            let admin = sqlx::PgPool::connect(&base)
                .await
                .unwrap_or_else(|e| panic!("PostgreSQL at {base} is unreachable: {e}"));
            sqlx::query(sqlx::AssertSqlSafe(format!("CREATE SCHEMA \"{schema}\"")))
                .execute(&admin)
                .await
                .expect("create schema");
            admin.close().await;
            let sep = if base.contains('?') { '&' } else { '?' };
            Some(format!("{base}{sep}options=-c%20search_path%3D{schema}"))
        }
        Backend::MySql => {
            let Ok(base) = std::env::var(MYSQL_ENV) else {
                return missing(MYSQL_ENV, "MySQL");
            };
            let db = unique_name("fgt");
            let admin = sqlx::MySqlPool::connect(&base)
                .await
                .unwrap_or_else(|e| panic!("MySQL at {base} is unreachable: {e}"));
            sqlx::query(sqlx::AssertSqlSafe(format!("CREATE DATABASE `{db}`")))
                .execute(&admin)
                .await
                .expect("create database");
            admin.close().await;
            let root = base
                .trim_end_matches('/')
                .rsplit_once('/')
                .map(|(h, last)| {
                    if last.contains('@') || last.contains(':') {
                        base.trim_end_matches('/').to_string()
                    } else {
                        h.to_string()
                    }
                })
                .unwrap();
            Some(format!("{root}/{db}"))
        }
    }
}

/// Like [`fresh_url`], but SQLite gets a file, so that several stores can open the same database.
pub async fn fresh_shared_url(backend: Backend) -> Option<String> {
    if backend != Backend::Sqlite {
        return fresh_url(backend).await;
    }
    let dir = std::env::temp_dir().join("flowgate-tests");
    std::fs::create_dir_all(&dir).expect("temp dir");
    Some(format!(
        "sqlite://{}",
        dir.join(format!("{}.db", unique_name("fgt"))).display()
    ))
}

/// A store on a fresh database with the models' tables created.
pub async fn store(backend: Backend, models: Vec<ModelDef>) -> Option<Store> {
    let url = fresh_url(backend).await?;
    let schema = Schema::new(models).expect("valid models");
    let mut cfg = StoreConfig::new(url);
    cfg.pool_size = 4;
    let store = Store::connect(&cfg, schema).await.expect("connect");
    store.create_tables().await.expect("create tables");
    Some(store)
}

/// Generates one `#[tokio::test]` per backend for each scenario `async fn name(b: Backend)`.
#[macro_export]
macro_rules! conformance {
    ($($name:ident),* $(,)?) => {
        mod sqlite {
            $(#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            async fn $name() { super::$name($crate::common::Backend::Sqlite).await })*
        }
        mod postgres {
            $(#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            async fn $name() { super::$name($crate::common::Backend::Postgres).await })*
        }
        mod mysql {
            $(#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            async fn $name() { super::$name($crate::common::Backend::MySql).await })*
        }
    };
}

/// A server builder on `url` with free ports on the loopback interface.
pub fn server_builder(url: &str) -> flowgate_actors::Supervisor {
    flowgate_actors::Supervisor::builder()
        .database_url(url)
        .http_port(0)
        .mcp_port(0)
        .set("host", "127.0.0.1")
}

/// An HTTP client for a test server: no proxy, a bounded wait.
pub fn http_client() -> reqwest::Client {
    reqwest::Client::builder()
        .no_proxy()
        .timeout(std::time::Duration::from_secs(30))
        .build()
        .expect("http client")
}

/// The client side of an MCP session in tests: passes on the list-changed notifications it
/// receives (`"tools"`, `"resources"`).
#[derive(Clone)]
pub struct Listener {
    changes: tokio::sync::mpsc::UnboundedSender<&'static str>,
}

impl rmcp::ClientHandler for Listener {
    async fn on_tool_list_changed(
        &self,
        _context: rmcp::service::NotificationContext<rmcp::RoleClient>,
    ) {
        let _ = self.changes.send("tools");
    }

    async fn on_resource_list_changed(
        &self,
        _context: rmcp::service::NotificationContext<rmcp::RoleClient>,
    ) {
        let _ = self.changes.send("resources");
    }
}

/// The list-changed notifications an MCP session has received. rmcp hands each notification to
/// the handler on a task of its own, so two sent in one order may arrive in the other: a wait
/// for one kind keeps the others it meets for the next wait instead of dropping them.
pub struct Changes {
    rx: tokio::sync::mpsc::UnboundedReceiver<&'static str>,
    seen: Vec<&'static str>,
}

impl Changes {
    /// Waits up to `within` for a notification of `kind` ("tools" or "resources"), taking one
    /// already received.
    pub async fn wait(&mut self, kind: &str, within: std::time::Duration) {
        if let Some(at) = self.seen.iter().position(|k| *k == kind) {
            self.seen.remove(at);
            return;
        }
        let (rx, seen) = (&mut self.rx, &mut self.seen);
        tokio::time::timeout(within, async {
            while let Some(k) = rx.recv().await {
                if k == kind {
                    return;
                }
                seen.push(k);
            }
            panic!("the MCP session closed before {kind} changed");
        })
        .await
        .unwrap_or_else(|_| panic!("no {kind}/list_changed within {within:?}"));
    }
}

/// An MCP session over streamable HTTP with a running server, and the notifications it gets.
pub async fn mcp_session(
    handle: &flowgate_actors::Handle,
) -> (
    rmcp::service::RunningService<rmcp::RoleClient, Listener>,
    Changes,
) {
    use rmcp::ServiceExt;
    let (tx, rx) = tokio::sync::mpsc::unbounded_channel();
    let transport = rmcp::transport::StreamableHttpClientTransport::from_uri(format!(
        "http://{}/mcp",
        handle.mcp_addr()
    ));
    let session = tokio::time::timeout(
        std::time::Duration::from_secs(20),
        Listener { changes: tx }.serve(transport),
    )
    .await
    .expect("initialize within the wait")
    .expect("initialize");
    (
        session,
        Changes {
            rx,
            seen: Vec::new(),
        },
    )
}
