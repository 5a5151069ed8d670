//! The token endpoint (authorization code and refresh grants; the device code grant is
//! `web::device`) and userinfo.

use super::*;

/// `POST {prefix}/oidc/token`.
pub(crate) async fn token(gw: &Gateway, s: &Settings, r: &OidcRequest<'_>) -> Reply {
    let mut client = None;
    let result = token_grant(gw, s, r, &mut client).await;
    crate::web::tokens::reply(gw, client, "token", result)
}

async fn token_grant<'s>(
    gw: &Gateway,
    s: &'s Settings,
    r: &OidcRequest<'_>,
    authenticated: &mut Option<&'s OidcClient>,
) -> Result<TokenResponse, TokenError> {
    let Some(issuer) = issuer(s) else {
        return Err(TokenError::InvalidRequest("no provider is configured"));
    };
    let req = token::parse(r.body)?;
    let client = token::authenticate(&s.config, r.headers, &req)?;
    *authenticated = Some(client);
    match req.grant_type.as_str() {
        "authorization_code" => redeem(gw, s, r, &issuer, client, &req).await,
        "refresh_token" => refresh(gw, s, r, &issuer, client, &req).await,
        _ => Err(TokenError::UnsupportedGrantType),
    }
}

async fn redeem(
    gw: &Gateway,
    s: &Settings,
    r: &OidcRequest<'_>,
    issuer: &str,
    client: &OidcClient,
    req: &TokenRequest,
) -> Result<TokenResponse, TokenError> {
    let bad = TokenError::InvalidGrant("the code is invalid, expired, used, or not this client's");
    let hash = req
        .code
        .as_deref()
        .and_then(store::hash_of)
        .ok_or(TokenError::InvalidRequest("code is missing or malformed"))?;
    let now_ms = gw.clock().now_millis();
    let oidc_store = gw.oidc().store();
    let found = oidc_store.code(hash, now_ms).await?;
    let code = match found {
        Some(c) => c,
        // Used already: redeeming it again revokes what it issued (RFC 6749 §4.1.2).
        None => {
            // Only the code's own client's replay revokes: anyone else who saw the code
            // presenting it is just refused.
            if let Some(replay) = oidc_store.replayed(hash, &client.id).await? {
                audit::oidc(
                    "oidc_code_reuse",
                    &client.id,
                    "-",
                    &replay.grant_id,
                    "grant revoked",
                    r.client_ip,
                );
                gw.oidc().ended(&s.config, replay.ended.as_slice(), now_ms);
                count(gw, Some(client), "token", "code_reuse");
            }
            return Err(bad);
        }
    };
    if code.client_id != client.id {
        return Err(bad);
    }
    if req.redirect_uri.as_deref() != Some(code.redirect_uri.as_str()) {
        return Err(TokenError::InvalidGrant(
            "redirect_uri differs from the authorization request's",
        ));
    }
    match (&code.code_challenge, &req.code_verifier) {
        (Some(challenge), Some(verifier)) if authorize::verifier_matches(verifier, challenge) => {}
        (Some(_), _) => {
            return Err(TokenError::InvalidGrant(
                "the PKCE code_verifier does not match",
            ))
        }
        (None, Some(_)) => {
            return Err(TokenError::InvalidGrant(
                "no PKCE challenge was sent for this code",
            ))
        }
        (None, None) if client.is_public() => {
            return Err(TokenError::InvalidGrant("a public client must use PKCE"))
        }
        (None, None) => {}
    }
    let person = person_for(gw, s, client, &code.user, &code.subject, &code.key)?;
    let grant = Grant {
        id: hex::encode(crate::random_bytes::<12>()),
        client_id: client.id.clone(),
        user: code.user.clone(),
        subject: code.subject.clone(),
        key: code.key.clone(),
        family: code.family.clone(),
        scope: in_force(s, client, &code.scope),
        auth_time: code.auth_time,
        acr: code.acr.clone(),
        // The grant outlives its first access token even without refresh tokens
        // (`refresh_token_lifetime_seconds = 0`), in every store alike.
        expires_ms: now_ms
            .saturating_add(millis(client.refresh_lifetime.max(client.access_lifetime))),
        created_ms: now_ms,
        name: String::new(),
        from: r.client_ip.map(|ip| ip.to_string()).unwrap_or_default(),
        // A client's own scopes name no app (`KNOWN_SCOPES`).
        origins: Vec::new(),
        last_used_ms: 0,
        last_from: String::new(),
    };
    let (answer, issue) = answer(
        gw,
        issuer,
        client,
        &grant,
        &person,
        code.nonce.clone(),
        now_ms,
    )?;
    match oidc_store
        .redeem(hash, grant.clone(), issue, now_ms)
        .await?
    {
        Redeemed::Issued { evicted } => {
            gw.oidc().ended(&s.config, &evicted, now_ms);
            audit::oidc(
                "oidc_grant",
                &client.id,
                &grant.user,
                &grant.id,
                &grant.family,
                r.client_ip,
            );
            Ok(answer)
        }
        Redeemed::Reused { grant_id, ended } => {
            gw.oidc().ended(&s.config, ended.as_slice(), now_ms);
            audit::oidc(
                "oidc_code_reuse",
                &client.id,
                &grant.user,
                &grant_id.unwrap_or_default(),
                "grant revoked",
                r.client_ip,
            );
            Err(bad)
        }
        Redeemed::Unknown | Redeemed::Full => Err(bad),
    }
}

