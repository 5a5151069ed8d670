//! Upgrading the real binary in place (`SIGUSR2`): no failed request, no lost session, and an
//! upgrade whose new process cannot start changes nothing.

use std::process::Command;
use std::sync::atomic::{AtomicBool, AtomicU32, Ordering};
use std::sync::Arc;
use std::time::Duration;

use serde_json::Value;

use crate::common::{echoed_headers, eventually, sign_in_at};

use crate::operate::{alice, upstream_roles, Binary};

/// The pid in the first log line carrying `marker`, e.g. the new process's "took over".
fn logged_pid(log: &str, marker: &str) -> Option<u32> {
    let line = log.lines().find(|l| l.contains(marker))?;
    let at = line.find("pid=")? + 4;
    line[at..]
        .split(|c: char| !c.is_ascii_digit())
        .next()?
        .parse()
        .ok()
}

/// Whether a process is gone (or a zombie nobody has reaped yet).
fn gone(pid: u32) -> bool {
    match std::fs::read_to_string(format!("/proc/{pid}/stat")) {
        Err(_) => true,
        Ok(stat) => stat
            .rsplit(')')
            .next()
            .is_some_and(|rest| rest.trim_start().starts_with('Z')),
    }
}

/// The next message to the service manager's notification socket.
async fn notified(socket: &tokio::net::UnixDatagram) -> String {
    let mut buf = [0u8; 512];
    let n = tokio::time::timeout(Duration::from_secs(30), socket.recv(&mut buf))
        .await
        .expect("a notification in time")
        .expect("recv");
    String::from_utf8_lossy(&buf[..n]).into_owned()
}

/// Stops a process this test did not start (the upgrade's successor) when the test ends.
struct Stray(Option<u32>);

impl Drop for Stray {
    fn drop(&mut self) {
        if let Some(pid) = self.0 {
            let _ = Command::new("kill")
                .arg("-KILL")
                .arg(pid.to_string())
                .status();
        }
    }
}

