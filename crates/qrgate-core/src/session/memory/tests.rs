use std::time::Duration;

use super::*;
use crate::session::{session_id, token_hash};

fn store() -> (MemoryStore, Clock) {
    let clock = Clock::manual();
    let lifetimes = Lifetimes {
        absolute: Duration::from_secs(100),
        idle: Duration::from_secs(10),
    };
    (MemoryStore::new(lifetimes, clock.clone()), clock)
}

fn app(name: &str) -> Arc<str> {
    Arc::from(name)
}

async fn live(s: &MemoryStore, t: &SessionToken, app: &str) -> bool {
    s.lookup(&t.hash(), app)
        .await
        .expect("memory store answers")
        .is_some()
}

#[tokio::test]
async fn idle_window_slides_and_absolute_lifetime_holds() {
    let (s, clock) = store();
    let t = s
        .create(app("a"), KeyBytes::new([1; 32]), SessionMeta::default())
        .await
        .expect("created");
    assert_eq!(
        token_hash(t.as_str()),
        Some(t.hash()),
        "keyed by the token's hash"
    );
    for _ in 0..9 {
        clock.advance(Duration::from_secs(9));
        assert!(live(&s, &t, "a").await, "used within idle window");
    }
    clock.advance(Duration::from_secs(10));
    assert!(!live(&s, &t, "a").await, "absolute lifetime passed");
    assert_eq!(s.len(), 0, "expired entry dropped on lookup");
}

#[tokio::test]
async fn imported_times_ahead_of_now_count_as_now() {
    let (s, clock) = store();
    let t = s
        .create(app("a"), KeyBytes::new([1; 32]), SessionMeta::default())
        .await
        .expect("created");
    let now = clock.now_millis();
    let year = 365 * 86_400_000;
    let exported = s.export().await.expect("export");
    let ahead: Vec<(TokenHash, SessionRecord)> = exported
        .into_iter()
        .map(|(h, mut r)| {
            r.created_ms = now + year;
            r.last_seen_ms = now + year;
            r.approved_ms = now + year;
            (h, r)
        })
        .collect();
    let (again, clock) = store();
    clock.advance(Duration::from_millis(
        now.saturating_sub(clock.now_millis()),
    ));
    // The importing store's now (its clock may have started a millisecond later).
    let now = clock.now_millis();
    assert_eq!(again.import(ahead).await.expect("import"), 1);
    let (_, r) = again.export().await.expect("export").remove(0);
    assert_eq!(
        (r.created_ms, r.last_seen_ms, r.approved_ms),
        (now, now, now)
    );
    // Idle and absolute limits run from now, not from a year ahead.
    clock.advance(Duration::from_secs(10));
    assert!(!live(&again, &t, "a").await, "idle window from now");
}

#[tokio::test]
async fn idle_expiry_and_sweep() {
    let (s, clock) = store();
    let t = s
        .create(app("a"), KeyBytes::new([1; 32]), SessionMeta::default())
        .await
        .expect("created");
    let _other = s
        .create(app("a"), KeyBytes::new([1; 32]), SessionMeta::default())
        .await
        .expect("created");
    clock.advance(Duration::from_secs(10));
    assert!(!live(&s, &t, "a").await);
    assert_eq!(s.sweep().await, 1);
    assert!(s.is_empty());
}

#[tokio::test]
async fn wrong_app_unknown_and_revoked_tokens_are_refused() {
    let (s, _) = store();
    let t = s
        .create(app("b"), KeyBytes::new([2; 32]), SessionMeta::default())
        .await
        .expect("created");
    assert!(!live(&s, &t, "a").await);
    let r = s
        .lookup(&t.hash(), "b")
        .await
        .expect("answers")
        .expect("live");
    assert_eq!(
        (r.key, &*r.app),
        (KeyBytes::new([2; 32]), "b"),
        "the record says whose and where"
    );
    assert_eq!(s.lookup(&TokenHash::new([0u8; 32]), "b").await, Ok(None));
    assert_eq!(s.revoke(&t.hash()).await, Ok(true));
    assert!(!live(&s, &t, "b").await);
    assert_eq!(s.revoke(&t.hash()).await, Ok(false));
}

