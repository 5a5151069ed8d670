//! The admin listener (`[admin] listen`): `/metrics` (Prometheus text), `/healthz` (the
//! process is alive), `/readyz` (config loaded and every store answering), and with
//! `[admin] token_file` the session control API behind that bearer token:
//! `GET /sessions?user=&key=&app=&id=` lists sessions, `POST /sessions/revoke?…` ends the
//! ones the filter selects ([`qrgate_core::control`]); `GET /devices?…` lists enrolled
//! devices, `POST /devices/revoke?…` removes them (and ends their sessions), and
//! `POST /invites?user=&app=&ttl=` makes a one-time enrollment link
//! ([`qrgate_core::control::enrollment`]); `app` may be repeated, for a device that signs in to each
//! app named (the link is on the first one's origin).
//!
//! It is a separate listener on its own address, so none of it is ever reachable on an app's
//! origin; operators bind it to loopback or a management network.

pub mod token;

use std::sync::Arc;

use async_trait::async_trait;
use http::Response;
use pingora::apps::http_app::ServeHttp;
use pingora::protocols::http::ServerSession;

use std::time::Duration;

use qrgate_core::config::AppId;
use qrgate_core::control;
use qrgate_core::control::enrollment::{self, EnrollError};
use qrgate_core::gateway::Gateway;
use qrgate_core::http::reply::Form;
// The admin API answers operators and scripts, in English.
use qrgate_core::http::reply::Reply;
use qrgate_core::i18n::Lang;
use qrgate_core::settings::Settings;
use qrgate_core::web::respond::{self, AdminRefusal};

/// The admin application.
pub struct Admin {
    gateway: Arc<Gateway>,
}

impl Admin {
    /// Admin endpoints over the gateway's state.
    pub fn new(gateway: Arc<Gateway>) -> Self {
        Self { gateway }
    }
}

fn answer(status: u16, content_type: &str, body: String) -> Response<Vec<u8>> {
    let body = body.into_bytes();
    Response::builder()
        .status(status)
        .header(http::header::CONTENT_TYPE, content_type)
        .header(http::header::CONTENT_LENGTH, body.len())
        .header(http::header::CACHE_CONTROL, "no-store")
        .body(body)
        .unwrap_or_else(|_| Response::new(Vec::new()))
}

#[async_trait]
impl ServeHttp for Admin {
    async fn response(&self, session: &mut ServerSession) -> Response<Vec<u8>> {
        let gw = &self.gateway;
        match session.req_header().uri.path() {
            "/metrics" => {
                let m = &gw.metrics();
                m.sessions
                    .set(i64::try_from(gw.sessions().len()).unwrap_or(i64::MAX));
                m.pending
                    .set(i64::try_from(gw.logins().len()).unwrap_or(i64::MAX));
                answer(200, "text/plain; version=0.0.4", m.render())
            }
            "/healthz" => answer(200, "application/json", "{\"status\":\"ok\"}".into()),
            "/readyz" => match gw.ready().await {
                Ok(()) => answer(200, "application/json", "{\"ready\":true}".into()),
                Err(e) => reply(respond::admin_refusal(&AdminRefusal::NotReady(
                    e.to_string(),
                ))),
            },
            "/sessions" | "/sessions/revoke" | "/devices" | "/devices/revoke" | "/invites"
            | "/tokens" | "/tokens/revoke" => self.control(session).await,
            _ => reply(respond::admin_refusal(&AdminRefusal::NotFound)),
        }
    }
}

/// The one method each control endpoint accepts: what its 405 names in `Allow`.
fn control_methods(path: &str) -> &'static str {
    match path {
        "/sessions" | "/devices" | "/tokens" => "GET",
        _ => "POST",
    }
}

impl Admin {
    /// The session control API: bearer token first, then the filter, then the store.
    async fn control(&self, session: &mut ServerSession) -> Response<Vec<u8>> {
        let gw = &self.gateway;
        let s = gw.settings();
        let Some(path) = &s.config.admin.token_file else {
            return reply(respond::admin_refusal(&AdminRefusal::ControlOff));
        };
        // Read at every request: a rotated token applies at once. A file others may read,
        // or none, lets no request in.
        let expected = match crate::admin::token::read(path) {
            Ok(token) => token,
            Err(e) => {
                tracing::error!(error = %e, "admin token not usable; the request is refused");
                String::new()
            }
        };
        let req = session.req_header();
        let presented = req
            .headers
            .get(http::header::AUTHORIZATION)
            .and_then(|v| v.to_str().ok());
        if !control::bearer_matches(presented, &expected) {
            return reply(respond::control_refusal(None));
        }
        if req.uri.path() == "/invites" {
            return if req.method == http::Method::POST {
                invite(gw, &s, req.uri.query()).await
            } else {
                reply(respond::admin_refusal(&AdminRefusal::MethodNotAllowed {
                    allow: control_methods(req.uri.path()),
                }))
            };
        }
        if matches!(req.uri.path(), "/tokens" | "/tokens/revoke") {
            return tokens(gw, &s, req.method.as_str(), req.uri.path(), req.uri.query()).await;
        }
        let filter = match control::Filter::from_query(req.uri.query()) {
            Ok(f) => f,
            Err(e) => return reply(respond::control_refusal(Some(&e))),
        };
        let result = match (req.method.as_str(), req.uri.path()) {
            ("GET", "/devices") => control::list_devices(gw, &filter)
                .await
                .map(|devices| serde_json::json!({ "devices": devices })),
            ("POST", "/devices/revoke") => control::revoke_devices(gw, &s, &filter, "operator")
                .await
                .map(|(devices, sessions)| serde_json::json!({ "revoked": devices, "sessions": sessions })),
            ("GET", "/sessions") => control::list(gw, &s, &filter)
                .await
                .map(|sessions| serde_json::json!({ "sessions": sessions })),
            ("POST", "/sessions/revoke") => control::revoke(gw, &s, &filter, "operator")
                .await
                .map(|n| serde_json::json!({ "revoked": n })),
            (_, path) => {
                return reply(respond::admin_refusal(&AdminRefusal::MethodNotAllowed {
                    allow: control_methods(path),
                }))
            }
        };
        match result {
            Ok(v) => answer(200, "application/json", v.to_string()),
            Err(e) => reply(respond::control_refusal(Some(&e))),
        }
    }
}

