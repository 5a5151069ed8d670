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

pub(crate) use crate::http::cookies::SameSite;
pub(crate) use crate::http::origin::Origin;
use crate::http::path::{canonical_prefix, OpeningPrefix, RestrictingPrefix};
use crate::identity::keys::PublicKey;
use crate::login::signers;
use crate::login::signers::protocol::SignerId;

mod fields;
mod file;
mod programs;
pub(crate) use programs::NEVER_MS;
mod sso;
mod store;
mod validate;

use crate::raw::KeyBytes;
pub use sso::{
    redirect_uri_error, takes_part, OidcClient, OwnApproval, SecretHash, SsoConfig, BUILTIN_SSO,
    KNOWN_SCOPES,
};

pub use programs::{ProgramsConfig, CLI_CLIENT};
pub use store::{ClusterConfig, RedisConfig, RedisTarget, Replicas, SentinelConfig, StoreConfig};
use validate::Validator;

/// The longest duration any setting accepts: ten years. Bounding every duration at
/// validation keeps all time arithmetic (milliseconds in `u64`, `Max-Age` in `i64`) far from
/// overflow.
pub(crate) const MAX_SECONDS: u64 = 10 * 365 * 24 * 3600;

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
    pub(crate) min_body_rate: u64,
    /// Login attempts (page loads and creates) per client per minute.
    pub(crate) create_per_minute: u32,
    /// Scans, approvals, rejections and relay deliveries per client per minute.
    pub(crate) signer_per_minute: u32,
    /// Claims per client per minute.
    pub(crate) claim_per_minute: u32,
    /// Verify calls per client per minute.
    pub(crate) verify_per_minute: u32,
    /// Requests one program's bearer token may make per minute (per instance).
    pub(crate) token_per_minute: u32,
    /// Pending login attempts per client at most.
    pub(crate) pending_per_client: usize,
    /// Failed user-code entries on the verification page per client per window.
    pub(crate) user_code_failures_per_client: u32,
    /// Failed user-code entries on the verification page per window, from everyone.
    pub(crate) user_code_failures: u32,
    /// The window of both.
    pub(crate) user_code_window: Duration,
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
            token_per_minute: 1_200,
            pending_per_client: 20,
            user_code_failures_per_client: 10,
            user_code_failures: 2_000,
            user_code_window: Duration::from_secs(600),
        }
    }
}

/// Whether the session cookie carries `Secure`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
pub(crate) enum SecurePolicy {
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
    pub(crate) login: LoginConfig,
    /// `[limits]`.
    pub limits: LimitsConfig,
    /// `[admin]`.
    pub admin: AdminConfig,
    /// `[store]`.
    pub store: StoreConfig,
    /// `[assertion]`, when enabled.
    pub assertion: Option<AssertionConfig>,
    /// `[sso]`: the SSO origin and its OpenID Connect provider, if configured.
    pub sso: Option<SsoConfig>,
    /// `[[oidc_client]]`, in file order (none without `[sso]`), then the built-in client of
    /// the `qrgate` command ([`CLI_CLIENT`]) unless `[programs] cli = false`.
    pub oidc_clients: Vec<OidcClient>,
    /// `[programs]`: the device authorization grant.
    pub programs: ProgramsConfig,
    /// `[log]`.
    pub log: LogConfig,
    /// `[[app]]`, in file order; with `[sso]`, the SSO origin's internal app last
    /// ([`Config::sso_app`]).
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
    key_index: HashMap<KeyBytes, usize>,
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
    pub(crate) prefix: String,
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
    pub(crate) redirect_to_https: bool,
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
    pub(crate) same_site: SameSite,
    /// `Secure` attribute policy.
    pub(crate) secure: SecurePolicy,
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
    pub grant: crate::identity::access::Grant,
    /// Path prefixes that need a recent phone approval (step-up; rules that restrict:
    /// matched in every spelling an upstream may read alike).
    pub(crate) step_up_paths: Vec<RestrictingPrefix>,
    /// How recent that approval must be.
    pub(crate) step_up_max_age: Duration,
    /// Users allowed in by name.
    pub allow_users: Vec<String>,
    /// Users allowed in by role.
    pub(crate) allow_roles: Vec<String>,
    /// Any valid key may log in; the key itself is the identity.
    pub(crate) open_enrollment: bool,
    /// Signer protocols the login page offers, default first.
    pub signers: Vec<SignerId>,
    /// Upstream connect timeout.
    pub connect_timeout: Duration,
    /// Upstream read timeout.
    pub read_timeout: Duration,
    /// Whether cookies for this app carry `Secure`.
    pub(crate) cookie_secure: bool,
    /// Whether a program's bearer token (an access token of the provider whose grant names
    /// this app) is let through (`programs = true`).
    pub programs: bool,
    /// Whether the `Authorization` header reaches the upstream (`forward_authorization`):
    /// by default it is removed whenever it carried a token of ours.
    pub forward_authorization: bool,
    /// Whether the app takes part in single sign-on through `[sso]` (default: when `[sso]`
    /// exists; never for the SSO origin's own app).
    pub sso: bool,
}

