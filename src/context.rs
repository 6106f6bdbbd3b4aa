//! Who asks, for whom, through which channel: carried by every operation from the start, so that
//! tenancy, audit and idempotency can hang on it inside the operation's own transaction.

use serde::{Deserialize, Serialize};

/// The channel an operation arrived through.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Channel {
    /// Called in-process, by Rust code.
    #[default]
    Internal,
    /// The REST API.
    Http,
    /// An MCP tool call.
    Mcp,
    /// The command line.
    Cli,
    /// A node of a workflow run.
    Workflow,
}

/// The request context of one operation.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Context {
    /// The authenticated principal, when there is one.
    pub principal: Option<String>,
    /// The tenant the operation acts for, when the application is multi-tenant.
    pub tenant: Option<String>,
    /// The channel the operation came through.
    pub channel: Channel,
    /// The request id, echoed in logs and responses.
    pub request_id: String,
    /// The caller's idempotency key, when it sent one.
    pub idempotency_key: Option<String>,
}

impl Context {
    /// A context for in-process calls with a fresh request id.
    pub fn internal() -> Self {
        Context {
            request_id: uuid::Uuid::now_v7().to_string(),
            ..Context::default()
        }
    }

    /// A context for the given channel with a fresh request id.
    pub fn for_channel(channel: Channel) -> Self {
        Context {
            channel,
            ..Context::internal()
        }
    }
}
