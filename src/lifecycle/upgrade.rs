//! Zero-downtime binary upgrade, and the signals that end the process.
//!
//! `SIGUSR2` upgrades in place: the running gateway starts the binary now installed at its
//! own path as its successor (`qrgate run --upgrade`, same config), waits until the
//! successor listens on `[server] upgrade_sock`, and then does what pingora does on
//! `SIGQUIT`: it hands its listening sockets over, keeps accepting for pingora's close
//! timeout (5 s), stops accepting, writes the state file one last time marked as a hand-over
//! ([`crate::lifecycle::state`]), and lets in-flight requests finish within the grace period.
//!
//! The successor holds the sockets but does not accept until it has read that hand-over
//! state, so exactly one process accepts at any moment, connections arriving in between wait
//! in the kernel's accept queue, and every session the old process knew — including ones
//! created seconds before it stopped accepting — is known to the new one. A successor that
//! cannot start (an invalid config, a missing binary) changes nothing: the running process
//! logs why and keeps serving.
//!
//! `SIGQUIT` alone is pingora's own upgrade, for operators who start the successor
//! themselves (`qrgate run --upgrade`); `SIGTERM` drains and exits; `SIGINT` exits at once.

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use async_trait::async_trait;
use pingora::server::{ShutdownSignal, ShutdownSignalWatch};
use tokio::signal::unix::{signal, Signal, SignalKind};

/// How long a successor may take to load its config and listen on the upgrade socket.
const SUCCESSOR_START: Duration = Duration::from_secs(30);

/// Why an upgrade did not happen (the running process keeps serving).
#[derive(Debug, thiserror::Error)]
pub enum UpgradeError {
    /// The successor could not be started at all.
    #[error("cannot start {exe}: {source}")]
    Spawn {
        /// The binary.
        exe: PathBuf,
        /// Why.
        source: std::io::Error,
    },
    /// The successor exited before it was ready (its own log says why).
    #[error("the new process exited before taking over ({0})")]
    Exited(std::process::ExitStatus),
    /// Something not ours is at the upgrade socket's path.
    #[error("{0} is not a socket of this user; not handing the listening sockets over")]
    Foreign(PathBuf),
    /// The successor did not get ready in time and was stopped.
    #[error("the new process did not listen on {0} within 30 s; stopped it")]
    Timeout(PathBuf),
}

/// What a successor is started with.
#[derive(Clone, Debug)]
pub struct Successor {
    /// The binary's path as it was at start: an upgrade replaces the file at this path.
    pub exe: PathBuf,
    /// The config file the successor reads.
    pub config: PathBuf,
    /// Where the successor waits for the listening sockets.
    pub upgrade_sock: PathBuf,
}

impl Successor {
    /// Starts the successor and waits until it waits for our sockets; returns its pid.
    fn start(&self) -> Result<Child, UpgradeError> {
        // A stale socket file would make us hand over to nobody.
        let _ = std::fs::remove_file(&self.upgrade_sock);
        let mut child = Command::new(&self.exe)
            .arg("run")
            .arg("--config")
            .arg(&self.config)
            .arg("--upgrade")
            .stdin(Stdio::null())
            .spawn()
            .map_err(|source| UpgradeError::Spawn {
                exe: self.exe.clone(),
                source,
            })?;
        let deadline = Instant::now() + SUCCESSOR_START;
        loop {
            if let Ok(Some(status)) = child.try_wait() {
                return Err(UpgradeError::Exited(status));
            }
            // Only a socket our own user made: in a shared directory another user could bind
            // the path first, and would be handed the listening sockets.
            if let Ok(meta) = std::fs::symlink_metadata(&self.upgrade_sock) {
                use std::os::unix::fs::{FileTypeExt, MetadataExt};
                // SAFETY: geteuid has no preconditions and cannot fail.
                let me = unsafe { libc::geteuid() };
                if meta.file_type().is_socket() && meta.uid() == me {
                    return Ok(child);
                }
                let _ = child.kill();
                let _ = child.wait();
                return Err(UpgradeError::Foreign(self.upgrade_sock.clone()));
            }
            if Instant::now() >= deadline {
                let _ = child.kill();
                let _ = child.wait();
                return Err(UpgradeError::Timeout(self.upgrade_sock.clone()));
            }
            std::thread::sleep(Duration::from_millis(20));
        }
    }
}

