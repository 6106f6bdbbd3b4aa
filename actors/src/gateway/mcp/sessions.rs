//! The session manager of the streamable HTTP transport: rmcp's [`LocalSessionManager`] for
//! everything (creating and closing sessions, the standalone stream that carries
//! `list_changed`, resuming streams), except that a `tools/call` in a live session is answered
//! in the task of its own HTTP request, as one JSON body.
//!
//! Why: rmcp routes every request of a session through the session's worker task, then the
//! session's service loop, then a handler task it spawns, and sends the answer back the same
//! way, then through a task that writes it to the request's event stream. A tool call does one
//! dispatcher round trip; those hand-offs between tasks cost it more than the operation
//! itself on a loaded machine (`benches/mcp.rs`). Our call handler needs nothing of the
//! session (no peer, no progress, no server-to-client request), so the answer does not depend
//! on which path it takes. rmcp still checks the request (the `Host`, the `Accept` and
//! `Content-Type` headers, the body limit, the session id, the protocol version header) before
//! it reaches [`Sessions::create_stream`].
//!
//! The answer goes back as `application/json` rather than as an event stream of one event
//! (the transport lets a server answer a request either way, and clients must read both): the
//! [`json_answers`] layer puts a [`JsonAnswer`] slot in each POST's extensions, rmcp hands the
//! request's HTTP parts on to the session manager, the fast path fills the slot and returns an
//! empty stream, and the layer sends the slot's message in place of the empty stream. A client
//! reads one JSON body instead of running an event-stream parser per call (rmcp's client
//! spawns a task for each event stream it reads). Without the layer (or the slot), the answer
//! is the one event of the stream.
//!
//! Every other request and every notification goes to the session as before, so `initialize`,
//! `tools/list`, the resources, `ping` and the notifications to the client behave as rmcp
//! makes them behave.

use super::McpServer;
use axum::extract::Request;
use axum::http::{Method, StatusCode, header};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use futures_util::future::Either;
use futures_util::stream::{self, Stream};
use rmcp::model::{ClientJsonRpcMessage, ClientRequest, ServerJsonRpcMessage, ServerResult};
use rmcp::transport::streamable_http_server::SessionManager;
use rmcp::transport::streamable_http_server::session::local::{
    LocalSessionManager, LocalSessionManagerError,
};
use rmcp::transport::streamable_http_server::session::{
    EventStore, RestoreOutcome, ServerSseMessage, SessionId,
};
use std::sync::{Arc, Mutex};

/// Where the fast path leaves a tool call's answer for [`json_answers`] to send as JSON.
#[derive(Clone, Default)]
pub(super) struct JsonAnswer(Arc<Mutex<Option<ServerJsonRpcMessage>>>);

/// The layer around the streamable HTTP service: a POST whose answer the fast path left in its
/// [`JsonAnswer`] slot is answered with that message as `application/json`; everything else
/// passes through unchanged.
///
/// A `DELETE` that closed a session answers 204 No Content where rmcp answers 202 Accepted:
/// the session is gone when the answer leaves (not merely queued to go), and clients such as
/// the Python SDK take anything but 200 or 204 as a failed termination.
pub(super) async fn json_answers(mut request: Request, next: Next) -> Response {
    if request.method() == Method::DELETE {
        let mut response = next.run(request).await;
        if response.status() == StatusCode::ACCEPTED {
            *response.status_mut() = StatusCode::NO_CONTENT;
            *response.body_mut() = axum::body::Body::empty();
            response.headers_mut().remove(header::CONTENT_LENGTH);
            response.headers_mut().remove(header::CONTENT_TYPE);
        }
        return response;
    }
    if request.method() != Method::POST {
        return next.run(request).await;
    }
    let slot = JsonAnswer::default();
    request.extensions_mut().insert(slot.clone());
    let response = next.run(request).await;
    let answer = slot.0.lock().expect("answer lock").take();
    match answer {
        // The event stream of the response is empty; dropping it ends it.
        Some(message) => match serde_json::to_vec(&message) {
            Ok(body) => (
                StatusCode::OK,
                [(header::CONTENT_TYPE, "application/json")],
                body,
            )
                .into_response(),
            Err(e) => {
                tracing::error!(error = %e, "an MCP answer did not serialize");
                StatusCode::INTERNAL_SERVER_ERROR.into_response()
            }
        },
        None => response,
    }
}

