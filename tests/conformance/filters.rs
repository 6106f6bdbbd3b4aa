//! The filter language: every operator, the combinators and the equality shorthand, with the
//! same matches on every database.

use crate::common::Backend;
use crate::conformance;
use crate::support::{Db, invalid};
use flowgate::{FieldDef, ModelDef};
use serde_json::{Value, json};

/// An item with a field of every filterable type, most of them optional.
fn item() -> ModelDef {
    ModelDef::new("Item")
        .field(FieldDef::string("name").max_length(40))
        .field(FieldDef::integer("rank").optional())
        .field(FieldDef::float("score").optional())
        .field(FieldDef::decimal("price").optional())
        .field(FieldDef::date("day").optional())
        .field(FieldDef::datetime("at").optional())
        .field(FieldDef::boolean("flag").optional())
        .field(FieldDef::enumeration("kind", ["a", "b", "c"]).optional())
        .field(FieldDef::uuid("code").optional())
        .field(FieldDef::text("note").optional())
        .field(FieldDef::json("meta").optional())
}

const U1: &str = "0191f5e2-7c3a-7b4e-9a5d-3f1e2d4c5b6a";
const U2: &str = "0191f5e2-7c3a-7b4e-9a5d-3f1e2d4c5b6b";

/// Seven items; the names say what each is for.
async fn seeded(b: Backend) -> Option<Db> {
    let db = crate::support::db(b, vec![item()]).await?;
    let items = [
        json!({"name": "alpha", "rank": 1, "score": 1.5, "price": "10.00", "day": "2026-01-01",
               "at": "2026-01-01T00:00:00Z", "flag": true, "kind": "a", "code": U1,
               "note": "first line", "meta": {"k": 1}}),
        json!({"name": "Beta", "rank": 2, "score": 2.5, "price": "20.5", "day": "2026-02-01",
               "at": "2026-02-01T12:00:00.5Z", "flag": false, "kind": "b", "code": U2,
               "note": "second"}),
        json!({"name": "gamma", "rank": 3, "score": -1.0, "price": "30", "day": "2026-03-01",
               "at": "2026-03-01T23:59:59.999999Z", "flag": true, "kind": "c"}),
        json!({"name": "ALPHA", "rank": 4}),
        json!({"name": "100%_sure"}),
        json!({"name": "1000 sure"}),
        json!({"name": "back\\slash"}),
    ];
    for it in items {
        db.ok("Item", "create", it).await;
    }
    Some(db)
}

/// The names of the items a filter matches, in id order.
async fn names(db: &Db, filter: Value) -> Vec<String> {
    db.column("Item", "name", filter.clone())
        .await
        .into_iter()
        .map(|v| v.as_str().unwrap().to_string())
        .collect()
}

/// Checks the names a filter matches, and that count agrees with list.
async fn check(db: &Db, filter: Value, expected: &[&str]) {
    let got = names(db, filter.clone()).await;
    assert_eq!(got, expected, "{:?}: filter {filter}", db.backend);
    assert_eq!(
        db.count("Item", filter.clone()).await,
        expected.len() as u64,
        "{:?}: count {filter}",
        db.backend
    );
}

const ALL: [&str; 7] = [
    "alpha",
    "Beta",
    "gamma",
    "ALPHA",
    "100%_sure",
    "1000 sure",
    "back\\slash",
];

async fn equality_and_shorthand(b: Backend) {
    let Some(db) = seeded(b).await else {
        return;
    };
    check(&db, json!({}), &ALL).await;
    check(&db, Value::Null, &ALL).await;
    check(&db, json!({"name": "alpha"}), &["alpha"]).await;
    check(&db, json!({"name": {"$eq": "alpha"}}), &["alpha"]).await;
    check(&db, json!({"rank": 2}), &["Beta"]).await;
    check(&db, json!({"score": 2.5}), &["Beta"]).await;
    check(&db, json!({"price": "10"}), &["alpha"]).await;
    check(&db, json!({"price": 20.5}), &["Beta"]).await;
    check(&db, json!({"day": "2026-02-01"}), &["Beta"]).await;
    check(&db, json!({"flag": true}), &["alpha", "gamma"]).await;
    check(&db, json!({"flag": false}), &["Beta"]).await;
    check(&db, json!({"kind": "c"}), &["gamma"]).await;
    check(&db, json!({"code": U1.to_uppercase()}), &["alpha"]).await;
    check(&db, json!({"note": "second"}), &["Beta"]).await;
    // Datetimes compare as instants: an offset names the same instant.
    check(
        &db,
        json!({"at": "2026-02-01T13:00:00.500+01:00"}),
        &["Beta"],
    )
    .await;
    check(
        &db,
        json!({"at": "2026-01-01T00:00:00.000000Z"}),
        &["alpha"],
    )
    .await;
    // Several fields are an implicit $and.
    check(&db, json!({"flag": true, "kind": "c"}), &["gamma"]).await;
    check(&db, json!({"flag": true, "kind": "b"}), &[]).await;
    // Equality with null is the null test.
    check(
        &db,
        json!({"rank": null}),
        &["100%_sure", "1000 sure", "back\\slash"],
    )
    .await;
    check(&db, json!({"kind": {"$eq": null}}), &ALL[3..]).await;
    check(&db, json!({"kind": {"$ne": null}}), &ALL[..3]).await;
    // The id is a field too.
    check(&db, json!({"id": 2}), &["Beta"]).await;
    check(&db, json!({"id": "3"}), &["gamma"]).await;
}

