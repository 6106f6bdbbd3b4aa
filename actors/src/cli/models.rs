//! The models a client command acts on, locally or remotely: compiled definitions with their
//! registry versions, those that cannot serve, and their JSON for `models list|show`.

use super::output::Failure;
use flowgate::{ModelInfo, Schema};
use serde_json::{Map, Value, json};
use std::sync::Arc;

/// A model a client command can act on.
#[derive(Clone, Debug)]
pub(crate) struct ModelEntry {
    /// The compiled model.
    pub(crate) info: Arc<ModelInfo>,
    /// Its registry version, when persisted.
    pub(crate) version: Option<i64>,
}

/// A model that exists but cannot serve (a refused migration, say).
#[derive(Clone, Debug)]
pub(crate) struct Unavailable {
    /// The model's name.
    pub(crate) name: String,
    /// Its table.
    pub(crate) table: String,
    /// Why it cannot serve.
    pub(crate) reason: String,
}

impl Unavailable {
    /// The error a command on this model gets.
    pub(crate) fn failure(&self) -> Failure {
        Failure::from(flowgate::Error::NotReady {
            what: format!("model:{}", self.name),
            state: format!("failed: {}", self.reason),
            retry_after_ms: 5000,
        })
    }
}

/// The JSON form of a model for `models list` / `models show`: the same on both sides, as it
/// is built from the definition and version alone.
pub(crate) fn model_json(entry: &ModelEntry, detailed: bool) -> Value {
    let m = &entry.info;
    let mut out = Map::new();
    out.insert("name".into(), json!(m.name()));
    out.insert("table".into(), json!(m.table));
    out.insert("version".into(), json!(entry.version));
    out.insert("description".into(), json!(m.def.description));
    if !detailed {
        out.insert("fields".into(), json!(m.def.fields.len()));
        return Value::Object(out);
    }
    out.insert("soft_delete".into(), json!(m.def.soft_delete));
    let canonical = flowgate::model::to_json(std::slice::from_ref(&m.def));
    let declared = &canonical["models"][m.name()]["fields"];
    let fields: Vec<Value> = m
        .columns
        .iter()
        .map(|c| {
            let mut f = Map::new();
            f.insert("name".into(), json!(c.name()));
            let role = match c.role {
                flowgate::model::Role::Id => "id",
                flowgate::model::Role::Field => "field",
                _ => "managed",
            };
            f.insert("role".into(), json!(role));
            match declared.get(c.name()).and_then(Value::as_object) {
                Some(opts) if c.role == flowgate::model::Role::Field => {
                    for (k, v) in opts {
                        f.insert(k.clone(), v.clone());
                    }
                }
                _ => {
                    f.insert("type".into(), json!(c.ty().as_str()));
                    if c.def.optional {
                        f.insert("optional".into(), json!(true));
                    }
                }
            }
            Value::Object(f)
        })
        .collect();
    out.insert("fields".into(), Value::Array(fields));
    out.insert("indexes".into(), json!(m.def.indexes));
    out.insert("unique".into(), json!(m.def.unique));
    Value::Object(out)
}

/// Compiles definitions with their versions into entries.
pub(crate) fn entries(
    defs: Vec<(flowgate::ModelDef, Option<i64>)>,
) -> Result<Vec<ModelEntry>, Failure> {
    let versions: std::collections::HashMap<String, Option<i64>> =
        defs.iter().map(|(d, v)| (d.name.clone(), *v)).collect();
    let schema = Schema::new(defs.into_iter().map(|(d, _)| d))?;
    let mut out: Vec<ModelEntry> = schema
        .models()
        .map(|m| ModelEntry {
            info: m.clone(),
            version: versions.get(m.name()).copied().flatten(),
        })
        .collect();
    out.sort_by(|a, b| a.info.name().cmp(b.info.name()));
    Ok(out)
}
