use std::path::Path;
use std::sync::Arc;

use super::*;
use crate::clock::Clock;
use crate::config::Config;
use crate::identity::test_key;
use crate::session::SessionMeta;

fn gateway() -> Gateway {
    let key = hex::encode(test_key());
    let text = format!(
        "[[app]]\nname = \"wiki\"\norigin = \"https://wiki.example\"\nupstream = \"127.0.0.1:9\"\n[[app]]\nname = \"mail\"\norigin = \"https://mail.example\"\nupstream = \"127.0.0.1:9\"\n[[user]]\nname = \"alice\"\nkey = \"{key}\"\n"
    );
    let config = Config::parse(&text, Path::new("t.toml")).expect("config");
    Gateway::new(config, Clock::manual()).expect("gateway")
}

#[tokio::test]
async fn a_user_filter_reads_that_users_keys_only_and_selects_exactly_theirs() {
    let alice = test_key();
    let text = format!(
        "[[app]]\nname = \"wiki\"\norigin = \"https://wiki.example\"\nupstream = \"127.0.0.1:9\"\nopen_enrollment = true\n[[user]]\nname = \"alice\"\nkey = \"{}\"\n",
        hex::encode(alice)
    );
    let config = Config::parse(&text, Path::new("t.toml")).expect("config");
    let gw = Gateway::new(config, Clock::manual()).expect("gateway");
    let s = gw.settings();
    let (stranger, other) = ([7u8; 32], [8u8; 32]);
    for key in [alice, alice, KeyBytes::new(stranger), KeyBytes::new(other)] {
        gw.sessions()
            .create(Arc::from("wiki"), key, SessionMeta::default())
            .await
            .expect("created");
    }
    let of = |user: &str| Filter {
        user: Some(user.into()),
        ..Filter::default()
    };
    let keys_listed =
        |views: Vec<SessionView>| -> Vec<String> { views.into_iter().map(|v| v.key).collect() };
    assert_eq!(
        keys_listed(list(&gw, &s, &of("alice")).await.expect("list")),
        vec![z32::encode(alice.as_bytes()); 2]
    );
    // Under open enrollment an unconfigured key is a user named by its own z-base32.
    let z = z32::encode(&stranger);
    assert_eq!(
        keys_listed(list(&gw, &s, &of(&z)).await.expect("list")),
        vec![z.clone()]
    );
    for nobody in ["bob", "", &hex::encode(stranger), &z32::encode(&[9u8; 32])] {
        assert!(
            list(&gw, &s, &of(nobody)).await.expect("list").is_empty(),
            "{nobody:?}"
        );
    }
    let mismatched = Filter {
        key: Some(KeyBytes::new(stranger)),
        ..of("alice")
    };
    assert!(list(&gw, &s, &mismatched).await.expect("list").is_empty());
    assert_eq!(revoke(&gw, &s, &of("alice"), "operator").await, Ok(2));
    assert_eq!(
        keys_listed(list(&gw, &s, &Filter::default()).await.expect("list")).len(),
        2,
        "the others' sessions are untouched"
    );
}

#[test]
fn the_bearer_token_must_match_exactly() {
    assert!(bearer_matches(Some("Bearer s3cret"), "s3cret\n"));
    for wrong in [
        None,
        Some("s3cret"),
        Some("Bearer s3cre"),
        Some("Bearer s3cretX"),
        Some("bearer s3cret"),
        Some("Basic s3cret"),
        Some("Bearer "),
        Some("Bearer s3cret s3cret"),
    ] {
        assert!(!bearer_matches(wrong, "s3cret"), "{wrong:?}");
    }
    assert!(
        !bearer_matches(Some("Bearer "), ""),
        "no token configured, nothing matches"
    );
}

#[test]
fn filters_parse_strictly() {
    assert!(Filter::from_query(None).expect("empty").is_empty());
    let f = Filter::from_query(Some("user=alice&app=wiki")).expect("ok");
    assert_eq!(f.user.as_deref(), Some("alice"));
    assert_eq!(f.app.as_deref(), Some("wiki"));
    assert!(matches!(
        Filter::from_query(Some("usr=alice")),
        Err(ControlError::UnknownParameter(_))
    ));
    assert!(matches!(
        Filter::from_query(Some("user=a&user=b")),
        Err(ControlError::Repeated(_))
    ));
    assert!(matches!(
        Filter::from_query(Some("key=nope")),
        Err(ControlError::BadKey(_))
    ));
    let z = z32::encode(test_key().as_bytes());
    assert_eq!(
        Filter::from_query(Some(&format!("key={z}")))
            .expect("z-base32")
            .key,
        Some(test_key())
    );
}

