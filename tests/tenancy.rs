//! Multi-tenancy in the data layer (DESIGN 13.4) on SQLite, PostgreSQL and MySQL: every one of
//! the eleven operations, lists with cursors, counts, bulk writes by filter, upserts, reference
//! checks and transactions act only on the caller's tenant's rows; `tenant_id` can be neither
//! given nor asked for; without a tenant a scoped model answers `tenant_required`; shared models
//! serve every tenant; and a random interleaving of operations from two tenants never shows,
//! counts or changes the other tenant's rows (a property test against a model of each tenant).
//!
//! On PostgreSQL the stores connect as a role that owns its schema and is not a superuser, so
//! that the row-level policies (`sql::rls`) hold for every statement: an operation that did not
//! set its tenant would see no row and fail these tests. A deliberately tenant-blind query is
//! held to one tenant by the policy alone.
#![allow(missing_docs)]

mod common;

use common::Backend;
use flowgate::{
    Context, FieldDef, FieldType, ModelDef, OnDelete, OpKind, Store, StoreConfig, TenantStore,
};
use proptest::prelude::*;
use serde_json::{Value, json};
use std::collections::BTreeMap;

fn models() -> Vec<ModelDef> {
    vec![
        ModelDef::new("Country")
            .tenant_scoped(false)
            .field(FieldDef::new("code", FieldType::String).unique()),
        ModelDef::new("Project")
            .field(FieldDef::new("name", FieldType::String).unique())
            .field(FieldDef::new("budget", FieldType::Integer).default(0))
            .field(
                FieldDef::new("country_id", FieldType::Integer)
                    .optional()
                    .references("Country"),
            ),
        ModelDef::new("Task")
            .soft_delete()
            .field(FieldDef::new("title", FieldType::String))
            .field(FieldDef::new("rank", FieldType::Integer).default(0))
            .field(
                FieldDef::new("project_id", FieldType::Integer)
                    .optional()
                    .references("Project")
                    .on_delete(OnDelete::SetNull),
            )
            .unique_together(["project_id", "title"]),
    ]
}

/// The role the PostgreSQL stores connect as: it owns the test's schema, and is neither a
/// superuser nor `BYPASSRLS` (those pass every row-level policy).
const APP_ROLE: &str = "flowgate_tenant_app";

/// A fresh database URL; on PostgreSQL for [`APP_ROLE`], made the owner of the fresh schema.
async fn fresh_url(b: Backend) -> Option<String> {
    let url = common::fresh_url(b).await?;
    if b != Backend::Postgres {
        return Some(url);
    }
    let base = std::env::var(common::POSTGRES_ENV).unwrap();
    let schema = url.rsplit("search_path%3D").next().unwrap().to_string();
    let admin = sqlx::PgPool::connect(&base).await.expect("PostgreSQL");
    // Tests run in parallel: the role may be made by another one at the same moment.
    sqlx::raw_sql(sqlx::AssertSqlSafe(format!(
        "DO $$ BEGIN CREATE ROLE {APP_ROLE} LOGIN NOSUPERUSER NOBYPASSRLS; \
         EXCEPTION WHEN duplicate_object OR unique_violation THEN NULL; END $$"
    )))
    .execute(&admin)
    .await
    .expect("create the application role");
    sqlx::raw_sql(sqlx::AssertSqlSafe(format!(
        "ALTER SCHEMA \"{schema}\" OWNER TO {APP_ROLE}"
    )))
    .execute(&admin)
    .await
    .expect("give the schema to the application role");
    admin.close().await;
    assert!(url.contains("://postgres@"), "{url}");
    Some(url.replacen("://postgres@", &format!("://{APP_ROLE}@"), 1))
}

async fn open(b: Backend) -> Option<Store> {
    Some(open_url(fresh_url(b).await?).await)
}

async fn open_url(url: String) -> Store {
    let mut cfg = StoreConfig::new(url);
    cfg.pool_size = 4;
    cfg.multi_tenant = true;
    // Audited as a server is: the audit's reads and writes (on PostgreSQL an update's
    // before-values from a CTE of the write) run under the tenant policy too.
    cfg.audit_log = true;
    Store::open_with(&cfg, models()).await.expect("open")
}

