//! `GET /openapi.json` and `GET /docs`: an OpenAPI 3.1 document of the HTTP API, generated from
//! the served models and workflows at request time (a model or workflow registered at run time
//! shows up on the next request), and Swagger UI over it, served from files embedded in the
//! binary. The workflow routes are in `openapi/workflows.rs`.
//!
//! The document is built as `serde_json` values, not with an OpenAPI crate's types: every schema
//! in it comes from `flowgate::schema` as JSON Schema 2020-12, which OpenAPI 3.1 adopts whole,
//! and the typed schema models of `utoipa` and `oas3` cannot carry all of it (utoipa refuses an
//! empty schema and drops `items` it does not model; both drop `propertyNames`). The tests check
//! the document with `oas3` and with `openapi-spec-validator`.

use super::errors::plain;
use super::http::path::Path;
use super::http::table::{self, ParamsSource};
use crate::dispatch::Dispatcher;
use crate::workflows::Served;
use axum::Json;
use axum::Router;
use axum::extract::State;
use axum::http::{StatusCode, header};
use axum::response::{Html, IntoResponse, Redirect, Response};
use axum::routing::get;
use flowgate::json_schema::{
    create_schema, error_object_schema, filter_schema, params_schema, record_schema, result_schema,
    update_schema,
};
use flowgate::model::{indefinite_article, with_article};
use flowgate::{FieldType, ModelInfo, OpKind};
use serde_json::{Map, Value, json};
use std::sync::{Arc, LazyLock};

mod workflows;

/// The routes of this module, merged into the HTTP router.
pub(crate) fn routes() -> Router<Dispatcher> {
    Router::new()
        .route("/openapi.json", get(spec))
        .route("/docs", get(docs))
        .route("/docs/", get(|| async { Redirect::permanent("/docs") }))
        .route("/docs/{file}", get(docs_file))
}

async fn spec(State(d): State<Dispatcher>, _: super::http::caller::Authenticated) -> Json<Value> {
    let mut doc = document(&d.routes().served(), &d.workflows().served());
    if !d.auth().is_required() {
        // Anonymous calls are served too (a loopback server without `auth.required`).
        if let Some(security) = doc["security"].as_array_mut() {
            security.push(json!({}));
        }
    }
    Json(doc)
}

/// The docs page: Swagger UI's scripts and styles from `/docs/...`, pointed at `/openapi.json`.
/// The validator badge is off, so the page asks nothing of any other host.
const DOCS_PAGE: &str = r##"<!doctype html>
<html lang="en">
<head>
  <meta charset="utf-8">
  <title>Flowgate API</title>
  <link rel="stylesheet" href="/docs/swagger-ui.css">
  <link rel="icon" type="image/png" href="/docs/favicon-32x32.png">
</head>
<body>
  <div id="swagger-ui"></div>
  <script src="/docs/swagger-ui-bundle.js"></script>
  <script src="/docs/swagger-ui-standalone-preset.js"></script>
  <script src="/docs/flowgate-docs.js"></script>
</body>
</html>
"##;

/// The page's own script, a file rather than inline so that the page's Content-Security-Policy
/// allows scripts from this server only.
const DOCS_SCRIPT: &str = r##"(function () {
  // On a server that requires credentials, the document itself needs one: the page asks for an
  // API key or token once and sends it with its own requests. It is kept in this page only.
  var token = null;
  function start() {
    window.ui = SwaggerUIBundle({
      url: "/openapi.json",
      dom_id: "#swagger-ui",
      deepLinking: true,
      validatorUrl: null,
      persistAuthorization: false,
      requestInterceptor: function (req) {
        if (token && !req.headers["Authorization"] && !req.headers["X-API-Key"]) {
          req.headers["Authorization"] = "Bearer " + token;
        }
        return req;
      },
      presets: [SwaggerUIBundle.presets.apis, SwaggerUIStandalonePreset],
      plugins: [SwaggerUIBundle.plugins.DownloadUrl],
      layout: "StandaloneLayout"
    });
  }
  fetch("/openapi.json", { credentials: "same-origin" }).then(function (r) {
    if (r.status === 401) {
      token = window.prompt("This server needs an API key or token to show its API (kept in this page only):");
    }
    start();
  }, start);
})();
"##;

/// The docs page's policy: scripts, styles, images and requests from this server only (Swagger
/// UI sets some styles inline and shows data: images), no frames, no forms, no plugins.
const DOCS_CSP: &str = "default-src 'none'; script-src 'self'; style-src 'self' 'unsafe-inline'; \
    img-src 'self' data:; connect-src 'self'; font-src 'self'; base-uri 'none'; \
    form-action 'none'; frame-ancestors 'none'";

async fn docs() -> Response {
    (
        [(header::CONTENT_SECURITY_POLICY, DOCS_CSP)],
        Html(DOCS_PAGE),
    )
        .into_response()
}

/// The config only matters for `swagger-initializer.js`, which the page does not load.
static SWAGGER_CONFIG: LazyLock<Arc<utoipa_swagger_ui::Config<'static>>> = LazyLock::new(|| {
    Arc::new(utoipa_swagger_ui::Config::from("/openapi.json").validator_url("none"))
});

