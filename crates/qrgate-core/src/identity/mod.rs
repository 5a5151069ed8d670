//! Who a session belongs to, what the upstream app learns about it, and what clients may not
//! tell the upstream.
//!
//! Identity headers are the upstream's only source of truth about who is calling, so every
//! incoming header of the family is deleted — in any letter case, with `_` for `-` (WSGI
//! and PHP read `X_Auth_User` as `X-Auth-User`) — before the gateway sets its own, on every
//! route, public ones included. The same goes for the forwarding headers a client could use
//! to lie about its address or about which URL was authorized.
//!
//! - [`keys`]: Ed25519 public keys in z-base32 and hex.
//! - [`access`]: what a login grants (read-only or read-write, per path prefix).
//! - [`assertion`]: the signed identity (`X-Auth-Assertion` JWT) upstreams may verify.

pub mod access;
pub mod assertion;
pub mod keys;

use http::{HeaderMap, HeaderValue};

#[cfg(test)]
use crate::identity::keys::PublicKey;
use crate::raw::KeyBytes;

/// Who a session belongs to; shared by every session of the same person.
///
/// The upstream header values are built once here rather than on every proxied request.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Identity {
    /// Configured user name (or the z-base32 key under open enrollment).
    pub user: String,
    /// The signing key, z-base32.
    pub pubkey: String,
    /// The signing key's 32 bytes: what a session records, so that who it is can be looked
    /// up again in the current config on every request.
    pub key: KeyBytes,
    /// Roles, comma-separated, as sent upstream.
    pub(crate) roles: String,
    /// `user`, `pubkey`, `roles` as header values.
    header_values: [HeaderValue; 3],
}

impl Identity {
    /// An identity; `None` if the name or roles cannot travel in an HTTP header (control
    /// characters), which config validation rules out for configured users.
    pub fn new(user: String, key: &KeyBytes, roles: String) -> Option<Identity> {
        let pubkey = z32::encode(key.as_bytes());
        let header_values = [
            HeaderValue::from_bytes(user.as_bytes()).ok()?,
            HeaderValue::from_bytes(pubkey.as_bytes()).ok()?,
            HeaderValue::from_bytes(roles.as_bytes()).ok()?,
        ];
        Some(Identity {
            user,
            pubkey,
            key: *key,
            roles,
            header_values,
        })
    }

    /// The identity of a key that is its own user (open enrollment): its z-base32 form as
    /// the name, no roles. z-base32 is plain ASCII, so this always fits in a header.
    pub(crate) fn of_key(key: &KeyBytes) -> Option<Identity> {
        Identity::new(z32::encode(key.as_bytes()), key, String::new())
    }

    /// `user`, `pubkey`, `roles` as header values, in that order.
    pub(crate) fn header_values(&self) -> &[HeaderValue; 3] {
        &self.header_values
    }
}

/// Upstream header naming the user.
pub const USER: &str = "x-auth-user";
/// Upstream header with the user's key, z-base32.
pub const PUBKEY: &str = "x-auth-pubkey";
/// Upstream header with comma-separated roles.
pub const ROLES: &str = "x-auth-roles";
/// Upstream header naming the app.
pub const APP: &str = "x-auth-app";
/// The forward-auth answer's copy of the request's cookies without the gateway's own, for
/// the proxy in front to send the app instead of `Cookie` (one implementation of the rule,
/// with no count limit).
pub(crate) const COOKIE: &str = "x-auth-cookie";
/// The forward-auth answer's copy of the request's `Authorization`, for the proxy in front
/// to send the app instead: absent when it carries a token of the gateway (one
/// implementation of the rule).
pub(crate) const AUTHORIZATION: &str = "x-auth-authorization";
/// Upstream header naming the program (its client id) a bearer token let in.
pub const CLIENT: &str = "x-auth-client";
/// The signed identity assertion (a JWT), with `[assertion] enabled`.
pub(crate) const ASSERTION: &str = "x-auth-assertion";

/// Prefixes (after lowercasing and folding `_` to `-`) of headers no client may send
/// upstream.
const RESERVED_PREFIXES: &[&str] = &["x-auth-", "x-forwarded-", "x-original-", "x-real-ip"];
const RESERVED_EXACT: &[&str] = &["forwarded", "x-rewrite-url", "x-remote-user", "remote-user"];

