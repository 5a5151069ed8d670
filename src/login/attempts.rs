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

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use dashmap::DashMap;
use sha2::{Digest, Sha256};
use subtle::ConstantTimeEq;
use tokio::sync::watch;

use super::Status;
use crate::clock::Clock;
use crate::config::LoginConfig;
use crate::session::Identity;

/// What the login page asked for when it created the attempt.
#[derive(Debug, Clone)]
pub struct NewAttempt {
    /// App index.
    pub app: usize,
    /// SHA-256 of the browser's binding cookie.
    pub bind_hash: [u8; 32],
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
    /// 32 random bytes: the native challenge nonce.
    pub nonce: [u8; 32],
    /// 32 random bytes: the pubkyauth relay secret.
    pub pubky_secret: [u8; 32],
    /// base64url(blake3(pubky_secret)): where Pubky Ring posts its token.
    pub pubky_channel: String,
    /// 16 random bytes, hex: Tana's `challenge` (Tana uses 32; 16 keeps its QR at version
    /// ≤ 10 and 128 bits are ample for a single-use, 120-second attempt).
    pub tana_challenge: String,
    /// Issued, ms since the epoch.
    pub issued_ms: u64,
    /// Expires, ms since the epoch.
    pub expires_ms: u64,
    /// The exact native message the signer must sign.
    pub message: String,
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
}

/// All pending attempts.
pub struct Logins {
    map: DashMap<String, Arc<Attempt>>,
    /// Pubky relay channel → attempt id.
    channels: DashMap<String, String>,
    count: AtomicUsize,
    lifetime: Duration,
    claim_window: Duration,
    max_pending: usize,
    clock: Clock,
}

/// SHA-256 of a binding cookie value.
pub fn bind_hash(cookie_value: &str) -> [u8; 32] {
    Sha256::digest(cookie_value.as_bytes()).into()
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
    /// An empty table.
    pub fn new(config: &LoginConfig, clock: Clock) -> Self {
        Self {
            map: DashMap::new(),
            channels: DashMap::new(),
            count: AtomicUsize::new(0),
            lifetime: config.attempt_lifetime,
            claim_window: config.claim_window,
            max_pending: config.max_pending,
            clock,
        }
    }

    /// The attempt lifetime.
    pub fn lifetime(&self) -> Duration {
        self.lifetime
    }

    /// Creates an attempt; `message` builds the native challenge from the finished facts.
    pub fn create(
        &self,
        request: NewAttempt,
        message: impl FnOnce(&str, &[u8; 32], u64, u64) -> String,
    ) -> Result<Arc<Attempt>, AttemptError> {
        // Reserve a slot first so a flood cannot overshoot the cap between check and insert.
        if self.count.fetch_add(1, Ordering::AcqRel) >= self.max_pending {
            self.count.fetch_sub(1, Ordering::AcqRel);
            return Err(AttemptError::Full);
        }
        let id = new_id();
        let nonce = crate::random_bytes::<32>();
        let issued_ms = self.clock.now_millis();
        let expires_ms = issued_ms + self.lifetime.as_millis() as u64;
        let pubky_secret = crate::random_bytes::<32>();
        let pubky_channel = crate::protocol::pubky::channel_id(&pubky_secret);
        self.channels.insert(pubky_channel.clone(), id.clone());
        let attempt = Arc::new(Attempt {
            message: message(&id, &nonce, issued_ms, expires_ms),
            id: id.clone(),
            request,
            nonce,
            pubky_secret,
            pubky_channel,
            tana_challenge: hex::encode(crate::random_bytes::<16>()),
            issued_ms,
            expires_ms,
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

    /// The attempt waiting on a Pubky relay channel.
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
        let presented = bind_cookie
            .map(bind_hash)
            .ok_or(AttemptError::WrongBrowser)?;
        if !bool::from(presented.ct_eq(&a.request.bind_hash)) {
            return Err(AttemptError::WrongBrowser);
        }
        let mut phase = a.lock();
        match &*phase {
            Phase::Approved { identity, at_ms } => {
                if self.clock.now_millis() >= at_ms + self.claim_window.as_millis() as u64 {
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
    pub fn sweep(&self) -> usize {
        let now = self.clock.now_millis();
        let claim = self.claim_window.as_millis() as u64;
        let mut gone = Vec::new();
        for entry in self.map.iter() {
            let a = entry.value();
            let done = match &*a.lock() {
                Phase::Approved { at_ms, .. } => now >= at_ms + claim,
                Phase::Claimed | Phase::Rejected => now >= a.expires_ms,
                Phase::Pending | Phase::Scanned => now >= a.expires_ms,
            };
            if done {
                gone.push(a.id.clone());
            }
        }
        for id in &gone {
            if let Some(a) = self.remove(id) {
                if !a.status.borrow().is_terminal() {
                    a.status.send_replace(Status::Expired);
                }
            }
        }
        gone.len()
    }

    fn remove(&self, id: &str) -> Option<Arc<Attempt>> {
        let removed = self.map.remove(id).map(|(_, a)| a);
        if let Some(a) = &removed {
            self.channels.remove(&a.pubky_channel);
            self.count.fetch_sub(1, Ordering::AcqRel);
        }
        removed
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
            },
            clock.clone(),
        )
    }

    fn request(bind: &str) -> NewAttempt {
        NewAttempt {
            app: 0,
            bind_hash: bind_hash(bind),
            requester_ip: "127.0.0.1".into(),
            requester_agent: "Firefox on Linux".into(),
            return_to: "/".into(),
        }
    }

    fn alice() -> Arc<Identity> {
        Arc::new(Identity::new("alice".into(), "k".into(), String::new()).expect("identity"))
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
        let a = t
            .create(request("b"), |_, _, _, _| "m".into())
            .expect("created");
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
        let a = t.create(request("b"), |_, _, _, _| "m".into()).expect("a");
        let b = t.create(request("b"), |_, _, _, _| "m".into()).expect("b");
        assert_eq!(
            t.create(request("b"), |_, _, _, _| "m".into()).err(),
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
        assert_eq!(t.sweep(), 2);
        assert_eq!(*rx.borrow_and_update(), Status::Expired);
        assert!(
            t.create(request("b"), |_, _, _, _| "m".into()).is_ok(),
            "slots freed"
        );
    }

    #[test]
    fn racing_approvals_have_one_winner() {
        let clock = Clock::manual();
        let t = Arc::new(table(&clock, 10));
        let a = t.create(request("b"), |_, _, _, _| "m".into()).expect("a");
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
}
