//! List: filter, order_by, limit, offset, cursor pagination, count and field projection.

use crate::common::Backend;
use crate::conformance;
use crate::support::{Db, db, invalid, models, records};
use serde_json::{Value, json};
use std::collections::HashSet;

/// Creates `n` notes; note `i` has body `n{i:02}` and rank `rank(i)`. Returns their ids in order.
async fn notes(db: &Db, n: usize, rank: impl Fn(usize) -> Value) -> Vec<i64> {
    let data: Vec<Value> = (0..n)
        .map(|i| json!({"body": format!("n{i:02}"), "rank": rank(i)}))
        .collect();
    let out = db.ok("Note", "bulk_create", json!({ "data": data })).await;
    out["ids"]
        .as_array()
        .unwrap()
        .iter()
        .map(|v| v.as_i64().unwrap())
        .collect()
}

fn ids_of(records: &[Value]) -> Vec<i64> {
    records.iter().map(|r| r["id"].as_i64().unwrap()).collect()
}

/// Walks every page of a listing by `next_cursor`, checking that no page but the last lacks
/// one, and returns every record seen.
async fn walk(db: &Db, model: &str, params: Value) -> Vec<Value> {
    let mut seen = Vec::new();
    let mut params = params;
    let limit = params["limit"].as_u64().unwrap() as usize;
    for _ in 0..1000 {
        let page = db.ok(model, "list", params.clone()).await;
        let recs = records(&page);
        seen.extend(recs.iter().cloned());
        match page.get("next_cursor") {
            Some(c) => {
                assert_eq!(recs.len(), limit, "a page before the last is full: {page}");
                params["cursor"] = c.clone();
            }
            None => {
                assert!(recs.len() <= limit);
                return seen;
            }
        }
    }
    panic!("the walk did not end");
}

/// The expected order of notes by (rank, id) with nulls last ascending and first descending.
fn by_rank(notes: &[(i64, Option<i64>)], desc: bool) -> Vec<i64> {
    let mut sorted = notes.to_vec();
    sorted.sort_by(|a, b| {
        let ord = match (a.1, b.1) {
            (None, None) => std::cmp::Ordering::Equal,
            (None, Some(_)) => std::cmp::Ordering::Greater,
            (Some(_), None) => std::cmp::Ordering::Less,
            (Some(x), Some(y)) => x.cmp(&y),
        };
        let ord = if desc { ord.reverse() } else { ord };
        ord.then(a.0.cmp(&b.0))
    });
    sorted.into_iter().map(|(id, _)| id).collect()
}

async fn list_default_limit_and_max(b: Backend) {
    let Some(db) = db(b, models()).await else {
        return;
    };
    let ids = notes(&db, 25, |i| json!(i)).await;
    let page = db.ok("Note", "list", json!({})).await;
    let recs = records(&page);
    assert_eq!(recs.len(), 20, "the default page size is 20");
    assert_eq!(ids_of(&recs), ids[..20], "the default order is by id");
    assert!(page["next_cursor"].is_string());
    assert!(page.get("count").is_none(), "count only when asked");
    let all = db.ok("Note", "list", json!({"limit": 1000})).await;
    assert_eq!(records(&all).len(), 25);
    assert!(all.get("next_cursor").is_none(), "{all}");
    let exact = db.ok("Note", "list", json!({"limit": 25})).await;
    assert!(exact.get("next_cursor").is_none(), "no more rows follow");
    invalid(
        &db.err("Note", "list", json!({"limit": 1001})).await,
        "limit",
    );
    invalid(&db.err("Note", "list", json!({"limit": 0})).await, "limit");
    invalid(&db.err("Note", "list", json!({"limit": -1})).await, "limit");
    invalid(
        &db.err("Note", "list", json!({"limit": "many"})).await,
        "limit",
    );
    // Numbers may arrive as text (query strings).
    let page = db.ok("Note", "list", json!({"limit": "3"})).await;
    assert_eq!(records(&page).len(), 3);
}

