//! The gateway's own endpoints, under the configured prefix (default `/.qrgate`).
//!
//! [`handle`] dispatches by method and path to the login operations and builds their success
//! answers; refusals go through [`crate::respond`]. Handlers never see a socket: the proxy
//! glue reads the body (capped at [`MAX_BODY`](crate::login::MAX_BODY)) and writes what
//! comes back.

use std::net::IpAddr;

use askama::Template;
use bytes::Bytes;
use http::{HeaderMap, Method};
use serde_json::json;

use crate::account;
use crate::attempts::{Purpose, StepUp};
use crate::audit;
use crate::config::AppId;
use crate::confirm::{Action as Confirmable, Confirm};
use crate::control;
use crate::enrollment;
use crate::events::EventStream;
use crate::forward_auth;
use crate::gateway::Gateway;
use crate::identity;
use crate::limits::Action;
use crate::login::{self, page, qr, LoginError};
use crate::phone;
use crate::reply::{Form, Reply};
use crate::request::same_origin;
use crate::respond::{self, EndpointRefusal};
use crate::route::{self, Route};
use crate::settings::Settings;

/// A request for one of the gateway's own routes.
pub struct RouteRequest<'a> {
    /// The app selected by `Host`.
    pub app: AppId,
    /// Method.
    pub method: &'a Method,
    /// Canonical path below the prefix, e.g. `/healthz`.
    pub path: &'a str,
    /// Raw query string.
    pub query: Option<&'a str>,
    /// Request headers.
    pub headers: &'a HeaderMap,
    /// Body (only read for POST).
    pub body: Bytes,
    /// The client's address.
    pub client_ip: Option<IpAddr>,
    /// The form of answer the client prefers.
    pub form: Form,
}

/// What a route answers.
pub enum Routed {
    /// A complete response.
    Reply(Reply),
    /// A server-sent event stream.
    Events(EventStream),
}

impl From<Reply> for Routed {
    fn from(r: Reply) -> Self {
        Routed::Reply(r)
    }
}

