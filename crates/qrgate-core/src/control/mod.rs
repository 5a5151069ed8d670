//! Control over live sessions: which sessions a filter selects, how a session looks in a
//! list (never its token), and revoking a selection. The admin API and the `qrgate sessions`
//! command are its clients; everything here works through the [`SessionStore`] seam, so it
//! is the same for the memory and the Redis store.
//!
//! A filter that names a key or a user reads only those keys' sessions, through the store's
//! per-key index (`SessionStore::of_keys`); a user is first resolved to the keys it has now
//! (configured key, enrolled devices, its own key under open enrollment), because sessions
//! record a key and who a key is can change with every reload. Only filters that name
//! neither (everything, an app, an id — an operator's calls) read the whole store.
//!
//! - `devices`: enrolled devices as lists show them, listing and revoking them, and their
//!   review against the config in force;
//! - [`enrollment`]: invitations, and enrollment by invitation (binding a browser's key to a
//!   configured user).
//!
//! [`SessionStore`]: crate::session::SessionStore

mod devices;
pub mod enrollment;
pub mod family;
mod tokens;

use serde::Serialize;

use crate::devices::Device;
use crate::gateway::Gateway;
use crate::identity::keys::PublicKey;
use crate::observe::audit;
use crate::raw::KeyBytes;
use crate::session::{session_id, SessionRecord, StoreError, TokenHash};
use crate::settings::Settings;

pub use devices::{list_devices, review_devices, revoke_devices, DeviceView, Reviewed};
pub use tokens::{list_tokens, revoke_token, TokenView};

/// Which sessions an operation applies to: every given field must match.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Filter {
    /// A session's id (`session_id`).
    pub id: Option<String>,
    /// The user the session's key belongs to now.
    pub user: Option<String>,
    /// The signing key.
    pub key: Option<KeyBytes>,
    /// The app's name.
    pub app: Option<String>,
    /// Every session but this id (the person's "all other sessions"; not in queries).
    pub except: Option<String>,
    /// Whose grants a key-only filter's key approved, when the key is no one's any more (a
    /// device being removed; not in queries).
    pub owner: Option<String>,
}

/// Why a control request was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ControlError {
    /// A query parameter this API does not know.
    #[error("unknown parameter {0:?}: use id, user, key or app")]
    UnknownParameter(String),
    /// A parameter given twice.
    #[error("parameter {0:?} is given twice")]
    Repeated(String),
    /// The key is not an Ed25519 key in z-base32 or hex.
    #[error("key: {0}")]
    BadKey(String),
    /// A revocation must select something: "revoke everything" is not a request by accident.
    #[error("say which sessions: id, user, key or app")]
    NoFilter,
    /// The store could not answer.
    #[error(transparent)]
    Store(#[from] StoreError),
}

impl Filter {
    /// The filter a query string (`user=alice&app=Wiki`) names.
    pub fn from_query(query: Option<&str>) -> Result<Filter, ControlError> {
        let mut f = Filter::default();
        for (name, value) in url::form_urlencoded::parse(query.unwrap_or("").as_bytes()) {
            let repeated = || ControlError::Repeated(name.to_string());
            match name.as_ref() {
                "id" if f.id.is_none() => f.id = Some(value.into_owned()),
                "user" if f.user.is_none() => f.user = Some(value.into_owned()),
                "app" if f.app.is_none() => f.app = Some(value.into_owned()),
                "key" if f.key.is_none() => {
                    let key: PublicKey =
                        value
                            .parse()
                            .map_err(|e: crate::identity::keys::KeyError| {
                                ControlError::BadKey(e.to_string())
                            })?;
                    f.key = Some(key.key_bytes());
                }
                "id" | "user" | "app" | "key" => return Err(repeated()),
                other => return Err(ControlError::UnknownParameter(other.to_string())),
            }
        }
        Ok(f)
    }

    /// Whether the filter selects every session.
    pub(crate) fn is_empty(&self) -> bool {
        *self == Filter::default()
    }

    fn matches(&self, gw: &Gateway, s: &Settings, hash: &TokenHash, r: &SessionRecord) -> bool {
        self.id.as_ref().is_none_or(|id| *id == session_id(hash))
            && self
                .except
                .as_ref()
                .is_none_or(|id| *id != session_id(hash))
            && self.key.is_none_or(|k| k == r.key)
            && self.app.as_ref().is_none_or(|a| **a == *r.app)
            && self
                .user
                .as_ref()
                .is_none_or(|u| user_of(gw, s, &r.key).as_deref() == Some(u.as_str()))
    }

