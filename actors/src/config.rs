//! Configuration: one `Config` from a TOML file, environment variables and the builder, in that
//! order of precedence reversed (the builder wins). Unknown keys are errors that name the key.

use flowgate::OpKind;
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};
use std::path::{Path, PathBuf};

/// Everything the server can be told.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct Config {
    /// The database (`sqlite://flowgate.db`, `sqlite::memory:`, `postgres://...`, `mysql://...`).
    pub database_url: String,
    /// The most database connections.
    pub pool_size: u32,
    /// The longest one statement of an operation may run, in milliseconds, before the database
    /// stops it and the operation answers 503 (0: no limit). Schema changes are not limited.
    pub statement_timeout_ms: u64,
    /// Concurrent operations per model node (default: the pool size).
    pub node_workers: Option<usize>,
    /// Apply safe migrations at start; when off, a model whose table differs fails with the
    /// pending changes until `flowgate migrate up`.
    pub auto_migrate: bool,
    /// Persist model definitions in the registry tables (and serve models other applications
    /// persisted). When off, declared models get their tables and nothing is recorded.
    pub model_persistence: bool,
    /// Seconds to wait for another process's migration lock.
    pub migration_lock_timeout: u64,
    /// Log every SQL statement with its duration.
    pub echo: bool,
    /// How the `flowgate` binary writes its log on stderr: `text` (default) or `json` (a JSON
    /// object per line).
    pub log_format: crate::logging::LogFormat,
    /// The address to bind.
    pub host: String,
    /// The HTTP port (0 picks a free one).
    pub http_port: u16,
    /// The MCP port (0 picks a free one).
    pub mcp_port: u16,
    /// How long a request for a model that is not ready yet waits before a 503.
    pub ready_wait_ms: u64,
    /// The largest request body, in bytes.
    pub body_limit: usize,
    /// The longest backoff between attempts to reach the database, in milliseconds.
    pub connect_retry_max_ms: u64,
    /// Schema files (TOML or JSON) to load models from.
    pub models: Vec<PathBuf>,
    /// Host names MCP accepts besides localhost.
    pub allowed_hosts: Vec<String>,
    /// How long a request head may take to arrive, in milliseconds, from its first byte (from
    /// the accept for a connection's first request); then 408 and the connection closes.
    #[serde(deserialize_with = "crate::gateway::config_keys::header_timeout_ms")]
    pub header_timeout_ms: u64,
    /// How long a keep-alive connection may wait for its next request, in milliseconds.
    #[serde(deserialize_with = "crate::gateway::config_keys::idle_timeout_ms")]
    pub idle_timeout_ms: u64,
    /// The most open connections per port (HTTP and MCP each); when full, the connection that
    /// has waited longest for a request head is closed to make room.
    #[serde(deserialize_with = "crate::gateway::config_keys::max_connections")]
    pub max_connections: usize,
    /// Browser origins (`https://app.example.com`, `http://localhost:5173`) allowed to call the
    /// REST API across origins; empty: none. Other cross-origin requests are refused (403).
    #[serde(deserialize_with = "crate::gateway::config_keys::cors_origins")]
    pub cors_origins: Vec<String>,
    /// Directories of schema files and workflow files, read in the background once the ports
    /// are bound (a file that does not read fails only what it declares).
    pub discover: Vec<PathBuf>,
    /// Serve the database's tables that no model declares, as they are (`managed = false`),
    /// read from its catalog once the declared models serve (DESIGN 13.10, `flowgate introspect`).
    pub introspect: bool,
    /// A response cache (not available yet: enabling it is an error).
    pub cache: bool,
    /// The cache's time to live in seconds.
    pub cache_ttl: u64,
    /// Prometheus metrics at `/metrics` (not available yet: enabling it is an error).
    pub metrics: bool,
    /// The audit trail (DESIGN 13.5, on by default): every committed write leaves rows in
    /// `flowgate_audit`, in the write's own transaction.
    pub audit_log: bool,
    /// The audit trail's settings (`[audit]`).
    pub audit: AuditConfig,
    /// Multi-tenancy (DESIGN 13.4): every model scoped by tenant unless it says
    /// `tenant_scoped = false`; the tenant comes from the caller's credential.
    pub multi_tenant: bool,
    /// Authentication and the roles (`[auth]`, DESIGN 13.1–13.2).
    pub auth: crate::auth::AuthConfig,
    /// Rate limits (`[rate_limit]`, DESIGN 13.3).
    pub rate_limit: crate::rate_limit::RateLimitConfig,
    /// Cross-origin browsers (`[cors]`).
    pub cors: CorsConfig,
    /// Durability of async runs (not available yet: setting it is an error).
    pub durability: Option<Value>,
    /// The MCP channel: which tools it lists (`[mcp]`).
    pub mcp: McpConfig,
}

