//! Architecture invariants checked as tests: this crate's manifest names no proxy or HTTP
//! stack; no module imports another module that (directly or not) imports it back, a folder
//! counting as importing its files, and each folder imports only what the layering table
//! ([`imports::LAYERS`]) allows it; no module but [`crate::http::route`] spells a URL of the
//! gateway's own routes; every module has its line in the layout list of the crate's doc
//! comment (`lib.rs`); the core does no I/O: no file, socket or process API is named outside
//! test code (the glue reads the config file and hands [`crate::config::Config::parse`] its
//! text); and no module but [`crate::web::respond`] chooses an error status.
//!
//! Both crates are checked where the rule is both crates': the glue crate's source sits two
//! directories up.

mod imports;

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};

fn read(path: &Path) -> String {
    std::fs::read_to_string(path).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
}

#[test]
fn core_manifest_has_no_proxy_or_http_stack() {
    let manifest = read(&Path::new(env!("CARGO_MANIFEST_DIR")).join("Cargo.toml"));
    let deps = manifest
        .split("[dependencies]")
        .nth(1)
        .expect("a [dependencies] table");
    for line in deps.lines().filter(|l| !l.trim_start().starts_with('#')) {
        let name = line.split('=').next().unwrap_or("").trim();
        for banned in ["pingora", "hyper", "reqwest"] {
            assert!(
                !name.starts_with(banned),
                "qrgate-core must not depend on {banned}: {line}"
            );
        }
    }
}

/// Module path (`login::error`) → source text without comments and test modules.
fn modules(src: &Path) -> BTreeMap<String, String> {
    let mut out = BTreeMap::new();
    let mut stack = vec![src.to_path_buf()];
    while let Some(dir) = stack.pop() {
        for entry in std::fs::read_dir(&dir).expect("source dir") {
            let path: PathBuf = entry.expect("entry").path();
            if path.is_dir() {
                stack.push(path);
                continue;
            }
            if path.extension().is_none_or(|e| e != "rs") {
                continue;
            }
            let rel = path
                .strip_prefix(src)
                .expect("under src")
                .with_extension("");
            let mut name = rel.to_string_lossy().replace('/', "::");
            if let Some(parent) = name.strip_suffix("::mod") {
                name = parent.to_string();
            }
            if name == "lib" || name == "main" || name == "tidy" || name.starts_with("tidy::") {
                continue;
            }
            let text = read(&path);
            // A module's unit tests in a file of their own (`tests.rs`) are test code as
            // much as an inline `#[cfg(test)]` block is.
            let text = if name.ends_with("::tests") {
                String::new()
            } else {
                text
            };
            let code: Vec<&str> = text
                .lines()
                .filter(|l| !l.trim_start().starts_with("//"))
                .collect();
            out.insert(name, without_test_items(&code));
        }
    }
    out
}

/// `lines` without the items under `#[cfg(test)]`: a one-line item (`mod tests;`, a `use`)
/// or a braced one up to its closing brace. Only those items go, so a module's code after
/// its `#[cfg(test)] mod tests;` line still counts. An item whose braces never close takes
/// the rest of the file with it.
fn without_test_items(lines: &[&str]) -> String {
    let mut kept = Vec::new();
    let mut rest = lines.iter();
    while let Some(line) = rest.next() {
        if line.trim() != "#[cfg(test)]" {
            kept.push(*line);
            continue;
        }
        let mut depth = 0usize;
        let mut braced = false;
        for item in rest.by_ref() {
            if item.trim_start().starts_with("#[") {
                continue;
            }
            depth += item.matches('{').count();
            depth = depth.saturating_sub(item.matches('}').count());
            braced |= item.contains('{');
            if (!braced && item.trim_end().ends_with(';')) || (braced && depth == 0) {
                break;
            }
        }
    }
    kept.join("\n")
}

