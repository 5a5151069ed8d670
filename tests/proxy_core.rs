//! The gateway core: decisions, identity headers, canonical paths, sessions, failures.

use std::time::Duration;

use serde_json::Value;

use crate::common::{client, echoed_headers, eventually, raw, Setup, TestGateway, NAV};

fn is_family(name: &str) -> bool {
    name.to_ascii_lowercase()
        .replace('_', "-")
        .starts_with("x-auth-")
}

#[tokio::test]
async fn spoofed_identity_headers_never_reach_the_upstream() {
    let gw = TestGateway::start().await;
    let token = gw.mint_session(0).await;
    let host = gw.addr;
    let spoofs = "X-Auth-User: mallory\r\nx-auth-user: mallory2\r\nX-AUTH-USER: mallory3\r\n\
                  x_auth_user: mallory4\r\nX_Auth_User: mallory5\r\nX-Auth_Roles: admin\r\n\
                  x-auth-pubkey: evilkey\r\nX-Auth-App: other\r\nX-Auth-Extra: 1\r\n\
                  X-Forwarded-For: 6.6.6.6\r\nX-Forwarded-Host: evil.example\r\nX-Original-URI: /public\r\n\
                  Connection: close, X-Auth-User";
    // Public path without a session, and protected path with one.
    for (path, cookie, expect_user) in [
        ("/public/x", String::new(), None),
        (
            "/private",
            format!("\r\nCookie: a=1; {}={token}; b=2", gw.cookie_name()),
            Some("alice"),
        ),
    ] {
        let (status, body) = raw(
            host,
            &format!("GET {path} HTTP/1.1\r\nHost: {host}\r\nAccept: application/json\r\n{spoofs}{cookie}"),
        )
        .await;
        assert_eq!(status, 200, "{body}");
        let echo: Value = serde_json::from_str(&body).expect("echo json");
        let headers = echoed_headers(&echo);
        let family: Vec<_> = headers.iter().filter(|(k, _)| is_family(k)).collect();
        match expect_user {
            None => assert!(family.is_empty(), "public path leaked {family:?}"),
            Some(user) => {
                let alice = gw.state.settings().user_identity(0).expect("alice");
                let want = [
                    ("x-auth-user", user),
                    ("x-auth-pubkey", alice.pubkey.as_str()),
                    ("x-auth-roles", "staff,ops"),
                    ("x-auth-app", "Test app"),
                ];
                assert_eq!(family.len(), want.len(), "exactly our four: {family:?}");
                for (k, v) in want {
                    assert!(
                        headers.iter().any(|(hk, hv)| hk == k && hv == v),
                        "{k}={v} in {family:?}"
                    );
                }
            }
        }
        let get = |n: &str| {
            headers
                .iter()
                .filter(|(k, _)| k == n)
                .map(|(_, v)| v.clone())
                .collect::<Vec<_>>()
        };
        assert_eq!(get("x-forwarded-for"), ["127.0.0.1"]);
        assert_eq!(get("x-forwarded-host"), [host.to_string()]);
        assert_eq!(get("x-forwarded-proto"), ["http"]);
        assert!(get("x-original-uri").is_empty());
        for c in get("cookie") {
            assert!(
                !c.contains(&gw.cookie_name()),
                "session cookie forwarded: {c}"
            );
        }
        if expect_user.is_some() {
            assert_eq!(get("cookie"), ["a=1; b=2"]);
        }
        for c in get("connection") {
            assert!(!c.to_ascii_lowercase().contains("x-auth"), "{c}");
        }
    }
}