/// `[audit]`: how much a bulk write records, and how long rows are kept.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct AuditConfig {
    /// A bulk write records one row per record up to this many, then one summary row with the
    /// count and the filter (at least 1).
    pub max_rows_per_op: usize,
    /// Rows older than this many days are deleted in the background, hourly (0, the default:
    /// kept for ever).
    pub retention_days: u32,
}

impl Default for AuditConfig {
    fn default() -> Self {
        AuditConfig {
            max_rows_per_op: flowgate::audit::DEFAULT_MAX_ROWS_PER_OP,
            retention_days: 0,
        }
    }
}

/// `[cors]`: which browser origins may call the REST API from their pages.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct CorsConfig {
    /// Browser origins (`https://app.example.com`) allowed to call across origins; empty (the
    /// default): CORS is off, and a cross-origin request is refused. The older top-level
    /// `cors_origins` adds to this list.
    #[serde(deserialize_with = "crate::gateway::config_keys::cors_origins")]
    pub allowed_origins: Vec<String>,
}

/// `[mcp]`: how models become MCP tools.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct McpConfig {
    /// `per_model` (the default): every model's operations as tools `<table>_<op>`;
    /// `compact`: a dozen generic tools that take the model as an argument.
    #[serde(deserialize_with = "tool_mode")]
    pub tools: ToolMode,
    /// The operations a model exposes as tools when it says nothing (`mcp_tools`); absent:
    /// all eleven.
    #[serde(deserialize_with = "default_tools")]
    pub default_tools: Option<Vec<OpKind>>,
}

impl McpConfig {
    /// The operations `model` exposes as MCP tools: its own `mcp_tools`, else `default_tools`,
    /// else every operation. The others are still served on REST, `/nodes` and the CLI.
    pub fn exposed<'a>(&'a self, model: &'a flowgate::ModelDef) -> &'a [OpKind] {
        model
            .mcp_tools
            .as_deref()
            .or(self.default_tools.as_deref())
            .unwrap_or(&OpKind::ALL)
    }
}

/// What the MCP tool list holds (`[mcp] tools`).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ToolMode {
    /// A tool per exposed operation of each model: `books_list`, `books_create`, ...
    #[default]
    PerModel,
    /// Generic tools (`describe`, `list`, `read`, `create`, ...) taking the model as an
    /// argument; each model's schema is also the resource `flowgate://models/{Model}`.
    Compact,
}

fn tool_mode<'de, D: serde::Deserializer<'de>>(d: D) -> Result<ToolMode, D::Error> {
    use serde::de::Error;
    let text = String::deserialize(d).map_err(|e| D::Error::custom(format!("`mcp.tools`: {e}")))?;
    match text.as_str() {
        "per_model" => Ok(ToolMode::PerModel),
        "compact" => Ok(ToolMode::Compact),
        other => Err(D::Error::custom(format!(
            "`mcp.tools`: unknown value `{other}` (expected `per_model` or `compact`)"
        ))),
    }
}

fn default_tools<'de, D: serde::Deserializer<'de>>(d: D) -> Result<Option<Vec<OpKind>>, D::Error> {
    use serde::de::Error;
    let key = "`mcp.default_tools`";
    let Some(names) = Option::<Vec<String>>::deserialize(d)
        .map_err(|e| D::Error::custom(format!("{key}: {e}")))?
    else {
        return Ok(None);
    };
    let ops = names
        .iter()
        .map(|name| {
            OpKind::parse(name).ok_or_else(|| {
                let known: Vec<&str> = OpKind::ALL.iter().map(|k| k.as_str()).collect();
                D::Error::custom(format!(
                    "{key}: unknown operation `{name}` (expected some of {})",
                    known.join(", ")
                ))
            })
        })
        .collect::<Result<Vec<_>, _>>()?;
    Ok(Some(flowgate::model::op_set(ops)))
}

