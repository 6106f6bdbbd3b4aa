//! Local mode: the command line opens the database itself, loads the models persisted in its
//! registry (the same registry the server reads), and runs operations through
//! `flowgate::Store`, as a node actor would.

use super::client::{ClientArgs, ModelEntry, Unavailable, entries};
use super::output::Failure;
use crate::Supervisor;
use crate::config::Config;
use flowgate::migrate::{self, MigrateOptions, Outcome};
use flowgate::registry::Registry;
use flowgate::{Channel, Context, ModelDef, ModelInfo, OpKind, Schema, Store, StoreConfig};
use serde_json::{Map, Value, json};
use std::time::Duration;

/// An open database with its models.
pub(crate) struct Local {
    store: Store,
    /// The models that serve.
    pub(crate) models: Vec<ModelEntry>,
    /// The models that do not (a refused migration).
    pub(crate) unavailable: Vec<Unavailable>,
}

/// The configuration (file, environment, `--database-url`) and the declared models (the
/// configuration's schema files and `--models`).
fn resolve(args: &ClientArgs) -> Result<(Config, Vec<ModelDef>), Failure> {
    let mut sup = Supervisor::builder();
    if let Some(c) = &args.config {
        sup = sup.config_file(c);
    }
    if let Some(url) = &args.database_url {
        sup = sup.database_url(url);
    }
    let config = sup
        .resolve_config()
        .map_err(|e| Failure::usage(e.to_string()))?;
    let mut declared = Vec::new();
    for path in config.models.iter().chain(&args.models) {
        declared.extend(flowgate::model::read_schema_file(path)?);
    }
    Ok((config, declared))
}

async fn connect(config: &Config) -> Result<Store, Failure> {
    let mut cfg = StoreConfig::new(config.database_url.clone());
    cfg.pool_size = config.pool_size.clamp(1, 4);
    cfg.echo = config.echo;
    Ok(Store::connect(&cfg, Schema::default()).await?)
}

fn lock_options(config: &Config) -> MigrateOptions {
    MigrateOptions {
        lock_timeout: Duration::from_secs(config.migration_lock_timeout),
        owner: format!("flowgate-cli-{}", std::process::id()),
        ..MigrateOptions::default()
    }
}

impl Local {
    /// Connects and loads the models. With `migrate`, declared models are migrated as `serve`
    /// would at start (safe changes applied when `auto_migrate`, else checked); without it,
    /// declared models not yet persisted are listed beside the persisted ones.
    pub(crate) async fn open(args: &ClientArgs, migrate: bool) -> Result<Local, Failure> {
        let (config, declared) = resolve(args)?;
        let store = connect(&config).await?;
        let loaded = Local::load(&store, &config, declared, migrate).await;
        match loaded {
            Ok((models, unavailable)) => Ok(Local {
                store,
                models,
                unavailable,
            }),
            Err(f) => {
                store.close().await;
                Err(f)
            }
        }
    }

    async fn load(
        store: &Store,
        config: &Config,
        declared: Vec<ModelDef>,
        migrate: bool,
    ) -> Result<(Vec<ModelEntry>, Vec<Unavailable>), Failure> {
        if !config.model_persistence {
            let models = entries(declared.into_iter().map(|d| (d, None)).collect())?;
            let schema = Schema::new(models.iter().map(|e| e.info.def.clone()))?;
            store.set_schema(schema);
            if migrate {
                store.create_tables().await?;
            }
            return Ok((models, Vec::new()));
        }
        let registry = Registry::open(store).await?;
        if migrate && !declared.is_empty() {
            let opts = lock_options(config);
            let report = if config.auto_migrate {
                migrate::migrate(store, &registry, &declared, &opts).await?
            } else {
                migrate::check(store, &registry, &declared).await?
            };
            let mut versions = Vec::new();
            let mut unavailable = Vec::new();
            for (name, outcome) in &report.outcomes {
                match outcome {
                    Outcome::UpToDate { version } | Outcome::Migrated { to: version, .. } => {
                        versions.push((name.clone(), *version))
                    }
                    Outcome::Failed(reason) => {
                        let table = declared
                            .iter()
                            .find(|d| &d.name == name)
                            .map(ModelDef::table_name)
                            .unwrap_or_else(|| flowgate::model::default_table_name(name));
                        unavailable.push(Unavailable {
                            name: name.clone(),
                            table,
                            reason: reason.clone(),
                        });
                    }
                }
            }
            let defs = report
                .schema
                .defs()
                .into_iter()
                .map(|d| {
                    let v = versions.iter().find(|(n, _)| *n == d.name).map(|(_, v)| *v);
                    (d, v)
                })
                .collect();
            store.set_schema(report.schema);
            return Ok((entries(defs)?, unavailable));
        }
        let persisted = registry.load().await?;
        let mut defs: Vec<(ModelDef, Option<i64>)> = persisted
            .into_iter()
            .map(|p| (p.def, Some(p.version)))
            .collect();
        for d in declared {
            if !defs.iter().any(|(p, _)| p.name == d.name) {
                defs.push((d, None));
            }
        }
        let models = entries(defs)?;
        store.set_schema(Schema::new(models.iter().map(|e| e.info.def.clone()))?);
        Ok((models, Vec::new()))
    }

