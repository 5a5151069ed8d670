//! Everything derived from one validated config, built once and swapped whole on reload.
//!
//! [`Settings`] holds the config and what is computed from it ahead of requests: one shared
//! [`Identity`] per configured user, per-app header values and URLs. It answers the lookups
//! a request needs — its app, the identity a key has on that app *now*, the client's address,
//! the gateway's cookies — without touching any store. A request reads one `Settings` for its
//! whole life, so a reload never shows it half of one config and half of another.

use std::net::IpAddr;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;

use http::{HeaderMap, HeaderValue};

use crate::config::{App, AppId, Config};
use crate::gate::limits;
use crate::http::cookies::{self, SameSite};
use crate::identity::Identity;
use crate::login::signers::protocol::Context;
use crate::raw::KeyBytes;
use crate::session::{token_hash, SessionToken};

/// Why settings could not be built from a valid config.
#[derive(Debug, thiserror::Error)]
pub enum SettingsError {
    /// A configured name cannot travel in an HTTP header.
    #[error("{0:?} cannot be sent in an HTTP header (control characters)")]
    NotAHeader(String),
}

/// Header values and URLs that depend only on the app, built once.
pub(crate) struct AppValues {
    /// `X-Auth-App`.
    pub(crate) name: HeaderValue,
    /// `X-Forwarded-Proto`, from the configured origin.
    pub(crate) proto: HeaderValue,
    /// `X-Forwarded-Host`, from the configured origin.
    pub(crate) host: HeaderValue,
    /// `{origin}{prefix}`: where the gateway's own routes live on this app's origin.
    pub(crate) base: String,
    /// The session cookie's name here: `__Host-{cookie_name}` on an https origin (a cookie
    /// no sibling subdomain can set), `{cookie_name}` otherwise.
    pub(crate) session_cookie: String,
    /// The binding cookie's name here, prefixed alike.
    pub(crate) bind_cookie: String,
    /// The single sign-on trip cookie's name here, prefixed alike.
    pub(crate) trip_cookie: String,
}

/// Why a key has no identity on an app.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum NoIdentity {
    /// The key's user may not use this app.
    NotPermitted {
        /// The key's user.
        user: String,
    },
    /// The key belongs to nobody (and the app has no open enrollment).
    UnknownKey,
    /// The key is a device enrolled for other apps than this one.
    OtherApp {
        /// The device's user.
        user: String,
    },
}

/// One config and everything derived from it.
pub struct Settings {
    /// The validated config.
    pub config: Config,
    /// One shared identity per configured user with a key, in `[[user]]` order.
    identities: Vec<Option<Arc<Identity>>>,
    /// Distinct for every `Settings` built: what identities derived from it are cached under.
    generation: u64,
    /// Per-app values, in `[[app]]` order.
    apps: Vec<AppValues>,
    /// Every name a cookie of the gateway's may have (session, binding and trip, with and
    /// without `__Host-`).
    own_cookies: [String; 6],
}

/// The cookie name prefix browsers accept only from a secure origin, on a host-only cookie
/// with `Path=/` and `Secure`: no sibling subdomain can set or shadow such a cookie.
const HOST_PREFIX: &str = "__Host-";

/// [`HOST_PREFIX`] for an app served over https (its cookies are `Secure`), else nothing.
fn host_prefix(app: &App) -> &'static str {
    if app.origin.is_https() && app.cookie_secure {
        HOST_PREFIX
    } else {
        ""
    }
}

impl Settings {
    /// Derives everything from `config`.
    pub(crate) fn new(config: Config) -> Result<Settings, SettingsError> {
        let header = |s: &str| {
            HeaderValue::from_bytes(s.as_bytes()).map_err(|_| SettingsError::NotAHeader(s.into()))
        };
        let mut identities = Vec::with_capacity(config.users.len());
        for u in &config.users {
            let id = match &u.key {
                Some(key) => Some(Arc::new(
                    Identity::new(u.name.clone(), &key.key_bytes(), u.roles.join(","))
                        .ok_or_else(|| SettingsError::NotAHeader(u.name.clone()))?,
                )),
                None => None,
            };
            identities.push(id);
        }
        let mut apps = Vec::with_capacity(config.apps.len());
        for app in &config.apps {
            apps.push(AppValues {
                name: header(&app.name)?,
                proto: header(&app.origin.scheme)?,
                host: header(&app.origin.authority)?,
                base: format!("{}{}", app.origin, config.server.prefix),
                session_cookie: format!("{}{}", host_prefix(app), config.session.cookie_name),
                bind_cookie: format!("{}{}_bind", host_prefix(app), config.session.cookie_name),
                trip_cookie: format!("{}{}_trip", host_prefix(app), config.session.cookie_name),
            });
        }
        static GENERATION: AtomicU64 = AtomicU64::new(0);
        let cookie = &config.session.cookie_name;
        Ok(Settings {
            generation: GENERATION.fetch_add(1, Ordering::Relaxed),
            own_cookies: [
                cookie.clone(),
                format!("{cookie}_bind"),
                format!("{HOST_PREFIX}{cookie}"),
                format!("{HOST_PREFIX}{cookie}_bind"),
                format!("{cookie}_trip"),
                format!("{HOST_PREFIX}{cookie}_trip"),
            ],
            identities,
            apps,
            config,
        })
    }