async fn run(s: &TenantStore, model: &str, op: OpKind, params: Value) -> flowgate::Result<Value> {
    let m = s.store().model(model).expect("model");
    s.run(&Context::internal(), &m, op, &params).await
}

async fn ok(s: &TenantStore, model: &str, op: OpKind, params: Value) -> Value {
    run(s, model, op, params.clone())
        .await
        .unwrap_or_else(|e| panic!("{model} {op:?} {params}: {}", e.to_json()))
}

async fn err(s: &TenantStore, model: &str, op: OpKind, params: Value) -> Value {
    match run(s, model, op, params.clone()).await {
        Ok(v) => panic!("{model} {op:?} {params} should fail, got {v}"),
        Err(e) => e.to_json(),
    }
}

fn titles(list: &Value) -> Vec<String> {
    let mut t: Vec<String> = list["records"]
        .as_array()
        .expect("records")
        .iter()
        .map(|r| r["title"].as_str().unwrap_or_default().to_string())
        .collect();
    t.sort();
    t
}

async fn every_operation_is_scoped(b: Backend) {
    let Some(store) = open(b).await else { return };
    let a = store.for_tenant("acme").unwrap();
    let z = store.for_tenant("zeta").unwrap();

    // A shared model serves every tenant, and needs none.
    let country = store.model("Country").unwrap();
    let fr = store
        .run(
            &Context::internal(),
            &country,
            OpKind::Create,
            &json!({"code": "FR"}),
        )
        .await
        .unwrap();
    assert_eq!(
        ok(&z, "Country", OpKind::Count, json!({})).await["count"],
        1
    );

    // The same unique name in two tenants; records never show tenant_id.
    let pa = ok(
        &a,
        "Project",
        OpKind::Create,
        json!({"name": "apollo", "country_id": fr["id"]}),
    )
    .await;
    let pz = ok(&z, "Project", OpKind::Create, json!({"name": "apollo"})).await;
    assert!(pa.get("tenant_id").is_none(), "{pa}");
    let dup = err(&a, "Project", OpKind::Create, json!({"name": "apollo"})).await;
    assert_eq!(
        (dup["code"].as_str(), dup["field"].as_str()),
        (Some("conflict"), Some("name"))
    );

    // Reads, updates and deletes by another tenant's id see nothing and change nothing.
    let e = err(&a, "Project", OpKind::Read, json!({"id": pz["id"]})).await;
    assert_eq!(e["code"], "not_found");
    let e = err(
        &a,
        "Project",
        OpKind::Update,
        json!({"id": pz["id"], "fields": {"budget": 9}}),
    )
    .await;
    assert_eq!(e["code"], "not_found");
    let d = ok(&a, "Project", OpKind::Delete, json!({"id": pz["id"]})).await;
    assert_eq!(d["deleted"], false);
    assert_eq!(
        ok(&z, "Project", OpKind::Read, json!({"id": pz["id"]})).await["budget"],
        0
    );

    // A reference to another tenant's row is refused as a reference to no row is.
    let e = err(
        &a,
        "Task",
        OpKind::Create,
        json!({"title": "t", "project_id": pz["id"]}),
    )
    .await;
    assert_eq!(e["code"], "conflict", "{e}");
    let e2 = err(
        &a,
        "Task",
        OpKind::Create,
        json!({"title": "t", "project_id": 987654}),
    )
    .await;
    assert_eq!(e, e2);
    let e = err(&a, "Task", OpKind::BulkCreate, json!({"data": [{"title": "x", "project_id": pa["id"]}, {"title": "y", "project_id": pz["id"]}]})).await;
    assert_eq!(e["code"], "conflict", "{e}");

    // Bulk writes, lists (with cursors) and counts of each tenant.
    let made = ok(&a, "Task", OpKind::BulkCreate, json!({"data": (0..5).map(|i| json!({"title": format!("a{i}"), "rank": i, "project_id": pa["id"]})).collect::<Vec<_>>()})).await;
    assert_eq!(made["inserted"], 5);
    ok(&z, "Task", OpKind::BulkCreate, json!({"data": (0..3).map(|i| json!({"title": format!("z{i}"), "rank": i, "project_id": pz["id"]})).collect::<Vec<_>>()})).await;
    assert_eq!(ok(&a, "Task", OpKind::Count, json!({})).await["count"], 5);
    assert_eq!(ok(&z, "Task", OpKind::Count, json!({})).await["count"], 3);
    let mut seen = Vec::new();
    let mut cursor: Option<Value> = None;
    loop {
        let mut params = json!({"limit": 2, "order_by": ["rank"]});
        if let Some(c) = &cursor {
            params["cursor"] = c.clone();
        }
        let page = ok(&z, "Task", OpKind::List, params).await;
        seen.extend(titles(&page));
        match page["next_cursor"].clone() {
            Value::Null => break,
            c => cursor = Some(c),
        }
    }
    seen.sort();
    assert_eq!(seen, ["z0", "z1", "z2"]);
    let n = ok(
        &a,
        "Task",
        OpKind::BulkUpdate,
        json!({"filter": {}, "confirm_all": true, "fields": {"rank": 7}}),
    )
    .await;
    assert_eq!(n["updated"], 5);
    assert_eq!(
        ok(&z, "Task", OpKind::Count, json!({"filter": {"rank": 7}})).await["count"],
        0
    );
    let n = ok(
        &z,
        "Task",
        OpKind::BulkDelete,
        json!({"filter": {"title": "a1"}}),
    )
    .await;
    assert_eq!(n["deleted"], 0);
    assert_eq!(ok(&a, "Task", OpKind::Count, json!({})).await["count"], 5);

    // Upserts find only their tenant's record; conflict targets are per tenant.
    let u = ok(
        &z,
        "Project",
        OpKind::Upsert,
        json!({"where": {"name": "apollo"}, "update": {"budget": 3}}),
    )
    .await;
    assert_eq!(
        (u["action"].as_str(), u["record"]["id"].clone()),
        (Some("updated"), pz["id"].clone())
    );
    assert_eq!(
        ok(&a, "Project", OpKind::Read, json!({"id": pa["id"]})).await["budget"],
        0
    );
    let u = ok(&a, "Project", OpKind::BulkUpsert, json!({"data": [{"name": "apollo", "budget": 4}, {"name": "gemini"}], "conflict_on": ["name"]})).await;
    assert_eq!(
        (u["inserted"].as_u64(), u["updated"].as_u64()),
        (Some(1), Some(1))
    );
    assert_eq!(
        ok(&z, "Project", OpKind::Read, json!({"id": pz["id"]})).await["budget"],
        3
    );
    // Keyed on the id (unique across tenants), another tenant's record is a conflict, untouched.
    let e = err(
        &a,
        "Project",
        OpKind::BulkUpsert,
        json!({"data": [{"id": pz["id"], "name": "stolen"}]}),
    )
    .await;
    assert_eq!(e["code"], "conflict", "{e}");
    let e = err(&a, "Project", OpKind::Upsert, json!({"where": {"id": pz["id"]}, "create": {"name": "stolen"}, "update": {"name": "stolen"}})).await;
    assert_eq!(e["code"], "conflict", "{e}");
    assert_eq!(
        ok(&z, "Project", OpKind::Read, json!({"id": pz["id"]})).await["name"],
        "apollo"
    );

    // tenant_id is neither writable, filterable, sortable nor selectable; errors name it.
    for (op, params, field) in [
        (
            OpKind::Create,
            json!({"name": "x", "tenant_id": "zeta"}),
            "tenant_id",
        ),
        (
            OpKind::Update,
            json!({"id": pa["id"], "fields": {"tenant_id": "zeta"}}),
            "fields.tenant_id",
        ),
        (
            OpKind::List,
            json!({"filter": {"tenant_id": "zeta"}}),
            "filter.tenant_id",
        ),
        (OpKind::List, json!({"order_by": ["tenant_id"]}), "order_by"),
        (
            OpKind::List,
            json!({"fields": ["tenant_id"]}),
            "fields.tenant_id",
        ),
        (
            OpKind::Count,
            json!({"filter": {"$or": [{"tenant_id": "zeta"}]}}),
            "filter.$or[0].tenant_id",
        ),
    ] {
        let e = err(&a, "Project", op, params.clone()).await;
        assert_eq!(e["code"], "validation", "{params}: {e}");
        assert!(
            e["field"]
                .as_str()
                .unwrap_or_default()
                .starts_with(field.split('.').next().unwrap()),
            "{params}: {e}"
        );
        assert!(e["message"].as_str().unwrap().contains("tenant_id"), "{e}");
    }

    // Without a tenant, a scoped model is refused, whatever the operation.
    let project = store.model("Project").unwrap();
    for op in OpKind::ALL {
        let e = store
            .run(&Context::internal(), &project, op, &json!({}))
            .await
            .unwrap_err();
        assert_eq!(e.code(), "tenant_required", "{op:?}");
    }

    // A transaction acts for its tenant; rolled back, it leaves nothing.
    let mut tx = z.begin().await.unwrap();
    let task = store.model("Task").unwrap();
    tx.run(
        &Context::internal(),
        &task,
        OpKind::Create,
        &json!({"title": "in tx"}),
    )
    .await
    .unwrap();
    let n = tx
        .run(&Context::internal(), &task, OpKind::Count, &json!({}))
        .await
        .unwrap();
    assert_eq!(n["count"], 4);
    tx.rollback().await.unwrap();
    assert_eq!(ok(&z, "Task", OpKind::Count, json!({})).await["count"], 3);
    assert_eq!(ok(&a, "Task", OpKind::Count, json!({})).await["count"], 5);
    store.close().await;
}

