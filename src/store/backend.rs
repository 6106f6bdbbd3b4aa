//! The store's one handle on its database: [`Backend`], implemented once for a pool of any
//! [`Db`], and [`Session`] / [`OpenTx`] for a connection held by a lease or a transaction.
//!
//! The database is known only at run time (from the URL), so the store holds a `dyn Backend`;
//! behind it, everything is generic code monomorphized per database. Each call returns one
//! boxed future, which also keeps the store's futures small (sqlx's pool futures are several
//! kilobytes).

use super::db::Done;
use super::db::{Db, session_settings};
use super::errors::db_error;
use super::exec::Exec;
use super::ops;
use crate::context::Context;
use crate::error::Result;
use crate::model::ModelInfo;
use crate::operation::OpKind;
use crate::output::{Form, Output};
use crate::params::ParamsRef;
use crate::sql::{self, Dialect, Stmt};
use futures_util::future::BoxFuture;
use serde_json::Value;
use sqlx::Connection as _;
use sqlx::SqlSafeStr;
use sqlx_core::transaction::TransactionManager as _;
use std::marker::PhantomData;
use std::ops::DerefMut;
use std::time::Duration;

/// The store's settings every statement of an operation runs under.
#[derive(Clone, Copy, Debug)]
pub(crate) struct Settings {
    /// Log every statement.
    pub(crate) echo: bool,
    /// The statement time limit (`None`: none).
    pub(crate) statement_timeout: Option<Duration>,
    /// Audit writes, at most this many rows one per record (`None`: no audit).
    pub(crate) audit: Option<usize>,
}

/// A pool of one database.
pub(crate) trait Backend: Send + Sync {
    /// The database's dialect.
    fn dialect(&self) -> Dialect;

    /// The most connections the pool opens.
    fn max_connections(&self) -> u32;

    /// Closes the pool, waiting for connections in use to come back.
    fn close(&self) -> BoxFuture<'_, ()>;

    /// Runs an operation on a pooled connection, in a transaction of its own when it has
    /// several statements (committed, or rolled back on failure and on a dry run).
    fn run<'a>(
        &'a self,
        s: Settings,
        ctx: &'a Context,
        model: &'a ModelInfo,
        kind: OpKind,
        params: ParamsRef<'a>,
        form: Form,
    ) -> BoxFuture<'a, Result<Output>>;

    /// Runs one schema statement on a pooled connection, without the statement time limit.
    fn execute_raw<'a>(&'a self, s: Settings, stmt: &'a Stmt) -> BoxFuture<'a, Result<u64>>;

    /// [`ops::related`] on a pooled connection: a has-many relation of several records.
    #[allow(clippy::too_many_arguments)]
    fn related<'a>(
        &'a self,
        s: Settings,
        ctx: &'a Context,
        model: &'a ModelInfo,
        field: &'a str,
        values: Vec<crate::value::Val>,
        per_group: u64,
    ) -> BoxFuture<'a, Result<Vec<serde_json::Map<String, Value>>>>;

    /// Begins a transaction on a connection of its own.
    fn begin(&self, s: Settings) -> BoxFuture<'_, Result<Box<dyn OpenTx>>>;

    /// Takes a connection out of the pool until the session is dropped.
    fn lease(&self, s: Settings) -> BoxFuture<'_, Result<Box<dyn Session>>>;
}

/// A connection held: by a lease, or inside a transaction.
pub(crate) trait Session: Send {
    /// The database's dialect.
    fn dialect(&self) -> Dialect;

    /// Runs an operation on the connection (the caller makes the savepoints).
    fn run<'a>(
        &'a mut self,
        ctx: &'a Context,
        model: &'a ModelInfo,
        kind: OpKind,
        params: ParamsRef<'a>,
    ) -> BoxFuture<'a, Result<Value>>;

    /// Runs a statement that returns no rows.
    fn execute<'a>(&'a mut self, stmt: &'a Stmt) -> BoxFuture<'a, Result<Done>>;

    /// Runs a statement that returns one integer.
    fn scalar<'a>(&'a mut self, stmt: &'a Stmt) -> BoxFuture<'a, Result<i64>>;

    /// Runs SQL text of one or more statements without bound values.
    fn execute_script(&mut self, sql: String) -> BoxFuture<'_, Result<()>>;
}

