//! qrgate behind operators' own proxies: the shipped nginx `auth_request` and Caddy
//! `forward_auth` samples (deploy/), run with the real nginx and Caddy in front of a real
//! upstream. No session: the login page; after a login through the proxy, the upstream gets
//! the identity headers; client-sent identity headers never reach it. Through both, the
//! app's grant (with method overrides), step-up paths and path spellings hold as on the proxy
//! path; and the verify endpoint asked directly refuses to vouch for a restricted session
//! without the original request.

use std::path::Path;
use std::process::{Command, Stdio};
use std::time::Duration;

use qrgate_core::config::AppId;
use serde_json::Value;

use crate::common::{
    alice_key, claim_at, client, echoed_headers, eventually, free_port, raw, sign_in_at, Reaped,
    Setup, TestGateway, NAV,
};

/// The sample with its three placeholder addresses replaced.
fn sample(file: &str, front: u16, gateway: &TestGateway) -> String {
    let text = std::fs::read_to_string(
        Path::new(env!("CARGO_MANIFEST_DIR"))
            .join("deploy")
            .join(file),
    )
    .expect("sample");
    text.replace("127.0.0.1:8080", &format!("127.0.0.1:{front}"))
        .replace("127.0.0.1:8090", &gateway.addr.to_string())
        .replace("127.0.0.1:3000", &gateway.upstream.to_string())
}

/// A gateway whose app lives on the front proxy's origin, trusting that proxy's
/// `X-Forwarded-For`.
async fn gateway_behind(front: u16) -> TestGateway {
    gateway_behind_with(front, Setup::default().app_extra).await
}

/// [`gateway_behind`] with these app settings.
async fn gateway_behind_with(front: u16, app_extra: String) -> TestGateway {
    TestGateway::with(Setup {
        origin: Some(format!("http://127.0.0.1:{front}")),
        server: "trust_forwarded_for = true\ntrusted_proxies = [\"127.0.0.1\"]\n".into(),
        app_extra,
        ..Setup::default()
    })
    .await
}

/// A read-only grant with a read-write entry (and a read entry inside it), and a step-up path.
const RULES: &str = "access = \"read\"\naccess_paths = [{ path = \"/comments/\", access = \"read-write\" }, { path = \"/comments/locked/\", access = \"read\" }]\nstep_up_paths = [\"/admin\"]\nstep_up_max_age_seconds = 30\n";

fn which(cmd: &str) -> Option<String> {
    [
        "/usr/sbin/",
        "/usr/bin/",
        "/usr/local/bin/",
        "/usr/local/sbin/",
    ]
    .iter()
    .map(|d| format!("{d}{cmd}"))
    .find(|p| Path::new(p).exists())
}

async fn wait_for(front: u16) {
    let url = format!("http://127.0.0.1:{front}/.qrgate/healthz");
    let c = client();
    let up = eventually(Duration::from_secs(20), || {
        let (c, url) = (c.clone(), url.clone());
        async move { c.get(url).send().await.is_ok_and(|r| r.status() == 200) }
    })
    .await;
    assert!(up, "the front proxy serves qrgate's routes");
}

