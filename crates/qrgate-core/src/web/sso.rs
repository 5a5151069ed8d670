//! Single sign-on across the gateway's apps: the app origin sends a browser without a session
//! to the SSO origin ([`start`]), which issues a one-time code if the person is signed in
//! there ([`issue`]), and the app origin exchanges the code for a session of its own
//! ([`redeem_page`], [`redeem`]); ending a family ([`end_family`]) ends the SSO session, every
//! app session made from it and its OpenID Connect grants. What may take part and what a
//! code is bound to are decided in [`crate::oidc::apps`].

use crate::config::AppId;
use crate::control::family;
use crate::gateway::Gateway;
use crate::http::reply::{escape_html, Reply};
use crate::http::request::same_origin;
use crate::http::route::Route;
use crate::login::page;
use crate::observe::audit;
use crate::oidc::apps::{self, AppCode, CodeRefusal};
use crate::oidc::store;
use crate::raw::{KeyBytes, TokenHash};
use crate::session::{session_id, SessionMeta, SessionToken, StoreError};
use crate::settings::Settings;
use crate::web::respond::{self, SsoRefusal};

use super::RouteRequest;

fn count(gw: &Gateway, app: &str, step: &str, result: &str) {
    gw.metrics()
        .sso
        .with_label_values(&[app, step, result])
        .inc();
}

/// The login page of an app that takes part: instead of a QR code of its own, the browser
/// gets (or keeps) the app's binding cookie and a fresh trip cookie, and goes to the SSO
/// origin for a code bound to both ([`apps::trip_bind`]). A later trip replaces the nonce, so
/// a code for an earlier one opens nothing. `None` where the app keeps its own approval.
pub(super) fn start(s: &Settings, req: &RouteRequest<'_>, rd: &str) -> Option<Reply> {
    apps::takes_part(&s.config, req.app).ok()?;
    let sso = s.config.sso.as_ref()?;
    let (bind_value, set_cookie) = s.binding_or_new(req.app, req.headers);
    let nonce = SessionToken::generate();
    let bind = apps::trip_bind(&bind_value, nonce.as_str());
    let query = apps::issue_query(&s.app(req.app).name, &bind, rd);
    let base = format!("{}{}", sso.origin, s.config.server.prefix);
    let reply = Reply::redirect(
        302,
        Route::SsoIssue {
            query: Some(&query),
        }
        .url(&base),
    );
    let reply = reply.with_header("set-cookie", s.trip_cookie(req.app, nonce.as_str()));
    Some(match set_cookie {
        Some(c) => reply.with_header("set-cookie", c),
        None => reply,
    })
}

/// `GET {prefix}/sso/issue?app=…&bind=…&rd=…` on the SSO origin: signed in here, a one-time
/// code for that app goes back to the app's origin; not signed in, the SSO origin's login
/// page first (which returns here). A person the app does not admit sees a page.
pub(super) async fn issue(gw: &Gateway, s: &Settings, req: &RouteRequest<'_>) -> Reply {
    let ask = match apps::parse_issue(&s.config, req.query) {
        Ok(ask) => ask,
        Err(e) => {
            count(gw, "-", "issue", "bad_request");
            return respond::sso_refusal(req.form.lang(), &SsoRefusal::Issue(e));
        }
    };
    let app = s.app(ask.app);
    let prefix = &s.config.server.prefix;
    let live = match gw.session(s, req.headers, req.app).await {
        Ok(Some(live)) => live,
        Ok(None) => {
            let here = Route::SsoIssue { query: req.query }.url(prefix);
            return Reply::redirect(302, Route::Login { rd: Some(&here) }.url(prefix));
        }
        Err(e) => return respond::login_error(req.form.page(), &e.into()),
    };
    let family = session_id(&live.hash);
    // Who the SSO session's key is on the app now: its allow lists and a device's apps.
    if gw.identity(s, ask.app, &live.identity.key).is_err() {
        count(gw, &app.name, "issue", "not_allowed");
        audit::sso(
            "sso_code_refused",
            &app.name,
            &live.identity.user,
            &family,
            "not allowed on the app",
            req.client_ip,
        );
        let gateway = &s.app(req.app).name;
        return respond::sso_refusal(
            req.form.lang(),
            &SsoRefusal::NotAllowed {
                app: &app.name,
                gateway,
            },
        );
    }
    let code = store::mint();
    let Some(hash) = store::hash_of(&code) else {
        return respond::login_error(
            req.form.page(),
            &crate::login::LoginError::Internal("sign-in code"),
        );
    };
    let now_ms = gw.clock().now_millis();
    let grant = AppCode {
        app: app.name.clone(),
        key: hex::encode(live.identity.key),
        user: live.identity.user.clone(),
        family: family.clone(),
        sso_session: hex::encode(live.hash),
        bind: ask.bind,
        rd: ask.rd,
        approved_ms: live.approved_ms,
        expires_ms: now_ms.saturating_add(apps::CODE_LIFETIME_MS),
    };
    if let Err(e) = gw.oidc().store().put_app_code(hash, grant, now_ms).await {
        return respond::login_error(req.form.page(), &e.into());
    }
    count(gw, &app.name, "issue", "issued");
    audit::sso(
        "sso_code_issued",
        &app.name,
        &live.identity.user,
        &family,
        "",
        req.client_ip,
    );
    let base = format!("{}{prefix}", app.origin);
    Reply::redirect(302, Route::SsoRedeem { code: Some(&code) }.url(&base))
}

