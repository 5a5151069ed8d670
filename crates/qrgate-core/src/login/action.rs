//! Claiming a confirmation: the browser that asked for an action collects its approval.

use std::net::IpAddr;

use http::HeaderMap;

use crate::config::AppId;
use crate::gateway::Gateway;
use crate::login::attempts::AttemptError;
use crate::login::confirm::Action;
use crate::observe::audit;
use crate::settings::Settings;

use super::{attempt, LoginError};

/// The browser that asked for `action` collects the approval of confirmation attempt `id`,
/// once: the same browser (binding cookie), still signed in with the session that asked,
/// as that person, and the attempt made for exactly this action. Anything else is refused
/// before the attempt is touched, except what only the claim itself can tell (approved,
/// within the window, single use). Returns the approving key.
pub(crate) async fn claim_action(
    gw: &Gateway,
    s: &Settings,
    app: AppId,
    id: &str,
    headers: &HeaderMap,
    client: Option<IpAddr>,
    action: &Action,
) -> Result<crate::raw::KeyBytes, LoginError> {
    let attempt = attempt(gw, s, app, id).await?;
    let Some(confirm) = attempt.request.purpose.action() else {
        return Err(AttemptError::OtherPurpose.into());
    };
    if confirm.action != *action {
        return Err(AttemptError::OtherPurpose.into());
    }
    match gw.session(s, headers, app).await? {
        Some(live) if live.hash == confirm.session && live.identity.user == action.user() => {}
        _ => return Err(LoginError::Unauthenticated),
    }
    let (key, _) = gw
        .logins()
        .claim(&attempt, s.presented_binding(app, headers), Some(action))
        .await?;
    // The approving key must still be that person's (a device removed or a user changed
    // since the approval confirms nothing).
    let approver = gw
        .identity(s, app, &key)
        .ok()
        .filter(|i| i.user == action.user())
        .ok_or(LoginError::OtherUser {
            user: action.user().to_string(),
        })?;
    let name = &s.app(app).name;
    gw.metrics().login(name, "any", "confirmed");
    audit::action_confirmed(
        name,
        &action.wire(),
        &approver.user,
        &approver.pubkey,
        client,
        &attempt.id,
    );
    Ok(key)
}
