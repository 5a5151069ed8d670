use std::path::Path;
use std::sync::Arc;

use async_trait::async_trait;

use super::*;
use crate::config::{AppId, Config};
use crate::raw::{KeyBytes, TokenHash};
use crate::session::StoreError;
use crate::settings::{NoIdentity, Settings};

fn settings(extra: &str) -> Settings {
    let text = format!(
        "[[app]]\nname = \"Wiki\"\norigin = \"https://wiki.example.com\"\nupstream = \"127.0.0.1:9\"\n{extra}\n[[user]]\nname = \"alice\"\nroles = [\"staff\"]\n[[user]]\nname = \"bob\"\n"
    );
    Settings::new(Config::parse(&text, Path::new("t.toml")).expect("config")).expect("s")
}

fn device(user: &str, key: u8) -> Device {
    Device {
        key: KeyBytes::new([key; 32]),
        user: user.into(),
        app: "Wiki".into(),
        apps: vec!["Wiki".into()],
        origins: vec![],
        label: "Chrome on Android".into(),
        created_ms: u64::from(key),
    }
}

#[test]
fn an_enrolled_key_is_its_user_with_that_key_and_the_users_roles() {
    let s = settings("");
    let devices = Devices::default();
    assert_eq!(
        devices
            .identity(&s, AppId::new(0), &KeyBytes::new([1; 32]))
            .err(),
        Some(NoIdentity::UnknownKey)
    );
    devices.insert(device("alice", 1));
    let id = devices
        .identity(&s, AppId::new(0), &KeyBytes::new([1; 32]))
        .expect("alice");
    assert_eq!((id.user.as_str(), id.roles.as_str()), ("alice", "staff"));
    assert_eq!(id.key, KeyBytes::new([1; 32]));
    // The second lookup under the same settings is the cached identity.
    let again = devices
        .identity(&s, AppId::new(0), &KeyBytes::new([1; 32]))
        .expect("alice");
    assert!(Arc::ptr_eq(&id, &again));
}

#[test]
fn a_reload_that_removes_the_user_or_their_access_ends_the_device() {
    let devices = Devices::default();
    devices.insert(device("bob", 2));
    let before = settings("");
    assert!(devices
        .identity(&before, AppId::new(0), &KeyBytes::new([2; 32]))
        .is_ok());
    let only_alice = settings("allow_users = [\"alice\"]");
    assert_eq!(
        devices
            .identity(&only_alice, AppId::new(0), &KeyBytes::new([2; 32]))
            .err(),
        Some(NoIdentity::NotPermitted { user: "bob".into() })
    );
    devices.insert(device("carol", 3));
    assert_eq!(
        devices
            .identity(&before, AppId::new(0), &KeyBytes::new([3; 32]))
            .err(),
        Some(NoIdentity::UnknownKey)
    );
}

#[test]
fn a_table_that_may_have_missed_a_removal_signs_nobody_in() {
    let s = settings("");
    let devices = Devices::default();
    devices.insert(device("alice", 1));
    devices.set_current(false);
    assert_eq!(
        devices
            .identity(&s, AppId::new(0), &KeyBytes::new([1; 32]))
            .err(),
        Some(NoIdentity::UnknownKey)
    );
    devices.set_current(true);
    assert!(devices
        .identity(&s, AppId::new(0), &KeyBytes::new([1; 32]))
        .is_ok());
}

#[test]
fn insert_new_never_rebinds_an_enrolled_key() {
    let devices = Devices::default();
    assert!(devices.insert_new(device("alice", 1)));
    assert!(!devices.insert_new(device("bob", 1)));
    assert_eq!(
        devices
            .get(&KeyBytes::new([1; 32]))
            .map(|d| d.user.clone())
            .as_deref(),
        Some("alice")
    );
}

/// A ledger that keeps what it is given, or refuses while `fail` is set.
#[derive(Default)]
struct Ledger {
    kept: std::sync::Mutex<Vec<Vec<KeyBytes>>>,
    fail: std::sync::atomic::AtomicBool,
}

#[async_trait]
impl DeviceLedger for Ledger {
    async fn keep(&self, devices: &[Arc<Device>]) -> Result<(), StoreError> {
        if self.fail.load(std::sync::atomic::Ordering::SeqCst) {
            return Err(StoreError::Unavailable("disk full".into()));
        }
        if let Ok(mut kept) = self.kept.lock() {
            kept.push(devices.iter().map(|d| d.key).collect());
        }
        Ok(())
    }
}

