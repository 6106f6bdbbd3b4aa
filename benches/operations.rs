//! Flowgate against raw sqlx doing the same queries, in the same run (DESIGN section 11).
//!
//! Four groups per backend, each with two functions, `flowgate` and `raw_sqlx`:
//!
//! - `create/<backend>`: one insert returning the stored row as a JSON object;
//! - `read/<backend>`: one row by id, as a JSON object;
//! - `list/<backend>`: the first page of 20 rows ordered by id (21 fetched to know whether more
//!   follow), as JSON objects;
//! - `bulk_create/<backend>`: 10,000 rows in one transaction, returning their ids.
//!
//! Fairness: both sides run on the same database and table (created by Flowgate), through pools of
//! the same size and connection settings, with sqlx's statement cache, the same statement shapes
//! (explicit columns, `RETURNING`, `LIMIT 21`, multi-row `VALUES` in chunks of as many rows as the
//! parameter limit allows), and both decode every column into a `serde_json::Value` with the same
//! JSON forms (RFC 3339 UTC datetimes with microseconds). The raw side is the strictest baseline: it
//! takes typed input (a struct, not JSON), decodes by column index and builds the JSON directly.
//! The inputs of create and bulk_create are built, and dropped, outside the timed part for both
//! sides.
//!
//! SQLite runs on a temporary file in WAL mode (`synchronous = NORMAL`, as Flowgate sets it).
//! PostgreSQL runs when `FLOWGATE_BENCH_POSTGRES_URL` (default
//! `postgres://postgres@127.0.0.1:5432/postgres`) is reachable, in a fresh schema that is dropped at
//! the end; otherwise a note is printed and the PostgreSQL groups are skipped.
//!
//! `python3 benches/ratios.py` prints the Flowgate/raw throughput ratios of the last run.
//!
//! `FLOWGATE_BENCH_ROUNDS=<rounds> cargo bench --bench operations` measures the single-row
//! operations in alternating rounds instead (see `rounds_mode`): criterion runs one function after
//! the other, and a sequential SQLite read, dominated by hand-offs to sqlx's SQLite worker
//! threads, was seen slower for whichever function ran first. `FLOWGATE_BENCH_COUNT` (see
//! `count_mode`) counts instructions instead of time.

use chrono::{DateTime, SecondsFormat, SubsecRound, Utc};
use criterion::{BatchSize, Criterion, SamplingMode, Throughput};
use flowgate::{Context, FieldDef, ModelDef, ModelInfo, OpKind, Schema, Store, StoreConfig};
use serde_json::{Map, Value, json};
use sqlx::postgres::{PgPool, PgPoolOptions};
use sqlx::sqlite::{
    SqliteConnectOptions, SqliteJournalMode, SqlitePool, SqlitePoolOptions, SqliteSynchronous,
};
use sqlx::{AssertSqlSafe, ColumnIndex, Decode, Row, Type};
use std::path::PathBuf;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

/// Connections per pool, the same for Flowgate and raw sqlx.
const POOL_SIZE: u32 = 4;
/// Rows seeded before the read and list benchmarks.
const SEED_ROWS: usize = 1_000;
/// Rows per bulk insert.
const BULK_ROWS: usize = 10_000;
/// The page size of the list benchmark.
const PAGE: usize = 20;
/// The columns an insert writes (the database generates the id).
const INSERT_COLUMNS: usize = 8;

const POSTGRES_ENV: &str = "FLOWGATE_BENCH_POSTGRES_URL";
const POSTGRES_DEFAULT: &str = "postgres://postgres@127.0.0.1:5432/postgres";

/// The benchmarked model: six fields of the common types, plus Flowgate's id and timestamps.
fn product_model() -> ModelDef {
    ModelDef::new("Product")
        .field(FieldDef::string("name").max_length(120))
        .field(FieldDef::integer("stock"))
        .field(FieldDef::float("price"))
        .field(FieldDef::boolean("active"))
        .field(FieldDef::datetime("released_at"))
        .field(FieldDef::text("notes").optional())
}

