//! Create, Update, Delete and Upsert.

use super::params::Params;
use super::read::read_one;
use super::rows::{
    all_columns, check_given, delete_stmt, field_value, id_filter, insert_columns,
    insert_columns_with_id, new_row, update_sets,
};
use super::tenant;
use crate::error::{Error, Result};
use crate::model::{Column, ModelInfo};
use crate::query::{CmpOp, Filter};
use crate::sql::{self, SavepointAction, SelectSpec};
use crate::store::audit;
use crate::store::db::Db;
use crate::store::exec::Exec;
use crate::value::{self, Val};
use serde_json::{Map, Value, json};

/// Inserts one checked row and returns the stored record.
pub(crate) async fn insert_one<D: Db>(
    x: &mut Exec<'_, D>,
    m: &ModelInfo,
    row: Vec<Val>,
) -> Result<Map<String, Value>> {
    let cols = insert_columns(m);
    let all = all_columns(m);
    let d = x.dialect();
    tenant::check_rows(x, m, &cols, std::slice::from_ref(&row)).await?;
    let stmt = sql::insert_one(m, &cols, &row, &all, d);
    if d.has_returning() {
        // `fetch`: a write must step to its end (see `Exec::fetch_optional`).
        return x
            .fetch(&stmt, &all)
            .await?
            .pop()
            .ok_or_else(|| Error::internal("insert returned no row"));
    }
    let done = x.execute(&stmt).await?;
    let id = match (m.auto_id(), done.last_id) {
        (true, Some(id)) => json!(id),
        (true, None) => return Err(Error::internal("no generated id")),
        (false, _) => row[0].to_json(),
    };
    read_one(x, m, &id, true).await
}

/// Inserts one row whose id the caller chose on a model with generated ids, then moves
/// PostgreSQL's sequence past it.
async fn insert_with_id<D: Db>(
    x: &mut Exec<'_, D>,
    m: &ModelInfo,
    row: Vec<Val>,
) -> Result<Map<String, Value>> {
    let cols = insert_columns_with_id(m);
    tenant::check_rows(x, m, &cols, std::slice::from_ref(&row)).await?;
    let id = row[0].to_json();
    x.execute(&sql::insert(
        m,
        &cols,
        std::slice::from_ref(&row),
        None,
        &[],
        x.dialect(),
    ))
    .await?;
    if let Some(stmt) = sql::sync_sequence(m, x.dialect()) {
        x.scalar(&stmt).await?;
    }
    read_one(x, m, &id, true).await
}

pub(crate) async fn create<D: Db>(
    x: &mut Exec<'_, D>,
    m: &ModelInfo,
    p: Params<'_>,
) -> Result<Value> {
    let empty = Map::new();
    let row = new_row(
        m,
        p.map().unwrap_or(&empty),
        value::now(),
        false,
        x.tenant.as_ref(),
    )?;
    let record = insert_one(x, m, row).await?;
    if x.auditing() {
        x.audit_record(record["id"].clone(), audit::changes(m, None, Some(&record)));
    }
    Ok(Value::Object(record))
}

/// The record as it is before a write, when the write is audited (read inside the write's
/// transaction; `None` when there is none, which the write then reports).
async fn before<D: Db>(
    x: &mut Exec<'_, D>,
    m: &ModelInfo,
    id: &Value,
) -> Result<Option<Map<String, Value>>> {
    if !x.auditing() {
        return Ok(None);
    }
    match read_one(x, m, id, false).await {
        Ok(record) => Ok(Some(record)),
        Err(Error::NotFound { .. }) => Ok(None),
        Err(e) => Err(e),
    }
}

/// PostgreSQL, audited: [`update_by_id`] returning the record before and after, in one
/// statement ([`sql::update_returning_before`]).
async fn update_audited_pg<D: Db>(
    x: &mut Exec<'_, D>,
    m: &ModelInfo,
    id: &Value,
    sets: &[(&Column, Val)],
) -> Result<(Option<Map<String, Value>>, Map<String, Value>)> {
    let (_, filter) = id_filter(m, id)?;
    let filter = x.scoped(filter);
    tenant::check_sets(x, m, sets).await?;
    let all = all_columns(m);
    let stmt = sql::update_returning_before(m, sets, &filter, false, &all);
    let both: Vec<&Column> = all.iter().chain(all.iter()).copied().collect();
    let Some(row) = x.fetch_values(&stmt, &both).await?.pop() else {
        // Not found: read_one reports it with the model and id.
        return Ok((None, read_one(x, m, id, false).await?));
    };
    let mut row = row.into_iter();
    let mut record = |n: usize| -> Map<String, Value> {
        all.iter()
            .zip(row.by_ref().take(n))
            .map(|(c, v)| (c.name().to_string(), v.into_json()))
            .collect()
    };
    let was = record(all.len());
    let now = record(all.len());
    Ok((Some(was), now))
}

