//! DDL for migrations: the up and down statements of each schema change, and the migration lock.

use super::ddl::{column_def, foreign_key, index_create, index_name};
use super::{Dialect, Stmt};
use crate::model::{Column, ModelInfo};
use sea_query::{
    Alias, ForeignKey, Index, MysqlQueryBuilder, PostgresQueryBuilder, SqliteQueryBuilder, Table,
    TableAlterStatement,
};

fn alter_sql(stmt: &TableAlterStatement, d: Dialect) -> String {
    match d {
        Dialect::Sqlite => stmt.build(SqliteQueryBuilder),
        Dialect::Postgres => stmt.build(PostgresQueryBuilder),
        Dialect::MySql => stmt.build(MysqlQueryBuilder),
    }
}

/// `DROP TABLE` (the down of a created table).
pub fn drop_table(model: &ModelInfo, d: Dialect) -> Stmt {
    let mut t = Table::drop();
    t.table(Alias::new(model.table.as_str())).if_exists();
    Stmt::raw(match d {
        Dialect::Sqlite => t.build(SqliteQueryBuilder),
        Dialect::Postgres => t.build(PostgresQueryBuilder),
        Dialect::MySql => t.build(MysqlQueryBuilder),
    })
}

/// Adds a column. SQLite cannot add a UNIQUE column or a foreign key in `ADD COLUMN`: the
/// uniqueness becomes a unique index there, and the reference is not enforced on SQLite.
pub fn add_column(
    model: &ModelInfo,
    col: &Column,
    tables: &dyn Fn(&str) -> Option<String>,
    d: Dialect,
) -> Vec<Stmt> {
    let col = &*super::ddl::table_column(model, col);
    let mut def = column_def(col, d);
    let sqlite_unique = d == Dialect::Sqlite && col.def.unique;
    if sqlite_unique {
        let mut plain = col.clone();
        plain.def.unique = false;
        def = column_def(&plain, d);
    }
    let mut alter = Table::alter();
    alter
        .table(Alias::new(model.table.as_str()))
        .add_column(def);
    let mut out = vec![Stmt::raw(alter_sql(&alter, d))];
    if sqlite_unique {
        out.push(create_index(
            model,
            true,
            std::slice::from_ref(&col.def.name),
            d,
        ));
    }
    if let Some(fk) = foreign_key(model, col, tables).filter(|_| d != Dialect::Sqlite) {
        out.push(Stmt::raw(match d {
            Dialect::Postgres => fk.build(PostgresQueryBuilder),
            _ => fk.build(MysqlQueryBuilder),
        }));
    }
    out
}

/// Drops a column (and, first, the foreign key and the indexes that would stop it).
pub fn drop_column(model: &ModelInfo, col: &Column, d: Dialect) -> Vec<Stmt> {
    let mut out = Vec::new();
    if col.def.references.is_some() && d != Dialect::Sqlite {
        let name = index_name("fk", &model.table, std::slice::from_ref(&col.def.name));
        let mut fk = ForeignKey::drop();
        fk.name(name).table(Alias::new(model.table.as_str()));
        out.push(Stmt::raw(match d {
            Dialect::Postgres => fk.build(PostgresQueryBuilder),
            _ => fk.build(MysqlQueryBuilder),
        }));
    }
    if d == Dialect::Sqlite && (col.def.unique || col.def.indexed) {
        // SQLite refuses to drop an indexed column; its single-column index goes first.
        out.push(drop_index(
            model,
            col.def.unique,
            std::slice::from_ref(&col.def.name),
            d,
        ));
    }
    let mut alter = Table::alter();
    alter
        .table(Alias::new(model.table.as_str()))
        .drop_column(Alias::new(col.name()));
    out.push(Stmt::raw(alter_sql(&alter, d)));
    out
}

/// Changes a column's type or nullability (PostgreSQL and MySQL; SQLite cannot alter columns).
pub fn alter_column(model: &ModelInfo, col: &Column, d: Dialect) -> Option<Vec<Stmt>> {
    match d {
        Dialect::Sqlite => None,
        Dialect::MySql => {
            let mut plain = col.clone();
            plain.def.unique = false;
            let mut alter = Table::alter();
            alter
                .table(Alias::new(model.table.as_str()))
                .modify_column(column_def(&plain, d));
            Some(vec![Stmt::raw(alter_sql(&alter, d))])
        }
        Dialect::Postgres => {
            let table = &model.table;
            let name = col.name();
            let ty = super::ddl::native_type(col, d);
            let null = if col.def.optional {
                "DROP NOT NULL"
            } else {
                "SET NOT NULL"
            };
            Some(vec![
                Stmt::raw(format!(
                    "ALTER TABLE \"{table}\" ALTER COLUMN \"{name}\" TYPE {ty} USING \"{name}\"::{ty}"
                )),
                Stmt::raw(format!(
                    "ALTER TABLE \"{table}\" ALTER COLUMN \"{name}\" {null}"
                )),
            ])
        }
    }
}