/// `GET {prefix}/sso/redeem?code=…` on an app's origin: a page that posts the code from the
/// app's own origin. The browser arrived by a redirect from another site, which carries no
/// `SameSite=Strict` cookie (the binding cookie is one); the page's own post does.
pub(super) fn redeem_page(s: &Settings, req: &RouteRequest<'_>) -> Reply {
    if apps::takes_part(&s.config, req.app).is_err() {
        return respond::sso_refusal(req.form.lang(), &SsoRefusal::Code(CodeRefusal::OtherApp));
    }
    let Some(code) = apps::code_param(req.query.unwrap_or("")) else {
        return respond::sso_refusal(req.form.lang(), &SsoRefusal::Code(CodeRefusal::Spent));
    };
    let action = Route::SsoRedeem { code: None }.url(&s.config.server.prefix);
    let nonce = page::new_nonce();
    let lang = req.form.lang();
    let name =
        escape_html(&lang.text_with("sso-signing-in", &[("app", (&s.app(req.app).name).into())]));
    let html = format!(
        "<!doctype html><html lang=\"{tag}\" dir=\"{dir}\"><head><meta charset=\"utf-8\">\
         <meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">\
         <title>{name}</title></head><body><h1>{name}</h1>\
         <form id=\"sso\" method=\"post\" action=\"{action}\">\
         <input type=\"hidden\" name=\"code\" value=\"{code}\">\
         <button type=\"submit\">{button}</button></form>\
         <script nonce=\"{nonce}\">document.getElementById('sso').submit();</script>\
         </body></html>",
        tag = lang.tag(),
        dir = lang.dir(),
        button = escape_html(&lang.text("login-continue")),
        action = escape_html(&action),
        code = escape_html(&code),
    );
    Reply::html(200, html)
        .with_header(
            "content-security-policy",
            page::content_security_policy(&nonce),
        )
        .with_header("cache-control", "no-store")
        .with_header("referrer-policy", "no-referrer")
}

/// `POST {prefix}/sso/redeem` from the app's own page: the code is taken from the store once
/// (whoever takes it first has it, on any instance), must be this app's and this browser's
/// trip's (its binding and trip cookies), and the SSO session it came from must still be
/// live; then the app's session of the family is made. Every answer from the app's own
/// origin clears the trip cookie: a trip's binding opens at most one session, and none once
/// a redemption was tried.
pub(super) async fn redeem(gw: &Gateway, s: &Settings, req: &RouteRequest<'_>) -> Reply {
    let reply = redeem_trip(gw, s, req).await;
    if same_origin(&s.app(req.app).origin, req.headers) {
        reply.with_header("set-cookie", s.clear_trip_cookie(req.app))
    } else {
        reply
    }
}

async fn redeem_trip(gw: &Gateway, s: &Settings, req: &RouteRequest<'_>) -> Reply {
    let app = s.app(req.app);
    if apps::takes_part(&s.config, req.app).is_err() {
        count(gw, &app.name, "redeem", "other_app");
        return respond::sso_refusal(req.form.lang(), &SsoRefusal::Code(CodeRefusal::OtherApp));
    }
    if !same_origin(&app.origin, req.headers) {
        count(gw, &app.name, "redeem", "cross_origin");
        return respond::sso_refusal(req.form.lang(), &SsoRefusal::CrossOrigin);
    }
    let body = String::from_utf8_lossy(&req.body);
    let hash = apps::code_param(&body).and_then(|c| store::hash_of(&c));
    let taken = match hash {
        Some(h) => gw.oidc().store().take_app_code(h).await,
        None => Ok(None),
    };
    let code = match taken {
        Ok(Some(code)) => code,
        Ok(None) => return refused(gw, req, &app.name, None, CodeRefusal::Spent),
        Err(e) => return respond::login_error(req.form.page(), &e.into()),
    };
    let now_ms = gw.clock().now_millis();
    if let Err(r) = apps::accept(
        &code,
        &app.name,
        s.presented_binding(req.app, req.headers),
        s.presented_trip(req.app, req.headers),
        now_ms,
    ) {
        return refused(gw, req, &app.name, Some(&code), r);
    }
    let (Some(key), Some(root)) = (
        KeyBytes::from_hex(&code.key),
        TokenHash::from_hex(&code.sso_session),
    ) else {
        return refused(gw, req, &app.name, Some(&code), CodeRefusal::Spent);
    };
    // Checked at this moment, not when the code was issued.
    if gw.identity(s, req.app, &key).is_err() {
        count(gw, &app.name, "redeem", "not_allowed");
        audit::sso(
            "sso_code_refused",
            &app.name,
            &code.user,
            &code.family,
            "not allowed on the app",
            req.client_ip,
        );
        let gateway = s
            .config
            .sso_app()
            .map_or(app.name.as_str(), |id| s.app(id).name.as_str());
        return respond::sso_refusal(
            req.form.lang(),
            &SsoRefusal::NotAllowed {
                app: &app.name,
                gateway,
            },
        );
    }
    match made(gw, s, req, &code, key, &root).await {
        Ok(Some(token)) => {
            count(gw, &app.name, "redeem", "redeemed");
            audit::sso(
                "sso_code_redeemed",
                &app.name,
                &code.user,
                &code.family,
                "",
                req.client_ip,
            );
            Reply::redirect(303, code.rd.clone())
                .with_header("set-cookie", s.session_cookie(req.app, &token))
        }
        Ok(None) => refused(gw, req, &app.name, Some(&code), CodeRefusal::Spent),
        Err(e) => respond::login_error(req.form.page(), &e.into()),
    }
}

