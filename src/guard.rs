//! The connection guard: what every downstream connection must get past before the HTTP
//! parser sees it.
//!
//! [`Guard`] wraps the proxy application and, per connection:
//! - holds one of `[limits] max_connections` slots for the connection's whole life; with
//!   none free the connection is closed at once;
//! - reads each request head itself, refusing it (414/431, then close) as soon as it crosses
//!   a limit of [`qrgate_core::head`], and closing a connection whose head is not complete
//!   within `header_timeout` (slowloris) or that stays idle between requests longer than
//!   `keepalive_timeout`;
//! - hands the bytes it read back to the stream (pingora's rewind buffer), so the parser sees
//!   the request exactly as sent.
//!
//! TLS streams (whose bytes are not plain text here) go straight to the application.

use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;
use pingora::apps::ServerApp;
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

/// A server application behind the connection guard.
pub struct Guard<A> {
    inner: Arc<A>,
    limits: HeadLimits,
    header_timeout: Duration,
    keepalive_timeout: Duration,
    slots: Arc<Semaphore>,
    max_connections: usize,
}

/// How waiting for a request head ended.
enum Head {
    /// A complete head is buffered in the stream; let the application read it.
    Ready(Stream),
    /// The client closed, went quiet, or was refused; the connection is done.
    Done,
}

impl<A> Guard<A> {
    /// Guards `inner` with the configured limits.
    pub fn new(inner: Arc<A>, limits: &LimitsConfig) -> Self {
        Guard {
            inner,
            limits: HeadLimits {
                max_line: limits.max_request_line,
                max_head: limits.max_header_bytes,
                max_headers: limits.max_headers,
            },
            header_timeout: limits.header_timeout,
            keepalive_timeout: limits.keepalive_timeout,
            slots: Arc::new(Semaphore::new(limits.max_connections)),
            max_connections: limits.max_connections,
        }
    }

    /// Open connections now.
    pub fn open_connections(&self) -> usize {
        self.max_connections
            .saturating_sub(self.slots.available_permits())
    }

    /// Waits for one complete request head. `idle` bounds the wait for its first byte; once
    /// a byte has arrived the whole head must follow within the header timeout.
    async fn await_head(&self, stream: Stream, idle: Duration) -> Head {
        if !stream.as_any().is::<L4Stream>() {
            return Head::Ready(stream);
        }
        let Ok(mut l4) = stream.into_any().downcast::<L4Stream>() else {
            return Head::Done;
        };
        let mut buf: Vec<u8> = Vec::new();
        let mut chunk = [0u8; 4096];
        let mut deadline = Instant::now() + idle;
        loop {
            let read = tokio::time::timeout_at(deadline, l4.read(&mut chunk)).await;
            let n = match read {
                Ok(Ok(n)) if n > 0 => n,
                // Closed, failed, or too slow: nothing to answer.
                _ => return Head::Done,
            };
            if buf.is_empty() {
                deadline = deadline.min(Instant::now() + self.header_timeout);
            }
            buf.extend_from_slice(&chunk[..n]);
            match head::scan(&buf, &self.limits) {
                HeadScan::Incomplete => continue,
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
impl<A: ServerApp + Send + Sync + 'static> ServerApp for Guard<A> {
    async fn process_new(
        self: &Arc<Self>,
        stream: Stream,
        shutdown: &ShutdownWatch,
    ) -> Option<Stream> {
        // The slot is held until this function returns, i.e. for the connection's life.
        let Ok(_slot) = self.slots.clone().try_acquire_owned() else {
            tracing::debug!("connection refused: max_connections reached");
            return None;
        };
        let mut idle = self.header_timeout;
        let mut next = Some(stream);
        while let Some(s) = next.take() {
            let Head::Ready(s) = self.await_head(s, idle).await else {
                return None;
            };
            next = self.inner.process_new(s, shutdown).await;
            if *shutdown.borrow() {
                return None;
            }
            idle = self.keepalive_timeout;
        }
        None
    }

    async fn cleanup(&self) {
        self.inner.cleanup().await;
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
