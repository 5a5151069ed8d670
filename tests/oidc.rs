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
const BYE: &str = "http://127.0.0.1:9/signed-out";
const PUBLIC_REDIRECT: &str = "http://127.0.0.1:9/app/callback";
/// A PKCE pair (RFC 7636 appendix B).
const VERIFIER: &str = "dBjftJeZ4CVP-mB92K27uhbUJU1p1r_wW1gFWFOEjXk";
const CHALLENGE: &str = "E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM";

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
fn authorize_url(gw: &TestGateway, client: &str, redirect: &str, extra: &str) -> String {
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

#[tokio::test]
async fn prompt_login_asks_for_a_fresh_approval_before_a_code() {
    let (gw, _dir) = sso_gateway("").await;
    let (b, _) = sign_in_at(&sso(&gw)).await;
    gw.clock.advance(Duration::from_secs(5));
    let (status, loc) = location(
        &b,
        &authorize_url(&gw, "grafana", REDIRECT, "&prompt=login"),
    )
    .await;
    assert_eq!(status, 302);
    assert!(loc.starts_with("/.qrgate/step-up?rd="), "{loc}");
    let rd = params(&format!("http://x{loc}"))["rd"].clone();
    assert!(
        rd.contains("step_up=") && rd.contains("prompt=login"),
        "{rd}"
    );
    // Back at the authorization endpoint without the fresh approval: asked again.
    let (status, loc) = location(&b, &format!("{}{rd}", sso(&gw))).await;
    assert_eq!(status, 302);
    assert!(loc.starts_with("/.qrgate/step-up?rd="), "{loc}");
}

#[tokio::test]
async fn a_fresh_approval_is_never_taken_from_the_query() {
    let (gw, _dir) = sso_gateway("").await;
    let (b, _) = sign_in_at(&sso(&gw)).await;
    gw.clock.advance(Duration::from_secs(5));
    // A hand-made auth_after or step_up ticket with prompt=login or max_age=0: the step-up.
    for extra in [
        "&prompt=login&auth_after=1",
        "&max_age=0&auth_after=0",
        "&prompt=login&step_up=dBjftJeZ4CVP-mB92K27uhbUJU1p1r_wW1gFWFOEjXk",
    ] {
        let (status, loc) = location(&b, &authorize_url(&gw, "grafana", REDIRECT, extra)).await;
        assert_eq!(status, 302);
        assert!(loc.starts_with("/.qrgate/step-up?rd="), "{extra}: {loc}");
    }
    // A real ticket is for its own client's request only, and taken once.
    let (_, loc) = location(
        &b,
        &authorize_url(&gw, "grafana", REDIRECT, "&prompt=login"),
    )
    .await;
    let rd = params(&format!("http://x{loc}"))["rd"].clone();
    let ticket = params(&format!("http://x{rd}"))["step_up"].clone();
    let other = authorize_url(
        &gw,
        "wiki",
        REDIRECT,
        &format!("&prompt=login&step_up={ticket}"),
    );
    let (_, loc) = location(&b, &other).await;
    assert!(loc.starts_with("/.qrgate/step-up?rd="), "{loc}");
    // A plain request with auth_after: a code, but no fresh-approval acr in its ID token.
    let code = code_for(&gw, &b, "grafana", REDIRECT, "&auth_after=0").await;
    let (status, _, tokens) = token(
        &gw,
        Some(("grafana", SECRET)),
        &[
            ("grant_type", "authorization_code"),
            ("code", &code),
            ("redirect_uri", REDIRECT),
        ],
    )
    .await;
    assert_eq!(status, 200, "{tokens}");
    let claims = id_claims(&tokens);
    assert!(claims.get("acr").is_none(), "{claims}");
}

/// The claims of a token response's ID token (not verified: the driver tests verify).
fn id_claims(tokens: &Value) -> Value {
    let id = tokens["id_token"].as_str().expect("id token");
    let body = id.split('.').nth(1).expect("claims");
    serde_json::from_slice(&URL_SAFE_NO_PAD.decode(body).expect("b64")).expect("json")
}

#[tokio::test]
async fn signing_in_for_a_client_names_it_and_its_origin_on_the_page_and_the_phone() {
    let (gw, _dir) = sso_gateway("").await;
    let b = browser();
    let url = authorize_url(&gw, "grafana", REDIRECT, "");
    let (_, login) = location(&b, &url).await;
    let html = b
        .get(format!("{}{login}", sso(&gw)))
        .header("accept", NAV)
        .send()
        .await
        .expect("login page")
        .text()
        .await
        .expect("html");
    let shown = "Example Sign-in, for Grafana (http://127.0.0.1:9); also opens Test app";
    assert!(html.contains(&format!("Sign in to {shown}")), "{html}");
    let marker = "data-attempt=\"";
    let start = html.find(marker).expect("attempt") + marker.len();
    let id = html[start..].split('"').next().expect("id").to_string();
    let attempt = url::Url::parse(&format!("{}/.qrgate/auth/session/{id}", sso(&gw))).expect("url");
    let phone = client();
    let req = qrgate::cli::signer::scan(&phone, &attempt)
        .await
        .expect("scan");
    assert_eq!(
        req.app, shown,
        "the phone shows the client and where it returns"
    );
    assert!(req.message.contains(shown), "{}", req.message);
    qrgate::cli::signer::approve(&phone, &attempt, &crate::common::alice_key(), &req)
        .await
        .expect("approve");
    let claimed = crate::common::claim_at(&b, &sso(&gw), &sso(&gw), &id).await;
    assert_eq!(claimed.status(), 200);
    // Back at the authorization request, now signed in: the code.
    let (status, loc) = location(&b, &url).await;
    assert_eq!(status, 302);
    assert!(params(&loc).contains_key("code"), "{loc}");
    // A sign-in on the SSO origin for nothing in particular shows its own name.
    let own = b
        .get(format!("{}/.qrgate/login", sso(&gw)))
        .header("accept", NAV)
        .send()
        .await
        .expect("page");
    assert_eq!(own.status(), 302, "signed in already");
}

#[tokio::test]
async fn logout_without_a_hint_asks_first_and_an_unregistered_return_is_a_page() {
    let (gw, _dir) = sso_gateway("").await;
    let (b, _) = sign_in_at(&sso(&gw)).await;
    let logout = format!("{}/.qrgate/oidc/logout", sso(&gw));
    // Another site's link: only a confirmation form, and the session lives on.
    let resp = b
        .get(format!(
            "{logout}?client_id=grafana&post_logout_redirect_uri={}&state=x",
            urlenc(BYE)
        ))
        .header("accept", NAV)
        .send()
        .await
        .expect("logout link");
    assert_eq!(resp.status(), 200);
    let html = resp.text().await.expect("html");
    assert!(
        html.contains("<form method=\"post\"") && html.contains("Sign out of Example Sign-in"),
        "{html}"
    );
    let (_, loc) = location(&b, &authorize_url(&gw, "grafana", REDIRECT, "&prompt=none")).await;
    assert!(params(&loc).contains_key("code"), "still signed in: {loc}");
    // A return address the client did not register: a page, never a redirect.
    let resp = b
        .get(format!(
            "{logout}?client_id=grafana&post_logout_redirect_uri={}",
            urlenc("https://evil.example/")
        ))
        .header("accept", NAV)
        .send()
        .await
        .expect("logout");
    assert_eq!(resp.status(), 400);
    assert!(resp.headers().get("location").is_none());
    // A form posted from another origin is the same link: asked again.
    let form = [
        ("client_id", "grafana"),
        ("post_logout_redirect_uri", BYE),
        ("state", "x"),
    ];
    let resp = b
        .post(&logout)
        .header("origin", "https://evil.example")
        .form(&form)
        .send()
        .await
        .expect("post");
    assert_eq!(resp.status(), 200);
    assert!(resp.text().await.expect("html").contains("<form"));
    // The form, posted from the SSO origin: signed out, back to the registered address.
    let resp = b
        .post(&logout)
        .header("origin", sso(&gw))
        .form(&form)
        .send()
        .await
        .expect("post");
    assert_eq!(resp.status(), 302);
    assert_eq!(
        resp.headers()["location"],
        format!("{BYE}?state=x").as_str()
    );
    let (_, loc) = location(&b, &authorize_url(&gw, "grafana", REDIRECT, "&prompt=none")).await;
    assert_eq!(params(&loc)["error"], "login_required");
}

fn urlenc(s: &str) -> String {
    url::form_urlencoded::byte_serialize(s.as_bytes()).collect()
}

#[tokio::test]
async fn prompt_login_is_answered_after_a_fresh_phone_approval_with_acr() {
    let (gw, _dir) = sso_gateway("").await;
    let base = sso(&gw);
    let (b, _) = sign_in_at(&base).await;
    gw.clock.advance(Duration::from_secs(5));
    let (_, step_up) = location(
        &b,
        &authorize_url(&gw, "grafana", REDIRECT, "&prompt=login"),
    )
    .await;
    let html = b
        .get(format!("{base}{step_up}"))
        .header("accept", NAV)
        .send()
        .await
        .expect("step-up page")
        .text()
        .await
        .expect("html");
    assert!(
        html.contains("Example Sign-in, for Grafana (http://127.0.0.1:9); also opens Test app"),
        "{html}"
    );
    let marker = "data-attempt=\"";
    let start = html.find(marker).expect("attempt") + marker.len();
    let id = html[start..].split('"').next().expect("id").to_string();
    let attempt = url::Url::parse(&format!("{base}/.qrgate/auth/session/{id}")).expect("url");
    let phone = client();
    let req = qrgate::cli::signer::scan(&phone, &attempt)
        .await
        .expect("scan");
    qrgate::cli::signer::approve(&phone, &attempt, &crate::common::alice_key(), &req)
        .await
        .expect("approve");
    let claimed = crate::common::claim_at(&b, &base, &base, &id).await;
    assert_eq!(claimed.status(), 200);
    let back = claimed.json::<Value>().await.expect("json")["redirect"]
        .as_str()
        .expect("redirect")
        .to_string();
    assert!(
        back.starts_with("/.qrgate/oidc/authorize?") && back.contains("step_up="),
        "{back}"
    );
    let (status, loc) = location(&b, &format!("{base}{back}")).await;
    assert_eq!(status, 302);
    let code = params(&loc)["code"].clone();
    let (status, _, tokens) = token(
        &gw,
        Some(("grafana", SECRET)),
        &[
            ("grant_type", "authorization_code"),
            ("code", &code),
            ("redirect_uri", REDIRECT),
        ],
    )
    .await;
    assert_eq!(status, 200, "{tokens}");
    let claims: Value = serde_json::from_slice(
        &URL_SAFE_NO_PAD
            .decode(
                tokens["id_token"]
                    .as_str()
                    .expect("id")
                    .split('.')
                    .nth(1)
                    .expect("claims"),
            )
            .expect("b64"),
    )
    .expect("json");
    assert_eq!(claims["acr"], "urn:qrgate:acr:fresh-approval");
    assert!(claims["auth_time"].as_u64().expect("auth_time") >= gw.clock.now_millis() / 1000 - 1);
}

#[tokio::test]
async fn userinfo_wants_a_live_bearer_token_and_authorize_takes_a_form_too() {
    let (gw, _dir) = sso_gateway("").await;
    let url = format!("{}/.qrgate/oidc/userinfo", sso(&gw));
    let resp = client().get(&url).send().await.expect("userinfo");
    assert_eq!(resp.status(), 401);
    assert_eq!(resp.headers()["www-authenticate"], "Bearer");
    let resp = client()
        .get(&url)
        .bearer_auth("x".repeat(43))
        .send()
        .await
        .expect("userinfo");
    assert_eq!(resp.status(), 401);
    assert!(resp.headers()["www-authenticate"]
        .to_str()
        .expect("v")
        .contains("invalid_token"));
    let (b, _) = sign_in_at(&sso(&gw)).await;
    let resp = b
        .post(format!("{}/.qrgate/oidc/authorize", sso(&gw)))
        .form(&[
            ("response_type", "code"),
            ("client_id", "grafana"),
            ("redirect_uri", REDIRECT),
            ("scope", "openid"),
            ("state", "p"),
        ])
        .send()
        .await
        .expect("post");
    assert_eq!(resp.status(), 302);
    let loc = resp.headers()["location"].to_str().expect("l").to_string();
    assert!(
        params(&loc).contains_key("code") && params(&loc)["state"] == "p",
        "{loc}"
    );
    let metrics = gw.state.metrics().render();
    assert!(
        metrics.contains(
            "qrgate_oidc_total{client=\"grafana\",endpoint=\"authorize\",result=\"code\"} 1"
        ),
        "{metrics}"
    );
    assert!(
        metrics.contains(
            "qrgate_oidc_total{client=\"-\",endpoint=\"userinfo\",result=\"no_token\"} 1"
        ),
        "{metrics}"
    );
}

#[tokio::test]
async fn a_client_secret_in_a_file_is_read_and_check_config_refuses_bad_clients() {
    let dir = tempfile::tempdir().expect("dir");
    let secret = dir.path().join("grafana.secret");
    crate::common::write_private(&secret, "file-secret-0123456789abcdef\n");
    let config = |client: &str| {
        format!(
            "[[app]]\nname = \"wiki\"\norigin = \"http://127.0.0.1:1\"\nupstream = \"127.0.0.1:2\"\n\n[[user]]\nname = \"alice\"\n\n[sso]\norigin = \"http://localhost:1\"\nname = \"Example\"\nkey_file = \"{}\"\n\n[[oidc_client]]\nid = \"grafana\"\n{client}\n",
            dir.path().join("keys.json").display()
        )
    };
    let path = dir.path().join("config.toml");
    let check = |text: String| {
        std::fs::write(&path, text).expect("write");
        let out = std::process::Command::new(env!("CARGO_BIN_EXE_qrgate"))
            .args(["check-config", "--config"])
            .arg(&path)
            .output()
            .expect("qrgate");
        (
            out.status.success(),
            format!(
                "{}{}",
                String::from_utf8_lossy(&out.stdout),
                String::from_utf8_lossy(&out.stderr)
            ),
        )
    };
    let (ok, err) = check(config(&format!(
        "secret_file = \"{}\"\nredirect_uris = [\"https://g.example/cb\"]",
        secret.display()
    )));
    assert!(ok, "{err}");
    assert!(
        err.contains("sso Example: issuer http://localhost:1"),
        "{err}"
    );
    assert!(
        err.contains(
            "oidc client grafana (grafana): confidential, RS256, redirect https://g.example/cb"
        ),
        "{err}"
    );
    let loaded = qrgate::files::config_file::load(&path).expect("loads");
    let hash = loaded.oidc_clients[0].secret.as_ref().expect("hashed").0;
    assert_eq!(
        hash.to_vec(),
        sha2::Sha256::digest(b"file-secret-0123456789abcdef").to_vec()
    );
    std::fs::set_permissions(&secret, std::os::unix::fs::PermissionsExt::from_mode(0o644))
        .expect("chmod");
    let (ok, err) = check(config(&format!(
        "secret_file = \"{}\"\nredirect_uris = [\"https://g.example/cb\"]",
        secret.display()
    )));
    assert!(!ok && err.contains("secret_file"), "{err}");
    for (client, says) in [
        ("public = true\nredirect_uris = [\"http://g.example/cb\"]", "oidc_client[0].redirect_uris"),
        ("public = true\nredirect_uris = [\"https://g.example/cb#frag\"]", "fragment"),
        ("public = true\nredirect_uris = [\"https://g.example/cb\"]\n[[oidc_client]]\nid = \"grafana\"\npublic = true\nredirect_uris = [\"https://g.example/cb\"]", "duplicate client id"),
    ] {
        let (ok, err) = check(config(client));
        assert!(!ok && err.contains(says), "{client}: {err}");
    }
}

#[tokio::test]
async fn a_logout_hint_signs_out_only_the_browser_holding_its_sign_on() {
    let (gw, _dir) = sso_gateway("").await;
    let (b, _) = sign_in_at(&sso(&gw)).await;
    let (other, _) = sign_in_at(&sso(&gw)).await;
    let code = code_for(&gw, &b, "grafana", REDIRECT, "").await;
    let (status, _, tokens) = token(
        &gw,
        Some(("grafana", SECRET)),
        &[
            ("grant_type", "authorization_code"),
            ("code", &code),
            ("redirect_uri", REDIRECT),
        ],
    )
    .await;
    assert_eq!(status, 200);
    let access = tokens["access_token"].as_str().expect("access");
    assert_eq!(userinfo(&gw, access).await, 200);
    let hint = tokens["id_token"].as_str().expect("id token");
    let logout = format!(
        "{}/.qrgate/oidc/logout?id_token_hint={hint}&post_logout_redirect_uri={}",
        sso(&gw),
        urlenc(BYE)
    );
    // Another browser (signed in, or not at all) sending the hint: asked first, nothing ends.
    for (who, browser) in [("another session", &other), ("no session", &browser())] {
        for method in [reqwest::Method::GET, reqwest::Method::HEAD] {
            let resp = browser
                .request(method.clone(), &logout)
                .header("accept", NAV)
                .send()
                .await
                .expect("logout");
            assert_eq!(resp.status(), 200, "{who} {method}");
            if method == reqwest::Method::GET {
                let html = resp.text().await.expect("html");
                assert!(html.contains("<form method=\"post\""), "{who}: {html}");
                assert!(html.contains("value=\"grafana\""), "{who}: {html}");
                assert!(!html.contains(hint), "the hint is not posted back");
            }
        }
    }
    assert_eq!(userinfo(&gw, access).await, 200, "the grant lives on");
    for browser in [&b, &other] {
        let (_, loc) = location(
            browser,
            &authorize_url(&gw, "grafana", REDIRECT, "&prompt=none"),
        )
        .await;
        assert!(params(&loc).contains_key("code"), "still signed in: {loc}");
    }
    // The browser holding the sign-on: signed out without asking, its grants end.
    let (status, loc) = location(&b, &logout).await;
    assert_eq!((status, loc.as_str()), (302, BYE));
    assert_eq!(
        userinfo(&gw, access).await,
        401,
        "the sign-on's grants ended"
    );
    let refresh = tokens["refresh_token"].as_str().expect("refresh");
    let (status, _, e) = token(
        &gw,
        Some(("grafana", SECRET)),
        &[("grant_type", "refresh_token"), ("refresh_token", refresh)],
    )
    .await;
    assert_eq!((status, e["error"].as_str()), (400, Some("invalid_grant")));
    let (_, loc) = location(&b, &authorize_url(&gw, "grafana", REDIRECT, "&prompt=none")).await;
    assert_eq!(params(&loc)["error"], "login_required");
    let (_, loc) = location(
        &other,
        &authorize_url(&gw, "grafana", REDIRECT, "&prompt=none"),
    )
    .await;
    assert!(
        params(&loc).contains_key("code"),
        "the other session lives: {loc}"
    );
    // A hint that is not this provider's is refused.
    let resp = browser()
        .get(format!(
            "{}/.qrgate/oidc/logout?id_token_hint=eyJhbGciOiJIUzI1NiJ9.e30.x",
            sso(&gw)
        ))
        .header("accept", NAV)
        .send()
        .await
        .expect("logout");
    assert_eq!(resp.status(), 400);
}

#[tokio::test]
async fn head_runs_no_route_whose_get_changes_state() {
    let (gw, _dir) = sso_gateway("").await;
    let (b, _) = sign_in_at(&sso(&gw)).await;
    let codes = || {
        gw.state.metrics().render().contains(
            "qrgate_oidc_total{client=\"grafana\",endpoint=\"authorize\",result=\"code\"}",
        )
    };
    // Authorize (mints a code on GET), a step-up (a ticket) and logout with the browser's own
    // hint (signs out on GET): HEAD answers 200 with no Location and runs none of it.
    let code = code_for(&gw, &b, "grafana", REDIRECT, "").await;
    let (status, _, tokens) = token(
        &gw,
        Some(("grafana", SECRET)),
        &[
            ("grant_type", "authorization_code"),
            ("code", &code),
            ("redirect_uri", REDIRECT),
        ],
    )
    .await;
    assert_eq!(status, 200);
    let before = gw.state.metrics().render();
    assert!(codes(), "{before}");
    let hint = tokens["id_token"].as_str().expect("id token");
    for url in [
        authorize_url(&gw, "grafana", REDIRECT, ""),
        authorize_url(&gw, "grafana", REDIRECT, "&prompt=login"),
        format!("{}/.qrgate/oidc/logout?id_token_hint={hint}", sso(&gw)),
        format!("{}/.qrgate/login", sso(&gw)),
        format!("{}/.qrgate/step-up?rd=/", sso(&gw)),
    ] {
        let resp = b
            .head(&url)
            .header("accept", NAV)
            .send()
            .await
            .expect("head");
        assert_eq!(resp.status(), 200, "{url}");
        assert!(resp.headers().get("location").is_none(), "{url}");
        assert!(resp.headers().get("set-cookie").is_none(), "{url}");
    }
    let after = gw.state.metrics().render();
    let line = |m: &str| {
        m.lines()
            .find(|l| {
                l.starts_with(
                    "qrgate_oidc_total{client=\"grafana\",endpoint=\"authorize\",result=\"code\"}",
                )
            })
            .map(str::to_string)
    };
    assert_eq!(line(&before), line(&after), "no code minted");
    assert_eq!(
        userinfo(&gw, tokens["access_token"].as_str().expect("a")).await,
        200,
        "the grant lives"
    );
    let (_, loc) = location(&b, &authorize_url(&gw, "grafana", REDIRECT, "&prompt=none")).await;
    assert!(params(&loc).contains_key("code"), "still signed in: {loc}");
}

#[tokio::test]
async fn a_reload_ends_the_grants_of_a_departed_user_and_a_name_reused_inherits_none() {
    let (gw, _dir) = sso_gateway("").await;
    let (b, _) = sign_in_at(&sso(&gw)).await;
    let code = code_for(&gw, &b, "grafana", REDIRECT, "").await;
    let (status, _, tokens) = token(
        &gw,
        Some(("grafana", SECRET)),
        &[
            ("grant_type", "authorization_code"),
            ("code", &code),
            ("redirect_uri", REDIRECT),
        ],
    )
    .await;
    assert_eq!(status, 200, "{tokens}");
    assert_eq!(
        id_claims(&tokens)["sub"],
        "alice",
        "the subject defaults to the name"
    );
    let access = tokens["access_token"].as_str().expect("access");
    let refresh = tokens["refresh_token"].as_str().expect("refresh");
    let parse = |text: &str| {
        qrgate_core::config::Config::parse(text, std::path::Path::new("test.toml")).expect("config")
    };
    // alice leaves (her name is gone), then the name comes back: her grant stays ended.
    let renamed = gw
        .config_text
        .replace("name = \"alice\"", "name = \"alicia\"");
    gw.proxy.reload(parse(&renamed)).expect("reload");
    qrgate::lifecycle::reload::purge_departed(&gw.proxy).await;
    gw.proxy.reload(parse(&gw.config_text)).expect("reload");
    assert_eq!(userinfo(&gw, access).await, 401, "purged at the reload");
    let (status, _, e) = token(
        &gw,
        Some(("grafana", SECRET)),
        &[("grant_type", "refresh_token"), ("refresh_token", refresh)],
    )
    .await;
    assert_eq!(
        (status, e["error"].as_str()),
        (400, Some("invalid_grant")),
        "{e}"
    );
    // A new person under the name with a subject of their own: what was issued to the name
    // before is not theirs, and their ID token says who they are.
    let (b, _) = sign_in_at(&sso(&gw)).await;
    let code = code_for(&gw, &b, "grafana", REDIRECT, "").await;
    let (_, _, tokens) = token(
        &gw,
        Some(("grafana", SECRET)),
        &[
            ("grant_type", "authorization_code"),
            ("code", &code),
            ("redirect_uri", REDIRECT),
        ],
    )
    .await;
    let old_access = tokens["access_token"].as_str().expect("access").to_string();
    let other = gw.config_text.replace(
        "name = \"alice\"",
        "name = \"alice\"\nsubject = \"alice-2\"",
    );
    gw.proxy.reload(parse(&other)).expect("reload");
    assert_eq!(
        userinfo(&gw, &old_access).await,
        401,
        "issued to another subject"
    );
    let (b, _) = sign_in_at(&sso(&gw)).await;
    let code = code_for(&gw, &b, "grafana", REDIRECT, "").await;
    let (status, _, tokens) = token(
        &gw,
        Some(("grafana", SECRET)),
        &[
            ("grant_type", "authorization_code"),
            ("code", &code),
            ("redirect_uri", REDIRECT),
        ],
    )
    .await;
    assert_eq!(status, 200, "{tokens}");
    assert_eq!(id_claims(&tokens)["sub"], "alice-2");
}

/// Redeems `code` for `grafana`: the token response.
async fn redeem_grafana(gw: &TestGateway, code: &str) -> Value {
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

#[tokio::test]
async fn a_refused_refresh_changes_nothing_and_a_narrower_scope_is_honoured() {
    let (gw, _dir) = sso_gateway("").await;
    let (b, _) = sign_in_at(&sso(&gw)).await;
    let code = code_for(&gw, &b, "grafana", REDIRECT, "").await;
    let tokens = redeem_grafana(&gw, &code).await;
    let refresh = tokens["refresh_token"].as_str().expect("refresh");
    // Wider than granted (email is the client's, not this grant's), or without openid:
    // refused, and the same token still works.
    for scope in ["openid profile groups email", "profile"] {
        let (status, _, e) = token(
            &gw,
            Some(("grafana", SECRET)),
            &[
                ("grant_type", "refresh_token"),
                ("refresh_token", refresh),
                ("scope", scope),
            ],
        )
        .await;
        assert_eq!(
            (status, e["error"].as_str()),
            (400, Some("invalid_scope")),
            "{scope}"
        );
    }
    assert_eq!(
        userinfo(&gw, tokens["access_token"].as_str().expect("a")).await,
        200
    );
    let (status, _, narrow) = token(
        &gw,
        Some(("grafana", SECRET)),
        &[
            ("grant_type", "refresh_token"),
            ("refresh_token", refresh),
            ("scope", "openid"),
        ],
    )
    .await;
    assert_eq!(status, 200, "{narrow}");
    assert_eq!(narrow["scope"], "openid");
    assert!(id_claims(&narrow).get("groups").is_none(), "{narrow}");
    let info: Value = client()
        .get(format!("{}/.qrgate/oidc/userinfo", sso(&gw)))
        .bearer_auth(narrow["access_token"].as_str().expect("a"))
        .send()
        .await
        .expect("userinfo")
        .json()
        .await
        .expect("json");
    assert_eq!(
        info,
        json!({"sub": "alice"}),
        "the dropped claims are not released"
    );
}

#[tokio::test]
async fn a_used_code_replayed_by_another_client_revokes_nothing() {
    let (gw, _dir) = sso_gateway("").await;
    let (b, _) = sign_in_at(&sso(&gw)).await;
    let code = code_for(&gw, &b, "grafana", REDIRECT, "").await;
    let tokens = redeem_grafana(&gw, &code).await;
    let access = tokens["access_token"].as_str().expect("access");
    let (status, _, e) = token(
        &gw,
        None,
        &[
            ("grant_type", "authorization_code"),
            ("code", &code),
            ("client_id", "cli"),
            ("redirect_uri", REDIRECT),
            ("code_verifier", VERIFIER),
        ],
    )
    .await;
    assert_eq!((status, e["error"].as_str()), (400, Some("invalid_grant")));
    assert_eq!(userinfo(&gw, access).await, 200, "another client's replay");
    // The code's own client replaying it: its grant is revoked (RFC 6749 §4.1.2).
    let (status, _, _) = token(
        &gw,
        Some(("grafana", SECRET)),
        &[
            ("grant_type", "authorization_code"),
            ("code", &code),
            ("redirect_uri", REDIRECT),
        ],
    )
    .await;
    assert_eq!(status, 400);
    assert_eq!(userinfo(&gw, access).await, 401);
}

#[tokio::test]
async fn signing_out_of_the_sso_origin_ends_its_grants_and_unredeemed_codes() {
    let (gw, _dir) = sso_gateway("").await;
    for how in ["logout", "sessions page"] {
        let (b, _) = sign_in_at(&sso(&gw)).await;
        let code = code_for(&gw, &b, "grafana", REDIRECT, "").await;
        let tokens = redeem_grafana(&gw, &code).await;
        let pending = code_for(&gw, &b, "grafana", REDIRECT, "").await;
        let resp = if how == "logout" {
            b.post(format!("{}/.qrgate/logout", sso(&gw)))
                .header("origin", sso(&gw))
                .send()
                .await
                .expect("logout")
        } else {
            let sid = id_claims(&tokens)["sid"].as_str().expect("sid").to_string();
            b.post(format!("{}/.qrgate/sessions", sso(&gw)))
                .header("origin", sso(&gw))
                .form(&[("id", sid.as_str())])
                .send()
                .await
                .expect("sign out")
        };
        assert!(
            resp.status().is_success() || resp.status().is_redirection(),
            "{how}: {}",
            resp.status()
        );
        assert_eq!(
            userinfo(&gw, tokens["access_token"].as_str().expect("a")).await,
            401,
            "{how}"
        );
        let (status, _, e) = token(
            &gw,
            Some(("grafana", SECRET)),
            &[
                ("grant_type", "refresh_token"),
                (
                    "refresh_token",
                    tokens["refresh_token"].as_str().expect("r"),
                ),
            ],
        )
        .await;
        assert_eq!(
            (status, e["error"].as_str()),
            (400, Some("invalid_grant")),
            "{how}"
        );
        let (status, _, e) = token(
            &gw,
            Some(("grafana", SECRET)),
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
            "{how}: a code minted before the sign-out"
        );
    }
}

#[tokio::test]
async fn a_refresh_token_only_for_offline_access_and_prompt_none_only_for_the_hinted_person() {
    let (gw, _dir) = sso_gateway("").await;
    let (b, _) = sign_in_at(&sso(&gw)).await;
    // Without offline_access: tokens, but no refresh token.
    let url = authorize_url(&gw, "grafana", REDIRECT, "").replace("%20offline_access", "");
    let (_, loc) = location(&b, &url).await;
    let tokens = redeem_grafana(&gw, &params(&loc)["code"]).await;
    assert!(tokens.get("refresh_token").is_none(), "{tokens}");
    assert!(!tokens["scope"]
        .as_str()
        .expect("scope")
        .contains("offline_access"));
    let code = code_for(&gw, &b, "grafana", REDIRECT, "").await;
    let tokens = redeem_grafana(&gw, &code).await;
    assert!(tokens["refresh_token"].is_string(), "{tokens}");
    // prompt=none naming someone else: login_required, never a code for alice.
    let hint = tokens["id_token"].as_str().expect("id token");
    for extra in [
        "&prompt=none&login_hint=bob".to_string(),
        "&prompt=none&id_token_hint=eyJhbGciOiJIUzI1NiJ9.e30.x".to_string(),
    ] {
        let (_, loc) = location(&b, &authorize_url(&gw, "grafana", REDIRECT, &extra)).await;
        assert_eq!(params(&loc)["error"], "login_required", "{extra}: {loc}");
    }
    for extra in [
        "&prompt=none&login_hint=alice".to_string(),
        format!("&prompt=none&id_token_hint={hint}"),
    ] {
        let (_, loc) = location(&b, &authorize_url(&gw, "grafana", REDIRECT, &extra)).await;
        assert!(params(&loc).contains_key("code"), "{extra}: {loc}");
    }
    let discovery: Value = client()
        .get(format!("{}/.well-known/openid-configuration", sso(&gw)))
        .send()
        .await
        .expect("discovery")
        .json()
        .await
        .expect("json");
    assert_eq!(
        discovery["prompt_values_supported"],
        json!(["none", "login"])
    );
}

/// A client without refresh tokens (`refresh_token_lifetime_seconds = 0`): its grant lives as
/// long as its access token, so a sweep in between ends nothing (memory and Redis alike).
#[tokio::test]
async fn a_grant_without_refresh_tokens_lives_as_long_as_its_access_token() {
    let hash = hex::encode(sha2::Sha256::digest(SECRET.as_bytes()));
    let (gw, _dir) = sso_gateway(&format!(
        "\n[[oidc_client]]\nid = \"short\"\nsecret_hash = \"{hash}\"\nredirect_uris = [\"{REDIRECT}\"]\nrefresh_token_lifetime_seconds = 0\naccess_token_lifetime_seconds = 600\n"
    ))
    .await;
    let (b, _) = sign_in_at(&sso(&gw)).await;
    let code = code_for(&gw, &b, "short", REDIRECT, "").await;
    let (status, _, tokens) = token(
        &gw,
        Some(("short", SECRET)),
        &[
            ("grant_type", "authorization_code"),
            ("code", &code),
            ("redirect_uri", REDIRECT),
        ],
    )
    .await;
    assert_eq!(status, 200, "{tokens}");
    assert!(tokens.get("refresh_token").is_none(), "{tokens}");
    let access = tokens["access_token"].as_str().expect("access");
    gw.clock.advance(Duration::from_secs(300));
    gw.state.sweep().await;
    assert_eq!(userinfo(&gw, access).await, 200, "swept too early");
    gw.clock.advance(Duration::from_secs(301));
    gw.state.sweep().await;
    assert_eq!(
        userinfo(&gw, access).await,
        401,
        "expired with its access token"
    );
}
