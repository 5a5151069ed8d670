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

use std::time::Duration;

use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine;
use dashmap::DashMap;
use pubky_common::auth::AuthToken;

use crate::clock::within_window;
use crate::http::route::{self, Route};
use crate::identity::keys::PublicKey;
use crate::login::signers::protocol::{
    AttemptFacts, Context, Endpoint, Material, Payload, Refusal, Signer, SignerId, Verified,
};
use crate::raw::{KeyBytes, Secret};

/// The protocol's name in config.
pub(crate) const ID: SignerId = SignerId::new("pubky");

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

/// The namespace bytes every pubkyauth token carries at offset 64.
const NAMESPACE: &[u8; 10] = b"PUBKY:AUTH";
/// The one token version this gateway understands, at offset 74.
const VERSION: u8 = 0;

/// Relay bodies larger than this are refused, as public relays do.
pub(crate) const MAX_RELAY_BODY: usize = 2048;
/// Pubky's timestamp window, each way.
const WINDOW: Duration = Duration::from_secs(180);

mod caps;

pub(crate) use caps::attempt_caps;
use caps::same_caps;

/// The relay channel for a secret.
pub(crate) fn channel_id(secret: &Secret) -> String {
    URL_SAFE_NO_PAD.encode(pubky_common::crypto::hash(secret.as_bytes()).as_bytes())
}

/// The `pubkyauth:///?caps=…&relay=…&secret=…&x-source=…` link for an attempt.
pub(crate) fn auth_url(ctx: &Context<'_>, attempt: &AttemptFacts<'_>, secret: &Secret) -> String {
    let caps = attempt_caps(ctx.origin, attempt, ctx.grant)
        .map(|c| c.to_string())
        .unwrap_or_default();
    // Only what would break the query is escaped (`/` and `:` stay readable), which keeps the
    // QR small enough for a quick scan.
    let enc = |s: &str| percent_encoding::utf8_percent_encode(s, QUERY_VALUE).to_string();
    format!(
        "pubkyauth:///?caps={}&relay={}&secret={}&x-source={}",
        enc(&caps),
        enc(&Route::Relay { channel: "" }.url(ctx.base)),
        URL_SAFE_NO_PAD.encode(secret),
        enc(ctx.app_name),
    )
}

/// Tokens already used, by (key, timestamp), until they fall out of the window.
#[derive(Default)]
pub(crate) struct ReplayGuard {
    seen: DashMap<(KeyBytes, u64), u64>,
}

impl ReplayGuard {
    /// Records a token; false if it was seen before.
    fn first_use(&self, key: KeyBytes, timestamp_us: u64, now_ms: u64) -> bool {
        use dashmap::mapref::entry::Entry;
        match self.seen.entry((key, timestamp_us)) {
            Entry::Occupied(_) => false,
            Entry::Vacant(v) => {
                // Kept for two windows: long after the timestamp check would refuse it anyway.
                v.insert(now_ms.saturating_add(2 * crate::clock::millis(WINDOW)));
                true
            }
        }
    }

    /// Forgets tokens too old to pass the timestamp check anyway.
    fn sweep(&self, now_ms: u64) -> usize {
        let before = self.seen.len();
        self.seen.retain(|_, until| *until > now_ms);
        before.saturating_sub(self.seen.len())
    }
}

/// Checks a token's fixed header before anything else reads it, and returns its timestamp
/// (µs). `AuthToken::verify` checks neither the namespace (whose first byte the signature
/// does not even cover) nor, in every version, the exact version byte; and it subtracts the
/// clock from the timestamp as `i64`, which overflows for a timestamp of 2^63 µs or more (a
/// panic where overflow checks are on). The gateway's own window, checked here first in
/// saturating arithmetic, keeps such timestamps from ever reaching it.
fn check_header(token: &[u8], now_ms: u64) -> Result<u64, Refusal> {
    if token.get(64..74) != Some(&NAMESPACE[..]) {
        return Err(Refusal::BadToken("its namespace is not PUBKY:AUTH".into()));
    }
    match token.get(74) {
        Some(&VERSION) => {}
        Some(v) => return Err(Refusal::BadToken(format!("version {v} is not supported"))),
        None => return Err(Refusal::BadToken("it is truncated".into())),
    }
    let ts: [u8; 8] = token
        .get(75..83)
        .and_then(|b| b.try_into().ok())
        .ok_or_else(|| Refusal::BadToken("it is truncated".into()))?;
    let ts_us = u64::from_be_bytes(ts);
    if !within_window(ts_us / 1000, now_ms, WINDOW, WINDOW) {
        return Err(Refusal::BadToken(
            "its timestamp is outside the ±180 s window".into(),
        ));
    }
    Ok(ts_us)
}

