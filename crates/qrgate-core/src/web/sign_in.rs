//! The handlers of login attempts: the login and step-up pages, the phone's approval page,
//! creating, scanning, claiming and verifying.

use askama::Template;
use http::HeaderMap;
use serde_json::json;

use crate::gate::forward_auth;
use crate::gateway::Gateway;
use crate::http::reply::Reply;
use crate::http::request::same_origin;
use crate::http::route::Route;
use crate::i18n::Texts;
use crate::identity;
use crate::login::attempts::{Purpose, StepUp};
use crate::login::{self, page, qr, LoginError};
use crate::settings::Settings;
use crate::web::phone;
use crate::web::respond::{self};

use super::RouteRequest;

/// The summary of the browser making a request, as approvals show it.
pub(super) fn agent_of(headers: &HeaderMap) -> String {
    crate::http::agent::summarize_agent(
        headers
            .get(http::header::USER_AGENT)
            .and_then(|v| v.to_str().ok())
            .unwrap_or(""),
    )
}

/// `GET {prefix}/auth/session/{id}` from a browser (the native QR opened by a phone's
/// camera): the approval page. A program asking for JSON gets 404 (see [`super::handle`]).
pub(super) async fn approval_page(
    gw: &Gateway,
    s: &Settings,
    req: &RouteRequest<'_>,
    id: &str,
) -> Reply {
    let attempt = match login::attempt(gw, s, req.app, id).await {
        Ok(a) => a,
        Err(e) => return respond::login_error(req.form.page(), &e),
    };
    if !phone::offers_native(&attempt) {
        return respond::login_error(req.form.page(), &LoginError::NotOffered("phone browser"));
    }
    let app = s.app(req.app);
    phone::approve_page(
        req.form.lang(),
        login::shown_for(s, req.app, &attempt.request),
        &app.origin.to_string(),
        &s.config.server.prefix,
        &attempt,
    )
}

pub(super) async fn login_page(gw: &Gateway, s: &Settings, req: &RouteRequest<'_>) -> Reply {
    let rd = login::return_path(req.query);
    match gw.session_identity(s, req.headers, req.app).await {
        Ok(Some(_)) => return Reply::redirect(302, rd),
        Ok(None) => {}
        Err(e) => return respond::login_error(req.form.page(), &e.into()),
    }
    // An app that takes part in single sign-on signs in at the SSO origin.
    if let Some(to_sso) = super::sso::start(s, req, &rd) {
        return to_sso;
    }
    let started = match login::start(
        gw,
        s,
        req.app,
        req.headers,
        req.client_ip,
        rd,
        Purpose::SignIn,
    )
    .await
    {
        Ok(s) => s,
        Err(e) => return respond::login_error(req.form.page(), &e),
    };
    render_login(gw, s, req, started, None)
}

/// `GET {prefix}/step-up?rd=…`: the confirmation page for a step-up path. The same key as
/// the session's must approve; then the browser goes on to `rd`.
pub(super) async fn step_up_page(gw: &Gateway, s: &Settings, req: &RouteRequest<'_>) -> Reply {
    let rd = login::return_path(req.query);
    let live = match gw.session(s, req.headers, req.app).await {
        Ok(Some(live)) => live,
        Ok(None) => {
            let to_login = Route::Login { rd: Some(&rd) }.url(&s.config.server.prefix);
            return Reply::redirect(302, to_login);
        }
        Err(e) => return respond::login_error(req.form.page(), &e.into()),
    };
    let step_up = StepUp {
        session: live.hash,
        key: live.identity.key,
    };
    let started = match login::start(
        gw,
        s,
        req.app,
        req.headers,
        req.client_ip,
        rd,
        Purpose::StepUp(step_up),
    )
    .await
    {
        Ok(s) => s,
        Err(e) => return respond::login_error(req.form.page(), &e),
    };
    render_login(gw, s, req, started, None)
}

/// The login page for a started attempt (a step-up or an action says so in its heading).
pub(super) fn render_login(
    gw: &Gateway,
    s: &Settings,
    req: &RouteRequest<'_>,
    started: login::Started,
    action: Option<page::ActionView>,
) -> Reply {
    let attempt = &started.attempt;
    let prefix = &s.config.server.prefix;
    let mut signers = Vec::new();
    for (id, p) in login::payloads(gw, s, attempt) {
        let label = req
            .form
            .lang()
            .text_with("login-qr-label", &[("app", p.label.into())]);
        let Some(code) = qr::render(&p.payload, &label) else {
            continue;
        };
        signers.push(page::SignerView {
            kind: id.name(),
            label: p.label,
            svg: code.svg,
            payload: p.payload,
            deeplink: p.deeplink,
        });
    }
    let nonce = page::new_nonce();
    let page = page::LoginPage {
        tr: Texts::new(req.form.lang()),
        app_name: login::shown_for(s, req.app, &attempt.request),
        nonce: nonce.clone(),
        attempt_id: &attempt.id,
        events_url: Route::Events { id: &attempt.id }.url(prefix),
        claim_url: Route::Claim { id: &attempt.id }.url(prefix),
        expires_in: gw.logins().remaining(attempt).as_secs(),
        signers,
        step_up: attempt.request.purpose.step_up().is_some(),
        device: attempt.request.purpose.device().is_some(),
        action,
        device_base: phone::offers_native(attempt)
            .then(|| Route::Attempt { id: &attempt.id }.url(prefix)),
    };
    let html = match page.render() {
        Ok(h) => h,
        Err(e) => {
            tracing::error!(error = %e, "login page failed to render");
            return respond::login_error(req.form.page(), &LoginError::Internal("login page"));
        }
    };
    let mut reply = Reply::html(200, html).with_header(
        "content-security-policy",
        page::content_security_policy(&nonce),
    );
    if let Some(c) = started.set_cookie {
        reply = reply.with_header("set-cookie", c);
    }
    reply
}

