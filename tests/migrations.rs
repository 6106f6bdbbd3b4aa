//! Registry and migrations on every backend: create, restart, discover, additive change,
//! refused destructive change, rollback, and two migrators racing for the lock.
#![allow(missing_docs)]

mod common;

use common::Backend;
use flowgate::migrate::{self, MigrateOptions, Outcome};
use flowgate::registry::Registry;
use flowgate::{Context, FieldDef, ModelDef, OpKind, Operation, Schema, Store, StoreConfig};
use serde_json::{Value, json};

fn author() -> ModelDef {
    ModelDef::new("Author").field(FieldDef::string("name").max_length(80))
}

fn book() -> ModelDef {
    ModelDef::new("Book")
        .field(FieldDef::string("title").max_length(200))
        .field(
            FieldDef::integer("author_id")
                .references("Author")
                .optional(),
        )
}

async fn connect(url: &str) -> Store {
    Store::connect(&StoreConfig::new(url), Schema::default())
        .await
        .expect("connect")
}

async fn run(store: &Store, declared: &[ModelDef], allow_destructive: bool) -> migrate::Report {
    let registry = Registry::open(store).await.expect("registry");
    let opts = MigrateOptions {
        allow_destructive,
        ..MigrateOptions::default()
    };
    let report = migrate::migrate(store, &registry, declared, &opts)
        .await
        .expect("migrate");
    store.set_schema(report.schema.clone());
    report
}

fn outcome<'a>(report: &'a migrate::Report, model: &str) -> &'a Outcome {
    &report
        .outcomes
        .iter()
        .find(|(n, _)| n == model)
        .unwrap_or_else(|| panic!("no outcome for {model}: {:?}", report.outcomes))
        .1
}

async fn op(store: &Store, model: &str, kind: OpKind, params: Value) -> flowgate::Result<Value> {
    store
        .execute(&Context::internal(), &Operation::new(model, kind, params))
        .await
}

async fn create_restart_discover(b: Backend) {
    let Some(url) = common::fresh_shared_url(b).await else {
        return;
    };
    let s = connect(&url).await;
    let r = run(&s, &[author(), book()], false).await;
    assert!(
        matches!(
            outcome(&r, "Author"),
            Outcome::Migrated {
                from: None,
                to: 1,
                ..
            }
        ),
        "{:?}",
        r.outcomes
    );
    assert!(matches!(
        outcome(&r, "Book"),
        Outcome::Migrated {
            from: None,
            to: 1,
            ..
        }
    ));
    let a = op(&s, "Author", OpKind::Create, json!({"name": "Le Guin"}))
        .await
        .unwrap();
    op(
        &s,
        "Book",
        OpKind::Create,
        json!({"title": "The Dispossessed", "author_id": a["id"]}),
    )
    .await
    .unwrap();

    // A restart with the same models changes nothing.
    let r = run(&s, &[author(), book()], false).await;
    assert_eq!(outcome(&r, "Book"), &Outcome::UpToDate { version: 1 });

    // A second application declaring nothing serves both models, with their data.
    let other = connect(&url).await;
    let r = run(&other, &[], false).await;
    assert_eq!(r.schema.len(), 2);
    let books = op(&other, "Book", OpKind::List, json!({})).await.unwrap();
    assert_eq!(books["records"][0]["title"], "The Dispossessed");

    let history = Registry::open(&s)
        .await
        .unwrap()
        .history(None)
        .await
        .unwrap();
    assert_eq!(history.len(), 2, "{history:?}");
}