#[tokio::test]
async fn browsers_are_redirected_and_programs_get_401() {
    let gw = TestGateway::start().await;
    let c = client();
    type Case<'a> = (&'a str, &'a [(&'a str, &'a str)], u16);
    let cases: &[Case] = &[
        ("GET", &[("accept", NAV)], 302),
        ("HEAD", &[("accept", NAV)], 302),
        (
            "GET",
            &[("accept", NAV), ("sec-fetch-mode", "navigate")],
            302,
        ),
        ("GET", &[("accept", "application/json")], 401),
        ("GET", &[("accept", "*/*")], 401),
        ("GET", &[("accept", "text/event-stream")], 401),
        (
            "GET",
            &[("accept", NAV), ("x-requested-with", "XMLHttpRequest")],
            401,
        ),
        ("GET", &[("accept", NAV), ("sec-fetch-mode", "cors")], 401),
        (
            "GET",
            &[
                ("accept", NAV),
                ("connection", "upgrade"),
                ("upgrade", "websocket"),
            ],
            401,
        ),
        ("POST", &[("accept", NAV)], 401),
        ("PUT", &[("accept", "application/json")], 401),
        ("DELETE", &[], 401),
    ];
    for (method, headers, want) in cases {
        let mut req = c.request(
            method.parse().expect("method"),
            gw.url("/app/page?x=1&y=/public"),
        );
        for (k, v) in *headers {
            req = req.header(*k, *v);
        }
        let resp = req.send().await.expect("send");
        assert_eq!(resp.status().as_u16(), *want, "{method} {headers:?}");
        if *want == 302 {
            let loc = resp.headers()["location"].to_str().expect("location");
            assert_eq!(
                loc,
                "/.qrgate/login?rd=%2Fapp%2Fpage%3Fx%3D1%26y%3D%2Fpublic"
            );
        } else {
            assert!(resp.headers()["www-authenticate"]
                .to_str()
                .expect("ascii")
                .starts_with("QRGate "));
            if *method != "HEAD" {
                let body: Value = resp.json().await.expect("json 401");
                assert_eq!(body["error"], "unauthenticated");
            }
        }
    }
}

#[tokio::test]
async fn public_path_tricks_never_reach_a_protected_path() {
    let gw = TestGateway::start().await;
    let host = gw.addr;
    // Each either is refused (400) or is treated as the protected path it really is (401).
    for target in [
        "/public/../admin",
        "/public/%2e%2e/admin",
        "/public/%2E%2E/admin",
        "/public/.%2e/admin",
        "/public/%2e./admin",
        "/public%2Fadmin",
        "/public%2fadmin",
        "/public%5Cadmin",
        "/public\\..\\admin",
        "/publicity",
        "/admin?x=/public",
        "/admin?/public/",
        "/admin#/public",
        "/admin%23/public",
        "/public/..%2Fadmin",
        "/public/%00/../../admin",
        "/./admin",
        "/public/./../admin",
        "/%70ublic/../admin",
        "/public/..;/admin",
    ] {
        let (status, body) = raw(
            host,
            &format!("GET {target} HTTP/1.1\r\nHost: {host}\r\nAccept: application/json"),
        )
        .await;
        assert!(
            status == 400 || status == 401,
            "{target} answered {status}: {body}"
        );
    }
    // What a public prefix does cover still works, canonicalized, and is forwarded canonical.
    let absolute = format!("http://{host}/public/b?x=1");
    for (target, forwarded) in [
        (absolute.as_str(), "/public/b?x=1"),
        ("//public/a", "/public/a"),
        ("/public/x/../y?q=1", "/public/y?q=1"),
        ("/%70ublic/z", "/public/z"),
    ] {
        let (status, body) = raw(
            host,
            &format!("GET {target} HTTP/1.1\r\nHost: {host}\r\nAccept: application/json"),
        )
        .await;
        assert_eq!(status, 200, "{target}: {body}");
        let echo: Value = serde_json::from_str(&body).expect("echo");
        assert_eq!(echo["uri"], forwarded, "{target}");
    }
}

