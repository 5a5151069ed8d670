//! A real OpenID Connect application through the gateway: Matrix Synapse (installed by
//! `scripts/test.sh` into a virtualenv, `QRGATE_SYNAPSE_VENV`) on loopback signs a person in
//! with the gateway as its provider, the reference signer approving; ending the sign-on at the
//! gateway reaches Synapse by back-channel logout and its access token stops working.
//!
//! The test is skipped only when there is no Python at all; with Python, a missing Synapse is
//! a failure that says how to install it.

use std::path::{Path, PathBuf};
use std::time::Duration;

use serde_json::{json, Value};

use crate::common::{eventually, free_port, sign_in_at, NAV};
use crate::oidc::{location, sso, sso_gateway, SECRET};

/// The client registered for Synapse, and what its user ids end with.
const CLIENT: &str = "synapse";
const SERVER_NAME: &str = "test.local";
/// Where Synapse sends the browser with its login token: never fetched, only matched
/// against `sso.client_whitelist` (which skips the "Continue" page).
const DONE: &str = "http://127.0.0.1:9/done";

/// The virtualenv holding `matrix-synapse[oidc]`.
fn synapse_venv() -> PathBuf {
    if let Some(v) = std::env::var_os("QRGATE_SYNAPSE_VENV") {
        return PathBuf::from(v);
    }
    let cache = std::env::var_os("XDG_CACHE_HOME")
        .map(PathBuf::from)
        .or_else(|| std::env::var_os("HOME").map(|h| PathBuf::from(h).join(".cache")))
        .unwrap_or_else(|| PathBuf::from("/tmp"));
    cache.join("qrgate/synapse-venv")
}

fn python_present() -> bool {
    std::process::Command::new("python3")
        .arg("--version")
        .output()
        .is_ok_and(|o| o.status.success())
}

/// A running Synapse, stopped when dropped.
struct Synapse {
    child: tokio::process::Child,
    base: String,
    log: PathBuf,
    _dir: tempfile::TempDir,
}

impl Synapse {
    /// Writes the homeserver config for provider `issuer` and starts Synapse on `port` (not
    /// waiting for it).
    fn spawn_on(python: &Path, issuer: &str, port: u16) -> Synapse {
        let dir = tempfile::tempdir().expect("dir");
        let base = format!("http://127.0.0.1:{port}");
        let d = dir.path().display();
        let key = base64::Engine::encode(
            &base64::engine::general_purpose::STANDARD_NO_PAD,
            qrgate_core::random_bytes::<32>(),
        );
        std::fs::write(
            dir.path().join("signing.key"),
            format!("ed25519 a_test {key}\n"),
        )
        .expect("signing key");
        std::fs::write(
            dir.path().join("homeserver.yaml"),
            homeserver_yaml(port, &d.to_string(), issuer),
        )
        .expect("config");
        // Synapse logs to stderr when no log config is given.
        let log = dir.path().join("synapse.log");
        let mut cmd = tokio::process::Command::new(python);
        cmd.args(["-m", "synapse.app.homeserver", "-c"])
            .arg(dir.path().join("homeserver.yaml"))
            .current_dir(dir.path())
            .stdin(std::process::Stdio::null())
            .stdout(std::process::Stdio::null())
            .stderr(std::fs::File::create(&log).expect("log"))
            .kill_on_drop(true);
        for v in [
            "http_proxy",
            "https_proxy",
            "HTTP_PROXY",
            "HTTPS_PROXY",
            "all_proxy",
            "ALL_PROXY",
            "no_proxy",
            "NO_PROXY",
        ] {
            cmd.env_remove(v);
        }
        let child = cmd.spawn().expect("synapse starts");
        Synapse {
            child,
            base,
            log,
            _dir: dir,
        }
    }

    /// Waits until `/health` answers 200 (deadline), or fails with Synapse's log.
    async fn ready(&mut self) {
        let c = crate::common::client();
        let up = eventually(Duration::from_secs(90), || async {
            c.get(format!("{}/health", self.base))
                .send()
                .await
                .is_ok_and(|r| r.status() == 200)
        })
        .await;
        if !up {
            let exited = self.child.try_wait().ok().flatten();
            panic!(
                "Synapse did not come up (exit {exited:?}):\n{}",
                self.tail()
            );
        }
    }

    fn tail(&self) -> String {
        let text = std::fs::read_to_string(&self.log).unwrap_or_default();
        let lines: Vec<&str> = text.lines().collect();
        lines[lines.len().saturating_sub(40)..].join("\n")
    }
}

/// The homeserver config: SQLite, no federation, password login off, the gateway as its only
/// OpenID Connect provider with back-channel logout.
fn homeserver_yaml(port: u16, dir: &str, issuer: &str) -> String {
    format!(
        r#"server_name: "{SERVER_NAME}"
public_baseurl: "http://127.0.0.1:{port}/"
pid_file: "{dir}/homeserver.pid"
listeners:
  - port: {port}
    bind_addresses: ["127.0.0.1"]
    type: http
    tls: false
    x_forwarded: false
    resources:
      - names: [client]
        compress: false
database:
  name: sqlite3
  args:
    database: "{dir}/homeserver.db"
media_store_path: "{dir}/media_store"
signing_key_path: "{dir}/signing.key"
report_stats: false
macaroon_secret_key: "test-macaroon-secret-0123456789abcdef"
form_secret: "test-form-secret-0123456789abcdef"
enable_registration: false
password_config:
  enabled: false
trusted_key_servers: []
suppress_key_server_warning: true
federation_domain_whitelist: []
presence:
  enabled: false
rc_login:
  address: {{per_second: 1000, burst_count: 1000}}
  account: {{per_second: 1000, burst_count: 1000}}
  failed_attempts: {{per_second: 1000, burst_count: 1000}}
sso:
  client_whitelist:
    - "http://127.0.0.1:9/"
oidc_providers:
  - idp_id: qrgate
    idp_name: "QR login"
    issuer: "{issuer}"
    client_id: "{CLIENT}"
    client_secret: "{SECRET}"
    client_auth_method: client_secret_basic
    scopes: ["openid", "profile", "email"]
    pkce_method: always
    user_profile_method: userinfo_endpoint
    backchannel_logout_enabled: true
    user_mapping_provider:
      config:
        subject_claim: "sub"
        localpart_template: "{{{{ user.preferred_username }}}}"
        display_name_template: "{{{{ user.name }}}}"
"#
    )
}

