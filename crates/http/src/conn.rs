//! The accept loop and the connection guard in front of hyper.
//!
//! Every connection is served by hyper (HTTP/1.1, or HTTP/2 with prior knowledge) through a
//! thin wrapper around the socket that knows, from the application side, whether a request is
//! being answered. With that it enforces:
//!
//! * a time limit for a request head to arrive (from the connection's start, or from the first
//!   byte of a later request), and one for an idle keep-alive connection between requests;
//! * the JSON error envelope for requests hyper itself refuses before levd sees them (a target
//!   longer than it reads, too many or too large headers, a malformed head): when HTTP/1 has no
//!   request in progress and every answer has been flushed, the only thing hyper writes is its
//!   own bare refusal, which the wrapper replaces with the envelope of the same status.
//!
//! The accept loop caps concurrent connections; one beyond the cap is answered `503` with the
//! envelope and closed.
use std::convert::Infallible;
use std::future::Future;
use std::io;
use std::net::SocketAddr;
use std::pin::Pin;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::task::{Context, Poll};
use std::time::Duration;

use axum::Router;
use axum::body::{Body, Bytes};
use axum::extract::ConnectInfo;
use axum::response::Response;
use http_body::{Frame, SizeHint};
use hyper::body::Incoming;
use hyper_util::rt::{TokioExecutor, TokioIo};
use levd_domain::{ApiError, ErrorKind};
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt, ReadBuf};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::{OwnedSemaphorePermit, Semaphore, watch};
use tokio::time::{Instant, Sleep};
use tower::ServiceExt;

use crate::envelope::error_body;

/// Limits of the connection layer.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ConnectionLimits {
    /// Time for a whole request head to arrive: from the connection's start for the first
    /// request, from its first byte for later ones.
    pub header_read_timeout: Duration,
    /// Time a keep-alive connection may wait for its next request.
    pub idle_timeout: Duration,
    /// Connections served at once; further ones are answered `503` and closed.
    pub max_connections: usize,
}

impl Default for ConnectionLimits {
    fn default() -> Self {
        ConnectionLimits {
            header_read_timeout: Duration::from_secs(10),
            idle_timeout: Duration::from_secs(60),
            max_connections: 10_000,
        }
    }
}

/// Most a connection buffers of a request head (hyper's default is about 400 KiB): what an
/// unauthenticated client can make levd hold, per connection, until the head time limit.
/// Request targets beyond hyper's own 64 KiB limit still fit, so they are answered 414.
const READ_BUFFER: usize = 128 * 1024;
/// Refused or finished connections being drained at once (beyond it they are closed at once).
const DRAINS_IN_FLIGHT: usize = 256;
/// How long and how much a closing connection is read so its last answer is not lost to a reset.
const DRAIN_TIME: Duration = Duration::from_secs(2);
const DRAIN_BYTES: usize = 1024 * 1024;

/// Serves `router` on `listener` until `shutdown` completes, then lets open connections finish
/// their requests.
pub async fn serve_with_limits(
    listener: TcpListener,
    router: Router,
    shutdown: impl Future<Output = ()> + Send + 'static,
    limits: ConnectionLimits,
) -> io::Result<()> {
    let permits = Arc::new(Semaphore::new(limits.max_connections.max(1)));
    let drains = Arc::new(Semaphore::new(DRAINS_IN_FLIGHT));
    // Closed when shutdown starts; every connection holds a receiver of the second channel,
    // so its sender sees no receivers once all connections ended.
    let (signal_tx, signal_rx) = watch::channel(());
    let (close_tx, close_rx) = watch::channel(());
    let mut shutdown = std::pin::pin!(shutdown);
    loop {
        let (stream, addr) = tokio::select! {
            accepted = listener.accept() => match accepted {
                Ok(a) => a,
                Err(e) => {
                    // Out of descriptors and the like: wait a moment rather than spin.
                    tracing::warn!(error = %e, "accept failed");
                    tokio::time::sleep(Duration::from_millis(50)).await;
                    continue;
                }
            },
            () = &mut shutdown => break,
        };
        let Ok(permit) = permits.clone().try_acquire_owned() else {
            refuse_over_capacity(stream, &drains);
            continue;
        };
        let _ = stream.set_nodelay(true);
        let activity = Arc::new(Activity::default());
        let io = TokioIo::new(Guarded::new(stream, activity.clone(), limits, permit, drains.clone()));
        let service = ConnService { router: router.clone(), addr, activity };
        let mut signal_rx = signal_rx.clone();
        let close_rx = close_rx.clone();
        tokio::spawn(async move {
            let mut builder = hyper_util::server::conn::auto::Builder::new(TokioExecutor::new());
            builder.http1().max_buf_size(READ_BUFFER);
            let mut conn = std::pin::pin!(builder.serve_connection(io, service));
            let mut signalled = false;
            loop {
                tokio::select! {
                    result = conn.as_mut() => {
                        if let Err(e) = result {
                            tracing::debug!(error = %e, "connection ended with an error");
                        }
                        break;
                    }
                    _ = signal_rx.changed(), if !signalled => {
                        signalled = true;
                        conn.as_mut().graceful_shutdown();
                    }
                }
            }
            drop(close_rx);
        });
    }
    drop(listener);
    drop(signal_rx);
    let _ = signal_tx.send(());
    drop(close_rx);
    close_tx.closed().await;
    Ok(())
}

