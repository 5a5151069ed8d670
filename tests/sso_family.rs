//! A session's single sign-on family (`SessionMeta::family`) kept by every store: the state
//! file and Redis write it only when set, so records from before it read as before and a
//! record with it reads back whole; Redis indexes a family's members in the same step.

use std::sync::Arc;
use std::time::Duration;

use qrgate_core::clock::Clock;
use qrgate_core::config::RedisConfig;
use qrgate_core::session::{Lifetimes, SessionMeta, SessionStore};

use crate::common::TestGateway;
use crate::redis_common::Redis;

fn with_family(family: Option<&str>) -> SessionMeta {
    SessionMeta {
        protocol: "native".into(),
        family: family.map(str::to_string),
        ..SessionMeta::default()
    }
}

#[tokio::test]
async fn the_state_file_keeps_a_family_and_reads_sessions_without_one() {
    let gw = TestGateway::start().await;
    let s = gw.state.settings();
    let alice = s.user_identity(0).expect("alice");
    let app = s.app(qrgate_core::config::AppId::new(0)).key.clone();
    let with = gw
        .state
        .sessions()
        .create(
            app.clone(),
            alice.key,
            with_family(Some("0123456789abcdef01234567")),
        )
        .await
        .expect("create");
    let without = gw
        .state
        .sessions()
        .create(app.clone(), alice.key, with_family(None))
        .await
        .expect("create");
    let dir = tempfile::tempdir().expect("dir");
    let path = dir.path().join("state.json");
    assert_eq!(
        qrgate::lifecycle::state::save(&gw.state, &path, false)
            .await
            .expect("save"),
        2
    );
    let text = std::fs::read_to_string(&path).expect("read");
    assert_eq!(
        text.matches("\"family\"").count(),
        1,
        "written only when set: {text}"
    );

    let again = TestGateway::start().await;
    assert_eq!(
        qrgate::lifecycle::state::load(&again.state, &path)
            .await
            .expect("load"),
        2
    );
    let family = |token: &qrgate_core::session::SessionToken| {
        let hash = token.hash();
        let app = app.clone();
        let store = again.state.sessions().clone();
        async move {
            store
                .lookup(&hash, &app)
                .await
                .expect("lookup")
                .expect("live")
                .meta
                .family
                .clone()
        }
    };
    assert_eq!(
        family(&with).await.as_deref(),
        Some("0123456789abcdef01234567")
    );
    assert_eq!(family(&without).await, None);
}

#[tokio::test]
async fn redis_keeps_a_family_and_reads_records_without_one() {
    let redis = Redis::start().await;
    let config = RedisConfig {
        target: qrgate_core::config::RedisTarget::Url(redis.url()),
        prefix: "fam:".into(),
        connect_timeout: Duration::from_secs(2),
        timeout: Duration::from_secs(2),
        cache: Duration::from_millis(1),
        replicas: None,
    };
    let link = qrgate::redis::Link::new(&config).expect("link");
    link.connect().await.expect("connect");
    let lifetimes = Lifetimes {
        absolute: Duration::from_secs(600),
        idle: Duration::from_secs(60),
    };
    let store =
        qrgate::redis::sessions::RedisSessions::new(link.clone(), lifetimes, Clock::system());
    let key = qrgate_core::raw::KeyBytes::new([7u8; 32]);
    let app: Arc<str> = Arc::from("wiki");
    let with = store
        .create(
            app.clone(),
            key,
            with_family(Some("fedcba9876543210fedcba98")),
        )
        .await
        .expect("create");
    let without = store
        .create(app.clone(), key, with_family(None))
        .await
        .expect("create");
    // A record without the field is what an older gateway wrote.
    let fields: Vec<String> = link
        .query(redis::cmd("HKEYS").arg(format!("fam:s:{}", hex::encode(without.hash()))))
        .await
        .expect("hkeys");
    assert!(
        fields.contains(&"k".to_string()),
        "the session's record: {fields:?}"
    );
    assert!(!fields.contains(&"fm".to_string()), "{fields:?}");
    for (token, family) in [(&with, Some("fedcba9876543210fedcba98")), (&without, None)] {
        let found = store
            .lookup(&token.hash(), &app)
            .await
            .expect("lookup")
            .expect("live");
        assert_eq!(found.meta.family.as_deref(), family);
    }
    let listed = store.of_keys(&[key]).await.expect("listed");
    let mut families: Vec<Option<String>> = listed
        .into_iter()
        .map(|(_, r)| r.meta.family.clone())
        .collect();
    families.sort();
    assert_eq!(
        families,
        [None, Some("fedcba9876543210fedcba98".to_string())]
    );

    // The family's index lists its members only, and a revocation takes them out of it in the
    // same step as the session.
    let members = store
        .of_family("fedcba9876543210fedcba98")
        .await
        .expect("members");
    assert_eq!(
        members.iter().map(|(h, _)| *h).collect::<Vec<_>>(),
        [with.hash()]
    );
    assert!(store.of_family("0000").await.expect("none").is_empty());
    assert!(store.revoke(&with.hash()).await.expect("revoke"));
    let left: Vec<String> = link
        .query(
            redis::cmd("ZRANGE")
                .arg("fam:f:fedcba9876543210fedcba98")
                .arg(0)
                .arg(-1),
        )
        .await
        .expect("zrange");
    assert!(left.is_empty(), "{left:?}");
    assert!(store
        .of_family("fedcba9876543210fedcba98")
        .await
        .expect("members")
        .is_empty());
}
