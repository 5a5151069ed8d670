//! Device codes of the device authorization grant in Redis ([`DeviceCodes`]), so a program
//! may poll any instance and a phone's approval reach it wherever it lands.
//!
//! Keys (after the configured prefix and the provider's hash tag `{oidc}:`, the slot of every
//! provider key), each code by the hex of its SHA-256 only:
//! - `od:{device}`: a hash — `j` the request (JSON), `c` its client, `e` its expiry (ms),
//!   `i` the poll interval (ms), `l` the last poll (ms), `s` the decision (`p` pending, `a`
//!   approved with `a` the approval's JSON, `d` declined), `u` the user code; kept until
//!   [`KEEP_EXPIRED_MS`] past the expiry so late polls hear `expired_token`.
//! - `odu:{user code}`: the device code's hex, while it waits for a decision.
//!
//! Deciding and polling are one Lua script each: a code is decided once and a decision handed
//! out once, across instances.

use std::sync::Arc;

use async_trait::async_trait;

use qrgate_core::oidc::device::{
    DeviceApproval, DeviceCodes, DeviceRequest, Poll, KEEP_EXPIRED_MS, SLOW_DOWN_MS,
};
use qrgate_core::oidc::store::Hash;
use qrgate_core::session::StoreError;

use super::{unavailable, Link};

/// KEYS[1] the device code, KEYS[2] the user code. ARGV: device hex, request JSON, client,
/// expiry (ms), interval (ms), the device code's TTL (ms), the user code's TTL (ms), user
/// code hex. Returns 1 if kept, 0 if either code is in use.
const PUT: &str = r"
if redis.call('EXISTS', KEYS[1]) == 1 or redis.call('EXISTS', KEYS[2]) == 1 then return 0 end
redis.call('HSET', KEYS[1], 'j', ARGV[2], 'c', ARGV[3], 'e', ARGV[4], 'i', ARGV[5], 's', 'p', 'u', ARGV[8])
redis.call('PEXPIRE', KEYS[1], ARGV[6])
redis.call('SET', KEYS[2], ARGV[1], 'PX', ARGV[7])
return 1
";

/// KEYS[1] the user code. ARGV: prefix, now. Returns {device hex, request JSON} of a live,
/// undecided code, or nil.
const PENDING: &str = r"
local d = redis.call('GET', KEYS[1])
if not d then return false end
local f = redis.call('HMGET', ARGV[1] .. 'od:' .. d, 'j', 's', 'e')
if not f[1] or f[2] ~= 'p' or tonumber(ARGV[2]) >= tonumber(f[3]) then return false end
return {d, f[1]}
";

/// KEYS[1] the device code. ARGV: prefix, now, 'a' with the approval JSON or 'd'. Returns 1
/// if this decided a live, undecided code, else 0.
const DECIDE: &str = r"
local f = redis.call('HMGET', KEYS[1], 's', 'e', 'u')
if f[1] ~= 'p' or tonumber(ARGV[2]) >= tonumber(f[2]) then return 0 end
redis.call('HSET', KEYS[1], 's', ARGV[3])
if ARGV[3] == 'a' then redis.call('HSET', KEYS[1], 'a', ARGV[4]) end
redis.call('DEL', ARGV[1] .. 'odu:' .. f[3])
return 1
";

/// KEYS[1] the device code. ARGV: prefix, client, now, what slow_down adds (ms). Returns
/// {'unknown'}, {'expired'}, {'slow_down'}, {'pending'}, {'denied'} or {'approved', request
/// JSON, approval JSON}; a decision is handed out once (the code is deleted).
const POLL: &str = r"
local f = redis.call('HMGET', KEYS[1], 'c', 'e', 'l', 'i', 's', 'j', 'a', 'u')
if not f[1] or f[1] ~= ARGV[2] then return {'unknown'} end
local now = tonumber(ARGV[3])
if now >= tonumber(f[2]) then return {'expired'} end
redis.call('HSET', KEYS[1], 'l', ARGV[3])
if f[3] and now < tonumber(f[3]) + tonumber(f[4]) then
  redis.call('HINCRBY', KEYS[1], 'i', ARGV[4])
  return {'slow_down'}
end
if f[5] == 'p' then return {'pending'} end
redis.call('DEL', KEYS[1], ARGV[1] .. 'odu:' .. f[8])
if f[5] == 'd' then return {'denied'} end
return {'approved', f[6], f[7]}
";

