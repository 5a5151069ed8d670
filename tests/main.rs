//! qrgate's integration tests: one binary (pingora links slowly), one module per area.
//! Every test starts the real gateway on loopback in front of a real HTTP upstream.

mod common;

mod admin_access;
mod assertion;
mod browser;
mod browser_driver;
mod browser_phone;
mod browser_sso;
mod client_limits;
mod compat;
mod config_errors;
mod cookies;
mod devices;
mod devices_apps;
mod devices_origins;
mod devices_users;
mod durable_state;
mod forward_auth;
mod forward_auth_rules;
mod forward_auth_verify;
mod hardening;
mod key_rotation;
mod login;
mod login_signer;
mod login_streams;
mod oidc;
mod oidc_backchannel;
mod oidc_redis;
mod oidc_synapse;
mod operate;
mod operate_admin;
mod operate_tls;
mod operate_upgrade;
mod path_rules;
mod proxy_core;
mod redis;
mod redis_common;
mod redis_devices;
mod redis_transitions;
mod sessions;
mod sessions_access;
mod shutdown;
mod sso;
mod sso_family;
mod sso_redis;