impl Default for Config {
    fn default() -> Self {
        Config {
            database_url: "sqlite://flowgate.db".into(),
            pool_size: 10,
            statement_timeout_ms: 5000,
            node_workers: None,
            auto_migrate: true,
            model_persistence: true,
            introspect: false,
            migration_lock_timeout: 30,
            echo: false,
            log_format: crate::logging::LogFormat::Text,
            host: "127.0.0.1".into(),
            http_port: 8000,
            mcp_port: 3001,
            ready_wait_ms: 2000,
            body_limit: 2 * 1024 * 1024,
            connect_retry_max_ms: 2000,
            models: Vec::new(),
            allowed_hosts: Vec::new(),
            header_timeout_ms: 10_000,
            idle_timeout_ms: 60_000,
            max_connections: 4096,
            cors_origins: Vec::new(),
            discover: Vec::new(),
            cache: false,
            cache_ttl: 60,
            metrics: false,
            audit_log: true,
            audit: AuditConfig::default(),
            multi_tenant: false,
            auth: Default::default(),
            rate_limit: Default::default(),
            cors: CorsConfig::default(),
            durability: None,
            mcp: McpConfig::default(),
        }
    }
}

/// A configuration error, naming the key or file.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
#[error("{0}")]
pub struct ConfigError(pub String);

/// The keys that are tables of keys (`[mcp]`, `[auth]`, ...).
const TABLES: [&str; 5] = ["mcp", "auth", "rate_limit", "cors", "audit"];

/// Refuses an unknown key inside a table, naming it (`mcp.toolz`).
fn check_tables(map: &Map<String, Value>) -> Result<(), ConfigError> {
    let defaults = serde_json::to_value(Config::default()).unwrap_or(Value::Null);
    for table in TABLES {
        match map.get(table) {
            None => {}
            Some(Value::Object(m)) => {
                if let Some(key) = m.keys().find(|k| defaults[table].get(k.as_str()).is_none()) {
                    return Err(ConfigError(format!("unknown key `{table}.{key}`")));
                }
            }
            Some(other) => {
                return Err(ConfigError(format!(
                    "`{table}` must be a table of keys, got {other}"
                )));
            }
        }
    }
    Ok(())
}

/// An environment variable's text as the JSON value of a key whose default is `default`.
fn env_value(default: &Value, raw: String) -> Value {
    match default {
        Value::String(_) => Value::String(raw),
        Value::Array(_) => list_value(&raw),
        _ => serde_json::from_str(&raw).unwrap_or(Value::String(raw)),
    }
}

fn list_value(raw: &str) -> Value {
    Value::Array(
        raw.split(',')
            .map(|s| Value::String(s.trim().to_string()))
            .filter(|v| v != "")
            .collect(),
    )
}

/// Environment variables beside `FLOWGATE_<KEY>`.
const ENV_ALIASES: [(&str, &str); 1] = [("DATABASE_URL", "database_url")];

/// `FLOWGATE_*` variables that are not configuration keys, by prefix: the test suite's
/// databases (`FLOWGATE_TEST_POSTGRES_URL`, `FLOWGATE_TEST_MYSQL_URL`,
/// `FLOWGATE_TEST_REQUIRE_ALL`), the benchmarks' settings (`FLOWGATE_BENCH_*`, and
/// `FLOWGATE_LOAD_*` of `benches/load.rs`), the jq fuzz tests' case count (`FLOWGATE_FUZZ_*`).
/// Every other `FLOWGATE_*` variable must name a key, else the configuration is refused.
pub const ENV_NOT_CONFIG_PREFIXES: [&str; 4] = [
    "FLOWGATE_TEST_",
    "FLOWGATE_BENCH_",
    "FLOWGATE_LOAD_",
    "FLOWGATE_FUZZ_",
];

/// `FLOWGATE_*` variables that are not configuration keys, by name: the CLI's `--server` and
/// `--token`.
pub const ENV_NOT_CONFIG: [&str; 3] = ["FLOWGATE_SERVER", "FLOWGATE_TOKEN", "FLOWGATE_TENANT"];

impl Config {
    /// The keys a file, the environment or the builder may set.
    pub fn keys() -> Vec<String> {
        match serde_json::to_value(Config::default()) {
            Ok(Value::Object(m)) => m.keys().cloned().collect(),
            _ => Vec::new(),
        }
    }