#[tokio::test]
async fn sigusr2_upgrades_in_place_without_a_failed_request_or_a_lost_session() {
    // Stands in for systemd's notification socket (`Type=notify`, `NotifyAccess=all`).
    let manager_dir = tempfile::tempdir().expect("dir");
    let manager_path = manager_dir.path().join("notify");
    let manager = tokio::net::UnixDatagram::bind(&manager_path).expect("notify socket");
    let mut gw = Binary::start_full(
        "upgrade_sock = \"upgrade.sock\"",
        None,
        "state_file = \"sessions.json\"\nstate_interval_seconds = 3600",
        &alice("\"staff\""),
        Some(manager_path),
    )
    .await;
    let old = gw.child.0.id();
    assert_eq!(
        notified(&manager).await,
        format!("MAINPID={old}\nREADY=1\n")
    );
    // Signed in just before the upgrade: only the old process's last write carries it.
    let (b, token) = sign_in_at(&gw.base).await;
    // A login page waiting on the old process.
    let waiting = crate::common::browser();
    let (id, _, _) = crate::common::open_login_at(&gw.base, &waiting, "/").await;
    let mut events = crate::common::Sse::open(
        &waiting,
        format!("{}/.qrgate/auth/session/{id}/events", gw.base),
    )
    .await;
    assert_eq!(events.next().await.map(|e| e.0).as_deref(), Some("pending"));

    // Requests all through the hand-over, each on a new connection.
    let stop = Arc::new(AtomicBool::new(false));
    let served = Arc::new(AtomicU32::new(0));
    let hammer = {
        let (stop, served, base) = (stop.clone(), served.clone(), gw.base.clone());
        let cookie = format!("qrgate_session={token}");
        tokio::spawn(async move {
            let c = reqwest::Client::builder()
                .pool_max_idle_per_host(0)
                .timeout(Duration::from_secs(30))
                .build()
                .expect("client");
            let mut failed = Vec::new();
            while !stop.load(Ordering::SeqCst) {
                let r = c
                    .get(format!("{base}/app"))
                    .header("accept", "application/json")
                    .header("cookie", &cookie)
                    .send()
                    .await;
                let user = match r {
                    Ok(r) if r.status() == 200 => r.json::<Value>().await.ok().and_then(|echo| {
                        echoed_headers(&echo)
                            .into_iter()
                            .find(|(n, _)| n == "x-auth-user")
                            .map(|(_, v)| v)
                    }),
                    Ok(r) => Some(format!("status {}", r.status())),
                    Err(e) => Some(format!("error {e}")),
                };
                match user.as_deref() {
                    Some("alice") => {
                        served.fetch_add(1, Ordering::SeqCst);
                    }
                    other => failed.push(format!("{other:?}")),
                }
                tokio::time::sleep(Duration::from_millis(5)).await;
            }
            failed
        })
    };
    gw.signal("USR2");
    // The old process hands over, stops accepting after pingora's 5 s, drains for 1 s.
    let exited = eventually(Duration::from_secs(40), || {
        let done = matches!(gw.child.0.try_wait(), Ok(Some(_)));
        async move { done }
    })
    .await;
    let log = gw.log();
    let new = Stray(logged_pid(&log, "took over the listening sockets"));
    assert!(exited, "the old process exited: {log}");
    let Some(new_pid) = new.0 else {
        panic!("the new process logged its pid: {log}")
    };
    assert_ne!(new_pid, old);
    assert!(!gone(new_pid), "the new process serves: {log}");
    assert!(log.contains("handed its sessions over"), "{log}");
    assert_eq!(
        notified(&manager).await,
        format!("MAINPID={new_pid}\nREADY=1\n"),
        "the service manager learns the new main process"
    );

    // The waiting login page was told to fetch a fresh code, which the new process serves.
    assert_eq!(events.next().await.map(|e| e.0).as_deref(), Some("expired"));
    let (fresh, _, _) = crate::common::open_login_at(&gw.base, &waiting, "/").await;
    assert_ne!(fresh, id);

    // Keep going on the new process alone for a while, then stop.
    let at_exit = served.load(Ordering::SeqCst);
    let more = eventually(Duration::from_secs(20), || {
        let n = served.load(Ordering::SeqCst);
        async move { n >= at_exit + 20 }
    })
    .await;
    stop.store(true, Ordering::SeqCst);
    let failed = hammer.await.expect("hammer");
    let ok = served.load(Ordering::SeqCst);
    assert!(
        failed.is_empty(),
        "{} of {} requests failed: {failed:?}",
        failed.len(),
        ok as usize + failed.len()
    );
    assert!(more, "the new process served");
    assert!(ok > 100, "requests ran through the hand-over: {ok}");
    // The browser's own pooled client, signed in before the upgrade, still gets in.
    assert_eq!(upstream_roles(&b, &gw.base).await.as_deref(), Some("staff"));

    let _ = Command::new("kill")
        .arg("-TERM")
        .arg(new_pid.to_string())
        .status();
    let stopped = eventually(Duration::from_secs(15), || async move { gone(new_pid) }).await;
    assert!(stopped, "the new process stops on SIGTERM");
}

#[tokio::test]
async fn an_upgrade_whose_new_process_cannot_start_changes_nothing() {
    let gw = Binary::start_with(
        "upgrade_sock = \"upgrade.sock\"",
        None,
        "state_file = \"sessions.json\"",
        &alice("\"staff\""),
    )
    .await;
    let (b, _) = sign_in_at(&gw.base).await;
    std::fs::write(gw.config_path(), "[server]\nlisten = [").expect("break the config");
    gw.signal("USR2");
    let aborted = eventually(Duration::from_secs(30), || {
        let log = gw.log();
        async move { log.contains("upgrade aborted") }
    })
    .await;
    assert!(aborted, "{}", gw.log());
    assert!(
        gw.log().contains("exited before taking over"),
        "{}",
        gw.log()
    );
    assert_eq!(
        upstream_roles(&b, &gw.base).await.as_deref(),
        Some("staff"),
        "the running process still serves, with its sessions"
    );
}
