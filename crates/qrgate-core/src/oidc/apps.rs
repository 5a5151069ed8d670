//! Single sign-on across the gateway's own apps, the pure part: which apps take part (the
//! config's answer, [`takes_part`], re-exported here), the one-time code an app origin
//! exchanges for a session of its own, and what that code is bound to (the app, one trip of
//! one browser — its binding cookie and the trip's nonce cookie, [`trip_bind`] — a short life,
//! one use).
//!
//! The handlers are `web::sso`; the codes live in the [`OidcStore`](super::store::OidcStore)
//! (memory, or Redis where any instance redeems them), kept by their SHA-256.

use serde::{Deserialize, Serialize};
use subtle::ConstantTimeEq;

pub use crate::config::{takes_part, OwnApproval};
use crate::config::{AppId, Config};
use crate::http::cookies;
use crate::http::redirect::validate_return_path;
use crate::raw::BindingHash;

/// How long a code lives: long enough for one redirect and one form post.
pub const CODE_LIFETIME_MS: u64 = 30_000;

/// What a one-time code stands for until an app origin redeems it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct AppCode {
    /// The app it was issued for (its name).
    pub app: String,
    /// The signing key of the SSO session, hex.
    pub key: String,
    /// The user it named when issued.
    pub user: String,
    /// The SSO session's id ([`crate::session::session_id`]): the family.
    pub family: String,
    /// The SSO session's token hash, hex (to check it is still live at redemption).
    pub sso_session: String,
    /// The trip's binding ([`trip_bind`] of the app origin's binding and trip cookies), hex.
    pub bind: String,
    /// The validated return path on the app.
    pub rd: String,
    /// The SSO session's last phone approval, ms since the epoch.
    pub approved_ms: u64,
    /// The end of its life, ms since the epoch.
    pub expires_ms: u64,
}

/// Why a presented code opens nothing.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum CodeRefusal {
    /// Unknown, used or expired.
    #[error("the sign-in code was used or has expired")]
    Spent,
    /// Issued for another app.
    #[error("the sign-in code was issued for another app")]
    OtherApp,
    /// The browser presenting it is not the one it was issued to, or the trip it was issued
    /// for is over (used, replaced by a later one, or expired).
    #[error("the sign-in code was issued to another browser or for another sign-in")]
    OtherBrowser,
}

impl CodeRefusal {
    /// A short label (metrics and audit).
    pub fn label(self) -> &'static str {
        match self {
            CodeRefusal::Spent => "spent",
            CodeRefusal::OtherApp => "other_app",
            CodeRefusal::OtherBrowser => "other_browser",
        }
    }
}

/// The `bind` an app origin sends to the SSO origin for one trip, and what a redemption
/// recomputes: SHA-256 over the ASCII of the binding cookie's value, a full stop (`.`), and
/// the trip cookie's nonce. Both values are URL-safe base64 tokens, with no full stop, so two
/// different pairs never hash the same text. The binding alone (long-lived, reused by every
/// trip of the browser) is never sent: a `bind` seen in a log or a history names one trip,
/// whose nonce cookie a redemption clears.
pub fn trip_bind(binding: &str, nonce: &str) -> BindingHash {
    cookies::hash(&format!("{binding}.{nonce}"))
}

/// Whether a code taken from the store may open a session on app `app` for the browser
/// presenting binding cookie `binding` and trip cookie `trip` at `now_ms` (their
/// [`trip_bind`] compared in constant time with the code's).
pub fn accept(
    code: &AppCode,
    app: &str,
    binding: Option<&str>,
    trip: Option<&str>,
    now_ms: u64,
) -> Result<(), CodeRefusal> {
    if now_ms >= code.expires_ms {
        return Err(CodeRefusal::Spent);
    }
    if code.app != app {
        return Err(CodeRefusal::OtherApp);
    }
    let (Some(bind), Some(binding), Some(trip)) =
        (BindingHash::from_hex(&code.bind), binding, trip)
    else {
        return Err(CodeRefusal::OtherBrowser);
    };
    if !bool::from(trip_bind(binding, trip).as_bytes().ct_eq(bind.as_bytes())) {
        return Err(CodeRefusal::OtherBrowser);
    }
    Ok(())
}

