//! A program's device code approved by every signer qrgate speaks: Pubky Ring (its
//! capabilities carry what the program asks, checked exactly on return) and tana-mobile (its
//! `appName` is what the program asks), driven as the login tests drive them, through the
//! real gateway's verification page, relay and approve endpoint, the `oauth2` crate's device
//! flow redeeming the token.

use pubky_common::crypto::Keypair;
use serde_json::Value;

use crate::common::client;
use crate::compat::{alice_secret, channel, post_relay, ring_token};
use crate::programs_device::{
    device_code, open_verification, programs_gateway, sso, token_by_polling,
};

/// The SSO origin offers every protocol.
const SIGNERS: &str = "signers = [\"native\", \"pubky\", \"tana\"]\n";

/// The text of the page's `payload-{kind}` field (the QR's content), unescaped.
fn payload(html: &str, kind: &str) -> String {
    let marker = format!("id=\"payload-{kind}\"");
    let start = html.find(&marker).expect("the protocol is offered");
    let text = &html[start..];
    let text = &text[text.find('>').expect("field") + 1..];
    let text = &text[..text.find("</textarea>").expect("end")];
    unescape(text)
}

/// HTML text with its character references (`&#38;`, `&#x27;`, `&amp;`…) resolved.
fn unescape(text: &str) -> String {
    let mut out = String::new();
    let mut rest = text;
    while let Some(at) = rest.find('&') {
        out.push_str(&rest[..at]);
        let tail = &rest[at..];
        let end = tail.find(';').expect("a terminated reference");
        let name = &tail[1..end];
        let c = match name {
            "amp" => '&',
            "quot" => '"',
            "lt" => '<',
            "gt" => '>',
            "apos" => '\'',
            _ => {
                let n = match name.strip_prefix("#x").or_else(|| name.strip_prefix("#X")) {
                    Some(hex) => u32::from_str_radix(hex, 16),
                    None => name.strip_prefix('#').expect("numeric").parse(),
                };
                char::from_u32(n.expect("a number")).expect("a character")
            }
        };
        out.push(c);
        rest = &tail[end + 1..];
    }
    out.push_str(rest);
    out
}

/// The value of query parameter `name` of a `pubkyauth:` link.
fn param(link: &str, name: &str) -> String {
    let url = url::Url::parse(link).expect("pubkyauth link");
    url.query_pairs()
        .find(|(k, _)| k == name)
        .map(|(_, v)| v.into_owned())
        .unwrap_or_else(|| panic!("{name} in {link}"))
}

async fn poll_error(gw: &crate::common::TestGateway, device_code: &str) -> String {
    let r = client()
        .post(format!("{}/.qrgate/oidc/token", sso(gw)))
        .form(&[
            ("grant_type", "urn:ietf:params:oauth:grant-type:device_code"),
            ("device_code", device_code),
            ("client_id", "qrgate-cli"),
        ])
        .send()
        .await
        .expect("poll");
    let v: Value = r.json().await.expect("json");
    v["error"].as_str().unwrap_or_default().to_string()
}

#[tokio::test]
async fn pubky_ring_approves_a_device_code_with_the_request_in_its_capabilities() {
    let (gw, _dir) = programs_gateway(SIGNERS).await;
    let details = device_code(&gw, &["app:Test%20app:read", "offline_access"]).await;
    let code = details.user_code().secret().clone();
    let complete = details
        .verification_uri_complete()
        .expect("complete")
        .secret()
        .clone();
    let (html, attempt) = open_verification(&gw, &complete).await;
    let id = attempt.path().rsplit('/').next().expect("id").to_string();
    let link = payload(&html, "pubky");
    let caps = param(&link, "caps");
    // What Ring lists: who asks, the code, how long, and each app with its access.
    let base = format!("/pub/localhost/qrgate/device/{id}");
    assert_eq!(
        caps,
        format!(
            "{base}/qrgate CLI/code {code}/for 30 days/:r,{base}/app/Test app/:r,\
             {base}/scope/offline_access/:r"
        )
    );
    let relay = param(&link, "relay");
    assert_eq!(relay, format!("{}/.qrgate/pubky/relay/", sso(&gw)));
    use base64::Engine;
    let secret: [u8; 32] = base64::engine::general_purpose::URL_SAFE_NO_PAD
        .decode(param(&link, "secret"))
        .expect("b64")
        .try_into()
        .expect("32 bytes");
    let target = format!("{relay}{}", channel(&secret));
    let alice = Keypair::from_secret(&alice_secret());

    // Caps altered in any way are refused, and the code still waits.
    for altered in [
        caps.replace("/app/Test app/:r", "/app/Test app/:rw"),
        caps.replace(&format!("code {code}"), "code BCDF-GHJK"),
        caps.replace("for 30 days", "for 90 days"),
        format!("/pub/localhost/{id}/:r"),
    ] {
        let (s, v) = post_relay(target.clone(), ring_token(&alice, &altered, &secret)).await;
        assert_eq!(
            (s, v["error"].as_str()),
            (403, Some("wrong_capabilities")),
            "{altered}"
        );
    }
    // A key that is nobody's here approves nothing.
    let (s, v) = post_relay(
        target.clone(),
        ring_token(&Keypair::random(), &caps, &secret),
    )
    .await;
    assert_eq!(s, 403, "{v}");
    assert_eq!(
        poll_error(&gw, details.device_code().secret()).await,
        "authorization_pending"
    );

    // Exactly what was asked, by alice's key: the program gets its token.
    let (s, v) = post_relay(target, ring_token(&alice, &caps, &secret)).await;
    assert_eq!(s, 200, "{v}");
    gw.clock.advance(std::time::Duration::from_secs(5));
    let token = token_by_polling(&gw, &details).await.expect("a token");
    let scopes: Vec<String> = oauth2::TokenResponse::scopes(&token)
        .expect("scope")
        .iter()
        .map(|s| s.to_string())
        .collect();
    assert_eq!(scopes, ["app:Test%20app:read", "offline_access"]);
    // Nobody claims the approval as a session.
    let claimed = crate::common::browser()
        .post(format!("{attempt}/claim"))
        .header("origin", sso(&gw))
        .header("accept", "application/json")
        .send()
        .await
        .expect("claim");
    assert_ne!(claimed.status(), 200);
}

/// tana-mobile's signed message names the attempt but not what the phone showed (its
/// `appName` is unsigned, and a relay can rewrite it), so it approves sign-ins only: the
/// verification page of a program's device code does not offer it.
#[tokio::test]
async fn tana_mobile_is_not_offered_for_a_device_code() {
    let (gw, _dir) = programs_gateway(SIGNERS).await;
    let details = device_code(&gw, &["app:Test%20app"]).await;
    let complete = details
        .verification_uri_complete()
        .expect("complete")
        .secret()
        .clone();
    let (html, _) = open_verification(&gw, &complete).await;
    assert!(html.contains("id=\"payload-pubky\""), "Ring is offered");
    assert!(!html.contains("id=\"payload-tana\""), "tana-mobile is not");
}