#[tokio::test]
async fn expired_sessions_are_refused_and_swept() {
    let gw = TestGateway::start().await;
    let c = client();
    let get = |token: String| {
        let c = c.clone();
        let url = gw.url("/private");
        let name = gw.cookie_name().to_string();
        async move {
            c.get(url)
                .header("accept", "application/json")
                .header("cookie", format!("{name}={token}"))
                .send()
                .await
                .expect("send")
                .status()
                .as_u16()
        }
    };
    // Idle: 60 s without use ends it, but use slides the window.
    let idle = gw.mint_session(0).await;
    gw.clock.advance(Duration::from_secs(50));
    assert_eq!(get(idle.clone()).await, 200);
    gw.clock.advance(Duration::from_secs(50));
    assert_eq!(get(idle.clone()).await, 200, "used 50 s ago: still live");
    gw.clock.advance(Duration::from_secs(61));
    assert_eq!(get(idle.clone()).await, 401, "idle too long");

    // Absolute: 600 s from creation, however busy.
    let busy = gw.mint_session(0).await;
    for _ in 0..11 {
        gw.clock.advance(Duration::from_secs(50));
        assert_eq!(get(busy.clone()).await, 200);
    }
    gw.clock.advance(Duration::from_secs(50));
    assert_eq!(get(busy).await, 401, "absolute lifetime over");

    // The sweeper frees sessions nobody presents again.
    let _forgotten = gw.mint_session(0).await;
    assert_eq!(gw.state.sessions().len(), 1);
    gw.clock.advance(Duration::from_secs(61));
    let store = gw.state.sessions().clone();
    assert!(
        eventually(Duration::from_secs(10), || {
            let s = store.clone();
            async move { s.is_empty() }
        })
        .await,
        "sweeper removed it"
    );

    // Garbage cookies fail closed.
    for bad in ["", "x", "%%%", &"A".repeat(43), &"é".repeat(20)] {
        assert_eq!(get(bad.to_string()).await, 401, "{bad:?}");
    }
}

#[tokio::test]
async fn upstream_down_gives_502_and_recovers() {
    let gw = TestGateway::with(Setup {
        upstream_up: false,
        ..Setup::default()
    })
    .await;
    let token = gw.mint_session(0).await;
    let c = client();
    let req = |accept: &'static str| {
        c.get(gw.url("/private"))
            .header("accept", accept)
            .header("cookie", format!("{}={token}", gw.cookie_name()))
            .send()
    };
    let resp = req("application/json").await.expect("send");
    assert_eq!(resp.status(), 502);
    let body: Value = resp.json().await.expect("json error");
    assert_eq!(body["error"], "upstream_unavailable");
    let resp = req(NAV).await.expect("send");
    assert_eq!(resp.status(), 502);
    assert!(resp.text().await.expect("page").contains("not answering"));

    let listener = tokio::net::TcpListener::bind(gw.upstream)
        .await
        .expect("rebind upstream port");
    tokio::spawn(qrgate::cli::demo::serve(listener));
    let resp = req("application/json").await.expect("send");
    assert_eq!(resp.status(), 200);
}

#[tokio::test]
async fn slow_upstream_gives_504() {
    let gw = TestGateway::with(Setup {
        app_extra: "read_timeout_ms = 300\n".into(),
        ..Setup::default()
    })
    .await;
    let token = gw.mint_session(0).await;
    let resp = client()
        .get(gw.url("/slow?sleep_ms=3000"))
        .header("accept", "application/json")
        .header("cookie", format!("{}={token}", gw.cookie_name()))
        .send()
        .await
        .expect("send");
    assert_eq!(resp.status(), 504);
}

