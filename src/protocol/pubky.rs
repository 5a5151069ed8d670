//! Pubky Ring's pubkyauth, with the gateway as its own relay.
//!
//! The QR is a `pubkyauth:` link whose `relay` is this gateway and whose `secret` is fresh
//! per attempt. Ring signs an `AuthToken`, encrypts it with the secret and POSTs it to
//! `{relay}/{channel}` where channel = base64url(blake3(secret)). We decrypt, verify (the
//! ±180 s window included) and map the key to a user, using the ecosystem's own
//! `pubky-common` crate for the token format, crypto and capabilities.
//!
//! The token carries no audience and no nonce, so the attempt binds it: the requested
//! capabilities name a path unique to this attempt under the app's host, and a token with
//! any other capabilities is refused. A token seen before (same key and timestamp) is a
//! replay and is refused. Every failure answers 4xx at once and leaves the attempt as it was.

use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine;
use dashmap::DashMap;
use pubky_common::auth::AuthToken;
use pubky_common::capabilities::{Capabilities, Capability};

use crate::clock::Clock;
use crate::config::App;
use crate::keys::PublicKey;
use crate::login::{attempt_error, finish_approval, Attempt, AttemptError};
use crate::proxy::State;
use crate::reply::Reply;

/// Characters escaped in a query value: controls, space and the query's own delimiters.
const QUERY_VALUE: &percent_encoding::AsciiSet = &percent_encoding::CONTROLS
    .add(b' ')
    .add(b'"')
    .add(b'#')
    .add(b'%')
    .add(b'&')
    .add(b'+')
    .add(b'<')
    .add(b'>')
    .add(b'=');

/// Relay bodies larger than this are refused, as public relays do.
pub const MAX_RELAY_BODY: usize = 2048;
/// Pubky's timestamp window, each way.
const WINDOW_MS: u64 = 180_000;

/// The relay channel for a secret.
pub fn channel_id(secret: &[u8; 32]) -> String {
    URL_SAFE_NO_PAD.encode(pubky_common::crypto::hash(secret).as_bytes())
}

/// The capabilities an attempt requests: read access to a path only this attempt names.
pub fn attempt_caps(app: &App, attempt_id: &str) -> Option<Capabilities> {
    let host = app.origin.authority.split(':').next().unwrap_or("app");
    let cap = Capability::read(format!("/pub/{host}/{attempt_id}/")).ok()?;
    Some(Capabilities::from(vec![cap]))
}

/// The `pubkyauth:///?caps=…&relay=…&secret=…&x-source=…` link for an attempt.
pub fn auth_url(app: &App, base: &str, attempt: &Attempt) -> String {
    let caps = attempt_caps(app, &attempt.id)
        .map(|c| c.to_string())
        .unwrap_or_default();
    // Only what would break the query is escaped (`/` and `:` stay readable), which keeps the
    // QR small enough for a quick scan.
    let enc = |s: &str| percent_encoding::utf8_percent_encode(s, QUERY_VALUE).to_string();
    format!(
        "pubkyauth:///?caps={}&relay={}&secret={}&x-source={}",
        enc(&caps),
        enc(&format!("{base}/pubky/relay/")),
        URL_SAFE_NO_PAD.encode(attempt.pubky_secret),
        enc(&app.name),
    )
}

/// Tokens already used, by (key, timestamp), until they fall out of the window.
#[derive(Default)]
pub struct ReplayGuard {
    seen: DashMap<([u8; 32], u64), u64>,
}

impl ReplayGuard {
    /// Records a token; false if it was seen before.
    fn first_use(&self, key: [u8; 32], timestamp_us: u64, now_ms: u64) -> bool {
        use dashmap::mapref::entry::Entry;
        match self.seen.entry((key, timestamp_us)) {
            Entry::Occupied(_) => false,
            Entry::Vacant(v) => {
                v.insert(now_ms + 2 * WINDOW_MS);
                true
            }
        }
    }

    /// Forgets tokens too old to pass the timestamp check anyway.
    pub fn sweep(&self, clock: &Clock) -> usize {
        let now = clock.now_millis();
        let before = self.seen.len();
        self.seen.retain(|_, until| *until > now);
        before - self.seen.len()
    }
}

/// `POST {prefix}/pubky/relay/{channel}`: Pubky Ring delivering its encrypted token.
pub fn relay(state: &State, app: usize, channel: &str, body: &[u8]) -> Reply {
    if body.len() > MAX_RELAY_BODY {
        return Reply::error(413, "body_too_large", "Relay bodies are at most 2 KiB.");
    }
    let attempt = match state.logins.by_channel(channel) {
        Ok(a) if a.request.app == app => a,
        Ok(_) | Err(_) => {
            return Reply::error(
                404,
                "unknown_channel",
                "No login is waiting on this channel.",
            )
        }
    };
    if !state.config.apps[app]
        .signers
        .contains(&crate::config::SignerKind::Pubky)
    {
        return Reply::error(
            400,
            "protocol_not_offered",
            "This app does not accept Pubky approvals.",
        );
    }
    if state.logins.is_expired(&attempt) {
        return attempt_error(AttemptError::Expired);
    }
    let Ok(plain) = pubky_common::crypto::decrypt(body, &attempt.pubky_secret) else {
        return Reply::error(
            400,
            "undecryptable",
            "The body does not decrypt with this login's secret.",
        );
    };
    let token = match AuthToken::verify(&plain) {
        Ok(t) => t,
        Err(e) => return Reply::error(401, "bad_token", &format!("The token was refused: {e}.")),
    };
    let Some(expected) = attempt_caps(&state.config.apps[app], &attempt.id) else {
        return Reply::error(500, "internal", "capabilities could not be built");
    };
    if token.capabilities().clone().normalize() != expected.normalize() {
        return Reply::error(
            403,
            "wrong_capabilities",
            "The token does not grant what this login asked for.",
        );
    }
    let Ok(key) = token.public_key().z32().parse::<PublicKey>() else {
        return Reply::error(
            400,
            "bad_key",
            "The token's key is not a valid Ed25519 key.",
        );
    };
    let now = state.clock.now_millis();
    let ts_us = token.timestamp().as_u64();
    // pubky-common checks the window against the system clock; check ours too, so the
    // gateway's notion of time is the one that counts.
    if (ts_us / 1000).abs_diff(now) > WINDOW_MS {
        return Reply::error(
            401,
            "bad_token",
            "The token's timestamp is outside the ±180 s window.",
        );
    }
    if !state.pubky_replays.first_use(*key.as_bytes(), ts_us, now) {
        return Reply::error(409, "replay", "This token was used before.");
    }
    finish_approval(state, &attempt, &key)
}
