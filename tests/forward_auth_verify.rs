//! The verify endpoint: asked directly it refuses to vouch for a restricted session without
//! the original request; through nginx and Caddy it vouches only for the app the proxy
//! guards, and its rate limit is passed on as a refusal, never a 5xx.

use std::time::Duration;

use qrgate_core::config::AppId;
use serde_json::Value;

use crate::common::{client, free_port, raw, sign_in_at, Setup, TestGateway, NAV};
use crate::forward_auth::*;

/// `GET {prefix}/auth/session/verify` asked directly, as a proxy would, with the session
/// cookie and the given headers: status, body, `X-QRGate-Redirect`.
async fn verify(
    gw: &TestGateway,
    token: Option<&str>,
    headers: &[(&str, &str)],
) -> (u16, Value, Option<String>) {
    let mut req = client().get(gw.url("/.qrgate/auth/session/verify"));
    if let Some(t) = token {
        req = req.header("cookie", format!("qrgate_session={t}"));
    }
    for (n, v) in headers {
        req = req.header(*n, *v);
    }
    let resp = req.send().await.expect("verify");
    let status = resp.status().as_u16();
    let redirect = resp
        .headers()
        .get("x-qrgate-redirect")
        .and_then(|v| v.to_str().ok())
        .map(str::to_string);
    let body = resp.json().await.unwrap_or(Value::Null);
    (status, body, redirect)
}

const GET_DOC: &[(&str, &str)] = &[("x-forwarded-method", "GET"), ("x-forwarded-uri", "/doc")];

#[tokio::test]
async fn verify_refuses_a_restricted_session_without_the_original_request() {
    let gw = TestGateway::with(Setup {
        app_extra: RULES.into(),
        ..Setup::default()
    })
    .await;
    let (_b, token) = sign_in_at(&gw.url("")).await;
    let t = Some(token.as_str());

    let (status, body, _) = verify(&gw, t, &[]).await;
    assert_eq!(status, 403, "{body}");
    assert_eq!(body["error"], "original_request_unknown");
    let message = body["message"].as_str().expect("message");
    assert!(
        message.contains("X-Forwarded-Method") && message.contains("X-Forwarded-Uri"),
        "{message}"
    );

    let (status, body, _) = verify(&gw, t, GET_DOC).await;
    assert_eq!(
        (status, body["user"].as_str()),
        (200, Some("alice")),
        "{body}"
    );
    for (headers, code) in [
        (
            &[("x-forwarded-method", "POST"), ("x-forwarded-uri", "/doc")][..],
            "outside_grant",
        ),
        (
            &[
                ("x-forwarded-method", "GET"),
                ("x-forwarded-uri", "/doc"),
                ("x-http-method-override", "DELETE"),
            ][..],
            "outside_grant",
        ),
        (
            &[
                ("x-forwarded-method", "GET"),
                ("x-forwarded-uri", "/doc?_method=put"),
            ][..],
            "outside_grant",
        ),
        (
            &[
                ("x-forwarded-method", "PUT"),
                ("x-forwarded-uri", "/Comments/1"),
            ][..],
            "outside_grant",
        ),
        (
            &[
                ("x-forwarded-method", "GET"),
                ("x-forwarded-uri", "/doc"),
                ("x-forwarded-upgrade", "websocket"),
            ][..],
            "outside_grant",
        ),
        (&[("x-forwarded-method", "GET")][..], "bad_original_request"),
        (&[("x-forwarded-uri", "/doc")][..], "bad_original_request"),
        (
            &[("x-forwarded-method", "GET"), ("x-forwarded-uri", "doc")][..],
            "bad_original_request",
        ),
        (
            &[
                ("x-forwarded-method", "GET"),
                ("x-forwarded-uri", "/a%2f..%2fadmin"),
            ][..],
            "bad_path",
        ),
        (
            &[
                ("x-forwarded-method", "GET"),
                ("x-forwarded-uri", "/a/..;/admin"),
            ][..],
            "bad_path",
        ),
    ] {
        let (status, body, _) = verify(&gw, t, headers).await;
        assert_eq!(status, 403, "{headers:?}: {body}");
        assert_eq!(body["error"], code, "{headers:?}: {body}");
    }
    let (status, body, _) = verify(
        &gw,
        t,
        &[
            ("x-forwarded-method", "PUT"),
            ("x-forwarded-uri", "/comments/1"),
        ],
    )
    .await;
    assert_eq!(status, 200, "{body}");

    // Without a session: a browser navigation is told where to sign in, a program is not.
    let (status, body, redirect) = verify(
        &gw,
        None,
        &[
            ("x-forwarded-method", "GET"),
            ("x-forwarded-uri", "/doc?a=1"),
            ("accept", NAV),
        ],
    )
    .await;
    assert_eq!(status, 401, "{body}");
    assert_eq!(
        redirect.as_deref(),
        Some("/.qrgate/login?rd=%2Fdoc%3Fa%3D1")
    );
    let (status, _, redirect) = verify(&gw, None, GET_DOC).await;
    assert_eq!((status, redirect), (401, None));

    // A stale approval on a step-up path: a program gets 403 naming the page, a browser a
    // 401 the proxy turns into a redirect.
    gw.clock.advance(Duration::from_secs(31));
    let admin = &[
        ("x-forwarded-method", "GET"),
        ("x-forwarded-uri", "/Admin;x"),
    ];
    let (status, body, redirect) = verify(&gw, t, admin).await;
    assert_eq!((status, redirect), (403, None), "{body}");
    assert_eq!(body["error"], "step_up_required");
    assert_eq!(body["step_up"], "/.qrgate/step-up?rd=%2FAdmin%3Bx");
    let (status, body, redirect) = verify(&gw, t, &[admin[0], admin[1], ("accept", NAV)]).await;
    assert_eq!(status, 401, "{body}");
    assert_eq!(
        redirect.as_deref(),
        Some("/.qrgate/step-up?rd=%2FAdmin%3Bx")
    );
}

