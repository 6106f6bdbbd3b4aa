//! Compact mode (`[mcp] tools = "compact"`): a dozen generic tools, whatever the number of
//! models, each taking the model's name as its `model` argument.
//!
//! - `describe`: without arguments, every served model (name, table, description, the tools it
//!   allows); with `{model}`, the model's resource (`flowgate://models/{Model}`: record schema,
//!   create schema, definition) and the tools it allows.
//! - One tool per operation, named after it (`read`, `list`, `count`, `create`, `update`,
//!   `delete`, `upsert`, `bulk_create`, `bulk_update`, `bulk_delete`, `bulk_upsert`): its
//!   arguments are `model` plus the operation's params, except `create`, whose record is under
//!   `data` (so that a field called `model` cannot be mistaken for the argument), and whose
//!   validation errors name the field as the argument (`data.title`).
//!
//! The input schemas come from [`flowgate::json_schema::params_schema`] of a stand-in model, with
//! the parts that depend on a model made generic (ids, filters, field lists, records); so the
//! params' names, enums and defaults are the per-model tools' and cannot drift from them. The
//! model's own schema is one `describe` (or resource read) away. Hints are the operation's
//! (`OpKind::is_read_only`, `OpKind::is_destructive`), as on the per-model tools.

use super::tools::{FILTER_NOTE, annotations, lean};
use flowgate::naming::GenericTool;
use flowgate::{Error, FieldDef, ModelDef, ModelInfo, OpKind, Schema};
use rmcp::model::{JsonObject, Tool, ToolAnnotations};
use serde_json::{Map, Value, json};
use std::sync::{Arc, LazyLock};

/// How many model names `describe`'s description lists before it says how many more there are.
const NAMES_LISTED: usize = 40;

/// The generic tools, `describe` first; its description names the served models.
pub(super) fn tools(models: &[Arc<ModelInfo>]) -> Vec<Tool> {
    let stand_in = stand_in();
    GenericTool::all()
        .map(|t| match t {
            GenericTool::Describe => describe_tool(models),
            GenericTool::Op(op) => {
                Tool::new(op.as_str(), description(op), input_schema(&stand_in, op))
                    .with_annotations(annotations(op))
            }
        })
        .collect()
}

fn describe_tool(models: &[Arc<ModelInfo>]) -> Tool {
    let mut names: Vec<&str> = models.iter().take(NAMES_LISTED).map(|m| m.name()).collect();
    let more = models.len().saturating_sub(NAMES_LISTED);
    let more = if more > 0 {
        format!(" and {more} more")
    } else {
        String::new()
    };
    if names.is_empty() {
        names.push("none yet");
    }
    let description = format!(
        "Describe the data models. No arguments: each model's name, table, description and the \
         tools it allows. With model: its fields (record_schema), what create takes \
         (create_schema) and its definition. Models: {}{more}.",
        names.join(", ")
    );
    let schema = json!({
        "type": "object",
        "properties": {"model": {"type": "string", "description": "a model's name; leave out to list them all"}},
    });
    Tool::new(GenericTool::Describe.name(), description, object(schema))
        .with_annotations(ToolAnnotations::new().read_only(true))
}

fn description(op: OpKind) -> &'static str {
    match op {
        OpKind::Create => {
            "Create one record of a model; data holds its fields. Returns the stored record."
        }
        OpKind::Read => "Read one record of a model by id.",
        OpKind::Update => "Change fields of one record by id; returns the record.",
        OpKind::Delete => "Delete one record by id.",
        OpKind::List => {
            "List records of a model: filter, order, page. Returns {records, count?, next_cursor?}."
        }
        OpKind::Count => "Count records of a model matching a filter.",
        OpKind::Upsert => "Create or update one record by a unique key.",
        OpKind::BulkCreate => "Insert many records of a model.",
        OpKind::BulkUpdate => "Change every record of a model matching a filter.",
        OpKind::BulkDelete => "Delete every record of a model matching a filter.",
        OpKind::BulkUpsert => "Create or update many records by a unique key.",
    }
}

/// A model with every param that can matter: soft delete (`include_deleted`) and a unique field
/// besides the id (`conflict_on`).
fn stand_in() -> Arc<ModelInfo> {
    static STAND_IN: LazyLock<Arc<ModelInfo>> = LazyLock::new(|| {
        let def = ModelDef::new("Record")
            .soft_delete()
            .field(FieldDef::string("key").unique());
        // A constant definition that is valid (the unit tests build it).
        Schema::new([def])
            .ok()
            .and_then(|s| s.get("Record").cloned())
            .expect("the stand-in model is valid")
    });
    STAND_IN.clone()
}

/// The input schema of a generic tool: `model`, then the operation's params with what depends
/// on a model made generic.
pub(super) fn input_schema(stand_in: &ModelInfo, op: OpKind) -> Arc<JsonObject> {
    let params = match op {
        OpKind::Create => json!({
            "type": "object",
            "properties": {"data": {"type": "object", "description": "the record's fields (describe shows them)"}},
            "required": ["data"],
        }),
        _ => flowgate::json_schema::params_schema(stand_in, op),
    };
    let mut props = Map::new();
    props.insert(
        "model".into(),
        json!({"type": "string", "description": "the model's name (describe lists them)"}),
    );
    if let Some(given) = params["properties"].as_object() {
        for (name, schema) in given {
            props.insert(name.clone(), generic(op, name, schema.clone()));
        }
    }
    let mut required = vec![json!("model")];
    required.extend(params["required"].as_array().into_iter().flatten().cloned());
    let mut schema = json!({"type": "object", "properties": props, "required": required});
    lean(&mut schema);
    object(schema)
}

