//! Enrolled devices and invitations in Redis, for every instance.
//!
//! Devices are one hash `{prefix}devices`: hex key → the device (JSON). An invitation is
//! `{prefix}i:{hex hash of its token}` → the invitation (JSON), expiring with it, and is
//! listed in the hash `{prefix}invitations` (same field and value) so that the invitations
//! of a user who leaves the config can be found and withdrawn. Redeeming is one Lua script:
//! delete the invitation, and only if it was there record the device and publish
//! `device + <json>` — so an invitation enrolls exactly one key across instances. A removal
//! publishes `device - <hex key>`; a narrowed binding publishes the device again. Every instance keeps the whole table in its
//! registry ([`qrgate_core::devices::Devices`]): read at start and at every (re)subscription
//! ([`super::announcements`]), then moved by these announcements.

use std::sync::Arc;

use async_trait::async_trait;

use qrgate_core::devices::{Device, DeviceStore, Invitation, Redeemed};
use qrgate_core::raw::KeyBytes;
use qrgate_core::session::{StoreError, TokenHash};

use super::{unavailable, Link};

/// KEYS[1] the invitation, KEYS[2] the devices hash, KEYS[3] the events channel, KEYS[4]
/// the invitations list. ARGV: hex key, device JSON, hex invitation hash. Returns 1 if the
/// invitation was used now, 0 if it was gone, -1 (and the invitation kept) if the key is
/// enrolled already, on any instance.
const REDEEM: &str = r"
if redis.call('HEXISTS', KEYS[2], ARGV[1]) == 1 then return -1 end
redis.call('HDEL', KEYS[4], ARGV[3])
if redis.call('DEL', KEYS[1]) == 0 then return 0 end
redis.call('HSET', KEYS[2], ARGV[1], ARGV[2])
redis.call('PUBLISH', KEYS[3], 'device + ' .. ARGV[2])
return 1
";

/// KEYS[1] the devices hash, KEYS[2] the events channel. ARGV: hex key, device JSON.
/// Replaces a device that is still enrolled (a removal meanwhile wins); returns 1 if it was.
const REBIND: &str = r"
if redis.call('HEXISTS', KEYS[1], ARGV[1]) == 0 then return 0 end
redis.call('HSET', KEYS[1], ARGV[1], ARGV[2])
redis.call('PUBLISH', KEYS[2], 'device + ' .. ARGV[2])
return 1
";

/// The Redis device store.
pub struct RedisDevices {
    link: Arc<Link>,
    redeem: redis::Script,
    rebind: redis::Script,
}

impl RedisDevices {
    /// Devices in Redis through `link`.
    pub fn new(link: Arc<Link>) -> Self {
        Self {
            link,
            redeem: redis::Script::new(REDEEM),
            rebind: redis::Script::new(REBIND),
        }
    }

    fn invitation_key(&self, hash: &TokenHash) -> String {
        self.link.key(&format!("i:{}", hex::encode(hash)))
    }

    fn devices_key(&self) -> String {
        self.link.key("devices")
    }

    fn invitations_key(&self) -> String {
        self.link.key("invitations")
    }

    fn json<T: serde::Serialize>(value: &T) -> Result<String, StoreError> {
        serde_json::to_string(value).map_err(unavailable)
    }
}

/// An announcement heard on the events channel (`device + <json>` or `device - <hex key>`).
pub enum Heard {
    /// A device was enrolled.
    Enrolled(Device),
    /// The device with this key was removed.
    Removed(KeyBytes),
}

/// Parses the part of an announcement after `device `.
pub fn heard(rest: &str) -> Option<Heard> {
    if let Some(json) = rest.strip_prefix("+ ") {
        return serde_json::from_str(json).ok().map(Heard::Enrolled);
    }
    KeyBytes::from_hex(rest.strip_prefix("- ")?).map(Heard::Removed)
}

