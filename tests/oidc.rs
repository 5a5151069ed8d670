//! The OpenID Connect provider on the SSO origin, through the real gateway: a certified
//! relying party library (panva's openid-client under Node, `tests/oidc/driver.mjs`) drives
//! discovery, the code flow with PKCE, ID token verification, userinfo, refresh rotation,
//! reuse detection and logout; reqwest drives the refusals. The person signs in on the SSO
//! origin with the reference signer, as in the login tests.

use std::path::PathBuf;
use std::time::Duration;

use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine;
use serde_json::{json, Value};
use sha2::Digest;

use crate::common::{browser, client, sign_in_at, Setup, TestGateway, NAV};

/// The confidential client's secret (its SHA-256 is in the config).
pub(crate) const SECRET: &str = "grafana-secret-0123456789abcdef";
pub(crate) const REDIRECT: &str = "http://127.0.0.1:9/login/generic_oauth";
pub(crate) const BYE: &str = "http://127.0.0.1:9/signed-out";
pub(crate) const PUBLIC_REDIRECT: &str = "http://127.0.0.1:9/app/callback";
/// A PKCE pair (RFC 7636 appendix B).
pub(crate) const VERIFIER: &str = "dBjftJeZ4CVP-mB92K27uhbUJU1p1r_wW1gFWFOEjXk";
pub(crate) const CHALLENGE: &str = "E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM";

/// A gateway with `[sso]` on `localhost:{port}` (the app stays on `127.0.0.1:{port}`), a
/// confidential client `grafana` and a public client `cli`, keys in a fresh folder.
pub(crate) async fn sso_gateway(extra: &str) -> (TestGateway, tempfile::TempDir) {
    let dir = tempfile::tempdir().expect("dir");
    let hash = hex::encode(sha2::Sha256::digest(SECRET.as_bytes()));
    let keys = dir.path().join("oidc-keys.json");
    let tail = format!(
        "\n[sso]\norigin = \"http://localhost:{{gateway_port}}\"\nname = \"Example Sign-in\"\nkey_file = \"{keys}\"\n{extra}\n\
         [[oidc_client]]\nid = \"grafana\"\nname = \"Grafana\"\nsecret_hash = \"{hash}\"\nredirect_uris = [\"{REDIRECT}\"]\npost_logout_redirect_uris = [\"{BYE}\"]\n\n\
         [[oidc_client]]\nid = \"cli\"\nname = \"Command line\"\npublic = true\nid_token_alg = \"ES256\"\nredirect_uris = [\"{PUBLIC_REDIRECT}\"]\n\n\
         [[oidc_client]]\nid = \"wiki\"\nsecret_hash = \"{hash}\"\nid_token_alg = \"EdDSA\"\nredirect_uris = [\"{REDIRECT}\"]\npost_logout_redirect_uris = [\"{BYE}\"]\n",
        keys = keys.display(),
    );
    let gw = TestGateway::with(Setup {
        tail,
        ..Setup::default()
    })
    .await;
    (gw, dir)
}

/// The SSO origin's base URL.
pub(crate) fn sso(gw: &TestGateway) -> String {
    format!("http://localhost:{}", gw.addr.port())
}

/// Where the installed openid-client lives (`scripts/test.sh` installs it).
fn node_prefix() -> PathBuf {
    let prefix = std::env::var_os("QRGATE_NODE_PREFIX")
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("target/oidc-node"));
    assert!(
        prefix.join("node_modules/openid-client/package.json").exists(),
        "openid-client is not installed in {}: run scripts/test.sh, or npm install --prefix {} openid-client@6",
        prefix.display(),
        prefix.display()
    );
    prefix
}

