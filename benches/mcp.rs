//! MCP against REST on the same in-process server, in the same run: one record by id as
//! `GET /api/products/{id}` and as the tool `products_read` over streamable HTTP. Both go through
//! the same dispatcher and node, so the difference is the channel.
//!
//! Three clients, each on keep-alive connections:
//! - `rest`: reqwest, `GET /api/products/{id}`;
//! - `mcp_raw`: the same reqwest client posting the JSON-RPC `tools/call` in an initialized
//!   session and reading the answer (one JSON body): the server's MCP cost, client for client;
//! - `mcp`: rmcp's streamable HTTP client, as an MCP application would call the tool.
//!
//! Criterion measures the three (`read/...`). Then a fixed sample, in interleaved rounds so that
//! drift hits all alike, prints each client's p50 and p99 and the p50 ratios to REST (the goal:
//! MCP within 1.5 times REST). Then throughput, in interleaved rounds too: each client in turn
//! with [`CALLERS`] concurrent callers for [`ROUND`], calls per second and the ratios to REST.
//!
//! First it prints the size of the `tools/list` answer for 10 models of 6 fields each, per
//! model and compact (`[mcp] tools`), in characters and in tokens at 4 characters a token, and
//! writes both answers to `target/mcp-tools/` for `python3 benches/tool_tokens.py`, which counts
//! cl100k_base tokens. `FLOWGATE_BENCH_MCP_SIZES_ONLY=1 cargo bench --bench mcp` stops there.
//!
//! SQLite, on a temporary file. `cargo bench --bench mcp`.

use criterion::Criterion;
use flowgate::{FieldDef, ModelDef};
use flowgate_actors::{Handle, Supervisor};
use rmcp::model::{CallToolRequestParams, ListToolsResult};
use rmcp::service::RunningService;
use rmcp::transport::StreamableHttpClientTransport;
use rmcp::{RoleClient, ServiceExt};
use serde_json::{Value, json};
use std::time::{Duration, Instant};

/// Records seeded before the reads.
const SEED: usize = 100;
/// Calls per channel in each round of the fixed sample, and the rounds (also of throughput).
const PER_ROUND: usize = 250;
const ROUNDS: usize = 8;
/// Concurrent callers of one client in the throughput rounds, and the length of a round.
const CALLERS: usize = 16;
const ROUND: Duration = Duration::from_millis(250);

fn product(name: &str) -> ModelDef {
    ModelDef::new(name)
        .description(format!("A {name} in the catalog"))
        .field(FieldDef::string("name").max_length(120))
        .field(FieldDef::integer("stock"))
        .field(FieldDef::float("price"))
        .field(FieldDef::boolean("active"))
        .field(FieldDef::datetime("released_at"))
        .field(FieldDef::text("notes").optional())
}

async fn start(url: &str, models: Vec<ModelDef>) -> Handle {
    start_with(url, models, json!({})).await
}

/// A server with `[mcp]` settings.
async fn start_with(url: &str, models: Vec<ModelDef>, mcp: Value) -> Handle {
    let handle = Supervisor::builder()
        .set("mcp", mcp)
        .database_url(url)
        .http_port(0)
        .mcp_port(0)
        .set("host", "127.0.0.1")
        .models(models)
        .start()
        .await
        .expect("start");
    assert!(handle.wait_ready(Duration::from_secs(30)).await, "ready");
    handle
}

async fn connect(handle: &Handle) -> RunningService<RoleClient, ()> {
    let transport =
        StreamableHttpClientTransport::from_uri(format!("http://{}/mcp", handle.mcp_addr()));
    ().serve(transport).await.expect("initialize")
}

struct Channels {
    http: reqwest::Client,
    base: String,
    mcp: RunningService<RoleClient, ()>,
    ids: Vec<Value>,
    raw_url: String,
    session: String,
}

impl Channels {
    async fn rest(&self, i: usize) -> Value {
        let id = &self.ids[i % self.ids.len()];
        self.http
            .get(format!("{}/api/products/{id}", self.base))
            .send()
            .await
            .expect("GET")
            .json()
            .await
            .expect("JSON")
    }

    /// A `tools/call` posted by hand in the session; the answer, as text.
    async fn raw(&self, i: usize) -> String {
        let id = &self.ids[i % self.ids.len()];
        self.http
            .post(&self.raw_url)
            .header("mcp-session-id", &self.session)
            .header("mcp-protocol-version", "2025-11-25")
            .header("accept", "application/json, text/event-stream")
            .json(&json!({
                "jsonrpc": "2.0", "id": i, "method": "tools/call",
                "params": {"name": "products_read", "arguments": {"id": id}},
            }))
            .send()
            .await
            .expect("POST")
            .text()
            .await
            .expect("text")
    }