#[tokio::test]
async fn list_and_revoke_select_by_every_field_and_never_everything() {
    let gw = gateway();
    let s = gw.settings();
    let meta = || SessionMeta {
        protocol: "native".into(),
        client_ip: "192.0.2.1".into(),
        browser: "Firefox on Linux".into(),
        ..SessionMeta::default()
    };
    let wiki = gw
        .sessions()
        .create(Arc::from("wiki"), test_key(), meta())
        .await
        .expect("wiki");
    gw.sessions()
        .create(Arc::from("mail"), test_key(), meta())
        .await
        .expect("mail");
    gw.sessions()
        .create(Arc::from("wiki"), KeyBytes::new([7; 32]), meta())
        .await
        .expect("unknown key");
    let all = list(&gw, &s, &Filter::default()).await.expect("list");
    assert_eq!(all.len(), 3);
    let text = serde_json::to_string(&all).expect("json");
    assert!(!text.contains(wiki.as_str()), "no token in a list");
    assert!(
        !text.contains(&hex::encode(wiki.hash())),
        "no full hash either"
    );
    let by_user = Filter {
        user: Some("alice".into()),
        ..Filter::default()
    };
    assert_eq!(list(&gw, &s, &by_user).await.expect("list").len(), 2);
    let one = Filter {
        id: Some(session_id(&wiki.hash())),
        ..Filter::default()
    };
    let listed = list(&gw, &s, &one).await.expect("list");
    assert_eq!(listed.len(), 1);
    assert_eq!(
        (listed[0].app.as_str(), listed[0].user.as_deref()),
        ("wiki", Some("alice"))
    );
    assert_eq!(
        revoke(&gw, &s, &Filter::default(), "operator").await,
        Err(ControlError::NoFilter)
    );
    assert_eq!(revoke(&gw, &s, &one, "operator").await, Ok(1));
    let app = Filter {
        app: Some("wiki".into()),
        ..Filter::default()
    };
    assert_eq!(
        revoke(&gw, &s, &app, "operator").await,
        Ok(1),
        "the other wiki session"
    );
    assert_eq!(
        list(&gw, &s, &Filter::default()).await.expect("list").len(),
        1
    );
}

/// A gateway with `[sso]`, one OpenID Connect client and `users` (TOML).
fn sso_gateway(users: &str, sso_extra: &str, client_extra: &str) -> Gateway {
    let text = format!(
        "[[app]]\nname = \"wiki\"\norigin = \"https://wiki.example\"\nupstream = \"127.0.0.1:9\"\n{users}\n[sso]\norigin = \"https://id.example\"\nname = \"Id\"\n{sso_extra}\n[[oidc_client]]\nid = \"rp\"\npublic = true\nredirect_uris = [\"https://rp.example/cb\"]\n{client_extra}\n"
    );
    Gateway::new(
        Config::parse(&text, Path::new("t.toml")).expect("config"),
        Clock::manual(),
    )
    .expect("gateway")
}

fn reload(gw: &Gateway, users: &str, sso_extra: &str, client_extra: &str) {
    let fresh = sso_gateway(users, sso_extra, client_extra);
    gw.reload(fresh.settings().config.clone()).expect("reload");
}

/// A live grant of `rp` for alice approved by `key`.
async fn grant_for(gw: &Gateway, id: &str, key: &KeyBytes) {
    use crate::oidc::store::{CodeGrant, Grant, Issue};
    let code: CodeGrant = serde_json::from_value(serde_json::json!({
        "client_id": "rp", "redirect_uri": "https://rp.example/cb", "user": "alice",
        "subject": "alice", "key": hex::encode(key), "family": "fam", "scope": ["openid"],
        "auth_time": 1, "expires_ms": 60_000}))
    .expect("code");
    let grant: Grant = serde_json::from_value(serde_json::json!({
        "id": id, "client_id": "rp", "user": "alice", "subject": "alice",
        "key": hex::encode(key), "family": "fam", "scope": ["openid"], "auth_time": 1,
        "expires_ms": 10_000_000}))
    .expect("grant");
    let mut c = [0u8; 32];
    c[..id.len().min(32)].copy_from_slice(&id.as_bytes()[..id.len().min(32)]);
    let store = gw.oidc().store();
    store.put_code(c, code, 0).await.expect("put");
    let issue = Issue {
        scope: vec!["openid".into()],
        refresh: None,
        access: c,
        access_expires_ms: 5_000_000,
    };
    store.redeem(c, grant, issue, 1).await.expect("redeem");
}

