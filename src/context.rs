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
            request_id: new_request_id(),
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

/// A fresh request id: a time-ordered UUID (version 7) as hyphenated lower-case text.
///
/// Each thread keeps its own generator, so that making an id on every request takes no
/// process-wide lock (`Uuid::now_v7` shares one behind a mutex). Ids made on different threads in
/// the same millisecond are not ordered among themselves, which a request id does not need.
pub fn new_request_id() -> String {
    use uuid::timestamp::{Timestamp, context::ContextV7};
    thread_local! {
        static CONTEXT: ContextV7 = const { ContextV7::new() };
    }
    let id = CONTEXT.with(|c| uuid::Uuid::new_v7(Timestamp::now(c)));
    let mut buf = [0u8; uuid::fmt::Hyphenated::LENGTH];
    id.hyphenated().encode_lower(&mut buf).to_owned()
}

#[cfg(test)]
mod tests {
    #[test]
    fn request_ids_are_distinct_version_7_uuids() {
        let a = super::new_request_id();
        let b = super::new_request_id();
        assert_ne!(a, b);
        for id in [a, b] {
            let parsed = uuid::Uuid::parse_str(&id).expect("a UUID");
            assert_eq!(parsed.get_version_num(), 7);
            assert_eq!(id, parsed.hyphenated().to_string());
        }
    }
}
