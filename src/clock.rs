//! Wall-clock time for every expiry decision in the gateway.
//!
//! Sessions, login attempts and signer timestamp windows all ask this clock rather than
//! `SystemTime` directly, so tests can move time forward deterministically instead of
//! sleeping (a manual clock), while production reads the system clock.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

/// A source of "now", in milliseconds since the Unix epoch.
#[derive(Clone, Debug, Default)]
pub struct Clock {
    manual: Option<Arc<AtomicU64>>,
}

impl Clock {
    /// The system clock.
    pub fn system() -> Self {
        Self { manual: None }
    }

    /// A clock that only moves when [`Clock::advance`] is called; starts at the system time.
    pub fn manual() -> Self {
        Self {
            manual: Some(Arc::new(AtomicU64::new(system_millis()))),
        }
    }

    /// Milliseconds since the Unix epoch.
    pub fn now_millis(&self) -> u64 {
        match &self.manual {
            Some(t) => t.load(Ordering::Relaxed),
            None => system_millis(),
        }
    }

    /// Whole seconds since the Unix epoch.
    pub fn now_secs(&self) -> u64 {
        self.now_millis() / 1000
    }

    /// Moves a manual clock forward; does nothing to the system clock.
    pub fn advance(&self, by: Duration) {
        if let Some(t) = &self.manual {
            t.fetch_add(by.as_millis() as u64, Ordering::Relaxed);
        }
    }
}

fn system_millis() -> u64 {
    // A clock before 1970 is a broken machine; treating it as the epoch makes every
    // credential look expired, which fails closed.
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_millis() as u64)
        .unwrap_or(0)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn manual_clock_moves_only_when_advanced() {
        let c = Clock::manual();
        let t0 = c.now_millis();
        c.advance(Duration::from_secs(5));
        assert_eq!(c.now_millis(), t0 + 5000);
        let shared = c.clone();
        shared.advance(Duration::from_millis(1));
        assert_eq!(c.now_millis(), t0 + 5001);
    }
}
