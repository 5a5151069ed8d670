//! Which request heads the glue serves itself, beside pingora's proxy: a login page's event
//! stream.
//!
//! A waiting login page holds its event stream open for minutes; inside pingora's proxy each
//! one keeps the whole per-request machinery alive. The glue's connection guard has already
//! read every HTTP/1 head (plain or in TLS), so it asks [`claim`] first. A head is claimed only when
//! there is nothing to frame and nothing to decide but the route: a well-formed HTTP/1.1
//! `GET` in origin form, no body (no `Content-Length` or `Transfer-Encoding`), no `Upgrade`,
//! exactly one `Host`, nothing pipelined behind it, and a path the decision itself
//! ([`decision::classify`]) routes to an attempt's event stream (`Route::is_event_stream`).
//! Everything else goes on to pingora unchanged, so every other answer keeps one source.
//!
//! The rule that keeps the two paths alike: a head is claimed only if pingora would accept
//! it as it is. pingora builds an `http` URI from the target (so the target must parse as
//! one, whole, with no fragment to trim), refuses userinfo in `Host`, and reads keep-alive
//! from the first `Connection` field; so does this module.
//!
//! The check in front ([`may_be_events`]) reads only the request line, so the heads of
//! ordinary requests cost a few comparisons here.

use http::header::{CONNECTION, CONTENT_LENGTH, HOST, TRANSFER_ENCODING, UPGRADE};
use std::str::FromStr;

use http::{HeaderMap, HeaderName, HeaderValue, Method};

use crate::config::{AppId, Config};
use crate::gate::decision::{self, Classified};
use crate::http::request::Request;
use crate::http::route::Route;

/// The most header fields a claimed head may have; a larger one goes to pingora, which
/// applies the configured limits.
const MAX_FIELDS: usize = 64;

/// A claimed event-stream request.
#[derive(Debug)]
pub struct EventRequest {
    /// The app selected by `Host`.
    pub app: AppId,
    /// The canonical route below the prefix (`/auth/session/{id}/events`).
    pub route: String,
    /// The raw query, without `?`.
    pub query: Option<String>,
    /// The request's header fields.
    pub headers: HeaderMap,
    /// Whether the connection may carry another request after this one.
    pub keep_alive: bool,
}

/// Whether the request line could name an event stream: a `GET` whose path ends in
/// `/events`. Cheap, and false for almost every proxied request.
pub fn may_be_events(head: &[u8]) -> bool {
    let Some(rest) = head.strip_prefix(b"GET ") else {
        return false;
    };
    let end = rest
        .iter()
        .position(|&b| b == b' ' || b == b'?' || b == b'\r' || b == b'\n')
        .unwrap_or(rest.len());
    rest[..end].ends_with(b"/events")
}

/// The event-stream request in `head` (one complete request head, exactly), if the glue
/// may serve it itself; `None` hands the head to pingora. `secure` tells whether it came
/// over TLS.
pub fn claim(config: &Config, head: &[u8], secure: bool) -> Option<EventRequest> {
    if !may_be_events(head) {
        return None;
    }
    let mut fields = [httparse::EMPTY_HEADER; MAX_FIELDS];
    let mut parsed = httparse::Request::new(&mut fields);
    match parsed.parse(head) {
        Ok(httparse::Status::Complete(n)) if n == head.len() => {}
        _ => return None,
    }
    if parsed.method != Some("GET") || parsed.version != Some(1) {
        return None;
    }
    // A target pingora would refuse or rewrite (bytes outside a URI, a fragment, over the
    // URI's length limit) is pingora's to answer.
    let target = parsed
        .path
        .filter(|t| t.starts_with('/') && !t.contains('#'))?;
    let target = http::uri::PathAndQuery::from_str(target)
        .ok()
        .filter(|pq| pq.as_str() == target)?;
    let mut headers = HeaderMap::with_capacity(parsed.headers.len());
    for field in parsed.headers.iter() {
        let name = HeaderName::from_bytes(field.name.as_bytes()).ok()?;
        let value = HeaderValue::from_bytes(field.value).ok()?;
        headers.append(name, value);
    }
    let framed = [CONTENT_LENGTH, TRANSFER_ENCODING, UPGRADE];
    if framed.iter().any(|name| headers.contains_key(name))
        || headers.get_all(HOST).iter().count() != 1
        || headers
            .get(HOST)
            .is_some_and(|h| h.as_bytes().contains(&b'@'))
    {
        return None;
    }
    let (path, query) = (target.path(), target.query());
    let view = Request {
        method: &Method::GET,
        host: headers.get(HOST).and_then(|h| h.to_str().ok()),
        path,
        query,
        absolute_form: false,
        headers: &headers,
        secure,
    };
    let Classified::Local { app, route } = decision::classify(config, &view) else {
        return None;
    };
    if !Route::parse(&route).is_some_and(|r| r.is_event_stream()) {
        return None;
    }
    // As pingora reads it: the first `Connection` field decides.
    let keep_alive = !headers
        .get(CONNECTION)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| {
            v.split(',')
                .any(|token| token.trim().eq_ignore_ascii_case("close"))
        });
    Some(EventRequest {
        app,
        route,
        query: query.map(str::to_string),
        headers,
        keep_alive,
    })
}

#[cfg(test)]
mod tests {
    use std::path::Path;

    use super::*;

