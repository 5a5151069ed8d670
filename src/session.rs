//! Login sessions: who is signed in to which app, until when.
//!
//! The raw session token exists only in the browser's cookie. The store is keyed by the
//! SHA-256 of the token, so a memory dump or a debug log of the table cannot be replayed, and
//! the lookup by hash needs no secret comparison at all (no timing side channel to guard).
//!
//! Expiry — absolute lifetime and sliding idle timeout — is checked on every lookup; the
//! sweeper only frees memory, so correctness never depends on when it last ran.
//! [`SessionStore`] is the seam where a shared store (Redis, for several gateway instances)
//! can replace [`MemoryStore`] without touching the proxy.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine;
use dashmap::DashMap;
use http::HeaderValue;
use sha2::{Digest, Sha256};

use crate::clock::Clock;

/// Who a session belongs to; shared by every session of the same person.
///
/// The upstream header values are built once here rather than on every proxied request.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Identity {
    /// Configured user name (or the z-base32 key under open enrollment).
    pub user: String,
    /// The signing key, z-base32.
    pub pubkey: String,
    /// Roles, comma-separated, as sent upstream.
    pub roles: String,
    /// `user`, `pubkey`, `roles` as header values.
    header_values: [HeaderValue; 3],
}

impl Identity {
    /// An identity; `None` if a field cannot travel in an HTTP header (control characters),
    /// which config validation rules out for configured users.
    pub fn new(user: String, pubkey: String, roles: String) -> Option<Identity> {
        let header_values = [
            HeaderValue::from_bytes(user.as_bytes()).ok()?,
            HeaderValue::from_bytes(pubkey.as_bytes()).ok()?,
            HeaderValue::from_bytes(roles.as_bytes()).ok()?,
        ];
        Some(Identity {
            user,
            pubkey,
            roles,
            header_values,
        })
    }

    /// `user`, `pubkey`, `roles` as header values, in that order.
    pub fn header_values(&self) -> &[HeaderValue; 3] {
        &self.header_values
    }
}

/// A raw session token: 32 random bytes, base64url. Only ever placed in a cookie.
#[derive(Clone, PartialEq, Eq)]
pub struct SessionToken(String);

impl SessionToken {
    /// A fresh random token.
    pub fn generate() -> Self {
        Self(URL_SAFE_NO_PAD.encode(crate::random_bytes::<32>()))
    }

    /// The cookie value.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl std::fmt::Debug for SessionToken {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("SessionToken(…)")
    }
}

/// SHA-256 of a token string: what stores keep instead of the token.
pub type TokenHash = [u8; 32];

/// Hashes a token as presented by a client. Anything but 43 base64url characters is no
/// token (fail closed before touching the store).
pub fn token_hash(presented: &str) -> Option<TokenHash> {
    if presented.len() != 43
        || !presented
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
    {
        return None;
    }
    Some(Sha256::digest(presented.as_bytes()).into())
}

/// Absolute and idle lifetimes applied by a store.
#[derive(Debug, Clone, Copy)]
pub struct Lifetimes {
    /// From creation.
    pub absolute: Duration,
    /// Since last use.
    pub idle: Duration,
}

/// Where sessions live. Implementations check both lifetimes on every lookup.
#[async_trait]
pub trait SessionStore: Send + Sync + 'static {
    /// Starts a session for `identity` on app `app`; returns the only copy of the raw token.
    async fn create(&self, app: usize, identity: Arc<Identity>) -> SessionToken;
    /// The live session's identity, if `token` names one for this app; refreshes idle time.
    async fn lookup(&self, token: &str, app: usize) -> Option<Arc<Identity>>;
    /// Ends a session; true if it existed.
    async fn revoke(&self, token: &str) -> bool;
    /// Frees expired sessions; returns how many.
    async fn sweep(&self) -> usize;
    /// Live entries (expired but unswept ones included).
    fn len(&self) -> usize;
    /// True when empty.
    fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

