//! Files only the gateway's own user may read (the session state file, the assertion keys),
//! written so that a reader never sees half of one and a crash never loses a write that was
//! reported done; and read ([`read_guarded`]) only if nobody else could have changed them
//! (the admin token too).

use std::io::Write;
use std::os::unix::fs::OpenOptionsExt;
use std::path::Path;

/// Writes `bytes` to `path` durably: into a new file of mode 0600 beside it, synced, renamed
/// over the old one, then the folder synced (the rename itself is only on disk once the
/// folder is). When this returns `Ok`, a power cut or `kill -9` keeps the new content; when
/// it fails, the old file is untouched and the new one removed.
///
/// The new file's name is this process's own, so two processes writing the same path (an
/// upgrade's two, instances sharing a volume) never rename each other's half-written file
/// into place.
pub fn write(path: &Path, bytes: &[u8]) -> std::io::Result<()> {
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.subsec_nanos());
    let tmp = path.with_extension(format!("{TMP}.{}.{nanos}", std::process::id()));
    let written = (|| {
        let mut f = std::fs::OpenOptions::new()
            .write(true)
            .create_new(true)
            .mode(0o600)
            .open(&tmp)?;
        f.write_all(bytes)?;
        f.sync_all()?;
        drop(f);
        std::fs::rename(&tmp, path)
    })();
    if let Err(e) = written {
        let _ = std::fs::remove_file(&tmp);
        return Err(e);
    }
    sync_folder(path)
}

/// The middle of a temporary file's name: `state.json` is written as `state.tmp.PID.NANOS`.
const TMP: &str = "tmp";

/// A temporary file older than this is a leftover: a write takes well under a second.
const LEFTOVER_AGE: std::time::Duration = std::time::Duration::from_secs(600);

/// Removes temporary files that writes of `path` left behind when the process was killed
/// between creating one and renaming it (each a copy of what the file held then: session
/// hashes, devices since revoked, signing keys). Only this user's regular files named as
/// [`write()`] names them and older than any write takes; returns how many.
pub fn remove_leftovers(path: &Path) -> usize {
    use std::os::unix::fs::MetadataExt;
    let (Some(folder), Some(stem)) = (
        path.parent(),
        path.with_extension(TMP)
            .file_name()
            .map(|n| n.to_os_string()),
    ) else {
        return 0;
    };
    let folder = if folder.as_os_str().is_empty() {
        Path::new(".")
    } else {
        folder
    };
    let Ok(entries) = std::fs::read_dir(folder) else {
        return 0;
    };
    let mut prefix = stem.into_encoded_bytes();
    prefix.push(b'.');
    let mut removed = 0;
    for entry in entries.flatten() {
        let name = entry.file_name();
        let Some(rest) = name.as_encoded_bytes().strip_prefix(prefix.as_slice()) else {
            continue;
        };
        let ours = rest
            .split(|b| *b == b'.')
            .map(|part| !part.is_empty() && part.iter().all(u8::is_ascii_digit))
            .collect::<Vec<bool>>()
            == [true, true];
        // Not followed if a link: only a file of this user's, made by a write, is removed.
        let old = entry.path().symlink_metadata().is_ok_and(|m| {
            m.file_type().is_file()
                && m.uid() == effective_uid()
                && m.modified()
                    .ok()
                    .and_then(|t| t.elapsed().ok())
                    .is_some_and(|age| age > LEFTOVER_AGE)
        });
        if ours && old && std::fs::remove_file(entry.path()).is_ok() {
            removed += 1;
        }
    }
    removed
}

/// Syncs the folder holding `path`, so that a rename into it survives a crash.
fn sync_folder(path: &Path) -> std::io::Result<()> {
    let folder = match path.parent() {
        Some(p) if !p.as_os_str().is_empty() => p,
        _ => Path::new("."),
    };
    std::fs::File::open(folder)?.sync_all()
}

/// What others may do with a file the gateway reads and trusts.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Guard {
    /// It holds a secret (the admin token): only the gateway's own user, or root, may own
    /// it, and nobody else may read or write it.
    Secret,
    /// A secret this process only sends on (the admin token, by the operator's commands):
    /// as [`Guard::Secret`], except that root may send another user's (its owner knows it
    /// already; what matters is that the gateway does not take it from them).
    SecretToSend,
    /// It holds a secret that instances sharing it may read through a group (the assertion
    /// signing keys, given to several instances as a root-owned 0640 file): as
    /// [`Guard::Secret`], but its group may read it.
    GroupSecret,
    /// What it says is believed (the state file's devices map keys to users): only the
    /// gateway's own user, or root, may own it, and nobody else may write it.
    Trusted,
    /// The service manager made it for this service alone (a systemd credential, which may
    /// be root's and shared through an ACL): only its kind and size are checked.
    Managed,
}

/// Why a file the gateway trusts was not read.
#[derive(Debug, thiserror::Error)]
pub enum ReadError {
    /// Opening or reading failed.
    #[error("{0}")]
    Io(#[from] std::io::Error),
    /// A folder, a FIFO, a device …: reading it could block or never end.
    #[error("not a regular file")]
    NotAFile,
    /// Someone else owns it, and so may change it or read it at any time.
    #[error(
        "owned by uid {owner}, not by this process's user (uid {me}) or root: that user can \
         change or read it. Fix: chown {me} on it"
    )]
    Owner {
        /// Its owner.
        owner: u32,
        /// This process's effective user.
        me: u32,
    },
    /// Group or others may read (a secret) or write it.
    #[error("open to group or others (mode {mode:04o}). Fix: chmod 600 on it")]
    Exposed {
        /// Its permission bits.
        mode: u32,
    },
    /// Larger than anything the gateway writes there.
    #[error("larger than {limit} bytes")]
    TooLarge {
        /// The most read.
        limit: u64,
    },
}