    async fn mcp(&self, i: usize) -> Value {
        let id = &self.ids[i % self.ids.len()];
        let mut args = serde_json::Map::new();
        args.insert("id".into(), id.clone());
        let r = self
            .mcp
            .call_tool(CallToolRequestParams::new("products_read").with_arguments(args))
            .await
            .expect("tools/call");
        r.structured_content.expect("structuredContent")
    }
}

fn percentile(sorted: &[Duration], p: f64) -> Duration {
    sorted[((sorted.len() as f64 - 1.0) * p).round() as usize]
}

fn micros(d: Duration) -> f64 {
    d.as_secs_f64() * 1e6
}

/// The three clients.
#[derive(Clone, Copy)]
enum Client {
    Rest,
    Raw,
    Mcp,
}

const CLIENTS: [(Client, &str); 3] = [
    (Client::Rest, "rest"),
    (Client::Raw, "mcp_raw"),
    (Client::Mcp, "mcp"),
];

impl Channels {
    /// One read by `client`.
    async fn one(&self, client: Client, i: usize) {
        match client {
            Client::Rest => drop(std::hint::black_box(self.rest(i).await)),
            Client::Raw => drop(std::hint::black_box(self.raw(i).await)),
            Client::Mcp => drop(std::hint::black_box(self.mcp(i).await)),
        }
    }
}

/// The fixed sample: interleaved rounds of each client, then p50 and p99 of each.
async fn sample(ch: &Channels) {
    let mut times: [Vec<Duration>; 3] =
        std::array::from_fn(|_| Vec::with_capacity(PER_ROUND * ROUNDS));
    for round in 0..ROUNDS {
        for (k, (client, _)) in CLIENTS.iter().enumerate() {
            for i in 0..PER_ROUND {
                let t = Instant::now();
                ch.one(*client, round * PER_ROUND + i).await;
                times[k].push(t.elapsed());
            }
        }
    }
    let r50 = micros(percentile(sorted(&mut times[0]), 0.5));
    println!("read by id, {} calls each (p50 / p99):", times[0].len());
    for ((_, name), v) in CLIENTS.iter().zip(times.iter_mut()) {
        let v = sorted(v);
        println!(
            "  {name:<8} {:>6.0} us / {:>6.0} us   p50 ratio to REST {:.2}",
            micros(percentile(v, 0.5)),
            micros(percentile(v, 0.99)),
            micros(percentile(v, 0.5)) / r50,
        );
    }
    println!("  (goal: MCP within 1.50 times REST at p50)");
}

/// Throughput: each client in turn, [`CALLERS`] callers for [`ROUND`], [`ROUNDS`] times.
async fn throughput(ch: &Channels) {
    let mut calls = [0usize; 3];
    let mut spent = [Duration::ZERO; 3];
    for _ in 0..ROUNDS {
        for (k, (client, _)) in CLIENTS.iter().enumerate() {
            let start = Instant::now();
            let deadline = start + ROUND;
            let callers = (0..CALLERS).map(|c| async move {
                let mut n = 0;
                while Instant::now() < deadline {
                    ch.one(*client, c * 7919 + n).await;
                    n += 1;
                }
                n
            });
            calls[k] += futures_util::future::join_all(callers)
                .await
                .iter()
                .sum::<usize>();
            spent[k] += start.elapsed();
        }
    }
    let rate = |k: usize| calls[k] as f64 / spent[k].as_secs_f64();
    println!("read by id, {CALLERS} concurrent callers, {ROUNDS} rounds of {ROUND:?} each:");
    for (k, (_, name)) in CLIENTS.iter().enumerate() {
        println!(
            "  {name:<8} {:>7.0} calls/s   ratio to REST {:.2}",
            rate(k),
            rate(k) / rate(0),
        );
    }
}

fn sorted(v: &mut [Duration]) -> &[Duration] {
    v.sort();
    v
}

