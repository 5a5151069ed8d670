//! Validating the post-login return path `rd` (the open-redirect defence).
//!
//! oauth2-proxy and Pomerium shipped open redirects through `//evil.com`, `/\evil.com`,
//! encoded whitespace and control characters, and `/./` tricks. Only a same-origin
//! relative path is accepted: it must start with exactly one `/`, contain no backslash,
//! whitespace, control character, encoded separator, dot segment or fragment, and a real
//! URL parser resolving it against a placeholder origin must keep that origin and leave
//! the text unchanged. Anything else is refused (callers fall back to `/`).

/// Why a return path was refused.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum ReturnPathError {
    /// Empty or longer than 2048 bytes.
    #[error("return path is empty or too long")]
    Length,
    /// Not a single leading `/`.
    #[error("return path must be a path on this site")]
    NotRelative,
    /// Backslash, whitespace, control or encoded separator/space.
    #[error("return path contains a forbidden character")]
    Forbidden,
    /// `.` or `..` segment.
    #[error("return path contains a dot segment")]
    DotSegment,
    /// The URL parser had to change it, or it left the origin.
    #[error("return path is not in canonical form")]
    NotCanonical,
}

const BASE: &str = "https://qrgate.invalid/";

/// Returns the safe relative path (path and optional query) to redirect to.
pub fn validate_return_path(rd: &str) -> Result<String, ReturnPathError> {
    if rd.is_empty() || rd.len() > 2048 {
        return Err(ReturnPathError::Length);
    }
    if !rd.starts_with('/') || rd.starts_with("//") {
        return Err(ReturnPathError::NotRelative);
    }
    if rd
        .chars()
        .any(|c| c == '\\' || c == '#' || c.is_whitespace() || c.is_control())
    {
        return Err(ReturnPathError::Forbidden);
    }
    let lower = rd.to_ascii_lowercase();
    let path = lower.split('?').next().unwrap_or("");
    // Encoded control characters and space (%00–%20, %7F), slash and backslash in the path;
    // the query may encode whatever it likes, but every escape must be well formed.
    let bytes = lower.as_bytes();
    for (i, _) in lower.match_indices('%') {
        let in_path = i < path.len();
        let hex = bytes
            .get(i + 1..i + 3)
            .and_then(|h| std::str::from_utf8(h).ok());
        match hex.and_then(|h| u8::from_str_radix(h, 16).ok()) {
            Some(v) if in_path && (v <= 0x20 || v == 0x7f || v == b'/' || v == b'\\') => {
                return Err(ReturnPathError::Forbidden)
            }
            Some(_) => {}
            None => return Err(ReturnPathError::Forbidden),
        }
    }
    if path
        .split('/')
        .any(|seg| matches!(seg, "." | ".." | "%2e" | "%2e%2e" | ".%2e" | "%2e."))
    {
        return Err(ReturnPathError::DotSegment);
    }
    let base = url::Url::parse(BASE).map_err(|_| ReturnPathError::NotCanonical)?;
    let joined = base.join(rd).map_err(|_| ReturnPathError::NotCanonical)?;
    if joined.origin() != base.origin() {
        return Err(ReturnPathError::NotCanonical);
    }
    let mut out = joined.path().to_string();
    if let Some(q) = joined.query() {
        out.push('?');
        out.push_str(q);
    }
    if out != rd {
        return Err(ReturnPathError::NotCanonical);
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hostile_return_paths_are_refused() {
        for rd in [
            "",
            "//evil.com",
            "///evil.com",
            "/\\evil.com",
            "/\\\\evil.com",
            "\\/evil.com",
            "/%5Cevil.com",
            "/%5cevil.com",
            "/%2F%2Fevil.com",
            "/%2f/evil.com",
            "https://evil.com",
            "http:/evil.com",
            "javascript:alert(1)",
            "/%09/evil.com",
            "/%0d%0a/evil.com",
            "/\t/evil.com",
            " /x",
            "/x y",
            "/./evil",
            "/../evil",
            "/a/%2e%2e/b",
            "/a/./b",
            "//%09evil.com",
            "/ /evil.com",
            "/\u{3000}evil",
            "evil.com",
            ".evil.com",
            "/x#frag",
            "%2F%2Fevil.com",
            "/%00",
            "/x\u{7f}",
            "//evil.com/%2e%2e",
            "/a/%2E",
            "/%20",
            "/%zz",
            "/a/..",
            "/x\u{85}y",
            "/a\nb",
        ] {
            assert!(validate_return_path(rd).is_err(), "{rd:?} accepted");
        }
        assert!(validate_return_path(&format!("/{}", "a".repeat(2048))).is_err());
    }

    #[test]
    fn same_origin_paths_are_kept() {
        for rd in [
            "/",
            "/app",
            "/app/page?x=1&y=2",
            "/a/b/",
            "/%C3%A9t%C3%A9",
            "/search?q=a%20b",
            "/@evil.com",
            "/a:b",
        ] {
            assert_eq!(validate_return_path(rd).as_deref(), Ok(rd));
        }
    }
}
