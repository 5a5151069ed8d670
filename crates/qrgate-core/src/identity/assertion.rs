//! Signed identity for upstreams: with `[assertion] enabled`, every authenticated upstream
//! request carries `X-Auth-Assertion`, a JWT the gateway signs with Ed25519 (EdDSA):
//! `iss` the gateway, `aud` the app's origin, `sub` the key (z-base32), `name`, `roles`,
//! `iat`, `exp`, `jti`. An upstream that verifies it against the gateway's published keys
//! (`{prefix}/.well-known/jwks.json`, `Assertions::jwks`) no longer has to trust the
//! network between the gateway and itself, and cannot be handed a token meant for another
//! app (`aud`).
//!
//! Signing costs an Ed25519 signature, so a token is reused until half its lifetime has
//! passed, but only for exactly what it was signed for: the same app, origin and identity
//! (user, key, roles). Any change of who a key is (a device removed and the key enrolled for
//! someone else, new roles, a renamed user) signs afresh at the next request; a reload also
//! starts a new signer with an empty cache.
//!
//! The keys rotate as [`crate::rotation`] says (`rotate`): the next key is published one
//! publication delay before it signs, and the one it replaces stays published for one more
//! period. The glue keeps them in a file every instance re-reads periodically; this module
//! decides which key signs and publishes them all.

use std::sync::Arc;

use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine;
use dashmap::DashMap;
use ed25519_dalek::pkcs8::EncodePrivateKey;
use ed25519_dalek::SigningKey;
use http::HeaderValue;
use jsonwebtoken::{Algorithm, EncodingKey, Header};
use serde::Serialize;
use sha2::Digest;

use crate::identity::Identity;
use crate::raw::{KeyBytes, SigningSeed};
use crate::rotation::{self, Dated, InForce, Schedule};

/// One signing key.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct AssertionKey {
    /// Its id, `kid` in tokens and in the key set.
    pub kid: String,
    /// The Ed25519 secret (seed).
    pub secret: SigningSeed,
    /// Made at, ms since the epoch.
    pub created_ms: u64,
}

impl AssertionKey {
    /// A fresh key made at `now_ms`.
    pub fn generate(now_ms: u64) -> Self {
        let secret = SigningSeed::new(crate::random_bytes::<32>());
        let public = SigningKey::from_bytes(secret.as_bytes()).verifying_key();
        AssertionKey {
            // Names the key by its public half: stable, and unique for practical purposes.
            kid: URL_SAFE_NO_PAD.encode(&sha2::Sha256::digest(public.as_bytes())[..9]),
            secret,
            created_ms: now_ms,
        }
    }

    fn public(&self) -> KeyBytes {
        KeyBytes::new(
            SigningKey::from_bytes(self.secret.as_bytes())
                .verifying_key()
                .to_bytes(),
        )
    }
}

impl Dated for AssertionKey {
    fn made_ms(&self) -> u64 {
        self.created_ms
    }
}

/// The keys after rotation at `now_ms` under `schedule` ([`rotation::rotate`]): the next key
/// added when due, published only until it has been in the file for the publication delay;
/// an older key gone one period after it stopped signing. Newest first; the flag says
/// whether anything changed.
pub fn rotate(
    keys: Vec<AssertionKey>,
    schedule: Schedule,
    now_ms: u64,
) -> (Vec<AssertionKey>, bool) {
    let made = || Ok::<_, std::convert::Infallible>(AssertionKey::generate(now_ms));
    match rotation::rotate(keys, true, schedule, now_ms, made) {
        Ok(done) => done,
        Err(never) => match never {},
    }
}

#[derive(Serialize)]
struct Claims<'a> {
    iss: &'a str,
    aud: &'a str,
    sub: &'a str,
    name: &'a str,
    roles: Vec<&'a str>,
    iat: u64,
    exp: u64,
    jti: String,
}

struct Cached {
    value: HeaderValue,
    /// Minted at, ms; reused until half its lifetime has passed.
    minted_ms: u64,
    /// What the claims say besides the times: the token is reused only for exactly this.
    origin: String,
    identity: Identity,
}

