//! The `flowgate` command line: `serve` runs the server; `migrate` inspects and applies
//! migrations; `status`, `models`, `node` and `flowgate <table> <op>` (see `cli/data.rs`) are the
//! CLI channel, local (on the database) or remote (`--server`). `main.rs` only calls [`main`].

use crate::Supervisor;
use anyhow::Context as _;
use clap::{Args, Parser, Subcommand};
use flowgate::migrate::{self, MigrateOptions, Outcome};
use flowgate::registry::Registry;
use flowgate::{Schema, Store, StoreConfig};
use serde_json::json;
use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Duration;

mod client;
mod data;
mod local;
mod output;
mod remote;
mod workflows;

mod mcp;

#[derive(Parser)]
#[command(
    name = "flowgate",
    version,
    about = "Declare data models once; serve them over REST, MCP and the CLI",
    after_help = "Data commands: flowgate <TABLE> <OP> [FLAGS], one per model and operation \
(create read update delete list count upsert bulk-create bulk-update bulk-delete bulk-upsert), \
with a typed flag per field. `flowgate models list` shows the tables; `flowgate <TABLE> --help` \
its operations. Workflows: flowgate run NAME --param KEY=VALUE, flowgate workflows \
list|show|apply|run. They run on the database (--database-url, DATABASE_URL, --config, --models, \
--discover) or through a server (--server URL, FLOWGATE_SERVER). Output: tables on a terminal, JSON otherwise \
or with --json. Exit codes: 0 ok, 2 usage, 3 validation, 4 not found, 5 conflict, \
6 not ready or unavailable, 1 other."
)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Run the server.
    Serve(ServerArgs),
    /// Inspect and apply migrations.
    Migrate {
        #[command(subcommand)]
        action: MigrateAction,
        #[command(flatten)]
        source: SourceArgs,
        #[command(flatten)]
        output: client::OutputArgs,
    },
    #[command(flatten)]
    Client(client::ClientCommand),
    /// Serve MCP on standard input and output, for desktop MCP clients (logs go to stderr).
    Mcp {
        /// Use the stdio transport (the only one here; `serve` has streamable HTTP at /mcp).
        #[arg(long)]
        stdio: bool,
        #[command(flatten)]
        server: ServerArgs,
    },
}

#[derive(Subcommand)]
enum MigrateAction {
    /// The migration history.
    Status,
    /// The changes the declared models need, without applying them.
    Plan,
    /// Apply the pending changes.
    Up {
        /// Apply destructive changes too (dropped columns, type changes).
        #[arg(long)]
        allow_destructive: bool,
    },
    /// Roll back the newest applied migration.
    Down {
        /// Only migrations of this model.
        #[arg(long)]
        model: Option<String>,
    },
}

/// Where the models and the database come from: what `serve`, `mcp` and `migrate` share.
#[derive(Args, Clone)]
struct SourceArgs {
    /// A flowgate.toml.
    #[arg(long, global = true)]
    config: Option<PathBuf>,
    /// A schema file of models (TOML or JSON); repeatable.
    #[arg(long = "models", global = true)]
    models: Vec<PathBuf>,
    /// The database (also DATABASE_URL).
    #[arg(long, global = true)]
    database_url: Option<String>,
    /// A directory of schema and workflow files (`serve` reads it in the background once the
    /// ports are bound); repeatable (also FLOWGATE_DISCOVER, comma-separated).
    #[arg(long = "discover", global = true, value_name = "DIR")]
    discover: Vec<PathBuf>,
}

impl SourceArgs {
    fn supervisor(&self) -> Supervisor {
        let mut s = Supervisor::builder();
        if let Some(c) = &self.config {
            s = s.config_file(c);
        }
        for m in &self.models {
            s = s.model_file(m);
        }
        if let Some(url) = &self.database_url {
            s = s.database_url(url);
        }
        if !self.discover.is_empty() {
            let dirs: Vec<String> = self
                .discover
                .iter()
                .map(|d| d.display().to_string())
                .collect();
            s = s.set("discover", dirs);
        }
        s
    }
}

/// The options of a command that listens: `serve` and `mcp`.
#[derive(Args, Clone)]
struct ServerArgs {
    #[command(flatten)]
    source: SourceArgs,
    /// The HTTP port (also FLOWGATE_HTTP_PORT); 0 picks a free port.
    #[arg(long, global = true)]
    http_port: Option<u16>,
    /// The MCP port (also FLOWGATE_MCP_PORT); 0 picks a free port.
    #[arg(long, global = true)]
    mcp_port: Option<u16>,
}

impl ServerArgs {
    fn supervisor(&self) -> Supervisor {
        let mut s = self.source.supervisor();
        if let Some(p) = self.http_port {
            s = s.http_port(p);
        }
        if let Some(p) = self.mcp_port {
            s = s.set("mcp_port", p);
        }
        s
    }
}

/// Parses the arguments, runs the command, and gives the process exit code.
pub fn main() -> ExitCode {
    let args: Vec<std::ffi::OsString> = std::env::args_os().collect();
    if let Some(code) = data::main_if_data_command(&args) {
        return code;
    }
    let cli = Cli::parse_from(args);
    client::init_tracing(match cli.command {
        Command::Client(_) => "warn",
        _ => "info",
    });
    let runtime = match tokio::runtime::Runtime::new() {
        Ok(r) => r,
        Err(e) => {
            eprintln!("error: cannot start the runtime: {e}");
            return ExitCode::FAILURE;
        }
    };
    let result = runtime.block_on(async {
        match cli.command {
            Command::Serve(args) => serve(args).await,
            Command::Migrate {
                action,
                source,
                output,
            } => migrate_cmd(action, source, output.format()).await,
            Command::Client(cmd) => Ok(client::run(cmd).await),
            Command::Mcp { stdio, server } => mcp::stdio(stdio, server).await,
        }
    });
    match result {
        Ok(code) => code,
        Err(e) => match e.downcast_ref::<flowgate::Error>() {
            Some(err) => output::fail(&output::Failure::from(err.clone()), output::Format::Json),
            None => {
                eprintln!("error: {e:#}");
                ExitCode::FAILURE
            }
        },
    }
}