/// Pubky Ring's protocol, with this gateway as the relay.
#[derive(Default)]
pub struct Pubky {
    replays: ReplayGuard,
}

/// The registry's constructor.
pub(crate) fn new() -> Box<dyn Signer> {
    Box::<Pubky>::default()
}

impl Signer for Pubky {
    fn id(&self) -> SignerId {
        ID
    }

    fn label(&self) -> &'static str {
        "Pubky Ring"
    }

    /// Ring lists the capabilities it is asked for, and a program's are its request
    /// ([`attempt_caps`]), signed into the token and checked exactly on return.
    fn shows_program(&self) -> bool {
        true
    }

    /// The secret encrypts Ring's token; its hash is the relay channel Ring posts to.
    fn prepare(&self, _: &Context<'_>, _: &AttemptFacts<'_>) -> Material {
        let mut m = Material::random();
        m.channel = Some(channel_id(&m.secret));
        m
    }

    fn payload(&self, ctx: &Context<'_>, attempt: &AttemptFacts<'_>, m: &Material) -> Payload {
        // Ring registers the pubkyauth: scheme itself, so the link is the payload.
        let payload = auth_url(ctx, attempt, &m.secret);
        Payload {
            label: self.label(),
            deeplink: payload.clone(),
            payload,
        }
    }

    fn endpoint(&self) -> Option<Endpoint> {
        Some(Endpoint {
            path: route::RELAY,
            max_body: MAX_RELAY_BODY,
        })
    }

    /// `POST {prefix}/pubky/relay/{channel}`: Pubky Ring delivering its encrypted token.
    fn verify_delivery(
        &self,
        ctx: &Context<'_>,
        attempt: &AttemptFacts<'_>,
        m: &Material,
        body: &[u8],
    ) -> Result<Verified, Refusal> {
        let plain = pubky_common::crypto::decrypt(body, m.secret.as_bytes())
            .map_err(|_| Refusal::Undecryptable)?;
        let ts_us = check_header(&plain, ctx.now_ms)?;
        let token = AuthToken::verify(&plain).map_err(|e| Refusal::BadToken(e.to_string()))?;
        let expected =
            attempt_caps(ctx.origin, attempt, ctx.grant).ok_or(Refusal::WrongCapabilities)?;
        if !same_caps(token.capabilities(), &expected) {
            return Err(Refusal::WrongCapabilities);
        }
        let key = token
            .public_key()
            .z32()
            .parse::<PublicKey>()
            .map_err(|_| Refusal::BadKey("The token's key is not a valid Ed25519 key."))?;
        // The signed timestamp is the one checked above (pubky-common parsed the same bytes).
        debug_assert_eq!(token.timestamp().as_u64(), ts_us);
        if !self.replays.first_use(key.key_bytes(), ts_us, ctx.now_ms) {
            return Err(Refusal::Replay);
        }
        let mut mark = key.as_bytes().to_vec();
        mark.extend_from_slice(&ts_us.to_be_bytes());
        Ok(Verified {
            key,
            asserted_name: None,
            answer: None,
            single_use: Some(mark),
            single_use_ms: 2 * crate::clock::millis(WINDOW),
        })
    }

    fn sweep(&self, now_ms: u64) -> usize {
        self.replays.sweep(now_ms)
    }
}

#[cfg(test)]
mod tests {
    use pubky_common::capabilities::Capabilities;
    use pubky_common::crypto::Keypair;

    use crate::http::origin::Origin;

    use super::*;

