//! Every field type round-trips with the same JSON on every database; limits, enums, nulls and
//! defaults behave the same too.

use crate::common::Backend;
use crate::conformance;
use crate::support::{Db, invalid, records};
use flowgate::{FieldDef, ModelDef};
use serde_json::{Map, Value, json};

/// A field of every type, all optional but the short string.
fn sample() -> ModelDef {
    ModelDef::new("Sample")
        .field(FieldDef::string("name").max_length(5))
        .field(FieldDef::string("free").optional())
        .field(FieldDef::text("body").optional())
        .field(FieldDef::integer("n").optional())
        .field(FieldDef::float("x").optional())
        .field(FieldDef::decimal("amount").optional())
        .field(FieldDef::boolean("flag").optional())
        .field(FieldDef::date("day").optional())
        .field(FieldDef::datetime("at").optional())
        .field(FieldDef::uuid("ref").optional())
        .field(FieldDef::json("meta").optional())
        .field(FieldDef::bytes("blob").optional())
        .field(FieldDef::enumeration("color", ["red", "green", "blue"]).optional())
}

/// Fields with defaults, one of every type that takes one.
fn defaults() -> ModelDef {
    ModelDef::new("Setting")
        .field(FieldDef::string("key").max_length(20))
        .field(FieldDef::string("label").default("none"))
        .field(FieldDef::text("body").default("long text"))
        .field(FieldDef::integer("level").default(3))
        .field(FieldDef::float("ratio").default(0.5))
        .field(FieldDef::decimal("price").default("9.90"))
        .field(FieldDef::boolean("active").default(true))
        .field(FieldDef::date("since").default("2026-01-01"))
        .field(FieldDef::datetime("at").default("2026-01-01T10:00:00+02:00"))
        .field(FieldDef::uuid("ref").default("0191f5e2-7c3a-7b4e-9a5d-3f1e2d4c5b6a"))
        .field(FieldDef::json("tags").default(json!(["a", {"b": 1}])))
        .field(FieldDef::bytes("blob").default("AAE="))
        .field(FieldDef::enumeration("kind", ["x", "y"]).default("y"))
        .field(FieldDef::integer("maybe").optional())
        .field(FieldDef::string("note").optional().default("n/a"))
}

async fn db(b: Backend) -> Option<Db> {
    crate::support::db(b, vec![sample(), defaults()]).await
}

/// Creates a sample with `fields`, checks that create, read and list all return `expected` for
/// them, and returns the record.
async fn round_trip(db: &Db, fields: Value, expected: Value) -> Value {
    let mut input = json!({"name": "s"});
    input
        .as_object_mut()
        .unwrap()
        .extend(fields.as_object().unwrap().clone());
    let created = db.ok("Sample", "create", input.clone()).await;
    let read = db.ok("Sample", "read", json!({"id": created["id"]})).await;
    assert_eq!(read, created, "{:?}: read differs from create", db.backend);
    let listed = records(
        &db.ok("Sample", "list", json!({"filter": {"id": created["id"]}}))
            .await,
    );
    assert_eq!(listed, std::slice::from_ref(&created), "{:?}", db.backend);
    for (k, v) in expected.as_object().unwrap() {
        assert_eq!(
            &created[k], v,
            "{:?}: field {k} of {input} came back as {}",
            db.backend, created[k]
        );
    }
    created
}

/// Checks one field: each (input, output) pair round-trips.
async fn each(db: &Db, field: &str, pairs: &[(Value, Value)]) {
    for (input, output) in pairs {
        let mut f = Map::new();
        f.insert(field.into(), input.clone());
        let mut e = Map::new();
        e.insert(field.into(), output.clone());
        round_trip(db, Value::Object(f), Value::Object(e)).await;
    }
}

fn same(values: &[Value]) -> Vec<(Value, Value)> {
    values.iter().map(|v| (v.clone(), v.clone())).collect()
}

