//! What differs between the three databases, written once per database: binding values,
//! decoding rows, what a write reports, how a transaction begins, what happens to a connection
//! whose operation was dropped, and the statement primitives on a connection of that database.
//!
//! Everything else (the operations, [`super::exec::Exec`], transactions, leases, running an
//! operation on the pool) is written once, generic over [`Db`].

use super::limits::SqliteDeadline;
use crate::error::{Error, Result};
use crate::model::{Column, FieldType};
use crate::sql::Dialect;
use crate::value::{Shape, Val, coerce};
use rust_decimal::Decimal;
use sea_query::Value as Sv;
use serde_json::Value;
use sqlx::mysql::{MySqlArguments, MySqlConnection, MySqlQueryResult, MySqlRow};
use sqlx::postgres::{PgArguments, PgConnection, PgQueryResult, PgRow};
use sqlx::sqlite::{SqliteArguments, SqliteConnection, SqliteQueryResult, SqliteRow};
use sqlx::{Arguments, AssertSqlSafe, MySql, Postgres, Row, Sqlite, TypeInfo, ValueRef};
use std::future::Future;
use std::str::FromStr;
use std::time::Duration;

/// What a write statement reports.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Done {
    pub(crate) rows: u64,
    pub(crate) last_id: Option<i64>,
}

/// A database Flowgate runs on (SQLite, PostgreSQL, MySQL/MariaDB).
pub(crate) trait Db: sqlx::Database {
    /// The SQL dialect the `sql` module writes for it.
    const DIALECT: Dialect;

    /// Whether a connection whose operation was dropped mid-way (its client went away) is closed
    /// rather than given back to the pool, which on PostgreSQL also stops the statement (the
    /// server checks its client every second). SQLite connections are not closed (an in-memory
    /// database lives in them): a deadline's progress handler stops the statement instead.
    const CLOSE_IF_DROPPED: bool;

    /// The statement that begins a transaction, when not the driver's own `BEGIN`.
    const BEGIN: Option<&'static str> = None;

    /// The bound arguments of a statement. Values are taken by value: a statement built for one
    /// run (a bulk insert's thousands of values) moves its text and bytes into the arguments.
    fn bind(values: impl IntoIterator<Item = Sv>) -> Result<Self::Arguments>;

    /// Column `i` of a row, decoded as `col`'s field type.
    fn decode(row: &Self::Row, i: usize, col: &Column) -> Result<Val, sqlx::Error>;

    /// What a write statement reports.
    fn done(result: &Self::QueryResult) -> Done;

    /// The first column of a row as an integer (a count, a lock's answer).
    fn first_i64(row: &Self::Row) -> Result<i64, sqlx::Error>;

    /// Runs a statement and collects its rows.
    fn fetch_all<'c>(
        conn: &'c mut Self::Connection,
        sql: &'c str,
        args: Self::Arguments,
    ) -> impl Future<Output = sqlx::Result<Vec<Self::Row>>> + Send + 'c;

    /// Runs a statement and takes its first row, if any.
    fn fetch_optional<'c>(
        conn: &'c mut Self::Connection,
        sql: &'c str,
        args: Self::Arguments,
    ) -> impl Future<Output = sqlx::Result<Option<Self::Row>>> + Send + 'c;

    /// Runs a statement that returns no rows.
    fn execute<'c>(
        conn: &'c mut Self::Connection,
        sql: &'c str,
        args: Self::Arguments,
    ) -> impl Future<Output = sqlx::Result<Self::QueryResult>> + Send + 'c;

    /// Runs SQL text without arguments (session settings).
    fn execute_text<'c>(
        conn: &'c mut Self::Connection,
        sql: String,
    ) -> impl Future<Output = sqlx::Result<()>> + Send + 'c;

    /// Arms the deadline of an operation that may scan a table, on a database whose session
    /// settings do not limit statements (SQLite); the others answer `None`.
    fn arm_deadline(
        conn: &mut Self::Connection,
        limit: Duration,
    ) -> impl Future<Output = Result<Option<SqliteDeadline>>> + Send {
        let _ = (conn, limit);
        std::future::ready(Ok(None))
    }
}

fn unsupported(v: &Sv) -> Error {
    Error::internal(format!("no binding for value {v:?}"))
}

fn bound(added: std::result::Result<(), sqlx::error::BoxDynError>) -> Result<()> {
    added.map_err(|e| Error::internal_from(format!("binding failed: {e}"), e))
}

/// LIMIT and OFFSET arrive as unsigned; every database takes a BIGINT there.
fn big(x: Option<u64>) -> Option<i64> {
    x.map(|n| n.min(i64::MAX as u64) as i64)
}

