//! Schema discovery (DESIGN 13.10, issue 14): declared models → tables → `introspect` → the same
//! models, on every database; hand-written schemas (not made by Flowgate) introspected as
//! expected (snapshots of the schema file), and served as they are without a change to them.

mod common;

use common::Backend;
use flowgate::introspect::{self, Options};
use flowgate::{FieldDef, IdType, ModelDef, OnDelete, Schema, Store, StoreConfig};
use serde_json::json;
use sqlx::AssertSqlSafe;

/// The PostgreSQL schema a test URL's `search_path` names (each test has its own).
fn pg_schema(url: &str) -> Option<String> {
    url.split("search_path%3D")
        .nth(1)
        .map(|s| s.split('&').next().unwrap_or(s).to_string())
}

fn options(backend: Backend, url: &str, managed: bool) -> Options {
    Options {
        schema: (backend == Backend::Postgres)
            .then(|| pg_schema(url))
            .flatten(),
        managed,
        ..Options::default()
    }
}

/// Models using every field type and option a table can show.
fn declared() -> Vec<ModelDef> {
    let team = ModelDef::new("Team")
        .field(FieldDef::string("name").max_length(80).unique())
        .field(FieldDef::string("region").max_length(20).default("eu"));
    let person = ModelDef::new("Person")
        .id(IdType::Uuid)
        .soft_delete()
        .field(FieldDef::string("email").max_length(200).unique())
        .field(FieldDef::text("bio").optional())
        .field(FieldDef::integer("age").optional().indexed())
        .field(FieldDef::float("score").default(1.5))
        .field(
            FieldDef::decimal("salary")
                .precision(10)
                .scale(2)
                .optional(),
        )
        .field(FieldDef::decimal("ratio").optional())
        .field(FieldDef::boolean("active").default(true))
        .field(FieldDef::date("born").optional())
        .field(FieldDef::datetime("seen_at").optional())
        .field(FieldDef::uuid("badge").optional())
        .field(FieldDef::json("prefs").optional())
        .field(FieldDef::bytes("photo").optional())
        .field(FieldDef::enumeration("mood", ["calm", "busy", "it's"]).default("calm"))
        .field(
            FieldDef::integer("team_id")
                .references("Team")
                .on_delete(OnDelete::Cascade),
        )
        .field(
            FieldDef::integer("mentor_team_id")
                .references("Team")
                .optional()
                .on_delete(OnDelete::SetNull),
        )
        .index(["age", "mood"])
        .unique_together(["team_id", "born"]);
    let tag = ModelDef::new("Tag")
        .id(IdType::String)
        .field(FieldDef::string("label").max_length(40))
        .field(FieldDef::integer("team_id").references("Team"));
    vec![team, person, tag]
}

/// What a database keeps of a declaration: SQLite stores a decimal without its precision and a
/// JSON value in a TEXT column, so those come back as a plain decimal and a text.
fn as_stored(backend: Backend, mut defs: Vec<ModelDef>) -> Vec<ModelDef> {
    if backend == Backend::Sqlite {
        for f in defs.iter_mut().flat_map(|d| d.fields.iter_mut()) {
            if f.ty == flowgate::FieldType::Decimal {
                f.precision = None;
                f.scale = None;
            }
            if f.ty == flowgate::FieldType::Json {
                f.ty = flowgate::FieldType::Text;
            }
        }
    }
    defs.sort_by_key(|d| d.table_name());
    defs
}

async fn declared_models_come_back(b: Backend) {
    let Some(url) = common::fresh_shared_url(b).await else {
        return;
    };
    let mut cfg = StoreConfig::new(url.clone());
    cfg.pool_size = 2;
    let store = Store::connect(&cfg, Schema::new(declared()).unwrap())
        .await
        .unwrap();
    store.create_tables().await.unwrap();
    store.close().await;

    let found = introspect::introspect(&url, &options(b, &url, true))
        .await
        .unwrap();
    assert!(found.skipped.is_empty(), "{:?}", found.skipped);
    assert_eq!(found.models, as_stored(b, declared()), "{:#?}", found.notes);
    // Written as a schema file and read back, in both formats.
    let toml = introspect::to_toml(&found);
    assert_eq!(
        flowgate::model::parse_toml(&toml, "x.toml").unwrap(),
        found.models
    );
    let json = introspect::to_json(&found).to_string();
    assert_eq!(
        flowgate::model::parse_json(&json, "x.json").unwrap(),
        found.models
    );
    // With no schema named, PostgreSQL's is the connection's current one (its search_path).
    let current = introspect::introspect(
        &url,
        &Options {
            managed: true,
            ..Options::default()
        },
    )
    .await
    .unwrap();
    assert_eq!(current.models, found.models);
    // Without --managed the same models are served as they are.
    let unmanaged = introspect::introspect(&url, &options(b, &url, false))
        .await
        .unwrap();
    assert!(unmanaged.models.iter().all(|m| !m.managed));
    assert!(introspect::to_toml(&unmanaged).contains("managed = false"));
}

