//! Operating the real binary: SIGHUP reloads (identity follows the config, an invalid file
//! changes nothing) and the session state file across a restart.

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::Duration;

use serde_json::Value;

use crate::common::{
    client, echoed_headers, eventually, free_port, sign_in_at, sign_in_with, test_pki, Reaped,
    ALICE_KEY_HEX,
};

/// A gateway process from `config.toml` in a temporary directory, in front of a demo
/// upstream of this test.
struct Binary {
    child: Reaped,
    base: String,
    port: u16,
    upstream: u16,
    dir: tempfile::TempDir,
    /// Extra `[server]` keys.
    server: String,
    /// The app's origin.
    origin: String,
}

impl Binary {
    async fn start(session: &str, users: &str) -> Binary {
        Self::start_with("", None, session, users).await
    }

    /// With extra `[server]` keys, and the app on `origin` (default: the plain listener).
    async fn start_with(
        server: &str,
        origin: Option<String>,
        session: &str,
        users: &str,
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
        };
        b.write_config(session, users);
        b.child = b.spawn();
        b.wait_up().await;
        b
    }

    fn config_path(&self) -> PathBuf {
        self.dir.path().join("config.toml")
    }

    fn log_path(&self) -> PathBuf {
        self.dir.path().join("gateway.log")
    }

    fn write_config(&self, session: &str, users: &str) {
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

    fn spawn(&self) -> Reaped {
        let log = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(self.log_path())
            .expect("log");
        Reaped(
            Command::new(env!("CARGO_BIN_EXE_qrgate"))
                .arg("run")
                .arg("--config")
                .arg(self.config_path())
                .env("RUST_LOG", "info")
                .stdout(Stdio::null())
                .stderr(log)
                .spawn()
                .expect("start gateway"),
        )
    }

    async fn wait_up(&self) {
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

    fn signal(&self, sig: &str) {
        let status = Command::new("kill")
            .arg(format!("-{sig}"))
            .arg(self.child.0.id().to_string())
            .status()
            .expect("kill");
        assert!(status.success());
    }

    fn log(&self) -> String {
        std::fs::read_to_string(self.log_path()).unwrap_or_default()
    }

    /// SIGTERM and wait for the process to exit.
    async fn stop(&mut self) {
        self.signal("TERM");
        let exited = eventually(Duration::from_secs(15), || {
            let done = matches!(self.child.0.try_wait(), Ok(Some(_)));
            async move { done }
        })
        .await;
        assert!(exited, "stopped after SIGTERM");
    }
}

fn alice(roles: &str) -> String {
    format!("[[user]]\nname = \"alice\"\nkey = \"ed25519_{ALICE_KEY_HEX}\"\nroles = [{roles}]\n")
}

/// The roles the upstream saw on a request from `b` (None: not let through).
async fn upstream_roles(b: &reqwest::Client, base: &str) -> Option<String> {
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
async fn metrics_health_and_a_json_audit_trail_without_secrets() {
    let admin = free_port();
    let tables = format!("\n[admin]\nlisten = \"127.0.0.1:{admin}\"\n\n[log]\nformat = \"json\"\n");
    let gw = Binary::start(&tables, &alice("\"staff\"")).await;
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
