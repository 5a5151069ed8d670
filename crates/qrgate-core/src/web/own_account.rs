//! The handlers of the person's own account: the sessions page and signing sessions out,
//! inviting a device and removing one, each confirmed by phone.

use serde_json::json;

use crate::control;
use crate::control::enrollment;
use crate::gateway::Gateway;
use crate::http::reply::{Form, Reply};
use crate::http::request::same_origin;
use crate::http::route::Route;
use crate::login::attempts::Purpose;
use crate::login::confirm::{Action as Confirmable, Confirm};
use crate::login::{self, page, LoginError};
use crate::settings::Settings;
use crate::web::account;
use crate::web::phone;
use crate::web::respond::{self, EndpointRefusal};

use super::sign_in::render_login;
use super::{clearing_session, RouteRequest};

/// `GET {prefix}/sessions`: the person's own sessions; without a session, log in first.
pub(super) async fn sessions_page(gw: &Gateway, s: &Settings, req: &RouteRequest<'_>) -> Reply {
    let prefix = &s.config.server.prefix;
    let (hash, identity) = match gw.session(s, req.headers, req.app).await {
        Ok(Some(live)) => (live.hash, live.identity),
        Ok(None) => {
            let rd = Route::Sessions.url(prefix);
            return Reply::redirect(302, Route::Login { rd: Some(&rd) }.url(prefix));
        }
        Err(e) => return respond::login_error(req.form.page(), &e.into()),
    };
    match account::page(gw, s, req.form.lang(), req.app, &hash, &identity).await {
        Ok((html, nonce)) => account::with_policy(Reply::html(200, html), &nonce),
        Err(e) => respond::control_error(req.form.page(), &e),
    }
}

/// `POST {prefix}/sessions`: sign out one of the person's sessions, all others, or all.
pub(super) async fn sessions_sign_out(gw: &Gateway, s: &Settings, req: &RouteRequest<'_>) -> Reply {
    let why = "Sessions are signed out from the application's own pages.";
    let (hash, identity) = match own_session(gw, s, req, why).await {
        Ok(live) => (live.hash, live.identity),
        Err(reply) => return reply,
    };
    let Some(scope) = account::Scope::from_form(&req.body) else {
        return respond::endpoint_refusal(
            req.form,
            &EndpointRefusal::BadForm {
                title: "title-nothing-to-sign-out",
                hint: "form-sign-out-scope",
            },
        );
    };
    // An SSO session's sign-on (its app sessions, grants and codes) ends with it
    // (`control::revoke`).
    if let Err(e) = account::sign_out(gw, s, &hash, &identity.user, &scope).await {
        return respond::control_error(req.form, &e);
    }
    let prefix = &s.config.server.prefix;
    if scope == account::Scope::All {
        let to_login = Route::Login { rd: None }.url(prefix);
        return clearing_session(s, req.app, Reply::redirect(303, to_login));
    }
    Reply::redirect(303, Route::Sessions.url(prefix))
}

/// The fields of an action's form (`application/x-www-form-urlencoded`): each of `names`
/// at most once, plus `confirm` (the confirmation attempt's id); anything else, a repeat or
/// an empty value refuses the whole form.
pub(super) fn action_form(body: &[u8], names: &[&str]) -> Option<Vec<(String, String)>> {
    let mut fields: Vec<(String, String)> = Vec::new();
    for (name, value) in url::form_urlencoded::parse(body) {
        let known = name == "confirm" || names.contains(&name.as_ref());
        if !known || value.is_empty() || fields.iter().any(|(n, _)| *n == name) {
            return None;
        }
        fields.push((name.into_owned(), value.into_owned()));
    }
    Some(fields)
}

pub(super) fn field<'f>(fields: &'f [(String, String)], name: &str) -> Option<&'f str> {
    fields
        .iter()
        .find(|(n, _)| n == name)
        .map(|(_, v)| v.as_str())
}

/// The live session of a same-origin POST, or the refusal to send.
pub(super) async fn own_session(
    gw: &Gateway,
    s: &Settings,
    req: &RouteRequest<'_>,
    why: &'static str,
) -> Result<crate::gateway::LiveSession, Reply> {
    if !same_origin(&s.app(req.app).origin, req.headers) {
        return Err(respond::login_error(
            req.form,
            &LoginError::CrossOrigin(why),
        ));
    }
    match gw.session(s, req.headers, req.app).await {
        Ok(Some(live)) => Ok(live),
        Ok(None) => Err(respond::login_error(req.form, &LoginError::Unauthenticated)),
        Err(e) => Err(respond::login_error(req.form, &e.into())),
    }
}

