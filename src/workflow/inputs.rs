//! Declared workflow inputs: a name, a type, optional or defaulted, and the check a run's inputs
//! go through before any node starts.

use crate::error::{Error, Result};
use crate::model::{Column, FieldDef, FieldType, Role};
use crate::value::{self, Shape, kind_of};
use indexmap::IndexMap;
use serde_json::{Map, Value, json};

/// The type of a workflow input: a JSON type, a model field type, or anything.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum InputType {
    /// Any JSON value (the type of inputs inferred from references, until a model field says more).
    Any,
    /// A JSON string.
    String,
    /// A whole number (i64).
    Integer,
    /// Any JSON number.
    Number,
    /// `true` or `false`.
    Boolean,
    /// A JSON object.
    Object,
    /// A JSON array.
    Array,
    /// A value of a model field type (`text`, `float`, `decimal`, `date`, `datetime`, `uuid`,
    /// `json`, `bytes`), checked as the field would check it.
    Field(FieldType),
}

impl InputType {
    /// Parses a type name: `string`, `integer`, `number`, `boolean`, `object`, `array`, `any`, or
    /// a model field type other than `enum`.
    pub fn parse(name: &str) -> Option<InputType> {
        Some(match name {
            "any" => InputType::Any,
            "string" => InputType::String,
            "integer" => InputType::Integer,
            "number" => InputType::Number,
            "boolean" => InputType::Boolean,
            "object" => InputType::Object,
            "array" => InputType::Array,
            other => match FieldType::parse(other)? {
                FieldType::Enum => return None,
                ty => InputType::Field(ty),
            },
        })
    }

    /// The type's name, as [`InputType::parse`] reads it.
    pub fn as_str(self) -> &'static str {
        match self {
            InputType::Any => "any",
            InputType::String => "string",
            InputType::Integer => "integer",
            InputType::Number => "number",
            InputType::Boolean => "boolean",
            InputType::Object => "object",
            InputType::Array => "array",
            InputType::Field(ty) => ty.as_str(),
        }
    }

    /// Checks a (non-null) value; the error is a reason in lowercase.
    pub(crate) fn check(self, v: &Value) -> Result<(), String> {
        let want = |what: &str| Err(format!("expected {what}, got {}", kind_of(v)));
        match self {
            InputType::Any => Ok(()),
            InputType::String if v.is_string() => Ok(()),
            InputType::String => want("a string"),
            InputType::Integer if v.is_i64() => Ok(()),
            InputType::Integer => want("an integer"),
            InputType::Number if v.is_number() => Ok(()),
            InputType::Number => want("a number"),
            InputType::Boolean if v.is_boolean() => Ok(()),
            InputType::Boolean => want("a boolean"),
            InputType::Object if v.is_object() => Ok(()),
            InputType::Object => want("an object"),
            InputType::Array if v.is_array() => Ok(()),
            InputType::Array => want("an array"),
            InputType::Field(ty) => value::coerce(Shape::of(ty), v).map(|_| ()),
        }
    }

    /// The JSON Schema of the type.
    pub fn json_schema(self) -> Value {
        match self {
            InputType::Any => json!({}),
            InputType::Field(ty) => crate::json_schema::column_schema(&Column {
                def: FieldDef::new("input", ty),
                role: Role::Field,
            }),
            other => json!({"type": other.as_str()}),
        }
    }
}

impl std::fmt::Display for InputType {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// A declared input.
#[derive(Debug, Clone, PartialEq)]
pub struct InputDef {
    /// Its type.
    pub ty: InputType,
    /// Whether a run may leave it out (a reference to it is then null, or nothing inside text).
    pub optional: bool,
    /// The value a run that leaves it out gets.
    pub default: Option<Value>,
    /// What it is for (flows into the input schema).
    pub description: Option<String>,
}

impl InputDef {
    /// A required input of a type.
    pub fn new(ty: InputType) -> Self {
        InputDef {
            ty,
            optional: false,
            default: None,
            description: None,
        }
    }

    /// Makes the input optional.
    pub fn optional(mut self) -> Self {
        self.optional = true;
        self
    }

    /// Gives the input a default (which makes it optional for callers).
    pub fn default(mut self, value: impl Into<Value>) -> Self {
        self.default = Some(value.into());
        self
    }

    /// Describes the input.
    pub fn description(mut self, text: impl Into<String>) -> Self {
        self.description = Some(text.into());
        self
    }

    /// Whether a run must give it.
    pub fn is_required(&self) -> bool {
        !self.optional && self.default.is_none()
    }

    /// The JSON Schema of the input's values.
    pub fn json_schema(&self) -> Value {
        let mut s = self.ty.json_schema();
        if let Some(d) = &self.description {
            s["description"] = json!(d);
        }
        if let Some(d) = &self.default {
            s["default"] = d.clone();
        }
        s
    }