/// Dispatches a gateway route.
pub async fn handle(gw: &Gateway, s: &Settings, req: RouteRequest<'_>) -> Routed {
    let post = req.method == Method::POST;
    let get = req.method == Method::GET || req.method == Method::HEAD;
    let json_error = |e: LoginError| respond::login_error(Form::Json, &e);
    // The relay is a route only where a signer serves it.
    let route = Route::parse(req.path)
        .filter(|r| !matches!(r, Route::Relay { .. }) || relay_endpoint(gw).is_some());
    if let Some(action) = route.and_then(|r| r.rate_class(req.method)) {
        if let Err(e) = limited(gw, &req, action) {
            if matches!(route, Some(Route::Verify)) {
                return respond::forward_auth_refusal(&forward_auth::Refusal::Login(e)).into();
            }
            let form = match route {
                Some(Route::Relay { .. }) => Form::Json,
                Some(Route::Login { .. } | Route::StepUp { .. }) => Form::Page,
                _ => req.form,
            };
            return respond::login_error(form, &e).into();
        }
    }
    let not_found = || respond::endpoint_refusal(req.form, &EndpointRefusal::NotFound);
    let Some(route) = route else {
        return not_found().into();
    };
    let answer = match route {
        Route::Relay { channel } if post => match relay_endpoint(gw) {
            Some(endpoint) => {
                login::deliver(gw, s, req.app, req.client_ip, endpoint, channel, &req.body)
                    .await
                    .map(approved)
                    .unwrap_or_else(json_error)
            }
            None => not_found(),
        },
        Route::Healthz if get => Reply::json(200, &json!({ "status": "ok" })),
        Route::Jwks if get => match gw.assertions.load().as_ref() {
            Some(a) => Reply::json(200, &a.jwks()),
            None => respond::endpoint_refusal(req.form, &EndpointRefusal::AssertionsOff),
        },
        // Never a 405 here: other methods have always been told there is no such endpoint.
        Route::Jwks => not_found(),
        Route::Logout if post => logout(gw, s, &req).await,
        Route::Sessions if get => sessions_page(gw, s, &req).await,
        Route::Sessions if post => sessions_sign_out(gw, s, &req).await,
        Route::Invite if post => invite_own_device(gw, s, &req).await,
        Route::RemoveDevice if post => remove_own_device(gw, s, &req).await,
        Route::Enroll { token } if get => {
            match enrollment::invitation(gw, s, req.app, token).await {
                Ok(inv) if req.form == Form::Page => phone::enroll_page(
                    &s.app(req.app).origin.to_string(),
                    &s.config.server.prefix,
                    token,
                    &inv,
                ),
                // A program enrolling a key reads the same facts the page shows.
                Ok(inv) => Reply::json(
                    200,
                    &json!({
                        "protocol": enrollment::DOMAIN,
                        "user": inv.user,
                        "app": inv.app,
                        "apps": inv.apps,
                        "origin": s.app(req.app).origin.to_string(),
                        "expires_at": inv.expires_ms / 1000,
                    }),
                ),
                Err(e) => respond::enroll_error(req.form, &e),
            }
        }
        Route::Enroll { token } if post => {
            let browser = agent_of(req.headers);
            match enrollment::enroll(gw, s, req.app, token, &req.body, req.client_ip, browser).await
            {
                Ok(d) => Reply::json(
                    200,
                    &json!({ "status": "enrolled", "user": d.user, "device": d.id() }),
                ),
                Err(e) => respond::enroll_error(Form::Json, &e),
            }
        }
        Route::Login { .. } if get => login_page(gw, s, &req).await,
        Route::StepUp { .. } if get => step_up_page(gw, s, &req).await,
        Route::Create if post => create(gw, s, &req).await.unwrap_or_else(json_error),
        Route::Verify if get => verify(gw, s, &req).await,
        Route::Attempt { id } if get && req.form == Form::Page && id.starts_with("sess_") => {
            approval_page(gw, s, &req, id).await
        }
        Route::Events { id } if get => {
            return match login::watch(gw, s, req.app, id, req.headers).await {
                Ok(stream) => Routed::Events(stream),
                Err(e) => json_error(e).into(),
            }
        }
        Route::Scan { id } if post => scan(gw, s, &req, id).await.unwrap_or_else(json_error),
        Route::Approve { id } if post => match login::attempt(gw, s, req.app, id).await {
            Ok(a) => login::approve(gw, s, &a, req.client_ip, &req.body)
                .await
                .map(approved)
                .unwrap_or_else(json_error),
            Err(e) => json_error(e),
        },
        Route::Reject { id } if post => match login::attempt(gw, s, req.app, id).await {
            Ok(a) => login::reject(gw, &a)
                .await
                .map(|()| Reply::json(200, &json!({"success": true, "status": "rejected"})))
                .unwrap_or_else(json_error),
            Err(e) => json_error(e),
        },
        Route::Claim { id } if post => claim(gw, s, &req, id)
            .await
            .unwrap_or_else(|e| respond::login_error(req.form, &e)),
        // A method the route accepts, refused by a guard above (the approval page is a
        // browser's, for a login attempt's id): there is no such resource in that form, and a
        // 405 naming that very method in `Allow` would contradict itself.
        _ if route.methods().contains(req.method) => not_found(),
        _ => method_not_allowed(&route),
    };
    answer.into()
}

/// Takes a token from the client's bucket for `action`.
fn limited(gw: &Gateway, req: &RouteRequest<'_>, action: Action) -> Result<(), LoginError> {
    gw.rates().check(action, req.client_ip).map_err(|l| {
        let name = match action {
            Action::Create => "create",
            Action::Signer => "signer",
            Action::Claim => "claim",
            Action::Verify => "verify",
        };
        gw.metrics.rate_limited.with_label_values(&[name]).inc();
        LoginError::RateLimited(l)
    })
}

/// The relay endpoint's path, if one of the signers serves it.
fn relay_endpoint(gw: &Gateway) -> Option<&'static str> {
    gw.signers
        .iter()
        .filter_map(|s| s.endpoint())
        .map(|e| e.path)
        .find(|p| *p == route::RELAY)
}

/// The answer to a method `route` does not accept, naming those it does.
fn method_not_allowed(route: &Route<'_>) -> Reply {
    let allow = route.allow();
    respond::endpoint_refusal(Form::Json, &EndpointRefusal::Method { allow: &allow })
}

