//! HTTP/1.1 responses as bytes, for the two places in the proxy glue that answer without
//! pingora's HTTP session: the connection guard's refusals and the login event streams.
//!
//! Only our own replies pass through here, but a field value holding a line break would
//! still split the head, so such a field is left out rather than written.

use std::time::SystemTime;

use crate::http::reply::{Reply, SECURITY_HEADERS};
use crate::http::request::HSTS;

/// The fields of an event stream's head beside the security headers (one list for both the
/// pingora path and this one, so the two cannot drift apart).
pub const EVENT_STREAM_FIELDS: &[(&str, &str)] = &[
    ("content-type", "text/event-stream"),
    // Tell buffering proxies in front of us to pass events through at once.
    ("x-accel-buffering", "no"),
];

/// The chunk that ends a chunked body.
pub const LAST_CHUNK: &[u8] = b"0\r\n\r\n";

/// A response head: the status line, `Date` (`now`), `fields`, the security headers (with
/// HSTS when the connection is `secure`, i.e. TLS), and `Connection` (`close` when the
/// connection ends after this response, else `keep-alive`, as pingora writes it).
pub(crate) fn head<'a>(
    status: u16,
    fields: impl IntoIterator<Item = (&'a str, &'a str)>,
    close: bool,
    secure: bool,
    now: SystemTime,
) -> Vec<u8> {
    let reason = http::StatusCode::from_u16(status)
        .ok()
        .and_then(|s| s.canonical_reason())
        .unwrap_or("");
    let mut out = Vec::with_capacity(256);
    out.extend_from_slice(format!("HTTP/1.1 {status} {reason}\r\n").as_bytes());
    out.extend_from_slice(format!("date: {}\r\n", httpdate::fmt_http_date(now)).as_bytes());
    let connection = if close { "close" } else { "keep-alive" };
    let fields = fields
        .into_iter()
        .chain(SECURITY_HEADERS.iter().copied())
        .chain(secure.then_some(("strict-transport-security", HSTS)))
        .chain([("connection", connection)]);
    for (name, value) in fields {
        if name
            .bytes()
            .chain(value.bytes())
            .any(|b| b == b'\r' || b == b'\n')
        {
            continue;
        }
        out.extend_from_slice(name.as_bytes());
        out.extend_from_slice(b": ");
        out.extend_from_slice(value.as_bytes());
        out.extend_from_slice(b"\r\n");
    }
    out.extend_from_slice(b"\r\n");
    out
}

/// A complete local reply: its head (with `Content-Length`) and body.
pub fn reply(reply: &Reply, close: bool, secure: bool, now: SystemTime) -> Vec<u8> {
    let length = reply.body.len().to_string();
    let fields = [
        ("content-type", reply.content_type),
        ("content-length", length.as_str()),
    ];
    let extra = reply.headers.iter().map(|(n, v)| (*n, v.as_str()));
    let mut out = head(
        reply.status,
        fields.into_iter().chain(extra),
        close,
        secure,
        now,
    );
    out.extend_from_slice(&reply.body);
    out
}

/// The head of a chunked event stream; `close` as in `head`.
pub fn event_stream_head(close: bool, secure: bool, now: SystemTime) -> Vec<u8> {
    let fields = EVENT_STREAM_FIELDS
        .iter()
        .copied()
        .chain([("transfer-encoding", "chunked")]);
    head(200, fields, close, secure, now)
}

/// One chunk of a chunked body; nothing for no data (an empty chunk would end the body).
pub fn chunk(data: &[u8]) -> Vec<u8> {
    if data.is_empty() {
        return Vec::new();
    }
    let mut out = Vec::with_capacity(data.len() + 12);
    out.extend_from_slice(format!("{:x}\r\n", data.len()).as_bytes());
    out.extend_from_slice(data);
    out.extend_from_slice(b"\r\n");
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_reply_is_framed_with_its_length_and_security_headers() {
        let r = Reply::error(404, "not_found", "Nothing here.");
        let text =
            String::from_utf8(reply(&r, true, false, SystemTime::UNIX_EPOCH)).expect("utf-8");
        let (head, body) = text.split_once("\r\n\r\n").expect("head");
        assert!(
            head.starts_with("HTTP/1.1 404 Not Found\r\ndate: Thu, 01 Jan 1970 00:00:00 GMT\r\n")
        );
        assert!(head.contains(&format!("content-length: {}\r\n", body.len())));
        assert!(head.contains("x-frame-options: DENY"));
        assert!(head.ends_with("connection: close"));
        assert!(!head.contains("strict-transport-security"));
        let secure = String::from_utf8(reply(&r, false, true, SystemTime::now())).expect("utf-8");
        assert!(secure.contains(&format!("strict-transport-security: {HSTS}\r\n")));
        assert_eq!(body.as_bytes(), &r.body[..]);
    }

    #[test]
    fn a_field_with_a_line_break_is_left_out() {
        let text = String::from_utf8(head(
            200,
            [("x-a", "1\r\nx-b: 2")],
            false,
            false,
            SystemTime::now(),
        ))
        .expect("utf-8");
        assert!(!text.contains("x-b"));
        assert!(text.ends_with("connection: keep-alive\r\n\r\n"));
    }

    #[test]
    fn chunks_carry_their_length_in_hex() {
        assert!(
            chunk(b"").is_empty(),
            "no empty chunk, which would end the body"
        );
        assert_eq!(
            chunk(&[b'a'; 26]),
            [b"1a\r\n".as_slice(), &[b'a'; 26], b"\r\n"].concat()
        );
        assert!(
            String::from_utf8(event_stream_head(false, false, SystemTime::now()))
                .expect("utf-8")
                .contains("transfer-encoding: chunked\r\n")
        );
    }
}
