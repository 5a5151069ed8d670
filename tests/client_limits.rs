//! What one client can hold: its connections are capped (IPv4 address or IPv6 `/64`; a
//! trusted proxy's are not counted), and a request body must keep a minimum pace, so one
//! client holding slow bodies cannot take the connections others need.

use std::net::{IpAddr, SocketAddr};
use std::time::Duration;

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpSocket, TcpStream};

use crate::common::{eventually, read_until, Setup, TestGateway};

fn limits(extra: &str) -> String {
    format!("{}{extra}", Setup::default().limits)
}

/// A connection to `to` from the loopback address `from` (any of 127.0.0.0/8).
async fn connect_from(from: &str, to: SocketAddr) -> TcpStream {
    let socket = TcpSocket::new_v4().expect("socket");
    let ip: IpAddr = from.parse().expect("ip");
    socket.bind(SocketAddr::new(ip, 0)).expect("bind");
    socket.connect(to).await.expect("connect")
}

/// Sends one keep-alive request for a public path on `s`; whether a 200 came back.
async fn served(s: &mut TcpStream, gw: &TestGateway) -> bool {
    let head = format!(
        "GET /.qrgate/healthz HTTP/1.1\r\nHost: {}\r\nAccept: application/json\r\n\r\n",
        gw.addr
    );
    if s.write_all(head.as_bytes()).await.is_err() {
        return false;
    }
    let mut text = String::new();
    read_until(s, &mut text, "\r\n\r\n").await && text.starts_with("HTTP/1.1 200")
}

/// Whether the gateway closes `s` without an answer (EOF or reset) within 10 s.
async fn closed_unanswered(s: &mut TcpStream) -> bool {
    let mut buf = [0u8; 64];
    matches!(
        tokio::time::timeout(Duration::from_secs(10), s.read(&mut buf)).await,
        Ok(Ok(0) | Err(_))
    )
}

#[tokio::test]
async fn one_client_cannot_hold_more_than_its_connections_while_others_get_in() {
    let gw = TestGateway::with(Setup {
        limits: limits("max_connections_per_client = 3\n"),
        server: "trust_forwarded_for = true\ntrusted_proxies = [\"127.0.0.3/32\"]".into(),
        ..Setup::default()
    })
    .await;
    let mut held = Vec::new();
    for _ in 0..3 {
        let mut s = connect_from("127.0.0.1", gw.addr).await;
        assert!(served(&mut s, &gw).await, "within the cap");
        held.push(s);
    }
    let mut fourth = connect_from("127.0.0.1", gw.addr).await;
    let _ = fourth
        .write_all(format!("GET /public/x HTTP/1.1\r\nHost: {}\r\n\r\n", gw.addr).as_bytes())
        .await;
    assert!(closed_unanswered(&mut fourth).await, "over the cap");

    // Another client still gets in.
    let mut other = connect_from("127.0.0.2", gw.addr).await;
    assert!(served(&mut other, &gw).await, "another client");

    // A trusted proxy carries many clients: its connections are not counted.
    let mut proxied = Vec::new();
    for _ in 0..5 {
        let mut s = connect_from("127.0.0.3", gw.addr).await;
        assert!(served(&mut s, &gw).await, "a trusted proxy");
        proxied.push(s);
    }

    // A connection closed frees its place.
    drop(held.pop());
    let freed = eventually(Duration::from_secs(10), || async {
        let mut s = connect_from("127.0.0.1", gw.addr).await;
        served(&mut s, &gw).await
    })
    .await;
    assert!(freed, "a place was freed");
}

/// Starts a POST of a `declared`-byte body to `path` from 127.0.0.1, sending `first` bytes at
/// once and then `step` bytes every 100 ms until the gateway stops reading; returns what the
/// gateway answered (within 15 s).
async fn trickle(
    gw: &TestGateway,
    path: &str,
    declared: usize,
    first: usize,
    step: usize,
) -> String {
    trickle_with(gw, path, "", declared, first, step).await
}

