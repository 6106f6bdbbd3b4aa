//! The accept loop of both ports (HTTP and MCP): hyper's HTTP/1.1 connections with the limits
//! `axum::serve` does not have.
//!
//! - **A connection cap** (`max_connections` per port, at most half the open-file limit, which is
//!   raised to its hard limit at start). When the port is full, the connection that has waited
//!   longest for a request head (a half-sent request, or an idle keep-alive connection) is closed
//!   to make room, so thousands of half-open connections cannot keep a new client, or
//!   `/health/live`, out. When every connection is in the middle of a request, the new one gets
//!   503 `unavailable` and is closed.
//! - **A header timeout** (`header_timeout_ms`): a request head must arrive whole within that
//!   time of its first byte (of the accept, for a connection's first request); else the client gets
//!   408 `request_timeout` and the connection closes. **An idle timeout** (`idle_timeout_ms`): a
//!   keep-alive connection that sends nothing for that long after an answer is closed. Neither
//!   runs while a request is being answered (a slow handler, an MCP event stream).
//! - **The head limit** ([`MAX_HEAD_BYTES`]): hyper refuses a longer head (431) or request line
//!   (414) itself, with an empty body; the connection's IO replaces those automatic answers
//!   (and hyper's 400 for a malformed request) with the documented JSON error object.
//! - `TCP_NODELAY` on every connection: a streamed response (an MCP event stream) ends with a
//!   small chunk of its own, which Nagle's algorithm would hold until the client's delayed ACK.
//!
//! How the IO knows that hyper is writing an automatic answer: hyper reads the next request head
//! only once the previous answer is flushed, and calls the service as soon as a head parses, so a
//! write while the connection waits for a head (no call since the last answer was flushed) can
//! only be one of hyper's own error answers. The service marks a request in flight; the answer's
//! body, when dropped, marks it done, and the next flush puts the connection back to waiting.

use crate::gateway::errors::raw_error_response;
use axum::body::{Body, HttpBody};
use axum::http::{Request, Response, StatusCode};
use hyper::body::{Frame, Incoming, SizeHint};
use hyper::server::conn::http1;
use hyper_util::rt::TokioIo;
use hyper_util::service::{TowerToHyperService, TowerToHyperServiceFuture};
use std::collections::HashMap;
use std::convert::Infallible;
use std::future::Future;
use std::io;
use std::pin::{Pin, pin};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering::Relaxed};
use std::sync::{Arc, Mutex};
use std::task::{Context, Poll, ready};
use std::time::{Duration, Instant};
use tokio::io::{AsyncRead, AsyncWrite, AsyncWriteExt, ReadBuf};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::{Notify, watch};
use tokio_util::task::TaskTracker;

/// The longest request head (request line and headers) a connection reads; a longer one is
/// refused with 431 (414 when the request line alone does not fit).
pub const MAX_HEAD_BYTES: usize = 16 * 1024;

/// File descriptors kept aside from the connection caps (database pools, files, the listeners).
const RESERVED_FDS: u64 = 256;

/// The connection limits of a port.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Limits {
    /// How long a request head may take to arrive, from its first byte (from the accept for a
    /// connection's first request).
    pub header_timeout: Duration,
    /// How long a keep-alive connection may wait for its next request.
    pub idle_timeout: Duration,
    /// The most open connections on the port.
    pub max_connections: usize,
}

impl Limits {
    /// The limits of `config`.
    pub fn of(config: &crate::Config) -> Limits {
        Limits {
            header_timeout: Duration::from_millis(config.header_timeout_ms),
            idle_timeout: Duration::from_millis(config.idle_timeout_ms),
            max_connections: config.max_connections,
        }
    }

    /// The cap that the open-file limit allows: raises the soft limit to the hard one, then keeps
    /// the cap under half of it (two ports), less some descriptors for everything else.
    fn effective_cap(&self) -> usize {
        let soft = match rlimit::increase_nofile_limit(u64::MAX) {
            Ok(n) => n,
            Err(e) => {
                tracing::debug!(error = %e, "cannot read or raise the open-file limit");
                return self.max_connections;
            }
        };
        let allowed = (soft.saturating_sub(RESERVED_FDS) / 2).max(1);
        let allowed = usize::try_from(allowed).unwrap_or(usize::MAX);
        if allowed < self.max_connections {
            tracing::warn!(
                max_connections = self.max_connections,
                open_file_limit = soft,
                cap = allowed,
                "max_connections is above what the open-file limit allows; capping"
            );
        }
        self.max_connections.min(allowed)
    }
}

