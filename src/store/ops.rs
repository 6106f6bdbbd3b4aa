//! The eleven operations, written once against [`Exec`] for every dialect.
//!
//! Each operation checks its params first (unknown params, fields and operators are validation
//! errors naming them), builds its statements with `sql`, and returns the JSON result DESIGN
//! section 5 gives it. The store decides which connection or transaction it runs on.

mod bulk;
mod params;
mod read;
mod rows;
mod tenant;
mod write;

use super::db::Db;
use super::exec::Exec;
use crate::context::Context;
use crate::error::{Error, Result};
use crate::model::ModelInfo;
use crate::operation::OpKind;
use crate::output::{Form, Output};
use crate::params::ParamsRef;
use params::Params;
use tracing::Instrument;

/// Whether the operation runs several statements and so needs a transaction of its own.
pub(crate) fn needs_transaction(kind: OpKind) -> bool {
    matches!(
        kind,
        OpKind::Upsert
            | OpKind::BulkCreate
            | OpKind::BulkUpdate
            | OpKind::BulkDelete
            | OpKind::BulkUpsert
    )
}

pub(crate) async fn dispatch<D: Db>(
    x: &mut Exec<'_, D>,
    m: &ModelInfo,
    ctx: &Context,
    kind: OpKind,
    params: ParamsRef<'_>,
    form: Form,
) -> Result<Output> {
    enter(x, m, ctx).await?;
    // Flowgate's own tables (the registry, API keys, runs, the audit trail) are not audited.
    if m.table.starts_with(crate::model::RESERVED_TABLE_PREFIX) {
        x.audit_max = None;
    }
    // A bulk write's filter, for the summary row of an audit past `max_rows_per_op`.
    let audit_filter = match params {
        ParamsRef::Json(v) if x.auditing() && !kind.is_read_only() => {
            v.get("filter").cloned().unwrap_or(serde_json::Value::Null)
        }
        _ => serde_json::Value::Null,
    };
    let p = match params {
        ParamsRef::Json(v) => Params::new(v)?,
        ParamsRef::Body(b) => Params::body(b),
    };
    let span = tracing::debug_span!("op", model = m.name(), op = kind.as_str(), channel = ?ctx.channel, request_id = %ctx.request_id);
    let result = async {
        let value = match kind {
            OpKind::Read if form == Form::Json => {
                return read::read_json(x, m, p).await.map(Output::Json);
            }
            OpKind::List if form == Form::Json => {
                return read::list_json(x, m, p).await.map(Output::Json);
            }
            OpKind::Create => write::create(x, m, p).await,
            OpKind::Read => read::read(x, m, p).await,
            OpKind::Update => write::update(x, m, p).await,
            OpKind::Delete => write::delete(x, m, p).await,
            OpKind::List => read::list(x, m, p).await,
            OpKind::Count => read::count(x, m, p).await,
            // The largest futures, boxed so that every operation's future is not as large as
            // theirs (a bulk write does enough work that the allocation does not show).
            OpKind::Upsert => Box::pin(write::upsert(x, m, p)).await,
            OpKind::BulkCreate => Box::pin(bulk::bulk_create(x, m, p)).await,
            OpKind::BulkUpdate => bulk::bulk_update(x, m, p).await,
            OpKind::BulkDelete => bulk::bulk_delete(x, m, p).await,
            OpKind::BulkUpsert => Box::pin(bulk::bulk_upsert(x, m, p)).await,
        };
        value.map(Output::Value)
    }
    .instrument(span)
    .await;
    let result = result.map_err(|e| name_conflict(m, e))?;
    if x.auditing() && !kind.is_read_only() {
        write_audit(x, m, ctx, kind, audit_filter).await?;
    }
    Ok(result)
}

