//! Running statements on one connection of any of the three databases: binding values and
//! decoding rows into typed values.

use super::errors::db_error;
use crate::error::{Error, Result};
use crate::model::{Column, FieldType};
use crate::sql::{Dialect, Stmt};
use crate::value::{Shape, Val, coerce};
use rust_decimal::Decimal;
use sea_query::Value as Sv;
use serde_json::{Map, Value};
use sqlx::mysql::{MySqlArguments, MySqlConnection, MySqlRow};
use sqlx::postgres::{PgArguments, PgConnection, PgRow};
use sqlx::sqlite::{SqliteArguments, SqliteConnection, SqliteRow};
use sqlx::{Arguments, AssertSqlSafe, Row, TypeInfo, ValueRef};
use std::str::FromStr;
use std::time::Instant;

/// A borrowed connection (pooled or inside a transaction) of one of the databases.
pub(crate) enum Conn<'c> {
    Sqlite(&'c mut SqliteConnection),
    Postgres(&'c mut PgConnection),
    MySql(&'c mut MySqlConnection),
}

/// A connection plus the store's settings that apply to every statement.
pub(crate) struct Exec<'c> {
    pub(crate) conn: Conn<'c>,
    pub(crate) echo: bool,
}

/// What a write statement reports.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Done {
    pub(crate) rows: u64,
    pub(crate) last_id: Option<i64>,
}

fn unsupported(v: &Sv) -> Error {
    Error::internal(format!("no binding for value {v:?}"))
}

macro_rules! bind_args {
    ($args:ty, $values:expr, [$($variant:ident),*]) => {{
        let mut args = <$args>::default();
        for v in $values {
            let added = match v {
                // LIMIT and OFFSET arrive as unsigned; every database takes a BIGINT there.
                Sv::BigUnsigned(x) => args.add(x.map(|n| n.min(i64::MAX as u64) as i64)),
                $(Sv::$variant(x) => args.add(x),)*
                other => return Err(unsupported(&other)),
            };
            added.map_err(|e| Error::internal_from(format!("binding failed: {e}"), e))?;
        }
        args
    }};
}

// The binders take values by value: a statement built for one run (a bulk insert's thousands
// of values) moves its text and bytes into the arguments instead of copying them.

fn sqlite_args(values: impl IntoIterator<Item = Sv>) -> Result<SqliteArguments> {
    Ok(bind_args!(
        SqliteArguments,
        values,
        [Bool, BigInt, Double, String, Bytes]
    ))
}

fn pg_args(values: impl IntoIterator<Item = Sv>) -> Result<PgArguments> {
    let mut args = PgArguments::default();
    for v in values {
        let added = match v {
            Sv::Json(x) => args.add(x.map(|b| *b)),
            Sv::Bool(x) => args.add(x),
            Sv::BigInt(x) => args.add(x),
            Sv::BigUnsigned(x) => args.add(x.map(|n| n.min(i64::MAX as u64) as i64)),
            Sv::Double(x) => args.add(x),
            Sv::String(x) => args.add(x),
            Sv::Bytes(x) => args.add(x),
            Sv::Decimal(x) => args.add(x),
            Sv::ChronoDate(x) => args.add(x),
            Sv::ChronoDateTimeUtc(x) => args.add(x),
            Sv::Uuid(x) => args.add(x),
            other => return Err(unsupported(&other)),
        };
        added.map_err(|e| Error::internal_from(format!("binding failed: {e}"), e))?;
    }
    Ok(args)
}

fn mysql_args(values: impl IntoIterator<Item = Sv>) -> Result<MySqlArguments> {
    Ok(bind_args!(
        MySqlArguments,
        values,
        [
            Bool,
            BigInt,
            Double,
            String,
            Bytes,
            Decimal,
            ChronoDate,
            ChronoDateTime
        ]
    ))
}

