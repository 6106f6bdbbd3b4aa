//! Snapshots of the SQL that `flowgate::sql` generates, per dialect: the DDL of a fixed model set
//! and the statements of every operation, with their bound values.
//!
//! A change to generated SQL shows up here as a snapshot diff to review. Update the snapshots with
//! `INSTA_UPDATE=always cargo test --test sql_snapshots` (or `cargo insta review`) after checking
//! that the new SQL is what was meant. Every value is built here from fixed inputs, so nothing
//! depends on the clock.
#![allow(missing_docs)]

use chrono::{DateTime, NaiveDate, Utc};
use flowgate::model::Column;
use flowgate::query::{Cursor, Filter, OrderBy, parse_filter, parse_order_by};
use flowgate::sql::{
    self, Conflict, Dialect, SelectSpec, Stmt, count, create_table, delete_where, insert, select,
    sync_sequence, update_where,
};
use flowgate::value::Val;
use flowgate::{FieldDef, IdType, ModelDef, ModelInfo, OnDelete, Schema};
use rust_decimal::Decimal;
use serde_json::{Value, json};
use std::fmt::Write as _;
use std::str::FromStr;

const DIALECTS: [Dialect; 3] = [Dialect::Sqlite, Dialect::Postgres, Dialect::MySql];

/// The fixed model set: a project, a task with most options, and a document with a UUID id.
fn schema() -> Schema {
    let project = ModelDef::new("Project").field(FieldDef::string("name").max_length(120).unique());
    let task = ModelDef::new("Task")
        .soft_delete()
        .description("A unit of work")
        .field(FieldDef::string("title").max_length(200).unique())
        .field(FieldDef::text("notes").optional())
        .field(FieldDef::integer("estimate").optional().indexed())
        .field(FieldDef::date("due").optional())
        .field(FieldDef::enumeration("state", ["open", "in_progress", "done"]).default("open"))
        .field(
            FieldDef::integer("project_id")
                .optional()
                .references("Project")
                .on_delete(OnDelete::SetNull),
        )
        .field(FieldDef::decimal("cost").precision(10).scale(2).optional())
        .field(FieldDef::boolean("urgent").default(false))
        .field(FieldDef::json("labels").optional())
        .index(["state", "due"])
        .unique_together(["project_id", "title"]);
    let document = ModelDef::new("Document")
        .id(IdType::Uuid)
        .table("docs")
        .field(FieldDef::bytes("body"))
        .field(FieldDef::float("ratio").default(1.5))
        .field(FieldDef::uuid("owner").optional().indexed())
        .field(FieldDef::datetime("seen_at").optional())
        .field(
            FieldDef::integer("task_id")
                .references("Task")
                .on_delete(OnDelete::Cascade),
        );
    Schema::new([document, task, project]).expect("the snapshot models are valid")
}

fn model<'a>(schema: &'a Schema, name: &str) -> &'a ModelInfo {
    schema.get(name).expect("model exists")
}

fn cols<'a>(m: &'a ModelInfo, names: &[&str]) -> Vec<&'a Column> {
    names
        .iter()
        .map(|n| m.column(n).expect("column exists"))
        .collect()
}

fn all_cols(m: &ModelInfo) -> Vec<&Column> {
    m.columns.iter().collect()
}

fn filter(m: &ModelInfo, json: Value) -> Filter {
    parse_filter(m, &json).expect("the snapshot filters are valid")
}

fn order(m: &ModelInfo, json: Value) -> Vec<OrderBy> {
    parse_order_by(m, Some(&json)).expect("the snapshot orderings are valid")
}

fn ts(s: &str) -> DateTime<Utc> {
    DateTime::parse_from_rfc3339(s)
        .expect("a fixed RFC 3339 instant")
        .with_timezone(&Utc)
}

fn date(s: &str) -> NaiveDate {
    NaiveDate::parse_from_str(s, "%Y-%m-%d").expect("a fixed date")
}

