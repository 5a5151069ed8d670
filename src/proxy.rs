//! The pingora glue: one [`ProxyHttp`] implementation that decides, per request, whether to
//! answer locally, forward anonymously (public path), forward with identity, or refuse.
//!
//! Which hook does what, in the order pingora calls them:
//!
//! | hook                      | here                                                         |
//! |---------------------------|--------------------------------------------------------------|
//! | `request_filter`          | pick the app by `Host`; canonicalize the path; serve the gateway's own routes; decide public / session / login redirect / 401 |
//! | `upstream_peer`           | the app's upstream, resolved once at startup                  |
//! | `upstream_request_filter` | strip reserved headers and our cookies, set the canonical path, identity and `X-Forwarded-*` |
//! | `fail_to_proxy`           | 502/504 as a small page or JSON                               |
//!
//! Decisions are made by pure modules (`path`, `negotiate`, `identity`, `session`, `routes`);
//! this file only moves bytes between them and pingora.

use std::net::{SocketAddr, ToSocketAddrs};
use std::sync::Arc;

use async_trait::async_trait;
use bytes::Bytes;
use http::HeaderValue;
use pingora::http::{RequestHeader, ResponseHeader};
use pingora::prelude::HttpPeer;
use pingora::proxy::{FailToProxy, ProxyHttp, Session};
use pingora::{Error, ErrorSource, ErrorType, Result};

use crate::clock::Clock;
use crate::config::{App, Config, SameSite};
use crate::events::EventStream;
use crate::identity;
use crate::negotiate;
use crate::path::canonicalize;
use crate::reply::{Reply, SECURITY_HEADERS};
use crate::routes::{self, RouteRequest, Routed};
use crate::session::{Identity, Lifetimes, MemoryStore, SessionStore, SessionToken};

/// Largest request body the gateway's own endpoints read.
pub const MAX_BODY: usize = 8 * 1024;

/// Everything the gateway knows, shared by all requests.
pub struct State {
    /// The validated config.
    pub config: Config,
    /// Live sessions.
    pub sessions: Arc<dyn SessionStore>,
    /// The time source for every expiry.
    pub clock: Clock,
    /// Pending logins (QR attempts).
    pub logins: crate::login::Logins,
    /// Pubky tokens already used.
    pub pubky_replays: crate::protocol::pubky::ReplayGuard,
    /// One shared identity per configured user.
    identities: Vec<Arc<Identity>>,
    /// One upstream peer per app, resolved at startup.
    peers: Vec<HttpPeer>,
    /// Per-app header values, built once.
    app_headers: Vec<AppHeaders>,
    /// Name of the cookie that binds a login attempt to the browser that started it.
    pub bind_cookie: String,
}

/// Header values that depend only on the app.
struct AppHeaders {
    /// `X-Auth-App`.
    app: HeaderValue,
    /// `X-Forwarded-Proto`, from the configured origin.
    proto: HeaderValue,
    /// `X-Forwarded-Host`, from the configured origin.
    host: HeaderValue,
}

/// Why the gateway could not start.
#[derive(Debug, thiserror::Error)]
pub enum StartError {
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
    /// A configured name cannot travel in an HTTP header.
    #[error("{0:?} cannot be sent in an HTTP header (control characters)")]
    NotAHeader(String),
}

impl State {
    /// State with the in-memory session store.
    pub fn new(config: Config, clock: Clock) -> Result<State, StartError> {
        let lifetimes = Lifetimes {
            absolute: config.session.lifetime,
            idle: config.session.idle_timeout,
        };
        let store = Arc::new(MemoryStore::new(lifetimes, clock.clone()));
        Self::with_store(config, clock, store)
    }

