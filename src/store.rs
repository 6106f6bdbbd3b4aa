//! The store: a pool, a schema, and the eleven operations run against them.
//!
//! Single-statement operations (create, read, update, delete, list, count) run on a pooled
//! connection; operations of several statements (upsert and the bulk writes) run in a
//! transaction of their own, or inside the caller's [`Transaction`] under a savepoint, so that a
//! failed operation never leaves half its writes behind.

mod errors;
mod exec;
mod lease;
mod limits;
mod ops;
mod pool;
mod tx;

pub use lease::Lease;
pub use pool::{StoreConfig, dialect_of};
pub use tx::{Savepoint, Transaction};

use crate::context::Context;
use crate::error::{Error, Result};
use crate::model::{ModelDef, ModelInfo, Schema};
use crate::operation::{OpKind, Operation};
use crate::params::{Params, ParamsRef};
use crate::sql::{self, Dialect};
use errors::db_error;
use exec::{Conn, Exec};
use pool::Pool;
use serde_json::Value;
use sqlx::Connection as _;
use std::sync::{Arc, RwLock};

/// A pooled connection held by one operation. Dropped before [`Checkout::finish`] (the
/// operation's future was dropped, its statement perhaps still running), it is closed instead of
/// given back when `close_if_dropped`.
struct Checkout<DB: sqlx::Database> {
    conn: sqlx::pool::PoolConnection<DB>,
    close_if_dropped: bool,
}

impl<DB: sqlx::Database> Checkout<DB> {
    fn new(conn: sqlx::pool::PoolConnection<DB>, close_if_dropped: bool) -> Self {
        Checkout {
            conn,
            close_if_dropped,
        }
    }

    fn conn_mut(&mut self) -> &mut DB::Connection {
        &mut self.conn
    }

    fn finish(mut self) {
        self.close_if_dropped = false;
    }
}

impl<DB: sqlx::Database> Drop for Checkout<DB> {
    fn drop(&mut self) {
        if self.close_if_dropped {
            self.conn.close_on_drop();
        }
    }
}

/// A handle on one database and the models it serves. Cheap to clone; clones share the pool.
#[derive(Clone)]
pub struct Store {
    inner: Arc<Inner>,
}

struct Inner {
    pool: Pool,
    echo: bool,
    statement_timeout: Option<std::time::Duration>,
    schema: RwLock<Arc<Schema>>,
}

impl std::fmt::Debug for Store {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Store")
            .field("dialect", &self.dialect())
            .finish_non_exhaustive()
    }
}

impl Store {
    /// Connects a pool and serves `schema` on it. Tables are not created: call
    /// [`Store::create_tables`] (or let the registry migrate).
    pub async fn connect(config: &StoreConfig, schema: Schema) -> Result<Store> {
        let pool = pool::connect(config).await?;
        Ok(Store {
            inner: Arc::new(Inner {
                pool,
                echo: config.echo,
                statement_timeout: config.statement_timeout,
                schema: RwLock::new(Arc::new(schema)),
            }),
        })
    }

    /// Connects with default settings, validates the models and creates their tables: the
    /// one-call start for scripts and tests.
    pub async fn open(
        database_url: &str,
        models: impl IntoIterator<Item = ModelDef>,
    ) -> Result<Store> {
        let schema = Schema::new(models)?;
        let store = Store::connect(&StoreConfig::new(database_url), schema).await?;
        store.create_tables().await?;
        Ok(store)
    }

    /// A store on the same pool serving another schema (the registry serves Flowgate's own
    /// tables this way beside the application's models).
    pub fn sibling(&self, schema: Schema) -> Store {
        Store {
            inner: Arc::new(Inner {
                pool: self.inner.pool.clone(),
                echo: self.inner.echo,
                statement_timeout: self.inner.statement_timeout,
                schema: RwLock::new(Arc::new(schema)),
            }),
        }
    }

    /// The database's dialect.
    pub fn dialect(&self) -> Dialect {
        self.inner.pool.dialect()
    }

    /// The models served now.
    pub fn schema(&self) -> Arc<Schema> {
        self.inner.schema.read().expect("schema lock").clone()
    }

    /// Replaces the models served (the registry does this as models are added).
    pub fn set_schema(&self, schema: Schema) {
        *self.inner.schema.write().expect("schema lock") = Arc::new(schema);
    }

