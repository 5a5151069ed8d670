//! Validation of the post-login return path `rd`: the open-redirect defence.
//!
//! This module owns the decision of where the browser may be sent after signing in. The
//! value arrives in a link anyone can craft, so a lax check turns the login page into an
//! open redirect (phishing that starts on a trusted origin). oauth2-proxy and Pomerium
//! shipped exactly that through `//evil.com`, `/\evil.com`, encoded whitespace and control
//! characters, `/./` tricks and backslashes, each a form one component read as a path and
//! a browser read as another host. Only a same-origin path is accepted: it starts with
//! exactly one `/`, contains no backslash, whitespace, control character, encoded slash,
//! dot segment or fragment, in any spelling, and a real URL parser resolving it against a
//! placeholder origin must keep that origin and leave the text unchanged. Everything else
//! is refused, and the caller falls back to `/`.

use percent_encoding::percent_decode_str;

/// The longest return path accepted, in bytes; longer ones are refused, not truncated.
const MAX_LEN: usize = 2048;

/// An origin no real host can have, used only to let the URL parser resolve `rd`.
const PLACEHOLDER_ORIGIN: &str = "https://qrgate.invalid/";

/// Why a return path was refused.
#[derive(Debug, Clone, Copy, thiserror::Error, PartialEq, Eq)]
pub enum ReturnPathError {
    /// The value is empty.
    #[error("return path is empty")]
    Empty,
    /// The value is longer than the limit.
    #[error("return path is longer than {} bytes", MAX_LEN)]
    TooLong,
    /// The value does not start with `/`.
    #[error("return path must start with '/'")]
    NotRootRelative,
    /// The value starts with `//`, which browsers read as another host.
    #[error("return path must not start with '//'")]
    SchemeRelative,
    /// A backslash, raw or `%5C`, which browsers read as `/`.
    #[error("backslash in return path")]
    Backslash,
    /// Whitespace, raw anywhere or encoded in the path.
    #[error("whitespace in return path")]
    Whitespace,
    /// A control character, raw anywhere or encoded in the path.
    #[error("control character in return path")]
    ControlCharacter,
    /// A `#` fragment.
    #[error("fragment in return path")]
    Fragment,
    /// A `%` not followed by two hex digits.
    #[error("malformed percent-encoding in return path")]
    BadPercentEncoding,
    /// `%2F` in the path.
    #[error("encoded '/' in return path")]
    EncodedSlash,
    /// A `.` or `..` segment, raw or encoded.
    #[error("dot segment in return path")]
    DotSegment,
    /// The URL parser resolved it to another scheme, host, port or user.
    #[error("return path leaves this site")]
    CrossOrigin,
    /// The URL parser refused it.
    #[error("return path is not a valid URL path")]
    Unparseable,
    /// The URL parser had to rewrite it.
    #[error("return path is not in canonical form")]
    NotCanonical,
}

/// Validates `rd`, the already query-decoded return-path parameter, and returns the safe
/// same-origin path (path plus optional `?query`, never a fragment) to redirect to.
///
/// The returned string always equals `rd`: a value that would need any rewriting to be
/// safe is refused instead, so the check and the redirect cannot disagree.
pub fn validate_return_path(rd: &str) -> Result<String, ReturnPathError> {
    if rd.is_empty() {
        return Err(ReturnPathError::Empty);
    }
    if rd.len() > MAX_LEN {
        return Err(ReturnPathError::TooLong);
    }
    if !rd.starts_with('/') {
        return Err(ReturnPathError::NotRootRelative);
    }
    if rd.starts_with("//") {
        return Err(ReturnPathError::SchemeRelative);
    }
    for c in rd.chars() {
        check_char(c)?;
        if c == '#' {
            return Err(ReturnPathError::Fragment);
        }
    }
    let (path, query) = match rd.split_once('?') {
        Some((path, query)) => (path, Some(query)),
        None => (rd, None),
    };
    check_escapes(path, Part::Path)?;
    if let Some(query) = query {
        // The query is only handed back to this site, so it may encode spaces and slashes
        // (`?q=a%20b`); a backslash is still refused everywhere.
        check_escapes(query, Part::Query)?;
    }
    // Decoded as a whole so multi-byte whitespace (`%C2%A0`, `%E3%80%80`) and C1 controls
    // (`%C2%85`) are caught too, not only the ASCII ones.
    let decoded_path = percent_decode_str(path).decode_utf8_lossy();
    for c in decoded_path.chars() {
        check_char(c)?;
    }
    // Splitting the decoded path is sound because `%2F` has been refused above.
    if decoded_path
        .split('/')
        .any(|segment| matches!(segment, "." | ".."))
    {
        return Err(ReturnPathError::DotSegment);
    }
    resolve_same_origin(rd)
}