fn keys(devices: &Devices) -> Vec<KeyBytes> {
    devices.list().iter().map(|d| d.key).collect()
}

#[tokio::test]
async fn a_change_is_made_only_once_the_ledger_holds_it() {
    let devices = Devices::default();
    let ledger = Arc::new(Ledger::default());
    devices.keep_in(ledger.clone());
    assert_eq!(devices.enroll(device("alice", 1)).await.ok(), Some(true));
    assert_eq!(devices.enroll(device("bob", 2)).await.ok(), Some(true));
    // A key enrolled already: no write, no change.
    assert_eq!(devices.enroll(device("bob", 1)).await.ok(), Some(false));
    ledger.fail.store(true, std::sync::atomic::Ordering::SeqCst);
    assert!(devices.enroll(device("carol", 3)).await.is_err());
    assert!(devices.forget(&KeyBytes::new([1; 32])).await.is_err());
    assert_eq!(
        keys(&devices),
        vec![KeyBytes::new([1; 32]), KeyBytes::new([2; 32])]
    );
    ledger
        .fail
        .store(false, std::sync::atomic::Ordering::SeqCst);
    assert!(devices
        .forget(&KeyBytes::new([1; 32]))
        .await
        .ok()
        .flatten()
        .is_some());
    assert!(devices
        .forget(&KeyBytes::new([9; 32]))
        .await
        .ok()
        .flatten()
        .is_none());
    let kept = ledger.kept.lock().map(|k| k.clone()).unwrap_or_default();
    assert_eq!(
        kept,
        vec![
            vec![KeyBytes::new([1; 32])],
            vec![KeyBytes::new([1; 32]), KeyBytes::new([2; 32])],
            vec![KeyBytes::new([2; 32])]
        ]
    );
    assert_eq!(keys(&devices), vec![KeyBytes::new([2; 32])]);
    // Handed to a successor: no change is made here any more.
    devices.seal();
    assert!(devices.enroll(device("carol", 3)).await.is_err());
    assert!(devices.forget(&KeyBytes::new([2; 32])).await.is_err());
    assert_eq!(keys(&devices), vec![KeyBytes::new([2; 32])]);
}

#[test]
fn replace_all_keeps_exactly_the_given_devices() {
    let devices = Devices::default();
    devices.insert(device("alice", 1));
    devices.insert(device("bob", 2));
    devices.replace_all(vec![device("bob", 2), device("alice", 3)]);
    let keys: Vec<KeyBytes> = devices.list().iter().map(|d| d.key).collect();
    assert_eq!(keys, vec![KeyBytes::new([2; 32]), KeyBytes::new([3; 32])]);
}

#[tokio::test]
async fn an_invitation_is_redeemed_once_and_not_after_it_lapses() {
    let store = MemoryDevices::default();
    let inv = Invitation {
        user: "alice".into(),
        app: "Wiki".into(),
        apps: vec!["Wiki".into()],
        origins: vec![],
        expires_ms: 1_000,
        by: "operator".into(),
    };
    store
        .invite(&TokenHash::new([9; 32]), &inv)
        .await
        .expect("invite");
    store
        .invite(&TokenHash::new([8; 32]), &inv)
        .await
        .expect("invite");
    let d = device("alice", 1);
    assert_eq!(
        store.invitation(&TokenHash::new([9; 32]), 999).await.ok(),
        Some(Some(inv))
    );
    assert_eq!(
        store.invitation(&TokenHash::new([9; 32]), 1_000).await.ok(),
        Some(None)
    );
    let redeem = |h: TokenHash, now| {
        let (store, d) = (&store, &d);
        async move { store.redeem(&h, d, now).await.expect("redeem") }
    };
    assert_eq!(
        redeem(TokenHash::new([9; 32]), 999).await,
        Redeemed::Enrolled
    );
    assert_eq!(redeem(TokenHash::new([9; 32]), 999).await, Redeemed::Gone);
    assert_eq!(redeem(TokenHash::new([8; 32]), 1_000).await, Redeemed::Gone);
    assert_eq!(redeem(TokenHash::new([7; 32]), 0).await, Redeemed::Gone);
}