async fn whoami(base: &str, access: &str) -> (u16, Value) {
    let resp = crate::common::client()
        .get(format!("{base}/_matrix/client/v3/account/whoami"))
        .bearer_auth(access)
        .send()
        .await
        .expect("whoami");
    let status = resp.status().as_u16();
    (status, resp.json().await.unwrap_or(Value::Null))
}

#[tokio::test]
async fn synapse_signs_in_through_the_gateway_and_is_signed_out_by_back_channel() {
    if !python_present() {
        eprintln!("skipped: no python3 on this machine, Synapse cannot run");
        return;
    }
    let venv = synapse_venv();
    let python = venv.join("bin/python");
    assert!(
        python.exists(),
        "Synapse is not installed in {}: run scripts/test.sh, or python3 -m venv {0} && {0}/bin/pip install 'matrix-synapse[oidc]'",
        venv.display()
    );
    let started = std::time::Instant::now();
    // Synapse's port is known before it starts: the client is registered with it.
    let port = free_port();
    let hs = format!("http://127.0.0.1:{port}");
    let hash = hex::encode(<sha2::Sha256 as sha2::Digest>::digest(SECRET.as_bytes()));
    let (gw, _dir) = sso_gateway(&format!(
        "\n[[oidc_client]]\nid = \"{CLIENT}\"\nname = \"Matrix\"\nsecret_hash = \"{hash}\"\nredirect_uris = [\"{hs}/_synapse/client/oidc/callback\"]\nbackchannel_logout_uri = \"{hs}/_synapse/client/oidc/backchannel_logout\"\n"
    ))
    .await;
    let mut synapse = Synapse::spawn_on(&python, &sso(&gw), port);
    // The person signs in at the SSO origin while Synapse starts.
    let (b, _) = sign_in_at(&sso(&gw)).await;
    synapse.ready().await;
    eprintln!("Synapse up after {:?}", started.elapsed());

    // Synapse's SSO redirect, the gateway's authorization (already signed in: straight back
    // with a code), Synapse's callback (code exchange, ID token, userinfo).
    let (status, authorize) = location(
        &b,
        &format!(
            "{hs}/_matrix/client/v3/login/sso/redirect/oidc-qrgate?redirectUrl={}",
            url::form_urlencoded::byte_serialize(DONE.as_bytes()).collect::<String>()
        ),
    )
    .await;
    assert_eq!(status, 302, "{}", synapse.tail());
    assert!(
        authorize.starts_with(&format!("{}/.qrgate/oidc/authorize?", sso(&gw))),
        "{authorize}"
    );
    let (status, callback) = location(&b, &authorize).await;
    assert_eq!(status, 302);
    assert!(
        callback.starts_with(&format!("{hs}/_synapse/client/oidc/callback?")),
        "{callback}"
    );
    let resp = b
        .get(&callback)
        .header("accept", NAV)
        .send()
        .await
        .expect("callback");
    let done = resp
        .headers()
        .get("location")
        .and_then(|l| l.to_str().ok())
        .unwrap_or_default()
        .to_string();
    assert_eq!(
        resp.status(),
        302,
        "{}\n{}",
        resp.text().await.unwrap_or_default(),
        synapse.tail()
    );
    let login_token = crate::oidc::params(&done)
        .get("loginToken")
        .cloned()
        .unwrap_or_else(|| panic!("no loginToken in {done}"));
    let resp = crate::common::client()
        .post(format!("{hs}/_matrix/client/v3/login"))
        .json(&json!({"type": "m.login.token", "token": login_token}))
        .send()
        .await
        .expect("login");
    assert_eq!(resp.status(), 200);
    let login: Value = resp.json().await.expect("json");
    let access = login["access_token"].as_str().expect("access token");
    let (status, me) = whoami(&hs, access).await;
    assert_eq!(status, 200, "{me}");
    assert_eq!(
        me["user_id"],
        format!("@alice:{SERVER_NAME}"),
        "mapped from preferred_username"
    );
    eprintln!("signed in to Synapse after {:?}", started.elapsed());

    // Signing out on the SSO origin's own page ends the sign-on; Synapse hears it by
    // back-channel and its access token stops working.
    let resp = b
        .post(format!("{}/.qrgate/oidc/logout", sso(&gw)))
        .header("origin", sso(&gw))
        .header("accept", NAV)
        .form(&[("client_id", CLIENT)])
        .send()
        .await
        .expect("logout");
    assert_eq!(resp.status(), 200);
    let ended = eventually(Duration::from_secs(20), || async {
        whoami(&hs, access).await.0 == 401
    })
    .await;
    assert!(
        ended,
        "Synapse still accepts the token:\n{}",
        synapse.tail()
    );
    assert_eq!(
        gw.state
            .metrics()
            .backchannel
            .with_label_values(&[CLIENT, "ok"])
            .get(),
        1,
        "Synapse answered the logout token with 200"
    );
    eprintln!("signed out of Synapse after {:?}", started.elapsed());
}