fn dec(s: &str) -> Decimal {
    Decimal::from_str(s).expect("a fixed decimal")
}

/// One statement as snapshot text: the SQL, then each bound value with its placeholder number.
fn render(stmt: &Stmt) -> String {
    let mut out = format!("{}\n", stmt.sql);
    if stmt.values.is_empty() {
        out.push_str("-- no values\n");
    } else {
        out.push_str("-- values\n");
        for (i, v) in stmt.values.iter().enumerate() {
            let _ = writeln!(out, "{:>3}: {v:?}", i + 1);
        }
    }
    out
}

fn render_all(stmts: &[Stmt]) -> String {
    stmts
        .iter()
        .enumerate()
        .map(|(i, s)| format!("-- statement {}\n{}", i + 1, render(s)))
        .collect::<Vec<_>>()
        .join("\n")
}

/// Snapshots one statement per dialect as `<case>__<dialect>`.
fn snap_each(case: &str, build: impl Fn(Dialect) -> Stmt) {
    for d in DIALECTS {
        insta::assert_snapshot!(format!("{case}__{}", d.as_str()), render(&build(d)));
    }
}

// ---------------------------------------------------------------------------------------------
// DDL

fn snap_ddl(name: &str) {
    let s = schema();
    let tables = |n: &str| s.get(n).map(|m| m.table.clone());
    for d in DIALECTS {
        let stmts = create_table(model(&s, name), &tables, d);
        insta::assert_snapshot!(
            format!("ddl_{}__{}", name.to_lowercase(), d.as_str()),
            render_all(&stmts)
        );
    }
}

#[test]
fn ddl_project_unique_string() {
    snap_ddl("Project");
}

#[test]
fn ddl_task_soft_delete_enum_reference_indexes() {
    snap_ddl("Task");
}

#[test]
fn ddl_document_uuid_id() {
    snap_ddl("Document");
}

// ---------------------------------------------------------------------------------------------
// SELECT and COUNT

#[test]
fn select_all_columns_without_filter() {
    let s = schema();
    let m = model(&s, "Task");
    let columns = all_cols(m);
    let f = filter(m, Value::Null);
    snap_each("select_all_columns_without_filter", |d| {
        select(
            m,
            SelectSpec {
                columns: &columns,
                filter: &f,
                include_deleted: false,
                order: &[],
                after: None,
                limit: None,
                offset: None,
                for_update: false,
            },
            d,
        )
    });
}

#[test]
fn select_every_operator_with_order_limit_offset() {
    let s = schema();
    let m = model(&s, "Task");
    let columns = cols(m, &["id", "title", "state", "due"]);
    let f = filter(
        m,
        json!({
            "state": {"$in": ["open", "in_progress"]},
            "estimate": {"$gte": 2, "$lt": 40},
            "due": {"$ne": "2026-03-01"},
            "cost": {"$lte": "19.99", "$gt": 0},
            "title": {"$contains": "50%_off\\", "$startswith": "Re: ", "$like": "a_c%", "$ilike": "ÄBC%"},
            "notes": {"$regex": "^(todo|fixme):", "$null": false},
            "urgent": true,
            "project_id": {"$nin": [1, 2]},
            "$or": [{"id": 7}, {"id": {"$eq": "8"}}, {"labels": {"$null": true}}],
            "$not": {"estimate": null},
            "created_at": {"$gte": "2026-01-02T03:04:05.000006Z"}
        }),
    );
    let o = order(m, json!("-due,title"));
    snap_each("select_every_operator_with_order_limit_offset", |d| {
        select(
            m,
            SelectSpec {
                columns: &columns,
                filter: &f,
                include_deleted: false,
                order: &o,
                after: None,
                limit: Some(21),
                offset: Some(40),
                for_update: false,
            },
            d,
        )
    });
}

