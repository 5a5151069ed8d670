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

use crate::http::path::{CanonicalPath, OpeningPrefix, PathError, RestrictingPrefix};

/// One level of access.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Access {
    /// GET, HEAD, OPTIONS.
    Read,
    /// Every method.
    ReadWrite,
}

impl Access {
    /// The config and wire name.
    pub(crate) fn name(self) -> &'static str {
        match self {
            Access::Read => "read",
            Access::ReadWrite => "read-write",
        }
    }

    fn cmp_restrictive_first(self, other: Access) -> std::cmp::Ordering {
        let rank = |a: Access| match a {
            Access::Read => 0,
            Access::ReadWrite => 1,
        };
        rank(self).cmp(&rank(other))
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
///
/// A read-write entry opens writes, so it covers only the exact spelling of its prefix; a
/// read entry restricts them, so it covers every spelling an upstream may read alike
/// (`RestrictingPrefix`). Where the two disagree the read wins: a write is admitted only
/// when the longest exactly matching entry is read-write and no longer entry that matches in
/// another spelling is read.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Grant(Vec<Entry>);

/// One prefix of a grant, with the matcher its access calls for.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Entry {
    /// Read-write: opens writes, matched exactly.
    Opens(OpeningPrefix),
    /// Read: restricts writes, matched in every spelling.
    Restricts(RestrictingPrefix),
}

impl Entry {
    fn new(prefix: &str, access: Access) -> Result<Entry, PathError> {
        Ok(match access {
            Access::ReadWrite => Entry::Opens(OpeningPrefix::new(prefix)?),
            Access::Read => Entry::Restricts(RestrictingPrefix::new(prefix)?),
        })
    }

    fn prefix(&self) -> &str {
        match self {
            Entry::Opens(p) => p.as_str(),
            Entry::Restricts(p) => p.as_str(),
        }
    }

    fn access(&self) -> Access {
        match self {
            Entry::Opens(_) => Access::ReadWrite,
            Entry::Restricts(_) => Access::Read,
        }
    }
}

impl Default for Grant {
    fn default() -> Self {
        Grant::full()
    }
}

impl Grant {
    /// Read-write everywhere: what a login grants unless the app says otherwise.
    pub fn full() -> Grant {
        Grant(vec![Entry::Opens(OpeningPrefix::root())])
    }

    /// `base` everywhere, `paths` overriding it under their prefixes (canonicalized like
    /// request paths; one that cannot be is an error).
    pub(crate) fn new(base: Access, paths: Vec<(String, Access)>) -> Result<Grant, PathError> {
        let mut entries = vec![Entry::new("/", base)?];
        for (prefix, access) in paths {
            let entry = Entry::new(&prefix, access)?;
            entries.retain(|e| e.prefix() != entry.prefix());
            entries.push(entry);
        }
        // Longest first, so the first match is the most specific; of two as long (`/a/`,
        // `/A/`) the restricting one first, as an upstream may pick either.
        entries.sort_by(|a, b| {
            b.prefix()
                .len()
                .cmp(&a.prefix().len())
                .then_with(|| a.access().cmp_restrictive_first(b.access()))
                .then_with(|| a.prefix().cmp(b.prefix()))
        });
        Ok(Grant(entries))
    }

    /// Whether this is the full grant (then protocols ask for nothing extra).
    pub fn is_full(&self) -> bool {
        self.0.iter().all(|e| e.access() == Access::ReadWrite)
    }

    /// The access under `path`: read as soon as a read entry covers the path in any
    /// spelling before (longer than) the entry that covers it exactly.
    pub(crate) fn access(&self, path: &CanonicalPath) -> Access {
        // Folded once, and only for a grant that restricts somewhere.
        let mut folded = None;
        for entry in &self.0 {
            match entry {
                Entry::Opens(p) if p.covers(path) => return Access::ReadWrite,
                Entry::Opens(_) => {}
                Entry::Restricts(p) => {
                    if p.covers(folded.get_or_insert_with(|| path.folded())) {
                        return Access::Read;
                    }
                }
            }
        }
        Access::Read
    }

    /// Whether the grant admits `method` on `path`; `upgrade` says the request asks to
    /// switch protocols (`Upgrade`, e.g. a websocket), which counts as a write.
    pub(crate) fn allows(&self, method: &Method, upgrade: bool, path: &CanonicalPath) -> bool {
        let safe = matches!(*method, Method::GET | Method::HEAD | Method::OPTIONS) && !upgrade;
        safe || self.access(path) == Access::ReadWrite
    }

    /// Each prefix and its access, most specific first.
    pub(crate) fn entries(&self) -> impl Iterator<Item = (&str, Access)> {
        self.0.iter().map(|e| (e.prefix(), e.access()))
    }
}

/// `read-write /comments/, read /`: the form the native challenge carries, sessions store,
/// and pages show.
impl fmt::Display for Grant {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for (i, (p, a)) in self.entries().enumerate() {
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
        Grant::new(base.ok_or_else(bad)?, paths).map_err(|_| bad())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::http::path::canonicalize;

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
        )
        .expect("grant");
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
        let g = Grant::new(Access::Read, vec![("/comments/".into(), Access::ReadWrite)])
            .expect("grant");
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

