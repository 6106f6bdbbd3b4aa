//! DML: the select, count, insert, update and delete statements the operations run.

use super::filter::{after, condition};
use super::{Dialect, Stmt, bind_value, build};
use crate::model::{Column, FieldType, ModelInfo};
use crate::query::{Cursor, Filter, OrderBy};
use crate::value::Val;
use sea_query::{Alias, Expr, ExprTrait, NullOrdering, OnConflict, Order, Query, SimpleExpr};
use std::fmt::Write as _;

fn not_deleted(model: &ModelInfo, include_deleted: bool) -> Option<Expr> {
    (model.soft_delete() && !include_deleted).then(|| Expr::col(Alias::new("deleted_at")).is_null())
}

/// Fails closed: a statement on a tenant-scoped model that is not limited to one tenant is a
/// bug in the store, and must never run (DESIGN 13.4).
fn scope_guard(model: &ModelInfo, filter: &Filter) {
    assert!(
        !model.is_tenant_scoped() || filter.is_tenant_scoped(),
        "a statement on tenant-scoped model {} without its tenant",
        model.name()
    );
}

/// What a select reads.
#[derive(Debug, Clone, Copy)]
pub struct SelectSpec<'a> {
    /// The columns to read, in order.
    pub columns: &'a [&'a Column],
    /// The filter.
    pub filter: &'a Filter,
    /// Whether soft-deleted rows are read too.
    pub include_deleted: bool,
    /// The ordering (empty for none).
    pub order: &'a [OrderBy],
    /// Read only rows after this keyset position.
    pub after: Option<&'a Cursor>,
    /// At most this many rows.
    pub limit: Option<u64>,
    /// Skip this many rows.
    pub offset: Option<u64>,
    /// Lock the rows read (`FOR UPDATE`, where the database has it).
    pub for_update: bool,
}

/// What a sort key orders by: the column, except for MySQL's `ENUM` columns, which sort by
/// declaration index; those sort by their text (binary collation), as on the other databases
/// and as the keyset condition of [`after`] (which compares text) assumes.
fn sort_expr(column: &str, ty: Option<FieldType>, d: Dialect) -> Expr {
    if d == Dialect::MySql && ty == Some(FieldType::Enum) {
        Expr::cust_with_expr(
            "CAST(? AS CHAR CHARACTER SET utf8mb4) COLLATE utf8mb4_bin",
            Expr::col(Alias::new(column)),
        )
    } else {
        Expr::col(Alias::new(column))
    }
}

/// `SELECT columns FROM table WHERE ... ORDER BY ... LIMIT ... OFFSET ...`.
pub fn select(model: &ModelInfo, spec: SelectSpec<'_>, d: Dialect) -> Stmt {
    scope_guard(model, spec.filter);
    let mut q = Query::select();
    q.from(Alias::new(model.table.as_str()));
    for c in spec.columns {
        q.column(Alias::new(c.name()));
    }
    if !spec.filter.is_empty() {
        q.and_where(condition(model, spec.filter, d));
    }
    if let Some(e) = not_deleted(model, spec.include_deleted) {
        q.and_where(e);
    }
    if let Some(cursor) = spec.after {
        q.and_where(after(model, spec.order, cursor, d));
    }
    for key in spec.order {
        let column = model.column(&key.column);
        let nullable = column.is_some_and(|c| c.def.optional);
        let (order, nulls) = if key.desc {
            (Order::Desc, NullOrdering::First)
        } else {
            (Order::Asc, NullOrdering::Last)
        };
        let expr = sort_expr(&key.column, column.map(Column::ty), d);
        if nullable {
            q.order_by_expr_with_nulls(expr, order, nulls);
        } else {
            q.order_by_expr(expr, order);
        }
    }
    if let Some(limit) = spec.limit {
        q.limit(limit);
    }
    if let Some(offset) = spec.offset {
        if spec.limit.is_none() && d != Dialect::Postgres {
            // SQLite and MySQL need a LIMIT before OFFSET.
            q.limit(i64::MAX as u64);
        }
        q.offset(offset);
    }
    if spec.for_update && d != Dialect::Sqlite {
        q.lock_exclusive();
    }
    build(&q, d)
}