/// Runs one step of the relying party driver.
async fn rp(input: Value) -> Value {
    let prefix = node_prefix();
    let script = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/oidc/driver.mjs");
    let out = tokio::time::timeout(
        Duration::from_secs(60),
        tokio::process::Command::new("node")
            .arg("--dns-result-order=ipv4first")
            .arg(&script)
            .arg(input.to_string())
            .env("QRGATE_NODE_PREFIX", &prefix)
            .kill_on_drop(true)
            .output(),
    )
    .await
    .expect("driver in time")
    .expect("node runs");
    let text = String::from_utf8_lossy(&out.stdout);
    let value: Value = serde_json::from_str(&text).unwrap_or_else(|_| {
        panic!(
            "driver output {text:?}; stderr {}",
            String::from_utf8_lossy(&out.stderr)
        )
    });
    assert!(out.status.success(), "driver failed: {value}");
    value
}

/// The browser `b` (signed in on the SSO origin, or not) follows `url` once: the Location.
pub(crate) async fn location(b: &reqwest::Client, url: &str) -> (u16, String) {
    let resp = b.get(url).header("accept", NAV).send().await.expect("get");
    let status = resp.status().as_u16();
    let loc = resp
        .headers()
        .get("location")
        .map(|l| l.to_str().expect("location").to_string())
        .unwrap_or_default();
    (status, loc)
}

/// The query parameters of a URL.
pub(crate) fn params(url: &str) -> std::collections::HashMap<String, String> {
    url::Url::parse(url)
        .expect("url")
        .query_pairs()
        .into_owned()
        .collect()
}

/// An authorization URL for `client` asking for `extra` parameters too.
pub(crate) fn authorize_url(gw: &TestGateway, client: &str, redirect: &str, extra: &str) -> String {
    let redirect: String = url::form_urlencoded::byte_serialize(redirect.as_bytes()).collect();
    format!(
        "{}/.qrgate/oidc/authorize?response_type=code&client_id={client}&redirect_uri={redirect}&scope=openid%20profile%20groups%20offline_access&state=st4te&nonce=n0nce{extra}",
        sso(gw)
    )
}

/// A code for `client` through the signed-in browser `b`.
pub(crate) async fn code_for(
    gw: &TestGateway,
    b: &reqwest::Client,
    client: &str,
    redirect: &str,
    extra: &str,
) -> String {
    let (status, loc) = location(b, &authorize_url(gw, client, redirect, extra)).await;
    assert_eq!(status, 302);
    assert!(loc.starts_with(redirect), "{loc}");
    let p = params(&loc);
    assert_eq!(p.get("state").map(String::as_str), Some("st4te"));
    assert_eq!(p.get("iss"), Some(&sso(gw)), "RFC 9207 iss on success");
    p["code"].clone()
}

/// A token request with `form`, authenticated as `grafana` by Basic unless `basic` is None.
pub(crate) async fn token(
    gw: &TestGateway,
    basic: Option<(&str, &str)>,
    form: &[(&str, &str)],
) -> (u16, reqwest::header::HeaderMap, Value) {
    let mut req = client()
        .post(format!("{}/.qrgate/oidc/token", sso(gw)))
        .form(form);
    if let Some((id, secret)) = basic {
        req = req.basic_auth(id, Some(secret));
    }
    let resp = req.send().await.expect("token");
    let status = resp.status().as_u16();
    let headers = resp.headers().clone();
    (status, headers, resp.json().await.unwrap_or(Value::Null))
}

pub(crate) async fn userinfo(gw: &TestGateway, access: &str) -> u16 {
    client()
        .get(format!("{}/.qrgate/oidc/userinfo", sso(gw)))
        .bearer_auth(access)
        .send()
        .await
        .expect("userinfo")
        .status()
        .as_u16()
}

