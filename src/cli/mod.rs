//! What the `qrgate` command does besides serving: the admin API's client (`qrgate sessions`,
//! `qrgate devices`, `qrgate invite`), the reference signer (`qrgate keygen` / `qrgate sign`)
//! and the demo upstream app.

pub mod admin_client;
pub mod demo;
pub mod signer;
