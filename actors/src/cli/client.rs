//! The client side of the command line: the options every client command takes (local or
//! remote mode, output), the backend they open, and the static commands `status`, `models`,
//! `node` and `completions`.

use super::local::{self, Local};
use super::output::{self, Failure, Format};
use super::remote::Remote;
use clap::{Args, Subcommand};
use clap_complete::Shell;
use flowgate::{ModelInfo, OpKind, Schema};
use serde_json::{Map, Value, json};
use std::path::PathBuf;
use std::process::ExitCode;
use std::sync::Arc;

/// Output options.
#[derive(Args, Clone, Copy, Debug, Default)]
#[command(next_help_heading = "Output")]
pub(crate) struct OutputArgs {
    /// Print JSON: exactly the operation's result (the default when stdout is not a terminal).
    #[arg(long, global = true, conflicts_with = "table")]
    pub(crate) json: bool,
    /// Print tables even when stdout is not a terminal.
    #[arg(long, global = true)]
    pub(crate) table: bool,
    /// The output format: `table`, `json` (as --table, --json) or `csv` (a header row of the
    /// fields, a row per record, nested JSON as JSON text).
    #[arg(long, global = true, value_name = "FORMAT", conflicts_with_all = ["json", "table"])]
    pub(crate) format: Option<Format>,
}

impl OutputArgs {
    /// The format to print in.
    pub(crate) fn format(self) -> Format {
        Format::choose(self.format, self.json, self.table)
    }

    /// Whether a format was asked for (`--format`, `--json`, `--table`), rather than chosen by
    /// whether stdout is a terminal.
    pub(crate) fn explicit(self) -> bool {
        self.format.is_some() || self.json || self.table
    }
}

/// Where a client command runs: on the database (local mode) or through a running server
/// (remote mode, `--server` or `FLOWGATE_SERVER`).
#[derive(Args, Clone, Debug, Default)]
#[command(next_help_heading = "Connection")]
pub(crate) struct ClientArgs {
    /// Call a running server instead of opening the database, e.g. http://127.0.0.1:8000
    /// (also FLOWGATE_SERVER).
    #[arg(
        long,
        env = "FLOWGATE_SERVER",
        hide_env_values = true,
        global = true,
        value_name = "URL"
    )]
    pub(crate) server: Option<String>,
    /// Local mode: a flowgate.toml.
    #[arg(long, global = true, value_name = "FILE")]
    pub(crate) config: Option<PathBuf>,
    /// Local mode: a schema file (TOML or JSON) of models beside those persisted in the
    /// database's registry; repeatable. Data commands migrate them as `serve` would.
    #[arg(long = "models", global = true, value_name = "FILE")]
    pub(crate) models: Vec<PathBuf>,
    /// Local mode: the database (also DATABASE_URL; default sqlite://flowgate.db).
    #[arg(long, global = true, value_name = "URL")]
    pub(crate) database_url: Option<String>,
    /// Local mode: a directory of schema and workflow files, as `serve --discover` reads it;
    /// repeatable (also FLOWGATE_DISCOVER).
    #[arg(long = "discover", global = true, value_name = "DIR")]
    pub(crate) discover: Vec<PathBuf>,
    #[command(flatten)]
    pub(crate) output: OutputArgs,
}

impl ClientArgs {
    /// The remote server, refusing local-mode options beside it.
    fn remote(&self) -> Result<Option<&str>, Failure> {
        let Some(server) = self.server.as_deref().filter(|s| !s.is_empty()) else {
            return Ok(None);
        };
        let local = [
            ("--config", self.config.is_some()),
            ("--models", !self.models.is_empty()),
            ("--database-url", self.database_url.is_some()),
            ("--discover", !self.discover.is_empty()),
        ];
        if let Some((flag, _)) = local.iter().find(|(_, given)| *given) {
            return Err(Failure::usage(format!(
                "{flag} is for local mode, but a server is given (--server or FLOWGATE_SERVER)"
            )));
        }
        Ok(Some(server))
    }
}

