//! The routing table every channel reads: which models exist, under which table names, and the
//! runner of each one that is ready. The registry actor writes it; the dispatcher reads it.
//! Plain data: it knows nothing of requests, workflows or the registry.

use crate::node::{NodeMsg, Runner};
use dashmap::DashMap;
use flowgate::{ModelInfo, OpKind};
use ractor::ActorRef;
use rustc_hash::FxBuildHasher;
use std::sync::Arc;

/// A model that is being served.
#[derive(Clone)]
pub struct Route {
    /// The model.
    pub model: Arc<ModelInfo>,
    /// What runs its operations (owned by its node actor).
    pub runner: Arc<Runner>,
    /// Its node actor.
    pub node: ActorRef<NodeMsg>,
}

/// The routing table. Its maps are read on every request, so they hash with FxHash (the keys
/// are model and table names, which come from model definitions, not from callers: a lookup by
/// a caller's string only reads).
#[derive(Default)]
pub struct Routes {
    serving: DashMap<String, Route, FxBuildHasher>,
    tables: DashMap<String, String, FxBuildHasher>,
    versions: DashMap<String, i64, FxBuildHasher>,
}

impl Routes {
    /// Notes that a model exists under a table name, before it is ready.
    pub fn declare(&self, model: &str, table: &str) {
        self.tables.insert(table.to_string(), model.to_string());
    }

    /// Routes a model to its runner and node.
    pub fn serve(&self, runner: Arc<Runner>, node: ActorRef<NodeMsg>) {
        let model = runner.model().clone();
        self.declare(model.name(), &model.table);
        self.serving.insert(
            model.name().to_string(),
            Route {
                model,
                runner,
                node,
            },
        );
    }

    /// Stops routing to a model's node (it failed or shut down).
    pub fn withdraw(&self, model: &str) -> Option<Route> {
        self.serving.remove(model).map(|(_, r)| r)
    }

    /// The table of a declared model (a scan: for requests that wait for their model).
    pub fn table_of(&self, model: &str) -> Option<String> {
        self.tables
            .iter()
            .find(|e| e.value() == model)
            .map(|e| e.key().clone())
    }

    /// The model under a table name.
    pub fn model_of_table(&self, table: &str) -> Option<String> {
        self.tables.get(table).map(|m| m.clone())
    }

    /// Whether a model name is known (served or declared).
    pub fn knows(&self, model: &str) -> bool {
        self.serving.contains_key(model) || self.tables.iter().any(|e| e.value() == model)
    }

    /// The route of a served model.
    pub fn route(&self, model: &str) -> Option<Route> {
        self.serving.get(model).map(|r| r.clone())
    }

    /// The route of a target whose model is served, without allocating: the path of every
    /// request once its model is ready.
    pub fn route_of(&self, target: Target<'_>) -> Option<Route> {
        match target {
            Target::Model(name) => self.route(name),
            Target::Table(t) => self.route(self.tables.get(t)?.value()),
        }
    }

    /// The runner of a target whose model is served: [`Routes::route_of`] without cloning the
    /// rest of the route.
    pub fn runner_of(&self, target: Target<'_>) -> Option<Arc<Runner>> {
        let runner = |name: &str| self.serving.get(name).map(|r| r.runner.clone());
        match target {
            Target::Model(name) => runner(name),
            Target::Table(t) => runner(self.tables.get(t)?.value()),
        }
    }

    /// Notes the registry version of a model (persisted models count from 1).
    pub fn set_version(&self, model: &str, version: i64) {
        self.versions.insert(model.to_string(), version);
    }

    /// The registry version of a model, when it has one.
    pub fn version(&self, model: &str) -> Option<i64> {
        self.versions.get(model).map(|v| *v)
    }

    /// Every served model, by name.
    pub fn served(&self) -> Vec<Arc<ModelInfo>> {
        let mut out: Vec<Arc<ModelInfo>> = self.serving.iter().map(|r| r.model.clone()).collect();
        out.sort_by(|a, b| a.name().cmp(b.name()));
        out
    }

    /// The model operation whose MCP tool is called `name` (`<table>_<op>`, DESIGN section 7),
    /// among the tables known (served or declared). A workflow's tool is named after the
    /// workflow, so the registry refuses a workflow named like one of these, and a model whose
    /// tools would take a workflow's name.
    pub fn tool_owner(&self, name: &str) -> Option<(String, OpKind)> {
        OpKind::parse_tool_name(name)
            .find_map(|(table, op)| Some((self.model_of_table(table)?, op)))
    }
}

/// Whom a request is for.
#[derive(Debug, Clone, Copy)]
pub enum Target<'a> {
    /// A model by name (`/nodes/UserCreateNode`, MCP tools).
    Model(&'a str),
    /// A model by table name (`/api/users`).
    Table(&'a str),
}
