//! BulkCreate, BulkUpdate, BulkDelete and BulkUpsert: results, conflict modes, atomicity,
//! guards (confirm_all, max_affected) and dry runs.

use crate::common::Backend;
use crate::conformance;
use crate::support::{Db, check_err, db, invalid, models, records, tx_ok, tx_run};
use flowgate::{Context, OpKind, Params};
use serde_json::{Value, json};

fn task(i: usize) -> Value {
    json!({"title": format!("t{i}"), "ref": format!("R-{i}"), "estimate": i % 4})
}

async fn seed_tasks(db: &Db, n: usize) -> Vec<Value> {
    let data: Vec<Value> = (0..n).map(task).collect();
    let out = db.ok("Task", "bulk_create", json!({ "data": data })).await;
    assert_eq!(out["inserted"], n);
    db.table("Task").await
}

fn errors(out: &Value) -> Vec<(u64, String, Option<String>)> {
    out["errors"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| {
            (
                e["index"].as_u64().unwrap(),
                e["error"]["code"].as_str().unwrap().to_string(),
                e["error"]["field"].as_str().map(str::to_string),
            )
        })
        .collect()
}

async fn bulk_create_returns_ids(b: Backend) {
    let Some(db) = db(b, models()).await else {
        return;
    };
    let data: Vec<Value> = (0..120).map(task).collect();
    let out = db.ok("Task", "bulk_create", json!({ "data": data })).await;
    assert_eq!(out["inserted"], 120);
    assert_eq!(out["skipped"], 0);
    assert_eq!(out["errors"], json!([]));
    let ids = out["ids"].as_array().unwrap();
    assert_eq!(ids.len(), 120);
    // The ids are those of the rows, in the order of data.
    for (i, id) in ids.iter().enumerate() {
        let rec = db.ok("Task", "read", json!({"id": id})).await;
        assert_eq!(rec["ref"], format!("R-{i}"), "{:?}", db.backend);
        assert_eq!(rec["labels"], json!([]), "defaults apply");
    }
    // String and uuid ids: given ones are kept, missing ones generated.
    let out = db
        .ok(
            "Tag",
            "bulk_create",
            json!({"data": [{"id": "a", "label": "A"}, {"label": "gen"}]}),
        )
        .await;
    let ids = out["ids"].as_array().unwrap();
    assert_eq!(ids[0], "a");
    let generated = db.ok("Tag", "read", json!({"id": ids[1]})).await;
    assert_eq!(generated["label"], "gen");
    let out = db
        .ok(
            "Doc",
            "bulk_create",
            json!({"data": [{"title": "d1"}, {"title": "d2"}]}),
        )
        .await;
    for id in out["ids"].as_array().unwrap() {
        uuid::Uuid::parse_str(id.as_str().unwrap()).unwrap();
    }
    // An empty list inserts nothing.
    let out = db.ok("Note", "bulk_create", json!({"data": []})).await;
    assert_eq!(
        out,
        json!({"inserted": 0, "skipped": 0, "ids": [], "errors": []})
    );
}

async fn bulk_create_atomic_by_default(b: Backend) {
    let Some(db) = db(b, models()).await else {
        return;
    };
    let before = seed_tasks(&db, 3).await;
    // A bad item: nothing is written, and the error names it.
    let mut data: Vec<Value> = (10..20).map(task).collect();
    data[4] = json!({"ref": "R-x"});
    let e = db
        .err("Task", "bulk_create", json!({ "data": data.clone() }))
        .await;
    invalid(&e, "data[4].title");
    // A row that breaks a unique key after others went in: they are rolled back.
    let mut data: Vec<Value> = (10..20).map(task).collect();
    data[7] = task(1);
    let e = db
        .err(
            "Task",
            "bulk_create",
            json!({ "data": data, "atomic": true }),
        )
        .await;
    check_err(&e, "conflict", Some("ref"));
    // Two rows that clash with each other.
    let data = vec![task(30), task(31), task(30)];
    let e = db.err("Task", "bulk_create", json!({ "data": data })).await;
    check_err(&e, "conflict", Some("ref"));
    // A missing reference.
    let mut data: Vec<Value> = (40..45).map(task).collect();
    data[2]["project_id"] = json!(999);
    let e = db.err("Task", "bulk_create", json!({ "data": data })).await;
    check_err(&e, "conflict", None);
    assert_eq!(db.table("Task").await, before);
}

