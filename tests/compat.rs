//! The signers people already have: Pubky Ring (pubkyauth, driven by the real pubky-common
//! crate exactly as Ring uses it) and tana-mobile (Tana's exact wire format and public test
//! key), through the same attempt, SSE and browser-bound claim as the native flow.

use ed25519_dalek::{Signer, SigningKey};
use pubky_common::auth::AuthToken;
use pubky_common::capabilities::Capabilities;
use pubky_common::crypto::Keypair;
use serde_json::Value;
use sha2::{Digest, Sha256};

use crate::common::{
    browser, client, echoed_headers, Setup, TestGateway, ALICE_KEY_HEX, ALICE_SECRET_HEX,
};

fn setup() -> Setup {
    Setup {
        app_extra: "signers = [\"native\", \"pubky\", \"tana\"]\n".into(),
        ..Setup::default()
    }
}

pub(crate) fn alice_secret() -> [u8; 32] {
    hex::decode(ALICE_SECRET_HEX)
        .expect("hex")
        .try_into()
        .expect("32")
}

/// Starts an attempt as the browser through the JSON API; returns (id, payloads by protocol).
async fn create(
    gw: &TestGateway,
    b: &reqwest::Client,
) -> (String, std::collections::HashMap<String, String>) {
    let resp = b
        .post(gw.url("/.qrgate/auth/session/create?rd=%2Fhome"))
        .header("origin", format!("http://{}", gw.addr))
        .send()
        .await
        .expect("create");
    assert_eq!(resp.status(), 201);
    let v: Value = resp.json().await.expect("json");
    let payloads = v["payloads"]
        .as_array()
        .expect("payloads")
        .iter()
        .map(|p| {
            (
                p["protocol"].as_str().unwrap_or_default().to_string(),
                p["payload"].as_str().unwrap_or_default().to_string(),
            )
        })
        .collect();
    (v["id"].as_str().expect("id").to_string(), payloads)
}

async fn claim_and_land(gw: &TestGateway, b: &reqwest::Client, id: &str) {
    let resp = b
        .post(gw.url(&format!("/.qrgate/auth/session/{id}/claim")))
        .header("origin", format!("http://{}", gw.addr))
        .header("accept", "application/json")
        .send()
        .await
        .expect("claim");
    assert_eq!(resp.status(), 200);
    assert_eq!(
        resp.json::<Value>().await.expect("json")["redirect"],
        "/home"
    );
    let echo: Value = b
        .get(gw.url("/home"))
        .header("accept", "application/json")
        .send()
        .await
        .expect("app")
        .json()
        .await
        .expect("echo");
    let headers = echoed_headers(&echo);
    assert!(
        headers.contains(&("x-auth-user".into(), "alice".into())),
        "{headers:?}"
    );
}

struct PubkyLink {
    caps: String,
    relay: String,
    secret: [u8; 32],
}

fn parse_pubkyauth(link: &str) -> PubkyLink {
    assert!(link.starts_with("pubkyauth:///?"), "{link}");
    let url = url::Url::parse(link).expect("pubkyauth url");
    let get = |k: &str| {
        url.query_pairs()
            .find(|(n, _)| n == k)
            .map(|(_, v)| v.into_owned())
            .unwrap_or_else(|| panic!("{k} in {link}"))
    };
    assert_eq!(get("x-source"), "Test app");
    use base64::Engine;
    let secret = base64::engine::general_purpose::URL_SAFE_NO_PAD
        .decode(get("secret"))
        .expect("b64");
    PubkyLink {
        caps: get("caps"),
        relay: get("relay"),
        secret: secret.try_into().expect("32 bytes"),
    }
}

pub(crate) fn channel(secret: &[u8; 32]) -> String {
    use base64::Engine;
    base64::engine::general_purpose::URL_SAFE_NO_PAD
        .encode(pubky_common::crypto::hash(secret).as_bytes())
}

/// Ring's part: sign a token for the caps, encrypt it with the secret.
pub(crate) fn ring_token(kp: &Keypair, caps: &str, secret: &[u8; 32]) -> Vec<u8> {
    let caps: Capabilities = caps.parse().expect("caps parse");
    pubky_common::crypto::encrypt(&AuthToken::sign(kp, caps).serialize(), secret)
}

pub(crate) async fn post_relay(url: String, body: Vec<u8>) -> (u16, Value) {
    let resp = client().post(url).body(body).send().await.expect("relay");
    let status = resp.status().as_u16();
    (status, resp.json().await.unwrap_or(Value::Null))
}

