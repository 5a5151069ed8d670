//! The pingora glue: one [`ProxyHttp`] implementation whose hooks are thin adapters to the
//! core ([`qrgate_core`]), which decides everything.
//!
//! Which hook does what, in the order pingora calls them:
//!
//! | hook                      | here                                                         |
//! |---------------------------|--------------------------------------------------------------|
//! | `request_filter`          | [`decision::decide`]: serve a gateway route, forward, or answer the denial |
//! | `upstream_peer`           | the selected app's upstream, resolved once at startup        |
//! | `upstream_request_filter` | apply [`upstream::header_edits`] and the canonical target    |
//! | `request_body_filter`     | a proxied body keeps [`request_body::on_pace`] (408 if not)  |
//! | `fail_to_proxy`           | 502/504 as a small page or JSON ([`respond::proxy_failure`]) |
//!
//! Upstream peers are the only per-app state kept here, paired with the core's settings in
//! one [`Snapshot`] that a reload swaps whole; everything else is the core's.
//!
//! [`request_body::on_pace`]: crate::proxy::request_body::on_pace

pub mod request_body;
pub mod tether;

use std::net::{IpAddr, SocketAddr, ToSocketAddrs};
use std::sync::{Arc, Mutex};

use async_trait::async_trait;
use bytes::Bytes;
use pingora::http::{RequestHeader, ResponseHeader};
use pingora::prelude::HttpPeer;
use pingora::proxy::{FailToProxy, ProxyHttp, Session};
use pingora::{Error, ErrorSource, ErrorType, Result};

use arc_swap::ArcSwap;
use pingora::utils::tls::{parse_x509, WrappedX509};
use qrgate_core::config::{https_upstream, App, AppId, Config, BUILTIN_DEMO, BUILTIN_SSO};
use qrgate_core::gate::decision::{self, Decision, Denial};
use qrgate_core::gate::upstream::{self, HeaderEdit};
use qrgate_core::gateway::Gateway;
use qrgate_core::http::reply::{Form, Reply, SECURITY_HEADERS};
use qrgate_core::http::request::{self, Request};
use qrgate_core::http::wire;
use qrgate_core::identity::Identity;
use qrgate_core::login::events::EventStream;
use qrgate_core::login::{LoginError, MAX_BODY};
use qrgate_core::settings::{Settings, SettingsError};
use qrgate_core::web::respond::{self, ProxyFailure};
use qrgate_core::web::{self, RouteRequest, Routed};

