//! Starting a real gateway + upstream on ephemeral loopback ports, and clients to drive it.

#![allow(dead_code)]

use std::net::SocketAddr;
use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

use qrgate_core::clock::Clock;
use qrgate_core::config::{AppId, Config};
use qrgate_core::gateway::Gateway;
use qrgate_core::raw::TokenHash;
use serde_json::Value;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpListener;
use tokio::sync::watch;

mod process;
pub use process::{admin_up, free_port, in_own_group, Reaped};

/// Tana's public test key (its private half is published, so it is only fit for tests).
pub const ALICE_KEY_HEX: &str = "17956be6b8d4af0841d05ee4099a2f6f19a11a733b059f13998b6eff4b2d5660";
pub const ALICE_SECRET_HEX: &str =
    "546e6707e94ae9fbcc5dd2639f282b8220ff1f2ff44d7a9d39e5c3e35c6bbec6";

pub struct TestGateway {
    pub addr: SocketAddr,
    pub upstream: SocketAddr,
    pub state: Arc<Gateway>,
    pub clock: Clock,
    /// For reloads, as SIGHUP would do them.
    pub proxy: qrgate::proxy::Proxy,
    /// The config file's text it started with (edit and parse it to reload).
    pub config_text: String,
    shutdown: watch::Sender<bool>,
}

impl Drop for TestGateway {
    fn drop(&mut self) {
        let _ = self.shutdown.send(true);
    }
}

/// Options for a test gateway.
pub struct Setup {
    /// Extra keys appended to the `[[app]]` table.
    pub app_extra: String,
    /// Extra top-level TOML appended at the end (more users, …); `{gateway_port}` in it
    /// becomes the gateway's port.
    pub tail: String,
    /// `[server]` body.
    pub server: String,
    /// The app's origin (default: the gateway's own address). Its host is also served.
    pub origin: Option<String>,
    /// `[session]` body.
    pub session: String,
    /// `[login]` body.
    pub login: String,
    /// `[limits]` body. The default lifts the per-client rates: every test client is
    /// 127.0.0.1, and the rate tests set their own.
    pub limits: String,
    /// Start an upstream (false: the upstream port is reserved but closed).
    pub upstream_up: bool,
    /// The app's `upstream` value instead of the test's demo upstream.
    pub upstream: Option<String>,
}

impl Default for Setup {
    fn default() -> Self {
        Setup {
            app_extra: "public_paths = [\"/public\"]\n".into(),
            tail: String::new(),
            server: String::new(),
            origin: None,
            session:
                "idle_timeout_seconds = 60\nlifetime_seconds = 600\nsweep_interval_seconds = 1\n"
                    .into(),
            login: String::new(),
            limits: "create_per_minute = 100000\nsigner_per_minute = 100000\nclaim_per_minute = 100000\nverify_per_minute = 100000\npending_per_client = 100000\n".into(),
            upstream_up: true,
            upstream: None,
        }
    }
}

impl TestGateway {
    pub async fn start() -> TestGateway {
        Self::with(Setup::default()).await
    }

    pub async fn with(setup: Setup) -> TestGateway {
        let up_listener = TcpListener::bind("127.0.0.1:0")
            .await
            .expect("bind upstream");
        let upstream = up_listener.local_addr().expect("upstream addr");
        if setup.upstream_up {
            tokio::spawn(qrgate::cli::demo::serve(up_listener));
        } else {
            drop(up_listener);
        }
        let listener = TcpListener::bind("127.0.0.1:0")
            .await
            .expect("bind gateway");
        let addr = listener.local_addr().expect("gateway addr");
        let origin = setup.origin.unwrap_or_else(|| format!("http://{addr}"));
        let origin_host = origin.split("://").nth(1).unwrap_or_default().to_string();
        let hosts = if origin_host == addr.to_string() {
            format!("\"{addr}\"")
        } else {
            format!("\"{origin_host}\", \"{addr}\"")
        };
        let text = format!(
            "[server]\n{server}\n[session]\n{session}\n[login]\n{login}\n[limits]\n{limits}\n[[app]]\nname = \"Test app\"\norigin = \"{origin}\"\nhosts = [{hosts}]\nupstream = \"{upstream}\"\n{extra}\n[[user]]\nname = \"alice\"\nkey = \"ed25519_{ALICE_KEY_HEX}\"\nroles = [\"staff\", \"ops\"]\n{tail}",
            server = setup.server,
            upstream = setup.upstream.unwrap_or_else(|| upstream.to_string()),
            hosts = hosts,
            origin = origin,
            session = setup.session,
            login = setup.login,
            limits = setup.limits,
            extra = setup.app_extra,
            // A second origin on the same listener (e.g. `[sso]`) names the port it gets.
            tail = setup.tail.replace("{gateway_port}", &addr.port().to_string()),
        );
        let config = Config::parse(&text, Path::new("test.toml")).expect("test config is valid");
        let clock = Clock::manual();
        let state = Arc::new(Gateway::new(config, clock.clone()).expect("state"));
        qrgate::files::assertion_keys::install(&state).expect("assertion keys");
        qrgate::oidc::install(&state).expect("OpenID Connect keys");
        qrgate::oidc::backchannel::install(&state).expect("back-channel logout sender");
        let (tx, rx) = watch::channel(false);
        let (app, proxy) =
            qrgate::lifecycle::server::proxy_app(state.clone()).expect("upstream resolves");
        tokio::spawn(qrgate::lifecycle::server::serve(app, listener, rx.clone()));
        let sweep_every = state.settings().config.session.sweep_interval;
        let sweeper = qrgate::lifecycle::sweeper::Sweeper::new(state.clone(), sweep_every);
        tokio::spawn(async move {
            use pingora::services::background::BackgroundService;
            sweeper.start(rx).await;
        });
        TestGateway {
            addr,
            upstream,
            state,
            clock,
            proxy,
            config_text: text,
            shutdown: tx,
        }
    }