/// [`trickle`] with `extra` header lines (each ending in `\r\n`) in the request head.
async fn trickle_with(
    gw: &TestGateway,
    path: &str,
    extra: &str,
    declared: usize,
    first: usize,
    step: usize,
) -> String {
    let s = connect_from("127.0.0.1", gw.addr).await;
    let (mut r, mut w) = s.into_split();
    let head = format!(
        "POST {path} HTTP/1.1\r\nHost: {}\r\nAccept: application/json\r\nContent-Type: application/json\r\nContent-Length: {declared}\r\n{extra}Connection: close\r\n\r\n{}",
        gw.addr,
        "x".repeat(first)
    );
    w.write_all(head.as_bytes()).await.expect("head");
    let writer = tokio::spawn(async move {
        let mut sent = first;
        while step > 0 && sent + step < declared {
            tokio::time::sleep(Duration::from_millis(100)).await;
            if w.write_all(&vec![b'x'; step]).await.is_err() {
                return;
            }
            sent += step;
        }
        // Hold the connection open without finishing the body.
        tokio::time::sleep(Duration::from_secs(30)).await;
    });
    let mut answer = Vec::new();
    let _ = tokio::time::timeout(Duration::from_secs(15), r.read_to_end(&mut answer)).await;
    writer.abort();
    String::from_utf8_lossy(&answer).into_owned()
}

/// An upstream that reads each request's whole body (by `Content-Length`) before answering
/// `200 read N`, as an app that parses its input does.
async fn body_reading_upstream() -> SocketAddr {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind");
    let addr = listener.local_addr().expect("addr");
    tokio::spawn(async move {
        while let Ok((mut s, _)) = listener.accept().await {
            tokio::spawn(async move {
                let mut text = String::new();
                if !read_until(&mut s, &mut text, "\r\n\r\n").await {
                    return;
                }
                let Some((head, rest)) = text.split_once("\r\n\r\n") else {
                    return;
                };
                let declared: usize = head
                    .lines()
                    .find_map(|l| {
                        let (n, v) = l.split_once(':')?;
                        n.eq_ignore_ascii_case("content-length")
                            .then(|| v.trim().parse().ok())?
                    })
                    .unwrap_or(0);
                let mut got = rest.len();
                let mut buf = vec![0u8; 16 * 1024];
                while got < declared {
                    match s.read(&mut buf).await {
                        Ok(n) if n > 0 => got += n,
                        _ => return,
                    }
                }
                let body = format!("read {got}");
                let reply = format!(
                    "HTTP/1.1 200 OK\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
                    body.len()
                );
                let _ = s.write_all(reply.as_bytes()).await;
            });
        }
    });
    addr
}

#[tokio::test]
async fn a_body_below_the_minimum_rate_is_cut_off_and_its_place_freed() {
    let upstream = body_reading_upstream().await;
    let gw = TestGateway::with(Setup {
        limits: limits(
            "max_connections_per_client = 1\nbody_timeout_seconds = 1\nmin_body_rate = 2000\n",
        ),
        upstream: Some(upstream.to_string()),
        ..Setup::default()
    })
    .await;
    // A body that trickles (about 100 bytes a second), proxied and to the gateway's own
    // endpoint, and one that stalls.
    for (path, declared, first, step) in [
        ("/public/upload", 100_000, 100, 10),
        ("/.qrgate/auth/session/create", 4_000, 10, 10),
        ("/public/upload", 100_000, 10, 0),
        ("/.qrgate/auth/session/create", 4_000, 10, 0),
    ] {
        let answer = trickle(&gw, path, declared, first, step).await;
        assert!(
            answer.starts_with("HTTP/1.1 408"),
            "{path} step {step}: {answer:?}"
        );
        assert!(answer.contains("body_too_slow"), "{answer}");
        // Its one place is free again for the same client.
        let freed = eventually(Duration::from_secs(10), || async {
            let mut s = connect_from("127.0.0.1", gw.addr).await;
            served(&mut s, &gw).await
        })
        .await;
        assert!(freed, "{path}: the slow client's place was freed");
    }
    // Asking to switch protocols does not waive the pace: the upstream never agreed (no
    // 101), so what follows the head is a request body like any other.
    for (upgrade, step) in [("websocket", 10), ("websocket", 0), ("h2c", 10)] {
        let answer = trickle_with(
            &gw,
            "/public/upload",
            &format!("Upgrade: {upgrade}\r\n"),
            100_000,
            100,
            step,
        )
        .await;
        assert!(
            answer.starts_with("HTTP/1.1 408") && answer.contains("body_too_slow"),
            "Upgrade: {upgrade}, step {step}: {answer:?}"
        );
    }
    // A body that keeps the pace is forwarded.
    let answer = trickle(&gw, "/public/upload", 50_000, 50_000, 0).await;
    assert!(answer.starts_with("HTTP/1.1 200"), "{answer:?}");
    assert!(answer.ends_with("read 50000"), "{answer:?}");
}

