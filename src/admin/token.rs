//! The admin API's bearer token (`[admin] token_file`): where it is read from and the rule
//! that only the gateway's own user may read it. The token can invite a device for any user,
//! so a copy others can read is an account takeover waiting to happen: such a file (or one
//! another user owns, an empty one, one that is not a regular file) is
//! refused at start (`qrgate run`, `qrgate check-config`), by the admin listener on every
//! request (which then answers 401), and by the commands that send it (`qrgate sessions`,
//! `devices`, `invite`).
//!
//! Under systemd the token comes as a credential: with `LoadCredential=admin.token:/etc/…`
//! in the unit, `$CREDENTIALS_DIRECTORY` holds a copy only the service can read, and a
//! credential named as `token_file`'s file name is read instead of `token_file` itself. The
//! operator's commands, run outside the unit, read `token_file`.

use std::path::{Path, PathBuf};

use qrgate_core::config::Config;

/// Why the token could not be used.
#[derive(Debug, thiserror::Error)]
pub enum TokenError {
    /// Group or others have access to the file.
    #[error(
        "{path}: the admin token file is open to group or others (mode {mode:04o}); whoever \
         reads it can enroll a device for any user. Fix: chmod 600 {path} (or make it with \
         `(umask 077; head -c 32 /dev/urandom | base64 > {path})`), or pass it as a systemd \
         credential (LoadCredential=)"
    )]
    Exposed {
        /// The file.
        path: String,
        /// Its permission bits.
        mode: u32,
    },
    /// The file could not be used: not a regular file, owned by another user, too large,
    /// unreadable.
    #[error("{path}: the admin token file cannot be used: {reason}")]
    Unusable {
        /// The file.
        path: String,
        /// Why.
        reason: crate::files::private_file::ReadError,
    },
    /// The file holds no token (an empty token would let nobody in; it is a mistake).
    #[error("{path}: the admin token file is empty. Fix: `(umask 077; head -c 32 /dev/urandom | base64 > {path})`")]
    Empty {
        /// The file.
        path: String,
    },
    /// There is no such file.
    #[error("{path}: no such file")]
    Missing {
        /// The file.
        path: String,
    },
}

/// The most a token file may hold: a token is tens of bytes.
const LIMIT: u64 = 4096;

/// Where the token is read from: a systemd credential of `token_file`'s name if the service
/// manager passed one, else `token_file`. Also whether it is a credential.
fn source(token_file: &Path) -> (PathBuf, bool) {
    if let (Some(dir), Some(name)) = (
        std::env::var_os("CREDENTIALS_DIRECTORY"),
        token_file.file_name(),
    ) {
        let credential = Path::new(&dir).join(name);
        if credential.is_file() {
            return (credential, true);
        }
    }
    (token_file.to_path_buf(), false)
}

/// The token `token_file` names, read only if only its owner (the gateway's user, or root)
/// may read it, and it is a regular file of a token's size (a systemd credential is private
/// to its service by construction). Surrounding whitespace is not part of it.
pub fn read(token_file: &Path) -> Result<String, TokenError> {
    read_as(token_file, crate::files::private_file::Guard::Secret)
}

/// The token as the operator's commands read it to send it: as [`read`], except that root
/// may send a token file the gateway's user owns (that user knows the token already).
pub fn read_to_send(token_file: &Path) -> Result<String, TokenError> {
    read_as(token_file, crate::files::private_file::Guard::SecretToSend)
}

fn read_as(
    token_file: &Path,
    guard: crate::files::private_file::Guard,
) -> Result<String, TokenError> {
    use crate::files::private_file::{Guard, ReadError};
    let (path, credential) = source(token_file);
    let shown = path.display().to_string();
    let guard = if credential { Guard::Managed } else { guard };
    let text = match crate::files::private_file::read_guarded(&path, guard, LIMIT) {
        Ok(Some(text)) => text,
        Ok(None) => return Err(TokenError::Missing { path: shown }),
        Err(ReadError::Exposed { mode }) => return Err(TokenError::Exposed { path: shown, mode }),
        Err(reason) => {
            return Err(TokenError::Unusable {
                path: shown,
                reason,
            })
        }
    };
    let token = text.trim();
    if token.is_empty() {
        return Err(TokenError::Empty { path: shown });
    }
    Ok(token.to_string())
}

/// At start (`run`, `check-config`): refuses a token file others may read or that cannot be
/// read, and warns about an admin listener others can reach. A token file not made yet is
/// allowed (the API refuses every request until it exists), with a warning.
pub fn check_at_start(config: &Config) -> Result<(), TokenError> {
    if let Some(listen) = &config.admin.listen {
        let loopback = listen
            .parse::<std::net::SocketAddr>()
            .is_ok_and(|a| a.ip().is_loopback());
        if !loopback {
            tracing::warn!(listen = %listen, "the admin listener is not on loopback: metrics, and with [admin] token_file the session and device API, are reachable from the network; bind it to 127.0.0.1 or a management network only");
        }
    }
    let Some(token_file) = &config.admin.token_file else {
        return Ok(());
    };
    match read(token_file) {
        Ok(_) => Ok(()),
        Err(TokenError::Missing { path }) => {
            tracing::warn!(path = %path, "the admin token file does not exist yet: the session and device API refuses every request until it does");
            Ok(())
        }
        Err(e) => Err(e),
    }
}
