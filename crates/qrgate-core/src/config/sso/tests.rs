use super::*;

#[test]
fn a_sign_in_at_the_sso_origin_names_the_apps_it_opens() {
    let apps: String = ["a", "b", "c", "d", "e"]
        .iter()
        .map(|n| format!("[[app]]\nname = \"{n}\"\norigin = \"https://{n}.example.com\"\nupstream = \"127.0.0.1:3000\"\n"))
        .collect();
    let c = Config::parse(
        &format!("{apps}[[app]]\nname = \"own\"\norigin = \"https://own.example.com\"\nupstream = \"127.0.0.1:3000\"\nsso = false\n\n[sso]\norigin = \"https://id.example.com\"\nname = \"Example\"\n\n[[oidc_client]]\nid = \"rp\"\npublic = true\nredirect_uris = [\"https://rp.example/cb\"]\n"),
        std::path::Path::new("t.toml"),
    )
    .expect("config");
    let sso = c.sso.as_ref().expect("sso");
    assert_eq!(
        sso.shown_for_app[1],
        "Example (b; also opens a, c, d and 1 more)"
    );
    assert_eq!(sso.shown_for_app[5], "", "keeps its own approval");
    assert_eq!(
        c.oidc_client("rp").expect("rp").shown_as[0],
        "Example, for rp (https://rp.example); also opens a, b, c and 2 more"
    );
}

const KEY: &str = "ed25519_17956be6b8d4af0841d05ee4099a2f6f19a11a733b059f13998b6eff4b2d5660";
const HASH: &str = "1ec1c26b50d5d3c58d9583181af8076655fe00756bf7285940ba3670f99fcba0";

fn parse(extra: &str) -> Result<Config, ConfigError> {
    Config::parse(
        &format!(
            "[[app]]\nname = \"wiki\"\norigin = \"https://wiki.example.com\"\nupstream = \"127.0.0.1:3000\"\n\n[[user]]\nname = \"alice\"\nkey = \"{KEY}\"\nemail = \"alice@example.com\"\n\n{extra}"
        ),
        Path::new("t.toml"),
    )
}

const SSO: &str = "[sso]\norigin = \"https://id.example.com\"\nname = \"Example\"\n";

fn client(body: &str) -> String {
    format!("{SSO}\n[[oidc_client]]\nid = \"grafana\"\n{body}\n")
}

fn refused(text: &str, line: usize, key: &str, says: &str) {
    match parse(text) {
        Err(ConfigError::Invalid {
            line: l,
            key: k,
            message,
            ..
        }) => {
            assert_eq!((l, k.as_str()), (line, key), "{message}");
            assert!(message.contains(says), "{message}");
        }
        other => panic!("expected an error at {key}, got {other:?}"),
    }
}

#[test]
fn an_app_takes_part_only_where_there_is_an_sso_origin() {
    let text = "[[app]]\nname = \"mail\"\norigin = \"https://mail.example.com\"\nupstream = \"127.0.0.1:3001\"\nsso = true\n";
    let refused = Config::parse(text, Path::new("t.toml"));
    assert!(
        matches!(&refused, Err(ConfigError::Invalid { key, .. }) if key == "app[0].sso"),
        "{refused:?}"
    );
    let c = parse(&format!("{SSO}\n[[app]]\nname = \"mail\"\norigin = \"https://mail.example.com\"\nupstream = \"127.0.0.1:3001\"\nsso = false\n")).expect("valid");
    assert!(c.apps[0].sso, "default with [sso]");
    assert!(!c.apps[1].sso, "sso = false");
    assert_eq!(c.sso_app(), Some(AppId::new(2)), "after every [[app]]");
}

#[test]
fn without_sso_nothing_changes() {
    let c = parse("").expect("valid");
    assert!(c.sso.is_none() && c.sso_app().is_none() && c.oidc_clients.is_empty());
    assert_eq!(c.apps.len(), 1);
    assert!(!c.apps[0].sso);
    assert_eq!(c.users[0].email.as_deref(), Some("alice@example.com"));
}

#[test]
fn the_sso_origin_is_an_internal_app_after_every_app() {
    let c = parse(&client(&format!(
        "secret_hash = \"{HASH}\"\nredirect_uris = [\"https://grafana.example.com/login/generic_oauth\", \"http://127.0.0.1:9000/cb\"]"
    )))
    .expect("valid");
    let id = c.sso_app().expect("sso app");
    assert_eq!(id, AppId::new(1));
    assert_eq!(c.app_for_host("id.example.com"), Some(id));
    assert_eq!(c.app_by_name("Example"), Some(id));
    assert_eq!(c.app(id).upstream, BUILTIN_SSO);
    assert!(c.app(id).cookie_secure && !c.app(id).sso);
    assert!(c.apps[0].sso, "apps take part by default");
    let g = c.oidc_client("grafana").expect("client");
    assert_eq!(g.name, "grafana");
    assert!(!g.is_public());
    assert_eq!(g.id_token_alg, SigningAlg::Rs256);
    assert_eq!(
        g.scopes,
        ["openid", "profile", "email", "groups", "offline_access"]
    );
    assert_eq!(
        c.sso.as_ref().expect("sso").code_lifetime,
        Duration::from_secs(60)
    );
}