#[test]
fn device_json_round_trips_with_a_hex_key() {
    let d = device("alice", 0xab);
    let text = serde_json::to_string(&d).expect("json");
    assert!(text.contains(&"ab".repeat(32)));
    assert_eq!(serde_json::from_str::<Device>(&text).ok(), Some(d));
    assert!(serde_json::from_str::<Device>(&text.replace(&"ab".repeat(32), "ab")).is_err());
}

fn two_apps() -> Settings {
    settings("[[app]]\nname = \"Mail\"\norigin = \"https://mail.example.com\"\nupstream = \"127.0.0.1:9\"\n")
}

#[test]
fn a_device_signs_in_only_to_the_apps_it_is_bound_to() {
    let s = two_apps();
    let (wiki, mail) = (AppId::new(0), AppId::new(1));
    let devices = Devices::default();
    devices.insert(device("alice", 1));
    assert!(devices.identity(&s, wiki, &KeyBytes::new([1; 32])).is_ok());
    assert_eq!(
        devices.identity(&s, mail, &KeyBytes::new([1; 32])).err(),
        Some(NoIdentity::OtherApp {
            user: "alice".into()
        })
    );
    // Cached under this config for Wiki: still refused on Mail.
    assert!(devices.identity(&s, wiki, &KeyBytes::new([1; 32])).is_ok());
    assert!(devices.identity(&s, mail, &KeyBytes::new([1; 32])).is_err());
    devices.insert(Device {
        apps: vec!["Wiki".into(), "Mail".into()],
        ..device("alice", 2)
    });
    assert!(devices.identity(&s, wiki, &KeyBytes::new([2; 32])).is_ok());
    assert!(devices.identity(&s, mail, &KeyBytes::new([2; 32])).is_ok());
}

#[test]
fn a_record_from_before_bindings_is_bound_to_the_app_it_was_made_on() {
    let old = format!(
        "{{\"key\":\"{}\",\"user\":\"alice\",\"app\":\"Wiki\",\"label\":\"x\",\"created_ms\":1}}",
        "01".repeat(32)
    );
    let d: Device = serde_json::from_str(&old).expect("old form");
    assert_eq!(d.apps, vec!["Wiki".to_string()]);
    let inv: Invitation = serde_json::from_str(
        "{\"user\":\"alice\",\"app\":\"Wiki\",\"expires_ms\":5,\"by\":\"owner\"}",
    )
    .expect("old form");
    assert_eq!(inv.apps, vec!["Wiki".to_string()]);
    // Written with both: an older reader still finds `app`.
    let text = serde_json::to_string(&d).expect("json");
    assert!(text.contains("\"app\":\"Wiki\"") && text.contains("\"apps\":[\"Wiki\"]"));
    let empty = old.replace("\"label\"", "\"apps\":[],\"label\"");
    let d: Device = serde_json::from_str(&empty).expect("empty apps");
    assert_eq!(d.apps, vec!["Wiki".to_string()]);
}

#[test]
fn review_removes_devices_of_names_that_left_the_config_and_narrows_bindings() {
    let s = two_apps();
    let c = &s.config;
    let none = Retired::default();
    assert_eq!(review(c, &none, &device("alice", 1)), Review::Keep);
    assert_eq!(
        review(c, &none, &device("carol", 1)),
        Review::Remove("user_removed")
    );
    // Removed by a reload and configured again since: someone else.
    let alice_retired = Retired {
        users: ["alice".to_string()].into(),
        ..Retired::default()
    };
    assert_eq!(
        review(c, &alice_retired, &device("alice", 1)),
        Review::Remove("user_removed")
    );
    let both = Device {
        apps: vec!["Wiki".into(), "Gone".into(), "Mail".into()],
        ..device("bob", 2)
    };
    assert_eq!(
        review(c, &none, &both),
        Review::Narrow(vec!["Wiki".into(), "Mail".into()])
    );
    let gone = Device {
        apps: vec!["Gone".into()],
        ..device("bob", 3)
    };
    assert_eq!(review(c, &none, &gone), Review::Remove("apps_removed"));
    let inv = |user: &str, apps: &[&str]| Invitation {
        user: user.into(),
        app: apps[0].into(),
        apps: apps.iter().map(|a| a.to_string()).collect(),
        origins: vec![],
        expires_ms: 1,
        by: "operator".into(),
    };
    assert!(invitation_fits(c, &none, &inv("bob", &["Wiki", "Mail"])));
    assert!(!invitation_fits(c, &none, &inv("carol", &["Wiki"])));
    assert!(!invitation_fits(c, &none, &inv("bob", &["Wiki", "Gone"])));
    assert!(!invitation_fits(
        c,
        &alice_retired,
        &inv("alice", &["Wiki"])
    ));
}

