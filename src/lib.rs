//! qrgate: a QR-login authentication gateway in front of HTTP apps — the pingora glue.
//!
//! Every decision is made in [`qrgate_core`], which cannot depend on pingora; this crate
//! moves bytes between that core and sockets.
//!
//! # Layout
//! - [`proxy`]: the pingora `ProxyHttp` implementation: thin adapters from each hook to the
//!   core's decision, routes and header edits, with
//!   - `proxy::peers`: each app's upstream resolved to a pingora peer, once per config;
//!   - `proxy::local`: what the gateway answers itself on a session (its routes, local
//!     replies, event streams);
//!   - [`proxy::request_body`]: the capped read of a body the gateway answers itself, and the
//!     minimum body pace every request keeps;
//!   - [`proxy::tether`]: long-lived responses (websockets, streams) end when their session
//!     does.
//! - [`conn`]: a connection before and beside pingora's HTTP handling:
//!   - [`conn::guard`]: per-connection limits before the HTTP parser: connection cap, head
//!     size limits (414/431), head deadline and keep-alive idle timeout;
//!   - [`conn::event_streams`]: login event streams served on the connection itself, beside
//!     pingora's proxy (a waiting page holds only its connection and status receiver);
//!   - [`conn::tls`]: HTTPS listeners and their reloadable certificate.
//! - [`lifecycle`]: the process's life:
//!   - [`lifecycle::server`]: starts the pingora server (or serves a listener you bound, for
//!     tests);
//!   - [`lifecycle::reload`]: re-reads the config on `SIGHUP` and puts it in force atomically;
//!   - [`lifecycle::upgrade`]: zero-downtime binary upgrade (`SIGUSR2`) and the signals that
//!     end the process;
//!   - [`lifecycle::state`]: the session state file (token hashes only) kept across restarts;
//!   - [`lifecycle::sweeper`]: the background service that frees expired sessions and
//!     attempts.
//! - [`files`]: the files the gateway reads and writes:
//!   - [`files::config_file`]: reads the config file for the core's pure `Config::parse`;
//!   - [`files::private_file`]: 0600 files written atomically and durably (state file,
//!     assertion keys), and read only if the gateway's own user (or root) owns them and
//!     others cannot change them;
//!   - [`files::assertion_keys`]: the identity assertion signing keys' file and its rotation.
//! - [`admin`]: the admin listener: `/metrics`, `/healthz`, `/readyz`, the session API, with
//!   - [`admin::token`]: the admin API's bearer token file (owner-only) or systemd credential.
//! - [`redis`]: the Redis store shared by several instances: sessions (with a local cache),
//!   login attempts (atomic transitions in Lua), devices, and
//!   - [`redis::announcements`]: the pub/sub listener for what other instances announce;
//!   - [`redis::device_codes`]: the device authorization grant's device codes.
//!   - `redis::target`: which server the store talks to: a URL's, the primary Redis
//!     Sentinel names (followed through a failover), or a Redis Cluster;
//!   - `redis::conn`: one handle on a single server's or a cluster's connection.
//! - [`cli`]: what the `qrgate` command does besides serving:
//!   - [`cli::admin_client`]: `qrgate sessions list|revoke`, the admin API's client;
//!   - [`cli::signer`]: the reference signer behind `qrgate keygen` / `qrgate sign`;
//!   - [`cli::login`]: `qrgate login` / `qrgate token`, the device login's reference client;
//!   - [`cli::demo`]: a small upstream app that shows the identity headers it receives.
//! - [`oidc`]: the OpenID Connect provider's signing keys' file and client secret files.

pub mod admin;
pub mod cli;
pub mod conn;
pub mod files;
pub mod lifecycle;
pub mod oidc;
pub mod proxy;
pub mod redis;
