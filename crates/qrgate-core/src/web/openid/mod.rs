//! The provider's endpoints on the SSO origin: each reads its request, asks the protocol
//! modules what to do, and uses the [`OidcStore`](crate::oidc::store::OidcStore) seam; refusals
//! become HTTP in [`crate::web::respond`]. Here discovery, JWKS and the authorization
//! endpoint; the token and userinfo endpoints in `grants`, RP-initiated logout in `logout`.

use http::Method;

use crate::clock::millis;
use crate::config::{AppId, OidcClient};
use crate::gateway::Gateway;
use crate::http::reply::{escape_html, Form, Reply};
use crate::http::route::Route;
use crate::observe::audit;
use crate::oidc::authorize::{self, AuthorizeError, Next, PageProblem, Signed};
use crate::oidc::claims::{self, Person, Profile};
use crate::oidc::store::{self, CodeGrant, Grant, Issue, Redeemed, Refreshed, StepUpTicket};
use crate::oidc::token::{self, TokenError, TokenRequest, TokenResponse};
use crate::session::session_id;
use crate::settings::Settings;
use crate::web::respond::{self, OidcRefusal};
pub(crate) use crate::web::tokens::OidcRequest;
use crate::web::tokens::{answer, count, id_token, in_force, issuer, person_for};

mod grants;
mod logout;

pub(crate) use grants::{token, userinfo};
pub(crate) use logout::{end_family, end_session};

/// `GET /.well-known/openid-configuration`.
pub(crate) fn discovery(gw: &Gateway, s: &Settings) -> Reply {
    let Some(issuer) = issuer(s) else {
        return respond::oidc_refusal(Form::Json(crate::i18n::Lang::En), &OidcRefusal::Off);
    };
    let algs: Vec<_> = crate::oidc::keys::SigningAlg::ALL
        .into_iter()
        .filter(|a| gw.oidc().signer().is_some_and(|k| k.signs(*a)))
        .collect();
    Reply::json(200, &claims::discovery(&s.config, &issuer, &algs))
}

/// `GET {prefix}/oidc/jwks.json`.
pub(crate) fn jwks(gw: &Gateway) -> Reply {
    match gw.oidc().signer() {
        Some(k) => Reply::json(200, k.jwks()),
        None => respond::oidc_refusal(Form::Json(crate::i18n::Lang::En), &OidcRefusal::Off),
    }
}

/// `GET /` on the SSO origin: the person's sessions page when signed in, else the login page
/// (which returns to the sessions page).
pub(crate) async fn home(gw: &Gateway, s: &Settings, r: &OidcRequest<'_>) -> Reply {
    let prefix = &s.config.server.prefix;
    let sessions = Route::Sessions.url(prefix);
    match gw.session(s, r.headers, r.app).await {
        Ok(Some(_)) => Reply::redirect(302, sessions),
        Ok(None) => Reply::redirect(
            302,
            Route::Login {
                rd: Some(&sessions),
            }
            .url(prefix),
        ),
        Err(e) => respond::login_error(r.form.page(), &e.into()),
    }
}

