//! Path rules and spelling: rules that restrict (step-up, read-only grant entries) hold for
//! every spelling an upstream may read as the same path (`;` parameters, `%3B`, case,
//! trailing dots), rules that open (public paths) only for their exact spelling; and a read
//! grant judges the method a request claims through an override, not only its own.

use std::time::Duration;

use crate::common::{raw, sign_in_at, Setup, TestGateway};

/// A raw request (so no client rewrites the path) with the session cookie, as a program.
async fn send(gw: &TestGateway, method: &str, path: &str, token: &str) -> (u16, String) {
    raw(
        gw.addr,
        &format!(
            "{method} {path} HTTP/1.1\r\nHost: {}\r\nAccept: application/json\r\nCookie: qrgate_session={token}\r\nContent-Length: 0",
            gw.addr
        ),
    )
    .await
}

/// Spellings of `/admin/users` (or `/admin`) that Tomcat, Jetty, Spring, Express, ASP.NET, IIS
/// or a router taking format suffixes (Rails, Spring) serve as it.
const ADMIN_SPELLINGS: &[&str] = &[
    "/admin/users",
    "/admin;x/users",
    "/admin;jsessionid=1/users",
    "/admin%3Bx/users",
    "/admin%3bx/users",
    "/ADMIN/users",
    "/Admin/users",
    "/%41dmin/users",
    "/aDmIn;x/users",
    "/ADMIN%3B/users",
    "/admin./users",
    "/admin%20/users",
    "/;x/admin/users",
    "//ADMIN;a=b//users",
    "/admin",
    "/ADMIN;x",
    "/admin.json",
    "/Admin.JSON/",
    "/admin%2Exml",
    "/admin.json/users",
];

#[tokio::test]
async fn step_up_holds_for_every_spelling_of_its_path() {
    let gw = TestGateway::with(Setup {
        app_extra: "step_up_paths = [\"/admin\"]\nstep_up_max_age_seconds = 30\n".into(),
        ..Setup::default()
    })
    .await;
    let (_b, token) = sign_in_at(&gw.url("")).await;
    for path in ADMIN_SPELLINGS {
        assert_eq!(send(&gw, "GET", path, &token).await.0, 200, "fresh: {path}");
    }
    gw.clock.advance(Duration::from_secs(31));
    for path in ADMIN_SPELLINGS {
        let (status, body) = send(&gw, "GET", path, &token).await;
        assert_eq!(status, 403, "{path}: {body}");
        assert!(body.contains("step_up_required"), "{path}: {body}");
    }
    for path in [
        "/administrator",
        "/x/admin",
        "/adminx;y",
        "/elsewhere",
        "/admin-x.json",
        "/x/admin.json",
    ] {
        assert_eq!(send(&gw, "GET", path, &token).await.0, 200, "{path}");
    }
}

#[tokio::test]
async fn a_read_only_entry_holds_for_every_spelling_and_a_read_write_one_only_for_its_own() {
    let gw = TestGateway::with(Setup {
        app_extra: "access = \"read\"\naccess_paths = [{ path = \"/comments/\", access = \"read-write\" }, { path = \"/comments/locked/\", access = \"read\" }]\n".into(),
        ..Setup::default()
    })
    .await;
    let (_b, token) = sign_in_at(&gw.url("")).await;
    for (path, want) in [
        ("/comments/7", 200),
        ("/comments/locked/7", 403),
        ("/comments/locked;x/7", 403),
        ("/comments/LOCKED/7", 403),
        ("/comments/Locked%3Bv=1/7", 403),
        ("/comments/locked./7", 403),
        // The read-write entry opens its own spelling only.
        ("/COMMENTS/7", 403),
        ("/comments;x/7", 403),
        ("/comments%3Bx/7", 403),
        ("/doc", 403),
    ] {
        let (status, body) = send(&gw, "POST", path, &token).await;
        assert_eq!(status, want, "POST {path}: {body}");
        if want == 403 {
            assert!(body.contains("outside_grant"), "{path}: {body}");
        }
    }
    // Reads stay reads in every spelling.
    assert_eq!(
        send(&gw, "GET", "/comments/LOCKED;x/7", &token).await.0,
        200
    );

    // And a read-write app with a read-only corner.
    let gw = TestGateway::with(Setup {
        app_extra: "access_paths = [{ path = \"/admin/\", access = \"read\" }]\n".into(),
        ..Setup::default()
    })
    .await;
    let (_b, token) = sign_in_at(&gw.url("")).await;
    for path in ADMIN_SPELLINGS {
        let (status, body) = send(&gw, "POST", path, &token).await;
        assert_eq!(status, 403, "POST {path}: {body}");
        assert_eq!(send(&gw, "GET", path, &token).await.0, 200, "GET {path}");
    }
    assert_eq!(send(&gw, "POST", "/administrator", &token).await.0, 200);
}