/// One of Swagger UI's files, embedded in the binary by `utoipa-swagger-ui` (vendored).
async fn docs_file(Path(file): Path<String>) -> Response {
    if file == "flowgate-docs.js" {
        return (
            [(header::CONTENT_TYPE, "text/javascript; charset=utf-8")],
            DOCS_SCRIPT,
        )
            .into_response();
    }
    match utoipa_swagger_ui::serve(&file, SWAGGER_CONFIG.clone()) {
        Ok(Some(f)) => (
            [
                (header::CONTENT_TYPE, f.content_type),
                (header::CACHE_CONTROL, "public, max-age=3600".to_string()),
            ],
            f.bytes.into_owned(),
        )
            .into_response(),
        Ok(None) => plain(
            StatusCode::NOT_FOUND,
            "not_found",
            format!("no file /docs/{file}"),
        ),
        Err(e) => {
            tracing::error!(error = %e, file, "serving a Swagger UI file");
            plain(
                StatusCode::INTERNAL_SERVER_ERROR,
                "internal",
                "the docs page failed",
            )
        }
    }
}

// ---------------------------------------------------------------------------------------------
// The document.

/// Names under `#/components/...` that are not models' contain a dot, which model names
/// (PascalCase letters and digits) never do, so the two cannot collide.
const ERROR: &str = "flowgate.Error";
const ERROR_OBJECT: &str = "flowgate.ErrorObject";
const READINESS: &str = "flowgate.Readiness";

fn schema_ref(name: &str) -> Value {
    json!({ "$ref": format!("#/components/schemas/{name}") })
}

fn response_ref(name: &str) -> Value {
    json!({ "$ref": format!("#/components/responses/{name}") })
}

/// Decimal text as the server reads it: digits, an optional fraction, no exponent.
const DECIMAL_PATTERN: &str = "^-?[0-9]{1,20}(\\.[0-9]{1,10})?$";

/// An id param: a database-generated integer id is an integer or its digits as text (the
/// server parses the text), nothing else.
fn id_param(m: &ModelInfo, schema: Value) -> Value {
    if !m.auto_id() {
        return schema;
    }
    json!({ "anyOf": [
        { "type": "integer", "format": "int64" },
        { "type": "string", "pattern": "^-?[0-9]{1,18}$" },
    ] })
}

/// The parameters every path item has: `X-Request-ID` and `X-Tenant-ID`. Inline, not a
/// reference: Swagger UI shows a referenced path-level parameter as a nameless one.
fn common_params() -> Value {
    json!([{
        "name": "X-Request-ID",
        "in": "header",
        "required": false,
        "description": "Echoed in the answer and logged; one is made when absent. 1 to 128 printable ASCII characters without spaces; any other value is refused (400).",
        "schema": { "type": "string", "minLength": 1, "maxLength": 128, "pattern": "^[!-~]+$" },
    }, {
        "name": "X-Tenant-ID",
        "in": "header",
        "required": false,
        "description": "On a multi-tenant server, the tenant to act for. A credential with a tenant acts for it without this header; naming another tenant takes the `admin:tenants` permission (403). An operation on a tenant-scoped model without any tenant is 403 `tenant_required`.",
        "schema": { "type": "string", "minLength": 1, "maxLength": 128, "pattern": "^[!-~]+$" },
    }])
}

/// The OpenAPI 3.1 document of the HTTP API over `models` and `workflows` (the served ones, in
/// name order).
pub fn document(models: &[Arc<ModelInfo>], workflows: &[Arc<Served>]) -> Value {
    let mut paths = Map::new();
    let mut schemas = Map::new();
    let mut tags = Vec::new();
    schemas.insert(
        ERROR.into(),
        json!({
            "type": "object",
            "description": "Every error answer: one error object under `error`.",
            "properties": { "error": schema_ref(ERROR_OBJECT) },
            "required": ["error"],
        }),
    );
    schemas.insert(ERROR_OBJECT.into(), error_object());
    schemas.insert(READINESS.into(), readiness_schema());
    for m in models {
        let mut tag = json!({ "name": m.name() });
        if let Some(d) = &m.def.description {
            tag["description"] = json!(d);
        }
        tags.push(tag);
        let model = ModelDoc::new(m);
        for (name, schema) in model.components() {
            schemas.insert(name, schema);
        }
        model.paths(&mut paths);
    }
    tags.push(json!({
        "name": "nodes",
        "description": "The uniform door: `POST /nodes/{Model}{Op}Node` with the operation's params as the body; the same params and results as the MCP tools and the CLI.",
    }));
    tags.push(workflows::tag());
    tags.push(json!({ "name": "health", "description": "Liveness and the readiness board." }));
    tags.push(
        json!({ "name": "meta", "description": "What this server serves, and this document." }),
    );
    workflows::components(&mut schemas);
    workflows::paths(&mut paths, &common_params());
    workflows::execute_paths(&mut paths, &common_params(), workflows);
    health_paths(&mut paths);
    meta_paths(&mut paths);
    audit_path(&mut paths);
    // Every operation may be refused before it runs: a malformed request or `X-Request-ID`
    // (400), a foreign `Host` or `Origin` (403); and, but for the open paths, a missing or bad
    // credential (401) and a rate limit (429).
    for (path, item) in paths.iter_mut() {
        let Some(item) = item.as_object_mut() else {
            continue;
        };
        // Health, the index and the docs page answer everyone.
        let open = path.starts_with("/health/") || path == "/" || path.starts_with("/docs");
        for (method, op) in item.iter_mut() {
            if method == "parameters" {
                continue;
            }
            if open {
                op["security"] = json!([{}]);
            }
            if let Some(responses) = op["responses"].as_object_mut() {
                let mut refusals = vec![("400", "BadRequest"), ("403", "Forbidden")];
                if !open {
                    refusals.extend([("401", "Unauthorized"), ("429", "RateLimited")]);
                }
                for (status, name) in refusals {
                    if !responses.contains_key(status) {
                        responses.insert(status.into(), response_ref(name));
                    }
                }
                let mut sorted: Vec<(String, Value)> =
                    std::mem::take(responses).into_iter().collect();
                sorted.sort_by(|a, b| a.0.cmp(&b.0));
                responses.extend(sorted);
            }
        }
    }
    json!({
        "openapi": "3.1.0",
        "info": {
            "title": "Flowgate",
            "version": env!("CARGO_PKG_VERSION"),
            "description": "The HTTP API of the models and workflows this server serves, generated from them at request time. \
                Errors answer `{\"error\": {\"code\", \"message\", \"field\"?, \"details\"?}}`; every answer \
                carries `X-Request-ID` (the request's, when it sent a valid one). Bodies are JSON \
                (`Content-Type: application/json`; 415 otherwise). Any request may also be refused \
                before it reaches an operation, in the same format: 400 `bad_request` (a malformed \
                request), 401 `unauthorized` (no credential where one is required, or one that does \
                not check out), 403 `forbidden` (a permission the caller's roles do not grant, or a \
                `Host` or browser `Origin` that is not allowed), 429 `rate_limited`, 408 \
                `request_timeout` (the head did not arrive in time), 414 `uri_too_long` and 431 \
                `headers_too_large` (a head over 16 KiB), 503 `unavailable` (the port is at its \
                connection limit).",
        },
        "tags": tags,
        "paths": paths,
        "security": [{ "bearer": [] }, { "apiKey": [] }],
        "components": {
            "schemas": schemas,
            "responses": error_responses(),
            "securitySchemes": {
                "bearer": {
                    "type": "http",
                    "scheme": "bearer",
                    "description": "An API key (`fg_...`, from `flowgate keys create` or `POST /admin/keys`) or a JSON Web Token signed with the server's configured key.",
                },
                "apiKey": {
                    "type": "apiKey",
                    "in": "header",
                    "name": "X-API-Key",
                    "description": "An API key, as an alternative to `Authorization: Bearer`.",
                },
            },
            "headers": {
                "Retry-After": {
                    "description": "Seconds to wait before retrying.",
                    "schema": { "type": "integer", "minimum": 1 },
                },
                "RateLimit-Limit": {
                    "description": "The requests the caller's limit lets through at once (its burst).",
                    "schema": { "type": "integer", "minimum": 1 },
                },
                "RateLimit-Remaining": {
                    "description": "The requests left now: 0 on a 429.",
                    "schema": { "type": "integer", "minimum": 0 },
                },
                "RateLimit-Reset": {
                    "description": "Seconds until the whole burst is available again.",
                    "schema": { "type": "integer", "minimum": 1 },
                },
            },
        },
    })
}

