//! The workflow routes (DESIGN section 6):
//!
//! - `GET /workflows`: the served workflows (`{"workflows": [...]}`).
//! - `POST /workflows`: registers (or replaces) a workflow; the body is its file, JSON by
//!   default, YAML or TOML by `Content-Type` (`flowgate workflows apply FILE --server URL`
//!   sends it). 201 when new, 200 when it replaced one; the answer is `GET /workflows/{name}`'s.
//! - `GET /workflows/{name}`: the canonical form with `input_schema` and `order`.
//! - `POST /workflows/{name}/execute` with `{"inputs": {...}, "mode": "sync" | "async"}`:
//!   synchronous runs answer 200 with `{run_id, workflow, status, results, skipped}`, or the
//!   status of the failure's code with the run's error object (naming the node); asynchronous
//!   ones answer 202 with `{run_id, workflow, status: "pending"}` and a `Location` to poll.
//! - `GET /workflows/{name}/runs/{run_id}`: a stored run, from this process or an earlier one.

use super::{Authenticated, Body, Ctx, FileBody, Path, admin, body_json};
use crate::dispatch::Dispatcher;
use crate::gateway::errors::{ApiError, RunFailed, plain};
use axum::Json;
use axum::Router;
use axum::extract::State;
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use flowgate::Error;
use flowgate::workflow::{self, FileFormat};
use serde_json::{Value, json};

/// The routes of this module, merged into the HTTP router.
pub(super) fn routes() -> Router<Dispatcher> {
    Router::new()
        .route("/workflows", get(list).post(apply))
        .route("/workflows/{name}", get(describe))
        .route("/workflows/{name}/execute", post(execute))
        .route("/workflows/{name}/runs/{run_id}", get(run))
}

async fn list(State(d): State<Dispatcher>, _: Authenticated) -> Response {
    Json(d.workflows().list_json()).into_response()
}

/// The format of a workflow body: YAML or TOML when the `Content-Type` says so, else JSON.
fn format_of(headers: &HeaderMap) -> FileFormat {
    let ct = headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default()
        .to_ascii_lowercase();
    if ct.contains("yaml") {
        FileFormat::Yaml
    } else if ct.contains("toml") {
        FileFormat::Toml
    } else {
        FileFormat::Json
    }
}

async fn apply(
    State(d): State<Dispatcher>,
    Authenticated(caller): Authenticated,
    headers: HeaderMap,
    FileBody(body): FileBody,
) -> Response {
    if let Err(refused) = admin(&d, &caller, "workflows") {
        return *refused;
    }
    let Ok(text) = std::str::from_utf8(&body) else {
        return plain(
            StatusCode::BAD_REQUEST,
            "validation",
            "the workflow must be UTF-8 text",
        );
    };
    let wf = match workflow::parse(text, format_of(&headers), "the request body") {
        Ok(wf) => wf,
        Err(e) => return ApiError(e).into_response(),
    };
    let name = wf.name().to_string();
    match d.register_workflow(wf, "http").await {
        Ok(created) => {
            let status = if created {
                StatusCode::CREATED
            } else {
                StatusCode::OK
            };
            match d.workflows().get(&name) {
                Some(s) => (status, Json(s.describe.clone())).into_response(),
                None => ApiError(Error::internal(format!(
                    "workflow {name} was registered but is not served"
                )))
                .into_response(),
            }
        }
        Err(e) => ApiError(e).into_response(),
    }
}

async fn describe(
    State(d): State<Dispatcher>,
    _: Authenticated,
    Path(name): Path<String>,
) -> Response {
    match d.workflow(&name).await {
        Ok(s) => Json(s.describe.clone()).into_response(),
        Err(e) => ApiError(e).into_response(),
    }
}

/// How a run is asked for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Mode {
    Sync,
    Async,
}

/// `{"inputs": {...}, "mode": "sync" | "async"}`; no body is no inputs, synchronously.
fn execute_request(body: Value) -> Result<(Value, Mode), Error> {
    let m = match body {
        Value::Null => return Ok((Value::Null, Mode::Sync)),
        Value::Object(m) => m,
        other => {
            return Err(Error::invalid(format!(
                "the body must be an object {{\"inputs\": {{...}}, \"mode\": \"sync\" | \"async\"}}, got {}",
                flowgate::value::kind_of(&other)
            )));
        }
    };
    if let Some(k) = m.keys().find(|k| !matches!(k.as_str(), "inputs" | "mode")) {
        return Err(Error::validation(
            k.as_str(),
            format!("unknown key `{k}` (expected: inputs, mode)"),
        ));
    }
    let mode = match m.get("mode") {
        None | Some(Value::Null) => Mode::Sync,
        Some(Value::String(s)) if s == "sync" => Mode::Sync,
        Some(Value::String(s)) if s == "async" => Mode::Async,
        Some(other) => {
            return Err(Error::validation(
                "mode",
                format!("expected \"sync\" or \"async\", got {other}"),
            ));
        }
    };
    Ok((m.get("inputs").cloned().unwrap_or(Value::Null), mode))
}

async fn execute(
    State(d): State<Dispatcher>,
    Ctx(ctx): Ctx,
    Path(name): Path<String>,
    Body(body): Body,
) -> Response {
    let (inputs, mode) = match body_json(&body).map(execute_request) {
        Ok(Ok(x)) => x,
        Ok(Err(e)) => return ApiError(e).into_response(),
        Err(resp) => return *resp,
    };
    match mode {
        Mode::Sync => match d.run_workflow(&name, ctx, inputs).await {
            Ok(out) => Json(out.to_json()).into_response(),
            Err(f) => RunFailed(f).into_response(),
        },
        Mode::Async => match d.start_workflow(&name, ctx, inputs).await {
            Ok(run_id) => {
                let location = format!("/workflows/{name}/runs/{run_id}");
                let mut resp = (
                    StatusCode::ACCEPTED,
                    Json(json!({"run_id": run_id, "workflow": name, "status": "pending"})),
                )
                    .into_response();
                if let Ok(v) = HeaderValue::from_str(&location) {
                    resp.headers_mut().insert(header::LOCATION, v);
                }
                resp
            }
            Err(e) => ApiError(e).into_response(),
        },
    }
}

async fn run(
    State(d): State<Dispatcher>,
    Ctx(ctx): Ctx,
    Path((name, run_id)): Path<(String, String)>,
) -> Response {
    if ctx.principal.is_anonymous() && d.auth().is_required() {
        return ApiError(crate::auth::credential_required()).into_response();
    }
    if let Err(e) = d
        .auth()
        .authorize(&ctx.principal, crate::auth::Permission::Workflow(&name))
    {
        return ApiError(e).into_response();
    }
    match d.workflow_run(&name, &run_id, ctx.tenant.as_deref()).await {
        Ok(record) => Json(record.to_json()).into_response(),
        Err(e) => ApiError(e).into_response(),
    }
}
