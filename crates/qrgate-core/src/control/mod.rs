//! Control over live sessions: which sessions a filter selects, how a session looks in a
//! list (never its token), and revoking a selection. The admin API and the `qrgate sessions`
//! command are its clients; everything here works through the [`SessionStore`] seam, so it
//! is the same for the memory and the Redis store.
//!
//! A filter that names a key or a user reads only those keys' sessions, through the store's
//! per-key index ([`SessionStore::of_keys`]); a user is first resolved to the keys it has now
//! (configured key, enrolled devices, its own key under open enrollment), because sessions
//! record a key and who a key is can change with every reload. Only filters that name
//! neither (everything, an app, an id — an operator's calls) read the whole store.
//!
//! - [`enrollment`]: invitations, and enrollment by invitation (binding a browser's key to a
//!   configured user).
//!
//! [`SessionStore`]: crate::session::SessionStore

pub mod enrollment;
pub mod family;

use std::sync::Arc;

use serde::Serialize;

use crate::devices::{invitation_fits, review, Device, Review};
use crate::gateway::Gateway;
use crate::identity::keys::PublicKey;
use crate::observe::audit;
use crate::raw::KeyBytes;
use crate::session::{session_id, SessionRecord, StoreError, TokenHash};
use crate::settings::Settings;

/// Which sessions an operation applies to: every given field must match.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Filter {
    /// A session's id ([`session_id`]).
    pub id: Option<String>,
    /// The user the session's key belongs to now.
    pub user: Option<String>,
    /// The signing key.
    pub key: Option<KeyBytes>,
    /// The app's name.
    pub app: Option<String>,
    /// Every session but this id (the person's "all other sessions"; not in queries).
    pub except: Option<String>,
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
    pub fn is_empty(&self) -> bool {
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
    pub id: String,
    /// Its key's user now (`null` if the key is no longer configured).
    pub user: Option<String>,
    /// The signing key, z-base32.
    pub key: String,
    /// The app's name.
    pub app: String,
    /// The signer protocol that approved the login.
    pub protocol: String,
    /// What it was granted (`read-write /` unless the app grants less).
    pub access: String,
    /// Created, seconds since the epoch.
    pub created: u64,
    /// Last used, seconds since the epoch.
    pub last_seen: u64,
    /// The address the browser signed in from.
    pub client_ip: String,
    /// The browser, summarized.
    pub browser: String,
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
                let grants = gw.oidc().store().end_family(&id).await?;
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
    Ok(ended)
}

/// One enrolled device as a list shows it.
#[derive(Debug, Clone, Serialize, PartialEq, Eq)]
pub struct DeviceView {
    /// The device's id.
    pub id: String,
    /// The user it signs in as.
    pub user: String,
    /// Its public key, z-base32.
    pub key: String,
    /// The app on whose origin it was enrolled.
    pub app: String,
    /// The apps it may sign in to (`app` unless an operator's invitation named several).
    pub apps: Vec<String>,
    /// The enrolling browser, summarized.
    pub browser: String,
    /// Enrolled, seconds since the epoch.
    pub created: u64,
}

impl DeviceView {
    /// How `d` is listed.
    pub fn new(d: &Device) -> Self {
        DeviceView {
            id: d.id(),
            user: d.user.clone(),
            key: z32::encode(d.key.as_bytes()),
            app: d.app.clone(),
            apps: d.apps.clone(),
            browser: d.label.clone(),
            created: d.created_ms / 1000,
        }
    }
}

/// Every enrolled device as the store of record has it, oldest first: with several
/// instances the shared store (an instance's own table may not be current yet), else this
/// instance's table, which is the store.
pub async fn recorded_devices(gw: &Gateway) -> Result<Vec<Arc<Device>>, StoreError> {
    let Some(stored) = gw.device_store().load().await? else {
        return Ok(gw.devices().list());
    };
    let mut all: Vec<Arc<Device>> = stored.into_iter().map(Arc::new).collect();
    all.sort_by(|a, b| a.created_ms.cmp(&b.created_ms).then(a.key.cmp(&b.key)));
    Ok(all)
}

