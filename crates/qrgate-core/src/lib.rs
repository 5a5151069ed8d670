//! qrgate's core: every decision the gateway makes, with no file, no socket and no proxy in
//! sight.
//!
//! The `qrgate` crate wraps this in pingora; nothing here may depend on pingora, hyper or
//! reqwest (the manifest enforces it), so every rule below is built and unit-tested alone.
//!
//! # Layout
//! Every module below has a line here; `tidy` fails on one that has none (or on a line for a
//! module that no longer exists). One folder per concern; `tidy`'s layering table says which
//! folder may import which. Linked modules are the ones the glue names; the others are
//! crate-private, as is every item the glue, tests, examples and fuzz targets do not use.
//!
//! At the root:
//! - [`clock`]: the one source of "now", and the timestamp-window check signers share.
//! - [`rotation`]: when a signing key is made, signs and goes (published before it signs),
//!   for the assertion keys and the OpenID Connect keys alike.
//! - [`raw`]: raw 32-byte values as types of their own (key bytes, token and binding hashes,
//!   attempt secrets, signing seeds).
//! - [`config`]: `config.toml` text, parsed once into a validated [`config::Config`] (the
//!   glue reads the file), from
//!   - `config::file`: the TOML mirror structs (the file's exact shape);
//!   - `config::validate`: the validator that turns them into a `Config`;
//!   - `config::fields`: its conversions of single values and the smaller tables;
//!   - `config::sso`: `[sso]` and `[[oidc_client]]`, and the SSO origin's internal app, and
//!     - `config::sso::tests`: its unit tests;
//!   - `config::programs`: `[programs]` and the built-in client of the `qrgate` command;
//!   - `config::store`: `[store]`: memory, one Redis by URL, the primary Sentinel names, or a
//!     Redis Cluster;
//!   - `config::tests`: its unit tests.
//! - [`settings`]: one config and what is derived from it (identities, per-app values),
//!   swapped whole on reload.
//! - [`gateway`]: the shared state: the current settings, stores, attempts, signers, rates.
//!
//! - [`http`]: the HTTP vocabulary, pure (it imports only `raw` and `i18n`):
//!   - [`http::path`]: request path canonicalization (what public-path rules match on):
//!     - `http::path::tests`: its unit tests.
//!   - [`http::head`]: limits on a request head, checked on the raw bytes.
//!   - `http::method_override`: the headers and parameter by which a request may claim
//!     another method, so a read-only grant judges the method it will be served as.
//!   - [`http::origin`]: an app's configured `scheme://host[:port]`.
//!   - [`http::redirect`]: validation of post-login return paths.
//!   - [`http::negotiate`]: browser navigation versus API client.
//!   - `http::agent`: the short browser summary shown to the person approving.
//!   - `http::shown`: the one check of text a client chose that a person is shown (no
//!     control, format or invisible character), and the phone's one-line form of a text.
//!   - [`http::cookies`]: reading, stripping and building the gateway's cookies.
//!   - [`http::reply`]: locally generated responses and the security headers they all carry.
//!   - [`http::request`]: the facts of one request, as the decision needs them.
//!   - [`http::route`]: the gateway's own routes, spelled once: paths, methods, rate classes,
//!     URLs, and
//!     - `http::route::tests`: its unit tests.
//!   - [`http::wire`]: local replies and event-stream framing as HTTP/1.1 bytes, for the glue's
//!     paths that write to a connection directly.
//!
//! - [`identity`]: who a session belongs to, and the headers clients may not send, with
//!   - [`identity::keys`]: Ed25519 public keys in z-base32 and hex;
//!   - [`identity::access`]: what a login grants (read-only or read-write, per path prefix);
//!   - [`identity::assertion`]: the signed identity (`X-Auth-Assertion` JWT) upstreams may
//!     verify, and its published keys.
//!
//! - [`session`]: the session store seam, and
//!   - `session::memory`: the in-memory store:
//!     - `session::memory::tests`: its unit tests.
//!
//! - [`devices`]: devices enrolled by invitation, and the registry every request reads:
//!   - `devices::record`: a device and an invitation as stored, and the readers of older
//!     records;
//!   - `devices::registry`: the registry [`devices::Devices`] and its durable ledger;
//!   - `devices::review`: what the config in force asks of a device or an invitation, and the
//!     names a reload retired;
//!   - `devices::store`: the [`devices::DeviceStore`] seam and the one-instance store;
//!   - `devices::tests`: their unit tests.
//!
//! - [`login`]: QR login operations (start, scan, approve, reject, claim, verify) with typed
//!   results:
//!   - `login::error`: why a login operation was refused;
//!   - `login::page`: the login page;
//!   - `login::qr`: QR codes as inline SVG;
//!   - `login::dispatch`: the signer dispatch (approve, deliver, the checks before any
//!     signature work, the shared tail of every protocol);
//!   - `login::action`: claiming a confirmation's approval;
//!   - `login::device`: a program's device code approved or declined on the phone;
//!   - `login::tests`: their unit tests;
//!   - [`login::attempts`]: login attempts (sign-ins, step-ups, confirmations) and their
//!     single-use state machine, the table `Logins`, with
//!     - `login::attempts::request`: what a login page asks for (`NewAttempt`, `Purpose`);
//!     - `login::attempts::status`: `Status`, as the browser sees it, and its pub/sub text;
//!     - `login::attempts::phase`: the phase machine;
//!     - `login::attempts::transitions`: the table's single-use transitions (scan, approve,
//!       reject, claim);
//!     - `login::attempts::record`: the shared record codec;
//!     - `login::attempts::tests`: its unit tests.
//!   - [`login::share`]: what several instances share about login attempts (the seam the
//!     Redis store implements).
//!   - [`login::confirm`]: actions a person confirms by phone (adding or removing a device):
//!     what each is, how it is shown and written, which keys may approve it.
//!   - [`login::events`]: server-sent event framing for live login status.
//!   - [`login::stream_claim`]: which request heads (login event streams) the glue serves
//!     beside pingora.
//!   - [`login::signers`]: the signer protocols and their registry:
//!     - [`login::signers::protocol`]: the [`login::signers::protocol::Signer`] trait every
//!       protocol implements;
//!     - [`login::signers::native`]: qrgate's own (a phone signs the server's challenge text);
//!     - [`login::signers::pubky`]: Pubky Ring's pubkyauth, with the gateway as its own relay;
//!       - `login::signers::pubky::caps`: the capabilities a token must carry for an attempt;
//!     - [`login::signers::tana`]: tana-mobile's identity protocol;
//!     - [`login::signers::program`]: what a program's device code asks for, as every
//!       protocol shows it.
//!
//! - [`control`]: selecting, listing and revoking live sessions and devices (admin API,
//!   `qrgate sessions`, the person's own account), over the gateway's stores, with
//!   - `control::devices`: enrolled devices as lists show them, listing and revoking them,
//!     and their review against the config in force;
//!   - `control::tokens`: programs' tokens (the provider's grants) as lists show them, and
//!     their revocation;
//!   - [`control::family`]: ending a single sign-on family's sessions (the SSO session and
//!     the app sessions made from it);
//!   - [`control::enrollment`]: enrollment by invitation: minting an invitation, and binding
//!     a browser's key to a configured user:
//!     - `control::enrollment::tests`: its unit tests;
//!   - `control::tests`: their unit tests.
//!
//! - [`gate`]: what happens to a request that is not one of the gateway's own endpoints:
//!   - [`gate::decision`]: the request decision (local route, forward, login redirect, 401,
//!     error):
//!     - `gate::decision::tests`: its unit tests.
//!   - `gate::program`: a program's bearer token on a proxied request, as the identity its
//!     approving key has now and the grant it was given;
//!   - `gate::forward_auth`: judging a request a fronting proxy asks about, by its own rules.
//!   - [`gate::limits`]: who a client is (trusted proxies, IPv6 /64) and per-client rate limits.
//!   - [`gate::upstream`]: the header edits on a forwarded request.
//!
//! - [`web`]: the handlers of the gateway's own endpoints under the prefix, and their pages:
//!   - `web::sign_in`: the login attempt's handlers (pages, create, scan, claim, verify);
//!   - `web::openid`: the OpenID Connect provider's endpoints on the SSO origin (discovery,
//!     JWKS, authorization), and
//!     - `web::openid::grants`: the token endpoint's code and refresh grants, and userinfo;
//!     - `web::openid::logout`: RP-initiated logout and ending a sign-on family;
//!   - `web::tokens`: what the token-issuing endpoints share (the request, counting, the
//!     person a grant is for now, the token response);
//!   - `web::personal`: personal tokens, made on the person's page and confirmed by phone;
//!   - `web::resource`: an app's protected resource metadata for programs (RFC 9728);
//!   - `web::device`: the device authorization grant's endpoints (device code, verification
//!     page, the token endpoint's device code grant);
//!   - `web::sso`: single sign-on across the gateway's apps (a code issued on the SSO origin,
//!     redeemed on an app's; ending a sign-in family);
//!   - `web::own_account`: the person's own sessions page, inviting and removing a device;
//!   - `web::account`: the person's own account page (their keys, devices and sessions);
//!   - `web::phone`: the pages that make a browser a signer of the native protocol
//!     (approval, enrollment, invitation);
//!   - [`web::respond`]: the one place domain errors become HTTP statuses and bodies:
//!     - `web::respond::text`: what each refusal says, in the visitor's language;
//!     - `web::respond::provider`: the OpenID Connect provider's and single sign-on's
//!       refusals;
//!     - `web::respond::tests`: its unit tests.
//!
//! - [`i18n`]: the visitor's language: `Accept-Language` negotiation, the Fluent catalogs
//!   (`locales/<tag>/*.ftl`, compiled in) every page and message is written from, dates and
//!   durations per language:
//!   - `i18n::negotiate`: `Accept-Language` with q-values to a catalog language;
//!   - `i18n::catalog`: the compiled-in bundles and message formatting;
//!   - `i18n::tests`: the catalogs' completeness and the ids the code and templates name.
//!
//! - [`observe`]: what operators see:
//!   - [`observe::audit`]: the audit trail (logins, logouts, expiries, refused approvals,
//!     reloads);
//!   - `observe::metrics`: what the gateway counts, for Prometheus.
//! - [`oidc`]: the OpenID Connect provider on the SSO origin:
//!   - [`oidc::keys`]: ID token signing keys (RS256, ES256, EdDSA), their rotation and JWKS;
//!   - [`oidc::apps`]: single sign-on across the gateway's own apps: who takes part, the
//!     one-time code and its binding;
//!   - [`oidc::store`]: the store seam of codes, grants and tokens, and
//!     - `oidc::store::memory`: the memory store;
//!     - `oidc::store::tests`: their unit tests;
//!   - [`oidc::device`]: the device authorization grant: user codes, the scopes a program
//!     may ask for, and the device code store seam:
//!     - `oidc::device::guesses`: failed user-code entries, bounded per client and in all;
//!     - `oidc::device::tests`: its unit tests;
//!   - [`oidc::authorize`]: the authorization request and what it leads to, and
//!     - `oidc::authorize::tests`: its unit tests;
//!   - [`oidc::token`]: the token request, client authentication and token errors;
//!   - [`oidc::claims`]: ID token and userinfo claims, and the discovery document;
//!   - [`oidc::backchannel`]: back-channel logout: who is told, the logout token, the sender seam;

// Private by default: an item is `pub` only if another crate uses it, so the compiler
// reports dead code.
#![warn(unreachable_pub)]

pub mod clock;
pub mod config;
pub mod control;
pub mod devices;
pub mod gate;
pub mod gateway;
pub mod http;
pub mod i18n;
pub mod identity;
pub mod login;
pub mod observe;
pub mod oidc;
pub mod raw;
pub mod rotation;
pub mod session;
pub mod settings;
pub mod web;

#[cfg(test)]
mod tidy;

/// `N` bytes from the operating system's CSPRNG.
///
/// # Panics
/// If the OS cannot provide randomness; there is no safe way to mint a secret without it.
pub fn random_bytes<const N: usize>() -> [u8; N] {
    let mut buf = [0u8; N];
    getrandom::fill(&mut buf).expect("the operating system's random source failed");
    buf
}
