//! The ID token signing keys' file (`[sso] key_file`): made at first start, read at start, at
//! every reload and at every sweep (`refresh`, every `session.sweep_interval_seconds`), and
//! rotated as `qrgate_core::oidc::keys::rotate` says (one current key per algorithm a client
//! uses, RS256 always; the next key published a publication delay before it signs, the
//! previous one published for one more period). JSON, mode 0600, replaced atomically, under
//! a lock ([`crate::files::key_file`]), and the signer is put in force under that lock too, so
//! what an instance publishes is what the file held when it last read it: a key another
//! instance adds is published here within a sweep, long before it signs anywhere. A file
//! that exists but cannot be read whole is never replaced (relying parties hold tokens its
//! keys signed); the start fails, naming it, and a reload or a sweep keeps the keys in force.

use std::path::Path;

use base64::engine::general_purpose::STANDARD;
use base64::Engine;
use serde::{Deserialize, Serialize};

use qrgate_core::clock::millis;
use qrgate_core::gateway::Gateway;
use qrgate_core::oidc::keys::{rotate, IdTokenSigner, OidcKey, OidcKeyError, SigningAlg};
use qrgate_core::rotation::Schedule;

use crate::files::key_file;

/// What the file is, in errors.
const KIND: &str = "an OpenID Connect key file";

/// Why the keys could not be put in force.
#[derive(Debug, thiserror::Error)]
pub enum KeyFileError {
    /// The file could not be read, written or trusted.
    #[error(transparent)]
    File(#[from] key_file::KeyFileError),
    /// A key could not be made or used.
    #[error(transparent)]
    Key(#[from] OidcKeyError),
}

impl KeyFileError {
    /// What an operator does about a key file the gateway refused to start over.
    pub fn way_out(&self) -> String {
        match self {
            KeyFileError::File(e) => e.way_out("relying parties"),
            KeyFileError::Key(_) => "check [sso] in the config".into(),
        }
    }
}

/// One key as the file keeps it (unknown fields are refused).
#[derive(Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
struct Entry {
    kid: String,
    alg: SigningAlg,
    /// Base64 of the PKCS#8 private key.
    pkcs8: String,
    created_ms: u64,
}

fn read(path: &Path) -> Result<Vec<OidcKey>, KeyFileError> {
    key_file::read_keys::<Entry>(path, KIND)?
        .into_iter()
        .map(|e| {
            let pkcs8 = STANDARD.decode(&e.pkcs8).map_err(|_| {
                key_file::KeyFileError::format(path, KIND, format!("key {} is not base64", e.kid))
            })?;
            Ok(OidcKey {
                kid: e.kid,
                alg: e.alg,
                pkcs8,
                created_ms: e.created_ms,
            })
        })
        .collect()
}

fn write(path: &Path, keys: &[OidcKey]) -> Result<(), KeyFileError> {
    let entries: Vec<Entry> = keys
        .iter()
        .map(|k| Entry {
            kid: k.kid.clone(),
            alg: k.alg,
            pkcs8: STANDARD.encode(&k.pkcs8),
            created_ms: k.created_ms,
        })
        .collect();
    Ok(key_file::write_keys(path, KIND, entries)?)
}

/// Puts the ID token signer for the gateway's current config in force (or none, without
/// `[sso]`), at start and on reload: the file's keys, rotated if due and written back when
/// anything changed.
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
    let Some(sso) = &settings.config.sso else {
        if always {
            gw.oidc().install(None);
        }
        return Ok(always);
    };
    let mut algs = vec![SigningAlg::Rs256];
    for c in &settings.config.oidc_clients {
        if !algs.contains(&c.id_token_alg) {
            algs.push(c.id_token_alg);
        }
    }
    let schedule = Schedule::new(millis(sso.rotate));
    // The signer is put in force under the lock: no other instance changes the file between
    // this read and the keys this instance publishes.
    key_file::locked(&sso.key_file, || {
        let now = gw.clock().now_millis();
        let keys = rotated(&sso.key_file, &algs, schedule, now)?;
        let signer = IdTokenSigner::new(keys, schedule, now)?;
        if !always {
            // A reload put another config in force meanwhile: its own install decides.
            if gw.settings().generation() != settings.generation() {
                return Ok(false);
            }
            if gw.oidc().keys_in_force().as_ref() == Some(signer.in_force()) {
                return Ok(false);
            }
            tracing::info!(published = ?signer.in_force().published, signing = ?signer.in_force().signing, "OpenID Connect signing keys re-read from the key file");
        }
        gw.oidc().install(Some(signer));
        Ok(true)
    })
}

/// The key file's keys, rotated if due and written back when anything changed; run under
/// the key file's lock ([`key_file::locked`]), so instances sharing one key file rotate it
/// one at a time, and one that comes second finds the rotation done.
fn rotated(
    path: &Path,
    algs: &[SigningAlg],
    schedule: Schedule,
    now_ms: u64,
) -> Result<Vec<OidcKey>, KeyFileError> {
    let keys = read(path)?;
    let (keys, changed) = rotate(keys, algs, schedule, now_ms)?;
    if changed {
        write(path, &keys)?;
        tracing::info!(path = %path.display(), keys = keys.len(), "OpenID Connect signing keys written");
    }
    Ok(keys)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn instances_rotating_one_key_file_at_once_all_end_with_the_files_keys() {
        let dir = tempfile::tempdir().expect("dir");
        let path = dir.path().join("oidc-keys.json");
        let schedule = Schedule::new(1_000);
        let load = |now| {
            key_file::locked(&path, || {
                rotated(&path, &[SigningAlg::Rs256], schedule, now)
            })
        };
        let first = load(0).expect("first");
        // Eight instances start at once after the rotation is due: one rotates, the others
        // find it done.
        let kids: Vec<Vec<String>> = std::thread::scope(|scope| {
            let runs: Vec<_> = (0..8)
                .map(|_| {
                    scope.spawn(|| {
                        load(1_500)
                            .expect("rotated")
                            .into_iter()
                            .map(|k| k.kid)
                            .collect::<Vec<_>>()
                    })
                })
                .collect();
            runs.into_iter()
                .map(|r| r.join().expect("thread"))
                .collect()
        });
        let file: Vec<String> = read(&path)
            .expect("file")
            .into_iter()
            .map(|k| k.kid)
            .collect();
        assert_eq!(file.len(), 2, "one next key, the current kept: {file:?}");
        assert!(file.contains(&first[0].kid));
        for k in kids {
            assert_eq!(k, file, "every instance publishes the file's keys");
        }
    }
}