/// Edges `a → b` where module `a` names `crate::b…` or `super::…` resolving to `b`, and
/// from each folder module (`x/mod.rs`) to the files in it: whoever imports `x` may reach
/// what `x` re-exports or calls from them, so a cycle through a folder is a cycle.
///
/// A file's import of its own folder (`super::Item` from `x/y.rs`) is no edge: the folder
/// and its files are one unit to the rest of the crate, and a child seeing its parent's
/// items is how Rust modules work; counting it would make every such file a cycle with its
/// folder.
fn edges(mods: &BTreeMap<String, String>) -> BTreeMap<&str, BTreeSet<&str>> {
    let resolve = |path: &str| -> Option<&str> {
        let parts: Vec<&str> = path.split("::").collect();
        (1..=parts.len())
            .rev()
            .map(|n| parts[..n].join("::"))
            .find_map(|cand| mods.get_key_value(&cand).map(|(k, _)| k.as_str()))
    };
    let mut out: BTreeMap<&str, BTreeSet<&str>> = BTreeMap::new();
    for (name, code) in mods {
        let mut to = BTreeSet::new();
        let parent = name.rsplit_once("::").map(|(p, _)| p);
        for (marker, base) in [("crate::", None), ("super::", parent)] {
            for (i, _) in code.match_indices(marker) {
                let rest: String = code[i + marker.len()..]
                    .chars()
                    .take_while(|c| c.is_ascii_alphanumeric() || *c == '_' || *c == ':')
                    .collect();
                let full = match base {
                    Some(p) => format!("{p}::{rest}"),
                    None => rest,
                };
                if let Some(t) = resolve(full.trim_end_matches(':')) {
                    let own_folder = name
                        .strip_prefix(t)
                        .is_some_and(|rest| rest.starts_with("::"));
                    if t != name && !own_folder {
                        to.insert(t);
                    }
                }
            }
        }
        out.entry(name.as_str()).or_default().extend(to);
        if let Some((folder, _)) = name.rsplit_once("::") {
            if let Some((folder, _)) = mods.get_key_value(folder) {
                out.entry(folder.as_str())
                    .or_default()
                    .insert(name.as_str());
            }
        }
    }
    out
}

/// Spellings that build a URL of the gateway's own routes by hand: a prefix or base followed
/// by one of the routes' paths, or a route's path as a literal.
const HAND_BUILT_URLS: &[&str] = &[
    "{prefix}/",
    "\"/auth/session",
    "?rd=",
    "}/auth/",
    "}/events",
    "}/scan",
    "}/approve",
    "}/reject",
    "}/claim",
    "}/login",
    "}/logout",
    "}/step-up",
    "}/sessions",
    "}/invite",
    "}/remove-device",
    "}/enroll/",
    "}/pubky/relay",
    "}/healthz",
    "}/.well-known",
];

/// `module: spelling` for each hand-built URL of ours outside the route table.
fn hand_built_urls(src: &Path) -> Vec<String> {
    let mut found = Vec::new();
    for (name, code) in modules(src) {
        if name == "http::route" {
            continue;
        }
        for spelling in HAND_BUILT_URLS.iter().filter(|s| code.contains(*s)) {
            found.push(format!("{name}: {spelling}"));
        }
    }
    found
}

#[test]
fn urls_of_ours_are_built_by_the_route_table_only() {
    let core = Path::new(env!("CARGO_MANIFEST_DIR")).join("src");
    for src in [core.clone(), core.join("../../../src")] {
        let found = hand_built_urls(&src);
        assert!(
            found.is_empty(),
            "build these URLs with http::route::Route: {found:?}"
        );
    }
}

#[test]
fn the_url_check_finds_hand_built_urls() {
    let dir = std::env::temp_dir().join(format!("qrgate-tidy-urls-{}", std::process::id()));
    std::fs::create_dir_all(&dir).expect("dir");
    std::fs::write(
        dir.join("page.rs"),
        "// {prefix}/login in a comment is no URL\nfn f(base: &str) -> String { format!(\"{base}/enroll/{}\", 1) }\n",
    )
    .expect("write");
    std::fs::create_dir_all(dir.join("http")).expect("dir");
    std::fs::write(
        dir.join("http/route.rs"),
        "const A: &str = \"{prefix}/login\";\n",
    )
    .expect("write");
    let found = hand_built_urls(&dir);
    let _ = std::fs::remove_dir_all(&dir);
    assert_eq!(found, ["page: }/enroll/"]);
}

