//! The catalogs against English and against the code: every catalog has exactly English's
//! messages and parses cleanly; every message id the code or a template names exists; and
//! plurals, dates and the fallback behave per language.

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};

use super::catalog::{files, ids};
use super::{Arg, Lang};

fn set(lang: Lang) -> BTreeSet<String> {
    let all = ids(lang);
    let set: BTreeSet<String> = all.iter().cloned().collect();
    assert_eq!(set.len(), all.len(), "{lang} defines a message twice");
    set
}

#[test]
fn every_catalog_parses_and_has_exactly_the_english_messages() {
    let english = set(Lang::En);
    assert!(english.len() > 100, "the English catalog is read");
    for lang in Lang::ALL {
        for (name, text) in files(lang) {
            if let Err((_, errors)) = fluent_syntax::parser::parse(*text) {
                panic!("{lang}/{name} does not parse: {errors:?}");
            }
        }
        let have = set(lang);
        let missing: Vec<_> = english.difference(&have).collect();
        let extra: Vec<_> = have.difference(&english).collect();
        assert!(missing.is_empty(), "{lang} lacks {missing:?}");
        assert!(
            extra.is_empty(),
            "{lang} has messages English has not: {extra:?}"
        );
    }
}

#[test]
fn every_message_formats_without_errors_in_every_language() {
    // Each message with every argument any message takes, as text and number alike: a
    // translation naming an argument the code never passes would show `{$name}`.
    for lang in Lang::ALL {
        for id in ids(lang) {
            let text = lang.text_with(&id, &ARGS);
            assert!(
                !text.contains("{$") && !text.contains("{ $"),
                "{lang} {id}: {text}"
            );
            assert!(!text.trim().is_empty(), "{lang} {id} is empty");
        }
    }
}