#[tokio::test]
async fn a_public_path_opens_only_its_exact_spelling() {
    let gw = TestGateway::with(Setup {
        app_extra: "public_paths = [\"/static\"]\n".into(),
        ..Setup::default()
    })
    .await;
    let anonymous = |path: &'static str| {
        let addr = gw.addr;
        async move {
            raw(
                addr,
                &format!("GET {path} HTTP/1.1\r\nHost: {addr}\r\nAccept: application/json"),
            )
            .await
            .0
        }
    };
    assert_eq!(anonymous("/static/a.css").await, 200);
    for path in [
        "/STATIC/a.css",
        "/static;x/a.css",
        "/static%3B/a.css",
        "/static./a.css",
        "/static;/../admin",
        "/staticx",
    ] {
        assert_eq!(anonymous(path).await, 401, "{path}");
    }
    for path in [
        "/static/..;/admin",
        "/static/%2e%2e%3b/admin",
        "/static%2F..%2Fadmin",
        // Overlong UTF-8 spellings of `/` and `.`, which old decoders resolve.
        "/static/%C0%AE%C0%AE/admin",
        "/static/..%C0%AFadmin",
        "/static%E0%80%AF..%E0%80%AFadmin",
    ] {
        assert_eq!(anonymous(path).await, 400, "{path}");
    }
}

/// A request target with raw bytes that are not UTF-8 is refused, under a public path or
/// not: the rules would judge a replacement character while the upstream got the bytes
/// (`\xc0\xaf` is an overlong `/` to an old decoder).
#[tokio::test]
async fn a_target_that_is_not_utf8_is_refused() {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let gw = TestGateway::with(Setup {
        app_extra: "public_paths = [\"/static\"]\nstep_up_paths = [\"/admin\"]\n".into(),
        ..Setup::default()
    })
    .await;
    let targets: [&[u8]; 5] = [
        b"/static/..\xc0\xafadmin",
        b"/static/\xff",
        b"/admin\xff",
        b"/static/a?x=\xfe",
        b"/static/\xe0\x80\xae",
    ];
    for target in targets {
        let mut s = tokio::net::TcpStream::connect(gw.addr)
            .await
            .expect("connect");
        let mut req = b"GET ".to_vec();
        req.extend_from_slice(target);
        req.extend_from_slice(
            format!(
                " HTTP/1.1\r\nHost: {}\r\nAccept: application/json\r\nConnection: close\r\n\r\n",
                gw.addr
            )
            .as_bytes(),
        );
        s.write_all(&req).await.expect("write");
        let mut buf = Vec::new();
        tokio::time::timeout(Duration::from_secs(20), s.read_to_end(&mut buf))
            .await
            .expect("answer in time")
            .expect("read");
        let text = String::from_utf8_lossy(&buf);
        // Refused before any rule is applied (pingora's parser, or the gateway's own check
        // behind it); never forwarded.
        assert!(text.starts_with("HTTP/1.1 400"), "{target:?}: {text}");
    }
    // A raw UTF-8 path is judged and forwarded as it is.
    let (status, _) = raw(
        gw.addr,
        &format!(
            "GET /static/caf\u{e9} HTTP/1.1\r\nHost: {}\r\nAccept: application/json",
            gw.addr
        ),
    )
    .await;
    assert_eq!(status, 200);
}

