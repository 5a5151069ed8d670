//! The TOML file's shape, one struct per table. Only `Config::parse` sees these.

use super::*;

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct Root {
    #[serde(default)]
    pub(crate) server: Server,
    #[serde(default)]
    pub(crate) session: Session,
    #[serde(default)]
    pub(crate) login: Login,
    #[serde(default)]
    pub(crate) limits: Limits,
    #[serde(default)]
    pub(crate) admin: Admin,
    #[serde(default)]
    pub(crate) store: Store,
    #[serde(default)]
    pub(crate) assertion: Assertion,
    #[serde(default)]
    pub(crate) log: Log,
    #[serde(default)]
    pub(crate) app: Vec<App>,
    #[serde(default)]
    pub(crate) user: Vec<User>,
    pub(crate) sso: Option<Sso>,
    #[serde(default)]
    pub(crate) oidc_client: Vec<OidcClient>,
    pub(crate) programs: Option<Programs>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct Programs {
    pub(crate) cli: Option<bool>,
    pub(crate) poll_interval_seconds: Option<Spanned<u64>>,
    pub(crate) device_code_lifetime_seconds: Option<Spanned<u64>>,
    pub(crate) personal_token_max_days: Option<Spanned<u64>>,
    pub(crate) personal_token_never: Option<bool>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct Sso {
    pub(crate) origin: Spanned<String>,
    #[serde(default)]
    pub(crate) hosts: Vec<Spanned<String>>,
    pub(crate) name: Spanned<String>,
    #[serde(default)]
    pub(crate) signers: Vec<Spanned<String>>,
    #[serde(default)]
    pub(crate) allow_users: Vec<Spanned<String>>,
    #[serde(default)]
    pub(crate) allow_roles: Vec<String>,
    pub(crate) key_file: Option<PathBuf>,
    pub(crate) rotate_days: Option<Spanned<u64>>,
    pub(crate) code_lifetime_seconds: Option<Spanned<u64>>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct OidcClient {
    pub(crate) id: Spanned<String>,
    pub(crate) name: Option<Spanned<String>>,
    pub(crate) secret_hash: Option<Spanned<String>>,
    pub(crate) secret_file: Option<Spanned<PathBuf>>,
    pub(crate) public: Option<Spanned<bool>>,
    pub(crate) device: Option<bool>,
    #[serde(default)]
    pub(crate) redirect_uris: Vec<Spanned<String>>,
    #[serde(default)]
    pub(crate) post_logout_redirect_uris: Vec<Spanned<String>>,
    pub(crate) backchannel_logout_uri: Option<Spanned<String>>,
    #[serde(default)]
    pub(crate) allow_users: Vec<Spanned<String>>,
    #[serde(default)]
    pub(crate) allow_roles: Vec<String>,
    pub(crate) scopes: Option<Vec<Spanned<String>>>,
    pub(crate) id_token_alg: Option<Spanned<String>>,
    pub(crate) access_token_lifetime_seconds: Option<Spanned<u64>>,
    pub(crate) id_token_lifetime_seconds: Option<Spanned<u64>>,
    pub(crate) refresh_token_lifetime_seconds: Option<Spanned<u64>>,
}

#[derive(Deserialize, Default)]
#[serde(deny_unknown_fields)]
pub(crate) struct Server {
    pub(crate) listen: Option<Vec<Spanned<String>>>,
    pub(crate) threads: Option<usize>,
    pub(crate) grace_period_seconds: Option<Spanned<u64>>,
    pub(crate) prefix: Option<Spanned<String>>,
    pub(crate) default_app: Option<Spanned<String>>,
    pub(crate) trust_forwarded_for: Option<Spanned<bool>>,
    #[serde(default)]
    pub(crate) trusted_proxies: Vec<Spanned<String>>,
    #[serde(default)]
    pub(crate) tls_listen: Vec<Spanned<String>>,
    pub(crate) tls_cert: Option<Spanned<PathBuf>>,
    pub(crate) tls_key: Option<Spanned<PathBuf>>,
    pub(crate) redirect_to_https: Option<bool>,
    pub(crate) upgrade_sock: Option<PathBuf>,
}

#[derive(Deserialize, Default)]
#[serde(deny_unknown_fields)]
pub(crate) struct Session {
    pub(crate) lifetime_seconds: Option<Spanned<u64>>,
    pub(crate) idle_timeout_seconds: Option<Spanned<u64>>,
    pub(crate) sweep_interval_seconds: Option<Spanned<u64>>,
    pub(crate) cookie_name: Option<String>,
    pub(crate) same_site: Option<SameSite>,
    pub(crate) secure: Option<SecurePolicy>,
    pub(crate) state_file: Option<PathBuf>,
    pub(crate) state_interval_seconds: Option<Spanned<u64>>,
}

#[derive(Deserialize, Default)]
#[serde(deny_unknown_fields)]
pub(crate) struct Login {
    pub(crate) attempt_lifetime_seconds: Option<Spanned<u64>>,
    pub(crate) claim_window_seconds: Option<Spanned<u64>>,
    pub(crate) max_pending: Option<usize>,
    pub(crate) same_network: Option<Spanned<toml::Value>>,
}

#[derive(Deserialize, Default)]
#[serde(deny_unknown_fields)]
pub(crate) struct Admin {
    pub(crate) listen: Option<Spanned<String>>,
    pub(crate) token_file: Option<PathBuf>,
}

#[derive(Deserialize, Default)]
#[serde(deny_unknown_fields)]
pub(crate) struct Log {
    pub(crate) format: Option<LogFormat>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct AccessPath {
    pub(crate) path: Spanned<String>,
    pub(crate) access: Spanned<String>,
}

#[derive(Deserialize, Default)]
#[serde(deny_unknown_fields)]
pub(crate) struct Assertion {
    pub(crate) enabled: Option<bool>,
    pub(crate) key_file: Option<PathBuf>,
    pub(crate) lifetime_seconds: Option<Spanned<u64>>,
    pub(crate) rotate_days: Option<Spanned<u64>>,
    pub(crate) issuer: Option<String>,
}

#[derive(Deserialize, Default)]
#[serde(deny_unknown_fields)]
pub(crate) struct Store {
    pub(crate) backend: Option<Spanned<String>>,
    pub(crate) url: Option<Spanned<String>>,
    pub(crate) prefix: Option<Spanned<String>>,
    pub(crate) connect_timeout_ms: Option<Spanned<u64>>,
    pub(crate) timeout_ms: Option<Spanned<u64>>,
    pub(crate) cache_ms: Option<Spanned<u64>>,
    pub(crate) sentinels: Option<Spanned<Vec<Spanned<String>>>>,
    pub(crate) cluster: Option<Spanned<Vec<Spanned<String>>>>,
    pub(crate) master_name: Option<Spanned<String>>,
    pub(crate) db: Option<Spanned<i64>>,
    pub(crate) username: Option<Spanned<String>>,
    pub(crate) password: Option<Spanned<String>>,
    pub(crate) sentinel_username: Option<Spanned<String>>,
    pub(crate) sentinel_password: Option<Spanned<String>>,
    pub(crate) tls: Option<Spanned<bool>>,
    pub(crate) ca_file: Option<Spanned<String>>,
    pub(crate) replicas_to_wait: Option<Spanned<u64>>,
    pub(crate) wait_timeout_ms: Option<Spanned<u64>>,
}

#[derive(Deserialize, Default)]
#[serde(deny_unknown_fields)]
pub(crate) struct Limits {
    pub(crate) max_request_line_bytes: Option<Spanned<u64>>,
    pub(crate) max_header_bytes: Option<Spanned<u64>>,
    pub(crate) max_headers: Option<Spanned<u64>>,
    pub(crate) header_timeout_seconds: Option<Spanned<u64>>,
    pub(crate) keepalive_timeout_seconds: Option<Spanned<u64>>,
    pub(crate) max_connections: Option<Spanned<u64>>,
    pub(crate) max_connections_per_client: Option<Spanned<u64>>,
    pub(crate) body_timeout_seconds: Option<Spanned<u64>>,
    pub(crate) min_body_rate: Option<Spanned<u64>>,
    pub(crate) create_per_minute: Option<Spanned<u64>>,
    pub(crate) signer_per_minute: Option<Spanned<u64>>,
    pub(crate) claim_per_minute: Option<Spanned<u64>>,
    pub(crate) verify_per_minute: Option<Spanned<u64>>,
    pub(crate) token_per_minute: Option<Spanned<u64>>,
    pub(crate) pending_per_client: Option<Spanned<u64>>,
    pub(crate) user_code_failures_per_client: Option<Spanned<u64>>,
    pub(crate) user_code_failures: Option<Spanned<u64>>,
    pub(crate) user_code_window_seconds: Option<Spanned<u64>>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct App {
    pub name: Spanned<String>,
    pub origin: Spanned<String>,
    #[serde(default)]
    pub hosts: Vec<Spanned<String>>,
    pub upstream: Spanned<String>,
    #[serde(default)]
    pub public_paths: Vec<Spanned<String>>,
    pub(crate) access: Option<Spanned<String>>,
    #[serde(default)]
    pub(crate) access_paths: Vec<AccessPath>,
    #[serde(default)]
    pub(crate) step_up_paths: Vec<Spanned<String>>,
    pub(crate) step_up_max_age_seconds: Option<Spanned<u64>>,
    #[serde(default)]
    pub allow_users: Vec<Spanned<String>>,
    #[serde(default)]
    pub(crate) allow_roles: Vec<String>,
    pub(crate) open_enrollment: Option<bool>,
    #[serde(default)]
    pub signers: Vec<Spanned<String>>,
    pub(crate) connect_timeout_ms: Option<Spanned<u64>>,
    pub(crate) read_timeout_ms: Option<Spanned<u64>>,
    pub upstream_ca: Option<Spanned<PathBuf>>,
    pub upstream_tls_verify: Option<Spanned<bool>>,
    pub sso: Option<bool>,
    pub(crate) programs: Option<bool>,
    pub(crate) forward_authorization: Option<bool>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct User {
    pub name: Spanned<String>,
    pub(crate) key: Option<Spanned<PublicKey>>,
    #[serde(default)]
    pub roles: Vec<String>,
    pub email: Option<Spanned<String>>,
    pub(crate) subject: Option<Spanned<String>>,
}
