//! What the provider's token-issuing endpoints share (the authorization code and refresh
//! grants in [`super::openid`], the device code grant in [`super::device`]): the request as
//! the provider reads it, the issuer, counting, who a grant's person is now, and the token
//! response of a new grant.

use std::net::IpAddr;

use http::{HeaderMap, Method};

use crate::clock::millis;
use crate::config::{AppId, OidcClient};
use crate::gateway::Gateway;
use crate::oidc::claims::{self, IdClaims, Person, Profile};
use crate::oidc::store::{self, Grant, Issue};
use crate::oidc::token::{TokenError, TokenResponse};
use crate::settings::Settings;

/// One request to a provider endpoint.
pub(crate) struct OidcRequest<'a> {
    /// The SSO origin's app.
    pub app: AppId,
    /// Method.
    pub method: &'a Method,
    /// Raw query string.
    pub query: Option<&'a str>,
    /// Request headers.
    pub headers: &'a HeaderMap,
    /// Body (POST).
    pub body: &'a [u8],
    /// The client's address.
    pub client_ip: Option<IpAddr>,
    /// The form and language of answer the client prefers.
    pub form: crate::http::reply::Form,
}

/// The issuer: the SSO origin, exactly as configured.
pub(super) fn issuer(s: &Settings) -> Option<String> {
    s.config.sso.as_ref().map(|c| c.origin.to_string())
}

/// The answer of a token-issuing endpoint, counted by client and result: the JSON of what it
/// issued (never cached), or its RFC 6749 §5.2 error.
pub(super) fn reply<T: serde::Serialize>(
    gw: &Gateway,
    client: Option<&OidcClient>,
    endpoint: &str,
    result: Result<T, TokenError>,
) -> crate::http::reply::Reply {
    match result {
        Ok(answer) => {
            count(gw, client, endpoint, "ok");
            crate::http::reply::Reply::json(200, &answer).with_header("pragma", "no-cache")
        }
        Err(e) => {
            count(gw, client, endpoint, e.code());
            crate::web::respond::token_error(&e)
        }
    }
}

pub(super) fn count(gw: &Gateway, client: Option<&OidcClient>, endpoint: &str, result: &str) {
    let client = client.map_or("-", |c| c.id.as_str());
    gw.metrics()
        .oidc
        .with_label_values(&[client, endpoint, result])
        .inc();
}

/// The person of a code or grant now, if it still stands ([`Gateway::grant_person`]: the
/// approving key still theirs on the SSO origin, the same subject, the client admitting them).
pub(super) fn person_for(
    gw: &Gateway,
    s: &Settings,
    client: &OidcClient,
    user: &str,
    subject: &str,
    key: &str,
) -> Result<Person, TokenError> {
    gw.grant_person(s, &client.id, user, subject, key)?
        .ok_or(TokenError::InvalidGrant(
            "the user may no longer use this client",
        ))
}

/// The scopes of a grant `client` may still be given under the config in force
/// ([`crate::oidc::device::scope_allowed`]): an operator who withdraws a scope or an app's
/// programs withdraws it from existing grants at their next use.
pub(super) fn in_force(s: &Settings, client: &OidcClient, scope: &[String]) -> Vec<String> {
    scope
        .iter()
        .filter(|x| crate::oidc::device::scope_allowed(&s.config, client, x))
        .cloned()
        .collect()
}

pub(super) fn id_token(
    gw: &Gateway,
    issuer: &str,
    client: &OidcClient,
    grant: &Grant,
    person: &Person,
    nonce: Option<String>,
    now_ms: u64,
) -> Result<String, TokenError> {
    let iat = now_ms / 1000;
    let claims = IdClaims {
        iss: issuer.to_string(),
        aud: client.id.clone(),
        azp: client.id.clone(),
        exp: iat.saturating_add(millis(client.id_lifetime) / 1000),
        iat,
        auth_time: grant.auth_time,
        nonce,
        amr: claims::AMR,
        acr: grant.acr.clone(),
        sid: grant.family.clone(),
        profile: Profile::of(person, &grant.scope),
    };
    let signer = gw.oidc().signer().ok_or(TokenError::Server)?;
    signer.sign(client.id_token_alg, &claims).map_err(|e| {
        tracing::error!(error = %e, client = %client.id, "ID token not signed");
        TokenError::Server
    })
}

