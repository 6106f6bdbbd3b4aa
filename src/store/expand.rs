//! `expand` on read and list (DESIGN 13.10): each named relation of the model (from its
//! references, [`crate::model::relations`]) is read in one more statement whatever the number
//! of records, and set on each record under the relation's name: a belongs-to as the record it
//! refers to (or null), a has-many as a list of at most `expand_limit` records (default 20,
//! at most 100; the first by id) that refer to it.

use super::Store;
use crate::context::Context;
use crate::error::{Error, Result};
use crate::model::{ModelDef, ModelInfo, Relation, RelationKind};
use crate::operation::OpKind;
use crate::value::{self, Val, kind_of};
use serde_json::{Map, Value, json};
use std::collections::HashMap;

/// Related records per parent of a has-many, when `expand_limit` is not given.
pub const DEFAULT_PER_PARENT: u64 = 20;
/// The most related records per parent `expand_limit` may ask for.
pub const MAX_PER_PARENT: u64 = 100;

/// Whether `params` ask for relations.
pub(super) fn asked(kind: OpKind, params: &Value) -> bool {
    matches!(kind, OpKind::Read | OpKind::List)
        && (params.get("expand").is_some() || params.get("expand_limit").is_some())
}

/// The relation names of `expand`: a list of names, or one text of names separated by commas
/// (as a query string or a CLI flag gives them).
fn names(value: Option<&Value>) -> Result<Vec<String>> {
    let bad = |v: &Value| {
        Error::validation(
            "expand",
            format!("expand takes a list of relation names, got {}", kind_of(v)),
        )
    };
    let mut out: Vec<String> = Vec::new();
    match value {
        None | Some(Value::Null) => {}
        Some(Value::String(s)) => out.extend(
            s.split(',')
                .map(str::trim)
                .filter(|n| !n.is_empty())
                .map(str::to_string),
        ),
        Some(Value::Array(items)) => {
            for item in items {
                out.push(item.as_str().ok_or_else(|| bad(item))?.to_string());
            }
        }
        Some(other) => return Err(bad(other)),
    }
    // Each relation once, however often it is named: one statement per relation, never more.
    let mut seen = std::collections::HashSet::new();
    out.retain(|n| seen.insert(n.clone()));
    Ok(out)
}

fn per_parent(value: Option<&Value>) -> Result<u64> {
    match value {
        None | Some(Value::Null) => Ok(DEFAULT_PER_PARENT),
        Some(v) => v
            .as_u64()
            .or_else(|| v.as_str().and_then(|s| s.parse().ok()))
            .filter(|n| (1..=MAX_PER_PARENT).contains(n))
            .ok_or_else(|| {
                Error::validation(
                    "expand_limit",
                    format!("expand_limit must be an integer from 1 to {MAX_PER_PARENT}"),
                )
            }),
    }
}

/// The models whose records `params` would read through `expand` on `model` (relations by the
/// names asked, among `all`; unknown names are left to the operation, which refuses them): what
/// a runtime authorizes, besides the operation itself, before it runs one.
pub fn related_models<'a>(
    model: &ModelDef,
    all: impl IntoIterator<Item = &'a ModelDef>,
    params: &Value,
) -> Vec<String> {
    let Ok(asked) = names(params.get("expand")) else {
        return Vec::new();
    };
    if asked.is_empty() {
        return Vec::new();
    }
    let mut out: Vec<String> = Vec::new();
    for r in crate::model::relations(model, all) {
        if asked.contains(&r.name) && !out.contains(&r.model) {
            out.push(r.model);
        }
    }
    out
}

/// A JSON value as a map key (ids and references decode to the same JSON on both sides).
fn key(v: &Value) -> String {
    v.to_string()
}

