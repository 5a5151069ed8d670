//! Request path canonicalization: the one form every access decision is made on.
//!
//! Gateways have shipped bypasses by matching public-path rules against a path the
//! upstream later read differently (`/public/../admin`, `/public/%2e%2e/admin`,
//! `/public%2Fadmin`, `//public`). Here the path is canonicalized once, the public-path
//! rules match only the canonical form, and the canonical form is what is forwarded, so
//! what the upstream serves is exactly what was authorized. Anything ambiguous — encoded
//! separators, control bytes, backslashes, dot segments above the root — is refused rather
//! than guessed at.

/// A canonical absolute path: starts with `/`, no empty or dot segments, only unreserved
/// characters decoded, other escapes in uppercase hex.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CanonicalPath(String);

/// Why a path was refused (answered with 400).
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum PathError {
    /// Does not start with `/`.
    #[error("the path must start with '/'")]
    NotAbsolute,
    /// `%` not followed by two hex digits.
    #[error("malformed percent-encoding in the path")]
    BadPercentEncoding,
    /// `%2F` or `%5C`.
    #[error("encoded '/' or '\\' in the path")]
    EncodedSeparator,
    /// A control character, raw or encoded, or a raw space.
    #[error("control character or space in the path")]
    ControlCharacter,
    /// A raw backslash.
    #[error("backslash in the path")]
    Backslash,
    /// A raw `#`.
    #[error("fragment in the request path")]
    Fragment,
    /// A dot segment carrying `;parameters` (`..;`), which some servers read as `..`.
    #[error("dot segment with parameters in the path")]
    DotParameter,
    /// `..` above the root.
    #[error("the path climbs above the root")]
    EscapesRoot,
}

impl CanonicalPath {
    /// The canonical path.
    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// Whether this path lies under `prefix` (itself canonical) on a segment boundary:
    /// `/public` covers `/public` and `/public/x` but not `/publicity`; `/static/` covers
    /// `/static/a.css` but not `/static`.
    pub fn starts_with_prefix(&self, prefix: &str) -> bool {
        let p = self.0.as_str();
        if prefix.ends_with('/') {
            return p.starts_with(prefix);
        }
        p == prefix || (p.starts_with(prefix) && p.as_bytes().get(prefix.len()) == Some(&b'/'))
    }
}

fn is_unreserved(b: u8) -> bool {
    b.is_ascii_alphanumeric() || matches!(b, b'-' | b'.' | b'_' | b'~')
}

fn hex_val(b: u8) -> Option<u8> {
    (b as char).to_digit(16).map(|d| d as u8)
}

/// Canonicalizes the path part of a request target (the query already split off).
pub fn canonicalize(raw: &str) -> Result<CanonicalPath, PathError> {
    let bytes = raw.as_bytes();
    if bytes.first() != Some(&b'/') {
        return Err(PathError::NotAbsolute);
    }
    if is_already_canonical(bytes) {
        return Ok(CanonicalPath(raw.to_string()));
    }
    // Validate and normalize escapes and dot segments, segment by segment.
    let mut segments: Vec<String> = Vec::new();
    let mut current = String::new();
    let mut i = 0;
    let mut trailing_slash = false;
    let finish = |seg: &mut String, segments: &mut Vec<String>| -> Result<(), PathError> {
        match seg.as_str() {
            "" | "." => {}
            ".." => {
                if segments.pop().is_none() {
                    return Err(PathError::EscapesRoot);
                }
            }
            s if s.starts_with(".;") || s.starts_with("..;") => {
                return Err(PathError::DotParameter)
            }
            _ => segments.push(std::mem::take(seg)),
        }
        seg.clear();
        Ok(())
    };
    while i < bytes.len() {
        let b = bytes[i];
        match b {
            b'/' => {
                finish(&mut current, &mut segments)?;
                // Remembered so `/a/b/` keeps naming a directory.
                trailing_slash = true;
                i += 1;
                continue;
            }
            b'%' => {
                let (h, l) = match (
                    bytes.get(i + 1).copied().and_then(hex_val),
                    bytes.get(i + 2).copied().and_then(hex_val),
                ) {
                    (Some(h), Some(l)) => (h, l),
                    _ => return Err(PathError::BadPercentEncoding),
                };
                let decoded = h * 16 + l;
                match decoded {
                    b'/' | b'\\' => return Err(PathError::EncodedSeparator),
                    0x00..=0x1f | 0x7f => return Err(PathError::ControlCharacter),
                    d if is_unreserved(d) => current.push(d as char),
                    d => {
                        current.push('%');
                        current.push_str(&format!("{d:02X}"));
                    }
                }
                i += 3;
            }
            b'\\' => return Err(PathError::Backslash),
            b'#' => return Err(PathError::Fragment),
            0x00..=0x20 | 0x7f => return Err(PathError::ControlCharacter),
            _ => {
                // Copy the whole UTF-8 character (the input is a &str, so it is valid).
                let ch_len = raw[i..].chars().next().map_or(1, char::len_utf8);
                current.push_str(&raw[i..i + ch_len]);
                i += ch_len;
            }
        }
        trailing_slash = false;
    }
    let last_was_dots = matches!(current.as_str(), "." | "..");
    finish(&mut current, &mut segments)?;
    let mut out = String::with_capacity(raw.len());
    for s in &segments {
        out.push('/');
        out.push_str(s);
    }
    if out.is_empty() || trailing_slash || last_was_dots {
        out.push('/');
    }
    Ok(CanonicalPath(out))
}

