//! The REST API (DESIGN section 6): model routes, the uniform `/nodes/{NodeName}` door, health,
//! the workflow routes (in `http/workflows.rs`), and `/openapi.json` and `/docs` (in
//! `openapi.rs`).
//! Every handler turns its input into an operation and hands it to the dispatcher, so REST, MCP
//! and the CLI share one request path.

use super::errors::{ApiError, plain};
use crate::dispatch::Dispatcher;
use crate::routes::Target;
use axum::body::Bytes;
use axum::extract::{DefaultBodyLimit, FromRequest, FromRequestParts, Request, State};
use axum::http::request::Parts;
use axum::http::{HeaderMap, HeaderName, HeaderValue, Method, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Json, Router};
use bytes::BytesMut;
use flowgate::{Context, Error, Form, OpKind, Params};
use serde_json::{Map, Value};
use std::sync::Arc;

mod admin;
mod audit;
pub(crate) mod caller;
mod conditional;
pub(crate) mod conn;
pub(crate) mod origin;
pub(crate) mod path;
mod stage;
pub mod table;
mod workflows;

pub(crate) use caller::Authenticated;
use caller::{Ctx, RequestId, admin, principal};
use conditional::IfNoneMatch;
pub(crate) use path::Path;
pub(crate) use stage::security_headers;
use table::{HttpMethod, HttpRoute, ParamsSource};

/// A request body that must be JSON: a body that is not empty needs `Content-Type:
/// application/json` (or `application/<anything>+json`), else 415 `unsupported_media_type`, so
/// that a browser's "simple" request (`text/plain`, a form) cannot write. A body over
/// `body_limit`, or one that cannot be read, is refused in the JSON error format (413
/// `payload_too_large`, else 400) rather than with axum's plain text.
struct Body(Bytes);

impl<S: Send + Sync> FromRequest<S> for Body {
    type Rejection = Response;

    async fn from_request(req: Request, state: &S) -> Result<Self, Response> {
        let json = is_json(req.headers());
        let body = read_body(req, state).await?;
        if !json && !body.is_empty() {
            return Err(unsupported_media_type("application/json"));
        }
        Ok(Body(body))
    }
}

/// A file body (`POST /workflows`): JSON, or YAML or TOML by `Content-Type`; anything else is 415.
struct FileBody(Bytes);

impl<S: Send + Sync> FromRequest<S> for FileBody {
    type Rejection = Response;

    async fn from_request(req: Request, state: &S) -> Result<Self, Response> {
        let ok = is_json(req.headers()) || {
            let ct = content_type(req.headers());
            ct.contains("yaml") || ct.contains("toml")
        };
        let body = read_body(req, state).await?;
        if !ok && !body.is_empty() {
            return Err(unsupported_media_type(
                "application/json, application/yaml or application/toml",
            ));
        }
        Ok(FileBody(body))
    }
}

/// The media type of a request (lower case, without parameters), empty when none.
fn content_type(headers: &HeaderMap) -> String {
    headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.split(';').next())
        .unwrap_or_default()
        .trim()
        .to_ascii_lowercase()
}

/// Whether a request says its body is JSON.
fn is_json(headers: &HeaderMap) -> bool {
    let ct = content_type(headers);
    ct == "application/json" || (ct.starts_with("application/") && ct.ends_with("+json"))
}

fn unsupported_media_type(expected: &str) -> Response {
    plain(
        StatusCode::UNSUPPORTED_MEDIA_TYPE,
        "unsupported_media_type",
        format!("the body must be sent with Content-Type: {expected}"),
    )
}