async fn bulk_create_per_item_errors(b: Backend) {
    let Some(db) = db(b, models()).await else {
        return;
    };
    db.ok("Task", "create", task(1)).await;
    let data = vec![
        task(10),
        json!({"ref": "R-no-title"}),
        task(1),
        task(11),
        json!("not an object"),
        json!({"title": "t", "ref": "R-bad", "estimate": "many"}),
        task(12),
    ];
    let out = db
        .ok(
            "Task",
            "bulk_create",
            json!({"data": data, "atomic": false}),
        )
        .await;
    assert_eq!(out["inserted"], 3, "{out}");
    assert_eq!(out["skipped"], 0);
    assert_eq!(out["ids"].as_array().unwrap().len(), 3);
    assert_eq!(
        errors(&out),
        [
            (1, "validation".into(), Some("data[1].title".into())),
            (2, "conflict".into(), Some("ref".into())),
            (4, "validation".into(), Some("data[4]".into())),
            (5, "validation".into(), Some("data[5].estimate".into())),
        ],
        "{:?}: {out}",
        db.backend
    );
    let refs = db.column("Task", "ref", json!({})).await;
    assert_eq!(
        refs,
        [json!("R-1"), json!("R-10"), json!("R-11"), json!("R-12")]
    );
    for id in out["ids"].as_array().unwrap() {
        db.ok("Task", "read", json!({"id": id})).await;
    }
}

async fn bulk_create_on_conflict(b: Backend) {
    let Some(db) = db(b, models()).await else {
        return;
    };
    let before = seed_tasks(&db, 3).await;
    // error (the default): refused, nothing written.
    let data = vec![task(5), task(1)];
    let e = db
        .err(
            "Task",
            "bulk_create",
            json!({"data": data.clone(), "on_conflict": "error"}),
        )
        .await;
    check_err(&e, "conflict", Some("ref"));
    assert_eq!(db.table("Task").await, before);
    // skip: existing rows are left alone, and so are repeats within the data.
    let data = vec![
        task(5),
        json!({"title": "changed", "ref": "R-1"}),
        task(6),
        task(5),
    ];
    let out = db
        .ok(
            "Task",
            "bulk_create",
            json!({"data": data, "on_conflict": "skip"}),
        )
        .await;
    assert_eq!(
        (&out["inserted"], &out["skipped"]),
        (&json!(2), &json!(2)),
        "{out}"
    );
    let ids = out["ids"].as_array().unwrap();
    assert_eq!(ids.len(), 2);
    assert_eq!(
        db.ok("Task", "read", json!({"id": ids[0]})).await["ref"],
        "R-5"
    );
    assert_eq!(
        db.ok("Task", "read", json!({"id": ids[1]})).await["ref"],
        "R-6"
    );
    let r1 = db.table("Task").await;
    assert_eq!(r1[..3], before[..], "skipped rows are untouched");
    // update: existing rows take the given fields.
    let data = vec![json!({"title": "changed", "ref": "R-1"}), task(7)];
    let out = db
        .ok(
            "Task",
            "bulk_create",
            json!({"data": data, "on_conflict": "update"}),
        )
        .await;
    assert_eq!(
        (&out["inserted"], &out["updated"], &out["skipped"]),
        (&json!(1), &json!(1), &json!(0)),
        "{out}"
    );
    // The ids follow the data, updated rows included.
    let ids = out["ids"].as_array().unwrap();
    assert_eq!(ids.len(), 2);
    assert_eq!(ids[0], before[1]["id"]);
    assert_eq!(
        db.ok("Task", "read", json!({"id": ids[1]})).await["ref"],
        "R-7"
    );
    let r1 = db.ok("Task", "read", json!({"id": before[1]["id"]})).await;
    assert_eq!(r1["title"], "changed");
    assert_eq!(
        r1["estimate"], before[1]["estimate"],
        "fields not given are kept"
    );
    assert_eq!(db.count("Task", json!({})).await, 6);
    invalid(
        &db.err(
            "Task",
            "bulk_create",
            json!({"data": [task(9)], "on_conflict": "merge"}),
        )
        .await,
        "on_conflict",
    );
}

