//! Signed identity for upstreams: the upstream verifies `X-Auth-Assertion` against the
//! gateway's published keys with a standard JWT library, and refuses a token meant for
//! another app, an expired one, and one signed by another key.

use jsonwebtoken::jwk::JwkSet;
use jsonwebtoken::{decode, decode_header, Algorithm, DecodingKey, Validation};
use qrgate_core::raw::KeyBytes;
use serde_json::Value;

use crate::common::{client, echoed_headers, sign_in_at, Setup, TestGateway};

fn validation(aud: &str) -> Validation {
    let mut v = Validation::new(Algorithm::EdDSA);
    v.set_audience(&[aud]);
    v.set_issuer(&["qrgate"]);
    v
}

#[tokio::test]
async fn upstreams_verify_the_assertion_against_the_published_keys() {
    let dir = tempfile::tempdir().expect("dir");
    let key_file = dir.path().join("assertion-keys.json");
    // A key due for rotation (31 days old) and one past its overlap (70 days old).
    let day = 86_400_000u64;
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .expect("time")
        .as_millis() as u64;
    // Made by its owner for its owner only (it holds signing secrets).
    crate::common::write_private(
        &key_file,
        serde_json::json!({"keys": [
            {"kid": "previous", "secret": "11".repeat(32), "created_ms": now - 31 * day},
            {"kid": "retired", "secret": "22".repeat(32), "created_ms": now - 70 * day},
        ]})
        .to_string()
        .as_str(),
    );
    let gw = TestGateway::with(Setup {
        tail: format!(
            "[assertion]\nenabled = true\nkey_file = \"{}\"\nlifetime_seconds = 60\n",
            key_file.display()
        ),
        // The session outlives the day the clock moves on below.
        session:
            "idle_timeout_seconds = 259200\nlifetime_seconds = 259200\nsweep_interval_seconds = 1\n"
                .into(),
        ..Setup::default()
    })
    .await;
    let origin = gw.url("").trim_end_matches('/').to_string();
    let (b, _) = sign_in_at(&origin).await;

    // The keys: a new one is published, the previous (in the file for longer than the
    // publication delay) still signs, the retired one is gone.
    let jwks: JwkSet = client()
        .get(gw.url("/.qrgate/.well-known/jwks.json"))
        .send()
        .await
        .expect("jwks")
        .json()
        .await
        .expect("a standard key set");
    let kids: Vec<_> = jwks
        .keys
        .iter()
        .filter_map(|k| k.common.key_id.clone())
        .collect();
    assert_eq!(kids.len(), 2, "{kids:?}");
    assert_eq!(kids[1], "previous");
    assert!(!kids.contains(&"retired".to_string()));
    use std::os::unix::fs::PermissionsExt;
    let mode = std::fs::metadata(&key_file)
        .expect("file")
        .permissions()
        .mode()
        & 0o777;
    assert_eq!(mode, 0o600);

    // What the upstream receives; a client's own assertion never gets through.
    let echo: Value = b
        .get(gw.url("/app"))
        .header("accept", "application/json")
        .header("x-auth-assertion", "forged")
        .header("X_Auth_Assertion", "forged")
        .send()
        .await
        .expect("request")
        .json()
        .await
        .expect("echo");
    let got: Vec<String> = echoed_headers(&echo)
        .into_iter()
        .filter(|(n, _)| n.replace('_', "-").eq_ignore_ascii_case("x-auth-assertion"))
        .map(|(_, v)| v)
        .collect();
    assert_eq!(got.len(), 1, "{got:?}");
    let token = got[0].as_str();
    assert_ne!(token, "forged");

    let header = decode_header(token).expect("a JWT");
    assert_eq!(header.alg, Algorithm::EdDSA);
    let kid = header.kid.expect("kid");
    assert_eq!(kid, "previous", "the new key is not signing yet");
    let key = DecodingKey::from_jwk(jwks.find(&kid).expect("published")).expect("key");
    let claims = decode::<Value>(token, &key, &validation(&origin))
        .expect("valid for this app")
        .claims;
    assert_eq!(claims["name"], "alice");
    assert_eq!(claims["roles"], serde_json::json!(["staff", "ops"]));
    assert_eq!(claims["iss"], "qrgate");
    assert!(
        claims["sub"].as_str().is_some_and(|s| s.len() == 52),
        "{claims}"
    );
    assert!(claims["jti"].as_str().is_some_and(|s| !s.is_empty()));
    let (iat, exp) = (
        claims["iat"].as_u64().expect("iat"),
        claims["exp"].as_u64().expect("exp"),
    );
    assert_eq!(exp - iat, 60);

    // Meant for another app: refused.
    let other = decode::<Value>(token, &key, &validation("https://other.example"));
    assert!(other.is_err(), "aud is checked");
    // Expired (as a verifier an hour later would see it): refused.
    let mut later = validation(&origin);
    later.reject_tokens_expiring_in_less_than = 3600;
    assert!(
        decode::<Value>(token, &key, &later).is_err(),
        "exp is checked"
    );
    // Signed by another key: refused.
    let new = DecodingKey::from_jwk(jwks.find(&kids[0]).expect("new")).expect("key");
    assert!(decode::<Value>(token, &new, &validation(&origin)).is_err());

    // Once the new key has been in the file for the publication delay (a day, with 30-day
    // rotation), the next sweep puts it to signing; the previous stays published.
    gw.clock.advance(std::time::Duration::from_secs(86_400));
    let signs_new = || async {
        gw.state
            .assertion_keys_in_force()
            .is_some_and(|k| k.signing == vec![kids[0].clone()])
    };
    assert!(
        crate::common::eventually(std::time::Duration::from_secs(10), signs_new).await,
        "the new key signs after the delay"
    );
    let echo: Value = b
        .get(gw.url("/app"))
        .header("accept", "application/json")
        .send()
        .await
        .expect("request")
        .json()
        .await
        .expect("echo");
    let token = echoed_headers(&echo)
        .into_iter()
        .find(|(n, _)| n.eq_ignore_ascii_case("x-auth-assertion"))
        .map(|(_, v)| v)
        .expect("assertion");
    let header = decode_header(&token).expect("a JWT");
    assert_eq!(header.kid.as_deref(), Some(kids[0].as_str()));
    decode::<Value>(&token, &new, &validation(&origin)).expect("verifies with the new key");
}