/// What every front proxy must do: login page without a session, identity after a login,
/// no client-sent identity header at the upstream.
async fn check_front(front: u16) {
    let base = format!("http://127.0.0.1:{front}");
    let anon = client()
        .get(format!("{base}/app/page"))
        .header("accept", NAV)
        .send()
        .await
        .expect("anonymous");
    assert_eq!(anon.status(), 302);
    let location = anon.headers()["location"]
        .to_str()
        .expect("location")
        .to_string();
    // Both samples send the page relative to the origin (nginx with absolute_redirect off).
    let relative = location.strip_prefix(&base).unwrap_or(&location);
    assert_eq!(relative, "/.qrgate/login?rd=%2Fapp%2Fpage", "{location}");
    // The page is named relative to the app's own origin, whatever Host the client sent (a
    // proxy building an absolute URL from the client's Host sends it elsewhere).
    let head = raw_head(
        front,
        &format!("GET /app/page HTTP/1.1\r\nHost: evil.example\r\nAccept: {NAV}"),
    )
    .await;
    // (Caddy serves no site for that Host: an empty answer, no redirect at all.)
    assert!(!head.contains("evil.example"), "{head}");
    if let Some(location) = head.lines().find_map(|l| {
        l.to_ascii_lowercase()
            .strip_prefix("location:")
            .map(|v| v.trim().to_string())
    }) {
        assert_eq!(location, "/.qrgate/login?rd=%2fapp%2fpage", "{head}");
    }
    // A program without a session gets the 401 itself, as on the proxy path.
    let program = client()
        .get(format!("{base}/app/page"))
        .header("accept", "application/json")
        .send()
        .await
        .expect("program");
    assert_eq!(program.status(), 401);

    let (b, token) = sign_in_at(&base).await;
    let resp = b
        .get(format!("{base}/app/page"))
        .header("accept", "application/json")
        .header("X-Auth-User", "mallory")
        .header("x-auth-roles", "admin")
        .header("X_Auth_User", "mallory")
        .header("x_auth_pubkey", "mallory")
        .header("X-AUTH-APP", "mallory")
        // Headers upstreams read as the request's real path, host, scheme or client: the
        // app would route or trust a request other than the one judged.
        .header("X-Auth-Assertion", "mallory")
        .header("X-Original-URL", "mallory")
        .header("X-Original-URI", "mallory")
        .header("X-Original-Method", "mallory")
        .header("X-Rewrite-URL", "mallory")
        .header("X-Forwarded-Uri", "mallory")
        .header("X-Forwarded-Method", "mallory")
        .header("X-Forwarded-Host", "mallory")
        .header("X-Forwarded-Prefix", "mallory")
        .header("X-Forwarded-Proto", "mallory")
        .header("X-Forwarded-Upgrade", "mallory")
        .header("X-Real-IP", "mallory")
        .header("Forwarded", "mallory")
        .header("Remote-User", "mallory")
        .header("X-Remote-User", "mallory")
        .header("x_original_url", "mallory")
        .header("X_Forwarded_Uri", "mallory")
        .send()
        .await
        .expect("signed in");
    assert_eq!(resp.status(), 200);
    let echo: Value = resp.json().await.expect("echo");
    let headers = echoed_headers(&echo);
    let get = |name: &str| -> Vec<String> {
        headers
            .iter()
            .filter(|(n, _)| n.replace('_', "-") == name)
            .map(|(_, v)| v.clone())
            .collect()
    };
    assert_eq!(get("x-auth-user"), ["alice"], "{headers:?}");
    assert_eq!(get("x-auth-roles"), ["staff,ops"], "{headers:?}");
    assert_eq!(get("x-auth-app"), ["Test app"], "{headers:?}");
    assert_eq!(get("x-auth-pubkey").len(), 1, "{headers:?}");
    for (name, value) in &headers {
        assert_ne!(value, "mallory", "{name} reached the upstream");
        assert_ne!(value, "admin", "{name} reached the upstream");
    }

    // qrgate's cookies (a session token is a credential for qrgate's own routes) never reach
    // the app, in any name; the app's own cookies do.
    let (status, body) = raw(
        ([127, 0, 0, 1], front).into(),
        &format!(
            "GET /app/page HTTP/1.1\r\nHost: 127.0.0.1:{front}\r\nAccept: application/json\r\nCookie: qrgate_session={token}; app=1;qrgate_session_bind=b1; __Host-qrgate_session_bind=b2; __Host-qrgate_session=h1; theme=dark"
        ),
    )
    .await;
    assert_eq!(status, 200, "{body}");
    let echo: Value = serde_json::from_str(&body).expect("echo");
    let cookies: Vec<String> = echoed_headers(&echo)
        .into_iter()
        .filter(|(n, _)| n == "cookie")
        .map(|(_, v)| v)
        .collect();
    let all = cookies.join("; ");
    assert!(all.contains("app=1") && all.contains("theme=dark"), "{all}");
    for secret in [token.as_str(), "b1", "b2", "h1", "qrgate_session"] {
        assert!(
            !all.contains(secret),
            "{secret} reached the upstream: {all}"
        );
    }
}

/// The status line and headers of a raw request to the front proxy.
async fn raw_head(front: u16, head: &str) -> String {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let mut s = tokio::net::TcpStream::connect(("127.0.0.1", front))
        .await
        .expect("connect");
    s.write_all(format!("{head}\r\nConnection: close\r\n\r\n").as_bytes())
        .await
        .expect("write");
    let mut buf = Vec::new();
    tokio::time::timeout(Duration::from_secs(20), s.read_to_end(&mut buf))
        .await
        .expect("response in time")
        .expect("read");
    let text = String::from_utf8_lossy(&buf).into_owned();
    text.split("\r\n\r\n")
        .next()
        .unwrap_or_default()
        .to_string()
}

