//! `[sso]` (the gateway's own sign-in origin) and `[[oidc_client]]` (the OpenID Connect
//! relying parties it serves): their validated form and the [`Validator`]'s checks.
//!
//! The SSO origin is served as an internal app appended after every `[[app]]`
//! ([`Config::sso_app`]), so the login machinery (pages, attempts, claim, sessions page,
//! cookies) serves it unchanged; its upstream is [`BUILTIN_SSO`], which nothing forwards to.

use super::validate::{has_control, SsoParts, Validator};
use super::*;
use crate::oidc::keys::SigningAlg;

/// The `upstream` of the SSO origin's internal app: the gateway itself (never forwarded to).
pub const BUILTIN_SSO: &str = "builtin:sso";

/// The scopes a client may be allowed; `openid` is always among a client's.
pub const KNOWN_SCOPES: [&str; 5] = ["openid", "profile", "email", "groups", "offline_access"];

/// `[sso]`: the gateway's own sign-in origin and its OpenID Connect provider.
#[derive(Debug, Clone)]
pub struct SsoConfig {
    /// The issuer and the origin browsers sign in on (`https`, or `http` on loopback).
    pub origin: Origin,
    /// `Host` values (lowercase) it answers to.
    pub hosts: Vec<String>,
    /// Display name: "Sign in to `<name>`".
    pub name: String,
    /// Where the ID token signing keys are kept (made at first start, mode 0600).
    pub key_file: PathBuf,
    /// A new signing key after this; the previous one stays published for as long again.
    pub rotate: Duration,
    /// How long an authorization code may wait for its redemption.
    pub(crate) code_lifetime: Duration,
    /// Per app (by position), what a sign-in at the SSO origin on its behalf is shown as
    /// ("Example (Wiki)"); empty for an app that does not take part
    /// ([`takes_part`]).
    pub(crate) shown_for_app: Vec<String>,
}

/// Why an app signs people in with its own approval instead of through the SSO origin.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum OwnApproval {
    /// There is no `[sso]`.
    NoSso,
    /// `sso = false` on the app.
    OptedOut,
    /// The SSO origin itself.
    SsoOrigin,
    /// The app's grant is reduced (read-only paths or base): a sign-on made for a full grant
    /// would widen it silently, so the app keeps its own approval.
    ReducedGrant,
    /// The app has step-up paths: its approvals are its own.
    StepUp,
}

impl OwnApproval {
    /// The reason in words (for `check-config` and logs).
    pub fn reason(self) -> &'static str {
        match self {
            OwnApproval::NoSso => "no [sso]",
            OwnApproval::OptedOut => "sso = false",
            OwnApproval::SsoOrigin => "the SSO origin",
            OwnApproval::ReducedGrant => "a reduced grant: access or access_paths",
            OwnApproval::StepUp => "it has step-up paths",
        }
    }
}

/// Whether app `app` signs people in through the SSO origin (`Ok`), or with its own approval
/// and why.
pub fn takes_part(config: &Config, app: AppId) -> Result<(), OwnApproval> {
    let Some(sso_app) = config.sso_app() else {
        return Err(OwnApproval::NoSso);
    };
    if app == sso_app {
        return Err(OwnApproval::SsoOrigin);
    }
    let a = config.app(app);
    if !a.sso {
        return Err(OwnApproval::OptedOut);
    }
    if !a.grant.is_full() {
        return Err(OwnApproval::ReducedGrant);
    }
    if !a.step_up_paths.is_empty() {
        return Err(OwnApproval::StepUp);
    }
    Ok(())
}