/// A model a client command can act on.
#[derive(Clone, Debug)]
pub(crate) struct ModelEntry {
    /// The compiled model.
    pub(crate) info: Arc<ModelInfo>,
    /// Its registry version, when persisted.
    pub(crate) version: Option<i64>,
}

/// A model that exists but cannot serve (a refused migration, say).
#[derive(Clone, Debug)]
pub(crate) struct Unavailable {
    /// The model's name.
    pub(crate) name: String,
    /// Its table.
    pub(crate) table: String,
    /// Why it cannot serve.
    pub(crate) reason: String,
}

impl Unavailable {
    /// The error a command on this model gets.
    pub(crate) fn failure(&self) -> Failure {
        Failure::from(flowgate::Error::NotReady {
            what: format!("model:{}", self.name),
            state: format!("failed: {}", self.reason),
            retry_after_ms: 5000,
        })
    }
}

/// Local or remote: the one thing client commands run operations on.
pub(crate) enum Backend {
    /// The database, through `flowgate::Store`.
    Local(Local),
    /// A running server, through `POST /nodes/{Model}{Op}Node`.
    Remote(Remote),
}

impl Backend {
    /// Opens the backend the options name. `migrate`: local mode migrates declared models as
    /// `serve` would (data commands); without it, nothing is written but the registry's tables.
    pub(crate) async fn open(args: &ClientArgs, migrate: bool) -> Result<Backend, Failure> {
        match args.remote()? {
            Some(url) => Ok(Backend::Remote(Remote::connect(url).await?)),
            None => Ok(Backend::Local(Local::open(args, migrate).await?)),
        }
    }

    /// The models it serves.
    pub(crate) fn models(&self) -> &[ModelEntry] {
        match self {
            Backend::Local(l) => &l.models,
            Backend::Remote(r) => &r.models,
        }
    }

    /// Models that exist but cannot serve.
    pub(crate) fn unavailable(&self) -> &[Unavailable] {
        match self {
            Backend::Local(l) => &l.unavailable,
            Backend::Remote(_) => &[],
        }
    }

    /// Runs one operation: the same params reach the same operation on either side.
    pub(crate) async fn run(
        &self,
        model: &ModelInfo,
        op: OpKind,
        params: &Value,
    ) -> Result<Value, Failure> {
        match self {
            Backend::Local(l) => l.run(model, op, params).await,
            Backend::Remote(r) => r.call(&op.node_name(model.name()), params).await,
        }
    }

    /// Runs a node by name (`BookCreateNode`).
    pub(crate) async fn run_node(&self, node: &str, params: &Value) -> Result<Value, Failure> {
        match self {
            Backend::Local(l) => l.run_node(node, params).await,
            Backend::Remote(r) => r.call(node, params).await,
        }
    }

    /// The workflows: `{"workflows": [...]}` as `GET /workflows` answers (locally, with
    /// `unavailable` listing those that do not serve, when any).
    pub(crate) async fn workflows(&self) -> Result<Value, Failure> {
        match self {
            Backend::Local(l) => Ok(l.catalog().await?.list_json()),
            Backend::Remote(r) => r.get(&["workflows"]).await,
        }
    }

    /// One workflow, as `GET /workflows/{name}` answers.
    pub(crate) async fn workflow(&self, name: &str) -> Result<Value, Failure> {
        match self {
            Backend::Local(l) => Ok(l.catalog().await?.served(name)?.describe.clone()),
            Backend::Remote(r) => r.get(&["workflows", name]).await,
        }
    }

    /// Runs a workflow to its end: its result, or the run's error object.
    pub(crate) async fn run_workflow(&self, name: &str, inputs: Value) -> Result<Value, Failure> {
        match self {
            Backend::Local(l) => l.run_workflow(name, inputs).await,
            Backend::Remote(r) => {
                let body = json!({"inputs": inputs, "mode": "sync"});
                r.post(&["workflows", name, "execute"], &body).await
            }
        }
    }