/// A connection inside a transaction.
pub(crate) trait OpenTx: Session {
    /// Commits the transaction.
    fn commit(self: Box<Self>) -> BoxFuture<'static, Result<()>>;

    /// Rolls the transaction back.
    fn rollback(self: Box<Self>) -> BoxFuture<'static, Result<()>>;
}

/// A pooled connection held by one operation. Dropped before [`Checkout::finish`] (the
/// operation's future was dropped, its statement perhaps still running), it is closed instead of
/// given back when the database says so ([`Db::CLOSE_IF_DROPPED`]).
struct Checkout<D: Db> {
    conn: sqlx::pool::PoolConnection<D>,
    armed: bool,
}

impl<D: Db> Checkout<D> {
    /// A connection of `pool`, with the statement time limit armed on it when `limit` is given
    /// (SQLite's deadline: the other databases have theirs in the session settings).
    async fn take(
        pool: &sqlx::Pool<D>,
        limit: Option<std::time::Duration>,
    ) -> Result<(Checkout<D>, Option<super::limits::SqliteDeadline>)> {
        let conn = pool.acquire().await.map_err(db_error)?;
        let mut held = Checkout { conn, armed: true };
        let deadline = match limit {
            Some(limit) => D::arm_deadline(&mut held.conn, limit).await?,
            None => None,
        };
        Ok((held, deadline))
    }

    /// The operation is over: the deadline disarmed, the connection back to the pool now.
    async fn finish_armed(self, deadline: Option<super::limits::SqliteDeadline>) {
        if let Some(d) = deadline {
            d.disarm();
        }
        self.finish().await;
    }

    /// The operation is over: the connection goes back to the pool now.
    async fn finish(mut self) {
        self.armed = false;
        give_back(&mut self.conn).await;
    }
}

/// Gives a pooled connection back to the pool before going on. Dropped, it would go back from a
/// task of its own, and an acquire right after the drop (start-up runs one statement after
/// another) would find no idle connection and open another: on SQLite each new connection
/// parses the whole schema, a third of a second at 10,000 tables.
async fn give_back<D: Db>(conn: &mut sqlx::pool::PoolConnection<D>) {
    conn.return_to_pool().await;
}

impl<D: Db> Drop for Checkout<D> {
    fn drop(&mut self) {
        if self.armed && D::CLOSE_IF_DROPPED {
            self.conn.close_on_drop();
        }
    }
}

async fn begin<'c, D: Db>(conn: &'c mut D::Connection) -> sqlx::Result<sqlx::Transaction<'c, D>> {
    match D::BEGIN {
        Some(stmt) => conn.begin_with(stmt).await,
        None => conn.begin().await,
    }
}

/// Whether an operation may scan a table, and so runs under a deadline where the database's
/// session settings do not limit statements (SQLite). Reads and writes by id touch one row
/// through the primary key and run without one (arming costs a round trip to SQLite's thread).
fn may_scan(kind: OpKind) -> bool {
    matches!(
        kind,
        OpKind::List | OpKind::Count | OpKind::BulkUpdate | OpKind::BulkDelete
    )
}

impl<D: Db> Backend for sqlx::Pool<D> {
    fn dialect(&self) -> Dialect {
        D::DIALECT
    }

    fn max_connections(&self) -> u32 {
        self.options().get_max_connections()
    }