/// Every argument name the code passes, with a value.
const ARGS: [(&str, Arg<'static>); 32] = [
    ("when", Arg::Str("3 December 2026, 15:02")),
    ("n", Arg::Num(2)),
    ("year", Arg::Num(2026)),
    ("month", Arg::Num(12)),
    ("day", Arg::Num(3)),
    ("time", Arg::Str("14:05")),
    ("app", Arg::Str("Wiki")),
    ("action", Arg::Str("add a new device for alice")),
    ("user", Arg::Str("alice")),
    ("origin", Arg::Str("https://wiki.example.com")),
    ("name", Arg::Str("backup")),
    ("status", Arg::Str("403")),
    ("expires", Arg::Str("soon")),
    ("current", Arg::Str("bob")),
    ("reason", Arg::Str("no")),
    ("key", Arg::Str("abc")),
    ("enrolled", Arg::Str("then")),
    ("last_used", Arg::Str("now")),
    ("since", Arg::Str("then")),
    ("last_seen", Arg::Str("now")),
    ("grant", Arg::Str("app:Wiki:read")),
    ("from", Arg::Str("127.0.0.1")),
    ("until", Arg::Str("later")),
    ("access", Arg::Str("read")),
    ("detail", Arg::Str("detail")),
    ("owner", Arg::Str("alice")),
    ("asserted", Arg::Str("bob")),
    ("wait", Arg::Str("5 seconds")),
    ("location", Arg::Str("/x")),
    ("gateway", Arg::Str("Example")),
    ("seconds", Arg::Num(30)),
    ("bytes", Arg::Num(8192)),
];

/// Every `.rs` file under `dir` and the templates, with their text.
fn sources(dir: &Path, out: &mut Vec<(PathBuf, String)>) {
    let Ok(entries) = std::fs::read_dir(dir) else {
        return;
    };
    for entry in entries.flatten() {
        let path = entry.path();
        if path.is_dir() {
            sources(&path, out);
        } else if path
            .extension()
            .is_some_and(|e| e == "rs" || e == "html" || e == "js")
        {
            let text = std::fs::read_to_string(&path).expect("source");
            out.push((path, text));
        }
    }
}

/// The string literals of `text` that look like message ids of one of `families` (an id's
/// first word: `login`, `error`, …).
fn named_ids(text: &str, families: &BTreeSet<&str>) -> Vec<String> {
    let mut found = Vec::new();
    for piece in text.split('"').skip(1).step_by(2) {
        let is_id = piece.contains('-')
            && piece
                .bytes()
                .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-' || b == b'_');
        if is_id
            && piece
                .split('-')
                .next()
                .is_some_and(|f| families.contains(f))
        {
            found.push(piece.to_string());
        }
    }
    found
}

#[test]
fn every_message_the_code_and_templates_name_exists() {
    let english = set(Lang::En);
    let families: BTreeSet<&str> = english
        .iter()
        .filter_map(|id| id.split('-').next())
        .collect();
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let mut files = Vec::new();
    sources(&root.join("src"), &mut files);
    sources(&root.join("templates"), &mut files);
    let mut named = 0;
    for (path, text) in &files {
        // This file names ids that do not exist on purpose.
        if path.ends_with("i18n/tests.rs") {
            continue;
        }
        for id in named_ids(text, &families) {
            // Element ids and data attributes of the templates share the look of message
            // ids; only those read through `tr` are messages there.
            let html = path.extension().is_some_and(|e| e == "html" || e == "js");
            let through_tr = ["get", "with", "with2", "with3", "with4", "count"]
                .iter()
                .any(|m| text.contains(&format!("tr.{m}(\"{id}\"")));
            if html && !through_tr {
                continue;
            }
            named += 1;
            assert!(
                english.contains(&id),
                "{} names message {id:?}, which the catalogs lack",
                path.display()
            );
        }
    }
    assert!(named > 150, "the scan finds the ids in use ({named})");
}

#[test]
fn the_scan_finds_ids_and_skips_other_strings() {
    let families = BTreeSet::from(["login", "error"]);
    let text = r#"lang.text("login-title"); x("content-security-policy"); y("error-no-such"); "read-write""#;
    assert_eq!(
        named_ids(text, &families),
        vec!["login-title".to_string(), "error-no-such".to_string()]
    );
}

#[test]
fn plurals_follow_each_languages_rules() {
    assert_eq!(Lang::En.duration(1), "1 second");
    assert_eq!(Lang::En.duration(5), "5 seconds");
    assert_eq!(Lang::En.duration(600), "10 minutes");
    assert_eq!(Lang::En.duration(7_200), "2 hours");
    assert_eq!(Lang::En.duration(3 * 86_400), "3 days");
    assert_eq!(Lang::De.duration(1), "1 Sekunde");
    assert_eq!(Lang::De.duration(30), "30 Sekunden");
    // French counts 0 and 1 as singular.
    assert_eq!(Lang::Fr.duration(0), "0 seconde");
    assert_eq!(Lang::Fr.duration(2), "2 secondes");
    assert_eq!(Lang::Es.duration(1), "1 segundo");
    // Arabic has six plural categories: one, two and few (3–10) take other words.
    assert_eq!(Lang::Ar.duration(1), "ثانية واحدة");
    assert_eq!(Lang::Ar.duration(2), "ثانيتان");
    assert!(Lang::Ar.duration(3).ends_with(" ثوانٍ"));
    assert!(Lang::Ar.duration(11).ends_with(" ثانية"));
}

#[test]
fn dates_take_each_languages_form() {
    // 2026-12-03 14:05 UTC.
    let t = 1_796_306_700;
    assert_eq!(Lang::En.date(t), "Dec 3, 2026, 14:05 UTC");
    assert_eq!(Lang::De.date(t), "3. Dez. 2026, 14:05 UTC");
    assert_eq!(Lang::Fr.date(t), "3 déc. 2026, 14:05 UTC");
    assert_eq!(Lang::Es.date(t), "3 dic 2026, 14:05 UTC");
    let ar = Lang::Ar.date(t);
    assert!(
        ar.contains("ديسمبر") && ar.contains("\u{2068}14:05\u{2069}"),
        "{ar}"
    );
    assert_eq!(Lang::En.date(u64::MAX), "unknown");
}

#[test]
fn right_to_left_isolates_what_it_places_and_left_to_right_does_not() {
    let ar = Lang::Ar.text_with("error-unknown-key", &[("app", Arg::Str("Wiki"))]);
    assert!(ar.contains("\u{2068}Wiki\u{2069}"), "{ar}");
    let en = Lang::En.text_with("error-unknown-key", &[("app", Arg::Str("Wiki"))]);
    assert_eq!(en, "This key is not registered for Wiki.");
    assert_eq!(Lang::Ar.dir(), "rtl");
    assert_eq!(Lang::De.dir(), "ltr");
}

#[test]
fn a_missing_message_is_its_id_never_a_failure() {
    assert_eq!(Lang::De.text("no-such-message"), "no-such-message");
}
