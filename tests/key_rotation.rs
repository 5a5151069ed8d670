//! Key rotation across instances: two gateways share one OpenID Connect key file and one
//! assertion key file. When one of them rotates (its clock moved on), the other publishes
//! the new key before anything is signed with it, and every token either signs verifies
//! against the other's published keys, before, during and after the rotation.

use std::path::Path;
use std::time::Duration;

use jsonwebtoken::jwk::JwkSet;
use jsonwebtoken::{decode, decode_header, DecodingKey, Validation};
use serde_json::Value;

use crate::common::{client, echoed_headers, eventually, sign_in_at, Setup, TestGateway};
use crate::oidc::{code_for, sso, token, REDIRECT, SECRET};

/// A day and the publication delay of `rotate_days = 1` (a quarter of it).
const DAY: Duration = Duration::from_secs(86_400);
const DELAY: Duration = Duration::from_secs(6 * 3_600);

/// A gateway with `[sso]` and `[assertion]`, both rotating daily, keys in `dir`; sessions
/// outlive the day its clock is moved on (the reference signer signs on the real clock,
/// so nobody signs in once it moved).
async fn gateway(dir: &Path) -> TestGateway {
    let hash = hex::encode(<sha2::Sha256 as sha2::Digest>::digest(SECRET.as_bytes()));
    let tail = format!(
        "\n[sso]\norigin = \"http://localhost:{{gateway_port}}\"\nname = \"Sign-in\"\nkey_file = \"{oidc}\"\nrotate_days = 1\n\n\
         [assertion]\nenabled = true\nkey_file = \"{assertion}\"\nrotate_days = 1\n\n\
         [[oidc_client]]\nid = \"grafana\"\nsecret_hash = \"{hash}\"\nredirect_uris = [\"{REDIRECT}\"]\n",
        oidc = dir.join("oidc-keys.json").display(),
        assertion = dir.join("assertion-keys.json").display(),
    );
    TestGateway::with(Setup {
        tail,
        session:
            "idle_timeout_seconds = 259200\nlifetime_seconds = 259200\nsweep_interval_seconds = 1\n"
                .into(),
        ..Setup::default()
    })
    .await
}

async fn jwks(url: String) -> JwkSet {
    client()
        .get(url)
        .send()
        .await
        .expect("jwks")
        .json()
        .await
        .expect("a standard key set")
}

/// The provider's published keys.
async fn oidc_jwks(gw: &TestGateway) -> JwkSet {
    jwks(format!("{}/.qrgate/oidc/jwks.json", sso(gw))).await
}

/// The assertion keys upstreams fetch.
async fn assertion_jwks(gw: &TestGateway) -> JwkSet {
    jwks(gw.url("/.qrgate/.well-known/jwks.json")).await
}

fn kids(set: &JwkSet) -> Vec<String> {
    set.keys
        .iter()
        .filter_map(|k| k.common.key_id.clone())
        .collect()
}

/// A fresh ID token for `grafana` from `gw`, through `b` signed in at its SSO origin.
async fn id_token(gw: &TestGateway, b: &reqwest::Client) -> String {
    let code = code_for(gw, b, "grafana", REDIRECT, "").await;
    let (status, _, tokens) = token(
        gw,
        Some(("grafana", SECRET)),
        &[
            ("grant_type", "authorization_code"),
            ("code", &code),
            ("redirect_uri", REDIRECT),
        ],
    )
    .await;
    assert_eq!(status, 200, "{tokens}");
    tokens["id_token"].as_str().expect("id token").to_string()
}

/// The assertion the upstream of `gw` receives on a request with app session `session`.
async fn assertion(gw: &TestGateway, session: &str) -> String {
    let echo: Value = client()
        .get(gw.url("/app"))
        .header("accept", "application/json")
        .header("cookie", format!("{}={session}", gw.cookie_name()))
        .send()
        .await
        .expect("request")
        .json()
        .await
        .expect("echo");
    echoed_headers(&echo)
        .into_iter()
        .find(|(n, _)| n.eq_ignore_ascii_case("x-auth-assertion"))
        .map(|(_, v)| v)
        .expect("an assertion")
}

