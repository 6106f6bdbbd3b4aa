//! Local mode: the command line opens the database itself, loads the models persisted in its
//! registry (the same registry the server reads), and runs operations through
//! `flowgate::Store`, as a node actor would. Workflows come from the same places a server takes
//! them from: `flowgate_workflows` and the `discover` directories; they run on the `Store`.

use super::args::ClientArgs;
use super::models::{ModelEntry, Unavailable, entries};
use super::output::Failure;
use crate::Supervisor;
use crate::config::Config;
use crate::discover::{self, WorkflowFile};
use crate::workflows::{Served, declared_twice, reason_of};
use flowgate::migrate::{self, MigrateOptions, Outcome};
use flowgate::registry::Registry;
use flowgate::workflow::{RunStore, Workflow, WorkflowRegistry};
use flowgate::{Channel, Context, ModelDef, ModelInfo, OpKind, Schema, Store, StoreConfig};
use serde_json::{Map, Value, json};
use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Duration;

/// An open database with its models.
pub(crate) struct Local {
    store: Store,
    /// The models that serve.
    pub(crate) models: Vec<ModelEntry>,
    /// The models that do not (a refused migration).
    pub(crate) unavailable: Vec<Unavailable>,
    /// Whether models (and workflows) are persisted in the registry's tables.
    persistence: bool,
    /// Workflow files of the `discover` directories.
    discovered: Vec<WorkflowFile>,
}

/// The configuration (file, environment, `--database-url`), the declared models (the
/// configuration's schema files, `--models`, and the schema files of the `discover` directories)
/// and the workflow files of the `discover` directories (the configuration's and `--discover`).
fn resolve(args: &ClientArgs) -> Result<(Config, Vec<ModelDef>, Vec<WorkflowFile>), Failure> {
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
    let mut dirs = config.discover.clone();
    dirs.extend(args.discover.iter().cloned());
    let scan = discover::scan(&dirs);
    if let Some(e) = scan.model_errors().into_iter().next() {
        return Err(Failure::from(flowgate::Error::invalid(e)));
    }
    declared.extend(scan.model_defs());
    Ok((config, declared, scan.workflows))
}

