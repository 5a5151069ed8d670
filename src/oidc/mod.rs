//! The OpenID Connect provider's glue: its signing keys' file ([`keys`]) and client secrets
//! read from files ([`secrets`]). The protocol is `qrgate_core::oidc`; the Redis store of
//! what it issues is `crate::redis::oidc`.

pub mod keys;
pub mod secrets;

pub use keys::install;
