//! The one error type of the data layer.
//!
//! Every failure an operation can report is one variant here, with a stable `code` string that
//! every channel (HTTP, MCP, CLI) carries unchanged. The HTTP status for each code lives in the
//! gateway; this module knows nothing of wire formats.

use serde_json::Value;

/// A failed operation, typed by cause.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum Error {
    /// The input was refused before anything changed. `field` names the field, param or operator
    /// at fault when there is one.
    #[error("{reason}")]
    Validation {
        /// The field, param or operator at fault (for example `email`, `filter.age.$gt`).
        field: Option<String>,
        /// What is wrong, in lowercase without a trailing period.
        reason: String,
    },
    /// The record does not exist (or is soft-deleted and was not asked for).
    #[error("{model} {id} not found")]
    NotFound {
        /// The model's name.
        model: String,
        /// The id that was looked up, as text.
        id: String,
    },
    /// A unique key or a reference would be broken.
    #[error("{reason}")]
    Conflict {
        /// The field or unique set at fault, when the database says which.
        field: Option<String>,
        /// What is wrong.
        reason: String,
    },
    /// The principal may not do this.
    #[error("{0}")]
    Forbidden(String),
    /// No principal, or a bad credential.
    #[error("{0}")]
    Unauthorized(String),
    /// Too many requests; retry after the given delay.
    #[error("rate limited, retry after {retry_after_ms} ms")]
    RateLimited {
        /// How long to wait before retrying.
        retry_after_ms: u64,
    },
    /// The model or feature is not ready yet.
    #[error("{what} is not ready ({state})")]
    NotReady {
        /// What was asked for (for example `model:User`).
        what: String,
        /// Its state on the readiness board.
        state: String,
        /// How long to wait before retrying.
        retry_after_ms: u64,
    },
    /// The database or a dependency cannot be reached.
    #[error("{0}")]
    Unavailable(String),
    /// A bug or an unexpected database answer. The message is for logs, never for callers.
    #[error("{0}")]
    Internal(String),
}

/// The data layer's result type.
pub type Result<T, E = Error> = std::result::Result<T, E>;

impl Error {
    /// A validation error naming `field`.
    pub fn validation(field: impl Into<String>, reason: impl Into<String>) -> Self {
        Error::Validation {
            field: Some(field.into()),
            reason: reason.into(),
        }
    }

    /// A validation error that names no single field.
    pub fn invalid(reason: impl Into<String>) -> Self {
        Error::Validation {
            field: None,
            reason: reason.into(),
        }
    }

    /// The stable code string, the same on every channel.
    pub fn code(&self) -> &'static str {
        match self {
            Error::Validation { .. } => "validation",
            Error::NotFound { .. } => "not_found",
            Error::Conflict { .. } => "conflict",
            Error::Forbidden(_) => "forbidden",
            Error::Unauthorized(_) => "unauthorized",
            Error::RateLimited { .. } => "rate_limited",
            Error::NotReady { .. } => "not_ready",
            Error::Unavailable(_) => "unavailable",
            Error::Internal(_) => "internal",
        }
    }

    /// The field at fault, when the error names one.
    pub fn field(&self) -> Option<&str> {
        match self {
            Error::Validation { field, .. } | Error::Conflict { field, .. } => field.as_deref(),
            _ => None,
        }
    }

    /// Prefixes the field path, so that an error inside `data[3]` names `data[3].email`.
    pub fn within(self, prefix: &str) -> Self {
        let join = |f: Option<String>| match f {
            Some(f) if f.starts_with('[') => Some(format!("{prefix}{f}")),
            Some(f) => Some(format!("{prefix}.{f}")),
            None => Some(prefix.to_string()),
        };
        match self {
            Error::Validation { field, reason } => Error::Validation {
                field: join(field),
                reason,
            },
            Error::Conflict { field, reason } => Error::Conflict {
                field: join(field),
                reason,
            },
            other => other,
        }
    }

    /// The message callers may see: an internal error's text (a driver message, a path, a
    /// role name) stays in the logs, and the public text says only that it happened.
    pub fn public_message(&self) -> String {
        match self {
            Error::Internal(_) => "internal error (the server log has the details)".to_string(),
            other => other.to_string(),
        }
    }

    /// The error as a JSON object `{code, message, field?, details?}`: the body every channel
    /// sends. Internal errors carry a generic message; their text is for logs only.
    pub fn to_json(&self) -> Value {
        let mut obj = serde_json::Map::new();
        obj.insert("code".into(), self.code().into());
        let message = match self {
            Error::Internal(_) => "internal error".to_string(),
            other => other.to_string(),
        };
        obj.insert("message".into(), message.into());
        if let Some(field) = self.field() {
            obj.insert("field".into(), field.into());
        }
        let details = match self {
            Error::NotFound { model, id } => Some(serde_json::json!({"model": model, "id": id})),
            Error::RateLimited { retry_after_ms } => {
                Some(serde_json::json!({"retry_after_ms": retry_after_ms}))
            }
            Error::NotReady {
                what,
                state,
                retry_after_ms,
            } => Some(
                serde_json::json!({"what": what, "state": state, "retry_after_ms": retry_after_ms}),
            ),
            _ => None,
        };
        if let Some(details) = details {
            obj.insert("details".into(), details);
        }
        Value::Object(obj)
    }
}
