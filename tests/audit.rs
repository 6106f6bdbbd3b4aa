//! The audit trail in the data layer (DESIGN 13.5) on SQLite, PostgreSQL and MySQL: every
//! committed write of every operation leaves the rows it should, with the changed fields as
//! `{field: [before, after]}` and sensitive fields masked; bulk writes past
//! `max_rows_per_op` end in a summary row; a write that fails, is a dry run or is rolled back
//! leaves none; concurrent writes each get their own row; reads leave none.
#![allow(missing_docs)]

mod common;

use common::Backend;
use flowgate::audit::{AuditLog, AuditQuery};
use flowgate::{Context, FieldDef, ModelDef, OpKind, Store, StoreConfig};
use serde_json::{Value, json};

fn models() -> Vec<ModelDef> {
    vec![
        ModelDef::new("Account")
            .field(FieldDef::string("name").max_length(40).unique())
            .field(
                FieldDef::string("secret")
                    .max_length(40)
                    .optional()
                    .sensitive(),
            )
            .field(FieldDef::integer("balance").default(0)),
    ]
}

async fn open(b: Backend, max_rows: usize) -> Option<Store> {
    let url = common::fresh_url(b).await?;
    let mut cfg = StoreConfig::new(url);
    cfg.pool_size = 4;
    cfg.audit_log = true;
    cfg.audit_max_rows_per_op = max_rows;
    Some(Store::open_with(&cfg, models()).await.expect("open"))
}

async fn run(s: &Store, op: OpKind, params: Value) -> flowgate::Result<Value> {
    let m = s.model("Account").unwrap();
    let ctx = Context {
        via: Some("test".into()),
        ..Context::internal()
    };
    s.run(&ctx, &m, op, &params).await
}

/// The audit rows, oldest first, without their ids and times.
async fn trail(s: &Store) -> Vec<Value> {
    let log = AuditLog::open(s).await.unwrap();
    let page = log
        .list(&AuditQuery {
            limit: Some(1000),
            ..AuditQuery::default()
        })
        .await
        .unwrap();
    let mut rows: Vec<Value> = page["records"].as_array().unwrap().clone();
    rows.reverse();
    rows.into_iter()
        .map(|mut r| {
            let o = r.as_object_mut().unwrap();
            for k in ["id", "at", "created_at", "updated_at", "request_id"] {
                o.remove(k);
            }
            r
        })
        .collect()
}

fn row(op: &str, record: Value, changes: Value) -> Value {
    json!({
        "principal": "local", "tenant": null, "channel": "internal", "via": "test",
        "model": "Account", "op": op, "record_id": record.to_string().trim_matches('"'),
        "changes": changes, "count": null, "filter": null,
    })
}