#[tokio::test]
async fn verify_without_the_original_request_still_vouches_for_a_full_grant() {
    let gw = TestGateway::with(Setup::default()).await;
    let (_b, token) = sign_in_at(&gw.url("")).await;
    let (status, body, _) = verify(&gw, Some(&token), &[]).await;
    assert_eq!(
        (status, body["user"].as_str()),
        (200, Some("alice")),
        "{body}"
    );
    let (status, _, redirect) = verify(&gw, None, &[]).await;
    assert_eq!((status, redirect), (401, None));
    // With the headers, a full grant is admitted for any method, override included.
    let (status, _, _) = verify(
        &gw,
        Some(&token),
        &[
            ("x-forwarded-method", "DELETE"),
            ("x-forwarded-uri", "/doc"),
            ("x-http-method-override", "PATCH"),
        ],
    )
    .await;
    assert_eq!(status, 200);

    // An app with step-up paths needs the original request even for a full grant.
    let stepped = TestGateway::with(Setup {
        app_extra: "step_up_paths = [\"/admin\"]\n".into(),
        ..Setup::default()
    })
    .await;
    let (_b, token) = sign_in_at(&stepped.url("")).await;
    let (status, body, _) = verify(&stepped, Some(&token), &[]).await;
    assert_eq!(
        (status, &body["error"]),
        (403, &Value::from("original_request_unknown"))
    );
    let (status, _, _) = verify(&stepped, Some(&token), GET_DOC).await;
    assert_eq!(status, 200);
}

/// A second app on the same gateway, on a host the front proxy is not configured for.
const OTHER_APP: &str =
    "[[app]]\nname = \"Other app\"\norigin = \"http://other.test\"\nupstream = \"127.0.0.1:9\"\n";

/// A session of the second app ([`OTHER_APP`]), minted through the store.
async fn other_app_session(gw: &TestGateway) -> String {
    let s = gw.state.settings();
    let id = s.user_identity(0).expect("alice");
    gw.state
        .sessions()
        .create(s.app(AppId::new(1)).key.clone(), id.key, Default::default())
        .await
        .expect("memory store")
        .as_str()
        .to_string()
}

