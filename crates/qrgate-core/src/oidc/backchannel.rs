//! Back-channel logout (OpenID Connect Back-Channel Logout 1.0): who is told that grants
//! ended, and the logout token each is sent. Pure: the glue posts the tokens
//! ([`LogoutSender`] is the seam), with its own timeout, retries and bounds.
//!
//! One notice per client and SSO session (`sid`) among the grants a step ended, for each
//! client with a `backchannel_logout_uri`; a client whose several grants of one sign-on end
//! together is told once. The token is signed like the client's ID tokens (same key and
//! algorithm, so the relying party verifies it against the JWKS it already uses), typed
//! `logout+jwt` (§2.4), with `sid` and `sub`, the logout event and never a `nonce`.

use serde::Serialize;

use crate::config::Config;
use crate::oidc::keys::IdTokenSigner;
use crate::oidc::store::Grant;

/// The `events` member naming a logout (§2.4).
pub(crate) const EVENT: &str = "http://schemas.openid.net/event/backchannel-logout";

/// The `typ` header of a logout token (§2.4: explicit typing).
pub(crate) const TYP: &str = "logout+jwt";

/// How long a logout token is valid: long enough for the glue's retries, short enough that
/// a copy is worthless soon.
pub(crate) const LIFETIME_SECS: u64 = 120;

/// A logout token's claims (§2.4).
#[derive(Debug, Clone, Serialize, PartialEq, Eq)]
pub(crate) struct LogoutClaims {
    /// `iss`: the SSO origin.
    pub(crate) iss: String,
    /// `aud`: the client.
    pub(crate) aud: String,
    /// `iat`, seconds.
    pub(crate) iat: u64,
    /// `exp`, seconds.
    pub(crate) exp: u64,
    /// `jti`: random, so a relying party can refuse a replay.
    pub(crate) jti: String,
    /// `sid`: the SSO session the grants came from (the ID tokens' `sid`).
    pub(crate) sid: String,
    /// `sub`: the grant's subject (the ID tokens' `sub`).
    pub(crate) sub: String,
    /// `events`: `{EVENT: {}}`.
    pub(crate) events: serde_json::Value,
}

/// One logout token to post.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Notice {
    /// The client told.
    pub client_id: String,
    /// Its `backchannel_logout_uri`.
    pub uri: String,
    /// The SSO session that ended (audit).
    pub sid: String,
    /// The user (audit).
    pub user: String,
    /// The signed logout token.
    pub token: String,
}

/// One logout to tell, before signing: the client's URI and the claims.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Due {
    /// The client.
    pub(crate) client_id: String,
    /// Its `backchannel_logout_uri`.
    pub(crate) uri: String,
    /// The user the grant was for (the audit trail names users, tokens name subjects).
    pub(crate) user: String,
    /// The claims of its logout token.
    pub(crate) claims: LogoutClaims,
}

/// Who is told that `ended` grants ended, at `now_ms`, under `config` (the issuer is its SSO
/// origin): one entry per client with a back-channel URI and SSO session, in the order the
/// grants came. A client no longer configured is not told (it has no URI any more).
pub(crate) fn due(config: &Config, ended: &[Grant], now_ms: u64) -> Vec<Due> {
    let Some(sso) = config.sso.as_ref() else {
        return Vec::new();
    };
    let iss = sso.origin.to_string();
    let iat = now_ms / 1000;
    let mut out: Vec<Due> = Vec::new();
    for g in ended {
        let Some(uri) = config
            .oidc_client(&g.client_id)
            .and_then(|c| c.backchannel_logout_uri.clone())
        else {
            continue;
        };
        if out
            .iter()
            .any(|d| d.client_id == g.client_id && d.claims.sid == g.family)
        {
            continue;
        }
        out.push(Due {
            client_id: g.client_id.clone(),
            uri,
            user: g.user.clone(),
            claims: LogoutClaims {
                iss: iss.clone(),
                aud: g.client_id.clone(),
                iat,
                exp: iat.saturating_add(LIFETIME_SECS),
                jti: crate::oidc::store::mint(),
                sid: g.family.clone(),
                sub: g.subject.clone(),
                events: serde_json::json!({ EVENT: {} }),
            },
        });
    }
    out
}

