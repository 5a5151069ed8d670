//! `config.toml`: the operator's whole say over the gateway.
//!
//! Parsing happens in two layers, as in river: `file` structs mirror the TOML exactly (unknown
//! keys are errors) and are converted once into the validated [`Config`] the rest of the code
//! uses, so the file format never leaks inward. Every error names the file, line, column and
//! key path, because an operator editing a config at 3 a.m. should not have to guess.

use std::collections::HashMap;
use std::ops::Range;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use ipnet::IpNet;
use serde::Deserialize;
use toml::Spanned;

pub use crate::cookies::SameSite;
use crate::keys::PublicKey;
pub use crate::origin::Origin;
use crate::path::{canonical_prefix, OpeningPrefix, RestrictingPrefix};
use crate::protocol::SignerId;
use crate::signers;

/// The longest duration any setting accepts: ten years. Bounding every duration at
/// validation keeps all time arithmetic (milliseconds in `u64`, `Max-Age` in `i64`) far from
/// overflow.
pub const MAX_SECONDS: u64 = 10 * 365 * 24 * 3600;

/// The `upstream` value that runs the demo app inside the gateway process (quick start).
pub const BUILTIN_DEMO: &str = "builtin:demo";

/// An app's position in `[[app]]`: how the rest of the code names an app.
///
/// Minted by config lookups (and by tests); never parsed from a request.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct AppId(u32);

impl AppId {
    /// The app at position `index` of `[[app]]`.
    pub const fn new(index: u32) -> Self {
        Self(index)
    }

    /// The position in `[[app]]`.
    pub fn index(self) -> usize {
        self.0 as usize
    }
}

/// A config file that could not be used.
#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    /// The file could not be read (by the glue, which reads it: the core does no I/O).
    #[error("{path}: {source}")]
    Read {
        /// The file.
        path: PathBuf,
        /// Why.
        source: std::io::Error,
    },
    /// The file is not valid TOML, or a value is of the wrong shape or out of range.
    #[error("{path}:{line}:{column}: {key}: {message}")]
    Invalid {
        /// The file (or `<string>`).
        path: PathBuf,
        /// 1-based line.
        line: usize,
        /// 1-based column.
        column: usize,
        /// Dotted key path, e.g. `app[0].origin`.
        key: String,
        /// What is wrong.
        message: String,
    },
}

/// The certificate and key of the HTTPS listeners (PEM files, re-read on reload).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TlsFiles {
    /// Certificate chain, leaf first.
    pub cert: PathBuf,
    /// Private key (PKCS#8, PKCS#1 or SEC1).
    pub key: PathBuf,
}

/// `[admin]`: the operator's listener, never reachable on an app's origin.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct AdminConfig {
    /// Address (`ip:port`) of the admin listener (`/metrics`, `/healthz`, `/readyz`); none
    /// by default.
    pub listen: Option<String>,
    /// File holding the bearer token of the session control API (`/sessions`); without it
    /// that API is off.
    pub token_file: Option<PathBuf>,
}

/// How logs are written.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum LogFormat {
    /// Human-readable lines.
    #[default]
    Text,
    /// One JSON object per line.
    Json,
}

/// `[log]`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct LogConfig {
    /// Line format of every log and audit event.
    pub format: LogFormat,
}

/// `[assertion]`: signed identity for upstreams (`X-Auth-Assertion`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AssertionConfig {
    /// Where the signing keys are kept (made at first start, mode 0600).
    pub key_file: PathBuf,
    /// How long a token is valid.
    pub lifetime: Duration,
    /// A new signing key after this; the previous one stays published for as long again.
    pub rotate: Duration,
    /// `iss` of every token.
    pub issuer: String,
}

/// `[store]`: where sessions and login attempts live.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub enum StoreConfig {
    /// In this process (the default): one instance.
    #[default]
    Memory,
    /// In Redis, shared by every instance configured with the same URL and prefix.
    Redis(RedisConfig),
}

/// `[store] backend = "redis"`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RedisConfig {
    /// `redis://host:port/db` or `rediss://…` (TLS); may hold a password: never logged.
    pub url: String,
    /// Prefix of every key and channel, so several deployments can share one Redis.
    pub prefix: String,
    /// How long to wait for a connection.
    pub connect_timeout: Duration,
    /// How long to wait for an answer; then the request is refused (fail closed).
    pub timeout: Duration,
    /// How long a validated session is trusted from this instance's memory before Redis
    /// is asked again (revocations arrive at once through pub/sub; this bounds the rest).
    pub cache: Duration,
}

impl RedisConfig {
    /// The URL without its password, for logs.
    pub fn display_url(&self) -> String {
        match url::Url::parse(&self.url) {
            Ok(mut u) => {
                if u.password().is_some() {
                    let _ = u.set_password(Some("***"));
                }
                u.to_string()
            }
            Err(_) => "(unparsable url)".into(),
        }
    }
}

/// Whether an approval must come from the requesting browser's network (the QRLJacking
/// defence: a QR shown to a victim by an attacker's page is approved from elsewhere).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SameNetwork {
    /// No check.
    Off,
    /// The phone's address must equal the browser's.
    SameIp,
    /// The phone must be in the browser's IPv4 `/N` (IPv6: the same `/64`).
    Prefix(u8),
}

/// `[limits]`: what one client may ask of the gateway.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LimitsConfig {
    /// Longest request line, in bytes (414 beyond).
    pub max_request_line: usize,
    /// Largest request head, in bytes (431 beyond).
    pub max_header_bytes: usize,
    /// Most header fields in a request (431 beyond).
    pub max_headers: usize,
    /// How long a client has to send a complete request head.
    pub header_timeout: Duration,
    /// How long an idle keep-alive connection is kept open.
    pub keepalive_timeout: Duration,
    /// Open downstream connections at most; more are closed at once.
    pub max_connections: usize,
    /// Open connections of one client (address, IPv6 `/64`) at most; more are closed at once.
    /// A trusted proxy's connections are not counted (they carry many clients).
    pub max_connections_per_client: usize,
    /// How long a request body may go without a byte, and the start of a body during which
    /// `min_body_rate` does not apply yet.
    pub body_timeout: Duration,
    /// Bytes per second a request body must average once `body_timeout` has passed.
    pub min_body_rate: u64,
    /// Login attempts (page loads and creates) per client per minute.
    pub create_per_minute: u32,
    /// Scans, approvals, rejections and relay deliveries per client per minute.
    pub signer_per_minute: u32,
    /// Claims per client per minute.
    pub claim_per_minute: u32,
    /// Verify calls per client per minute.
    pub verify_per_minute: u32,
    /// Pending login attempts per client at most.
    pub pending_per_client: usize,
}