fn approved(a: login::Approval) -> Reply {
    let body = a
        .answer
        .unwrap_or_else(|| json!({ "success": true, "status": "approved", "user": a.user }));
    Reply::json(200, &body)
}

async fn logout(gw: &Gateway, s: &Settings, req: &RouteRequest<'_>) -> Reply {
    if !same_origin(&s.app(req.app).origin, req.headers) {
        return respond::login_error(
            Form::Json,
            &LoginError::CrossOrigin("Logout must come from the application's own pages."),
        );
    }
    for (token, _) in s.presented_sessions(req.headers, req.app) {
        let Some(hash) = crate::session::token_hash(token) else {
            continue;
        };
        let app = &s.app(req.app).key;
        let ended = match gw.sessions.lookup(&hash, app).await {
            Ok(Some(record)) => gw.sessions.revoke(&hash).await.map(|_| Some(record)),
            Ok(None) => Ok(None),
            Err(e) => Err(e),
        };
        match ended {
            Ok(Some(record)) => {
                audit::logout(app, &z32::encode(&record.key), req.client_ip);
                gw.sessions_changed.notify_waiters();
            }
            Ok(None) => {}
            Err(e) => return respond::login_error(req.form, &e.into()),
        }
    }
    let reply = if req.form == Form::Page {
        Reply::redirect(303, Route::Login { rd: None }.url(&s.config.server.prefix))
    } else {
        Reply::json(200, &json!({ "status": "signed_out" }))
    };
    clearing_session(s, req.app, reply)
}

/// `reply` with every name of app `app`'s session cookie cleared.
fn clearing_session(s: &Settings, app: AppId, reply: Reply) -> Reply {
    s.clear_session_cookies(app)
        .into_iter()
        .fold(reply, |r, c| r.with_header("set-cookie", c))
}

/// `GET {prefix}/sessions`: the person's own sessions; without a session, log in first.
async fn sessions_page(gw: &Gateway, s: &Settings, req: &RouteRequest<'_>) -> Reply {
    let prefix = &s.config.server.prefix;
    let (hash, identity) = match gw.session(s, req.headers, req.app).await {
        Ok(Some(live)) => (live.hash, live.identity),
        Ok(None) => {
            let rd = Route::Sessions.url(prefix);
            return Reply::redirect(302, Route::Login { rd: Some(&rd) }.url(prefix));
        }
        Err(e) => return respond::login_error(Form::Page, &e.into()),
    };
    match account::page(gw, s, req.app, &hash, &identity).await {
        Ok((html, nonce)) => account::with_policy(Reply::html(200, html), &nonce),
        Err(e) => respond::control_page(&e),
    }
}

/// `POST {prefix}/sessions`: sign out one of the person's sessions, all others, or all.
async fn sessions_sign_out(gw: &Gateway, s: &Settings, req: &RouteRequest<'_>) -> Reply {
    let why = "Sessions are signed out from the application's own pages.";
    let (hash, identity) = match own_session(gw, s, req, why).await {
        Ok(live) => (live.hash, live.identity),
        Err(reply) => return reply,
    };
    let Some(scope) = account::Scope::from_form(&req.body) else {
        return respond::endpoint_refusal(
            req.form,
            &EndpointRefusal::BadForm {
                title: "Nothing to sign out",
                hint: "Send id=<session id>, scope=others or scope=all.",
            },
        );
    };
    if let Err(e) = account::sign_out(gw, s, &hash, &identity.user, &scope).await {
        return respond::control_error(req.form, &e);
    }
    let prefix = &s.config.server.prefix;
    if scope == account::Scope::All {
        let to_login = Route::Login { rd: None }.url(prefix);
        return clearing_session(s, req.app, Reply::redirect(303, to_login));
    }
    Reply::redirect(303, Route::Sessions.url(prefix))
}

/// The summary of the browser making a request, as approvals show it.
fn agent_of(headers: &HeaderMap) -> String {
    crate::agent::summarize_agent(
        headers
            .get(http::header::USER_AGENT)
            .and_then(|v| v.to_str().ok())
            .unwrap_or(""),
    )
}

