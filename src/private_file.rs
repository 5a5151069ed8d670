//! Files only the gateway's own user may read (the session state file, the assertion keys),
//! written so that a reader never sees half of one and a crash never loses a write that was
//! reported done.

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
    let tmp = path.with_extension(format!("tmp.{}.{nanos}", std::process::id()));
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

/// Syncs the folder holding `path`, so that a rename into it survives a crash.
fn sync_folder(path: &Path) -> std::io::Result<()> {
    let folder = match path.parent() {
        Some(p) if !p.as_os_str().is_empty() => p,
        _ => Path::new("."),
    };
    std::fs::File::open(folder)?.sync_all()
}
