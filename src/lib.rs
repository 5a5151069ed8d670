//! qrgate: a QR-login authentication gateway in front of HTTP apps — the pingora glue.
//!
//! Every decision is made in [`qrgate_core`], which cannot depend on pingora; this crate
//! moves bytes between that core and sockets.
//!
//! # Layout
//! - [`proxy`]: the pingora `ProxyHttp` implementation: thin adapters from each hook to the
//!   core's decision, routes and header edits.
//! - [`server`]: starts the pingora server (or serves a listener you bound, for tests).
//! - [`sweeper`]: the background service that frees expired sessions and attempts.
//! - [`signer`]: the reference signer behind `qrgate keygen` / `qrgate sign`.
//! - [`demo`]: a small upstream app that shows the identity headers it receives.

pub mod demo;
pub mod proxy;
pub mod server;
pub mod signer;
pub mod sweeper;