/// Applies checked assignments to the row with this id and returns the record.
async fn update_by_id<D: Db>(
    x: &mut Exec<'_, D>,
    m: &ModelInfo,
    id: &Value,
    sets: &[(&Column, Val)],
    include_deleted: bool,
) -> Result<Map<String, Value>> {
    let (_, filter) = id_filter(m, id)?;
    let filter = x.scoped(filter);
    tenant::check_sets(x, m, sets).await?;
    let all = all_columns(m);
    let d = x.dialect();
    let stmt = sql::update_where(m, sets, &filter, include_deleted, &all, d);
    if d.has_returning() {
        return match x.fetch(&stmt, &all).await?.pop() {
            Some(rec) => Ok(rec),
            None => read_one(x, m, id, include_deleted).await,
        };
    }
    let done = x.execute(&stmt).await?;
    if done.rows == 0 {
        // Not found: read_one reports it with the model and id.
        return read_one(x, m, id, include_deleted).await;
    }
    read_one(x, m, id, true).await
}

pub(crate) async fn update<D: Db>(
    x: &mut Exec<'_, D>,
    m: &ModelInfo,
    p: Params<'_>,
) -> Result<Value> {
    p.only(&["id", "filter", "fields"])?;
    let id = match (p.get("id"), p.object("filter")?) {
        (Some(id), None) => id,
        (None, Some(f)) if f.len() == 1 && f.contains_key("id") => &f["id"],
        (None, Some(_)) => {
            return Err(Error::validation(
                "filter",
                "update takes `filter: {\"id\": ...}`; use bulk_update for other filters",
            ));
        }
        (Some(_), Some(_)) => {
            return Err(Error::validation("filter", "give id or filter, not both"));
        }
        (None, None) => return Err(Error::validation("id", "`id` is required")),
    };
    let fields = p
        .object("fields")?
        .ok_or_else(|| Error::validation("fields", "`fields` is required"))?;
    let sets = update_sets(m, fields, value::now()).map_err(|e| e.within("fields"))?;
    if x.auditing() && x.dialect() == sql::Dialect::Postgres {
        // The before-values come back with the update, in one round trip.
        let (was, record) = update_audited_pg(x, m, id, &sets).await?;
        x.audit_record(
            record["id"].clone(),
            audit::changes(m, Some(was.as_ref().unwrap_or(&record)), Some(&record)),
        );
        return Ok(Value::Object(record));
    }
    let was = before(x, m, id).await?;
    let record = update_by_id(x, m, id, &sets, false).await?;
    if x.auditing() {
        x.audit_record(
            record["id"].clone(),
            audit::changes(m, Some(was.as_ref().unwrap_or(&record)), Some(&record)),
        );
    }
    Ok(Value::Object(record))
}

pub(crate) async fn delete<D: Db>(
    x: &mut Exec<'_, D>,
    m: &ModelInfo,
    p: Params<'_>,
) -> Result<Value> {
    p.only(&["id"])?;
    let id = p.require("id")?;
    let (val, filter) = id_filter(m, id)?;
    let filter = x.scoped(filter);
    let was = before(x, m, id).await?;
    let d = x.dialect();
    let done = x.execute(&delete_stmt(m, &filter, d)).await?;
    if done.rows > 0
        && let Some(was) = &was
    {
        x.audit_record(val.to_json(), audit::changes(m, Some(was), None));
    }
    Ok(json!({ "id": val.to_json(), "deleted": done.rows > 0 }))
}

/// An equality filter over the keys of a JSON object (`where` of an upsert).
pub(crate) fn equality_filter(m: &ModelInfo, obj: &Map<String, Value>, at: &str) -> Result<Filter> {
    let mut parts = Vec::with_capacity(obj.len());
    for (key, v) in obj {
        let col = m
            .column(key)
            .ok_or_else(|| Error::validation(format!("{at}.{key}"), m.unknown_field(key)))?;
        if v.is_null() || v.is_object() {
            return Err(Error::validation(
                format!("{at}.{key}"),
                "expected a plain value to match",
            ));
        }
        let val = field_value(col, v).map_err(|e| e.within(at))?;
        parts.push(Filter::Cmp {
            column: key.clone(),
            op: CmpOp::Eq,
            value: val,
        });
    }
    Ok(Filter::And(parts))
}

/// Checks `conflict_on` (default: the given keys) names the id or a unique set.
pub(crate) fn conflict_target(
    m: &ModelInfo,
    given: Option<Vec<String>>,
    default: Vec<String>,
) -> Result<Vec<String>> {
    let target = given.unwrap_or(default);
    if !m.is_unique_set(&target) {
        let sets: Vec<String> = m
            .unique_sets
            .iter()
            .map(|s| format!("[{}]", s.join(", ")))
            .collect();
        return Err(Error::validation(
            "conflict_on",
            format!(
                "[{}] is not a unique field set of {}; use one of {}",
                target.join(", "),
                m.name(),
                sets.join(", ")
            ),
        ));
    }
    Ok(target)
}

