//! `qrgate login` and `qrgate token`, the real binary against the real gateway: the link it
//! shows is approved on the phone (the reference signer), the token is kept in a file of
//! mode 0600 and works through the proxy, and `qrgate token` renews it once expired (only at
//! the SSO origin, from a file and lock nobody else could have changed); a denial on the
//! phone ends `qrgate login` with an error.

use std::os::unix::fs::PermissionsExt;
use std::process::Stdio;
use std::time::Duration;

use serde_json::Value;
use tokio::io::{AsyncBufReadExt, BufReader};

use crate::common::{alice_key, client};
use crate::programs_device::{open_verification, programs_gateway, sso};

/// Runs the gateway's clock ten times as fast as the program's real waits, so its polls are
/// never too soon; stops when dropped.
struct Ticker(tokio::task::JoinHandle<()>);

impl Ticker {
    fn start(clock: qrgate_core::clock::Clock) -> Ticker {
        Ticker(tokio::spawn(async move {
            loop {
                clock.advance(Duration::from_secs(1));
                tokio::time::sleep(Duration::from_millis(100)).await;
            }
        }))
    }
}

impl Drop for Ticker {
    fn drop(&mut self) {
        self.0.abort();
    }
}

/// Starts `qrgate login`; returns the child and the verification link it showed.
async fn start_login(base: &str, extra: &[&str]) -> (tokio::process::Child, String) {
    let mut child = tokio::process::Command::new(env!("CARGO_BIN_EXE_qrgate"))
        .args(["login", "--sso", base, "--app", "Test app"])
        .args(extra)
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .kill_on_drop(true)
        .spawn()
        .expect("qrgate login");
    let stderr = child.stderr.take().expect("stderr");
    let mut lines = BufReader::new(stderr).lines();
    let link = tokio::time::timeout(Duration::from_secs(20), async {
        while let Ok(Some(line)) = lines.next_line().await {
            if let Some(at) = line.find("http") {
                if line.contains("user_code=") {
                    return line[at..].trim().to_string();
                }
            }
        }
        String::new()
    })
    .await
    .expect("the link in time");
    assert!(!link.is_empty(), "qrgate login showed the link");
    // Keep draining its stderr so it never blocks on a full pipe.
    tokio::spawn(async move { while let Ok(Some(_)) = lines.next_line().await {} });
    (child, link)
}

async fn run(args: &[&str]) -> (bool, String) {
    let out = tokio::process::Command::new(env!("CARGO_BIN_EXE_qrgate"))
        .args(args)
        .output()
        .await
        .expect("qrgate");
    (
        out.status.success(),
        String::from_utf8_lossy(&out.stdout).trim().to_string(),
    )
}

/// `qrgate token --token-file file`: whether it succeeded, its standard output and error.
async fn token_run(file: &str) -> (bool, String, String) {
    let out = tokio::process::Command::new(env!("CARGO_BIN_EXE_qrgate"))
        .args(["token", "--token-file", file])
        .output()
        .await
        .expect("qrgate token");
    (
        out.status.success(),
        String::from_utf8_lossy(&out.stdout).trim().to_string(),
        String::from_utf8_lossy(&out.stderr).to_string(),
    )
}

async fn status_with(gw: &crate::common::TestGateway, token: &str) -> u16 {
    client()
        .get(gw.url("/private"))
        .header("accept", "application/json")
        .bearer_auth(token)
        .send()
        .await
        .expect("request")
        .status()
        .as_u16()
}

