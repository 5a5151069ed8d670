//! Hardening through the real gateway: every class an independent client found, and the
//! limits a production gateway must enforce (request heads, rates, pending attempts, slow and
//! idle clients, open connections, the same-network policy).

use std::net::SocketAddr;
use std::time::Duration;

use serde_json::Value;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

use crate::common::{
    alice_key, browser, client, create_attempt, echoed_headers, eventually, open_login, send_until,
    Setup, TestGateway, NAV,
};
use qrgate::cli::signer;

/// Sends raw bytes and reads the whole answer: (status, body); status 0 if the gateway
/// closed without answering.
async fn exchange(addr: SocketAddr, bytes: &[u8]) -> (u16, String) {
    let mut s = TcpStream::connect(addr).await.expect("connect");
    // A refusal may come (and the connection close) before everything is written.
    let _ = s.write_all(bytes).await;
    read_answer(s).await
}

/// Like [`exchange`], then closes the sending side: the request ends where the bytes end.
async fn exchange_and_close(addr: SocketAddr, bytes: &[u8]) -> (u16, String) {
    let mut s = TcpStream::connect(addr).await.expect("connect");
    let _ = s.write_all(bytes).await;
    let _ = s.shutdown().await;
    read_answer(s).await
}

async fn read_answer(mut s: TcpStream) -> (u16, String) {
    let mut buf = Vec::new();
    let _ = tokio::time::timeout(Duration::from_secs(20), s.read_to_end(&mut buf))
        .await
        .expect("answer in time");
    let text = String::from_utf8_lossy(&buf).into_owned();
    let status = text
        .split(' ')
        .nth(1)
        .and_then(|s| s.parse().ok())
        .unwrap_or(0);
    let body = text
        .split_once("\r\n\r\n")
        .map(|(_, b)| b.to_string())
        .unwrap_or_default();
    (status, body)
}

/// Raises the open-file limit as far as allowed; returns the soft limit now in force.
fn raise_fd_limit() -> u64 {
    let mut lim = libc::rlimit {
        rlim_cur: 0,
        rlim_max: 0,
    };
    // SAFETY: getrlimit/setrlimit write and read the struct we own.
    unsafe {
        if libc::getrlimit(libc::RLIMIT_NOFILE, &mut lim) != 0 {
            return 1024;
        }
        lim.rlim_cur = lim.rlim_max.min(65_536);
        libc::setrlimit(libc::RLIMIT_NOFILE, &lim);
        libc::getrlimit(libc::RLIMIT_NOFILE, &mut lim);
    }
    lim.rlim_cur
}

/// Every endpoint of the gateway that reads a body, with a valid attempt where one is needed.
async fn body_endpoints(gw: &TestGateway) -> Vec<String> {
    let b = browser();
    let (id, _, _) = open_login(gw, &b, "/").await;
    vec![
        "/.qrgate/auth/session/create".into(),
        format!("/.qrgate/auth/session/{id}/scan"),
        format!("/.qrgate/auth/session/{id}/approve"),
        format!("/.qrgate/auth/session/{id}/reject"),
        format!("/.qrgate/auth/session/{id}/claim"),
        "/.qrgate/pubky/relay/AAAA".into(),
        "/.qrgate/logout".into(),
    ]
}

#[tokio::test]
async fn broken_chunked_framing_is_the_clients_error_everywhere() {
    let gw = TestGateway::with(Setup {
        app_extra: "signers = [\"native\", \"pubky\", \"tana\"]\npublic_paths = [\"/public\"]\n"
            .into(),
        ..Setup::default()
    })
    .await;
    let framings: [&[u8]; 5] = [
        b"zz\r\nabc\r\n0\r\n\r\n",                     // chunk size not hex
        b"ffffffffffffffffffffff\r\nabc\r\n0\r\n\r\n", // size overflows
        b"3\r\nabcX0\r\n\r\n",                         // no CRLF after the data
        b"3;ext\r\nab",                                // truncated, then closed
        b"-1\r\nabc\r\n0\r\n\r\n",                     // negative size
    ];
    let mut paths = body_endpoints(&gw).await;
    paths.push("/public/upload".into());
    for path in &paths {
        for framing in framings {
            let mut req = format!(
                "POST {path} HTTP/1.1\r\nHost: {}\r\nOrigin: http://{}\r\nContent-Type: application/json\r\nTransfer-Encoding: chunked\r\nConnection: close\r\n\r\n",
                gw.addr, gw.addr
            )
            .into_bytes();
            req.extend_from_slice(framing);
            let (status, body) = exchange_and_close(gw.addr, &req).await;
            assert!(
                status == 0 || (400..500).contains(&status),
                "{path} with {:?}: {status} {body}",
                String::from_utf8_lossy(framing)
            );
        }
    }
    // And the gateway still serves.
    let health = client()
        .get(gw.url("/.qrgate/healthz"))
        .send()
        .await
        .expect("health");
    assert_eq!(health.status(), 200);
}

