//! The registry [`Devices`] every request of an enrolled key reads, and the
//! [`DeviceLedger`] that keeps one instance's table on disk.

use std::sync::{Arc, RwLock};

use arc_swap::ArcSwapOption;
use async_trait::async_trait;
use dashmap::DashMap;

use super::{Device, Retired};
use crate::config::AppId;
use crate::identity::Identity;
use crate::raw::KeyBytes;
use crate::session::StoreError;
use crate::settings::{NoIdentity, Settings};

/// Where one instance's device table is kept durably (the glue's state file).
#[async_trait]
pub trait DeviceLedger: Send + Sync + 'static {
    /// Keeps `devices`, the whole table as it is about to be; returns once it is on disk.
    /// An error leaves the table as it was.
    async fn keep(&self, devices: &[Arc<Device>]) -> Result<(), StoreError>;
}

struct Entry {
    device: Arc<Device>,
    /// The identity derived under one config (its [`Settings::generation`]).
    cached: ArcSwapOption<(u64, Arc<Identity>)>,
}

/// The enrolled devices this instance knows: read on every request of an enrolled key.
pub struct Devices {
    map: DashMap<KeyBytes, Entry>,
    /// Whether the table is current. With several instances it is not while this one cannot
    /// hear the others' announcements (a removal could be missed): then no device signs in.
    current: std::sync::atomic::AtomicBool,
    /// Users and apps a reload retired whose devices have not been dealt with in the store
    /// of record yet (the review runs after the reload): none of those users' devices signs
    /// in, and no device signs in to those apps, even if a user or app of the same name
    /// (someone, something else) is configured again before the review is done.
    retired: RwLock<Retired>,
    /// Whether `retired` holds anyone (the request path reads only this, almost always).
    any_retired: std::sync::atomic::AtomicBool,
    /// Where the table outlives the process, when this instance keeps it itself.
    ledger: std::sync::OnceLock<Arc<dyn DeviceLedger>>,
    /// Held from reading the table to writing it down (a durable change, a full write of the
    /// state file), so that no write can miss a change that was answered, nor undo one.
    changes: tokio::sync::Mutex<()>,
    /// Set once the table is handed to a successor process: changes here would not reach it.
    sealed: std::sync::atomic::AtomicBool,
}

impl Default for Devices {
    fn default() -> Self {
        Devices {
            map: DashMap::new(),
            current: std::sync::atomic::AtomicBool::new(true),
            retired: RwLock::new(Retired::default()),
            any_retired: std::sync::atomic::AtomicBool::new(false),
            ledger: std::sync::OnceLock::new(),
            changes: tokio::sync::Mutex::new(()),
            sealed: std::sync::atomic::AtomicBool::new(false),
        }
    }
}

impl Devices {
    /// Who device `key` is on app `app` under `s`: its user with this key, if the device is
    /// enrolled, bound to the app, its user still configured and allowed on the app. Every
    /// mapping of a device's key to an identity (approval, claim, session lookup, step-up,
    /// verification) comes through here.
    pub(crate) fn identity(
        &self,
        s: &Settings,
        app: AppId,
        key: &KeyBytes,
    ) -> Result<Arc<Identity>, NoIdentity> {
        if !self.current.load(std::sync::atomic::Ordering::Acquire) {
            return Err(NoIdentity::UnknownKey);
        }
        let entry = self.map.get(key).ok_or(NoIdentity::UnknownKey)?;
        if self.is_retired(&entry.device.user) {
            return Err(NoIdentity::UnknownKey);
        }
        let user = s.enrolled_user(app, &entry.device.user)?;
        // The key lives in one origin's browser storage: it signs in where it was enrolled
        // (or where an operator's invitation said), nowhere else; not to an app of the same
        // name on another origin either.
        let bound = s.app(app);
        if !entry.device.may_sign_in_at(&bound.name, &bound.origin)
            || self.is_retired_app(&bound.name)
        {
            return Err(NoIdentity::OtherApp {
                user: user.name.clone(),
            });
        }
        if let Some(cached) = entry.cached.load().as_ref() {
            if cached.0 == s.generation() {
                return Ok(cached.1.clone());
            }
        }
        let identity = Arc::new(
            Identity::new(user.name.clone(), key, user.roles.join(","))
                .ok_or(NoIdentity::UnknownKey)?,
        );
        entry
            .cached
            .store(Some(Arc::new((s.generation(), identity.clone()))));
        Ok(identity)
    }