async fn list_filter_offset_and_count(b: Backend) {
    let Some(db) = db(b, models()).await else {
        return;
    };
    let ids = notes(&db, 30, |i| json!(i % 3)).await;
    let zeros: Vec<i64> = ids.iter().copied().step_by(3).collect();
    let page = db
        .ok(
            "Note",
            "list",
            json!({"filter": {"rank": 0}, "limit": 4, "count": true}),
        )
        .await;
    assert_eq!(ids_of(&records(&page)), zeros[..4]);
    assert_eq!(page["count"], 10, "count is the total of matching rows");
    let page = db
        .ok(
            "Note",
            "list",
            json!({"filter": {"rank": 0}, "limit": 4, "offset": 8, "count": true}),
        )
        .await;
    assert_eq!(ids_of(&records(&page)), zeros[8..]);
    assert_eq!(page["count"], 10);
    assert!(page.get("next_cursor").is_none());
    let page = db
        .ok("Note", "list", json!({"filter": {"rank": 0}, "offset": 50}))
        .await;
    assert_eq!(records(&page), Vec::<Value>::new());
    let page = db
        .ok(
            "Note",
            "list",
            json!({"filter": {"rank": 7}, "count": true}),
        )
        .await;
    assert_eq!(page, json!({"records": [], "count": 0}));
}

async fn list_order_by_string_and_list(b: Backend) {
    let Some(db) = db(b, models()).await else {
        return;
    };
    let mut created = Vec::new();
    for i in 0..6 {
        let n = db
            .ok(
                "Note",
                "create",
                json!({"body": format!("b{}", i % 2), "rank": i / 2}),
            )
            .await;
        created.push(n);
    }
    // "-created_at": newest first; rows created in the same microsecond fall back to the id.
    let page = db
        .ok("Note", "list", json!({"order_by": "-created_at"}))
        .await;
    let recs = records(&page);
    assert_eq!(recs.len(), 6);
    for pair in recs.windows(2) {
        let (a, b) = (&pair[0], &pair[1]);
        let (ta, tb) = (a["created_at"].as_str(), b["created_at"].as_str());
        assert!(
            ta > tb || (ta == tb && a["id"].as_i64() < b["id"].as_i64()),
            "{a} before {b}"
        );
    }
    let expected = {
        let mut ids: Vec<(String, i64, i64)> = created
            .iter()
            .map(|n| {
                (
                    n["body"].as_str().unwrap().to_string(),
                    n["rank"].as_i64().unwrap(),
                    n["id"].as_i64().unwrap(),
                )
            })
            .collect();
        ids.sort_by(|a, b| a.0.cmp(&b.0).then(b.1.cmp(&a.1)).then(a.2.cmp(&b.2)));
        ids.into_iter().map(|t| t.2).collect::<Vec<_>>()
    };
    for order in [
        json!(["body", "-rank"]),
        json!("body,-rank"),
        json!(["+body", "-rank"]),
    ] {
        let page = db.ok("Note", "list", json!({"order_by": order})).await;
        assert_eq!(ids_of(&records(&page)), expected, "order_by {order}");
    }
    let page = db.ok("Note", "list", json!({"order_by": "-id"})).await;
    let mut desc: Vec<i64> = created.iter().map(|n| n["id"].as_i64().unwrap()).collect();
    desc.reverse();
    assert_eq!(ids_of(&records(&page)), desc);
    invalid(
        &db.err("Note", "list", json!({"order_by": "nope"})).await,
        "order_by.nope",
    );
    invalid(
        &db.err("Note", "list", json!({"order_by": ["rank", "-rank"]}))
            .await,
        "order_by.rank",
    );
    invalid(
        &db.err("Note", "list", json!({"order_by": 5})).await,
        "order_by",
    );
}

async fn cursor_walks_whole_table(b: Backend) {
    let Some(db) = db(b, models()).await else {
        return;
    };
    let ids = notes(&db, 53, |i| json!(i)).await;
    let seen = walk(&db, "Note", json!({"limit": 7})).await;
    assert_eq!(ids_of(&seen), ids, "every row once, in order");
    // With a filter and a count on every page.
    let seen = walk(
        &db,
        "Note",
        json!({"limit": 4, "filter": {"rank": {"$lt": 20}}, "count": true}),
    )
    .await;
    assert_eq!(ids_of(&seen), ids[..20]);
    // Pages of one.
    let seen = walk(
        &db,
        "Note",
        json!({"limit": 1, "filter": {"rank": {"$gte": 50}}}),
    )
    .await;
    assert_eq!(ids_of(&seen), ids[50..]);
}