    /// State with any session store.
    pub fn with_store(
        config: Config,
        clock: Clock,
        sessions: Arc<dyn SessionStore>,
    ) -> Result<State, StartError> {
        let mut peers = Vec::with_capacity(config.apps.len());
        for app in &config.apps {
            peers.push(resolve_peer(app)?);
        }
        let mut identities = Vec::with_capacity(config.users.len());
        for u in &config.users {
            let id = Identity::new(u.name.clone(), u.key.to_z32(), u.roles.join(","))
                .ok_or_else(|| StartError::NotAHeader(u.name.clone()))?;
            identities.push(Arc::new(id));
        }
        let mut app_headers = Vec::with_capacity(config.apps.len());
        for app in &config.apps {
            let value = |s: &str| {
                HeaderValue::from_bytes(s.as_bytes())
                    .map_err(|_| StartError::NotAHeader(s.to_string()))
            };
            app_headers.push(AppHeaders {
                app: value(&app.name)?,
                proto: value(&app.origin.scheme)?,
                host: value(&app.origin.authority)?,
            });
        }
        Ok(State {
            bind_cookie: format!("{}_bind", config.session.cookie_name),
            logins: crate::login::Logins::new(&config.login, clock.clone()),
            pubky_replays: Default::default(),
            identities,
            app_headers,
            peers,
            sessions,
            clock,
            config,
        })
    }

    /// The shared identity of configured user `index`.
    pub fn user_identity(&self, index: usize) -> Option<Arc<Identity>> {
        self.identities.get(index).cloned()
    }

    /// Frees expired sessions and login attempts.
    pub async fn sweep(&self) -> usize {
        self.sessions.sweep().await + self.logins.sweep() + self.pubky_replays.sweep(&self.clock)
    }

    /// `Set-Cookie` value carrying a new session token.
    pub fn session_cookie(&self, app: &App, token: &SessionToken) -> String {
        self.cookie(
            app,
            &self.config.session.cookie_name,
            token.as_str(),
            self.config.session.lifetime.as_secs() as i64,
            false,
        )
    }

    /// `Set-Cookie` value that deletes the session cookie.
    pub fn clear_session_cookie(&self, app: &App) -> String {
        self.cookie(app, &self.config.session.cookie_name, "", 0, false)
    }

    /// A cookie with the gateway's attributes: host-only, `/`, HttpOnly, SameSite (the
    /// configured policy, or `Strict` when `strict`), Secure per policy.
    pub fn cookie(
        &self,
        app: &App,
        name: &str,
        value: &str,
        max_age_secs: i64,
        strict: bool,
    ) -> String {
        let same_site = match (strict, self.config.session.same_site) {
            (true, _) | (_, SameSite::Strict) => cookie::SameSite::Strict,
            (false, SameSite::Lax) => cookie::SameSite::Lax,
        };
        cookie::Cookie::build((name, value))
            .path("/")
            .http_only(true)
            .secure(app.cookie_secure)
            .same_site(same_site)
            .max_age(cookie::time::Duration::seconds(max_age_secs))
            .build()
            .to_string()
    }

    /// Names of the gateway's own cookies, never forwarded upstream.
    pub fn own_cookies(&self) -> [&str; 2] {
        [&self.config.session.cookie_name, &self.bind_cookie]
    }

    /// The live session on this request, if any.
    pub async fn session_identity(
        &self,
        headers: &http::HeaderMap,
        app: usize,
    ) -> Option<Arc<Identity>> {
        for value in headers.get_all(http::header::COOKIE) {
            let Ok(value) = value.to_str() else { continue };
            for token in identity::cookie_values(value, &self.config.session.cookie_name) {
                if let Some(id) = self.sessions.lookup(token, app).await {
                    return Some(id);
                }
            }
        }
        None
    }
}

fn resolve_peer(app: &App) -> Result<HttpPeer, StartError> {
    let fail = |reason: String| StartError::Upstream {
        app: app.name.clone(),
        upstream: app.upstream.clone(),
        reason,
    };
    let addr: SocketAddr = app
        .upstream
        .to_socket_addrs()
        .map_err(|e| fail(e.to_string()))?
        .next()
        .ok_or_else(|| fail("no addresses".into()))?;
    let mut peer = HttpPeer::new(addr, false, String::new());
    peer.options.connection_timeout = Some(app.connect_timeout);
    peer.options.read_timeout = Some(app.read_timeout);
    Ok(peer)
}

/// The gateway, as pingora sees it.
pub struct Gateway {
    state: Arc<State>,
}

impl Gateway {
    /// A gateway over shared state.
    pub fn new(state: Arc<State>) -> Self {
        Self { state }
    }
}

