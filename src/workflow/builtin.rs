//! The built-in nodes: `SwitchNode`, `MergeNode`, `TransformNode`.
//!
//! - **SwitchNode** `{"value": ..., "cases": [{"equals": v, "output": "b"} | {"when": "<jq>",
//!   "output": "b"}], "default": "b"?}` picks the branch of the first case whose `equals` is
//!   equal to the value, or whose jq condition is true for it (`$inputs` holds the run's inputs).
//!   Its result is `{"branch": "b" or null, "value": ...}`. A connection from a switch names a
//!   branch as the first segment of its `output` (`"b"`, or `"b.field"` for a path into the value);
//!   its target runs only when that branch is taken and is skipped otherwise.
//! - **MergeNode** `{"mode": "object" | "array" | "first" | "concat" | "assign", <item>: ...}`
//!   combines its items (params other than `mode`, usually filled by connections) in param
//!   order: `object` (the default) gives `{item: value}`, `array` the values in order, `first`
//!   the first value, `concat` the items' arrays joined, `assign` the items' objects merged
//!   (later keys win). Items whose connection comes from a skipped node are left out, and a merge
//!   runs when at least one of its connections is live: it joins the branches of a switch.
//! - **TransformNode** `{"expr": "<jq>", "input": ...}` runs a jq program (jaq) on `input` (by
//!   default the run's inputs) with `$inputs` bound to the run's inputs; the program must give
//!   exactly one value, which is the result.

use super::NodeKind;
use super::jq::Program;
use super::path::JsonPath;
use crate::error::{Error, Result};
use serde_json::{Map, Value};
use std::sync::Arc;

/// A built-in node's compiled form.
#[derive(Debug, Clone)]
pub(crate) enum Builtin {
    Switch(Switch),
    Merge(MergeMode),
    Transform(Arc<Program>),
}

#[derive(Debug, Clone)]
pub(crate) struct Switch {
    cases: Vec<(Test, String)>,
    default: Option<String>,
}

#[derive(Debug, Clone)]
enum Test {
    Equals(Value),
    When(Arc<Program>),
}

/// How a merge combines its items.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum MergeMode {
    Object,
    Array,
    First,
    Concat,
    Assign,
}

const MERGE_MODES: &str = "object, array, first, concat, assign";

type CompileError = (String, String);

impl Builtin {
    /// Compiles a built-in's params. Returns it with the params that references and connections
    /// fill in (`value`, `input`, or a merge's items); errors name the param.
    pub(crate) fn compile(
        kind: &NodeKind,
        params: &Value,
    ) -> Result<(Builtin, Value), CompileError> {
        let empty = Map::new();
        let m = params.as_object().unwrap_or(&empty);
        match kind {
            NodeKind::Switch => compile_switch(m),
            NodeKind::Merge => {
                let mode = match m.get("mode") {
                    None => MergeMode::Object,
                    Some(Value::String(s)) => match s.as_str() {
                        "object" => MergeMode::Object,
                        "array" => MergeMode::Array,
                        "first" => MergeMode::First,
                        "concat" => MergeMode::Concat,
                        "assign" => MergeMode::Assign,
                        other => {
                            return Err((
                                "mode".into(),
                                format!(
                                    "unknown merge mode `{other}` (expected one of: {MERGE_MODES})"
                                ),
                            ));
                        }
                    },
                    Some(other) => {
                        return Err((
                            "mode".into(),
                            format!(
                                "`mode` must be a string, got {}",
                                crate::value::kind_of(other)
                            ),
                        ));
                    }
                };
                let items: Map<String, Value> = m
                    .iter()
                    .filter(|(k, _)| *k != "mode")
                    .map(|(k, v)| (k.clone(), v.clone()))
                    .collect();
                Ok((Builtin::Merge(mode), Value::Object(items)))
            }
            NodeKind::Transform => {
                only(m, &["expr", "input"])?;
                let expr = match m.get("expr") {
                    Some(Value::String(s)) => s,
                    Some(other) => {
                        return Err((
                            "expr".into(),
                            format!(
                                "`expr` must be a jq program (a string), got {}",
                                crate::value::kind_of(other)
                            ),
                        ));
                    }
                    None => {
                        return Err(("expr".into(), "`expr` (a jq program) is required".into()));
                    }
                };
                let program = Program::compile(expr).map_err(|e| ("expr".to_string(), e))?;
                let mut templated = Map::new();
                if let Some(input) = m.get("input") {
                    templated.insert("input".into(), input.clone());
                }
                Ok((
                    Builtin::Transform(Arc::new(program)),
                    Value::Object(templated),
                ))
            }
            NodeKind::Model { .. } => Err((String::new(), "not a built-in".into())),
        }
    }

