//! Local mode: the command line opens the database itself, loads the models persisted in its
//! registry (the same registry the server reads), and runs operations through
//! `flowgate::Store`, as a node actor would. Workflows come from the same places a server takes
//! them from: `flowgate_workflows` and the `discover` directories; they run on the `Store`.

use super::args::ClientArgs;
use super::models::{ModelEntry, Unavailable, entries};
use super::output::Failure;
use crate::Supervisor;
use crate::auth::{Permission, Policy};
use crate::config::Config;
use crate::discover::{self, WorkflowFile};
use crate::readiness::{Board, Feature};
use crate::workflows::{Served, declared_twice, reason_of};
use flowgate::migrate::{self, MigrateOptions, Outcome};
use flowgate::registry::Registry;
use flowgate::startup::{Models, Phase, Progress, Retry, Startup, StartupConfig, Step};
use flowgate::workflow::{RunStore, Workflow, WorkflowRegistry};
use flowgate::{Channel, Context, ModelDef, ModelInfo, OpKind, Principal, Schema, Store};
use serde_json::{Value, json};
use std::collections::BTreeMap;
use std::sync::{Arc, Mutex};
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
    /// The roles of the configuration, and the `local` principal (`auth.local_role`): local
    /// mode is admitted as `mcp --stdio` is.
    policy: Policy,
    principal: Principal,
    /// The tenant its operations act for (`--tenant`, else `auth.local_tenant`).
    tenant: Option<String>,
    /// Whether the database is multi-tenant (`multi_tenant`).
    multi_tenant: bool,
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
    flowgate::model::resolve_tenancy(&mut declared, config.multi_tenant);
    Ok((config, declared, scan.workflows))
}

fn lock_options(config: &Config) -> MigrateOptions {
    MigrateOptions {
        lock_timeout: Duration::from_secs(config.migration_lock_timeout),
        owner: format!("flowgate-cli-{}", std::process::id()),
        ..MigrateOptions::default()
    }
}

/// The server's start-up sequence with the command line's settings: a small pool, and no
/// retries (a command reports at once that the database cannot be reached).
fn startup_config(config: &Config, models: Models) -> StartupConfig {
    let mut cfg = crate::registry::startup_config(config);
    cfg.store.pool_size = config.pool_size.clamp(1, 4);
    cfg.retry = Retry {
        max_backoff: Duration::from_millis(config.connect_retry_max_ms),
        max_attempts: Some(0),
    };
    cfg.models = models;
    cfg.migrate = lock_options(config);
    cfg
}

impl Local {
    /// Connects and loads the models. With `migrate`, declared models are migrated as `serve`
    /// would at start (safe changes applied when `auto_migrate`, else checked), by the same
    /// start-up sequence; without it, declared models not yet persisted are listed beside the
    /// persisted ones.
    pub(crate) async fn open(args: &ClientArgs, migrate: bool) -> Result<Local, Failure> {
        let (config, declared, discovered) = resolve(args)?;
        let policy = Policy::new(&config.auth.roles, false).map_err(Failure::usage)?;
        let principal = Principal {
            tenant: config.auth.local_tenant.clone(),
            ..Principal::local(&config.auth.local_role)
        };
        // The tenant it acts for: its own (`auth.local_tenant`), or `--tenant`, which for
        // another tenant takes `admin:tenants`, as on a server.
        let tenant = match args.tenant.as_deref() {
            None => principal.tenant.clone(),
            Some(t) => {
                flowgate::context::check_tenant_id(t).map_err(|e| {
                    Failure::from(flowgate::Error::validation("--tenant", e.public_message()))
                })?;
                if principal.tenant.as_deref() != Some(t)
                    && !policy.allows(&principal.roles, Permission::Admin("tenants"))
                {
                    return Err(Failure::from(crate::auth::forbidden(Permission::Admin(
                        "tenants",
                    ))));
                }
                Some(t.to_string())
            }
        };
        let models = if config.auto_migrate {
            Models::Migrate
        } else {
            Models::Check
        };
        let mut startup = Startup::new(startup_config(&config, models));
        let loaded = if migrate && (!declared.is_empty() || !config.model_persistence) {
            startup
                .run_to_end(&declared, &())
                .await
                .map_err(Failure::from)
                .and_then(|report| Local::served(&declared, report))
        } else {
            match startup.connect(&()).await {
                // A data command writes: its audit rows need their table (which the start-up
                // sequence creates on the other path).
                Ok(store) if migrate && store.is_audited() => {
                    match store.create_audit_table().await {
                        Ok(()) => Local::listed(&store, &config, declared).await,
                        Err(e) => Err(Failure::from(e)),
                    }
                }
                Ok(store) => Local::listed(&store, &config, declared).await,
                Err(e) => Err(Failure::from(e.into_error())),
            }
        };
        let store = startup.store().cloned();
        match (loaded, store) {
            (Ok((models, unavailable)), Some(store)) => Ok(Local {
                store,
                models,
                unavailable,
                persistence: config.model_persistence,
                discovered,
                policy,
                principal,
                tenant,
                multi_tenant: config.multi_tenant,
            }),
            (Ok(_), None) => Err(Failure::from(flowgate::Error::internal(
                "the start-up sequence ended unconnected",
            ))),
            (Err(f), store) => {
                if let Some(store) = store {
                    store.close().await;
                }
                Err(f)
            }
        }
    }

