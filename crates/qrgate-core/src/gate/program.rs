//! A program's bearer token on a proxied request: an access token of the provider whose
//! grant names the app (`app:NAME` or `app:NAME:read`), on an app with `programs = true`.
//!
//! The token stands for the key that approved it on the phone, as that key is *now* on the
//! app (its user, roles and allow lists under the current config, a device removed or a user
//! gone counting as no one), held to the grant the phone approved: read-only for `:read`,
//! never more than the app grants a browser session.

use std::sync::Arc;

use http::HeaderMap;

use crate::config::AppId;
use crate::gate::limits::Limited;
use crate::gateway::{Gateway, LiveSession};
use crate::http::path::CanonicalPath;
use crate::identity::access::{Access, Grant};
use crate::oidc::device::AppScope;
use crate::oidc::store::{self, StoreError};
use crate::session::{SessionMeta, TokenHash};
use crate::settings::Settings;

/// The token of `Authorization: Bearer <token>` (scheme in any case), if the request has one.
pub(crate) fn bearer(headers: &HeaderMap) -> Option<&str> {
    let value = headers.get(http::header::AUTHORIZATION)?.to_str().ok()?;
    let (scheme, token) = value.split_once(' ')?;
    scheme
        .eq_ignore_ascii_case("bearer")
        .then(|| token.trim())
        .filter(|t| !t.is_empty())
}

/// Whether the request carries a bearer token of the gateway: an access token's shape
/// (`qga_…`, [`store::is_access_shaped`]) anywhere in any `Authorization` field, however
/// spelled (a second field, a tab, bytes that are not UTF-8 around it), on any app. Such a
/// header is removed before the upstream unless the app asks for it. (A bare 43-character
/// value may well be an app's own credential: it is neither recognized nor let in.)
pub(crate) fn carries_ours(headers: &HeaderMap) -> bool {
    headers
        .get_all(http::header::AUTHORIZATION)
        .iter()
        .any(|v| {
            v.as_bytes()
                .split(|b| b.is_ascii_whitespace() || *b == b',')
                .any(|word| std::str::from_utf8(word).is_ok_and(store::is_access_shaped))
        })
}

/// A program admitted by its token.
#[derive(Debug)]
pub(crate) struct Program {
    /// As a session: the identity its approving key has now, and the grant it holds here.
    pub(crate) live: LiveSession,
    /// The client that holds the token (`X-Auth-Client`).
    pub(crate) client: String,
    /// Whether the token names no app but this one: only such a token may reach the app's
    /// upstream (`forward_authorization`), which then holds nothing that opens another app.
    pub(crate) only_here: bool,
    /// Whether what it may do here depends on the path (its grant names a path prefix), so
    /// forward auth must know the original request to vouch for it.
    pub(crate) by_path: bool,
}

/// What a bearer token on a request to app `app` is.
#[derive(Debug)]
pub(crate) enum Presented {
    /// No bearer token (or the app lets no program in).
    None,
    /// A live token of ours for this app, of a key that may still use it.
    Admitted(Program),
    /// A bearer token that admits nobody here: unknown, expired, revoked, for other apps, or
    /// of a key or person no longer allowed.
    Refused,
    /// A live token over its rate (`[limits] token_per_minute`): retry later.
    Limited(Limited),
    /// A live token of this app, but for other paths of it (its grant names path prefixes
    /// that do not cover this one).
    Outside,
}

/// The grant of a token whose scope asks for the app `read_only` or not, on an app granting
/// `app_grant` to sessions: never more than either.
fn program_grant(app_grant: &Grant, read_only: bool) -> Option<Grant> {
    if read_only {
        Grant::new(Access::Read, Vec::new()).ok()
    } else {
        Some(app_grant.clone())
    }
}

/// What the bearer token of `headers` is on app `app` (a store failure is an error, never
/// "no token" and never "admitted").
pub(crate) async fn presented(
    gw: &Gateway,
    s: &Settings,
    app: AppId,
    headers: &HeaderMap,
    path: Option<&CanonicalPath>,
) -> Result<Presented, StoreError> {
    let a = s.app(app);
    let Some(token) = bearer(headers).filter(|_| a.programs) else {
        return Ok(Presented::None);
    };
    // Only an access token's shape is one of ours (an unprefixed value, from before the
    // prefix or the app's own, admits nobody as a program).
    if !store::is_access_shaped(token) {
        return Ok(Presented::Refused);
    }
    let Some(hash) = store::hash_of(token) else {
        return Ok(Presented::Refused);
    };
    match by_hash(gw, s, app, hash, path).await? {
        // Counted only once admitted: a flood of made-up tokens fills no table.
        Presented::Admitted(p) => match gw.rates().check_token(&hash) {
            Ok(()) => Ok(Presented::Admitted(p)),
            Err(l) => Ok(Presented::Limited(l)),
        },
        other => Ok(other),
    }
}