/// nginx running the sample in front of `gw`, until the guard is dropped.
fn start_nginx(front: u16, gw: &TestGateway) -> (Reaped, tempfile::TempDir) {
    let Some(nginx) = which("nginx") else {
        panic!("nginx is not installed (the test command installs it)");
    };
    let dir = tempfile::tempdir().expect("dir");
    let d = dir.path().display();
    std::fs::write(
        dir.path().join("qrgate.conf"),
        sample("nginx-forward-auth.conf", front, gw),
    )
    .expect("sample");
    std::fs::write(
        dir.path().join("nginx.conf"),
        format!(
            "worker_processes 1;\ndaemon off;\npid {d}/nginx.pid;\nerror_log {d}/error.log;\nevents {{ worker_connections 256; }}\nhttp {{\n  access_log off;\n  client_body_temp_path {d}/body;\n  proxy_temp_path {d}/proxy;\n  fastcgi_temp_path {d}/fastcgi;\n  uwsgi_temp_path {d}/uwsgi;\n  scgi_temp_path {d}/scgi;\n  include {d}/qrgate.conf;\n}}\n"
        ),
    )
    .expect("nginx.conf");
    let child = Reaped(
        crate::common::in_own_group(&mut Command::new(nginx))
            .arg("-p")
            .arg(dir.path())
            .arg("-c")
            .arg(dir.path().join("nginx.conf"))
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("start nginx"),
    );
    (child, dir)
}

/// Caddy running the sample in front of `gw`, until the guard is dropped.
fn start_caddy(front: u16, gw: &TestGateway) -> (Reaped, tempfile::TempDir) {
    let Some(caddy) = which("caddy") else {
        panic!("caddy is not installed (the test command installs it)");
    };
    let dir = tempfile::tempdir().expect("dir");
    let file = dir.path().join("Caddyfile");
    std::fs::write(&file, sample("Caddyfile.forward-auth", front, gw)).expect("Caddyfile");
    let child = Reaped(
        crate::common::in_own_group(&mut Command::new(caddy))
            .args(["run", "--adapter", "caddyfile", "--config"])
            .arg(&file)
            .env("HOME", dir.path())
            .env("XDG_DATA_HOME", dir.path())
            .env("XDG_CONFIG_HOME", dir.path())
            .stdout(Stdio::null())
            .stderr(std::fs::File::create(dir.path().join("caddy.log")).expect("log"))
            .spawn()
            .expect("start caddy"),
    );
    (child, dir)
}

#[tokio::test]
async fn nginx_auth_request_sample_guards_an_app() {
    let front = free_port();
    let gw = gateway_behind(front).await;
    let _nginx = start_nginx(front, &gw);
    wait_for(front).await;
    check_front(front).await;
}

#[tokio::test]
async fn caddy_forward_auth_sample_guards_an_app() {
    let front = free_port();
    let gw = gateway_behind(front).await;
    let _caddy = start_caddy(front, &gw);
    wait_for(front).await;
    check_front(front).await;
}

#[tokio::test]
async fn nginx_applies_the_apps_grant_and_step_up_rules() {
    let front = free_port();
    let gw = gateway_behind_with(front, RULES.into()).await;
    let _nginx = start_nginx(front, &gw);
    wait_for(front).await;
    check_rules(front, &gw).await;
}

#[tokio::test]
async fn caddy_applies_the_apps_grant_and_step_up_rules() {
    let front = free_port();
    let gw = gateway_behind_with(front, RULES.into()).await;
    let _caddy = start_caddy(front, &gw);
    wait_for(front).await;
    check_rules(front, &gw).await;
}

/// A raw request through the front proxy (no client rewrites the path) with the session
/// cookie, as a program; `extra` is more header lines.
async fn through(front: u16, method: &str, path: &str, token: &str, extra: &str) -> u16 {
    raw(
        ([127, 0, 0, 1], front).into(),
        &format!(
            "{method} {path} HTTP/1.1\r\nHost: 127.0.0.1:{front}\r\nAccept: application/json\r\nCookie: qrgate_session={token}\r\nContent-Length: 0{extra}"
        ),
    )
    .await
    .0
}

