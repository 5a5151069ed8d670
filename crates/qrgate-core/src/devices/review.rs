//! Review: what the config in force asks of an enrolled device or a pending invitation,
//! and the names a reload retired that the review has not dealt with yet.

use std::collections::HashSet;

use super::record::bound_to;
use super::{Device, Invitation};
use crate::config::Config;

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
    pub(crate) fn is_empty(&self) -> bool {
        self.users.is_empty() && self.apps.is_empty()
    }

    /// What a reload from `before` to `after` retires: every user `after` does not configure,
    /// and every app it does not configure on the same origin.
    pub(crate) fn by_reload(before: &Config, after: &Config) -> Retired {
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
pub(crate) enum Review {
    /// Its user and every app it names are configured.
    Keep,
    /// Some of its apps are gone: it keeps only these (still configured).
    Narrow(Vec<String>),
    /// Its user is gone (`user_removed`) or every app it names (`apps_removed`).
    Remove(&'static str),
}

/// What `config` asks of device `d`, when a reload since the last review retired the users
/// and apps in `retired` (which may be configured again by now: someone, something else).
pub(crate) fn review(config: &Config, retired: &Retired, d: &Device) -> Review {
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
pub(crate) fn invitation_fits(config: &Config, retired: &Retired, i: &Invitation) -> bool {
    !retired.users.contains(&i.user)
        && config.user_by_name(&i.user).is_some()
        && i.apps.first() == Some(&i.app)
        && (0..i.apps.len()).all(|n| retired.binding_holds(config, &i.apps, &i.origins, n))
}