async fn connect(config: &Config) -> Result<Store, Failure> {
    let mut cfg = StoreConfig::new(config.database_url.clone());
    cfg.pool_size = config.pool_size.clamp(1, 4);
    cfg.echo = config.echo;
    cfg.statement_timeout = config.statement_timeout();
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
        let (config, declared, discovered) = resolve(args)?;
        let store = connect(&config).await?;
        let loaded = Local::load(&store, &config, declared, migrate).await;
        match loaded {
            Ok((models, unavailable)) => Ok(Local {
                store,
                models,
                unavailable,
                persistence: config.model_persistence,
                discovered,
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

    /// Whether a workflow can serve on these models, as a server decides it.
    fn verify(&self, wf: &Workflow) -> flowgate::Result<()> {
        crate::workflows::verify(
            wf,
            &self.store.schema(),
            |name| {
                self.models.iter().find_map(|e| {
                    let op = name
                        .strip_prefix(e.info.table.as_str())?
                        .strip_prefix('_')
                        .and_then(OpKind::parse)?;
                    Some((e.info.name().to_string(), op))
                })
            },
            |model| {
                let u = self.unavailable.iter().find(|u| u.name == model)?;
                Some(flowgate::Error::NotReady {
                    what: format!("model:{model}"),
                    state: format!("failed: {}", u.reason),
                    retry_after_ms: 1000,
                })
            },
        )
    }

    /// The workflows a server on this database would serve: those saved in
    /// `flowgate_workflows` (with model persistence), then those of the `discover` directories
    /// (a name found twice serves from neither), each checked against the models.
    pub(crate) async fn catalog(&self) -> Result<Catalog, Failure> {
        let mut defs: BTreeMap<String, Result<Workflow, String>> = BTreeMap::new();
        if self.persistence {
            let saved = WorkflowRegistry::open(&self.store).await?;
            for s in saved.load().await? {
                defs.insert(s.name, s.workflow.map_err(|e| reason_of(&e)));
            }
        }
        let mut found: BTreeMap<&str, Vec<&WorkflowFile>> = BTreeMap::new();
        for f in &self.discovered {
            found.entry(f.name.as_str()).or_default().push(f);
        }
        for (name, files) in found {
            let def = match files.as_slice() {
                [one] => one.workflow.clone().map_err(|e| reason_of(&e)),
                _ => {
                    let sources: Vec<String> =
                        files.iter().map(|f| f.path.display().to_string()).collect();
                    Err(declared_twice(name, &sources))
                }
            };
            defs.insert(name.to_string(), def);
        }
        let schema = self.store.schema();
        let entries = defs
            .into_iter()
            .map(|(name, def)| {
                let served = def.and_then(|wf| {
                    self.verify(&wf).map_err(|e| reason_of(&e))?;
                    Ok(Arc::new(Served::new(wf, "local", &schema)))
                });
                (name, served)
            })
            .collect();
        Ok(Catalog { entries })
    }

    /// Runs a workflow on the store to its end: its result, or the run's error object.
    pub(crate) async fn run_workflow(&self, name: &str, inputs: Value) -> Result<Value, Failure> {
        let served = self.catalog().await?.served(name)?;
        match served
            .workflow
            .run(&self.store, &Local::context(), &inputs)
            .await
        {
            Ok(out) => Ok(out.to_json()),
            Err(e) => {
                if let flowgate::Error::Internal(detail) = &e.error {
                    tracing::error!(error = %detail, "internal error");
                }
                Err(Failure(e.to_json()))
            }
        }
    }

    /// A stored run of workflow `name`, as a server answers it.
    pub(crate) async fn workflow_run(&self, name: &str, run_id: &str) -> Result<Value, Failure> {
        let runs = RunStore::open(&self.store).await?;
        let record = runs.get(run_id).await?;
        if record.workflow != name {
            return Err(Failure::from(flowgate::Error::NotFound {
                model: "run".into(),
                id: run_id.into(),
            }));
        }
        Ok(record.to_json())
    }

    /// Saves a workflow in `flowgate_workflows`, where every server on the database finds it at
    /// its next start, once it checks against the models. Gives its description.
    pub(crate) async fn apply_workflow(&self, wf: &Workflow) -> Result<Value, Failure> {
        if !self.persistence {
            return Err(Failure::usage(
                "`workflows apply` saves the workflow in the database (flowgate_workflows), \
                 which needs model_persistence; apply it to a running server with --server, \
                 or put the file in a --discover directory",
            ));
        }
        self.verify(wf)?;
        WorkflowRegistry::open(&self.store).await?.save(wf).await?;
        Ok(Served::new(wf.clone(), "local", &self.store.schema()).describe)
    }

    /// Closes the pool.
    pub(crate) async fn close(self) {
        self.store.close().await;
    }
}

/// The workflows of a database, each serving or with the reason it does not.
pub(crate) struct Catalog {
    entries: BTreeMap<String, Result<Arc<Served>, String>>,
}

impl Catalog {
    /// `{"workflows": [...]}` as `GET /workflows` answers, plus `unavailable` (name and reason)
    /// when some do not serve.
    pub(crate) fn list_json(&self) -> Value {
        let list: Vec<Value> = self
            .entries
            .values()
            .filter_map(|e| e.as_ref().ok().map(|s| s.summary()))
            .collect();
        let mut out = json!({ "workflows": list });
        let failed: Vec<Value> = self
            .entries
            .iter()
            .filter_map(|(name, e)| {
                let reason = e.as_ref().err()?;
                Some(json!({"name": name, "reason": reason}))
            })
            .collect();
        if !failed.is_empty() {
            out["unavailable"] = Value::Array(failed);
        }
        out
    }

    /// A workflow that serves; the errors a server gives for one that does not, or is unknown.
    pub(crate) fn served(&self, name: &str) -> Result<Arc<Served>, Failure> {
        match self.entries.get(name) {
            Some(Ok(s)) => Ok(s.clone()),
            Some(Err(reason)) => Err(Failure::from(flowgate::Error::NotReady {
                what: format!("workflow:{name}"),
                state: format!("failed: {reason}"),
                retry_after_ms: 5000,
            })),
            None => Err(Failure::from(flowgate::Error::NotFound {
                model: "workflow".into(),
                id: name.into(),
            })),
        }
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
    let (config, declared, _) = match resolve(args) {
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
