//! Transactions spanning any sequence of operations, with savepoints.

use super::Store;
use super::backend::OpenTx;
use crate::context::Context;
use crate::error::Result;
use crate::model::ModelInfo;
use crate::operation::{OpKind, Operation};
use crate::params::ParamsRef;
use crate::sql::{SavepointAction, savepoint};
use serde_json::Value;

/// An open transaction. Operations run in it see each other's writes; [`Transaction::commit`]
/// keeps them all and [`Transaction::rollback`] (or dropping it) undoes them all. Each operation
/// runs under a savepoint of its own, so a failed operation leaves the transaction usable.
pub struct Transaction {
    store: Store,
    tx: Box<dyn OpenTx>,
    savepoints: u32,
    /// The tenant every operation acts for, when begun by [`TenantStore::begin`](super::TenantStore::begin).
    pub(crate) tenant: Option<std::sync::Arc<str>>,
}

/// A savepoint inside a transaction.
#[derive(Debug)]
pub struct Savepoint {
    name: String,
}

impl Transaction {
    pub(crate) async fn begin(store: Store) -> Result<Transaction> {
        let tx = store.pool().begin(store.settings()).await?;
        Ok(Transaction {
            store,
            tx,
            savepoints: 0,
            tenant: None,
        })
    }

    /// Runs an operation request inside the transaction.
    pub async fn execute(&mut self, ctx: &Context, op: &Operation) -> Result<Value> {
        let model = self.store.model(&op.model)?;
        self.run(ctx, &model, op.op, &op.params).await
    }

    /// Runs operation `kind` on `model` inside the transaction. A failed (or dry-run) operation is
    /// rolled back to where it started; the transaction stays open.
    pub async fn run(
        &mut self,
        ctx: &Context,
        model: &ModelInfo,
        kind: OpKind,
        params: &Value,
    ) -> Result<Value> {
        let scoped;
        let ctx = match &self.tenant {
            Some(t) => {
                scoped = Context {
                    tenant: Some(t.to_string()),
                    ..ctx.clone()
                };
                &scoped
            }
            None => ctx,
        };
        let sp = self.savepoint().await?;
        let result = self.tx.run(ctx, model, kind, ParamsRef::Json(params)).await;
        match result {
            Ok(v) if !ParamsRef::Json(params).is_dry_run() => {
                self.release(sp).await?;
                Ok(v)
            }
            other => {
                self.rollback_to(&sp).await?;
                self.release(sp).await?;
                other
            }
        }
    }

    /// Runs one statement made by the `sql` module (migrations run DDL this way).
    pub async fn execute_raw(&mut self, stmt: &crate::sql::Stmt) -> Result<u64> {
        self.tx.execute(stmt).await.map(|d| d.rows)
    }

    /// Runs one statement made by `sql` that returns one integer.
    pub async fn scalar(&mut self, stmt: &crate::sql::Stmt) -> Result<i64> {
        self.tx.scalar(stmt).await
    }

    /// Runs statements made by `sql` in one round trip where the database takes several at once
    /// (PostgreSQL's simple query protocol); one by one otherwise, and for statements with
    /// bound values.
    pub async fn execute_all(&mut self, stmts: &[crate::sql::Stmt]) -> Result<()> {
        if self.store.dialect() != crate::sql::Dialect::Postgres
            || stmts.iter().any(|s| !s.values.is_empty())
        {
            for stmt in stmts {
                self.tx.execute(stmt).await?;
            }
            return Ok(());
        }
        if stmts.is_empty() {
            return Ok(());
        }
        let mut script = String::with_capacity(stmts.iter().map(|s| s.sql.len() + 2).sum());
        for stmt in stmts {
            script.push_str(&stmt.sql);
            script.push_str(";\n");
        }
        self.tx.execute_script(script).await
    }

    /// Creates a savepoint.
    pub async fn savepoint(&mut self) -> Result<Savepoint> {
        self.savepoints += 1;
        let name = format!("fg_sp{}", self.savepoints);
        self.tx
            .execute(&savepoint(&name, SavepointAction::Create))
            .await?;
        Ok(Savepoint { name })
    }

    /// Undoes everything since the savepoint was created; the savepoint stays.
    pub async fn rollback_to(&mut self, sp: &Savepoint) -> Result<()> {
        self.tx
            .execute(&savepoint(&sp.name, SavepointAction::RollbackTo))
            .await
            .map(|_| ())
    }

    /// Forgets the savepoint, keeping its work.
    pub async fn release(&mut self, sp: Savepoint) -> Result<()> {
        self.tx
            .execute(&savepoint(&sp.name, SavepointAction::Release))
            .await
            .map(|_| ())
    }

    /// Commits every operation run in the transaction.
    pub async fn commit(self) -> Result<()> {
        self.tx.commit().await
    }

    /// Undoes every operation run in the transaction.
    pub async fn rollback(self) -> Result<()> {
        self.tx.rollback().await
    }
}