/// The columns in table order, as Flowgate creates them and both sides read them.
const COLUMNS: &str = "id, name, stock, price, active, released_at, notes, created_at, updated_at";
const INSERT_INTO: &str = "INSERT INTO products (name, stock, price, active, released_at, notes, created_at, updated_at) ";

/// A new product, the raw side's typed input.
#[derive(Debug, Clone)]
struct NewProduct {
    name: String,
    stock: i64,
    price: f64,
    active: bool,
    released_at: DateTime<Utc>,
    notes: Option<String>,
}

fn sample(i: usize) -> NewProduct {
    NewProduct {
        name: format!("Product {i}"),
        stock: (i % 500) as i64,
        price: 1.25 + (i % 1000) as f64 * 0.5,
        active: !i.is_multiple_of(3),
        released_at: DateTime::from_timestamp(1_700_000_000 + i as i64 * 60, 123_456_000)
            .expect("valid timestamp"),
        notes: i
            .is_multiple_of(2)
            .then(|| format!("Notes on product {i}, which sells well.")),
    }
}

/// The same product as Flowgate's JSON input.
fn sample_json(p: &NewProduct) -> Value {
    json!({
        "name": p.name,
        "stock": p.stock,
        "price": p.price,
        "active": p.active,
        "released_at": rfc3339(&p.released_at),
        "notes": p.notes,
    })
}

/// The JSON (and SQLite storage) form of an instant, the same as Flowgate's.
fn rfc3339(dt: &DateTime<Utc>) -> String {
    dt.to_rfc3339_opts(SecondsFormat::Micros, true)
}

fn now() -> DateTime<Utc> {
    Utc::now().trunc_subsecs(6)
}

/// Decodes a row of [`COLUMNS`] (in that order) into the JSON object Flowgate returns.
fn row_json<'r, R>(row: &'r R) -> sqlx::Result<Value>
where
    R: Row,
    usize: ColumnIndex<R>,
    i64: Decode<'r, R::Database> + Type<R::Database>,
    f64: Decode<'r, R::Database> + Type<R::Database>,
    bool: Decode<'r, R::Database> + Type<R::Database>,
    String: Decode<'r, R::Database> + Type<R::Database>,
    DateTime<Utc>: Decode<'r, R::Database> + Type<R::Database>,
{
    let mut m = Map::with_capacity(9);
    m.insert("id".into(), Value::from(row.try_get::<i64, _>(0)?));
    m.insert("name".into(), Value::String(row.try_get(1)?));
    m.insert("stock".into(), Value::from(row.try_get::<i64, _>(2)?));
    m.insert("price".into(), Value::from(row.try_get::<f64, _>(3)?));
    m.insert("active".into(), Value::Bool(row.try_get(4)?));
    let released: DateTime<Utc> = row.try_get(5)?;
    m.insert("released_at".into(), Value::String(rfc3339(&released)));
    let notes: Option<String> = row.try_get(6)?;
    m.insert("notes".into(), notes.map_or(Value::Null, Value::String));
    let created: DateTime<Utc> = row.try_get(7)?;
    m.insert("created_at".into(), Value::String(rfc3339(&created)));
    let updated: DateTime<Utc> = row.try_get(8)?;
    m.insert("updated_at".into(), Value::String(rfc3339(&updated)));
    Ok(Value::Object(m))
}

/// A raw sqlx pool on the same database as the store.
#[derive(Clone)]
enum Raw {
    Sqlite(SqlitePool),
    Postgres(PgPool),
}

