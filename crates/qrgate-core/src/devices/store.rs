//! The [`DeviceStore`] seam, where enrollments and invitations are kept, and
//! [`MemoryDevices`], the store of one instance.

use async_trait::async_trait;
use dashmap::DashMap;

use super::{Device, Invitation};
use crate::raw::KeyBytes;
use crate::session::{StoreError, TokenHash};

/// What redeeming an invitation did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Redeemed {
    /// The invitation is used and the device recorded.
    Enrolled,
    /// The invitation was used, lapsed or unknown: nothing changed.
    Gone,
    /// The key is enrolled already (the store saw it): nothing changed.
    KeyTaken,
}

/// Where enrollments and invitations are kept.
#[async_trait]
pub trait DeviceStore: Send + Sync + 'static {
    /// Keeps an invitation until `invitation.expires_ms`.
    async fn invite(&self, hash: &TokenHash, invitation: &Invitation) -> Result<(), StoreError>;

    /// The live invitation `hash` names, without using it.
    async fn invitation(
        &self,
        hash: &TokenHash,
        now_ms: u64,
    ) -> Result<Option<Invitation>, StoreError>;

    /// Uses invitation `hash` and records `device`, as one step; nothing is recorded unless
    /// it answers [`Redeemed::Enrolled`]. Of two racing redemptions exactly one succeeds.
    async fn redeem(
        &self,
        hash: &TokenHash,
        device: &Device,
        now_ms: u64,
    ) -> Result<Redeemed, StoreError>;

    /// Forgets the device holding `key` (and tells other instances).
    async fn remove(&self, key: &KeyBytes) -> Result<(), StoreError>;

    /// Replaces the record of an enrolled device with `device` (same key; narrower apps),
    /// and tells other instances; a device removed meanwhile stays removed. Returns whether
    /// it was still enrolled.
    async fn rebind(&self, device: &Device) -> Result<bool, StoreError>;

    /// Withdraws every pending invitation `keep` refuses (and frees lapsed ones); returns
    /// the withdrawn ones that had not lapsed at `now_ms`.
    async fn withdraw(
        &self,
        keep: &(dyn for<'i> Fn(&'i Invitation) -> bool + Sync),
        now_ms: u64,
    ) -> Result<Vec<Invitation>, StoreError>;

    /// Every device the store keeps, when it keeps them itself (`None`: the registry is the
    /// store, as with one instance).
    async fn load(&self) -> Result<Option<Vec<Device>>, StoreError>;

    /// Frees lapsed invitations; returns how many.
    fn sweep(&self, now_ms: u64) -> usize;
}

/// The store of one instance: invitations in memory; devices live in the registry (and the
/// state file).
#[derive(Default)]
pub(crate) struct MemoryDevices {
    invitations: DashMap<TokenHash, Invitation>,
}

#[async_trait]
impl DeviceStore for MemoryDevices {
    async fn invite(&self, hash: &TokenHash, invitation: &Invitation) -> Result<(), StoreError> {
        self.invitations.insert(*hash, invitation.clone());
        Ok(())
    }

    async fn invitation(
        &self,
        hash: &TokenHash,
        now_ms: u64,
    ) -> Result<Option<Invitation>, StoreError> {
        Ok(self
            .invitations
            .get(hash)
            .filter(|i| i.expires_ms > now_ms)
            .map(|i| i.clone()))
    }

    async fn redeem(
        &self,
        hash: &TokenHash,
        _: &Device,
        now_ms: u64,
    ) -> Result<Redeemed, StoreError> {
        // One removal wins; a lapsed invitation is removed without counting. The registry,
        // which is this store's device table, refuses a key it holds (`Devices::insert_new`).
        let used = self
            .invitations
            .remove(hash)
            .is_some_and(|(_, i)| i.expires_ms > now_ms);
        Ok(if used {
            Redeemed::Enrolled
        } else {
            Redeemed::Gone
        })
    }

    async fn remove(&self, _: &KeyBytes) -> Result<(), StoreError> {
        Ok(())
    }

    async fn rebind(&self, _: &Device) -> Result<bool, StoreError> {
        // The registry is this store's device table; the caller updates it.
        Ok(true)
    }

    async fn withdraw(
        &self,
        keep: &(dyn for<'i> Fn(&'i Invitation) -> bool + Sync),
        now_ms: u64,
    ) -> Result<Vec<Invitation>, StoreError> {
        let mut withdrawn = Vec::new();
        self.invitations.retain(|_, i| {
            let live = i.expires_ms > now_ms;
            let kept = live && keep(i);
            if live && !kept {
                withdrawn.push(i.clone());
            }
            kept
        });
        Ok(withdrawn)
    }

    async fn load(&self) -> Result<Option<Vec<Device>>, StoreError> {
        Ok(None)
    }

    fn sweep(&self, now_ms: u64) -> usize {
        let before = self.invitations.len();
        self.invitations.retain(|_, i| i.expires_ms > now_ms);
        before.saturating_sub(self.invitations.len())
    }
}
