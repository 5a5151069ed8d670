//! The assertion signing keys' file (`[assertion] key_file`): made at first start, read at
//! start and at every reload, rotated when the newest key is older than `rotate_days` — a new
//! key signs from then on, and the previous one stays published (so tokens it signed still
//! verify) until it is twice that old. JSON, mode 0600, replaced atomically; a file another user
//! (not root) owns, that others may read, or that group or others may write is refused
//! ([`crate::files::private_file::Guard::GroupSecret`]).
//!
//! Several instances behind one balancer must publish the same keys: give them the same file
//! (a shared volume, or a copy made once); they rotate it one at a time under its lock
//! ([`crate::files::key_file`]), each instance only a file it can write.
//!
//! A file that exists but cannot be read whole is never replaced (its keys verify tokens
//! upstreams hold): the start fails, naming the file ([`KeyFileError::way_out`]); a reload
//! keeps the keys in force.

use std::path::Path;
use std::sync::Arc;

use serde::{Deserialize, Serialize};

use qrgate_core::clock::millis;
use qrgate_core::config::AssertionConfig;
use qrgate_core::gateway::Gateway;
use qrgate_core::identity::assertion::{AssertionKey, Assertions};
use qrgate_core::raw::SigningSeed;

use crate::files::key_file;

/// What the file is, in errors.
const KIND: &str = "an assertion key file";

/// Why the keys could not be put in force (assertions then stay as they were).
#[derive(Debug, thiserror::Error)]
pub enum KeyFileError {
    /// The file could not be read, written or trusted.
    #[error(transparent)]
    File(#[from] key_file::KeyFileError),
    /// The signer could not be built.
    #[error(transparent)]
    Signer(#[from] qrgate_core::identity::assertion::AssertionError),
}

impl KeyFileError {
    /// What an operator does about a key file the gateway refused to start over.
    pub fn way_out(&self) -> String {
        match self {
            KeyFileError::File(e) => e.way_out("upstreams"),
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
    let file: File = key_file::read(path, KIND)?.unwrap_or_default();
    file.keys
        .into_iter()
        .map(|e| {
            let secret = SigningSeed::from_hex(&e.secret).ok_or_else(|| {
                key_file::KeyFileError::format(
                    path,
                    KIND,
                    format!("key {} is not 32 hex bytes", e.kid),
                )
            })?;
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
    Ok(key_file::write(path, KIND, &file)?)
}

/// The keys in force at `now_ms` under `config`: the file's, rotated if due (and written
/// back when anything changed), all under the key file's lock ([`key_file::locked`]).
pub fn keys(config: &AssertionConfig, now_ms: u64) -> Result<Vec<AssertionKey>, KeyFileError> {
    key_file::locked(&config.key_file, || rotated(config, now_ms))
}

fn rotated(config: &AssertionConfig, now_ms: u64) -> Result<Vec<AssertionKey>, KeyFileError> {
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
    let signer = Assertions::new(keys, config.issuer.clone(), millis(config.lifetime))?;
    gw.set_assertions(Some(Arc::new(signer)));
    Ok(())
}