impl Default for LimitsConfig {
    fn default() -> Self {
        LimitsConfig {
            max_request_line: 8 * 1024,
            max_header_bytes: 32 * 1024,
            max_headers: 100,
            header_timeout: Duration::from_secs(10),
            keepalive_timeout: Duration::from_secs(60),
            max_connections: 20_000,
            max_connections_per_client: 256,
            body_timeout: Duration::from_secs(20),
            min_body_rate: 500,
            create_per_minute: 30,
            signer_per_minute: 120,
            claim_per_minute: 60,
            verify_per_minute: 6_000,
            pending_per_client: 20,
        }
    }
}

/// Whether the session cookie carries `Secure`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum SecurePolicy {
    /// `Secure` unless the app's origin is plain `http`.
    Auto,
    /// Always `Secure`.
    Always,
}

/// The validated configuration.
#[derive(Debug, Clone)]
pub struct Config {
    /// `[server]`.
    pub server: ServerConfig,
    /// `[session]`.
    pub session: SessionConfig,
    /// `[login]`.
    pub login: LoginConfig,
    /// `[limits]`.
    pub limits: LimitsConfig,
    /// `[admin]`.
    pub admin: AdminConfig,
    /// `[store]`.
    pub store: StoreConfig,
    /// `[assertion]`, when enabled.
    pub assertion: Option<AssertionConfig>,
    /// `[log]`.
    pub log: LogConfig,
    /// `[[app]]`, in file order.
    pub apps: Vec<App>,
    /// `[[user]]`, in file order.
    pub users: Vec<User>,
    /// Host header value (lowercase) → app.
    host_index: HashMap<String, AppId>,
    /// The app for requests whose Host matches nothing.
    default_app: Option<AppId>,
    /// App name → app.
    name_index: HashMap<String, AppId>,
    /// Public key bytes → index into `users`.
    key_index: HashMap<[u8; 32], usize>,
    /// User name → index into `users`.
    user_index: HashMap<String, usize>,
}

/// `[server]`.
#[derive(Debug, Clone)]
pub struct ServerConfig {
    /// Addresses to listen on (plain HTTP; terminate TLS in front or add it per deployment).
    pub listen: Vec<String>,
    /// Worker threads.
    pub threads: usize,
    /// How long in-flight requests may finish after SIGTERM.
    pub grace_period: Duration,
    /// Path prefix of the gateway's own routes, e.g. `/.qrgate`.
    pub prefix: String,
    /// Honour `X-Forwarded-For` from [`ServerConfig::trusted_proxies`] (for the client's
    /// address, and appended to upstream) instead of replacing it.
    pub trust_forwarded_for: bool,
    /// Addresses of the proxies in front of the gateway whose `X-Forwarded-For` is believed.
    pub trusted_proxies: Vec<IpNet>,
    /// Addresses to serve HTTPS on (TLS 1.2+, HTTP/2 by ALPN).
    pub tls_listen: Vec<String>,
    /// PEM certificate chain and private key for the HTTPS listeners.
    pub tls: Option<TlsFiles>,
    /// Answer plain-HTTP requests for `https` apps with 308 to the https origin.
    pub redirect_to_https: bool,
    /// The Unix socket through which a binary upgrade hands the listening sockets over.
    pub upgrade_sock: PathBuf,
}

/// `[session]`.
#[derive(Debug, Clone)]
pub struct SessionConfig {
    /// Absolute lifetime from login.
    pub lifetime: Duration,
    /// Sliding idle timeout.
    pub idle_timeout: Duration,
    /// How often expired sessions are swept from memory.
    pub sweep_interval: Duration,
    /// Session cookie name.
    pub cookie_name: String,
    /// `SameSite` attribute.
    pub same_site: SameSite,
    /// `Secure` attribute policy.
    pub secure: SecurePolicy,
    /// Where live sessions (token hashes only) are kept across restarts, if anywhere.
    pub state_file: Option<PathBuf>,
    /// How often the state file is rewritten while running.
    pub state_interval: Duration,
}

/// `[login]`.
#[derive(Debug, Clone)]
pub struct LoginConfig {
    /// How long a QR stays valid.
    pub attempt_lifetime: Duration,
    /// How long the browser has to claim its session after approval.
    pub claim_window: Duration,
    /// Global cap on pending login attempts.
    pub max_pending: usize,
    /// Whether an approval must come from the requesting browser's network.
    pub same_network: SameNetwork,
}

/// One protected application.
#[derive(Debug, Clone)]
pub struct App {
    /// Name shown on the login page and sent upstream as `X-Auth-App`.
    pub name: String,
    /// The name again, shared: what sessions and attempts record to name their app across
    /// reloads (positions may change, names are unique).
    pub key: Arc<str>,
    /// The origin the login is bound to (never taken from `Host`).
    pub origin: Origin,
    /// `Host` header values (lowercase) that select this app.
    pub hosts: Vec<String>,
    /// Upstream `host:port` (plain HTTP), `https://host[:port]`, or [`BUILTIN_DEMO`].
    pub upstream: String,
    /// CA certificates (PEM) an https upstream's certificate must chain to, instead of the
    /// system's roots.
    pub upstream_ca: Option<PathBuf>,
    /// Whether an https upstream's certificate and name are verified (only `false` when the
    /// config says so explicitly).
    pub upstream_tls_verify: bool,
    /// Path prefixes that skip authentication (rules that open: matched exactly).
    pub public_paths: Vec<OpeningPrefix>,
    /// What a login grants (read-only or read-write, per path prefix).
    pub grant: crate::access::Grant,
    /// Path prefixes that need a recent phone approval (step-up; rules that restrict:
    /// matched in every spelling an upstream may read alike).
    pub step_up_paths: Vec<RestrictingPrefix>,
    /// How recent that approval must be.
    pub step_up_max_age: Duration,
    /// Users allowed in by name.
    pub allow_users: Vec<String>,
    /// Users allowed in by role.
    pub allow_roles: Vec<String>,
    /// Any valid key may log in; the key itself is the identity.
    pub open_enrollment: bool,
    /// Signer protocols the login page offers, default first.
    pub signers: Vec<SignerId>,
    /// Upstream connect timeout.
    pub connect_timeout: Duration,
    /// Upstream read timeout.
    pub read_timeout: Duration,
    /// Whether cookies for this app carry `Secure`.
    pub cookie_secure: bool,
}

/// One person who may log in.
#[derive(Debug, Clone)]
pub struct User {
    /// Name sent upstream as `X-Auth-User`.
    pub name: String,
    /// Their signing key from a phone app, if they have one; a user may instead sign in only
    /// with devices enrolled by invitation (kept by the gateway, not in this file).
    pub key: Option<PublicKey>,
    /// Roles, sent upstream as `X-Auth-Roles`.
    pub roles: Vec<String>,
}

impl Config {
    /// Parses and validates config text; `path` is only used in error messages.
    pub fn parse(text: &str, path: &Path) -> Result<Config, ConfigError> {
        let de = toml::Deserializer::new(text);
        let raw: file::Root = serde_path_to_error::deserialize(de).map_err(|e| {
            // `Spanned` adds an internal segment to the path; operators should not see it.
            let key = e
                .path()
                .to_string()
                .replace(".$__serde_spanned_private_value", "");
            let inner = e.into_inner();
            located(text, path, inner.span(), &key, inner.message())
        })?;
        Validator { text, path }.root(raw)
    }