/// One step of a tenant's random sequence.
#[derive(Debug, Clone)]
enum Step {
    Create {
        title: u8,
        rank: i64,
    },
    Update {
        pick: usize,
        other: bool,
        rank: i64,
    },
    Delete {
        pick: usize,
        other: bool,
    },
    Read {
        pick: usize,
        other: bool,
    },
    BulkCreate {
        titles: Vec<u8>,
    },
    BulkUpdateByRank {
        below: i64,
        rank: i64,
    },
    BulkDeleteByRank {
        above: i64,
    },
    Upsert {
        title: u8,
        rank: i64,
    },
    BulkUpsert {
        titles: Vec<u8>,
        rank: i64,
    },
    ListAll {
        page: u64,
    },
    /// A transactional workflow creating two items: both or (on a clash) neither.
    Workflow {
        a: u8,
        b: u8,
    },
}

fn step() -> impl Strategy<Value = Step> {
    let title = 0u8..12;
    let rank = 0i64..10;
    prop_oneof![
        (title.clone(), rank.clone()).prop_map(|(title, rank)| Step::Create { title, rank }),
        (any::<usize>(), any::<bool>(), rank.clone())
            .prop_map(|(pick, other, rank)| Step::Update { pick, other, rank }),
        (any::<usize>(), any::<bool>()).prop_map(|(pick, other)| Step::Delete { pick, other }),
        (any::<usize>(), any::<bool>()).prop_map(|(pick, other)| Step::Read { pick, other }),
        proptest::collection::vec(title.clone(), 1..4)
            .prop_map(|titles| Step::BulkCreate { titles }),
        (rank.clone(), rank.clone())
            .prop_map(|(below, rank)| Step::BulkUpdateByRank { below, rank }),
        rank.clone()
            .prop_map(|above| Step::BulkDeleteByRank { above }),
        (title.clone(), rank.clone()).prop_map(|(title, rank)| Step::Upsert { title, rank }),
        (proptest::collection::vec(title, 1..4), rank)
            .prop_map(|(titles, rank)| Step::BulkUpsert { titles, rank }),
        (1u64..4).prop_map(|page| Step::ListAll { page }),
        (0u8..6, 0u8..6).prop_map(|(a, b)| Step::Workflow { a, b }),
    ]
}

