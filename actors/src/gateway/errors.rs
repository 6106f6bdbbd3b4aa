//! The one mapping from typed errors to HTTP: a status per code, the JSON error body, and
//! `Retry-After` where waiting helps. Internal details go to the log with the request id.

use crate::dispatch::RunFailure;
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use flowgate::Error;
use serde_json::json;

/// The HTTP status of an error code.
pub fn status_of(e: &Error) -> StatusCode {
    match e {
        Error::Validation { .. } => StatusCode::BAD_REQUEST,
        Error::NotFound { .. } => StatusCode::NOT_FOUND,
        Error::Conflict { .. } => StatusCode::CONFLICT,
        Error::Forbidden(_) | Error::TenantRequired(_) => StatusCode::FORBIDDEN,
        Error::Unauthorized(_) => StatusCode::UNAUTHORIZED,
        Error::RateLimited { .. } => StatusCode::TOO_MANY_REQUESTS,
        Error::NotReady { .. } | Error::Unavailable(_) => StatusCode::SERVICE_UNAVAILABLE,
        Error::Internal(_) => StatusCode::INTERNAL_SERVER_ERROR,
    }
}

/// An error on its way out as an HTTP response.
#[derive(Debug)]
pub struct ApiError(pub Error);

impl From<Error> for ApiError {
    fn from(e: Error) -> Self {
        ApiError(e)
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        error_response(&self.0, self.0.to_json())
    }
}

/// A workflow run that did not complete, on its way out: the status of its error's code, and the
/// run's error object (which names the node that failed and the run).
#[derive(Debug)]
pub struct RunFailed(pub RunFailure);

impl IntoResponse for RunFailed {
    fn into_response(self) -> Response {
        error_response(self.0.error(), self.0.to_json())
    }
}

/// The answer of error `e` with `object` as its error object: the status of its code,
/// `Retry-After` where waiting helps; an internal error's details go to the log.
fn error_response(e: &Error, object: serde_json::Value) -> Response {
    if let Error::Internal(detail) = e {
        tracing::error!(error = %detail, "internal error");
    }
    let retry_after_ms = match e {
        Error::NotReady { retry_after_ms, .. } | Error::RateLimited { retry_after_ms, .. } => {
            Some(*retry_after_ms)
        }
        Error::Unavailable(_) => Some(1000),
        _ => None,
    };
    let mut resp = (status_of(e), axum::Json(json!({ "error": object }))).into_response();
    if let Some(ms) = retry_after_ms {
        let secs = ms.div_ceil(1000).max(1);
        resp.headers_mut()
            .insert(header::RETRY_AFTER, HeaderValue::from(secs));
    }
    match e {
        // The `RateLimit-*` fields of draft-ietf-httpapi-ratelimit-headers: the burst, nothing
        // left, and the seconds until the whole burst is back.
        Error::RateLimited {
            limit, reset_ms, ..
        } => {
            let h = resp.headers_mut();
            h.insert(RATELIMIT_LIMIT, HeaderValue::from(*limit));
            h.insert(RATELIMIT_REMAINING, HeaderValue::from(0u32));
            h.insert(
                RATELIMIT_RESET,
                HeaderValue::from(reset_ms.div_ceil(1000).max(1)),
            );
        }
        // RFC 6750: a missing or bad bearer credential names the scheme to use.
        Error::Unauthorized(_) => {
            resp.headers_mut()
                .insert(header::WWW_AUTHENTICATE, HeaderValue::from_static("Bearer"));
        }
        _ => {}
    }
    resp
}

const RATELIMIT_LIMIT: header::HeaderName = header::HeaderName::from_static("ratelimit-limit");
const RATELIMIT_REMAINING: header::HeaderName =
    header::HeaderName::from_static("ratelimit-remaining");
const RATELIMIT_RESET: header::HeaderName = header::HeaderName::from_static("ratelimit-reset");

/// A 4xx that is not one of the operation errors (bad route, bad body), in the same JSON shape.
pub fn plain(status: StatusCode, code: &str, message: impl Into<String>) -> Response {
    (
        status,
        axum::Json(json!({ "error": { "code": code, "message": message.into() } })),
    )
        .into_response()
}

/// A whole HTTP/1.1 answer carrying the error object, as bytes, for the connection layer
/// (`http/conn.rs`), which answers before (or without) a request reaching the router: a head
/// that is too long or malformed, a head that did not arrive in time, a full port. It closes the
/// connection and carries a fresh `X-Request-ID` like every answer.
pub fn raw_error_response(status: StatusCode, code: &str, message: &str) -> Vec<u8> {
    let body = json!({ "error": { "code": code, "message": message } }).to_string();
    format!(
        "HTTP/1.1 {} {}\r\ncontent-type: application/json\r\ncontent-length: {}\r\nconnection: close\r\nx-request-id: {}\r\n\r\n{body}",
        status.as_u16(),
        status.canonical_reason().unwrap_or(""),
        body.len(),
        uuid::Uuid::now_v7(),
    )
    .into_bytes()
}
