//! The device authorization grant (RFC 8628): a program asks for a device code and a user
//! code, the person opens the verification page with the user code and approves on their
//! phone, and the program's polls of the token endpoint answer `authorization_pending`,
//! `slow_down`, `access_denied`, `expired_token` or, once, the grant.
//!
//! This module holds the pure parts (user codes, the scopes a program may ask for; what the
//! phone shows is `login::signers::program`'s) and the [`DeviceCodes`] seam where device codes wait, with the memory store.
//! Both codes are kept by their SHA-256 only. Each step that decides something is one atomic
//! step of the store: a code is approved or denied once, and an approval is handed out once.

use std::collections::HashMap;
use std::sync::Mutex;
use std::time::Duration;

use async_trait::async_trait;
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

use super::store::{Hash, StoreError};

mod guesses;

use crate::config::{Config, OidcClient};
use crate::http::path::OpeningPrefix;
pub(crate) use guesses::{Budget, Guesses};

/// The characters of a user code: consonants only, no vowels (no words), no look-alikes
/// (RFC 8628 §6.1).
pub const USER_CODE_ALPHABET: &[u8; 20] = b"BCDFGHJKLMNPQRSTVWXZ";
/// Characters in a user code (20^8: about 2^34.6 codes).
pub const USER_CODE_LEN: usize = 8;
/// What `slow_down` adds to a device code's interval (RFC 8628 §3.5).
pub const SLOW_DOWN_MS: u64 = 5_000;
/// The `grant_type` of a device code's token request (RFC 8628 §3.4).
pub const GRANT_TYPE: &str = "urn:ietf:params:oauth:grant-type:device_code";

/// A fresh user code, normalized (8 characters of [`USER_CODE_ALPHABET`]).
pub(crate) fn new_user_code() -> String {
    let mut code = String::with_capacity(USER_CODE_LEN);
    while code.len() < USER_CODE_LEN {
        for b in crate::random_bytes::<16>() {
            // 240 = 12 × 20: taking only bytes below it keeps every character equally likely.
            if b < 240 && code.len() < USER_CODE_LEN {
                code.push(char::from(USER_CODE_ALPHABET[usize::from(b % 20)]));
            }
        }
    }
    code
}

/// A normalized user code as people read it: `BCDF-GHJK`.
pub(crate) fn shown_user_code(code: &str) -> String {
    match (code.get(..4), code.get(4..)) {
        (Some(a), Some(b)) if !b.is_empty() => format!("{a}-{b}"),
        _ => code.to_string(),
    }
}

/// A user code as typed: case, dashes and spaces do not matter. `None` unless it is
/// [`USER_CODE_LEN`] characters of the alphabet.
pub(crate) fn normalize_user_code(typed: &str) -> Option<String> {
    let code: String = typed
        .chars()
        .filter(|c| *c != '-' && !c.is_whitespace())
        .map(|c| c.to_ascii_uppercase())
        .collect();
    (code.len() == USER_CODE_LEN && code.bytes().all(|b| USER_CODE_ALPHABET.contains(&b)))
        .then_some(code)
}

/// The hash the store keeps of a normalized user code.
pub(crate) fn user_code_hash(normalized: &str) -> Hash {
    Sha256::digest(normalized.as_bytes()).into()
}

/// An app a program asks for in its scope: `app:NAME` (read-write) or `app:NAME:read`, the
/// name percent-encoded (a scope token has no spaces: `app:Test%20app`), optionally only
/// under a path prefix: `app:Wiki:read:/api/` (the path percent-encoded where it must be).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AppScope {
    /// The app's name.
    pub app: String,
    /// Only reads (`GET`, `HEAD`, `OPTIONS`).
    pub read_only: bool,
    /// Only under this path prefix (canonical, spelled exactly); the whole app when `None`.
    pub prefix: Option<OpeningPrefix>,
}

/// Characters escaped in a scope's path: what would end the scope word or the part, and `%`.
const SCOPE_PATH: &percent_encoding::AsciiSet = &percent_encoding::CONTROLS
    .add(b' ')
    .add(b'%')
    .add(b':')
    .add(b'"')
    .add(b'\\')
    .add(b'#')
    .add(b'?')
    .add(0x7F);

