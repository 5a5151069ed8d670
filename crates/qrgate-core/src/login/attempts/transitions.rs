//! The single-use transitions of an attempt (scan, approve, reject, claim): each decided under
//! the attempt's own lock, or by the share when several instances serve the attempts.

use std::sync::atomic::Ordering;

use super::phase::Phase;
use super::{shared_verdict, verdict, Ask, Attempt, AttemptError, Logins, Stage, When};
use crate::http::cookies;
use crate::identity::Identity;
use crate::login::confirm::Action;
use crate::login::share::{Outcome, SharedPhase, Transition};
use crate::raw::KeyBytes;

impl Logins {
    /// The signer fetched the challenge. Idempotent while pending or scanned.
    pub async fn scan(&self, a: &Attempt) -> Result<(), AttemptError> {
        self.decide(a, Transition::Scan).await.map(drop)
    }

    /// Approval by a verified, permitted identity through `protocol`. Exactly one approval
    /// wins.
    pub async fn approve(
        &self,
        a: &Attempt,
        identity: &Identity,
        protocol: &str,
    ) -> Result<(), AttemptError> {
        let t = Transition::Approve {
            key: identity.key,
            name: identity.user.clone(),
            protocol: protocol.to_string(),
        };
        self.decide(a, t).await.map(drop)
    }

    /// The signer declined.
    pub async fn reject(&self, a: &Attempt) -> Result<(), AttemptError> {
        self.decide(a, Transition::Reject).await.map(drop)
    }

    /// The browser that started the attempt collects the approving key and the protocol it
    /// approved through, once, as what it asked for: `action` is the action it claims (`None`
    /// for a session or a step-up). An approval given for anything else is refused and stays
    /// unclaimed; the share compares the purpose too, in the same atomic step as the claim.
    pub async fn claim(
        &self,
        a: &Attempt,
        bind_cookie: Option<&str>,
        action: Option<&Action>,
    ) -> Result<(KeyBytes, String), AttemptError> {
        if !cookies::matches_hash(bind_cookie, &a.request.bind_hash) {
            return Err(AttemptError::WrongBrowser);
        }
        let action = action.map(Action::wire).unwrap_or_default();
        if a.request.purpose.claimed_as() != action {
            return Err(AttemptError::OtherPurpose);
        }
        let window_ms = self.claim_window_ms.load(Ordering::Relaxed);
        let key = self
            .decide(a, Transition::Claim { window_ms, action })
            .await?;
        self.remove(&a.id);
        key.ok_or(AttemptError::NotApproved)
    }

    /// Applies a transition: decided by the share when there is one (for every instance),
    /// else here under the attempt's mutex. Returns the approving key for a claim.
    async fn decide(
        &self,
        a: &Attempt,
        t: Transition,
    ) -> Result<Option<(KeyBytes, String)>, AttemptError> {
        let now = self.clock.now_millis();
        let Some(share) = &self.share else {
            let mut phase = a.lock();
            return self.step(a, &mut phase, &t, now);
        };
        let outcome = share.transition(&a.id, &t, now).await?;
        shared_verdict(&t, &outcome)?;
        // The share decided for every instance; follow it here for this instance's event
        // streams.
        let mut phase = a.lock();
        let next = match (t, outcome) {
            (
                Transition::Claim { .. },
                Outcome::Done(SharedPhase::Approved { key, protocol, .. }),
            ) => {
                *phase = Phase::Claimed;
                return Ok(Some((key, protocol)));
            }
            (Transition::Claim { .. }, _) => return Err(AttemptError::NotApproved),
            (Transition::Scan, _) => Phase::Scanned,
            (
                Transition::Approve {
                    key,
                    name,
                    protocol,
                },
                _,
            ) => Phase::Approved {
                key,
                name,
                protocol,
                at_ms: now,
            },
            (Transition::Reject, _) => Phase::Rejected,
        };
        let status = next.status();
        *phase = next;
        a.status.send_if_modified(|s| {
            let changed = *s != status;
            *s = status;
            changed
        });
        Ok(None)
    }

    /// One transition from `phase` as [`TRANSITIONS`] decides it, announced on the attempt's
    /// status channel (a claim is not: its stream has ended).
    fn step(
        &self,
        a: &Attempt,
        phase: &mut Phase,
        t: &Transition,
        now: u64,
    ) -> Result<Option<(KeyBytes, String)>, AttemptError> {
        let own = a
            .request
            .purpose
            .action()
            .map(|c| c.action.wire())
            .unwrap_or_default();
        let late = match (t, &*phase) {
            (Transition::Claim { window_ms, .. }, Phase::Approved { at_ms, .. }) => {
                now >= at_ms.saturating_add(*window_ms)
            }
            // Only an approval has a claim window; the table refuses the others alike.
            (Transition::Claim { .. }, _) => false,
            _ => now >= a.expires_ms,
        };
        let from = phase.stage();
        let when = if late { When::Late } else { When::InTime };
        let to = verdict(from, Ask::of(t, &own), when)?;
        if to == from {
            return Ok(None);
        }
        let next = match (to, t, &*phase) {
            (Stage::Scanned, _, _) => Phase::Scanned,
            (Stage::Rejected, _, _) => Phase::Rejected,
            (
                Stage::Approved,
                Transition::Approve {
                    key,
                    name,
                    protocol,
                },
                _,
            ) => Phase::Approved {
                key: *key,
                name: name.clone(),
                protocol: protocol.clone(),
                at_ms: now,
            },
            (Stage::Claimed, _, Phase::Approved { key, protocol, .. }) => {
                let approved = (*key, protocol.clone());
                *phase = Phase::Claimed;
                return Ok(Some(approved));
            }
            // A row this phase cannot take changes nothing.
            _ => return Err(from.refusal()),
        };
        a.status.send_replace(next.status());
        *phase = next;
        Ok(None)
    }
}