/// What a tenant's `Item` rows must be: title → rank, with the ids.
#[derive(Default, Debug)]
struct Oracle {
    rows: BTreeMap<String, (Value, i64)>,
}

fn item_model() -> Vec<ModelDef> {
    vec![
        ModelDef::new("Item")
            .field(FieldDef::new("title", FieldType::String).unique())
            .field(FieldDef::new("rank", FieldType::Integer)),
    ]
}

async fn check_tenant(s: &TenantStore, o: &Oracle, page: u64) {
    let mut got = BTreeMap::new();
    let mut cursor: Option<Value> = None;
    loop {
        let mut params = json!({"limit": page, "order_by": ["-rank", "title"]});
        if let Some(c) = &cursor {
            params["cursor"] = c.clone();
        }
        let p = ok(s, "Item", OpKind::List, params).await;
        for r in p["records"].as_array().unwrap() {
            got.insert(
                r["title"].as_str().unwrap().to_string(),
                (r["id"].clone(), r["rank"].as_i64().unwrap()),
            );
        }
        match p["next_cursor"].clone() {
            Value::Null => break,
            c => cursor = Some(c),
        }
    }
    assert_eq!(got, o.rows, "tenant {}", s.tenant());
    let n = ok(s, "Item", OpKind::Count, json!({})).await;
    assert_eq!(n["count"].as_u64(), Some(o.rows.len() as u64));
}

