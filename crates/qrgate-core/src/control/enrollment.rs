//! Enrollment by invitation: binding a key that a browser made (WebCrypto, non-extractable) to
//! a configured user.
//!
//! An operator (`qrgate invite`) or a signed-in person (for a device of their own) makes an
//! invitation: a one-time link `{origin}{prefix}/enroll/{token}` that lapses after a short
//! time. The browser that opens it makes a key pair and proves it holds the private key by
//! signing [`message`], which names the origin, the user, the invitation and the public key,
//! so a signature can be used for nothing else. The gateway checks the signature against its
//! own copy of the message, then uses the invitation and records the device in one step: an
//! invitation enrolls exactly one key, and a refused attempt leaves it usable.

use std::net::IpAddr;
use std::sync::Arc;
use std::time::Duration;

use serde::Deserialize;

use crate::config::AppId;
use crate::devices::{invitation_fits, review, Device, Invitation, Redeemed, Review};
use crate::gateway::Gateway;
use crate::http::route::Route;
use crate::identity::keys::PublicKey;
use crate::login::signers::native::decode_signature;
use crate::login::signers::protocol::Refusal;
use crate::observe::audit;
use crate::session::{token_hash, SessionToken, StoreError};
use crate::settings::Settings;

/// First line of the text an enrolling key signs.
pub(crate) const DOMAIN: &str = "qrgate-enroll-v1";

/// How long an invitation lasts unless its maker says otherwise.
pub const DEFAULT_TTL: Duration = Duration::from_secs(15 * 60);

/// The longest an invitation may last: a link is a credential until it is used.
pub(crate) const MAX_TTL: Duration = Duration::from_secs(24 * 3600);

/// The shortest.
pub(crate) const MIN_TTL: Duration = Duration::from_secs(60);

/// Why an invitation or an enrollment was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum EnrollError {
    /// No live invitation has this token (never made, used, or lapsed).
    #[error("This invitation has been used or has expired. Ask for a new one.")]
    Gone,
    /// Invitations are for configured users only.
    #[error("No [[user]] named {0:?} is configured.")]
    UnknownUser(String),
    /// No app has this name.
    #[error("No [[app]] named {0:?} is configured.")]
    UnknownApp(String),
    /// A request to make an invitation is malformed.
    #[error("{0}")]
    BadQuery(String),
    /// The lifetime is out of bounds.
    #[error("An invitation lasts between 1 minute and 24 hours.")]
    BadTtl,
    /// The body is not the JSON an enrollment sends.
    #[error("Malformed enrollment: {0}")]
    BadJson(String),
    /// The key or signature is malformed, or the signature does not verify.
    #[error(transparent)]
    Refused(#[from] Refusal),
    /// The key is already someone's (configured or enrolled).
    #[error("This key is already enrolled.")]
    KeyTaken,
    /// The signed-in person is not a configured user, so has no devices to add.
    #[error("Only configured users can add devices.")]
    NotConfiguredUser,
    /// A reload just removed this user or one of these apps (or gave the name another
    /// origin), and the review has not dealt with the old one's devices yet: an invitation
    /// made now would be withdrawn by it.
    #[error(
        "The config just changed {0:?}; its old devices are being removed. Try again in a moment."
    )]
    UnderReview(String),
    /// The store could not answer.
    #[error(transparent)]
    Store(#[from] StoreError),
}

impl EnrollError {
    /// The machine-readable code.
    pub(crate) fn code(&self) -> &'static str {
        match self {
            EnrollError::Gone => "invitation_gone",
            EnrollError::UnknownUser(_) => "unknown_user",
            EnrollError::UnknownApp(_) => "unknown_app",
            EnrollError::BadTtl => "bad_ttl",
            EnrollError::BadQuery(_) => "bad_query",
            EnrollError::BadJson(_) => "bad_json",
            EnrollError::Refused(Refusal::BadSignature(_)) => "bad_signature",
            EnrollError::Refused(Refusal::BadSignatureEncoding(_)) => "bad_signature_encoding",
            EnrollError::Refused(_) => "bad_key",
            EnrollError::KeyTaken => "key_taken",
            EnrollError::NotConfiguredUser => "not_configured_user",
            EnrollError::UnderReview(_) => "under_review",
            EnrollError::Store(_) => "store_unavailable",
        }
    }
}

