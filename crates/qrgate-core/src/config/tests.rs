use super::*;

const KEY: &str = "ed25519_17956be6b8d4af0841d05ee4099a2f6f19a11a733b059f13998b6eff4b2d5660";

fn parse(text: &str) -> Result<Config, ConfigError> {
    Config::parse(text, Path::new("test.toml"))
}

fn minimal() -> String {
    format!(
        "[[app]]\nname = \"demo\"\norigin = \"http://localhost:8080\"\nupstream = \"127.0.0.1:8081\"\n\n[[user]]\nname = \"alice\"\nkey = \"{KEY}\"\n"
    )
}

#[test]
fn minimal_config_gets_defaults() {
    let c = parse(&minimal()).expect("valid");
    assert_eq!(c.server.prefix, "/.qrgate");
    assert_eq!(c.server.grace_period, Duration::from_secs(5));
    assert_eq!(c.app_for_host("localhost:8080"), Some(AppId::new(0)));
    assert_eq!(c.app_for_host("LOCALHOST:8080"), Some(AppId::new(0)));
    assert_eq!(c.app_for_host("evil:8080"), None);
    assert!(!c.apps[0].cookie_secure, "plain http origin");
    assert_eq!(c.apps[0].signers, vec![signers::DEFAULT]);
}

#[test]
fn the_store_section_is_checked_and_never_shows_a_password() {
    assert_eq!(parse(&minimal()).expect("ok").store, StoreConfig::Memory);
    let redis = parse(&format!(
        "[store]\nbackend = \"redis\"\nurl = \"redis://:hunter2@10.0.0.5:6379/0\"\n{}",
        minimal()
    ))
    .expect("ok");
    let StoreConfig::Redis(r) = redis.store else {
        panic!("redis")
    };
    assert_eq!(
        (r.prefix.as_str(), r.timeout, r.cache),
        (
            "qrgate:",
            Duration::from_millis(500),
            Duration::from_secs(2)
        )
    );
    assert!(!r.display_url().contains("hunter2"), "{}", r.display_url());
    check_error(
        &format!("[store]\nbackend = \"redis\"\n{}", minimal()),
        2,
        "store.url",
        "needs url",
    );
    check_error(
        &format!(
            "[store]\nbackend = \"redis\"\nurl = \"http://x:1\"\n{}",
            minimal()
        ),
        3,
        "store.url",
        "redis://",
    );
    check_error(
        &format!("[store]\nurl = \"redis://x:1/0\"\n{}", minimal()),
        2,
        "store.url",
        "only with",
    );
    check_error(
        &format!("[store]\nbackend = \"mongo\"\n{}", minimal()),
        2,
        "store.backend",
        "memory",
    );
    check_error(
        &format!(
            "[store]\nbackend = \"redis\"\nurl = \"redis://x:1/0\"\ntimeout_ms = 0\n{}",
            minimal()
        ),
        4,
        "store.timeout_ms",
        "milliseconds",
    );
}

#[test]
fn sentinels_name_the_primary_and_their_passwords_are_never_shown() {
    let text = format!(
        "[store]\nbackend = \"redis\"\nsentinels = [\"10.0.0.1:26379\", \"[::1]:26380\"]\nmaster_name = \"qrgate\"\npassword = \"hunter2\"\nsentinel_password = \"swordfish\"\ntls = true\nca_file = \"ca.pem\"\n{}",
        minimal()
    );
    let StoreConfig::Redis(r) = parse(&text).expect("ok").store else {
        panic!("redis")
    };
    let RedisTarget::Sentinel(s) = &r.target else {
        panic!("sentinel")
    };
    assert_eq!(
        s.sentinels,
        vec![("10.0.0.1".to_string(), 26379), ("::1".to_string(), 26380)]
    );
    assert_eq!(
        (s.master_name.as_str(), s.db, s.tls, s.password.as_deref()),
        ("qrgate", 0, true, Some("hunter2"))
    );
    let shown = r.display_url();
    assert!(
        !shown.contains("hunter2") && !shown.contains("swordfish") && shown.contains("qrgate"),
        "{shown}"
    );
    let redis = |rest: &str| format!("[store]\nbackend = \"redis\"\n{rest}\n{}", minimal());
    check_error(
        &redis("sentinels = [\"a:1\"]"),
        3,
        "store.master_name",
        "master_name",
    );
    check_error(
        &redis("sentinels = [\"a\"]\nmaster_name = \"m\""),
        3,
        "store.sentinels[0]",
        "host:port",
    );
    check_error(
        &redis("sentinels = []\nmaster_name = \"m\""),
        3,
        "store.sentinels",
        "at least one",
    );
    check_error(
        &redis("url = \"redis://x:1/0\"\nsentinels = [\"a:1\"]"),
        3,
        "store.url",
        "not two",
    );
    check_error(
        &redis("url = \"redis://x:1/0\"\npassword = \"p\""),
        4,
        "store.password",
        "only with sentinels",
    );
    check_error(
        &redis("sentinels = [\"a:1\"]\nmaster_name = \"m\"\nca_file = \"x\""),
        5,
        "store.ca_file",
        "tls = true",
    );
}