/// The rows matching `filter`, at most `per_group` of each value of the `group` column (the
/// first by id), ordered by that column then id: a has-many relation of many parents in one
/// statement (`expand`), with `ROW_NUMBER() OVER (PARTITION BY group ORDER BY id)`, which
/// SQLite (3.25), PostgreSQL and MySQL 8 / MariaDB 10.2 all have.
pub fn select_per_group(
    model: &ModelInfo,
    columns: &[&Column],
    filter: &Filter,
    group: &str,
    per_group: u64,
    d: Dialect,
) -> Stmt {
    use sea_query::{Func, WindowStatement};
    scope_guard(model, filter);
    let mut inner = Query::select();
    inner.from(Alias::new(model.table.as_str()));
    for c in columns {
        inner.column(Alias::new(c.name()));
    }
    if !filter.is_empty() {
        inner.and_where(condition(model, filter, d));
    }
    if let Some(e) = not_deleted(model, false) {
        inner.and_where(e);
    }
    let mut window = WindowStatement::partition_by(Alias::new(group));
    window.order_by(Alias::new("id"), Order::Asc);
    inner.expr_window_as(Func::cust("ROW_NUMBER"), window, Alias::new("fg_row"));
    let mut q = Query::select();
    for c in columns {
        q.column(Alias::new(c.name()));
    }
    q.from_subquery(inner, Alias::new("fg_grouped"))
        .and_where(
            Expr::col(Alias::new("fg_row")).lte(i64::try_from(per_group).unwrap_or(i64::MAX)),
        )
        .order_by(Alias::new(group), Order::Asc)
        .order_by(Alias::new("id"), Order::Asc);
    build(&q, d)
}

/// `SELECT COUNT(*) FROM table WHERE ...`.
pub fn count(model: &ModelInfo, filter: &Filter, include_deleted: bool, d: Dialect) -> Stmt {
    scope_guard(model, filter);
    let mut q = Query::select();
    q.from(Alias::new(model.table.as_str()))
        .expr(Expr::cust("COUNT(*)"));
    if !filter.is_empty() {
        q.and_where(condition(model, filter, d));
    }
    if let Some(e) = not_deleted(model, include_deleted) {
        q.and_where(e);
    }
    build(&q, d)
}

/// What an insert does when a row breaks a unique key.
#[derive(Debug, Clone, Copy)]
pub enum Conflict<'a> {
    /// Skip the row. On MySQL this is `ON DUPLICATE KEY UPDATE id = id`.
    Nothing,
    /// Update the existing row's `columns` from the new row. `target` is the unique set (MySQL
    /// takes whichever unique key was hit).
    Update {
        /// The conflict target.
        target: &'a [String],
        /// The columns to overwrite.
        columns: &'a [String],
    },
}

/// A multi-row `INSERT`, with optional conflict handling and `RETURNING` (where supported).
pub fn insert(
    model: &ModelInfo,
    columns: &[&Column],
    rows: &[Vec<Val>],
    conflict: Option<Conflict<'_>>,
    returning: &[&Column],
    d: Dialect,
) -> Stmt {
    // sea-query writes the statement with the first row; the other rows are added to it
    // directly, which saves building, cloning and dropping an expression per value (a third of
    // the time of a bulk insert went there).
    if rows.len() > 1 && !columns.is_empty() {
        let one = insert_statement(model, columns, &rows[..1], conflict, returning, d);
        if let Some(stmt) = add_rows(one, columns, &rows[1..], d) {
            return stmt;
        }
    }
    insert_statement(model, columns, rows, conflict, returning, d)
}

/// Adds `rows` to a one-row insert: their placeholder tuples go right after the first row's and
/// their values after its values. Nothing after `VALUES (...)` (the conflict and returning
/// clauses) carries a value, so the placeholders stay numbered in order. None (never expected)
/// when the statement does not read ` VALUES (placeholders)`.
fn add_rows(mut stmt: Stmt, columns: &[&Column], rows: &[Vec<Val>], d: Dialect) -> Option<Stmt> {
    let mut n = 0;
    let mut tuple = |out: &mut String| {
        out.push('(');
        for i in 0..columns.len() {
            if i > 0 {
                out.push_str(", ");
            }
            n += 1;
            match d {
                Dialect::Postgres => {
                    let _ = write!(out, "${n}");
                }
                Dialect::Sqlite | Dialect::MySql => out.push('?'),
            }
        }
        out.push(')');
    };
    let mut first = String::from(" VALUES ");
    tuple(&mut first);
    let Some(at) = stmt.sql.find(&first).map(|i| i + first.len()) else {
        debug_assert!(false, "unexpected one-row insert: {}", stmt.sql);
        return None;
    };
    let mut tuples = String::with_capacity(rows.len() * (columns.len() * 5 + 4));
    for _ in rows {
        tuples.push_str(", ");
        tuple(&mut tuples);
    }
    stmt.sql.insert_str(at, &tuples);
    stmt.values.reserve(rows.len() * columns.len());
    // Rows of one call share their timestamps: a datetime equal to the one above it in its
    // column reuses that parameter instead of being converted again.
    let mut last: Vec<Option<(chrono::DateTime<chrono::Utc>, sea_query::Value)>> =
        vec![None; columns.len()];
    for row in rows {
        for ((v, c), last) in row.iter().zip(columns).zip(&mut last) {
            let bound = match (v, &*last) {
                (Val::DateTime(dt), Some((prev, bound))) if prev == dt => bound.clone(),
                (Val::DateTime(dt), _) => {
                    let bound = bind_value(v, c.ty(), d);
                    *last = Some((*dt, bound.clone()));
                    bound
                }
                _ => bind_value(v, c.ty(), d),
            };
            stmt.values.push(bound);
        }
    }
    Some(stmt)
}

