//! Connection pools: one per database, sized by `pool_size`.

use super::errors::connect_error;
use crate::error::{Error, Result};
use crate::sql::Dialect;
use sqlx::mysql::{MySqlConnectOptions, MySqlPool, MySqlPoolOptions};
use sqlx::postgres::{PgConnectOptions, PgPool, PgPoolOptions};
use sqlx::sqlite::{
    SqliteConnectOptions, SqliteJournalMode, SqlitePool, SqlitePoolOptions, SqliteSynchronous,
};
use std::str::FromStr;
use std::time::Duration;

/// How to reach the database.
#[derive(Debug, Clone)]
pub struct StoreConfig {
    /// `sqlite://file.db`, `sqlite::memory:`, `postgres://...` or `mysql://...`.
    pub database_url: String,
    /// The most connections the pool opens.
    pub pool_size: u32,
    /// How long to wait for a connection before the operation fails as unavailable.
    pub acquire_timeout: Duration,
    /// Log every statement with its duration (`flowgate::sql` target, info level).
    pub echo: bool,
}

impl StoreConfig {
    /// Defaults for a URL: 10 connections, a 5 s acquire timeout, no echo.
    pub fn new(database_url: impl Into<String>) -> Self {
        StoreConfig {
            database_url: database_url.into(),
            pool_size: 10,
            acquire_timeout: Duration::from_secs(5),
            echo: false,
        }
    }
}

/// A pool of one of the three databases.
#[derive(Debug, Clone)]
pub(crate) enum Pool {
    Sqlite(SqlitePool),
    Postgres(PgPool),
    MySql(MySqlPool),
}

impl Pool {
    pub(crate) fn dialect(&self) -> Dialect {
        match self {
            Pool::Sqlite(_) => Dialect::Sqlite,
            Pool::Postgres(_) => Dialect::Postgres,
            Pool::MySql(_) => Dialect::MySql,
        }
    }

    pub(crate) async fn close(&self) {
        match self {
            Pool::Sqlite(p) => p.close().await,
            Pool::Postgres(p) => p.close().await,
            Pool::MySql(p) => p.close().await,
        }
    }
}

/// The dialect a URL names, or a validation error naming `database_url`.
pub fn dialect_of(url: &str) -> Result<Dialect> {
    let scheme = url.split(':').next().unwrap_or("");
    match scheme {
        "sqlite" => Ok(Dialect::Sqlite),
        "postgres" | "postgresql" => Ok(Dialect::Postgres),
        "mysql" | "mariadb" => Ok(Dialect::MySql),
        _ => Err(Error::validation(
            "database_url",
            format!("unsupported database url scheme `{scheme}` (sqlite, postgres, mysql)"),
        )),
    }
}

/// Whether a connection given back to the pool may serve again. One still inside a transaction
/// (a commit that failed, as on a full disk, and a rollback that failed after it because SQLite
/// had already rolled back by itself; a transaction dropped mid-way whose rollback is still
/// queued) is closed instead: its state is not known, and the next `BEGIN` on it would fail.
fn reusable<C: sqlx::Connection>(
    conn: &mut C,
    _: sqlx::pool::PoolConnectionMetadata,
) -> futures_util::future::BoxFuture<'_, std::result::Result<bool, sqlx::Error>> {
    let keep = !conn.is_in_transaction();
    if !keep {
        tracing::warn!(target: "flowgate::sql", "closing a connection given back inside a transaction");
    }
    Box::pin(std::future::ready(Ok(keep)))
}

pub(crate) async fn connect(cfg: &StoreConfig) -> Result<Pool> {
    // The parser's message may quote the URL, password and all: it goes to the log only.
    let bad_url = |e: sqlx::Error| {
        tracing::warn!(target: "flowgate::sql", error = %e, "the database url does not parse");
        Error::validation("database_url", "the database url does not parse")
    };
    let size = cfg.pool_size.max(1);
    match dialect_of(&cfg.database_url)? {
        Dialect::Sqlite => {
            let in_memory =
                cfg.database_url.contains(":memory:") || cfg.database_url.contains("mode=memory");
            let mut opts = SqliteConnectOptions::from_str(&cfg.database_url)
                .map_err(bad_url)?
                .create_if_missing(true)
                .foreign_keys(true)
                .busy_timeout(Duration::from_secs(10))
                .with_regexp()
                .pragma("case_sensitive_like", "ON");
            if !in_memory {
                opts = opts
                    .journal_mode(SqliteJournalMode::Wal)
                    .synchronous(SqliteSynchronous::Normal);
            }
            let mut pool = SqlitePoolOptions::new()
                .max_connections(size)
                .acquire_timeout(cfg.acquire_timeout)
                .after_release(reusable);
            if in_memory {
                // sqlx names each `sqlite::memory:` database uniquely and shares it between the
                // pool's connections; it lives while one connection stays open.
                pool = pool
                    .min_connections(1)
                    .idle_timeout(None)
                    .max_lifetime(None);
            }
            Ok(Pool::Sqlite(
                pool.connect_with(opts).await.map_err(connect_error)?,
            ))
        }
        Dialect::Postgres => {
            let opts = PgConnectOptions::from_str(&cfg.database_url).map_err(bad_url)?;
            let pool = PgPoolOptions::new()
                .max_connections(size)
                .acquire_timeout(cfg.acquire_timeout)
                .after_release(reusable);
            Ok(Pool::Postgres(
                pool.connect_with(opts).await.map_err(connect_error)?,
            ))
        }
        Dialect::MySql => {
            let url = cfg.database_url.replacen("mariadb:", "mysql:", 1);
            let opts = MySqlConnectOptions::from_str(&url)
                .map_err(bad_url)?
                .timezone(Some("+00:00".into()));
            let pool = MySqlPoolOptions::new()
                .max_connections(size)
                .acquire_timeout(cfg.acquire_timeout)
                .after_release(reusable);
            Ok(Pool::MySql(
                pool.connect_with(opts).await.map_err(connect_error)?,
            ))
        }
    }
}
