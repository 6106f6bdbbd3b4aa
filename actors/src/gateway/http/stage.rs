//! The channel stage every HTTP request passes first, as a tower layer: refuses a foreign `Host`
//! or `Origin` (`origin.rs`) and an invalid `X-Request-ID`; honours a valid `X-Request-ID` or
//! makes one, echoes it, and runs the request inside a span that carries it. On the way out it
//! gives a compressed answer's `ETag` its coding (`conditional.rs`), outside the compression
//! layer, and adds the security headers every answer carries (`X-Content-Type-Options`,
//! `Referrer-Policy`).
//!
//! A layer of its own rather than `axum::middleware::from_fn`, which clones the inner service,
//! boxes it again and boxes its future on every request.

use super::origin::Guard;
use super::{ApiError, RequestId, X_REQUEST_ID};
use crate::auth::X_TENANT_ID;
use axum::extract::Request;
use axum::http::HeaderValue;
use axum::response::{IntoResponse, Response};
use flowgate::Error;
use std::convert::Infallible;
use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll, ready};
use tracing::Instrument;
use tracing::instrument::Instrumented;

/// The layer.
#[derive(Clone)]
pub(super) struct RequestIds {
    guard: Arc<Guard>,
}

impl RequestIds {
    pub(super) fn new(guard: Arc<Guard>) -> RequestIds {
        RequestIds { guard }
    }
}

impl<S> tower_layer::Layer<S> for RequestIds {
    type Service = WithRequestId<S>;

    fn layer(&self, inner: S) -> WithRequestId<S> {
        WithRequestId {
            inner,
            guard: self.guard.clone(),
        }
    }
}

/// A service behind the stage.
#[derive(Clone)]
pub(super) struct WithRequestId<S> {
    inner: S,
    guard: Arc<Guard>,
}

impl<S> tower_service::Service<Request> for WithRequestId<S>
where
    S: tower_service::Service<Request, Response = Response, Error = Infallible>,
{
    type Response = Response;
    type Error = Infallible;
    type Future = Answer<S::Future>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), Infallible>> {
        self.inner.poll_ready(cx)
    }

    fn call(&mut self, mut req: Request) -> Self::Future {
        let mut refused = self.guard.refusal(req.headers(), req.uri());
        let given = match req.headers().get(X_REQUEST_ID) {
            None => None,
            Some(v) => match v.to_str() {
                Ok(s) if valid_request_id(s) => Some(s.to_string()),
                _ => {
                    refused = refused.or_else(|| {
                        Some(
                            ApiError(Error::validation(
                                "X-Request-ID",
                                "X-Request-ID must be 1 to 128 printable ASCII characters without spaces",
                            ))
                            .into_response(),
                        )
                    });
                    None
                }
            },
        };
        // `X-Tenant-ID` is read where a request's context is built (`caller.rs`); its form is
        // checked here, on every route, as the OpenAPI document says.
        if let Some(v) = req.headers().get(X_TENANT_ID)
            && !v
                .to_str()
                .is_ok_and(|t| flowgate::context::check_tenant_id(t).is_ok())
        {
            refused = refused.or_else(|| {
                Some(
                    ApiError(Error::validation(
                        "X-Tenant-ID",
                        "X-Tenant-ID must be 1 to 128 printable ASCII characters without spaces",
                    ))
                    .into_response(),
                )
            });
        }
        let id = given.unwrap_or_else(flowgate::context::new_request_id);
        // Printable ASCII, checked above or made so: the header cannot fail.
        let echo = HeaderValue::from_str(&id).ok();
        let stage = match refused {
            Some(resp) => Stage::Refused { resp: Some(resp) },
            None => {
                let span = tracing::info_span!("http", method = %req.method(), path = %req.uri().path(), request_id = %id);
                req.extensions_mut().insert(RequestId(id));
                Stage::Running {
                    inner: self.inner.call(req).instrument(span),
                }
            }
        };
        Answer { stage, echo }
    }
}

/// The security headers of every answer: no MIME sniffing, no referrer sent on from a page
/// (`/docs` adds its own Content-Security-Policy).
pub(crate) fn security_headers(h: &mut axum::http::HeaderMap) {
    use axum::http::header;
    h.insert(
        header::X_CONTENT_TYPE_OPTIONS,
        HeaderValue::from_static("nosniff"),
    );
    h.insert(
        header::REFERRER_POLICY,
        HeaderValue::from_static("no-referrer"),
    );
}

/// Whether a client's `X-Request-ID` is used as the request id: 1 to 128 printable ASCII
/// characters without spaces (as OpenAPI documents it); another value is refused (400).
fn valid_request_id(s: &str) -> bool {
    !s.is_empty() && s.len() <= 128 && s.bytes().all(|b| b.is_ascii_graphic())
}

pin_project_lite::pin_project! {
    /// The answer of a request: the inner service's, or the refusal; with the request id.
    pub(super) struct Answer<F> {
        #[pin]
        stage: Stage<F>,
        echo: Option<HeaderValue>,
    }
}

pin_project_lite::pin_project! {
    #[project = StageProj]
    enum Stage<F> {
        Running { #[pin] inner: Instrumented<F> },
        Refused { resp: Option<Response> },
    }
}

impl<F> Future for Answer<F>
where
    F: Future<Output = Result<Response, Infallible>>,
{
    type Output = Result<Response, Infallible>;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        let this = self.project();
        let mut resp = match this.stage.project() {
            StageProj::Running { inner } => ready!(inner.poll(cx))?,
            StageProj::Refused { resp } => match resp.take() {
                Some(resp) => resp,
                None => panic!("an answer polled after it completed"),
            },
        };
        if let Some(v) = this.echo.take() {
            resp.headers_mut().insert(X_REQUEST_ID, v);
        }
        security_headers(resp.headers_mut());
        // Outside the compression layer (see `conditional.rs`).
        super::conditional::tag_coding(&mut resp);
        Poll::Ready(Ok(resp))
    }
}
