//! Bad input gets a typed validation error naming the field, param or operator at fault, and
//! changes nothing.

use crate::common::Backend;
use crate::conformance;
use crate::support::{Db, check_err, db, invalid, models};
use serde_json::{Value, json};

/// A few projects and tasks to refuse writes against.
async fn seeded(b: Backend) -> Option<Db> {
    let db = db(b, models()).await?;
    let p = db.ok("Project", "create", json!({"name": "P"})).await;
    for i in 0..5 {
        db.ok(
            "Task",
            "create",
            json!({"title": format!("t{i}"), "ref": format!("R-{i}"), "estimate": i, "project_id": p["id"]}),
        )
        .await;
    }
    db.ok("Task", "delete", json!({"id": 5})).await;
    Some(db)
}

async fn unknown_fields(b: Backend) {
    let Some(db) = seeded(b).await else {
        return;
    };
    invalid(
        &db.err(
            "Task",
            "create",
            json!({"title": "t", "ref": "x", "nope": 1}),
        )
        .await,
        "nope",
    );
    invalid(
        &db.err("Task", "update", json!({"id": 1, "fields": {"nope": 1}}))
            .await,
        "fields.nope",
    );
    invalid(
        &db.err("Task", "list", json!({"filter": {"nope": 1}})).await,
        "filter.nope",
    );
    // A name list with an empty name (`fields=` in a query string) names the param.
    for text in ["", "title,,ref", " , "] {
        invalid(
            &db.err("Task", "list", json!({"fields": text})).await,
            "fields",
        );
    }
    invalid(
        &db.err(
            "Task",
            "count",
            json!({"filter": {"$or": [{"ref": "a"}, {"nope": 1}]}}),
        )
        .await,
        "filter.$or[1].nope",
    );
    invalid(
        &db.err(
            "Task",
            "bulk_update",
            json!({"filter": {"nope": {"$gt": 1}}, "fields": {"title": "x"}}),
        )
        .await,
        "filter.nope",
    );
    invalid(
        &db.err(
            "Task",
            "bulk_delete",
            json!({"filter": {"$not": {"nope": 1}}}),
        )
        .await,
        "filter.$not.nope",
    );
    let e = db.err("Nope", "list", json!({})).await;
    check_err(&e, "not_found", None);
}

async fn unknown_operators(b: Backend) {
    let Some(db) = seeded(b).await else {
        return;
    };
    for (filter, field) in [
        (json!({"estimate": {"$nope": 1}}), "filter.estimate.$nope"),
        (
            json!({"estimate": {"$gt": 1, "$between": [1, 2]}}),
            "filter.estimate.$between",
        ),
        (json!({"$xor": [{"ref": "a"}]}), "filter.$xor"),
        (json!({"$and": [{"$nor": []}]}), "filter.$and[0].$nor"),
    ] {
        invalid(
            &db.err("Task", "list", json!({ "filter": filter })).await,
            field,
        );
    }
    // Malformed operator arguments name the operator.
    for (filter, field) in [
        (json!({"$and": {"ref": "a"}}), "filter.$and"),
        (json!({"$or": [1]}), "filter.$or[0]"),
        (json!({"$not": [{"ref": "a"}]}), "filter.$not"),
        (json!({"estimate": {"$in": 3}}), "filter.estimate.$in"),
        (
            json!({"estimate": {"$in": [1, null]}}),
            "filter.estimate.$in[1]",
        ),
        (
            json!({"estimate": {"$null": "yes"}}),
            "filter.estimate.$null",
        ),
        (json!({"estimate": {"$gt": null}}), "filter.estimate.$gt"),
        (
            json!({"estimate": {"$like": "1%"}}),
            "filter.estimate.$like",
        ),
        (json!({"title": {"$like": 5}}), "filter.title.$like"),
        (json!({"title": {"$regex": "("}}), "filter.title.$regex"),
        (json!({"labels": {"$eq": []}}), "filter.labels.$eq"),
        (json!({"labels": ["a"]}), "filter.labels"),
        (json!([{"ref": "a"}]), "filter"),
    ] {
        invalid(
            &db.err("Task", "count", json!({ "filter": filter })).await,
            field,
        );
    }
}