    /// Parses a TOML configuration text. `source` names the file in errors.
    pub fn from_toml(text: &str, source: &str) -> Result<Map<String, Value>, ConfigError> {
        let table: toml::Table =
            toml::from_str(text).map_err(|e| ConfigError(format!("{source}: {e}")))?;
        let value =
            serde_json::to_value(table).map_err(|e| ConfigError(format!("{source}: {e}")))?;
        let Value::Object(map) = value else {
            return Err(ConfigError(format!("{source}: expected a table")));
        };
        let keys = Config::keys();
        for key in map.keys() {
            if !keys.contains(key) {
                return Err(ConfigError(format!("{source}: unknown key `{key}`")));
            }
        }
        check_tables(&map).map_err(|e| ConfigError(format!("{source}: {}", e.0)))?;
        Ok(map)
    }

    /// The settings present in the environment: `DATABASE_URL` and `FLOWGATE_<KEY>` for every
    /// key, and `FLOWGATE_<TABLE>_<KEY>` for the keys of a table such as `[mcp]`
    /// (`FLOWGATE_MCP_TOOLS`). Values parse as JSON when they can, else as text; lists split on
    /// commas. Another `FLOWGATE_*` variable is an error naming it, unless it is one of the
    /// tools' own ([`ENV_NOT_CONFIG_PREFIXES`], [`ENV_NOT_CONFIG`]).
    pub fn from_env(
        vars: impl IntoIterator<Item = (String, String)>,
    ) -> Result<Map<String, Value>, ConfigError> {
        let keys = Config::keys();
        let defaults = serde_json::to_value(Config::default()).unwrap_or(Value::Null);
        let mut out = Map::new();
        for (name, raw) in vars {
            let key = ENV_ALIASES
                .iter()
                .find(|(alias, _)| *alias == name)
                .map(|(_, k)| k.to_string())
                .or_else(|| name.strip_prefix("FLOWGATE_").map(str::to_lowercase));
            let Some(key) = key else { continue };
            if keys.contains(&key) {
                let value = env_value(&defaults[&key], raw);
                out.insert(key, value);
                continue;
            }
            // A key of a table: `mcp_tools` is `tools` in `[mcp]`.
            let nested = TABLES.iter().find_map(|table| {
                let sub = key.strip_prefix(table)?.strip_prefix('_')?;
                defaults[*table]
                    .get(sub)
                    .map(|default| (*table, sub, default))
            });
            if let Some((table, sub, default)) = nested {
                // Table keys absent by default: `mcp.default_tools` is a list (JSON, or names
                // split on commas), `auth.required` a boolean, the others text (a secret or a
                // URL is never read as JSON).
                let value = match (default, sub) {
                    (Value::Null, "default_tools") if !raw.trim_start().starts_with('[') => {
                        list_value(&raw)
                    }
                    (Value::Null, "default_tools" | "required") => env_value(default, raw),
                    (Value::Null, _) => Value::String(raw),
                    _ => env_value(default, raw),
                };
                if let Value::Object(m) = out
                    .entry(table.to_string())
                    .or_insert_with(|| Value::Object(Map::new()))
                {
                    m.insert(sub.to_string(), value);
                }
                continue;
            }
            let tools = ENV_NOT_CONFIG.contains(&name.as_str())
                || ENV_NOT_CONFIG_PREFIXES.iter().any(|p| name.starts_with(p));
            if !tools {
                return Err(ConfigError(format!(
                    "environment: unknown variable `{name}` (not a configuration key)"
                )));
            }
        }
        Ok(out)
    }

    /// Builds a configuration from layers, later layers winning, then checks it.
    pub fn from_layers(layers: &[Map<String, Value>]) -> Result<Config, ConfigError> {
        let mut merged = match serde_json::to_value(Config::default()) {
            Ok(Value::Object(m)) => m,
            _ => Map::new(),
        };
        for layer in layers {
            for (k, v) in layer {
                // A table's keys merge one by one: `[mcp] tools` in the file and
                // `FLOWGATE_MCP_DEFAULT_TOOLS` both hold.
                match (merged.get_mut(k), v) {
                    (Some(Value::Object(have)), Value::Object(new))
                        if TABLES.contains(&k.as_str()) =>
                    {
                        for (sub, value) in new {
                            have.insert(sub.clone(), value.clone());
                        }
                    }
                    _ => {
                        merged.insert(k.clone(), v.clone());
                    }
                }
            }
        }
        check_tables(&merged)?;
        let config: Config = serde_json::from_value(Value::Object(merged))
            .map_err(|e| ConfigError(format!("configuration: {e}")))?;
        config.check()?;
        Ok(config)
    }

