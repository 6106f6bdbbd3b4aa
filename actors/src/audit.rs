//! The audit trail on the server (DESIGN 13.5). The store writes the rows, inside each write's
//! own transaction (`flowgate::audit`); this module reads them for the channels (`GET /audit`,
//! the MCP tool `audit_list`, `flowgate audit` against a server) with one rule for all, and
//! prunes them when `audit.retention_days` says so.
//!
//! Reading takes `admin:audit`. A caller acting for a tenant (its credential's, or the one
//! `X-Tenant-ID` names) sees only that tenant's rows; one acting for none sees every row, which
//! on a multi-tenant server also takes `admin:tenants` (fail closed).

use crate::auth::Permission;
use crate::dispatch::Dispatcher;
use crate::readiness::{Feature, State};
use flowgate::audit::{AuditLog, AuditQuery};
use flowgate::{Error, Missing, Principal, Store};
use serde_json::{Map, Value};
use std::time::Duration;

/// The filters a caller may give, by name: what `GET /audit` takes as query parameters and
/// `audit_list` as arguments.
pub const PARAMS: [&str; 6] = [
    "model",
    "record_id",
    "principal",
    "since",
    "cursor",
    "limit",
];

/// The largest page.
pub const MAX_LIMIT: u64 = 1000;

/// Reads the filters of a request, naming the one at fault: every value is text except
/// `limit` (a number from 1 to 1000, or its decimal text, as a query string gives it).
pub fn query_from(args: &Map<String, Value>) -> Result<AuditQuery, Error> {
    if let Some(k) = args.keys().find(|k| !PARAMS.contains(&k.as_str())) {
        return Err(Error::validation(
            k.clone(),
            format!("unknown parameter `{k}` (expected {})", PARAMS.join(", ")),
        ));
    }
    let text = |key: &str| -> Result<Option<String>, Error> {
        match args.get(key) {
            None | Some(Value::Null) => Ok(None),
            Some(Value::String(s)) if !s.is_empty() && s.len() <= 255 => Ok(Some(s.clone())),
            Some(_) => Err(Error::validation(
                key,
                "expected text of 1 to 255 characters",
            )),
        }
    };
    let limit = match args.get("limit") {
        None | Some(Value::Null) => None,
        Some(v) => {
            let n = match v {
                Value::Number(n) => n.as_u64(),
                Value::String(s) => s.parse::<u64>().ok(),
                _ => None,
            };
            match n {
                Some(n @ 1..=MAX_LIMIT) => Some(n),
                _ => {
                    return Err(Error::validation(
                        "limit",
                        format!("expected a whole number from 1 to {MAX_LIMIT}"),
                    ));
                }
            }
        }
    };
    let since = text("since")?;
    if let Some(s) = &since {
        chrono::DateTime::parse_from_rfc3339(s).map_err(|_| {
            Error::validation(
                "since",
                "expected an RFC 3339 time such as 2026-01-31T09:00:00Z",
            )
        })?;
    }
    Ok(AuditQuery {
        model: text("model")?,
        record_id: text("record_id")?,
        principal: text("principal")?,
        since,
        tenant: None,
        cursor: text("cursor")?,
        limit,
    })
}

/// A page of the audit trail for `principal` acting for `tenant`: `{"records": [...],
/// "next_cursor": ...}`, newest first.
pub async fn list(
    d: &Dispatcher,
    principal: &Principal,
    tenant: Option<String>,
    q: AuditQuery,
) -> Result<Value, Error> {
    let q = scoped(q, tenant, d.multi_tenant(), d.audited(), |p| {
        d.auth().authorize(principal, p)
    })?;
    let log = reader(d)?;
    log.list(&q).await
}

/// The one rule of who reads what, for the server and the CLI's local mode alike: `admit`
/// must grant `admin:audit`; acting for a tenant, only its rows; for none on a multi-tenant
/// database, `admin:tenants` too. Without an audit trail (`audit_log = false`), 404.
pub(crate) fn scoped(
    mut q: AuditQuery,
    tenant: Option<String>,
    multi_tenant: bool,
    audited: bool,
    admit: impl Fn(Permission<'static>) -> Result<(), Error>,
) -> Result<AuditQuery, Error> {
    admit(Permission::Admin("audit"))?;
    match tenant {
        Some(t) => q.tenant = Some(t),
        None if multi_tenant => admit(Permission::Admin("tenants"))?,
        None => {}
    }
    if !audited {
        return Err(Error::not_found(
            Missing::Feature,
            "audit (audit_log = false)",
        ));
    }
    Ok(q)
}

/// The audit trail once its table is there (503 until then).
fn reader(d: &Dispatcher) -> Result<AuditLog, Error> {
    let state = d.board().state(&Feature::Audit).unwrap_or(State::Pending);
    match (d.workflows().store(), state) {
        (Some(store), State::Ready) => Ok(AuditLog::new(&store)),
        (_, state) => Err(d.not_ready(&Feature::Audit, state)),
    }
}

/// Retention: once the start-up sequence has connected (the table is there by then), and then
/// every hour, deletes the rows older than `days` (one `DELETE` on the indexed `at`). A
/// failure is logged and tried again at the next tick; it never touches a write.
pub(crate) fn spawn_pruning(store: Store, days: u32) {
    tokio::spawn(async move {
        let log = AuditLog::new(&store);
        let mut tick = tokio::time::interval(Duration::from_secs(3600));
        loop {
            tick.tick().await;
            let before = chrono::Utc::now() - chrono::Duration::days(i64::from(days));
            match log.prune(before).await {
                Ok(0) => {}
                Ok(n) => tracing::info!(deleted = n, days, "audit rows past retention deleted"),
                Err(e) => tracing::warn!(error = %e, "audit retention: pruning failed"),
            }
        }
    });
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn args(v: Value) -> Map<String, Value> {
        v.as_object().cloned().unwrap()
    }

    #[test]
    fn filters_are_read_and_bad_ones_named() {
        let q = query_from(&args(json!({"model": "Book", "limit": "20",
            "since": "2026-01-01T00:00:00Z"})))
        .unwrap();
        assert_eq!(q.model.as_deref(), Some("Book"));
        assert_eq!(q.limit, Some(20));
        for (bad, field) in [
            (json!({"modle": "Book"}), "modle"),
            (json!({"limit": 0}), "limit"),
            (json!({"limit": "1001"}), "limit"),
            (json!({"limit": "ten"}), "limit"),
            (json!({"since": "yesterday"}), "since"),
            (json!({"model": 3}), "model"),
            (json!({"record_id": ""}), "record_id"),
        ] {
            match query_from(&args(bad.clone())) {
                Err(Error::Validation { field: Some(f), .. }) => assert_eq!(f, field, "{bad}"),
                other => panic!("{bad}: {other:?}"),
            }
        }
    }
}
