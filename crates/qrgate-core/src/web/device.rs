//! The device authorization grant's endpoints on the SSO origin (RFC 8628): a program asks
//! for a device code ([`authorization`]), the person opens the verification page with the
//! user code ([`verification_page`]) and approves on their phone, and the program's polls of
//! the token endpoint ([`redeem`]) are answered from the device code store until a decision
//! turns into a grant of the provider's store (so refresh, revocation, back-channel logout
//! and Redis sharing are the provider's own).

use serde::Serialize;

use crate::clock::millis;
use crate::config::OidcClient;
use crate::gateway::Gateway;
use crate::http::reply::{escape_html, Reply};
use crate::http::route::Route;
use crate::i18n::Lang;
use crate::login::attempts::{DeviceConsent, Purpose};
use crate::login::signers::program::{AskedApp, ProgramAsk};
use crate::login::{self};
use crate::observe::audit;
use crate::oidc::device::{self, DeviceRequest, Poll};
use crate::oidc::store::{self, Grant, StoreError};
use crate::oidc::token::{self, TokenError, TokenRequest, TokenResponse};
use crate::settings::Settings;
use crate::web::respond::{self, EndpointRefusal};
use crate::web::tokens::{self as openid, OidcRequest};

use super::RouteRequest;

/// The device authorization response (RFC 8628 §3.2).
#[derive(Debug, Serialize)]
struct DeviceResponse {
    device_code: String,
    user_code: String,
    verification_uri: String,
    verification_uri_complete: String,
    expires_in: u64,
    interval: u64,
}

/// `POST {prefix}/oidc/device_authorization`: a client (the built-in `qrgate-cli`, or a
/// configured one authenticating as at the token endpoint) asks for a device code.
pub(crate) async fn authorization(gw: &Gateway, s: &Settings, r: &OidcRequest<'_>) -> Reply {
    let mut client = None;
    let result = issue(gw, s, r, &mut client).await;
    super::tokens::reply(gw, client, "device_authorization", result)
}

async fn issue<'s>(
    gw: &Gateway,
    s: &'s Settings,
    r: &OidcRequest<'_>,
    authenticated: &mut Option<&'s OidcClient>,
) -> Result<DeviceResponse, TokenError> {
    let Some(sso) = s.config.sso.as_ref() else {
        return Err(TokenError::InvalidRequest("no provider is configured"));
    };
    let req = token::parse_form(r.body)?;
    let client = token::authenticate(&s.config, r.headers, &req)?;
    *authenticated = Some(client);
    device_allowed(client)?;
    let scope = device::requested_scope(&s.config, client, req.scope.as_deref())
        .map_err(|b| TokenError::InvalidScope(b.0))?;
    let programs = &s.config.programs;
    let now_ms = gw.clock().now_millis();
    let device_code = store::mint();
    let device_hash = store::hash_of(&device_code).ok_or(TokenError::Server)?;
    let request = DeviceRequest {
        client_id: client.id.clone(),
        scope,
        client_ip: r
            .client_ip
            .map_or_else(|| "an unknown address".into(), |ip| ip.to_string()),
        expires_ms: now_ms.saturating_add(millis(programs.device_code_lifetime)),
        interval_ms: millis(programs.poll_interval),
    };
    let limits = (
        s.config.limits.pending_per_client,
        s.config.login.max_pending,
    );
    if !gw.oidc().issued().admit(
        r.client_ip.map(crate::gate::limits::client_key),
        now_ms,
        request.expires_ms,
        limits.0,
        limits.1,
    ) {
        return Err(TokenError::Busy);
    }
    let codes = gw.oidc().device_codes();
    // A user code already waiting is not given twice: another one is drawn (a clash is
    // about one in 25 billion per waiting code).
    let mut user_code = None;
    for _ in 0..4 {
        let code = device::new_user_code();
        let hash = device::user_code_hash(&code);
        if codes
            .put(device_hash, hash, request.clone(), now_ms)
            .await?
        {
            user_code = Some(code);
            break;
        }
    }
    let Some(user_code) = user_code else {
        return Err(StoreError::Unavailable("no free user code".into()).into());
    };
    audit::oidc(
        "oidc_device_code",
        &client.id,
        "-",
        "-",
        &request.scope.join(" "),
        r.client_ip,
    );
    let base = format!("{}{}", sso.origin, s.config.server.prefix);
    let verification_uri = Route::Device.url(&base);
    Ok(DeviceResponse {
        device_code,
        verification_uri_complete: format!("{verification_uri}?user_code={user_code}"),
        user_code: device::shown_user_code(&user_code),
        verification_uri,
        expires_in: programs.device_code_lifetime.as_secs(),
        interval: programs.poll_interval.as_secs(),
    })
}