impl Raw {
    fn name(&self) -> &'static str {
        match self {
            Raw::Sqlite(_) => "sqlite",
            Raw::Postgres(_) => "postgres",
        }
    }

    /// `INSERT ... RETURNING *`, decoded to JSON.
    async fn create(&self, p: &NewProduct) -> sqlx::Result<Value> {
        let now = now();
        match self {
            Raw::Sqlite(pool) => {
                // SQLite has no datetime type: instants are stored as RFC 3339 text, as Flowgate
                // stores them (sqlx's own chrono encoding would format a string too).
                let row = sqlx::query(
                    "INSERT INTO products (name, stock, price, active, released_at, notes, \
                     created_at, updated_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?) RETURNING *",
                )
                .bind(&p.name)
                .bind(p.stock)
                .bind(p.price)
                .bind(p.active)
                .bind(rfc3339(&p.released_at))
                .bind(&p.notes)
                .bind(rfc3339(&now))
                .bind(rfc3339(&now))
                // Not `fetch_one`: with a row limit, sqlx-sqlite resets the statement after its
                // first row instead of stepping it to the end, and SQLite runs its WAL
                // auto-checkpoint only when a statement steps to the end: the log then grows
                // without bound (seen: 8,315 frames after 4,000 inserts, against 314), which
                // spares the inserts the checkpoints and slows every later read. Flowgate steps
                // its writes to the end.
                .fetch_all(pool)
                .await?;
                row.first().map_or(Err(sqlx::Error::RowNotFound), row_json)
            }
            Raw::Postgres(pool) => {
                let row = sqlx::query(
                    "INSERT INTO products (name, stock, price, active, released_at, notes, \
                     created_at, updated_at) VALUES ($1, $2, $3, $4, $5, $6, $7, $8) RETURNING *",
                )
                .bind(&p.name)
                .bind(p.stock)
                .bind(p.price)
                .bind(p.active)
                .bind(p.released_at)
                .bind(&p.notes)
                .bind(now)
                .bind(now)
                .fetch_one(pool)
                .await?;
                row_json(&row)
            }
        }
    }

    /// `SELECT ... WHERE id = ?`, decoded to JSON.
    async fn read(&self, id: i64) -> sqlx::Result<Value> {
        match self {
            Raw::Sqlite(pool) => {
                let row = sqlx::query(AssertSqlSafe(format!(
                    "SELECT {COLUMNS} FROM products WHERE id = ?"
                )))
                .bind(id)
                .fetch_one(pool)
                .await?;
                row_json(&row)
            }
            Raw::Postgres(pool) => {
                let row = sqlx::query(AssertSqlSafe(format!(
                    "SELECT {COLUMNS} FROM products WHERE id = $1"
                )))
                .bind(id)
                .fetch_one(pool)
                .await?;
                row_json(&row)
            }
        }
    }

    /// The first page: `ORDER BY id LIMIT 21`, 20 rows decoded to JSON.
    async fn list(&self) -> sqlx::Result<Value> {
        let sql = format!(
            "SELECT {COLUMNS} FROM products ORDER BY id LIMIT {}",
            PAGE + 1
        );
        let (records, more) = match self {
            Raw::Sqlite(pool) => {
                let rows = sqlx::query(AssertSqlSafe(sql)).fetch_all(pool).await?;
                let records = rows
                    .iter()
                    .take(PAGE)
                    .map(row_json)
                    .collect::<sqlx::Result<Vec<_>>>()?;
                (records, rows.len() > PAGE)
            }
            Raw::Postgres(pool) => {
                let rows = sqlx::query(AssertSqlSafe(sql)).fetch_all(pool).await?;
                let records = rows
                    .iter()
                    .take(PAGE)
                    .map(row_json)
                    .collect::<sqlx::Result<Vec<_>>>()?;
                (records, rows.len() > PAGE)
            }
        };
        Ok(json!({ "records": records, "more": more }))
    }

    /// Multi-row inserts with `QueryBuilder::push_values`, as many rows per statement as the
    /// parameter limit allows, in one transaction; returns the ids.
    async fn bulk_create(&self, items: &[NewProduct]) -> sqlx::Result<Value> {
        let now = now();
        let mut ids: Vec<i64> = Vec::with_capacity(items.len());
        match self {
            Raw::Sqlite(pool) => {
                let now = rfc3339(&now);
                let mut tx = pool.begin().await?;
                for chunk in items.chunks(32_766 / INSERT_COLUMNS) {
                    let mut qb = sqlx::QueryBuilder::<sqlx::Sqlite>::new(INSERT_INTO);
                    qb.push_values(chunk, |mut b, p| {
                        b.push_bind(&p.name)
                            .push_bind(p.stock)
                            .push_bind(p.price)
                            .push_bind(p.active)
                            .push_bind(rfc3339(&p.released_at))
                            .push_bind(&p.notes)
                            .push_bind(&now)
                            .push_bind(&now);
                    });
                    qb.push(" RETURNING id");
                    for row in qb.build().fetch_all(&mut *tx).await? {
                        ids.push(row.try_get(0)?);
                    }
                }
                tx.commit().await?;
            }
            Raw::Postgres(pool) => {
                let mut tx = pool.begin().await?;
                for chunk in items.chunks(65_535 / INSERT_COLUMNS) {
                    let mut qb = sqlx::QueryBuilder::<sqlx::Postgres>::new(INSERT_INTO);
                    qb.push_values(chunk, |mut b, p| {
                        b.push_bind(&p.name)
                            .push_bind(p.stock)
                            .push_bind(p.price)
                            .push_bind(p.active)
                            .push_bind(p.released_at)
                            .push_bind(&p.notes)
                            .push_bind(now)
                            .push_bind(now);
                    });
                    qb.push(" RETURNING id");
                    for row in qb.build().fetch_all(&mut *tx).await? {
                        ids.push(row.try_get(0)?);
                    }
                }
                tx.commit().await?;
            }
        }
        Ok(json!({ "inserted": ids.len(), "ids": ids }))
    }

    async fn close(&self) {
        match self {
            Raw::Sqlite(p) => p.close().await,
            Raw::Postgres(p) => p.close().await,
        }
    }
}

