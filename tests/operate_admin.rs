//! The real binary's admin listener: metrics, health and a JSON audit trail without secrets,
//! and operators listing and revoking sessions through the admin API and the CLI.

use std::process::Command;

use serde_json::Value;

use crate::common::{client, free_port, sign_in_at, ALICE_KEY_HEX};

use crate::operate::{alice, upstream_roles, Binary};

#[tokio::test]
async fn metrics_health_and_a_json_audit_trail_without_secrets() {
    let admin = free_port();
    let tables = format!("\n[admin]\nlisten = \"127.0.0.1:{admin}\"\n\n[log]\nformat = \"json\"\n");
    let gw = Binary::start(&tables, &alice("\"staff\"")).await;
    crate::common::admin_up(admin).await;
    let (b, token) = sign_in_at(&gw.base).await;
    assert_eq!(upstream_roles(&b, &gw.base).await.as_deref(), Some("staff"));
    let out = b
        .post(format!("{}/.qrgate/logout", gw.base))
        .header("origin", &gw.base)
        .header("accept", "application/json")
        .send()
        .await
        .expect("logout");
    assert_eq!(out.status(), 200);

    let c = client();
    let admin_url = |p: &str| format!("http://127.0.0.1:{admin}{p}");
    for p in ["/healthz", "/readyz"] {
        let r = c.get(admin_url(p)).send().await.expect("admin");
        assert_eq!(r.status(), 200, "{p}");
    }
    let metrics = c
        .get(admin_url("/metrics"))
        .send()
        .await
        .expect("metrics")
        .text()
        .await
        .expect("text");
    for needle in [
        "qrgate_logins_total{app=\"a\",event=\"created\",protocol=\"any\"} 1",
        "qrgate_logins_total{app=\"a\",event=\"approved\",protocol=\"native\"} 1",
        "qrgate_logins_total{app=\"a\",event=\"claimed\",protocol=\"any\"} 1",
        "qrgate_requests_total{app=\"a\",class=\"2xx\",decision=\"forwarded\"} 1",
        "qrgate_upstream_seconds_count{app=\"a\"} 1",
        "qrgate_sessions 0",
        "qrgate_build_info",
        "qrgate_config_last_success_seconds",
    ] {
        assert!(metrics.contains(needle), "{needle} in\n{metrics}");
    }
    assert!(!metrics.contains("alice"), "no user names in metrics");
    // Not on the app's origin: there /metrics is just a protected path.
    let on_app = c
        .get(format!("{}/metrics", gw.base))
        .header("accept", "application/json")
        .send()
        .await
        .expect("app");
    assert_eq!(on_app.status(), 401);

    // The audit trail: JSON lines with the facts, never the token.
    let log = gw.log();
    let events: Vec<Value> = log
        .lines()
        .filter_map(|l| serde_json::from_str::<Value>(l).ok())
        .filter(|v| v["target"] == "audit")
        .collect();
    let find = |name: &str| {
        events
            .iter()
            .find(|e| e["event"] == name)
            .unwrap_or_else(|| panic!("no {name} event in {log}"))
            .clone()
    };
    let approved = find("approved");
    assert_eq!(approved["protocol"], "native");
    assert_eq!(approved["user"], "alice");
    assert_eq!(approved["client_ip"], "127.0.0.1");
    assert!(approved["attempt"]
        .as_str()
        .is_some_and(|a| a.starts_with("sess_")));
    let login = find("login");
    assert_eq!(login["app"], "a");
    assert!(login["browser"].as_str().is_some());
    assert_eq!(login["key"], approved["key"]);
    assert_eq!(find("logout")["key"], approved["key"]);
    assert!(
        !log.contains(&token),
        "the session token never reaches the log"
    );
}