/// What every front proxy must enforce for a reduced grant and a step-up path, as the proxy
/// path does: writes refused outside read-write entries (in every spelling of a read entry,
/// and when claimed through an override), client-named original requests ignored, and a
/// step-up path sending a browser to confirm, then admitting it.
async fn check_rules(front: u16, gw: &TestGateway) {
    let base = format!("http://127.0.0.1:{front}");
    let (b, token) = sign_in_at(&base).await;
    for (method, path, extra, want) in [
        ("GET", "/doc", "", 200),
        ("HEAD", "/doc", "", 200),
        ("POST", "/doc", "", 403),
        ("DELETE", "/doc", "", 403),
        ("GET", "/doc", "\r\nX-HTTP-Method-Override: DELETE", 403),
        ("GET", "/doc", "\r\nx-method-override: PUT", 403),
        ("GET", "/doc?_method=delete", "", 403),
        ("GET", "/doc", "\r\nX-HTTP-Method-Override: HEAD", 200),
        ("POST", "/comments/7", "", 200),
        (
            "GET",
            "/comments/7",
            "\r\nX-HTTP-Method-Override: DELETE",
            200,
        ),
        ("POST", "/comments/locked/7", "", 403),
        ("POST", "/comments/locked;x/7", "", 403),
        ("POST", "/comments/LOCKED/7", "", 403),
        ("POST", "/comments/locked%3Bx/7", "", 403),
        ("POST", "/COMMENTS/7", "", 403),
        ("POST", "/comments;x/7", "", 403),
        // A client naming another request is not believed: the proxy sets both headers.
        (
            "POST",
            "/doc",
            "\r\nX-Forwarded-Method: GET\r\nX-Forwarded-Uri: /doc",
            403,
        ),
        (
            "POST",
            "/doc",
            "\r\nX-Forwarded-Method: POST\r\nX-Forwarded-Uri: /comments/7",
            403,
        ),
        (
            "GET",
            "/doc",
            "\r\nConnection: Upgrade, close\r\nUpgrade: websocket\r\nSec-WebSocket-Version: 13\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==",
            403,
        ),
        ("GET", "/admin/users", "", 200),
    ] {
        assert_eq!(
            through(front, method, path, &token, extra).await,
            want,
            "{method} {path} {extra:?}"
        );
    }

    gw.clock.advance(Duration::from_secs(31));
    // `/doc#/../admin/users`: nginx passes the `#` on raw (Caddy encodes it), and an upstream
    // taking it literally resolves `/admin/users`; a parser dropping the fragment saw `/doc`.
    for path in [
        "/admin/users",
        "/admin;x/users",
        "/ADMIN/users",
        "/%41dmin",
        "/doc#/../admin/users",
        "/doc?x#/../../admin/users",
    ] {
        assert_eq!(
            through(front, "GET", path, &token, "").await,
            403,
            "stale approval: {path}"
        );
    }
    assert_eq!(through(front, "GET", "/doc", &token, "").await, 200);
    let nav = b
        .get(format!("{base}/ADMIN/users?x=1"))
        .header("accept", NAV)
        .send()
        .await
        .expect("navigation");
    assert_eq!(nav.status(), 302);
    let location = nav.headers()["location"]
        .to_str()
        .expect("location")
        .to_string();
    let relative = location.strip_prefix(&base).unwrap_or(&location);
    assert_eq!(
        relative, "/.qrgate/step-up?rd=%2FADMIN%2Fusers%3Fx%3D1",
        "{location}"
    );

    // The step-up through the proxy, approved by the session's own key.
    let page = b
        .get(format!("{base}{relative}"))
        .header("accept", NAV)
        .send()
        .await
        .expect("step-up page");
    assert_eq!(page.status(), 200);
    let html = page.text().await.expect("html");
    let marker = "data-attempt=\"";
    let start = html.find(marker).expect("attempt") + marker.len();
    let id = html[start..].split('"').next().expect("id").to_string();
    let url =
        qrgate::signer::attempt_url(&format!("{base}/.qrgate/auth/session/{id}")).expect("url");
    let phone = client();
    let req = qrgate::signer::scan(&phone, &url).await.expect("scan");
    qrgate::signer::approve(&phone, &url, &alice_key(), &req)
        .await
        .expect("alice confirms");
    assert_eq!(claim_at(&b, &base, &base, &id).await.status(), 200);
    for path in ["/admin/users", "/ADMIN;x/users"] {
        assert_eq!(
            through(front, "GET", path, &token, "").await,
            200,
            "confirmed: {path}"
        );
    }
    assert_eq!(
        through(front, "POST", "/admin/users", &token, "").await,
        403,
        "a fresh approval does not widen the grant"
    );
}