#[tokio::test]
async fn withdraw_takes_the_invitations_refused_and_frees_lapsed_ones() {
    let store = MemoryDevices::default();
    let inv = |user: &str, expires_ms| Invitation {
        user: user.into(),
        app: "Wiki".into(),
        apps: vec!["Wiki".into()],
        origins: vec![],
        expires_ms,
        by: "operator".into(),
    };
    store
        .invite(&TokenHash::new([1; 32]), &inv("alice", 100))
        .await
        .expect("i");
    store
        .invite(&TokenHash::new([2; 32]), &inv("carol", 100))
        .await
        .expect("i");
    store
        .invite(&TokenHash::new([3; 32]), &inv("carol", 10))
        .await
        .expect("i");
    let gone = store
        .withdraw(&|i: &Invitation| i.user != "carol", 50)
        .await
        .expect("withdraw");
    assert_eq!(gone, vec![inv("carol", 100)]);
    assert_eq!(
        store.invitation(&TokenHash::new([1; 32]), 50).await.ok(),
        Some(Some(inv("alice", 100)))
    );
    assert_eq!(
        store.invitation(&TokenHash::new([2; 32]), 50).await.ok(),
        Some(None)
    );
    assert_eq!(store.sweep(0), 0, "the lapsed one is freed already");
}

#[test]
fn a_retired_users_devices_sign_nobody_in_until_released() {
    let s = settings("");
    let devices = Devices::default();
    devices.insert(device("alice", 1));
    devices.insert(device("bob", 2));
    devices.retire(Retired {
        users: ["alice".to_string()].into(),
        ..Retired::default()
    });
    assert_eq!(
        devices
            .identity(&s, AppId::new(0), &KeyBytes::new([1; 32]))
            .err(),
        Some(NoIdentity::UnknownKey)
    );
    assert!(devices
        .identity(&s, AppId::new(0), &KeyBytes::new([2; 32]))
        .is_ok());
    let retired = devices.retired();
    devices.retire(Retired {
        users: ["bob".to_string()].into(),
        ..Retired::default()
    });
    devices.release(&retired);
    assert!(devices
        .identity(&s, AppId::new(0), &KeyBytes::new([1; 32]))
        .is_ok());
    assert!(devices.is_retired("bob"), "retired meanwhile: kept");
}

#[test]
fn an_app_removed_or_moved_to_another_origin_is_retired_with_its_bindings() {
    let mail = |origin: &str| {
        settings(&format!(
            "[[app]]\nname = \"Mail\"\norigin = \"{origin}\"\nupstream = \"127.0.0.1:9\"\n"
        ))
    };
    let before = mail("https://mail.example.com");
    let same = mail("https://mail.example.com");
    assert!(Retired::by_reload(&before.config, &same.config).is_empty());
    let moved = mail("https://evil.example.com");
    let retired = Retired::by_reload(&before.config, &moved.config);
    assert_eq!(retired.apps, ["Mail".to_string()].into());
    assert!(retired.users.is_empty());
    let without = settings("");
    let removed = Retired::by_reload(&before.config, &without.config);
    assert_eq!(removed.apps, ["Mail".to_string()].into());
    // Names compare exactly: "mail" is another app, and "Mail" is still retired.
    let other_case = settings(
        "[[app]]\nname = \"mail\"\norigin = \"https://mail.example.com\"\nupstream = \"127.0.0.1:9\"\n",
    );
    assert_eq!(
        Retired::by_reload(&before.config, &other_case.config).apps,
        ["Mail".to_string()].into()
    );

    // Under the moved config, a device bound to both apps keeps Wiki alone, one bound
    // to Mail alone goes, and an invitation naming Mail is withdrawn.
    let both = Device {
        apps: vec!["Wiki".into(), "Mail".into()],
        ..device("alice", 1)
    };
    assert_eq!(
        review(&moved.config, &retired, &both),
        Review::Narrow(vec!["Wiki".into()])
    );
    let only_mail = Device {
        app: "Mail".into(),
        apps: vec!["Mail".into()],
        ..device("alice", 2)
    };
    assert_eq!(
        review(&moved.config, &retired, &only_mail),
        Review::Remove("apps_removed")
    );
    let inv = Invitation {
        user: "alice".into(),
        app: "Mail".into(),
        apps: vec!["Mail".into()],
        origins: vec![],
        expires_ms: 1,
        by: "operator".into(),
    };
    assert!(invitation_fits(&moved.config, &Retired::default(), &inv));
    assert!(!invitation_fits(&moved.config, &retired, &inv));

    // Until the review releases it, no device signs in to the app of that name.
    let devices = Devices::default();
    devices.insert(both);
    let mail_id = AppId::new(1);
    assert!(devices
        .identity(&moved, mail_id, &KeyBytes::new([1; 32]))
        .is_ok());
    devices.retire(retired.clone());
    assert_eq!(
        devices
            .identity(&moved, mail_id, &KeyBytes::new([1; 32]))
            .err(),
        Some(NoIdentity::OtherApp {
            user: "alice".into()
        })
    );
    assert!(devices
        .identity(&moved, AppId::new(0), &KeyBytes::new([1; 32]))
        .is_ok());
    devices.release(&retired);
    assert!(!devices.is_retired_app("Mail"));
}

