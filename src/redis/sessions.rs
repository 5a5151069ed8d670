//! Sessions in Redis, with a local cache on the hot path.
//!
//! Each session is a hash `{prefix}s:{hex of the token hash}` (key, app, created, last
//! seen) whose Redis TTL follows the absolute and idle limits, so Redis forgets a session
//! exactly when it would be refused. A lookup is one Lua call that checks both limits and the
//! app and slides the idle window; its answer is kept in this instance's memory for
//! `[store] cache_ms`, so an authenticated request waits for Redis at most once per session
//! and period (which also bounds idle-window writes to one per session and period).
//!
//! Entries are added only while the pub/sub listener is subscribed: a revocation on any
//! instance is published and drops the entry here at once. While the subscription is lost
//! (Redis down, say) entries already cached are honoured until their bound and nothing new
//! is cached, so a missed revocation is honoured late by at most `cache_ms`. A lookup racing
//! a revocation does not cache its (possibly stale) answer: every revocation bumps an epoch,
//! and an answer is cached only if the epoch did not move while it was fetched.
//!
//! Each signing key has an index, the sorted set `{prefix}k:{hex of the key}`: its sessions'
//! hashes, scored by the end of their absolute lifetime. A session enters it in the same Lua
//! call that writes the session (`PUT`) and leaves it in the same call that deletes it
//! (`REVOKE`), so what one key has ([`SessionStore::of_keys`]) is read without scanning
//! the store. Redis expires sessions by itself (TTL), so a set can hold members whose
//! session is gone; it stays bounded all the same: every write drops the members whose
//! absolute lifetime ended, a read prunes the members whose session it found gone
//! (`PRUNE`, which rechecks in Redis), and the set itself expires with the absolute end of
//! its newest session. Readers look every member up, so a stale member is never listed, and
//! a session is listed only while its own record says it is live.
//!
//! A session made from a single sign-on family is also in that family's index,
//! `{prefix}f:{family}`, kept by the same calls and the same rules
//! ([`SessionStore::of_family`]).

use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Instant;

use async_trait::async_trait;
use dashmap::DashMap;

use qrgate_core::clock::{millis, Clock};
use qrgate_core::identity::access::Grant;
use qrgate_core::raw::KeyBytes;
use qrgate_core::session::{
    Lifetimes, SessionMeta, SessionRecord, SessionStore, SessionToken, StoreError, TokenHash,
};

use super::{unavailable, Link};

/// Checks a session's limits and app and slides its idle window, in one step.
/// KEYS[1] the session; ARGV now, app, absolute ms, idle ms. Returns {key, created, now,
/// protocol, client ip, browser, approved, grant, family} or nil.
const LOOKUP: &str = r"
local f = redis.call('HMGET', KEYS[1], 'k', 'a', 'c', 'p', 'ip', 'ua', 'ap', 'g', 'fm')
if not f[1] then return false end
local now = tonumber(ARGV[1])
local c = tonumber(f[3])
local l = tonumber(redis.call('HGET', KEYS[1], 'l'))
local absolute = c + tonumber(ARGV[3])
if now >= absolute or now >= l + tonumber(ARGV[4]) then
  redis.call('DEL', KEYS[1])
  return false
end
if f[2] ~= ARGV[2] then return false end
redis.call('HSET', KEYS[1], 'l', ARGV[1])
redis.call('PEXPIRE', KEYS[1], math.min(absolute, now + tonumber(ARGV[4])) - now)
return {f[1], f[3], ARGV[1], f[4] or '', f[5] or '', f[6] or '', f[7] or f[3], f[8] or '', f[9] or ''}
";

