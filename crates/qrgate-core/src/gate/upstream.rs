//! What changes on a request's headers before it goes upstream.
//!
//! [`header_edits`] is pure: from the client's headers, the app, the session's identity and
//! the client's address to an ordered list of removals and settings. The proxy glue applies
//! them to pingora's request header; `apply` applies them to a plain `HeaderMap` (tests,
//! other embeddings). Order matters and is the invariant: every reserved header is removed
//! before any of ours is set, so no client spelling of an identity header survives.

use std::net::IpAddr;

use http::header::{CONNECTION, COOKIE};
use http::{HeaderMap, HeaderName, HeaderValue};

use crate::config::AppId;
use crate::http::cookies;
use crate::identity::{self, Identity};
use crate::settings::Settings;

/// One change to the upstream request's headers.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum HeaderEdit {
    /// Remove every header of this name.
    Remove(HeaderName),
    /// Replace every header of this name with one value. The name is one of the gateway's
    /// own, written as it goes on the wire; a `'static` name costs pingora's case-preserving
    /// header map no copy.
    Set(&'static str, HeaderValue),
}

/// The request's cookies without the gateway's own (any of its names, any number of times),
/// merged into one `Cookie` value; `None` when none is left.
pub(crate) fn app_cookies(s: &Settings, headers: &HeaderMap) -> Option<HeaderValue> {
    let kept: Vec<String> = headers
        .get_all(COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .filter_map(|v| cookies::strip(v, &s.own_cookies()))
        .collect();
    if kept.is_empty() {
        return None;
    }
    HeaderValue::from_str(&kept.join("; ")).ok()
}

/// A program a bearer token let in, as the upstream hears of it.
#[derive(Debug, Clone, Copy, Default)]
pub struct ProgramEdits<'a> {
    /// Its client id (`X-Auth-Client`), when a bearer token let the request in.
    pub client: Option<&'a str>,
    /// Whether the `Authorization` header (carrying a token of ours) is removed.
    pub strip_authorization: bool,
}

/// The edits for one forwarded request from `peer` (the address that connected to the
/// gateway), in the order they must be applied. `assertion` is the signed identity for
/// `identity` ([`crate::gateway::Gateway::assertion`]), when enabled; `program` what the
/// decision said of a bearer token.
pub fn header_edits(
    s: &Settings,
    app: AppId,
    identity: Option<&Identity>,
    assertion: Option<HeaderValue>,
    peer: Option<IpAddr>,
    headers: &HeaderMap,
    program: ProgramEdits<'_>,
) -> Vec<HeaderEdit> {
    let mut edits = Vec::with_capacity(12);
    edits.extend(
        identity::reserved_names(headers)
            .into_iter()
            .map(HeaderEdit::Remove),
    );
    // A token of ours never reaches the upstream unless the app asks for the header.
    if program.strip_authorization {
        edits.push(HeaderEdit::Remove(http::header::AUTHORIZATION));
    }

    // A client must not be able to ask the next hop to delete a header the gateway set.
    if let Some(conn) = headers.get(CONNECTION) {
        match conn
            .to_str()
            .ok()
            .and_then(identity::sanitize_connection)
            .and_then(|v| HeaderValue::from_str(&v).ok())
        {
            Some(v) if v != conn => edits.push(HeaderEdit::Set("Connection", v)),
            Some(_) => {}
            None => edits.push(HeaderEdit::Remove(CONNECTION)),
        }
    }

    // The gateway's cookies never reach the app; other cookies do, merged into one header.
    if headers.contains_key(COOKIE) {
        edits.push(HeaderEdit::Remove(COOKIE));
        if let Some(v) = app_cookies(s, headers) {
            edits.push(HeaderEdit::Set("Cookie", v));
        }
    }

    let values = s.app_values(app);
    if let Some(id) = identity {
        let [user, pubkey, roles] = id.header_values();
        edits.push(HeaderEdit::Set(identity::USER, user.clone()));
        edits.push(HeaderEdit::Set(identity::PUBKEY, pubkey.clone()));
        edits.push(HeaderEdit::Set(identity::ROLES, roles.clone()));
        edits.push(HeaderEdit::Set(identity::APP, values.name.clone()));
        if let Some(client) = program.client.and_then(|c| HeaderValue::from_str(c).ok()) {
            edits.push(HeaderEdit::Set(identity::CLIENT, client));
        }
        if let Some(a) = assertion {
            edits.push(HeaderEdit::Set(identity::ASSERTION, a));
        }
    }

    // The client's own X-Forwarded-For was removed with the reserved family above; it is only
    // carried forward when the peer is one of the configured trusted proxies.
    let server = &s.config.server;
    let trusted = |ip: &IpAddr| {
        server.trust_forwarded_for && server.trusted_proxies.iter().any(|n| n.contains(ip))
    };
    let xff = match peer {
        Some(ip) if trusted(&ip) => {
            match headers.get("x-forwarded-for").and_then(|v| v.to_str().ok()) {
                Some(prior) => format!("{prior}, {ip}"),
                None => ip.to_string(),
            }
        }
        Some(ip) => ip.to_string(),
        None => String::from("unknown"),
    };
    if let Ok(v) = HeaderValue::from_str(&xff) {
        edits.push(HeaderEdit::Set("x-forwarded-for", v));
    }
    edits.push(HeaderEdit::Set("x-forwarded-proto", values.proto.clone()));
    edits.push(HeaderEdit::Set("x-forwarded-host", values.host.clone()));
    edits
}

