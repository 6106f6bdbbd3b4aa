//! JSON Schemas (draft 2020-12, as OpenAPI 3.1 uses) derived from models: records, inputs, the
//! filter grammar, and each operation's params and result. MCP tool input schemas, OpenAPI and
//! CLI help are all built from these, so every channel describes the same contract.

use crate::model::{Column, FieldType, ModelInfo, Role};
use crate::operation::OpKind;
use serde_json::{Map, Value, json};

/// The filter operators, as the filter grammar names them.
pub const OPERATORS: [&str; 14] = [
    "$eq",
    "$ne",
    "$gt",
    "$gte",
    "$lt",
    "$lte",
    "$in",
    "$nin",
    "$like",
    "$ilike",
    "$contains",
    "$startswith",
    "$regex",
    "$null",
];

/// The JSON Schema of one column's values.
pub fn column_schema(col: &Column) -> Value {
    let f = &col.def;
    let mut s = match f.ty {
        FieldType::String => json!({"type": "string", "maxLength": f.max_length.unwrap_or(255)}),
        FieldType::Text => json!({"type": "string"}),
        FieldType::Integer => json!({"type": "integer", "format": "int64"}),
        FieldType::Float => json!({"type": "number", "format": "double"}),
        FieldType::Decimal => {
            json!({"type": "string", "format": "decimal", "description": "an exact decimal (a number is accepted on input)"})
        }
        FieldType::Boolean => json!({"type": "boolean"}),
        FieldType::Date => json!({"type": "string", "format": "date"}),
        FieldType::Datetime => json!({"type": "string", "format": "date-time"}),
        FieldType::Uuid => json!({"type": "string", "format": "uuid"}),
        FieldType::Json => json!({}),
        FieldType::Bytes => json!({"type": "string", "contentEncoding": "base64"}),
        FieldType::Enum => json!({"type": "string", "enum": f.values}),
    };
    if let Some(d) = &f.description {
        s["description"] = json!(d);
    }
    if let Some(d) = &f.default {
        s["default"] = d.clone();
    }
    if f.optional && f.ty != FieldType::Json {
        let ty = s["type"].clone();
        s["type"] = json!([ty, "null"]);
        if let Some(values) = s.get_mut("enum").and_then(Value::as_array_mut) {
            values.push(Value::Null);
        }
    }
    if let Some(target) = &f.references {
        let note = format!("the id of {}", crate::model::with_article(target));
        s["description"] = json!(match s.get("description").and_then(Value::as_str) {
            Some(d) => format!("{d} ({note})"),
            None => note,
        });
    }
    s
}

/// The schema of a stored record: every column, all present.
pub fn record_schema(m: &ModelInfo) -> Value {
    let mut props = Map::new();
    for col in &m.columns {
        let mut s = column_schema(col);
        if col.role != Role::Field {
            s["readOnly"] = json!(true);
        }
        props.insert(col.name().to_string(), s);
    }
    let required: Vec<&str> = m.columns.iter().map(Column::name).collect();
    let mut s = json!({"type": "object", "properties": props, "required": required});
    if let Some(d) = &m.def.description {
        s["description"] = json!(d);
    }
    s
}

fn writable(m: &ModelInfo) -> impl Iterator<Item = &Column> {
    m.columns
        .iter()
        .filter(move |c| c.role == Role::Field || (c.role == Role::Id && !m.auto_id()))
}

/// The schema of a create: the writable fields; required are those without a default that may
/// not be null.
pub fn create_schema(m: &ModelInfo) -> Value {
    let props: Map<String, Value> = writable(m)
        .map(|c| (c.name().to_string(), column_schema(c)))
        .collect();
    let required: Vec<&str> = writable(m)
        .filter(|c| c.role == Role::Field && c.def.required_on_create())
        .map(Column::name)
        .collect();
    json!({"type": "object", "properties": props, "required": required, "additionalProperties": false})
}

/// The schema of the fields of an update: any writable field but the id.
pub fn update_schema(m: &ModelInfo) -> Value {
    let props: Map<String, Value> = writable(m)
        .filter(|c| c.role == Role::Field)
        .map(|c| (c.name().to_string(), column_schema(c)))
        .collect();
    json!({"type": "object", "properties": props, "minProperties": 1, "additionalProperties": false})
}

