//! Migrations: diff a model's persisted definition against its declared one, plan the up and
//! down statements, apply them under the migration lock, record the history, roll back.
//!
//! Auto-migration applies safe changes (a new table, a new optional or defaulted column, a new or
//! dropped index, a wider string, a field made optional) and refuses destructive ones (a dropped
//! column, a type change, a required column without a default) for that model only, until they
//! are allowed explicitly.

mod plan;

pub use plan::{Plan, Step, plan};

use crate::error::{Error, Result};
use crate::model::{ModelDef, ModelInfo, Schema};
use crate::registry::{PersistedModel, Registry, checksum};
use crate::sql::{Dialect, Stmt};
use crate::store::Store;
use serde_json::{Value, json};
use std::collections::HashMap;
use std::time::{Duration, Instant};

/// How a migration run behaves.
#[derive(Debug, Clone)]
pub struct MigrateOptions {
    /// Apply destructive changes too (`flowgate migrate up --allow-destructive`).
    pub allow_destructive: bool,
    /// How long to wait for another process's migration lock.
    pub lock_timeout: Duration,
    /// Who takes the lock (shown in the SQLite lock row).
    pub owner: String,
}

impl Default for MigrateOptions {
    fn default() -> Self {
        MigrateOptions {
            allow_destructive: false,
            lock_timeout: Duration::from_secs(30),
            owner: format!("flowgate-{}", std::process::id()),
        }
    }
}

/// What happened to one model.
#[derive(Debug, Clone, PartialEq)]
pub enum Outcome {
    /// Its persisted definition already matched.
    UpToDate {
        /// The version served.
        version: i64,
    },
    /// It was created or changed.
    Migrated {
        /// The version before (none for a new model).
        from: Option<i64>,
        /// The version now.
        to: i64,
        /// What changed, in words.
        changes: Vec<String>,
    },
    /// It cannot be served: the reason.
    Failed(String),
}

/// The result of a migration run: each model's outcome, and the schema of the models that can
/// be served (every persisted or declared model that did not fail).
#[derive(Debug, Clone)]
pub struct Report {
    /// One outcome per model, in the order they were handled.
    pub outcomes: Vec<(String, Outcome)>,
    /// The models to serve.
    pub schema: Schema,
}

/// Brings the database up to the declared models: takes the lock, loads every persisted model
/// (models other applications registered are served too), plans and applies each model's
/// changes, records versions and history. One model's failure does not stop the others.
pub async fn migrate(
    store: &Store,
    registry: &Registry,
    declared: &[ModelDef],
    opts: &MigrateOptions,
) -> Result<Report> {
    let lock = registry.lock(&opts.owner, opts.lock_timeout).await?;
    let result = migrate_locked(store, registry, declared, opts).await;
    let released = lock.release().await;
    let report = result?;
    released?;
    Ok(report)
}

async fn migrate_locked(
    store: &Store,
    registry: &Registry,
    declared: &[ModelDef],
    opts: &MigrateOptions,
) -> Result<Report> {
    let persisted: HashMap<String, PersistedModel> = registry
        .load()
        .await?
        .into_iter()
        .map(|p| (p.def.name.clone(), p))
        .collect();
    let mut outcomes: Vec<(String, Outcome)> = Vec::new();

    // The target set: declared definitions win; persisted-only models are served as they are.
    let mut targets: Vec<ModelDef> = declared.to_vec();
    for p in persisted.values() {
        if !declared.iter().any(|d| d.name == p.def.name) {
            targets.push(p.def.clone());
        }
    }
    targets.sort_by(|a, b| a.name.cmp(&b.name));
    let schema = valid_subset(targets, &mut outcomes);

    let tables = |name: &str| schema.get(name).map(|m| m.table.clone());
    let mut failed: Vec<String> = outcomes.iter().map(|(n, _)| n.clone()).collect();
    for model in schema.models() {
        let name = model.name().to_string();
        if let Some(r) = model
            .def
            .fields
            .iter()
            .filter_map(|f| f.references.as_ref())
            .find(|r| failed.contains(r))
        {
            failed.push(name.clone());
            outcomes.push((
                name,
                Outcome::Failed(format!("it refers to {r}, which failed")),
            ));
            continue;
        }
        let old = persisted.get(&name);
        let outcome = match migrate_one(store, registry, old, model, &tables, opts).await {
            Ok(o) => o,
            Err(e) => {
                tracing::warn!(model = %name, error = %e, "migration failed");
                Outcome::Failed(e.public_message())
            }
        };
        if matches!(outcome, Outcome::Failed(_)) {
            failed.push(name.clone());
        }
        outcomes.push((name, outcome));
    }
    let served: Vec<ModelDef> = schema
        .defs()
        .into_iter()
        .filter(|d| !failed.contains(&d.name))
        .collect();
    let schema = Schema::new(served)?;
    Ok(Report { outcomes, schema })
}

