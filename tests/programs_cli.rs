//! `qrgate login` and `qrgate token`, the real binary against the real gateway: the link it
//! shows is approved on the phone (the reference signer), the token is kept in a file of
//! mode 0600 and works through the proxy, and `qrgate token` renews it once expired; a
//! denial on the phone ends `qrgate login` with an error.

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
