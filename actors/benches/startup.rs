//! Start-up of the `flowgate` binary (DESIGN sections 3 and 11): how long from spawning the
//! process until
//!
//! - `port`: the HTTP port accepts a TCP connection (polled every 0.5 ms), and
//! - `ready`: `GET /health/ready` answers 200 (polled every 1 ms over raw HTTP/1.1, so the client
//!   costs next to nothing),
//!
//! for schema files of 1, 10, 100, 1,000 and 10,000 models (about six fields each, every third
//! model referencing the one before, every other one with a composite index), on a fresh database
//! and on a restart (the same database again, already migrated), on SQLite (a temporary file) and
//! PostgreSQL. `FLOWGATE_BENCH_STARTUP_MODELS` (say `1000,10000`) picks the counts measured.
//!
//! Every iteration is one real process: spawned, polled, stopped with SIGTERM and waited for.
//! `iter_custom` hands criterion the measured span only; creating and dropping databases, the
//! shutdown and the wait are outside it. A fresh run gets a new SQLite file, or a new PostgreSQL
//! database (`CREATE DATABASE`, dropped afterwards). PostgreSQL comes from
//! `FLOWGATE_BENCH_POSTGRES_URL` (default `postgres://postgres@127.0.0.1:5432/postgres`); when it is
//! unreachable a note is printed and only SQLite runs.
//!
//! Each benchmark takes 10 samples of one process each (after one warm-up process), so criterion
//! warns that it cannot complete 10 samples in the (deliberately tiny) target time: that is
//! expected. A table of medians and the goals (port within 50 ms; on SQLite, 10 models ready
//! within 300 ms and 100 within 1 s; on both databases 1,000 models ready within 1 s on a fresh
//! database, and 10,000 within 1 s on a restart) is printed at the end.
//!
//! ```sh
//! cargo bench -p flowgate-actors --bench startup
//! ```

use criterion::{BenchmarkId, Criterion, SamplingMode};
use sqlx::postgres::{PgPool, PgPoolOptions};
use sqlx::{AssertSqlSafe, Executor};
use std::fmt::Write as _;
use std::fs::File;
use std::io::{Read, Write};
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

/// The binary under test, built by cargo in the bench's profile (release), unless
/// `FLOWGATE_BENCH_BINARY` names another (a build of an earlier commit, to compare).
const BINARY: &str = env!("CARGO_BIN_EXE_flowgate");
const BINARY_ENV: &str = "FLOWGATE_BENCH_BINARY";

fn binary() -> String {
    std::env::var(BINARY_ENV).unwrap_or_else(|_| BINARY.to_string())
}
/// The model counts measured unless `FLOWGATE_BENCH_STARTUP_MODELS` names others.
const MODEL_COUNTS: [usize; 5] = [1, 10, 100, 1_000, 10_000];
const MODELS_ENV: &str = "FLOWGATE_BENCH_STARTUP_MODELS";
/// How often the port is tried while it does not accept yet.
const PORT_POLL: Duration = Duration::from_micros(500);
/// How often `/health/ready` is asked while it answers 503.
const READY_POLL: Duration = Duration::from_millis(1);
/// A run that takes longer than this has failed.
const GIVE_UP: Duration = Duration::from_secs(120);

const POSTGRES_ENV: &str = "FLOWGATE_BENCH_POSTGRES_URL";
const POSTGRES_DEFAULT: &str = "postgres://postgres@127.0.0.1:5432/postgres";

/// The model counts to measure. A test run (`cargo test --benches`, a debug binary) measures up
/// to 100 models unless told otherwise.
fn model_counts() -> Vec<usize> {
    match std::env::var(MODELS_ENV) {
        Ok(list) => list
            .split(',')
            .map(|n| {
                n.trim()
                    .replace('_', "")
                    .parse()
                    .unwrap_or_else(|_| panic!("{MODELS_ENV}: `{n}` is not a number"))
            })
            .collect(),
        Err(_) if std::env::args().any(|a| a == "--bench") => MODEL_COUNTS.to_vec(),
        Err(_) => MODEL_COUNTS.into_iter().filter(|&n| n <= 100).collect(),
    }
}