#[tokio::test]
async fn export_and_import_keep_live_sessions_only() {
    let (s, clock) = store();
    let kept = s
        .create(app("a"), KeyBytes::new([1; 32]), SessionMeta::default())
        .await
        .expect("created");
    let stale = s
        .create(app("a"), KeyBytes::new([2; 32]), SessionMeta::default())
        .await
        .expect("created");
    clock.advance(Duration::from_secs(8));
    assert!(live(&s, &kept, "a").await, "refresh one");
    let exported = s.export().await.expect("export");
    assert_eq!(exported.len(), 2);
    clock.advance(Duration::from_secs(5));
    let (fresh, _) = (MemoryStore::new(s.lifetimes, clock.clone()), ());
    assert_eq!(
        fresh.import(exported).await,
        Ok(1),
        "the idle one expired meanwhile"
    );
    assert!(
        live(&fresh, &kept, "a").await,
        "the same token works in the new store"
    );
    assert!(!live(&fresh, &stale, "a").await);
}

impl MemoryStore {
    /// The index exactly mirrors the map: each session in its key's set, no other member,
    /// no empty set (true only when nothing is mid-update).
    fn index_mirrors_map(&self) -> Result<(), String> {
        for e in self.map.iter() {
            if !self
                .by_key
                .get(&e.value().key)
                .is_some_and(|set| set.contains(e.key()))
            {
                return Err(format!("session {} not indexed", session_id(e.key())));
            }
        }
        for set in self.by_key.iter() {
            if set.is_empty() {
                return Err("an empty set is kept".into());
            }
            let mut distinct = set.value().clone();
            distinct.sort_unstable();
            distinct.dedup();
            if distinct.len() != set.len() {
                return Err("a hash indexed twice".into());
            }
            for hash in set.iter() {
                if self.map.get(hash).is_none_or(|e| e.key != *set.key()) {
                    return Err(format!("stale member {}", session_id(hash)));
                }
            }
        }
        Ok(())
    }
}

async fn hashes_of(s: &MemoryStore, keys: &[KeyBytes]) -> Vec<TokenHash> {
    let mut found: Vec<TokenHash> = s
        .of_keys(keys)
        .await
        .expect("answers")
        .into_iter()
        .map(|(h, _)| h)
        .collect();
    found.sort_unstable();
    found
}

fn sorted(tokens: &[&SessionToken]) -> Vec<TokenHash> {
    let mut v: Vec<TokenHash> = tokens.iter().map(|t| t.hash()).collect();
    v.sort_unstable();
    v
}