    /// Reads `flowgate.toml`-style file `path`, the environment, and the overrides.
    pub fn load(path: Option<&Path>, overrides: Map<String, Value>) -> Result<Config, ConfigError> {
        let mut layers = Vec::new();
        if let Some(p) = path {
            let text = std::fs::read_to_string(p)
                .map_err(|e| ConfigError(format!("{}: {e}", p.display())))?;
            layers.push(Config::from_toml(&text, &p.display().to_string())?);
        }
        layers.push(Config::from_env(std::env::vars())?);
        layers.push(overrides);
        Config::from_layers(&layers)
    }

    /// Refuses settings of features that are not available yet, rather than ignoring them.
    fn check(&self) -> Result<(), ConfigError> {
        let unavailable = [
            ("cache", self.cache),
            ("metrics", self.metrics),
            ("durability", self.durability.is_some()),
        ];
        if let Some((key, _)) = unavailable.iter().find(|(_, on)| *on) {
            return Err(ConfigError(format!(
                "`{key}` is not available in this version of flowgate"
            )));
        }
        if self.audit.max_rows_per_op == 0 {
            return Err(ConfigError(
                "`audit.max_rows_per_op` must be at least 1".into(),
            ));
        }
        if self.pool_size == 0 {
            return Err(ConfigError("`pool_size` must be at least 1".into()));
        }
        flowgate::store::dialect_of(&self.database_url)
            .map_err(|e| ConfigError(format!("`database_url`: {e}")))?;
        Ok(())
    }

    /// The browser origins allowed across origins: `[cors] allowed_origins` and the older
    /// `cors_origins`.
    pub fn cors_allowed(&self) -> Vec<String> {
        let mut all = self.cors.allowed_origins.clone();
        all.extend(self.cors_origins.iter().cloned());
        all.sort();
        all.dedup();
        all
    }

    /// The concurrent operations each model node runs: by default three quarters of the pool
    /// (rounded up), so that one model's slow queries always leave connections to the others.
    pub fn workers(&self) -> usize {
        let share = (self.pool_size as usize * 3).div_ceil(4);
        self.node_workers.unwrap_or(share).max(1)
    }

