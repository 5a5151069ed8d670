//! qrgate behind operators' own proxies: the shipped nginx `auth_request` and Caddy
//! `forward_auth` samples (deploy/), run with the real nginx and Caddy in front of a real
//! upstream. No session: the login page; after a login through the proxy, the upstream gets
//! the identity headers; client-sent identity headers never reach it.

use std::path::Path;
use std::process::{Command, Stdio};
use std::time::Duration;

use serde_json::Value;

use crate::common::{
    client, echoed_headers, eventually, free_port, sign_in_at, Reaped, Setup, TestGateway, NAV,
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
    TestGateway::with(Setup {
        origin: Some(format!("http://127.0.0.1:{front}")),
        server: "trust_forwarded_for = true\ntrusted_proxies = [\"127.0.0.1\"]\n".into(),
        ..Setup::default()
    })
    .await
}

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
    // nginx makes redirects absolute; Caddy leaves them relative.
    let relative = location.strip_prefix(&base).unwrap_or(&location);
    assert!(
        relative.starts_with("/.qrgate/login?rd=/app/page"),
        "{location}"
    );

    let (b, _) = sign_in_at(&base).await;
    let resp = b
        .get(format!("{base}/app/page"))
        .header("accept", "application/json")
        .header("X-Auth-User", "mallory")
        .header("x-auth-roles", "admin")
        .header("X_Auth_User", "mallory")
        .header("x_auth_pubkey", "mallory")
        .header("X-AUTH-APP", "mallory")
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
}

#[tokio::test]
async fn nginx_auth_request_sample_guards_an_app() {
    let Some(nginx) = which("nginx") else {
        panic!("nginx is not installed (the test command installs it)");
    };
    let front = free_port();
    let gw = gateway_behind(front).await;
    let dir = tempfile::tempdir().expect("dir");
    let d = dir.path().display();
    std::fs::write(
        dir.path().join("qrgate.conf"),
        sample("nginx-forward-auth.conf", front, &gw),
    )
    .expect("sample");
    std::fs::write(
        dir.path().join("nginx.conf"),
        format!(
            "worker_processes 1;\ndaemon off;\npid {d}/nginx.pid;\nerror_log {d}/error.log;\nevents {{ worker_connections 256; }}\nhttp {{\n  access_log off;\n  client_body_temp_path {d}/body;\n  proxy_temp_path {d}/proxy;\n  fastcgi_temp_path {d}/fastcgi;\n  uwsgi_temp_path {d}/uwsgi;\n  scgi_temp_path {d}/scgi;\n  include {d}/qrgate.conf;\n}}\n"
        ),
    )
    .expect("nginx.conf");
    let _nginx = Reaped(
        Command::new(nginx)
            .arg("-p")
            .arg(dir.path())
            .arg("-c")
            .arg(dir.path().join("nginx.conf"))
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("start nginx"),
    );
    wait_for(front).await;
    check_front(front).await;
}

#[tokio::test]
async fn caddy_forward_auth_sample_guards_an_app() {
    let Some(caddy) = which("caddy") else {
        panic!("caddy is not installed (the test command installs it)");
    };
    let front = free_port();
    let gw = gateway_behind(front).await;
    let dir = tempfile::tempdir().expect("dir");
    let file = dir.path().join("Caddyfile");
    std::fs::write(&file, sample("Caddyfile.forward-auth", front, &gw)).expect("Caddyfile");
    let _caddy = Reaped(
        Command::new(caddy)
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
    wait_for(front).await;
    check_front(front).await;
}