async fn strings_and_text(b: Backend) {
    let Some(db) = db(b).await else {
        return;
    };
    // max_length counts characters, not bytes.
    each(
        &db,
        "name",
        &same(&[json!("abcde"), json!("ééééé"), json!("日本語"), json!("")]),
    )
    .await;
    let e = db.err("Sample", "create", json!({"name": "abcdef"})).await;
    invalid(&e, "name");
    assert!(e.to_string().contains("max_length 5"), "{e}");
    invalid(
        &db.err("Sample", "create", json!({"name": "ab\u{0}c"}))
            .await,
        "name",
    );
    // A string without max_length holds 255 characters on every database.
    let longest = "é".repeat(255);
    each(
        &db,
        "free",
        &same(&[json!(longest), json!("quote ' \" back \\ slash")]),
    )
    .await;
    invalid(
        &db.err(
            "Sample",
            "create",
            json!({"name": "s", "free": "x".repeat(256)}),
        )
        .await,
        "free",
    );
    let big: String = "lorem ipsum ✓ ".repeat(6000);
    each(&db, "body", &same(&[json!(big), json!("line\nbreak\ttab")])).await;
    invalid(
        &db.err("Sample", "create", json!({"name": 5})).await,
        "name",
    );
    invalid(
        &db.err("Sample", "create", json!({"name": "s", "body": ["x"]}))
            .await,
        "body",
    );
}

async fn numbers(b: Backend) {
    let Some(db) = db(b).await else {
        return;
    };
    each(
        &db,
        "n",
        &same(&[json!(0), json!(-1), json!(i64::MAX), json!(i64::MIN)]),
    )
    .await;
    invalid(
        &db.err("Sample", "create", json!({"name": "s", "n": 1.5}))
            .await,
        "n",
    );
    invalid(
        &db.err("Sample", "create", json!({"name": "s", "n": "7"}))
            .await,
        "n",
    );
    invalid(
        &db.err("Sample", "create", json!({"name": "s", "n": u64::MAX}))
            .await,
        "n",
    );
    each(
        &db,
        "x",
        &[
            (json!(0.1), json!(0.1)),
            (json!(-2.5), json!(-2.5)),
            (json!(1e300), json!(1e300)),
            (json!(3), json!(3.0)),
        ],
    )
    .await;
    invalid(
        &db.err("Sample", "create", json!({"name": "s", "x": "1.5"}))
            .await,
        "x",
    );
}

async fn decimals(b: Backend) {
    let Some(db) = db(b).await else {
        return;
    };
    // Decimals come back as strings, normalised.
    each(
        &db,
        "amount",
        &[
            (json!("12.50"), json!("12.5")),
            (json!("12.5"), json!("12.5")),
            (json!(0.1), json!("0.1")),
            (json!(7), json!("7")),
            (json!("-3.000"), json!("-3")),
            (json!("0.0001"), json!("0.0001")),
            (json!("1234567.89"), json!("1234567.89")),
            (json!("100"), json!("100")),
            (json!(" 5.25 "), json!("5.25")),
        ],
    )
    .await;
    invalid(
        &db.err("Sample", "create", json!({"name": "s", "amount": "abc"}))
            .await,
        "amount",
    );
    invalid(
        &db.err("Sample", "create", json!({"name": "s", "amount": true}))
            .await,
        "amount",
    );
}