/// Reads a body (at most `body_limit`) into one buffer. A body that says its length is read
/// straight into a buffer of that size: axum's `Bytes` extractor keeps the received chunks and
/// then copies them into one buffer, holding a large body twice.
async fn read_body<S: Send + Sync>(req: Request, _state: &S) -> Result<Bytes, Response> {
    use axum::RequestExt as _;
    use http_body_util::BodyExt as _;
    let said = req
        .headers()
        .get(header::CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse::<usize>().ok())
        .unwrap_or(0);
    let mut body = req.into_limited_body();
    // Never more than the limit ahead of the data (a larger claim fails as it is read).
    let mut buf = BytesMut::with_capacity(said.min(MAX_RESERVED_BODY));
    while let Some(frame) = body.frame().await {
        let frame = frame.map_err(|e| body_error(&e))?;
        if let Ok(data) = frame.into_data() {
            buf.extend_from_slice(&data);
        }
    }
    Ok(buf.freeze())
}

/// The most a body's stated length reserves before its data arrives.
const MAX_RESERVED_BODY: usize = 256 << 20;

/// A body that could not be read, in the error format: over `body_limit` is 413
/// `payload_too_large`, anything else 400 (with axum's words for both).
fn body_error(e: &axum::Error) -> Response {
    let mut source: Option<&(dyn std::error::Error + 'static)> = Some(e);
    while let Some(err) = source {
        if err.is::<http_body_util::LengthLimitError>() {
            return plain(
                StatusCode::PAYLOAD_TOO_LARGE,
                "payload_too_large",
                format!("Failed to buffer the request body: {err}"),
            );
        }
        source = err.source();
    }
    plain(
        StatusCode::BAD_REQUEST,
        "validation",
        format!("Failed to buffer the request body: {e}"),
    )
}

/// The query string as params, decoded strictly: every value is text (the operations read
/// numbers, booleans, lists and JSON filters from text); `+` is a space; a value or name whose
/// percent-encoding is not UTF-8, or a parameter given twice, is 400 `validation` naming it.
struct Query(Map<String, Value>);

impl<S: Send + Sync> FromRequestParts<S> for Query {
    type Rejection = Response;

    async fn from_request_parts(parts: &mut Parts, _: &S) -> Result<Self, Response> {
        parse_query(parts.uri.query().unwrap_or(""))
            .map(Query)
            .map_err(|e| ApiError(e).into_response())
    }
}

fn parse_query(query: &str) -> Result<Map<String, Value>, Error> {
    fn decode(raw: &str) -> Result<String, String> {
        let spaced = raw.replace('+', " ");
        percent_encoding::percent_decode_str(&spaced)
            .decode_utf8()
            .map(|s| s.into_owned())
            .map_err(|_| raw.to_string())
    }
    let mut params = Map::new();
    for pair in query.split('&').filter(|p| !p.is_empty()) {
        let (raw_name, raw_value) = pair.split_once('=').unwrap_or((pair, ""));
        let name = decode(raw_name).map_err(|raw| {
            Error::validation(
                raw.clone(),
                format!("query parameter name `{raw}` is not UTF-8 once percent-decoded"),
            )
        })?;
        let value = decode(raw_value).map_err(|_| {
            Error::validation(
                name.clone(),
                format!("query parameter `{name}` is not UTF-8 once percent-decoded"),
            )
        })?;
        if params.contains_key(&name) {
            return Err(Error::validation(
                name.clone(),
                format!("query parameter `{name}` is given more than once"),
            ));
        }
        params.insert(name, Value::String(value));
    }
    Ok(params)
}

/// Header names read or written on every request, made once (a name given as text is parsed
/// on each use).
const X_REQUEST_ID: header::HeaderName = header::HeaderName::from_static("x-request-id");

/// The HTTP router over a dispatcher, with the limits and rules of `config`: `body_limit`
/// bounds request bodies in bytes; `Host` and `Origin` are checked (`origin.rs`), and
/// `cors_origins` get CORS answers.
pub fn router(dispatcher: Dispatcher, config: &crate::Config) -> Router {
    let guard = Arc::new(origin::Guard::new(config));
    let cors = (!guard.cors_origins().is_empty()).then(|| cors_layer(guard.cors_origins()));
    let mut router = Router::new()
        .route("/", get(index))
        .route("/health/live", get(live))
        .route("/health/ready", get(ready))
        .route("/models", get(models))
        .route("/models/{name}", get(model));
    for (path, routes) in table::paths() {
        let mut methods = axum::routing::MethodRouter::new();
        for r in routes {
            methods = methods.merge(op_route(r));
        }
        router = router.route(path, methods);
    }
    let router = router
        .route(table::NODE_PATH, post(node))
        .merge(workflows::routes())
        .merge(admin::routes())
        .merge(audit::routes())
        .merge(super::openapi::routes())
        .fallback(no_route)
        .method_not_allowed_fallback(wrong_method)
        .layer(DefaultBodyLimit::max(config.body_limit))
        // gzip or br as `Accept-Encoding` asks, for bodies over 32 bytes that are not images
        // or event streams (tower-http's default predicate); a compressed read's `ETag` gets
        // the coding as a suffix (`conditional.rs`), in the first stage (`stage.rs`), which
        // runs outside this layer.
        .layer(tower_http::compression::CompressionLayer::new());
    let router = match cors {
        Some(cors) => router.layer(cors),
        None => router,
    };
    router
        .layer(stage::RequestIds::new(guard))
        .with_state(dispatcher)
}

/// CORS answers for the allowed cross-origin browsers (preflights included): every method of
/// the API, any request header, and the headers a client reads exposed.
fn cors_layer(origins: &[String]) -> tower_http::cors::CorsLayer {
    use tower_http::cors::{AllowHeaders, AllowOrigin, CorsLayer};
    let origins: Vec<HeaderValue> = origins
        .iter()
        .filter_map(|o| HeaderValue::from_str(o).ok())
        .collect();
    CorsLayer::new()
        .allow_origin(AllowOrigin::list(origins))
        .allow_methods([
            Method::GET,
            Method::POST,
            Method::PUT,
            Method::PATCH,
            Method::DELETE,
        ])
        .allow_headers(AllowHeaders::mirror_request())
        .expose_headers([
            X_REQUEST_ID,
            header::RETRY_AFTER,
            header::LOCATION,
            header::ETAG,
            header::WWW_AUTHENTICATE,
            HeaderName::from_static("ratelimit-limit"),
            HeaderName::from_static("ratelimit-remaining"),
            HeaderName::from_static("ratelimit-reset"),
        ])
        .max_age(std::time::Duration::from_secs(600))
}

/// Parses a JSON body; an empty body is `null`.
fn body_json(body: &Bytes) -> Result<Value, Box<Response>> {
    if body.is_empty() {
        return Ok(Value::Null);
    }
    serde_json::from_slice(body).map_err(malformed)
}

/// Parses the JSON body of operation `op` into its params: the records of a bulk write stay the
/// body's text, parsed one by one as the store writes them (`flowgate::params`).
fn body_params(op: OpKind, body: Bytes) -> Result<Params, Box<Response>> {
    Params::from_json_body(op, body).map_err(malformed)
}

fn malformed(e: serde_json::Error) -> Box<Response> {
    Box::new(plain(
        StatusCode::BAD_REQUEST,
        "validation",
        format!("malformed JSON body: {e}"),
    ))
}

/// Runs an operation and answers: the success status of the operation's route, the result
/// encoded once; a read also gets an `ETag` of that encoding, and `If-None-Match` naming it
/// answers 304 without a body.
async fn run(
    d: &Dispatcher,
    target: Target<'_>,
    op: OpKind,
    ctx: Context,
    params: impl Into<Params>,
    read: Option<IfNoneMatch>,
) -> Response {
    match d
        .call_output(target, op, ctx, params.into(), Form::Json)
        .await
    {
        Ok(out) => {
            let status = StatusCode::from_u16(table::success_status(op)).unwrap_or(StatusCode::OK);
            conditional::answer(status, out.into_json(), read)
        }
        Err(e) => ApiError(e).into_response(),
    }
}

/// The handler of one route of the table: its params taken from where the table says.
fn op_route(route: &'static HttpRoute) -> axum::routing::MethodRouter<Dispatcher> {
    use axum::routing::{MethodFilter, on};
    let filter = match route.method {
        HttpMethod::Get => MethodFilter::GET,
        HttpMethod::Post => MethodFilter::POST,
        HttpMethod::Put => MethodFilter::PUT,
        HttpMethod::Patch => MethodFilter::PATCH,
        HttpMethod::Delete => MethodFilter::DELETE,
    };
    let op = route.op;
    match route.params {
        ParamsSource::Body => on(
            filter,
            move |State(d): State<Dispatcher>,
                  Ctx(ctx): Ctx,
                  Path(table): Path<String>,
                  Body(body): Body| async move {
                // The params take the body: a bulk write keeps it as its records' text, any
                // other operation drops it once parsed.
                match body_params(op, body) {
                    Ok(params) => run(&d, Target::Table(&table), op, ctx, params, None).await,
                    Err(resp) => *resp,
                }
            },
        ),
        ParamsSource::Query => on(
            filter,
            move |State(d): State<Dispatcher>,
                  Ctx(ctx): Ctx,
                  inm: IfNoneMatch,
                  Path(table): Path<String>,
                  Query(q): Query| async move {
                let read = route.is_read().then_some(inm);
                run(&d, Target::Table(&table), op, ctx, Value::Object(q), read).await
            },
        ),
        ParamsSource::IdAndQuery => on(
            filter,
            move |State(d): State<Dispatcher>,
                  Ctx(ctx): Ctx,
                  inm: IfNoneMatch,
                  Path((table, rid)): Path<(String, String)>,
                  Query(mut params): Query| async move {
                params.insert("id".into(), Value::String(rid));
                let read = route.is_read().then_some(inm);
                run(
                    &d,
                    Target::Table(&table),
                    op,
                    ctx,
                    Value::Object(params),
                    read,
                )
                .await
            },
        ),
        ParamsSource::Id => on(
            filter,
            move |State(d): State<Dispatcher>,
                  Ctx(ctx): Ctx,
                  Path((table, rid)): Path<(String, String)>| async move {
                let mut params = Map::new();
                params.insert("id".into(), Value::String(rid));
                run(
                    &d,
                    Target::Table(&table),
                    op,
                    ctx,
                    Value::Object(params),
                    None,
                )
                .await
            },
        ),
        // `PATCH /api/{table}/{id}` takes the fields to change, flat (or wrapped as
        // `{"fields": {...}}`). The body is the `fields` param as it is, and no body is no
        // `fields`: the operation checks them and answers as it does on every other channel.
        ParamsSource::IdAndFields => on(
            filter,
            move |State(d): State<Dispatcher>,
                  Ctx(ctx): Ctx,
                  Path((table, rid)): Path<(String, String)>,
                  Body(body): Body| async move {
                let fields = match body_json(&body) {
                    Ok(Value::Object(mut m))
                        if m.len() == 1 && m.get("fields").is_some_and(Value::is_object) =>
                    {
                        m.remove("fields").unwrap_or_default()
                    }
                    Ok(v) => v,
                    Err(resp) => return *resp,
                };
                let mut params = Map::new();
                params.insert("id".into(), Value::String(rid));
                if !fields.is_null() {
                    params.insert("fields".into(), fields);
                }
                run(
                    &d,
                    Target::Table(&table),
                    op,
                    ctx,
                    Value::Object(params),
                    None,
                )
                .await
            },
        ),
    }
}

/// `POST /nodes/{NodeName}`: the node's params as the body, the same params and result as the
/// MCP tool and the CLI.
async fn node(
    State(d): State<Dispatcher>,
    Ctx(ctx): Ctx,
    Path(node): Path<String>,
    Body(body): Body,
) -> Response {
    let Some((model, op)) = OpKind::parse_node_name(&node) else {
        return ApiError(Error::not_found(flowgate::Missing::Node, node)).into_response();
    };
    match body_params(op, body) {
        Ok(params) => run(&d, Target::Model(model), op, ctx, params, None).await,
        Err(resp) => *resp,
    }
}

/// `GET /`: where to go from here.
async fn index() -> Response {
    Json(serde_json::json!({
        "name": "flowgate",
        "version": env!("CARGO_PKG_VERSION"),
        "links": {
            "docs": "/docs",
            "openapi": "/openapi.json",
            "live": "/health/live",
            "ready": "/health/ready",
            "models": "/models",
        },
    }))
    .into_response()
}

async fn live() -> Response {
    Json(serde_json::json!({"status": "live"})).into_response()
}

/// `GET /health/ready`: 200 when everything declared serves, else 503. Open to everyone; when
/// credentials are required, only a caller with an `admin:` permission sees the board, the
/// rest see `{"ready": ...}` alone.
async fn ready(State(d): State<Dispatcher>, parts: Parts) -> Response {
    let (ready, mut body) = d.board().ready_body();
    if d.auth().is_required() {
        let caller = principal(&parts, &d).await.ok();
        let admin = caller.is_some_and(|p| {
            crate::auth::ADMIN_AREAS
                .iter()
                .any(|area| d.auth().may(&p, crate::auth::Permission::Admin(area)))
        });
        if !admin {
            body = Bytes::from(serde_json::json!({ "ready": ready }).to_string());
        }
    }
    let status = if ready {
        StatusCode::OK
    } else {
        StatusCode::SERVICE_UNAVAILABLE
    };
    (
        status,
        [(
            header::CONTENT_TYPE,
            HeaderValue::from_static("application/json"),
        )],
        body,
    )
        .into_response()
}

/// `GET /models`: every served model's canonical definition (the JSON schema-file shape of one
/// model), table and registry version. The CLI discovers a server's models here.
async fn models(State(d): State<Dispatcher>, _: Authenticated) -> Response {
    let routes = d.routes();
    let models: Vec<Value> = routes
        .served()
        .iter()
        .map(|m| {
            let mut canonical = flowgate::model::to_json(std::slice::from_ref(&m.def));
            serde_json::json!({
                "name": m.name(),
                "table": m.table,
                "version": routes.version(m.name()),
                "definition": canonical["models"][m.name()].take(),
            })
        })
        .collect();
    Json(serde_json::json!({ "models": models })).into_response()
}

/// `GET /models/{Model}` (or the model's table): what the MCP resource `flowgate://models/{Model}`
/// holds (schemas, definition, relations both ways) and the registry version.
async fn model(
    State(d): State<Dispatcher>,
    _: Authenticated,
    axum::extract::Path(name): axum::extract::Path<String>,
) -> Response {
    let routes = d.routes();
    let served = routes.served();
    let Some(m) = served.iter().find(|m| m.name() == name || m.table == name) else {
        return ApiError(Error::not_found(flowgate::Missing::Model, &name)).into_response();
    };
    let mut body = flowgate::json_schema::model_document(m, &served);
    body["version"] = serde_json::json!(routes.version(m.name()));
    Json(body).into_response()
}

async fn no_route(method: Method, uri: axum::http::Uri) -> Response {
    plain(
        StatusCode::NOT_FOUND,
        "not_found",
        format!("no route for {method} {}", uri.path()),
    )
}

async fn wrong_method(method: Method, uri: axum::http::Uri) -> Response {
    plain(
        StatusCode::METHOD_NOT_ALLOWED,
        "method_not_allowed",
        format!("{method} is not allowed on {}", uri.path()),
    )
}
