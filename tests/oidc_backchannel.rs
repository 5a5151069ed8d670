//! Back-channel logout through the real gateway: a relying party's `backchannel_logout_uri`
//! is a real HTTP server on loopback that records what it is posted; each way a person's
//! grants end (RP-initiated logout, an operator revoking the SSO session, refresh token
//! reuse, signing out on the SSO origin) reaches it with a logout token that verifies against the provider's JWKS; a
//! receiver that keeps failing is tried a bounded number of times.

use std::convert::Infallible;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use http_body_util::{BodyExt, Full};
use hyper::body::{Bytes, Incoming};
use hyper::{Request, Response};
use serde_json::Value;

use crate::common::{eventually, sign_in_at, TestGateway, NAV};
use crate::oidc::{code_for, sso, sso_gateway, token, userinfo, REDIRECT, SECRET};

const EVENT: &str = "http://schemas.openid.net/event/backchannel-logout";

/// A relying party's back-channel endpoint: answers `status` to every POST and keeps each
/// request's content type and `logout_token`.
pub(crate) struct Receiver {
    pub(crate) addr: SocketAddr,
    pub(crate) hits: Arc<AtomicUsize>,
    pub(crate) got: Arc<Mutex<Vec<(String, String)>>>,
}

impl Receiver {
    pub(crate) async fn start(status: u16) -> Receiver {
        Self::answering(status, None).await
    }

    /// A receiver answering `status` with `location` as its `Location` (a redirect).
    async fn answering(status: u16, location: Option<String>) -> Receiver {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
            .await
            .expect("bind");
        let addr = listener.local_addr().expect("addr");
        let hits = Arc::new(AtomicUsize::new(0));
        let got = Arc::new(Mutex::new(Vec::new()));
        let (h, g) = (hits.clone(), got.clone());
        tokio::spawn(async move {
            while let Ok((tcp, _)) = listener.accept().await {
                let (h, g, l) = (h.clone(), g.clone(), location.clone());
                tokio::spawn(async move {
                    let service = hyper::service::service_fn(move |req: Request<Incoming>| {
                        let (h, g, l) = (h.clone(), g.clone(), l.clone());
                        async move {
                            let kind = req
                                .headers()
                                .get("content-type")
                                .and_then(|v| v.to_str().ok())
                                .unwrap_or("")
                                .to_string();
                            let body = req
                                .into_body()
                                .collect()
                                .await
                                .map(|b| b.to_bytes())
                                .unwrap_or_default();
                            let token = url::form_urlencoded::parse(&body)
                                .find(|(k, _)| k == "logout_token")
                                .map(|(_, v)| v.into_owned())
                                .unwrap_or_default();
                            g.lock().expect("lock").push((kind, token));
                            h.fetch_add(1, Ordering::SeqCst);
                            let mut resp = Response::builder().status(status);
                            if let Some(l) = l {
                                resp = resp.header("location", l);
                            }
                            Ok::<_, Infallible>(
                                resp.body(Full::new(Bytes::new())).expect("response"),
                            )
                        }
                    });
                    let _ = hyper::server::conn::http1::Builder::new()
                        .serve_connection(hyper_util::rt::TokioIo::new(tcp), service)
                        .await;
                });
            }
        });
        Receiver { addr, hits, got }
    }

    pub(crate) fn uri(&self) -> String {
        format!("http://127.0.0.1:{}/backchannel", self.addr.port())
    }

    /// Waits until `n` requests came (deadline), then the `n`th logout token.
    pub(crate) async fn nth(&self, n: usize) -> String {
        assert!(
            eventually(Duration::from_secs(10), || async {
                self.hits.load(Ordering::SeqCst) >= n
            })
            .await,
            "logout token {n} did not arrive"
        );
        let got = self.got.lock().expect("lock");
        let (kind, token) = got[n - 1].clone();
        assert_eq!(kind, "application/x-www-form-urlencoded");
        token
    }
}

