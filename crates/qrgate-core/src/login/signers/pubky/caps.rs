//! The capabilities a Pubky Ring token must carry for one attempt, and their comparison: a
//! token has no audience and no nonce, so what it grants names the attempt (and, for a
//! program's device code, spells out the program's request), and only exactly that approves.

use pubky_common::capabilities::{Capabilities, Capability};

use crate::http::origin::Origin;
use crate::identity::access::{Access, Grant};
use crate::login::signers::protocol::AttemptFacts;

/// Characters escaped in a name put into a capability's path: controls, the capability list's
/// own delimiters (`:`, `,`), path separators and `%`. Everything else (spaces, letters of any
/// script) stays as written, so Ring shows the name as it is.
const SEGMENT: &percent_encoding::AsciiSet = &percent_encoding::CONTROLS
    .add(b'%')
    .add(b'/')
    .add(b'\\')
    .add(b':')
    .add(b',')
    .add(b'?')
    .add(b'#');

/// `name` as one segment of a capability's path (a name of dots only escaped, as `.` and
/// `..` are no segment).
fn segment(name: &str) -> String {
    let escaped = percent_encoding::utf8_percent_encode(name, SEGMENT).to_string();
    if escaped.bytes().all(|b| b == b'.') {
        escaped.replace('.', "%2E")
    } else {
        escaped
    }
}

/// A capability on the folder `path`: read, or read-write.
fn folder(path: String, read_only: bool) -> Option<Capability> {
    let path = if path.ends_with('/') {
        path
    } else {
        format!("{path}/")
    };
    if read_only {
        Capability::read(path).ok()
    } else {
        Capability::read_write(path).ok()
    }
}

/// The capabilities an attempt requests, every one under a path only this attempt names
/// (below the host of the origin it happens on), so a token is bound to the attempt. A sign-in
/// asks to read `/pub/{host}/{attempt}/`, and a reduced grant's paths as they are granted. A
/// program's device code asks for what the program asks, legibly and exactly:
/// `/pub/{host}/qrgate/device/{attempt}/{client}/code {code}/for {lifetime}/` to read, for each
/// app `…/{attempt}/app/{name}/` (under a path prefix `…/app/{name}/{prefix}/`) to read or to
/// read and write, each other scope
/// `…/{attempt}/scope/{scope}/` to read. `None` if a path is not one Pubky accepts.
pub(crate) fn attempt_caps(
    origin: &Origin,
    attempt: &AttemptFacts<'_>,
    grant: &Grant,
) -> Option<Capabilities> {
    let host = origin.authority.split(':').next().unwrap_or("app");
    let mut caps = Vec::new();
    match attempt.program {
        Some(ask) => {
            let base = format!("/pub/{host}/qrgate/device/{}", attempt.id);
            let what = format!(
                "{base}/{}/code {}/for {}",
                segment(&ask.client),
                segment(&ask.shown_code()),
                ask.lifetime()
            );
            caps.push(folder(what, true)?);
            for app in &ask.apps {
                // Under a path prefix, the prefix's segments follow the app's name: the
                // name is one escaped segment, so nothing after it can pass for it.
                let under: String = app
                    .prefix
                    .iter()
                    .flat_map(|p| p.split('/').filter(|s| !s.is_empty()))
                    .map(|s| format!("/{}", segment(s)))
                    .collect();
                caps.push(folder(
                    format!("{base}/app/{}{under}", segment(&app.name)),
                    app.read_only,
                )?);
            }
            for scope in &ask.scopes {
                caps.push(folder(format!("{base}/scope/{}", segment(scope)), true)?);
            }
        }
        None => {
            caps.push(folder(format!("/pub/{host}/{}", attempt.id), true)?);
            // A reduced grant is asked for as capabilities on the app's paths; a token that
            // grants less (or more) is not the one asked for.
            if !grant.is_full() {
                for (prefix, access) in grant.entries() {
                    let read_only = matches!(access, Access::Read);
                    caps.push(folder(format!("/pub/{host}{prefix}"), read_only)?);
                }
            }
        }
    }
    Some(Capabilities::from(caps))
}

/// Whether two capability lists grant the same, in whatever order and spelling (the SDK
/// merges and may reorder what it is asked for).
pub(super) fn same_caps(a: &Capabilities, b: &Capabilities) -> bool {
    let canonical = |c: &Capabilities| {
        let mut all: Vec<String> = c
            .clone()
            .normalize()
            .iter()
            .map(ToString::to_string)
            .collect();
        all.sort();
        all
    };
    canonical(a) == canonical(b)
}