/// Runs `$body` on the connection's database with `$q` bound to the query (the text and the
/// values bound for that database), `$c` to the connection and `$decode` to the database's row
/// decoder: one body for the three databases.
macro_rules! on_db {
    ($conn:expr, $sql:expr, $values:expr, |$q:ident, $c:ident, $decode:ident| $body:block) => {
        match $conn {
            Conn::Sqlite($c) => {
                let $q = sqlx::query_with($sql, sqlite_args($values)?);
                let $decode = decode_sqlite;
                $body
            }
            Conn::Postgres($c) => {
                let $q = sqlx::query_with($sql, pg_args($values)?);
                let $decode = decode_pg;
                $body
            }
            Conn::MySql($c) => {
                let $q = sqlx::query_with($sql, mysql_args($values)?);
                let $decode = decode_mysql;
                $body
            }
        }
    };
}

/// What each database's write result says, as [`Done`].
trait Outcome {
    fn done(&self) -> Done;
}

impl Outcome for sqlx::sqlite::SqliteQueryResult {
    fn done(&self) -> Done {
        Done {
            rows: self.rows_affected(),
            last_id: Some(self.last_insert_rowid()),
        }
    }
}

impl Outcome for sqlx::postgres::PgQueryResult {
    fn done(&self) -> Done {
        Done {
            rows: self.rows_affected(),
            last_id: None,
        }
    }
}

impl Outcome for sqlx::mysql::MySqlQueryResult {
    fn done(&self) -> Done {
        Done {
            rows: self.rows_affected(),
            last_id: Some(self.last_insert_id() as i64),
        }
    }
}

impl Exec<'_> {
    pub(crate) fn dialect(&self) -> Dialect {
        match self.conn {
            Conn::Sqlite(_) => Dialect::Sqlite,
            Conn::Postgres(_) => Dialect::Postgres,
            Conn::MySql(_) => Dialect::MySql,
        }
    }

    fn echo(&self, sql: &str, params: usize, started: Instant, rows: usize) {
        if self.echo {
            tracing::info!(
                target: "flowgate::sql",
                sql = %sql,
                params,
                rows,
                micros = started.elapsed().as_micros() as u64,
                "statement"
            );
        }
    }

    /// Runs a statement that returns rows and decodes each into the given columns.
    pub(crate) async fn fetch(
        &mut self,
        stmt: &Stmt,
        cols: &[&Column],
    ) -> Result<Vec<Map<String, Value>>> {
        let started = Instant::now();
        let sql = AssertSqlSafe(stmt.sql.as_str());
        let out = on_db!(
            &mut self.conn,
            sql,
            stmt.values.iter().cloned(),
            |q, c, decode| {
                let rows = q.fetch_all(&mut **c).await.map_err(db_error)?;
                rows.iter()
                    .map(|r| decode_row(r, cols, decode))
                    .collect::<Result<Vec<_>>>()?
            }
        );
        self.echo(&stmt.sql, stmt.values.len(), started, out.len());
        Ok(out)
    }

    /// Runs a statement that returns at most one row (a primary-key read) and decodes it, without
    /// collecting a list.
    ///
    /// For reads only. With a row limit sqlx-sqlite resets the statement after the row instead
    /// of stepping it to the end, and SQLite runs its WAL auto-checkpoint only at the end of a
    /// statement: a write (`INSERT/UPDATE ... RETURNING`) run this way would grow the log
    /// without bound. Writes use [`Exec::fetch`].
    pub(crate) async fn fetch_optional(
        &mut self,
        stmt: &Stmt,
        cols: &[&Column],
    ) -> Result<Option<Map<String, Value>>> {
        let started = Instant::now();
        let sql = AssertSqlSafe(stmt.sql.as_str());
        let out = on_db!(
            &mut self.conn,
            sql,
            stmt.values.iter().cloned(),
            |q, c, decode| {
                q.fetch_optional(&mut **c)
                    .await
                    .map_err(db_error)?
                    .map(|r| decode_row(&r, cols, decode))
                    .transpose()?
            }
        );
        self.echo(
            &stmt.sql,
            stmt.values.len(),
            started,
            usize::from(out.is_some()),
        );
        Ok(out)
    }

    /// Runs a statement that returns one column (ids from `RETURNING id`) and decodes its
    /// values, without building a record per row. It takes the statement by value: its values
    /// move into the arguments (a bulk insert has thousands).
    pub(crate) async fn fetch_column(&mut self, stmt: Stmt, col: &Column) -> Result<Vec<Value>> {
        let started = Instant::now();
        let Stmt { sql: text, values } = stmt;
        let params = values.len();
        let sql = AssertSqlSafe(text.as_str());
        let out = on_db!(&mut self.conn, sql, values, |q, c, decode| {
            let rows = q.fetch_all(&mut **c).await.map_err(db_error)?;
            rows.iter()
                .map(|r| {
                    decode(r, 0, col).map(Val::into_json).map_err(|e| {
                        Error::internal_from(format!("decoding column {}: {e}", col.name()), e)
                    })
                })
                .collect::<Result<Vec<_>>>()?
        });
        self.echo(&text, params, started, out.len());
        Ok(out)
    }

    /// Runs a statement that returns one integer (a count).
    pub(crate) async fn scalar(&mut self, stmt: &Stmt) -> Result<i64> {
        let started = Instant::now();
        let sql = AssertSqlSafe(stmt.sql.as_str());
        let n: i64 = on_db!(
            &mut self.conn,
            sql,
            stmt.values.iter().cloned(),
            |q, c, _d| {
                q.fetch_one(&mut **c)
                    .await
                    .and_then(|r| r.try_get(0))
                    .map_err(db_error)?
            }
        );
        self.echo(&stmt.sql, stmt.values.len(), started, 1);
        Ok(n)
    }

    /// Runs a statement that returns no rows.
    pub(crate) async fn execute(&mut self, stmt: &Stmt) -> Result<Done> {
        let started = Instant::now();
        let sql = AssertSqlSafe(stmt.sql.as_str());
        let done = on_db!(
            &mut self.conn,
            sql,
            stmt.values.iter().cloned(),
            |q, c, _d| { q.execute(&mut **c).await.map_err(db_error)?.done() }
        );
        self.echo(&stmt.sql, stmt.values.len(), started, done.rows as usize);
        Ok(done)
    }
}

