//! The gateway's own endpoints, under the configured prefix (default `/.qrgate`).
//!
//! [`handle`] dispatches by method and path to the login operations and builds their success
//! answers; refusals go through [`crate::web::respond`]. Handlers never see a socket: the proxy
//! glue reads the body (capped at [`MAX_BODY`](crate::login::MAX_BODY)) and writes what
//! comes back.
//!
//! - `sign_in`: the login attempt's handlers (pages, create, scan, claim, verify).
//! - `own_account`: the person's own sessions page, inviting and removing a device.
//! - `account`: the account page's content (their keys, devices and sessions).
//! - `phone`: the pages that make a browser a signer of the native protocol.
//! - [`respond`]: the one place domain errors become HTTP statuses and bodies.
//! - `sso`: single sign-on across the gateway's apps (the code's issue and redemption, and
//!   ending a sign-in family).

pub(crate) mod account;
mod device;
mod openid;
mod own_account;
mod personal;
pub(crate) mod phone;
mod resource;
pub mod respond;
mod sign_in;
mod sso;
mod tokens;

use std::net::IpAddr;

use bytes::Bytes;
use http::{HeaderMap, Method};
use serde_json::json;

use crate::config::AppId;
use crate::control::enrollment;
use crate::gate::forward_auth;
use crate::gateway::Gateway;
use crate::http::reply::{Form, Reply};
use crate::http::request::same_origin;
use crate::http::route::Action;
use crate::http::route::{self, Route};
use crate::login::events::EventStream;
use crate::login::{self, LoginError};
use crate::observe::audit;
use crate::settings::Settings;
use crate::web::respond::EndpointRefusal;
use own_account::{invite_own_device, remove_own_device, sessions_page, sessions_sign_out};
use sign_in::{agent_of, approval_page, claim, create, login_page, scan, step_up_page, verify};

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
    let json_error = |e: LoginError| respond::login_error(req.form.json(), &e);
    // The relay is a route only where a signer serves it.
    let sso = s.config.sso_app() == Some(req.app);
    // The SSO origin's root routes are no routes below the prefix (none parses as both),
    // and the provider's routes are the SSO origin's only.
    // An app that lets programs in has one root route: its protected resource metadata.
    let programs = s.app(req.app).programs && s.config.sso.is_some();
    let route = Route::parse(req.path)
        .or_else(|| sso.then(|| Route::parse_root(req.path)).flatten())
        .or_else(|| {
            (programs && Route::parse_root(req.path) == Some(Route::ProtectedResource))
                .then_some(Route::ProtectedResource)
        })
        .filter(|r| !matches!(r, Route::Relay { .. }) || relay_endpoint(gw).is_some())
        .filter(|r| sso || !r.is_sso_only());
    if let Some(action) = route.and_then(|r| r.rate_class(req.method)) {
        if let Err(e) = limited(gw, &req, action) {
            if matches!(route, Some(Route::Verify)) {
                return respond::forward_auth_refusal(&forward_auth::Refusal::Login(e)).into();
            }
            let form = match route {
                Some(Route::Relay { .. }) => req.form.json(),
                Some(Route::Login { .. } | Route::StepUp { .. }) => req.form.page(),
                _ => req.form,
            };
            return respond::login_error(form, &e).into();
        }
    }
    let not_found = || respond::endpoint_refusal(req.form, &EndpointRefusal::NotFound);
    let Some(route) = route else {
        return not_found().into();
    };
    // HEAD is a GET without its effects: a route whose GET changes state is not run for it.
    if req.method == Method::HEAD && route.get_has_effects() {
        return respond::head_without_effects().into();
    }
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
        Route::Jwks if get => match gw.assertions() {
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
                Ok(inv) if req.form.is_page() => phone::enroll_page(
                    req.form.lang(),
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
                Err(e) => respond::enroll_error(req.form.json(), &e),
            }
        }
        Route::Login { .. } if get => login_page(gw, s, &req).await,
        Route::StepUp { .. } if get => step_up_page(gw, s, &req).await,
        Route::Create if post => create(gw, s, &req).await.unwrap_or_else(json_error),
        Route::Verify if get => verify(gw, s, &req).await,
        Route::Attempt { id } if get && req.form.is_page() && id.starts_with("sess_") => {
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
        Route::PersonalToken if post => personal::personal_token(gw, s, &req).await,
        Route::OidcDiscovery | Route::AuthServerMetadata if get => openid::discovery(gw, s),
        Route::ProtectedResource if get && programs => resource::metadata(s, req.app),
        Route::OidcJwks if get => openid::jwks(gw),
        Route::SsoHome if get => openid::home(gw, s, &provider(&req)).await,
        Route::OidcAuthorize if get || post => openid::authorize(gw, s, &provider(&req)).await,
        // The device code grant is answered by the device flow's own module.
        Route::OidcToken if post && device::is_device_grant(&req.body) => {
            device::token(gw, s, &provider(&req)).await
        }
        Route::OidcToken if post => openid::token(gw, s, &provider(&req)).await,
        Route::OidcDeviceAuthorization if post => {
            device::authorization(gw, s, &provider(&req)).await
        }
        Route::Device if get => device::verification_page(gw, s, &req).await,
        Route::OidcUserinfo if get || post => openid::userinfo(gw, s, &provider(&req)).await,
        Route::OidcLogout if get || post => openid::end_session(gw, s, &provider(&req)).await,
        Route::SsoIssue { .. } if get => sso::issue(gw, s, &req).await,
        Route::SsoRedeem { .. } if get => sso::redeem_page(s, &req),
        Route::SsoRedeem { .. } if post => sso::redeem(gw, s, &req).await,
        // A method the route accepts, refused by a guard above (the approval page is a
        // browser's, for a login attempt's id): there is no such resource in that form, and a
        // 405 naming that very method in `Allow` would contradict itself.
        _ if route.methods().contains(req.method) => not_found(),
        _ => method_not_allowed(req.form, &route),
    };
    answer.into()
}