pub(crate) async fn upsert<D: Db>(
    x: &mut Exec<'_, D>,
    m: &ModelInfo,
    p: Params<'_>,
) -> Result<Value> {
    p.only(&["where", "create", "update", "conflict_on"])?;
    let wh = p
        .object("where")?
        .filter(|w| !w.is_empty())
        .ok_or_else(|| {
            Error::validation(
                "where",
                "`where` is required: the unique values that identify the record",
            )
        })?;
    let filter = x.scoped(equality_filter(m, wh, "where")?);
    let target = conflict_target(m, p.names("conflict_on")?, wh.keys().cloned().collect())?;
    for key in &target {
        if !wh.contains_key(key) {
            return Err(Error::validation(
                format!("where.{key}"),
                format!("`where` must give {key}, a key of conflict_on"),
            ));
        }
    }
    let mut create_obj = wh.clone();
    for (k, v) in p.object("create")?.into_iter().flatten() {
        if let Some(w) = wh.get(k)
            && w != v
        {
            return Err(Error::validation(
                format!("create.{k}"),
                format!("conflicts with where.{k}"),
            ));
        }
        create_obj.insert(k.clone(), v.clone());
    }
    let now = value::now();
    let empty = Map::new();
    let update_obj = p.object("update")?.unwrap_or(&empty);
    let sets = if update_obj.is_empty() {
        Vec::new()
    } else {
        update_sets(m, update_obj, now).map_err(|e| e.within("update"))?
    };
    let explicit_id = target.iter().any(|k| k == "id");
    // The new record is checked now but completed only when it is inserted: an upsert that
    // finds its record needs no full `create`.
    check_given(m, &create_obj, explicit_id).map_err(|e| e.within("create"))?;

    for attempt in 0..2 {
        if let Some(existing) = find_one(x, m, &filter).await? {
            let mut sets = sets.clone();
            let deleted = existing.get("deleted_at").is_some_and(|v| !v.is_null());
            if deleted {
                // Upserting onto a tombstone brings the record back.
                sets.push((
                    m.column("deleted_at").expect("soft-delete column"),
                    Val::Null,
                ));
                if let Some(updated_at) = m.updated_at()
                    && !sets.iter().any(|(c, _)| c.name() == "updated_at")
                {
                    sets.push((updated_at, Val::DateTime(now)));
                }
            }
            let record = if sets.is_empty() {
                existing
            } else {
                let record = update_by_id(x, m, &existing["id"], &sets, true).await?;
                if x.auditing() {
                    x.audit_record(
                        record["id"].clone(),
                        audit::changes(m, Some(&existing), Some(&record)),
                    );
                }
                record
            };
            return Ok(json!({ "action": "updated", "record": record }));
        }
        let row = new_row(m, &create_obj, now, explicit_id, x.tenant.as_ref())
            .map_err(|e| e.within("create"))?;
        x.execute(&sql::savepoint("fg_upsert", SavepointAction::Create))
            .await?;
        let inserted = if explicit_id && m.auto_id() {
            insert_with_id(x, m, row).await
        } else {
            insert_one(x, m, row).await
        };
        match inserted {
            Ok(record) => {
                x.execute(&sql::savepoint("fg_upsert", SavepointAction::Release))
                    .await?;
                if x.auditing() {
                    x.audit_record(record["id"].clone(), audit::changes(m, None, Some(&record)));
                }
                return Ok(json!({ "action": "created", "record": record }));
            }
            // A concurrent writer created it between our read and our insert: read again.
            Err(Error::Conflict { .. }) if attempt == 0 => {
                x.execute(&sql::savepoint("fg_upsert", SavepointAction::RollbackTo))
                    .await?;
                x.execute(&sql::savepoint("fg_upsert", SavepointAction::Release))
                    .await?;
            }
            Err(e) => return Err(e),
        }
    }
    Err(Error::Conflict {
        field: Some(target.join(",")),
        reason: "the record changed concurrently; retry".into(),
    })
}

/// The one row (tombstones included) matching an equality filter, locked where the database can.
async fn find_one<D: Db>(
    x: &mut Exec<'_, D>,
    m: &ModelInfo,
    filter: &Filter,
) -> Result<Option<Map<String, Value>>> {
    let all = all_columns(m);
    let spec = SelectSpec {
        columns: &all,
        filter,
        include_deleted: true,
        order: &[],
        after: None,
        limit: Some(1),
        offset: None,
        for_update: true,
    };
    Ok(x.fetch(&sql::select(m, spec, x.dialect()), &all)
        .await?
        .pop())
}