fn insert_statement(
    model: &ModelInfo,
    columns: &[&Column],
    rows: &[Vec<Val>],
    conflict: Option<Conflict<'_>>,
    returning: &[&Column],
    d: Dialect,
) -> Stmt {
    let mut q = Query::insert();
    q.into_table(Alias::new(model.table.as_str()));
    q.columns(columns.iter().map(|c| Alias::new(c.name())));
    for row in rows {
        let values: Vec<SimpleExpr> = row
            .iter()
            .zip(columns)
            .map(|(v, c)| Expr::val(bind_value(v, c.ty(), d)))
            .collect();
        q.values_panic(values);
    }
    if columns.is_empty() {
        q.or_default_values();
    }
    match conflict {
        None => {}
        Some(Conflict::Nothing) => {
            let mut oc = if d == Dialect::MySql {
                OnConflict::column(Alias::new("id"))
            } else {
                OnConflict::new()
            };
            oc.do_nothing_on([Alias::new("id")]);
            if d != Dialect::MySql {
                oc.do_nothing();
            }
            q.on_conflict(oc);
        }
        Some(Conflict::Update { target, columns }) => {
            let mut oc = OnConflict::columns(target.iter().map(|t| Alias::new(t.as_str())));
            oc.update_columns(columns.iter().map(|c| Alias::new(c.as_str())));
            q.on_conflict(oc);
        }
    }
    if d.has_returning() && !returning.is_empty() {
        q.returning(Query::returning().columns(returning.iter().map(|c| Alias::new(c.name()))));
    }
    build(&q, d)
}

/// `UPDATE table SET ... WHERE ...` without `RETURNING`, and the same `WHERE` as a `SELECT` of
/// the rows it updates, without columns.
fn update_and_select(
    model: &ModelInfo,
    sets: &[(&Column, Val)],
    filter: &Filter,
    include_deleted: bool,
    d: Dialect,
) -> (sea_query::UpdateStatement, sea_query::SelectStatement) {
    scope_guard(model, filter);
    let table = Alias::new(model.table.as_str());
    let mut update = Query::update();
    update.table(table.clone());
    update.values(
        sets.iter()
            .map(|(c, v)| (Alias::new(c.name()), Expr::val(bind_value(v, c.ty(), d)))),
    );
    let mut select = Query::select();
    select.from(table);
    if !filter.is_empty() {
        update.and_where(condition(model, filter, d));
        select.and_where(condition(model, filter, d));
    }
    if let Some(e) = not_deleted(model, include_deleted) {
        update.and_where(e.clone());
        select.and_where(e);
    }
    (update, select)
}

/// `UPDATE table SET ... WHERE ...`, with `RETURNING` where supported.
pub fn update_where(
    model: &ModelInfo,
    sets: &[(&Column, Val)],
    filter: &Filter,
    include_deleted: bool,
    returning: &[&Column],
    d: Dialect,
) -> Stmt {
    let (mut q, _) = update_and_select(model, sets, filter, include_deleted, d);
    if d.has_returning() && !returning.is_empty() {
        q.returning(Query::returning().columns(returning.iter().map(|c| Alias::new(c.name()))));
    }
    build(&q, d)
}