/// Writes a session and indexes it under its key (and its single sign-on family, if it has
/// one), in one step. KEYS[1] the session, KEYS[2] its key's index, KEYS[3] (if any) its
/// family's index. ARGV: now, the session's TTL, the end of its absolute lifetime (ms since
/// the epoch), its hex hash, then the session's fields and values. Members whose absolute
/// lifetime ended leave each index; an index lives as long as its last session can.
const PUT: &str = r"
redis.call('HSET', KEYS[1], unpack(ARGV, 5))
redis.call('PEXPIRE', KEYS[1], ARGV[2])
for i = 2, #KEYS do
  redis.call('ZADD', KEYS[i], ARGV[3], ARGV[4])
  redis.call('ZREMRANGEBYSCORE', KEYS[i], '-inf', ARGV[1])
  local last = redis.call('ZRANGE', KEYS[i], -1, -1, 'WITHSCORES')
  if last[2] then
    redis.call('PEXPIRE', KEYS[i], math.max(1, tonumber(last[2]) - tonumber(ARGV[1])))
  end
end
";

/// Ends a session, in one step: deletes it, takes it out of its key's (and family's) index,
/// tells every instance. KEYS[1] the session, KEYS[2] the events channel, KEYS[3..] (those
/// the session's record named) its indexes. ARGV: the hex hash. Returns 1 if the session was
/// there.
const REVOKE: &str = r"
local n = redis.call('DEL', KEYS[1])
for i = 3, #KEYS do redis.call('ZREM', KEYS[i], ARGV[1]) end
redis.call('PUBLISH', KEYS[2], 'revoke ' .. ARGV[1])
return n
";

/// Prunes an index of sessions a read found gone. KEYS[1] the index, KEYS[2..] those
/// sessions; ARGV[1] now, ARGV[2..] their hex hashes. A member leaves only if its session is
/// still gone now (rechecked here, so a session written back meanwhile stays indexed).
const PRUNE: &str = r"
redis.call('ZREMRANGEBYSCORE', KEYS[1], '-inf', ARGV[1])
for i = 2, #KEYS do
  if redis.call('EXISTS', KEYS[i]) == 0 then redis.call('ZREM', KEYS[1], ARGV[i]) end
end
";

/// The fields a listed session is read from, in [`record_of`]'s order.
const FIELDS: [&str; 10] = ["k", "a", "c", "l", "p", "ip", "ua", "ap", "g", "fm"];

/// A session's fields as [`FIELDS`] reads them.
type Fields = (
    Option<String>,
    Option<String>,
    Option<u64>,
    Option<u64>,
    Option<String>,
    Option<String>,
    Option<String>,
    Option<u64>,
    Option<String>,
    Option<String>,
);

/// The record [`FIELDS`] read; none if the session is gone or damaged (not listed).
fn record_of(fields: Fields) -> Option<SessionRecord> {
    let (k, a, c, l, p, ip, ua, ap, g, fm) = fields;
    let grant = grant_of(g.as_deref().unwrap_or("")).ok()?;
    Some(SessionRecord {
        key: k.as_deref().and_then(KeyBytes::from_hex)?,
        app: Arc::from(a?.as_str()),
        created_ms: c?,
        last_seen_ms: l?,
        approved_ms: ap.or(c)?,
        meta: Arc::new(SessionMeta {
            grant,
            protocol: p.unwrap_or_default(),
            client_ip: ip.unwrap_or_default(),
            browser: ua.unwrap_or_default(),
            family: fm,
        }),
    })
}

struct Cached {
    record: SessionRecord,
    /// Trusted until then; then Redis is asked again.
    until: Instant,
}

/// Records a step-up approval on an existing session only. KEYS[1] the session; ARGV the
/// time. Returns 1 if it exists.
const REAPPROVE: &str = r"
if redis.call('EXISTS', KEYS[1]) == 0 then return 0 end
redis.call('HSET', KEYS[1], 'ap', ARGV[1])
return 1
";

/// The Redis session store.
pub struct RedisSessions {
    link: Arc<Link>,
    lifetimes: Lifetimes,
    clock: Clock,
    cache: DashMap<TokenHash, Cached>,
    /// Moves on every revocation this instance hears of (and when it stops hearing).
    epoch: AtomicU64,
    /// Whether revocations are being heard: only then are answers cached.
    listening: AtomicBool,
    lookup: redis::Script,
    reapprove: redis::Script,
    put: redis::Script,
    revoke: redis::Script,
    prune: redis::Script,
}

