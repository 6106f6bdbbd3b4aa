//! Workflow files: TOML, JSON and YAML with the same keys (DESIGN section 8).
//!
//! ```yaml
//! name: signup
//! transactional: true
//! inputs: {email: string, note: {type: string, optional: true}}
//! nodes:
//!   - {id: user, type: UserCreateNode, params: {email: "${email}"}}
//!   - {id: note, type: NoteCreateNode, params: {body: "${note}"}}
//! connections:
//!   - {from: user, output: id, to: note, input: user_id}
//! ```
//!
//! Each format is read into one JSON tree (keeping key order), and that tree is walked once:
//! unknown keys and values of the wrong kind are errors naming the file and the key, then the
//! builder's checks run and their errors name the file too.

use super::inputs::{InputDef, InputType};
use super::{Connection, Workflow, WorkflowBuilder};
use crate::error::{Error, Result};
use crate::value::kind_of;
use serde_json::{Map, Value};
use std::path::Path;

/// The format of a workflow file.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FileFormat {
    /// TOML (`.toml`).
    Toml,
    /// JSON (`.json`).
    Json,
    /// YAML (`.yaml`, `.yml`).
    Yaml,
}

impl FileFormat {
    /// The format a path's extension names, if any.
    pub fn from_path(path: &Path) -> Option<FileFormat> {
        let ext = path.extension()?.to_str()?.to_ascii_lowercase();
        match ext.as_str() {
            "toml" => Some(FileFormat::Toml),
            "json" => Some(FileFormat::Json),
            "yaml" | "yml" => Some(FileFormat::Yaml),
            _ => None,
        }
    }
}

/// Parses a workflow file's text. `source` names the file in errors.
pub fn parse(text: &str, format: FileFormat, source: &str) -> Result<Workflow> {
    parse_named(text, format, source, None)
}

/// Reads a workflow file; the format comes from the extension (`.toml`, `.json`, `.yaml`,
/// `.yml`). A file without `name` takes the file's stem as its name.
pub fn load(path: &Path) -> Result<Workflow> {
    let source = path.display().to_string();
    let format = FileFormat::from_path(path).ok_or_else(|| {
        Error::invalid(format!(
            "{source}: a workflow file must end in .toml, .json, .yaml or .yml"
        ))
    })?;
    let text = std::fs::read_to_string(path)
        .map_err(|e| Error::invalid(format!("{source}: cannot read the file: {e}")))?;
    let stem = path.file_stem().and_then(|s| s.to_str());
    parse_named(&text, format, &source, stem)
}

/// The top-level keys of a file's text, when it reads as a table/object in `format`: enough to
/// tell a workflow file (`name`, `nodes`, ...) from a schema file (`models`) in a directory that
/// holds both, and to name a workflow whose file does not build.
pub fn top_level(text: &str, format: FileFormat) -> Option<Map<String, Value>> {
    match read_tree(text, format, "") {
        Ok(Value::Object(m)) => Some(m),
        _ => None,
    }
}

fn parse_named(
    text: &str,
    format: FileFormat,
    source: &str,
    default_name: Option<&str>,
) -> Result<Workflow> {
    let root = read_tree(text, format, source)?;
    builder_from(&root, source, default_name)?
        .build()
        .map_err(|e| in_file(source, e))
}

/// Prefixes an error's message with the file's name.
fn in_file(source: &str, e: Error) -> Error {
    match e {
        Error::Validation { field, reason } => Error::Validation {
            field,
            reason: format!("{source}: {reason}"),
        },
        other => other,
    }
}

fn read_tree(text: &str, format: FileFormat, source: &str) -> Result<Value> {
    match format {
        FileFormat::Json => serde_json::from_str(text)
            .map_err(|e| Error::invalid(format!("{source}: not valid JSON: {e}"))),
        FileFormat::Yaml => yaml_serde::from_str(text)
            .map_err(|e| Error::invalid(format!("{source}: not valid YAML: {e}"))),
        FileFormat::Toml => {
            let table: toml::Table = text.parse().map_err(|e: toml::de::Error| {
                Error::invalid(format!("{source}: {}", e.to_string().trim_end()))
            })?;
            let mut path = Vec::new();
            crate::model::toml_to_json(toml::Value::Table(table), &mut path)
                .map_err(|reason| Error::validation(path.join("."), format!("{source}: {reason}")))
        }
    }
}

/// Where a value is in the file, for errors.
struct At<'a> {
    source: &'a str,
    field: String,
    what: String,
}

impl At<'_> {
    fn err(&self, key: Option<&str>, reason: impl std::fmt::Display) -> Error {
        let field = match key {
            Some(k) if self.field.is_empty() => k.to_string(),
            Some(k) => format!("{}.{k}", self.field),
            None => self.field.clone(),
        };
        Error::validation(field, format!("{}: {}: {reason}", self.source, self.what))
    }

    fn object<'v>(&self, v: &'v Value, allowed: &[&str]) -> Result<&'v Map<String, Value>> {
        let Value::Object(m) = v else {
            return Err(self.err(None, format!("expected a table/object, got {}", kind_of(v))));
        };
        for key in m.keys() {
            if !allowed.contains(&key.as_str()) {
                return Err(self.err(
                    Some(key),
                    format!(
                        "unknown key `{key}` (expected one of: {})",
                        allowed.join(", ")
                    ),
                ));
            }
        }
        Ok(m)
    }

    fn string(&self, m: &Map<String, Value>, key: &str) -> Result<Option<String>> {
        match m.get(key) {
            None => Ok(None),
            Some(Value::String(s)) => Ok(Some(s.clone())),
            Some(other) => Err(self.err(
                Some(key),
                format!("`{key}` must be a string, got {}", kind_of(other)),
            )),
        }
    }

    fn required(&self, m: &Map<String, Value>, key: &str) -> Result<String> {
        self.string(m, key)?
            .ok_or_else(|| self.err(Some(key), format!("`{key}` is required")))
    }

    fn boolean(&self, m: &Map<String, Value>, key: &str) -> Result<Option<bool>> {
        match m.get(key) {
            None => Ok(None),
            Some(Value::Bool(b)) => Ok(Some(*b)),
            Some(other) => Err(self.err(
                Some(key),
                format!("`{key}` must be a boolean, got {}", kind_of(other)),
            )),
        }
    }

    fn list<'v>(&self, m: &'v Map<String, Value>, key: &str) -> Result<&'v [Value]> {
        match m.get(key) {
            None => Ok(&[]),
            Some(Value::Array(a)) => Ok(a),
            Some(other) => Err(self.err(
                Some(key),
                format!("`{key}` must be a list, got {}", kind_of(other)),
            )),
        }
    }
}