async fn bulk_update_guards(b: Backend) {
    let Some(db) = db(b, models()).await else {
        return;
    };
    let before = seed_tasks(&db, 12).await;
    // Timestamps have microseconds; a short pause makes the next write's clock strictly later.
    tokio::time::sleep(std::time::Duration::from_millis(3)).await;
    // estimate is i % 4: three rows each of 0, 1, 2, 3.
    let out = db
        .ok(
            "Task",
            "bulk_update",
            json!({"filter": {"estimate": 1}, "fields": {"state": "done"}}),
        )
        .await;
    assert_eq!(out, json!({"updated": 3}));
    assert_eq!(db.count("Task", json!({"state": "done"})).await, 3);
    for (old, new) in before.iter().zip(db.table("Task").await) {
        if old["estimate"] == 1 {
            assert!(
                new["updated_at"].as_str() > old["updated_at"].as_str(),
                "{new}"
            );
            assert_eq!(new["created_at"], old["created_at"]);
        } else {
            assert_eq!(new, *old, "rows outside the filter are untouched");
        }
    }
    // Nothing matches: nothing changes.
    let out = db
        .ok(
            "Task",
            "bulk_update",
            json!({"filter": {"estimate": 99}, "fields": {"state": "done"}}),
        )
        .await;
    assert_eq!(out, json!({"updated": 0}));

    let snapshot = db.table("Task").await;
    // An empty filter is refused without confirm_all.
    for filter in [json!({}), Value::Null, json!({"$and": []})] {
        let e = db
            .err(
                "Task",
                "bulk_update",
                json!({"filter": filter, "fields": {"title": "all"}}),
            )
            .await;
        invalid(&e, "filter");
    }
    invalid(
        &db.err(
            "Task",
            "bulk_update",
            json!({"fields": {"title": "all"}, "confirm_all": false}),
        )
        .await,
        "filter",
    );
    // max_affected: more would change, so nothing does.
    let e = db
        .err(
            "Task",
            "bulk_update",
            json!({"filter": {"estimate": {"$gte": 2}}, "fields": {"title": "big"}, "max_affected": 5}),
        )
        .await;
    invalid(&e, "max_affected");
    // dry_run reports and changes nothing.
    let out = db
        .ok(
            "Task",
            "bulk_update",
            json!({"filter": {"estimate": {"$gte": 2}}, "fields": {"title": "big"}, "dry_run": true}),
        )
        .await;
    assert_eq!(out, json!({"updated": 6, "dry_run": true}));
    assert_eq!(db.table("Task").await, snapshot);
    assert_ne!(snapshot, before);

    // At the limit is allowed; confirm_all reaches every row.
    let out = db
        .ok(
            "Task",
            "bulk_update",
            json!({"filter": {"estimate": {"$gte": 2}}, "fields": {"title": "big"}, "max_affected": 6}),
        )
        .await;
    assert_eq!(out, json!({"updated": 6}));
    let out = db
        .ok(
            "Task",
            "bulk_update",
            json!({"filter": {}, "fields": {"estimate": null}, "confirm_all": true}),
        )
        .await;
    assert_eq!(out, json!({"updated": 12}));
    assert_eq!(db.count("Task", json!({"estimate": null})).await, 12);
}

