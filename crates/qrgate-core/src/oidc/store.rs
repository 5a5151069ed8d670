//! What the provider issues, behind a seam so any instance can redeem it: authorization
//! codes, grants (one per redeemed code: the refresh-token family) with their current refresh
//! token and their access tokens. Every token is kept by its SHA-256 only.
//!
//! Each operation that uses something up is one atomic step of the store: a code is redeemed
//! once (a second redemption revokes the grant the first made, RFC 6749 §4.1.2); a refresh
//! token rotates once (presenting a rotated-out one revokes its whole grant, RFC 9700
//! §4.14.2). [`MemoryOidc`] does it under one lock; the Redis store with one Lua script each.

use std::collections::{HashMap, HashSet, VecDeque};
use std::sync::Mutex;

use async_trait::async_trait;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine;
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

pub use super::apps::AppCode;
pub(crate) use crate::session::StoreError;

/// Whether `grant` no longer stands under `config`: its client is gone, its user is gone or
/// no longer admitted to the client, or the user's name now has another subject (a name
/// given to someone else). Such grants are purged after a reload.
pub fn departed(grant: &Grant, config: &crate::config::Config) -> bool {
    let Some(client) = config.oidc_client(&grant.client_id) else {
        return true;
    };
    config
        .user_by_name(&grant.user)
        .is_none_or(|(_, u)| u.subject != grant.subject || !client.admits(u))
}

/// The rotated-out refresh tokens a grant remembers (reuse detection): the newest ones. An
/// older one is simply unknown.
pub const MAX_RETIRED: usize = 32;
/// The access tokens a grant keeps live: a newer one revokes the oldest beyond this.
pub const MAX_ACCESS: usize = 32;
/// The grants one user has at one client: a newer one revokes the oldest beyond this.
pub const MAX_GRANTS: usize = 16;

/// SHA-256 of a token: what stores keep.
pub type Hash = [u8; 32];

/// A fresh token (code, refresh or access): 32 random bytes, base64url (43 characters).
pub(crate) fn mint() -> String {
    URL_SAFE_NO_PAD.encode(crate::random_bytes::<32>())
}

