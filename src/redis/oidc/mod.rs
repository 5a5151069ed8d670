//! The OpenID Connect provider's store in Redis ([`OidcStore`]), so a code issued by one
//! instance is redeemed at another and a refresh token rotates once across all of them.
//!
//! Keys (after the configured prefix and the hash tag `{oidc}:`, one Redis Cluster slot for
//! all of them), every token by the hex of its SHA-256 only:
//! - `oc:{code}`: a hash — `j` the code's grant (JSON), `e` its expiry (ms), `c` its client,
//!   `u` the grant its redemption made (once used); lives until the code expires, once used
//!   as long as its first access token (so a replay in that time revokes the grant).
//! - `og:{grant}`: a hash — `j` the grant (JSON), `c` its client, `u` its user, `k` the key
//!   that approved it, `f` its
//!   family, `x` its end (ms), `r` its current refresh token; `og:{grant}:a` its access
//!   tokens by expiry (a sorted set: at each refresh the expired ones go and the oldest beyond
//!   `MAX_ACCESS`, so no refresh walks more than a bounded set) and `og:{grant}:rz` its
//!   refresh tokens by time, the current one and at most `MAX_RETIRED` rotated-out ones
//!   (older ones forgotten).
//! - `ou:{client}:{user}`: the user's live grants at the client, oldest first (a revoked grant
//!   leaves it); beyond `MAX_GRANTS` the oldest is revoked, and its client told.
//! - `op:{user}`: the set of the user's live grants (any client), so a person's or a key's
//!   grants end in one script without walking the keyspace.
//! - `or:{refresh}`: the grant id, for current and rotated-out tokens alike (reuse detection).
//! - `oa:{access}`: `{grant} {expiry ms} {scopes…}`.
//! - `of:{family}`: the set of grants that came from one SSO session; `ofc:{family}` its
//!   codes; `ofe:{family}` set once the family ended (for the family's lifetime): no code of
//!   it is redeemed and no grant of it refreshed after.
//! - `ot:{ticket}`: a step-up ticket (JSON) until it expires; taken once.
//! - `ac:{code}`: an app's one-time sign-in code (JSON) until it expires; taken once.
//!
//! Every step that uses something up is one Lua script: redeeming a code (or, if it was used,
//! revoking what it issued), rotating a refresh token (or, if it was rotated out, revoking its
//! grant), ending a family. Expiry is Redis's (PEXPIRE), and every read checks the time too.

use std::sync::Arc;

use async_trait::async_trait;

use qrgate_core::oidc::store::{
    Access, AppCode, CodeGrant, Grant, GrantTest, Hash, Issue, OidcStore, Redeemed, Refreshed,
    Replayed, StepUpTicket,
};
use qrgate_core::session::StoreError;

use super::{unavailable, Link};

mod scripts;
use scripts::*;

/// The Redis store of codes, grants and tokens.
pub struct RedisOidc {
    link: Arc<Link>,
    redeem: redis::Script,
    refresh: redis::Script,
    replayed: redis::Script,
    access: redis::Script,
    revoke: redis::Script,
    end_family: redis::Script,
    end_user: redis::Script,
    take: redis::Script,
    grants_of: redis::Script,
    touch: redis::Script,
}

impl RedisOidc {
    /// The store in Redis through `link`.
    pub fn new(link: Arc<Link>) -> Self {
        let with_revoke = |body: &str| redis::Script::new(&format!("{REVOKE_FN}{body}"));
        Self {
            link,
            redeem: with_revoke(REDEEM),
            refresh: with_revoke(REFRESH),
            replayed: with_revoke(REPLAYED),
            access: redis::Script::new(ACCESS),
            revoke: with_revoke(REVOKE),
            end_family: with_revoke(END_FAMILY),
            end_user: with_revoke(END_USER),
            take: redis::Script::new(TAKE),
            grants_of: redis::Script::new(GRANTS_OF),
            touch: redis::Script::new(TOUCH),
        }
    }