    /// The app named by `id`.
    pub fn app(&self, id: AppId) -> &App {
        self.config.app(id)
    }

    /// Values derived from app `id`'s config.
    pub(crate) fn app_values(&self, id: AppId) -> &AppValues {
        &self.apps[id.index()]
    }

    /// What signers need to know about app `id`, at `now_ms`.
    pub(crate) fn signer_context(&self, id: AppId, now_ms: u64) -> Context<'_> {
        let app = self.app(id);
        Context {
            app_name: &app.name,
            origin: &app.origin,
            base: &self.app_values(id).base,
            now_ms,
            grant: &app.grant,
        }
    }

    /// The shared identity of configured user `index` (with the key in the config).
    pub fn user_identity(&self, index: usize) -> Option<Arc<Identity>> {
        self.identities.get(index).cloned().flatten()
    }

    /// Which `Settings` this is: identities derived from it are cached under this number.
    pub fn generation(&self) -> u64 {
        self.generation
    }

    /// Configured user `user`, the owner of an enrolled device, if they may use app `id`
    /// under this config.
    pub(crate) fn enrolled_user(
        &self,
        id: AppId,
        user: &str,
    ) -> Result<&crate::config::User, NoIdentity> {
        let Some((_, u)) = self.config.user_by_name(user) else {
            return Err(NoIdentity::UnknownKey);
        };
        if !self.config.user_may_use(self.app(id), u) {
            return Err(NoIdentity::NotPermitted {
                user: u.name.clone(),
            });
        }
        Ok(u)
    }

    /// Who `key` is on app `id` under this config: a configured user the app allows, or the
    /// key itself under open enrollment.
    pub(crate) fn identity_for(
        &self,
        id: AppId,
        key: &KeyBytes,
    ) -> Result<Arc<Identity>, NoIdentity> {
        let app = self.app(id);
        match self.config.user_by_key(key) {
            Some((index, user)) if self.config.user_may_use(app, user) => {
                self.user_identity(index).ok_or(NoIdentity::UnknownKey)
            }
            Some((_, user)) => Err(NoIdentity::NotPermitted {
                user: user.name.clone(),
            }),
            None if app.open_enrollment => Identity::of_key(key)
                .map(Arc::new)
                .ok_or(NoIdentity::UnknownKey),
            None => Err(NoIdentity::UnknownKey),
        }
    }

    /// The client's address for a request from `peer` (see `limits::client_ip`).
    pub fn client_ip(&self, peer: Option<IpAddr>, headers: &HeaderMap) -> Option<IpAddr> {
        let s = &self.config.server;
        limits::client_ip(peer, headers, s.trust_forwarded_for, &s.trusted_proxies)
    }

    /// `Set-Cookie` value carrying a new session token.
    pub(crate) fn session_cookie(&self, app: AppId, token: &SessionToken) -> String {
        let s = &self.config.session;
        self.cookie(
            app,
            &self.app_values(app).session_cookie,
            token.as_str(),
            s.lifetime.as_secs(),
            s.same_site,
        )
    }

    /// `Set-Cookie` values that delete the session cookie, under its name and (on an https
    /// origin) under its name from before the `__Host-` prefix.
    pub(crate) fn clear_session_cookies(&self, app: AppId) -> Vec<String> {
        let s = &self.config.session;
        let current = &self.app_values(app).session_cookie;
        let mut out = vec![self.cookie(app, current, "", 0, s.same_site)];
        if *current != s.cookie_name {
            out.push(self.cookie(app, &s.cookie_name, "", 0, s.same_site));
        }
        out
    }

    /// Session tokens the request presents for app `app`, each with whether it came under
    /// the cookie's old name (an https app's name without `__Host-`), current name first.
    pub(crate) fn presented_sessions<'a>(
        &'a self,
        headers: &'a HeaderMap,
        app: AppId,
    ) -> impl Iterator<Item = (&'a str, bool)> + 'a {
        let current = self.app_values(app).session_cookie.as_str();
        let old = self.config.session.cookie_name.as_str();
        let legacy = (current != old).then_some(old);
        cookies::values(headers, current).map(|t| (t, false)).chain(
            legacy
                .into_iter()
                .flat_map(move |n| cookies::values(headers, n))
                .map(|t| (t, true)),
        )
    }

    /// `Set-Cookie` value carrying a new binding value. Always `SameSite=Strict`: the binding
    /// only ever travels on the app's own pages' requests. It outlives one attempt by an hour
    /// so later attempts of the same browser reuse it.
    pub(crate) fn bind_cookie(&self, app: AppId, value: &str) -> String {
        let lifetime = self.config.login.attempt_lifetime.as_secs();
        let max_age = lifetime.saturating_add(3600);
        let name = &self.app_values(app).bind_cookie;
        self.cookie(app, name, value, max_age, SameSite::Strict)
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

    /// `Set-Cookie` value carrying a single sign-on trip's nonce: `SameSite=Strict` like the
    /// binding, and short-lived: it lasts one login attempt and a minute (the sign-in at the
    /// SSO origin, the code's redirect and post), so a trip left unfinished dies with it.
    pub(crate) fn trip_cookie(&self, app: AppId, nonce: &str) -> String {
        let lifetime = self.config.login.attempt_lifetime.as_secs();
        let name = &self.app_values(app).trip_cookie;
        self.cookie(
            app,
            name,
            nonce,
            lifetime.saturating_add(60),
            SameSite::Strict,
        )
    }

    /// `Set-Cookie` value that deletes the trip cookie (a redemption used it up).
    pub(crate) fn clear_trip_cookie(&self, app: AppId) -> String {
        let name = &self.app_values(app).trip_cookie;
        self.cookie(app, name, "", 0, SameSite::Strict)
    }

    /// The trip nonce this browser holds on app `app`, if it looks like one of ours (only
    /// the current name counts, as for the binding).
    pub(crate) fn presented_trip<'a>(
        &'a self,
        app: AppId,
        headers: &'a HeaderMap,
    ) -> Option<&'a str> {
        cookies::values(headers, &self.app_values(app).trip_cookie)
            .find(|v| token_hash(v).is_some())
    }

    /// Names of the gateway's own cookies, never forwarded upstream: every cookie under
    /// both names, whatever the app.
    pub(crate) fn own_cookies(&self) -> [&str; 6] {
        self.own_cookies.each_ref().map(String::as_str)
    }

    /// The binding value this browser holds on app `app`, or a fresh one with the
    /// `Set-Cookie` that gives it to the browser (a login attempt, or a single sign-on trip,
    /// binds to it).
    pub fn binding_or_new(&self, app: AppId, headers: &HeaderMap) -> (String, Option<String>) {
        match self.presented_binding(app, headers) {
            Some(v) => (v.to_string(), None),
            None => {
                let v = SessionToken::generate().as_str().to_string();
                let cookie = self.bind_cookie(app, &v);
                (v, Some(cookie))
            }
        }
    }

    /// The binding value this browser already holds on app `app`, if it looks like one of
    /// ours. Only the current name counts: a binding lives for minutes, and one a sibling
    /// subdomain could plant would let it watch and claim the attempt.
    pub(crate) fn presented_binding<'a>(
        &'a self,
        app: AppId,
        headers: &'a HeaderMap,
    ) -> Option<&'a str> {
        cookies::values(headers, &self.app_values(app).bind_cookie)
            .find(|v| token_hash(v).is_some())
    }
}