async fn cursor_descending_and_ties(b: Backend) {
    let Some(db) = db(b, models()).await else {
        return;
    };
    // Bulk-created rows share created_at, so the id breaks every tie.
    let ids = notes(&db, 40, |i| json!(i % 5)).await;
    let seen = walk(&db, "Note", json!({"limit": 6, "order_by": "-created_at"})).await;
    assert_eq!(ids_of(&seen), ids);
    let rows: Vec<(i64, Option<i64>)> = ids
        .iter()
        .enumerate()
        .map(|(i, id)| (*id, Some((i % 5) as i64)))
        .collect();
    let seen = walk(&db, "Note", json!({"limit": 6, "order_by": "-rank"})).await;
    assert_eq!(ids_of(&seen), by_rank(&rows, true));
    let seen = walk(
        &db,
        "Note",
        json!({"limit": 9, "order_by": ["rank", "-id"]}),
    )
    .await;
    let mut expected = rows.clone();
    expected.sort_by(|a, b| a.1.cmp(&b.1).then(b.0.cmp(&a.0)));
    let expected: Vec<i64> = expected.into_iter().map(|r| r.0).collect();
    assert_eq!(ids_of(&seen), expected);
}

async fn cursor_nullable_key(b: Backend) {
    let Some(db) = db(b, models()).await else {
        return;
    };
    // A third of the ranks are null, the rest repeat.
    let rank = |i: usize| {
        if i.is_multiple_of(3) {
            Value::Null
        } else {
            json!(i % 4)
        }
    };
    let ids = notes(&db, 31, rank).await;
    let rows: Vec<(i64, Option<i64>)> = ids
        .iter()
        .enumerate()
        .map(|(i, id)| (*id, rank(i).as_i64()))
        .collect();
    for (order, desc) in [("rank", false), ("-rank", true)] {
        let one_page = db
            .ok("Note", "list", json!({"limit": 1000, "order_by": order}))
            .await;
        assert_eq!(
            ids_of(&records(&one_page)),
            by_rank(&rows, desc),
            "nulls sort last ascending, first descending ({order})"
        );
        for limit in [1, 4, 10] {
            let seen = walk(&db, "Note", json!({"limit": limit, "order_by": order})).await;
            assert_eq!(
                ids_of(&seen),
                by_rank(&rows, desc),
                "{order}, pages of {limit}"
            );
        }
    }
}

async fn cursor_on_string_keys(b: Backend) {
    let Some(db) = db(b, models()).await else {
        return;
    };
    let data: Vec<Value> = (0..23)
        .map(|i| json!({"id": format!("tag-{:02}", (i * 7) % 23), "label": format!("l{}", i % 4)}))
        .collect();
    db.ok("Tag", "bulk_create", json!({ "data": data })).await;
    for order in ["id", "-id", "label", "-label,-id"] {
        let one_page = db
            .ok("Tag", "list", json!({"limit": 1000, "order_by": order}))
            .await;
        let expected: Vec<Value> = records(&one_page).iter().map(|r| r["id"].clone()).collect();
        let seen = walk(&db, "Tag", json!({"limit": 5, "order_by": order})).await;
        let got: Vec<Value> = seen.iter().map(|r| r["id"].clone()).collect();
        assert_eq!(got, expected, "order_by {order}");
        let distinct: HashSet<String> = got.iter().map(|v| v.to_string()).collect();
        assert_eq!(distinct.len(), 23);
    }
}

