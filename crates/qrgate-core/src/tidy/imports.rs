//! The import graph's checks: no cycles in either crate (a folder counts as importing its
//! files), and the core's folders import only what the layering table allows.

use std::collections::{BTreeMap, BTreeSet};
use std::path::Path;

use super::{edges, modules};

fn assert_acyclic(src: &Path) {
    let mods = modules(src);
    let graph = edges(&mods);
    // Depth-first search with colours; a grey node reached again closes a cycle.
    fn visit<'a>(
        n: &'a str,
        g: &BTreeMap<&'a str, BTreeSet<&'a str>>,
        state: &mut BTreeMap<&'a str, u8>,
        path: &mut Vec<&'a str>,
    ) {
        state.insert(n, 1);
        path.push(n);
        for &m in g.get(n).into_iter().flatten() {
            match state.get(m).copied().unwrap_or(0) {
                0 => visit(m, g, state, path),
                1 => panic!("import cycle: {} -> {m}", path.join(" -> ")),
                _ => {}
            }
        }
        path.pop();
        state.insert(n, 2);
    }
    let mut state = BTreeMap::new();
    for &n in graph.keys() {
        if state.get(n).copied().unwrap_or(0) == 0 {
            visit(n, &graph, &mut state, &mut Vec::new());
        }
    }
    assert!(mods.len() >= 5, "found the modules under {}", src.display());
}

#[test]
fn no_import_cycles_in_either_crate() {
    let core = Path::new(env!("CARGO_MANIFEST_DIR")).join("src");
    assert_acyclic(&core);
    assert_acyclic(&core.join("../../../src"));
}

#[test]
fn the_cycle_check_finds_cycles() {
    let dir = std::env::temp_dir().join(format!("qrgate-tidy-{}", std::process::id()));
    std::fs::create_dir_all(dir.join("a")).expect("dir");
    std::fs::write(dir.join("a/mod.rs"), "use crate::b::X;\n").expect("write");
    std::fs::write(dir.join("b.rs"), "use crate::c;\n").expect("write");
    std::fs::write(
        dir.join("c.rs"),
        "// crate::a in a comment is no import\nuse crate::a::Y;\n",
    )
    .expect("write");
    for extra in ["d", "e", "f"] {
        std::fs::write(dir.join(format!("{extra}.rs")), "").expect("write");
    }
    let result = std::panic::catch_unwind(|| assert_acyclic(&dir));
    let _ = std::fs::remove_dir_all(&dir);
    assert!(result.is_err(), "a -> b -> c -> a is a cycle");
}

/// `files` (path, text) under a fresh directory, then whether the cycle check passes there.
fn acyclic_in(tag: &str, files: &[(&str, &str)]) -> bool {
    let dir = std::env::temp_dir().join(format!("qrgate-tidy-{tag}-{}", std::process::id()));
    for (path, text) in files {
        let path = dir.join(path);
        std::fs::create_dir_all(path.parent().expect("parent")).expect("dir");
        std::fs::write(path, text).expect("write");
    }
    let result = std::panic::catch_unwind(|| assert_acyclic(&dir));
    let _ = std::fs::remove_dir_all(&dir);
    result.is_ok()
}

#[test]
fn the_cycle_check_follows_a_folder_to_its_files() {
    // `a` names only the folder `b`, whose file `b::inner` imports `a`: a → b → b::inner → a.
    let files = [
        ("a.rs", "use crate::b::Thing;\n"),
        ("b/mod.rs", "mod inner;\npub use inner::Thing;\n"),
        ("b/inner.rs", "use crate::a;\npub struct Thing;\n"),
        ("c.rs", ""),
        ("d.rs", ""),
    ];
    assert!(!acyclic_in("folder", &files), "a cycle through a folder");
}

