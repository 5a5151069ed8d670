//! The token endpoint's request (RFC 6749 §4.1.3, §6): its form, the client's
//! authentication (`client_secret_basic`, `client_secret_post`, or none for a public client
//! with PKCE), and its errors (§5.2), decided without I/O.

use std::collections::HashMap;

use base64::engine::general_purpose::STANDARD;
use base64::Engine;
use http::HeaderMap;
use serde::Serialize;
use sha2::{Digest, Sha256};
use subtle::ConstantTimeEq;

use crate::config::{Config, OidcClient};
use crate::session::StoreError;

/// Why a token request is refused: RFC 6749 §5.2's codes (and the two a server may add).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub(crate) enum TokenError {
    /// `invalid_request`.
    #[error("{0}")]
    InvalidRequest(&'static str),
    /// `invalid_client`; `basic` when the client tried HTTP Basic (then 401 with
    /// `WWW-Authenticate`).
    #[error("client authentication failed")]
    InvalidClient {
        /// The client used the Authorization header.
        basic: bool,
    },
    /// `invalid_grant`.
    #[error("{0}")]
    InvalidGrant(&'static str),
    /// `unauthorized_client` (RFC 6749 §5.2): the client may not use this grant (the device
    /// grant without the operator's `device = true`).
    #[error("{0}")]
    UnauthorizedClient(&'static str),
    /// `unsupported_grant_type`.
    #[error("only authorization_code, refresh_token and the device code are supported")]
    UnsupportedGrantType,
    /// `authorization_pending` (RFC 8628 §3.5): the person has not decided yet.
    #[error("the person has not approved yet")]
    AuthorizationPending,
    /// `slow_down`: polled too soon; the interval grew by 5 s.
    #[error("polled too soon: wait 5 s more between polls")]
    SlowDown,
    /// `access_denied`: the person declined on the phone.
    #[error("the person declined")]
    AccessDenied,
    /// `expired_token`: the device code's time is up.
    #[error("the device code expired")]
    ExpiredToken,
    /// `invalid_scope`.
    #[error("{0}")]
    InvalidScope(&'static str),
    /// Too many device codes are waiting, from this client or in all (429,
    /// `temporarily_unavailable`).
    #[error("too many device codes are waiting; try again later")]
    Busy,
    /// The store could not answer (`temporarily_unavailable`).
    #[error("the grant store is unavailable")]
    Store(StoreError),
    /// A token could not be signed (`server_error`).
    #[error("the ID token could not be signed")]
    Server,
}

impl From<StoreError> for TokenError {
    fn from(e: StoreError) -> Self {
        TokenError::Store(e)
    }
}

impl TokenError {
    /// The `error` code.
    pub(crate) fn code(&self) -> &'static str {
        match self {
            TokenError::InvalidRequest(_) => "invalid_request",
            TokenError::InvalidClient { .. } => "invalid_client",
            TokenError::InvalidGrant(_) => "invalid_grant",
            TokenError::UnauthorizedClient(_) => "unauthorized_client",
            TokenError::UnsupportedGrantType => "unsupported_grant_type",
            TokenError::AuthorizationPending => "authorization_pending",
            TokenError::SlowDown => "slow_down",
            TokenError::AccessDenied => "access_denied",
            TokenError::ExpiredToken => "expired_token",
            TokenError::InvalidScope(_) => "invalid_scope",
            TokenError::Store(_) | TokenError::Busy => "temporarily_unavailable",
            TokenError::Server => "server_error",
        }
    }
}

/// The JSON body of an error (RFC 6749 §5.2).
#[derive(Debug, Serialize)]
pub(crate) struct ErrorBody {
    /// The code.
    pub(crate) error: &'static str,
    /// Why, for the developer.
    pub(crate) error_description: String,
}

/// The parameters of a token request's form, each at most once.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub(crate) struct TokenRequest {
    /// `grant_type`.
    pub(crate) grant_type: String,
    /// `code`.
    pub(crate) code: Option<String>,
    /// `redirect_uri`.
    pub(crate) redirect_uri: Option<String>,
    /// `code_verifier`.
    pub(crate) code_verifier: Option<String>,
    /// `refresh_token`.
    pub(crate) refresh_token: Option<String>,
    /// `device_code` (RFC 8628 §3.4).
    pub(crate) device_code: Option<String>,
    /// `scope` (refresh: at most the original).
    pub(crate) scope: Option<String>,
    /// `client_id` in the form.
    pub(crate) client_id: Option<String>,
    /// `client_secret` in the form.
    pub(crate) client_secret: Option<String>,
}

/// Reads the form (`application/x-www-form-urlencoded`); a parameter twice is refused, and
/// so is a token request without `grant_type`.
pub(crate) fn parse(body: &[u8]) -> Result<TokenRequest, TokenError> {
    let req = parse_form(body)?;
    if req.grant_type.is_empty() {
        return Err(TokenError::InvalidRequest("grant_type is missing"));
    }
    Ok(req)
}

/// Reads a form of the token or device authorization endpoint (`grant_type` may be empty).
pub(crate) fn parse_form(body: &[u8]) -> Result<TokenRequest, TokenError> {
    let mut seen: HashMap<String, String> = HashMap::new();
    for (k, v) in url::form_urlencoded::parse(body) {
        if seen.insert(k.into_owned(), v.into_owned()).is_some() {
            return Err(TokenError::InvalidRequest(
                "a parameter is given more than once",
            ));
        }
    }
    let mut take = |k: &str| seen.remove(k).filter(|v| !v.is_empty());
    Ok(TokenRequest {
        grant_type: take("grant_type").unwrap_or_default(),
        code: take("code"),
        redirect_uri: take("redirect_uri"),
        code_verifier: take("code_verifier"),
        refresh_token: take("refresh_token"),
        device_code: take("device_code"),
        scope: take("scope"),
        client_id: take("client_id"),
        client_secret: take("client_secret"),
    })
}

/// The client a token request authenticates as: HTTP Basic (RFC 6749 §2.3.1, each part
/// form-urlencoded), or `client_id` and `client_secret` in the form, or a public client's
/// `client_id` alone. Exactly one way; secrets compared by hash in constant time.
pub(crate) fn authenticate<'c>(
    config: &'c Config,
    headers: &HeaderMap,
    req: &TokenRequest,
) -> Result<&'c OidcClient, TokenError> {
    let basic = headers.get(http::header::AUTHORIZATION);
    let (id, secret, by_basic) = match basic {
        Some(value) => {
            if req.client_secret.is_some() {
                return Err(TokenError::InvalidRequest(
                    "use one client authentication method",
                ));
            }
            let (id, secret) = basic_credentials(value.as_bytes())
                .ok_or(TokenError::InvalidClient { basic: true })?;
            if req.client_id.as_ref().is_some_and(|c| *c != id) {
                return Err(TokenError::InvalidClient { basic: true });
            }
            (id, Some(secret), true)
        }
        None => match &req.client_id {
            Some(id) => (id.clone(), req.client_secret.clone(), false),
            None => return Err(TokenError::InvalidClient { basic: false }),
        },
    };
    let refused = TokenError::InvalidClient { basic: by_basic };
    let client = config.oidc_client(&id).ok_or(refused.clone())?;
    match (&client.secret, secret) {
        (Some(hash), Some(secret)) => {
            let presented: [u8; 32] = Sha256::digest(secret.as_bytes()).into();
            if bool::from(presented.ct_eq(&hash.0)) {
                Ok(client)
            } else {
                Err(refused)
            }
        }
        // A public client sends no secret; PKCE proves it instead (checked on the code).
        (None, None) if client.is_public() => Ok(client),
        _ => Err(refused),
    }
}