#[tokio::test]
async fn qrgate_login_keeps_a_private_token_that_works_and_qrgate_token_renews_it() {
    let (gw, dir) = programs_gateway("[programs]\npoll_interval_seconds = 1\n").await;
    let file = dir.path().join("tokens").join("test-app.json");
    let file_arg = file.to_str().expect("utf-8").to_string();
    let _ticker = Ticker::start(gw.clock.clone());
    let (child, link) = start_login(&sso(&gw), &["--read", "--token-file", &file_arg]).await;
    let (_, attempt) = open_verification(&gw, &link).await;
    let phone = client();
    let req = qrgate::cli::signer::scan(&phone, &attempt)
        .await
        .expect("scan");
    assert!(req
        .app
        .starts_with("qrgate CLI at 127.0.0.1 wants read access to Test app"));
    qrgate::cli::signer::approve(&phone, &attempt, &alice_key(), &req)
        .await
        .expect("approve");
    let out = tokio::time::timeout(Duration::from_secs(30), child.wait_with_output())
        .await
        .expect("qrgate login ends")
        .expect("output");
    assert!(out.status.success(), "{out:?}");
    assert!(out.stdout.is_empty(), "the token is kept, not printed");

    let mode = std::fs::metadata(&file)
        .expect("token file")
        .permissions()
        .mode();
    assert_eq!(mode & 0o777, 0o600);
    let kept: Value = serde_json::from_slice(&std::fs::read(&file).expect("read")).expect("json");
    let access = kept["access_token"].as_str().expect("access").to_string();
    assert_eq!(kept["scope"], "app:Test%20app:read offline_access");
    assert_eq!(status_with(&gw, &access).await, 200);

    // A live token is printed as kept; an expired one is renewed with its refresh token.
    assert_eq!(
        run(&["token", "--token-file", &file_arg]).await,
        (true, access.clone())
    );
    let mut expired = kept.clone();
    expired["expires_at"] = 0.into();
    std::fs::write(&file, serde_json::to_vec(&expired).expect("json")).expect("write");
    // Two runs at once refresh once (under the file's lock): no refresh token is presented
    // twice, which would be reuse and end the grant.
    let args = ["token", "--token-file", file_arg.as_str()];
    let ((ok, renewed), (other_ok, other)) = tokio::join!(run(&args), run(&args));
    assert!(ok && other_ok);
    assert_eq!(renewed, other, "one refresh, found by the second run");
    assert_ne!(renewed, access);
    assert_eq!(status_with(&gw, &renewed).await, 200);
    let rewritten: Value =
        serde_json::from_slice(&std::fs::read(&file).expect("read")).expect("json");
    assert_eq!(rewritten["access_token"], renewed.as_str());
    assert_ne!(rewritten["refresh_token"], kept["refresh_token"], "rotated");
    let mode = std::fs::metadata(&file)
        .expect("token file")
        .permissions()
        .mode();
    assert_eq!(mode & 0o777, 0o600);
    assert_eq!(
        rewritten["sso"],
        sso(&gw).as_str(),
        "the SSO origin is kept"
    );
}

