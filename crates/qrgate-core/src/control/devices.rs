//! Control over enrolled devices: how a device looks in a list, listing and revoking a
//! filter's selection (with the sessions each device signed in), and the review of
//! devices and invitations against the config in force.

use std::sync::Arc;

use serde::Serialize;

use super::{revoke, ControlError, Filter};
use crate::devices::{invitation_fits, review, Device, Review};
use crate::gateway::Gateway;
use crate::observe::audit;
use crate::session::StoreError;
use crate::settings::Settings;

/// One enrolled device as a list shows it.
#[derive(Debug, Clone, Serialize, PartialEq, Eq)]
pub struct DeviceView {
    /// The device's id.
    pub(crate) id: String,
    /// The user it signs in as.
    pub(crate) user: String,
    /// Its public key, z-base32.
    pub(crate) key: String,
    /// The app on whose origin it was enrolled.
    pub(crate) app: String,
    /// The apps it may sign in to (`app` unless an operator's invitation named several).
    pub(crate) apps: Vec<String>,
    /// The enrolling browser, summarized.
    pub(crate) browser: String,
    /// Enrolled, seconds since the epoch.
    pub(crate) created: u64,
}

impl DeviceView {
    /// How `d` is listed.
    pub(crate) fn new(d: &Device) -> Self {
        DeviceView {
            id: d.id(),
            user: d.user.clone(),
            key: z32::encode(d.key.as_bytes()),
            app: d.app.clone(),
            apps: d.apps.clone(),
            browser: d.label.clone(),
            created: d.created_ms / 1000,
        }
    }
}

/// Every enrolled device as the store of record has it, oldest first: with several
/// instances the shared store (an instance's own table may not be current yet), else this
/// instance's table, which is the store.
pub(crate) async fn recorded_devices(gw: &Gateway) -> Result<Vec<Arc<Device>>, StoreError> {
    let Some(stored) = gw.device_store().load().await? else {
        return Ok(gw.devices().list());
    };
    let mut all: Vec<Arc<Device>> = stored.into_iter().map(Arc::new).collect();
    all.sort_by(|a, b| a.created_ms.cmp(&b.created_ms).then(a.key.cmp(&b.key)));
    Ok(all)
}

/// The enrolled devices `filter` selects (its `id` is a device id), oldest first, read from
/// the store of record.
pub async fn list_devices(gw: &Gateway, filter: &Filter) -> Result<Vec<DeviceView>, ControlError> {
    Ok(recorded_devices(gw)
        .await?
        .iter()
        .filter(|d| filter.matches_device(d))
        .map(|d| DeviceView::new(d))
        .collect())
}

/// Removes every enrolled device `filter` selects in the store of record, and ends their
/// sessions; `by` says who asked. Each removal is on disk (or in the shared store) before it
/// counts. Returns how many devices and how many sessions ended.
pub async fn revoke_devices(
    gw: &Gateway,
    s: &Settings,
    filter: &Filter,
    by: &str,
) -> Result<(usize, usize), ControlError> {
    if filter.is_empty() {
        return Err(ControlError::NoFilter);
    }
    let (mut devices, mut sessions) = (0, 0);
    for d in recorded_devices(gw).await? {
        if !filter.matches_device(&d) {
            continue;
        }
        sessions += remove_device(gw, s, &d, by).await?;
        devices += 1;
    }
    Ok((devices, sessions))
}

/// Removes enrolled device `d` from the store of record and this instance, audited, and
/// ends its sessions and the grants it approved for programs; returns how many sessions
/// ended.
async fn remove_device(
    gw: &Gateway,
    s: &Settings,
    d: &Device,
    by: &str,
) -> Result<usize, ControlError> {
    // The shared store first: if it cannot forget the key, the device stays listed and the
    // caller sees the error. Then this instance's table, durably.
    gw.device_store().remove(&d.key).await?;
    gw.forget_device(&d.key).await?;
    audit::device_revoked(&d.user, &z32::encode(d.key.as_bytes()), &d.id(), by);
    // What the device approved for programs ends with it, on every instance.
    let family = crate::oidc::device::key_family(&hex::encode(d.key.as_bytes()));
    gw.oidc()
        .end_family(&s.config, &family, gw.clock().now_millis())
        .await?;
    let of_key = Filter {
        key: Some(d.key),
        owner: Some(d.user.clone()),
        ..Filter::default()
    };
    revoke(gw, s, &of_key, by).await
}

/// What [`review_devices`] changed.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Reviewed {
    /// Devices removed (their user, or every app they name, left the config).
    pub removed: usize,
    /// Devices that lost the binding to an app that left the config.
    pub narrowed: usize,
    /// Pending invitations withdrawn.
    pub withdrawn: usize,
    /// Sessions ended with the removed devices, or made under a retired app name.
    pub sessions: usize,
}

/// Brings enrolled devices and pending invitations in line with config `s`, in the store of
/// record (the shared store when there is one, so every instance follows): a device whose
/// user left the config is removed with its sessions, as is one whose every app left it; a
/// binding to an app that left it is dropped; an invitation for a user or app no longer
/// configured is withdrawn, and so are the devices and invitations of users a reload removed
/// since the last review, and the bindings to (and invitations for) apps a reload removed or
/// moved to another origin (`Devices::retired`), even if the name is configured again.
/// Every change is audited (`by` `config`). Devices are kept by name, and a name added again
/// later is someone else.
pub async fn review_devices(gw: &Gateway, s: &Settings) -> Result<Reviewed, ControlError> {
    const BY: &str = "config";
    let mut done = Reviewed::default();
    let retired = gw.devices().retired();
    // Invitations first: one redeemed before they are gone is a device by the time the
    // devices are read below (redeeming records it in the same step).
    let fits = |i: &crate::devices::Invitation| invitation_fits(&s.config, &retired, i);
    for i in gw
        .device_store()
        .withdraw(&fits, gw.clock().now_millis())
        .await?
    {
        audit::invitation_withdrawn(&i.apps, &i.user, BY);
        done.withdrawn += 1;
    }
    let devices = match gw.device_store().load().await? {
        Some(all) => all,
        None => gw.devices().list().iter().map(|d| (**d).clone()).collect(),
    };
    for d in devices {
        match review(&s.config, &retired, &d) {
            Review::Keep => {}
            Review::Narrow(apps) => {
                let narrowed = d.keeping(&apps);
                if gw.device_store().rebind(&narrowed).await? {
                    audit::device_unbound(
                        &d.user,
                        &z32::encode(d.key.as_bytes()),
                        &d.id(),
                        &narrowed.apps,
                        BY,
                    );
                    gw.rebind_device(narrowed).await?;
                    done.narrowed += 1;
                }
            }
            Review::Remove(_) => {
                done.sessions += remove_device(gw, s, &d, BY).await?;
                done.removed += 1;
            }
        }
    }
    // Sessions name their app by name: those made under a retired app name belong to an
    // app that is gone (or elsewhere), not to whatever bears the name now.
    let mut apps: Vec<&String> = retired.apps.iter().collect();
    apps.sort();
    for app in apps {
        let of_app = Filter {
            app: Some(app.clone()),
            ..Filter::default()
        };
        done.sessions += revoke(gw, s, &of_app, BY).await?;
    }
    // Their devices and invitations are gone from the store of record: a user of the same
    // name configured again is someone new.
    gw.devices().release(&retired);
    Ok(done)
}
