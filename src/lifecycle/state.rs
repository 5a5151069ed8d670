//! The session state file: live sessions kept across restarts and upgrades.
//!
//! With `[session] state_file`, the gateway reads the file at start (dropping sessions that
//! expired meanwhile), rewrites it every `state_interval_seconds` while running (so a crash
//! loses at most that much), and once more on graceful shutdown. Each write goes to a
//! temporary file of mode 0600 in the same directory and is renamed over the old one, so a
//! reader never sees half a file. The file holds token **hashes**, keys and app names only —
//! never a raw token: stealing it does not let anyone in. It also holds the devices enrolled
//! by invitation (public keys and their users), which have no other copy: an enrollment or
//! a removal is answered only once the file holding it is on disk ([`Ledger`]; file and
//! folder synced), so a `kill -9` at any moment loses no enrolled device.
//!
//! A file that exists but cannot be read whole (another version's, one damaged entry, a
//! permissions error, a folder in its place) is never overwritten: the gateway refuses to
//! start, naming the file and the way out ([`StateError::way_out`]).
//!
//! During a binary upgrade ([`crate::lifecycle::upgrade`]) the old process's last write is marked as a
//! hand-over, and the new process waits for that write ([`await_handover`]) before it serves.

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine;
use pingora::server::ShutdownWatch;
use pingora::services::background::BackgroundService;
use serde::{Deserialize, Serialize};

use qrgate_core::devices::{Device, DeviceLedger};
use qrgate_core::gateway::Gateway;
use qrgate_core::identity::access::{Grant, GrantError};
use qrgate_core::raw::KeyBytes;
use qrgate_core::session::{SessionMeta, SessionRecord, SessionStore, StoreError, TokenHash};

use crate::files::private_file::{Guard, ReadError};
use crate::lifecycle::upgrade::Handover;

/// The file's format version.
const VERSION: u32 = 1;

