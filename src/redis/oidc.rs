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

/// Revokes grant `id` (prefix `p`): its access and refresh tokens, its sets, its family
/// membership, its place in its user's list at its client. Returns the grant's JSON if it was live (the caller that ended it tells its
/// client), else false. Shared by the scripts below.
const REVOKE_FN: &str = r"
local function members(k)
  if redis.call('TYPE', k).ok == 'set' then return redis.call('SMEMBERS', k) end
  return redis.call('ZRANGE', k, 0, -1)
end
local function revoke(p, id)
  local g = p .. 'og:' .. id
  local f = redis.call('HMGET', g, 'j', 'f', 'c', 'u')
  local j, fam = f[1], f[2]
  if not j then return false end
  if f[3] and f[4] then
    redis.call('LREM', p .. 'ou:' .. f[3] .. ':' .. f[4], 0, id)
    redis.call('SREM', p .. 'op:' .. f[4], id)
  end
  for _, a in ipairs(members(g .. ':a')) do redis.call('DEL', p .. 'oa:' .. a) end
  for _, r in ipairs(redis.call('SMEMBERS', g .. ':r')) do redis.call('DEL', p .. 'or:' .. r) end
  for _, r in ipairs(redis.call('ZRANGE', g .. ':rz', 0, -1)) do redis.call('DEL', p .. 'or:' .. r) end
  redis.call('DEL', g, g .. ':a', g .. ':r', g .. ':rz')
  if fam then redis.call('SREM', p .. 'of:' .. fam, id) end
  return j
end
";

/// KEYS[1] the code. ARGV: prefix, now, grant id, keep (ms), grant JSON, family, client,
/// refresh hex ('' for none), access hex, access expiry (ms since the epoch), grant TTL (ms),
/// access TTL (ms), the grant's end (ms since the epoch), the access token's scopes, the user,
/// the most grants per user and client, the approving key. Returns {'issued', JSON of each
/// grant the bound evicted…}, {'reused', grant id, grant JSON if this ended it} or {'unknown'}.
const REDEEM: &str = r"
local p, now = ARGV[1], tonumber(ARGV[2])
if redis.call('EXISTS', p .. 'ofe:' .. ARGV[6]) == 1 then return {'unknown'} end
local used = redis.call('HGET', KEYS[1], 'u')
if used then
  -- 'or nil' ends the list there when the grant was gone already (false would be a nil
  -- element).
  return {'reused', used, revoke(p, used) or nil}
end
local e = tonumber(redis.call('HGET', KEYS[1], 'e'))
if not e or now >= e then return {'unknown'} end
local id = ARGV[3]
redis.call('HSET', KEYS[1], 'u', id)
redis.call('PEXPIRE', KEYS[1], ARGV[4])
local g = p .. 'og:' .. id
redis.call('HSET', g, 'j', ARGV[5], 'f', ARGV[6], 'c', ARGV[7], 'x', ARGV[13], 'u', ARGV[15], 'k', ARGV[17])
local op = p .. 'op:' .. ARGV[15]
redis.call('SADD', op, id)
if redis.call('PTTL', op) < tonumber(ARGV[11]) then redis.call('PEXPIRE', op, ARGV[11]) end
if ARGV[8] ~= '' then
  redis.call('HSET', g, 'r', ARGV[8])
  redis.call('SET', p .. 'or:' .. ARGV[8], id, 'PX', ARGV[11])
  redis.call('ZADD', g .. ':rz', now, ARGV[8])
end
redis.call('SET', p .. 'oa:' .. ARGV[9], id .. ' ' .. ARGV[10] .. ' ' .. ARGV[14], 'PX', ARGV[12])
redis.call('ZADD', g .. ':a', ARGV[10], ARGV[9])
for _, k in ipairs({g, g .. ':a', g .. ':rz'}) do redis.call('PEXPIRE', k, ARGV[11]) end
local f = p .. 'of:' .. ARGV[6]
redis.call('SADD', f, id)
if redis.call('PTTL', f) < tonumber(ARGV[11]) then redis.call('PEXPIRE', f, ARGV[11]) end
local o = p .. 'ou:' .. ARGV[7] .. ':' .. ARGV[15]
redis.call('RPUSH', o, id)
if redis.call('PTTL', o) < tonumber(ARGV[11]) then redis.call('PEXPIRE', o, ARGV[11]) end
local out = {'issued'}
while redis.call('LLEN', o) > tonumber(ARGV[16]) do
  local j = revoke(p, redis.call('LPOP', o))
  if j then table.insert(out, j) end
end
return out
";

/// ARGV: prefix, now, presented refresh hex, client id, new refresh hex, new access hex,
/// access expiry (ms since the epoch), access TTL (ms), the access token's scopes, the most
/// rotated-out tokens kept, the most access tokens kept. Returns {'rotated', grant JSON},
/// {'reused', grant id, grant JSON if this ended it} or {'unknown'}.
const REFRESH: &str = r"
local p, now = ARGV[1], tonumber(ARGV[2])
local id = redis.call('GET', p .. 'or:' .. ARGV[3])
if not id then return {'unknown'} end
local g = p .. 'og:' .. id
local f = redis.call('HMGET', g, 'j', 'c', 'r', 'x', 'f')
if not f[1] then return {'unknown'} end
if f[2] ~= ARGV[4] or now >= tonumber(f[4]) then return {'unknown'} end
if f[5] and redis.call('EXISTS', p .. 'ofe:' .. f[5]) == 1 then return {'unknown'} end
if f[3] ~= ARGV[3] then
  return {'reused', id, revoke(p, id) or nil}
