//! Load test (DESIGN section 11): Flowgate's HTTP gateway and actor pool against a hand-written
//! axum + sqlx server doing the same queries and returning the same JSON, in one process.
//!
//! Both servers serve one model, `Product` (table `products`: name, an indexed category, stock,
//! price, active, released_at, notes, plus id and timestamps), seeded with 10,000 rows each:
//!
//! - Flowgate runs in-process through `Supervisor` with the defaults an application gets (request
//!   ids, the readiness board, the registry), its node actor and worker pool;
//! - the hand-written server has three axum handlers with fixed SQL, typed input and JSON built
//!   by column index (the same forms as Flowgate's).
//!
//! Each server has its own database with the same table (created by Flowgate's DDL) and the same
//! pool: on SQLite its own file in WAL mode with Flowgate's connection settings; on PostgreSQL its
//! own fresh schema, dropped at the end. PostgreSQL runs when `FLOWGATE_BENCH_POSTGRES_URL`
//! (default `postgres://postgres@127.0.0.1:5432/postgres`) is reachable.
//!
//! The load: 32 keep-alive HTTP/1.1 connections (hyper's bare client connection, so the client
//! costs little of the two cores it shares with the servers) each send requests back to back: per
//! scenario, 2 s of warm-up for each server, then 10 s of measurement each, in 5 rounds of 2 s in
//! which the servers take turns (so that other work on the machine falls on both alike):
//!
//! 1. `read`: `GET /api/products/{id}` with random seeded ids;
//! 2. `mixed`: 70% read by id, 20% `GET /api/products?filter={"category":..}&limit=20`, 10%
//!    `POST /api/products`.
//!
//! Reported per server and scenario: requests/s, p50 and p99 latency, errors (transport errors and
//! unexpected statuses), the process's CPU time per request (servers, database threads and client
//! together, not PostgreSQL's own processes; steadier than throughput when other work shares the
//! machine), and Flowgate's throughput as a fraction of the hand-written server's, with the same
//! ratio for CPU per request.
//! Before measuring, the two servers' answers to the same read, list and create are compared.
//!
//! ```sh
//! cargo bench --bench load
//! ```
//!
//! `FLOWGATE_LOAD_SECONDS` and `FLOWGATE_LOAD_CONNECTIONS` change the measured time and the
//! connections; `FLOWGATE_LOAD_ONLY=sqlite/read/flowgate` (any part of `backend/scenario/server`)
//! runs only the matching runs, e.g. under a profiler.
//! `FLOWGATE_LOAD_LOG=info` installs a fmt subscriber at that filter, writing into a sink, to see
//! what recording the request spans costs (by default no subscriber is installed).
//! `FLOWGATE_LOAD_COUNT=<flowgate|hand-written>:<n>` sends `n` reads by id over one connection
//! to one server on SQLite, for counting instructions per request under callgrind (run with
//! `--instr-atstart=no`, switch instrumentation on when the bench prints `count mode: set up`,
//! and take the difference between `n` and `2n`).
//! Run without `--bench` (as `cargo test --benches` does), it does a short smoke run.

use axum::extract::{Path, Query, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::{Json, Router};
use base64::Engine as _;
use chrono::{DateTime, SecondsFormat, SubsecRound, Utc};
use flowgate::{Context, FieldDef, ModelDef, OpKind, Schema, Store, StoreConfig};
use flowgate_actors::Supervisor;
use http_body_util::{BodyExt, Full};
use hyper::body::Bytes;
use hyper::client::conn::http1;
use hyper_util::rt::TokioIo;
use serde::Deserialize;
use serde_json::{Map, Value, json};
use sqlx::postgres::{PgPool, PgPoolOptions};
use sqlx::sqlite::{
    SqliteConnectOptions, SqliteJournalMode, SqlitePool, SqlitePoolOptions, SqliteSynchronous,
};
use sqlx::{AssertSqlSafe, ColumnIndex, Decode, Row, Type};
use std::net::SocketAddr;
use std::path::PathBuf;
use std::time::{Duration, Instant};

/// Connections per pool, the same for both servers (Flowgate's default).
const POOL_SIZE: u32 = 10;
/// Rows seeded into each database.
const SEED_ROWS: usize = 10_000;
/// Distinct categories among the seeded rows (so a category holds 200 of them).
const CATEGORIES: usize = 50;
/// The page size of the list requests.
const PAGE: usize = 20;
const WARM_UP: Duration = Duration::from_secs(2);
const MEASURE: Duration = Duration::from_secs(10);
const CONNECTIONS: usize = 32;
/// The measured time of each server is split into this many rounds, the servers taking turns
/// (in alternating order), so that load from outside the test falls on both alike.
const ROUNDS: u32 = 5;

const POSTGRES_ENV: &str = "FLOWGATE_BENCH_POSTGRES_URL";
const POSTGRES_DEFAULT: &str = "postgres://postgres@127.0.0.1:5432/postgres";

/// The columns in table order, as Flowgate creates them and the hand-written server reads them.
const COLUMNS: &str =
    "id, name, category, stock, price, active, released_at, notes, created_at, updated_at";

fn product_model() -> ModelDef {
    ModelDef::new("Product")
        .field(FieldDef::string("name").max_length(120))
        .field(FieldDef::string("category").max_length(40).indexed())
        .field(FieldDef::integer("stock"))
        .field(FieldDef::float("price"))
        .field(FieldDef::boolean("active"))
        .field(FieldDef::datetime("released_at"))
        .field(FieldDef::text("notes").optional())
}

fn category(i: usize) -> String {
    format!("c{:02}", i % CATEGORIES)
}

/// A new product as JSON: the body of a create and a row of the seed.
fn sample(i: usize) -> Value {
    let released = DateTime::from_timestamp(1_700_000_000 + i as i64 * 60, 123_456_000)
        .expect("valid timestamp");
    json!({
        "name": format!("Product {i}"),
        "category": category(i),
        "stock": (i % 500) as i64,
        "price": 1.25 + (i % 1000) as f64 * 0.5,
        "active": !i.is_multiple_of(3),
        "released_at": rfc3339(&released),
        "notes": i.is_multiple_of(2).then(|| format!("Notes on product {i}, which sells well.")),
    })
}

/// The JSON (and SQLite storage) form of an instant, the same as Flowgate's.
fn rfc3339(dt: &DateTime<Utc>) -> String {
    dt.to_rfc3339_opts(SecondsFormat::Micros, true)
}

// ---------------------------------------------------------------------------------------------
// The hand-written server.
// ---------------------------------------------------------------------------------------------

#[derive(Clone)]
enum HandPool {
    Sqlite(SqlitePool),
    Postgres(PgPool),
}

/// The body of a create, typed.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct NewProduct {
    name: String,
    category: String,
    stock: i64,
    price: f64,
    active: bool,
    released_at: DateTime<Utc>,
    notes: Option<String>,
}