async fn bulk_delete_guards(b: Backend) {
    let Some(db) = db(b, models()).await else {
        return;
    };
    let data: Vec<Value> = (0..10)
        .map(|i| json!({"body": format!("n{i}"), "rank": i % 2}))
        .collect();
    db.ok("Note", "bulk_create", json!({ "data": data })).await;
    let snapshot = db.table("Note").await;
    invalid(
        &db.err("Note", "bulk_delete", json!({"filter": {}})).await,
        "filter",
    );
    invalid(&db.err("Note", "bulk_delete", json!({})).await, "filter");
    invalid(
        &db.err(
            "Note",
            "bulk_delete",
            json!({"filter": {"rank": 0}, "max_affected": 4}),
        )
        .await,
        "max_affected",
    );
    let out = db
        .ok(
            "Note",
            "bulk_delete",
            json!({"filter": {"rank": 0}, "dry_run": true}),
        )
        .await;
    assert_eq!(out, json!({"deleted": 5, "dry_run": true}));
    assert_eq!(db.table("Note").await, snapshot);

    let out = db
        .ok(
            "Note",
            "bulk_delete",
            json!({"filter": {"rank": 0}, "max_affected": 5}),
        )
        .await;
    assert_eq!(out, json!({"deleted": 5}));
    assert_eq!(db.count("Note", json!({})).await, 5);
    assert_eq!(db.count("Note", json!({"rank": 0})).await, 0);
    let out = db
        .ok(
            "Note",
            "bulk_delete",
            json!({"filter": {}, "confirm_all": true}),
        )
        .await;
    assert_eq!(out, json!({"deleted": 5}));
    assert_eq!(db.table("Note").await, Vec::<Value>::new());
}

async fn bulk_upsert_by_id(b: Backend) {
    let Some(db) = db(b, models()).await else {
        return;
    };
    let a = db
        .ok("Note", "create", json!({"body": "a", "rank": 1}))
        .await;
    let b2 = db
        .ok("Note", "create", json!({"body": "b", "rank": 2}))
        .await;
    // conflict_on defaults to the id: existing rows are updated, new ones inserted.
    let out = db
        .ok(
            "Note",
            "bulk_upsert",
            json!({"data": [
                {"id": a["id"], "body": "A"},
                {"id": 100, "body": "hundred"},
            ]}),
        )
        .await;
    assert_eq!(out, json!({"inserted": 1, "updated": 1, "skipped": 0}));
    let a2 = db.ok("Note", "read", json!({"id": a["id"]})).await;
    assert_eq!(a2["body"], "A");
    assert_eq!(a2["rank"], 1, "fields not given are kept");
    assert_eq!(a2["created_at"], a["created_at"]);
    assert_eq!(
        db.ok("Note", "read", json!({"id": 100})).await["body"],
        "hundred"
    );
    assert_eq!(db.ok("Note", "read", json!({"id": b2["id"]})).await, b2);
    // The database's ids carry on past the given ones.
    let next = db.ok("Note", "create", json!({"body": "next"})).await;
    assert_eq!(next["id"], 101);

    // on_conflict skip: existing rows are left as they are.
    let out = db
        .ok(
            "Note",
            "bulk_upsert",
            json!({"data": [
                {"id": a["id"], "body": "ignored"},
                {"id": 200, "body": "two hundred"},
            ], "on_conflict": "skip"}),
        )
        .await;
    assert_eq!(out, json!({"inserted": 1, "updated": 0, "skipped": 1}));
    assert_eq!(db.ok("Note", "read", json!({"id": a["id"]})).await, a2);

    // String ids.
    db.ok("Tag", "create", json!({"id": "x", "label": "X"}))
        .await;
    let out = db
        .ok(
            "Tag",
            "bulk_upsert",
            json!({"data": [{"id": "x", "label": "XX"}, {"id": "y", "label": "Y"}]}),
        )
        .await;
    assert_eq!(out, json!({"inserted": 1, "updated": 1, "skipped": 0}));
    assert_eq!(
        db.column("Tag", "label", json!({})).await,
        [json!("XX"), json!("Y")]
    );
}

