//! The authorization endpoint's request (OpenID Connect Core §3.1.2, code flow only) and
//! what it leads to, decided without I/O.
//!
//! An unknown client, a missing or unregistered `redirect_uri` (exact match) is told on a
//! page, never by a redirect (RFC 6749 §4.1.2.1): a redirect there would be an open one.
//! Everything else wrong goes back to the registered redirect URI with `error`, `state` and
//! `iss` (RFC 9207), as does every success.

use std::collections::HashMap;

use crate::config::{AppId, Config, OidcClient};
use crate::http::route::Route;

/// The longest `state` or `nonce` kept (they travel in URLs and tokens).
pub(crate) const MAX_PARAM: usize = 512;

/// A valid authorization request.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct AuthRequest {
    /// `client_id`.
    pub(crate) client_id: String,
    /// `redirect_uri`, one the client registered.
    pub(crate) redirect_uri: String,
    /// `state`, returned as sent.
    pub(crate) state: Option<String>,
    /// `nonce`, carried into the ID token.
    pub(crate) nonce: Option<String>,
    /// The PKCE `S256` challenge.
    pub(crate) code_challenge: Option<String>,
    /// The requested scopes the client may have (`openid` first).
    pub(crate) scope: Vec<String>,
    /// `prompt=none`: no page may be shown.
    pub(crate) prompt_none: bool,
    /// `prompt=login`: a fresh approval is required.
    pub(crate) prompt_login: bool,
    /// `max_age`, seconds.
    pub(crate) max_age: Option<u64>,
    /// Our own `step_up` ticket, on the return from a fresh approval that `prompt=login` or
    /// `max_age` asked for. It is only a token: what it stands for (session, client, redirect
    /// URI, the time the approval must follow) is the store's, and only a ticket the store
    /// gives back satisfies the request ([`next`]'s `stepped_up`).
    pub(crate) step_up: Option<String>,
    /// `id_token_hint`: an ID token of ours naming the person expected (OpenID Connect Core
    /// §3.1.2.1).
    pub(crate) id_token_hint: Option<String>,
    /// `login_hint`: the user name or subject expected.
    pub(crate) login_hint: Option<String>,
}

/// The query parameter carrying a step-up ticket back to the authorization endpoint.
pub(crate) const STEP_UP: &str = "step_up";

/// Why an authorization request is refused.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum AuthorizeError {
    /// Told on a page: the client or redirect URI cannot be trusted with a redirect.
    Page(PageProblem),
    /// Sent back to the client's redirect URI.
    Redirect(ErrorRedirect),
}

/// What is wrong, when no redirect is safe.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum PageProblem {
    /// No `client_id`, or given twice.
    MissingClient,
    /// No client of that id.
    UnknownClient,
    /// No `redirect_uri`, given twice, or not registered by the client exactly.
    BadRedirectUri,
    /// The signed-in person may not use this client.
    NotAllowed,
}

/// An error sent to the client's redirect URI.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct ErrorRedirect {
    /// Where.
    pub(crate) redirect_uri: String,
    /// `error`, RFC 6749 §4.1.2.1 / OpenID Connect Core §3.1.2.6.
    pub(crate) error: &'static str,
    /// `error_description`.
    pub(crate) description: &'static str,
    /// `state`, as sent.
    pub(crate) state: Option<String>,
}

