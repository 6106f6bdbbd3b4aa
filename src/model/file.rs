//! Schema files: models declared in TOML or JSON (DESIGN section 12), and the canonical JSON form
//! the registry persists.
//!
//! ```toml
//! [models.Project]
//! fields.name = { type = "string", max_length = 120, unique = true }
//!
//! [models.Task]
//! soft_delete = true
//! description = "A unit of work in a project"
//! table = "tasks"
//! fields.id         = { type = "uuid" }
//! fields.title      = { type = "string", max_length = 200 }
//! fields.state      = { type = "enum", values = ["open", "done"], default = "open" }
//! fields.project_id = { type = "integer", references = "Project", on_delete = "cascade" }
//! indexes = [["state", "title"]]
//! unique = [["title", "project_id"]]
//! mcp_tools = ["read", "list", "count", "create"]
//! ```
//!
//! `mcp_tools` lists the operations the model exposes as MCP tools (default: the server's
//! `[mcp] default_tools`, else all eleven); REST and the CLI serve every operation either way.
//!
//! JSON files have the same shape: `{"models": {"Task": {"fields": {"title": {...}}}}}`.
//!
//! Both formats are read into one JSON tree, keeping key order (so the order of fields in the file
//! is their column order), and that tree is walked once. Parsing builds [`ModelDef`]s and refuses
//! anything they cannot represent: unknown keys, unknown types, values of the wrong kind. Checks
//! across models (references, defaults of the wrong type) belong to [`crate::Schema::new`], which
//! the caller runs on the result.

use super::def::{IdType, ModelDef};
use super::field::{FieldDef, FieldType, OnDelete};
use crate::error::{Error, Result};
use crate::operation::OpKind;
use crate::value::kind_of;
use serde_json::{Map, Value};
use std::path::Path;

/// Parses a TOML schema file's text. `source` names the file in errors.
pub fn parse_toml(text: &str, source: &str) -> Result<Vec<ModelDef>> {
    let table: toml::Table = text.parse().map_err(|e: toml::de::Error| {
        Error::invalid(format!("{source}: {}", e.to_string().trim_end()))
    })?;
    let mut path = Vec::new();
    let root = toml_to_json(toml::Value::Table(table), &mut path)
        .map_err(|reason| error_at_path(source, &path, &reason))?;
    parse_tree(&root, source)
}

/// Parses a JSON schema file's text. `source` names the file in errors.
pub fn parse_json(text: &str, source: &str) -> Result<Vec<ModelDef>> {
    let root: Value = serde_json::from_str(text)
        .map_err(|e| Error::invalid(format!("{source}: not valid JSON: {e}")))?;
    parse_tree(&root, source)
}

/// Reads a schema file, TOML or JSON by its extension (`.toml`, `.json`). Errors name the file.
pub fn read_schema_file(path: &Path) -> Result<Vec<ModelDef>> {
    let source = path.display().to_string();
    let ext = path
        .extension()
        .and_then(|e| e.to_str())
        .map(str::to_ascii_lowercase);
    let parse: fn(&str, &str) -> Result<Vec<ModelDef>> = match ext.as_deref() {
        Some("toml") => parse_toml,
        Some("json") => parse_json,
        _ => {
            return Err(Error::invalid(format!(
                "{source}: a schema file must end in .toml or .json"
            )));
        }
    };
    let text = std::fs::read_to_string(path)
        .map_err(|e| Error::invalid(format!("{source}: cannot read the file: {e}")))?;
    parse(&text, &source)
}

/// The canonical JSON form of a set of models (the JSON schema-file shape).
///
/// Options left at their defaults (false, absent, empty, an integer id, `on_delete = restrict`)
/// are omitted, and [`parse_json`] of the result gives back the same definitions.
pub fn to_json(defs: &[ModelDef]) -> Value {
    let models: Map<String, Value> = defs
        .iter()
        .map(|def| (def.name.clone(), model_to_json(def)))
        .collect();
    let mut top = Map::new();
    top.insert("models".into(), Value::Object(models));
    Value::Object(top)
}

fn model_to_json(def: &ModelDef) -> Value {
    let mut m = Map::new();
    if let Some(table) = &def.table {
        m.insert("table".into(), table.as_str().into());
    }
    if let Some(text) = &def.description {
        m.insert("description".into(), text.as_str().into());
    }
    if def.soft_delete {
        m.insert("soft_delete".into(), true.into());
    }
    if !def.managed {
        m.insert("managed".into(), false.into());
    }
    if !def.timestamps {
        m.insert("timestamps".into(), false.into());
    }
    let mut fields = Map::new();
    let id_type = match def.id {
        IdType::Integer => None,
        IdType::String => Some("string"),
        IdType::Uuid => Some("uuid"),
    };
    if let Some(ty) = id_type {
        let mut id = Map::new();
        id.insert("type".into(), ty.into());
        fields.insert("id".into(), Value::Object(id));
    }
    for f in &def.fields {
        fields.insert(f.name.clone(), field_to_json(f));
    }
    if !fields.is_empty() {
        m.insert("fields".into(), Value::Object(fields));
    }
    if !def.indexes.is_empty() {
        m.insert("indexes".into(), lists_to_json(&def.indexes));
    }
    if !def.unique.is_empty() {
        m.insert("unique".into(), lists_to_json(&def.unique));
    }
    if let Some(ops) = &def.mcp_tools {
        let names = super::def::op_set(ops.iter().copied())
            .into_iter()
            .map(|k| Value::from(k.as_str()))
            .collect();
        m.insert("mcp_tools".into(), Value::Array(names));
    }
    if let Some(scoped) = def.tenant_scoped {
        m.insert("tenant_scoped".into(), scoped.into());
    }
    Value::Object(m)
}