async fn bulk_upsert_on_unique_fields(b: Backend) {
    let Some(db) = db(b, models()).await else {
        return;
    };
    let before = seed_tasks(&db, 3).await;
    let out = db
        .ok(
            "Task",
            "bulk_upsert",
            json!({"conflict_on": ["ref"], "data": [
                {"ref": "R-0", "title": "zero"},
                {"ref": "R-2", "title": "two", "estimate": 9},
                {"ref": "R-new", "title": "new"},
            ]}),
        )
        .await;
    assert_eq!(out, json!({"inserted": 1, "updated": 2, "skipped": 0}));
    let after = db.table("Task").await;
    assert_eq!(after.len(), 4);
    assert_eq!(after[0]["title"], "zero");
    assert_eq!(after[0]["estimate"], before[0]["estimate"]);
    assert_eq!(after[1], before[1]);
    assert_eq!(
        (&after[2]["title"], &after[2]["estimate"]),
        (&json!("two"), &json!(9))
    );
    assert_eq!(after[3]["ref"], "R-new");
    assert_eq!(after[3]["state"], "open");

    // A tombstone with the key comes back.
    db.ok("Task", "delete", json!({"id": before[1]["id"]}))
        .await;
    let out = db
        .ok(
            "Task",
            "bulk_upsert",
            json!({"conflict_on": "ref", "data": [{"ref": "R-1", "title": "back"}]}),
        )
        .await;
    assert_eq!(out, json!({"inserted": 0, "updated": 1, "skipped": 0}));
    let back = db.ok("Task", "read", json!({"id": before[1]["id"]})).await;
    assert_eq!(back["title"], "back");

    // Composite unique sets.
    let out = db
        .ok(
            "Member",
            "bulk_upsert",
            json!({"conflict_on": ["org", "email"], "data": [
                {"org": "o", "email": "a", "role": "r1"},
                {"org": "o", "email": "b", "role": "r1"},
            ]}),
        )
        .await;
    assert_eq!(out, json!({"inserted": 2, "updated": 0, "skipped": 0}));
    let out = db
        .ok(
            "Member",
            "bulk_upsert",
            json!({"conflict_on": ["email", "org"], "data": [
                {"org": "o", "email": "a", "role": "r2"},
                {"org": "p", "email": "a", "role": "r2"},
            ], "on_conflict": "skip"}),
        )
        .await;
    assert_eq!(out, json!({"inserted": 1, "updated": 0, "skipped": 1}));
    assert_eq!(
        db.column("Member", "role", json!({})).await,
        [json!("r1"), json!("r1"), json!("r2")]
    );
}

async fn bulk_upsert_refusals(b: Backend) {
    let Some(db) = db(b, models()).await else {
        return;
    };
    let before = seed_tasks(&db, 3).await;
    // Two items with the same key.
    let e = db
        .err(
            "Task",
            "bulk_upsert",
            json!({"conflict_on": ["ref"], "data": [
                {"ref": "R-0", "title": "a"},
                {"ref": "R-9", "title": "b"},
                {"ref": "R-0", "title": "c"},
            ]}),
        )
        .await;
    invalid(&e, "data[2]");
    // The key is required in every item.
    invalid(
        &db.err(
            "Task",
            "bulk_upsert",
            json!({"conflict_on": ["ref"], "data": [{"ref": "R-7", "title": "x"}, {"title": "x"}]}),
        )
        .await,
        "data[1].ref",
    );
    // conflict_on must be the id or a unique set.
    invalid(
        &db.err(
            "Task",
            "bulk_upsert",
            json!({"conflict_on": ["title"], "data": [{"ref": "R-7", "title": "x"}]}),
        )
        .await,
        "conflict_on",
    );
    invalid(
        &db.err(
            "Task",
            "bulk_upsert",
            json!({"conflict_on": ["ref"], "on_conflict": "error", "data": []}),
        )
        .await,
        "on_conflict",
    );
    // A bad item late in the list.
    invalid(
        &db.err(
            "Task",
            "bulk_upsert",
            json!({"conflict_on": ["ref"], "data": [
                {"ref": "R-0", "title": "changed"},
                {"ref": "R-8", "title": "x", "state": "closed"},
            ]}),
        )
        .await,
        "data[1].state",
    );
    // A clash on another unique field rolls the whole call back.
    let e = db
        .err(
            "Task",
            "bulk_upsert",
            json!({"data": [
                {"id": before[0]["id"], "title": "changed", "ref": "R-0"},
                {"id": 500, "title": "clash", "ref": "R-1"},
            ]}),
        )
        .await;
    check_err(&e, "conflict", Some("ref"));
    assert_eq!(db.table("Task").await, before);
}

