//! The only module that writes SQL text: dialects, DDL and DML, built with sea-query.
//!
//! Identifiers come only from model definitions (already validated as plain snake_case names);
//! every value is a bound parameter. The statements are data ([`Stmt`]); `store` executes them.

pub mod alter;
mod cache;
pub(crate) mod catalog;
mod ddl;
mod dml;
mod filter;
pub mod rls;
mod values;

pub use cache::{insert_one, select_by_id};
pub use ddl::create_table;
pub(crate) use ddl::{index_name, index_specs};
pub use dml::{
    Conflict, SelectSpec, count, delete_where, ids_in_tenant, insert, select, select_per_group,
    sync_sequence, update_returning_before, update_where,
};
pub use values::bind_value;

use sea_query::{
    MysqlQueryBuilder, PostgresQueryBuilder, QueryStatementWriter, SqliteQueryBuilder,
};

/// The SQL dialect of a database.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Dialect {
    /// SQLite 3.
    Sqlite,
    /// PostgreSQL.
    Postgres,
    /// MySQL or MariaDB.
    MySql,
}

impl Dialect {
    /// The dialect's name: `sqlite`, `postgres` or `mysql`.
    pub fn as_str(self) -> &'static str {
        match self {
            Dialect::Sqlite => "sqlite",
            Dialect::Postgres => "postgres",
            Dialect::MySql => "mysql",
        }
    }

    /// Whether `INSERT`/`UPDATE ... RETURNING` is available.
    pub fn has_returning(self) -> bool {
        !matches!(self, Dialect::MySql)
    }

    /// How many bound parameters one statement may carry.
    pub fn max_params(self) -> usize {
        match self {
            Dialect::Sqlite => 32_766,
            Dialect::Postgres | Dialect::MySql => 65_535,
        }
    }
}

/// A statement: SQL text with placeholders and the values bound to them, in order.
#[derive(Debug, Clone, PartialEq)]
pub struct Stmt {
    /// The SQL text.
    pub sql: String,
    /// The bound values.
    pub values: Vec<sea_query::Value>,
}

impl Stmt {
    /// A statement without parameters (DDL, transaction control).
    pub fn raw(sql: impl Into<String>) -> Stmt {
        Stmt {
            sql: sql.into(),
            values: Vec::new(),
        }
    }
}

pub(crate) fn build(q: &impl QueryStatementWriter, d: Dialect) -> Stmt {
    let (sql, values) = match d {
        Dialect::Sqlite => q.build_any(&SqliteQueryBuilder),
        Dialect::Postgres => q.build_any(&PostgresQueryBuilder),
        Dialect::MySql => q.build_any(&MysqlQueryBuilder),
    };
    Stmt {
        sql,
        values: values.0,
    }
}

/// `SAVEPOINT name`, `RELEASE SAVEPOINT name` and `ROLLBACK TO SAVEPOINT name`. The name is made
/// by the store (`sp` and a number), never by a caller.
pub fn savepoint(name: &str, action: SavepointAction) -> Stmt {
    debug_assert!(name.chars().all(|c| c.is_ascii_alphanumeric() || c == '_'));
    Stmt::raw(match action {
        SavepointAction::Create => format!("SAVEPOINT {name}"),
        SavepointAction::Release => format!("RELEASE SAVEPOINT {name}"),
        SavepointAction::RollbackTo => format!("ROLLBACK TO SAVEPOINT {name}"),
    })
}

/// What to do with a savepoint.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SavepointAction {
    /// Create it.
    Create,
    /// Release it (keep its work).
    Release,
    /// Undo the work since it was created.
    RollbackTo,
}