/// Runs a read or list with `expand`: the operation without it, then one statement per
/// relation.
pub(super) async fn run(
    store: &Store,
    ctx: &Context,
    model: &ModelInfo,
    kind: OpKind,
    params: &Value,
) -> Result<Value> {
    let Some(obj) = params.as_object() else {
        return Box::pin(store.run(ctx, model, kind, params)).await;
    };
    let asked = names(obj.get("expand"))?;
    let limit = per_parent(obj.get("expand_limit"))?;
    let schema = store.schema();
    let relations = crate::model::relations(&model.def, schema.models().map(|m| &m.def));
    let mut chosen: Vec<&Relation> = Vec::with_capacity(asked.len());
    for name in &asked {
        let Some(r) = relations.iter().find(|r| &r.name == name) else {
            let known: Vec<&str> = relations.iter().map(|r| r.name.as_str()).collect();
            let reason = if known.is_empty() {
                format!(
                    "model {} has no relations (no references to or from it)",
                    model.name()
                )
            } else {
                format!(
                    "unknown relation `{name}` of model {} (relations: {})",
                    model.name(),
                    known.join(", ")
                )
            };
            return Err(Error::validation("expand", reason));
        };
        chosen.push(r);
    }
    let mut main = obj.clone();
    main.remove("expand");
    main.remove("expand_limit");
    let mut result = Box::pin(store.run(ctx, model, kind, &Value::Object(main))).await?;
    let mut records: Vec<&mut Map<String, Value>> = match kind {
        OpKind::Read => result.as_object_mut().into_iter().collect(),
        _ => result
            .get_mut("records")
            .and_then(Value::as_array_mut)
            .map(|rs| rs.iter_mut().filter_map(Value::as_object_mut).collect())
            .unwrap_or_default(),
    };
    for r in chosen {
        let target = store.model(&r.model)?;
        let needs = match r.kind {
            RelationKind::BelongsTo => r.field.as_str(),
            RelationKind::HasMany => "id",
        };
        if records.iter().any(|rec| !rec.contains_key(needs)) {
            return Err(Error::validation(
                "expand",
                format!(
                    "expanding `{}` needs `{needs}` among the fields read",
                    r.name
                ),
            ));
        }
        match r.kind {
            RelationKind::BelongsTo => {
                let mut keys: Vec<Value> = Vec::new();
                for rec in &records {
                    let v = &rec[needs];
                    if !v.is_null() && !keys.contains(v) {
                        keys.push(v.clone());
                    }
                }
                let mut found: HashMap<String, Value> = HashMap::with_capacity(keys.len());
                if !keys.is_empty() {
                    let n = keys.len();
                    let page = Box::pin(store.run(
                        ctx,
                        &target,
                        OpKind::List,
                        &json!({"filter": {"id": {"$in": keys}}, "limit": n}),
                    ))
                    .await?;
                    for rec in page["records"].as_array().into_iter().flatten() {
                        found.insert(key(&rec["id"]), rec.clone());
                    }
                }
                for rec in records.iter_mut() {
                    let related = found.get(&key(&rec[needs])).cloned().unwrap_or(Value::Null);
                    rec.insert(r.name.clone(), related);
                }
            }
            RelationKind::HasMany => {
                let col = target.column(&r.field).ok_or_else(|| {
                    Error::internal(format!("relation {} names no column {}", r.name, r.field))
                })?;
                let mut values: Vec<Val> = Vec::with_capacity(records.len());
                for rec in &records {
                    let v = value::coerce(col.shape(), &rec["id"])
                        .map_err(|reason| Error::validation("expand", reason))?;
                    if !values.contains(&v) {
                        values.push(v);
                    }
                }
                let mut groups: HashMap<String, Vec<Value>> = HashMap::new();
                if !values.is_empty() {
                    let rows = store
                        .inner
                        .pool
                        .related(store.settings(), ctx, &target, &r.field, values, limit)
                        .await?;
                    for row in rows {
                        let k = key(&row[r.field.as_str()]);
                        groups.entry(k).or_default().push(Value::Object(row));
                    }
                }
                for rec in records.iter_mut() {
                    let list = groups.remove(&key(&rec["id"])).unwrap_or_default();
                    rec.insert(r.name.clone(), Value::Array(list));
                }
            }
        }
    }
    Ok(result)
}