/// Whether a use of the program bearer token whose hash is `hash` is to be recorded now (at
/// most once a minute per token and instance): the time to record, if so.
pub fn use_due(gw: &Gateway, hash: &TokenHash) -> Option<u64> {
    let now_ms = gw.clock().now_millis();
    gw.program_uses()
        .due(*hash.as_bytes(), now_ms)
        .then_some(now_ms)
}

/// Records a use at `now_ms` ([`use_due`]) of the program bearer token whose hash is `hash`,
/// from `from`, on its grant (lists show when and from where a token was last used). Never
/// part of a decision: a store that cannot record it loses the note only.
pub async fn note_use(gw: &Gateway, hash: &TokenHash, now_ms: u64, from: Option<std::net::IpAddr>) {
    let from = from.map(|ip| ip.to_string()).unwrap_or_default();
    if let Err(e) = gw
        .oidc()
        .store()
        .touch(*hash.as_bytes(), now_ms, &from)
        .await
    {
        tracing::debug!(error = %e, "a program token's use not recorded");
    }
}

/// Whether the program bearer token whose hash is `hash` still lets its program into `app`
/// under the settings in force (live, its grant standing, the app still letting programs in):
/// the re-check of a long-lived response a token opened. A store that cannot answer says no.
pub async fn still_admitted(gw: &Gateway, hash: &TokenHash, app: AppId) -> bool {
    let s = gw.settings();
    if app.index() >= s.config.apps.len() {
        return false;
    }
    matches!(
        by_hash(gw, &s, app, *hash.as_bytes(), None).await,
        Ok(Presented::Admitted(_))
    )
}