#[tokio::test]
async fn the_key_index_follows_create_revoke_expiry_and_sweep() {
    let (s, clock) = store();
    let a1 = s
        .create(app("a"), KeyBytes::new([1; 32]), SessionMeta::default())
        .await
        .expect("created");
    let a2 = s
        .create(app("b"), KeyBytes::new([1; 32]), SessionMeta::default())
        .await
        .expect("created");
    let b1 = s
        .create(app("a"), KeyBytes::new([2; 32]), SessionMeta::default())
        .await
        .expect("created");
    assert_eq!(
        hashes_of(&s, &[KeyBytes::new([1; 32])]).await,
        sorted(&[&a1, &a2])
    );
    assert_eq!(
        hashes_of(&s, &[KeyBytes::new([2; 32])]).await,
        sorted(&[&b1])
    );
    assert_eq!(
        hashes_of(
            &s,
            &[
                KeyBytes::new([2; 32]),
                KeyBytes::new([1; 32]),
                KeyBytes::new([2; 32])
            ]
        )
        .await,
        sorted(&[&a1, &a2, &b1]),
        "several keys, one named twice: each session once"
    );
    assert!(hashes_of(&s, &[KeyBytes::new([3; 32])]).await.is_empty());
    s.index_mirrors_map().expect("after creates");

    assert_eq!(s.revoke(&a1.hash()).await, Ok(true));
    assert_eq!(
        hashes_of(&s, &[KeyBytes::new([1; 32])]).await,
        sorted(&[&a2])
    );
    s.index_mirrors_map().expect("after a revocation");

    // Idle past the window: not listed even before anything removes it; a lookup removes
    // it from both.
    clock.advance(Duration::from_secs(6));
    assert!(live(&s, &b1, "a").await, "b1 used, a2 not");
    clock.advance(Duration::from_secs(6));
    assert!(
        hashes_of(&s, &[KeyBytes::new([1; 32])]).await.is_empty(),
        "a2 idle too long"
    );
    assert!(!live(&s, &a2, "b").await);
    s.index_mirrors_map().expect("after an expired lookup");

    // The sweep takes what expired out of the index too, and drops the emptied sets.
    let c1 = s
        .create(app("a"), KeyBytes::new([3; 32]), SessionMeta::default())
        .await
        .expect("created");
    clock.advance(Duration::from_secs(6));
    assert!(live(&s, &c1, "a").await);
    clock.advance(Duration::from_secs(6));
    assert_eq!(s.sweep().await, 1, "b1 idled out");
    s.index_mirrors_map().expect("after a sweep");
    assert_eq!(s.by_key.len(), 1, "only key 3 has a session left");
    assert_eq!(
        hashes_of(&s, &[KeyBytes::new([3; 32])]).await,
        sorted(&[&c1])
    );
}

#[tokio::test]
async fn import_indexes_and_a_hash_imported_again_moves_to_its_new_key() {
    let (s, _) = store();
    let t = s
        .create(app("a"), KeyBytes::new([1; 32]), SessionMeta::default())
        .await
        .expect("created");
    let mut exported = s.export().await.expect("export");
    let fresh = MemoryStore::new(s.lifetimes, s.clock.clone());
    assert_eq!(fresh.import(exported.clone()).await, Ok(1));
    assert_eq!(
        fresh.import(exported.clone()).await,
        Ok(1),
        "the same file twice"
    );
    assert_eq!(
        hashes_of(&fresh, &[KeyBytes::new([1; 32])]).await,
        sorted(&[&t])
    );
    fresh
        .index_mirrors_map()
        .expect("after importing the same session twice");
    exported[0].1.key = KeyBytes::new([9; 32]);
    assert_eq!(fresh.import(exported).await, Ok(1));
    assert!(hashes_of(&fresh, &[KeyBytes::new([1; 32])])
        .await
        .is_empty());
    assert_eq!(
        hashes_of(&fresh, &[KeyBytes::new([9; 32])]).await,
        sorted(&[&t])
    );
    fresh.index_mirrors_map().expect("after a re-import");
}

/// Creates, revocations, lookups of expired sessions and sweeps on four threads at once,
/// all on the same four keys, whose sets keep emptying (most sessions are revoked at
/// once) while others add to them: afterwards the index mirrors the map exactly, and
/// every session left is listed under its key.
#[test]
fn the_key_index_stays_consistent_under_concurrent_changes() {
    let (s, clock) = store();
    let s = Arc::new(s);
    let keys: Vec<KeyBytes> = (0..4u8).map(|k| KeyBytes::new([k; 32])).collect();
    let threads: Vec<_> = (0..4usize)
        .map(|t| {
            let (s, clock, keys) = (s.clone(), clock.clone(), keys.clone());
            std::thread::spawn(move || {
                let rt = tokio::runtime::Builder::new_current_thread()
                    .build()
                    .expect("runtime");
                rt.block_on(async {
                    let mut kept: Vec<SessionToken> = Vec::new();
                    for i in 0..3000usize {
                        let token = s
                            .create(app("a"), keys[i % keys.len()], SessionMeta::default())
                            .await
                            .expect("created");
                        if i % 5 == 0 {
                            kept.push(token);
                        } else {
                            assert_eq!(s.revoke(&token.hash()).await, Ok(true));
                        }
                        if i % 50 == 0 {
                            match t {
                                0 => {
                                    s.sweep().await;
                                }
                                // Time moves on (12 s in all): the first kept sessions
                                // idle out and leave by sweep or lookup meanwhile.
                                1 => clock.advance(Duration::from_millis(200)),
                                _ => {
                                    if let Some(old) = kept.first() {
                                        let _ = s.lookup(&old.hash(), "a").await;
                                    }
                                }
                            }
                        }
                    }
                });
            })
        })
        .collect();
    for t in threads {
        t.join().expect("thread");
    }
    s.index_mirrors_map().expect("after the race");
    let rt = tokio::runtime::Builder::new_current_thread()
        .build()
        .expect("runtime");
    let listed = rt.block_on(hashes_of(&s, &keys));
    let mut exported: Vec<TokenHash> = rt
        .block_on(s.export())
        .expect("export")
        .into_iter()
        .map(|(h, _)| h)
        .collect();
    exported.sort_unstable();
    assert!(!listed.is_empty());
    assert_eq!(
        listed, exported,
        "the index lists exactly the live sessions"
    );
    // Everything idles out; one sweep leaves an empty index.
    clock.advance(Duration::from_secs(11));
    rt.block_on(s.sweep());
    assert!(s.map.is_empty() && s.by_key.is_empty());
}

