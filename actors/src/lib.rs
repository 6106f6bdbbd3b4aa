//! The Flowgate runtime: a supervisor that binds the ports at once, a registry actor that
//! connects, migrates and spawns per-model node actors in the background, a readiness board,
//! and the gateway serving the channels (REST over HTTP, MCP over streamable HTTP and stdio), each
//! serving the models and the workflows that chain their operations.
//!
//! ```no_run
//! # async fn run() -> Result<(), Box<dyn std::error::Error>> {
//! use flowgate::{FieldDef, ModelDef};
//! use flowgate_actors::Supervisor;
//! let handle = Supervisor::builder()
//!     .database_url("sqlite::memory:")
//!     .http_port(0)
//!     .mcp_port(0)
//!     .model(ModelDef::new("Note").field(FieldDef::text("body")))
//!     .start()
//!     .await?;
//! println!("http={} mcp={}", handle.http_addr(), handle.mcp_addr());
//! handle.wait_ready(std::time::Duration::from_secs(5)).await;
//! handle.shutdown().await;
//! # Ok(()) }
//! ```

pub mod audit;
pub mod auth;
pub mod cli;
pub mod config;
pub mod discover;
pub mod dispatch;
pub mod gateway;
pub mod logging;
pub mod node;
pub mod rate_limit;
pub mod readiness;
pub mod registry;
pub mod routes;
pub mod supervisor;
pub mod workflows;

pub use config::Config;
pub use flowgate;
pub use readiness::{Board, Feature, State};
pub use supervisor::{Handle, StartError, Supervisor};
