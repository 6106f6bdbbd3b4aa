//! The eleven operations, written once against [`Exec`] for every dialect.
//!
//! Each operation checks its params first (unknown params, fields and operators are validation
//! errors naming them), builds its statements with `sql`, and returns the JSON result DESIGN
//! section 5 gives it. The store decides which connection or transaction it runs on.

mod bulk;
mod read;
mod write;

use super::exec::Exec;
use crate::context::Context;
use crate::error::{Error, Result};
use crate::model::{Column, ModelInfo, Role};
use crate::operation::OpKind;
use crate::query::Filter;
use crate::value::{self, Val};
use chrono::{DateTime, Utc};
use serde_json::{Map, Value};
use tracing::Instrument;

/// Whether the operation runs several statements and so needs a transaction of its own.
pub(crate) fn needs_transaction(kind: OpKind) -> bool {
    matches!(
        kind,
        OpKind::Upsert
            | OpKind::BulkCreate
            | OpKind::BulkUpdate
            | OpKind::BulkDelete
            | OpKind::BulkUpsert
    )
}

/// Whether the params ask for a dry run (run, report, roll back).
pub(crate) fn is_dry_run(params: &Value) -> bool {
    params
        .get("dry_run")
        .and_then(Value::as_bool)
        .unwrap_or(false)
}

pub(crate) async fn dispatch(
    x: &mut Exec<'_>,
    m: &ModelInfo,
    ctx: &Context,
    kind: OpKind,
    params: &Value,
) -> Result<Value> {
    let p = Params::new(params)?;
    let span = tracing::debug_span!("op", model = m.name(), op = kind.as_str(), channel = ?ctx.channel, request_id = %ctx.request_id);
    let result = async {
        match kind {
            OpKind::Create => write::create(x, m, p).await,
            OpKind::Read => read::read(x, m, p).await,
            OpKind::Update => write::update(x, m, p).await,
            OpKind::Delete => write::delete(x, m, p).await,
            OpKind::List => read::list(x, m, p).await,
            OpKind::Count => read::count(x, m, p).await,
            // The largest futures, boxed so that every operation's future is not as large as
            // theirs (a bulk write does enough work that the allocation does not show).
            OpKind::Upsert => Box::pin(write::upsert(x, m, p)).await,
            OpKind::BulkCreate => Box::pin(bulk::bulk_create(x, m, p)).await,
            OpKind::BulkUpdate => bulk::bulk_update(x, m, p).await,
            OpKind::BulkDelete => bulk::bulk_delete(x, m, p).await,
            OpKind::BulkUpsert => Box::pin(bulk::bulk_upsert(x, m, p)).await,
        }
    }
    .instrument(span)
    .await;
    result.map_err(|e| name_conflict(m, e))
}

/// The params of one operation: a JSON object (or null, meaning none).
#[derive(Clone, Copy)]
pub(crate) struct Params<'a> {
    map: Option<&'a Map<String, Value>>,
}

impl<'a> Params<'a> {
    fn new(v: &'a Value) -> Result<Params<'a>> {
        match v {
            Value::Null => Ok(Params { map: None }),
            Value::Object(map) => Ok(Params { map: Some(map) }),
            other => Err(Error::invalid(format!(
                "params must be a JSON object, got {}",
                value::kind_of(other)
            ))),
        }
    }

    fn map(&self) -> Option<&'a Map<String, Value>> {
        self.map
    }

    /// Refuses params outside `allowed`, naming the first unknown one.
    fn only(&self, allowed: &[&str]) -> Result<()> {
        for key in self.map.into_iter().flat_map(|m| m.keys()) {
            if !allowed.contains(&key.as_str()) {
                return Err(Error::validation(
                    key,
                    format!(
                        "unknown param `{key}` (expected one of: {})",
                        allowed.join(", ")
                    ),
                ));
            }
        }
        Ok(())
    }