/// A gateway with client `rp` whose back-channel URI is `receiver`'s.
async fn gateway_telling(receiver: &Receiver) -> (TestGateway, tempfile::TempDir) {
    let hash = hex::encode(<sha2::Sha256 as sha2::Digest>::digest(SECRET.as_bytes()));
    sso_gateway(&format!(
        "\n[[oidc_client]]\nid = \"rp\"\nsecret_hash = \"{hash}\"\nredirect_uris = [\"{REDIRECT}\"]\nbackchannel_logout_uri = \"{}\"\n",
        receiver.uri()
    ))
    .await
}

/// A fresh sign-on at the SSO origin and a grant of `rp` from it: the browser and the token
/// response.
async fn grant(gw: &TestGateway) -> (reqwest::Client, Value) {
    let (b, _) = sign_in_at(&sso(gw)).await;
    let code = code_for(gw, &b, "rp", REDIRECT, "").await;
    let (status, _, tokens) = token(
        gw,
        Some(("rp", SECRET)),
        &[
            ("grant_type", "authorization_code"),
            ("code", &code),
            ("redirect_uri", REDIRECT),
        ],
    )
    .await;
    assert_eq!(status, 200, "{tokens}");
    (b, tokens)
}

/// The claims of `token` once its signature verified against the gateway's JWKS as `rp`'s.
async fn verified(gw: &TestGateway, token: &str) -> (jsonwebtoken::Header, Value) {
    let jwks: jsonwebtoken::jwk::JwkSet = crate::common::client()
        .get(format!("{}/.qrgate/oidc/jwks.json", sso(gw)))
        .send()
        .await
        .expect("jwks")
        .json()
        .await
        .expect("json");
    let header = jsonwebtoken::decode_header(token).expect("header");
    let jwk = jwks
        .find(header.kid.as_deref().expect("kid"))
        .expect("a published key");
    let mut v = jsonwebtoken::Validation::new(header.alg);
    v.set_audience(&["rp"]);
    v.set_issuer(&[sso(gw)]);
    v.set_required_spec_claims(&["exp", "iat", "iss", "aud"]);
    let data = jsonwebtoken::decode::<Value>(
        token,
        &jsonwebtoken::DecodingKey::from_jwk(jwk).expect("key"),
        &v,
    )
    .expect("the logout token verifies");
    (header, data.claims)
}

/// The ID token's `sid` (its payload, already verified by the token endpoint's tests).
fn sid_of(tokens: &Value) -> String {
    let id = tokens["id_token"].as_str().expect("id token");
    let payload = id.split('.').nth(1).expect("payload");
    let claims: Value = serde_json::from_slice(
        &base64::Engine::decode(&base64::engine::general_purpose::URL_SAFE_NO_PAD, payload)
            .expect("b64"),
    )
    .expect("json");
    claims["sid"].as_str().expect("sid").to_string()
}

/// Asserts `token` is `rp`'s logout token for sign-on `sid`.
async fn assert_logout_token(gw: &TestGateway, token: &str, sid: &str) {
    let (header, claims) = verified(gw, token).await;
    assert_eq!(header.typ.as_deref(), Some("logout+jwt"));
    assert_eq!(
        header.alg,
        jsonwebtoken::Algorithm::RS256,
        "rp's ID token alg"
    );
    assert_eq!(claims["sid"], sid, "{claims}");
    assert_eq!(claims["sub"], "alice");
    assert_eq!(claims["aud"], "rp");
    assert_eq!(claims["events"], serde_json::json!({ EVENT: {} }));
    assert!(claims.get("nonce").is_none(), "never a nonce: {claims}");
    assert!(claims["jti"].as_str().is_some_and(|j| j.len() >= 32));
    let (iat, exp) = (
        claims["iat"].as_u64().expect("iat"),
        claims["exp"].as_u64().expect("exp"),
    );
    assert!(exp > iat && exp - iat <= 300, "short-lived: {claims}");
}

