//! The device authorization grant on two instances sharing one real Redis: a device code
//! asked for at one instance is approved through the other and redeemed at the first, once;
//! its grant refreshes at either, is listed by the operator's command at either, and revoked
//! at one it is refused at the other within a second.

use std::sync::Arc;
use std::time::Duration;

use oauth2::basic::BasicClient;
use oauth2::{AuthType, ClientId, DeviceAuthorizationUrl, Scope, TokenResponse, TokenUrl};

use crate::common::{alice_key, eventually, NAV};
use crate::redis_common::{admin, instance_offering, phone_via, Redis, ORIGIN};

/// The SSO origin both instances serve.
const SSO: &str = "http://localhost:1";

/// A client that reaches every origin through instance `base`.
fn via(base: &str) -> reqwest::Client {
    reqwest::Client::builder()
        .cookie_provider(Arc::new(reqwest::cookie::Jar::default()))
        .proxy(reqwest::Proxy::http(base).expect("proxy"))
        .redirect(reqwest::redirect::Policy::none())
        .timeout(Duration::from_secs(10))
        .build()
        .expect("client")
}

#[tokio::test]
async fn a_device_code_asked_at_one_instance_is_approved_through_another_and_its_grant_revoked_everywhere(
) {
    let redis = Redis::start().await;
    let shared = tempfile::tempdir().expect("dir");
    let sso = format!(
        "[sso]\norigin = \"{SSO}\"\nname = \"Example\"\nkey_file = \"{}\"\n[programs]\npoll_interval_seconds = 1\n",
        shared.path().join("oidc-keys.json").display()
    );
    let (a, ready_a) = instance_offering(&redis, &sso, "programs = true").await;
    let (b, _) = instance_offering(&redis, &sso, "programs = true").await;
    let (via_a, via_b) = (via(&a.base), via(&b.base));
    let cli = BasicClient::new(ClientId::new("qrgate-cli".into()))
        .set_auth_type(AuthType::RequestBody)
        .set_device_authorization_url(
            DeviceAuthorizationUrl::new(format!("{SSO}/.qrgate/oidc/device_authorization"))
                .expect("url"),
        )
        .set_token_uri(TokenUrl::new(format!("{SSO}/.qrgate/oidc/token")).expect("url"));
    let details: oauth2::StandardDeviceAuthorizationResponse = cli
        .exchange_device_code()
        .add_scope(Scope::new("app:a".into()))
        .add_scope(Scope::new("offline_access".into()))
        .request_async(&via_a)
        .await
        .expect("device code at A");
    let complete = details
        .verification_uri_complete()
        .expect("complete")
        .secret()
        .clone();

    // The person opens the page through B and the phone approves through B.
    let html = via_b
        .get(&complete)
        .header("accept", NAV)
        .send()
        .await
        .expect("page")
        .text()
        .await
        .expect("html");
    let marker = "data-attempt=\"";
    let start = html.find(marker).expect("approval page") + marker.len();
    let id = html[start..].split('"').next().expect("id").to_string();
    let attempt = url::Url::parse(&format!("{SSO}/.qrgate/auth/session/{id}")).expect("url");
    let phone = phone_via(&b.base);
    let req = qrgate::cli::signer::scan(&phone, &attempt)
        .await
        .expect("scan");
    assert!(
        req.app.contains("wants read-write access to a"),
        "{}",
        req.app
    );
    qrgate::cli::signer::approve(&phone, &attempt, &alice_key(), &req)
        .await
        .expect("approve");

    // The program polls A (real waits of the 1 s interval).
    let token = cli
        .exchange_device_access_token(&details)
        .request_async(&via_a, tokio::time::sleep, Some(Duration::from_secs(20)))
        .await
        .expect("a token at A");
    let again = cli
        .exchange_device_access_token(&details)
        .request_async(&via_b, tokio::time::sleep, Some(Duration::from_secs(20)))
        .await;
    assert!(again.is_err(), "handed out once, on every instance");
    let refresh = token.refresh_token().expect("refresh token");
    let renewed = cli
        .exchange_refresh_token(refresh)
        .request_async(&via_b)
        .await
        .expect("refreshed at B");
    assert_ne!(
        renewed.access_token().secret(),
        token.access_token().secret()
    );
    let bearer = renewed.access_token().secret().clone();
    let at = |c: reqwest::Client, bearer: String| async move {
        c.get(format!("{ORIGIN}/app"))
            .header("accept", "application/json")
            .bearer_auth(bearer)
            .send()
            .await
            .expect("request")
            .status()
            .as_u16()
    };
    assert_eq!(at(via_a.clone(), bearer.clone()).await, 200);
    assert_eq!(at(via_b.clone(), bearer.clone()).await, 200);

    // The operator's command lists it (never a token), through A's admin listener.
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_qrgate"))
        .args(["tokens", "list", "--user", "alice", "--config"])
        .arg(a.config_path())
        .output()
        .expect("qrgate tokens list");
    let listed = String::from_utf8_lossy(&out.stdout).to_string();
    assert!(
        out.status.success(),
        "{listed} {}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(listed.starts_with("1 token(s)"), "{listed}");
    // Used at both instances above: the use is recorded in the shared store.
    let used = eventually(Duration::from_secs(5), || async {
        admin(&ready_a, false, "/tokens?user=alice").await["tokens"][0]["last_used_at"].is_u64()
    })
    .await;
    assert!(used, "last use recorded in Redis");
    assert!(listed.contains("qrgate CLI  a: read-write"), "{listed}");
    assert!(!listed.contains(&bearer));
    let tokens = admin(&ready_a, false, "/tokens?user=alice").await;
    let id = tokens["tokens"][0]["id"].as_str().expect("id").to_string();
    assert!(listed.contains(&id));

    // Revoked at A: refused at B within a second.
    let revoked = admin(&ready_a, true, &format!("/tokens/revoke?id={id}")).await;
    assert_eq!(revoked["revoked"], 1);
    let refused = eventually(Duration::from_secs(1), || {
        let (c, t) = (via_b.clone(), bearer.clone());
        async move { at(c, t).await == 401 }
    })
    .await;
    assert!(refused, "revoked at A, refused at B within a second");
}

/// The Redis store's bound on a person's personal tokens: a refusal in the same script that
/// stores, over live tokens only (a revoked or expired one holds no place), never an eviction.
#[tokio::test]
async fn the_redis_store_refuses_a_personal_token_beyond_the_bound_and_ends_none() {
    use qrgate_core::oidc::store::{CodeGrant, Grant, Issue, OidcStore, Redeemed, MAX_GRANTS};
    use serde_json::json;
    let redis = Redis::start().await;
    let link = qrgate::redis::Link::new(&qrgate_core::config::RedisConfig {
        target: qrgate_core::config::RedisTarget::Url(redis.url()),
        prefix: "p:".into(),
        connect_timeout: Duration::from_secs(5),
        timeout: Duration::from_secs(5),
        cache: Duration::ZERO,
        replicas: None,
    })
    .expect("link");
    link.connect().await.expect("connected");
    let store = qrgate::redis::oidc::RedisOidc::new(link);
    let make = |n: u16, expires_ms: u64, at_ms: u64| {
        let store = &store;
        async move {
            let mut c = [3u8; 32];
            c[..2].copy_from_slice(&n.to_be_bytes());
            let code: CodeGrant = serde_json::from_value(json!({"client_id": "qrgate-cli",
                "redirect_uri": "", "user": "alice", "subject": "alice", "family": "key:aa",
                "scope": ["app:Wiki"], "auth_time": 1, "expires_ms": 600_000}))
            .expect("code");
            store.put_code(c, code, at_ms).await.expect("put");
            let grant: Grant = serde_json::from_value(json!({"id": format!("p{n}"),
                "client_id": "qrgate-cli", "user": "alice", "subject": "alice",
                "family": "key:aa", "scope": ["app:Wiki"], "auth_time": 1,
                "expires_ms": expires_ms, "name": format!("token {n}")}))
            .expect("grant");
            let mut access = [7u8; 32];
            access[..2].copy_from_slice(&n.to_be_bytes());
            let issue = Issue {
                scope: vec!["app:Wiki".into()],
                refresh: None,
                access,
                access_expires_ms: expires_ms,
            };
            store.redeem(c, grant, issue, at_ms).await.expect("redeem")
        }
    };
    let max = u16::try_from(MAX_GRANTS).expect("small");
    for n in 0..max {
        // p3 lives for 200 ms of the gateway's clock (its Redis keys expire with it).
        let expires = if n == 3 { 200 } else { 10_000_000 };
        assert_eq!(
            make(n, expires, 1).await,
            Redeemed::Issued { evicted: vec![] }
        );
    }
    assert_eq!(make(100, 10_000_000, 1).await, Redeemed::Full);
    assert!(store.revoke_grant("p0").await.expect("revoke").is_some());
    assert_eq!(
        make(101, 10_000_000, 1).await,
        Redeemed::Issued { evicted: vec![] }
    );
    assert_eq!(make(102, 10_000_000, 1).await, Redeemed::Full);
    // p3's keys expire in Redis: its place is free once they are gone.
    let freed = eventually(Duration::from_secs(5), || async {
        make(103, 10_000_000, 1).await == Redeemed::Issued { evicted: vec![] }
    })
    .await;
    assert!(freed, "an expired token holds no place");
    for n in (1..max).filter(|n| *n != 3) {
        let mut access = [7u8; 32];
        access[..2].copy_from_slice(&n.to_be_bytes());
        assert!(
            store.access(access, 2).await.expect("access").is_some(),
            "p{n} still stands"
        );
    }
}
