//! The pingora glue: one [`ProxyHttp`] implementation whose hooks are thin adapters to the
//! core ([`qrgate_core`]), which decides everything.
//!
//! Which hook does what, in the order pingora calls them:
//!
//! | hook                       | here                                                         |
//! |----------------------------|--------------------------------------------------------------|
//! | `new_ctx`                  | an empty [`Ctx`] per request                                 |
//! | `request_filter`           | [`decision::decide`]: serve a gateway route (`local`), forward, or answer the denial |
//! | `upstream_peer`            | the selected app's upstream, resolved once per config (`peers`) |
//! | `upstream_request_filter`  | apply [`upstream::header_edits`] and the canonical target    |
//! | `request_body_filter`      | a proxied body keeps `request_body::on_pace` (408 if not)  |
//! | `upstream_response_filter` | time the upstream's answer for the app's histogram           |
//! | `response_filter`          | HSTS on TLS; a 101 or an unsized body is tied to its session ([`tether`]) |
//! | `fail_to_proxy`            | 502/504 as a small page or JSON ([`respond::proxy_failure_reply`]) |
//! | `logging`                  | count the request (app, decision, status class) and log it   |
//!
//! Upstream peers are the only per-app state kept here, paired with the core's settings in
//! one [`Snapshot`] that a reload swaps whole; everything else is the core's. Beside this
//! file: `peers` resolves them; `local` writes what the gateway answers itself (its routes,
//! local replies, event streams).
//!

mod local;
mod peers;
pub mod request_body;
pub mod tether;

use std::net::{IpAddr, SocketAddr};
use std::sync::{Arc, Mutex};

use async_trait::async_trait;
use bytes::Bytes;
use pingora::http::{RequestHeader, ResponseHeader};
use pingora::prelude::HttpPeer;
use pingora::proxy::{FailToProxy, ProxyHttp, Session};
use pingora::{Error, ErrorSource, ErrorType, Result};

use arc_swap::ArcSwap;
use qrgate_core::config::{AppId, Config};
use qrgate_core::gate::decision::{self, Decision, Denial};
use qrgate_core::gate::program;
use qrgate_core::gate::upstream::{self, HeaderEdit};
use qrgate_core::gateway::Gateway;
use qrgate_core::http::request::{self, Request};
use qrgate_core::identity::Identity;
use qrgate_core::settings::{Settings, SettingsError};
use qrgate_core::web::respond::{self, ProxyFailure};

pub use local::send;
pub(crate) use local::OpenStream;
use peers::resolve_peers;

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
    /// The session, or with `client` the program's bearer token, that let the request in (a
    /// long-lived response is tied to it).
    session: Option<qrgate_core::session::TokenHash>,
    /// The program a bearer token let in, by its client id.
    client: Option<String>,
    /// Whether the `Authorization` header (a token of ours) is removed before the upstream.
    strip_authorization: bool,
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
                ctx.client = f.client;
                ctx.strip_authorization = f.strip_authorization;
                if let (Some(_), Some(hash)) = (&ctx.client, ctx.session) {
                    // When and where a program's token was last used, for lists; off the
                    // request's path (a store write at most once a minute per token).
                    if let Some(now_ms) = program::use_due(&self.gateway, &hash) {
                        let gateway = Arc::clone(&self.gateway);
                        let from = s.client_ip(peer_ip(session), &req.headers);
                        tokio::spawn(async move {
                            program::note_use(&gateway, &hash, now_ms, from).await;
                        });
                    }
                }
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
            upstream::ProgramEdits {
                client: ctx.client.as_deref(),
                strip_authorization: ctx.strip_authorization,
            },
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
            crate::proxy::tether::tie(hash, app, ctx.client.is_some());
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

/// The request's target host: the absolute-form authority if present, else `Host`.
fn request_host(req: &RequestHeader) -> Option<&str> {
    if let Some(auth) = req.uri.authority() {
        return Some(auth.as_str());
    }
    req.headers.get(http::header::HOST)?.to_str().ok()
}