/// A schema file of `n` models.
fn schema_toml(n: usize) -> String {
    let mut s = String::new();
    for i in 0..n {
        let _ = writeln!(s, "[models.Entity{i:03}]");
        let _ = writeln!(s, "description = \"Benchmark model number {i}\"");
        let _ = writeln!(
            s,
            "fields.title = {{ type = \"string\", max_length = 120 }}"
        );
        let _ = writeln!(
            s,
            "fields.code = {{ type = \"string\", max_length = 40, unique = true }}"
        );
        let _ = writeln!(s, "fields.quantity = {{ type = \"integer\", default = 0 }}");
        let _ = writeln!(s, "fields.price = {{ type = \"float\", optional = true }}");
        let _ = writeln!(
            s,
            "fields.active = {{ type = \"boolean\", default = true }}"
        );
        if i % 3 == 2 {
            let _ = writeln!(
                s,
                "fields.parent_id = {{ type = \"integer\", references = \"Entity{:03}\", optional = true }}",
                i - 1
            );
        } else {
            let _ = writeln!(s, "fields.due = {{ type = \"date\", optional = true }}");
        }
        if i % 2 == 1 {
            let _ = writeln!(s, "indexes = [[\"active\", \"quantity\"]]");
        }
        s.push('\n');
    }
    s
}

/// What one process run measured.
#[derive(Debug, Clone, Copy)]
struct Timings {
    port: Duration,
    ready: Option<Duration>,
}

/// Which point of start-up a benchmark measures.
#[derive(Debug, Clone, Copy, PartialEq)]
enum Until {
    Port,
    Ready,
}

impl Until {
    fn name(self) -> &'static str {
        match self {
            Until::Port => "port",
            Until::Ready => "ready",
        }
    }
}

/// A port nobody listens on (bound to 0 and released).
fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .expect("a free port")
        .port()
}

/// Whether `GET /health/ready` answers 200 now.
fn ready_now(addr: SocketAddr) -> bool {
    let Ok(mut s) = TcpStream::connect(addr) else {
        return false;
    };
    let _ = s.set_nodelay(true);
    let _ = s.set_read_timeout(Some(Duration::from_secs(5)));
    let request = b"GET /health/ready HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n";
    if s.write_all(request).is_err() {
        return false;
    }
    // "HTTP/1.1 200" is the first 12 bytes of the answer.
    let mut head = [0u8; 12];
    let mut got = 0;
    while got < head.len() {
        match s.read(&mut head[got..]) {
            Ok(0) | Err(_) => return false,
            Ok(k) => got += k,
        }
    }
    &head[9..12] == b"200"
}

/// Stops a child with SIGTERM and waits for it to exit.
fn stop(mut child: Child) {
    let _ = Command::new("kill")
        .args(["-TERM", &child.id().to_string()])
        .status();
    let _ = child.wait();
}

fn log_tail(log: &Path) -> String {
    let text = std::fs::read_to_string(log).unwrap_or_default();
    let lines: Vec<&str> = text.lines().collect();
    lines[lines.len().saturating_sub(20)..].join("\n")
}

/// Spawns the binary on `database_url`, measures until `until`, stops it.
fn run_once(models: &Path, database_url: &str, until: Until, log: &Path) -> Timings {
    let port = free_port();
    let addr = SocketAddr::from(([127, 0, 0, 1], port));
    let log_file = File::create(log).expect("log file");
    let mut cmd = Command::new(binary());
    cmd.arg("serve")
        .arg("--models")
        .arg(models)
        .args(["--database-url", database_url])
        .args(["--http-port", &port.to_string()])
        // MCP listens too; on a free port of its own, so runs never collide on its default.
        .args(["--mcp-port", "0"])
        .env_remove("DATABASE_URL")
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(log_file);

    let started = Instant::now();
    let mut child = cmd.spawn().expect("spawn flowgate");
    let fail = |child: Child, what: &str| -> ! {
        stop(child);
        panic!("flowgate {what}; its log ends:\n{}", log_tail(log));
    };
    let port_time = loop {
        if TcpStream::connect(addr).is_ok() {
            break started.elapsed();
        }
        if started.elapsed() > GIVE_UP {
            fail(child, "never opened its port");
        }
        if let Ok(Some(status)) = child.try_wait() {
            panic!(
                "flowgate exited ({status}); its log ends:\n{}",
                log_tail(log)
            );
        }
        std::thread::sleep(PORT_POLL);
    };
    let ready = match until {
        Until::Port => None,
        Until::Ready => Some(loop {
            if ready_now(addr) {
                break started.elapsed();
            }
            if started.elapsed() > GIVE_UP {
                fail(child, "never became ready");
            }
            std::thread::sleep(READY_POLL);
        }),
    };
    stop(child);
    Timings {
        port: port_time,
        ready,
    }
}

/// Where runs get their databases.
enum Backend {
    Sqlite {
        dir: PathBuf,
    },
    Postgres {
        rt: tokio::runtime::Runtime,
        admin: PgPool,
        base: String,
    },
}

/// A database for runs, removed on [`Backend::drop_database`].
struct Database {
    url: String,
    name: String,
}

