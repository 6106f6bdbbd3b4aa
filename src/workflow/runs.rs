//! Asynchronous runs: started in the background, their status and outputs kept in
//! `flowgate_runs`, so a run's answer outlives the request that started it and the process that
//! ran it.
//!
//! `flowgate_runs` is a model of an internal schema, read and written through the ordinary
//! operations on a sibling store sharing the application's pool (as the registry's tables are).
//! Inputs, results and errors are stored as JSON text, so a stored answer is the same text a
//! synchronous run returns (PostgreSQL's JSONB and MySQL's JSON would reorder object keys).
//!
//! A run moves `pending` → `running` → `completed` or `failed`. While it runs, its row's
//! `heartbeat_at` is refreshed every `heartbeat`. A run whose heartbeat is older than
//! `stale_after` lost its process (a crash or a restart): [`RunStore::open`] marks every such run
//! `failed` with the error "interrupted by restart", and [`RunStore::get`] does the same for the
//! one it reads. Runs of other live processes on the same database keep their fresh heartbeats and
//! are left alone. A run marked interrupted whose process was only slow stays failed: its final
//! write only applies to a run still `running`.

use super::Workflow;
use super::run::OpExecutor;
use crate::context::Context;
use crate::error::{Error, Result};
use crate::model::{FieldDef, IdType, ModelDef, Schema};
use crate::operation::OpKind;
use crate::store::Store;
use crate::value::{format_datetime, now};
use serde_json::{Value, json};
use std::sync::Arc;
use std::time::Duration;

const MODEL: &str = "FlowgateRun";

fn run_model() -> ModelDef {
    ModelDef::new(MODEL)
        .table("flowgate_runs")
        .id(IdType::String)
        .field(FieldDef::string("workflow").max_length(64).indexed())
        .field(
            FieldDef::enumeration("status", ["pending", "running", "completed", "failed"])
                .indexed(),
        )
        .field(FieldDef::text("inputs"))
        .field(FieldDef::text("results").optional())
        .field(FieldDef::text("skipped").optional())
        .field(FieldDef::text("error").optional())
        .field(FieldDef::string("owner").max_length(64))
        .field(FieldDef::datetime("heartbeat_at"))
        .field(FieldDef::datetime("started_at").optional())
        .field(FieldDef::datetime("finished_at").optional())
        .field(tenant_field())
}

/// The tenant a run acts for (DESIGN 13.4): only that tenant reads it back. Added after the
/// table's first version, so [`RunStore::open`] adds the column to a table made before it.
fn tenant_field() -> FieldDef {
    FieldDef::string("tenant")
        .max_length(crate::model::TENANT_MAX_LENGTH)
        .optional()
}

/// The state of a run.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum RunStatus {
    /// Accepted, not started yet.
    Pending,
    /// Running.
    Running,
    /// Every node succeeded.
    Completed,
    /// A node failed, or the run was interrupted.
    Failed,
}

impl RunStatus {
    /// The status as stored and sent: `pending`, `running`, `completed`, `failed`.
    pub fn as_str(self) -> &'static str {
        match self {
            RunStatus::Pending => "pending",
            RunStatus::Running => "running",
            RunStatus::Completed => "completed",
            RunStatus::Failed => "failed",
        }
    }

    /// Parses a stored status.
    pub fn parse(s: &str) -> Option<RunStatus> {
        Some(match s {
            "pending" => RunStatus::Pending,
            "running" => RunStatus::Running,
            "completed" => RunStatus::Completed,
            "failed" => RunStatus::Failed,
            _ => return None,
        })
    }

    /// Whether the run has finished (completed or failed).
    pub fn is_finished(self) -> bool {
        matches!(self, RunStatus::Completed | RunStatus::Failed)
    }
}

