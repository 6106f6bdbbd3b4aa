//! An operation's result in the form its channel sends it: a JSON value (MCP, workflows, Rust
//! callers), or the JSON text itself (the REST API), which a read by id or a list encodes
//! straight from the rows, without building a `serde_json::Value` first.

use serde_json::Value;

/// The form a caller wants an operation's result in.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Form {
    /// A [`Value`].
    #[default]
    Value,
    /// JSON text. The store encodes the records of a read by id and of a list straight from
    /// their rows; other operations give a value, which [`Output::into_json`] encodes.
    Json,
}

/// An operation's result: a value, or its JSON text.
#[derive(Debug, Clone, PartialEq)]
pub enum Output {
    /// The result as a value.
    Value(Value),
    /// The result as JSON text (UTF-8), exactly what encoding its value gives.
    Json(Vec<u8>),
}

impl Output {
    /// The result as a value (JSON text is parsed: callers wanting a value ask for
    /// [`Form::Value`], so this is rare).
    pub fn into_value(self) -> crate::Result<Value> {
        match self {
            Output::Value(v) => Ok(v),
            Output::Json(text) => serde_json::from_slice(&text).map_err(|e| {
                crate::Error::internal_from(format!("an encoded result does not parse: {e}"), e)
            }),
        }
    }

    /// The result as JSON text.
    pub fn into_json(self) -> Vec<u8> {
        match self {
            Output::Json(text) => text,
            // A `Value` always encodes (its map keys are strings).
            Output::Value(v) => serde_json::to_vec(&v).unwrap_or_default(),
        }
    }
}
