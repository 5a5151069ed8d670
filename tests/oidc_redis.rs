//! The OpenID Connect provider on several instances sharing one real Redis: what one instance
//! issues, another redeems; a refresh token rotated at one is reuse at the other; each grant
//! that ends is told to its client by back-channel once, by the instance that ended it.

use serde_json::Value;

use crate::common::{alice_key, NAV};
use crate::redis_common::{instance, phone_via, Redis};

/// The SSO origin both instances serve (reached through each instance as a proxy).
const SSO: &str = "http://localhost:1";
const SECRET: &str = "shared-client-secret-0123456789";
const REDIRECT: &str = "https://app.example/callback";

/// A browser that reaches the SSO origin through instance `base`, keeping cookies.
fn browser_via(base: &str, jar: &std::sync::Arc<reqwest::cookie::Jar>) -> reqwest::Client {
    reqwest::Client::builder()
        .cookie_provider(jar.clone())
        .proxy(reqwest::Proxy::http(base).expect("proxy"))
        .redirect(reqwest::redirect::Policy::none())
        .timeout(std::time::Duration::from_secs(10))
        .build()
        .expect("client")
}

async fn token(base: &str, form: &[(&str, &str)]) -> (u16, Value) {
    let resp = phone_via(base)
        .post(format!("{SSO}/.qrgate/oidc/token"))
        .basic_auth("app", Some(SECRET))
        .form(form)
        .send()
        .await
        .expect("token");
    let status = resp.status().as_u16();
    (status, resp.json().await.unwrap_or(Value::Null))
}

