//! Enrolled devices and pending invitations as they are stored, and the readers of older
//! records (which may lack the apps and origins they bind to).

use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

use crate::http::origin::Origin;
use crate::raw::KeyBytes;

/// One enrolled device.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(from = "StoredDevice")]
pub struct Device {
    /// Its public key (the raw 32 bytes, hex in JSON).
    #[serde(with = "hex32")]
    pub key: KeyBytes,
    /// The configured user it signs in as.
    pub(crate) user: String,
    /// The app on whose origin it was enrolled (the browser keeps the key for that origin).
    pub(crate) app: String,
    /// The apps it may sign in to: `app` alone, unless an operator's invitation named
    /// several. Never empty; a record without it (written before devices were bound to
    /// apps) reads as `[app]`.
    pub(crate) apps: Vec<String>,
    /// The origin each of `apps` had when the invitation was made, in the same order: the
    /// binding is to that app on that origin, not to whatever later bears the name. Empty in
    /// records written before origins were kept (bound by name alone).
    pub(crate) origins: Vec<String>,
    /// The enrolling browser's summary, e.g. "Chrome on Android".
    pub(crate) label: String,
    /// When it was enrolled, ms since the Unix epoch.
    pub(crate) created_ms: u64,
}

/// A device as stored: `apps` may be absent (older records).
#[derive(Deserialize)]
struct StoredDevice {
    #[serde(with = "hex32")]
    key: KeyBytes,
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
    pub(crate) fn may_sign_in_to(&self, app: &str) -> bool {
        self.apps.iter().any(|a| a == app)
    }

    /// Whether it may sign in to the app named `app` on `origin`.
    pub(crate) fn may_sign_in_at(&self, app: &str, origin: &Origin) -> bool {
        self.apps
            .iter()
            .position(|a| a == app)
            .is_some_and(|i| bound_to(&self.origins, i, origin))
    }

    /// The same device bound only to those of its apps `keep` names.
    pub(crate) fn keeping(&self, keep: &[String]) -> Device {
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
pub(super) fn bound_to(origins: &[String], i: usize, origin: &Origin) -> bool {
    origins.is_empty() || origins.get(i).is_some_and(|o| origin.is(o))
}

/// The public id of the device holding `key`.
pub fn device_id(key: &KeyBytes) -> String {
    hex::encode(&Sha256::digest(key)[..12])
}

/// A pending invitation to enroll a device.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(from = "StoredInvitation")]
pub struct Invitation {
    /// The configured user the device will sign in as.
    pub(crate) user: String,
    /// The app whose origin the link is on.
    pub(crate) app: String,
    /// The apps the device will sign in to (never empty; `[app]` unless an operator named
    /// several).
    pub(crate) apps: Vec<String>,
    /// The origin each of `apps` had when it was made, in the same order (empty in records
    /// written before origins were kept).
    pub(crate) origins: Vec<String>,
    /// When it lapses, ms since the Unix epoch.
    pub expires_ms: u64,
    /// Who invited: `operator` or `owner` (the person, from a signed-in session).
    pub(crate) by: String,
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

mod hex32 {
    use crate::raw::KeyBytes;
    use serde::{Deserialize, Deserializer, Serializer};

    pub(crate) fn serialize<S: Serializer>(key: &KeyBytes, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(&hex::encode(key))
    }

    pub(crate) fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<KeyBytes, D::Error> {
        let text = String::deserialize(d)?;
        let bytes = hex::decode(text).map_err(serde::de::Error::custom)?;
        KeyBytes::from_slice(&bytes).ok_or_else(|| serde::de::Error::custom("a key is 32 bytes"))
    }
}
