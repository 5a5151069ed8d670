//! What the provider issues, behind a seam so any instance can redeem it: authorization
//! codes, grants (one per redeemed code: the refresh-token family) with their current refresh
//! token and their access tokens. Every token is kept by its SHA-256 only.
//!
//! Each operation that uses something up is one atomic step of the store: a code is redeemed
//! once (a second redemption revokes the grant the first made, RFC 6749 §4.1.2); a refresh
//! token rotates once (presenting a rotated-out one revokes its whole grant, RFC 9700
//! §4.14.2). `MemoryOidc` does it under one lock; the Redis store with one Lua script each.

use async_trait::async_trait;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine;
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

pub use super::apps::AppCode;
pub(crate) use crate::session::StoreError;
pub(crate) use memory::MemoryOidc;

mod memory;

/// Which grants a sweep over all of them ends ([`OidcStore::end_where`]): true for those to
/// end.
pub type GrantTest<'a> = &'a (dyn Fn(&Grant) -> bool + Send + Sync);

/// The rotated-out refresh tokens a grant remembers (reuse detection): the newest ones. An
/// older one is simply unknown.
pub const MAX_RETIRED: usize = 32;
/// The access tokens a grant keeps live: a newer one revokes the oldest beyond this.
pub const MAX_ACCESS: usize = 32;
/// The grants one user has at one client: a newer one revokes the oldest beyond this.
pub const MAX_GRANTS: usize = 16;

/// SHA-256 of a token: what stores keep.
pub type Hash = [u8; 32];

/// A fresh token (code or refresh): 32 random bytes, base64url (43 characters).
pub(crate) fn mint() -> String {
    URL_SAFE_NO_PAD.encode(crate::random_bytes::<32>())
}

/// What every access token starts with, so that a token of the gateway is recognized
/// wherever it is sent (and removed before any upstream) without a store lookup, and a
/// secret scanner can find a leaked one.
pub const ACCESS_PREFIX: &str = "qga_";

/// A fresh access token: [`ACCESS_PREFIX`] and 32 random bytes, base64url.
pub(crate) fn mint_access() -> String {
    format!("{ACCESS_PREFIX}{}", mint())
}

/// Whether `s` is 43 base64url characters: the random part of every token.
fn is_random_part(s: &str) -> bool {
    s.len() == 43
        && s.bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
}

/// Whether `presented` has an access token's shape ([`mint_access`]).
pub(crate) fn is_access_shaped(presented: &str) -> bool {
    presented
        .strip_prefix(ACCESS_PREFIX)
        .is_some_and(is_random_part)
}

/// The hash of a presented token: of all of it, for 43 base64url characters (codes, refresh
/// tokens and access tokens made before [`ACCESS_PREFIX`]) or an access token's shape;
/// anything else is none.
pub(crate) fn hash_of(presented: &str) -> Option<Hash> {
    (is_random_part(presented) || is_access_shaped(presented))
        .then(|| Sha256::digest(presented.as_bytes()).into())
}

/// What an authorization code stands for until it is redeemed.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct CodeGrant {
    /// The client it was issued to.
    pub client_id: String,
    /// The redirect URI it was sent to (the token request must name the same).
    pub(crate) redirect_uri: String,
    /// The user signed in.
    pub(crate) user: String,
    /// Their `sub` then.
    #[serde(default)]
    pub(crate) subject: String,
    /// The key that approved the sign-on, hex: the code stands only while that key still
    /// resolves to the user (a removed device or a replaced key does not).
    #[serde(default)]
    pub(crate) key: String,
    /// The SSO session it came from ([`crate::session::session_id`]).
    pub family: String,
    /// Granted scopes.
    pub(crate) scope: Vec<String>,
    /// The client's `nonce`, for the ID token.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub(crate) nonce: Option<String>,
    /// The PKCE `S256` challenge, if the client sent one.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub(crate) code_challenge: Option<String>,
    /// The last phone approval, seconds since the epoch (`auth_time`).
    pub(crate) auth_time: u64,
    /// `acr`, when the approval was a fresh one the client asked for.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub(crate) acr: Option<String>,
    /// The code expires then, ms since the epoch.
    pub expires_ms: u64,
}

/// What a step-up for an authorization request was started for: the return to the request
/// carries only the ticket's token, and the store says what it stands for (once).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct StepUpTicket {
    /// The SSO session that was asked to approve afresh ([`crate::session::session_id`]).
    pub(crate) family: String,
    /// The client whose request asked for it.
    pub(crate) client_id: String,
    /// That request's redirect URI.
    pub(crate) redirect_uri: String,
    /// The approval must be no older than this, seconds since the epoch.
    pub(crate) after: u64,
    /// The ticket expires then, ms since the epoch.
    pub expires_ms: u64,
}