/// Per-request facts gathered in `request_filter` and used by later hooks.
#[derive(Default)]
pub struct Ctx {
    app: Option<usize>,
    /// Canonical path plus the original query, when it differs from what the client sent.
    rewrite: Option<String>,
    identity: Option<Arc<Identity>>,
}

#[async_trait]
impl ProxyHttp for Gateway {
    type CTX = Ctx;

    fn new_ctx(&self) -> Ctx {
        Ctx::default()
    }

    async fn request_filter(&self, session: &mut Session, ctx: &mut Ctx) -> Result<bool> {
        let state = &*self.state;
        let req = session.req_header();

        let Some(app_index) = request_host(req).and_then(|h| state.config.app_for_host(h)) else {
            let reply = Reply::error_for(
                wants_html(session.req_header()),
                404,
                "unknown_host",
                "Not found",
                "No application is served at this address.",
            );
            return send(session, reply).await;
        };
        ctx.app = Some(app_index);
        let app = &state.config.apps[app_index];

        let raw_path = req.uri.path();
        let path = match canonicalize(raw_path) {
            Ok(p) => p,
            Err(e) => {
                let reply = Reply::error_for(
                    wants_html(session.req_header()),
                    400,
                    "bad_path",
                    "Bad request",
                    &e.to_string(),
                );
                return send(session, reply).await;
            }
        };

        let prefix = &state.config.server.prefix;
        if let Some(sub) = path.as_str().strip_prefix(prefix.as_str()) {
            if sub.is_empty() || sub.starts_with('/') {
                let sub = sub.to_string();
                return self.serve_route(session, app_index, sub).await;
            }
        }

        // An absolute-form target (`GET http://host/path`; pingora keeps its bytes for the
        // wire) is forwarded in origin form, so the upstream sees exactly the path that was
        // authorized and no second authority.
        let absolute_form = req.raw_path().first() != Some(&b'/');
        if path.as_str() != raw_path || absolute_form {
            ctx.rewrite = Some(match req.uri.query() {
                Some(q) => format!("{}?{q}", path.as_str()),
                None => path.as_str().to_string(),
            });
        }

        if app.public_paths.iter().any(|p| path.starts_with_prefix(p)) {
            return Ok(false);
        }

        if let Some(id) = state.session_identity(&req.headers, app_index).await {
            ctx.identity = Some(id);
            return Ok(false);
        }

        let reply = if negotiate::is_browser_navigation(&req.method, &req.headers) {
            let back = match req.uri.query() {
                Some(q) => format!("{}?{q}", path.as_str()),
                None => path.as_str().to_string(),
            };
            let rd: String = url::form_urlencoded::byte_serialize(back.as_bytes()).collect();
            Reply::redirect(302, format!("{prefix}/login?rd={rd}"))
        } else {
            Reply::error(401, "unauthenticated", "Sign in first.").with_header(
                "www-authenticate",
                format!(
                    "QRGate realm=\"{}\", login=\"{prefix}/login\"",
                    app.name.replace('"', "")
                ),
            )
        };
        send(session, reply).await
    }

    async fn upstream_peer(&self, _session: &mut Session, ctx: &mut Ctx) -> Result<Box<HttpPeer>> {
        // request_filter always sets the app before a request can be proxied.
        let peer = ctx
            .app
            .and_then(|i| self.state.peers.get(i))
            .ok_or_else(|| Error::explain(ErrorType::InternalError, "no app selected"))?;
        Ok(Box::new(peer.clone()))
    }

