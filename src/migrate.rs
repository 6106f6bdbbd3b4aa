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
use crate::registry::{Applied, PersistedModel, Registry, checksum};
use crate::sql::{Dialect, Stmt};
use crate::store::Store;
use serde_json::{Value, json};
use std::collections::{HashMap, HashSet};
use std::sync::Arc;
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

/// How many models' changes go in one transaction on SQLite and PostgreSQL. One transaction per
/// model made start-up on a fresh database cost a commit (and on PostgreSQL an fsync) per model
/// and per registry write; one transaction for everything would, on PostgreSQL, need a lock per
/// table and index created, beyond `max_locks_per_transaction` at a few thousand models.
const BATCH: usize = 200;

/// How many batches run at once on PostgreSQL, each in a transaction on a connection of its own
/// (fewer when the pool is small). Creating a table or an index there ends with an fsync of its
/// new files, which several connections wait for side by side.
const CONCURRENT_BATCHES: usize = 4;

/// Applies every pending plan in batches of [`BATCH`] models, in the schema's order (a model
/// after the models it refers to). On PostgreSQL, models go in waves: a model comes in the wave
/// after the last of the models it refers to that are created or changed in this run, and the
/// batches of one wave run side by side ([`CONCURRENT_BATCHES`]), since none of them refers to
/// another's uncommitted tables.
async fn apply_all(
    store: &Store,
    registry: &Registry,
    pending: Vec<Pending>,
    outcomes: &mut [(String, Outcome)],
    failed: &mut HashSet<String>,
) {
    let lanes = CONCURRENT_BATCHES.min(store.max_connections().saturating_sub(2).max(1));
    if store.dialect() != Dialect::Postgres || lanes == 1 {
        let mut pending = pending.into_iter().peekable();
        while pending.peek().is_some() {
            let mut batch: Vec<Pending> = pending.by_ref().take(BATCH).collect();
            run_batch(store, registry, &mut batch, outcomes, failed).await;
        }
        return;
    }
    for wave in waves(pending) {
        // Models whose references failed in an earlier wave fail without a try.
        let mut ready = Vec::with_capacity(wave.len());
        for p in wave {
            match failed_reference(&p, failed) {
                Some(reason) => fail(&p, reason, outcomes, failed),
                None => ready.push(p),
            }
        }
        let mut lanes: Vec<std::vec::IntoIter<Pending>> = into_lanes(ready, lanes)
            .into_iter()
            .map(Vec::into_iter)
            .collect();
        loop {
            let now: Vec<Vec<Pending>> = lanes
                .iter_mut()
                .map(|lane| lane.by_ref().take(BATCH).collect::<Vec<_>>())
                .filter(|chunk| !chunk.is_empty())
                .collect();
            if now.is_empty() {
                break;
            }
            let results = futures_util::future::join_all(
                now.iter()
                    .map(|chunk| apply_together(store, registry, chunk)),
            )
            .await;
            for (chunk, result) in now.into_iter().zip(results) {
                settle(store, registry, chunk, result, outcomes, failed).await;
            }
        }
    }
}

/// The models of one wave shared out between `lanes` lanes of about the same length, in the
/// schema's order within each. Models that refer to a common table go in the same lane: a
/// foreign key locks the table it refers to until its transaction ends, and two transactions
/// taking such locks in opposite orders would deadlock.
fn into_lanes(wave: Vec<Pending>, lanes: usize) -> Vec<Vec<Pending>> {
    // Union-find over the tables referred to: each group of models is the models referring to
    // one set of connected tables (or one model referring to none).
    fn root(up: &mut HashMap<String, String>, name: &str) -> String {
        let mut at = name.to_string();
        while let Some(next) = up.get(&at).filter(|n| **n != at) {
            at = next.clone();
        }
        at
    }
    let mut up: HashMap<String, String> = HashMap::new();
    let refs = |p: &Pending| -> Vec<String> {
        p.model
            .def
            .fields
            .iter()
            .filter_map(|f| f.references.clone())
            .filter(|r| r != p.model.name())
            .collect()
    };
    for p in &wave {
        let refs = refs(p);
        if let Some((first, rest)) = refs.split_first() {
            let a = root(&mut up, first);
            for r in rest {
                let b = root(&mut up, r);
                if a != b {
                    up.insert(b, a.clone());
                }
            }
            up.entry(a.clone()).or_insert(a);
        }
    }
    let mut groups: Vec<Vec<Pending>> = Vec::new();
    let mut group_of: HashMap<String, usize> = HashMap::new();
    for p in wave {
        match refs(&p).first().map(|r| root(&mut up, r)) {
            Some(key) => {
                let at = *group_of.entry(key).or_insert_with(|| {
                    groups.push(Vec::new());
                    groups.len() - 1
                });
                groups[at].push(p);
            }
            None => groups.push(vec![p]),
        }
    }
    // The largest groups first, each to the shortest lane.
    groups.sort_by_key(|g| std::cmp::Reverse(g.len()));
    let mut out: Vec<Vec<Pending>> = (0..lanes.max(1)).map(|_| Vec::new()).collect();
    for group in groups {
        if let Some(lane) = out.iter_mut().min_by_key(|l| l.len()) {
            lane.extend(group);
        }
    }
    for lane in &mut out {
        lane.sort_by_key(|p| p.at);
    }
    out
}