async fn wrong_value_types(b: Backend) {
    let Some(db) = seeded(b).await else {
        return;
    };
    for (fields, field) in [
        (json!({"estimate": "three"}), "estimate"),
        (json!({"budget": "lots"}), "budget"),
        (json!({"due": "tomorrow"}), "due"),
        (json!({"state": "closed"}), "state"),
        (json!({"project_id": "one"}), "project_id"),
        (json!({"title": ["t"]}), "title"),
        (json!({"title": "x".repeat(201)}), "title"),
    ] {
        let mut item = json!({"title": "t", "ref": "new"});
        item.as_object_mut()
            .unwrap()
            .extend(fields.as_object().unwrap().clone());
        invalid(&db.err("Task", "create", item).await, field);
        invalid(
            &db.err("Task", "update", json!({"id": 1, "fields": fields}))
                .await,
            &format!("fields.{field}"),
        );
    }
    for (filter, field) in [
        (json!({"estimate": "x"}), "filter.estimate"),
        (json!({"estimate": {"$gt": "x"}}), "filter.estimate.$gt"),
        (json!({"due": {"$lt": "soon"}}), "filter.due.$lt"),
        (
            json!({"estimate": {"$in": [1, "two"]}}),
            "filter.estimate.$in[1]",
        ),
        (json!({"id": "abc"}), "filter.id"),
    ] {
        invalid(
            &db.err("Task", "list", json!({ "filter": filter })).await,
            field,
        );
    }
    invalid(&db.err("Task", "read", json!({"id": "abc"})).await, "id");
    invalid(&db.err("Task", "read", json!({"id": 1.5})).await, "id");
    invalid(&db.err("Task", "delete", json!({"id": [1]})).await, "id");
    invalid(
        &db.err("Task", "read", json!({"id": 1, "include_deleted": "maybe"}))
            .await,
        "include_deleted",
    );
    invalid(&db.err("Task", "list", json!({"count": 1})).await, "count");
    invalid(
        &db.err("Task", "list", json!({"offset": -5})).await,
        "offset",
    );
    check_err(
        &db.err("Task", "list", json!([1])).await,
        "validation",
        None,
    );
    check_err(
        &db.err("Task", "create", json!("t")).await,
        "validation",
        None,
    );
}

async fn managed_fields_are_not_writable(b: Backend) {
    let Some(db) = seeded(b).await else {
        return;
    };
    let now = "2026-01-01T00:00:00Z";
    for field in ["created_at", "updated_at", "deleted_at"] {
        let mut item = json!({"title": "t", "ref": "new"});
        item[field] = json!(now);
        invalid(&db.err("Task", "create", item).await, field);
        invalid(
            &db.err("Task", "update", json!({"id": 1, "fields": {field: now}}))
                .await,
            &format!("fields.{field}"),
        );
        invalid(
            &db.err(
                "Task",
                "bulk_update",
                json!({"filter": {"id": 1}, "fields": {field: now}}),
            )
            .await,
            &format!("fields.{field}"),
        );
    }
    // The database generates integer ids.
    invalid(
        &db.err(
            "Task",
            "create",
            json!({"id": 99, "title": "t", "ref": "new"}),
        )
        .await,
        "id",
    );
    invalid(
        &db.err(
            "Task",
            "bulk_create",
            json!({"data": [{"title": "t", "ref": "a"}, {"id": 99, "title": "t", "ref": "new"}]}),
        )
        .await,
        "data[1].id",
    );
    // No id changes, whatever its type.
    invalid(
        &db.err("Task", "update", json!({"id": 1, "fields": {"id": 7}}))
            .await,
        "fields.id",
    );
    db.ok("Tag", "create", json!({"id": "a", "label": "A"}))
        .await;
    invalid(
        &db.err("Tag", "update", json!({"id": "a", "fields": {"id": "b"}}))
            .await,
        "fields.id",
    );
    invalid(
        &db.err(
            "Tag",
            "bulk_update",
            json!({"filter": {"id": "a"}, "fields": {"id": "b"}}),
        )
        .await,
        "fields.id",
    );
}