#[cfg(test)]
mod tests {
    use std::path::Path;

    use super::*;
    use crate::identity::keys::PublicKey;

    const KEY: &str = "ed25519_17956be6b8d4af0841d05ee4099a2f6f19a11a733b059f13998b6eff4b2d5660";

    fn settings(extra: &str) -> Settings {
        let text = format!(
            "[[app]]\nname = \"open\"\norigin = \"https://o.example\"\nupstream = \"127.0.0.1:9\"\nopen_enrollment = true\n[[app]]\nname = \"ops\"\norigin = \"https://x.example\"\nupstream = \"127.0.0.1:9\"\nallow_roles = [\"ops\"]\n[[user]]\nname = \"alice\"\nkey = \"{KEY}\"\nroles = [\"{extra}\"]\n"
        );
        Settings::new(Config::parse(&text, Path::new("t.toml")).expect("config")).expect("settings")
    }

    #[test]
    fn identity_follows_the_current_config() {
        let key: PublicKey = KEY.parse().expect("key");
        // Any 32 bytes: identities are looked up by key bytes, never decoded as a point.
        let stranger = [9u8; 32];
        let (open, ops) = (AppId::new(0), AppId::new(1));
        let with_ops = settings("ops");
        assert_eq!(
            with_ops
                .identity_for(ops, &key.key_bytes())
                .map(|i| i.user.clone()),
            Ok("alice".into())
        );
        assert_eq!(
            with_ops
                .identity_for(open, &key.key_bytes())
                .map(|i| i.roles.clone()),
            Ok("ops".into())
        );
        let without = settings("staff");
        assert_eq!(
            without.identity_for(ops, &key.key_bytes()).err(),
            Some(NoIdentity::NotPermitted {
                user: "alice".into()
            })
        );
        assert_eq!(
            without
                .identity_for(open, &KeyBytes::new(stranger))
                .map(|i| i.pubkey.clone()),
            Ok(z32::encode(&stranger))
        );
        assert_eq!(
            without.identity_for(ops, &KeyBytes::new(stranger)).err(),
            Some(NoIdentity::UnknownKey)
        );
    }
}