/// `pending` (in the schema's order) cut into waves: a model goes in the wave after the last
/// wave of the pending models it refers to.
fn waves(pending: Vec<Pending>) -> Vec<Vec<Pending>> {
    let mut wave_of: HashMap<String, usize> = HashMap::with_capacity(pending.len());
    let mut waves: Vec<Vec<Pending>> = Vec::new();
    for p in pending {
        let name = p.model.name().to_string();
        let wave = p
            .model
            .def
            .fields
            .iter()
            .filter_map(|f| f.references.as_ref())
            .filter(|r| **r != name)
            .filter_map(|r| wave_of.get(r.as_str()))
            .map(|w| w + 1)
            .max()
            .unwrap_or(0);
        wave_of.insert(name, wave);
        if waves.len() <= wave {
            waves.resize_with(wave + 1, Vec::new);
        }
        waves[wave].push(p);
    }
    waves
}

/// The models to migrate: the declared definitions win; persisted-only models are served as
/// they are. In name order.
fn target_set(declared: &[ModelDef], persisted: &HashMap<String, PersistedModel>) -> Vec<ModelDef> {
    let names: HashSet<&str> = declared.iter().map(|d| d.name.as_str()).collect();
    let mut targets: Vec<ModelDef> = declared.to_vec();
    targets.extend(
        persisted
            .values()
            .filter(|p| !names.contains(p.def.name.as_str()))
            .map(|p| p.def.clone()),
    );
    targets.sort_by(|a, b| a.name.cmp(&b.name));
    targets
}

async fn migrate_locked(
    store: &Store,
    registry: &Registry,
    declared: &[ModelDef],
    opts: &MigrateOptions,
) -> Result<Report> {
    let persisted = persisted_by_name(registry).await?;
    let mut outcomes: Vec<(String, Outcome)> = Vec::new();
    let schema = valid_subset(target_set(declared, &persisted), &mut outcomes);

    let tables = |name: &str| schema.get(name).map(|m| m.table.clone());
    let mut failed: HashSet<String> = outcomes.iter().map(|(n, _)| n.clone()).collect();
    let mut batch: Vec<Pending> = Vec::new();
    for model in schema.models() {
        let name = model.name().to_string();
        if let Some(r) = model
            .def
            .fields
            .iter()
            .filter_map(|f| f.references.as_ref())
            .find(|r| failed.contains(*r))
        {
            failed.insert(name.clone());
            outcomes.push((
                name,
                Outcome::Failed(format!("it refers to {r}, which failed")),
            ));
            continue;
        }
        let old = persisted.get(&name);
        let sum = checksum(&model.def);
        if let Some(old) = old.filter(|o| o.checksum == sum) {
            outcomes.push((
                name,
                Outcome::UpToDate {
                    version: old.version,
                },
            ));
            continue;
        }
        let old_info = old.map(|o| ModelInfo::compile(o.def.clone()));
        let plan = plan(old_info.as_ref(), model, &tables, store.dialect());
        let refusal = match plan.refusal(opts.allow_destructive) {
            None if !plan.needs_empty.is_empty() && !opts.allow_destructive => {
                match old_info.as_ref() {
                    Some(old) if has_rows(store, old).await? => Some(format!(
                        "refused (run `flowgate migrate up --allow-destructive` to apply; rows without a tenant are seen by no tenant): {}",
                        plan.needs_empty.join("; ")
                    )),
                    _ => None,
                }
            }
            other => other,
        };
        if let Some(reason) = refusal {
            tracing::warn!(model = %name, %reason, "migration refused");
            failed.insert(name.clone());
            outcomes.push((name, Outcome::Failed(reason)));
            continue;
        }
        // Its outcome is known once its batch has run.
        outcomes.push((name, Outcome::Failed(String::new())));
        batch.push(Pending {
            at: outcomes.len() - 1,
            model: model.clone(),
            from: old.map(|o| o.version),
            checksum: sum,
            plan,
        });
    }
    apply_all(store, registry, batch, &mut outcomes, &mut failed).await;
    // Built again only when a model dropped out (validating 10,000 models costs).
    if !schema.models().any(|m| failed.contains(m.name())) {
        return Ok(Report { outcomes, schema });
    }
    let served: Vec<ModelDef> = schema
        .defs()
        .into_iter()
        .filter(|d| !failed.contains(&d.name))
        .collect();
    let schema = Schema::new(served)?;
    Ok(Report { outcomes, schema })
}