/// Modules with a file of their own (inline helper modules are part of their file's module),
/// then the modules the `# Layout` list of `lib.rs`'s doc comment names, one per bullet.
fn layout_drift(src: &Path) -> (Vec<String>, Vec<String>) {
    let lib = read(&src.join("lib.rs"));
    let listed: BTreeSet<String> = lib
        .lines()
        .map_while(|l| l.strip_prefix("//!"))
        .skip_while(|l| l.trim() != "# Layout")
        .filter_map(|l| {
            let entry = l.trim_start().strip_prefix("- ")?;
            let entry = entry.strip_prefix('[').unwrap_or(entry);
            let name = entry.strip_prefix('`')?.split('`').next()?;
            Some(name.to_string())
        })
        .collect();
    let modules: BTreeSet<String> = modules(src).into_keys().collect();
    let missing = modules.difference(&listed).cloned().collect();
    let stale = listed.difference(&modules).cloned().collect();
    (missing, stale)
}

#[test]
fn every_module_is_in_the_layout_list() {
    let (missing, stale) = layout_drift(&Path::new(env!("CARGO_MANIFEST_DIR")).join("src"));
    assert!(
        missing.is_empty(),
        "give these modules a line in lib.rs's # Layout list: {missing:?}"
    );
    assert!(
        stale.is_empty(),
        "lib.rs's # Layout list names modules that do not exist: {stale:?}"
    );
}

#[test]
fn the_layout_check_finds_unlisted_modules() {
    let dir = std::env::temp_dir().join(format!("qrgate-tidy-layout-{}", std::process::id()));
    std::fs::create_dir_all(dir.join("b")).expect("dir");
    std::fs::write(
        dir.join("lib.rs"),
        "//! Crate.\n//!\n//! # Layout\n//! - [`a`]: listed.\n//! - [`b`]: listed, and\n//!   - `b::inner`: listed too.\n//! - [`gone`]: no such module.\npub mod a;\n",
    )
    .expect("write");
    for file in ["a.rs", "b/mod.rs", "b/inner.rs", "b/other.rs", "c.rs"] {
        std::fs::write(dir.join(file), "").expect("write");
    }
    let (missing, stale) = layout_drift(&dir);
    let _ = std::fs::remove_dir_all(&dir);
    assert_eq!(missing, ["b::other", "c"]);
    assert_eq!(stale, ["gone"]);
}

/// Names of file, socket and process APIs. The core decides; the glue does the I/O. The OS
/// random source (`getrandom`, in `random_bytes`) is no I/O in this sense: it reads no file
/// and talks to no peer.
const IO_APIS: &[&str] = &[
    "std::fs",
    "fs::",
    "File::",
    "std::net::TcpStream",
    "std::net::TcpListener",
    "TcpStream",
    "TcpListener",
    "UdpSocket",
    "UnixStream",
    "tokio::fs",
    "tokio::net",
    "std::process",
    "Command::new",
];

/// `module: api` for each I/O API named in the code (not comments, not test modules) under
/// `src`, the crate root included.
fn io_uses(src: &Path) -> Vec<String> {
    let mut code = modules(src);
    if let Ok(lib) = std::fs::read_to_string(src.join("lib.rs")) {
        let lines: Vec<&str> = lib
            .lines()
            .filter(|l| !l.trim_start().starts_with("//"))
            .collect();
        code.insert("lib".to_string(), lines.join("\n"));
    }
    let mut found = Vec::new();
    for (name, text) in code {
        for api in IO_APIS.iter().filter(|a| text.contains(*a)) {
            found.push(format!("{name}: {api}"));
        }
    }
    found
}

#[test]
fn the_core_does_no_io() {
    let found = io_uses(&Path::new(env!("CARGO_MANIFEST_DIR")).join("src"));
    assert!(
        found.is_empty(),
        "the core does no I/O; do it in the glue: {found:?}"
    );
}