#[derive(Deserialize)]
struct ListQuery {
    filter: Option<String>,
    limit: Option<usize>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct CategoryFilter {
    category: String,
}

fn hand_router(pool: HandPool) -> Router {
    Router::new()
        .route("/api/products", get(hand_list).post(hand_create))
        .route("/api/products/{id}", get(hand_read))
        .with_state(pool)
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
    let mut m = Map::with_capacity(10);
    m.insert("id".into(), Value::from(row.try_get::<i64, _>(0)?));
    m.insert("name".into(), Value::String(row.try_get(1)?));
    m.insert("category".into(), Value::String(row.try_get(2)?));
    m.insert("stock".into(), Value::from(row.try_get::<i64, _>(3)?));
    m.insert("price".into(), Value::from(row.try_get::<f64, _>(4)?));
    m.insert("active".into(), Value::Bool(row.try_get(5)?));
    let released: DateTime<Utc> = row.try_get(6)?;
    m.insert("released_at".into(), Value::String(rfc3339(&released)));
    let notes: Option<String> = row.try_get(7)?;
    m.insert("notes".into(), notes.map_or(Value::Null, Value::String));
    let created: DateTime<Utc> = row.try_get(8)?;
    m.insert("created_at".into(), Value::String(rfc3339(&created)));
    let updated: DateTime<Utc> = row.try_get(9)?;
    m.insert("updated_at".into(), Value::String(rfc3339(&updated)));
    Ok(Value::Object(m))
}

fn error(status: StatusCode, code: &str, message: String) -> Response {
    let body = json!({ "error": { "code": code, "message": message } });
    (status, Json(body)).into_response()
}

fn internal(e: sqlx::Error) -> Response {
    error(
        StatusCode::INTERNAL_SERVER_ERROR,
        "internal",
        format!("database error: {e}"),
    )
}

async fn hand_read(State(pool): State<HandPool>, Path(id): Path<i64>) -> Response {
    let row = match &pool {
        HandPool::Sqlite(p) => sqlx::query(AssertSqlSafe(format!(
            "SELECT {COLUMNS} FROM products WHERE id = ?"
        )))
        .bind(id)
        .fetch_optional(p)
        .await
        .and_then(|r| r.as_ref().map(row_json).transpose()),
        HandPool::Postgres(p) => sqlx::query(AssertSqlSafe(format!(
            "SELECT {COLUMNS} FROM products WHERE id = $1"
        )))
        .bind(id)
        .fetch_optional(p)
        .await
        .and_then(|r| r.as_ref().map(row_json).transpose()),
    };
    match row {
        Ok(Some(v)) => Json(v).into_response(),
        Ok(None) => error(
            StatusCode::NOT_FOUND,
            "not_found",
            format!("Product {id} not found"),
        ),
        Err(e) => internal(e),
    }
}

async fn hand_list(State(pool): State<HandPool>, Query(q): Query<ListQuery>) -> Response {
    let filter: CategoryFilter = match q.filter.as_deref().map(serde_json::from_str) {
        Some(Ok(f)) => f,
        _ => {
            return error(
                StatusCode::BAD_REQUEST,
                "validation",
                "filter: expected {\"category\": ...}".into(),
            );
        }
    };
    let limit = q.limit.unwrap_or(PAGE).clamp(1, 1000);
    let fetched = match &pool {
        HandPool::Sqlite(p) => sqlx::query(AssertSqlSafe(format!(
            "SELECT {COLUMNS} FROM products WHERE category = ? ORDER BY id LIMIT ?"
        )))
        .bind(&filter.category)
        .bind(limit as i64 + 1)
        .fetch_all(p)
        .await
        .and_then(|rows| rows.iter().map(row_json).collect::<sqlx::Result<Vec<_>>>()),
        HandPool::Postgres(p) => sqlx::query(AssertSqlSafe(format!(
            "SELECT {COLUMNS} FROM products WHERE category = $1 ORDER BY id LIMIT $2"
        )))
        .bind(&filter.category)
        .bind(limit as i64 + 1)
        .fetch_all(p)
        .await
        .and_then(|rows| rows.iter().map(row_json).collect::<sqlx::Result<Vec<_>>>()),
    };
    let mut records = match fetched {
        Ok(r) => r,
        Err(e) => return internal(e),
    };
    let more = records.len() > limit;
    records.truncate(limit);
    let mut out = Map::new();
    let next_cursor = more.then(|| {
        // The same cursor as Flowgate's for the default order: the last id, as a JSON list.
        let last = records.last().map_or(Value::Null, |r| r["id"].clone());
        base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(json!([last]).to_string())
    });
    out.insert("records".into(), Value::Array(records));
    if let Some(c) = next_cursor {
        out.insert("next_cursor".into(), Value::String(c));
    }
    Json(Value::Object(out)).into_response()
}

async fn hand_create(State(pool): State<HandPool>, Json(p): Json<NewProduct>) -> Response {
    let now = Utc::now().trunc_subsecs(6);
    let insert = "INSERT INTO products (name, category, stock, price, active, released_at, notes, \
                  created_at, updated_at)";
    let row = match &pool {
        HandPool::Sqlite(pool) => {
            // SQLite has no datetime type: instants are RFC 3339 text, as Flowgate stores them.
            sqlx::query(AssertSqlSafe(format!(
                "{insert} VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?) RETURNING {COLUMNS}"
            )))
            .bind(&p.name)
            .bind(&p.category)
            .bind(p.stock)
            .bind(p.price)
            .bind(p.active)
            .bind(rfc3339(&p.released_at))
            .bind(&p.notes)
            .bind(rfc3339(&now))
            .bind(rfc3339(&now))
            // Not `fetch_one`, which stops SQLite's WAL auto-checkpoint (see the raw create of
            // benches/operations.rs): it would spare this server the checkpoints Flowgate pays.
            .fetch_all(pool)
            .await
            .and_then(|rows| rows.first().map_or(Err(sqlx::Error::RowNotFound), row_json))
        }
        HandPool::Postgres(pool) => sqlx::query(AssertSqlSafe(format!(
            "{insert} VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9) RETURNING {COLUMNS}"
        )))
        .bind(&p.name)
        .bind(&p.category)
        .bind(p.stock)
        .bind(p.price)
        .bind(p.active)
        .bind(p.released_at)
        .bind(&p.notes)
        .bind(now)
        .bind(now)
        .fetch_one(pool)
        .await
        .and_then(|r| row_json(&r)),
    };
    match row {
        Ok(v) => (StatusCode::CREATED, Json(v)).into_response(),
        Err(e) => internal(e),
    }
}

// ---------------------------------------------------------------------------------------------
// Databases and servers.
// ---------------------------------------------------------------------------------------------

/// Creates the table with Flowgate's DDL and seeds it, through a store of its own.
async fn create_and_seed(url: &str, rows: usize) {
    let mut cfg = StoreConfig::new(url);
    cfg.pool_size = POOL_SIZE;
    let store = Store::connect(&cfg, Schema::new([product_model()]).expect("model"))
        .await
        .expect("connect the seeding store");
    store.create_tables().await.expect("create the table");
    seed(&store, rows).await;
    store.close().await;
}

async fn seed(store: &Store, rows: usize) {
    seed_for(store, rows, None).await
}

/// [`seed`], the rows belonging to `tenant` on a multi-tenant server.
async fn seed_for(store: &Store, rows: usize, tenant: Option<&str>) {
    let model = store.model("Product").expect("model");
    let data: Vec<Value> = (0..rows).map(sample).collect();
    let out = store
        .run(
            &Context {
                tenant: tenant.map(str::to_string),
                ..Context::internal()
            },
            &model,
            OpKind::BulkCreate,
            &json!({ "data": data }),
        )
        .await
        .expect("seed rows");
    assert_eq!(out["inserted"], rows);
}

/// Binds `127.0.0.1:0` and serves the hand-written router there.
async fn serve_hand(pool: HandPool) -> SocketAddr {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind");
    let addr = listener.local_addr().expect("address");
    tokio::spawn(async move { axum::serve(listener, hand_router(pool)).await });
    addr
}

/// Starts Flowgate on `url` and seeds it.
async fn serve_flowgate(url: &str, rows: usize) -> flowgate_actors::Handle {
    serve_flowgate_with(url, rows, &[]).await
}

/// Flowgate with configuration keys `settings` on top of the defaults.
async fn serve_flowgate_with(
    url: &str,
    rows: usize,
    settings: &[(&str, Value)],
) -> flowgate_actors::Handle {
    let mut builder = Supervisor::builder()
        .database_url(url)
        .http_port(0)
        .set("host", "127.0.0.1")
        .set("mcp_port", 0)
        .set("pool_size", POOL_SIZE)
        .model(product_model());
    for (key, value) in settings {
        builder = builder.set(key, value.clone());
    }
    let handle = builder.start().await.expect("start flowgate");
    assert!(
        handle.wait_ready(Duration::from_secs(30)).await,
        "flowgate not ready: {}",
        handle.board().to_json()
    );
    let store = handle.store().await.expect("flowgate's store");
    // A multi-tenant server's rows belong to the tenant its load's key acts for.
    let tenant = settings
        .iter()
        .any(|(k, _)| *k == "multi_tenant")
        .then_some(LOAD_TENANT);
    seed_for(&store, rows, tenant).await;
    handle
}

/// The tenant of the `tenancy` feature server's rows and key.
const LOAD_TENANT: &str = "acme";

/// The two servers of one backend.
struct Pair {
    backend: &'static str,
    flowgate: flowgate_actors::Handle,
    hand: SocketAddr,
    hand_pool: HandPool,
    cleanup: Cleanup,
}

enum Cleanup {
    Files(Vec<PathBuf>),
    Schemas {
        admin_url: String,
        schemas: Vec<String>,
    },
}

fn sqlite_files(path: &std::path::Path) -> Vec<PathBuf> {
    ["", "-wal", "-shm"]
        .iter()
        .map(|s| PathBuf::from(format!("{}{s}", path.display())))
        .collect()
}

async fn sqlite_pair(rows: usize) -> Pair {
    let dir = std::env::temp_dir();
    let pid = std::process::id();
    let fg_path = dir.join(format!("flowgate-load-fg-{pid}.db"));
    let hand_path = dir.join(format!("flowgate-load-hand-{pid}.db"));
    let mut files = sqlite_files(&fg_path);
    files.extend(sqlite_files(&hand_path));
    for f in &files {
        let _ = std::fs::remove_file(f);
    }
    let flowgate = serve_flowgate(&format!("sqlite://{}", fg_path.display()), rows).await;
    create_and_seed(&format!("sqlite://{}", hand_path.display()), rows).await;
    // The connection settings Flowgate uses for a SQLite file (src/store/pool.rs).
    let opts = SqliteConnectOptions::new()
        .filename(&hand_path)
        .create_if_missing(true)
        .foreign_keys(true)
        .busy_timeout(Duration::from_secs(10))
        .with_regexp()
        .pragma("case_sensitive_like", "ON")
        .journal_mode(SqliteJournalMode::Wal)
        .synchronous(SqliteSynchronous::Normal);
    let pool = SqlitePoolOptions::new()
        .max_connections(POOL_SIZE)
        .acquire_timeout(Duration::from_secs(5))
        .connect_with(opts)
        .await
        .expect("connect the hand-written server's pool");
    let hand_pool = HandPool::Sqlite(pool);
    Pair {
        backend: "sqlite",
        flowgate,
        hand: serve_hand(hand_pool.clone()).await,
        hand_pool,
        cleanup: Cleanup::Files(files),
    }
}

fn with_search_path(base: &str, schema: &str) -> String {
    let sep = if base.contains('?') { '&' } else { '?' };
    format!("{base}{sep}options=-c%20search_path%3D{schema}")
}

async fn postgres_pair(rows: usize) -> Option<Pair> {
    let base = std::env::var(POSTGRES_ENV).unwrap_or_else(|_| POSTGRES_DEFAULT.to_string());
    let admin = match PgPoolOptions::new()
        .max_connections(1)
        .acquire_timeout(Duration::from_secs(3))
        .connect(&base)
        .await
    {
        Ok(p) => p,
        Err(e) => {
            eprintln!("note: PostgreSQL at {base} is unreachable ({e}); skipping PostgreSQL");
            return None;
        }
    };
    let pid = std::process::id();
    let schemas = vec![format!("fgload_fg_{pid}"), format!("fgload_hand_{pid}")];
    for s in &schemas {
        for sql in [
            format!("DROP SCHEMA IF EXISTS \"{s}\" CASCADE"),
            format!("CREATE SCHEMA \"{s}\""),
        ] {
            sqlx::query(AssertSqlSafe(sql))
                .execute(&admin)
                .await
                .expect("create a schema");
        }
    }
    admin.close().await;
    let flowgate = serve_flowgate(&with_search_path(&base, &schemas[0]), rows).await;
    let hand_url = with_search_path(&base, &schemas[1]);
    create_and_seed(&hand_url, rows).await;
    let pool = PgPoolOptions::new()
        .max_connections(POOL_SIZE)
        .acquire_timeout(Duration::from_secs(5))
        .connect(&hand_url)
        .await
        .expect("connect the hand-written server's pool");
    let hand_pool = HandPool::Postgres(pool);
    Some(Pair {
        backend: "postgres",
        flowgate,
        hand: serve_hand(hand_pool.clone()).await,
        hand_pool,
        cleanup: Cleanup::Schemas {
            admin_url: base,
            schemas,
        },
    })
}

impl Pair {
    async fn teardown(self) {
        self.flowgate.shutdown().await;
        match &self.hand_pool {
            HandPool::Sqlite(p) => p.close().await,
            HandPool::Postgres(p) => p.close().await,
        }
        match self.cleanup {
            Cleanup::Files(files) => {
                for f in files {
                    let _ = std::fs::remove_file(f);
                }
            }
            Cleanup::Schemas { admin_url, schemas } => {
                if let Ok(admin) = PgPool::connect(&admin_url).await {
                    for s in schemas {
                        let _ = sqlx::query(AssertSqlSafe(format!(
                            "DROP SCHEMA IF EXISTS \"{s}\" CASCADE"
                        )))
                        .execute(&admin)
                        .await;
                    }
                    admin.close().await;
                }
            }
        }
    }
}

// ---------------------------------------------------------------------------------------------
// The load generator.
// ---------------------------------------------------------------------------------------------

#[derive(Debug, Clone, Copy, PartialEq)]
enum Scenario {
    Read,
    Mixed,
    /// Lists of one category (a filter, a page of `PAGE`), as in the mixed scenario.
    List,
}

impl Scenario {
    fn name(self) -> &'static str {
        match self {
            Scenario::Read => "read",
            Scenario::Mixed => "mixed",
            Scenario::List => "list",
        }
    }
}

