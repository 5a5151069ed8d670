//! Programs' tokens listed and revoked: the operator's API and command see each grant (never
//! a token) with its client, grant, time and origin; revoking one refuses its tokens at once;
//! removing the device that approved a token ends what it approved, and nothing else.

use oauth2::TokenResponse;
use qrgate::cli::signer::{self, Key};
use qrgate_core::config::AppId;
use qrgate_core::control::{self, enrollment, Filter};
use qrgate_core::raw::KeyBytes;

use crate::common::{alice_key, client};
use crate::programs_device::{approved_token, programs_gateway};

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
async fn removing_the_approving_device_ends_its_tokens_and_a_listed_token_is_revoked_by_id() {
    let (gw, _dir) = programs_gateway("").await;
    let s = gw.state.settings();
    let sso_app = s.config.sso_app().expect("sso app");
    // A phone enrolled for alice, bound to the app and to the SSO origin.
    let invited = enrollment::invite_to(
        &gw.state,
        &s,
        AppId::new(0),
        &[sso_app],
        "alice",
        enrollment::DEFAULT_TTL,
        "operator",
    )
    .await
    .expect("invite");
    let phone = Key::generate();
    signer::enroll(&client(), &invited.link, &phone)
        .await
        .expect("enrolled");

    let by_phone = approved_token(&gw, &phone, &["app:Test%20app:read"]).await;
    let by_phone = by_phone.access_token().secret().clone();
    let by_alice = approved_token(&gw, &alice_key(), &["app:Test%20app", "offline_access"]).await;
    let by_alice = by_alice.access_token().secret().clone();
    assert_eq!(status_with(&gw, &by_phone).await, 200);
    assert_eq!(status_with(&gw, &by_alice).await, 200);

    let listed = control::list_tokens(&gw.state, &s, Some("alice"))
        .await
        .expect("list");
    assert_eq!(listed.len(), 2, "{listed:?}");
    let phone_z32 = z32::encode(phone.public().as_bytes());
    let of_phone = listed
        .iter()
        .find(|t| t.approved_by.as_deref() == Some(phone_z32.as_str()))
        .expect("the phone's token is listed");
    assert_eq!(of_phone.client, "qrgate-cli");
    assert_eq!(of_phone.client_name, "qrgate CLI");
    assert_eq!(of_phone.grant, vec!["Test app: read".to_string()]);
    assert_eq!(of_phone.from, "127.0.0.1");
    // Both were used once above: when and from where is recorded (off the request's path).
    let used = crate::common::eventually(std::time::Duration::from_secs(5), || {
        let (gw, s) = (&gw, &s);
        async move {
            control::list_tokens(&gw.state, s, Some("alice"))
                .await
                .expect("list")
                .iter()
                .all(|t| {
                    t.last_used_at.is_some() && t.last_used_from.as_deref() == Some("127.0.0.1")
                })
        }
    })
    .await;
    assert!(used, "last use recorded");
    let text = serde_json::to_string(&listed).expect("json");
    assert!(
        !text.contains(&by_phone) && !text.contains(&by_alice),
        "never a token"
    );

    // The device goes: what it approved ends with it, alice's own token stays.
    let filter = Filter {
        key: Some(KeyBytes::new(*phone.public().as_bytes())),
        ..Filter::default()
    };
    control::revoke_devices(&gw.state, &s, &filter, "operator")
        .await
        .expect("removed");
    assert_eq!(status_with(&gw, &by_phone).await, 401);
    assert_eq!(status_with(&gw, &by_alice).await, 200);
    let listed = control::list_tokens(&gw.state, &s, None)
        .await
        .expect("list");
    assert_eq!(listed.len(), 1);

    // Someone else cannot revoke alice's token; the operator can, by its id.
    let id = listed[0].id.clone();
    assert_eq!(
        control::revoke_token(&gw.state, &s, &id, Some("bob"), "owner")
            .await
            .expect("revoke"),
        0
    );
    assert_eq!(status_with(&gw, &by_alice).await, 200);
    assert_eq!(
        control::revoke_token(&gw.state, &s, &id, None, "operator")
            .await
            .expect("revoke"),
        1
    );
    assert_eq!(status_with(&gw, &by_alice).await, 401);
    assert!(control::list_tokens(&gw.state, &s, None)
        .await
        .expect("list")
        .is_empty());
}

#[tokio::test]
async fn the_persons_page_lists_their_tokens_and_revokes_only_their_own() {
    // The app keeps its own login page, so the browser signs in on the app's origin.
    let dir = tempfile::tempdir().expect("dir");
    let gw = crate::common::TestGateway::with(crate::common::Setup {
        app_extra: "programs = true\nsso = false\n".into(),
        tail: format!(
            "\n[sso]\norigin = \"http://localhost:{{gateway_port}}\"\nname = \"Example\"\nkey_file = \"{}\"\n",
            dir.path().join("oidc-keys.json").display()
        ),
        ..crate::common::Setup::default()
    })
    .await;
    let token = approved_token(&gw, &alice_key(), &["app:Test%20app:read"]).await;
    let bearer = token.access_token().secret().clone();
    let base = gw.url("");
    let (b, _) = crate::common::sign_in_at(&base).await;
    let page = || async {
        b.get(gw.url("/.qrgate/sessions"))
            .header("accept", crate::common::NAV)
            .send()
            .await
            .expect("page")
            .text()
            .await
            .expect("html")
    };
    assert!(page().await.contains("not used yet"));
    assert_eq!(status_with(&gw, &bearer).await, 200);
    let shown = crate::common::eventually(std::time::Duration::from_secs(5), || async {
        page().await.contains(" from 127.0.0.1</span>")
    })
    .await;
    assert!(shown, "the page shows the last use");
    let html = b
        .get(gw.url("/.qrgate/sessions"))
        .header("accept", crate::common::NAV)
        .send()
        .await
        .expect("page")
        .text()
        .await
        .expect("html");
    assert!(html.contains("Programs and scripts"), "{html}");
    assert!(html.contains("qrgate CLI"));
    assert!(html.contains("Test app: read · from 127.0.0.1"), "{html}");
    assert!(!html.contains(&bearer), "never the token");
    let marker = "name=\"token\" value=\"";
    let start = html.find(marker).expect("a revoke form") + marker.len();
    let id = html[start..].split('"').next().expect("id").to_string();

    let revoke = |id: String| {
        let b = b.clone();
        let base = base.clone();
        async move {
            b.post(format!("{base}/.qrgate/sessions"))
                .header("origin", &base)
                .form(&[("token", id)])
                .send()
                .await
                .expect("post")
                .status()
                .as_u16()
        }
    };
    // An id that is not hers revokes nothing.
    assert_eq!(revoke("0123456789abcdef01234567".into()).await, 303);
    assert_eq!(status_with(&gw, &bearer).await, 200);
    assert_eq!(revoke(id).await, 303);
    assert_eq!(status_with(&gw, &bearer).await, 401);
}
