use super::*;

const CONFIG: &str = r#"
[[app]]
name = "Wiki"
origin = "https://wiki.example.com"
upstream = "127.0.0.1:3000"
programs = true

[[app]]
name = "Mail"
origin = "https://mail.example.com"
upstream = "127.0.0.1:3000"

[[user]]
name = "alice"
key = "ed25519_17956be6b8d4af0841d05ee4099a2f6f19a11a733b059f13998b6eff4b2d5660"

[sso]
origin = "https://id.example.com"
name = "Example"
"#;

fn config() -> Config {
    Config::parse(CONFIG, std::path::Path::new("test.toml")).expect("config")
}

fn request(expires_ms: u64) -> DeviceRequest {
    DeviceRequest {
        client_id: "qrgate-cli".into(),
        scope: vec!["app:Wiki".into()],
        client_ip: "192.0.2.7".into(),
        expires_ms,
        interval_ms: 5_000,
    }
}

fn approval() -> DeviceApproval {
    DeviceApproval {
        user: "alice".into(),
        subject: "alice".into(),
        key: "00".repeat(32),
        auth_time: 1,
    }
}

#[test]
fn user_codes_are_eight_unambiguous_characters_read_in_any_case_with_or_without_the_dash() {
    for _ in 0..200 {
        let code = new_user_code();
        assert_eq!(code.len(), USER_CODE_LEN);
        assert!(
            code.bytes().all(|b| USER_CODE_ALPHABET.contains(&b)),
            "{code}"
        );
        let shown = shown_user_code(&code);
        assert_eq!(shown.len(), 9);
        assert_eq!(normalize_user_code(&shown).as_deref(), Some(code.as_str()));
        assert_eq!(
            normalize_user_code(&shown.to_ascii_lowercase()).as_deref(),
            Some(code.as_str())
        );
    }
    assert_eq!(
        normalize_user_code(" bcdf - ghjk ").as_deref(),
        Some("BCDFGHJK")
    );
    for bad in [
        "",
        "BCDF-GHJ",
        "BCDF-GHJKL",
        "ABCD-EFGH",
        "BCDF-GHJ0",
        "BCDF_GHJK",
        "ВCDFGHJK",
    ] {
        assert_eq!(normalize_user_code(bad), None, "{bad:?}");
    }
    assert_ne!(new_user_code(), new_user_code());
}

#[test]
fn a_program_asks_for_apps_that_let_programs_in_and_the_clients_scopes_only() {
    let config = config();
    let cli = config.oidc_client("qrgate-cli").expect("built-in client");
    let ok = |s: &str| requested_scope(&config, cli, Some(s));
    assert_eq!(
        ok("app:Wiki:read offline_access app:Wiki:read").expect("scope"),
        vec!["app:Wiki:read".to_string(), "offline_access".into()]
    );
    assert!(ok("openid profile").is_ok());
    assert!(ok("app:Mail").is_err(), "Mail does not let programs in");
    assert!(ok("app:Nowhere").is_err());
    assert!(ok("app:").is_err());
    assert!(ok("admin").is_err());
    assert!(ok("").is_err());
    assert!(requested_scope(&config, cli, None).is_err());
    assert_eq!(
        AppScope::parse("app:Wiki:read"),
        Some(AppScope {
            app: "Wiki".into(),
            read_only: true,
            prefix: None,
        })
    );
    for (name, ro) in [("Test app", false), ("x:read", true), ("Ünï", false)] {
        let token = AppScope::token(name, ro, None);
        assert!(!token.contains(' '), "{token}");
        assert_eq!(
            AppScope::parse(&token),
            Some(AppScope {
                app: name.into(),
                read_only: ro,
                prefix: None,
            })
        );
    }
}

#[test]
fn only_clients_the_operator_lets_use_the_device_grant_hold_app_scopes() {
    let with = |extra: &str| {
        let text = format!(
            "{CONFIG}\n[[oidc_client]]\nid = \"portal\"\npublic = true\n\
             redirect_uris = [\"https://portal.example.com/cb\"]\n{extra}\n\
             [[oidc_client]]\nid = \"rp\"\nsecret_hash = \"{}\"\n\
             redirect_uris = [\"https://rp.example.com/cb\"]\n",
            "ab".repeat(32)
        );
        Config::parse(&text, std::path::Path::new("t.toml")).expect("config")
    };
    let config = with("");
    let cli = config.oidc_client("qrgate-cli").expect("built-in client");
    assert!(cli.device, "the built-in client has the device grant");
    for id in ["portal", "rp"] {
        let c = config.oidc_client(id).expect("client");
        assert!(!c.device, "{id}: off unless the operator says so");
        assert!(!scope_allowed(&config, c, "app:Wiki"), "{id}");
        assert!(!scope_allowed(&config, c, "app:Wiki:read"), "{id}");
        assert!(scope_allowed(&config, c, "openid"), "{id}");
        assert!(
            requested_scope(&config, c, Some("app:Wiki")).is_err(),
            "{id}"
        );
    }
    let config = with("device = true");
    let portal = config.oidc_client("portal").expect("client");
    assert!(portal.device);
    assert!(scope_allowed(&config, portal, "app:Wiki"));
    assert!(!scope_allowed(&config, portal, "app:Mail"), "no programs");
    let rp = config.oidc_client("rp").expect("client");
    assert!(
        !scope_allowed(&config, rp, "app:Wiki"),
        "only the client named"
    );
    let bad = format!("{CONFIG}\n[[oidc_client]]\nid = \"x\"\npublic = true\ndevice = \"yes\"\nredirect_uris = [\"https://x.example.com/cb\"]\n");
    assert!(Config::parse(&bad, std::path::Path::new("t.toml")).is_err());
}