#[tokio::test]
async fn openid_client_signs_in_verifies_refreshes_detects_reuse_and_logs_out() {
    let (gw, _dir) = sso_gateway("").await;
    let (b, _) = sign_in_at(&sso(&gw)).await;
    for (client_id, auth, alg) in [
        ("grafana", "basic", "RS256"),
        ("wiki", "basic", "EdDSA"),
        ("grafana", "post", "RS256"),
    ] {
        let common = json!({
            "issuer": sso(&gw), "client_id": client_id, "secret": SECRET, "auth": auth,
            "redirect_uri": REDIRECT, "post_logout": BYE, "alg": alg,
        });
        let mut begin = common.clone();
        begin["step"] = json!("begin");
        let started = rp(begin).await;
        assert_eq!(started["issuer"], json!(sso(&gw)));
        let (status, callback) = location(&b, started["url"].as_str().expect("url")).await;
        assert_eq!(status, 302, "a signed-in person is sent back with a code");
        assert!(callback.starts_with(REDIRECT), "{callback}");
        let mut finish = common.clone();
        finish["step"] = json!("finish");
        finish["callback"] = json!(callback);
        for k in ["verifier", "state", "nonce"] {
            finish[k] = started[k].clone();
        }
        let done = rp(finish).await;
        let claims = &done["claims"];
        assert_eq!(claims["iss"], json!(sso(&gw)));
        assert_eq!(claims["aud"], json!(client_id));
        assert_eq!(
            claims["sub"],
            json!("alice"),
            "sub is the user, not the key"
        );
        assert_eq!(claims["nonce"], started["nonce"]);
        assert_eq!(claims["amr"], json!(["swk", "user"]));
        assert_eq!(claims["groups"], json!(["staff", "ops"]));
        assert_eq!(claims["preferred_username"], json!("alice"));
        assert!(claims["auth_time"].as_u64().is_some() && claims["sid"].is_string());
        assert_eq!(
            done["alg"],
            json!(alg),
            "RS256 by default, else the client's"
        );
        assert_eq!(done["userinfo"]["sub"], json!("alice"));
        assert_eq!(done["userinfo"]["groups"], json!(["staff", "ops"]));
        assert_eq!(
            done["rotated"],
            json!(true),
            "each refresh rotates the refresh token"
        );
        assert!(
            done["refreshed_claims"]["nonce"].is_null(),
            "no nonce after a refresh"
        );
        assert_eq!(done["refreshed_claims"]["auth_time"], claims["auth_time"]);
        assert_eq!(done["userinfo_after_refresh"], json!("ok"));
        assert_eq!(
            done["reuse"]["error"],
            json!("invalid_grant"),
            "{}",
            done["reuse"]
        );
        assert_eq!(
            done["newest_after_reuse"]["error"],
            json!("invalid_grant"),
            "the family is revoked"
        );
        assert_eq!(userinfo_status(&done["userinfo_after_reuse"]), "revoked");
        // The JWKS the library verified against names the signing key.
        let jwks: Value = client()
            .get(format!("{}/.qrgate/oidc/jwks.json", sso(&gw)))
            .send()
            .await
            .expect("jwks")
            .json()
            .await
            .expect("json");
        let kids: Vec<&Value> = jwks["keys"]
            .as_array()
            .expect("keys")
            .iter()
            .map(|k| &k["kid"])
            .collect();
        assert!(kids.contains(&&done["kid"]), "{jwks}");
        if auth == "post" {
            // RP-initiated logout: back to the registered address with the state, and the
            // SSO session is over.
            let logout = done["logout"].as_str().expect("logout");
            let resp = b
                .get(logout)
                .header("accept", NAV)
                .send()
                .await
                .expect("logout");
            let status = resp.status().as_u16();
            let loc = resp
                .headers()
                .get("location")
                .map(|l| l.to_str().expect("l").to_string())
                .unwrap_or_default();
            assert_eq!(
                status,
                302,
                "{logout}: {}",
                resp.text().await.unwrap_or_default()
            );
            assert_eq!(loc, format!("{BYE}?state=bye"));
            let (status, loc) =
                location(&b, &authorize_url(&gw, "grafana", REDIRECT, "&prompt=none")).await;
            assert_eq!(status, 302);
            assert_eq!(
                params(&loc).get("error").map(String::as_str),
                Some("login_required")
            );
        }
    }
}

fn userinfo_status(v: &Value) -> &'static str {
    if v == &json!("ok") {
        "ok"
    } else {
        "revoked"
    }
}