/// Hand-written SQL of each database: every common column type, foreign keys with each delete
/// action, a composite unique, a view, tables without a usable primary key.
fn hand_written(b: Backend) -> &'static str {
    match b {
        Backend::Sqlite => include_str!("fixtures/introspect/sqlite.sql"),
        Backend::Postgres => include_str!("fixtures/introspect/postgres.sql"),
        Backend::MySql => include_str!("fixtures/introspect/mysql.sql"),
    }
}

fn suffix(b: Backend) -> &'static str {
    match b {
        Backend::Sqlite => "sqlite",
        Backend::Postgres => "postgres",
        Backend::MySql => "mysql",
    }
}

async fn run_script(b: Backend, url: &str, script: &str) {
    match b {
        Backend::Sqlite => {
            let pool = sqlx::SqlitePool::connect(&format!("{url}?mode=rwc"))
                .await
                .unwrap();
            sqlx::raw_sql(AssertSqlSafe(script.to_string()))
                .execute(&pool)
                .await
                .unwrap();
            pool.close().await;
        }
        Backend::Postgres => {
            let pool = sqlx::PgPool::connect(url).await.unwrap();
            sqlx::raw_sql(AssertSqlSafe(script.to_string()))
                .execute(&pool)
                .await
                .unwrap();
            pool.close().await;
        }
        Backend::MySql => {
            let pool = sqlx::MySqlPool::connect(url).await.unwrap();
            sqlx::raw_sql(AssertSqlSafe(script.to_string()))
                .execute(&pool)
                .await
                .unwrap();
            pool.close().await;
        }
    }
}

async fn hand_written_schemas_are_described(b: Backend) {
    let Some(url) = common::fresh_shared_url(b).await else {
        return;
    };
    run_script(b, &url, hand_written(b)).await;
    let found = introspect::introspect(&url, &options(b, &url, false))
        .await
        .unwrap();
    let text = introspect::to_toml(&found);
    insta::assert_snapshot!(format!("hand_written_{}", suffix(b)), text);
    // What it writes is a schema file Flowgate accepts.
    let models = flowgate::model::parse_toml(&text, "x.toml").unwrap();
    Schema::new(models).unwrap();
    // --tables reads only those; an unknown one is named.
    let mut only = options(b, &url, false);
    only.tables = vec!["customers".into()];
    let one = introspect::introspect(&url, &only).await.unwrap();
    assert_eq!(one.models.len(), 1);
    only.tables = vec!["nope".into()];
    let err = introspect::introspect(&url, &only).await.unwrap_err();
    assert!(err.to_string().contains("no table `nope`"), "{err}");
}

/// The whole schema of the test's database, as text: what `served_as_it_is` must leave as it
/// found it.
async fn schema_dump(b: Backend, url: &str) -> Vec<String> {
    match b {
        Backend::Sqlite => {
            let pool = sqlx::SqlitePool::connect(url).await.unwrap();
            let rows: Vec<(String, String, String)> = sqlx::query_as(
                "SELECT type, name, COALESCE(sql, '') FROM sqlite_master ORDER BY type, name",
            )
            .fetch_all(&pool)
            .await
            .unwrap();
            pool.close().await;
            rows.into_iter().map(|r| format!("{r:?}")).collect()
        }
        Backend::Postgres => {
            let schema = pg_schema(url).unwrap();
            let pool = sqlx::PgPool::connect(url).await.unwrap();
            let mut out: Vec<String> = sqlx::query_scalar(
                "SELECT format('%s.%s %s %s %s', table_name, column_name, data_type, \
                 COALESCE(column_default, '-'), is_nullable) FROM information_schema.columns \
                 WHERE table_schema = $1 ORDER BY table_name, ordinal_position",
            )
            .bind(&schema)
            .fetch_all(&pool)
            .await
            .unwrap();
            out.extend(
                sqlx::query_scalar::<_, String>(
                    "SELECT indexdef FROM pg_indexes WHERE schemaname = $1 ORDER BY indexname",
                )
                .bind(&schema)
                .fetch_all(&pool)
                .await
                .unwrap(),
            );
            out.extend(
                sqlx::query_scalar::<_, String>(
                    "SELECT k.conname || ' ' || pg_get_constraintdef(k.oid) FROM pg_constraint k \
                     JOIN pg_namespace n ON n.oid = k.connamespace WHERE n.nspname = $1 \
                     ORDER BY k.conname",
                )
                .bind(&schema)
                .fetch_all(&pool)
                .await
                .unwrap(),
            );
            pool.close().await;
            out
        }
        Backend::MySql => {
            let pool = sqlx::MySqlPool::connect(url).await.unwrap();
            let tables: Vec<String> = sqlx::query_scalar(
                "SELECT CAST(TABLE_NAME AS CHAR) FROM information_schema.TABLES \
                 WHERE TABLE_SCHEMA = DATABASE() ORDER BY TABLE_NAME",
            )
            .fetch_all(&pool)
            .await
            .unwrap();
            let mut out = Vec::new();
            for t in tables {
                let row: (String, String) =
                    sqlx::query_as(AssertSqlSafe(format!("SHOW CREATE TABLE `{t}`")))
                        .fetch_one(&pool)
                        .await
                        .unwrap();
                // The next id is data, not schema.
                let text: Vec<&str> = row
                    .1
                    .split(' ')
                    .filter(|w| !w.starts_with("AUTO_INCREMENT="))
                    .collect();
                out.push(text.join(" "));
            }
            pool.close().await;
            out
        }
    }
}

