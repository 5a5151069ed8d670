//! The provider's endpoints on the SSO origin: each reads its request, asks the protocol
//! modules what to do, and uses the [`OidcStore`](crate::oidc::store::OidcStore) seam; refusals
//! become HTTP in [`crate::web::respond`].

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
use crate::web::tokens::{answer, count, id_token, issuer, person_for};

/// `GET /.well-known/openid-configuration`.
pub(crate) fn discovery(gw: &Gateway, s: &Settings) -> Reply {
    let Some(issuer) = issuer(s) else {
        return respond::oidc_refusal(Form::Json, &OidcRefusal::Off);
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
        None => respond::oidc_refusal(Form::Json, &OidcRefusal::Off),
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
        Err(e) => respond::login_error(Form::Page, &e.into()),
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
        return respond::oidc_refusal(Form::Page, &OidcRefusal::Off);
    };
    let (req, client) = match authorize::parse(&s.config, query) {
        Ok(found) => found,
        Err(AuthorizeError::Page(p)) => {
            count(gw, None, "authorize", "page_refused");
            audit::oidc("oidc_refused", "-", "-", "-", page_reason(p), r.client_ip);
            return respond::oidc_refusal(Form::Page, &OidcRefusal::Authorize(p));
        }
        Err(AuthorizeError::Redirect(e)) => {
            count(gw, None, "authorize", e.error);
            return Reply::redirect(302, authorize::error_location(&e, &issuer));
        }
    };
    let live = match gw.session(s, r.headers, r.app).await {
        Ok(live) => live,
        Err(e) => return respond::login_error(Form::Page, &e.into()),
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
        Err(e) => return respond::login_error(Form::Page, &e.into()),
    };
    match authorize::next(&req, signed, stepped_up, now_ms) {
        Next::SignIn => {
            let back = here(query.unwrap_or(""));
            Reply::redirect(302, Route::Login { rd: Some(&back) }.url(prefix))
        }
        Next::Reapprove { after } => {
            let Some(live) = &live else {
                return refuse("server_error", "no session");
            };
            let ticket = store::mint();
            let Some(hash) = store::hash_of(&ticket) else {
                return refuse("server_error", "no ticket");
            };
            let login = &s.config.login;
            let held = StepUpTicket {
                family: session_id(&live.hash),
                client_id: client.id.clone(),
                redirect_uri: req.redirect_uri.clone(),
                after,
                expires_ms: now_ms
                    .saturating_add(millis(login.attempt_lifetime))
                    .saturating_add(millis(login.claim_window)),
            };
            if let Err(e) = gw.oidc().store().put_ticket(hash, held, now_ms).await {
                return respond::login_error(Form::Page, &e.into());
            }
            let back = here(&authorize::query_after(query, &ticket));
            Reply::redirect(302, Route::StepUp { rd: Some(&back) }.url(prefix))
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
            respond::oidc_refusal(Form::Page, &OidcRefusal::Authorize(p))
        }
        Next::Issue { fresh } => {
            let Some(live) = live else {
                return refuse("server_error", "no session");
            };
            let Some(sso) = &s.config.sso else {
                return respond::oidc_refusal(Form::Page, &OidcRefusal::Off);
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
                family: family.clone(),
                scope: req.scope.clone(),
                nonce: req.nonce.clone(),
                code_challenge: req.code_challenge.clone(),
                auth_time: live.approved_ms / 1000,
                acr: fresh.then(|| claims::ACR_FRESH.to_string()),
                expires_ms: now_ms.saturating_add(millis(sso.code_lifetime)),
            };
            if let Err(e) = gw.oidc().store().put_code(hash, grant, now_ms).await {
                return respond::login_error(Form::Page, &e.into());
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
            t.family == session_id(&live.hash)
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

/// `POST {prefix}/oidc/token`.
pub(crate) async fn token(gw: &Gateway, s: &Settings, r: &OidcRequest<'_>) -> Reply {
    let mut client = None;
    let result = token_grant(gw, s, r, &mut client).await;
    match result {
        Ok(answer) => {
            count(gw, client, "token", "ok");
            Reply::json(200, &answer).with_header("pragma", "no-cache")
        }
        Err(e) => {
            count(gw, client, "token", e.code());
            respond::token_error(&e)
        }
    }
}

async fn token_grant<'s>(
    gw: &Gateway,
    s: &'s Settings,
    r: &OidcRequest<'_>,
    authenticated: &mut Option<&'s OidcClient>,
) -> Result<TokenResponse, TokenError> {
    let Some(issuer) = issuer(s) else {
        return Err(TokenError::InvalidRequest("no provider is configured"));
    };
    let req = token::parse(r.body)?;
    let client = token::authenticate(&s.config, r.headers, &req)?;
    *authenticated = Some(client);
    match req.grant_type.as_str() {
        "authorization_code" => redeem(gw, s, r, &issuer, client, &req).await,
        "refresh_token" => refresh(gw, s, r, &issuer, client, &req).await,
        _ => Err(TokenError::UnsupportedGrantType),
    }
}

async fn redeem(
    gw: &Gateway,
    s: &Settings,
    r: &OidcRequest<'_>,
    issuer: &str,
    client: &OidcClient,
    req: &TokenRequest,
) -> Result<TokenResponse, TokenError> {
    let bad = TokenError::InvalidGrant("the code is invalid, expired, used, or not this client's");
    let hash = req
        .code
        .as_deref()
        .and_then(store::hash_of)
        .ok_or(TokenError::InvalidRequest("code is missing or malformed"))?;
    let now_ms = gw.clock().now_millis();
    let oidc_store = gw.oidc().store();
    let found = oidc_store.code(hash, now_ms).await?;
    let code = match found {
        Some(c) => c,
        // Used already: redeeming it again revokes what it issued (RFC 6749 §4.1.2).
        None => {
            // Only the code's own client's replay revokes: anyone else who saw the code
            // presenting it is just refused.
            if let Some(replay) = oidc_store.replayed(hash, &client.id).await? {
                audit::oidc(
                    "oidc_code_reuse",
                    &client.id,
                    "-",
                    &replay.grant_id,
                    "grant revoked",
                    r.client_ip,
                );
                gw.oidc().ended(&s.config, replay.ended.as_slice(), now_ms);
                count(gw, Some(client), "token", "code_reuse");
            }
            return Err(bad);
        }
    };
    if code.client_id != client.id {
        return Err(bad);
    }
    if req.redirect_uri.as_deref() != Some(code.redirect_uri.as_str()) {
        return Err(TokenError::InvalidGrant(
            "redirect_uri differs from the authorization request's",
        ));
    }
    match (&code.code_challenge, &req.code_verifier) {
        (Some(challenge), Some(verifier)) if authorize::verifier_matches(verifier, challenge) => {}
        (Some(_), _) => {
            return Err(TokenError::InvalidGrant(
                "the PKCE code_verifier does not match",
            ))
        }
        (None, Some(_)) => {
            return Err(TokenError::InvalidGrant(
                "no PKCE challenge was sent for this code",
            ))
        }
        (None, None) if client.is_public() => {
            return Err(TokenError::InvalidGrant("a public client must use PKCE"))
        }
        (None, None) => {}
    }
    let person = person_for(s, client, &code.user, &code.subject)?;
    let grant = Grant {
        id: hex::encode(crate::random_bytes::<12>()),
        client_id: client.id.clone(),
        user: code.user.clone(),
        subject: code.subject.clone(),
        family: code.family.clone(),
        scope: code.scope.clone(),
        auth_time: code.auth_time,
        acr: code.acr.clone(),
        expires_ms: now_ms.saturating_add(millis(client.refresh_lifetime)),
        created_ms: now_ms,
        name: String::new(),
        from: r.client_ip.map(|ip| ip.to_string()).unwrap_or_default(),
    };
    let (answer, issue) = answer(
        gw,
        issuer,
        client,
        &grant,
        &person,
        code.nonce.clone(),
        now_ms,
    )?;
    match oidc_store
        .redeem(hash, grant.clone(), issue, now_ms)
        .await?
    {
        Redeemed::Issued => {
            audit::oidc(
                "oidc_grant",
                &client.id,
                &grant.user,
                &grant.id,
                &grant.family,
                r.client_ip,
            );
            Ok(answer)
        }
        Redeemed::Reused { grant_id, ended } => {
            gw.oidc().ended(&s.config, ended.as_slice(), now_ms);
            audit::oidc(
                "oidc_code_reuse",
                &client.id,
                &grant.user,
                &grant_id.unwrap_or_default(),
                "grant revoked",
                r.client_ip,
            );
            Err(bad)
        }
        Redeemed::Unknown => Err(bad),
    }
}

async fn refresh(
    gw: &Gateway,
    s: &Settings,
    r: &OidcRequest<'_>,
    issuer: &str,
    client: &OidcClient,
    req: &TokenRequest,
) -> Result<TokenResponse, TokenError> {
    let presented = req
        .refresh_token
        .as_deref()
        .and_then(store::hash_of)
        .ok_or(TokenError::InvalidRequest(
            "refresh_token is missing or malformed",
        ))?;
    let now_ms = gw.clock().now_millis();
    let oidc_store = gw.oidc().store();
    // Everything about the request is checked before the one step that rotates: a refused
    // refresh leaves the presented token current (RFC 6749 §6; bad input changes nothing).
    // A rotated-out token goes straight to that step, which revokes its grant.
    let checked = match oidc_store
        .peek_refresh(presented, &client.id, now_ms)
        .await?
    {
        None => {
            return Err(TokenError::InvalidGrant(
                "the refresh token is invalid or expired",
            ))
        }
        Some((grant, true)) => {
            let scope = narrowed(&grant.scope, req.scope.as_deref())?;
            // A person removed from the config, no longer allowed on the client, or whose
            // name is someone else's now, is refused here; the grant ends with them.
            let person = match person_for(s, client, &grant.user, &grant.subject) {
                Ok(p) => p,
                Err(e) => {
                    let ended = oidc_store.revoke_grant(&grant.id).await?;
                    gw.oidc().ended(&s.config, ended.as_slice(), now_ms);
                    return Err(e);
                }
            };
            let shown = Grant {
                scope: scope.clone(),
                ..grant.clone()
            };
            let id_token = match scope.iter().any(|s| s == "openid") {
                true => Some(id_token(gw, issuer, client, &shown, &person, None, now_ms)?),
                false => None,
            };
            Some((grant, scope, id_token))
        }
        Some((_, false)) => None,
    };
    let next_refresh = store::mint();
    let next_access = store::mint();
    let (Some(refresh_hash), Some(access_hash)) =
        (store::hash_of(&next_refresh), store::hash_of(&next_access))
    else {
        return Err(TokenError::Server);
    };
    let issue = Issue {
        scope: checked.as_ref().map(|c| c.1.clone()).unwrap_or_default(),
        refresh: Some(refresh_hash),
        access: access_hash,
        access_expires_ms: now_ms.saturating_add(millis(client.access_lifetime)),
    };
    let rotated = oidc_store
        .refresh(presented, &client.id, issue, now_ms)
        .await?;
    let (grant, scope, id_token) = match (rotated, checked) {
        (Refreshed::Rotated(g), Some(c)) if g.id == c.0.id => c,
        (Refreshed::Reused { grant_id, ended }, _) => {
            gw.oidc().ended(&s.config, ended.as_slice(), now_ms);
            audit::oidc(
                "oidc_refresh_reuse",
                &client.id,
                "-",
                &grant_id,
                "grant revoked",
                r.client_ip,
            );
            count(gw, Some(client), "token", "refresh_reuse");
            return Err(TokenError::InvalidGrant(
                "the refresh token was used before; its grant is revoked",
            ));
        }
        // Unknown, or a rotation that was not the one checked (a race with another
        // instance): nothing is handed out.
        _ => {
            return Err(TokenError::InvalidGrant(
                "the refresh token is invalid or expired",
            ))
        }
    };
    audit::oidc(
        "oidc_refresh",
        &client.id,
        &grant.user,
        &grant.id,
        "",
        r.client_ip,
    );
    Ok(TokenResponse {
        access_token: next_access,
        token_type: "Bearer",
        expires_in: millis(client.access_lifetime) / 1000,
        id_token,
        refresh_token: Some(next_refresh),
        scope: scope.join(" "),
    })
}

/// The scopes a refresh asks for (`requested`, space-separated; none: the grant's own):
/// a subset of the grant's, or `invalid_scope`.
fn narrowed(granted: &[String], requested: Option<&str>) -> Result<Vec<String>, TokenError> {
    let Some(requested) = requested else {
        return Ok(granted.to_vec());
    };
    let asked: Vec<&str> = requested.split(' ').filter(|x| !x.is_empty()).collect();
    if asked.iter().any(|x| !granted.iter().any(|g| g == x)) {
        return Err(TokenError::InvalidScope(
            "a refresh cannot widen the grant's scope",
        ));
    }
    if !asked.contains(&"openid") {
        return Err(TokenError::InvalidScope("the openid scope is required"));
    }
    Ok(granted
        .iter()
        .filter(|g| asked.contains(&g.as_str()))
        .cloned()
        .collect())
}

/// `GET` or `POST {prefix}/oidc/userinfo` with a Bearer access token.
pub(crate) async fn userinfo(gw: &Gateway, s: &Settings, r: &OidcRequest<'_>) -> Reply {
    let presented = r
        .headers
        .get(http::header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| {
            let (scheme, token) = v.split_once(' ')?;
            scheme.eq_ignore_ascii_case("bearer").then(|| token.trim())
        })
        .and_then(store::hash_of);
    let Some(hash) = presented else {
        count(gw, None, "userinfo", "no_token");
        return respond::oidc_refusal(Form::Json, &OidcRefusal::Bearer { present: false });
    };
    let access = match gw
        .oidc()
        .store()
        .access(hash, gw.clock().now_millis())
        .await
    {
        Ok(Some(a)) => a,
        Ok(None) => {
            count(gw, None, "userinfo", "invalid_token");
            return respond::oidc_refusal(Form::Json, &OidcRefusal::Bearer { present: true });
        }
        Err(e) => return respond::login_error(Form::Json, &e.into()),
    };
    let client = s.config.oidc_client(&access.client_id);
    let person = client.and_then(|c| person_for(s, c, &access.user, &access.subject).ok());
    let Some(person) = person else {
        count(gw, client, "userinfo", "invalid_token");
        return respond::oidc_refusal(Form::Json, &OidcRefusal::Bearer { present: true });
    };
    count(gw, client, "userinfo", "ok");
    Reply::json(200, &Profile::of(&person, &access.scope))
}

/// `GET` or `POST {prefix}/oidc/logout`: RP-initiated logout. With an `id_token_hint` naming
/// the browser's own SSO session (or a POST from the SSO origin's own page) that session and
/// every grant of its family end; any other request gets the confirmation form. The browser goes to a `post_logout_redirect_uri` only if the client registered it
/// exactly, else it sees a page.
pub(crate) async fn end_session(gw: &Gateway, s: &Settings, r: &OidcRequest<'_>) -> Reply {
    let Some(issuer) = issuer(s) else {
        return respond::oidc_refusal(Form::Page, &OidcRefusal::Off);
    };
    let text = if r.method == Method::POST {
        String::from_utf8_lossy(r.body).into_owned()
    } else {
        r.query.unwrap_or("").to_string()
    };
    let mut params = std::collections::HashMap::new();
    for (k, v) in url::form_urlencoded::parse(text.as_bytes()) {
        if params.insert(k.into_owned(), v.into_owned()).is_some() {
            return respond::oidc_refusal(
                Form::Page,
                &OidcRefusal::Logout("A parameter is given more than once."),
            );
        }
    }
    let hint = params.get("id_token_hint").filter(|h| !h.is_empty());
    let hinted = match hint {
        Some(h) => match gw.oidc().signer().and_then(|k| k.hint(h, &issuer)) {
            Some(found) => Some(found),
            None => {
                return respond::oidc_refusal(
                    Form::Page,
                    &OidcRefusal::Logout("The id_token_hint is not one this provider issued."),
                )
            }
        },
        None => None,
    };
    let client_id = params.get("client_id").filter(|c| !c.is_empty());
    if let (Some(h), Some(c)) = (&hinted, client_id) {
        if h.aud != *c {
            return respond::oidc_refusal(
                Form::Page,
                &OidcRefusal::Logout("client_id does not match the id_token_hint."),
            );
        }
    }
    let client = hinted
        .as_ref()
        .map(|h| h.aud.as_str())
        .or(client_id.map(String::as_str))
        .and_then(|c| s.config.oidc_client(c));
    let target = match params
        .get("post_logout_redirect_uri")
        .filter(|u| !u.is_empty())
    {
        None => None,
        Some(uri) => match client {
            Some(c) if c.post_logout_redirect_uris.iter().any(|u| u == uri) => Some(uri.clone()),
            _ => {
                return respond::oidc_refusal(
                    Form::Page,
                    &OidcRefusal::Logout(
                        "post_logout_redirect_uri is not registered for this client.",
                    ),
                )
            }
        },
    };
    let live = match gw.session(s, r.headers, r.app).await {
        Ok(live) => live,
        Err(e) => return respond::login_error(Form::Page, &e.into()),
    };
    let family = live.as_ref().map(|l| session_id(&l.hash));
    // A hint only says which sign-on is meant; it signs out without asking only the browser
    // holding that very sign-on. Anything else may be another site's link or a replayed ID
    // token: only a form posted from the SSO origin's own page signs out, and a GET gets
    // that form. Nothing here ends a sign-on the browser does not hold.
    let own_hint = hinted
        .as_ref()
        .is_some_and(|h| h.names_session(family.as_deref()));
    let own_post = r.method == Method::POST
        && crate::http::request::same_origin(&s.app(r.app).origin, r.headers);
    if !own_hint && !own_post {
        return confirm_logout(s, r.app, &params, client);
    }
    if let (Some(live), Some(family)) = (live, family) {
        let ended = match end_family(gw, &family).await {
            Ok(n) => n,
            Err(e) => return respond::login_error(Form::Page, &e.into()),
        };
        let key = &live.identity.key;
        if let Err(e) = crate::control::family::end_sessions(gw, Some(key), &family, "owner").await
        {
            return respond::login_error(Form::Page, &e.into());
        }
        if let Err(e) = gw.revoke_session(&live.hash).await {
            return respond::login_error(Form::Page, &e.into());
        }
        audit::oidc(
            "oidc_logout",
            client.map_or("-", |c| c.id.as_str()),
            &live.identity.user,
            &family,
            &format!("{ended} grants"),
            r.client_ip,
        );
    }
    count(gw, client, "logout", "ok");
    let cleared = s.clear_session_cookies(r.app);
    let mut reply = match target {
        Some(uri) => {
            let params: Vec<(&str, &str)> = params
                .get("state")
                .map(|st| vec![("state", st.as_str())])
                .unwrap_or_default();
            let mut out = url::form_urlencoded::Serializer::new(String::new());
            for (k, v) in params {
                out.append_pair(k, v);
            }
            let query = out.finish();
            let location = if query.is_empty() {
                uri
            } else {
                let sep = if uri.contains('?') { '&' } else { '?' };
                format!("{uri}{sep}{query}")
            };
            Reply::redirect(302, location)
        }
        None => signed_out(&s.app(r.app).name),
    };
    for c in cleared {
        reply = reply.with_header("set-cookie", c);
    }
    reply
}

/// Ends a single sign-on family: every OpenID Connect grant (refresh and access tokens) that
/// came from the SSO session `family` ([`session_id`] of its token hash), each client with a
/// `backchannel_logout_uri` told in the background. The SSO session itself and, in a later
/// step, the app sessions it led to are ended by their callers.
pub(crate) async fn end_family(
    gw: &Gateway,
    family: &str,
) -> Result<usize, crate::session::StoreError> {
    gw.oidc()
        .end_family(&gw.settings().config, family, gw.clock().now_millis())
        .await
}

/// The page asking a person to confirm signing out (a logout link without an
/// `id_token_hint`): a form posting the same parameters back from the SSO origin.
fn confirm_logout(
    s: &Settings,
    app: AppId,
    params: &std::collections::HashMap<String, String>,
    client: Option<&OidcClient>,
) -> Reply {
    let action = Route::OidcLogout.url(&s.config.server.prefix);
    let mut fields = String::new();
    // The client the hint named goes on as `client_id`, so its return address still counts;
    // the hint itself is not posted back.
    let client_id = client.map(|c| c.id.clone());
    for key in ["client_id", "post_logout_redirect_uri", "state"] {
        let v = params
            .get(key)
            .or(client_id.as_ref().filter(|_| key == "client_id"));
        if let Some(v) = v {
            fields.push_str(&format!(
                "<input type=\"hidden\" name=\"{key}\" value=\"{}\">",
                escape_html(v)
            ));
        }
    }
    let name = escape_html(&s.app(app).name);
    Reply::html(
        200,
        format!(
            "<!doctype html><html lang=\"en\"><head><meta charset=\"utf-8\">\
             <meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">\
             <title>Sign out of {name}</title></head><body><h1>Sign out of {name}?</h1>\
             <form method=\"post\" action=\"{action}\">{fields}\
             <button type=\"submit\">Sign out</button></form></body></html>",
            action = escape_html(&action),
        ),
    )
}

/// The page after signing out when no client asked to be returned to.
fn signed_out(name: &str) -> Reply {
    let name = escape_html(name);
    Reply::html(
        200,
        format!(
            "<!doctype html><html lang=\"en\"><head><meta charset=\"utf-8\">\
             <title>Signed out of {name}</title></head><body><h1>Signed out</h1>\
             <p>You are signed out of {name}.</p></body></html>"
        ),
    )
}
