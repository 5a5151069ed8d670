//! The connection guard: what every downstream connection and every request head must get
//! past before the HTTP parser sees it.
//!
//! [`Guard`] is the `ServerApp` every listener serves. It holds one of `[limits]
//! max_connections` slots for a connection's whole life, and one of its client's
//! `max_connections_per_client` ([`ClientConnections`]; with either cap reached the
//! connection is closed at once), and runs each HTTP/1 connection's keep-alive loop itself, plain or inside
//! TLS: it reads every request head, refuses one that crosses a limit of
//! [`qrgate_core::http::head`] (414/431, then close) as soon as it does, closes a connection whose
//! head is not complete within `header_timeout` of its first byte (slowloris) or that sends
//! nothing for `keepalive_timeout`, and hands the bytes it read to pingora's session as the
//! start of its parse buffer, so pingora's parser sees the request exactly as sent.
//!
//! A head that is a login event stream ([`EventServer::claim`]) is not handed to pingora: the
//! connection moves, with its slot, to a task of its own that serves the stream and then
//! goes on with the connection's next requests. The task pingora spawned for the connection
//! ends there, so a page waiting minutes for a phone holds neither it nor any of pingora's
//! per-request state.
//!
//! HTTP/2 (by ALPN) goes to pingora's own loop: its frames are not HTTP/1 heads, and its stack
//! bounds them itself.
//!
//! On a TLS listener pingora completes the handshake before the connection reaches the guard,
//! so the client's place is taken earlier, by [`CountHandshakes`] (pingora's pre-TLS callback),
//! and handed to the connection here ([`Handshakes`]).

use std::future::Future;
use std::net::SocketAddr;
use std::pin::Pin;
use std::sync::Arc;
use std::time::{Duration, SystemTime};

use async_trait::async_trait;
use bytes::BytesMut;
use pingora::apps::{HttpServerApp, ServerApp};
use pingora::listeners::PreTlsProcess;
use pingora::protocols::http::ServerSession;
use pingora::protocols::l4::stream::Stream as L4Stream;
use pingora::protocols::{GetSocketDigest, Stream, ALPN};
use pingora::server::ShutdownWatch;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::sync::{OwnedSemaphorePermit, Semaphore};
use tokio::time::Instant;

use qrgate_core::config::Config;
use qrgate_core::gate::limits::{ClientConnections, ClientSlot, Handshakes};
use qrgate_core::http::head::{self, HeadLimits, HeadRefusal, HeadScan};
use qrgate_core::http::wire;
use qrgate_core::web::respond;

use crate::conn::event_streams::{peer_ip, EventServer};

/// The connection cap and the head checks in front of an HTTP application.
pub struct Guard<A> {
    inner: Arc<A>,
    slots: Arc<Semaphore>,
    clients: Arc<ClientConnections>,
    handshakes: Arc<Handshakes>,
    events: Option<EventServer>,
    limits: HeadLimits,
    header_timeout: Duration,
    keepalive_timeout: Duration,
    /// After shutdown begins, how long a quiet connection may still send a request head.
    drain: Duration,
}

/// How waiting for a request head ended.
enum Head {
    /// A complete head, read off the stream into the buffer.
    Ready(Stream),
    /// The client closed, stayed quiet, was too slow or was refused.
    Done,
}