    /// The app serving a `Host` header value, or the default app.
    pub fn app_for_host(&self, host: &str) -> Option<AppId> {
        // Hosts are few; a lowercase copy only when the header is not already lowercase.
        let found = if host.bytes().any(|b| b.is_ascii_uppercase()) {
            self.host_index.get(&host.to_ascii_lowercase())
        } else {
            self.host_index.get(host)
        };
        found.copied().or(self.default_app)
    }

    /// The app named by `id`.
    ///
    /// # Panics
    /// If `id` came from another config; ids are only minted by this config's lookups.
    pub fn app(&self, id: AppId) -> &App {
        &self.apps[id.index()]
    }

    /// The app named `name`.
    pub fn app_by_name(&self, name: &str) -> Option<AppId> {
        self.name_index.get(name).copied()
    }

    /// Every app with its id, in file order.
    pub fn app_ids(&self) -> impl Iterator<Item = (AppId, &App)> {
        (0u32..).map(AppId).zip(&self.apps)
    }

    /// The configured user holding this key, with their position in `[[user]]`.
    pub fn user_by_key(&self, key: &[u8; 32]) -> Option<(usize, &User)> {
        let &i = self.key_index.get(key)?;
        Some((i, self.users.get(i)?))
    }

    /// The app for requests whose Host matches nothing (`[server] default_app`), if set.
    pub fn default_app(&self) -> Option<AppId> {
        self.default_app
    }

    /// The configured user named `name`, with its index.
    pub fn user_by_name(&self, name: &str) -> Option<(usize, &User)> {
        let &i = self.user_index.get(name)?;
        Some((i, self.users.get(i)?))
    }

    /// Whether `app` offers the signer protocol `signer`.
    pub fn offers(&self, app: &App, signer: SignerId) -> bool {
        app.signers.contains(&signer)
    }

    /// Whether `user` may use `app`.
    pub fn user_may_use(&self, app: &App, user: &User) -> bool {
        if app.allow_users.is_empty() && app.allow_roles.is_empty() {
            return true;
        }
        app.allow_users.contains(&user.name)
            || user.roles.iter().any(|r| app.allow_roles.contains(r))
    }
}

fn located(
    text: &str,
    path: &Path,
    span: Option<Range<usize>>,
    key: &str,
    message: &str,
) -> ConfigError {
    let (line, column) = match span {
        Some(s) => line_col(text, s.start),
        None => (1, 1),
    };
    ConfigError::Invalid {
        path: path.to_path_buf(),
        line,
        column,
        key: if key.is_empty() || key == "." {
            "(top level)".into()
        } else {
            key.into()
        },
        message: message.trim().to_string(),
    }
}

fn line_col(text: &str, offset: usize) -> (usize, usize) {
    // Spans are byte offsets of tokens, so on char boundaries; fall back to the whole text.
    let before = text.get(..offset).unwrap_or(text);
    let line = before.matches('\n').count() + 1;
    let column = before.rsplit('\n').next().map_or(0, |l| l.chars().count()) + 1;
    (line, column)
}

struct Validator<'a> {
    text: &'a str,
    path: &'a Path,
}

