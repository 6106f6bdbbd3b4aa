//! A pooled connection held on purpose, for session-scoped state such as advisory locks.

use super::Store;
use super::backend::Session;
use crate::error::Result;
use crate::sql::Stmt;

/// One connection taken out of the pool until dropped. Session state set on it (a PostgreSQL
/// advisory lock, a MySQL `GET_LOCK`) lives as long as the lease.
pub struct Lease {
    held: Box<dyn Session>,
}

impl Lease {
    pub(crate) async fn take(store: &Store) -> Result<Lease> {
        let held = store.pool().lease(store.settings()).await?;
        Ok(Lease { held })
    }

    /// The dialect of the leased connection.
    pub fn dialect(&self) -> crate::sql::Dialect {
        self.held.dialect()
    }

    /// Runs a statement made by `sql` that returns one integer.
    pub async fn scalar(&mut self, stmt: &Stmt) -> Result<i64> {
        self.held.scalar(stmt).await
    }

    /// Runs a statement made by `sql` that returns no rows; gives the rows affected.
    pub async fn execute(&mut self, stmt: &Stmt) -> Result<u64> {
        self.held.execute(stmt).await.map(|d| d.rows)
    }
}
