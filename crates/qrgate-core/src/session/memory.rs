//! The in-memory session store: one process, a sharded hash map keyed by token hash, an
//! index from each key to its sessions' hashes, and one from each single sign-on family to
//! its sessions' hashes.
//!
//! Lookups take only a shard's read lock: the idle window slides through an atomic, so
//! concurrent requests of one session never serialize on a write lock.
//!
//! The index (`by_key`) lets the person's page and a filtered control call read what one key
//! has instead of every session. Its invariant: **every session in the map is in its key's
//! set** (a set may briefly hold a hash the map no longer has; readers look each one up, so
//! such a member is never listed). It holds under concurrent creates, revocations, lookups
//! and sweeps because:
//!
//! - a session enters the map and its key's set while that set's entry is locked
//!   ([`MemoryStore::insert`]), so no reader of the set (which copies it under the same lock)
//!   sees one without the other;
//! - a session leaves the map first and its set second ([`MemoryStore::unindex`]), and a hash
//!   leaves a set only if, checked while that set's entry is locked, the map holds no session
//!   of that hash for that key. An insert of the same hash is thus wholly before the check
//!   (and seen) or wholly after (and re-adds both);
//! - locks are only ever taken index first, map second (the sweep collects what it removed
//!   and unindexes it after the map's shards are released), so they cannot deadlock.
//!
//! The family index (`by_family`, single sign-on family → the sessions made from it) keeps the
//! same invariant by the same steps: a session with a family enters it in `insert` while its
//! key's set and its family's set are locked (index locks in that order, the map last), and
//! leaves it after the map, each hash checked against the map under the set's lock.
//!
//! An empty set is dropped in the same locked step, so the index holds only keys that have
//! sessions (or had, until their last one is unindexed). A set is a plain vector of hashes
//! (32 bytes a session, where a hash set would take about twice that): adding is O(1),
//! removing scans that key's sessions only — what that person has.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;

use async_trait::async_trait;
use dashmap::DashMap;

use super::{
    Lifetimes, SessionMeta, SessionRecord, SessionStore, SessionToken, StoreError, TokenHash,
};
use crate::clock::{millis, Clock};
use crate::observe::audit;
use crate::raw::KeyBytes;

struct Entry {
    key: KeyBytes,
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
    /// Per key, the hashes of its sessions (see the module's invariant).
    by_key: DashMap<KeyBytes, Vec<TokenHash>>,
    /// Per single sign-on family, the hashes of the sessions made from it (the same
    /// invariant, for `SessionMeta::family`).
    by_family: DashMap<String, Vec<TokenHash>>,
    lifetimes: Lifetimes,
    clock: Clock,
}

impl MemoryStore {
    /// An empty store.
    pub fn new(lifetimes: Lifetimes, clock: Clock) -> Self {
        Self {
            map: DashMap::new(),
            by_key: DashMap::new(),
            by_family: DashMap::new(),
            lifetimes,
            clock,
        }
    }

    /// Adds (or replaces) session `hash`: into the map and its key's set, with the set's
    /// entry locked throughout.
    fn insert(&self, hash: TokenHash, entry: Entry) {
        let key = entry.key;
        let family = entry.meta.family.clone();
        let replaced = {
            // Index locks first (key, then family), the map second.
            let mut set = self.by_key.entry(key).or_default();
            let mut members = family.clone().map(|f| self.by_family.entry(f).or_default());
            let replaced = self.map.insert(hash, entry);
            // Already there if the map held it for this key (a state file naming it twice).
            if replaced.as_ref().is_none_or(|old| old.key != key) {
                set.push(hash);
            }
            if let Some(members) = members.as_mut() {
                if replaced
                    .as_ref()
                    .is_none_or(|old| old.meta.family != family)
                {
                    members.push(hash);
                }
            }
            replaced
        };
        if let Some(old) = replaced {
            // The same hash under another key or family before: not theirs any more.
            if old.key != key {
                self.unindex(&old.key, &[hash]);
            }
            if let Some(f) = old
                .meta
                .family
                .as_ref()
                .filter(|f| Some(*f) != family.as_ref())
            {
                self.unindex_family(f, hash);
            }
        }
    }

