//! Operating the real binary: SIGHUP reloads (identity follows the config, an invalid file
//! changes nothing) and the session state file across a restart.

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::atomic::{AtomicBool, AtomicU32, Ordering};
use std::sync::Arc;
use std::time::Duration;

use serde_json::Value;

use crate::common::{
    client, echoed_headers, eventually, free_port, sign_in_at, sign_in_with, test_pki, Reaped,
    ALICE_KEY_HEX,
};

/// A gateway process from `config.toml` in a temporary directory, in front of a demo
/// upstream of this test.
pub(crate) struct Binary {
    pub(crate) child: Reaped,
    pub(crate) base: String,
    port: u16,
    upstream: u16,
    pub(crate) dir: tempfile::TempDir,
    /// Extra `[server]` keys.
    server: String,
    /// The app's origin.
    origin: String,
    /// `NOTIFY_SOCKET` for the process, as systemd would set it.
    notify: Option<PathBuf>,
}

impl Binary {
    pub(crate) async fn start(session: &str, users: &str) -> Binary {
        Self::start_with("", None, session, users).await
    }

    /// With extra `[server]` keys, and the app on `origin` (default: the plain listener).
    pub(crate) async fn start_with(
        server: &str,
        origin: Option<String>,
        session: &str,
        users: &str,
    ) -> Binary {
        Self::start_full(server, origin, session, users, None).await
    }

    async fn start_full(
        server: &str,
        origin: Option<String>,
        session: &str,
        users: &str,
        notify: Option<PathBuf>,
    ) -> Binary {
        let dir = tempfile::tempdir().expect("dir");
        let up_listener = tokio::net::TcpListener::bind("127.0.0.1:0")
            .await
            .expect("bind");
        let upstream = up_listener.local_addr().expect("addr").port();
        tokio::spawn(qrgate::demo::serve(up_listener));
        let port = free_port();
        let mut b = Binary {
            child: Reaped(Command::new("true").spawn().expect("placeholder")),
            base: format!("http://127.0.0.1:{port}"),
            port,
            upstream,
            dir,
            server: server.to_string(),
            origin: origin.unwrap_or_else(|| format!("http://127.0.0.1:{port}")),
            notify,
        };
        b.write_config(session, users);
        b.child = b.spawn();
        b.wait_up().await;
        b
    }

    pub(crate) fn config_path(&self) -> PathBuf {
        self.dir.path().join("config.toml")
    }

    fn log_path(&self) -> PathBuf {
        self.dir.path().join("gateway.log")
    }

    pub(crate) fn write_config(&self, session: &str, users: &str) {
        let (port, upstream, server, origin) =
            (self.port, self.upstream, &self.server, &self.origin);
        let host = origin.split("://").nth(1).unwrap_or_default();
        let plain = format!("127.0.0.1:{port}");
        let hosts = if host == plain {
            format!("\"{host}\"")
        } else {
            format!("\"{host}\", \"{plain}\"")
        };
        std::fs::write(
            self.config_path(),
            format!(
                "[server]\nlisten = [\"127.0.0.1:{port}\"]\ngrace_period_seconds = 1\n{server}\n\n[session]\n{session}\n\n[[app]]\nname = \"a\"\norigin = \"{origin}\"\nhosts = [{hosts}]\nupstream = \"127.0.0.1:{upstream}\"\n\n{users}"
            ),
        )
        .expect("config");
    }

    pub(crate) fn spawn(&self) -> Reaped {
        self.spawn_env(&[])
    }

    /// [`Binary::spawn`] with extra environment variables.
    pub(crate) fn spawn_env(&self, env: &[(&str, &std::ffi::OsStr)]) -> Reaped {
        let log = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(self.log_path())
            .expect("log");
        let mut cmd = Command::new(env!("CARGO_BIN_EXE_qrgate"));
        cmd.arg("run")
            .arg("--config")
            .arg(self.config_path())
            .env("RUST_LOG", "info")
            .envs(env.iter().copied())
            .stdout(Stdio::null())
            .stderr(log);
        if let Some(socket) = &self.notify {
            cmd.env("NOTIFY_SOCKET", socket);
        }
        Reaped(
            crate::common::in_own_group(&mut cmd)
                .spawn()
                .expect("start gateway"),
        )
    }