#[test]
fn select_empty_lists_and_combinators() {
    let s = schema();
    let m = model(&s, "Task");
    let columns = cols(m, &["id"]);
    let f = filter(
        m,
        json!({
            "$and": [{}, {"state": {"$in": []}}],
            "$or": [],
            "$not": {"$or": [{"estimate": {"$nin": []}}, {"$and": []}]}
        }),
    );
    snap_each("select_empty_lists_and_combinators", |d| {
        select(
            m,
            SelectSpec {
                columns: &columns,
                filter: &f,
                include_deleted: false,
                order: &[],
                after: None,
                limit: Some(1),
                offset: None,
                for_update: false,
            },
            d,
        )
    });
}

#[test]
fn select_by_id_including_deleted_for_update() {
    let s = schema();
    let m = model(&s, "Task");
    let columns = all_cols(m);
    let f = filter(m, json!({"id": 42}));
    snap_each("select_by_id_including_deleted_for_update", |d| {
        select(
            m,
            SelectSpec {
                columns: &columns,
                filter: &f,
                include_deleted: true,
                order: &[],
                after: None,
                limit: Some(1),
                offset: None,
                for_update: true,
            },
            d,
        )
    });
}

#[test]
fn select_offset_without_limit() {
    let s = schema();
    let m = model(&s, "Project");
    let columns = cols(m, &["id", "name"]);
    let f = filter(m, json!({}));
    let o = order(m, json!(["name"]));
    snap_each("select_offset_without_limit", |d| {
        select(
            m,
            SelectSpec {
                columns: &columns,
                filter: &f,
                include_deleted: false,
                order: &o,
                after: None,
                limit: None,
                offset: Some(10),
                for_update: false,
            },
            d,
        )
    });
}

/// A keyset page after a cursor made from a record, the way List makes `next_cursor`.
fn snap_cursor(case: &str, record: Value) {
    let s = schema();
    let m = model(&s, "Task");
    let columns = cols(m, &["id", "due", "title", "estimate"]);
    let f = filter(m, json!({"state": "open"}));
    let o = order(m, json!(["-due", "estimate", "title"]));
    let text = Cursor::encode(record.as_object().expect("an object"), &o);
    let cursor = Cursor::decode(m, &o, &text).expect("a cursor of this ordering");
    snap_each(case, |d| {
        select(
            m,
            SelectSpec {
                columns: &columns,
                filter: &f,
                include_deleted: false,
                order: &o,
                after: Some(&cursor),
                limit: Some(11),
                offset: None,
                for_update: false,
            },
            d,
        )
    });
}

#[test]
fn select_after_cursor_with_values() {
    snap_cursor(
        "select_after_cursor_with_values",
        json!({"id": 17, "due": "2026-04-30", "estimate": 3, "title": "Write docs"}),
    );
}

#[test]
fn select_after_cursor_among_nulls() {
    snap_cursor(
        "select_after_cursor_among_nulls",
        json!({"id": 18, "due": null, "estimate": null, "title": "Later"}),
    );
}

/// Ordering by an enum: every database must sort by the text (MySQL's ENUM would sort by
/// declaration index), since keyset conditions compare the text.
#[test]
fn select_ordered_by_enum_after_cursor() {
    let s = schema();
    let m = model(&s, "Task");
    let columns = cols(m, &["id", "state"]);
    let f = filter(m, Value::Null);
    let o = order(m, json!("state,-id"));
    let text = Cursor::encode(
        json!({"id": 5, "state": "in_progress"})
            .as_object()
            .expect("an object"),
        &o,
    );
    let cursor = Cursor::decode(m, &o, &text).expect("a cursor of this ordering");
    snap_each("select_ordered_by_enum_after_cursor", |d| {
        select(
            m,
            SelectSpec {
                columns: &columns,
                filter: &f,
                include_deleted: false,
                order: &o,
                after: Some(&cursor),
                limit: Some(3),
                offset: None,
                for_update: false,
            },
            d,
        )
    });
}

