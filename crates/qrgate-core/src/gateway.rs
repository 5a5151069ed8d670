//! The gateway's shared state: the current [`Settings`] (swapped whole on reload) and what
//! outlives any one config — the session store, the login attempts, the signers' replay
//! memories, the rate-limit buckets, the clock.
//!
//! A reload builds new settings from a new config and swaps them in atomically: requests
//! already running finish with the settings they started with, new ones see the new config,
//! and sessions, pending logins and open event streams carry on, because none of them holds
//! anything derived from config (a session records a key and an app name; who that key is
//! gets looked up in the current settings on every request). It holds no upstream connections
//! and no pingora types: those stay in the proxy glue.

use std::sync::Arc;

use arc_swap::{ArcSwap, ArcSwapOption};
use http::{HeaderMap, HeaderValue};

use crate::assertion::Assertions;
use crate::attempts::Logins;
use crate::audit;
use crate::clock::Clock;
use crate::config::{AppId, Config};
use crate::devices::{DeviceStore, Devices, MemoryDevices, Retired};
use crate::identity::Identity;
use crate::limits::RateLimits;
use crate::metrics::Metrics;
use crate::session::{
    token_hash, Lifetimes, MemoryStore, SessionMeta, SessionStore, StoreError, TokenHash,
    LEGACY_TOKEN_LEN,
};
use crate::settings::{NoIdentity, Settings, SettingsError};
use crate::share::AttemptShare;
use crate::signers::Signers;

/// A live session on a request, and who it is now.
#[derive(Debug, Clone)]
pub struct LiveSession {
    /// Its token hash (which names it).
    pub hash: TokenHash,
    /// Its key's identity on the app now.
    pub identity: Arc<Identity>,
    /// Its last phone approval, ms since the epoch.
    pub approved_ms: u64,
    /// How it began, including what it was granted.
    pub meta: Arc<SessionMeta>,
}

/// Everything the gateway knows, shared by all requests.
pub struct Gateway {
    settings: ArcSwap<Settings>,
    rates: ArcSwap<RateLimits>,
    /// The time source for every expiry.
    pub clock: Clock,
    /// Live sessions.
    pub sessions: Arc<dyn SessionStore>,
    /// Pending logins (QR attempts).
    pub logins: Logins,
    /// Devices enrolled by invitation, as every request of one reads them.
    pub devices: Devices,
    /// Where enrollments and invitations are kept.
    pub device_store: Arc<dyn DeviceStore>,
    /// Woken when a device is enrolled or removed here (the state file is rewritten). Always
    /// `notify_one`: the permit it leaves makes a change during a write cause one more write.
    pub devices_changed: tokio::sync::Notify,
    /// One instance of every signer protocol.
    pub signers: Signers,
    /// What the gateway counts.
    pub metrics: Metrics,
    /// The identity assertion signer, when `[assertion]` is enabled (keys come from the
    /// glue, which keeps them in a file).
    pub assertions: ArcSwapOption<Assertions>,
    /// The OpenID Connect provider's signer and store (used with `[sso]`).
    pub oidc: crate::oidc::Provider,
    /// Woken whenever sessions may have ended other than by expiry (a revocation here or on
    /// another instance, a reload): connections tied to a session check it at once.
    pub sessions_changed: tokio::sync::Notify,
    /// Woken (`notify_one`) by every reload: the sweeper reviews the enrolled devices
    /// against the new config at once (`control::review_devices`).
    pub reloaded: tokio::sync::Notify,
}

impl Gateway {
    /// A gateway with the in-memory session store.
    pub fn new(config: Config, clock: Clock) -> Result<Gateway, SettingsError> {
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
        clock: Clock,
        sessions: Arc<dyn SessionStore>,
    ) -> Result<Gateway, SettingsError> {
        Self::build(
            config,
            clock,
            sessions,
            None,
            Arc::new(MemoryDevices::default()),
        )
    }