impl<A> Guard<A> {
    /// Guards `inner` with the configured limits; `events`, if given, serves the login event
    /// streams. Once the server shuts down, a connection still gets `drain` to send its next
    /// head (a connection accepted just before the listener stopped has sent nothing yet).
    pub fn new(
        inner: Arc<A>,
        events: Option<EventServer>,
        config: &Config,
        drain: Duration,
    ) -> Self {
        let limits = &config.limits;
        let server = &config.server;
        // A proxy's connections are its clients', told apart only per request.
        let trusted = if server.trust_forwarded_for {
            server.trusted_proxies.clone()
        } else {
            Vec::new()
        };
        Guard {
            inner,
            slots: Arc::new(Semaphore::new(limits.max_connections)),
            clients: ClientConnections::new(limits.max_connections_per_client, trusted),
            handshakes: Handshakes::new(TLS_HANDSHAKE_LIMIT),
            events,
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
    async fn await_head(
        &self,
        mut stream: Stream,
        buf: &mut BytesMut,
        shutdown: &ShutdownWatch,
    ) -> Head {
        buf.clear();
        let mut deadline = Instant::now() + self.keepalive_timeout;
        let mut shutdown = shutdown.clone();
        let mut draining = *shutdown.borrow();
        if draining {
            deadline = deadline.min(Instant::now() + self.drain);
        }
        loop {
            let was_empty = buf.is_empty();
            tokio::select! {
                r = tokio::time::timeout_at(deadline, stream.read_buf(buf)) => match r {
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
            match head::scan(buf, &self.limits) {
                HeadScan::Incomplete => {}
                HeadScan::Complete(_) => return Head::Ready(stream),
                HeadScan::Refused(refusal) => {
                    refuse(&mut stream, refusal).await;
                    return Head::Done;
                }
            }
        }
    }
}

impl<A: HttpServerApp + Send + Sync + 'static> Guard<A> {
    /// Serves one HTTP/1 connection's requests until it closes, holding its slot.
    /// Boxed with a named type because a claimed event stream continues the connection by
    /// calling this again from a task of its own.
    // `slot` is held, not read: its permit is the connection's place under the cap.
    #[allow(clippy::only_used_in_recursion)]
    fn connection(
        self: Arc<Self>,
        mut stream: Stream,
        shutdown: ShutdownWatch,
        slot: (OwnedSemaphorePermit, ClientSlot),
    ) -> Pin<Box<dyn Future<Output = ()> + Send>> {
        Box::pin(async move {
            let secure = stream.get_ssl_digest().is_some();
            let mut head = BytesMut::with_capacity(1024);
            loop {
                let Head::Ready(next) = self.await_head(stream, &mut head, &shutdown).await else {
                    return;
                };
                stream = next;
                let claimed = self.events.as_ref().and_then(|e| e.claim(&head, secure));
                if let Some(claim) = claimed {
                    drop(head);
                    let guard = self.clone();
                    tokio::spawn(async move {
                        let Some(events) = guard.events.as_ref() else {
                            return;
                        };
                        let closing = *shutdown.borrow();
                        let reusable = Box::pin(events.serve(claim, &mut stream, closing)).await;
                        if reusable && !*shutdown.borrow() {
                            guard.clone().connection(stream, shutdown, slot).await;
                        }
                    });
                    return;
                }
                let mut session = ServerSession::new_http1(stream);
                // The bytes read so far (the head, perhaps the start of a body) become the
                // start of pingora's own parse buffer; the next head gets a buffer of its own.
                session.set_pipelined_prefix(std::mem::replace(
                    &mut head,
                    BytesMut::with_capacity(1024),
                ));
                if *shutdown.borrow() {
                    session.set_keepalive(None);
                } else {
                    // pingora's own default would keep an idle connection forever after its
                    // first request; this loop waits for the next head itself, so any positive
                    // value works.
                    session.set_keepalive(Some(self.keepalive_timeout.as_secs().max(1)));
                }
                let Some(reused) = self.inner.process_new_http(session, &shutdown).await else {
                    return;
                };
                // Pipelining is off, so nothing read past the request rides along.
                stream = reused.consume().0;
            }
        })
    }
}

#[async_trait]
impl<A: HttpServerApp + Send + Sync + 'static> ServerApp for Guard<A> {
    async fn process_new(
        self: &Arc<Self>,
        stream: Stream,
        shutdown: &ShutdownWatch,
    ) -> Option<Stream> {
        // Taken first, so a connection refused below frees the place its handshake held.
        let counted = socket_addrs(&*stream).and_then(|(l, p)| self.handshakes.take(l, p));
        let Ok(permit) = self.slots.clone().try_acquire_owned() else {
            tracing::debug!("connection refused: max_connections reached");
            return None;
        };
        let Some(client) = counted.or_else(|| self.clients.open(peer_ip(&stream))) else {
            tracing::debug!("connection refused: max_connections_per_client reached");
            return None;
        };
        let slot = (permit, client);
        if !matches!(stream.selected_alpn_proto(), Some(ALPN::H2)) {
            self.clone()
                .connection(stream, shutdown.clone(), slot)
                .await;
            return None;
        }
        // HTTP/2: the slot is held until pingora's loop is done with the connection.
        let mut next = self.inner.process_new(stream, shutdown).await;
        while let Some(s) = next {
            next = self.inner.process_new(s, shutdown).await;
        }
        drop(slot);
        None
    }

    async fn cleanup(&self) {
        self.inner.http_cleanup().await;
    }
}

/// Answers a refused head and closes.
async fn refuse(stream: &mut Stream, refusal: HeadRefusal) {
    let secure = stream.get_ssl_digest().is_some();
    let reply = respond::head_refusal(&refusal);
    let bytes = wire::reply(&reply, true, secure, SystemTime::now());
    let _ = stream.write_all(&bytes).await;
    let _ = stream.flush().await;
    let _ = stream.shutdown().await;
}

/// Pingora's own limit on a TLS handshake (fixed in its listening service): once it has
/// passed since a handshake started, the handshake has completed or failed.
const TLS_HANDSHAKE_LIMIT: Duration = Duration::from_secs(61);

impl<A> Guard<A> {
    /// The pre-TLS callback that takes a client's place before its handshake, for every TLS
    /// listener this guard serves.
    pub fn count_handshakes(&self) -> Arc<CountHandshakes> {
        Arc::new(CountHandshakes {
            clients: self.clients.clone(),
            handshakes: self.handshakes.clone(),
        })
    }
}

/// Takes the client's place when a TLS connection is accepted, before its handshake; with
/// the client's cap reached the connection is closed at once.
pub struct CountHandshakes {
    clients: Arc<ClientConnections>,
    handshakes: Arc<Handshakes>,
}

#[async_trait]
impl PreTlsProcess for CountHandshakes {
    async fn process(&self, stream: &mut L4Stream) -> pingora::Result<()> {
        let Some((local, peer)) = socket_addrs(&*stream) else {
            return Ok(());
        };
        let Some(slot) = self.clients.open(Some(peer.ip())) else {
            return Err(pingora::Error::explain(
                pingora::ErrorType::AcceptError,
                "max_connections_per_client reached",
            ));
        };
        self.handshakes
            .hold(local, peer, slot, std::time::Instant::now());
        Ok(())
    }
}

/// The local and peer addresses of a TCP connection.
fn socket_addrs<S: GetSocketDigest + ?Sized>(stream: &S) -> Option<(SocketAddr, SocketAddr)> {
    let digest = stream.get_socket_digest()?;
    let local = *digest.local_addr()?.as_inet()?;
    let peer = *digest.peer_addr()?.as_inet()?;
    Some((local, peer))
}
