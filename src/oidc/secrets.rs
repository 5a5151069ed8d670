//! Client secrets given as files (`[[oidc_client]] secret_file`): read when the config is
//! loaded (at start and on every reload) and kept as their SHA-256 only, like `secret_hash`.
//! The file must be the gateway's own and unreadable by others
//! (its group may read it, for instances sharing it: [`crate::files::private_file::Guard::GroupSecret`]); a missing, unsafe or empty one fails the load.

use sha2::{Digest, Sha256};

use qrgate_core::config::{Config, ConfigError, SecretHash};

use crate::files::private_file::Guard;

/// The most a secret file may hold.
const LIMIT: u64 = 4096;

/// Fills in the hash of every client secret given as a file.
pub fn resolve(config: &mut Config) -> Result<(), ConfigError> {
    for client in &mut config.oidc_clients {
        let Some(path) = &client.secret_file else {
            continue;
        };
        let fail = |message: String| ConfigError::Invalid {
            path: path.clone(),
            line: 1,
            column: 1,
            key: format!("oidc_client {:?} secret_file", client.id),
            message,
        };
        let text = match crate::files::private_file::read_guarded(path, Guard::GroupSecret, LIMIT) {
            Ok(Some(t)) => t,
            Ok(None) => return Err(fail("the file does not exist".into())),
            Err(e) => return Err(fail(e.to_string())),
        };
        let secret = text.trim();
        if secret.len() < 16 {
            return Err(fail(
                "a client secret has at least 16 characters (generate one: openssl rand -hex 32)"
                    .into(),
            ));
        }
        client.secret = Some(SecretHash(Sha256::digest(secret.as_bytes()).into()));
    }
    Ok(())
}
