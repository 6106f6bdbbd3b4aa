//! The workflow part of the OpenAPI document: the routes every server has (`/workflows`,
//! `/workflows/{name}`, `/workflows/{name}/runs/{run_id}`) and one `execute` path per served
//! workflow, whose body carries that workflow's input schema.
//!
//! Operation ids contain a dot (`workflow.list`, `workflow.signup.execute`), which the ids of
//! model routes (`<table>_<op>`, `<Model><Op>Node`) never do, so the two cannot collide.

use super::{response_ref, schema_ref};
use crate::workflows::Served;
use serde_json::{Map, Value, json};
use std::sync::Arc;

const WORKFLOW: &str = "flowgate.Workflow";
const WORKFLOW_LIST: &str = "flowgate.WorkflowList";
const RUN: &str = "flowgate.WorkflowRun";
const RUN_RECORD: &str = "flowgate.WorkflowRunRecord";

/// The tag of the workflow routes.
pub(super) fn tag() -> Value {
    json!({
        "name": "workflows",
        "description": "Workflows: operations chained into a graph, run synchronously or in the background; the same inputs and results as their MCP tools and `flowgate run`.",
    })
}

/// The component schemas the workflow routes refer to.
pub(super) fn components(schemas: &mut Map<String, Value>) {
    let node = json!({
        "type": "object",
        "properties": {
            "id": { "type": "string" },
            "type": { "type": "string", "description": "`<Model><Op>Node`, `SwitchNode`, `MergeNode` or `TransformNode`" },
            "params": { "type": "object" },
        },
        "required": ["id", "type"],
    });
    schemas.insert(
        WORKFLOW.into(),
        json!({
            "type": "object",
            "description": "A workflow in its canonical file form, with the JSON Schema of its inputs and an order of its nodes that respects the connections.",
            "properties": {
                "name": { "type": "string" },
                "description": { "type": "string" },
                "transactional": { "type": "boolean" },
                "inputs": { "type": "object", "description": "the declared inputs (absent when they are inferred)" },
                "nodes": { "type": "array", "items": node },
                "connections": { "type": "array", "items": {
                    "type": "object",
                    "properties": {
                        "from": { "type": "string" },
                        "output": { "type": "string" },
                        "to": { "type": "string" },
                        "input": { "type": "string" },
                    },
                    "required": ["from", "output", "to"],
                } },
                "input_schema": { "type": "object", "description": "the JSON Schema of the run inputs" },
                "order": { "type": "array", "items": { "type": "string" } },
            },
            "required": ["name", "transactional", "nodes", "connections", "input_schema", "order"],
        }),
    );
    schemas.insert(
        WORKFLOW_LIST.into(),
        json!({
            "type": "object",
            "properties": { "workflows": { "type": "array", "items": {
                "type": "object",
                "properties": {
                    "name": { "type": "string" },
                    "description": { "type": ["string", "null"] },
                    "transactional": { "type": "boolean" },
                    "nodes": { "type": "array", "items": {
                        "type": "object",
                        "properties": { "id": { "type": "string" }, "type": { "type": "string" } },
                        "required": ["id", "type"],
                    } },
                    "input_schema": { "type": "object" },
                },
                "required": ["name", "description", "transactional", "nodes", "input_schema"],
            } } },
            "required": ["workflows"],
        }),
    );
    schemas.insert(
        RUN.into(),
        json!({
            "type": "object",
            "description": "A completed run: every node's result by node id, and the nodes a switch skipped.",
            "properties": {
                "run_id": { "type": "string" },
                "workflow": { "type": "string" },
                "status": { "const": "completed" },
                "results": { "type": "object", "additionalProperties": true },
                "skipped": { "type": "array", "items": { "type": "string" } },
            },
            "required": ["run_id", "workflow", "status", "results", "skipped"],
        }),
    );
    schemas.insert(
        RUN_RECORD.into(),
        json!({
            "type": "object",
            "description": "A stored run: its status, inputs, and results or error once finished.",
            "properties": {
                "run_id": { "type": "string" },
                "workflow": { "type": "string" },
                "status": { "enum": ["pending", "running", "completed", "failed"] },
                "inputs": { "type": "object" },
                "results": { "type": ["object", "null"] },
                "skipped": { "type": ["array", "null"], "items": { "type": "string" } },
                "error": {
                    "description": "the error object of a failed run (naming the node in `details.node`), else null",
                    "anyOf": [schema_ref("flowgate.ErrorObject"), { "type": "null" }],
                },
                "created_at": { "type": "string", "format": "date-time" },
                "started_at": { "type": ["string", "null"], "format": "date-time" },
                "finished_at": { "type": ["string", "null"], "format": "date-time" },
            },
            "required": ["run_id", "workflow", "status", "inputs", "results", "skipped", "error", "created_at", "started_at", "finished_at"],
        }),
    );
}

