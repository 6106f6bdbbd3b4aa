//! Saved workflows: the definitions registered on a database, kept in `flowgate_workflows` so
//! that every server on it serves them at start and `flowgate workflows apply FILE` can register
//! one without a server.
//!
//! Like the registry's tables, `flowgate_workflows` is a model of an internal schema, read and
//! written through the ordinary operations on a sibling store sharing the application's pool.
//! A definition is kept as its canonical JSON text ([`Workflow::to_json`]), whose key order
//! PostgreSQL's JSONB and MySQL's JSON would not keep, with a SHA-256 checksum.

use super::Workflow;
use super::file::{FileFormat, parse};
use crate::context::Context;
use crate::error::{Error, Result};
use crate::model::{FieldDef, IdType, ModelDef, Schema};
use crate::operation::OpKind;
use crate::store::Store;
use serde_json::{Value, json};
use sha2::{Digest, Sha256};

const MODEL: &str = "FlowgateWorkflow";

fn saved_model() -> ModelDef {
    ModelDef::new(MODEL)
        .table("flowgate_workflows")
        .id(IdType::String)
        .field(FieldDef::string("checksum").max_length(64))
        .field(FieldDef::text("definition"))
}

/// The checksum of a workflow: SHA-256 of its canonical JSON text, in hex.
pub fn checksum(workflow: &Workflow) -> String {
    let text = workflow.to_json().to_string();
    Sha256::digest(text.as_bytes())
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect()
}

/// A saved definition as read back: the workflow, or why its stored text no longer reads as one.
#[derive(Debug, Clone)]
pub struct SavedWorkflow {
    /// The workflow's name.
    pub name: String,
    /// The workflow, or the error its definition gives now.
    pub workflow: Result<Workflow>,
}

/// The saved workflows of one database. Cheap to clone.
#[derive(Debug, Clone)]
pub struct WorkflowRegistry {
    store: Store,
}

impl WorkflowRegistry {
    /// The saved workflows on `app`'s database; creates `flowgate_workflows` if it is missing.
    pub async fn open(app: &Store) -> Result<WorkflowRegistry> {
        let schema = Schema::internal([saved_model()]).expect("the saved-workflow model is valid");
        let store = app.sibling(schema);
        store.create_tables().await?;
        Ok(WorkflowRegistry { store })
    }

    async fn op(&self, kind: OpKind, params: Value) -> Result<Value> {
        let m = self.store.model(MODEL)?;
        self.store
            .run(&Context::internal(), &m, kind, &params)
            .await
    }

    /// Saves a workflow under its name, replacing the definition saved before. Gives whether it
    /// is new (`false`: it replaced one, or the same definition was there already).
    pub async fn save(&self, workflow: &Workflow) -> Result<bool> {
        let definition = workflow.to_json().to_string();
        let done = self
            .op(
                OpKind::Upsert,
                json!({
                    "where": {"id": workflow.name()},
                    "create": {"checksum": checksum(workflow), "definition": definition},
                    "update": {"checksum": checksum(workflow), "definition": definition},
                }),
            )
            .await?;
        Ok(done["action"] == "created")
    }

    /// Every saved workflow, by name.
    pub async fn load(&self) -> Result<Vec<SavedWorkflow>> {
        let mut out = Vec::new();
        let mut cursor: Option<Value> = None;
        loop {
            let mut params = json!({"limit": 1000, "order_by": "id"});
            if let Some(c) = &cursor {
                params["cursor"] = c.clone();
            }
            let page = self.op(OpKind::List, params).await?;
            for rec in page["records"].as_array().into_iter().flatten() {
                let name = rec["id"].as_str().unwrap_or_default().to_string();
                let workflow = match rec["definition"].as_str() {
                    Some(text) => parse(
                        text,
                        FileFormat::Json,
                        &format!("flowgate_workflows.{name}"),
                    ),
                    None => Err(Error::internal(format!(
                        "the saved definition of workflow {name} is not text"
                    ))),
                };
                out.push(SavedWorkflow { name, workflow });
            }
            match page.get("next_cursor") {
                Some(c) if !c.is_null() => cursor = Some(c.clone()),
                _ => return Ok(out),
            }
        }
    }

    /// Removes a saved workflow; gives whether there was one.
    pub async fn remove(&self, name: &str) -> Result<bool> {
        let done = self.op(OpKind::Delete, json!({"id": name})).await?;
        Ok(done["deleted"] == true)
    }
}
