//! What the provider says about a person and about itself: the ID token's claims (OpenID
//! Connect Core §2, §5.1), the userinfo answer and the discovery document (OpenID Connect
//! Discovery 1.0 §3), with the specs' field names.
//!
//! `sub` is the user's configured `subject`, by default its name: stable per user whatever
//! key or device signs in (a new phone is never a new account). What is issued carries the
//! subject it was issued for, and stops working when the name's subject is another. `amr`
//! is `["swk", "user"]` (RFC 8176): proof of possession of a software-secured key (a phone
//! app's or a browser's non-extractable key; nothing attests hardware, so not `hwk`) and a
//! user-presence test (the person approves on the phone).

use serde::Serialize;

use crate::config::{Config, OidcClient};
use crate::http::route::Route;
use crate::oidc::keys::SigningAlg;

/// `amr` of every sign-in: a software-secured key's proof of possession, approved by the
/// person present.
pub(crate) const AMR: [&str; 2] = ["swk", "user"];

/// `acr` when the client asked for a fresh approval (`prompt=login`, `max_age`) and got one.
pub(crate) const ACR_FRESH: &str = "urn:qrgate:acr:fresh-approval";

/// Who the claims are about, from the config in force.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Person {
    /// The user name (`preferred_username`, `name`).
    pub(crate) user: String,
    /// `sub`.
    pub(crate) subject: String,
    /// Roles (`groups`).
    pub(crate) roles: Vec<String>,
    /// E-mail address, if configured.
    pub(crate) email: Option<String>,
}

impl Person {
    /// The configured user named `user`, if any.
    pub(crate) fn of(config: &Config, user: &str) -> Option<Person> {
        let (_, u) = config.user_by_name(user)?;
        Some(Person {
            user: u.name.clone(),
            subject: u.subject.clone(),
            roles: u.roles.clone(),
            email: u.email.clone(),
        })
    }

    /// Whether the person may use `client` under `config`.
    pub(crate) fn admitted(config: &Config, client: &OidcClient, user: &str) -> bool {
        config
            .user_by_name(user)
            .is_some_and(|(_, u)| client.admits(u))
    }
}

/// The claims a scope set releases about a person (userinfo, and the ID token too: code
/// flow clients commonly read them there).
#[derive(Debug, Clone, Serialize, PartialEq, Eq)]
pub(crate) struct Profile {
    /// `sub`.
    pub(crate) sub: String,
    /// `name` (profile).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub(crate) name: Option<String>,
    /// `preferred_username` (profile).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub(crate) preferred_username: Option<String>,
    /// `email` (email), when configured.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub(crate) email: Option<String>,
    /// `email_verified`: the operator wrote the address in the config.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub(crate) email_verified: Option<bool>,
    /// `groups` (groups): the user's roles.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub(crate) groups: Option<Vec<String>>,
}

impl Profile {
    /// What `scope` releases about `p`.
    pub(crate) fn of(p: &Person, scope: &[String]) -> Profile {
        let has = |s: &str| scope.iter().any(|x| x == s);
        let email = if has("email") { p.email.clone() } else { None };
        Profile {
            sub: p.subject.clone(),
            name: has("profile").then(|| p.user.clone()),
            preferred_username: has("profile").then(|| p.user.clone()),
            email_verified: email.as_ref().map(|_| true),
            email,
            groups: has("groups").then(|| p.roles.clone()),
        }
    }
}

/// An ID token's claims.
#[derive(Debug, Clone, Serialize)]
pub(crate) struct IdClaims {
    /// `iss`: the SSO origin.
    pub(crate) iss: String,
    /// `aud`: the client.
    pub(crate) aud: String,
    /// `azp`: the client again (one audience).
    pub(crate) azp: String,
    /// `exp`, seconds.
    pub(crate) exp: u64,
    /// `iat`, seconds.
    pub(crate) iat: u64,
    /// `auth_time`: the last phone approval, seconds.
    pub(crate) auth_time: u64,
    /// `nonce`, as the client sent it (first ID token of a grant only).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub(crate) nonce: Option<String>,
    /// `amr`.
    pub(crate) amr: [&'static str; 2],
    /// `acr`, when a fresh approval was asked for and given.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub(crate) acr: Option<String>,
    /// `sid`: the SSO session (the family) it came from.
    pub(crate) sid: String,
    /// The profile claims.
    #[serde(flatten)]
    pub(crate) profile: Profile,
}

/// The discovery document of the provider at `issuer` (the SSO origin).
pub(crate) fn discovery(config: &Config, issuer: &str, algs: &[SigningAlg]) -> serde_json::Value {
    let base = format!("{issuer}{}", config.server.prefix);
    let algs: Vec<&str> = algs.iter().map(|a| a.as_str()).collect();
    serde_json::json!({
        "issuer": issuer,
        "authorization_endpoint": Route::OidcAuthorize.url(&base),
        "token_endpoint": Route::OidcToken.url(&base),
        "userinfo_endpoint": Route::OidcUserinfo.url(&base),
        "jwks_uri": Route::OidcJwks.url(&base),
        "end_session_endpoint": Route::OidcLogout.url(&base),
        "device_authorization_endpoint": Route::OidcDeviceAuthorization.url(&base),
        "scopes_supported": crate::config::KNOWN_SCOPES,
        "response_types_supported": ["code"],
        "response_modes_supported": ["query"],
        "grant_types_supported": ["authorization_code", "refresh_token", crate::oidc::device::GRANT_TYPE],
        "subject_types_supported": ["public"],
        "id_token_signing_alg_values_supported": algs,
        "token_endpoint_auth_methods_supported": ["client_secret_basic", "client_secret_post", "none"],
        "code_challenge_methods_supported": ["S256"],
        "claims_supported": ["sub", "iss", "aud", "exp", "iat", "auth_time", "nonce", "amr", "acr", "azp", "sid", "name", "preferred_username", "email", "email_verified", "groups"],
        "prompt_values_supported": ["none", "login"],
        "authorization_response_iss_parameter_supported": true,
        // OpenID Connect Back-Channel Logout 1.0 §2.1: clients with a
        // `backchannel_logout_uri` get a logout token with `sid` (`oidc::backchannel`).
        "backchannel_logout_supported": true,
        "backchannel_logout_session_supported": true,
        "claims_parameter_supported": false,
        "request_parameter_supported": false,
        "request_uri_parameter_supported": false,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn scopes_release_only_their_claims() {
        let p = Person {
            subject: "alice".into(),
            user: "alice".into(),
            roles: vec!["staff".into()],
            email: Some("alice@example.com".into()),
        };
        let openid = Profile::of(&p, &["openid".into()]);
        assert_eq!(
            serde_json::to_value(&openid).expect("json"),
            serde_json::json!({"sub": "alice"})
        );
        let all = Profile::of(
            &p,
            &[
                "openid".into(),
                "profile".into(),
                "email".into(),
                "groups".into(),
            ],
        );
        assert_eq!(
            serde_json::to_value(&all).expect("json"),
            serde_json::json!({"sub": "alice", "name": "alice", "preferred_username": "alice",
                "email": "alice@example.com", "email_verified": true, "groups": ["staff"]})
        );
        let no_email = Person { email: None, ..p };
        let v = serde_json::to_value(Profile::of(&no_email, &["email".into()])).expect("json");
        assert_eq!(v, serde_json::json!({"sub": "alice"}));
    }
}
