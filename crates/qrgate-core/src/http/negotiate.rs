//! Who is asking: a person's browser, or a program?
//!
//! An unauthenticated browser navigation should be sent to the login page (302); anything
//! else — fetch/XHR wanting JSON, EventSource, websocket upgrades, form posts — should get a
//! 401 it can act on, because a redirect to an HTML page is useless (and confusing) to a
//! program. The decision uses only the method and the `Accept`/upgrade headers.

use http::{HeaderMap, Method};

/// True when the request is a browser navigation that should see the login page.
pub(crate) fn is_browser_navigation(method: &Method, headers: &HeaderMap) -> bool {
    if method != Method::GET && method != Method::HEAD {
        return false;
    }
    if headers.contains_key(http::header::UPGRADE)
        || headers
            .get("x-requested-with")
            .is_some_and(|v| v.as_bytes().eq_ignore_ascii_case(b"xmlhttprequest"))
    {
        return false;
    }
    // `Sec-Fetch-Mode` is sent by every current browser; only navigations want a page.
    if let Some(mode) = headers.get("sec-fetch-mode") {
        if mode.as_bytes() != b"navigate" {
            return false;
        }
    }
    let accept = headers
        .get_all(http::header::ACCEPT)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .collect::<Vec<_>>()
        .join(",");
    prefers_html(&accept)
}

/// True when `text/html` is listed with a q-value above zero and at least that of JSON.
pub fn prefers_html(accept: &str) -> bool {
    let mut html = None;
    let mut json = 0.0f32;
    for item in accept.split(',') {
        let mut parts = item.split(';');
        let media = parts.next().unwrap_or("").trim().to_ascii_lowercase();
        let q = parts
            .filter_map(|p| p.trim().strip_prefix("q="))
            .filter_map(|q| q.trim().parse::<f32>().ok())
            .next()
            .unwrap_or(1.0);
        match media.as_str() {
            "text/html" | "application/xhtml+xml" => html = Some(html.unwrap_or(0.0f32).max(q)),
            "application/json" | "text/event-stream" => json = json.max(q),
            _ => {}
        }
    }
    html.is_some_and(|h| h > 0.0 && h >= json)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn check(method: Method, headers: &[(&'static str, &str)], browser: bool) {
        let mut map = HeaderMap::new();
        for (k, v) in headers {
            map.append(*k, v.parse().expect("header value"));
        }
        assert_eq!(
            is_browser_navigation(&method, &map),
            browser,
            "{method} {headers:?}"
        );
    }

    const NAV: &str = "text/html,application/xhtml+xml,application/xml;q=0.9,*/*;q=0.8";

    #[test]
    fn decisions() {
        check(Method::GET, &[("accept", NAV)], true);
        check(Method::HEAD, &[("accept", NAV)], true);
        check(
            Method::GET,
            &[("accept", NAV), ("sec-fetch-mode", "navigate")],
            true,
        );
        check(
            Method::GET,
            &[("accept", NAV), ("sec-fetch-mode", "cors")],
            false,
        );
        check(Method::POST, &[("accept", NAV)], false);
        check(Method::GET, &[("accept", "application/json")], false);
        check(Method::GET, &[("accept", "*/*")], false);
        check(Method::GET, &[], false);
        check(Method::GET, &[("accept", "text/event-stream")], false);
        check(
            Method::GET,
            &[("accept", NAV), ("upgrade", "websocket")],
            false,
        );
        check(
            Method::GET,
            &[("accept", NAV), ("x-requested-with", "XMLHttpRequest")],
            false,
        );
        check(
            Method::GET,
            &[("accept", "application/json, text/html;q=0.5")],
            false,
        );
        check(Method::GET, &[("accept", "text/html;q=0")], false);
    }
}
