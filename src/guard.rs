//! The connection guard: what every downstream connection and every request head must get
//! past before the HTTP parser sees it.
//!
//! Two layers wrap the proxy application:
//! - [`Connections`] (a `ServerApp`) holds one of `[limits] max_connections` slots for a
//!   connection's whole life; with none free the connection is closed at once.
//! - [`Heads`] (an `HttpServerApp`, so pingora's own HTTP/1 keep-alive loop calls it for
//!   every request of a connection) reads each request head itself: it refuses a head that
//!   crosses a limit of [`qrgate_core::head`] (414/431, then close) as soon as it does, closes
//!   a connection whose head is not complete within `header_timeout` of its first byte
//!   (slowloris) or that sends nothing for `keepalive_timeout`, and hands the bytes back to
//!   the stream (pingora's rewind buffer), so the parser sees the request exactly as sent.
//!
//! TLS and HTTP/2 streams go straight to the application: their bytes are not plain HTTP/1
//! here, and their stacks bound their own frames.

use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;
use pingora::apps::{HttpServerApp, HttpServerOptions, ReusedHttpStream, ServerApp};
use pingora::protocols::http::ServerSession;
use pingora::protocols::l4::stream::Stream as L4Stream;
use pingora::protocols::Stream;
use pingora::server::ShutdownWatch;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::sync::Semaphore;
use tokio::time::Instant;

use qrgate_core::config::LimitsConfig;
use qrgate_core::head::{self, HeadLimits, HeadRefusal, HeadScan};
use qrgate_core::reply::{Reply, SECURITY_HEADERS};
use qrgate_core::respond;

/// Caps open downstream connections.
pub struct Connections<A> {
    inner: Arc<A>,
    slots: Arc<Semaphore>,
}

impl<A> Connections<A> {
    /// At most `max` connections into `inner` at once.
    pub fn new(inner: Arc<A>, max: usize) -> Self {
        Connections {
            inner,
            slots: Arc::new(Semaphore::new(max)),
        }
    }
}

#[async_trait]
impl<A: ServerApp + Send + Sync + 'static> ServerApp for Connections<A> {
    async fn process_new(
        self: &Arc<Self>,
        stream: Stream,
        shutdown: &ShutdownWatch,
    ) -> Option<Stream> {
        // Held until the inner application is done with the connection.
        let Ok(_slot) = self.slots.clone().try_acquire_owned() else {
            tracing::debug!("connection refused: max_connections reached");
            return None;
        };
        let mut next = self.inner.process_new(stream, shutdown).await;
        while let Some(s) = next {
            next = self.inner.process_new(s, shutdown).await;
        }
        None
    }

    async fn cleanup(&self) {
        self.inner.cleanup().await;
    }
}

/// Checks every HTTP/1 request head before the application parses it.
pub struct Heads<A> {
    inner: Arc<A>,
    limits: HeadLimits,
    header_timeout: Duration,
    keepalive_timeout: Duration,
    /// After shutdown begins, how long a quiet connection may still send a request head.
    drain: Duration,
}

/// How waiting for a request head ended.
enum Head {
    /// A complete head is buffered in the stream.
    Ready(Stream),
    /// The client closed, stayed quiet, was too slow or was refused.
    Done,
}

impl<A> Heads<A> {
    /// Guards `inner` with the configured limits.
    /// Once the server shuts down, a connection still gets `drain` to send its next head
    /// (a connection accepted just before the listener stopped has sent nothing yet).
    pub fn new(inner: Arc<A>, limits: &LimitsConfig, drain: Duration) -> Self {
        Heads {
            inner,
            limits: HeadLimits {
                max_line: limits.max_request_line,
                max_head: limits.max_header_bytes,
                max_headers: limits.max_headers,
            },
            header_timeout: limits.header_timeout,
            keepalive_timeout: limits.keepalive_timeout,
            drain,
        }
    }