async fn serve(args: ServerArgs) -> anyhow::Result<ExitCode> {
    let handle = args.supervisor().start().await?;
    eprintln!(
        "flowgate listening http={} mcp={}",
        handle.http_addr(),
        handle.mcp_addr()
    );
    let code = tokio::select! {
        _ = shutdown_signal() => ExitCode::SUCCESS,
        reasons = nothing_serves(handle.board()) => {
            eprintln!("flowgate: no model can be served:");
            for line in reasons {
                eprintln!("  {line}");
            }
            ExitCode::FAILURE
        }
    };
    tracing::info!("shutting down");
    handle.shutdown().await;
    Ok(code)
}

/// Resolves when the migrations are done and every model failed (a configuration error: a
/// reference to a model that does not exist, a refused migration), with each model's reason; a
/// server that can serve nothing exits rather than answer 503 forever. A database that cannot
/// be reached is not such an error: the server keeps retrying.
async fn nothing_serves(board: &crate::readiness::Board) -> Vec<String> {
    use crate::readiness::{Feature, Look, State};
    let failed = board
        .wait_for(None, |board| {
            let features = board.features();
            let mut models = features
                .iter()
                .filter(|(f, _)| matches!(f, Feature::Model(_)))
                .peekable();
            let all_failed =
                models.peek().is_some() && models.all(|(_, s)| matches!(s, State::Failed(_)));
            let migrations = features.iter().find(|(f, _)| *f == Feature::Migrations);
            let done = match migrations.map(|(_, s)| s) {
                Some(State::Failed(_)) => true,
                Some(State::Ready) => all_failed,
                _ => false,
            };
            if !done {
                return Look::Wait(());
            }
            Look::<_, ()>::Ready(
                features
                    .iter()
                    .filter_map(|(f, s)| match s {
                        State::Failed(reason) => Some(format!("{f}: {reason}")),
                        _ => None,
                    })
                    .collect(),
            )
        })
        .await;
    match failed {
        Ok(reasons) => reasons,
        Err(()) => std::future::pending().await,
    }
}

async fn shutdown_signal() {
    let ctrl_c = tokio::signal::ctrl_c();
    #[cfg(unix)]
    {
        let mut term =
            match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
                Ok(s) => s,
                Err(_) => {
                    let _ = ctrl_c.await;
                    return;
                }
            };
        tokio::select! {
            _ = ctrl_c => {}
            _ = term.recv() => {}
        }
    }
    #[cfg(not(unix))]
    let _ = ctrl_c.await;
}

async fn migrate_cmd(
    action: MigrateAction,
    args: SourceArgs,
    format: output::Format,
) -> anyhow::Result<ExitCode> {
    let sup = args.supervisor();
    let config = sup.resolve_config()?;
    let mut declared = Vec::new();
    for path in config.models.iter().chain(&args.models) {
        declared.extend(flowgate::model::read_schema_file(path)?);
    }
    let mut store_cfg = StoreConfig::new(config.database_url.clone());
    store_cfg.echo = config.echo;
    let store = Store::connect(&store_cfg, Schema::default())
        .await
        .context("connecting to the database")?;
    let registry = Registry::open(&store).await?;
    let opts = MigrateOptions {
        lock_timeout: Duration::from_secs(config.migration_lock_timeout),
        ..MigrateOptions::default()
    };
    let out = match action {
        MigrateAction::Status => json!({ "migrations": registry.history(None).await? }),
        MigrateAction::Plan => {
            let plans = migrate::plan_all(&store, &registry, &declared).await?;
            json!({ "plans": plans })
        }
        MigrateAction::Up { allow_destructive } => {
            let opts = MigrateOptions {
                allow_destructive,
                ..opts
            };
            let spinner = output::spinner(format!("migrating {} declared models", declared.len()));
            let report = migrate::migrate(&store, &registry, &declared, &opts).await;
            spinner.finish_and_clear();
            let report = report?;
            let failed = report
                .outcomes
                .iter()
                .any(|(_, o)| matches!(o, Outcome::Failed(_)));
            let outcomes: Vec<_> = report
                .outcomes
                .iter()
                .map(|(name, o)| outcome_json(name, o))
                .collect();
            output::print(&json!({ "models": outcomes }), format);
            store.close().await;
            return Ok(if failed {
                ExitCode::from(3)
            } else {
                ExitCode::SUCCESS
            });
        }
        MigrateAction::Down { model } => {
            let rolled = migrate::rollback_last(&store, &registry, model.as_deref(), &opts).await?;
            json!({ "rolled_back": rolled })
        }
    };
    output::print(&out, format);
    store.close().await;
    Ok(ExitCode::SUCCESS)
}

fn outcome_json(name: &str, o: &Outcome) -> serde_json::Value {
    match o {
        Outcome::UpToDate { version } => {
            json!({"model": name, "status": "up_to_date", "version": version})
        }
        Outcome::Migrated { from, to, changes } => {
            json!({"model": name, "status": "migrated", "from": from, "to": to, "changes": changes})
        }
        Outcome::Failed(reason) => json!({"model": name, "status": "failed", "reason": reason}),
    }
}
