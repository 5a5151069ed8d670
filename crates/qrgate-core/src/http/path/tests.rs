use super::*;
use PathError::*;

fn check(input: &str, expected: Result<&str, PathError>) {
    let got = canonicalize(input).map(|p| p.0);
    assert_eq!(got, expected.map(str::to_owned), "canonicalize({input:?})");
}

#[test]
fn canonicalization_rules() {
    let cases: &[(&str, Result<&str, PathError>)] = &[
        // Already canonical.
        ("/", Ok("/")),
        ("/a/b", Ok("/a/b")),
        ("/a/b/", Ok("/a/b/")),
        ("/a;b=c", Ok("/a;b=c")),
        ("/a.b/c..d/e.", Ok("/a.b/c..d/e.")),
        ("/.well-known/x", Ok("/.well-known/x")),
        ("/...", Ok("/...")),
        ("/é/x", Ok("/é/x")),
        ("/a:b@c!$&'()*+,=", Ok("/a:b@c!$&'()*+,=")),
        // Empty segments collapse.
        ("//public", Ok("/public")),
        ("///public", Ok("/public")),
        ("/a//b", Ok("/a/b")),
        ("/a//", Ok("/a/")),
        ("//", Ok("/")),
        // Dot segments.
        ("/a/./b", Ok("/a/b")),
        ("/./a", Ok("/a")),
        ("/.", Ok("/")),
        ("/a/.", Ok("/a/")),
        ("/a/b/..", Ok("/a/")),
        ("/a/..", Ok("/")),
        ("/a/b/../c", Ok("/a/c")),
        ("/a//../b", Ok("/b")),
        ("/public/../admin", Ok("/admin")),
        ("/public/./../admin", Ok("/admin")),
        ("/..", Err(EscapesRoot)),
        ("/../a", Err(EscapesRoot)),
        ("/a/../../b", Err(EscapesRoot)),
        ("/a/../..", Err(EscapesRoot)),
        ("/%2e%2e", Err(EscapesRoot)),
        // Encoded dots are dots.
        ("/public/%2e%2e/admin", Ok("/admin")),
        ("/public/%2E%2E/admin", Ok("/admin")),
        ("/public/%2E./admin", Ok("/admin")),
        ("/public/.%2e/admin", Ok("/admin")),
        ("/a/%2e/b", Ok("/a/b")),
        ("/a/%2e", Ok("/a/")),
        // Unreserved escapes are decoded.
        ("/%7euser", Ok("/~user")),
        ("/%7Euser", Ok("/~user")),
        ("/%70ublic", Ok("/public")),
        ("/%41%5a%61%7a%30%39%2d%5f", Ok("/AZaz09-_")),
        // Other escapes stay encoded, in uppercase hex, and are never decoded twice.
        ("/a%20b", Ok("/a%20b")),
        ("/%c3%a9", Ok("/%C3%A9")),
        ("/%C3%A9t%c3%a9", Ok("/%C3%A9t%C3%A9")),
        ("/%23", Ok("/%23")),
        ("/%3f", Ok("/%3F")),
        ("/%25", Ok("/%25")),
        ("/%252e", Err(DoubleEncoded)),
        ("/%252e%252e/x", Err(DoubleEncoded)),
        ("/a/%252e%252e/admin", Err(DoubleEncoded)),
        ("/%3b", Ok("/%3B")),
        ("/%80%ff", Ok("/%80%FF")),
        // Overlong UTF-8: `/`, `.` and `\` spelled so an old decoder sees them.
        ("/public/%C0%AF/admin", Err(Overlong)),
        ("/public/%c0%ae%c0%ae/admin", Err(Overlong)),
        ("/public/%C1%9C", Err(Overlong)),
        ("/%E0%80%AF", Err(Overlong)),
        ("/%e0%80%ae%e0%80%ae/x", Err(Overlong)),
        ("/%F0%80%80%AF", Err(Overlong)),
        ("/a%C0", Err(Overlong)),
        ("/%E0%A4%85", Ok("/%E0%A4%85")),
        ("/%F0%9F%98%80", Ok("/%F0%9F%98%80")),
        ("/%C3%80", Ok("/%C3%80")),
        // Encoded separators.
        ("/public%2Fx", Err(EncodedSeparator)),
        ("/public%2fx", Err(EncodedSeparator)),
        ("/public%5cx", Err(EncodedSeparator)),
        ("/public%5C..%5Cadmin", Err(EncodedSeparator)),
        ("/%2F/admin", Err(EncodedSeparator)),
        // Control characters and spaces.
        ("/%00", Err(ControlCharacter)),
        ("/a%0d%0a", Err(ControlCharacter)),
        ("/a%09", Err(ControlCharacter)),
        ("/a%1F", Err(ControlCharacter)),
        ("/a%7f", Err(ControlCharacter)),
        ("/a b", Err(ControlCharacter)),
        ("/a\tb", Err(ControlCharacter)),
        ("/a\0", Err(ControlCharacter)),
        ("/a\u{7f}", Err(ControlCharacter)),
        ("/a\u{85}", Err(ControlCharacter)),
        ("/a%00/../b", Err(ControlCharacter)),
        // Backslashes, fragments, queries.
        ("/public\\x", Err(Backslash)),
        ("/\\admin", Err(Backslash)),
        ("/a#b", Err(Fragment)),
        ("/public#/../admin", Err(Fragment)),
        ("/a?b", Err(Query)),
        // Malformed escapes.
        ("/%zz", Err(BadPercentEncoding)),
        ("/%2", Err(BadPercentEncoding)),
        ("/%", Err(BadPercentEncoding)),
        ("/%%41", Err(BadPercentEncoding)),
        ("/%u002e", Err(BadPercentEncoding)),
        ("/%é9", Err(BadPercentEncoding)),
        // Dot segments with parameters.
        ("/public/..;/admin", Err(DotParameter)),
        ("/public/.;/admin", Err(DotParameter)),
        ("/public/..;x=1/admin", Err(DotParameter)),
        ("/public/%2e%2e;x/admin", Err(DotParameter)),
        ("/public/..%3b/admin", Err(DotParameter)),
        ("/public/..%3B/admin", Err(DotParameter)),
        // Not absolute.
        ("", Err(NotAbsolute)),
        ("a/b", Err(NotAbsolute)),
        ("public", Err(NotAbsolute)),
        ("%2Fpublic", Err(NotAbsolute)),
        ("*", Err(NotAbsolute)),
        ("http://host/x", Err(NotAbsolute)),
    ];
    for &(input, expected) in cases {
        check(input, expected);
    }
}