impl RedisSessions {
    /// Sessions in Redis through `link`, held to `lifetimes`.
    pub fn new(link: Arc<Link>, lifetimes: Lifetimes, clock: Clock) -> Self {
        Self {
            link,
            lifetimes,
            clock,
            cache: DashMap::new(),
            epoch: AtomicU64::new(0),
            listening: AtomicBool::new(false),
            lookup: redis::Script::new(LOOKUP),
            reapprove: redis::Script::new(REAPPROVE),
            put: redis::Script::new(PUT),
            revoke: redis::Script::new(REVOKE),
            prune: redis::Script::new(PRUNE),
        }
    }

    fn key(&self, hash: &TokenHash) -> String {
        self.link.key(&format!("s:{}", hex::encode(hash)))
    }

    /// The index of signing key `key`'s sessions.
    fn index(&self, key: &KeyBytes) -> String {
        self.link.key(&format!("k:{}", hex::encode(key)))
    }

    /// The index of single sign-on family `family`'s sessions.
    fn family_index(&self, family: &str) -> String {
        self.link.key(&format!("f:{family}"))
    }

    /// A revocation was heard (from any instance, this one included).
    pub fn forget(&self, hash: &TokenHash) {
        self.epoch.fetch_add(1, Ordering::SeqCst);
        self.cache.remove(hash);
    }

    /// Whether revocations are heard (answers are cached only then).
    pub fn set_listening(&self, on: bool) {
        self.epoch.fetch_add(1, Ordering::SeqCst);
        self.listening.store(on, Ordering::SeqCst);
    }

    fn expired(&self, r: &SessionRecord, now: u64) -> bool {
        now >= r.created_ms.saturating_add(millis(self.lifetimes.absolute))
            || now >= r.last_seen_ms.saturating_add(millis(self.lifetimes.idle))
    }

    /// The TTL of a session created or seen at `now`.
    fn ttl_ms(&self, created_ms: u64, now: u64) -> u64 {
        let absolute = created_ms.saturating_add(millis(self.lifetimes.absolute));
        absolute
            .min(now.saturating_add(millis(self.lifetimes.idle)))
            .saturating_sub(now)
            .max(1)
    }

    /// The [`PUT`] of session `hash`, written at `now`.
    fn put_call(
        &self,
        hash: &TokenHash,
        r: &SessionRecord,
        now: u64,
    ) -> redis::ScriptInvocation<'_> {
        let end = r.created_ms.saturating_add(millis(self.lifetimes.absolute));
        let mut call = self.put.prepare_invoke();
        call.key(self.key(hash)).key(self.index(&r.key));
        if let Some(family) = &r.meta.family {
            call.key(self.family_index(family));
        }
        call.arg(now)
            .arg(self.ttl_ms(r.created_ms, now))
            .arg(end)
            .arg(hex::encode(hash));
        for (field, value) in [
            ("k", hex::encode(r.key)),
            ("a", r.app.to_string()),
            ("c", r.created_ms.to_string()),
            ("l", r.last_seen_ms.to_string()),
            ("ap", r.approved_ms.to_string()),
            ("g", grant_text(&r.meta.grant)),
            ("p", r.meta.protocol.clone()),
            ("ip", r.meta.client_ip.clone()),
            ("ua", r.meta.browser.clone()),
        ] {
            call.arg(field).arg(value);
        }
        // Written only when set: a record without it reads as before single sign-on.
        if let Some(family) = &r.meta.family {
            call.arg("fm").arg(family.clone());
        }
        call
    }

    /// The live sessions whose hashes `members` lists, read in one round trip; the members
    /// whose session is gone come back separately (to prune).
    async fn read_members(
        &self,
        members: &[String],
        now: u64,
    ) -> Result<(Vec<(TokenHash, SessionRecord)>, Vec<usize>), StoreError> {
        if members.is_empty() {
            return Ok((Vec::new(), Vec::new()));
        }
        let mut pipe = redis::pipe();
        for m in members {
            pipe.cmd("HMGET")
                .arg(self.link.key(&format!("s:{m}")))
                .arg(&FIELDS);
        }
        let rows: Vec<Fields> = self.link.pipe(&pipe).await?;
        let (mut live, mut gone) = (Vec::new(), Vec::new());
        for (i, (m, row)) in members.iter().zip(rows).enumerate() {
            let present = row.0.is_some();
            match (TokenHash::from_hex(m), record_of(row)) {
                (Some(hash), Some(r)) if !self.expired(&r, now) => live.push((hash, r)),
                _ if !present => gone.push(i),
                _ => {}
            }
        }
        Ok((live, gone))
    }
}

