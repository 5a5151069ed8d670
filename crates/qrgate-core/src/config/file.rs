//! The TOML file's shape, one struct per table. Only `Config::parse` sees these.

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
    pub sso: Option<Sso>,
    #[serde(default)]
    pub oidc_client: Vec<OidcClient>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Sso {
    pub origin: Spanned<String>,
    #[serde(default)]
    pub hosts: Vec<Spanned<String>>,
    pub name: Spanned<String>,
    #[serde(default)]
    pub signers: Vec<Spanned<String>>,
    #[serde(default)]
    pub allow_users: Vec<Spanned<String>>,
    #[serde(default)]
    pub allow_roles: Vec<String>,
    pub key_file: Option<PathBuf>,
    pub rotate_days: Option<Spanned<u64>>,
    pub code_lifetime_seconds: Option<Spanned<u64>>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct OidcClient {
    pub id: Spanned<String>,
    pub name: Option<Spanned<String>>,
    pub secret_hash: Option<Spanned<String>>,
    pub secret_file: Option<Spanned<PathBuf>>,
    pub public: Option<Spanned<bool>>,
    #[serde(default)]
    pub redirect_uris: Vec<Spanned<String>>,
    #[serde(default)]
    pub post_logout_redirect_uris: Vec<Spanned<String>>,
    pub backchannel_logout_uri: Option<Spanned<String>>,
    #[serde(default)]
    pub allow_users: Vec<Spanned<String>>,
    #[serde(default)]
    pub allow_roles: Vec<String>,
    pub scopes: Option<Vec<Spanned<String>>>,
    pub id_token_alg: Option<Spanned<String>>,
    pub access_token_lifetime_seconds: Option<Spanned<u64>>,
    pub id_token_lifetime_seconds: Option<Spanned<u64>>,
    pub refresh_token_lifetime_seconds: Option<Spanned<u64>>,
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
    pub sso: Option<bool>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct User {
    pub name: Spanned<String>,
    pub key: Option<Spanned<PublicKey>>,
    #[serde(default)]
    pub roles: Vec<String>,
    pub email: Option<Spanned<String>>,
}