impl Validator<'_> {
    /// A path from the config, relative to the config file's directory unless absolute.
    fn relative(&self, p: PathBuf) -> PathBuf {
        match self.path.parent() {
            Some(dir) if p.is_relative() && !dir.as_os_str().is_empty() => dir.join(p),
            _ => p,
        }
    }

    fn err<T>(
        &self,
        span: Range<usize>,
        key: &str,
        message: impl Into<String>,
    ) -> Result<T, ConfigError> {
        Err(located(
            self.text,
            self.path,
            Some(span),
            key,
            &message.into(),
        ))
    }

    fn assertion(&self, raw: file::Assertion) -> Result<Option<AssertionConfig>, ConfigError> {
        if !raw.enabled.unwrap_or(false) {
            return Ok(None);
        }
        Ok(Some(AssertionConfig {
            key_file: self.relative(
                raw.key_file
                    .unwrap_or_else(|| PathBuf::from("assertion-keys.json")),
            ),
            lifetime: self.seconds(raw.lifetime_seconds, "assertion.lifetime_seconds", 60, 1)?,
            rotate: self.seconds(
                raw.rotate_days
                    .map(|d| Spanned::new(d.span(), d.get_ref().saturating_mul(86_400))),
                "assertion.rotate_days",
                30 * 86_400,
                86_400,
            )?,
            issuer: raw.issuer.unwrap_or_else(|| "qrgate".into()),
        }))
    }

    fn store(&self, raw: file::Store) -> Result<StoreConfig, ConfigError> {
        let backend = raw
            .backend
            .unwrap_or_else(|| Spanned::new(0..0, "memory".into()));
        match backend.get_ref().as_str() {
            "memory" => {
                if let Some(url) = raw.url {
                    return self.err(url.span(), "store.url", "only with backend = \"redis\"");
                }
                Ok(StoreConfig::Memory)
            }
            "redis" => {
                let Some(url) = raw.url else {
                    return self.err(
                        backend.span(),
                        "store.url",
                        "backend = \"redis\" needs url = \"redis://host:port/db\"",
                    );
                };
                let scheme_ok = url::Url::parse(url.get_ref())
                    .is_ok_and(|u| matches!(u.scheme(), "redis" | "rediss") && u.has_host());
                if !scheme_ok {
                    return self.err(
                        url.span(),
                        "store.url",
                        "expected redis://host:port/db or rediss://host:port/db",
                    );
                }
                let prefix = raw.prefix.unwrap_or_else(|| "qrgate:".into());
                Ok(StoreConfig::Redis(RedisConfig {
                    url: url.into_inner(),
                    prefix,
                    connect_timeout: self.millis(
                        raw.connect_timeout_ms,
                        "store.connect_timeout_ms",
                        1000,
                    )?,
                    timeout: self.millis(raw.timeout_ms, "store.timeout_ms", 500)?,
                    cache: self.millis(raw.cache_ms, "store.cache_ms", 2000)?,
                }))
            }
            _ => self.err(
                backend.span(),
                "store.backend",
                "expected \"memory\" or \"redis\"",
            ),
        }
    }

    /// A setting in seconds: `default` when absent, else within `min..=MAX_SECONDS`.
    fn seconds(
        &self,
        value: Option<Spanned<u64>>,
        key: &str,
        default: u64,
        min: u64,
    ) -> Result<Duration, ConfigError> {
        let Some(v) = value else {
            return Ok(Duration::from_secs(default));
        };
        if !(min..=MAX_SECONDS).contains(v.get_ref()) {
            return self.err(
                v.span(),
                key,
                format!("expected {min} to {MAX_SECONDS} seconds"),
            );
        }
        Ok(Duration::from_secs(*v.get_ref()))
    }

    /// A setting in milliseconds: `default` when absent, else at least 1 ms and at most
    /// `MAX_SECONDS`.
    fn millis(
        &self,
        value: Option<Spanned<u64>>,
        key: &str,
        default: u64,
    ) -> Result<Duration, ConfigError> {
        let Some(v) = value else {
            return Ok(Duration::from_millis(default));
        };
        let max = MAX_SECONDS * 1000;
        if !(1..=max).contains(v.get_ref()) {
            return self.err(v.span(), key, format!("expected 1 to {max} milliseconds"));
        }
        Ok(Duration::from_millis(*v.get_ref()))
    }

    /// A count: `default` when absent, else within `min..=max`.
    fn count<T>(
        &self,
        value: Option<Spanned<u64>>,
        key: &str,
        default: T,
        min: u64,
        max: u64,
    ) -> Result<T, ConfigError>
    where
        T: TryFrom<u64>,
    {
        let Some(v) = value else {
            return Ok(default);
        };
        match T::try_from(*v.get_ref()) {
            Ok(n) if (min..=max).contains(v.get_ref()) => Ok(n),
            _ => self.err(v.span(), key, format!("expected {min} to {max}")),
        }
    }

    fn addresses(&self, raw: Vec<Spanned<String>>, key: &str) -> Result<Vec<String>, ConfigError> {
        let mut out = Vec::new();
        for (i, a) in raw.into_iter().enumerate() {
            if a.get_ref().parse::<std::net::SocketAddr>().is_err() {
                self.err(
                    a.span(),
                    &format!("{key}[{i}]"),
                    "expected ip:port, e.g. 0.0.0.0:8443",
                )?;
            }
            out.push(a.into_inner());
        }
        Ok(out)
    }

    fn tls_files(
        &self,
        listen: &[Spanned<String>],
        cert: Option<Spanned<PathBuf>>,
        key: Option<Spanned<PathBuf>>,
    ) -> Result<Option<TlsFiles>, ConfigError> {
        match (listen.first(), cert, key) {
            (None, None, None) => Ok(None),
            (Some(_), Some(cert), Some(key)) => Ok(Some(TlsFiles {
                cert: self.relative(cert.into_inner()),
                key: self.relative(key.into_inner()),
            })),
            (Some(l), _, _) => self.err(
                l.span(),
                "server.tls_listen",
                "HTTPS listeners need both server.tls_cert and server.tls_key",
            ),
            (None, Some(c), _) => {
                self.err(c.span(), "server.tls_cert", "set server.tls_listen too")
            }
            (None, None, Some(k)) => {
                self.err(k.span(), "server.tls_key", "set server.tls_listen too")
            }
        }
    }

    fn proxies(&self, raw: Vec<Spanned<String>>) -> Result<Vec<IpNet>, ConfigError> {
        let mut out = Vec::new();
        for (i, p) in raw.iter().enumerate() {
            let text = p.get_ref();
            let net = text
                .parse::<IpNet>()
                .or_else(|_| text.parse::<std::net::IpAddr>().map(IpNet::from));
            match net {
                Ok(n) => out.push(n.trunc()),
                Err(_) => self.err(
                    p.span(),
                    &format!("server.trusted_proxies[{i}]"),
                    "expected an address or network, e.g. 10.0.0.1 or 10.0.0.0/8",
                )?,
            }
        }
        Ok(out)
    }

    fn same_network(&self, raw: Option<Spanned<toml::Value>>) -> Result<SameNetwork, ConfigError> {
        let Some(v) = raw else {
            return Ok(SameNetwork::Off);
        };
        match v.get_ref() {
            toml::Value::String(s) if s == "off" => Ok(SameNetwork::Off),
            toml::Value::String(s) if s == "ip" => Ok(SameNetwork::SameIp),
            toml::Value::Integer(n) if (1..=32).contains(n) => {
                Ok(SameNetwork::Prefix(u8::try_from(*n).unwrap_or(32)))
            }
            _ => self.err(
                v.span(),
                "login.same_network",
                "expected \"off\", \"ip\" or an IPv4 prefix length from 1 to 32",
            ),
        }
    }

    fn limits(&self, l: file::Limits) -> Result<LimitsConfig, ConfigError> {
        let d = LimitsConfig::default();
        const RATE_MAX: u64 = 1_000_000;
        Ok(LimitsConfig {
            max_request_line: self.count(
                l.max_request_line_bytes,
                "limits.max_request_line_bytes",
                d.max_request_line,
                256,
                1 << 20,
            )?,
            max_header_bytes: self.count(
                l.max_header_bytes,
                "limits.max_header_bytes",
                d.max_header_bytes,
                1024,
                1 << 20,
            )?,
            max_headers: self.count(l.max_headers, "limits.max_headers", d.max_headers, 8, 250)?,
            header_timeout: self.seconds(
                l.header_timeout_seconds,
                "limits.header_timeout_seconds",
                d.header_timeout.as_secs(),
                1,
            )?,
            keepalive_timeout: self.seconds(
                l.keepalive_timeout_seconds,
                "limits.keepalive_timeout_seconds",
                d.keepalive_timeout.as_secs(),
                1,
            )?,
            max_connections: self.count(
                l.max_connections,
                "limits.max_connections",
                d.max_connections,
                1,
                10_000_000,
            )?,
            max_connections_per_client: self.count(
                l.max_connections_per_client,
                "limits.max_connections_per_client",
                d.max_connections_per_client,
                1,
                10_000_000,
            )?,
            body_timeout: self.seconds(
                l.body_timeout_seconds,
                "limits.body_timeout_seconds",
                d.body_timeout.as_secs(),
                1,
            )?,
            min_body_rate: self.count(
                l.min_body_rate,
                "limits.min_body_rate",
                d.min_body_rate,
                0,
                1 << 30,
            )?,
            create_per_minute: self.count(
                l.create_per_minute,
                "limits.create_per_minute",
                d.create_per_minute,
                1,
                RATE_MAX,
            )?,
            signer_per_minute: self.count(
                l.signer_per_minute,
                "limits.signer_per_minute",
                d.signer_per_minute,
                1,
                RATE_MAX,
            )?,
            claim_per_minute: self.count(
                l.claim_per_minute,
                "limits.claim_per_minute",
                d.claim_per_minute,
                1,
                RATE_MAX,
            )?,
            verify_per_minute: self.count(
                l.verify_per_minute,
                "limits.verify_per_minute",
                d.verify_per_minute,
                1,
                RATE_MAX,
            )?,
            pending_per_client: self.count(
                l.pending_per_client,
                "limits.pending_per_client",
                d.pending_per_client,
                1,
                10_000_000,
            )?,
        })
    }

    fn root(&self, raw: file::Root) -> Result<Config, ConfigError> {
        let mut server = raw.server;
        let default_app_raw = server.default_app.take();
        let listen = server
            .listen
            .unwrap_or_else(|| vec![Spanned::new(0..0, "127.0.0.1:8080".to_string())]);
        for (i, l) in listen.iter().enumerate() {
            if l.get_ref().parse::<std::net::SocketAddr>().is_err() {
                self.err(
                    l.span(),
                    &format!("server.listen[{i}]"),
                    "expected ip:port, e.g. 127.0.0.1:8080",
                )?;
            }
        }
        let prefix_raw = server
            .prefix
            .unwrap_or_else(|| Spanned::new(0..0, "/.qrgate".into()));
        let prefix = match canonical_prefix(prefix_raw.get_ref()) {
            Ok(p) if p.len() > 1 && !p.ends_with('/') => p,
            _ => self.err(
                prefix_raw.span(),
                "server.prefix",
                "expected a path like /.qrgate (starts with /, no trailing /)",
            )?,
        };
        let server_trust = server.trust_forwarded_for.clone();
        let server = ServerConfig {
            listen: listen.into_iter().map(Spanned::into_inner).collect(),
            threads: server.threads.unwrap_or(2).max(1),
            grace_period: self.seconds(
                server.grace_period_seconds,
                "server.grace_period_seconds",
                5,
                0,
            )?,
            prefix,
            trust_forwarded_for: server
                .trust_forwarded_for
                .as_ref()
                .is_some_and(|t| *t.get_ref()),
            trusted_proxies: self.proxies(server.trusted_proxies)?,
            tls: self.tls_files(&server.tls_listen, server.tls_cert, server.tls_key)?,
            tls_listen: self.addresses(server.tls_listen, "server.tls_listen")?,
            redirect_to_https: server.redirect_to_https.unwrap_or(false),
            upgrade_sock: server.upgrade_sock.map_or_else(
                || PathBuf::from("/tmp/qrgate-upgrade.sock"),
                |p| self.relative(p),
            ),
        };

        if let Some(t) = &server_trust {
            if *t.get_ref() && server.trusted_proxies.is_empty() {
                self.err(
                    t.span(),
                    "server.trust_forwarded_for",
                    "name the proxies whose X-Forwarded-For is believed in server.trusted_proxies",
                )?;
            }
        }

        let s = raw.session;
        let session = SessionConfig {
            state_interval: self.seconds(
                s.state_interval_seconds,
                "session.state_interval_seconds",
                60,
                1,
            )?,
            state_file: s.state_file.map(|p| self.relative(p)),
            lifetime: self.seconds(s.lifetime_seconds, "session.lifetime_seconds", 12 * 3600, 1)?,
            idle_timeout: self.seconds(
                s.idle_timeout_seconds,
                "session.idle_timeout_seconds",
                3600,
                1,
            )?,
            sweep_interval: self.seconds(
                s.sweep_interval_seconds,
                "session.sweep_interval_seconds",
                60,
                1,
            )?,
            cookie_name: s.cookie_name.unwrap_or_else(|| "qrgate_session".into()),
            same_site: s.same_site.unwrap_or(SameSite::Lax),
            secure: s.secure.unwrap_or(SecurePolicy::Auto),
        };
        if !session
            .cookie_name
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'_' || b == b'-')
            || session.cookie_name.is_empty()
        {
            self.err(
                0..0,
                "session.cookie_name",
                "use letters, digits, '_' and '-' only",
            )?;
        }

        let l = raw.login;
        let login = LoginConfig {
            attempt_lifetime: self.seconds(
                l.attempt_lifetime_seconds,
                "login.attempt_lifetime_seconds",
                120,
                1,
            )?,
            claim_window: self.seconds(
                l.claim_window_seconds,
                "login.claim_window_seconds",
                30,
                1,
            )?,
            max_pending: l.max_pending.unwrap_or(100_000),
            same_network: self.same_network(l.same_network)?,
        };

        let mut users = Vec::new();
        let mut key_index = HashMap::new();
        let mut users_by_name = HashMap::new();
        for (i, u) in raw.user.into_iter().enumerate() {
            if has_control(u.name.get_ref())
                || u.roles.iter().any(|r| has_control(r) || r.contains(','))
            {
                self.err(
                    u.name.span(),
                    &format!("user[{i}]"),
                    "names and roles may not contain control characters (or ',' in a role)",
                )?;
            }
            if users_by_name.insert(u.name.get_ref().clone(), i).is_some() {
                self.err(
                    u.name.span(),
                    &format!("user[{i}].name"),
                    "duplicate user name",
                )?;
            }
            if let Some(key) = &u.key {
                if key_index.insert(*key.get_ref().as_bytes(), i).is_some() {
                    self.err(
                        key.span(),
                        &format!("user[{i}].key"),
                        "this key belongs to another user already",
                    )?;
                }
            }
            users.push(User {
                name: u.name.into_inner(),
                key: u.key.map(Spanned::into_inner),
                roles: u.roles,
            });
        }

        if raw.app.is_empty() {
            self.err(0..0, "app", "configure at least one [[app]]")?;
        }
        let mut apps = Vec::new();
        let mut host_index = HashMap::new();
        let mut app_names = HashMap::new();
        for (i, a) in raw.app.into_iter().enumerate() {
            let key = |k: &str| format!("app[{i}].{k}");
            let Ok(id) = u32::try_from(i).map(AppId) else {
                return self.err(a.name.span(), &key("name"), "too many apps");
            };
            if has_control(a.name.get_ref()) {
                self.err(
                    a.name.span(),
                    &key("name"),
                    "an app name may not contain control characters",
                )?;
            }
            if app_names.insert(a.name.get_ref().clone(), id).is_some() {
                self.err(a.name.span(), &key("name"), "duplicate app name")?;
            }
            let origin: Origin = match a.origin.get_ref().parse() {
                Ok(o) => o,
                Err(m) => self.err(a.origin.span(), &key("origin"), m)?,
            };
            let hosts: Vec<Spanned<String>> = if a.hosts.is_empty() {
                vec![Spanned::new(a.origin.span(), origin.authority.clone())]
            } else {
                a.hosts
            };
            let mut host_names = Vec::new();
            for h in hosts {
                let lower = h.get_ref().to_ascii_lowercase();
                if let Some(other) = host_index.insert(lower.clone(), id) {
                    let message = if other == id {
                        format!("host {lower} is listed twice")
                    } else {
                        format!("host {lower} is served by another app already")
                    };
                    self.err(h.span(), &key("hosts"), message)?;
                }
                host_names.push(lower);
            }
            if a.upstream
                .get_ref()
                .parse::<std::net::SocketAddr>()
                .is_err()
                && !is_host_port(a.upstream.get_ref())
                && a.upstream.get_ref() != BUILTIN_DEMO
                && https_upstream(a.upstream.get_ref()).is_none()
            {
                self.err(
                    a.upstream.span(),
                    &key("upstream"),
                    "expected host:port (e.g. 127.0.0.1:3000), https://host[:port], or \"builtin:demo\"",
                )?;
            }
            let mut public_paths = Vec::new();
            for p in a.public_paths {
                match OpeningPrefix::new(p.get_ref()) {
                    Ok(c) => public_paths.push(c),
                    Err(e) => self.err(p.span(), &key("public_paths"), format!("{e}"))?,
                }
            }
            let mut step_up_paths = Vec::new();
            for p in a.step_up_paths {
                let c = match RestrictingPrefix::new(p.get_ref()) {
                    Ok(c) => c,
                    Err(e) => self.err(p.span(), &key("step_up_paths"), format!("{e}"))?,
                };
                // A public path is served without a session; a step-up under it, in any
                // spelling an upstream may read alike, could never be asked for.
                if let Some(open) = public_paths.iter().find(|o| o.may_serve_all_of(&c)) {
                    self.err(
                        p.span(),
                        &key("step_up_paths"),
                        format!(
                            "lies under the public path {:?}, which needs no sign-in at all",
                            open.as_str()
                        ),
                    )?;
                }
                step_up_paths.push(c);
            }
            let level = |v: &Spanned<String>, what: &str| match v.get_ref().as_str() {
                "read" => Ok(crate::access::Access::Read),
                "read-write" => Ok(crate::access::Access::ReadWrite),
                _ => self.err(v.span(), &key(what), "expected \"read\" or \"read-write\""),
            };
            let base = match &a.access {
                Some(v) => level(v, "access")?,
                None => crate::access::Access::ReadWrite,
            };
            let mut grant_paths = Vec::new();
            for p in &a.access_paths {
                let prefix = match canonical_prefix(p.path.get_ref()) {
                    Ok(c) if c != "/" => c,
                    Ok(_) => self.err(p.path.span(), &key("access_paths"), "use access for /")?,
                    Err(e) => self.err(p.path.span(), &key("access_paths"), format!("{e}"))?,
                };
                grant_paths.push((prefix, level(&p.access, "access_paths")?));
            }
            let grant = match crate::access::Grant::new(base, grant_paths) {
                Ok(g) => g,
                Err(e) => self.err(a.name.span(), &key("access_paths"), format!("{e}"))?,
            };
            let step_up_max_age = self.seconds(
                a.step_up_max_age_seconds,
                &key("step_up_max_age_seconds"),
                300,
                1,
            )?;
            for u in &a.allow_users {
                if !users_by_name.contains_key(u.get_ref()) {
                    self.err(
                        u.span(),
                        &key("allow_users"),
                        format!("no [[user]] is named {:?}", u.get_ref()),
                    )?;
                }
            }
            let signers = if a.signers.is_empty() {
                vec![signers::DEFAULT]
            } else {
                let mut ids = Vec::new();
                for (j, s) in a.signers.iter().enumerate() {
                    let Some(id) = signers::lookup(s.get_ref()) else {
                        return self.err(
                            s.span(),
                            &key(&format!("signers[{j}]")),
                            format!(
                                "unknown signer {:?}; expected one of {}",
                                s.get_ref(),
                                signers::names().collect::<Vec<_>>().join(", ")
                            ),
                        );
                    };
                    if ids.contains(&id) {
                        self.err(s.span(), &key(&format!("signers[{j}]")), "listed twice")?;
                    }
                    ids.push(id);
                }
                ids
            };
            let cookie_secure = match session.secure {
                SecurePolicy::Always => true,
                SecurePolicy::Auto => origin.is_https(),
            };
            let is_https = https_upstream(a.upstream.get_ref()).is_some();
            for (what, span) in [
                ("upstream_ca", a.upstream_ca.as_ref().map(|c| c.span())),
                (
                    "upstream_tls_verify",
                    a.upstream_tls_verify.as_ref().map(|v| v.span()),
                ),
            ] {
                if let (Some(span), false) = (span, is_https) {
                    self.err(span, &key(what), "only for an https:// upstream")?;
                }
            }
            let upstream_ca = a.upstream_ca.map(|c| self.relative(c.into_inner()));
            let upstream_tls_verify = a.upstream_tls_verify.is_none_or(|v| *v.get_ref());
            apps.push(App {
                upstream_ca,
                upstream_tls_verify,
                key: Arc::from(a.name.get_ref().as_str()),
                name: a.name.into_inner(),
                origin,
                hosts: host_names,
                upstream: a.upstream.into_inner(),
                public_paths,
                grant,
                step_up_paths,
                step_up_max_age,
                allow_users: a.allow_users.into_iter().map(Spanned::into_inner).collect(),
                allow_roles: a.allow_roles,
                open_enrollment: a.open_enrollment.unwrap_or(false),
                signers,
                connect_timeout: self.millis(
                    a.connect_timeout_ms,
                    &key("connect_timeout_ms"),
                    2000,
                )?,
                read_timeout: self.millis(a.read_timeout_ms, &key("read_timeout_ms"), 30_000)?,
                cookie_secure,
            });
        }
        let default_app = match default_app_raw {
            None => None,
            Some(d) => match app_names.get(d.get_ref()) {
                Some(&i) => Some(i),
                None => self.err(d.span(), "server.default_app", "no [[app]] has this name")?,
            },
        };

        let limits = self.limits(raw.limits)?;
        let admin = AdminConfig {
            listen: match raw.admin.listen {
                None => None,
                Some(l) if l.get_ref().parse::<std::net::SocketAddr>().is_ok() => {
                    Some(l.into_inner())
                }
                Some(l) => self.err(
                    l.span(),
                    "admin.listen",
                    "expected ip:port, e.g. 127.0.0.1:9091",
                )?,
            },
            token_file: raw.admin.token_file.map(|p| self.relative(p)),
        };
        let log = LogConfig {
            format: raw.log.format.unwrap_or_default(),
        };
        let store = self.store(raw.store)?;
        let assertion = self.assertion(raw.assertion)?;
        Ok(Config {
            admin,
            store,
            assertion,
            log,
            server,
            session,
            login,
            limits,
            apps,
            users,
            host_index,
            default_app,
            name_index: app_names,
            key_index,
            user_index: users_by_name,
        })
    }
}