async fn refresh(
    gw: &Gateway,
    s: &Settings,
    r: &OidcRequest<'_>,
    issuer: &str,
    client: &OidcClient,
    req: &TokenRequest,
) -> Result<TokenResponse, TokenError> {
    let presented = req
        .refresh_token
        .as_deref()
        .and_then(store::hash_of)
        .ok_or(TokenError::InvalidRequest(
            "refresh_token is missing or malformed",
        ))?;
    let now_ms = gw.clock().now_millis();
    let oidc_store = gw.oidc().store();
    // Everything about the request is checked before the one step that rotates: a refused
    // refresh leaves the presented token current (RFC 6749 §6; bad input changes nothing).
    // A rotated-out token goes straight to that step, which revokes its grant.
    let checked = match oidc_store
        .peek_refresh(presented, &client.id, now_ms)
        .await?
    {
        None => {
            return Err(TokenError::InvalidGrant(
                "the refresh token is invalid or expired",
            ))
        }
        Some((grant, true)) => {
            let scope = in_force(s, client, &narrowed(&grant.scope, req.scope.as_deref())?);
            // A grant that no longer stands (its key no longer the person's on the SSO
            // origin, the person shut out, the name someone else's) or whose client may no
            // longer refresh (`offline_access` withdrawn) is refused here and ends.
            // So does one naming an app that no longer lets programs in, or no longer is
            // the app it was granted on.
            let standing = person_for(gw, s, client, &grant.user, &grant.subject, &grant.key)
                .and_then(
                    |p| match client.scopes.iter().any(|x| x == "offline_access") {
                        true => Ok(p),
                        false => Err(TokenError::InvalidGrant(
                            "the client may no longer refresh grants",
                        )),
                    },
                )
                .and_then(|p| {
                    match crate::oidc::device::apps_stand(&s.config, &grant.scope, &grant.origins) {
                        true => Ok(p),
                        false => Err(TokenError::InvalidGrant(
                            "an app of this grant no longer lets programs in",
                        )),
                    }
                });
            let person = match standing {
                Ok(p) => p,
                Err(e) => {
                    let ended = oidc_store.revoke_grant(&grant.id).await?;
                    gw.oidc().ended(&s.config, ended.as_slice(), now_ms);
                    return Err(e);
                }
            };
            let shown = Grant {
                scope: scope.clone(),
                ..grant.clone()
            };
            let id_token = match scope.iter().any(|s| s == "openid") {
                true => Some(id_token(gw, issuer, client, &shown, &person, None, now_ms)?),
                false => None,
            };
            Some((grant, scope, id_token))
        }
        Some((_, false)) => None,
    };
    let next_refresh = store::mint();
    let next_access = store::mint_access();
    let (Some(refresh_hash), Some(access_hash)) =
        (store::hash_of(&next_refresh), store::hash_of(&next_access))
    else {
        return Err(TokenError::Server);
    };
    // An access token never outlives its grant: near the grant's end it is given what is
    // left, and `expires_in` says so.
    let access_expires_ms = checked.as_ref().map_or(now_ms, |c| {
        now_ms
            .saturating_add(millis(client.access_lifetime))
            .min(c.0.expires_ms)
    });
    let issue = Issue {
        scope: checked.as_ref().map(|c| c.1.clone()).unwrap_or_default(),
        refresh: Some(refresh_hash),
        access: access_hash,
        access_expires_ms,
    };
    let rotated = oidc_store
        .refresh(presented, &client.id, issue, now_ms)
        .await?;
    let (grant, scope, id_token) = match (rotated, checked) {
        (Refreshed::Rotated(g), Some(c)) if g.id == c.0.id => c,
        (Refreshed::Reused { grant_id, ended }, _) => {
            gw.oidc().ended(&s.config, ended.as_slice(), now_ms);
            audit::oidc(
                "oidc_refresh_reuse",
                &client.id,
                "-",
                &grant_id,
                "grant revoked",
                r.client_ip,
            );
            count(gw, Some(client), "token", "refresh_reuse");
            return Err(TokenError::InvalidGrant(
                "the refresh token was used before; its grant is revoked",
            ));
        }
        // Unknown, or a rotation that was not the one checked (a race with another
        // instance): nothing is handed out.
        _ => {
            return Err(TokenError::InvalidGrant(
                "the refresh token is invalid or expired",
            ))
        }
    };
    audit::oidc(
        "oidc_refresh",
        &client.id,
        &grant.user,
        &grant.id,
        "",
        r.client_ip,
    );
    Ok(TokenResponse {
        access_token: next_access,
        token_type: "Bearer",
        expires_in: access_expires_ms.saturating_sub(now_ms) / 1000,
        id_token,
        refresh_token: Some(next_refresh),
        scope: scope.join(" "),
    })
}