/// What the application side of one connection has done: requests handed to the router and
/// answers whose body has ended.
#[derive(Default)]
struct Activity {
    calls: AtomicU64,
    ended: AtomicU64,
    /// The HTTP/2 connection's reader, woken when an answer ends so the idle limit starts.
    reader: parking_lot::Mutex<Option<std::task::Waker>>,
}

/// The router as hyper's service for one connection, with the client's address.
#[derive(Clone)]
struct ConnService {
    router: Router,
    addr: SocketAddr,
    activity: Arc<Activity>,
}

type BoxedResponse = Pin<Box<dyn Future<Output = Result<Response<Tracked>, Infallible>> + Send>>;

impl hyper::service::Service<http::Request<Incoming>> for ConnService {
    type Response = Response<Tracked>;
    type Error = Infallible;
    type Future = BoxedResponse;

    fn call(&self, req: http::Request<Incoming>) -> Self::Future {
        self.activity.calls.fetch_add(1, Ordering::SeqCst);
        let mut req = req.map(Body::new);
        req.extensions_mut().insert(ConnectInfo(self.addr));
        let router = self.router.clone();
        // Counts the answer ended when its body ends, or when this future is dropped unanswered
        // (an HTTP/2 stream the client reset).
        let answer = Answer(Some(self.activity.clone()));
        Box::pin(async move {
            let resp = match router.oneshot(req).await {
                Ok(r) => r,
                Err(never) => match never {},
            };
            Ok(resp.map(|inner| Tracked { inner, answer }))
        })
    }
}

/// One request's answer, counted ended once: when finished or dropped.
struct Answer(Option<Arc<Activity>>);

impl Answer {
    fn finish(&mut self) {
        if let Some(a) = self.0.take() {
            a.ended.fetch_add(1, Ordering::SeqCst);
            if let Some(w) = a.reader.lock().take() {
                w.wake();
            }
        }
    }
}

impl Drop for Answer {
    fn drop(&mut self) {
        self.finish();
    }
}

/// A response body that counts its answer ended when it reports its end or is dropped (hyper
/// drops it once the last frame is written into its buffer).
pub struct Tracked {
    inner: Body,
    answer: Answer,
}

impl http_body::Body for Tracked {
    type Data = Bytes;
    type Error = axum::Error;

    fn poll_frame(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Result<Frame<Bytes>, axum::Error>>> {
        let this = self.get_mut();
        let r = Pin::new(&mut this.inner).poll_frame(cx);
        if let Poll::Ready(None) = r {
            this.answer.finish();
        }
        r
    }

    fn is_end_stream(&self) -> bool {
        self.inner.is_end_stream()
    }

    fn size_hint(&self) -> SizeHint {
        self.inner.size_hint()
    }
}

/// The socket of one connection, between it and hyper.
struct Guarded {
    io: Option<TcpStream>,
    activity: Arc<Activity>,
    limits: ConnectionLimits,
    /// Answers whose body had ended when the socket was last flushed: when it equals the
    /// requests handed to the router, nothing of levd's is being written.
    settled: u64,
    /// Requests handed to the router when the socket was last read.
    seen_calls: u64,
    /// When the head being waited for started (the connection's start, or its first byte).
    head_started: Option<Instant>,
    /// When the connection became idle after its last answer.
    idle_since: Option<Instant>,
    timer: Pin<Box<Sleep>>,
    /// Whether the first bytes have been seen, and whether they opened HTTP/2.
    sniffed: bool,
    http2: bool,
    /// The envelope that replaces hyper's own refusal, and how much of it is written.
    replacement: Option<(Vec<u8>, usize)>,
    permit: Option<OwnedSemaphorePermit>,
    drains: Arc<Semaphore>,
}

impl Guarded {
    fn new(
        io: TcpStream,
        activity: Arc<Activity>,
        limits: ConnectionLimits,
        permit: OwnedSemaphorePermit,
        drains: Arc<Semaphore>,
    ) -> Guarded {
        let now = Instant::now();
        Guarded {
            io: Some(io),
            activity,
            limits,
            settled: 0,
            seen_calls: 0,
            head_started: Some(now),
            idle_since: None,
            timer: Box::pin(tokio::time::sleep_until(now + limits.header_read_timeout)),
            sniffed: false,
            http2: false,
            replacement: None,
            permit: Some(permit),
            drains,
        }
    }