#[test]
fn only_well_formed_tokens_hash() {
    for bad in [
        "",
        "x",
        &"a".repeat(45),
        &"=".repeat(44),
        &"=".repeat(43),
        &"a".repeat(42),
    ] {
        assert_eq!(token_hash(bad), None, "{bad:?}");
    }
    assert!(token_hash(SessionToken::generate().as_str()).is_some());
    // Tokens issued before the `__Host-` prefix (43 characters) still name their session.
    assert!(token_hash(&"a".repeat(43)).is_some());
}

/// The family index follows create, revoke, expiry, sweep and a re-import under another
/// family, and lists only live members of the family asked for.
#[tokio::test]
async fn the_family_index_follows_create_revoke_expiry_and_sweep() {
    let (s, clock) = store();
    let key = KeyBytes::new([7; 32]);
    let of = |f: Option<&str>| SessionMeta {
        family: f.map(str::to_string),
        ..SessionMeta::default()
    };
    let root = s.create(app("sso"), key, of(None)).await.expect("root");
    let a = s.create(app("a"), key, of(Some("f1"))).await.expect("a");
    let b = s.create(app("b"), key, of(Some("f1"))).await.expect("b");
    let other = s.create(app("a"), key, of(Some("f2"))).await.expect("c");
    let members = |f: &'static str| {
        let s = &s;
        async move {
            let mut m: Vec<TokenHash> = s
                .of_family(f)
                .await
                .expect("answers")
                .into_iter()
                .map(|(h, _)| h)
                .collect();
            m.sort_unstable();
            m
        }
    };
    let mut f1 = vec![a.hash(), b.hash()];
    f1.sort_unstable();
    assert_eq!(members("f1").await, f1);
    assert_eq!(members("f2").await, vec![other.hash()]);
    assert!(members("nope").await.is_empty());
    assert!(!f1.contains(&root.hash()), "the root is no member");
    assert!(s.revoke(&a.hash()).await.expect("revoke"));
    assert_eq!(members("f1").await, vec![b.hash()]);
    // Re-imported under another family: it moves.
    let record = s.peek(&b.hash(), "b").await.expect("peek").expect("live");
    let moved = SessionRecord {
        meta: Arc::new(of(Some("f2"))),
        ..record
    };
    s.import(vec![(b.hash(), moved)]).await.expect("import");
    assert!(members("f1").await.is_empty());
    assert!(!s.by_family.contains_key("f1"), "an empty set is dropped");
    assert_eq!(members("f2").await.len(), 2);
    clock.advance(Duration::from_secs(11));
    assert!(
        members("f2").await.is_empty(),
        "expired members are not listed"
    );
    s.sweep().await;
    assert!(s.by_family.is_empty(), "the sweep empties the index");
}
