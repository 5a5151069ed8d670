//! Request path canonicalization: the single form every access decision is made on.
//!
//! This module owns the rules that turn the path of a request target into the one
//! canonical path that operator-configured `public_paths` are matched against and that is
//! forwarded upstream. Gateways have shipped authentication bypasses by matching rules
//! against a path the upstream later read differently (`/public/../admin`,
//! `/public/%2e%2e/admin`, `/public%2Fadmin`, `//public`, `/public/..;/admin`). Here the path
//! is canonicalized once, rules match only the canonical form, and the canonical form is
//! what the upstream receives, so what is served is exactly what was authorized. Anything
//! whose meaning depends on who reads it — encoded separators, control bytes, backslashes,
//! fragments, dot segments above the root or carrying parameters — is refused rather than
//! guessed at.

use std::fmt;

/// A canonical absolute path.
///
/// It always starts with `/`, has no empty, `.` or `..` segments, carries percent-encoding
/// only for bytes outside the unreserved set (in uppercase hex), and keeps a trailing `/`
/// when the request had one.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CanonicalPath(String);

/// Why a request path (or a configured prefix) was refused.
#[derive(Debug, Clone, Copy, thiserror::Error, PartialEq, Eq)]
pub enum PathError {
    /// The path does not start with `/`.
    #[error("the path must start with '/'")]
    NotAbsolute,
    /// A `%` not followed by two hex digits.
    #[error("malformed percent-encoding in the path")]
    BadPercentEncoding,
    /// `%2F` or `%5C`: a separator the upstream might split on although the rules did not.
    #[error("encoded '/' or '\\' in the path")]
    EncodedSeparator,
    /// A control character (raw or encoded) or a raw space.
    #[error("control character or space in the path")]
    ControlCharacter,
    /// A raw backslash, which some servers treat as `/`.
    #[error("backslash in the path")]
    Backslash,
    /// A raw `#`: a fragment never belongs in a request target.
    #[error("fragment in the path")]
    Fragment,
    /// A raw `?`: the query must be split off before canonicalizing.
    #[error("'?' in the path")]
    Query,
    /// A `.` or `..` segment followed by `;` parameters, which some servers read as the
    /// bare dot segment.
    #[error("dot segment with parameters in the path")]
    DotParameter,
    /// A `..` segment that would climb above the root.
    #[error("the path climbs above the root")]
    EscapesRoot,
    /// Decoded once, the path still holds an escape of `.`, `/`, `\\`, `%`, NUL or a
    /// control byte (`%252e`, `%25%32%66`): an upstream that decodes twice would see a
    /// different path than the one the rules matched.
    #[error("double percent-encoding in the path")]
    DoubleEncoded,
    /// An escaped overlong UTF-8 sequence (`%C0%AF`, `%E0%80%AE`): no valid text is written
    /// so, and decoders that accept it read `/`, `.` or `\` where the rules saw none.
    #[error("overlong UTF-8 encoding in the path")]
    Overlong,
    /// The request target holds raw bytes that are not UTF-8: the rules would judge a
    /// replacement of them while the upstream received the bytes themselves.
    #[error("the request target is not UTF-8")]
    NotUtf8,
}

impl CanonicalPath {
    /// The canonical path text.
    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// This path in the folded form restricting rules compare (see [`FoldedPath`]).
    pub(crate) fn folded(&self) -> FoldedPath {
        FoldedPath(fold(&self.0))
    }

    /// Whether this path lies under `prefix` (itself canonical, see [`canonical_prefix`]),
    /// on a segment boundary, spelled exactly as the prefix is.
    ///
    /// `/public` covers `/public` and `/public/x` but not `/publicity`; `/static/` covers
    /// `/static/a.css` but not `/static`; `/` covers everything. An empty prefix covers
    /// nothing, so a misconfigured rule can never make the whole site public by accident.
    fn starts_with_prefix(&self, prefix: &str) -> bool {
        if prefix.is_empty() {
            return false;
        }
        match self.0.strip_prefix(prefix) {
            None => false,
            Some(rest) => rest.is_empty() || prefix.ends_with('/') || rest.starts_with('/'),
        }
    }
}

