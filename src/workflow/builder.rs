//! The workflow builder and the checks `build` runs: everything that needs no database.

use super::graph::Graph;
use super::inputs::{self, InputDef};
use super::path::{self, JsonPath};
use super::template::{self, RefSite};
use super::{Connection, Inner, Node, NodeKind, Workflow, builtin};
use crate::error::{Error, Result};
use indexmap::IndexMap;
use serde_json::{Map, Value};
use std::collections::HashMap;
use std::sync::Arc;

/// Collects a workflow's parts; [`WorkflowBuilder::build`] validates them into a [`Workflow`].
#[derive(Debug, Clone)]
pub struct WorkflowBuilder {
    name: String,
    description: Option<String>,
    transactional: bool,
    inputs: Option<IndexMap<String, InputDef>>,
    nodes: Vec<(String, String, Value)>,
    connections: Vec<Connection>,
}

impl WorkflowBuilder {
    /// A builder for a workflow named `name` (letters, digits, `_` and `-`, starting with a
    /// letter, at most 64 characters: it becomes a URL segment and an MCP tool name).
    pub fn new(name: impl Into<String>) -> Self {
        WorkflowBuilder {
            name: name.into(),
            description: None,
            transactional: false,
            inputs: None,
            nodes: Vec::new(),
            connections: Vec::new(),
        }
    }

    /// Describes the workflow.
    pub fn description(mut self, text: impl Into<String>) -> Self {
        self.description = Some(text.into());
        self
    }

    /// Runs every model node of a run in one transaction, rolled back on failure.
    pub fn transactional(mut self, yes: bool) -> Self {
        self.transactional = yes;
        self
    }

    /// Declares an input. Once one is declared, every reference must name a declared input;
    /// with none declared, the inputs are inferred from the references.
    pub fn input(mut self, name: impl Into<String>, def: impl Into<InputDef>) -> Self {
        self.inputs
            .get_or_insert_with(IndexMap::new)
            .insert(name.into(), def.into());
        self
    }

    /// Declares that the workflow takes no inputs (so no reference may appear).
    pub fn no_inputs(mut self) -> Self {
        self.inputs.get_or_insert_with(IndexMap::new);
        self
    }

    /// Adds a node of type `node_type` (`UserCreateNode`, `SwitchNode`, ...) with its params.
    pub fn add_node(
        mut self,
        node_type: impl Into<String>,
        id: impl Into<String>,
        params: Value,
    ) -> Self {
        self.nodes.push((node_type.into(), id.into(), params));
        self
    }

    /// Connects the value at `from_path` in node `from_id`'s result to param `to_input` of node
    /// `to_id` (which then runs after `from_id`).
    pub fn connect(
        self,
        from_id: impl Into<String>,
        from_path: impl Into<String>,
        to_id: impl Into<String>,
        to_input: impl Into<String>,
    ) -> Self {
        self.connection(Connection::new(from_id, from_path, to_id, to_input))
    }

    /// Adds a connection (see [`Connection::order`] for one that only orders two nodes).
    pub fn connection(mut self, connection: Connection) -> Self {
        self.connections.push(connection);
        self
    }

    /// Validates the workflow. Each error is a `Validation` error naming where it is:
    /// `name`, `inputs.<name>`, `nodes.<id>` (or `nodes.<index>` before the id is known),
    /// `nodes.<id>.type`, `nodes.<id>.params.<param>`, `connections.<index>.<key>`.
    pub fn build(self) -> Result<Workflow> {
        check_name(&self.name)?;
        let declared = self.inputs.is_some();
        let mut inputs = self.inputs.unwrap_or_default();
        for (name, def) in &inputs {
            if !template::is_name(name) {
                return Err(Error::validation(
                    format!("inputs.{name}"),
                    format!(
                        "input name `{name}` must be ASCII letters, digits and `_`, not starting \
                         with a digit, at most 64 characters"
                    ),
                ));
            }
            inputs::check_default(name, def)?;
        }

        let mut nodes = Vec::with_capacity(self.nodes.len());
        let mut index: HashMap<String, usize> = HashMap::new();
        for (i, (ty, id, params)) in self.nodes.into_iter().enumerate() {
            if !is_node_id(&id) {
                return Err(Error::validation(
                    format!("nodes.{i}.id"),
                    format!(
                        "node id `{id}` must be ASCII letters, digits and `_`, not starting with \
                         a digit, at most 64 characters"
                    ),
                ));
            }
            if index.insert(id.clone(), i).is_some() {
                return Err(Error::validation(
                    format!("nodes.{id}"),
                    format!("node id `{id}` is used twice"),
                ));
            }
            nodes.push(build_node(ty, id, params)?);
        }
        if nodes.is_empty() {
            return Err(Error::validation(
                "nodes",
                "a workflow needs at least one node",
            ));
        }

        let mut conn_paths = Vec::with_capacity(self.connections.len());
        let mut conn_nodes = Vec::with_capacity(self.connections.len());
        let mut written: HashMap<(usize, Vec<String>), usize> = HashMap::new();
        for (i, c) in self.connections.iter().enumerate() {
            let at = |key: &str| format!("connections.{i}.{key}");
            let node_of = |key: &str, id: &str| {
                index
                    .get(id)
                    .copied()
                    .ok_or_else(|| Error::validation(at(key), format!("no node has the id `{id}`")))
            };
            let from = node_of("from", &c.from)?;
            let to = node_of("to", &c.to)?;
            if from == to {
                return Err(Error::validation(
                    at("to"),
                    format!("node `{}` cannot be connected to itself", c.to),
                ));
            }
            let output = JsonPath::parse(&c.output)
                .map_err(|reason| Error::validation(at("output"), reason))?;
            if let Some(b) = &nodes[from].builtin {
                b.check_output(&output)
                    .map_err(|reason| Error::validation(at("output"), reason))?;
            }
            let input = match &c.input {
                None => None,
                Some(s) => {
                    let p = JsonPath::parse(s)
                        .map_err(|reason| Error::validation(at("input"), reason))?;
                    if p.is_empty() {
                        return Err(Error::validation(
                            at("input"),
                            "`input` names a param of the target node; leave it out for a \
                             connection that only orders the nodes",
                        ));
                    }
                    check_input(&nodes[to], &p)
                        .map_err(|reason| Error::validation(at("input"), reason))?;
                    if let Some(j) = written.insert((to, p.segs().to_vec()), i) {
                        return Err(Error::validation(
                            at("input"),
                            format!(
                                "param `{s}` of node `{}` is already set by connection {j}",
                                c.to
                            ),
                        ));
                    }
                    Some(p)
                }
            };
            conn_paths.push((output, input));
            conn_nodes.push((from, to));
        }

        let graph = Graph::new(nodes.len(), &conn_nodes).map_err(|cycle| {
            let names: Vec<&str> = cycle.iter().map(|&n| nodes[n].id.as_str()).collect();
            Error::validation(
                format!("nodes.{}", names[0]),
                format!("the connections form a cycle: {}", names.join(" -> ")),
            )
        })?;

        let mut refs = Vec::new();
        for (n, node) in nodes.iter().enumerate() {
            for site in node.tpl.refs() {
                refs.push((n, site));
            }
        }
        if declared {
            for (n, site) in &refs {
                if !inputs.contains_key(&site.name) {
                    return Err(unresolved(&nodes[*n], site, &inputs));
                }
            }
        } else {
            for (_, site) in &refs {
                inputs
                    .entry(site.name.clone())
                    .or_insert_with(|| InputDef::new(super::InputType::Any));
            }
        }

        Ok(Workflow {
            inner: Arc::new(Inner {
                name: self.name,
                description: self.description,
                transactional: self.transactional,
                inputs,
                declared_inputs: declared,
                nodes,
                connections: self.connections,
                conn_paths,
                conn_nodes,
                graph,
                refs,
            }),
        })
    }
}