/// One connection's state, shared by its IO, its service and the port's table.
struct Conn {
    /// Monotonic nanoseconds (+1) since the connection began waiting for a request head; 0 while
    /// a request is in flight.
    waiting_since: AtomicU64,
    /// When the first byte of the awaited head arrived (+1), 0 before.
    head_started: AtomicU64,
    /// Whether the request line of the awaited head is complete.
    line_done: AtomicBool,
    /// Whether a request was answered on this connection (then the idle timeout applies).
    served: AtomicBool,
    /// The answer's body was dropped: the next flush ends the answer.
    body_done: AtomicBool,
    /// Closes the connection to make room for another.
    evict: Notify,
    clock: Clock,
    /// The client's address (anonymous callers are rate-limited by it).
    peer: std::net::IpAddr,
}

/// Monotonic nanoseconds since the port started, +1 so that 0 can mean "none".
#[derive(Clone, Copy)]
struct Clock(Instant);

impl Clock {
    fn now(&self) -> u64 {
        u64::try_from(self.0.elapsed().as_nanos()).unwrap_or(u64::MAX - 1) + 1
    }

    fn instant(&self, t: u64) -> tokio::time::Instant {
        tokio::time::Instant::from_std(self.0 + Duration::from_nanos(t.saturating_sub(1)))
    }
}

fn nanos(d: Duration) -> u64 {
    u64::try_from(d.as_nanos()).unwrap_or(u64::MAX / 4)
}

/// Why a connection's wait is over.
enum Expiry {
    /// Not yet: check again at this time.
    At(u64),
    /// The head did not arrive whole in time (some of it came: answer 408).
    Head,
    /// Nothing came: close quietly.
    Idle,
}

impl Conn {
    fn new(clock: Clock, peer: std::net::IpAddr) -> Conn {
        Conn {
            peer,
            waiting_since: AtomicU64::new(clock.now()),
            head_started: AtomicU64::new(0),
            line_done: AtomicBool::new(false),
            served: AtomicBool::new(false),
            body_done: AtomicBool::new(false),
            evict: Notify::new(),
            clock,
        }
    }

    fn waiting(&self) -> bool {
        self.waiting_since.load(Relaxed) != 0
    }

    /// Bytes arrived: while waiting for a head, the first ones start the header timeout, and a
    /// newline ends the request line.
    fn on_read(&self, bytes: &[u8]) {
        if !self.waiting() {
            return;
        }
        if self.head_started.load(Relaxed) == 0 {
            self.head_started.store(self.clock.now(), Relaxed);
        }
        if !self.line_done.load(Relaxed) && bytes.contains(&b'\n') {
            self.line_done.store(true, Relaxed);
        }
    }

    /// The service was called: a request is in flight.
    fn on_request(&self) {
        self.waiting_since.store(0, Relaxed);
        self.head_started.store(0, Relaxed);
        self.line_done.store(false, Relaxed);
        self.served.store(true, Relaxed);
    }

    /// A flush completed: when the answer's body is done, the connection waits for a head again.
    fn on_flushed(&self) {
        if self.body_done.swap(false, Relaxed) {
            self.waiting_since.store(self.clock.now(), Relaxed);
        }
    }

    fn expiry(&self, limits: &Limits, now: u64) -> Expiry {
        let since = self.waiting_since.load(Relaxed);
        if since == 0 {
            // In flight: no deadline; look again later.
            return Expiry::At(now + nanos(limits.idle_timeout.max(limits.header_timeout)));
        }
        let started = self.head_started.load(Relaxed);
        let (deadline, expired) = if started != 0 {
            (started + nanos(limits.header_timeout), Expiry::Head)
        } else if self.served.load(Relaxed) {
            (since + nanos(limits.idle_timeout), Expiry::Idle)
        } else {
            (since + nanos(limits.header_timeout), Expiry::Idle)
        };
        if now >= deadline {
            expired
        } else {
            Expiry::At(deadline)
        }
    }
}

/// The open connections of a port.
struct Table {
    conns: Mutex<HashMap<u64, Arc<Conn>>>,
    cap: usize,
}

