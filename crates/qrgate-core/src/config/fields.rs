//! The [`Validator`]'s conversions of single values and of the smaller tables (assertion,
//! limits); `root` in `validate` assembles them.

use super::validate::Validator;
use super::*;

impl Validator<'_> {
    pub(super) fn assertion(
        &self,
        raw: file::Assertion,
    ) -> Result<Option<AssertionConfig>, ConfigError> {
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

    /// A list of signer protocol names (`key`, e.g. `app[0].signers`): the default protocol
    /// when empty; each name known and listed once.
    pub(super) fn signer_list(
        &self,
        list: &[Spanned<String>],
        key: &str,
    ) -> Result<Vec<SignerId>, ConfigError> {
        if list.is_empty() {
            return Ok(vec![signers::DEFAULT]);
        }
        let mut ids = Vec::new();
        for (j, s) in list.iter().enumerate() {
            let Some(id) = signers::lookup(s.get_ref()) else {
                return self.err(
                    s.span(),
                    &format!("{key}[{j}]"),
                    format!(
                        "unknown signer {:?}; expected one of {}",
                        s.get_ref(),
                        signers::names().collect::<Vec<_>>().join(", ")
                    ),
                );
            };
            if ids.contains(&id) {
                self.err(s.span(), &format!("{key}[{j}]"), "listed twice")?;
            }
            ids.push(id);
        }
        Ok(ids)
    }

    /// A setting in seconds: `default` when absent, else within `min..=MAX_SECONDS`.
    pub(super) fn seconds(
        &self,
        value: Option<Spanned<u64>>,
        key: &str,
        default: u64,
        min: u64,
    ) -> Result<Duration, ConfigError> {
        self.seconds_within(value, key, default, min, MAX_SECONDS)
    }

    /// A setting in seconds: `default` when absent, else within `min..=max`.
    pub(super) fn seconds_within(
        &self,
        value: Option<Spanned<u64>>,
        key: &str,
        default: u64,
        min: u64,
        max: u64,
    ) -> Result<Duration, ConfigError> {
        let Some(v) = value else {
            return Ok(Duration::from_secs(default));
        };
        if !(min..=max).contains(v.get_ref()) {
            return self.err(v.span(), key, format!("expected {min} to {max} seconds"));
        }
        Ok(Duration::from_secs(*v.get_ref()))
    }

    /// A setting in milliseconds: `default` when absent, else at least 1 ms and at most
    /// `MAX_SECONDS`.
    pub(super) fn millis(
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
    pub(super) fn count<T>(
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

    pub(super) fn addresses(
        &self,
        raw: Vec<Spanned<String>>,
        key: &str,
    ) -> Result<Vec<String>, ConfigError> {
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

    pub(super) fn tls_files(
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

    pub(super) fn proxies(&self, raw: Vec<Spanned<String>>) -> Result<Vec<IpNet>, ConfigError> {
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

    pub(super) fn same_network(
        &self,
        raw: Option<Spanned<toml::Value>>,
    ) -> Result<SameNetwork, ConfigError> {
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

    pub(super) fn limits(&self, l: file::Limits) -> Result<LimitsConfig, ConfigError> {
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
            token_per_minute: self.count(
                l.token_per_minute,
                "limits.token_per_minute",
                d.token_per_minute,
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
            user_code_failures_per_client: self.count(
                l.user_code_failures_per_client,
                "limits.user_code_failures_per_client",
                d.user_code_failures_per_client,
                1,
                10_000,
            )?,
            user_code_failures: self.count(
                l.user_code_failures,
                "limits.user_code_failures",
                d.user_code_failures,
                1,
                1_000_000,
            )?,
            user_code_window: self.seconds_within(
                l.user_code_window_seconds,
                "limits.user_code_window_seconds",
                d.user_code_window.as_secs(),
                1,
                86_400,
            )?,
        })
    }
}
