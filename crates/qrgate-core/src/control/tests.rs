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