    /// Whether a connection may read `output` from this node's result.
    pub(crate) fn check_output(&self, output: &JsonPath) -> Result<(), String> {
        let Builtin::Switch(s) = self else {
            return Ok(());
        };
        let branches = s.branches();
        match output.segs().first() {
            Some(b) if branches.contains(&b.as_str()) => Ok(()),
            Some(b) => Err(format!(
                "a connection from a switch names one of its branches ({}), not `{b}`",
                branches.join(", ")
            )),
            None => Err(format!(
                "a connection from a switch names one of its branches ({})",
                branches.join(", ")
            )),
        }
    }

    /// Whether a connection may write param `input` of this node.
    pub(crate) fn check_input(&self, input: &JsonPath) -> Result<(), String> {
        let first = input.segs().first().map(String::as_str).unwrap_or_default();
        match self {
            Builtin::Switch(_) if first != "value" => {
                Err("a connection into a switch sets its `value`".into())
            }
            Builtin::Transform(_) if first != "input" => {
                Err("a connection into a transform sets its `input`".into())
            }
            Builtin::Merge(_) if first == "mode" => {
                Err("`mode` of a merge cannot come from a connection".into())
            }
            _ => Ok(()),
        }
    }

    /// Runs the built-in on its filled-in params. Errors name `nodes.<id>.params.<param>`.
    pub(crate) async fn run(
        &self,
        id: &str,
        params: Value,
        inputs: &Map<String, Value>,
    ) -> Result<Value> {
        let at = |param: &str| format!("nodes.{id}.params.{param}");
        let Value::Object(mut params) = params else {
            return Err(Error::internal(format!(
                "node {id}: params are not an object"
            )));
        };
        match self {
            Builtin::Switch(s) => {
                let value = params.remove("value").unwrap_or(Value::Null);
                let inputs = Value::Object(inputs.clone());
                let mut branch = s.default.clone();
                for (i, (test, output)) in s.cases.iter().enumerate() {
                    let hit = match test {
                        Test::Equals(v) => *v == value,
                        Test::When(p) => {
                            let outs = run_program(p, value.clone(), inputs.clone())
                                .await
                                .map_err(|e| {
                                    Error::validation(at(&format!("cases.{i}.when")), e)
                                })?;
                            outs.first()
                                .is_some_and(|v| !matches!(v, Value::Null | Value::Bool(false)))
                        }
                    };
                    if hit {
                        branch = Some(output.clone());
                        break;
                    }
                }
                Ok(serde_json::json!({"branch": branch, "value": value}))
            }
            Builtin::Merge(mode) => {
                merge(*mode, params).map_err(|(k, e)| Error::validation(at(&k), e))
            }
            Builtin::Transform(p) => {
                let inputs = Value::Object(inputs.clone());
                let input = params.remove("input").unwrap_or_else(|| inputs.clone());
                let mut outs = run_program(p, input, inputs)
                    .await
                    .map_err(|e| Error::validation(at("expr"), e))?;
                match outs.len() {
                    1 => Ok(outs.pop().expect("one output")),
                    n => Err(Error::validation(
                        at("expr"),
                        format!(
                            "the program gave {n} values; a transform must give exactly one \
                             (wrap it in [...] to collect several)"
                        ),
                    )),
                }
            }
        }
    }
}

fn only(m: &Map<String, Value>, allowed: &[&str]) -> Result<(), CompileError> {
    for key in m.keys() {
        if !allowed.contains(&key.as_str()) {
            return Err((
                key.clone(),
                format!(
                    "unknown param `{key}` (expected one of: {})",
                    allowed.join(", ")
                ),
            ));
        }
    }
    Ok(())
}