    #[test]
    fn read_entries_hold_in_every_spelling_and_read_write_ones_only_in_their_own() {
        let base_rw = Grant::new(
            Access::ReadWrite,
            vec![
                ("/admin/".into(), Access::Read),
                ("/docs".into(), Access::Read),
            ],
        )
        .expect("grant");
        let base_read = Grant::new(
            Access::Read,
            vec![
                ("/comments/".into(), Access::ReadWrite),
                ("/comments/locked/".into(), Access::Read),
            ],
        )
        .expect("grant");
        for (g, p, want) in [
            (&base_rw, "/admin/users", false),
            (&base_rw, "/admin;x/users", false),
            (&base_rw, "/admin%3Bx/users", false),
            (&base_rw, "/ADMIN/users", false),
            (&base_rw, "/Admin", false),
            (&base_rw, "/DOCS;v=2/x", false),
            (&base_rw, "/docs./x", false),
            (&base_rw, "/administrator", true),
            (&base_rw, "/other", true),
            (&base_read, "/comments/1", true),
            (&base_read, "/COMMENTS/1", false),
            (&base_read, "/comments;x/1", false),
            (&base_read, "/comments/locked/1", false),
            (&base_read, "/comments/LOCKED/1", false),
            (&base_read, "/comments/locked;x/1", false),
            (&base_read, "/comments/locked%3B/1", false),
        ] {
            assert_eq!(g.allows(&Method::POST, false, &path(p)), want, "POST {p}");
        }
        // Of two entries as long, the read one wins whichever spelling matches exactly.
        let tie = Grant::new(
            Access::Read,
            vec![
                ("/a/".into(), Access::ReadWrite),
                ("/A/".into(), Access::Read),
            ],
        )
        .expect("grant");
        assert!(!tie.allows(&Method::POST, false, &path("/a/x")));
    }

    /// Over every path of up to four pieces and grants of up to three entries: a write is
    /// admitted only if the exact rules, the case-blind rules, the parameter-blind rules and
    /// both together would each admit it, so folding never lets a longer, more permissive
    /// entry win.
    #[test]
    fn no_spelling_model_admits_less_than_the_grant() {
        const PIECES: &[&str] = &["/", "a", "A", "b", ";x", "%3B"];
        const PREFIXES: &[&str] = &["/a/", "/A", "/a/b", "/a;x/", "/b"];
        let model = |g: &Grant, p: &str, case: bool, params: bool| -> Access {
            let spell = |s: &str| -> String {
                let s = if case {
                    s.to_lowercase()
                } else {
                    s.to_string()
                };
                if !params {
                    return s;
                }
                s.replace("%3b", ";")
                    .replace("%3B", ";")
                    .split('/')
                    .map(|seg| seg.split(';').next().unwrap_or_default())
                    .collect::<Vec<_>>()
                    .join("/")
            };
            let p = spell(p);
            g.entries()
                .filter(|(prefix, _)| {
                    let prefix = spell(prefix);
                    *prefix == *"/"
                        || p.strip_prefix(prefix.as_str()).is_some_and(|rest| {
                            rest.is_empty() || prefix.ends_with('/') || rest.starts_with('/')
                        })
                })
                .map(|(prefix, a)| (prefix.len(), a == Access::ReadWrite))
                .max()
                .map_or(Access::Read, |(_, rw)| {
                    if rw {
                        Access::ReadWrite
                    } else {
                        Access::Read
                    }
                })
        };
        let mut paths = vec![String::from("/")];
        let mut frontier = paths.clone();
        for _ in 0..4 {
            frontier = frontier
                .iter()
                .flat_map(|p| PIECES.iter().map(move |x| format!("{p}{x}")))
                .collect();
            paths.extend(frontier.iter().cloned());
        }
        let levels = [Access::Read, Access::ReadWrite];
        for base in levels {
            for (i, first) in PREFIXES.iter().enumerate() {
                for second in &PREFIXES[i..] {
                    for (a1, a2) in levels
                        .iter()
                        .flat_map(|a| levels.iter().map(move |b| (*a, *b)))
                    {
                        let g = Grant::new(
                            base,
                            vec![(first.to_string(), a1), (second.to_string(), a2)],
                        )
                        .expect("grant");
                        for raw in &paths {
                            let Ok(p) = canonicalize(raw) else { continue };
                            if g.access(&p) != Access::ReadWrite {
                                continue;
                            }
                            for (case, params) in
                                [(false, false), (true, false), (false, true), (true, true)]
                            {
                                assert_eq!(
                                    model(&g, p.as_str(), case, params),
                                    Access::ReadWrite,
                                    "{g}: {p} (case-blind {case}, parameter-blind {params})"
                                );
                            }
                        }
                    }
                }
            }
        }
    }
}