async fn not_equal_includes_nulls(b: Backend) {
    let Some(db) = seeded(b).await else {
        return;
    };
    // On an optional field, rows where it is null match $ne (and $nin).
    check(
        &db,
        json!({"rank": {"$ne": 1}}),
        &[
            "Beta",
            "gamma",
            "ALPHA",
            "100%_sure",
            "1000 sure",
            "back\\slash",
        ],
    )
    .await;
    check(&db, json!({"kind": {"$ne": "a"}}), &ALL[1..]).await;
    check(
        &db,
        json!({"flag": {"$ne": true}}),
        &["Beta", "ALPHA", "100%_sure", "1000 sure", "back\\slash"],
    )
    .await;
    // On a required field there are no nulls.
    check(&db, json!({"name": {"$ne": "alpha"}}), &ALL[1..]).await;
}

async fn ordering_operators(b: Backend) {
    let Some(db) = seeded(b).await else {
        return;
    };
    check(&db, json!({"rank": {"$gt": 2}}), &["gamma", "ALPHA"]).await;
    check(
        &db,
        json!({"rank": {"$gte": 2}}),
        &["Beta", "gamma", "ALPHA"],
    )
    .await;
    check(&db, json!({"rank": {"$lt": 2}}), &["alpha"]).await;
    check(&db, json!({"rank": {"$lte": 2}}), &["alpha", "Beta"]).await;
    check(
        &db,
        json!({"rank": {"$gt": 1, "$lt": 4}}),
        &["Beta", "gamma"],
    )
    .await;
    check(&db, json!({"score": {"$lt": 0}}), &["gamma"]).await;
    check(&db, json!({"score": {"$gte": 1.5}}), &["alpha", "Beta"]).await;
    // Decimals compare as numbers, not as text ("100" < "20.5" as text).
    check(
        &db,
        json!({"price": {"$gt": "9.5"}}),
        &["alpha", "Beta", "gamma"],
    )
    .await;
    check(&db, json!({"price": {"$gte": 20.5}}), &["Beta", "gamma"]).await;
    check(
        &db,
        json!({"price": {"$lt": "100"}}),
        &["alpha", "Beta", "gamma"],
    )
    .await;
    check(
        &db,
        json!({"day": {"$gt": "2026-01-15"}}),
        &["Beta", "gamma"],
    )
    .await;
    check(
        &db,
        json!({"day": {"$lte": "2026-02-01"}}),
        &["alpha", "Beta"],
    )
    .await;
    check(
        &db,
        json!({"at": {"$gt": "2026-02-01T12:00:00.5Z"}}),
        &["gamma"],
    )
    .await;
    check(
        &db,
        json!({"at": {"$gte": "2026-02-01T13:00:00.5+01:00"}}),
        &["Beta", "gamma"],
    )
    .await;
    check(
        &db,
        json!({"at": {"$lt": "2026-03-01T23:59:59.999999Z"}}),
        &["alpha", "Beta"],
    )
    .await;
    check(
        &db,
        json!({"id": {"$gt": 5}}),
        &["1000 sure", "back\\slash"],
    )
    .await;
    check(&db, json!({"kind": {"$lt": "b"}}), &["alpha"]).await;
}

async fn membership(b: Backend) {
    let Some(db) = seeded(b).await else {
        return;
    };
    check(
        &db,
        json!({"rank": {"$in": [1, 3, 99]}}),
        &["alpha", "gamma"],
    )
    .await;
    check(
        &db,
        json!({"name": {"$in": ["Beta", "ALPHA"]}}),
        &["Beta", "ALPHA"],
    )
    .await;
    check(
        &db,
        json!({"kind": {"$in": ["a", "b"]}}),
        &["alpha", "Beta"],
    )
    .await;
    check(&db, json!({"code": {"$in": [U2]}}), &["Beta"]).await;
    check(&db, json!({"day": {"$in": ["2026-03-01"]}}), &["gamma"]).await;
    check(&db, json!({"rank": {"$in": []}}), &[]).await;
    // $nin keeps rows where an optional field is null, like $ne.
    check(
        &db,
        json!({"rank": {"$nin": [1, 2, 3]}}),
        &["ALPHA", "100%_sure", "1000 sure", "back\\slash"],
    )
    .await;
    check(&db, json!({"name": {"$nin": ["alpha", "Beta"]}}), &ALL[2..]).await;
    check(&db, json!({"rank": {"$nin": []}}), &ALL).await;
}