/// Why the state file could not be used.
#[derive(Debug, thiserror::Error)]
pub enum StateError {
    /// Reading or writing failed.
    #[error("{path}: {source}")]
    Io {
        /// The file.
        path: PathBuf,
        /// Why.
        source: std::io::Error,
    },
    /// The file is not one the gateway may believe: another user's, open to others'
    /// writes, not a regular file.
    #[error("{path}: {reason}")]
    Unsafe {
        /// The file.
        path: PathBuf,
        /// Why.
        reason: crate::files::private_file::ReadError,
    },
    /// The file is not a state file of this version.
    #[error("{path}: not a qrgate state file: {reason}")]
    Format {
        /// The file.
        path: PathBuf,
        /// Why.
        reason: String,
    },
    /// The store refused.
    #[error("session store: {0}")]
    Store(#[from] qrgate_core::session::StoreError),
}

impl StateError {
    /// What an operator does about a file the gateway refused to start over.
    pub fn way_out(&self) -> String {
        match self {
            StateError::Io { path, .. }
            | StateError::Format { path, .. }
            | StateError::Unsafe { path, .. } => {
                let p = path.display();
                format!(
                    "qrgate does not start over a state file it cannot read: its next write would \
                     replace the enrolled devices and sessions in it. Make {p} readable again \
                     (its owner and mode, or a copy this version wrote), or move it aside to start \
                     with no sessions and no enrolled devices: mv {p} {p}.unread"
                )
            }
            StateError::Store(_) => "check the session store".into(),
        }
    }
}

// Unknown fields are refused, not dropped: a file written by a newer version is not read
// as far as this one understands it and then rewritten without the rest.
#[derive(Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
struct File {
    version: u32,
    /// Set on the last write of a process handing over to a successor: when it was written
    /// (milliseconds since the Unix epoch).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    handover_ms: Option<u64>,
    sessions: Vec<Entry>,
    /// Devices enrolled by invitation (public keys only); files written before enrollment
    /// existed have none. Kept as JSON here so that a field this version does not know is
    /// found ([`device`]), not dropped.
    #[serde(default)]
    devices: Vec<serde_json::Value>,
}

/// Device `i` of a file, refused if it has a field that reading would drop.
fn device(i: usize, value: serde_json::Value) -> Result<Device, String> {
    let device: Device =
        serde_json::from_value(value.clone()).map_err(|e| format!("device {i}: {e}"))?;
    let again = serde_json::to_value(&device).map_err(|e| format!("device {i}: {e}"))?;
    if let (Some(read), Some(kept)) = (value.as_object(), again.as_object()) {
        if let Some(lost) = read.keys().find(|k| !kept.contains_key(*k)) {
            return Err(format!("device {i}: unknown field `{lost}`"));
        }
    }
    Ok(device)
}

#[derive(Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
struct Entry {
    /// base64url SHA-256 of the token.
    hash: String,
    /// Hex of the signing key.
    key: String,
    app: String,
    created_ms: u64,
    last_seen_ms: u64,
    /// The last phone approval; files written before step-up existed lack it (then: the
    /// login).
    #[serde(default)]
    approved_ms: Option<u64>,
    /// What the login granted, when less than read-write everywhere.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    grant: Option<String>,
    #[serde(default)]
    protocol: String,
    #[serde(default)]
    client_ip: String,
    #[serde(default)]
    browser: String,
    /// The SSO session the session came from; files from before single sign-on lack it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    family: Option<String>,
}

fn decode32(text: &str, what: &str) -> Result<[u8; 32], String> {
    let bytes = match what {
        "hash" => URL_SAFE_NO_PAD.decode(text).map_err(|e| e.to_string())?,
        _ => hex::decode(text).map_err(|e| e.to_string())?,
    };
    <[u8; 32]>::try_from(bytes.as_slice()).map_err(|_| format!("{what} is not 32 bytes"))
}

/// What a state file holds.
pub struct Contents {
    sessions: Vec<(TokenHash, SessionRecord)>,
    devices: Vec<Device>,
}

impl Contents {
    /// How many sessions and devices it holds.
    pub fn counts(&self) -> (usize, usize) {
        (self.sessions.len(), self.devices.len())
    }
}

/// Reads `path` whole: `None` if there is no file; an error if any of it cannot be read.
pub fn read(path: &Path) -> Result<Option<Contents>, StateError> {
    // Its devices say which key signs in as whom: a file someone else may write is not
    // believed (it is never overwritten either, like any file that was not read).
    let text = match crate::files::private_file::read_guarded(path, Guard::Trusted, u64::MAX) {
        Ok(Some(t)) => t,
        Ok(None) => return Ok(None),
        Err(ReadError::Io(source)) => {
            return Err(StateError::Io {
                path: path.into(),
                source,
            })
        }
        Err(reason) => {
            return Err(StateError::Unsafe {
                path: path.into(),
                reason,
            })
        }
    };
    let format = |reason: String| StateError::Format {
        path: path.into(),
        reason,
    };
    crate::files::private_file::json_keys_unique(&text).map_err(format)?;
    let value: serde_json::Value =
        serde_json::from_str(&text).map_err(|e| format(e.to_string()))?;
    match value.get("version").and_then(serde_json::Value::as_u64) {
        Some(v) if v == u64::from(VERSION) => {}
        Some(v) => {
            return Err(format(format!(
                "written by another version of qrgate (format {v}; this one reads {VERSION})"
            )))
        }
        None => return Err(format("no format version".into())),
    }
    let file: File = serde_json::from_value(value).map_err(|e| format(e.to_string()))?;
    let mut sessions: Vec<(TokenHash, SessionRecord)> = Vec::with_capacity(file.sessions.len());
    for (i, e) in file.sessions.into_iter().enumerate() {
        let entry = |reason: String| format(format!("session {i}: {reason}"));
        sessions.push((
            TokenHash::new(decode32(&e.hash, "hash").map_err(entry)?),
            SessionRecord {
                key: KeyBytes::new(decode32(&e.key, "key").map_err(entry)?),
                app: Arc::from(e.app.as_str()),
                created_ms: e.created_ms,
                last_seen_ms: e.last_seen_ms,
                approved_ms: e.approved_ms.unwrap_or(e.created_ms),
                meta: Arc::new(SessionMeta {
                    grant: match &e.grant {
                        None => Grant::full(),
                        Some(g) => g.parse().map_err(|e: GrantError| entry(e.to_string()))?,
                    },
                    protocol: e.protocol,
                    client_ip: e.client_ip,
                    browser: e.browser,
                    family: e.family,
                }),
            },
        ));
    }
    let devices = file
        .devices
        .into_iter()
        .enumerate()
        .map(|(i, v)| device(i, v).map_err(format))
        .collect::<Result<Vec<Device>, StateError>>()?;
    Ok(Some(Contents { sessions, devices }))
}

/// Reads `path` into the gateway (a missing file is an empty one), all or nothing. Returns
/// how many sessions were kept.
pub async fn load(gateway: &Gateway, path: &Path) -> Result<usize, StateError> {
    let Some(contents) = read(path)? else {
        return Ok(0);
    };
    for d in contents.devices {
        gateway.devices().insert(d);
    }
    Ok(gateway.sessions().import(contents.sessions).await?)
}

/// Writes every live session to `path` (mode 0600, atomic rename, synced), marked as a
/// hand-over when `handover` is set. Returns how many.
pub async fn save(gateway: &Gateway, path: &Path, handover: bool) -> Result<usize, StateError> {
    // The device table stays as written until the file is on disk: an enrollment answered
    // meanwhile is in this write or in its own, never lost between the two.
    let _held = gateway.devices().hold().await;
    let n = write(
        &**gateway.sessions(),
        &gateway.devices().list(),
        path,
        handover,
    )
    .await?;
    if handover {
        // The successor reads this write: an enrollment answered here after it would never
        // reach the successor, so none is.
        gateway.devices().seal();
    }
    Ok(n)
}

async fn write(
    sessions: &dyn SessionStore,
    devices: &[Arc<Device>],
    path: &Path,
    handover: bool,
) -> Result<usize, StateError> {
    let sessions = sessions.export().await?;
    let n = sessions.len();
    let file = File {
        version: VERSION,
        handover_ms: handover.then(now_ms),
        devices: devices
            .iter()
            .map(|d| serde_json::to_value(&**d))
            .collect::<Result<_, _>>()
            .map_err(|e| StateError::Format {
                path: path.into(),
                reason: e.to_string(),
            })?,
        sessions: sessions
            .into_iter()
            .map(|(hash, r)| Entry {
                hash: URL_SAFE_NO_PAD.encode(hash),
                key: hex::encode(r.key),
                app: r.app.to_string(),
                created_ms: r.created_ms,
                last_seen_ms: r.last_seen_ms,
                approved_ms: Some(r.approved_ms),
                grant: (!r.meta.grant.is_full()).then(|| r.meta.grant.to_string()),
                protocol: r.meta.protocol.clone(),
                client_ip: r.meta.client_ip.clone(),
                browser: r.meta.browser.clone(),
                family: r.meta.family.clone(),
            })
            .collect(),
    };
    let io = |source| StateError::Io {
        path: path.into(),
        source,
    };
    let bytes = serde_json::to_vec(&file).map_err(|e| StateError::Format {
        path: path.into(),
        reason: e.to_string(),
    })?;
    // Blocking file work (write, two fsyncs) off the async workers.
    let target = path.to_path_buf();
    tokio::task::spawn_blocking(move || crate::files::private_file::write(&target, &bytes))
        .await
        .map_err(|e| io(std::io::Error::other(e)))?
        .map_err(io)?;
    Ok(n)
}

/// The state file as the ledger of this instance's device table: each enrollment and
/// removal is written with every live session before it is answered.
pub struct Ledger {
    sessions: Arc<dyn SessionStore>,
    path: PathBuf,
}

impl Ledger {
    /// The ledger in `path`, writing `sessions` beside the devices.
    pub fn new(sessions: Arc<dyn SessionStore>, path: PathBuf) -> Self {
        Self { sessions, path }
    }
}

#[async_trait]
impl DeviceLedger for Ledger {
    async fn keep(&self, devices: &[Arc<Device>]) -> Result<(), StoreError> {
        match write(&*self.sessions, devices, &self.path, false).await {
            Ok(_) => Ok(()),
            Err(e) => {
                tracing::error!(error = %e, "state file not written; the device change is refused");
                Err(StoreError::Unavailable(e.to_string()))
            }
        }
    }
}

/// Milliseconds since the Unix epoch: the hand-over mark is compared across two processes,
/// so it is wall-clock time.
fn now_ms() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| u64::try_from(d.as_millis()).unwrap_or(u64::MAX))
}