    pub(crate) async fn wait_up(&self) {
        let health = format!("{}/.qrgate/healthz", self.base);
        let c = client();
        let up = eventually(Duration::from_secs(20), || {
            let (c, health) = (c.clone(), health.clone());
            // Any answer will do: with redirect_to_https the plain listener answers 308.
            async move {
                c.get(health)
                    .send()
                    .await
                    .is_ok_and(|r| r.status().as_u16() < 500)
            }
        })
        .await;
        assert!(up, "gateway answered its health check: {}", self.log());
    }

    pub(crate) fn signal(&self, sig: &str) {
        let status = Command::new("kill")
            .arg(format!("-{sig}"))
            .arg(self.child.0.id().to_string())
            .status()
            .expect("kill");
        assert!(status.success());
    }

    pub(crate) fn log(&self) -> String {
        std::fs::read_to_string(self.log_path()).unwrap_or_default()
    }

    /// SIGTERM and wait for the process to exit.
    pub(crate) async fn stop(&mut self) {
        self.signal("TERM");
        let exited = eventually(Duration::from_secs(15), || {
            let done = matches!(self.child.0.try_wait(), Ok(Some(_)));
            async move { done }
        })
        .await;
        assert!(exited, "stopped after SIGTERM");
    }
}

pub(crate) fn alice(roles: &str) -> String {
    format!("[[user]]\nname = \"alice\"\nkey = \"ed25519_{ALICE_KEY_HEX}\"\nroles = [{roles}]\n")
}

/// The roles the upstream saw on a request from `b` (None: not let through).
pub(crate) async fn upstream_roles(b: &reqwest::Client, base: &str) -> Option<String> {
    let resp = b
        .get(format!("{base}/app"))
        .header("accept", "application/json")
        .send()
        .await
        .ok()?;
    if resp.status() != 200 {
        return None;
    }
    let echo: Value = resp.json().await.ok()?;
    echoed_headers(&echo)
        .into_iter()
        .find(|(n, _)| n == "x-auth-roles")
        .map(|(_, v)| v)
}

#[tokio::test]
async fn sighup_reloads_identity_into_live_sessions_and_ignores_a_broken_file() {
    let gw = Binary::start("", &alice("\"staff\"")).await;
    let (b, _) = sign_in_at(&gw.base).await;
    assert_eq!(upstream_roles(&b, &gw.base).await.as_deref(), Some("staff"));

    // New roles: the next request carries them, same cookie.
    gw.write_config("", &alice("\"staff\", \"ops\""));
    gw.signal("HUP");
    let base = gw.base.clone();
    let changed = eventually(Duration::from_secs(10), || {
        let (b, base) = (b.clone(), base.clone());
        async move { upstream_roles(&b, &base).await.as_deref() == Some("staff,ops") }
    })
    .await;
    assert!(
        changed,
        "roles changed by a reload show at the next request"
    );

    // A broken file: logged with its line, and the running config keeps serving.
    std::fs::write(
        gw.config_path(),
        "[server]\nlisten = [\"127.0.0.1:1\"]\nthreds = 2\n",
    )
    .expect("write");
    gw.signal("HUP");
    let logged = eventually(Duration::from_secs(10), || {
        let log = gw.log();
        async move { log.contains("config.toml:3:1") && log.contains("threds") }
    })
    .await;
    assert!(
        logged,
        "error with file:line:column in the log: {}",
        gw.log()
    );
    assert_eq!(
        upstream_roles(&b, &gw.base).await.as_deref(),
        Some("staff,ops")
    );

    // The user removed: access ends at the next request.
    gw.write_config("", "");
    gw.signal("HUP");
    let gone = eventually(Duration::from_secs(10), || {
        let (b, base) = (b.clone(), base.clone());
        async move { upstream_roles(&b, &base).await.is_none() }
    })
    .await;
    assert!(gone, "a removed user loses access without a restart");
}

fn mode(path: &Path) -> u32 {
    use std::os::unix::fs::PermissionsExt;
    std::fs::metadata(path)
        .expect("state file")
        .permissions()
        .mode()
        & 0o777
}