/// Refuses the characters a browser may strip, fold or reinterpret.
fn check_char(c: char) -> Result<(), ReturnPathError> {
    if c == '\\' {
        Err(ReturnPathError::Backslash)
    } else if c.is_whitespace() {
        Err(ReturnPathError::Whitespace)
    } else if c.is_control() {
        Err(ReturnPathError::ControlCharacter)
    } else {
        Ok(())
    }
}

/// Which part of a return path an escape sits in.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Part {
    /// Before `?`: encoded separators and controls are refused.
    Path,
    /// After `?`: only backslashes and malformed escapes are refused.
    Query,
}

/// Checks every escape in `part` is well formed and encodes nothing refused there.
fn check_escapes(part: &str, part_kind: Part) -> Result<(), ReturnPathError> {
    let in_path = part_kind == Part::Path;
    let bytes = part.as_bytes();
    for (i, _) in part.match_indices('%') {
        let hi = bytes.get(i + 1).copied().and_then(hex_digit);
        let lo = bytes.get(i + 2).copied().and_then(hex_digit);
        let (Some(hi), Some(lo)) = (hi, lo) else {
            return Err(ReturnPathError::BadPercentEncoding);
        };
        match (hi << 4) | lo {
            b'\\' => return Err(ReturnPathError::Backslash),
            b'/' if in_path => return Err(ReturnPathError::EncodedSlash),
            // Non-ASCII bytes are judged once decoded together with their neighbours.
            b if in_path && b.is_ascii() => check_char(char::from(b))?,
            _ => {}
        }
    }
    Ok(())
}

/// Resolves `rd` against the placeholder origin with a real URL parser and accepts it only
/// if the origin is unchanged and the parser kept the text exactly as given.
fn resolve_same_origin(rd: &str) -> Result<String, ReturnPathError> {
    let base = url::Url::parse(PLACEHOLDER_ORIGIN).map_err(|_| ReturnPathError::Unparseable)?;
    let joined = base.join(rd).map_err(|_| ReturnPathError::Unparseable)?;
    if joined.scheme() != base.scheme()
        || joined.host_str() != base.host_str()
        || joined.port_or_known_default() != base.port_or_known_default()
        || !joined.username().is_empty()
        || joined.password().is_some()
    {
        return Err(ReturnPathError::CrossOrigin);
    }
    if joined.fragment().is_some() {
        return Err(ReturnPathError::Fragment);
    }
    let mut out = joined.path().to_owned();
    if let Some(query) = joined.query() {
        out.push('?');
        out.push_str(query);
    }
    if out != rd {
        return Err(ReturnPathError::NotCanonical);
    }
    Ok(out)
}

fn hex_digit(b: u8) -> Option<u8> {
    char::from(b)
        .to_digit(16)
        .and_then(|d| u8::try_from(d).ok())
}

#[cfg(test)]
mod tests {
    use super::*;
    use ReturnPathError::*;

    fn refused(rd: &str) {
        let got = validate_return_path(rd);
        assert!(got.is_err(), "{rd:?} was accepted as {got:?}");
    }

    fn check(rd: &str, expected: Result<&str, ReturnPathError>) {
        assert_eq!(
            validate_return_path(rd),
            expected.map(str::to_owned),
            "validate_return_path({rd:?})"
        );
    }