/// `POST /invites?user=NAME[&app=APP]…[&ttl=SECONDS]`: a one-time enrollment link for a new
/// device of configured user NAME, on the first APP's origin (default: the default app, else
/// the first); the device signs in to every APP named, and to no other.
async fn invite(gw: &Gateway, s: &Settings, query: Option<&str>) -> Response<Vec<u8>> {
    let (mut user, mut apps, mut ttl) = (None, Vec::new(), None);
    for (name, value) in url::form_urlencoded::parse(query.unwrap_or("").as_bytes()) {
        match name.as_ref() {
            "user" if user.is_none() => user = Some(value.into_owned()),
            "app" => apps.push(value.into_owned()),
            "ttl" if ttl.is_none() => ttl = Some(value.into_owned()),
            _ => {
                return reply(respond::enroll_error(
                    Form::Json(Lang::En),
                    &EnrollError::BadQuery(format!(
                        "unknown or repeated parameter {name:?}: use user, app (repeatable), ttl"
                    )),
                ))
            }
        }
    }
    let Some(user) = user else {
        return reply(respond::enroll_error(
            Form::Json(Lang::En),
            &EnrollError::BadQuery("say which user: user=NAME".into()),
        ));
    };
    let mut ids = Vec::with_capacity(apps.len());
    for name in &apps {
        match s.config.app_by_name(name) {
            Some(id) => ids.push(id),
            None => {
                return reply(respond::enroll_error(
                    Form::Json(Lang::En),
                    &EnrollError::UnknownApp(name.clone()),
                ))
            }
        }
    }
    let (app_id, also) = match ids.split_first() {
        Some((first, rest)) => (*first, rest),
        None => (s.config.default_app().unwrap_or(AppId::new(0)), &[][..]),
    };
    let ttl = match ttl.map(|t| t.parse::<u64>()) {
        None => enrollment::DEFAULT_TTL,
        Some(Ok(secs)) => Duration::from_secs(secs),
        Some(Err(_)) => {
            return reply(respond::enroll_error(
                Form::Json(Lang::En),
                &EnrollError::BadTtl,
            ))
        }
    };
    match enrollment::invite_to(gw, s, app_id, also, &user, ttl, "operator").await {
        Ok(i) => answer(
            200,
            "application/json",
            serde_json::json!({ "link": i.link, "user": i.user, "app": i.app, "apps": i.apps, "expires_at": i.expires_at }).to_string(),
        ),
        Err(e) => reply(respond::enroll_error(Form::Json(Lang::En), &e)),
    }
}

/// `GET /tokens[?user=NAME]` lists programs' tokens (the provider's grants, never a token);
/// `POST /tokens/revoke?id=ID` revokes one.
async fn tokens(
    gw: &Gateway,
    s: &Settings,
    method: &str,
    path: &str,
    query: Option<&str>,
) -> Response<Vec<u8>> {
    let (mut user, mut id) = (None, None);
    for (name, value) in url::form_urlencoded::parse(query.unwrap_or("").as_bytes()) {
        match name.as_ref() {
            "user" if user.is_none() => user = Some(value.into_owned()),
            "id" if id.is_none() => id = Some(value.into_owned()),
            _ => {
                return reply(respond::control_refusal(Some(
                    &control::ControlError::UnknownParameter(name.into_owned()),
                )))
            }
        }
    }
    let result = match (method, path, id) {
        ("GET", "/tokens", None) => control::list_tokens(gw, s, user.as_deref())
            .await
            .map(|tokens| serde_json::json!({ "tokens": tokens })),
        ("POST", "/tokens/revoke", Some(id)) => {
            control::revoke_token(gw, s, &id, user.as_deref(), "operator")
                .await
                .map(|n| serde_json::json!({ "revoked": n }))
        }
        ("POST", "/tokens/revoke", None) => Err(control::ControlError::NoFilter),
        ("GET", "/tokens", Some(_)) => Err(control::ControlError::UnknownParameter("id".into())),
        (_, path, _) => {
            return reply(respond::admin_refusal(&AdminRefusal::MethodNotAllowed {
                allow: control_methods(path),
            }))
        }
    };
    match result {
        Ok(v) => answer(200, "application/json", v.to_string()),
        Err(e) => reply(respond::control_refusal(Some(&e))),
    }
}

/// A core reply as the admin listener sends it.
fn reply(r: Reply) -> Response<Vec<u8>> {
    let mut b = Response::builder()
        .status(r.status)
        .header(http::header::CONTENT_TYPE, r.content_type)
        .header(http::header::CONTENT_LENGTH, r.body.len())
        .header(http::header::CACHE_CONTROL, "no-store");
    for (name, value) in &r.headers {
        b = b.header(*name, value.as_str());
    }
    b.body(r.body.to_vec())
        .unwrap_or_else(|_| Response::new(Vec::new()))
}