impl Switch {
    fn branches(&self) -> Vec<&str> {
        let mut out: Vec<&str> = Vec::new();
        for name in self
            .cases
            .iter()
            .map(|(_, o)| o.as_str())
            .chain(self.default.as_deref())
        {
            if !out.contains(&name) {
                out.push(name);
            }
        }
        out
    }
}

fn compile_switch(m: &Map<String, Value>) -> Result<(Builtin, Value), CompileError> {
    only(m, &["value", "cases", "default"])?;
    let branch_name = |key: String, v: &Value| -> Result<String, CompileError> {
        match v.as_str() {
            Some(s) if super::template::is_name(s) => Ok(s.to_string()),
            _ => Err((
                key,
                format!("a branch name is ASCII letters, digits and `_`, got {v}"),
            )),
        }
    };
    let cases = match m.get("cases") {
        Some(Value::Array(list)) if !list.is_empty() => list,
        _ => {
            return Err((
                "cases".into(),
                "`cases` must be a non-empty list of {\"equals\": value, \"output\": branch} or \
                 {\"when\": \"<jq condition>\", \"output\": branch}"
                    .into(),
            ));
        }
    };
    let mut compiled = Vec::with_capacity(cases.len());
    for (i, case) in cases.iter().enumerate() {
        let key = |k: &str| format!("cases.{i}.{k}");
        let Some(c) = case.as_object() else {
            return Err((format!("cases.{i}"), "a case must be an object".into()));
        };
        for k in c.keys() {
            if !["equals", "when", "output"].contains(&k.as_str()) {
                return Err((
                    key(k),
                    format!("unknown key `{k}` (expected equals or when, and output)"),
                ));
            }
        }
        let output = branch_name(key("output"), c.get("output").unwrap_or(&Value::Null))?;
        let test = match (c.get("equals"), c.get("when")) {
            (Some(v), None) => Test::Equals(v.clone()),
            (None, Some(Value::String(expr))) => Test::When(Arc::new(
                Program::compile(expr).map_err(|e| (key("when"), e))?,
            )),
            (None, Some(_)) => {
                return Err((
                    key("when"),
                    "`when` must be a jq condition (a string)".into(),
                ));
            }
            _ => {
                return Err((
                    format!("cases.{i}"),
                    "a case has either `equals` or `when`".into(),
                ));
            }
        };
        compiled.push((test, output));
    }
    let default = match m.get("default") {
        None | Some(Value::Null) => None,
        Some(v) => Some(branch_name("default".into(), v)?),
    };
    let mut templated = Map::new();
    if let Some(v) = m.get("value") {
        templated.insert("value".into(), v.clone());
    }
    Ok((
        Builtin::Switch(Switch {
            cases: compiled,
            default,
        }),
        Value::Object(templated),
    ))
}

fn merge(mode: MergeMode, items: Map<String, Value>) -> Result<Value, (String, String)> {
    Ok(match mode {
        MergeMode::Object => Value::Object(items),
        MergeMode::Array => Value::Array(items.into_iter().map(|(_, v)| v).collect()),
        MergeMode::First => items
            .into_iter()
            .next()
            .map(|(_, v)| v)
            .unwrap_or(Value::Null),
        MergeMode::Concat => {
            let mut out = Vec::new();
            for (k, v) in items {
                match v {
                    Value::Array(a) => out.extend(a),
                    other => {
                        return Err((
                            k,
                            format!(
                                "mode `concat` joins arrays, but this item is {}",
                                crate::value::kind_of(&other)
                            ),
                        ));
                    }
                }
            }
            Value::Array(out)
        }
        MergeMode::Assign => {
            let mut out = Map::new();
            for (k, v) in items {
                match v {
                    Value::Object(o) => out.extend(o),
                    other => {
                        return Err((
                            k,
                            format!(
                                "mode `assign` merges objects, but this item is {}",
                                crate::value::kind_of(&other)
                            ),
                        ));
                    }
                }
            }
            Value::Object(out)
        }
    })
}

/// Runs a program on a thread of its own, within its limits (see `jq.rs`): past its time limit,
/// or when this future is dropped, the program is stopped, and nothing waits for its thread.
async fn run_program(p: &Arc<Program>, input: Value, inputs: Value) -> Result<Vec<Value>, String> {
    p.run(input, inputs).await
}
