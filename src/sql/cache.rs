//! The SQL text of fixed-shape statements (read by id, insert one row), built once per model
//! and dialect with sea-query and reused: only the bound values change between calls. Building
//! a statement costs about as much as a primary-key read itself on SQLite.

use super::{Dialect, Stmt, bind_value};
use crate::model::{Column, ModelInfo};
use crate::value::Val;
use rustc_hash::FxHashMap;
use std::cell::RefCell;
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

thread_local! {
    /// Each thread's copy of the entries it used: a statement's text is found without taking
    /// the shared lock, whose counter every thread would otherwise write on every statement.
    /// An entry never changes (a model's `uid` is new with each version), so copies stay true.
    static LOCAL: RefCell<FxHashMap<Key, Arc<str>>> = RefCell::default();
}

/// Calls `f` with the text of `shape` for `model` and dialect `d`, building it on first use.
fn with_text<R>(
    model: &ModelInfo,
    d: Dialect,
    shape: Shape,
    build: impl FnOnce() -> Stmt,
    f: impl FnOnce(&str) -> R,
) -> R {
    let key = (model.uid, d, shape);
    LOCAL.with(|local| {
        if let Some(t) = local.borrow().get(&key) {
            return f(t);
        }
        let t = shared_text(key, build);
        let mut local = local.borrow_mut();
        if local.len() >= MAX_ENTRIES {
            local.clear();
        }
        local.insert(key, t.clone());
        f(&t)
    })
}

fn shared_text(key: Key, build: impl FnOnce() -> Stmt) -> Arc<str> {
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

/// `SELECT <columns> FROM table WHERE id = ? [AND tenant_id = ?] [AND deleted_at IS NULL]`,
/// the SQL built once. `columns` must be every column of the model, in order; `tenant` is
/// given exactly when the model is tenant-scoped.
pub fn select_by_id(
    model: &ModelInfo,
    columns: &[&Column],
    id: &Val,
    tenant: Option<&Val>,
    include_deleted: bool,
    d: Dialect,
) -> Stmt {
    assert_eq!(
        tenant.is_some(),
        model.is_tenant_scoped(),
        "a read by id of {} with the wrong tenant scope",
        model.name()
    );
    let sql = with_text(
        model,
        d,
        Shape::ById { include_deleted },
        || {
            let filter = crate::query::Filter::Cmp {
                column: "id".into(),
                op: crate::query::CmpOp::Eq,
                value: id.clone(),
            }
            .scoped(tenant);
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
        },
        str::to_string,
    );
    let mut values = vec![bind_value(id, model.id().ty(), d)];
    if let Some(t) = tenant {
        values.push(bind_value(t, crate::model::FieldType::String, d));
    }
    Stmt { sql, values }
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
    let sql = with_text(
        model,
        d,
        shape,
        || super::insert(model, columns, &[row.to_vec()], None, returning, d),
        str::to_string,
    );
    let values = row
        .iter()
        .zip(columns)
        .map(|(v, c)| bind_value(v, c.ty(), d))
        .collect();
    Stmt { sql, values }
}
