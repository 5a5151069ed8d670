//! Personal tokens for unattended jobs: made on the person's own page, approved on their
//! phone for exactly that token (name, app, access, life), shown once and kept only as a
//! hash. A personal token is an access token of a grant of the provider (client
//! `qrgate-cli`, no refresh), so it is used, listed and revoked like a device login's, and
//! ends with the key that approved it.

use serde_json::json;

use crate::config::CLI_CLIENT;
use crate::gateway::Gateway;
use crate::http::reply::{escape_html, Reply};
use crate::http::route::Route;
use crate::login::confirm::Action;
use crate::login::{self};
use crate::observe::audit;
use crate::oidc::device::{key_family, AppScope};
use crate::oidc::store::{self, Grant, Issue, MAX_GRANTS};
use crate::settings::Settings;
use crate::web::respond;

use super::own_account::{action_form, bad_action_form, confirm_action, field, own_session};
use super::RouteRequest;

/// Longest name a personal token may have.
const MAX_NAME: usize = 64;
use crate::config::NEVER_MS;

/// How many live personal tokens `user` holds.
async fn personal_tokens_held(gw: &Gateway, user: &str) -> Result<usize, store::StoreError> {
    let held = gw
        .oidc()
        .store()
        .grants_of(user, &[CLI_CLIENT.to_string()], gw.clock().now_millis())
        .await?;
    Ok(held.iter().filter(|g| !g.name.is_empty()).count())
}

/// The token a form asks for, checked against the config; a hint for the person if not.
fn asked(s: &Settings, user: &str, fields: &[(String, String)]) -> Result<Action, &'static str> {
    let name = field(fields, "name").unwrap_or_default().trim();
    if name.is_empty() || name.chars().count() > MAX_NAME {
        return Err("form-personal-name");
    }
    // The phone, the lists and the audit log show the name as written: it may not reorder
    // or hide what is shown after it.
    if crate::http::shown::first_hidden(name).is_some() {
        return Err("form-personal-name-hidden");
    }
    let app = field(fields, "app").unwrap_or_default();
    if !s
        .config
        .app_by_name(app)
        .is_some_and(|id| s.app(id).programs)
    {
        return Err("form-personal-app");
    }
    let read_only = match field(fields, "access") {
        Some("read") => true,
        Some("read-write") => false,
        _ => return Err("form-personal-access"),
    };
    let programs = &s.config.programs;
    let days: u32 = match field(fields, "days").map(str::parse) {
        Some(Ok(0)) if programs.personal_token_never => 0,
        Some(Ok(d)) if (1..=programs.personal_token_max_days).contains(&d) => d,
        _ => return Err("form-personal-days"),
    };
    Ok(Action::PersonalToken {
        user: user.to_string(),
        name: name.to_string(),
        app: app.to_string(),
        read_only,
        days,
    })
}

