//! The real binary: starts from a config file, serves, and stops within its grace period
//! on SIGTERM (never pingora's default 300 s).

use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use crate::common::{client, eventually, Reaped, ALICE_KEY_HEX};

#[tokio::test]
async fn sigterm_stops_the_gateway_within_the_grace_period() {
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .expect("probe")
        .local_addr()
        .expect("addr")
        .port();
    let dir = tempfile::tempdir().expect("dir");
    let config = dir.path().join("config.toml");
    std::fs::write(
        &config,
        format!(
            "[server]\nlisten = [\"127.0.0.1:{port}\"]\ngrace_period_seconds = 1\n\n[[app]]\nname = \"a\"\norigin = \"http://127.0.0.1:{port}\"\nupstream = \"127.0.0.1:9\"\n\n[[user]]\nname = \"alice\"\nkey = \"{ALICE_KEY_HEX}\"\n"
        ),
    )
    .expect("config");
    let mut child = Reaped(
        Command::new(env!("CARGO_BIN_EXE_qrgate"))
            .arg("run")
            .arg("--config")
            .arg(&config)
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("start gateway"),
    );
    let health = format!("http://127.0.0.1:{port}/.qrgate/healthz");
    let c = client();
    let up = eventually(Duration::from_secs(20), || {
        let c = c.clone();
        let health = health.clone();
        async move { c.get(health).send().await.is_ok_and(|r| r.status() == 200) }
    })
    .await;
    assert!(up, "gateway answered its health check");

    let signalled = Instant::now();
    let status = Command::new("kill")
        .arg("-TERM")
        .arg(child.0.id().to_string())
        .status()
        .expect("kill");
    assert!(status.success());
    let mut exited = None;
    while signalled.elapsed() < Duration::from_secs(15) {
        if let Ok(Some(s)) = child.0.try_wait() {
            exited = Some(s);
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    assert!(exited.is_some(), "still running 15 s after SIGTERM");
    // grace 1 s + pingora's final 1 s shutdown timeout, plus scheduling slack.
    assert!(
        signalled.elapsed() < Duration::from_secs(6),
        "took {:?}",
        signalled.elapsed()
    );
}
