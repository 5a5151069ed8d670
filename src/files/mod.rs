//! The files the gateway reads and writes: the config file, owner-only private files written
//! atomically, signing key files under a lock, and the identity assertion signing keys.

pub mod assertion_keys;
pub mod config_file;
pub mod key_file;
pub mod private_file;