#[tokio::test]
async fn sessions_survive_a_restart_through_the_state_file() {
    let mut gw = Binary::start("state_file = \"sessions.json\"", &alice("\"staff\"")).await;
    let (b, token) = sign_in_at(&gw.base).await;
    assert_eq!(upstream_roles(&b, &gw.base).await.as_deref(), Some("staff"));
    gw.stop().await;

    let state = gw.dir.path().join("sessions.json");
    assert_eq!(mode(&state), 0o600, "only the gateway's user reads it");
    let text = std::fs::read_to_string(&state).expect("state");
    assert!(text.contains("\"sessions\""), "{text}");
    // The browser's cookie holds the raw token; the file only its hash.
    assert!(!text.contains(&token), "no raw token in the state file");
    let file: Value = serde_json::from_str(&text).expect("json");
    assert_eq!(file["sessions"].as_array().map(Vec::len), Some(1));
    use base64::Engine;
    use sha2::Digest;
    let expected = base64::engine::general_purpose::URL_SAFE_NO_PAD
        .encode(sha2::Sha256::digest(token.as_bytes()));
    assert_eq!(file["sessions"][0]["hash"], expected.as_str());

    gw.child = gw.spawn();
    gw.wait_up().await;
    assert_eq!(
        upstream_roles(&b, &gw.base).await.as_deref(),
        Some("staff"),
        "the same cookie works after the restart"
    );
    assert!(gw.log().contains("sessions restored"), "{}", gw.log());
}

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

#[tokio::test]
async fn metrics_health_and_a_json_audit_trail_without_secrets() {
    let admin = free_port();
    let tables = format!("\n[admin]\nlisten = \"127.0.0.1:{admin}\"\n\n[log]\nformat = \"json\"\n");
    let gw = Binary::start(&tables, &alice("\"staff\"")).await;
    crate::common::admin_up(admin).await;
    let (b, token) = sign_in_at(&gw.base).await;
    assert_eq!(upstream_roles(&b, &gw.base).await.as_deref(), Some("staff"));
    let out = b
        .post(format!("{}/.qrgate/logout", gw.base))
        .header("origin", &gw.base)
        .header("accept", "application/json")
        .send()
        .await
        .expect("logout");
    assert_eq!(out.status(), 200);

    let c = client();
    let admin_url = |p: &str| format!("http://127.0.0.1:{admin}{p}");
    for p in ["/healthz", "/readyz"] {
        let r = c.get(admin_url(p)).send().await.expect("admin");
        assert_eq!(r.status(), 200, "{p}");
    }
    let metrics = c
        .get(admin_url("/metrics"))
        .send()
        .await
        .expect("metrics")
        .text()
        .await
        .expect("text");
    for needle in [
        "qrgate_logins_total{app=\"a\",event=\"created\",protocol=\"any\"} 1",
        "qrgate_logins_total{app=\"a\",event=\"approved\",protocol=\"native\"} 1",
        "qrgate_logins_total{app=\"a\",event=\"claimed\",protocol=\"any\"} 1",
        "qrgate_requests_total{app=\"a\",class=\"2xx\",decision=\"forwarded\"} 1",
        "qrgate_upstream_seconds_count{app=\"a\"} 1",
        "qrgate_sessions 0",
        "qrgate_build_info",
        "qrgate_config_last_success_seconds",
    ] {
        assert!(metrics.contains(needle), "{needle} in\n{metrics}");
    }
    assert!(!metrics.contains("alice"), "no user names in metrics");
    // Not on the app's origin: there /metrics is just a protected path.
    let on_app = c
        .get(format!("{}/metrics", gw.base))
        .header("accept", "application/json")
        .send()
        .await
        .expect("app");
    assert_eq!(on_app.status(), 401);

    // The audit trail: JSON lines with the facts, never the token.
    let log = gw.log();
    let events: Vec<Value> = log
        .lines()
        .filter_map(|l| serde_json::from_str::<Value>(l).ok())
        .filter(|v| v["target"] == "audit")
        .collect();
    let find = |name: &str| {
        events
            .iter()
            .find(|e| e["event"] == name)
            .unwrap_or_else(|| panic!("no {name} event in {log}"))
            .clone()
    };
    let approved = find("approved");
    assert_eq!(approved["protocol"], "native");
    assert_eq!(approved["user"], "alice");
    assert_eq!(approved["client_ip"], "127.0.0.1");
    assert!(approved["attempt"]
        .as_str()
        .is_some_and(|a| a.starts_with("sess_")));
    let login = find("login");
    assert_eq!(login["app"], "a");
    assert!(login["browser"].as_str().is_some());
    assert_eq!(login["key"], approved["key"]);
    assert_eq!(find("logout")["key"], approved["key"]);
    assert!(
        !log.contains(&token),
        "the session token never reaches the log"
    );
}

