//! Soft delete: tombstones are hidden from read, list, count and writes unless asked for, and
//! bulk deletes keep them.

use crate::common::Backend;
use crate::conformance;
use crate::support::{Db, check_err, db, models, records};
use serde_json::{Value, json};

async fn tasks(db: &Db, n: usize) -> Vec<Value> {
    let mut out = Vec::new();
    for i in 0..n {
        out.push(
            db.ok(
                "Task",
                "create",
                json!({"title": format!("t{i}"), "ref": format!("R-{i}"), "estimate": i}),
            )
            .await,
        );
    }
    out
}

async fn deleted_rows_are_hidden(b: Backend) {
    let Some(db) = db(b, models()).await else {
        return;
    };
    let t = tasks(&db, 3).await;
    assert_eq!(t[0]["deleted_at"], Value::Null);
    let out = db.ok("Task", "delete", json!({"id": t[1]["id"]})).await;
    assert_eq!(out, json!({"id": t[1]["id"], "deleted": true}));
    // Deleting a tombstone again deletes nothing.
    let out = db.ok("Task", "delete", json!({"id": t[1]["id"]})).await;
    assert_eq!(out, json!({"id": t[1]["id"], "deleted": false}));

    check_err(
        &db.err("Task", "read", json!({"id": t[1]["id"]})).await,
        "not_found",
        None,
    );
    let tomb = db
        .ok(
            "Task",
            "read",
            json!({"id": t[1]["id"], "include_deleted": true}),
        )
        .await;
    assert!(tomb["deleted_at"].is_string(), "{tomb}");
    assert_eq!(tomb["updated_at"], tomb["deleted_at"]);
    assert_eq!(tomb["title"], "t1");

    let live = records(&db.ok("Task", "list", json!({})).await);
    assert_eq!(live, [t[0].clone(), t[2].clone()]);
    let all = db
        .ok(
            "Task",
            "list",
            json!({"include_deleted": true, "count": true}),
        )
        .await;
    assert_eq!(all["count"], 3);
    assert_eq!(records(&all)[1], tomb);
    assert_eq!(db.ok("Task", "count", json!({})).await, json!({"count": 2}));
    assert_eq!(
        db.ok("Task", "count", json!({"include_deleted": true}))
            .await,
        json!({"count": 3})
    );
    assert_eq!(
        db.ok(
            "Task",
            "count",
            json!({"filter": {"deleted_at": {"$null": false}}, "include_deleted": true})
        )
        .await,
        json!({"count": 1})
    );
    // A filter naming the tombstone still sees only live rows unless asked.
    assert_eq!(db.count("Task", json!({"ref": "R-1"})).await, 0);

    // Writes do not reach tombstones.
    check_err(
        &db.err(
            "Task",
            "update",
            json!({"id": t[1]["id"], "fields": {"title": "x"}}),
        )
        .await,
        "not_found",
        None,
    );
    let out = db
        .ok(
            "Task",
            "bulk_update",
            json!({"filter": {}, "fields": {"title": "all"}, "confirm_all": true}),
        )
        .await;
    assert_eq!(out, json!({"updated": 2}));
    let tomb_after = db
        .ok(
            "Task",
            "read",
            json!({"id": t[1]["id"], "include_deleted": true}),
        )
        .await;
    assert_eq!(tomb_after, tomb);
    // The tombstone still holds its unique value.
    check_err(
        &db.err("Task", "create", json!({"title": "again", "ref": "R-1"}))
            .await,
        "conflict",
        Some("ref"),
    );
}

async fn bulk_delete_keeps_tombstones(b: Backend) {
    let Some(db) = db(b, models()).await else {
        return;
    };
    tasks(&db, 6).await;
    let out = db
        .ok(
            "Task",
            "bulk_delete",
            json!({"filter": {"estimate": {"$gte": 2}}}),
        )
        .await;
    assert_eq!(out, json!({"deleted": 4}));
    assert_eq!(db.count("Task", json!({})).await, 2);
    let all = records(
        &db.ok("Task", "list", json!({"include_deleted": true}))
            .await,
    );
    assert_eq!(all.len(), 6);
    let tombs: Vec<&Value> = all.iter().filter(|r| !r["deleted_at"].is_null()).collect();
    assert_eq!(tombs.len(), 4);
    assert!(tombs.iter().all(|r| r["estimate"].as_i64() >= Some(2)));
    // Tombstones are not deleted twice.
    let out = db
        .ok(
            "Task",
            "bulk_delete",
            json!({"filter": {}, "confirm_all": true}),
        )
        .await;
    assert_eq!(out, json!({"deleted": 2}));
    assert_eq!(
        db.ok("Task", "count", json!({"include_deleted": true}))
            .await,
        json!({"count": 6})
    );
    assert_eq!(db.count("Task", json!({})).await, 0);
    assert_eq!(
        records(&db.ok("Task", "list", json!({})).await),
        Vec::<Value>::new()
    );
}

async fn pages_with_tombstones(b: Backend) {
    let Some(db) = db(b, models()).await else {
        return;
    };
    let t = tasks(&db, 9).await;
    for i in [0, 4, 5, 8] {
        db.ok("Task", "delete", json!({"id": t[i]["id"]})).await;
    }
    let refs = |recs: &[Value]| recs.iter().map(|r| r["ref"].clone()).collect::<Vec<_>>();
    let mut seen = Vec::new();
    let mut params =
        json!({"limit": 2, "order_by": "-ref", "include_deleted": true, "count": true});
    loop {
        let page = db.ok("Task", "list", params.clone()).await;
        assert_eq!(page["count"], 9);
        seen.extend(records(&page));
        match page.get("next_cursor") {
            Some(c) => params["cursor"] = c.clone(),
            None => break,
        }
    }
    let mut all: Vec<Value> = t.iter().map(|r| r["ref"].clone()).collect();
    all.reverse();
    assert_eq!(refs(&seen), all);
    let live = records(
        &db.ok(
            "Task",
            "list",
            json!({"limit": 3, "order_by": "-ref", "offset": 1}),
        )
        .await,
    );
    assert_eq!(refs(&live), [json!("R-6"), json!("R-3"), json!("R-2")]);
}

conformance!(
    deleted_rows_are_hidden,
    bulk_delete_keeps_tombstones,
    pages_with_tombstones,
);