/// `(host, port)` of an `https://host[:port]` upstream (no path, query or credentials).
pub fn https_upstream(upstream: &str) -> Option<(String, u16)> {
    let url = url::Url::parse(upstream).ok()?;
    if url.scheme() != "https"
        || url.path() != "/"
        || url.query().is_some()
        || !url.username().is_empty()
        || upstream.ends_with('/')
    {
        return None;
    }
    Some((url.host_str()?.to_string(), url.port_or_known_default()?))
}

/// Names travel in HTTP headers and in the signed challenge; control characters fit neither.
fn has_control(s: &str) -> bool {
    s.chars().any(char::is_control)
}

fn is_host_port(s: &str) -> bool {
    match s.rsplit_once(':') {
        Some((host, port)) => {
            !host.is_empty()
                && port.parse::<u16>().is_ok()
                && host
                    .bytes()
                    .all(|b| b.is_ascii_alphanumeric() || b == b'.' || b == b'-')
        }
        None => false,
    }
}

/// The TOML file's shape, one struct per table. Only `Config::parse` sees these.
mod file {
    use super::*;

    #[derive(Deserialize)]
    #[serde(deny_unknown_fields)]
    pub struct Root {
        #[serde(default)]
        pub server: Server,
        #[serde(default)]
        pub session: Session,
        #[serde(default)]
        pub login: Login,
        #[serde(default)]
        pub limits: Limits,
        #[serde(default)]
        pub admin: Admin,
        #[serde(default)]
        pub store: Store,
        #[serde(default)]
        pub assertion: Assertion,
        #[serde(default)]
        pub log: Log,
        #[serde(default)]
        pub app: Vec<App>,
        #[serde(default)]
        pub user: Vec<User>,
    }

