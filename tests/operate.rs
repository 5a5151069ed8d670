//! Operating the real binary: SIGHUP reloads (identity follows the config, an invalid file
//! changes nothing) and the session state file across a restart.

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::Duration;

use serde_json::Value;

use crate::common::{
    client, echoed_headers, eventually, free_port, sign_in_at, Reaped, ALICE_KEY_HEX,
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

    pub(crate) async fn start_full(
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
        tokio::spawn(qrgate::cli::demo::serve(up_listener));
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
