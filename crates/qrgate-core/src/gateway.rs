//! The gateway's shared state: everything a request may consult, built once from config.
//!
//! [`Gateway`] holds the validated config, the clock, the session store, the login attempt
//! table, one instance of each signer protocol, and values derived from config once (one
//! [`Identity`] per configured user, per-app header values, per-app signer contexts). It
//! builds the gateway's cookies and looks up the session a request carries. It holds no
//! upstream connections and no pingora types: those stay in the proxy glue.

use std::sync::Arc;

use http::{HeaderMap, HeaderValue};

use crate::attempts::Logins;
use crate::config::{App, AppId, Config};
use crate::cookies::{self, SameSite};
use crate::identity::Identity;
use crate::limits::{self, RateLimits};
use crate::protocol::Context;
use crate::session::{token_hash, Lifetimes, MemoryStore, SessionStore, SessionToken, StoreError};
use crate::signers::Signers;

/// Why a gateway could not be built from a valid config.
#[derive(Debug, thiserror::Error)]
pub enum GatewayError {
    /// A configured name cannot travel in an HTTP header.
    #[error("{0:?} cannot be sent in an HTTP header (control characters)")]
    NotAHeader(String),
}

/// Header values and URLs that depend only on the app, built once.
pub struct AppValues {
    /// `X-Auth-App`.
    pub name: HeaderValue,
    /// `X-Forwarded-Proto`, from the configured origin.
    pub proto: HeaderValue,
    /// `X-Forwarded-Host`, from the configured origin.
    pub host: HeaderValue,
    /// `{origin}{prefix}`: where the gateway's own routes live on this app's origin.
    pub base: String,
}

/// Everything the gateway knows, shared by all requests.
pub struct Gateway {
    /// The validated config.
    pub config: Config,
    /// The time source for every expiry.
    pub clock: crate::clock::Clock,
    /// Live sessions.
    pub sessions: Arc<dyn SessionStore>,
    /// Pending logins (QR attempts).
    pub logins: Logins,
    /// One instance of every signer protocol.
    pub signers: Signers,
    /// Per-client rate limits.
    pub rates: RateLimits,
    /// One shared identity per configured user, in `[[user]]` order.
    identities: Vec<Arc<Identity>>,
    /// Per-app values, in `[[app]]` order.
    apps: Vec<AppValues>,
    /// Name of the cookie that binds a login attempt to the browser that started it.
    bind_cookie: String,
}

impl Gateway {
    /// A gateway with the in-memory session store.
    pub fn new(config: Config, clock: crate::clock::Clock) -> Result<Gateway, GatewayError> {
        let lifetimes = Lifetimes {
            absolute: config.session.lifetime,
            idle: config.session.idle_timeout,
        };
        let store = Arc::new(MemoryStore::new(lifetimes, clock.clone()));
        Self::with_store(config, clock, store)
    }

    /// A gateway with any session store.
    pub fn with_store(
        config: Config,
        clock: crate::clock::Clock,
        sessions: Arc<dyn SessionStore>,
    ) -> Result<Gateway, GatewayError> {
        let header = |s: &str| {
            HeaderValue::from_bytes(s.as_bytes()).map_err(|_| GatewayError::NotAHeader(s.into()))
        };
        let mut identities = Vec::with_capacity(config.users.len());
        for u in &config.users {
            let id = Identity::new(u.name.clone(), u.key.to_z32(), u.roles.join(","))
                .ok_or_else(|| GatewayError::NotAHeader(u.name.clone()))?;
            identities.push(Arc::new(id));
        }
        let mut apps = Vec::with_capacity(config.apps.len());
        for app in &config.apps {
            apps.push(AppValues {
                name: header(&app.name)?,
                proto: header(&app.origin.scheme)?,
                host: header(&app.origin.authority)?,
                base: format!("{}{}", app.origin, config.server.prefix),
            });
        }
        Ok(Gateway {
            bind_cookie: format!("{}_bind", config.session.cookie_name),
            logins: Logins::new(
                &config.login,
                config.limits.pending_per_client,
                clock.clone(),
            ),
            signers: Signers::default(),
            rates: RateLimits::new(&config.limits),
            identities,
            apps,
            sessions,
            clock,
            config,
        })
    }