/// What the bearer token whose SHA-256 is `hash` is on app `app` now, for a request to `path`
/// (`None`: any path it may reach, as the re-check of a long-lived response it let in).
pub(crate) async fn by_hash(
    gw: &Gateway,
    s: &Settings,
    app: AppId,
    hash: [u8; 32],
    path: Option<&CanonicalPath>,
) -> Result<Presented, StoreError> {
    let a = s.app(app);
    if !a.programs {
        return Ok(Presented::Refused);
    }
    let now_ms = gw.clock().now_millis();
    let Some(access) = gw.oidc().store().access(hash, now_ms).await? else {
        return Ok(Presented::Refused);
    };
    // Every app the grant names is still the app it was granted on, letting programs in
    // (the review after a reload ends a grant that fails this).
    if !crate::oidc::device::apps_stand(&s.config, &access.scope, &access.origins) {
        return Ok(Presented::Refused);
    }
    // A personal token lives no longer than the operator allows now (the review after a
    // reload ends a longer one; this holds before it runs, and across a restart).
    if !access.name.is_empty()
        && !s
            .config
            .programs
            .allows_personal_life(access.expires_ms.saturating_sub(access.created_ms))
    {
        return Ok(Presented::Refused);
    }
    // What the scope gives this app: only scopes the client may still hold (its device grant
    // allowed) count.
    let Some(client) = s.config.oidc_client(&access.client_id) else {
        return Ok(Presented::Refused);
    };
    // Every app the token names, read once: those of this app the client may still hold
    // decide here, and only a token naming no other app may reach an upstream.
    let apps: Vec<AppScope> = access
        .scope
        .iter()
        .filter_map(|w| AppScope::parse(w))
        .collect();
    let only_here = apps.iter().all(|scope| scope.app == a.name);
    let here: Vec<AppScope> = apps
        .into_iter()
        .filter(|scope| scope.app == a.name)
        .filter(|scope| crate::oidc::device::app_scope_allowed(&s.config, client, scope))
        .collect();
    let (false, Some(key)) = (
        here.is_empty(),
        access
            .family
            .strip_prefix("key:")
            .and_then(crate::raw::KeyBytes::from_hex),
    ) else {
        return Ok(Presented::Refused);
    };
    // The grant itself still stands (its client, the approving key on the SSO origin, the
    // person's subject and lists), as at every use of a grant; who cannot be told now is a
    // store failure, never a yes.
    if gw
        .grant_person(
            s,
            &access.client_id,
            &access.user,
            &access.subject,
            &access.key,
        )?
        .is_none()
    {
        return Ok(Presented::Refused);
    }
    let identity = match gw.session_identity_of(s, app, &key, None) {
        Ok(i) if i.user == access.user => i,
        _ => return Ok(Presented::Refused),
    };
    // Of the scopes for this app, those whose path prefix covers the path (spelled exactly:
    // another spelling is not the path the phone approved); the widest access among them
    // decides, read-write winning over read.
    let covering: Vec<&AppScope> = here
        .iter()
        .filter(|w| match (&w.prefix, path) {
            (Some(prefix), Some(path)) => prefix.covers(path),
            _ => true,
        })
        .collect();
    if covering.is_empty() {
        return Ok(Presented::Outside);
    }
    let read_only = covering.iter().all(|w| w.read_only);
    let Some(grant) = program_grant(&a.grant, read_only) else {
        return Ok(Presented::Refused);
    };
    Ok(Presented::Admitted(Program {
        live: LiveSession {
            hash: TokenHash::new(hash),
            identity: Arc::clone(&identity),
            // No approval is fresh enough for a step-up path: programs are refused there.
            approved_ms: 0,
            meta: Arc::new(SessionMeta {
                grant,
                protocol: "bearer".into(),
                client_ip: String::new(),
                browser: access.client_id.clone(),
                family: None,
            }),
        },
        client: access.client_id,
        only_here,
        by_path: here.iter().any(|w| w.prefix.is_some()),
    }))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn headers(auth: &str) -> HeaderMap {
        let mut h = HeaderMap::new();
        h.insert(http::header::AUTHORIZATION, auth.parse().expect("value"));
        h
    }

    #[test]
    fn a_bearer_token_is_read_in_any_case_of_the_scheme_and_only_ours_is_recognized() {
        let ours = store::mint_access();
        assert_eq!(
            bearer(&headers(&format!("Bearer {ours}"))),
            Some(ours.as_str())
        );
        assert_eq!(
            bearer(&headers(&format!("bearer  {ours} "))),
            Some(ours.as_str())
        );
        assert_eq!(bearer(&headers("Basic abc")), None);
        assert_eq!(bearer(&headers("Bearer ")), None);
        assert_eq!(bearer(&HeaderMap::new()), None);
        // An access token is recognized on every app; a bare 43-character value is not.
        assert!(carries_ours(&headers(&format!("Bearer {ours}"))));
        assert!(!carries_ours(&headers("Bearer upstream-own-token")));
        // Under any scheme: a token of ours is not let through by being mislabelled.
        assert!(carries_ours(&headers(&format!("Basic {ours}"))));
        // However the field is spelled, or if it is not the first.
        let mut two = headers("Basic dXNlcjpwYXNz");
        two.append(
            http::header::AUTHORIZATION,
            format!("Bearer {ours}").parse().expect("value"),
        );
        assert!(carries_ours(&two));
        assert!(carries_ours(&headers(&format!("Bearer\t{ours}"))));
        let mut raw = b"\xffBearer ".to_vec();
        raw.extend_from_slice(ours.as_bytes());
        let mut odd = HeaderMap::new();
        odd.insert(
            http::header::AUTHORIZATION,
            http::HeaderValue::from_bytes(&raw).expect("opaque bytes"),
        );
        assert!(carries_ours(&odd));
        let legacy = "a".repeat(43);
        assert!(!carries_ours(&headers(&format!("Bearer {legacy}"))));
        assert!(!carries_ours(&headers(&format!(
            "Bearer qga_{}",
            "a".repeat(42)
        ))));
    }

    #[test]
    fn a_program_never_gets_more_than_its_scope_or_the_app_grants() {
        let read = program_grant(&Grant::full(), true).expect("grant");
        assert!(!read.is_full());
        assert_eq!(read.to_string(), "read /");
        let app = Grant::new(Access::Read, vec![("/comments/".into(), Access::ReadWrite)])
            .expect("grant");
        assert_eq!(program_grant(&app, false), Some(app.clone()));
        assert_eq!(program_grant(&Grant::full(), false), Some(Grant::full()));
    }
}