/// The `tools/list` answer for 10 models of 6 fields, as it goes on the wire: per model with
/// every operation, per model with four (`[mcp] default_tools`), and compact. Each answer is also written to
/// `target/mcp-tools/<mode>.json`, with the server instructions beside it
/// (`<mode>.instructions.txt`), for `benches/tool_tokens.py` to count in cl100k_base tokens.
async fn tool_list_sizes(dir: &std::path::Path) {
    let out = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("target/mcp-tools");
    std::fs::create_dir_all(&out).expect("target/mcp-tools");
    let modes = [
        ("per_model", json!({"tools": "per_model"})),
        // Every model limited to four operations by `[mcp] default_tools`.
        (
            "per_model_4_ops",
            json!({"tools": "per_model", "default_tools": ["read", "list", "count", "create"]}),
        ),
        ("compact", json!({"tools": "compact"})),
    ];
    for (mode, settings) in modes {
        let url = format!("sqlite://{}", dir.join(format!("ten-{mode}.db")).display());
        let models = (0..10).map(|i| product(&format!("Product{i}"))).collect();
        let handle = start_with(&url, models, settings).await;
        let client = connect(&handle).await;
        let tools = client.list_all_tools().await.expect("tools/list");
        let instructions = client
            .peer_info()
            .and_then(|i| i.instructions.clone())
            .unwrap_or_default();
        let json = serde_json::to_string(&ListToolsResult::with_all_items(tools.clone()))
            .expect("serialize");
        std::fs::write(out.join(format!("{mode}.json")), &json).expect("write the list");
        std::fs::write(out.join(format!("{mode}.instructions.txt")), &instructions)
            .expect("write the instructions");
        let inputs: usize = tools
            .iter()
            .map(|t| serde_json::to_string(&t.input_schema).map_or(0, |s| s.len()))
            .sum();
        println!(
            "tools/list for 10 models of 6 fields, {mode}: {} tools, {} characters, ~{} tokens \
             at 4 characters a token (input schemas {} characters, the rest {}); instructions \
             {} characters. Exact cl100k_base counts: python3 benches/tool_tokens.py",
            tools.len(),
            json.len(),
            json.len() / 4,
            inputs,
            json.len() - inputs,
            instructions.len(),
        );
        let _ = client.cancel().await;
        handle.shutdown().await;
    }
}

fn main() {
    let mut c = Criterion::default().configure_from_args();
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(4)
        .enable_all()
        .build()
        .expect("tokio runtime");
    let dir = std::env::temp_dir().join(format!("flowgate-bench-mcp-{}", std::process::id()));
    std::fs::create_dir_all(&dir).expect("temp dir");
    let url = format!("sqlite://{}", dir.join("bench.db").display());
    rt.block_on(tool_list_sizes(&dir));
    if std::env::var_os("FLOWGATE_BENCH_MCP_SIZES_ONLY").is_some() {
        let _ = std::fs::remove_dir_all(&dir);
        return;
    }

    let (handle, ch) = rt.block_on(async {
        let handle = start(&url, vec![product("Product")]).await;
        let http = reqwest::Client::builder()
            .no_proxy()
            .build()
            .expect("http client");
        let base = format!("http://{}", handle.http_addr());
        let mut ids = Vec::with_capacity(SEED);
        for i in 0..SEED {
            let created: Value = http
                .post(format!("{base}/api/products"))
                .json(&json!({
                    "name": format!("product {i}"), "stock": i, "price": 9.5, "active": true,
                    "released_at": "2026-01-02T03:04:05Z", "notes": null,
                }))
                .send()
                .await
                .expect("create")
                .json()
                .await
                .expect("JSON");
            ids.push(created["id"].clone());
        }
        let mcp = connect(&handle).await;
        let raw_url = format!("http://{}/mcp", handle.mcp_addr());
        let init = http
            .post(&raw_url)
            .header("accept", "application/json, text/event-stream")
            .json(&json!({
                "jsonrpc": "2.0", "id": 0, "method": "initialize",
                "params": {"protocolVersion": "2025-11-25", "capabilities": {},
                           "clientInfo": {"name": "raw", "version": "0"}},
            }))
            .send()
            .await
            .expect("init");
        let session = init
            .headers()
            .get("mcp-session-id")
            .map(|v| v.to_str().unwrap().to_string())
            .unwrap_or_default();
        let _ = init.text().await;
        let _ = http
            .post(&raw_url)
            .header("mcp-session-id", &session)
            .header("mcp-protocol-version", "2025-11-25")
            .header("accept", "application/json, text/event-stream")
            .json(&json!({"jsonrpc": "2.0", "method": "notifications/initialized"}))
            .send()
            .await
            .expect("initialized");
        let ch = Channels {
            http,
            base,
            mcp,
            ids,
            raw_url,
            session,
        };
        assert!(
            ch.raw(0).await.contains("structuredContent"),
            "a tool answer"
        );
        // The same record either way, before anything is timed.
        for i in 0..SEED {
            assert_eq!(ch.rest(i).await, ch.mcp(i).await);
        }
        (handle, ch)
    });

    let mut g = c.benchmark_group("read");
    let mut n = 0usize;
    g.bench_function("mcp_raw", |b| {
        b.to_async(&rt).iter(|| {
            n += 1;
            ch.raw(n)
        })
    });
    let mut n = 0usize;
    g.bench_function("rest", |b| {
        b.to_async(&rt).iter(|| {
            n += 1;
            ch.rest(n)
        })
    });
    let mut n = 0usize;
    g.bench_function("mcp", |b| {
        b.to_async(&rt).iter(|| {
            n += 1;
            ch.mcp(n)
        })
    });
    g.finish();

    rt.block_on(sample(&ch));
    rt.block_on(throughput(&ch));
    rt.block_on(async move {
        let _ = ch.mcp.cancel().await;
        handle.shutdown().await;
    });
    let _ = std::fs::remove_dir_all(&dir);
    c.final_summary();
}