    fn close(&self) -> BoxFuture<'_, ()> {
        Box::pin(sqlx::Pool::close(self))
    }

    fn run<'a>(
        &'a self,
        s: Settings,
        ctx: &'a Context,
        model: &'a ModelInfo,
        kind: OpKind,
        params: ParamsRef<'a>,
        form: Form,
    ) -> BoxFuture<'a, Result<Output>> {
        Box::pin(async move {
            let limit = s.statement_timeout.filter(|_| may_scan(kind));
            let (mut held, deadline) = Checkout::take(self, limit).await?;
            let audited = s.audit.is_some() && !kind.is_read_only();
            let result = if ops::needs_transaction(kind) || audited {
                let mut t = begin::<D>(&mut held.conn).await.map_err(db_error)?;
                let result = {
                    let mut x = Exec::<D>::new(&mut t, s.echo)
                        .audited(s.audit)
                        .in_transaction();
                    ops::dispatch(&mut x, model, ctx, kind, params, form).await
                };
                match result {
                    Ok(v) if !params.is_dry_run() => t.commit().await.map_err(db_error).map(|_| v),
                    Ok(v) => t.rollback().await.map_err(db_error).map(|_| v),
                    Err(e) => {
                        let _ = t.rollback().await;
                        Err(e)
                    }
                }
            } else {
                let mut x = Exec::<D>::new(&mut held.conn, s.echo).audited(s.audit);
                ops::dispatch(&mut x, model, ctx, kind, params, form).await
            };
            held.finish_armed(deadline).await;
            result
        })
    }

    fn related<'a>(
        &'a self,
        s: Settings,
        ctx: &'a Context,
        model: &'a ModelInfo,
        field: &'a str,
        values: Vec<crate::value::Val>,
        per_group: u64,
    ) -> BoxFuture<'a, Result<Vec<serde_json::Map<String, Value>>>> {
        Box::pin(async move {
            let (mut held, deadline) = Checkout::take(self, s.statement_timeout).await?;
            let result = {
                let mut x = Exec::<D>::new(&mut held.conn, s.echo);
                ops::related(&mut x, model, ctx, field, values, per_group).await
            };
            held.finish_armed(deadline).await;
            result
        })
    }

    fn execute_raw<'a>(&'a self, s: Settings, stmt: &'a Stmt) -> BoxFuture<'a, Result<u64>> {
        Box::pin(async move {
            let d = D::DIALECT;
            let lift = sql::alter::statement_time_limit(d, 0);
            let limited = s.statement_timeout.is_some() && !lift.is_empty();
            let mut c = self.acquire().await.map_err(db_error)?;
            if limited {
                session_settings::<D>(&mut c, &lift).await;
            }
            let done = Exec::<D>::new(&mut c, s.echo).execute(stmt).await;
            if limited {
                let ms = s
                    .statement_timeout
                    .map_or(0, |l| l.as_millis().max(1) as u64);
                let restore = sql::alter::statement_time_limit(d, ms);
                if session_settings::<D>(&mut c, &restore).await == 0 {
                    // The limit could not be put back: the connection does not serve again.
                    c.close_on_drop();
                    return Ok(done?.rows);
                }
            }
            give_back(&mut c).await;
            Ok(done?.rows)
        })
    }

    fn begin(&self, s: Settings) -> BoxFuture<'_, Result<Box<dyn OpenTx>>> {
        Box::pin(async move {
            let mut conn = self.acquire().await.map_err(db_error)?;
            let stmt = D::BEGIN.map(SqlSafeStr::into_sql_str);
            D::TransactionManager::begin(&mut conn, stmt)
                .await
                .map_err(db_error)?;
            let tx = PooledTx { conn, open: true };
            Ok(Box::new(Held::<D, _>::new(tx, true, s)) as Box<dyn OpenTx>)
        })
    }

    fn lease(&self, s: Settings) -> BoxFuture<'_, Result<Box<dyn Session>>> {
        Box::pin(async move {
            let conn = self.acquire().await.map_err(db_error)?;
            Ok(Box::new(Held::<D, _>::new(conn, false, s)) as Box<dyn Session>)
        })
    }
}

