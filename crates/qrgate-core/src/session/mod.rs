//! Login sessions: who is signed in to which app, until when.
//!
//! The raw session token exists only in the browser's cookie. The store is keyed by the
//! SHA-256 of the token, so a memory dump or a debug log of the table cannot be replayed, and
//! the lookup by hash needs no secret comparison at all (no timing side channel to guard).
//!
//! Expiry — absolute lifetime and sliding idle timeout — is checked on every lookup; the
//! sweeper only frees memory, so correctness never depends on when it last ran.
//! [`SessionStore`] is the seam where a shared store (Redis, for several gateway instances)
//! can replace [`MemoryStore`] without touching the proxy. Every operation is fallible: a
//! remote store can say "unavailable", which callers treat as a refusal (fail closed), never
//! as "no session" nor as "let in".
//!
//! Each store also keeps an index from a signing key to its sessions
//! ([`SessionStore::of_keys`]), updated in the same step as the session, so what one person
//! has is read without reading everyone's. Who a key *belongs to* is not stored: it is the
//! config's and the device registry's answer at the time of asking, so a "user" filter is
//! resolved to that user's keys first ([`crate::control`]). A second index, from a single
//! sign-on family to the sessions made from it ([`SessionStore::of_family`]), is kept the
//! same way.
//!
//! - `memory`: the in-memory store (a DashMap keyed by token hash, and one from key to
//!   hashes).

mod memory;

use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine;
use sha2::{Digest, Sha256};

use crate::raw::KeyBytes;
pub use memory::MemoryStore;

/// A raw session token: 33 random bytes, base64url (44 characters). Only ever placed in a
/// cookie (or a link, for invitations).
#[derive(Clone, PartialEq, Eq)]
pub struct SessionToken(String);

/// The length of a token as issued now.
pub const TOKEN_LEN: usize = 44;

/// The length of a token issued before session cookies carried the `__Host-` prefix on https
/// origins (32 random bytes). Its length is the mark: a token this long was issued under the
/// cookie's plain name, so only such a token is honoured under that name, which a sibling
/// subdomain can plant (`Gateway::session`); every token issued since is longer.
pub const LEGACY_TOKEN_LEN: usize = 43;

impl SessionToken {
    /// A fresh random token.
    pub fn generate() -> Self {
        Self(URL_SAFE_NO_PAD.encode(crate::random_bytes::<33>()))
    }

    /// The cookie value.
    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// The hash stores keep.
    pub fn hash(&self) -> TokenHash {
        TokenHash::new(Sha256::digest(self.0.as_bytes()).into())
    }
}

impl std::fmt::Debug for SessionToken {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("SessionToken(…)")
    }
}

pub use crate::raw::TokenHash;

/// Hashes a token as presented by a client. Anything but 44 (or, issued before, 43) base64url
/// characters is no token (fail closed before touching the store).
pub fn token_hash(presented: &str) -> Option<TokenHash> {
    if !matches!(presented.len(), TOKEN_LEN | LEGACY_TOKEN_LEN)
        || !presented
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
    {
        return None;
    }
    Some(TokenHash::new(Sha256::digest(presented.as_bytes()).into()))
}

/// Absolute and idle lifetimes applied by a store.
#[derive(Debug, Clone, Copy)]
pub struct Lifetimes {
    /// From creation.
    pub absolute: Duration,
    /// Since last use.
    pub idle: Duration,
}

/// Why a store could not answer. Callers deny access on it.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum StoreError {
    /// The store cannot be reached or did not answer in time.
    #[error("the session store is unavailable: {0}")]
    Unavailable(String),
    /// A change reached the store's primary but not, in time, the replicas it must reach to
    /// survive a failover (`[store] replicas_to_wait`): it is not relied on.
    #[error("the store did not confirm this change on its replicas in time; please try again")]
    NotReplicated,
}

/// What a session records: whose key signed in, to which app, and when. Who that key *is*
/// (name, roles, whether still allowed) is looked up in the current config on every request,
/// so config changes apply to live sessions at once.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SessionRecord {
    /// The signing key's 32 bytes.
    pub key: KeyBytes,
    /// The app's name (unique; stable across reloads, unlike positions).
    pub app: Arc<str>,
    /// Created, ms since the epoch.
    pub created_ms: u64,
    /// Last used, ms since the epoch.
    pub last_seen_ms: u64,
    /// The last phone approval (the login, or a later step-up), ms since the epoch.
    pub approved_ms: u64,
    /// How it began, for the people who list sessions.
    pub meta: Arc<SessionMeta>,
}