/// The `kid` of `token`, once it verified against `keys` (someone else's published keys).
fn verified_kid(token: &str, keys: &JwkSet) -> String {
    let header = decode_header(token).expect("a JWT");
    let kid = header.kid.expect("kid");
    let jwk = keys
        .find(&kid)
        .unwrap_or_else(|| panic!("{kid} is not published in {:?}", kids(keys)));
    let mut v = Validation::new(header.alg);
    v.validate_aud = false;
    v.required_spec_claims.clear();
    decode::<Value>(token, &DecodingKey::from_jwk(jwk).expect("key"), &v)
        .expect("verifies against the other instance's keys");
    kid
}

#[tokio::test]
async fn a_key_one_instance_adds_is_published_by_the_other_before_it_signs() {
    let dir = tempfile::tempdir().expect("dir");
    let a = gateway(dir.path()).await;
    let b = gateway(dir.path()).await;
    let (a_sso, _) = sign_in_at(&sso(&a)).await;
    let a_app = a.mint_session(0).await;

    // Both start with the file's one key of each kind, and publish the same.
    let (oidc_first, assertion_first) =
        (kids(&oidc_jwks(&a).await), kids(&assertion_jwks(&a).await));
    assert_eq!(oidc_first.len(), 1, "RS256 only: {oidc_first:?}");
    assert_eq!(assertion_first.len(), 1);
    assert_eq!(kids(&oidc_jwks(&b).await), oidc_first);
    assert_eq!(kids(&assertion_jwks(&b).await), assertion_first);
    let k1 = oidc_first[0].clone();
    let s1 = assertion_first[0].clone();
    assert_eq!(
        verified_kid(&id_token(&a, &a_sso).await, &oidc_jwks(&b).await),
        k1
    );
    assert_eq!(
        verified_kid(&assertion(&a, &a_app).await, &assertion_jwks(&b).await),
        s1
    );

    // A's clock reaches one delay before the day is over: A adds the next keys (B's clock
    // has not moved, so B rotates nothing) and B, re-reading the file, publishes them.
    a.clock.advance(DAY - DELAY);
    let both_at = |gw: &'static str, want: usize| {
        let gw = if gw == "a" { &a } else { &b };
        async move {
            kids(&oidc_jwks(gw).await).len() == want
                && kids(&assertion_jwks(gw).await).len() == want
        }
    };
    assert!(
        eventually(Duration::from_secs(10), || both_at("b", 2)).await,
        "B publishes the keys A added: {:?}",
        kids(&oidc_jwks(&b).await)
    );
    let oidc_b = oidc_jwks(&b).await;
    let assertion_b = assertion_jwks(&b).await;
    let k2 = kids(&oidc_b)
        .into_iter()
        .find(|k| *k != k1)
        .expect("next key");
    let s2 = kids(&assertion_b)
        .into_iter()
        .find(|k| *k != s1)
        .expect("next key");
    // Nothing is signed with them yet, at A or at B.
    assert!(eventually(Duration::from_secs(10), || both_at("a", 2)).await);
    assert_eq!(verified_kid(&id_token(&a, &a_sso).await, &oidc_b), k1);
    assert_eq!(verified_kid(&assertion(&a, &a_app).await, &assertion_b), s1);
    let file: Value = serde_json::from_str(
        &std::fs::read_to_string(dir.path().join("oidc-keys.json")).expect("file"),
    )
    .expect("json");
    assert_eq!(
        file["keys"].as_array().map(Vec::len),
        Some(2),
        "one rotation, by one instance: {file}"
    );

    // Once the new keys have been in the file for the delay, A signs with them, and what it
    // signs verifies against B's keys (which still hold the previous ones too).
    a.clock.advance(DELAY);
    assert!(
        eventually(Duration::from_secs(10), || async {
            a.state
                .oidc()
                .keys_in_force()
                .is_some_and(|k| k.signing == vec![k2.clone()])
                && a.state
                    .assertion_keys_in_force()
                    .is_some_and(|k| k.signing == vec![s2.clone()])
        })
        .await,
        "A signs with the new keys after the delay"
    );
    let oidc_b = oidc_jwks(&b).await;
    let assertion_b = assertion_jwks(&b).await;
    assert_eq!(verified_kid(&id_token(&a, &a_sso).await, &oidc_b), k2);
    assert_eq!(verified_kid(&assertion(&a, &a_app).await, &assertion_b), s2);
    assert!(
        kids(&oidc_b).contains(&k1),
        "the previous key stays published"
    );
    assert!(kids(&assertion_b).contains(&s1));
}