    #[test]
    fn hostile_return_paths_are_refused() {
        const HOSTILE: &[&str] = &[
            // Empty and not root-relative.
            "",
            "evil.com",
            ".evil.com",
            "%2F%2Fevil.com",
            "https://evil.com",
            "http:/evil.com",
            "https:evil.com",
            "javascript:alert(1)",
            "data:text/html,x",
            "https://qrgate.invalid/x",
            "?/evil.com",
            "#/evil.com",
            // Scheme-relative.
            "//evil.com",
            "///evil.com",
            "//evil.com/%2e%2e",
            "//%09evil.com",
            "//qrgate.invalid/x",
            // Backslashes, raw or encoded, anywhere.
            "/\\evil.com",
            "/\\\\evil.com",
            "\\/evil.com",
            "\\\\evil.com",
            "/%5Cevil.com",
            "/%5cevil.com",
            "/a?next=\\evil.com",
            "/a?next=%5Cevil.com",
            // Encoded slashes.
            "/%2F%2Fevil.com",
            "/%2f/evil.com",
            "/a%2Fb",
            // Whitespace and control characters, raw or encoded.
            "/%09/evil.com",
            "/%0d%0a/evil.com",
            "/%0A",
            "/%20",
            "/%00",
            "/%7F",
            "/%1b",
            "/\t/evil.com",
            "/\r\n/evil.com",
            "/a\nb",
            " /x",
            "/x ",
            "/x y",
            "/ /evil.com",
            "/x\u{7f}",
            "/x\u{0}",
            "/x\u{85}y",
            "/\u{a0}evil",
            "/\u{2028}evil",
            "/\u{3000}evil",
            "/%C2%A0evil",
            "/%C2%85evil",
            "/%E3%80%80evil",
            "/a?b c",
            "/a?b\td",
            // Dot segments, raw or encoded.
            "/.",
            "/..",
            "/./evil",
            "/../evil",
            "/./",
            "/a/./b",
            "/a/..",
            "/a/../b",
            "/a/%2e%2e/b",
            "/a/%2E%2E/b",
            "/a/.%2e/b",
            "/a/%2e./b",
            "/a/%2e",
            "/%2e/evil",
            // Fragments.
            "/x#frag",
            "/#",
            "/a?b#c",
            // Malformed escapes.
            "/%",
            "/%2",
            "/%zz",
            "/a?q=100%",
            // Rewritten by the parser.
            "/é",
            "/a\"b",
            "/a<b>",
            "/a`b",
            "/a{b}",
        ];
        assert!(HOSTILE.len() >= 35);
        for rd in HOSTILE {
            refused(rd);
        }
    }

    #[test]
    fn same_origin_paths_are_kept() {
        const ACCEPTED: &[&str] = &[
            "/",
            "/app",
            "/app/page?x=1&y=2",
            "/a/b/",
            "/%C3%A9t%C3%A9",
            "/search?q=a%20b",
            "/@evil.com",
            "/a:b",
            "/a//b",
            "/.well-known/x",
            "/a..b/...",
            "/a;b=c",
            "/?next=/x",
            "/?next=%2F%2Fevil.com",
            "/%23",
            "/a?",
            "/~user/a_b-c.d",
            "/a%252e%252e",
        ];
        for rd in ACCEPTED {
            check(rd, Ok(rd));
        }
    }

    #[test]
    fn refusals_name_the_reason() {
        check("", Err(Empty));
        check("evil.com", Err(NotRootRelative));
        check("https://evil.com", Err(NotRootRelative));
        check("//evil.com", Err(SchemeRelative));
        check("/\\evil.com", Err(Backslash));
        check("/%5Cevil.com", Err(Backslash));
        check("/x y", Err(Whitespace));
        check("/%20", Err(Whitespace));
        check("/%E3%80%80", Err(Whitespace));
        check("/%00", Err(ControlCharacter));
        check("/x\u{7f}", Err(ControlCharacter));
        check("/x#y", Err(Fragment));
        check("/%zz", Err(BadPercentEncoding));
        check("/%2F%2Fevil.com", Err(EncodedSlash));
        check("/a/%2e%2e/b", Err(DotSegment));
        check("/é", Err(NotCanonical));
    }

    #[test]
    fn length_limit_is_inclusive() {
        let longest = format!("/{}", "a".repeat(MAX_LEN - 1));
        check(&longest, Ok(&longest));
        check(&format!("{longest}a"), Err(TooLong));
    }
}