impl Table {
    /// Makes room for a new connection: `false` when the port is full of requests in flight.
    fn admit(&self, id: u64, conn: Arc<Conn>) -> bool {
        let mut conns = self.conns.lock().unwrap_or_else(|e| e.into_inner());
        if conns.len() >= self.cap {
            let oldest = conns
                .iter()
                .filter(|(_, c)| c.waiting())
                .min_by_key(|(_, c)| c.waiting_since.load(Relaxed))
                .map(|(id, _)| *id);
            match oldest.and_then(|id| conns.remove(&id)) {
                Some(victim) => victim.evict.notify_one(),
                None => return false,
            }
        }
        conns.insert(id, conn);
        true
    }

    fn remove(&self, id: u64) {
        self.conns
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .remove(&id);
    }
}

/// Serves `router` on `listener` with `limits` until `shutdown` turns true, then stops accepting
/// and lets in-flight requests finish.
pub(crate) async fn serve(
    listener: TcpListener,
    router: axum::Router,
    mut shutdown: watch::Receiver<bool>,
    limits: Limits,
) -> io::Result<()> {
    let clock = Clock(Instant::now());
    let table = Arc::new(Table {
        conns: Mutex::new(HashMap::new()),
        cap: limits.effective_cap(),
    });
    let tasks = TaskTracker::new();
    let mut next_id = 0u64;
    loop {
        let accepted = tokio::select! {
            accepted = listener.accept() => accepted,
            _ = shutdown.wait_for(|stop| *stop) => break,
        };
        let (tcp, peer) = match accepted {
            Ok((tcp, peer)) => (tcp, peer.ip()),
            Err(e) => {
                // Out of file descriptors, or a connection reset before it was accepted: wait a
                // little rather than spin.
                tracing::debug!(error = %e, "accept failed");
                tokio::time::sleep(Duration::from_millis(5)).await;
                continue;
            }
        };
        if let Err(e) = tcp.set_nodelay(true) {
            tracing::debug!(error = %e, "cannot set TCP_NODELAY");
        }
        next_id += 1;
        let conn = Arc::new(Conn::new(clock, peer));
        if !table.admit(next_id, conn.clone()) {
            // Every connection is busy with a request: say so, and close.
            let answer = raw_error_response(
                StatusCode::SERVICE_UNAVAILABLE,
                "unavailable",
                "the server is at its connection limit; retry shortly",
            );
            let _ = tcp.try_write(&answer);
            continue;
        }
        tasks.spawn(connection(
            next_id,
            tcp,
            router.clone(),
            conn,
            table.clone(),
            shutdown.clone(),
            limits,
        ));
    }
    drop(listener);
    tasks.close();
    tasks.wait().await;
    Ok(())
}

/// Serves one connection to its end.
async fn connection(
    id: u64,
    tcp: TcpStream,
    router: axum::Router,
    conn: Arc<Conn>,
    table: Arc<Table>,
    mut shutdown: watch::Receiver<bool>,
    limits: Limits,
) {
    let io = TokioIo::new(Io {
        tcp,
        conn: conn.clone(),
        replaced: Replaced::No,
    });
    let service = Tracked {
        inner: TowerToHyperService::new(router),
        conn: conn.clone(),
        peer: ClientAddr(conn.peer),
    };
    let mut http = http1::Builder::new();
    http.max_buf_size(MAX_HEAD_BYTES);
    let mut served = http.serve_connection(io, service);
    let clock = conn.clock;
    let mut sleep = pin!(tokio::time::sleep_until(
        clock.instant(clock.now() + nanos(limits.header_timeout))
    ));
    let mut draining = false;
    let mut head_timed_out = false;
    loop {
        tokio::select! {
            biased;
            done = &mut served => {
                if let Err(e) = done {
                    tracing::trace!(error = %e, "connection ended with an error");
                }
                break;
            }
            _ = conn.evict.notified() => break,
            _ = shutdown.wait_for(|stop| *stop), if !draining => {
                draining = true;
                Pin::new(&mut served).graceful_shutdown();
            }
            _ = &mut sleep => match conn.expiry(&limits, clock.now()) {
                Expiry::At(t) => sleep.as_mut().reset(clock.instant(t)),
                Expiry::Head => {
                    head_timed_out = true;
                    break;
                }
                Expiry::Idle => break,
            },
        }
    }
    if head_timed_out {
        let mut tcp = served.into_parts().io.into_inner().tcp;
        let answer = raw_error_response(
            StatusCode::REQUEST_TIMEOUT,
            "request_timeout",
            &format!(
                "the request head did not arrive within {} ms",
                limits.header_timeout.as_millis()
            ),
        );
        let _ = tokio::time::timeout(Duration::from_secs(1), async {
            tcp.write_all(&answer).await?;
            tcp.shutdown().await
        })
        .await;
    }
    table.remove(id);
}