impl AppScope {
    /// The app scope `scope` is, if it is one (a path that is no canonical prefix makes it
    /// none).
    pub fn parse(scope: &str) -> Option<AppScope> {
        let rest = scope.strip_prefix("app:")?;
        let mut parts = rest.split(':');
        let encoded = parts.next()?;
        let (mut read_only, mut prefix) = (false, None);
        let mut next = parts.next();
        if next == Some("read") {
            read_only = true;
            next = parts.next();
        }
        if let Some(path) = next {
            let path = percent_encoding::percent_decode_str(path)
                .decode_utf8()
                .ok()?;
            if !path.starts_with('/') {
                return None;
            }
            let canonical = OpeningPrefix::new(&path).ok()?;
            // Only a prefix written as it is canonically: what the phone shows is what holds.
            if canonical.as_str() != path {
                return None;
            }
            prefix = Some(canonical);
        }
        if parts.next().is_some() {
            return None;
        }
        let app = percent_encoding::percent_decode_str(encoded)
            .decode_utf8()
            .ok()?
            .into_owned();
        (!app.is_empty()).then_some(AppScope {
            app,
            read_only,
            prefix,
        })
    }

    /// The scope token asking for `app` (read-only or read-write), under `prefix` if given.
    pub fn token(app: &str, read_only: bool, prefix: Option<&str>) -> String {
        let name = percent_encoding::utf8_percent_encode(app, percent_encoding::NON_ALPHANUMERIC);
        let path = prefix
            .map(|p| format!(":{}", percent_encoding::utf8_percent_encode(p, SCOPE_PATH)))
            .unwrap_or_default();
        format!("app:{name}{}{path}", if read_only { ":read" } else { "" })
    }
}

/// Each app `scope` names under `config`, as its origin and name (`"https://wiki.example.com
/// Wiki"`): what a grant records ([`crate::oidc::store::Grant::origins`]). The pair, not the
/// origin alone: two apps of one grant trading names are not the apps it was granted on.
pub(crate) fn app_origins(config: &Config, scope: &[String]) -> Vec<String> {
    let mut origins: Vec<String> = scope
        .iter()
        .filter_map(|s| AppScope::parse(s))
        .filter_map(|a| config.app_by_name(&a.app))
        .map(|id| app_at(config, id))
        .collect();
    origins.sort();
    origins.dedup();
    origins
}

/// An app as a grant records it: its origin and its name.
fn app_at(config: &Config, id: crate::config::AppId) -> String {
    let app = config.app(id);
    format!("{} {}", app.origin, app.name)
}

/// Whether every app `scope` names is still in force as the app it was granted on: configured
/// under that name, letting programs in, at an origin the grant recorded (`origins`). Asked at
/// every use of a token and by the review after a reload, which ends a grant once it fails:
/// withdrawing an app's programs or its name ends its grants, they do not come back with it.
pub(crate) fn apps_stand(config: &Config, scope: &[String], origins: &[String]) -> bool {
    scope.iter().filter_map(|s| AppScope::parse(s)).all(|a| {
        config
            .app_by_name(&a.app)
            .is_some_and(|id| config.app(id).programs && origins.contains(&app_at(config, id)))
    })
}

/// Why a program's scope is refused (`invalid_scope`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct BadScope(pub(crate) &'static str);

/// Whether `client` may be given scope `word` under `config` now: one of the client's own
/// scopes, or, for a client the operator lets use the device grant (`device = true`), an app
/// that lets programs in (`programs = true`). Asked at every grant and at every use of one,
/// so a scope, an app or a client's device grant withdrawn is withdrawn from existing grants
/// too.
pub(crate) fn scope_allowed(config: &Config, client: &OidcClient, word: &str) -> bool {
    match AppScope::parse(word) {
        Some(a) => app_scope_allowed(config, client, &a),
        None => client.scopes.iter().any(|s| s == word),
    }
}

/// [`scope_allowed`] for a scope already read as an app's.
pub(crate) fn app_scope_allowed(config: &Config, client: &OidcClient, a: &AppScope) -> bool {
    client.device
        && config
            .app_by_name(&a.app)
            .is_some_and(|id| config.app(id).programs)
}

/// The scopes a program may be granted for `requested` (space-separated): the client's own
/// scopes, and apps that let programs in (`programs = true`), each at most once. Anything
/// else, or nothing at all, is refused.
pub(crate) fn requested_scope(
    config: &Config,
    client: &OidcClient,
    requested: Option<&str>,
) -> Result<Vec<String>, BadScope> {
    let mut out: Vec<String> = Vec::new();
    for word in requested.unwrap_or("").split(' ').filter(|w| !w.is_empty()) {
        if !scope_allowed(config, client, word) {
            return Err(BadScope(
                "a scope is neither the client's nor an app that lets programs in",
            ));
        }
        if !out.iter().any(|s| s == word) {
            out.push(word.to_string());
        }
    }
    if out.is_empty() {
        return Err(BadScope("ask for at least one app (app:NAME) or openid"));
    }
    Ok(out)
}