async fn interleave(store: &Store, steps: Vec<(bool, Step)>) {
    let tenants = [
        store.for_tenant("t-a").unwrap(),
        store.for_tenant("t-b").unwrap(),
    ];
    let mut oracles = [Oracle::default(), Oracle::default()];
    for (second, step) in steps {
        let (me, them) = if second { (1, 0) } else { (0, 1) };
        let s = &tenants[me];
        let pick_id = |o: &Oracle, pick: usize| -> Option<Value> {
            (!o.rows.is_empty())
                .then(|| o.rows.values().nth(pick % o.rows.len()).unwrap().0.clone())
        };
        match step {
            Step::Create { title, rank } => {
                let t = format!("i{title}");
                let r = run(s, "Item", OpKind::Create, json!({"title": t, "rank": rank})).await;
                match (r, oracles[me].rows.contains_key(&t)) {
                    (Ok(rec), false) => {
                        oracles[me].rows.insert(t, (rec["id"].clone(), rank));
                    }
                    (Err(e), true) => assert_eq!(e.code(), "conflict"),
                    (r, exists) => panic!("create {t}: {r:?}, exists {exists}"),
                }
            }
            Step::Update { pick, other, rank } => {
                let o = &oracles[if other { them } else { me }];
                let Some(id) = pick_id(o, pick) else { continue };
                let r = run(
                    s,
                    "Item",
                    OpKind::Update,
                    json!({"id": id, "fields": {"rank": rank}}),
                )
                .await;
                if other {
                    assert_eq!(r.unwrap_err().code(), "not_found");
                } else {
                    r.unwrap();
                    let row = oracles[me]
                        .rows
                        .values_mut()
                        .find(|(i, _)| *i == id)
                        .unwrap();
                    row.1 = rank;
                }
            }
            Step::Delete { pick, other } => {
                let o = &oracles[if other { them } else { me }];
                let Some(id) = pick_id(o, pick) else { continue };
                let r = ok(s, "Item", OpKind::Delete, json!({"id": id})).await;
                assert_eq!(r["deleted"], !other);
                if !other {
                    oracles[me].rows.retain(|_, (i, _)| *i != id);
                }
            }
            Step::Read { pick, other } => {
                let o = &oracles[if other { them } else { me }];
                let Some(id) = pick_id(o, pick) else { continue };
                let r = run(s, "Item", OpKind::Read, json!({"id": id})).await;
                assert_eq!(r.is_ok(), !other, "{r:?}");
            }
            Step::BulkCreate { titles } => {
                let mut uniq: Vec<String> = titles.iter().map(|t| format!("i{t}")).collect();
                uniq.sort();
                uniq.dedup();
                let data: Vec<Value> = uniq
                    .iter()
                    .map(|t| json!({"title": t, "rank": 1}))
                    .collect();
                let clash = uniq.iter().any(|t| oracles[me].rows.contains_key(t));
                let r = run(s, "Item", OpKind::BulkCreate, json!({"data": data})).await;
                if clash {
                    assert_eq!(r.unwrap_err().code(), "conflict");
                } else {
                    let r = r.unwrap();
                    for (t, id) in uniq.iter().zip(r["ids"].as_array().unwrap()) {
                        oracles[me].rows.insert(t.clone(), (id.clone(), 1));
                    }
                }
            }
            Step::BulkUpdateByRank { below, rank } => {
                let r = ok(
                    s,
                    "Item",
                    OpKind::BulkUpdate,
                    json!({"filter": {"rank": {"$lt": below}}, "fields": {"rank": rank}}),
                )
                .await;
                let mut n = 0;
                for row in oracles[me].rows.values_mut().filter(|r| r.1 < below) {
                    row.1 = rank;
                    n += 1;
                }
                assert_eq!(r["updated"], n);
            }
            Step::BulkDeleteByRank { above } => {
                let r = ok(
                    s,
                    "Item",
                    OpKind::BulkDelete,
                    json!({"filter": {"rank": {"$gt": above}}}),
                )
                .await;
                let before = oracles[me].rows.len();
                oracles[me].rows.retain(|_, r| r.1 <= above);
                assert_eq!(r["deleted"], before - oracles[me].rows.len());
            }
            Step::Upsert { title, rank } => {
                let t = format!("i{title}");
                let r = ok(s, "Item", OpKind::Upsert, json!({"where": {"title": t}, "create": {"rank": rank}, "update": {"rank": rank}})).await;
                let created = !oracles[me].rows.contains_key(&t);
                assert_eq!(r["action"], if created { "created" } else { "updated" });
                oracles[me]
                    .rows
                    .insert(t, (r["record"]["id"].clone(), rank));
            }
            Step::BulkUpsert { titles, rank } => {
                let mut uniq: Vec<String> = titles.iter().map(|t| format!("i{t}")).collect();
                uniq.sort();
                uniq.dedup();
                let data: Vec<Value> = uniq
                    .iter()
                    .map(|t| json!({"title": t, "rank": rank}))
                    .collect();
                let r = ok(
                    s,
                    "Item",
                    OpKind::BulkUpsert,
                    json!({"data": data, "conflict_on": ["title"]}),
                )
                .await;
                let existing = uniq
                    .iter()
                    .filter(|t| oracles[me].rows.contains_key(*t))
                    .count();
                assert_eq!(r["updated"], existing);
                assert_eq!(r["inserted"], uniq.len() - existing);
                for t in &uniq {
                    if let Some(row) = oracles[me].rows.get_mut(t) {
                        row.1 = rank;
                    }
                }
                // The new rows' ids are read back by a list below.
                let page = ok(
                    s,
                    "Item",
                    OpKind::List,
                    json!({"filter": {"title": {"$in": uniq}}, "limit": 10}),
                )
                .await;
                for rec in page["records"].as_array().unwrap() {
                    let t = rec["title"].as_str().unwrap().to_string();
                    oracles[me]
                        .rows
                        .entry(t)
                        .or_insert((rec["id"].clone(), rank));
                }
            }
            Step::Workflow { a, b } => {
                let (ta, tb) = (format!("w{a}"), format!("w{b}"));
                let wf = flowgate::WorkflowBuilder::new("two_items")
                    .transactional(true)
                    .add_node("ItemCreateNode", "first", json!({"title": ta, "rank": 2}))
                    .add_node("ItemCreateNode", "second", json!({"title": tb, "rank": 3}))
                    .build()
                    .expect("a valid workflow");
                let ctx = s.context(&Context::internal());
                let run = wf.run(s.store(), &ctx, &json!({})).await;
                let clash = a == b
                    || oracles[me].rows.contains_key(&ta)
                    || oracles[me].rows.contains_key(&tb);
                match run {
                    Ok(out) if !clash => {
                        oracles[me]
                            .rows
                            .insert(ta, (out.results["first"]["id"].clone(), 2));
                        oracles[me]
                            .rows
                            .insert(tb, (out.results["second"]["id"].clone(), 3));
                    }
                    Err(e) if clash => assert_eq!(e.error.code(), "conflict", "{e:?}"),
                    other => panic!("workflow {ta} {tb}: {other:?}, clash {clash}"),
                }
            }
            Step::ListAll { page } => {
                check_tenant(&tenants[0], &oracles[0], page).await;
                check_tenant(&tenants[1], &oracles[1], page).await;
            }
        }
    }
    check_tenant(&tenants[0], &oracles[0], 5).await;
    check_tenant(&tenants[1], &oracles[1], 5).await;
}

