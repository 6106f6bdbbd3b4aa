//! Tenant scoping (DESIGN 13.4), the store's part: which tenant an operation acts for, and the
//! check that a write's references point at its own tenant's rows. Every statement on a
//! tenant-scoped model is limited to that tenant by `Exec::scoped` (its filters) and
//! `new_row` (its new rows); `sql` refuses to build one that is not.

use super::rows::insert_columns;
use crate::context::Context;
use crate::error::{Error, Result};
use crate::model::{Column, FieldDef, ModelInfo, Role};
use crate::sql;
use crate::store::db::Db;
use crate::store::exec::Exec;
use crate::value::Val;
use std::collections::HashSet;

/// The tenant an operation on `m` acts for: the context's, on a tenant-scoped model (none is
/// `tenant_required`); nothing on a shared one.
pub(crate) fn scope(m: &ModelInfo, ctx: &Context) -> Result<Option<Val>> {
    if !m.is_tenant_scoped() {
        return Ok(None);
    }
    match ctx.tenant.as_deref() {
        None => Err(Error::tenant_required(m.name())),
        Some(t) => {
            crate::context::check_tenant_id(t)?;
            Ok(Some(Val::Text(t.to_string())))
        }
    }
}

/// Checks that the reference fields of new rows (`rows`, in `cols` order) that point at a
/// tenant-scoped model point at rows of the writer's tenant.
pub(crate) async fn check_rows<D: Db>(
    x: &mut Exec<'_, D>,
    m: &ModelInfo,
    cols: &[&Column],
    rows: &[Vec<Val>],
) -> Result<()> {
    for (field, table) in &m.tenant_refs {
        let Some(i) = cols.iter().position(|c| c.name() == field) else {
            continue;
        };
        let ty = cols[i].ty();
        check(x, table, ty, rows.iter().map(|r| &r[i])).await?;
    }
    Ok(())
}

/// [`check_rows`] for rows of the model's insert columns.
pub(crate) async fn check_new<D: Db>(
    x: &mut Exec<'_, D>,
    m: &ModelInfo,
    rows: &[Vec<Val>],
    with_id: bool,
) -> Result<()> {
    if m.tenant_refs.is_empty() {
        return Ok(());
    }
    let mut cols = insert_columns(m);
    if with_id && m.auto_id() {
        cols.insert(0, m.id());
    }
    check_rows(x, m, &cols, rows).await
}

/// The same check for the assignments of an update.
pub(crate) async fn check_sets<D: Db>(
    x: &mut Exec<'_, D>,
    m: &ModelInfo,
    sets: &[(&Column, Val)],
) -> Result<()> {
    for (field, table) in &m.tenant_refs {
        if let Some((col, v)) = sets.iter().find(|(c, _)| c.name() == field) {
            check(x, table, col.ty(), std::iter::once(v)).await?;
        }
    }
    Ok(())
}

async fn check<'v, D: Db>(
    x: &mut Exec<'_, D>,
    table: &str,
    ty: crate::FieldType,
    values: impl Iterator<Item = &'v Val>,
) -> Result<()> {
    let tenant = x
        .tenant
        .clone()
        .ok_or_else(|| Error::internal("reference check without a tenant"))?;
    let mut wanted: Vec<Val> = Vec::new();
    let mut seen = HashSet::new();
    for v in values.filter(|v| !v.is_null()) {
        if seen.insert(v.to_json().to_string()) {
            wanted.push(v.clone());
        }
    }
    let id = Column {
        def: FieldDef::new("id", ty),
        role: Role::Id,
    };
    for chunk in wanted.chunks(500) {
        let stmt = sql::ids_in_tenant(table, ty, chunk, &tenant, x.dialect());
        if x.fetch_column(stmt, &id).await?.len() < chunk.len() {
            // The conflict a reference to no row at all gets from the database, so that a
            // tenant cannot tell another tenant's rows from missing ones.
            return Err(crate::store::errors::broken_reference());
        }
    }
    Ok(())
}