#[test]
fn a_file_may_use_its_own_folder() {
    // `b::inner` using its folder's items (`super::`, `crate::b::`) is no cycle, nor is the
    // code after a `#[cfg(test)] mod tests;` line hidden from the check.
    let files = [
        ("a.rs", "use crate::b::Thing;\n"),
        (
            "b/mod.rs",
            "#[cfg(test)]\nmod tests;\nmod inner;\npub use inner::Thing;\npub struct Other;\nuse crate::c::C;\n",
        ),
        (
            "b/inner.rs",
            "use super::Other;\nuse crate::b::Other as Again;\npub struct Thing;\n",
        ),
        ("b/tests.rs", "use crate::a;\n"),
        ("c.rs", "pub struct C;\n"),
        ("d.rs", ""),
    ];
    assert!(acyclic_in("own-folder", &files), "no cycle here");
    let mut with_cycle = files;
    with_cycle[4] = ("c.rs", "use crate::a;\npub struct C;\n");
    assert!(
        !acyclic_in("after-tests", &with_cycle),
        "b's code after its tests line imports c, and c imports a"
    );
}

/// The layering table: each of the core's folders (and root modules), and which others its
/// code may import. `login::signers` has a row of its own, stricter than the rest of
/// `login`. Read from what the code does; a new edge the table does not allow fails
/// [`imports_follow_the_layering_table`], and so does an allowed edge no code uses any more
/// (the table stays the truth, and ARCHITECTURE.md prints it).
///
/// The rule under it ([`PURE`]): the pure vocabulary (`http`) and the signers import no
/// store (`session`, `devices`, `login`'s attempts and share), no `settings` or `gateway`,
/// no `control` and no `web`. Nothing in the core imports `web`; only the glue calls it.
const LAYERS: &[(&str, &[&str])] = &[
    ("clock", &[]),
    ("raw", &[]),
    ("rotation", &[]),
    ("i18n", &[]),
    ("http", &["raw", "i18n"]),
    ("observe", &[]),
    (
        "oidc",
        &["raw", "clock", "config", "http", "rotation", "session"],
    ),
    ("identity", &["raw", "http", "rotation"]),
    ("login::signers", &["raw", "clock", "http", "identity"]),
    (
        "config",
        &["oidc", "raw", "http", "identity", "login::signers"],
    ),
    ("session", &["raw", "clock", "identity", "observe"]),
    (
        "settings",
        &[
            "raw",
            "config",
            "gate",
            "http",
            "identity",
            "login::signers",
            "session",
        ],
    ),
    (
        "devices",
        &["raw", "config", "http", "identity", "session", "settings"],
    ),
    (
        "gateway",
        &[
            "oidc",
            "raw",
            "clock",
            "config",
            "devices",
            "gate",
            "identity",
            "login",
            "login::signers",
            "observe",
            "rotation",
            "session",
            "settings",
        ],
    ),
    (
        "gate",
        &[
            "clock", "config", "gateway", "http", "identity", "login", "oidc", "raw", "session",
            "settings",
        ],
    ),
    (
        "login",
        &[
            "i18n",
            "oidc",
            "raw",
            "clock",
            "config",
            "devices",
            "gate",
            "gateway",
            "http",
            "identity",
            "login::signers",
            "observe",
            "session",
            "settings",
        ],
    ),
    (
        "control",
        &[
            "oidc",
            "raw",
            "oidc",
            "config",
            "devices",
            "gateway",
            "http",
            "identity",
            "login::signers",
            "observe",
            "session",
            "settings",
        ],
    ),
    (
        "web",
        &[
            "i18n",
            "clock",
            "oidc",
            "raw",
            "config",
            "control",
            "devices",
            "gate",
            "gateway",
            "http",
            "identity",
            "login",
            "login::signers",
            "observe",
            "session",
            "settings",
        ],
    ),
];

/// The pure rows of [`LAYERS`], and what none of them may import.
const PURE: (&[&str], &[&str]) = (
    &["http", "login::signers"],
    &[
        "session", "devices", "login", "settings", "gateway", "control", "web",
    ],
);

/// The row of `table` a module belongs to: the longest row name that is the module or one
/// of its folders.
fn layer_of<'a>(module: &str, table: &[(&'a str, &[&str])]) -> Option<&'a str> {
    table
        .iter()
        .map(|(name, _)| *name)
        .filter(|name| {
            module == *name
                || module
                    .strip_prefix(name)
                    .is_some_and(|rest| rest.starts_with("::"))
        })
        .max_by_key(|name| name.len())
}