    /// The provider's key prefix: the configured prefix and the hash tag `{oidc}`, so every
    /// key of the provider (the ones a script derives from another's value included) is in
    /// one Redis Cluster hash slot.
    fn prefix(&self) -> String {
        self.link.key("{oidc}:")
    }

    fn key(&self, rest: &str) -> String {
        format!("{}{rest}", self.prefix())
    }

    /// Takes the string at `key` away in one step; whoever takes it first has it.
    async fn take(&self, key: &str) -> Result<Option<String>, StoreError> {
        let mut call = self.take.prepare_invoke();
        call.key(key);
        self.link.script(&call).await
    }

    fn json<T: serde::Serialize>(value: &T) -> Result<String, StoreError> {
        serde_json::to_string(value).map_err(unavailable)
    }

    fn parse<T: serde::de::DeserializeOwned>(text: &str) -> Result<T, StoreError> {
        serde_json::from_str(text).map_err(|_| unavailable("damaged OpenID Connect record"))
    }
}

/// `text` with Redis glob characters escaped, for a `SCAN MATCH` of it as a literal prefix.
fn glob_escaped(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        if matches!(c, '*' | '?' | '[' | ']' | '\\' | '^') {
            out.push('\\');
        }
        out.push(c);
    }
    out
}

/// The outcome word a script answered with, and its value.
fn outcome(answer: &[String]) -> (&str, Option<&str>) {
    (
        answer.first().map_or("", String::as_str),
        answer.get(1).map(String::as_str),
    )
}

/// The grant a revoking script ended, from the JSON at `at` of its answer (none when the
/// grant was gone already).
fn ended(answer: &[String], at: usize) -> Result<Option<Grant>, StoreError> {
    answer.get(at).map(|j| RedisOidc::parse(j)).transpose()
}

#[async_trait]
impl OidcStore for RedisOidc {
    async fn put_code(&self, code: Hash, grant: CodeGrant, now_ms: u64) -> Result<(), StoreError> {
        let key = self.key(&format!("oc:{}", hex::encode(code)));
        let codes = self.key(&format!("ofc:{}", grant.family));
        let ttl = grant.expires_ms.saturating_sub(now_ms).max(1);
        let mut pipe = redis::pipe();
        pipe.atomic()
            .cmd("HSET")
            .arg(&key)
            .arg("j")
            .arg(Self::json(&grant)?)
            .arg("e")
            .arg(grant.expires_ms)
            .arg("c")
            .arg(&grant.client_id)
            .ignore()
            .cmd("PEXPIRE")
            .arg(&key)
            .arg(ttl)
            .ignore()
            .cmd("SADD")
            .arg(&codes)
            .arg(hex::encode(code))
            .ignore()
            .cmd("PEXPIRE")
            .arg(&codes)
            .arg(ttl)
            .arg("GT")
            .ignore()
            .cmd("PEXPIRE")
            .arg(&codes)
            .arg(ttl)
            .arg("NX")
            .ignore();
        self.link.pipe::<()>(&pipe).await
    }

    async fn code(&self, code: Hash, now_ms: u64) -> Result<Option<CodeGrant>, StoreError> {
        let key = self.key(&format!("oc:{}", hex::encode(code)));
        let (j, e, u): (Option<String>, Option<u64>, Option<String>) = self
            .link
            .query(redis::cmd("HMGET").arg(&key).arg("j").arg("e").arg("u"))
            .await?;
        match (j, e, u) {
            (Some(j), Some(e), None) if now_ms < e => Ok(Some(Self::parse(&j)?)),
            _ => Ok(None),
        }
    }