    /// One of several instances: sessions in `sessions`, login attempts shared through
    /// `share`, devices and invitations in `device_store`.
    pub fn shared(
        config: Config,
        clock: Clock,
        sessions: Arc<dyn SessionStore>,
        share: Arc<dyn AttemptShare>,
        device_store: Arc<dyn DeviceStore>,
    ) -> Result<Gateway, SettingsError> {
        Self::build(config, clock, sessions, Some(share), device_store)
    }

    fn build(
        config: Config,
        clock: Clock,
        sessions: Arc<dyn SessionStore>,
        share: Option<Arc<dyn AttemptShare>>,
        device_store: Arc<dyn DeviceStore>,
    ) -> Result<Gateway, SettingsError> {
        let signers = Signers::default();
        let mut logins = Logins::new(
            &config.login,
            config.limits.pending_per_client,
            clock.clone(),
        );
        if let Some(share) = share {
            logins = logins.shared(share, signers.iter().map(|s| s.id()).collect());
        }
        let rates = RateLimits::new(&config.limits);
        Ok(Gateway {
            settings: ArcSwap::from_pointee(Settings::new(config)?),
            rates: ArcSwap::from_pointee(rates),
            sessions,
            logins,
            devices: Devices::default(),
            device_store,
            devices_changed: tokio::sync::Notify::new(),
            signers,
            metrics: Metrics::new(),
            assertions: ArcSwapOption::empty(),
            oidc: crate::oidc::Provider::default(),
            sessions_changed: tokio::sync::Notify::new(),
            reloaded: tokio::sync::Notify::new(),
            clock,
        })
    }

    /// Whether session `hash` still lets its key into `app` under the settings in force now
    /// (live, not revoked, the key still allowed). A store that cannot answer says no.
    pub async fn still_valid(&self, hash: &TokenHash, app: AppId) -> bool {
        let s = self.settings();
        if app.index() >= s.config.apps.len() {
            return false;
        }
        match self.sessions.peek(hash, &s.app(app).key).await {
            Ok(Some(record)) => self.session_identity_of(&s, app, &record.key).is_ok(),
            Ok(None) | Err(_) => false,
        }
    }

    /// Who `key` is on app `app` under `s`: a configured user's key, a device enrolled for
    /// a configured user, or the key itself under open enrollment.
    pub fn identity(
        &self,
        s: &Settings,
        app: AppId,
        key: &[u8; 32],
    ) -> Result<Arc<Identity>, NoIdentity> {
        // An enrolled device is its user's before open enrollment makes it its own.
        if !self.devices.is_empty() && s.config.user_by_key(key).is_none() {
            match self.devices.identity(s, app, key) {
                Err(NoIdentity::UnknownKey) => {}
                found => return found,
            }
        }
        s.identity_for(app, key)
    }

    /// Who a session of app `app` (by name) made by `key` is now. Sessions name their app by
    /// name, so one made under a name a reload retired (the app removed, or its name given to
    /// an app on another origin) is no session of the app bearing the name now: refused until
    /// the review has ended it.
    pub fn session_identity_of(
        &self,
        s: &Settings,
        app: AppId,
        key: &[u8; 32],
    ) -> Result<Arc<Identity>, NoIdentity> {
        if self.devices.is_retired_app(&s.app(app).name) {
            return Err(NoIdentity::UnknownKey);
        }
        self.identity(s, app, key)
    }

    /// The `X-Auth-Assertion` for `identity` on `app`, when assertions are enabled.
    pub fn assertion(&self, s: &Settings, app: AppId, identity: &Identity) -> Option<HeaderValue> {
        let signer = self.assertions.load();
        let signer = signer.as_ref()?;
        let a = s.app(app);
        signer.assertion(&a.key, &a.origin, identity, self.clock.now_millis())
    }

    /// Whether every store answers now (the admin listener's `/readyz`).
    pub async fn ready(&self) -> Result<(), StoreError> {
        self.sessions.ready().await?;
        if let Some(share) = self.logins.share() {
            share.ready().await?;
        }
        Ok(())
    }