/// One person who may log in.
#[derive(Debug, Clone)]
pub struct User {
    /// Name sent upstream as `X-Auth-User`.
    pub name: String,
    /// Their signing key from a phone app, if they have one; a user may instead sign in only
    /// with devices enrolled by invitation (kept by the gateway, not in this file).
    pub(crate) key: Option<PublicKey>,
    /// Roles, sent upstream as `X-Auth-Roles`.
    pub roles: Vec<String>,
    /// Their e-mail address, for the OpenID Connect `email` claim.
    pub email: Option<String>,
    /// The OpenID Connect `sub`: `subject` if set, else the name. Never given to another
    /// person: a name reused later needs a subject of its own.
    pub(crate) subject: String,
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
    pub(crate) fn app_for_host(&self, host: &str) -> Option<AppId> {
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
    pub(crate) fn app(&self, id: AppId) -> &App {
        &self.apps[id.index()]
    }

    /// The app named `name`.
    pub fn app_by_name(&self, name: &str) -> Option<AppId> {
        self.name_index.get(name).copied()
    }

    /// Every app with its id, in `[[app]]` order (the SSO origin's app last).
    pub fn app_ids(&self) -> impl Iterator<Item = (AppId, &App)> {
        (0u32..).map(AppId).zip(&self.apps)
    }

    /// The configured user holding this key, with their position in `[[user]]`.
    pub(crate) fn user_by_key(&self, key: &KeyBytes) -> Option<(usize, &User)> {
        let &i = self.key_index.get(key)?;
        Some((i, self.users.get(i)?))
    }

    /// The SSO origin's internal app (the last of `apps`), with `[sso]`.
    pub fn sso_app(&self) -> Option<AppId> {
        let last = u32::try_from(self.apps.len().checked_sub(1)?).ok()?;
        self.sso.as_ref().map(|_| AppId(last))
    }

    /// The `[[oidc_client]]` whose `client_id` is `id`.
    pub fn oidc_client(&self, id: &str) -> Option<&OidcClient> {
        self.oidc_clients.iter().find(|c| c.id == id)
    }

    /// The app for requests whose Host matches nothing (`[server] default_app`), if set.
    pub fn default_app(&self) -> Option<AppId> {
        self.default_app
    }

    /// The configured user named `name`, with its index.
    pub(crate) fn user_by_name(&self, name: &str) -> Option<(usize, &User)> {
        let &i = self.user_index.get(name)?;
        Some((i, self.users.get(i)?))
    }

    /// Whether `user` may use `app`.
    pub(crate) fn user_may_use(&self, app: &App, user: &User) -> bool {
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

#[cfg(test)]
mod tests;