static DATABASES: AtomicUsize = AtomicUsize::new(0);

impl Backend {
    fn name(&self) -> &'static str {
        match self {
            Backend::Sqlite { .. } => "sqlite",
            Backend::Postgres { .. } => "postgres",
        }
    }

    fn postgres() -> Option<Backend> {
        let base = std::env::var(POSTGRES_ENV).unwrap_or_else(|_| POSTGRES_DEFAULT.to_string());
        let rt = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .expect("tokio runtime");
        let admin = rt.block_on(
            PgPoolOptions::new()
                .max_connections(1)
                .acquire_timeout(Duration::from_secs(3))
                .connect(&base),
        );
        match admin {
            Ok(admin) => Some(Backend::Postgres { rt, admin, base }),
            Err(e) => {
                eprintln!(
                    "note: PostgreSQL at {base} is unreachable ({e}); skipping the PostgreSQL start-up benchmarks"
                );
                None
            }
        }
    }

    /// A new, empty database.
    fn new_database(&self) -> Database {
        let n = DATABASES.fetch_add(1, Ordering::Relaxed);
        let name = format!("fgstartup_{}_{n}", std::process::id());
        match self {
            Backend::Sqlite { dir } => {
                let path = dir.join(format!("{name}.db"));
                Database {
                    url: format!("sqlite://{}", path.display()),
                    name: path.display().to_string(),
                }
            }
            Backend::Postgres { rt, admin, base } => {
                rt.block_on(admin.execute(AssertSqlSafe(format!("CREATE DATABASE \"{name}\""))))
                    .expect("create database");
                Database {
                    url: with_database(base, &name),
                    name,
                }
            }
        }
    }

    fn drop_database(&self, db: Database) {
        match self {
            Backend::Sqlite { .. } => {
                for suffix in ["", "-wal", "-shm"] {
                    let _ = std::fs::remove_file(format!("{}{suffix}", db.name));
                }
            }
            Backend::Postgres { rt, admin, .. } => {
                let sql = format!("DROP DATABASE IF EXISTS \"{}\" WITH (FORCE)", db.name);
                if let Err(e) = rt.block_on(admin.execute(AssertSqlSafe(sql))) {
                    eprintln!("note: cannot drop database {}: {e}", db.name);
                }
            }
        }
    }
}

/// `base` with its database name replaced by `name`.
fn with_database(base: &str, name: &str) -> String {
    let (head, query) = match base.split_once('?') {
        Some((h, q)) => (h, Some(q)),
        None => (base, None),
    };
    // postgres://user@host:port/db: the database is what follows the first '/' after the host.
    let after_scheme = head.find("://").map_or(0, |i| i + 3);
    let host_end = head[after_scheme..]
        .find('/')
        .map_or(head.len(), |i| after_scheme + i);
    let mut url = format!("{}/{name}", &head[..host_end]);
    if let Some(q) = query {
        url.push('?');
        url.push_str(q);
    }
    url
}

/// The machine's load average (Linux), printed beside the results: other work on a 2-core machine
/// shows up in start-up times.
fn load_average() -> String {
    std::fs::read_to_string("/proc/loadavg")
        .map(|s| s.split_whitespace().take(3).collect::<Vec<_>>().join(" "))
        .unwrap_or_else(|_| "unknown".into())
}

/// Every duration measured, by benchmark, for the summary.
#[derive(Default)]
struct Summary {
    rows: Vec<(String, String, usize, Until, Vec<Duration>)>,
}

impl Summary {
    fn record(&mut self, backend: &str, mode: &str, n: usize, until: Until, d: Duration) {
        let found = self
            .rows
            .iter_mut()
            .find(|r| r.0 == backend && r.1 == mode && r.2 == n && r.3 == until);
        match found {
            Some(r) => r.4.push(d),
            None => self
                .rows
                .push((backend.into(), mode.into(), n, until, vec![d])),
        }
    }

    fn median(&self, backend: &str, mode: &str, n: usize, until: Until) -> Option<Duration> {
        let r = self
            .rows
            .iter()
            .find(|r| r.0 == backend && r.1 == mode && r.2 == n && r.3 == until)?;
        // The first run of each benchmark is criterion's warm-up; the rest are its samples.
        let mut v: Vec<Duration> =
            r.4.iter()
                .skip(usize::from(r.4.len() > 1))
                .copied()
                .collect();
        v.sort();
        let mid = v.len() / 2;
        Some(if v.len().is_multiple_of(2) {
            (v[mid - 1] + v[mid]) / 2
        } else {
            v[mid]
        })
    }

