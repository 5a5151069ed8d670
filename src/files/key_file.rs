//! A file of signing keys (the assertion keys', the OpenID Connect provider's): JSON read
//! only from a file nobody else may write or read (`private_file::Guard::GroupSecret`),
//! with no repeated field, written atomically at 0600, and read, rotated and written under
//! an exclusive `flock` of `<file>.lock`, so instances sharing one key file rotate it one at
//! a time and each signs with the keys the file (and so every instance's JWKS) has.
//!
//! A file that exists but cannot be read whole is an error, never replaced: relying parties
//! and upstreams may hold tokens its keys signed.

use std::path::{Path, PathBuf};

use serde::de::DeserializeOwned;
use serde::Serialize;

use crate::files::private_file::{self, Guard, ReadError};

/// The most a key file may hold: a few keys of a few kilobytes each.
const LIMIT: u64 = 1 << 20;

/// Why a key file could not be read or written.
#[derive(Debug, thiserror::Error)]
pub enum KeyFileError {
    /// Reading, writing or locking the file failed.
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
        reason: ReadError,
    },
    /// The file is not a key file of this kind.
    #[error("{path}: not {kind}: {reason}")]
    Format {
        /// The file.
        path: PathBuf,
        /// What it should have been ("an assertion key file").
        kind: &'static str,
        /// Why.
        reason: String,
    },
}

impl KeyFileError {
    /// The file it is about.
    pub fn path(&self) -> &Path {
        match self {
            KeyFileError::Io { path, .. }
            | KeyFileError::Unsafe { path, .. }
            | KeyFileError::Format { path, .. } => path,
        }
    }

    /// A format error about `path`, a file of `kind`.
    pub fn format(path: &Path, kind: &'static str, reason: impl Into<String>) -> KeyFileError {
        KeyFileError::Format {
            path: path.into(),
            kind,
            reason: reason.into(),
        }
    }

    /// What an operator does about a key file the gateway refused to start over; `holders`
    /// names who may hold tokens its keys signed.
    pub fn way_out(&self, holders: &str) -> String {
        let p = self.path().display();
        format!(
            "qrgate does not replace a key file it cannot read: {holders} may hold tokens its \
             keys signed. Make {p} readable again, or move it aside to start with new keys: \
             mv {p} {p}.unread"
        )
    }
}

/// A key file's contents: its entries, newest first. Unknown fields are refused, not dropped
/// by the next rotation.
#[derive(Serialize, serde::Deserialize)]
#[serde(deny_unknown_fields)]
struct Keys<E> {
    keys: Vec<E>,
}

/// The entries of the key file at `path` (a file of `kind`); none when there is no file yet.
pub fn read_keys<E: DeserializeOwned>(
    path: &Path,
    kind: &'static str,
) -> Result<Vec<E>, KeyFileError> {
    Ok(read::<Keys<E>>(path, kind)?.map_or_else(Vec::new, |f| f.keys))
}

/// Writes `keys` (newest first) as the key file at `path`, atomically, mode 0600.
pub fn write_keys<E: Serialize>(
    path: &Path,
    kind: &'static str,
    keys: Vec<E>,
) -> Result<(), KeyFileError> {
    write(path, kind, &Keys { keys })
}

