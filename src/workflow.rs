//! Workflows: nodes (model operations and built-ins) wired by connections, run in topological
//! order with independent nodes concurrently (DESIGN section 8).
//!
//! ```
//! # use flowgate::workflow::{WorkflowBuilder, InputType};
//! # use serde_json::json;
//! let wf = WorkflowBuilder::new("signup")
//!     .input("email", InputType::String)
//!     .input("note", InputType::String)
//!     .add_node("UserCreateNode", "user", json!({"email": "${email}"}))
//!     .add_node("NoteCreateNode", "note", json!({"body": "${note}"}))
//!     .connect("user", "id", "note", "user_id")
//!     .build()?;
//! assert_eq!(wf.nodes().len(), 2);
//! # Ok::<(), flowgate::Error>(())
//! ```
//!
//! - [`WorkflowBuilder`] collects nodes, connections and inputs; [`WorkflowBuilder::build`]
//!   checks everything that needs no database: node ids, node types (`<Model><Op>Node` or a
//!   built-in), params and their `${name}` references, connections, cycles. Errors are
//!   `Validation` errors whose field names the place: `nodes.user.params.email`,
//!   `connections.0.output`, `inputs.email`.
//! - [`Workflow::check`] checks a built workflow against the models served (unknown models, params
//!   a create cannot take, required fields nothing gives); the server runs it when it registers a
//!   workflow. [`Workflow::input_schema`] describes the inputs as JSON Schema.
//! - Files (TOML, JSON, YAML) carry the same keys: [`parse`], [`load`]; [`Workflow::to_json`] is the
//!   canonical JSON form.
//! - [`Workflow::run`] runs it on an [`OpExecutor`] (a [`Store`](crate::Store), or the server's
//!   dispatcher); [`RunStore`] runs it in the background and keeps its status and outputs in
//!   `flowgate_runs`; [`WorkflowRegistry`] keeps registered definitions in `flowgate_workflows`.

mod builder;
mod builtin;
mod check;
mod file;
mod graph;
mod inputs;
mod jq;
mod path;
mod run;
mod runs;
mod saved;
mod template;

pub use builder::WorkflowBuilder;
pub use file::{FileFormat, load, parse, top_level};
pub use inputs::{InputDef, InputType};
#[doc(hidden)]
pub use jq::live_evaluations as live_jq_evaluations;
pub use run::{OpExecutor, RunError, RunOutput};
pub use runs::{RunRecord, RunStatus, RunStore, RunStoreConfig, StartedRun};
pub use saved::{SavedWorkflow, WorkflowRegistry, checksum};

use crate::operation::OpKind;
use graph::Graph;
use indexmap::IndexMap;
use serde_json::{Map, Value, json};
use std::sync::Arc;

/// What a node does.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum NodeKind {
    /// An operation on a model: the node type `<Model><Op>Node`, such as `UserCreateNode`.
    Model {
        /// The model's name.
        model: String,
        /// The operation.
        op: OpKind,
    },
    /// `SwitchNode`: picks a branch by the first case its value matches; nodes connected to the
    /// branches not taken are skipped.
    Switch,
    /// `MergeNode`: combines the results connected to it into one value.
    Merge,
    /// `TransformNode`: reshapes JSON with a jq program (jaq), with no I/O.
    Transform,
}

impl NodeKind {
    /// The built-in node types.
    pub const BUILTINS: [&'static str; 3] = ["SwitchNode", "MergeNode", "TransformNode"];

    /// Parses a node type: a built-in, or `<Model><Op>Node` (the model is not checked here).
    pub fn parse(type_name: &str) -> Option<NodeKind> {
        match type_name {
            "SwitchNode" => Some(NodeKind::Switch),
            "MergeNode" => Some(NodeKind::Merge),
            "TransformNode" => Some(NodeKind::Transform),
            other => OpKind::parse_node_name(other).map(|(model, op)| NodeKind::Model {
                model: model.to_string(),
                op,
            }),
        }
    }

    /// The node type, as [`NodeKind::parse`] reads it.
    pub fn type_name(&self) -> String {
        match self {
            NodeKind::Model { model, op } => op.node_name(model),
            NodeKind::Switch => "SwitchNode".into(),
            NodeKind::Merge => "MergeNode".into(),
            NodeKind::Transform => "TransformNode".into(),
        }
    }

    /// Whether the node runs a database operation (and so joins a transactional run's
    /// transaction).
    pub fn is_model(&self) -> bool {
        matches!(self, NodeKind::Model { .. })
    }
}

/// One node of a built workflow.
#[derive(Debug, Clone)]
pub struct Node {
    id: String,
    kind: NodeKind,
    params: Value,
    /// The params references and connections fill in (all of a model node's params; the
    /// `value`, `input` or items of a built-in).
    pub(crate) tpl: template::Param,
    pub(crate) builtin: Option<builtin::Builtin>,
}

impl Node {
    /// The node's id, unique in its workflow.
    pub fn id(&self) -> &str {
        &self.id
    }
    /// What the node does.
    pub fn kind(&self) -> &NodeKind {
        &self.kind
    }
    /// The node's params as written (references unresolved).
    pub fn params(&self) -> &Value {
        &self.params
    }
}

/// A connection: the value at `output` in the result of node `from` becomes param `input` of node
/// `to`, and `to` runs after `from`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Connection {
    /// The source node's id.
    pub from: String,
    /// A dotted path into the source's result (`id`, `record.id`, `records.0.title`); empty for
    /// the whole result. From a `SwitchNode`, the first segment names a branch.
    pub output: String,
    /// The target node's id.
    pub to: String,
    /// The target's param (a dotted path for nested params such as `fields.user_id`); `None` for
    /// a connection that only orders the nodes (and, from a switch, makes the target part of a
    /// branch).
    pub input: Option<String>,
}