/// `GET {prefix}/auth/session/verify` asked directly, as a proxy would, with the session
/// cookie and the given headers: status, body, `X-QRGate-Redirect`.
async fn verify(
    gw: &TestGateway,
    token: Option<&str>,
    headers: &[(&str, &str)],
) -> (u16, Value, Option<String>) {
    let mut req = client().get(gw.url("/.qrgate/auth/session/verify"));
    if let Some(t) = token {
        req = req.header("cookie", format!("qrgate_session={t}"));
    }
    for (n, v) in headers {
        req = req.header(*n, *v);
    }
    let resp = req.send().await.expect("verify");
    let status = resp.status().as_u16();
    let redirect = resp
        .headers()
        .get("x-qrgate-redirect")
        .and_then(|v| v.to_str().ok())
        .map(str::to_string);
    let body = resp.json().await.unwrap_or(Value::Null);
    (status, body, redirect)
}

const GET_DOC: &[(&str, &str)] = &[("x-forwarded-method", "GET"), ("x-forwarded-uri", "/doc")];

#[tokio::test]
async fn verify_refuses_a_restricted_session_without_the_original_request() {
    let gw = TestGateway::with(Setup {
        app_extra: RULES.into(),
        ..Setup::default()
    })
    .await;
    let (_b, token) = sign_in_at(&gw.url("")).await;
    let t = Some(token.as_str());

    let (status, body, _) = verify(&gw, t, &[]).await;
    assert_eq!(status, 403, "{body}");
    assert_eq!(body["error"], "original_request_unknown");
    let message = body["message"].as_str().expect("message");
    assert!(
        message.contains("X-Forwarded-Method") && message.contains("X-Forwarded-Uri"),
        "{message}"
    );

    let (status, body, _) = verify(&gw, t, GET_DOC).await;
    assert_eq!(
        (status, body["user"].as_str()),
        (200, Some("alice")),
        "{body}"
    );
    for (headers, code) in [
        (
            &[("x-forwarded-method", "POST"), ("x-forwarded-uri", "/doc")][..],
            "outside_grant",
        ),
        (
            &[
                ("x-forwarded-method", "GET"),
                ("x-forwarded-uri", "/doc"),
                ("x-http-method-override", "DELETE"),
            ][..],
            "outside_grant",
        ),
        (
            &[
                ("x-forwarded-method", "GET"),
                ("x-forwarded-uri", "/doc?_method=put"),
            ][..],
            "outside_grant",
        ),
        (
            &[
                ("x-forwarded-method", "PUT"),
                ("x-forwarded-uri", "/Comments/1"),
            ][..],
            "outside_grant",
        ),
        (
            &[
                ("x-forwarded-method", "GET"),
                ("x-forwarded-uri", "/doc"),
                ("x-forwarded-upgrade", "websocket"),
            ][..],
            "outside_grant",
        ),
        (&[("x-forwarded-method", "GET")][..], "bad_original_request"),
        (&[("x-forwarded-uri", "/doc")][..], "bad_original_request"),
        (
            &[("x-forwarded-method", "GET"), ("x-forwarded-uri", "doc")][..],
            "bad_original_request",
        ),
        (
            &[
                ("x-forwarded-method", "GET"),
                ("x-forwarded-uri", "/a%2f..%2fadmin"),
            ][..],
            "bad_path",
        ),
        (
            &[
                ("x-forwarded-method", "GET"),
                ("x-forwarded-uri", "/a/..;/admin"),
            ][..],
            "bad_path",
        ),
    ] {
        let (status, body, _) = verify(&gw, t, headers).await;
        assert_eq!(status, 403, "{headers:?}: {body}");
        assert_eq!(body["error"], code, "{headers:?}: {body}");
    }
    let (status, body, _) = verify(
        &gw,
        t,
        &[
            ("x-forwarded-method", "PUT"),
            ("x-forwarded-uri", "/comments/1"),
        ],
    )
    .await;
    assert_eq!(status, 200, "{body}");

    // Without a session: a browser navigation is told where to sign in, a program is not.
    let (status, body, redirect) = verify(
        &gw,
        None,
        &[
            ("x-forwarded-method", "GET"),
            ("x-forwarded-uri", "/doc?a=1"),
            ("accept", NAV),
        ],
    )
    .await;
    assert_eq!(status, 401, "{body}");
    assert_eq!(
        redirect.as_deref(),
        Some("/.qrgate/login?rd=%2Fdoc%3Fa%3D1")
    );
    let (status, _, redirect) = verify(&gw, None, GET_DOC).await;
    assert_eq!((status, redirect), (401, None));

    // A stale approval on a step-up path: a program gets 403 naming the page, a browser a
    // 401 the proxy turns into a redirect.
    gw.clock.advance(Duration::from_secs(31));
    let admin = &[
        ("x-forwarded-method", "GET"),
        ("x-forwarded-uri", "/Admin;x"),
    ];
    let (status, body, redirect) = verify(&gw, t, admin).await;
    assert_eq!((status, redirect), (403, None), "{body}");
    assert_eq!(body["error"], "step_up_required");
    assert_eq!(body["step_up"], "/.qrgate/step-up?rd=%2FAdmin%3Bx");
    let (status, body, redirect) = verify(&gw, t, &[admin[0], admin[1], ("accept", NAV)]).await;
    assert_eq!(status, 401, "{body}");
    assert_eq!(
        redirect.as_deref(),
        Some("/.qrgate/step-up?rd=%2FAdmin%3Bx")
    );
}

