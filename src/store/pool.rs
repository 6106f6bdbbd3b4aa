//! Connection pools: one per database, sized by `pool_size`.

use super::backend::Backend;
use super::db::session_settings;
use super::errors::connect_error;
use crate::error::{Error, Result};
use crate::sql::Dialect;
use sqlx::mysql::{MySqlConnectOptions, MySqlPoolOptions};
use sqlx::postgres::{PgConnectOptions, PgPoolOptions};
use sqlx::sqlite::{SqliteConnectOptions, SqliteJournalMode, SqlitePoolOptions, SqliteSynchronous};
use sqlx::{MySql, Postgres};
use std::str::FromStr;
use std::sync::Arc;
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
    /// The longest one statement of an operation may run before the database stops it (`None`:
    /// no limit). Schema changes are not limited.
    pub statement_timeout: Option<Duration>,
    /// SQLite: create the database file when it does not exist (`flowgate status` does not).
    pub create_if_missing: bool,
    /// Scope every model by tenant unless it says `tenant_scoped = false` (DESIGN 13.4); read
    /// by [`Store::open_with`](super::Store::open_with). A server takes it from its `Config`.
    pub multi_tenant: bool,
    /// Write the audit trail (`flowgate_audit`, DESIGN 13.5) of every committed write of the
    /// models this store serves.
    pub audit_log: bool,
    /// The most audit rows one operation writes one per record; past it, one summary row.
    pub audit_max_rows_per_op: usize,
}

impl StoreConfig {
    /// Defaults for a URL: 10 connections, a 5 s acquire timeout, a 5 s statement time limit,
    /// no echo, a SQLite file created if missing.
    pub fn new(database_url: impl Into<String>) -> Self {
        StoreConfig {
            database_url: database_url.into(),
            pool_size: 10,
            acquire_timeout: Duration::from_secs(5),
            echo: false,
            statement_timeout: Some(Duration::from_secs(5)),
            create_if_missing: true,
            multi_tenant: false,
            audit_log: false,
            audit_max_rows_per_op: crate::store::audit::DEFAULT_MAX_ROWS_PER_OP,
        }
    }
}

/// The store's handle on its database: a pool of one of the databases, behind [`Backend`].
#[derive(Clone)]
pub(crate) struct Pool(Arc<dyn Backend>);

impl std::ops::Deref for Pool {
    type Target = dyn Backend;

    fn deref(&self) -> &(dyn Backend + 'static) {
        &*self.0
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
/// had already rolled back by itself) is closed instead: its state is not known, and the next
/// `BEGIN` on it would fail. A transaction dropped mid-way has its rollback queued, not yet run
/// (on SQLite the connection's worker thread runs it when it gets to it): a ping, which the
/// connection runs after what is queued, settles it first. Without that wait the connection was
/// closed whenever the check won the race, which loses an in-memory SQLite database outright.
fn reusable<C: sqlx::Connection>(
    conn: &mut C,
    _: sqlx::pool::PoolConnectionMetadata,
) -> futures_util::future::BoxFuture<'_, std::result::Result<bool, sqlx::Error>> {
    if !conn.is_in_transaction() {
        return Box::pin(std::future::ready(Ok(true)));
    }
    Box::pin(async move {
        conn.ping().await?;
        let keep = !conn.is_in_transaction();
        if !keep {
            tracing::warn!(target: "flowgate::sql", "closing a connection given back inside a transaction");
        }
        Ok(keep)
    })
}

/// How long a connection may sit idle in the pool and still serve without a ping first.
const PING_AFTER_IDLE: Duration = Duration::from_secs(1);

/// Whether an idle connection may serve: one idle for less than [`PING_AFTER_IDLE`] does at
/// once; an older one is pinged first, and closed if that fails (the pool then takes another).
///
/// It replaces sqlx's `test_before_acquire`, which pings every connection it hands out: sqlx
/// already pings each connection given back (on release), so under load the second ping, a
/// round trip to the database (to its worker thread, on SQLite) on every operation, only
/// finds again what the first found a moment before.
fn fresh_enough<C: sqlx::Connection>(
    conn: &mut C,
    meta: sqlx::pool::PoolConnectionMetadata,
) -> futures_util::future::BoxFuture<'_, std::result::Result<bool, sqlx::Error>> {
    if meta.idle_for < PING_AFTER_IDLE {
        return Box::pin(std::future::ready(Ok(true)));
    }
    Box::pin(async move { conn.ping().await.map(|()| true) })
}

/// The statements that set a new connection's statement time limit (and, on PostgreSQL, the
/// check that stops a statement whose client closed the connection).
fn limit_settings(d: Dialect, limit: Option<Duration>) -> Vec<crate::sql::Stmt> {
    let ms = limit.map_or(0, |l| l.as_millis().max(1) as u64);
    let mut stmts = crate::sql::alter::statement_time_limit(d, ms);
    stmts.extend(crate::sql::alter::check_client_connection(d));
    stmts
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
                .create_if_missing(cfg.create_if_missing)
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
                .test_before_acquire(false)
                .before_acquire(fresh_enough)
                .after_release(reusable);
            if in_memory {
                // sqlx names each `sqlite::memory:` database uniquely and shares it between the
                // pool's connections; it lives while one connection stays open.
                pool = pool
                    .min_connections(1)
                    .idle_timeout(None)
                    .max_lifetime(None);
            }
            let pool = pool.connect_with(opts).await.map_err(connect_error)?;
            Ok(Pool(Arc::new(pool)))
        }
        Dialect::Postgres => {
            let opts = PgConnectOptions::from_str(&cfg.database_url).map_err(bad_url)?;
            let settings = Arc::new(limit_settings(Dialect::Postgres, cfg.statement_timeout));
            let pool = PgPoolOptions::new()
                .max_connections(size)
                .acquire_timeout(cfg.acquire_timeout)
                .test_before_acquire(false)
                .before_acquire(fresh_enough)
                .after_release(reusable)
                .after_connect(move |conn, _| {
                    let settings = settings.clone();
                    Box::pin(async move {
                        session_settings::<Postgres>(conn, &settings).await;
                        Ok(())
                    })
                });
            let pool = pool.connect_with(opts).await.map_err(connect_error)?;
            Ok(Pool(Arc::new(pool)))
        }
        Dialect::MySql => {
            let url = cfg.database_url.replacen("mariadb:", "mysql:", 1);
            let opts = MySqlConnectOptions::from_str(&url)
                .map_err(bad_url)?
                .timezone(Some("+00:00".into()));
            let settings = Arc::new(limit_settings(Dialect::MySql, cfg.statement_timeout));
            let pool = MySqlPoolOptions::new()
                .max_connections(size)
                .acquire_timeout(cfg.acquire_timeout)
                .test_before_acquire(false)
                .before_acquire(fresh_enough)
                .after_release(reusable)
                .after_connect(move |conn, _| {
                    let settings = settings.clone();
                    Box::pin(async move {
                        if session_settings::<MySql>(conn, &settings).await == 0
                            && !settings.is_empty()
                        {
                            tracing::warn!(target: "flowgate::sql", "the server takes no statement time limit");
                        }
                        Ok(())
                    })
                });
            let pool = pool.connect_with(opts).await.map_err(connect_error)?;
            Ok(Pool(Arc::new(pool)))
        }
    }
}