#[tokio::test]
async fn each_way_a_sign_on_ends_tells_the_client_by_back_channel() {
    let receiver = Receiver::start(200).await;
    let (gw, _dir) = gateway_telling(&receiver).await;
    let discovery: Value = crate::common::client()
        .get(format!("{}/.well-known/openid-configuration", sso(&gw)))
        .send()
        .await
        .expect("discovery")
        .json()
        .await
        .expect("json");
    assert_eq!(discovery["backchannel_logout_supported"], true);
    assert_eq!(discovery["backchannel_logout_session_supported"], true);

    // RP-initiated logout with the relying party's ID token as hint, from the browser
    // holding the sign-on.
    let (signed_in, tokens) = grant(&gw).await;
    let access = tokens["access_token"].as_str().expect("access");
    let resp = signed_in
        .get(format!(
            "{}/.qrgate/oidc/logout?id_token_hint={}",
            sso(&gw),
            tokens["id_token"].as_str().expect("id token")
        ))
        .header("accept", NAV)
        .send()
        .await
        .expect("logout");
    assert_eq!(resp.status(), 200);
    assert_eq!(userinfo(&gw, access).await, 401);
    assert_logout_token(&gw, &receiver.nth(1).await, &sid_of(&tokens)).await;

    // An operator revoking the person's sessions (what the admin API and `qrgate sessions
    // revoke` call) ends the SSO session's grants too.
    let (_, tokens) = grant(&gw).await;
    let access = tokens["access_token"].as_str().expect("access");
    let s = gw.state.settings();
    let filter = qrgate_core::control::Filter {
        user: Some("alice".into()),
        ..Default::default()
    };
    let ended = qrgate_core::control::revoke(&gw.state, &s, &filter, "admin")
        .await
        .expect("revoke");
    assert!(ended >= 1);
    assert_eq!(userinfo(&gw, access).await, 401, "the grant ended with it");
    assert_logout_token(&gw, &receiver.nth(2).await, &sid_of(&tokens)).await;

    // A rotated-out refresh token presented again revokes its grant.
    let (_, tokens) = grant(&gw).await;
    let first = tokens["refresh_token"].as_str().expect("refresh");
    let refresh = |t: String| {
        let gw = &gw;
        async move {
            token(
                gw,
                Some(("rp", SECRET)),
                &[("grant_type", "refresh_token"), ("refresh_token", &t)],
            )
            .await
        }
    };
    let (status, _, _) = refresh(first.to_string()).await;
    assert_eq!(status, 200);
    let (status, _, e) = refresh(first.to_string()).await;
    assert_eq!((status, e["error"].as_str()), (400, Some("invalid_grant")));
    assert_logout_token(&gw, &receiver.nth(3).await, &sid_of(&tokens)).await;

    // Signing out on the SSO origin itself (its own logout, not the provider's endpoint)
    // ends the sign-on's grants too: every revocation of a session goes one way.
    let (b, tokens) = grant(&gw).await;
    let resp = b
        .post(format!("{}/.qrgate/logout", sso(&gw)))
        .header("origin", sso(&gw))
        .header("accept", "application/json")
        .send()
        .await
        .expect("logout");
    assert!(resp.status().is_success(), "{}", resp.status());
    assert_logout_token(&gw, &receiver.nth(4).await, &sid_of(&tokens)).await;

    // Each ending was told once; nothing else was sent.
    assert_eq!(receiver.hits.load(Ordering::SeqCst), 4);
    let ok = gw
        .state
        .metrics()
        .backchannel
        .with_label_values(&["rp", "ok"])
        .get();
    assert_eq!(ok, 4);
    let mut jtis: Vec<String> = Vec::new();
    for (_, t) in receiver.got.lock().expect("lock").iter() {
        let payload = t.split('.').nth(1).expect("payload");
        let c: Value = serde_json::from_slice(
            &base64::Engine::decode(&base64::engine::general_purpose::URL_SAFE_NO_PAD, payload)
                .expect("b64"),
        )
        .expect("json");
        jtis.push(c["jti"].as_str().expect("jti").to_string());
    }
    jtis.sort();
    jtis.dedup();
    assert_eq!(jtis.len(), 4, "a fresh jti each");
}