    async fn upstream_request_filter(
        &self,
        session: &mut Session,
        upstream: &mut RequestHeader,
        ctx: &mut Ctx,
    ) -> Result<()> {
        let state = &*self.state;
        let app_index = ctx
            .app
            .ok_or_else(|| Error::explain(ErrorType::InternalError, "no app selected"))?;
        let headers = &state.app_headers[app_index];

        for name in identity::reserved_names(&upstream.headers) {
            upstream.remove_header(&name);
        }
        if let Some(conn) = upstream.headers.get(http::header::CONNECTION) {
            match conn.to_str().ok().and_then(identity::sanitize_connection) {
                Some(v) => upstream.insert_header(http::header::CONNECTION, v)?,
                None => {
                    upstream.remove_header(&http::header::CONNECTION);
                }
            }
        }
        let cookies: Vec<String> = upstream
            .headers
            .get_all(http::header::COOKIE)
            .iter()
            .filter_map(|v| v.to_str().ok())
            .filter_map(|v| identity::strip_cookies(v, &state.own_cookies()))
            .collect();
        upstream.remove_header(&http::header::COOKIE);
        if !cookies.is_empty() {
            upstream.insert_header(http::header::COOKIE, cookies.join("; "))?;
        }

        if let Some(uri) = ctx.rewrite.take() {
            let uri: http::Uri = uri.parse().map_err(|_| {
                Error::explain(ErrorType::HTTPStatus(400), "unparseable canonical path")
            })?;
            upstream.set_uri(uri);
        }

        if let Some(id) = &ctx.identity {
            let [user, pubkey, roles] = id.header_values();
            upstream.insert_header(identity::USER, user.clone())?;
            upstream.insert_header(identity::PUBKEY, pubkey.clone())?;
            upstream.insert_header(identity::ROLES, roles.clone())?;
            upstream.insert_header(identity::APP, headers.app.clone())?;
        }

        // Client-supplied X-Forwarded-For was removed with the reserved headers above; it is
        // only carried forward when the operator says a trusted proxy sits in front.
        let client_ip = session
            .client_addr()
            .and_then(|a| a.as_inet())
            .map(|a| a.ip());
        let xff = match (client_ip, state.config.server.trust_forwarded_for) {
            (Some(ip), false) => ip.to_string(),
            (Some(ip), true) => match session
                .req_header()
                .headers
                .get("x-forwarded-for")
                .and_then(|v| v.to_str().ok())
            {
                Some(prior) => format!("{prior}, {ip}"),
                None => ip.to_string(),
            },
            (None, _) => String::from("unknown"),
        };
        upstream.insert_header("x-forwarded-for", xff)?;
        upstream.insert_header("x-forwarded-proto", headers.proto.clone())?;
        upstream.insert_header("x-forwarded-host", headers.host.clone())?;
        Ok(())
    }

    async fn fail_to_proxy(&self, session: &mut Session, e: &Error, _ctx: &mut Ctx) -> FailToProxy {
        let code = match e.etype() {
            ErrorType::HTTPStatus(code) => *code,
            ErrorType::ConnectTimedout | ErrorType::ReadTimedout | ErrorType::WriteTimedout => 504,
            _ => match e.esource() {
                ErrorSource::Upstream => 502,
                ErrorSource::Downstream => match e.etype() {
                    ErrorType::WriteError | ErrorType::ReadError | ErrorType::ConnectionClosed => 0,
                    _ => 400,
                },
                ErrorSource::Internal | ErrorSource::Unset => 500,
            },
        };
        if code > 0 {
            let (name, title, message) = match code {
                502 => (
                    "upstream_unavailable",
                    "The application is not answering",
                    "The gateway could not reach the application. Try again in a moment.",
                ),
                504 => (
                    "upstream_timeout",
                    "The application took too long",
                    "The application did not answer in time. Try again in a moment.",
                ),
                400 => (
                    "bad_request",
                    "Bad request",
                    "The request could not be understood.",
                ),
                _ => (
                    "gateway_error",
                    "Something went wrong",
                    "The gateway could not complete this request.",
                ),
            };
            let reply =
                Reply::error_for(wants_html(session.req_header()), code, name, title, message);
            if let Err(err) = send(session, reply).await {
                tracing::debug!(%err, "could not send error page");
            }
        }
        FailToProxy {
            error_code: code,
            can_reuse_downstream: false,
        }
    }

    async fn logging(&self, session: &mut Session, e: Option<&Error>, ctx: &mut Ctx) {
        let status = session.response_written().map_or(0, |r| r.status.as_u16());
        if let Some(e) = e {
            tracing::warn!(status, error = %e, "request failed");
        } else {
            tracing::debug!(
                status,
                method = %session.req_header().method,
                path = session.req_header().uri.path(),
                user = ctx.identity.as_ref().map(|i| i.user.as_str()),
                "request"
            );
        }
    }
}