impl SessionRecord {
    /// The record with no time later than `now_ms`. Imported records (a state file) carry the
    /// clock of whoever wrote them: a time ahead of now (a clock that ran fast, a file that
    /// was tampered with) would stretch the session's absolute lifetime, idle window and
    /// step-up freshness by that much, so such a time counts as now.
    pub fn no_later_than(mut self, now_ms: u64) -> Self {
        self.created_ms = self.created_ms.min(now_ms);
        self.last_seen_ms = self.last_seen_ms.min(now_ms);
        self.approved_ms = self.approved_ms.min(now_ms);
        self
    }
}

/// How a session began: what it was granted (enforced on every request), and — shown to
/// operators and to the person, never used to decide — how it was approved.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct SessionMeta {
    /// What the approved login granted.
    pub grant: crate::identity::access::Grant,
    /// The signer protocol that approved the login.
    pub protocol: String,
    /// The address the browser claimed the session from.
    pub client_ip: String,
    /// A short summary of the browser (e.g. "Firefox on Linux").
    pub browser: String,
    /// The single sign-on family the session belongs to: the id ([`session_id`]) of the SSO
    /// session it came from, so ending that sign-on ends every session and grant it led to.
    /// `None` for a session of its own (an SSO session is its family's root).
    pub family: Option<String>,
}

/// A session's public id: the first 12 bytes of its token hash in hex (24 characters, safe on
/// any command line). It names a session in lists and revocations without being usable as a
/// credential: the token cannot be derived from its hash, let alone from part of it.
pub fn session_id(hash: &TokenHash) -> String {
    hex::encode(&hash.as_bytes()[..12])
}

/// `keys` without repeats (a key named twice is read once), in a fixed order.
pub fn distinct(keys: &[KeyBytes]) -> Vec<KeyBytes> {
    let mut keys = keys.to_vec();
    keys.sort_unstable();
    keys.dedup();
    keys
}

/// Where sessions live. Implementations check both lifetimes on every lookup.
#[async_trait]
pub trait SessionStore: Send + Sync + 'static {
    /// Starts a session for `key` on app `app`; returns the only copy of the raw token.
    async fn create(
        &self,
        app: Arc<str>,
        key: KeyBytes,
        meta: SessionMeta,
    ) -> Result<SessionToken, StoreError>;
    /// The live session `hash` names on app `app`, if any; refreshes its idle time.
    async fn lookup(
        &self,
        hash: &TokenHash,
        app: &str,
    ) -> Result<Option<SessionRecord>, StoreError>;
    /// [`SessionStore::lookup`] without sliding the idle window: for checks that are not the
    /// person's activity (a connection re-checking the session it was let in by).
    async fn peek(&self, hash: &TokenHash, app: &str) -> Result<Option<SessionRecord>, StoreError>;
    /// Ends a session; true if it existed.
    async fn revoke(&self, hash: &TokenHash) -> Result<bool, StoreError>;
    /// Records a fresh phone approval (step-up) of session `hash` at `at_ms`; true if it
    /// exists.
    async fn reapproved(&self, hash: &TokenHash, at_ms: u64) -> Result<bool, StoreError>;
    /// Frees expired sessions; returns how many.
    async fn sweep(&self) -> usize;
    /// Every live session, by token hash (for the state file; never a raw token). Reads the
    /// whole store: for a person's sessions, use [`SessionStore::of_keys`].
    async fn export(&self) -> Result<Vec<(TokenHash, SessionRecord)>, StoreError>;
    /// Every live session of the given keys, by token hash, in no particular order. Read
    /// through the store's per-key index, so it costs what those keys have, not what the
    /// store holds: the person's page and control calls that name a key or a user.
    async fn of_keys(
        &self,
        keys: &[KeyBytes],
    ) -> Result<Vec<(TokenHash, SessionRecord)>, StoreError>;
    /// Every live session made from single sign-on family `family` (`SessionMeta::family`),
    /// read through the store's per-family index (kept in the same step as the session), so
    /// a family is ended without its key and without reading the whole store.
    async fn of_family(&self, family: &str) -> Result<Vec<(TokenHash, SessionRecord)>, StoreError>;
    /// Adds sessions (from the state file), dropping expired ones; returns how many were kept.
    async fn import(&self, sessions: Vec<(TokenHash, SessionRecord)>) -> Result<usize, StoreError>;
    /// Whether the store can answer now (for readiness checks).
    async fn ready(&self) -> Result<(), StoreError> {
        Ok(())
    }
    /// Live entries (expired but unswept ones included).
    fn len(&self) -> usize;
    /// True when empty.
    fn is_empty(&self) -> bool {
        self.len() == 0
    }
}