#[test]
fn without_sso_or_with_cli_off_there_is_no_built_in_client() {
    let off = format!("{CONFIG}\n[programs]\ncli = false\n");
    let config = Config::parse(&off, std::path::Path::new("t.toml")).expect("config");
    assert!(config.oidc_client("qrgate-cli").is_none());
    let clash = format!(
        "{CONFIG}\n[[oidc_client]]\nid = \"qrgate-cli\"\npublic = true\nredirect_uris = [\"https://a.example.com/cb\"]\n"
    );
    assert!(Config::parse(&clash, std::path::Path::new("t.toml")).is_err());
    let bad = format!("{CONFIG}\n[programs]\npoll_interval_seconds = 0\n");
    assert!(Config::parse(&bad, std::path::Path::new("t.toml")).is_err());
}

#[tokio::test]
async fn a_poll_is_pending_then_slowed_down_then_handed_the_approval_once() {
    let store = MemoryDeviceCodes::default();
    let (device, user) = ([1; 32], [2; 32]);
    assert!(store
        .put(device, user, request(600_000), 0)
        .await
        .expect("put"));
    assert!(
        !store
            .put([3; 32], user, request(600_000), 0)
            .await
            .expect("put"),
        "a user code in use is not given twice"
    );
    assert_eq!(
        store.poll(device, "qrgate-cli", 1_000).await,
        Ok(Poll::Pending)
    );
    assert_eq!(
        store.poll(device, "qrgate-cli", 2_000).await,
        Ok(Poll::SlowDown)
    );
    // The interval is 10 s now: 9 s after the last poll is still too soon.
    assert_eq!(
        store.poll(device, "qrgate-cli", 11_000).await,
        Ok(Poll::SlowDown)
    );
    assert_eq!(
        store.poll(device, "qrgate-cli", 26_000).await,
        Ok(Poll::Pending)
    );
    assert_eq!(store.poll(device, "other", 60_000).await, Ok(Poll::Unknown));
    let found = store.pending(user, 30_000).await.expect("pending");
    assert_eq!(found.map(|(d, _)| d), Some(device));
    assert!(store
        .decide(device, Some(approval()), 30_000)
        .await
        .expect("decide"));
    assert!(
        !store.decide(device, None, 30_000).await.expect("decide"),
        "decided once"
    );
    assert_eq!(store.pending(user, 30_000).await, Ok(None));
    match store.poll(device, "qrgate-cli", 60_000).await {
        Ok(Poll::Approved(r, a)) => {
            assert_eq!(r.scope, vec!["app:Wiki".to_string()]);
            assert_eq!(a, approval());
        }
        other => panic!("{other:?}"),
    }
    assert_eq!(
        store.poll(device, "qrgate-cli", 90_000).await,
        Ok(Poll::Unknown)
    );
}

#[tokio::test]
async fn a_denial_is_told_once_and_an_expired_code_decides_nothing() {
    let store = MemoryDeviceCodes::default();
    assert!(store
        .put([1; 32], [2; 32], request(10_000), 0)
        .await
        .expect("put"));
    assert!(store.decide([1; 32], None, 1_000).await.expect("decide"));
    assert_eq!(
        store.poll([1; 32], "qrgate-cli", 2_000).await,
        Ok(Poll::Denied)
    );
    assert_eq!(
        store.poll([1; 32], "qrgate-cli", 9_000).await,
        Ok(Poll::Unknown)
    );

    assert!(store
        .put([3; 32], [4; 32], request(10_000), 0)
        .await
        .expect("put"));
    assert_eq!(store.pending([4; 32], 10_000).await, Ok(None));
    assert!(!store
        .decide([3; 32], Some(approval()), 10_000)
        .await
        .expect("decide"));
    assert_eq!(
        store.poll([3; 32], "qrgate-cli", 10_000).await,
        Ok(Poll::Expired)
    );
    assert_eq!(
        store.poll([3; 32], "qrgate-cli", 20_000).await,
        Ok(Poll::Expired)
    );
    assert_eq!(store.sweep(10_000 + KEEP_EXPIRED_MS - 1).await, 0);
    assert_eq!(store.sweep(10_000 + KEEP_EXPIRED_MS).await, 1);
    assert_eq!(
        store.poll([3; 32], "qrgate-cli", 20_000).await,
        Ok(Poll::Unknown)
    );
}