#[test]
fn prefixes_match_on_segment_boundaries() {
    let cases: &[(&str, &str, bool)] = &[
        ("/public", "/public", true),
        ("/public/", "/public", true),
        ("/public/x", "/public", true),
        ("/public/x/y", "/public", true),
        ("/publicity", "/public", false),
        ("/publi", "/public", false),
        ("/other/public", "/public", false),
        ("/static/a.css", "/static/", true),
        ("/static/", "/static/", true),
        ("/static", "/static/", false),
        ("/staticx/a", "/static/", false),
        ("/", "/", true),
        ("/anything/at/all", "/", true),
        ("/a", "", false),
        ("/", "", false),
    ];
    for &(path, prefix, expected) in cases {
        let Ok(p) = canonicalize(path) else {
            panic!("{path:?} should be canonical");
        };
        assert_eq!(
            p.starts_with_prefix(prefix),
            expected,
            "{path:?} under {prefix:?}"
        );
    }
}

#[test]
fn advisory_bypasses_do_not_reach_public_rules() {
    // Each raw path is either refused or, once canonical, falls outside `/public`.
    for raw in [
        "/public/../admin",
        "/public/%2e%2e/admin",
        "/public/%2E./admin",
        "/public/.%2e/admin",
        "/public%2Fx",
        "/public%2f..%2fadmin",
        "/public%5c..%5cadmin",
        "/public\\..\\admin",
        "/public/..;/admin",
        "/public#/../admin",
        "/public%23/../admin",
        "/publicity",
        "/public%00/../admin",
    ] {
        if let Ok(p) = canonicalize(raw) {
            assert!(!p.starts_with_prefix("/public"), "{raw:?} -> {p}");
        }
    }
    // A public path reached through noise stays public, so operators are not surprised.
    for raw in ["//public", "/public/", "/x/../public/a", "/%70ublic/a"] {
        let Ok(p) = canonicalize(raw) else {
            panic!("{raw:?} should be canonical");
        };
        assert!(p.starts_with_prefix("/public"), "{raw:?} -> {p}");
    }
}

#[test]
fn configured_prefixes_use_the_same_rules() {
    assert_eq!(canonical_prefix("/public"), Ok("/public".to_owned()));
    assert_eq!(canonical_prefix("/static/"), Ok("/static/".to_owned()));
    assert_eq!(canonical_prefix("//public//"), Ok("/public/".to_owned()));
    assert_eq!(canonical_prefix("/%7Eshared"), Ok("/~shared".to_owned()));
    assert_eq!(canonical_prefix("/a/./b/../c"), Ok("/a/c".to_owned()));
    assert_eq!(canonical_prefix("/"), Ok("/".to_owned()));
    assert_eq!(canonical_prefix("public"), Err(NotAbsolute));
    assert_eq!(canonical_prefix(""), Err(NotAbsolute));
    assert_eq!(canonical_prefix("/a%2Fb"), Err(EncodedSeparator));
    assert_eq!(canonical_prefix("/.."), Err(EscapesRoot));
    assert_eq!(canonical_prefix("/x?y"), Err(Query));
}

