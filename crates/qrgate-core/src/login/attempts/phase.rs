//! The phase machine: an attempt's [`Phase`], what the browser sees of it, and the
//! transition table every share of attempts keeps ([`TRANSITIONS`]): what each transition
//! does from each phase, in time or late, and why it is refused.

use super::*;

#[derive(Debug, Clone)]
pub(super) enum Phase {
    Pending,
    Scanned,
    Approved {
        key: KeyBytes,
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

    /// Where it stands, in the table's terms.
    pub(super) fn stage(&self) -> Stage {
        match self {
            Phase::Pending => Stage::Pending,
            Phase::Scanned => Stage::Scanned,
            Phase::Approved { .. } => Stage::Approved,
            Phase::Rejected => Stage::Rejected,
            Phase::Claimed => Stage::Claimed,
        }
    }
}

/// Where an attempt stands, without what an approval carries: the phases of
/// [`TRANSITIONS`], named alike in memory and in every share.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Stage {
    /// Waiting for a scan.
    Pending,
    /// Scanned.
    Scanned,
    /// Approved, not yet claimed.
    Approved,
    /// Declined.
    Rejected,
    /// Claimed by its browser.
    Claimed,
}

/// What is asked of an attempt: the transitions of [`TRANSITIONS`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Ask {
    /// A signer fetched the challenge.
    Scan,
    /// A verified, permitted key approves.
    Approve,
    /// The signer declines.
    Reject,
    /// The browser collects the approval as what the attempt was made for.
    Claim,
    /// A claim naming another purpose than the attempt's (a session's claim of an action's
    /// approval, or one action's of another's).
    ClaimOtherPurpose,
}

/// When it is asked, against the time the transition is held to: the attempt's lifetime for
/// a scan, an approval or a rejection; the claim window after the approval for a claim.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum When {
    /// Within that time.
    InTime,
    /// After it.
    Late,
}

/// What becomes of an attempt in `from` asked `ask` at `when`: the stage it is in after
/// (a scan of a scanned attempt stays scanned), or why it is refused (nothing changes).
pub type Verdict = Result<Stage, AttemptError>;

/// One row of [`TRANSITIONS`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Row {
    /// The stage the attempt is in.
    pub from: Stage,
    /// What is asked.
    pub ask: Ask,
    /// When.
    pub when: When,
    /// What becomes of it.
    pub verdict: Verdict,
}

const fn row(from: Stage, ask: Ask, when: When, verdict: Verdict) -> Row {
    Row {
        from,
        ask,
        when,
        verdict,
    }
}

use Ask::{Approve, Claim, ClaimOtherPurpose, Reject, Scan};
use When::{InTime, Late};

const DONE_APPROVED: AttemptError = AttemptError::AlreadyDone("approved");
const DONE_REJECTED: AttemptError = AttemptError::AlreadyDone("rejected");
const DONE_CLAIMED: AttemptError = AttemptError::AlreadyDone("claimed");