async fn booleans_dates_and_times(b: Backend) {
    let Some(db) = db(b).await else {
        return;
    };
    each(&db, "flag", &same(&[json!(true), json!(false)])).await;
    invalid(
        &db.err("Sample", "create", json!({"name": "s", "flag": 1}))
            .await,
        "flag",
    );
    each(
        &db,
        "day",
        &same(&[
            json!("2026-02-28"),
            json!("1999-12-31"),
            json!("2024-02-29"),
        ]),
    )
    .await;
    for bad in [json!("2026-02-30"), json!("26-1-1"), json!(20260101)] {
        invalid(
            &db.err("Sample", "create", json!({"name": "s", "day": bad}))
                .await,
            "day",
        );
    }
    // Datetimes come back in RFC 3339, UTC, with microseconds; offsets are normalised.
    each(
        &db,
        "at",
        &[
            (
                json!("2026-01-02T03:04:05.123456Z"),
                json!("2026-01-02T03:04:05.123456Z"),
            ),
            (
                json!("2026-01-02T03:04:05Z"),
                json!("2026-01-02T03:04:05.000000Z"),
            ),
            (
                json!("2026-01-02T04:04:05.1234567+01:00"),
                json!("2026-01-02T03:04:05.123456Z"),
            ),
            (
                json!("2026-01-01T20:30:00-08:00"),
                json!("2026-01-02T04:30:00.000000Z"),
            ),
            (
                json!("2026-01-02 03:04:05"),
                json!("2026-01-02T03:04:05.000000Z"),
            ),
            (
                json!("1970-01-01T00:00:00Z"),
                json!("1970-01-01T00:00:00.000000Z"),
            ),
        ],
    )
    .await;
    for bad in [json!("yesterday"), json!("2026-01-02"), json!(1700000000)] {
        invalid(
            &db.err("Sample", "create", json!({"name": "s", "at": bad}))
                .await,
            "at",
        );
    }
}

async fn uuids_json_and_bytes(b: Backend) {
    let Some(db) = db(b).await else {
        return;
    };
    let u = "0191f5e2-7c3a-7b4e-9a5d-3f1e2d4c5b6a";
    each(
        &db,
        "ref",
        &[
            (json!(u), json!(u)),
            (json!(u.to_uppercase()), json!(u)),
            (json!(u.replace('-', "")), json!(u)),
        ],
    )
    .await;
    invalid(
        &db.err("Sample", "create", json!({"name": "s", "ref": "nope"}))
            .await,
        "ref",
    );
    each(
        &db,
        "meta",
        &same(&[
            json!({"b": 1, "a": [1, 2, {"c": null}], "s": "ü"}),
            json!([1, "two", 3.5, true, null]),
            json!(42),
            json!(-7),
            json!(1.5),
            json!("text"),
            json!(true),
            json!({}),
            json!([]),
        ]),
    )
    .await;
    each(
        &db,
        "blob",
        &same(&[json!("AAEC/w=="), json!("aGVsbG8="), json!("")]),
    )
    .await;
    invalid(
        &db.err(
            "Sample",
            "create",
            json!({"name": "s", "blob": "not base64!"}),
        )
        .await,
        "blob",
    );
}

async fn enums(b: Backend) {
    let Some(db) = db(b).await else {
        return;
    };
    each(&db, "color", &same(&[json!("red"), json!("blue")])).await;
    let e = db
        .err("Sample", "create", json!({"name": "s", "color": "purple"}))
        .await;
    invalid(&e, "color");
    assert!(e.to_string().contains("red, green, blue"), "{e}");
    invalid(
        &db.err("Sample", "create", json!({"name": "s", "color": "RED"}))
            .await,
        "color",
    );
    let s = db
        .ok("Sample", "create", json!({"name": "s", "color": "red"}))
        .await;
    invalid(
        &db.err(
            "Sample",
            "update",
            json!({"id": s["id"], "fields": {"color": "pink"}}),
        )
        .await,
        "fields.color",
    );
    invalid(
        &db.err("Sample", "list", json!({"filter": {"color": "pink"}}))
            .await,
        "filter.color",
    );
}