fn basic_credentials(value: &[u8]) -> Option<(String, String)> {
    let text = std::str::from_utf8(value).ok()?;
    let (scheme, rest) = text.split_once(' ')?;
    if !scheme.eq_ignore_ascii_case("basic") {
        return None;
    }
    let decoded = STANDARD.decode(rest.trim()).ok()?;
    let decoded = String::from_utf8(decoded).ok()?;
    let (id, secret) = decoded.split_once(':')?;
    let unescape = |s: &str| -> Option<String> {
        percent_encoding::percent_decode_str(&s.replace('+', " "))
            .decode_utf8()
            .ok()
            .map(|c| c.into_owned())
    };
    Some((unescape(id)?, unescape(secret)?))
}

/// A successful token response (RFC 6749 §5.1, OpenID Connect Core §3.1.3.3).
#[derive(Debug, Serialize)]
pub(crate) struct TokenResponse {
    /// The opaque access token (for userinfo).
    pub(crate) access_token: String,
    /// Always `Bearer`.
    pub(crate) token_type: &'static str,
    /// Seconds until the access token expires.
    pub(crate) expires_in: u64,
    /// The signed ID token, for a grant of `openid`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub(crate) id_token: Option<String>,
    /// The next refresh token, when the client gets them.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub(crate) refresh_token: Option<String>,
    /// Granted scopes, space-separated.
    pub(crate) scope: String,
}

