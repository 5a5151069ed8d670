//! The [`Validator`]: turns the TOML mirror (`file`) into a checked [`Config`], naming the
//! file, line, column and key of the first thing wrong.

use super::*;

pub(super) struct Validator<'a> {
    pub(super) text: &'a str,
    pub(super) path: &'a Path,
}

impl Validator<'_> {
    /// A path from the config, relative to the config file's directory unless absolute.
    pub(super) fn relative(&self, p: PathBuf) -> PathBuf {
        match self.path.parent() {
            Some(dir) if p.is_relative() && !dir.as_os_str().is_empty() => dir.join(p),
            _ => p,
        }
    }

    pub(super) fn err<T>(
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

    pub(super) fn root(&self, raw: file::Root) -> Result<Config, ConfigError> {
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
            // At most an hour: the sweep re-reads the key files, and a key signs only after a
            // publication delay of six hours at the least, so every instance publishes it first.
            sweep_interval: self.seconds_within(
                s.sweep_interval_seconds,
                "session.sweep_interval_seconds",
                60,
                1,
                3600,
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
        let mut subjects = HashMap::new();
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
                if key_index.insert(key.get_ref().key_bytes(), i).is_some() {
                    self.err(
                        key.span(),
                        &format!("user[{i}].key"),
                        "this key belongs to another user already",
                    )?;
                }
            }
            let email = match u.email {
                Some(e) if has_control(e.get_ref()) || !e.get_ref().contains('@') => self.err(
                    e.span(),
                    &format!("user[{i}].email"),
                    "expected an address like alice@example.com",
                )?,
                e => e.map(Spanned::into_inner),
            };
            let subject = match u.subject {
                Some(s)
                    if s.get_ref().is_empty()
                        || s.get_ref().len() > 255
                        || has_control(s.get_ref()) =>
                {
                    self.err(
                        s.span(),
                        &format!("user[{i}].subject"),
                        "expected 1 to 255 characters without control characters",
                    )?
                }
                Some(s) => s.into_inner(),
                None => u.name.get_ref().clone(),
            };
            if subjects.insert(subject.clone(), i).is_some() {
                self.err(
                    u.name.span(),
                    &format!("user[{i}].subject"),
                    "another user has this subject (a user's subject defaults to its name)",
                )?;
            }
            users.push(User {
                email,
                subject,
                name: u.name.into_inner(),
                key: u.key.map(Spanned::into_inner),
                roles: u.roles,
            });
        }

        if raw.app.is_empty() {
            self.err(0..0, "app", "configure at least one [[app]]")?;
        }
        let sso_present = raw.sso.is_some();
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
                "read" => Ok(crate::identity::access::Access::Read),
                "read-write" => Ok(crate::identity::access::Access::ReadWrite),
                _ => self.err(v.span(), &key(what), "expected \"read\" or \"read-write\""),
            };
            let base = match &a.access {
                Some(v) => level(v, "access")?,
                None => crate::identity::access::Access::ReadWrite,
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
            let grant = match crate::identity::access::Grant::new(base, grant_paths) {
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
            let signers = self.signer_list(&a.signers, &key("signers"))?;
            if a.sso == Some(true) && !sso_present {
                self.err(
                    a.name.span(),
                    &key("sso"),
                    "sso = true needs the [sso] table",
                )?;
            }
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
                sso: a.sso.unwrap_or(sso_present),
                programs: a.programs.unwrap_or(false),
                forward_authorization: a.forward_authorization.unwrap_or(false),
            });
        }
        let (sso, mut oidc_clients) = self.sso(
            raw.sso,
            raw.oidc_client,
            SsoParts {
                apps: &mut apps,
                host_index: &mut host_index,
                app_names: &mut app_names,
                users: &users_by_name,
                secure: session.secure,
            },
        )?;
        let programs = self.programs(raw.programs, sso.is_some(), &mut oidc_clients)?;
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
            sso,
            oidc_clients,
            programs,
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
        }
        .with_sso_names())
    }
}

/// What `[sso]` validation (`config::sso`) reads and extends of the rest of the config.
pub(super) struct SsoParts<'a> {
    pub(super) apps: &'a mut Vec<App>,
    pub(super) host_index: &'a mut HashMap<String, AppId>,
    pub(super) app_names: &'a mut HashMap<String, AppId>,
    pub(super) users: &'a HashMap<String, usize>,
    pub(super) secure: SecurePolicy,
}

/// Names travel in HTTP headers and in the signed challenge; control characters fit neither.
pub(super) fn has_control(s: &str) -> bool {
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