/// Every path over a small alphabet up to a fixed length: the shortcut agrees with the
/// full rules, the output is a fixed point, and it has no empty or dot segments.
#[test]
fn exhaustive_small_paths() {
    const ALPHABET: &[char] = &[
        '/', '.', 'a', '%', '2', 'e', 'F', ';', '#', ' ', '\\', 'é', '\u{85}',
    ];
    const MAX_LEN: usize = 5;
    let mut stack = vec![String::from("/")];
    while let Some(path) = stack.pop() {
        let full = canonicalize_segments(&path[1..]);
        if is_already_canonical(path.as_bytes()) {
            assert_eq!(full.as_deref(), Ok(path.as_str()), "shortcut for {path:?}");
        }
        let result = canonicalize(&path).map(|p| p.0);
        assert_eq!(result, full, "shortcut changed the result for {path:?}");
        if let Ok(out) = &result {
            assert!(out.starts_with('/'), "{path:?} -> {out:?}");
            assert_eq!(canonicalize(out).map(|p| p.0).as_ref(), Ok(out), "{path:?}");
            let inner = out.strip_suffix('/').unwrap_or(out);
            for segment in inner.split('/').skip(1) {
                assert!(
                    !matches!(segment, "" | "." | ".."),
                    "{path:?} -> {out:?} keeps segment {segment:?}"
                );
            }
        }
        if path.chars().count() <= MAX_LEN {
            for &c in ALPHABET {
                let mut next = path.clone();
                next.push(c);
                stack.push(next);
            }
        }
    }
}

#[test]
fn double_encoding_of_dangerous_bytes_is_refused() {
    for raw in [
        "/public/%252e%252e/admin",
        "/public/%252E%252E/admin",
        "/public%252fadmin",
        "/public%252Fadmin",
        "/public/%255cadmin",
        "/public/%2500",
        "/public/%250a",
        "/public/%257f",
        "/public/%2525",
        "/public/%252e",
        "/public/%25%32%65%25%32%65/admin",
        "/public/%25%32e",
        "/public/x%25252e",
    ] {
        check(raw, Err(DoubleEncoded));
    }
    // One level of encoding is judged by the usual rules; a literal `%` is fine.
    check("/public/100%25", Ok("/public/100%25"));
    check("/public/%2541", Ok("/public/%2541"));
    check("/public/%25zz", Ok("/public/%25zz"));
    check("/public/%25", Ok("/public/%25"));
    check("/public/%2e%2e/admin", Ok("/admin"));
}

/// Every path of up to three bytes over an alphabet rich in escapes: if decoding the
/// canonical form once more still yields a dot segment, separator or `%`-escape of one,
/// canonicalization must have refused it.
#[test]
fn no_accepted_path_hides_a_second_level_escape() {
    let alphabet = ["%25", "2", "e", "f", "5", "c", "/", ".", "a", "%2e", "%32"];
    let mut paths = vec![String::from("/")];
    for _ in 0..4 {
        let next: Vec<String> = paths
            .iter()
            .flat_map(|p| alphabet.iter().map(move |a| format!("{p}{a}")))
            .collect();
        paths.extend(next);
    }
    for raw in paths {
        let Ok(canonical) = canonicalize(&raw) else {
            continue;
        };
        let once: Vec<u8> = percent_encoding::percent_decode_str(canonical.as_str()).collect();
        let twice: Vec<u8> = percent_encoding::percent_decode(&once).collect();
        let twice = String::from_utf8_lossy(&twice);
        let slashes = canonical.as_str().matches('/').count();
        assert_eq!(
            twice.matches('/').count(),
            slashes,
            "{raw}: new separator in {twice}"
        );
        assert!(!twice.contains('\\'), "{raw}: backslash in {twice}");
        assert!(
            twice
                .split('/')
                .skip(1)
                .all(|seg| seg != "." && seg != ".."),
            "{raw}: dot segment in {twice}"
        );
    }
}