    async fn redeem(
        &self,
        code: Hash,
        grant: Grant,
        issue: Issue,
        now_ms: u64,
    ) -> Result<Redeemed, StoreError> {
        let grant_ttl = grant
            .expires_ms
            .max(issue.access_expires_ms)
            .saturating_sub(now_ms)
            .max(1);
        let access_ttl = issue.access_expires_ms.saturating_sub(now_ms).max(1);
        let mut call = self.redeem.prepare_invoke();
        call.key(self.key(&format!("oc:{}", hex::encode(code))))
            .arg(self.prefix())
            .arg(now_ms)
            .arg(&grant.id)
            // A used code is remembered while its first access token lives (as in memory).
            .arg(access_ttl)
            .arg(Self::json(&grant)?)
            .arg(&grant.family)
            .arg(&grant.client_id)
            .arg(issue.refresh.map(hex::encode).unwrap_or_default())
            .arg(hex::encode(issue.access))
            .arg(issue.access_expires_ms)
            .arg(grant_ttl)
            .arg(access_ttl)
            .arg(grant.expires_ms)
            .arg(issue.scope.join(" "))
            .arg(&grant.user)
            .arg(qrgate_core::oidc::store::MAX_GRANTS)
            .arg(&grant.key)
            .arg(grant.bound());
        let answer: Vec<String> = self.link.script_kept(&call).await?;
        Ok(match outcome(&answer) {
            ("issued", _) => Redeemed::Issued {
                evicted: answer
                    .iter()
                    .skip(1)
                    .map(|j| Self::parse(j))
                    .collect::<Result<_, _>>()?,
            },
            ("reused", id) => Redeemed::Reused {
                grant_id: id.map(str::to_string),
                ended: ended(&answer, 2)?.into_iter().collect(),
            },
            ("full", _) => Redeemed::Full,
            _ => Redeemed::Unknown,
        })
    }

    async fn refresh(
        &self,
        presented: Hash,
        client_id: &str,
        issue: Issue,
        now_ms: u64,
    ) -> Result<Refreshed, StoreError> {
        let Some(next) = issue.refresh else {
            return Ok(Refreshed::Unknown);
        };
        let mut call = self.refresh.prepare_invoke();
        call.arg(self.prefix())
            .arg(now_ms)
            .arg(hex::encode(presented))
            .arg(client_id)
            .arg(hex::encode(next))
            .arg(hex::encode(issue.access))
            .arg(issue.access_expires_ms)
            .arg(issue.access_expires_ms.saturating_sub(now_ms).max(1))
            .arg(issue.scope.join(" "))
            .arg(qrgate_core::oidc::store::MAX_RETIRED)
            .arg(qrgate_core::oidc::store::MAX_ACCESS);
        let answer: Vec<String> = self.link.script_kept(&call).await?;
        Ok(match outcome(&answer) {
            ("rotated", Some(j)) => Refreshed::Rotated(Self::parse(j)?),
            ("reused", Some(id)) => Refreshed::Reused {
                grant_id: id.to_string(),
                ended: ended(&answer, 2)?,
            },
            _ => Refreshed::Unknown,
        })
    }

    async fn replayed(&self, code: Hash, client_id: &str) -> Result<Option<Replayed>, StoreError> {
        let mut call = self.replayed.prepare_invoke();
        call.key(self.key(&format!("oc:{}", hex::encode(code))))
            .arg(self.prefix())
            .arg(client_id);
        let answer: Vec<String> = self.link.script_kept(&call).await?;
        Ok(match answer.first() {
            Some(id) => Some(Replayed {
                grant_id: id.clone(),
                ended: ended(&answer, 1)?,
            }),
            None => None,
        })
    }