/// The error answers, each in the `{"error": ...}` format, with an example of its code.
fn error_responses() -> Value {
    let error = |description: &str, example: Value| {
        json!({
            "description": description,
            "content": { "application/json": {
                "schema": schema_ref(ERROR),
                "example": { "error": example },
            } },
        })
    };
    let mut not_ready = error(
        "The model is not ready yet (`not_ready`, with its state) or failed (with the reason), or the service is unavailable (`unavailable`); retry after `Retry-After` seconds.",
        json!({
            "code": "not_ready",
            "message": "model:Book is not ready (starting)",
            "details": { "what": "model:Book", "state": "starting", "retry_after_ms": 1000 },
        }),
    );
    not_ready["headers"] = json!({ "Retry-After": { "$ref": "#/components/headers/Retry-After" } });
    let mut unauthorized = error(
        "No credential where one is required, or one that does not check out (an unknown, revoked or expired key; a token with a bad signature, algorithm, issuer, audience or time) (`unauthorized`); the answer never says which.",
        json!({ "code": "unauthorized", "message": "invalid credential" }),
    );
    unauthorized["headers"] = json!({ "WWW-Authenticate": {
        "description": "`Bearer`: the scheme to authenticate with.",
        "schema": { "type": "string" },
    } });
    let mut rate_limited = error(
        "The caller's rate limit for this operation is used up (`rate_limited`); retry after `Retry-After` seconds.",
        json!({
            "code": "rate_limited",
            "message": "rate limited, retry after 400 ms",
            "details": { "retry_after_ms": 400, "limit": 100, "reset_ms": 2000 },
        }),
    );
    rate_limited["headers"] = json!({
        "Retry-After": { "$ref": "#/components/headers/Retry-After" },
        "RateLimit-Limit": { "$ref": "#/components/headers/RateLimit-Limit" },
        "RateLimit-Remaining": { "$ref": "#/components/headers/RateLimit-Remaining" },
        "RateLimit-Reset": { "$ref": "#/components/headers/RateLimit-Reset" },
    });
    json!({
        "Unauthorized": unauthorized,
        "RateLimited": rate_limited,
        "BadRequest": error(
            "Invalid params, a malformed body, or an unknown field or operator (`validation`, naming the field).",
            json!({ "code": "validation", "message": "unknown field `colour` on model Book", "field": "colour" }),
        ),
        "NotFound": error(
            "No record with this id (`not_found`).",
            json!({ "code": "not_found", "message": "Book 42 not found", "details": { "model": "Book", "id": "42" } }),
        ),
        "Conflict": error(
            "A unique key or a reference refuses the change (`conflict`).",
            json!({ "code": "conflict", "message": "a record with the same unique value already exists", "field": "isbn" }),
        ),
        "Forbidden": error(
            "The caller's roles do not grant the operation (`forbidden`, naming the missing permission), or the `Host` is not one of the allowed hosts, or the browser `Origin` is neither the server's own nor one of `cors.allowed_origins`.",
            json!({ "code": "forbidden", "message": "origin `https://evil.example` is not allowed (add it to `cors.allowed_origins`)" }),
        ),
        "UnsupportedMediaType": error(
            "A body sent without a JSON `Content-Type` (`application/json` or `application/*+json`) (`unsupported_media_type`).",
            json!({ "code": "unsupported_media_type", "message": "the body must be sent with Content-Type: application/json" }),
        ),
        "PayloadTooLarge": error(
            "The body is larger than `body_limit` (`payload_too_large`).",
            json!({ "code": "payload_too_large", "message": "Failed to buffer the request body: length limit exceeded" }),
        ),
        "NotReady": not_ready,
        "Internal": error(
            "An internal error (`internal`); the details are in the server log under the request id.",
            json!({ "code": "internal", "message": "internal error" }),
        ),
    })
}

