//! What a program asks the phone to approve (a device code, RFC 8628), in the words every
//! protocol shows: [`ProgramAsk`]. The native protocol signs [`ProgramAsk::describe`] under
//! its action domain, tana-mobile shows it as the app's name, and Pubky Ring is asked for
//! capabilities built from the same fields ([`crate::login::signers::pubky`]).

use std::time::Duration;

use serde::{Deserialize, Serialize};

/// The longest description a phone is shown, in characters: the program's name and the apps
/// are shortened first, so the lifetime and the code to compare always fit.
pub const MAX_SHOWN: usize = 256;
/// The longest program name shown, in characters.
const MAX_CLIENT: usize = 48;
/// The longest list of apps shown before it is summarized, in characters.
const MAX_APPS: usize = 100;

/// An app a program asks for.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct AskedApp {
    /// The app's name.
    pub name: String,
    /// Reads only; read-write otherwise.
    pub read_only: bool,
    /// Only under this path prefix of the app (the whole app when `None`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub prefix: Option<String>,
}

impl AskedApp {
    /// "read access to Wiki", "read-write access to Wiki under /api/".
    pub fn shown(&self) -> String {
        match &self.prefix {
            Some(p) => format!(
                "{} access to {} under {p}",
                access(self.read_only),
                self.name
            ),
            None => format!("{} access to {}", access(self.read_only), self.name),
        }
    }
}

/// What a program's device code asks for, as the person approving sees it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ProgramAsk {
    /// The client's name ("qrgate CLI").
    pub client: String,
    /// Where it asked from (an address, or "an unknown address").
    pub from: String,
    /// The apps it asks for, in the order asked.
    pub apps: Vec<AskedApp>,
    /// Its other scopes (`openid`, `offline_access`, …), in the order asked.
    pub scopes: Vec<String>,
    /// How long the grant would last, in seconds.
    pub lifetime_secs: u64,
    /// The user code, normalized (`BCDFGHJK`).
    pub code: String,
}

impl ProgramAsk {
    /// The user code as people read it: `BCDF-GHJK`.
    pub fn shown_code(&self) -> String {
        match (self.code.get(..4), self.code.get(4..)) {
            (Some(a), Some(b)) if !b.is_empty() => format!("{a}-{b}"),
            _ => self.code.clone(),
        }
    }

    /// How long the grant lasts, in the largest whole unit: "30 days", "1 hour".
    pub fn lifetime(&self) -> String {
        span(Duration::from_secs(self.lifetime_secs))
    }

    /// What the phone shows (and the native protocol signs): who asks, from where, for what,
    /// how long, and the code to compare. One line of at most [`MAX_SHOWN`] characters.
    pub fn describe(&self) -> String {
        let apps: Vec<String> = self.apps.iter().map(AskedApp::shown).collect();
        let mut what = apps.join(", ");
        if what.chars().count() > MAX_APPS {
            let read = self.apps.iter().filter(|a| a.read_only).count();
            what = format!(
                "access to {} apps ({read} of them read-only)",
                self.apps.len()
            );
        }
        if what.is_empty() {
            what = "to know who you are".into();
        }
        let text = format!(
            "{} at {} wants {what} for {}, code {}",
            clip(&self.client, MAX_CLIENT),
            clip(&self.from, MAX_CLIENT),
            self.lifetime(),
            self.shown_code()
        );
        // Nothing in the line reorders or hides what follows, whatever a field holds.
        crate::http::shown::one_line(&text)
    }
}

/// `read` or `read-write`.
pub(crate) fn access(read_only: bool) -> &'static str {
    if read_only {
        "read"
    } else {
        "read-write"
    }
}

/// `text` cut to `max` characters, an ellipsis marking the cut.
fn clip(text: &str, max: usize) -> String {
    if text.chars().count() <= max {
        return text.to_string();
    }
    let mut out: String = text.chars().take(max.saturating_sub(1)).collect();
    out.push('…');
    out
}

/// A lifetime in the largest whole unit: "30 days", "1 hour", "10 minutes".
fn span(d: Duration) -> String {
    let s = d.as_secs();
    let (n, unit) = if s >= 86_400 && s % 86_400 == 0 {
        (s / 86_400, "day")
    } else if s >= 3600 && s % 3600 == 0 {
        (s / 3600, "hour")
    } else if s >= 60 {
        (s / 60, "minute")
    } else {
        (s, "second")
    };
    format!("{n} {unit}{}", if n == 1 { "" } else { "s" })
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;

    /// The documented example: the CLI at 192.0.2.7 asking to read Wiki for 30 days.
    pub(crate) fn wiki_read() -> ProgramAsk {
        ProgramAsk {
            client: "qrgate CLI".into(),
            from: "192.0.2.7".into(),
            apps: vec![AskedApp {
                name: "Wiki".into(),
                read_only: true,
                prefix: None,
            }],
            scopes: vec!["offline_access".into()],
            lifetime_secs: 30 * 86_400,
            code: "BCDFGHJK".into(),
        }
    }

    #[test]
    fn the_phone_is_told_who_asks_from_where_for_what_how_long_and_the_code() {
        assert_eq!(
            wiki_read().describe(),
            "qrgate CLI at 192.0.2.7 wants read access to Wiki for 30 days, code BCDF-GHJK"
        );
        let one_hour = ProgramAsk {
            apps: vec![AskedApp {
                name: "Wiki".into(),
                read_only: false,
                prefix: None,
            }],
            scopes: vec![],
            lifetime_secs: 3600,
            ..wiki_read()
        };
        assert_eq!(
            one_hour.describe(),
            "qrgate CLI at 192.0.2.7 wants read-write access to Wiki for 1 hour, code BCDF-GHJK"
        );
        let who = ProgramAsk {
            from: "a\nb".into(),
            apps: vec![],
            scopes: vec!["openid".into()],
            lifetime_secs: 600,
            ..wiki_read()
        };
        assert_eq!(
            who.describe(),
            "qrgate CLI at a b wants to know who you are for 10 minutes, code BCDF-GHJK"
        );
        let hidden = ProgramAsk {
            client: "Tool\u{202E}\u{2066}\u{200B}\u{FEFF}".into(),
            from: "a\u{2028}b\u{200D}".into(),
            ..wiki_read()
        };
        let text = hidden.describe();
        assert_eq!(crate::http::shown::first_hidden(&text), None, "{text:?}");
        assert!(text.starts_with("Tool "), "{text}");
    }

    #[test]
    fn a_long_ask_is_shortened_but_keeps_the_lifetime_and_the_code() {
        let long = ProgramAsk {
            client: "x".repeat(500),
            apps: (0..40)
                .map(|i| AskedApp {
                    name: format!("App number {i} with a long name"),
                    read_only: i % 2 == 0,
                    prefix: None,
                })
                .collect(),
            ..wiki_read()
        };
        let text = long.describe();
        assert!(text.chars().count() <= MAX_SHOWN, "{text}");
        assert!(
            text.contains("access to 40 apps (20 of them read-only)"),
            "{text}"
        );
        assert!(text.ends_with(" for 30 days, code BCDF-GHJK"), "{text}");
        assert!(text.starts_with(&format!("{}…", "x".repeat(MAX_CLIENT - 1))));
        // The longest parts at once still fit.
        let worst = ProgramAsk {
            from: "y".repeat(500),
            lifetime_secs: u64::MAX,
            ..long
        };
        assert!(worst.describe().chars().count() <= MAX_SHOWN);
    }
}
