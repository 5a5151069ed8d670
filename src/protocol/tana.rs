//! tana-mobile's identity protocol (placeholder until the adapter lands).

use serde::Deserialize;

use crate::config::App;
use crate::login::Attempt;
use crate::proxy::State;
use crate::reply::Reply;

/// Tana's approve body.
#[derive(Deserialize)]
pub struct TanaApprove {}

/// Tana's `qrData` JSON.
pub fn qr_data(_app: &App, _base: &str, attempt: &Attempt) -> String {
    attempt.id.clone()
}

/// Tana approval.
pub fn approve(_state: &State, _a: &Attempt, _b: TanaApprove) -> Reply {
    Reply::error(400, "unsupported", "not yet")
}
