//! Login attempts in Redis, for every instance.
//!
//! Each attempt is a hash `{prefix}a:{id}`: the record (JSON), its phase, what its approval
//! is for (`action`: an action's written form, a device code's tag, empty for a sign-in or
//! step-up), and once
//! approved the approving key, name and time. A protocol endpoint's channel is `{prefix}c:{channel}`
//! → id. Every transition is one Lua script that checks the phase it starts from and the
//! time, writes the next phase and publishes the change on the events channel, all in one
//! atomic step: of racing approvals on any number of instances exactly one wins, and
//! approve, reject and claim are single use; a claim names the purpose it collects and the
//! script refuses, changing nothing, any other than the attempt's. Signer tokens' single-use marks are
//! `SET NX` keys `{prefix}u:{hex}`.

use std::sync::Arc;

use async_trait::async_trait;

use qrgate_core::login::share::{AttemptRecord, AttemptShare, Outcome, SharedPhase, Transition};
use qrgate_core::raw::KeyBytes;
use qrgate_core::session::StoreError;

use super::{unavailable, Link};

/// The core's transition table (`qrgate_core::login::attempts::TRANSITIONS`) in Lua, checked
/// against it row by row on a real Redis (`redis_transitions::attempt_transitions_match_the_table`).
/// KEYS[1] the attempt, KEYS[2] the events channel. ARGV: op, now, id, then for approve the
/// key (hex), name and protocol, for claim the window (ms) and the claimed purpose. Returns
/// {"ok", phase fields…} or {"refused", phase}, {"purpose"}, {"expired"}, {"gone"}.
const TRANSITION: &str = r"
local phase = redis.call('HGET', KEYS[1], 'phase')
if not phase then return {'gone'} end
local op = ARGV[1]
local now = tonumber(ARGV[2])
if op == 'claim' then
  if (redis.call('HGET', KEYS[1], 'action') or '') ~= ARGV[5] then return {'purpose'} end
  if phase ~= 'approved' then return {'refused', phase} end
  local f = redis.call('HMGET', KEYS[1], 'key', 'name', 'at', 'proto')
  if now >= tonumber(f[3]) + tonumber(ARGV[4]) then return {'expired'} end
  redis.call('HSET', KEYS[1], 'phase', 'claimed')
  return {'ok', 'approved', f[1], f[2], f[3], f[4]}
end
if phase ~= 'pending' and phase ~= 'scanned' then
  if phase == 'approved' then
    local f = redis.call('HMGET', KEYS[1], 'key', 'name', 'at', 'proto')
    return {'refused', phase, f[1], f[2], f[3], f[4]}
  end
  return {'refused', phase}
end
if now >= tonumber(redis.call('HGET', KEYS[1], 'expires')) then return {'expired'} end
if op == 'scan' then
  if phase == 'pending' then
    redis.call('HSET', KEYS[1], 'phase', 'scanned')
    redis.call('PUBLISH', KEYS[2], 'status ' .. ARGV[3] .. ' scanned')
  end
  return {'ok', 'scanned'}
elseif op == 'approve' then
  redis.call('HSET', KEYS[1], 'phase', 'approved', 'key', ARGV[4], 'name', ARGV[5], 'at', ARGV[2], 'proto', ARGV[6])
  redis.call('PUBLISH', KEYS[2], 'status ' .. ARGV[3] .. ' approved ' .. ARGV[5])
  return {'ok', 'approved', ARGV[4], ARGV[5], ARGV[2], ARGV[6]}
elseif op == 'reject' then
  redis.call('HSET', KEYS[1], 'phase', 'rejected')
  redis.call('PUBLISH', KEYS[2], 'status ' .. ARGV[3] .. ' rejected')
  return {'ok', 'rejected'}
end
return redis.error_reply('unknown transition')
";

/// The Redis attempt share.
pub struct RedisAttempts {
    link: Arc<Link>,
    transition: redis::Script,
}

impl RedisAttempts {
    /// Attempts in Redis through `link`.
    pub fn new(link: Arc<Link>) -> Self {
        Self {
            link,
            transition: redis::Script::new(TRANSITION),
        }
    }

    fn key(&self, id: &str) -> String {
        self.link.key(&format!("a:{id}"))
    }
}