/// The SSO origin's issue request: which app asks, the trip's binding ([`trip_bind`]), and
/// the return path on the app.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct IssueRequest {
    /// The app.
    pub app: AppId,
    /// The trip's binding, hex (64 characters).
    pub bind: String,
    /// The validated return path (`/` when absent or refused, as the login page does).
    pub rd: String,
}

/// Why an issue request is refused (told on a page, never by a redirect).
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum IssueRefusal {
    /// No such app, or one that does not take part.
    #[error("no app that signs in through this origin")]
    App,
    /// The binding is missing or malformed.
    #[error("the request names no browser binding")]
    Binding,
}

/// Reads an issue request's query (`app`, `bind`, `rd`, each once).
pub fn parse_issue(config: &Config, query: Option<&str>) -> Result<IssueRequest, IssueRefusal> {
    let (mut app, mut bind, mut rd) = (None, None, None);
    for (k, v) in url::form_urlencoded::parse(query.unwrap_or("").as_bytes()) {
        let slot = match &*k {
            "app" => &mut app,
            "bind" => &mut bind,
            "rd" => &mut rd,
            _ => continue,
        };
        if slot.replace(v.into_owned()).is_some() {
            return Err(if &*k == "bind" {
                IssueRefusal::Binding
            } else {
                IssueRefusal::App
            });
        }
    }
    let app = app
        .and_then(|name| config.app_by_name(&name))
        .filter(|id| takes_part(config, *id).is_ok())
        .ok_or(IssueRefusal::App)?;
    let bind = bind
        .filter(|b| BindingHash::from_hex(b).is_some())
        .ok_or(IssueRefusal::Binding)?;
    let rd = rd
        .and_then(|r| validate_return_path(&r).ok())
        .unwrap_or_else(|| "/".to_string());
    Ok(IssueRequest { app, bind, rd })
}

/// The issue request's query for app `app`, trip binding `bind` and return path `rd`.
pub fn issue_query(app: &str, bind: &BindingHash, rd: &str) -> String {
    url::form_urlencoded::Serializer::new(String::new())
        .append_pair("app", app)
        .append_pair("bind", &hex::encode(bind.as_bytes()))
        .append_pair("rd", rd)
        .finish()
}

/// The `code` parameter of a query or form, given once.
pub fn code_param(text: &str) -> Option<String> {
    let mut found = None;
    for (k, v) in url::form_urlencoded::parse(text.as_bytes()) {
        if k == "code" && found.replace(v.into_owned()).is_some() {
            return None;
        }
    }
    found
}

#[cfg(test)]
mod tests {
    use super::*;

    const KEY: &str = "ed25519_17956be6b8d4af0841d05ee4099a2f6f19a11a733b059f13998b6eff4b2d5660";

    fn config(extra_app: &str) -> Config {
        let text = format!(
            "[[app]]\nname = \"a\"\norigin = \"https://a.example.com\"\nupstream = \"127.0.0.1:3000\"\n{extra_app}\n\n\
             [[user]]\nname = \"alice\"\nkey = \"{KEY}\"\n\n\
             [sso]\norigin = \"https://id.example.com\"\nname = \"Example\"\n"
        );
        Config::parse(&text, std::path::Path::new("t.toml")).expect("config")
    }

    /// Token-shaped cookie values (43 URL-safe base64 characters).
    fn value(tag: char) -> String {
        std::iter::repeat_n(tag, 43).collect()
    }

    fn code(binding: &str, trip: &str) -> AppCode {
        AppCode {
            app: "a".into(),
            key: String::new(),
            user: "alice".into(),
            family: "f".into(),
            sso_session: String::new(),
            bind: hex::encode(trip_bind(binding, trip).as_bytes()),
            rd: "/".into(),
            approved_ms: 0,
            expires_ms: 1_000,
        }
    }