impl Cached {
    /// Whether this token says exactly `identity` on `origin` and is young enough at `now_ms`.
    fn serves(
        &self,
        origin: &dyn std::fmt::Display,
        identity: &Identity,
        now_ms: u64,
        reuse_ms: u64,
    ) -> bool {
        now_ms >= self.minted_ms
            && now_ms < self.minted_ms.saturating_add(reuse_ms)
            && self.identity == *identity
            && displays_as(origin, &self.origin)
    }
}

/// Whether `value` displays as exactly `text`, without building the string.
fn displays_as(value: &dyn std::fmt::Display, text: &str) -> bool {
    struct Compare<'a> {
        rest: &'a str,
        same: bool,
    }
    impl std::fmt::Write for Compare<'_> {
        fn write_str(&mut self, s: &str) -> std::fmt::Result {
            match self.rest.strip_prefix(s) {
                Some(rest) if self.same => self.rest = rest,
                _ => self.same = false,
            }
            Ok(())
        }
    }
    let mut c = Compare {
        rest: text,
        same: true,
    };
    std::fmt::write(&mut c, format_args!("{value}")).is_ok() && c.same && c.rest.is_empty()
}

/// The signer and the published key set.
pub struct Assertions {
    /// Every published key, newest first.
    keys: Vec<AssertionKey>,
    /// The id of the key that signs, and the key.
    signing: String,
    encoding: EncodingKey,
    issuer: String,
    lifetime_ms: u64,
    cache: DashMap<(Arc<str>, KeyBytes), Cached>,
}

/// Why the assertion signer could not be built.
#[derive(Debug, thiserror::Error)]
pub enum AssertionError {
    /// No key to sign with.
    #[error("no assertion signing key")]
    NoKey,
    /// The key could not be encoded for signing.
    #[error("assertion key: {0}")]
    Key(String),
}

impl Assertions {
    /// Publishes `keys` (in any order) and signs with the one [`Schedule::signer`] picks at
    /// `now_ms`: the newest that has been in the file for the publication delay.
    pub fn new(
        mut keys: Vec<AssertionKey>,
        schedule: Schedule,
        now_ms: u64,
        issuer: String,
        lifetime_ms: u64,
    ) -> Result<Self, AssertionError> {
        keys.sort_by_key(|k| std::cmp::Reverse(k.created_ms));
        let made: Vec<u64> = keys.iter().map(|k| k.created_ms).collect();
        let signer = schedule
            .signer(&made, now_ms)
            .and_then(|i| keys.get(i))
            .ok_or(AssertionError::NoKey)?;
        let der = SigningKey::from_bytes(signer.secret.as_bytes())
            .to_pkcs8_der()
            .map_err(|e| AssertionError::Key(e.to_string()))?;
        Ok(Assertions {
            signing: signer.kid.clone(),
            encoding: EncodingKey::from_ed_der(der.as_bytes()),
            keys,
            issuer,
            lifetime_ms: lifetime_ms.max(1000),
            cache: DashMap::new(),
        })
    }

    /// The `X-Auth-Assertion` value for `identity` on the app named `app` (origin
    /// `origin`) at `now_ms`; `None` only if signing failed (then the header is absent and
    /// an upstream that requires it refuses: fail closed).
    pub(crate) fn assertion(
        &self,
        app: &Arc<str>,
        origin: &dyn std::fmt::Display,
        identity: &Identity,
        now_ms: u64,
    ) -> Option<HeaderValue> {
        let key = (app.clone(), identity.key);
        if let Some(hit) = self.cache.get(&key) {
            if hit.serves(origin, identity, now_ms, self.lifetime_ms / 2) {
                return Some(hit.value.clone());
            }
        }
        let origin = origin.to_string();
        let mut header = Header::new(Algorithm::EdDSA);
        header.kid = Some(self.signing.clone());
        let iat = now_ms / 1000;
        let claims = Claims {
            iss: &self.issuer,
            aud: &origin,
            sub: &identity.pubkey,
            name: &identity.user,
            roles: identity
                .roles
                .split(',')
                .map(str::trim)
                .filter(|r| !r.is_empty())
                .collect(),
            iat,
            exp: iat.saturating_add(self.lifetime_ms / 1000),
            jti: URL_SAFE_NO_PAD.encode(crate::random_bytes::<16>()),
        };
        let token = match jsonwebtoken::encode(&header, &claims, &self.encoding) {
            Ok(t) => t,
            Err(e) => {
                tracing::error!(error = %e, "assertion not signed");
                return None;
            }
        };
        let value = HeaderValue::from_str(&token).ok()?;
        self.cache.insert(
            key,
            Cached {
                value: value.clone(),
                minted_ms: now_ms,
                origin,
                identity: identity.clone(),
            },
        );
        Some(value)
    }