#[tokio::test]
async fn qrgate_token_uses_no_file_others_could_change_and_refreshes_only_at_the_sso_origin() {
    let (gw, dir) = programs_gateway("[programs]\npoll_interval_seconds = 1\n").await;
    let file = dir.path().join("test-app.json");
    let file_arg = file.to_str().expect("utf-8").to_string();
    let lock = dir.path().join("test-app.json.lock");
    let _ticker = Ticker::start(gw.clock.clone());
    let (child, link) = start_login(&sso(&gw), &["--token-file", &file_arg]).await;
    let (_, attempt) = open_verification(&gw, &link).await;
    let phone = client();
    let req = qrgate::cli::signer::scan(&phone, &attempt)
        .await
        .expect("scan");
    qrgate::cli::signer::approve(&phone, &attempt, &alice_key(), &req)
        .await
        .expect("approve");
    let out = tokio::time::timeout(Duration::from_secs(30), child.wait_with_output())
        .await
        .expect("qrgate login ends")
        .expect("output");
    assert!(out.status.success(), "{out:?}");
    let kept: Value = serde_json::from_slice(&std::fs::read(&file).expect("read")).expect("json");
    let access = kept["access_token"].as_str().expect("access").to_string();
    let mode = |p: &std::path::Path, m: u32| {
        std::fs::set_permissions(p, std::fs::Permissions::from_mode(m)).expect("chmod")
    };

    // A token file or a lock that group or others may write is refused, and left as it was.
    for (path, m) in [
        (&file, 0o620),
        (&file, 0o602),
        (&file, 0o640),
        (&lock, 0o622),
    ] {
        mode(path, m);
        let (ok, stdout, stderr) = token_run(&file_arg).await;
        assert!(!ok, "{} at {m:o}", path.display());
        assert!(stdout.is_empty(), "no token printed: {stdout}");
        assert!(stderr.contains("open to group or others"), "{stderr}");
        mode(path, 0o600);
    }
    assert_eq!(
        token_run(&file_arg).await.1,
        access,
        "fixed, it serves again"
    );
    // A lock that is a link elsewhere is not followed.
    std::fs::remove_file(&lock).expect("rm lock");
    let elsewhere = dir.path().join("elsewhere");
    std::os::unix::fs::symlink(&elsewhere, &lock).expect("symlink");
    let (ok, _, stderr) = token_run(&file_arg).await;
    assert!(!ok && !elsewhere.exists(), "{stderr}");
    std::fs::remove_file(&lock).expect("rm link");

    // An expired token whose file names a token endpoint off the SSO origin: the refresh
    // token is sent nowhere.
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("listener");
    let elsewhere = format!(
        "http://127.0.0.1:{}/.qrgate/oidc/token",
        listener.local_addr().expect("addr").port()
    );
    let write = |v: &Value| {
        std::fs::write(&file, serde_json::to_vec(v).expect("json")).expect("write");
    };
    let mut moved = kept.clone();
    moved["expires_at"] = 0.into();
    moved["token_endpoint"] = elsewhere.as_str().into();
    write(&moved);
    let (ok, _, stderr) = token_run(&file_arg).await;
    assert!(!ok, "{stderr}");
    assert!(stderr.contains("not on its SSO origin"), "{stderr}");
    let mut unnamed = moved.clone();
    unnamed["token_endpoint"] = kept["token_endpoint"].clone();
    unnamed.as_object_mut().expect("object").remove("sso");
    write(&unnamed);
    let (ok, _, stderr) = token_run(&file_arg).await;
    assert!(!ok, "{stderr}");
    assert!(stderr.contains("SSO origin"), "{stderr}");
    let connected = tokio::time::timeout(Duration::from_millis(200), listener.accept()).await;
    assert!(connected.is_err(), "nothing reached the other origin");

    // The file as login kept it, expired: renewed at the SSO origin.
    let mut expired = kept.clone();
    expired["expires_at"] = 0.into();
    write(&expired);
    let (ok, renewed, stderr) = token_run(&file_arg).await;
    assert!(ok, "{stderr}");
    assert_ne!(renewed, access);
    assert_eq!(status_with(&gw, &renewed).await, 200);
}

#[tokio::test]
async fn a_denial_on_the_phone_ends_qrgate_login_with_an_error() {
    let (gw, _dir) = programs_gateway("[programs]\npoll_interval_seconds = 1\n").await;
    let _ticker = Ticker::start(gw.clock.clone());
    let (child, link) = start_login(&sso(&gw), &["--print"]).await;
    let (_, attempt) = open_verification(&gw, &link).await;
    let phone = client();
    qrgate::cli::signer::scan(&phone, &attempt)
        .await
        .expect("scan");
    qrgate::cli::signer::reject(&phone, &attempt)
        .await
        .expect("reject");
    let out = tokio::time::timeout(Duration::from_secs(30), child.wait_with_output())
        .await
        .expect("qrgate login ends")
        .expect("output");
    assert!(!out.status.success());
    assert!(out.stdout.is_empty(), "no token printed");
}

/// `qrgate login --print --sso <sso>`: whether it succeeded, and its standard error.
async fn login_error(sso: &str) -> (bool, String) {
    let out = tokio::time::timeout(
        Duration::from_secs(20),
        tokio::process::Command::new(env!("CARGO_BIN_EXE_qrgate"))
            .args(["login", "--print", "--app", "Test app", "--sso", sso])
            .output(),
    )
    .await
    .expect("qrgate login ends")
    .expect("qrgate login");
    (
        out.status.success(),
        String::from_utf8_lossy(&out.stderr).to_string(),
    )
}