fn ok(description: &str, schema: Value) -> Value {
    json!({
        "description": description,
        "content": { "application/json": { "schema": schema } },
    })
}

fn name_param() -> Value {
    json!({
        "name": "name",
        "in": "path",
        "required": true,
        "description": "the workflow's name",
        "schema": { "type": "string" },
    })
}

fn run_id_param() -> Value {
    json!({
        "name": "run_id",
        "in": "path",
        "required": true,
        "description": "the id `execute` gave",
        "schema": { "type": "string" },
    })
}

/// The routes every server has, whatever it serves.
pub(super) fn paths(paths: &mut Map<String, Value>, common: &Value) {
    let with = |params: Vec<Value>| {
        let mut all = common.as_array().cloned().unwrap_or_default();
        all.extend(params);
        Value::Array(all)
    };
    paths.insert(
        "/workflows".into(),
        json!({
            "parameters": with(vec![]),
            "get": {
                "tags": ["workflows"],
                "operationId": "workflow.list",
                "summary": "The served workflows",
                "responses": { "200": ok("Every served workflow, by name.", schema_ref(WORKFLOW_LIST)) },
            },
            "post": {
                "tags": ["workflows"],
                "operationId": "workflow.apply",
                "summary": "Register a workflow, or replace the one of the same name",
                "description": "The body is a workflow file: JSON, or YAML or TOML with `Content-Type: application/yaml` or `application/toml`. It is checked against the served models, saved (with model persistence) and served on every channel at once.",
                "requestBody": {
                    "required": true,
                    "content": { "application/json": { "schema": {
                        "type": "object",
                        "description": "a workflow file (DESIGN section 8): name, description?, transactional?, inputs?, nodes, connections?",
                        "required": ["name", "nodes"],
                    } } },
                },
                "responses": {
                    "200": ok("It replaced the workflow of the same name.", schema_ref(WORKFLOW)),
                    "201": ok("It is new.", schema_ref(WORKFLOW)),
                    "400": response_ref("BadRequest"),
                    "403": response_ref("Forbidden"),
                    "409": response_ref("Conflict"),
                    "413": response_ref("PayloadTooLarge"),
                    "415": response_ref("UnsupportedMediaType"),
                    "500": response_ref("Internal"),
                    "503": response_ref("NotReady"),
                },
            },
        }),
    );
    paths.insert(
        "/workflows/{name}".into(),
        json!({
            "parameters": with(vec![name_param()]),
            "get": {
                "tags": ["workflows"],
                "operationId": "workflow.describe",
                "summary": "A workflow: nodes, connections, input schema and order",
                "responses": {
                    "200": ok("The workflow.", schema_ref(WORKFLOW)),
                    "404": response_ref("NotFound"),
                    "500": response_ref("Internal"),
                    "503": response_ref("NotReady"),
                },
            },
        }),
    );
    paths.insert(
        "/workflows/{name}/runs/{run_id}".into(),
        json!({
            "parameters": with(vec![name_param(), run_id_param()]),
            "get": {
                "tags": ["workflows"],
                "operationId": "workflow.run",
                "summary": "A run's status and outputs (kept in the database: they outlive a restart)",
                "responses": {
                    "200": ok("The run.", schema_ref(RUN_RECORD)),
                    "400": response_ref("BadRequest"),
                    "404": response_ref("NotFound"),
                    "500": response_ref("Internal"),
                    "503": response_ref("NotReady"),
                },
            },
        }),
    );
}