/// Reads an authorization request from its query.
pub(crate) fn parse<'c>(
    config: &'c Config,
    query: Option<&str>,
) -> Result<(AuthRequest, &'c OidcClient), AuthorizeError> {
    let mut params: HashMap<String, Vec<String>> = HashMap::new();
    for (k, v) in url::form_urlencoded::parse(query.unwrap_or("").as_bytes()) {
        params
            .entry(k.into_owned())
            .or_default()
            .push(v.into_owned());
    }
    let one = |name: &str| -> Result<Option<&str>, ()> {
        match params.get(name).map(Vec::as_slice) {
            None => Ok(None),
            Some([v]) if v.is_empty() => Ok(None),
            Some([v]) => Ok(Some(v.as_str())),
            Some(_) => Err(()),
        }
    };
    let page = |p| AuthorizeError::Page(p);
    let client_id = match one("client_id") {
        Ok(Some(id)) => id,
        _ => return Err(page(PageProblem::MissingClient)),
    };
    let client = config
        .oidc_client(client_id)
        .ok_or(page(PageProblem::UnknownClient))?;
    let redirect_uri = match one("redirect_uri") {
        Ok(Some(uri)) if client.redirect_uris.iter().any(|r| r == uri) => uri.to_string(),
        _ => return Err(page(PageProblem::BadRedirectUri)),
    };
    // From here on errors go back to the client; a `state` given twice is not echoed.
    let state = one("state").ok().flatten().map(str::to_string);
    let refuse = |error, description| {
        AuthorizeError::Redirect(ErrorRedirect {
            redirect_uri: redirect_uri.clone(),
            error,
            description,
            state: state.clone(),
        })
    };
    let invalid = |d| refuse("invalid_request", d);
    if params.values().any(|v| v.len() > 1) {
        return Err(invalid("a parameter is given more than once"));
    }
    if state.as_ref().is_some_and(|s| s.len() > MAX_PARAM) {
        return Err(AuthorizeError::Redirect(ErrorRedirect {
            redirect_uri: redirect_uri.clone(),
            error: "invalid_request",
            description: "state is too long",
            state: None,
        }));
    }
    if params.contains_key("request") {
        return Err(refuse(
            "request_not_supported",
            "request objects are not supported",
        ));
    }
    if params.contains_key("request_uri") {
        return Err(refuse(
            "request_uri_not_supported",
            "request_uri is not supported",
        ));
    }
    match one("response_type") {
        Ok(Some("code")) => {}
        Ok(None) => return Err(invalid("response_type is missing")),
        _ => {
            return Err(refuse(
                "unsupported_response_type",
                "only the authorization code flow (response_type=code) is supported",
            ))
        }
    }
    match one("response_mode") {
        Ok(None | Some("query")) => {}
        _ => return Err(invalid("only response_mode=query is supported")),
    }
    let requested: Vec<&str> = one("scope")
        .ok()
        .flatten()
        .unwrap_or("")
        .split(' ')
        .filter(|s| !s.is_empty())
        .collect();
    if !requested.contains(&"openid") {
        return Err(refuse("invalid_scope", "the openid scope is required"));
    }
    // Scopes the client may not have are left out, as RFC 6749 §3.3 allows; the token
    // response says which were granted.
    let scope: Vec<String> = client
        .scopes
        .iter()
        .filter(|s| requested.contains(&s.as_str()))
        .cloned()
        .collect();
    let nonce = one("nonce").ok().flatten().map(str::to_string);
    if nonce.as_ref().is_some_and(|n| n.len() > MAX_PARAM) {
        return Err(invalid("nonce is too long"));
    }
    let code_challenge = match (one("code_challenge"), one("code_challenge_method")) {
        (Ok(None), Ok(None)) => None,
        (Ok(Some(c)), Ok(Some("S256"))) if is_challenge(c) => Some(c.to_string()),
        (Ok(Some(_)), Ok(Some("S256"))) => {
            return Err(invalid("code_challenge is not a base64url SHA-256"))
        }
        (_, Ok(Some("plain")) | Ok(None)) => {
            return Err(invalid("only code_challenge_method=S256 is accepted"))
        }
        _ => return Err(invalid("code_challenge_method must be S256")),
    };
    if client.is_public() && code_challenge.is_none() {
        return Err(invalid("a public client must use PKCE (S256)"));
    }
    let mut prompt_none = false;
    let mut prompt_login = false;
    for p in one("prompt").ok().flatten().unwrap_or("").split(' ') {
        match p {
            "" | "consent" | "select_account" => {}
            "none" => prompt_none = true,
            "login" => prompt_login = true,
            _ => return Err(invalid("unknown prompt value")),
        }
    }
    if prompt_none && prompt_login {
        return Err(invalid("prompt=none cannot be combined with another value"));
    }
    let number = |name| match one(name) {
        Ok(None) => Ok(None),
        Ok(Some(v)) => v.parse::<u64>().map(Some).map_err(|_| ()),
        Err(()) => Err(()),
    };
    let max_age = number("max_age").map_err(|()| invalid("max_age is not a number"))?;
    let step_up = one(STEP_UP).ok().flatten().map(str::to_string);
    let id_token_hint = one("id_token_hint").ok().flatten().map(str::to_string);
    let login_hint = one("login_hint").ok().flatten().map(str::to_string);
    Ok((
        AuthRequest {
            client_id: client.id.clone(),
            redirect_uri,
            state,
            nonce,
            code_challenge,
            scope,
            prompt_none,
            prompt_login,
            max_age,
            step_up,
            id_token_hint,
            login_hint,
        },
        client,
    ))
}