/// A grant as stored: empty for the full grant.
fn grant_text(g: &Grant) -> String {
    if g.is_full() {
        String::new()
    } else {
        g.to_string()
    }
}

/// A stored grant back; a damaged one fails (the session is then refused).
fn grant_of(text: &str) -> Result<Grant, StoreError> {
    if text.is_empty() {
        return Ok(Grant::full());
    }
    text.parse()
        .map_err(|_| unavailable("damaged session grant"))
}

#[async_trait]
impl SessionStore for RedisSessions {
    async fn create(
        &self,
        app: Arc<str>,
        key: KeyBytes,
        meta: SessionMeta,
    ) -> Result<SessionToken, StoreError> {
        let token = SessionToken::generate();
        let now = self.clock.now_millis();
        let record = SessionRecord {
            key,
            app,
            created_ms: now,
            last_seen_ms: now,
            approved_ms: now,
            meta: Arc::new(meta),
        };
        self.link
            .script_kept::<()>(&self.put_call(&token.hash(), &record, now))
            .await?;
        Ok(token)
    }

    async fn lookup(
        &self,
        hash: &TokenHash,
        app: &str,
    ) -> Result<Option<SessionRecord>, StoreError> {
        let now = self.clock.now_millis();
        if let Some(hit) = self.cache.get(hash) {
            if Instant::now() < hit.until && !self.expired(&hit.record, now) {
                return Ok((&*hit.record.app == app).then(|| hit.record.clone()));
            }
        }
        let listening = self.listening.load(Ordering::SeqCst);
        let epoch = self.epoch.load(Ordering::SeqCst);
        let mut call = self.lookup.key(self.key(hash));
        call.arg(now)
            .arg(app)
            .arg(millis(self.lifetimes.absolute))
            .arg(millis(self.lifetimes.idle));
        let found: Option<Vec<String>> = self.link.script(&call).await?;
        let Some(fields) = found else {
            self.cache.remove(hash);
            return Ok(None);
        };
        let record = match fields.as_slice() {
            [k, c, l, p, ip, ua, ap, g, fm] => SessionRecord {
                key: KeyBytes::from_hex(k).ok_or_else(|| unavailable("damaged session"))?,
                app: Arc::from(app),
                created_ms: c.parse().map_err(|_| unavailable("damaged session"))?,
                last_seen_ms: l.parse().map_err(|_| unavailable("damaged session"))?,
                approved_ms: ap.parse().map_err(|_| unavailable("damaged session"))?,
                meta: Arc::new(SessionMeta {
                    grant: grant_of(g)?,
                    protocol: p.clone(),
                    client_ip: ip.clone(),
                    browser: ua.clone(),
                    family: (!fm.is_empty()).then(|| fm.clone()),
                }),
            },
            _ => return Err(unavailable("unexpected lookup answer")),
        };
        if listening && self.epoch.load(Ordering::SeqCst) == epoch {
            self.cache.insert(
                *hash,
                Cached {
                    record: record.clone(),
                    until: Instant::now() + self.link.config().cache,
                },
            );
            // A revocation heard between the check and the insert found nothing to drop:
            // look again, now that the entry is in, and take it back out.
            if self.epoch.load(Ordering::SeqCst) != epoch {
                self.cache.remove(hash);
            }
        }
        Ok(Some(record))
    }