    #[derive(Deserialize, Default)]
    #[serde(deny_unknown_fields)]
    pub struct Server {
        pub listen: Option<Vec<Spanned<String>>>,
        pub threads: Option<usize>,
        pub grace_period_seconds: Option<Spanned<u64>>,
        pub prefix: Option<Spanned<String>>,
        pub default_app: Option<Spanned<String>>,
        pub trust_forwarded_for: Option<Spanned<bool>>,
        #[serde(default)]
        pub trusted_proxies: Vec<Spanned<String>>,
        #[serde(default)]
        pub tls_listen: Vec<Spanned<String>>,
        pub tls_cert: Option<Spanned<PathBuf>>,
        pub tls_key: Option<Spanned<PathBuf>>,
        pub redirect_to_https: Option<bool>,
        pub upgrade_sock: Option<PathBuf>,
    }

    #[derive(Deserialize, Default)]
    #[serde(deny_unknown_fields)]
    pub struct Session {
        pub lifetime_seconds: Option<Spanned<u64>>,
        pub idle_timeout_seconds: Option<Spanned<u64>>,
        pub sweep_interval_seconds: Option<Spanned<u64>>,
        pub cookie_name: Option<String>,
        pub same_site: Option<SameSite>,
        pub secure: Option<SecurePolicy>,
        pub state_file: Option<PathBuf>,
        pub state_interval_seconds: Option<Spanned<u64>>,
    }