impl Db for Sqlite {
    const DIALECT: Dialect = Dialect::Sqlite;
    const CLOSE_IF_DROPPED: bool = false;
    // IMMEDIATE takes SQLite's write lock up front, so a transaction that reads before it
    // writes cannot fail to upgrade its lock halfway.
    const BEGIN: Option<&'static str> = Some("BEGIN IMMEDIATE");

    fn bind(values: impl IntoIterator<Item = Sv>) -> Result<SqliteArguments> {
        let mut args = SqliteArguments::default();
        for v in values {
            bound(match v {
                Sv::BigUnsigned(x) => args.add(big(x)),
                Sv::Bool(x) => args.add(x),
                Sv::BigInt(x) => args.add(x),
                Sv::Double(x) => args.add(x),
                Sv::String(x) => args.add(x),
                Sv::Bytes(x) => args.add(x),
                other => return Err(unsupported(&other)),
            })?;
        }
        Ok(args)
    }

    fn decode(row: &SqliteRow, i: usize, col: &Column) -> Result<Val, sqlx::Error> {
        let raw = row.try_get_raw(i)?;
        if raw.is_null() {
            return Ok(Val::Null);
        }
        Ok(match col.ty() {
            FieldType::Integer => Val::Int(row.try_get_unchecked(i)?),
            FieldType::Float => Val::Float(row.try_get_unchecked(i)?),
            FieldType::Boolean => Val::Bool(row.try_get_unchecked::<i64, _>(i)? != 0),
            FieldType::Bytes => Val::Bytes(row.try_get_unchecked(i)?),
            // The storage class of this value (SQLite's columns are not typed).
            FieldType::Decimal => match raw.type_info().name() {
                "INTEGER" => Val::Decimal(Decimal::from(row.try_get_unchecked::<i64, _>(i)?)),
                "REAL" => {
                    let f: f64 = row.try_get_unchecked(i)?;
                    Val::Decimal(
                        Decimal::from_str(&f.to_string())
                            .map_err(|e| sqlx::Error::Decode(e.into()))?
                            .normalize(),
                    )
                }
                _ => text_as(col, row.try_get_unchecked(i)?)?,
            },
            FieldType::Datetime => {
                let s: String = row.try_get_unchecked(i)?;
                if crate::value::is_canonical_datetime(&s) {
                    // Already the JSON form (see `format_datetime`): no parse and format again.
                    Val::Text(s)
                } else {
                    text_as(col, s)?
                }
            }
            _ => text_as(col, row.try_get_unchecked(i)?)?,
        })
    }

    fn first_i64(row: &SqliteRow) -> Result<i64, sqlx::Error> {
        row.try_get(0)
    }

    fn done(r: &SqliteQueryResult) -> Done {
        Done {
            rows: r.rows_affected(),
            last_id: Some(r.last_insert_rowid()),
        }
    }

    fn fetch_all<'c>(
        conn: &'c mut SqliteConnection,
        sql: &'c str,
        args: SqliteArguments,
    ) -> impl Future<Output = sqlx::Result<Vec<SqliteRow>>> + Send + 'c {
        sqlx::query_with(AssertSqlSafe(sql), args).fetch_all(conn)
    }

    fn fetch_optional<'c>(
        conn: &'c mut SqliteConnection,
        sql: &'c str,
        args: SqliteArguments,
    ) -> impl Future<Output = sqlx::Result<Option<SqliteRow>>> + Send + 'c {
        sqlx::query_with(AssertSqlSafe(sql), args).fetch_optional(conn)
    }

    fn execute<'c>(
        conn: &'c mut SqliteConnection,
        sql: &'c str,
        args: SqliteArguments,
    ) -> impl Future<Output = sqlx::Result<SqliteQueryResult>> + Send + 'c {
        sqlx::query_with(AssertSqlSafe(sql), args).execute(conn)
    }

    async fn execute_text(conn: &mut SqliteConnection, sql: String) -> sqlx::Result<()> {
        sqlx::raw_sql(AssertSqlSafe(sql))
            .execute(conn)
            .await
            .map(drop)
    }

    async fn arm_deadline(
        conn: &mut SqliteConnection,
        limit: Duration,
    ) -> Result<Option<SqliteDeadline>> {
        SqliteDeadline::arm(conn, limit).await.map(Some)
    }
}

impl Db for Postgres {
    const DIALECT: Dialect = Dialect::Postgres;
    const CLOSE_IF_DROPPED: bool = true;