fn field_to_json(f: &FieldDef) -> Value {
    let mut m = Map::new();
    m.insert("type".into(), f.ty.as_str().into());
    if f.optional {
        m.insert("optional".into(), true.into());
    }
    if let Some(default) = &f.default {
        m.insert("default".into(), default.clone());
    }
    if let Some(func) = f.default_fn {
        m.insert("default_fn".into(), func.as_str().into());
    }
    if f.unique {
        m.insert("unique".into(), true.into());
    }
    if f.indexed {
        m.insert("indexed".into(), true.into());
    }
    if let Some(target) = &f.references {
        m.insert("references".into(), target.as_str().into());
    }
    if f.on_delete != OnDelete::Restrict {
        m.insert("on_delete".into(), f.on_delete.as_str().into());
    }
    if let Some(n) = f.max_length {
        m.insert("max_length".into(), n.into());
    }
    if !f.values.is_empty() {
        m.insert("values".into(), f.values.clone().into());
    }
    if let Some(n) = f.precision {
        m.insert("precision".into(), n.into());
    }
    if let Some(n) = f.scale {
        m.insert("scale".into(), n.into());
    }
    if let Some(text) = &f.description {
        m.insert("description".into(), text.as_str().into());
    }
    if f.sensitive {
        m.insert("sensitive".into(), true.into());
    }
    Value::Object(m)
}

fn lists_to_json(lists: &[Vec<String>]) -> Value {
    Value::Array(lists.iter().map(|l| l.clone().into()).collect())
}

/// Converts a TOML tree to JSON, keeping key order. Datetimes become their RFC 3339 text.
/// On error, `path` holds the keys leading to the value at fault.
pub(crate) fn toml_to_json(value: toml::Value, path: &mut Vec<String>) -> Result<Value, String> {
    Ok(match value {
        toml::Value::String(s) => Value::String(s),
        toml::Value::Integer(i) => Value::from(i),
        toml::Value::Float(x) => serde_json::Number::from_f64(x)
            .map(Value::Number)
            .ok_or_else(|| format!("{x} is not a finite number, which JSON cannot carry"))?,
        toml::Value::Boolean(b) => Value::Bool(b),
        toml::Value::Datetime(d) => Value::String(d.to_string()),
        toml::Value::Array(items) => {
            let mut out = Vec::with_capacity(items.len());
            for (i, item) in items.into_iter().enumerate() {
                path.push(i.to_string());
                out.push(toml_to_json(item, path)?);
                path.pop();
            }
            Value::Array(out)
        }
        toml::Value::Table(table) => {
            let mut out = Map::new();
            for (key, item) in table {
                path.push(key.clone());
                let item = toml_to_json(item, path)?;
                path.pop();
                out.insert(key, item);
            }
            Value::Object(out)
        }
    })
}

/// An error about the value at `path` (keys from the top of the file).
fn error_at_path(source: &str, path: &[String], reason: &str) -> Error {
    let with_key = |rest: &[String]| {
        if rest.is_empty() {
            reason.to_string()
        } else {
            format!("`{}`: {reason}", rest.join("."))
        }
    };
    match path {
        [models, model, fields, field, rest @ ..] if models == "models" && fields == "fields" => {
            At::field(source, model, field).err(with_key(rest))
        }
        [models, model, rest @ ..] if models == "models" => {
            At::model(source, model).err(with_key(rest))
        }
        _ => Error::invalid(format!("{source}: {}", with_key(path))),
    }
}

/// Where in a schema file a value is: errors name the file, the model and the field.
#[derive(Clone, Copy)]
struct At<'a> {
    source: &'a str,
    model: &'a str,
    field: Option<&'a str>,
}

impl<'a> At<'a> {
    fn model(source: &'a str, model: &'a str) -> Self {
        At {
            source,
            model,
            field: None,
        }
    }

    fn field(source: &'a str, model: &'a str, field: &'a str) -> Self {
        At {
            source,
            model,
            field: Some(field),
        }
    }

    fn err(&self, reason: impl std::fmt::Display) -> Error {
        let (source, model) = (self.source, self.model);
        match self.field {
            Some(field) => Error::validation(
                format!("{model}.{field}"),
                format!("{source}: model {model}, field {field}: {reason}"),
            ),
            None => Error::validation(model, format!("{source}: model {model}: {reason}")),
        }
    }