/// `GET {prefix}/device[?user_code=…]` on the SSO origin: without a code, a form asking for
/// it; with the code of a waiting device code, the approval page (a login attempt whose QR
/// any signer scans, the phone shown what the program wants and the code).
pub(crate) async fn verification_page(gw: &Gateway, s: &Settings, req: &RouteRequest<'_>) -> Reply {
    let typed = req.query.and_then(|q| {
        url::form_urlencoded::parse(q.as_bytes())
            .find(|(k, _)| k == "user_code")
            .map(|(_, v)| v.into_owned())
    });
    let Some(typed) = typed.filter(|t| !t.trim().is_empty()) else {
        return code_form(req.form.lang(), s);
    };
    // Guessing is bounded per client and for the instance (RFC 8628 §5.1): once either has
    // typed too many wrong codes, no code is read until its window passes.
    let limits = &s.config.limits;
    let budget = device::Budget {
        per_client: limits.user_code_failures_per_client,
        total: limits.user_code_failures,
        window_ms: millis(limits.user_code_window),
    };
    let guesser = req.client_ip.map(crate::gate::limits::client_key);
    let guesses = gw.oidc().guesses();
    let now_ms = gw.clock().now_millis();
    if let Err(spent) = guesses.check(guesser, now_ms, &budget) {
        return respond::endpoint_refusal(
            req.form.page(),
            &EndpointRefusal::TooManyCodes {
                retry_after_secs: spent.retry_after_secs,
            },
        );
    }
    let unknown = || {
        guesses.failed(guesser, now_ms, &budget);
        respond::endpoint_refusal(
            req.form.page(),
            &EndpointRefusal::BadForm {
                title: "title-unknown-code",
                hint: "form-unknown-user-code",
            },
        )
    };
    // A value that is no user code's shape guesses nothing: refused, not counted (so a
    // flood of junk does not spend the budget everyone shares).
    let Some(code) = device::normalize_user_code(&typed) else {
        return respond::endpoint_refusal(
            req.form.page(),
            &EndpointRefusal::BadForm {
                title: "title-unknown-code",
                hint: "form-unknown-user-code",
            },
        );
    };
    let found = gw
        .oidc()
        .device_codes()
        .pending(device::user_code_hash(&code), now_ms)
        .await;
    let (device_hash, request) = match found {
        Ok(Some(f)) => f,
        Ok(None) => return unknown(),
        Err(e) => return respond::login_error(req.form.page(), &e.into()),
    };
    let Some(client) = s.config.oidc_client(&request.client_id) else {
        return unknown();
    };
    let consent = DeviceConsent::new(device_hash, ask(client, &request, code));
    match login::start(
        gw,
        s,
        req.app,
        req.headers,
        req.client_ip,
        "/".into(),
        Purpose::Device(consent),
    )
    .await
    {
        Ok(started) => super::sign_in::render_login(gw, s, req, started, None),
        Err(e) => respond::login_error(req.form.page(), &e),
    }
}

/// Refuses a client the operator has not let use the device grant (RFC 8628 §3.2, RFC 6749
/// §5.2), at the device endpoint and at redemption (the flag may be withdrawn in between).
fn device_allowed(client: &OidcClient) -> Result<(), TokenError> {
    match client.device {
        true => Ok(()),
        false => Err(TokenError::UnauthorizedClient(
            "this client may not use the device grant (its [[oidc_client]] has no device = true)",
        )),
    }
}

/// What the program of `request` (client `client`, user code `code`) asks for, as the phone
/// shows it.
fn ask(client: &OidcClient, request: &DeviceRequest, code: String) -> ProgramAsk {
    let (mut apps, mut scopes) = (Vec::new(), Vec::new());
    for word in &request.scope {
        match device::AppScope::parse(word) {
            Some(a) => apps.push(AskedApp {
                name: a.app,
                read_only: a.read_only,
                prefix: a.prefix.map(|p| p.as_str().to_string()),
            }),
            None => scopes.push(word.clone()),
        }
    }
    ProgramAsk {
        client: client.name.clone(),
        from: request.client_ip.clone(),
        apps,
        scopes,
        lifetime_secs: device::grant_lifetime(client, &request.scope).as_secs(),
        code,
    }
}

/// The page that asks for the user code (its form comes back to the same route).
fn code_form(lang: Lang, s: &Settings) -> Reply {
    let action = Route::Device.url(&s.config.server.prefix);
    let name = s.config.sso.as_ref().map_or("", |c| c.name.as_str());
    Reply::html(
        200,
        format!(
            "<!doctype html><html lang=\"{tag}\" dir=\"{dir}\"><head><meta charset=\"utf-8\">\
             <meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">\
             <title>{title}</title></head><body><main>\
             <h1>{heading}</h1><p>{hint}</p>\
             <form method=\"get\" action=\"{action}\"><label for=\"user_code\">{label}</label> \
             <input id=\"user_code\" name=\"user_code\" autocomplete=\"off\" autocapitalize=\"characters\" \
             spellcheck=\"false\" required maxlength=\"16\"> <button type=\"submit\">{button}</button>\
             </form></main></body></html>",
            tag = lang.tag(),
            dir = lang.dir(),
            title = escape_html(&lang.text_with("device-code-title", &[("gateway", name.into())])),
            heading = escape_html(&lang.text("login-device-heading")),
            hint = escape_html(&lang.text("device-code-hint")),
            label = escape_html(&lang.text("device-code-label")),
            button = escape_html(&lang.text("login-continue")),
            action = escape_html(&action),
        ),
    )
}