/// The token response for a new grant, and the hashes the store keeps for it.
pub(super) fn answer(
    gw: &Gateway,
    issuer: &str,
    client: &OidcClient,
    grant: &Grant,
    person: &Person,
    nonce: Option<String>,
    now_ms: u64,
) -> Result<(TokenResponse, Issue), TokenError> {
    let access_token = store::mint_access();
    // A refresh token only for a grant of `offline_access` (OpenID Connect Core §11), and
    // never when the client's refresh lifetime is 0.
    let offline = grant.scope.iter().any(|s| s == "offline_access");
    let refresh_token = (offline && !client.refresh_lifetime.is_zero()).then(store::mint);
    let access = store::hash_of(&access_token).ok_or(TokenError::Server)?;
    let refresh = match &refresh_token {
        Some(t) => Some(store::hash_of(t).ok_or(TokenError::Server)?),
        None => None,
    };
    // An ID token for a grant of `openid` (every authorization code's; a program's device
    // grant may ask for apps only).
    let id_token = match grant.scope.iter().any(|s| s == "openid") {
        true => Some(id_token(gw, issuer, client, grant, person, nonce, now_ms)?),
        false => None,
    };
    Ok((
        TokenResponse {
            access_token,
            token_type: "Bearer",
            expires_in: millis(client.access_lifetime) / 1000,
            id_token,
            refresh_token,
            scope: grant.scope.join(" "),
        },
        Issue {
            scope: grant.scope.clone(),
            refresh,
            access,
            access_expires_ms: now_ms.saturating_add(millis(client.access_lifetime)),
        },
    ))
}

/// Whether [`store_grant`] stored the grant.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Stored {
    /// Stored.
    Yes,
    /// Refused by its bound (a person's personal tokens): nothing stored.
    Full,
}

/// Keeps a new grant and its first tokens in the provider's store, the way every grant
/// enters it (or [`Stored::Full`]: its bound refuses another): through a code redeemed once (for a grant no authorization code made: a
/// program's device login, a personal token).
pub(super) async fn store_grant(
    gw: &Gateway,
    s: &Settings,
    grant: &Grant,
    issue: Issue,
    now_ms: u64,
) -> Result<Stored, TokenError> {
    let code = store::mint();
    let code_hash = store::hash_of(&code).ok_or(TokenError::Server)?;
    let stand_in = crate::oidc::store::CodeGrant {
        client_id: grant.client_id.clone(),
        redirect_uri: String::new(),
        user: grant.user.clone(),
        subject: grant.subject.clone(),
        key: grant.key.clone(),
        family: grant.family.clone(),
        scope: grant.scope.clone(),
        nonce: None,
        code_challenge: None,
        auth_time: grant.auth_time,
        acr: None,
        expires_ms: now_ms.saturating_add(60_000),
    };
    let oidc_store = gw.oidc().store();
    oidc_store.put_code(code_hash, stand_in, now_ms).await?;
    match oidc_store
        .redeem(code_hash, grant.clone(), issue, now_ms)
        .await?
    {
        crate::oidc::store::Redeemed::Issued { evicted } => {
            gw.oidc().ended(&s.config, &evicted, now_ms);
            Ok(Stored::Yes)
        }
        crate::oidc::store::Redeemed::Full => Ok(Stored::Full),
        _ => Err(TokenError::Store(
            crate::oidc::store::StoreError::Unavailable("the grant was not stored".into()),
        )),
    }
}
