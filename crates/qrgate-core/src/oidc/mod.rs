//! The OpenID Connect provider on the SSO origin: the protocol decisions, without I/O.
//!
//! The glue (`src/oidc/` of the `qrgate` crate) keeps the signing keys in a file and answers
//! the endpoints; everything it answers is decided here.

pub mod keys;