#[tokio::test]
async fn the_builtin_demo_app_runs_inside_the_gateway() {
    let port = free_port();
    let dir = tempfile::tempdir().expect("dir");
    let config = dir.path().join("config.toml");
    std::fs::write(
        &config,
        format!(
            "[server]\nlisten = [\"127.0.0.1:{port}\"]\ngrace_period_seconds = 1\n\n[[app]]\nname = \"Demo app\"\norigin = \"http://127.0.0.1:{port}\"\nupstream = \"builtin:demo\"\npublic_paths = [\"/public/\"]\n\n{}",
            alice("\"staff\"")
        ),
    )
    .expect("config");
    let log = dir.path().join("log");
    let _child = Reaped(
        Command::new(env!("CARGO_BIN_EXE_qrgate"))
            .args(["run", "--config"])
            .arg(&config)
            .stderr(std::fs::File::create(&log).expect("log"))
            .spawn()
            .expect("start"),
    );
    let base = format!("http://127.0.0.1:{port}");
    let c = client();
    let served = eventually(Duration::from_secs(20), || {
        let (c, url) = (c.clone(), format!("{base}/public/hello"));
        async move {
            match c.get(url).header("accept", "application/json").send().await {
                Ok(r) if r.status() == 200 => r
                    .json::<Value>()
                    .await
                    .is_ok_and(|v| v["uri"] == "/public/hello"),
                _ => false,
            }
        }
    })
    .await;
    assert!(served, "the demo app answers behind the gateway");
    let (b, _) = sign_in_at(&base).await;
    assert_eq!(upstream_roles(&b, &base).await.as_deref(), Some("staff"));
    let text = std::fs::read_to_string(&log).expect("log");
    assert!(
        text.contains(&format!("open {base}/")),
        "the start says what to open: {text}"
    );
}

fn trusting(ca_pem: &str, cookies: bool) -> reqwest::Client {
    let ca = reqwest::Certificate::from_pem(ca_pem.as_bytes()).expect("ca");
    reqwest::Client::builder()
        .add_root_certificate(ca)
        .tls_built_in_root_certs(false)
        .cookie_store(cookies)
        .redirect(reqwest::redirect::Policy::none())
        .timeout(Duration::from_secs(20))
        .build()
        .expect("client")
}

