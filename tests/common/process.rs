//! Processes and ports of a test: children reaped however a test ends, free loopback ports
//! no other test or outgoing connection takes, and waiting for an admin listener to answer.

use std::time::Duration;

use super::{client, eventually};

/// A child process killed and reaped when the test ends, however it ends.
pub struct Reaped(pub std::process::Child);

impl Drop for Reaped {
    fn drop(&mut self) {
        // The whole process group, when the child leads one (`in_own_group`): a server's
        // workers (nginx) or successor (an upgrade) would otherwise outlive it, still holding
        // its listening port.
        if let Ok(pid) = i32::try_from(self.0.id()) {
            // SAFETY: kill(2) on the group of a child this guard owns and has not reaped yet;
            // without such a group it fails harmlessly (ESRCH).
            unsafe { libc::kill(-pid, libc::SIGKILL) };
        }
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// `cmd`, to be started as the leader of a process group of its own, so that [`Reaped`] ends
/// whatever it starts with it.
pub fn in_own_group(cmd: &mut std::process::Command) -> &mut std::process::Command {
    use std::os::unix::process::CommandExt;
    cmd.process_group(0)
}

/// A free loopback port (bound once and released).
pub fn free_port() -> u16 {
    use std::sync::atomic::{AtomicU16, Ordering};
    // Ports are handed out below the kernel's ephemeral range, one by one from a counter:
    // a port asked for by one test is never handed to another, and no outgoing connection
    // (whose source port comes from the ephemeral range) can take it before the server that
    // was given it binds. Binding port 0 and releasing it would allow both.
    static NEXT: AtomicU16 = AtomicU16::new(0);
    let (low, high) = ports_below_ephemeral();
    let span = high - low;
    let _ = NEXT.compare_exchange(
        0,
        u16::try_from(std::process::id() % u32::from(span)).unwrap_or(0) + 1,
        Ordering::SeqCst,
        Ordering::SeqCst,
    );
    for _ in 0..span {
        let port = low + NEXT.fetch_add(1, Ordering::SeqCst) % span;
        if std::net::TcpListener::bind(("127.0.0.1", port)).is_ok() {
            return port;
        }
    }
    panic!("no free port in {low}..{high}");
}

/// A range of ports the kernel does not hand out to outgoing connections.
fn ports_below_ephemeral() -> (u16, u16) {
    let range =
        std::fs::read_to_string("/proc/sys/net/ipv4/ip_local_port_range").unwrap_or_default();
    let mut bounds = range
        .split_whitespace()
        .filter_map(|p| p.parse::<u16>().ok());
    let (low, high) = (
        bounds.next().unwrap_or(32768),
        bounds.next().unwrap_or(60999),
    );
    if low >= 12_000 {
        (low - 10_000, low)
    } else {
        (high.saturating_add(1).max(1024), u16::MAX)
    }
}

/// Waits until the admin listener on `port` answers (it may come up after the proxy
/// listeners a test waited for, later still on a loaded machine).
pub async fn admin_up(port: u16) {
    let url = format!("http://127.0.0.1:{port}/healthz");
    let up = eventually(Duration::from_secs(20), || {
        let url = url.clone();
        async move {
            client()
                .get(url)
                .send()
                .await
                .is_ok_and(|r| r.status() == 200)
        }
    })
    .await;
    assert!(up, "the admin listener on port {port} answers");
}
