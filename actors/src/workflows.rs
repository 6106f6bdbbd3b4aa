//! Workflows served by the runtime (DESIGN sections 6 to 8): the table of served workflows every
//! channel reads, and the dispatcher's part in running them.
//!
//! The registry actor fills the table (`registry/workflows.rs`) with the workflows declared on
//! the supervisor builder, found in `discover` directories, saved in `flowgate_workflows` or
//! registered at run time, each checked against the models served. Channels only read it; the
//! dispatcher runs them (`dispatch/workflows.rs`). Plain data: it knows nothing of the
//! dispatcher, the routes or the registry actor (which it reaches through a [`Registrar`]).

use flowgate::workflow::{NodeKind, RunStore, Workflow};
use flowgate::{Error, OpKind, Schema, Store};
use futures_util::future::BoxFuture;
use serde_json::{Value, json};
use std::collections::BTreeMap;
use std::sync::{Arc, RwLock};
use std::time::Duration;
use tokio_util::task::TaskTracker;

/// A workflow being served, with what the channels show of it.
#[derive(Debug)]
pub struct Served {
    /// The workflow.
    pub workflow: Workflow,
    /// Where it came from: `builder`, a file's path, `flowgate_workflows`, `handle`, `http`.
    pub source: String,
    /// The JSON Schema of its inputs, against the models served when it was checked.
    pub input_schema: Value,
    /// What `GET /workflows/{name}` answers: the canonical form, `input_schema` and `order`.
    pub describe: Value,
}

impl Served {
    /// A workflow checked against `schema`, ready to serve.
    pub fn new(workflow: Workflow, source: impl Into<String>, schema: &Schema) -> Served {
        Served {
            input_schema: workflow.input_schema(schema),
            describe: workflow.describe(schema),
            workflow,
            source: source.into(),
        }
    }

    /// The workflow's name.
    pub fn name(&self) -> &str {
        self.workflow.name()
    }

    /// Its entry in `GET /workflows` and `flowgate://workflows`.
    pub fn summary(&self) -> Value {
        let nodes: Vec<Value> = self
            .workflow
            .nodes()
            .iter()
            .map(|n| json!({"id": n.id(), "type": n.kind().type_name()}))
            .collect();
        json!({
            "name": self.name(),
            "description": self.workflow.description(),
            "transactional": self.workflow.transactional(),
            "nodes": nodes,
            "input_schema": self.input_schema,
        })
    }
}

/// The served workflows, the run store and what a run needs besides the node actors. Shared by
/// the registry actor (which writes it) and the channels (which read it).
#[derive(Default)]
pub struct Workflows {
    served: RwLock<BTreeMap<String, Arc<Served>>>,
    runs: RwLock<Option<RunStore>>,
    store: RwLock<Option<Store>>,
    registrar: RwLock<Option<Registrar>>,
    pub(crate) tasks: TaskTracker,
}

/// How a workflow registered at run time reaches the registry actor: given the workflow and
/// where it came from, answers whether it is new. Set by the registry actor when it starts.
pub type Registrar =
    Arc<dyn Fn(Workflow, String) -> BoxFuture<'static, flowgate::Result<bool>> + Send + Sync>;

impl Workflows {
    /// A served workflow by name.
    pub fn get(&self, name: &str) -> Option<Arc<Served>> {
        self.served
            .read()
            .expect("workflows lock")
            .get(name)
            .cloned()
    }

    /// Every served workflow, by name.
    pub fn served(&self) -> Vec<Arc<Served>> {
        self.served
            .read()
            .expect("workflows lock")
            .values()
            .cloned()
            .collect()
    }

    /// Serves a workflow (replacing one of the same name).
    pub fn serve(&self, served: Arc<Served>) {
        self.served
            .write()
            .expect("workflows lock")
            .insert(served.name().to_string(), served);
    }

    /// Stops serving a workflow.
    pub fn withdraw(&self, name: &str) -> Option<Arc<Served>> {
        self.served.write().expect("workflows lock").remove(name)
    }

    /// `{"workflows": [summary, ...]}`: `GET /workflows` and the resource `flowgate://workflows`.
    pub fn list_json(&self) -> Value {
        let list: Vec<Value> = self.served().iter().map(|s| s.summary()).collect();
        json!({ "workflows": list })
    }

    /// The run store, once the registry opened it.
    pub fn runs(&self) -> Option<RunStore> {
        self.runs.read().expect("workflows lock").clone()
    }

    pub(crate) fn set_runs(&self, runs: RunStore) {
        *self.runs.write().expect("workflows lock") = Some(runs);
    }

    /// The store transactional runs begin their transaction on, once connected.
    pub(crate) fn store(&self) -> Option<Store> {
        self.store.read().expect("workflows lock").clone()
    }

    pub(crate) fn set_store(&self, store: Store) {
        *self.store.write().expect("workflows lock") = Some(store);
    }

    pub(crate) fn set_registrar(&self, registrar: Registrar) {
        *self.registrar.write().expect("workflows lock") = Some(registrar);
    }

    pub(crate) fn registrar(&self) -> Option<Registrar> {
        self.registrar.read().expect("workflows lock").clone()
    }

    /// Waits for the runs in flight (synchronous and asynchronous) to finish, at most `timeout`.
    /// Gives whether they did.
    pub async fn drain(&self, timeout: Duration) -> bool {
        self.tasks.close();
        let done = tokio::time::timeout(timeout, self.tasks.wait())
            .await
            .is_ok();
        self.tasks.reopen();
        done
    }
}

/// Whether a workflow can serve: its name is no model's MCP tool (`tool_owner` gives the model
/// and operation whose tool a name is) nor a generic tool of compact mode, every model it runs serves (`not_served` gives why a
/// model does not), and [`Workflow::check`] passes against `schema`. The server and the command
/// line in local mode both ask this, so they refuse the same workflows with the same errors.
pub fn verify(
    wf: &Workflow,
    schema: &Schema,
    tool_owner: impl Fn(&str) -> Option<(String, OpKind)>,
    not_served: impl Fn(&str) -> Option<Error>,
) -> flowgate::Result<()> {
    if let Some((model, op)) = tool_owner(wf.name()) {
        return Err(Error::Conflict {
            field: Some("name".into()),
            reason: format!(
                "workflow name `{}` is the MCP tool of the {} operation of model {model}; \
                 a workflow's tool is named after it, so it needs another name",
                wf.name(),
                op.as_str()
            ),
        });
    }
    if let Some(tool) = flowgate::naming::GenericTool::parse(wf.name()) {
        return Err(Error::Conflict {
            field: Some("name".into()),
            reason: format!(
                "workflow name `{}` is the name of a generic MCP tool (`[mcp] tools = \"compact\"`); \
                 a workflow's tool is named after it, so it needs another name",
                tool.name()
            ),
        });
    }
    for node in wf.nodes() {
        if let NodeKind::Model { model, .. } = node.kind()
            && let Some(e) = not_served(model)
        {
            return Err(e);
        }
    }
    wf.check(schema)
}

/// Why a workflow declared in more than one place (files, the builder) serves from none.
pub fn declared_twice(name: &str, sources: &[String]) -> String {
    format!(
        "workflow `{name}` is declared more than once: {}",
        sources.join(" and ")
    )
}

/// An error as a reason on the readiness board: the field it names first.
pub fn reason_of(e: &Error) -> String {
    match e.field() {
        Some(f) => format!("{f}: {e}"),
        None => e.to_string(),
    }
}