#[test]
fn waiting_device_codes_are_bounded_per_client_and_in_all() {
    let issued = Issued::default();
    let a: std::net::IpAddr = "192.0.2.1".parse().expect("ip");
    let b: std::net::IpAddr = "2001:db8::1".parse().expect("ip");
    // What the caller passes: the client as the rate limits key it (an IPv6 /64).
    let b_same_64 = b;
    assert!(issued.admit(Some(a), 0, 100, 2, 4));
    assert!(issued.admit(Some(a), 0, 100, 2, 4));
    assert!(!issued.admit(Some(a), 0, 100, 2, 4), "per client");
    assert!(issued.admit(Some(b), 0, 100, 2, 4));
    assert!(issued.admit(Some(b_same_64), 0, 100, 2, 4));
    assert!(!issued.admit(None, 0, 100, 2, 4), "in all");
    // Once the first ones expire, room again.
    assert!(issued.admit(Some(a), 100, 200, 2, 4));
}

#[test]
fn a_grant_stands_only_while_each_app_it_names_is_the_app_it_was_granted_on() {
    let c = config();
    let scope = |s: &[&str]| s.iter().map(|x| x.to_string()).collect::<Vec<_>>();
    let wiki = scope(&["app:Wiki:read", "offline_access"]);
    let origins = app_origins(&c, &wiki);
    assert_eq!(origins, ["https://wiki.example.com Wiki"]);
    assert!(apps_stand(&c, &wiki, &origins));
    // A scope naming no app stands on nothing but its client.
    assert!(apps_stand(&c, &scope(&["openid"]), &[]));
    // Recorded nowhere (or elsewhere): fails closed.
    assert!(!apps_stand(&c, &wiki, &[]));
    assert!(!apps_stand(
        &c,
        &wiki,
        &["https://other.example.com".into()]
    ));
    // Programs withdrawn, the name gone, the name moved to another origin.
    let with = |from: &str, to: &str| {
        let text = CONFIG.replacen(from, to, 1);
        assert_ne!(text, CONFIG);
        Config::parse(&text, std::path::Path::new("test.toml")).expect("config")
    };
    for changed in [
        with("programs = true", "programs = false"),
        with("name = \"Wiki\"", "name = \"Wiki 2\""),
        with("https://wiki.example.com", "https://wiki2.example.com"),
    ] {
        assert!(!apps_stand(&changed, &wiki, &origins));
    }
    // Every app it names: one withdrawn ends a grant naming two.
    let both = scope(&["app:Wiki", "app:Mail"]);
    let mail_too = with(
        "origin = \"https://mail.example.com\"\nupstream = \"127.0.0.1:3000\"",
        "origin = \"https://mail.example.com\"\nupstream = \"127.0.0.1:3000\"\nprograms = true",
    );
    let origins = app_origins(&mail_too, &both);
    assert!(apps_stand(&mail_too, &both, &origins));
    assert!(!apps_stand(&c, &both, &origins));
    // Two apps of one grant trading names: neither is the app it was granted on.
    let text = CONFIG
        .replacen("name = \"Wiki\"", "name = \"TMP\"", 1)
        .replacen("name = \"Mail\"", "name = \"Wiki\"", 1)
        .replacen("name = \"TMP\"", "name = \"Mail\"", 1)
        .replacen(
            "origin = \"https://mail.example.com\"\nupstream = \"127.0.0.1:3000\"",
            "origin = \"https://mail.example.com\"\nupstream = \"127.0.0.1:3000\"\nprograms = true",
            1,
        );
    let swapped = Config::parse(&text, std::path::Path::new("test.toml")).expect("config");
    assert!(apps_stand(&mail_too, &both, &origins));
    assert!(!apps_stand(&swapped, &both, &origins));
}

#[test]
fn a_personal_tokens_life_is_held_to_the_bound_in_force() {
    let day = 86_400_000;
    let mut p = crate::config::ProgramsConfig::default();
    assert!(p.allows_personal_life(90 * day));
    assert!(!p.allows_personal_life(90 * day + 1));
    assert!(!p.allows_personal_life(crate::config::NEVER_MS));
    p.personal_token_never = true;
    assert!(p.allows_personal_life(crate::config::NEVER_MS));
    assert!(!p.allows_personal_life(u64::MAX));
    p.personal_token_max_days = 7;
    assert!(
        p.allows_personal_life(8 * day),
        "never allows any life up to a hundred years"
    );
    p.personal_token_never = false;
    assert!(!p.allows_personal_life(8 * day));
    assert!(p.allows_personal_life(7 * day));
}