/// The user the upstream saw in `X-Auth-User` and the `name` and `roles` claims of the
/// assertion it received, on a request from `b` to `base`.
async fn user_and_claims(b: &reqwest::Client, base: &str) -> (String, String, Value) {
    use base64::Engine as _;
    let echo: Value = b
        .get(format!("{base}/app"))
        .header("accept", "application/json")
        .send()
        .await
        .expect("request")
        .json()
        .await
        .expect("echo");
    let headers = echoed_headers(&echo);
    let get = |name: &str| {
        headers
            .iter()
            .find(|(n, _)| n == name)
            .map(|(_, v)| v.clone())
            .unwrap_or_else(|| panic!("{name} in {echo}"))
    };
    let token = get("x-auth-assertion");
    let payload = token.split('.').nth(1).expect("a JWT");
    let claims: Value = serde_json::from_slice(
        &base64::engine::general_purpose::URL_SAFE_NO_PAD
            .decode(payload)
            .expect("base64url"),
    )
    .expect("claims");
    (
        get("x-auth-user"),
        claims["name"].as_str().unwrap_or_default().to_string(),
        claims["roles"].clone(),
    )
}

#[tokio::test]
async fn the_assertion_names_whoever_the_key_is_now() {
    use qrgate::cli::signer::{self, Key};
    let dir = tempfile::tempdir().expect("dir");
    let gw = TestGateway::with(Setup {
        tail: format!(
            "[[user]]\nname = \"bob\"\nroles = [\"staff\"]\n[[user]]\nname = \"carol\"\nroles = [\"ops\"]\n[assertion]\nenabled = true\nkey_file = \"{}\"\nlifetime_seconds = 600\n",
            dir.path().join("keys.json").display()
        ),
        ..Setup::default()
    })
    .await;
    let base = gw.url("");
    let s = gw.state.settings();

    // A phone enrolled for bob signs in: both say bob.
    let phone = Key::generate();
    let invited = gw.invite("bob").await;
    signer::enroll(&client(), &invited.link, &phone)
        .await
        .expect("enrolled");
    let (b, _) =
        crate::common::sign_in_key(&base, crate::common::browser(), client(), &phone).await;
    let (user, name, _) = user_and_claims(&b, &base).await;
    assert_eq!((user.as_str(), name.as_str()), ("bob", "bob"));

    // The device is removed and the same key enrolled for carol, at the same instant (no
    // time passes, no reload): the very next assertion names carol.
    let filter = qrgate_core::control::Filter {
        key: Some(KeyBytes::new(*phone.public().as_bytes())),
        ..Default::default()
    };
    qrgate_core::control::revoke_devices(&gw.state, &s, &filter, "operator")
        .await
        .expect("removed");
    let invited = gw.invite("carol").await;
    signer::enroll(&client(), &invited.link, &phone)
        .await
        .expect("enrolled again");
    let (c, _) =
        crate::common::sign_in_key(&base, crate::common::browser(), client(), &phone).await;
    let (user, name, roles) = user_and_claims(&c, &base).await;
    assert_eq!((user.as_str(), name.as_str()), ("carol", "carol"));
    assert_eq!(roles, serde_json::json!(["ops"]));

    // Roles and names change by config (the signer and its cache stay): the next request's
    // assertion says what the headers say.
    let (a, _) = sign_in_at(&base).await;
    assert_eq!(user_and_claims(&a, &base).await.1, "alice");
    let mut config = s.config.clone();
    for u in &mut config.users {
        match u.name.as_str() {
            "carol" => u.roles = vec!["staff".into(), "admin".into()],
            "alice" => u.name = "alice2".into(),
            _ => {}
        }
    }
    gw.proxy.reload(config).expect("reload");
    let (_, _, roles) = user_and_claims(&c, &base).await;
    assert_eq!(roles, serde_json::json!(["staff", "admin"]));
    let (user, name, _) = user_and_claims(&a, &base).await;
    assert_eq!((user.as_str(), name.as_str()), ("alice2", "alice2"));
}