    /// Records what a reload retired: those users' devices sign nobody in, and no device
    /// signs in to those apps, until [`Devices::release`] (once the review has dealt with
    /// them in the store of record).
    pub fn retire(&self, more: Retired) {
        let mut retired = self.retired.write().unwrap_or_else(|p| p.into_inner());
        retired.users.extend(more.users);
        retired.apps.extend(more.apps);
        self.any_retired
            .store(!retired.is_empty(), std::sync::atomic::Ordering::Release);
    }

    /// What is retired and not yet released.
    pub(crate) fn retired(&self) -> Retired {
        self.retired
            .read()
            .unwrap_or_else(|p| p.into_inner())
            .clone()
    }

    /// Releases `done` (their devices and invitations are dealt with in the store of record).
    pub fn release(&self, done: &Retired) {
        let mut retired = self.retired.write().unwrap_or_else(|p| p.into_inner());
        retired.users.retain(|n| !done.users.contains(n));
        retired.apps.retain(|n| !done.apps.contains(n));
        self.any_retired
            .store(!retired.is_empty(), std::sync::atomic::Ordering::Release);
    }

    /// Whether user `name` is retired.
    pub fn is_retired(&self, name: &str) -> bool {
        self.any_retired.load(std::sync::atomic::Ordering::Acquire)
            && self
                .retired
                .read()
                .unwrap_or_else(|p| p.into_inner())
                .users
                .contains(name)
    }

    /// Whether app `name` is retired.
    pub fn is_retired_app(&self, name: &str) -> bool {
        self.any_retired.load(std::sync::atomic::Ordering::Acquire)
            && self
                .retired
                .read()
                .unwrap_or_else(|p| p.into_inner())
                .apps
                .contains(name)
    }

    /// Whether the table is known to be current (every announcement heard since it was read).
    pub(crate) fn is_current(&self) -> bool {
        self.current.load(std::sync::atomic::Ordering::Acquire)
    }

    /// Marks the table current (announcements are heard) or not (no device signs in).
    pub fn set_current(&self, current: bool) {
        self.current
            .store(current, std::sync::atomic::Ordering::Release);
    }

    /// The device holding `key`.
    pub(crate) fn get(&self, key: &KeyBytes) -> Option<Arc<Device>> {
        self.map.get(key).map(|e| e.device.clone())
    }

    /// Adds (or replaces) a device, in memory only: for filling the table (state file at
    /// start, another instance's announcement). An enrollment goes through
    /// `Devices::enroll`.
    pub fn insert(&self, device: Device) {
        let key = device.key;
        self.map.insert(
            key,
            Entry {
                device: Arc::new(device),
                cached: ArcSwapOption::empty(),
            },
        );
    }

    /// Adds a device unless its key is enrolled already; returns whether it was added.
    pub(crate) fn insert_new(&self, device: Device) -> bool {
        match self.map.entry(device.key) {
            dashmap::Entry::Occupied(_) => false,
            dashmap::Entry::Vacant(v) => {
                v.insert(Entry {
                    device: Arc::new(device),
                    cached: ArcSwapOption::empty(),
                });
                true
            }
        }
    }

    /// Forgets the device holding `key`, in memory only (another instance's announcement);
    /// returns it if there was one. A removal by this instance goes through
    /// `Devices::forget`.
    /// Reached only through `Gateway::heard_device_removed`, which wakes tied connections.
    pub(crate) fn remove(&self, key: &KeyBytes) -> Option<Arc<Device>> {
        self.map.remove(key).map(|(_, e)| e.device)
    }

    /// Replaces every device with `devices` (a fresh read of the shared store).
    /// Reached only through `Gateway::heard_devices`, which wakes tied connections.
    pub(crate) fn replace_all(&self, devices: Vec<Device>) {
        let keep: std::collections::HashSet<KeyBytes> = devices.iter().map(|d| d.key).collect();
        self.map.retain(|k, _| keep.contains(k));
        for d in devices {
            if self.map.get(&d.key).is_none_or(|e| *e.device != d) {
                self.insert(d);
            }
        }
    }

