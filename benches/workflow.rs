//! Workflow overhead: a three-node workflow (create, then read the created record, then count)
//! against the same three operations called one after another on the same `Store`, in the same
//! run (DESIGN section 11).
//!
//! Both sides do the same statements on the same SQLite file (WAL, `synchronous = NORMAL`) through
//! the same pool; the workflow adds input checking, templating, the connection from the create's
//! `id` to the read, scheduling and the result map. Criterion measures both (`workflow/sqlite`);
//! then a fixed sample, in interleaved rounds so that drift hits both alike, prints each side's
//! p50 and p99 and the overhead ratio workflow / direct at p50.
//!
//! `workflow/transform` times single `TransformNode` runs (jq through jaq, on a thread of its own
//! under the run's limits): a small reshaping, and filtering, sorting and reshaping 500 records.
//!
//! `cargo bench --bench workflow` (`-- --quick` for a short run; `-- transform` for the
//! transforms alone).

use criterion::Criterion;
use flowgate::workflow::{Connection, InputType, Workflow, WorkflowBuilder};
use flowgate::{Context, FieldDef, ModelDef, OpKind, Operation, Schema, Store, StoreConfig};
use serde_json::{Value, json};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

/// Calls per side in each round of the fixed sample, and the rounds.
const PER_ROUND: usize = 200;
const ROUNDS: usize = 5;

fn product() -> ModelDef {
    ModelDef::new("Product")
        .field(FieldDef::string("name").max_length(120))
        .field(FieldDef::integer("stock"))
        .field(FieldDef::boolean("active"))
}

fn workflow() -> Workflow {
    WorkflowBuilder::new("stock")
        .input("name", InputType::String)
        .input("stock", InputType::Integer)
        .add_node(
            "ProductCreateNode",
            "create",
            json!({"name": "${name}", "stock": "${stock}", "active": true}),
        )
        .add_node("ProductReadNode", "read", json!({}))
        .add_node(
            "ProductCountNode",
            "count",
            json!({"filter": {"active": true}}),
        )
        .connect("create", "id", "read", "id")
        .connection(Connection::order("read", "", "count"))
        .build()
        .expect("a valid workflow")
}

/// A workflow of one `TransformNode` running `expr` on the input `items`.
fn transform(expr: &str) -> Workflow {
    WorkflowBuilder::new("transform")
        .input("items", InputType::Any)
        .add_node(
            "TransformNode",
            "t",
            json!({"expr": expr, "input": "${items}"}),
        )
        .build()
        .expect("a valid workflow")
}

/// 500 records of an order list.
fn records() -> Value {
    (0..500)
        .map(|i| {
            json!({
                "id": i,
                "name": format!("item {i}"),
                "price": (i * 37) % 101,
                "qty": i % 7,
                "active": i % 3 != 0,
                "tags": ["a", "b", format!("t{}", i % 5)],
            })
        })
        .collect()
}

struct Sides {
    store: Store,
    wf: Workflow,
    ctx: Context,
    n: AtomicUsize,
}

impl Sides {
    fn next(&self) -> usize {
        self.n.fetch_add(1, Ordering::Relaxed)
    }

    /// The three operations, one after another, as an application would call them.
    async fn direct(&self) -> Value {
        let i = self.next();
        let created = self
            .store
            .execute(
                &self.ctx,
                &Operation::new(
                    "Product",
                    OpKind::Create,
                    json!({"name": format!("product {i}"), "stock": i, "active": true}),
                ),
            )
            .await
            .expect("create");
        let read = self
            .store
            .execute(
                &self.ctx,
                &Operation::new("Product", OpKind::Read, json!({"id": created["id"]})),
            )
            .await
            .expect("read");
        let count = self
            .store
            .execute(
                &self.ctx,
                &Operation::new(
                    "Product",
                    OpKind::Count,
                    json!({"filter": {"active": true}}),
                ),
            )
            .await
            .expect("count");
        json!({"create": created, "read": read, "count": count})
    }

    /// The same through the workflow.
    async fn workflow(&self) -> Value {
        let i = self.next();
        let out = self
            .wf
            .run(
                &self.store,
                &self.ctx,
                &json!({"name": format!("product {i}"), "stock": i}),
            )
            .await
            .expect("workflow run");
        Value::Object(out.results.into_iter().collect())
    }
}

