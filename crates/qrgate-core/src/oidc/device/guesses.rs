//! Guessing user codes, bounded (RFC 8628 §5.1): a user code is short enough to type, so
//! failed entries on the verification page count against the client that typed them and
//! against the whole instance, each in a fixed window that starts with its first failure.
//! Once either budget is spent, the page refuses every entry (a correct one too) until that
//! window has passed: nobody can try codes faster than the budget, from one address or from
//! many. Pure: the caller says what "now" is and who the client is (already keyed as the
//! rate limits key clients: an address, or an IPv6 /64).

use std::collections::HashMap;
use std::net::IpAddr;
use std::sync::Mutex;

/// How many failed entries a window allows, per client and in all, and how long it lasts.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Budget {
    /// Failed entries one client may make per window.
    pub(crate) per_client: u32,
    /// Failed entries the instance takes per window, from everyone.
    pub(crate) total: u32,
    /// The window, ms.
    pub(crate) window_ms: u64,
}

/// The budget is spent: no entry is read until then.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Spent {
    /// Whole seconds until the window that is spent has passed (at least 1).
    pub(crate) retry_after_secs: u64,
}

/// Failures in one window.
#[derive(Debug, Clone, Copy, Default)]
struct Window {
    start_ms: u64,
    failures: u32,
}

impl Window {
    /// Whether the window has passed at `now_ms` (then it counts as empty).
    fn over(&self, now_ms: u64, window_ms: u64) -> bool {
        now_ms >= self.start_ms.saturating_add(window_ms)
    }

    /// `Spent` when `limit` failures were made in the window still running at `now_ms`.
    fn check(&self, limit: u32, now_ms: u64, window_ms: u64) -> Result<(), Spent> {
        if self.over(now_ms, window_ms) || self.failures < limit {
            return Ok(());
        }
        let left_ms = self
            .start_ms
            .saturating_add(window_ms)
            .saturating_sub(now_ms);
        Err(Spent {
            retry_after_secs: left_ms.div_ceil(1000).max(1),
        })
    }

    /// Counts one failure at `now_ms`, starting a window with it if none is running.
    fn fail(&mut self, now_ms: u64, window_ms: u64) {
        if self.failures == 0 || self.over(now_ms, window_ms) {
            *self = Window {
                start_ms: now_ms,
                failures: 0,
            };
        }
        self.failures = self.failures.saturating_add(1);
    }
}

#[derive(Default)]
struct State {
    total: Window,
    clients: HashMap<Option<IpAddr>, Window>,
}

/// The failed user-code entries of one instance.
#[derive(Default)]
pub(crate) struct Guesses {
    state: Mutex<State>,
}

impl Guesses {
    /// Whether `client` may have an entry read at `now_ms`: neither its budget nor the
    /// instance's is spent. Changes nothing.
    pub(crate) fn check(
        &self,
        client: Option<IpAddr>,
        now_ms: u64,
        budget: &Budget,
    ) -> Result<(), Spent> {
        let Ok(state) = self.state.lock() else {
            // Fail closed: an unreadable count reads no code.
            return Err(Spent {
                retry_after_secs: budget.window_ms.div_ceil(1000).max(1),
            });
        };
        state.total.check(budget.total, now_ms, budget.window_ms)?;
        match state.clients.get(&client) {
            Some(w) => w.check(budget.per_client, now_ms, budget.window_ms),
            None => Ok(()),
        }
    }

    /// Counts a failed entry by `client` at `now_ms`, against it and the instance.
    pub(crate) fn failed(&self, client: Option<IpAddr>, now_ms: u64, budget: &Budget) {
        let Ok(mut state) = self.state.lock() else {
            return;
        };
        if state.total.over(now_ms, budget.window_ms) {
            // A new instance window: clients whose own windows passed are forgotten, so the
            // table holds at most the clients of about two windows' budgets.
            state
                .clients
                .retain(|_, w| !w.over(now_ms, budget.window_ms));
        }
        state.total.fail(now_ms, budget.window_ms);
        state
            .clients
            .entry(client)
            .or_default()
            .fail(now_ms, budget.window_ms);
    }

    /// How many clients are remembered (for tests).
    #[cfg(test)]
    fn clients(&self) -> usize {
        self.state.lock().map_or(0, |s| s.clients.len())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const BUDGET: Budget = Budget {
        per_client: 3,
        total: 5,
        window_ms: 60_000,
    };

    fn ip(last: u8) -> Option<IpAddr> {
        Some(IpAddr::from([192, 0, 2, last]))
    }

    #[test]
    fn one_client_is_stopped_at_its_budget_until_its_window_passes() {
        let g = Guesses::default();
        for i in 0..3 {
            assert_eq!(g.check(ip(1), 1_000 + i, &BUDGET), Ok(()));
            g.failed(ip(1), 1_000 + i, &BUDGET);
        }
        assert_eq!(
            g.check(ip(1), 2_000, &BUDGET),
            Err(Spent {
                retry_after_secs: 59
            })
        );
        assert_eq!(g.check(ip(2), 2_000, &BUDGET), Ok(()), "others still may");
        assert_eq!(
            g.check(ip(1), 60_999, &BUDGET),
            Err(Spent {
                retry_after_secs: 1
            })
        );
        assert_eq!(g.check(ip(1), 61_000, &BUDGET), Ok(()), "the window passed");
        g.failed(ip(1), 61_000, &BUDGET);
        assert_eq!(
            g.check(ip(1), 61_001, &BUDGET),
            Ok(()),
            "a new window, one used"
        );
    }

    #[test]
    fn many_clients_together_are_stopped_at_the_instances_budget() {
        let g = Guesses::default();
        for last in 1..=5 {
            assert_eq!(g.check(ip(last), 10_000, &BUDGET), Ok(()));
            g.failed(ip(last), 10_000, &BUDGET);
        }
        // Nobody's own budget is spent, the instance's is: every entry waits, a newcomer's
        // and an unknown address's too.
        for who in [ip(1), ip(6), None] {
            assert_eq!(
                g.check(who, 20_000, &BUDGET),
                Err(Spent {
                    retry_after_secs: 50
                })
            );
        }
        assert_eq!(g.check(ip(6), 70_000, &BUDGET), Ok(()));
    }

    #[test]
    fn the_table_forgets_clients_whose_windows_passed() {
        let g = Guesses::default();
        for last in 1..=4 {
            g.failed(ip(last), 0, &BUDGET);
        }
        assert_eq!(g.clients(), 4);
        g.failed(ip(9), 60_000, &BUDGET);
        assert_eq!(g.clients(), 1, "only the new window's client is left");
    }

    #[test]
    fn the_far_end_of_time_does_not_overflow() {
        let g = Guesses::default();
        for _ in 0..3 {
            g.failed(ip(1), u64::MAX - 2, &BUDGET);
        }
        assert_eq!(
            g.check(ip(1), u64::MAX - 1, &BUDGET),
            Err(Spent {
                retry_after_secs: 1
            })
        );
    }
}