fn check_name(name: &str) -> Result<()> {
    let mut chars = name.chars();
    let ok = matches!(chars.next(), Some(c) if c.is_ascii_alphabetic())
        && chars.all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '-')
        && name.len() <= 64;
    if ok {
        Ok(())
    } else {
        Err(Error::validation(
            "name",
            format!(
                "workflow name `{name}` must be ASCII letters, digits, `_` and `-`, starting with \
                 a letter, at most 64 characters"
            ),
        ))
    }
}

fn is_node_id(id: &str) -> bool {
    template::is_name(id)
}

fn build_node(ty: String, id: String, params: Value) -> Result<Node> {
    let at = |rest: &str| format!("nodes.{id}.{rest}");
    let kind = NodeKind::parse(&ty).ok_or_else(|| {
        Error::validation(
            at("type"),
            format!(
                "unknown node type `{ty}`: a model node is `<Model><Op>Node` (such as \
                 `UserCreateNode`), a built-in is one of {}",
                NodeKind::BUILTINS.join(", ")
            ),
        )
    })?;
    let params = match params {
        Value::Null => Value::Object(Map::new()),
        Value::Object(m) => Value::Object(m),
        other => {
            return Err(Error::validation(
                at("params"),
                format!(
                    "params must be a JSON object, got {}",
                    crate::value::kind_of(&other)
                ),
            ));
        }
    };
    let (builtin, templated) = match &kind {
        NodeKind::Model { .. } => (None, params.clone()),
        other => {
            let (b, templated) = builtin::Builtin::compile(other, &params)
                .map_err(|(key, reason)| Error::validation(at(&format!("params.{key}")), reason))?;
            (Some(b), templated)
        }
    };
    let tpl = template::compile(&templated).map_err(|(p, reason)| {
        Error::validation(
            if p.is_empty() {
                at("params")
            } else {
                at(&format!("params.{p}"))
            },
            reason,
        )
    })?;
    Ok(Node {
        id,
        kind,
        params,
        tpl,
        builtin,
    })
}

/// Whether a connection may write param `p` of `node`: a built-in takes values only in its data
/// params; nothing may overwrite a param the node's params already give.
fn check_input(node: &Node, p: &JsonPath) -> Result<(), String> {
    if let Some(b) = &node.builtin {
        b.check_input(p)?;
    }
    if path::get(&node.params, p.segs()).is_some() {
        return Err(format!(
            "param `{}` of node `{}` is already given in its params",
            p.segs().join("."),
            node.id
        ));
    }
    Ok(())
}

fn unresolved(node: &Node, site: &RefSite, inputs: &IndexMap<String, InputDef>) -> Error {
    let known: Vec<&str> = inputs.keys().map(String::as_str).collect();
    let field = if site.path.is_empty() {
        format!("nodes.{}.params", node.id)
    } else {
        format!("nodes.{}.params.{}", node.id, site.path)
    };
    Error::validation(
        field,
        if known.is_empty() {
            format!(
                "`${{{}}}` does not name an input: the workflow declares none",
                site.name
            )
        } else {
            format!(
                "`${{{}}}` does not name a declared input (declared: {})",
                site.name,
                known.join(", ")
            )
        },
    )
}