#[tokio::test]
async fn double_encoding_is_refused_on_every_route() {
    let gw = TestGateway::start().await;
    let c = client();
    let mut refused = 0;
    for prefix in ["/public/", "/", "/.qrgate/", "/private/"] {
        for tail in [
            "%252e%252e/admin",
            "%252E%252E/admin",
            "..%252fadmin",
            "%252fadmin",
            "%255cadmin",
            "%2500",
            "%250d%250a",
            "%2525252e",
            "%25%32%65%25%32%65/admin",
        ] {
            let (status, body) = crate::common::raw(
                gw.addr,
                &format!("GET {prefix}{tail} HTTP/1.1\r\nHost: {}", gw.addr),
            )
            .await;
            assert_eq!(status, 400, "{prefix}{tail}: {body}");
            assert!(body.contains("bad_path"), "{body}");
            refused += 1;
        }
    }
    assert_eq!(refused, 36);
    // A literal percent sign (one level of encoding) is still a path like any other.
    let resp = c
        .get(gw.url("/public/100%25"))
        .send()
        .await
        .expect("public");
    assert_eq!(resp.status(), 200);
    let echo: Value = resp.json().await.expect("echo");
    assert_eq!(echo["uri"], "/public/100%25");
}

#[tokio::test]
async fn request_heads_are_capped_with_414_and_431() {
    let gw = TestGateway::start().await;
    let host = gw.addr.to_string();
    let get = |path: String, headers: String| {
        format!("GET {path} HTTP/1.1\r\nHost: {host}\r\n{headers}Connection: close\r\n\r\n")
    };
    // At the limits: answered normally.
    let line_ok = format!(
        "/public/{}",
        "a".repeat(8192 - "GET /public/ HTTP/1.1".len())
    );
    let (s, _) = exchange(gw.addr, get(line_ok.clone(), String::new()).as_bytes()).await;
    assert_eq!(s, 200, "an 8 KiB request line is fine");
    let (s, body) = exchange(
        gw.addr,
        get(format!("{line_ok}a"), String::new()).as_bytes(),
    )
    .await;
    assert_eq!(s, 414, "{body}");
    assert!(body.contains("request_line_too_long"));

    // 98 here, plus Host and Connection: 100 fields.
    let hundred: String = (0..98).map(|i| format!("x-h{i}: v\r\n")).collect();
    // (On a local route: the demo upstream, like many servers, takes at most 100 itself.)
    let (s, _) = exchange(
        gw.addr,
        get("/.qrgate/healthz".into(), hundred.clone()).as_bytes(),
    )
    .await;
    assert_eq!(s, 200, "100 header fields are fine");
    let (s, body) = exchange(
        gw.addr,
        get("/.qrgate/healthz".into(), format!("{hundred}x-more: v\r\n")).as_bytes(),
    )
    .await;
    assert_eq!(s, 431, "{body}");
    assert!(body.contains("headers_too_large"), "{body}");

    // 100 KB in one header on the login API, and about 1 MB over many lines.
    let big = format!("x-big: {}\r\n", "v".repeat(100_000));
    let create = format!(
        "POST /.qrgate/auth/session/create HTTP/1.1\r\nHost: {host}\r\nOrigin: http://{host}\r\n{big}Content-Length: 0\r\nConnection: close\r\n\r\n"
    );
    let (s, body) = exchange(gw.addr, create.as_bytes()).await;
    assert_eq!(s, 431, "{body}");
    let many: String = (0..20)
        .map(|i| format!("x-{i}: {}\r\n", "v".repeat(50_000)))
        .collect();
    let (s, _) = exchange(gw.addr, get("/".into(), many).as_bytes()).await;
    assert_eq!(s, 431);
    assert_eq!(
        gw.state.logins().len(),
        0,
        "no attempt was created by a refused head"
    );
}

