//! Running a data command `flowgate <table> <op>`: the connection options are read first
//! (leniently), the backend opened, the command line parsed against the commands built from its
//! models (`model_commands.rs`), the flags turned into params (`params.rs`), and the operation
//! run: in batches for a large import (`bulk.rs`), page after page for `list --all`
//! (`listing.rs`).

use super::args::{Cli, ClientArgs};
use super::backend::Backend;
use super::bulk::{ImportError, locate_record, run_batched, summary};
use super::listing::{list_all, list_columns};
use super::model_commands::{DEFAULT_BATCH, command};
use super::output::{self, Failure, Format};
use super::params::params;
use super::remote::Remote;
use clap::{ArgMatches, CommandFactory, FromArgMatches};
use flowgate::OpKind;
use serde_json::Value;
use std::ffi::OsString;
use std::path::PathBuf;
use std::process::ExitCode;

/// The first argument that is not an option: the subcommand.
fn first_word(args: &[OsString]) -> Option<String> {
    args.iter()
        .skip(1)
        .map(|a| a.to_string_lossy())
        .find(|a| !a.starts_with('-'))
        .map(|a| a.into_owned())
}

/// The connection options, read leniently before the models (and so the full command line)
/// are known; clap checks them properly afterwards.
fn prescan(args: &[OsString]) -> ClientArgs {
    let mut out = ClientArgs::default();
    let words: Vec<String> = args
        .iter()
        .skip(1)
        .map(|a| a.to_string_lossy().into_owned())
        .collect();
    let mut i = 0;
    while i < words.len() {
        let word = &words[i];
        i += 1;
        if word == "--" {
            break;
        }
        let (name, inline) = match word.split_once('=') {
            Some((n, v)) if n.starts_with("--") => (n, Some(v.to_string())),
            _ => (word.as_str(), None),
        };
        let takes_value = [
            "--format",
            "--server",
            "--token",
            "--tenant",
            "--config",
            "--models",
            "--database-url",
            "--discover",
        ]
        .contains(&name);
        let value = if takes_value && inline.is_none() {
            i += 1;
            words.get(i - 1).cloned()
        } else {
            inline
        };
        match name {
            "--server" => out.server = value,
            "--token" => out.token = value,
            "--tenant" => out.tenant = value,
            "--config" => out.config = value.map(PathBuf::from),
            "--models" => out.models.extend(value.map(PathBuf::from)),
            "--discover" => out.discover.extend(value.map(PathBuf::from)),
            "--database-url" => out.database_url = value,
            "--json" => out.output.json = true,
            "--table" => out.output.table = true,
            "--format" => {
                out.output.format =
                    value.and_then(|v| <Format as clap::ValueEnum>::from_str(&v, true).ok());
            }
            _ => {}
        }
    }
    if out.server.is_none() {
        out.server = std::env::var("FLOWGATE_SERVER")
            .ok()
            .filter(|s| !s.is_empty());
    }
    if out.token.is_none() {
        out.token = std::env::var("FLOWGATE_TOKEN")
            .ok()
            .filter(|s| !s.is_empty());
    }
    if out.tenant.is_none() {
        out.tenant = std::env::var("FLOWGATE_TENANT")
            .ok()
            .filter(|s| !s.is_empty());
    }
    out
}

/// When the first word names no static command (it is a table), runs the data-plane command
/// and gives its exit code; otherwise None, and the static command line takes over.
pub(crate) fn main_if_data_command(args: &[OsString]) -> Option<ExitCode> {
    let first = first_word(args)?;
    let statics = Cli::command();
    if first == "help" || statics.find_subcommand(&first).is_some() {
        return None;
    }
    output::init_tracing("warn");
    let runtime = match tokio::runtime::Runtime::new() {
        Ok(r) => r,
        Err(e) => {
            eprintln!("error: cannot start the runtime: {e}");
            return Some(ExitCode::FAILURE);
        }
    };
    Some(runtime.block_on(run(args, &first)))
}

/// When a server does not serve the table asked for, is it because it is not ready yet?
async fn remote_not_ready(args: &ClientArgs) -> Option<Failure> {
    let server = args.remote().ok()??;
    let board = Remote::board(server).await.ok()?;
    if board["ready"] == true {
        return None;
    }
    let waiting: Vec<String> = board["features"]
        .as_object()?
        .iter()
        .filter(|(_, f)| f["state"] != "ready")
        .map(|(name, f)| match f["reason"].as_str() {
            Some(r) => format!("{name} {} ({r})", f["state"].as_str().unwrap_or("")),
            None => format!("{name} {}", f["state"].as_str().unwrap_or("")),
        })
        .collect();
    Some(Failure::from(flowgate::Error::NotReady {
        what: "server".into(),
        state: waiting.join("; "),
        retry_after_ms: 1000,
    }))
}