/// What a sign-in on the SSO origin returning to `return_to` is shown as: for an
/// authorization request of a registered client and redirect URI, the client's name and the
/// redirect's origin ([`OidcClient::shown_as`]); for an app's one-time code request, the
/// gateway's name and the app's (`SsoConfig::shown_for_app`); otherwise the app's own name.
pub(crate) fn shown_name<'c>(config: &'c Config, app: AppId, return_to: &str) -> &'c str {
    let own = &config.app(app).name;
    if config.sso_app() != Some(app) {
        return own;
    }
    let Some((path, query)) = return_to.split_once('?') else {
        return own;
    };
    if path == (Route::SsoIssue { query: None }).url(&config.server.prefix) {
        let asking = url::form_urlencoded::parse(query.as_bytes())
            .find(|(k, _)| k == "app")
            .and_then(|(_, name)| config.app_by_name(&name));
        let shown = asking.and_then(|id| {
            let sso = config.sso.as_ref()?;
            sso.shown_for_app.get(id.index()).filter(|s| !s.is_empty())
        });
        return shown.map_or(own, String::as_str);
    }
    if path != Route::OidcAuthorize.url(&config.server.prefix) {
        return own;
    }
    let (mut client, mut redirect) = (None, None);
    for (k, v) in url::form_urlencoded::parse(query.as_bytes()) {
        match k.as_ref() {
            "client_id" => client = Some(v),
            "redirect_uri" => redirect = Some(v),
            _ => {}
        }
    }
    let found = client.and_then(|c| config.oidc_client(&c)).and_then(|c| {
        let i = c
            .redirect_uris
            .iter()
            .position(|u| Some(u.as_str()) == redirect.as_deref())?;
        c.shown_as.get(i)
    });
    found.map_or(own, String::as_str)
}

/// A PKCE S256 challenge: 43 base64url characters (RFC 7636 §4.2).
fn is_challenge(c: &str) -> bool {
    c.len() == 43
        && c.bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
}

/// Whether `verifier` (RFC 7636 §4.1: 43 to 128 unreserved characters) hashes to
/// `challenge`, compared in constant time.
pub(crate) fn verifier_matches(verifier: &str, challenge: &str) -> bool {
    use base64::Engine;
    use sha2::Digest;
    use subtle::ConstantTimeEq;
    let shaped = (43..=128).contains(&verifier.len())
        && verifier
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'-' | b'.' | b'_' | b'~'));
    let computed = base64::engine::general_purpose::URL_SAFE_NO_PAD
        .encode(sha2::Sha256::digest(verifier.as_bytes()));
    shaped && bool::from(computed.as_bytes().ct_eq(challenge.as_bytes()))
}

/// The facts of the SSO session a request arrives with.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Signed {
    /// Its last phone approval, ms since the epoch.
    pub(crate) approved_ms: u64,
    /// Whether its user may use the client.
    pub(crate) admitted: bool,
    /// Whether the request's hints, if any, name its user (an unreadable hint names no one).
    pub(crate) hinted: bool,
}