/// A small, fast generator (xorshift64*), one per connection.
struct Rng(u64);

impl Rng {
    fn below(&mut self, n: usize) -> usize {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        (self.0.wrapping_mul(0x2545_f491_4f6c_dd1d) >> 33) as usize % n
    }
}

type Sender = http1::SendRequest<Full<Bytes>>;

async fn connect(addr: SocketAddr) -> std::io::Result<Sender> {
    let stream = tokio::net::TcpStream::connect(addr).await?;
    stream.set_nodelay(true)?;
    let (sender, conn) = http1::handshake(TokioIo::new(stream))
        .await
        .map_err(std::io::Error::other)?;
    tokio::spawn(conn);
    Ok(sender)
}

/// Sends one request and reads the whole answer: its status and body.
async fn send(
    sender: &mut Sender,
    method: &str,
    path: &str,
    body: Option<Vec<u8>>,
    auth: Option<&str>,
) -> Result<(StatusCode, Bytes), String> {
    sender.ready().await.map_err(|e| e.to_string())?;
    let mut req = hyper::Request::builder()
        .method(method)
        .uri(path)
        .header("host", "127.0.0.1");
    if let Some(a) = auth {
        req = req.header("authorization", a);
    }
    if body.is_some() {
        req = req.header("content-type", "application/json");
    }
    let req = req
        .body(Full::new(Bytes::from(body.unwrap_or_default())))
        .map_err(|e| e.to_string())?;
    let resp = sender.send_request(req).await.map_err(|e| e.to_string())?;
    let status = resp.status();
    let body = resp
        .into_body()
        .collect()
        .await
        .map_err(|e| e.to_string())?;
    Ok((status, body.to_bytes()))
}

