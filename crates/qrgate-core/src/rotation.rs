//! When a signing key is made, when it signs and when it goes: the rotation rule the identity
//! assertion keys and the OpenID Connect provider's keys share.
//!
//! Instances sharing one key file publish what the file holds, re-reading it periodically
//! (the glue's sweeper) and at start and reload, so a key must be in the file for a while
//! before anything is signed with it: a key only signs once it has been in the file for the
//! publication delay. A rotation therefore adds the next key ahead of time, one publication
//! delay before the current key is due, published only; when the delay has passed it signs,
//! and the key it replaces stays published for one more rotation period, so tokens it signed
//! still verify. Relying parties and upstreams that cache the published keys for up to the
//! delay also know a key before it signs.
//!
//! The one exception: a line (an algorithm) with no key at all gets one that signs at once,
//! since nothing else could sign for it (first start, or an algorithm a client asks for the
//! first time); other instances publish it at their next read of the file.

/// The longest publication delay: one day, longer than instances take to re-read the file
/// (one sweep interval, a minute by default) and than common caches of published keys.
const MAX_DELAY_MS: u64 = 86_400_000;

/// The rotation period and the publication delay of one key file.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Schedule {
    period_ms: u64,
    delay_ms: u64,
}

impl Schedule {
    /// The schedule of rotation period `period_ms`: the publication delay is a quarter of the
    /// period, at most one day (configured periods are at least a day, so at least six hours).
    pub fn new(period_ms: u64) -> Schedule {
        Schedule {
            period_ms,
            delay_ms: (period_ms / 4).min(MAX_DELAY_MS),
        }
    }

    /// The publication delay: how long a key is in the file before it signs.
    pub fn delay_ms(&self) -> u64 {
        self.delay_ms
    }

    /// Whether a line whose newest key was made at `newest` (none: no key) needs its next key
    /// at `now_ms`: one delay before the newest has served a period. A key still waiting to
    /// sign is never due (the delay is at most a quarter of the period), so a line holds at
    /// most one such key.
    fn due(&self, newest: Option<u64>, now_ms: u64) -> bool {
        newest.is_none_or(|made| {
            now_ms >= made.saturating_add(self.period_ms.saturating_sub(self.delay_ms))
        })
    }

    /// Which of a line's keys, made at `made` (any order), signs at `now_ms`: the newest that
    /// has been in the file for the delay, or, when none has, the oldest (the only way a line
    /// that had no key gets a signer at once). `None` only for an empty line.
    pub fn signer(&self, made: &[u64], now_ms: u64) -> Option<usize> {
        let published = made
            .iter()
            .enumerate()
            .filter(|(_, &m)| now_ms >= m.saturating_add(self.delay_ms))
            .max_by_key(|(_, &m)| m);
        published
            .or_else(|| made.iter().enumerate().min_by_key(|(_, &m)| m))
            .map(|(i, _)| i)
    }
}

/// A signing key as rotation sees it.
pub trait Dated {
    /// When it was made (put in the file), ms since the epoch.
    fn made_ms(&self) -> u64;
}

/// One line's keys (one algorithm's) after rotation at `now_ms`, newest first, and whether
/// anything was added or dropped. A line `in_use` gets its next key from `make` when due
/// ([`Schedule`]); it keeps its signer, any newer key, and each older key until one period
/// after it stopped signing (when the next newer key had been in the file for the delay). A
/// line no longer in use gets no key and keeps each for two periods from when it was made.
pub fn rotate<K: Dated, E>(
    mut keys: Vec<K>,
    in_use: bool,
    schedule: Schedule,
    now_ms: u64,
    make: impl FnOnce() -> Result<K, E>,
) -> Result<(Vec<K>, bool), E> {
    keys.sort_by_key(|k| std::cmp::Reverse(k.made_ms()));
    let before = keys.len();
    let added = in_use && schedule.due(keys.first().map(Dated::made_ms), now_ms);
    if added {
        keys.insert(0, make()?);
    }
    let made: Vec<u64> = keys.iter().map(Dated::made_ms).collect();
    let keep: Vec<bool> = if in_use {
        let signer = schedule.signer(&made, now_ms).unwrap_or(0);
        (0..made.len())
            .map(|i| {
                i <= signer
                    || i.checked_sub(1)
                        .and_then(|n| made.get(n))
                        .is_some_and(|&n| {
                            now_ms
                                < n.saturating_add(schedule.delay_ms)
                                    .saturating_add(schedule.period_ms)
                        })
            })
            .collect()
    } else {
        made.iter()
            .map(|&m| now_ms < m.saturating_add(schedule.period_ms.saturating_mul(2)))
            .collect()
    };
    let mut flags = keep.into_iter();
    keys.retain(|_| flags.next().unwrap_or(false));
    let changed = added || keys.len() != before;
    Ok((keys, changed))
}

/// What a signer has in force: the ids it publishes and those it signs with. The glue
/// replaces a signer after re-reading the key file only when this differs.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct InForce {
    /// Every published key's id, in the order published.
    pub published: Vec<String>,
    /// The ids of the keys that sign (one per line).
    pub signing: Vec<String>,
}

#[cfg(test)]
mod tests {
    use super::*;

    const DAY: u64 = 86_400_000;
    const HOUR: u64 = 3_600_000;

    #[derive(Debug, Clone, PartialEq)]
    struct Key(u64);

    impl Dated for Key {
        fn made_ms(&self) -> u64 {
            self.0
        }
    }

