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

use std::net::IpAddr;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use dashmap::DashMap;
use tokio::sync::watch;

use crate::clock::{millis, Clock};
use crate::config::LoginConfig;
use crate::cookies;
use crate::identity::Identity;
use crate::protocol::{AttemptFacts, Material, SignerId};

/// Where a login attempt stands, as the browser sees it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Status {
    /// Waiting for a scan.
    Pending,
    /// A signer fetched the challenge.
    Scanned,
    /// Signed; the browser may claim.
    Approved {
        /// Display name of who approved (never a token).
        name: String,
    },
    /// The signer said no.
    Rejected,
    /// Ran out of time.
    Expired,
}

impl Status {
    /// The SSE event name.
    pub fn event_name(&self) -> &'static str {
        match self {
            Status::Pending => "pending",
            Status::Scanned => "scanned",
            Status::Approved { .. } => "approved",
            Status::Rejected => "rejected",
            Status::Expired => "expired",
        }
    }

    /// The SSE event payload.
    pub fn event_data(&self) -> serde_json::Value {
        match self {
            Status::Approved { name } => serde_json::json!({ "name": name }),
            _ => serde_json::json!({}),
        }
    }

    /// Whether the stream ends after this.
    pub fn is_terminal(&self) -> bool {
        matches!(
            self,
            Status::Approved { .. } | Status::Rejected | Status::Expired
        )
    }
}

/// What the login page asked for when it created the attempt.
#[derive(Debug, Clone)]
pub struct NewAttempt {
    /// The name of the app the browser asked to sign in to (names survive reloads).
    pub app: Arc<str>,
    /// SHA-256 of the browser's binding cookie.
    pub bind_hash: [u8; 32],
    /// The requesting client's address, if known.
    pub requester: Option<IpAddr>,
    /// The key its pending attempts are counted under (see [`crate::limits::client_key`]).
    pub client_key: Option<IpAddr>,
    /// Requester IP as shown to the signer.
    pub requester_ip: String,
    /// Short user-agent summary as shown to the signer.
    pub requester_agent: String,
    /// Validated return path.
    pub return_to: String,
}

/// One login attempt. Immutable facts plus a guarded phase.
#[derive(Debug)]
pub struct Attempt {
    /// Public id (`sess_` + 16 of `[0-9a-z]`), carried in the QR.
    pub id: String,
    /// What the browser asked for.
    pub request: NewAttempt,
    /// Issued, ms since the epoch.
    pub issued_ms: u64,
    /// Expires, ms since the epoch.
    pub expires_ms: u64,
    /// Each offered signer's secret material, made at creation.
    materials: Vec<(SignerId, Material)>,
    phase: Mutex<Phase>,
    status: watch::Sender<Status>,
}

#[derive(Debug, Clone)]
enum Phase {
    Pending,
    Scanned,
    Approved { identity: Arc<Identity>, at_ms: u64 },
    Rejected,
    Claimed,
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
    /// Too many pending attempts.
    #[error("too many logins in progress; try again shortly")]
    Full,
    /// Too many pending attempts from this client.
    #[error("too many sign-ins in progress from this address; finish or wait for one first")]
    ClientBusy,
}

