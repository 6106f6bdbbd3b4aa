//! Create, Read, Update, Delete and Count: the params and results of DESIGN section 5.

use crate::common::Backend;
use crate::conformance;
use crate::support::{check_err, db, models};
use serde_json::{Value, json};

/// Parses a managed timestamp, checking its one format: RFC 3339, UTC, microseconds.
fn timestamp(v: &Value) -> chrono::DateTime<chrono::Utc> {
    let s = v.as_str().unwrap_or_else(|| panic!("not a timestamp: {v}"));
    assert_eq!(s.len(), "2026-01-02T03:04:05.000000Z".len(), "{s}");
    assert!(s.ends_with('Z'), "{s}");
    chrono::DateTime::parse_from_rfc3339(s)
        .unwrap_or_else(|e| panic!("{s}: {e}"))
        .with_timezone(&chrono::Utc)
}

fn uuid_v7(v: &Value) -> uuid::Uuid {
    let s = v.as_str().unwrap_or_else(|| panic!("not a uuid: {v}"));
    let id = uuid::Uuid::parse_str(s).unwrap_or_else(|e| panic!("{s}: {e}"));
    assert_eq!(id.get_version_num(), 7, "{s}");
    assert_eq!(
        id.hyphenated().to_string(),
        s,
        "uuids come back hyphenated, lowercase"
    );
    id
}

async fn create_integer_id(b: Backend) {
    let Some(db) = db(b, models()).await else {
        return;
    };
    let before = chrono::Utc::now() - chrono::Duration::seconds(5);
    let first = db.ok("Note", "create", json!({"body": "one"})).await;
    let second = db
        .ok("Note", "create", json!({"body": "two", "rank": 2}))
        .await;
    let keys: Vec<&str> = first
        .as_object()
        .unwrap()
        .keys()
        .map(String::as_str)
        .collect();
    assert_eq!(keys, ["id", "body", "rank", "created_at", "updated_at"]);
    assert!(first["id"].is_i64(), "{first}");
    assert!(second["id"].as_i64() > first["id"].as_i64());
    assert_eq!(first["body"], "one");
    assert_eq!(first["rank"], Value::Null);
    assert_eq!(second["rank"], 2);
    let created = timestamp(&first["created_at"]);
    assert!(created > before, "{created} is not recent");
    assert_eq!(first["created_at"], first["updated_at"]);

    // The returned record is the stored record.
    let read = db.ok("Note", "read", json!({"id": first["id"]})).await;
    assert_eq!(read, first);
    // Integer ids may arrive as text (path segments, CLI arguments).
    let id_text = first["id"].to_string();
    let read = db.ok("Note", "read", json!({"id": id_text})).await;
    assert_eq!(read, first);
}

async fn create_string_ids(b: Backend) {
    let Some(db) = db(b, models()).await else {
        return;
    };
    let given = db
        .ok("Tag", "create", json!({"id": "rust", "label": "Rust"}))
        .await;
    assert_eq!(given["id"], "rust");
    assert_eq!(given["label"], "Rust");
    timestamp(&given["created_at"]);
    let generated = db.ok("Tag", "create", json!({"label": "Generated"})).await;
    let a = uuid_v7(&generated["id"]);
    let generated2 = db.ok("Tag", "create", json!({"label": "Later"})).await;
    let b2 = uuid_v7(&generated2["id"]);
    assert!(b2 > a, "UUIDv7 ids grow: {a} then {b2}");

    assert_eq!(db.ok("Tag", "read", json!({"id": "rust"})).await, given);
    assert_eq!(
        db.ok("Tag", "read", json!({"id": generated["id"]})).await,
        generated
    );
    assert_eq!(
        db.column("Tag", "id", json!({})).await.len(),
        3,
        "three tags"
    );
}

async fn create_uuid_ids(b: Backend) {
    let Some(db) = db(b, models()).await else {
        return;
    };
    let id = "0191f5e2-7c3a-7b4e-9a5d-3f1e2d4c5b6a";
    let given = db
        .ok("Doc", "create", json!({"id": id, "title": "given"}))
        .await;
    assert_eq!(given["id"], id);
    // Upper case input is the same uuid, and comes back in the canonical form.
    let read = db.ok("Doc", "read", json!({"id": id.to_uppercase()})).await;
    assert_eq!(read, given);
    let generated = db.ok("Doc", "create", json!({"title": "generated"})).await;
    uuid_v7(&generated["id"]);
    assert_eq!(
        db.ok("Doc", "read", json!({"id": generated["id"]})).await,
        generated
    );
    let e = db
        .err("Doc", "create", json!({"id": "nope", "title": "x"}))
        .await;
    check_err(&e, "validation", Some("id"));
}

async fn read_missing_is_not_found(b: Backend) {
    let Some(db) = db(b, models()).await else {
        return;
    };
    let e = db.err("Note", "read", json!({"id": 12345})).await;
    check_err(&e, "not_found", None);
    assert_eq!(
        e.to_json()["details"],
        json!({"model": "Note", "id": "12345"})
    );
    let e = db.err("Tag", "read", json!({"id": "absent"})).await;
    check_err(&e, "not_found", None);
    let e = db.err("Note", "read", json!({})).await;
    check_err(&e, "validation", Some("id"));
}

