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

use crate::clock::Clock;
use crate::config::{AppId, Config};
use crate::devices::{Device, DeviceStore, Devices, MemoryDevices, Retired};
use crate::gate::limits::{RateLimits, UseNotes};
use crate::identity::assertion::Assertions;
use crate::identity::Identity;
use crate::login::attempts::Logins;
use crate::login::share::AttemptShare;
use crate::login::signers::Signers;
use crate::observe::audit;
use crate::observe::metrics::Metrics;
use crate::raw::KeyBytes;
use crate::session::{
    token_hash, Lifetimes, MemoryStore, SessionMeta, SessionStore, StoreError, TokenHash,
    LEGACY_TOKEN_LEN,
};
use crate::settings::{NoIdentity, Settings, SettingsError};

/// A live session on a request, and who it is now.
#[derive(Debug, Clone)]
pub(crate) struct LiveSession {
    /// Its token hash (which names it).
    pub(crate) hash: TokenHash,
    /// Its key's identity on the app now.
    pub(crate) identity: Arc<Identity>,
    /// Its last phone approval, ms since the epoch.
    pub(crate) approved_ms: u64,
    /// How it began, including what it was granted.
    pub(crate) meta: Arc<SessionMeta>,
}

/// Everything the gateway knows, shared by all requests. Its parts are reached through
/// methods that keep its rules: what callers only read comes as `&`, and every change that
/// others must hear of (a device enrolled or removed, a session revoked, a reload) is one
/// method that makes the change and wakes them.
pub struct Gateway {
    settings: ArcSwap<Settings>,
    rates: ArcSwap<RateLimits>,
    /// The time source for every expiry.
    clock: Clock,
    /// Live sessions.
    sessions: Arc<dyn SessionStore>,
    /// Pending logins (QR attempts).
    logins: Logins,
    /// Devices enrolled by invitation, as every request of one reads them.
    devices: Devices,
    /// Where enrollments and invitations are kept.
    device_store: Arc<dyn DeviceStore>,
    /// Woken when a device is enrolled or removed here (the state file is rewritten). Always
    /// `notify_one`: the permit it leaves makes a change during a write cause one more write.
    devices_changed: tokio::sync::Notify,
    /// One instance of every signer protocol.
    signers: Signers,
    /// What the gateway counts.
    metrics: Metrics,
    /// The identity assertion signer, when `[assertion]` is enabled (keys come from the
    /// glue, which keeps them in a file).
    assertions: ArcSwapOption<Assertions>,
    /// The OpenID Connect provider's signer and store (used with `[sso]`).
    oidc: crate::oidc::Provider,
    /// Woken whenever sessions may have ended other than by expiry (a revocation here or on
    /// another instance, a reload): connections tied to a session check it at once.
    sessions_changed: tokio::sync::Notify,
    /// Woken (`notify_one`) by every reload: the sweeper reviews the enrolled devices
    /// against the new config at once (`control::review_devices`).
    reloaded: tokio::sync::Notify,
    /// When each program token's use was last recorded here ([`crate::gate::program::note_use`]).
    program_uses: UseNotes,
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
    pub(crate) fn with_store(
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
        let gw = Self::build(config, clock, sessions, Some(share), device_store)?;
        // The shared table is read by the announcement listener; until then, who a device
        // key is cannot be told.
        gw.devices.set_current(false);
        Ok(gw)
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
            program_uses: UseNotes::default(),
            clock,
        })
    }

    /// The time source for every expiry (read only: one clock for the gateway's life).
    pub fn clock(&self) -> &Clock {
        &self.clock
    }

    /// The session store. A revocation goes through `Gateway::revoke_session`, which wakes
    /// the connections tied to sessions.
    pub fn sessions(&self) -> &Arc<dyn SessionStore> {
        &self.sessions
    }

    /// The login attempts.
    pub fn logins(&self) -> &Logins {
        &self.logins
    }

    /// The enrolled devices as requests read them. Changes made here go through
    /// `Gateway::enroll_device`, `Gateway::forget_device`, `Gateway::rebind_device`
    /// (and, for another instance's announcements, [`Gateway::heard_device_enrolled`],
    /// [`Gateway::heard_device_removed`], [`Gateway::heard_devices`]), each waking whoever
    /// must hear of it.
    pub fn devices(&self) -> &Devices {
        &self.devices
    }

    /// Where enrollments and invitations are kept (the store of record).
    pub fn device_store(&self) -> &Arc<dyn DeviceStore> {
        &self.device_store
    }

    /// One instance of every signer protocol.
    pub(crate) fn signers(&self) -> &Signers {
        &self.signers
    }

    /// What the gateway counts.
    pub fn metrics(&self) -> &Metrics {
        &self.metrics
    }

    /// The OpenID Connect provider's signer and store (used with `[sso]`).
    pub fn oidc(&self) -> &crate::oidc::Provider {
        &self.oidc
    }

    /// The identity assertion signer in force, if `[assertion]` is enabled.
    pub(crate) fn assertions(&self) -> Option<Arc<Assertions>> {
        self.assertions.load_full()
    }

    /// What the identity assertion signer in force publishes and signs with (none when
    /// `[assertion]` is off).
    pub fn assertion_keys_in_force(&self) -> Option<crate::rotation::InForce> {
        self.assertions.load().as_ref().map(|a| a.in_force())
    }

    /// Puts an identity assertion signer in force (or none); requests already running keep
    /// the one they loaded.
    pub fn set_assertions(&self, signer: Option<Arc<Assertions>>) {
        self.assertions.store(signer);
    }

    /// Ends session `hash`; true if it existed. Connections tied to a session are woken to
    /// check theirs, so none outlives its revocation. An SSO session is a sign-on family: the
    /// OpenID Connect grants it led to end first (their clients told by back-channel), so a
    /// failure there leaves the session to be revoked again; for any other session nothing
    /// has its id as family and this ends no grant.
    pub(crate) async fn revoke_session(&self, hash: &TokenHash) -> Result<bool, StoreError> {
        let settings = self.settings();
        if settings.config.sso.is_some() {
            self.oidc
                .end_family(
                    &settings.config,
                    &crate::session::session_id(hash),
                    self.clock.now_millis(),
                )
                .await?;
        }
        let ended = self.sessions.revoke(hash).await?;
        if ended {
            self.sessions_changed.notify_waiters();
        }
        Ok(ended)
    }

    /// Sessions may have ended other than by expiry or `Gateway::revoke_session` (another
    /// instance's revocation, a lost link): connections tied to a session check it at once.
    pub fn sessions_may_have_ended(&self) {
        self.sessions_changed.notify_waiters();
    }

    /// Resolves once sessions may have ended other than by expiry (see
    /// [`Gateway::sessions_may_have_ended`]). Create it before checking, so a change during
    /// the check is not missed.
    pub fn sessions_changed(&self) -> tokio::sync::futures::Notified<'_> {
        self.sessions_changed.notified()
    }

    /// Resolves once a device was enrolled or removed here (for the state file's keeper). A
    /// change while nobody waits leaves one permit, so a change during a write causes one
    /// more write.
    pub fn devices_changed(&self) -> tokio::sync::futures::Notified<'_> {
        self.devices_changed.notified()
    }

    /// Resolves once a reload put a new config in force (for the sweeper's review of the
    /// devices); a reload while nobody waits leaves one permit.
    pub fn reloaded(&self) -> tokio::sync::futures::Notified<'_> {
        self.reloaded.notified()
    }

    /// Records an enrolled device durably, then in the table (`Devices::enroll`); false
    /// if its key was enrolled already. The state file's keeper is woken.
    pub(crate) async fn enroll_device(&self, device: Device) -> Result<bool, StoreError> {
        let added = self.devices.enroll(device).await?;
        self.devices_changed.notify_one();
        Ok(added)
    }

    /// Removes the device of `key` durably, then from the table (`Devices::forget`). The
    /// state file's keeper is woken, and so are connections tied to sessions (the device's
    /// end with it).
    pub(crate) async fn forget_device(
        &self,
        key: &KeyBytes,
    ) -> Result<Option<Arc<Device>>, StoreError> {
        let gone = self.devices.forget(key).await?;
        self.devices_changed.notify_one();
        self.sessions_changed.notify_waiters();
        Ok(gone)
    }

    /// Replaces an enrolled device's record durably (`Devices::replace`, e.g. narrowed to
    /// fewer apps). The state file's keeper is woken, and so are connections tied to
    /// sessions (one may have lost its app).
    pub(crate) async fn rebind_device(&self, device: Device) -> Result<(), StoreError> {
        self.devices.replace(device).await?;
        self.devices_changed.notify_one();
        self.sessions_changed.notify_waiters();
        Ok(())
    }

    /// Another instance enrolled `device` (the store of record has it already).
    pub fn heard_device_enrolled(&self, device: Device) {
        self.devices.insert(device);
    }

    /// Another instance removed the device of `key`: connections tied to sessions check
    /// theirs (the device's end with it).
    pub fn heard_device_removed(&self, key: &KeyBytes) {
        self.devices.remove(key);
        self.sessions_changed.notify_waiters();
    }

    /// The store of record's whole device table, read afresh (announcements may have been
    /// missed): the table becomes it and counts as current; connections tied to sessions
    /// check theirs.
    pub fn heard_devices(&self, devices: Vec<Device>) {
        self.devices.replace_all(devices);
        self.devices.set_current(true);
        self.sessions_changed.notify_waiters();
    }

    /// Whether session `hash` still lets its key into `app` under the settings in force now
    /// (live, not revoked, the key still allowed). A store that cannot answer says no.
    pub async fn still_valid(&self, hash: &TokenHash, app: AppId) -> bool {
        let s = self.settings();
        if app.index() >= s.config.apps.len() {
            return false;
        }
        match self.sessions.peek(hash, &s.app(app).key).await {
            Ok(Some(record)) => self
                .session_identity_of(&s, app, &record.key, record.meta.family.as_deref())
                .is_ok(),
            Ok(None) | Err(_) => false,
        }
    }

    /// Who `key` is on app `app` under `s`: a configured user's key, a device enrolled for
    /// a configured user, or the key itself under open enrollment.
    pub(crate) fn identity(
        &self,
        s: &Settings,
        app: AppId,
        key: &KeyBytes,
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
    ///
    /// A session made through single sign-on (`family`) stands on its sign-on too: its key
    /// must still be let in at the SSO origin (its `[sso]` lists, the apps a device is bound
    /// to), so a person the operator shuts out there loses every app session of theirs at
    /// their next request.
    pub(crate) fn session_identity_of(
        &self,
        s: &Settings,
        app: AppId,
        key: &KeyBytes,
        family: Option<&str>,
    ) -> Result<Arc<Identity>, NoIdentity> {
        if self.devices.is_retired_app(&s.app(app).name) {
            return Err(NoIdentity::UnknownKey);
        }
        if family.is_some() {
            // Without `[sso]` no sign-on stands behind it any more.
            let sso = s.config.sso_app().ok_or(NoIdentity::UnknownKey)?;
            if sso != app {
                self.identity(s, sso, key)?;
            }
        }
        self.identity(s, app, key)
    }

    /// Ends every OpenID Connect grant that no longer stands ([`Gateway::grant_person`]),
    /// telling their clients: after a reload (users, keys, lists, clients changed) and after
    /// a device is removed. Returns how many.
    pub async fn end_fallen_grants(&self) -> Result<usize, StoreError> {
        let s = self.settings();
        if s.config.sso.is_none() {
            return Ok(0);
        }
        // Only grants known to have fallen: one whose standing cannot be told now (the
        // device table not current) waits for the next review or its next use.
        // A grant naming an app that no longer lets programs in (or is no longer the app it
        // was granted on), and a personal token longer than the operator allows now, have
        // fallen too: they never come back with the flag, the name or a longer bound.
        let fallen = |g: &crate::oidc::store::Grant| {
            !crate::oidc::device::apps_stand(&s.config, &g.scope, &g.origins)
                || !(g.name.is_empty()
                    || s.config
                        .programs
                        .allows_personal_life(g.expires_ms.saturating_sub(g.created_ms)))
                || matches!(
                    self.grant_person(&s, &g.client_id, &g.user, &g.subject, &g.key),
                    Ok(None)
                )
        };
        self.oidc
            .end_where(&s.config, self.clock.now_millis(), &fallen)
            .await
    }

    /// Who the person of an OpenID Connect code or grant is now, if it still stands: its
    /// client is still configured and admits them, and the key that approved it (hex) still
    /// resolves on the SSO origin to the same user with the subject it was issued for. A
    /// removed device, a replaced key, a person the `[sso]` lists or the client's now leave
    /// out, or a name given to someone else: `Ok(None)`, and the grant may be ended. When
    /// that cannot be told now (a key that is no configured user's while the device table is
    /// not current: announcements missed, or not loaded yet), `Err`: refuse, but end nothing.
    pub(crate) fn grant_person(
        &self,
        s: &Settings,
        client_id: &str,
        user: &str,
        subject: &str,
        key: &str,
    ) -> Result<Option<crate::oidc::claims::Person>, StoreError> {
        let (Some(client), Some(sso), Some(key)) = (
            s.config.oidc_client(client_id),
            s.config.sso_app(),
            KeyBytes::from_hex(key),
        ) else {
            return Ok(None);
        };
        let identity = match self.identity(s, sso, &key) {
            Ok(identity) => identity,
            Err(_) if !self.devices.is_current() && s.config.user_by_key(&key).is_none() => {
                return Err(StoreError::Unavailable(
                    "the device table is being read again".into(),
                ))
            }
            Err(_) => return Ok(None),
        };
        let Some(person) = crate::oidc::claims::Person::of(&s.config, user) else {
            return Ok(None);
        };
        let admitted = crate::oidc::claims::Person::admitted(&s.config, client, user);
        Ok((identity.user == user && person.subject == subject && admitted).then_some(person))
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
    pub(crate) fn rates(&self) -> Arc<RateLimits> {
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

    /// When program tokens' uses were last recorded.
    pub(crate) fn program_uses(&self) -> &UseNotes {
        &self.program_uses
    }

    /// Frees expired sessions, login attempts, signer replay records and idle rate-limit
    /// buckets; returns how many sessions, attempts and replay records went.
    pub async fn sweep(&self) -> usize {
        self.rates().sweep();
        self.program_uses.sweep(self.clock.now_millis());
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
        let device_codes = self
            .oidc
            .device_codes()
            .sweep(self.clock.now_millis())
            .await;
        self.sessions.sweep().await
            + swept.freed
            + invitations
            + grants
            + device_codes
            + self.signers.sweep(self.clock.now_millis())
    }

    /// The live session on this request, as the identity its key has on `app` under
    /// `settings`. A session whose key is no longer allowed there counts as none. A store
    /// failure is an error, never "no session" and never "signed in": callers refuse.
    pub(crate) async fn session_identity(
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
    pub(crate) async fn session(
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
            if let Ok(identity) =
                self.session_identity_of(settings, app, &record.key, record.meta.family.as_deref())
            {
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