#[test]
fn replicas_to_wait_is_bounded_and_its_timeout_needs_it() {
    let redis = |rest: &str| {
        format!(
            "[store]\nbackend = \"redis\"\nurl = \"redis://x:1/0\"\n{rest}\n{}",
            minimal()
        )
    };
    let StoreConfig::Redis(r) = parse(&redis("replicas_to_wait = 2")).expect("ok").store else {
        panic!("redis")
    };
    assert_eq!(
        r.replicas,
        Some(Replicas {
            count: 2,
            timeout: Duration::from_millis(500)
        })
    );
    let StoreConfig::Redis(r) = parse(&redis("")).expect("ok").store else {
        panic!("redis")
    };
    assert_eq!(r.replicas, None, "off by default");
    check_error(
        &redis("replicas_to_wait = 65"),
        4,
        "store.replicas_to_wait",
        "0 to 64",
    );
    check_error(
        &redis("wait_timeout_ms = 100"),
        4,
        "store.wait_timeout_ms",
        "replicas_to_wait",
    );
}

#[test]
fn a_cluster_keeps_every_key_in_one_slot_through_the_prefix_hash_tag() {
    let redis = |rest: &str| format!("[store]\nbackend = \"redis\"\n{rest}\n{}", minimal());
    let StoreConfig::Redis(r) = parse(&redis(
        "cluster = [\"10.0.0.1:7000\", \"10.0.0.2:7000\"]\npassword = \"p\"",
    ))
    .expect("ok")
    .store
    else {
        panic!("redis")
    };
    assert_eq!(r.prefix, "{qrgate}:", "a hash tag by default");
    let RedisTarget::Cluster(c) = &r.target else {
        panic!("cluster")
    };
    assert_eq!((c.nodes.len(), c.password.as_deref()), (2, Some("p")));
    assert!(
        r.display_url().starts_with("cluster via 10.0.0.1:7000"),
        "{}",
        r.display_url()
    );
    check_error(
        &redis("cluster = [\"a:1\"]\nprefix = \"qrgate:\""),
        4,
        "store.prefix",
        "hash tag",
    );
    check_error(
        &redis("cluster = [\"a:1\"]\nprefix = \"{}:\""),
        4,
        "store.prefix",
        "hash tag",
    );
    check_error(
        &redis("cluster = [\"a:1\"]\nmaster_name = \"m\""),
        4,
        "store.master_name",
        "only with sentinels",
    );
    check_error(
        &redis("cluster = [\"a:1\"]\nsentinels = [\"b:2\"]"),
        4,
        "store.sentinels",
        "not two",
    );
}

#[test]
fn the_high_availability_example_parses() {
    let page = include_str!("../../../../docs/high-availability.md");
    let example = page
        .split("```toml\n")
        .nth(1)
        .and_then(|rest| rest.split("```").next())
        .expect("a toml example");
    let StoreConfig::Redis(r) = parse(&format!("{example}\n{}", minimal()))
        .expect("the example is valid")
        .store
    else {
        panic!("redis")
    };
    let RedisTarget::Sentinel(s) = r.target else {
        panic!("sentinel")
    };
    assert_eq!(
        (s.sentinels.len(), s.master_name.as_str(), s.tls),
        (3, "qrgate", true)
    );
}

fn check_error(text: &str, line: usize, key: &str, needle: &str) {
    let e = parse(text).expect_err("must be refused");
    let shown = e.to_string();
    match e {
        ConfigError::Invalid {
            line: l, key: k, ..
        } => {
            assert_eq!((l, k.as_str()), (line, key), "{shown}");
        }
        other => panic!("unexpected {other:?}"),
    }
    assert!(shown.contains(needle), "{shown}");
    assert!(shown.starts_with("test.toml:"), "{shown}");
}

