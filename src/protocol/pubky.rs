//! Pubky Ring's pubkyauth (placeholder until the relay lands).

use crate::config::App;
use crate::login::Attempt;
use crate::proxy::State;
use crate::reply::Reply;

/// The `pubkyauth://` link for an attempt.
pub fn auth_url(_app: &App, base: &str, attempt: &Attempt) -> String {
    format!("pubkyauth:///?relay={base}/pubky/relay&secret={}", hex::encode(attempt.pubky_secret))
}

/// `POST …/pubky/relay/:channel`.
pub fn relay(_state: &State, _channel: &str, _body: &[u8]) -> Reply {
    Reply::error(404, "unknown_channel", "No login is waiting on this channel.")
}