/// The enrolled devices `filter` selects (its `id` is a device id), oldest first, read from
/// the store of record.
pub async fn list_devices(gw: &Gateway, filter: &Filter) -> Result<Vec<DeviceView>, ControlError> {
    Ok(recorded_devices(gw)
        .await?
        .iter()
        .filter(|d| filter.matches_device(d))
        .map(|d| DeviceView::new(d))
        .collect())
}

/// Removes every enrolled device `filter` selects in the store of record, and ends their
/// sessions; `by` says who asked. Each removal is on disk (or in the shared store) before it
/// counts. Returns how many devices and how many sessions ended.
pub async fn revoke_devices(
    gw: &Gateway,
    s: &Settings,
    filter: &Filter,
    by: &str,
) -> Result<(usize, usize), ControlError> {
    if filter.is_empty() {
        return Err(ControlError::NoFilter);
    }
    let (mut devices, mut sessions) = (0, 0);
    for d in recorded_devices(gw).await? {
        if !filter.matches_device(&d) {
            continue;
        }
        sessions += remove_device(gw, s, &d, by).await?;
        devices += 1;
    }
    Ok((devices, sessions))
}

/// Removes enrolled device `d` from the store of record and this instance, audited, and
/// ends its sessions; returns how many ended.
async fn remove_device(
    gw: &Gateway,
    s: &Settings,
    d: &Device,
    by: &str,
) -> Result<usize, ControlError> {
    // The shared store first: if it cannot forget the key, the device stays listed and the
    // caller sees the error. Then this instance's table, durably.
    gw.device_store().remove(&d.key).await?;
    gw.forget_device(&d.key).await?;
    audit::device_revoked(&d.user, &z32::encode(d.key.as_bytes()), &d.id(), by);
    let of_key = Filter {
        key: Some(d.key),
        ..Filter::default()
    };
    revoke(gw, s, &of_key, by).await
}

/// What [`review_devices`] changed.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Reviewed {
    /// Devices removed (their user, or every app they name, left the config).
    pub removed: usize,
    /// Devices that lost the binding to an app that left the config.
    pub narrowed: usize,
    /// Pending invitations withdrawn.
    pub withdrawn: usize,
    /// Sessions ended with the removed devices, or made under a retired app name.
    pub sessions: usize,
}

/// Brings enrolled devices and pending invitations in line with config `s`, in the store of
/// record (the shared store when there is one, so every instance follows): a device whose
/// user left the config is removed with its sessions, as is one whose every app left it; a
/// binding to an app that left it is dropped; an invitation for a user or app no longer
/// configured is withdrawn, and so are the devices and invitations of users a reload removed
/// since the last review, and the bindings to (and invitations for) apps a reload removed or
/// moved to another origin (`Devices::retired`), even if the name is configured again.
/// Every change is audited (`by` `config`). Devices are kept by name, and a name added again
/// later is someone else.
pub async fn review_devices(gw: &Gateway, s: &Settings) -> Result<Reviewed, ControlError> {
    const BY: &str = "config";
    let mut done = Reviewed::default();
    let retired = gw.devices().retired();
    // Invitations first: one redeemed before they are gone is a device by the time the
    // devices are read below (redeeming records it in the same step).
    let fits = |i: &crate::devices::Invitation| invitation_fits(&s.config, &retired, i);
    for i in gw
        .device_store()
        .withdraw(&fits, gw.clock().now_millis())
        .await?
    {
        audit::invitation_withdrawn(&i.apps, &i.user, BY);
        done.withdrawn += 1;
    }
    let devices = match gw.device_store().load().await? {
        Some(all) => all,
        None => gw.devices().list().iter().map(|d| (**d).clone()).collect(),
    };
    for d in devices {
        match review(&s.config, &retired, &d) {
            Review::Keep => {}
            Review::Narrow(apps) => {
                let narrowed = d.keeping(&apps);
                if gw.device_store().rebind(&narrowed).await? {
                    audit::device_unbound(
                        &d.user,
                        &z32::encode(d.key.as_bytes()),
                        &d.id(),
                        &narrowed.apps,
                        BY,
                    );
                    gw.rebind_device(narrowed).await?;
                    done.narrowed += 1;
                }
            }
            Review::Remove(_) => {
                done.sessions += remove_device(gw, s, &d, BY).await?;
                done.removed += 1;
            }
        }
    }
    // Sessions name their app by name: those made under a retired app name belong to an
    // app that is gone (or elsewhere), not to whatever bears the name now.
    let mut apps: Vec<&String> = retired.apps.iter().collect();
    apps.sort();
    for app in apps {
        let of_app = Filter {
            app: Some(app.clone()),
            ..Filter::default()
        };
        done.sessions += revoke(gw, s, &of_app, BY).await?;
    }
    // Their devices and invitations are gone from the store of record: a user of the same
    // name configured again is someone new.
    gw.devices().release(&retired);
    Ok(done)
}