/// `POST /workflows/<name>/execute` of each served workflow, its body carrying the workflow's
/// input schema.
pub(super) fn execute_paths(
    paths: &mut Map<String, Value>,
    common: &Value,
    workflows: &[Arc<Served>],
) {
    for s in workflows {
        let name = s.name();
        let required = s.input_schema["required"]
            .as_array()
            .is_some_and(|r| !r.is_empty());
        let mut body = json!({
            "type": "object",
            "properties": {
                "inputs": nullable_optional_inputs(&s.input_schema),
                "mode": {
                    "enum": ["sync", "async"],
                    "default": "sync",
                    "description": "`sync` answers when the run ends; `async` answers 202 with the run's id at once",
                },
            },
            "additionalProperties": false,
        });
        if required {
            body["required"] = json!(["inputs"]);
        }
        let mut description = format!(
            "Runs the workflow `{name}`: the same inputs and result as the MCP tool `{name}` and `flowgate run {name}`. A failed run answers the status of its error's code, with the error object naming the node (`details.node`) and the run (`details.run_id`)."
        );
        if s.workflow.transactional() {
            description.push_str(" The run is one transaction: a failure rolls every write back.");
        }
        let mut summary = format!("Run the workflow {name}");
        if let Some(d) = s.workflow.description() {
            summary = format!("{summary}: {d}");
        }
        paths.insert(
            format!("/workflows/{name}/execute"),
            json!({
                "parameters": common,
                "post": {
                    "tags": ["workflows"],
                    "operationId": format!("workflow.{name}.execute"),
                    "summary": summary,
                    "description": description,
                    "requestBody": {
                        "required": required,
                        "content": { "application/json": { "schema": body } },
                    },
                    "responses": {
                        "200": ok("The run completed (`mode: sync`).", schema_ref(RUN)),
                        "202": {
                            "description": "The run started in the background (`mode: async`); poll `Location`.",
                            "headers": { "Location": {
                                "description": "`/workflows/{name}/runs/{run_id}`",
                                "schema": { "type": "string" },
                            } },
                            "content": { "application/json": { "schema": {
                                "type": "object",
                                "properties": {
                                    "run_id": { "type": "string" },
                                    "workflow": { "type": "string" },
                                    "status": { "const": "pending" },
                                },
                                "required": ["run_id", "workflow", "status"],
                            } } },
                        },
                        "400": response_ref("BadRequest"),
                        "403": response_ref("Forbidden"),
                        "404": response_ref("NotFound"),
                        "409": response_ref("Conflict"),
                        "413": response_ref("PayloadTooLarge"),
                        "415": response_ref("UnsupportedMediaType"),
                        "500": response_ref("Internal"),
                        "503": response_ref("NotReady"),
                    },
                },
            }),
        );
    }
}

/// The inputs as a body carries them: an input that may be left out (optional or defaulted)
/// may also be null, which the run reads as left out.
fn nullable_optional_inputs(schema: &Value) -> Value {
    let mut schema = schema.clone();
    let required: Vec<Value> = schema["required"].as_array().cloned().unwrap_or_default();
    if let Some(props) = schema.get_mut("properties").and_then(Value::as_object_mut) {
        for (name, prop) in props.iter_mut() {
            if !required.iter().any(|r| r == name.as_str()) {
                *prop = json!({ "anyOf": [prop.take(), { "type": "null" }] });
            }
        }
    }
    schema
}