    struct Fixture {
        origin: Origin,
        facts: AttemptFacts<'static>,
        now_ms: u64,
    }

    impl Fixture {
        fn new() -> Self {
            let now_ms = std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .map(|d| d.as_millis() as u64)
                .expect("clock after 1970");
            Fixture {
                origin: "https://intranet.example.com".parse().expect("origin"),
                facts: AttemptFacts {
                    id: "sess_0123456789abcdef",
                    requester_ip: "203.0.113.7",
                    requester_agent: "Firefox on Linux",
                    issued_ms: now_ms,
                    expires_ms: now_ms + 120_000,
                    action: None,
                    program: None,
                },
                now_ms,
            }
        }

        fn ctx(&self) -> Context<'_> {
            Context {
                app_name: "Intranet & wiki",
                origin: &self.origin,
                base: "https://intranet.example.com/.qrgate",
                now_ms: self.now_ms,
                grant: &crate::login::signers::protocol::fixture::FULL,
            }
        }
    }

    fn token(kp: &Keypair, caps: &str, secret: &Secret) -> Vec<u8> {
        let caps: Capabilities = caps.parse().expect("caps");
        pubky_common::crypto::encrypt(&AuthToken::sign(kp, caps).serialize(), secret.as_bytes())
    }

    #[test]
    fn link_carries_attempt_bound_caps_relay_and_secret() {
        let f = Fixture::new();
        let m = Pubky::default().prepare(&f.ctx(), &f.facts);
        assert_eq!(m.channel.as_deref(), Some(channel_id(&m.secret).as_str()));
        let p = Pubky::default().payload(&f.ctx(), &f.facts, &m);
        assert_eq!(p.payload, p.deeplink);
        assert_eq!(
            p.payload,
            format!(
                "pubkyauth:///?caps=/pub/intranet.example.com/sess_0123456789abcdef/:r&relay=https://intranet.example.com/.qrgate/pubky/relay/&secret={}&x-source=Intranet%20%26%20wiki",
                URL_SAFE_NO_PAD.encode(m.secret)
            )
        );
    }

    /// A program's device code: Ring is asked, legibly, for exactly what the program asks
    /// (who, the code, how long, each app read or read-write, the other scopes), under a path
    /// only this attempt names; a token granting anything else is refused.
    #[test]
    fn a_programs_request_is_the_capabilities_ring_signs() {
        let f = Fixture::new();
        let mut ask = crate::login::signers::program::tests::wiki_read();
        ask.apps.push(crate::login::signers::program::AskedApp {
            name: "Test app: 2/3, 100%".into(),
            read_only: false,
            prefix: None,
        });
        ask.apps.push(crate::login::signers::program::AskedApp {
            name: "Wiki".into(),
            read_only: false,
            prefix: Some("/api/v1,x:y/".into()),
        });
        let facts = AttemptFacts {
            program: Some(&ask),
            ..f.facts
        };
        let caps = attempt_caps(
            &f.origin,
            &facts,
            &crate::login::signers::protocol::fixture::FULL,
        )
        .expect("caps")
        .to_string();
        let base = "/pub/intranet.example.com/qrgate/device/sess_0123456789abcdef";
        assert_eq!(
            caps,
            format!(
                "{base}/qrgate CLI/code BCDF-GHJK/for 30 days/:r,{base}/app/Wiki/:r,\
                 {base}/app/Test app%3A 2%2F3%2C 100%25/:rw,\
                 {base}/app/Wiki/api/v1%2Cx%3Ay/:rw,{base}/scope/offline_access/:r"
            )
        );
        let signer = Pubky::default();
        let m = signer.prepare(&f.ctx(), &facts);
        let link = signer.payload(&f.ctx(), &facts, &m).payload;
        assert!(
            link.contains("caps=/pub/intranet.example.com/qrgate/device/sess_0123456789abcdef/qrgate%20CLI/code%20BCDF-GHJK/for%2030%20days/:r,"),
            "{link}"
        );
        let kp = Keypair::random();
        let verify =
            |caps: &str| signer.verify_delivery(&f.ctx(), &facts, &m, &token(&kp, caps, &m.secret));
        for altered in [
            caps.replace("/app/Wiki/:r", "/app/Wiki/:rw"),
            caps.replace("/app/Wiki/api/v1%2Cx%3Ay/:rw", "/app/Wiki/api/:rw"),
            caps.replace("code BCDF-GHJK", "code BCDF-GHJL"),
            caps.replace("for 30 days", "for 1 day"),
            caps.replace(&format!(",{base}/scope/offline_access/:r"), ""),
            format!("{caps},{base}/app/Admin/:rw"),
            attempt_caps(
                &f.origin,
                &f.facts,
                &crate::login::signers::protocol::fixture::FULL,
            )
            .expect("a sign-in's caps")
            .to_string(),
        ] {
            assert_eq!(
                verify(&altered).err(),
                Some(Refusal::WrongCapabilities),
                "{altered}"
            );
        }
        // The same capabilities in another order (as the SDK may sort them) are the same.
        let mut reordered: Vec<&str> = caps.split(',').collect();
        reordered.reverse();
        assert!(verify(&reordered.join(",")).is_ok());
        assert!(Pubky::default().shows_program() && !Pubky::default().shows_action());
    }

    #[test]
    fn only_this_attempts_token_approves_and_only_once() {
        let f = Fixture::new();
        let signer = Pubky::default();
        let m = signer.prepare(&f.ctx(), &f.facts);
        let kp = Keypair::random();
        let caps = attempt_caps(
            &f.origin,
            &f.facts,
            &crate::login::signers::protocol::fixture::FULL,
        )
        .expect("caps")
        .to_string();
        let verify = |body: &[u8]| signer.verify_delivery(&f.ctx(), &f.facts, &m, body);

        assert_eq!(
            verify(b"garbage").err(),
            Some(Refusal::Undecryptable),
            "not encrypted with the secret"
        );
        assert_eq!(
            verify(&token(&kp, &caps, &Secret::new([1u8; 32]))).err(),
            Some(Refusal::Undecryptable)
        );
        assert_eq!(
            verify(&token(
                &kp,
                "/pub/intranet.example.com/sess_other/:r",
                &m.secret
            ))
            .err(),
            Some(Refusal::WrongCapabilities)
        );
        assert_eq!(
            verify(&token(&kp, &format!("{caps},/pub/x/:rw"), &m.secret)).err(),
            Some(Refusal::WrongCapabilities),
            "more than was asked"
        );
        let good = token(&kp, &caps, &m.secret);
        let ok = verify(&good).expect("verifies");
        assert_eq!(ok.key.to_z32(), kp.public_key().z32());
        assert_eq!(verify(&good).err(), Some(Refusal::Replay));
        assert_eq!(signer.sweep(f.now_ms), 0, "still remembered");
        assert_eq!(
            signer.sweep(f.now_ms + 2 * 180_000 + 1),
            1,
            "forgotten after two windows"
        );
    }

    #[test]
    fn tokens_outside_the_gateways_window_are_refused() {
        let f = Fixture::new();
        let signer = Pubky::default();
        let m = signer.prepare(&f.ctx(), &f.facts);
        let kp = Keypair::random();
        let caps = attempt_caps(
            &f.origin,
            &f.facts,
            &crate::login::signers::protocol::fixture::FULL,
        )
        .expect("caps")
        .to_string();
        let good = token(&kp, &caps, &m.secret);
        // The same token seen by a gateway whose clock is 181 s ahead.
        let late = Context {
            now_ms: f.now_ms + 181_000,
            ..f.ctx()
        };
        assert!(matches!(
            signer.verify_delivery(&late, &f.facts, &m, &good),
            Err(Refusal::BadToken(_))
        ));
    }

    /// Tokens that differ from a good one only in namespace or version bytes, each correctly
    /// signed again where the signature covers them, are refused.
    #[test]
    fn namespace_and_version_are_checked_before_the_signature() {
        use ed25519_dalek::{Signer as _, SigningKey};
        let f = Fixture::new();
        let signer = Pubky::default();
        let m = signer.prepare(&f.ctx(), &f.facts);
        let secret = [7u8; 32];
        let kp = Keypair::from_secret(&secret);
        let sk = SigningKey::from_bytes(&secret);
        let caps: Capabilities = attempt_caps(
            &f.origin,
            &f.facts,
            &crate::login::signers::protocol::fixture::FULL,
        )
        .expect("caps");
        let good = AuthToken::sign(&kp, caps).serialize();
        assert_eq!(&good[64..74], NAMESPACE);
        let resigned = |mutate: &dyn Fn(&mut Vec<u8>)| {
            let mut t = good.clone();
            mutate(&mut t);
            let sig = sk.sign(&t[65..]).to_bytes();
            t[..64].copy_from_slice(&sig);
            pubky_common::crypto::encrypt(&t, m.secret.as_bytes())
        };
        let variants: Vec<(&str, Vec<u8>)> = vec![
            // Byte 64 is outside the signature: no re-signing needed to forge it.
            ("first namespace byte", {
                let mut t = good.clone();
                t[64] = b'X';
                pubky_common::crypto::encrypt(&t, m.secret.as_bytes())
            }),
            (
                "namespace",
                resigned(&|t| t[64..74].copy_from_slice(b"OTHER:AUTH")),
            ),
            (
                "namespace case",
                resigned(&|t| t[64..74].copy_from_slice(b"pubky:auth")),
            ),
            ("version 1", resigned(&|t| t[74] = 1)),
            ("version 255", resigned(&|t| t[74] = 255)),
            (
                "truncated",
                pubky_common::crypto::encrypt(&good[..70], m.secret.as_bytes()),
            ),
        ];
        for (what, body) in variants {
            assert!(
                matches!(
                    signer.verify_delivery(&f.ctx(), &f.facts, &m, &body),
                    Err(Refusal::BadToken(_))
                ),
                "{what}"
            );
        }
        let ok = signer.verify_delivery(&f.ctx(), &f.facts, &m, &resigned(&|_| {}));
        assert!(ok.is_ok(), "the untouched token still verifies: {ok:?}");
    }

    /// Found by the `pubky_relay` fuzz target: a token whose timestamp is 2^63 µs or more
    /// made pubky-common's window check overflow. Every such timestamp is refused first.
    #[test]
    fn timestamps_that_would_overflow_the_crates_window_check_are_refused() {
        let f = Fixture::new();
        let signer = Pubky::default();
        let m = signer.prepare(&f.ctx(), &f.facts);
        let caps = attempt_caps(
            &f.origin,
            &f.facts,
            &crate::login::signers::protocol::fixture::FULL,
        )
        .expect("caps");
        let good = AuthToken::sign(&Keypair::random(), caps).serialize();
        for ts in [1u64 << 63, u64::MAX, (1u64 << 63) + 1, 0] {
            let mut t = good.clone();
            t[75..83].copy_from_slice(&ts.to_be_bytes());
            let sealed = pubky_common::crypto::encrypt(&t, m.secret.as_bytes());
            assert!(
                matches!(
                    signer.verify_delivery(&f.ctx(), &f.facts, &m, &sealed),
                    Err(Refusal::BadToken(_))
                ),
                "timestamp {ts}"
            );
        }
        // The fuzzer's own input, as it found it.
        let crash = base64::engine::general_purpose::STANDARD
            .decode("BwAAAOUAGhoAAACA5QAaAAAAAAABAAAAAAAAAAAAAAAAGgAAAAAAAQAAAAAAABcAAAAAAAAAAAAAAAAAAAAAAFBVQktZOkFVVEgAgAAAAAAAAAAAAAAAGgAAAAAAAQAAAAAAABcAAAAAAAAAAAAAAAAAAAAAAFBVQktZOkFVVEgAgAAAAAAAKAAAAAABAAAAAAAAIQAAAAAAKAAAAAABAAAAAAAAIQAAAAAAAAAhAA4AAAAAAAAAAAASfgAAAAcAQAB+")
            .expect("base64");
        let sealed = pubky_common::crypto::encrypt(&crash, m.secret.as_bytes());
        assert!(signer
            .verify_delivery(&f.ctx(), &f.facts, &m, &sealed)
            .is_err());
    }
}