fn percentile(sorted: &[Duration], p: f64) -> Duration {
    sorted[((sorted.len() as f64 - 1.0) * p).round() as usize]
}

fn micros(d: Duration) -> f64 {
    d.as_secs_f64() * 1e6
}

async fn sample(s: &Sides) {
    let mut direct = Vec::with_capacity(PER_ROUND * ROUNDS);
    let mut wf = Vec::with_capacity(PER_ROUND * ROUNDS);
    for _ in 0..ROUNDS {
        for _ in 0..PER_ROUND {
            let t = Instant::now();
            std::hint::black_box(s.direct().await);
            direct.push(t.elapsed());
        }
        for _ in 0..PER_ROUND {
            let t = Instant::now();
            std::hint::black_box(s.workflow().await);
            wf.push(t.elapsed());
        }
    }
    direct.sort();
    wf.sort();
    let (d50, w50) = (percentile(&direct, 0.5), percentile(&wf, 0.5));
    println!(
        "create + read + count on SQLite, {} runs each (p50 / p99):",
        direct.len()
    );
    println!(
        "  direct    {:>7.1} us / {:>7.1} us",
        micros(d50),
        micros(percentile(&direct, 0.99))
    );
    println!(
        "  workflow  {:>7.1} us / {:>7.1} us",
        micros(w50),
        micros(percentile(&wf, 0.99))
    );
    println!(
        "  overhead: workflow / direct at p50 = {:.3} ({:+.1} us per run)",
        micros(w50) / micros(d50),
        micros(w50) - micros(d50)
    );
}

fn main() {
    let mut c = Criterion::default().configure_from_args();
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .expect("tokio runtime");
    let dir = std::env::temp_dir().join(format!("flowgate-bench-wf-{}", std::process::id()));
    std::fs::create_dir_all(&dir).expect("temp dir");
    let url = format!("sqlite://{}", dir.join("bench.db").display());

    let sides = rt.block_on(async {
        let mut cfg = StoreConfig::new(&url);
        cfg.pool_size = 4;
        let store = Store::connect(&cfg, Schema::new([product()]).expect("valid model"))
            .await
            .expect("connect");
        store.create_tables().await.expect("tables");
        let wf = workflow();
        wf.check(&store.schema())
            .expect("the workflow fits the model");
        let s = Sides {
            store,
            wf,
            ctx: Context::internal(),
            n: AtomicUsize::new(0),
        };
        // The same shape of answer either way, before anything is timed.
        let (d, w) = (s.direct().await, s.workflow().await);
        assert_eq!(d["read"]["name"], "product 0");
        assert_eq!(w["read"]["name"], "product 1");
        assert_eq!(w["count"]["count"], 2);
        s
    });

    let mut g = c.benchmark_group("workflow/sqlite");
    g.bench_function("direct", |b| b.to_async(&rt).iter(|| sides.direct()));
    g.bench_function("workflow", |b| b.to_async(&rt).iter(|| sides.workflow()));
    g.finish();

    let small = transform("{sum: (.a + .b), who: \"\\(.who)!\"}");
    let small_in = json!({"items": {"a": 1, "b": 2, "who": "ada"}});
    let records_wf = transform(
        "map(select(.active)) | sort_by(.price) \
         | map({id, name: (.name | ascii_upcase), total: (.price * .qty), \
                tags: (.tags | join(\",\"))}) \
         | {count: length, top: .[-3:], total: (map(.total) | add)}",
    );
    let records_in = json!({"items": records()});
    let run = |wf: &Workflow, inputs: &Value| {
        let (wf, inputs) = (wf.clone(), inputs.clone());
        let (store, ctx) = (&sides.store, &sides.ctx);
        async move {
            wf.run(store, ctx, &inputs)
                .await
                .expect("transform run")
                .results
        }
    };
    let mut g = c.benchmark_group("workflow/transform");
    g.bench_function("small", |b| b.to_async(&rt).iter(|| run(&small, &small_in)));
    g.bench_function("records", |b| {
        b.to_async(&rt).iter(|| run(&records_wf, &records_in))
    });
    g.finish();

    rt.block_on(sample(&sides));
    rt.block_on(sides.store.close());
    let _ = std::fs::remove_dir_all(&dir);
    c.final_summary();
}