/// The scopes a refresh asks for (`requested`, space-separated; none: the grant's own):
/// a non-empty subset of the grant's (RFC 6749 §6), or `invalid_scope`. A grant of OpenID
/// Connect's keeps `openid` (its tokens stay an OpenID Connect session's); a program's grant
/// of apps, which never had it, narrows without it.
fn narrowed(granted: &[String], requested: Option<&str>) -> Result<Vec<String>, TokenError> {
    let Some(requested) = requested else {
        return Ok(granted.to_vec());
    };
    let asked: Vec<&str> = requested.split(' ').filter(|x| !x.is_empty()).collect();
    if asked.iter().any(|x| !granted.iter().any(|g| g == x)) {
        return Err(TokenError::InvalidScope(
            "a refresh cannot widen the grant's scope",
        ));
    }
    if asked.is_empty() {
        return Err(TokenError::InvalidScope("ask for at least one scope"));
    }
    if granted.iter().any(|g| g == "openid") && !asked.contains(&"openid") {
        return Err(TokenError::InvalidScope(
            "the openid scope is required: the grant has it",
        ));
    }
    Ok(granted
        .iter()
        .filter(|g| asked.contains(&g.as_str()))
        .cloned()
        .collect())
}

/// `GET` or `POST {prefix}/oidc/userinfo` with a Bearer access token.
pub(crate) async fn userinfo(gw: &Gateway, s: &Settings, r: &OidcRequest<'_>) -> Reply {
    let presented = r
        .headers
        .get(http::header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| {
            let (scheme, token) = v.split_once(' ')?;
            scheme.eq_ignore_ascii_case("bearer").then(|| token.trim())
        })
        .and_then(store::hash_of);
    let Some(hash) = presented else {
        count(gw, None, "userinfo", "no_token");
        return respond::oidc_refusal(r.form.json(), &OidcRefusal::Bearer { present: false });
    };
    let access = match gw
        .oidc()
        .store()
        .access(hash, gw.clock().now_millis())
        .await
    {
        Ok(Some(a)) => a,
        Ok(None) => {
            count(gw, None, "userinfo", "invalid_token");
            return respond::oidc_refusal(r.form.json(), &OidcRefusal::Bearer { present: true });
        }
        Err(e) => return respond::login_error(r.form.json(), &e.into()),
    };
    let client = s.config.oidc_client(&access.client_id);
    let Some(client) = client else {
        count(gw, None, "userinfo", "invalid_token");
        return respond::oidc_refusal(r.form.json(), &OidcRefusal::Bearer { present: true });
    };
    let person = match gw.grant_person(s, &client.id, &access.user, &access.subject, &access.key) {
        Ok(person) => person,
        // Who the key is cannot be told now: refused, nothing ended.
        Err(e) => return respond::login_error(r.form.json(), &e.into()),
    };
    let Some(person) = person else {
        // The grant no longer stands (a removed device, a person shut out): it ends now,
        // and its client is told.
        match gw.oidc().store().revoke_grant(&access.grant_id).await {
            Ok(ended) => gw
                .oidc()
                .ended(&s.config, ended.as_slice(), gw.clock().now_millis()),
            Err(e) => return respond::login_error(r.form.json(), &e.into()),
        }
        count(gw, Some(client), "userinfo", "invalid_token");
        return respond::oidc_refusal(r.form.json(), &OidcRefusal::Bearer { present: true });
    };
    // Userinfo is OpenID Connect's: a token granted for apps only gets nothing here.
    if !access.scope.iter().any(|s| s == "openid") {
        count(gw, Some(client), "userinfo", "insufficient_scope");
        return respond::oidc_refusal(r.form.json(), &OidcRefusal::InsufficientScope);
    }
    count(gw, Some(client), "userinfo", "ok");
    Reply::json(
        200,
        &Profile::of(&person, &in_force(s, client, &access.scope)),
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    fn scopes(s: &str) -> Vec<String> {
        s.split(' ').map(String::from).collect()
    }

    #[test]
    fn a_refresh_narrows_an_openid_grant_keeping_openid_and_a_programs_grant_without_it() {
        let oidc = scopes("openid profile email offline_access");
        assert_eq!(narrowed(&oidc, None).expect("all"), oidc);
        assert_eq!(
            narrowed(&oidc, Some("openid email")).expect("narrowed"),
            scopes("openid email")
        );
        assert!(
            matches!(
                narrowed(&oidc, Some("email")),
                Err(TokenError::InvalidScope(_))
            ),
            "an OpenID Connect grant keeps openid"
        );
        let program = scopes("app:Wiki app:Mail:read offline_access");
        assert_eq!(
            narrowed(&program, Some("app:Wiki")).expect("narrowed"),
            scopes("app:Wiki")
        );
        assert_eq!(
            narrowed(&program, Some("offline_access app:Mail:read")).expect("narrowed"),
            scopes("app:Mail:read offline_access"),
            "in the grant's order"
        );
        for (granted, bad) in [
            (&program, "app:Wiki openid"),
            (&program, "app:Wiki:read"),
            (&program, ""),
            (&program, "  "),
            (&oidc, ""),
            (&oidc, "openid groups"),
        ] {
            assert!(
                matches!(
                    narrowed(granted, Some(bad)),
                    Err(TokenError::InvalidScope(_))
                ),
                "{bad:?} of {granted:?}"
            );
        }
    }
}