    fn step(keys: Vec<Key>, schedule: Schedule, now: u64) -> (Vec<Key>, bool) {
        rotate(keys, true, schedule, now, || Ok::<_, ()>(Key(now))).expect("rotated")
    }

    fn signer(keys: &[Key], schedule: Schedule, now: u64) -> Option<u64> {
        let made: Vec<u64> = keys.iter().map(|k| k.0).collect();
        schedule.signer(&made, now).map(|i| made[i])
    }

    #[test]
    fn the_delay_is_a_quarter_of_the_period_and_at_most_a_day() {
        assert_eq!(Schedule::new(DAY).delay_ms(), 6 * HOUR);
        assert_eq!(Schedule::new(2 * DAY).delay_ms(), 12 * HOUR);
        assert_eq!(Schedule::new(4 * DAY).delay_ms(), DAY);
        assert_eq!(Schedule::new(90 * DAY).delay_ms(), DAY);
        assert_eq!(Schedule::new(0).delay_ms(), 0);
    }

    #[test]
    fn the_first_key_signs_at_once_and_the_next_only_after_the_delay() {
        let s = Schedule::new(30 * DAY);
        let t0 = 1_000 * DAY;
        let (keys, changed) = step(Vec::new(), s, t0);
        assert!(changed);
        assert_eq!(keys, vec![Key(t0)]);
        assert_eq!(signer(&keys, s, t0), Some(t0), "no other key could sign");
        // Another instance reading the file an hour later signs with it too.
        assert_eq!(signer(&keys, s, t0 + HOUR), Some(t0));
        // Nothing due until one delay before the period ends.
        let (keys, changed) = step(keys, s, t0 + 29 * DAY - 1);
        assert!(!changed);
        // Then the next key is added, published only: the first still signs.
        let next = t0 + 29 * DAY;
        let (keys, changed) = step(keys, s, next);
        assert!(changed);
        assert_eq!(keys, vec![Key(next), Key(t0)]);
        for now in [next, next + HOUR, next + DAY - 1] {
            assert_eq!(signer(&keys, s, now), Some(t0), "at {now}");
            let (same, changed) = step(keys.clone(), s, now);
            assert!(!changed, "a waiting key is never due");
            assert_eq!(same, keys);
        }
        // Once it has been in the file for the delay, it signs.
        assert_eq!(signer(&keys, s, next + DAY), Some(next));
        // The first stays published for one period after it stopped signing, then goes
        // (meanwhile the third key came, one delay before the second's period ends).
        let (keys, _) = step(keys, s, next + DAY + 30 * DAY - 1);
        assert!(keys.contains(&Key(t0)));
        assert_eq!(keys.len(), 3);
        assert_eq!(signer(&keys, s, next + DAY + 30 * DAY), Some(next));
        let (keys, changed) = step(keys, s, next + DAY + 30 * DAY);
        assert!(changed, "the first key left");
        assert_eq!(keys.len(), 2);
        assert!(keys.contains(&Key(next)), "the signer is never dropped");
        assert!(!keys.contains(&Key(t0)));
    }

    #[test]
    fn a_long_stale_file_keeps_its_signer_until_the_new_key_is_published() {
        let s = Schedule::new(10 * DAY);
        let old = 20 * DAY;
        let now = 100 * DAY;
        let (keys, changed) = step(vec![Key(old - 12 * DAY), Key(old)], s, now);
        assert!(changed);
        // The key long past its overlap goes; the stale signer stays and still signs.
        assert_eq!(keys, vec![Key(now), Key(old)]);
        assert_eq!(signer(&keys, s, now), Some(old));
        assert_eq!(signer(&keys, s, now + s.delay_ms()), Some(now));
        // And it stays published for a period after it stopped signing.
        let (kept, _) = step(keys.clone(), s, now + s.delay_ms() + 10 * DAY - 1);
        assert!(kept.contains(&Key(old)));
        let (gone, _) = step(keys, s, now + s.delay_ms() + 10 * DAY);
        assert!(!gone.contains(&Key(old)));
    }

    #[test]
    fn a_line_no_longer_in_use_gets_no_key_and_leaves_after_two_periods() {
        let s = Schedule::new(10 * DAY);
        let made = 7 * DAY;
        let keys = vec![Key(made)];
        let add = || -> Result<Key, ()> { panic!("no key for a line not in use") };
        let (kept, changed) = rotate(keys.clone(), false, s, made + 20 * DAY - 1, add).expect("r");
        assert!(!changed);
        assert_eq!(kept, keys);
        let (gone, changed) = rotate(keys, false, s, made + 20 * DAY, add).expect("r");
        assert!(changed);
        assert!(gone.is_empty());
    }

    #[test]
    fn the_signer_does_not_depend_on_the_order_of_the_keys() {
        let s = Schedule::new(4 * DAY);
        let now = 50 * DAY;
        let made = [now - 2 * DAY, now - HOUR, now - 5 * DAY];
        assert_eq!(s.signer(&made, now), Some(0));
        assert_eq!(s.signer(&[now - HOUR, now - 2 * HOUR], now), Some(1));
        assert_eq!(s.signer(&[], now), None);
        // A key made ahead of this instance's clock (another instance's skew) waits too.
        assert_eq!(s.signer(&[now + HOUR, now - 2 * DAY], now), Some(1));
    }

    #[test]
    fn a_failure_to_make_a_key_is_passed_on() {
        let s = Schedule::new(DAY);
        let r = rotate(Vec::<Key>::new(), true, s, 1, || Err("no randomness"));
        assert_eq!(r.err(), Some("no randomness"));
    }
}