/// The attempt's single-use state machine, every stage × every ask × in time or late,
/// refusals included. The memory path runs on it (`verdict`); the Redis share's script is
/// checked against it, row by row, by the glue's `attempt_transitions_match_the_table` test.
/// The phase is checked before the time, and a claim's purpose before either.
pub const TRANSITIONS: &[Row] = &[
    row(Stage::Pending, Scan, InTime, Ok(Stage::Scanned)),
    row(Stage::Pending, Scan, Late, Err(AttemptError::Expired)),
    row(Stage::Pending, Approve, InTime, Ok(Stage::Approved)),
    row(Stage::Pending, Approve, Late, Err(AttemptError::Expired)),
    row(Stage::Pending, Reject, InTime, Ok(Stage::Rejected)),
    row(Stage::Pending, Reject, Late, Err(AttemptError::Expired)),
    row(
        Stage::Pending,
        Claim,
        InTime,
        Err(AttemptError::NotApproved),
    ),
    row(Stage::Pending, Claim, Late, Err(AttemptError::NotApproved)),
    row(
        Stage::Pending,
        ClaimOtherPurpose,
        InTime,
        Err(AttemptError::OtherPurpose),
    ),
    row(
        Stage::Pending,
        ClaimOtherPurpose,
        Late,
        Err(AttemptError::OtherPurpose),
    ),
    row(Stage::Scanned, Scan, InTime, Ok(Stage::Scanned)),
    row(Stage::Scanned, Scan, Late, Err(AttemptError::Expired)),
    row(Stage::Scanned, Approve, InTime, Ok(Stage::Approved)),
    row(Stage::Scanned, Approve, Late, Err(AttemptError::Expired)),
    row(Stage::Scanned, Reject, InTime, Ok(Stage::Rejected)),
    row(Stage::Scanned, Reject, Late, Err(AttemptError::Expired)),
    row(
        Stage::Scanned,
        Claim,
        InTime,
        Err(AttemptError::NotApproved),
    ),
    row(Stage::Scanned, Claim, Late, Err(AttemptError::NotApproved)),
    row(
        Stage::Scanned,
        ClaimOtherPurpose,
        InTime,
        Err(AttemptError::OtherPurpose),
    ),
    row(
        Stage::Scanned,
        ClaimOtherPurpose,
        Late,
        Err(AttemptError::OtherPurpose),
    ),
    row(Stage::Approved, Scan, InTime, Err(DONE_APPROVED)),
    row(Stage::Approved, Scan, Late, Err(DONE_APPROVED)),
    row(Stage::Approved, Approve, InTime, Err(DONE_APPROVED)),
    row(Stage::Approved, Approve, Late, Err(DONE_APPROVED)),
    row(Stage::Approved, Reject, InTime, Err(DONE_APPROVED)),
    row(Stage::Approved, Reject, Late, Err(DONE_APPROVED)),
    row(Stage::Approved, Claim, InTime, Ok(Stage::Claimed)),
    row(Stage::Approved, Claim, Late, Err(AttemptError::Expired)),
    row(
        Stage::Approved,
        ClaimOtherPurpose,
        InTime,
        Err(AttemptError::OtherPurpose),
    ),
    row(
        Stage::Approved,
        ClaimOtherPurpose,
        Late,
        Err(AttemptError::OtherPurpose),
    ),
    row(Stage::Rejected, Scan, InTime, Err(DONE_REJECTED)),
    row(Stage::Rejected, Scan, Late, Err(DONE_REJECTED)),
    row(Stage::Rejected, Approve, InTime, Err(DONE_REJECTED)),
    row(Stage::Rejected, Approve, Late, Err(DONE_REJECTED)),
    row(Stage::Rejected, Reject, InTime, Err(DONE_REJECTED)),
    row(Stage::Rejected, Reject, Late, Err(DONE_REJECTED)),
    row(Stage::Rejected, Claim, InTime, Err(DONE_REJECTED)),
    row(Stage::Rejected, Claim, Late, Err(DONE_REJECTED)),
    row(
        Stage::Rejected,
        ClaimOtherPurpose,
        InTime,
        Err(AttemptError::OtherPurpose),
    ),
    row(
        Stage::Rejected,
        ClaimOtherPurpose,
        Late,
        Err(AttemptError::OtherPurpose),
    ),
    row(Stage::Claimed, Scan, InTime, Err(DONE_CLAIMED)),
    row(Stage::Claimed, Scan, Late, Err(DONE_CLAIMED)),
    row(Stage::Claimed, Approve, InTime, Err(DONE_CLAIMED)),
    row(Stage::Claimed, Approve, Late, Err(DONE_CLAIMED)),
    row(Stage::Claimed, Reject, InTime, Err(DONE_CLAIMED)),
    row(Stage::Claimed, Reject, Late, Err(DONE_CLAIMED)),
    row(Stage::Claimed, Claim, InTime, Err(DONE_CLAIMED)),
    row(Stage::Claimed, Claim, Late, Err(DONE_CLAIMED)),
    row(
        Stage::Claimed,
        ClaimOtherPurpose,
        InTime,
        Err(AttemptError::OtherPurpose),
    ),
    row(
        Stage::Claimed,
        ClaimOtherPurpose,
        Late,
        Err(AttemptError::OtherPurpose),
    ),
];

/// The table's verdict on `ask` of an attempt in `from` at `when`. A case the table lacks
/// (its completeness is a unit test) is refused as the stage refuses, never done.
pub(crate) fn verdict(from: Stage, ask: Ask, when: When) -> Verdict {
    TRANSITIONS
        .iter()
        .find(|r| r.from == from && r.ask == ask && r.when == when)
        .map_or_else(|| Err(from.refusal()), |r| r.verdict.clone())
}

impl Stage {
    /// The stage of a share's phase.
    pub fn of(phase: &SharedPhase) -> Stage {
        match phase {
            SharedPhase::Pending => Stage::Pending,
            SharedPhase::Scanned => Stage::Scanned,
            SharedPhase::Approved { .. } => Stage::Approved,
            SharedPhase::Rejected => Stage::Rejected,
            SharedPhase::Claimed => Stage::Claimed,
        }
    }

    /// Why a transition from this stage is refused.
    pub(crate) fn refusal(self) -> AttemptError {
        match self {
            Stage::Approved => DONE_APPROVED,
            Stage::Rejected => DONE_REJECTED,
            Stage::Claimed => DONE_CLAIMED,
            Stage::Pending | Stage::Scanned => AttemptError::NotApproved,
        }
    }
}

impl Ask {
    /// What transition `t` asks, `own` being the written form of the attempt's action (empty
    /// for a sign-in or a step-up).
    pub(crate) fn of(t: &Transition, own: &str) -> Ask {
        match t {
            Transition::Scan => Ask::Scan,
            Transition::Approve { .. } => Ask::Approve,
            Transition::Reject => Ask::Reject,
            Transition::Claim { action, .. } if action == own => Ask::Claim,
            Transition::Claim { .. } => Ask::ClaimOtherPurpose,
        }
    }
}

/// The verdict a share's `outcome` of transition `t` stands for, in the table's terms: how
/// the attempt table reads every answer of the share.
pub fn shared_verdict(t: &Transition, outcome: &Outcome) -> Verdict {
    match outcome {
        Outcome::Done(found) => match (t, found) {
            // A claim answers with the approval it collected.
            (Transition::Claim { .. }, SharedPhase::Approved { .. }) => Ok(Stage::Claimed),
            (Transition::Claim { .. }, _) => Err(AttemptError::NotApproved),
            (Transition::Scan, _) => Ok(Stage::Scanned),
            (Transition::Approve { .. }, _) => Ok(Stage::Approved),
            (Transition::Reject, _) => Ok(Stage::Rejected),
        },
        Outcome::Refused(found) => Err(Stage::of(found).refusal()),
        Outcome::OtherPurpose => Err(AttemptError::OtherPurpose),
        Outcome::Expired => Err(AttemptError::Expired),
        Outcome::Gone => Err(AttemptError::NotFound),
    }
}