    async fn peek(&self, hash: &TokenHash, app: &str) -> Result<Option<SessionRecord>, StoreError> {
        let now = self.clock.now_millis();
        if let Some(hit) = self.cache.get(hash) {
            if Instant::now() < hit.until {
                let r = &hit.record;
                return Ok((!self.expired(r, now) && &*r.app == app).then(|| r.clone()));
            }
        }
        type Fields = (
            Option<String>,
            Option<String>,
            Option<u64>,
            Option<u64>,
            Option<u64>,
            Option<String>,
        );
        let (k, a, c, l, ap, g): Fields = self
            .link
            .query(
                redis::cmd("HMGET")
                    .arg(self.key(hash))
                    .arg(&["k", "a", "c", "l", "ap", "g"]),
            )
            .await?;
        let (Some(k), Some(a), Some(c), Some(l)) =
            (k.as_deref().and_then(KeyBytes::from_hex), a, c, l)
        else {
            return Ok(None);
        };
        // What deciding needs; how the session began (shown in lists) is not read here.
        let record = SessionRecord {
            key: k,
            app: Arc::from(a.as_str()),
            created_ms: c,
            last_seen_ms: l,
            approved_ms: ap.unwrap_or(c),
            meta: Arc::new(SessionMeta {
                grant: grant_of(g.as_deref().unwrap_or(""))?,
                ..SessionMeta::default()
            }),
        };
        Ok((!self.expired(&record, now) && a == app).then_some(record))
    }

    async fn revoke(&self, hash: &TokenHash) -> Result<bool, StoreError> {
        self.forget(hash);
        // Which index the session is in: a session's key never changes, so reading it first
        // and then deleting and unindexing in one step cannot unindex the wrong session.
        let (key, family): (Option<String>, Option<String>) = self
            .link
            .query(redis::cmd("HMGET").arg(self.key(hash)).arg("k").arg("fm"))
            .await?;
        let mut call = self.revoke.prepare_invoke();
        call.key(self.key(hash)).key(self.link.channel());
        if let Some(key) = key.as_deref().and_then(KeyBytes::from_hex) {
            call.key(self.index(&key));
        }
        if let Some(family) = family.filter(|f| !f.is_empty()) {
            call.key(self.family_index(&family));
        }
        call.arg(hex::encode(hash));
        let deleted: u64 = self.link.script_kept(&call).await?;
        Ok(deleted > 0)
    }

    async fn reapproved(&self, hash: &TokenHash, at_ms: u64) -> Result<bool, StoreError> {
        let mut call = self.reapprove.key(self.key(hash));
        call.arg(at_ms);
        let found: u64 = self.link.script_kept(&call).await?;
        // Every instance, this one included, must read the new approval time.
        self.forget(hash);
        let mut publish = redis::cmd("PUBLISH");
        publish
            .arg(self.link.channel())
            .arg(format!("changed {}", hex::encode(hash)));
        self.link.query::<()>(&publish).await?;
        Ok(found == 1)
    }

    async fn sweep(&self) -> usize {
        // Redis forgets expired sessions by itself (TTL), and their index entries as the
        // module says (trimmed on write, pruned on read, each set expiring with its newest
        // session); only stale cache entries go here.
        let now = Instant::now();
        self.cache.retain(|_, c| c.until > now);
        0
    }

    async fn export(&self) -> Result<Vec<(TokenHash, SessionRecord)>, StoreError> {
        let pattern = self.link.key("s:*");
        let now = self.clock.now_millis();
        let mut out = Vec::new();
        let mut cursor: u64 = 0;
        loop {
            let (next, keys): (u64, Vec<String>) = self
                .link
                .query(
                    redis::cmd("SCAN")
                        .arg(cursor)
                        .arg("MATCH")
                        .arg(&pattern)
                        .arg("COUNT")
                        .arg(1000),
                )
                .await?;
            let members: Vec<String> = keys
                .iter()
                .filter_map(|k| k.rsplit(':').next().map(str::to_string))
                .collect();
            out.extend(self.read_members(&members, now).await?.0);
            if next == 0 {
                return Ok(out);
            }
            cursor = next;
        }
    }

