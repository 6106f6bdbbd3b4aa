//! A first pass over every operation on every backend.
#![allow(missing_docs)]

mod common;

use common::Backend;
use flowgate::{Context, FieldDef, ModelDef, OpKind, Operation};
use serde_json::{Value, json};

fn models() -> Vec<ModelDef> {
    vec![
        ModelDef::new("Project").field(FieldDef::string("name").max_length(120).unique()),
        ModelDef::new("Task")
            .soft_delete()
            .field(FieldDef::string("title").max_length(200))
            .field(FieldDef::string("ref").max_length(40).unique())
            .field(FieldDef::integer("estimate").optional())
            .field(FieldDef::decimal("budget").optional())
            .field(FieldDef::date("due").optional())
            .field(FieldDef::json("labels").default(json!([])))
            .field(FieldDef::enumeration("state", ["open", "done"]).default("open"))
            .field(
                FieldDef::integer("project_id")
                    .references("Project")
                    .optional(),
            )
            .index(["state", "due"]),
    ]
}

async fn op(
    store: &flowgate::Store,
    model: &str,
    kind: OpKind,
    params: Value,
) -> flowgate::Result<Value> {
    store
        .execute(&Context::internal(), &Operation::new(model, kind, params))
        .await
}

async fn everything(b: Backend) {
    let Some(s) = common::store(b, models()).await else {
        return;
    };
    let p = op(&s, "Project", OpKind::Create, json!({"name": "Apollo"}))
        .await
        .unwrap();
    let pid = p["id"].clone();
    assert!(pid.is_i64(), "{p}");
    let t = op(&s, "Task", OpKind::Create, json!({"title": "Land", "ref": "T-1", "budget": "12.50", "due": "2026-12-01", "project_id": pid})).await.unwrap();
    assert_eq!(t["budget"], json!("12.5"));
    assert_eq!(t["labels"], json!([]));
    assert_eq!(t["state"], json!("open"));
    assert_eq!(t["deleted_at"], Value::Null);
    let id = t["id"].clone();
    let r = op(&s, "Task", OpKind::Read, json!({"id": id}))
        .await
        .unwrap();
    assert_eq!(r, t);
    let u = op(
        &s,
        "Task",
        OpKind::Update,
        json!({"id": id, "fields": {"state": "done", "estimate": 3}}),
    )
    .await
    .unwrap();
    assert_eq!(u["state"], "done");
    let l = op(
        &s,
        "Task",
        OpKind::List,
        json!({"filter": {"state": "done"}, "count": true}),
    )
    .await
    .unwrap();
    assert_eq!(l["count"], 1);
    let c = op(
        &s,
        "Task",
        OpKind::Count,
        json!({"filter": {"title": {"$regex": "^La"}}}),
    )
    .await
    .unwrap();
    assert_eq!(c["count"], 1);
    let up = op(
        &s,
        "Task",
        OpKind::Upsert,
        json!({"where": {"ref": "T-2"}, "create": {"title": "New"}, "update": {"title": "Again"}}),
    )
    .await
    .unwrap();
    assert_eq!(up["action"], "created");
    let up = op(
        &s,
        "Task",
        OpKind::Upsert,
        json!({"where": {"ref": "T-2"}, "create": {"title": "New"}, "update": {"title": "Again"}}),
    )
    .await
    .unwrap();
    assert_eq!(up["action"], "updated");
    assert_eq!(up["record"]["title"], "Again");
    let data: Vec<Value> = (0..50)
        .map(|i| json!({"title": format!("t{i}"), "ref": format!("B-{i}")}))
        .collect();
    let bc = op(&s, "Task", OpKind::BulkCreate, json!({"data": data}))
        .await
        .unwrap();
    assert_eq!(bc["inserted"], 50, "{bc}");
    assert_eq!(bc["ids"].as_array().unwrap().len(), 50);
    let bc = op(&s, "Task", OpKind::BulkCreate, json!({"data": [{"title": "x", "ref": "B-1"}, {"title": "y", "ref": "B-new"}], "on_conflict": "skip"})).await.unwrap();
    assert_eq!(
        (bc["inserted"].as_u64(), bc["skipped"].as_u64()),
        (Some(1), Some(1)),
        "{bc}"
    );
    let bu = op(
        &s,
        "Task",
        OpKind::BulkUpdate,
        json!({"filter": {"ref": {"$startswith": "B-"}}, "fields": {"estimate": 1}}),
    )
    .await
    .unwrap();
    assert_eq!(bu["updated"], 51);
    let bups = op(&s, "Task", OpKind::BulkUpsert, json!({"data": [{"title": "z", "ref": "B-2"}, {"title": "w", "ref": "C-1"}], "conflict_on": ["ref"]})).await.unwrap();
    assert_eq!(bups, json!({"inserted": 1, "updated": 1, "skipped": 0}));
    let bd = op(
        &s,
        "Task",
        OpKind::BulkDelete,
        json!({"filter": {"ref": {"$like": "B-%"}}, "max_affected": 10}),
    )
    .await
    .unwrap_err();
    assert_eq!(bd.code(), "validation");
    let bd = op(
        &s,
        "Task",
        OpKind::BulkDelete,
        json!({"filter": {"ref": {"$like": "B-%"}}}),
    )
    .await
    .unwrap();
    assert_eq!(bd["deleted"], 51);
    let d = op(&s, "Task", OpKind::Delete, json!({"id": id}))
        .await
        .unwrap();
    assert_eq!(d["deleted"], true);
    let e = op(&s, "Task", OpKind::Read, json!({"id": id}))
        .await
        .unwrap_err();
    assert_eq!(e.code(), "not_found");
    let r = op(
        &s,
        "Task",
        OpKind::Read,
        json!({"id": id, "include_deleted": true}),
    )
    .await
    .unwrap();
    assert!(r["deleted_at"].is_string());
    let page = op(
        &s,
        "Task",
        OpKind::List,
        json!({"limit": 2, "order_by": "-ref", "include_deleted": true}),
    )
    .await
    .unwrap();
    assert!(page["next_cursor"].is_string(), "{page}");
    let page2 = op(&s, "Task", OpKind::List, json!({"limit": 2, "order_by": "-ref", "include_deleted": true, "cursor": page["next_cursor"]})).await.unwrap();
    assert_ne!(page["records"][0]["id"], page2["records"][0]["id"]);
}

conformance!(everything);