async fn bulk_many_rows(b: Backend) {
    let Some(db) = db(b, models()).await else {
        return;
    };
    // More rows than one statement carries (5000 at most), so inserts go in several statements.
    let n = 6500;
    let data: Vec<Value> = (0..n)
        .map(|i| json!({"name": format!("p{i:05}")}))
        .collect();
    let out = db
        .ok("Project", "bulk_create", json!({ "data": data }))
        .await;
    assert_eq!(out["inserted"], n);
    let ids: Vec<i64> = out["ids"]
        .as_array()
        .unwrap()
        .iter()
        .map(|v| v.as_i64().unwrap())
        .collect();
    let listed: Vec<i64> = {
        let mut all = Vec::new();
        let mut params = json!({"limit": 1000, "fields": ["name"]});
        loop {
            let page = db.ok("Project", "list", params.clone()).await;
            for r in records(&page) {
                let i = all.len();
                assert_eq!(r["name"], format!("p{i:05}"), "{:?}", db.backend);
                all.push(r["id"].as_i64().unwrap());
            }
            match page.get("next_cursor") {
                Some(c) => params["cursor"] = c.clone(),
                None => break,
            }
        }
        all
    };
    assert_eq!(ids, listed, "the ids are those of the rows, in order");

    // A repeated key in the second statement, not atomic: only that row fails.
    let data: Vec<Value> = (0..n)
        .map(|i| {
            let name = if i == 5500 {
                "p00007".to_string()
            } else {
                format!("q{i:05}")
            };
            json!({ "name": name })
        })
        .collect();
    let out = db
        .ok(
            "Project",
            "bulk_create",
            json!({"data": data, "atomic": false}),
        )
        .await;
    assert_eq!(out["inserted"], n - 1);
    assert_eq!(
        errors(&out),
        [(5500, "conflict".into(), Some("name".into()))]
    );
    assert_eq!(out["ids"].as_array().unwrap().len(), n - 1);
    assert_eq!(db.count("Project", json!({})).await, 2 * n as u64 - 1);

    // Atomic, with a bad record or a repeated key in the second statement: the first one has
    // run by the time the bad record is met, and nothing is kept, even inside a caller's
    // transaction that goes on and commits.
    let before = db.count("Project", json!({})).await;
    let fresh = |i: usize| json!({"name": format!("r{i:05}")});
    let mut bad: Vec<Value> = (0..n).map(fresh).collect();
    bad[5500] = json!({"name": 42});
    let e = db
        .err("Project", "bulk_create", json!({ "data": bad.clone() }))
        .await;
    invalid(&e, "data[5500].name");
    let mut clash: Vec<Value> = (0..n).map(fresh).collect();
    clash[5600] = json!({"name": "p00007"});
    let e = db
        .err("Project", "bulk_create", json!({ "data": clash.clone() }))
        .await;
    check_err(&e, "conflict", Some("name"));
    assert_eq!(db.count("Project", json!({})).await, before);
    let mut tx = db.store.begin().await.unwrap();
    let e = tx_run(&mut tx, "Project", "bulk_create", json!({ "data": bad }))
        .await
        .unwrap_err();
    assert_eq!(e.code(), "validation", "{e:?}");
    let e = tx_run(&mut tx, "Project", "bulk_create", json!({ "data": clash }))
        .await
        .unwrap_err();
    assert_eq!(e.code(), "conflict", "{e:?}");
    tx_ok(&mut tx, "Project", "create", json!({"name": "after"})).await;
    tx.commit().await.unwrap();
    assert_eq!(db.count("Project", json!({})).await, before + 1);
    assert_eq!(
        db.count("Project", json!({"name": {"$like": "r%"}})).await,
        0
    );

    // Upserts over many keys, half of them existing.
    let data: Vec<Value> = (0..3000)
        .map(|i| json!({"body": format!("b{i}"), "rank": i, "id": 2 * i + 1}))
        .collect();
    db.ok(
        "Note",
        "bulk_create",
        json!({"data": (0..3000).map(|i| json!({"body": "x", "rank": i})).collect::<Vec<_>>()}),
    )
    .await;
    let out = db.ok("Note", "bulk_upsert", json!({ "data": data })).await;
    assert_eq!(
        out,
        json!({"inserted": 1500, "updated": 1500, "skipped": 0})
    );
    assert_eq!(db.count("Note", json!({})).await, 4500);
    assert_eq!(db.count("Note", json!({"body": "x"})).await, 1500);
}