/// Creates an index (`unique` for a unique one) over `cols`.
pub fn create_index(model: &ModelInfo, unique: bool, cols: &[String], d: Dialect) -> Stmt {
    let ix = index_create(model, unique, cols);
    Stmt::raw(match d {
        Dialect::Sqlite => ix.build(SqliteQueryBuilder),
        Dialect::Postgres => ix.build(PostgresQueryBuilder),
        Dialect::MySql => ix.build(MysqlQueryBuilder),
    })
}

/// Drops the index [`create_index`] made.
pub fn drop_index(model: &ModelInfo, unique: bool, cols: &[String], d: Dialect) -> Stmt {
    let mut ix = Index::drop();
    ix.name(index_name(
        if unique { "ux" } else { "ix" },
        &model.table,
        cols,
    ));
    if d == Dialect::MySql {
        ix.table(Alias::new(model.table.as_str()));
    }
    Stmt::raw(match d {
        Dialect::Sqlite => ix.build(SqliteQueryBuilder),
        Dialect::Postgres => ix.build(PostgresQueryBuilder),
        Dialect::MySql => ix.build(MysqlQueryBuilder),
    })
}

/// The statement that tries to take the database-wide migration lock and answers 1 or 0:
/// a PostgreSQL advisory lock, or MySQL `GET_LOCK` waiting up to `wait_secs`. SQLite has no such
/// lock (the registry keeps a lock row instead), so this is `None` there.
pub fn try_lock(d: Dialect, wait_secs: u64) -> Option<Stmt> {
    match d {
        Dialect::Sqlite => None,
        Dialect::Postgres => Some(Stmt::raw(format!(
            "SELECT CASE WHEN pg_try_advisory_lock({LOCK_KEY}) THEN 1::bigint ELSE 0::bigint END"
        ))),
        Dialect::MySql => Some(Stmt::raw(format!(
            "SELECT CAST(COALESCE(GET_LOCK('flowgate_migrations', {wait_secs}), 0) AS SIGNED)"
        ))),
    }
}

/// Releases the lock [`try_lock`] took (on the same connection).
pub fn unlock(d: Dialect) -> Option<Stmt> {
    match d {
        Dialect::Sqlite => None,
        Dialect::Postgres => Some(Stmt::raw(format!(
            "SELECT CASE WHEN pg_advisory_unlock({LOCK_KEY}) THEN 1::bigint ELSE 0::bigint END"
        ))),
        Dialect::MySql => Some(Stmt::raw(
            "SELECT CAST(COALESCE(RELEASE_LOCK('flowgate_migrations'), 0) AS SIGNED)",
        )),
    }
}

/// The statement that answers 1 when a table named `table` exists in the connection's database
/// (schema, on PostgreSQL), else 0. The name is bound.
pub fn table_exists(d: Dialect, table: &str) -> Stmt {
    let sql = match d {
        Dialect::Sqlite => "SELECT COUNT(*) FROM sqlite_master WHERE type = 'table' AND name = ?",
        Dialect::Postgres => {
            "SELECT COUNT(*) FROM information_schema.tables \
             WHERE table_schema = current_schema() AND table_name = $1"
        }
        Dialect::MySql => {
            "SELECT COUNT(*) FROM information_schema.tables \
             WHERE table_schema = DATABASE() AND table_name = ?"
        }
    };
    Stmt {
        sql: sql.into(),
        values: vec![sea_query::Value::from(table.to_string())],
    }
}

/// The advisory-lock key: "flowgate" in ASCII, as a number.
const LOCK_KEY: i64 = 0x666c_6f77_6761_7465;

/// The statements that set a connection's time limit per statement to `ms` milliseconds (0: no
/// limit), each to be tried in turn, ignoring the ones the server does not know: PostgreSQL's
/// `statement_timeout`; MariaDB's `max_statement_time` (seconds, every statement); MySQL's
/// `max_execution_time` (milliseconds, `SELECT` only). SQLite has no such setting (a progress
/// handler stops its statements instead).
pub fn statement_time_limit(d: Dialect, ms: u64) -> Vec<Stmt> {
    match d {
        Dialect::Sqlite => Vec::new(),
        Dialect::Postgres => vec![Stmt::raw(format!("SET statement_timeout = {ms}"))],
        Dialect::MySql => vec![
            Stmt::raw(format!(
                "SET SESSION max_statement_time = {}.{:03}",
                ms / 1000,
                ms % 1000
            )),
            Stmt::raw(format!("SET SESSION max_execution_time = {ms}")),
        ],
    }
}

/// PostgreSQL: the server checks every second, while a statement runs, that the client is
/// still there, and stops the statement when it is not (PostgreSQL 14 and later).
pub fn check_client_connection(d: Dialect) -> Option<Stmt> {
    (d == Dialect::Postgres).then(|| Stmt::raw("SET client_connection_check_interval = 1000"))
}

/// PostgreSQL: lifts the statement time limit until the end of the transaction (a migration's
/// DDL is not an operation and may take as long as it needs).
pub fn no_time_limit_in_transaction(d: Dialect) -> Option<Stmt> {
    (d == Dialect::Postgres).then(|| Stmt::raw("SET LOCAL statement_timeout = 0"))
}