/// A stored run.
#[derive(Debug, Clone, PartialEq)]
pub struct RunRecord {
    /// The run's id.
    pub run_id: String,
    /// The workflow's name.
    pub workflow: String,
    /// Its state.
    pub status: RunStatus,
    /// The inputs it was started with (defaults filled in).
    pub inputs: Value,
    /// The results by node id: all of them once completed, those finished before the failure
    /// once failed, `null` before.
    pub results: Value,
    /// The nodes skipped by a switch (once completed).
    pub skipped: Value,
    /// The error object (as [`RunError::to_json`](crate::workflow::RunError::to_json)) once failed.
    pub error: Value,
    /// When it was accepted (RFC 3339).
    pub created_at: String,
    /// When it started running.
    pub started_at: Option<String>,
    /// When it finished.
    pub finished_at: Option<String>,
    /// The tenant it acts for; only that tenant may read it (not part of its JSON).
    pub tenant: Option<String>,
}

impl RunRecord {
    /// `{"run_id", "workflow", "status", "inputs", "results", "skipped", "error", "created_at",
    /// "started_at", "finished_at"}`: what `GET /workflows/{name}/runs/{run_id}` answers.
    pub fn to_json(&self) -> Value {
        json!({
            "run_id": self.run_id,
            "workflow": self.workflow,
            "status": self.status.as_str(),
            "inputs": self.inputs,
            "results": self.results,
            "skipped": self.skipped,
            "error": self.error,
            "created_at": self.created_at,
            "started_at": self.started_at,
            "finished_at": self.finished_at,
        })
    }

    fn from_row(row: &Value) -> Result<RunRecord> {
        let text = |key: &str| row[key].as_str().map(str::to_string);
        let json_of = |key: &str| -> Result<Value> {
            match row[key].as_str() {
                None => Ok(Value::Null),
                Some(t) => serde_json::from_str(t).map_err(|e| {
                    Error::internal_from(format!("flowgate_runs.{key} is not JSON text: {e}"), e)
                }),
            }
        };
        let status = row["status"]
            .as_str()
            .and_then(RunStatus::parse)
            .ok_or_else(|| Error::internal(format!("bad run status {}", row["status"])))?;
        Ok(RunRecord {
            run_id: text("id").unwrap_or_default(),
            workflow: text("workflow").unwrap_or_default(),
            status,
            inputs: json_of("inputs")?,
            results: json_of("results")?,
            skipped: json_of("skipped")?,
            error: json_of("error")?,
            created_at: text("created_at").unwrap_or_default(),
            started_at: text("started_at"),
            finished_at: text("finished_at"),
            tenant: text("tenant"),
        })
    }
}

/// How often a running run proves it is alive, and when a silent one counts as interrupted.
#[derive(Debug, Clone, Copy)]
pub struct RunStoreConfig {
    /// How often a running run refreshes its heartbeat (default 10 s).
    pub heartbeat: Duration,
    /// How old a heartbeat may be before its run counts as interrupted (default 60 s).
    pub stale_after: Duration,
}

impl Default for RunStoreConfig {
    fn default() -> Self {
        RunStoreConfig {
            heartbeat: Duration::from_secs(10),
            stale_after: Duration::from_secs(60),
        }
    }
}

/// The runs of one database. Cheap to clone.
#[derive(Debug, Clone)]
pub struct RunStore {
    store: Store,
    owner: String,
    config: RunStoreConfig,
}

/// A run started in the background.
#[derive(Debug)]
pub struct StartedRun {
    /// The run's id, for [`RunStore::get`].
    pub run_id: String,
    /// The task running it; awaiting it waits for the run to finish and be stored.
    pub task: tokio::task::JoinHandle<()>,
}

const INTERRUPTED: &str = "interrupted by restart";

impl RunStore {
    /// The runs on `app`'s database with the default heartbeat: creates `flowgate_runs` if it is
    /// missing and marks the runs whose process is gone as failed ("interrupted by restart").
    pub async fn open(app: &Store) -> Result<RunStore> {
        RunStore::open_with(app, RunStoreConfig::default()).await
    }

    /// Like [`RunStore::open`] with a configuration.
    pub async fn open_with(app: &Store, config: RunStoreConfig) -> Result<RunStore> {
        let schema = Schema::internal([run_model()]).expect("the run model is valid");
        let store = app.sibling(schema);
        store.create_tables().await?;
        add_tenant_column(&store).await?;
        let runs = RunStore {
            store,
            owner: uuid::Uuid::now_v7().to_string(),
            config,
        };
        let swept = runs.sweep().await?;
        if swept > 0 {
            tracing::warn!(
                runs = swept,
                "workflow runs interrupted by a restart marked failed"
            );
        }
        Ok(runs)
    }