/// A phase as the script reports it: its name, then for approved the key, name, time and
/// protocol.
fn phase(fields: &[String]) -> Result<SharedPhase, StoreError> {
    let damaged = || unavailable("damaged attempt");
    Ok(match fields {
        [p] if p == "pending" => SharedPhase::Pending,
        [p] if p == "scanned" => SharedPhase::Scanned,
        [p] if p == "rejected" => SharedPhase::Rejected,
        [p] if p == "claimed" => SharedPhase::Claimed,
        [p, key, name, at, protocol] if p == "approved" => SharedPhase::Approved {
            key: KeyBytes::from_hex(key).ok_or_else(damaged)?,
            name: name.clone(),
            protocol: protocol.clone(),
            at_ms: at.parse().map_err(|_| damaged())?,
        },
        _ => return Err(damaged()),
    })
}

#[async_trait]
impl AttemptShare for RedisAttempts {
    async fn put(&self, record: &AttemptRecord, keep_ms: u64) -> Result<(), StoreError> {
        let json = serde_json::to_string(record).map_err(unavailable)?;
        let key = self.key(&record.id);
        let keep = i64::try_from(keep_ms).unwrap_or(i64::MAX);
        let mut pipe = redis::pipe();
        pipe.atomic()
            .hset_multiple(
                &key,
                &[
                    ("record", json),
                    ("phase", "pending".into()),
                    ("expires", record.expires_ms.to_string()),
                    ("action", record.claimed_as()),
                ],
            )
            .ignore()
            .pexpire(&key, keep)
            .ignore();
        for channel in record.materials.iter().filter_map(|m| m.channel.as_ref()) {
            pipe.cmd("SET")
                .arg(self.link.key(&format!("c:{channel}")))
                .arg(&record.id)
                .arg("PX")
                .arg(keep)
                .ignore();
        }
        self.link.pipe::<()>(&pipe).await
    }

    async fn fetch(&self, id: &str) -> Result<Option<(AttemptRecord, SharedPhase)>, StoreError> {
        type Fields = (
            Option<String>,
            Option<String>,
            Option<String>,
            Option<String>,
            Option<String>,
            Option<String>,
        );
        let f: Fields = self
            .link
            .query(
                redis::cmd("HMGET")
                    .arg(self.key(id))
                    .arg(&["record", "phase", "key", "name", "at", "proto"]),
            )
            .await?;
        let (Some(json), Some(p)) = (f.0, f.1) else {
            return Ok(None);
        };
        let record: AttemptRecord = serde_json::from_str(&json).map_err(unavailable)?;
        let fields = match (f.2, f.3, f.4, f.5) {
            (Some(k), Some(n), Some(a), Some(proto)) if p == "approved" => vec![p, k, n, a, proto],
            _ => vec![p],
        };
        Ok(Some((record, phase(&fields)?)))
    }

    async fn channel(&self, channel: &str) -> Result<Option<String>, StoreError> {
        self.link
            .query(redis::cmd("GET").arg(self.link.key(&format!("c:{channel}"))))
            .await
    }

    async fn transition(
        &self,
        id: &str,
        t: &Transition,
        now_ms: u64,
    ) -> Result<Outcome, StoreError> {
        let mut call = self.transition.key(self.key(id));
        call.key(self.link.channel());
        match t {
            Transition::Scan => call.arg("scan").arg(now_ms).arg(id),
            Transition::Reject => call.arg("reject").arg(now_ms).arg(id),
            Transition::Approve {
                key,
                name,
                protocol,
            } => call
                .arg("approve")
                .arg(now_ms)
                .arg(id)
                .arg(hex::encode(key))
                .arg(name)
                .arg(protocol),
            Transition::Claim { window_ms, action } => call
                .arg("claim")
                .arg(now_ms)
                .arg(id)
                .arg(*window_ms)
                .arg(action),
        };
        let answer: Vec<String> = self.link.script(&call).await?;
        match answer.split_first() {
            Some((verdict, rest)) if verdict == "ok" => Ok(Outcome::Done(phase(rest)?)),
            Some((verdict, rest)) if verdict == "refused" => Ok(Outcome::Refused(phase(rest)?)),
            Some((verdict, _)) if verdict == "purpose" => Ok(Outcome::OtherPurpose),
            Some((verdict, _)) if verdict == "expired" => Ok(Outcome::Expired),
            Some((verdict, _)) if verdict == "gone" => Ok(Outcome::Gone),
            _ => Err(unavailable("unexpected transition answer")),
        }
    }

    async fn first_use(&self, mark: &[u8], keep_ms: u64) -> Result<bool, StoreError> {
        let set: Option<String> = self
            .link
            .query(
                redis::cmd("SET")
                    .arg(self.link.key(&format!("u:{}", hex::encode(mark))))
                    .arg(1)
                    .arg("NX")
                    .arg("PX")
                    .arg(keep_ms.max(1)),
            )
            .await?;
        Ok(set.is_some())
    }

    async fn ready(&self) -> Result<(), StoreError> {
        self.link.ping().await
    }
}