#[test]
fn a_step_up_path_under_a_public_path_in_any_spelling_is_refused() {
    for step_up in ["/docs/internal", "/Docs/internal", "/docs;v=1", "/DOCS"] {
        let text = minimal().replace(
            "[[user]]",
            &format!("public_paths = [\"/docs\"]\nstep_up_paths = [\"{step_up}\"]\n[[user]]"),
        );
        let e = parse(&text).expect_err("must be refused").to_string();
        assert!(e.contains("lies under the public path \"/docs\""), "{e}");
    }
    let text = minimal().replace(
        "[[user]]",
        "public_paths = [\"/admin/login\"]\nstep_up_paths = [\"/admin\"]\n[[user]]",
    );
    assert!(
        parse(&text).is_ok(),
        "a public path inside a step-up one is the operator's"
    );
}

#[test]
fn errors_name_line_and_key() {
    check_error(
        &format!(
            "[server]\nlisten = [\"127.0.0.1:80\"]\nthreds = 2\n{}",
            minimal()
        ),
        3,
        "server.threds",
        "threds",
    );
    check_error(
        &minimal().replace("http://localhost:8080", "ftp://x"),
        3,
        "app[0].origin",
        "scheme",
    );
    check_error(
        &minimal().replace(KEY, "ed25519_zz"),
        8,
        "user[0].key",
        "hex",
    );
    let unknown_user = minimal().replace(
        "upstream = \"127.0.0.1:8081\"\n",
        "upstream = \"127.0.0.1:8081\"\nallow_users = [\"bob\"]\n",
    );
    check_error(&unknown_user, 5, "app[0].allow_users", "bob");
    check_error(
        &format!("[session]\nlifetime_seconds = \"long\"\n{}", minimal()),
        2,
        "session.lifetime_seconds",
        "expected u64",
    );
}

#[test]
fn durations_are_bounded_so_time_arithmetic_cannot_overflow() {
    check_error(
        &format!("[session]\nsweep_interval_seconds = 0\n{}", minimal()),
        2,
        "session.sweep_interval_seconds",
        "expected 1 to",
    );
    // The sweep re-reads the signing key files well within their publication delay.
    check_error(
        &format!("[session]\nsweep_interval_seconds = 3601\n{}", minimal()),
        2,
        "session.sweep_interval_seconds",
        "expected 1 to 3600 seconds",
    );
    check_error(
        &format!(
            "[session]\nlifetime_seconds = 9223372036854775807\n{}",
            minimal()
        ),
        2,
        "session.lifetime_seconds",
        "seconds",
    );
    check_error(
        &format!("[login]\nclaim_window_seconds = 0\n{}", minimal()),
        2,
        "login.claim_window_seconds",
        "expected 1 to",
    );
    check_error(
        &minimal().replace(
            "upstream = \"127.0.0.1:8081\"\n",
            "upstream = \"127.0.0.1:8081\"\nread_timeout_ms = 0\n",
        ),
        5,
        "app[0].read_timeout_ms",
        "milliseconds",
    );
    let c = parse(&format!(
        "[session]\nlifetime_seconds = {MAX_SECONDS}\n{}",
        minimal()
    ))
    .expect("the bound itself is accepted");
    assert_eq!(c.session.lifetime, Duration::from_secs(MAX_SECONDS));
}

#[test]
fn signers_are_names_from_the_registry() {
    let with = |list: &str| {
        minimal().replace(
            "upstream = \"127.0.0.1:8081\"\n",
            &format!("upstream = \"127.0.0.1:8081\"\nsigners = {list}\n"),
        )
    };
    check_error(
        &with("[\"native\", \"carrier-pigeon\"]"),
        5,
        "app[0].signers[1]",
        "unknown signer",
    );
    check_error(
        &with("[\"tana\", \"tana\"]"),
        5,
        "app[0].signers[1]",
        "listed twice",
    );
    let c = parse(&with("[\"tana\", \"pubky\", \"native\"]")).expect("valid");
    let names: Vec<&str> = c.apps[0].signers.iter().map(|s| s.name()).collect();
    assert_eq!(names, ["tana", "pubky", "native"], "file order kept");
}
