//! The assertion signing keys' file (`[assertion] key_file`): made at first start, read at
//! start and at every reload, rotated when the newest key is older than `rotate_days` — a new
//! key signs from then on, and the previous one stays published (so tokens it signed still
//! verify) until it is twice that old. JSON, mode 0600, replaced atomically; a file another user
//! (not root) owns, that others may read, or that group or others may write is refused
//! ([`crate::files::private_file::Guard::GroupSecret`]).
//!
//! Several instances behind one balancer must publish the same keys: give them the same file
//! (a shared volume, or a copy made once); each instance rotates only a file it can write.
//!
//! A file that exists but cannot be read whole is never replaced (its keys verify tokens
//! upstreams hold): the start fails, naming the file ([`KeyFileError::way_out`]); a reload
//! keeps the keys in force.

use std::path::{Path, PathBuf};
use std::sync::Arc;

use serde::{Deserialize, Serialize};

use qrgate_core::clock::millis;
use qrgate_core::config::AssertionConfig;
use qrgate_core::gateway::Gateway;
use qrgate_core::identity::assertion::{AssertionKey, Assertions};
use qrgate_core::raw::SigningSeed;

use crate::files::private_file::{Guard, ReadError};

/// The most a key file may hold: a few keys of a hundred bytes each.
const LIMIT: u64 = 1 << 20;

/// Why the keys could not be put in force (assertions then stay as they were).
#[derive(Debug, thiserror::Error)]
pub enum KeyFileError {
    /// Reading or writing the file failed.
    #[error("{path}: {source}")]
    Io {
        /// The file.
        path: PathBuf,
        /// Why.
        source: std::io::Error,
    },
    /// The file is not one the gateway may hold secrets in: another user's, open to
    /// others, not a regular file, too large.
    #[error("{path}: {reason}")]
    Unsafe {
        /// The file.
        path: PathBuf,
        /// Why.
        reason: crate::files::private_file::ReadError,
    },
    /// The file is not a key file.
    #[error("{path}: not an assertion key file: {reason}")]
    Format {
        /// The file.
        path: PathBuf,
        /// Why.
        reason: String,
    },
    /// The signer could not be built.
    #[error(transparent)]
    Signer(#[from] qrgate_core::identity::assertion::AssertionError),
}

impl KeyFileError {
    /// What an operator does about a key file the gateway refused to start over.
    pub fn way_out(&self) -> String {
        match self {
            KeyFileError::Io { path, .. }
            | KeyFileError::Format { path, .. }
            | KeyFileError::Unsafe { path, .. } => {
                let p = path.display();
                format!(
                    "qrgate does not replace an assertion key file it cannot read: upstreams may \
                     hold tokens its keys signed. Make {p} readable again, or move it aside to \
                     start with a new key: mv {p} {p}.unread"
                )
            }
            KeyFileError::Signer(_) => "check [assertion] in the config".into(),
        }
    }
}

// Unknown fields are refused, not dropped by the next rotation.
#[derive(Serialize, Deserialize, Default)]
#[serde(deny_unknown_fields)]
struct File {
    /// Newest first.
    keys: Vec<Entry>,
}

#[derive(Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
struct Entry {
    kid: String,
    /// Hex of the Ed25519 secret.
    secret: String,
    created_ms: u64,
}

fn read(path: &Path) -> Result<Vec<AssertionKey>, KeyFileError> {
    let format = |reason: String| KeyFileError::Format {
        path: path.into(),
        reason,
    };
    // Signing secrets: nobody but the gateway's user (and the group of instances sharing
    // them) may read them, nor swap in their own.
    let text = match crate::files::private_file::read_guarded(path, Guard::GroupSecret, LIMIT) {
        Ok(Some(t)) => t,
        Ok(None) => return Ok(Vec::new()),
        Err(ReadError::Io(source)) => {
            return Err(KeyFileError::Io {
                path: path.into(),
                source,
            })
        }
        Err(reason) => {
            return Err(KeyFileError::Unsafe {
                path: path.into(),
                reason,
            })
        }
    };
    crate::files::private_file::json_keys_unique(&text).map_err(format)?;
    let file: File = serde_json::from_str(&text).map_err(|e| format(e.to_string()))?;
    file.keys
        .into_iter()
        .map(|e| {
            let secret = SigningSeed::from_hex(&e.secret)
                .ok_or_else(|| format(format!("key {} is not 32 hex bytes", e.kid)))?;
            Ok(AssertionKey {
                kid: e.kid,
                secret,
                created_ms: e.created_ms,
            })
        })
        .collect()
}

fn write(path: &Path, keys: &[AssertionKey]) -> Result<(), KeyFileError> {
    let file = File {
        keys: keys
            .iter()
            .map(|k| Entry {
                kid: k.kid.clone(),
                secret: hex::encode(k.secret),
                created_ms: k.created_ms,
            })
            .collect(),
    };
    let bytes = serde_json::to_vec_pretty(&file).map_err(|e| KeyFileError::Format {
        path: path.into(),
        reason: e.to_string(),
    })?;
    crate::files::private_file::write(path, &bytes).map_err(|source| KeyFileError::Io {
        path: path.into(),
        source,
    })
}

/// The keys in force at `now_ms` under `config`: the file's, rotated if due (and written
/// back when anything changed).
pub fn keys(config: &AssertionConfig, now_ms: u64) -> Result<Vec<AssertionKey>, KeyFileError> {
    let mut keys = read(&config.key_file)?;
    keys.sort_by_key(|k| std::cmp::Reverse(k.created_ms));
    let rotate = millis(config.rotate);
    let before = keys.len();
    // Older keys stay published for one more rotation period, then go.
    let mut seen_current = false;
    keys.retain(|k| {
        let keep = !seen_current || now_ms < k.created_ms.saturating_add(rotate.saturating_mul(2));
        seen_current = true;
        keep
    });
    let due = keys
        .first()
        .is_none_or(|k| now_ms >= k.created_ms.saturating_add(rotate));
    if due {
        keys.insert(0, AssertionKey::generate(now_ms));
        tracing::info!(kid = %keys[0].kid, path = %config.key_file.display(), "new assertion signing key");
    }
    if due || keys.len() != before {
        write(&config.key_file, &keys)?;
    }
    Ok(keys)
}

/// Puts the assertion signer for the gateway's current config in force (or none, when
/// `[assertion]` is off).
pub fn install(gw: &Gateway) -> Result<(), KeyFileError> {
    let settings = gw.settings();
    let Some(config) = &settings.config.assertion else {
        gw.set_assertions(None);
        return Ok(());
    };
    let keys = keys(config, gw.clock().now_millis())?;
    let leftovers = crate::files::private_file::remove_leftovers(&config.key_file);
    if leftovers > 0 {
        tracing::info!(removed = leftovers, path = %config.key_file.display(), "removed temporary copies of the key file left by an interrupted write");
    }
    let signer = Assertions::new(keys, config.issuer.clone(), millis(config.lifetime))?;
    gw.set_assertions(Some(Arc::new(signer)));
    Ok(())
}
