//! Orderings and keyset cursors.

use crate::error::{Error, Result};
use crate::model::{FieldType, ModelInfo, Role};
use crate::value::{self, Val};
use base64::Engine;
use serde_json::Value;

/// One sort key. Nulls sort last ascending and first descending, on every database.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OrderBy {
    /// The column.
    pub column: String,
    /// Whether the order is descending.
    pub desc: bool,
}

/// Parses `order_by`: `"-created_at"`, `"title,-due"` or a list of such names. The id is appended
/// as the last key when absent, so that the order is total (cursors need that).
pub fn parse_order_by(model: &ModelInfo, json: Option<&Value>) -> Result<Vec<OrderBy>> {
    let mut names: Vec<String> = Vec::new();
    match json {
        None | Some(Value::Null) => {}
        Some(Value::String(s)) => names.extend(
            s.split(',')
                .map(|p| p.trim().to_string())
                .filter(|p| !p.is_empty()),
        ),
        Some(Value::Array(items)) => {
            for (i, item) in items.iter().enumerate() {
                let s = item.as_str().ok_or_else(|| {
                    Error::validation(
                        format!("order_by[{i}]"),
                        "each key is a field name, `-` first for descending",
                    )
                })?;
                names.push(s.trim().to_string());
            }
        }
        Some(other) => {
            return Err(Error::validation(
                "order_by",
                format!(
                    "expected a string or a list of strings, got {}",
                    value::kind_of(other)
                ),
            ));
        }
    }
    if names.len() > 8 {
        return Err(Error::validation("order_by", "at most 8 sort keys"));
    }
    let mut keys: Vec<OrderBy> = Vec::with_capacity(names.len() + 1);
    for name in names {
        let (desc, field) = match name.strip_prefix('-') {
            Some(f) => (true, f),
            None => (false, name.strip_prefix('+').unwrap_or(&name)),
        };
        let Some(col) = model.column(field) else {
            return Err(Error::validation(
                format!("order_by.{field}"),
                model.unknown_field(field),
            ));
        };
        if matches!(
            col.ty(),
            FieldType::Json | FieldType::Bytes | FieldType::Text
        ) {
            return Err(Error::validation(
                format!("order_by.{field}"),
                format!("cannot sort by a {} field", col.ty()),
            ));
        }
        if keys.iter().any(|k| k.column == field) {
            return Err(Error::validation(
                format!("order_by.{field}"),
                "listed twice",
            ));
        }
        keys.push(OrderBy {
            column: field.to_string(),
            desc,
        });
    }
    if !keys.iter().any(|k| k.column == "id") {
        keys.push(OrderBy {
            column: "id".into(),
            desc: false,
        });
    }
    Ok(keys)
}

/// A keyset position: the sort-key values of the last row of a page.
#[derive(Debug, Clone, PartialEq)]
pub struct Cursor {
    /// One value per sort key, in order.
    pub values: Vec<Val>,
}

impl Cursor {
    /// The cursor of a record (a JSON object with every sort key), as opaque text.
    pub fn encode(record: &serde_json::Map<String, Value>, order: &[OrderBy]) -> String {
        Cursor::encode_keys(
            order
                .iter()
                .map(|k| record.get(&k.column).cloned().unwrap_or(Value::Null)),
        )
    }

    /// The cursor of a record given by the values of its sort keys, in order.
    pub fn encode_keys(values: impl Iterator<Item = Value>) -> String {
        let text = Value::Array(values.collect()).to_string();
        base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(text)
    }

    /// Reads a cursor made by [`Cursor::encode`] for the same ordering.
    pub fn decode(model: &ModelInfo, order: &[OrderBy], text: &str) -> Result<Cursor> {
        let bad = || {
            Error::validation(
                "cursor",
                "not a cursor of this listing (it must come from next_cursor with the same order_by)",
            )
        };
        let bytes = base64::engine::general_purpose::URL_SAFE_NO_PAD
            .decode(text.trim())
            .map_err(|_| bad())?;
        let Ok(Value::Array(items)) = serde_json::from_slice::<Value>(&bytes) else {
            return Err(bad());
        };
        if items.len() != order.len() {
            return Err(bad());
        }
        let mut values = Vec::with_capacity(items.len());
        for (key, item) in order.iter().zip(&items) {
            let col = model.column(&key.column).ok_or_else(bad)?;
            if item.is_null() {
                if !col.def.optional {
                    return Err(bad());
                }
                values.push(Val::Null);
                continue;
            }
            let v = if col.role == Role::Id {
                value::coerce_id(col.ty(), item)
            } else {
                value::coerce(col.shape(), item)
            };
            values.push(v.map_err(|_| bad())?);
        }
        Ok(Cursor { values })
    }
}