async fn additive_then_destructive_then_rollback(b: Backend) {
    let Some(url) = common::fresh_shared_url(b).await else {
        return;
    };
    let s = connect(&url).await;
    run(&s, &[author(), book()], false).await;
    op(&s, "Book", OpKind::Create, json!({"title": "Kept"}))
        .await
        .unwrap();

    // Additive: an optional column and a defaulted one, and an index.
    let v2 = book()
        .field(FieldDef::integer("pages").optional())
        .field(FieldDef::boolean("in_print").default(true))
        .index(["title", "pages"]);
    let r = run(&s, &[author(), v2.clone()], false).await;
    assert!(
        matches!(
            outcome(&r, "Book"),
            Outcome::Migrated {
                from: Some(1),
                to: 2,
                ..
            }
        ),
        "{:?}",
        r.outcomes
    );
    let listed = op(&s, "Book", OpKind::List, json!({})).await.unwrap();
    assert_eq!(listed["records"][0]["title"], "Kept");
    assert_eq!(listed["records"][0]["in_print"], true);
    op(
        &s,
        "Book",
        OpKind::Create,
        json!({"title": "New", "pages": 300}),
    )
    .await
    .unwrap();

    // Destructive: dropping a column is refused for Book only; Author still serves.
    let v3 = ModelDef::new("Book")
        .field(FieldDef::string("title").max_length(200))
        .field(
            FieldDef::integer("author_id")
                .references("Author")
                .optional(),
        );
    let r = run(&s, &[author(), v3.clone()], false).await;
    match outcome(&r, "Book") {
        Outcome::Failed(reason) => assert!(reason.contains("drop column pages"), "{reason}"),
        other => panic!("expected a refusal, got {other:?}"),
    }
    assert!(r.schema.get("Author").is_some() && r.schema.get("Book").is_none());
    op(
        &s,
        "Author",
        OpKind::Create,
        json!({"name": "still serving"}),
    )
    .await
    .unwrap();

    // Allowed explicitly, it applies; then it rolls back.
    let r = run(&s, &[author(), v3], true).await;
    assert!(
        matches!(
            outcome(&r, "Book"),
            Outcome::Migrated {
                from: Some(2),
                to: 3,
                ..
            }
        ),
        "{:?}",
        r.outcomes
    );
    let registry = Registry::open(&s).await.unwrap();
    let rolled = migrate::rollback_last(&s, &registry, Some("Book"), &MigrateOptions::default())
        .await
        .unwrap()
        .expect("a migration to roll back");
    assert_eq!(rolled["to_version"], 3);
    let loaded = registry.load().await.unwrap();
    let book_now = loaded.iter().find(|p| p.def.name == "Book").unwrap();
    assert_eq!((book_now.version, book_now.def.clone()), (2, v2.clone()));
    let r = run(&s, &[author(), v2], false).await;
    assert_eq!(outcome(&r, "Book"), &Outcome::UpToDate { version: 2 });
    // The column is back (its data went with the drop), and usable.
    let listed = op(
        &s,
        "Book",
        OpKind::List,
        json!({"filter": {"pages": {"$null": true}}}),
    )
    .await
    .unwrap();
    assert_eq!(listed["records"].as_array().unwrap().len(), 2, "{listed}");
    op(
        &s,
        "Book",
        OpKind::Create,
        json!({"title": "After", "pages": 12}),
    )
    .await
    .unwrap();
    let statuses: Vec<Value> = registry
        .history(Some("Book"))
        .await
        .unwrap()
        .iter()
        .map(|m| m["status"].clone())
        .collect();
    assert_eq!(
        statuses,
        vec![json!("applied"), json!("applied"), json!("rolled_back")]
    );
}

async fn two_migrators_race_for_the_lock(b: Backend) {
    let Some(url) = common::fresh_shared_url(b).await else {
        return;
    };
    let (s1, s2) = (connect(&url).await, connect(&url).await);
    let models = [author(), book()];
    let (r1, r2) = tokio::join!(run(&s1, &models, false), run(&s2, &models, false));
    let migrated = |r: &migrate::Report| {
        r.outcomes
            .iter()
            .filter(|(_, o)| matches!(o, Outcome::Migrated { .. }))
            .count()
    };
    assert_eq!(
        migrated(&r1) + migrated(&r2),
        2,
        "{:?} / {:?}",
        r1.outcomes,
        r2.outcomes
    );
    assert_eq!(r1.schema.len(), 2);
    assert_eq!(r2.schema.len(), 2);
    let history = Registry::open(&s1)
        .await
        .unwrap()
        .history(None)
        .await
        .unwrap();
    assert_eq!(
        history.len(),
        2,
        "each migration recorded once: {history:?}"
    );
}

