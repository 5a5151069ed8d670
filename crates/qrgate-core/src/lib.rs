//! qrgate's core: every decision the gateway makes, with no file, no socket and no proxy in
//! sight.
//!
//! The `qrgate` crate wraps this in pingora; nothing here may depend on pingora, hyper or
//! reqwest (the manifest enforces it), so every rule below is built and unit-tested alone.
//!
//! # Layout
//! Every module below has a line here; `tidy` fails on one that has none (or on a line for a
//! module that no longer exists).
//!
//! Leaves (depend on nothing else in the crate, or only on other leaves):
//! - [`clock`]: the one source of "now", and the timestamp-window check signers share.
//! - [`keys`]: Ed25519 public keys in z-base32 and hex.
//! - [`origin`]: an app's configured `scheme://host[:port]`.
//! - [`path`]: request path canonicalization (what public-path rules match on):
//!   - `path::tests`: its unit tests.
//! - [`access`]: what a login grants (read-only or read-write, per path prefix).
//! - [`method_override`]: the headers and parameter by which a request may claim another
//!   method, so a read-only grant judges the method it will be served as.
//! - [`redirect`]: validation of post-login return paths.
//! - [`negotiate`]: browser navigation versus API client.
//! - [`agent`]: the short browser summary shown to the person approving.
//! - [`cookies`]: reading, stripping and building the gateway's cookies.
//! - [`reply`]: locally generated responses and the security headers they all carry.
//! - [`identity`]: who a session belongs to, and the headers clients may not send.
//! - [`assertion`]: the signed identity (`X-Auth-Assertion` JWT) upstreams may verify, and
//!   its published keys.
//! - [`head`]: limits on a request head, checked on the raw bytes.
//! - [`audit`]: the audit trail (logins, logouts, expiries, refused approvals, reloads).
//! - [`metrics`]: what the gateway counts, for Prometheus.
//!
//! Built on those:
//! - [`protocol`]: the [`protocol::Signer`] trait every signer protocol implements.
//! - [`signers`]: the protocols and their registry:
//!   - [`signers::native`]: qrgate's own (a phone signs the server's challenge text);
//!   - [`signers::pubky`]: Pubky Ring's pubkyauth, with the gateway as its own relay;
//!   - [`signers::tana`]: tana-mobile's identity protocol.
//! - [`config`]: `config.toml` text, parsed once into a validated [`config::Config`] (the
//!   glue reads the file), from
//!   - `config::file`: the TOML mirror structs (the file's exact shape);
//!   - `config::validate`: the validator that turns them into a `Config`;
//!   - `config::fields`: its conversions of single values and the smaller tables;
//!   - `config::sso`: `[sso]` and `[[oidc_client]]`, and the SSO origin's internal app;
//!   - `config::tests`: its unit tests.
//! - [`limits`]: who a client is (trusted proxies, IPv6 /64) and per-client rate limits.
//! - [`route`]: the gateway's own routes, spelled once: paths, methods, rate classes, URLs.
//! - [`session`]: the session store seam, and
//!   - `session::memory`: the in-memory store.
//! - [`share`]: what several instances share about login attempts (the seam the Redis store
//!   implements).
//! - [`settings`]: one config and what is derived from it (identities, per-app values),
//!   swapped whole on reload.
//! - [`devices`]: devices enrolled by invitation, and the registry every request reads:
//!   - `devices::record`: a device and an invitation as stored, and the readers of older
//!     records;
//!   - `devices::registry`: the registry [`devices::Devices`] and its durable ledger;
//!   - `devices::review`: what the config in force asks of a device or an invitation, and
//!     the names a reload retired;
//!   - `devices::store`: the [`devices::DeviceStore`] seam and the one-instance store;
//!   - `devices::tests`: their unit tests.
//! - [`confirm`]: actions a person confirms by phone (adding or removing a device): what
//!   each is, how it is shown and written, which keys may approve it.
//! - [`attempts`]: login attempts (sign-ins, step-ups, confirmations) and their single-use
//!   state machine, the table `Logins`, with
//!   - `attempts::request`: what a login page asks for (`NewAttempt`, `Purpose`);
//!   - `attempts::status`: `Status`, as the browser sees it, and its pub/sub text;
//!   - `attempts::phase`: the phase machine;
//!   - `attempts::record`: the shared record codec;
//!   - `attempts::tests`: its unit tests.
//! - [`events`]: server-sent event framing for live login status.
//! - [`gateway`]: the shared state: the current settings, stores, attempts, signers, rates.
//! - [`request`]: the facts of one request, as the decision needs them.
//! - [`decision`]: the request decision (local route, forward, login redirect, 401, error):
//!   - `decision::tests`: its unit tests.
//! - [`handoff`]: which request heads (login event streams) the glue serves beside pingora.
//! - [`upstream`]: the header edits on a forwarded request.
//! - [`wire`]: local replies and event-stream framing as HTTP/1.1 bytes, for the glue's paths
//!   that write to a connection directly.
//! - [`login`]: QR login operations (start, scan, approve, reject, claim, verify) with typed
//!   results:
//!   - [`login::error`]: why a login operation was refused;
//!   - [`login::page`]: the login page;
//!   - [`login::qr`]: QR codes as inline SVG;
//!   - `login::dispatch`: the signer dispatch (approve, deliver, the checks before any
//!     signature work, the shared tail of every protocol);
//!   - `login::action`: claiming a confirmation's approval;
//!   - `login::tests`: their unit tests.
//! - [`control`]: selecting, listing and revoking live sessions (admin API, `qrgate sessions`).
//! - [`enrollment`]: enrollment by invitation: binding a browser's key to a configured user.
//! - [`account`]: the person's own account page (their keys, devices and sessions).
//! - [`phone`]: the pages that make a browser a signer of the native protocol (approval,
//!   enrollment, invitation).
//! - [`forward_auth`]: judging a request a fronting proxy asks about, by its own rules.
//! - [`respond`]: the one place domain errors become HTTP statuses and bodies:
//!   - `respond::tests`: its unit tests.
//! - [`routes`]: the handlers of the gateway's own endpoints under the prefix:
//!   - `routes::sign_in`: the login attempt's handlers (pages, create, scan, claim, verify);
//!   - `routes::own_account`: the person's own sessions page, inviting and removing a device.
//! - [`oidc`]: the OpenID Connect provider on the SSO origin:
//!   - [`oidc::keys`]: ID token signing keys (RS256, ES256, EdDSA), their rotation and JWKS;
//!   - [`oidc::store`]: the store seam of codes, grants and tokens, and the memory store;
//!   - [`oidc::authorize`]: the authorization request and what it leads to;
//!   - [`oidc::token`]: the token request, client authentication and token errors;
//!   - [`oidc::claims`]: ID token and userinfo claims, and the discovery document;
//!   - [`oidc::endpoints`]: the provider's endpoints on the SSO origin.

pub mod access;
pub mod account;
pub mod agent;
pub mod assertion;
pub mod attempts;
pub mod audit;
pub mod clock;
pub mod config;
pub mod confirm;
pub mod control;
pub mod cookies;
pub mod decision;
pub mod devices;
pub mod enrollment;
pub mod events;
pub mod forward_auth;
pub mod gateway;
pub mod handoff;
pub mod head;
pub mod identity;
pub mod keys;
pub mod limits;
pub mod login;
pub mod method_override;
pub mod metrics;
pub mod negotiate;
pub mod oidc;
pub mod origin;
pub mod path;
pub mod phone;
pub mod protocol;
pub mod redirect;
pub mod reply;
pub mod request;
pub mod respond;
pub mod route;
pub mod routes;
pub mod session;
pub mod settings;
pub mod share;
pub mod signers;
pub mod upstream;
pub mod wire;

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
