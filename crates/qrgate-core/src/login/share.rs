//! What several gateway instances share about login attempts, as a trait the attempt table
//! calls: the record of every attempt (so any instance can answer a scan or an approval for
//! an attempt another instance created), the single-use transitions (decided once for all
//! instances, never by a read-then-write), the status changes every instance must hear (an
//! event stream held by instance A learns of an approval that landed on B), and the
//! single-use marks of signer tokens.
//!
//! Without a share (one process) the attempt table is the authority itself. The Redis
//! implementation lives in the glue crate; this module does no I/O.

use std::net::IpAddr;

use async_trait::async_trait;
use serde::{Deserialize, Serialize};

use crate::raw::KeyBytes;
use crate::session::StoreError;

/// An attempt's immutable facts, as stored for the other instances.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
pub struct AttemptRecord {
    /// The attempt's id.
    pub id: String,
    /// The app's name.
    pub app: String,
    /// SHA-256 of the browser's binding cookie (hex).
    pub bind_hash: String,
    /// The requesting client's address.
    pub requester: Option<IpAddr>,
    /// As shown to the signer.
    pub requester_ip: String,
    /// As shown to the signer.
    pub requester_agent: String,
    /// Validated return path.
    pub return_to: String,
    /// A step-up's session hash and key (hex), when the attempt confirms a session.
    #[serde(default)]
    pub step_up: Option<(String, String)>,
    /// An action's asking session hash (hex) and the action's written form
    /// ([`crate::login::confirm::Action::wire`]), when the attempt confirms an action.
    #[serde(default)]
    pub action: Option<(String, String)>,
    /// A device code's hash (hex) and what the program asks for (the JSON of
    /// [`crate::login::signers::program::ProgramAsk`]), when the attempt approves one.
    #[serde(default)]
    pub device: Option<(String, String)>,
    /// The grant asked for, when less than read-write everywhere.
    #[serde(default)]
    pub grant: Option<String>,
    /// Issued, ms since the epoch.
    pub issued_ms: u64,
    /// Expires, ms since the epoch.
    pub expires_ms: u64,
    /// Each offered protocol's material.
    pub materials: Vec<SharedMaterial>,
}

impl AttemptRecord {
    /// What a claim of the attempt must name (the share compares it in the claim's one
    /// step): an action's written form, a device code's tag, or empty.
    pub fn claimed_as(&self) -> String {
        match (&self.action, &self.device) {
            (Some((_, action)), _) => action.clone(),
            (None, Some((device, _))) => device_tag(device),
            (None, None) => String::new(),
        }
    }
}

/// The claim tag of a device code's attempt (`device:` and its hash in hex): no claim names
/// it, so nothing collects such an attempt.
pub(crate) fn device_tag(device_hex: &str) -> String {
    format!("device:{device_hex}")
}

/// One protocol's material, stored.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
pub struct SharedMaterial {
    /// The protocol's name.
    pub(crate) signer: String,
    /// The secret (hex).
    pub(crate) secret: String,
    /// The fixed text.
    pub(crate) text: String,
    /// The endpoint channel.
    pub channel: Option<String>,
}

/// Where a shared attempt stands.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SharedPhase {
    /// Waiting for a scan.
    Pending,
    /// Scanned.
    Scanned,
    /// Approved by `key`, shown as `name`, through `protocol`, at `at_ms`.
    Approved {
        /// The approving key.
        key: KeyBytes,
        /// The user's name at approval.
        name: String,
        /// The signer protocol that approved.
        protocol: String,
        /// When.
        at_ms: u64,
    },
    /// Declined.
    Rejected,
    /// Claimed by its browser.
    Claimed,
}

/// A single-use transition, decided by the share for every instance.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Transition {
    /// Pending → scanned (scanned stays scanned).
    Scan,
    /// Pending or scanned → approved by `key` (shown as `name`) through `protocol`.
    Approve {
        /// The approving key.
        key: KeyBytes,
        /// Its user's name.
        name: String,
        /// The signer protocol.
        protocol: String,
    },
    /// Pending or scanned → rejected.
    Reject,
    /// Approved → claimed, within `window_ms` of the approval, as `action`: refused unless
    /// it is exactly what the attempt was made for (empty: a session or a step-up).
    Claim {
        /// The claim window.
        window_ms: u64,
        /// The claimed action's written form, or empty.
        action: String,
    },
}

/// What the share decided.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Outcome {
    /// Done; for a claim, the approval it collected.
    Done(SharedPhase),
    /// Refused: the attempt was in this phase.
    Refused(SharedPhase),
    /// Refused: the claim named another purpose than the attempt's (nothing changed).
    OtherPurpose,
    /// Refused: the attempt's time (or the claim window) is over.
    Expired,
    /// No such attempt.
    Gone,
}

/// Attempts shared by several instances. Every method fails closed: a share that cannot
/// answer is an error, never "no such attempt" and never "done".
#[async_trait]
pub trait AttemptShare: Send + Sync + 'static {
    /// Stores a new attempt for every instance, until `keep_ms` after now.
    async fn put(&self, record: &AttemptRecord, keep_ms: u64) -> Result<(), StoreError>;
    /// An attempt by id, with its phase now.
    async fn fetch(&self, id: &str) -> Result<Option<(AttemptRecord, SharedPhase)>, StoreError>;
    /// The attempt id waiting on a protocol endpoint's channel.
    async fn channel(&self, channel: &str) -> Result<Option<String>, StoreError>;
    /// Applies `t` to attempt `id` atomically at time `now_ms`; a browser-visible change is
    /// announced to every instance (in the form
    /// [`Status::from_announcement`](crate::login::attempts::Status::from_announcement) reads).
    async fn transition(
        &self,
        id: &str,
        t: &Transition,
        now_ms: u64,
    ) -> Result<Outcome, StoreError>;
    /// Marks `mark` (a signer token's fingerprint) used for `keep_ms`; false if it already
    /// was, on any instance.
    async fn first_use(&self, mark: &[u8], keep_ms: u64) -> Result<bool, StoreError>;
    /// Whether the share answers now.
    async fn ready(&self) -> Result<(), StoreError>;
}
