//! Reading an operation's params: a JSON object (or none), each param checked for its type, and
//! unknown params refused by name.

use crate::error::{Error, Result};
use crate::params::{BulkBody, RecordsText};
use crate::value;
use serde_json::{Map, Value};

/// The params of one operation: a JSON object (or null, meaning none), and for a bulk write
/// from a request body, its `data` records as text.
#[derive(Clone, Copy)]
pub(crate) struct Params<'a> {
    map: Option<&'a Map<String, Value>>,
    records: Option<&'a RecordsText>,
}

impl<'a> Params<'a> {
    /// The params of a bulk write's body: its params object and its records as text.
    pub(super) fn body(b: &'a BulkBody) -> Params<'a> {
        Params {
            map: Some(&b.params),
            records: Some(&b.records),
        }
    }

    /// The records of a bulk write's body, when the params came as one.
    pub(super) fn records(&self) -> Option<&'a RecordsText> {
        self.records
    }

    pub(super) fn new(v: &'a Value) -> Result<Params<'a>> {
        match v {
            Value::Null => Ok(Params {
                map: None,
                records: None,
            }),
            Value::Object(map) => Ok(Params {
                map: Some(map),
                records: None,
            }),
            other => Err(Error::invalid(format!(
                "params must be a JSON object, got {}",
                value::kind_of(other)
            ))),
        }
    }

    pub(super) fn map(&self) -> Option<&'a Map<String, Value>> {
        self.map
    }

    /// Refuses params outside `allowed`, naming the first unknown one.
    pub(super) fn only(&self, allowed: &[&str]) -> Result<()> {
        for key in self.map.into_iter().flat_map(|m| m.keys()) {
            if !allowed.contains(&key.as_str()) {
                return Err(Error::validation(
                    key,
                    format!(
                        "unknown param `{key}` (expected one of: {})",
                        allowed.join(", ")
                    ),
                ));
            }
        }
        Ok(())
    }

    pub(super) fn get(&self, key: &str) -> Option<&'a Value> {
        self.map.and_then(|m| m.get(key)).filter(|v| !v.is_null())
    }

    pub(super) fn require(&self, key: &str) -> Result<&'a Value> {
        self.get(key)
            .ok_or_else(|| Error::validation(key, format!("`{key}` is required")))
    }

    pub(super) fn bool(&self, key: &str) -> Result<Option<bool>> {
        match self.get(key) {
            None => Ok(None),
            Some(Value::Bool(b)) => Ok(Some(*b)),
            Some(Value::String(s)) if s == "true" || s == "false" => Ok(Some(s == "true")),
            // Named by value, not JSON kind: `1` from a query string and 1 in JSON read alike.
            Some(other) => Err(Error::validation(
                key,
                format!("expected a boolean, got `{}`", value::shown(other)),
            )),
        }
    }

    pub(super) fn u64(&self, key: &str) -> Result<Option<u64>> {
        match self.get(key) {
            None => Ok(None),
            Some(Value::Number(n)) if n.as_u64().is_some() => Ok(n.as_u64()),
            Some(Value::String(s)) if s.parse::<u64>().is_ok() => Ok(s.parse().ok()),
            Some(other) => Err(Error::validation(
                key,
                format!(
                    "expected a non-negative integer, got `{}`",
                    value::shown(other)
                ),
            )),
        }
    }

    pub(super) fn object(&self, key: &str) -> Result<Option<&'a Map<String, Value>>> {
        match self.get(key) {
            None => Ok(None),
            Some(Value::Object(m)) => Ok(Some(m)),
            Some(other) => Err(Error::validation(
                key,
                format!("expected an object, got {}", value::kind_of(other)),
            )),
        }
    }

    pub(super) fn array(&self, key: &str) -> Result<Option<&'a Vec<Value>>> {
        match self.get(key) {
            None => Ok(None),
            Some(Value::Array(a)) => Ok(Some(a)),
            Some(other) => Err(Error::validation(
                key,
                format!("expected a list, got {}", value::kind_of(other)),
            )),
        }
    }

    /// A list of names, as a JSON list or a comma-separated string.
    pub(super) fn names(&self, key: &str) -> Result<Option<Vec<String>>> {
        match self.get(key) {
            None => Ok(None),
            // Comma-separated names (a query string); an empty one (`fields=`, `a,,b`) is a
            // mistake, not a request for nothing.
            Some(Value::String(s)) => s
                .split(',')
                .map(|p| {
                    let p = p.trim();
                    if p.is_empty() {
                        Err(Error::validation(key, "an empty field name"))
                    } else {
                        Ok(p.to_string())
                    }
                })
                .collect::<Result<Vec<_>>>()
                .map(Some),
            Some(Value::Array(items)) => items
                .iter()
                .enumerate()
                .map(|(i, v)| {
                    v.as_str().map(str::to_string).ok_or_else(|| {
                        Error::validation(format!("{key}[{i}]"), "expected a field name")
                    })
                })
                .collect::<Result<Vec<_>>>()
                .map(Some),
            Some(other) => Err(Error::validation(
                key,
                format!(
                    "expected a list of field names, got {}",
                    value::kind_of(other)
                ),
            )),
        }
    }

    /// A JSON string or an object (query strings carry filters as JSON text).
    pub(super) fn filter_json(&self, key: &str) -> Result<Value> {
        match self.get(key) {
            None => Ok(Value::Null),
            Some(Value::String(s)) => serde_json::from_str(s)
                .map_err(|e| Error::validation(key, format!("not valid JSON: {e}"))),
            Some(v) => Ok(v.clone()),
        }
    }
}