    /// Takes `hash` out of family `family`'s set unless the map holds it for that family
    /// (checked with the set's entry locked); drops the set when it is empty.
    fn unindex_family(&self, family: &str, hash: TokenHash) {
        self.by_family.remove_if_mut(family, |_, set| {
            set.retain(|h| {
                *h != hash
                    || self
                        .map
                        .get(h)
                        .is_some_and(|e| e.meta.family.as_deref() == Some(family))
            });
            set.is_empty()
        });
    }

    /// Takes the hashes `gone` (sorted) out of `key`'s set, each once the map no longer holds
    /// it for that key (checked with the set's entry locked); drops the set when it is empty.
    fn unindex(&self, key: &KeyBytes, gone: &[TokenHash]) {
        self.by_key.remove_if_mut(key, |_, set| {
            set.retain(|h| {
                gone.binary_search(h).is_err() || self.map.get(h).is_some_and(|e| e.key == *key)
            });
            // Give back what mass revocations left unused.
            if set.len() < set.capacity() / 4 {
                set.shrink_to(set.len() * 2);
            }
            set.is_empty()
        });
    }

    /// Removes session `hash` from the map and then from the index; returns it if it was
    /// there.
    fn remove(&self, hash: &TokenHash) -> Option<Entry> {
        let (_, e) = self.map.remove(hash)?;
        self.unindex(&e.key, &[*hash]);
        if let Some(f) = &e.meta.family {
            self.unindex_family(f, *hash);
        }
        Some(e)
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
        key: KeyBytes,
        meta: SessionMeta,
    ) -> Result<SessionToken, StoreError> {
        let token = SessionToken::generate();
        let now = self.clock.now_millis();
        self.insert(
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
            if let Some(e) = self.remove(hash) {
                audit::session_expired(&e.app, &z32::encode(e.key.as_bytes()));
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
        Ok(self.remove(hash).is_some())
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
        let mut gone = Vec::new();
        let mut families = Vec::new();
        self.map.retain(|hash, e| {
            let expired = self.expired(e, now);
            if expired {
                audit::session_expired(&e.app, &z32::encode(e.key.as_bytes()));
                gone.push((e.key, *hash));
                if let Some(f) = &e.meta.family {
                    families.push((f.clone(), *hash));
                }
            }
            !expired
        });
        for (f, hash) in families {
            self.unindex_family(&f, hash);
        }
        // After `retain` has released the map's shards: index locks come first, never second.
        // One pass over each key's set for all of that key's expired sessions.
        gone.sort_unstable();
        for of_key in gone.chunk_by(|a, b| a.0 == b.0) {
            let hashes: Vec<TokenHash> = of_key.iter().map(|(_, h)| *h).collect();
            self.unindex(&of_key[0].0, &hashes);
        }
        gone.len()
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

    async fn of_keys(
        &self,
        keys: &[KeyBytes],
    ) -> Result<Vec<(TokenHash, SessionRecord)>, StoreError> {
        let now = self.clock.now_millis();
        let mut out = Vec::new();
        for key in super::distinct(keys) {
            // A copy of the set, so no index lock is held while the map is read.
            let hashes: Vec<TokenHash> = self
                .by_key
                .get(&key)
                .map(|set| set.iter().copied().collect())
                .unwrap_or_default();
            for hash in hashes {
                if let Some(e) = self.map.get(&hash) {
                    if e.key == key && !self.expired(&e, now) {
                        out.push((hash, e.record()));
                    }
                }
            }
        }
        Ok(out)
    }

    async fn of_family(&self, family: &str) -> Result<Vec<(TokenHash, SessionRecord)>, StoreError> {
        let now = self.clock.now_millis();
        // A copy of the set, so no index lock is held while the map is read.
        let hashes: Vec<TokenHash> = self
            .by_family
            .get(family)
            .map(|set| set.iter().copied().collect())
            .unwrap_or_default();
        Ok(hashes
            .into_iter()
            .filter_map(|hash| {
                let e = self.map.get(&hash)?;
                (e.meta.family.as_deref() == Some(family) && !self.expired(&e, now))
                    .then(|| (hash, e.record()))
            })
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
                self.insert(hash, entry);
                kept += 1;
            }
        }
        Ok(kept)
    }
}

#[cfg(test)]
mod tests;
