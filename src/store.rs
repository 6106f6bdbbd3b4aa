//! The store: a pool, a schema, and the eleven operations run against them.
//!
//! Single-statement operations (create, read, update, delete, list, count) run on a pooled
//! connection; operations of several statements (upsert and the bulk writes) run in a
//! transaction of their own, or inside the caller's [`Transaction`] under a savepoint, so that a
//! failed operation never leaves half its writes behind.

pub(crate) mod audit;
mod backend;
mod db;
pub(crate) mod errors;
mod exec;
pub mod expand;
mod lease;
mod limits;
mod ops;
mod pool;
mod tenant;
mod tx;

pub use lease::Lease;
pub use pool::{StoreConfig, dialect_of};
pub use tenant::TenantStore;
pub use tx::{Savepoint, Transaction};

use crate::context::Context;
use crate::error::{Error, Result};
use crate::model::{ModelDef, ModelInfo, Schema};
use crate::operation::{OpKind, Operation};
use crate::output::{Form, Output};
use crate::params::{Params, ParamsRef};
use crate::sql::{self, Dialect};
use backend::Settings;
use pool::Pool;
use serde_json::Value;
use std::sync::{Arc, RwLock};

/// A handle on one database and the models it serves. Cheap to clone; clones share the pool.
#[derive(Clone)]
pub struct Store {
    inner: Arc<Inner>,
}

struct Inner {
    pool: Pool,
    echo: bool,
    statement_timeout: Option<std::time::Duration>,
    /// Audit writes (at most this many rows one per record); never on a sibling store.
    audit: Option<usize>,
    schema: RwLock<Arc<Schema>>,
}

impl std::fmt::Debug for Store {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Store")
            .field("dialect", &self.dialect())
            .finish_non_exhaustive()
    }
}

/// Runs `create` again when it fails with a conflict: two processes creating the same table at
/// once can collide inside PostgreSQL's catalog even with IF NOT EXISTS; the loser's retry
/// finds the table there.
async fn retry_catalog_conflicts<F, Fut>(mut create: F) -> Result<()>
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = Result<()>>,
{
    let mut attempt = 0;
    loop {
        match create().await {
            Err(Error::Conflict { .. }) if attempt < 5 => {
                attempt += 1;
                tokio::time::sleep(std::time::Duration::from_millis(20 * attempt)).await;
            }
            other => return other,
        }
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
                audit: config
                    .audit_log
                    .then_some(config.audit_max_rows_per_op.max(1)),
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
        Store::open_with(&StoreConfig::new(database_url), models).await
    }

    /// [`Store::open`] with settings: the pool's, and `multi_tenant` (every model scoped by
    /// tenant unless it says `tenant_scoped = false`; operations then act through
    /// [`Store::for_tenant`] or a context naming a tenant).
    pub async fn open_with(
        config: &StoreConfig,
        models: impl IntoIterator<Item = ModelDef>,
    ) -> Result<Store> {
        let mut defs: Vec<ModelDef> = models.into_iter().collect();
        crate::model::resolve_tenancy(&mut defs, config.multi_tenant);
        let schema = Schema::new(defs)?;
        let store = Store::connect(config, schema).await?;
        store.create_tables().await?;
        Ok(store)
    }

    /// A handle acting for `tenant`: every operation through it sees and writes only that
    /// tenant's rows of tenant-scoped models. Cheap (no I/O, no per-tenant state).
    pub fn for_tenant(&self, tenant: &str) -> Result<TenantStore> {
        TenantStore::new(self.clone(), tenant)
    }

    /// A store on the same pool serving another schema (the registry serves Flowgate's own
    /// tables this way beside the application's models).
    pub fn sibling(&self, schema: Schema) -> Store {
        Store {
            inner: Arc::new(Inner {
                pool: self.inner.pool.clone(),
                echo: self.inner.echo,
                statement_timeout: self.inner.statement_timeout,
                audit: None,
                schema: RwLock::new(Arc::new(schema)),
            }),
        }
    }

    /// The database's dialect.
    pub fn dialect(&self) -> Dialect {
        self.inner.pool.dialect()
    }

    /// The most connections its pool opens (`pool_size`).
    pub fn max_connections(&self) -> usize {
        self.inner.pool.max_connections() as usize
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
        retry_catalog_conflicts(|| self.create_tables_once()).await
    }

    /// Creates the audit table (`flowgate_audit`) and its indexes when missing, whether or not
    /// this store audits its writes (the start-up sequence does so before any model serves).
    pub async fn create_audit_table(&self) -> Result<()> {
        retry_catalog_conflicts(|| self.create_audit_table_once()).await
    }

    async fn create_audit_table_once(&self) -> Result<()> {
        for stmt in sql::create_table(&crate::store::audit::INFO, &|_| None, self.dialect()) {
            self.execute_raw(&stmt).await?;
        }
        Ok(())
    }

    async fn create_tables_once(&self) -> Result<()> {
        if self.is_audited() {
            self.create_audit_table_once().await?;
        }
        let schema = self.schema();
        let tables = |name: &str| schema.get(name).map(|m| m.table.clone());
        for model in schema.models().filter(|m| m.def.managed) {
            for stmt in sql::create_table(model, &tables, self.dialect()) {
                self.execute_raw(&stmt).await?;
            }
        }
        Ok(())
    }

    /// Runs one statement made by the `sql` module on a pooled connection: schema changes
    /// (`create_tables`, migrations on MySQL), which run without the statement time limit.
    pub async fn execute_raw(&self, stmt: &sql::Stmt) -> Result<u64> {
        self.inner.pool.execute_raw(self.settings(), stmt).await
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
        self.run_ref(ctx, model, kind, ParamsRef::Json(params), Form::Value)
            .await?
            .into_value()
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
        self.run_output(ctx, model, kind, params, Form::Value)
            .await?
            .into_value()
    }

    /// [`Store::run_params`], giving the result in `form`: a value, or JSON text (a read by id
    /// and a list encode their records straight from the rows, without building a value).
    pub async fn run_output(
        &self,
        ctx: &Context,
        model: &ModelInfo,
        kind: OpKind,
        params: &Params,
        form: Form,
    ) -> Result<Output> {
        self.run_ref(ctx, model, kind, params.borrow(), form).await
    }

    async fn run_ref(
        &self,
        ctx: &Context,
        model: &ModelInfo,
        kind: OpKind,
        params: ParamsRef<'_>,
        form: Form,
    ) -> Result<Output> {
        if let ParamsRef::Json(v) = params
            && expand::asked(kind, v)
        {
            return expand::run(self, ctx, model, kind, v)
                .await
                .map(Output::Value);
        }
        match self.run_once(ctx, model, kind, params, form).await {
            Err(e) if kind.is_read_only() && errors::is_lost_connection(&e) => {
                tracing::info!(
                    model = model.name(),
                    op = kind.as_str(),
                    "connection lost under a read; running it again"
                );
                self.run_once(ctx, model, kind, params, form).await
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
        form: Form,
    ) -> Result<Output> {
        self.inner
            .pool
            .run(self.settings(), ctx, model, kind, params, form)
            .await
    }

    pub(crate) fn settings(&self) -> Settings {
        Settings {
            echo: self.inner.echo,
            statement_timeout: self.inner.statement_timeout,
            audit: self.inner.audit,
        }
    }

    /// Whether writes leave audit rows (`StoreConfig::audit_log`).
    pub fn is_audited(&self) -> bool {
        self.inner.audit.is_some()
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
}