    fn context() -> Context {
        Context::for_channel(Channel::Cli)
    }

    /// Runs one operation.
    pub(crate) async fn run(
        &self,
        model: &ModelInfo,
        op: OpKind,
        params: &Value,
    ) -> Result<Value, Failure> {
        Ok(self.store.run(&Local::context(), model, op, params).await?)
    }

    /// Runs a node by name, answering an unknown name or model as the HTTP door does.
    pub(crate) async fn run_node(&self, node: &str, params: &Value) -> Result<Value, Failure> {
        let Some((model, op)) = OpKind::parse_node_name(node) else {
            return Err(Failure::from(flowgate::Error::NotFound {
                model: "node".into(),
                id: node.into(),
            }));
        };
        if let Some(u) = self.unavailable.iter().find(|u| u.name == model) {
            return Err(u.failure());
        }
        let info = self.store.model(model)?;
        self.run(&info, op, params).await
    }

    /// Runs batches of one bulk operation in one transaction: all of them commit, or (on an
    /// error of an atomic operation, or a dry run) none. `each` sees every batch's result.
    pub(crate) async fn run_batches(
        &self,
        model: &ModelInfo,
        op: OpKind,
        batches: Vec<Value>,
        dry_run: bool,
        mut each: impl FnMut(usize, Result<Value, Failure>) -> Result<(), Failure>,
    ) -> Result<(), Failure> {
        let mut tx = self.store.begin().await?;
        let ctx = Local::context();
        for (i, params) in batches.iter().enumerate() {
            let result = tx.run(&ctx, model, op, params).await.map_err(Failure::from);
            if let Err(f) = each(i, result) {
                let _ = tx.rollback().await;
                return Err(f);
            }
        }
        if dry_run {
            tx.rollback().await?;
        } else {
            tx.commit().await?;
        }
        Ok(())
    }

    /// Closes the pool.
    pub(crate) async fn close(self) {
        self.store.close().await;
    }
}

/// The local readiness board: the database, the registry, each persisted or declared model, and
/// the migrations the declared models wait for. Same shape as the server's board.
pub(crate) async fn status(args: &ClientArgs) -> Value {
    let mut features = Map::new();
    let feature = |state: &str, reason: Option<String>| {
        let mut f = json!({"state": state, "required": true});
        if let Some(r) = reason {
            f["reason"] = json!(r);
        }
        f
    };
    let board = |features: Map<String, Value>| {
        let ready = features.values().all(|f| f["state"] == "ready");
        json!({"ready": ready, "mode": "local", "features": features})
    };
    let (config, declared) = match resolve(args) {
        Ok(x) => x,
        Err(f) => {
            features.insert(
                "config".into(),
                feature("failed", f.0["message"].as_str().map(str::to_string)),
            );
            return board(features);
        }
    };
    let store = match connect(&config).await {
        Ok(s) => s,
        Err(f) => {
            features.insert(
                "database".into(),
                feature("failed", f.0["message"].as_str().map(str::to_string)),
            );
            return board(features);
        }
    };
    features.insert("database".into(), feature("ready", None));
    let out = local_features(&store, &config, &declared, &mut features).await;
    if let Err(f) = out {
        let what = if features.contains_key("registry") {
            "migrations"
        } else {
            "registry"
        };
        features.insert(
            what.into(),
            feature("failed", f.0["message"].as_str().map(str::to_string)),
        );
    }
    store.close().await;
    board(features)
}

async fn local_features(
    store: &Store,
    config: &Config,
    declared: &[ModelDef],
    features: &mut Map<String, Value>,
) -> Result<(), Failure> {
    if !config.model_persistence {
        Schema::new(declared.to_vec())?;
        for d in declared {
            features.insert(
                format!("model:{}", d.name),
                json!({"state": "ready", "required": true}),
            );
        }
        return Ok(());
    }
    let registry = Registry::open(store).await?;
    features.insert(
        "registry".into(),
        json!({"state": "ready", "required": true}),
    );
    let persisted = registry.load().await?;
    let plans = migrate::plan_all(store, &registry, declared).await?;
    let pending: Vec<Value> = plans
        .iter()
        .map(|p| json!({"model": p.model, "changes": p.changes}))
        .collect();
    let mut names: Vec<String> = persisted.iter().map(|p| p.def.name.clone()).collect();
    names.extend(plans.iter().map(|p| p.model.clone()));
    names.sort();
    names.dedup();
    for name in names {
        let version = persisted
            .iter()
            .find(|p| p.def.name == name)
            .map(|p| p.version);
        let mut f = json!({"state": "ready", "required": true, "version": version});
        if let Some(plan) = plans.iter().find(|p| p.model == name) {
            f["state"] = json!("pending");
            f["reason"] = json!(format!("migration pending: {}", plan.changes.join("; ")));
        }
        features.insert(format!("model:{name}"), f);
    }
    let mut m = json!({"state": "ready", "required": true, "pending": pending});
    if !plans.is_empty() {
        m["state"] = json!("pending");
        m["reason"] = json!("run `flowgate migrate up`");
    }
    features.insert("migrations".into(), m);
    Ok(())
}