#[tokio::test]
async fn operators_list_and_revoke_sessions_through_the_admin_api_and_the_cli() {
    let admin = free_port();
    let gw = Binary::start(
        "",
        &format!(
            "{}\n[admin]\nlisten = \"127.0.0.1:{admin}\"\ntoken_file = \"admin.token\"\n",
            alice("\"staff\"")
        ),
    )
    .await;
    crate::common::write_private(&gw.dir.path().join("admin.token"), "s3cret-admin-token\n");
    crate::common::admin_up(admin).await;
    let (b1, t1) = sign_in_at(&gw.base).await;
    let (b2, t2) = sign_in_at(&gw.base).await;
    let api = format!("http://127.0.0.1:{admin}/sessions");
    let c = client();

    for auth in [None, Some("Bearer wrong"), Some("s3cret-admin-token")] {
        let mut req = c.get(&api);
        if let Some(a) = auth {
            req = req.header("authorization", a);
        }
        let r = req.send().await.expect("answer");
        assert_eq!(r.status(), 401, "{auth:?}");
        assert_eq!(r.headers()["www-authenticate"], "Bearer");
    }
    let bearer = "Bearer s3cret-admin-token";
    let bad = c
        .get(format!("{api}?usr=alice"))
        .header("authorization", bearer)
        .send()
        .await
        .expect("answer");
    assert_eq!(bad.status(), 400);

    let listed = c
        .get(format!("{api}?user=alice"))
        .header("authorization", bearer)
        .send()
        .await
        .expect("list");
    assert_eq!(listed.status(), 200);
    let text = listed.text().await.expect("body");
    assert!(
        !text.contains(&t1) && !text.contains(&t2),
        "no token in a list"
    );
    let body: Value = serde_json::from_str(&text).expect("json");
    let sessions = body["sessions"].as_array().expect("sessions");
    assert_eq!(sessions.len(), 2, "{text}");
    for s in sessions {
        assert_eq!(s["user"], "alice");
        assert_eq!(s["app"], "a");
        assert_eq!(s["protocol"], "native");
        assert_eq!(s["client_ip"], "127.0.0.1");
        assert!(s["browser"].as_str().is_some_and(|b| !b.is_empty()), "{s}");
    }

    // The CLI reads the same config: where the API is and the token.
    let cli = |args: &[&str]| {
        let out = Command::new(env!("CARGO_BIN_EXE_qrgate"))
            .arg("sessions")
            .arg("--config")
            .arg(gw.config_path())
            .args(args)
            .output()
            .expect("qrgate sessions");
        (
            out.status.success(),
            format!(
                "{}{}",
                String::from_utf8_lossy(&out.stdout),
                String::from_utf8_lossy(&out.stderr)
            ),
        )
    };
    let (ok, out) = cli(&["list", "--user", "alice"]);
    assert!(ok && out.starts_with("2 session(s)"), "{out}");
    let (ok, out) = cli(&["revoke"]);
    assert!(!ok && out.contains("say which sessions"), "{out}");

    // b1's session by id: b1 is out, b2 still in.
    let session_of = |token: &str| {
        use sha2::Digest;
        hex::encode(&sha2::Sha256::digest(token.as_bytes())[..12])
    };
    let (ok, out) = cli(&["revoke", "--id", &session_of(&t1)]);
    assert!(ok && out.contains("revoked 1 session(s)"), "{out}");
    assert_eq!(upstream_roles(&b1, &gw.base).await, None, "revoked by id");
    assert_eq!(
        upstream_roles(&b2, &gw.base).await.as_deref(),
        Some("staff")
    );

    // Everything of a key (the lost phone), through the API.
    let none = c
        .post(format!("{api}/revoke"))
        .header("authorization", bearer)
        .send()
        .await
        .expect("answer");
    assert_eq!(none.status(), 400, "never everything by accident");
    let key = z32::encode(&hex::decode(ALICE_KEY_HEX).expect("hex"));
    let revoked = revoke(&c, format!("{api}/revoke?key={key}"), bearer).await;
    assert_eq!(revoked["revoked"], 1);
    assert_eq!(upstream_roles(&b2, &gw.base).await, None, "revoked by key");
    let log = gw.log();
    assert_eq!(log.matches("session_revoked").count(), 2, "{log}");
    assert!(log.contains("by=\"operator\""), "{log}");
}