    /// A model by name, or a NotFound error naming it.
    pub fn model(&self, name: &str) -> Result<Arc<ModelInfo>> {
        self.schema()
            .get(name)
            .cloned()
            .ok_or_else(|| Error::not_found(crate::error::Missing::Model, name))
    }

    /// Creates every model's table and indexes that do not exist yet, referenced tables first.
    pub async fn create_tables(&self) -> Result<()> {
        // Two processes creating the same table at once can collide inside PostgreSQL's catalog
        // even with IF NOT EXISTS; the loser's retry finds the table there.
        let mut attempt = 0;
        loop {
            match self.create_tables_once().await {
                Err(Error::Conflict { .. }) if attempt < 5 => {
                    attempt += 1;
                    tokio::time::sleep(std::time::Duration::from_millis(20 * attempt)).await;
                }
                other => return other,
            }
        }
    }

    async fn create_tables_once(&self) -> Result<()> {
        let schema = self.schema();
        let tables = |name: &str| schema.get(name).map(|m| m.table.clone());
        for model in schema.models() {
            for stmt in sql::create_table(model, &tables, self.dialect()) {
                self.execute_raw(&stmt).await?;
            }
        }
        Ok(())
    }

    /// Runs one statement made by the `sql` module on a pooled connection: schema changes
    /// (`create_tables`, migrations on MySQL), which run without the statement time limit.
    pub async fn execute_raw(&self, stmt: &sql::Stmt) -> Result<u64> {
        let echo = self.inner.echo;
        let limited = self.inner.statement_timeout;
        let d = self.dialect();
        let lift = sql::alter::statement_time_limit(d, 0);
        let restore =
            sql::alter::statement_time_limit(d, limited.map_or(0, |l| l.as_millis().max(1) as u64));
        macro_rules! run {
            ($p:expr, $variant:ident) => {{
                let mut c = $p.acquire().await.map_err(db_error)?;
                if limited.is_some() {
                    pool::session_settings!(c, lift.iter());
                }
                let done = Exec {
                    conn: Conn::$variant(&mut c),
                    echo,
                }
                .execute(stmt)
                .await;
                if limited.is_some() && pool::session_settings!(c, restore.iter()) == 0 {
                    // The limit could not be put back: the connection does not serve again.
                    c.close_on_drop();
                }
                done?
            }};
        }
        let done = match &self.inner.pool {
            Pool::Sqlite(p) => {
                let mut c = p.acquire().await.map_err(db_error)?;
                Exec {
                    conn: Conn::Sqlite(&mut c),
                    echo,
                }
                .execute(stmt)
                .await?
            }
            Pool::Postgres(p) => run!(p, Postgres),
            Pool::MySql(p) => run!(p, MySql),
        };
        Ok(done.rows)
    }

    /// Runs an operation request.
    pub async fn execute(&self, ctx: &Context, op: &Operation) -> Result<Value> {
        let model = self.model(&op.model)?;
        self.run(ctx, &model, op.op, &op.params).await
    }

    /// Runs operation `kind` on `model` with JSON `params` (DESIGN section 5).
    ///
    /// A read whose connection broke under it (a restarted server, a terminated backend) runs
    /// once more on a fresh connection; a write never does, as it may have committed.
    pub async fn run(
        &self,
        ctx: &Context,
        model: &ModelInfo,
        kind: OpKind,
        params: &Value,
    ) -> Result<Value> {
        self.run_ref(ctx, model, kind, ParamsRef::Json(params)).await
    }

    /// [`Store::run`] with [`Params`]: a JSON value, or a bulk write's body whose records are
    /// parsed one by one as they are written.
    pub async fn run_params(
        &self,
        ctx: &Context,
        model: &ModelInfo,
        kind: OpKind,
        params: &Params,
    ) -> Result<Value> {
        self.run_ref(ctx, model, kind, params.borrow()).await
    }

    async fn run_ref(
        &self,
        ctx: &Context,
        model: &ModelInfo,
        kind: OpKind,
        params: ParamsRef<'_>,
    ) -> Result<Value> {
        match self.run_once(ctx, model, kind, params).await {
            Err(e) if kind.is_read_only() && errors::is_lost_connection(&e) => {
                tracing::info!(
                    model = model.name(),
                    op = kind.as_str(),
                    "connection lost under a read; running it again"
                );
                self.run_once(ctx, model, kind, params).await
            }
            other => other,
        }
    }