/// A param's schema for any model: what names a model's fields or types becomes generic.
fn generic(op: OpKind, name: &str, schema: Value) -> Value {
    match name {
        "id" => json!({"type": ["integer", "string"]}),
        "filter" => json!({"type": "object", "description": FILTER_NOTE}),
        "fields" if op == OpKind::List => {
            json!({"type": "array", "items": {"type": "string"}, "description": "the field names to return"})
        }
        "fields" => {
            json!({"type": "object", "description": "the fields to change, with their new values"})
        }
        "data" if op != OpKind::Create => {
            json!({"type": "array", "items": {"type": "object"}, "description": "the records, each an object of fields"})
        }
        "conflict_on" => {
            json!({"type": "array", "items": {"type": "string"}, "description": "a unique field set (describe lists them)"})
        }
        _ => schema,
    }
}

fn object(schema: Value) -> Arc<JsonObject> {
    match schema {
        Value::Object(m) => Arc::new(m),
        _ => Arc::new(JsonObject::new()),
    }
}

/// The model a generic call names: its `model` argument, a string.
pub(super) fn model_arg(args: &Map<String, Value>) -> Result<&str, Error> {
    match args.get("model") {
        Some(Value::String(name)) => Ok(name),
        Some(other) => Err(Error::validation(
            "model",
            format!(
                "`model` must be a model's name (a string), got {}",
                flowgate::value::kind_of(other)
            ),
        )),
        None => Err(Error::validation(
            "model",
            "`model` is required: the model's name (describe lists them)",
        )),
    }
}

/// The operation's params from a generic call's arguments: all but `model`, and for `create`
/// the object under `data` (nothing else may come with it).
pub(super) fn op_params(op: OpKind, mut args: Map<String, Value>) -> Result<Value, Error> {
    args.shift_remove("model");
    if op != OpKind::Create {
        return Ok(Value::Object(args));
    }
    if let Some(key) = args.keys().find(|k| *k != "data") {
        return Err(Error::validation(
            key.clone(),
            format!("unknown argument `{key}`: create takes model and data (the record's fields)"),
        ));
    }
    match args.shift_remove("data") {
        Some(data @ Value::Object(_)) => Ok(data),
        Some(other) => Err(Error::validation(
            "data",
            format!(
                "`data` must be an object of the record's fields, got {}",
                flowgate::value::kind_of(&other)
            ),
        )),
        None => Err(Error::validation(
            "data",
            "`data` is required: an object of the record's fields (describe shows them)",
        )),
    }
}

/// An error of `create` whose field is the record's: named as the argument, under `data`
/// (`title` is `data.title`).
pub(super) fn under_data(e: Error) -> Error {
    match e {
        Error::Validation {
            field: Some(field),
            reason,
        } => Error::Validation {
            field: Some(format!("data.{field}")),
            reason,
        },
        other => other,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The generic tools take the same params as the per-model ones (plus `model`; create's
    /// record under `data`), so the two modes cannot drift apart.
    #[test]
    fn generic_params_are_the_operations_params() {
        let stand_in = stand_in();
        for op in OpKind::ALL {
            let schema = input_schema(&stand_in, op);
            let mut names: Vec<&str> = schema["properties"]
                .as_object()
                .unwrap()
                .keys()
                .map(String::as_str)
                .collect();
            assert_eq!(names.remove(0), "model");
            let expected = flowgate::json_schema::params_schema(&stand_in, op);
            let mut want: Vec<&str> = expected["properties"]
                .as_object()
                .unwrap()
                .keys()
                .map(String::as_str)
                .collect();
            if op == OpKind::Create {
                want = vec!["data"];
            }
            assert_eq!(names, want, "{op}");
            assert_eq!(schema["required"][0], "model", "{op}");
        }
    }

    #[test]
    fn arguments_become_params_and_errors_name_the_argument() {
        let args = |v: Value| v.as_object().unwrap().clone();
        assert_eq!(
            op_params(OpKind::Read, args(json!({"model": "Book", "id": 3}))).unwrap(),
            json!({"id": 3})
        );
        assert_eq!(
            op_params(
                OpKind::Create,
                args(json!({"model": "Book", "data": {"title": "x", "model": "y"}}))
            )
            .unwrap(),
            json!({"title": "x", "model": "y"})
        );
        let field = |r: Result<Value, Error>| r.unwrap_err().field().map(str::to_string);
        assert_eq!(
            field(op_params(OpKind::Create, args(json!({"model": "Book"})))),
            Some("data".into())
        );
        assert_eq!(
            field(op_params(
                OpKind::Create,
                args(json!({"model": "Book", "data": []}))
            )),
            Some("data".into())
        );
        assert_eq!(
            field(op_params(
                OpKind::Create,
                args(json!({"model": "Book", "title": "x"}))
            )),
            Some("title".into())
        );
        assert_eq!(
            model_arg(&args(json!({"id": 1}))).unwrap_err().field(),
            Some("model")
        );
        assert_eq!(
            model_arg(&args(json!({"model": 1}))).unwrap_err().field(),
            Some("model")
        );
    }
}