async fn order_by_enum_text(b: Backend) {
    let Some(db) = db(b, models()).await else {
        return;
    };
    // Enums sort by their text on every database, not by their declared order (open, done).
    let data: Vec<Value> = (0..11)
        .map(|i| {
            let state = if i % 3 == 0 { "open" } else { "done" };
            json!({"title": format!("t{i}"), "ref": format!("R-{i:02}"), "state": state})
        })
        .collect();
    db.ok("Task", "bulk_create", json!({ "data": data })).await;
    for (order, first) in [("state", "done"), ("-state", "open")] {
        let one_page = db
            .ok("Task", "list", json!({"limit": 1000, "order_by": order}))
            .await;
        let expected: Vec<Value> = records(&one_page).iter().map(|r| r["id"].clone()).collect();
        assert_eq!(records(&one_page)[0]["state"], first, "order_by {order}");
        let seen = walk(&db, "Task", json!({"limit": 3, "order_by": order})).await;
        let got: Vec<Value> = seen.iter().map(|r| r["id"].clone()).collect();
        assert_eq!(got, expected, "order_by {order}");
    }
    let seen = walk(
        &db,
        "Task",
        json!({"limit": 2, "order_by": ["state", "-ref"]}),
    )
    .await;
    let refs: Vec<Value> = seen.iter().map(|r| r["ref"].clone()).collect();
    let mut expected: Vec<(&str, String)> = (0..11)
        .map(|i| {
            (
                if i % 3 == 0 { "open" } else { "done" },
                format!("R-{i:02}"),
            )
        })
        .collect();
    expected.sort_by(|a, b| a.0.cmp(b.0).then(b.1.cmp(&a.1)));
    let expected: Vec<Value> = expected.into_iter().map(|(_, r)| json!(r)).collect();
    assert_eq!(refs, expected);
}

async fn cursor_misuse(b: Backend) {
    let Some(db) = db(b, models()).await else {
        return;
    };
    notes(&db, 5, |i| json!(i)).await;
    let page = db.ok("Note", "list", json!({"limit": 2})).await;
    let cursor = page["next_cursor"].clone();
    for bad in [json!("garbage!"), json!("W10"), json!(42)] {
        invalid(
            &db.err("Note", "list", json!({"limit": 2, "cursor": bad}))
                .await,
            "cursor",
        );
    }
    // A cursor belongs to its ordering.
    invalid(
        &db.err(
            "Note",
            "list",
            json!({"limit": 2, "cursor": cursor, "order_by": ["rank", "body"]}),
        )
        .await,
        "cursor",
    );
    invalid(
        &db.err(
            "Note",
            "list",
            json!({"limit": 2, "cursor": cursor, "offset": 2}),
        )
        .await,
        "cursor",
    );
}

async fn fields_projection(b: Backend) {
    let Some(db) = db(b, models()).await else {
        return;
    };
    notes(&db, 3, |i| json!(i)).await;
    let page = db
        .ok(
            "Note",
            "list",
            json!({"fields": ["body"], "order_by": "-rank"}),
        )
        .await;
    let recs = records(&page);
    assert_eq!(
        recs.iter().map(|r| r["body"].clone()).collect::<Vec<_>>(),
        [json!("n02"), json!("n01"), json!("n00")]
    );
    for r in &recs {
        let keys: Vec<&str> = r.as_object().unwrap().keys().map(String::as_str).collect();
        assert_eq!(keys, ["body", "id"], "the id always comes along: {r}");
    }
    // A comma-separated string works too, and the sort key is not leaked into the records.
    let page = db
        .ok(
            "Note",
            "list",
            json!({"fields": "rank,created_at", "order_by": "body", "limit": 2}),
        )
        .await;
    let recs = records(&page);
    let keys: Vec<&str> = recs[0]
        .as_object()
        .unwrap()
        .keys()
        .map(String::as_str)
        .collect();
    assert_eq!(keys, ["rank", "created_at", "id"]);
    // The cursor of a projected page still walks on.
    let next = db
        .ok(
            "Note",
            "list",
            json!({"fields": "rank", "order_by": "body", "limit": 2, "cursor": page["next_cursor"]}),
        )
        .await;
    assert_eq!(records(&next).len(), 1);
    assert_eq!(records(&next)[0]["rank"], 2);
    invalid(
        &db.err("Note", "list", json!({"fields": ["nope"]})).await,
        "fields.nope",
    );
    invalid(
        &db.err("Note", "list", json!({"fields": [1]})).await,
        "fields[0]",
    );
}

conformance!(
    list_default_limit_and_max,
    list_filter_offset_and_count,
    list_order_by_string_and_list,
    cursor_walks_whole_table,
    cursor_descending_and_ties,
    cursor_nullable_key,
    cursor_on_string_keys,
    order_by_enum_text,
    cursor_misuse,
    fields_projection,
);