/// The provider's view of a request.
fn provider<'a>(req: &'a RouteRequest<'a>) -> openid::OidcRequest<'a> {
    openid::OidcRequest {
        app: req.app,
        method: req.method,
        query: req.query,
        headers: req.headers,
        body: &req.body,
        client_ip: req.client_ip,
        form: req.form,
    }
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
        gw.metrics().rate_limited.with_label_values(&[name]).inc();
        LoginError::RateLimited(l)
    })
}

/// The relay endpoint's path, if one of the signers serves it.
fn relay_endpoint(gw: &Gateway) -> Option<&'static str> {
    gw.signers()
        .iter()
        .filter_map(|s| s.endpoint())
        .map(|e| e.path)
        .find(|p| *p == route::RELAY)
}

/// The answer to a method `route` does not accept, naming those it does.
fn method_not_allowed(form: Form, route: &Route<'_>) -> Reply {
    let allow = route.allow();
    respond::endpoint_refusal(form.json(), &EndpointRefusal::Method { allow: &allow })
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
            req.form.json(),
            &LoginError::CrossOrigin("Logout must come from the application's own pages."),
        );
    }
    // `scope=everywhere` ends the whole sign-in family; signing out of the SSO origin always
    // does (its session is the family's root).
    let form = req
        .headers
        .get(http::header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.starts_with("application/x-www-form-urlencoded"));
    // Only a form names a scope; any other body is read as before (this app's session).
    let everywhere = match if form {
        logout_scope(&req.body)
    } else {
        Some(false)
    } {
        Some(everywhere) => everywhere || s.config.sso_app() == Some(req.app),
        None => {
            return respond::endpoint_refusal(
                req.form,
                &EndpointRefusal::BadForm {
                    title: "title-nothing-to-sign-out",
                    hint: "form-logout-scope",
                },
            )
        }
    };
    for (token, _) in s.presented_sessions(req.headers, req.app) {
        let Some(hash) = crate::session::token_hash(token) else {
            continue;
        };
        let app = &s.app(req.app).key;
        let ended = match gw.sessions().lookup(&hash, app).await {
            Ok(Some(record)) => {
                let family = sso::family_of(s, req.app, &hash, record.meta.family.as_deref());
                match family.filter(|_| everywhere) {
                    Some(family) => {
                        sso::sign_out_family(gw, s, req.app, &record.key, &family, req.client_ip)
                            .await
                            .map(|()| Some(record))
                    }
                    None => gw.revoke_session(&hash).await.map(|_| Some(record)),
                }
            }
            Ok(None) => Ok(None),
            Err(e) => Err(e),
        };
        match ended {
            Ok(Some(record)) => {
                audit::logout(app, &z32::encode(record.key.as_bytes()), req.client_ip);
            }
            Ok(None) => {}
            Err(e) => return respond::login_error(req.form, &e.into()),
        }
    }
    let reply = if req.form.is_page() {
        Reply::redirect(303, Route::Login { rd: None }.url(&s.config.server.prefix))
    } else {
        Reply::json(200, &json!({ "status": "signed_out" }))
    };
    clearing_session(s, req.app, reply)
}

/// The sign-out form: empty (this app's session), or `scope=everywhere` (the whole sign-in
/// family); anything else is `None`.
fn logout_scope(body: &[u8]) -> Option<bool> {
    let mut everywhere = None;
    for (name, value) in url::form_urlencoded::parse(body) {
        let next = match (name.as_ref(), value.as_ref()) {
            ("scope", "everywhere") => true,
            ("scope", "app") => false,
            _ => return None,
        };
        if everywhere.replace(next).is_some() {
            return None;
        }
    }
    Some(everywhere.unwrap_or(false))
}

/// `reply` with every name of app `app`'s session cookie cleared.
fn clearing_session(s: &Settings, app: AppId, reply: Reply) -> Reply {
    s.clear_session_cookies(app)
        .into_iter()
        .fold(reply, |r, c| r.with_header("set-cookie", c))
}