/// PostgreSQL: [`update_where`] that also returns the rows as they were, in one statement:
/// `WITH fg_before AS (SELECT cols ... WHERE f), fg_after AS (UPDATE ... WHERE f RETURNING cols)
/// SELECT fg_before.cols, fg_after.cols FROM fg_before, fg_after`. Every part of the statement
/// reads the snapshot taken when it starts, so `fg_before` holds the values the update replaced
/// (what a read before the update, in the same transaction, would have given). For an update
/// by id: one row, its `returning` columns before, then after.
pub fn update_returning_before(
    model: &ModelInfo,
    sets: &[(&Column, Val)],
    filter: &Filter,
    include_deleted: bool,
    returning: &[&Column],
) -> Stmt {
    let d = Dialect::Postgres;
    let (mut update, mut before) = update_and_select(model, sets, filter, include_deleted, d);
    let cols = || returning.iter().map(|c| Alias::new(c.name()));
    before.columns(cols());
    update.returning(Query::returning().columns(cols()));
    let (b, a) = (Alias::new("fg_before"), Alias::new("fg_after"));
    let mut main = Query::select();
    main.from(b.clone()).from(a.clone());
    for side in [&b, &a] {
        main.columns(cols().map(|c| (side.clone(), c)));
    }
    let with = sea_query::WithClause::new()
        .cte(
            sea_query::CommonTableExpression::new()
                .query(before)
                .table_name(b)
                .to_owned(),
        )
        .cte(
            sea_query::CommonTableExpression::new()
                .query(update)
                .table_name(a)
                .to_owned(),
        )
        .to_owned();
    build(&main.with(with), d)
}

/// `DELETE FROM table WHERE ...`.
pub fn delete_where(model: &ModelInfo, filter: &Filter, d: Dialect) -> Stmt {
    scope_guard(model, filter);
    let mut q = Query::delete();
    q.from_table(Alias::new(model.table.as_str()));
    if !filter.is_empty() {
        q.and_where(condition(model, filter, d));
    }
    build(&q, d)
}

/// `SELECT id FROM table WHERE tenant_id = ? AND id IN (...)`: which of `ids` (of type
/// `id_ty`) are rows of `tenant` in a tenant-scoped table (the reference check of a write).
pub fn ids_in_tenant(table: &str, id_ty: FieldType, ids: &[Val], tenant: &Val, d: Dialect) -> Stmt {
    let mut q = Query::select();
    q.from(Alias::new(table)).column(Alias::new("id"));
    q.and_where(
        Expr::col(Alias::new(crate::model::TENANT_COLUMN)).eq(Expr::val(bind_value(
            tenant,
            FieldType::String,
            d,
        ))),
    );
    q.and_where(
        Expr::col(Alias::new("id")).is_in(ids.iter().map(|v| Expr::val(bind_value(v, id_ty, d)))),
    );
    build(&q, d)
}

/// PostgreSQL only: moves the id sequence past the largest id, after rows were inserted with ids
/// the caller chose. SQLite and MySQL keep their counters up to date by themselves.
pub fn sync_sequence(model: &ModelInfo, d: Dialect) -> Option<Stmt> {
    if d != Dialect::Postgres || !model.auto_id() {
        return None;
    }
    let table = model.table.as_str();
    Some(Stmt::raw(format!(
        "SELECT setval(pg_get_serial_sequence('\"{table}\"', 'id'), GREATEST((SELECT MAX(\"id\") FROM \"{table}\"), 1))"
    )))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::{FieldDef, ModelDef, Schema};

    /// Rows added after the first are written exactly as sea-query writes them all.
    #[test]
    fn added_rows_match_sea_query() {
        let schema = Schema::new([ModelDef::new("Item")
            .field(FieldDef::string("sku").unique())
            .field(FieldDef::integer("qty").optional())
            .field(FieldDef::datetime("seen_at"))])
        .unwrap();
        let m = schema.get("Item").unwrap();
        let cols: Vec<&Column> = m.columns[1..].iter().collect();
        let now = crate::value::now();
        let rows: Vec<Vec<Val>> = (0..12)
            .map(|i| {
                vec![
                    Val::Text(format!("s{i}")),
                    if i % 3 == 0 { Val::Null } else { Val::Int(i) },
                    Val::DateTime(now),
                    Val::DateTime(now),
                    Val::DateTime(now),
                ]
            })
            .collect();
        let target = ["sku".to_string()];
        let update = ["qty".to_string(), "updated_at".to_string()];
        let conflicts = [
            None,
            Some(Conflict::Nothing),
            Some(Conflict::Update {
                target: &target,
                columns: &update,
            }),
        ];
        for d in [Dialect::Sqlite, Dialect::Postgres, Dialect::MySql] {
            for conflict in conflicts {
                for returning in [&[][..], &[m.id()][..]] {
                    for n in [1, 2, 12] {
                        let rows = &rows[..n];
                        assert_eq!(
                            insert(m, &cols, rows, conflict, returning, d),
                            insert_statement(m, &cols, rows, conflict, returning, d),
                            "{d:?} {conflict:?} {n} rows"
                        );
                    }
                }
            }
        }
    }
}
