//! `qrgate login` and `qrgate token`: the reference client of the device authorization grant
//! (RFC 8628). `login` finds the SSO origin's endpoints in its authorization server metadata
//! (RFC 8414), trusting only an https origin (or http on loopback) whose metadata names it as
//! the issuer and endpoints on it (`discovery`), asks for a device code for one app, draws the verification link as a QR code in
//! the terminal, polls as the RFC says (the interval, 5 s more on `slow_down`) and keeps the
//! token in a file of mode 0600 (or prints it). `token` prints a live access token from that
//! file, refreshing it first when it is about to expire.

use std::path::{Path, PathBuf};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use serde::{Deserialize, Serialize};
use serde_json::Value;

use qrgate_core::config::CLI_CLIENT;
use qrgate_core::oidc::device::{AppScope, GRANT_TYPE};

/// Why `qrgate login` or `qrgate token` failed.
#[derive(Debug, thiserror::Error)]
pub enum LoginError {
    /// The SSO origin could not be reached or answered something unexpected.
    #[error("{0}")]
    Http(String),
    /// The SSO origin given, or what its metadata names, is not to be trusted with a token
    /// (plain http to another host, another issuer, an endpoint elsewhere).
    #[error("{0}")]
    Untrusted(String),
    /// The authorization server refused (`error`, `error_description`).
    #[error("{code}: {description}")]
    Refused {
        /// RFC 6749 §5.2 / RFC 8628 §3.5 code.
        code: String,
        /// Its description.
        description: String,
    },
    /// The person declined on the phone.
    #[error("declined on the phone")]
    Denied,
    /// The device code expired before anyone approved it.
    #[error("the code expired before it was approved; run qrgate login again")]
    Expired,
    /// The token file could not be read or written.
    #[error("token file {path}: {reason}")]
    File {
        /// The file.
        path: PathBuf,
        /// What went wrong.
        reason: String,
    },
}

impl From<super::discovery::Untrusted> for LoginError {
    fn from(e: super::discovery::Untrusted) -> Self {
        LoginError::Untrusted(e.0)
    }
}

impl From<reqwest::Error> for LoginError {
    fn from(e: reqwest::Error) -> Self {
        LoginError::Http(e.to_string())
    }
}

/// What `qrgate login` asks for.
#[derive(Debug, Clone)]
pub struct LoginRequest {
    /// The SSO origin (the issuer), e.g. `https://id.example.com`.
    pub sso: String,
    /// The app's name.
    pub app: String,
    /// Read access only.
    pub read_only: bool,
    /// Only under this path prefix of the app.
    pub prefix: Option<String>,
    /// Ask for a refresh token (`offline_access`).
    pub refresh: bool,
}

/// A token as `qrgate login` keeps it.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
pub struct StoredToken {
    /// The access token (`Authorization: Bearer`).
    pub access_token: String,
    /// Seconds since the epoch when it expires.
    pub expires_at: u64,
    /// The refresh token, if one was granted.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub refresh_token: Option<String>,
    /// The granted scope.
    pub scope: String,
    /// Where to refresh it.
    pub token_endpoint: String,
    /// The SSO origin it was got from: the refresh token is sent nowhere else
    /// ([`token_endpoint_of`]). Empty in a file kept before it was recorded.
    #[serde(default)]
    pub sso: String,
}

fn now_secs() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_secs())
}

fn http() -> Result<reqwest::Client, LoginError> {
    Ok(reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .timeout(Duration::from_secs(15))
        .build()?)
}

/// Posts `form` to `url`: the JSON of a 2xx, or the server's refusal.
async fn post(c: &reqwest::Client, url: &str, form: &[(&str, &str)]) -> Result<Value, LoginError> {
    let resp = c.post(url).form(form).send().await?;
    let ok = resp.status().is_success();
    let status = resp.status();
    let body: Value = resp
        .json()
        .await
        .map_err(|_| LoginError::Http(format!("{url} answered {status} without JSON")))?;
    if ok {
        return Ok(body);
    }
    Err(LoginError::Refused {
        code: body["error"].as_str().unwrap_or("error").to_string(),
        description: body["error_description"]
            .as_str()
            .unwrap_or_default()
            .to_string(),
    })
}

/// The token response as kept, got from the SSO origin `sso`.
fn stored(body: &Value, token_endpoint: &str, sso: &str) -> Result<StoredToken, LoginError> {
    let access_token = body["access_token"]
        .as_str()
        .ok_or_else(|| LoginError::Http("the token response has no access_token".into()))?;
    Ok(StoredToken {
        access_token: access_token.to_string(),
        expires_at: now_secs().saturating_add(body["expires_in"].as_u64().unwrap_or(0)),
        refresh_token: body["refresh_token"].as_str().map(str::to_string),
        scope: body["scope"].as_str().unwrap_or_default().to_string(),
        token_endpoint: token_endpoint.to_string(),
        sso: sso.to_string(),
    })
}

