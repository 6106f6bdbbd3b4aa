//! A pooled connection held on purpose, for session-scoped state such as advisory locks.

use super::Store;
use super::errors::db_error;
use super::exec::{Conn, Exec};
use super::pool::Pool;
use crate::error::Result;
use crate::sql::Stmt;
use sqlx::pool::PoolConnection;
use sqlx::{MySql, Postgres, Sqlite};

enum Held {
    Sqlite(PoolConnection<Sqlite>),
    Postgres(PoolConnection<Postgres>),
    MySql(PoolConnection<MySql>),
}

/// One connection taken out of the pool until dropped. Session state set on it (a PostgreSQL
/// advisory lock, a MySQL `GET_LOCK`) lives as long as the lease.
pub struct Lease {
    held: Held,
    echo: bool,
}

impl Lease {
    pub(crate) async fn take(store: &Store) -> Result<Lease> {
        let held = match store.pool() {
            Pool::Sqlite(p) => Held::Sqlite(p.acquire().await.map_err(db_error)?),
            Pool::Postgres(p) => Held::Postgres(p.acquire().await.map_err(db_error)?),
            Pool::MySql(p) => Held::MySql(p.acquire().await.map_err(db_error)?),
        };
        Ok(Lease {
            held,
            echo: store.echo(),
        })
    }

    fn exec(&mut self) -> Exec<'_> {
        let conn = match &mut self.held {
            Held::Sqlite(c) => Conn::Sqlite(c),
            Held::Postgres(c) => Conn::Postgres(c),
            Held::MySql(c) => Conn::MySql(c),
        };
        Exec {
            conn,
            echo: self.echo,
        }
    }

    /// The dialect of the leased connection.
    pub fn dialect(&self) -> crate::sql::Dialect {
        match self.held {
            Held::Sqlite(_) => crate::sql::Dialect::Sqlite,
            Held::Postgres(_) => crate::sql::Dialect::Postgres,
            Held::MySql(_) => crate::sql::Dialect::MySql,
        }
    }

    /// Runs a statement made by `sql` that returns one integer.
    pub async fn scalar(&mut self, stmt: &Stmt) -> Result<i64> {
        self.exec().scalar(stmt).await
    }

    /// Runs a statement made by `sql` that returns no rows; gives the rows affected.
    pub async fn execute(&mut self, stmt: &Stmt) -> Result<u64> {
        self.exec().execute(stmt).await.map(|d| d.rows)
    }
}