    /// Keeps the table in `ledger` from now on (once, at start; later calls change nothing).
    pub fn keep_in(&self, ledger: Arc<dyn DeviceLedger>) {
        let _ = self.ledger.set(ledger);
    }

    /// Holds the table still: while the guard lives, no durable change is made. A writer of
    /// the whole table holds it from reading [`Devices::list`] to the end of its write.
    pub async fn hold(&self) -> tokio::sync::MutexGuard<'_, ()> {
        self.changes.lock().await
    }

    /// Refuses every durable change from now on: the table has been written for a successor
    /// process (an upgrade's hand-over), which would never see a later change. Call it while
    /// holding [`Devices::hold`], right after that write.
    pub fn seal(&self) {
        self.sealed
            .store(true, std::sync::atomic::Ordering::Release);
    }

    fn unsealed(&self) -> Result<(), StoreError> {
        if self.sealed.load(std::sync::atomic::Ordering::Acquire) {
            return Err(StoreError::Unavailable(
                "the device table has been handed to a new process".into(),
            ));
        }
        Ok(())
    }

    /// Adds `device` unless its key is enrolled already (then `Ok(false)`), once the ledger,
    /// if any, holds the table with it. On an error nothing changed.
    /// Reached only through `Gateway::enroll_device`, which wakes the state keeper.
    pub(crate) async fn enroll(&self, device: Device) -> Result<bool, StoreError> {
        let _held = self.changes.lock().await;
        self.unsealed()?;
        if self.map.contains_key(&device.key) {
            return Ok(false);
        }
        if let Some(ledger) = self.ledger.get() {
            let mut table = self.list();
            table.push(Arc::new(device.clone()));
            ledger.keep(&table).await?;
        }
        Ok(self.insert_new(device))
    }

    /// Replaces the record of a device already enrolled (a narrowed binding) once the ledger,
    /// if any, holds the table with the new record; a key not enrolled (removed meanwhile) is
    /// left out. On an error nothing changed.
    /// Reached only through `Gateway::rebind_device`, which wakes the state keeper and tied
    /// connections.
    pub(crate) async fn replace(&self, device: Device) -> Result<(), StoreError> {
        let _held = self.changes.lock().await;
        self.unsealed()?;
        if !self.map.contains_key(&device.key) {
            return Ok(());
        }
        if let Some(ledger) = self.ledger.get() {
            let table: Vec<Arc<Device>> = self
                .list()
                .into_iter()
                .map(|d| {
                    if d.key == device.key {
                        Arc::new(device.clone())
                    } else {
                        d
                    }
                })
                .collect();
            ledger.keep(&table).await?;
        }
        self.insert(device);
        Ok(())
    }

    /// Forgets the device holding `key` once the ledger, if any, holds the table without it;
    /// returns it if there was one. On an error nothing changed.
    /// Reached only through `Gateway::forget_device`, which wakes the state keeper and tied
    /// connections.
    pub(crate) async fn forget(&self, key: &KeyBytes) -> Result<Option<Arc<Device>>, StoreError> {
        let _held = self.changes.lock().await;
        self.unsealed()?;
        if !self.map.contains_key(key) {
            return Ok(None);
        }
        if let Some(ledger) = self.ledger.get() {
            let table: Vec<Arc<Device>> =
                self.list().into_iter().filter(|d| d.key != *key).collect();
            ledger.keep(&table).await?;
        }
        Ok(self.remove(key))
    }

    /// Every device, oldest first.
    pub fn list(&self) -> Vec<Arc<Device>> {
        let mut all: Vec<Arc<Device>> = self.map.iter().map(|e| e.device.clone()).collect();
        all.sort_by(|a, b| a.created_ms.cmp(&b.created_ms).then(a.key.cmp(&b.key)));
        all
    }

    /// How many devices are enrolled.
    pub fn len(&self) -> usize {
        self.map.len()
    }

    /// Whether none is.
    pub fn is_empty(&self) -> bool {
        self.map.is_empty()
    }
}