/// One grant: what a redeemed code led to, and what its refresh tokens renew.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Grant {
    /// Random id (audit, revocation).
    pub id: String,
    /// The client.
    pub client_id: String,
    /// The user.
    pub user: String,
    /// Their `sub` when it was issued: a grant serves only that subject.
    #[serde(default)]
    pub subject: String,
    /// The key that approved it, hex: the grant stands only while that key still resolves
    /// to the user on the SSO origin.
    #[serde(default)]
    pub key: String,
    /// The SSO session it came from.
    pub family: String,
    /// Granted scopes.
    pub scope: Vec<String>,
    /// The original `auth_time`, seconds since the epoch.
    pub(crate) auth_time: u64,
    /// `acr` of the original approval, if any.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub(crate) acr: Option<String>,
    /// The grant (and every refresh token of it) ends then, ms since the epoch.
    pub expires_ms: u64,
    /// When it was made, ms since the epoch (0: before this was recorded).
    #[serde(default)]
    pub created_ms: u64,
    /// Where the client asked from (the token request's address), as lists show it.
    #[serde(default)]
    pub from: String,
    /// A personal token's name (empty for every other grant).
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub name: String,
    /// The origins of the apps its app scopes named when it was made: it stands only while
    /// each is still that app ([`crate::oidc::device::apps_stand`]); a name given to an app
    /// at another origin inherits nothing.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub origins: Vec<String>,
    /// When one of its access tokens was last used on a proxied request, ms since the epoch
    /// (0: never), to the minute ([`OidcStore::touch`]).
    #[serde(default, skip_serializing_if = "is_zero")]
    pub last_used_ms: u64,
    /// From which address it was last used.
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub last_from: String,
}

fn is_zero(n: &u64) -> bool {
    *n == 0
}

impl Grant {
    /// Which of the person's grants count together against [`MAX_GRANTS`]: those of the same
    /// client, its personal tokens apart, so that making grants by device login never ends a
    /// named personal token (and the page refuses a personal token beyond the bound).
    pub fn bound(&self) -> String {
        if self.name.is_empty() {
            self.client_id.clone()
        } else {
            format!("{}#personal", self.client_id)
        }
    }
}

/// An access token's grant and lifetime.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Access {
    /// The grant it belongs to.
    pub grant_id: String,
    /// The client.
    pub client_id: String,
    /// The user.
    pub user: String,
    /// Their `sub` when it was issued.
    pub subject: String,
    /// The key that approved its grant, hex.
    pub key: String,
    /// Its scopes.
    pub scope: Vec<String>,
    /// Expires then, ms since the epoch.
    pub expires_ms: u64,
    /// Its grant's family (a program's: `key:` and the approving key in hex).
    #[serde(default)]
    pub family: String,
    /// Its grant's app origins ([`Grant::origins`]).
    #[serde(default)]
    pub origins: Vec<String>,
    /// Its grant's name: a personal token's (empty for every other grant).
    #[serde(default)]
    pub name: String,
    /// When its grant was made, ms since the epoch.
    #[serde(default)]
    pub created_ms: u64,
}

/// New tokens to store with a grant: the refresh token's hash (if the client gets one) and
/// the access token's, with the scopes the access token carries (a refresh may narrow them).
#[derive(Debug, Clone)]
pub struct Issue {
    /// The access token's scopes.
    pub scope: Vec<String>,
    /// The refresh token's hash.
    pub refresh: Option<Hash>,
    /// The access token's hash.
    pub access: Hash,
    /// The access token expires then, ms since the epoch.
    pub access_expires_ms: u64,
}

/// What redeeming a code did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Redeemed {
    /// The code was fresh: the grant and its tokens are stored.
    Issued {
        /// The user's oldest grants at the client that the bound ([`MAX_GRANTS`]) ended to
        /// make room (for back-channel logout).
        evicted: Vec<Grant>,
    },
    /// The code had been redeemed before: the grant it led to is revoked now.
    Reused {
        /// That grant.
        grant_id: Option<String>,
        /// The grant as it was, if this step ended it (for back-channel logout): one or none.
        ended: Vec<Grant>,
    },
    /// No such code (or expired).
    Unknown,
    /// The grant's bound refuses another (a person's personal tokens): nothing is stored.
    Full,
}

/// What presenting a refresh token did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Refreshed {
    /// It was the grant's current one: replaced by the new one, the new access token stored.
    Rotated(Grant),
    /// It had been rotated out: its whole grant is revoked now.
    Reused {
        /// That grant.
        grant_id: String,
        /// The grant as it was, if this step ended it (for back-channel logout).
        ended: Option<Grant>,
    },
    /// No such token, another client's, or its grant ended.
    Unknown,
}

/// A used code presented again ([`OidcStore::replayed`]).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Replayed {
    /// The grant its redemption made.
    pub grant_id: String,
    /// That grant as it was, if this step ended it (for back-channel logout).
    pub ended: Option<Grant>,
}