#[tokio::test]
async fn a_code_issued_at_one_instance_is_redeemed_at_another_and_refresh_reuse_is_seen_everywhere()
{
    let redis = Redis::start().await;
    let receiver = crate::oidc_backchannel::Receiver::start(200).await;
    let shared = tempfile::tempdir().expect("dir");
    let hash = hex::encode(<sha2::Sha256 as sha2::Digest>::digest(SECRET.as_bytes()));
    // Both instances publish the same keys: one key file, as a shared volume would give them.
    let sso = format!(
        "[sso]\norigin = \"{SSO}\"\nname = \"Example\"\nkey_file = \"{}\"\n\n[[oidc_client]]\nid = \"app\"\nsecret_hash = \"{hash}\"\nredirect_uris = [\"{REDIRECT}\"]\nbackchannel_logout_uri = \"{}\"\n",
        shared.path().join("oidc-keys.json").display(),
        receiver.uri(),
    );
    let (a, _) = instance(&redis, &sso).await;
    let (b, _) = instance(&redis, &sso).await;

    // Sign in on the SSO origin through A.
    let jar = std::sync::Arc::new(reqwest::cookie::Jar::default());
    let browser = browser_via(&a.base, &jar);
    let html = browser
        .get(format!("{SSO}/.qrgate/login?rd=%2F"))
        .header("accept", NAV)
        .send()
        .await
        .expect("login page")
        .text()
        .await
        .expect("html");
    let marker = "data-attempt=\"";
    let start = html.find(marker).expect("attempt id") + marker.len();
    let id = html[start..].split('"').next().expect("id").to_string();
    let url = url::Url::parse(&format!("{SSO}/.qrgate/auth/session/{id}")).expect("url");
    let phone = phone_via(&a.base);
    let req = qrgate::cli::signer::scan(&phone, &url).await.expect("scan");
    qrgate::cli::signer::approve(&phone, &url, &alice_key(), &req)
        .await
        .expect("approve");
    let claimed = browser
        .post(format!("{SSO}/.qrgate/auth/session/{id}/claim"))
        .header("origin", SSO)
        .header("accept", "application/json")
        .send()
        .await
        .expect("claim");
    assert_eq!(claimed.status(), 200);

    // A code from A, redeemed at B.
    let authorize = format!(
        "{SSO}/.qrgate/oidc/authorize?response_type=code&client_id=app&redirect_uri={}&scope=openid%20offline_access&state=s",
        url::form_urlencoded::byte_serialize(REDIRECT.as_bytes()).collect::<String>()
    );
    let resp = browser
        .get(&authorize)
        .header("accept", NAV)
        .send()
        .await
        .expect("authorize");
    assert_eq!(resp.status(), 302);
    let location = resp.headers()["location"]
        .to_str()
        .expect("location")
        .to_string();
    let code: String = url::Url::parse(&location)
        .expect("url")
        .query_pairs()
        .find(|(k, _)| k == "code")
        .map(|(_, v)| v.into_owned())
        .expect("code");
    let redeem = [
        ("grant_type", "authorization_code"),
        ("code", code.as_str()),
        ("redirect_uri", REDIRECT),
    ];
    let (status, first) = token(&b.base, &redeem).await;
    assert_eq!(status, 200, "{first}");
    let (status, again) = token(&a.base, &redeem).await;
    assert_eq!(
        (status, again["error"].as_str()),
        (400, Some("invalid_grant")),
        "used once, anywhere"
    );
    let info = phone_via(&a.base)
        .get(format!("{SSO}/.qrgate/oidc/userinfo"))
        .bearer_auth(first["access_token"].as_str().expect("access"))
        .send()
        .await
        .expect("userinfo");
    assert_eq!(
        info.status(),
        401,
        "the replayed code revoked the grant on every instance"
    );
    let first_sid = sid_of(&first);
    let told = logout_claims(&receiver.nth(1).await);
    assert_eq!(
        (told["sid"].as_str(), told["aud"].as_str()),
        (Some(first_sid.as_str()), Some("app"))
    );

    // A fresh grant: rotated at A, the old refresh token at B is reuse, and the family ends.
    let resp = browser
        .get(&authorize)
        .header("accept", NAV)
        .send()
        .await
        .expect("authorize");
    let location = resp.headers()["location"]
        .to_str()
        .expect("location")
        .to_string();
    let code: String = url::Url::parse(&location)
        .expect("url")
        .query_pairs()
        .find(|(k, _)| k == "code")
        .map(|(_, v)| v.into_owned())
        .expect("code");
    let redeem = [
        ("grant_type", "authorization_code"),
        ("code", code.as_str()),
        ("redirect_uri", REDIRECT),
    ];
    let (status, grant) = token(&b.base, &redeem).await;
    assert_eq!(status, 200, "{grant}");
    let r1 = grant["refresh_token"]
        .as_str()
        .expect("refresh")
        .to_string();
    let (status, rotated) = token(
        &a.base,
        &[("grant_type", "refresh_token"), ("refresh_token", &r1)],
    )
    .await;
    assert_eq!(status, 200, "{rotated}");
    let r2 = rotated["refresh_token"]
        .as_str()
        .expect("refresh")
        .to_string();
    assert_ne!(r1, r2);
    let (status, reuse) = token(
        &b.base,
        &[("grant_type", "refresh_token"), ("refresh_token", &r1)],
    )
    .await;
    assert_eq!(
        (status, reuse["error"].as_str()),
        (400, Some("invalid_grant"))
    );
    let (status, after) = token(
        &a.base,
        &[("grant_type", "refresh_token"), ("refresh_token", &r2)],
    )
    .await;
    assert_eq!(
        (status, after["error"].as_str()),
        (400, Some("invalid_grant")),
        "the family is revoked"
    );
    let told = logout_claims(&receiver.nth(2).await);
    assert_eq!(told["sid"].as_str(), Some(sid_of(&grant).as_str()));
    // Both grants ended at one instance each: each told once, not once per instance.
    assert_eq!(receiver.hits.load(std::sync::atomic::Ordering::SeqCst), 2);

    // A refused refresh changes nothing anywhere; a narrower one is honoured.
    let (status, grant) = token(
        &b.base,
        &[
            ("grant_type", "authorization_code"),
            ("code", &code_from(&browser, &authorize).await),
            ("redirect_uri", REDIRECT),
        ],
    )
    .await;
    assert_eq!(status, 200, "{grant}");
    let r1 = grant["refresh_token"]
        .as_str()
        .expect("refresh")
        .to_string();
    let (status, wide) = token(
        &a.base,
        &[
            ("grant_type", "refresh_token"),
            ("refresh_token", &r1),
            ("scope", "openid email"),
        ],
    )
    .await;
    assert_eq!(
        (status, wide["error"].as_str()),
        (400, Some("invalid_scope"))
    );
    let (status, narrow) = token(
        &b.base,
        &[
            ("grant_type", "refresh_token"),
            ("refresh_token", &r1),
            ("scope", "openid"),
        ],
    )
    .await;
    assert_eq!(status, 200, "{narrow}");
    assert_eq!(narrow["scope"], "openid");
    let r2 = narrow["refresh_token"]
        .as_str()
        .expect("refresh")
        .to_string();

    // Signing out of the SSO origin at B ends the sign-on everywhere: its grant, and a code
    // minted at A before the sign-out.
    let pending = code_from(&browser, &authorize).await;
    let out = browser_via(&b.base, &jar)
        .post(format!("{SSO}/.qrgate/logout"))
        .header("origin", SSO)
        .send()
        .await
        .expect("logout");
    assert!(
        out.status().is_success() || out.status().is_redirection(),
        "{}",
        out.status()
    );
    let (status, e) = token(
        &a.base,
        &[("grant_type", "refresh_token"), ("refresh_token", &r2)],
    )
    .await;
    assert_eq!(
        (status, e["error"].as_str()),
        (400, Some("invalid_grant")),
        "{e}"
    );
    let (status, e) = token(
        &a.base,
        &[
            ("grant_type", "authorization_code"),
            ("code", &pending),
            ("redirect_uri", REDIRECT),
        ],
    )
    .await;
    assert_eq!(
        (status, e["error"].as_str()),
        (400, Some("invalid_grant")),
        "{e}"
    );
}