/// A hand-written database served through introspected, unmanaged models: the operations work,
/// the database's own rules still hold, and the schema is what it was.
async fn served_as_it_is(b: Backend) {
    let Some(url) = common::fresh_shared_url(b).await else {
        return;
    };
    run_script(b, &url, hand_written(b)).await;
    let before = schema_dump(b, &url).await;
    let found = introspect::introspect(&url, &options(b, &url, false))
        .await
        .unwrap();
    let mut cfg = StoreConfig::new(url.clone());
    cfg.pool_size = 2;
    let store = Store::connect(&cfg, Schema::new(found.models.clone()).unwrap())
        .await
        .unwrap();
    store.create_tables().await.unwrap();
    let ctx = flowgate::Context::internal();
    let run = |model: &'static str, op: flowgate::OpKind, params: serde_json::Value| {
        let store = store.clone();
        let ctx = ctx.clone();
        async move {
            let m = store.model(model).unwrap();
            store.run(&ctx, &m, op, &params).await
        }
    };
    use flowgate::OpKind::*;
    let at = "2026-01-02T03:04:05Z";
    // `signed_up` has the database's default `now()` / `CURRENT_TIMESTAMP`: left out, Flowgate
    // gives the time of the write (`default_fn = "now"`).
    let acme = run(
        "Customer",
        Create,
        json!({"name": "Acme", "email": "a@x.io"}),
    )
    .await
    .unwrap();
    assert!(
        acme["signed_up"]
            .as_str()
            .is_some_and(|t| t.starts_with("20")),
        "{acme}"
    );
    let id = acme["id"].clone();
    assert_eq!(acme["tier"], "basic", "the literal default: {acme}");
    assert_eq!(acme["is_vip"], false, "{acme}");
    let order = run(
        "Order",
        Create,
        json!({"customer_id": id, "total": "12.50", "placed_on": "2026-01-02", "paid": true, "notes": "gift"}),
    )
    .await
    .unwrap();
    assert_eq!(order["total"], "12.5");
    let read = run("Order", Read, json!({"id": order["id"]}))
        .await
        .unwrap();
    assert_eq!(read["notes"], "gift");
    assert_eq!(read["customer_id"], id);
    run(
        "Order",
        Update,
        json!({"id": order["id"], "fields": {"paid": false}}),
    )
    .await
    .unwrap();
    run(
        "Customer",
        BulkCreate,
        json!({"data": [{"name": "B", "email": "b@x.io", "signed_up": at}, {"name": "C", "email": "c@x.io", "signed_up": at, "rating": 2.5}]}),
    )
    .await
    .unwrap();
    run(
        "Customer",
        Upsert,
        json!({"where": {"email": "b@x.io"}, "create": {"name": "B", "email": "b@x.io", "signed_up": at}, "update": {"name": "Bee"}}),
    )
    .await
    .unwrap();
    let count = run("Customer", Count, json!({})).await.unwrap();
    assert_eq!(count["count"], 3);
    let list = run(
        "Customer",
        List,
        json!({"order_by": "name", "filter": {"rating": {"$gte": 1}}}),
    )
    .await
    .unwrap();
    assert_eq!(list["records"][0]["name"], "C", "{list}");
    assert_eq!(list["records"][0]["rating"], 2.5, "{list}");
    run(
        "Customer",
        BulkUpdate,
        json!({"filter": {"name": "Bee"}, "fields": {"rating": 4.0}}),
    )
    .await
    .unwrap();
    run(
        "Customer",
        BulkUpsert,
        json!({"data": [{"name": "Dee", "email": "d@x.io", "signed_up": at}], "conflict_on": ["email"]}),
    )
    .await
    .unwrap();
    // The database's own rule (ON DELETE CASCADE) still holds.
    run("Customer", Delete, json!({"id": id})).await.unwrap();
    let orders = run("Order", Count, json!({})).await.unwrap();
    assert_eq!(orders["count"], 0);
    run("Customer", BulkDelete, json!({"filter": {"name": "C"}}))
        .await
        .unwrap();
    let left = run("Customer", Count, json!({})).await.unwrap();
    assert_eq!(left["count"], 2);
    store.close().await;
    assert_eq!(schema_dump(b, &url).await, before);
}

conformance!(
    declared_models_come_back,
    hand_written_schemas_are_described,
    served_as_it_is
);