/// `GET {prefix}/auth/session/{id}` from a browser (the native QR opened by a phone's
/// camera): the approval page. A program asking for JSON gets 404 (see [`handle`]).
async fn approval_page(gw: &Gateway, s: &Settings, req: &RouteRequest<'_>, id: &str) -> Reply {
    let attempt = match login::attempt(gw, s, req.app, id).await {
        Ok(a) => a,
        Err(e) => return respond::login_error(Form::Page, &e),
    };
    if !phone::offers_native(&attempt) {
        return respond::login_error(Form::Page, &LoginError::NotOffered("phone browser"));
    }
    let app = s.app(req.app);
    phone::approve_page(
        &app.name,
        &app.origin.to_string(),
        &s.config.server.prefix,
        &attempt,
    )
}

/// The fields of an action's form (`application/x-www-form-urlencoded`): each of `names`
/// at most once, plus `confirm` (the confirmation attempt's id); anything else, a repeat or
/// an empty value refuses the whole form.
fn action_form(body: &[u8], names: &[&str]) -> Option<Vec<(String, String)>> {
    let mut fields: Vec<(String, String)> = Vec::new();
    for (name, value) in url::form_urlencoded::parse(body) {
        let known = name == "confirm" || names.contains(&name.as_ref());
        if !known || value.is_empty() || fields.iter().any(|(n, _)| *n == name) {
            return None;
        }
        fields.push((name.into_owned(), value.into_owned()));
    }
    Some(fields)
}

fn field<'f>(fields: &'f [(String, String)], name: &str) -> Option<&'f str> {
    fields
        .iter()
        .find(|(n, _)| n == name)
        .map(|(_, v)| v.as_str())
}

/// The live session of a same-origin POST, or the refusal to send.
async fn own_session(
    gw: &Gateway,
    s: &Settings,
    req: &RouteRequest<'_>,
    why: &'static str,
) -> Result<crate::gateway::LiveSession, Reply> {
    if !same_origin(&s.app(req.app).origin, req.headers) {
        return Err(respond::login_error(
            req.form,
            &LoginError::CrossOrigin(why),
        ));
    }
    match gw.session(s, req.headers, req.app).await {
        Ok(Some(live)) => Ok(live),
        Ok(None) => Err(respond::login_error(req.form, &LoginError::Unauthenticated)),
        Err(e) => Err(respond::login_error(req.form, &e.into())),
    }
}