#[tokio::test]
async fn rates_and_pending_attempts_are_limited_per_client() {
    let gw = TestGateway::with(Setup {
        limits: "create_per_minute = 3\nsigner_per_minute = 4\nclaim_per_minute = 2\nverify_per_minute = 2\npending_per_client = 100\n".into(),
        ..Setup::default()
    })
    .await;
    let b = browser();
    for _ in 0..3 {
        open_login(&gw, &b, "/").await;
    }
    let page = b
        .get(gw.url("/.qrgate/login"))
        .header("accept", NAV)
        .send()
        .await
        .expect("page");
    assert_eq!(page.status(), 429);
    assert!(page.headers().contains_key("retry-after"));
    assert!(
        page.text().await.expect("html").contains("<html"),
        "a page for a browser"
    );
    let created = b
        .post(gw.url("/.qrgate/auth/session/create"))
        .header("origin", format!("http://{}", gw.addr))
        .send()
        .await
        .expect("create");
    assert_eq!(created.status(), 429);
    let v: Value = created.json().await.expect("json");
    assert_eq!(v["error"], "rate_limited");

    let c = client();
    let post = |path: String| {
        let c = c.clone();
        let url = gw.url(&path);
        async move {
            c.post(url)
                .body("{}")
                .send()
                .await
                .expect("post")
                .status()
                .as_u16()
        }
    };
    let mut statuses = Vec::new();
    for _ in 0..6 {
        statuses.push(post("/.qrgate/auth/session/sess_0000000000000000/scan".into()).await);
    }
    assert_eq!(statuses, [404, 404, 404, 404, 429, 429], "signer calls");
    assert_eq!(
        post("/.qrgate/pubky/relay/AAAA".into()).await,
        429,
        "the relay shares the signer bucket"
    );
    let verify = |c: reqwest::Client| {
        let url = gw.url("/.qrgate/auth/session/verify");
        async move { c.get(url).send().await.expect("verify").status().as_u16() }
    };
    let v: Vec<u16> = [
        verify(c.clone()).await,
        verify(c.clone()).await,
        verify(c.clone()).await,
    ]
    .into();
    // The verify endpoint's refusal is one nginx's auth_request passes on (a 429 shows as 500).
    assert_eq!(v, [401, 401, 403]);
    // Other routes are not limited.
    assert_eq!(
        client()
            .get(gw.url("/.qrgate/healthz"))
            .send()
            .await
            .expect("h")
            .status(),
        200
    );
}

#[tokio::test]
async fn one_client_cannot_hold_more_than_its_share_of_pending_logins() {
    let gw = TestGateway::with(Setup {
        limits: "create_per_minute = 100000\npending_per_client = 5\n".into(),
        ..Setup::default()
    })
    .await;
    let b = browser();
    for _ in 0..5 {
        open_login(&gw, &b, "/").await;
    }
    let created = b
        .post(gw.url("/.qrgate/auth/session/create"))
        .header("origin", format!("http://{}", gw.addr))
        .send()
        .await
        .expect("create");
    assert_eq!(created.status(), 429);
    let v: Value = created.json().await.expect("json");
    assert_eq!(v["error"], "too_many_pending");
    assert_eq!(gw.state.logins().len(), 5);
    // Another client (another loopback address) still can.
    let other = reqwest::Client::builder()
        .local_address("127.0.0.2".parse::<std::net::IpAddr>().ok())
        .build()
        .expect("client");
    let resp = other
        .post(gw.url("/.qrgate/auth/session/create"))
        .header("origin", format!("http://{}", gw.addr))
        .send()
        .await
        .expect("create");
    assert_eq!(resp.status(), 201);
}

