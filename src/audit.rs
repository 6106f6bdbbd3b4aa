//! The audit trail (DESIGN 13.5): every committed write of an audited store
//! (`StoreConfig::audit_log`) leaves rows in `flowgate_audit`, written by the operation itself
//! on its own connection and inside its own transaction, so that a write that rolls back leaves
//! none and one that commits always has them (`store::audit`). Rows are append-only: nothing
//! here changes or deletes one. This module reads them, through the ordinary operations on a
//! sibling store (as the registry's tables are read).

pub use crate::store::audit::{DEFAULT_MAX_ROWS_PER_OP, MASK, TABLE};

use crate::context::Context;
use crate::error::{Error, Result};
use crate::operation::OpKind;
use crate::store::Store;
use crate::store::audit::{MODEL, schema};
use serde_json::{Map, Value, json};

/// What to read of the audit trail.
#[derive(Debug, Clone, Default)]
pub struct AuditQuery {
    /// Only rows of this model.
    pub model: Option<String>,
    /// Only rows of this record id.
    pub record_id: Option<String>,
    /// Only rows of this principal id.
    pub principal: Option<String>,
    /// Only rows at or after this time (RFC 3339).
    pub since: Option<String>,
    /// Only rows of this tenant (a tenant's callers see only their own).
    pub tenant: Option<String>,
    /// The `next_cursor` of a previous page.
    pub cursor: Option<String>,
    /// At most this many rows (default 50, at most 1000).
    pub limit: Option<u64>,
}

/// The audit trail of a database: created on open, read by [`AuditLog::list`].
#[derive(Debug, Clone)]
pub struct AuditLog {
    store: Store,
}

impl AuditLog {
    /// The audit trail on `app`'s database, its table created if missing.
    pub async fn open(app: &Store) -> Result<AuditLog> {
        let log = AuditLog::new(app);
        log.store.create_tables().await?;
        Ok(log)
    }

    /// The audit trail on `app`'s database, whose table the start-up sequence created (no
    /// I/O).
    pub fn new(app: &Store) -> AuditLog {
        AuditLog {
            store: app.sibling(schema()),
        }
    }

    /// Retention: deletes the rows written before `before` (the only way audit rows are ever
    /// deleted); gives how many.
    pub async fn prune(&self, before: chrono::DateTime<chrono::Utc>) -> Result<u64> {
        let m = self.store.model(MODEL)?;
        let at = before.to_rfc3339_opts(chrono::SecondsFormat::Micros, true);
        let done = self
            .store
            .run(
                &Context::internal(),
                &m,
                OpKind::BulkDelete,
                &json!({"filter": {"at": {"$lt": at}}}),
            )
            .await?;
        Ok(done["deleted"].as_u64().unwrap_or(0))
    }

    /// A page of audit rows, newest first: `{"records": [...], "next_cursor": ...}`, each row
    /// with its `changes` (and a summary's `filter`) as JSON.
    pub async fn list(&self, q: &AuditQuery) -> Result<Value> {
        let mut filter = Map::new();
        for (key, v) in [
            ("model", &q.model),
            ("record_id", &q.record_id),
            ("principal", &q.principal),
            ("tenant", &q.tenant),
        ] {
            if let Some(v) = v {
                filter.insert(key.into(), json!(v));
            }
        }
        if let Some(since) = &q.since {
            filter.insert("at".into(), json!({"$gte": since}));
        }
        let mut params = json!({
            "filter": filter,
            "order_by": ["-at", "-id"],
            "limit": q.limit.unwrap_or(50),
        });
        if let Some(c) = &q.cursor {
            params["cursor"] = json!(c);
        }
        let m = self.store.model(MODEL)?;
        let mut page = self
            .store
            .run(&Context::internal(), &m, OpKind::List, &params)
            .await
            .map_err(|e| match e {
                Error::Validation { field, reason } => Error::Validation {
                    field: field.map(|f| f.replace("filter.at", "since")),
                    reason,
                },
                other => other,
            })?;
        // The last page says so with a null cursor, as every page has the key.
        if page.get("next_cursor").is_none() {
            page["next_cursor"] = Value::Null;
        }
        for r in page["records"].as_array_mut().into_iter().flatten() {
            // `at` is the time of the write; the managed timestamps say the same.
            if let Some(obj) = r.as_object_mut() {
                obj.remove("created_at");
                obj.remove("updated_at");
            }
            for key in ["changes", "filter"] {
                if let Some(text) = r[key].as_str() {
                    r[key] = serde_json::from_str(text).unwrap_or(Value::Null);
                }
            }
        }
        Ok(page)
    }
}
