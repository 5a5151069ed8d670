//! Devices enrolled by invitation: browsers (usually a phone's) holding a non-extractable
//! WebCrypto Ed25519 key that the gateway has bound to a configured user.
//!
//! Two parts, for two speeds:
//!
//! - [`Devices`], the registry every request of an enrolled key reads (who is this key?):
//!   in memory on every instance, with the identity it derives cached per config, so the hot
//!   path makes no store call. The glue fills it at start (state file or Redis) and, with
//!   several instances, from the others' announcements.
//! - [`DeviceStore`], where enrollments and invitations are kept: [`MemoryDevices`] for one
//!   instance (devices reach the state file through the registry), Redis for several.
//! - [`DeviceLedger`], where one instance's table outlives the process (the glue's state
//!   file): with one, [`Devices::enroll`] and [`Devices::forget`] change the table only once
//!   the ledger holds the change on disk, so an answered enrollment survives a `kill -9`.
//!
//! Only public keys are kept; the private key never leaves the browser that made it. An
//! invitation is kept by the SHA-256 of its token, like a session.

use std::collections::HashSet;
use std::sync::{Arc, RwLock};

use arc_swap::ArcSwapOption;
use async_trait::async_trait;
use dashmap::DashMap;
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

use crate::config::{AppId, Config};
use crate::identity::Identity;
use crate::origin::Origin;
use crate::session::{StoreError, TokenHash};
use crate::settings::{NoIdentity, Settings};

/// One enrolled device.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(from = "StoredDevice")]
pub struct Device {
    /// Its public key (the raw 32 bytes, hex in JSON).
    #[serde(with = "hex32")]
    pub key: [u8; 32],
    /// The configured user it signs in as.
    pub user: String,
    /// The app on whose origin it was enrolled (the browser keeps the key for that origin).
    pub app: String,
    /// The apps it may sign in to: `app` alone, unless an operator's invitation named
    /// several. Never empty; a record without it (written before devices were bound to
    /// apps) reads as `[app]`.
    pub apps: Vec<String>,
    /// The origin each of `apps` had when the invitation was made, in the same order: the
    /// binding is to that app on that origin, not to whatever later bears the name. Empty in
    /// records written before origins were kept (bound by name alone).
    pub origins: Vec<String>,
    /// The enrolling browser's summary, e.g. "Chrome on Android".
    pub label: String,
    /// When it was enrolled, ms since the Unix epoch.
    pub created_ms: u64,
}

/// A device as stored: `apps` may be absent (older records).
#[derive(Deserialize)]
struct StoredDevice {
    #[serde(with = "hex32")]
    key: [u8; 32],
    user: String,
    app: String,
    #[serde(default)]
    apps: Vec<String>,
    #[serde(default)]
    origins: Vec<String>,
    label: String,
    created_ms: u64,
}

impl From<StoredDevice> for Device {
    fn from(d: StoredDevice) -> Self {
        Device {
            apps: bound_apps(&d.app, d.apps),
            origins: d.origins,
            key: d.key,
            user: d.user,
            app: d.app,
            label: d.label,
            created_ms: d.created_ms,
        }
    }
}

/// The apps a record binds to: those it names, or the app it was made on when it names none.
fn bound_apps(app: &str, apps: Vec<String>) -> Vec<String> {
    if apps.is_empty() {
        vec![app.to_string()]
    } else {
        apps
    }
}

impl Device {
    /// Its public id: the first 12 bytes of the key's SHA-256, hex (as session ids are).
    pub fn id(&self) -> String {
        device_id(&self.key)
    }

    /// Whether it may sign in to the app named `app` (whatever its origin).
    pub fn may_sign_in_to(&self, app: &str) -> bool {
        self.apps.iter().any(|a| a == app)
    }

    /// Whether it may sign in to the app named `app` on `origin`.
    pub fn may_sign_in_at(&self, app: &str, origin: &Origin) -> bool {
        self.apps
            .iter()
            .position(|a| a == app)
            .is_some_and(|i| bound_to(&self.origins, i, origin))
    }