    fn wrong_kind(&self, key: &str, want: &str, value: &Value) -> Error {
        self.err(format!("`{key}` must be {want}, got {}", kind_of(value)))
    }

    fn boolean(&self, key: &str, value: &Value) -> Result<bool> {
        value
            .as_bool()
            .ok_or_else(|| self.wrong_kind(key, "a boolean", value))
    }

    fn string(&self, key: &str, value: &Value) -> Result<String> {
        value
            .as_str()
            .map(str::to_string)
            .ok_or_else(|| self.wrong_kind(key, "a string", value))
    }

    fn count(&self, key: &str, value: &Value) -> Result<u32> {
        value
            .as_u64()
            .and_then(|n| u32::try_from(n).ok())
            .ok_or_else(|| match value {
                Value::Number(n) => self.err(format!(
                    "`{key}` must be a whole number from 0 to {}, got {n}",
                    u32::MAX
                )),
                _ => self.wrong_kind(key, "a whole number", value),
            })
    }

    fn strings(&self, key: &str, value: &Value) -> Result<Vec<String>> {
        let want = "a list of strings";
        let items = value
            .as_array()
            .ok_or_else(|| self.wrong_kind(key, want, value))?;
        items
            .iter()
            .map(|item| {
                item.as_str().map(str::to_string).ok_or_else(|| {
                    self.err(format!(
                        "`{key}` must be {want}, but it holds {}",
                        kind_of(item)
                    ))
                })
            })
            .collect()
    }

    /// A list of operation names (`["read", "list"]`), as a set in `OpKind::ALL` order.
    fn operations(&self, key: &str, value: &Value) -> Result<Vec<OpKind>> {
        let names = self.strings(key, value)?;
        let ops = names
            .iter()
            .map(|name| {
                OpKind::parse(name).ok_or_else(|| {
                    let known: Vec<&str> = OpKind::ALL.iter().map(|k| k.as_str()).collect();
                    self.err(format!(
                        "`{key}`: unknown operation `{name}` (expected some of {})",
                        known.join(", ")
                    ))
                })
            })
            .collect::<Result<Vec<_>>>()?;
        Ok(super::def::op_set(ops))
    }

    fn lists(&self, key: &str, value: &Value) -> Result<Vec<Vec<String>>> {
        let want = "a list of lists of field names, like [[\"a\", \"b\"]]";
        let items = value
            .as_array()
            .ok_or_else(|| self.wrong_kind(key, want, value))?;
        items
            .iter()
            .map(|item| {
                let names = item.as_array().ok_or_else(|| {
                    self.err(format!(
                        "`{key}` must be {want}, but it holds {}",
                        kind_of(item)
                    ))
                })?;
                names
                    .iter()
                    .map(|name| {
                        name.as_str().map(str::to_string).ok_or_else(|| {
                            self.err(format!(
                                "`{key}` must be {want}, but a list holds {}",
                                kind_of(name)
                            ))
                        })
                    })
                    .collect()
            })
            .collect()
    }
}

/// Walks the one tree both formats are read into: `{"models": {Name: {...}}}`.
fn parse_tree(root: &Value, source: &str) -> Result<Vec<ModelDef>> {
    let Value::Object(top) = root else {
        return Err(Error::invalid(format!(
            "{source}: the top level must be a table with a `models` key, got {}",
            kind_of(root)
        )));
    };
    if let Some(key) = top.keys().find(|k| *k != "models") {
        return Err(Error::invalid(format!(
            "{source}: unknown top-level key `{key}` (a schema file holds `models`)"
        )));
    }
    let Some(models) = top.get("models") else {
        return Err(Error::invalid(format!(
            "{source}: no `models` table (declare models as [models.Name])"
        )));
    };
    let Value::Object(models) = models else {
        return Err(Error::invalid(format!(
            "{source}: `models` must be a table of models, got {}",
            kind_of(models)
        )));
    };
    models
        .iter()
        .map(|(name, body)| parse_model(source, name, body))
        .collect()
}

fn parse_model(source: &str, name: &str, body: &Value) -> Result<ModelDef> {
    let at = At::model(source, name);
    let Value::Object(body) = body else {
        return Err(at.err(format!(
            "a model must be a table of options, got {}",
            kind_of(body)
        )));
    };
    let mut def = ModelDef::new(name);
    for (key, value) in body {
        match key.as_str() {
            "fields" => {
                let Value::Object(fields) = value else {
                    return Err(at.wrong_kind(key, "a table of fields", value));
                };
                for (field, spec) in fields {
                    let at = At::field(source, name, field);
                    if field == "id" {
                        def.id = parse_id(at, spec)?;
                    } else {
                        def.fields.push(parse_field(at, field, spec)?);
                    }
                }
            }
            "table" => def.table = Some(at.string(key, value)?),
            "soft_delete" => def.soft_delete = at.boolean(key, value)?,
            "managed" => def.managed = at.boolean(key, value)?,
            "timestamps" => def.timestamps = at.boolean(key, value)?,
            "indexes" => def.indexes = at.lists(key, value)?,
            "unique" => def.unique = at.lists(key, value)?,
            "description" => def.description = Some(at.string(key, value)?),
            "mcp_tools" => def.mcp_tools = Some(at.operations(key, value)?),
            "tenant_scoped" => def.tenant_scoped = Some(at.boolean(key, value)?),
            other => return Err(at.err(format!("unknown key `{other}`"))),
        }
    }
    Ok(def)
}

