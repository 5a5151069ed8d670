//! The table of login attempts and their single-use state machine.
//!
//! ```text
//! Pending ──scan──▶ Scanned ──approve──▶ Approved ──claim──▶ Claimed
//!    │                 │                    │
//!    └──reject/expire──┴──reject/expire─────┴──claim window over──▶ (gone)
//! ```
//!
//! Every transition happens under the attempt's own mutex and checks the phase it starts
//! from, so of two racing approvals exactly one wins, and approve, reject and claim are each
//! single use. Signatures are verified *before* taking the lock (they are slow and pure);
//! the lock is never held across an `.await`. This module does no I/O.
//!
//! With an [`AttemptShare`] (several instances), the share decides every transition for all
//! instances and this table holds the attempts this instance serves — its own and the ones it
//! fetched — with their status channels, which other instances' announcements update
//! ([`Logins::observe`]).

use std::net::IpAddr;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use dashmap::DashMap;
use tokio::sync::watch;

use crate::clock::{millis, Clock};
use crate::config::LoginConfig;
use crate::identity::access::Grant;
use crate::login::confirm::{Action, Confirm};
use crate::login::share::{
    AttemptRecord, AttemptShare, Outcome, SharedMaterial, SharedPhase, Transition,
};
use crate::login::signers::protocol::{AttemptFacts, Material, SignerId};
use crate::session::StoreError;

mod phase;
mod record;
mod request;
mod status;
mod transitions;

use crate::raw::{BindingHash, KeyBytes, Secret, TokenHash};
pub(crate) use phase::verdict;
use phase::Phase;
pub use phase::{shared_verdict, Ask, Row, Stage, Verdict, When, TRANSITIONS};
use record::{parts, record};
pub use request::{DeviceConsent, NewAttempt, Purpose, StepUp};
pub use status::Status;

/// One login attempt. Immutable facts plus a guarded phase.
#[derive(Debug)]
pub struct Attempt {
    /// Public id (`sess_` + 16 of `[0-9a-z]`), carried in the QR.
    pub(crate) id: String,
    /// What the browser asked for.
    pub(crate) request: NewAttempt,
    /// Issued, ms since the epoch.
    pub(crate) issued_ms: u64,
    /// Expires, ms since the epoch.
    pub(crate) expires_ms: u64,
    /// Each offered signer's secret material, made at creation.
    materials: Vec<(SignerId, Material)>,
    phase: Mutex<Phase>,
    status: watch::Sender<Status>,
}