    fn print(&self, backends: &[&str], counts: &[usize]) {
        let ms = |d: Option<Duration>| {
            d.map_or("-".to_string(), |d| format!("{:.1}", d.as_secs_f64() * 1e3))
        };
        println!(
            "\nStart-up of the flowgate binary, medians in ms (from spawn); load average now {}:",
            load_average()
        );
        println!(
            "{:<9} {:<8} {:>6} {:>9} {:>9}  goal",
            "backend", "database", "models", "port", "ready"
        );
        for backend in backends {
            for mode in ["fresh", "restart"] {
                for &n in counts {
                    let port = self.median(backend, mode, n, Until::Port);
                    let ready = self.median(backend, mode, n, Until::Ready);
                    let mut goals = Vec::new();
                    if let Some(p) = port {
                        goals.push(format!(
                            "port<=50ms {}",
                            if p <= Duration::from_millis(50) {
                                "ok"
                            } else {
                                "MISSED"
                            }
                        ));
                    }
                    let ready_goal = match (*backend, mode, n) {
                        ("sqlite", _, 10) => Some(Duration::from_millis(300)),
                        ("sqlite", _, 100) => Some(Duration::from_secs(1)),
                        (_, "fresh", 1_000) | (_, "restart", 1_000 | 10_000) => {
                            Some(Duration::from_secs(1))
                        }
                        _ => None,
                    };
                    if let (Some(goal), Some(r)) = (ready_goal, ready) {
                        goals.push(format!(
                            "ready<={}ms {}",
                            goal.as_millis(),
                            if r <= goal { "ok" } else { "MISSED" }
                        ));
                    }
                    println!(
                        "{:<9} {:<8} {:>6} {:>9} {:>9}  {}",
                        backend,
                        mode,
                        n,
                        ms(port),
                        ms(ready),
                        goals.join(", ")
                    );
                }
            }
        }
    }
}

fn bench_backend(
    c: &mut Criterion,
    backend: &Backend,
    dir: &Path,
    counts: &[usize],
    summary: &mut Summary,
) {
    let log = dir.join(format!("{}.log", backend.name()));
    for mode in ["fresh", "restart"] {
        let mut g = c.benchmark_group(format!("startup/{}/{mode}", backend.name()));
        // One process per sample: the target time is deliberately below what ten take.
        g.sample_size(10)
            .sampling_mode(SamplingMode::Flat)
            .warm_up_time(Duration::from_millis(1))
            .measurement_time(Duration::from_millis(10));
        for &n in counts {
            let models = dir.join(format!("models-{n}.toml"));
            std::fs::write(&models, schema_toml(n)).expect("write the schema file");
            // A restart runs on a database a first run has already migrated.
            let kept = (mode == "restart").then(|| {
                let db = backend.new_database();
                run_once(&models, &db.url, Until::Ready, &log);
                db
            });
            for until in [Until::Port, Until::Ready] {
                g.bench_function(BenchmarkId::new(until.name(), n), |b| {
                    b.iter_custom(|iters| {
                        let mut total = Duration::ZERO;
                        for _ in 0..iters {
                            let fresh = kept.is_none().then(|| backend.new_database());
                            let db = kept.as_ref().or(fresh.as_ref()).expect("a database");
                            let t = run_once(&models, &db.url, until, &log);
                            let d = match until {
                                Until::Port => t.port,
                                Until::Ready => t.ready.expect("measured"),
                            };
                            summary.record(backend.name(), mode, n, until, d);
                            total += d;
                            if let Some(db) = fresh {
                                backend.drop_database(db);
                            }
                        }
                        total
                    })
                });
            }
            if let Some(db) = kept {
                backend.drop_database(db);
            }
        }
        g.finish();
    }
}

fn main() {
    let mut c = Criterion::default().configure_from_args();
    let dir = std::env::temp_dir().join(format!("flowgate-startup-{}", std::process::id()));
    std::fs::create_dir_all(&dir).expect("temp dir");
    eprintln!("load average at the start: {}", load_average());
    let mut summary = Summary::default();
    let mut backends = vec!["sqlite"];
    let counts = model_counts();

    let sqlite = Backend::Sqlite { dir: dir.clone() };
    bench_backend(&mut c, &sqlite, &dir, &counts, &mut summary);
    if let Some(pg) = Backend::postgres() {
        bench_backend(&mut c, &pg, &dir, &counts, &mut summary);
        backends.push("postgres");
    }

    c.final_summary();
    // `cargo test` runs each benchmark once, on the binary of its own (debug) profile.
    if std::env::args().any(|a| a == "--bench") {
        summary.print(&backends, &counts);
    } else {
        println!("(a test run of the benchmarks: one debug process each, so no summary)");
    }
    let _ = std::fs::remove_dir_all(&dir);
}