async fn run(args: &[OsString], table: &str) -> ExitCode {
    let pre = prescan(args);
    let format = pre.output.format();
    let backend = match Backend::open(&pre, true).await {
        Ok(b) => b,
        Err(f) => return output::fail(&f, format),
    };
    if !backend.models().iter().any(|e| e.info.table == table) {
        let not_ready = match backend.unavailable().iter().find(|u| u.table == table) {
            Some(u) => Some(u.failure()),
            None if matches!(backend, Backend::Remote(_)) => remote_not_ready(&pre).await,
            None => None,
        };
        if let Some(f) = not_ready {
            backend.close().await;
            return output::fail(&f, format);
        }
    }
    let matches = match command(backend.models()).try_get_matches_from(args) {
        Ok(m) => m,
        Err(e) => {
            backend.close().await;
            let _ = e.print();
            return ExitCode::from(e.exit_code() as u8);
        }
    };
    let code = run_matched(&backend, &matches).await;
    backend.close().await;
    code
}

async fn run_matched(backend: &Backend, matches: &ArgMatches) -> ExitCode {
    let Some((table, tm)) = matches.subcommand() else {
        return ExitCode::from(2);
    };
    let Some((op_name, am)) = tm.subcommand() else {
        return ExitCode::from(2);
    };
    let out_args = ClientArgs::from_arg_matches(am)
        .map(|c| c.output)
        .unwrap_or_default();
    let format = out_args.format();
    let Some(entry) = backend.models().iter().find(|e| e.info.table == table) else {
        return ExitCode::from(2);
    };
    let Some(op) = OpKind::parse_cli_name(op_name) else {
        return ExitCode::from(2);
    };
    let m = &entry.info;
    let bulk = matches!(op, OpKind::BulkCreate | OpKind::BulkUpsert);
    let all = op == OpKind::List && am.try_get_one::<bool>("all").ok().flatten() == Some(&true);
    // Records read from a file or a pipe: a summary, unless a format is asked for.
    let piped = am
        .try_get_one::<String>("data")
        .ok()
        .flatten()
        .is_some_and(|d| d == "-" || d.starts_with('@'));
    let result: Result<Option<Value>, ImportError> = async {
        let params = params(m, op, am)?;
        if all {
            return Ok(list_all(backend, m, params, format).await?);
        }
        if op == OpKind::List && format == Format::Csv {
            let mut csv = output::Csv::new(Some(list_columns(m, &params)));
            let page = backend.run(m, op, &params).await?;
            let rows = page["records"].as_array().into_iter().flatten();
            csv.rows(rows.filter_map(Value::as_object).collect());
            csv.finish();
            return Ok(None);
        }
        let batch = am
            .try_get_one::<usize>("batch-size")
            .ok()
            .flatten()
            .copied()
            .unwrap_or(DEFAULT_BATCH);
        let large = params["data"]
            .as_array()
            .is_some_and(|d| batch > 0 && d.len() > batch);
        if bulk && large {
            run_batched(backend, m, op, params, batch).await.map(Some)
        } else if bulk {
            match backend.run(m, op, &params).await {
                Ok(v) => Ok(Some(v)),
                Err(failure) => {
                    let records = params["data"].as_array().map_or(&[][..], Vec::as_slice);
                    let all = 0..records.len();
                    let record = locate_record(backend, m, records, all, &failure).await;
                    Err(ImportError { failure, record })
                }
            }
        } else {
            Ok(backend.run(m, op, &params).await.map(Some)?)
        }
    }
    .await;
    match result {
        Ok(Some(v)) if bulk && piped && !out_args.explicit() => {
            output::line(&summary(&v));
            ExitCode::SUCCESS
        }
        Ok(Some(v)) => {
            output::print(&v, format);
            ExitCode::SUCCESS
        }
        Ok(None) => ExitCode::SUCCESS,
        Err(e) => output::fail_noting(&e.failure, e.record.as_deref(), format),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn prescan_finds_connection_options() {
        let args: Vec<OsString> = [
            "flowgate",
            "books",
            "list",
            "--database-url=sqlite://x.db",
            "--models",
            "m.toml",
            "--json",
        ]
        .iter()
        .map(OsString::from)
        .collect();
        let pre = prescan(&args);
        assert_eq!(pre.database_url.as_deref(), Some("sqlite://x.db"));
        assert_eq!(pre.models, vec![PathBuf::from("m.toml")]);
        assert!(pre.output.json);
    }
}