#[test]
fn restricting_prefixes_cover_every_spelling_and_opening_ones_only_their_own() {
    let cases: &[(&str, &str, bool, bool)] = &[
        // (prefix, path, opening covers, restricting covers)
        ("/admin", "/admin/users", true, true),
        ("/admin", "/admin", true, true),
        ("/admin", "/admin;x/users", false, true),
        ("/admin", "/admin;jsessionid=1", false, true),
        ("/admin", "/admin%3Bx/users", false, true),
        ("/admin", "/admin%3bx", false, true),
        ("/admin", "/ADMIN/users", false, true),
        ("/admin", "/Admin", false, true),
        ("/admin", "/%41dmin/x", false, true),
        ("/admin", "/ADMIN;x./users", false, true),
        ("/admin", "/admin./users", false, true),
        ("/admin", "/admin%20/users", false, true),
        ("/admin", "/;x/admin/users", false, true),
        ("/admin", "//admin", true, true),
        ("/admin", "/administrator", false, false),
        ("/admin", "/admin-x", false, false),
        ("/admin", "/x/admin", false, false),
        // Format suffixes (Rails, Spring): `/admin.json` is served by `/admin`.
        ("/admin", "/admin%2Ex", false, true),
        ("/admin", "/admin.json", false, true),
        ("/admin", "/ADMIN.JSON/", false, true),
        ("/admin", "/admin.json/users", false, true),
        ("/admin", "/admin..json", false, true),
        ("/admin/", "/admin.json", false, true),
        ("/admin", "/admin-x.json", false, false),
        ("/admin", "/x/admin.json", false, false),
        ("/a.b", "/a.b.json", false, true),
        ("/a.b", "/a.c", false, false),
        ("/admin/", "/admin", false, true),
        ("/admin/", "/ADMIN/", false, true),
        ("/Admin", "/admin/x", false, true),
        ("/caf%C3%A9", "/CAF%C3%89/x", false, true),
        ("/café", "/caf%C3%A9", false, true),
        ("/key", "/\u{212a}ey", false, true),
        ("/secret", "/\u{17f}ecret", false, true),
        ("/", "/anything;x", true, true),
    ];
    for &(prefix, path, opens, restricts) in cases {
        let p = canonicalize(path).expect("canonical");
        let open = OpeningPrefix::new(prefix).expect("prefix");
        let restrict = RestrictingPrefix::new(prefix).expect("prefix");
        assert_eq!(open.covers(&p), opens, "opening {prefix:?} over {path:?}");
        assert_eq!(
            restrict.covers(&p.folded()),
            restricts,
            "restricting {prefix:?} over {path:?}"
        );
    }
    let public = OpeningPrefix::new("/docs").expect("prefix");
    for (restricted, overlaps) in [
        ("/docs/internal", true),
        ("/Docs/internal", true),
        ("/docs;x", true),
        ("/DOCS", true),
        ("/", false),
        ("/doc", false),
        ("/docsx", false),
    ] {
        let r = RestrictingPrefix::new(restricted).expect("prefix");
        assert_eq!(public.may_serve_all_of(&r), overlaps, "{restricted}");
    }
}

/// Every path of up to five pieces over an alphabet of case, parameter, dot and escape
/// variants: a restricting prefix covers a path exactly when it covers each of its other
/// spellings, and always covers what the opening prefix of the same text covers.
#[test]
fn exhaustive_spellings_of_short_paths() {
    const PIECES: &[&str] = &["/", "a", "A", ";", "x", ".", "%3B", "%41", "%20", "b"];
    let prefixes = ["/a", "/A/", "/a/b", "/ab", "/"];
    let mut paths = vec![String::from("/")];
    let mut frontier = paths.clone();
    for _ in 0..5 {
        frontier = frontier
            .iter()
            .flat_map(|p| PIECES.iter().map(move |x| format!("{p}{x}")))
            .collect();
        paths.extend(frontier.iter().cloned());
    }
    // Spellings an upstream may read alike: other case, `;` parameters added or spelled
    // `%3B`, a trailing dot on a last segment that is not a dot segment already.
    let respell = |p: &str| -> Vec<String> {
        let mut out = vec![
            p.to_uppercase(),
            p.to_lowercase(),
            p.replace(';', "%3B"),
            format!("{p};v=1"),
            format!("/{}", p[1..].replace('/', ";y/")),
        ];
        if !p.ends_with(['/', '.']) {
            out.push(format!("{p}."));
        }
        out
    };
    for prefix in prefixes {
        let open = OpeningPrefix::new(prefix).expect("prefix");
        let restrict = RestrictingPrefix::new(prefix).expect("prefix");
        for raw in &paths {
            let Ok(p) = canonicalize(raw) else { continue };
            let covered = restrict.covers(&p.folded());
            if open.covers(&p) {
                assert!(covered, "{prefix:?} opens {raw:?} but does not restrict it");
            }
            // What is forwarded is the canonical path, so that is what is respelled.
            for other in respell(p.as_str()) {
                let Ok(q) = canonicalize(&other) else {
                    continue;
                };
                assert_eq!(
                    restrict.covers(&q.folded()),
                    covered,
                    "{prefix:?}: {p} and {other:?} differ"
                );
            }
        }
    }
}