/// Why the proxy could not start.
#[derive(Debug, thiserror::Error)]
pub enum StartError {
    /// The HTTPS certificate could not be read.
    #[error(transparent)]
    Tls(#[from] crate::conn::tls::TlsError),
    /// The gateway's settings could not be built.
    #[error(transparent)]
    Settings(#[from] SettingsError),
    /// The store could not be set up.
    #[error(transparent)]
    Store(#[from] qrgate_core::session::StoreError),
    /// The assertion signing keys could not be read or made.
    #[error("{0}\n{way_out}", way_out = .0.way_out())]
    Assertion(#[from] crate::files::assertion_keys::KeyFileError),
    /// The OpenID Connect signing keys could not be read or made.
    #[error("{0}\n{way_out}", way_out = .0.way_out())]
    OidcKeys(#[from] crate::oidc::keys::KeyFileError),
    /// The back-channel logout client could not be made.
    #[error(transparent)]
    Backchannel(#[from] crate::oidc::backchannel::BackchannelError),
    /// The session state file exists but could not be read whole.
    #[error("{0}\n{way_out}", way_out = .0.way_out())]
    State(#[from] crate::lifecycle::state::StateError),
    /// The admin token file may be read by others than the gateway's user.
    #[error(transparent)]
    AdminToken(#[from] crate::admin::token::TokenError),
    /// An upstream name did not resolve.
    #[error("app {app}: upstream {upstream} does not resolve: {reason}")]
    Upstream {
        /// App name.
        app: String,
        /// Configured upstream.
        upstream: String,
        /// Resolver's answer.
        reason: String,
    },
}

/// One config's settings and the upstream peers resolved for it, swapped together so a
/// request's app index always names the right peer.
pub struct Snapshot {
    /// The core's settings.
    pub settings: Arc<Settings>,
    /// One upstream peer per app, in `[[app]]` order.
    peers: Vec<HttpPeer>,
}

/// Why a new config could not be put in force; the old one keeps serving.
#[derive(Debug, thiserror::Error)]
pub enum ReloadError {
    /// An upstream did not resolve.
    #[error(transparent)]
    Upstream(#[from] StartError),
    /// The settings could not be built.
    #[error(transparent)]
    Settings(#[from] SettingsError),
}

/// The gateway, as pingora sees it: the core's state plus the current snapshot. Cheap to
/// clone; clones share everything (the reload service holds one).
#[derive(Clone)]
pub struct Proxy {
    gateway: Arc<Gateway>,
    /// Where the in-process demo app listens, for apps whose upstream is `builtin:demo`.
    demo: Option<SocketAddr>,
    current: Arc<ArcSwap<Snapshot>>,
    /// Serializes reloads, so the snapshot always pairs the settings with their own peers.
    reloading: Arc<Mutex<()>>,
    /// Turns true when the server shuts down: open event streams end.
    draining: Arc<tokio::sync::watch::Sender<bool>>,
}

impl Proxy {
    /// A proxy over the gateway's state; resolves every app's upstream.
    pub fn new(gateway: Arc<Gateway>) -> Result<Self, StartError> {
        Self::with_demo(gateway, None)
    }

    /// A proxy whose `builtin:demo` upstreams are the demo app listening at `demo`.
    pub fn with_demo(gateway: Arc<Gateway>, demo: Option<SocketAddr>) -> Result<Self, StartError> {
        let settings = gateway.settings();
        let peers = resolve_peers(&settings.config, demo)?;
        Ok(Self {
            gateway,
            demo,
            current: Arc::new(ArcSwap::from_pointee(Snapshot { settings, peers })),
            reloading: Arc::new(Mutex::new(())),
            draining: Arc::new(tokio::sync::watch::Sender::new(false)),
        })
    }

    /// Ends every open event stream (and any opened later) with `expired`: the server is
    /// shutting down, and a page waiting here should fetch a fresh code from the gateway
    /// that takes over.
    pub fn drain(&self) {
        self.draining.send_replace(true);
    }

    /// Turns true when the server drains.
    pub(crate) fn draining(&self) -> tokio::sync::watch::Receiver<bool> {
        self.draining.subscribe()
    }

    /// The shared core state.
    pub fn gateway(&self) -> &Arc<Gateway> {
        &self.gateway
    }

    /// The snapshot in force now.
    pub fn snapshot(&self) -> Arc<Snapshot> {
        self.current.load_full()
    }

    /// Puts a new config in force: resolves its upstreams first, then swaps the core's
    /// settings and this snapshot. On any error nothing changes.
    pub fn reload(&self, config: Config) -> Result<(), ReloadError> {
        let _one_at_a_time = self.reloading.lock().unwrap_or_else(|p| p.into_inner());
        let peers = resolve_peers(&config, self.demo)?;
        self.gateway.reload(config)?;
        let settings = self.gateway.settings();
        self.current.store(Arc::new(Snapshot { settings, peers }));
        Ok(())
    }
}

fn resolve_peers(config: &Config, demo: Option<SocketAddr>) -> Result<Vec<HttpPeer>, StartError> {
    config
        .apps
        .iter()
        .map(|app| resolve_peer(app, demo))
        .collect()
}

fn resolve_peer(app: &App, demo: Option<SocketAddr>) -> Result<HttpPeer, StartError> {
    let fail = |reason: String| StartError::Upstream {
        app: app.name.clone(),
        upstream: app.upstream.clone(),
        reason,
    };
    let resolve = |host_port: &str| -> Result<SocketAddr, StartError> {
        host_port
            .to_socket_addrs()
            .map_err(|e| fail(e.to_string()))?
            .next()
            .ok_or_else(|| fail("no addresses".into()))
    };
    let mut peer = if app.upstream == BUILTIN_SSO {
        // Never connected to: the decision answers every path of the SSO origin itself.
        HttpPeer::new(SocketAddr::from(([127, 0, 0, 1], 9)), false, String::new())
    } else if app.upstream == BUILTIN_DEMO {
        let addr = demo.ok_or_else(|| fail("the built-in demo app is not running".into()))?;
        HttpPeer::new(addr, false, String::new())
    } else if let Some((host, port)) = https_upstream(&app.upstream) {
        let addr = resolve(&format!("{host}:{port}"))?;
        // SNI and the verified name are the configured host, never the client's Host.
        let mut peer = HttpPeer::new(addr, true, host);
        peer.options.verify_cert = app.upstream_tls_verify;
        peer.options.verify_hostname = app.upstream_tls_verify;
        if let Some(path) = &app.upstream_ca {
            peer.options.ca = Some(upstream_ca(path).map_err(fail)?);
        }
        peer
    } else {
        HttpPeer::new(resolve(&app.upstream)?, false, String::new())
    };
    peer.options.connection_timeout = Some(app.connect_timeout);
    peer.options.read_timeout = Some(app.read_timeout);
    Ok(peer)
}

/// Every certificate in a PEM file, as pingora's per-peer CA list.
fn upstream_ca(path: &std::path::Path) -> Result<Arc<[WrappedX509]>, String> {
    let text = std::fs::read(path).map_err(|e| format!("{}: {e}", path.display()))?;
    let mut out = Vec::new();
    for der in rustls_pemfile::certs(&mut text.as_slice()) {
        let der = der.map_err(|e| format!("{}: {e}", path.display()))?;
        // Parsed once here so that a malformed certificate is an error, not a panic later.
        pingora::tls::RootCertStore::empty()
            .add(der.clone())
            .map_err(|e| format!("{}: {e}", path.display()))?;
        out.push(WrappedX509::new(der.to_vec(), parse_x509));
    }
    if out.is_empty() {
        return Err(format!("{}: no certificate", path.display()));
    }
    Ok(out.into())
}

/// Per-request facts gathered in `request_filter` and used by later hooks.
#[derive(Default)]
pub struct Ctx {
    /// The snapshot this request is decided and forwarded under, start to end.
    snapshot: Option<Arc<Snapshot>>,
    app: Option<AppId>,
    /// The decision, as the `decision` label of the request counter.
    decision: &'static str,
    /// When the request went upstream.
    upstream_started: Option<std::time::Instant>,
    /// When the request's head was read, for the body's pace; `None` once the protocol
    /// switched (what follows a 101 is no request body).
    body_started: Option<std::time::Instant>,
    /// The downstream read timeout before the body's pace set its own, restored when the
    /// protocol switches.
    read_timeout: Option<std::time::Duration>,
    /// Body bytes received so far.
    body_bytes: u64,
    /// The request target to send upstream, when it differs from what the client sent.
    target: Option<String>,
    identity: Option<Arc<Identity>>,
    /// The session that let the request in (a long-lived response is tied to it).
    session: Option<qrgate_core::session::TokenHash>,
}

#[async_trait]
impl ProxyHttp for Proxy {
    type CTX = Ctx;

    fn new_ctx(&self) -> Ctx {
        Ctx::default()
    }

    async fn request_filter(&self, session: &mut Session, ctx: &mut Ctx) -> Result<bool> {
        let snapshot = self.snapshot();
        let s = &*snapshot.settings;
        // A body that stalls this long is cut (pingora's per-read timeout), one that trickles
        // by `request_body_filter` and `request_body::read_capped`. A request asking to switch
        // protocols is held to the same pace: only a 101 from the upstream (see
        // `response_filter`) makes what follows something other than a request body, so an
        // `Upgrade` header alone cannot carry a slow body past the limit.
        ctx.read_timeout = session.get_read_timeout();
        session.set_read_timeout(Some(s.config.limits.body_timeout));
        ctx.body_started = Some(std::time::Instant::now());
        let req = session.req_header();
        if !req.raw_path_is_utf8() {
            // The URI holds a lossy rendering of the target while the wire keeps its bytes:
            // what would be judged is not what would be forwarded.
            ctx.decision = "refused";
            let denial = Denial::BadPath(qrgate_core::http::path::PathError::NotUtf8);
            let reply = respond::denial(request::form(&req.headers), &denial);
            return send(session, reply).await;
        }
        let view = Request {
            method: &req.method,
            host: request_host(req),
            path: req.uri.path(),
            query: req.uri.query(),
            absolute_form: req.raw_path().first() != Some(&b'/'),
            headers: &req.headers,
            secure: is_tls(session),
        };
        match decision::decide(&self.gateway, s, &view).await {
            Decision::Forward(f) => {
                ctx.decision = if f.identity.is_some() {
                    "forwarded"
                } else {
                    "public"
                };
                ctx.snapshot = Some(snapshot.clone());
                ctx.app = Some(f.app);
                ctx.target = f.target;
                ctx.identity = f.identity;
                ctx.session = f.session;
                Ok(false)
            }
            Decision::Local { app, route } => {
                ctx.decision = "local";
                ctx.snapshot = Some(snapshot.clone());
                ctx.app = Some(app);
                self.serve_route(session, s, app, route).await
            }
            Decision::Deny(d) => {
                ctx.decision = match &d {
                    Denial::LoginRedirect { .. } => "login_redirect",
                    Denial::Unauthenticated { .. } => "unauthenticated",
                    Denial::HttpsRedirect { .. } => "https_redirect",
                    _ => "refused",
                };
                let reply = respond::denial(request::form(&req.headers), &d);
                send(session, reply).await
            }
        }
    }

    async fn request_body_filter(
        &self,
        _session: &mut Session,
        body: &mut Option<Bytes>,
        _end_of_stream: bool,
        ctx: &mut Ctx,
    ) -> Result<()> {
        let (Some(started), Some(snapshot)) = (ctx.body_started, &ctx.snapshot) else {
            return Ok(());
        };
        let n = body.as_ref().map_or(0, Bytes::len);
        ctx.body_bytes = ctx
            .body_bytes
            .saturating_add(u64::try_from(n).unwrap_or(u64::MAX));
        crate::proxy::request_body::on_pace(ctx.body_bytes, started, &snapshot.settings)
    }

    async fn upstream_peer(&self, _session: &mut Session, ctx: &mut Ctx) -> Result<Box<HttpPeer>> {
        // request_filter always sets the app before a request can be proxied.
        let peer = ctx
            .snapshot
            .as_ref()
            .zip(ctx.app)
            .and_then(|(snapshot, app)| snapshot.peers.get(app.index()))
            .ok_or_else(|| Error::explain(ErrorType::InternalError, "no app selected"))?;
        Ok(Box::new(peer.clone()))
    }

    async fn upstream_request_filter(
        &self,
        session: &mut Session,
        upstream: &mut RequestHeader,
        ctx: &mut Ctx,
    ) -> Result<()> {
        let (Some(snapshot), Some(app)) = (&ctx.snapshot, ctx.app) else {
            return Err(Error::explain(ErrorType::InternalError, "no app selected"));
        };
        let identity = ctx.identity.as_deref();
        let assertion = identity.and_then(|id| self.gateway.assertion(&snapshot.settings, app, id));
        let edits = upstream::header_edits(
            &snapshot.settings,
            app,
            identity,
            assertion,
            peer_ip(session),
            &session.req_header().headers,
        );
        for edit in edits {
            match edit {
                HeaderEdit::Remove(name) => {
                    upstream.remove_header(&name);
                }
                HeaderEdit::Set(name, value) => upstream.insert_header(name, value)?,
            }
        }
        ctx.upstream_started = Some(std::time::Instant::now());
        if let Some(target) = ctx.target.take() {
            let uri: http::Uri = target.parse().map_err(|_| {
                Error::explain(
                    ErrorType::HTTPStatus(ProxyFailure::BadRequest.status()),
                    "unparseable canonical path",
                )
            })?;
            upstream.set_uri(uri);
        }
        Ok(())
    }

    async fn response_filter(
        &self,
        session: &mut Session,
        response: &mut ResponseHeader,
        ctx: &mut Ctx,
    ) -> Result<()> {
        if is_tls(session) {
            response.insert_header(http::header::STRICT_TRANSPORT_SECURITY, request::HSTS)?;
        }
        if response.status == http::StatusCode::SWITCHING_PROTOCOLS {
            // The connection now carries the new protocol, which may idle as long as it likes.
            ctx.body_started = None;
            session.set_read_timeout(ctx.read_timeout);
        }
        // A websocket or a streamed body may outlive its session: tie it to the session.
        let long_lived = response.status == http::StatusCode::SWITCHING_PROTOCOLS
            || !response.headers.contains_key(http::header::CONTENT_LENGTH);
        if let (true, Some(hash), Some(app)) = (long_lived, ctx.session, ctx.app) {
            crate::proxy::tether::tie(hash, app);
        }
        Ok(())
    }

    async fn upstream_response_filter(
        &self,
        _session: &mut Session,
        _upstream_response: &mut ResponseHeader,
        ctx: &mut Ctx,
    ) -> Result<()> {
        if let (Some(started), Some(snapshot), Some(app)) =
            (ctx.upstream_started, &ctx.snapshot, ctx.app)
        {
            self.gateway
                .metrics()
                .upstream_seconds
                .with_label_values(&[snapshot.settings.app(app).name.as_str()])
                .observe(started.elapsed().as_secs_f64());
        }
        Ok(())
    }

    async fn fail_to_proxy(&self, session: &mut Session, e: &Error, _ctx: &mut Ctx) -> FailToProxy {
        let failure = match e.etype() {
            ErrorType::HTTPStatus(code) => Some(ProxyFailure::from_status(*code)),
            ErrorType::ReadTimedout if matches!(e.esource(), ErrorSource::Downstream) => {
                Some(ProxyFailure::SlowBody)
            }
            ErrorType::ConnectTimedout | ErrorType::ReadTimedout | ErrorType::WriteTimedout => {
                Some(ProxyFailure::Timeout)
            }
            _ => match e.esource() {
                ErrorSource::Upstream => Some(ProxyFailure::Unavailable),
                ErrorSource::Downstream => match e.etype() {
                    // The client went away: nobody to answer.
                    ErrorType::WriteError | ErrorType::ReadError | ErrorType::ConnectionClosed => {
                        None
                    }
                    _ => Some(ProxyFailure::BadRequest),
                },
                ErrorSource::Internal | ErrorSource::Unset => Some(ProxyFailure::Internal),
            },
        };
        let code = match failure {
            Some(f) => {
                let reply =
                    respond::proxy_failure_reply(request::form(&session.req_header().headers), f);
                let code = reply.status;
                if let Err(err) = send(session, reply).await {
                    tracing::debug!(%err, "could not send error page");
                }
                code
            }
            None => 0,
        };
        FailToProxy {
            error_code: code,
            can_reuse_downstream: false,
        }
    }

    async fn logging(&self, session: &mut Session, e: Option<&Error>, ctx: &mut Ctx) {
        let status = session.response_written().map_or(0, |r| r.status.as_u16());
        let app = match (&ctx.snapshot, ctx.app) {
            (Some(snapshot), Some(app)) => snapshot.settings.app(app).name.as_str(),
            _ => "-",
        };
        let decision = if ctx.decision.is_empty() {
            "refused"
        } else {
            ctx.decision
        };
        count_request(&self.gateway, app, decision, status);
        if let Some(e) = e {
            tracing::warn!(status, error = %e, "request failed");
        } else {
            tracing::debug!(
                status,
                method = %session.req_header().method,
                path = %qrgate_core::control::enrollment::loggable_path(session.req_header().uri.path()),
                user = ctx.identity.as_ref().map(|i| i.user.as_str()),
                "request"
            );
        }
    }
}

impl Proxy {
    async fn serve_route(
        &self,
        session: &mut Session,
        s: &Settings,
        app: AppId,
        route: String,
    ) -> Result<bool> {
        let body = if session.req_header().method == http::Method::POST {
            match crate::proxy::request_body::read_capped(session, MAX_BODY, s).await {
                Ok(Some(b)) => b,
                Ok(None) => {
                    let reply =
                        respond::login_error(Form::Json, &LoginError::BodyTooLarge(MAX_BODY));
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
                    let reply = respond::proxy_failure_reply(Form::Json, failure);
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

/// Counts one answered request: its app, what was decided, and its status class.
pub(crate) fn count_request(gw: &Gateway, app: &str, decision: &str, status: u16) {
    let class = match status {
        100..=199 => "1xx",
        200..=299 => "2xx",
        300..=399 => "3xx",
        400..=499 => "4xx",
        500..=599 => "5xx",
        _ => "none",
    };
    gw.metrics()
        .requests
        .with_label_values(&[app, decision, class])
        .inc();
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

/// Whether the downstream connection is TLS.
fn is_tls(session: &Session) -> bool {
    session.digest().is_some_and(|d| d.ssl_digest.is_some())
}

/// The address of the peer connected to us.
fn peer_ip(session: &Session) -> Option<IpAddr> {
    session
        .client_addr()
        .and_then(|a| a.as_inet())
        .map(|a| a.ip())
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

/// The request's target host: the absolute-form authority if present, else `Host`.
fn request_host(req: &RequestHeader) -> Option<&str> {
    if let Some(auth) = req.uri.authority() {
        return Some(auth.as_str());
    }
    req.headers.get(http::header::HOST)?.to_str().ok()
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