    /// The models a start-up sequence's report serves, with their versions, and those it does
    /// not, with the reason.
    fn served(
        declared: &[ModelDef],
        report: migrate::Report,
    ) -> Result<(Vec<ModelEntry>, Vec<Unavailable>), Failure> {
        let mut versions = std::collections::HashMap::new();
        let mut unavailable = Vec::new();
        for (name, outcome) in &report.outcomes {
            match outcome {
                Outcome::UpToDate { version } | Outcome::Migrated { to: version, .. } => {
                    versions.insert(name.as_str(), *version);
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
        // Without model persistence there are no versions (0).
        let defs = report
            .schema
            .defs()
            .into_iter()
            .map(|d| {
                let v = versions.get(d.name.as_str()).copied().filter(|v| *v > 0);
                (d, v)
            })
            .collect();
        Ok((entries(defs)?, unavailable))
    }

    /// Without migrating: the persisted models, and the declared ones not persisted yet.
    async fn listed(
        store: &Store,
        config: &Config,
        declared: Vec<ModelDef>,
    ) -> Result<(Vec<ModelEntry>, Vec<Unavailable>), Failure> {
        if !config.model_persistence {
            let models = entries(declared.into_iter().map(|d| (d, None)).collect())?;
            let schema = Schema::new(models.iter().map(|e| e.info.def.clone()))?;
            store.set_schema(schema);
            return Ok((models, Vec::new()));
        }
        let registry = Registry::open(store).await?;
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

    /// The context of a command; `via` names it in the audit trail (`flowgate books create`).
    fn context(&self, via: Option<String>) -> Context {
        Context {
            principal: self.principal.clone(),
            tenant: self.tenant.clone(),
            via,
            ..Context::for_channel(Channel::Cli)
        }
    }

    /// A page of the audit trail, by the rules of a server's `GET /audit`: `auth.local_role`
    /// must grant `admin:audit`; acting for a tenant, only its rows; for none on a
    /// multi-tenant database, `admin:tenants` too.
    pub(crate) async fn audit(&self, q: flowgate::audit::AuditQuery) -> Result<Value, Failure> {
        let q = crate::audit::scoped(
            q,
            self.tenant.clone(),
            self.multi_tenant,
            self.store.is_audited(),
            |p| match self.policy.allows(&self.principal.roles, p) {
                true => Ok(()),
                false => Err(crate::auth::forbidden(p)),
            },
        )?;
        let log = flowgate::audit::AuditLog::open(&self.store).await?;
        Ok(log.list(&q).await?)
    }

    /// The command of an operation on `model`, for the audit trail.
    fn op_context(&self, model: &ModelInfo, op: OpKind) -> Context {
        self.context(Some(format!("flowgate {} {}", model.table, op.cli_name())))
    }

    /// The admission stage of local mode: `auth.local_role` must grant `p`.
    fn admit(&self, p: Permission<'_>) -> Result<(), Failure> {
        if self.policy.allows(&self.principal.roles, p) {
            Ok(())
        } else {
            Err(Failure::from(crate::auth::forbidden(p)))
        }
    }

    /// Runs one operation.
    pub(crate) async fn run(
        &self,
        model: &ModelInfo,
        op: OpKind,
        params: &Value,
    ) -> Result<Value, Failure> {
        self.admit(Permission::Op {
            model: model.name(),
            op,
        })?;
        Ok(self
            .store
            .run(&self.op_context(model, op), model, op, params)
            .await?)
    }

    /// Runs a node by name, answering an unknown name or model as the HTTP door does.
    pub(crate) async fn run_node(&self, node: &str, params: &Value) -> Result<Value, Failure> {
        let Some((model, op)) = OpKind::parse_node_name(node) else {
            return Err(Failure::from(flowgate::Error::not_found(
                flowgate::Missing::Node,
                node,
            )));
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
        self.admit(Permission::Op {
            model: model.name(),
            op,
        })?;
        let mut tx = self.store.begin().await?;
        let ctx = self.op_context(model, op);
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
                OpKind::parse_tool_name(name).find_map(|(table, op)| {
                    let e = self.models.iter().find(|e| e.info.table == table)?;
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
        self.admit(Permission::Workflow(name))?;
        for permission in crate::auth::node_permissions(&served.workflow) {
            self.admit(permission)?;
        }
        match served
            .workflow
            .run(&self.store, &self.context(None), &inputs)
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
        let record = runs.get(run_id, self.tenant.as_deref()).await?;
        if record.workflow != name {
            return Err(Failure::from(flowgate::Error::not_found(
                flowgate::Missing::Run,
                run_id,
            )));
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
        self.admit(Permission::Admin("workflows"))?;
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
            None => Err(Failure::from(flowgate::Error::not_found(
                flowgate::Missing::Workflow,
                name,
            ))),
        }
    }
}

/// The local readiness board: the server's board type, filled by the server's start-up sequence
/// in [`Models::Inspect`] mode, which creates and writes nothing (not even a SQLite file or the
/// registry's tables): the database, the registry, each persisted or declared model, and the
/// migrations the declared models wait for. Besides the server's fields, a model shows its
/// registry version and a pending one the changes it waits for, and `migrations` lists them.
pub(crate) async fn status(args: &ClientArgs) -> Value {
    let board = Board::new();
    let (config, declared, _) = match resolve(args) {
        Ok(x) => x,
        Err(f) => {
            let reason = f.0["message"].as_str().unwrap_or("invalid").to_string();
            board.set(&Feature::Config, crate::readiness::State::Failed(reason));
            return local_board(&board, &BTreeMap::new());
        }
    };
    // The features a server registers before it starts.
    for feature in [Feature::Database, Feature::Registry, Feature::Migrations] {
        let required = feature != Feature::Registry || config.model_persistence;
        board.register(&feature, required);
    }
    for d in &declared {
        board.register(&Feature::model(d.name.clone()), true);
    }
    let progress = StatusProgress {
        board: board.clone(),
        reasons: Mutex::default(),
    };
    let mut startup = Startup::new(startup_config(&config, Models::Inspect));
    let outcome = startup.run_to_end(&declared, &progress).await;
    let mut extra: BTreeMap<String, Value> = BTreeMap::new();
    for p in startup.persisted() {
        extra.insert(
            Feature::model(p.def.name.clone()).to_string(),
            json!({"version": p.version}),
        );
    }
    for (feature, reason) in progress.reasons.into_inner().unwrap_or_default() {
        extra.entry(feature).or_insert_with(|| json!({}))["reason"] = json!(reason);
    }
    if let (Ok(_), Some(store)) = (&outcome, startup.store()) {
        let plans = migrate::plans_against(store.dialect(), startup.persisted(), &declared)
            .unwrap_or_default();
        let pending: Vec<Value> = plans
            .iter()
            .map(|p| json!({"model": p.model, "changes": p.changes}))
            .collect();
        extra
            .entry("migrations".into())
            .or_insert_with(|| json!({}))["pending"] = Value::Array(pending);
    }
    if let Some(store) = startup.store() {
        store.close().await;
    }
    local_board(&board, &extra)
}

/// Where `status` has the sequence report: the board, and the reasons of pending features (the
/// board keeps none).
struct StatusProgress {
    board: Board,
    reasons: Mutex<BTreeMap<String, String>>,
}

impl Progress for StatusProgress {
    fn report(&self, step: Step<'_>, phase: Phase) {
        if let Phase::Pending(Some(reason)) = &phase
            && let Ok(mut reasons) = self.reasons.lock()
        {
            reasons.insert(step.feature().into_owned(), reason.clone());
        }
        self.board.report(step, phase);
    }
}

/// The board as the server's `/health/ready` shows it, in local mode, with `extra` fields
/// merged into its features.
fn local_board(board: &Board, extra: &BTreeMap<String, Value>) -> Value {
    let mut out = board.to_json();
    out["mode"] = json!("local");
    for (feature, fields) in extra {
        if let (Some(f), Some(fields)) = (
            out["features"].get_mut(feature.as_str()),
            fields.as_object(),
        ) {
            for (k, v) in fields {
                f[k] = v.clone();
            }
        }
    }
    out
}
