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

    /// Moves a manual clock forward; does nothing to the system clock.
    pub fn advance(&self, by: Duration) {
        if let Some(t) = &self.manual {
            t.fetch_add(millis(by), Ordering::Relaxed);
        }
    }
}

/// Whether a signed timestamp `t` (ms since the epoch) lies in `[now - max_age, now + max_ahead]`.
///
/// Both bounds use saturating arithmetic: `t` comes from a client and may be any `u64`, and
/// an overflow must never wrap a far-future or far-past stamp into the window.
pub(crate) fn within_window(t: u64, now: u64, max_age: Duration, max_ahead: Duration) -> bool {
    let age = u64::try_from(max_age.as_millis()).unwrap_or(u64::MAX);
    let ahead = u64::try_from(max_ahead.as_millis()).unwrap_or(u64::MAX);
    t <= now.saturating_add(ahead) && now <= t.saturating_add(age)
}

/// A duration in whole milliseconds, saturating (config bounds keep real values far below).
pub fn millis(d: Duration) -> u64 {
    u64::try_from(d.as_millis()).unwrap_or(u64::MAX)
}

fn system_millis() -> u64 {
    // A clock before 1970 is a broken machine; treating it as the epoch makes every
    // credential look expired, which fails closed.
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(millis)
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

    #[test]
    fn window_bounds_are_inclusive_and_never_wrap() {
        let (age, ahead) = (Duration::from_secs(300), Duration::from_secs(60));
        let now = 1_790_000_000_000;
        for (t, inside) in [
            (now, true),
            (now - 300_000, true),
            (now - 300_001, false),
            (now + 60_000, true),
            (now + 60_001, false),
            (u64::MAX, false),
            (0, false),
        ] {
            assert_eq!(within_window(t, now, age, ahead), inside, "{t}");
        }
        assert!(!within_window(
            u64::MAX,
            u64::MAX - 1,
            Duration::ZERO,
            Duration::ZERO
        ));
        assert!(within_window(5, 5, Duration::MAX, Duration::MAX));
    }
}