#[tokio::test]
async fn forwarded_for_counts_only_behind_a_trusted_proxy() {
    let with = |server: &str| Setup {
        limits: "create_per_minute = 1\n".into(),
        server: server.into(),
        ..Setup::default()
    };
    let behind = TestGateway::with(with(
        "trust_forwarded_for = true\ntrusted_proxies = [\"127.0.0.1\"]\n",
    ))
    .await;
    let open = TestGateway::with(with("")).await;
    let create = |gw: &TestGateway, xff: &str| {
        let req = client()
            .post(gw.url("/.qrgate/auth/session/create"))
            .header("origin", format!("http://{}", gw.addr))
            .header("x-forwarded-for", xff.to_string());
        async move { req.send().await.expect("create").status().as_u16() }
    };
    // Behind a trusted proxy, each forwarded client has its own bucket.
    assert_eq!(create(&behind, "203.0.113.1").await, 201);
    assert_eq!(create(&behind, "203.0.113.2").await, 201);
    assert_eq!(create(&behind, "203.0.113.1").await, 429);
    // Without one, X-Forwarded-For is the client's say-so and changes nothing.
    assert_eq!(create(&open, "203.0.113.1").await, 201);
    assert_eq!(create(&open, "203.0.113.2").await, 429);
    // The upstream sees the forwarded chain only from the trusted setup.
    let echo: Value = client()
        .get(behind.url("/public/x"))
        .header("x-forwarded-for", "198.51.100.1")
        .send()
        .await
        .expect("get")
        .json()
        .await
        .expect("json");
    let xff: Vec<_> = echoed_headers(&echo)
        .into_iter()
        .filter(|(n, _)| n == "x-forwarded-for")
        .map(|(_, v)| v)
        .collect();
    assert_eq!(xff, ["198.51.100.1, 127.0.0.1"]);
}

#[tokio::test]
async fn slow_heads_are_cut_off_while_real_work_goes_on() {
    let gw = TestGateway::with(Setup {
        // Every connection here is 127.0.0.1's: lift the per-client cap (its own test is in
        // client_limits) so the slow heads are all held and cut by their deadline.
        limits: format!(
            "{}header_timeout_seconds = 1\nmax_connections_per_client = 100000\n",
            Setup::default().limits
        ),
        ..Setup::default()
    })
    .await;
    let fds = raise_fd_limit();
    // Each slow connection costs two descriptors here (client and gateway side).
    let n = usize::try_from(fds.saturating_sub(400) / 2)
        .unwrap_or(0)
        .min(2000);
    assert!(n >= 200, "only {fds} descriptors");
    let mut slow = Vec::with_capacity(n);
    for _ in 0..n {
        let mut s = TcpStream::connect(gw.addr).await.expect("connect");
        s.write_all(b"GET / HTTP/1.1\r\nHost: x\r\nX-Slow: ")
            .await
            .expect("partial head");
        slow.push(s);
    }
    let started = tokio::time::Instant::now();
    // Real work is served meanwhile: a proxied request and a whole login.
    let resp = client()
        .get(gw.url("/public/x"))
        .send()
        .await
        .expect("public");
    assert_eq!(resp.status(), 200);
    let b = browser();
    let (_, payload, _) = open_login(&gw, &b, "/").await;
    let url = signer::attempt_url(&payload).expect("url");
    let req = signer::scan(&client(), &url).await.expect("scan");
    signer::approve(&client(), &url, &alice_key(), &req)
        .await
        .expect("approve");

    // Every slow connection is closed by the gateway within the deadline (plus slack).
    let mut closed = 0;
    for mut s in slow {
        let mut buf = [0u8; 64];
        let read =
            tokio::time::timeout_at(started + Duration::from_secs(10), s.read(&mut buf)).await;
        if matches!(read, Ok(Ok(0)) | Ok(Err(_))) {
            closed += 1;
        }
    }
    assert_eq!(closed, n, "all {n} slow heads cut off");
}