/// `fields.id = { type = "integer" | "string" | "uuid" }`: the id takes nothing but its type.
fn parse_id(at: At<'_>, spec: &Value) -> Result<IdType> {
    let Value::Object(spec) = spec else {
        return Err(at.err(format!(
            "the id must be a table like {{ type = \"uuid\" }}, got {}",
            kind_of(spec)
        )));
    };
    let mut id = None;
    for (key, value) in spec {
        if key != "type" {
            return Err(at.err(format!(
                "unknown key `{key}`: the id takes only `type` (integer, string or uuid)"
            )));
        }
        id = Some(match at.string(key, value)?.as_str() {
            "integer" => IdType::Integer,
            "string" => IdType::String,
            "uuid" => IdType::Uuid,
            other => {
                return Err(at.err(format!(
                    "`type` of the id must be integer, string or uuid, not `{other}`"
                )));
            }
        });
    }
    id.ok_or_else(|| at.err("`type` is missing"))
}

fn parse_field(at: At<'_>, name: &str, spec: &Value) -> Result<FieldDef> {
    let Value::Object(spec) = spec else {
        return Err(at.err(format!(
            "a field must be a table like {{ type = \"string\" }}, got {}",
            kind_of(spec)
        )));
    };
    // Keys are checked before the type, so a misspelt `type` is reported as such.
    let mut ty = None;
    let mut f = FieldDef::new(name, FieldType::String);
    for (key, value) in spec {
        match key.as_str() {
            "type" => {
                let name = at.string(key, value)?;
                ty = Some(FieldType::parse(&name).ok_or_else(|| {
                    let known: Vec<&str> = FieldType::ALL.iter().map(|t| t.as_str()).collect();
                    at.err(format!(
                        "unknown type `{name}` in `type` (known types: {})",
                        known.join(", ")
                    ))
                })?);
            }
            "optional" => f.optional = at.boolean(key, value)?,
            "default" => f.default = Some(value.clone()),
            "default_fn" => {
                let text = at.string(key, value)?;
                f.default_fn = Some(super::field::DefaultFn::parse(&text).ok_or_else(|| {
                    at.err(format!(
                        "`default_fn` must be now, today or uuid, not `{text}`"
                    ))
                })?);
            }
            "unique" => f.unique = at.boolean(key, value)?,
            "indexed" => f.indexed = at.boolean(key, value)?,
            "references" => f.references = Some(at.string(key, value)?),
            "on_delete" => {
                let text = at.string(key, value)?;
                f.on_delete = OnDelete::parse(&text).ok_or_else(|| {
                    at.err(format!(
                        "`on_delete` must be restrict, cascade or set_null, not `{text}`"
                    ))
                })?;
            }
            "max_length" => f.max_length = Some(at.count(key, value)?),
            "values" => f.values = at.strings(key, value)?,
            "precision" => f.precision = Some(at.count(key, value)?),
            "scale" => f.scale = Some(at.count(key, value)?),
            "description" => f.description = Some(at.string(key, value)?),
            "sensitive" => f.sensitive = at.boolean(key, value)?,
            other => return Err(at.err(format!("unknown key `{other}`"))),
        }
    }
    f.ty = ty.ok_or_else(|| at.err("`type` is missing"))?;
    Ok(f)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::Schema;
    use serde_json::json;

    /// The example of DESIGN section 12, verbatim.
    const DESIGN_EXAMPLE: &str = r#"
[models.Project]
fields.name = { type = "string", max_length = 120, unique = true }

[models.Task]
soft_delete = true
description = "A unit of work in a project"
fields.title      = { type = "string", max_length = 200 }
fields.ref        = { type = "string", unique = true }
fields.estimate   = { type = "integer", optional = true }
fields.budget     = { type = "decimal", optional = true }
fields.due        = { type = "date", optional = true }
fields.labels     = { type = "json", default = [] }
fields.state      = { type = "enum", values = ["open", "done"], default = "open" }
fields.project_id = { type = "integer", references = "Project", optional = true }
indexes = [["state", "due"]]
"#;

    fn design_defs() -> Vec<ModelDef> {
        vec![
            ModelDef::new("Project").field(FieldDef::string("name").max_length(120).unique()),
            ModelDef::new("Task")
                .soft_delete()
                .description("A unit of work in a project")
                .field(FieldDef::string("title").max_length(200))
                .field(FieldDef::string("ref").unique())
                .field(FieldDef::integer("estimate").optional())
                .field(FieldDef::decimal("budget").optional())
                .field(FieldDef::date("due").optional())
                .field(FieldDef::json("labels").default(json!([])))
                .field(FieldDef::enumeration("state", ["open", "done"]).default("open"))
                .field(
                    FieldDef::integer("project_id")
                        .references("Project")
                        .optional(),
                )
                .index(["state", "due"]),
        ]
    }

    /// A model using every option and every type.
    fn everything() -> Vec<ModelDef> {
        let mut fields = vec![
            FieldDef::string("code")
                .max_length(32)
                .unique()
                .indexed()
                .default("x-1")
                .description("A short code"),
            FieldDef::text("body").optional().default(json!(null)),
            FieldDef::integer("count").default(-3),
            FieldDef::float("ratio").default(0.25),
            FieldDef::decimal("price")
                .precision(12)
                .scale(2)
                .default("9.99"),
            FieldDef::boolean("done").default(false),
            FieldDef::date("due").optional(),
            FieldDef::datetime("at").default("2026-01-02T03:04:05Z"),
            FieldDef::uuid("token").indexed(),
            FieldDef::json("meta").default(json!({"b": [1, 2.5, "x"], "a": null})),
            FieldDef::bytes("blob").optional(),
            FieldDef::enumeration("state", ["open", "done"]).default("open"),
            FieldDef::uuid("owner_id")
                .references("Owner")
                .optional()
                .on_delete(OnDelete::SetNull),
            FieldDef::string("parent_code")
                .references("Parent")
                .on_delete(OnDelete::Cascade),
        ];
        let used: Vec<FieldType> = fields.iter().map(|f| f.ty).collect();
        assert!(FieldType::ALL.iter().all(|t| used.contains(t)));
        fields.rotate_left(3); // not alphabetical, not the builder's order of types
        let mut thing = ModelDef::new("Thing")
            .table("things_v2")
            .id(IdType::Uuid)
            .soft_delete()
            .description("Uses every option")
            .index(["state", "due"])
            .index(["count"])
            .unique_together(["code", "token"])
            .mcp_tools([OpKind::List, OpKind::Read, OpKind::List]);
        thing.fields = fields;
        vec![
            ModelDef::new("Owner").id(IdType::Uuid),
            ModelDef::new("Parent")
                .id(IdType::String)
                .field(FieldDef::string("name")),
            thing,
            ModelDef::new("Empty"),
        ]
    }

    fn err_of(result: Result<Vec<ModelDef>>) -> (Option<String>, String) {
        match result {
            Ok(defs) => panic!("expected an error, got {defs:?}"),
            Err(e) => (e.field().map(str::to_string), e.to_string()),
        }
    }

    /// Checks the error names the field and mentions the file and every given word.
    #[track_caller]
    fn assert_error(result: Result<Vec<ModelDef>>, field: Option<&str>, words: &[&str]) {
        let (got_field, message) = err_of(result);
        assert_eq!(got_field.as_deref(), field, "field of `{message}`");
        for word in words {
            assert!(
                message.contains(word),
                "`{message}` should mention `{word}`"
            );
        }
    }

    #[test]
    fn parses_the_design_example() {
        let defs = parse_toml(DESIGN_EXAMPLE, "models.toml").unwrap();
        assert_eq!(defs, design_defs());
        let schema = Schema::new(defs).unwrap();
        let task = schema.get("Task").unwrap();
        let names: Vec<&str> = task.columns.iter().map(|c| c.name()).collect();
        assert_eq!(
            names,
            [
                "id",
                "title",
                "ref",
                "estimate",
                "budget",
                "due",
                "labels",
                "state",
                "project_id",
                "created_at",
                "updated_at",
                "deleted_at"
            ]
        );
    }

    #[test]
    fn json_has_the_same_shape() {
        let text = r#"{"models": {
            "Project": {"fields": {"name": {"type": "string", "max_length": 120, "unique": true}}},
            "Task": {
                "soft_delete": true,
                "description": "A unit of work in a project",
                "fields": {
                    "title": {"type": "string", "max_length": 200},
                    "ref": {"type": "string", "unique": true},
                    "estimate": {"type": "integer", "optional": true},
                    "budget": {"type": "decimal", "optional": true},
                    "due": {"type": "date", "optional": true},
                    "labels": {"type": "json", "default": []},
                    "state": {"type": "enum", "values": ["open", "done"], "default": "open"},
                    "project_id": {"type": "integer", "references": "Project", "optional": true}
                },
                "indexes": [["state", "due"]]
            }
        }}"#;
        assert_eq!(parse_json(text, "models.json").unwrap(), design_defs());
    }

    #[test]
    fn the_brief_shape_with_table_on_delete_and_unique() {
        let text = r#"
[models.Project]
fields.name = { type = "string", max_length = 120, unique = true }
[models.Task]
soft_delete = true
description = "A unit of work in a project"
table = "tasks"
fields.title      = { type = "string", max_length = 200 }
fields.due        = { type = "date", optional = true }
fields.state      = { type = "enum", values = ["open", "done"], default = "open" }
fields.project_id = { type = "integer", references = "Project", optional = true, on_delete = "cascade" }
indexes = [["state", "due"]]
unique = [["title", "project_id"]]
"#;
        let defs = parse_toml(text, "tasks.toml").unwrap();
        let task = &defs[1];
        assert_eq!(task.table.as_deref(), Some("tasks"));
        assert_eq!(task.fields[3].on_delete, OnDelete::Cascade);
        assert_eq!(task.unique, vec![vec!["title", "project_id"]]);
        Schema::new(defs).unwrap();
    }

    #[test]
    fn field_order_is_file_order() {
        let toml = r#"
[models.Z]
fields.zeta = { type = "string" }
fields.alpha = { type = "integer" }
[models.A]
fields.mid = { type = "boolean" }
[models.A.fields.beta]
type = "float"
"#;
        let defs = parse_toml(toml, "order.toml").unwrap();
        let names = |d: &ModelDef| d.fields.iter().map(|f| f.name.clone()).collect::<Vec<_>>();
        assert_eq!(defs[0].name, "Z");
        assert_eq!(names(&defs[0]), ["zeta", "alpha"]);
        assert_eq!(names(&defs[1]), ["mid", "beta"]);
        let json = r#"{"models": {"Z": {"fields": {"zeta": {"type": "string"},
            "alpha": {"type": "integer"}}}}}"#;
        assert_eq!(
            names(&parse_json(json, "order.json").unwrap()[0]),
            ["zeta", "alpha"]
        );
    }

    #[test]
    fn declares_the_id_type() {
        let text = r#"
[models.A]
fields.id = { type = "uuid" }
[models.B]
fields.id = { type = "string" }
[models.C]
fields.id = { type = "integer" }
[models.D]
"#;
        let ids: Vec<IdType> = parse_toml(text, "ids.toml")
            .unwrap()
            .iter()
            .map(|d| d.id)
            .collect();
        assert_eq!(
            ids,
            [
                IdType::Uuid,
                IdType::String,
                IdType::Integer,
                IdType::Integer
            ]
        );
    }

    #[test]
    fn toml_datetimes_become_text() {
        let text = r#"
[models.Event]
fields.at = { type = "datetime", default = 2026-01-02T03:04:05Z }
fields.on = { type = "date", default = 2026-01-02 }
"#;
        let defs = parse_toml(text, "events.toml").unwrap();
        assert_eq!(
            defs[0].fields[0].default,
            Some(json!("2026-01-02T03:04:05Z"))
        );
        assert_eq!(defs[0].fields[1].default, Some(json!("2026-01-02")));
        Schema::new(defs).unwrap();
    }

    #[test]
    fn to_json_round_trips_every_option_and_type() {
        let defs = everything();
        Schema::new(defs.clone()).unwrap();
        let json = to_json(&defs);
        let back = parse_json(&json.to_string(), "registry").unwrap();
        assert_eq!(back, defs);
        let pretty = parse_json(&serde_json::to_string_pretty(&json).unwrap(), "r").unwrap();
        assert_eq!(pretty, defs);
        // The design example survives the trip from TOML through JSON too.
        let design = design_defs();
        assert_eq!(
            parse_json(&to_json(&design).to_string(), "r").unwrap(),
            design
        );
    }

    #[test]
    fn to_json_omits_defaults() {
        let defs = vec![
            ModelDef::new("Empty"),
            ModelDef::new("Note").field(FieldDef::text("body")),
            ModelDef::new("Key").id(IdType::String),
        ];
        assert_eq!(
            to_json(&defs),
            json!({"models": {
                "Empty": {},
                "Note": {"fields": {"body": {"type": "text"}}},
                "Key": {"fields": {"id": {"type": "string"}}}
            }})
        );
        assert_eq!(to_json(&[]), json!({"models": {}}));
        assert_eq!(parse_json(r#"{"models": {}}"#, "none.json").unwrap(), []);
        let thing = to_json(&everything())["models"]["Thing"].clone();
        let keys: Vec<&String> = thing.as_object().unwrap().keys().collect();
        assert_eq!(
            keys,
            [
                "table",
                "description",
                "soft_delete",
                "fields",
                "indexes",
                "unique",
                "mcp_tools"
            ]
        );
        // A set, in DESIGN order, whatever order and repeats it was given in.
        assert_eq!(thing["mcp_tools"], json!(["read", "list"]));
        assert_eq!(thing["fields"]["id"], json!({"type": "uuid"}));
        assert_eq!(
            thing["fields"]["parent_code"],
            json!({"type": "string", "references": "Parent", "on_delete": "cascade"})
        );
    }

    #[test]
    fn mcp_tools_are_operation_names() {
        let text = "[models.Task]\nmcp_tools = [\"count\", \"list\", \"read\"]\n";
        let defs = parse_toml(text, "tasks.toml").unwrap();
        assert_eq!(
            defs[0].mcp_tools,
            Some(vec![OpKind::Read, OpKind::List, OpKind::Count])
        );
        assert_eq!(
            defs[0],
            ModelDef::new("Task").mcp_tools([OpKind::Read, OpKind::List, OpKind::Count])
        );
        let none = parse_toml("[models.Task]\nmcp_tools = []\n", "t.toml").unwrap();
        assert_eq!(none[0].mcp_tools, Some(vec![]));
        assert_eq!(to_json(&none)["models"]["Task"], json!({"mcp_tools": []}));
        assert_error(
            parse_toml("[models.Task]\nmcp_tools = [\"reed\"]\n", "t.toml"),
            Some("Task"),
            &[
                "t.toml",
                "model Task",
                "`mcp_tools`",
                "unknown operation `reed`",
                "bulk_upsert",
            ],
        );
        assert_error(
            parse_toml("[models.Task]\nmcp_tools = \"read\"\n", "t.toml"),
            Some("Task"),
            &["`mcp_tools` must be a list of strings"],
        );
        assert_error(
            parse_json(r#"{"models": {"Task": {"mcp_tools": [1]}}}"#, "t.json"),
            Some("Task"),
            &["t.json", "`mcp_tools`"],
        );
    }

    #[test]
    fn unknown_field_key() {
        let text = "[models.Task]\nfields.estimate = { type = \"integer\", optinal = true }\n";
        let err = parse_toml(text, "tasks.toml").unwrap_err();
        assert_eq!(
            err,
            Error::validation(
                "Task.estimate",
                "tasks.toml: model Task, field estimate: unknown key `optinal`"
            )
        );
    }

    #[test]
    fn unknown_model_key() {
        let text = "[models.Task]\nsoft_deletes = true\n";
        assert_error(
            parse_toml(text, "tasks.toml"),
            Some("Task"),
            &["tasks.toml", "model Task", "unknown key `soft_deletes`"],
        );
        let json = r#"{"models": {"Task": {"fields": {}, "tabel": "t"}}}"#;
        assert_error(
            parse_json(json, "tasks.json"),
            Some("Task"),
            &["tasks.json", "model Task", "`tabel`"],
        );
    }

    #[test]
    fn unknown_type() {
        let text = "[models.Task]\nfields.title = { type = \"strng\" }\n";
        assert_error(
            parse_toml(text, "tasks.toml"),
            Some("Task.title"),
            &[
                "tasks.toml",
                "model Task",
                "field title",
                "`strng`",
                "`type`",
            ],
        );
        let missing = "[models.Task]\nfields.title = { typ = \"string\" }\n";
        assert_error(
            parse_toml(missing, "tasks.toml"),
            Some("Task.title"),
            &["tasks.toml", "model Task", "unknown key `typ`"],
        );
        let missing = "[models.Task]\nfields.title = { optional = true }\n";
        assert_error(
            parse_toml(missing, "tasks.toml"),
            Some("Task.title"),
            &["tasks.toml", "model Task", "`type` is missing"],
        );
    }

    /// Parses `[models.Task]` followed by `line` from `tasks.toml` and checks the error.
    #[track_caller]
    fn assert_task_error(line: &str, field: &str, words: &str) {
        let text = format!("[models.Task]\n{line}\n");
        assert_error(
            parse_toml(&text, "tasks.toml"),
            Some(field),
            &["tasks.toml", "model Task", words],
        );
    }

    #[test]
    fn wrong_value_kinds() {
        let fields = [
            (
                r#"type = "string", unique = "yes""#,
                "`unique` must be a boolean, got a string",
            ),
            (
                r#"type = "string", optional = 1"#,
                "`optional` must be a boolean",
            ),
            (
                r#"type = "string", max_length = -1"#,
                "`max_length` must be a whole number",
            ),
            (
                r#"type = "string", max_length = 1.5"#,
                "`max_length` must be a whole number",
            ),
            (
                r#"type = "string", max_length = 5000000000"#,
                "from 0 to 4294967295",
            ),
            (
                r#"type = "decimal", scale = "2""#,
                "`scale` must be a whole number, got a string",
            ),
            (
                r#"type = "enum", values = ["a", 1]"#,
                "`values` must be a list of strings",
            ),
            (
                r#"type = "enum", values = "a""#,
                "`values` must be a list of strings, got a",
            ),
            (
                r#"type = "integer", references = 3"#,
                "`references` must be a string",
            ),
            (
                r#"type = "integer", on_delete = "nullify""#,
                "`on_delete` must be restrict",
            ),
            (
                r#"type = "string", description = false"#,
                "`description` must be a string",
            ),
        ];
        for (spec, words) in fields {
            let line = format!("fields.title = {{ {spec} }}");
            assert_task_error(&line, "Task.title", "field title");
            assert_task_error(&line, "Task.title", words);
        }
        assert_task_error(
            r#"fields.title = "string""#,
            "Task.title",
            "must be a table",
        );
        let models = [
            (
                r#"fields = ["title"]"#,
                "`fields` must be a table of fields",
            ),
            (r#"soft_delete = "yes""#, "`soft_delete` must be a boolean"),
            (r#"table = 5"#, "`table` must be a string, got an integer"),
            (
                r#"indexes = ["state", "due"]"#,
                "`indexes` must be a list of lists",
            ),
            (r#"unique = [["a", 2]]"#, "`unique` must be a list of lists"),
            (r#"unique = "title""#, "`unique` must be a list of lists"),
        ];
        for (line, words) in models {
            assert_task_error(line, "Task", words);
        }
    }

    #[test]
    fn the_id_takes_only_a_known_type() {
        let cases = [
            (r#"type = "uuid", unique = true"#, "unknown key `unique`"),
            (
                r#"type = "string", description = "key""#,
                "unknown key `description`",
            ),
            (r#"type = "text""#, "integer, string or uuid, not `text`"),
            (r#"type = 1"#, "`type` must be a string"),
            ("", "`type` is missing"),
        ];
        for (spec, words) in cases {
            let line = format!("fields.id = {{ {spec} }}");
            assert_task_error(&line, "Task.id", "field id");
            assert_task_error(&line, "Task.id", words);
        }
        assert_task_error(r#"fields.id = "uuid""#, "Task.id", "the id must be a table");
    }

    #[test]
    fn non_finite_floats_are_refused() {
        let text = "[models.Task]\nfields.ratio = { type = \"float\", default = nan }\n";
        assert_error(
            parse_toml(text, "tasks.toml"),
            Some("Task.ratio"),
            &[
                "tasks.toml",
                "model Task",
                "field ratio",
                "`default`",
                "finite",
            ],
        );
        let text = "[models.Task]\nfields.meta = { type = \"json\", default = [1, inf] }\n";
        assert_error(
            parse_toml(text, "tasks.toml"),
            Some("Task.meta"),
            &["tasks.toml", "`default.1`", "finite"],
        );
    }

    #[test]
    fn bad_top_levels() {
        assert_error(
            parse_toml("[model.Task]\n", "a.toml"),
            None,
            &["a.toml", "unknown top-level key `model`"],
        );
        assert_error(parse_toml("", "a.toml"), None, &["a.toml", "no `models`"]);
        assert_error(
            parse_toml("models = 1\n", "a.toml"),
            None,
            &["a.toml", "`models` must be a table"],
        );
        assert_error(
            parse_toml("[models]\nTask = 1\n", "a.toml"),
            Some("Task"),
            &["a.toml", "model Task", "must be a table"],
        );
        assert_error(
            parse_json("[]", "a.json"),
            None,
            &["a.json", "top level must be a table"],
        );
        assert_error(
            parse_json("{\"models\": {", "a.json"),
            None,
            &["a.json", "not valid JSON", "line 1"],
        );
        assert_error(
            parse_toml("[models.Task\n", "a.toml"),
            None,
            &["a.toml", "line 1"],
        );
    }

    #[test]
    fn cross_model_checks_are_left_to_the_schema() {
        let text =
            "[models.Task]\nfields.owner_id = { type = \"integer\", references = \"Nobody\" }\n";
        let defs = parse_toml(text, "tasks.toml").unwrap();
        let err = Schema::new(defs).unwrap_err();
        assert_eq!(err.field(), Some("Task.owner_id"));
        let text = "[models.Task]\nfields.n = { type = \"integer\", default = \"x\" }\n";
        let defs = parse_toml(text, "tasks.toml").unwrap();
        let err = Schema::new(defs).unwrap_err();
        assert_eq!(err.field(), Some("Task.n"));
    }

    fn temp_file(name: &str, text: &str) -> std::path::PathBuf {
        let dir = std::env::temp_dir().join(format!("flowgate-file-tests-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let path = dir.join(name);
        std::fs::write(&path, text).unwrap();
        path
    }

    #[test]
    fn reads_files_by_extension() {
        let toml = temp_file("design.toml", DESIGN_EXAMPLE);
        assert_eq!(read_schema_file(&toml).unwrap(), design_defs());
        let json = temp_file("design.JSON", &to_json(&design_defs()).to_string());
        assert_eq!(read_schema_file(&json).unwrap(), design_defs());

        let yaml = temp_file("design.yaml", "models: {}");
        let shown = yaml.display().to_string();
        assert_error(read_schema_file(&yaml), None, &[&shown, ".toml or .json"]);

        let missing = toml.with_file_name("missing.toml");
        let shown = missing.display().to_string();
        assert_error(read_schema_file(&missing), None, &[&shown, "cannot read"]);

        let bad = temp_file(
            "bad.toml",
            "[models.Task]\nfields.x = { type = \"integer\", optinal = true }\n",
        );
        let shown = bad.display().to_string();
        assert_error(
            read_schema_file(&bad),
            Some("Task.x"),
            &[&shown, "unknown key `optinal`"],
        );
        std::fs::remove_dir_all(toml.parent().unwrap()).unwrap();
    }
}