/// Why a transition was refused. Each maps to one HTTP status in the routes.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum AttemptError {
    /// No such attempt (or long gone).
    #[error("no such login attempt")]
    NotFound,
    /// The attempt's time is up.
    #[error("this login attempt has expired")]
    Expired,
    /// Already approved, rejected or claimed.
    #[error("this login attempt was already {0}")]
    AlreadyDone(&'static str),
    /// Claim before approval.
    #[error("this login attempt has not been approved")]
    NotApproved,
    /// Claim from a browser that did not start the attempt.
    #[error("this browser did not start this login")]
    WrongBrowser,
    /// Claim of an approval given for something else (a sign-in, a step-up, another action).
    #[error("this approval was given for something else")]
    OtherPurpose,
    /// Too many pending attempts.
    #[error("too many logins in progress; try again shortly")]
    Full,
    /// Too many pending attempts from this client.
    #[error("too many sign-ins in progress from this address; finish or wait for one first")]
    ClientBusy,
    /// The shared store could not answer (never "not found" and never "done").
    #[error(transparent)]
    Store(#[from] StoreError),
}

/// What a sweep removed.
#[derive(Debug, Default)]
pub(crate) struct Swept {
    /// Attempts freed.
    pub(crate) freed: usize,
    /// Of those, the ones that ended unfinished (never approved, or approved and never
    /// claimed).
    pub(crate) expired: Vec<Arc<Attempt>>,
}

/// All pending attempts.
pub struct Logins {
    map: DashMap<String, Arc<Attempt>>,
    /// Signer endpoint channel (e.g. Pubky's relay channel) → attempt id.
    channels: DashMap<String, String>,
    count: AtomicUsize,
    /// Pending attempts per client key.
    per_client: DashMap<IpAddr, usize>,
    // Atomics, so a config reload can change them under running requests.
    max_per_client: AtomicUsize,
    lifetime_ms: AtomicU64,
    claim_window_ms: AtomicU64,
    max_pending: AtomicUsize,
    clock: Clock,
    /// The other instances' view, when there are any.
    share: Option<Arc<dyn AttemptShare>>,
    /// Resolves a stored protocol name (attempts fetched from the share).
    signer_ids: Vec<SignerId>,
}

fn new_id() -> String {
    const ALPHABET: &[u8] = b"0123456789abcdefghijklmnopqrstuvwxyz";
    // 252 = 7 × 36: bytes at or above it are skipped so every character is equally likely.
    let mut out = String::from("sess_");
    while out.len() < 21 {
        for b in crate::random_bytes::<24>() {
            if b < 252 && out.len() < 21 {
                out.push(ALPHABET[(b % 36) as usize] as char);
            }
        }
    }
    out
}

impl Logins {
    /// An empty table; at most `max_per_client` pending attempts per client.
    pub fn new(config: &LoginConfig, max_per_client: usize, clock: Clock) -> Self {
        Self {
            map: DashMap::new(),
            channels: DashMap::new(),
            count: AtomicUsize::new(0),
            per_client: DashMap::new(),
            max_per_client: AtomicUsize::new(max_per_client),
            lifetime_ms: AtomicU64::new(millis(config.attempt_lifetime)),
            claim_window_ms: AtomicU64::new(millis(config.claim_window)),
            max_pending: AtomicUsize::new(config.max_pending),
            clock,
            share: None,
            signer_ids: Vec::new(),
        }
    }

    /// Shares attempts with other instances through `share`; `signer_ids` are the protocols
    /// a fetched attempt may name.
    pub(crate) fn shared(
        mut self,
        share: Arc<dyn AttemptShare>,
        signer_ids: Vec<SignerId>,
    ) -> Self {
        self.share = Some(share);
        self.signer_ids = signer_ids;
        self
    }

    /// Whether attempts are shared with other instances.
    pub(crate) fn share(&self) -> Option<&Arc<dyn AttemptShare>> {
        self.share.as_ref()
    }

    /// Applies a reloaded config to attempts created from now on (and to the caps).
    pub(crate) fn reconfigure(&self, config: &LoginConfig, max_per_client: usize) {
        self.lifetime_ms
            .store(millis(config.attempt_lifetime), Ordering::Relaxed);
        self.claim_window_ms
            .store(millis(config.claim_window), Ordering::Relaxed);
        self.max_pending
            .store(config.max_pending, Ordering::Relaxed);
        self.max_per_client.store(max_per_client, Ordering::Relaxed);
    }

    /// Creates an attempt; `prepare` makes each offered signer's material from its facts.
    pub async fn create(
        &self,
        request: NewAttempt,
        prepare: impl FnOnce(&AttemptFacts<'_>) -> Vec<(SignerId, Material)>,
    ) -> Result<Arc<Attempt>, AttemptError> {
        // Reserve a slot first so a flood cannot overshoot the cap between check and insert.
        if self.count.fetch_add(1, Ordering::AcqRel) >= self.max_pending.load(Ordering::Relaxed) {
            self.count.fetch_sub(1, Ordering::AcqRel);
            return Err(AttemptError::Full);
        }
        if let Some(key) = request.client_key {
            // The entry guard makes check-and-increment atomic per client.
            let mut n = self.per_client.entry(key).or_insert(0);
            if *n >= self.max_per_client.load(Ordering::Relaxed) {
                drop(n);
                self.release_client(key);
                self.count.fetch_sub(1, Ordering::AcqRel);
                return Err(AttemptError::ClientBusy);
            }
            *n += 1;
        }
        let id = new_id();
        let issued_ms = self.clock.now_millis();
        let expires_ms = issued_ms.saturating_add(self.lifetime_ms.load(Ordering::Relaxed));
        let materials = prepare(&AttemptFacts {
            id: &id,
            requester_ip: &request.requester_ip,
            requester_agent: &request.requester_agent,
            issued_ms,
            expires_ms,
            action: request.purpose.confirms(),
            program: request.purpose.device().map(|d| &d.ask),
        });
        for channel in materials.iter().filter_map(|(_, m)| m.channel.as_ref()) {
            self.channels.insert(channel.clone(), id.clone());
        }
        let record = self
            .share
            .as_ref()
            .map(|_| record(&id, &request, issued_ms, expires_ms, &materials));
        let attempt = Arc::new(Attempt {
            id: id.clone(),
            request,
            issued_ms,
            expires_ms,
            materials,
            phase: Mutex::new(Phase::Pending),
            status: watch::channel(Status::Pending).0,
        });
        self.map.insert(id.clone(), attempt.clone());
        if let (Some(share), Some(record)) = (&self.share, record) {
            if let Err(e) = share.put(&record, self.keep_ms()).await {
                self.remove(&id);
                return Err(e.into());
            }
        }
        Ok(attempt)
    }

    /// How long the share keeps an attempt: its lifetime plus a claim window after it.
    fn keep_ms(&self) -> u64 {
        self.lifetime_ms
            .load(Ordering::Relaxed)
            .saturating_add(self.claim_window_ms.load(Ordering::Relaxed))
            .saturating_add(10_000)
    }

    /// A live attempt by id: this instance's, or one fetched from the share.
    pub async fn get(&self, id: &str) -> Result<Arc<Attempt>, AttemptError> {
        if let Some(a) = self.map.get(id) {
            return Ok(a.clone());
        }
        let Some(share) = &self.share else {
            return Err(AttemptError::NotFound);
        };
        let (record, phase) = share.fetch(id).await?.ok_or(AttemptError::NotFound)?;
        let (request, materials) = parts(&record, |name| {
            self.signer_ids.iter().copied().find(|s| s.name() == name)
        })
        .ok_or(AttemptError::NotFound)?;
        if record.id != id {
            return Err(AttemptError::NotFound);
        }
        let phase = Phase::from(phase);
        let fetched = Arc::new(Attempt {
            id: record.id,
            request,
            issued_ms: record.issued_ms,
            expires_ms: record.expires_ms,
            materials,
            status: watch::channel(phase.status()).0,
            phase: Mutex::new(phase),
        });
        // Another request may have fetched it meanwhile: keep one copy, so every event
        // stream here follows the same status channel.
        let mut ours = false;
        let held = self
            .map
            .entry(id.to_string())
            .or_insert_with(|| {
                ours = true;
                self.count.fetch_add(1, Ordering::AcqRel);
                fetched
            })
            .clone();
        if ours {
            // A change announced between the fetch and the insert found nothing here to
            // move: read the phase once more.
            if let Ok(Some((_, now))) = share.fetch(id).await {
                self.observe(id, Phase::from(now).status());
            }
        }
        Ok(held)
    }

    /// The attempt waiting on a signer endpoint's channel.
    pub(crate) async fn by_channel(&self, channel: &str) -> Result<Arc<Attempt>, AttemptError> {
        let local = self.channels.get(channel).map(|id| id.clone());
        let id = match (local, &self.share) {
            (Some(id), _) => id,
            (None, Some(share)) => share
                .channel(channel)
                .await?
                .ok_or(AttemptError::NotFound)?,
            (None, None) => return Err(AttemptError::NotFound),
        };
        self.get(&id).await
    }

    /// Another instance announced `status` for attempt `id`: event streams here follow.
    pub fn observe(&self, id: &str, status: Status) {
        let Some(a) = self.map.get(id).map(|a| a.clone()) else {
            return;
        };
        let mut phase = a.lock();
        match (&*phase, &status) {
            (Phase::Pending, Status::Scanned) => *phase = Phase::Scanned,
            (Phase::Pending | Phase::Scanned, Status::Rejected) => *phase = Phase::Rejected,
            // The approving key stays with the share, which decides the claim.
            (Phase::Pending | Phase::Scanned, Status::Approved { name }) => {
                *phase = Phase::Approved {
                    key: KeyBytes::new([0; 32]),
                    name: name.clone(),
                    protocol: String::new(),
                    at_ms: self.clock.now_millis(),
                }
            }
            _ => return,
        }
        a.status.send_replace(status);
    }

    /// Number of attempts held.
    pub fn len(&self) -> usize {
        self.map.len()
    }

    /// True when none are held.
    pub fn is_empty(&self) -> bool {
        self.map.is_empty()
    }

    /// Whether the attempt's QR has lapsed.
    pub(crate) fn is_expired(&self, a: &Attempt) -> bool {
        self.clock.now_millis() >= a.expires_ms
    }

    /// A receiver of the attempt's status, for the event stream.
    pub fn watch(&self, a: &Attempt) -> watch::Receiver<Status> {
        a.status.subscribe()
    }

    /// How many event streams are following the attempt.
    pub fn watchers(&self, a: &Attempt) -> usize {
        a.status.receiver_count()
    }

    /// Time left before the QR lapses.
    pub(crate) fn remaining(&self, a: &Attempt) -> Duration {
        Duration::from_millis(a.expires_ms.saturating_sub(self.clock.now_millis()))
    }

    /// Drops attempts whose QR lapsed (and whose claim window, if approved, closed);
    /// watchers are told `expired` first.
    pub(crate) fn sweep(&self) -> Swept {
        let now = self.clock.now_millis();
        let claim = self.claim_window_ms.load(Ordering::Relaxed);
        let mut gone = Vec::new();
        for entry in self.map.iter() {
            let a = entry.value();
            let (done, unfinished) = match &*a.lock() {
                Phase::Approved { at_ms, .. } => (now >= at_ms.saturating_add(claim), true),
                Phase::Claimed | Phase::Rejected => (now >= a.expires_ms, false),
                Phase::Pending | Phase::Scanned => (now >= a.expires_ms, true),
            };
            if done {
                gone.push((a.id.clone(), unfinished));
            }
        }
        let mut swept = Swept::default();
        for (id, unfinished) in &gone {
            if let Some(a) = self.remove(id) {
                swept.freed += 1;
                if !a.status.borrow().is_terminal() {
                    a.status.send_replace(Status::Expired);
                }
                if *unfinished {
                    swept.expired.push(a);
                }
            }
        }
        swept
    }

    fn remove(&self, id: &str) -> Option<Arc<Attempt>> {
        let removed = self.map.remove(id).map(|(_, a)| a);
        if let Some(a) = &removed {
            for channel in a.materials.iter().filter_map(|(_, m)| m.channel.as_ref()) {
                self.channels.remove(channel);
            }
            if let Some(key) = a.request.client_key {
                if let Some(mut n) = self.per_client.get_mut(&key) {
                    *n = n.saturating_sub(1);
                }
                self.release_client(key);
            }
            self.count.fetch_sub(1, Ordering::AcqRel);
        }
        removed
    }

    /// Drops a client's counter once it reaches zero, so the map holds only active clients.
    fn release_client(&self, key: IpAddr) {
        self.per_client.remove_if(&key, |_, n| *n == 0);
    }

    /// Clients with pending attempts.
    #[cfg(test)]
    pub(crate) fn clients(&self) -> usize {
        self.per_client.len()
    }
}

impl Attempt {
    fn lock(&self) -> std::sync::MutexGuard<'_, Phase> {
        // A poisoned lock means a panic mid-transition elsewhere; the phase value itself is
        // always a complete assignment, so reading it is still sound.
        self.phase.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Where the attempt stands now.
    pub fn stage(&self) -> Stage {
        self.lock().stage()
    }

    /// The facts signers bind approvals to.
    pub(crate) fn facts(&self) -> AttemptFacts<'_> {
        AttemptFacts {
            id: &self.id,
            requester_ip: &self.request.requester_ip,
            requester_agent: &self.request.requester_agent,
            issued_ms: self.issued_ms,
            expires_ms: self.expires_ms,
            action: self.request.purpose.confirms(),
            program: self.request.purpose.device().map(|d| &d.ask),
        }
    }

    /// The material of signer `id`, if the attempt's app offered it.
    pub(crate) fn material(&self, id: SignerId) -> Option<&Material> {
        self.materials
            .iter()
            .find(|(s, _)| *s == id)
            .map(|(_, m)| m)
    }
}

#[cfg(test)]
mod tests;