/// Starts the confirmation of `action` for the session `live`: a login attempt whose
/// approval only this action's form (`url`, with `fields` and the attempt id) can collect.
/// A browser gets the confirmation page, a program the attempt as JSON (202).
async fn confirm_action(
    gw: &Gateway,
    s: &Settings,
    req: &RouteRequest<'_>,
    live: &crate::gateway::LiveSession,
    action: Confirmable,
    url: String,
    mut fields: Vec<(&'static str, String)>,
) -> Reply {
    let back = Route::Sessions.url(&s.config.server.prefix);
    let purpose = Purpose::Action(Confirm::new(live.hash, action));
    let started =
        match login::start(gw, s, req.app, req.headers, req.client_ip, back, purpose).await {
            Ok(started) => started,
            Err(e) => return respond::login_error(req.form, &e),
        };
    let attempt = started.attempt.clone();
    let text = attempt
        .request
        .purpose
        .action()
        .map(|c| c.text().to_string())
        .unwrap_or_default();
    fields.push(("confirm", attempt.id.clone()));
    if req.form == Form::Page {
        let view = page::ActionView { text, url, fields };
        return render_login(gw, s, req, started, Some(view));
    }
    let prefix = &s.config.server.prefix;
    let form: serde_json::Map<String, serde_json::Value> = fields
        .into_iter()
        .map(|(n, v)| (n.to_string(), json!(v)))
        .collect();
    let body = json!({
        "status": "confirm",
        "action": text,
        "id": attempt.id,
        "payloads": login::payloads(gw, s, &attempt)
            .into_iter()
            .map(|(id, p)| json!({ "protocol": id.name(), "payload": p.payload }))
            .collect::<Vec<_>>(),
        "events": Route::Events { id: &attempt.id }.url(prefix),
        "confirm": { "url": url, "form": form },
        "expires_at": attempt.expires_ms / 1000,
    });
    let mut reply = Reply::json(202, &body);
    if let Some(c) = started.set_cookie {
        reply = reply.with_header("set-cookie", c);
    }
    reply
}

fn bad_action_form(form: Form, hint: &str) -> Reply {
    respond::endpoint_refusal(
        form,
        &EndpointRefusal::BadForm {
            title: "Nothing to do",
            hint,
        },
    )
}

/// `POST {prefix}/invite`: a signed-in person invites a new device of their own. A new key
/// outlives every session, so the session alone never suffices, however fresh: the first
/// POST starts a confirmation that one of the person's keys approves on a phone, for this
/// action; the POST with `confirm=<attempt>` from the same browser and session collects it
/// and only then makes (and shows) the invitation.
async fn invite_own_device(gw: &Gateway, s: &Settings, req: &RouteRequest<'_>) -> Reply {
    let why = "Invitations are made from the application's own pages.";
    let live = match own_session(gw, s, req, why).await {
        Ok(live) => live,
        Err(reply) => return reply,
    };
    let Some(fields) = action_form(&req.body, &[]) else {
        return bad_action_form(req.form, "Send nothing, or confirm=<attempt id>.");
    };
    let user = live.identity.user.clone();
    if s.config.user_by_name(&user).is_none() {
        return respond::enroll_error(req.form, &enrollment::EnrollError::NotConfiguredUser);
    }
    let action = Confirmable::AddDevice { user: user.clone() };
    let url = Route::Invite.url(&s.config.server.prefix);
    let Some(id) = field(&fields, "confirm") else {
        return confirm_action(gw, s, req, &live, action, url, Vec::new()).await;
    };
    if let Err(e) =
        login::claim_action(gw, s, req.app, id, req.headers, req.client_ip, &action).await
    {
        return respond::login_error(req.form, &e);
    }
    match enrollment::invite(gw, s, req.app, &user, enrollment::DEFAULT_TTL, "owner").await {
        Ok(invited) if req.form == Form::Page => {
            phone::invite_page(&s.config.server.prefix, &invited)
        }
        Ok(invited) => Reply::json(
            200,
            &json!({
                "link": invited.link,
                "user": invited.user,
                "app": invited.app,
                "expires_at": invited.expires_at,
            }),
        ),
        Err(e) => respond::enroll_error(req.form, &e),
    }
}

/// `POST {prefix}/remove-device` with `device=<id>`: a signed-in person removes an enrolled
/// device of their own, ending its sessions everywhere. Like an invitation, confirmed by
/// phone for this action, and by another of their keys than the device removed.
async fn remove_own_device(gw: &Gateway, s: &Settings, req: &RouteRequest<'_>) -> Reply {
    let why = "Devices are removed from the application's own pages.";
    let live = match own_session(gw, s, req, why).await {
        Ok(live) => live,
        Err(reply) => return reply,
    };
    let Some((fields, device)) = action_form(&req.body, &["device"])
        .and_then(|f| field(&f, "device").map(str::to_string).map(|d| (f, d)))
    else {
        return bad_action_form(req.form, "Send device=<device id>.");
    };
    let user = live.identity.user.clone();
    let theirs = control::Filter {
        user: Some(user.clone()),
        ..control::Filter::default()
    };
    let keys = match account::keys_of(gw, s, &user, &theirs).await {
        Ok(keys) => keys,
        Err(e) => return respond::control_error(req.form, &e),
    };
    if !keys
        .iter()
        .any(|k| k.device.as_deref() == Some(device.as_str()))
    {
        return respond::login_error(req.form, &LoginError::UnknownDevice);
    }
    if keys.len() < 2 {
        return respond::login_error(req.form, &LoginError::NoOtherKey);
    }
    let action = Confirmable::RemoveDevice {
        user: user.clone(),
        device: device.clone(),
    };
    let prefix = &s.config.server.prefix;
    let url = Route::RemoveDevice.url(prefix);
    let Some(id) = field(&fields, "confirm") else {
        let fields = vec![("device", device)];
        return confirm_action(gw, s, req, &live, action, url, fields).await;
    };
    if let Err(e) =
        login::claim_action(gw, s, req.app, id, req.headers, req.client_ip, &action).await
    {
        return respond::login_error(req.form, &e);
    }
    let one = control::Filter {
        id: Some(device.clone()),
        ..theirs
    };
    let (removed, ended) = match control::revoke_devices(gw, s, &one, "owner").await {
        Ok(counts) => counts,
        Err(e) => return respond::control_error(req.form, &e),
    };
    let signed_out = crate::devices::device_id(&live.identity.key) == device;
    if req.form != Form::Page {
        return Reply::json(200, &json!({ "removed": removed, "sessions_ended": ended }));
    }
    if signed_out {
        let to_login = Route::Login { rd: None }.url(prefix);
        return clearing_session(s, req.app, Reply::redirect(303, to_login));
    }
    Reply::redirect(303, Route::Sessions.url(prefix))
}

async fn login_page(gw: &Gateway, s: &Settings, req: &RouteRequest<'_>) -> Reply {
    let rd = login::return_path(req.query);
    match gw.session_identity(s, req.headers, req.app).await {
        Ok(Some(_)) => return Reply::redirect(302, rd),
        Ok(None) => {}
        Err(e) => return respond::login_error(Form::Page, &e.into()),
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
        Err(e) => return respond::login_error(Form::Page, &e),
    };
    render_login(gw, s, req, started, None)
}

/// `GET {prefix}/step-up?rd=…`: the confirmation page for a step-up path. The same key as
/// the session's must approve; then the browser goes on to `rd`.
async fn step_up_page(gw: &Gateway, s: &Settings, req: &RouteRequest<'_>) -> Reply {
    let rd = login::return_path(req.query);
    let live = match gw.session(s, req.headers, req.app).await {
        Ok(Some(live)) => live,
        Ok(None) => {
            let to_login = Route::Login { rd: Some(&rd) }.url(&s.config.server.prefix);
            return Reply::redirect(302, to_login);
        }
        Err(e) => return respond::login_error(Form::Page, &e.into()),
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
        Err(e) => return respond::login_error(Form::Page, &e),
    };
    render_login(gw, s, req, started, None)
}

/// The login page for a started attempt (a step-up or an action says so in its heading).
fn render_login(
    gw: &Gateway,
    s: &Settings,
    req: &RouteRequest<'_>,
    started: login::Started,
    action: Option<page::ActionView>,
) -> Reply {
    let attempt = &started.attempt;
    let app = s.app(req.app);
    let prefix = &s.config.server.prefix;
    let mut signers = Vec::new();
    for (id, p) in login::payloads(gw, s, attempt) {
        let Some(code) = qr::render(&p.payload, &format!("QR code to sign in with {}", p.label))
        else {
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
        app_name: &app.name,
        nonce: nonce.clone(),
        attempt_id: &attempt.id,
        events_url: Route::Events { id: &attempt.id }.url(prefix),
        claim_url: Route::Claim { id: &attempt.id }.url(prefix),
        expires_in: gw.logins.remaining(attempt).as_secs(),
        signers,
        step_up: attempt.request.purpose.step_up().is_some(),
        action,
        device_base: phone::offers_native(attempt)
            .then(|| Route::Attempt { id: &attempt.id }.url(prefix)),
    };
    let html = match page.render() {
        Ok(h) => h,
        Err(e) => {
            tracing::error!(error = %e, "login page failed to render");
            return respond::login_error(Form::Page, &LoginError::Internal("login page"));
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

async fn create(gw: &Gateway, s: &Settings, req: &RouteRequest<'_>) -> Result<Reply, LoginError> {
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

async fn scan(
    gw: &Gateway,
    s: &Settings,
    req: &RouteRequest<'_>,
    id: &str,
) -> Result<Reply, LoginError> {
    let attempt = login::attempt(gw, s, req.app, id).await?;
    let fields = login::scan(gw, s, &attempt).await?;
    Ok(Reply::json(200, &Fields(fields)))
}

async fn claim(
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
    let reply = if req.form == Form::Page {
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
async fn verify(gw: &Gateway, s: &Settings, req: &RouteRequest<'_>) -> Reply {
    let live = match forward_auth::verify(gw, s, req.app, req.headers).await {
        Ok(live) => live,
        Err(r) => return respond::forward_auth_refusal(&r),
    };
    let id = live.identity;
    let app = s.app(req.app);
    let mut reply = Reply::json(
        200,
        &json!({ "valid": true, "user": id.user, "pubkey": id.pubkey, "roles": id.roles, "app": app.name }),
    );
    for (name, value) in identity::identity_headers(&id, &app.name) {
        reply = reply.with_header(name, value.to_string());
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