    /// The settings in force now. Hold the returned value for the whole of a request.
    pub fn settings(&self) -> Arc<Settings> {
        self.settings.load_full()
    }

    /// The per-client rate limits in force now.
    pub fn rates(&self) -> Arc<RateLimits> {
        self.rates.load_full()
    }

    /// Puts a new config in force. Sessions, attempts, event streams and replay memories
    /// carry on; rate-limit buckets start afresh only if `[limits]` changed. A session
    /// lifetime change applies to the in-memory store at the next restart.
    pub fn reload(&self, config: Config) -> Result<(), SettingsError> {
        let settings = Settings::new(config)?;
        let c = &settings.config;
        if c.limits != self.settings.load().config.limits {
            self.rates.store(Arc::new(RateLimits::new(&c.limits)));
        }
        self.logins
            .reconfigure(&c.login, c.limits.pending_per_client);
        // Users this reload removes, and apps it removes or moves to another origin: their
        // devices sign nobody in (there) from now until the review has dealt with them, even
        // if a later reload adds the name again first.
        let before = self.settings.load();
        self.devices.retire(Retired::by_reload(&before.config, c));
        self.settings.store(Arc::new(settings));
        // Someone may have lost access: tied connections check now, and devices of names
        // that left the config are removed.
        self.sessions_changed.notify_waiters();
        self.reloaded.notify_one();
        Ok(())
    }

    /// Frees expired sessions, login attempts, signer replay records and idle rate-limit
    /// buckets; returns how many sessions, attempts and replay records went.
    pub async fn sweep(&self) -> usize {
        self.rates().sweep();
        let swept = self.logins.sweep();
        for a in &swept.expired {
            audit::attempt_expired(
                &a.request.app,
                &a.id,
                &a.request.requester_agent,
                &a.request.requester_ip,
            );
        }
        let expired = u64::try_from(swept.expired.len()).unwrap_or(u64::MAX);
        self.metrics
            .logins_expired
            .with_label_values::<&str>(&[])
            .inc_by(expired);
        if let Some(a) = self.assertions.load().as_ref() {
            a.sweep(self.clock.now_millis());
        }
        let invitations = self.device_store.sweep(self.clock.now_millis());
        let grants = self.oidc.store().sweep(self.clock.now_millis()).await;
        self.sessions.sweep().await
            + swept.freed
            + invitations
            + grants
            + self.signers.sweep(self.clock.now_millis())
    }

    /// The live session on this request, as the identity its key has on `app` under
    /// `settings`. A session whose key is no longer allowed there counts as none. A store
    /// failure is an error, never "no session" and never "signed in": callers refuse.
    pub async fn session_identity(
        &self,
        settings: &Settings,
        headers: &HeaderMap,
        app: AppId,
    ) -> Result<Option<Arc<Identity>>, StoreError> {
        Ok(self
            .session(settings, headers, app)
            .await?
            .map(|live| live.identity))
    }

    /// [`Gateway::session_identity`] with the session's token hash (which names it) and its
    /// last phone approval.
    pub async fn session(
        &self,
        settings: &Settings,
        headers: &HeaderMap,
        app: AppId,
    ) -> Result<Option<LiveSession>, StoreError> {
        let name = &*settings.app(app).key;
        for (token, legacy) in settings.presented_sessions(headers, app) {
            // The cookie's old name (no `__Host-` prefix) is one a sibling subdomain can
            // plant; it is honoured only for a token issued under it, before the prefix,
            // which its length tells (every token issued since is longer), so no restart
            // and no session issued since reopens it.
            if legacy && token.len() != LEGACY_TOKEN_LEN {
                continue;
            }
            let Some(hash) = token_hash(token) else {
                continue;
            };
            let Some(record) = self.sessions.lookup(&hash, name).await? else {
                continue;
            };
            if let Ok(identity) = self.session_identity_of(settings, app, &record.key) {
                return Ok(Some(LiveSession {
                    hash,
                    identity,
                    approved_ms: record.approved_ms,
                    meta: record.meta,
                }));
            }
        }
        Ok(None)
    }
}