    /// The statement time limit, `None` when off.
    pub fn statement_timeout(&self) -> Option<std::time::Duration> {
        (self.statement_timeout_ms > 0)
            .then(|| std::time::Duration::from_millis(self.statement_timeout_ms))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn layers_win_in_order_and_unknown_keys_are_named() {
        let file = Config::from_toml("http_port = 9000\npool_size = 3\n", "flowgate.toml").unwrap();
        let env = Config::from_env([
            ("FLOWGATE_HTTP_PORT".to_string(), "9100".to_string()),
            ("DATABASE_URL".to_string(), "sqlite::memory:".to_string()),
            (
                "FLOWGATE_TEST_POSTGRES_URL".to_string(),
                "ignored".to_string(),
            ),
        ])
        .unwrap();
        let mut builder = Map::new();
        builder.insert("pool_size".into(), json!(7));
        let c = Config::from_layers(&[file, env, builder]).unwrap();
        assert_eq!(
            (c.http_port, c.pool_size, c.database_url.as_str()),
            (9100, 7, "sqlite::memory:")
        );

        let err = Config::from_toml("htpp_port = 1\n", "flowgate.toml").unwrap_err();
        assert_eq!(err.0, "flowgate.toml: unknown key `htpp_port`");
        let err =
            Config::from_layers(&[Config::from_toml("metrics = true", "f").unwrap()]).unwrap_err();
        assert!(err.0.contains("`metrics` is not available"));

        let err =
            Config::from_env([("FLOWGATE_HTTP_PROT".to_string(), "1".to_string())]).unwrap_err();
        assert_eq!(
            err.0,
            "environment: unknown variable `FLOWGATE_HTTP_PROT` (not a configuration key)"
        );
        for tool in [
            "FLOWGATE_SERVER",
            "FLOWGATE_BENCH_ROUNDS",
            "FLOWGATE_LOAD_ONLY",
            "FLOWGATE_FUZZ_CASES",
        ] {
            assert!(Config::from_env([(tool.to_string(), "x".to_string())]).is_ok());
        }
        // A table's keys are variables; a name that is not one of them is refused.
        for (name, ok) in [
            ("FLOWGATE_MCP_TOOLS", true),
            ("FLOWGATE_MCP_DEFAULT_TOOLS", true),
            ("FLOWGATE_MCP_TOOL", false),
            ("FLOWGATE_DEFAULT_TOOLS", false),
        ] {
            let got = Config::from_env([(name.to_string(), "read".to_string())]);
            assert_eq!(got.is_ok(), ok, "{name}: {got:?}");
        }
    }

    #[test]
    fn log_format_is_text_or_json_and_anything_else_names_the_key() {
        let env =
            Config::from_env([("FLOWGATE_LOG_FORMAT".to_string(), "json".to_string())]).unwrap();
        let c = Config::from_layers(&[env]).unwrap();
        assert_eq!(c.log_format, crate::logging::LogFormat::Json);
        assert_eq!(
            Config::default().log_format,
            crate::logging::LogFormat::Text
        );
        let file = Config::from_toml("log_format = \"xml\"\n", "f").unwrap();
        let err = Config::from_layers(&[file]).unwrap_err();
        assert!(
            err.0.contains("`log_format`: unknown format `xml`"),
            "{}",
            err.0
        );
    }

    #[test]
    fn mcp_keys_from_the_file_the_environment_and_the_builder() {
        let c = Config::from_layers(&[]).unwrap();
        assert_eq!(c.mcp, McpConfig::default());
        assert_eq!(c.mcp.tools, ToolMode::PerModel);
        assert_eq!(c.mcp.exposed(&flowgate::ModelDef::new("A")), OpKind::ALL);

        let file = Config::from_toml(
            "mcp_port = 9001\n[mcp]\ntools = \"compact\"\n",
            "flowgate.toml",
        )
        .unwrap();
        let env = Config::from_env([
            (
                "FLOWGATE_MCP_DEFAULT_TOOLS".to_string(),
                "list, read".to_string(),
            ),
            ("FLOWGATE_MCP_PORT".to_string(), "9002".to_string()),
        ])
        .unwrap();
        let c = Config::from_layers(&[file, env]).unwrap();
        assert_eq!(c.mcp_port, 9002);
        assert_eq!(c.mcp.tools, ToolMode::Compact);
        assert_eq!(c.mcp.default_tools, Some(vec![OpKind::Read, OpKind::List]));
        let own = flowgate::ModelDef::new("A").mcp_tools([OpKind::Count]);
        assert_eq!(c.mcp.exposed(&own), [OpKind::Count]);
        assert_eq!(
            c.mcp.exposed(&flowgate::ModelDef::new("B")),
            [OpKind::Read, OpKind::List]
        );

        let env = Config::from_env([
            ("FLOWGATE_MCP_TOOLS".to_string(), "per_model".to_string()),
            (
                "FLOWGATE_MCP_DEFAULT_TOOLS".to_string(),
                "[\"count\"]".to_string(),
            ),
        ])
        .unwrap();
        let mut builder = Map::new();
        builder.insert("mcp".into(), json!({"tools": "compact"}));
        let c = Config::from_layers(&[env, builder]).unwrap();
        assert_eq!(
            (c.mcp.tools, c.mcp.default_tools),
            (ToolMode::Compact, Some(vec![OpKind::Count]))
        );

        // Unknown keys and values are refused, naming the key.
        let err = Config::from_toml("[mcp]\ntool = \"compact\"\n", "f.toml").unwrap_err();
        assert_eq!(err.0, "f.toml: unknown key `mcp.tool`");
        let bad = |text: &str| match Config::from_toml(text, "f.toml") {
            Err(e) => e.0,
            Ok(file) => Config::from_layers(&[file]).unwrap_err().0,
        };
        let err = bad("[mcp]\ntools = \"tiny\"\n");
        assert!(err.contains("`mcp.tools`: unknown value `tiny`"), "{err}");
        assert!(err.contains("`per_model` or `compact`"), "{err}");
        let err = bad("[mcp]\ndefault_tools = [\"reed\"]\n");
        assert!(
            err.contains("`mcp.default_tools`: unknown operation `reed`"),
            "{err}"
        );
        let err = bad("[mcp]\ntools = 3\n");
        assert!(err.contains("`mcp.tools`"), "{err}");
        let err = bad("mcp = 3\n");
        assert!(err.contains("`mcp` must be a table"), "{err}");
        let env =
            Config::from_env([("FLOWGATE_MCP_TOOLS".to_string(), "all".to_string())]).unwrap();
        let err = Config::from_layers(&[env]).unwrap_err().0;
        assert!(err.contains("`mcp.tools`: unknown value `all`"), "{err}");
    }
}