    fn get(&self, key: &str) -> Option<&'a Value> {
        self.map.and_then(|m| m.get(key)).filter(|v| !v.is_null())
    }

    fn require(&self, key: &str) -> Result<&'a Value> {
        self.get(key)
            .ok_or_else(|| Error::validation(key, format!("`{key}` is required")))
    }

    fn bool(&self, key: &str) -> Result<Option<bool>> {
        match self.get(key) {
            None => Ok(None),
            Some(Value::Bool(b)) => Ok(Some(*b)),
            Some(Value::String(s)) if s == "true" || s == "false" => Ok(Some(s == "true")),
            // Named by value, not JSON kind: `1` from a query string and 1 in JSON read alike.
            Some(other) => Err(Error::validation(
                key,
                format!("expected a boolean, got `{}`", value::shown(other)),
            )),
        }
    }

    fn u64(&self, key: &str) -> Result<Option<u64>> {
        match self.get(key) {
            None => Ok(None),
            Some(Value::Number(n)) if n.as_u64().is_some() => Ok(n.as_u64()),
            Some(Value::String(s)) if s.parse::<u64>().is_ok() => Ok(s.parse().ok()),
            Some(other) => Err(Error::validation(
                key,
                format!(
                    "expected a non-negative integer, got `{}`",
                    value::shown(other)
                ),
            )),
        }
    }

    fn object(&self, key: &str) -> Result<Option<&'a Map<String, Value>>> {
        match self.get(key) {
            None => Ok(None),
            Some(Value::Object(m)) => Ok(Some(m)),
            Some(other) => Err(Error::validation(
                key,
                format!("expected an object, got {}", value::kind_of(other)),
            )),
        }
    }

    fn array(&self, key: &str) -> Result<Option<&'a Vec<Value>>> {
        match self.get(key) {
            None => Ok(None),
            Some(Value::Array(a)) => Ok(Some(a)),
            Some(other) => Err(Error::validation(
                key,
                format!("expected a list, got {}", value::kind_of(other)),
            )),
        }
    }

    /// A list of names, as a JSON list or a comma-separated string.
    fn names(&self, key: &str) -> Result<Option<Vec<String>>> {
        match self.get(key) {
            None => Ok(None),
            Some(Value::String(s)) => Ok(Some(
                s.split(',')
                    .map(|p| p.trim().to_string())
                    .filter(|p| !p.is_empty())
                    .collect(),
            )),
            Some(Value::Array(items)) => items
                .iter()
                .enumerate()
                .map(|(i, v)| {
                    v.as_str().map(str::to_string).ok_or_else(|| {
                        Error::validation(format!("{key}[{i}]"), "expected a field name")
                    })
                })
                .collect::<Result<Vec<_>>>()
                .map(Some),
            Some(other) => Err(Error::validation(
                key,
                format!(
                    "expected a list of field names, got {}",
                    value::kind_of(other)
                ),
            )),
        }
    }

    /// A JSON string or an object (query strings carry filters as JSON text).
    fn filter_json(&self, key: &str) -> Result<Value> {
        match self.get(key) {
            None => Ok(Value::Null),
            Some(Value::String(s)) => serde_json::from_str(s)
                .map_err(|e| Error::validation(key, format!("not valid JSON: {e}"))),
            Some(v) => Ok(v.clone()),
        }
    }
}

/// The columns an insert writes: the id when callers supply it, every field, the timestamps.
pub(crate) fn insert_columns(m: &ModelInfo) -> Vec<&Column> {
    m.columns
        .iter()
        .filter(|c| match c.role {
            Role::Id => !m.auto_id(),
            Role::Field | Role::CreatedAt | Role::UpdatedAt => true,
            Role::DeletedAt => false,
        })
        .collect()
}

/// Looks up a field a caller wants to write, refusing unknown and managed fields.
fn writable<'m>(m: &'m ModelInfo, key: &str) -> Result<&'m Column> {
    writable_at(m, key).map(|i| &m.columns[i])
}

/// [`writable`], giving the column's position in [`ModelInfo::columns`].
fn writable_at(m: &ModelInfo, key: &str) -> Result<usize> {
    let Some(i) = m.column_index(key) else {
        return Err(Error::validation(
            key,
            format!("unknown field `{key}` on model {}", m.name()),
        ));
    };
    match m.columns[i].role {
        Role::Field => Ok(i),
        Role::Id if !m.auto_id() => Ok(i),
        Role::Id => Err(Error::validation(
            "id",
            "the id is generated by the database and cannot be written",
        )),
        _ => Err(Error::validation(
            key,
            format!("`{key}` is managed by flowgate and cannot be written"),
        )),
    }
}

/// Checks one value for a column.
fn field_value(col: &Column, v: &Value) -> Result<Val> {
    let val = if col.role == Role::Id {
        value::coerce_id(col.ty(), v)
    } else {
        value::coerce(col.shape(), v)
    }
    .map_err(|reason| Error::validation(col.name(), reason))?;
    if val.is_null() && !col.def.optional {
        return Err(Error::validation(col.name(), "must not be null"));
    }
    Ok(val)
}

/// The values of a new row, in [`insert_columns`] order: given values checked, defaults filled,
/// a UUIDv7 id generated when the caller leaves a string or uuid id out, timestamps set.
///
/// `explicit_id` lets callers give the id of a model whose ids the database generates (upserts
/// keyed on the id do this).
pub(crate) fn new_row(
    m: &ModelInfo,
    obj: &Map<String, Value>,
    now: DateTime<Utc>,
    explicit_id: bool,
) -> Result<Vec<Val>> {
    if explicit_id && m.auto_id() {
        for key in obj.keys().filter(|k| k.as_str() != "id") {
            writable(m, key)?;
        }
        let id_col = m.id();
        let mut row = vec![field_value(id_col, obj.get("id").unwrap_or(&Value::Null))?];
        row.extend(new_row(m, &without_id(obj), now, false)?);
        return Ok(row);
    }
    // One pass over the given keys (each looked up once), then one over the columns.
    let mut given: Vec<Option<&Value>> = vec![None; m.columns.len()];
    for (key, v) in obj {
        given[writable_at(m, key)?] = Some(v);
    }
    let mut row = Vec::with_capacity(m.columns.len());
    for (col, given) in m.columns.iter().zip(given) {
        let val = match col.role {
            Role::DeletedAt => continue,
            Role::Id if m.auto_id() => continue,
            Role::CreatedAt | Role::UpdatedAt => Val::DateTime(now),
            Role::Id => match given.filter(|v| !v.is_null()) {
                Some(v) => field_value(col, v)?,
                None => {
                    let id = uuid::Uuid::now_v7();
                    if col.ty() == crate::FieldType::Uuid {
                        Val::Uuid(id)
                    } else {
                        Val::Text(id.to_string())
                    }
                }
            },
            Role::Field => match given {
                Some(v) => field_value(col, v)?,
                None => match &col.def.default {
                    Some(d) => field_value(col, d)?,
                    None if col.def.optional => Val::Null,
                    None => {
                        return Err(Error::validation(
                            col.name(),
                            format!("`{}` is required", col.name()),
                        ));
                    }
                },
            },
        };
        row.push(val);
    }
    Ok(row)
}

