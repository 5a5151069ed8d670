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
mod tests;