/// `POST {prefix}/personal-token` with `name`, `app`, `access` (`read` or `read-write`) and
/// `days`: the first POST starts the phone's confirmation of exactly this token; the POST
/// with `confirm=<attempt>` from the same browser and session collects it, makes the token
/// and shows it once.
pub(super) async fn personal_token(gw: &Gateway, s: &Settings, req: &RouteRequest<'_>) -> Reply {
    let why = "Personal tokens are made from the application's own pages.";
    let live = match own_session(gw, s, req, why).await {
        Ok(live) => live,
        Err(reply) => return reply,
    };
    let hint = "form-personal";
    let Some(fields) = action_form(&req.body, &["name", "app", "access", "days"]) else {
        return bad_action_form(req.form, hint);
    };
    if s.config.oidc_client(CLI_CLIENT).is_none() {
        return bad_action_form(req.form, "form-personal-off");
    }
    let user = live.identity.user.clone();
    let action = match asked(s, &user, &fields) {
        Ok(a) => a,
        Err(hint) => return bad_action_form(req.form, hint),
    };
    // A personal token beyond the bound is refused, never made by ending another (asked
    // before the phone and again before it is made).
    match personal_tokens_held(gw, &user).await {
        Ok(n) if n >= MAX_GRANTS => return bad_action_form(req.form, "form-personal-too-many"),
        Ok(_) => {}
        Err(e) => return respond::login_error(req.form, &crate::login::LoginError::Store(e)),
    }
    let url = Route::PersonalToken.url(&s.config.server.prefix);
    let Some(id) = field(&fields, "confirm") else {
        let keep: Vec<(&'static str, String)> = ["name", "app", "access", "days"]
            .into_iter()
            .filter_map(|n| field(&fields, n).map(|v| (n, v.to_string())))
            .collect();
        return confirm_action(gw, s, req, &live, action, url, keep).await;
    };
    let key =
        match login::claim_action(gw, s, req.app, id, req.headers, req.client_ip, &action).await {
            Ok(key) => key,
            Err(e) => return respond::login_error(req.form, &e),
        };
    let Action::PersonalToken {
        name,
        app,
        read_only,
        days,
        ..
    } = action
    else {
        return bad_action_form(req.form, hint);
    };
    let Some(subject) = s.config.user_by_name(&user).map(|(_, u)| u.subject.clone()) else {
        return respond::login_error(req.form, &crate::login::LoginError::Unauthenticated);
    };
    let now_ms = gw.clock().now_millis();
    let life_ms = match days {
        0 => NEVER_MS,
        d => u64::from(d).saturating_mul(86_400_000),
    };
    let expires_ms = now_ms.saturating_add(life_ms);
    let token = store::mint_access();
    let Some(hash) = store::hash_of(&token) else {
        return respond::login_error(req.form, &crate::login::LoginError::Internal("token"));
    };
    let scope = vec![AppScope::token(&app, read_only, None)];
    let grant = Grant {
        id: hex::encode(crate::random_bytes::<12>()),
        client_id: CLI_CLIENT.to_string(),
        user: user.clone(),
        subject,
        key: hex::encode(key.as_bytes()),
        family: key_family(&hex::encode(key.as_bytes())),
        scope: scope.clone(),
        auth_time: now_ms / 1000,
        acr: None,
        expires_ms,
        created_ms: now_ms,
        from: req.client_ip.map(|ip| ip.to_string()).unwrap_or_default(),
        name: name.clone(),
        origins: crate::oidc::device::app_origins(&s.config, &scope),
        last_used_ms: 0,
        last_from: String::new(),
    };
    let issue = Issue {
        scope,
        refresh: None,
        access: hash,
        access_expires_ms: expires_ms,
    };
    match super::tokens::store_grant(gw, s, &grant, issue, now_ms).await {
        Ok(super::tokens::Stored::Yes) => {}
        // Another token was made since the check before the phone: refused, none ended.
        Ok(super::tokens::Stored::Full) => {
            return bad_action_form(req.form, "form-personal-too-many")
        }
        Err(e) => {
            tracing::warn!(error = %e, "personal token not stored");
            return respond::token_error(&e);
        }
    }
    audit::oidc(
        "personal_token",
        CLI_CLIENT,
        &user,
        &grant.id,
        &name,
        req.client_ip,
    );
    let access = crate::login::signers::program::access(read_only);
    if !req.form.is_page() {
        return Reply::json(
            200,
            &json!({ "token": token, "id": grant.id, "name": name, "app": app,
                     "access": access, "expires_at": expires_ms / 1000 }),
        )
        .with_header("cache-control", "no-store");
    }
    let lang = req.form.lang();
    let until = lang.date(expires_ms / 1000);
    let back = Route::Sessions.url(&s.config.server.prefix);
    let access = lang.text(if read_only {
        "sessions-access-read"
    } else {
        "sessions-access-read-write"
    });
    let said = |id: &str| {
        escape_html(&lang.text_with(
            id,
            &[
                ("name", (&name).into()),
                ("access", (&access).into()),
                ("app", (&app).into()),
                ("until", (&until).into()),
            ],
        ))
    };
    Reply::html(
        200,
        format!(
            "<!doctype html><html lang=\"{tag}\" dir=\"{dir}\"><head><meta charset=\"utf-8\">\
             <meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">\
             <title>{title}</title></head><body><main>\
             <h1>{heading}</h1>\
             <p>{what}</p>\
             <p><code id=\"token\" dir=\"ltr\">{token}</code></p>\
             <p>{usage} <code dir=\"ltr\">Authorization: Bearer &lt;token&gt;</code></p>\
             <p><a href=\"{back}\">{back_text}</a></p></main></body></html>",
            tag = lang.tag(),
            dir = lang.dir(),
            title = said("shown-token-title"),
            heading = said("shown-token-heading"),
            what = said("shown-token-what"),
            usage = said("shown-token-usage"),
            back_text = said("shown-token-back"),
            back = escape_html(&back),
        ),
    )
    .with_header("cache-control", "no-store")
}

#[cfg(test)]
mod tests {
    use super::*;

    fn settings() -> Settings {
        let text = "[[app]]\nname = \"Wiki\"\norigin = \"https://wiki.example.com\"\n\
                    upstream = \"127.0.0.1:3000\"\nprograms = true\n\
                    [[user]]\nname = \"alice\"\n\
                    key = \"ed25519_17956be6b8d4af0841d05ee4099a2f6f19a11a733b059f13998b6eff4b2d5660\"\n\
                    [sso]\norigin = \"https://id.example.com\"\nname = \"Example\"\n";
        let config = crate::config::Config::parse(text, std::path::Path::new("t.toml"));
        Settings::new(config.expect("config")).expect("settings")
    }

    fn form(name: &str) -> Vec<(String, String)> {
        [
            ("name", name),
            ("app", "Wiki"),
            ("access", "read"),
            ("days", "30"),
        ]
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .to_vec()
    }

    #[test]
    fn a_name_with_a_control_format_or_invisible_character_is_refused() {
        let s = settings();
        assert!(asked(&s, "alice", &form("nightly backup 🙂")).is_ok());
        for bad in [
            "x\u{202E}syad 1 rof Wiki ot ssecca daer\u{202C}",
            "a\u{2066}b\u{2069}",
            "zero\u{200B}width",
            "join\u{200D}ed",
            "soft\u{00AD}hyphen",
            "bom\u{FEFF}",
            "tag\u{E0041}",
            "line\u{2028}break",
            "new\nline",
            "filler\u{3164}",
        ] {
            let e = asked(&s, "alice", &form(bad)).expect_err(bad);
            // A control character is refused by the length-and-control check first.
            assert!(
                e == "form-personal-name-hidden" || e == "form-personal-name",
                "{bad:?}: {e}"
            );
        }
    }
}
