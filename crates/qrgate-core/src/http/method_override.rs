//! The carriers of a method override: where a request may name another method than its own
//! for the upstream to act on.
//!
//! Frameworks honour `X-HTTP-Method-Override`, `X-HTTP-Method` and `X-Method-Override`
//! (ASP.NET, Google APIs, Express `method-override`, Rack, Symfony) and a `_method` parameter
//! (Rails, Laravel, Symfony, Express `method-override`). A grant that admits only reads must
//! judge the method a request will be served as, not only the one on its request line, so
//! [`claimed`] lists every method a request claims through any of them. Header names are
//! compared as the upstream header edits compare them (any case, `_` for `-`); the query
//! parameter's name after percent-decoding, in any case and in the spellings PHP and older
//! query parsers read as it (`;` between parameters, `.method`, `_method[]`). A form body's
//! `_method` needs nothing here: only a POST carries one, and a POST is already a write.

use http::{HeaderMap, Method};

/// Header names (lowercase, `-`) that carry an overriding method.
const HEADERS: &[&str] = &[
    "x-http-method-override",
    "x-http-method",
    "x-method-override",
];

/// The query parameter that carries one.
const PARAMETER: &str = "_method";

/// Every method the request claims through an override carrier, each header value and
/// comma-separated item and each `_method` parameter once; `None` for one that is not a
/// method (which a caller judging reads must take as a write).
pub(crate) fn claimed(headers: &HeaderMap, query: Option<&str>) -> Vec<Option<Method>> {
    let mut out = Vec::new();
    for (name, value) in headers {
        if !HEADERS.iter().any(|h| names_match(name.as_str(), h)) {
            continue;
        }
        match value.to_str() {
            Ok(text) => out.extend(text.split(',').map(method)),
            Err(_) => out.push(None),
        }
    }
    if let Some(query) = query {
        // `;` separates parameters too for Rack before 3, Go before 1.17 and Python's `cgi`.
        for piece in query.split(';') {
            for (key, value) in url::form_urlencoded::parse(piece.as_bytes()) {
                if is_parameter(&key) {
                    out.push(method(&value));
                }
            }
        }
    }
    out
}

/// Whether a decoded query key is `_method` as some framework reads it: any case, spaces
/// around it ignored, a trailing `[]` dropped, and `.` or an inner space taken for `_` (PHP
/// rewrites `.method` and ` method` to `_method`).
fn is_parameter(key: &str) -> bool {
    let key = key.trim();
    let key = key.strip_suffix("[]").unwrap_or(key);
    key.len() == PARAMETER.len()
        && key.bytes().zip(PARAMETER.bytes()).all(|(k, p)| {
            let k = if matches!(k, b'.' | b' ') {
                b'_'
            } else {
                k.to_ascii_lowercase()
            };
            k == p
        })
}

/// Whether header `name` is `canonical` (lowercase, `-`) in some case and `_` spelling.
fn names_match(name: &str, canonical: &str) -> bool {
    name.len() == canonical.len()
        && name.bytes().zip(canonical.bytes()).all(|(n, c)| {
            let n = if n == b'_' {
                b'-'
            } else {
                n.to_ascii_lowercase()
            };
            n == c
        })
}

/// A method as frameworks read an override (trimmed, any case).
fn method(text: &str) -> Option<Method> {
    Method::from_bytes(text.trim().to_ascii_uppercase().as_bytes()).ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn headers(pairs: &[(&str, &str)]) -> HeaderMap {
        let mut h = HeaderMap::new();
        for (n, v) in pairs {
            h.append(
                http::HeaderName::from_bytes(n.as_bytes()).expect("name"),
                v.parse().expect("value"),
            );
        }
        h
    }

    #[test]
    fn every_carrier_in_every_spelling_is_found() {
        let delete = Some(Method::DELETE);
        for name in [
            "X-HTTP-Method-Override",
            "x-http-method-override",
            "X_HTTP_METHOD_OVERRIDE",
            "x-Http_Method-override",
            "X-HTTP-Method",
            "x_http_method",
            "X-Method-Override",
            "x_method_override",
        ] {
            assert_eq!(
                claimed(&headers(&[(name, "delete")]), None),
                vec![delete.clone()],
                "{name}"
            );
        }
        for query in [
            "_method=DELETE",
            "a=1&_method=delete",
            "%5Fmethod=DELETE",
            "_METHOD=%20delete%20",
            "_Method=DeLeTe",
            "a=1;_method=DELETE",
            ".method=DELETE",
            "%20_method%20=DELETE",
            "_method[]=DELETE",
            "a.method=1&_method=DELETE",
        ] {
            assert_eq!(
                claimed(&HeaderMap::new(), Some(query)),
                vec![delete.clone()],
                "{query}"
            );
        }
        assert_eq!(
            claimed(
                &headers(&[("x-http-method-override", "GET, PUT")]),
                Some("_method=post")
            ),
            vec![Some(Method::GET), Some(Method::PUT), Some(Method::POST)]
        );
        assert_eq!(
            claimed(&headers(&[("x-http-method-override", "")]), None),
            vec![None],
            "not a method"
        );
        assert_eq!(
            claimed(&HeaderMap::new(), Some("method=DELETE&x_method=PUT")),
            vec![]
        );
        assert_eq!(
            claimed(
                &headers(&[("x-http-method-overrides", "DELETE"), ("x-method", "PUT")]),
                None
            ),
            vec![]
        );
    }
}
