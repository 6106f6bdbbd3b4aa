//! The audit trail's cost (issue 13): single-row creates and updates and bulk creates of 10,000
//! rows, through the data layer, on two identical models of one database, one on a store with
//! `audit_log` and one without, in alternating rounds of the same run. Prints each figure and
//! the ratio audited / unaudited throughput (goals: 0.85 for single rows, 0.7 for bulk).
//!
//! `cargo bench --bench audit` (SQLite; PostgreSQL too at `FLOWGATE_BENCH_POSTGRES_URL`, default
//! `postgres://postgres@127.0.0.1:5432/postgres`, in a schema of its own, dropped after).
//! `FLOWGATE_BENCH_ROUNDS` (default 5) rounds of `FLOWGATE_BENCH_OPS` (default 1000) operations.

mod support;
use flowgate::{Context, FieldDef, ModelDef, OpKind, Store, StoreConfig};
use serde_json::{Value, json};
use std::time::{Duration, Instant};

const BULK_ROWS: usize = 10_000;

fn model(name: &str) -> ModelDef {
    ModelDef::new(name)
        .field(FieldDef::string("name").max_length(80))
        .field(FieldDef::integer("stock").default(0))
        .field(FieldDef::decimal("price").optional())
        .field(FieldDef::boolean("active").default(true))
        .field(FieldDef::text("notes").optional())
}

fn record(i: usize) -> Value {
    json!({"name": format!("product {i}"), "stock": i % 100, "price": "9.99", "notes": "a note"})
}

struct Side {
    label: &'static str,
    store: Store,
    model: &'static str,
    ids: Vec<Value>,
    create: Duration,
    update: Duration,
    bulk: Duration,
}

async fn open(url: &str, audit: bool, name: &'static str) -> Store {
    let mut cfg = StoreConfig::new(url);
    cfg.pool_size = 4;
    cfg.audit_log = audit;
    Store::open_with(&cfg, [model(name)]).await.expect("open")
}

async fn round(side: &mut Side, ops: usize, offset: usize) {
    let ctx = Context::internal();
    let m = side.store.model(side.model).unwrap();
    let started = Instant::now();
    for i in 0..ops {
        let out = side
            .store
            .run(&ctx, &m, OpKind::Create, &record(offset + i))
            .await
            .expect("create");
        side.ids.push(out["id"].clone());
    }
    side.create += started.elapsed();
    let started = Instant::now();
    for (i, id) in side.ids.iter().rev().take(ops).enumerate() {
        side.store
            .run(
                &ctx,
                &m,
                OpKind::Update,
                &json!({"id": id, "fields": {"stock": i}}),
            )
            .await
            .expect("update");
    }
    side.update += started.elapsed();
    let data: Vec<Value> = (0..BULK_ROWS).map(|i| record(offset * 10 + i)).collect();
    let params = json!({"data": data});
    let started = Instant::now();
    let out = side
        .store
        .run(&ctx, &m, OpKind::BulkCreate, &params)
        .await
        .expect("bulk create");
    side.bulk += started.elapsed();
    assert_eq!(out["inserted"], BULK_ROWS);
}

async fn measure(backend: &str, url: &str, rounds: usize, ops: usize) {
    let mut sides = [
        Side {
            label: "audit off",
            store: open(url, false, "Plain").await,
            model: "Plain",
            ids: Vec::new(),
            create: Duration::ZERO,
            update: Duration::ZERO,
            bulk: Duration::ZERO,
        },
        Side {
            label: "audit on",
            store: open(url, true, "Audited").await,
            model: "Audited",
            ids: Vec::new(),
            create: Duration::ZERO,
            update: Duration::ZERO,
            bulk: Duration::ZERO,
        },
    ];
    // A warm-up round each, not counted.
    for s in sides.iter_mut() {
        round(s, ops / 5, 1_000_000).await;
        s.create = Duration::ZERO;
        s.update = Duration::ZERO;
        s.bulk = Duration::ZERO;
    }
    for r in 0..rounds {
        // Alternate which side goes first.
        let order = if r % 2 == 0 { [0, 1] } else { [1, 0] };
        for i in order {
            round(&mut sides[i], ops, (r + 2) * 100_000).await;
        }
    }
    let per = |d: Duration, n: usize| d.as_secs_f64() * 1e6 / n as f64;
    println!(
        "{backend}: {rounds} rounds of {ops} creates, {ops} updates and one bulk create of {BULK_ROWS}"
    );
    for s in &sides {
        println!(
            "  {:<9} create {:>7.1} µs/op  update {:>7.1} µs/op  bulk create {:>8.1} ms",
            s.label,
            per(s.create, rounds * ops),
            per(s.update, rounds * ops),
            s.bulk.as_secs_f64() * 1e3 / rounds as f64
        );
    }
    let (off, on) = (&sides[0], &sides[1]);
    let ratio = |a: Duration, b: Duration| a.as_secs_f64() / b.as_secs_f64();
    println!(
        "  audited / unaudited throughput: create {:.2} (goal 0.85), update {:.2} (goal 0.85), bulk create {:.2} (goal 0.7)",
        ratio(off.create, on.create),
        ratio(off.update, on.update),
        ratio(off.bulk, on.bulk)
    );
    for s in sides {
        s.store.close().await;
    }
}

fn main() {
    let rounds: usize = std::env::var("FLOWGATE_BENCH_ROUNDS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(5);
    let ops: usize = std::env::var("FLOWGATE_BENCH_OPS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(1000);
    // `cargo test --benches` runs this once in the test profile: a smoke run.
    let smoke = std::env::args().any(|a| a == "--test") || cfg!(debug_assertions);
    let (rounds, ops) = if smoke { (1, 20) } else { (rounds, ops) };
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("runtime");
    rt.block_on(async {
        let path =
            std::env::temp_dir().join(format!("flowgate-audit-bench-{}.db", std::process::id()));
        let files: Vec<String> = ["", "-wal", "-shm"]
            .iter()
            .map(|s| format!("{}{s}", path.display()))
            .collect();
        for f in &files {
            let _ = std::fs::remove_file(f);
        }
        measure(
            "sqlite",
            &format!("sqlite://{}", path.display()),
            rounds,
            ops,
        )
        .await;
        for f in &files {
            let _ = std::fs::remove_file(f);
        }
        let Some(pg) = support::pg_schema("fg_audit_bench").await else {
            return;
        };
        measure("postgres", &pg.url, rounds, ops).await;
        pg.drop().await;
    });
}