/// The error object: the operations' codes, and the codes only the HTTP gateway answers with
/// (`errors::plain` in `http.rs`: a body over the limit, a method a route does not take).
fn error_object() -> Value {
    let mut s = error_object_schema();
    if let Some(codes) = s["properties"]["code"]["enum"].as_array_mut() {
        codes.extend(
            [
                "payload_too_large",
                "method_not_allowed",
                "unsupported_media_type",
                "bad_request",
                "request_timeout",
                "uri_too_long",
                "headers_too_large",
            ]
            .map(|c| json!(c)),
        );
    }
    s
}

/// The readiness board `GET /health/ready` answers with.
fn readiness_schema() -> Value {
    json!({
        "type": "object",
        "properties": {
            "ready": { "type": "boolean", "description": "whether every required feature is ready" },
            "started_at": { "type": "string", "format": "date-time" },
            "features": {
                "type": "object",
                "description": "by feature: `http`, `database`, `registry`, `migrations`, `model:<Name>`, ...",
                "additionalProperties": {
                    "type": "object",
                    "properties": {
                        "state": { "enum": ["pending", "starting", "ready", "degraded", "failed"] },
                        "since": { "type": "string", "format": "date-time" },
                        "required": { "type": "boolean" },
                        "reason": { "type": "string" },
                    },
                    "required": ["state", "since", "required"],
                },
            },
        },
        "required": ["ready", "started_at", "features"],
    })
}

fn health_paths(paths: &mut Map<String, Value>) {
    paths.insert(
        "/health/live".into(),
        json!({
            "get": {
                "tags": ["health"],
                "operationId": "health_live",
                "summary": "Liveness: 200 while the process runs",
                "responses": {
                    "200": {
                        "description": "The process runs.",
                        "content": { "application/json": { "schema": {
                            "type": "object",
                            "properties": { "status": { "const": "live" } },
                            "required": ["status"],
                        } } },
                    },
                },
            },
        }),
    );
    let board = json!({ "application/json": { "schema": schema_ref(READINESS) } });
    paths.insert(
        "/health/ready".into(),
        json!({
            "get": {
                "tags": ["health"],
                "operationId": "health_ready",
                "summary": "Readiness: 200 when every required feature is ready, else 503; the board either way",
                "responses": {
                    "200": { "description": "Every required feature is ready.", "content": board },
                    "503": { "description": "Some required feature is not ready.", "content": board },
                },
            },
        }),
    );
}

/// `GET /models` (the CLI reads it), this document and the docs page.
fn meta_paths(paths: &mut Map<String, Value>) {
    paths.insert(
        "/models".into(),
        json!({
            "get": {
                "tags": ["meta"],
                "operationId": "models",
                "summary": "The served models: name, table, registry version and definition",
                "responses": {
                    "200": {
                        "description": "Every served model, by name.",
                        "content": { "application/json": { "schema": {
                            "type": "object",
                            "properties": { "models": { "type": "array", "items": {
                                "type": "object",
                                "properties": {
                                    "name": { "type": "string" },
                                    "table": { "type": "string" },
                                    "version": {
                                        "type": ["integer", "null"],
                                        "description": "the registry's version of the definition",
                                    },
                                    "definition": {
                                        "type": "object",
                                        "description": "the model as a schema file declares it",
                                    },
                                },
                                "required": ["name", "table", "version", "definition"],
                            } } },
                            "required": ["models"],
                        } } },
                    },
                },
            },
        }),
    );
    paths.insert(
        "/models/{name}".into(),
        json!({
            "get": {
                "tags": ["meta"],
                "operationId": "model",
                "summary": "One served model: its schemas, definition, registry version and relations both ways (what `expand` takes)",
                "parameters": [{
                    "name": "name", "in": "path", "required": true,
                    "description": "the model's name or table",
                    "schema": { "type": "string" },
                }],
                "responses": {
                    "200": {
                        "description": "The model, as the MCP resource flowgate://models/{Model} has it.",
                        "content": { "application/json": { "schema": {
                            "type": "object",
                            "properties": {
                                "name": { "type": "string" },
                                "table": { "type": "string" },
                                "version": { "type": ["integer", "null"] },
                                "definition": { "type": "object" },
                                "record_schema": { "type": "object" },
                                "create_schema": { "type": "object" },
                                "relations": { "type": "array", "items": {
                                    "type": "object",
                                    "properties": {
                                        "name": { "type": "string" },
                                        "kind": { "enum": ["belongs_to", "has_many"] },
                                        "model": { "type": "string" },
                                        "field": { "type": "string" },
                                    },
                                    "required": ["name", "kind", "model", "field"],
                                } },
                            },
                            "required": ["name", "table", "version", "definition", "record_schema", "create_schema", "relations"],
                        } } },
                    },
                    "404": response_ref("NotFound"),
                },
            },
        }),
    );
    paths.insert(
        "/".into(),
        json!({
            "get": {
                "tags": ["meta"],
                "operationId": "index",
                "summary": "Where to go from here: links to the docs, this document, health and the models",
                "responses": {
                    "200": {
                        "description": "The server's name and version, and links.",
                        "content": { "application/json": { "schema": {
                            "type": "object",
                            "properties": {
                                "name": { "const": "flowgate" },
                                "version": { "type": "string" },
                                "links": {
                                    "type": "object",
                                    "properties": {
                                        "docs": { "const": "/docs" },
                                        "openapi": { "const": "/openapi.json" },
                                        "live": { "const": "/health/live" },
                                        "ready": { "const": "/health/ready" },
                                        "models": { "const": "/models" },
                                    },
                                    "required": ["docs", "openapi", "live", "ready", "models"],
                                },
                            },
                            "required": ["name", "version", "links"],
                        } } },
                    },
                },
            },
        }),
    );
    paths.insert(
        "/openapi.json".into(),
        json!({
            "get": {
                "tags": ["meta"],
                "operationId": "openapi",
                "summary": "This document, made from the models served at the time of the request",
                "responses": {
                    "200": {
                        "description": "An OpenAPI 3.1 document.",
                        "content": { "application/json": { "schema": { "type": "object" } } },
                    },
                },
            },
        }),
    );
    paths.insert(
        "/docs".into(),
        json!({
            "get": {
                "tags": ["meta"],
                "operationId": "docs",
                "summary": "The API page (Swagger UI) over this document",
                "responses": {
                    "200": {
                        "description": "An HTML page; its scripts are served under `/docs/`.",
                        "content": { "text/html": { "schema": { "type": "string" } } },
                    },
                },
            },
        }),
    );
}