/// The hash of a presented token; anything but 43 base64url characters is none.
pub(crate) fn hash_of(presented: &str) -> Option<Hash> {
    (presented.len() == 43
        && presented
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_'))
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
    /// Its scopes.
    pub scope: Vec<String>,
    /// Expires then, ms since the epoch.
    pub expires_ms: u64,
    /// Its grant's family (a program's: `key:` and the approving key in hex).
    #[serde(default)]
    pub family: String,
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
    Issued,
    /// The code had been redeemed before: the grant it led to is revoked now.
    Reused {
        /// That grant.
        grant_id: Option<String>,
        /// The grant as it was, if this step ended it (for back-channel logout): one or none.
        ended: Vec<Grant>,
    },
    /// No such code (or expired).
    Unknown,
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
    /// In one step: revokes every grant that came from the SSO session `family` and its
    /// unredeemed codes, and marks the family ended until `until_ms`, so no code of it is
    /// redeemed and no grant of it refreshed after; returns the grants it ended.
    async fn end_family(
        &self,
        family: &str,
        now_ms: u64,
        until_ms: u64,
    ) -> Result<Vec<Grant>, StoreError>;
    /// Revokes every grant [`departed`] under `config` (after a reload); returns those it
    /// ended.
    async fn purge(&self, config: &crate::config::Config) -> Result<Vec<Grant>, StoreError>;
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

struct CodeEntry {
    grant: CodeGrant,
    /// The grant its redemption made; `Some` once used.
    used_by: Option<String>,
    /// Kept (for reuse detection once used) until then.
    keep_until_ms: u64,
}

struct GrantEntry {
    grant: Grant,
    refresh: Option<Hash>,
    /// Every refresh token it had, the current one included (reuse detection).
    /// Oldest first, at most [`MAX_RETIRED`].
    retired: VecDeque<Hash>,
    /// Oldest first, at most [`MAX_ACCESS`].
    access: VecDeque<Hash>,
}

#[derive(Default)]
struct Inner {
    codes: HashMap<Hash, CodeEntry>,
    grants: HashMap<String, GrantEntry>,
    /// Refresh token hash (current or rotated out) → grant id.
    refresh: HashMap<Hash, String>,
    access: HashMap<Hash, Access>,
    families: HashMap<String, HashSet<String>>,
    app_codes: HashMap<Hash, AppCode>,
    tickets: HashMap<Hash, StepUpTicket>,
    /// Ended families → until when they are remembered (ms).
    ended: HashMap<String, u64>,
}

impl Inner {
    fn revoke(&mut self, grant_id: &str) -> Option<Grant> {
        let entry = self.grants.remove(grant_id)?;
        for h in &entry.access {
            self.access.remove(h);
        }
        for h in entry.retired.iter().chain(entry.refresh.iter()) {
            self.refresh.remove(h);
        }
        if let Some(set) = self.families.get_mut(&entry.grant.family) {
            set.remove(grant_id);
            if set.is_empty() {
                self.families.remove(&entry.grant.family);
            }
        }
        Some(entry.grant)
    }

    fn ended(&self, family: &str, now_ms: u64) -> bool {
        self.ended.get(family).is_some_and(|&until| now_ms < until)
    }

    fn store_access(&mut self, grant: &Grant, issue: &Issue) {
        self.access.insert(
            issue.access,
            Access {
                grant_id: grant.id.clone(),
                client_id: grant.client_id.clone(),
                user: grant.user.clone(),
                subject: grant.subject.clone(),
                scope: issue.scope.clone(),
                expires_ms: issue.access_expires_ms,
                family: grant.family.clone(),
            },
        );
    }
}

/// Removes and returns the oldest entries of `list` beyond `max`.
fn drain_over(list: &mut VecDeque<Hash>, max: usize) -> Vec<Hash> {
    let over = list.len().saturating_sub(max);
    list.drain(..over).collect()
}

/// The store of one instance.
#[derive(Default)]
pub(crate) struct MemoryOidc {
    inner: Mutex<Inner>,
}

impl MemoryOidc {
    fn lock(&self) -> Result<std::sync::MutexGuard<'_, Inner>, StoreError> {
        self.inner
            .lock()
            .map_err(|_| StoreError::Unavailable("the grant table is poisoned".into()))
    }
}

#[async_trait]
impl OidcStore for MemoryOidc {
    async fn put_code(&self, code: Hash, grant: CodeGrant, _now_ms: u64) -> Result<(), StoreError> {
        let keep_until_ms = grant.expires_ms;
        self.lock()?.codes.insert(
            code,
            CodeEntry {
                grant,
                used_by: None,
                keep_until_ms,
            },
        );
        Ok(())
    }

    async fn code(&self, code: Hash, now_ms: u64) -> Result<Option<CodeGrant>, StoreError> {
        let inner = self.lock()?;
        Ok(inner
            .codes
            .get(&code)
            .filter(|e| e.used_by.is_none() && now_ms < e.grant.expires_ms)
            .filter(|e| !inner.ended(&e.grant.family, now_ms))
            .map(|e| e.grant.clone()))
    }

    async fn redeem(
        &self,
        code: Hash,
        grant: Grant,
        issue: Issue,
        now_ms: u64,
    ) -> Result<Redeemed, StoreError> {
        let mut inner = self.lock()?;
        if inner.ended(&grant.family, now_ms) {
            return Ok(Redeemed::Unknown);
        }
        let Some(entry) = inner.codes.get_mut(&code) else {
            return Ok(Redeemed::Unknown);
        };
        if let Some(used) = entry.used_by.clone() {
            let ended = inner.revoke(&used).into_iter().collect();
            return Ok(Redeemed::Reused {
                grant_id: Some(used),
                ended,
            });
        }
        if now_ms >= entry.grant.expires_ms {
            return Ok(Redeemed::Unknown);
        }
        entry.used_by = Some(grant.id.clone());
        // A used code is remembered as long as its first access token lives: a replay within
        // that time (the window of an intercepted code) revokes the grant. Longer would keep
        // every code of the refresh lifetime (30 days) in memory.
        entry.keep_until_ms = issue.access_expires_ms.max(entry.grant.expires_ms);
        if let Some(r) = issue.refresh {
            inner.refresh.insert(r, grant.id.clone());
        }
        inner.store_access(&grant, &issue);
        inner
            .families
            .entry(grant.family.clone())
            .or_default()
            .insert(grant.id.clone());
        // At most MAX_GRANTS per user and client: the oldest beyond go.
        let mut same: Vec<(u64, String)> = inner
            .grants
            .values()
            .filter(|g| g.grant.user == grant.user && g.grant.client_id == grant.client_id)
            .map(|g| (g.grant.expires_ms, g.grant.id.clone()))
            .collect();
        same.sort();
        let over = (same.len() + 1).saturating_sub(MAX_GRANTS);
        for (_, id) in same.iter().take(over) {
            inner.revoke(id);
        }
        inner.grants.insert(
            grant.id.clone(),
            GrantEntry {
                refresh: issue.refresh,
                retired: VecDeque::new(),
                access: VecDeque::from([issue.access]),
                grant,
            },
        );
        Ok(Redeemed::Issued)
    }

    async fn replayed(&self, code: Hash, client_id: &str) -> Result<Option<Replayed>, StoreError> {
        let mut inner = self.lock()?;
        let used = inner
            .codes
            .get(&code)
            .filter(|c| c.grant.client_id == client_id)
            .and_then(|c| c.used_by.clone());
        Ok(used.map(|grant_id| Replayed {
            ended: inner.revoke(&grant_id),
            grant_id,
        }))
    }

    async fn peek_refresh(
        &self,
        presented: Hash,
        client_id: &str,
        now_ms: u64,
    ) -> Result<Option<(Grant, bool)>, StoreError> {
        let inner = self.lock()?;
        Ok(inner
            .refresh
            .get(&presented)
            .and_then(|id| inner.grants.get(id))
            .filter(|e| e.grant.client_id == client_id && now_ms < e.grant.expires_ms)
            .filter(|e| !inner.ended(&e.grant.family, now_ms))
            .map(|e| (e.grant.clone(), e.refresh == Some(presented))))
    }

    async fn refresh(
        &self,
        presented: Hash,
        client_id: &str,
        issue: Issue,
        now_ms: u64,
    ) -> Result<Refreshed, StoreError> {
        let mut inner = self.lock()?;
        let family_ended = inner
            .refresh
            .get(&presented)
            .and_then(|id| inner.grants.get(id))
            .is_some_and(|e| inner.ended(&e.grant.family, now_ms));
        if family_ended {
            return Ok(Refreshed::Unknown);
        }
        let Some(grant_id) = inner.refresh.get(&presented).cloned() else {
            return Ok(Refreshed::Unknown);
        };
        let Some(entry) = inner.grants.get_mut(&grant_id) else {
            return Ok(Refreshed::Unknown);
        };
        if entry.grant.client_id != client_id || now_ms >= entry.grant.expires_ms {
            return Ok(Refreshed::Unknown);
        }
        if entry.refresh != Some(presented) {
            let ended = inner.revoke(&grant_id);
            return Ok(Refreshed::Reused { grant_id, ended });
        }
        entry.retired.push_back(presented);
        entry.refresh = issue.refresh;
        entry.access.push_back(issue.access);
        let old_refresh = drain_over(&mut entry.retired, MAX_RETIRED);
        let old_access = drain_over(&mut entry.access, MAX_ACCESS);
        let grant = entry.grant.clone();
        for h in old_refresh {
            inner.refresh.remove(&h);
        }
        for h in old_access {
            inner.access.remove(&h);
        }
        if let Some(r) = issue.refresh {
            inner.refresh.insert(r, grant_id);
        }
        inner.store_access(&grant, &issue);
        Ok(Refreshed::Rotated(grant))
    }

    async fn access(&self, token: Hash, now_ms: u64) -> Result<Option<Access>, StoreError> {
        Ok(self
            .lock()?
            .access
            .get(&token)
            .filter(|a| now_ms < a.expires_ms)
            .cloned())
    }

    async fn grants_of(
        &self,
        user: &str,
        clients: &[String],
        now_ms: u64,
    ) -> Result<Vec<Grant>, StoreError> {
        let inner = self.lock()?;
        let mut out: Vec<Grant> = inner
            .grants
            .values()
            .map(|e| &e.grant)
            .filter(|g| g.user == user && clients.contains(&g.client_id) && now_ms < g.expires_ms)
            .cloned()
            .collect();
        out.sort_by(|a, b| a.created_ms.cmp(&b.created_ms).then(a.id.cmp(&b.id)));
        Ok(out)
    }

    async fn revoke_grant(&self, grant_id: &str) -> Result<Option<Grant>, StoreError> {
        Ok(self.lock()?.revoke(grant_id))
    }

    async fn end_family(
        &self,
        family: &str,
        now_ms: u64,
        until_ms: u64,
    ) -> Result<Vec<Grant>, StoreError> {
        let mut inner = self.lock()?;
        inner.ended.insert(family.to_string(), until_ms.max(now_ms));
        // Unredeemed codes go; used ones stay for replay detection (their grants end below).
        inner
            .codes
            .retain(|_, c| c.grant.family != family || c.used_by.is_some());
        let ids: Vec<String> = inner
            .families
            .get(family)
            .map(|s| s.iter().cloned().collect())
            .unwrap_or_default();
        Ok(ids.iter().filter_map(|id| inner.revoke(id)).collect())
    }

    async fn put_app_code(
        &self,
        code: Hash,
        grant: AppCode,
        _now_ms: u64,
    ) -> Result<(), StoreError> {
        self.lock()?.app_codes.insert(code, grant);
        Ok(())
    }

    async fn take_app_code(&self, code: Hash) -> Result<Option<AppCode>, StoreError> {
        Ok(self.lock()?.app_codes.remove(&code))
    }

    async fn purge(&self, config: &crate::config::Config) -> Result<Vec<Grant>, StoreError> {
        let mut inner = self.lock()?;
        let gone: Vec<String> = inner
            .grants
            .values()
            .filter(|g| departed(&g.grant, config))
            .map(|g| g.grant.id.clone())
            .collect();
        Ok(gone.iter().filter_map(|id| inner.revoke(id)).collect())
    }

    async fn put_ticket(
        &self,
        ticket: Hash,
        what: StepUpTicket,
        _now_ms: u64,
    ) -> Result<(), StoreError> {
        self.lock()?.tickets.insert(ticket, what);
        Ok(())
    }

    async fn take_ticket(
        &self,
        ticket: Hash,
        now_ms: u64,
    ) -> Result<Option<StepUpTicket>, StoreError> {
        Ok(self
            .lock()?
            .tickets
            .remove(&ticket)
            .filter(|t| now_ms < t.expires_ms))
    }

    async fn sweep(&self, now_ms: u64) -> usize {
        let Ok(mut inner) = self.lock() else {
            return 0;
        };
        let before =
            inner.codes.len() + inner.grants.len() + inner.access.len() + inner.app_codes.len();
        inner.codes.retain(|_, c| now_ms < c.keep_until_ms);
        inner.app_codes.retain(|_, c| now_ms < c.expires_ms);
        inner.tickets.retain(|_, t| now_ms < t.expires_ms);
        inner.ended.retain(|_, &mut until| now_ms < until);
        inner.access.retain(|_, a| now_ms < a.expires_ms);
        let ended: Vec<String> = inner
            .grants
            .iter()
            .filter(|(_, g)| now_ms >= g.grant.expires_ms)
            .map(|(id, _)| id.clone())
            .collect();
        for id in &ended {
            inner.revoke(id);
        }
        let live: HashSet<Hash> = inner.access.keys().copied().collect();
        for g in inner.grants.values_mut() {
            g.access.retain(|h| live.contains(h));
        }
        let after =
            inner.codes.len() + inner.grants.len() + inner.access.len() + inner.app_codes.len();
        before.saturating_sub(after)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn code_grant() -> CodeGrant {
        CodeGrant {
            client_id: "app".into(),
            redirect_uri: "https://app.example/cb".into(),
            user: "alice".into(),
            subject: "alice".into(),
            family: "fam".into(),
            scope: vec!["openid".into()],
            nonce: None,
            code_challenge: None,
            auth_time: 1,
            acr: None,
            expires_ms: 60_000,
        }
    }

    fn grant(id: &str) -> Grant {
        Grant {
            id: id.into(),
            client_id: "app".into(),
            user: "alice".into(),
            subject: "alice".into(),
            family: "fam".into(),
            scope: vec!["openid".into()],
            auth_time: 1,
            acr: None,
            expires_ms: 1_000_000,
            created_ms: 0,
            from: String::new(),
            name: String::new(),
        }
    }

    fn issue(n: u8) -> Issue {
        Issue {
            scope: vec!["openid".into()],
            refresh: Some([n; 32]),
            access: [n + 100; 32],
            access_expires_ms: 500_000,
        }
    }

    #[tokio::test]
    async fn a_code_is_redeemed_once_and_a_second_redemption_revokes_the_grant() {
        let store = MemoryOidc::default();
        store.put_code([9; 32], code_grant(), 0).await.expect("put");
        assert_eq!(
            store.code([9; 32], 1).await.expect("peek"),
            Some(code_grant())
        );
        assert_eq!(
            store
                .redeem([9; 32], grant("g1"), issue(1), 1)
                .await
                .expect("redeem"),
            Redeemed::Issued
        );
        assert!(store.access([101; 32], 2).await.expect("a").is_some());
        assert_eq!(store.code([9; 32], 2).await.expect("peek"), None, "used");
        assert_eq!(
            store.replayed([8; 32], "app").await.expect("replay"),
            None,
            "no such code"
        );
        assert_eq!(
            store.replayed([9; 32], "other").await.expect("replay"),
            None,
            "another client presenting it revokes nothing"
        );
        assert!(store.access([101; 32], 2).await.expect("a").is_some());
        assert_eq!(
            store.replayed([9; 32], "app").await.expect("replay"),
            Some(Replayed {
                grant_id: "g1".into(),
                ended: Some(grant("g1")),
            }),
            "the step that ends the grant answers with it"
        );
        assert!(
            store.access([101; 32], 2).await.expect("a").is_none(),
            "revoked"
        );
        assert_eq!(
            store
                .redeem([9; 32], grant("g2"), issue(2), 3)
                .await
                .expect("again"),
            Redeemed::Reused {
                grant_id: Some("g1".into()),
                ended: vec![],
            },
            "ended before: nobody is told twice"
        );
        assert!(
            store.access([101; 32], 4).await.expect("a").is_none(),
            "revoked"
        );
        assert!(
            store.access([102; 32], 4).await.expect("a").is_none(),
            "never issued"
        );
        assert_eq!(
            store.refresh([1; 32], "app", issue(3), 5).await.expect("r"),
            Refreshed::Unknown
        );
    }

    #[tokio::test]
    async fn an_expired_or_unknown_code_redeems_nothing() {
        let store = MemoryOidc::default();
        store.put_code([9; 32], code_grant(), 0).await.expect("put");
        assert_eq!(store.code([9; 32], 60_000).await.expect("peek"), None);
        assert_eq!(
            store
                .redeem([9; 32], grant("g"), issue(1), 60_000)
                .await
                .expect("r"),
            Redeemed::Unknown
        );
        assert_eq!(
            store
                .redeem([8; 32], grant("g"), issue(1), 1)
                .await
                .expect("r"),
            Redeemed::Unknown
        );
        assert!(store.access([101; 32], 1).await.expect("a").is_none());
    }

    #[tokio::test]
    async fn refresh_tokens_rotate_and_a_rotated_out_one_revokes_the_family() {
        let store = MemoryOidc::default();
        store.put_code([9; 32], code_grant(), 0).await.expect("put");
        store
            .redeem([9; 32], grant("g1"), issue(1), 1)
            .await
            .expect("redeem");
        assert_eq!(
            store
                .refresh([1; 32], "other", issue(2), 2)
                .await
                .expect("r"),
            Refreshed::Unknown,
            "another client's token"
        );
        let Refreshed::Rotated(g) = store.refresh([1; 32], "app", issue(2), 2).await.expect("r")
        else {
            panic!("not rotated");
        };
        assert_eq!(g.id, "g1");
        assert!(store.access([102; 32], 3).await.expect("a").is_some());
        // The first token again: reuse, and everything of the grant ends.
        assert_eq!(
            store.refresh([1; 32], "app", issue(3), 3).await.expect("r"),
            Refreshed::Reused {
                grant_id: "g1".into(),
                ended: Some(g),
            }
        );
        assert_eq!(
            store.refresh([2; 32], "app", issue(4), 4).await.expect("r"),
            Refreshed::Unknown,
            "the newest one ended with its family"
        );
        assert!(store.access([101; 32], 4).await.expect("a").is_none());
        assert!(store.access([102; 32], 4).await.expect("a").is_none());
    }

    #[tokio::test]
    async fn ending_a_family_revokes_each_of_its_grants_only() {
        let store = MemoryOidc::default();
        for (n, fam) in [(1u8, "fam"), (2, "fam"), (3, "other")] {
            let mut c = code_grant();
            c.family = fam.into();
            store.put_code([n; 32], c, 0).await.expect("put");
            let mut g = grant(&format!("g{n}"));
            g.family = fam.into();
            store.redeem([n; 32], g, issue(n), 1).await.expect("redeem");
        }
        let mut ended: Vec<String> = store
            .end_family("fam", 1, 100)
            .await
            .expect("end")
            .into_iter()
            .map(|g| g.id)
            .collect();
        ended.sort();
        assert_eq!(ended, ["g1", "g2"]);
        assert!(store.access([101; 32], 2).await.expect("a").is_none());
        assert!(store.access([102; 32], 2).await.expect("a").is_none());
        assert!(store.access([103; 32], 2).await.expect("a").is_some());
        assert!(store
            .end_family("fam", 2, 100)
            .await
            .expect("end")
            .is_empty());
    }

    #[tokio::test]
    async fn an_ended_family_redeems_no_code_and_refreshes_no_grant() {
        let store = MemoryOidc::default();
        store.put_code([1; 32], code_grant(), 0).await.expect("put");
        store.put_code([2; 32], code_grant(), 0).await.expect("put");
        store
            .redeem([1; 32], grant("g1"), issue(1), 1)
            .await
            .expect("redeem");
        assert_eq!(
            store.end_family("fam", 2, 1_000).await.expect("end").len(),
            1
        );
        assert_eq!(
            store.code([2; 32], 3).await.expect("peek"),
            None,
            "code gone"
        );
        assert_eq!(
            store
                .redeem([2; 32], grant("g2"), issue(2), 3)
                .await
                .expect("r"),
            Redeemed::Unknown
        );
        // A code of the family that reached the store some other way is refused too.
        store.put_code([3; 32], code_grant(), 3).await.expect("put");
        assert_eq!(store.code([3; 32], 4).await.expect("peek"), None);
        assert_eq!(
            store
                .redeem([3; 32], grant("g3"), issue(3), 4)
                .await
                .expect("r"),
            Redeemed::Unknown
        );
        assert_eq!(
            store.refresh([1; 32], "app", issue(4), 5).await.expect("r"),
            Refreshed::Unknown
        );
    }

    #[tokio::test]
    async fn a_refresh_is_peeked_without_change_and_its_scope_narrowed() {
        let store = MemoryOidc::default();
        store.put_code([9; 32], code_grant(), 0).await.expect("put");
        let mut g = grant("g1");
        g.scope = vec!["openid".into(), "email".into()];
        store.redeem([9; 32], g, issue(1), 1).await.expect("redeem");
        let peeked = store.peek_refresh([1; 32], "app", 2).await.expect("p");
        assert!(
            matches!(&peeked, Some((g, true)) if g.id == "g1"),
            "{peeked:?}"
        );
        assert_eq!(
            store.peek_refresh([1; 32], "other", 2).await.expect("p"),
            None
        );
        assert!(
            store
                .peek_refresh([1; 32], "app", 2)
                .await
                .expect("p")
                .is_some(),
            "unchanged"
        );
        let narrow = Issue {
            scope: vec!["openid".into()],
            ..issue(2)
        };
        assert!(matches!(
            store.refresh([1; 32], "app", narrow, 3).await.expect("r"),
            Refreshed::Rotated(_)
        ));
        let a = store.access([102; 32], 4).await.expect("a").expect("live");
        assert_eq!(a.scope, ["openid"]);
        assert!(matches!(
            store.peek_refresh([1; 32], "app", 4).await.expect("p"),
            Some((_, false))
        ));
    }

    #[tokio::test]
    async fn grants_of_departed_users_clients_and_subjects_are_purged() {
        let config = |users: &str| {
            crate::config::Config::parse(
                &format!("[[app]]\nname = \"w\"\norigin = \"https://w.example\"\nupstream = \"127.0.0.1:1\"\n{users}\n[sso]\norigin = \"https://id.example\"\nname = \"Id\"\n\n[[oidc_client]]\nid = \"app\"\npublic = true\nredirect_uris = [\"https://app.example/cb\"]\n"),
                std::path::Path::new("t.toml"),
            )
            .expect("config")
        };
        let alice = "[[user]]\nname = \"alice\"\n";
        let g = grant("g1");
        assert!(!departed(&g, &config(alice)));
        assert!(departed(&g, &config("")), "user removed");
        assert!(
            departed(
                &g,
                &config("[[user]]\nname = \"alice\"\nsubject = \"alice-2\"\n")
            ),
            "the name is someone else's now"
        );
        let other = Grant {
            client_id: "gone".into(),
            ..grant("g2")
        };
        assert!(departed(&other, &config(alice)), "client removed");
        let store = MemoryOidc::default();
        store.put_code([9; 32], code_grant(), 0).await.expect("put");
        store.redeem([9; 32], g, issue(1), 1).await.expect("redeem");
        assert!(store.purge(&config(alice)).await.expect("purge").is_empty());
        assert!(store.access([101; 32], 2).await.expect("a").is_some());
        assert_eq!(store.purge(&config("")).await.expect("purge").len(), 1);
        assert!(store.access([101; 32], 2).await.expect("a").is_none());
        assert_eq!(
            store.refresh([1; 32], "app", issue(2), 3).await.expect("r"),
            Refreshed::Unknown
        );
    }

    #[tokio::test]
    async fn what_a_client_can_make_the_store_remember_is_bounded() {
        let store = MemoryOidc::default();
        store.put_code([0; 32], code_grant(), 0).await.expect("put");
        store
            .redeem([0; 32], grant("g"), issue(0), 1)
            .await
            .expect("redeem");
        // Many rotations: the grant keeps MAX_RETIRED old hashes and MAX_ACCESS tokens.
        let mut current = [0u8; 32];
        for n in 1..=100u16 {
            let mut next = [0u8; 32];
            next[..2].copy_from_slice(&n.to_be_bytes());
            next[31] = 1;
            let mut access = next;
            access[31] = 2;
            let i = Issue {
                scope: vec!["openid".into()],
                refresh: Some(next),
                access,
                access_expires_ms: 500_000,
            };
            assert!(matches!(
                store.refresh(current, "app", i, 2).await.expect("r"),
                Refreshed::Rotated(_)
            ));
            current = next;
        }
        {
            let inner = store.lock().expect("lock");
            let g = &inner.grants["g"];
            assert_eq!(g.retired.len(), MAX_RETIRED);
            assert_eq!(g.access.len(), MAX_ACCESS);
            assert_eq!(inner.refresh.len(), MAX_RETIRED + 1);
            assert_eq!(inner.access.len(), MAX_ACCESS);
        }
        // Many redemptions by one user at one client: MAX_GRANTS grants, the oldest gone.
        for n in 1..=(MAX_GRANTS as u8 + 4) {
            store.put_code([n; 32], code_grant(), 0).await.expect("put");
            let mut g = grant(&format!("h{n}"));
            g.expires_ms = 1_000_000 + u64::from(n);
            let mut i = issue(n);
            i.refresh = Some([200 - n; 32]);
            store.redeem([n; 32], g, i, 3).await.expect("redeem");
        }
        let inner = store.lock().expect("lock");
        assert_eq!(inner.grants.len(), MAX_GRANTS);
        assert!(inner
            .grants
            .contains_key(&format!("h{}", MAX_GRANTS as u8 + 4)));
        assert!(!inner.grants.contains_key("g"), "the oldest went first");
    }

    #[tokio::test]
    async fn a_step_up_ticket_is_taken_once_and_only_while_live() {
        let store = MemoryOidc::default();
        let t = StepUpTicket {
            family: "fam".into(),
            client_id: "app".into(),
            redirect_uri: "https://app.example/cb".into(),
            after: 5,
            expires_ms: 10_000,
        };
        store.put_ticket([1; 32], t.clone(), 1).await.expect("put");
        store.put_ticket([2; 32], t.clone(), 1).await.expect("put");
        assert_eq!(store.take_ticket([3; 32], 2).await.expect("t"), None);
        assert_eq!(store.take_ticket([1; 32], 2).await.expect("t"), Some(t));
        assert_eq!(
            store.take_ticket([1; 32], 3).await.expect("t"),
            None,
            "once"
        );
        assert_eq!(
            store.take_ticket([2; 32], 10_000).await.expect("t"),
            None,
            "expired"
        );
    }

    #[tokio::test]
    async fn a_users_live_grants_are_listed_at_the_clients_asked_about() {
        let store = MemoryOidc::default();
        store.put_code([1; 32], code_grant(), 0).await.expect("put");
        let g = Grant {
            created_ms: 5,
            ..grant("g1")
        };
        store.redeem([1; 32], g, issue(1), 1).await.expect("redeem");
        let apps = ["app".to_string()];
        let listed = store.grants_of("alice", &apps, 2).await.expect("list");
        assert_eq!(
            listed.iter().map(|g| g.id.as_str()).collect::<Vec<_>>(),
            ["g1"]
        );
        assert!(store
            .grants_of("bob", &apps, 2)
            .await
            .expect("list")
            .is_empty());
        assert!(store
            .grants_of("alice", &["other".to_string()], 2)
            .await
            .expect("list")
            .is_empty());
        assert!(
            store
                .grants_of("alice", &apps, 1_000_000)
                .await
                .expect("list")
                .is_empty(),
            "an ended grant is not listed"
        );
        store.revoke_grant("g1").await.expect("revoke");
        assert!(store
            .grants_of("alice", &apps, 2)
            .await
            .expect("list")
            .is_empty());
    }

    #[tokio::test]
    async fn access_tokens_expire_and_the_sweep_frees_them() {
        let store = MemoryOidc::default();
        store.put_code([9; 32], code_grant(), 0).await.expect("put");
        store
            .redeem([9; 32], grant("g1"), issue(1), 1)
            .await
            .expect("redeem");
        assert!(store.access([101; 32], 500_000).await.expect("a").is_none());
        assert!(store.sweep(1_000_001).await >= 3);
        assert!(hash_of(&mint()).is_some());
        assert!(hash_of("short").is_none());
    }
}