#[tokio::test]
async fn unknown_host_health_and_logout() {
    let gw = TestGateway::start().await;
    let (status, _) = raw(gw.addr, "GET / HTTP/1.1\r\nHost: evil.example").await;
    assert_eq!(status, 404);
    let c = client();
    let health = c
        .get(gw.url("/.qrgate/healthz"))
        .send()
        .await
        .expect("send");
    assert_eq!(health.status(), 200);
    assert_eq!(health.headers()["cache-control"], "no-store");

    let token = gw.mint_session(0).await;
    let cookie = format!("{}={token}", gw.cookie_name());
    // Cross-site logout attempt is refused and changes nothing.
    let resp = c
        .post(gw.url("/.qrgate/logout"))
        .header("origin", "http://evil.example")
        .header("cookie", &cookie)
        .send()
        .await
        .expect("send");
    assert_eq!(resp.status(), 403);
    assert_eq!(gw.state.sessions().len(), 1);
    let resp = c
        .get(gw.url("/.qrgate/logout"))
        .header("cookie", &cookie)
        .send()
        .await
        .expect("send");
    assert_eq!(resp.status(), 405);
    assert_eq!(
        resp.headers()["allow"],
        "POST",
        "a 405 names what the route accepts"
    );
    let resp = c
        .delete(gw.url("/.qrgate/sessions"))
        .send()
        .await
        .expect("send");
    assert_eq!(resp.status(), 405);
    assert_eq!(resp.headers()["allow"], "GET, HEAD, POST");
    // Under auth/session, a path of no route accepts nothing, so names nothing.
    let resp = c
        .post(gw.url("/.qrgate/auth/session/x/y"))
        .send()
        .await
        .expect("send");
    assert_eq!(resp.status(), 405);
    assert!(resp.headers().get("allow").is_none());
    // A method a route accepts is never answered 405 (its Allow would name that method):
    // the approval page is only a browser's, and only for a login attempt's id.
    for (path, accept) in [
        ("/.qrgate/auth/session/sess_abc", "application/json"),
        ("/.qrgate/auth/session/abc", "text/html"),
    ] {
        for head in [false, true] {
            let req = if head {
                c.head(gw.url(path))
            } else {
                c.get(gw.url(path))
            };
            let resp = req.header("accept", accept).send().await.expect("send");
            assert_eq!(resp.status(), 404, "{path} as {accept}, head {head}");
            assert!(resp.headers().get("allow").is_none());
        }
    }
    let resp = c
        .post(gw.url("/.qrgate/logout"))
        .header("origin", format!("http://{}", gw.addr))
        .header("cookie", &cookie)
        .send()
        .await
        .expect("send");
    assert_eq!(resp.status(), 200);
    let set_cookie = resp.headers()["set-cookie"]
        .to_str()
        .expect("ascii")
        .to_string();
    assert!(
        set_cookie.starts_with(&format!("{}=;", gw.cookie_name())),
        "{set_cookie}"
    );
    assert!(set_cookie.contains("Max-Age=0"), "{set_cookie}");
    assert_eq!(gw.state.sessions().len(), 0);
    let after = c
        .get(gw.url("/private"))
        .header("accept", "application/json")
        .header("cookie", &cookie)
        .send()
        .await
        .expect("send");
    assert_eq!(after.status(), 401);
}

#[tokio::test]
async fn https_upstreams_are_verified_against_the_configured_ca() {
    let (ca, chain, key) = crate::common::test_pki("upstream");
    let up = crate::common::tls_upstream(&chain, &key).await;
    let dir = tempfile::tempdir().expect("dir");
    let ca_file = dir.path().join("ca.pem");
    std::fs::write(&ca_file, &ca).expect("ca");
    let through = |extra: String| async move {
        let gw = TestGateway::with(Setup {
            upstream: Some(format!("https://127.0.0.1:{}", up.port())),
            app_extra: format!("public_paths = [\"/public\"]\n{extra}"),
            ..Setup::default()
        })
        .await;
        let resp = client()
            .get(gw.url("/public/x"))
            .header("accept", "application/json")
            .send()
            .await
            .expect("request");
        (
            resp.status().as_u16(),
            resp.text().await.unwrap_or_default(),
        )
    };
    let (status, body) = through(format!("upstream_ca = \"{}\"\n", ca_file.display())).await;
    assert_eq!(status, 200, "trusted through upstream_ca: {body}");
    assert!(body.contains("/public/x"), "{body}");
    let (status, body) = through(String::new()).await;
    assert_eq!(
        status, 502,
        "the system roots do not know the test CA: {body}"
    );
    let (status, _) = through("upstream_tls_verify = false\n".into()).await;
    assert_eq!(status, 200, "verification off only when written explicitly");
}