end
local ttl = math.max(1, tonumber(f[4]) - now)
redis.call('HSET', g, 'r', ARGV[5])
redis.call('SET', p .. 'or:' .. ARGV[5], id, 'PX', ttl)
redis.call('ZADD', g .. ':rz', now, ARGV[5])
redis.call('PEXPIRE', g .. ':rz', ttl)
local over = redis.call('ZCARD', g .. ':rz') - tonumber(ARGV[10]) - 1
if over > 0 then
  local popped = redis.call('ZPOPMIN', g .. ':rz', over)
  for i = 1, #popped, 2 do redis.call('DEL', p .. 'or:' .. popped[i]) end
end
local a = g .. ':a'
redis.call('ZREMRANGEBYSCORE', a, '-inf', now)
redis.call('SET', p .. 'oa:' .. ARGV[6], id .. ' ' .. ARGV[7] .. ' ' .. ARGV[9], 'PX', ARGV[8])
redis.call('ZADD', a, ARGV[7], ARGV[6])
-- Beyond the bound the soonest to expire go, never the one just issued.
local extra = redis.call('ZCARD', a) - tonumber(ARGV[11])
if extra > 0 then
  local gone = 0
  for _, m in ipairs(redis.call('ZRANGE', a, 0, extra)) do
    if gone < extra and m ~= ARGV[6] then
      redis.call('ZREM', a, m)
      redis.call('DEL', p .. 'oa:' .. m)
      gone = gone + 1
    end
  end
end
return {'rotated', f[1]}
";

/// KEYS[1] the access token. ARGV: prefix, now. Returns the grant JSON and the expiry, or
/// nil.
const ACCESS: &str = r"
local v = redis.call('GET', KEYS[1])
if not v then return false end
local id, e, s = string.match(v, '^(%S+) (%d+) ?(.*)$')
if not id or tonumber(ARGV[2]) >= tonumber(e) then return false end
local j = redis.call('HGET', ARGV[1] .. 'og:' .. id, 'j')
if not j then return false end
return {j, e, s}
";

/// KEYS[1] the code; ARGV: prefix, presenting client. Revokes the grant a used code made, if
/// the code's own client presents it; returns {its id, its JSON if this ended it}, or an
/// empty list.
const REPLAYED: &str = r"
local f = redis.call('HMGET', KEYS[1], 'u', 'c')
local used = f[1]
if not used or f[2] ~= ARGV[2] then return {} end
return {used, revoke(ARGV[1], used) or nil}
";

/// ARGV: prefix, user, key hex ('' for any). Revokes the user's grants (those the key
/// approved); returns the JSON of each it ended.
const END_USER: &str = r"
local ended = {}
for _, id in ipairs(redis.call('SMEMBERS', ARGV[1] .. 'op:' .. ARGV[2])) do
  local k = redis.call('HGET', ARGV[1] .. 'og:' .. id, 'k')
  if ARGV[3] == '' or k == ARGV[3] then
    local j = revoke(ARGV[1], id)
    if j then table.insert(ended, j) end
  end
end
return ended
";

/// ARGV: prefix, user, then client ids. Returns the JSON of each live grant of the user at
/// those clients (their `ou:` lists).
const GRANTS_OF: &str = r"
local out = {}
for i = 3, #ARGV do
  for _, id in ipairs(redis.call('LRANGE', ARGV[1] .. 'ou:' .. ARGV[i] .. ':' .. ARGV[2], 0, -1)) do
    local j = redis.call('HGET', ARGV[1] .. 'og:' .. id, 'j')
    if j then out[#out + 1] = j end
  end
end
return out
";

/// ARGV: prefix, grant id. Returns the grant's JSON if it was live.
const REVOKE: &str = "return revoke(ARGV[1], ARGV[2])";

/// ARGV: prefix, family, how long it stays marked ended (ms). Revokes its grants and its
/// unredeemed codes; returns the JSON of each grant it ended.
const END_FAMILY: &str = r"
local p = ARGV[1]
redis.call('SET', p .. 'ofe:' .. ARGV[2], '1', 'PX', ARGV[3])
local f = p .. 'of:' .. ARGV[2]
local ended = {}
for _, id in ipairs(redis.call('SMEMBERS', f)) do
  local j = revoke(p, id)
  if j then table.insert(ended, j) end
end
redis.call('DEL', f)
local fc = p .. 'ofc:' .. ARGV[2]
for _, c in ipairs(redis.call('SMEMBERS', fc)) do
  local k = p .. 'oc:' .. c
  if redis.call('HEXISTS', k, 'u') == 0 then redis.call('DEL', k) end
end
redis.call('DEL', fc)
return ended
";

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

/// Takes a one-time value (an app's code, a step-up ticket), in one step (a `GETDEL` that
/// older servers also run).
/// KEYS[1] the code. Returns its record or nil.
const TAKE: &str = r"
local v = redis.call('GET', KEYS[1])
if v then redis.call('DEL', KEYS[1]) end
return v
";

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
            .arg(&grant.key);
        let answer: Vec<String> = self.link.script(&call).await?;
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
        let answer: Vec<String> = self.link.script(&call).await?;
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
        let answer: Vec<String> = self.link.script(&call).await?;
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
        let mut out = Vec::with_capacity(found.len());
        for j in &found {
            let g: Grant = Self::parse(j)?;
            if now_ms < g.expires_ms {
                out.push(g);
            }
        }
        out.sort_by(|a, b| a.created_ms.cmp(&b.created_ms).then(a.id.cmp(&b.id)));
        Ok(out)
    }

    async fn revoke_grant(&self, grant_id: &str) -> Result<Option<Grant>, StoreError> {
        let mut call = self.revoke.prepare_invoke();
        call.arg(self.prefix()).arg(grant_id);
        let j: Option<String> = self.link.script(&call).await?;
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
        let ended: Vec<String> = self.link.script(&call).await?;
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
        let ended: Vec<String> = self.link.script(&call).await?;
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