/// Scopes the executor to the caller's tenant on a tenant-scoped model, and on PostgreSQL sets
/// the connection's tenant for the row-level policy on the table (`sql::rls`), the second wall,
/// so that it sees the same tenant as every statement's filter.
async fn enter<D: Db>(x: &mut Exec<'_, D>, m: &ModelInfo, ctx: &Context) -> Result<()> {
    x.tenant = tenant::scope(m, ctx)?;
    if D::DIALECT == crate::sql::Dialect::Postgres
        && let Some(crate::value::Val::Text(t)) = &x.tenant
    {
        let stmt = crate::sql::rls::set_tenant(t, x.in_transaction);
        x.execute(&stmt).await?;
    }
    Ok(())
}

/// The records of `m` whose `field` holds one of `values`, at most `per_group` for each value
/// (the first by id), ordered by that field then id: a has-many relation of several parents
/// in one statement. Soft-deleted records are left out; the caller's tenant applies.
pub(crate) async fn related<D: Db>(
    x: &mut Exec<'_, D>,
    m: &ModelInfo,
    ctx: &Context,
    field: &str,
    values: Vec<crate::value::Val>,
    per_group: u64,
) -> Result<Vec<serde_json::Map<String, serde_json::Value>>> {
    enter(x, m, ctx).await?;
    let filter = x.scoped(crate::query::Filter::In {
        column: field.to_string(),
        negated: false,
        values,
    });
    let cols = rows::all_columns(m);
    let stmt = crate::sql::select_per_group(m, &cols, &filter, field, per_group, x.dialect());
    x.fetch(&stmt, &cols).await
}

/// Writes the audit rows of a write that succeeded, on its own connection and inside its own
/// transaction (or the caller's): committed with it, or rolled back with it.
async fn write_audit<D: Db>(
    x: &mut Exec<'_, D>,
    m: &ModelInfo,
    ctx: &Context,
    kind: OpKind,
    filter: serde_json::Value,
) -> Result<()> {
    let mut entries = std::mem::take(&mut x.audit);
    if x.audit_more > 0 {
        entries.push(crate::store::audit::Entry::Summary {
            count: entries.len() as u64 + x.audit_more,
            filter,
        });
        x.audit_more = 0;
    }
    if entries.is_empty() {
        return Ok(());
    }
    let info = &*crate::store::audit::INFO;
    let cols = rows::insert_columns(info);
    let rows = crate::store::audit::rows(ctx, m, kind, &entries);
    if let [row] = rows.as_slice() {
        // One row (a single-row write): the statement's text is built once and reused.
        let stmt = crate::sql::insert_one(info, &cols, row, &[], x.dialect());
        x.execute(&stmt).await?;
        return Ok(());
    }
    let per = bulk::rows_per_statement(x, cols.len());
    for chunk in rows.chunks(per) {
        let stmt = crate::sql::insert(info, &cols, chunk, None, &[], x.dialect());
        x.execute(&stmt).await?;
    }
    Ok(())
}

/// Names the unique set of a unique violation in the model's own terms (`email`, `a,b`).
fn name_conflict(m: &ModelInfo, e: Error) -> Error {
    let Error::Conflict {
        field: Some(raw),
        reason,
    } = e
    else {
        return e;
    };
    let table = &m.table;
    let named = m.unique_sets.iter().find(|set| {
        let joined = set.join("_");
        let mut candidates = vec![
            set.join(","),
            joined.clone(),
            format!("{table}_{joined}"),
            format!("ux_{table}_{joined}"),
        ];
        if set.len() == 1 && set[0] == "id" {
            candidates.extend(["PRIMARY".to_string(), format!("{table}_pkey")]);
        } else if let Some(t) = &m.tenant {
            // Unique per tenant: the database names the tenant column too.
            let mut cols = vec![t.name().to_string()];
            cols.extend(set.iter().cloned());
            candidates.extend([
                cols.join(","),
                cols.join("_"),
                crate::sql::index_name("ux", table, &cols),
            ]);
        }
        candidates.contains(&raw)
    });
    let field = named.map(|set| set.join(",")).or(Some(raw));
    let reason = match &field {
        Some(f) => format!(
            "{} with this {f} already exists",
            crate::model::with_article(m.name())
        ),
        None => reason,
    };
    Error::Conflict { field, reason }
}