    /// The keys it publishes and the one it signs with.
    pub fn in_force(&self) -> InForce {
        InForce {
            published: self.keys.iter().map(|k| k.kid.clone()).collect(),
            signing: vec![self.signing.clone()],
        }
    }

    /// The published key set (JWKS): every key, newest first.
    pub(crate) fn jwks(&self) -> serde_json::Value {
        let keys: Vec<serde_json::Value> = self
            .keys
            .iter()
            .map(|k| {
                serde_json::json!({
                    "kty": "OKP",
                    "crv": "Ed25519",
                    "x": URL_SAFE_NO_PAD.encode(k.public()),
                    "kid": k.kid,
                    "alg": "EdDSA",
                    "use": "sig",
                })
            })
            .collect();
        serde_json::json!({ "keys": keys })
    }

    /// Forgets cached tokens older than their lifetime; returns how many.
    pub(crate) fn sweep(&self, now_ms: u64) -> usize {
        let before = self.cache.len();
        self.cache
            .retain(|_, c| now_ms < c.minted_ms.saturating_add(self.lifetime_ms));
        before.saturating_sub(self.cache.len())
    }
}

#[cfg(test)]
mod tests {
    use jsonwebtoken::{decode, DecodingKey, Validation};

    use super::*;

    const DAY: u64 = 86_400_000;

    fn alice() -> Identity {
        Identity::new(
            "alice".into(),
            &crate::identity::test_key(),
            "staff, ops".into(),
        )
        .expect("identity")
    }

    fn validation(aud: &str) -> Validation {
        let mut v = Validation::new(Algorithm::EdDSA);
        v.set_audience(&[aud]);
        v.set_issuer(&["qrgate"]);
        v
    }

    #[test]
    fn a_token_verifies_against_the_published_key_for_its_own_app_only() {
        let now = crate::clock::Clock::system().now_millis();
        let key = AssertionKey::generate(now);
        let a = Assertions::new(vec![key], Schedule::new(DAY), now, "qrgate".into(), 60_000)
            .expect("signer");
        let app: Arc<str> = Arc::from("wiki");
        let token = a
            .assertion(&app, &"https://wiki.example", &alice(), now)
            .expect("signed");
        let jwks: jsonwebtoken::jwk::JwkSet =
            serde_json::from_value(a.jwks()).expect("a standard key set");
        let header = jsonwebtoken::decode_header(token.to_str().expect("ascii")).expect("header");
        let jwk = jwks
            .find(header.kid.as_deref().expect("kid"))
            .expect("published");
        let dk = DecodingKey::from_jwk(jwk).expect("key");
        let claims = decode::<serde_json::Value>(
            token.to_str().expect("ascii"),
            &dk,
            &validation("https://wiki.example"),
        )
        .expect("valid for its app")
        .claims;
        assert_eq!(claims["name"], "alice");
        assert_eq!(claims["roles"], serde_json::json!(["staff", "ops"]));
        assert_eq!(claims["sub"], alice().pubkey.as_str());
        assert!(decode::<serde_json::Value>(
            token.to_str().expect("ascii"),
            &dk,
            &validation("https://mail.example")
        )
        .is_err());
        // Reused within half its lifetime, fresh after.
        assert_eq!(
            a.assertion(&app, &"https://wiki.example", &alice(), now + 29_000),
            Some(token.clone())
        );
        assert_ne!(
            a.assertion(&app, &"https://wiki.example", &alice(), now + 31_000),
            Some(token)
        );
    }

    fn claims(token: &HeaderValue) -> serde_json::Value {
        let payload = token
            .to_str()
            .expect("ascii")
            .split('.')
            .nth(1)
            .expect("payload");
        serde_json::from_slice(&URL_SAFE_NO_PAD.decode(payload).expect("b64")).expect("json")
    }

