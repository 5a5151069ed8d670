//! qrgate: a QR-login authentication gateway in front of HTTP apps — the pingora glue.
//!
//! Every decision is made in [`qrgate_core`], which cannot depend on pingora; this crate
//! moves bytes between that core and sockets.
//!
//! # Layout
//! - [`assertion_keys`]: the identity assertion signing keys' file and its rotation.
//! - [`admin`]: the admin listener: `/metrics`, `/healthz`, `/readyz`, the session API.
//! - [`admin_token`]: the admin API's bearer token file (owner-only) or systemd credential.
//! - [`config_file`]: reads the config file for the core's pure `Config::parse`.
//! - [`control`]: `qrgate sessions list|revoke`, the session API's client.
//! - [`proxy`]: the pingora `ProxyHttp` implementation: thin adapters from each hook to the
//!   core's decision, routes and header edits.
//! - [`request_body`]: the capped read of a body the gateway answers itself, and the minimum
//!   body pace every request keeps.
//! - [`event_streams`]: login event streams served on the connection itself, beside pingora's
//!   proxy (a waiting page holds only its connection and status receiver).
//! - [`guard`]: per-connection limits before the HTTP parser: connection cap, head size
//!   limits (414/431), head deadline and keep-alive idle timeout.
//! - [`server`]: starts the pingora server (or serves a listener you bound, for tests).
//! - [`reload`]: re-reads the config on `SIGHUP` and puts it in force atomically.
//! - [`redis`]: the Redis store shared by several instances: sessions (with a local cache),
//!   login attempts (atomic transitions in Lua), and the pub/sub listener.
//! - [`private_file`]: 0600 files written atomically and durably (state file, assertion keys),
//!   and read only if the gateway's own user (or root) owns them and others cannot change them.
//! - [`state`]: the session state file (token hashes only) kept across restarts.
//! - [`tls`]: HTTPS listeners and their reloadable certificate.
//! - [`upgrade`]: zero-downtime binary upgrade (`SIGUSR2`) and the signals that end the process.
//! - [`tether`]: long-lived responses (websockets, streams) end when their session does.
//! - [`sweeper`]: the background service that frees expired sessions and attempts.
//! - [`signer`]: the reference signer behind `qrgate keygen` / `qrgate sign`.
//! - [`demo`]: a small upstream app that shows the identity headers it receives.
//! - [`oidc`]: the OpenID Connect provider's signing keys' file and client secret files.

pub mod admin;
pub mod admin_token;
pub mod assertion_keys;
pub mod config_file;
pub mod control;
pub mod demo;
pub mod event_streams;
pub mod guard;
pub mod oidc;
pub mod private_file;
pub mod proxy;
pub mod redis;
pub mod reload;
pub mod request_body;
pub mod server;
pub mod signer;
pub mod state;
pub mod sweeper;
pub mod tether;
pub mod tls;
pub mod upgrade;
