//! The `flowgate` command line: `serve` runs the server; `migrate` inspects and applies
//! migrations; `status`, `models`, `node`, `run`, `workflows` and `flowgate <table> <op>` are the
//! CLI channel, local (on the database) or remote (`--server`). `main.rs` only calls [`main`].
//!
//! The files import one way, from this root down to `output.rs`, and none imports one that
//! imports it back: `args.rs` (clap types) and `models.rs` over `output.rs`; `local.rs` and
//! `remote.rs` over them; `backend.rs` over both; the commands over the backend
//! (`client_commands.rs`, `workflow_commands.rs`, `data_plane.rs` with `model_commands.rs`,
//! `params.rs`, `input.rs`, `field_text.rs`, `bulk.rs`, `listing.rs`); `serve.rs`,
//! `mcp_stdio.rs`, `migrate.rs`, `keys.rs` and `introspect.rs` over `args.rs`.

use args::{Cli, Command};
use clap::Parser;
use std::process::ExitCode;

mod args;
mod backend;
mod bulk;
mod client_commands;
mod data_plane;
mod field_text;
mod input;
mod introspect;
mod keys;
mod listing;
mod local;
mod mcp_stdio;
mod migrate;
mod model_commands;
mod models;
mod output;
mod params;
mod remote;
mod serve;
mod workflow_commands;

/// Parses the arguments, runs the command, and gives the process exit code.
pub fn main() -> ExitCode {
    let args: Vec<std::ffi::OsString> = std::env::args_os().collect();
    if let Some(code) = data_plane::main_if_data_command(&args) {
        return code;
    }
    let cli = Cli::parse_from(args);
    output::init_tracing(match cli.command {
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
            Command::Serve(args) => serve::serve(args).await,
            Command::Migrate {
                action,
                source,
                output,
            } => migrate::migrate_cmd(action, source, output.format()).await,
            Command::Keys {
                action,
                source,
                output,
            } => keys::keys_cmd(action, source, output).await,
            Command::Introspect(args) => introspect::introspect_cmd(args).await,
            Command::Client(cmd) => Ok(client_commands::run(cmd).await),
            Command::Mcp { stdio, server } => mcp_stdio::stdio(stdio, server).await,
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
