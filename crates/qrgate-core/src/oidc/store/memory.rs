//! The provider's store in memory ([`OidcStore`] for one instance): every step under one
//! lock, so each is atomic; what a grant remembers is bounded ([`MAX_RETIRED`],
//! [`MAX_ACCESS`], [`MAX_GRANTS`]).

use std::collections::{HashMap, HashSet, VecDeque};
use std::sync::Mutex;

use async_trait::async_trait;

use super::*;

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
                key: grant.key.clone(),
                scope: issue.scope.clone(),
                expires_ms: issue.access_expires_ms,
                family: grant.family.clone(),
                origins: grant.origins.clone(),
                name: grant.name.clone(),
                created_ms: grant.created_ms,
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
        // A personal token's bound refuses, never evicts: nothing is stored. Only live
        // grants hold a place.
        let bound = grant.bound();
        if !grant.name.is_empty()
            && inner
                .grants
                .values()
                .filter(|g| {
                    g.grant.user == grant.user
                        && g.grant.bound() == bound
                        && now_ms < g.grant.expires_ms
                })
                .count()
                >= MAX_GRANTS
        {
            return Ok(Redeemed::Full);
        }
        let Some(entry) = inner.codes.get_mut(&code) else {
            return Ok(Redeemed::Unknown);
        };
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
        // At most MAX_GRANTS per user and bound (the client; its personal tokens apart): the
        // oldest beyond go (a personal token's bound refused above before it got here).
        let mut same: Vec<(u64, String)> = inner
            .grants
            .values()
            .filter(|g| {
                g.grant.user == grant.user
                    && g.grant.bound() == bound
                    && now_ms < g.grant.expires_ms
            })
            .map(|g| (g.grant.expires_ms, g.grant.id.clone()))
            .collect();
        same.sort();
        let over = (same.len() + 1).saturating_sub(MAX_GRANTS);
        let evicted: Vec<Grant> = same
            .iter()
            .take(over)
            .filter_map(|(_, id)| inner.revoke(id))
            .collect();
        inner.grants.insert(
            grant.id.clone(),
            GrantEntry {
                refresh: issue.refresh,
                retired: VecDeque::new(),
                access: VecDeque::from([issue.access]),
                grant,
            },
        );
        Ok(Redeemed::Issued { evicted })
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

    async fn touch(&self, access: Hash, at_ms: u64, from: &str) -> Result<(), StoreError> {
        let mut inner = self.lock()?;
        let Some(id) = inner.access.get(&access).map(|a| a.grant_id.clone()) else {
            return Ok(());
        };
        if let Some(entry) = inner.grants.get_mut(&id) {
            entry.grant.last_used_ms = at_ms;
            entry.grant.last_from = from.to_string();
        }
        Ok(())
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

    async fn end_of_user(&self, user: &str, key: Option<&str>) -> Result<Vec<Grant>, StoreError> {
        let picked = |g: &Grant| g.user == user && key.is_none_or(|k| k == g.key);
        self.end_where(&picked).await
    }

    async fn end_where(&self, test: GrantTest<'_>) -> Result<Vec<Grant>, StoreError> {
        let mut inner = self.lock()?;
        let gone: Vec<String> = inner
            .grants
            .values()
            .filter(|g| test(&g.grant))
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
    use super::super::tests::{code_grant, grant, issue};
    use super::*;

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
        let mut evicted = Vec::new();
        for n in 1..=(MAX_GRANTS as u8 + 4) {
            store.put_code([n; 32], code_grant(), 0).await.expect("put");
            let mut g = grant(&format!("h{n}"));
            g.expires_ms = 1_000_000 + u64::from(n);
            let mut i = issue(n);
            i.refresh = Some([200 - n; 32]);
            match store.redeem([n; 32], g, i, 3).await.expect("redeem") {
                Redeemed::Issued { evicted: e } => evicted.extend(e.into_iter().map(|g| g.id)),
                other => panic!("{other:?}"),
            }
        }
        assert_eq!(
            evicted,
            ["g", "h1", "h2", "h3", "h4"],
            "named, for their clients"
        );
        let inner = store.lock().expect("lock");
        assert_eq!(inner.grants.len(), MAX_GRANTS);
        assert!(inner
            .grants
            .contains_key(&format!("h{}", MAX_GRANTS as u8 + 4)));
        assert!(!inner.grants.contains_key("g"), "the oldest went first");
    }
}
