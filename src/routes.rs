//! The gateway's own endpoints, under the configured prefix (default `/.qrgate`).
//!
//! Handlers are plain async functions from a [`RouteRequest`] to a [`Routed`] answer; they
//! never see a socket, so the proxy glue stays thin and the rules stay testable.

use std::net::IpAddr;

use bytes::Bytes;
use http::{HeaderMap, Method};

use crate::events::EventStream;
use crate::proxy::State;
use crate::reply::Reply;

/// A request for one of the gateway's own routes.
pub struct RouteRequest<'a> {
    /// Index of the app selected by `Host`.
    pub app: usize,
    /// Method.
    pub method: &'a Method,
    /// Canonical path below the prefix, e.g. `/healthz`.
    pub path: &'a str,
    /// Raw query string.
    pub query: Option<&'a str>,
    /// Request headers.
    pub headers: &'a HeaderMap,
    /// Body (only read for POST, at most [`crate::proxy::MAX_BODY`]).
    pub body: Bytes,
    /// The client's address.
    pub client_ip: Option<IpAddr>,
    /// The client prefers HTML.
    pub wants_html: bool,
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
pub async fn handle(state: &State, req: RouteRequest<'_>) -> Routed {
    let segments: Vec<&str> = req.path.trim_start_matches('/').split('/').collect();
    match (req.method, segments.as_slice()) {
        (&Method::GET | &Method::HEAD, ["healthz"]) => {
            Reply::json(200, &serde_json::json!({ "status": "ok" })).into()
        }
        (&Method::POST, ["logout"]) => logout(state, &req).await.into(),
        (_, ["healthz" | "logout"]) => method_not_allowed(),
        _ => crate::login::handle(state, req).await,
    }
}

pub(crate) fn method_not_allowed() -> Routed {
    Reply::error(
        405,
        "method_not_allowed",
        "This endpoint does not accept that method.",
    )
    .into()
}

/// Whether a state-changing request comes from the app's own pages: the `Origin` header
/// must equal the configured origin (browsers send it on every POST), or, without one,
/// `Sec-Fetch-Site` must say same-origin.
pub fn same_origin(state: &State, req: &RouteRequest<'_>) -> bool {
    let origin = state.config.apps[req.app].origin.to_string();
    match req.headers.get(http::header::ORIGIN) {
        Some(o) => o.as_bytes() == origin.as_bytes(),
        None => req
            .headers
            .get("sec-fetch-site")
            .is_some_and(|v| v.as_bytes() == b"same-origin"),
    }
}

async fn logout(state: &State, req: &RouteRequest<'_>) -> Reply {
    if !same_origin(state, req) {
        return Reply::error(
            403,
            "cross_origin",
            "Logout must come from the application's own pages.",
        );
    }
    let app = &state.config.apps[req.app];
    for value in req.headers.get_all(http::header::COOKIE) {
        let Ok(value) = value.to_str() else { continue };
        for token in crate::identity::cookie_values(value, &state.config.session.cookie_name) {
            state.sessions.revoke(token).await;
        }
    }
    let reply = if req.wants_html {
        Reply::redirect(303, format!("{}/login", state.config.server.prefix))
    } else {
        Reply::json(200, &serde_json::json!({ "status": "signed_out" }))
    };
    reply.with_header("set-cookie", state.clear_session_cookie(app))
}