async fn bulk_results_in_records(b: Backend) {
    let Some(db) = db(b, models()).await else {
        return;
    };
    // What bulk writes leave behind reads back the same as single creates would.
    let single = db
        .ok(
            "Task",
            "create",
            json!({"title": "s", "ref": "S", "budget": "1.50", "due": "2026-05-01", "labels": ["x"]}),
        )
        .await;
    let out = db
        .ok(
            "Task",
            "bulk_create",
            json!({"data": [{"title": "s", "ref": "B", "budget": "1.50", "due": "2026-05-01", "labels": ["x"]}]}),
        )
        .await;
    let bulk = db.ok("Task", "read", json!({"id": out["ids"][0]})).await;
    for k in [
        "title",
        "budget",
        "due",
        "labels",
        "state",
        "estimate",
        "deleted_at",
    ] {
        assert_eq!(bulk[k], single[k], "{k}");
    }
    let page = db
        .ok(
            "Task",
            "list",
            json!({"filter": {"budget": "1.5"}, "count": true}),
        )
        .await;
    assert_eq!(page["count"], 2);
    assert_eq!(records(&page).len(), 2);
}

/// A bulk body whose records stay text: a record that is JSON text but no JSON value (a number
/// out of range) fails when it is read, naming it, atomically or as one item's error.
async fn bulk_body_record_that_is_no_value(b: Backend) {
    let Some(db) = db(b, models()).await else {
        return;
    };
    let info = db.store.model("Task").unwrap();
    let ctx = Context::internal();
    let body = |atomic: bool| {
        format!(
            r#"{{"atomic": {atomic}, "data": [{{"title": "a", "ref": "R-a"}}, {{"title": "b", "ref": "R-b", "estimate": 1e999}}, {{"title": "c", "ref": "R-c"}}]}}"#
        )
    };
    let params =
        Params::from_json_body(OpKind::BulkCreate, body(true).into_bytes().into()).unwrap();
    let err = db
        .store
        .run_params(&ctx, &info, OpKind::BulkCreate, &params)
        .await
        .unwrap_err();
    assert_eq!(err.code(), "validation");
    assert_eq!(err.field(), Some("data[1]"));
    assert_eq!(db.count("Task", json!({})).await, 0, "nothing changed");
    let params =
        Params::from_json_body(OpKind::BulkCreate, body(false).into_bytes().into()).unwrap();
    let out = db
        .store
        .run_params(&ctx, &info, OpKind::BulkCreate, &params)
        .await
        .unwrap();
    assert_eq!(out["inserted"], 2, "{out}");
    assert_eq!(
        errors(&out),
        [(1, "validation".into(), Some("data[1]".into()))]
    );
}

conformance!(
    bulk_body_record_that_is_no_value,
    bulk_create_returns_ids,
    bulk_create_atomic_by_default,
    bulk_create_per_item_errors,
    bulk_create_on_conflict,
    bulk_update_guards,
    bulk_delete_guards,
    bulk_upsert_by_id,
    bulk_upsert_on_unique_fields,
    bulk_upsert_refusals,
    bulk_many_rows,
    bulk_results_in_records,
);