#[tokio::test]
async fn an_unknown_client_or_unregistered_redirect_uri_gets_a_page_never_a_redirect() {
    let (gw, _dir) = sso_gateway("").await;
    let (b, _) = sign_in_at(&sso(&gw)).await;
    for url in [
        authorize_url(&gw, "grafana", "https://evil.example/cb", ""),
        authorize_url(&gw, "grafana", &format!("{REDIRECT}/"), ""),
        authorize_url(&gw, "nobody", REDIRECT, ""),
        format!(
            "{}/.qrgate/oidc/authorize?response_type=code&scope=openid",
            sso(&gw)
        ),
    ] {
        let resp = b.get(&url).header("accept", NAV).send().await.expect("get");
        assert_eq!(resp.status(), 400, "{url}");
        assert!(
            resp.headers().get("location").is_none(),
            "never a redirect: {url}"
        );
        assert!(resp.text().await.expect("page").contains("<h1>"));
    }
    // Other mistakes go back to the registered URI, with the error, the state and iss.
    let (status, loc) = location(
        &b,
        &authorize_url(&gw, "grafana", REDIRECT, "")
            .replace("response_type=code", "response_type=token"),
    )
    .await;
    assert_eq!(status, 302);
    let p = params(&loc);
    assert_eq!(p["error"], "unsupported_response_type");
    assert_eq!(p["state"], "st4te");
    assert_eq!(p["iss"], sso(&gw));
    let (_, loc) = location(
        &b,
        &authorize_url(
            &gw,
            "grafana",
            REDIRECT,
            &format!("&code_challenge={CHALLENGE}&code_challenge_method=plain"),
        ),
    )
    .await;
    assert_eq!(
        params(&loc)["error"],
        "invalid_request",
        "plain PKCE is refused"
    );
    let (_, loc) = location(&b, &authorize_url(&gw, "cli", PUBLIC_REDIRECT, "")).await;
    assert_eq!(
        params(&loc)["error"],
        "invalid_request",
        "a public client must use PKCE"
    );
}

