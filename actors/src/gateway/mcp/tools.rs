//! The MCP tools of a model: names, descriptions, input and output schemas, annotations.
//!
//! Everything here is derived from `flowgate::schema`, the same schemas OpenAPI and the CLI use,
//! so the channels describe one contract. Tool lists are read by language models, so the text is
//! kept lean: one short line per tool, the model's description cut to its first sentence, the
//! filter grammar's operator list given once in the server instructions instead of in every
//! filter, only the read-only and destructive hints, and no output schemas (see [`tools`]).

use crate::workflows::Served;
use flowgate::workflow::NodeKind;
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

/// `readOnlyHint` on every tool, `destructiveHint` on the writes (MCP reads it only there).
fn annotations(op: OpKind) -> ToolAnnotations {
    let a = ToolAnnotations::new().read_only(op.is_read_only());
    if op.is_read_only() {
        a
    } else {
        a.destructive(is_destructive(op))
    }
}

/// What a filter param says instead of the full grammar, which the server instructions carry.
pub(super) const FILTER_NOTE: &str = "field: value, or field: {$op: value}; $and/$or take lists, $not a filter; the $ops are in the server instructions";

/// The filter grammar, once, for the server instructions.
pub(super) fn filter_grammar() -> String {
    format!(
        "Filters: {{\"field\": value}} tests equality; {{\"field\": {{\"$op\": value}}}} applies an \
         operator: {}; \"$and\"/\"$or\" take lists of filters, \"$not\" a filter.",
        flowgate::schema::OPERATORS.join(" ")
    )
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
        Some(d) if !d.is_empty() => format!("{what} ({d})"),
        _ => what,
    }
}

/// The input schema of a tool: the operation's params schema, its filter described by
/// [`FILTER_NOTE`].
fn input_schema(model: &ModelInfo, op: OpKind) -> Arc<JsonObject> {
    let mut schema = flowgate::schema::params_schema(model, op);
    if let Some(filter) = schema.pointer_mut("/properties/filter")
        && filter.get("description").is_some()
    {
        filter["description"] = json!(FILTER_NOTE);
    }
    if let Some(m) = schema.as_object_mut()
        && m.get("required").is_some_and(|r| r == &json!([]))
    {
        m.remove("required");
    }
    match schema {
        Value::Object(m) => Arc::new(m),
        _ => Arc::new(JsonObject::new()),
    }
}

/// The eleven tools of a model.
///
/// They carry no `outputSchema`. A tool error's structured content is `{"error": {...}}`, and
/// MCP's TypeScript SDK validates structured content against the output schema even when
/// `isError` is set, so strict result schemas would turn every operation failure into a client
/// side -32602; loose ones would say little. Leaving them out also keeps the list about a fifth
/// shorter. The results are the REST API's JSON, described by OpenAPI and, for records, by the
/// resource `flowgate://models/{Model}`.
pub(super) fn tools(model: &ModelInfo) -> impl Iterator<Item = Tool> + '_ {
    OpKind::ALL.into_iter().map(move |op| {
        Tool::new(
            tool_name(model, op),
            description(model, op),
            input_schema(model, op),
        )
        .with_annotations(annotations(op))
    })
}

/// The tool of a workflow: named after it, its input schema that of the workflow's inputs
/// (declared, or inferred from the model fields its references feed), read-only when every model
/// node only reads, destructive when one overwrites or removes data.
pub(super) fn workflow_tool(served: &Served) -> Tool {
    let wf = &served.workflow;
    let ops: Vec<OpKind> = wf
        .nodes()
        .iter()
        .filter_map(|n| match n.kind() {
            NodeKind::Model { op, .. } => Some(*op),
            _ => None,
        })
        .collect();
    let read_only = ops.iter().all(|op| op.is_read_only());
    let mut annotations = ToolAnnotations::new().read_only(read_only);
    if !read_only {
        annotations = annotations.destructive(ops.iter().any(|op| is_destructive(*op)));
    }
    let what = match wf.description().map(summary) {
        Some(d) if !d.is_empty() => d.to_string(),
        _ => {
            let types: Vec<String> = wf.nodes().iter().map(|n| n.kind().type_name()).collect();
            types.join(", ")
        }
    };
    let description = format!(
        "Run the workflow {} ({what}); the arguments are its inputs, the result each node's result.",
        wf.name()
    );
    let mut schema = served.input_schema.clone();
    if let Some(m) = schema.as_object_mut()
        && m.get("required").is_some_and(|r| r == &json!([]))
    {
        m.remove("required");
    }
    let schema = match schema {
        Value::Object(m) => Arc::new(m),
        _ => Arc::new(JsonObject::new()),
    };
    Tool::new(wf.name().to_string(), description, schema).with_annotations(annotations)
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
