//! A client connection before and beside pingora's HTTP handling: the per-connection limits
//! in front of the parser, the login event streams served on the connection itself, and the
//! HTTPS listeners.

pub mod event_streams;
pub mod guard;
pub mod tls;
