//! Running statements on one connection of any of the databases: binding values and decoding
//! rows (through [`Db`]), the statement log.

use super::db::{Db, Done};
use super::errors::db_error;
use crate::error::{Error, Result};
use crate::model::Column;
use crate::sql::{Dialect, Stmt};
use crate::value::Val;
use serde_json::{Map, Value};
use std::time::Instant;

/// A connection (pooled or inside a transaction) plus the store's settings that apply to every
/// statement.
pub(crate) struct Exec<'c, D: Db> {
    pub(crate) conn: &'c mut D::Connection,
    pub(crate) echo: bool,
    /// The tenant of the operation running, on a tenant-scoped model (set by `ops::dispatch`):
    /// every statement on the model is limited to its rows, and new rows get it.
    pub(crate) tenant: Option<Val>,
    /// The audit of a write (DESIGN 13.5): at most this many rows one per record (`None`: no
    /// audit), the entries the operation made, and how many records it wrote past them.
    pub(crate) audit_max: Option<usize>,
    pub(crate) audit: Vec<crate::store::audit::Entry>,
    pub(crate) audit_more: u64,
    /// Whether the connection is inside a transaction (a setting made for the operation then
    /// ends with it).
    pub(crate) in_transaction: bool,
}

impl<'c, D: Db> Exec<'c, D> {
    pub(crate) fn new(conn: &'c mut D::Connection, echo: bool) -> Self {
        Exec {
            conn,
            echo,
            tenant: None,
            audit_max: None,
            audit: Vec::new(),
            audit_more: 0,
            in_transaction: false,
        }
    }

    /// The same, on a connection inside a transaction.
    pub(crate) fn in_transaction(mut self) -> Self {
        self.in_transaction = true;
        self
    }

    pub(crate) fn dialect(&self) -> Dialect {
        D::DIALECT
    }

    /// The same, auditing writes (at most `max` rows one per record) when `max` is given.
    pub(crate) fn audited(mut self, max: Option<usize>) -> Self {
        self.audit_max = max;
        self
    }

    /// Whether the operation running records audit entries.
    pub(crate) fn auditing(&self) -> bool {
        self.audit_max.is_some()
    }

    /// Records a changed record, or only counts it once `audit_max` records are kept.
    pub(crate) fn audit_record(&mut self, id: serde_json::Value, changes: serde_json::Value) {
        let Some(max) = self.audit_max else { return };
        if self.audit.len() < max {
            self.audit
                .push(crate::store::audit::Entry::Record { id, changes });
        } else {
            self.audit_more += 1;
        }
    }

    /// `filter` limited to the operation's tenant, on a tenant-scoped model.
    pub(crate) fn scoped(&self, filter: crate::query::Filter) -> crate::query::Filter {
        filter.scoped(self.tenant.as_ref())
    }

    /// When a statement starts, for the statement log (no clock read when it is off).
    fn start(&self) -> Option<Instant> {
        self.echo.then(Instant::now)
    }