/// Where a kept token's refresh token may be sent: its token endpoint, only when that is on
/// the SSO origin the token was got from (a file that names another origin, or none, sends
/// it nowhere).
fn token_endpoint_of(kept: &StoredToken) -> Result<&str, String> {
    let origin = |u: &str| url::Url::parse(u).ok().map(|u| u.origin());
    match (origin(&kept.sso), origin(&kept.token_endpoint)) {
        (Some(sso), Some(endpoint)) if sso.is_tuple() && sso == endpoint => {
            Ok(&kept.token_endpoint)
        }
        (None, _) if kept.sso.is_empty() => {
            Err("it does not name the SSO origin it came from; run qrgate login again".into())
        }
        _ => Err(format!(
            "its token endpoint {} is not on its SSO origin {}: the refresh token is not sent \
             there; run qrgate login again",
            kept.token_endpoint, kept.sso
        )),
    }
}

/// The whole device login: `show` is told the verification link, code and QR (the caller
/// prints them where the person sees them).
pub async fn login(req: &LoginRequest, show: impl Fn(&str)) -> Result<StoredToken, LoginError> {
    let sso = super::discovery::sso_origin(&req.sso)?;
    let c = http()?;
    let metadata_url = qrgate_core::http::route::Route::AuthServerMetadata
        .url(&sso.origin().ascii_serialization());
    let resp = c.get(&metadata_url).send().await?;
    if !resp.status().is_success() {
        return Err(LoginError::Http(format!(
            "{metadata_url} answered {}",
            resp.status()
        )));
    }
    let metadata: Value = resp.json().await?;
    let endpoints = super::discovery::endpoints(&sso, &metadata_url, &metadata)?;
    let (device_endpoint, token_endpoint) = (endpoints.device_authorization, endpoints.token);
    let mut scope = AppScope::token(&req.app, req.read_only, req.prefix.as_deref());
    if req.refresh {
        scope.push_str(" offline_access");
    }
    let device = post(
        &c,
        &device_endpoint,
        &[("client_id", CLI_CLIENT), ("scope", &scope)],
    )
    .await?;
    let field = |name: &str| {
        device[name]
            .as_str()
            .map(str::to_string)
            .ok_or_else(|| LoginError::Http(format!("the device authorization names no {name}")))
    };
    // The links the person is sent to are the SSO origin's too.
    let shown = |name: &str| -> Result<String, LoginError> {
        Ok(super::discovery::on_origin(&sso, name, &field(name)?)?)
    };
    let (device_code, user_code, uri) = (
        field("device_code")?,
        field("user_code")?,
        shown("verification_uri")?,
    );
    let complete = match field("verification_uri_complete") {
        Ok(_) => shown("verification_uri_complete")?,
        Err(_) => uri.clone(),
    };
    show(&format!(
        "To let this program use {} as you, open\n\n  {complete}\n\nor {uri} and enter the code {user_code}; then approve on your phone.\n\n{}",
        req.app,
        super::terminal_qr(&complete)
    ));
    let mut interval = Duration::from_secs(device["interval"].as_u64().unwrap_or(5).max(1));
    let deadline = now_secs().saturating_add(device["expires_in"].as_u64().unwrap_or(600));
    loop {
        tokio::time::sleep(interval).await;
        let answer = post(
            &c,
            &token_endpoint,
            &[
                ("grant_type", GRANT_TYPE),
                ("device_code", &device_code),
                ("client_id", CLI_CLIENT),
            ],
        )
        .await;
        match answer {
            Ok(body) => return stored(&body, &token_endpoint, &sso.origin().ascii_serialization()),
            Err(LoginError::Refused { code, .. }) if code == "authorization_pending" => {}
            Err(LoginError::Refused { code, .. }) if code == "slow_down" => {
                interval = interval.saturating_add(Duration::from_secs(5));
            }
            Err(LoginError::Refused { code, .. }) if code == "access_denied" => {
                return Err(LoginError::Denied)
            }
            Err(LoginError::Refused { code, .. }) if code == "expired_token" => {
                return Err(LoginError::Expired)
            }
            Err(e) => return Err(e),
        }
        if now_secs() > deadline {
            return Err(LoginError::Expired);
        }
    }
}