    fn stream(&mut self) -> io::Result<&mut TcpStream> {
        self.io.as_mut().ok_or_else(|| io::Error::from(io::ErrorKind::NotConnected))
    }

    /// Whether levd has no request in progress and every answer is flushed.
    fn quiet(&self) -> bool {
        self.activity.calls.load(Ordering::SeqCst) == self.settled
    }

    /// HTTP/2 multiplexes requests and writes frames of its own at any time, so only the idle
    /// limit applies: no stream in progress and nothing received for that long ends the
    /// connection.
    fn poll_http2_idle(&mut self, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        let busy = self.activity.calls.load(Ordering::SeqCst) != self.activity.ended.load(Ordering::SeqCst);
        if busy {
            *self.activity.reader.lock() = Some(cx.waker().clone());
            // An answer may have ended between the check and the registration.
            if self.activity.calls.load(Ordering::SeqCst) != self.activity.ended.load(Ordering::SeqCst) {
                self.idle_since = None;
                return Poll::Pending;
            }
        }
        let deadline = *self.idle_since.get_or_insert_with(Instant::now) + self.limits.idle_timeout;
        if self.timer.deadline() != deadline {
            self.timer.as_mut().reset(deadline);
        }
        match self.timer.as_mut().poll(cx) {
            Poll::Pending => Poll::Pending,
            Poll::Ready(()) => Poll::Ready(Ok(())),
        }
    }

    /// Notes requests handed to the router since the last read: the head waited for then is
    /// the next one, not yet started.
    fn observe_calls(&mut self) {
        let calls = self.activity.calls.load(Ordering::SeqCst);
        if calls != self.seen_calls {
            self.seen_calls = calls;
            self.head_started = None;
            self.idle_since = None;
        }
    }

    /// Writes what is left of the replacement envelope.
    fn poll_replacement(&mut self, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        let Some((mut bytes, mut at)) = self.replacement.take() else { return Poll::Ready(Ok(())) };
        while at < bytes.len() {
            let stream = self.stream()?;
            match Pin::new(stream).poll_write(cx, &bytes[at..]) {
                Poll::Ready(Ok(0)) => return Poll::Ready(Err(io::ErrorKind::WriteZero.into())),
                Poll::Ready(Ok(n)) => at += n,
                Poll::Ready(Err(e)) => return Poll::Ready(Err(e)),
                Poll::Pending => {
                    self.replacement = Some((bytes, at));
                    return Poll::Pending;
                }
            }
        }
        // Written: keep an empty marker so whatever hyper writes after its refusal is dropped.
        bytes.clear();
        self.replacement = Some((bytes, 0));
        Poll::Ready(Ok(()))
    }