/// The common case, checked without building segments: no escapes, no characters that are
/// refused or rewritten, no empty segment and no segment starting with `.`.
fn is_already_canonical(bytes: &[u8]) -> bool {
    let mut prev = 0u8;
    for &b in bytes {
        match b {
            b'%' | b'\\' | b'#' | 0x00..=0x20 | 0x7f => return false,
            b'/' | b'.' if prev == b'/' => return false,
            _ => {}
        }
        prev = b;
    }
    true
}

/// Canonicalizes an operator-configured prefix with the same rules.
pub fn canonical_prefix(prefix: &str) -> Result<String, PathError> {
    canonicalize(prefix).map(|p| p.0)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn check(input: &str, expected: Result<&str, PathError>) {
        assert_eq!(
            canonicalize(input).map(|p| p.0),
            expected.map(str::to_string),
            "{input:?}"
        );
    }

    #[test]
    fn canonical_forms() {
        use PathError::*;
        check("/", Ok("/"));
        check("/a/b", Ok("/a/b"));
        check("/a/b/", Ok("/a/b/"));
        check("//public", Ok("/public"));
        check("/a//b", Ok("/a/b"));
        check("/a/./b", Ok("/a/b"));
        check("/a/.", Ok("/a/"));
        check("/a/b/..", Ok("/a/"));
        check("/public/../admin", Ok("/admin"));
        check("/public/%2e%2e/admin", Ok("/admin"));
        check("/public/%2E./admin", Ok("/admin"));
        check("/public/.%2e/admin", Ok("/admin"));
        check("/%7euser", Ok("/~user"));
        check("/%70ublic", Ok("/public"));
        check("/a%20b", Ok("/a%20b"));
        check("/%c3%a9", Ok("/%C3%A9"));
        check("/%252e%252e/x", Ok("/%252e%252e/x"));
        check("/é", Ok("/é"));
        check("/a;b=c", Ok("/a;b=c"));
        check("/public%2Fx", Err(EncodedSeparator));
        check("/public%2fx", Err(EncodedSeparator));
        check("/public%5cx", Err(EncodedSeparator));
        check("/public\\x", Err(Backslash));
        check("/..", Err(EscapesRoot));
        check("/a/../../b", Err(EscapesRoot));
        check("/%00", Err(ControlCharacter));
        check("/a%0d%0a", Err(ControlCharacter));
        check("/a b", Err(ControlCharacter));
        check("/a#b", Err(Fragment));
        check("/%zz", Err(BadPercentEncoding));
        check("/public/..;/admin", Err(DotParameter));
        check("/public/%2e%2e;x/admin", Err(DotParameter));
        check("/%2", Err(BadPercentEncoding));
        check("a/b", Err(NotAbsolute));
        check("", Err(NotAbsolute));
    }

    #[test]
    fn fast_path_agrees_with_the_full_rules() {
        for p in [
            "/",
            "/a",
            "/a/b/",
            "/a.b/c.d",
            "/é/x",
            "/a;b",
            "/.well-known/x",
            "/a/.",
            "/a//b",
            "/a/%41",
        ] {
            let fast = is_already_canonical(p.as_bytes());
            let canonical = canonicalize(p).map(|c| c.0);
            if fast {
                assert_eq!(canonical.as_deref(), Ok(p), "{p}");
            }
        }
        assert!(is_already_canonical(b"/a/b.c/d"));
        assert!(!is_already_canonical(b"/a/./b"));
    }

    #[test]
    fn prefixes_match_on_segment_boundaries() {
        let p = |s: &str| canonicalize(s).expect("canonical");
        assert!(p("/public").starts_with_prefix("/public"));
        assert!(p("/public/x").starts_with_prefix("/public"));
        assert!(!p("/publicity").starts_with_prefix("/public"));
        assert!(p("/static/a.css").starts_with_prefix("/static/"));
        assert!(!p("/static").starts_with_prefix("/static/"));
        assert!(p("/anything").starts_with_prefix("/"));
    }
}