/// Whether this process is handing over to a successor; the state file's last write says so.
#[derive(Clone, Default, Debug)]
pub struct Handover(Arc<AtomicBool>);

impl Handover {
    /// Marks the hand-over as begun.
    pub fn begin(&self) {
        self.0.store(true, Ordering::SeqCst);
    }

    /// Whether a hand-over has begun.
    pub fn begun(&self) -> bool {
        self.0.load(Ordering::SeqCst)
    }
}

/// The signals that end this process, for pingora's main loop.
pub struct Signals {
    successor: Option<Successor>,
    handover: Handover,
}

impl Signals {
    /// Upgrades to `successor` on `SIGUSR2` (none: `SIGUSR2` is ignored), marking `handover`
    /// when an upgrade begins.
    pub fn new(successor: Option<Successor>, handover: Handover) -> Self {
        Self {
            successor,
            handover,
        }
    }
}

fn listen(kind: SignalKind) -> Option<Signal> {
    match signal(kind) {
        Ok(s) => Some(s),
        Err(e) => {
            tracing::error!(error = %e, ?kind, "cannot listen for a signal");
            None
        }
    }
}

/// Waits for a signal that may never come when it could not be listened for.
async fn next(s: &mut Option<Signal>) {
    match s {
        Some(s) => {
            s.recv().await;
        }
        None => std::future::pending().await,
    }
}

#[async_trait]
impl ShutdownSignalWatch for Signals {
    async fn recv(&self) -> ShutdownSignal {
        let mut quit = listen(SignalKind::quit());
        let mut term = listen(SignalKind::terminate());
        let mut int = listen(SignalKind::interrupt());
        let mut usr2 = listen(SignalKind::user_defined2());
        loop {
            tokio::select! {
                _ = next(&mut quit) => {
                    tracing::info!("SIGQUIT: handing the listening sockets to the new process");
                    self.handover.begin();
                    return ShutdownSignal::GracefulUpgrade;
                }
                _ = next(&mut term) => return ShutdownSignal::GracefulTerminate,
                _ = next(&mut int) => return ShutdownSignal::FastShutdown,
                _ = next(&mut usr2) => {
                    let Some(successor) = self.successor.clone() else {
                        tracing::warn!("SIGUSR2: no config file to upgrade with; ignored");
                        continue;
                    };
                    tracing::info!(exe = %successor.exe.display(), "SIGUSR2: starting the new process");
                    let started = tokio::task::spawn_blocking(move || successor.start()).await;
                    match started {
                        Ok(Ok(child)) => {
                            tracing::info!(pid = child.id(), "the new process is ready; handing over");
                            self.handover.begin();
                            return ShutdownSignal::GracefulUpgrade;
                        }
                        Ok(Err(e)) => tracing::error!(error = %e, "upgrade aborted; still serving"),
                        Err(e) => tracing::error!(error = %e, "upgrade aborted; still serving"),
                    }
                }
            }
        }
    }
}

/// The path this binary was started from, for [`Successor::exe`]. Resolved at start: once an
/// upgrade has replaced the file, `/proc/self/exe` names the old, deleted one.
pub fn own_binary() -> Option<PathBuf> {
    let exe = std::env::current_exe().ok()?;
    let text = exe.to_string_lossy();
    Some(match text.strip_suffix(" (deleted)") {
        Some(live) => Path::new(live).to_path_buf(),
        None => exe,
    })
}