#[test]
fn select_uuid_model_after_cursor() {
    let s = schema();
    let m = model(&s, "Document");
    let columns = cols(m, &["id", "seen_at"]);
    let f = filter(
        m,
        json!({"owner": "0190a5b2-7c3d-7e4f-8a9b-0c1d2e3f4a5b", "ratio": {"$gt": 0.25}}),
    );
    let o = order(m, json!("-seen_at"));
    let cursor = Cursor::decode(
        m,
        &o,
        &Cursor::encode(
            json!({"id": "0190a5b2-0000-7000-8000-000000000001", "seen_at": "2026-01-02T03:04:05.000006Z"})
                .as_object()
                .expect("an object"),
            &o,
        ),
    )
    .expect("a cursor of this ordering");
    snap_each("select_uuid_model_after_cursor", |d| {
        select(
            m,
            SelectSpec {
                columns: &columns,
                filter: &f,
                include_deleted: false,
                order: &o,
                after: Some(&cursor),
                limit: Some(5),
                offset: None,
                for_update: false,
            },
            d,
        )
    });
}

#[test]
fn count_with_filter() {
    let s = schema();
    let m = model(&s, "Task");
    let f = filter(
        m,
        json!({"$or": [{"state": "done"}, {"due": {"$lt": "2026-01-01"}}], "urgent": false}),
    );
    snap_each("count_with_filter", |d| count(m, &f, false, d));
}

#[test]
fn count_everything_including_deleted() {
    let s = schema();
    let m = model(&s, "Task");
    let f = filter(m, Value::Null);
    snap_each("count_everything_including_deleted", |d| {
        count(m, &f, true, d)
    });
}

// ---------------------------------------------------------------------------------------------
// INSERT

const CREATED: &str = "2026-01-02T03:04:05.000006Z";

/// The insert columns of Task (no id, no deleted_at) and one row of values for them.
fn task_row<'a>(
    m: &'a ModelInfo,
    title: &str,
    project: Option<i64>,
) -> (Vec<&'a Column>, Vec<Val>) {
    let columns = cols(
        m,
        &[
            "title",
            "notes",
            "estimate",
            "due",
            "state",
            "project_id",
            "cost",
            "urgent",
            "labels",
            "created_at",
            "updated_at",
        ],
    );
    let row = vec![
        Val::Text(title.into()),
        Val::Null,
        Val::Int(5),
        Val::Date(date("2026-02-28")),
        Val::Text("open".into()),
        project.map_or(Val::Null, Val::Int),
        Val::Decimal(dec("12.50")),
        Val::Bool(false),
        Val::Json(json!({"tags": ["a", "b"]})),
        Val::DateTime(ts(CREATED)),
        Val::DateTime(ts(CREATED)),
    ];
    (columns, row)
}

#[test]
fn insert_one_returning_everything() {
    let s = schema();
    let m = model(&s, "Task");
    let (columns, row) = task_row(m, "First", Some(1));
    let returning = all_cols(m);
    snap_each("insert_one_returning_everything", |d| {
        insert(m, &columns, std::slice::from_ref(&row), None, &returning, d)
    });
}

#[test]
fn insert_one_without_returning() {
    let s = schema();
    let m = model(&s, "Task");
    let (columns, row) = task_row(m, "First", None);
    snap_each("insert_one_without_returning", |d| {
        insert(m, &columns, std::slice::from_ref(&row), None, &[], d)
    });
}

#[test]
fn insert_many_returning_ids() {
    let s = schema();
    let m = model(&s, "Task");
    let (columns, a) = task_row(m, "One", Some(1));
    let (_, b) = task_row(m, "Two", None);
    let (_, c) = task_row(m, "It's \"three\"", Some(2));
    let returning = cols(m, &["id"]);
    snap_each("insert_many_returning_ids", |d| {
        insert(
            m,
            &columns,
            &[a.clone(), b.clone(), c.clone()],
            None,
            &returning,
            d,
        )
    });
}

