//! Read, List and Count.

use super::params::Params;
use super::rows::{all_columns, id_value};
use crate::error::{Error, Missing, Result};
use crate::model::{Column, ModelInfo};
use crate::query::{Cursor, Filter, OrderBy, parse_filter, parse_order_by};
use crate::sql::{self, SelectSpec};
use crate::store::db::Db;
use crate::store::exec::Exec;
use crate::value::Val;
use serde_json::{Map, Value, json};

/// The most rows one page may hold, and the page size when none is asked for.
pub(crate) const MAX_LIMIT: u64 = 1000;
const DEFAULT_LIMIT: u64 = 20;

/// Reads one record by id, or fails with NotFound.
pub(crate) async fn read_one<D: Db>(
    x: &mut Exec<'_, D>,
    m: &ModelInfo,
    id: &Value,
    include_deleted: bool,
) -> Result<Map<String, Value>> {
    let val = id_value(m, id)?;
    let cols = all_columns(m);
    let stmt = by_id(x, m, &cols, &val, include_deleted);
    x.fetch_optional(&stmt, &cols)
        .await?
        .ok_or_else(|| not_found(m, &val))
}

/// The statement of a read by id. No LIMIT: the id is the primary key. (SQLite prepares a
/// statement again on every run when its LIMIT is a bound parameter.)
fn by_id<D: Db>(
    x: &Exec<'_, D>,
    m: &ModelInfo,
    cols: &[&Column],
    id: &Val,
    include_deleted: bool,
) -> sql::Stmt {
    sql::select_by_id(m, cols, id, x.tenant.as_ref(), include_deleted, x.dialect())
}

fn not_found(m: &ModelInfo, id: &Val) -> Error {
    let id = match id.to_json() {
        Value::String(s) => s,
        other => other.to_string(),
    };
    Error::not_found(Missing::Record(m.name().to_string()), id)
}

pub(crate) async fn read<D: Db>(
    x: &mut Exec<'_, D>,
    m: &ModelInfo,
    p: Params<'_>,
) -> Result<Value> {
    let (id, include_deleted) = read_params(p)?;
    read_one(x, m, id, include_deleted).await.map(Value::Object)
}

/// [`read`], the record encoded as JSON text straight from its row.
pub(crate) async fn read_json<D: Db>(
    x: &mut Exec<'_, D>,
    m: &ModelInfo,
    p: Params<'_>,
) -> Result<Vec<u8>> {
    let (id, include_deleted) = read_params(p)?;
    let val = id_value(m, id)?;
    let cols = all_columns(m);
    let stmt = by_id(x, m, &cols, &val, include_deleted);
    x.fetch_optional_json(&stmt, &cols)
        .await?
        .ok_or_else(|| not_found(m, &val))
}

fn read_params(p: Params<'_>) -> Result<(&Value, bool)> {
    p.only(&["id", "include_deleted"])?;
    let id = p.require("id")?;
    let include_deleted = p.bool("include_deleted")?.unwrap_or(false);
    Ok((id, include_deleted))
}

pub(crate) async fn count<D: Db>(
    x: &mut Exec<'_, D>,
    m: &ModelInfo,
    p: Params<'_>,
) -> Result<Value> {
    p.only(&["filter", "include_deleted"])?;
    let filter = x.scoped(parse_filter(m, &p.filter_json("filter")?)?);
    let include_deleted = p.bool("include_deleted")?.unwrap_or(false);
    let n = x
        .scalar(&sql::count(m, &filter, include_deleted, x.dialect()))
        .await?;
    Ok(json!({ "count": n }))
}

/// A list request, its params checked: what to select, and how to page.
struct ListPlan<'m> {
    filter: Filter,
    order: Vec<OrderBy>,
    limit: u64,
    offset: Option<u64>,
    cursor: Option<Cursor>,
    include_deleted: bool,
    want_count: bool,
    /// The fields asked for, when not every one.
    fields: Option<Vec<String>>,
    /// The columns selected: the asked fields plus the id and sort keys (the cursor needs them).
    cols: Vec<&'m Column>,
}

impl ListPlan<'_> {
    /// The page's statement: one row more than the page, to know whether another follows.
    fn select(&self, m: &ModelInfo, d: sql::Dialect) -> sql::Stmt {
        let spec = SelectSpec {
            columns: &self.cols,
            filter: &self.filter,
            include_deleted: self.include_deleted,
            order: &self.order,
            after: self.cursor.as_ref(),
            limit: Some(self.limit + 1),
            offset: self.offset,
            for_update: false,
        };
        sql::select(m, spec, d)
    }

    fn count(&self, m: &ModelInfo, d: sql::Dialect) -> sql::Stmt {
        sql::count(m, &self.filter, self.include_deleted, d)
    }

    /// Whether a selected column is in the records given back (the id and asked fields; the
    /// extra sort keys are not).
    fn shows(&self, name: &str) -> bool {
        self.fields
            .as_ref()
            .is_none_or(|names| name == "id" || names.iter().any(|n| n == name))
    }
}