    fn matches_device(&self, d: &Device) -> bool {
        self.id.as_ref().is_none_or(|id| *id == d.id())
            && self.key.is_none_or(|k| k == d.key)
            && self.app.as_ref().is_none_or(|a| d.may_sign_in_to(a))
            && self.user.as_ref().is_none_or(|u| *u == d.user)
    }
}

/// Whether `authorization` (the header's value) carries `expected` as its bearer token,
/// compared in constant time. An empty expected token matches nothing.
pub fn bearer_matches(authorization: Option<&str>, expected: &str) -> bool {
    use sha2::{Digest, Sha256};
    use subtle::ConstantTimeEq;
    let expected = expected.trim();
    let Some(presented) = authorization.and_then(|a| a.strip_prefix("Bearer ")) else {
        return false;
    };
    // Digests of equal length: comparing the tokens themselves would end at once on a
    // length mismatch, and so tell a caller how long the token is.
    let same = Sha256::digest(presented.trim().as_bytes()).ct_eq(&Sha256::digest(expected));
    !expected.is_empty() && bool::from(same)
}

/// The user a key belongs to under the current config (its z-base32 form under open
/// enrollment, which any key may use), if any.
fn user_of(gw: &Gateway, s: &Settings, key: &KeyBytes) -> Option<String> {
    match s.config.user_by_key(key) {
        Some((_, u)) => Some(u.name.clone()),
        None if gw.devices().get(key).is_some() => gw.devices().get(key).map(|d| d.user.clone()),
        None if s.config.apps.iter().any(|a| a.open_enrollment) => {
            Some(z32::encode(key.as_bytes()))
        }
        None => None,
    }
}

/// Every key whose sessions could belong to `user` now: the configured user's key, the
/// devices enrolled for that name, and, under open enrollment, the key the name spells (an
/// unconfigured key's user is its own z-base32 form). A superset of what [`user_of`] maps to
/// `user`; [`Filter::matches`] still decides each session.
fn keys_of(gw: &Gateway, s: &Settings, user: &str) -> Vec<KeyBytes> {
    let mut keys: Vec<KeyBytes> = s
        .config
        .user_by_name(user)
        .and_then(|(_, u)| u.key.as_ref())
        .map(|k| k.key_bytes())
        .into_iter()
        .collect();
    // Devices are few (one per phone, each enrolled by an invitation) and kept by key: a pass
    // over them is a pass over people's phones, not over sessions.
    keys.extend(
        gw.devices()
            .list()
            .iter()
            .filter(|d| d.user == user)
            .map(|d| d.key),
    );
    if s.config.apps.iter().any(|a| a.open_enrollment) {
        if let Some(key) = z32::decode(user.as_bytes())
            .ok()
            .and_then(|b| KeyBytes::from_slice(&b))
        {
            keys.push(key);
        }
    }
    keys
}

/// The sessions `filter` can select: through the store's per-key index when it names a key
/// or a user (what that person has), else every session (an operator's list of all, or of
/// one app or id).
async fn candidates(
    gw: &Gateway,
    s: &Settings,
    filter: &Filter,
) -> Result<Vec<(TokenHash, SessionRecord)>, StoreError> {
    match (&filter.key, &filter.user) {
        (Some(key), _) => gw.sessions().of_keys(std::slice::from_ref(key)).await,
        (None, Some(user)) => gw.sessions().of_keys(&keys_of(gw, s, user)).await,
        (None, None) => gw.sessions().export().await,
    }
}

/// One session as a list shows it: never the token, nor its hash.
#[derive(Debug, Clone, Serialize, PartialEq, Eq)]
pub struct SessionView {
    /// The session's id.
    pub(crate) id: String,
    /// Its key's user now (`null` if the key is no longer configured).
    pub(crate) user: Option<String>,
    /// The signing key, z-base32.
    pub(crate) key: String,
    /// The app's name.
    pub(crate) app: String,
    /// The signer protocol that approved the login.
    pub(crate) protocol: String,
    /// What it was granted (`read-write /` unless the app grants less).
    pub(crate) access: String,
    /// Created, seconds since the epoch.
    pub(crate) created: u64,
    /// Last used, seconds since the epoch.
    pub(crate) last_seen: u64,
    /// The address the browser signed in from.
    pub(crate) client_ip: String,
    /// The browser, summarized.
    pub(crate) browser: String,
}

