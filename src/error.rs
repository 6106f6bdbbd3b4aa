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
    /// What was looked up does not exist: a record (or one soft-deleted and not asked for), a
    /// model, a workflow, a run...
    #[error("{what} {id} not found")]
    NotFound {
        /// What kind of thing was looked up.
        what: Missing,
        /// The id or name that was looked up, as text.
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
    /// An operation on a tenant-scoped model that names no tenant (DESIGN 13.4: fail closed).
    #[error("{0}")]
    TenantRequired(String),
    /// Too many requests; retry after the given delay.
    #[error("rate limited, retry after {retry_after_ms} ms")]
    RateLimited {
        /// How long to wait before retrying.
        retry_after_ms: u64,
        /// The requests the limit lets through at once (its burst).
        limit: u32,
        /// How long until the whole burst is available again.
        reset_ms: u64,
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
    /// A bug or an unexpected database answer. The message (and the error that caused it) is
    /// for logs, never for callers.
    #[error(transparent)]
    Internal(Internal),
}

/// What a [`Error::NotFound`] looked for. Its text is the `model` of the error's public details:
/// the model's name for a record, else the kind of thing (`model`, `workflow`, ...).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Missing {
    /// A record of the named model.
    Record(String),
    /// A model, by name.
    Model,
    /// A model, by its table's name (REST paths and MCP tool names use tables).
    Table,
    /// A node (`<Model><Op>Node`).
    Node,
    /// A workflow.
    Workflow,
    /// A workflow run.
    Run,
    /// A feature of the server that is turned off (`audit`).
    Feature,
}

impl Missing {
    /// The text of the error's details (`model`): the model's name of a record, else the kind.
    pub fn as_str(&self) -> &str {
        match self {
            Missing::Record(model) => model,
            Missing::Model => "model",
            Missing::Table => "table",
            Missing::Node => "node",
            Missing::Workflow => "workflow",
            Missing::Run => "run",
            Missing::Feature => "feature",
        }
    }
}

impl std::fmt::Display for Missing {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// An internal error: a message for the log and, when there is one, the error that caused it
/// (kept as the [`std::error::Error::source`] of the [`Error`]). Shared (`Arc`) so that errors
/// stay `Clone`; two are equal when their messages are.
#[derive(Debug, Clone, thiserror::Error)]
#[error("{message}")]
pub struct Internal {
    message: String,
    #[source]
    source: Option<std::sync::Arc<dyn std::error::Error + Send + Sync>>,
}

impl Internal {
    /// The message for the log.
    pub fn message(&self) -> &str {
        &self.message
    }
}

impl PartialEq for Internal {
    fn eq(&self, other: &Self) -> bool {
        self.message == other.message
    }
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

    /// Something looked up does not exist.
    pub fn not_found(what: Missing, id: impl Into<String>) -> Self {
        Error::NotFound {
            what,
            id: id.into(),
        }
    }

    /// An internal error with a message for the log.
    pub fn internal(message: impl Into<String>) -> Self {
        Error::Internal(Internal {
            message: message.into(),
            source: None,
        })
    }

    /// An internal error with a message for the log and the error that caused it.
    pub fn internal_from(
        message: impl Into<String>,
        source: impl Into<Box<dyn std::error::Error + Send + Sync>>,
    ) -> Self {
        Error::Internal(Internal {
            message: message.into(),
            source: Some(std::sync::Arc::from(source.into())),
        })
    }

    /// The refusal of an operation on a tenant-scoped model without a tenant.
    pub fn tenant_required(model: &str) -> Self {
        Error::TenantRequired(format!(
            "model {model} is scoped by tenant and the request acts for no tenant"
        ))
    }

    /// The stable code string, the same on every channel.
    pub fn code(&self) -> &'static str {
        match self {
            Error::Validation { .. } => "validation",
            Error::NotFound { .. } => "not_found",
            Error::Conflict { .. } => "conflict",
            Error::Forbidden(_) => "forbidden",
            Error::Unauthorized(_) => "unauthorized",
            Error::TenantRequired(_) => "tenant_required",
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
            Error::NotFound { what, id } => {
                Some(serde_json::json!({"model": what.as_str(), "id": id}))
            }
            Error::RateLimited {
                retry_after_ms,
                limit,
                reset_ms,
            } => Some(serde_json::json!({
                "retry_after_ms": retry_after_ms, "limit": limit, "reset_ms": reset_ms
            })),
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
