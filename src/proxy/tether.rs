//! Connections tied to the session (or the program's bearer token) that let them in: when it
//! ends — logout, a grant revoked,
//! revocation (here or on another instance), expiry, or its key losing access in a reload —
//! a long-lived response it carries (a websocket, a server-sent event stream, any streamed
//! body) ends within a second, instead of outliving the session.
//!
//! [`Tethered`] wraps every HTTP request's processing in a task-local [`Tether`]. When the
//! proxy sees that a response will be long-lived (`101 Switching Protocols`, or a body
//! without a length) on a request a session let in, it ties the request to that session
//! ([`tie`]); from then on a watchdog re-checks the session whenever sessions change
//! ([`Gateway::sessions_changed`]) and at least once a second, and drops the request — both
//! connections close — the moment it no longer holds. Ordinary requests are never tied and
//! pay only for the task-local.

use std::sync::{Arc, Mutex};
use std::time::Duration;

use async_trait::async_trait;
use pingora::apps::{HttpServerApp, HttpServerOptions, ReusedHttpStream};
use pingora::protocols::http::ServerSession;
use pingora::server::ShutdownWatch;
use tokio::sync::Notify;

use qrgate_core::config::AppId;
use qrgate_core::gateway::Gateway;
use qrgate_core::session::TokenHash;

/// How often a tied request re-checks its session when nothing else wakes it.
const CHECK_EVERY: Duration = Duration::from_secs(1);

/// The session a request is tied to, once it is.
#[derive(Clone, Default)]
pub struct Tether(Arc<TetherState>);

#[derive(Default)]
struct TetherState {
    /// The token hash, its app, and whether it is a program's bearer token (else a session).
    tied: Mutex<Option<(TokenHash, AppId, bool)>>,
    wake: Notify,
}

tokio::task_local! {
    static TETHER: Tether;
}

/// Ties the request being processed to session `hash` on `app`, or with `program` to the
/// program bearer token of that hash (no-op outside [`Tethered`]).
pub fn tie(hash: TokenHash, app: AppId, program: bool) {
    let _ = TETHER.try_with(|t| {
        *t.0.tied.lock().unwrap_or_else(|p| p.into_inner()) = Some((hash, app, program));
        t.0.wake.notify_one();
    });
}

/// Runs `work` until it finishes or the session it gets tied to ends (then `None`).
async fn watched<F: std::future::Future>(gateway: &Gateway, work: F) -> Option<F::Output> {
    let tether = Tether::default();
    let watch = {
        let tether = tether.clone();
        async move {
            tether.0.wake.notified().await;
            let Some((hash, app, program)) =
                *tether.0.tied.lock().unwrap_or_else(|p| p.into_inner())
            else {
                return std::future::pending().await;
            };
            loop {
                let changed = gateway.sessions_changed();
                let valid = if program {
                    qrgate_core::gate::program::still_admitted(gateway, &hash, app).await
                } else {
                    gateway.still_valid(&hash, app).await
                };
                if !valid {
                    tracing::debug!("a session ended: closing the connection it let in");
                    return;
                }
                tokio::select! {
                    _ = changed => {}
                    _ = tokio::time::sleep(CHECK_EVERY) => {}
                }
            }
        }
    };
    tokio::select! {
        out = TETHER.scope(tether.clone(), work) => Some(out),
        _ = watch => None,
    }
}

/// The HTTP application, with every request tethered.
pub struct Tethered<A> {
    inner: Arc<A>,
    gateway: Arc<Gateway>,
}

impl<A> Tethered<A> {
    /// Tethers `inner`'s requests to the sessions of `gateway`.
    pub fn new(inner: Arc<A>, gateway: Arc<Gateway>) -> Self {
        Tethered { inner, gateway }
    }
}

#[async_trait]
impl<A: HttpServerApp + Send + Sync + 'static> HttpServerApp for Tethered<A> {
    async fn process_new_http(
        self: &Arc<Self>,
        session: ServerSession,
        shutdown: &ShutdownWatch,
    ) -> Option<ReusedHttpStream> {
        watched(
            &self.gateway,
            self.inner.process_new_http(session, shutdown),
        )
        .await
        .flatten()
    }

    fn h2_options(&self) -> Option<pingora::protocols::http::v2::server::H2Options> {
        self.inner.h2_options()
    }

    fn server_options(&self) -> Option<&HttpServerOptions> {
        self.inner.server_options()
    }

    async fn http_cleanup(&self) {
        self.inner.http_cleanup().await;
    }
}