/// A raw GET with extra header lines, as a program with the session cookie: (status, body).
async fn get_with(gw: &TestGateway, path: &str, token: &str, extra: &str) -> (u16, String) {
    raw(
        gw.addr,
        &format!(
            "GET {path} HTTP/1.1\r\nHost: {}\r\nAccept: application/json\r\nCookie: qrgate_session={token}{extra}",
            gw.addr
        ),
    )
    .await
}

#[tokio::test]
async fn a_read_grant_refuses_method_overrides_it_does_not_admit() {
    let gw = TestGateway::with(Setup {
        app_extra: "access = \"read\"\naccess_paths = [{ path = \"/comments/\", access = \"read-write\" }]\n".into(),
        ..Setup::default()
    })
    .await;
    let (_b, token) = sign_in_at(&gw.url("")).await;
    let carriers = [
        ("/doc", "\r\nX-HTTP-Method-Override: DELETE"),
        ("/doc", "\r\nx-http-method-override: delete"),
        ("/doc", "\r\nX_HTTP_METHOD_OVERRIDE: PUT"),
        ("/doc", "\r\nX-HTTP-Method: PATCH"),
        ("/doc", "\r\nx_http_method: POST"),
        ("/doc", "\r\nX-Method-Override: DELETE"),
        ("/doc", "\r\nX-Method_Override: DELETE"),
        ("/doc", "\r\nX-HTTP-Method-Override: GET, DELETE"),
        ("/doc", "\r\nX-HTTP-Method-Override: not a method"),
        (
            "/doc",
            "\r\nX-HTTP-Method-Override: GET\r\nX-HTTP-Method-Override: DELETE",
        ),
        ("/doc?_method=DELETE", ""),
        ("/doc?a=1&_method=put", ""),
        ("/doc?%5Fmethod=DELETE", ""),
        ("/doc?_METHOD=patch", ""),
        ("/COMMENTS/1?_method=DELETE", ""),
        // Spellings older query parsers and PHP read as `_method`.
        ("/doc?a=1;_method=DELETE", ""),
        ("/doc?.method=DELETE", ""),
        ("/doc?_method%5B%5D=PUT", ""),
    ];
    for (path, extra) in carriers {
        let (status, body) = get_with(&gw, path, &token, extra).await;
        assert_eq!(status, 403, "{path} {extra:?}: {body}");
        assert!(body.contains("outside_grant"), "{path} {extra:?}: {body}");
    }
    // A safe override is a read; the upstream sees what the grant admits.
    let (status, body) = get_with(&gw, "/doc", &token, "\r\nX-HTTP-Method-Override: head").await;
    assert_eq!(status, 200, "{body}");
    // Where the grant admits writes, overrides reach the upstream untouched.
    for (path, extra, name) in [
        (
            "/comments/1",
            "\r\nX-HTTP-Method-Override: DELETE",
            "x-http-method-override",
        ),
        (
            "/comments/1",
            "\r\nX_Method_Override: PUT",
            "x_method_override",
        ),
        ("/comments/1?_method=DELETE", "", ""),
    ] {
        let (status, body) = get_with(&gw, path, &token, extra).await;
        assert_eq!(status, 200, "{path} {extra:?}: {body}");
        let echo: serde_json::Value = serde_json::from_str(&body).expect("json");
        if name.is_empty() {
            assert!(
                echo["uri"]
                    .as_str()
                    .is_some_and(|u| u.contains("_method=DELETE")),
                "{echo}"
            );
        } else {
            assert!(
                crate::common::echoed_headers(&echo)
                    .iter()
                    .any(|(n, _)| n.eq_ignore_ascii_case(name)),
                "{name} kept: {echo}"
            );
        }
    }
}

#[tokio::test]
async fn a_full_grant_keeps_method_overrides() {
    let gw = TestGateway::start().await;
    let (_b, token) = sign_in_at(&gw.url("")).await;
    let (status, body) = get_with(
        &gw,
        "/doc?_method=DELETE",
        &token,
        "\r\nX-HTTP-Method-Override: DELETE",
    )
    .await;
    assert_eq!(status, 200, "{body}");
    let echo: serde_json::Value = serde_json::from_str(&body).expect("json");
    assert!(
        crate::common::echoed_headers(&echo)
            .iter()
            .any(|(n, v)| n == "x-http-method-override" && v == "DELETE"),
        "{echo}"
    );
}
