//! Transactions: commit keeps every operation, rollback (or dropping the transaction) undoes
//! them all, savepoints undo part, and a failed operation leaves the transaction usable.

use crate::common::Backend;
use crate::conformance;
use crate::support::{check_err, db, invalid, models, records, tx_ok, tx_run};
use serde_json::{Value, json};

async fn commit_keeps_everything(b: Backend) {
    let Some(db) = db(b, models()).await else {
        return;
    };
    let mut tx = db.store.begin().await.unwrap();
    let p = tx_ok(&mut tx, "Project", "create", json!({"name": "Apollo"})).await;
    let t = tx_ok(
        &mut tx,
        "Task",
        "create",
        json!({"title": "a", "ref": "A", "project_id": p["id"]}),
    )
    .await;
    tx_ok(
        &mut tx,
        "Task",
        "bulk_create",
        json!({"data": [{"title": "b", "ref": "B"}, {"title": "c", "ref": "C"}]}),
    )
    .await;
    tx_ok(
        &mut tx,
        "Task",
        "update",
        json!({"id": t["id"], "fields": {"state": "done"}}),
    )
    .await;
    tx_ok(
        &mut tx,
        "Task",
        "upsert",
        json!({"where": {"ref": "B"}, "update": {"estimate": 2}}),
    )
    .await;
    tx_ok(
        &mut tx,
        "Task",
        "bulk_delete",
        json!({"filter": {"ref": "C"}}),
    )
    .await;
    // Reads inside the transaction see its writes.
    let seen = tx_ok(&mut tx, "Task", "list", json!({"count": true})).await;
    assert_eq!(seen["count"], 2);
    assert_eq!(
        tx_ok(&mut tx, "Task", "read", json!({"id": t["id"]})).await["state"],
        "done"
    );
    tx.commit().await.unwrap();

    let tasks = db.table("Task").await;
    assert_eq!(tasks.len(), 3);
    assert_eq!(tasks[0]["state"], "done");
    assert_eq!(tasks[0]["project_id"], p["id"]);
    assert_eq!(tasks[1]["estimate"], 2);
    assert!(tasks[2]["deleted_at"].is_string());
    assert_eq!(db.count("Project", json!({})).await, 1);
}

async fn rollback_undoes_everything(b: Backend) {
    let Some(db) = db(b, models()).await else {
        return;
    };
    let kept = db.ok("Note", "create", json!({"body": "kept"})).await;
    let before = db.table("Note").await;
    let mut tx = db.store.begin().await.unwrap();
    tx_ok(&mut tx, "Note", "create", json!({"body": "a"})).await;
    tx_ok(
        &mut tx,
        "Note",
        "update",
        json!({"id": kept["id"], "fields": {"body": "changed"}}),
    )
    .await;
    tx_ok(
        &mut tx,
        "Note",
        "bulk_create",
        json!({"data": [{"body": "b"}, {"body": "c"}]}),
    )
    .await;
    assert_eq!(
        tx_ok(&mut tx, "Note", "count", json!({})).await,
        json!({"count": 4})
    );
    tx.rollback().await.unwrap();
    assert_eq!(db.table("Note").await, before);
}

async fn dropping_rolls_back(b: Backend) {
    let Some(db) = db(b, models()).await else {
        return;
    };
    let kept = db.ok("Note", "create", json!({"body": "kept"})).await;
    {
        let mut tx = db.store.begin().await.unwrap();
        tx_ok(&mut tx, "Note", "create", json!({"body": "lost"})).await;
        tx_ok(&mut tx, "Note", "delete", json!({"id": kept["id"]})).await;
        // Dropped without commit.
    }
    assert_eq!(db.table("Note").await, std::slice::from_ref(&kept));
    // The store is fully usable afterwards, the rows the transaction touched included.
    db.ok(
        "Note",
        "update",
        json!({"id": kept["id"], "fields": {"body": "after"}}),
    )
    .await;
    db.ok("Note", "create", json!({"body": "new"})).await;
    assert_eq!(db.count("Note", json!({})).await, 2);
}

