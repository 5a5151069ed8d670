//! The gateway's cookies: finding them in requests, keeping them from upstreams, and the one
//! way they are built.
//!
//! Two cookies exist: the session cookie (`[session] cookie_name`) and the binding cookie
//! (`{cookie_name}_bind`) that ties a login attempt to the browser that started it. Neither is
//! ever forwarded upstream, and every `Set-Cookie` the gateway sends comes from `build`, so
//! all share the same attributes.

use http::HeaderMap;
use sha2::{Digest, Sha256};
use subtle::ConstantTimeEq;

use crate::raw::BindingHash;

/// Values of every cookie named `name`, across all `Cookie` headers of a request.
///
/// Headers that are not visible ASCII are skipped: no cookie of ours can be in them.
pub fn values<'a>(headers: &'a HeaderMap, name: &'a str) -> impl Iterator<Item = &'a str> + 'a {
    headers
        .get_all(http::header::COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(move |v| values_in(v, name))
}

/// Values of the cookie named `name` in one `Cookie` header value.
pub fn values_in<'a>(value: &'a str, name: &'a str) -> impl Iterator<Item = &'a str> + 'a {
    value.split(';').filter_map(move |piece| {
        let (n, v) = piece.trim().split_once('=')?;
        (n.trim() == name).then(|| v.trim().trim_matches('"'))
    })
}

/// A `Cookie` header value without the gateway's own cookies, or `None` if nothing is left.
/// Unparseable pieces are dropped too: forwarding something we could not read could forward
/// our own cookie in disguise.
pub fn strip(value: &str, ours: &[&str]) -> Option<String> {
    let kept: Vec<String> = cookie::Cookie::split_parse(value)
        .filter_map(Result::ok)
        .filter(|c| !ours.contains(&c.name()))
        .map(|c| format!("{}={}", c.name(), c.value()))
        .collect();
    (!kept.is_empty()).then(|| kept.join("; "))
}

/// SHA-256 of a cookie value: what the gateway keeps instead of a binding value.
pub fn hash(value: &str) -> BindingHash {
    BindingHash::new(Sha256::digest(value.as_bytes()).into())
}

/// Whether a presented cookie value hashes to `expected`, compared in constant time.
pub(crate) fn matches_hash(presented: Option<&str>, expected: &BindingHash) -> bool {
    presented.is_some_and(|v| bool::from(hash(v).as_bytes().ct_eq(expected.as_bytes())))
}

/// `SameSite` of a cookie (`[session] same_site` in config).
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Deserialize)]
#[serde(rename_all = "lowercase")]
pub(crate) enum SameSite {
    /// Sent on top-level navigations from other sites; the usual choice for a login gateway.
    Lax,
    /// Never sent cross-site.
    Strict,
}

/// A `Set-Cookie` value with the gateway's attributes: host-only, `Path=/`, `HttpOnly`, the
/// given `SameSite`, `Secure` when asked, and `Max-Age` (0 deletes the cookie).
pub(crate) fn build(
    name: &str,
    value: &str,
    max_age_secs: u64,
    secure: bool,
    same_site: SameSite,
) -> String {
    let same_site = match same_site {
        SameSite::Lax => cookie::SameSite::Lax,
        SameSite::Strict => cookie::SameSite::Strict,
    };
    // Config bounds keep lifetimes far below i64::MAX seconds; saturate rather than wrap.
    let max_age = i64::try_from(max_age_secs).unwrap_or(i64::MAX);
    cookie::Cookie::build((name, value))
        .path("/")
        .http_only(true)
        .secure(secure)
        .same_site(same_site)
        .max_age(cookie::time::Duration::seconds(max_age))
        .build()
        .to_string()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn gateway_cookies_are_stripped_and_others_kept() {
        let ours = ["qrgate_session", "qrgate_bind"];
        assert_eq!(
            strip("a=1; qrgate_session=secret; b=2", &ours),
            Some("a=1; b=2".into())
        );
        assert_eq!(strip("qrgate_session=x;qrgate_bind=y", &ours), None);
        assert_eq!(strip("qrgate_session=x; garbage", &ours), None);
    }

    /// Whatever spelling the gateway reads one of its cookies from, that piece never reaches
    /// the upstream: stripping and reading must agree on names.
    #[test]
    fn every_spelling_read_is_also_stripped() {
        let ours = ["__Host-s", "s"];
        let pieces = [
            "s=tok",
            " s=tok",
            "s =tok",
            "s= tok",
            "\ts=tok",
            "s\t=tok",
            "s=\"tok\"",
            "__Host-s=tok",
            "__Host-s =tok",
            " __Host-s=tok ",
            "s=tok ",
            "s==tok",
            "s=tok=",
            "s=\"tok",
            "s=tok\"",
        ];
        for piece in pieces {
            for value in [
                piece.to_string(),
                format!("a=1; {piece}"),
                format!("a=1;{piece};b=2"),
                format!("{piece}; a=1"),
            ] {
                let read: Vec<&str> = ours.iter().flat_map(|n| values_in(&value, n)).collect();
                let kept = strip(&value, &ours).unwrap_or_default();
                for token in read {
                    assert!(
                        !kept.contains(token) || token.is_empty() || "a=1; b=2".contains(token),
                        "{value:?} read {token:?} but forwards {kept:?}"
                    );
                }
            }
        }
    }

    #[test]
    fn values_are_found_across_headers_and_quotes() {
        let vals: Vec<_> = values_in(
            "a=1; qrgate_session=t1; qrgate_session=\"t2\"",
            "qrgate_session",
        )
        .collect();
        assert_eq!(vals, ["t1", "t2"]);
        let mut h = HeaderMap::new();
        h.append("cookie", "x=1; s=a".parse().expect("value"));
        h.append("cookie", "s=b".parse().expect("value"));
        h.append(
            "cookie",
            http::HeaderValue::from_bytes(b"s=\xff").expect("value"),
        );
        assert_eq!(values(&h, "s").collect::<Vec<_>>(), ["a", "b"]);
        assert_eq!(values(&h, "sx").count(), 0);
    }

    #[test]
    fn binding_compare_needs_the_exact_value() {
        let expected = hash("bind-value");
        assert!(matches_hash(Some("bind-value"), &expected));
        assert!(!matches_hash(Some("bind-valuE"), &expected));
        assert!(!matches_hash(None, &expected));
    }

    #[test]
    fn built_cookies_carry_every_attribute() {
        let c = build("s", "v", 60, true, SameSite::Strict);
        for part in [
            "s=v",
            "HttpOnly",
            "SameSite=Strict",
            "Secure",
            "Path=/",
            "Max-Age=60",
        ] {
            assert!(c.contains(part), "{part} in {c}");
        }
        let c = build("s", "", 0, false, SameSite::Lax);
        assert!(c.contains("Max-Age=0") && c.contains("SameSite=Lax") && !c.contains("Secure"));
        assert!(build("s", "v", u64::MAX, false, SameSite::Lax).contains("Max-Age="));
    }
}