impl SessionView {
    fn new(gw: &Gateway, s: &Settings, hash: &TokenHash, r: &SessionRecord) -> Self {
        SessionView {
            id: session_id(hash),
            user: user_of(gw, s, &r.key),
            key: z32::encode(r.key.as_bytes()),
            app: r.app.to_string(),
            protocol: r.meta.protocol.clone(),
            access: r.meta.grant.to_string(),
            created: r.created_ms / 1000,
            last_seen: r.last_seen_ms / 1000,
            client_ip: r.meta.client_ip.clone(),
            browser: r.meta.browser.clone(),
        }
    }
}

/// The user `key` belongs to now: a configured user's key or an enrolled device's.
fn key_owner(gw: &Gateway, s: &Settings, key: Option<&KeyBytes>) -> Option<String> {
    let key = key?;
    s.config
        .user_by_key(key)
        .map(|(_, u)| u.name.clone())
        .or_else(|| gw.devices().get(key).map(|d| d.user.clone()))
}

/// The live sessions `filter` selects, newest first.
pub async fn list(
    gw: &Gateway,
    s: &Settings,
    filter: &Filter,
) -> Result<Vec<SessionView>, ControlError> {
    let mut views: Vec<SessionView> = candidates(gw, s, filter)
        .await?
        .iter()
        .filter(|(h, r)| filter.matches(gw, s, h, r))
        .map(|(h, r)| SessionView::new(gw, s, h, r))
        .collect();
    views.sort_by(|a, b| b.created.cmp(&a.created).then_with(|| a.id.cmp(&b.id)));
    Ok(views)
}

/// Ends every live session `filter` selects (never all of them by an empty filter); `by`
/// says who asked, for the audit trail. Returns how many ended.
pub async fn revoke(
    gw: &Gateway,
    s: &Settings,
    filter: &Filter,
    by: &str,
) -> Result<usize, ControlError> {
    if filter.is_empty() {
        return Err(ControlError::NoFilter);
    }
    let sso = s.config.sso_app().map(|id| s.app(id).key.clone());
    let mut ended = 0;
    for (hash, r) in candidates(gw, s, filter).await? {
        if filter.matches(gw, s, &hash, &r) && gw.revoke_session(&hash).await? {
            audit::revoked(
                &r.app,
                &z32::encode(r.key.as_bytes()),
                &session_id(&hash),
                by,
            );
            ended += 1;
            // An SSO session ends with its family: the app sessions and grants made from it.
            if r.meta.family.is_none() && sso.as_ref() == Some(&r.app) {
                let id = session_id(&hash);
                let apps = family::end_sessions(gw, Some(&r.key), &id, by).await?;
                // Its grants ended with it (`Gateway::revoke_session`); any a racing
                // refresh made since end here, and their clients are told.
                let grants = gw
                    .oidc()
                    .end_family(&s.config, &id, gw.clock().now_millis())
                    .await?;
                audit::sso(
                    "sso_family_ended",
                    &r.app,
                    "-",
                    &id,
                    &format!("{apps} sessions, {grants} grants"),
                    None,
                );
                ended += apps;
            }
        }
    }
    // A person's or a key's grants at OpenID Connect clients end with their sessions, also
    // those whose SSO session has idled out (a removed device, "sign out everywhere", an
    // operator's revocation of a user). A single session or "all others" leaves them.
    let whole = filter.id.is_none() && filter.except.is_none();
    let at_sso = filter
        .app
        .as_deref()
        .is_none_or(|a| Some(a) == sso.as_deref());
    if s.config.sso.is_some() && whole && at_sso && (filter.user.is_some() || filter.key.is_some())
    {
        let key = filter.key.as_ref().map(hex::encode);
        let now_ms = gw.clock().now_millis();
        // Through the store's index of a user's grants; a key nobody is known to hold any
        // more (an operator's revocation of a stray key) walks them instead.
        let owner = filter
            .user
            .clone()
            .or_else(|| filter.owner.clone())
            .or_else(|| key_owner(gw, s, filter.key.as_ref()));
        let grants = match owner {
            Some(user) => {
                gw.oidc()
                    .end_of_user(&s.config, now_ms, &user, key.as_deref())
                    .await?
            }
            None => {
                let picked =
                    |g: &crate::oidc::store::Grant| key.as_ref().is_some_and(|k| *k == g.key);
                gw.oidc().end_where(&s.config, now_ms, &picked).await?
            }
        };
        if grants > 0 {
            audit::oidc(
                "oidc_grants_revoked",
                "-",
                filter.user.as_deref().unwrap_or("-"),
                "-",
                &format!("{grants} grants"),
                None,
            );
        }
    }
    Ok(ended)
}

#[cfg(test)]
mod tests;