/// What one connection (or, merged, one run) saw in the measured window.
#[derive(Default)]
struct Stats {
    ok: u64,
    errors: u64,
    /// Latencies of the measured requests, in microseconds.
    latencies: Vec<u32>,
    first_error: Option<String>,
    /// CPU time of the whole process (servers, client and database threads) while measuring.
    cpu: Duration,
}

impl Stats {
    fn merge(&mut self, other: Stats) {
        self.ok += other.ok;
        self.errors += other.errors;
        self.latencies.extend(other.latencies);
        self.cpu += other.cpu;
        if self.first_error.is_none() {
            self.first_error = other.first_error;
        }
    }
}

/// One connection sending requests back to back until `end`; requests that start after
/// `measure_from` and finish by `end` are counted.
async fn connection(
    addr: SocketAddr,
    scenario: Scenario,
    index: usize,
    ids: usize,
    measure_from: Instant,
    end: Instant,
    auth: Option<&'static str>,
) -> Stats {
    let mut stats = Stats::default();
    let mut rng = Rng(0x9e37_79b9_7f4a_7c15u64.wrapping_mul(index as u64 + 1) | 1);
    let mut sender = None;
    let mut created = 0usize;
    loop {
        if Instant::now() >= end {
            break;
        }
        let s = match &mut sender {
            Some(s) => s,
            None => match connect(addr).await {
                Ok(s) => sender.insert(s),
                Err(e) => {
                    stats.errors += 1;
                    stats.first_error.get_or_insert(format!("connect: {e}"));
                    tokio::time::sleep(Duration::from_millis(10)).await;
                    continue;
                }
            },
        };
        let pick = match scenario {
            Scenario::Read => 0,
            Scenario::Mixed => rng.below(100),
            Scenario::List => 80,
        };
        let (method, path, body, expect) = if pick < 70 {
            let id = 1 + rng.below(ids);
            ("GET", format!("/api/products/{id}"), None, StatusCode::OK)
        } else if pick < 90 {
            let filter = format!("%7B%22category%22%3A%22{}%22%7D", category(rng.below(50)));
            let path = format!("/api/products?filter={filter}&limit={PAGE}");
            ("GET", path, None, StatusCode::OK)
        } else {
            created += 1;
            // New names per connection, after the seeded ones.
            let body =
                serde_json::to_vec(&sample(SEED_ROWS + index * 1_000_000 + created)).expect("json");
            (
                "POST",
                "/api/products".to_string(),
                Some(body),
                StatusCode::CREATED,
            )
        };
        let started = Instant::now();
        let result = send(s, method, &path, body, auth).await;
        let done = Instant::now();
        let counted = started >= measure_from && done <= end;
        match result {
            Ok((status, _)) if status == expect => {
                if counted {
                    stats.ok += 1;
                    let micros = (done - started).as_micros().min(u32::MAX as u128) as u32;
                    stats.latencies.push(micros);
                }
            }
            Ok((status, body)) => {
                if counted {
                    stats.errors += 1;
                }
                stats.first_error.get_or_insert(format!(
                    "{method} {path}: {status} {}",
                    String::from_utf8_lossy(&body)
                ));
            }
            Err(e) => {
                if counted {
                    stats.errors += 1;
                }
                stats
                    .first_error
                    .get_or_insert(format!("{method} {path}: {e}"));
                sender = None;
            }
        }
    }
    stats
}