/// The device code store in Redis.
pub struct RedisDeviceCodes {
    link: Arc<Link>,
    put: redis::Script,
    pending: redis::Script,
    decide: redis::Script,
    poll: redis::Script,
}

impl RedisDeviceCodes {
    /// The store in Redis through `link`.
    pub fn new(link: Arc<Link>) -> Self {
        Self {
            link,
            put: redis::Script::new(PUT),
            pending: redis::Script::new(PENDING),
            decide: redis::Script::new(DECIDE),
            poll: redis::Script::new(POLL),
        }
    }

    /// The provider's prefix: every key in its one hash slot.
    fn prefix(&self) -> String {
        self.link.key("{oidc}:")
    }

    fn device_key(&self, device: &Hash) -> String {
        format!("{}od:{}", self.prefix(), hex::encode(device))
    }

    fn parse<T: serde::de::DeserializeOwned>(text: &str) -> Result<T, StoreError> {
        serde_json::from_str(text).map_err(|_| unavailable("damaged device code record"))
    }
}

#[async_trait]
impl DeviceCodes for RedisDeviceCodes {
    async fn put(
        &self,
        device: Hash,
        user_code: Hash,
        request: DeviceRequest,
        now_ms: u64,
    ) -> Result<bool, StoreError> {
        let json = serde_json::to_string(&request).map_err(unavailable)?;
        let live = request.expires_ms.saturating_sub(now_ms).max(1);
        let mut call = self.put.prepare_invoke();
        call.key(self.device_key(&device))
            .key(format!("{}odu:{}", self.prefix(), hex::encode(user_code)))
            .arg(hex::encode(device))
            .arg(json)
            .arg(&request.client_id)
            .arg(request.expires_ms)
            .arg(request.interval_ms)
            .arg(live.saturating_add(KEEP_EXPIRED_MS))
            .arg(live)
            .arg(hex::encode(user_code));
        let kept: i64 = self.link.script(&call).await?;
        Ok(kept == 1)
    }

    async fn pending(
        &self,
        user_code: Hash,
        now_ms: u64,
    ) -> Result<Option<(Hash, DeviceRequest)>, StoreError> {
        let mut call = self.pending.prepare_invoke();
        call.key(format!("{}odu:{}", self.prefix(), hex::encode(user_code)))
            .arg(self.prefix())
            .arg(now_ms);
        let found: Option<(String, String)> = self.link.script(&call).await?;
        let Some((device, json)) = found else {
            return Ok(None);
        };
        let mut hash = [0u8; 32];
        hex::decode_to_slice(&device, &mut hash)
            .map_err(|_| unavailable("damaged device code index"))?;
        Ok(Some((hash, Self::parse(&json)?)))
    }

    async fn decide(
        &self,
        device: Hash,
        verdict: Option<DeviceApproval>,
        now_ms: u64,
    ) -> Result<bool, StoreError> {
        let mut call = self.decide.prepare_invoke();
        call.key(self.device_key(&device))
            .arg(self.prefix())
            .arg(now_ms);
        match verdict {
            Some(a) => call
                .arg("a")
                .arg(serde_json::to_string(&a).map_err(unavailable)?),
            None => call.arg("d"),
        };
        let decided: i64 = self.link.script(&call).await?;
        Ok(decided == 1)
    }

    async fn poll(&self, device: Hash, client_id: &str, now_ms: u64) -> Result<Poll, StoreError> {
        let mut call = self.poll.prepare_invoke();
        call.key(self.device_key(&device))
            .arg(self.prefix())
            .arg(client_id)
            .arg(now_ms)
            .arg(SLOW_DOWN_MS);
        let answer: Vec<String> = self.link.script(&call).await?;
        Ok(match answer.first().map(String::as_str) {
            Some("expired") => Poll::Expired,
            Some("slow_down") => Poll::SlowDown,
            Some("pending") => Poll::Pending,
            Some("denied") => Poll::Denied,
            Some("approved") => match (answer.get(1), answer.get(2)) {
                (Some(r), Some(a)) => Poll::Approved(Self::parse(r)?, Self::parse(a)?),
                _ => return Err(unavailable("damaged device code record")),
            },
            _ => Poll::Unknown,
        })
    }

    /// Redis expires device codes itself.
    async fn sweep(&self, _now_ms: u64) -> usize {
        0
    }
}