#[tokio::test]
async fn verify_without_the_original_request_still_vouches_for_a_full_grant() {
    let gw = TestGateway::with(Setup::default()).await;
    let (_b, token) = sign_in_at(&gw.url("")).await;
    let (status, body, _) = verify(&gw, Some(&token), &[]).await;
    assert_eq!(
        (status, body["user"].as_str()),
        (200, Some("alice")),
        "{body}"
    );
    let (status, _, redirect) = verify(&gw, None, &[]).await;
    assert_eq!((status, redirect), (401, None));
    // With the headers, a full grant is admitted for any method, override included.
    let (status, _, _) = verify(
        &gw,
        Some(&token),
        &[
            ("x-forwarded-method", "DELETE"),
            ("x-forwarded-uri", "/doc"),
            ("x-http-method-override", "PATCH"),
        ],
    )
    .await;
    assert_eq!(status, 200);

    // An app with step-up paths needs the original request even for a full grant.
    let stepped = TestGateway::with(Setup {
        app_extra: "step_up_paths = [\"/admin\"]\n".into(),
        ..Setup::default()
    })
    .await;
    let (_b, token) = sign_in_at(&stepped.url("")).await;
    let (status, body, _) = verify(&stepped, Some(&token), &[]).await;
    assert_eq!(
        (status, &body["error"]),
        (403, &Value::from("original_request_unknown"))
    );
    let (status, _, _) = verify(&stepped, Some(&token), GET_DOC).await;
    assert_eq!(status, 200);
}

/// A second app on the same gateway, on a host the front proxy is not configured for.
const OTHER_APP: &str =
    "[[app]]\nname = \"Other app\"\norigin = \"http://other.test\"\nupstream = \"127.0.0.1:9\"\n";

/// A session of the second app ([`OTHER_APP`]), minted through the store.
async fn other_app_session(gw: &TestGateway) -> String {
    let s = gw.state.settings();
    let id = s.user_identity(0).expect("alice");
    gw.state
        .sessions
        .create(s.app(AppId::new(1)).key.clone(), id.key, Default::default())
        .await
        .expect("memory store")
        .as_str()
        .to_string()
}