/// Reads the text of `path` if `guard` allows the file it opens (`None`: no such file), at
/// most `limit` bytes. The checks are on the file opened, not on the name (which may be
/// swapped a moment later), and opening never waits (a FIFO's open would block until a
/// writer comes).
pub fn read_guarded(path: &Path, guard: Guard, limit: u64) -> Result<Option<String>, ReadError> {
    use std::io::Read;
    let file = match std::fs::OpenOptions::new()
        .read(true)
        .custom_flags(libc::O_NONBLOCK | libc::O_NOCTTY)
        .open(path)
    {
        Ok(f) => f,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
        Err(e) => return Err(e.into()),
    };
    let meta = check_opened(&file, guard)?;
    if meta.len() > limit {
        return Err(ReadError::TooLarge { limit });
    }
    let mut text = String::new();
    // The file may grow after the check: read no more than the limit and one byte.
    file.take(limit.saturating_add(1))
        .read_to_string(&mut text)?;
    if u64::try_from(text.len()).unwrap_or(u64::MAX) > limit {
        return Err(ReadError::TooLarge { limit });
    }
    Ok(Some(text))
}

/// The metadata of `file`, already open, if `guard` admits it: a regular file whose owner
/// and mode are as `guard` asks (checked on the file opened, not on a name that may be
/// swapped a moment later). [`read_guarded`] checks what it reads with it, and a lock file
/// of a credential ([`crate::files::key_file::lock_guarded`]) is checked with it too.
pub fn check_opened(file: &std::fs::File, guard: Guard) -> Result<std::fs::Metadata, ReadError> {
    use std::os::unix::fs::MetadataExt;
    let meta = file.metadata()?;
    if !meta.file_type().is_file() {
        return Err(ReadError::NotAFile);
    }
    allowed(guard, meta.uid(), meta.mode(), effective_uid())?;
    Ok(meta)
}

/// Whether `guard` admits a file of owner `owner` and mode `mode`, read by user `me`.
fn allowed(guard: Guard, owner: u32, mode: u32, me: u32) -> Result<(), ReadError> {
    let others = match guard {
        Guard::Managed => return Ok(()),
        Guard::Secret | Guard::SecretToSend => 0o077,
        Guard::GroupSecret => 0o027,
        Guard::Trusted => 0o022,
    };
    let anyones = guard == Guard::SecretToSend && me == 0;
    if owner != me && owner != 0 && !anyones {
        return Err(ReadError::Owner { owner, me });
    }
    if mode & others != 0 {
        return Err(ReadError::Exposed {
            mode: mode & 0o7777,
        });
    }
    Ok(())
}

fn effective_uid() -> u32 {
    // SAFETY: geteuid has no preconditions and cannot fail.
    unsafe { libc::geteuid() }
}

/// Checks that no JSON object in `text` names a key twice. A parser keeps one of the two
/// (serde_json the last), so the other would be dropped unread, and the next write of the
/// file would destroy what it held (a device written twice by a hand merge, a second
/// `devices` list).
pub fn json_keys_unique(text: &str) -> Result<(), String> {
    serde_json::from_str::<UniqueKeys>(text)
        .map(|_| ())
        .map_err(|e| e.to_string())
}

/// Any JSON value, refused if an object in it repeats a key.
struct UniqueKeys;

impl<'de> serde::Deserialize<'de> for UniqueKeys {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        d.deserialize_any(UniqueKeysVisitor)
    }
}

struct UniqueKeysVisitor;

impl<'de> serde::de::Visitor<'de> for UniqueKeysVisitor {
    type Value = UniqueKeys;

    fn expecting(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
        f.write_str("a JSON value")
    }

    fn visit_bool<E>(self, _: bool) -> Result<UniqueKeys, E> {
        Ok(UniqueKeys)
    }
    fn visit_i64<E>(self, _: i64) -> Result<UniqueKeys, E> {
        Ok(UniqueKeys)
    }
    fn visit_u64<E>(self, _: u64) -> Result<UniqueKeys, E> {
        Ok(UniqueKeys)
    }
    fn visit_f64<E>(self, _: f64) -> Result<UniqueKeys, E> {
        Ok(UniqueKeys)
    }
    fn visit_str<E>(self, _: &str) -> Result<UniqueKeys, E> {
        Ok(UniqueKeys)
    }
    fn visit_unit<E>(self) -> Result<UniqueKeys, E> {
        Ok(UniqueKeys)
    }

    fn visit_seq<A: serde::de::SeqAccess<'de>>(self, mut seq: A) -> Result<UniqueKeys, A::Error> {
        while seq.next_element::<UniqueKeys>()?.is_some() {}
        Ok(UniqueKeys)
    }

    fn visit_map<A: serde::de::MapAccess<'de>>(self, mut map: A) -> Result<UniqueKeys, A::Error> {
        let mut seen = std::collections::HashSet::new();
        while let Some(key) = map.next_key::<String>()? {
            map.next_value::<UniqueKeys>()?;
            if let Some(again) = seen.replace(key) {
                return Err(serde::de::Error::custom(format!(
                    "key `{again}` appears twice"
                )));
            }
        }
        Ok(UniqueKeys)
    }
}
