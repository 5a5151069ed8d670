//! Login event streams, served beside pingora's proxy on the connection itself.
//!
//! Served through the proxy service, every waiting login page would keep pingora's whole
//! per-request future and per-connection task alive for minutes (most of 46 KiB per stream).
//! The connection guard ([`crate::conn::guard::Guard`]) has read each HTTP/1 head already; it
//! offers the head to [`EventServer::claim`], which takes it only when the core's
//! [`stream_claim::claim`] says it is an attempt's event stream, and then serves it from a task of
//! its own. A claimed request holds just the connection, the attempt's status receiver and
//! its timers.
//!
//! The route's answer is the core's ([`web::handle`], with the same binding-cookie check
//! and rate limit as through pingora); the same frames ([`qrgate_core::login::events`]), the same
//! head fields ([`wire::EVENT_STREAM_FIELDS`]), and the same ends: the client goes away
//! (any read), a terminal event, or the server drains.

use std::net::IpAddr;
use std::sync::Arc;
use std::time::{Duration, SystemTime};

use bytes::Bytes;
use http::Method;
use pingora::protocols::Stream;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::sync::watch;

use qrgate_core::http::request;
use qrgate_core::http::wire;
use qrgate_core::login::events::EventStream;
use qrgate_core::login::stream_claim::{self, EventRequest};
use qrgate_core::web::{self, RouteRequest, Routed};

use crate::proxy::{OpenStream, Proxy, Snapshot};

/// How long one write may wait for a client that stopped reading before the stream ends.
const WRITE_TIMEOUT: Duration = Duration::from_secs(30);

/// Serves the event-stream requests the connection guard hands over.
pub struct EventServer {
    proxy: Proxy,
}

/// A head this server took over, with the snapshot it was classified under.
pub struct Claim {
    request: EventRequest,
    snapshot: Arc<Snapshot>,
    /// Whether the connection is TLS (its answers carry HSTS).
    secure: bool,
}

impl EventServer {
    /// Serves streams with `proxy`'s gateway, settings and drain signal.
    pub fn new(proxy: Proxy) -> Self {
        EventServer { proxy }
    }

    /// Takes `head` (one complete HTTP/1 request head; `secure` if it came over TLS) if it
    /// is an event stream this server answers; `None` leaves it to pingora.
    pub fn claim(&self, head: &[u8], secure: bool) -> Option<Claim> {
        if !stream_claim::may_be_events(head) {
            return None;
        }
        let snapshot = self.proxy.snapshot();
        let request = stream_claim::claim(&snapshot.settings.config, head, secure)?;
        Some(Claim {
            request,
            snapshot,
            secure,
        })
    }

    /// Answers a claimed request on `stream`; true when the connection may carry another.
    /// `closing` (the server is shutting down) closes it after this answer, as pingora does.
    pub async fn serve(&self, claim: Claim, stream: &mut Stream, closing: bool) -> bool {
        let gw = self.proxy.gateway();
        let Claim {
            request,
            snapshot,
            secure,
        } = claim;
        let s = &*snapshot.settings;
        let peer = peer_ip(stream);
        let route = RouteRequest {
            app: request.app,
            method: &Method::GET,
            path: &request.route,
            query: request.query.as_deref(),
            headers: &request.headers,
            body: Bytes::new(),
            client_ip: s.client_ip(peer, &request.headers),
            form: request::form(&request.headers),
        };
        let routed = Box::pin(web::handle(gw, s, route)).await;
        let status = match &routed {
            Routed::Reply(reply) => reply.status,
            Routed::Events(_) => 200,
        };
        crate::proxy::count_request(gw, s.app(request.app).name.as_str(), "local", status);
        tracing::debug!(status, path = %request.route, "event stream request");
        let keep_alive = request.keep_alive && !closing;
        match routed {
            Routed::Reply(reply) => {
                let bytes = wire::reply(&reply, !keep_alive, secure, SystemTime::now());
                write(stream, &bytes).await && keep_alive
            }
            Routed::Events(events) => {
                // Only the stream's own state lives on while it is open.
                drop((request, snapshot));
                let _open = OpenStream::new(&gw.metrics().event_streams);
                let head = wire::event_stream_head(!keep_alive, secure, SystemTime::now());
                stream_events(stream, head, events, self.proxy.draining()).await && keep_alive
            }
        }
    }
}

/// Writes the stream's head and frames until a terminal event (then true: the response is
/// complete), the client goes away or a write stalls (false).
async fn stream_events(
    stream: &mut Stream,
    head: Vec<u8>,
    mut events: EventStream,
    mut draining: watch::Receiver<bool>,
) -> bool {
    if !write(stream, &head).await {
        return false;
    }
    let mut probe = [0u8; 1];
    loop {
        let frame = tokio::select! {
            f = events.next_frame() => f,
            // A GET has no body: any read result means the client closed or misbehaved.
            _ = stream.read(&mut probe) => return false,
            _ = draining.wait_for(|down| *down) => events.end(),
        };
        match frame {
            // pingora skips empty writes; so does this (an empty chunk would end the body).
            Some(bytes) if bytes.is_empty() => {}
            Some(bytes) => {
                if !write(stream, &wire::chunk(&bytes)).await {
                    return false;
                }
            }
            None => break,
        }
    }
    write(stream, wire::LAST_CHUNK).await
}

/// Writes and flushes `bytes`; false if the connection failed or stalled.
async fn write(stream: &mut Stream, bytes: &[u8]) -> bool {
    let io = async {
        stream.write_all(bytes).await?;
        stream.flush().await
    };
    matches!(tokio::time::timeout(WRITE_TIMEOUT, io).await, Ok(Ok(())))
}

/// The address of the peer connected to us.
pub(crate) fn peer_ip(stream: &Stream) -> Option<IpAddr> {
    let digest = stream.get_socket_digest()?;
    digest.peer_addr()?.as_inet().map(|a| a.ip())
}