/// The address a request came from, in its extensions: an anonymous caller's rate limits count
/// per address.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct ClientAddr(pub(crate) std::net::IpAddr);

/// The router as hyper's service, marking each request in flight and tracking its answer's body.
struct Tracked {
    inner: TowerToHyperService<axum::Router>,
    conn: Arc<Conn>,
    peer: ClientAddr,
}

type Answer = Result<Response<TrackedBody>, Infallible>;

impl hyper::service::Service<Request<Incoming>> for Tracked {
    type Response = Response<TrackedBody>;
    type Error = Infallible;
    type Future = TrackedAnswer;

    fn call(&self, mut req: Request<Incoming>) -> Self::Future {
        self.conn.on_request();
        req.extensions_mut().insert(self.peer);
        let access = AccessLog::start(&req);
        TrackedAnswer {
            answer: self.inner.call(req),
            access,
            conn: Some(self.conn.clone()),
        }
    }
}

pin_project_lite::pin_project! {
    /// The answer of one request: the router's, logged (when the access log is on) and with its
    /// body tracked. A future of its own type, so that no request boxes one.
    pub(crate) struct TrackedAnswer {
        #[pin]
        answer: TowerToHyperServiceFuture<axum::Router, Request<Incoming>>,
        access: Option<AccessLog>,
        conn: Option<Arc<Conn>>,
    }
}

impl Future for TrackedAnswer {
    type Output = Answer;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Answer> {
        let this = self.project();
        let resp = ready!(this.answer.poll(cx))?;
        if let Some(access) = this.access.take() {
            access.log(&resp);
        }
        let conn = this.conn.take();
        Poll::Ready(Ok(resp.map(|body| TrackedBody { body, conn })))
    }
}

/// The target of the access log: a line per request on both ports, at `info`.
pub(crate) const ACCESS_LOG: &str = "flowgate::access";

/// What the access log line of a request needs from it, taken only when the line is enabled
/// (otherwise nothing is copied or allocated).
struct AccessLog {
    start: Instant,
    method: axum::http::Method,
    uri: axum::http::Uri,
    given_id: Option<axum::http::HeaderValue>,
}

impl AccessLog {
    fn start<B>(req: &Request<B>) -> Option<AccessLog> {
        if !tracing::enabled!(target: ACCESS_LOG, tracing::Level::INFO) {
            return None;
        }
        Some(AccessLog {
            start: Instant::now(),
            method: req.method().clone(),
            uri: req.uri().clone(),
            given_id: req.headers().get("x-request-id").cloned(),
        })
    }

    /// The line: method, path, status, duration until the answer's head (in microseconds) and
    /// the request id (the one the answer carries, else the one the request sent, else `-`).
    fn log<B>(self, resp: &Response<B>) {
        let request_id = resp
            .headers()
            .get("x-request-id")
            .or(self.given_id.as_ref())
            .and_then(|v| v.to_str().ok())
            .unwrap_or("-");
        tracing::info!(
            target: ACCESS_LOG,
            method = %self.method,
            path = %self.uri.path(),
            status = resp.status().as_u16(),
            duration_us = u64::try_from(self.start.elapsed().as_micros()).unwrap_or(u64::MAX),
            request_id = %request_id,
            "request"
        );
    }
}

/// An answer's body that tells the connection when it is done (dropped).
pub(crate) struct TrackedBody {
    body: Body,
    conn: Option<Arc<Conn>>,
}

impl Drop for TrackedBody {
    fn drop(&mut self) {
        if let Some(conn) = self.conn.take() {
            conn.body_done.store(true, Relaxed);
        }
    }
}

impl HttpBody for TrackedBody {
    type Data = axum::body::Bytes;
    type Error = axum::Error;