fn plan_list<'m>(m: &'m ModelInfo, p: Params<'_>, tenant: Option<&Val>) -> Result<ListPlan<'m>> {
    p.only(&[
        "filter",
        "order_by",
        "limit",
        "offset",
        "cursor",
        "count",
        "fields",
        "include_deleted",
    ])?;
    let filter = parse_filter(m, &p.filter_json("filter")?)?.scoped(tenant);
    let order = parse_order_by(m, p.get("order_by"))?;
    let limit = p.u64("limit")?.unwrap_or(DEFAULT_LIMIT);
    if limit == 0 || limit > MAX_LIMIT {
        return Err(Error::validation(
            "limit",
            format!("must be between 1 and {MAX_LIMIT}"),
        ));
    }
    let offset = p.u64("offset")?;
    let cursor = match p.get("cursor") {
        None => None,
        Some(Value::String(s)) => Some(Cursor::decode(m, &order, s)?),
        Some(_) => {
            return Err(Error::validation(
                "cursor",
                "expected the next_cursor string of a previous page",
            ));
        }
    };
    if offset.is_some() && cursor.is_some() {
        return Err(Error::validation(
            "cursor",
            "give offset or cursor, not both",
        ));
    }
    let include_deleted = p.bool("include_deleted")?.unwrap_or(false);
    let want_count = p.bool("count")?.unwrap_or(false);

    let fields = p.names("fields")?;
    let mut cols: Vec<&Column> = Vec::new();
    match &fields {
        None => cols = all_columns(m),
        Some(names) => {
            for name in names {
                let col = m.column(name).ok_or_else(|| {
                    Error::validation(format!("fields.{name}"), m.unknown_field(name))
                })?;
                if !cols.iter().any(|c| c.name() == name) {
                    cols.push(col);
                }
            }
            for key in std::iter::once("id").chain(order.iter().map(|k| k.column.as_str())) {
                if !cols.iter().any(|c| c.name() == key) {
                    cols.push(m.column(key).expect("sort keys are columns"));
                }
            }
        }
    }
    Ok(ListPlan {
        filter,
        order,
        limit,
        offset,
        cursor,
        include_deleted,
        want_count,
        fields,
        cols,
    })
}

pub(crate) async fn list<D: Db>(
    x: &mut Exec<'_, D>,
    m: &ModelInfo,
    p: Params<'_>,
) -> Result<Value> {
    let plan = plan_list(m, p, x.tenant.as_ref())?;
    let mut rows = x.fetch(&plan.select(m, x.dialect()), &plan.cols).await?;
    let more = rows.len() as u64 > plan.limit;
    rows.truncate(plan.limit as usize);
    let next_cursor = if more {
        rows.last().map(|r| Cursor::encode(r, &plan.order))
    } else {
        None
    };
    if plan.fields.is_some() {
        for row in &mut rows {
            row.retain(|k, _| plan.shows(k));
        }
    }
    let mut out = Map::new();
    out.insert(
        "records".into(),
        Value::Array(rows.into_iter().map(Value::Object).collect()),
    );
    if plan.want_count {
        let n = x.scalar(&plan.count(m, x.dialect())).await?;
        out.insert("count".into(), json!(n));
    }
    if let Some(c) = next_cursor {
        out.insert("next_cursor".into(), Value::String(c));
    }
    Ok(Value::Object(out))
}

/// [`list`], the page encoded as JSON text straight from its rows (the same text as encoding
/// the value `list` gives).
pub(crate) async fn list_json<D: Db>(
    x: &mut Exec<'_, D>,
    m: &ModelInfo,
    p: Params<'_>,
) -> Result<Vec<u8>> {
    use serde::ser::{SerializeMap as _, Serializer as _};
    let plan = plan_list(m, p, x.tenant.as_ref())?;
    let mut rows = x
        .fetch_values(&plan.select(m, x.dialect()), &plan.cols)
        .await?;
    let more = rows.len() as u64 > plan.limit;
    rows.truncate(plan.limit as usize);
    let next_cursor = match rows.last() {
        Some(last) if more => Some(Cursor::encode_keys(plan.order.iter().map(|k| {
            plan.cols
                .iter()
                .position(|c| c.name() == k.column)
                .map_or(Value::Null, |i| last[i].to_json())
        }))),
        _ => None,
    };
    let count = match plan.want_count {
        true => Some(x.scalar(&plan.count(m, x.dialect())).await?),
        false => None,
    };
    let shown: Vec<bool> = plan.cols.iter().map(|c| plan.shows(c.name())).collect();
    let records = Records {
        cols: &plan.cols,
        shown: &shown,
        rows: &rows,
    };
    let mut out = Vec::with_capacity(64 + rows.len() * (16 + 40 * plan.cols.len()));
    let mut ser = serde_json::Serializer::new(&mut out);
    let encoded = (|| {
        let mut page = ser.serialize_map(None)?;
        page.serialize_entry("records", &records)?;
        if let Some(n) = count {
            page.serialize_entry("count", &n)?;
        }
        if let Some(c) = &next_cursor {
            page.serialize_entry("next_cursor", c)?;
        }
        page.end()
    })();
    encoded.map_err(|e| Error::internal_from(format!("encoding a page: {e}"), e))?;
    Ok(out)
}

/// Rows of values as a list of records, each with the columns shown.
struct Records<'a> {
    cols: &'a [&'a Column],
    shown: &'a [bool],
    rows: &'a [Vec<Val>],
}

impl serde::Serialize for Records<'_> {
    fn serialize<S: serde::Serializer>(&self, s: S) -> std::result::Result<S::Ok, S::Error> {
        s.collect_seq(self.rows.iter().map(|row| Record { of: self, row }))
    }
}

struct Record<'a> {
    of: &'a Records<'a>,
    row: &'a [Val],
}

impl serde::Serialize for Record<'_> {
    fn serialize<S: serde::Serializer>(&self, s: S) -> std::result::Result<S::Ok, S::Error> {
        s.collect_map(
            self.of
                .cols
                .iter()
                .zip(self.of.shown)
                .zip(self.row)
                .filter(|((_, shown), _)| **shown)
                .map(|((col, _), val)| (col.name(), val)),
        )
    }
}