/// A session of another app on the same gateway is never vouched for by a front proxy that
/// guards one app, whatever `Host` the client names (in the header, or in an absolute-form
/// request line that names the guarded app while the header names the other).
async fn check_app_of_the_front(front: u16, gw: &TestGateway) {
    let token = other_app_session(gw).await;
    // The session is good for its own app, asked directly.
    let (status, _) = raw(
        gw.addr,
        &format!("GET /.qrgate/auth/session/verify HTTP/1.1\r\nHost: other.test\r\nCookie: qrgate_session={token}"),
    )
    .await;
    assert_eq!(status, 200, "the other app's session is live");
    let heads = [
        "GET /app/page HTTP/1.1\r\nHost: other.test".to_string(),
        format!("GET http://127.0.0.1:{front}/app/page HTTP/1.1\r\nHost: other.test"),
        "GET /app/page HTTP/1.1\r\nHost: other.test\r\nX-Forwarded-Host: other.test".to_string(),
    ];
    for head in heads {
        let (status, body) = raw(
            ([127, 0, 0, 1], front).into(),
            &format!("{head}\r\nAccept: application/json\r\nCookie: qrgate_session={token}"),
        )
        .await;
        // Caddy answers a Host no site names with an empty 200; the upstream is never reached.
        assert!(
            !body.contains("\"headers\"") && !body.contains("Other app"),
            "{head}: the upstream was reached with the other app's session: {status} {body}"
        );
    }
    // A request without any Host (HTTP/1.0) is the client's mistake, never a 5xx (with the
    // client's Host passed on, qrgate answered 404 unknown_host, which nginx shows as 500).
    let (status, body) = raw(
        ([127, 0, 0, 1], front).into(),
        "GET /app/page HTTP/1.0\r\nAccept: application/json",
    )
    .await;
    assert!(status < 500, "{status} {body}");
}

#[tokio::test]
async fn nginx_vouches_only_for_the_app_it_guards() {
    let front = free_port();
    let gw = TestGateway::with(Setup {
        origin: Some(format!("http://127.0.0.1:{front}")),
        server: "trust_forwarded_for = true\ntrusted_proxies = [\"127.0.0.1\"]\n".into(),
        tail: OTHER_APP.into(),
        ..Setup::default()
    })
    .await;
    let _nginx = start_nginx(front, &gw);
    wait_for(front).await;
    check_app_of_the_front(front, &gw).await;
}

#[tokio::test]
async fn caddy_vouches_only_for_the_app_it_guards() {
    let front = free_port();
    let gw = TestGateway::with(Setup {
        origin: Some(format!("http://127.0.0.1:{front}")),
        server: "trust_forwarded_for = true\ntrusted_proxies = [\"127.0.0.1\"]\n".into(),
        tail: OTHER_APP.into(),
        ..Setup::default()
    })
    .await;
    let _caddy = start_caddy(front, &gw);
    wait_for(front).await;
    check_app_of_the_front(front, &gw).await;
}

/// A gateway behind `front` allowing each client `verify_per_minute` verify calls.
async fn gateway_with_verify_rate(front: u16, verify_per_minute: u32) -> TestGateway {
    TestGateway::with(Setup {
        origin: Some(format!("http://127.0.0.1:{front}")),
        server: "trust_forwarded_for = true\ntrusted_proxies = [\"127.0.0.1\"]\n".into(),
        limits: format!("create_per_minute = 100000\nsigner_per_minute = 100000\nclaim_per_minute = 100000\nverify_per_minute = {verify_per_minute}\npending_per_client = 100000\n"),
        ..Setup::default()
    })
    .await
}

/// A client over its verify rate is refused with a status the proxy passes on (nginx turns
/// anything but 401 and 403 from its subrequest into a 500), never a 5xx.
async fn check_rate_refusal(front: u16) {
    let mut statuses = Vec::new();
    for _ in 0..12 {
        let (status, _) = raw(
            ([127, 0, 0, 1], front).into(),
            &format!(
                "GET /app/page HTTP/1.1\r\nHost: 127.0.0.1:{front}\r\nAccept: application/json"
            ),
        )
        .await;
        statuses.push(status);
    }
    assert!(
        statuses.iter().all(|s| *s == 401 || *s == 403),
        "{statuses:?}"
    );
    assert!(
        statuses.contains(&403),
        "the limit was reached: {statuses:?}"
    );
}

#[tokio::test]
async fn nginx_passes_on_the_verify_rate_limit() {
    let front = free_port();
    let gw = gateway_with_verify_rate(front, 3).await;
    let _nginx = start_nginx(front, &gw);
    wait_for(front).await;
    check_rate_refusal(front).await;
}

#[tokio::test]
async fn caddy_passes_on_the_verify_rate_limit() {
    let front = free_port();
    let gw = gateway_with_verify_rate(front, 3).await;
    let _caddy = start_caddy(front, &gw);
    wait_for(front).await;
    check_rate_refusal(front).await;
}