/// Where codes, grants and tokens live. Every step that revokes grants answers with the
/// grants it ended (not those already gone), so exactly the caller that ended one tells its
/// client (back-channel logout), even with several instances.
#[async_trait]
pub trait OidcStore: Send + Sync + 'static {
    /// Keeps an authorization code until it expires (`now_ms`: the gateway's clock).
    async fn put_code(&self, code: Hash, grant: CodeGrant, now_ms: u64) -> Result<(), StoreError>;
    /// The code's grant, if it is unused and not expired at `now_ms` (changes nothing).
    async fn code(&self, code: Hash, now_ms: u64) -> Result<Option<CodeGrant>, StoreError>;
    /// In one step: if `code` is unused and live, marks it used by `grant` and stores the
    /// grant with `issue`; if it was used, revokes the grant it led to.
    async fn redeem(
        &self,
        code: Hash,
        grant: Grant,
        issue: Issue,
        now_ms: u64,
    ) -> Result<Redeemed, StoreError>;
    /// In one step: if `code` was redeemed and `client_id` is the client it was issued to,
    /// revokes the grant its redemption made and names it (a replay, RFC 6749 §4.1.2);
    /// otherwise (another client presenting it included) changes nothing.
    async fn replayed(&self, code: Hash, client_id: &str) -> Result<Option<Replayed>, StoreError>;
    /// Changes nothing: the live grant of `client_id` that `presented` is a refresh token
    /// of, and whether it is the grant's current one (a refresh checks its request against
    /// it before the one step that rotates).
    async fn peek_refresh(
        &self,
        presented: Hash,
        client_id: &str,
        now_ms: u64,
    ) -> Result<Option<(Grant, bool)>, StoreError>;
    /// In one step: if `presented` is the current refresh token of a live grant of
    /// `client_id`, replaces it with `issue.refresh` and stores the access token; if it is a
    /// rotated-out one of such a grant, revokes the grant.
    async fn refresh(
        &self,
        presented: Hash,
        client_id: &str,
        issue: Issue,
        now_ms: u64,
    ) -> Result<Refreshed, StoreError>;
    /// The live access token `token` names.
    async fn access(&self, token: Hash, now_ms: u64) -> Result<Option<Access>, StoreError>;
    /// The live grants of `user` at each of `clients` (for lists; changes nothing).
    async fn grants_of(
        &self,
        user: &str,
        clients: &[String],
        now_ms: u64,
    ) -> Result<Vec<Grant>, StoreError>;
    /// Revokes a grant: its refresh tokens and access tokens stop working. The grant if it
    /// was live.
    async fn revoke_grant(&self, grant_id: &str) -> Result<Option<Grant>, StoreError>;
    /// Records that access token `access` was used at `at_ms` from `from` on the grant it
    /// belongs to, if both are live (lists show it).
    async fn touch(&self, access: Hash, at_ms: u64, from: &str) -> Result<(), StoreError>;
    /// In one step: revokes every grant that came from the SSO session `family` and its
    /// unredeemed codes, and marks the family ended until `until_ms`, so no code of it is
    /// redeemed and no grant of it refreshed after; returns the grants it ended.
    async fn end_family(
        &self,
        family: &str,
        now_ms: u64,
        until_ms: u64,
    ) -> Result<Vec<Grant>, StoreError>;
    /// Revokes every live grant `test` picks (a reload's review, an operator ending a
    /// person's or a key's grants); returns those it ended. Walks every grant: for rare,
    /// deliberate steps only.
    async fn end_where(&self, test: GrantTest<'_>) -> Result<Vec<Grant>, StoreError>;
    /// In one step: revokes every live grant of `user` (with `key`: only those that key, hex,
    /// approved), found through the store's index of the user's grants, not a walk; returns
    /// those it ended. A person's "sign out everywhere" reaches this.
    async fn end_of_user(&self, user: &str, key: Option<&str>) -> Result<Vec<Grant>, StoreError>;
    /// Keeps an app's one-time sign-in code ([`AppCode`]) until it expires (`now_ms`: the
    /// gateway's clock).
    async fn put_app_code(&self, code: Hash, grant: AppCode, now_ms: u64)
        -> Result<(), StoreError>;
    /// Takes an app's one-time code out, in one step: whoever takes it first has it, every
    /// later call (on any instance) gets `None`.
    async fn take_app_code(&self, code: Hash) -> Result<Option<AppCode>, StoreError>;
    /// Keeps a step-up ticket until it expires.
    async fn put_ticket(
        &self,
        ticket: Hash,
        what: StepUpTicket,
        now_ms: u64,
    ) -> Result<(), StoreError>;
    /// In one step: takes the ticket away and says what it stood for, if it is live.
    async fn take_ticket(
        &self,
        ticket: Hash,
        now_ms: u64,
    ) -> Result<Option<StepUpTicket>, StoreError>;
    /// Frees what expired; returns how many entries.
    async fn sweep(&self, now_ms: u64) -> usize;
}

#[cfg(test)]
mod tests;