    fn poll_frame(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Self::Data>, Self::Error>>> {
        Pin::new(&mut self.body).poll_frame(cx)
    }

    fn is_end_stream(&self) -> bool {
        self.body.is_end_stream()
    }

    fn size_hint(&self) -> SizeHint {
        self.body.size_hint()
    }
}

/// Whether hyper's automatic answer was replaced.
enum Replaced {
    No,
    /// Writing the replacement (bytes, how many written).
    Writing(Vec<u8>, usize),
    /// Written: whatever hyper writes after is dropped (it closes the connection next).
    Done,
}

/// The TCP stream as hyper sees it: notes reads and flushes for the connection's state, and
/// replaces hyper's empty automatic error answers with the JSON error object.
struct Io {
    tcp: TcpStream,
    conn: Arc<Conn>,
    replaced: Replaced,
}

impl Io {
    /// Whether hyper is writing an automatic answer: any write while no request is in flight.
    fn intercepts(&mut self, first: &[u8]) -> bool {
        match self.replaced {
            Replaced::No => {}
            Replaced::Writing(..) | Replaced::Done => return true,
        }
        if !self.conn.waiting() || !first.starts_with(b"HTTP/1.1 ") {
            return false;
        }
        let status = first
            .get(9..12)
            .and_then(|s| std::str::from_utf8(s).ok())
            .and_then(|s| s.parse::<u16>().ok())
            .unwrap_or(400);
        let answer = match status {
            431 if !self.conn.line_done.load(Relaxed) => raw_error_response(
                StatusCode::URI_TOO_LONG,
                "uri_too_long",
                &format!("the request line is longer than {MAX_HEAD_BYTES} bytes"),
            ),
            431 => raw_error_response(
                StatusCode::REQUEST_HEADER_FIELDS_TOO_LARGE,
                "headers_too_large",
                &format!("the request head is longer than {MAX_HEAD_BYTES} bytes"),
            ),
            414 => raw_error_response(
                StatusCode::URI_TOO_LONG,
                "uri_too_long",
                "the request target is too long",
            ),
            _ => raw_error_response(
                StatusCode::BAD_REQUEST,
                "bad_request",
                "malformed HTTP request",
            ),
        };
        self.replaced = Replaced::Writing(answer, 0);
        true
    }

    /// Writes the replacement answer; Ready once it is all written.
    fn poll_replacement(&mut self, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        while let Replaced::Writing(bytes, at) = &mut self.replaced {
            if *at >= bytes.len() {
                self.replaced = Replaced::Done;
                break;
            }
            let n = ready!(Pin::new(&mut self.tcp).poll_write(cx, &bytes[*at..]))?;
            if n == 0 {
                return Poll::Ready(Err(io::ErrorKind::WriteZero.into()));
            }
            *at += n;
        }
        Poll::Ready(Ok(()))
    }
}

impl AsyncRead for Io {
    fn poll_read(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        let this = self.get_mut();
        let before = buf.filled().len();
        ready!(Pin::new(&mut this.tcp).poll_read(cx, buf))?;
        let read = &buf.filled()[before..];
        if !read.is_empty() {
            this.conn.on_read(read);
        }
        Poll::Ready(Ok(()))
    }
}

impl AsyncWrite for Io {
    fn poll_write(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        let this = self.get_mut();
        if this.intercepts(buf) {
            ready!(this.poll_replacement(cx))?;
            return Poll::Ready(Ok(buf.len()));
        }
        Pin::new(&mut this.tcp).poll_write(cx, buf)
    }

    fn poll_write_vectored(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[io::IoSlice<'_>],
    ) -> Poll<io::Result<usize>> {
        let this = self.get_mut();
        let first = bufs.iter().find(|b| !b.is_empty()).map_or(&[][..], |b| b);
        if this.intercepts(first) {
            ready!(this.poll_replacement(cx))?;
            return Poll::Ready(Ok(bufs.iter().map(|b| b.len()).sum()));
        }
        Pin::new(&mut this.tcp).poll_write_vectored(cx, bufs)
    }

    fn is_write_vectored(&self) -> bool {
        self.tcp.is_write_vectored()
    }

    fn poll_flush(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        let this = self.get_mut();
        ready!(this.poll_replacement(cx))?;
        ready!(Pin::new(&mut this.tcp).poll_flush(cx))?;
        this.conn.on_flushed();
        Poll::Ready(Ok(()))
    }

    fn poll_shutdown(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        let this = self.get_mut();
        ready!(this.poll_replacement(cx))?;
        Pin::new(&mut this.tcp).poll_shutdown(cx)
    }
}
