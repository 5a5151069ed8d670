use super::*;
use crate::http::cookies;
use crate::identity::Identity;

fn table(clock: &Clock, max: usize) -> Logins {
    Logins::new(
        &LoginConfig {
            attempt_lifetime: Duration::from_secs(120),
            claim_window: Duration::from_secs(30),
            max_pending: max,
            same_network: crate::config::SameNetwork::Off,
        },
        2,
        clock.clone(),
    )
}

fn request(bind: &str) -> NewAttempt {
    NewAttempt {
        app: Arc::from("app"),
        bind_hash: cookies::hash(bind),
        requester: None,
        client_key: None,
        requester_ip: "127.0.0.1".into(),
        requester_agent: "Firefox on Linux".into(),
        return_to: "/".into(),
        purpose: Purpose::SignIn,
        grant: Arc::new(Grant::full()),
    }
}

fn alice() -> Arc<Identity> {
    Arc::new(
        Identity::new("alice".into(), &crate::identity::test_key(), String::new())
            .expect("identity"),
    )
}

#[test]
fn ids_have_tana_shape_and_differ() {
    let a = new_id();
    assert_eq!(a.len(), 21);
    assert!(
        a.starts_with("sess_")
            && a[5..]
                .bytes()
                .all(|b| b.is_ascii_digit() || b.is_ascii_lowercase())
    );
    assert_ne!(a, new_id());
}

#[tokio::test]
async fn full_cycle_and_single_use() {
    let clock = Clock::manual();
    let t = table(&clock, 10);
    let a = t
        .create(request("b"), |_| Vec::new())
        .await
        .expect("created");
    assert_eq!(
        t.claim(&a, Some("b"), None).await,
        Err(AttemptError::NotApproved)
    );
    t.scan(&a).await.expect("scan");
    t.approve(&a, &alice(), "native").await.expect("approve");
    assert_eq!(
        t.approve(&a, &alice(), "native").await,
        Err(AttemptError::AlreadyDone("approved"))
    );
    assert_eq!(
        t.reject(&a).await,
        Err(AttemptError::AlreadyDone("approved"))
    );
    assert_eq!(
        t.claim(&a, None, None).await,
        Err(AttemptError::WrongBrowser)
    );
    assert_eq!(
        t.claim(&a, Some("other"), None).await,
        Err(AttemptError::WrongBrowser)
    );
    assert_eq!(
        t.claim(&a, Some("b"), None).await.expect("claim"),
        (alice().key, "native".to_string())
    );
    assert_eq!(
        t.claim(&a, Some("b"), None).await,
        Err(AttemptError::AlreadyDone("claimed"))
    );
    assert_eq!(t.get(&a.id).await.err(), Some(AttemptError::NotFound));
    assert!(t.is_empty());
}

#[tokio::test]
async fn an_approval_is_claimed_only_as_what_it_was_given_for() {
    let clock = Clock::manual();
    let t = table(&clock, 10);
    let add = Action::AddDevice {
        user: "alice".into(),
    };
    let other = Action::AddDevice { user: "bob".into() };
    let confirming = NewAttempt {
        purpose: Purpose::Action(Confirm::new(TokenHash::new([1; 32]), add.clone())),
        ..request("b")
    };
    let a = t.create(confirming, |_| Vec::new()).await.expect("a");
    assert_eq!(a.facts().action, Some("add a new device for alice"));
    t.approve(&a, &alice(), "native").await.expect("approve");
    // As a session, or as another action: refused, and the approval stays unclaimed.
    assert_eq!(
        t.claim(&a, Some("b"), None).await,
        Err(AttemptError::OtherPurpose)
    );
    assert_eq!(
        t.claim(&a, Some("b"), Some(&other)).await,
        Err(AttemptError::OtherPurpose)
    );
    assert_eq!(
        t.claim(&a, Some("b"), Some(&add)).await.expect("claimed"),
        (alice().key, "native".to_string())
    );
    // A sign-in's approval is no action's.
    let s = t.create(request("b"), |_| Vec::new()).await.expect("s");
    assert_eq!(s.facts().action, None);
    t.approve(&s, &alice(), "native").await.expect("approve");
    assert_eq!(
        t.claim(&s, Some("b"), Some(&add)).await,
        Err(AttemptError::OtherPurpose)
    );
    assert!(t.claim(&s, Some("b"), None).await.is_ok());
}

