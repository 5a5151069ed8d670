//! qrgate: a QR-login authentication gateway in front of HTTP apps.
//!
//! # Layout
//! - [`config`]: `config.toml`, parsed once into a validated [`config::Config`].
//! - [`server`]: starts the pingora server (or serves a listener you bound, for tests).
//! - [`proxy`]: the pingora glue: per-request decisions, forwarding, local replies.
//! - [`routes`]: the gateway's own endpoints under the prefix (health, logout, login API).
//! - [`login`]: QR login: attempts, the native challenge, the page, the claim.
//! - [`protocol`]: signer protocols (native, Pubky Ring, tana-mobile): QR payloads and approvals.
//! - [`events`]: server-sent event framing for live login status.
//! - [`path`]: request path canonicalization (what public-path rules match on).
//! - [`redirect`]: validation of post-login return paths.
//! - [`negotiate`]: browser navigation versus API client.
//! - [`identity`]: identity headers sent upstream, and the headers clients may not send.
//! - [`session`]: the session store (token hashes, absolute + idle expiry).
//! - [`sweeper`]: the background service that frees expired sessions.
//! - [`signer`]: the reference signer behind `qrgate keygen` / `qrgate sign`.
//! - [`keys`]: Ed25519 public keys in z-base32 and hex.
//! - [`reply`]: locally generated responses.
//! - [`clock`]: the one source of "now".
//! - [`demo`]: a small upstream app that shows the identity headers it receives.

pub mod clock;
pub mod config;
pub mod demo;
pub mod events;
pub mod identity;
pub mod keys;
pub mod login;
pub mod negotiate;
pub mod path;
pub mod protocol;
pub mod proxy;
pub mod redirect;
pub mod reply;
pub mod routes;
pub mod server;
pub mod session;
pub mod signer;
pub mod sweeper;

/// `N` bytes from the operating system's CSPRNG.
///
/// # Panics
/// If the OS cannot provide randomness; there is no safe way to mint a secret without it.
pub fn random_bytes<const N: usize>() -> [u8; N] {
    let mut buf = [0u8; N];
    getrandom::fill(&mut buf).expect("the operating system's random source failed");
    buf
}
