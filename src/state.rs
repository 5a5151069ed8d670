//! The session state file: live sessions kept across restarts and upgrades.
//!
//! With `[session] state_file`, the gateway reads the file at start (dropping sessions that
//! expired meanwhile), rewrites it every `state_interval_seconds` while running (so a crash
//! loses at most that much), and once more on graceful shutdown. Each write goes to a
//! temporary file of mode 0600 in the same directory and is renamed over the old one, so a
//! reader never sees half a file. The file holds token **hashes**, keys and app names only —
//! never a raw token: stealing it does not let anyone in.

use std::io::Write;
use std::os::unix::fs::OpenOptionsExt;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine;
use pingora::server::ShutdownWatch;
use pingora::services::background::BackgroundService;
use serde::{Deserialize, Serialize};

use qrgate_core::gateway::Gateway;
use qrgate_core::session::{SessionRecord, TokenHash};

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

#[derive(Serialize, Deserialize)]
struct File {
    version: u32,
    sessions: Vec<Entry>,
}

#[derive(Serialize, Deserialize)]
struct Entry {
    /// base64url SHA-256 of the token.
    hash: String,
    /// Hex of the signing key.
    key: String,
    app: String,
    created_ms: u64,
    last_seen_ms: u64,
}

fn decode32(text: &str, what: &str) -> Result<[u8; 32], String> {
    let bytes = match what {
        "hash" => URL_SAFE_NO_PAD.decode(text).map_err(|e| e.to_string())?,
        _ => hex::decode(text).map_err(|e| e.to_string())?,
    };
    <[u8; 32]>::try_from(bytes.as_slice()).map_err(|_| format!("{what} is not 32 bytes"))
}

/// Reads `path` into the gateway's store; a missing file is an empty one. Returns how many
/// sessions were kept.
pub async fn load(gateway: &Gateway, path: &Path) -> Result<usize, StateError> {
    let text = match std::fs::read_to_string(path) {
        Ok(t) => t,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(0),
        Err(source) => {
            return Err(StateError::Io {
                path: path.into(),
                source,
            })
        }
    };
    let format = |reason: String| StateError::Format {
        path: path.into(),
        reason,
    };
    let file: File = serde_json::from_str(&text).map_err(|e| format(e.to_string()))?;
    if file.version != VERSION {
        return Err(format(format!("version {} is not {VERSION}", file.version)));
    }
    let mut sessions: Vec<(TokenHash, SessionRecord)> = Vec::with_capacity(file.sessions.len());
    for e in file.sessions {
        sessions.push((
            decode32(&e.hash, "hash").map_err(format)?,
            SessionRecord {
                key: decode32(&e.key, "key").map_err(format)?,
                app: Arc::from(e.app.as_str()),
                created_ms: e.created_ms,
                last_seen_ms: e.last_seen_ms,
            },
        ));
    }
    Ok(gateway.sessions.import(sessions).await?)
}

/// Writes every live session to `path` (mode 0600, atomic rename). Returns how many.
pub async fn save(gateway: &Gateway, path: &Path) -> Result<usize, StateError> {
    let sessions = gateway.sessions.export().await?;
    let n = sessions.len();
    let file = File {
        version: VERSION,
        sessions: sessions
            .into_iter()
            .map(|(hash, r)| Entry {
                hash: URL_SAFE_NO_PAD.encode(hash),
                key: hex::encode(r.key),
                app: r.app.to_string(),
                created_ms: r.created_ms,
                last_seen_ms: r.last_seen_ms,
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
    let tmp = path.with_extension("tmp");
    let _ = std::fs::remove_file(&tmp);
    let mut f = std::fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(0o600)
        .open(&tmp)
        .map_err(io)?;
    f.write_all(&bytes).map_err(io)?;
    f.sync_all().map_err(io)?;
    drop(f);
    std::fs::rename(&tmp, path).map_err(io)?;
    Ok(n)
}

/// The background service that keeps the state file current and writes it at shutdown.
pub struct Keeper {
    gateway: Arc<Gateway>,
    path: PathBuf,
    interval: Duration,
}

impl Keeper {
    /// Keeps `path` for `gateway`, rewriting it every `interval`.
    pub fn new(gateway: Arc<Gateway>, path: PathBuf, interval: Duration) -> Self {
        Self {
            gateway,
            path,
            interval,
        }
    }

    async fn write(&self, why: &str) {
        match save(&self.gateway, &self.path).await {
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
                _ = tick.tick() => self.write("periodic").await,
                _ = shutdown.changed() => {
                    self.write("shutdown").await;
                    return;
                }
            }
        }
    }
}
