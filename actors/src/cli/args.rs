//! The command line's argument types (clap derive): the static commands, their options, and
//! the options every client command takes. What runs them lives elsewhere (`cli.rs` dispatches);
//! the per-model data commands are built at run time (`model_commands.rs`).

use super::output::{Failure, Format};
use crate::Supervisor;
use clap::{Args, Parser, Subcommand};
use clap_complete::Shell;
use std::path::PathBuf;

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
6 not ready or unavailable, 7 unauthorized or forbidden, 8 rate limited, 1 other."
)]
pub(crate) struct Cli {
    #[command(subcommand)]
    pub(crate) command: Command,
}

#[derive(Subcommand)]
pub(crate) enum Command {
    /// Run the server.
    Serve(ServerArgs),
    /// Inspect and apply migrations.
    Migrate {
        #[command(subcommand)]
        action: MigrateAction,
        #[command(flatten)]
        source: SourceArgs,
        #[command(flatten)]
        output: OutputArgs,
    },
    /// Create, list and revoke API keys, on the database the options name (the key is printed
    /// once; the database keeps only its hash).
    Keys {
        #[command(subcommand)]
        action: KeysAction,
        #[command(flatten)]
        source: SourceArgs,
        #[command(flatten)]
        output: OutputArgs,
    },
    /// Read an existing database's tables and write a schema file that serves them as they
    /// are (`managed = false`): field types, nullability, defaults, unique constraints,
    /// indexes, foreign keys as references. Tables that cannot be served are listed with the
    /// reason. Changes nothing on the database.
    Introspect(IntrospectArgs),
    #[command(flatten)]
    Client(ClientCommand),
    /// Serve MCP on standard input and output, for desktop MCP clients (logs go to stderr).
    Mcp {
        /// Use the stdio transport (the only one here; `serve` has streamable HTTP at /mcp).
        #[arg(long)]
        stdio: bool,
        #[command(flatten)]
        server: ServerArgs,
    },
}

/// `flowgate introspect`.
#[derive(Args)]
pub(crate) struct IntrospectArgs {
    /// The database to read (also DATABASE_URL).
    #[arg(long, env = "DATABASE_URL", hide_env_values = true)]
    pub(crate) database_url: String,
    /// Only these tables (comma-separated).
    #[arg(long, value_delimiter = ',')]
    pub(crate) tables: Vec<String>,
    /// The PostgreSQL schema to read (default: the connection's current schema, usually `public`).
    #[arg(long)]
    pub(crate) schema: Option<String>,
    /// The schema file's format (default: by --output's extension, else toml).
    #[arg(long, value_enum)]
    pub(crate) format: Option<SchemaFormat>,
    /// Write the schema file here instead of standard output.
    #[arg(long, short)]
    pub(crate) output: Option<PathBuf>,
    /// Write the models as Flowgate-managed: Flowgate may then migrate these tables.
    #[arg(long)]
    pub(crate) managed: bool,
}

/// A schema file's format.
#[derive(Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub(crate) enum SchemaFormat {
    /// TOML, the notes as comments.
    Toml,
    /// JSON (the notes go to standard error).
    Json,
}