/// Whether a token request's form asks for the device code grant (RFC 8628 §3.4).
pub(crate) fn is_device_grant(body: &[u8]) -> bool {
    url::form_urlencoded::parse(body).any(|(k, v)| k == "grant_type" && v == device::GRANT_TYPE)
}

/// `POST {prefix}/oidc/token` with `grant_type=urn:ietf:params:oauth:grant-type:device_code`,
/// answered as the token endpoint answers every grant.
pub(crate) async fn token(gw: &Gateway, s: &Settings, r: &OidcRequest<'_>) -> Reply {
    let mut client = None;
    let result = async {
        let Some(issuer) = openid::issuer(s) else {
            return Err(TokenError::InvalidRequest("no provider is configured"));
        };
        let req = token::parse(r.body)?;
        let authenticated = token::authenticate(&s.config, r.headers, &req)?;
        client = Some(authenticated);
        redeem(gw, s, r, &issuer, authenticated, &req).await
    }
    .await;
    match result {
        Ok(answer) => {
            openid::count(gw, client, "token", "ok");
            Reply::json(200, &answer).with_header("pragma", "no-cache")
        }
        Err(e) => {
            openid::count(gw, client, "token", e.code());
            respond::token_error(&e)
        }
    }
}

/// The device code grant: the poll is answered as RFC 8628 §3.5 says; an approval becomes a
/// grant of the provider's store, handed out once.
async fn redeem(
    gw: &Gateway,
    s: &Settings,
    r: &OidcRequest<'_>,
    issuer: &str,
    client: &OidcClient,
    req: &TokenRequest,
) -> Result<TokenResponse, TokenError> {
    device_allowed(client)?;
    let device_hash =
        req.device_code
            .as_deref()
            .and_then(store::hash_of)
            .ok_or(TokenError::InvalidRequest(
                "device_code is missing or malformed",
            ))?;
    let now_ms = gw.clock().now_millis();
    let (request, approval) = match gw
        .oidc()
        .device_codes()
        .poll(device_hash, &client.id, now_ms)
        .await?
    {
        Poll::Pending => return Err(TokenError::AuthorizationPending),
        Poll::SlowDown => return Err(TokenError::SlowDown),
        Poll::Denied => {
            audit::oidc("oidc_device_denied", &client.id, "-", "-", "", r.client_ip);
            return Err(TokenError::AccessDenied);
        }
        Poll::Expired => return Err(TokenError::ExpiredToken),
        Poll::Unknown => {
            return Err(TokenError::InvalidGrant(
                "the device code is unknown, used, or not this client's",
            ))
        }
        Poll::Approved(request, approval) => (request, approval),
    };
    let person = openid::person_for(
        gw,
        s,
        client,
        &approval.user,
        &approval.subject,
        &approval.key,
    )?;
    let lifetime = device::grant_lifetime(client, &request.scope);
    let scope = super::tokens::in_force(s, client, &request.scope);
    let grant = Grant {
        id: hex::encode(crate::random_bytes::<12>()),
        client_id: client.id.clone(),
        user: approval.user.clone(),
        subject: approval.subject.clone(),
        key: approval.key.clone(),
        // No SSO session made it: its family is the approving key's, so ending that family
        // (the key removed) ends every grant the key approved.
        family: device::key_family(&approval.key),
        // Judged against the config in force, as every use of a grant is.
        scope: scope.clone(),
        auth_time: approval.auth_time,
        acr: None,
        expires_ms: now_ms.saturating_add(millis(lifetime)),
        created_ms: now_ms,
        name: String::new(),
        // Where the program asked for its device code: what the phone was shown.
        from: request.client_ip.clone(),
        origins: device::app_origins(&s.config, &scope),
        last_used_ms: 0,
        last_from: String::new(),
    };
    let (answer, issue) = openid::answer(gw, issuer, client, &grant, &person, None, now_ms)?;
    if super::tokens::store_grant(gw, s, &grant, issue, now_ms).await? != super::tokens::Stored::Yes
    {
        // A device login's bound evicts rather than refuses: never here.
        return Err(TokenError::Server);
    }
    audit::oidc(
        "oidc_device_grant",
        &client.id,
        &grant.user,
        &grant.id,
        &grant.scope.join(" "),
        r.client_ip,
    );
    Ok(answer)
}