/// Whether a client-supplied header of this name must be removed before proxying.
pub(crate) fn is_reserved(name: &str) -> bool {
    let mut folded = [0u8; 64];
    let bytes = name.as_bytes();
    if bytes.len() > folded.len() {
        // Longer than any reserved name could be, but it may still start like one.
        let n: String = name
            .chars()
            .take(32)
            .map(|c| {
                if c == '_' {
                    '-'
                } else {
                    c.to_ascii_lowercase()
                }
            })
            .collect();
        return RESERVED_PREFIXES.iter().any(|p| n.starts_with(p));
    }
    for (dst, &b) in folded.iter_mut().zip(bytes) {
        *dst = if b == b'_' {
            b'-'
        } else {
            b.to_ascii_lowercase()
        };
    }
    let folded = &folded[..bytes.len()];
    RESERVED_PREFIXES
        .iter()
        .any(|p| folded.starts_with(p.as_bytes()))
        || RESERVED_EXACT.iter().any(|e| folded == e.as_bytes())
}

/// Names of every reserved header present (each once), for removal.
pub(crate) fn reserved_names(headers: &HeaderMap) -> Vec<http::HeaderName> {
    let mut out: Vec<http::HeaderName> = Vec::new();
    for name in headers.keys() {
        if is_reserved(name.as_str()) && !out.contains(name) {
            out.push(name.clone());
        }
    }
    out
}

/// The identity header values for a signed-in user: `(name, value)` pairs.
pub(crate) fn identity_headers<'a>(id: &'a Identity, app: &'a str) -> [(&'static str, &'a str); 4] {
    [
        (USER, id.user.as_str()),
        (PUBKEY, id.pubkey.as_str()),
        (ROLES, id.roles.as_str()),
        (APP, app),
    ]
}

/// Rewrites a `Connection` header value without tokens that name reserved headers, so a
/// client cannot ask a hop to delete headers the gateway set. `None`: drop the header.
pub(crate) fn sanitize_connection(value: &str) -> Option<String> {
    let kept: Vec<&str> = value
        .split(',')
        .map(str::trim)
        .filter(|t| !t.is_empty() && !is_reserved(t))
        .collect();
    (!kept.is_empty()).then(|| kept.join(", "))
}

/// A fixed, valid test key (Tana's published test key).
#[cfg(test)]
pub(crate) fn test_key() -> KeyBytes {
    test_public_key().key_bytes()
}

#[cfg(test)]
fn test_public_key() -> PublicKey {
    "ed25519_17956be6b8d4af0841d05ee4099a2f6f19a11a733b059f13998b6eff4b2d5660"
        .parse()
        .expect("key")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_variant_of_the_family_is_reserved() {
        for name in [
            "x-auth-user",
            "X-Auth-User",
            "X-AUTH-USER",
            "x_auth_user",
            "X_Auth_User",
            "x-auth_user",
            "x_auth-roles",
            "X-Auth-Anything-New",
            "x-forwarded-for",
            "X_Forwarded_Host",
            "x-forwarded-uri",
            "X-Original-URI",
            "x-real-ip",
            "Forwarded",
            "remote_user",
        ] {
            assert!(is_reserved(name), "{name}");
        }
        for name in [
            "x-author",
            "accept",
            "cookie",
            "x-authorization",
            "authorization",
            "xauth-user",
        ] {
            assert!(!is_reserved(name), "{name}");
        }
        assert!(is_reserved(&format!("x_auth_{}", "a".repeat(100))));
    }

    #[test]
    fn connection_tokens_naming_reserved_headers_are_dropped() {
        assert_eq!(
            sanitize_connection("keep-alive, X-Auth-User"),
            Some("keep-alive".into())
        );
        assert_eq!(sanitize_connection("x_auth_user"), None);
        assert_eq!(sanitize_connection("Upgrade"), Some("Upgrade".into()));
    }

    #[test]
    fn identities_carry_their_key_in_every_form() {
        let key = test_public_key();
        let id =
            Identity::new("alice".into(), &key.key_bytes(), "staff,ops".into()).expect("identity");
        assert_eq!(id.key, key.key_bytes());
        assert_eq!(id.pubkey, key.to_z32());
        assert_eq!(id.header_values()[2], "staff,ops");
        assert!(Identity::new("a\nb".into(), &key.key_bytes(), String::new()).is_none());
        assert_eq!(
            Identity::of_key(&key.key_bytes()).map(|i| i.user),
            Some(key.to_z32())
        );
    }
}
