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
    /// The REST API (`rest` in audit rows and logs).
    #[serde(rename = "rest")]
    Http,
    /// The node API (`POST /nodes/...`).
    Node,
    /// An MCP tool call.
    Mcp,
    /// The command line.
    Cli,
    /// A node of a workflow run.
    Workflow,
}

/// How a principal proved who it is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum PrincipalKind {
    /// An API key (`flowgate keys create`).
    ApiKey,
    /// A signed JSON Web Token.
    Jwt,
    /// The process itself: Rust code calling in-process, `flowgate mcp --stdio`, the CLI's local
    /// mode. It already holds the database.
    Local,
    /// No credential.
    #[default]
    Anonymous,
}

/// Who asks: set by the channel that authenticated the request, and nowhere else.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
pub struct Principal {
    /// A stable id: `key:<id>` for an API key, `jwt:<sub>` for a token, `local`, and for an
    /// anonymous caller `ip:<address>` when the channel knows it (rate limits count per id).
    pub id: String,
    /// How it authenticated.
    pub kind: PrincipalKind,
    /// Its roles, which the runtime's policy maps to permissions.
    pub roles: Vec<String>,
    /// The tenant it acts for, when its credential names one.
    pub tenant: Option<String>,
}

impl Principal {
    /// An anonymous caller, known by its address when the channel has one.
    pub fn anonymous(addr: Option<std::net::IpAddr>) -> Principal {
        Principal {
            id: match addr {
                Some(ip) => format!("ip:{ip}"),
                None => "anonymous".to_string(),
            },
            kind: PrincipalKind::Anonymous,
            roles: Vec::new(),
            tenant: None,
        }
    }

    /// The process itself, with `role`.
    pub fn local(role: &str) -> Principal {
        Principal {
            id: "local".to_string(),
            kind: PrincipalKind::Local,
            roles: vec![role.to_string()],
            tenant: None,
        }
    }

    /// Whether no credential was given.
    pub fn is_anonymous(&self) -> bool {
        self.kind == PrincipalKind::Anonymous
    }
}

/// The request context of one operation.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Context {
    /// Who asks. Anonymous unless a channel authenticated a credential; Rust code calling
    /// in-process ([`Context::internal`]) is the `local` principal with the `admin` role.
    pub principal: Principal,
    /// The tenant the operation acts for, when the application is multi-tenant.
    pub tenant: Option<String>,
    /// The channel the operation came through.
    pub channel: Channel,
    /// The request id, echoed in logs and responses.
    pub request_id: String,
    /// The caller's idempotency key, when it sent one.
    pub idempotency_key: Option<String>,
    /// What the operation came through, for the audit trail: a route (`POST /api/books`), an
    /// MCP tool, a CLI command, a workflow and its node (`workflow:signup/user`).
    pub via: Option<String>,
}

impl Context {
    /// A context for in-process calls with a fresh request id.
    pub fn internal() -> Self {
        Context {
            principal: Principal::local("admin"),
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

/// Whether `t` may name a tenant: 1 to 128 printable ASCII characters without spaces (what
/// the channels accept in `X-Tenant-ID`, `--tenant` and credentials).
pub fn check_tenant_id(t: &str) -> crate::Result<()> {
    if t.is_empty()
        || t.len() > crate::model::TENANT_MAX_LENGTH as usize
        || !t.bytes().all(|b| b.is_ascii_graphic())
    {
        return Err(crate::Error::validation(
            "tenant",
            format!(
                "a tenant id is 1 to {} printable ASCII characters without spaces",
                crate::model::TENANT_MAX_LENGTH
            ),
        ));
    }
    Ok(())
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