#[test]
fn insert_many_on_conflict_do_nothing() {
    let s = schema();
    let m = model(&s, "Task");
    let (columns, a) = task_row(m, "One", Some(1));
    let (_, b) = task_row(m, "Two", Some(1));
    let returning = cols(m, &["id"]);
    snap_each("insert_many_on_conflict_do_nothing", |d| {
        insert(
            m,
            &columns,
            &[a.clone(), b.clone()],
            Some(Conflict::Nothing),
            &returning,
            d,
        )
    });
}

#[test]
fn insert_one_on_conflict_do_nothing_without_returning() {
    let s = schema();
    let m = model(&s, "Project");
    let columns = cols(m, &["name", "created_at", "updated_at"]);
    let row = vec![
        Val::Text("Apollo".into()),
        Val::DateTime(ts(CREATED)),
        Val::DateTime(ts(CREATED)),
    ];
    snap_each("insert_one_on_conflict_do_nothing_without_returning", |d| {
        insert(
            m,
            &columns,
            std::slice::from_ref(&row),
            Some(Conflict::Nothing),
            &[],
            d,
        )
    });
}

#[test]
fn insert_many_on_conflict_update_returning() {
    let s = schema();
    let m = model(&s, "Task");
    let (columns, a) = task_row(m, "One", Some(1));
    let (_, b) = task_row(m, "Two", Some(1));
    let target = vec!["project_id".to_string(), "title".to_string()];
    let update = vec![
        "estimate".to_string(),
        "due".to_string(),
        "state".to_string(),
        "updated_at".to_string(),
    ];
    let returning = cols(m, &["id", "title"]);
    snap_each("insert_many_on_conflict_update_returning", |d| {
        insert(
            m,
            &columns,
            &[a.clone(), b.clone()],
            Some(Conflict::Update {
                target: &target,
                columns: &update,
            }),
            &returning,
            d,
        )
    });
}

#[test]
fn insert_one_on_conflict_update_by_id() {
    let s = schema();
    let m = model(&s, "Project");
    let columns = cols(m, &["id", "name", "created_at", "updated_at"]);
    let row = vec![
        Val::Int(9),
        Val::Text("Gemini".into()),
        Val::DateTime(ts(CREATED)),
        Val::DateTime(ts(CREATED)),
    ];
    let target = vec!["id".to_string()];
    let update = vec!["name".to_string(), "updated_at".to_string()];
    snap_each("insert_one_on_conflict_update_by_id", |d| {
        insert(
            m,
            &columns,
            std::slice::from_ref(&row),
            Some(Conflict::Update {
                target: &target,
                columns: &update,
            }),
            &[],
            d,
        )
    });
}

#[test]
fn insert_uuid_model_every_value_type() {
    let s = schema();
    let m = model(&s, "Document");
    let columns = cols(
        m,
        &[
            "id",
            "body",
            "ratio",
            "owner",
            "seen_at",
            "task_id",
            "created_at",
            "updated_at",
        ],
    );
    let id = uuid::Uuid::parse_str("0190a5b2-7c3d-7e4f-8a9b-0c1d2e3f4a5b").expect("a uuid");
    let full = vec![
        Val::Uuid(id),
        Val::Bytes(vec![0, 1, 2, 255]),
        Val::Float(0.125),
        Val::Uuid(uuid::Uuid::nil()),
        Val::DateTime(ts("2025-12-31T23:59:59.999999Z")),
        Val::Int(3),
        Val::DateTime(ts(CREATED)),
        Val::DateTime(ts(CREATED)),
    ];
    let nulls = vec![
        Val::Uuid(uuid::Uuid::max()),
        Val::Bytes(Vec::new()),
        Val::Float(-1e300),
        Val::Null,
        Val::Null,
        Val::Int(4),
        Val::DateTime(ts(CREATED)),
        Val::DateTime(ts(CREATED)),
    ];
    let returning = all_cols(m);
    snap_each("insert_uuid_model_every_value_type", |d| {
        insert(
            m,
            &columns,
            &[full.clone(), nulls.clone()],
            None,
            &returning,
            d,
        )
    });
}