    /// Starts shutting down, as SIGTERM would: the listener stops, open connections drain.
    pub fn begin_shutdown(&self) {
        let _ = self.shutdown.send(true);
    }

    pub fn url(&self, path: &str) -> String {
        format!("http://{}{}", self.addr, path)
    }

    /// Starts a session directly through the store API (no HTTP route mints sessions).
    pub async fn mint_session(&self, user_index: usize) -> String {
        let s = self.state.settings();
        let id = s.user_identity(user_index).expect("user exists");
        self.state
            .sessions()
            .create(s.app(AppId::new(0)).key.clone(), id.key, Default::default())
            .await
            .expect("memory store")
            .as_str()
            .to_string()
    }

    /// A live session of user `user_index` whose token has the length tokens had before
    /// session cookies carried the `__Host-` prefix, as the store holds one kept across an
    /// upgrade (imported by its hash, as from a state file).
    pub async fn mint_legacy_session(&self, user_index: usize) -> String {
        use sha2::Digest;
        let s = self.state.settings();
        let id = s.user_identity(user_index).expect("user exists");
        let token: String = (0..qrgate_core::session::LEGACY_TOKEN_LEN)
            .map(|i| {
                char::from(
                    b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_"
                        [(i * 7 + 3) % 64],
                )
            })
            .collect();
        let now = self.clock.now_millis();
        let record = qrgate_core::session::SessionRecord {
            key: id.key,
            app: s.app(AppId::new(0)).key.clone(),
            created_ms: now,
            last_seen_ms: now,
            approved_ms: now,
            meta: Default::default(),
        };
        let hash: [u8; 32] = sha2::Sha256::digest(token.as_bytes()).into();
        self.state
            .sessions()
            .import(vec![(TokenHash::new(hash), record)])
            .await
            .expect("memory store");
        token
    }

    pub fn cookie_name(&self) -> String {
        self.state.settings().config.session.cookie_name.clone()
    }
}

/// A client that follows no redirects (we assert on them).
pub fn client() -> reqwest::Client {
    reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .timeout(Duration::from_secs(20))
        .build()
        .expect("client")
}

/// A raw HTTP/1.1 exchange: sends `head` verbatim (plus `\r\n\r\n`), returns (status, body).
/// For requests a URL-normalizing client would rewrite before sending.
pub async fn raw(addr: SocketAddr, head: &str) -> (u16, String) {
    let mut s = tokio::net::TcpStream::connect(addr).await.expect("connect");
    let req = if head.to_ascii_lowercase().contains("\nconnection:") {
        format!("{head}\r\n\r\n")
    } else {
        format!("{head}\r\nConnection: close\r\n\r\n")
    };
    s.write_all(req.as_bytes()).await.expect("write");
    let mut buf = Vec::new();
    tokio::time::timeout(Duration::from_secs(20), s.read_to_end(&mut buf))
        .await
        .expect("response in time")
        .expect("read");
    let text = String::from_utf8_lossy(&buf).into_owned();
    let status = text
        .split(' ')
        .nth(1)
        .and_then(|s| s.parse().ok())
        .unwrap_or_else(|| panic!("no status line in {text:?}"));
    let body = text
        .split_once("\r\n\r\n")
        .map(|(_, b)| b.to_string())
        .unwrap_or_default();
    (status, body)
}