/// The file at `path` as a `T` (a file of `kind`), or `None` when there is none yet.
pub fn read<T: DeserializeOwned>(
    path: &Path,
    kind: &'static str,
) -> Result<Option<T>, KeyFileError> {
    let text = match private_file::read_guarded(path, Guard::GroupSecret, LIMIT) {
        Ok(Some(t)) => t,
        Ok(None) => return Ok(None),
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
    private_file::json_keys_unique(&text).map_err(|r| KeyFileError::format(path, kind, r))?;
    serde_json::from_str(&text)
        .map(Some)
        .map_err(|e| KeyFileError::format(path, kind, e.to_string()))
}

/// Writes `value` to `path` atomically, mode 0600.
pub fn write<T: Serialize>(path: &Path, kind: &'static str, value: &T) -> Result<(), KeyFileError> {
    let bytes = serde_json::to_vec_pretty(value)
        .map_err(|e| KeyFileError::format(path, kind, e.to_string()))?;
    private_file::write(path, &bytes).map_err(|source| KeyFileError::Io {
        path: path.into(),
        source,
    })
}

/// Runs `step` (read, rotate, write) holding the exclusive lock of `path`'s key file, then
/// removes temporary copies an interrupted write left (under the lock nobody else is
/// writing, so any is a leftover).
pub fn locked<T, E: From<KeyFileError>>(
    path: &Path,
    step: impl FnOnce() -> Result<T, E>,
) -> Result<T, E> {
    let _lock = lock(path).map_err(|source| KeyFileError::Io {
        path: path.into(),
        source,
    })?;
    let out = step()?;
    let leftovers = private_file::remove_leftovers(path);
    if leftovers > 0 {
        tracing::info!(removed = leftovers, path = %path.display(), "removed temporary copies of the key file left by an interrupted write");
    }
    Ok(out)
}

/// An exclusive `flock` of `<path>.lock`, held until dropped (closing the file releases it).
pub struct FileLock(#[allow(dead_code)] std::fs::File);

/// Takes the exclusive lock of the file at `path` (`<path>.lock`, made beside it at 0600),
/// waiting for whoever holds it: processes sharing a file change it one at a time.
pub fn lock(path: &Path) -> std::io::Result<FileLock> {
    FileLock::take(path, None).map_err(|e| match e {
        ReadError::Io(e) => e,
        other => std::io::Error::other(other.to_string()),
    })
}

/// As [`lock`], for a credential's file (a program's token file): the lock is not followed if
/// a symbolic link, and is taken only if `guard` admits it (nobody else may have made it, so
/// nobody else can hold it to stall or order the runs that use the credential).
pub fn lock_guarded(path: &Path, guard: Guard) -> Result<FileLock, ReadError> {
    FileLock::take(path, Some(guard))
}

impl FileLock {
    fn take(path: &Path, guard: Option<Guard>) -> Result<FileLock, ReadError> {
        use std::os::unix::fs::OpenOptionsExt;
        use std::os::unix::io::AsRawFd;
        let mut name = path.as_os_str().to_owned();
        name.push(".lock");
        let file = std::fs::OpenOptions::new()
            .create(true)
            .truncate(false)
            .write(true)
            .mode(0o600)
            .custom_flags(if guard.is_some() { libc::O_NOFOLLOW } else { 0 })
            .open(name)?;
        if let Some(guard) = guard {
            private_file::check_opened(&file, guard)?;
        }
        // SAFETY: flock on a descriptor this function owns; it blocks until the lock is ours.
        if unsafe { libc::flock(file.as_raw_fd(), libc::LOCK_EX) } != 0 {
            return Err(std::io::Error::last_os_error().into());
        }
        Ok(FileLock(file))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::os::unix::fs::PermissionsExt;

    #[derive(serde::Deserialize, serde::Serialize, Debug, PartialEq)]
    struct Keys {
        keys: Vec<String>,
    }

    #[test]
    fn a_file_that_cannot_be_read_whole_is_an_error_and_left_as_it_was() {
        let dir = tempfile::tempdir().expect("dir");
        let path = dir.path().join("keys.json");
        assert!(read::<Keys>(&path, "a test key file")
            .expect("none")
            .is_none());
        let repeated = br#"{"keys": ["a"], "keys": ["b"]}"#;
        std::fs::write(&path, repeated).expect("write");
        std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o600)).expect("mode");
        let e = read::<Keys>(&path, "a test key file").expect_err("repeated field");
        assert!(matches!(e, KeyFileError::Format { .. }), "{e}");
        assert!(e.to_string().contains("not a test key file"), "{e}");
        assert!(e.way_out("upstreams").contains(".unread"));
        assert_eq!(std::fs::read(&path).expect("read"), repeated, "untouched");
        std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o644)).expect("mode");
        let e = read::<Keys>(&path, "a test key file").expect_err("open to others");
        assert!(matches!(e, KeyFileError::Unsafe { .. }), "{e}");
    }

    #[test]
    fn a_guarded_lock_is_taken_only_if_nobody_else_could_have_made_it() {
        let dir = tempfile::tempdir().expect("dir");
        let path = dir.path().join("token.json");
        let lock_path = dir.path().join("token.json.lock");
        drop(lock_guarded(&path, Guard::Trusted).expect("made at 0600"));
        let mode = std::fs::metadata(&lock_path)
            .expect("lock")
            .permissions()
            .mode();
        assert_eq!(mode & 0o777, 0o600);
        std::fs::set_permissions(&lock_path, std::fs::Permissions::from_mode(0o620)).expect("mode");
        let e = lock_guarded(&path, Guard::Trusted)
            .err()
            .expect("group-writable");
        assert!(matches!(e, ReadError::Exposed { .. }), "{e}");
        drop(lock(&path).expect("the gateway's own lock is not guarded"));
        std::fs::remove_file(&lock_path).expect("rm");
        let elsewhere = dir.path().join("elsewhere");
        std::os::unix::fs::symlink(&elsewhere, &lock_path).expect("symlink");
        assert!(
            lock_guarded(&path, Guard::Trusted).is_err(),
            "a link is not followed"
        );
        assert!(!elsewhere.exists(), "nor made through");
    }

    #[test]
    fn what_is_written_under_the_lock_reads_back_at_0600() {
        let dir = tempfile::tempdir().expect("dir");
        let path = dir.path().join("keys.json");
        let keys = Keys {
            keys: vec!["k1".into()],
        };
        locked(&path, || write(&path, "a test key file", &keys)).expect("written");
        let mode = std::fs::metadata(&path).expect("meta").permissions().mode() & 0o777;
        assert_eq!(mode, 0o600);
        assert_eq!(
            read::<Keys>(&path, "a test key file").expect("read"),
            Some(keys)
        );
    }
}