    /// The canonical JSON form: the type name alone when nothing else is set.
    pub fn to_json(&self) -> Value {
        if !self.optional && self.default.is_none() && self.description.is_none() {
            return json!(self.ty.as_str());
        }
        let mut m = Map::new();
        m.insert("type".into(), json!(self.ty.as_str()));
        if self.optional {
            m.insert("optional".into(), json!(true));
        }
        if let Some(d) = &self.default {
            m.insert("default".into(), d.clone());
        }
        if let Some(d) = &self.description {
            m.insert("description".into(), json!(d));
        }
        Value::Object(m)
    }
}

impl From<InputType> for InputDef {
    fn from(ty: InputType) -> Self {
        InputDef::new(ty)
    }
}

/// Checks one default against its input's type (at build time).
pub(crate) fn check_default(name: &str, def: &InputDef) -> Result<()> {
    match &def.default {
        Some(v) if !v.is_null() => def.ty.check(v).map_err(|reason| {
            Error::validation(format!("inputs.{name}"), format!("default: {reason}"))
        }),
        _ => Ok(()),
    }
}

/// Checks a run's inputs: an object (or null, for none); unknown names, missing required inputs
/// and values of the wrong type are validation errors naming `inputs.<name>`. Defaults are filled
/// in. `declared` is false when the inputs were inferred from references: they are all required
/// and of any type.
pub(crate) fn check_run_inputs(
    defs: &IndexMap<String, InputDef>,
    given: &Value,
) -> Result<Map<String, Value>> {
    let empty = Map::new();
    let given = match given {
        Value::Null => &empty,
        Value::Object(m) => m,
        other => {
            return Err(Error::validation(
                "inputs",
                format!("inputs must be a JSON object, got {}", kind_of(other)),
            ));
        }
    };
    for key in given.keys() {
        if !defs.contains_key(key) {
            let known: Vec<&str> = defs.keys().map(String::as_str).collect();
            return Err(Error::validation(
                format!("inputs.{key}"),
                if known.is_empty() {
                    format!("unknown input `{key}`: the workflow takes no inputs")
                } else {
                    format!(
                        "unknown input `{key}` (expected one of: {})",
                        known.join(", ")
                    )
                },
            ));
        }
    }
    let mut out = Map::with_capacity(defs.len());
    for (name, def) in defs {
        let field = || format!("inputs.{name}");
        match given.get(name) {
            Some(Value::Null) | None => {
                if let Some(d) = &def.default {
                    out.insert(name.clone(), d.clone());
                } else if def.optional {
                    out.insert(name.clone(), Value::Null);
                } else {
                    return Err(Error::validation(
                        field(),
                        format!("input `{name}` is required"),
                    ));
                }
            }
            Some(v) => {
                def.ty
                    .check(v)
                    .map_err(|reason| Error::validation(field(), reason))?;
                out.insert(name.clone(), v.clone());
            }
        }
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn defs() -> IndexMap<String, InputDef> {
        let mut d = IndexMap::new();
        d.insert("email".into(), InputDef::new(InputType::String));
        d.insert("age".into(), InputDef::new(InputType::Integer).optional());
        d.insert(
            "day".into(),
            InputDef::new(InputType::Field(FieldType::Date)).default("2026-01-01"),
        );
        d
    }

    #[test]
    fn run_inputs_are_checked_and_defaulted() {
        let ok = check_run_inputs(&defs(), &json!({"email": "a@b.c"})).unwrap();
        assert_eq!(
            Value::Object(ok),
            json!({"email": "a@b.c", "age": null, "day": "2026-01-01"})
        );
        for (given, field) in [
            (json!({}), "inputs.email"),
            (json!({"email": 3}), "inputs.email"),
            (json!({"email": "x", "age": 1.5}), "inputs.age"),
            (json!({"email": "x", "day": "soon"}), "inputs.day"),
            (json!({"email": "x", "other": 1}), "inputs.other"),
            (json!([1]), "inputs"),
        ] {
            let e = check_run_inputs(&defs(), &given).unwrap_err();
            assert_eq!(e.field(), Some(field), "{given}");
            assert_eq!(e.code(), "validation");
        }
    }

    #[test]
    fn type_names_round_trip() {
        for name in [
            "any", "string", "integer", "number", "boolean", "object", "array", "text", "float",
            "decimal", "date", "datetime", "uuid", "json", "bytes",
        ] {
            assert_eq!(InputType::parse(name).unwrap().as_str(), name);
        }
        assert_eq!(InputType::parse("enum"), None);
        assert_eq!(InputType::parse("strin"), None);
    }
}
