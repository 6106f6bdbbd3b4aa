//! The MCP tools of a model: names, descriptions, input and output schemas, annotations.
//!
//! Everything here is derived from `flowgate::schema`, the same schemas OpenAPI and the CLI use,
//! so the channels describe one contract. Tool lists are read by language models, so the text is
//! kept lean: one short line per tool, the model's description cut to its first sentence, and
//! records in output schemas given by shape only (their full schema is the model's resource).

use flowgate::{ModelInfo, OpKind};
use rmcp::model::{JsonObject, Tool, ToolAnnotations};
use serde_json::{Value, json};
use std::sync::Arc;

/// The tool name of an operation on a model: `<table>_<op>`, e.g. `books_bulk_create`.
pub(super) fn tool_name(model: &ModelInfo, op: OpKind) -> String {
    format!("{}_{}", model.table, op.as_str())
}

/// Splits a tool name into the candidate (table, operation) pairs it may mean, the longest
/// operation first (`users_bulk_create` is `users` + `bulk_create` before `users_bulk` + `create`).
pub(super) fn split_tool_name(name: &str) -> Vec<(&str, OpKind)> {
    let mut ops = OpKind::ALL;
    ops.sort_by_key(|k| std::cmp::Reverse(k.as_str().len()));
    ops.into_iter()
        .filter_map(|op| {
            let table = name.strip_suffix(op.as_str())?.strip_suffix('_')?;
            (!table.is_empty()).then_some((table, op))
        })
        .collect()
}

/// Whether a tool may overwrite or remove data (MCP's `destructiveHint`).
///
/// Delete and the bulk writes are destructive (`OpKind::is_destructive`). So are update and
/// upsert: they overwrite stored values, and MCP calls a tool non-destructive only when its
/// updates are purely additive. Create only adds a record, so it is not.
pub(super) fn is_destructive(op: OpKind) -> bool {
    op.is_destructive() || matches!(op, OpKind::Update | OpKind::Upsert)
}

/// Whether calling a tool twice with the same arguments has no further effect (MCP's
/// `idempotentHint`): true for everything but the creates, which insert again.
fn is_idempotent(op: OpKind) -> bool {
    !matches!(op, OpKind::Create | OpKind::BulkCreate)
}

fn annotations(op: OpKind) -> ToolAnnotations {
    let a = ToolAnnotations::new()
        .read_only(op.is_read_only())
        .open_world(false);
    if op.is_read_only() {
        a
    } else {
        a.destructive(is_destructive(op))
            .idempotent(is_idempotent(op))
    }
}

/// The first sentence of a model description, at most 100 characters.
fn summary(text: &str) -> &str {
    let end = text.find(". ").map_or(text.len(), |i| i + 1);
    let first = text[..end].trim();
    match first.char_indices().nth(100) {
        Some((i, _)) => &first[..i],
        None => first,
    }
}

fn description(model: &ModelInfo, op: OpKind) -> String {
    let m = model.name();
    let what = match op {
        OpKind::Create => format!("Create one {m}; returns the stored record."),
        OpKind::Read => format!("Read one {m} by id."),
        OpKind::Update => format!("Change fields of one {m} by id; returns the record."),
        OpKind::Delete => format!("Delete one {m} by id."),
        OpKind::List => format!("List {m} records: filter, order, page."),
        OpKind::Count => format!("Count {m} records matching a filter."),
        OpKind::Upsert => format!("Create or update one {m} by a unique key."),
        OpKind::BulkCreate => format!("Insert many {m} records."),
        OpKind::BulkUpdate => format!("Change every {m} matching a filter."),
        OpKind::BulkDelete => format!("Delete every {m} matching a filter."),
        OpKind::BulkUpsert => format!("Create or update many {m} records by a unique key."),
    };
    match model.def.description.as_deref().map(summary) {
        Some(d) if !d.is_empty() => format!("{what} {m}: {d}"),
        _ => what,
    }
}

fn object(v: Value) -> Arc<JsonObject> {
    match v {
        Value::Object(m) => Arc::new(m),
        _ => Arc::new(JsonObject::new()),
    }
}

/// The output schema of an operation: `flowgate::schema::result_schema` with records by shape
/// only, `{"type": "object"}` (the record schema is the resource `flowgate://models/{Model}`).
fn output_schema(op: OpKind) -> Arc<JsonObject> {
    object(flowgate::schema::result_schema(
        op,
        json!({"type": "object"}),
    ))
}

/// The eleven tools of a model.
pub(super) fn tools(model: &ModelInfo) -> impl Iterator<Item = Tool> + '_ {
    OpKind::ALL.into_iter().map(move |op| {
        Tool::new(
            tool_name(model, op),
            description(model, op),
            object(flowgate::schema::params_schema(model, op)),
        )
        .with_raw_output_schema(output_schema(op))
        .with_annotations(annotations(op))
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tool_names_split_longest_operation_first() {
        assert_eq!(
            split_tool_name("users_bulk_create"),
            vec![
                ("users", OpKind::BulkCreate),
                ("users_bulk", OpKind::Create)
            ]
        );
        assert_eq!(
            split_tool_name("order_items_read"),
            vec![("order_items", OpKind::Read)]
        );
        assert!(split_tool_name("_read").is_empty());
        assert!(split_tool_name("users").is_empty());
    }

    #[test]
    fn summaries_keep_the_first_sentence() {
        assert_eq!(summary("A book. With pages."), "A book.");
        assert_eq!(summary("A book"), "A book");
        assert_eq!(summary(&"x".repeat(150)).len(), 100);
    }
}
