//! The phase machine: an attempt's [`Phase`], what the browser sees of it and why a
//! transition from it is refused.

use super::*;

#[derive(Debug, Clone)]
pub(super) enum Phase {
    Pending,
    Scanned,
    Approved {
        key: [u8; 32],
        name: String,
        protocol: String,
        at_ms: u64,
    },
    Rejected,
    Claimed,
}

impl From<SharedPhase> for Phase {
    fn from(p: SharedPhase) -> Self {
        match p {
            SharedPhase::Pending => Phase::Pending,
            SharedPhase::Scanned => Phase::Scanned,
            SharedPhase::Approved {
                key,
                name,
                protocol,
                at_ms,
            } => Phase::Approved {
                key,
                name,
                protocol,
                at_ms,
            },
            SharedPhase::Rejected => Phase::Rejected,
            SharedPhase::Claimed => Phase::Claimed,
        }
    }
}

impl Phase {
    /// What the browser sees of this phase.
    pub(super) fn status(&self) -> Status {
        match self {
            Phase::Pending => Status::Pending,
            Phase::Scanned => Status::Scanned,
            Phase::Approved { name, .. } => Status::Approved { name: name.clone() },
            Phase::Rejected => Status::Rejected,
            // A claimed attempt was approved; its stream has ended by then.
            Phase::Claimed => Status::Approved {
                name: String::new(),
            },
        }
    }

    /// Why a transition from this phase is refused.
    pub(super) fn refusal(&self) -> AttemptError {
        match self {
            Phase::Approved { .. } => AttemptError::AlreadyDone("approved"),
            Phase::Rejected => AttemptError::AlreadyDone("rejected"),
            Phase::Claimed => AttemptError::AlreadyDone("claimed"),
            Phase::Pending | Phase::Scanned => AttemptError::NotApproved,
        }
    }
}