/// One backend under test: a Flowgate store and a raw pool on the same database.
struct Setup {
    store: Store,
    model: Arc<ModelInfo>,
    raw: Raw,
    /// Ids of the seeded rows, read in turn by the read benchmark.
    ids: Vec<i64>,
    cleanup: Cleanup,
}

enum Cleanup {
    Files(Vec<PathBuf>),
    Schema { admin_url: String, schema: String },
}

async fn open_store(url: &str) -> Store {
    let mut cfg = StoreConfig::new(url);
    cfg.pool_size = POOL_SIZE;
    let schema = Schema::new([product_model()]).expect("valid model");
    let store = Store::connect(&cfg, schema).await.expect("connect store");
    store.create_tables().await.expect("create tables");
    store
}

async fn seed(store: &Store, model: &ModelInfo) -> Vec<i64> {
    let data: Vec<Value> = (0..SEED_ROWS).map(|i| sample_json(&sample(i))).collect();
    let out = store
        .run(
            &Context::internal(),
            model,
            OpKind::BulkCreate,
            &json!({ "data": data }),
        )
        .await
        .expect("seed rows");
    out["ids"]
        .as_array()
        .expect("ids")
        .iter()
        .map(|v| v.as_i64().expect("integer id"))
        .collect()
}

async fn sqlite_setup() -> Setup {
    let path = std::env::temp_dir().join(format!("flowgate-bench-{}.db", std::process::id()));
    let files: Vec<PathBuf> = ["", "-wal", "-shm"]
        .iter()
        .map(|s| PathBuf::from(format!("{}{s}", path.display())))
        .collect();
    for f in &files {
        let _ = std::fs::remove_file(f);
    }
    let store = open_store(&format!("sqlite://{}", path.display())).await;
    // The connection settings Flowgate uses for a SQLite file (src/store/pool.rs).
    let opts = SqliteConnectOptions::new()
        .filename(&path)
        .create_if_missing(true)
        .foreign_keys(true)
        .busy_timeout(Duration::from_secs(10))
        .with_regexp()
        .pragma("case_sensitive_like", "ON")
        .journal_mode(SqliteJournalMode::Wal)
        .synchronous(SqliteSynchronous::Normal);
    let raw = SqlitePoolOptions::new()
        .max_connections(POOL_SIZE)
        .acquire_timeout(Duration::from_secs(5))
        .connect_with(opts)
        .await
        .expect("connect raw sqlite");
    let model = store.model("Product").expect("model");
    let ids = seed(&store, &model).await;
    Setup {
        store,
        model,
        raw: Raw::Sqlite(raw),
        ids,
        cleanup: Cleanup::Files(files),
    }
}

