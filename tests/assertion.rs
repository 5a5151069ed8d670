//! Signed identity for upstreams: the upstream verifies `X-Auth-Assertion` against the
//! gateway's published keys with a standard JWT library, and refuses a token meant for
//! another app, an expired one, and one signed by another key.

use jsonwebtoken::jwk::JwkSet;
use jsonwebtoken::{decode, decode_header, Algorithm, DecodingKey, Validation};
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
    std::fs::write(
        &key_file,
        serde_json::json!({"keys": [
            {"kid": "previous", "secret": "11".repeat(32), "created_ms": now - 31 * day},
            {"kid": "retired", "secret": "22".repeat(32), "created_ms": now - 70 * day},
        ]})
        .to_string(),
    )
    .expect("keys");
    let gw = TestGateway::with(Setup {
        tail: format!(
            "[assertion]\nenabled = true\nkey_file = \"{}\"\nlifetime_seconds = 60\n",
            key_file.display()
        ),
        ..Setup::default()
    })
    .await;
    let origin = gw.url("").trim_end_matches('/').to_string();
    let (b, _) = sign_in_at(&origin).await;

    // The keys: a new one signs, the previous stays published, the retired one is gone.
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
    assert_eq!(kid, kids[0], "the newest key signs");
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
    let previous = DecodingKey::from_jwk(jwks.find("previous").expect("previous")).expect("key");
    assert!(decode::<Value>(token, &previous, &validation(&origin)).is_err());
}