fn decode_row<R>(
    row: &R,
    cols: &[&Column],
    decode: fn(&R, usize, &Column) -> std::result::Result<Val, sqlx::Error>,
) -> Result<Map<String, Value>> {
    let mut map = Map::with_capacity(cols.len());
    for (i, col) in cols.iter().enumerate() {
        let val = decode(row, i, col).map_err(|e| {
            Error::internal_from(
                format!("decoding column {} ({}): {e}", col.name(), col.ty()),
                e,
            )
        })?;
        map.insert(col.name().to_string(), val.into_json());
    }
    Ok(map)
}

fn text_as(col: &Column, s: String) -> std::result::Result<Val, sqlx::Error> {
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

fn decode_sqlite(row: &SqliteRow, i: usize, col: &Column) -> std::result::Result<Val, sqlx::Error> {
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

fn decode_pg(row: &PgRow, i: usize, col: &Column) -> std::result::Result<Val, sqlx::Error> {
    fn get<'r, T: sqlx::Decode<'r, sqlx::Postgres> + sqlx::Type<sqlx::Postgres>>(
        row: &'r PgRow,
        i: usize,
    ) -> std::result::Result<Option<T>, sqlx::Error> {
        row.try_get::<Option<T>, _>(i)
    }
    let v = match col.ty() {
        FieldType::Integer => get::<i64>(row, i)?.map(Val::Int),
        FieldType::Float => get::<f64>(row, i)?.map(Val::Float),
        FieldType::Boolean => get::<bool>(row, i)?.map(Val::Bool),
        FieldType::Decimal => get::<Decimal>(row, i)?.map(|d| Val::Decimal(d.normalize())),
        FieldType::String | FieldType::Text | FieldType::Enum => {
            get::<String>(row, i)?.map(Val::Text)
        }
        FieldType::Date => get::<chrono::NaiveDate>(row, i)?.map(Val::Date),
        FieldType::Datetime => get::<chrono::DateTime<chrono::Utc>>(row, i)?.map(Val::DateTime),
        FieldType::Uuid => get::<uuid::Uuid>(row, i)?.map(Val::Uuid),
        FieldType::Json => get::<Value>(row, i)?.map(Val::Json),
        FieldType::Bytes => get::<Vec<u8>>(row, i)?.map(Val::Bytes),
    };
    Ok(v.unwrap_or(Val::Null))
}

fn decode_mysql(row: &MySqlRow, i: usize, col: &Column) -> std::result::Result<Val, sqlx::Error> {
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