/// What an authorization request leads to.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Next {
    /// Sign in first (the login page, returning here). With `fresh`, the request asks for an
    /// approval made for it (`prompt=login`, `max_age=0`): the return carries a ticket held
    /// for that time, so the sign-in itself counts and no second approval is asked.
    SignIn {
        /// The time the sign-in's approval must be no older than, seconds since the epoch.
        fresh: Option<u64>,
    },
    /// Approve afresh first (the step-up page, returning here with a ticket held for `after`).
    Reapprove {
        /// The time the approval must be no older than, seconds since the epoch.
        after: u64,
    },
    /// Issue a code; `fresh` when the request asked for a fresh approval and got one.
    Issue {
        /// The approval was one this request asked for.
        fresh: bool,
    },
    /// Refuse by a redirect (`prompt=none` and a page would be needed).
    Refuse(&'static str, &'static str),
    /// Refuse on a page.
    Page(PageProblem),
}

/// What `req` leads to with the SSO session `session` at `now_ms`. `stepped_up` is the time
/// of a step-up ticket the store gave back for this session, client and redirect URI (see
/// [`AuthRequest::step_up`]); nothing the browser sends stands in for it.
pub(crate) fn next(
    req: &AuthRequest,
    session: Option<Signed>,
    stepped_up: Option<u64>,
    now_ms: u64,
) -> Next {
    let now = now_ms / 1000;
    let Some(session) = session else {
        return if req.prompt_none {
            Next::Refuse("login_required", "no one is signed in")
        } else {
            let fresh = req.prompt_login || req.max_age == Some(0);
            Next::SignIn {
                fresh: fresh.then_some(now),
            }
        };
    };
    let approved = session.approved_ms / 1000;
    if !session.admitted {
        return if req.prompt_none {
            Next::Refuse("access_denied", "this account may not use the application")
        } else {
            Next::Page(PageProblem::NotAllowed)
        };
    }
    // A silent request for someone else gets no code for the person signed in here.
    if req.prompt_none && !session.hinted {
        return Next::Refuse(
            "login_required",
            "the person signed in is not the one the hint names",
        );
    }
    if stepped_up.is_some_and(|after| approved >= after) {
        return Next::Issue { fresh: true };
    }
    // `max_age=0` asks for an approval made for this very request, as `prompt=login` does.
    let too_old = req
        .max_age
        .is_some_and(|m| m == 0 || now.saturating_sub(approved) > m);
    if req.prompt_login || too_old {
        return if req.prompt_none {
            Next::Refuse("login_required", "a fresh sign-in is required")
        } else {
            Next::Reapprove { after: now }
        };
    }
    Next::Issue { fresh: false }
}

/// The query of a redirect to the client: `params` then `iss` (RFC 9207), appended to the
/// redirect URI's own query.
pub(crate) fn redirect_location(
    redirect_uri: &str,
    params: &[(&str, &str)],
    issuer: &str,
) -> String {
    let mut out = url::form_urlencoded::Serializer::new(String::new());
    for (k, v) in params {
        out.append_pair(k, v);
    }
    out.append_pair("iss", issuer);
    let query = out.finish();
    let sep = if redirect_uri.contains('?') { '&' } else { '?' };
    format!("{redirect_uri}{sep}{query}")
}

/// Where an error goes back to.
pub(crate) fn error_location(e: &ErrorRedirect, issuer: &str) -> String {
    let mut params = vec![("error", e.error), ("error_description", e.description)];
    if let Some(s) = &e.state {
        params.push(("state", s));
    }
    redirect_location(&e.redirect_uri, &params, issuer)
}

/// The request's own query again, `prompt` and `max_age` as sent, with the step-up
/// `ticket` (the return path after a fresh approval). Without a ticket the store gives back,
/// the return asks for the approval again.
pub(crate) fn query_after(query: Option<&str>, ticket: &str) -> String {
    let mut out = url::form_urlencoded::Serializer::new(String::new());
    for (k, v) in url::form_urlencoded::parse(query.unwrap_or("").as_bytes()) {
        if k != STEP_UP {
            out.append_pair(&k, &v);
        }
    }
    out.append_pair(STEP_UP, ticket);
    out.finish()
}

#[cfg(test)]
mod tests;
