//! Text a client chose that a person is shown: on the phone that approves, in lists, in the
//! audit log (a personal token's name). It must read as what it is, so it holds printable
//! characters only: no control characters (Unicode general category Cc), no format
//! characters (Cf: the bidi embeddings, overrides and isolates that reorder what follows,
//! zero-width spaces and joiners, the soft hyphen, tags) and no other invisible separators or
//! fillers. A field a client fills is refused (never cleaned) when it holds one
//! ([`first_hidden`]); text put together for the phone replaces any that an operator's name
//! might hold ([`one_line`]).

/// Every character of general category Cf (format), Unicode 15.1, as inclusive ranges.
const FORMAT: &[(char, char)] = &[
    ('\u{00AD}', '\u{00AD}'),
    ('\u{0600}', '\u{0605}'),
    ('\u{061C}', '\u{061C}'),
    ('\u{06DD}', '\u{06DD}'),
    ('\u{070F}', '\u{070F}'),
    ('\u{0890}', '\u{0891}'),
    ('\u{08E2}', '\u{08E2}'),
    ('\u{180E}', '\u{180E}'),
    ('\u{200B}', '\u{200F}'),
    ('\u{202A}', '\u{202E}'),
    ('\u{2060}', '\u{2064}'),
    ('\u{2066}', '\u{206F}'),
    ('\u{FEFF}', '\u{FEFF}'),
    ('\u{FFF9}', '\u{FFFB}'),
    ('\u{110BD}', '\u{110BD}'),
    ('\u{110CD}', '\u{110CD}'),
    ('\u{13430}', '\u{1343F}'),
    ('\u{1BCA0}', '\u{1BCA3}'),
    ('\u{1D173}', '\u{1D17A}'),
    ('\u{E0001}', '\u{E0001}'),
    ('\u{E0020}', '\u{E007F}'),
];

/// Other characters that show as nothing, or break the line, though not Cc or Cf: the
/// combining grapheme joiner, the Hangul fillers, and the line and paragraph separators (Zl,
/// Zp).
const INVISIBLE: &[(char, char)] = &[
    ('\u{034F}', '\u{034F}'),
    ('\u{115F}', '\u{1160}'),
    ('\u{2028}', '\u{2029}'),
    ('\u{3164}', '\u{3164}'),
    ('\u{FFA0}', '\u{FFA0}'),
];

/// Whether `c` may be shown as a client wrote it: not a control, format or invisible
/// character.
pub(crate) fn printable(c: char) -> bool {
    let within = |table: &[(char, char)]| table.iter().any(|(lo, hi)| (*lo..=*hi).contains(&c));
    !(c.is_control() || within(FORMAT) || within(INVISIBLE))
}

/// The first character of `text` that may not be shown as written, if any.
pub(crate) fn first_hidden(text: &str) -> Option<char> {
    text.chars().find(|c| !printable(*c))
}

/// `text` as one line for the phone: each character that may not be shown as written
/// becomes a space.
pub(crate) fn one_line(text: &str) -> String {
    text.chars()
        .map(|c| if printable(c) { c } else { ' ' })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn control_format_and_invisible_characters_are_refused_and_the_rest_is_shown() {
        // Cc: C0, DEL, C1.
        for c in ('\u{0}'..='\u{1F}').chain('\u{7F}'..='\u{9F}') {
            assert!(!printable(c), "{:04X}", u32::from(c));
        }
        // Every Cf range, its ends and its middle.
        for (lo, hi) in FORMAT.iter().chain(INVISIBLE) {
            let mid = char::from_u32((u32::from(*lo) + u32::from(*hi)) / 2).expect("char");
            for c in [*lo, mid, *hi] {
                assert!(!printable(c), "{:04X}", u32::from(c));
            }
        }
        // The bidi controls by name: LRM, RLM, ALM, LRE, RLE, PDF, LRO, RLO, LRI, RLI, FSI,
        // PDI; the zero-width ones; the BOM; a tag.
        for c in [
            '\u{200E}',
            '\u{200F}',
            '\u{061C}',
            '\u{202A}',
            '\u{202B}',
            '\u{202C}',
            '\u{202D}',
            '\u{202E}',
            '\u{2066}',
            '\u{2067}',
            '\u{2068}',
            '\u{2069}',
            '\u{200B}',
            '\u{200C}',
            '\u{200D}',
            '\u{2060}',
            '\u{FEFF}',
            '\u{E0041}',
            '\u{2028}',
            '\u{2029}',
        ] {
            assert!(!printable(c), "{:04X}", u32::from(c));
        }
        // Letters, digits, punctuation, spaces and symbols of any script pass.
        for text in [
            "backup",
            "CI job #2 (nightly)",
            "Ünïcödé",
            "имя",
            "名前",
            "שם",
            "اسم",
            "🙂",
            "a b",
        ] {
            assert_eq!(first_hidden(text), None, "{text}");
        }
        // The table is sorted and its ranges do not overlap (no gap hides behind a typo).
        for pair in FORMAT.windows(2) {
            assert!(pair[0].1 < pair[1].0, "{pair:?}");
        }
        assert_eq!(
            first_hidden("x\u{202E}syad 1 rof"),
            Some('\u{202E}'),
            "the override that turned a name around"
        );
        assert_eq!(one_line("a\u{202E}b\nc\u{200B}"), "a b c ");
    }
}
