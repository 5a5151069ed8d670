//! The attempt's transition table (`qrgate_core::login::attempts::TRANSITIONS`) run row by row
//! against both shares of login attempts: the attempt table of one process (in memory) and
//! the Redis share's transition script on a real redis-server. A row either share answers
//! otherwise fails the test, printed.

use std::sync::Arc;
use std::time::Duration;

use qrgate::redis::attempts::RedisAttempts;
use qrgate::redis::Link;
use qrgate_core::clock::Clock;
use qrgate_core::config::{LoginConfig, RedisConfig, SameNetwork};
use qrgate_core::http::cookies;
use qrgate_core::identity::access::Grant;
use qrgate_core::identity::Identity;
use qrgate_core::login::attempts::{
    shared_verdict, Ask, Logins, NewAttempt, Purpose, Row, Stage, Verdict, When, TRANSITIONS,
};
use qrgate_core::login::confirm::Action;
use qrgate_core::login::share::{AttemptRecord, AttemptShare, Transition};
use qrgate_core::raw::KeyBytes;

use crate::redis_common::Redis;

const LIFETIME: Duration = Duration::from_secs(120);
const WINDOW: Duration = Duration::from_secs(30);
/// Past both the attempt's lifetime and an approval's claim window.
const LATE: Duration = Duration::from_secs(200);
const BIND: &str = "binding-cookie";

fn ms(d: Duration) -> u64 {
    u64::try_from(d.as_millis()).expect("ms")
}

/// Another purpose than a sign-in's, for [`Ask::ClaimOtherPurpose`].
fn other_purpose() -> Action {
    Action::AddDevice {
        user: "alice".into(),
    }
}

fn approver() -> Identity {
    Identity::new("alice".into(), &KeyBytes::new([7; 32]), String::new()).expect("identity")
}

/// The transition `ask` is, for a sign-in attempt.
fn transition(ask: Ask) -> Transition {
    let approver = approver();
    match ask {
        Ask::Scan => Transition::Scan,
        Ask::Approve => Transition::Approve {
            key: approver.key,
            name: approver.user,
            protocol: "native".into(),
        },
        Ask::Reject => Transition::Reject,
        Ask::Claim => Transition::Claim {
            window_ms: ms(WINDOW),
            action: String::new(),
        },
        Ask::ClaimOtherPurpose => Transition::Claim {
            window_ms: ms(WINDOW),
            action: other_purpose().wire(),
        },
    }
}

/// The asks that bring a new attempt to `stage`.
fn path_to(stage: Stage) -> &'static [Ask] {
    match stage {
        Stage::Pending => &[],
        Stage::Scanned => &[Ask::Scan],
        Stage::Approved => &[Ask::Approve],
        Stage::Rejected => &[Ask::Reject],
        Stage::Claimed => &[Ask::Approve, Ask::Claim],
    }
}

/// The attempt table of one process: a sign-in attempt brought to `row.from`, then asked
/// `row.ask` at `row.when`. The verdict, and the stage the attempt is in after.
async fn in_memory(row: &Row) -> (Verdict, Stage) {
    let clock = Clock::manual();
    let config = LoginConfig {
        attempt_lifetime: LIFETIME,
        claim_window: WINDOW,
        max_pending: 10,
        same_network: SameNetwork::Off,
    };
    let logins = Logins::new(&config, 10, clock.clone());
    let request = NewAttempt {
        app: Arc::from("app"),
        bind_hash: cookies::hash(BIND),
        requester: None,
        client_key: None,
        requester_ip: "127.0.0.1".into(),
        requester_agent: "Firefox on Linux".into(),
        return_to: "/".into(),
        purpose: Purpose::SignIn,
        grant: Arc::new(Grant::full()),
    };
    let a = logins.create(request, |_| Vec::new()).await.expect("made");
    let approver = approver();
    let other = other_purpose();
    let mut verdict = Ok(Stage::Pending);
    for (i, ask) in path_to(row.from).iter().chain([&row.ask]).enumerate() {
        if i == path_to(row.from).len() && row.when == When::Late {
            clock.advance(LATE);
        }
        let done = match ask {
            Ask::Scan => logins.scan(&a).await,
            Ask::Approve => logins.approve(&a, &approver, "native").await,
            Ask::Reject => logins.reject(&a).await,
            Ask::Claim => logins.claim(&a, Some(BIND), None).await.map(drop),
            Ask::ClaimOtherPurpose => logins.claim(&a, Some(BIND), Some(&other)).await.map(drop),
        };
        verdict = done.map(|()| a.stage());
    }
    (verdict, a.stage())
}

/// The Redis share's script: a sign-in attempt stored, brought to `row.from` by its
/// transitions, then asked `row.ask` at `row.when`, its answer read as the attempt table
/// reads it. The verdict, and the stage the stored attempt is in after.
async fn in_redis(share: &RedisAttempts, n: usize, row: &Row) -> (Verdict, Stage) {
    let id = format!("sess_row{n:011}");
    let issued_ms = Clock::system().now_millis();
    let record = AttemptRecord {
        id: id.clone(),
        app: "app".into(),
        bind_hash: hex::encode(cookies::hash(BIND)),
        requester: None,
        requester_ip: "127.0.0.1".into(),
        requester_agent: "Firefox on Linux".into(),
        return_to: "/".into(),
        step_up: None,
        action: None,
        device: None,
        grant: None,
        issued_ms,
        expires_ms: issued_ms + ms(LIFETIME),
        materials: Vec::new(),
    };
    share
        .put(&record, ms(LIFETIME + LATE))
        .await
        .expect("redis stores");
    let mut verdict = Ok(Stage::Pending);
    for (i, ask) in path_to(row.from).iter().chain([&row.ask]).enumerate() {
        let last = i == path_to(row.from).len();
        let now = if last && row.when == When::Late {
            issued_ms + ms(LATE)
        } else {
            issued_ms + 1_000
        };
        let t = transition(*ask);
        let outcome = share.transition(&id, &t, now).await.expect("redis answers");
        verdict = shared_verdict(&t, &outcome);
    }
    let (_, phase) = share
        .fetch(&id)
        .await
        .expect("redis answers")
        .expect("the attempt is kept");
    (verdict, Stage::of(&phase))
}

#[tokio::test]
async fn attempt_transitions_match_the_table() {
    let redis = Redis::start().await;
    let link = Link::new(&RedisConfig {
        target: qrgate_core::config::RedisTarget::Url(redis.url()),
        prefix: "t:".into(),
        connect_timeout: Duration::from_secs(2),
        timeout: Duration::from_secs(2),
        cache: Duration::from_secs(1),
        replicas: None,
    })
    .expect("link");
    link.connect().await.expect("connected");
    let share = RedisAttempts::new(link);
    let mut wrong = Vec::new();
    for (n, row) in TRANSITIONS.iter().enumerate() {
        // Refused, nothing changes.
        let after = row.verdict.clone().unwrap_or(row.from);
        let expected = (row.verdict.clone(), after);
        for (share_name, found) in [
            ("memory", in_memory(row).await),
            ("redis", in_redis(&share, n, row).await),
        ] {
            if found != expected {
                wrong.push(format!(
                    "{share_name}: {:?} {:?} {:?} gave {found:?}, the table says {expected:?}",
                    row.from, row.ask, row.when
                ));
            }
        }
    }
    assert!(
        wrong.is_empty(),
        "rows answered otherwise:\n{}",
        wrong.join("\n")
    );
}