#[tokio::test]
async fn idle_keepalive_connections_are_closed() {
    let gw = TestGateway::with(Setup {
        limits: format!("{}keepalive_timeout_seconds = 1\n", Setup::default().limits),
        ..Setup::default()
    })
    .await;
    let mut s = TcpStream::connect(gw.addr).await.expect("connect");
    s.write_all(format!("GET /.qrgate/healthz HTTP/1.1\r\nHost: {}\r\n\r\n", gw.addr).as_bytes())
        .await
        .expect("write");
    let mut buf = vec![0u8; 4096];
    let n = s.read(&mut buf).await.expect("answer");
    assert!(String::from_utf8_lossy(&buf[..n]).starts_with("HTTP/1.1 200"));
    // Nothing more is sent; the gateway closes the idle connection.
    let closed = tokio::time::timeout(Duration::from_secs(10), async {
        loop {
            match s.read(&mut buf).await {
                Ok(0) | Err(_) => return true,
                Ok(_) => continue,
            }
        }
    })
    .await;
    assert_eq!(closed, Ok(true));
}

/// Starts a login attempt and opens its event stream on a raw connection, returned once the
/// first event has arrived.
async fn open_event_stream(gw: &TestGateway) -> TcpStream {
    let (id, cookie) = create_attempt(&client(), &gw.url("")).await;
    let head = format!(
        "GET /.qrgate/auth/session/{id}/events HTTP/1.1\r\nHost: {}\r\nCookie: {cookie}\r\n\r\n",
        gw.addr
    );
    let (s, text, seen) = send_until(gw.addr, &head, "event: pending").await;
    assert!(seen, "no first event: {text:?}");
    s
}

#[tokio::test]
async fn open_connections_are_capped() {
    let gw = TestGateway::with(Setup {
        limits: format!(
            "{}max_connections = 20\nheader_timeout_seconds = 60\n",
            Setup::default().limits
        ),
        ..Setup::default()
    })
    .await;
    let mut held = Vec::new();
    for _ in 0..17 {
        let mut s = TcpStream::connect(gw.addr).await.expect("connect");
        s.write_all(b"GET / HTTP/1.1\r\n").await.expect("partial");
        held.push(s);
    }
    // Open event streams are served beside pingora, in tasks of their own: they hold their
    // connection's slot all the same.
    for _ in 0..3 {
        held.push(open_event_stream(&gw).await);
    }
    // Wait until the gateway holds all twenty, then the next connection is closed at once.
    let addr = gw.addr;
    let health = move || async move {
        let head =
            format!("GET /.qrgate/healthz HTTP/1.1\r\nHost: {addr}\r\nConnection: close\r\n\r\n");
        exchange(addr, head.as_bytes()).await.0
    };
    let full = eventually(
        Duration::from_secs(10),
        || async move { health().await == 0 },
    )
    .await;
    assert!(full, "the 21st connection is refused");
    drop(held);
    let freed = eventually(
        Duration::from_secs(10),
        || async move { health().await == 200 },
    )
    .await;
    assert!(freed, "slots come back when connections close");
}

#[tokio::test]
async fn approvals_must_come_from_the_browsers_network_when_configured() {
    let phone_at = |ip: &str| {
        reqwest::Client::builder()
            .local_address(ip.parse::<std::net::IpAddr>().ok())
            .timeout(Duration::from_secs(20))
            .build()
            .expect("client")
    };
    for (policy, phone_ip, allowed) in [
        ("\"ip\"", "127.0.0.1", true),
        ("\"ip\"", "127.0.0.2", false),
        ("24", "127.0.0.9", true),
        ("24", "127.0.1.9", false),
        ("\"off\"", "127.0.1.9", true),
    ] {
        let gw = TestGateway::with(Setup {
            login: format!("same_network = {policy}\n"),
            ..Setup::default()
        })
        .await;
        let b = browser();
        let (_, payload, _) = open_login(&gw, &b, "/").await;
        let url = signer::attempt_url(&payload).expect("url");
        let phone = phone_at(phone_ip);
        let req = signer::scan(&phone, &url).await.expect("scan");
        let result = signer::approve(&phone, &url, &alice_key(), &req).await;
        match (allowed, result) {
            (true, Ok(user)) => assert_eq!(user, "alice"),
            (false, Err(signer::SignerError::Refused { status, message })) => {
                assert_eq!(status, 403, "{policy} {phone_ip}");
                assert!(message.contains("same network"), "{message}");
            }
            (want, got) => panic!("{policy} from {phone_ip}: want allowed={want}, got {got:?}"),
        }
    }
}