    /// The same device bound only to those of its apps `keep` names.
    pub fn keeping(&self, keep: &[String]) -> Device {
        let mut d = self.clone();
        let kept = |i: &usize| keep.contains(&self.apps[*i]);
        let indices: Vec<usize> = (0..self.apps.len()).filter(kept).collect();
        d.apps = indices.iter().map(|&i| self.apps[i].clone()).collect();
        if !self.origins.is_empty() {
            d.origins = indices
                .iter()
                .filter_map(|&i| self.origins.get(i).cloned())
                .collect();
        }
        d
    }
}

/// Whether binding `i` of a record whose origins are `origins` admits an app on `origin`:
/// any origin for a record from before origins were kept (bound by name alone), none when it
/// lists origins but not one for `i` (damaged), else exactly the one it lists.
fn bound_to(origins: &[String], i: usize, origin: &Origin) -> bool {
    origins.is_empty() || origins.get(i).is_some_and(|o| origin.is(o))
}

/// The public id of the device holding `key`.
pub fn device_id(key: &[u8; 32]) -> String {
    hex::encode(&Sha256::digest(key)[..12])
}

/// A pending invitation to enroll a device.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(from = "StoredInvitation")]
pub struct Invitation {
    /// The configured user the device will sign in as.
    pub user: String,
    /// The app whose origin the link is on.
    pub app: String,
    /// The apps the device will sign in to (never empty; `[app]` unless an operator named
    /// several).
    pub apps: Vec<String>,
    /// The origin each of `apps` had when it was made, in the same order (empty in records
    /// written before origins were kept).
    pub origins: Vec<String>,
    /// When it lapses, ms since the Unix epoch.
    pub expires_ms: u64,
    /// Who invited: `operator` or `owner` (the person, from a signed-in session).
    pub by: String,
}

/// An invitation as stored: `apps` may be absent (older records).
#[derive(Deserialize)]
struct StoredInvitation {
    user: String,
    app: String,
    #[serde(default)]
    apps: Vec<String>,
    #[serde(default)]
    origins: Vec<String>,
    expires_ms: u64,
    by: String,
}

impl From<StoredInvitation> for Invitation {
    fn from(i: StoredInvitation) -> Self {
        Invitation {
            apps: bound_apps(&i.app, i.apps),
            origins: i.origins,
            user: i.user,
            app: i.app,
            expires_ms: i.expires_ms,
            by: i.by,
        }
    }
}

/// Names a reload took out of service whose devices and invitations the review has not
/// dealt with yet: users removed, and apps removed or moved to another origin. A device is a
/// key kept by one origin's browser storage, so an app of the same name on another origin
/// (or added again later) is something else, and a user of the same name someone else.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Retired {
    /// Users a reload removed.
    pub users: HashSet<String>,
    /// Apps a reload removed or gave another origin.
    pub apps: HashSet<String>,
}

impl Retired {
    /// Whether nothing is retired.
    pub fn is_empty(&self) -> bool {
        self.users.is_empty() && self.apps.is_empty()
    }

    /// What a reload from `before` to `after` retires: every user `after` does not configure,
    /// and every app it does not configure on the same origin.
    pub fn by_reload(before: &Config, after: &Config) -> Retired {
        Retired {
            users: before
                .users
                .iter()
                .filter(|u| after.user_by_name(&u.name).is_none())
                .map(|u| u.name.clone())
                .collect(),
            apps: before
                .apps
                .iter()
                .filter(|a| {
                    after
                        .app_by_name(&a.name)
                        .is_none_or(|id| after.app(id).origin != a.origin)
                })
                .map(|a| a.name.clone())
                .collect(),
        }
    }

    /// Whether binding `i` of a record (`apps`, `origins`) still names a configured app:
    /// one of that name, not retired, on the origin the record names (if it names one).
    fn binding_holds(
        &self,
        config: &Config,
        apps: &[String],
        origins: &[String],
        i: usize,
    ) -> bool {
        let Some(name) = apps.get(i) else {
            return false;
        };
        !self.apps.contains(name)
            && config
                .app_by_name(name)
                .is_some_and(|id| bound_to(origins, i, &config.app(id).origin))
    }
}