/// A session of another app on the same gateway is never vouched for by a front proxy that
/// guards one app, whatever `Host` the client names (in the header, or in an absolute-form
/// request line that names the guarded app while the header names the other).
async fn check_app_of_the_front(front: u16, gw: &TestGateway) {
    let token = other_app_session(gw).await;
    // The session is good for its own app, asked directly.
    let (status, _) = raw(
        gw.addr,
        &format!("GET /.qrgate/auth/session/verify HTTP/1.1\r\nHost: other.test\r\nCookie: qrgate_session={token}"),
    )
    .await;
    assert_eq!(status, 200, "the other app's session is live");
    let heads = [
        "GET /app/page HTTP/1.1\r\nHost: other.test".to_string(),
        format!("GET http://127.0.0.1:{front}/app/page HTTP/1.1\r\nHost: other.test"),
        "GET /app/page HTTP/1.1\r\nHost: other.test\r\nX-Forwarded-Host: other.test".to_string(),
    ];
    for head in heads {
        let (status, body) = raw(
            ([127, 0, 0, 1], front).into(),
            &format!("{head}\r\nAccept: application/json\r\nCookie: qrgate_session={token}"),
        )
        .await;
        // Caddy answers a Host no site names with an empty 200; the upstream is never reached.
        assert!(
            !body.contains("\"headers\"") && !body.contains("Other app"),
            "{head}: the upstream was reached with the other app's session: {status} {body}"
        );
    }
    // A request without any Host (HTTP/1.0) is the client's mistake, never a 5xx (with the
    // client's Host passed on, qrgate answered 404 unknown_host, which nginx shows as 500).
    let (status, body) = raw(
        ([127, 0, 0, 1], front).into(),
        "GET /app/page HTTP/1.0\r\nAccept: application/json",
    )
    .await;
    assert!(status < 500, "{status} {body}");
}

#[tokio::test]
async fn nginx_vouches_only_for_the_app_it_guards() {
    let front = free_port();
    let gw = behind(
        front,
        Setup {
            tail: OTHER_APP.into(),
            ..Setup::default()
        },
    )
    .await;
    let _nginx = start_nginx(front, &gw);
    wait_for(front).await;
    check_app_of_the_front(front, &gw).await;
}

#[tokio::test]
async fn caddy_vouches_only_for_the_app_it_guards() {
    let front = free_port();
    let gw = behind(
        front,
        Setup {
            tail: OTHER_APP.into(),
            ..Setup::default()
        },
    )
    .await;
    let _caddy = start_caddy(front, &gw);
    wait_for(front).await;
    check_app_of_the_front(front, &gw).await;
}

/// A gateway behind `front` allowing each client `verify_per_minute` verify calls.
async fn gateway_with_verify_rate(front: u16, verify_per_minute: u32) -> TestGateway {
    behind(front, Setup {
        limits: format!("create_per_minute = 100000\nsigner_per_minute = 100000\nclaim_per_minute = 100000\nverify_per_minute = {verify_per_minute}\npending_per_client = 100000\n"),
        ..Setup::default()
    })
    .await
}

/// A client over its verify rate is refused with a status the proxy passes on (nginx turns
/// anything but 401 and 403 from its subrequest into a 500), never a 5xx.
async fn check_rate_refusal(front: u16) {
    let mut statuses = Vec::new();
    for _ in 0..12 {
        let (status, _) = raw(
            ([127, 0, 0, 1], front).into(),
            &format!(
                "GET /app/page HTTP/1.1\r\nHost: 127.0.0.1:{front}\r\nAccept: application/json"
            ),
        )
        .await;
        statuses.push(status);
    }
    assert!(
        statuses.iter().all(|s| *s == 401 || *s == 403),
        "{statuses:?}"
    );
    assert!(
        statuses.contains(&403),
        "the limit was reached: {statuses:?}"
    );
}

#[tokio::test]
async fn nginx_passes_on_the_verify_rate_limit() {
    let front = free_port();
    let gw = gateway_with_verify_rate(front, 3).await;
    let _nginx = start_nginx(front, &gw);
    wait_for(front).await;
    check_rate_refusal(front).await;
}

#[tokio::test]
async fn caddy_passes_on_the_verify_rate_limit() {
    let front = free_port();
    let gw = gateway_with_verify_rate(front, 3).await;
    let _caddy = start_caddy(front, &gw);
    wait_for(front).await;
    check_rate_refusal(front).await;
}