    /// Starts a workflow in the background on the server: `{run_id, workflow, status}`.
    pub(crate) async fn start_workflow(&self, name: &str, inputs: Value) -> Result<Value, Failure> {
        match self {
            Backend::Local(_) => Err(Failure::usage(
                "--async needs a server (--server or FLOWGATE_SERVER): a local run ends with the command",
            )),
            Backend::Remote(r) => {
                let body = json!({"inputs": inputs, "mode": "async"});
                r.post(&["workflows", name, "execute"], &body).await
            }
        }
    }

    /// A stored run, as `GET /workflows/{name}/runs/{run_id}` answers.
    pub(crate) async fn workflow_run(&self, name: &str, run_id: &str) -> Result<Value, Failure> {
        match self {
            Backend::Local(l) => l.workflow_run(name, run_id).await,
            Backend::Remote(r) => r.get(&["workflows", name, "runs", run_id]).await,
        }
    }

    /// Registers (or replaces) a workflow: checked against the models, saved, and described.
    pub(crate) async fn apply_workflow(
        &self,
        wf: &flowgate::workflow::Workflow,
    ) -> Result<Value, Failure> {
        match self {
            Backend::Local(l) => l.apply_workflow(wf).await,
            Backend::Remote(r) => r.post(&["workflows"], &wf.to_json()).await,
        }
    }

    /// Closes the pool (local mode).
    pub(crate) async fn close(self) {
        if let Backend::Local(l) = self {
            l.close().await;
        }
    }
}

/// The client commands with fixed shapes.
#[derive(Subcommand)]
pub(crate) enum ClientCommand {
    /// The readiness board: a server's `GET /health/ready`, or in local mode the database,
    /// the registry, each model and pending migrations. Exits 6 when not ready.
    Status(ClientArgs),
    /// The models: name, table, fields with types and options, version.
    Models {
        #[command(subcommand)]
        action: ModelsAction,
        #[command(flatten)]
        client: ClientArgs,
    },
    /// Run a workflow node by name, e.g. `flowgate node BookCreateNode --params '{"title":"Dune"}'`:
    /// the same params and result as `POST /nodes/{NodeName}` and the MCP tool.
    Node {
        /// The node: `<Model><Op>Node`, e.g. BookBulkCreateNode.
        name: String,
        /// The node's params: JSON, `@file.json`, or `-` for standard input.
        #[arg(long, value_name = "JSON|@FILE", allow_hyphen_values = true)]
        params: Option<String>,
        #[command(flatten)]
        client: ClientArgs,
    },
    /// Run a workflow, e.g. `flowgate run signup --param email=ada@example.com --param age=36`:
    /// the same inputs and result as `POST /workflows/{name}/execute` and the MCP tool.
    Run(super::workflows::RunArgs),
    /// The workflows: list them, show one, apply a file, read a run.
    Workflows {
        #[command(subcommand)]
        action: super::workflows::WorkflowsAction,
        #[command(flatten)]
        client: ClientArgs,
    },
    /// Print a shell completion script: the static commands, and the data commands of the
    /// models the connection options name (`--models`, `--discover`, `--config`,
    /// `--database-url` or DATABASE_URL: the registry's models; `--server`: the server's), read
    /// as `models list` reads them. Generate it again when the models change.
    Completions {
        /// The shell.
        shell: Shell,
        #[command(flatten)]
        client: ClientArgs,
    },
}