impl Config {
    /// The config with what a sign-in at the SSO origin is shown as filled in
    /// ([`SsoConfig::shown_for_app`], [`OidcClient::shown_as`]): the gateway's name, who
    /// asked, and the other apps one approval opens. Which apps take part depends on each
    /// app's grant and step-up paths, known only once the whole file is read.
    pub(super) fn with_sso_names(mut self) -> Config {
        let Some(sso_name) = self.sso.as_ref().map(|s| s.name.clone()) else {
            return self;
        };
        let taking_part: Vec<(AppId, String)> = self
            .app_ids()
            .filter(|(id, _)| takes_part(&self, *id).is_ok())
            .map(|(id, app)| (id, app.name.clone()))
            .collect();
        let shown: Vec<String> = self
            .app_ids()
            .map(
                |(id, app)| match taking_part.iter().any(|(t, _)| *t == id) {
                    true => {
                        let others = taking_part.iter().filter(|(t, _)| *t != id).map(|(_, n)| n);
                        format!("{sso_name} ({}{})", app.name, also_opens(others))
                    }
                    false => String::new(),
                },
            )
            .collect();
        // An approval on the SSO origin signs in to the gateway's sign-on, valid for every
        // client and every app that takes part: the phone names that first, then the client
        // that asked and its origin, then the apps it opens too.
        let apps = also_opens(taking_part.iter().map(|(_, n)| n));
        for c in &mut self.oidc_clients {
            for shown in &mut c.shown_as {
                *shown = format!("{sso_name}, for {shown}{apps}");
            }
        }
        if let Some(sso) = self.sso.as_mut() {
            sso.shown_for_app = shown;
        }
        self
    }
}

/// "; also opens A, B, C and 2 more" for the apps one approval opens besides the one named
/// (at most three by name, so the phone's line stays short); empty for none.
fn also_opens<'a>(apps: impl Iterator<Item = &'a String>) -> String {
    const NAMED: usize = 3;
    let apps: Vec<&String> = apps.collect();
    if apps.is_empty() {
        return String::new();
    }
    let named: Vec<&str> = apps.iter().take(NAMED).map(|s| s.as_str()).collect();
    let more = apps.len().saturating_sub(NAMED);
    let more = if more > 0 {
        format!(" and {more} more")
    } else {
        String::new()
    };
    format!("; also opens {}{more}", named.join(", "))
}

/// A client's secret as configured: the SHA-256 of a generated high-entropy secret.
#[derive(Clone, PartialEq, Eq)]
pub struct SecretHash(pub [u8; 32]);

impl std::fmt::Debug for SecretHash {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("SecretHash(..)")
    }
}

/// `[[oidc_client]]`: one relying party.
#[derive(Debug, Clone)]
pub struct OidcClient {
    /// `client_id`.
    pub id: String,
    /// Display name: "Sign in to `<name>`", and what the phone shows.
    pub name: String,
    /// The secret's hash; `None` for a public client (PKCE instead).
    pub secret: Option<SecretHash>,
    /// A file holding the secret itself, read by the glue (relative paths resolved).
    pub secret_file: Option<PathBuf>,
    /// Registered redirect URIs, matched exactly.
    pub redirect_uris: Vec<String>,
    /// How a sign-in for each redirect URI (same order) is shown to the person, on the login
    /// page and on the phone: the client's name and the redirect's origin.
    pub(crate) shown_as: Vec<String>,
    /// Where RP-initiated logout may send the browser, matched exactly.
    pub(crate) post_logout_redirect_uris: Vec<String>,
    /// Back-channel logout endpoint (OpenID Connect Back-Channel Logout 1.0).
    pub backchannel_logout_uri: Option<String>,
    /// Users allowed by name (none and no roles: every user).
    pub(crate) allow_users: Vec<String>,
    /// Users allowed by role.
    pub(crate) allow_roles: Vec<String>,
    /// Scopes the client may be granted (`openid` always).
    pub(crate) scopes: Vec<String>,
    /// Whether it may use the device authorization grant and hold app scopes (`app:NAME`):
    /// only when the operator says so (`device = true`; the built-in `qrgate-cli`), since a
    /// public client proves nothing of the name the phone shows for it.
    pub(crate) device: bool,
    /// How its ID tokens are signed.
    pub id_token_alg: SigningAlg,
    /// Access token lifetime.
    pub(crate) access_lifetime: Duration,
    /// ID token lifetime.
    pub(crate) id_lifetime: Duration,
    /// Refresh token lifetime (absolute, for the whole grant); zero: no refresh tokens.
    pub(crate) refresh_lifetime: Duration,
}

impl OidcClient {
    /// Whether the client authenticates with no secret (PKCE required instead).
    pub fn is_public(&self) -> bool {
        self.secret.is_none() && self.secret_file.is_none()
    }

