//! The MCP tools of a model: names, descriptions, input and output schemas, annotations.
//!
//! Names come from `flowgate::naming` (`OpKind::tool_name`), hints from `OpKind`'s one
//! definition of read-only and destructive operations.
//!
//! Everything here is derived from `flowgate::json_schema`, the same schemas OpenAPI and the CLI use,
//! so the channels describe one contract. Tool lists are read by language models, and a model
//! has eleven tools, so whatever one tool repeats is paid eleven times per model: the text is
//! kept lean. One short line per tool, with the model's description (its first sentence) on
//! `list` and `create` only; the filter grammar's operators once, in the server instructions;
//! only the hints that differ from MCP's defaults; no output schemas (see [`tools`]); and input
//! schemas without what only a validator or a code generator reads (see [`input_schema`]).

use crate::workflows::Served;
use flowgate::model::{Relation, RelationKind};
use flowgate::workflow::NodeKind;
use flowgate::{ModelInfo, OpKind};
use rmcp::model::{JsonObject, Tool, ToolAnnotations};
use serde_json::{Value, json};
use std::sync::Arc;

/// The hints that differ from MCP's defaults (not read-only, destructive): `readOnlyHint` on the
/// reads, `destructiveHint` on the writes (false on create), from `OpKind`'s one definition.
pub(super) fn annotations(op: OpKind) -> ToolAnnotations {
    if op.is_read_only() {
        ToolAnnotations::new().read_only(true)
    } else {
        ToolAnnotations::new().destructive(op.is_destructive())
    }
}

/// What a filter param says instead of the full grammar, which the server instructions carry.
pub(super) const FILTER_NOTE: &str =
    "{field: value} or {field: {$op: value}}; the $ops are in the server instructions";