/// Imports `table` forbids (`module -> module (row -> row)`), then rows' allowances no
/// import uses (`row -> row`), then modules in no row.
fn layering_drift(
    src: &Path,
    table: &[(&str, &[&str])],
) -> (Vec<String>, Vec<String>, Vec<String>) {
    let mods = modules(src);
    let graph = edges(&mods);
    let mut forbidden = Vec::new();
    let mut used = BTreeSet::new();
    let mut homeless = BTreeSet::new();
    for (from, tos) in &graph {
        let Some(a) = layer_of(from, table) else {
            homeless.insert(from.to_string());
            continue;
        };
        let allowed = table
            .iter()
            .find(|(name, _)| *name == a)
            .map_or(&[][..], |(_, allowed)| *allowed);
        for to in tos {
            let Some(b) = layer_of(to, table) else {
                continue;
            };
            if a == b {
                continue;
            }
            if allowed.contains(&b) {
                used.insert((a, b));
            } else {
                forbidden.push(format!("{from} -> {to} ({a} -> {b})"));
            }
        }
    }
    let stale = table
        .iter()
        .flat_map(|(a, allowed)| allowed.iter().map(move |b| (*a, *b)))
        .filter(|edge| !used.contains(edge))
        .map(|(a, b)| format!("{a} -> {b}"))
        .collect();
    (forbidden, stale, homeless.into_iter().collect())
}

#[test]
fn imports_follow_the_layering_table() {
    let core = Path::new(env!("CARGO_MANIFEST_DIR")).join("src");
    let (forbidden, stale, homeless) = layering_drift(&core, LAYERS);
    assert!(
        homeless.is_empty(),
        "give these modules' folder a row in tidy.rs's LAYERS: {homeless:?}"
    );
    assert!(
        forbidden.is_empty(),
        "these imports cross the layering table (LAYERS in tidy.rs; ARCHITECTURE.md): \
         {forbidden:?}; import from a lower folder or move the module; extend the table only \
         if the edge keeps its rule (http and the signers import no store, no gateway and no \
         web; nothing imports web)"
    );
    assert!(
        stale.is_empty(),
        "LAYERS in tidy.rs allows imports no code makes any more; remove them there and in \
         ARCHITECTURE.md: {stale:?}"
    );
}

#[test]
fn the_pure_folders_import_no_store_gateway_or_web() {
    let (pure, banned) = PURE;
    for (row, allowed) in LAYERS {
        if pure.contains(row) {
            let bad: Vec<&&str> = allowed.iter().filter(|b| banned.contains(b)).collect();
            assert!(bad.is_empty(), "{row} must not import {bad:?}");
        }
        assert!(!allowed.contains(&"web"), "{row} must not import web");
    }
}

#[test]
fn the_layering_check_finds_forbidden_and_stale_edges() {
    let dir = std::env::temp_dir().join(format!("qrgate-tidy-layers-{}", std::process::id()));
    let files = [
        ("http/mod.rs", "pub mod path;\n"),
        (
            "http/path.rs",
            "// crate::web in a comment is no import\nuse crate::session::Store;\n",
        ),
        ("session/mod.rs", "use crate::http::path;\n"),
        ("web/mod.rs", "use crate::session::Store;\n"),
        ("extra.rs", ""),
    ];
    for (path, text) in files {
        let path = dir.join(path);
        std::fs::create_dir_all(path.parent().expect("parent")).expect("dir");
        std::fs::write(path, text).expect("write");
    }
    let table: &[(&str, &[&str])] = &[
        ("http", &[]),
        ("session", &["http"]),
        ("web", &["http", "session"]),
    ];
    let (forbidden, stale, homeless) = layering_drift(&dir, table);
    let _ = std::fs::remove_dir_all(&dir);
    assert_eq!(forbidden, ["http::path -> session (http -> session)"]);
    assert_eq!(stale, ["web -> http"]);
    assert_eq!(homeless, ["extra"]);
}