/// `mcp_tools` is part of the persisted definition: a restart with the same models changes
/// nothing (no spurious migration), another application reads it back, and a change of it alone
/// is a new version with no schema change.
async fn mcp_tools_persist_without_a_migration(b: Backend) {
    let Some(url) = common::fresh_shared_url(b).await else {
        return;
    };
    let limited = || book().mcp_tools([OpKind::List, OpKind::Read]);
    let s = connect(&url).await;
    run(&s, &[author(), limited()], false).await;
    let r = run(&s, &[author(), limited()], false).await;
    assert_eq!(outcome(&r, "Book"), &Outcome::UpToDate { version: 1 });
    assert_eq!(outcome(&r, "Author"), &Outcome::UpToDate { version: 1 });

    let other = connect(&url).await;
    let r = run(&other, &[], false).await;
    let persisted = r.schema.get("Book").expect("Book");
    assert_eq!(persisted.def, limited());
    assert_eq!(
        persisted.def.mcp_tools,
        Some(vec![OpKind::Read, OpKind::List])
    );

    let r = run(&s, &[author(), book()], false).await;
    match outcome(&r, "Book") {
        Outcome::Migrated {
            from: Some(1),
            to: 2,
            changes,
        } => assert!(changes.is_empty(), "{changes:?}"),
        other => panic!("a new version without changes: {other:?}"),
    }
}

/// Hundreds of models at once (more than one batch, and on PostgreSQL batches side by side in
/// waves; 42 on MySQL): every third refers to the one before, every fifth to a common `Hub`. One model cannot
/// be created (a view holds its table's name, so its index fails; MySQL creates its indexes
/// inline and skips the table silently): it fails alone, the model referring to it fails for
/// that, and every other model is created and serves.
async fn hundreds_of_models_at_once_and_one_fails_alone(b: Backend) {
    let Some(url) = common::fresh_shared_url(b).await else {
        return;
    };
    // MySQL's migration lock is one for the whole server: hundreds of models there (its DDL
    // commits model by model) would hold it long enough to time out the other tests' runs.
    let n = if b == Backend::MySql { 42 } else { 450 };
    let name = |i: usize| format!("Part{i:03}");
    let mut declared = vec![ModelDef::new("Hub").field(FieldDef::string("name").max_length(40))];
    for i in 0..n {
        let mut m = ModelDef::new(name(i))
            .table(format!("part_{i:03}"))
            .field(FieldDef::string("code").max_length(20).indexed());
        if i % 3 == 2 {
            m = m.field(
                FieldDef::integer("prev_id")
                    .references(name(i - 1))
                    .optional(),
            );
        }
        if i % 5 == 0 {
            m = m.field(FieldDef::integer("hub_id").references("Hub").optional());
        }
        declared.push(m);
    }
    let s = connect(&url).await;
    let blocked = b != Backend::MySql;
    if blocked {
        s.execute_raw(&flowgate::sql::Stmt::raw(
            "CREATE VIEW part_100 AS SELECT 1 AS id",
        ))
        .await
        .expect("a view in the way");
    }
    let r = run(&s, &declared, false).await;
    assert_eq!(r.outcomes.len(), n + 1);
    for (model, o) in &r.outcomes {
        match (model.as_str(), o) {
            ("Part100", Outcome::Failed(_)) if blocked => {}
            ("Part101", Outcome::Failed(reason)) if blocked => {
                assert!(reason.contains("Part100"), "{reason}")
            }
            (
                _,
                Outcome::Migrated {
                    from: None, to: 1, ..
                },
            ) => {}
            other => panic!("unexpected outcome {other:?}"),
        }
    }
    let hub = op(&s, "Hub", OpKind::Create, json!({"name": "h"}))
        .await
        .expect("a hub");
    let last = name(n - 1);
    let prev = op(&s, &name(n - 2), OpKind::Create, json!({"code": "p"}))
        .await
        .expect("a part");
    op(
        &s,
        &last,
        OpKind::Create,
        json!({"code": "x", "prev_id": prev["id"]}),
    )
    .await
    .expect("a part referring to the one before");
    op(
        &s,
        "Part000",
        OpKind::Create,
        json!({"code": "y", "hub_id": hub["id"]}),
    )
    .await
    .expect("a part referring to the hub");

    // A restart finds everything up to date (the failed model is tried again and fails again).
    let r = run(&connect(&url).await, &declared, false).await;
    for (model, o) in &r.outcomes {
        match (model.as_str(), o) {
            ("Part100" | "Part101", Outcome::Failed(_)) if blocked => {}
            (_, Outcome::UpToDate { version: 1 }) => {}
            other => panic!("unexpected outcome on restart {other:?}"),
        }
    }
}

