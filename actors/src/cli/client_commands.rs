//! The client commands of fixed shape: `status`, `models list|show`, `node`, `completions`, and
//! the dispatch of `run` and `workflows` (`workflow_commands.rs`); local or remote.

use super::args::{AuditArgs, ClientArgs, ClientCommand, ModelsAction};
use super::backend::Backend;
use super::input::read_json_arg;
use super::local;
use super::model_commands::command;
use super::models::model_json;
use super::output::{self, Failure, Format};
use super::remote::Remote;
use super::workflow_commands;
use clap_complete::Shell;
use serde_json::{Map, Value, json};
use std::process::ExitCode;

/// Runs a client command; prints its result or error and gives the exit code.
pub(crate) async fn run(cmd: ClientCommand) -> ExitCode {
    match cmd {
        ClientCommand::Status(client) => status(&client).await,
        ClientCommand::Models { action, client } => {
            let format = client.output.format();
            match models(&client, action).await {
                Ok(v) => {
                    output::print(&v, format);
                    ExitCode::SUCCESS
                }
                Err(f) => output::fail(&f, format),
            }
        }
        ClientCommand::Node {
            name,
            params,
            client,
        } => {
            let format = client.output.format();
            let result = async {
                let params = match params {
                    Some(text) => read_json_arg(&text)?,
                    None => json!({}),
                };
                let backend = Backend::open(&client, true).await?;
                let out = backend.run_node(&name, &params).await;
                backend.close().await;
                out
            }
            .await;
            match result {
                Ok(v) => {
                    output::print(&v, format);
                    ExitCode::SUCCESS
                }
                Err(f) => output::fail(&f, format),
            }
        }
        ClientCommand::Run(args) => workflow_commands::run(args).await,
        ClientCommand::Workflows { action, client } => {
            workflow_commands::workflows(action, client).await
        }
        ClientCommand::Completions { shell, client } => completions(shell, &client).await,
        ClientCommand::Audit(args) => {
            let format = args.client.output.format();
            match audit(&args).await {
                Ok(v) => {
                    let v = match format {
                        output::Format::Table => audit_table(v),
                        _ => v,
                    };
                    output::print(&v, format);
                    ExitCode::SUCCESS
                }
                Err(f) => output::fail(&f, format),
            }
        }
    }
}

/// A page of the audit trail as a table shows it: when, who, through what, which record, and
/// the changes (a bulk write's summary: how many records, and its filter).
fn audit_table(mut page: Value) -> Value {
    const COLUMNS: [&str; 8] = [
        "at",
        "principal",
        "tenant",
        "channel",
        "via",
        "model",
        "op",
        "record_id",
    ];
    for r in page["records"].as_array_mut().into_iter().flatten() {
        let mut row = Map::new();
        for c in COLUMNS {
            row.insert(c.into(), r[c].take());
        }
        let changes = match r["changes"].take() {
            Value::Null => json!({"records": r["count"].take(), "filter": r["filter"].take()}),
            changes => changes,
        };
        row.insert("changes".into(), changes);
        *r = Value::Object(row);
    }
    page
}

/// `flowgate audit`: a page of the audit trail, from the server or the database.
async fn audit(args: &AuditArgs) -> Result<Value, Failure> {
    let params = args.params();
    let query = crate::audit::query_from(&params)?;
    let backend = Backend::open(&args.client, false).await?;
    let out = match &backend {
        Backend::Local(l) => l.audit(query).await,
        Backend::Remote(r) => {
            let pairs: Vec<(String, String)> = params
                .iter()
                .map(|(k, v)| match v {
                    Value::String(s) => (k.clone(), s.clone()),
                    other => (k.clone(), other.to_string()),
                })
                .collect();
            r.get_query(&["audit"], &pairs).await
        }
    };
    backend.close().await;
    out
}

/// `flowgate completions SHELL`: the script of the command line built with the models the
/// connection options name; without any, of the static commands (nothing is opened, so no
/// database file is made in the current directory).
async fn completions(shell: Shell, client: &ClientArgs) -> ExitCode {
    let given = client.server.is_some()
        || client.config.is_some()
        || !client.models.is_empty()
        || client.database_url.is_some()
        || !client.discover.is_empty()
        || std::env::var_os("DATABASE_URL").is_some_and(|v| !v.is_empty());
    let models = if given {
        match Backend::open(client, false).await {
            Ok(backend) => {
                let models = backend.models().to_vec();
                backend.close().await;
                models
            }
            Err(f) => {
                eprintln!(
                    "warning: completions without the model commands: {}",
                    f.0["message"].as_str().unwrap_or("")
                );
                Vec::new()
            }
        }
    } else {
        Vec::new()
    };
    let mut cmd = command(&models);
    let mut script = Vec::new();
    clap_complete::generate(shell, &mut cmd, "flowgate", &mut script);
    output::write_out(&script);
    ExitCode::SUCCESS
}

async fn status(client: &ClientArgs) -> ExitCode {
    let format = client.output.format();
    let board = match client.remote() {
        Err(f) => return output::fail(&f, format),
        Ok(Some(server)) => match Remote::board(server).await {
            Ok(board) => board,
            Err(f) => return output::fail(&f, format),
        },
        Ok(None) => local::status(client).await,
    };
    match format {
        Format::Table => {
            output::line(&render_board(&board));
        }
        _ => output::print(&board, format),
    }
    if board["ready"] == true {
        ExitCode::SUCCESS
    } else {
        ExitCode::from(6)
    }
}

fn render_board(board: &Value) -> String {
    let ready = if board["ready"] == true {
        "ready"
    } else {
        "not ready"
    };
    let features: Vec<Value> = board["features"]
        .as_object()
        .into_iter()
        .flatten()
        .map(|(name, f)| {
            let mut row = Map::new();
            row.insert("feature".into(), json!(name));
            if let Some(obj) = f.as_object() {
                for (k, v) in obj {
                    row.insert(k.clone(), v.clone());
                }
            }
            Value::Object(row)
        })
        .collect();
    format!("{ready}\n{}", output::render(&Value::Array(features)))
}

async fn models(client: &ClientArgs, action: ModelsAction) -> Result<Value, Failure> {
    let backend = Backend::open(client, false).await?;
    let entries = backend.models().to_vec();
    let unavailable = backend.unavailable().to_vec();
    backend.close().await;
    match action {
        ModelsAction::List => {
            let list: Vec<Value> = entries.iter().map(|e| model_json(e, false)).collect();
            let mut out = json!({ "models": list });
            if !unavailable.is_empty() {
                out["unavailable"] = unavailable
                    .iter()
                    .map(|u| json!({"name": u.name, "table": u.table, "reason": u.reason}))
                    .collect();
            }
            Ok(out)
        }
        ModelsAction::Show { name } => {
            if let Some(e) = entries
                .iter()
                .find(|e| e.info.name() == name || e.info.table == name)
            {
                let mut out = model_json(e, true);
                let relations: Vec<Value> =
                    flowgate::model::relations(&e.info.def, entries.iter().map(|o| &o.info.def))
                        .iter()
                        .map(flowgate::model::Relation::to_json)
                        .collect();
                out["relations"] = Value::Array(relations);
                return Ok(out);
            }
            if let Some(u) = unavailable
                .iter()
                .find(|u| u.name == name || u.table == name)
            {
                return Err(u.failure());
            }
            Err(Failure::from(flowgate::Error::not_found(
                flowgate::Missing::Model,
                name,
            )))
        }
    }
}