#[test]
fn insert_default_values() {
    let s = schema();
    let m = model(&s, "Project");
    let returning = cols(m, &["id"]);
    snap_each("insert_default_values", |d| {
        insert(m, &[], &[], None, &returning, d)
    });
}

// ---------------------------------------------------------------------------------------------
// UPDATE, DELETE and the sequence

#[test]
fn update_by_id_returning_everything() {
    let s = schema();
    let m = model(&s, "Task");
    let sets = vec![
        (
            m.column("title").expect("title"),
            Val::Text("Renamed".into()),
        ),
        (m.column("due").expect("due"), Val::Null),
        (m.column("cost").expect("cost"), Val::Null),
        (
            m.column("labels").expect("labels"),
            Val::Json(json!([1, "two"])),
        ),
        (
            m.column("updated_at").expect("updated_at"),
            Val::DateTime(ts(CREATED)),
        ),
    ];
    let f = filter(m, json!({"id": 42}));
    let returning = all_cols(m);
    snap_each("update_by_id_returning_everything", |d| {
        update_where(m, &sets, &f, false, &returning, d)
    });
}

#[test]
fn update_where_soft_delete_tombstone() {
    let s = schema();
    let m = model(&s, "Task");
    let sets = vec![
        (
            m.column("deleted_at").expect("deleted_at"),
            Val::DateTime(ts(CREATED)),
        ),
        (
            m.column("updated_at").expect("updated_at"),
            Val::DateTime(ts(CREATED)),
        ),
    ];
    let f = filter(m, json!({"state": {"$ne": "done"}, "project_id": 3}));
    snap_each("update_where_soft_delete_tombstone", |d| {
        update_where(m, &sets, &f, false, &[], d)
    });
}

#[test]
fn update_everything_including_deleted() {
    let s = schema();
    let m = model(&s, "Task");
    let sets = vec![(m.column("urgent").expect("urgent"), Val::Bool(true))];
    let f = filter(m, json!({}));
    snap_each("update_everything_including_deleted", |d| {
        update_where(m, &sets, &f, true, &[], d)
    });
}

#[test]
fn delete_where_filter() {
    let s = schema();
    let m = model(&s, "Document");
    let f = filter(
        m,
        json!({"id": {"$in": ["0190a5b2-7c3d-7e4f-8a9b-0c1d2e3f4a5b"]}, "seen_at": {"$lt": CREATED}}),
    );
    snap_each("delete_where_filter", |d| delete_where(m, &f, d));
}

#[test]
fn delete_everything() {
    let s = schema();
    let m = model(&s, "Project");
    let f = filter(m, Value::Null);
    snap_each("delete_everything", |d| delete_where(m, &f, d));
}

#[test]
fn sync_sequence_per_dialect() {
    let s = schema();
    for name in ["Task", "Document"] {
        for d in DIALECTS {
            let text = match sync_sequence(model(&s, name), d) {
                Some(stmt) => render(&stmt),
                None => "-- none\n".to_string(),
            };
            insta::assert_snapshot!(
                format!("sync_sequence_{}__{}", name.to_lowercase(), d.as_str()),
                text
            );
        }
    }
}

#[test]
fn savepoints() {
    let text: Vec<String> = [
        sql::SavepointAction::Create,
        sql::SavepointAction::Release,
        sql::SavepointAction::RollbackTo,
    ]
    .into_iter()
    .map(|a| render(&sql::savepoint("sp1", a)))
    .collect();
    insta::assert_snapshot!("savepoints", text.join("\n"));
}