async fn postgres_setup() -> Option<Setup> {
    let base = std::env::var(POSTGRES_ENV).unwrap_or_else(|_| POSTGRES_DEFAULT.to_string());
    let admin = match PgPoolOptions::new()
        .max_connections(1)
        .acquire_timeout(Duration::from_secs(3))
        .connect(&base)
        .await
    {
        Ok(p) => p,
        Err(e) => {
            eprintln!(
                "note: PostgreSQL at {base} is unreachable ({e}); skipping the PostgreSQL benchmarks"
            );
            return None;
        }
    };
    let schema = format!("fgbench_{}", std::process::id());
    sqlx::query(AssertSqlSafe(format!(
        "DROP SCHEMA IF EXISTS \"{schema}\" CASCADE"
    )))
    .execute(&admin)
    .await
    .expect("drop old schema");
    sqlx::query(AssertSqlSafe(format!("CREATE SCHEMA \"{schema}\"")))
        .execute(&admin)
        .await
        .expect("create schema");
    admin.close().await;
    let sep = if base.contains('?') { '&' } else { '?' };
    let url = format!("{base}{sep}options=-c%20search_path%3D{schema}");
    let store = open_store(&url).await;
    let raw = PgPoolOptions::new()
        .max_connections(POOL_SIZE)
        .acquire_timeout(Duration::from_secs(5))
        .connect(&url)
        .await
        .expect("connect raw postgres");
    let model = store.model("Product").expect("model");
    let ids = seed(&store, &model).await;
    Some(Setup {
        store,
        model,
        raw: Raw::Postgres(raw),
        ids,
        cleanup: Cleanup::Schema {
            admin_url: base,
            schema,
        },
    })
}

impl Setup {
    /// Checks that both sides return the same JSON, so that they are doing the same work.
    async fn check_same_results(&self) {
        let ctx = Context::internal();
        let id = self.ids[7];
        let fg = self
            .store
            .run(&ctx, &self.model, OpKind::Read, &json!({ "id": id }))
            .await
            .expect("flowgate read");
        assert_eq!(fg, self.raw.read(id).await.expect("raw read"), "read");

        let fg = self
            .store
            .run(&ctx, &self.model, OpKind::List, &json!({ "limit": PAGE }))
            .await
            .expect("flowgate list");
        let raw = self.raw.list().await.expect("raw list");
        assert_eq!(fg["records"], raw["records"], "list");
        assert_eq!(fg["next_cursor"].is_string(), raw["more"] == json!(true));

        let p = sample(42);
        let mut fg = self
            .store
            .run(&ctx, &self.model, OpKind::Create, &sample_json(&p))
            .await
            .expect("flowgate create");
        let mut raw = self.raw.create(&p).await.expect("raw create");
        for rec in [&mut fg, &mut raw] {
            let obj = rec.as_object_mut().expect("object");
            for key in ["id", "created_at", "updated_at"] {
                assert!(obj.remove(key).is_some(), "{key} missing");
            }
        }
        assert_eq!(fg, raw, "create");
    }

    async fn teardown(self) {
        self.store.close().await;
        self.raw.close().await;
        match self.cleanup {
            Cleanup::Files(files) => {
                for f in files {
                    let _ = std::fs::remove_file(f);
                }
            }
            Cleanup::Schema { admin_url, schema } => {
                if let Ok(admin) = PgPool::connect(&admin_url).await {
                    let _ = sqlx::query(AssertSqlSafe(format!(
                        "DROP SCHEMA IF EXISTS \"{schema}\" CASCADE"
                    )))
                    .execute(&admin)
                    .await;
                    admin.close().await;
                }
            }
        }
    }
}