impl fmt::Display for CanonicalPath {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// A prefix under which a rule *opens* access (a public path, a read-write grant entry).
///
/// It covers a path only when the canonical path is spelled exactly as the prefix, on a
/// segment boundary: `/public` opens neither `/PUBLIC` nor `/public;x`. A spelling the rule
/// did not name falls to the stricter rules, whatever the upstream makes of it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OpeningPrefix(String);

impl OpeningPrefix {
    /// The prefix `raw`, canonicalized like request paths.
    pub(crate) fn new(raw: &str) -> Result<OpeningPrefix, PathError> {
        canonical_prefix(raw).map(OpeningPrefix)
    }

    /// `/`, which opens every path.
    pub(crate) fn root() -> OpeningPrefix {
        OpeningPrefix("/".into())
    }

    /// Whether `path` lies under this prefix, spelled exactly.
    pub(crate) fn covers(&self, path: &CanonicalPath) -> bool {
        path.starts_with_prefix(&self.0)
    }

    /// The canonical prefix.
    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// Whether a path this prefix opens may be read by an upstream as `restricted` itself or
    /// a path under it (`/docs` and `/Docs/internal`): then the restricting rule would not
    /// hold for every spelling.
    pub(crate) fn may_serve_all_of(&self, restricted: &RestrictingPrefix) -> bool {
        let opened = fold(&self.0);
        match restricted.folded.strip_prefix(opened.as_slice()) {
            None => false,
            Some(rest) => rest.is_empty() || rest.starts_with(b"/"),
        }
    }
}

/// A prefix under which a rule *restricts* access (step-up, a read-only grant entry).
///
/// It covers every path an upstream may take for one under it: the comparison is made on
/// the folded forms ([`FoldedPath`]), so `/admin` also covers `/ADMIN/users`,
/// `/admin;x/users`, `/admin%3Bx/users`, `/admin./users` and `/Admin/`; and a trailing `/`
/// on the prefix does not matter (`/admin/` covers `/admin`, which many routers treat alike).
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct RestrictingPrefix {
    canonical: String,
    folded: Vec<u8>,
}

impl RestrictingPrefix {
    /// The prefix `raw`, canonicalized like request paths.
    pub(crate) fn new(raw: &str) -> Result<RestrictingPrefix, PathError> {
        let canonical = canonical_prefix(raw)?;
        let folded = fold(&canonical);
        Ok(RestrictingPrefix { canonical, folded })
    }

    /// Whether a path of this folded form lies under this prefix in any spelling.
    ///
    /// A segment that continues the prefix's last one after a `.` counts as under it too:
    /// routers that take a format suffix (Rails `(.:format)`, Spring's suffix patterns, many
    /// REST frameworks) serve `/admin.json` and `/admin.xml/` from the `/admin` route.
    pub(crate) fn covers(&self, path: &FoldedPath) -> bool {
        let path = path.0.as_slice();
        match path.strip_prefix(self.folded.as_slice()) {
            None => false,
            Some(rest) => {
                rest.is_empty()
                    || rest.starts_with(b"/")
                    || (rest.starts_with(b".") && !self.folded.is_empty())
            }
        }
    }