/// Drives `addr` with `connections` connections: warm-up, then the measured window.
async fn drive(
    addr: SocketAddr,
    scenario: Scenario,
    ids: usize,
    connections: usize,
    warm_up: Duration,
    measure: Duration,
    auth: Option<&'static str>,
) -> Stats {
    let measure_from = Instant::now() + warm_up;
    let end = measure_from + measure;
    let tasks: Vec<_> = (0..connections)
        .map(|i| tokio::spawn(connection(addr, scenario, i, ids, measure_from, end, auth)))
        .collect();
    let mut total = Stats::default();
    for t in tasks {
        total.merge(t.await.expect("connection task"));
    }
    total
}

/// The measured window of each target (its address and the `Authorization` its load sends),
/// in [`ROUNDS`] rounds in which the targets take turns, in alternating order, so that load
/// from outside the test falls on all alike; each with the process's CPU time of its turns.
fn alternate_rounds(
    client: &tokio::runtime::Runtime,
    targets: &[(SocketAddr, Option<&'static str>)],
    scenario: Scenario,
    rows: usize,
    connections: usize,
    measure: Duration,
) -> Vec<Stats> {
    let mut totals: Vec<Stats> = targets.iter().map(|_| Stats::default()).collect();
    for round in 0..ROUNDS {
        let mut order: Vec<usize> = (0..targets.len()).collect();
        if round % 2 == 1 {
            order.reverse();
        }
        for i in order {
            let cpu = process_cpu();
            let mut stats = client.block_on(drive(
                targets[i].0,
                scenario,
                rows,
                connections,
                Duration::ZERO,
                measure / ROUNDS,
                targets[i].1,
            ));
            stats.cpu = process_cpu().saturating_sub(cpu);
            totals[i].merge(stats);
        }
    }
    totals
}

/// One measured run's figures.
struct Figures {
    rps: f64,
    p50: f64,
    p99: f64,
    errors: u64,
    /// CPU time per request in microseconds: steadier than throughput when other work shares
    /// the machine.
    cpu_us: f64,
}

fn figures(mut stats: Stats, measure: Duration) -> Figures {
    stats.latencies.sort_unstable();
    let pct = |p: f64| -> f64 {
        if stats.latencies.is_empty() {
            return f64::NAN;
        }
        let i =
            ((stats.latencies.len() as f64 * p).ceil() as usize).clamp(1, stats.latencies.len());
        f64::from(stats.latencies[i - 1]) / 1000.0
    };
    if let Some(e) = &stats.first_error {
        eprintln!("  first error: {e}");
    }
    Figures {
        rps: stats.ok as f64 / measure.as_secs_f64(),
        p50: pct(0.50),
        p99: pct(0.99),
        errors: stats.errors,
        cpu_us: stats.cpu.as_secs_f64() * 1e6 / (stats.ok + stats.errors).max(1) as f64,
    }
}

/// The CPU time this process has used so far, user and system, from `/proc/self/stat` (Linux;
/// zero elsewhere). Its unit is the clock tick, 10 ms.
fn process_cpu() -> Duration {
    let Ok(stat) = std::fs::read_to_string("/proc/self/stat") else {
        return Duration::ZERO;
    };
    // The fields after the command name, which is in parentheses: utime and stime are the 12th
    // and 13th of them (fields 14 and 15 of proc(5)).
    let rest = stat.rsplit_once(')').map_or("", |(_, r)| r);
    let ticks: u64 = rest
        .split_whitespace()
        .skip(11)
        .take(2)
        .filter_map(|t| t.parse::<u64>().ok())
        .sum();
    Duration::from_millis(ticks * 10)
}

// ---------------------------------------------------------------------------------------------
// Same answers.
// ---------------------------------------------------------------------------------------------

/// Removes the fields that differ between two runs of the same write (id and timestamps).
fn without_managed(mut v: Value) -> Value {
    if let Some(m) = v.as_object_mut() {
        for key in ["id", "created_at", "updated_at"] {
            m.remove(key);
        }
    }
    v
}

/// The keys of a JSON object, in order (serde_json's map equality ignores order).
fn keys(v: &Value) -> Vec<String> {
    v.as_object()
        .map(|m| m.keys().cloned().collect())
        .unwrap_or_default()
}

async fn get_json(sender: &mut Sender, method: &str, path: &str, body: Option<Value>) -> Value {
    let body = body.map(|b| serde_json::to_vec(&b).expect("json"));
    let (status, bytes) = send(sender, method, path, body, None)
        .await
        .expect("request");
    assert!(
        status.is_success(),
        "{method} {path}: {status} {}",
        String::from_utf8_lossy(&bytes)
    );
    serde_json::from_slice(&bytes).expect("a JSON answer")
}

/// Both servers answer a read, a list and a create with the same JSON (up to the managed fields
/// of rows written at different moments).
async fn check_same_answers(pair: &Pair) {
    let mut fg = connect(pair.flowgate.http_addr()).await.expect("connect");
    let mut hand = connect(pair.hand).await.expect("connect");
    let path = "/api/products/7";
    let (a, b) = (
        get_json(&mut fg, "GET", path, None).await,
        get_json(&mut hand, "GET", path, None).await,
    );
    assert_eq!(keys(&a), keys(&b), "read: keys");
    assert_eq!(without_managed(a), without_managed(b), "read");

    let path = format!("/api/products?filter=%7B%22category%22%3A%22c07%22%7D&limit={PAGE}");
    let (a, b) = (
        get_json(&mut fg, "GET", &path, None).await,
        get_json(&mut hand, "GET", &path, None).await,
    );
    assert_eq!(keys(&a), keys(&b), "list: keys");
    assert_eq!(a["next_cursor"], b["next_cursor"], "list: cursor");
    let records = |v: &Value| -> Vec<Value> {
        v["records"]
            .as_array()
            .expect("records")
            .iter()
            .map(|r| {
                let mut r = r.clone();
                if let Some(m) = r.as_object_mut() {
                    m.remove("created_at");
                    m.remove("updated_at");
                }
                r
            })
            .collect()
    };
    assert_eq!(records(&a).len(), PAGE, "list: page size");
    assert_eq!(records(&a), records(&b), "list: records");

    let body = sample(123_456);
    let (a, b) = (
        get_json(&mut fg, "POST", "/api/products", Some(body.clone())).await,
        get_json(&mut hand, "POST", "/api/products", Some(body)).await,
    );
    assert_eq!(keys(&a), keys(&b), "create: keys");
    assert_eq!(without_managed(a), without_managed(b), "create");
}

// ---------------------------------------------------------------------------------------------

fn env_number(name: &str) -> Option<u64> {
    std::env::var(name).ok().and_then(|v| v.parse().ok())
}

fn load_average() -> String {
    std::fs::read_to_string("/proc/loadavg")
        .map(|s| s.split_whitespace().take(3).collect::<Vec<_>>().join(" "))
        .unwrap_or_else(|_| "unknown".into())
}

// ---------------------------------------------------------------------------------------------
// Production features on and off (auth and rate limits).
// ---------------------------------------------------------------------------------------------

const JWT_SECRET: &str = "a-load-test-secret-of-32-bytes-or-more";

/// A Flowgate server with one production feature on (or none), and the `Authorization` header
/// its load sends.
struct FeatureServer {
    label: &'static str,
    handle: flowgate_actors::Handle,
    auth: Option<&'static str>,
    files: Vec<PathBuf>,
    /// PostgreSQL: the admin URL and the server's schema, dropped at the end.
    schema: Option<(String, String)>,
}

/// The server a feature server is measured against: tenancy against the same auth without it,
/// every other feature against no feature (`None`: a baseline itself).
fn baseline(server: &str) -> Option<&'static str> {
    match server {
        "auth off" | "pg API key" => None,
        "tenancy" => Some("API key"),
        "pg tenancy" => Some("pg API key"),
        _ => Some("auth off"),
    }
}

/// The role the PostgreSQL feature servers connect as: the owner of their schemas, neither a
/// superuser nor `BYPASSRLS`, so that the tenant policy of a scoped table holds (a superuser
/// passes it).
const PG_APP_ROLE: &str = "flowgate_tenant_app";

/// A fresh schema owned by [`PG_APP_ROLE`], and the URL that connects as it there (`None` when
/// PostgreSQL is unreachable).
async fn pg_app_schema(name: &str) -> Option<(String, String)> {
    let base = std::env::var(POSTGRES_ENV).unwrap_or_else(|_| POSTGRES_DEFAULT.to_string());
    let admin = PgPoolOptions::new()
        .max_connections(1)
        .acquire_timeout(Duration::from_secs(3))
        .connect(&base)
        .await
        .ok()?;
    let schema = format!("fgload_{name}_{}", std::process::id());
    for sql in [
        format!(
            "DO $$ BEGIN CREATE ROLE {PG_APP_ROLE} LOGIN NOSUPERUSER NOBYPASSRLS; \
             EXCEPTION WHEN duplicate_object OR unique_violation THEN NULL; END $$"
        ),
        format!("DROP SCHEMA IF EXISTS \"{schema}\" CASCADE"),
        format!("CREATE SCHEMA \"{schema}\" AUTHORIZATION {PG_APP_ROLE}"),
    ] {
        sqlx::raw_sql(AssertSqlSafe(sql))
            .execute(&admin)
            .await
            .expect("a schema for the application role");
    }
    admin.close().await;
    let user = base
        .split_once("://")
        .and_then(|(_, rest)| rest.split_once('@'));
    let url = match user {
        Some((who, _)) => base.replacen(&format!("{who}@"), &format!("{PG_APP_ROLE}@"), 1),
        None => base.replacen("://", &format!("://{PG_APP_ROLE}@"), 1),
    };
    Some((with_search_path(&url, &schema), schema))
}

/// Five servers on SQLite files of their own, each seeded alike: auth off; an API key required
/// and sent; an HS256 JWT required and sent; auth off with a rate limit that never trips (every
/// connection comes from 127.0.0.1, so all of them count against one bucket); and multi-tenant
/// with an API key of a tenant (measured against the API key server: tenancy is the one
/// difference). Then, when PostgreSQL is reachable, the last two again on PostgreSQL, connected
/// as a role the tenant policy holds (`pg API key`, `pg tenancy`).
async fn feature_servers(rows: usize) -> Vec<FeatureServer> {
    let configs: [(&'static str, Vec<(&str, Value)>); 7] = [
        ("auth off", vec![]),
        ("API key", vec![("auth", json!({"required": true}))]),
        (
            "HS256 JWT",
            vec![("auth", json!({"required": true, "jwt_secret": JWT_SECRET}))],
        ),
        (
            "rate limit",
            vec![(
                "rate_limit",
                json!({"default": "1000000000/s burst 1000000000"}),
            )],
        ),
        (
            "tenancy",
            vec![
                ("auth", json!({"required": true})),
                ("multi_tenant", json!(true)),
            ],
        ),
        ("pg API key", vec![("auth", json!({"required": true}))]),
        (
            "pg tenancy",
            vec![
                ("auth", json!({"required": true})),
                ("multi_tenant", json!(true)),
            ],
        ),
    ];
    let mut out = Vec::new();
    for (i, (label, settings)) in configs.into_iter().enumerate() {
        let (url, files, schema) = if let Some(name) = label.strip_prefix("pg ") {
            let Some((url, schema)) = pg_app_schema(&name.replace(" ", "_").to_lowercase()).await
            else {
                eprintln!("note: PostgreSQL is unreachable; skipping features/{label}");
                continue;
            };
            let base = std::env::var(POSTGRES_ENV).unwrap_or_else(|_| POSTGRES_DEFAULT.to_string());
            (url, Vec::new(), Some((base, schema)))
        } else {
            let path = std::env::temp_dir().join(format!(
                "flowgate-load-feature{i}-{}.db",
                std::process::id()
            ));
            let files = sqlite_files(&path);
            for f in &files {
                let _ = std::fs::remove_file(f);
            }
            (format!("sqlite://{}", path.display()), files, None)
        };
        let handle = serve_flowgate_with(&url, rows, &settings).await;
        let token = match label {
            "API key" | "tenancy" | "pg API key" | "pg tenancy" => {
                let keys = handle.api_keys().expect("the key table is open once ready");
                let mut new = flowgate::keys::NewKey::new("load", ["admin"]);
                new.tenant = label.ends_with("tenancy").then(|| LOAD_TENANT.to_string());
                let (_, key) = keys.create(new).await.expect("create a key");
                Some(key)
            }
            "HS256 JWT" => {
                let claims = json!({"sub": "load", "roles": ["admin"], "exp": Utc::now().timestamp() + 3600});
                Some(
                    jsonwebtoken::encode(
                        &jsonwebtoken::Header::new(jsonwebtoken::Algorithm::HS256),
                        &claims,
                        &jsonwebtoken::EncodingKey::from_secret(JWT_SECRET.as_bytes()),
                    )
                    .expect("sign a token"),
                )
            }
            _ => None,
        };
        let auth = token.map(|t| &*Box::leak(format!("Bearer {t}").into_boxed_str()));
        out.push(FeatureServer {
            label,
            handle,
            auth,
            files,
            schema,
        });
    }
    out
}

/// Reads by id against each feature server, in alternating rounds like the pairs.
fn features_run(
    servers: &tokio::runtime::Runtime,
    client: &tokio::runtime::Runtime,
    rows: usize,
    connections: usize,
    warm_up: Duration,
    measure: Duration,
    only: Option<&str>,
) -> Vec<Measured> {
    let all = servers.block_on(feature_servers(rows));
    let (targets, skipped): (Vec<_>, Vec<_>) = all.into_iter().partition(|f| {
        let label = format!("features/{}", f.label);
        only.is_none_or(|o| label.contains(o))
    });
    for f in &targets {
        eprintln!("features/{}: warming up", f.label);
        // Every answer must be a 200: a refused credential would measure the refusal.
        client.block_on(async {
            let mut sender = connect(f.handle.http_addr()).await.expect("connect");
            let (status, body) = send(&mut sender, "GET", "/api/products/1", None, f.auth)
                .await
                .expect("read");
            assert_eq!(
                status,
                StatusCode::OK,
                "{}: {}",
                f.label,
                String::from_utf8_lossy(&body)
            );
        });
        client.block_on(drive(
            f.handle.http_addr(),
            Scenario::Read,
            rows,
            connections,
            Duration::ZERO,
            warm_up,
            f.auth,
        ));
    }
    eprintln!(
        "features (read, then list): {ROUNDS} rounds of {:?} per server and scenario, alternating",
        measure / ROUNDS
    );
    let addrs: Vec<_> = targets
        .iter()
        .map(|f| (f.handle.http_addr(), f.auth))
        .collect();
    let mut results = Vec::new();
    for scenario in [Scenario::Read, Scenario::List] {
        let totals = alternate_rounds(client, &addrs, scenario, rows, connections, measure);
        results.extend(targets.iter().zip(totals).map(|(f, stats)| Measured {
            backend: "features",
            scenario,
            server: f.label,
            figures: figures(stats, measure),
        }));
    }
    for f in targets.into_iter().chain(skipped) {
        servers.block_on(f.handle.shutdown());
        for file in f.files {
            let _ = std::fs::remove_file(file);
        }
        if let Some((admin_url, schema)) = f.schema {
            servers.block_on(async {
                if let Ok(admin) = PgPool::connect(&admin_url).await {
                    let _ = sqlx::query(AssertSqlSafe(format!(
                        "DROP SCHEMA IF EXISTS \"{schema}\" CASCADE"
                    )))
                    .execute(&admin)
                    .await;
                    admin.close().await;
                }
            });
        }
    }
    results
}

/// One measured run: its backend (or `features`), scenario, server and figures.
struct Measured {
    backend: &'static str,
    scenario: Scenario,
    server: &'static str,
    figures: Figures,
}

/// `FLOWGATE_LOAD_COUNT=<server>:<n>` (`flowgate` or `hand-written`): one connection sends `n`
/// reads by id to that server on SQLite, one after another, then the process exits. For counting
/// instructions per request under callgrind (the difference between runs of `n` and `2n`
/// requests), which does not depend on what else the machine is doing.
fn count_mode(
    servers: &tokio::runtime::Runtime,
    client: &tokio::runtime::Runtime,
    spec: &str,
    rows: usize,
) {
    let (server, n) = spec
        .split_once(':')
        .and_then(|(s, n)| Some((s, n.parse::<usize>().ok()?)))
        .expect("FLOWGATE_LOAD_COUNT=<flowgate|hand-written>:<n>");
    let pair = servers.block_on(sqlite_pair(rows));
    let addr = match server {
        "flowgate" => pair.flowgate.http_addr(),
        "hand-written" => pair.hand,
        other => panic!("unknown server {other}"),
    };
    client.block_on(async {
        let mut sender = connect(addr).await.expect("connect");
        // The set-up above takes a varying number of instructions (seeding, the servers'
        // start); a profiler started with instrumentation off turns it on here
        // (`callgrind_control -i on` when this line appears).
        eprintln!("count mode: set up; sending {n} requests in 2 s");
        tokio::time::sleep(Duration::from_secs(2)).await;
        let mut rng = Rng(0x9e37_79b9_7f4a_7c15);
        for _ in 0..n {
            let path = format!("/api/products/{}", rng.below(rows) + 1);
            let (status, _) = send(&mut sender, "GET", &path, None, None)
                .await
                .expect("read");
            assert_eq!(status, StatusCode::OK);
        }
    });
    servers.block_on(pair.teardown());
}

fn main() {
    // `cargo bench` passes --bench; anything else (cargo test --benches) gets a smoke run.
    let full = std::env::args().any(|a| a == "--bench");
    let (rows, warm_up, measure) = if full {
        let secs = env_number("FLOWGATE_LOAD_SECONDS").unwrap_or(MEASURE.as_secs());
        (SEED_ROWS, WARM_UP, Duration::from_secs(secs.max(1)))
    } else {
        (
            1_000,
            Duration::from_millis(200),
            Duration::from_millis(500),
        )
    };
    let connections = env_number("FLOWGATE_LOAD_CONNECTIONS").map_or(CONNECTIONS, |n| n as usize);
    // Only the runs whose `backend/scenario/server` label contains this text (for profiling).
    let only = std::env::var("FLOWGATE_LOAD_ONLY").ok();
    // With a filter such as `info`, a fmt subscriber records spans and events (into a sink), as
    // in the `flowgate` binary; without it nothing is recorded, as in an application without one.
    if let Ok(filter) = std::env::var("FLOWGATE_LOAD_LOG") {
        tracing_subscriber::fmt()
            .with_env_filter(tracing_subscriber::EnvFilter::new(filter))
            .with_writer(std::io::sink)
            .init();
    }

    // The servers share one runtime with a worker per core, as an application would run them;
    // the load comes from a single-threaded runtime on a thread of its own.
    let servers = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .expect("server runtime");
    let client = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("client runtime");

    eprintln!(
        "load test: {connections} connections, {:?} warm-up + {:?} measured per run, {rows} rows; load average {}",
        warm_up,
        measure,
        load_average()
    );
    if let Ok(spec) = std::env::var("FLOWGATE_LOAD_COUNT") {
        count_mode(&servers, &client, &spec, rows);
        return;
    }
    let mut results: Vec<Measured> = Vec::new();
    let mut pairs = vec![servers.block_on(sqlite_pair(rows))];
    if let Some(pg) = servers.block_on(postgres_pair(rows)) {
        pairs.push(pg);
    }
    for pair in pairs {
        client.block_on(check_same_answers(&pair));
        for scenario in [Scenario::Read, Scenario::Mixed] {
            let targets: Vec<(&'static str, SocketAddr)> = [
                ("flowgate", pair.flowgate.http_addr()),
                ("hand-written", pair.hand),
            ]
            .into_iter()
            .filter(|(server, _)| {
                let label = format!("{}/{}/{server}", pair.backend, scenario.name());
                only.as_deref().is_none_or(|f| label.contains(f))
            })
            .collect();
            for (server, addr) in &targets {
                eprintln!("{}/{}/{server}: warming up", pair.backend, scenario.name());
                client.block_on(drive(
                    *addr,
                    scenario,
                    rows,
                    connections,
                    Duration::ZERO,
                    warm_up,
                    None,
                ));
            }
            eprintln!(
                "{}/{}: {ROUNDS} rounds of {:?} per server, alternating",
                pair.backend,
                scenario.name(),
                measure / ROUNDS
            );
            let addrs: Vec<_> = targets.iter().map(|(_, addr)| (*addr, None)).collect();
            let totals = alternate_rounds(&client, &addrs, scenario, rows, connections, measure);
            for ((server, _), stats) in targets.iter().zip(totals) {
                results.push(Measured {
                    backend: pair.backend,
                    scenario,
                    server,
                    figures: figures(stats, measure),
                });
            }
        }
        servers.block_on(pair.teardown());
    }
    results.extend(features_run(
        &servers,
        &client,
        rows,
        connections,
        warm_up,
        measure,
        only.as_deref(),
    ));

    println!(
        "\nLoad test: {connections} connections; per server and scenario {}s warm-up, then {}s measured in {ROUNDS} alternating rounds; load average now {}",
        warm_up.as_secs_f64(),
        measure.as_secs_f64(),
        load_average()
    );
    println!(
        "{:<9} {:<9} {:<13} {:>9} {:>8} {:>8} {:>7} {:>12} {:>11} {:>11}",
        "backend",
        "scenario",
        "server",
        "req/s",
        "p50 ms",
        "p99 ms",
        "errors",
        "CPU us/req",
        "req/s ratio",
        "CPU ratio"
    );
    for r in &results {
        // Flowgate's rows carry the ratios: its throughput over the hand-written server's, and
        // the hand-written server's CPU per request over its own (both 1.0 when equal, lower
        // when Flowgate does worse).
        // The feature rows carry theirs against the same server with no feature on.
        let hand = results.iter().find(|h| {
            if r.backend == "features" {
                // Tenancy is measured against the same server without it (an API key).
                return h.backend == "features"
                    && Some(h.server) == baseline(r.server)
                    && h.scenario == r.scenario;
            }
            r.server == "flowgate"
                && h.server == "hand-written"
                && h.backend == r.backend
                && h.scenario == r.scenario
        });
        let (rps_ratio, cpu_ratio) = hand.map_or((String::new(), String::new()), |h| {
            (
                format!("{:.2}", r.figures.rps / h.figures.rps),
                format!("{:.2}", h.figures.cpu_us / r.figures.cpu_us),
            )
        });
        println!(
            "{:<9} {:<9} {:<13} {:>9.0} {:>8.2} {:>8.2} {:>7} {:>12.1} {:>11} {:>11}",
            r.backend,
            r.scenario.name(),
            r.server,
            r.figures.rps,
            r.figures.p50,
            r.figures.p99,
            r.figures.errors,
            r.figures.cpu_us,
            rps_ratio,
            cpu_ratio
        );
    }
    if !full {
        println!("(a smoke run: short and in the test profile, so these figures mean nothing)");
        return;
    }
    for r in results.iter().filter(|r| r.backend == "features") {
        let Some(baseline) = baseline(r.server) else {
            continue;
        };
        let off = results
            .iter()
            .find(|o| o.backend == "features" && o.server == baseline && o.scenario == r.scenario);
        if let Some(off) = off {
            let rps = r.figures.rps / off.figures.rps;
            let cpu = off.figures.cpu_us / r.figures.cpu_us;
            println!(
                "goal: {} >= 0.95 of {} on {}: req/s {rps:.2}, CPU {cpu:.2} {}",
                r.server,
                off.server,
                r.scenario.name(),
                if rps.max(cpu) >= 0.95 { "ok" } else { "MISSED" }
            );
        }
    }
    if let Some(r) = results
        .iter()
        .find(|r| r.server == "flowgate" && r.backend == "sqlite" && r.scenario == Scenario::Read)
    {
        let hand = results.iter().find(|h| {
            h.server == "hand-written" && h.backend == "sqlite" && h.scenario == Scenario::Read
        });
        if let Some(h) = hand {
            let ratio = r.figures.rps / h.figures.rps;
            println!(
                "goal: flowgate >= 0.80 of the hand-written throughput on read by id (sqlite): {ratio:.2} {}",
                if ratio >= 0.8 { "ok" } else { "MISSED" }
            );
        }
    }
}
