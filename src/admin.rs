//! The admin listener (`[admin] listen`): `/metrics` (Prometheus text), `/healthz` (the
//! process is alive) and `/readyz` (config loaded and the session store answering).
//!
//! It is a separate listener on its own address, so none of it is ever reachable on an app's
//! origin; operators bind it to loopback or a management network.

use std::sync::Arc;

use async_trait::async_trait;
use http::Response;
use pingora::apps::http_app::ServeHttp;
use pingora::protocols::http::ServerSession;

use qrgate_core::gateway::Gateway;

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
                let m = &gw.metrics;
                m.sessions
                    .set(i64::try_from(gw.sessions.len()).unwrap_or(i64::MAX));
                m.pending
                    .set(i64::try_from(gw.logins.len()).unwrap_or(i64::MAX));
                answer(200, "text/plain; version=0.0.4", m.render())
            }
            "/healthz" => answer(200, "application/json", "{\"status\":\"ok\"}".into()),
            "/readyz" => match gw.ready().await {
                Ok(()) => answer(200, "application/json", "{\"ready\":true}".into()),
                Err(e) => answer(
                    503,
                    "application/json",
                    serde_json::json!({ "ready": false, "reason": e.to_string() }).to_string(),
                ),
            },
            _ => answer(404, "application/json", "{\"error\":\"not_found\"}".into()),
        }
    }
}
