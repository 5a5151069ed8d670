//! The person's own view of their account, `{prefix}/sessions` on every app's origin: who
//! they are signed in as, each of their keys (the configured one and every enrolled device:
//! name, app, enrolled, last used), every session of theirs, whichever key made it
//! (browser, address, app, since, last seen; this one marked), sign-out of one, all others,
//! or everywhere, and the removal of a device (confirmed by phone, see [`crate::login::confirm`]).
//!
//! The sign-outs are form POSTs from the page itself: refused unless the request comes from
//! the app's own origin (CSRF), and they can only ever select sessions of the user who is
//! signed in here. Selection and revocation are [`crate::control`]'s, as for operators.

use askama::Template;

use crate::config::AppId;
use crate::control::{self, ControlError, Filter, SessionView};
use crate::gateway::Gateway;
use crate::http::reply::Reply;
use crate::http::route::Route;
use crate::i18n::{Lang, Texts};
use crate::identity::access::Grant;
use crate::identity::Identity;
use crate::login::page;
use crate::raw::TokenHash;
use crate::session::{session_id, StoreError};
use crate::settings::Settings;

/// One session on the page.
pub(crate) struct Row {
    /// Its id (for the sign-out form).
    pub(crate) id: String,
    /// The browser it was made in.
    pub(crate) browser: String,
    /// The app.
    pub(crate) app: String,
    /// Where from.
    pub(crate) client_ip: String,
    /// Which signer approved it.
    pub(crate) protocol: String,
    /// What it may do, when less than everything.
    pub(crate) access: Option<String>,
    /// When it began.
    pub(crate) since: String,
    /// When it was last used.
    pub(crate) last_seen: String,
    /// Whether it is the one showing the page.
    pub(crate) current: bool,
}

/// One program's token on the page (a grant of the provider, never the token).
pub(crate) struct TokenRow {
    /// Its id (for the revoke form).
    pub(crate) id: String,
    /// The program's name.
    pub(crate) client: String,
    /// What it may do.
    pub(crate) grant: String,
    /// Where it asked from.
    pub(crate) from: String,
    /// When it was made.
    pub(crate) since: String,
    /// When it ends.
    pub(crate) until: String,
    /// When and from where it was last used ("not used yet").
    pub(crate) used: String,
}

/// One key of the person's on the page.
pub(crate) struct KeyRow {
    /// What it is: the device's browser summary and id, or the configured key.
    pub(crate) name: String,
    /// The app it was enrolled on (every app for a configured key).
    pub(crate) app: String,
    /// When it was enrolled (a configured key: never; it is the operator's).
    pub(crate) enrolled: String,
    /// The last request of any live session it made; "no live session" without one.
    pub(crate) last_used: String,
    /// The device's id, for the removal form (`None` for the configured key).
    pub(crate) device: Option<String>,
    /// The key, z-base32.
    pub(crate) key: String,
    /// Whether the session showing the page is this key's.
    pub(crate) current: bool,
}

/// The page's data.
#[derive(Template)]
#[template(path = "sessions.html")]
pub(crate) struct SessionsPage<'a> {
    /// The page's texts, in the visitor's language.
    pub(crate) tr: Texts,
    /// The app's name.
    pub(crate) app_name: &'a str,
    /// CSP nonce.
    pub(crate) nonce: String,
    /// Who is signed in.
    pub(crate) user: &'a str,
    /// The key's first characters.
    pub(crate) key_short: String,
    /// Every key of the user.
    pub(crate) keys: Vec<KeyRow>,
    /// Whether a device may be removed here (another key must confirm it).
    pub(crate) removable: bool,
    /// Where a device's removal form posts.
    pub(crate) remove_url: String,
    /// Every session of the user, whichever key made it.
    pub(crate) sessions: Vec<Row>,
    /// Every program's token of the user.
    pub(crate) tokens: Vec<TokenRow>,
    /// Where a personal token is made, the apps it may be for, its default and longest life
    /// in days; `None` where none can be made here.
    pub(crate) personal: Option<(String, Vec<String>, u32, u32)>,
    /// Where the forms post.
    pub(crate) revoke_url: String,
    /// Where the form inviting a new phone posts.
    pub(crate) invite_url: Option<String>,
}