/// What the config in force asks of an enrolled device. Devices are kept by user and app
/// name, so a name that leaves the config must take its devices with it: a user or app of
/// the same name added later is someone (something) else.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Review {
    /// Its user and every app it names are configured.
    Keep,
    /// Some of its apps are gone: it keeps only these (still configured).
    Narrow(Vec<String>),
    /// Its user is gone (`user_removed`) or every app it names (`apps_removed`).
    Remove(&'static str),
}

/// What `config` asks of device `d`, when a reload since the last review retired the users
/// and apps in `retired` (which may be configured again by now: someone, something else).
pub fn review(config: &Config, retired: &Retired, d: &Device) -> Review {
    if config.user_by_name(&d.user).is_none() || retired.users.contains(&d.user) {
        return Review::Remove("user_removed");
    }
    let kept: Vec<String> = (0..d.apps.len())
        .filter(|&i| retired.binding_holds(config, &d.apps, &d.origins, i))
        .map(|i| d.apps[i].clone())
        .collect();
    if kept.is_empty() {
        Review::Remove("apps_removed")
    } else if kept.len() < d.apps.len() {
        Review::Narrow(kept)
    } else {
        Review::Keep
    }
}

/// Whether pending invitation `i` still fits `config`: its user and every app it names are
/// configured, and none of them was retired since (`retired`); otherwise it is withdrawn.
pub fn invitation_fits(config: &Config, retired: &Retired, i: &Invitation) -> bool {
    !retired.users.contains(&i.user)
        && config.user_by_name(&i.user).is_some()
        && i.apps.first() == Some(&i.app)
        && (0..i.apps.len()).all(|n| retired.binding_holds(config, &i.apps, &i.origins, n))
}

mod hex32 {
    use serde::{Deserialize, Deserializer, Serializer};

    pub fn serialize<S: Serializer>(key: &[u8; 32], s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(&hex::encode(key))
    }

    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<[u8; 32], D::Error> {
        let text = String::deserialize(d)?;
        let bytes = hex::decode(text).map_err(serde::de::Error::custom)?;
        <[u8; 32]>::try_from(bytes.as_slice())
            .map_err(|_| serde::de::Error::custom("a key is 32 bytes"))
    }
}

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
    async fn remove(&self, key: &[u8; 32]) -> Result<(), StoreError>;

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
pub struct MemoryDevices {
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