    /// Whether `user` may sign in to this client.
    pub(crate) fn admits(&self, user: &User) -> bool {
        (self.allow_users.is_empty() && self.allow_roles.is_empty())
            || self.allow_users.contains(&user.name)
            || user.roles.iter().any(|r| self.allow_roles.contains(r))
    }
}

/// Whether `uri` may be registered as a redirect: absolute `https`, or `http` on a loopback
/// address (RFC 8252 §7.3); no fragment, no credentials.
pub fn redirect_uri_error(uri: &str) -> Option<&'static str> {
    let Ok(url) = url::Url::parse(uri) else {
        return Some("not an absolute URL");
    };
    if url.fragment().is_some() || uri.contains('#') {
        return Some("a redirect URI may not have a fragment");
    }
    if !url.username().is_empty() || url.password().is_some() {
        return Some("a redirect URI may not carry credentials");
    }
    match url.scheme() {
        "https" if url.host().is_some() => None,
        "http" if is_loopback(&url) => None,
        _ => Some(
            "expected https://, or http:// on a loopback address (127.0.0.1, [::1], localhost)",
        ),
    }
}

fn is_loopback(url: &url::Url) -> bool {
    match url.host() {
        Some(url::Host::Ipv4(a)) => a.is_loopback(),
        Some(url::Host::Ipv6(a)) => a.is_loopback(),
        Some(url::Host::Domain(d)) => d.eq_ignore_ascii_case("localhost"),
        None => false,
    }
}