#[tokio::test]
async fn a_websocket_may_idle_past_the_body_timeout_once_switched() {
    use futures_util::{SinkExt, StreamExt};
    use tokio_tungstenite::tungstenite::Message;
    let upstream = crate::sessions_access::websocket_echo().await;
    let gw = TestGateway::with(Setup {
        limits: limits("body_timeout_seconds = 1\nmin_body_rate = 2000\n"),
        upstream: Some(upstream.to_string()),
        ..Setup::default()
    })
    .await;
    let (mut ws, resp) = tokio_tungstenite::connect_async(format!("ws://{}/public/ws", gw.addr))
        .await
        .expect("websocket through the gateway");
    assert_eq!(resp.status(), 101);
    // Idle well past the body's window and pace: neither applies after the 101. Waiting is
    // the point here, so this sleeps rather than polls.
    tokio::time::sleep(Duration::from_millis(2_500)).await;
    ws.send(Message::text("still here")).await.expect("send");
    let echoed = tokio::time::timeout(Duration::from_secs(5), ws.next())
        .await
        .expect("echo in time");
    assert!(
        matches!(echoed, Some(Ok(Message::Text(ref t))) if t.as_str() == "still here"),
        "{echoed:?}"
    );
}

/// Sends a keep-alive `method` to `path` declaring a large body and trickling it (100 bytes a
/// second, a pace no per-read timeout catches) after the answer; whether the gateway closes
/// the connection within 10 s of answering, and what it answered.
async fn closes_after_answering_a_trickled_body(
    gw: &TestGateway,
    method: &str,
    path: &str,
) -> (bool, String) {
    let s = connect_from("127.0.0.1", gw.addr).await;
    let (mut r, mut w) = s.into_split();
    let head = format!(
        "{method} {path} HTTP/1.1\r\nHost: {}\r\nAccept: application/json\r\nContent-Length: 1000000\r\n\r\nx",
        gw.addr
    );
    w.write_all(head.as_bytes()).await.expect("head");
    let writer = tokio::spawn(async move {
        loop {
            tokio::time::sleep(Duration::from_millis(100)).await;
            if w.write_all(&[b'x'; 10]).await.is_err() {
                return;
            }
        }
    });
    let mut answer = Vec::new();
    let closed = tokio::time::timeout(Duration::from_secs(10), r.read_to_end(&mut answer))
        .await
        .is_ok();
    writer.abort();
    (closed, String::from_utf8_lossy(&answer).into_owned())
}

#[tokio::test]
async fn a_body_left_unread_after_the_answer_cannot_hold_the_connection() {
    let gw = TestGateway::with(Setup {
        limits: limits("body_timeout_seconds = 1\nmin_body_rate = 2000\n"),
        ..Setup::default()
    })
    .await;
    // A denial (no session), a local page that reads no body, a bad path.
    for (method, path, status) in [
        ("POST", "/private/upload", "401"),
        ("GET", "/.qrgate/healthz", "200"),
        ("POST", "/a%2Fb", "400"),
        ("POST", "/public/x", "200"),
    ] {
        let (closed, answer) = closes_after_answering_a_trickled_body(&gw, method, path).await;
        assert!(
            answer.starts_with(&format!("HTTP/1.1 {status}")),
            "{method} {path}: {answer:?}"
        );
        assert!(
            closed,
            "{method} {path}: still open after answering {answer:?}"
        );
    }
}

/// A client for the gateway's TLS listener, trusting `ca_pem`, connecting from `from`.
fn tls_client_from(ca_pem: &str, from: &str) -> reqwest::Client {
    let ca = reqwest::Certificate::from_pem(ca_pem.as_bytes()).expect("ca");
    reqwest::Client::builder()
        .add_root_certificate(ca)
        .tls_built_in_root_certs(false)
        .local_address(from.parse::<IpAddr>().expect("ip"))
        .timeout(Duration::from_secs(20))
        .build()
        .expect("client")
}