    /// Takes over a write of hyper's when it is hyper's own refusal; returns whether it did.
    fn intercept(&mut self, first: &[u8]) -> bool {
        if self.replacement.is_some() {
            return true;
        }
        if self.http2 || !self.quiet() {
            return false;
        }
        let Some(status) = refusal_status(first) else { return false };
        self.replacement = Some((envelope_response(status), 0));
        true
    }
}

/// The status of a bare response head hyper writes for a request it could not parse.
fn refusal_status(head: &[u8]) -> Option<u16> {
    let rest = head.strip_prefix(b"HTTP/1.1 ").or_else(|| head.strip_prefix(b"HTTP/1.0 "))?;
    let digits = rest.get(..3)?;
    if !digits.iter().all(u8::is_ascii_digit) {
        return None;
    }
    let status = digits.iter().fold(0u16, |n, d| n * 10 + u16::from(d - b'0'));
    (400..600).contains(&status).then_some(status)
}

/// A complete HTTP/1.1 response carrying the error envelope for `status`, closing the connection.
fn envelope_response(status: u16) -> Vec<u8> {
    let error = match status {
        414 => ApiError::new(ErrorKind::UriTooLong, "The request target is too long"),
        431 => ApiError::new(ErrorKind::HeaderFieldsTooLarge, "The request headers are too many or too large"),
        408 => ApiError::new(ErrorKind::Unavailable, "The request head did not arrive in time"),
        503 => ApiError::unavailable("The server is at its connection limit; retry later"),
        s if s >= 500 => ApiError::new(ErrorKind::from_status(s), "The request could not be processed"),
        _ => ApiError::bad_request("The request could not be parsed as HTTP"),
    };
    let status = error.status();
    let request_id = uuid::Uuid::new_v4().hyphenated().to_string();
    let body = serde_json::to_vec(&error_body(&request_id, &error)).unwrap_or_default();
    let reason = http::StatusCode::from_u16(status).ok().and_then(|s| s.canonical_reason()).unwrap_or("Error");
    let mut out = format!(
        "HTTP/1.1 {status} {reason}\r\ncontent-type: application/json\r\ncontent-length: {}\r\nx-request-id: \
         {request_id}\r\nconnection: close\r\n\r\n",
        body.len()
    )
    .into_bytes();
    out.extend_from_slice(&body);
    out
}

impl AsyncRead for Guarded {
    fn poll_read(self: Pin<&mut Self>, cx: &mut Context<'_>, buf: &mut ReadBuf<'_>) -> Poll<io::Result<()>> {
        let this = self.get_mut();
        this.observe_calls();
        let before = buf.filled().len();
        match Pin::new(this.stream()?).poll_read(cx, buf) {
            Poll::Ready(Ok(())) => {
                let fresh = &buf.filled()[before..];
                if !this.sniffed && !fresh.is_empty() {
                    this.sniffed = true;
                    this.http2 = fresh.starts_with(b"PRI * HTTP/2");
                }
                if this.http2 && !fresh.is_empty() {
                    this.head_started = None;
                    this.idle_since = None;
                } else if !fresh.is_empty() && this.head_started.is_none() && this.quiet() {
                    this.head_started = Some(Instant::now());
                }
                return Poll::Ready(Ok(()));
            }
            Poll::Ready(Err(e)) => return Poll::Ready(Err(e)),
            Poll::Pending => {}
        }
        if this.http2 {
            return this.poll_http2_idle(cx);
        }
        if !this.quiet() {
            // A request is in progress (its body being read): the request's own time limit applies.
            this.head_started = None;
            this.idle_since = None;
            return Poll::Pending;
        }
        let (deadline, idle) = match this.head_started {
            Some(started) => (started + this.limits.header_read_timeout, false),
            None => (*this.idle_since.get_or_insert_with(Instant::now) + this.limits.idle_timeout, true),
        };
        if this.timer.deadline() != deadline {
            this.timer.as_mut().reset(deadline);
        }
        if this.timer.as_mut().poll(cx).is_pending() {
            return Poll::Pending;
        }
        if idle {
            // The end of an idle keep-alive connection: a clean close.
            Poll::Ready(Ok(()))
        } else {
            Poll::Ready(Err(io::Error::new(io::ErrorKind::TimedOut, "request head not received in time")))
        }
    }
}

impl AsyncWrite for Guarded {
    fn poll_write(self: Pin<&mut Self>, cx: &mut Context<'_>, buf: &[u8]) -> Poll<io::Result<usize>> {
        let this = self.get_mut();
        if this.intercept(buf) {
            return Poll::Ready(Ok(buf.len()));
        }
        Pin::new(this.stream()?).poll_write(cx, buf)
    }