/// `GET /audit`: the audit trail (`crate::audit`).
fn audit_path(paths: &mut Map<String, Value>) {
    let text = |name: &str, description: &str| {
        json!({
            "name": name,
            "in": "query",
            "required": false,
            "description": description,
            "schema": { "type": "string", "minLength": 1, "maxLength": 255 },
        })
    };
    let mut params = common_params().as_array().cloned().unwrap_or_default();
    params.extend([
        text("model", "Only rows of this model (its name)."),
        text("record_id", "Only rows of this record id."),
        text(
            "principal",
            "Only rows of this principal (`key:<id>`, `jwt:<sub>`, `local`).",
        ),
        json!({
            "name": "since",
            "in": "query",
            "required": false,
            "description": "Only rows at or after this RFC 3339 time.",
            "schema": { "type": "string", "format": "date-time" },
        }),
        text("cursor", "The `next_cursor` of the previous page."),
        json!({
            "name": "limit",
            "in": "query",
            "required": false,
            "description": "At most this many rows (default 50).",
            "schema": { "type": "integer", "minimum": 1, "maximum": crate::audit::MAX_LIMIT },
        }),
    ]);
    let nullable = |t: &str| json!({ "type": [t, "null"] });
    let row = json!({
        "type": "object",
        "properties": {
            "id": { "type": "string" },
            "at": { "type": "string", "format": "date-time" },
            "request_id": { "type": "string" },
            "principal": { "type": "string" },
            "tenant": nullable("string"),
            "channel": { "enum": ["internal", "rest", "node", "mcp", "cli", "workflow"] },
            "via": { "type": ["string", "null"], "description": "the route, MCP tool, CLI command, or `workflow:<name>/<node>`" },
            "model": { "type": "string" },
            "op": { "type": "string" },
            "record_id": nullable("string"),
            "changes": { "type": ["object", "null"], "description": "`{field: [before, after]}`; sensitive fields masked" },
            "count": { "type": ["integer", "null"], "description": "a summary row's count of records" },
            "filter": { "description": "a summary row's filter" },
        },
        "required": ["id", "at", "principal", "channel", "model", "op"],
    });
    paths.insert(
        "/audit".into(),
        json!({
            "parameters": params,
            "get": {
                "tags": ["meta"],
                "operationId": "audit.list",
                "summary": "The audit trail, newest first (permission `admin:audit`; a tenant's callers see only its rows)",
                "description": "Every committed write leaves rows: who, through which channel and route, tool, command or workflow node, which record, and the changed fields. A bulk write past `audit.max_rows_per_op` records ends in a summary row. 404 when the server runs with `audit_log = false`.",
                "responses": {
                    "200": {
                        "description": "A page of rows.",
                        "content": { "application/json": { "schema": {
                            "type": "object",
                            "properties": {
                                "records": { "type": "array", "items": row },
                                "next_cursor": nullable("string"),
                            },
                            "required": ["records", "next_cursor"],
                        } } },
                    },
                    "404": response_ref("NotFound"),
                    "503": response_ref("NotReady"),
                },
            },
        }),
    );
}

/// A read's conditional answers: an `ETag` on its 200, `If-None-Match`, and 304.
fn conditional_read(o: &mut Value) {
    o["responses"]["200"]["headers"] = json!({ "ETag": {
        "description": "A strong tag of this body; with a content coding, the coding is its suffix (`\"...-gzip\"`).",
        "schema": { "type": "string" },
    } });
    o["responses"]["304"] = json!({
        "description": "Not modified: `If-None-Match` names the current `ETag` (or is `*`); no body.",
        "headers": { "ETag": { "schema": { "type": "string" } } },
    });
    let inm = json!({
        "name": "If-None-Match",
        "in": "header",
        "required": false,
        "description": "Entity tags of a copy the client holds; when one is current the answer is 304.",
        "schema": { "type": "string" },
    });
    match o.get_mut("parameters").and_then(Value::as_array_mut) {
        Some(params) => params.push(inm),
        None => o["parameters"] = json!([inm]),
    }
}