#[test]
fn a_grant_stands_only_while_its_key_user_subject_and_lists_do() {
    let key = test_key();
    let alice = format!(
        "[[user]]\nname = \"alice\"\nkey = \"{}\"\n[[user]]\nname = \"bob\"\n",
        hex::encode(key)
    );
    let gw = sso_gateway(&alice, "", "");
    let k = hex::encode(key);
    let stands = |gw: &Gateway, key: &str| {
        gw.grant_person(&gw.settings(), "rp", "alice", "alice", key)
            .expect("known")
            .is_some()
    };
    assert!(stands(&gw, &k));
    assert!(!stands(&gw, &hex::encode([9u8; 32])), "another key");
    assert!(!stands(&gw, "not hex"));
    assert!(
        gw.grant_person(&gw.settings(), "gone", "alice", "alice", &k)
            .expect("known")
            .is_none(),
        "a client no longer configured"
    );
    // The key replaced: the old one no longer is alice's.
    reload(
        &gw,
        &format!(
            "[[user]]\nname = \"alice\"\nkey = \"{}\"\n",
            hex::encode([3u8; 32])
        ),
        "",
        "",
    );
    assert!(!stands(&gw, &k), "replaced key");
    // Alice left out by the [sso] lists, then by the client's.
    reload(&gw, &alice, "allow_users = [\"bob\"]", "");
    assert!(!stands(&gw, &k), "[sso] lists");
    reload(&gw, &alice, "", "allow_users = [\"bob\"]");
    assert!(!stands(&gw, &k), "client lists");
    // Her name given to someone with another subject.
    reload(
        &gw,
        &format!(
            "[[user]]\nname = \"alice\"\nkey = \"{}\"\nsubject = \"alice-2\"\n",
            hex::encode(key)
        ),
        "",
        "",
    );
    assert!(!stands(&gw, &k), "another subject");
    reload(&gw, &alice, "", "");
    assert!(stands(&gw, &k));
}

#[tokio::test]
async fn fallen_grants_end_at_the_review_and_a_key_or_users_revocation_ends_theirs() {
    let key = test_key();
    let alice = format!(
        "[[user]]\nname = \"alice\"\nkey = \"{}\"\n",
        hex::encode(key)
    );
    let gw = sso_gateway(&alice, "", "");
    grant_for(&gw, "g1", &key).await;
    grant_for(&gw, "g2", &KeyBytes::new([9; 32])).await;
    assert_eq!(
        gw.end_fallen_grants().await.expect("review"),
        1,
        "g2's key is no one's"
    );
    let store = gw.oidc().store();
    let mut c1 = [0u8; 32];
    c1[..2].copy_from_slice(b"g1");
    assert!(store.access(c1, 2).await.expect("a").is_some(), "g1 stands");
    // Revoking a key's sessions ends that key's grants, with no session of it alive.
    let by_key = Filter {
        key: Some(key),
        ..Filter::default()
    };
    revoke(&gw, &gw.settings(), &by_key, "operator")
        .await
        .expect("revoke");
    assert!(store.access(c1, 2).await.expect("a").is_none(), "g1 ended");
    // A user's: every grant of theirs; a single session's id: none.
    grant_for(&gw, "g3", &key).await;
    let mut c3 = [0u8; 32];
    c3[..2].copy_from_slice(b"g3");
    let one = Filter {
        id: Some("nope".into()),
        user: Some("alice".into()),
        ..Filter::default()
    };
    revoke(&gw, &gw.settings(), &one, "owner")
        .await
        .expect("revoke");
    assert!(
        store.access(c3, 2).await.expect("a").is_some(),
        "one session: grants stay"
    );
    let user = Filter {
        user: Some("alice".into()),
        ..Filter::default()
    };
    revoke(&gw, &gw.settings(), &user, "operator")
        .await
        .expect("revoke");
    assert!(
        store.access(c3, 2).await.expect("a").is_none(),
        "the user's: ended"
    );
}

#[tokio::test]
async fn a_grant_whose_standing_cannot_be_told_now_is_refused_but_not_ended() {
    let key = test_key();
    let alice = format!(
        "[[user]]\nname = \"alice\"\nkey = \"{}\"\n",
        hex::encode(key)
    );
    let gw = sso_gateway(&alice, "", "");
    let device = KeyBytes::new([9; 32]);
    grant_for(&gw, "g1", &device).await;
    // The device table is being read again (announcements missed): a key that is no
    // configured user's cannot be judged; a configured one still can.
    gw.devices().set_current(false);
    let s = gw.settings();
    assert!(gw
        .grant_person(&s, "rp", "alice", "alice", &hex::encode(device))
        .is_err());
    assert!(matches!(
        gw.grant_person(&s, "rp", "alice", "alice", &hex::encode(key)),
        Ok(Some(_))
    ));
    assert_eq!(
        gw.end_fallen_grants().await.expect("review"),
        0,
        "nothing ended"
    );
    let mut c1 = [0u8; 32];
    c1[..2].copy_from_slice(b"g1");
    assert!(gw.oidc().store().access(c1, 2).await.expect("a").is_some());
    // Current again: the unknown key has fallen, and the review ends its grant.
    gw.devices().set_current(true);
    assert_eq!(gw.end_fallen_grants().await.expect("review"), 1);
}