#[tokio::test]
async fn expiry_claim_window_cap_and_sweep() {
    let clock = Clock::manual();
    let t = table(&clock, 2);
    let a = t.create(request("b"), |_| Vec::new()).await.expect("a");
    let b = t.create(request("b"), |_| Vec::new()).await.expect("b");
    assert_eq!(
        t.create(request("b"), |_| Vec::new()).await.err(),
        Some(AttemptError::Full)
    );
    t.approve(&b, &alice(), "native").await.expect("approve b");
    clock.advance(Duration::from_secs(31));
    assert_eq!(
        t.claim(&b, Some("b"), None).await,
        Err(AttemptError::Expired),
        "claim window over"
    );
    clock.advance(Duration::from_secs(90));
    assert_eq!(
        t.approve(&a, &alice(), "native").await,
        Err(AttemptError::Expired)
    );
    let mut rx = t.watch(&a);
    assert_eq!(t.sweep().freed, 2);
    assert_eq!(*rx.borrow_and_update(), Status::Expired);
    assert!(
        t.create(request("b"), |_| Vec::new()).await.is_ok(),
        "slots freed"
    );
}

#[tokio::test]
async fn racing_approvals_have_one_winner() {
    let clock = Clock::manual();
    let t = Arc::new(table(&clock, 10));
    let a = t.create(request("b"), |_| Vec::new()).await.expect("a");
    let wins: usize = std::thread::scope(|s| {
        let handles: Vec<_> = (0..8)
            .map(|_| {
                s.spawn(|| {
                    tokio::runtime::Builder::new_current_thread()
                        .build()
                        .is_ok_and(|rt| rt.block_on(t.approve(&a, &alice(), "native")).is_ok())
                })
            })
            .collect();
        handles
            .into_iter()
            .map(|h| usize::from(h.join().unwrap_or(false)))
            .sum()
    });
    assert_eq!(wins, 1);
}

#[tokio::test]
async fn endpoint_channels_find_their_attempt_until_it_is_gone() {
    let clock = Clock::manual();
    let t = table(&clock, 10);
    let id = SignerId::new("relayed");
    let a = t
        .create(request("b"), |facts| {
            assert!(facts.id.starts_with("sess_"));
            let mut m = Material::random();
            m.channel = Some(format!("chan-{}", facts.id));
            vec![(id, m)]
        })
        .await
        .expect("a");
    let channel = a
        .material(id)
        .and_then(|m| m.channel.clone())
        .expect("channel");
    assert_eq!(
        t.by_channel(&channel).await.map(|x| x.id.clone()),
        Ok(a.id.clone())
    );
    assert!(a.material(SignerId::new("other")).is_none());
    t.approve(&a, &alice(), "native").await.expect("approve");
    t.claim(&a, Some("b"), None).await.expect("claim");
    assert_eq!(
        t.by_channel(&channel).await.err(),
        Some(AttemptError::NotFound)
    );
}

#[tokio::test]
async fn pending_attempts_are_capped_per_client_and_released() {
    let clock = Clock::manual();
    let t = table(&clock, 100);
    let from = |ip: &str| NewAttempt {
        client_key: ip.parse().ok(),
        ..request("b")
    };
    let a = t
        .create(from("203.0.113.7"), |_| Vec::new())
        .await
        .expect("1st");
    let _b = t
        .create(from("203.0.113.7"), |_| Vec::new())
        .await
        .expect("2nd");
    assert_eq!(
        t.create(from("203.0.113.7"), |_| Vec::new()).await.err(),
        Some(AttemptError::ClientBusy)
    );
    assert_eq!(t.len(), 2, "the refused attempt took no slot");
    assert!(
        t.create(from("203.0.113.8"), |_| Vec::new()).await.is_ok(),
        "others unaffected"
    );
    t.reject(&a).await.expect("reject");
    clock.advance(Duration::from_secs(121));
    assert_eq!(t.sweep().freed, 3);
    assert_eq!(t.clients(), 0, "counters freed with their attempts");
    assert!(t.create(from("203.0.113.7"), |_| Vec::new()).await.is_ok());
}
#[test]
fn announcements_round_trip_and_odd_ones_are_ignored() {
    for status in [
        Status::Scanned,
        Status::Rejected,
        Status::Approved {
            name: "alice smith".into(),
        },
    ] {
        let text = status.announcement("sess_x").expect("announced");
        assert_eq!(Status::from_announcement(&text), Some(("sess_x", status)));
    }
    for odd in [
        "",
        "sess_x",
        "sess_x pending",
        "sess_x scanned extra",
        "sess_x approved",
    ] {
        assert_eq!(Status::from_announcement(odd), None, "{odd:?}");
    }
    assert_eq!(Status::Pending.announcement("sess_x"), None);
}