/// A new invitation.
#[derive(Debug)]
pub struct Invited {
    /// The one-time link (the only copy of its token).
    pub link: String,
    /// Who it enrolls a device for.
    pub user: String,
    /// The app whose origin the link is on.
    pub app: String,
    /// The apps the device will sign in to (`app` first).
    pub apps: Vec<String>,
    /// When it lapses, seconds since the epoch.
    pub expires_at: u64,
}

/// The text a key enrolling through invitation `token` signs: UTF-8 lines, each ending in
/// `\n`. Built by the gateway from its own facts; the client's copy is never parsed.
pub fn message(origin: &str, user: &str, token: &str, public_key: &PublicKey) -> String {
    format!(
        "{DOMAIN}\norigin: {origin}\nuser: {user}\ninvitation: {token}\npublic-key: {}\n",
        public_key.to_hex()
    )
}

/// `path` as it may be logged: an invitation link's token (live until used) is cut off.
pub fn loggable_path(path: &str) -> std::borrow::Cow<'_, str> {
    match path.find("/enroll/") {
        Some(i) => Route::Enroll { token: "…" }.url(&path[..i]).into(),
        None => path.into(),
    }
}

/// Makes an invitation for configured user `user` on app `app`, lasting `ttl`; `by` is
/// `operator` or `owner`. The device it enrolls signs in to `app` only.
pub async fn invite(
    gw: &Gateway,
    s: &Settings,
    app: AppId,
    user: &str,
    ttl: Duration,
    by: &str,
) -> Result<Invited, EnrollError> {
    invite_to(gw, s, app, &[], user, ttl, by).await
}

/// [`invite`], for a device that may also sign in to the apps `also` names (an operator's
/// choice: a person's own invitation names only the app it was made on). The link is on
/// `app`'s origin.
pub async fn invite_to(
    gw: &Gateway,
    s: &Settings,
    app: AppId,
    also: &[AppId],
    user: &str,
    ttl: Duration,
    by: &str,
) -> Result<Invited, EnrollError> {
    if !(MIN_TTL..=MAX_TTL).contains(&ttl) {
        return Err(EnrollError::BadTtl);
    }
    if s.config.user_by_name(user).is_none() {
        return Err(EnrollError::UnknownUser(user.to_string()));
    }
    let ttl_ms = u64::try_from(ttl.as_millis()).unwrap_or(u64::MAX);
    let expires_ms = gw.clock().now_millis().saturating_add(ttl_ms);
    let token = SessionToken::generate();
    let app_name = s.app(app).name.clone();
    let mut apps = vec![app_name.clone()];
    let mut origins = vec![s.app(app).origin.to_string()];
    for &other in also {
        let name = &s.app(other).name;
        if !apps.contains(name) {
            apps.push(name.clone());
            origins.push(s.app(other).origin.to_string());
        }
    }
    let invitation = Invitation {
        user: user.to_string(),
        app: app_name.clone(),
        apps: apps.clone(),
        origins,
        expires_ms,
        by: by.to_string(),
    };
    // A name a reload retired is the old user's or app's until the review is done: an
    // invitation made now would be withdrawn by it, a link that fails later with no reason.
    let retired = gw.devices().retired();
    if let Some(name) = std::iter::once(&invitation.user)
        .filter(|u| retired.users.contains(*u))
        .chain(invitation.apps.iter().filter(|a| retired.apps.contains(*a)))
        .next()
    {
        return Err(EnrollError::UnderReview(name.clone()));
    }
    gw.device_store().invite(&token.hash(), &invitation).await?;
    audit::invited(&apps, user, by, expires_ms / 1000);
    Ok(Invited {
        link: Route::Enroll {
            token: token.as_str(),
        }
        .url(&s.app_values(app).base),
        user: user.to_string(),
        app: app_name,
        apps,
        expires_at: expires_ms / 1000,
    })
}