/// Starts the confirmation of `action` for the session `live`: a login attempt whose
/// approval only this action's form (`url`, with `fields` and the attempt id) can collect.
/// A browser gets the confirmation page, a program the attempt as JSON (202).
pub(super) async fn confirm_action(
    gw: &Gateway,
    s: &Settings,
    req: &RouteRequest<'_>,
    live: &crate::gateway::LiveSession,
    action: Confirmable,
    url: String,
    mut fields: Vec<(&'static str, String)>,
) -> Reply {
    let back = Route::Sessions.url(&s.config.server.prefix);
    let purpose = Purpose::Action(Confirm::new(live.hash, action));
    let started =
        match login::start(gw, s, req.app, req.headers, req.client_ip, back, purpose).await {
            Ok(started) => started,
            Err(e) => return respond::login_error(req.form, &e),
        };
    let attempt = started.attempt.clone();
    let text = attempt
        .request
        .purpose
        .action()
        .map(|c| c.text().to_string())
        .unwrap_or_default();
    fields.push(("confirm", attempt.id.clone()));
    if req.form.is_page() {
        let view = page::ActionView { text, url, fields };
        return render_login(gw, s, req, started, Some(view));
    }
    let prefix = &s.config.server.prefix;
    let form: serde_json::Map<String, serde_json::Value> = fields
        .into_iter()
        .map(|(n, v)| (n.to_string(), json!(v)))
        .collect();
    let body = json!({
        "status": "confirm",
        "action": text,
        "id": attempt.id,
        "payloads": login::payloads(gw, s, &attempt)
            .into_iter()
            .map(|(id, p)| json!({ "protocol": id.name(), "payload": p.payload }))
            .collect::<Vec<_>>(),
        "events": Route::Events { id: &attempt.id }.url(prefix),
        "confirm": { "url": url, "form": form },
        "expires_at": attempt.expires_ms / 1000,
    });
    let mut reply = Reply::json(202, &body);
    if let Some(c) = started.set_cookie {
        reply = reply.with_header("set-cookie", c);
    }
    reply
}

/// A form that names nothing to do; `hint` is the message id of what to send.
pub(super) fn bad_action_form(form: Form, hint: &'static str) -> Reply {
    respond::endpoint_refusal(
        form,
        &EndpointRefusal::BadForm {
            title: "title-nothing-to-do",
            hint,
        },
    )
}

/// `POST {prefix}/invite`: a signed-in person invites a new device of their own. A new key
/// outlives every session, so the session alone never suffices, however fresh: the first
/// POST starts a confirmation that one of the person's keys approves on a phone, for this
/// action; the POST with `confirm=<attempt>` from the same browser and session collects it
/// and only then makes (and shows) the invitation.
pub(super) async fn invite_own_device(gw: &Gateway, s: &Settings, req: &RouteRequest<'_>) -> Reply {
    let why = "Invitations are made from the application's own pages.";
    let live = match own_session(gw, s, req, why).await {
        Ok(live) => live,
        Err(reply) => return reply,
    };
    let Some(fields) = action_form(&req.body, &[]) else {
        return bad_action_form(req.form, "form-invite");
    };
    let user = live.identity.user.clone();
    if s.config.user_by_name(&user).is_none() {
        return respond::enroll_error(req.form, &enrollment::EnrollError::NotConfiguredUser);
    }
    let action = Confirmable::AddDevice { user: user.clone() };
    let url = Route::Invite.url(&s.config.server.prefix);
    let Some(id) = field(&fields, "confirm") else {
        return confirm_action(gw, s, req, &live, action, url, Vec::new()).await;
    };
    if let Err(e) =
        login::claim_action(gw, s, req.app, id, req.headers, req.client_ip, &action).await
    {
        return respond::login_error(req.form, &e);
    }
    match enrollment::invite(gw, s, req.app, &user, enrollment::DEFAULT_TTL, "owner").await {
        Ok(invited) if req.form.is_page() => {
            phone::invite_page(req.form.lang(), &s.config.server.prefix, &invited)
        }
        Ok(invited) => Reply::json(
            200,
            &json!({
                "link": invited.link,
                "user": invited.user,
                "app": invited.app,
                "expires_at": invited.expires_at,
            }),
        ),
        Err(e) => respond::enroll_error(req.form, &e),
    }
}

/// `POST {prefix}/remove-device` with `device=<id>`: a signed-in person removes an enrolled
/// device of their own, ending its sessions everywhere. Like an invitation, confirmed by
/// phone for this action, and by another of their keys than the device removed.
pub(super) async fn remove_own_device(gw: &Gateway, s: &Settings, req: &RouteRequest<'_>) -> Reply {
    let why = "Devices are removed from the application's own pages.";
    let live = match own_session(gw, s, req, why).await {
        Ok(live) => live,
        Err(reply) => return reply,
    };
    let Some((fields, device)) = action_form(&req.body, &["device"])
        .and_then(|f| field(&f, "device").map(str::to_string).map(|d| (f, d)))
    else {
        return bad_action_form(req.form, "form-remove-device");
    };
    let user = live.identity.user.clone();
    let theirs = control::Filter {
        user: Some(user.clone()),
        ..control::Filter::default()
    };
    let keys = match account::keys_of(gw, s, req.form.lang(), &user, &theirs).await {
        Ok(keys) => keys,
        Err(e) => return respond::control_error(req.form, &e),
    };
    if !keys
        .iter()
        .any(|k| k.device.as_deref() == Some(device.as_str()))
    {
        return respond::login_error(req.form, &LoginError::UnknownDevice);
    }
    if keys.len() < 2 {
        return respond::login_error(req.form, &LoginError::NoOtherKey);
    }
    let action = Confirmable::RemoveDevice {
        user: user.clone(),
        device: device.clone(),
    };
    let prefix = &s.config.server.prefix;
    let url = Route::RemoveDevice.url(prefix);
    let Some(id) = field(&fields, "confirm") else {
        let fields = vec![("device", device)];
        return confirm_action(gw, s, req, &live, action, url, fields).await;
    };
    if let Err(e) =
        login::claim_action(gw, s, req.app, id, req.headers, req.client_ip, &action).await
    {
        return respond::login_error(req.form, &e);
    }
    let one = control::Filter {
        id: Some(device.clone()),
        ..theirs
    };
    let (removed, ended) = match control::revoke_devices(gw, s, &one, "owner").await {
        Ok(counts) => counts,
        Err(e) => return respond::control_error(req.form, &e),
    };
    let signed_out = crate::devices::device_id(&live.identity.key) == device;
    if !req.form.is_page() {
        return Reply::json(200, &json!({ "removed": removed, "sessions_ended": ended }));
    }
    if signed_out {
        let to_login = Route::Login { rd: None }.url(prefix);
        return clearing_session(s, req.app, Reply::redirect(303, to_login));
    }
    Reply::redirect(303, Route::Sessions.url(prefix))
}