/// What the page asked to sign out.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Scope {
    /// One session, by id.
    One(String),
    /// Every session of the user but this one.
    Others,
    /// A program's token of the user's, by its id.
    Token(String),
    /// Every session of the user, this one included.
    All,
}

impl Scope {
    /// The scope a form body (`id=…` or `scope=others|all`) names.
    pub(crate) fn from_form(body: &[u8]) -> Option<Scope> {
        let mut scope = None;
        for (name, value) in url::form_urlencoded::parse(body) {
            let next = match (name.as_ref(), value.as_ref()) {
                ("id", id) if !id.is_empty() => Scope::One(id.to_string()),
                ("token", id) if !id.is_empty() => Scope::Token(id.to_string()),
                ("scope", "others") => Scope::Others,
                ("scope", "all") => Scope::All,
                _ => return None,
            };
            if scope.replace(next).is_some() {
                return None;
            }
        }
        scope
    }
}

/// The sessions of `user`, whichever key made them (live under the current settings).
fn of_user(user: &str) -> Filter {
    Filter {
        user: Some(user.to_string()),
        ..Filter::default()
    }
}

/// Every key of `user` (`theirs` selects their devices): the configured key first, then the
/// enrolled devices as the store of record holds them, oldest first. Last used is left empty
/// (the page fills it from the sessions).
pub(crate) async fn keys_of(
    gw: &Gateway,
    s: &Settings,
    lang: Lang,
    user: &str,
    theirs: &Filter,
) -> Result<Vec<KeyRow>, ControlError> {
    let mut keys = Vec::new();
    if let Some(key) = s
        .config
        .user_by_name(user)
        .and_then(|(_, u)| u.key.as_ref())
    {
        keys.push(KeyRow {
            name: lang.text("sessions-configured-key"),
            app: lang.text("sessions-every-app"),
            enrolled: lang.text("sessions-by-administrator"),
            last_used: String::new(),
            device: None,
            key: key.to_z32(),
            current: false,
        });
    }
    for d in control::list_devices(gw, theirs).await? {
        keys.push(KeyRow {
            name: format!("{} ({})", d.browser, d.id),
            app: d.apps.join(", "),
            enrolled: lang.date(d.created),
            last_used: String::new(),
            device: Some(d.id),
            key: d.key,
            current: false,
        });
    }
    Ok(keys)
}