    /// Reads until one complete request head is buffered: the first byte within the
    /// keep-alive timeout, the rest within the header timeout of it.
    async fn await_head(&self, mut l4: Box<L4Stream>, shutdown: &ShutdownWatch) -> Head {
        let mut buf: Vec<u8> = Vec::with_capacity(1024);
        let mut deadline = Instant::now() + self.keepalive_timeout;
        let mut shutdown = shutdown.clone();
        let mut draining = *shutdown.borrow();
        if draining {
            deadline = deadline.min(Instant::now() + self.drain);
        }
        loop {
            let was_empty = buf.is_empty();
            tokio::select! {
                r = tokio::time::timeout_at(deadline, l4.read_buf(&mut buf)) => match r {
                    Ok(Ok(n)) if n > 0 => {}
                    _ => return Head::Done,
                },
                // Between requests a shutdown leaves the connection the drain window for a
                // head already on its way (it is answered with `Connection: close`).
                r = shutdown.changed(), if was_empty && !draining => {
                    draining = true;
                    if r.is_ok() {
                        deadline = deadline.min(Instant::now() + self.drain);
                    }
                    continue;
                }
            }
            if was_empty {
                deadline = Instant::now() + self.header_timeout;
            }
            match head::scan(&buf, &self.limits) {
                HeadScan::Incomplete => {}
                HeadScan::Complete(_) => {
                    l4.rewind(&buf);
                    return Head::Ready(l4);
                }
                HeadScan::Refused(refusal) => {
                    refuse(&mut l4, refusal).await;
                    return Head::Done;
                }
            }
        }
    }
}

#[async_trait]
impl<A: HttpServerApp + Send + Sync + 'static> HttpServerApp for Heads<A> {
    async fn process_new_http(
        self: &Arc<Self>,
        session: ServerSession,
        shutdown: &ShutdownWatch,
    ) -> Option<ReusedHttpStream> {
        let ServerSession::H1(h1) = session else {
            return self.inner.process_new_http(session, shutdown).await;
        };
        let stream = h1.into_inner();
        if !stream.as_any().is::<L4Stream>() {
            let session = ServerSession::new_http1(stream);
            return self.inner.process_new_http(session, shutdown).await;
        }
        let l4 = stream.into_any().downcast::<L4Stream>().ok()?;
        // Boxed: the wait's state lives on the heap only while the head is awaited, not for
        // the whole life of a connection that then holds an event stream open for minutes.
        let Head::Ready(stream) = Box::pin(self.await_head(l4, shutdown)).await else {
            return None;
        };
        let mut session = ServerSession::new_http1(stream);
        if *shutdown.borrow() {
            session.set_keepalive(None);
        } else {
            // pingora's own default would keep an idle connection forever after its first
            // request; this guard waits for the next head itself, so any positive value works.
            session.set_keepalive(Some(self.keepalive_timeout.as_secs().max(1)));
        }
        self.inner.process_new_http(session, shutdown).await
    }

    fn h2_options(&self) -> Option<pingora::protocols::http::v2::server::H2Options> {
        self.inner.h2_options()
    }

    fn server_options(&self) -> Option<&HttpServerOptions> {
        self.inner.server_options()
    }

    async fn http_cleanup(&self) {
        self.inner.http_cleanup().await;
    }
}

/// Answers a refused head and closes.
async fn refuse(stream: &mut L4Stream, refusal: HeadRefusal) {
    let bytes = raw_response(&respond::head_refusal(&refusal));
    let _ = stream.write_all(&bytes).await;
    let _ = stream.flush().await;
    let _ = stream.shutdown().await;
}

/// A reply as HTTP/1.1 bytes, closing the connection.
fn raw_response(reply: &Reply) -> Vec<u8> {
    let reason = http::StatusCode::from_u16(reply.status)
        .ok()
        .and_then(|s| s.canonical_reason())
        .unwrap_or("");
    let mut head = format!(
        "HTTP/1.1 {} {reason}\r\ncontent-type: {}\r\ncontent-length: {}\r\nconnection: close\r\n",
        reply.status,
        reply.content_type,
        reply.body.len()
    );
    for (name, value) in SECURITY_HEADERS {
        head.push_str(&format!("{name}: {value}\r\n"));
    }
    head.push_str("\r\n");
    let mut bytes = head.into_bytes();
    bytes.extend_from_slice(&reply.body);
    bytes
}