#[test]
fn the_io_check_finds_io() {
    let dir = std::env::temp_dir().join(format!("qrgate-tidy-io-{}", std::process::id()));
    std::fs::create_dir_all(&dir).expect("dir");
    std::fs::write(
        dir.join("lib.rs"),
        "//! std::fs in a doc comment is no I/O\npub mod load;\n",
    )
    .expect("write");
    std::fs::write(
        dir.join("load.rs"),
        "pub fn load(p: &str) -> String { std::fs::read_to_string(p).unwrap() }\n#[cfg(test)]\nmod tests { fn t() { std::process::exit(0) } }\n",
    )
    .expect("write");
    let found = io_uses(&dir);
    let _ = std::fs::remove_dir_all(&dir);
    assert_eq!(found, ["load: std::fs", "load: fs::"]);
}

/// Calls that write a status, followed by their arguments: an error status (4xx or 5xx)
/// as a literal in the first two arguments of one of these is a status chosen outside
/// [`crate::web::respond`].
const STATUS_WRITERS: &[&str] = &[
    "Reply::error(",
    "Reply::error_for(",
    "Reply::error_page(",
    "Reply::json(",
    "Reply::html(",
    "Reply::redirect(",
    "answer(",
    ".status(",
    "status: ",
    "HTTPStatus(",
];

/// `module: call status` for each error status written outside `web::respond`.
fn error_statuses(src: &Path) -> Vec<String> {
    let mut found = Vec::new();
    for (name, code) in modules(src) {
        // The folder `web/respond/`: its module and the files beside it.
        if name == "web::respond" || name.starts_with("web::respond::") {
            continue;
        }
        for writer in STATUS_WRITERS {
            for (i, _) in code.match_indices(writer) {
                let args = &code[i + writer.len()..];
                for arg in args.splitn(3, [',', ')', '}', ';']).take(2) {
                    let arg = arg.trim();
                    let is_error = arg.len() == 3
                        && arg.bytes().all(|b| b.is_ascii_digit())
                        && (arg.starts_with('4') || arg.starts_with('5'));
                    if is_error {
                        found.push(format!("{name}: {writer}{arg}"));
                    }
                }
            }
        }
    }
    found
}

#[test]
fn error_statuses_are_chosen_in_respond_only() {
    let core = Path::new(env!("CARGO_MANIFEST_DIR")).join("src");
    for src in [core.clone(), core.join("../../../src")] {
        let found = error_statuses(&src);
        assert!(
            found.is_empty(),
            "map these refusals in web/respond/: {found:?}"
        );
    }
}

#[test]
fn the_status_check_finds_error_statuses() {
    let dir = std::env::temp_dir().join(format!("qrgate-tidy-statuses-{}", std::process::id()));
    std::fs::create_dir_all(&dir).expect("dir");
    std::fs::write(
        dir.join("page.rs"),
        "// Reply::error(404, ..) in a comment is no status\n\
         fn ok() -> Reply { Reply::json(200, &1) }\n\
         fn f(form: Form) -> Reply {\n    Reply::error_for(\n        form,\n        409,\n        \"x\", \"t\", \"m\")\n}\n\
         fn g() -> Response { answer(503, \"application/json\", String::new()) }\n\
         fn h() -> Error { Error::explain(ErrorType::HTTPStatus(408), \"slow\") }\n\
         #[cfg(test)]\nmod tests { fn t() { Reply::error(400, \"x\", \"y\"); } }\n",
    )
    .expect("write");
    std::fs::create_dir_all(dir.join("web")).expect("dir");
    std::fs::write(
        dir.join("web/respond.rs"),
        "fn r() -> Reply { Reply::error(400, \"bad\", \"m\") }\n",
    )
    .expect("write");
    let found = error_statuses(&dir);
    let _ = std::fs::remove_dir_all(&dir);
    assert_eq!(
        found,
        [
            "page: Reply::error_for(409",
            "page: answer(503",
            "page: HTTPStatus(408"
        ]
    );
}
