//! The in-memory session store: one process, a sharded hash map keyed by token hash.
//!
//! Lookups take only a shard's read lock: the idle window slides through an atomic, so
//! concurrent requests of one session never serialize on a write lock.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;

use async_trait::async_trait;
use dashmap::DashMap;

use super::{
    Lifetimes, SessionMeta, SessionRecord, SessionStore, SessionToken, StoreError, TokenHash,
};
use crate::audit;
use crate::clock::{millis, Clock};

struct Entry {
    key: [u8; 32],
    app: Arc<str>,
    created_ms: u64,
    // Atomic so a lookup slides the idle window under the shard's read lock.
    last_seen_ms: AtomicU64,
    approved_ms: AtomicU64,
    meta: Arc<SessionMeta>,
}

/// The in-memory store: one process, a sharded hash map.
pub struct MemoryStore {
    map: DashMap<TokenHash, Entry>,
    lifetimes: Lifetimes,
    clock: Clock,
}

impl MemoryStore {
    /// An empty store.
    pub fn new(lifetimes: Lifetimes, clock: Clock) -> Self {
        Self {
            map: DashMap::new(),
            lifetimes,
            clock,
        }
    }

    fn expired(&self, e: &Entry, now: u64) -> bool {
        now >= e.created_ms.saturating_add(millis(self.lifetimes.absolute))
            || now
                >= e.last_seen_ms
                    .load(Ordering::Relaxed)
                    .saturating_add(millis(self.lifetimes.idle))
    }
}

impl Entry {
    fn record(&self) -> SessionRecord {
        SessionRecord {
            key: self.key,
            app: self.app.clone(),
            created_ms: self.created_ms,
            last_seen_ms: self.last_seen_ms.load(Ordering::Relaxed),
            approved_ms: self.approved_ms.load(Ordering::Relaxed),
            meta: self.meta.clone(),
        }
    }
}

#[async_trait]
impl SessionStore for MemoryStore {
    async fn create(
        &self,
        app: Arc<str>,
        key: [u8; 32],
        meta: SessionMeta,
    ) -> Result<SessionToken, StoreError> {
        let token = SessionToken::generate();
        let now = self.clock.now_millis();
        self.map.insert(
            token.hash(),
            Entry {
                key,
                app,
                created_ms: now,
                last_seen_ms: AtomicU64::new(now),
                approved_ms: AtomicU64::new(now),
                meta: Arc::new(meta),
            },
        );
        Ok(token)
    }

    async fn lookup(
        &self,
        hash: &TokenHash,
        app: &str,
    ) -> Result<Option<SessionRecord>, StoreError> {
        let now = self.clock.now_millis();
        let found = {
            let Some(entry) = self.map.get(hash) else {
                return Ok(None);
            };
            if self.expired(&entry, now) {
                None
            } else if &*entry.app != app {
                // A session for another app on this gateway is no session here; leave it be.
                return Ok(None);
            } else {
                entry.last_seen_ms.store(now, Ordering::Relaxed);
                Some(entry.record())
            }
        };
        if found.is_none() {
            if let Some((_, e)) = self.map.remove(hash) {
                audit::session_expired(&e.app, &z32::encode(&e.key));
            }
        }
        Ok(found)
    }

    async fn peek(&self, hash: &TokenHash, app: &str) -> Result<Option<SessionRecord>, StoreError> {
        let now = self.clock.now_millis();
        Ok(self
            .map
            .get(hash)
            .filter(|e| !self.expired(e, now) && &*e.app == app)
            .map(|e| e.record()))
    }

    async fn revoke(&self, hash: &TokenHash) -> Result<bool, StoreError> {
        Ok(self.map.remove(hash).is_some())
    }

    async fn reapproved(&self, hash: &TokenHash, at_ms: u64) -> Result<bool, StoreError> {
        Ok(self
            .map
            .get(hash)
            .map(|e| e.approved_ms.fetch_max(at_ms, Ordering::Relaxed))
            .is_some())
    }

    async fn sweep(&self) -> usize {
        let now = self.clock.now_millis();
        let before = self.map.len();
        self.map.retain(|_, e| {
            let expired = self.expired(e, now);
            if expired {
                audit::session_expired(&e.app, &z32::encode(&e.key));
            }
            !expired
        });
        before.saturating_sub(self.map.len())
    }

    fn len(&self) -> usize {
        self.map.len()
    }

    async fn export(&self) -> Result<Vec<(TokenHash, SessionRecord)>, StoreError> {
        let now = self.clock.now_millis();
        Ok(self
            .map
            .iter()
            .filter(|e| !self.expired(e.value(), now))
            .map(|e| (*e.key(), e.value().record()))
            .collect())
    }

    async fn import(&self, sessions: Vec<(TokenHash, SessionRecord)>) -> Result<usize, StoreError> {
        let now = self.clock.now_millis();
        let mut kept = 0;
        for (hash, r) in sessions {
            let r = r.no_later_than(now);
            let entry = Entry {
                key: r.key,
                app: r.app,
                created_ms: r.created_ms,
                last_seen_ms: AtomicU64::new(r.last_seen_ms),
                approved_ms: AtomicU64::new(r.approved_ms),
                meta: r.meta,
            };
            if !self.expired(&entry, now) {
                self.map.insert(hash, entry);
                kept += 1;
            }
        }
        Ok(kept)
    }
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use super::*;
    use crate::session::token_hash;

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
            .create(app("a"), [1; 32], SessionMeta::default())
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
            .create(app("a"), [1; 32], SessionMeta::default())
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
            .create(app("a"), [1; 32], SessionMeta::default())
            .await
            .expect("created");
        let _other = s
            .create(app("a"), [1; 32], SessionMeta::default())
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
            .create(app("b"), [2; 32], SessionMeta::default())
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
            ([2; 32], "b"),
            "the record says whose and where"
        );
        assert_eq!(s.lookup(&[0u8; 32], "b").await, Ok(None));
        assert_eq!(s.revoke(&t.hash()).await, Ok(true));
        assert!(!live(&s, &t, "b").await);
        assert_eq!(s.revoke(&t.hash()).await, Ok(false));
    }

    #[tokio::test]
    async fn export_and_import_keep_live_sessions_only() {
        let (s, clock) = store();
        let kept = s
            .create(app("a"), [1; 32], SessionMeta::default())
            .await
            .expect("created");
        let stale = s
            .create(app("a"), [2; 32], SessionMeta::default())
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

    #[test]
    fn only_well_formed_tokens_hash() {
        for bad in ["", "x", &"a".repeat(44), &"=".repeat(43), &"a".repeat(42)] {
            assert_eq!(token_hash(bad), None, "{bad:?}");
        }
        assert!(token_hash(SessionToken::generate().as_str()).is_some());
    }
}