    #[test]
    fn who_takes_part() {
        let c = config("");
        let a = c.app_by_name("a").expect("a");
        assert_eq!(takes_part(&c, a), Ok(()));
        assert_eq!(
            takes_part(&c, c.sso_app().expect("sso")),
            Err(OwnApproval::SsoOrigin)
        );
        let c = config("sso = false");
        assert_eq!(
            takes_part(&c, c.app_by_name("a").expect("a")),
            Err(OwnApproval::OptedOut)
        );
        let c = config("access = \"read\"");
        assert_eq!(
            takes_part(&c, c.app_by_name("a").expect("a")),
            Err(OwnApproval::ReducedGrant)
        );
        let c = config("step_up_paths = [\"/admin\"]");
        assert_eq!(
            takes_part(&c, c.app_by_name("a").expect("a")),
            Err(OwnApproval::StepUp)
        );
    }

    #[test]
    fn a_code_opens_only_its_app_for_its_browser_and_trip_while_it_lives() {
        let (b1, b2, t1, t2) = (value('a'), value('b'), value('x'), value('y'));
        let c = code(&b1, &t1);
        let ok = |b: Option<&str>, t: Option<&str>| accept(&c, "a", b, t, 0);
        assert_eq!(accept(&c, "a", Some(&b1), Some(&t1), 999), Ok(()));
        // Another browser, or this browser on another trip (or none), opens nothing.
        assert_eq!(ok(Some(&b2), Some(&t1)), Err(CodeRefusal::OtherBrowser));
        assert_eq!(ok(Some(&b1), Some(&t2)), Err(CodeRefusal::OtherBrowser));
        assert_eq!(ok(Some(&b1), None), Err(CodeRefusal::OtherBrowser));
        assert_eq!(ok(None, Some(&t1)), Err(CodeRefusal::OtherBrowser));
        // The binding alone (what the bind parameter was before trips) is not the trip's.
        let old_style = AppCode {
            bind: hex::encode(cookies::hash(&b1).as_bytes()),
            ..c.clone()
        };
        assert_eq!(
            accept(&old_style, "a", Some(&b1), Some(&t1), 0),
            Err(CodeRefusal::OtherBrowser)
        );
        assert_eq!(
            accept(&c, "b", Some(&b1), Some(&t1), 0),
            Err(CodeRefusal::OtherApp)
        );
        assert_eq!(
            accept(&c, "a", Some(&b1), Some(&t1), 1_000),
            Err(CodeRefusal::Spent)
        );
        let damaged = AppCode {
            bind: "zz".into(),
            ..c.clone()
        };
        assert_eq!(
            accept(&damaged, "a", Some(&b1), Some(&t1), 0),
            Err(CodeRefusal::OtherBrowser)
        );
    }

    #[test]
    fn the_trip_binding_is_sha256_of_binding_dot_nonce() {
        let (b, n) = (value('a'), value('x'));
        let want: [u8; 32] =
            <sha2::Sha256 as sha2::Digest>::digest(format!("{b}.{n}").as_bytes()).into();
        assert_eq!(trip_bind(&b, &n).as_bytes(), &want);
        // Each part counts, and the separator keeps pairs apart.
        assert_ne!(trip_bind(&b, &n), trip_bind(&n, &b));
        assert_ne!(trip_bind("ab", "c"), trip_bind("a", "bc"));
        assert_ne!(trip_bind(&b, &n), cookies::hash(&b));
    }

    #[test]
    fn the_return_trip_keeps_a_safe_path_only() {
        let c = config("");
        let bind = cookies::hash("v");
        let q = issue_query("a", &bind, "/x?y=1");
        let r = parse_issue(&c, Some(&q)).expect("parses");
        assert_eq!(r.rd, "/x?y=1");
        assert_eq!(r.bind, hex::encode(bind.as_bytes()));
        for evil in ["//evil.example/", "https://evil.example/", "/\\evil"] {
            let q = issue_query("a", &bind, evil);
            assert_eq!(parse_issue(&c, Some(&q)).expect("parses").rd, "/", "{evil}");
        }
        let q = issue_query("plain-missing", &bind, "/");
        assert_eq!(parse_issue(&c, Some(&q)), Err(IssueRefusal::App));
        assert_eq!(
            parse_issue(&c, Some("app=a&bind=12&rd=/")),
            Err(IssueRefusal::Binding)
        );
        assert_eq!(
            parse_issue(&c, Some(&format!("{q}&app=a"))),
            Err(IssueRefusal::App)
        );
        assert_eq!(code_param("code=a&code=b"), None);
        assert_eq!(code_param("x=1&code=abc").as_deref(), Some("abc"));
    }
}
