//! Login by QR: attempts, the challenge, the page and its API.

use std::time::Duration;

use serde::Serialize;

use crate::clock::Clock;
use crate::config::LoginConfig;
use crate::proxy::State;
use crate::reply::Reply;
use crate::routes::{RouteRequest, Routed};

/// Where a login attempt stands.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Status {
    /// Waiting for a scan.
    Pending,
    /// A signer fetched the challenge.
    Scanned,
    /// Signed; the browser may claim.
    Approved {
        /// Who approved.
        name: String,
    },
    /// The signer said no.
    Rejected,
    /// Ran out of time.
    Expired,
}

impl Status {
    /// The SSE event name.
    pub fn event_name(&self) -> &'static str {
        match self {
            Status::Pending => "pending",
            Status::Scanned => "scanned",
            Status::Approved { .. } => "approved",
            Status::Rejected => "rejected",
            Status::Expired => "expired",
        }
    }

    /// The SSE event payload.
    pub fn event_data(&self) -> impl Serialize {
        match self {
            Status::Approved { name } => serde_json::json!({ "name": name }),
            _ => serde_json::json!({}),
        }
    }

    /// Whether the stream ends after this.
    pub fn is_terminal(&self) -> bool {
        matches!(self, Status::Approved { .. } | Status::Rejected | Status::Expired)
    }
}

/// Pending login attempts.
pub struct Logins {
    _clock: Clock,
    _lifetime: Duration,
}

impl Logins {
    /// An empty table.
    pub fn new(config: &LoginConfig, clock: Clock) -> Self {
        Self {
            _clock: clock,
            _lifetime: config.attempt_lifetime,
        }
    }

    /// Frees expired attempts.
    pub fn sweep(&self) -> usize {
        0
    }
}

/// Login routes.
pub async fn handle(state: &State, req: RouteRequest<'_>) -> Routed {
    let _ = state;
    match req.path {
        "/login" => Reply::html(200, "<!doctype html><title>Sign in</title><h1>Sign in</h1>").into(),
        _ => Reply::error(404, "not_found", "No such gateway endpoint.").into(),
    }
}