#[tokio::test]
async fn https_with_http2_login_proxying_hsts_and_a_certificate_swapped_by_reload() {
    let tls = free_port();
    let dir = tempfile::tempdir().expect("pki dir");
    let (ca1, chain1, key1) = test_pki("one");
    let (cert, key) = (dir.path().join("cert.pem"), dir.path().join("key.pem"));
    std::fs::write(&cert, &chain1).expect("cert");
    std::fs::write(&key, &key1).expect("key");
    let server = format!(
        "tls_listen = [\"127.0.0.1:{tls}\"]\ntls_cert = \"{}\"\ntls_key = \"{}\"\nredirect_to_https = true",
        cert.display(),
        key.display()
    );
    let origin = format!("https://127.0.0.1:{tls}");
    let gw = Binary::start_with(&server, Some(origin.clone()), "", &alice("\"staff\"")).await;

    // A login and a proxied request, all over HTTPS, HTTP/2 where the client offers it.
    let browser = trusting(&ca1, true);
    let (b, _) = sign_in_with(&origin, browser, trusting(&ca1, false)).await;
    let resp = b
        .get(format!("{origin}/app"))
        .header("accept", "application/json")
        .send()
        .await
        .expect("https");
    assert_eq!(resp.status(), 200);
    assert_eq!(resp.version(), reqwest::Version::HTTP_2, "HTTP/2 by ALPN");
    assert_eq!(
        resp.headers()
            .get("strict-transport-security")
            .map(|v| v.as_bytes()),
        Some(&b"max-age=31536000"[..])
    );
    let echo: Value = resp.json().await.expect("echo");
    assert!(echoed_headers(&echo).contains(&("x-forwarded-proto".into(), "https".into())));

    // A waiting page over HTTPS/1.1: its event stream (served beside pingora) carries HSTS
    // like every other answer over TLS.
    let ca = reqwest::Certificate::from_pem(ca1.as_bytes()).expect("ca");
    let h1 = reqwest::Client::builder()
        .add_root_certificate(ca)
        .tls_built_in_root_certs(false)
        .http1_only()
        .timeout(Duration::from_secs(20))
        .build()
        .expect("client");
    let (id, cookie) = crate::common::create_attempt(&h1, &origin).await;
    let mut events = h1
        .get(format!("{origin}/.qrgate/auth/session/{id}/events"))
        .header("cookie", &cookie)
        .header("accept", "text/event-stream")
        .send()
        .await
        .expect("events");
    assert_eq!(events.status(), 200);
    assert_eq!(events.version(), reqwest::Version::HTTP_11);
    assert_eq!(events.headers()["content-type"], "text/event-stream");
    assert_eq!(
        events.headers()["strict-transport-security"],
        "max-age=31536000"
    );
    let first = events.chunk().await.expect("frame").expect("a first frame");
    assert!(String::from_utf8_lossy(&first).starts_with("event: pending"));
    drop(events);

    // Plain HTTP for the https app: 308 to the same path on the https origin.
    let plain = client()
        .get(format!("{}/docs?x=1", gw.base))
        .header("host", format!("127.0.0.1:{tls}"))
        .send()
        .await
        .expect("plain");
    assert_eq!(plain.status(), 308);
    assert_eq!(
        plain.headers()["location"],
        format!("{origin}/docs?x=1").as_str()
    );

    // A new certificate from another CA: after SIGHUP, new handshakes use it.
    let (ca2, chain2, key2) = test_pki("two");
    std::fs::write(&cert, &chain2).expect("cert");
    std::fs::write(&key, &key2).expect("key");
    gw.signal("HUP");
    let health = format!("{origin}/.qrgate/healthz");
    let swapped = eventually(Duration::from_secs(10), || {
        let (c, url) = (trusting(&ca2, false), health.clone());
        async move { c.get(url).send().await.is_ok_and(|r| r.status() == 200) }
    })
    .await;
    assert!(swapped, "the reloaded certificate is served");
    assert!(
        trusting(&ca1, false).get(&health).send().await.is_err(),
        "the old certificate is gone"
    );
}

#[test]
fn the_systemd_unit_verifies_and_is_sandboxed() {
    let unit = std::fs::read_to_string(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/deploy/qrgate.service"
    ))
    .expect("unit");
    for key in [
        "DynamicUser=yes",
        "ProtectSystem=strict",
        "StateDirectory=qrgate",
        "ExecReload=/bin/kill -HUP $MAINPID",
        "NoNewPrivileges=yes",
        // The upgrade's new process tells systemd it is the main one now.
        "Type=notify",
        "NotifyAccess=all",
        // The admin token reaches the dynamic user as a credential only it can read.
        "LoadCredential=admin.token:/etc/qrgate/admin.token",
    ] {
        assert!(unit.contains(key), "{key}");
    }
    // Verified against the binary this test suite built.
    let dir = tempfile::tempdir().expect("dir");
    let path = dir.path().join("qrgate.service");
    std::fs::write(
        &path,
        unit.replace("/usr/local/bin/qrgate", env!("CARGO_BIN_EXE_qrgate")),
    )
    .expect("write");
    let out = Command::new("systemd-analyze")
        .arg("verify")
        .arg(&path)
        .output()
        .expect("systemd-analyze (the test command installs systemd)");
    let said = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(out.status.success(), "{said}");
    assert!(
        !said.contains(path.to_str().unwrap_or("qrgate.service")),
        "no complaint about the unit: {said}"
    );
}