fn interleavings(b: Backend, cases: u32) {
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap();
    let Some(store) = rt.block_on(async {
        let url = fresh_url(b).await?;
        let mut cfg = StoreConfig::new(url);
        cfg.pool_size = 2;
        cfg.multi_tenant = true;
        cfg.audit_log = true;
        Some(Store::open_with(&cfg, item_model()).await.expect("open"))
    }) else {
        return;
    };
    let item = store.model("Item").unwrap();
    let config = ProptestConfig {
        cases,
        failure_persistence: None,
        ..ProptestConfig::default()
    };
    proptest!(config, |(steps in proptest::collection::vec((any::<bool>(), step()), 1..40))| {
        rt.block_on(async {
            // Each case starts from empty tables.
            for t in ["t-a", "t-b"] {
                store
                    .run(&Context { tenant: Some(t.into()), ..Context::internal() }, &item, OpKind::BulkDelete, &json!({"confirm_all": true}))
                    .await
                    .unwrap();
            }
            interleave(&store, steps).await;
        });
    });
    rt.block_on(store.close());
}

#[test]
fn interleavings_sqlite() {
    interleavings(Backend::Sqlite, 64);
}

#[test]
fn interleavings_postgres() {
    interleavings(Backend::Postgres, 24);
}

#[test]
fn interleavings_mysql() {
    interleavings(Backend::MySql, 24);
}

