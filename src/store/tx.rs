//! Transactions spanning any sequence of operations, with savepoints.

use super::Store;
use super::errors::db_error;
use super::exec::{Conn, Exec};
use super::ops;
use super::pool::Pool;
use crate::context::Context;
use crate::error::Result;
use crate::model::ModelInfo;
use crate::operation::{OpKind, Operation};
use crate::params::ParamsRef;
use crate::sql::{SavepointAction, savepoint};
use serde_json::Value;
use sqlx::{MySql, Postgres, Sqlite};

enum Tx {
    Sqlite(sqlx::Transaction<'static, Sqlite>),
    Postgres(sqlx::Transaction<'static, Postgres>),
    MySql(sqlx::Transaction<'static, MySql>),
}

/// An open transaction. Operations run in it see each other's writes; [`Transaction::commit`]
/// keeps them all and [`Transaction::rollback`] (or dropping it) undoes them all. Each operation
/// runs under a savepoint of its own, so a failed operation leaves the transaction usable.
pub struct Transaction {
    store: Store,
    tx: Tx,
    savepoints: u32,
}

/// A savepoint inside a transaction.
#[derive(Debug)]
pub struct Savepoint {
    name: String,
}

impl Transaction {
    pub(crate) async fn begin(store: Store) -> Result<Transaction> {
        let tx = match store.pool() {
            Pool::Sqlite(p) => Tx::Sqlite(p.begin_with("BEGIN IMMEDIATE").await.map_err(db_error)?),
            Pool::Postgres(p) => Tx::Postgres(p.begin().await.map_err(db_error)?),
            Pool::MySql(p) => Tx::MySql(p.begin().await.map_err(db_error)?),
        };
        Ok(Transaction {
            store,
            tx,
            savepoints: 0,
        })
    }

    fn exec(&mut self) -> Exec<'_> {
        let echo = self.store.echo();
        let conn = match &mut self.tx {
            Tx::Sqlite(t) => Conn::Sqlite(t),
            Tx::Postgres(t) => Conn::Postgres(t),
            Tx::MySql(t) => Conn::MySql(t),
        };
        Exec { conn, echo }
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
        let sp = self.savepoint().await?;
        let result = ops::dispatch(&mut self.exec(), model, ctx, kind, ParamsRef::Json(params)).await;
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
        self.exec().execute(stmt).await.map(|d| d.rows)
    }

    /// Creates a savepoint.
    pub async fn savepoint(&mut self) -> Result<Savepoint> {
        self.savepoints += 1;
        let name = format!("fg_sp{}", self.savepoints);
        self.exec()
            .execute(&savepoint(&name, SavepointAction::Create))
            .await?;
        Ok(Savepoint { name })
    }

    /// Undoes everything since the savepoint was created; the savepoint stays.
    pub async fn rollback_to(&mut self, sp: &Savepoint) -> Result<()> {
        self.exec()
            .execute(&savepoint(&sp.name, SavepointAction::RollbackTo))
            .await
            .map(|_| ())
    }

    /// Forgets the savepoint, keeping its work.
    pub async fn release(&mut self, sp: Savepoint) -> Result<()> {
        self.exec()
            .execute(&savepoint(&sp.name, SavepointAction::Release))
            .await
            .map(|_| ())
    }

    /// Commits every operation run in the transaction.
    pub async fn commit(self) -> Result<()> {
        match self.tx {
            Tx::Sqlite(t) => t.commit().await,
            Tx::Postgres(t) => t.commit().await,
            Tx::MySql(t) => t.commit().await,
        }
        .map_err(db_error)
    }

    /// Undoes every operation run in the transaction.
    pub async fn rollback(self) -> Result<()> {
        match self.tx {
            Tx::Sqlite(t) => t.rollback().await,
            Tx::Postgres(t) => t.rollback().await,
            Tx::MySql(t) => t.rollback().await,
        }
        .map_err(db_error)
    }
}