/// Whether a model's table holds any row (tombstones too).
async fn has_rows(store: &Store, old: &ModelInfo) -> Result<bool> {
    let params = if old.soft_delete() {
        serde_json::json!({"include_deleted": true})
    } else {
        serde_json::json!({})
    };
    let n = store
        .run(
            &crate::Context::internal(),
            old,
            crate::OpKind::Count,
            &params,
        )
        .await?;
    Ok(n["count"].as_i64().unwrap_or(0) > 0)
}

async fn persisted_by_name(registry: &Registry) -> Result<HashMap<String, PersistedModel>> {
    Ok(registry
        .load()
        .await?
        .into_iter()
        .map(|p| (p.def.name.clone(), p))
        .collect())
}

/// A model whose plan waits in a batch.
struct Pending {
    /// Where its outcome goes in the report.
    at: usize,
    model: Arc<ModelInfo>,
    from: Option<i64>,
    checksum: String,
    plan: Plan,
}

impl Pending {
    fn to(&self) -> i64 {
        self.from.unwrap_or(0) + 1
    }

    fn migration(&self, took: std::time::Duration) -> Value {
        json!({
            "model": self.model.name(),
            "from_version": self.from,
            "to_version": self.to(),
            "checksum": self.checksum,
            "up_sql": sql_list(&self.plan.up()),
            "down_sql": sql_list(&self.plan.down()),
            "changes": self.plan.changes,
            "status": "applied",
            "applied_at": crate::value::format_datetime(&crate::value::now()),
            "duration_ms": took.as_millis() as i64,
        })
    }
}

/// Applies a batch of plans and records them. Where DDL is transactional (SQLite, PostgreSQL)
/// the whole batch, statements and registry writes, is one transaction; should anything in it
/// fail, it is rolled back and each model is applied alone, so that one model's failure never
/// stops another. On MySQL, whose DDL commits itself, each model's steps run (and are undone on
/// failure) alone, and the registry writes of the models that applied go in one transaction.
async fn run_batch(
    store: &Store,
    registry: &Registry,
    batch: &mut Vec<Pending>,
    outcomes: &mut [(String, Outcome)],
    failed: &mut HashSet<String>,
) {
    if batch.is_empty() {
        return;
    }
    let pending = std::mem::take(batch);
    let applied: Vec<Pending> = if store.dialect() == Dialect::MySql {
        let mut applied = Vec::new();
        let mut took = Vec::new();
        for p in pending {
            if let Some(reason) = failed_reference(&p, failed) {
                fail(&p, reason, outcomes, failed);
                continue;
            }
            let started = Instant::now();
            match apply_steps(store, p.plan.steps()).await {
                Ok(()) => {
                    took.push(started.elapsed());
                    applied.push(p);
                }
                Err(e) => fail(&p, e.public_message(), outcomes, failed),
            }
        }
        if let Err(e) = record(store, registry, &applied, &took).await {
            for p in &applied {
                fail(p, e.public_message(), outcomes, failed);
            }
            return;
        }
        applied
    } else {
        let result = apply_together(store, registry, &pending).await;
        return settle(store, registry, pending, result, outcomes, failed).await;
    };
    migrated(applied, outcomes);
}