/// The filter grammar, once, for the server instructions.
pub(super) fn filter_grammar() -> String {
    format!(
        "Filters: {{\"field\": value}} tests equality; {{\"field\": {{\"$op\": value}}}} applies an \
         operator: {}; \"$and\"/\"$or\" take lists of filters, \"$not\" a filter.",
        flowgate::json_schema::OPERATORS.join(" ")
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
    // The model's description on the tools an agent starts from; the other nine share their
    // name's prefix with these two.
    let described = matches!(op, OpKind::List | OpKind::Create);
    match model.def.description.as_deref().map(summary) {
        Some(d) if described && !d.is_empty() => format!("{what} ({d})"),
        _ => what,
    }
}

/// The input schema of a tool: the operation's params schema, leaner.
///
/// - The filter is described by [`FILTER_NOTE`] (the grammar is in the server instructions).
/// - Params that cannot change the result for this model are left out: `include_deleted`
///   unless the model has soft delete, `conflict_on` when the id is its only unique field set
///   (the default then is the only value it could take). The server still accepts them.
/// - `additionalProperties: false` and the `int64` and `double` formats are left out: the
///   properties are listed either way, and the server refuses an unknown param or a value of the
///   wrong type with a validation error naming it. OpenAPI keeps them, for validators and code
///   generators.
/// - An empty `required` is left out.
/// - Given the model's `relations`, `expand` lists their names, and is left out (with
///   `expand_limit`) when there are none; `expand_limit` is left out without a has-many.
pub(super) fn input_schema(
    model: &ModelInfo,
    op: OpKind,
    relations: Option<&[Relation]>,
) -> Arc<JsonObject> {
    let mut schema = flowgate::json_schema::params_schema(model, op);
    if let Some(props) = schema.get_mut("properties").and_then(Value::as_object_mut) {
        if let Some(relations) = relations {
            if relations.is_empty() {
                props.shift_remove("expand");
            } else if let Some(expand) = props.get_mut("expand") {
                let names: Vec<&str> = relations.iter().map(|r| r.name.as_str()).collect();
                *expand = json!({
                    "type": "array",
                    "items": {"enum": names},
                    "description": "relations to include: a belongs-to as its record, a has-many as a list",
                });
            }
            if !relations.iter().any(|r| r.kind == RelationKind::HasMany) {
                props.shift_remove("expand_limit");
            }
        }
        if !model.soft_delete() {
            props.shift_remove("include_deleted");
        }
        if model.unique_sets.iter().all(|set| set == &["id"]) {
            props.shift_remove("conflict_on");
        }
        if let Some(filter) = props.get_mut("filter")
            && filter.get("description").is_some()
        {
            filter["description"] = json!(FILTER_NOTE);
        }
    }
    lean(&mut schema);
    match schema {
        Value::Object(mut m) => {
            if m.get("required").is_some_and(|r| r == &json!([])) {
                m.shift_remove("required");
            }
            Arc::new(m)
        }
        _ => Arc::new(JsonObject::new()),
    }
}

/// Removes `additionalProperties: false` and the `int64` and `double` formats from a schema
/// and the schemas inside it.
pub(super) fn lean(schema: &mut Value) {
    let Value::Object(m) = schema else { return };
    if m.get("additionalProperties") == Some(&Value::Bool(false)) {
        m.shift_remove("additionalProperties");
    }
    if m.get("format")
        .is_some_and(|f| f == "int64" || f == "double")
    {
        m.shift_remove("format");
    }
    for (key, value) in m.iter_mut() {
        match key.as_str() {
            "properties" | "$defs" => value
                .as_object_mut()
                .into_iter()
                .flat_map(|props| props.values_mut())
                .for_each(lean),
            "anyOf" | "oneOf" | "allOf" | "prefixItems" => value
                .as_array_mut()
                .into_iter()
                .flat_map(|items| items.iter_mut())
                .for_each(lean),
            "items" | "not" | "additionalProperties" | "propertyNames" => lean(value),
            // Values (`enum`, `default`, ...) and annotations are left as they are.
            _ => {}
        }
    }
}

/// The tools of a model: one per operation it exposes (`exposed`, in `OpKind::ALL` order).
///
/// They carry no `outputSchema`. A tool error's structured content is `{"error": {...}}`, and
/// MCP's TypeScript SDK validates structured content against the output schema even when
/// `isError` is set, so strict result schemas would turn every operation failure into a client
/// side -32602; loose ones would say little. Leaving them out also keeps the list about a fifth
/// shorter. The results are the REST API's JSON, described by OpenAPI and, for records, by the
/// resource `flowgate://models/{Model}`.
pub(super) fn tools<'a>(
    model: &'a ModelInfo,
    exposed: &'a [OpKind],
    relations: Vec<Relation>,
) -> impl Iterator<Item = Tool> + 'a {
    exposed.iter().map(move |&op| {
        Tool::new(
            op.tool_name(&model.table),
            description(model, op),
            input_schema(model, op, Some(&relations)),
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
        annotations = annotations.destructive(ops.iter().any(|op| op.is_destructive()));
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

/// The audit trail's tool (`audit_list`), listed for principals with `admin:audit`.
pub(super) fn audit_tool() -> Tool {
    let text =
        |d: &str| json!({"type": "string", "minLength": 1, "maxLength": 255, "description": d});
    let schema = json!({
        "type": "object",
        "properties": {
            "model": text("only rows of this model (its name: `Book`)"),
            "record_id": text("only rows of this record id"),
            "principal": text("only rows of this principal id (`key:<id>`, `jwt:<sub>`, `local`)"),
            "since": {"type": "string", "format": "date-time",
                      "description": "only rows at or after this RFC 3339 time"},
            "cursor": text("the next_cursor of the previous page"),
            "limit": {"type": "integer", "minimum": 1, "maximum": crate::audit::MAX_LIMIT,
                      "description": "at most this many rows (default 50)"},
        },
        "additionalProperties": false,
    });
    let schema = match schema {
        Value::Object(m) => Arc::new(m),
        _ => Arc::new(JsonObject::new()),
    };
    Tool::new(
        AUDIT_TOOL,
        "Read the audit trail, newest first: who changed which record of which model, when, \
         through what, and the changed fields as {field: [before, after]}; a page of `records` \
         and `next_cursor`.",
        schema,
    )
    .with_annotations(ToolAnnotations::new().read_only(true))
}

/// The name of the audit trail's tool.
pub(crate) const AUDIT_TOOL: &str = "audit_list";

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn params_that_cannot_matter_are_left_out() {
        use flowgate::{FieldDef, ModelDef, Schema};
        let schema = Schema::new([
            ModelDef::new("Plain").field(FieldDef::integer("n")),
            ModelDef::new("Kept")
                .soft_delete()
                .field(FieldDef::string("code").unique()),
        ])
        .unwrap();
        let props = |model: &str, op: OpKind| -> Vec<String> {
            let s = input_schema(schema.get(model).unwrap(), op, Some(&[]));
            s["properties"]
                .as_object()
                .unwrap()
                .keys()
                .cloned()
                .collect()
        };
        assert_eq!(props("Plain", OpKind::Read), ["id"]);
        assert_eq!(props("Kept", OpKind::Read), ["id", "include_deleted"]);
        assert_eq!(
            props("Plain", OpKind::Upsert),
            ["where", "create", "update"]
        );
        assert_eq!(
            props("Kept", OpKind::Upsert),
            ["where", "create", "update", "conflict_on"]
        );
        assert_eq!(
            props("Plain", OpKind::BulkUpsert),
            ["data", "on_conflict", "dry_run"]
        );
        let create = input_schema(schema.get("Plain").unwrap(), OpKind::Create, Some(&[]));
        assert_eq!(
            Value::Object(create.as_ref().clone()),
            json!({"type": "object", "properties": {"n": {"type": "integer"}}, "required": ["n"]})
        );
    }

    #[test]
    fn lean_schemas_keep_values_and_types() {
        let mut s = json!({
            "type": "object",
            "properties": {
                "n": {"type": "integer", "format": "int64", "default": {"format": "int64"}},
                "d": {"type": "string", "format": "date-time"},
                "rows": {"type": "array", "items": {
                    "type": "object", "additionalProperties": false,
                    "properties": {"x": {"type": ["number", "null"], "format": "double"}},
                }},
                "format": {"enum": ["int64"]},
            },
            "additionalProperties": false,
        });
        lean(&mut s);
        assert_eq!(
            s,
            json!({
                "type": "object",
                "properties": {
                    "n": {"type": "integer", "default": {"format": "int64"}},
                    "d": {"type": "string", "format": "date-time"},
                    "rows": {"type": "array", "items": {
                        "type": "object",
                        "properties": {"x": {"type": ["number", "null"]}},
                    }},
                    "format": {"enum": ["int64"]},
                },
            })
        );
    }

    #[test]
    fn summaries_keep_the_first_sentence() {
        assert_eq!(summary("A book. With pages."), "A book.");
        assert_eq!(summary("A book"), "A book");
        assert_eq!(summary(&"x".repeat(150)).len(), 100);
    }
}