#[tokio::test]
async fn qrgate_login_refuses_plain_http_but_to_a_loopback_host() {
    // Refused before any request: the host does not even resolve.
    let (ok, err) = login_error("http://sso.invalid").await;
    assert!(!ok);
    assert!(err.contains("plain http is refused"), "{err}");
    let (ok, err) = login_error("https://id.example.com/some/path").await;
    assert!(!ok);
    assert!(err.contains("no path"), "{err}");
}

/// A tiny HTTP server answering every request with `doc` (JSON), noting each request line.
struct MetadataServer {
    port: u16,
    doc: std::sync::Arc<std::sync::Mutex<String>>,
    seen: std::sync::Arc<std::sync::Mutex<Vec<String>>>,
    task: tokio::task::JoinHandle<()>,
}

impl MetadataServer {
    async fn start() -> MetadataServer {
        use tokio::io::{AsyncReadExt, AsyncWriteExt};
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
            .await
            .expect("bind");
        let port = listener.local_addr().expect("addr").port();
        let doc = std::sync::Arc::new(std::sync::Mutex::new(String::new()));
        let seen = std::sync::Arc::new(std::sync::Mutex::new(Vec::new()));
        let (d, s) = (doc.clone(), seen.clone());
        let task = tokio::spawn(async move {
            while let Ok((mut conn, _)) = listener.accept().await {
                let mut head = Vec::new();
                let mut buf = [0u8; 1024];
                while !head.windows(4).any(|w| w == b"\r\n\r\n") {
                    match conn.read(&mut buf).await {
                        Ok(0) | Err(_) => break,
                        Ok(n) => head.extend_from_slice(&buf[..n]),
                    }
                }
                let head = String::from_utf8_lossy(&head).to_string();
                s.lock()
                    .expect("lock")
                    .push(head.lines().next().unwrap_or_default().to_string());
                let body = d.lock().expect("lock").clone();
                let answer = format!(
                    "HTTP/1.1 200 OK\r\ncontent-type: application/json\r\ncontent-length: {}\r\nconnection: close\r\n\r\n{body}",
                    body.len()
                );
                let _ = conn.write_all(answer.as_bytes()).await;
            }
        });
        MetadataServer {
            port,
            doc,
            seen,
            task,
        }
    }
}

impl Drop for MetadataServer {
    fn drop(&mut self) {
        self.task.abort();
    }
}

#[tokio::test]
async fn qrgate_login_trusts_only_metadata_naming_its_origin_with_endpoints_on_it() {
    let server = MetadataServer::start().await;
    let origin = format!("http://127.0.0.1:{}", server.port);
    let on = |path: &str| format!("{origin}/.qrgate/oidc/{path}");
    let cases = [
        (
            "https://id.example.com".to_string(),
            on("device_authorization"),
            on("token"),
            "names the issuer \"https://id.example.com\"",
        ),
        (
            format!("{origin}/"),
            on("device_authorization"),
            on("token"),
            "RFC 8414",
        ),
        (
            origin.clone(),
            format!("http://127.0.0.2:{}/device", server.port),
            on("token"),
            "device_authorization_endpoint",
        ),
        (
            origin.clone(),
            on("device_authorization"),
            format!("http://localhost:{}/.qrgate/oidc/token", server.port),
            "token_endpoint",
        ),
    ];
    for (issuer, device, token, said) in cases {
        *server.doc.lock().expect("lock") = serde_json::json!({
            "issuer": issuer,
            "device_authorization_endpoint": device,
            "token_endpoint": token,
        })
        .to_string();
        let (ok, err) = login_error(&origin).await;
        assert!(!ok, "{issuer} {device} {token}");
        assert!(err.contains(said) && err.contains("refusing"), "{err}");
    }
    // Only the metadata was ever read: no device code was asked for anywhere.
    let seen = server.seen.lock().expect("lock").clone();
    assert_eq!(seen.len(), 4, "{seen:?}");
    assert!(
        seen.iter()
            .all(|l| l == "GET /.well-known/oauth-authorization-server HTTP/1.1"),
        "{seen:?}"
    );
}
