//! Upsert: created, then updated; keyed on a unique field, a composite unique set, the id; onto
//! a tombstone.

use crate::common::Backend;
use crate::conformance;
use crate::support::{check_err, db, invalid, models};
use serde_json::{Value, json};

async fn created_then_updated(b: Backend) {
    let Some(db) = db(b, models()).await else {
        return;
    };
    let params = json!({
        "where": {"ref": "T-1"},
        "create": {"title": "New", "estimate": 1},
        "update": {"title": "Again"}
    });
    let first = db.ok("Task", "upsert", params.clone()).await;
    assert_eq!(first["action"], "created");
    let rec = &first["record"];
    assert_eq!(
        (&rec["ref"], &rec["title"], &rec["estimate"], &rec["state"]),
        (&json!("T-1"), &json!("New"), &json!(1), &json!("open"))
    );
    assert!(rec["id"].is_i64());
    assert_eq!(&db.ok("Task", "read", json!({"id": rec["id"]})).await, rec);

    let second = db.ok("Task", "upsert", params).await;
    assert_eq!(second["action"], "updated");
    let rec2 = &second["record"];
    assert_eq!(rec2["id"], rec["id"]);
    assert_eq!(rec2["title"], "Again");
    assert_eq!(rec2["estimate"], 1, "update touches only its fields");
    assert_eq!(rec2["created_at"], rec["created_at"]);
    assert_eq!(db.count("Task", json!({})).await, 1);

    // No update: the existing record comes back unchanged.
    let third = db
        .ok(
            "Task",
            "upsert",
            json!({"where": {"ref": "T-1"}, "create": {"title": "x"}}),
        )
        .await;
    assert_eq!(third, json!({"action": "updated", "record": rec2}));
}

async fn composite_unique_set(b: Backend) {
    let Some(db) = db(b, models()).await else {
        return;
    };
    let upsert = |org: &str, email: &str, role: &str| {
        json!({
            "where": {"org": org, "email": email},
            "conflict_on": ["email", "org"],
            "create": {"role": role},
            "update": {"role": role}
        })
    };
    let a = db
        .ok("Member", "upsert", upsert("acme", "a@x", "dev"))
        .await;
    assert_eq!(a["action"], "created");
    let b2 = db
        .ok("Member", "upsert", upsert("beta", "a@x", "ops"))
        .await;
    assert_eq!(
        b2["action"], "created",
        "the same email in another org is new"
    );
    let a2 = db
        .ok("Member", "upsert", upsert("acme", "a@x", "lead"))
        .await;
    assert_eq!(a2["action"], "updated");
    assert_eq!(a2["record"]["id"], a["record"]["id"]);
    assert_eq!(a2["record"]["role"], "lead");
    assert_eq!(
        db.column("Member", "role", json!({})).await,
        [json!("lead"), json!("ops")]
    );
    // conflict_on defaults to the where keys.
    let a3 = db
        .ok(
            "Member",
            "upsert",
            json!({"where": {"org": "acme", "email": "a@x"}, "update": {"role": null}}),
        )
        .await;
    assert_eq!(a3["action"], "updated");
    assert_eq!(a3["record"]["role"], Value::Null);
    // Part of a unique set is not a key.
    invalid(
        &db.err(
            "Member",
            "upsert",
            json!({"where": {"org": "acme"}, "create": {"email": "b@x"}}),
        )
        .await,
        "conflict_on",
    );
    invalid(
        &db.err(
            "Member",
            "upsert",
            json!({"where": {"org": "acme"}, "conflict_on": ["org", "email"]}),
        )
        .await,
        "where.email",
    );
}