struct Entry {
    identity: Arc<Identity>,
    app: u32,
    created_ms: u64,
    // Atomic so a lookup slides the idle window under the shard's read lock.
    last_seen_ms: AtomicU64,
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
        now >= e
            .created_ms
            .saturating_add(self.lifetimes.absolute.as_millis() as u64)
            || now
                >= e.last_seen_ms
                    .load(Ordering::Relaxed)
                    .saturating_add(self.lifetimes.idle.as_millis() as u64)
    }
}

#[async_trait]
impl SessionStore for MemoryStore {
    async fn create(&self, app: usize, identity: Arc<Identity>) -> SessionToken {
        let token = SessionToken::generate();
        let now = self.clock.now_millis();
        if let Some(hash) = token_hash(token.as_str()) {
            self.map.insert(
                hash,
                Entry {
                    identity,
                    app: app as u32,
                    created_ms: now,
                    last_seen_ms: AtomicU64::new(now),
                },
            );
        }
        token
    }

    async fn lookup(&self, token: &str, app: usize) -> Option<Arc<Identity>> {
        let hash = token_hash(token)?;
        let now = self.clock.now_millis();
        let found = {
            let entry = self.map.get(&hash)?;
            if self.expired(&entry, now) {
                None
            } else if entry.app as usize != app {
                // A session for another app on this gateway is no session here; leave it be.
                return None;
            } else {
                entry.last_seen_ms.store(now, Ordering::Relaxed);
                Some(entry.identity.clone())
            }
        };
        if found.is_none() {
            self.map.remove(&hash);
        }
        found
    }

    async fn revoke(&self, token: &str) -> bool {
        token_hash(token).is_some_and(|h| self.map.remove(&h).is_some())
    }

    async fn sweep(&self) -> usize {
        let now = self.clock.now_millis();
        let before = self.map.len();
        self.map.retain(|_, e| !self.expired(e, now));
        before.saturating_sub(self.map.len())
    }

    fn len(&self) -> usize {
        self.map.len()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn store() -> (MemoryStore, Clock) {
        let clock = Clock::manual();
        let lifetimes = Lifetimes {
            absolute: Duration::from_secs(100),
            idle: Duration::from_secs(10),
        };
        (MemoryStore::new(lifetimes, clock.clone()), clock)
    }

    fn alice() -> Arc<Identity> {
        Arc::new(Identity::new("alice".into(), "k".into(), String::new()).expect("identity"))
    }

    #[tokio::test]
    async fn idle_window_slides_and_absolute_lifetime_holds() {
        let (s, clock) = store();
        let t = s.create(0, alice()).await;
        for _ in 0..9 {
            clock.advance(Duration::from_secs(9));
            assert!(
                s.lookup(t.as_str(), 0).await.is_some(),
                "used within idle window"
            );
        }
        clock.advance(Duration::from_secs(10));
        assert!(
            s.lookup(t.as_str(), 0).await.is_none(),
            "absolute lifetime passed"
        );
        assert_eq!(s.len(), 0, "expired entry dropped on lookup");
    }

    #[tokio::test]
    async fn idle_expiry_and_sweep() {
        let (s, clock) = store();
        let t = s.create(0, alice()).await;
        let _other = s.create(0, alice()).await;
        clock.advance(Duration::from_secs(10));
        assert!(s.lookup(t.as_str(), 0).await.is_none());
        assert_eq!(s.sweep().await, 1);
        assert!(s.is_empty());
    }

    #[tokio::test]
    async fn wrong_app_malformed_and_revoked_tokens_are_refused() {
        let (s, _) = store();
        let t = s.create(1, alice()).await;
        assert!(s.lookup(t.as_str(), 0).await.is_none());
        assert!(
            s.lookup(t.as_str(), 1).await.is_some(),
            "other app's miss left it alone"
        );
        for bad in ["", "x", &"a".repeat(44), &"=".repeat(43)] {
            assert!(s.lookup(bad, 1).await.is_none());
        }
        assert!(s.revoke(t.as_str()).await);
        assert!(s.lookup(t.as_str(), 1).await.is_none());
        assert!(!s.revoke(t.as_str()).await);
    }
}