async fn update_by_id_and_by_filter(b: Backend) {
    let Some(db) = db(b, models()).await else {
        return;
    };
    let note = db
        .ok("Note", "create", json!({"body": "draft", "rank": 1}))
        .await;
    let id = note["id"].clone();
    // Timestamps have microseconds; a short pause makes the next write's clock strictly later.
    tokio::time::sleep(std::time::Duration::from_millis(3)).await;
    let updated = db
        .ok(
            "Note",
            "update",
            json!({"id": id, "fields": {"body": "final"}}),
        )
        .await;
    assert_eq!(updated["id"], id);
    assert_eq!(updated["body"], "final");
    assert_eq!(updated["rank"], 1, "fields not given are kept");
    assert_eq!(updated["created_at"], note["created_at"]);
    assert!(timestamp(&updated["updated_at"]) > timestamp(&note["updated_at"]));
    assert_eq!(db.ok("Note", "read", json!({"id": id})).await, updated);

    tokio::time::sleep(std::time::Duration::from_millis(3)).await;
    let again = db
        .ok(
            "Note",
            "update",
            json!({"filter": {"id": id}, "fields": {"rank": null}}),
        )
        .await;
    assert_eq!(again["rank"], Value::Null);
    assert_eq!(again["body"], "final");
    assert!(timestamp(&again["updated_at"]) > timestamp(&updated["updated_at"]));

    // Only the one record changed.
    let other = db.ok("Note", "create", json!({"body": "other"})).await;
    db.ok("Note", "update", json!({"id": id, "fields": {"body": "x"}}))
        .await;
    assert_eq!(
        db.ok("Note", "read", json!({"id": other["id"]})).await,
        other
    );

    // String and uuid ids work the same way.
    db.ok("Tag", "create", json!({"id": "t", "label": "old"}))
        .await;
    let t = db
        .ok(
            "Tag",
            "update",
            json!({"id": "t", "fields": {"label": "new"}}),
        )
        .await;
    assert_eq!(
        (t["id"].clone(), t["label"].clone()),
        (json!("t"), json!("new"))
    );
    let d = db.ok("Doc", "create", json!({"title": "old"})).await;
    let d2 = db
        .ok(
            "Doc",
            "update",
            json!({"filter": {"id": d["id"]}, "fields": {"title": "new"}}),
        )
        .await;
    assert_eq!(d2["title"], "new");
}

async fn update_missing_and_malformed(b: Backend) {
    let Some(db) = db(b, models()).await else {
        return;
    };
    let e = db
        .err(
            "Note",
            "update",
            json!({"id": 999, "fields": {"body": "x"}}),
        )
        .await;
    check_err(&e, "not_found", None);
    let n = db.ok("Note", "create", json!({"body": "a"})).await;
    let e = db
        .err(
            "Note",
            "update",
            json!({"filter": {"body": "a"}, "fields": {"body": "b"}}),
        )
        .await;
    check_err(&e, "validation", Some("filter"));
    let e = db.err("Note", "update", json!({"id": n["id"]})).await;
    check_err(&e, "validation", Some("fields"));
    let e = db
        .err("Note", "update", json!({"id": n["id"], "fields": {}}))
        .await;
    check_err(&e, "validation", Some("fields"));
    let e = db
        .err(
            "Note",
            "update",
            json!({"id": n["id"], "filter": {"id": n["id"]}, "fields": {"body": "b"}}),
        )
        .await;
    check_err(&e, "validation", Some("filter"));
    assert_eq!(db.ok("Note", "read", json!({"id": n["id"]})).await, n);
}

async fn delete_reports_id_and_deleted(b: Backend) {
    let Some(db) = db(b, models()).await else {
        return;
    };
    let n = db.ok("Note", "create", json!({"body": "gone soon"})).await;
    let keep = db.ok("Note", "create", json!({"body": "stays"})).await;
    let out = db.ok("Note", "delete", json!({"id": n["id"]})).await;
    assert_eq!(out, json!({"id": n["id"], "deleted": true}));
    let e = db.err("Note", "read", json!({"id": n["id"]})).await;
    check_err(&e, "not_found", None);
    // A second delete, or an id that never existed, deletes nothing.
    let out = db.ok("Note", "delete", json!({"id": n["id"]})).await;
    assert_eq!(out, json!({"id": n["id"], "deleted": false}));
    let out = db.ok("Note", "delete", json!({"id": "777"})).await;
    assert_eq!(out, json!({"id": 777, "deleted": false}));
    assert_eq!(db.table("Note").await, vec![keep]);

    db.ok("Tag", "create", json!({"id": "x", "label": "x"}))
        .await;
    let out = db.ok("Tag", "delete", json!({"id": "x"})).await;
    assert_eq!(out, json!({"id": "x", "deleted": true}));
    let out = db.ok("Tag", "delete", json!({"id": "x"})).await;
    assert_eq!(out, json!({"id": "x", "deleted": false}));
}

async fn count_with_and_without_filter(b: Backend) {
    let Some(db) = db(b, models()).await else {
        return;
    };
    assert_eq!(db.ok("Note", "count", json!({})).await, json!({"count": 0}));
    for i in 0..7 {
        db.ok(
            "Note",
            "create",
            json!({"body": format!("n{i}"), "rank": i % 3}),
        )
        .await;
    }
    assert_eq!(db.ok("Note", "count", json!({})).await, json!({"count": 7}));
    assert_eq!(
        db.ok("Note", "count", Value::Null).await,
        json!({"count": 7})
    );
    assert_eq!(
        db.ok("Note", "count", json!({"filter": {"rank": 0}})).await,
        json!({"count": 3})
    );
    // Filters may arrive as JSON text (query strings carry them so).
    assert_eq!(
        db.ok(
            "Note",
            "count",
            json!({"filter": "{\"rank\": {\"$gte\": 1}}"})
        )
        .await,
        json!({"count": 4})
    );
}

conformance!(
    create_integer_id,
    create_string_ids,
    create_uuid_ids,
    read_missing_is_not_found,
    update_by_id_and_by_filter,
    update_missing_and_malformed,
    delete_reports_id_and_deleted,
    count_with_and_without_filter,
);