/// A code through the signed-in `browser` for `authorize`.
async fn code_from(browser: &reqwest::Client, authorize: &str) -> String {
    let resp = browser
        .get(authorize)
        .header("accept", NAV)
        .send()
        .await
        .expect("authorize");
    assert_eq!(resp.status(), 302);
    let location = resp.headers()["location"]
        .to_str()
        .expect("location")
        .to_string();
    url::Url::parse(&location)
        .expect("url")
        .query_pairs()
        .find(|(k, _)| k == "code")
        .map(|(_, v)| v.into_owned())
        .expect("code")
}

/// The Redis store's own steps against a real Redis: bounds, an ended family, a replay by
/// another client, the purge after a reload.
#[tokio::test]
async fn the_redis_store_bounds_ends_families_and_ends_the_grants_a_sweep_picks() {
    use qrgate_core::oidc::store::{
        CodeGrant, Grant, Issue, OidcStore, Redeemed, Refreshed, MAX_ACCESS, MAX_GRANTS,
        MAX_RETIRED,
    };
    use serde_json::json;
    let redis = Redis::start().await;
    let link = qrgate::redis::Link::new(&qrgate_core::config::RedisConfig {
        target: qrgate_core::config::RedisTarget::Url(redis.url()),
        prefix: "o:".into(),
        connect_timeout: std::time::Duration::from_secs(5),
        timeout: std::time::Duration::from_secs(5),
        cache: std::time::Duration::ZERO,
        replicas: None,
    })
    .expect("link");
    link.connect().await.expect("connected");
    let store = qrgate::redis::oidc::RedisOidc::new(link);
    let code = |family: &str| -> CodeGrant {
        serde_json::from_value(json!({"client_id": "app", "redirect_uri": REDIRECT, "user": "alice",
            "subject": "alice", "family": family, "scope": ["openid"], "auth_time": 1, "expires_ms": 60_000}))
        .expect("code")
    };
    let grant = |id: &str, family: &str| -> Grant {
        serde_json::from_value(
            json!({"id": id, "client_id": "app", "user": "alice", "subject": "alice",
            "family": family, "scope": ["openid"], "auth_time": 1, "expires_ms": 10_000_000}),
        )
        .expect("grant")
    };
    let issue = |n: u16| {
        let mut refresh = [0u8; 32];
        refresh[..2].copy_from_slice(&n.to_be_bytes());
        let mut access = refresh;
        access[31] = 1;
        Issue {
            scope: vec!["openid".into()],
            refresh: Some(refresh),
            access,
            access_expires_ms: 5_000_000,
        }
    };
    // Bounds: many rotations keep MAX_RETIRED old tokens; the oldest are unknown, not reuse.
    store.put_code([1; 32], code("f1"), 0).await.expect("put");
    assert_eq!(
        store
            .redeem([1; 32], grant("g1", "f1"), issue(0), 1)
            .await
            .expect("redeem"),
        Redeemed::Issued { evicted: vec![] }
    );
    let mut current = issue(0).refresh.expect("r");
    for n in 1..=(MAX_RETIRED as u16 + 10) {
        let next = issue(n);
        let r = next.refresh.expect("r");
        assert!(matches!(
            store
                .refresh(current, "app", next, 2)
                .await
                .expect("refresh"),
            Refreshed::Rotated(_)
        ));
        current = r;
    }
    // Access tokens: at most MAX_ACCESS per grant, the oldest gone, the set itself bounded.
    assert!(store.access(issue(1).access, 2).await.expect("a").is_none());
    assert!(store
        .access(issue(MAX_RETIRED as u16 + 10).access, 2)
        .await
        .expect("a")
        .is_some());
    let mut raw = redis::Client::open(redis.url())
        .expect("client")
        .get_multiplexed_async_connection()
        .await
        .expect("connection");
    let kept: usize = redis::cmd("ZCARD")
        .arg("o:{oidc}:og:g1:a")
        .query_async(&mut raw)
        .await
        .expect("zcard");
    assert_eq!(kept, MAX_ACCESS);
    assert_eq!(
        store
            .refresh(issue(0).refresh.expect("r"), "app", issue(900), 3)
            .await
            .expect("r"),
        Refreshed::Unknown,
        "forgotten beyond the window"
    );
    assert!(matches!(
        store
            .refresh(issue(20).refresh.expect("r"), "app", issue(901), 3)
            .await
            .expect("r"),
        Refreshed::Reused { .. }
    ));
    // Grants per user and client: the oldest beyond MAX_GRANTS are revoked, and named so
    // their client is told.
    let mut evicted = Vec::new();
    for n in 0..(MAX_GRANTS as u16 + 3) {
        let mut c = [2u8; 32];
        c[..2].copy_from_slice(&n.to_be_bytes());
        store.put_code(c, code("f2"), 0).await.expect("put");
        let i = issue(1000 + n);
        match store
            .redeem(c, grant(&format!("h{n}"), "f2"), i, 4)
            .await
            .expect("redeem")
        {
            Redeemed::Issued { evicted: e } => evicted.extend(e.into_iter().map(|g| g.id)),
            other => panic!("{other:?}"),
        }
    }
    // g1, ended by the reuse above, no longer counts: the oldest live ones go, in order.
    assert_eq!(evicted, ["h0", "h1", "h2"]);
    // A revoked grant no longer counts: revoking three makes room for three without evicting
    // any live one.
    for n in 3..6u16 {
        assert!(store
            .revoke_grant(&format!("h{n}"))
            .await
            .expect("revoke")
            .is_some());
    }
    for n in 0..3u16 {
        let mut c = [5u8; 32];
        c[..2].copy_from_slice(&n.to_be_bytes());
        store.put_code(c, code("f2"), 0).await.expect("put");
        assert_eq!(
            store
                .redeem(c, grant(&format!("k{n}"), "f2"), issue(1500 + n), 4)
                .await
                .expect("redeem"),
            Redeemed::Issued { evicted: vec![] }
        );
    }
    assert!(
        store
            .access(issue(1000).access, 5)
            .await
            .expect("a")
            .is_none(),
        "oldest revoked"
    );
    assert!(store
        .access(issue(1000 + MAX_GRANTS as u16 + 2).access, 5)
        .await
        .expect("a")
        .is_some());
    // A replay by another client revokes nothing; ending the family ends its grants and
    // codes, and nothing of it is redeemed after.
    let mut c = [3u8; 32];
    c[0] = 9;
    assert_eq!(store.replayed(c, "other").await.expect("replayed"), None);
    store.put_code([4; 32], code("f2"), 5).await.expect("put");
    assert!(!store
        .end_family("f2", 6, 100_000)
        .await
        .expect("end")
        .is_empty());
    assert_eq!(store.code([4; 32], 7).await.expect("code"), None);
    store.put_code([5; 32], code("f2"), 7).await.expect("put");
    assert_eq!(
        store
            .redeem([5; 32], grant("late", "f2"), issue(2000), 8)
            .await
            .expect("redeem"),
        Redeemed::Unknown,
        "the family is ended"
    );
    // A sweep over every grant (a reload's review, an operator's revocation): the grants a
    // test picks end, the others stay.
    store.put_code([6; 32], code("f3"), 0).await.expect("put");
    store
        .redeem([6; 32], grant("g3", "f3"), issue(3000), 9)
        .await
        .expect("redeem");
    let nobody = |_: &Grant| false;
    assert!(store.end_where(&nobody).await.expect("end").is_empty());
    assert!(store
        .access(issue(3000).access, 10)
        .await
        .expect("a")
        .is_some());
    let g3 = |g: &Grant| g.id == "g3";
    let ended: Vec<String> = store
        .end_where(&g3)
        .await
        .expect("end")
        .into_iter()
        .map(|g| g.id)
        .collect();
    assert_eq!(ended, ["g3"]);
    // A person's or a key's grants end through the index of the user's grants.
    for (n, (id, key)) in [("u1", "aa"), ("u2", "bb")].into_iter().enumerate() {
        let mut g = grant(id, "f4");
        g.key = key.repeat(32);
        let c = [7u8 + n as u8; 32];
        store.put_code(c, code("f4"), 0).await.expect("put");
        store
            .redeem(c, g, issue(4000 + n as u16), 10)
            .await
            .expect("redeem");
    }
    let ids = |grants: Vec<Grant>| grants.into_iter().map(|g| g.id).collect::<Vec<_>>();
    let aa = "aa".repeat(32);
    assert_eq!(
        ids(store.end_of_user("alice", Some(&aa)).await.expect("end")),
        ["u1"]
    );
    assert!(store
        .end_of_user("bob", None)
        .await
        .expect("end")
        .is_empty());
    assert!(ids(store.end_of_user("alice", None).await.expect("end")).contains(&"u2".to_string()));
    assert!(
        store
            .end_of_user("alice", None)
            .await
            .expect("end")
            .is_empty(),
        "once"
    );
    assert!(store
        .access(issue(3000).access, 10)
        .await
        .expect("a")
        .is_none());
}

/// The unverified claims of a JWT (the back-channel tests verify signatures).
fn logout_claims(token: &str) -> Value {
    let payload = token.split('.').nth(1).expect("payload");
    serde_json::from_slice(
        &base64::Engine::decode(&base64::engine::general_purpose::URL_SAFE_NO_PAD, payload)
            .expect("b64"),
    )
    .expect("json")
}

fn sid_of(tokens: &Value) -> String {
    logout_claims(tokens["id_token"].as_str().expect("id token"))["sid"]
        .as_str()
        .expect("sid")
        .to_string()
}