/// Where a token for `app` is kept by default: `$XDG_CONFIG_HOME/qrgate/tokens/<app>.json`
/// (or `~/.config/…`), the app's name form-urlencoded.
pub fn default_path(app: &str) -> Option<PathBuf> {
    let base = std::env::var_os("XDG_CONFIG_HOME")
        .map(PathBuf::from)
        .filter(|p| p.is_absolute())
        .or_else(|| std::env::var_os("HOME").map(|h| PathBuf::from(h).join(".config")))?;
    let name: String = url::form_urlencoded::byte_serialize(app.as_bytes()).collect();
    Some(
        base.join("qrgate")
            .join("tokens")
            .join(format!("{name}.json")),
    )
}

/// Keeps `token` at `path`, mode 0600 (its folder made 0700 if missing).
pub fn save(path: &Path, token: &StoredToken) -> Result<(), LoginError> {
    let fail = |reason: String| LoginError::File {
        path: path.to_path_buf(),
        reason,
    };
    if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
        use std::os::unix::fs::DirBuilderExt;
        std::fs::DirBuilder::new()
            .recursive(true)
            .mode(0o700)
            .create(dir)
            .map_err(|e| fail(e.to_string()))?;
    }
    let json = serde_json::to_vec_pretty(token).map_err(|e| fail(e.to_string()))?;
    crate::files::private_file::write(path, &json).map_err(|e| fail(e.to_string()))
}

/// A live access token from the file at `path`, refreshed (and the file rewritten) when it
/// expires within a minute. Runs under the file's lock, reading it only once locked: two
/// runs at once refresh once, the second finding the renewed token (a refresh token
/// presented twice would be reuse, which ends the grant). The file and its lock are used
/// only if nobody else could have changed them (this user's or root's, and the file private
/// as the admin token's must be): another user's file would make the scripts act with their
/// token, or send the refresh token where they chose.
pub async fn token(path: &Path) -> Result<String, LoginError> {
    use crate::files::private_file::{read_guarded, Guard};
    let fail = |reason: String| LoginError::File {
        path: path.to_path_buf(),
        reason,
    };
    let _locked = crate::files::key_file::lock_guarded(path, Guard::Trusted)
        .map_err(|e| fail(format!("its lock file: {e}")))?;
    let text = read_guarded(path, Guard::Secret, 1 << 16)
        .map_err(|e| fail(e.to_string()))?
        .ok_or_else(|| fail("no such file; run qrgate login".into()))?;
    let kept: StoredToken = serde_json::from_str(&text).map_err(|e| fail(e.to_string()))?;
    if kept.expires_at > now_secs().saturating_add(60) {
        return Ok(kept.access_token);
    }
    let Some(refresh) = &kept.refresh_token else {
        return Err(fail(
            "the token expired and has no refresh token; run qrgate login again".into(),
        ));
    };
    let endpoint = token_endpoint_of(&kept).map_err(fail)?;
    let body = post(
        &http()?,
        endpoint,
        &[
            ("grant_type", "refresh_token"),
            ("refresh_token", refresh),
            ("client_id", CLI_CLIENT),
        ],
    )
    .await?;
    let renewed = stored(&body, endpoint, &kept.sso)?;
    save(path, &renewed)?;
    Ok(renewed.access_token)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn kept(sso: &str, token_endpoint: &str) -> StoredToken {
        StoredToken {
            access_token: "qga_x".into(),
            expires_at: 0,
            refresh_token: Some("r".into()),
            scope: "app:Wiki".into(),
            token_endpoint: token_endpoint.into(),
            sso: sso.into(),
        }
    }

    #[test]
    fn a_refresh_token_goes_only_to_the_token_endpoint_on_the_sso_origin_saved_at_login() {
        let ok = "https://id.example.com/.qrgate/oidc/token";
        assert_eq!(
            token_endpoint_of(&kept("https://id.example.com", ok)),
            Ok(ok)
        );
        assert_eq!(
            token_endpoint_of(&kept("https://ID.example.com:443/", ok)),
            Ok(ok),
            "the same origin, spelled otherwise"
        );
        for (sso, endpoint) in [
            (
                "https://id.example.com",
                "https://evil.example/.qrgate/oidc/token",
            ),
            (
                "https://id.example.com",
                "http://id.example.com/.qrgate/oidc/token",
            ),
            (
                "https://id.example.com",
                "https://id.example.com:8443/token",
            ),
            (
                "https://id.example.com",
                "https://id.example.com.evil.example/token",
            ),
            ("https://id.example.com", "not a url"),
            ("https://id.example.com", "data:text/plain,x"),
            ("", ok),
            ("not a url", ok),
        ] {
            assert!(
                token_endpoint_of(&kept(sso, endpoint)).is_err(),
                "{sso} {endpoint}"
            );
        }
    }
}