/// Waits until `path` holds a hand-over written after `since` (the moment this process
/// received the listening sockets), or `patience` runs out. Returns whether it came.
pub async fn await_handover(path: &Path, since: std::time::SystemTime, patience: Duration) -> bool {
    let since_ms = since
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| u64::try_from(d.as_millis()).unwrap_or(u64::MAX));
    let deadline = tokio::time::Instant::now() + patience;
    loop {
        let mark = std::fs::read_to_string(path)
            .ok()
            .and_then(|t| serde_json::from_str::<File>(&t).ok())
            .and_then(|f| f.handover_ms);
        // Whole milliseconds on both sides: a write in the same millisecond counts.
        if mark.is_some_and(|m| m >= since_ms) {
            return true;
        }
        if tokio::time::Instant::now() >= deadline {
            return false;
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
}

/// The background service that keeps the state file current and writes it at shutdown.
pub struct Keeper {
    gateway: Arc<Gateway>,
    path: PathBuf,
    interval: Duration,
    handover: Handover,
    /// How long requests may still arrive after shutdown begins; the last write waits for it.
    drain: Duration,
}

impl Keeper {
    /// Keeps `path` for `gateway`, rewriting it every `interval`; the last write is marked
    /// as a hand-over once `handover` has begun.
    pub fn new(
        gateway: Arc<Gateway>,
        path: PathBuf,
        interval: Duration,
        handover: Handover,
    ) -> Self {
        Self {
            gateway,
            path,
            interval,
            handover,
            drain: Duration::ZERO,
        }
    }

    /// Makes the last write wait `drain` after shutdown begins, so sessions started or ended
    /// by requests still answered in that window are in it.
    pub fn after_drain(mut self, drain: Duration) -> Self {
        self.drain = drain;
        self
    }

    async fn write(&self, why: &str, handover: bool) {
        match save(&self.gateway, &self.path, handover).await {
            Ok(n) if handover => {
                tracing::info!(sessions = n, path = %self.path.display(), "state file written for the new process")
            }
            Ok(n) => {
                tracing::debug!(sessions = n, path = %self.path.display(), why, "state file written")
            }
            Err(e) => tracing::error!(error = %e, why, "state file not written"),
        }
    }
}

#[async_trait]
impl BackgroundService for Keeper {
    async fn start(&self, mut shutdown: ShutdownWatch) {
        let mut tick = tokio::time::interval(self.interval);
        tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        tick.tick().await;
        loop {
            tokio::select! {
                _ = tick.tick() => self.write("periodic", false).await,
                // An enrollment is worth more than a session: keep it at once.
                () = self.gateway.devices_changed() => self.write("devices", false).await,
                _ = shutdown.changed() => {
                    // A request read at the end of the drain window takes microseconds; a
                    // tenth more keeps it inside the write (and inside the grace period).
                    tokio::time::sleep(self.drain + self.drain / 10).await;
                    self.write("shutdown", self.handover.begun()).await;
                    return;
                }
            }
        }
    }
}
