//! The facts of one incoming request, as the decision and the gateway's routes read them.
//!
//! The proxy glue fills a [`Request`] from pingora's request header and socket; everything
//! else reads only this, so no rule depends on pingora's types.

use http::{HeaderMap, Method};

use crate::http::negotiate;
use crate::http::origin::Origin;
use crate::http::reply::Form;
use crate::i18n::{self, Lang};

/// One request, borrowed from wherever it was parsed.
#[derive(Debug, Clone, Copy)]
pub struct Request<'a> {
    /// Method.
    pub method: &'a Method,
    /// The target host: the absolute-form authority if present, else `Host`.
    pub host: Option<&'a str>,
    /// The raw path of the request target (before canonicalization).
    pub path: &'a str,
    /// The raw query, without `?`.
    pub query: Option<&'a str>,
    /// Whether the request target was in absolute form (`GET http://host/path`).
    pub absolute_form: bool,
    /// Request headers.
    pub headers: &'a HeaderMap,
    /// Whether the request came over TLS.
    pub secure: bool,
}

/// A page when `Accept` prefers HTML to JSON, else JSON; in the language `Accept-Language`
/// prefers.
pub fn form(headers: &HeaderMap) -> Form {
    let html = headers
        .get(http::header::ACCEPT)
        .and_then(|v| v.to_str().ok())
        .is_some_and(negotiate::prefers_html);
    let lang = lang(headers);
    if html {
        Form::Page(lang)
    } else {
        Form::Json(lang)
    }
}

/// The language `Accept-Language` prefers among those with a catalog (English without one).
pub fn lang(headers: &HeaderMap) -> Lang {
    i18n::negotiate(
        headers
            .get(http::header::ACCEPT_LANGUAGE)
            .and_then(|v| v.to_str().ok()),
    )
}

/// Whether a state-changing request comes from the app's own pages: the `Origin` header must
/// equal the configured origin (browsers send it on every POST), or — without one, or with
/// the opaque `null` a browser sends for a form posted from a page whose referrer policy is
/// `no-referrer` — `Sec-Fetch-Site` (which pages cannot set) must say same-origin.
pub(crate) fn same_origin(origin: &Origin, headers: &HeaderMap) -> bool {
    let fetch_site_same = || {
        headers
            .get("sec-fetch-site")
            .is_some_and(|v| v.as_bytes() == b"same-origin")
    };
    match headers.get(http::header::ORIGIN) {
        Some(o) if o.as_bytes() == b"null" => fetch_site_same(),
        Some(o) => o.as_bytes() == origin.to_string().as_bytes(),
        None => fetch_site_same(),
    }
}

/// `Strict-Transport-Security` for apps served over https: a year, subdomains left alone
/// (the gateway does not know what else runs under the app's domain).
pub const HSTS: &str = "max-age=31536000";

/// `path?query`, or `path` when there is no query.
pub(crate) fn path_and_query(path: &str, query: Option<&str>) -> String {
    match query {
        Some(q) => format!("{path}?{q}"),
        None => path.to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn headers(pairs: &[(&'static str, &'static str)]) -> HeaderMap {
        let mut h = HeaderMap::new();
        for (n, v) in pairs {
            h.append(*n, v.parse().expect("value"));
        }
        h
    }

    #[test]
    fn same_origin_needs_the_exact_configured_origin() {
        let o: Origin = "https://app.example.com".parse().expect("origin");
        for (pairs, want) in [
            (vec![("origin", "https://app.example.com")], true),
            (vec![("origin", "https://app.example.com.evil")], false),
            (vec![("origin", "http://app.example.com")], false),
            (vec![("origin", "null")], false),
            (
                vec![("origin", "null"), ("sec-fetch-site", "same-origin")],
                true,
            ),
            (
                vec![("origin", "null"), ("sec-fetch-site", "cross-site")],
                false,
            ),
            (vec![("sec-fetch-site", "same-origin")], true),
            (vec![("sec-fetch-site", "same-site")], false),
            (
                vec![
                    ("origin", "https://evil"),
                    ("sec-fetch-site", "same-origin"),
                ],
                false,
            ),
            (vec![], false),
        ] {
            assert_eq!(same_origin(&o, &headers(&pairs)), want, "{pairs:?}");
        }
    }

    #[test]
    fn path_and_query_joins_only_when_there_is_a_query() {
        assert_eq!(path_and_query("/a", None), "/a");
        assert_eq!(path_and_query("/a", Some("b=1")), "/a?b=1");
        assert_eq!(path_and_query("/a", Some("")), "/a?");
    }
}