/// `GET` or `POST {prefix}/oidc/authorize`: the code flow's front channel (a POST's form
/// is read as a GET's query, OpenID Connect Core §3.1.2.1).
pub(crate) async fn authorize(gw: &Gateway, s: &Settings, r: &OidcRequest<'_>) -> Reply {
    let form;
    let query = if r.method == Method::POST {
        form = String::from_utf8_lossy(r.body).into_owned();
        Some(form.as_str())
    } else {
        r.query
    };
    let Some(issuer) = issuer(s) else {
        return respond::oidc_refusal(r.form.page(), &OidcRefusal::Off);
    };
    let (req, client) = match authorize::parse(&s.config, query) {
        Ok(found) => found,
        Err(AuthorizeError::Page(p)) => {
            count(gw, None, "authorize", "page_refused");
            audit::oidc("oidc_refused", "-", "-", "-", page_reason(p), r.client_ip);
            return respond::oidc_refusal(r.form.page(), &OidcRefusal::Authorize(p));
        }
        Err(AuthorizeError::Redirect(e)) => {
            count(gw, None, "authorize", e.error);
            return Reply::redirect(302, authorize::error_location(&e, &issuer));
        }
    };
    let live = match gw.session(s, r.headers, r.app).await {
        Ok(live) => live,
        Err(e) => return respond::login_error(r.form.page(), &e.into()),
    };
    let signed = live.as_ref().map(|l| Signed {
        approved_ms: l.approved_ms,
        admitted: Person::admitted(&s.config, client, &l.identity.user),
        hinted: hints_name(gw, s, &req, &issuer, &l.identity.user),
    });
    let prefix = &s.config.server.prefix;
    let now_ms = gw.clock().now_millis();
    let here = |query: &str| format!("{}?{query}", Route::OidcAuthorize.url(prefix));
    let refuse = |error, description| {
        let e = authorize::ErrorRedirect {
            redirect_uri: req.redirect_uri.clone(),
            error,
            description,
            state: req.state.clone(),
        };
        Reply::redirect(302, authorize::error_location(&e, &issuer))
    };
    let stepped_up = match stepped_up(gw, &req, live.as_ref(), now_ms).await {
        Ok(after) => after,
        Err(e) => return respond::login_error(r.form.page(), &e.into()),
    };
    match authorize::next(&req, signed, stepped_up, now_ms) {
        Next::SignIn { fresh: None } => {
            let back = here(query.unwrap_or(""));
            Reply::redirect(302, Route::Login { rd: Some(&back) }.url(prefix))
        }
        // No sign-on exists yet to bind the ticket to: it is held for the sign-in's time
        // only, so it stands for nothing but an approval made after this request.
        Next::SignIn { fresh: Some(after) } => {
            match hold_ticket(gw, s, client, &req, String::new(), after, now_ms).await {
                Ok(ticket) => {
                    let back = here(&authorize::query_after(query, &ticket));
                    Reply::redirect(302, Route::Login { rd: Some(&back) }.url(prefix))
                }
                Err(e) => respond::login_error(r.form.page(), &e),
            }
        }
        Next::Reapprove { after } => {
            let Some(live) = &live else {
                return refuse("server_error", "no session");
            };
            let family = session_id(&live.hash);
            match hold_ticket(gw, s, client, &req, family, after, now_ms).await {
                Ok(ticket) => {
                    let back = here(&authorize::query_after(query, &ticket));
                    Reply::redirect(302, Route::StepUp { rd: Some(&back) }.url(prefix))
                }
                Err(e) => respond::login_error(r.form.page(), &e),
            }
        }
        Next::Refuse(error, description) => {
            count(gw, Some(client), "authorize", error);
            refuse(error, description)
        }
        Next::Page(p) => {
            count(gw, Some(client), "authorize", "not_allowed");
            if let Some(l) = &live {
                audit::oidc(
                    "oidc_refused",
                    &client.id,
                    &l.identity.user,
                    "-",
                    page_reason(p),
                    r.client_ip,
                );
            }
            respond::oidc_refusal(r.form.page(), &OidcRefusal::Authorize(p))
        }
        Next::Issue { fresh } => {
            let Some(live) = live else {
                return refuse("server_error", "no session");
            };
            let Some(sso) = &s.config.sso else {
                return respond::oidc_refusal(r.form.page(), &OidcRefusal::Off);
            };
            let code = store::mint();
            let Some(hash) = store::hash_of(&code) else {
                return refuse("server_error", "no code");
            };
            let family = session_id(&live.hash);
            let grant = CodeGrant {
                client_id: client.id.clone(),
                redirect_uri: req.redirect_uri.clone(),
                user: live.identity.user.clone(),
                subject: s
                    .config
                    .user_by_name(&live.identity.user)
                    .map(|(_, u)| u.subject.clone())
                    .unwrap_or_default(),
                key: hex::encode(live.identity.key),
                family: family.clone(),
                scope: req.scope.clone(),
                nonce: req.nonce.clone(),
                code_challenge: req.code_challenge.clone(),
                auth_time: live.approved_ms / 1000,
                acr: fresh.then(|| claims::ACR_FRESH.to_string()),
                expires_ms: now_ms.saturating_add(millis(sso.code_lifetime)),
            };
            if let Err(e) = gw.oidc().store().put_code(hash, grant, now_ms).await {
                return respond::login_error(r.form.page(), &e.into());
            }
            count(gw, Some(client), "authorize", "code");
            audit::oidc(
                "oidc_code",
                &client.id,
                &live.identity.user,
                &family,
                "",
                r.client_ip,
            );
            let mut params = vec![("code", code.as_str())];
            if let Some(state) = &req.state {
                params.push(("state", state));
            }
            Reply::redirect(
                302,
                authorize::redirect_location(&req.redirect_uri, &params, &issuer),
            )
        }
    }
}