    /// The canonical prefix, as configured.
    pub(crate) fn as_str(&self) -> &str {
        &self.canonical
    }
}

/// A canonical path reduced to what upstreams may ignore when they compare paths: each
/// segment percent-decoded, cut at its first `;` (raw or `%3B`: path parameters, which
/// Tomcat, Jetty and Spring drop), stripped of trailing dots and spaces (which Windows and IIS
/// drop), and case-folded (Unicode, so ASCII too: Express, ASP.NET and IIS compare without
/// case); segments left empty vanish, and so does a trailing `/`. Two spellings one of these
/// upstreams serves as the same resource have the same folded form. Folding only ever
/// merges paths, so it is used for rules that restrict, never for rules that open.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct FoldedPath(Vec<u8>);

fn fold(canonical: &str) -> Vec<u8> {
    let mut out = Vec::with_capacity(canonical.len());
    for segment in canonical.split('/') {
        let decoded: Vec<u8> = percent_encoding::percent_decode_str(segment).collect();
        let end = decoded
            .iter()
            .position(|&b| b == b';')
            .unwrap_or(decoded.len());
        let mut kept = &decoded[..end];
        while let [rest @ .., b'.' | b' '] = kept {
            kept = rest;
        }
        if kept.is_empty() {
            continue;
        }
        out.push(b'/');
        match std::str::from_utf8(kept) {
            Ok(text) => {
                let mut buf = [0u8; 4];
                // Upper then lower, so characters whose lowercase differs from the one their
                // uppercase maps back to (`ſ`, `K` the Kelvin sign) meet their ASCII letters.
                for c in text
                    .chars()
                    .flat_map(char::to_uppercase)
                    .flat_map(char::to_lowercase)
                {
                    out.extend_from_slice(c.encode_utf8(&mut buf).as_bytes());
                }
            }
            Err(_) => out.extend(kept.iter().map(u8::to_ascii_lowercase)),
        }
    }
    out
}

/// Canonicalizes the path part of a request target (the caller has already split off the
/// query at the first `?`).
///
/// Unreserved characters (`A-Z a-z 0-9 - . _ ~`) are decoded, other escapes are kept in
/// uppercase hex and never decoded twice, runs of `/` collapse into one, `.` segments are
/// dropped and `..` removes the previous segment. Encoded separators, control characters,
/// raw spaces, backslashes, `#`, `?`, malformed escapes, dot segments with parameters and
/// `..` above the root are errors.
pub fn canonicalize(raw: &str) -> Result<CanonicalPath, PathError> {
    let Some(body) = raw.strip_prefix('/') else {
        return Err(PathError::NotAbsolute);
    };
    // Nearly every real request is already canonical; answering those without rebuilding
    // keeps the per-request cost to one scan.
    if is_already_canonical(raw.as_bytes()) {
        return Ok(CanonicalPath(raw.to_owned()));
    }
    canonicalize_segments(body).map(CanonicalPath)
}

/// Normalises an operator-configured prefix with the same rules as request paths, so that
/// a prefix and the paths it is meant to cover are compared in the same form.
pub(crate) fn canonical_prefix(prefix: &str) -> Result<String, PathError> {
    canonicalize(prefix).map(|p| p.0)
}

/// The full rules, on the path without its leading `/`.
fn canonicalize_segments(body: &str) -> Result<String, PathError> {
    refuse_double_encoding(body)?;
    let mut segments: Vec<String> = Vec::new();
    // Only the last segment decides: `/a/b/`, `/a/.` and `/a/b/..` all name a directory.
    let mut trailing_slash = false;
    // Splitting before decoding is sound because encoded separators are refused, so every
    // `/` in the decoded text was a raw `/`.
    for raw_segment in body.split('/') {
        // Every segment is validated, even one a later `..` removes: a refused byte is
        // refused wherever it appears.
        let segment = decode_segment(raw_segment)?;
        refuse_overlong(&segment)?;
        trailing_slash = matches!(segment.as_str(), "" | "." | "..");
        match segment.as_str() {
            "" | "." => {}
            ".." => {
                // Clamping at the root would silently change which resource is named.
                if segments.pop().is_none() {
                    return Err(PathError::EscapesRoot);
                }
            }
            s if is_dot_with_parameters(s) => return Err(PathError::DotParameter),
            _ => segments.push(segment),
        }
    }
    let mut out = String::with_capacity(body.len() + 1);
    for segment in &segments {
        out.push('/');
        out.push_str(segment);
    }
    if out.is_empty() || trailing_slash {
        out.push('/');
    }
    Ok(out)
}

/// Decodes the escapes of one segment that are safe to decode and validates the rest.
fn decode_segment(raw: &str) -> Result<String, PathError> {
    let mut out = String::with_capacity(raw.len());
    let mut chars = raw.chars();
    while let Some(c) = chars.next() {
        match c {
            '%' => {
                let hi = chars.next().and_then(hex_digit);
                let lo = chars.next().and_then(hex_digit);
                let (Some(hi), Some(lo)) = (hi, lo) else {
                    return Err(PathError::BadPercentEncoding);
                };
                let byte = (hi << 4) | lo;
                match byte {
                    b'/' | b'\\' => return Err(PathError::EncodedSeparator),
                    0x00..=0x1f | 0x7f => return Err(PathError::ControlCharacter),
                    b if is_unreserved(b) => out.push(char::from(b)),
                    b => push_escape(&mut out, b),
                }
            }
            '\\' => return Err(PathError::Backslash),
            '#' => return Err(PathError::Fragment),
            '?' => return Err(PathError::Query),
            ' ' => return Err(PathError::ControlCharacter),
            // Includes the C1 controls (U+0080–U+009F), which some stacks map to ASCII.
            c if c.is_control() => return Err(PathError::ControlCharacter),
            c => out.push(c),
        }
    }
    Ok(out)
}

/// Refuses a path whose once-decoded bytes still contain an escape that a second decoding
/// would turn into a separator, a dot, a `%` or a control byte. Only a decoded `%` can start
/// such an escape, and only `%25` decodes to `%`, so paths without `%25` pass at once.
fn refuse_double_encoding(raw: &str) -> Result<(), PathError> {
    if !raw.contains("%25") {
        return Ok(());
    }
    let once: Vec<u8> = percent_encoding::percent_decode_str(raw).collect();
    let hex = |b: u8| char::from(b).to_digit(16);
    for w in once.windows(3) {
        let [b'%', hi, lo] = *w else { continue };
        let (Some(hi), Some(lo)) = (hex(hi), hex(lo)) else {
            continue;
        };
        match hi * 16 + lo {
            0x2e | 0x2f | 0x5c | 0x25 | 0x00..=0x1f | 0x7f => return Err(PathError::DoubleEncoded),
            _ => {}
        }
    }
    Ok(())
}

/// Refuses a segment whose escapes spell an overlong UTF-8 sequence: a lead byte `C0` or
/// `C1` (only ever the start of a two-byte spelling of ASCII), or `E0` followed by `80`–`9F`
/// or `F0` by `80`–`8F`. Decoders that accept these (old IIS, Tomcat's CVE-2008-2938) read
/// separators and dots the rules never saw; no valid text needs them.
fn refuse_overlong(segment: &str) -> Result<(), PathError> {
    if !segment.contains('%') {
        return Ok(());
    }
    let bytes: Vec<u8> = percent_encoding::percent_decode_str(segment).collect();
    let overlong = bytes.iter().enumerate().any(|(i, &b)| {
        let next = bytes.get(i + 1).copied();
        matches!(b, 0xC0 | 0xC1)
            || (b == 0xE0 && matches!(next, Some(0x80..=0x9F)))
            || (b == 0xF0 && matches!(next, Some(0x80..=0x8F)))
    });
    if overlong {
        Err(PathError::Overlong)
    } else {
        Ok(())
    }
}

/// `.;x`, `..;x` and their `%3B` spellings: Tomcat-style servers strip the parameters and
/// then resolve the dot segment, which would let `/public/..;/admin` reach `/admin`.
fn is_dot_with_parameters(segment: &str) -> bool {
    let rest = segment
        .strip_prefix("..")
        .or_else(|| segment.strip_prefix('.'));
    rest.is_some_and(|r| r.starts_with(';') || r.starts_with("%3B"))
}

/// Whether `path` passes the full rules unchanged: only printable ASCII that is copied
/// verbatim, no escapes, no empty segment and no segment starting with `.`. Anything else
/// (including all non-ASCII) takes the full rules.
fn is_already_canonical(path: &[u8]) -> bool {
    let mut prev = 0u8;
    for &b in path {
        match b {
            b'%' | b'\\' | b'#' | b'?' => return false,
            b if !(0x21..=0x7e).contains(&b) => return false,
            b'/' | b'.' if prev == b'/' => return false,
            _ => {}
        }
        prev = b;
    }
    true
}

fn is_unreserved(b: u8) -> bool {
    b.is_ascii_alphanumeric() || matches!(b, b'-' | b'.' | b'_' | b'~')
}

fn hex_digit(c: char) -> Option<u8> {
    c.to_digit(16).and_then(|d| u8::try_from(d).ok())
}

fn push_escape(out: &mut String, b: u8) {
    const HEX: &[u8; 16] = b"0123456789ABCDEF";
    out.push('%');
    out.push(char::from(HEX[usize::from(b >> 4)]));
    out.push(char::from(HEX[usize::from(b & 0x0f)]));
}

#[cfg(test)]
mod tests;