#[tokio::test]
async fn connections_mid_tls_handshake_count_against_their_client() {
    let tls = crate::common::free_port();
    let dir = tempfile::tempdir().expect("pki dir");
    let (ca, chain, key) = crate::common::test_pki("handshakes");
    let (cert, key_file) = (dir.path().join("cert.pem"), dir.path().join("key.pem"));
    std::fs::write(&cert, &chain).expect("cert");
    std::fs::write(&key_file, &key).expect("key");
    let server = format!(
        "tls_listen = [\"127.0.0.1:{tls}\"]\ntls_cert = \"{}\"\ntls_key = \"{}\"\n[limits]\nmax_connections_per_client = 2",
        cert.display(),
        key_file.display()
    );
    let origin = format!("https://127.0.0.1:{tls}");
    let _gw = crate::operate::Binary::start_with(
        &server,
        Some(origin.clone()),
        "",
        &crate::operate::alice("\"staff\""),
    )
    .await;
    let to: SocketAddr = format!("127.0.0.1:{tls}").parse().expect("addr");
    let healthz = format!("{origin}/.qrgate/healthz");

    // A completed handshake's place is handed to its connection, counted once: two
    // keep-alive connections of one client fill its two places, and the third is closed.
    let (first, second) = (
        tls_client_from(&ca, "127.0.0.3"),
        tls_client_from(&ca, "127.0.0.3"),
    );
    for c in [&first, &second] {
        let status = c.get(&healthz).send().await.expect("served").status();
        assert_eq!(status, 200);
    }
    let mut third = connect_from("127.0.0.3", to).await;
    assert!(closed_unanswered(&mut third).await, "a third connection");

    // Connections that never start their handshake hold their client's places too: once
    // two do, the next is closed at once instead of waiting out the TLS layer's minute.
    let mut idle = Vec::new();
    let deadline = tokio::time::Instant::now() + Duration::from_secs(10);
    let mut refused = false;
    while !refused && tokio::time::Instant::now() < deadline {
        let mut probe = connect_from("127.0.0.1", to).await;
        let mut buf = [0u8; 1];
        refused = matches!(
            tokio::time::timeout(Duration::from_millis(500), probe.read(&mut buf)).await,
            Ok(Ok(0) | Err(_))
        );
        idle.push(probe);
    }
    assert!(refused, "a client mid-handshake was never capped");
    assert!(idle.len() >= 3, "{} connections", idle.len());
    // Another client still gets in over TLS.
    let other = tls_client_from(&ca, "127.0.0.2");
    let status = other.get(&healthz).send().await.expect("served").status();
    assert_eq!(status, 200);
    drop((first, second));
}

#[tokio::test]
async fn the_gateways_own_endpoints_answer_expect_continue() {
    let gw = TestGateway::with(Setup {
        limits: limits("body_timeout_seconds = 1\nmin_body_rate = 2000\n"),
        ..Setup::default()
    })
    .await;
    let mut s = connect_from("127.0.0.1", gw.addr).await;
    let body = "{}";
    let head = format!(
        "POST /.qrgate/auth/session/create HTTP/1.1\r\nHost: {}\r\nOrigin: http://{}\r\nAccept: application/json\r\nContent-Type: application/json\r\nContent-Length: {}\r\nExpect: 100-continue\r\nConnection: close\r\n\r\n",
        gw.addr,
        gw.addr,
        body.len()
    );
    s.write_all(head.as_bytes()).await.expect("head");
    // The body is sent only once the gateway asks for it, as a strict client does.
    let mut text = String::new();
    assert!(read_until(&mut s, &mut text, "\r\n\r\n").await, "{text:?}");
    assert!(text.starts_with("HTTP/1.1 100"), "{text:?}");
    s.write_all(body.as_bytes()).await.expect("body");
    let mut rest = Vec::new();
    tokio::time::timeout(Duration::from_secs(10), s.read_to_end(&mut rest))
        .await
        .expect("answer in time")
        .expect("read");
    let rest = String::from_utf8_lossy(&rest);
    let full = format!("{text}{rest}");
    assert!(full.contains("HTTP/1.1 201"), "{full:?}");
}