/// Renders the page for the session `current` of `who`.
pub(crate) async fn page(
    gw: &Gateway,
    s: &Settings,
    lang: Lang,
    app: AppId,
    current: &TokenHash,
    who: &Identity,
) -> Result<(String, String), ControlError> {
    let filter = of_user(&who.user);
    let current = session_id(current);
    let views = control::list(gw, s, &filter).await?;
    let mut keys = keys_of(gw, s, lang, &who.user, &filter).await?;
    for k in &mut keys {
        k.current = k.key == who.pubkey;
        // "Last used": the latest request of any live session the key made (views are
        // live sessions only, so an expired or signed-out key shows none).
        k.last_used = views
            .iter()
            .filter(|v| v.key == k.key)
            .map(|v| v.last_seen)
            .max()
            .map_or_else(|| lang.text("sessions-no-live-session"), |t| lang.date(t));
    }
    let sessions = views
        .into_iter()
        .map(|v: SessionView| Row {
            current: v.id == current,
            id: v.id,
            browser: v.browser,
            app: v.app,
            client_ip: v.client_ip,
            access: (v.access != Grant::full().to_string()).then_some(v.access),
            protocol: v.protocol,
            since: lang.date(v.created),
            last_seen: lang.date(v.last_seen),
        })
        .collect();
    let tokens = control::list_tokens(gw, s, Some(&who.user))
        .await?
        .into_iter()
        .map(|t| TokenRow {
            id: t.id,
            client: t.name.map_or(t.client_name, |n| {
                lang.text_with("sessions-personal-token-name", &[("name", (&n).into())])
            }),
            grant: t.grant.join(", "),
            from: t.from,
            since: lang.date(t.created_at),
            until: lang.date(t.expires_at),
            used: match (t.last_used_at, t.last_used_from) {
                (Some(at), Some(from)) => lang.text_with(
                    "sessions-token-used-from",
                    &[("when", (&lang.date(at)).into()), ("from", (&from).into())],
                ),
                (Some(at), None) => {
                    lang.text_with("sessions-token-used", &[("when", (&lang.date(at)).into())])
                }
                (None, _) => lang.text("sessions-token-unused"),
            },
        })
        .collect();
    let nonce = page::new_nonce();
    let prefix = &s.config.server.prefix;
    // Adding or removing a device is confirmed by phone through a protocol that shows it;
    // an app offering none gets no button that could only fail.
    let confirms = crate::login::confirms_actions(gw, s, app);
    let html = SessionsPage {
        tr: Texts::new(lang),
        app_name: &s.app(app).name,
        nonce: nonce.clone(),
        user: &who.user,
        key_short: who.pubkey.chars().take(12).collect(),
        removable: keys.len() > 1 && confirms,
        keys,
        remove_url: Route::RemoveDevice.url(prefix),
        sessions,
        tokens,
        personal: personal_offer(s)
            .filter(|_| confirms)
            .map(|(apps, default, max)| (Route::PersonalToken.url(prefix), apps, default, max)),
        revoke_url: Route::Sessions.url(prefix),
        invite_url: confirms.then(|| Route::Invite.url(prefix)),
    }
    .render()
    .map_err(|e| ControlError::Store(StoreError::Unavailable(format!("page: {e}"))))?;
    Ok((html, nonce))
}

/// What the page offers for a personal token: the apps that let programs in, the default
/// and longest life in days; `None` where personal tokens cannot be made.
fn personal_offer(s: &Settings) -> Option<(Vec<String>, u32, u32)> {
    s.config.oidc_client(crate::config::CLI_CLIENT)?;
    let apps: Vec<String> = s
        .config
        .app_ids()
        .filter(|(_, a)| a.programs)
        .map(|(_, a)| a.name.clone())
        .collect();
    let max = s.config.programs.personal_token_max_days;
    (!apps.is_empty()).then_some((apps, max.min(30), max))
}

/// Signs out what `scope` names among the sessions of `user` (every key of theirs); returns
/// how many ended.
pub(crate) async fn sign_out(
    gw: &Gateway,
    s: &Settings,
    current: &TokenHash,
    user: &str,
    scope: &Scope,
) -> Result<usize, ControlError> {
    let mut filter = of_user(user);
    match scope {
        // Only a token of this person's: another's id revokes nothing.
        Scope::Token(id) => return control::revoke_token(gw, s, id, Some(user), "owner").await,
        Scope::One(id) => filter.id = Some(id.clone()),
        Scope::Others => filter.except = Some(session_id(current)),
        Scope::All => {}
    }
    control::revoke(gw, s, &filter, "owner").await
}

/// The page's headers: its CSP (nonce'd inline style, forms to this origin only).
pub(crate) fn with_policy(reply: Reply, nonce: &str) -> Reply {
    reply.with_header(
        "content-security-policy",
        page::content_security_policy(nonce),
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_form_names_exactly_one_scope() {
        assert_eq!(Scope::from_form(b"id=abc"), Some(Scope::One("abc".into())));
        assert_eq!(Scope::from_form(b"scope=others"), Some(Scope::Others));
        assert_eq!(Scope::from_form(b"scope=all"), Some(Scope::All));
        assert_eq!(
            Scope::from_form(b"token=g1"),
            Some(Scope::Token("g1".into()))
        );
        for bad in [
            &b""[..],
            b"id=",
            b"token=",
            b"token=a&id=b",
            b"scope=mine",
            b"id=a&scope=all",
            b"id=a&id=b",
            b"x=1",
        ] {
            assert_eq!(
                Scope::from_form(bad),
                None,
                "{:?}",
                String::from_utf8_lossy(bad)
            );
        }
    }
}