    async fn of_keys(
        &self,
        keys: &[KeyBytes],
    ) -> Result<Vec<(TokenHash, SessionRecord)>, StoreError> {
        let keys = qrgate_core::session::distinct(keys);
        if keys.is_empty() {
            return Ok(Vec::new());
        }
        let now = self.clock.now_millis();
        // Round trip 1: each index's members whose absolute lifetime has not ended.
        let mut pipe = redis::pipe();
        for key in &keys {
            pipe.cmd("ZRANGEBYSCORE")
                .arg(self.index(key))
                .arg(format!("({now}"))
                .arg("+inf");
        }
        let sets: Vec<Vec<String>> = self.link.pipe(&pipe).await?;
        // Round trip 2: their sessions.
        let members: Vec<String> = sets.iter().flatten().cloned().collect();
        let (live, gone) = self.read_members(&members, now).await?;
        let out = live
            .into_iter()
            .filter(|(_, r)| keys.binary_search(&r.key).is_ok())
            .collect();
        // Round trip 3, only when some member's session is gone: prune those (rechecked in
        // Redis), index by index.
        if !gone.is_empty() {
            let mut pipe = redis::pipe();
            pipe.load_script(&self.prune).ignore();
            let mut first = 0;
            for (key, set) in keys.iter().zip(&sets) {
                let range = first..first + set.len();
                first = range.end;
                let stale: Vec<&String> = gone
                    .iter()
                    .filter(|i| range.contains(i))
                    .map(|&i| &members[i])
                    .collect();
                if stale.is_empty() {
                    continue;
                }
                let mut call = self.prune.prepare_invoke();
                call.key(self.index(key)).arg(now);
                for m in stale {
                    call.key(self.link.key(&format!("s:{m}"))).arg(m);
                }
                pipe.invoke_script(&call).ignore();
            }
            self.link.pipe::<()>(&pipe).await?;
        }
        Ok(out)
    }

    async fn of_family(&self, family: &str) -> Result<Vec<(TokenHash, SessionRecord)>, StoreError> {
        let now = self.clock.now_millis();
        let index = self.family_index(family);
        let members: Vec<String> = self
            .link
            .query(
                redis::cmd("ZRANGEBYSCORE")
                    .arg(&index)
                    .arg(format!("({now}"))
                    .arg("+inf"),
            )
            .await?;
        let (live, gone) = self.read_members(&members, now).await?;
        if !gone.is_empty() {
            let mut call = self.prune.prepare_invoke();
            call.key(&index).arg(now);
            for &i in &gone {
                call.key(self.link.key(&format!("s:{}", members[i])))
                    .arg(&members[i]);
            }
            self.link.script::<()>(&call).await?;
        }
        Ok(live
            .into_iter()
            .filter(|(_, r)| r.meta.family.as_deref() == Some(family))
            .collect())
    }

    async fn import(&self, sessions: Vec<(TokenHash, SessionRecord)>) -> Result<usize, StoreError> {
        let now = self.clock.now_millis();
        let mut pipe = redis::pipe();
        // A pipeline does not load scripts by itself.
        pipe.load_script(&self.put).ignore();
        let mut kept = 0;
        let sessions = sessions
            .into_iter()
            .map(|(hash, r)| (hash, r.no_later_than(now)));
        for (hash, r) in sessions.filter(|(_, r)| !self.expired(r, now)) {
            pipe.invoke_script(&self.put_call(&hash, &r, now)).ignore();
            kept += 1;
        }
        if kept > 0 {
            self.link.pipe::<()>(&pipe).await?;
        }
        Ok(kept)
    }

    async fn ready(&self) -> Result<(), StoreError> {
        self.link.ping().await
    }

    fn len(&self) -> usize {
        // Sessions live in Redis; this instance knows only the ones it has cached.
        self.cache.len()
    }
}