/// SQLite and PostgreSQL: records the outcome of a batch applied together; should it have
/// failed, applies its models one by one, so that one model's failure never stops another.
async fn settle(
    store: &Store,
    registry: &Registry,
    pending: Vec<Pending>,
    result: Result<()>,
    outcomes: &mut [(String, Outcome)],
    failed: &mut HashSet<String>,
) {
    let applied = match result {
        Ok(()) => pending,
        Err(e) => {
            tracing::info!(error = %e, models = pending.len(), "a batch of migrations failed; applying them one by one");
            let mut applied = Vec::new();
            for p in pending {
                if let Some(reason) = failed_reference(&p, failed) {
                    fail(&p, reason, outcomes, failed);
                    continue;
                }
                match apply_together(store, registry, std::slice::from_ref(&p)).await {
                    Ok(()) => applied.push(p),
                    Err(e) => fail(&p, e.public_message(), outcomes, failed),
                }
            }
            applied
        }
    };
    migrated(applied, outcomes);
}

fn migrated(applied: Vec<Pending>, outcomes: &mut [(String, Outcome)]) {
    for p in applied {
        outcomes[p.at].1 = Outcome::Migrated {
            from: p.from,
            to: p.to(),
            changes: p.plan.changes,
        };
    }
}

/// The model a pending model refers to that failed, in words.
fn failed_reference(p: &Pending, failed: &HashSet<String>) -> Option<String> {
    p.model
        .def
        .fields
        .iter()
        .filter_map(|f| f.references.as_ref())
        .find(|r| failed.contains(*r))
        .map(|r| format!("it refers to {r}, which failed"))
}

fn fail(
    p: &Pending,
    reason: String,
    outcomes: &mut [(String, Outcome)],
    failed: &mut HashSet<String>,
) {
    tracing::warn!(model = p.model.name(), error = %reason, "migration failed");
    failed.insert(p.model.name().to_string());
    outcomes[p.at].1 = Outcome::Failed(reason);
}

/// SQLite and PostgreSQL: every statement of `batch` and its registry records in one
/// transaction.
async fn apply_together(store: &Store, registry: &Registry, batch: &[Pending]) -> Result<()> {
    let mut tx = store.begin().await?;
    let result = async {
        if let Some(stmt) = crate::sql::alter::no_time_limit_in_transaction(store.dialect()) {
            tx.execute_raw(&stmt).await?;
        }
        // On PostgreSQL the whole batch's statements go in one round trip; the time each model
        // took is then its share of the batch's, by statement count.
        let mut took = Vec::with_capacity(batch.len());
        let ups: Vec<Vec<Stmt>> = batch.iter().map(|p| p.plan.up()).collect();
        if store.dialect() == Dialect::Postgres {
            let all: Vec<Stmt> = ups.iter().flatten().cloned().collect();
            let started = Instant::now();
            tx.execute_all(&all).await?;
            let each = started.elapsed() / u32::try_from(all.len().max(1)).unwrap_or(u32::MAX);
            took.extend(
                ups.iter()
                    .map(|up| each * u32::try_from(up.len()).unwrap_or(u32::MAX)),
            );
        } else {
            for up in &ups {
                let started = Instant::now();
                for stmt in up {
                    tx.execute_raw(stmt).await?;
                }
                took.push(started.elapsed());
            }
        }
        let applied = applied(batch, &took);
        registry.record_applied(&mut tx, &applied).await
    }
    .await;
    match result {
        Ok(()) => tx.commit().await,
        Err(e) => {
            let _ = tx.rollback().await;
            Err(e)
        }
    }
}

/// MySQL: the registry records of models whose steps applied, in one transaction.
async fn record(
    store: &Store,
    registry: &Registry,
    batch: &[Pending],
    took: &[std::time::Duration],
) -> Result<()> {
    if batch.is_empty() {
        return Ok(());
    }
    let mut tx = store.begin().await?;
    match registry
        .record_applied(&mut tx, &applied(batch, took))
        .await
    {
        Ok(()) => tx.commit().await,
        Err(e) => {
            let _ = tx.rollback().await;
            Err(e)
        }
    }
}