#[tokio::test]
async fn a_failing_receiver_is_tried_a_bounded_number_of_times_and_never_blocks_the_logout() {
    let receiver = Receiver::start(503).await;
    let (gw, _dir) = gateway_telling(&receiver).await;
    let (signed_in, tokens) = grant(&gw).await;
    let started = std::time::Instant::now();
    let resp = signed_in
        .get(format!(
            "{}/.qrgate/oidc/logout?id_token_hint={}",
            sso(&gw),
            tokens["id_token"].as_str().expect("id token")
        ))
        .header("accept", NAV)
        .send()
        .await
        .expect("logout");
    assert_eq!(resp.status(), 200, "the logout is answered at once");
    assert!(
        started.elapsed() < qrgate::oidc::backchannel::BACKOFF,
        "delivery does not hold the logout up"
    );
    let failed = || {
        gw.state
            .metrics()
            .backchannel
            .with_label_values(&["rp", "failed"])
            .get()
    };
    assert!(
        eventually(Duration::from_secs(20), || async { failed() == 1 }).await,
        "given up in time"
    );
    let attempts = usize::try_from(qrgate::oidc::backchannel::ATTEMPTS).expect("small");
    assert_eq!(
        receiver.hits.load(Ordering::SeqCst),
        attempts,
        "every try, and no more"
    );
    let token = receiver.nth(attempts).await;
    assert_logout_token(&gw, &token, &sid_of(&tokens)).await;
    assert_eq!(
        gw.state
            .metrics()
            .backchannel
            .with_label_values(&["rp", "retry"])
            .get(),
        u64::try_from(attempts - 1).expect("small")
    );
}

#[tokio::test]
async fn a_receiver_refusing_the_token_is_not_asked_again() {
    let receiver = Receiver::start(400).await;
    let (gw, _dir) = gateway_telling(&receiver).await;
    let (signed_in, tokens) = grant(&gw).await;
    let resp = signed_in
        .get(format!(
            "{}/.qrgate/oidc/logout?id_token_hint={}",
            sso(&gw),
            tokens["id_token"].as_str().expect("id token")
        ))
        .header("accept", NAV)
        .send()
        .await
        .expect("logout");
    assert_eq!(resp.status(), 200);
    let refused = || {
        gw.state
            .metrics()
            .backchannel
            .with_label_values(&["rp", "refused"])
            .get()
    };
    assert!(eventually(Duration::from_secs(10), || async { refused() == 1 }).await);
    assert_eq!(receiver.hits.load(Ordering::SeqCst), 1, "a 4xx is final");
}

#[tokio::test]
async fn a_redirect_from_the_receiver_is_not_followed() {
    let elsewhere = Receiver::start(200).await;
    let receiver = Receiver::answering(307, Some(elsewhere.uri())).await;
    let (gw, _dir) = gateway_telling(&receiver).await;
    let (signed_in, tokens) = grant(&gw).await;
    let resp = signed_in
        .get(format!(
            "{}/.qrgate/oidc/logout?id_token_hint={}",
            sso(&gw),
            tokens["id_token"].as_str().expect("id token")
        ))
        .header("accept", NAV)
        .send()
        .await
        .expect("logout");
    assert_eq!(resp.status(), 200);
    let failed = || {
        gw.state
            .metrics()
            .backchannel
            .with_label_values(&["rp", "failed"])
            .get()
    };
    assert!(eventually(Duration::from_secs(20), || async { failed() == 1 }).await);
    let attempts = usize::try_from(qrgate::oidc::backchannel::ATTEMPTS).expect("small");
    assert_eq!(receiver.hits.load(Ordering::SeqCst), attempts);
    assert_eq!(
        elsewhere.hits.load(Ordering::SeqCst),
        0,
        "only the configured URI is posted to"
    );
}