    #[test]
    fn a_cached_token_is_reused_only_for_exactly_the_identity_it_names() {
        let now = 1_800_000_000_000;
        let a = Assertions::new(
            vec![AssertionKey::generate(now)],
            Schedule::new(DAY),
            now,
            "qrgate".into(),
            60_000,
        )
        .expect("signer");
        let app: Arc<str> = Arc::from("wiki");
        let key = crate::identity::test_key();
        let id = |user: &str, roles: &str| {
            Identity::new(user.into(), &key, roles.into()).expect("identity")
        };
        let first = a
            .assertion(&app, &"https://wiki.example", &id("alice", "staff"), now)
            .expect("signed");
        assert_eq!(
            a.assertion(
                &app,
                &"https://wiki.example",
                &id("alice", "staff"),
                now + 1
            ),
            Some(first.clone())
        );
        // Every change of what the claims say signs afresh, with the new claims, at once:
        // another owner of the key, other roles, another origin for the app.
        let changes = [
            ("https://wiki.example", id("bob", "staff")),
            ("https://wiki.example", id("alice", "ops")),
            ("https://wiki.example", id("alice", "")),
            ("https://wiki2.example", id("alice", "staff")),
        ];
        for (origin, identity) in changes {
            let token = a
                .assertion(&app, &origin, &identity, now + 2)
                .expect("signed");
            assert_ne!(token, first, "{origin} {identity:?}");
            let c = claims(&token);
            assert_eq!(c["name"], identity.user.as_str());
            assert_eq!(c["aud"], origin);
            let roles: Vec<&str> = identity
                .roles
                .split(',')
                .filter(|r| !r.is_empty())
                .collect();
            assert_eq!(c["roles"], serde_json::json!(roles));
        }
        // And back: the token for alice is no longer the one minted first (the cache follows
        // the identity, it does not keep a stale copy to hand out again).
        let again = a
            .assertion(
                &app,
                &"https://wiki.example",
                &id("alice", "staff"),
                now + 3,
            )
            .expect("signed");
        assert_eq!(claims(&again)["name"], "alice");
    }

    #[test]
    fn a_new_key_is_published_a_delay_before_it_signs() {
        let s = Schedule::new(30 * DAY);
        let t0 = 1_800_000_000_000;
        let app: Arc<str> = Arc::from("wiki");
        let kid_at = |keys: &[AssertionKey], now: u64| {
            let a =
                Assertions::new(keys.to_vec(), s, now, "qrgate".into(), 60_000).expect("signer");
            let token = a
                .assertion(&app, &"https://wiki.example", &alice(), now)
                .expect("signed");
            let kid = jsonwebtoken::decode_header(token.to_str().expect("ascii"))
                .expect("header")
                .kid
                .expect("kid");
            assert_eq!(a.in_force().signing, vec![kid.clone()]);
            (kid, a.in_force().published)
        };
        let (keys, changed) = rotate(Vec::new(), s, t0);
        assert!(changed);
        let first = keys[0].kid.clone();
        assert_eq!(kid_at(&keys, t0).0, first, "the only key signs at once");
        let added = t0 + 29 * DAY;
        let (keys, changed) = rotate(keys, s, added);
        assert!(changed);
        let next = keys[0].kid.clone();
        let (kid, published) = kid_at(&keys, added + DAY - 1);
        assert_eq!(kid, first, "the new key waits");
        assert_eq!(
            published,
            vec![next.clone(), first.clone()],
            "but is published"
        );
        assert_eq!(kid_at(&keys, added + DAY).0, next);
        let (keys, changed) = rotate(keys, s, added + DAY);
        assert!(!changed);
        assert_eq!(keys.len(), 2, "the previous key stays published");
    }

    #[test]
    fn displays_as_compares_the_whole_text() {
        assert!(displays_as(&"https://a.example", "https://a.example"));
        assert!(!displays_as(&"https://a.example", "https://a.example:1"));
        assert!(!displays_as(&"https://a.example:1", "https://a.example"));
        assert!(!displays_as(&"https://b.example", "https://a.example"));
        assert!(displays_as(&"", ""));
    }
}