#[tokio::test]
async fn codes_are_single_use_and_bound_to_their_client_redirect_and_verifier() {
    let (gw, _dir) = sso_gateway("").await;
    let (b, _) = sign_in_at(&sso(&gw)).await;
    let grafana = Some(("grafana", SECRET));
    let pkce = format!("&code_challenge={CHALLENGE}&code_challenge_method=S256");

    // Redeemed once; the second redemption fails and revokes what the first issued.
    let code = code_for(&gw, &b, "grafana", REDIRECT, "").await;
    let form = [
        ("grant_type", "authorization_code"),
        ("code", code.as_str()),
        ("redirect_uri", REDIRECT),
    ];
    let (status, headers, first) = token(&gw, grafana, &form).await;
    assert_eq!(status, 200, "{first}");
    assert_eq!(headers["cache-control"], "no-store");
    let access = first["access_token"].as_str().expect("access");
    assert_eq!(userinfo(&gw, access).await, 200);
    let (status, _, again) = token(&gw, grafana, &form).await;
    assert_eq!(
        (status, again["error"].as_str()),
        (400, Some("invalid_grant"))
    );
    assert_eq!(
        userinfo(&gw, access).await,
        401,
        "the first redemption's tokens are revoked"
    );
    let refresh = first["refresh_token"].as_str().expect("refresh");
    let (status, _, r) = token(
        &gw,
        grafana,
        &[("grant_type", "refresh_token"), ("refresh_token", refresh)],
    )
    .await;
    assert_eq!((status, r["error"].as_str()), (400, Some("invalid_grant")));

    // Another client's code, another redirect URI: invalid_grant.
    let code = code_for(&gw, &b, "cli", PUBLIC_REDIRECT, &pkce).await;
    let (status, _, e) = token(
        &gw,
        grafana,
        &[
            ("grant_type", "authorization_code"),
            ("code", &code),
            ("redirect_uri", PUBLIC_REDIRECT),
            ("code_verifier", VERIFIER),
        ],
    )
    .await;
    assert_eq!((status, e["error"].as_str()), (400, Some("invalid_grant")));
    let code = code_for(&gw, &b, "grafana", REDIRECT, "").await;
    let (status, _, e) = token(
        &gw,
        grafana,
        &[
            ("grant_type", "authorization_code"),
            ("code", &code),
            ("redirect_uri", "http://127.0.0.1:9/other"),
        ],
    )
    .await;
    assert_eq!((status, e["error"].as_str()), (400, Some("invalid_grant")));

    // The public client: no verifier, a wrong one, then the right one.
    let code = code_for(&gw, &b, "cli", PUBLIC_REDIRECT, &pkce).await;
    let base = [
        ("grant_type", "authorization_code"),
        ("code", code.as_str()),
        ("redirect_uri", PUBLIC_REDIRECT),
        ("client_id", "cli"),
    ];
    let (status, _, e) = token(&gw, None, &base).await;
    assert_eq!(
        (status, e["error"].as_str()),
        (400, Some("invalid_grant")),
        "no verifier"
    );
    let mut wrong = base.to_vec();
    wrong.push((
        "code_verifier",
        "dBjftJeZ4CVP-mB92K27uhbUJU1p1r_wW1gFWFOEjXx",
    ));
    let (status, _, e) = token(&gw, None, &wrong).await;
    assert_eq!(
        (status, e["error"].as_str()),
        (400, Some("invalid_grant")),
        "wrong verifier"
    );
    let mut right = base.to_vec();
    right.push(("code_verifier", VERIFIER));
    let (status, _, ok) = token(&gw, None, &right).await;
    assert_eq!(status, 200, "{ok}");
    let header: Value = serde_json::from_slice(
        &URL_SAFE_NO_PAD
            .decode(
                ok["id_token"]
                    .as_str()
                    .expect("id token")
                    .split('.')
                    .next()
                    .expect("header"),
            )
            .expect("b64"),
    )
    .expect("json");
    assert_eq!(header["alg"], "ES256", "the client's id_token_alg");

    // A wrong secret: 401 with a Basic challenge; a confidential client without one too.
    let code = code_for(&gw, &b, "grafana", REDIRECT, "").await;
    let form = [
        ("grant_type", "authorization_code"),
        ("code", code.as_str()),
        ("redirect_uri", REDIRECT),
    ];
    let (status, headers, e) = token(&gw, Some(("grafana", "not-the-secret")), &form).await;
    assert_eq!((status, e["error"].as_str()), (401, Some("invalid_client")));
    assert!(headers["www-authenticate"]
        .to_str()
        .expect("v")
        .starts_with("Basic"));
    let mut bare = form.to_vec();
    bare.push(("client_id", "grafana"));
    let (status, _, e) = token(&gw, None, &bare).await;
    assert_eq!((status, e["error"].as_str()), (401, Some("invalid_client")));
    let (status, _, _) = token(&gw, grafana, &form).await;
    assert_eq!(
        status, 200,
        "a refused authentication did not use the code up"
    );
    let (status, _, e) = token(&gw, grafana, &[("grant_type", "password")]).await;
    assert_eq!(
        (status, e["error"].as_str()),
        (400, Some("unsupported_grant_type"))
    );
}

#[tokio::test]
async fn an_expired_code_is_refused() {
    let (gw, _dir) = sso_gateway("code_lifetime_seconds = 60").await;
    let (b, _) = sign_in_at(&sso(&gw)).await;
    let code = code_for(&gw, &b, "grafana", REDIRECT, "").await;
    gw.clock.advance(Duration::from_secs(61));
    let (status, _, e) = token(
        &gw,
        Some(("grafana", SECRET)),
        &[
            ("grant_type", "authorization_code"),
            ("code", &code),
            ("redirect_uri", REDIRECT),
        ],
    )
    .await;
    assert_eq!((status, e["error"].as_str()), (400, Some("invalid_grant")));
}

