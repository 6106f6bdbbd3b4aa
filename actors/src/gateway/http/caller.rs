//! The channel's authentication stage for REST: the extractors that turn a request's headers
//! into its `Context` (`Ctx`: request id, principal, idempotency key) or only its principal
//! (`Authenticated`), and the `admin:<area>` check. A leaf of `gateway/http`, so that the
//! OpenAPI routes can authenticate without importing the router.

use super::conn;
use crate::dispatch::Dispatcher;
use crate::gateway::errors::ApiError;
use axum::extract::FromRequestParts;
use axum::http::header;
use axum::http::request::Parts;
use axum::response::{IntoResponse, Response};
use flowgate::{Channel, Context, Error};

const IDEMPOTENCY_KEY: header::HeaderName = header::HeaderName::from_static("idempotency-key");

/// The request id of a request, set by the middleware and taken by the `Ctx` extractor.
#[derive(Debug, Clone)]
pub(crate) struct RequestId(pub(crate) String);

/// The operation context of an HTTP request: its request id (from the middleware), its
/// principal (authenticated from `Authorization: Bearer` or `X-API-Key`; anonymous, known by its
/// address, without one) and its `Idempotency-Key` header. Reads only what it needs from the
/// request, so a handler does not copy the whole header map. A bad credential is 401.
pub(crate) struct Ctx(pub(crate) Context);

impl FromRequestParts<Dispatcher> for Ctx {
    type Rejection = Response;

    async fn from_request_parts(parts: &mut Parts, d: &Dispatcher) -> Result<Self, Response> {
        let principal = principal(parts, d)
            .await
            .map_err(|e| ApiError(e).into_response())?;
        // The middleware always sets the id; without it, a fresh one.
        let request_id = match parts.extensions.remove::<RequestId>() {
            Some(RequestId(id)) => id,
            None => flowgate::context::new_request_id(),
        };
        let idempotency_key = parts
            .headers
            .get(IDEMPOTENCY_KEY)
            .and_then(|v| v.to_str().ok())
            .map(str::to_string);
        let tenant = d
            .auth()
            .tenant_from_headers(&principal, &parts.headers)
            .map_err(|e| ApiError(e).into_response())?;
        // The method and path, for the audit trail of writes (reads are not audited).
        let matched = parts.extensions.get::<axum::extract::MatchedPath>();
        let channel = match matched {
            Some(p) if p.as_str().starts_with("/nodes/") => Channel::Node,
            _ => Channel::Http,
        };
        let via = (parts.method != axum::http::Method::GET)
            .then(|| format!("{} {}", parts.method, parts.uri.path()));
        Ok(Ctx(Context {
            principal,
            tenant,
            via,
            channel,
            request_id,
            idempotency_key,
        }))
    }
}

/// The principal of an HTTP request (the channel's authentication stage).
pub(crate) async fn principal(parts: &Parts, d: &Dispatcher) -> Result<flowgate::Principal, Error> {
    let addr = parts.extensions.get::<conn::ClientAddr>().map(|a| a.0);
    d.auth()
        .authenticate(crate::auth::credential(&parts.headers), addr)
        .await
}

/// A request that needs only to be authenticated (the OpenAPI document, `GET /models`): any
/// principal when credentials are not required, else any but the anonymous one (401).
pub(crate) struct Authenticated(pub(crate) flowgate::Principal);

impl FromRequestParts<Dispatcher> for Authenticated {
    type Rejection = Response;

    async fn from_request_parts(parts: &mut Parts, d: &Dispatcher) -> Result<Self, Response> {
        let p = principal(parts, d)
            .await
            .map_err(|e| ApiError(e).into_response())?;
        if p.is_anonymous() && d.auth().is_required() {
            return Err(ApiError(crate::auth::credential_required()).into_response());
        }
        Ok(Authenticated(p))
    }
}

/// A request that needs the `admin:<area>` permission.
pub(crate) fn admin(
    d: &Dispatcher,
    p: &flowgate::Principal,
    area: &'static str,
) -> Result<(), Box<Response>> {
    d.auth()
        .authorize(p, crate::auth::Permission::Admin(area))
        .map_err(|e| Box::new(ApiError(e).into_response()))
}