/// Headers the upstream echoed, as (lowercase name, value).
pub fn echoed_headers(echo: &Value) -> Vec<(String, String)> {
    echo["headers"]
        .as_array()
        .expect("headers array")
        .iter()
        .map(|p| {
            (
                p[0].as_str().unwrap_or_default().to_string(),
                p[1].as_str().unwrap_or_default().to_string(),
            )
        })
        .collect()
}

/// Polls `f` until it returns true or `deadline` passes.
pub async fn eventually<F, Fut>(deadline: Duration, mut f: F) -> bool
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = bool>,
{
    let end = tokio::time::Instant::now() + deadline;
    loop {
        if f().await {
            return true;
        }
        if tokio::time::Instant::now() >= end {
            return false;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

/// A browser stand-in: keeps cookies, follows no redirects.
pub fn browser() -> reqwest::Client {
    reqwest::Client::builder()
        .cookie_store(true)
        .redirect(reqwest::redirect::Policy::none())
        .timeout(Duration::from_secs(30))
        .build()
        .expect("client")
}

pub const NAV: &str = "text/html,application/xhtml+xml,application/xml;q=0.9,*/*;q=0.8";

/// Opens the login page as a browser; returns (attempt id, native payload URL, page html).
pub async fn open_login(
    gw: &TestGateway,
    c: &reqwest::Client,
    rd: &str,
) -> (String, String, String) {
    open_login_at(&gw.url(""), c, rd).await
}

/// [`open_login`] against any gateway base URL (`http://host:port`).
pub async fn open_login_at(base: &str, c: &reqwest::Client, rd: &str) -> (String, String, String) {
    let resp = c
        .get(format!(
            "{base}/.qrgate/login?rd={}",
            url::form_urlencoded::byte_serialize(rd.as_bytes()).collect::<String>()
        ))
        .header("accept", NAV)
        .send()
        .await
        .expect("login page");
    assert_eq!(resp.status(), 200);
    let html = resp.text().await.expect("html");
    let marker = "data-attempt=\"";
    let start = html.find(marker).expect("attempt id on page") + marker.len();
    let id = html[start..].split('"').next().expect("id").to_string();
    let payload = format!("{base}/.qrgate/auth/session/{id}");
    assert!(html.contains(&payload), "native payload shown on the page");
    (id, payload, html)
}

/// Reads from `s` until `text` (all of it so far) contains `marker`, within 10 s; false if the
/// connection ends or the time runs out first.
pub async fn read_until(s: &mut tokio::net::TcpStream, text: &mut String, marker: &str) -> bool {
    let deadline = tokio::time::Instant::now() + Duration::from_secs(10);
    let mut chunk = [0u8; 2048];
    while !text.contains(marker) {
        match tokio::time::timeout_at(deadline, s.read(&mut chunk)).await {
            Ok(Ok(n)) if n > 0 => text.push_str(&String::from_utf8_lossy(&chunk[..n])),
            _ => return false,
        }
    }
    true
}

/// Sends `head` verbatim on a fresh connection and reads as [`read_until`] does: the
/// connection, what was read, and whether `marker` arrived.
pub async fn send_until(
    addr: SocketAddr,
    head: &str,
    marker: &str,
) -> (tokio::net::TcpStream, String, bool) {
    let mut s = tokio::net::TcpStream::connect(addr).await.expect("connect");
    s.write_all(head.as_bytes()).await.expect("write");
    let mut text = String::new();
    let seen = read_until(&mut s, &mut text, marker).await;
    (s, text, seen)
}

/// Starts a login attempt through the JSON API as a fresh browser of `base` (its origin):
/// (attempt id, binding cookie as `name=value`).
pub async fn create_attempt(c: &reqwest::Client, base: &str) -> (String, String) {
    let resp = c
        .post(format!("{base}/.qrgate/auth/session/create"))
        .header("origin", base)
        .send()
        .await
        .expect("create");
    assert_eq!(resp.status(), 201);
    let cookie = resp.headers()["set-cookie"]
        .to_str()
        .expect("cookie")
        .split(';')
        .next()
        .expect("pair")
        .to_string();
    let id = resp.json::<Value>().await.expect("json")["id"]
        .as_str()
        .expect("id")
        .to_string();
    (id, cookie)
}

/// The browser `b` claims attempt `id` on `base` (a JSON claim from the app's origin
/// `origin`).
pub async fn claim_at(
    b: &reqwest::Client,
    base: &str,
    origin: &str,
    id: &str,
) -> reqwest::Response {
    b.post(format!("{base}/.qrgate/auth/session/{id}/claim"))
        .header("origin", origin)
        .header("accept", "application/json")
        .send()
        .await
        .expect("claim")
}

/// A whole login as alice against any gateway base URL: returns the signed-in browser and
/// the raw session token its cookie holds.
pub async fn sign_in_at(base: &str) -> (reqwest::Client, String) {
    sign_in_with(base, browser(), client()).await
}

/// [`sign_in_at`] with the browser and phone clients given (e.g. trusting a test CA).
pub async fn sign_in_with(
    base: &str,
    b: reqwest::Client,
    phone: reqwest::Client,
) -> (reqwest::Client, String) {
    sign_in_key(base, b, phone, &alice_key()).await
}

/// A whole login approved by `key`.
pub async fn sign_in_key(
    base: &str,
    b: reqwest::Client,
    phone: reqwest::Client,
    key: &qrgate::cli::signer::Key,
) -> (reqwest::Client, String) {
    let (id, payload, _) = open_login_at(base, &b, "/").await;
    let url = qrgate::cli::signer::attempt_url(&payload).expect("url");
    let req = qrgate::cli::signer::scan(&phone, &url).await.expect("scan");
    qrgate::cli::signer::approve(&phone, &url, key, &req)
        .await
        .expect("approve");
    let claimed = claim_at(&b, base, base, &id).await;
    assert_eq!(claimed.status(), 200);
    let token = claimed
        .headers()
        .get_all("set-cookie")
        .iter()
        .filter_map(|v| v.to_str().ok())
        .find_map(|c| {
            c.strip_prefix("__Host-")
                .unwrap_or(c)
                .strip_prefix("qrgate_session=")
        })
        .and_then(|c| c.split(';').next())
        .expect("session cookie")
        .to_string();
    (b, token)
}

/// Reads named SSE events from a response.
pub struct Sse {
    resp: reqwest::Response,
    buf: String,
}

impl Sse {
    pub async fn open(c: &reqwest::Client, url: String) -> Sse {
        let resp = c
            .get(url)
            .header("accept", "text/event-stream")
            .send()
            .await
            .expect("sse");
        assert_eq!(resp.status(), 200, "event stream opens");
        assert_eq!(resp.headers()["content-type"], "text/event-stream");
        Sse {
            resp,
            buf: String::new(),
        }
    }

    /// The next named event (heartbeats skipped) as (name, data), or None at end of stream.
    pub async fn next(&mut self) -> Option<(String, String)> {
        loop {
            if let Some(i) = self.buf.find("\n\n") {
                let frame: String = self.buf.drain(..i + 2).collect();
                let mut name = None;
                let mut data = String::new();
                for line in frame.lines() {
                    if let Some(n) = line.strip_prefix("event: ") {
                        name = Some(n.to_string());
                    } else if let Some(d) = line.strip_prefix("data: ") {
                        data.push_str(d);
                    }
                }
                match name {
                    Some(n) => return Some((n, data)),
                    None => continue,
                }
            }
            let chunk = tokio::time::timeout(Duration::from_secs(20), self.resp.chunk())
                .await
                .expect("event in time")
                .expect("stream read")?;
            self.buf.push_str(&String::from_utf8_lossy(&chunk));
        }
    }
}

/// Alice's signing key as the reference signer loads it.
pub fn alice_key() -> qrgate::cli::signer::Key {
    qrgate::cli::signer::Key::parse(ALICE_SECRET_HEX).expect("alice key")
}

/// A test CA and a certificate for 127.0.0.1 it signed: (CA PEM, leaf chain PEM, key PEM).
pub fn test_pki(name: &str) -> (String, String, String) {
    use rcgen::{BasicConstraints, CertificateParams, IsCa, KeyPair, SanType};
    let ca_key = KeyPair::generate().expect("ca key");
    let mut ca_params = CertificateParams::new(Vec::<String>::new()).expect("ca params");
    ca_params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
    ca_params
        .distinguished_name
        .push(rcgen::DnType::CommonName, format!("qrgate test CA {name}"));
    let ca = ca_params.self_signed(&ca_key).expect("ca");
    let issuer = rcgen::Issuer::from_params(&ca_params, &ca_key);
    let leaf_key = KeyPair::generate().expect("leaf key");
    let mut leaf_params = CertificateParams::new(Vec::<String>::new()).expect("leaf params");
    leaf_params.subject_alt_names = vec![SanType::IpAddress("127.0.0.1".parse().expect("ip"))];
    let leaf = leaf_params.signed_by(&leaf_key, &issuer).expect("leaf");
    (
        ca.pem(),
        format!("{}{}", leaf.pem(), ca.pem()),
        leaf_key.serialize_pem(),
    )
}

/// A demo upstream speaking HTTPS with `chain`/`key` (PEM) on a loopback port; returns it.
pub async fn tls_upstream(chain: &str, key: &str) -> SocketAddr {
    use pingora::tls::{ServerConfig, TlsAcceptor};
    pingora::tls::install_default_crypto_provider();
    let certs: Vec<_> = rustls_pemfile::certs(&mut chain.as_bytes())
        .collect::<Result<_, _>>()
        .expect("certs");
    let key = rustls_pemfile::private_key(&mut key.as_bytes())
        .expect("key")
        .expect("a key");
    let config = ServerConfig::builder()
        .with_no_client_auth()
        .with_single_cert(certs, key)
        .expect("server config");
    let acceptor = TlsAcceptor::from(Arc::new(config));
    let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind");
    let addr = listener.local_addr().expect("addr");
    tokio::spawn(async move {
        while let Ok((tcp, _)) = listener.accept().await {
            let acceptor = acceptor.clone();
            tokio::spawn(async move {
                if let Ok(tls) = acceptor.accept(tcp).await {
                    qrgate::cli::demo::serve_connection(tls).await;
                }
            });
        }
    });
    addr
}

impl TestGateway {
    /// An operator's invitation for configured user `user` on the test app (15 minutes).
    pub async fn invite(&self, user: &str) -> qrgate_core::control::enrollment::Invited {
        qrgate_core::control::enrollment::invite(
            &self.state,
            &self.state.settings(),
            qrgate_core::config::AppId::new(0),
            user,
            qrgate_core::control::enrollment::DEFAULT_TTL,
            "operator",
        )
        .await
        .expect("invite")
    }

    /// Whether invitation `link` is still unused and live.
    pub async fn invitation_open(&self, link: &str) -> bool {
        let token = link.rsplit('/').next().unwrap_or_default();
        qrgate_core::control::enrollment::invitation(
            &self.state,
            &self.state.settings(),
            qrgate_core::config::AppId::new(0),
            token,
        )
        .await
        .is_ok()
    }
}

/// `POST {base}/.qrgate/{route}` with the form `form` from the app's own origin `base`, as
/// JSON, by the signed-in browser `b`: an action of one's own (`invite`, `remove-device`).
pub async fn own_action(b: &reqwest::Client, base: &str, route: &str, form: &str) -> (u16, Value) {
    let r = b
        .post(format!("{base}/.qrgate/{route}"))
        .header("origin", base)
        .header("accept", "application/json")
        .header("content-type", "application/x-www-form-urlencoded")
        .body(form.to_string())
        .send()
        .await
        .expect("answer");
    let status = r.status().as_u16();
    (status, r.json().await.unwrap_or(Value::Null))
}

/// A phone approves attempt `id` on `base` with `key`: the scan answer it saw, and the
/// approval's outcome.
pub async fn approve_attempt(
    base: &str,
    id: &str,
    key: &qrgate::cli::signer::Key,
) -> (
    qrgate::cli::signer::Request,
    Result<String, qrgate::cli::signer::SignerError>,
) {
    let url = qrgate::cli::signer::attempt_url(&format!("{base}/.qrgate/auth/session/{id}"))
        .expect("url");
    let phone = client();
    let req = qrgate::cli::signer::scan(&phone, &url).await.expect("scan");
    let approved = qrgate::cli::signer::approve(&phone, &url, key, &req).await;
    (req, approved)
}

/// The whole "add a device" of the signed-in browser `b`: asked, approved by `approver`
/// (one of the person's keys), collected; returns the invitation link.
pub async fn invite_own(
    b: &reqwest::Client,
    base: &str,
    approver: &qrgate::cli::signer::Key,
) -> String {
    let (status, started) = own_action(b, base, "invite", "").await;
    assert_eq!(status, 202, "{started}");
    let id = started["id"].as_str().expect("attempt id").to_string();
    let (_, approved) = approve_attempt(base, &id, approver).await;
    approved.expect("approved");
    let (status, invited) = own_action(b, base, "invite", &format!("confirm={id}")).await;
    assert_eq!(status, 200, "{invited}");
    invited["link"].as_str().expect("link").to_string()
}

/// Writes `text` to a file only its owner may read or write (as the admin token file must be).
pub fn write_private(path: &std::path::Path, text: &str) {
    use std::os::unix::fs::PermissionsExt;
    std::fs::write(path, text).expect("write");
    std::fs::set_permissions(path, std::fs::Permissions::from_mode(0o600)).expect("chmod");
}
