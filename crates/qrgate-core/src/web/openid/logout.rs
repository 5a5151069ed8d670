//! RP-initiated logout and the end of a sign-on family.

use super::*;
use crate::i18n::Lang;

/// `GET` or `POST {prefix}/oidc/logout`: RP-initiated logout. With an `id_token_hint` naming
/// the browser's own SSO session (or a POST from the SSO origin's own page) that session and
/// every grant of its family end; any other request gets the confirmation form. The browser goes to a `post_logout_redirect_uri` only if the client registered it
/// exactly, else it sees a page.
pub(crate) async fn end_session(gw: &Gateway, s: &Settings, r: &OidcRequest<'_>) -> Reply {
    let Some(issuer) = issuer(s) else {
        return respond::oidc_refusal(r.form.page(), &OidcRefusal::Off);
    };
    let text = if r.method == Method::POST {
        String::from_utf8_lossy(r.body).into_owned()
    } else {
        r.query.unwrap_or("").to_string()
    };
    let mut params = std::collections::HashMap::new();
    for (k, v) in url::form_urlencoded::parse(text.as_bytes()) {
        if params.insert(k.into_owned(), v.into_owned()).is_some() {
            return respond::oidc_refusal(
                r.form.page(),
                &OidcRefusal::Logout("error-logout-repeated"),
            );
        }
    }
    let hint = params.get("id_token_hint").filter(|h| !h.is_empty());
    let hinted = match hint {
        Some(h) => match gw.oidc().signer().and_then(|k| k.hint(h, &issuer)) {
            Some(found) => Some(found),
            None => {
                return respond::oidc_refusal(
                    r.form.page(),
                    &OidcRefusal::Logout("error-logout-unknown-hint"),
                )
            }
        },
        None => None,
    };
    let client_id = params.get("client_id").filter(|c| !c.is_empty());
    if let (Some(h), Some(c)) = (&hinted, client_id) {
        if h.aud != *c {
            return respond::oidc_refusal(
                r.form.page(),
                &OidcRefusal::Logout("error-logout-client-mismatch"),
            );
        }
    }
    let client = hinted
        .as_ref()
        .map(|h| h.aud.as_str())
        .or(client_id.map(String::as_str))
        .and_then(|c| s.config.oidc_client(c));
    let target = match params
        .get("post_logout_redirect_uri")
        .filter(|u| !u.is_empty())
    {
        None => None,
        Some(uri) => match client {
            Some(c) if c.post_logout_redirect_uris.iter().any(|u| u == uri) => Some(uri.clone()),
            _ => {
                return respond::oidc_refusal(
                    r.form.page(),
                    &OidcRefusal::Logout(
                        "post_logout_redirect_uri is not registered for this client.",
                    ),
                )
            }
        },
    };
    let live = match gw.session(s, r.headers, r.app).await {
        Ok(live) => live,
        Err(e) => return respond::login_error(r.form.page(), &e.into()),
    };
    let family = live.as_ref().map(|l| session_id(&l.hash));
    // A hint only says which sign-on is meant; it signs out without asking only the browser
    // holding that very sign-on. Anything else may be another site's link or a replayed ID
    // token: only a form posted from the SSO origin's own page signs out, and a GET gets
    // that form. Nothing here ends a sign-on the browser does not hold.
    let own_hint = hinted
        .as_ref()
        .is_some_and(|h| h.names_session(family.as_deref()));
    let own_post = r.method == Method::POST
        && crate::http::request::same_origin(&s.app(r.app).origin, r.headers);
    if !own_hint && !own_post {
        return confirm_logout(r.form.lang(), s, r.app, &params, client);
    }
    if let (Some(live), Some(family)) = (live, family) {
        let ended = match end_family(gw, &family).await {
            Ok(n) => n,
            Err(e) => return respond::login_error(r.form.page(), &e.into()),
        };
        let key = &live.identity.key;
        if let Err(e) = crate::control::family::end_sessions(gw, Some(key), &family, "owner").await
        {
            return respond::login_error(r.form.page(), &e.into());
        }
        if let Err(e) = gw.revoke_session(&live.hash).await {
            return respond::login_error(r.form.page(), &e.into());
        }
        audit::oidc(
            "oidc_logout",
            client.map_or("-", |c| c.id.as_str()),
            &live.identity.user,
            &family,
            &format!("{ended} grants"),
            r.client_ip,
        );
    }
    count(gw, client, "logout", "ok");
    let cleared = s.clear_session_cookies(r.app);
    let mut reply = match target {
        Some(uri) => {
            let params: Vec<(&str, &str)> = params
                .get("state")
                .map(|st| vec![("state", st.as_str())])
                .unwrap_or_default();
            let mut out = url::form_urlencoded::Serializer::new(String::new());
            for (k, v) in params {
                out.append_pair(k, v);
            }
            let query = out.finish();
            let location = if query.is_empty() {
                uri
            } else {
                let sep = if uri.contains('?') { '&' } else { '?' };
                format!("{uri}{sep}{query}")
            };
            Reply::redirect(302, location)
        }
        None => signed_out(r.form.lang(), &s.app(r.app).name),
    };
    for c in cleared {
        reply = reply.with_header("set-cookie", c);
    }
    reply
}