#[test]
fn a_shared_record_round_trips_and_a_damaged_one_is_refused() {
    let request = NewAttempt {
        client_key: Some("10.0.0.1".parse().expect("ip")),
        ..request("b")
    };
    let native = SignerId::new("native");
    let materials = vec![(
        native,
        Material {
            secret: Secret::new([9; 32]),
            text: "challenge".into(),
            channel: Some("ch".into()),
        },
    )];
    let shared = record("sess_1", &request, 1, 2, &materials);
    let json = serde_json::to_string(&shared).expect("json");
    let back: AttemptRecord = serde_json::from_str(&json).expect("parse");
    let resolve = |n: &str| (n == "native").then_some(native);
    let (req, mats) = parts(&back, resolve).expect("parts");
    assert_eq!(req.bind_hash, request.bind_hash);
    assert_eq!(
        req.client_key, None,
        "caps count where the attempt was made"
    );
    assert_eq!(mats.len(), 1);
    assert_eq!(mats[0].1.secret, Secret::new([9; 32]));
    assert!(parts(&back, |_| None).is_none(), "unknown protocol");
    // An action's purpose survives the trip; a damaged or doubled one is refused.
    let action = Action::RemoveDevice {
        user: "alice".into(),
        device: "00112233445566778899aabb".into(),
    };
    let confirming = NewAttempt {
        purpose: Purpose::Action(Confirm::new(TokenHash::new([4; 32]), action.clone())),
        ..request.clone()
    };
    let shared = record("sess_2", &confirming, 1, 2, &materials);
    let (req, _) = parts(&shared, resolve).expect("parts");
    assert_eq!(req.purpose, confirming.purpose);
    let mut bad = shared.clone();
    bad.action = Some((hex::encode([4u8; 32]), "remove-device:zz:alice".into()));
    assert!(parts(&bad, resolve).is_none(), "unreadable action");
    let mut both = shared.clone();
    both.step_up = Some((hex::encode([4u8; 32]), hex::encode([5u8; 32])));
    assert!(parts(&both, resolve).is_none(), "two purposes at once");
    // A program's request survives the trip whole (Ring's capabilities are built from it).
    let device = NewAttempt {
        purpose: Purpose::Device(DeviceConsent::new(
            [6; 32],
            crate::login::signers::program::tests::wiki_read(),
        )),
        ..request.clone()
    };
    let shared = record("sess_3", &device, 1, 2, &materials);
    let (req, _) = parts(&shared, resolve).expect("parts");
    assert_eq!(req.purpose, device.purpose);
    let mut bad = shared.clone();
    bad.device = Some((
        hex::encode([6u8; 32]),
        "a description, not a request".into(),
    ));
    assert!(parts(&bad, resolve).is_none(), "unreadable request");
    let mut bad = back.clone();
    bad.bind_hash = "zz".into();
    assert!(parts(&bad, resolve).is_none());
}

#[test]
fn the_transition_table_covers_every_case_once() {
    let stages = [
        Stage::Pending,
        Stage::Scanned,
        Stage::Approved,
        Stage::Rejected,
        Stage::Claimed,
    ];
    let asks = [
        Ask::Scan,
        Ask::Approve,
        Ask::Reject,
        Ask::Claim,
        Ask::ClaimOtherPurpose,
    ];
    let mut missing = Vec::new();
    for from in stages {
        for ask in asks {
            for when in [When::InTime, When::Late] {
                let rows = TRANSITIONS
                    .iter()
                    .filter(|r| r.from == from && r.ask == ask && r.when == when)
                    .count();
                if rows != 1 {
                    missing.push(format!("{from:?} {ask:?} {when:?}: {rows} rows"));
                }
            }
        }
    }
    assert!(missing.is_empty(), "{missing:#?}");
    assert_eq!(TRANSITIONS.len(), stages.len() * asks.len() * 2);
}