impl Gateway {
    async fn serve_route(&self, session: &mut Session, app: usize, sub: String) -> Result<bool> {
        let body = if session.req_header().method == http::Method::POST {
            match read_body_capped(session, MAX_BODY).await? {
                Some(b) => b,
                None => {
                    let reply = Reply::error(
                        413,
                        "body_too_large",
                        "The request body is larger than 8 KiB.",
                    );
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
            path: &sub,
            query: req.uri.query(),
            headers: &req.headers,
            body,
            client_ip: session
                .client_addr()
                .and_then(|a| a.as_inet())
                .map(|a| a.ip()),
            wants_html: wants_html(session.req_header()),
        };
        // Boxed so the handlers' large states (page rendering, signature checks) live only
        // while they run, instead of inside every long-lived event stream's future.
        match Box::pin(routes::handle(&self.state, route_req)).await {
            Routed::Reply(reply) => send(session, reply).await,
            Routed::Events(stream) => {
                serve_events(session, stream).await?;
                Ok(true)
            }
        }
    }
}

/// Streams server-sent events until the stream ends or the client goes away.
async fn serve_events(session: &mut Session, mut events: EventStream) -> Result<()> {
    let mut header = ResponseHeader::build(200, Some(SECURITY_HEADERS.len() + 3))?;
    header.insert_header(http::header::CONTENT_TYPE, "text/event-stream")?;
    header.insert_header(http::header::TRANSFER_ENCODING, "chunked")?;
    for (name, value) in SECURITY_HEADERS {
        header.insert_header(*name, *value)?;
    }
    // Tell buffering proxies in front of us to pass events through at once.
    header.insert_header("x-accel-buffering", "no")?;
    session
        .write_response_header(Box::new(header), false)
        .await?;
    loop {
        let frame = tokio::select! {
            f = events.next_frame() => f,
            // A GET has no body: any read result here means the client closed or misbehaved.
            _ = session.downstream_session.read_body_or_idle(true) => return Ok(()),
        };
        match frame {
            Some(bytes) => session.write_response_body(Some(bytes), false).await?,
            None => break,
        }
    }
    session.write_response_body(None, true).await?;
    Ok(())
}

/// Whether the client prefers HTML, for choosing between an error page and JSON. Only
/// computed when the gateway answers itself, never on the forwarding path.
fn wants_html(req: &RequestHeader) -> bool {
    req.headers
        .get(http::header::ACCEPT)
        .and_then(|v| v.to_str().ok())
        .is_some_and(negotiate::prefers_html)
}

/// The request's target host: the absolute-form authority if present, else `Host`.
fn request_host(req: &RequestHeader) -> Option<&str> {
    if let Some(auth) = req.uri.authority() {
        return Some(auth.as_str());
    }
    req.headers.get(http::header::HOST)?.to_str().ok()
}

/// Reads the whole body, or `None` if it is longer than `cap` (without buffering past it).
async fn read_body_capped(session: &mut Session, cap: usize) -> Result<Option<Bytes>> {
    let declared = session
        .req_header()
        .headers
        .get(http::header::CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse::<usize>().ok());
    if declared.is_some_and(|n| n > cap) {
        return Ok(None);
    }
    let mut buf = Vec::new();
    while let Some(chunk) = session.read_request_body().await? {
        if buf.len() + chunk.len() > cap {
            return Ok(None);
        }
        buf.extend_from_slice(&chunk);
    }
    Ok(Some(buf.into()))
}

/// Writes a local reply and ends the request (`Ok(true)` for `request_filter`).
pub async fn send(session: &mut Session, reply: Reply) -> Result<bool> {
    let mut header = ResponseHeader::build(
        reply.status,
        Some(SECURITY_HEADERS.len() + reply.headers.len() + 2),
    )?;
    header.insert_header(http::header::CONTENT_TYPE, reply.content_type)?;
    header.insert_header(http::header::CONTENT_LENGTH, reply.body.len())?;
    for (name, value) in SECURITY_HEADERS {
        header.insert_header(*name, *value)?;
    }
    for (name, value) in reply.headers {
        header.append_header(name, value)?;
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
