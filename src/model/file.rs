//! Schema files (TOML and JSON): being written.
use super::def::ModelDef;
use crate::error::{Error, Result};
use std::path::Path;

/// Parses a TOML schema file's text. `source` names the file in errors.
pub fn parse_toml(_text: &str, source: &str) -> Result<Vec<ModelDef>> {
    Err(Error::invalid(format!(
        "{source}: schema files are not supported yet"
    )))
}
/// Parses a JSON schema file's text. `source` names the file in errors.
pub fn parse_json(_text: &str, source: &str) -> Result<Vec<ModelDef>> {
    Err(Error::invalid(format!(
        "{source}: schema files are not supported yet"
    )))
}
/// Reads a schema file, TOML or JSON by its extension.
pub fn read_schema_file(path: &Path) -> Result<Vec<ModelDef>> {
    Err(Error::invalid(format!(
        "{}: schema files are not supported yet",
        path.display()
    )))
}
/// The canonical JSON form of a set of models (the JSON schema-file shape).
pub fn to_json(_defs: &[ModelDef]) -> serde_json::Value {
    serde_json::Value::Null
}
