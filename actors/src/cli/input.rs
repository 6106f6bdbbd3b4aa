//! Reading input given on the command line: `--data`, `--params`, `--inputs` as JSON text,
//! `@FILE` (JSON, or CSV records typed by the model) or `-` (JSON on standard input).

use super::field_text::convert;
use super::output::Failure;
use flowgate::ModelInfo;
use serde_json::{Map, Value};
use std::io::Read;
use std::path::{Path, PathBuf};

/// Reads `--data` / `--params`: JSON text, `@FILE` (JSON, or CSV when `model` is given and the
/// file ends in `.csv`), or `-` for JSON on standard input.
pub(crate) fn read_input(text: &str, model: Option<&ModelInfo>) -> Result<Value, Failure> {
    if text == "-" {
        let mut buf = String::new();
        std::io::stdin()
            .read_to_string(&mut buf)
            .map_err(|e| Failure::usage(format!("cannot read standard input: {e}")))?;
        return serde_json::from_str(&buf)
            .map_err(|e| Failure::usage(format!("standard input is not valid JSON: {e}")));
    }
    if let Some(path) = text.strip_prefix('@') {
        let path = PathBuf::from(path);
        let csv = path
            .extension()
            .and_then(|e| e.to_str())
            .is_some_and(|e| e.eq_ignore_ascii_case("csv"));
        if csv {
            let Some(m) = model else {
                return Err(Failure::usage(
                    "a CSV file is for --data of a model command",
                ));
            };
            return read_csv(&path, m);
        }
        let body = std::fs::read_to_string(&path)
            .map_err(|e| Failure::usage(format!("cannot read {}: {e}", path.display())))?;
        return serde_json::from_str(&body)
            .map_err(|e| Failure::usage(format!("{} is not valid JSON: {e}", path.display())));
    }
    serde_json::from_str(text).map_err(|e| Failure::usage(format!("not valid JSON: {e}")))
}

/// Reads JSON given as text, `@FILE` or `-` (`flowgate node --params`).
pub(crate) fn read_json_arg(text: &str) -> Result<Value, Failure> {
    read_input(text, None)
}

/// Reads a CSV file into records: a header row of field names, values converted by the
/// model's field types; an empty cell leaves the field out. Columns the model lacks pass as
/// text, for the operation to refuse by name.
fn read_csv(path: &Path, m: &ModelInfo) -> Result<Value, Failure> {
    let bad = |e: csv::Error| Failure::usage(format!("{}: {e}", path.display()));
    let mut reader = csv::ReaderBuilder::new()
        .has_headers(true)
        .from_path(path)
        .map_err(bad)?;
    let headers: Vec<String> = reader
        .headers()
        .map_err(bad)?
        .iter()
        .map(|h| h.trim_start_matches('\u{feff}').trim().to_string())
        .collect();
    let mut rows = Vec::new();
    for (i, record) in reader.records().enumerate() {
        let record = record.map_err(bad)?;
        let mut obj = Map::new();
        for (name, cell) in headers.iter().zip(record.iter()) {
            if cell.is_empty() {
                continue;
            }
            let v = match m.column(name) {
                Some(c) => convert(&c.def, cell).map_err(|reason| {
                    Failure::from(flowgate::Error::validation(
                        format!("data[{i}].{name}"),
                        reason,
                    ))
                })?,
                None => Value::String(cell.to_string()),
            };
            obj.insert(name.clone(), v);
        }
        rows.push(Value::Object(obj));
    }
    Ok(Value::Array(rows))
}