/// Sessions kept in memory by rmcp, with tool calls answered in place.
pub(super) struct Sessions {
    local: LocalSessionManager,
    server: McpServer,
}

impl Sessions {
    /// Sessions of `server`, kept by `local`.
    pub(super) fn new(local: LocalSessionManager, server: McpServer) -> Sessions {
        Sessions { local, server }
    }

    /// The answer to a `tools/call` with JSON-RPC id `id`.
    async fn call(
        &self,
        id: rmcp::model::RequestId,
        params: rmcp::model::CallToolRequestParams,
        principal: flowgate::Principal,
        tenant: Option<String>,
    ) -> ServerJsonRpcMessage {
        match self.server.call(params, principal, tenant).await {
            Ok(result) => ServerJsonRpcMessage::response(ServerResult::from(result), id),
            Err(error) => ServerJsonRpcMessage::error(error, Some(id)),
        }
    }
}

impl SessionManager for Sessions {
    type Error = LocalSessionManagerError;
    type Transport = <LocalSessionManager as SessionManager>::Transport;

    fn create_session(
        &self,
    ) -> impl Future<Output = Result<(SessionId, Self::Transport), Self::Error>> + Send {
        self.local.create_session()
    }

    fn initialize_session(
        &self,
        id: &SessionId,
        message: ClientJsonRpcMessage,
    ) -> impl Future<Output = Result<ServerJsonRpcMessage, Self::Error>> + Send {
        self.local.initialize_session(id, message)
    }

    fn has_session(
        &self,
        id: &SessionId,
    ) -> impl Future<Output = Result<bool, Self::Error>> + Send {
        self.local.has_session(id)
    }

    fn close_session(
        &self,
        id: &SessionId,
    ) -> impl Future<Output = Result<(), Self::Error>> + Send {
        self.local.close_session(id)
    }

    async fn create_stream(
        &self,
        id: &SessionId,
        message: ClientJsonRpcMessage,
    ) -> Result<impl Stream<Item = ServerSseMessage> + Send + Sync + 'static, Self::Error> {
        let request = match message {
            ClientJsonRpcMessage::Request(request) => request,
            other => return Ok(Either::Right(self.local.create_stream(id, other).await?)),
        };
        let ClientRequest::CallToolRequest(call) = request.request else {
            let message = ClientJsonRpcMessage::Request(request);
            return Ok(Either::Right(self.local.create_stream(id, message).await?));
        };
        // rmcp looked the session up before; it may have closed since.
        if !self.local.has_session(id).await? {
            return Err(LocalSessionManagerError::SessionNotFound(id.clone()));
        }
        let slot = call
            .extensions
            .get::<axum::http::request::Parts>()
            .and_then(|parts| parts.extensions.get::<JsonAnswer>())
            .cloned();
        let principal = self.server.principal(&call.extensions);
        let tenant = self.server.tenant(&call.extensions);
        let answer = self.call(request.id, call.params, principal, tenant).await;
        let event = match slot {
            Some(slot) => {
                *slot.0.lock().expect("answer lock") = Some(answer);
                None
            }
            None => Some(ServerSseMessage::from_message(answer)),
        };
        Ok(Either::Left(stream::iter(event)))
    }

    fn accept_message(
        &self,
        id: &SessionId,
        message: ClientJsonRpcMessage,
    ) -> impl Future<Output = Result<(), Self::Error>> + Send {
        self.local.accept_message(id, message)
    }

    fn create_standalone_stream(
        &self,
        id: &SessionId,
    ) -> impl Future<
        Output = Result<impl Stream<Item = ServerSseMessage> + Send + Sync + 'static, Self::Error>,
    > + Send {
        self.local.create_standalone_stream(id)
    }

    fn resume(
        &self,
        id: &SessionId,
        last_event_id: String,
    ) -> impl Future<
        Output = Result<impl Stream<Item = ServerSseMessage> + Send + Sync + 'static, Self::Error>,
    > + Send {
        self.local.resume(id, last_event_id)
    }

    fn restore_session(
        &self,
        id: SessionId,
    ) -> impl Future<Output = Result<RestoreOutcome<Self::Transport>, Self::Error>> + Send {
        self.local.restore_session(id)
    }

    fn event_store(&self) -> Option<Arc<dyn EventStore>> {
        self.local.event_store()
    }
}