fn applied<'a>(batch: &'a [Pending], took: &[std::time::Duration]) -> Vec<Applied<'a>> {
    batch
        .iter()
        .zip(took)
        .map(|(p, took)| Applied {
            def: &p.model.def,
            version: p.to(),
            checksum: p.checksum.clone(),
            migration: p.migration(*took),
        })
        .collect()
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

/// Without model persistence and without creating anything: the declared models that validate
/// (a model that refers to an unknown model fails alone, with the reason).
pub fn declared_only(declared: &[ModelDef]) -> Report {
    let mut outcomes = Vec::new();
    let schema = valid_subset(declared.to_vec(), &mut outcomes);
    outcomes.extend(
        schema
            .models()
            .map(|m| (m.name().to_string(), Outcome::UpToDate { version: 0 })),
    );
    Report { outcomes, schema }
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
    let persisted = registry.load().await?;
    check_against(store.dialect(), &persisted, declared)
}

/// [`check`] against persisted models already read (none for a database without a registry).
pub fn check_against(
    d: Dialect,
    persisted: &[PersistedModel],
    declared: &[ModelDef],
) -> Result<Report> {
    let plans = plans_against(d, persisted, declared)?;
    let by_model: HashMap<&str, &Plan> = plans.iter().map(|p| (p.model.as_str(), p)).collect();
    let persisted_names: HashSet<&str> = persisted.iter().map(|p| p.def.name.as_str()).collect();
    let mut outcomes = Vec::new();
    let mut serve = Vec::new();
    for p in persisted {
        match by_model.get(p.def.name.as_str()) {
            Some(plan) => outcomes.push((p.def.name.clone(), Outcome::Failed(pending(plan)))),
            None => {
                outcomes.push((p.def.name.clone(), Outcome::UpToDate { version: p.version }));
                serve.push(p.def.clone());
            }
        }
    }
    for plan in plans
        .iter()
        .filter(|plan| !persisted_names.contains(plan.model.as_str()))
    {
        outcomes.push((plan.model.clone(), Outcome::Failed(pending(plan))));
    }
    let schema = valid_subset(serve, &mut outcomes);
    Ok(Report { outcomes, schema })
}

/// How the reason of a model waiting for a migration begins.
pub const PENDING: &str = "migration pending";

fn pending(plan: &Plan) -> String {
    format!(
        "{PENDING} ({}); run `flowgate migrate up`",
        plan.changes.join("; ")
    )
}

/// The plans the declared models would need now, without applying anything.
pub async fn plan_all(
    store: &Store,
    registry: &Registry,
    declared: &[ModelDef],
) -> Result<Vec<Plan>> {
    let persisted = registry.load().await?;
    plans_against(store.dialect(), &persisted, declared)
}

/// The plans the declared models would need on dialect `d` against persisted models already
/// read (none for a database without a registry), without applying anything.
pub fn plans_against(
    d: Dialect,
    persisted: &[PersistedModel],
    declared: &[ModelDef],
) -> Result<Vec<Plan>> {
    let names: HashSet<&str> = declared.iter().map(|d| d.name.as_str()).collect();
    let mut targets: Vec<ModelDef> = declared.to_vec();
    targets.extend(
        persisted
            .iter()
            .filter(|p| !names.contains(p.def.name.as_str()))
            .map(|p| p.def.clone()),
    );
    let persisted: HashMap<&str, &PersistedModel> =
        persisted.iter().map(|p| (p.def.name.as_str(), p)).collect();
    let schema = Schema::new(targets)?;
    let tables = |name: &str| schema.get(name).map(|m| m.table.clone());
    let mut plans = Vec::new();
    for model in schema.models() {
        let old = persisted.get(model.name());
        if old.is_some_and(|o| o.checksum == checksum(&model.def)) {
            continue;
        }
        let old_info = old.map(|o| ModelInfo::compile(o.def.clone()));
        plans.push(plan(old_info.as_ref(), model, &tables, d));
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
