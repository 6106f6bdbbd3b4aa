//! Read, List and Count.

use super::params::Params;
use super::rows::{all_columns, id_value};
use crate::error::{Error, Missing, Result};
use crate::model::{Column, ModelInfo};
use crate::query::{Cursor, parse_filter, parse_order_by};
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
    sql::select_by_id(m, cols, id, include_deleted, x.dialect())
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
    let filter = parse_filter(m, &p.filter_json("filter")?)?;
    let include_deleted = p.bool("include_deleted")?.unwrap_or(false);
    let n = x
        .scalar(&sql::count(m, &filter, include_deleted, x.dialect()))
        .await?;
    Ok(json!({ "count": n }))
}

pub(crate) async fn list<D: Db>(
    x: &mut Exec<'_, D>,
    m: &ModelInfo,
    p: Params<'_>,
) -> Result<Value> {
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
    let filter = parse_filter(m, &p.filter_json("filter")?)?;
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

    // Projection: the asked fields plus the id and sort keys (the cursor needs them); the extras
    // are dropped from the records afterwards.
    let fields = p.names("fields")?;
    let mut cols: Vec<&Column> = Vec::new();
    match &fields {
        None => cols = all_columns(m),
        Some(names) => {
            for name in names {
                let col = m.column(name).ok_or_else(|| {
                    Error::validation(
                        format!("fields.{name}"),
                        format!("unknown field `{name}` on model {}", m.name()),
                    )
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

    let spec = SelectSpec {
        columns: &cols,
        filter: &filter,
        include_deleted,
        order: &order,
        after: cursor.as_ref(),
        limit: Some(limit + 1),
        offset,
        for_update: false,
    };
    let mut rows = x.fetch(&sql::select(m, spec, x.dialect()), &cols).await?;
    let more = rows.len() as u64 > limit;
    rows.truncate(limit as usize);
    let next_cursor = if more {
        rows.last().map(|r| Cursor::encode(r, &order))
    } else {
        None
    };
    if let Some(names) = &fields {
        for row in &mut rows {
            row.retain(|k, _| k == "id" || names.iter().any(|n| n == k));
        }
    }
    let mut out = Map::new();
    out.insert(
        "records".into(),
        Value::Array(rows.into_iter().map(Value::Object).collect()),
    );
    if want_count {
        let n = x
            .scalar(&sql::count(m, &filter, include_deleted, x.dialect()))
            .await?;
        out.insert("count".into(), json!(n));
    }
    if let Some(c) = next_cursor {
        out.insert("next_cursor".into(), Value::String(c));
    }
    Ok(Value::Object(out))
}