/// How long a grant of `scope` at `client` lasts: its refresh tokens' life with
/// `offline_access`, else one access token's; never less than its first access token's, so
/// no token outlives the grant that lists and revokes it.
pub(crate) fn grant_lifetime(client: &OidcClient, scope: &[String]) -> Duration {
    if scope.iter().any(|s| s == "offline_access") && !client.refresh_lifetime.is_zero() {
        client.refresh_lifetime.max(client.access_lifetime)
    } else {
        client.access_lifetime
    }
}

/// The family of the grants a key approved for programs (`key:` and the key in hex): no SSO
/// session made them, and ending this family ends them all.
pub fn key_family(key_hex: &str) -> String {
    format!("key:{key_hex}")
}

/// What a device code stands for while it waits.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct DeviceRequest {
    /// The client that asked.
    pub client_id: String,
    /// The scopes it asked for (already checked).
    pub scope: Vec<String>,
    /// Where it asked from, as shown to the person.
    pub client_ip: String,
    /// The code expires then, ms since the epoch.
    pub expires_ms: u64,
    /// The least time between two polls, ms (grows by [`SLOW_DOWN_MS`] on `slow_down`).
    pub interval_ms: u64,
}

/// A person's approval of a device code.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct DeviceApproval {
    /// The user who approved.
    pub user: String,
    /// Their `sub` then.
    pub subject: String,
    /// The approving key (hex): what it approved ends with it.
    pub key: String,
    /// The approval, seconds since the epoch (`auth_time`).
    pub auth_time: u64,
}

/// What a poll of the token endpoint finds (RFC 8628 §3.5).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Poll {
    /// Not decided yet: `authorization_pending`.
    Pending,
    /// Polled sooner than the interval: `slow_down` (the interval grew by 5 s).
    SlowDown,
    /// The person declined: `access_denied` (the code is gone after this answer).
    Denied,
    /// The code's time is up: `expired_token`.
    Expired,
    /// No such code, or another client's: `invalid_grant`.
    Unknown,
    /// Approved: the request and approval, handed out this once (the code is gone).
    Approved(DeviceRequest, DeviceApproval),
}

/// Where device codes wait. Every step that decides is atomic, on every instance.
#[async_trait]
pub trait DeviceCodes: Send + Sync + 'static {
    /// Keeps a new device code under its user code; `false` (nothing kept) when that user
    /// code is in use already (the caller makes another).
    async fn put(
        &self,
        device: Hash,
        user_code: Hash,
        request: DeviceRequest,
        now_ms: u64,
    ) -> Result<bool, StoreError>;
    /// The device code a user code names, while it is live and undecided (changes nothing).
    async fn pending(
        &self,
        user_code: Hash,
        now_ms: u64,
    ) -> Result<Option<(Hash, DeviceRequest)>, StoreError>;
    /// In one step: approves (`Some`) or denies (`None`) a live, undecided device code;
    /// `false` if it was not one.
    async fn decide(
        &self,
        device: Hash,
        verdict: Option<DeviceApproval>,
        now_ms: u64,
    ) -> Result<bool, StoreError>;
    /// In one step: what a poll by `client_id` finds ([`Poll`]), counting it for `slow_down`
    /// and handing out a decision once.
    async fn poll(&self, device: Hash, client_id: &str, now_ms: u64) -> Result<Poll, StoreError>;
    /// Frees codes long expired; returns how many.
    async fn sweep(&self, now_ms: u64) -> usize;
}

/// How long an expired code is kept so that its polls still hear `expired_token`.
pub const KEEP_EXPIRED_MS: u64 = 600_000;

/// A device code's decision so far.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Decision {
    Pending,
    Approved(DeviceApproval),
    Denied,
}

struct Entry {
    request: DeviceRequest,
    user_code: Hash,
    decision: Decision,
    last_poll_ms: Option<u64>,
}

#[derive(Default)]
struct Inner {
    codes: HashMap<Hash, Entry>,
    by_user_code: HashMap<Hash, Hash>,
}

impl Inner {
    fn remove(&mut self, device: &Hash) {
        if let Some(e) = self.codes.remove(device) {
            self.by_user_code.remove(&e.user_code);
        }
    }
}

/// The device codes of one instance.
#[derive(Default)]
pub(crate) struct MemoryDeviceCodes {
    inner: Mutex<Inner>,
}

impl MemoryDeviceCodes {
    fn lock(&self) -> Result<std::sync::MutexGuard<'_, Inner>, StoreError> {
        self.inner
            .lock()
            .map_err(|_| StoreError::Unavailable("the device code table is poisoned".into()))
    }
}