async fn savepoints(b: Backend) {
    let Some(db) = db(b, models()).await else {
        return;
    };
    let mut tx = db.store.begin().await.unwrap();
    tx_ok(&mut tx, "Note", "create", json!({"body": "a"})).await;
    let sp = tx.savepoint().await.unwrap();
    tx_ok(&mut tx, "Note", "create", json!({"body": "b"})).await;
    tx_ok(
        &mut tx,
        "Note",
        "bulk_update",
        json!({"filter": {}, "fields": {"rank": 1}, "confirm_all": true}),
    )
    .await;
    tx.rollback_to(&sp).await.unwrap();
    // The savepoint stays after a rollback to it: roll back to it twice.
    tx_ok(&mut tx, "Note", "create", json!({"body": "c"})).await;
    tx.rollback_to(&sp).await.unwrap();
    tx_ok(&mut tx, "Note", "create", json!({"body": "d"})).await;
    tx.release(sp).await.unwrap();
    // Nested savepoints.
    let outer = tx.savepoint().await.unwrap();
    tx_ok(&mut tx, "Note", "create", json!({"body": "e"})).await;
    let inner = tx.savepoint().await.unwrap();
    tx_ok(&mut tx, "Note", "create", json!({"body": "f"})).await;
    tx.rollback_to(&inner).await.unwrap();
    tx.release(inner).await.unwrap();
    tx.release(outer).await.unwrap();
    let bodies: Vec<Value> = records(&tx_ok(&mut tx, "Note", "list", json!({})).await)
        .iter()
        .map(|r| r["body"].clone())
        .collect();
    assert_eq!(bodies, [json!("a"), json!("d"), json!("e")]);
    tx.commit().await.unwrap();
    assert_eq!(
        db.column("Note", "body", json!({})).await,
        [json!("a"), json!("d"), json!("e")]
    );
    assert_eq!(
        db.column("Note", "rank", json!({})).await,
        vec![Value::Null; 3]
    );
}

async fn failed_operation_leaves_it_usable(b: Backend) {
    let Some(db) = db(b, models()).await else {
        return;
    };
    db.ok("Project", "create", json!({"name": "taken"})).await;
    let mut tx = db.store.begin().await.unwrap();
    tx_ok(&mut tx, "Project", "create", json!({"name": "first"})).await;
    // A database error (PostgreSQL would abort the whole transaction without a savepoint)...
    let e = tx_run(&mut tx, "Project", "create", json!({"name": "taken"}))
        .await
        .unwrap_err();
    check_err(&e, "conflict", Some("name"));
    let e = tx_run(
        &mut tx,
        "Task",
        "create",
        json!({"title": "t", "ref": "r", "project_id": 999}),
    )
    .await
    .unwrap_err();
    check_err(&e, "conflict", None);
    // ...a validation error, a failed multi-statement operation half done...
    let e = tx_run(&mut tx, "Project", "create", json!({"nope": 1}))
        .await
        .unwrap_err();
    invalid(&e, "nope");
    tx_ok(&mut tx, "Note", "create", json!({"body": "n1"})).await;
    tx_ok(&mut tx, "Note", "create", json!({"body": "n2"})).await;
    let e = tx_run(
        &mut tx,
        "Note",
        "bulk_update",
        json!({"filter": {}, "confirm_all": true, "fields": {"rank": 5}, "max_affected": 1}),
    )
    .await
    .unwrap_err();
    invalid(&e, "max_affected");
    let e = tx_run(
        &mut tx,
        "Project",
        "bulk_create",
        json!({"data": [{"name": "p1"}, {"name": "taken"}]}),
    )
    .await
    .unwrap_err();
    check_err(&e, "conflict", Some("name"));
    // ...and a dry run: each is undone alone, and the transaction goes on.
    let out = tx_ok(
        &mut tx,
        "Note",
        "bulk_delete",
        json!({"filter": {}, "confirm_all": true, "dry_run": true}),
    )
    .await;
    assert_eq!(out, json!({"deleted": 2, "dry_run": true}));
    tx_ok(&mut tx, "Project", "create", json!({"name": "second"})).await;
    tx.commit().await.unwrap();

    assert_eq!(
        db.column("Project", "name", json!({})).await,
        [json!("taken"), json!("first"), json!("second")]
    );
    assert_eq!(
        db.column("Note", "rank", json!({})).await,
        vec![Value::Null; 2]
    );
    assert_eq!(db.count("Task", json!({})).await, 0);
}

async fn store_ops_are_atomic(b: Backend) {
    let Some(db) = db(b, models()).await else {
        return;
    };
    // Without a transaction, each operation's writes are one unit, and the store keeps going
    // after failures.
    db.ok("Project", "create", json!({"name": "taken"})).await;
    for _ in 0..3 {
        let e = db
            .err(
                "Project",
                "bulk_create",
                json!({"data": [{"name": "a"}, {"name": "b"}, {"name": "taken"}]}),
            )
            .await;
        check_err(&e, "conflict", Some("name"));
    }
    assert_eq!(
        db.column("Project", "name", json!({})).await,
        [json!("taken")]
    );
    let out = db
        .ok(
            "Project",
            "bulk_create",
            json!({"data": [{"name": "a"}, {"name": "b"}]}),
        )
        .await;
    assert_eq!(out["inserted"], 2);
}

conformance!(
    commit_keeps_everything,
    rollback_undoes_everything,
    dropping_rolls_back,
    savepoints,
    failed_operation_leaves_it_usable,
    store_ops_are_atomic,
);