async fn nulls(b: Backend) {
    let Some(db) = db(b).await else {
        return;
    };
    let optional = [
        "free", "body", "n", "x", "amount", "flag", "day", "at", "ref", "meta", "blob", "color",
    ];
    let all_null: Map<String, Value> = optional
        .iter()
        .map(|f| (f.to_string(), Value::Null))
        .collect();
    let r = round_trip(
        &db,
        Value::Object(all_null.clone()),
        Value::Object(all_null.clone()),
    )
    .await;
    // Leaving optional fields out is the same as giving null.
    let r2 = round_trip(&db, json!({}), Value::Object(all_null.clone())).await;
    let keys = |r: &Value| r.as_object().unwrap().keys().cloned().collect::<Vec<_>>();
    assert_eq!(keys(&r), keys(&r2));
    // And a value can be set back to null.
    let full = round_trip(
        &db,
        json!({"n": 1, "meta": {"a": 1}, "blob": "AAE=", "day": "2026-01-01"}),
        json!({"n": 1}),
    )
    .await;
    let cleared = db
        .ok(
            "Sample",
            "update",
            json!({"id": full["id"], "fields": {"n": null, "meta": null, "blob": null, "day": null}}),
        )
        .await;
    for f in ["n", "meta", "blob", "day"] {
        assert_eq!(cleared[f], Value::Null, "{f}");
    }
    invalid(
        &db.err("Sample", "create", json!({"name": null})).await,
        "name",
    );
    invalid(
        &db.err(
            "Sample",
            "update",
            json!({"id": full["id"], "fields": {"name": null}}),
        )
        .await,
        "fields.name",
    );
}

async fn defaults_applied(b: Backend) {
    let Some(db) = db(b).await else {
        return;
    };
    let expected = json!({
        "key": "k",
        "label": "none",
        "body": "long text",
        "level": 3,
        "ratio": 0.5,
        "price": "9.9",
        "active": true,
        "since": "2026-01-01",
        "at": "2026-01-01T08:00:00.000000Z",
        "ref": "0191f5e2-7c3a-7b4e-9a5d-3f1e2d4c5b6a",
        "tags": ["a", {"b": 1}],
        "blob": "AAE=",
        "kind": "y",
        "maybe": null,
        "note": "n/a"
    });
    let created = db.ok("Setting", "create", json!({"key": "k"})).await;
    for (k, v) in expected.as_object().unwrap() {
        assert_eq!(&created[k], v, "{:?}: default of {k}", db.backend);
    }
    assert_eq!(
        db.ok("Setting", "read", json!({"id": created["id"]})).await,
        created
    );
    // Given values win over defaults, null included on optional fields.
    let nulled = db
        .ok("Setting", "create", json!({"key": "n", "note": null}))
        .await;
    assert_eq!(nulled["note"], Value::Null);
    invalid(
        &db.err("Setting", "create", json!({"key": "n", "level": null}))
            .await,
        "level",
    );
    let given = db
        .ok(
            "Setting",
            "create",
            json!({"key": "g", "level": 9, "tags": [], "kind": "x", "active": false}),
        )
        .await;
    assert_eq!(
        (
            &given["level"],
            &given["tags"],
            &given["kind"],
            &given["active"]
        ),
        (&json!(9), &json!([]), &json!("x"), &json!(false))
    );
    // Bulk creates and upserts apply the same defaults.
    db.ok(
        "Setting",
        "bulk_create",
        json!({"data": [{"key": "b1"}, {"key": "b2", "level": 1}]}),
    )
    .await;
    let bulk = records(
        &db.ok(
            "Setting",
            "list",
            json!({"filter": {"key": {"$in": ["b1", "b2"]}}, "order_by": "key"}),
        )
        .await,
    );
    for (k, v) in expected.as_object().unwrap() {
        if k != "key" {
            assert_eq!(&bulk[0][k], v, "{:?}: bulk default of {k}", db.backend);
        }
    }
    assert_eq!(bulk[1]["level"], 1);
}

conformance!(
    strings_and_text,
    numbers,
    decimals,
    booleans_dates_and_times,
    uuids_json_and_bytes,
    enums,
    nulls,
    defaults_applied,
);