async fn missing_required_fields(b: Backend) {
    let Some(db) = seeded(b).await else {
        return;
    };
    invalid(
        &db.err("Task", "create", json!({"ref": "x"})).await,
        "title",
    );
    invalid(
        &db.err("Task", "create", json!({"title": "x"})).await,
        "ref",
    );
    invalid(&db.err("Task", "create", json!({})).await, "title");
    invalid(&db.err("Task", "create", Value::Null).await, "title");
    invalid(
        &db.err("Task", "create", json!({"title": null, "ref": "x"}))
            .await,
        "title",
    );
    invalid(&db.err("Task", "read", json!({})).await, "id");
    invalid(&db.err("Task", "delete", json!({})).await, "id");
    invalid(&db.err("Task", "bulk_create", json!({})).await, "data");
    invalid(
        &db.err("Task", "bulk_create", json!({"data": {"title": "t"}}))
            .await,
        "data",
    );
    invalid(
        &db.err("Task", "bulk_update", json!({"filter": {"id": 1}}))
            .await,
        "fields",
    );
    invalid(&db.err("Task", "bulk_upsert", json!({})).await, "data");
}

async fn unknown_params(b: Backend) {
    let Some(db) = seeded(b).await else {
        return;
    };
    for (op, params, field) in [
        ("read", json!({"id": 1, "fields": ["title"]}), "fields"),
        (
            "update",
            json!({"id": 1, "fields": {"title": "x"}, "upsert": true}),
            "upsert",
        ),
        ("delete", json!({"id": 1, "hard": true}), "hard"),
        ("list", json!({"filters": {"ref": "a"}}), "filters"),
        ("list", json!({"page": 2}), "page"),
        ("count", json!({"limit": 2}), "limit"),
        ("upsert", json!({"where": {"ref": "a"}, "set": {}}), "set"),
        ("bulk_create", json!({"data": [], "dry": true}), "dry"),
        (
            "bulk_update",
            json!({"filter": {"id": 1}, "fields": {"title": "x"}, "limit": 1}),
            "limit",
        ),
        (
            "bulk_delete",
            json!({"filter": {"id": 1}, "cascade": true}),
            "cascade",
        ),
        (
            "bulk_upsert",
            json!({"data": [], "atomic": false}),
            "atomic",
        ),
    ] {
        invalid(&db.err("Task", op, params).await, field);
    }
}

async fn bad_input_changes_nothing(b: Backend) {
    let Some(db) = seeded(b).await else {
        return;
    };
    let tasks = db.table("Task").await;
    let projects = db.table("Project").await;
    let refused: Vec<(&str, Value)> = vec![
        ("create", json!({"title": "t", "ref": "R-0"})),
        (
            "create",
            json!({"title": "t", "ref": "new", "project_id": 77}),
        ),
        ("update", json!({"id": 1, "fields": {"ref": "R-2"}})),
        (
            "update",
            json!({"id": 1, "fields": {"title": "ok", "state": "bad"}}),
        ),
        ("update", json!({"id": 1, "fields": {"project_id": 77}})),
        (
            "upsert",
            json!({"where": {"ref": "R-1"}, "update": {"ref": "R-2"}}),
        ),
        (
            "bulk_create",
            json!({"data": [{"title": "a", "ref": "N-1"}, {"title": "b", "ref": "N-2", "due": "never"}]}),
        ),
        (
            "bulk_create",
            json!({"data": [{"title": "a", "ref": "N-1"}, {"title": "b", "ref": "R-3"}]}),
        ),
        (
            "bulk_create",
            json!({"data": [{"title": "a", "ref": "N-1"}, {"title": "b", "ref": "N-2", "project_id": 77}]}),
        ),
        (
            "bulk_create",
            json!({"data": [{"title": "a", "ref": "N-1"}], "on_conflict": "update", "conflict_on": ["title"]}),
        ),
        (
            "bulk_update",
            json!({"filter": {}, "fields": {"title": "all"}}),
        ),
        (
            "bulk_update",
            json!({"filter": {"estimate": {"$gte": 0}}, "fields": {"ref": "same"}}),
        ),
        (
            "bulk_update",
            json!({"filter": {"estimate": {"$gte": 1}}, "fields": {"title": "x"}, "max_affected": 2}),
        ),
        (
            "bulk_update",
            json!({"filter": {"estimate": 1}, "fields": {"project_id": 77}}),
        ),
        (
            "bulk_update",
            json!({"filter": {"estimate": 1}, "fields": {"estimate": "x"}}),
        ),
        ("bulk_delete", json!({"filter": {}})),
        (
            "bulk_delete",
            json!({"filter": {"estimate": {"$gte": 1}}, "max_affected": 1}),
        ),
        ("bulk_delete", json!({"filter": {"estimate": {"$bad": 1}}})),
        (
            "bulk_upsert",
            json!({"conflict_on": "ref", "data": [{"ref": "R-0", "title": "x"}, {"ref": "R-0", "title": "y"}]}),
        ),
        (
            "bulk_upsert",
            json!({"conflict_on": "ref", "data": [{"ref": "R-0", "title": "x"}, {"ref": "N-1", "title": "y", "estimate": 0.5}]}),
        ),
        (
            "bulk_upsert",
            json!({"conflict_on": "ref", "data": [{"ref": "R-0", "title": "x"}, {"ref": "N-1", "title": "y", "project_id": 77}]}),
        ),
    ];
    for (op, params) in refused {
        let e = db.err("Task", op, params.clone()).await;
        assert!(
            matches!(e.code(), "validation" | "conflict"),
            "{:?}: {op} {params}: {e:?}",
            db.backend
        );
        assert_eq!(
            db.table("Task").await,
            tasks,
            "{:?}: {op} {params} changed the table",
            db.backend
        );
    }
    // Deleting a project that tasks refer to is refused too.
    let e = db.err("Project", "delete", json!({"id": 1})).await;
    check_err(&e, "conflict", None);
    let e = db
        .err(
            "Project",
            "bulk_delete",
            json!({"filter": {}, "confirm_all": true}),
        )
        .await;
    check_err(&e, "conflict", None);
    assert_eq!(db.table("Project").await, projects);
    assert_eq!(db.table("Task").await, tasks);
}