fn single_row_group<'c>(
    c: &'c mut Criterion,
    name: &str,
    backend: &str,
) -> criterion::BenchmarkGroup<'c, criterion::measurement::WallTime> {
    let mut g = c.benchmark_group(format!("{name}/{backend}"));
    g.sample_size(50)
        .warm_up_time(Duration::from_secs(1))
        .measurement_time(Duration::from_secs(3));
    g
}

fn bench_backend(c: &mut Criterion, rt: &tokio::runtime::Runtime, s: &Setup) {
    let backend = s.raw.name();
    let ctx = &Context::internal();
    let (store, model, raw) = (&s.store, &*s.model, &s.raw);

    let mut g = single_row_group(c, "create", backend);
    let mut n = 0usize;
    g.bench_function("flowgate", |b| {
        b.to_async(rt).iter_batched(
            || {
                n += 1;
                sample_json(&sample(n))
            },
            |params| async move {
                let out = store
                    .run(ctx, model, OpKind::Create, &params)
                    .await
                    .expect("create");
                // The input goes back to criterion, which drops it after the timed part.
                (out, params)
            },
            BatchSize::SmallInput,
        )
    });
    g.bench_function("raw_sqlx", |b| {
        b.to_async(rt).iter_batched(
            || {
                n += 1;
                sample(n)
            },
            |p| async move { (raw.create(&p).await.expect("create"), p) },
            BatchSize::SmallInput,
        )
    });
    g.finish();

    let mut g = single_row_group(c, "read", backend);
    let next_id = AtomicUsize::new(0);
    let next = &|| s.ids[next_id.fetch_add(1, Ordering::Relaxed) % s.ids.len()];
    g.bench_function("flowgate", |b| {
        b.to_async(rt).iter(|| async move {
            let params = json!({ "id": next() });
            store
                .run(ctx, model, OpKind::Read, &params)
                .await
                .expect("read")
        })
    });
    next_id.store(0, Ordering::Relaxed);
    g.bench_function("raw_sqlx", |b| {
        b.to_async(rt)
            .iter(|| async move { raw.read(next()).await.expect("read") })
    });
    g.finish();

    let mut g = single_row_group(c, "list", backend);
    g.bench_function("flowgate", |b| {
        b.to_async(rt).iter(|| async move {
            let params = json!({ "limit": PAGE });
            store
                .run(ctx, model, OpKind::List, &params)
                .await
                .expect("list")
        })
    });
    g.bench_function("raw_sqlx", |b| {
        b.to_async(rt)
            .iter(|| async move { raw.list().await.expect("list") })
    });
    g.finish();

    let mut g = c.benchmark_group(format!("bulk_create/{backend}"));
    g.sample_size(10)
        .sampling_mode(SamplingMode::Flat)
        .warm_up_time(Duration::from_secs(1))
        .measurement_time(Duration::from_secs(6))
        .throughput(Throughput::Elements(BULK_ROWS as u64));
    g.bench_function("flowgate", |b| {
        b.to_async(rt).iter_batched(
            || {
                let data: Vec<Value> = (0..BULK_ROWS).map(|i| sample_json(&sample(i))).collect();
                json!({ "data": data })
            },
            |params| async move {
                let out = store
                    .run(ctx, model, OpKind::BulkCreate, &params)
                    .await
                    .expect("bulk create");
                assert_eq!(out["inserted"], BULK_ROWS);
                (out, params)
            },
            BatchSize::PerIteration,
        )
    });
    g.bench_function("raw_sqlx", |b| {
        b.to_async(rt).iter_batched(
            || (0..BULK_ROWS).map(sample).collect::<Vec<_>>(),
            |items| async move {
                let out = raw.bulk_create(&items).await.expect("bulk create");
                assert_eq!(out["inserted"], BULK_ROWS);
                (out, items)
            },
            BatchSize::PerIteration,
        )
    });
    g.finish();
}