async fn null_tests(b: Backend) {
    let Some(db) = seeded(b).await else {
        return;
    };
    check(&db, json!({"rank": {"$null": true}}), &ALL[4..]).await;
    check(&db, json!({"rank": {"$null": false}}), &ALL[..4]).await;
    check(&db, json!({"meta": {"$null": false}}), &["alpha"]).await;
    check(&db, json!({"note": {"$null": true}}), &ALL[2..]).await;
    check(&db, json!({"name": {"$null": true}}), &[]).await;
}

async fn text_patterns(b: Backend) {
    let Some(db) = seeded(b).await else {
        return;
    };
    // $like is case-sensitive on every database; $ilike is not.
    check(&db, json!({"name": {"$like": "alpha"}}), &["alpha"]).await;
    check(&db, json!({"name": {"$like": "%pha"}}), &["alpha"]).await;
    check(&db, json!({"name": {"$like": "%PHA"}}), &["ALPHA"]).await;
    check(&db, json!({"name": {"$like": "b%"}}), &["back\\slash"]).await;
    check(&db, json!({"name": {"$like": "_eta"}}), &["Beta"]).await;
    check(
        &db,
        json!({"name": {"$ilike": "alpha"}}),
        &["alpha", "ALPHA"],
    )
    .await;
    check(
        &db,
        json!({"name": {"$ilike": "B%"}}),
        &["Beta", "back\\slash"],
    )
    .await;
    check(
        &db,
        json!({"name": {"$ilike": "%A"}}),
        &["alpha", "Beta", "gamma", "ALPHA"],
    )
    .await;
    // $like's own wildcards work; a backslash escapes them.
    check(
        &db,
        json!({"name": {"$like": "100%"}}),
        &["100%_sure", "1000 sure"],
    )
    .await;
    check(&db, json!({"name": {"$like": "100\\%%"}}), &["100%_sure"]).await;
    check(
        &db,
        json!({"name": {"$like": "back\\\\%"}}),
        &["back\\slash"],
    )
    .await;
    check(
        &db,
        json!({"name": {"$ilike": "BACK\\\\%"}}),
        &["back\\slash"],
    )
    .await;
    // A pattern ending in a lone escape means something else on each database: refused.
    for op in ["$like", "$ilike"] {
        let e = db
            .err("Item", "list", json!({"filter": {"name": {op: "back\\"}}}))
            .await;
        invalid(&e, &format!("filter.name.{op}"));
    }
    // $contains and $startswith take the text literally: % and _ are not wildcards.
    check(&db, json!({"name": {"$contains": "lph"}}), &["alpha"]).await;
    check(&db, json!({"name": {"$contains": "%"}}), &["100%_sure"]).await;
    check(&db, json!({"name": {"$contains": "_"}}), &["100%_sure"]).await;
    check(&db, json!({"name": {"$contains": "%_"}}), &["100%_sure"]).await;
    check(&db, json!({"name": {"$contains": "\\"}}), &["back\\slash"]).await;
    check(
        &db,
        json!({"name": {"$startswith": "100%"}}),
        &["100%_sure"],
    )
    .await;
    check(
        &db,
        json!({"name": {"$startswith": "100"}}),
        &["100%_sure", "1000 sure"],
    )
    .await;
    check(
        &db,
        json!({"name": {"$startswith": "back\\"}}),
        &["back\\slash"],
    )
    .await;
    check(&db, json!({"name": {"$startswith": "_"}}), &[]).await;
    check(&db, json!({"name": {"$startswith": "A"}}), &["ALPHA"]).await;
    check(&db, json!({"name": {"$contains": "ETA"}}), &[]).await;
    // Patterns apply to text and enum fields too.
    check(&db, json!({"note": {"$contains": "line"}}), &["alpha"]).await;
    check(&db, json!({"kind": {"$like": "%"}}), &ALL[..3]).await;
}

