//! What a login grants: read-only or read-write access, per path prefix.
//!
//! An app declares it (`access`, `access_paths`); every login asks for exactly that grant in
//! its protocol's terms (a line of the native challenge, Pubky capabilities, Tana's app name),
//! the session records the grant it was approved with, and a request the grant does not cover
//! is refused (403) — a config change never widens a session already held. "Read" admits the
//! safe methods (GET, HEAD, OPTIONS) — but not a protocol upgrade (a websocket opens with a
//! GET and then carries anything); "read-write" admits every request.

use std::fmt;
use std::str::FromStr;

use http::Method;

use crate::path::CanonicalPath;

/// One level of access.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Access {
    /// GET, HEAD, OPTIONS.
    Read,
    /// Every method.
    ReadWrite,
}

impl Access {
    /// The config and wire name.
    pub fn name(self) -> &'static str {
        match self {
            Access::Read => "read",
            Access::ReadWrite => "read-write",
        }
    }

    fn parse(text: &str) -> Option<Access> {
        match text {
            "read" => Some(Access::Read),
            "read-write" => Some(Access::ReadWrite),
            _ => None,
        }
    }
}

/// A grant: the access under each path prefix; the longest matching prefix decides, and `/`
/// is always present.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Grant(Vec<(String, Access)>);

impl Default for Grant {
    fn default() -> Self {
        Grant::full()
    }
}

impl Grant {
    /// Read-write everywhere: what a login grants unless the app says otherwise.
    pub fn full() -> Grant {
        Grant(vec![("/".into(), Access::ReadWrite)])
    }

    /// `base` everywhere, `paths` overriding it under their (canonical) prefixes.
    pub fn new(base: Access, paths: Vec<(String, Access)>) -> Grant {
        let mut entries = vec![("/".to_string(), base)];
        for (prefix, access) in paths {
            entries.retain(|(p, _)| *p != prefix);
            entries.push((prefix, access));
        }
        // Longest first, so the first match is the most specific.
        entries.sort_by(|a, b| b.0.len().cmp(&a.0.len()).then_with(|| a.0.cmp(&b.0)));
        Grant(entries)
    }

    /// Whether this is the full grant (then protocols ask for nothing extra).
    pub fn is_full(&self) -> bool {
        self.0.iter().all(|(_, a)| *a == Access::ReadWrite)
    }

    /// The access under `path`.
    pub fn access(&self, path: &CanonicalPath) -> Access {
        self.0
            .iter()
            .find(|(p, _)| path.starts_with_prefix(p))
            .map_or(Access::Read, |(_, a)| *a)
    }

    /// Whether the grant admits `method` on `path`; `upgrade` says the request asks to
    /// switch protocols (`Upgrade`, e.g. a websocket), which counts as a write.
    pub fn allows(&self, method: &Method, upgrade: bool, path: &CanonicalPath) -> bool {
        let safe = matches!(*method, Method::GET | Method::HEAD | Method::OPTIONS) && !upgrade;
        safe || self.access(path) == Access::ReadWrite
    }

    /// Each prefix and its access, most specific first.
    pub fn entries(&self) -> impl Iterator<Item = (&str, Access)> {
        self.0.iter().map(|(p, a)| (p.as_str(), *a))
    }
}

/// `read-write /comments/, read /`: the form the native challenge carries, sessions store,
/// and pages show.
impl fmt::Display for Grant {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for (i, (p, a)) in self.0.iter().enumerate() {
            if i > 0 {
                f.write_str(", ")?;
            }
            write!(f, "{} {p}", a.name())?;
        }
        Ok(())
    }
}

/// Why a stored grant could not be read.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("not a grant: {0:?}")]
pub struct GrantError(String);

impl FromStr for Grant {
    type Err = GrantError;

    fn from_str(s: &str) -> Result<Grant, GrantError> {
        let bad = || GrantError(s.to_string());
        let mut base = None;
        let mut paths = Vec::new();
        for entry in s.split(", ") {
            let (access, prefix) = entry.split_once(' ').ok_or_else(bad)?;
            let access = Access::parse(access).ok_or_else(bad)?;
            if !prefix.starts_with('/') {
                return Err(bad());
            }
            if prefix == "/" {
                base = Some(access);
            } else {
                paths.push((prefix.to_string(), access));
            }
        }
        Ok(Grant::new(base.ok_or_else(bad)?, paths))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::path::canonicalize;

    fn path(p: &str) -> CanonicalPath {
        canonicalize(p).expect("path")
    }

    #[test]
    fn the_longest_prefix_decides_and_reads_are_always_allowed() {
        let g = Grant::new(
            Access::Read,
            vec![
                ("/comments/".into(), Access::ReadWrite),
                ("/comments/locked/".into(), Access::Read),
            ],
        );
        assert!(!g.is_full());
        for (method, p, want) in [
            (Method::GET, "/anything", true),
            (Method::HEAD, "/anything", true),
            (Method::OPTIONS, "/anything", true),
            (Method::POST, "/anything", false),
            (Method::DELETE, "/", false),
            (Method::POST, "/comments/1", true),
            (Method::PUT, "/comments/", true),
            (Method::POST, "/comments", false),
            (Method::POST, "/comments/locked/1", false),
            (Method::PATCH, "/commentsx/1", false),
        ] {
            assert_eq!(g.allows(&method, false, &path(p)), want, "{method} {p}");
        }
        assert!(
            !g.allows(&Method::GET, true, &path("/x")),
            "a websocket is a write"
        );
        assert!(g.allows(&Method::GET, true, &path("/comments/live")));
        assert!(Grant::full().allows(&Method::DELETE, false, &path("/x")));
        assert!(Grant::full().allows(&Method::GET, true, &path("/x")));
        assert!(Grant::full().is_full());
    }

    #[test]
    fn the_written_form_round_trips_and_junk_is_refused() {
        let g = Grant::new(Access::Read, vec![("/comments/".into(), Access::ReadWrite)]);
        assert_eq!(g.to_string(), "read-write /comments/, read /");
        assert_eq!(g.to_string().parse::<Grant>(), Ok(g));
        assert_eq!(
            Grant::full().to_string().parse::<Grant>(),
            Ok(Grant::full())
        );
        for junk in [
            "",
            "read",
            "write /",
            "read-write comments/",
            "read-write /x",
        ] {
            assert!(junk.parse::<Grant>().is_err(), "{junk:?}");
        }
    }
}