#[cfg(test)]
mod tests {
    use std::path::Path;
    use std::sync::Arc;

    use super::*;
    use crate::clock::Clock;
    use crate::config::Config;
    use crate::identity::test_key;
    use crate::session::SessionMeta;

    fn gateway() -> Gateway {
        let key = hex::encode(test_key());
        let text = format!(
            "[[app]]\nname = \"wiki\"\norigin = \"https://wiki.example\"\nupstream = \"127.0.0.1:9\"\n[[app]]\nname = \"mail\"\norigin = \"https://mail.example\"\nupstream = \"127.0.0.1:9\"\n[[user]]\nname = \"alice\"\nkey = \"{key}\"\n"
        );
        let config = Config::parse(&text, Path::new("t.toml")).expect("config");
        Gateway::new(config, Clock::manual()).expect("gateway")
    }

    #[tokio::test]
    async fn a_user_filter_reads_that_users_keys_only_and_selects_exactly_theirs() {
        let alice = test_key();
        let text = format!(
            "[[app]]\nname = \"wiki\"\norigin = \"https://wiki.example\"\nupstream = \"127.0.0.1:9\"\nopen_enrollment = true\n[[user]]\nname = \"alice\"\nkey = \"{}\"\n",
            hex::encode(alice)
        );
        let config = Config::parse(&text, Path::new("t.toml")).expect("config");
        let gw = Gateway::new(config, Clock::manual()).expect("gateway");
        let s = gw.settings();
        let (stranger, other) = ([7u8; 32], [8u8; 32]);
        for key in [alice, alice, KeyBytes::new(stranger), KeyBytes::new(other)] {
            gw.sessions()
                .create(Arc::from("wiki"), key, SessionMeta::default())
                .await
                .expect("created");
        }
        let of = |user: &str| Filter {
            user: Some(user.into()),
            ..Filter::default()
        };
        let keys_listed =
            |views: Vec<SessionView>| -> Vec<String> { views.into_iter().map(|v| v.key).collect() };
        assert_eq!(
            keys_listed(list(&gw, &s, &of("alice")).await.expect("list")),
            vec![z32::encode(alice.as_bytes()); 2]
        );
        // Under open enrollment an unconfigured key is a user named by its own z-base32.
        let z = z32::encode(&stranger);
        assert_eq!(
            keys_listed(list(&gw, &s, &of(&z)).await.expect("list")),
            vec![z.clone()]
        );
        for nobody in ["bob", "", &hex::encode(stranger), &z32::encode(&[9u8; 32])] {
            assert!(
                list(&gw, &s, &of(nobody)).await.expect("list").is_empty(),
                "{nobody:?}"
            );
        }
        let mismatched = Filter {
            key: Some(KeyBytes::new(stranger)),
            ..of("alice")
        };
        assert!(list(&gw, &s, &mismatched).await.expect("list").is_empty());
        assert_eq!(revoke(&gw, &s, &of("alice"), "operator").await, Ok(2));
        assert_eq!(
            keys_listed(list(&gw, &s, &Filter::default()).await.expect("list")).len(),
            2,
            "the others' sessions are untouched"
        );
    }