/// Fixed-count mode for instruction counting (`FLOWGATE_BENCH_COUNT=<op>/<side>:<n>:<inputs>`,
/// e.g. `read/flowgate:1000:2000`): on SQLite only, builds `inputs` inputs, runs `n` iterations
/// of one function and exits, without criterion. Run it twice under
/// `valgrind --tool=callgrind` with `n` and `2n` (the same `inputs`): the difference of the
/// totals divided by `n` is the instructions of one iteration, setup and input building cancel
/// out, and other work on the machine does not change it.
fn count_mode(rt: &tokio::runtime::Runtime, spec: &str) {
    let parts: Vec<&str> = spec.split([':', '/']).collect();
    let [op, side, n, inputs] = parts[..] else {
        panic!("FLOWGATE_BENCH_COUNT=<op>/<side>:<n>:<inputs>, got {spec}");
    };
    let n: usize = n.parse().expect("n");
    let inputs: usize = inputs.parse().expect("inputs");
    assert!(n <= inputs, "n must not exceed inputs");
    let s = rt.block_on(sqlite_setup());
    let ctx = &Context::internal();
    let (store, model, raw) = (&s.store, &*s.model, &s.raw);
    let flowgate = side == "flowgate";
    rt.block_on(async {
        match op {
            "create" if flowgate => {
                let all: Vec<Value> = (0..inputs).map(|i| sample_json(&sample(i))).collect();
                for p in &all[..n] {
                    store.run(ctx, model, OpKind::Create, p).await.expect("create");
                }
            }
            "create" => {
                let all: Vec<NewProduct> = (0..inputs).map(sample).collect();
                for p in &all[..n] {
                    raw.create(p).await.expect("create");
                }
            }
            "read" if flowgate => {
                let all: Vec<Value> = (0..inputs)
                    .map(|i| json!({ "id": s.ids[i % s.ids.len()] }))
                    .collect();
                for p in &all[..n] {
                    store.run(ctx, model, OpKind::Read, p).await.expect("read");
                }
            }
            "read" => {
                for i in 0..n {
                    raw.read(s.ids[i % s.ids.len()]).await.expect("read");
                }
            }
            "list" if flowgate => {
                let all: Vec<Value> = (0..inputs).map(|_| json!({ "limit": PAGE })).collect();
                for p in &all[..n] {
                    store.run(ctx, model, OpKind::List, p).await.expect("list");
                }
            }
            "list" => {
                for _ in 0..n {
                    raw.list().await.expect("list");
                }
            }
            "bulk_create" if flowgate => {
                let all: Vec<Value> = (0..inputs)
                    .map(|_| json!({ "data": (0..BULK_ROWS).map(|i| sample_json(&sample(i))).collect::<Vec<_>>() }))
                    .collect();
                for p in &all[..n] {
                    store.run(ctx, model, OpKind::BulkCreate, p).await.expect("bulk create");
                }
            }
            "bulk_create" => {
                let all: Vec<Vec<NewProduct>> = (0..inputs)
                    .map(|_| (0..BULK_ROWS).map(sample).collect())
                    .collect();
                for items in &all[..n] {
                    raw.bulk_create(items).await.expect("bulk create");
                }
            }
            other => panic!("unknown op {other}"),
        }
    });
    rt.block_on(s.teardown());
}