conformance!(every_operation_is_scoped);

/// PostgreSQL's second wall: a query that names no tenant, run on Flowgate's own connection in a
/// transaction acting for one tenant, sees, changes and adds only that tenant's rows; a
/// connection of the same role with no tenant set sees and adds none.
#[tokio::test]
async fn postgres_policy_holds_a_tenant_blind_query() {
    let Some(url) = fresh_url(Backend::Postgres).await else {
        return;
    };
    let store = open_url(url.clone()).await;
    let country = store.model("Country").unwrap();
    store
        .run(
            &Context::internal(),
            &country,
            OpKind::Create,
            &json!({"code": "FR"}),
        )
        .await
        .unwrap();
    let a = store.for_tenant("acme").unwrap();
    let z = store.for_tenant("zeta").unwrap();
    for (s, names) in [(&a, &["a1", "a2"][..]), (&z, &["z1", "z2", "z3"][..])] {
        for name in names {
            ok(s, "Project", OpKind::Create, json!({"name": name})).await;
        }
    }
    let blind = |sql: &str| flowgate::sql::Stmt::raw(sql.to_string());

    let mut tx = a.begin().await.unwrap();
    // The first operation sets the tenant for the rest of the transaction.
    let m = store.model("Project").unwrap();
    tx.run(&Context::internal(), &m, OpKind::Count, &json!({}))
        .await
        .unwrap();
    assert_eq!(
        tx.scalar(&blind("SELECT COUNT(*) FROM projects"))
            .await
            .unwrap(),
        2
    );
    assert_eq!(
        tx.execute_raw(&blind("UPDATE projects SET budget = budget + 1"))
            .await
            .unwrap(),
        2
    );
    let sp = tx.savepoint().await.unwrap();
    let err = tx
        .execute_raw(&blind(
            "INSERT INTO projects (name, budget, tenant_id, created_at, updated_at) \
             VALUES ('planted', 0, 'zeta', now(), now())",
        ))
        .await
        .unwrap_err()
        .to_string();
    assert!(err.contains("row-level security"), "{err}");
    tx.rollback_to(&sp).await.unwrap();
    tx.rollback().await.unwrap();

    // A connection of the same role with no tenant set sees no row of a scoped table; shared
    // tables are not policed.
    let mut conn = <sqlx::PgConnection as sqlx::Connection>::connect(&url)
        .await
        .unwrap();
    let (n,): (i64,) = sqlx::query_as("SELECT COUNT(*) FROM projects")
        .fetch_one(&mut conn)
        .await
        .unwrap();
    assert_eq!(n, 0);
    let (n,): (i64,) = sqlx::query_as("SELECT COUNT(*) FROM countries")
        .fetch_one(&mut conn)
        .await
        .unwrap();
    assert_eq!(n, 1);
    let planted = sqlx::query(
        "INSERT INTO projects (name, budget, tenant_id, created_at, updated_at) \
         VALUES ('planted', 0, 'acme', now(), now())",
    )
    .execute(&mut conn)
    .await;
    assert!(planted.is_err(), "a write with no tenant set went through");

    assert_eq!(
        ok(&z, "Project", OpKind::Count, json!({})).await["count"],
        3
    );
    assert_eq!(
        ok(&a, "Project", OpKind::Count, json!({})).await["count"],
        2
    );
    store.close().await;
}