#[derive(Subcommand)]
pub(crate) enum MigrateAction {
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

#[derive(Subcommand)]
pub(crate) enum KeysAction {
    /// Create a key and print it, alone on its line on stdout (with --json, as `key` of an
    /// object); it is never shown again.
    Create {
        /// Its name, unique on the database: letters, digits, `_`, `-`, `.`.
        #[arg(long)]
        name: String,
        /// A role it grants (`admin`, `reader` or one of `[auth.roles]`); repeatable.
        #[arg(long = "role", required = true)]
        roles: Vec<String>,
        /// The tenant it acts for.
        #[arg(long)]
        tenant: Option<String>,
        /// How long it works, like `30d`, `12h` or `1d12h` (forever when absent).
        #[arg(long, value_name = "DURATION")]
        expires_in: Option<String>,
    },
    /// Every key: id, name, prefix, roles, tenant, status and times (never the key).
    List,
    /// Revoke a key by name or id: it stops working at once (within `auth.key_cache_seconds` on
    /// a running server).
    Revoke {
        /// The key's name or id.
        key: String,
    },
}

/// Where the models and the database come from: what `serve`, `mcp` and `migrate` share.
#[derive(Args, Clone)]
pub(crate) struct SourceArgs {
    /// A flowgate.toml.
    #[arg(long, global = true)]
    pub(crate) config: Option<PathBuf>,
    /// A schema file of models (TOML or JSON); repeatable.
    #[arg(long = "models", global = true)]
    pub(crate) models: Vec<PathBuf>,
    /// The database (also DATABASE_URL).
    #[arg(long, global = true)]
    pub(crate) database_url: Option<String>,
    /// A directory of schema and workflow files (`serve` reads it in the background once the
    /// ports are bound); repeatable (also FLOWGATE_DISCOVER, comma-separated).
    #[arg(long = "discover", global = true, value_name = "DIR")]
    pub(crate) discover: Vec<PathBuf>,
}

impl SourceArgs {
    /// A connection to the database of `config` (resolved from these options), with no models:
    /// what `migrate` and `keys` work on.
    pub(crate) async fn connect(config: &crate::Config) -> anyhow::Result<flowgate::Store> {
        use anyhow::Context as _;
        let mut store_cfg = flowgate::StoreConfig::new(config.database_url.clone());
        store_cfg.echo = config.echo;
        let store = flowgate::Store::connect(&store_cfg, flowgate::Schema::default())
            .await
            .context("connecting to the database")?;
        Ok(store)
    }

    pub(crate) fn supervisor(&self) -> Supervisor {
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
pub(crate) struct ServerArgs {
    #[command(flatten)]
    pub(crate) source: SourceArgs,
    /// The HTTP port (also FLOWGATE_HTTP_PORT); 0 picks a free port.
    #[arg(long, global = true)]
    pub(crate) http_port: Option<u16>,
    /// The MCP port (also FLOWGATE_MCP_PORT); 0 picks a free port.
    #[arg(long, global = true)]
    pub(crate) mcp_port: Option<u16>,
    /// Also serve every table of the database no model declares, as it is (`managed = false`),
    /// read from its catalog in the background (also FLOWGATE_INTROSPECT).
    #[arg(long, global = true)]
    pub(crate) introspect: bool,
}

impl ServerArgs {
    pub(crate) fn supervisor(&self) -> Supervisor {
        let mut s = self.source.supervisor();
        if let Some(p) = self.http_port {
            s = s.http_port(p);
        }
        if let Some(p) = self.mcp_port {
            s = s.set("mcp_port", p);
        }
        if self.introspect {
            s = s.set("introspect", true);
        }
        s
    }
}

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
    /// Remote mode: the API key or JSON Web Token sent as `Authorization: Bearer` (also
    /// FLOWGATE_TOKEN). Never printed.
    #[arg(
        long,
        env = "FLOWGATE_TOKEN",
        hide_env_values = true,
        global = true,
        value_name = "TOKEN"
    )]
    pub(crate) token: Option<String>,
    /// The tenant to act for on a multi-tenant database (also FLOWGATE_TENANT): sent as
    /// X-Tenant-ID in remote mode. Acting for a tenant other than the credential's own takes
    /// the admin:tenants permission (local mode: `auth.local_role`'s).
    #[arg(
        long,
        env = "FLOWGATE_TENANT",
        hide_env_values = true,
        global = true,
        value_name = "TENANT"
    )]
    pub(crate) tenant: Option<String>,
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
    /// The remote server and the token to send it, refusing local-mode options beside it.
    pub(crate) fn remote(&self) -> Result<Option<Server<'_>>, Failure> {
        let Some(url) = self.server.as_deref().filter(|s| !s.is_empty()) else {
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
        Ok(Some(Server {
            url,
            token: self.token.as_deref().filter(|t| !t.is_empty()),
            tenant: self.tenant.as_deref(),
        }))
    }
}