    /// The app named by `id`.
    pub fn app(&self, id: AppId) -> &App {
        self.config.app(id)
    }

    /// Values derived from app `id`'s config.
    pub fn app_values(&self, id: AppId) -> &AppValues {
        &self.apps[id.index()]
    }

    /// What signers need to know about app `id`, now.
    pub fn signer_context(&self, id: AppId) -> Context<'_> {
        let app = self.app(id);
        Context {
            app_name: &app.name,
            origin: &app.origin,
            base: &self.app_values(id).base,
            now_ms: self.clock.now_millis(),
        }
    }

    /// The shared identity of configured user `index`.
    pub fn user_identity(&self, index: usize) -> Option<Arc<Identity>> {
        self.identities.get(index).cloned()
    }

    /// Frees expired sessions, login attempts, signer replay records and idle rate-limit
    /// buckets; returns how many sessions, attempts and replay records went.
    pub async fn sweep(&self) -> usize {
        self.rates.sweep();
        self.sessions.sweep().await
            + self.logins.sweep()
            + self.signers.sweep(self.clock.now_millis())
    }

    /// The client's address for a request from `peer` (see [`limits::client_ip`]).
    pub fn client_ip(
        &self,
        peer: Option<std::net::IpAddr>,
        headers: &HeaderMap,
    ) -> Option<std::net::IpAddr> {
        let s = &self.config.server;
        limits::client_ip(peer, headers, s.trust_forwarded_for, &s.trusted_proxies)
    }

    /// `Set-Cookie` value carrying a new session token.
    pub fn session_cookie(&self, app: AppId, token: &SessionToken) -> String {
        let s = &self.config.session;
        self.cookie(
            app,
            &s.cookie_name,
            token.as_str(),
            s.lifetime.as_secs(),
            s.same_site,
        )
    }

    /// `Set-Cookie` value that deletes the session cookie.
    pub fn clear_session_cookie(&self, app: AppId) -> String {
        let s = &self.config.session;
        self.cookie(app, &s.cookie_name, "", 0, s.same_site)
    }

    /// `Set-Cookie` value carrying a new binding value. Always `SameSite=Strict`: the binding
    /// only ever travels on the app's own pages' requests. It outlives one attempt by an hour
    /// so later attempts of the same browser reuse it.
    pub fn bind_cookie(&self, app: AppId, value: &str) -> String {
        let max_age = self.logins.lifetime().as_secs().saturating_add(3600);
        self.cookie(app, &self.bind_cookie, value, max_age, SameSite::Strict)
    }

    fn cookie(
        &self,
        app: AppId,
        name: &str,
        value: &str,
        max_age: u64,
        same_site: SameSite,
    ) -> String {
        cookies::build(name, value, max_age, self.app(app).cookie_secure, same_site)
    }

    /// Names of the gateway's own cookies, never forwarded upstream.
    pub fn own_cookies(&self) -> [&str; 2] {
        [&self.config.session.cookie_name, &self.bind_cookie]
    }

    /// The binding value this browser already holds, if it looks like one of ours.
    pub fn presented_binding<'a>(&'a self, headers: &'a HeaderMap) -> Option<&'a str> {
        cookies::values(headers, &self.bind_cookie).find(|v| token_hash(v).is_some())
    }

    /// The live session on this request, if any. A store failure is an error, never "no
    /// session" and never "signed in": callers refuse the request.
    pub async fn session_identity(
        &self,
        headers: &HeaderMap,
        app: AppId,
    ) -> Result<Option<Arc<Identity>>, StoreError> {
        for token in cookies::values(headers, &self.config.session.cookie_name) {
            let Some(hash) = token_hash(token) else {
                continue;
            };
            if let Some(id) = self.sessions.lookup(&hash, app).await? {
                return Ok(Some(id));
            }
        }
        Ok(None)
    }
}