#[tokio::test]
async fn pubky_ring_logs_in_through_the_gateway_relay() {
    let gw = TestGateway::with(setup()).await;
    let b = browser();
    let (id, payloads) = create(&gw, &b).await;
    let link = parse_pubkyauth(&payloads["pubky"]);
    assert_eq!(link.relay, gw.url("/.qrgate/pubky/relay/"));
    assert!(
        link.caps.contains(&id),
        "caps are bound to the attempt: {}",
        link.caps
    );
    let kp = Keypair::from_secret(&alice_secret());
    assert_eq!(
        kp.public_key().z32(),
        gw.state.settings().user_identity(0).expect("alice").pubkey
    );
    let target = format!("{}{}", link.relay, channel(&link.secret));

    // Failures first: each is a 4xx and leaves the attempt approvable.
    let (s, _) = post_relay(
        format!("{}{}", link.relay, channel(&[9u8; 32])),
        ring_token(&kp, &link.caps, &link.secret),
    )
    .await;
    assert_eq!(s, 404, "wrong channel");
    let (s, _) = post_relay(target.clone(), b"garbage".to_vec()).await;
    assert_eq!(s, 400, "garbage body");
    let (s, _) = post_relay(target.clone(), vec![0u8; 3000]).await;
    assert_eq!(s, 413, "oversized body");
    let (s, v) = post_relay(
        target.clone(),
        ring_token(&kp, "/pub/other.app/:rw", &link.secret),
    )
    .await;
    assert_eq!(s, 403, "wrong caps: {v}");
    let (s, v) = post_relay(target.clone(), ring_token(&kp, &link.caps, &[1u8; 32])).await;
    assert_eq!(s, 400, "encrypted with another secret: {v}");
    // A stale token: the timestamp moved 10 minutes back and re-signed as Ring would.
    let mut stale =
        AuthToken::sign(&kp, link.caps.parse::<Capabilities>().expect("caps")).serialize();
    let ts = u64::from_be_bytes(stale[75..83].try_into().expect("8")) - 600_000_000;
    stale[75..83].copy_from_slice(&ts.to_be_bytes());
    let sig = SigningKey::from_bytes(&alice_secret())
        .sign(&stale[65..])
        .to_bytes();
    stale[..64].copy_from_slice(&sig);
    let (s, v) = post_relay(
        target.clone(),
        pubky_common::crypto::encrypt(&stale, &link.secret),
    )
    .await;
    assert_eq!(s, 401, "stale timestamp: {v}");

    // Now exactly as Ring does it.
    let good = ring_token(&kp, &link.caps, &link.secret);
    let (s, v) = post_relay(target.clone(), good.clone()).await;
    assert_eq!(s, 200, "{v}");
    let (s, v) = post_relay(target.clone(), good).await;
    assert_eq!(
        (s, v["error"].as_str()),
        (409, Some("replay")),
        "replayed token"
    );
    claim_and_land(&gw, &b, &id).await;
}

pub(crate) fn tana_message(id: &str, challenge: &str, username: &str, timestamp: u64) -> String {
    format!(
        "{{\"sessionId\":\"{id}\",\"challenge\":\"{challenge}\",\"userId\":\"550e8400-e29b-41d4-a716-446655440000\",\"username\":\"{username}\",\"timestamp\":{timestamp}}}"
    )
}

pub(crate) fn tana_body(message: &str, username: &str) -> Value {
    let sig = SigningKey::from_bytes(&alice_secret())
        .sign(&Sha256::digest(message.as_bytes()))
        .to_bytes();
    serde_json::json!({
        "userId": "550e8400-e29b-41d4-a716-446655440000",
        "username": username,
        "publicKey": format!("ed25519_{ALICE_KEY_HEX}"),
        "signature": format!("ed25519_sig_{}", hex::encode(sig)),
        "message": message,
    })
}

