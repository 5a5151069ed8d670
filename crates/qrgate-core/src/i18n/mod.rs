//! The visitor's language: which one a request gets ([`negotiate`]), the message catalogs
//! every page and user-visible message is written from ([`text`], Fluent, in
//! `locales/<tag>/*.ftl`, compiled into the binary), and dates in each language's form.
//!
//! A translator edits only the `.ftl` files: plurals are Fluent's plural rules (CLDR, per
//! locale), and a date is one catalog message with its parts as arguments. English is the
//! reference and the fallback; `tests.rs` checks that every catalog has exactly English's
//! messages and that every message the code or a template names exists.

mod catalog;
mod negotiate;
#[cfg(test)]
mod tests;

use std::fmt;

pub use negotiate::negotiate;

/// A language the gateway's pages and messages are written in.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Hash)]
pub enum Lang {
    /// English, the reference catalog and the fallback.
    #[default]
    En,
    /// German.
    De,
    /// French.
    Fr,
    /// Spanish.
    Es,
    /// Arabic, written right to left.
    Ar,
}

impl Lang {
    /// Every language with a catalog, English first.
    pub const ALL: [Lang; 5] = [Lang::En, Lang::De, Lang::Fr, Lang::Es, Lang::Ar];

    /// The BCP 47 tag (`lang` on a page, the catalog's folder name).
    pub fn tag(self) -> &'static str {
        match self {
            Lang::En => "en",
            Lang::De => "de",
            Lang::Fr => "fr",
            Lang::Es => "es",
            Lang::Ar => "ar",
        }
    }

    /// The writing direction (`dir` on a page).
    pub fn dir(self) -> &'static str {
        match self {
            Lang::Ar => "rtl",
            _ => "ltr",
        }
    }

    /// The language whose tag's primary subtag is `primary` (ASCII case-insensitive).
    pub(crate) fn from_primary(primary: &str) -> Option<Lang> {
        Lang::ALL
            .into_iter()
            .find(|l| l.tag().eq_ignore_ascii_case(primary))
    }

    /// Message `id` in this language.
    pub fn text(self, id: &str) -> String {
        catalog::format(self, id, &[])
    }

    /// Message `id` in this language, with its arguments.
    pub fn text_with(self, id: &str, args: &[(&str, Arg<'_>)]) -> String {
        catalog::format(self, id, args)
    }

    /// A moment (Unix seconds, UTC) as this language writes a date and time.
    pub fn date(self, unix_secs: u64) -> String {
        let Some(t) = i64::try_from(unix_secs)
            .ok()
            .and_then(|s| time::OffsetDateTime::from_unix_timestamp(s).ok())
        else {
            return self.text("date-unknown");
        };
        self.text_with(
            "date-time",
            &[
                ("year", Arg::Num(i64::from(t.year()))),
                ("month", Arg::Num(i64::from(u8::from(t.month())))),
                ("day", Arg::Num(i64::from(t.day()))),
                // One placeable: in a right-to-left sentence hours and minutes placed apart
                // would be isolated apart, and read back to front.
                (
                    "time",
                    Arg::Str(&format!("{:02}:{:02}", t.hour(), t.minute())),
                ),
            ],
        )
    }

    /// A length of time in whole seconds, in the largest unit that keeps it whole enough
    /// (seconds below two minutes, minutes below two hours, then hours, then days), with
    /// the language's plural forms.
    pub fn duration(self, secs: u64) -> String {
        let (id, n) = match secs {
            0..=119 => ("duration-seconds", secs),
            120..=7_199 => ("duration-minutes", secs / 60),
            7_200..=172_799 => ("duration-hours", secs / 3_600),
            _ => ("duration-days", secs / 86_400),
        };
        self.text_with(id, &[("n", Arg::Num(i64::try_from(n).unwrap_or(i64::MAX)))])
    }
}

impl fmt::Display for Lang {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.tag())
    }
}

/// An argument of a message: text, or a number (which selects plural forms).
#[derive(Debug, Clone, Copy)]
pub enum Arg<'a> {
    /// Text, placed as it is.
    Str(&'a str),
    /// A number.
    Num(i64),
}

impl<'a> From<&'a str> for Arg<'a> {
    fn from(s: &'a str) -> Self {
        Arg::Str(s)
    }
}

impl<'a> From<&'a String> for Arg<'a> {
    fn from(s: &'a String) -> Self {
        Arg::Str(s)
    }
}

/// What a page template reads its text through (its field `tr`): `{{ tr.get("id") }}`, with
/// arguments `{{ tr.with("id", "name", value) }}` (`with2` … `with4` take `(name, value)`
/// pairs), plural forms `{{ tr.count("id", "n", 3) }}`, and the page's `lang` and `dir`.
#[derive(Debug, Clone, Copy, Default)]
pub(crate) struct Texts {
    /// The page's language.
    pub(crate) lang: Lang,
}

impl Texts {
    /// The texts of `lang`.
    pub(crate) fn new(lang: Lang) -> Texts {
        Texts { lang }
    }

    /// Message `id`.
    pub(crate) fn get(&self, id: &str) -> String {
        self.lang.text(id)
    }

    /// Message `id` with one text argument.
    pub(crate) fn with(&self, id: &str, name: &str, value: &str) -> String {
        self.lang.text_with(id, &[(name, Arg::Str(value))])
    }

    /// Message `id` with two text arguments (as askama passes them: by reference).
    pub(crate) fn with2(
        &self,
        id: &str,
        a: &(&str, impl AsRef<str>),
        b: &(&str, impl AsRef<str>),
    ) -> String {
        self.lang.text_with(id, &[pair(a), pair(b)])
    }

    /// Message `id` with three text arguments.
    pub(crate) fn with3(
        &self,
        id: &str,
        a: &(&str, impl AsRef<str>),
        b: &(&str, impl AsRef<str>),
        c: &(&str, impl AsRef<str>),
    ) -> String {
        self.lang.text_with(id, &[pair(a), pair(b), pair(c)])
    }

    /// Message `id` with four text arguments.
    pub(crate) fn with4(
        &self,
        id: &str,
        a: &(&str, impl AsRef<str>),
        b: &(&str, impl AsRef<str>),
        c: &(&str, impl AsRef<str>),
        d: &(&str, impl AsRef<str>),
    ) -> String {
        self.lang
            .text_with(id, &[pair(a), pair(b), pair(c), pair(d)])
    }

    /// Message `id` with one number argument (plural forms).
    pub(crate) fn count(&self, id: &str, name: &str, n: impl Count) -> String {
        self.lang.text_with(id, &[(name, Arg::Num(n.count()))])
    }

    /// The page's `lang` attribute.
    pub(crate) fn tag(&self) -> &'static str {
        self.lang.tag()
    }

    /// The page's `dir` attribute.
    pub(crate) fn dir(&self) -> &'static str {
        self.lang.dir()
    }
}

/// A count a template passes, by value or (a field) by reference.
pub(crate) trait Count {
    /// The count as a message argument.
    fn count(self) -> i64;
}

impl Count for usize {
    fn count(self) -> i64 {
        i64::try_from(self).unwrap_or(i64::MAX)
    }
}

impl Count for &u64 {
    fn count(self) -> i64 {
        i64::try_from(*self).unwrap_or(i64::MAX)
    }
}

fn pair<'a>((name, value): &'a (&'a str, impl AsRef<str>)) -> (&'a str, Arg<'a>) {
    (name, Arg::Str(value.as_ref()))
}