#[tokio::test]
async fn operators_list_and_revoke_sessions_through_the_admin_api_and_the_cli() {
    let admin = free_port();
    let gw = Binary::start(
        "",
        &format!(
            "{}\n[admin]\nlisten = \"127.0.0.1:{admin}\"\ntoken_file = \"admin.token\"\n",
            alice("\"staff\"")
        ),
    )
    .await;
    crate::common::write_private(&gw.dir.path().join("admin.token"), "s3cret-admin-token\n");
    crate::common::admin_up(admin).await;
    let (b1, t1) = sign_in_at(&gw.base).await;
    let (b2, t2) = sign_in_at(&gw.base).await;
    let api = format!("http://127.0.0.1:{admin}/sessions");
    let c = client();

    for auth in [None, Some("Bearer wrong"), Some("s3cret-admin-token")] {
        let mut req = c.get(&api);
        if let Some(a) = auth {
            req = req.header("authorization", a);
        }
        let r = req.send().await.expect("answer");
        assert_eq!(r.status(), 401, "{auth:?}");
        assert_eq!(r.headers()["www-authenticate"], "Bearer");
    }
    let bearer = "Bearer s3cret-admin-token";
    let bad = c
        .get(format!("{api}?usr=alice"))
        .header("authorization", bearer)
        .send()
        .await
        .expect("answer");
    assert_eq!(bad.status(), 400);

    let listed = c
        .get(format!("{api}?user=alice"))
        .header("authorization", bearer)
        .send()
        .await
        .expect("list");
    assert_eq!(listed.status(), 200);
    let text = listed.text().await.expect("body");
    assert!(
        !text.contains(&t1) && !text.contains(&t2),
        "no token in a list"
    );
    let body: Value = serde_json::from_str(&text).expect("json");
    let sessions = body["sessions"].as_array().expect("sessions");
    assert_eq!(sessions.len(), 2, "{text}");
    for s in sessions {
        assert_eq!(s["user"], "alice");
        assert_eq!(s["app"], "a");
        assert_eq!(s["protocol"], "native");
        assert_eq!(s["client_ip"], "127.0.0.1");
        assert!(s["browser"].as_str().is_some_and(|b| !b.is_empty()), "{s}");
    }

    // The CLI reads the same config: where the API is and the token.
    let cli = |args: &[&str]| {
        let out = Command::new(env!("CARGO_BIN_EXE_qrgate"))
            .arg("sessions")
            .arg("--config")
            .arg(gw.config_path())
            .args(args)
            .output()
            .expect("qrgate sessions");
        (
            out.status.success(),
            format!(
                "{}{}",
                String::from_utf8_lossy(&out.stdout),
                String::from_utf8_lossy(&out.stderr)
            ),
        )
    };
    let (ok, out) = cli(&["list", "--user", "alice"]);
    assert!(ok && out.starts_with("2 session(s)"), "{out}");
    let (ok, out) = cli(&["revoke"]);
    assert!(!ok && out.contains("say which sessions"), "{out}");

    // b1's session by id: b1 is out, b2 still in.
    let session_of = |token: &str| {
        use sha2::Digest;
        hex::encode(&sha2::Sha256::digest(token.as_bytes())[..12])
    };
    let (ok, out) = cli(&["revoke", "--id", &session_of(&t1)]);
    assert!(ok && out.contains("revoked 1 session(s)"), "{out}");
    assert_eq!(upstream_roles(&b1, &gw.base).await, None, "revoked by id");
    assert_eq!(
        upstream_roles(&b2, &gw.base).await.as_deref(),
        Some("staff")
    );

    // Everything of a key (the lost phone), through the API.
    let none = c
        .post(format!("{api}/revoke"))
        .header("authorization", bearer)
        .send()
        .await
        .expect("answer");
    assert_eq!(none.status(), 400, "never everything by accident");
    let key = z32::encode(&hex::decode(ALICE_KEY_HEX).expect("hex"));
    let revoked: Value = c
        .post(format!("{api}/revoke?key={key}"))
        .header("authorization", bearer)
        .send()
        .await
        .expect("revoke")
        .json()
        .await
        .expect("json");
    assert_eq!(revoked["revoked"], 1);
    assert_eq!(upstream_roles(&b2, &gw.base).await, None, "revoked by key");
    let log = gw.log();
    assert_eq!(log.matches("session_revoked").count(), 2, "{log}");
    assert!(log.contains("by=\"operator\""), "{log}");
}

