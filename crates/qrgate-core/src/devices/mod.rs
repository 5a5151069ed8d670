//! Devices enrolled by invitation: browsers (usually a phone's) holding a non-extractable
//! WebCrypto Ed25519 key that the gateway has bound to a configured user.
//!
//! Two parts, for two speeds:
//!
//! - [`Devices`], the registry every request of an enrolled key reads (who is this key?):
//!   in memory on every instance, with the identity it derives cached per config, so the hot
//!   path makes no store call. The glue fills it at start (state file or Redis) and, with
//!   several instances, from the others' announcements.
//! - [`DeviceStore`], where enrollments and invitations are kept: `MemoryDevices` for one
//!   instance (devices reach the state file through the registry), Redis for several.
//! - [`DeviceLedger`], where one instance's table outlives the process (the glue's state
//!   file): with one, `Devices::enroll` and `Devices::forget` change the table only once
//!   the ledger holds the change on disk, so an answered enrollment survives a `kill -9`.
//!
//! Only public keys are kept; the private key never leaves the browser that made it. An
//! invitation is kept by the SHA-256 of its token, like a session.

mod record;
mod registry;
mod review;
mod store;
#[cfg(test)]
mod tests;

pub use record::{device_id, Device, Invitation};
pub use registry::{DeviceLedger, Devices};
pub use review::Retired;
pub(crate) use review::{invitation_fits, review, Review};
pub(crate) use store::MemoryDevices;
pub use store::{DeviceStore, Redeemed};