/// Without model persistence: creates the tables of the declared models that validate (a model
/// that refers to an unknown or failed model fails alone, with the reason), recording nothing.
pub async fn create_only(store: &Store, declared: &[ModelDef]) -> Result<Report> {
    let mut outcomes = Vec::new();
    let schema = valid_subset(declared.to_vec(), &mut outcomes);
    store.set_schema(schema.clone());
    store.create_tables().await?;
    outcomes.extend(
        schema
            .models()
            .map(|m| (m.name().to_string(), Outcome::UpToDate { version: 0 })),
    );
    Ok(Report { outcomes, schema })
}

/// Validates the target set, dropping (and failing) models that make it invalid one at a time.
fn valid_subset(mut targets: Vec<ModelDef>, outcomes: &mut Vec<(String, Outcome)>) -> Schema {
    loop {
        match Schema::new(targets.clone()) {
            Ok(schema) => return schema,
            Err(e) => {
                let culprit = e
                    .field()
                    .and_then(|f| f.split('.').next())
                    .map(str::to_string);
                let Some(idx) = culprit.and_then(|c| targets.iter().position(|d| d.name == c))
                else {
                    // Not attributable to one model: fail them all rather than guess.
                    for d in &targets {
                        outcomes.push((d.name.clone(), Outcome::Failed(e.to_string())));
                    }
                    return Schema::default();
                };
                let bad = targets.remove(idx);
                outcomes.push((bad.name, Outcome::Failed(e.to_string())));
            }
        }
    }
}

async fn migrate_one(
    store: &Store,
    registry: &Registry,
    old: Option<&PersistedModel>,
    model: &ModelInfo,
    tables: &(dyn Fn(&str) -> Option<String> + Sync),
    opts: &MigrateOptions,
) -> Result<Outcome> {
    let sum = checksum(&model.def);
    if let Some(old) = old.filter(|o| o.checksum == sum) {
        return Ok(Outcome::UpToDate {
            version: old.version,
        });
    }
    let old_info = old.map(|o| ModelInfo::compile(o.def.clone()));
    let plan = plan(old_info.as_ref(), model, tables, store.dialect());
    if let Some(reason) = plan.refusal(opts.allow_destructive) {
        tracing::warn!(model = model.name(), %reason, "migration refused");
        return Ok(Outcome::Failed(reason));
    }
    let from = old.map(|o| o.version);
    let to = from.unwrap_or(0) + 1;
    let started = Instant::now();
    apply_steps(store, plan.steps()).await?;
    registry.record(&model.def, to).await?;
    registry
        .record_migration(json!({
            "model": model.name(),
            "from_version": from,
            "to_version": to,
            "checksum": sum,
            "up_sql": sql_list(&plan.up()),
            "down_sql": sql_list(&plan.down()),
            "changes": plan.changes,
            "status": "applied",
            "applied_at": crate::value::format_datetime(&crate::value::now()),
            "duration_ms": started.elapsed().as_millis() as i64,
        }))
        .await?;
    Ok(Outcome::Migrated {
        from,
        to,
        changes: plan.changes,
    })
}

fn sql_list(stmts: &[Stmt]) -> Value {
    Value::Array(stmts.iter().map(|s| Value::String(s.sql.clone())).collect())
}

/// Runs statements in one transaction where the database has transactional DDL (SQLite,
/// PostgreSQL); MySQL commits each DDL statement as it goes.
async fn apply(store: &Store, stmts: &[Stmt]) -> Result<()> {
    if store.dialect() == Dialect::MySql {
        for stmt in stmts {
            store.execute_raw(stmt).await?;
        }
        return Ok(());
    }
    let mut tx = store.begin().await?;
    let unlimited = crate::sql::alter::no_time_limit_in_transaction(store.dialect());
    for stmt in unlimited.iter().chain(stmts) {
        if let Err(e) = tx.execute_raw(stmt).await {
            let _ = tx.rollback().await;
            return Err(e);
        }
    }
    tx.commit().await
}