/// Applies edits to a plain header map.
#[cfg(test)]
pub(crate) fn apply(edits: Vec<HeaderEdit>, headers: &mut HeaderMap) {
    for edit in edits {
        match edit {
            HeaderEdit::Remove(name) => {
                headers.remove(&name);
            }
            HeaderEdit::Set(name, value) => {
                // Our names are valid; a map that cannot take one simply does not get it.
                if let Ok(name) = HeaderName::from_bytes(name.as_bytes()) {
                    headers.insert(name, value);
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use std::path::Path;

    use super::*;
    use crate::config::Config;

    const KEY: &str = "ed25519_17956be6b8d4af0841d05ee4099a2f6f19a11a733b059f13998b6eff4b2d5660";

    fn gateway(trust: bool) -> Settings {
        let text = format!(
            "[server]\ntrust_forwarded_for = {trust}\ntrusted_proxies = [\"2001:db8::/32\"]\n[[app]]\nname = \"Wiki\"\norigin = \"https://wiki.example\"\nupstream = \"127.0.0.1:9\"\n[[user]]\nname = \"alice\"\nkey = \"{KEY}\"\nroles = [\"staff\", \"ops\"]\n"
        );
        let config = Config::parse(&text, Path::new("t.toml")).expect("config");
        Settings::new(config).expect("settings")
    }

    /// The upstream's view of `client` headers after the gateway's edits.
    fn forwarded(
        gw: &Settings,
        signed_in: bool,
        client: &[(&str, &str)],
        ip: Option<IpAddr>,
    ) -> HeaderMap {
        let mut h = HeaderMap::new();
        for (n, v) in client {
            h.append(
                HeaderName::from_bytes(n.as_bytes()).expect("name"),
                HeaderValue::from_str(v).expect("value"),
            );
        }
        let alice = gw.user_identity(0).expect("alice");
        let id = signed_in.then_some(&*alice);
        let edits = header_edits(gw, AppId::new(0), id, None, ip, &h, ProgramEdits::default());
        apply(edits, &mut h);
        h
    }

    fn get<'a>(h: &'a HeaderMap, name: &str) -> Vec<&'a str> {
        h.get_all(name)
            .iter()
            .map(|v| v.to_str().expect("ascii"))
            .collect()
    }

    #[test]
    fn spoofed_identity_and_forwarding_headers_never_survive() {
        let gw = gateway(false);
        let spoofs = [
            "X-Auth-User",
            "x-auth-user",
            "X_AUTH_USER",
            "x_Auth-User",
            "X-Auth-Pubkey",
            "X-Auth-Roles",
            "X-Auth-App",
            "X-Auth-Anything",
            "X-Forwarded-For",
            "X_Forwarded_Host",
            "X-Forwarded-Proto",
            "X-Forwarded-Uri",
            "X-Original-URI",
            "X-Real-IP",
            "Forwarded",
            "Remote-User",
            "X-Remote-User",
            "X-Rewrite-URL",
        ];
        let client: Vec<(&str, &str)> = spoofs
            .iter()
            .map(|n| (*n, "mallory"))
            .chain([("accept", "text/html"), ("x-author", "kept")])
            .collect();
        let ip: IpAddr = "203.0.113.9".parse().expect("ip");
        for signed_in in [false, true] {
            let h = forwarded(&gw, signed_in, &client, Some(ip));
            for (name, value) in &h {
                assert_ne!(value, "mallory", "{name} survived (signed in: {signed_in})");
            }
            assert_eq!(get(&h, "accept"), ["text/html"]);
            assert_eq!(get(&h, "x-author"), ["kept"], "not of the family");
            assert_eq!(get(&h, "x-forwarded-for"), ["203.0.113.9"]);
            assert_eq!(get(&h, "x-forwarded-proto"), ["https"]);
            assert_eq!(get(&h, "x-forwarded-host"), ["wiki.example"]);
            if signed_in {
                assert_eq!(get(&h, "x-auth-user"), ["alice"]);
                assert_eq!(get(&h, "x-auth-roles"), ["staff,ops"]);
                assert_eq!(get(&h, "x-auth-app"), ["Wiki"]);
                assert_eq!(get(&h, "x-auth-pubkey").len(), 1);
            } else {
                assert!(
                    get(&h, "x-auth-user").is_empty(),
                    "public path: no identity"
                );
            }
        }
    }

    #[test]
    fn connection_tokens_cannot_delete_our_headers() {
        let gw = gateway(false);
        for (value, want) in [
            ("keep-alive, X-Auth-User", vec!["keep-alive"]),
            ("x_auth_user, X-Forwarded-For", vec![]),
            ("Upgrade", vec!["Upgrade"]),
            ("close", vec!["close"]),
        ] {
            let h = forwarded(&gw, true, &[("connection", value)], None);
            assert_eq!(get(&h, "connection"), want, "{value}");
        }
    }

    #[test]
    fn gateway_cookies_are_removed_from_every_cookie_header() {
        let gw = gateway(false);
        for (client, want) in [
            (vec!["a=1; qrgate_session=secret; b=2"], vec!["a=1; b=2"]),
            (vec!["qrgate_session=s", "qrgate_session_bind=b"], vec![]),
            (vec!["a=1", "qrgate_session_bind=b; c=3"], vec!["a=1; c=3"]),
            (
                vec!["qrgate_session_trip=t; d=4; __Host-qrgate_session_trip=u"],
                vec!["d=4"],
            ),
            (vec!["qrgate_session=x; garbage"], vec![]),
            (
                vec!["QRGATE_SESSION=other-case"],
                vec!["QRGATE_SESSION=other-case"],
            ),
        ] {
            let pairs: Vec<(&str, &str)> = client.iter().map(|c| ("cookie", *c)).collect();
            let h = forwarded(&gw, true, &pairs, None);
            assert_eq!(get(&h, "cookie"), want, "{client:?}");
        }
    }

    #[test]
    fn forwarded_for_is_replaced_unless_a_trusted_proxy_is_configured() {
        let ip: IpAddr = "2001:db8::1".parse().expect("ip");
        let client = [("x-forwarded-for", "198.51.100.1")];
        assert_eq!(
            get(
                &forwarded(&gateway(false), false, &client, Some(ip)),
                "x-forwarded-for"
            ),
            ["2001:db8::1"]
        );
        assert_eq!(
            get(
                &forwarded(&gateway(true), false, &client, Some(ip)),
                "x-forwarded-for"
            ),
            ["198.51.100.1, 2001:db8::1"]
        );
        assert_eq!(
            get(
                &forwarded(&gateway(false), false, &[], None),
                "x-forwarded-for"
            ),
            ["unknown"]
        );
    }
}