#[test]
fn a_binding_is_to_the_app_on_the_origin_it_had_and_damaged_records_bind_nothing() {
    let mail = |origin: &str| {
        settings(&format!(
            "[[app]]\nname = \"Mail\"\norigin = \"{origin}\"\nupstream = \"127.0.0.1:9\"\n"
        ))
    };
    let (wiki, mail_id) = (AppId::new(0), AppId::new(1));
    let home = mail("https://mail.example.com");
    let moved = mail("https://evil.example.com");
    let none = Retired::default();
    let bound = Device {
        apps: vec!["Wiki".into(), "Mail".into()],
        origins: vec![
            "https://wiki.example.com".into(),
            "https://mail.example.com".into(),
        ],
        ..device("alice", 1)
    };
    // Read at start under a config that moved Mail while no reload could retire it.
    let devices = Devices::default();
    devices.insert(bound.clone());
    assert!(devices
        .identity(&home, mail_id, &KeyBytes::new([1; 32]))
        .is_ok());
    assert_eq!(
        devices
            .identity(&moved, mail_id, &KeyBytes::new([1; 32]))
            .err(),
        Some(NoIdentity::OtherApp {
            user: "alice".into()
        })
    );
    assert!(devices
        .identity(&moved, wiki, &KeyBytes::new([1; 32]))
        .is_ok());
    assert_eq!(review(&home.config, &none, &bound), Review::Keep);
    assert_eq!(
        review(&moved.config, &none, &bound),
        Review::Narrow(vec!["Wiki".into()])
    );
    let kept = bound.keeping(&["Wiki".into()]);
    assert_eq!(
        (kept.apps, kept.origins),
        (
            vec!["Wiki".to_string()],
            vec!["https://wiki.example.com".to_string()]
        )
    );
    // A record from before origins were kept follows the name (all it knows).
    let legacy = Device {
        apps: vec!["Mail".into()],
        ..device("alice", 2)
    };
    assert_eq!(review(&moved.config, &none, &legacy), Review::Keep);
    // A record listing fewer origins than apps binds nothing it lists no origin for.
    let damaged = Device {
        origins: vec!["https://wiki.example.com".into()],
        ..bound.clone()
    };
    devices.insert(Device {
        key: KeyBytes::new([3; 32]),
        ..damaged.clone()
    });
    assert!(devices
        .identity(&home, mail_id, &KeyBytes::new([3; 32]))
        .is_err());
    assert_eq!(
        review(&home.config, &none, &damaged),
        Review::Narrow(vec!["Wiki".into()])
    );
    // An invitation fits only with its origins, and only if it names its own app first.
    let inv = Invitation {
        user: "alice".into(),
        app: "Mail".into(),
        apps: vec!["Mail".into()],
        origins: vec!["https://mail.example.com".into()],
        expires_ms: 1,
        by: "operator".into(),
    };
    assert!(invitation_fits(&home.config, &none, &inv));
    assert!(!invitation_fits(&moved.config, &none, &inv));
    let elsewhere = Invitation {
        apps: vec!["Wiki".into()],
        origins: vec![],
        ..inv.clone()
    };
    assert!(!invitation_fits(&home.config, &none, &elsewhere));
}