#[tokio::test]
async fn tana_mobile_logs_in_with_its_own_wire_format() {
    let gw = TestGateway::with(setup()).await;
    let b = browser();
    let (id, payloads) = create(&gw, &b).await;
    let qr: Value = serde_json::from_str(&payloads["tana"]).expect("qrData json");
    assert!(
        payloads["tana"].starts_with(
            "{\"protocol\":\"tana\",\"type\":\"auth\",\"version\":\"1\",\"sessionId\""
        ),
        "{}",
        payloads["tana"]
    );
    assert_eq!(qr["sessionId"], id.as_str());
    assert_eq!(qr["appName"], "Test app");
    let server = qr["server"].as_str().expect("server").to_string();
    assert_eq!(server, gw.url("/.qrgate"));
    let challenge = qr["challenge"].as_str().expect("challenge").to_string();
    assert_eq!(challenge.len(), 32);

    let c = client();
    let scan: Value = c
        .post(format!("{server}/auth/session/{id}/scan"))
        .send()
        .await
        .expect("scan")
        .json()
        .await
        .expect("json");
    assert_eq!(scan["success"], true);
    assert_eq!(scan["sessionId"], id.as_str());
    assert_eq!(scan["challenge"], challenge.as_str());
    assert_eq!(scan["appName"], "Test app");

    let approve = |body: Value| {
        let c = c.clone();
        let url = format!("{server}/auth/session/{id}/approve");
        async move {
            let r = c.post(url).json(&body).send().await.expect("approve");
            (
                r.status().as_u16(),
                r.json::<Value>().await.unwrap_or(Value::Null),
            )
        }
    };
    let now = gw.clock.now_millis();
    // Flaws Tana has and we refuse: a self-asserted name that contradicts the key's user…
    let m = tana_message(&id, &challenge, "mallory", now);
    assert_eq!(approve(tana_body(&m, "mallory")).await.0, 403);
    // …a stale timestamp, another login's challenge, a non-canonical message.
    let m = tana_message(&id, &challenge, "alice", now - 6 * 60 * 1000);
    assert_eq!(approve(tana_body(&m, "alice")).await.0, 401);
    let m = tana_message(&id, &"0".repeat(32), "alice", now);
    assert_eq!(approve(tana_body(&m, "alice")).await.0, 400);
    let m = tana_message(&id, &challenge, "alice", now).replacen(
        "{\"sessionId\"",
        "{ \"sessionId\"",
        1,
    );
    assert_eq!(approve(tana_body(&m, "alice")).await.0, 400);
    let mut bad_sig = tana_body(&tana_message(&id, &challenge, "alice", now), "alice");
    bad_sig["signature"] = Value::String(format!("ed25519_sig_{}", "ab".repeat(64)));
    assert_eq!(approve(bad_sig).await.0, 401);

    let (status, v) = approve(tana_body(
        &tana_message(&id, &challenge, "alice", now),
        "alice",
    ))
    .await;
    assert_eq!(status, 200, "{v}");
    assert_eq!(v["success"], true);
    assert_eq!(v["username"], "alice");
    assert!(
        v.get("sessionToken").is_none(),
        "the phone gets no token: {v}"
    );
    claim_and_land(&gw, &b, &id).await;
}

#[tokio::test]
async fn the_login_page_offers_every_configured_signer() {
    let gw = TestGateway::with(setup()).await;
    let (_, _, html) = crate::common::open_login(&gw, &browser(), "/").await;
    for (kind, label) in [
        ("native", "qrgate signer"),
        ("pubky", "Pubky Ring"),
        ("tana", "Tana"),
    ] {
        assert!(html.contains(&format!("id=\"tab-{kind}\"")), "{kind} tab");
        assert!(html.contains(label));
    }
    assert_eq!(html.matches("<svg").count(), 3);
    assert!(html.contains("pubkyauth:///?caps="));
    assert!(html.contains("sessionId") && html.contains("tana://auth?data="));
}

#[tokio::test]
async fn a_pubky_token_granting_less_than_asked_is_refused() {
    let gw = TestGateway::with(Setup {
        app_extra: "access = \"read\"\naccess_paths = [{ path = \"/comments/\", access = \"read-write\" }]\nsigners = [\"pubky\", \"tana\"]\n".into(),
        ..Setup::default()
    })
    .await;
    let b = browser();
    let (id, payloads) = create(&gw, &b).await;
    let link = parse_pubkyauth(&payloads["pubky"]);
    let host = gw.addr.ip().to_string();
    // What is asked: the attempt's own capability, then the grant as capabilities.
    assert!(
        link.caps.contains(&format!("/pub/{host}/comments/:rw")),
        "{}",
        link.caps
    );
    assert!(
        link.caps.contains(&format!("/pub/{host}/:r")),
        "{}",
        link.caps
    );
    // Tana shows the grant with the app's name.
    assert!(
        payloads["tana"].contains("(read-write /comments/, read /)"),
        "{}",
        payloads["tana"]
    );
    let kp = Keypair::from_secret(&alice_secret());
    let target = format!("{}{}", link.relay, channel(&link.secret));
    // Read-only where read-write was asked: refused, and the attempt stays open.
    let less = link.caps.replace("/comments/:rw", "/comments/:r");
    let (s, v) = post_relay(target.clone(), ring_token(&kp, &less, &link.secret)).await;
    assert_eq!(s, 403, "{v}");
    assert_eq!(v["error"], "wrong_capabilities", "{v}");
    // Exactly what was asked: approved.
    let (s, v) = post_relay(target, ring_token(&kp, &link.caps, &link.secret)).await;
    assert_eq!(s, 200, "{v}");
    claim_and_land(&gw, &b, &id).await;
}