/// What a sweep removed.
#[derive(Debug, Default)]
pub struct Swept {
    /// Attempts freed.
    pub freed: usize,
    /// Of those, the ones that ended unfinished (never approved, or approved and never
    /// claimed).
    pub expired: Vec<Arc<Attempt>>,
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
        }
    }

    /// Applies a reloaded config to attempts created from now on (and to the caps).
    pub fn reconfigure(&self, config: &LoginConfig, max_per_client: usize) {
        self.lifetime_ms
            .store(millis(config.attempt_lifetime), Ordering::Relaxed);
        self.claim_window_ms
            .store(millis(config.claim_window), Ordering::Relaxed);
        self.max_pending
            .store(config.max_pending, Ordering::Relaxed);
        self.max_per_client.store(max_per_client, Ordering::Relaxed);
    }

    /// The attempt lifetime.
    pub fn lifetime(&self) -> Duration {
        Duration::from_millis(self.lifetime_ms.load(Ordering::Relaxed))
    }

    /// Creates an attempt; `prepare` makes each offered signer's material from its facts.
    pub fn create(
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
        });
        for channel in materials.iter().filter_map(|(_, m)| m.channel.as_ref()) {
            self.channels.insert(channel.clone(), id.clone());
        }
        let attempt = Arc::new(Attempt {
            id: id.clone(),
            request,
            issued_ms,
            expires_ms,
            materials,
            phase: Mutex::new(Phase::Pending),
            status: watch::channel(Status::Pending).0,
        });
        self.map.insert(id, attempt.clone());
        Ok(attempt)
    }

    /// A live attempt by id.
    pub fn get(&self, id: &str) -> Result<Arc<Attempt>, AttemptError> {
        let a = self
            .map
            .get(id)
            .map(|a| a.clone())
            .ok_or(AttemptError::NotFound)?;
        Ok(a)
    }

    /// The attempt waiting on a signer endpoint's channel.
    pub fn by_channel(&self, channel: &str) -> Result<Arc<Attempt>, AttemptError> {
        let id = self
            .channels
            .get(channel)
            .map(|id| id.clone())
            .ok_or(AttemptError::NotFound)?;
        self.get(&id)
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
    pub fn is_expired(&self, a: &Attempt) -> bool {
        self.clock.now_millis() >= a.expires_ms
    }

    /// The signer fetched the challenge. Idempotent while pending or scanned.
    pub fn scan(&self, a: &Attempt) -> Result<(), AttemptError> {
        let mut phase = a.lock();
        self.check_open(a, &phase)?;
        if matches!(*phase, Phase::Pending) {
            *phase = Phase::Scanned;
            a.status.send_replace(Status::Scanned);
        }
        Ok(())
    }

    /// Approval by a verified, permitted identity. Exactly one approval wins.
    pub fn approve(&self, a: &Attempt, identity: Arc<Identity>) -> Result<(), AttemptError> {
        let mut phase = a.lock();
        self.check_open(a, &phase)?;
        let name = identity.user.clone();
        *phase = Phase::Approved {
            identity,
            at_ms: self.clock.now_millis(),
        };
        a.status.send_replace(Status::Approved { name });
        Ok(())
    }

    /// The signer declined.
    pub fn reject(&self, a: &Attempt) -> Result<(), AttemptError> {
        let mut phase = a.lock();
        self.check_open(a, &phase)?;
        *phase = Phase::Rejected;
        a.status.send_replace(Status::Rejected);
        Ok(())
    }

    /// The browser that started the attempt collects the approved identity, once.
    pub fn claim(
        &self,
        a: &Attempt,
        bind_cookie: Option<&str>,
    ) -> Result<Arc<Identity>, AttemptError> {
        if !cookies::matches_hash(bind_cookie, &a.request.bind_hash) {
            return Err(AttemptError::WrongBrowser);
        }
        let mut phase = a.lock();
        match &*phase {
            Phase::Approved { identity, at_ms } => {
                let window = self.claim_window_ms.load(Ordering::Relaxed);
                if self.clock.now_millis() >= at_ms.saturating_add(window) {
                    return Err(AttemptError::Expired);
                }
                let identity = identity.clone();
                *phase = Phase::Claimed;
                drop(phase);
                self.remove(&a.id);
                Ok(identity)
            }
            Phase::Pending | Phase::Scanned => Err(AttemptError::NotApproved),
            Phase::Rejected => Err(AttemptError::AlreadyDone("rejected")),
            Phase::Claimed => Err(AttemptError::AlreadyDone("claimed")),
        }
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
    pub fn remaining(&self, a: &Attempt) -> Duration {
        Duration::from_millis(a.expires_ms.saturating_sub(self.clock.now_millis()))
    }

    /// Drops attempts whose QR lapsed (and whose claim window, if approved, closed);
    /// watchers are told `expired` first.
    pub fn sweep(&self) -> Swept {
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
    pub fn clients(&self) -> usize {
        self.per_client.len()
    }

    fn check_open(&self, a: &Attempt, phase: &Phase) -> Result<(), AttemptError> {
        match phase {
            Phase::Approved { .. } => return Err(AttemptError::AlreadyDone("approved")),
            Phase::Rejected => return Err(AttemptError::AlreadyDone("rejected")),
            Phase::Claimed => return Err(AttemptError::AlreadyDone("claimed")),
            Phase::Pending | Phase::Scanned => {}
        }
        if self.is_expired(a) {
            return Err(AttemptError::Expired);
        }
        Ok(())
    }
}

impl Attempt {
    fn lock(&self) -> std::sync::MutexGuard<'_, Phase> {
        // A poisoned lock means a panic mid-transition elsewhere; the phase value itself is
        // always a complete assignment, so reading it is still sound.
        self.phase.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// The attempt's id.
    pub fn id(&self) -> &str {
        &self.id
    }

    /// The facts signers bind approvals to.
    pub fn facts(&self) -> AttemptFacts<'_> {
        AttemptFacts {
            id: &self.id,
            requester_ip: &self.request.requester_ip,
            requester_agent: &self.request.requester_agent,
            issued_ms: self.issued_ms,
            expires_ms: self.expires_ms,
        }
    }

    /// The material of signer `id`, if the attempt's app offered it.
    pub fn material(&self, id: SignerId) -> Option<&Material> {
        self.materials
            .iter()
            .find(|(s, _)| *s == id)
            .map(|(_, m)| m)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn table(clock: &Clock, max: usize) -> Logins {
        Logins::new(
            &LoginConfig {
                attempt_lifetime: Duration::from_secs(120),
                claim_window: Duration::from_secs(30),
                max_pending: max,
                same_network: crate::config::SameNetwork::Off,
            },
            2,
            clock.clone(),
        )
    }

    fn request(bind: &str) -> NewAttempt {
        NewAttempt {
            app: Arc::from("app"),
            bind_hash: cookies::hash(bind),
            requester: None,
            client_key: None,
            requester_ip: "127.0.0.1".into(),
            requester_agent: "Firefox on Linux".into(),
            return_to: "/".into(),
        }
    }

    fn alice() -> Arc<Identity> {
        Arc::new(
            Identity::new("alice".into(), &crate::identity::test_key(), String::new())
                .expect("identity"),
        )
    }

    #[test]
    fn ids_have_tana_shape_and_differ() {
        let a = new_id();
        assert_eq!(a.len(), 21);
        assert!(
            a.starts_with("sess_")
                && a[5..]
                    .bytes()
                    .all(|b| b.is_ascii_digit() || b.is_ascii_lowercase())
        );
        assert_ne!(a, new_id());
    }

    #[test]
    fn full_cycle_and_single_use() {
        let clock = Clock::manual();
        let t = table(&clock, 10);
        let a = t.create(request("b"), |_| Vec::new()).expect("created");
        assert_eq!(t.claim(&a, Some("b")), Err(AttemptError::NotApproved));
        t.scan(&a).expect("scan");
        t.approve(&a, alice()).expect("approve");
        assert_eq!(
            t.approve(&a, alice()),
            Err(AttemptError::AlreadyDone("approved"))
        );
        assert_eq!(t.reject(&a), Err(AttemptError::AlreadyDone("approved")));
        assert_eq!(t.claim(&a, None), Err(AttemptError::WrongBrowser));
        assert_eq!(t.claim(&a, Some("other")), Err(AttemptError::WrongBrowser));
        assert_eq!(t.claim(&a, Some("b")).expect("claim").user, "alice");
        assert_eq!(
            t.claim(&a, Some("b")),
            Err(AttemptError::AlreadyDone("claimed"))
        );
        assert_eq!(t.get(&a.id).err(), Some(AttemptError::NotFound));
        assert!(t.is_empty());
    }

    #[test]
    fn expiry_claim_window_cap_and_sweep() {
        let clock = Clock::manual();
        let t = table(&clock, 2);
        let a = t.create(request("b"), |_| Vec::new()).expect("a");
        let b = t.create(request("b"), |_| Vec::new()).expect("b");
        assert_eq!(
            t.create(request("b"), |_| Vec::new()).err(),
            Some(AttemptError::Full)
        );
        t.approve(&b, alice()).expect("approve b");
        clock.advance(Duration::from_secs(31));
        assert_eq!(
            t.claim(&b, Some("b")),
            Err(AttemptError::Expired),
            "claim window over"
        );
        clock.advance(Duration::from_secs(90));
        assert_eq!(t.approve(&a, alice()), Err(AttemptError::Expired));
        let mut rx = t.watch(&a);
        assert_eq!(t.sweep().freed, 2);
        assert_eq!(*rx.borrow_and_update(), Status::Expired);
        assert!(
            t.create(request("b"), |_| Vec::new()).is_ok(),
            "slots freed"
        );
    }

    #[test]
    fn racing_approvals_have_one_winner() {
        let clock = Clock::manual();
        let t = Arc::new(table(&clock, 10));
        let a = t.create(request("b"), |_| Vec::new()).expect("a");
        let wins: usize = std::thread::scope(|s| {
            let handles: Vec<_> = (0..8)
                .map(|_| s.spawn(|| t.approve(&a, alice()).is_ok()))
                .collect();
            handles
                .into_iter()
                .map(|h| usize::from(h.join().unwrap_or(false)))
                .sum()
        });
        assert_eq!(wins, 1);
    }

    #[test]
    fn endpoint_channels_find_their_attempt_until_it_is_gone() {
        let clock = Clock::manual();
        let t = table(&clock, 10);
        let id = SignerId::new("relayed");
        let a = t
            .create(request("b"), |facts| {
                assert!(facts.id.starts_with("sess_"));
                let mut m = Material::random();
                m.channel = Some(format!("chan-{}", facts.id));
                vec![(id, m)]
            })
            .expect("a");
        let channel = a
            .material(id)
            .and_then(|m| m.channel.clone())
            .expect("channel");
        assert_eq!(
            t.by_channel(&channel).map(|x| x.id.clone()),
            Ok(a.id.clone())
        );
        assert!(a.material(SignerId::new("other")).is_none());
        t.approve(&a, alice()).expect("approve");
        t.claim(&a, Some("b")).expect("claim");
        assert_eq!(t.by_channel(&channel).err(), Some(AttemptError::NotFound));
    }

    #[test]
    fn pending_attempts_are_capped_per_client_and_released() {
        let clock = Clock::manual();
        let t = table(&clock, 100);
        let from = |ip: &str| NewAttempt {
            client_key: ip.parse().ok(),
            ..request("b")
        };
        let a = t.create(from("203.0.113.7"), |_| Vec::new()).expect("1st");
        let _b = t.create(from("203.0.113.7"), |_| Vec::new()).expect("2nd");
        assert_eq!(
            t.create(from("203.0.113.7"), |_| Vec::new()).err(),
            Some(AttemptError::ClientBusy)
        );
        assert_eq!(t.len(), 2, "the refused attempt took no slot");
        assert!(
            t.create(from("203.0.113.8"), |_| Vec::new()).is_ok(),
            "others unaffected"
        );
        t.reject(&a).expect("reject");
        clock.advance(Duration::from_secs(121));
        assert_eq!(t.sweep().freed, 3);
        assert_eq!(t.clients(), 0, "counters freed with their attempts");
        assert!(t.create(from("203.0.113.7"), |_| Vec::new()).is_ok());
    }
}
