//! The store's side of the audit trail (DESIGN 13.5): the `flowgate_audit` table, the entries
//! a write records and the rows they become. The `audit` module of the crate reads the trail.

use crate::context::Context;
use crate::model::{FieldDef, IdType, ModelDef, ModelInfo, Schema};
use crate::operation::OpKind;
use crate::value::{self, Val};
use serde_json::{Map, Value, json};
use std::sync::{Arc, LazyLock};

/// The audit table.
pub const TABLE: &str = "flowgate_audit";
/// The audit table's model.
pub(crate) const MODEL: &str = "FlowgateAudit";
/// What a sensitive field's values become in audit rows.
pub const MASK: &str = "***";
/// The default of `audit.max_rows_per_op`.
pub const DEFAULT_MAX_ROWS_PER_OP: usize = 1000;

fn audit_model() -> ModelDef {
    ModelDef::new(MODEL)
        .table(TABLE)
        .id(IdType::String)
        .field(FieldDef::datetime("at").indexed())
        .field(FieldDef::string("request_id").max_length(128))
        .field(FieldDef::string("principal").max_length(255))
        .field(
            FieldDef::string("tenant")
                .max_length(crate::model::TENANT_MAX_LENGTH)
                .optional(),
        )
        .field(FieldDef::string("channel").max_length(16))
        .field(FieldDef::string("via").max_length(255).optional())
        .field(FieldDef::string("model").max_length(64))
        .field(FieldDef::string("op").max_length(32))
        .field(FieldDef::string("record_id").max_length(255).optional())
        .field(FieldDef::text("changes").optional())
        .field(FieldDef::integer("count").optional())
        .field(FieldDef::text("filter").optional())
        // Two indexes only: every one is written by every audited write. A record's history
        // and a model's recent rows use the first; the newest rows, the second.
        .index(["model", "record_id"])
}

/// The internal schema of the audit table.
pub(crate) fn schema() -> Schema {
    Schema::internal([audit_model()]).expect("the audit model is valid")
}

/// The audit table's compiled model, for the store's inserts.
pub(crate) static INFO: LazyLock<Arc<ModelInfo>> =
    LazyLock::new(|| schema().get(MODEL).cloned().expect("the audit model"));

/// One audit row an operation produced: a record's changes, or a bulk write's summary.
#[derive(Debug, Clone)]
pub(crate) enum Entry {
    /// The record with this id changed so (`{field: [before, after]}`).
    Record { id: Value, changes: Value },
    /// A bulk write of more records than `audit.max_rows_per_op`: how many, and the filter.
    Summary { count: u64, filter: Value },
}

/// `{field: [before, after]}` of the fields that differ (creates: every field, before `null`;
/// deletes: every field, after `null`); the id and the managed timestamps are left out; a
/// sensitive field's values are masked.
pub(crate) fn changes(
    m: &ModelInfo,
    before: Option<&Map<String, Value>>,
    after: Option<&Map<String, Value>>,
) -> Value {
    let mut out = Map::new();
    for f in &m.def.fields {
        let b = before.and_then(|r| r.get(&f.name)).cloned();
        let a = after.and_then(|r| r.get(&f.name)).cloned();
        let differs = match (before, after) {
            (Some(_), Some(_)) => b != a,
            _ => true,
        };
        if !differs {
            continue;
        }
        let mask = |v: Option<Value>| match v {
            None => Value::Null,
            Some(Value::Null) => Value::Null,
            Some(_) if f.sensitive => Value::String(MASK.into()),
            Some(v) => v,
        };
        out.insert(f.name.clone(), json!([mask(b), mask(a)]));
    }
    Value::Object(out)
}

/// The audit rows of one operation, in the audit table's insert column order.
pub(crate) fn rows(ctx: &Context, m: &ModelInfo, kind: OpKind, entries: &[Entry]) -> Vec<Vec<Val>> {
    let at = Val::DateTime(value::now());
    // Every text fits its column: what a channel passes on (a path, a request id) is cut at
    // the column's length rather than fail the write.
    let text = |s: &str, n: usize| Val::Text(clip(s, n).to_string());
    let opt = |s: Option<&str>, n: usize| s.map_or(Val::Null, |s| Val::Text(clip(s, n).into()));
    let channel = serde_json::to_value(ctx.channel)
        .ok()
        .and_then(|v| v.as_str().map(str::to_string))
        .unwrap_or_default();
    entries
        .iter()
        .map(|e| {
            let (record_id, changes, count, filter) = match e {
                Entry::Record { id, changes } => (
                    Val::Text(match id {
                        Value::String(s) => clip(s, 255).to_string(),
                        other => other.to_string(),
                    }),
                    Val::Text(changes.to_string()),
                    Val::Null,
                    Val::Null,
                ),
                Entry::Summary { count, filter } => (
                    Val::Null,
                    Val::Null,
                    Val::Int(*count as i64),
                    Val::Text(filter.to_string()),
                ),
            };
            vec![
                Val::Text(uuid::Uuid::now_v7().to_string()),
                at.clone(),
                text(&ctx.request_id, 128),
                text(&ctx.principal.id, 255),
                opt(ctx.tenant.as_deref(), 128),
                text(&channel, 16),
                opt(ctx.via.as_deref(), 255),
                text(m.name(), 64),
                text(kind.as_str(), 32),
                record_id,
                changes,
                count,
                filter,
                at.clone(),
                at.clone(),
            ]
        })
        .collect()
}

/// `s` cut to at most `n` characters.
fn clip(s: &str, n: usize) -> &str {
    match s.char_indices().nth(n) {
        Some((i, _)) => &s[..i],
        None => s,
    }
}