    #[derive(Deserialize, Default)]
    #[serde(deny_unknown_fields)]
    pub struct Login {
        pub attempt_lifetime_seconds: Option<Spanned<u64>>,
        pub claim_window_seconds: Option<Spanned<u64>>,
        pub max_pending: Option<usize>,
        pub same_network: Option<Spanned<toml::Value>>,
    }

    #[derive(Deserialize, Default)]
    #[serde(deny_unknown_fields)]
    pub struct Admin {
        pub listen: Option<Spanned<String>>,
        pub token_file: Option<PathBuf>,
    }

    #[derive(Deserialize, Default)]
    #[serde(deny_unknown_fields)]
    pub struct Log {
        pub format: Option<LogFormat>,
    }

    #[derive(Deserialize)]
    #[serde(deny_unknown_fields)]
    pub struct AccessPath {
        pub path: Spanned<String>,
        pub access: Spanned<String>,
    }

    #[derive(Deserialize, Default)]
    #[serde(deny_unknown_fields)]
    pub struct Assertion {
        pub enabled: Option<bool>,
        pub key_file: Option<PathBuf>,
        pub lifetime_seconds: Option<Spanned<u64>>,
        pub rotate_days: Option<Spanned<u64>>,
        pub issuer: Option<String>,
    }

    #[derive(Deserialize, Default)]
    #[serde(deny_unknown_fields)]
    pub struct Store {
        pub backend: Option<Spanned<String>>,
        pub url: Option<Spanned<String>>,
        pub prefix: Option<String>,
        pub connect_timeout_ms: Option<Spanned<u64>>,
        pub timeout_ms: Option<Spanned<u64>>,
        pub cache_ms: Option<Spanned<u64>>,
    }

    #[derive(Deserialize, Default)]
    #[serde(deny_unknown_fields)]
    pub struct Limits {
        pub max_request_line_bytes: Option<Spanned<u64>>,
        pub max_header_bytes: Option<Spanned<u64>>,
        pub max_headers: Option<Spanned<u64>>,
        pub header_timeout_seconds: Option<Spanned<u64>>,
        pub keepalive_timeout_seconds: Option<Spanned<u64>>,
        pub max_connections: Option<Spanned<u64>>,
        pub max_connections_per_client: Option<Spanned<u64>>,
        pub body_timeout_seconds: Option<Spanned<u64>>,
        pub min_body_rate: Option<Spanned<u64>>,
        pub create_per_minute: Option<Spanned<u64>>,
        pub signer_per_minute: Option<Spanned<u64>>,
        pub claim_per_minute: Option<Spanned<u64>>,
        pub verify_per_minute: Option<Spanned<u64>>,
        pub pending_per_client: Option<Spanned<u64>>,
    }

    #[derive(Deserialize)]
    #[serde(deny_unknown_fields)]
    pub struct App {
        pub name: Spanned<String>,
        pub origin: Spanned<String>,
        #[serde(default)]
        pub hosts: Vec<Spanned<String>>,
        pub upstream: Spanned<String>,
        #[serde(default)]
        pub public_paths: Vec<Spanned<String>>,
        pub access: Option<Spanned<String>>,
        #[serde(default)]
        pub access_paths: Vec<AccessPath>,
        #[serde(default)]
        pub step_up_paths: Vec<Spanned<String>>,
        pub step_up_max_age_seconds: Option<Spanned<u64>>,
        #[serde(default)]
        pub allow_users: Vec<Spanned<String>>,
        #[serde(default)]
        pub allow_roles: Vec<String>,
        pub open_enrollment: Option<bool>,
        #[serde(default)]
        pub signers: Vec<Spanned<String>>,
        pub connect_timeout_ms: Option<Spanned<u64>>,
        pub read_timeout_ms: Option<Spanned<u64>>,
        pub upstream_ca: Option<Spanned<PathBuf>>,
        pub upstream_tls_verify: Option<Spanned<bool>>,
    }

    #[derive(Deserialize)]
    #[serde(deny_unknown_fields)]
    pub struct User {
        pub name: Spanned<String>,
        pub key: Option<Spanned<PublicKey>>,
        #[serde(default)]
        pub roles: Vec<String>,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const KEY: &str = "ed25519_17956be6b8d4af0841d05ee4099a2f6f19a11a733b059f13998b6eff4b2d5660";

    fn parse(text: &str) -> Result<Config, ConfigError> {
        Config::parse(text, Path::new("test.toml"))
    }

