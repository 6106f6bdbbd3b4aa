//! The SQL text of fixed-shape statements (read by id, insert one row), built once per model
//! and dialect with sea-query and reused: only the bound values change between calls. Building
//! a statement costs about as much as a primary-key read itself on SQLite.

use super::{Dialect, Stmt, bind_value};
use crate::model::{Column, ModelInfo};
use crate::value::Val;
use std::collections::HashMap;
use std::sync::{Arc, LazyLock, RwLock};

/// Which fixed-shape statement.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub(crate) enum Shape {
    /// `SELECT <every column> WHERE id = ?` (and not deleted, unless `include_deleted`).
    ById { include_deleted: bool },
    /// `INSERT <insert columns> VALUES (...)`, with `RETURNING <every column>` when `returning`.
    InsertOne { returning: bool },
}

type Key = (u64, Dialect, Shape);

/// Entries stay until the process ends; a model is compiled again only when its definition
/// changes, so the map grows by a few entries per model version. It is emptied if it ever gets
/// large.
static TEXTS: LazyLock<RwLock<HashMap<Key, Arc<str>>>> = LazyLock::new(RwLock::default);
const MAX_ENTRIES: usize = 10_000;

fn text(model: &ModelInfo, d: Dialect, shape: Shape, build: impl FnOnce() -> Stmt) -> Arc<str> {
    let key = (model.uid, d, shape);
    if let Some(t) = TEXTS.read().expect("sql cache lock").get(&key) {
        return t.clone();
    }
    let t: Arc<str> = Arc::from(build().sql);
    let mut map = TEXTS.write().expect("sql cache lock");
    if map.len() >= MAX_ENTRIES {
        map.clear();
    }
    map.entry(key).or_insert(t).clone()
}

/// `SELECT <columns> FROM table WHERE id = ? [AND deleted_at IS NULL]`, the SQL built once.
/// `columns` must be every column of the model, in order.
pub fn select_by_id(
    model: &ModelInfo,
    columns: &[&Column],
    id: &Val,
    include_deleted: bool,
    d: Dialect,
) -> Stmt {
    let sql = text(model, d, Shape::ById { include_deleted }, || {
        let filter = crate::query::Filter::Cmp {
            column: "id".into(),
            op: crate::query::CmpOp::Eq,
            value: id.clone(),
        };
        let spec = super::SelectSpec {
            columns,
            filter: &filter,
            include_deleted,
            order: &[],
            after: None,
            limit: None,
            offset: None,
            for_update: false,
        };
        super::select(model, spec, d)
    });
    Stmt {
        sql: sql.to_string(),
        values: vec![bind_value(id, model.id().ty(), d)],
    }
}

/// A one-row `INSERT` of every insert column (with `RETURNING` every column when `returning`
/// columns are given and the dialect has it), the SQL built once.
pub fn insert_one(
    model: &ModelInfo,
    columns: &[&Column],
    row: &[Val],
    returning: &[&Column],
    d: Dialect,
) -> Stmt {
    let returning = if d.has_returning() { returning } else { &[] };
    let shape = Shape::InsertOne {
        returning: !returning.is_empty(),
    };
    let sql = text(model, d, shape, || {
        super::insert(model, columns, &[row.to_vec()], None, returning, d)
    });
    let values = row
        .iter()
        .zip(columns)
        .map(|(v, c)| bind_value(v, c.ty(), d))
        .collect();
    Stmt {
        sql: sql.to_string(),
        values,
    }
}