    async fn run_once(
        &self,
        ctx: &Context,
        model: &ModelInfo,
        kind: OpKind,
        params: ParamsRef<'_>,
    ) -> Result<Value> {
        // The futures of sqlx's pool (up to 8.6 kB on PostgreSQL, as they hold a connect) and of
        // the operation are boxed: inline, in each of the six arms below, they would make this
        // future over 9 kB, copied whenever a caller moves it (into a task, say).
        let needs_tx = ops::needs_transaction(kind);
        let keep = !params.is_dry_run();
        let echo = self.inner.echo;
        // `$close`: a connection whose operation was dropped mid-way (its client went away) is
        // closed rather than given back, which on PostgreSQL also stops the statement (the server
        // checks its client every second). SQLite connections are not closed (an in-memory
        // database lives in them): a deadline's progress handler stops the statement instead.
        macro_rules! arm {
            ($pool:expr, $variant:ident, $begin:ident $(($how:expr))?, $close:expr) => {{
                let conn = Box::pin($pool.acquire()).await.map_err(db_error)?;
                let mut held = Checkout::new(conn, $close);
                let deadline = self.sqlite_deadline(held.conn_mut(), kind).await?;
                let result = if needs_tx {
                    let mut t = Box::pin(held.conn_mut().$begin($($how)?))
                        .await
                        .map_err(db_error)?;
                    let result = {
                        let mut x = Exec {
                            conn: Conn::$variant(&mut t),
                            echo,
                        };
                        Box::pin(ops::dispatch(&mut x, model, ctx, kind, params)).await
                    };
                    match result {
                        Ok(v) if keep => t.commit().await.map_err(db_error).map(|_| v),
                        Ok(v) => t.rollback().await.map_err(db_error).map(|_| v),
                        Err(e) => {
                            let _ = t.rollback().await;
                            Err(e)
                        }
                    }
                } else {
                    let mut x = Exec {
                        conn: Conn::$variant(held.conn_mut()),
                        echo,
                    };
                    Box::pin(ops::dispatch(&mut x, model, ctx, kind, params)).await
                };
                if let Some(d) = deadline {
                    d.disarm();
                }
                held.finish();
                result
            }};
        }
        match &self.inner.pool {
            // IMMEDIATE takes SQLite's write lock up front, so a transaction that reads before it
            // writes cannot fail to upgrade its lock halfway.
            Pool::Sqlite(p) => arm!(p, Sqlite, begin_with("BEGIN IMMEDIATE"), false),
            Pool::Postgres(p) => arm!(p, Postgres, begin, true),
            Pool::MySql(p) => arm!(p, MySql, begin, true),
        }
    }

    /// On SQLite, an operation that may scan a table (list, count, bulk update and delete by
    /// filter) runs under a deadline (`statement_timeout`); the other databases limit every
    /// statement through their session settings. Reads and writes by id touch one row through
    /// the primary key and run without one (arming costs a round trip to SQLite's thread).
    async fn sqlite_deadline<C: std::any::Any>(
        &self,
        conn: &mut C,
        kind: OpKind,
    ) -> Result<Option<limits::SqliteDeadline>> {
        let Some(limit) = self.inner.statement_timeout else {
            return Ok(None);
        };
        if !matches!(
            kind,
            OpKind::List | OpKind::Count | OpKind::BulkUpdate | OpKind::BulkDelete
        ) {
            return Ok(None);
        }
        match (conn as &mut dyn std::any::Any).downcast_mut::<sqlx::SqliteConnection>() {
            Some(c) => Ok(Some(limits::SqliteDeadline::arm(c, limit).await?)),
            None => Ok(None),
        }
    }

    /// Whether a failed write says the database cannot take writes now (a full disk, a lost
    /// connection, a read-only file) rather than something about the request: the runtime shows
    /// the `database` feature degraded until a write succeeds again.
    pub fn is_database_failure(e: &Error) -> bool {
        matches!(e, Error::Unavailable(reason) if reason != errors::TIME_LIMIT)
    }

    /// Takes one connection out of the pool until the lease is dropped.
    pub async fn lease(&self) -> Result<Lease> {
        Lease::take(self).await
    }

    /// Begins a transaction: operations run in it commit or roll back as a unit.
    pub async fn begin(&self) -> Result<Transaction> {
        Transaction::begin(self.clone()).await
    }

    /// Closes the pool, waiting for connections in use to come back.
    pub async fn close(&self) {
        self.inner.pool.close().await;
    }

    pub(crate) fn pool(&self) -> &Pool {
        &self.inner.pool
    }

    pub(crate) fn echo(&self) -> bool {
        self.inner.echo
    }
}