/// The answer to an admin revocation `url` (POST, authorized by `bearer`).
async fn revoke(c: &reqwest::Client, url: String, bearer: &str) -> Value {
    c.post(url)
        .header("authorization", bearer)
        .send()
        .await
        .expect("revoke")
        .json()
        .await
        .expect("json")
}

/// The ids of the sessions an admin call lists, sorted.
async fn listed_ids(c: &reqwest::Client, url: String, bearer: &str) -> Vec<String> {
    let body: Value = c
        .get(url)
        .header("authorization", bearer)
        .send()
        .await
        .expect("list")
        .json()
        .await
        .expect("json");
    let mut ids: Vec<String> = body["sessions"]
        .as_array()
        .expect("sessions")
        .iter()
        .filter_map(|s| s["id"].as_str().map(str::to_string))
        .collect();
    ids.sort();
    ids
}

#[tokio::test]
async fn a_user_filter_covers_every_key_of_that_user_and_nobody_elses() {
    use crate::common::{alice_key, browser, sign_in_key};
    use qrgate::cli::signer::{self, Key};
    let admin = free_port();
    let bob = Key::generate();
    let gw = Binary::start(
        "",
        &format!(
            "{}\n[[user]]\nname = \"bob\"\nkey = \"{}\"\nroles = [\"staff\"]\n\n[admin]\nlisten = \"127.0.0.1:{admin}\"\ntoken_file = \"admin.token\"\n",
            alice("\"staff\""),
            bob.public().to_z32()
        ),
    )
    .await;
    crate::common::write_private(&gw.dir.path().join("admin.token"), "s3cret\n");
    crate::common::admin_up(admin).await;
    let (api, bearer, c) = (
        format!("http://127.0.0.1:{admin}"),
        "Bearer s3cret",
        client(),
    );
    // alice's phone from the config, and a device enrolled for her.
    let invited: Value = c
        .post(format!("{api}/invites?user=alice"))
        .header("authorization", bearer)
        .send()
        .await
        .expect("invite")
        .json()
        .await
        .expect("json");
    let device = Key::generate();
    signer::enroll(&c, invited["link"].as_str().expect("link"), &device)
        .await
        .expect("enrolled");
    let id_of = |token: &str| {
        use sha2::Digest;
        hex::encode(&sha2::Sha256::digest(token.as_bytes())[..12])
    };
    let mut hers = Vec::new();
    let mut browsers = Vec::new();
    for key in [&alice_key(), &alice_key(), &device] {
        let (b, token) = sign_in_key(&gw.base, browser(), client(), key).await;
        hers.push(id_of(&token));
        browsers.push(b);
    }
    hers.sort();
    let (bob_browser, bob_token) = sign_in_key(&gw.base, browser(), client(), &bob).await;
    let his = vec![id_of(&bob_token)];

    let list = |query: &str| listed_ids(&c, format!("{api}/sessions?{query}"), bearer);
    assert_eq!(
        list("user=alice").await,
        hers,
        "both her keys, nothing else"
    );
    assert_eq!(list("user=alice&app=a").await, hers);
    assert_eq!(list("user=bob").await, his);
    let device_z = device.public().to_z32();
    assert_eq!(list(&format!("key={device_z}")).await.len(), 1);
    assert!(list(&format!("user=bob&key={device_z}")).await.is_empty());
    assert!(list("user=mallory").await.is_empty());

    let revoked = revoke(&c, format!("{api}/sessions/revoke?user=alice"), bearer).await;
    assert_eq!(revoked["revoked"], 3, "{revoked}");
    for b in &browsers {
        assert_eq!(upstream_roles(b, &gw.base).await, None, "hers all ended");
    }
    assert!(upstream_roles(&bob_browser, &gw.base).await.is_some());
    assert_eq!(list("").await, his, "only bob's is left");
}