async fn every_write_is_audited(b: Backend) {
    let Some(s) = open(b, 1000).await else { return };
    let a = run(&s, OpKind::Create, json!({"name": "ann", "secret": "pw1"}))
        .await
        .unwrap();
    let id = a["id"].clone();
    run(&s, OpKind::Read, json!({"id": id})).await.unwrap();
    run(&s, OpKind::List, json!({})).await.unwrap();
    run(&s, OpKind::Count, json!({})).await.unwrap();
    run(
        &s,
        OpKind::Update,
        json!({"id": id, "fields": {"balance": 5, "secret": "pw2"}}),
    )
    .await
    .unwrap();
    run(
        &s,
        OpKind::Upsert,
        json!({"where": {"name": "ann"}, "update": {"balance": 6}}),
    )
    .await
    .unwrap();
    let bob = run(&s, OpKind::Upsert, json!({"where": {"name": "bob"}}))
        .await
        .unwrap()["record"]["id"]
        .clone();
    let made = run(
        &s,
        OpKind::BulkCreate,
        json!({"data": [{"name": "c1"}, {"name": "c2"}]}),
    )
    .await
    .unwrap();
    run(
        &s,
        OpKind::BulkUpdate,
        json!({"filter": {"name": {"$in": ["c1", "c2"]}}, "fields": {"balance": 1}}),
    )
    .await
    .unwrap();
    run(&s, OpKind::BulkDelete, json!({"filter": {"name": "c2"}}))
        .await
        .unwrap();
    run(&s, OpKind::Delete, json!({"id": bob})).await.unwrap();
    run(
        &s,
        OpKind::BulkUpsert,
        json!({"data": [{"name": "c1", "balance": 9}, {"name": "d"}], "conflict_on": ["name"]}),
    )
    .await
    .unwrap();

    let (c1, c2) = (made["ids"][0].clone(), made["ids"][1].clone());
    let d = run(&s, OpKind::List, json!({"filter": {"name": "d"}}))
        .await
        .unwrap()["records"][0]["id"]
        .clone();
    let want = vec![
        row(
            "create",
            id.clone(),
            json!({"name": [null, "ann"], "secret": [null, "***"], "balance": [null, 0]}),
        ),
        row(
            "update",
            id.clone(),
            json!({"secret": ["***", "***"], "balance": [0, 5]}),
        ),
        row("upsert", id.clone(), json!({"balance": [5, 6]})),
        row(
            "upsert",
            bob.clone(),
            json!({"name": [null, "bob"], "secret": [null, null], "balance": [null, 0]}),
        ),
        row(
            "bulk_create",
            c1.clone(),
            json!({"name": [null, "c1"], "secret": [null, null], "balance": [null, 0]}),
        ),
        row(
            "bulk_create",
            c2.clone(),
            json!({"name": [null, "c2"], "secret": [null, null], "balance": [null, 0]}),
        ),
        row("bulk_update", c1.clone(), json!({"balance": [0, 1]})),
        row("bulk_update", c2.clone(), json!({"balance": [0, 1]})),
        row(
            "bulk_delete",
            c2.clone(),
            json!({"name": ["c2", null], "secret": [null, null], "balance": [1, null]}),
        ),
        row(
            "delete",
            bob.clone(),
            json!({"name": ["bob", null], "secret": [null, null], "balance": [0, null]}),
        ),
        // A bulk upsert: a row per record, an update's changed fields only.
        row("bulk_upsert", c1.clone(), json!({"balance": [1, 9]})),
        row(
            "bulk_upsert",
            d.clone(),
            json!({"name": [null, "d"], "secret": [null, null], "balance": [null, 0]}),
        ),
    ];
    let got = trail(&s).await;
    // Bulk updates and deletes read their records in no fixed order.
    let sorted = |mut v: Vec<Value>| {
        v.sort_by_key(|r| (r["op"].to_string(), r["record_id"].to_string()));
        v
    };
    assert_eq!(sorted(got), sorted(want));
    s.close().await;
}

