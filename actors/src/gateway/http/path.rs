//! The path-parameter extractor of every route (REST, workflows, the docs' files): a path that
//! does not decode is the JSON error object, not axum's plain text. A leaf: `http.rs` and
//! `openapi.rs` both use it, and it uses neither.

use crate::gateway::errors::{ApiError, plain};
use axum::extract::FromRequestParts;
use axum::http::StatusCode;
use axum::http::request::Parts;
use axum::response::{IntoResponse, Response};
use flowgate::Error;
use serde::de::DeserializeOwned;

/// Path parameters; a path that does not decode (invalid UTF-8 in a segment) is 400
/// `validation` naming the parameter, in the JSON error format.
pub(crate) struct Path<T>(pub(crate) T);

impl<T: DeserializeOwned + Send, S: Send + Sync> FromRequestParts<S> for Path<T> {
    type Rejection = Response;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, Response> {
        use axum::extract::path::ErrorKind;
        use axum::extract::rejection::PathRejection;
        match axum::extract::Path::<T>::from_request_parts(parts, state).await {
            Ok(axum::extract::Path(t)) => Ok(Path(t)),
            Err(PathRejection::FailedToDeserializePathParams(e)) => {
                let field = match e.kind() {
                    ErrorKind::InvalidUtf8InPathParam { key }
                    | ErrorKind::ParseErrorAtKey { key, .. }
                    | ErrorKind::DeserializeError { key, .. } => Some(key.clone()),
                    _ => None,
                };
                let message = format!("invalid path: {}", e.body_text());
                Err(match field {
                    Some(f) => ApiError(Error::validation(f, message)).into_response(),
                    None => plain(StatusCode::BAD_REQUEST, "validation", message),
                })
            }
            Err(e) => Err(plain(e.status(), "validation", e.body_text())),
        }
    }
}