async fn regular_expressions(b: Backend) {
    let Some(db) = seeded(b).await else {
        return;
    };
    check(
        &db,
        json!({"name": {"$regex": "^[ab]"}}),
        &["alpha", "back\\slash"],
    )
    .await;
    check(&db, json!({"name": {"$regex": "^[A-Z]+$"}}), &["ALPHA"]).await;
    check(
        &db,
        json!({"name": {"$regex": "a$"}}),
        &["alpha", "Beta", "gamma"],
    )
    .await;
    check(&db, json!({"name": {"$regex": "^10+ "}}), &["1000 sure"]).await;
    check(&db, json!({"name": {"$regex": "[0-9]{4}"}}), &["1000 sure"]).await;
    check(&db, json!({"name": {"$regex": "%"}}), &["100%_sure"]).await;
    check(
        &db,
        json!({"name": {"$regex": "(mm|et)a"}}),
        &["Beta", "gamma"],
    )
    .await;
    check(
        &db,
        json!({"kind": {"$regex": "^[bc]$"}}),
        &["Beta", "gamma"],
    )
    .await;
    check(
        &db,
        json!({"name": {"$regex": "(?i)^alpha$"}}),
        &["alpha", "ALPHA"],
    )
    .await;
    check(&db, json!({"name": {"$regex": "\\d+\\s"}}), &["1000 sure"]).await;
    check(
        &db,
        json!({"name": {"$regex": "^[[:digit:]]{3}[^[:digit:]]"}}),
        &["100%_sure"],
    )
    .await;
    check(&db, json!({"name": {"$regex": "\\\\"}}), &["back\\slash"]).await;
    check(
        &db,
        json!({"name": {"$regex": "^(?:al|Be)"}}),
        &["alpha", "Beta"],
    )
    .await;
    check(&db, json!({"name": {"$regex": "[\\w]%"}}), &["100%_sure"]).await;
    // Syntax the engines read differently is refused rather than answered differently.
    for pattern in [
        "\\bsure\\b",
        "sure\\z",
        "\\pL",
        "a(?i)lpha",
        "(?m)^a",
        "[\\W]",
        "(",
    ] {
        let e = db
            .err(
                "Item",
                "list",
                json!({"filter": {"name": {"$regex": pattern}}}),
            )
            .await;
        invalid(&e, "filter.name.$regex");
    }
}

async fn combinators(b: Backend) {
    let Some(db) = seeded(b).await else {
        return;
    };
    check(
        &db,
        json!({"$or": [{"rank": 1}, {"name": "gamma"}]}),
        &["alpha", "gamma"],
    )
    .await;
    check(
        &db,
        json!({"$and": [{"flag": true}, {"rank": {"$gt": 1}}]}),
        &["gamma"],
    )
    .await;
    check(
        &db,
        json!({"$not": {"name": {"$startswith": "1"}}}),
        &["alpha", "Beta", "gamma", "ALPHA", "back\\slash"],
    )
    .await;
    check(
        &db,
        json!({"$or": [
            {"$and": [{"kind": "a"}, {"flag": true}]},
            {"$not": {"name": {"$ilike": "%a%"}}}
        ]}),
        &["alpha", "100%_sure", "1000 sure"],
    )
    .await;
    // A combinator beside plain fields: all must hold.
    check(
        &db,
        json!({"name": {"$ilike": "%a%"}, "$or": [{"rank": {"$null": true}}, {"rank": {"$gte": 3}}]}),
        &["gamma", "ALPHA", "back\\slash"],
    )
    .await;
    // Empty lists: $and of nothing holds, $or of nothing does not.
    check(&db, json!({"$and": []}), &ALL).await;
    check(&db, json!({"$or": []}), &[]).await;
    check(&db, json!({"$not": {"$or": []}}), &ALL).await;
    // Nesting.
    check(
        &db,
        json!({"$not": {"$not": {"$or": [{"kind": "b"}, {"rank": 4}]}}}),
        &["Beta", "ALPHA"],
    )
    .await;
}

async fn long_lists(b: Backend) {
    let Some(db) = seeded(b).await else {
        return;
    };
    // Thousands of alternatives: the SQL must not nest as deep as the list is long.
    let ranks: Vec<Value> = (2..3000).map(|i| json!(i)).collect();
    let alternatives: Vec<Value> = ranks.iter().map(|r| json!({ "rank": r })).collect();
    check(
        &db,
        json!({ "$or": alternatives }),
        &["Beta", "gamma", "ALPHA"],
    )
    .await;
    check(
        &db,
        json!({"rank": {"$in": ranks}}),
        &["Beta", "gamma", "ALPHA"],
    )
    .await;
    let all: Vec<Value> = (0..3000).map(|i| json!({"rank": {"$ne": -i}})).collect();
    check(
        &db,
        json!({"$and": all, "name": {"$ne": "alpha"}}),
        &ALL[1..],
    )
    .await;
    let none: Vec<Value> = (0..3000)
        .map(|i| json!({"name": format!("x{i}")}))
        .collect();
    check(&db, json!({"$not": {"$or": none}}), &ALL).await;
}

conformance!(
    long_lists,
    equality_and_shorthand,
    not_equal_includes_nulls,
    ordering_operators,
    membership,
    null_tests,
    text_patterns,
    regular_expressions,
    combinators,
);