    async fn remove(&self, _: &[u8; 32]) -> Result<(), StoreError> {
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
    map: DashMap<[u8; 32], Entry>,
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
    pub fn identity(
        &self,
        s: &Settings,
        app: AppId,
        key: &[u8; 32],
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
    pub fn retired(&self) -> Retired {
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

    /// Marks the table current (announcements are heard) or not (no device signs in).
    pub fn set_current(&self, current: bool) {
        self.current
            .store(current, std::sync::atomic::Ordering::Release);
    }

    /// The device holding `key`.
    pub fn get(&self, key: &[u8; 32]) -> Option<Arc<Device>> {
        self.map.get(key).map(|e| e.device.clone())
    }

    /// Adds (or replaces) a device, in memory only: for filling the table (state file at
    /// start, another instance's announcement). An enrollment goes through
    /// [`Devices::enroll`].
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
    pub fn insert_new(&self, device: Device) -> bool {
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
    /// [`Devices::forget`].
    pub fn remove(&self, key: &[u8; 32]) -> Option<Arc<Device>> {
        self.map.remove(key).map(|(_, e)| e.device)
    }

    /// Replaces every device with `devices` (a fresh read of the shared store).
    pub fn replace_all(&self, devices: Vec<Device>) {
        let keep: std::collections::HashSet<[u8; 32]> = devices.iter().map(|d| d.key).collect();
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
    pub async fn enroll(&self, device: Device) -> Result<bool, StoreError> {
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
    pub async fn replace(&self, device: Device) -> Result<(), StoreError> {
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
    pub async fn forget(&self, key: &[u8; 32]) -> Result<Option<Arc<Device>>, StoreError> {
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

#[cfg(test)]
mod tests {
    use std::path::Path;

    use super::*;
    use crate::config::Config;

    fn settings(extra: &str) -> Settings {
        let text = format!(
            "[[app]]\nname = \"Wiki\"\norigin = \"https://wiki.example.com\"\nupstream = \"127.0.0.1:9\"\n{extra}\n[[user]]\nname = \"alice\"\nroles = [\"staff\"]\n[[user]]\nname = \"bob\"\n"
        );
        Settings::new(Config::parse(&text, Path::new("t.toml")).expect("config")).expect("s")
    }

    fn device(user: &str, key: u8) -> Device {
        Device {
            key: [key; 32],
            user: user.into(),
            app: "Wiki".into(),
            apps: vec!["Wiki".into()],
            origins: vec![],
            label: "Chrome on Android".into(),
            created_ms: u64::from(key),
        }
    }

    #[test]
    fn an_enrolled_key_is_its_user_with_that_key_and_the_users_roles() {
        let s = settings("");
        let devices = Devices::default();
        assert_eq!(
            devices.identity(&s, AppId::new(0), &[1; 32]).err(),
            Some(NoIdentity::UnknownKey)
        );
        devices.insert(device("alice", 1));
        let id = devices
            .identity(&s, AppId::new(0), &[1; 32])
            .expect("alice");
        assert_eq!((id.user.as_str(), id.roles.as_str()), ("alice", "staff"));
        assert_eq!(id.key, [1; 32]);
        // The second lookup under the same settings is the cached identity.
        let again = devices
            .identity(&s, AppId::new(0), &[1; 32])
            .expect("alice");
        assert!(Arc::ptr_eq(&id, &again));
    }

    #[test]
    fn a_reload_that_removes_the_user_or_their_access_ends_the_device() {
        let devices = Devices::default();
        devices.insert(device("bob", 2));
        let before = settings("");
        assert!(devices.identity(&before, AppId::new(0), &[2; 32]).is_ok());
        let only_alice = settings("allow_users = [\"alice\"]");
        assert_eq!(
            devices.identity(&only_alice, AppId::new(0), &[2; 32]).err(),
            Some(NoIdentity::NotPermitted { user: "bob".into() })
        );
        devices.insert(device("carol", 3));
        assert_eq!(
            devices.identity(&before, AppId::new(0), &[3; 32]).err(),
            Some(NoIdentity::UnknownKey)
        );
    }

    #[test]
    fn a_table_that_may_have_missed_a_removal_signs_nobody_in() {
        let s = settings("");
        let devices = Devices::default();
        devices.insert(device("alice", 1));
        devices.set_current(false);
        assert_eq!(
            devices.identity(&s, AppId::new(0), &[1; 32]).err(),
            Some(NoIdentity::UnknownKey)
        );
        devices.set_current(true);
        assert!(devices.identity(&s, AppId::new(0), &[1; 32]).is_ok());
    }

    #[test]
    fn insert_new_never_rebinds_an_enrolled_key() {
        let devices = Devices::default();
        assert!(devices.insert_new(device("alice", 1)));
        assert!(!devices.insert_new(device("bob", 1)));
        assert_eq!(
            devices.get(&[1; 32]).map(|d| d.user.clone()).as_deref(),
            Some("alice")
        );
    }

    /// A ledger that keeps what it is given, or refuses while `fail` is set.
    #[derive(Default)]
    struct Ledger {
        kept: std::sync::Mutex<Vec<Vec<[u8; 32]>>>,
        fail: std::sync::atomic::AtomicBool,
    }

    #[async_trait]
    impl DeviceLedger for Ledger {
        async fn keep(&self, devices: &[Arc<Device>]) -> Result<(), StoreError> {
            if self.fail.load(std::sync::atomic::Ordering::SeqCst) {
                return Err(StoreError::Unavailable("disk full".into()));
            }
            if let Ok(mut kept) = self.kept.lock() {
                kept.push(devices.iter().map(|d| d.key).collect());
            }
            Ok(())
        }
    }

    fn keys(devices: &Devices) -> Vec<[u8; 32]> {
        devices.list().iter().map(|d| d.key).collect()
    }

    #[tokio::test]
    async fn a_change_is_made_only_once_the_ledger_holds_it() {
        let devices = Devices::default();
        let ledger = Arc::new(Ledger::default());
        devices.keep_in(ledger.clone());
        assert_eq!(devices.enroll(device("alice", 1)).await.ok(), Some(true));
        assert_eq!(devices.enroll(device("bob", 2)).await.ok(), Some(true));
        // A key enrolled already: no write, no change.
        assert_eq!(devices.enroll(device("bob", 1)).await.ok(), Some(false));
        ledger.fail.store(true, std::sync::atomic::Ordering::SeqCst);
        assert!(devices.enroll(device("carol", 3)).await.is_err());
        assert!(devices.forget(&[1; 32]).await.is_err());
        assert_eq!(keys(&devices), vec![[1; 32], [2; 32]]);
        ledger
            .fail
            .store(false, std::sync::atomic::Ordering::SeqCst);
        assert!(devices.forget(&[1; 32]).await.ok().flatten().is_some());
        assert!(devices.forget(&[9; 32]).await.ok().flatten().is_none());
        let kept = ledger.kept.lock().map(|k| k.clone()).unwrap_or_default();
        assert_eq!(
            kept,
            vec![vec![[1; 32]], vec![[1; 32], [2; 32]], vec![[2; 32]]]
        );
        assert_eq!(keys(&devices), vec![[2; 32]]);
        // Handed to a successor: no change is made here any more.
        devices.seal();
        assert!(devices.enroll(device("carol", 3)).await.is_err());
        assert!(devices.forget(&[2; 32]).await.is_err());
        assert_eq!(keys(&devices), vec![[2; 32]]);
    }

    #[test]
    fn replace_all_keeps_exactly_the_given_devices() {
        let devices = Devices::default();
        devices.insert(device("alice", 1));
        devices.insert(device("bob", 2));
        devices.replace_all(vec![device("bob", 2), device("alice", 3)]);
        let keys: Vec<[u8; 32]> = devices.list().iter().map(|d| d.key).collect();
        assert_eq!(keys, vec![[2; 32], [3; 32]]);
    }

    #[tokio::test]
    async fn an_invitation_is_redeemed_once_and_not_after_it_lapses() {
        let store = MemoryDevices::default();
        let inv = Invitation {
            user: "alice".into(),
            app: "Wiki".into(),
            apps: vec!["Wiki".into()],
            origins: vec![],
            expires_ms: 1_000,
            by: "operator".into(),
        };
        store.invite(&[9; 32], &inv).await.expect("invite");
        store.invite(&[8; 32], &inv).await.expect("invite");
        let d = device("alice", 1);
        assert_eq!(store.invitation(&[9; 32], 999).await.ok(), Some(Some(inv)));
        assert_eq!(store.invitation(&[9; 32], 1_000).await.ok(), Some(None));
        let redeem = |h: [u8; 32], now| {
            let (store, d) = (&store, &d);
            async move { store.redeem(&h, d, now).await.expect("redeem") }
        };
        assert_eq!(redeem([9; 32], 999).await, Redeemed::Enrolled);
        assert_eq!(redeem([9; 32], 999).await, Redeemed::Gone);
        assert_eq!(redeem([8; 32], 1_000).await, Redeemed::Gone);
        assert_eq!(redeem([7; 32], 0).await, Redeemed::Gone);
    }

    #[test]
    fn device_json_round_trips_with_a_hex_key() {
        let d = device("alice", 0xab);
        let text = serde_json::to_string(&d).expect("json");
        assert!(text.contains(&"ab".repeat(32)));
        assert_eq!(serde_json::from_str::<Device>(&text).ok(), Some(d));
        assert!(serde_json::from_str::<Device>(&text.replace(&"ab".repeat(32), "ab")).is_err());
    }

    fn two_apps() -> Settings {
        settings("[[app]]\nname = \"Mail\"\norigin = \"https://mail.example.com\"\nupstream = \"127.0.0.1:9\"\n")
    }

    #[test]
    fn a_device_signs_in_only_to_the_apps_it_is_bound_to() {
        let s = two_apps();
        let (wiki, mail) = (AppId::new(0), AppId::new(1));
        let devices = Devices::default();
        devices.insert(device("alice", 1));
        assert!(devices.identity(&s, wiki, &[1; 32]).is_ok());
        assert_eq!(
            devices.identity(&s, mail, &[1; 32]).err(),
            Some(NoIdentity::OtherApp {
                user: "alice".into()
            })
        );
        // Cached under this config for Wiki: still refused on Mail.
        assert!(devices.identity(&s, wiki, &[1; 32]).is_ok());
        assert!(devices.identity(&s, mail, &[1; 32]).is_err());
        devices.insert(Device {
            apps: vec!["Wiki".into(), "Mail".into()],
            ..device("alice", 2)
        });
        assert!(devices.identity(&s, wiki, &[2; 32]).is_ok());
        assert!(devices.identity(&s, mail, &[2; 32]).is_ok());
    }

    #[test]
    fn a_record_from_before_bindings_is_bound_to_the_app_it_was_made_on() {
        let old = format!(
            "{{\"key\":\"{}\",\"user\":\"alice\",\"app\":\"Wiki\",\"label\":\"x\",\"created_ms\":1}}",
            "01".repeat(32)
        );
        let d: Device = serde_json::from_str(&old).expect("old form");
        assert_eq!(d.apps, vec!["Wiki".to_string()]);
        let inv: Invitation = serde_json::from_str(
            "{\"user\":\"alice\",\"app\":\"Wiki\",\"expires_ms\":5,\"by\":\"owner\"}",
        )
        .expect("old form");
        assert_eq!(inv.apps, vec!["Wiki".to_string()]);
        // Written with both: an older reader still finds `app`.
        let text = serde_json::to_string(&d).expect("json");
        assert!(text.contains("\"app\":\"Wiki\"") && text.contains("\"apps\":[\"Wiki\"]"));
        let empty = old.replace("\"label\"", "\"apps\":[],\"label\"");
        let d: Device = serde_json::from_str(&empty).expect("empty apps");
        assert_eq!(d.apps, vec!["Wiki".to_string()]);
    }

    #[test]
    fn review_removes_devices_of_names_that_left_the_config_and_narrows_bindings() {
        let s = two_apps();
        let c = &s.config;
        let none = Retired::default();
        assert_eq!(review(c, &none, &device("alice", 1)), Review::Keep);
        assert_eq!(
            review(c, &none, &device("carol", 1)),
            Review::Remove("user_removed")
        );
        // Removed by a reload and configured again since: someone else.
        let alice_retired = Retired {
            users: ["alice".to_string()].into(),
            ..Retired::default()
        };
        assert_eq!(
            review(c, &alice_retired, &device("alice", 1)),
            Review::Remove("user_removed")
        );
        let both = Device {
            apps: vec!["Wiki".into(), "Gone".into(), "Mail".into()],
            ..device("bob", 2)
        };
        assert_eq!(
            review(c, &none, &both),
            Review::Narrow(vec!["Wiki".into(), "Mail".into()])
        );
        let gone = Device {
            apps: vec!["Gone".into()],
            ..device("bob", 3)
        };
        assert_eq!(review(c, &none, &gone), Review::Remove("apps_removed"));
        let inv = |user: &str, apps: &[&str]| Invitation {
            user: user.into(),
            app: apps[0].into(),
            apps: apps.iter().map(|a| a.to_string()).collect(),
            origins: vec![],
            expires_ms: 1,
            by: "operator".into(),
        };
        assert!(invitation_fits(c, &none, &inv("bob", &["Wiki", "Mail"])));
        assert!(!invitation_fits(c, &none, &inv("carol", &["Wiki"])));
        assert!(!invitation_fits(c, &none, &inv("bob", &["Wiki", "Gone"])));
        assert!(!invitation_fits(
            c,
            &alice_retired,
            &inv("alice", &["Wiki"])
        ));
    }

    #[tokio::test]
    async fn withdraw_takes_the_invitations_refused_and_frees_lapsed_ones() {
        let store = MemoryDevices::default();
        let inv = |user: &str, expires_ms| Invitation {
            user: user.into(),
            app: "Wiki".into(),
            apps: vec!["Wiki".into()],
            origins: vec![],
            expires_ms,
            by: "operator".into(),
        };
        store.invite(&[1; 32], &inv("alice", 100)).await.expect("i");
        store.invite(&[2; 32], &inv("carol", 100)).await.expect("i");
        store.invite(&[3; 32], &inv("carol", 10)).await.expect("i");
        let gone = store
            .withdraw(&|i: &Invitation| i.user != "carol", 50)
            .await
            .expect("withdraw");
        assert_eq!(gone, vec![inv("carol", 100)]);
        assert_eq!(
            store.invitation(&[1; 32], 50).await.ok(),
            Some(Some(inv("alice", 100)))
        );
        assert_eq!(store.invitation(&[2; 32], 50).await.ok(), Some(None));
        assert_eq!(store.sweep(0), 0, "the lapsed one is freed already");
    }

    #[test]
    fn a_retired_users_devices_sign_nobody_in_until_released() {
        let s = settings("");
        let devices = Devices::default();
        devices.insert(device("alice", 1));
        devices.insert(device("bob", 2));
        devices.retire(Retired {
            users: ["alice".to_string()].into(),
            ..Retired::default()
        });
        assert_eq!(
            devices.identity(&s, AppId::new(0), &[1; 32]).err(),
            Some(NoIdentity::UnknownKey)
        );
        assert!(devices.identity(&s, AppId::new(0), &[2; 32]).is_ok());
        let retired = devices.retired();
        devices.retire(Retired {
            users: ["bob".to_string()].into(),
            ..Retired::default()
        });
        devices.release(&retired);
        assert!(devices.identity(&s, AppId::new(0), &[1; 32]).is_ok());
        assert!(devices.is_retired("bob"), "retired meanwhile: kept");
    }

    #[test]
    fn an_app_removed_or_moved_to_another_origin_is_retired_with_its_bindings() {
        let mail = |origin: &str| {
            settings(&format!(
                "[[app]]\nname = \"Mail\"\norigin = \"{origin}\"\nupstream = \"127.0.0.1:9\"\n"
            ))
        };
        let before = mail("https://mail.example.com");
        let same = mail("https://mail.example.com");
        assert!(Retired::by_reload(&before.config, &same.config).is_empty());
        let moved = mail("https://evil.example.com");
        let retired = Retired::by_reload(&before.config, &moved.config);
        assert_eq!(retired.apps, ["Mail".to_string()].into());
        assert!(retired.users.is_empty());
        let without = settings("");
        let removed = Retired::by_reload(&before.config, &without.config);
        assert_eq!(removed.apps, ["Mail".to_string()].into());
        // Names compare exactly: "mail" is another app, and "Mail" is still retired.
        let other_case = settings(
            "[[app]]\nname = \"mail\"\norigin = \"https://mail.example.com\"\nupstream = \"127.0.0.1:9\"\n",
        );
        assert_eq!(
            Retired::by_reload(&before.config, &other_case.config).apps,
            ["Mail".to_string()].into()
        );

        // Under the moved config, a device bound to both apps keeps Wiki alone, one bound
        // to Mail alone goes, and an invitation naming Mail is withdrawn.
        let both = Device {
            apps: vec!["Wiki".into(), "Mail".into()],
            ..device("alice", 1)
        };
        assert_eq!(
            review(&moved.config, &retired, &both),
            Review::Narrow(vec!["Wiki".into()])
        );
        let only_mail = Device {
            app: "Mail".into(),
            apps: vec!["Mail".into()],
            ..device("alice", 2)
        };
        assert_eq!(
            review(&moved.config, &retired, &only_mail),
            Review::Remove("apps_removed")
        );
        let inv = Invitation {
            user: "alice".into(),
            app: "Mail".into(),
            apps: vec!["Mail".into()],
            origins: vec![],
            expires_ms: 1,
            by: "operator".into(),
        };
        assert!(invitation_fits(&moved.config, &Retired::default(), &inv));
        assert!(!invitation_fits(&moved.config, &retired, &inv));

        // Until the review releases it, no device signs in to the app of that name.
        let devices = Devices::default();
        devices.insert(both);
        let mail_id = AppId::new(1);
        assert!(devices.identity(&moved, mail_id, &[1; 32]).is_ok());
        devices.retire(retired.clone());
        assert_eq!(
            devices.identity(&moved, mail_id, &[1; 32]).err(),
            Some(NoIdentity::OtherApp {
                user: "alice".into()
            })
        );
        assert!(devices.identity(&moved, AppId::new(0), &[1; 32]).is_ok());
        devices.release(&retired);
        assert!(!devices.is_retired_app("Mail"));
    }

    #[test]
    fn a_binding_is_to_the_app_on_the_origin_it_had_and_damaged_records_bind_nothing() {
        let mail = |origin: &str| {
            settings(&format!(
                "[[app]]\nname = \"Mail\"\norigin = \"{origin}\"\nupstream = \"127.0.0.1:9\"\n"
            ))
        };
        let (wiki, mail_id) = (AppId::new(0), AppId::new(1));
        let home = mail("https://mail.example.com");
        let moved = mail("https://evil.example.com");
        let none = Retired::default();
        let bound = Device {
            apps: vec!["Wiki".into(), "Mail".into()],
            origins: vec![
                "https://wiki.example.com".into(),
                "https://mail.example.com".into(),
            ],
            ..device("alice", 1)
        };
        // Read at start under a config that moved Mail while no reload could retire it.
        let devices = Devices::default();
        devices.insert(bound.clone());
        assert!(devices.identity(&home, mail_id, &[1; 32]).is_ok());
        assert_eq!(
            devices.identity(&moved, mail_id, &[1; 32]).err(),
            Some(NoIdentity::OtherApp {
                user: "alice".into()
            })
        );
        assert!(devices.identity(&moved, wiki, &[1; 32]).is_ok());
        assert_eq!(review(&home.config, &none, &bound), Review::Keep);
        assert_eq!(
            review(&moved.config, &none, &bound),
            Review::Narrow(vec!["Wiki".into()])
        );
        let kept = bound.keeping(&["Wiki".into()]);
        assert_eq!(
            (kept.apps, kept.origins),
            (
                vec!["Wiki".to_string()],
                vec!["https://wiki.example.com".to_string()]
            )
        );
        // A record from before origins were kept follows the name (all it knows).
        let legacy = Device {
            apps: vec!["Mail".into()],
            ..device("alice", 2)
        };
        assert_eq!(review(&moved.config, &none, &legacy), Review::Keep);
        // A record listing fewer origins than apps binds nothing it lists no origin for.
        let damaged = Device {
            origins: vec!["https://wiki.example.com".into()],
            ..bound.clone()
        };
        devices.insert(Device {
            key: [3; 32],
            ..damaged.clone()
        });
        assert!(devices.identity(&home, mail_id, &[3; 32]).is_err());
        assert_eq!(
            review(&home.config, &none, &damaged),
            Review::Narrow(vec!["Wiki".into()])
        );
        // An invitation fits only with its origins, and only if it names its own app first.
        let inv = Invitation {
            user: "alice".into(),
            app: "Mail".into(),
            apps: vec!["Mail".into()],
            origins: vec!["https://mail.example.com".into()],
            expires_ms: 1,
            by: "operator".into(),
        };
        assert!(invitation_fits(&home.config, &none, &inv));
        assert!(!invitation_fits(&moved.config, &none, &inv));
        let elsewhere = Invitation {
            apps: vec!["Wiki".into()],
            origins: vec![],
            ..inv.clone()
        };
        assert!(!invitation_fits(&home.config, &none, &elsewhere));
    }
}