/// Values a database cannot store or evaluate are refused up front, naming the field, on every
/// database alike; JSON numbers at the edges of `f64` come back exactly as they went in.
async fn values_at_the_edges(b: Backend) {
    let Some(db) = seeded(b).await else {
        return;
    };
    let edges = json!([
        1.7976931348623157e308,
        -1.7976931348623157e308,
        5e-324,
        0.1,
        9007199254740993i64,
        u64::MAX
    ]);
    let created = db
        .ok(
            "Task",
            "create",
            json!({"title": "edges", "ref": "E-1", "labels": edges}),
        )
        .await;
    assert_eq!(created["labels"], edges, "{b:?}");
    let read = db.ok("Task", "read", json!({"id": created["id"]})).await;
    assert_eq!(read["labels"], edges, "{b:?}");
    let listed = db
        .ok("Task", "list", json!({"filter": {"ref": "E-1"}}))
        .await;
    assert_eq!(listed["records"][0]["labels"], edges, "{b:?}");

    for nul in [json!(["a\u{0}b"]), json!({"k\u{0}": 1})] {
        invalid(
            &db.err(
                "Task",
                "create",
                json!({"title": "t", "ref": "N-1", "labels": nul}),
            )
            .await,
            "labels",
        );
    }
    for inexact in [
        json!("1e-40"),
        json!(1e-40),
        json!("0.00000000000000000000000000001"),
        json!("123456789012345678901234567890123"),
    ] {
        invalid(
            &db.err(
                "Task",
                "create",
                json!({"title": "t", "ref": "D-1", "budget": inexact}),
            )
            .await,
            "budget",
        );
    }
    let kept = db
        .ok(
            "Task",
            "create",
            json!({"title": "t", "ref": "D-2", "budget": "1e3"}),
        )
        .await;
    assert_eq!(kept["budget"], "1000");
    for pattern in ["a{1000}", "(ab){2,300}"] {
        invalid(
            &db.err(
                "Task",
                "list",
                json!({"filter": {"title": {"$regex": pattern}}}),
            )
            .await,
            "filter.title.$regex",
        );
    }
    let count = db.ok("Task", "count", json!({})).await;
    assert_eq!(
        count["count"], 6,
        "only the two good creates changed anything"
    );
}

conformance!(
    values_at_the_edges,
    unknown_fields,
    unknown_operators,
    wrong_value_types,
    managed_fields_are_not_writable,
    missing_required_fields,
    unknown_params,
    bad_input_changes_nothing,
);