async fn keyed_on_the_id(b: Backend) {
    let Some(db) = db(b, models()).await else {
        return;
    };
    let t = db
        .ok(
            "Tag",
            "upsert",
            json!({"where": {"id": "rust"}, "create": {"label": "Rust"}, "update": {"label": "Rust!"}}),
        )
        .await;
    assert_eq!(t["action"], "created");
    assert_eq!(t["record"]["id"], "rust");
    let t = db
        .ok(
            "Tag",
            "upsert",
            json!({"where": {"id": "rust"}, "create": {"label": "Rust"}, "update": {"label": "Rust!"}}),
        )
        .await;
    assert_eq!(t["action"], "updated");
    assert_eq!(t["record"]["label"], "Rust!");

    // On a model whose ids the database generates, an upsert may choose the id; later creates
    // carry on after it.
    let n = db
        .ok(
            "Note",
            "upsert",
            json!({"where": {"id": 50}, "create": {"body": "fifty"}}),
        )
        .await;
    assert_eq!(n["action"], "created");
    assert_eq!(n["record"]["id"], 50);
    let next = db.ok("Note", "create", json!({"body": "next"})).await;
    assert_eq!(next["id"], 51);
    let n = db
        .ok(
            "Note",
            "upsert",
            json!({"where": {"id": "50"}, "update": {"body": "FIFTY"}}),
        )
        .await;
    assert_eq!(n["action"], "updated");
    assert_eq!(n["record"]["body"], "FIFTY");
}

async fn onto_a_tombstone(b: Backend) {
    let Some(db) = db(b, models()).await else {
        return;
    };
    let t = db
        .ok("Task", "create", json!({"title": "old", "ref": "T-9"}))
        .await;
    db.ok("Task", "delete", json!({"id": t["id"]})).await;
    assert_eq!(db.count("Task", json!({})).await, 0);
    let up = db
        .ok(
            "Task",
            "upsert",
            json!({"where": {"ref": "T-9"}, "create": {"title": "new"}, "update": {"title": "back"}}),
        )
        .await;
    assert_eq!(up["action"], "updated");
    assert_eq!(up["record"]["id"], t["id"]);
    assert_eq!(up["record"]["title"], "back");
    assert_eq!(
        up["record"]["deleted_at"],
        Value::Null,
        "the record is back"
    );
    assert_eq!(
        db.ok("Task", "read", json!({"id": t["id"]})).await,
        up["record"]
    );
    assert_eq!(db.count("Task", json!({})).await, 1);

    // Without an update, too.
    db.ok("Task", "delete", json!({"id": t["id"]})).await;
    let up = db
        .ok("Task", "upsert", json!({"where": {"ref": "T-9"}}))
        .await;
    assert_eq!(up["action"], "updated");
    assert_eq!(up["record"]["deleted_at"], Value::Null);
    assert_eq!(db.count("Task", json!({})).await, 1);
}

async fn upsert_bad_input(b: Backend) {
    let Some(db) = db(b, models()).await else {
        return;
    };
    invalid(
        &db.err("Task", "upsert", json!({"create": {"title": "x"}}))
            .await,
        "where",
    );
    invalid(
        &db.err("Task", "upsert", json!({"where": {}})).await,
        "where",
    );
    invalid(
        &db.err("Task", "upsert", json!({"where": {"title": "x"}}))
            .await,
        "conflict_on",
    );
    invalid(
        &db.err("Task", "upsert", json!({"where": {"ref": {"$eq": "x"}}}))
            .await,
        "where.ref",
    );
    invalid(
        &db.err("Task", "upsert", json!({"where": {"nope": 1}}))
            .await,
        "where.nope",
    );
    invalid(
        &db.err(
            "Task",
            "upsert",
            json!({"where": {"ref": "a"}, "create": {"ref": "b", "title": "t"}}),
        )
        .await,
        "create.ref",
    );
    invalid(
        &db.err("Task", "upsert", json!({"where": {"ref": "a"}}))
            .await,
        "create.title",
    );
    invalid(
        &db.err(
            "Task",
            "upsert",
            json!({"where": {"ref": "a"}, "create": {"title": "t"}, "update": {"created_at": "2026-01-01T00:00:00Z"}}),
        )
        .await,
        "update.created_at",
    );
    assert_eq!(db.table("Task").await, Vec::<Value>::new());
    // A missing reference in the new record is a conflict, and nothing is written.
    check_err(
        &db.err(
            "Task",
            "upsert",
            json!({"where": {"ref": "a"}, "create": {"title": "t", "project_id": 4242}}),
        )
        .await,
        "conflict",
        None,
    );
    assert_eq!(db.table("Task").await, Vec::<Value>::new());
}

conformance!(
    created_then_updated,
    composite_unique_set,
    keyed_on_the_id,
    onto_a_tombstone,
    upsert_bad_input,
);