    async fn op(&self, kind: OpKind, params: Value) -> Result<Value> {
        let m = self.store.model(MODEL)?;
        self.store
            .run(&Context::internal(), &m, kind, &params)
            .await
    }

    fn stale_cutoff(&self) -> String {
        let age = chrono::Duration::from_std(self.config.stale_after)
            .unwrap_or(chrono::Duration::seconds(60));
        format_datetime(&(now() - age))
    }

    fn interrupted_fields() -> Value {
        json!({
            "status": "failed",
            "error": json!({"code": "unavailable", "message": INTERRUPTED}).to_string(),
            "finished_at": format_datetime(&now()),
        })
    }

    /// Marks every unfinished run whose heartbeat is older than `stale_after` as failed
    /// ("interrupted by restart"); returns how many.
    pub async fn sweep(&self) -> Result<u64> {
        let filter = json!({
            "status": {"$in": ["pending", "running"]},
            "heartbeat_at": {"$lt": self.stale_cutoff()},
        });
        let done = self
            .op(
                OpKind::BulkUpdate,
                json!({"filter": filter, "fields": Self::interrupted_fields()}),
            )
            .await?;
        Ok(done["updated"].as_u64().unwrap_or(0))
    }

    /// Starts `workflow` in the background on `exec`. The inputs are checked first (a bad input
    /// is a validation error naming `inputs.<name>`, and nothing is stored); then the run is
    /// stored `pending` and its id returned at once.
    pub async fn start(
        &self,
        workflow: &Workflow,
        exec: Arc<dyn OpExecutor>,
        ctx: &Context,
        inputs: &Value,
    ) -> Result<StartedRun> {
        let inputs = Value::Object(workflow.check_inputs(inputs)?);
        let run_id = uuid::Uuid::now_v7().to_string();
        let stamp = format_datetime(&now());
        self.op(
            OpKind::Create,
            json!({
                "id": run_id, "workflow": workflow.name(), "status": "pending",
                "inputs": inputs.to_string(), "owner": self.owner, "heartbeat_at": stamp,
                "tenant": ctx.tenant,
            }),
        )
        .await?;
        let this = self.clone();
        let workflow = workflow.clone();
        let ctx = ctx.clone();
        let id = run_id.clone();
        let task = tokio::spawn(async move {
            this.execute(workflow, exec, ctx, inputs, id).await;
        });
        Ok(StartedRun { run_id, task })
    }

    async fn execute(
        &self,
        workflow: Workflow,
        exec: Arc<dyn OpExecutor>,
        ctx: Context,
        inputs: Value,
        run_id: String,
    ) {
        let stamp = format_datetime(&now());
        if let Err(e) = self
            .op(
                OpKind::Update,
                json!({"id": run_id, "fields": {"status": "running", "started_at": stamp, "heartbeat_at": stamp}}),
            )
            .await
        {
            tracing::warn!(run_id = %run_id, error = %e, "cannot mark a workflow run running");
        }
        // The heartbeat is a task of its own: on SQLite a transactional run holds the write lock,
        // and a heartbeat waiting for it must not hold up the run.
        let beat = AbortOnDrop({
            let this = self.clone();
            let id = run_id.clone();
            tokio::spawn(async move {
                let mut tick = tokio::time::interval(this.config.heartbeat);
                tick.tick().await;
                loop {
                    tick.tick().await;
                    let fields = json!({"heartbeat_at": format_datetime(&now())});
                    if let Err(e) = this
                        .op(
                            OpKind::BulkUpdate,
                            json!({"filter": {"id": id, "status": "running"}, "fields": fields}),
                        )
                        .await
                    {
                        tracing::warn!(run_id = %id, error = %e, "workflow run heartbeat failed");
                    }
                }
            })
        });
        let result = workflow
            .run_with_id(&*exec, &ctx, &inputs, run_id.clone())
            .await;
        drop(beat);
        let finished = format_datetime(&now());
        let fields = match &result {
            Ok(out) => json!({
                "status": "completed",
                "results": Value::Object(out.results.clone().into_iter().collect()).to_string(),
                "skipped": json!(out.skipped).to_string(),
                "finished_at": finished, "heartbeat_at": finished,
            }),
            Err(e) => json!({
                "status": "failed",
                "results": Value::Object(e.results.clone().into_iter().collect()).to_string(),
                "skipped": "[]",
                "error": e.to_json().to_string(),
                "finished_at": finished, "heartbeat_at": finished,
            }),
        };
        match self
            .op(
                OpKind::BulkUpdate,
                json!({"filter": {"id": run_id, "status": "running"}, "fields": fields}),
            )
            .await
        {
            Ok(done) if done["updated"] == 1 => {}
            Ok(_) => tracing::warn!(
                run_id = %run_id,
                "a workflow run finished after it was marked interrupted; it stays failed"
            ),
            Err(e) => {
                tracing::error!(run_id = %run_id, error = %e, "cannot store a workflow run's outcome")
            }
        }
    }