impl Validator<'_> {
    /// `[sso]`, its internal app (appended to `apps`, its hosts to `host_index`) and every
    /// `[[oidc_client]]`.
    pub(super) fn sso(
        &self,
        raw: Option<file::Sso>,
        clients: Vec<file::OidcClient>,
        parts: SsoParts<'_>,
    ) -> Result<(Option<SsoConfig>, Vec<OidcClient>), ConfigError> {
        let Some(raw) = raw else {
            if let Some(c) = clients.first() {
                return self.err(
                    c.id.span(),
                    "oidc_client[0].id",
                    "an [[oidc_client]] needs the [sso] table (its issuer and sign-in origin)",
                );
            }
            return Ok((None, Vec::new()));
        };
        let origin: Origin = match raw.origin.get_ref().parse() {
            Ok(o) => o,
            Err(m) => self.err(raw.origin.span(), "sso.origin", m)?,
        };
        if !origin.is_https() {
            let loopback = url::Url::parse(raw.origin.get_ref()).is_ok_and(|u| is_loopback(&u));
            if !loopback {
                self.err(
                    raw.origin.span(),
                    "sso.origin",
                    "the issuer must be https (http only on a loopback address)",
                )?;
            }
        }
        if has_control(raw.name.get_ref()) || raw.name.get_ref().trim().is_empty() {
            self.err(
                raw.name.span(),
                "sso.name",
                "a display name, without control characters",
            )?;
        }
        if parts.app_names.contains_key(raw.name.get_ref()) {
            self.err(
                raw.name.span(),
                "sso.name",
                "an [[app]] has this name already; sessions name their app by it",
            )?;
        }
        let Ok(id) = u32::try_from(parts.apps.len()).map(AppId) else {
            return self.err(raw.name.span(), "sso.name", "too many apps");
        };
        parts.app_names.insert(raw.name.get_ref().clone(), id);
        let hosts: Vec<Spanned<String>> = if raw.hosts.is_empty() {
            vec![Spanned::new(raw.origin.span(), origin.authority.clone())]
        } else {
            raw.hosts
        };
        let mut host_names = Vec::new();
        for h in hosts {
            let lower = h.get_ref().to_ascii_lowercase();
            if parts.host_index.insert(lower.clone(), id).is_some() {
                self.err(
                    h.span(),
                    "sso.hosts",
                    format!("host {lower} is served by an app or listed twice"),
                )?;
            }
            host_names.push(lower);
        }
        let signers = self.signer_list(&raw.signers, "sso.signers")?;
        for u in &raw.allow_users {
            if !parts.users.contains_key(u.get_ref()) {
                self.err(
                    u.span(),
                    "sso.allow_users",
                    format!("no [[user]] is named {:?}", u.get_ref()),
                )?;
            }
        }
        let cookie_secure = match parts.secure {
            SecurePolicy::Always => true,
            SecurePolicy::Auto => origin.is_https(),
        };
        parts.apps.push(App {
            name: raw.name.get_ref().clone(),
            key: Arc::from(raw.name.get_ref().as_str()),
            origin: origin.clone(),
            hosts: host_names.clone(),
            upstream: BUILTIN_SSO.into(),
            upstream_ca: None,
            upstream_tls_verify: true,
            public_paths: Vec::new(),
            grant: crate::identity::access::Grant::new(
                crate::identity::access::Access::ReadWrite,
                Vec::new(),
            )
            .map_err(|e| located(self.text, self.path, None, "sso", &e.to_string()))?,
            step_up_paths: Vec::new(),
            step_up_max_age: Duration::from_secs(300),
            allow_users: raw
                .allow_users
                .into_iter()
                .map(Spanned::into_inner)
                .collect(),
            allow_roles: raw.allow_roles,
            open_enrollment: false,
            signers,
            connect_timeout: Duration::from_secs(2),
            read_timeout: Duration::from_secs(30),
            cookie_secure,
            sso: false,
            programs: false,
            forward_authorization: false,
        });
        let sso = SsoConfig {
            origin,
            hosts: host_names,
            name: raw.name.into_inner(),
            key_file: self.relative(
                raw.key_file
                    .unwrap_or_else(|| PathBuf::from("oidc-keys.json")),
            ),
            rotate: self.seconds(
                raw.rotate_days
                    .map(|d| Spanned::new(d.span(), d.get_ref().saturating_mul(86_400))),
                "sso.rotate_days",
                90 * 86_400,
                86_400,
            )?,
            code_lifetime: self.seconds(
                raw.code_lifetime_seconds,
                "sso.code_lifetime_seconds",
                60,
                1,
            )?,
            // Filled once the whole config is known (`Config::with_sso_names`).
            shown_for_app: Vec::new(),
        };
        let mut ids = HashMap::new();
        let mut out = Vec::new();
        for (i, c) in clients.into_iter().enumerate() {
            out.push(self.client(i, c, &mut ids, parts.users)?);
        }
        Ok((Some(sso), out))
    }

    fn client(
        &self,
        i: usize,
        c: file::OidcClient,
        ids: &mut HashMap<String, usize>,
        users: &HashMap<String, usize>,
    ) -> Result<OidcClient, ConfigError> {
        let key = |k: &str| format!("oidc_client[{i}].{k}");
        let id = c.id.get_ref();
        if id.is_empty() || !id.bytes().all(|b| b.is_ascii_graphic() && b != b':') {
            self.err(
                c.id.span(),
                &key("id"),
                "a client id is printable ASCII without spaces or ':'",
            )?;
        }
        if ids.insert(id.clone(), i).is_some() {
            self.err(c.id.span(), &key("id"), "duplicate client id")?;
        }
        let name = match c.name {
            Some(n) if has_control(n.get_ref()) || n.get_ref().trim().is_empty() => self.err(
                n.span(),
                &key("name"),
                "a display name, without control characters",
            )?,
            Some(n) => n.into_inner(),
            None => id.clone(),
        };
        let public = c.public.as_ref().is_some_and(|p| *p.get_ref());
        let secret = match (&c.secret_hash, &c.secret_file, public) {
            (Some(h), None, false) => {
                let hex = h.get_ref().strip_prefix("sha256:").unwrap_or(h.get_ref());
                match hex::decode(hex).ok().and_then(|b| <[u8; 32]>::try_from(b).ok()) {
                    Some(b) => Some(SecretHash(b)),
                    None => self.err(
                        h.span(),
                        &key("secret_hash"),
                        "expected the SHA-256 of the secret in hex (64 digits), e.g. from sha256sum",
                    )?,
                }
            }
            (None, Some(_), false) => None,
            (None, None, true) => None,
            (Some(_), Some(f), _) => self.err(
                f.span(),
                &key("secret_file"),
                "give secret_hash or secret_file, not both",
            )?,
            (_, _, true) => self.err(
                c.id.span(),
                &key("public"),
                "a public client has no secret (it proves itself with PKCE)",
            )?,
            (None, None, false) => self.err(
                c.id.span(),
                &key("secret_hash"),
                "a confidential client needs secret_hash or secret_file (or public = true)",
            )?,
        };
        if c.redirect_uris.is_empty() {
            self.err(
                c.id.span(),
                &key("redirect_uris"),
                "register at least one redirect URI",
            )?;
        }
        let uris = |list: Vec<Spanned<String>>, what: &str| {
            let mut out = Vec::new();
            for u in list {
                if let Some(m) = redirect_uri_error(u.get_ref()) {
                    return self.err(u.span(), &key(what), m);
                }
                out.push(u.into_inner());
            }
            Ok(out)
        };
        let redirect_uris = uris(c.redirect_uris, "redirect_uris")?;
        let post_logout_redirect_uris =
            uris(c.post_logout_redirect_uris, "post_logout_redirect_uris")?;
        let backchannel_logout_uri = uris(
            c.backchannel_logout_uri.into_iter().collect(),
            "backchannel_logout_uri",
        )?
        .pop();
        for u in &c.allow_users {
            if !users.contains_key(u.get_ref()) {
                self.err(
                    u.span(),
                    &key("allow_users"),
                    format!("no [[user]] is named {:?}", u.get_ref()),
                )?;
            }
        }
        let mut scopes = vec!["openid".to_string()];
        match c.scopes {
            None => {
                scopes.extend(["profile", "email", "groups", "offline_access"].map(String::from))
            }
            Some(list) => {
                for s in list {
                    if !KNOWN_SCOPES.contains(&s.get_ref().as_str()) {
                        self.err(
                            s.span(),
                            &key("scopes"),
                            format!("expected scopes among {}", KNOWN_SCOPES.join(", ")),
                        )?;
                    }
                    if !scopes.contains(s.get_ref()) {
                        scopes.push(s.into_inner());
                    }
                }
            }
        }
        let id_token_alg = match c.id_token_alg {
            None => SigningAlg::Rs256,
            Some(a) => match SigningAlg::parse(a.get_ref()) {
                Some(alg) => alg,
                None => self.err(
                    a.span(),
                    &key("id_token_alg"),
                    "expected \"RS256\", \"ES256\" or \"EdDSA\"",
                )?,
            },
        };
        let bounded =
            |v: Option<Spanned<u64>>, what: &str, default: u64, min: u64, max: u64| match v {
                None => Ok(Duration::from_secs(default)),
                Some(v) if (min..=max).contains(v.get_ref()) => {
                    Ok(Duration::from_secs(*v.get_ref()))
                }
                Some(v) => self.err(
                    v.span(),
                    &key(what),
                    format!("expected {min} to {max} seconds"),
                ),
            };
        let shown_as = redirect_uris
            .iter()
            .map(|u| match url::Url::parse(u) {
                Ok(url) => format!("{name} ({})", url.origin().ascii_serialization()),
                Err(_) => name.clone(),
            })
            .collect();
        Ok(OidcClient {
            id: id.clone(),
            shown_as,
            name,
            secret,
            secret_file: c.secret_file.map(|f| self.relative(f.into_inner())),
            redirect_uris,
            post_logout_redirect_uris,
            backchannel_logout_uri,
            allow_users: c.allow_users.into_iter().map(Spanned::into_inner).collect(),
            allow_roles: c.allow_roles,
            scopes,
            device: c.device.unwrap_or(false),
            id_token_alg,
            access_lifetime: bounded(
                c.access_token_lifetime_seconds,
                "access_token_lifetime_seconds",
                600,
                60,
                86_400,
            )?,
            id_lifetime: bounded(
                c.id_token_lifetime_seconds,
                "id_token_lifetime_seconds",
                600,
                60,
                86_400,
            )?,
            refresh_lifetime: bounded(
                c.refresh_token_lifetime_seconds,
                "refresh_token_lifetime_seconds",
                30 * 86_400,
                0,
                365 * 86_400,
            )?,
        })
    }
}

#[cfg(test)]
mod tests;
