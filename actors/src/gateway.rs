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

pub use http::conn::{Limits, MAX_HEAD_BYTES};

/// Serves `router` on `listener` until `shutdown` turns true, then stops accepting and lets
/// in-flight requests finish. Both ports go through it: the connection cap, the header and idle
/// timeouts, the head limit and `TCP_NODELAY` are in [`http::conn`].
pub async fn serve(
    listener: TcpListener,
    router: axum::Router,
    shutdown: watch::Receiver<bool>,
    limits: Limits,
) -> std::io::Result<()> {
    http::conn::serve(listener, router, shutdown, limits).await
}

/// The checks of the gateway's configuration keys, each error naming its key.
pub(crate) mod config_keys {
    use serde::de::{Deserialize, Deserializer, Error};

    fn at_least_one<'de, D: Deserializer<'de>>(d: D, key: &str) -> Result<u64, D::Error> {
        let v = u64::deserialize(d).map_err(|e| D::Error::custom(format!("`{key}`: {e}")))?;
        if v == 0 {
            return Err(D::Error::custom(format!("`{key}` must be at least 1")));
        }
        Ok(v)
    }

    pub(crate) fn header_timeout_ms<'de, D: Deserializer<'de>>(d: D) -> Result<u64, D::Error> {
        at_least_one(d, "header_timeout_ms")
    }

    pub(crate) fn idle_timeout_ms<'de, D: Deserializer<'de>>(d: D) -> Result<u64, D::Error> {
        at_least_one(d, "idle_timeout_ms")
    }

    pub(crate) fn max_connections<'de, D: Deserializer<'de>>(d: D) -> Result<usize, D::Error> {
        let v = at_least_one(d, "max_connections")?;
        usize::try_from(v).map_err(|_| D::Error::custom("`max_connections` is too large"))
    }

    /// Each origin is `scheme://host[:port]`, `http` or `https`, with nothing after; kept in its
    /// normalized form (lower case, no default port).
    pub(crate) fn cors_origins<'de, D: Deserializer<'de>>(d: D) -> Result<Vec<String>, D::Error> {
        let list = Vec::<String>::deserialize(d)
            .map_err(|e| D::Error::custom(format!("`cors_origins`: {e}")))?;
        list.iter()
            .map(|o| {
                super::http::origin::normalize(o).ok_or_else(|| {
                    D::Error::custom(format!(
                        "`cors_origins`: `{o}` is not an origin (expected scheme://host[:port], http or https)"
                    ))
                })
            })
            .collect()
    }
}