    async fn peek_refresh(
        &self,
        presented: Hash,
        client_id: &str,
        now_ms: u64,
    ) -> Result<Option<(Grant, bool)>, StoreError> {
        let presented = hex::encode(presented);
        let id: Option<String> = self
            .link
            .query(redis::cmd("GET").arg(self.key(&format!("or:{presented}"))))
            .await?;
        let Some(id) = id else { return Ok(None) };
        let (j, c, r, x, f): (
            Option<String>,
            Option<String>,
            Option<String>,
            Option<u64>,
            Option<String>,
        ) = self
            .link
            .query(
                redis::cmd("HMGET")
                    .arg(self.key(&format!("og:{id}")))
                    .arg("j")
                    .arg("c")
                    .arg("r")
                    .arg("x")
                    .arg("f"),
            )
            .await?;
        let (Some(j), Some(x)) = (j, x) else {
            return Ok(None);
        };
        if c.as_deref() != Some(client_id) || now_ms >= x {
            return Ok(None);
        }
        if let Some(f) = f {
            let ended: bool = self
                .link
                .query(redis::cmd("EXISTS").arg(self.key(&format!("ofe:{f}"))))
                .await?;
            if ended {
                return Ok(None);
            }
        }
        Ok(Some((
            Self::parse(&j)?,
            r.as_deref() == Some(presented.as_str()),
        )))
    }

    async fn access(&self, token: Hash, now_ms: u64) -> Result<Option<Access>, StoreError> {
        let mut call = self.access.prepare_invoke();
        call.key(self.key(&format!("oa:{}", hex::encode(token))))
            .arg(self.prefix())
            .arg(now_ms);
        let found: Option<(String, u64, String)> = self.link.script(&call).await?;
        let Some((j, expires_ms, scope)) = found else {
            return Ok(None);
        };
        let grant: Grant = Self::parse(&j)?;
        // The access token's own scopes (a refresh may have narrowed them).
        let scope = scope
            .split(' ')
            .filter(|s| !s.is_empty())
            .map(str::to_string)
            .collect();
        Ok(Some(Access {
            grant_id: grant.id,
            client_id: grant.client_id,
            user: grant.user,
            subject: grant.subject,
            key: grant.key,
            scope,
            expires_ms,
            family: grant.family,
            origins: grant.origins,
            name: grant.name,
            created_ms: grant.created_ms,
        }))
    }

    async fn grants_of(
        &self,
        user: &str,
        clients: &[String],
        now_ms: u64,
    ) -> Result<Vec<Grant>, StoreError> {
        let mut call = self.grants_of.prepare_invoke();
        call.arg(self.prefix()).arg(user);
        for c in clients {
            call.arg(c);
        }
        let found: Vec<String> = self.link.script(&call).await?;
        let mut out = Vec::with_capacity(found.len() / 3);
        for f in found.chunks(3) {
            let [j, used, from] = f else {
                return Err(super::unavailable("a malformed grant listing"));
            };
            let mut g: Grant = Self::parse(j)?;
            g.last_used_ms = used.parse().unwrap_or(0);
            g.last_from = from.clone();
            if now_ms < g.expires_ms {
                out.push(g);
            }
        }
        out.sort_by(|a, b| a.created_ms.cmp(&b.created_ms).then(a.id.cmp(&b.id)));
        Ok(out)
    }

    async fn touch(&self, access: Hash, at_ms: u64, from: &str) -> Result<(), StoreError> {
        let mut call = self.touch.prepare_invoke();
        call.key(self.key(&format!("oa:{}", hex::encode(access))))
            .arg(self.prefix())
            .arg(at_ms)
            .arg(from);
        let _: u8 = self.link.script(&call).await?;
        Ok(())
    }

    async fn revoke_grant(&self, grant_id: &str) -> Result<Option<Grant>, StoreError> {
        let mut call = self.revoke.prepare_invoke();
        call.arg(self.prefix()).arg(grant_id);
        let j: Option<String> = self.link.script_kept(&call).await?;
        j.map(|j| Self::parse(&j)).transpose()
    }

    async fn end_family(
        &self,
        family: &str,
        now_ms: u64,
        until_ms: u64,
    ) -> Result<Vec<Grant>, StoreError> {
        let mut call = self.end_family.prepare_invoke();
        call.arg(self.prefix())
            .arg(family)
            .arg(until_ms.saturating_sub(now_ms).max(1));
        let ended: Vec<String> = self.link.script_kept(&call).await?;
        ended.iter().map(|j| Self::parse(j)).collect()
    }