#[derive(serde::Serialize)]
struct Created<'a> {
    id: &'a str,
    payloads: Vec<CreatedPayload>,
    events: String,
    claim: String,
    expires_at: u64,
}

#[derive(serde::Serialize)]
struct CreatedPayload {
    protocol: &'static str,
    payload: String,
}

pub(super) async fn create(
    gw: &Gateway,
    s: &Settings,
    req: &RouteRequest<'_>,
) -> Result<Reply, LoginError> {
    if !same_origin(&s.app(req.app).origin, req.headers) {
        return Err(LoginError::CrossOrigin(
            "Login attempts are created from the application's own pages.",
        ));
    }
    let rd = login::return_path(req.query);
    let started = login::start(
        gw,
        s,
        req.app,
        req.headers,
        req.client_ip,
        rd,
        Purpose::SignIn,
    )
    .await?;
    let attempt = &started.attempt;
    let prefix = &s.config.server.prefix;
    let body = Created {
        id: &attempt.id,
        payloads: login::payloads(gw, s, attempt)
            .into_iter()
            .map(|(id, p)| CreatedPayload {
                protocol: id.name(),
                payload: p.payload,
            })
            .collect(),
        events: Route::Events { id: &attempt.id }.url(prefix),
        claim: Route::Claim { id: &attempt.id }.url(prefix),
        expires_at: attempt.expires_ms / 1000,
    };
    let mut reply = Reply::json(201, &body);
    if let Some(c) = started.set_cookie {
        reply = reply.with_header("set-cookie", c);
    }
    Ok(reply)
}

pub(super) async fn scan(
    gw: &Gateway,
    s: &Settings,
    req: &RouteRequest<'_>,
    id: &str,
) -> Result<Reply, LoginError> {
    let attempt = login::attempt(gw, s, req.app, id).await?;
    let fields = login::scan(gw, s, &attempt).await?;
    Ok(Reply::json(200, &Fields(fields)))
}

pub(super) async fn claim(
    gw: &Gateway,
    s: &Settings,
    req: &RouteRequest<'_>,
    id: &str,
) -> Result<Reply, LoginError> {
    if !same_origin(&s.app(req.app).origin, req.headers) {
        return Err(LoginError::CrossOrigin(
            "Claims come from the application's own pages.",
        ));
    }
    let claimed = login::claim(gw, s, req.app, id, req.headers, req.client_ip).await?;
    let reply = if req.form.is_page() {
        Reply::redirect(303, claimed.return_to)
    } else {
        Reply::json(
            200,
            &json!({ "redirect": claimed.return_to, "user": claimed.identity.user }),
        )
    };
    Ok(match &claimed.token {
        Some(token) => reply.with_header("set-cookie", s.session_cookie(req.app, token)),
        None => reply,
    })
}

/// Forward auth: the session vouched for with its identity headers, if the original request
/// the proxy names ([`forward_auth`]) is one the proxy path would forward.
pub(super) async fn verify(gw: &Gateway, s: &Settings, req: &RouteRequest<'_>) -> Reply {
    let vouched = match forward_auth::verify(gw, s, req.app, req.headers).await {
        Ok(v) => v,
        Err(r) => return respond::forward_auth_refusal(&r),
    };
    let id = vouched.live.identity;
    let app = s.app(req.app);
    let mut reply = Reply::json(
        200,
        &json!({ "valid": true, "user": id.user, "pubkey": id.pubkey, "roles": id.roles, "app": app.name }),
    );
    for (name, value) in identity::identity_headers(&id, &app.name) {
        reply = reply.with_header(name, value.to_string());
    }
    // What the proxy in front sends the app as `Cookie`: the same rule as the gateway's own
    // proxy path, so no count of the gateway's cookies slips through.
    if let Some(kept) = crate::gate::upstream::app_cookies(s, req.headers) {
        if let Ok(kept) = kept.to_str() {
            reply = reply.with_header(identity::COOKIE, kept.to_string());
        }
    }
    if let Some(client) = vouched.client {
        reply = reply.with_header(identity::CLIENT, client);
        let hash = vouched.live.hash;
        if let Some(now_ms) = crate::gate::program::use_due(gw, &hash) {
            crate::gate::program::note_use(gw, &hash, now_ms, req.client_ip).await;
        }
    }
    // What the proxy sends the app as `Authorization`: nothing when it carries a token of
    // the gateway (the proxy path's own rule), else the client's header as it came.
    let app_authorization = req
        .headers
        .get(http::header::AUTHORIZATION)
        .filter(|_| !vouched.strip_authorization)
        .and_then(|v| v.to_str().ok());
    if let Some(value) = app_authorization {
        reply = reply.with_header(identity::AUTHORIZATION, value.to_string());
    }
    reply
}

/// JSON object fields in a fixed order (protocol documents show them in this order).
struct Fields(Vec<(&'static str, serde_json::Value)>);

impl serde::Serialize for Fields {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        use serde::ser::SerializeMap;
        let mut map = s.serialize_map(Some(self.0.len()))?;
        for (k, v) in &self.0 {
            map.serialize_entry(k, v)?;
        }
        map.end()
    }
}
