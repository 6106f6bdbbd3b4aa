//! A built workflow against the models served: unknown models, create params that are not
//! writable fields, required fields nothing gives, and the JSON Schema of the inputs (an
//! undeclared input takes its type from the model field a whole-string reference feeds).

use super::template::RefSite;
use super::{NodeKind, Workflow};
use crate::error::{Error, Result};
use crate::model::{Column, ModelInfo, Role, Schema};
use crate::operation::OpKind;
use serde_json::{Map, Value, json};
use std::collections::HashSet;

impl Workflow {
    /// Checks the workflow against the models `schema` serves: every model node names a served
    /// model; a create node's params (given or connected) are writable fields of the model and
    /// include every required field (not optional, no default); read and delete nodes get an `id`,
    /// update nodes an `id` (or `filter`) and `fields`. Errors name `nodes.<id>.type` or
    /// `nodes.<id>.params.<param>`.
    pub fn check(&self, schema: &Schema) -> Result<()> {
        for node in self.nodes() {
            let NodeKind::Model { model, op } = node.kind() else {
                continue;
            };
            let at = |rest: &str| format!("nodes.{}.{rest}", node.id());
            let Some(m) = schema.get(model) else {
                let mut served: Vec<&str> = schema.models().map(|m| m.name()).collect();
                served.sort_unstable();
                return Err(Error::validation(
                    at("type"),
                    format!(
                        "node type `{}` names model `{model}`, which is not served (served: {})",
                        node.kind().type_name(),
                        if served.is_empty() {
                            "none".to_string()
                        } else {
                            served.join(", ")
                        }
                    ),
                ));
            };
            let given = self.given_params(node.id());
            let missing = |param: &str, why: &str| {
                Error::validation(
                    at(&format!("params.{param}")),
                    format!(
                        "`{param}` is required by {} {why}; neither the params nor a connection \
                         give it",
                        node.kind().type_name()
                    ),
                )
            };
            match op {
                OpKind::Create => {
                    for key in &given {
                        match m.column(key) {
                            Some(c) if c.role == Role::Field => {}
                            Some(c) if c.role == Role::Id && !m.auto_id() => {}
                            Some(_) => {
                                return Err(Error::validation(
                                    at(&format!("params.{key}")),
                                    format!("`{key}` is set by the database and cannot be given"),
                                ));
                            }
                            None => {
                                return Err(Error::validation(
                                    at(&format!("params.{key}")),
                                    format!("model {} has no field `{key}`", m.name()),
                                ));
                            }
                        }
                    }
                    for col in m.columns.iter().filter(|c| c.role == Role::Field) {
                        let f = &col.def;
                        if f.required_on_create() && !given.contains(f.name.as_str()) {
                            return Err(missing(&f.name, "(a required field)"));
                        }
                    }
                }
                OpKind::Read | OpKind::Delete if !given.contains("id") => {
                    return Err(missing("id", "(the record's id)"));
                }
                OpKind::Update => {
                    if !given.contains("id") && !given.contains("filter") {
                        return Err(missing("id", "(the record's id)"));
                    }
                    if !given.contains("fields") {
                        return Err(missing("fields", "(the fields to change)"));
                    }
                }
                _ => {}
            }
        }
        Ok(())
    }

    /// The top-level params a node gets from its params and its connections.
    fn given_params(&self, id: &str) -> HashSet<&str> {
        let mut out = HashSet::new();
        if let Some(node) = self.node(id)
            && let Some(m) = node.params().as_object()
        {
            out.extend(m.keys().map(String::as_str));
        }
        for (c, conn) in self.connections().iter().enumerate() {
            if conn.to == id
                && let Some(input) = &self.inner.conn_paths[c].1
                && let Some(first) = input.segs().first()
            {
                out.insert(first.as_str());
            }
        }
        out
    }

    /// The JSON Schema (draft 2020-12) of the run inputs, as MCP tools and OpenAPI describe them:
    /// an object with a property per input, `required` listing the required ones, no other
    /// properties. A declared input's schema comes from its type; an undeclared one's from the
    /// model field the first whole-string `${name}` reference to it feeds (with the field's
    /// description), else `{}` (or scalar types when it is only used inside text).
    pub fn input_schema(&self, schema: &Schema) -> Value {
        let mut props = Map::new();
        let mut required = Vec::new();
        for (name, def) in self.inputs() {
            let s = if self.declares_inputs() {
                def.json_schema()
            } else {
                self.inferred_schema(name, schema)
            };
            props.insert(name.clone(), s);
            if def.is_required() {
                required.push(json!(name));
            }
        }
        json!({
            "type": "object",
            "properties": props,
            "required": required,
            "additionalProperties": false,
        })
    }

    /// What `GET /workflows/{name}` shows: the canonical form ([`Workflow::to_json`]) plus
    /// `input_schema` and `order` (the node ids in an order that respects the connections).
    pub fn describe(&self, schema: &Schema) -> Value {
        let mut v = self.to_json();
        v["input_schema"] = self.input_schema(schema);
        v["order"] = json!(self.order());
        v
    }

    fn inferred_schema(&self, name: &str, schema: &Schema) -> Value {
        let sites = || self.inner.refs.iter().filter(|(_, s)| s.name == name);
        for (n, site) in sites().filter(|(_, s)| s.whole) {
            let node = &self.inner.nodes[*n];
            if let NodeKind::Model { model, op } = node.kind()
                && let Some(m) = schema.get(model)
                && let Some(col) = fed_column(m, *op, site)
            {
                return crate::json_schema::column_schema(col);
            }
        }
        if sites().all(|(_, s)| !s.whole) {
            return json!({"type": ["string", "number", "boolean", "null"]});
        }
        json!({})
    }
}

/// The column a whole-string reference at `site` feeds in operation `op` of model `m`.
fn fed_column<'m>(m: &'m ModelInfo, op: OpKind, site: &RefSite) -> Option<&'m Column> {
    let segs: Vec<&str> = site.path.split('.').collect();
    let field = match (op, segs.as_slice()) {
        (OpKind::Create, [f]) => f,
        (OpKind::Read | OpKind::Delete | OpKind::Update, ["id"]) => &"id",
        (OpKind::Update | OpKind::BulkUpdate, ["fields", f]) => f,
        (OpKind::Update, ["filter", "id"]) => &"id",
        (OpKind::Upsert, ["where" | "create" | "update", f]) => f,
        (OpKind::List | OpKind::Count | OpKind::BulkUpdate | OpKind::BulkDelete, ["filter", f]) => {
            f
        }
        (
            OpKind::List | OpKind::Count | OpKind::BulkUpdate | OpKind::BulkDelete,
            ["filter", f, "$eq" | "$ne" | "$gt" | "$gte" | "$lt" | "$lte"],
        ) => f,
        (OpKind::BulkCreate | OpKind::BulkUpsert, ["data", _, f]) => f,
        _ => return None,
    };
    m.column(field)
}
