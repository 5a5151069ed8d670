//! The audit trail: one structured event per login, logout, expiry, refused approval and
//! reload, on the `audit` tracing target (JSON lines with `[log] format = "json"`).
//!
//! Fields are facts an operator needs to answer "who signed in to what, from where, when":
//! event, app, protocol, user and key (z-base32) when known, client address, browser summary,
//! attempt id. Never a token, a secret, a signature or a cookie value.

use std::net::IpAddr;

/// Renders a list of names as a JSON array: names may contain commas (app names do), so a
/// joined list could not tell `["a,b"]` from `["a", "b"]`.
fn names(list: &[String]) -> String {
    serde_json::to_string(list).unwrap_or_default()
}

/// Renders an optional address (`-` when unknown).
fn ip(addr: Option<IpAddr>) -> String {
    addr.map_or_else(|| "-".into(), |a| a.to_string())
}

/// A signer approved an attempt.
pub(crate) fn approved(
    app: &str,
    protocol: &str,
    user: &str,
    key: &str,
    approver: Option<IpAddr>,
    attempt: &str,
) {
    tracing::info!(target: "audit", event = "approved", app, protocol, user, key, client_ip = %ip(approver), attempt);
}

/// An approval was refused (bad signature, unknown key, wrong network, replay …).
pub(crate) fn approval_refused(
    app: &str,
    protocol: &str,
    reason: &str,
    approver: Option<IpAddr>,
    attempt: &str,
) {
    tracing::warn!(target: "audit", event = "approval_refused", app, protocol, reason, client_ip = %ip(approver), attempt);
}

/// The browser collected its session: a completed login.
pub(crate) fn login(
    app: &str,
    user: &str,
    key: &str,
    client: Option<IpAddr>,
    browser: &str,
    attempt: &str,
) {
    tracing::info!(target: "audit", event = "login", app, user, key, client_ip = %ip(client), browser, attempt);
}

/// A session's person confirmed it on their phone again (step-up).
pub(crate) fn step_up(app: &str, user: &str, key: &str, client: Option<IpAddr>, attempt: &str) {
    tracing::info!(target: "audit", event = "step_up", app, user, key, client_ip = %ip(client), attempt);
}

/// An action confirmed by phone was claimed by the browser that asked for it: `action` in
/// its written form (`add-device:alice`), approved by `key` of `user`.
pub(crate) fn action_confirmed(
    app: &str,
    action: &str,
    user: &str,
    key: &str,
    client: Option<IpAddr>,
    attempt: &str,
) {
    tracing::info!(target: "audit", event = "action_confirmed", app, action, user, key, client_ip = %ip(client), attempt);
}

/// A session ended by logout.
pub(crate) fn logout(app: &str, key: &str, client: Option<IpAddr>) {
    tracing::info!(target: "audit", event = "logout", app, key, client_ip = %ip(client));
}

/// A session ended by someone else's decision: `by` is `operator` (the admin API) or
/// `owner` (the person, from another of their sessions).
pub(crate) fn revoked(app: &str, key: &str, session: &str, by: &str) {
    tracing::info!(target: "audit", event = "session_revoked", app, key, session, by);
}

/// An invitation to enroll a device was made; `by` is `operator` or `owner`.
pub(crate) fn invited(apps: &[String], user: &str, by: &str, expires_at: u64) {
    let app = names(apps);
    tracing::info!(target: "audit", event = "invitation_created", app, user, by, expires_at);
}

/// A device was enrolled by invitation.
pub(crate) fn device_enrolled(
    apps: &[String],
    user: &str,
    key: &str,
    client: Option<IpAddr>,
    browser: &str,
) {
    let app = names(apps);
    tracing::info!(target: "audit", event = "device_enrolled", app, user, key, client_ip = %ip(client), browser);
}

/// An enrollment was refused (used invitation, bad signature …).
pub(crate) fn enrollment_refused(reason: &str, client: Option<IpAddr>) {
    tracing::warn!(target: "audit", event = "enrollment_refused", reason, client_ip = %ip(client));
}

/// An enrolled device was removed; its sessions end with it.
pub(crate) fn device_revoked(user: &str, key: &str, device: &str, by: &str) {
    tracing::info!(target: "audit", event = "device_revoked", user, key, device, by);
}

/// An enrolled device lost its binding to apps that left the config; `apps` are those it
/// keeps.
pub(crate) fn device_unbound(user: &str, key: &str, device: &str, apps: &[String], by: &str) {
    let apps = names(apps);
    tracing::info!(target: "audit", event = "device_unbound", user, key, device, apps, by);
}

/// A pending invitation was withdrawn (its user or an app it names left the config).
pub(crate) fn invitation_withdrawn(apps: &[String], user: &str, by: &str) {
    let apps = names(apps);
    tracing::info!(target: "audit", event = "invitation_withdrawn", apps, user, by);
}

/// A session ran out of time.
pub(crate) fn session_expired(app: &str, key: &str) {
    tracing::info!(target: "audit", event = "session_expired", app, key);
}

/// A login attempt ran out of time unfinished.
pub(crate) fn attempt_expired(app: &str, attempt: &str, browser: &str, client: &str) {
    tracing::info!(target: "audit", event = "attempt_expired", app, attempt, browser, client_ip = client);
}

/// A config reload, successful or not.
pub fn reload(ok: bool, detail: &str) {
    if ok {
        tracing::info!(target: "audit", event = "reload", result = "ok", detail);
    } else {
        tracing::error!(target: "audit", event = "reload", result = "error", detail);
    }
}

/// The OpenID Connect provider issued a code, redeemed one into a grant, refreshed a grant,
/// refused a request, or revoked grants (`event` says which: `oidc_code`, `oidc_grant`,
/// `oidc_refresh`, `oidc_code_reuse`, `oidc_refresh_reuse`, `oidc_refused`, `oidc_logout`).
/// Names the client, the user and the grant or SSO session id; never a token.
pub fn oidc(
    event: &str,
    client: &str,
    user: &str,
    grant: &str,
    detail: &str,
    from: Option<IpAddr>,
) {
    if event.ends_with("_reuse") || event == "oidc_refused" {
        tracing::warn!(target: "audit", event, client, user, grant, detail, client_ip = %ip(from));
    } else {
        tracing::info!(target: "audit", event, client, user, grant, detail, client_ip = %ip(from));
    }
}

/// Single sign-on across apps: a one-time code issued, redeemed or refused for `app`
/// (`detail` says why a refusal), or a family ended (`detail` counts what ended). `family`
/// is the SSO session's public id, never a token or a code.
pub fn sso(event: &str, app: &str, user: &str, family: &str, detail: &str, from: Option<IpAddr>) {
    if event.ends_with("_refused") {
        tracing::warn!(target: "audit", event, app, user, family, detail, client_ip = %ip(from));
    } else {
        tracing::info!(target: "audit", event, app, user, family, detail, client_ip = %ip(from));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_list_of_names_reads_back_as_the_same_names() {
        let one = names(&["a,b".to_string()]);
        let two = names(&["a".to_string(), "b".to_string()]);
        assert_ne!(one, two);
        assert_eq!(one, r#"["a,b"]"#);
        let odd = names(&["x\"]\ny".to_string()]);
        assert!(!odd.contains('\n'), "{odd}");
        assert_eq!(
            serde_json::from_str::<Vec<String>>(&odd).ok(),
            Some(vec!["x\"]\ny".to_string()])
        );
    }
}