/// The ids of the sessions an admin call lists, sorted.
async fn listed_ids(c: &reqwest::Client, url: String, bearer: &str) -> Vec<String> {
    let body: Value = c
        .get(url)
        .header("authorization", bearer)
        .send()
        .await
        .expect("list")
        .json()
        .await
        .expect("json");
    let mut ids: Vec<String> = body["sessions"]
        .as_array()
        .expect("sessions")
        .iter()
        .filter_map(|s| s["id"].as_str().map(str::to_string))
        .collect();
    ids.sort();
    ids
}

#[tokio::test]
async fn a_user_filter_covers_every_key_of_that_user_and_nobody_elses() {
    use crate::common::{alice_key, browser, sign_in_key};
    use qrgate::signer::{self, Key};
    let admin = free_port();
    let bob = Key::generate();
    let gw = Binary::start(
        "",
        &format!(
            "{}\n[[user]]\nname = \"bob\"\nkey = \"{}\"\nroles = [\"staff\"]\n\n[admin]\nlisten = \"127.0.0.1:{admin}\"\ntoken_file = \"admin.token\"\n",
            alice("\"staff\""),
            bob.public().to_z32()
        ),
    )
    .await;
    crate::common::write_private(&gw.dir.path().join("admin.token"), "s3cret\n");
    crate::common::admin_up(admin).await;
    let (api, bearer, c) = (
        format!("http://127.0.0.1:{admin}"),
        "Bearer s3cret",
        client(),
    );
    // alice's phone from the config, and a device enrolled for her.
    let invited: Value = c
        .post(format!("{api}/invites?user=alice"))
        .header("authorization", bearer)
        .send()
        .await
        .expect("invite")
        .json()
        .await
        .expect("json");
    let device = Key::generate();
    signer::enroll(&c, invited["link"].as_str().expect("link"), &device)
        .await
        .expect("enrolled");
    let id_of = |token: &str| {
        use sha2::Digest;
        hex::encode(&sha2::Sha256::digest(token.as_bytes())[..12])
    };
    let mut hers = Vec::new();
    let mut browsers = Vec::new();
    for key in [&alice_key(), &alice_key(), &device] {
        let (b, token) = sign_in_key(&gw.base, browser(), client(), key).await;
        hers.push(id_of(&token));
        browsers.push(b);
    }
    hers.sort();
    let (bob_browser, bob_token) = sign_in_key(&gw.base, browser(), client(), &bob).await;
    let his = vec![id_of(&bob_token)];

    let list = |query: &str| listed_ids(&c, format!("{api}/sessions?{query}"), bearer);
    assert_eq!(
        list("user=alice").await,
        hers,
        "both her keys, nothing else"
    );
    assert_eq!(list("user=alice&app=a").await, hers);
    assert_eq!(list("user=bob").await, his);
    let device_z = device.public().to_z32();
    assert_eq!(list(&format!("key={device_z}")).await.len(), 1);
    assert!(list(&format!("user=bob&key={device_z}")).await.is_empty());
    assert!(list("user=mallory").await.is_empty());

    let revoked: Value = c
        .post(format!("{api}/sessions/revoke?user=alice"))
        .header("authorization", bearer)
        .send()
        .await
        .expect("revoke")
        .json()
        .await
        .expect("json");
    assert_eq!(revoked["revoked"], 3, "{revoked}");
    for b in &browsers {
        assert_eq!(upstream_roles(b, &gw.base).await, None, "hers all ended");
    }
    assert!(upstream_roles(&bob_browser, &gw.base).await.is_some());
    assert_eq!(list("").await, his, "only bob's is left");
}