    /// A run by id, as `tenant` may see it: NotFound (model `run`) when there is none, or it
    /// acts for another tenant. A run whose process is gone is marked failed ("interrupted by
    /// restart") first.
    pub async fn get(&self, run_id: &str, tenant: Option<&str>) -> Result<RunRecord> {
        let row = self.read(run_id).await?;
        let record = RunRecord::from_row(&row)?;
        if record.tenant.as_deref() != tenant {
            return Err(Error::not_found(crate::error::Missing::Run, run_id));
        }
        if record.status.is_finished() {
            return Ok(record);
        }
        let stale = row["heartbeat_at"]
            .as_str()
            .is_some_and(|h| h < self.stale_cutoff().as_str());
        if !stale {
            return Ok(record);
        }
        self.op(
            OpKind::BulkUpdate,
            json!({"filter": {"id": run_id, "status": {"$in": ["pending", "running"]}},
                   "fields": Self::interrupted_fields()}),
        )
        .await?;
        RunRecord::from_row(&self.read(run_id).await?)
    }

    async fn read(&self, run_id: &str) -> Result<Value> {
        self.op(OpKind::Read, json!({"id": run_id}))
            .await
            .map_err(|e| match e {
                Error::NotFound { .. } => Error::not_found(crate::error::Missing::Run, run_id),
                other => other,
            })
    }

    /// The newest runs of a workflow acting for `tenant` (at most `limit`, up to 1000), newest
    /// first.
    pub async fn list(
        &self,
        workflow: &str,
        tenant: Option<&str>,
        limit: u32,
    ) -> Result<Vec<RunRecord>> {
        let tenant = match tenant {
            Some(t) => json!(t),
            None => json!({"$null": true}),
        };
        let page = self
            .op(
                OpKind::List,
                json!({"filter": {"workflow": workflow, "tenant": tenant}, "order_by": ["-created_at", "-id"], "limit": limit.min(1000)}),
            )
            .await?;
        page["records"]
            .as_array()
            .into_iter()
            .flatten()
            .map(RunRecord::from_row)
            .collect()
    }
}

/// Adds the `tenant` column to a `flowgate_runs` made before it had one (a table made now has
/// it already, and a query naming it tells).
async fn add_tenant_column(store: &Store) -> Result<()> {
    let m = store.model(MODEL)?;
    let probe = store
        .run(
            &Context::internal(),
            &m,
            OpKind::List,
            &json!({"fields": ["tenant"], "limit": 1}),
        )
        .await;
    if probe.is_ok() {
        return Ok(());
    }
    let col = m.column("tenant").expect("the tenant field");
    for stmt in crate::sql::alter::add_column(&m, col, &|_| None, store.dialect()) {
        store.execute_raw(&stmt).await?;
    }
    Ok(())
}

/// Stops the heartbeat with the run, whether the run finishes or its task is dropped.
struct AbortOnDrop(tokio::task::JoinHandle<()>);

impl Drop for AbortOnDrop {
    fn drop(&mut self) {
        self.0.abort();
    }
}

impl StartedRun {
    /// Waits until the run has finished and its outcome is stored.
    pub async fn finished(self) -> Result<()> {
        self.task
            .await
            .map_err(|e| Error::internal_from(format!("the workflow run task failed: {e}"), e))
    }
}