impl Connection {
    /// A connection carrying a value.
    pub fn new(
        from: impl Into<String>,
        output: impl Into<String>,
        to: impl Into<String>,
        input: impl Into<String>,
    ) -> Self {
        Connection {
            from: from.into(),
            output: output.into(),
            to: to.into(),
            input: Some(input.into()),
        }
    }

    /// A connection that only orders `to` after `from` (on `output`'s branch, from a switch).
    pub fn order(
        from: impl Into<String>,
        output: impl Into<String>,
        to: impl Into<String>,
    ) -> Self {
        Connection {
            from: from.into(),
            output: output.into(),
            to: to.into(),
            input: None,
        }
    }

    fn to_json(&self) -> Value {
        let mut m = Map::new();
        m.insert("from".into(), json!(self.from));
        m.insert("output".into(), json!(self.output));
        m.insert("to".into(), json!(self.to));
        if let Some(input) = &self.input {
            m.insert("input".into(), json!(input));
        }
        Value::Object(m)
    }
}

/// A built, validated workflow. Immutable and cheap to clone (clones share one definition).
#[derive(Debug, Clone)]
pub struct Workflow {
    inner: Arc<Inner>,
}

#[derive(Debug)]
struct Inner {
    name: String,
    description: Option<String>,
    transactional: bool,
    inputs: IndexMap<String, InputDef>,
    declared_inputs: bool,
    nodes: Vec<Node>,
    connections: Vec<Connection>,
    /// Per connection: the parsed output path and the target param path (None: ordering only).
    conn_paths: Vec<(path::JsonPath, Option<path::JsonPath>)>,
    /// Per connection: the source and target node indexes.
    conn_nodes: Vec<(usize, usize)>,
    graph: Graph,
    /// Every reference: node index and site.
    refs: Vec<(usize, template::RefSite)>,
}

impl Workflow {
    /// A builder for a workflow named `name`.
    pub fn builder(name: impl Into<String>) -> WorkflowBuilder {
        WorkflowBuilder::new(name)
    }

    /// The workflow's name.
    pub fn name(&self) -> &str {
        &self.inner.name
    }
    /// What the workflow does, when it says.
    pub fn description(&self) -> Option<&str> {
        self.inner.description.as_deref()
    }
    /// Whether every model node of a run shares one transaction.
    pub fn transactional(&self) -> bool {
        self.inner.transactional
    }
    /// The inputs: declared, or inferred from the references (then each is required, of any type).
    pub fn inputs(&self) -> &IndexMap<String, InputDef> {
        &self.inner.inputs
    }
    /// Whether the inputs were declared (rather than inferred).
    pub fn declares_inputs(&self) -> bool {
        self.inner.declared_inputs
    }
    /// The nodes, in declaration order.
    pub fn nodes(&self) -> &[Node] {
        &self.inner.nodes
    }
    /// A node by id.
    pub fn node(&self, id: &str) -> Option<&Node> {
        self.inner.nodes.iter().find(|n| n.id == id)
    }
    /// The connections, in declaration order.
    pub fn connections(&self) -> &[Connection] {
        &self.inner.connections
    }
    /// The node ids in an order where each comes after the nodes it depends on.
    pub fn order(&self) -> Vec<&str> {
        self.inner
            .graph
            .order
            .iter()
            .map(|&i| self.inner.nodes[i].id.as_str())
            .collect()
    }

    /// The canonical JSON form (the file form of DESIGN section 8): `name`, `description` when
    /// set, `transactional`, `inputs` when declared, `nodes`, `connections`. [`parse`] of it gives
    /// back the same workflow.
    pub fn to_json(&self) -> Value {
        let i = &self.inner;
        let mut m = Map::new();
        m.insert("name".into(), json!(i.name));
        if let Some(d) = &i.description {
            m.insert("description".into(), json!(d));
        }
        m.insert("transactional".into(), json!(i.transactional));
        if i.declared_inputs {
            let inputs: Map<String, Value> = i
                .inputs
                .iter()
                .map(|(k, d)| (k.clone(), d.to_json()))
                .collect();
            m.insert("inputs".into(), Value::Object(inputs));
        }
        let nodes: Vec<Value> = i
            .nodes
            .iter()
            .map(|n| json!({"id": n.id, "type": n.kind.type_name(), "params": n.params}))
            .collect();
        m.insert("nodes".into(), Value::Array(nodes));
        let conns: Vec<Value> = i.connections.iter().map(Connection::to_json).collect();
        m.insert("connections".into(), Value::Array(conns));
        Value::Object(m)
    }
}

impl serde::Serialize for Workflow {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        self.to_json().serialize(s)
    }
}

impl PartialEq for Workflow {
    fn eq(&self, other: &Self) -> bool {
        self.to_json() == other.to_json()
    }
}
