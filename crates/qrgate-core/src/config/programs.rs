//! `[programs]`: programs and scripts signing in by the device authorization grant (RFC 8628):
//! the built-in public client of the `qrgate` command, how often a device may poll and how
//! long its code lives. Which apps let a program's bearer token through is each app's
//! `programs` key.

use super::validate::Validator;
use super::*;
use crate::oidc::keys::SigningAlg;

/// The client id of the built-in public client `qrgate login` uses.
pub const CLI_CLIENT: &str = "qrgate-cli";

/// `[programs]`, validated.
#[derive(Debug, Clone)]
pub struct ProgramsConfig {
    /// Whether the built-in client [`CLI_CLIENT`] exists (with `[sso]` only).
    pub cli: bool,
    /// The least time between two polls of one device code (`interval`, RFC 8628 §3.2);
    /// `slow_down` adds 5 s to it for that code (§3.5).
    pub(crate) poll_interval: Duration,
    /// How long a device code waits for its approval (`expires_in`).
    pub(crate) device_code_lifetime: Duration,
    /// The longest life a personal token may be given, in days.
    pub(crate) personal_token_max_days: u32,
    /// Whether a personal token may be made that never expires.
    pub(crate) personal_token_never: bool,
}

/// "Never", where the operator allows it: a hundred years.
pub(crate) const NEVER_MS: u64 = 100 * 365 * 86_400_000;

impl ProgramsConfig {
    /// Whether a personal token living `life` ms is one the operator allows now: at most
    /// `personal_token_max_days`, or "never" only with `personal_token_never`.
    pub(crate) fn allows_personal_life(&self, life: u64) -> bool {
        let max = u64::from(self.personal_token_max_days).saturating_mul(86_400_000);
        life <= max || (self.personal_token_never && life <= NEVER_MS)
    }
}

impl Default for ProgramsConfig {
    fn default() -> Self {
        ProgramsConfig {
            cli: true,
            poll_interval: Duration::from_secs(5),
            device_code_lifetime: Duration::from_secs(600),
            personal_token_max_days: 90,
            personal_token_never: false,
        }
    }
}

impl Validator<'_> {
    /// `[programs]`; with `[sso]` and `cli` on, the built-in client joins `clients`.
    pub(super) fn programs(
        &self,
        raw: Option<file::Programs>,
        sso: bool,
        clients: &mut Vec<OidcClient>,
    ) -> Result<ProgramsConfig, ConfigError> {
        let programs = self.programs_table(raw)?;
        if sso && programs.cli {
            if clients.iter().any(|c| c.id == CLI_CLIENT) {
                return Err(located(
                    self.text,
                    self.path,
                    None,
                    "oidc_client",
                    "the client id qrgate-cli is the built-in client of the qrgate command \
                     (set [programs] cli = false to configure it yourself)",
                ));
            }
            clients.push(cli_client());
        }
        Ok(programs)
    }

    fn programs_table(&self, raw: Option<file::Programs>) -> Result<ProgramsConfig, ConfigError> {
        let Some(raw) = raw else {
            return Ok(ProgramsConfig::default());
        };
        let bounded = |v: Option<Spanned<u64>>, key: &str, default: u64, max: u64| match v {
            None => Ok(Duration::from_secs(default)),
            Some(v) if (1..=max).contains(v.get_ref()) => Ok(Duration::from_secs(*v.get_ref())),
            Some(v) => self.err(v.span(), key, format!("expected 1 to {max} seconds")),
        };
        Ok(ProgramsConfig {
            cli: raw.cli.unwrap_or(true),
            poll_interval: bounded(
                raw.poll_interval_seconds,
                "programs.poll_interval_seconds",
                5,
                60,
            )?,
            device_code_lifetime: bounded(
                raw.device_code_lifetime_seconds,
                "programs.device_code_lifetime_seconds",
                600,
                3600,
            )?,
            personal_token_max_days: match raw.personal_token_max_days {
                None => 90,
                Some(d) => match u32::try_from(*d.get_ref()) {
                    Ok(n) if (1..=3650).contains(&n) => n,
                    _ => self.err(
                        d.span(),
                        "programs.personal_token_max_days",
                        "expected 1 to 3650 days",
                    )?,
                },
            },
            personal_token_never: raw.personal_token_never.unwrap_or(false),
        })
    }
}

/// The built-in public client of `qrgate login`: no redirect URI (it signs in by the device
/// grant only, which it may use), every person the config knows, an hour's access token renewed by refresh for
/// 30 days.
fn cli_client() -> OidcClient {
    OidcClient {
        id: CLI_CLIENT.to_string(),
        name: "qrgate CLI".to_string(),
        secret: None,
        secret_file: None,
        redirect_uris: Vec::new(),
        shown_as: Vec::new(),
        post_logout_redirect_uris: Vec::new(),
        backchannel_logout_uri: None,
        allow_users: Vec::new(),
        allow_roles: Vec::new(),
        scopes: KNOWN_SCOPES.iter().map(|s| s.to_string()).collect(),
        device: true,
        id_token_alg: SigningAlg::Rs256,
        access_lifetime: Duration::from_secs(3600),
        id_lifetime: Duration::from_secs(600),
        refresh_lifetime: Duration::from_secs(30 * 86_400),
    }
}