#[cfg(test)]
mod tests {
    use std::path::Path;

    use http::HeaderValue;

    use super::*;

    // The SHA-256 of "s3cret".
    const HASH: &str = "1ec1c26b50d5d3c58d9583181af8076655fe00756bf7285940ba3670f99fcba0";

    fn config() -> Config {
        Config::parse(
            &format!("[[app]]\nname = \"wiki\"\norigin = \"https://wiki.example.com\"\nupstream = \"127.0.0.1:3000\"\n\n[sso]\norigin = \"https://id.example.com\"\nname = \"Example\"\n\n[[oidc_client]]\nid = \"c:x\"\nsecret_hash = \"{HASH}\"\nredirect_uris = [\"https://app.example/cb\"]\n\n[[oidc_client]]\nid = \"pub\"\npublic = true\nredirect_uris = [\"http://127.0.0.1:9/cb\"]\n").replace("c:x", "conf"),
            Path::new("t.toml"),
        )
        .expect("config")
    }

    fn basic(id: &str, secret: &str) -> HeaderMap {
        let mut h = HeaderMap::new();
        let v = format!("Basic {}", STANDARD.encode(format!("{id}:{secret}")));
        h.insert(
            http::header::AUTHORIZATION,
            HeaderValue::from_str(&v).expect("v"),
        );
        h
    }

    #[test]
    fn the_form_is_read_once_per_parameter() {
        let r = parse(b"grant_type=authorization_code&code=abc&redirect_uri=https%3A%2F%2Fa%2Fcb")
            .expect("ok");
        assert_eq!(r.code.as_deref(), Some("abc"));
        assert_eq!(r.redirect_uri.as_deref(), Some("https://a/cb"));
        assert_eq!(
            parse(b"code=abc"),
            Err(TokenError::InvalidRequest("grant_type is missing"))
        );
        assert!(matches!(
            parse(b"grant_type=a&code=1&code=2"),
            Err(TokenError::InvalidRequest(_))
        ));
    }

    #[test]
    fn clients_authenticate_by_basic_by_post_or_as_public_with_nothing() {
        let c = config();
        let form = parse(b"grant_type=authorization_code").expect("form");
        assert_eq!(
            authenticate(&c, &basic("conf", "s3cret"), &form)
                .expect("basic")
                .id,
            "conf"
        );
        assert_eq!(
            authenticate(&c, &basic("conf", "wrong"), &form).err(),
            Some(TokenError::InvalidClient { basic: true })
        );
        assert_eq!(
            authenticate(&c, &basic("nobody", "s3cret"), &form).err(),
            Some(TokenError::InvalidClient { basic: true })
        );
        let post = parse(b"grant_type=authorization_code&client_id=conf&client_secret=s3cret")
            .expect("form");
        assert_eq!(
            authenticate(&c, &HeaderMap::new(), &post).expect("post").id,
            "conf"
        );
        let wrong = parse(b"grant_type=authorization_code&client_id=conf&client_secret=s3creT")
            .expect("form");
        assert_eq!(
            authenticate(&c, &HeaderMap::new(), &wrong).err(),
            Some(TokenError::InvalidClient { basic: false })
        );
        let bare = parse(b"grant_type=authorization_code&client_id=conf").expect("form");
        assert!(
            authenticate(&c, &HeaderMap::new(), &bare).is_err(),
            "a confidential client needs its secret"
        );
        let public = parse(b"grant_type=authorization_code&client_id=pub").expect("form");
        assert_eq!(
            authenticate(&c, &HeaderMap::new(), &public)
                .expect("public")
                .id,
            "pub"
        );
        assert!(
            authenticate(&c, &basic("pub", "x"), &form).is_err(),
            "a public client has no secret"
        );
        assert!(matches!(
            authenticate(&c, &basic("conf", "s3cret"), &post),
            Err(TokenError::InvalidRequest(_))
        ));
        assert_eq!(
            authenticate(&c, &HeaderMap::new(), &form).err(),
            Some(TokenError::InvalidClient { basic: false })
        );
    }

    #[test]
    fn basic_credentials_are_form_urlencoded_parts() {
        assert_eq!(
            basic_credentials(format!("Basic {}", STANDARD.encode("a%3Ab:p%20w+x")).as_bytes()),
            Some(("a:b".into(), "p w x".into()))
        );
        assert_eq!(basic_credentials(b"Bearer abc"), None);
        assert_eq!(basic_credentials(b"Basic !!!"), None);
    }
}