#[test]
fn redirect_uris_are_absolute_https_or_loopback_http_without_fragment() {
    for ok in [
        "https://a.example/cb",
        "http://127.0.0.1:8000/cb",
        "http://[::1]/cb",
        "http://localhost:1/x?y=1",
    ] {
        assert_eq!(redirect_uri_error(ok), None, "{ok}");
    }
    for bad in [
        "http://a.example/cb",
        "https://a.example/cb#x",
        "https://a.example/cb#",
        "/cb",
        "https://u:p@a.example/cb",
        "javascript:alert(1)",
    ] {
        assert!(redirect_uri_error(bad).is_some(), "{bad}");
    }
    refused(
        &client(&format!(
            "secret_hash = \"{HASH}\"\nredirect_uris = [\"http://grafana.example.com/cb\"]"
        )),
        18,
        "oidc_client[0].redirect_uris",
        "https",
    );
    refused(
        &client(&format!(
            "secret_hash = \"{HASH}\"\nredirect_uris = [\"https://g.example/cb\"]\npost_logout_redirect_uris = [\"https://g.example/#x\"]"
        )),
        19,
        "oidc_client[0].post_logout_redirect_uris",
        "fragment",
    );
}

#[test]
fn clients_are_checked_line_by_line() {
    let ok = format!("secret_hash = \"{HASH}\"\nredirect_uris = [\"https://g.example/cb\"]");
    refused(
        &format!("{}\n[[oidc_client]]\nid = \"grafana\"\npublic = true\nredirect_uris = [\"https://g.example/cb\"]\n", client(&ok)),
        21,
        "oidc_client[1].id",
        "duplicate",
    );
    refused(
        &format!("[[oidc_client]]\nid = \"x\"\n{ok}\n"),
        12,
        "oidc_client[0].id",
        "[sso]",
    );
    refused(
        &client("redirect_uris = [\"https://g.example/cb\"]"),
        16,
        "oidc_client[0].secret_hash",
        "confidential",
    );
    refused(
        &client("secret_hash = \"abc\"\nredirect_uris = [\"https://g.example/cb\"]"),
        17,
        "oidc_client[0].secret_hash",
        "SHA-256",
    );
    refused(
        &client(&format!("{ok}\nid_token_alg = \"HS256\"")),
        19,
        "oidc_client[0].id_token_alg",
        "RS256",
    );
    refused(
        &client(&format!("{ok}\nscopes = [\"admin\"]")),
        19,
        "oidc_client[0].scopes",
        "expected scopes",
    );
    refused(
        &client(&format!("{ok}\naccess_token_lifetime_seconds = 5")),
        19,
        "oidc_client[0].access_token_lifetime_seconds",
        "60 to 86400",
    );
    refused(
        &client(&format!("{ok}\nallow_users = [\"bob\"]")),
        19,
        "oidc_client[0].allow_users",
        "bob",
    );
    let c = parse(&client(
        "public = true\nredirect_uris = [\"http://127.0.0.1/cb\"]\nid_token_alg = \"EdDSA\"\nscopes = [\"email\", \"offline_access\"]",
    ))
    .expect("public client");
    let g = &c.oidc_clients[0];
    assert!(g.is_public());
    assert_eq!(g.scopes, ["openid", "email", "offline_access"]);
    assert_eq!(g.id_token_alg, SigningAlg::EdDsa);
}

#[test]
fn the_sso_origin_is_https_or_loopback_and_its_hosts_and_name_are_its_own() {
    refused(
        "[sso]\norigin = \"http://id.example.com\"\nname = \"Example\"\n",
        12,
        "sso.origin",
        "https",
    );
    assert!(parse("[sso]\norigin = \"http://127.0.0.1:8080\"\nname = \"Example\"\n").is_ok());
    refused(
        "[sso]\norigin = \"https://id.example.com\"\nhosts = [\"wiki.example.com\"]\nname = \"Example\"\n",
        13,
        "sso.hosts",
        "served by an app",
    );
    refused(
        "[sso]\norigin = \"https://id.example.com\"\nname = \"wiki\"\n",
        13,
        "sso.name",
        "[[app]]",
    );
    refused(
        "[sso]\norigin = \"https://id.example.com\"\nname = \"Example\"\nsigners = [\"nope\"]\n",
        14,
        "sso.signers[0]",
        "unknown signer",
    );
}
