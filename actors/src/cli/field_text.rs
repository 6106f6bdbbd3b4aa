//! A field's value from text, typed by the model: what a field flag and a CSV cell give.

use flowgate::model::{FieldDef, FieldType};
use serde_json::Value;

/// Converts a flag or CSV text to a field's JSON type: integers, floats, booleans
/// (`true/false/yes/no/1/0`), JSON for json fields; `null` for an optional field that is not
/// text; the rest stays text for the operation to check.
pub(crate) fn convert(f: &FieldDef, text: &str) -> Result<Value, String> {
    let textual = matches!(
        f.ty,
        FieldType::String | FieldType::Text | FieldType::Enum | FieldType::Json
    );
    if f.optional && !textual && text == "null" {
        return Ok(Value::Null);
    }
    match f.ty {
        FieldType::Integer => text
            .trim()
            .parse::<i64>()
            .map(Value::from)
            .map_err(|_| format!("expected an integer, got {text:?}")),
        FieldType::Float => text
            .trim()
            .parse::<f64>()
            .ok()
            .and_then(serde_json::Number::from_f64)
            .map(Value::Number)
            .ok_or_else(|| format!("expected a number, got {text:?}")),
        FieldType::Boolean => match text.trim().to_ascii_lowercase().as_str() {
            "true" | "yes" | "y" | "on" | "1" => Ok(Value::Bool(true)),
            "false" | "no" | "n" | "off" | "0" => Ok(Value::Bool(false)),
            _ => Err(format!("expected true or false, got {text:?}")),
        },
        FieldType::Json => {
            serde_json::from_str(text).map_err(|e| format!("expected JSON, got {text:?}: {e}"))
        }
        _ => Ok(Value::String(text.to_string())),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn conversions() {
        let int = FieldDef::integer("pages");
        assert_eq!(convert(&int, "412"), Ok(json!(412)));
        assert!(convert(&int, "4x").is_err());
        assert_eq!(
            convert(&FieldDef::integer("n").optional(), "null"),
            Ok(Value::Null)
        );
        assert_eq!(
            convert(&FieldDef::string("s").optional(), "null"),
            Ok(json!("null"))
        );
        assert_eq!(convert(&FieldDef::boolean("b"), "yes"), Ok(json!(true)));
        assert_eq!(convert(&FieldDef::float("f"), "1.5"), Ok(json!(1.5)));
        assert_eq!(convert(&FieldDef::json("j"), "[1, 2]"), Ok(json!([1, 2])));
    }
}