    fn bind(values: impl IntoIterator<Item = Sv>) -> Result<PgArguments> {
        let mut args = PgArguments::default();
        for v in values {
            bound(match v {
                Sv::Json(x) => args.add(x.map(|b| *b)),
                Sv::Bool(x) => args.add(x),
                Sv::BigInt(x) => args.add(x),
                Sv::BigUnsigned(x) => args.add(big(x)),
                Sv::Double(x) => args.add(x),
                Sv::String(x) => args.add(x),
                Sv::Bytes(x) => args.add(x),
                Sv::Decimal(x) => args.add(x),
                Sv::ChronoDate(x) => args.add(x),
                Sv::ChronoDateTimeUtc(x) => args.add(x),
                Sv::Uuid(x) => args.add(x),
                other => return Err(unsupported(&other)),
            })?;
        }
        Ok(args)
    }

    fn decode(row: &PgRow, i: usize, col: &Column) -> Result<Val, sqlx::Error> {
        fn get<'r, T: sqlx::Decode<'r, Postgres> + sqlx::Type<Postgres>>(
            row: &'r PgRow,
            i: usize,
        ) -> Result<Option<T>, sqlx::Error> {
            row.try_get::<Option<T>, _>(i)
        }
        // The types Flowgate creates are read first; a table it did not create (DESIGN 13.10)
        // may hold the narrower kinds, read on the way out of a type mismatch.
        let v = match col.ty() {
            FieldType::Integer => match get::<i64>(row, i) {
                Ok(v) => v,
                Err(_) => match get::<i32>(row, i) {
                    Ok(v) => v.map(i64::from),
                    Err(_) => get::<i16>(row, i)?.map(i64::from),
                },
            }
            .map(Val::Int),
            FieldType::Float => match get::<f64>(row, i) {
                Ok(v) => v,
                Err(_) => get::<f32>(row, i)?.map(f64::from),
            }
            .map(Val::Float),
            FieldType::Boolean => get::<bool>(row, i)?.map(Val::Bool),
            FieldType::Decimal => get::<Decimal>(row, i)?.map(|d| Val::Decimal(d.normalize())),
            FieldType::String | FieldType::Text | FieldType::Enum => {
                get::<String>(row, i)?.map(Val::Text)
            }
            FieldType::Date => get::<chrono::NaiveDate>(row, i)?.map(Val::Date),
            FieldType::Datetime => match get::<chrono::DateTime<chrono::Utc>>(row, i) {
                Ok(v) => v,
                Err(_) => get::<chrono::NaiveDateTime>(row, i)?.map(|t| t.and_utc()),
            }
            .map(Val::DateTime),
            FieldType::Uuid => get::<uuid::Uuid>(row, i)?.map(Val::Uuid),
            FieldType::Json => get::<Value>(row, i)?.map(Val::Json),
            FieldType::Bytes => get::<Vec<u8>>(row, i)?.map(Val::Bytes),
        };
        Ok(v.unwrap_or(Val::Null))
    }

    fn first_i64(row: &PgRow) -> Result<i64, sqlx::Error> {
        row.try_get(0)
    }

    fn done(r: &PgQueryResult) -> Done {
        Done {
            rows: r.rows_affected(),
            last_id: None,
        }
    }

    fn fetch_all<'c>(
        conn: &'c mut PgConnection,
        sql: &'c str,
        args: PgArguments,
    ) -> impl Future<Output = sqlx::Result<Vec<PgRow>>> + Send + 'c {
        sqlx::query_with(AssertSqlSafe(sql), args).fetch_all(conn)
    }

    fn fetch_optional<'c>(
        conn: &'c mut PgConnection,
        sql: &'c str,
        args: PgArguments,
    ) -> impl Future<Output = sqlx::Result<Option<PgRow>>> + Send + 'c {
        sqlx::query_with(AssertSqlSafe(sql), args).fetch_optional(conn)
    }

    fn execute<'c>(
        conn: &'c mut PgConnection,
        sql: &'c str,
        args: PgArguments,
    ) -> impl Future<Output = sqlx::Result<PgQueryResult>> + Send + 'c {
        sqlx::query_with(AssertSqlSafe(sql), args).execute(conn)
    }

    async fn execute_text(conn: &mut PgConnection, sql: String) -> sqlx::Result<()> {
        sqlx::raw_sql(AssertSqlSafe(sql))
            .execute(conn)
            .await
            .map(drop)
    }
}

impl Db for MySql {
    const DIALECT: Dialect = Dialect::MySql;
    const CLOSE_IF_DROPPED: bool = true;