/// The filter grammar over a model's columns, kept compact (it appears in many tool schemas).
pub fn filter_schema(m: &ModelInfo) -> Value {
    let mut keys: Vec<&str> = m.columns.iter().map(Column::name).collect();
    keys.extend(["$and", "$or", "$not"]);
    json!({
        "type": "object",
        "description": format!(
            "{{\"field\": value}} tests equality; {{\"field\": {{\"$op\": value}}}} applies an operator: {}; \"$and\"/\"$or\" take lists of filters, \"$not\" a filter",
            OPERATORS.join(" ")
        ),
        "propertyNames": {"enum": keys},
    })
}

fn id_schema(m: &ModelInfo) -> Value {
    let mut s = column_schema(m.id());
    if m.auto_id() {
        s = json!({"type": ["integer", "string"]});
    }
    s
}

fn field_names(m: &ModelInfo) -> Value {
    json!({"type": "array", "items": {"enum": m.columns.iter().map(Column::name).collect::<Vec<_>>()}})
}

fn object(props: Value, required: &[&str]) -> Value {
    json!({"type": "object", "properties": props, "required": required, "additionalProperties": false})
}

/// The schema of an operation's params (the body of `/nodes/...`, an MCP tool's input).
pub fn params_schema(m: &ModelInfo, op: OpKind) -> Value {
    let bool_ = json!({"type": "boolean"});
    let unique_sets: Vec<Value> = m.unique_sets.iter().map(|s| json!(s)).collect();
    let conflict_on = json!({"type": "array", "items": {"type": "string"}, "description": format!("a unique field set: one of {}", Value::Array(unique_sets))});
    let dry_run = json!({"type": "boolean", "description": "run, report, roll back"});
    let max_affected = json!({"type": "integer", "minimum": 0, "description": "roll back if more records would change"});
    let confirm_all =
        json!({"type": "boolean", "description": "allow an empty filter (every record)"});
    let expand = json!({
        "description": "relations to include (the model resource lists them): a belongs-to as its record, a has-many as a list",
        "anyOf": [{"type": "array", "items": {"type": "string"}}, {"type": "string", "description": "names separated by commas"}],
    });
    let expand_limit = json!({"type": "integer", "minimum": 1, "maximum": crate::store::expand::MAX_PER_PARENT, "default": crate::store::expand::DEFAULT_PER_PARENT, "description": "related records per record of a has-many relation (the first by id)"});
    match op {
        OpKind::Create => create_schema(m),
        OpKind::Read => object(
            json!({"id": id_schema(m), "include_deleted": bool_, "expand": expand, "expand_limit": expand_limit}),
            &["id"],
        ),
        OpKind::Update => object(
            json!({"id": id_schema(m), "fields": update_schema(m)}),
            &["id", "fields"],
        ),
        OpKind::Delete => object(json!({"id": id_schema(m)}), &["id"]),
        OpKind::List => object(
            json!({
                "filter": filter_schema(m),
                "order_by": {"description": "field names, `-` first for descending", "anyOf": [{"type": "string"}, {"type": "array", "items": {"type": "string"}}]},
                "limit": {"type": "integer", "minimum": 1, "maximum": 1000, "default": 20},
                "offset": {"type": "integer", "minimum": 0},
                "cursor": {"type": "string", "description": "next_cursor of the previous page"},
                "count": {"type": "boolean", "description": "also return the total number of matches"},
                "fields": field_names(m),
                "include_deleted": bool_,
                "expand": expand,
                "expand_limit": expand_limit,
            }),
            &[],
        ),
        OpKind::Count => object(
            json!({"filter": filter_schema(m), "include_deleted": bool_}),
            &[],
        ),
        OpKind::Upsert => object(
            json!({
                "where": {"type": "object", "description": "unique values identifying the record"},
                "create": {"type": "object", "description": "fields set only when creating"},
                "update": {"type": "object", "description": "fields set only when updating"},
                "conflict_on": conflict_on,
            }),
            &["where"],
        ),
        OpKind::BulkCreate => object(
            json!({
                "data": {"type": "array", "items": create_schema(m)},
                "on_conflict": {"enum": ["error", "skip", "update"], "default": "error"},
                "atomic": {"type": "boolean", "default": true, "description": "all or nothing; false: report failed records in errors"},
                "conflict_on": conflict_on,
                "dry_run": dry_run,
            }),
            &["data"],
        ),
        OpKind::BulkUpdate => object(
            json!({"filter": filter_schema(m), "fields": update_schema(m), "confirm_all": confirm_all, "max_affected": max_affected, "dry_run": dry_run}),
            &["fields"],
        ),
        OpKind::BulkDelete => object(
            json!({"filter": filter_schema(m), "confirm_all": confirm_all, "max_affected": max_affected, "dry_run": dry_run}),
            &[],
        ),
        OpKind::BulkUpsert => object(
            json!({
                "data": {"type": "array", "items": create_schema(m)},
                "conflict_on": conflict_on,
                "on_conflict": {"enum": ["update", "skip"], "default": "update"},
                "dry_run": dry_run,
            }),
            &["data"],
        ),
    }
}