/// `flowgate models ...`.
#[derive(Subcommand)]
pub(crate) enum ModelsAction {
    /// Every model: name, table, version, field count, description.
    List,
    /// One model (by name or table): its fields with types and options.
    Show {
        /// The model's name or table.
        name: String,
    },
}

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
                    Some(text) => super::data::read_json_arg(&text)?,
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
        ClientCommand::Run(args) => super::workflows::run(args).await,
        ClientCommand::Workflows { action, client } => {
            super::workflows::workflows(action, client).await
        }
        ClientCommand::Completions { shell, client } => completions(shell, &client).await,
    }
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
    let mut cmd = super::data::command(&models);
    let mut script = Vec::new();
    clap_complete::generate(shell, &mut cmd, "flowgate", &mut script);
    output::write_out(&script);
    ExitCode::SUCCESS
}

async fn status(client: &ClientArgs) -> ExitCode {
    let format = client.output.format();
    let board = match client.remote() {
        Err(f) => return output::fail(&f, format),
        Ok(Some(url)) => match Remote::board(url).await {
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

/// The JSON form of a model for `models list` / `models show`: the same on both sides, as it
/// is built from the definition and version alone.
pub(crate) fn model_json(entry: &ModelEntry, detailed: bool) -> Value {
    let m = &entry.info;
    let mut out = Map::new();
    out.insert("name".into(), json!(m.name()));
    out.insert("table".into(), json!(m.table));
    out.insert("version".into(), json!(entry.version));
    out.insert("description".into(), json!(m.def.description));
    if !detailed {
        out.insert("fields".into(), json!(m.def.fields.len()));
        return Value::Object(out);
    }
    out.insert("soft_delete".into(), json!(m.def.soft_delete));
    let canonical = flowgate::model::to_json(std::slice::from_ref(&m.def));
    let declared = &canonical["models"][m.name()]["fields"];
    let fields: Vec<Value> = m
        .columns
        .iter()
        .map(|c| {
            let mut f = Map::new();
            f.insert("name".into(), json!(c.name()));
            let role = match c.role {
                flowgate::model::Role::Id => "id",
                flowgate::model::Role::Field => "field",
                _ => "managed",
            };
            f.insert("role".into(), json!(role));
            match declared.get(c.name()).and_then(Value::as_object) {
                Some(opts) if c.role == flowgate::model::Role::Field => {
                    for (k, v) in opts {
                        f.insert(k.clone(), v.clone());
                    }
                }
                _ => {
                    f.insert("type".into(), json!(c.ty().as_str()));
                    if c.def.optional {
                        f.insert("optional".into(), json!(true));
                    }
                }
            }
            Value::Object(f)
        })
        .collect();
    out.insert("fields".into(), Value::Array(fields));
    out.insert("indexes".into(), json!(m.def.indexes));
    out.insert("unique".into(), json!(m.def.unique));
    Value::Object(out)
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
                return Ok(model_json(e, true));
            }
            if let Some(u) = unavailable
                .iter()
                .find(|u| u.name == name || u.table == name)
            {
                return Err(u.failure());
            }
            Err(Failure::from(flowgate::Error::NotFound {
                model: "model".into(),
                id: name,
            }))
        }
    }
}

/// Compiles definitions with their versions into entries.
pub(crate) fn entries(
    defs: Vec<(flowgate::ModelDef, Option<i64>)>,
) -> Result<Vec<ModelEntry>, Failure> {
    let versions: std::collections::HashMap<String, Option<i64>> =
        defs.iter().map(|(d, v)| (d.name.clone(), *v)).collect();
    let schema = Schema::new(defs.into_iter().map(|(d, _)| d))?;
    let mut out: Vec<ModelEntry> = schema
        .models()
        .map(|m| ModelEntry {
            info: m.clone(),
            version: versions.get(m.name()).copied().flatten(),
        })
        .collect();
    out.sort_by(|a, b| a.info.name().cmp(b.info.name()));
    Ok(out)
}

/// Logs to stderr; `RUST_LOG` wins over `default`.
pub(crate) fn init_tracing(default: &str) {
    let _ = tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_default_env()
                .unwrap_or_else(|_| default.into()),
        )
        .with_writer(std::io::stderr)
        .with_ansi(std::io::IsTerminal::is_terminal(&std::io::stderr()))
        .try_init();
}