/// A connection of database `D` held as `C` (a pooled connection, a transaction).
struct Held<D: Db, C> {
    conn: C,
    /// Whether `conn` is inside a transaction.
    tx: bool,
    echo: bool,
    audit: Option<usize>,
    db: PhantomData<fn() -> D>,
}

impl<D: Db, C> Held<D, C> {
    fn new(conn: C, tx: bool, s: Settings) -> Self {
        Held {
            conn,
            tx,
            echo: s.echo,
            audit: s.audit,
            db: PhantomData,
        }
    }
}

impl<D: Db, C> Session for Held<D, C>
where
    C: DerefMut<Target = D::Connection> + Send,
{
    fn dialect(&self) -> Dialect {
        D::DIALECT
    }

    fn run<'a>(
        &'a mut self,
        ctx: &'a Context,
        model: &'a ModelInfo,
        kind: OpKind,
        params: ParamsRef<'a>,
    ) -> BoxFuture<'a, Result<Value>> {
        Box::pin(async move {
            let mut x = Exec::<D>::new(&mut self.conn, self.echo).audited(self.audit);
            x.in_transaction = self.tx;
            ops::dispatch(&mut x, model, ctx, kind, params, Form::Value)
                .await?
                .into_value()
        })
    }

    fn execute<'a>(&'a mut self, stmt: &'a Stmt) -> BoxFuture<'a, Result<Done>> {
        Box::pin(async move {
            Exec::<D>::new(&mut self.conn, self.echo)
                .execute(stmt)
                .await
        })
    }

    fn scalar<'a>(&'a mut self, stmt: &'a Stmt) -> BoxFuture<'a, Result<i64>> {
        Box::pin(async move { Exec::<D>::new(&mut self.conn, self.echo).scalar(stmt).await })
    }

    fn execute_script(&mut self, sql: String) -> BoxFuture<'_, Result<()>> {
        Box::pin(async move {
            Exec::<D>::new(&mut self.conn, self.echo)
                .execute_script(sql)
                .await
        })
    }
}

/// A transaction on a pooled connection of its own. sqlx's `Transaction` would do, but it gives
/// its connection back from a task of its own once dropped (see [`give_back`]); this one gives
/// it back before its commit or rollback returns. Dropped while open, it is rolled back as
/// sqlx's is: the rollback is queued and runs before the connection serves again.
struct PooledTx<D: Db> {
    conn: sqlx::pool::PoolConnection<D>,
    open: bool,
}

impl<D: Db> PooledTx<D> {
    async fn end(mut self, commit: bool) -> Result<()> {
        let ended = if commit {
            D::TransactionManager::commit(&mut self.conn).await
        } else {
            D::TransactionManager::rollback(&mut self.conn).await
        };
        // Whatever the answer, the transaction is over as far as this side knows: a connection
        // still inside one is closed by the pool's release check (`pool::reusable`).
        self.open = false;
        give_back(&mut self.conn).await;
        ended.map_err(db_error)
    }
}

impl<D: Db> Drop for PooledTx<D> {
    fn drop(&mut self) {
        if self.open {
            D::TransactionManager::start_rollback(&mut self.conn);
        }
    }
}

impl<D: Db> std::ops::Deref for PooledTx<D> {
    type Target = D::Connection;

    fn deref(&self) -> &D::Connection {
        &self.conn
    }
}

impl<D: Db> DerefMut for PooledTx<D> {
    fn deref_mut(&mut self) -> &mut D::Connection {
        &mut self.conn
    }
}

impl<D: Db> OpenTx for Held<D, PooledTx<D>> {
    fn commit(self: Box<Self>) -> BoxFuture<'static, Result<()>> {
        Box::pin(self.conn.end(true))
    }

    fn rollback(self: Box<Self>) -> BoxFuture<'static, Result<()>> {
        Box::pin(self.conn.end(false))
    }
}