    fn echo(&self, sql: &str, params: usize, started: Option<Instant>, rows: usize) {
        if let Some(started) = started {
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
        let started = self.start();
        let args = D::bind(stmt.values.iter().cloned())?;
        let rows = D::fetch_all(self.conn, &stmt.sql, args)
            .await
            .map_err(db_error)?;
        let out = rows
            .iter()
            .map(|r| decode_row::<D>(r, cols))
            .collect::<Result<Vec<_>>>()?;
        self.echo(&stmt.sql, stmt.values.len(), started, out.len());
        Ok(out)
    }

    /// [`Exec::fetch`], each row's values decoded without building a record (to be encoded as
    /// JSON text straight away).
    pub(crate) async fn fetch_values(
        &mut self,
        stmt: &Stmt,
        cols: &[&Column],
    ) -> Result<Vec<Vec<Val>>> {
        let started = self.start();
        let args = D::bind(stmt.values.iter().cloned())?;
        let rows = D::fetch_all(self.conn, &stmt.sql, args)
            .await
            .map_err(db_error)?;
        let out = rows
            .iter()
            .map(|r| {
                cols.iter()
                    .enumerate()
                    .map(|(i, col)| decode_col::<D>(r, i, col))
                    .collect::<Result<Vec<_>>>()
            })
            .collect::<Result<Vec<_>>>()?;
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
        let started = self.start();
        let args = D::bind(stmt.values.iter().cloned())?;
        let out = D::fetch_optional(self.conn, &stmt.sql, args)
            .await
            .map_err(db_error)?
            .map(|r| decode_row::<D>(&r, cols))
            .transpose()?;
        self.echo(
            &stmt.sql,
            stmt.values.len(),
            started,
            usize::from(out.is_some()),
        );
        Ok(out)
    }

    /// [`Exec::fetch_optional`], the record encoded as JSON text straight from the row (the
    /// same text as encoding the record `fetch_optional` gives).
    pub(crate) async fn fetch_optional_json(
        &mut self,
        stmt: &Stmt,
        cols: &[&Column],
    ) -> Result<Option<Vec<u8>>> {
        let started = self.start();
        let args = D::bind(stmt.values.iter().cloned())?;
        let out = D::fetch_optional(self.conn, &stmt.sql, args)
            .await
            .map_err(db_error)?
            .map(|r| encode_row::<D>(&r, cols))
            .transpose()?;
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
        let started = self.start();
        let Stmt { sql: text, values } = stmt;
        let params = values.len();
        let args = D::bind(values)?;
        let rows = D::fetch_all(self.conn, &text, args)
            .await
            .map_err(db_error)?;
        let out = rows
            .iter()
            .map(|r| {
                D::decode(r, 0, col).map(Val::into_json).map_err(|e| {
                    Error::internal_from(format!("decoding column {}: {e}", col.name()), e)
                })
            })
            .collect::<Result<Vec<_>>>()?;
        self.echo(&text, params, started, out.len());
        Ok(out)
    }

    /// Runs a statement that returns one integer (a count).
    pub(crate) async fn scalar(&mut self, stmt: &Stmt) -> Result<i64> {
        let started = self.start();
        let args = D::bind(stmt.values.iter().cloned())?;
        let n: i64 = match D::fetch_optional(self.conn, &stmt.sql, args).await {
            Ok(Some(r)) => D::first_i64(&r),
            Ok(None) => Err(sqlx::Error::RowNotFound),
            Err(e) => Err(e),
        }
        .map_err(db_error)?;
        self.echo(&stmt.sql, stmt.values.len(), started, 1);
        Ok(n)
    }

    /// Runs statements without bound values as one script, in one round trip where the
    /// database takes several statements at once.
    pub(crate) async fn execute_script(&mut self, sql: String) -> Result<()> {
        let started = self.start();
        let echo = self.echo.then(|| sql.clone());
        D::execute_text(self.conn, sql).await.map_err(db_error)?;
        if let Some(sql) = echo {
            self.echo(&sql, 0, started, 0);
        }
        Ok(())
    }

    /// Runs a statement that returns no rows.
    pub(crate) async fn execute(&mut self, stmt: &Stmt) -> Result<Done> {
        let started = self.start();
        let args = D::bind(stmt.values.iter().cloned())?;
        let done = D::done(
            &D::execute(self.conn, &stmt.sql, args)
                .await
                .map_err(db_error)?,
        );
        self.echo(&stmt.sql, stmt.values.len(), started, done.rows as usize);
        Ok(done)
    }
}

fn decode_col<D: Db>(row: &D::Row, i: usize, col: &Column) -> Result<Val> {
    D::decode(row, i, col).map_err(|e| {
        Error::internal_from(
            format!("decoding column {} ({}): {e}", col.name(), col.ty()),
            e,
        )
    })
}

fn decode_row<D: Db>(row: &D::Row, cols: &[&Column]) -> Result<Map<String, Value>> {
    let mut map = Map::with_capacity(cols.len());
    for (i, col) in cols.iter().enumerate() {
        let val = decode_col::<D>(row, i, col)?;
        map.insert(col.name().to_string(), val.into_json());
    }
    Ok(map)
}

/// A row as the JSON text of its record, each column encoded as it is decoded: the text of
/// [`decode_row`]'s map, without building it.
fn encode_row<D: Db>(row: &D::Row, cols: &[&Column]) -> Result<Vec<u8>> {
    use serde::ser::{SerializeMap as _, Serializer as _};
    fn failed(e: serde_json::Error) -> Error {
        Error::internal_from(format!("encoding a record: {e}"), e)
    }
    let mut out = Vec::with_capacity(64 + 40 * cols.len());
    let mut ser = serde_json::Serializer::new(&mut out);
    let mut map = ser.serialize_map(Some(cols.len())).map_err(failed)?;
    for (i, col) in cols.iter().enumerate() {
        let val = decode_col::<D>(row, i, col)?;
        map.serialize_entry(col.name(), &val).map_err(failed)?;
    }
    map.end().map_err(failed)?;
    Ok(out)
}