    #[test]
    fn the_bearer_token_must_match_exactly() {
        assert!(bearer_matches(Some("Bearer s3cret"), "s3cret\n"));
        for wrong in [
            None,
            Some("s3cret"),
            Some("Bearer s3cre"),
            Some("Bearer s3cretX"),
            Some("bearer s3cret"),
            Some("Basic s3cret"),
            Some("Bearer "),
            Some("Bearer s3cret s3cret"),
        ] {
            assert!(!bearer_matches(wrong, "s3cret"), "{wrong:?}");
        }
        assert!(
            !bearer_matches(Some("Bearer "), ""),
            "no token configured, nothing matches"
        );
    }

    #[test]
    fn filters_parse_strictly() {
        assert!(Filter::from_query(None).expect("empty").is_empty());
        let f = Filter::from_query(Some("user=alice&app=wiki")).expect("ok");
        assert_eq!(f.user.as_deref(), Some("alice"));
        assert_eq!(f.app.as_deref(), Some("wiki"));
        assert!(matches!(
            Filter::from_query(Some("usr=alice")),
            Err(ControlError::UnknownParameter(_))
        ));
        assert!(matches!(
            Filter::from_query(Some("user=a&user=b")),
            Err(ControlError::Repeated(_))
        ));
        assert!(matches!(
            Filter::from_query(Some("key=nope")),
            Err(ControlError::BadKey(_))
        ));
        let z = z32::encode(test_key().as_bytes());
        assert_eq!(
            Filter::from_query(Some(&format!("key={z}")))
                .expect("z-base32")
                .key,
            Some(test_key())
        );
    }

    #[tokio::test]
    async fn list_and_revoke_select_by_every_field_and_never_everything() {
        let gw = gateway();
        let s = gw.settings();
        let meta = || SessionMeta {
            protocol: "native".into(),
            client_ip: "192.0.2.1".into(),
            browser: "Firefox on Linux".into(),
            ..SessionMeta::default()
        };
        let wiki = gw
            .sessions()
            .create(Arc::from("wiki"), test_key(), meta())
            .await
            .expect("wiki");
        gw.sessions()
            .create(Arc::from("mail"), test_key(), meta())
            .await
            .expect("mail");
        gw.sessions()
            .create(Arc::from("wiki"), KeyBytes::new([7; 32]), meta())
            .await
            .expect("unknown key");
        let all = list(&gw, &s, &Filter::default()).await.expect("list");
        assert_eq!(all.len(), 3);
        let text = serde_json::to_string(&all).expect("json");
        assert!(!text.contains(wiki.as_str()), "no token in a list");
        assert!(
            !text.contains(&hex::encode(wiki.hash())),
            "no full hash either"
        );
        let by_user = Filter {
            user: Some("alice".into()),
            ..Filter::default()
        };
        assert_eq!(list(&gw, &s, &by_user).await.expect("list").len(), 2);
        let one = Filter {
            id: Some(session_id(&wiki.hash())),
            ..Filter::default()
        };
        let listed = list(&gw, &s, &one).await.expect("list");
        assert_eq!(listed.len(), 1);
        assert_eq!(
            (listed[0].app.as_str(), listed[0].user.as_deref()),
            ("wiki", Some("alice"))
        );
        assert_eq!(
            revoke(&gw, &s, &Filter::default(), "operator").await,
            Err(ControlError::NoFilter)
        );
        assert_eq!(revoke(&gw, &s, &one, "operator").await, Ok(1));
        let app = Filter {
            app: Some("wiki".into()),
            ..Filter::default()
        };
        assert_eq!(
            revoke(&gw, &s, &app, "operator").await,
            Ok(1),
            "the other wiki session"
        );
        assert_eq!(
            list(&gw, &s, &Filter::default()).await.expect("list").len(),
            1
        );
    }
}
