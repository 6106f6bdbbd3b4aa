//! The example server: the models of `examples/app/models.toml` (User, Conversation, Message,
//! OrderItem, Project, Task) and the workflow `examples/app/signup.yaml`, on an embedded SQLite
//! file, served over HTTP (and streamable HTTP MCP). `flowgate serve --discover examples/app`
//! serves the same; README.md's commands run against either (`actors/tests/readme.rs`).
//!
//! ```sh
//! cargo run --release --example server
//! curl -s localhost:8000/health/ready
//! curl -s localhost:8000/api/users --json '{"email": "ada@example.com", "name": "Ada"}'
//! curl -s localhost:8000/workflows/signup/execute \
//!   --json '{"inputs": {"email": "grace@example.com", "name": "Grace", "title": "Hello"}}'
//! ```
//!
//! The workflow `signup` makes a user and their first conversation, in one transaction.
//!
//! `DATABASE_URL`, `FLOWGATE_HTTP_PORT` and the other `FLOWGATE_*` variables apply.

use flowgate_actors::Supervisor;
use std::path::Path;
use std::time::{Duration, Instant};

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    // The binary's log: `RUST_LOG` or info, text or JSON (`log_format`), colours on a terminal.
    flowgate_actors::logging::init("info");
    let started = Instant::now();
    let app = Path::new(env!("CARGO_MANIFEST_DIR")).join("examples/app");
    let handle = Supervisor::builder()
        .set(
            "database_url",
            std::env::var("DATABASE_URL").unwrap_or_else(|_| "sqlite://flowgate-example.db".into()),
        )
        .model_file(app.join("models.toml"))
        .workflow_file(app.join("signup.yaml"))
        .start()
        .await?;
    eprintln!(
        "flowgate listening http={} mcp={} (bound in {:?})",
        handle.http_addr(),
        handle.mcp_addr(),
        started.elapsed()
    );
    if handle.wait_ready(Duration::from_secs(30)).await {
        eprintln!(
            "ready in {:?}: try curl -s http://{}/health/ready",
            started.elapsed(),
            handle.http_addr()
        );
    } else {
        eprintln!("not ready yet: {}", handle.board().to_json());
    }
    tokio::signal::ctrl_c().await?;
    handle.shutdown().await;
    Ok(())
}
