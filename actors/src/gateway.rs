//! The gateway: binds the ports before anything touches the database, and serves the channels.
//! Only the gateway knows wire formats.

pub mod errors;
pub mod http;
pub mod mcp;
pub mod openapi;

use std::net::SocketAddr;
use tokio::net::TcpListener;
use tokio::sync::watch;

/// Binds a TCP listener on `host:port` (port 0 picks a free one).
pub async fn bind(host: &str, port: u16) -> std::io::Result<(TcpListener, SocketAddr)> {
    let listener = TcpListener::bind((host, port)).await?;
    let addr = listener.local_addr()?;
    Ok((listener, addr))
}

/// Serves `router` on `listener` until `shutdown` turns true, then stops accepting and lets
/// in-flight requests finish.
///
/// Connections are `TCP_NODELAY`: a streamed response (an MCP event stream) ends with a small
/// chunk of its own, which Nagle's algorithm would hold until the client's delayed ACK, tens of
/// milliseconds later, before the connection can serve the next request.
pub async fn serve(
    listener: TcpListener,
    router: axum::Router,
    mut shutdown: watch::Receiver<bool>,
) -> std::io::Result<()> {
    use axum::serve::ListenerExt;
    let listener = listener.tap_io(|tcp| {
        if let Err(e) = tcp.set_nodelay(true) {
            tracing::debug!(error = %e, "cannot set TCP_NODELAY");
        }
    });
    axum::serve(listener, router)
        .with_graceful_shutdown(async move {
            let _ = shutdown.wait_for(|stop| *stop).await;
        })
        .await
}
