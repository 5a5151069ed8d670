//! The person's own view of their sessions, `{prefix}/sessions` on every app's origin: who
//! they are signed in as, every session of their key (browser, address, app, since, last
//! seen; this one marked), and sign-out of one, all others, or everywhere.
//!
//! The sign-outs are form POSTs from the page itself: refused unless the request comes from
//! the app's own origin (CSRF), and they can only ever select sessions of the key that is
//! signed in here. Selection and revocation are [`crate::control`]'s, as for operators.

use std::time::{Duration, UNIX_EPOCH};

use askama::Template;

use crate::access::Grant;
use crate::config::AppId;
use crate::control::{self, ControlError, Filter, SessionView};
use crate::gateway::Gateway;
use crate::login::page;
use crate::reply::Reply;
use crate::session::{session_id, StoreError};
use crate::settings::Settings;

/// One session on the page.
pub struct Row {
    /// Its id (for the sign-out form).
    pub id: String,
    /// The browser it was made in.
    pub browser: String,
    /// The app.
    pub app: String,
    /// Where from.
    pub client_ip: String,
    /// Which signer approved it.
    pub protocol: String,
    /// What it may do, when less than everything.
    pub access: Option<String>,
    /// When it began.
    pub since: String,
    /// When it was last used.
    pub last_seen: String,
    /// Whether it is the one showing the page.
    pub current: bool,
}

/// The page's data.
#[derive(Template)]
#[template(path = "sessions.html")]
pub struct SessionsPage<'a> {
    /// The app's name.
    pub app_name: &'a str,
    /// CSP nonce.
    pub nonce: String,
    /// Who is signed in.
    pub user: &'a str,
    /// The key's first characters.
    pub key_short: String,
    /// Every session of the key.
    pub sessions: Vec<Row>,
    /// Where the forms post.
    pub revoke_url: String,
    /// Where the form inviting a new phone posts.
    pub invite_url: String,
}

/// What the page asked to sign out.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Scope {
    /// One session, by id.
    One(String),
    /// Every session of the key but this one.
    Others,
    /// Every session of the key, this one included.
    All,
}

impl Scope {
    /// The scope a form body (`id=…` or `scope=others|all`) names.
    pub fn from_form(body: &[u8]) -> Option<Scope> {
        let mut scope = None;
        for (name, value) in url::form_urlencoded::parse(body) {
            let next = match (name.as_ref(), value.as_ref()) {
                ("id", id) if !id.is_empty() => Scope::One(id.to_string()),
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

fn date(secs: u64) -> String {
    httpdate::fmt_http_date(UNIX_EPOCH + Duration::from_secs(secs))
}

/// Renders the page for the session `current` of `user` (key `key`).
pub async fn page(
    gw: &Gateway,
    s: &Settings,
    app: AppId,
    current: &[u8; 32],
    key: &[u8; 32],
    user: &str,
) -> Result<(String, String), ControlError> {
    let filter = Filter {
        key: Some(*key),
        ..Filter::default()
    };
    let current = session_id(current);
    let sessions = control::list(gw, s, &filter)
        .await?
        .into_iter()
        .map(|v: SessionView| Row {
            current: v.id == current,
            id: v.id,
            browser: v.browser,
            app: v.app,
            client_ip: v.client_ip,
            access: (v.access != Grant::full().to_string()).then_some(v.access),
            protocol: v.protocol,
            since: date(v.created),
            last_seen: date(v.last_seen),
        })
        .collect();
    let nonce = page::new_nonce();
    let z = z32::encode(key);
    let html = SessionsPage {
        app_name: &s.app(app).name,
        nonce: nonce.clone(),
        user,
        key_short: z.chars().take(12).collect(),
        sessions,
        revoke_url: format!("{}/sessions", s.config.server.prefix),
        invite_url: format!("{}/invite", s.config.server.prefix),
    }
    .render()
    .map_err(|e| ControlError::Store(StoreError::Unavailable(format!("page: {e}"))))?;
    Ok((html, nonce))
}

/// Signs out what `scope` names among the sessions of `key`; returns how many ended.
pub async fn sign_out(
    gw: &Gateway,
    s: &Settings,
    current: &[u8; 32],
    key: &[u8; 32],
    scope: &Scope,
) -> Result<usize, ControlError> {
    let mut filter = Filter {
        key: Some(*key),
        ..Filter::default()
    };
    match scope {
        Scope::One(id) => filter.id = Some(id.clone()),
        Scope::Others => filter.except = Some(session_id(current)),
        Scope::All => {}
    }
    control::revoke(gw, s, &filter, "owner").await
}

/// The page's headers: its CSP (nonce'd inline style, forms to this origin only).
pub fn with_policy(reply: Reply, nonce: &str) -> Reply {
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
        for bad in [
            &b""[..],
            b"id=",
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