/// The notices for `ended` grants, each token signed with its client's ID token algorithm;
/// one that cannot be signed (no key of that algorithm) is left out and logged.
pub(crate) fn notices(
    config: &Config,
    signer: &IdTokenSigner,
    ended: &[Grant],
    now_ms: u64,
) -> Vec<Notice> {
    due(config, ended, now_ms)
        .into_iter()
        .filter_map(|d| {
            let alg = config.oidc_client(&d.client_id)?.id_token_alg;
            match signer.sign_typed(alg, TYP, &d.claims) {
                Ok(token) => Some(Notice {
                    client_id: d.client_id,
                    uri: d.uri,
                    sid: d.claims.sid,
                    user: d.user,
                    token,
                }),
                Err(e) => {
                    tracing::error!(error = %e, client = %d.client_id, "logout token not signed");
                    None
                }
            }
        })
        .collect()
}

/// Where notices go: the glue's sender posts them in the background. `send` must not block
/// (it is called from the request that ended the grants).
pub trait LogoutSender: Send + Sync + 'static {
    /// Hands `notices` over for delivery.
    fn send(&self, notices: Vec<Notice>);
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::Config;
    use crate::oidc::keys::{OidcKey, SigningAlg};

    fn config() -> Config {
        let key = "ed25519_17956be6b8d4af0841d05ee4099a2f6f19a11a733b059f13998b6eff4b2d5660";
        let text = format!(
            "[[app]]\nname = \"wiki\"\norigin = \"https://wiki.example.com\"\nupstream = \"127.0.0.1:3000\"\n\n\
             [[user]]\nname = \"alice\"\nkey = \"{key}\"\n\n\
             [sso]\norigin = \"https://auth.example.com\"\nname = \"Example\"\n\n\
             [[oidc_client]]\nid = \"told\"\npublic = true\nredirect_uris = [\"https://rp.example.com/cb\"]\nbackchannel_logout_uri = \"https://rp.example.com/logout\"\n\n\
             [[oidc_client]]\nid = \"ed\"\npublic = true\nid_token_alg = \"EdDSA\"\nredirect_uris = [\"https://rp.example.com/cb\"]\nbackchannel_logout_uri = \"https://rp.example.com/ed-logout\"\n\n\
             [[oidc_client]]\nid = \"silent\"\npublic = true\nredirect_uris = [\"https://rp.example.com/cb\"]\n"
        );
        Config::parse(&text, std::path::Path::new("t.toml")).expect("config")
    }

    fn grant(id: &str, client: &str, family: &str) -> Grant {
        Grant {
            id: id.into(),
            client_id: client.into(),
            user: "alice".into(),
            subject: "alice".into(),
            key: String::new(),
            family: family.into(),
            scope: vec!["openid".into()],
            auth_time: 1,
            acr: None,
            expires_ms: 10_000_000,
            created_ms: 0,
            from: String::new(),
            name: String::new(),
            origins: Vec::new(),
            last_used_ms: 0,
            last_from: String::new(),
        }
    }

    #[test]
    fn each_client_with_a_uri_is_told_once_per_sign_on() {
        let c = config();
        let ended = [
            grant("g1", "told", "fam"),
            grant("g2", "told", "fam"),
            grant("g3", "silent", "fam"),
            grant("g4", "told", "other"),
            grant("g5", "gone", "fam"),
            grant("g6", "ed", "fam"),
        ];
        let due = due(&c, &ended, 5_000_000);
        let who: Vec<(&str, &str, &str)> = due
            .iter()
            .map(|d| (d.client_id.as_str(), d.uri.as_str(), d.claims.sid.as_str()))
            .collect();
        assert_eq!(
            who,
            [
                ("told", "https://rp.example.com/logout", "fam"),
                ("told", "https://rp.example.com/logout", "other"),
                ("ed", "https://rp.example.com/ed-logout", "fam"),
            ]
        );
        assert_ne!(due[0].claims.jti, due[1].claims.jti, "jti is random");
    }

    #[test]
    fn the_claims_name_the_sign_on_and_the_event_and_carry_no_nonce() {
        let c = config();
        let d = due(&c, &[grant("g1", "told", "fam")], 5_000_000);
        let v = serde_json::to_value(&d[0].claims).expect("json");
        let obj = v.as_object().expect("object");
        assert_eq!(v["iss"], "https://auth.example.com");
        assert_eq!(v["aud"], "told");
        assert_eq!(v["sid"], "fam");
        assert_eq!(v["sub"], "alice");
        assert_eq!(v["iat"], 5_000);
        assert_eq!(v["exp"], 5_000 + LIFETIME_SECS);
        assert_eq!(v["events"], serde_json::json!({ EVENT: {} }));
        assert!(!obj.contains_key("nonce"), "a logout token has no nonce");
        let mut keys: Vec<&str> = obj.keys().map(String::as_str).collect();
        keys.sort_unstable();
        assert_eq!(
            keys,
            ["aud", "events", "exp", "iat", "iss", "jti", "sid", "sub"]
        );
    }

    #[test]
    fn without_sso_or_ended_grants_nobody_is_told() {
        let c = config();
        assert!(due(&c, &[], 1).is_empty());
        let mut no_sso = c.clone();
        no_sso.sso = None;
        assert!(due(&no_sso, &[grant("g1", "told", "fam")], 1).is_empty());
    }

    #[test]
    fn tokens_are_signed_with_the_clients_algorithm_and_typed() {
        let c = config();
        let signer = IdTokenSigner::of(vec![
            OidcKey::generate(SigningAlg::Rs256, 1).expect("rsa"),
            OidcKey::generate(SigningAlg::EdDsa, 1).expect("ed"),
        ])
        .expect("signer");
        let n = notices(
            &c,
            &signer,
            &[grant("g1", "told", "fam"), grant("g2", "ed", "fam")],
            5_000_000,
        );
        assert_eq!(n.len(), 2);
        for (notice, alg) in n.iter().zip(["RS256", "EdDSA"]) {
            let header = jsonwebtoken::decode_header(&notice.token).expect("header");
            assert_eq!(header.typ.as_deref(), Some(TYP));
            assert_eq!(format!("{:?}", header.alg), alg);
            assert!(header.kid.is_some());
        }
        let rsa_only =
            IdTokenSigner::of(vec![OidcKey::generate(SigningAlg::Rs256, 1).expect("rsa")])
                .expect("signer");
        let n = notices(&c, &rsa_only, &[grant("g2", "ed", "fam")], 5_000_000);
        assert!(
            n.is_empty(),
            "no key of the client's algorithm: nothing sent"
        );
    }

    /// A sender that keeps what it is handed.
    #[derive(Default)]
    struct Recorder(std::sync::Mutex<Vec<Notice>>);

    impl LogoutSender for Recorder {
        fn send(&self, notices: Vec<Notice>) {
            if let Ok(mut got) = self.0.lock() {
                got.extend(notices);
            }
        }
    }

    #[tokio::test]
    async fn ending_a_family_hands_each_client_its_notice_once() {
        use crate::oidc::store::{CodeGrant, Issue};
        let c = config();
        let provider = crate::oidc::Provider::default();
        provider.install(Some(
            IdTokenSigner::of(vec![
                OidcKey::generate(SigningAlg::Rs256, 1).expect("rsa"),
                OidcKey::generate(SigningAlg::EdDsa, 1).expect("ed"),
            ])
            .expect("signer"),
        ));
        let recorder = std::sync::Arc::new(Recorder::default());
        provider.send_logouts_with(recorder.clone());
        for (n, client) in [(1u8, "told"), (2, "silent"), (3, "ed")] {
            let code = CodeGrant {
                client_id: client.into(),
                redirect_uri: "https://rp.example.com/cb".into(),
                user: "alice".into(),
                subject: "alice".into(),
                key: String::new(),
                family: "fam".into(),
                scope: vec!["openid".into()],
                nonce: None,
                code_challenge: None,
                auth_time: 1,
                acr: None,
                expires_ms: 60_000,
            };
            let store = provider.store();
            store.put_code([n; 32], code, 0).await.expect("put");
            let issue = Issue {
                scope: vec!["openid".into()],
                refresh: Some([n; 32]),
                access: [n + 100; 32],
                access_expires_ms: 500_000,
            };
            store
                .redeem([n; 32], grant(&format!("g{n}"), client, "fam"), issue, 1)
                .await
                .expect("redeem");
        }
        assert_eq!(provider.end_family(&c, "fam", 5_000).await.expect("end"), 3);
        let mut told: Vec<String> = recorder
            .0
            .lock()
            .expect("lock")
            .iter()
            .map(|n| format!("{} {} {}", n.client_id, n.sid, n.uri))
            .collect();
        told.sort();
        assert_eq!(
            told,
            [
                "ed fam https://rp.example.com/ed-logout",
                "told fam https://rp.example.com/logout",
            ]
        );
        assert_eq!(provider.end_family(&c, "fam", 6_000).await.expect("end"), 0);
        assert_eq!(recorder.0.lock().expect("lock").len(), 2, "told once");
    }
}
