//! The assertion signing keys' file (`[assertion] key_file`): made at first start, read at
//! start, at every reload and at every sweep (`refresh`, every
//! `session.sweep_interval_seconds`), and rotated as
//! `qrgate_core::identity::assertion::rotate` says: one publication delay (a quarter of
//! `rotate_days`, at most a day) before the newest key is `rotate_days` old, the next key is
//! added and only published; once it has been in the file that long it signs, and the
//! previous one stays published (so tokens it signed still verify) for `rotate_days` more.
//! JSON, mode 0600, replaced atomically; a file another user (not root) owns, that others
//! may read, or that group or others may write is refused
//! ([`crate::files::private_file::Guard::GroupSecret`]).
//!
//! Several instances behind one balancer must publish the same keys: give them the same file
//! (a shared volume, or a copy made once); they rotate it one at a time under its lock
//! ([`crate::files::key_file`]), each instance only a file it can write, and put the signer
//! in force under that lock, so a key another instance adds is published here within a
//! sweep, long before it signs anywhere.
//!
//! A file that exists but cannot be read whole is never replaced (its keys verify tokens
//! upstreams hold): the start fails, naming the file ([`KeyFileError::way_out`]); a reload
//! or a sweep keeps the keys in force.

use std::path::Path;
use std::sync::Arc;

use serde::{Deserialize, Serialize};

use qrgate_core::clock::millis;
use qrgate_core::config::AssertionConfig;
use qrgate_core::gateway::Gateway;
use qrgate_core::identity::assertion::{rotate, AssertionKey, Assertions};
use qrgate_core::raw::SigningSeed;
use qrgate_core::rotation::Schedule;

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

/// One key as the file keeps it (unknown fields are refused).
#[derive(Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
struct Entry {
    kid: String,
    /// Hex of the Ed25519 secret.
    secret: String,
    created_ms: u64,
}

fn read(path: &Path) -> Result<Vec<AssertionKey>, KeyFileError> {
    key_file::read_keys::<Entry>(path, KIND)?
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
    let entries: Vec<Entry> = keys
        .iter()
        .map(|k| Entry {
            kid: k.kid.clone(),
            secret: hex::encode(k.secret),
            created_ms: k.created_ms,
        })
        .collect();
    Ok(key_file::write_keys(path, KIND, entries)?)
}

/// The file's keys, rotated if due and written back when anything changed; run under the
/// key file's lock ([`key_file::locked`]).
fn rotated(
    config: &AssertionConfig,
    schedule: Schedule,
    now_ms: u64,
) -> Result<Vec<AssertionKey>, KeyFileError> {
    let (keys, changed) = rotate(read(&config.key_file)?, schedule, now_ms);
    if changed {
        write(&config.key_file, &keys)?;
        tracing::info!(published = keys.len(), path = %config.key_file.display(), "assertion signing keys written");
    }
    Ok(keys)
}

/// Puts the assertion signer for the gateway's current config in force (or none, when
/// `[assertion]` is off), at start and on reload: a fresh signer, with no cached assertions.
pub fn install(gw: &Gateway) -> Result<(), KeyFileError> {
    put(gw, true).map(|_| ())
}

/// Re-reads the key file (rotating it if due) and replaces the signer in force when what it
/// publishes or signs with changed; whether it did. Run at every sweep.
pub fn refresh(gw: &Gateway) -> Result<bool, KeyFileError> {
    put(gw, false)
}

fn put(gw: &Gateway, always: bool) -> Result<bool, KeyFileError> {
    let settings = gw.settings();
    let Some(config) = &settings.config.assertion else {
        if always {
            gw.set_assertions(None);
        }
        return Ok(always);
    };
    let schedule = Schedule::new(millis(config.rotate));
    // The signer is put in force under the lock: no other instance changes the file between
    // this read and the keys this instance publishes.
    key_file::locked(&config.key_file, || {
        let now = gw.clock().now_millis();
        let keys = rotated(config, schedule, now)?;
        let signer = Assertions::new(
            keys,
            schedule,
            now,
            config.issuer.clone(),
            millis(config.lifetime),
        )?;
        if !always {
            // A reload put another config in force meanwhile: its own install decides.
            if gw.settings().generation() != settings.generation() {
                return Ok(false);
            }
            // The same keys: the signer in force keeps its cached assertions.
            if gw.assertion_keys_in_force() == Some(signer.in_force()) {
                return Ok(false);
            }
            let in_force = signer.in_force();
            tracing::info!(published = ?in_force.published, signing = ?in_force.signing, "assertion signing keys re-read from the key file");
        }
        gw.set_assertions(Some(Arc::new(signer)));
        Ok(true)
    })
}