async fn failed_and_rolled_back_writes_leave_nothing(b: Backend) {
    let Some(s) = open(b, 1000).await else { return };
    run(&s, OpKind::Create, json!({"name": "ann"}))
        .await
        .unwrap();
    assert_eq!(trail(&s).await.len(), 1);
    // A unique conflict, a bad record in a bulk, a dry run, an update of nothing.
    assert!(
        run(&s, OpKind::Create, json!({"name": "ann"}))
            .await
            .is_err()
    );
    assert!(
        run(
            &s,
            OpKind::BulkCreate,
            json!({"data": [{"name": "x"}, {"name": 5}]})
        )
        .await
        .is_err()
    );
    run(
        &s,
        OpKind::BulkCreate,
        json!({"data": [{"name": "y"}], "dry_run": true}),
    )
    .await
    .unwrap();
    assert!(
        run(
            &s,
            OpKind::Update,
            json!({"id": 987654, "fields": {"balance": 1}})
        )
        .await
        .is_err()
    );
    let n = run(
        &s,
        OpKind::BulkUpdate,
        json!({"filter": {"name": "nobody"}, "fields": {"balance": 1}}),
    )
    .await
    .unwrap();
    assert_eq!(n["updated"], 0);
    assert_eq!(trail(&s).await.len(), 1, "{:#?}", trail(&s).await);

    // A transaction: rolled back, nothing; committed, its writes' rows.
    let m = s.model("Account").unwrap();
    let mut tx = s.begin().await.unwrap();
    tx.run(
        &Context::internal(),
        &m,
        OpKind::Create,
        &json!({"name": "t1"}),
    )
    .await
    .unwrap();
    tx.rollback().await.unwrap();
    assert_eq!(trail(&s).await.len(), 1);
    let mut tx = s.begin().await.unwrap();
    tx.run(
        &Context::internal(),
        &m,
        OpKind::Create,
        &json!({"name": "t2"}),
    )
    .await
    .unwrap();
    tx.commit().await.unwrap();
    assert_eq!(trail(&s).await.len(), 2);

    // Concurrent writes each get their own row.
    let writes = (0..8).map(|i| {
        let s = s.clone();
        async move { run(&s, OpKind::Create, json!({"name": format!("c{i}")})).await }
    });
    for r in futures_util::future::join_all(writes).await {
        r.unwrap();
    }
    let rows = trail(&s).await;
    assert_eq!(rows.len(), 10);
    let mut names: Vec<String> = rows
        .iter()
        .filter_map(|r| r["changes"]["name"][1].as_str().map(str::to_string))
        .collect();
    names.sort();
    names.dedup();
    assert_eq!(names.len(), 10);
    s.close().await;
}

async fn bulk_writes_past_the_limit_end_in_a_summary(b: Backend) {
    let Some(s) = open(b, 2).await else { return };
    let data: Vec<Value> = (0..5).map(|i| json!({"name": format!("n{i}")})).collect();
    run(&s, OpKind::BulkCreate, json!({"data": data}))
        .await
        .unwrap();
    run(&s, OpKind::BulkDelete, json!({"filter": {"balance": 0}}))
        .await
        .unwrap();
    let rows = trail(&s).await;
    let created: Vec<&Value> = rows.iter().filter(|r| r["op"] == "bulk_create").collect();
    assert_eq!(created.len(), 3, "{rows:#?}");
    assert_eq!(
        created
            .iter()
            .filter(|r| r["record_id"].is_string())
            .count(),
        2
    );
    let summary = created.iter().find(|r| r["count"] == 5).expect("summary");
    assert_eq!(summary["filter"], Value::Null);
    let deleted: Vec<&Value> = rows.iter().filter(|r| r["op"] == "bulk_delete").collect();
    assert_eq!(deleted.len(), 3);
    let summary = deleted.iter().find(|r| r["count"] == 5).expect("summary");
    assert_eq!(summary["filter"], json!({"balance": 0}));
    s.close().await;
}

/// Retention deletes the rows written before its time and nothing else; it is the one way rows
/// go (no operation of the audit model is open to a caller), and it is not itself audited.
async fn retention_prunes_only_older_rows(b: Backend) {
    let Some(s) = open(b, 10).await else { return };
    run(&s, OpKind::Create, json!({"name": "old", "balance": 1}))
        .await
        .unwrap();
    let cut = chrono::Utc::now();
    tokio::time::sleep(std::time::Duration::from_millis(20)).await;
    run(&s, OpKind::Create, json!({"name": "new", "balance": 2}))
        .await
        .unwrap();
    let log = AuditLog::open(&s).await.unwrap();
    let far_past = cut - chrono::Duration::days(30);
    assert_eq!(log.prune(far_past).await.unwrap(), 0);
    assert_eq!(trail(&s).await.len(), 2);
    assert_eq!(log.prune(cut).await.unwrap(), 1);
    let left = trail(&s).await;
    assert_eq!(left.len(), 1, "{left:?}");
    assert_eq!(left[0]["changes"]["name"], json!([null, "new"]));
    s.close().await;
}

conformance!(
    every_write_is_audited,
    failed_and_rolled_back_writes_leave_nothing,
    bulk_writes_past_the_limit_end_in_a_summary,
    retention_prunes_only_older_rows
);