#[tokio::test]
async fn without_a_session_authorize_signs_in_first_or_answers_login_required() {
    let (gw, _dir) = sso_gateway("").await;
    let b = browser();
    let url = authorize_url(&gw, "grafana", REDIRECT, "");
    let (status, loc) = location(&b, &url).await;
    assert_eq!(status, 302);
    assert!(
        loc.starts_with("/.qrgate/login?rd=%2F.qrgate%2Foidc%2Fauthorize%3F"),
        "{loc}"
    );
    let (status, loc) =
        location(&b, &authorize_url(&gw, "grafana", REDIRECT, "&prompt=none")).await;
    assert_eq!(status, 302);
    let p = params(&loc);
    assert_eq!(
        (p["error"].as_str(), p["state"].as_str()),
        ("login_required", "st4te")
    );
    assert_eq!(p["iss"], sso(&gw));
    // The login page names the sign-in service.
    let login = b
        .get(format!("{}/.qrgate/login", sso(&gw)))
        .header("accept", NAV)
        .send()
        .await
        .expect("login")
        .text()
        .await
        .expect("html");
    assert!(login.contains("Sign in to Example Sign-in"), "{login}");
}

#[tokio::test]
async fn the_sso_origin_serves_discovery_and_home_and_app_origins_do_not() {
    let (gw, _dir) = sso_gateway("").await;
    let d: Value = client()
        .get(format!("{}/.well-known/openid-configuration", sso(&gw)))
        .send()
        .await
        .expect("discovery")
        .json()
        .await
        .expect("json");
    assert_eq!(d["issuer"], json!(sso(&gw)));
    assert_eq!(
        d["authorization_endpoint"],
        json!(format!("{}/.qrgate/oidc/authorize", sso(&gw)))
    );
    assert_eq!(d["response_types_supported"], json!(["code"]));
    assert_eq!(d["code_challenge_methods_supported"], json!(["S256"]));
    assert_eq!(
        d["authorization_response_iss_parameter_supported"],
        json!(true)
    );
    assert_eq!(
        d["id_token_signing_alg_values_supported"],
        json!(["RS256", "ES256", "EdDSA"])
    );
    // On the app's origin the provider's routes are no routes, and its root is the app's.
    for path in ["/.qrgate/oidc/jwks.json", "/.qrgate/oidc/token"] {
        let resp = client().get(gw.url(path)).send().await.expect("app");
        assert_eq!(resp.status(), 404, "{path}");
    }
    // Nothing else at its root: no upstream, and the routes below the prefix only there.
    for path in [
        "/anything",
        "/login",
        "/healthz",
        "/oidc/token",
        "/sessions",
    ] {
        let resp = client()
            .get(format!("{}{path}", sso(&gw)))
            .send()
            .await
            .expect("other");
        assert_eq!(resp.status(), 404, "{path}");
    }
    // Its root: the login page for a stranger, the sessions page once signed in.
    let (status, loc) = location(&browser(), &format!("{}/", sso(&gw))).await;
    assert_eq!(
        (status, loc.as_str()),
        (302, "/.qrgate/login?rd=%2F.qrgate%2Fsessions")
    );
    let (b, _) = sign_in_at(&sso(&gw)).await;
    let (status, loc) = location(&b, &format!("{}/", sso(&gw))).await;
    assert_eq!((status, loc.as_str()), (302, "/.qrgate/sessions"));
}

/// The claims of a token response's ID token (not verified: the driver tests verify).
pub(crate) fn id_claims(tokens: &Value) -> Value {
    let id = tokens["id_token"].as_str().expect("id token");
    let body = id.split('.').nth(1).expect("claims");
    serde_json::from_slice(&URL_SAFE_NO_PAD.decode(body).expect("b64")).expect("json")
}

/// Redeems `code` for `grafana`: the token response.
pub(crate) async fn redeem_grafana(gw: &TestGateway, code: &str) -> Value {
    let (status, _, tokens) = token(
        gw,
        Some(("grafana", SECRET)),
        &[
            ("grant_type", "authorization_code"),
            ("code", code),
            ("redirect_uri", REDIRECT),
        ],
    )
    .await;
    assert_eq!(status, 200, "{tokens}");
    tokens
}