    fn poll_write_vectored(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[io::IoSlice<'_>],
    ) -> Poll<io::Result<usize>> {
        let this = self.get_mut();
        let first = bufs.iter().find(|b| !b.is_empty()).map_or(&[][..], |b| &b[..]);
        if this.intercept(first) {
            return Poll::Ready(Ok(bufs.iter().map(|b| b.len()).sum()));
        }
        Pin::new(this.stream()?).poll_write_vectored(cx, bufs)
    }

    fn is_write_vectored(&self) -> bool {
        self.io.as_ref().is_some_and(AsyncWrite::is_write_vectored)
    }

    fn poll_flush(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        let this = self.get_mut();
        std::task::ready!(this.poll_replacement(cx))?;
        // Read before flushing: an answer whose body ended before this flush is on the wire after it.
        let ended = this.activity.ended.load(Ordering::SeqCst);
        std::task::ready!(Pin::new(this.stream()?).poll_flush(cx))?;
        if this.settled != ended {
            this.settled = ended;
            // The read hyper has pending was registered while a request was in progress, without
            // a time limit: have it polled again so the idle limit starts.
            if this.quiet() {
                cx.waker().wake_by_ref();
            }
        }
        Poll::Ready(Ok(()))
    }

    fn poll_shutdown(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        let this = self.get_mut();
        std::task::ready!(this.poll_replacement(cx))?;
        Pin::new(this.stream()?).poll_shutdown(cx)
    }
}

impl Drop for Guarded {
    fn drop(&mut self) {
        // After a replaced refusal the client may still be sending the rest of its request;
        // closing with unread bytes would reset the connection and could discard the answer.
        if self.replacement.is_some()
            && let Some(stream) = self.io.take()
        {
            drain_and_close(stream, self.permit.take(), &self.drains);
        }
    }
}

/// Half-closes `stream`, reads and discards what the client still sends (bounded in time and
/// size) and closes it, holding `permit` until then.
fn drain_and_close(stream: TcpStream, permit: Option<OwnedSemaphorePermit>, drains: &Arc<Semaphore>) {
    close_gently(stream, None, permit, drains);
}

/// Answers a connection beyond the cap with `503` and the envelope, then closes it.
fn refuse_over_capacity(stream: TcpStream, drains: &Arc<Semaphore>) {
    close_gently(stream, Some(envelope_response(503)), None, drains);
}

/// Writes `answer` (if any), half-closes `stream`, reads and discards what the client still
/// sends (bounded in time and size) and closes it; `permit` is held until then. Closing this
/// way lets the client read the answer instead of meeting a reset. When too many connections
/// are being drained already, the stream is dropped at once.
fn close_gently(
    stream: TcpStream,
    answer: Option<Vec<u8>>,
    permit: Option<OwnedSemaphorePermit>,
    drains: &Arc<Semaphore>,
) {
    let Ok(drain) = drains.clone().try_acquire_owned() else { return };
    tokio::spawn(async move {
        let mut stream = stream;
        let _ = tokio::time::timeout(DRAIN_TIME, async {
            if let Some(answer) = answer {
                let _ = stream.write_all(&answer).await;
            }
            let _ = stream.shutdown().await;
            let mut sink = [0u8; 4096];
            let mut total = 0;
            while total < DRAIN_BYTES {
                match stream.read(&mut sink).await {
                    Ok(0) | Err(_) => break,
                    Ok(n) => total += n,
                }
            }
        })
        .await;
        drop((permit, drain));
    });
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn refusal_heads_are_recognised_by_their_status() {
        assert_eq!(refusal_status(b"HTTP/1.1 414 URI Too Long\r\ncontent-length: 0\r\n\r\n"), Some(414));
        assert_eq!(refusal_status(b"HTTP/1.1 431 Request Header Fields Too Large\r\n\r\n"), Some(431));
        assert_eq!(refusal_status(b"HTTP/1.1 200 OK\r\n\r\n"), None);
        assert_eq!(refusal_status(b"{\"data\": 1}"), None);
        assert_eq!(refusal_status(b"HTTP/1.1 4x0 Odd\r\n\r\n"), None);
    }

    #[test]
    fn replacement_answers_carry_the_envelope() {
        let bytes = envelope_response(414);
        let text = String::from_utf8(bytes).unwrap_or_default();
        let (head, body) = text.split_once("\r\n\r\n").unwrap_or_default();
        assert!(head.starts_with("HTTP/1.1 414 URI Too Long\r\n"), "{head}");
        assert!(head.contains(&format!("content-length: {}", body.len())), "{head}");
        let v: serde_json::Value = serde_json::from_str(body).unwrap_or_default();
        assert_eq!(v["error"]["code"], "URI_TOO_LONG");
        assert_eq!(v["error"]["status"], 414);
    }
}
