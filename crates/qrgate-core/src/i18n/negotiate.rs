//! `Accept-Language` (RFC 9110 §12.5.4) to one of the languages with a catalog.
//!
//! Each range's weight is its `q` (1 without one, 0 refuses it); the heaviest range that
//! names a catalog language wins, ties going to the one listed first. A range matches by its
//! primary subtag (`de-CH` is German); `*` stands for English. A header that is missing,
//! malformed in places or names no catalog language gives English: the pieces that cannot be
//! read are skipped, never fatal.

use super::Lang;

/// Ranges read at most: a longer header is judged on its first ones.
const MAX_RANGES: usize = 32;

/// The language for a request with this `Accept-Language` value (`None`: no header).
pub fn negotiate(accept_language: Option<&str>) -> Lang {
    let Some(header) = accept_language else {
        return Lang::En;
    };
    let mut best: Option<(u16, Lang)> = None;
    for range in header.split(',').take(MAX_RANGES) {
        let Some((lang, weight)) = read_range(range) else {
            continue;
        };
        if weight > 0 && best.is_none_or(|(w, _)| weight > w) {
            best = Some((weight, lang));
        }
    }
    best.map_or(Lang::En, |(_, lang)| lang)
}

/// One `language-range [; q=weight]`: the catalog language it names and its weight in
/// thousandths; `None` for a range no catalog has or that cannot be read.
fn read_range(range: &str) -> Option<(Lang, u16)> {
    let mut parts = range.split(';');
    let tag = parts.next()?.trim();
    let lang = if tag == "*" {
        Lang::En
    } else {
        let primary = tag.split(['-', '_']).next()?;
        if primary.is_empty() || !primary.bytes().all(|b| b.is_ascii_alphabetic()) {
            return None;
        }
        Lang::from_primary(primary)?
    };
    let mut weight = 1000;
    for param in parts {
        let (name, value) = param.split_once('=')?;
        if name.trim().eq_ignore_ascii_case("q") {
            weight = qvalue(value.trim())?;
        }
    }
    Some((lang, weight))
}

/// A `qvalue` (`0`, `0.5`, `1.000`, at most three decimals) in thousandths.
fn qvalue(v: &str) -> Option<u16> {
    let (whole, frac) = v.split_once('.').unwrap_or((v, ""));
    if frac.len() > 3 || !frac.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    let mut thousandths: u16 = 0;
    for (i, b) in frac.bytes().enumerate() {
        let digit = u16::from(b - b'0');
        thousandths += digit * [100, 10, 1][i];
    }
    match whole {
        "0" => Some(thousandths),
        "1" if thousandths == 0 => Some(1000),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn no_header_or_nothing_known_is_english() {
        assert_eq!(negotiate(None), Lang::En);
        assert_eq!(negotiate(Some("")), Lang::En);
        assert_eq!(negotiate(Some("ja, zh-CN;q=0.8")), Lang::En);
        assert_eq!(negotiate(Some(";;;,,=,q=")), Lang::En);
    }

    #[test]
    fn the_primary_subtag_picks_the_catalog() {
        assert_eq!(negotiate(Some("de-CH")), Lang::De);
        assert_eq!(negotiate(Some("FR_ca")), Lang::Fr);
        assert_eq!(negotiate(Some("es-419")), Lang::Es);
        assert_eq!(negotiate(Some("ar-EG")), Lang::Ar);
        assert_eq!(negotiate(Some("en-GB")), Lang::En);
    }

    #[test]
    fn the_heaviest_known_range_wins_and_ties_go_to_the_first() {
        assert_eq!(negotiate(Some("ja, de;q=0.3, fr;q=0.7")), Lang::Fr);
        assert_eq!(negotiate(Some("en;q=0.5, es;q=0.9")), Lang::Es);
        assert_eq!(negotiate(Some("ar;q=0.8, de;q=0.8")), Lang::Ar);
        assert_eq!(negotiate(Some("de, en")), Lang::De);
        assert_eq!(negotiate(Some("fr;q=1.000, de")), Lang::Fr);
    }

    #[test]
    fn q_zero_refuses_and_bad_q_values_skip_the_range() {
        assert_eq!(negotiate(Some("de;q=0, fr;q=0.1")), Lang::Fr);
        assert_eq!(negotiate(Some("de;q=0")), Lang::En);
        assert_eq!(negotiate(Some("de;q=2, es;q=0.5")), Lang::Es);
        assert_eq!(negotiate(Some("de;q=0.5000, es;q=0.001")), Lang::Es);
        assert_eq!(negotiate(Some("de;q=abc, ar")), Lang::Ar);
        assert_eq!(negotiate(Some("de;q=-1")), Lang::En);
    }

    #[test]
    fn the_wildcard_is_english_and_other_params_are_ignored() {
        assert_eq!(negotiate(Some("*")), Lang::En);
        assert_eq!(negotiate(Some("ja, *;q=0.5, de;q=0.4")), Lang::En);
        assert_eq!(negotiate(Some("de;level=1;q=0.9")), Lang::De);
        assert_eq!(negotiate(Some("  es  ;  q=0.4  ")), Lang::Es);
    }

    #[test]
    fn only_the_first_ranges_of_a_long_header_are_read() {
        let long = format!("{}de", "xx, ".repeat(MAX_RANGES));
        assert_eq!(negotiate(Some(&long)), Lang::En);
    }
}
