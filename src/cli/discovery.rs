//! Where `qrgate login` finds the SSO origin's endpoints, trusting only what it should: the
//! origin it is given must be `https` (plain `http` only on a loopback host), the
//! authorization server metadata (RFC 8414) must name that origin as its `issuer` (§3.3), and
//! every endpoint `qrgate login` uses or shows must be on that origin. Anything else is an
//! error before a device code is asked for: a token approved on the phone is only ever sent to,
//! and refreshed at, the origin the person named.

use std::net::IpAddr;

use serde_json::Value;
use url::{Host, Url};

/// Why an SSO origin, or what its metadata names, is not trusted with a token.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{0}")]
pub(crate) struct Untrusted(pub(crate) String);

/// The endpoints of one SSO origin, each checked to be on it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Endpoints {
    /// The origin, as the issuer names it (`https://id.example.com`).
    pub(crate) origin: String,
    /// `device_authorization_endpoint`.
    pub(crate) device_authorization: String,
    /// `token_endpoint`.
    pub(crate) token: String,
}

/// `--sso` as an origin: `https://host[:port]`, or `http://` with a loopback host
/// (`localhost`, `127.0.0.0/8`, `::1`); no user, path, query or fragment.
pub(crate) fn sso_origin(raw: &str) -> Result<Url, Untrusted> {
    let bad = |why: &str| Untrusted(format!("--sso {raw}: {why}"));
    let url = Url::parse(raw.trim()).map_err(|e| bad(&format!("not a URL ({e})")))?;
    match url.scheme() {
        "https" => {}
        "http" if is_loopback(url.host()) => {}
        "http" => {
            return Err(bad(
                "plain http is refused (anyone on the way could read the token); use https, or http only on a loopback host",
            ))
        }
        _ => return Err(bad("the SSO origin is an https:// URL")),
    }
    if url.host().is_none() || !url.username().is_empty() || url.password().is_some() {
        return Err(bad("the SSO origin is scheme://host[:port], nothing else"));
    }
    if url.path() != "/" || url.query().is_some() || url.fragment().is_some() {
        return Err(bad(
            "the SSO origin has no path, query or fragment (e.g. https://id.example.com)",
        ));
    }
    Ok(url)
}

/// Whether `host` is a loopback host: `localhost`, or a loopback address.
fn is_loopback(host: Option<Host<&str>>) -> bool {
    match host {
        Some(Host::Domain(d)) => d.eq_ignore_ascii_case("localhost"),
        Some(Host::Ipv4(ip)) => IpAddr::V4(ip).is_loopback(),
        Some(Host::Ipv6(ip)) => IpAddr::V6(ip).is_loopback(),
        None => false,
    }
}

/// The endpoints the metadata document `metadata` (fetched from `url`) names for the SSO
/// origin `sso`, once its `issuer` is `sso` exactly and each endpoint is on `sso`.
pub(crate) fn endpoints(sso: &Url, url: &str, metadata: &Value) -> Result<Endpoints, Untrusted> {
    let origin = sso.origin().ascii_serialization();
    match metadata["issuer"].as_str() {
        Some(issuer) if issuer == origin => {}
        Some(issuer) => {
            return Err(Untrusted(format!(
                "{url} names the issuer {issuer:?}, not {origin:?} (RFC 8414 §3.3): refusing its endpoints"
            )))
        }
        None => {
            return Err(Untrusted(format!(
                "{url} names no issuer (RFC 8414 §3.3): refusing its endpoints"
            )))
        }
    }
    let endpoint = |name: &str| -> Result<String, Untrusted> {
        let value = metadata[name]
            .as_str()
            .ok_or_else(|| Untrusted(format!("{url} names no {name}")))?;
        on_origin(sso, name, value)
    };
    Ok(Endpoints {
        device_authorization: endpoint("device_authorization_endpoint")?,
        token: endpoint("token_endpoint")?,
        origin,
    })
}

/// `value` (the `name` the server gave) if it is a URL on the SSO origin `sso`.
pub(crate) fn on_origin(sso: &Url, name: &str, value: &str) -> Result<String, Untrusted> {
    let origin = sso.origin();
    match Url::parse(value) {
        Ok(u) if u.origin() == origin && u.username().is_empty() && u.password().is_none() => {
            Ok(value.to_string())
        }
        _ => Err(Untrusted(format!(
            "the {name} {value:?} is not on {}: refusing it",
            origin.ascii_serialization()
        ))),
    }
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    #[test]
    fn only_https_or_loopback_http_origins_are_taken() {
        for ok in [
            "https://id.example.com",
            "https://id.example.com/",
            "https://id.example.com:8443",
            "http://localhost:8080",
            "http://LOCALHOST:8080/",
            "http://127.0.0.1:9000",
            "http://127.1.2.3",
            "http://[::1]:9000",
        ] {
            assert!(sso_origin(ok).is_ok(), "{ok}");
        }
        for bad in [
            "http://id.example.com",
            "http://192.0.2.7",
            "http://localhost.example.com",
            "http://[::ffff:192.0.2.7]",
            "ftp://id.example.com",
            "https://id.example.com/sso",
            "https://id.example.com/?x=1",
            "https://user@id.example.com",
            "id.example.com",
            "",
        ] {
            assert!(matches!(sso_origin(bad), Err(Untrusted(_))), "{bad}");
        }
    }

    #[test]
    fn the_issuer_must_be_the_origin_and_every_endpoint_on_it() {
        let sso = sso_origin("https://id.example.com/").expect("origin");
        let doc = |issuer: &str, device: &str, token: &str| {
            json!({
                "issuer": issuer,
                "device_authorization_endpoint": device,
                "token_endpoint": token,
            })
        };
        let good = doc(
            "https://id.example.com",
            "https://id.example.com/.qrgate/oidc/device_authorization",
            "https://id.example.com:443/.qrgate/oidc/token",
        );
        let e = endpoints(&sso, "m", &good).expect("trusted");
        assert_eq!(e.origin, "https://id.example.com");
        assert_eq!(e.token, "https://id.example.com:443/.qrgate/oidc/token");
        let d = "https://id.example.com/d";
        for (issuer, device, token) in [
            ("https://evil.example.com", d, d),
            ("https://id.example.com/", d, d),
            ("http://id.example.com", d, d),
            ("https://id.example.com", "https://evil.example.com/d", d),
            ("https://id.example.com", d, "http://id.example.com/t"),
            ("https://id.example.com", d, "https://id.example.com:8443/t"),
            ("https://id.example.com", d, "https://u@id.example.com/t"),
            ("https://id.example.com", d, "/relative"),
        ] {
            assert!(
                matches!(
                    endpoints(&sso, "m", &doc(issuer, device, token)),
                    Err(Untrusted(_))
                ),
                "{issuer} {device} {token}"
            );
        }
        assert!(matches!(
            endpoints(&sso, "m", &json!({"token_endpoint": d})),
            Err(Untrusted(_))
        ));
    }
}
