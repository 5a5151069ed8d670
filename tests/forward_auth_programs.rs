//! A program's bearer token behind nginx `auth_request` and Caddy `forward_auth` (the shipped
//! samples, the real servers): the verify endpoint judges it as the proxy path does, the app
//! gets the person's identity and `X-Auth-Client`, never the token.

use reqwest::Method;
use serde_json::Value;

use crate::common::{alice_key, client, echoed_headers, free_port, TestGateway};
use crate::forward_auth::{behind, start_caddy, start_nginx, wait_for};
use crate::programs_device::{approved_token, programs_setup};

/// A request through the front with `token` as its bearer token: the status, the headers the
/// app got (when it got the request), the challenges.
async fn through(
    url: &str,
    method: Method,
    token: &str,
) -> (u16, Option<Vec<(String, String)>>, Vec<String>) {
    let resp = client()
        .request(method, url)
        .header("accept", "application/json")
        .bearer_auth(token)
        .send()
        .await
        .expect("request");
    let status = resp.status().as_u16();
    let challenges = resp
        .headers()
        .get_all("www-authenticate")
        .iter()
        .map(|v| v.to_str().unwrap_or_default().to_string())
        .collect();
    let body: Option<Value> = resp.json().await.ok();
    let echo = body
        .filter(|b| b.get("headers").is_some())
        .map(|b| echoed_headers(&b));
    (status, echo, challenges)
}

fn values(echo: &[(String, String)], name: &str) -> Vec<String> {
    echo.iter()
        .filter(|(n, v)| n == name && !v.is_empty())
        .map(|(_, v)| v.clone())
        .collect()
}

async fn check_programs_front(front: u16, gw: &TestGateway) {
    let url = format!("http://127.0.0.1:{front}/app/page");
    let token = approved_token(gw, &alice_key(), &["app:Test%20app:read"]).await;
    let bearer = oauth2::TokenResponse::access_token(&token).secret().clone();

    let (status, echo, _) = through(&url, Method::GET, &bearer).await;
    assert_eq!(status, 200);
    let echo = echo.expect("forwarded");
    assert_eq!(values(&echo, "x-auth-user"), ["alice"], "{echo:?}");
    assert_eq!(values(&echo, "x-auth-client"), ["qrgate-cli"], "{echo:?}");
    assert!(
        values(&echo, "authorization").is_empty(),
        "the token reached the app: {echo:?}"
    );
    assert!(!format!("{echo:?}").contains(&bearer[4..]), "{echo:?}");

    // The grant the phone approved holds behind the proxy too.
    let (status, echo, _) = through(&url, Method::POST, &bearer).await;
    assert_eq!(status, 403);
    assert!(echo.is_none());

    // A token for a path prefix: that prefix only, behind the proxy too.
    let under = approved_token(gw, &alice_key(), &["app:Test%20app:read:/app/"]).await;
    let under = oauth2::TokenResponse::access_token(&under).secret().clone();
    assert_eq!(through(&url, Method::GET, &under).await.0, 200);
    let elsewhere = format!("http://127.0.0.1:{front}/other/page");
    assert_eq!(through(&elsewhere, Method::GET, &under).await.0, 403);
    // A path written other than plainly is refused: the app would resolve it itself.
    let head = crate::forward_auth::raw_head(
        front,
        &format!(
            "GET /other//../app/page HTTP/1.1\r\nHost: 127.0.0.1:{front}\r\nAccept: application/json\r\nAuthorization: Bearer {under}"
        ),
    )
    .await;
    assert!(head.starts_with("HTTP/1.1 403"), "{head}");

    // A token that admits nobody: 401 naming it invalid, nothing forwarded.
    let forged = format!("qga_{}", "A".repeat(43));
    let (status, echo, challenges) = through(&url, Method::GET, &forged).await;
    assert_eq!(status, 401);
    assert!(echo.is_none());
    assert!(
        challenges.iter().any(|c| c.contains("invalid_token")),
        "{challenges:?}"
    );
}

#[tokio::test]
async fn nginx_lets_a_programs_token_in_and_keeps_it_from_the_app() {
    let front = free_port();
    let (setup, _keys) = programs_setup("");
    let gw = behind(front, setup).await;
    let _nginx = start_nginx(front, &gw);
    wait_for(front).await;
    check_programs_front(front, &gw).await;
}

#[tokio::test]
async fn caddy_lets_a_programs_token_in_and_keeps_it_from_the_app() {
    let front = free_port();
    let (setup, _keys) = programs_setup("");
    let gw = behind(front, setup).await;
    let _caddy = start_caddy(front, &gw);
    wait_for(front).await;
    check_programs_front(front, &gw).await;
}