/// The schema of an operation's result. `record` is the record schema, or a reference to it.
pub fn result_schema(op: OpKind, record: Value) -> Value {
    let count = json!({"type": "integer", "minimum": 0});
    let dry = json!({"type": "boolean"});
    match op {
        OpKind::Create | OpKind::Read | OpKind::Update => record,
        OpKind::Delete => object(
            json!({"id": {}, "deleted": {"type": "boolean"}}),
            &["id", "deleted"],
        ),
        OpKind::List => object(
            json!({"records": {"type": "array", "items": record}, "count": count, "next_cursor": {"type": "string"}}),
            &["records"],
        ),
        OpKind::Count => object(json!({"count": count}), &["count"]),
        OpKind::Upsert => object(
            json!({"action": {"enum": ["created", "updated"]}, "record": record}),
            &["action", "record"],
        ),
        OpKind::BulkCreate => object(
            json!({
                "inserted": count, "updated": count, "skipped": count, "ids": {"type": "array"},
                "errors": {"type": "array", "items": {"type": "object", "properties": {"index": count, "error": error_object_schema()}}},
                "dry_run": dry,
            }),
            &["inserted", "skipped", "ids", "errors"],
        ),
        OpKind::BulkUpdate => object(json!({"updated": count, "dry_run": dry}), &["updated"]),
        OpKind::BulkDelete => object(json!({"deleted": count, "dry_run": dry}), &["deleted"]),
        OpKind::BulkUpsert => object(
            json!({"inserted": count, "updated": count, "skipped": count, "dry_run": dry}),
            &["inserted", "updated", "skipped"],
        ),
    }
}

/// The error codes every channel uses.
pub const ERROR_CODES: [&str; 9] = [
    "validation",
    "not_found",
    "conflict",
    "forbidden",
    "unauthorized",
    "rate_limited",
    "not_ready",
    "unavailable",
    "internal",
];

/// The schema of an error object `{code, message, field?, details?}`.
pub fn error_object_schema() -> Value {
    json!({
        "type": "object",
        "properties": {
            "code": {"type": "string", "enum": ERROR_CODES},
            "message": {"type": "string"},
            "field": {"type": "string"},
            "details": {},
        },
        "required": ["code", "message"],
    })
}

/// A model described for the model views (the MCP resource `flowgate://models/{Model}`,
/// `GET /models/{Model}`): its record schema, its create schema, its canonical definition and
/// its relations among the `served` models (belongs-to and has-many, from references; the names
/// `expand` takes).
pub fn model_document(m: &ModelInfo, served: &[std::sync::Arc<ModelInfo>]) -> Value {
    let relations: Vec<Value> = crate::model::relations(&m.def, served.iter().map(|s| &s.def))
        .iter()
        .map(crate::model::Relation::to_json)
        .collect();
    json!({
        "name": m.name(),
        "table": m.table,
        "record_schema": record_schema(m),
        "create_schema": create_schema(m),
        "definition": crate::model::to_json(std::slice::from_ref(&m.def)),
        "relations": relations,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::{FieldDef, ModelDef, Schema};

    #[test]
    fn create_requires_fields_without_defaults() {
        let schema = Schema::new([ModelDef::new("Task")
            .field(FieldDef::string("title").max_length(10))
            .field(FieldDef::enumeration("state", ["open", "done"]).default("open"))
            .field(FieldDef::integer("estimate").optional())])
        .unwrap();
        let m = schema.get("Task").unwrap();
        let s = create_schema(m);
        assert_eq!(s["required"], json!(["title"]));
        assert_eq!(
            s["properties"]["estimate"]["type"],
            json!(["integer", "null"])
        );
        assert_eq!(s["properties"]["state"]["enum"], json!(["open", "done"]));
        assert!(
            s["properties"].get("id").is_none(),
            "database-generated ids are not inputs"
        );
        assert_eq!(
            record_schema(m)["properties"]["created_at"]["readOnly"],
            true
        );
        let list = params_schema(m, OpKind::List);
        assert!(
            list["properties"]["filter"]["propertyNames"]["enum"]
                .as_array()
                .unwrap()
                .contains(&json!("$or"))
        );
    }
}