    fn bind(values: impl IntoIterator<Item = Sv>) -> Result<MySqlArguments> {
        let mut args = MySqlArguments::default();
        for v in values {
            bound(match v {
                Sv::BigUnsigned(x) => args.add(big(x)),
                Sv::Bool(x) => args.add(x),
                Sv::BigInt(x) => args.add(x),
                Sv::Double(x) => args.add(x),
                Sv::String(x) => args.add(x),
                Sv::Bytes(x) => args.add(x),
                Sv::Decimal(x) => args.add(x),
                Sv::ChronoDate(x) => args.add(x),
                Sv::ChronoDateTime(x) => args.add(x),
                other => return Err(unsupported(&other)),
            })?;
        }
        Ok(args)
    }

    fn decode(row: &MySqlRow, i: usize, col: &Column) -> Result<Val, sqlx::Error> {
        let raw = row.try_get_raw(i)?;
        if raw.is_null() {
            return Ok(Val::Null);
        }
        Ok(match col.ty() {
            FieldType::Integer => Val::Int(row.try_get_unchecked(i)?),
            FieldType::Float => Val::Float(row.try_get_unchecked(i)?),
            FieldType::Boolean => Val::Bool(row.try_get_unchecked::<i8, _>(i)? != 0),
            FieldType::Decimal => Val::Decimal(row.try_get_unchecked::<Decimal, _>(i)?.normalize()),
            FieldType::Date => Val::Date(row.try_get_unchecked(i)?),
            FieldType::Datetime => Val::DateTime(
                row.try_get_unchecked::<chrono::NaiveDateTime, _>(i)?
                    .and_utc(),
            ),
            FieldType::Bytes => Val::Bytes(row.try_get_unchecked(i)?),
            _ => text_as(col, row.try_get_unchecked(i)?)?,
        })
    }

    fn first_i64(row: &MySqlRow) -> Result<i64, sqlx::Error> {
        row.try_get(0)
    }

    fn done(r: &MySqlQueryResult) -> Done {
        Done {
            rows: r.rows_affected(),
            last_id: Some(r.last_insert_id() as i64),
        }
    }

    fn fetch_all<'c>(
        conn: &'c mut MySqlConnection,
        sql: &'c str,
        args: MySqlArguments,
    ) -> impl Future<Output = sqlx::Result<Vec<MySqlRow>>> + Send + 'c {
        sqlx::query_with(AssertSqlSafe(sql), args).fetch_all(conn)
    }

    fn fetch_optional<'c>(
        conn: &'c mut MySqlConnection,
        sql: &'c str,
        args: MySqlArguments,
    ) -> impl Future<Output = sqlx::Result<Option<MySqlRow>>> + Send + 'c {
        sqlx::query_with(AssertSqlSafe(sql), args).fetch_optional(conn)
    }

    fn execute<'c>(
        conn: &'c mut MySqlConnection,
        sql: &'c str,
        args: MySqlArguments,
    ) -> impl Future<Output = sqlx::Result<MySqlQueryResult>> + Send + 'c {
        sqlx::query_with(AssertSqlSafe(sql), args).execute(conn)
    }

    async fn execute_text(conn: &mut MySqlConnection, sql: String) -> sqlx::Result<()> {
        sqlx::raw_sql(AssertSqlSafe(sql))
            .execute(conn)
            .await
            .map(drop)
    }
}

/// A value read as text, checked as the column's type (SQLite and MySQL keep some types as
/// text).
fn text_as(col: &Column, s: String) -> Result<Val, sqlx::Error> {
    let shape = Shape {
        ty: col.ty(),
        max_length: None,
        values: &[],
    };
    let input = match col.ty() {
        FieldType::Json => {
            return serde_json::from_str(&s)
                .map(Val::Json)
                .map_err(|e| sqlx::Error::Decode(e.into()));
        }
        FieldType::String | FieldType::Text | FieldType::Enum => return Ok(Val::Text(s)),
        _ => Value::String(s),
    };
    coerce(shape, &input).map_err(|e| sqlx::Error::Decode(e.into()))
}

/// Runs session settings on a connection: each statement is tried, and one the server does not
/// know (a MySQL variable on MariaDB, a PostgreSQL 14 setting on 13) is passed over. Gives how
/// many applied.
pub(crate) async fn session_settings<D: Db>(
    conn: &mut D::Connection,
    stmts: &[crate::sql::Stmt],
) -> usize {
    let mut applied = 0usize;
    for stmt in stmts {
        match D::execute_text(conn, stmt.sql.clone()).await {
            Ok(()) => applied += 1,
            Err(e) => {
                tracing::debug!(target: "flowgate::sql", sql = %stmt.sql, error = %e, "session setting passed over")
            }
        }
    }
    applied
}
