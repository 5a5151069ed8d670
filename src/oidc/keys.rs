//! The ID token signing keys' file (`[sso] key_file`): made at first start, read at start and
//! at every reload, rotated as `qrgate_core::oidc::keys::rotate` says (one current key per
//! algorithm a client uses, RS256 always; the previous stays published for one more
//! period). JSON, mode 0600, replaced atomically, under a lock ([`crate::files::key_file`]):
//! a file that exists but cannot be read whole is never replaced (relying parties hold
//! tokens its keys signed); the start fails, naming it.

use std::path::Path;

use base64::engine::general_purpose::STANDARD;
use base64::Engine;
use serde::{Deserialize, Serialize};

use qrgate_core::clock::millis;
use qrgate_core::gateway::Gateway;
use qrgate_core::oidc::keys::{rotate, IdTokenSigner, OidcKey, OidcKeyError, SigningAlg};

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
    alg: SigningAlg,
    /// Base64 of the PKCS#8 private key.
    pkcs8: String,
    created_ms: u64,
}

fn read(path: &Path) -> Result<Vec<OidcKey>, KeyFileError> {
    let file: File = key_file::read(path, KIND)?.unwrap_or_default();
    file.keys
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
    let file = File {
        keys: keys
            .iter()
            .map(|k| Entry {
                kid: k.kid.clone(),
                alg: k.alg,
                pkcs8: STANDARD.encode(&k.pkcs8),
                created_ms: k.created_ms,
            })
            .collect(),
    };
    Ok(key_file::write(path, KIND, &file)?)
}

/// Puts the ID token signer for the gateway's current config in force (or none, without
/// `[sso]`): the file's keys, rotated if due and written back when anything changed.
pub fn install(gw: &Gateway) -> Result<(), KeyFileError> {
    let settings = gw.settings();
    let Some(sso) = &settings.config.sso else {
        gw.oidc().install(None);
        return Ok(());
    };
    let mut algs = vec![SigningAlg::Rs256];
    for c in &settings.config.oidc_clients {
        if !algs.contains(&c.id_token_alg) {
            algs.push(c.id_token_alg);
        }
    }
    let keys = load_rotated(
        &sso.key_file,
        &algs,
        millis(sso.rotate),
        gw.clock().now_millis(),
    )?;
    gw.oidc().install(Some(IdTokenSigner::new(keys)?));
    Ok(())
}

/// The key file's keys, rotated if due and written back when anything changed, all under
/// the key file's lock ([`key_file::locked`]): instances sharing one key file rotate it one at
/// a time, and one that comes second finds the rotation done and signs with the keys the
/// file (and so every instance's JWKS) has.
pub fn load_rotated(
    path: &Path,
    algs: &[SigningAlg],
    rotate_ms: u64,
    now_ms: u64,
) -> Result<Vec<OidcKey>, KeyFileError> {
    key_file::locked(path, || {
        let keys = read(path)?;
        let (keys, changed) = rotate(keys, algs, rotate_ms, now_ms)?;
        if changed {
            write(path, &keys)?;
            tracing::info!(path = %path.display(), keys = keys.len(), "OpenID Connect signing keys written");
        }
        Ok(keys)
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn instances_rotating_one_key_file_at_once_all_end_with_the_files_keys() {
        let dir = tempfile::tempdir().expect("dir");
        let path = dir.path().join("oidc-keys.json");
        let first = load_rotated(&path, &[SigningAlg::Rs256], 1_000, 0).expect("first");
        // Eight instances start at once after the rotation is due: one rotates, the others
        // find it done.
        let kids: Vec<Vec<String>> = std::thread::scope(|scope| {
            let runs: Vec<_> = (0..8)
                .map(|_| {
                    scope.spawn(|| {
                        load_rotated(&path, &[SigningAlg::Rs256], 1_000, 1_500)
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
        assert_eq!(file.len(), 2, "one new key, the previous kept: {file:?}");
        assert!(file.contains(&first[0].kid));
        for k in kids {
            assert_eq!(k, file, "every instance signs with the file's keys");
        }
    }
}