/// One model's part of the document.
struct ModelDoc<'a> {
    m: &'a ModelInfo,
    /// The model's component schemas, whole, each with a reference to it: wherever one of them
    /// appears inside a params or result schema, the reference replaces it.
    known: Vec<(Value, Value)>,
}

/// How an operation answers with its body and errors.
#[derive(Clone, Copy)]
struct Answers {
    /// It reads a body (so 413 is possible).
    body: bool,
    /// A missing record is a 404.
    not_found: bool,
    /// It writes (a unique key or a reference may refuse: 409).
    writes: bool,
}

impl Answers {
    fn of(op: OpKind, body: bool) -> Answers {
        Answers {
            body,
            not_found: matches!(op, OpKind::Read | OpKind::Update),
            writes: !matches!(op, OpKind::Read | OpKind::List | OpKind::Count),
        }
    }
}

impl<'a> ModelDoc<'a> {
    fn new(m: &'a ModelInfo) -> ModelDoc<'a> {
        let name = m.name();
        let known = vec![
            (record_schema(m), schema_ref(name)),
            (create_schema(m), schema_ref(&format!("{name}.Create"))),
            (update_schema(m), schema_ref(&format!("{name}.Update"))),
            (filter_schema(m), schema_ref(&format!("{name}.Filter"))),
            (error_object_schema(), schema_ref(ERROR_OBJECT)),
        ];
        ModelDoc { m, known }
    }

    /// The model's schemas under `#/components/schemas`: the record, its create and update
    /// inputs and its filter.
    fn components(&self) -> Vec<(String, Value)> {
        let name = self.m.name();
        let mut record = record_schema(self.m);
        if record.get("description").is_none() {
            record["description"] = json!(format!("A stored {name}."));
        }
        let mut create = create_schema(self.m);
        create["description"] = json!(format!("The fields of a new {name}."));
        let mut update = update_schema(self.m);
        update["description"] = json!(format!("The fields of {} to change.", with_article(name)));
        let mut fields = record.clone();
        fields["required"] = json!(["id"]);
        fields["description"] = json!(format!(
            "{} {name} in a list: every field, or, with `fields`, the id and the fields asked for.",
            if indefinite_article(name) == "an" {
                "An"
            } else {
                "A"
            }
        ));
        let mut out = vec![
            (name.to_string(), record),
            (format!("{name}.Create"), create),
            (format!("{name}.Update"), update),
            (format!("{name}.Fields"), fields),
            (format!("{name}.Filter"), filter_schema(self.m)),
        ];
        for (component, schema) in &mut out {
            if !component.ends_with(".Filter") {
                self.tighten(schema);
            }
        }
        out
    }

    /// What the server refuses that the library's schemas leave open, said in the schema: text
    /// without NUL characters, decimals as decimal text, `json` fields that are not optional
    /// never null.
    fn tighten(&self, schema: &mut Value) {
        let Some(props) = schema["properties"].as_object_mut() else {
            return;
        };
        for col in &self.m.columns {
            let Some(p) = props.get_mut(col.name()) else {
                continue;
            };
            match col.def.ty {
                FieldType::String | FieldType::Text => {
                    p["pattern"] = json!("^[^\\x00]*$");
                }
                FieldType::Decimal => {
                    p["pattern"] = json!(DECIMAL_PATTERN);
                }
                FieldType::Json if !col.def.optional => {
                    p["not"] = json!({ "type": "null" });
                }
                _ => {}
            }
        }
    }

    /// A schema with the model's component schemas replaced by references to them.
    fn refs(&self, v: Value) -> Value {
        if let Some((_, r)) = self.known.iter().find(|(s, _)| *s == v) {
            return r.clone();
        }
        match v {
            Value::Object(map) => Value::Object(
                map.into_iter()
                    .map(|(k, v)| {
                        // Values, not schemas: leave them as they are.
                        let v = if matches!(k.as_str(), "enum" | "const" | "default" | "examples") {
                            v
                        } else {
                            self.refs(v)
                        };
                        (k, v)
                    })
                    .collect(),
            ),
            Value::Array(items) => Value::Array(items.into_iter().map(|v| self.refs(v)).collect()),
            other => other,
        }
    }

    /// An operation's params as the query string carries them.
    fn params(&self, op: OpKind) -> Value {
        let mut p = self.refs(params_schema(self.m, op));
        if op == OpKind::List {
            // A cursor is a `next_cursor`, never empty; an offset is an unsigned 64-bit count.
            p["properties"]["cursor"]["minLength"] = json!(1);
            p["properties"]["offset"]["maximum"] = json!(u64::MAX);
        }
        if let Some(id) = p
            .get_mut("properties")
            .and_then(|props| props.get_mut("id"))
        {
            *id = id_param(self.m, id.clone());
        }
        p
    }

    /// An operation's params as a JSON body carries them: an optional param may also be null
    /// (the same as leaving it out), and flags may also be the text `true` or `false`, as the
    /// server reads them.
    fn body_params(&self, op: OpKind) -> Value {
        let mut p = self.params(op);
        if op == OpKind::BulkCreate {
            // Not atomic, a record that does not pass (not an object, even) is reported in
            // `errors`, not refused.
            let record = p["properties"]["data"]["items"].take();
            p["properties"]["data"]["items"] = json!({});
            p["if"] = json!({
                "properties": { "atomic": { "enum": [false, "false"] } },
                "required": ["atomic"],
            });
            p["else"] = json!({ "properties": { "data": { "items": record } } });
        }
        let required: Vec<Value> = p["required"].as_array().cloned().unwrap_or_default();
        let Some(props) = p.get_mut("properties").and_then(Value::as_object_mut) else {
            return p;
        };
        for (name, prop) in props.iter_mut() {
            if name == "id" || required.iter().any(|r| r == name.as_str()) {
                continue;
            }
            let mut inner = prop.take();
            let description = inner.as_object_mut().and_then(|o| o.remove("description"));
            let mut any = vec![];
            if inner["type"] == "boolean" {
                any.push(json!({ "enum": ["true", "false"] }));
            }
            any.insert(0, inner);
            any.push(json!({ "type": "null" }));
            *prop = json!({ "anyOf": any });
            if let Some(d) = description {
                prop["description"] = d;
            }
        }
        p
    }

    fn result(&self, op: OpKind) -> Value {
        let mut r = self.refs(result_schema(op, schema_ref(self.m.name())));
        if op == OpKind::List {
            // `fields` makes records partial.
            r["properties"]["records"]["items"] = schema_ref(&format!("{}.Fields", self.m.name()));
        }
        r
    }

    /// One property of an operation's params schema.
    fn param_prop(&self, op: OpKind, name: &str) -> Value {
        self.params(op)["properties"][name].clone()
    }

    /// The query parameters of an operation that takes its params from the query string.
    fn query_params(&self, op: OpKind) -> Vec<Value> {
        let props = self.params(op)["properties"]
            .as_object()
            .cloned()
            .unwrap_or_default();
        props
            .into_iter()
            .filter(|(name, _)| name != "id")
            .map(|(name, schema)| match name.as_str() {
                // A JSON text.
                "filter" => json!({
                    "name": name,
                    "in": "query",
                    "description": "a filter as JSON text",
                    "content": { "application/json": { "schema": schema } },
                }),
                // Relation names, comma-separated (`GET /models/{Model}` lists them).
                "expand" => json!({
                    "name": name,
                    "in": "query",
                    "description": "relations to include, comma-separated: a belongs-to as its record, a has-many as a list (GET /models/{name} lists them)",
                    "style": "form",
                    "explode": false,
                    "schema": { "type": "array", "items": { "type": "string" } },
                }),
                // Comma-separated lists.
                "order_by" | "fields" => {
                    let items = if name == "fields" {
                        let mut items = schema["items"].clone();
                        items["type"] = json!("string");
                        items
                    } else {
                        json!({ "type": "string" })
                    };
                    let description = if name == "fields" {
                        "the fields to return, comma-separated (the id always comes back)"
                    } else {
                        "field names, comma-separated, `-` first for descending"
                    };
                    json!({
                        "name": name,
                        "in": "query",
                        "description": description,
                        "style": "form",
                        "explode": false,
                        "schema": { "type": "array", "items": items },
                    })
                }
                _ => {
                    let mut p = json!({ "name": name, "in": "query", "schema": schema });
                    if let Some(d) = p["schema"].get("description").cloned() {
                        p["description"] = d;
                    }
                    p
                }
            })
            .collect()
    }

    /// One operation object.
    fn operation(
        &self,
        op: OpKind,
        tag: &str,
        operation_id: String,
        body: Option<Value>,
        parameters: Vec<Value>,
    ) -> Value {
        let answers = Answers::of(op, body.is_some());
        let ok_status = table::success_status(op).to_string();
        let mut responses = Map::new();
        responses.insert(
            ok_status,
            json!({
                "description": self.result_description(op),
                "content": { "application/json": { "schema": self.result(op) } },
            }),
        );
        responses.insert("400".into(), response_ref("BadRequest"));
        responses.insert("403".into(), response_ref("Forbidden"));
        if answers.not_found {
            responses.insert("404".into(), response_ref("NotFound"));
        }
        if answers.writes {
            responses.insert("409".into(), response_ref("Conflict"));
        }
        if answers.body {
            responses.insert("413".into(), response_ref("PayloadTooLarge"));
            responses.insert("415".into(), response_ref("UnsupportedMediaType"));
        }
        responses.insert("500".into(), response_ref("Internal"));
        responses.insert("503".into(), response_ref("NotReady"));
        let mut o = Map::new();
        o.insert("tags".into(), json!([tag]));
        o.insert("summary".into(), json!(self.summary(op)));
        o.insert("operationId".into(), json!(operation_id));
        if !parameters.is_empty() {
            o.insert("parameters".into(), Value::Array(parameters));
        }
        if let Some(schema) = body {
            let required = schema
                .get("required")
                .and_then(Value::as_array)
                .is_some_and(|r| !r.is_empty())
                || schema.get("$ref").is_some()
                || schema.get("anyOf").is_some();
            // A body that may be left out may also be `null`: the same as none.
            let schema = if required {
                schema
            } else {
                json!({ "anyOf": [schema, { "type": "null" }] })
            };
            o.insert(
                "requestBody".into(),
                json!({
                    "required": required,
                    "content": { "application/json": { "schema": schema } },
                }),
            );
        }
        o.insert("responses".into(), Value::Object(responses));
        Value::Object(o)
    }

    fn summary(&self, op: OpKind) -> String {
        let (m, t) = (self.m.name(), &self.m.table);
        let a_m = with_article(m);
        match op {
            OpKind::Create => format!("Create {a_m}"),
            OpKind::Read => format!("Read {a_m} by id"),
            OpKind::Update => format!("Change fields of {a_m}"),
            OpKind::Delete => format!("Delete {a_m}"),
            OpKind::List => format!("List {t}: filter, order, page"),
            OpKind::Count => format!("Count {t}"),
            OpKind::Upsert => format!("Create or update {a_m} by a unique key"),
            OpKind::BulkCreate => format!("Insert many {t}"),
            OpKind::BulkUpdate => format!("Change fields of every matching {m}"),
            OpKind::BulkDelete => format!("Delete every matching {m}"),
            OpKind::BulkUpsert => format!("Create or update many {t} by a unique key"),
        }
    }

    fn result_description(&self, op: OpKind) -> String {
        let m = self.m.name();
        match op {
            OpKind::Create => format!("The stored {m}, with its id and managed fields."),
            OpKind::Read => format!("The {m}."),
            OpKind::Update => format!("The updated {m}."),
            OpKind::Delete => "The id, and whether a record was deleted.".into(),
            OpKind::List => {
                "A page of records; `count` when asked, `next_cursor` while more follow.".into()
            }
            OpKind::Count => "The number of matching records.".into(),
            OpKind::Upsert => "Whether the record was created or updated, and the record.".into(),
            OpKind::BulkCreate => {
                "What was inserted and skipped, the new ids, and the failed records.".into()
            }
            OpKind::BulkUpdate => "How many records changed.".into(),
            OpKind::BulkDelete => "How many records were deleted.".into(),
            OpKind::BulkUpsert => "How many records were inserted, updated and skipped.".into(),
        }
    }

    /// The `{id}` path parameter: in the path, a database-generated integer id is its digits.
    fn id_path_param(&self) -> Value {
        let mut id = self.param_prop(OpKind::Read, "id");
        if self.m.auto_id() {
            id = json!({ "type": "integer", "format": "int64" });
        }
        if let Some(obj) = id.as_object_mut() {
            obj.remove("description");
        }
        json!({
            "name": "id",
            "in": "path",
            "required": true,
            "description": format!("the {}'s id", self.m.name()),
            "schema": id,
        })
    }

    /// The REST routes (from the routing table, `http/table.rs`) and the `/nodes/...` routes of
    /// the model.
    fn paths(&self, paths: &mut Map<String, Value>) {
        let m = self.m;
        let t = &m.table;
        let tag = m.name();
        let rest = |op: OpKind, body: Option<Value>, parameters: Vec<Value>| {
            self.operation(op, tag, format!("{t}_{op}"), body, parameters)
        };
        let common = common_params();
        let item = |ops: Vec<(&str, Value)>| {
            let mut item = Map::new();
            item.insert("parameters".into(), common.clone());
            for (method, o) in ops {
                item.insert(method.into(), o);
            }
            Value::Object(item)
        };

        for (template, routes) in table::paths() {
            let ops = routes
                .iter()
                .map(|r| {
                    let (body, parameters) = match r.params {
                        ParamsSource::Body => (Some(self.body_params(r.op)), vec![]),
                        ParamsSource::Query | ParamsSource::IdAndQuery => (None, self.query_params(r.op)),
                        ParamsSource::Id => (None, vec![]),
                        // The fields flat, or as `{"fields": {...}}`.
                        ParamsSource::IdAndFields => (
                            Some(json!({
                                "anyOf": [
                                    schema_ref(&format!("{tag}.Update")),
                                    {
                                        "type": "object",
                                        "properties": { "fields": schema_ref(&format!("{tag}.Update")) },
                                        "required": ["fields"],
                                        "additionalProperties": false,
                                    },
                                ],
                            })),
                            vec![],
                        ),
                    };
                    let mut o = rest(r.op, body, parameters);
                    if r.is_read() {
                        conditional_read(&mut o);
                    }
                    (r.method.lower(), o)
                })
                .collect();
            let mut path_item = item(ops);
            if template.contains("{id}") {
                path_item["parameters"]
                    .as_array_mut()
                    .expect("parameters")
                    .push(self.id_path_param());
            }
            paths.insert(template.replacen("{table}", t, 1), path_item);
        }

        for op in OpKind::ALL {
            let node = op.node_name(tag);
            let mut o = self.operation(
                op,
                "nodes",
                node.clone(),
                Some(self.body_params(op)),
                vec![],
            );
            o["description"] = json!(format!(
                "The {op} operation on {tag} through the uniform door: the same params and result as the MCP tool `{t}_{op}`."
            ));
            paths.insert(
                table::NODE_PATH.replace("{node}", &node),
                item(vec![("post", o)]),
            );
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use flowgate::{FieldDef, ModelDef, Schema};

    fn doc() -> Value {
        let schema = Schema::new([ModelDef::new("Task")
            .field(FieldDef::string("title").max_length(10))
            .field(FieldDef::integer("estimate").optional())])
        .unwrap();
        let m = schema.get("Task").unwrap().clone();
        document(&[m], &[])
    }

    #[test]
    fn component_schemas_are_referenced_not_repeated() {
        let d = doc();
        let text = d["paths"].to_string();
        assert!(
            !text.contains("\"propertyNames\""),
            "filters are references"
        );
        let node = &d["paths"]["/nodes/TaskCreateNode"]["post"];
        assert_eq!(
            node["requestBody"]["content"]["application/json"]["schema"]["$ref"],
            "#/components/schemas/Task.Create"
        );
        let bulk = &d["paths"]["/api/tasks/bulk"]["patch"]["requestBody"]["content"]["application/json"]
            ["schema"];
        assert_eq!(
            bulk["properties"]["fields"]["$ref"],
            "#/components/schemas/Task.Update"
        );
        let list = &d["paths"]["/api/tasks"]["get"]["responses"]["200"]["content"]["application/json"]
            ["schema"];
        assert_eq!(
            list["properties"]["records"]["items"]["$ref"],
            "#/components/schemas/Task.Fields"
        );
    }
}