    fn config() -> Config {
        let text = "[server]\nredirect_to_https = true\n\
            [[app]]\nname = \"a\"\norigin = \"http://a.example\"\nupstream = \"127.0.0.1:9\"\npublic_paths = [\"/feed/\"]\n\
            [[app]]\nname = \"s\"\norigin = \"https://s.example\"\nupstream = \"127.0.0.1:9\"\n";
        Config::parse(text, Path::new("t.toml")).expect("config")
    }

    const EVENTS: &str = "GET /.qrgate/auth/session/sess_1/events HTTP/1.1\r\nHost: a.example\r\nCookie: b=1\r\nAccept: text/event-stream\r\n\r\n";

    #[test]
    fn a_plain_event_stream_request_is_claimed_with_its_fields() {
        let c = claim(&config(), EVENTS.as_bytes(), false).expect("claimed");
        assert_eq!(c.route, "/auth/session/sess_1/events");
        assert_eq!(c.app, config().app_for_host("a.example").expect("app"));
        assert_eq!(c.headers.get("cookie").expect("cookie"), "b=1");
        assert!(c.keep_alive);
        assert_eq!(c.query, None);
        let with_query = EVENTS.replace("/events ", "/events?x=1 ");
        let c = claim(&config(), with_query.as_bytes(), false).expect("claimed");
        assert_eq!(c.query.as_deref(), Some("x=1"));
        let closing = EVENTS.replace("Cookie", "Connection: keep-alive, Close\r\nCookie");
        assert!(
            !claim(&config(), closing.as_bytes(), false)
                .expect("claimed")
                .keep_alive
        );
        // Only the first `Connection` field counts, as in pingora.
        let second = EVENTS.replace(
            "Cookie",
            "Connection: keep-alive\r\nConnection: close\r\nCookie",
        );
        assert!(
            claim(&config(), second.as_bytes(), false)
                .expect("claimed")
                .keep_alive
        );
    }

    #[test]
    fn every_other_head_goes_to_pingora() {
        let c = config();
        let variants = [
            // Not an event route, or not the gateway's: the app's own path, another route.
            EVENTS.replace("/.qrgate/auth/session/sess_1/events", "/feed/events"),
            EVENTS.replace("/.qrgate/auth/session/sess_1/events", "/events"),
            EVENTS.replace("/auth/session/sess_1/events", "/auth/session/events"),
            EVENTS.replace("sess_1/events", "sess_1/x/events"),
            // Another method, version or target form.
            EVENTS.replace("GET ", "POST "),
            EVENTS.replace("GET ", "HEAD "),
            EVENTS.replace("HTTP/1.1", "HTTP/1.0"),
            EVENTS.replace("GET /", "GET http://a.example/"),
            // Anything to frame, switch to, or disagree about.
            EVENTS.replace("Cookie", "Content-Length: 0\r\nCookie"),
            EVENTS.replace("Cookie", "Transfer-Encoding: chunked\r\nCookie"),
            EVENTS.replace("Cookie", "Upgrade: websocket\r\nCookie"),
            EVENTS.replace("Cookie", "Host: a.example\r\nCookie"),
            EVENTS.replace("Host: a.example\r\n", ""),
            EVENTS.replace("a.example", "unknown.example"),
            // Malformed, incomplete, or followed by a pipelined request.
            EVENTS.replace("Cookie: b=1", "Cookie b=1"),
            EVENTS.replace("\r\n\r\n", "\r\n"),
            format!("{EVENTS}GET / HTTP/1.1\r\n\r\n"),
            // A target pingora refuses or trims: bytes outside a URI, a fragment.
            EVENTS.replace("/events ", "/events?x=<> "),
            EVENTS.replace("/events ", "/events?x=\" "),
            EVENTS.replace("sess_1", "sess<1"),
            EVENTS.replace("sess_1", "sess`1"),
            EVENTS.replace("/events ", "/events#top "),
            EVENTS.replace("/events ", &format!("/events?{} ", "x".repeat(70_000))),
            // Userinfo in Host, which pingora refuses.
            EVENTS.replace("Host: a.example", "Host: u@a.example"),
            // A path the decision refuses (traversal) or redirects (plain HTTP to HTTPS).
            EVENTS.replace("/.qrgate/auth", "/x/../.qrgate/auth/%2e%2e"),
            EVENTS.replace("a.example", "s.example"),
        ];
        for head in &variants {
            assert!(
                claim(&c, head.as_bytes(), false).is_none(),
                "claimed: {head:?}"
            );
        }
        let many = EVENTS.replace("Cookie", &"X-A: 1\r\n".repeat(MAX_FIELDS).to_string());
        assert!(claim(&c, many.as_bytes(), false).is_none());
        // Over TLS, the HTTPS app's stream is its own again.
        let secure = EVENTS.replace("a.example", "s.example");
        assert!(claim(&c, secure.as_bytes(), true).is_some());
    }

    #[test]
    fn only_the_request_line_is_read_in_front() {
        assert!(may_be_events(
            b"GET /.qrgate/auth/session/x/events HTTP/1.1\r\n"
        ));
        assert!(may_be_events(b"GET /a/events?x HTTP/1.1\r\n"));
        assert!(!may_be_events(b"GET /a/events/ HTTP/1.1\r\n"));
        assert!(!may_be_events(b"POST /a/events HTTP/1.1\r\n"));
        assert!(!may_be_events(b"GET / HTTP/1.1\r\nX: /events\r\n"));
    }
}
