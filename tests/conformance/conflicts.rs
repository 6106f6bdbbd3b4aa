//! Unique keys and references: breaking one is a conflict naming the field (or unique set) on
//! every database.

use crate::common::Backend;
use crate::conformance;
use crate::support::{check_err, db, models};
use serde_json::{Value, json};

async fn unique_fields(b: Backend) {
    let Some(db) = db(b, models()).await else {
        return;
    };
    let p = db.ok("Project", "create", json!({"name": "Apollo"})).await;
    let q = db.ok("Project", "create", json!({"name": "Gemini"})).await;
    let e = db.err("Project", "create", json!({"name": "Apollo"})).await;
    check_err(&e, "conflict", Some("name"));
    assert!(e.to_string().contains("Project"), "{e}");
    let e = db
        .err(
            "Project",
            "update",
            json!({"id": q["id"], "fields": {"name": "Apollo"}}),
        )
        .await;
    check_err(&e, "conflict", Some("name"));
    // Values differing only in case are distinct on every database.
    db.ok("Project", "create", json!({"name": "APOLLO"})).await;
    db.ok("Project", "create", json!({"name": "apollo "})).await;
    // Updating a record to its own value is no conflict.
    db.ok(
        "Project",
        "update",
        json!({"id": p["id"], "fields": {"name": "Apollo"}}),
    )
    .await;
    assert_eq!(db.count("Project", json!({})).await, 4);
}

async fn unique_ids(b: Backend) {
    let Some(db) = db(b, models()).await else {
        return;
    };
    db.ok("Tag", "create", json!({"id": "x", "label": "X"}))
        .await;
    let e = db
        .err("Tag", "create", json!({"id": "x", "label": "Y"}))
        .await;
    check_err(&e, "conflict", Some("id"));
    let id = "0191f5e2-7c3a-7b4e-9a5d-3f1e2d4c5b6a";
    db.ok("Doc", "create", json!({"id": id, "title": "a"}))
        .await;
    let e = db
        .err(
            "Doc",
            "create",
            json!({"id": id.to_uppercase(), "title": "b"}),
        )
        .await;
    check_err(&e, "conflict", Some("id"));
    let e = db
        .err(
            "Tag",
            "bulk_create",
            json!({"data": [{"id": "y", "label": "Y"}, {"id": "x", "label": "X"}]}),
        )
        .await;
    check_err(&e, "conflict", Some("id"));
    assert_eq!(db.count("Tag", json!({})).await, 1);
}

async fn composite_unique_sets(b: Backend) {
    let Some(db) = db(b, models()).await else {
        return;
    };
    db.ok("Member", "create", json!({"org": "o", "email": "a"}))
        .await;
    db.ok("Member", "create", json!({"org": "p", "email": "a"}))
        .await;
    let m = db
        .ok("Member", "create", json!({"org": "o", "email": "b"}))
        .await;
    let e = db
        .err(
            "Member",
            "create",
            json!({"org": "o", "email": "a", "role": "x"}),
        )
        .await;
    check_err(&e, "conflict", Some("org,email"));
    let e = db
        .err(
            "Member",
            "update",
            json!({"id": m["id"], "fields": {"email": "a"}}),
        )
        .await;
    check_err(&e, "conflict", Some("org,email"));
    assert_eq!(db.count("Member", json!({})).await, 3);
}

async fn missing_references(b: Backend) {
    let Some(db) = db(b, models()).await else {
        return;
    };
    let p = db.ok("Project", "create", json!({"name": "P"})).await;
    let e = db
        .err(
            "Task",
            "create",
            json!({"title": "t", "ref": "r", "project_id": 424242}),
        )
        .await;
    check_err(&e, "conflict", None);
    let t = db
        .ok(
            "Task",
            "create",
            json!({"title": "t", "ref": "r", "project_id": p["id"]}),
        )
        .await;
    let e = db
        .err(
            "Task",
            "update",
            json!({"id": t["id"], "fields": {"project_id": 424242}}),
        )
        .await;
    check_err(&e, "conflict", None);
    // Clearing an optional reference is fine.
    let cleared = db
        .ok(
            "Task",
            "update",
            json!({"id": t["id"], "fields": {"project_id": null}}),
        )
        .await;
    assert_eq!(cleared["project_id"], Value::Null);
    db.ok(
        "Task",
        "update",
        json!({"id": t["id"], "fields": {"project_id": p["id"]}}),
    )
    .await;
    // A referenced record cannot be deleted (the default on_delete is restrict).
    let e = db.err("Project", "delete", json!({"id": p["id"]})).await;
    check_err(&e, "conflict", None);
    assert_eq!(db.count("Project", json!({})).await, 1);
    // Skipping conflicts skips repeated keys, not broken references.
    let e = db
        .err(
            "Task",
            "bulk_create",
            json!({"data": [{"title": "a", "ref": "r"}, {"title": "b", "ref": "s", "project_id": 424242}], "on_conflict": "skip"}),
        )
        .await;
    check_err(&e, "conflict", None);
    let out = db
        .ok(
            "Task",
            "bulk_create",
            json!({"data": [{"title": "b", "ref": "s", "project_id": 424242}, {"title": "c", "ref": "u"}], "on_conflict": "skip", "atomic": false}),
        )
        .await;
    assert_eq!(
        (&out["inserted"], &out["skipped"]),
        (&json!(1), &json!(0)),
        "{out}"
    );
    assert_eq!(out["errors"][0]["index"], 0);
    assert_eq!(out["errors"][0]["error"]["code"], "conflict");
}

conformance!(
    unique_fields,
    unique_ids,
    composite_unique_sets,
    missing_references,
);