/// Applies a plan's steps. On MySQL, where DDL is not transactional, a failed step undoes the
/// steps already applied, newest first.
async fn apply_steps(store: &Store, steps: &[plan::Step]) -> Result<()> {
    if store.dialect() != Dialect::MySql {
        let up: Vec<Stmt> = steps.iter().flat_map(|s| s.up.clone()).collect();
        return apply(store, &up).await;
    }
    for (i, step) in steps.iter().enumerate() {
        if let Err(e) = apply(store, &step.up).await {
            for done in steps[..i].iter().rev() {
                let _ = apply(store, &done.down).await;
            }
            return Err(e);
        }
    }
    Ok(())
}

/// Like [`migrate`] without changing anything (`auto_migrate = false`): models whose persisted
/// definition matches serve; the others fail with the changes they are waiting for.
pub async fn check(store: &Store, registry: &Registry, declared: &[ModelDef]) -> Result<Report> {
    let plans = plan_all(store, registry, declared).await?;
    let persisted = registry.load().await?;
    let mut outcomes = Vec::new();
    let mut serve = Vec::new();
    for p in &persisted {
        match plans.iter().find(|plan| plan.model == p.def.name) {
            Some(plan) => outcomes.push((p.def.name.clone(), Outcome::Failed(pending(plan)))),
            None => {
                outcomes.push((p.def.name.clone(), Outcome::UpToDate { version: p.version }));
                serve.push(p.def.clone());
            }
        }
    }
    for plan in plans
        .iter()
        .filter(|plan| !persisted.iter().any(|p| p.def.name == plan.model))
    {
        outcomes.push((plan.model.clone(), Outcome::Failed(pending(plan))));
    }
    let schema = valid_subset(serve, &mut outcomes);
    Ok(Report { outcomes, schema })
}

fn pending(plan: &Plan) -> String {
    format!(
        "migration pending ({}); run `flowgate migrate up`",
        plan.changes.join("; ")
    )
}

/// The plans the declared models would need now, without applying anything.
pub async fn plan_all(
    store: &Store,
    registry: &Registry,
    declared: &[ModelDef],
) -> Result<Vec<Plan>> {
    let persisted: HashMap<String, PersistedModel> = registry
        .load()
        .await?
        .into_iter()
        .map(|p| (p.def.name.clone(), p))
        .collect();
    let mut targets: Vec<ModelDef> = declared.to_vec();
    for p in persisted.values() {
        if !declared.iter().any(|d| d.name == p.def.name) {
            targets.push(p.def.clone());
        }
    }
    let schema = Schema::new(targets)?;
    let tables = |name: &str| schema.get(name).map(|m| m.table.clone());
    let mut plans = Vec::new();
    for model in schema.models() {
        let old = persisted.get(model.name());
        if old.is_some_and(|o| o.checksum == checksum(&model.def)) {
            continue;
        }
        let old_info = old.map(|o| ModelInfo::compile(o.def.clone()));
        plans.push(plan(old_info.as_ref(), model, &tables, store.dialect()));
    }
    Ok(plans)
}

/// Rolls back the newest applied migration (of `model`, or of any model): runs its down
/// statements, marks it rolled back, and restores the model's previous definition in the
/// registry. Returns the migration record, or None when there is nothing to roll back.
pub async fn rollback_last(
    store: &Store,
    registry: &Registry,
    model: Option<&str>,
    opts: &MigrateOptions,
) -> Result<Option<Value>> {
    let lock = registry.lock(&opts.owner, opts.lock_timeout).await?;
    let result = async {
        let history = registry.history(model).await?;
        let Some(last) = history.into_iter().rev().find(|m| m["status"] == "applied") else {
            return Ok(None);
        };
        let down: Vec<Stmt> = last["down_sql"]
            .as_array()
            .into_iter()
            .flatten()
            .filter_map(|s| s.as_str())
            .map(Stmt::raw)
            .collect();
        apply(store, &down).await?;
        let name = last["model"].as_str().unwrap_or_default();
        match last["from_version"].as_i64() {
            None => registry.forget(name).await?,
            Some(v) => {
                let def = registry.version(name, v).await?.ok_or_else(|| {
                    Error::internal(format!("version {v} of {name} is missing from the history"))
                })?;
                registry.record(&def, v).await?;
            }
        }
        registry
            .mark_rolled_back(last["id"].as_i64().unwrap_or_default())
            .await?;
        Ok(Some(last))
    }
    .await;
    let released = lock.release().await;
    let out = result?;
    released?;
    Ok(out)
}