/// On PostgreSQL, whether `table` has row-level security enabled, forced, and Flowgate's tenant
/// policy (`sql::rls`); `None` elsewhere.
async fn tenant_policy(b: Backend, url: &str, table: &str) -> Option<(bool, bool, i64)> {
    if b != Backend::Postgres {
        return None;
    }
    let pool = sqlx::PgPool::connect(url).await.expect("PostgreSQL");
    let row: (bool, bool, i64) = sqlx::query_as(
        "SELECT c.relrowsecurity, c.relforcerowsecurity, \
         (SELECT COUNT(*) FROM pg_policies p WHERE p.schemaname = current_schema() \
          AND p.tablename = c.relname AND p.policyname = 'flowgate_tenant') \
         FROM pg_class c WHERE c.relname = $1 AND c.relnamespace = current_schema()::regnamespace",
    )
    .bind(table)
    .fetch_one(&pool)
    .await
    .expect("pg_class");
    pool.close().await;
    Some(row)
}

/// Turning tenancy on is a migration: `tenant_id` is added to an empty table; a table with rows
/// is refused with the reason (its rows would belong to no tenant) unless destructive changes
/// are allowed, and then no tenant sees those rows; turning it off again is destructive. On
/// PostgreSQL the tenant policy comes and goes with the column.
async fn tenancy_turned_on_and_off(b: Backend) {
    let Some(url) = common::fresh_url(b).await else {
        return;
    };
    let note = || ModelDef::new("Note").field(FieldDef::string("body").max_length(80));
    let s = connect(&url).await;
    run(&s, &[author(), note()], false).await;
    op(
        &s,
        "Author",
        OpKind::Create,
        json!({"name": "before tenancy"}),
    )
    .await
    .unwrap();

    let mut scoped = vec![author(), note()];
    flowgate::model::resolve_tenancy(&mut scoped, true);
    let report = run(&s, &scoped, false).await;
    match outcome(&report, "Author") {
        Outcome::Failed(reason) => assert!(
            reason.contains("the table has rows, which would need a tenant")
                && reason.contains("--allow-destructive"),
            "{reason}"
        ),
        other => panic!("Author: {other:?}"),
    }
    assert!(
        matches!(outcome(&report, "Note"), Outcome::Migrated { changes, .. } if changes.iter().any(|c| c.contains("tenant_id"))),
        "{:?}",
        report.outcomes
    );
    let acme = s.for_tenant("acme").unwrap();
    let m = s.model("Note").unwrap();
    assert!(m.is_tenant_scoped());
    if let Some(policy) = tenant_policy(b, &url, "notes").await {
        assert_eq!(policy, (true, true, 1));
        assert_eq!(
            tenant_policy(b, &url, "authors").await,
            Some((false, false, 0))
        );
    }
    acme.run(
        &Context::internal(),
        &m,
        OpKind::Create,
        &json!({"body": "x"}),
    )
    .await
    .unwrap();
    let e = op(&s, "Note", OpKind::Count, json!({})).await.unwrap_err();
    assert_eq!(e.code(), "tenant_required");

    // Allowed on purpose: the old row belongs to no tenant.
    let report = run(&s, &scoped, true).await;
    assert!(
        matches!(outcome(&report, "Author"), Outcome::Migrated { .. }),
        "{:?}",
        report.outcomes
    );
    let m = s.model("Author").unwrap();
    let n = acme
        .run(&Context::internal(), &m, OpKind::Count, &json!({}))
        .await
        .unwrap();
    assert_eq!(n["count"], 0);

    // Off again: destructive.
    let report = run(&s, &[author(), note()], false).await;
    match outcome(&report, "Note") {
        Outcome::Failed(reason) => assert!(reason.contains("turn tenancy off"), "{reason}"),
        other => panic!("Note: {other:?}"),
    }
    let report = run(&s, &[author(), note()], true).await;
    assert!(
        matches!(outcome(&report, "Note"), Outcome::Migrated { .. }),
        "{:?}",
        report.outcomes
    );
    let n = op(&s, "Note", OpKind::Count, json!({})).await.unwrap();
    assert_eq!(n["count"], 1);
    if let Some(policy) = tenant_policy(b, &url, "notes").await {
        assert_eq!(policy, (false, false, 0));
    }
    s.close().await;
}

conformance!(
    tenancy_turned_on_and_off,
    hundreds_of_models_at_once_and_one_fails_alone,
    mcp_tools_persist_without_a_migration,
    create_restart_discover,
    additive_then_destructive_then_rollback,
    two_migrators_race_for_the_lock
);