#[async_trait]
impl DeviceCodes for MemoryDeviceCodes {
    async fn put(
        &self,
        device: Hash,
        user_code: Hash,
        request: DeviceRequest,
        _now_ms: u64,
    ) -> Result<bool, StoreError> {
        let mut inner = self.lock()?;
        if inner.by_user_code.contains_key(&user_code) || inner.codes.contains_key(&device) {
            return Ok(false);
        }
        inner.by_user_code.insert(user_code, device);
        inner.codes.insert(
            device,
            Entry {
                request,
                user_code,
                decision: Decision::Pending,
                last_poll_ms: None,
            },
        );
        Ok(true)
    }

    async fn pending(
        &self,
        user_code: Hash,
        now_ms: u64,
    ) -> Result<Option<(Hash, DeviceRequest)>, StoreError> {
        let inner = self.lock()?;
        let Some(device) = inner.by_user_code.get(&user_code) else {
            return Ok(None);
        };
        Ok(inner
            .codes
            .get(device)
            .filter(|e| e.decision == Decision::Pending && now_ms < e.request.expires_ms)
            .map(|e| (*device, e.request.clone())))
    }

    async fn decide(
        &self,
        device: Hash,
        verdict: Option<DeviceApproval>,
        now_ms: u64,
    ) -> Result<bool, StoreError> {
        let mut inner = self.lock()?;
        let Some(e) = inner.codes.get_mut(&device) else {
            return Ok(false);
        };
        if e.decision != Decision::Pending || now_ms >= e.request.expires_ms {
            return Ok(false);
        }
        e.decision = match verdict {
            Some(a) => Decision::Approved(a),
            None => Decision::Denied,
        };
        Ok(true)
    }

    async fn poll(&self, device: Hash, client_id: &str, now_ms: u64) -> Result<Poll, StoreError> {
        let mut inner = self.lock()?;
        let Some(e) = inner.codes.get_mut(&device) else {
            return Ok(Poll::Unknown);
        };
        if e.request.client_id != client_id {
            return Ok(Poll::Unknown);
        }
        if now_ms >= e.request.expires_ms {
            return Ok(Poll::Expired);
        }
        let early = e
            .last_poll_ms
            .is_some_and(|t| now_ms < t.saturating_add(e.request.interval_ms));
        e.last_poll_ms = Some(now_ms);
        if early {
            e.request.interval_ms = e.request.interval_ms.saturating_add(SLOW_DOWN_MS);
            return Ok(Poll::SlowDown);
        }
        let answer = match &e.decision {
            Decision::Pending => return Ok(Poll::Pending),
            Decision::Denied => Poll::Denied,
            Decision::Approved(a) => Poll::Approved(e.request.clone(), a.clone()),
        };
        inner.remove(&device);
        Ok(answer)
    }

    async fn sweep(&self, now_ms: u64) -> usize {
        let Ok(mut inner) = self.lock() else {
            return 0;
        };
        let gone: Vec<Hash> = inner
            .codes
            .iter()
            .filter(|(_, e)| now_ms >= e.request.expires_ms.saturating_add(KEEP_EXPIRED_MS))
            .map(|(h, _)| *h)
            .collect();
        for h in &gone {
            inner.remove(h);
        }
        gone.len()
    }
}

#[cfg(test)]
mod tests;

/// The device codes this instance issued that may still be waiting, bounded per client (an
/// address, or an IPv6 /64) and in all, as pending login attempts are: nobody can make the
/// stores hold codes without end. Codes expire in the order they were issued, so the oldest
/// are forgotten from the front.
#[derive(Default)]
pub(crate) struct Issued {
    waiting: std::sync::Mutex<std::collections::VecDeque<(u64, Option<std::net::IpAddr>)>>,
}

impl Issued {
    /// Whether one more code (from `client`, already keyed as the rate limits key clients:
    /// an address, or an IPv6 /64; expiring at `expires_ms`) may be issued at `now_ms`; if
    /// so it is counted.
    pub(crate) fn admit(
        &self,
        client: Option<std::net::IpAddr>,
        now_ms: u64,
        expires_ms: u64,
        per_client: usize,
        total: usize,
    ) -> bool {
        let Ok(mut waiting) = self.waiting.lock() else {
            return false;
        };
        while waiting.front().is_some_and(|(until, _)| *until <= now_ms) {
            waiting.pop_front();
        }
        if waiting.len() >= total
            || waiting.iter().filter(|(_, c)| *c == client).count() >= per_client
        {
            return false;
        }
        waiting.push_back((expires_ms, client));
        true
    }
}