    fn minimal() -> String {
        format!(
            "[[app]]\nname = \"demo\"\norigin = \"http://localhost:8080\"\nupstream = \"127.0.0.1:8081\"\n\n[[user]]\nname = \"alice\"\nkey = \"{KEY}\"\n"
        )
    }

    #[test]
    fn minimal_config_gets_defaults() {
        let c = parse(&minimal()).expect("valid");
        assert_eq!(c.server.prefix, "/.qrgate");
        assert_eq!(c.server.grace_period, Duration::from_secs(5));
        assert_eq!(c.app_for_host("localhost:8080"), Some(AppId::new(0)));
        assert_eq!(c.app_for_host("LOCALHOST:8080"), Some(AppId::new(0)));
        assert_eq!(c.app_for_host("evil:8080"), None);
        assert!(!c.apps[0].cookie_secure, "plain http origin");
        assert_eq!(c.apps[0].signers, vec![signers::DEFAULT]);
    }

    #[test]
    fn the_store_section_is_checked_and_never_shows_a_password() {
        assert_eq!(parse(&minimal()).expect("ok").store, StoreConfig::Memory);
        let redis = parse(&format!(
            "[store]\nbackend = \"redis\"\nurl = \"redis://:hunter2@10.0.0.5:6379/0\"\n{}",
            minimal()
        ))
        .expect("ok");
        let StoreConfig::Redis(r) = redis.store else {
            panic!("redis")
        };
        assert_eq!(
            (r.prefix.as_str(), r.timeout, r.cache),
            (
                "qrgate:",
                Duration::from_millis(500),
                Duration::from_secs(2)
            )
        );
        assert!(!r.display_url().contains("hunter2"), "{}", r.display_url());
        check_error(
            &format!("[store]\nbackend = \"redis\"\n{}", minimal()),
            2,
            "store.url",
            "needs url",
        );
        check_error(
            &format!(
                "[store]\nbackend = \"redis\"\nurl = \"http://x:1\"\n{}",
                minimal()
            ),
            3,
            "store.url",
            "redis://",
        );
        check_error(
            &format!("[store]\nurl = \"redis://x:1/0\"\n{}", minimal()),
            2,
            "store.url",
            "only with",
        );
        check_error(
            &format!("[store]\nbackend = \"mongo\"\n{}", minimal()),
            2,
            "store.backend",
            "memory",
        );
        check_error(
            &format!(
                "[store]\nbackend = \"redis\"\nurl = \"redis://x:1/0\"\ntimeout_ms = 0\n{}",
                minimal()
            ),
            4,
            "store.timeout_ms",
            "milliseconds",
        );
    }

    fn check_error(text: &str, line: usize, key: &str, needle: &str) {
        let e = parse(text).expect_err("must be refused");
        let shown = e.to_string();
        match e {
            ConfigError::Invalid {
                line: l, key: k, ..
            } => {
                assert_eq!((l, k.as_str()), (line, key), "{shown}");
            }
            other => panic!("unexpected {other:?}"),
        }
        assert!(shown.contains(needle), "{shown}");
        assert!(shown.starts_with("test.toml:"), "{shown}");
    }

    #[test]
    fn a_step_up_path_under_a_public_path_in_any_spelling_is_refused() {
        for step_up in ["/docs/internal", "/Docs/internal", "/docs;v=1", "/DOCS"] {
            let text = minimal().replace(
                "[[user]]",
                &format!("public_paths = [\"/docs\"]\nstep_up_paths = [\"{step_up}\"]\n[[user]]"),
            );
            let e = parse(&text).expect_err("must be refused").to_string();
            assert!(e.contains("lies under the public path \"/docs\""), "{e}");
        }
        let text = minimal().replace(
            "[[user]]",
            "public_paths = [\"/admin/login\"]\nstep_up_paths = [\"/admin\"]\n[[user]]",
        );
        assert!(
            parse(&text).is_ok(),
            "a public path inside a step-up one is the operator's"
        );
    }

    #[test]
    fn errors_name_line_and_key() {
        check_error(
            &format!(
                "[server]\nlisten = [\"127.0.0.1:80\"]\nthreds = 2\n{}",
                minimal()
            ),
            3,
            "server.threds",
            "threds",
        );
        check_error(
            &minimal().replace("http://localhost:8080", "ftp://x"),
            3,
            "app[0].origin",
            "scheme",
        );
        check_error(
            &minimal().replace(KEY, "ed25519_zz"),
            8,
            "user[0].key",
            "hex",
        );
        let unknown_user = minimal().replace(
            "upstream = \"127.0.0.1:8081\"\n",
            "upstream = \"127.0.0.1:8081\"\nallow_users = [\"bob\"]\n",
        );
        check_error(&unknown_user, 5, "app[0].allow_users", "bob");
        check_error(
            &format!("[session]\nlifetime_seconds = \"long\"\n{}", minimal()),
            2,
            "session.lifetime_seconds",
            "expected u64",
        );
    }

    #[test]
    fn durations_are_bounded_so_time_arithmetic_cannot_overflow() {
        check_error(
            &format!("[session]\nsweep_interval_seconds = 0\n{}", minimal()),
            2,
            "session.sweep_interval_seconds",
            "expected 1 to",
        );
        check_error(
            &format!(
                "[session]\nlifetime_seconds = 9223372036854775807\n{}",
                minimal()
            ),
            2,
            "session.lifetime_seconds",
            "seconds",
        );
        check_error(
            &format!("[login]\nclaim_window_seconds = 0\n{}", minimal()),
            2,
            "login.claim_window_seconds",
            "expected 1 to",
        );
        check_error(
            &minimal().replace(
                "upstream = \"127.0.0.1:8081\"\n",
                "upstream = \"127.0.0.1:8081\"\nread_timeout_ms = 0\n",
            ),
            5,
            "app[0].read_timeout_ms",
            "milliseconds",
        );
        let c = parse(&format!(
            "[session]\nlifetime_seconds = {MAX_SECONDS}\n{}",
            minimal()
        ))
        .expect("the bound itself is accepted");
        assert_eq!(c.session.lifetime, Duration::from_secs(MAX_SECONDS));
    }

    #[test]
    fn signers_are_names_from_the_registry() {
        let with = |list: &str| {
            minimal().replace(
                "upstream = \"127.0.0.1:8081\"\n",
                &format!("upstream = \"127.0.0.1:8081\"\nsigners = {list}\n"),
            )
        };
        check_error(
            &with("[\"native\", \"carrier-pigeon\"]"),
            5,
            "app[0].signers[1]",
            "unknown signer",
        );
        check_error(
            &with("[\"tana\", \"tana\"]"),
            5,
            "app[0].signers[1]",
            "listed twice",
        );
        let c = parse(&with("[\"tana\", \"pubky\", \"native\"]")).expect("valid");
        let names: Vec<&str> = c.apps[0].signers.iter().map(|s| s.name()).collect();
        assert_eq!(names, ["tana", "pubky", "native"], "file order kept");
    }
}
