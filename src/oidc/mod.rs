//! The OpenID Connect provider's glue: its signing keys' file ([`keys`]), client secrets
//! read from files ([`secrets`]) and back-channel logout delivery ([`backchannel`]). The protocol is `qrgate_core::oidc`; the Redis store of
//! what it issues is `crate::redis::oidc`.

pub mod backchannel;
pub mod keys;
pub mod secrets;

pub use keys::install;