#[async_trait]
impl DeviceStore for RedisDevices {
    async fn invite(&self, hash: &TokenHash, invitation: &Invitation) -> Result<(), StoreError> {
        let now = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0, |d| u64::try_from(d.as_millis()).unwrap_or(u64::MAX));
        let ttl = invitation.expires_ms.saturating_sub(now).max(1);
        let json = Self::json(invitation)?;
        let mut pipe = redis::pipe();
        pipe.atomic()
            .cmd("SET")
            .arg(self.invitation_key(hash))
            .arg(&json)
            .arg("PX")
            .arg(ttl)
            .ignore()
            .cmd("HSET")
            .arg(self.invitations_key())
            .arg(hex::encode(hash))
            .arg(&json)
            .ignore();
        self.link.pipe_kept(&pipe).await
    }

    async fn invitation(
        &self,
        hash: &TokenHash,
        now_ms: u64,
    ) -> Result<Option<Invitation>, StoreError> {
        let mut cmd = redis::cmd("GET");
        cmd.arg(self.invitation_key(hash));
        let text: Option<String> = self.link.query(&cmd).await?;
        Ok(text
            .and_then(|t| serde_json::from_str::<Invitation>(&t).ok())
            .filter(|i| i.expires_ms > now_ms))
    }

    async fn redeem(
        &self,
        hash: &TokenHash,
        device: &Device,
        now_ms: u64,
    ) -> Result<Redeemed, StoreError> {
        // A lapsed invitation Redis has not expired yet (clock skew) is not used.
        if self.invitation(hash, now_ms).await?.is_none() {
            return Ok(Redeemed::Gone);
        }
        let mut invocation = self.redeem.prepare_invoke();
        invocation
            .key(self.invitation_key(hash))
            .key(self.devices_key())
            .key(self.link.channel())
            .key(self.invitations_key())
            .arg(hex::encode(device.key))
            .arg(Self::json(device)?)
            .arg(hex::encode(hash));
        let used: i64 = self.link.script_kept(&invocation).await?;
        Ok(match used {
            1 => Redeemed::Enrolled,
            -1 => Redeemed::KeyTaken,
            _ => Redeemed::Gone,
        })
    }

    async fn remove(&self, key: &KeyBytes) -> Result<(), StoreError> {
        let mut pipe = redis::pipe();
        pipe.atomic()
            .cmd("HDEL")
            .arg(self.devices_key())
            .arg(hex::encode(key))
            .ignore()
            .cmd("PUBLISH")
            .arg(self.link.channel())
            .arg(format!("device - {}", hex::encode(key)))
            .ignore();
        self.link.pipe_kept(&pipe).await
    }

    async fn rebind(&self, device: &Device) -> Result<bool, StoreError> {
        let mut invocation = self.rebind.prepare_invoke();
        invocation
            .key(self.devices_key())
            .key(self.link.channel())
            .arg(hex::encode(device.key))
            .arg(Self::json(device)?);
        let replaced: i64 = self.link.script_kept(&invocation).await?;
        Ok(replaced == 1)
    }

    async fn withdraw(
        &self,
        keep: &(dyn for<'i> Fn(&'i Invitation) -> bool + Sync),
        now_ms: u64,
    ) -> Result<Vec<Invitation>, StoreError> {
        let mut cmd = redis::cmd("HGETALL");
        cmd.arg(self.invitations_key());
        let listed: Vec<(String, String)> = self.link.query(&cmd).await?;
        let mut withdrawn = Vec::new();
        let mut pipe = redis::pipe();
        pipe.atomic();
        let mut any = false;
        for (field, text) in listed {
            // Unreadable, lapsed or no longer fitting: the invitation goes. Only a live one
            // that fitted before counts as withdrawn.
            let invitation = serde_json::from_str::<Invitation>(&text).ok();
            let live = invitation.as_ref().is_some_and(|i| i.expires_ms > now_ms);
            if live && invitation.as_ref().is_some_and(keep) {
                continue;
            }
            let Some(hash) = TokenHash::from_hex(&field) else {
                pipe.cmd("HDEL")
                    .arg(self.invitations_key())
                    .arg(&field)
                    .ignore();
                any = true;
                continue;
            };
            pipe.cmd("DEL").arg(self.invitation_key(&hash)).ignore();
            pipe.cmd("HDEL")
                .arg(self.invitations_key())
                .arg(&field)
                .ignore();
            any = true;
            if let (true, Some(i)) = (live, invitation) {
                withdrawn.push(i);
            }
        }
        if any {
            self.link.pipe_kept(&pipe).await?;
        }
        Ok(withdrawn)
    }

    async fn load(&self) -> Result<Option<Vec<Device>>, StoreError> {
        let mut cmd = redis::cmd("HVALS");
        cmd.arg(self.devices_key());
        let all: Vec<String> = self.link.query(&cmd).await?;
        let mut devices = Vec::with_capacity(all.len());
        for text in all {
            match serde_json::from_str(&text) {
                Ok(d) => devices.push(d),
                // One unreadable entry must not lose the others; it signs nobody in.
                Err(e) => tracing::error!(error = %e, "an enrolled device in redis is unreadable"),
            }
        }
        Ok(Some(devices))
    }

    fn sweep(&self, _: u64) -> usize {
        // Invitations expire in Redis by themselves.
        0
    }
}