/// Checks the values a caller gives for a new row without completing it: names, writability
/// and types as [`new_row`] checks them, but no field is required.
pub(crate) fn check_given(
    m: &ModelInfo,
    obj: &Map<String, Value>,
    explicit_id: bool,
) -> Result<()> {
    for (key, v) in obj {
        let col = if explicit_id && key == "id" {
            m.id()
        } else {
            writable(m, key)?
        };
        field_value(col, v)?;
    }
    Ok(())
}

fn without_id(obj: &Map<String, Value>) -> Map<String, Value> {
    obj.iter()
        .filter(|(k, _)| k.as_str() != "id")
        .map(|(k, v)| (k.clone(), v.clone()))
        .collect()
}

/// [`insert_columns`] with the id first even when the database generates it.
pub(crate) fn insert_columns_with_id(m: &ModelInfo) -> Vec<&Column> {
    let mut cols = insert_columns(m);
    if m.auto_id() {
        cols.insert(0, m.id());
    }
    cols
}

/// The assignments of an update: given fields checked, `updated_at` set.
pub(crate) fn update_sets<'m>(
    m: &'m ModelInfo,
    obj: &Map<String, Value>,
    now: DateTime<Utc>,
) -> Result<Vec<(&'m Column, Val)>> {
    let mut sets = Vec::with_capacity(obj.len() + 1);
    for (key, v) in obj {
        let col = writable(m, key)?;
        if col.role == Role::Id {
            return Err(Error::validation("id", "the id cannot be changed"));
        }
        sets.push((col, field_value(col, v)?));
    }
    if sets.is_empty() {
        // Callers name the object (`fields`, `update`) with `Error::within`.
        return Err(Error::invalid("nothing to update"));
    }
    let updated_at = m.column("updated_at").expect("managed column");
    sets.push((updated_at, Val::DateTime(now)));
    Ok(sets)
}

/// `id = value`, with the id checked against the model's id type.
pub(crate) fn id_filter(m: &ModelInfo, id: &Value) -> Result<(Val, Filter)> {
    let val =
        value::coerce_id(m.id().ty(), id).map_err(|reason| Error::validation("id", reason))?;
    let filter = Filter::Cmp {
        column: "id".into(),
        op: crate::query::CmpOp::Eq,
        value: val.clone(),
    };
    Ok((val, filter))
}

/// The statement that deletes the matching rows: a tombstone (`deleted_at`, `updated_at` set to
/// now) on soft-delete models, a `DELETE` otherwise. Rows already tombstoned are left alone.
pub(crate) fn delete_stmt(
    m: &ModelInfo,
    filter: &Filter,
    d: crate::sql::Dialect,
) -> crate::sql::Stmt {
    if !m.soft_delete() {
        return crate::sql::delete_where(m, filter, d);
    }
    let now = Val::DateTime(value::now());
    let sets = [
        (
            m.column("deleted_at").expect("soft-delete column"),
            now.clone(),
        ),
        (m.column("updated_at").expect("managed column"), now),
    ];
    crate::sql::update_where(m, &sets, filter, false, &[], d)
}

/// Every column, in table order.
pub(crate) fn all_columns(m: &ModelInfo) -> Vec<&Column> {
    m.columns.iter().collect()
}

/// Names the unique set of a unique violation in the model's own terms (`email`, `a,b`).
fn name_conflict(m: &ModelInfo, e: Error) -> Error {
    let Error::Conflict {
        field: Some(raw),
        reason,
    } = e
    else {
        return e;
    };
    let table = &m.table;
    let named = m.unique_sets.iter().find(|set| {
        let joined = set.join("_");
        let mut candidates = vec![
            set.join(","),
            joined.clone(),
            format!("{table}_{joined}"),
            format!("ux_{table}_{joined}"),
        ];
        if set.len() == 1 && set[0] == "id" {
            candidates.extend(["PRIMARY".to_string(), format!("{table}_pkey")]);
        }
        candidates.contains(&raw)
    });
    let field = named.map(|set| set.join(",")).or(Some(raw));
    let reason = match &field {
        Some(f) => format!(
            "{} with this {f} already exists",
            crate::model::with_article(m.name())
        ),
        None => reason,
    };
    Error::Conflict { field, reason }
}
