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

use serde_json::Value;

use crate::common::{
    client, echoed_headers, eventually, free_port, raw, sign_in_at, Reaped, Setup, TestGateway, NAV,
};

/// The sample with its three placeholder addresses replaced.
pub(crate) fn sample(file: &str, front: u16, gateway: &TestGateway) -> String {
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
pub(crate) async fn gateway_behind(front: u16) -> TestGateway {
    gateway_behind_with(front, Setup::default().app_extra).await
}

/// [`gateway_behind`] with these app settings.
pub(crate) async fn gateway_behind_with(front: u16, app_extra: String) -> TestGateway {
    behind(
        front,
        Setup {
            app_extra,
            ..Setup::default()
        },
    )
    .await
}

/// A gateway of `setup` whose app lives on the front proxy's origin, trusting that proxy's
/// `X-Forwarded-For`.
pub(crate) async fn behind(front: u16, setup: Setup) -> TestGateway {
    TestGateway::with(Setup {
        origin: Some(format!("http://127.0.0.1:{front}")),
        server: "trust_forwarded_for = true\ntrusted_proxies = [\"127.0.0.1\"]\n".into(),
        ..setup
    })
    .await
}

/// A read-only grant with a read-write entry (and a read entry inside it), and a step-up path.
pub(crate) const RULES: &str = "access = \"read\"\naccess_paths = [{ path = \"/comments/\", access = \"read-write\" }, { path = \"/comments/locked/\", access = \"read\" }]\nstep_up_paths = [\"/admin\"]\nstep_up_max_age_seconds = 30\n";

pub(crate) fn which(cmd: &str) -> Option<String> {
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

pub(crate) async fn wait_for(front: u16) {
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
pub(crate) async fn check_front(front: u16) {
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
        .header("X-Auth-Client", "mallory")
        .header("X-Auth-Cookie", "mallory")
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
            "GET /app/page HTTP/1.1\r\nHost: 127.0.0.1:{front}\r\nAccept: application/json\r\nCookie: qrgate_session=p1; qrgate_session_bind=p2; qrgate_session_trip=p3; qrgate_session={token}; app=1;qrgate_session_bind=b1; __Host-qrgate_session_bind=b2; __Host-qrgate_session=h1; qrgate_session_trip=t1; __Host-qrgate_session_trip=t2; theme=dark"
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
    for secret in [
        token.as_str(),
        "b1",
        "b2",
        "h1",
        "t1",
        "t2",
        "p1",
        "p2",
        "p3",
        "qrgate_session",
    ] {
        assert!(
            !all.contains(secret),
            "{secret} reached the upstream: {all}"
        );
    }

    // The app's own `Authorization` reaches it as sent; a bearer token of qrgate (here one
    // that admits nobody, beside a live session) never does.
    for (sent, reaches) in [
        ("Basic dXNlcjpwYXNz", true),
        ("Bearer app-own-token", true),
        (&format!("Bearer qga_{}", "A".repeat(43))[..], false),
        (&format!("bEaReR  qga_{} ", "b".repeat(43))[..], false),
    ] {
        let resp = b
            .get(format!("{base}/app/page"))
            .header("accept", "application/json")
            .header("authorization", sent)
            .send()
            .await
            .expect("with authorization");
        assert_eq!(resp.status(), 200, "{sent}");
        let echo: Value = resp.json().await.expect("echo");
        let got: Vec<String> = echoed_headers(&echo)
            .into_iter()
            .filter(|(n, v)| n == "authorization" && !v.is_empty())
            .map(|(_, v)| v)
            .collect();
        if reaches {
            assert_eq!(got, [sent], "{sent}");
        } else {
            assert!(got.is_empty(), "{sent} reached the upstream: {got:?}");
        }
    }
}

/// The status line and headers of a raw request to the front proxy.
pub(crate) async fn raw_head(front: u16, head: &str) -> String {
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
pub(crate) fn start_nginx(front: u16, gw: &TestGateway) -> (Reaped, tempfile::TempDir) {
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
pub(crate) fn start_caddy(front: u16, gw: &TestGateway) -> (Reaped, tempfile::TempDir) {
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
pub(crate) async fn nginx_auth_request_sample_guards_an_app() {
    let front = free_port();
    let gw = gateway_behind(front).await;
    let _nginx = start_nginx(front, &gw);
    wait_for(front).await;
    check_front(front).await;
}

#[tokio::test]
pub(crate) async fn caddy_forward_auth_sample_guards_an_app() {
    let front = free_port();
    let gw = gateway_behind(front).await;
    let _caddy = start_caddy(front, &gw);
    wait_for(front).await;
    check_front(front).await;
}