const TOP_KEYS: [&str; 6] = [
    "name",
    "description",
    "transactional",
    "inputs",
    "nodes",
    "connections",
];

fn builder_from(root: &Value, source: &str, default_name: Option<&str>) -> Result<WorkflowBuilder> {
    let top_at = At {
        source,
        field: String::new(),
        what: "the workflow".into(),
    };
    let top = top_at.object(root, &TOP_KEYS)?;
    let name = match (top_at.string(top, "name")?, default_name) {
        (Some(n), _) => n,
        (None, Some(d)) => d.to_string(),
        (None, None) => return Err(top_at.err(Some("name"), "`name` is required")),
    };
    let mut b = WorkflowBuilder::new(name);
    if let Some(d) = top_at.string(top, "description")? {
        b = b.description(d);
    }
    if let Some(t) = top_at.boolean(top, "transactional")? {
        b = b.transactional(t);
    }
    match top.get("inputs") {
        None => {}
        Some(Value::Object(inputs)) => {
            b = b.no_inputs();
            for (name, spec) in inputs {
                b = b.input(name.clone(), input_def(source, name, spec)?);
            }
        }
        Some(other) => {
            return Err(top_at.err(
                Some("inputs"),
                format!(
                    "`inputs` must be a table of input names to types, got {}",
                    kind_of(other)
                ),
            ));
        }
    }
    for (i, node) in top_at.list(top, "nodes")?.iter().enumerate() {
        let id_hint = node
            .get("id")
            .and_then(Value::as_str)
            .map(str::to_string)
            .unwrap_or_else(|| i.to_string());
        let at = At {
            source,
            field: format!("nodes.{id_hint}"),
            what: format!("node `{id_hint}`"),
        };
        let m = at.object(node, &["id", "type", "params"])?;
        let id = at.required(m, "id")?;
        let ty = at.required(m, "type")?;
        let params = m.get("params").cloned().unwrap_or(Value::Null);
        b = b.add_node(ty, id, params);
    }
    for (i, conn) in top_at.list(top, "connections")?.iter().enumerate() {
        let at = At {
            source,
            field: format!("connections.{i}"),
            what: format!("connection {i}"),
        };
        let m = at.object(conn, &["from", "output", "to", "input"])?;
        b = b.connection(Connection {
            from: at.required(m, "from")?,
            output: at.string(m, "output")?.unwrap_or_default(),
            to: at.required(m, "to")?,
            input: at.string(m, "input")?,
        });
    }
    Ok(b)
}

fn input_def(source: &str, name: &str, spec: &Value) -> Result<InputDef> {
    let at = At {
        source,
        field: format!("inputs.{name}"),
        what: format!("input `{name}`"),
    };
    let parse_type = |ty: &str| {
        InputType::parse(ty).ok_or_else(|| {
            at.err(
                None,
                format!(
                    "unknown type `{ty}` (expected string, integer, number, boolean, object, \
                     array, any, or a field type: text, float, decimal, date, datetime, uuid, \
                     json, bytes)"
                ),
            )
        })
    };
    match spec {
        Value::String(ty) => Ok(InputDef::new(parse_type(ty)?)),
        Value::Object(_) => {
            let m = at.object(spec, &["type", "optional", "default", "description"])?;
            let mut def = InputDef::new(parse_type(&at.required(m, "type")?)?);
            def.optional = at.boolean(m, "optional")?.unwrap_or(false);
            def.default = m.get("default").cloned();
            def.description = at.string(m, "description")?;
            Ok(def)
        }
        other => Err(at.err(
            None,
            format!(
                "an input is a type name or a table with `type`, got {}",
                kind_of(other)
            ),
        )),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn unknown_keys_name_the_file_and_key() {
        for (text, field) in [
            (r#"{"name": "w", "nodez": []}"#, "nodez"),
            (
                r#"{"name": "w", "nodes": [{"id": "a", "type": "UserReadNode", "parms": {}}]}"#,
                "nodes.a.parms",
            ),
            (
                r#"{"name": "w", "nodes": [], "connections": [{"from": "a", "to": "b", "x": 1}]}"#,
                "connections.0.x",
            ),
            (
                r#"{"name": "w", "inputs": {"e": {"typ": "string"}}}"#,
                "inputs.e.typ",
            ),
            (r#"{"name": "w", "inputs": {"e": "strng"}}"#, "inputs.e"),
        ] {
            let e = parse(text, FileFormat::Json, "wf.json").unwrap_err();
            assert_eq!(e.field(), Some(field), "{text}");
            assert!(e.to_string().starts_with("wf.json: "), "{e}");
        }
    }

    #[test]
    fn file_without_name_needs_one() {
        let e = parse(r#"{"nodes": []}"#, FileFormat::Json, "x.json").unwrap_err();
        assert_eq!(e.field(), Some("name"));
    }
}