/// Makes the app's session of the family, if the SSO session `root` is live before and after
/// (a sign-out that ended the family meanwhile either finds the new session or is seen here,
/// and the new session is ended again).
async fn made(
    gw: &Gateway,
    s: &Settings,
    req: &RouteRequest<'_>,
    code: &AppCode,
    key: KeyBytes,
    root: &TokenHash,
) -> Result<Option<SessionToken>, StoreError> {
    let Some(sso) = s.config.sso_app().map(|id| s.app(id).key.clone()) else {
        return Ok(None);
    };
    if gw.sessions().peek(root, &sso).await?.is_none() {
        return Ok(None);
    }
    let app = s.app(req.app);
    let meta = SessionMeta {
        grant: app.grant.clone(),
        protocol: "sso".into(),
        client_ip: req
            .client_ip
            .map_or_else(|| "unknown".into(), |ip| ip.to_string()),
        browser: crate::http::agent::summarize_agent(
            req.headers
                .get(http::header::USER_AGENT)
                .and_then(|v| v.to_str().ok())
                .unwrap_or(""),
        ),
        family: Some(code.family.clone()),
    };
    let token = gw.sessions().create(app.key.clone(), key, meta).await?;
    if gw.sessions().peek(root, &sso).await?.is_none() {
        gw.revoke_session(&token.hash()).await?;
        return Ok(None);
    }
    Ok(Some(token))
}

fn refused(
    gw: &Gateway,
    req: &RouteRequest<'_>,
    app: &str,
    code: Option<&AppCode>,
    r: CodeRefusal,
) -> Reply {
    count(gw, app, "redeem", r.label());
    audit::sso(
        "sso_code_refused",
        app,
        code.map_or("-", |c| c.user.as_str()),
        code.map_or("-", |c| c.family.as_str()),
        r.label(),
        req.client_ip,
    );
    respond::sso_refusal(req.form.lang(), &SsoRefusal::Code(r))
}

/// Ends family `family` (whose members carry `key`): the SSO session, every app session made
/// from it, and its OpenID Connect grants. Returns how many sessions and grants ended.
pub(super) async fn end_family(
    gw: &Gateway,
    key: &KeyBytes,
    family: &str,
    by: &str,
) -> Result<(usize, usize), StoreError> {
    let sessions = family::end_sessions(gw, Some(key), family, by).await?;
    let grants = super::openid::end_family(gw, family).await?;
    Ok((sessions, grants))
}

/// Signs out family `family` from app `app` (`scope=everywhere`, or the SSO origin's own
/// sign-out): counted and audited with what ended.
pub(super) async fn sign_out_family(
    gw: &Gateway,
    s: &Settings,
    app: AppId,
    key: &KeyBytes,
    family: &str,
    client: Option<std::net::IpAddr>,
) -> Result<(), StoreError> {
    let (sessions, grants) = end_family(gw, key, family, "owner").await?;
    let name = &s.app(app).name;
    count(gw, name, "family", "ended");
    audit::sso(
        "sso_family_ended",
        name,
        "-",
        family,
        &format!("{sessions} sessions, {grants} grants"),
        client,
    );
    Ok(())
}

/// The family a session of app `app` belongs to: the one it came from, or its own if it is
/// the SSO session (a family's root); `None` for a session of its own.
pub(super) fn family_of(
    s: &Settings,
    app: AppId,
    hash: &TokenHash,
    family: Option<&str>,
) -> Option<String> {
    match family {
        Some(f) => Some(f.to_string()),
        None if s.config.sso_app() == Some(app) => Some(session_id(hash)),
        None => None,
    }
}