/// The live invitation `token` names on app `app`, unused.
pub async fn invitation(
    gw: &Gateway,
    s: &Settings,
    app: AppId,
    token: &str,
) -> Result<Invitation, EnrollError> {
    let hash = token_hash(token).ok_or(EnrollError::Gone)?;
    match gw
        .device_store()
        .invitation(&hash, gw.clock().now_millis())
        .await?
    {
        // An invitation for a user or app no longer configured is withdrawn: never redeemed
        // in the window before the store forgets it.
        Some(i)
            if i.app == s.app(app).name
                && invitation_fits(&s.config, &gw.devices().retired(), &i) =>
        {
            Ok(i)
        }
        _ => Err(EnrollError::Gone),
    }
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct Enroll {
    public_key: String,
    signature: String,
}

/// `POST {prefix}/enroll/{token}` from `client` (browser summary `browser`): checks the proof
/// of possession, then uses the invitation and records the device.
pub(crate) async fn enroll(
    gw: &Gateway,
    s: &Settings,
    app: AppId,
    token: &str,
    body: &[u8],
    client: Option<IpAddr>,
    browser: String,
) -> Result<Arc<Device>, EnrollError> {
    let result = enroll_checked(gw, s, app, token, body, client, browser).await;
    if let Err(e) = &result {
        audit::enrollment_refused(e.code(), client);
    }
    result
}

async fn enroll_checked(
    gw: &Gateway,
    s: &Settings,
    app: AppId,
    token: &str,
    body: &[u8],
    client: Option<IpAddr>,
    browser: String,
) -> Result<Arc<Device>, EnrollError> {
    let invitation = invitation(gw, s, app, token).await?;
    let body: Enroll =
        serde_json::from_slice(body).map_err(|e| EnrollError::BadJson(e.to_string()))?;
    let key = body
        .public_key
        .parse::<PublicKey>()
        .map_err(|_| Refusal::BadKey("public_key must be an Ed25519 key in z-base32 or hex."))?;
    let signature = decode_signature(&body.signature).ok_or(Refusal::BadSignatureEncoding(
        "signature must be 64 bytes in base64url or hex.",
    ))?;
    let origin = s.app(app).origin.to_string();
    if !key.verify(
        message(&origin, &invitation.user, token, &key).as_bytes(),
        &signature,
    ) {
        return Err(Refusal::BadSignature(
            "The signature does not verify against this invitation.",
        )
        .into());
    }
    let taken = s.config.user_by_key(&key.key_bytes()).is_some();
    if taken || gw.devices().get(&key.key_bytes()).is_some() {
        return Err(EnrollError::KeyTaken);
    }
    // An invitation from before origins were kept binds to the origins its apps have now
    // (it was just checked against this config), so the device is pinned from here on.
    let origins = if invitation.origins.is_empty() {
        invitation
            .apps
            .iter()
            .filter_map(|a| s.config.app_by_name(a))
            .map(|id| s.app(id).origin.to_string())
            .collect()
    } else {
        invitation.origins.clone()
    };
    let device = Device {
        key: key.key_bytes(),
        user: invitation.user.clone(),
        app: invitation.app.clone(),
        apps: invitation.apps.clone(),
        origins,
        label: browser,
        created_ms: gw.clock().now_millis(),
    };
    let hash = token_hash(token).ok_or(EnrollError::Gone)?;
    match gw
        .device_store()
        .redeem(&hash, &device, gw.clock().now_millis())
        .await?
    {
        Redeemed::Enrolled => {}
        Redeemed::Gone => return Err(EnrollError::Gone),
        Redeemed::KeyTaken => return Err(EnrollError::KeyTaken),
    }
    // `enrolled` is answered only once the device is on disk (with one instance, the state
    // file): a write that fails records nothing and gives the invitation back for another try.
    let added = match gw.enroll_device(device.clone()).await {
        Ok(added) => added,
        Err(e) => {
            if let Err(again) = gw.device_store().invite(&hash, &invitation).await {
                tracing::error!(error = %again, "an invitation whose enrollment failed could not be given back");
            }
            return Err(e.into());
        }
    };
    // The same key racing through two invitations at once: the first one keeps it. (With
    // several instances our own announcement may have added it already.)
    if !added && gw.devices().get(&device.key).as_deref() != Some(&device) {
        return Err(EnrollError::KeyTaken);
    }
    // A reload that removed the user (or an app) may have reviewed the devices between our
    // check and the record: the config in force now decides, so no device outlives the
    // name it was made for.
    if review(&gw.settings().config, &gw.devices().retired(), &device) != Review::Keep {
        gw.device_store().remove(&device.key).await?;
        gw.forget_device(&device.key).await?;
        return Err(EnrollError::Gone);
    }
    audit::device_enrolled(
        &device.apps,
        &device.user,
        &key.to_z32(),
        client,
        &device.label,
    );
    Ok(Arc::new(device))
}

#[cfg(test)]
mod tests {
    use std::path::Path;

    use ed25519_dalek::{Signer as _, SigningKey};

    use super::*;
    use crate::clock::Clock;
    use crate::config::Config;
    use crate::raw::KeyBytes;

    const APP: AppId = AppId::new(0);

    fn gateway() -> Gateway {
        let text = "[[app]]\nname = \"Wiki\"\norigin = \"https://wiki.example.com\"\nupstream = \"127.0.0.1:9\"\n[[user]]\nname = \"alice\"\n";
        Gateway::new(
            Config::parse(text, Path::new("t.toml")).expect("config"),
            Clock::manual(),
        )
        .expect("gateway")
    }

    fn token_of(link: &str) -> &str {
        link.rsplit('/').next().unwrap_or_default()
    }

    fn body(key: &SigningKey, user: &str, token: &str) -> Vec<u8> {
        let public = PublicKey::from_bytes(key.verifying_key().as_bytes()).expect("key");
        let text = message("https://wiki.example.com", user, token, &public);
        let sig = key.sign(text.as_bytes());
        serde_json::json!({"public_key": public.to_hex(), "signature": hex::encode(sig.to_bytes())})
            .to_string()
            .into_bytes()
    }

    #[test]
    fn logged_paths_never_carry_an_invitation_token() {
        assert_eq!(
            loggable_path("/.qrgate/enroll/secret-token"),
            "/.qrgate/enroll/…"
        );
        assert_eq!(loggable_path("/.qrgate/login"), "/.qrgate/login");
        assert!(!loggable_path("/x/enroll/abc/def").contains("abc"));
    }

    #[test]
    fn the_message_names_origin_user_invitation_and_key_one_per_line() {
        let key = PublicKey::from_bytes(&[
            0x17, 0x95, 0x6b, 0xe6, 0xb8, 0xd4, 0xaf, 0x08, 0x41, 0xd0, 0x5e, 0xe4, 0x09, 0x9a,
            0x2f, 0x6f, 0x19, 0xa1, 0x1a, 0x73, 0x3b, 0x05, 0x9f, 0x13, 0x99, 0x8b, 0x6e, 0xff,
            0x4b, 0x2d, 0x56, 0x60,
        ])
        .expect("key");
        assert_eq!(
            message("https://wiki.example.com", "alice", "tok", &key),
            format!(
                "qrgate-enroll-v1\norigin: https://wiki.example.com\nuser: alice\ninvitation: tok\npublic-key: {}\n",
                "17956be6b8d4af0841d05ee4099a2f6f19a11a733b059f13998b6eff4b2d5660"
            )
        );
    }

    #[tokio::test]
    async fn an_invitation_enrolls_one_key_once_and_the_key_then_signs_in_as_its_user() {
        let gw = gateway();
        let s = gw.settings();
        let invited = invite(&gw, &s, APP, "alice", DEFAULT_TTL, "operator")
            .await
            .expect("invite");
        assert!(invited
            .link
            .starts_with("https://wiki.example.com/.qrgate/enroll/"));
        let token = token_of(&invited.link);
        let phone = SigningKey::from_bytes(&[5; 32]);
        let device = enroll(
            &gw,
            &s,
            APP,
            token,
            &body(&phone, "alice", token),
            None,
            "Chrome on Android".into(),
        )
        .await
        .expect("enrolled");
        assert_eq!(device.user, "alice");
        let id = gw
            .identity(&s, APP, &KeyBytes::new(phone.verifying_key().to_bytes()))
            .expect("identity");
        assert_eq!(id.user, "alice");
        // Used: a second key cannot enroll through the same link.
        let other = SigningKey::from_bytes(&[6; 32]);
        assert_eq!(
            enroll(
                &gw,
                &s,
                APP,
                token,
                &body(&other, "alice", token),
                None,
                String::new()
            )
            .await
            .err(),
            Some(EnrollError::Gone)
        );
    }

    #[tokio::test]
    async fn a_refused_enrollment_changes_nothing_and_leaves_the_invitation_usable() {
        let gw = gateway();
        let s = gw.settings();
        let invited = invite(&gw, &s, APP, "alice", DEFAULT_TTL, "operator")
            .await
            .expect("invite");
        let token = token_of(&invited.link);
        let phone = SigningKey::from_bytes(&[5; 32]);
        // Signed for another user, for another invitation, not JSON, not a key.
        let refusals = [
            (body(&phone, "bob", token), "bad_signature"),
            (body(&phone, "alice", "other"), "bad_signature"),
            (b"{".to_vec(), "bad_json"),
            (
                br#"{"public_key":"nope","signature":"AA"}"#.to_vec(),
                "bad_key",
            ),
        ];
        for (b, code) in refusals {
            let e = enroll(&gw, &s, APP, token, &b, None, String::new())
                .await
                .expect_err("refused");
            assert_eq!(e.code(), code);
            assert!(gw.devices().is_empty());
        }
        assert!(enroll(
            &gw,
            &s,
            APP,
            token,
            &body(&phone, "alice", token),
            None,
            String::new()
        )
        .await
        .is_ok());
    }

    #[tokio::test]
    async fn invitations_are_for_configured_users_with_bounded_lifetimes_and_lapse() {
        let gw = gateway();
        let s = gw.settings();
        assert_eq!(
            invite(&gw, &s, APP, "mallory", DEFAULT_TTL, "operator")
                .await
                .err(),
            Some(EnrollError::UnknownUser("mallory".into()))
        );
        for ttl in [Duration::from_secs(59), MAX_TTL + Duration::from_secs(1)] {
            assert_eq!(
                invite(&gw, &s, APP, "alice", ttl, "operator").await.err(),
                Some(EnrollError::BadTtl)
            );
        }
        let invited = invite(&gw, &s, APP, "alice", MIN_TTL, "operator")
            .await
            .expect("invite");
        gw.clock().advance(MIN_TTL);
        let token = token_of(&invited.link);
        let phone = SigningKey::from_bytes(&[5; 32]);
        assert_eq!(
            enroll(
                &gw,
                &s,
                APP,
                token,
                &body(&phone, "alice", token),
                None,
                String::new()
            )
            .await
            .err(),
            Some(EnrollError::Gone)
        );
        assert_eq!(gw.device_store().sweep(gw.clock().now_millis()), 1);
    }

    #[tokio::test]
    async fn a_device_records_its_apps_origins_even_from_an_invitation_that_has_none() {
        let gw = gateway();
        let s = gw.settings();
        let invited = invite(&gw, &s, APP, "alice", DEFAULT_TTL, "operator")
            .await
            .expect("invite");
        let token = token_of(&invited.link);
        let phone = SigningKey::from_bytes(&[5; 32]);
        let device = enroll(
            &gw,
            &s,
            APP,
            token,
            &body(&phone, "alice", token),
            None,
            "x".into(),
        )
        .await
        .expect("enrolled");
        assert_eq!(device.origins, vec!["https://wiki.example.com".to_string()]);
        // An invitation written before origins were kept.
        let legacy: Invitation = serde_json::from_str(&format!(
            "{{\"user\":\"alice\",\"app\":\"Wiki\",\"expires_ms\":{},\"by\":\"operator\"}}",
            gw.clock().now_millis() + 60_000
        ))
        .expect("old form");
        assert!(legacy.origins.is_empty());
        let generated = SessionToken::generate();
        let token = generated.as_str();
        gw.device_store()
            .invite(&generated.hash(), &legacy)
            .await
            .expect("invite");
        let phone = SigningKey::from_bytes(&[7; 32]);
        let device = enroll(
            &gw,
            &s,
            APP,
            token,
            &body(&phone, "alice", token),
            None,
            "x".into(),
        )
        .await
        .expect("enrolled");
        assert_eq!(device.origins, vec!["https://wiki.example.com".to_string()]);
    }

    #[tokio::test]
    async fn no_invitation_is_made_for_a_name_a_reload_retired_until_the_review() {
        let gw = gateway();
        let s = gw.settings();
        let retired = crate::devices::Retired {
            users: ["alice".to_string()].into(),
            ..Default::default()
        };
        gw.devices().retire(retired.clone());
        let refused = invite(&gw, &s, APP, "alice", DEFAULT_TTL, "operator").await;
        assert_eq!(
            refused.err(),
            Some(EnrollError::UnderReview("alice".into()))
        );
        gw.devices().release(&retired);
        let wiki = crate::devices::Retired {
            apps: ["Wiki".to_string()].into(),
            ..Default::default()
        };
        gw.devices().retire(wiki.clone());
        let refused = invite(&gw, &s, APP, "alice", DEFAULT_TTL, "operator").await;
        assert_eq!(refused.err(), Some(EnrollError::UnderReview("Wiki".into())));
        gw.devices().release(&wiki);
        assert!(invite(&gw, &s, APP, "alice", DEFAULT_TTL, "operator")
            .await
            .is_ok());
        let reply = crate::web::respond::enroll_error(
            crate::http::reply::Form::Json,
            &EnrollError::UnderReview("alice".into()),
        );
        assert_eq!(reply.status, 503);
    }

    /// A ledger whose disk is full until `fail` is cleared.
    struct Ledger(std::sync::atomic::AtomicBool);

    #[async_trait::async_trait]
    impl crate::devices::DeviceLedger for Ledger {
        async fn keep(&self, _: &[Arc<Device>]) -> Result<(), StoreError> {
            if self.0.load(std::sync::atomic::Ordering::SeqCst) {
                return Err(StoreError::Unavailable("disk full".into()));
            }
            Ok(())
        }
    }

    #[tokio::test]
    async fn an_enrollment_the_ledger_cannot_keep_records_nothing_and_keeps_the_invitation() {
        let gw = gateway();
        let s = gw.settings();
        let ledger = Arc::new(Ledger(std::sync::atomic::AtomicBool::new(true)));
        gw.devices().keep_in(ledger.clone());
        let invited = invite(&gw, &s, APP, "alice", DEFAULT_TTL, "operator")
            .await
            .expect("invite");
        let token = token_of(&invited.link);
        let phone = SigningKey::from_bytes(&[5; 32]);
        let proof = body(&phone, "alice", token);
        let attempt = || enroll(&gw, &s, APP, token, &proof, None, String::new());
        let failed = attempt().await.err();
        assert!(matches!(failed, Some(EnrollError::Store(_))), "{failed:?}");
        assert_eq!(failed.map(|e| e.code()), Some("store_unavailable"));
        assert!(gw.devices().is_empty());
        assert!(gw
            .identity(&s, APP, &KeyBytes::new(phone.verifying_key().to_bytes()))
            .is_err());
        assert!(
            invitation(&gw, &s, APP, token).await.is_ok(),
            "still usable"
        );
        ledger.0.store(false, std::sync::atomic::Ordering::SeqCst);
        assert!(attempt().await.is_ok());
        assert!(invitation(&gw, &s, APP, token).await.is_err(), "used now");
    }
}
