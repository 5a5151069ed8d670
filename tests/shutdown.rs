//! Shutting down: the real binary stops within its grace period on SIGTERM (never pingora's
//! default 300 s), and a request already on its way when shutdown begins is answered.

use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use tokio::io::{AsyncReadExt, AsyncWriteExt};

use crate::common::{client, eventually, Reaped, TestGateway, ALICE_KEY_HEX};

/// Sends one request on `conn` and reads its whole answer (head and `Content-Length` body).
async fn round_trip(conn: &mut tokio::net::TcpStream, host: &str) -> String {
    conn.write_all(format!("GET /.qrgate/healthz HTTP/1.1\r\nHost: {host}\r\n\r\n").as_bytes())
        .await
        .expect("write");
    let mut got = Vec::new();
    let mut buf = [0u8; 4096];
    loop {
        let n = tokio::time::timeout(Duration::from_secs(10), conn.read(&mut buf))
            .await
            .expect("answer in time")
            .expect("read");
        got.extend_from_slice(&buf[..n]);
        let text = String::from_utf8_lossy(&got).to_string();
        if n == 0 || text.ends_with('}') {
            return text;
        }
    }
}

#[tokio::test]
async fn a_request_arriving_as_shutdown_begins_is_answered_then_quiet_connections_close() {
    let gw = TestGateway::start().await;
    let host = gw.addr.to_string();
    let mut busy = tokio::net::TcpStream::connect(gw.addr)
        .await
        .expect("connect");
    let mut quiet = tokio::net::TcpStream::connect(gw.addr)
        .await
        .expect("connect");
    // Both connections are in (each answered once) and now idle between requests.
    assert!(round_trip(&mut busy, &host)
        .await
        .starts_with("HTTP/1.1 200"));
    assert!(round_trip(&mut quiet, &host)
        .await
        .starts_with("HTTP/1.1 200"));

    gw.begin_shutdown();
    // A request already on its way when shutdown begins is answered, not cut off...
    let answer = round_trip(&mut busy, &host).await;
    assert!(answer.starts_with("HTTP/1.1 200"), "{answer}");
    assert!(
        answer.to_ascii_lowercase().contains("connection: close"),
        "{answer}"
    );
    // ...and a connection that stays quiet is closed once the drain window is over.
    let mut buf = [0u8; 16];
    let closed = tokio::time::timeout(Duration::from_secs(10), quiet.read(&mut buf))
        .await
        .expect("closed within the drain window");
    assert!(matches!(closed, Ok(0) | Err(_)), "{closed:?}");
}

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
        crate::common::in_own_group(&mut Command::new(env!("CARGO_BIN_EXE_qrgate")))
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