/// Runs `iters` calls of one single-row operation on one side, from input number `from`, and
/// returns the time they took (inputs built before the clock starts).
async fn time_calls(s: &Setup, op: &str, flowgate: bool, iters: usize, from: usize) -> Duration {
    let ctx = &Context::internal();
    let (store, model, raw) = (&s.store, &*s.model, &s.raw);
    let id = |i: usize| s.ids[i % s.ids.len()];
    let inputs = from..from + iters;
    if flowgate {
        let (kind, all): (OpKind, Vec<Value>) = match op {
            "create" => (
                OpKind::Create,
                inputs.map(|i| sample_json(&sample(i))).collect(),
            ),
            "read" => (
                OpKind::Read,
                inputs.map(|i| json!({ "id": id(i) })).collect(),
            ),
            "list" => (
                OpKind::List,
                inputs.map(|_| json!({ "limit": PAGE })).collect(),
            ),
            other => panic!("unknown op {other}"),
        };
        let t = Instant::now();
        for p in &all {
            store.run(ctx, model, kind, p).await.expect(op);
        }
        return t.elapsed();
    }
    let new: Vec<NewProduct> = if op == "create" {
        inputs.clone().map(sample).collect()
    } else {
        Vec::new()
    };
    let t = Instant::now();
    match op {
        "create" => {
            for p in &new {
                raw.create(p).await.expect("create");
            }
        }
        "read" => {
            for i in inputs {
                raw.read(id(i)).await.expect("read");
            }
        }
        "list" => {
            for _ in inputs {
                raw.list().await.expect("list");
            }
        }
        other => panic!("unknown op {other}"),
    }
    t.elapsed()
}

/// Alternating rounds (`FLOWGATE_BENCH_ROUNDS=<rounds>`): for each backend and single-row
/// operation, `rounds` rounds of 500 calls per side, the sides' order swapped every round
/// (Flowgate first, then raw first), and the ratio of the median round times. Criterion runs one
/// function after the other, and on a sequential SQLite read whichever function runs first in its
/// group was seen 20-60% slower, whichever side it was; alternating rounds cancel that.
fn rounds_mode(rt: &tokio::runtime::Runtime, rounds: usize) {
    const ITERS: usize = 500;
    let mut setups = vec![rt.block_on(sqlite_setup())];
    setups.extend(rt.block_on(postgres_setup()));
    println!("alternating rounds: {rounds} x {ITERS} calls per side; median µs per call");
    println!("backend   op      flowgate   raw sqlx  ratio (raw / flowgate)");
    for s in &setups {
        for op in ["create", "read", "list"] {
            let (mut fg, mut raw) = (Vec::new(), Vec::new());
            for r in 0..rounds {
                let from = 100_000 + (2 * r) * ITERS;
                let order = if r % 2 == 0 {
                    [true, false]
                } else {
                    [false, true]
                };
                for (k, flowgate) in order.into_iter().enumerate() {
                    let d = rt.block_on(time_calls(s, op, flowgate, ITERS, from + k * ITERS));
                    let per = d.as_secs_f64() * 1e6 / ITERS as f64;
                    if flowgate {
                        fg.push(per)
                    } else {
                        raw.push(per)
                    }
                }
            }
            let median = |v: &mut Vec<f64>| {
                v.sort_by(f64::total_cmp);
                v[v.len() / 2]
            };
            let (f, r) = (median(&mut fg), median(&mut raw));
            println!(
                "{:<9} {op:<7} {f:>8.1} {r:>10.1}  {:.2}",
                s.raw.name(),
                r / f
            );
        }
    }
    for s in setups {
        rt.block_on(s.teardown());
    }
}

fn main() {
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("tokio runtime");
    if let Ok(spec) = std::env::var("FLOWGATE_BENCH_COUNT") {
        count_mode(&rt, &spec);
        return;
    }
    if let Ok(rounds) = std::env::var("FLOWGATE_BENCH_ROUNDS") {
        rounds_mode(&rt, rounds.parse().expect("FLOWGATE_BENCH_ROUNDS=<rounds>"));
        return;
    }
    let mut c = Criterion::default().configure_from_args();

    let sqlite = rt.block_on(sqlite_setup());
    rt.block_on(sqlite.check_same_results());
    bench_backend(&mut c, &rt, &sqlite);
    rt.block_on(sqlite.teardown());

    if let Some(pg) = rt.block_on(postgres_setup()) {
        rt.block_on(pg.check_same_results());
        bench_backend(&mut c, &rt, &pg);
        rt.block_on(pg.teardown());
    }

    c.final_summary();
}