/// Ends a single sign-on family: every OpenID Connect grant (refresh and access tokens) that
/// came from the SSO session `family` ([`session_id`] of its token hash), each client with a
/// `backchannel_logout_uri` told in the background. The SSO session itself and, in a later
/// step, the app sessions it led to are ended by their callers.
pub(crate) async fn end_family(
    gw: &Gateway,
    family: &str,
) -> Result<usize, crate::session::StoreError> {
    gw.oidc()
        .end_family(&gw.settings().config, family, gw.clock().now_millis())
        .await
}

/// The page asking a person to confirm signing out (a logout link without an
/// `id_token_hint`): a form posting the same parameters back from the SSO origin.
fn confirm_logout(
    lang: Lang,
    s: &Settings,
    app: AppId,
    params: &std::collections::HashMap<String, String>,
    client: Option<&OidcClient>,
) -> Reply {
    let action = Route::OidcLogout.url(&s.config.server.prefix);
    let mut fields = String::new();
    // The client the hint named goes on as `client_id`, so its return address still counts;
    // the hint itself is not posted back.
    let client_id = client.map(|c| c.id.clone());
    for key in ["client_id", "post_logout_redirect_uri", "state"] {
        let v = params
            .get(key)
            .or(client_id.as_ref().filter(|_| key == "client_id"));
        if let Some(v) = v {
            fields.push_str(&format!(
                "<input type=\"hidden\" name=\"{key}\" value=\"{}\">",
                escape_html(v)
            ));
        }
    }
    let name = &s.app(app).name;
    Reply::html(
        200,
        format!(
            "<!doctype html><html lang=\"{tag}\" dir=\"{dir}\"><head><meta charset=\"utf-8\">\
             <meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">\
             <title>{title}</title></head><body><h1>{heading}</h1>\
             <form method=\"post\" action=\"{action}\">{fields}\
             <button type=\"submit\">{button}</button></form></body></html>",
            tag = lang.tag(),
            dir = lang.dir(),
            title = escape_html(&lang.text_with("logout-title", &[("app", name.into())])),
            heading = escape_html(&lang.text_with("logout-heading", &[("app", name.into())])),
            button = escape_html(&lang.text("logout-button")),
            action = escape_html(&action),
        ),
    )
}

/// The page after signing out when no client asked to be returned to.
fn signed_out(lang: Lang, name: &str) -> Reply {
    Reply::html(
        200,
        format!(
            "<!doctype html><html lang=\"{tag}\" dir=\"{dir}\"><head><meta charset=\"utf-8\">\
             <title>{title}</title></head><body><h1>{heading}</h1>\
             <p>{text}</p></body></html>",
            tag = lang.tag(),
            dir = lang.dir(),
            title = escape_html(&lang.text_with("signed-out-title", &[("app", name.into())])),
            heading = escape_html(&lang.text("signed-out-heading")),
            text = escape_html(&lang.text_with("signed-out-text", &[("app", name.into())])),
        ),
    )
}