    async fn put_app_code(
        &self,
        code: Hash,
        grant: AppCode,
        now_ms: u64,
    ) -> Result<(), StoreError> {
        let ttl = grant.expires_ms.saturating_sub(now_ms).max(1);
        let mut cmd = redis::cmd("SET");
        cmd.arg(self.key(&format!("ac:{}", hex::encode(code))))
            .arg(Self::json(&grant)?)
            .arg("PX")
            .arg(ttl);
        self.link.query::<()>(&cmd).await
    }

    async fn take_app_code(&self, code: Hash) -> Result<Option<AppCode>, StoreError> {
        let key = self.key(&format!("ac:{}", hex::encode(code)));
        self.take(&key).await?.map(|j| Self::parse(&j)).transpose()
    }

    async fn end_where(&self, test: GrantTest<'_>) -> Result<Vec<Grant>, StoreError> {
        // A rare, deliberate step (a reload's review, an operator's revocation): walks the
        // grants once.
        let base = self.key("og:");
        // The prefix is the operator's: its glob characters match only themselves.
        let pattern = format!("{}*", glob_escaped(&base));
        let mut cursor: u64 = 0;
        let mut gone = Vec::new();
        loop {
            let (next, keys): (u64, Vec<String>) = self
                .link
                .query(
                    redis::cmd("SCAN")
                        .arg(cursor)
                        .arg("MATCH")
                        .arg(&pattern)
                        .arg("COUNT")
                        .arg(500),
                )
                .await?;
            // The grant hashes only, not their sets (`og:{grant}:a`, `og:{grant}:rz`).
            for key in keys
                .iter()
                .filter(|k| k.strip_prefix(&base).is_some_and(|id| !id.contains(':')))
            {
                let j: Option<String> = self
                    .link
                    .query(redis::cmd("HGET").arg(key).arg("j"))
                    .await?;
                let Some(j) = j else { continue };
                match Self::parse::<Grant>(&j) {
                    Ok(grant) if test(&grant) => gone.push(grant.id),
                    Ok(_) => {}
                    // A grant no one can read cannot be shown to stand: it ends.
                    Err(_) => {
                        if let Some(id) = key.strip_prefix(&base) {
                            tracing::warn!(grant = %id, "an unreadable OpenID Connect grant ends");
                            gone.push(id.to_string());
                        }
                    }
                }
            }
            cursor = next;
            if cursor == 0 {
                break;
            }
        }
        let mut ended = Vec::new();
        for id in gone {
            ended.extend(self.revoke_grant(&id).await?);
        }
        Ok(ended)
    }

    async fn end_of_user(&self, user: &str, key: Option<&str>) -> Result<Vec<Grant>, StoreError> {
        let mut call = self.end_user.prepare_invoke();
        call.arg(self.prefix()).arg(user).arg(key.unwrap_or(""));
        let ended: Vec<String> = self.link.script_kept(&call).await?;
        ended.iter().map(|j| Self::parse(j)).collect()
    }

    async fn put_ticket(
        &self,
        ticket: Hash,
        what: StepUpTicket,
        now_ms: u64,
    ) -> Result<(), StoreError> {
        let key = self.key(&format!("ot:{}", hex::encode(ticket)));
        let ttl = what.expires_ms.saturating_sub(now_ms).max(1);
        self.link
            .query::<()>(
                redis::cmd("SET")
                    .arg(&key)
                    .arg(Self::json(&what)?)
                    .arg("PX")
                    .arg(ttl),
            )
            .await
    }

    async fn take_ticket(
        &self,
        ticket: Hash,
        now_ms: u64,
    ) -> Result<Option<StepUpTicket>, StoreError> {
        let key = self.key(&format!("ot:{}", hex::encode(ticket)));
        match self.take(&key).await? {
            Some(j) => Ok(Some(Self::parse::<StepUpTicket>(&j)?).filter(|t| now_ms < t.expires_ms)),
            None => Ok(None),
        }
    }

    async fn sweep(&self, _now_ms: u64) -> usize {
        // Redis expires every key itself.
        0
    }
}
