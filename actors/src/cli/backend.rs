//! The backend of a client command: local mode (the database, through `flowgate::Store`) or
//! remote mode (a running server), behind one enum, so that the same params reach the same
//! operation either way.

use super::args::ClientArgs;
use super::local::Local;
use super::models::{ModelEntry, Unavailable};
use super::output::Failure;
use super::remote::Remote;
use flowgate::{ModelInfo, OpKind};
use serde_json::{Value, json};

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
            Some(server) => Ok(Backend::Remote(Remote::connect(server).await?)),
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