/// Whether `req`'s `id_token_hint` and `login_hint` (those given) name `user`: an ID token
/// of ours about the user's subject, a login hint of the user's name or subject. A hint that
/// cannot be read names no one.
fn hints_name(
    gw: &Gateway,
    s: &Settings,
    req: &authorize::AuthRequest,
    issuer: &str,
    user: &str,
) -> bool {
    let Some(subject) = s.config.user_by_name(user).map(|(_, u)| u.subject.as_str()) else {
        return false;
    };
    let id_ok = req.id_token_hint.as_deref().is_none_or(|h| {
        gw.oidc()
            .signer()
            .and_then(|k| k.hint(h, issuer))
            .and_then(|h| h.sub)
            .is_some_and(|sub| sub == subject)
    });
    let login_ok = req
        .login_hint
        .as_deref()
        .is_none_or(|h| h == user || h == subject);
    id_ok && login_ok
}

/// The time a step-up ticket of `req` was held for, if the store gives it back (once) for
/// this very SSO session, client and redirect URI; any other ticket counts for nothing.
/// Holds a step-up ticket for `req` (its client and redirect URI), for an approval no older
/// than `after` by the sign-on `family` (empty: one made after this, whichever it is); the
/// ticket's token, or why the store could not hold it.
async fn hold_ticket(
    gw: &Gateway,
    s: &Settings,
    client: &OidcClient,
    req: &authorize::AuthRequest,
    family: String,
    after: u64,
    now_ms: u64,
) -> Result<String, crate::login::LoginError> {
    let ticket = store::mint();
    let Some(hash) = store::hash_of(&ticket) else {
        return Err(crate::session::StoreError::Unavailable("no ticket".into()).into());
    };
    let login = &s.config.login;
    let held = StepUpTicket {
        family,
        client_id: client.id.clone(),
        redirect_uri: req.redirect_uri.clone(),
        after,
        expires_ms: now_ms
            .saturating_add(millis(login.attempt_lifetime))
            .saturating_add(millis(login.claim_window)),
    };
    match gw.oidc().store().put_ticket(hash, held, now_ms).await {
        Ok(()) => Ok(ticket),
        Err(e) => Err(e.into()),
    }
}

async fn stepped_up(
    gw: &Gateway,
    req: &authorize::AuthRequest,
    live: Option<&crate::gateway::LiveSession>,
    now_ms: u64,
) -> Result<Option<u64>, crate::session::StoreError> {
    let (Some(hash), Some(live)) = (req.step_up.as_deref().and_then(store::hash_of), live) else {
        return Ok(None);
    };
    let held = gw.oidc().store().take_ticket(hash, now_ms).await?;
    Ok(held
        .filter(|t| {
            // A ticket held before any sign-on existed binds to none: it stands only for an
            // approval made after it (which `authorize::next` checks against `after`).
            (t.family.is_empty() || t.family == session_id(&live.hash))
                && t.client_id == req.client_id
                && t.redirect_uri == req.redirect_uri
        })
        .map(|t| t.after))
}

fn page_reason(p: PageProblem) -> &'static str {
    match p {
        PageProblem::MissingClient => "no client_id",
        PageProblem::UnknownClient => "unknown client",
        PageProblem::BadRedirectUri => "redirect_uri not registered",
        PageProblem::NotAllowed => "user not allowed on the client",
    }
}
