//! What the gateway answers itself on a pingora session: a route of its own (the body read
//! capped, the core's handler run), a local reply with the security headers, and a login
//! event stream (HTTP/2, or a head the HTTP/1.1 hand-off left to pingora), counted while open.

use bytes::Bytes;
use pingora::http::ResponseHeader;
use pingora::proxy::Session;
use pingora::{ErrorType, Result};
use qrgate_core::config::AppId;
use qrgate_core::http::reply::{Form, Reply, SECURITY_HEADERS};
use qrgate_core::http::request;
use qrgate_core::http::wire;
use qrgate_core::login::events::EventStream;
use qrgate_core::login::{LoginError, MAX_BODY};
use qrgate_core::settings::Settings;
use qrgate_core::web::respond::{self, ProxyFailure};
use qrgate_core::web::{self, RouteRequest, Routed};

use super::{is_tls, peer_ip, Proxy};

impl Proxy {
    pub(super) async fn serve_route(
        &self,
        session: &mut Session,
        s: &Settings,
        app: AppId,
        route: String,
    ) -> Result<bool> {
        // Refusals of the body are JSON (the page's script reads them) in the visitor's language.
        let json = Form::Json(request::lang(&session.req_header().headers));
        let body = if session.req_header().method == http::Method::POST {
            match crate::proxy::request_body::read_capped(session, MAX_BODY, s).await {
                Ok(Some(b)) => b,
                Ok(None) => {
                    let reply = respond::login_error(json, &LoginError::BodyTooLarge(MAX_BODY));
                    return send(session, reply).await;
                }
                // Broken framing, a truncated body, a reset, a body too slow: all the
                // client's doing.
                Err(e) => {
                    tracing::debug!(error = %e, "unreadable request body");
                    let failure = match e.etype() {
                        ErrorType::ReadTimedout => ProxyFailure::SlowBody,
                        ErrorType::HTTPStatus(code)
                            if ProxyFailure::from_status(*code) == ProxyFailure::SlowBody =>
                        {
                            ProxyFailure::SlowBody
                        }
                        _ => ProxyFailure::BadRequest,
                    };
                    let reply = respond::proxy_failure_reply(json, failure);
                    session.set_keepalive(None);
                    return send(session, reply).await;
                }
            }
        } else {
            Bytes::new()
        };
        let req = session.req_header();
        let route_req = RouteRequest {
            app,
            method: &req.method,
            path: &route,
            query: req.uri.query(),
            headers: &req.headers,
            body,
            client_ip: s.client_ip(peer_ip(session), &req.headers),
            form: request::form(&req.headers),
        };
        // Boxed so the handlers' large states (page rendering, signature checks) live only
        // while they run, instead of inside every long-lived event stream's future.
        match Box::pin(web::handle(&self.gateway, s, route_req)).await {
            Routed::Reply(reply) => send(session, reply).await,
            Routed::Events(stream) => {
                let _open = OpenStream::new(&self.gateway.metrics().event_streams);
                serve_events(session, stream, self.draining.subscribe()).await?;
                Ok(true)
            }
        }
    }
}

/// Counts an open event stream for as long as it lives.
pub(crate) struct OpenStream<'a>(&'a prometheus::IntGauge);

impl<'a> OpenStream<'a> {
    pub(crate) fn new(gauge: &'a prometheus::IntGauge) -> Self {
        gauge.inc();
        OpenStream(gauge)
    }
}

impl Drop for OpenStream<'_> {
    fn drop(&mut self) {
        self.0.dec();
    }
}

/// Streams server-sent events until the stream ends, the client goes away, or the server
/// drains. HTTP/1.1 streams are served by [`crate::conn::event_streams`] instead; this path serves
/// HTTP/2 and the heads the hand-off leaves to pingora.
async fn serve_events(
    session: &mut Session,
    mut events: EventStream,
    mut draining: tokio::sync::watch::Receiver<bool>,
) -> Result<()> {
    let mut header = ResponseHeader::build(200, Some(SECURITY_HEADERS.len() + 4))?;
    header.insert_header(http::header::TRANSFER_ENCODING, "chunked")?;
    for (name, value) in SECURITY_HEADERS.iter().chain(wire::EVENT_STREAM_FIELDS) {
        header.insert_header(*name, *value)?;
    }
    if is_tls(session) {
        header.insert_header(http::header::STRICT_TRANSPORT_SECURITY, request::HSTS)?;
    }
    session
        .write_response_header(Box::new(header), false)
        .await?;
    loop {
        let frame = tokio::select! {
            f = events.next_frame() => f,
            // A GET has no body: any read result here means the client closed or misbehaved.
            _ = session.downstream_session.read_body_or_idle(true) => return Ok(()),
            _ = draining.wait_for(|down| *down) => events.end(),
        };
        match frame {
            Some(bytes) => session.write_response_body(Some(bytes), false).await?,
            None => break,
        }
    }
    session.write_response_body(None, true).await?;
    Ok(())
}

/// Writes a local reply and ends the request (`Ok(true)` for `request_filter`).
pub async fn send(session: &mut Session, reply: Reply) -> Result<bool> {
    let mut header = ResponseHeader::build(
        reply.status,
        Some(SECURITY_HEADERS.len() + reply.headers.len() + 3),
    )?;
    header.insert_header(http::header::CONTENT_TYPE, reply.content_type)?;
    header.insert_header(http::header::CONTENT_LENGTH, reply.body.len())?;
    for (name, value) in SECURITY_HEADERS {
        header.insert_header(*name, *value)?;
    }
    for (name, value) in reply.headers {
        header.append_header(name, value)?;
    }
    if is_tls(session) {
        header.insert_header(http::header::STRICT_TRANSPORT_SECURITY, request::HSTS)?;
    }
    let head_only = session.req_header().method == http::Method::HEAD;
    session
        .write_response_header(Box::new(header), head_only || reply.body.is_empty())
        .await?;
    if !head_only && !reply.body.is_empty() {
        session.write_response_body(Some(reply.body), true).await?;
    }
    Ok(true)
}