/// A server to call (remote mode): its URL and the credential to send.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Server<'a> {
    /// The base URL.
    pub(crate) url: &'a str,
    /// The bearer token, when one is given.
    pub(crate) token: Option<&'a str>,
    /// The tenant to act for (`X-Tenant-ID`), when one is given.
    pub(crate) tenant: Option<&'a str>,
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
    Run(RunArgs),
    /// The workflows: list them, show one, apply a file, read a run.
    Workflows {
        #[command(subcommand)]
        action: WorkflowsAction,
        #[command(flatten)]
        client: ClientArgs,
    },
    /// The audit trail, newest first (takes admin:audit): who changed which record, when,
    /// through what, and the changed fields. A server's `GET /audit`, or in local mode the
    /// database's `flowgate_audit`.
    Audit(AuditArgs),
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

/// `flowgate audit`.
#[derive(Args)]
pub(crate) struct AuditArgs {
    /// Only rows of this model (its name).
    #[arg(long)]
    pub(crate) model: Option<String>,
    /// Only rows of this record id.
    #[arg(long = "record", value_name = "ID")]
    pub(crate) record: Option<String>,
    /// Only rows of this principal (`key:<id>`, `jwt:<sub>`, `local`).
    #[arg(long)]
    pub(crate) principal: Option<String>,
    /// Only rows at or after this RFC 3339 time, e.g. 2026-01-31T09:00:00Z.
    #[arg(long, value_name = "TIME")]
    pub(crate) since: Option<String>,
    /// At most this many rows (1 to 1000; default 50).
    #[arg(long)]
    pub(crate) limit: Option<u64>,
    /// The `next_cursor` of a previous page.
    #[arg(long)]
    pub(crate) cursor: Option<String>,
    #[command(flatten)]
    pub(crate) client: ClientArgs,
}

impl AuditArgs {
    /// The filters, as `GET /audit` takes them.
    pub(crate) fn params(&self) -> serde_json::Map<String, serde_json::Value> {
        let mut out = serde_json::Map::new();
        for (key, v) in [
            ("model", &self.model),
            ("record_id", &self.record),
            ("principal", &self.principal),
            ("since", &self.since),
            ("cursor", &self.cursor),
        ] {
            if let Some(v) = v {
                out.insert(key.into(), serde_json::Value::String(v.clone()));
            }
        }
        if let Some(n) = self.limit {
            out.insert("limit".into(), n.into());
        }
        out
    }
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

/// `flowgate run NAME`.
#[derive(Args)]
pub(crate) struct RunArgs {
    /// The workflow's name.
    pub(crate) name: String,
    /// One input, `KEY=VALUE`; repeatable. The value is read as JSON when it is JSON (`42`,
    /// `true`, `[1,2]`, `"42"` for the text 42), else as text.
    #[arg(long = "param", value_name = "KEY=VALUE")]
    pub(crate) params: Vec<String>,
    /// The inputs as one JSON object, `@file.json`, or `-` for standard input; `--param` wins
    /// over its keys.
    #[arg(long, value_name = "JSON|@FILE", allow_hyphen_values = true)]
    pub(crate) inputs: Option<String>,
    /// Start the run in the background on the server and print its id (`mode: async`); read
    /// it later with `flowgate workflows run NAME RUN_ID`.
    #[arg(long = "async")]
    pub(crate) background: bool,
    #[command(flatten)]
    pub(crate) client: ClientArgs,
}

/// `flowgate workflows ...`.
#[derive(Subcommand)]
pub(crate) enum WorkflowsAction {
    /// Every workflow that serves: name, description, nodes, input schema.
    List,
    /// One workflow: its nodes, connections, input schema and order.
    Show {
        /// The workflow's name.
        name: String,
    },
    /// Register (or replace) the workflow of a file (TOML, JSON or YAML): checked against the
    /// models, then saved in the database, where every server on it serves it from its next
    /// start; with --server, the running server serves it at once (and saves it).
    Apply {
        /// The workflow file.
        file: PathBuf,
    },
    /// A run started with `flowgate run --async`: its status, and its results or error.
    Run {
        /// The workflow's name.
        name: String,
        /// The run's id.
        run_id: String,
    },
}
