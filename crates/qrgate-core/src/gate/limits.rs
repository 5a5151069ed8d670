//! Per-client limits: who the client is, and how often it may ask.
//!
//! A client is its IP address, or for IPv6 its `/64` (one subscriber usually holds a whole
//! `/64`, so per-address buckets would be trivial to dodge). Behind a proxy the client's
//! address comes from `X-Forwarded-For`, but only when the peer that connected is one of
//! `[server] trusted_proxies` — otherwise anyone could claim any address.
//!
//! Connections are counted per client too ([`ClientConnections`]), and a request body must
//! keep a minimum pace ([`body_on_pace`]).
//!
//! Rates are token buckets (GCRA, from `governor`) keyed by client, one per class of
//! endpoint; a refused request learns when to retry.

use std::collections::HashMap;
use std::net::{IpAddr, Ipv6Addr, SocketAddr};
use std::num::NonZeroU32;
use std::sync::{Arc, Mutex, PoisonError};
use std::time::{Duration, Instant};

use governor::clock::{Clock as _, DefaultClock};
use governor::state::keyed::DefaultKeyedStateStore;
use governor::{Quota, RateLimiter};
use http::HeaderMap;
use ipnet::IpNet;

use crate::config::LimitsConfig;
use crate::http::route::Action;

/// The key a client's limits are counted under: its address, IPv6 masked to `/64`.
pub(crate) fn client_key(ip: IpAddr) -> IpAddr {
    match ip {
        IpAddr::V4(v4) => IpAddr::V4(v4),
        IpAddr::V6(v6) => match v6.to_ipv4_mapped() {
            Some(v4) => IpAddr::V4(v4),
            None => {
                let masked = u128::from(v6) & (u128::MAX << 64);
                IpAddr::V6(Ipv6Addr::from(masked))
            }
        },
    }
}

/// The client's address: the peer's, or — when the peer is a trusted proxy and
/// `trust_forwarded_for` is on — the rightmost `X-Forwarded-For` entry that is not itself a
/// trusted proxy. Malformed entries end the walk (the peer's view is kept).
pub(crate) fn client_ip(
    peer: Option<IpAddr>,
    headers: &HeaderMap,
    trust_forwarded_for: bool,
    trusted: &[IpNet],
) -> Option<IpAddr> {
    // `::ffff:10.0.0.5` (a dual-stack listener's view of an IPv4 peer) is `10.0.0.5`, so an
    // IPv4 `trusted_proxies` entry holds for it.
    let peer = peer?.to_canonical();
    let is_trusted = |ip: &IpAddr| trusted.iter().any(|n| n.contains(ip));
    if !trust_forwarded_for || !is_trusted(&peer) {
        return Some(peer);
    }
    let mut client = peer;
    let entries = headers
        .get_all("x-forwarded-for")
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(','))
        .map(str::trim)
        .collect::<Vec<_>>();
    for entry in entries.iter().rev() {
        let Ok(ip) = entry.parse::<IpAddr>() else {
            break;
        };
        let ip = ip.to_canonical();
        client = ip;
        if !is_trusted(&ip) {
            break;
        }
    }
    Some(client)
}

/// A request refused for its rate.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Limited {
    /// Whole seconds until a retry can succeed (at least 1).
    pub(crate) retry_after_secs: u64,
}

type Keyed = RateLimiter<IpAddr, DefaultKeyedStateStore<IpAddr>, DefaultClock>;
type ByToken = RateLimiter<[u8; 32], DefaultKeyedStateStore<[u8; 32]>, DefaultClock>;

/// One token bucket per client for each [`Action`].
pub(crate) struct RateLimits {
    create: Keyed,
    signer: Keyed,
    claim: Keyed,
    verify: Keyed,
    /// Requests per program bearer token (by its hash), wherever they come from.
    tokens: ByToken,
    clock: DefaultClock,
}

fn keyed(per_minute: u32) -> Keyed {
    let n = NonZeroU32::new(per_minute).unwrap_or(NonZeroU32::MIN);
    RateLimiter::keyed(Quota::per_minute(n))
}

impl RateLimits {
    /// Buckets with the configured rates (each also the burst).
    pub(crate) fn new(config: &LimitsConfig) -> Self {
        RateLimits {
            create: keyed(config.create_per_minute),
            signer: keyed(config.signer_per_minute),
            claim: keyed(config.claim_per_minute),
            verify: keyed(config.verify_per_minute),
            tokens: RateLimiter::keyed(Quota::per_minute(
                NonZeroU32::new(config.token_per_minute).unwrap_or(NonZeroU32::MIN),
            )),
            clock: DefaultClock::default(),
        }
    }

    /// Takes one token for `action` from the client's bucket. A request whose client is
    /// unknown (no peer address) shares one bucket with all such requests.
    pub(crate) fn check(&self, action: Action, client: Option<IpAddr>) -> Result<(), Limited> {
        let key = client.map_or(IpAddr::V6(Ipv6Addr::UNSPECIFIED), client_key);
        let limiter = match action {
            Action::Create => &self.create,
            Action::Signer => &self.signer,
            Action::Claim => &self.claim,
            Action::Verify => &self.verify,
        };
        limiter
            .check_key(&key)
            .map_err(|not_until| self.limited(not_until.wait_time_from(self.clock.now())))
    }

    /// Takes one token from the bucket of the program bearer token whose hash is `token`:
    /// a program is limited by its token, however many addresses it spreads over.
    pub(crate) fn check_token(&self, token: &[u8; 32]) -> Result<(), Limited> {
        self.tokens
            .check_key(token)
            .map_err(|not_until| self.limited(not_until.wait_time_from(self.clock.now())))
    }

    fn limited(&self, wait: Duration) -> Limited {
        Limited {
            retry_after_secs: wait.as_secs().saturating_add(1),
        }
    }

    /// Forgets clients whose buckets are full again; returns how many keys remain.
    pub(crate) fn sweep(&self) -> usize {
        let mut left = 0;
        for l in [&self.create, &self.signer, &self.claim, &self.verify] {
            l.retain_recent();
            l.shrink_to_fit();
            left += l.len();
        }
        self.tokens.retain_recent();
        self.tokens.shrink_to_fit();
        left + self.tokens.len()
    }
}

/// When each program token's use was last recorded, so it is recorded at most once a minute
/// per token and instance ([`UseNotes::due`]): a store write per request would cost every
/// request a round trip, and "last used" needs no finer grain.
#[derive(Default)]
pub(crate) struct UseNotes {
    last: dashmap::DashMap<[u8; 32], u64>,
}

/// How often one token's use is recorded.
pub(crate) const USE_NOTE_EVERY_MS: u64 = 60_000;

impl UseNotes {
    /// Whether a use of token `key` at `now_ms` is to be recorded (and, if so, notes that it
    /// is).
    pub(crate) fn due(&self, key: [u8; 32], now_ms: u64) -> bool {
        let mut due = false;
        self.last
            .entry(key)
            .and_modify(|at| {
                if now_ms.saturating_sub(*at) >= USE_NOTE_EVERY_MS {
                    *at = now_ms;
                    due = true;
                }
            })
            .or_insert_with(|| {
                due = true;
                now_ms
            });
        due
    }

    /// Forgets tokens not recorded within the last interval.
    pub(crate) fn sweep(&self, now_ms: u64) {
        self.last
            .retain(|_, at| now_ms.saturating_sub(*at) < USE_NOTE_EVERY_MS);
    }
}

/// Open connections per client, each client capped, so one client holding connections open
/// (slow heads, slow bodies, idle keep-alives) cannot take every one of `max_connections`.
///
/// A client is `client_key` of the peer's address. A connection from a trusted proxy (with
/// `trust_forwarded_for`) is not counted: it carries many clients, whom the gateway only
/// tells apart per request; `max_connections` still bounds it.
pub struct ClientConnections {
    max: usize,
    trusted: Vec<IpNet>,
    open: Mutex<HashMap<IpAddr, usize>>,
}

/// One counted connection; dropping it frees its place.
pub struct ClientSlot {
    table: Arc<ClientConnections>,
    key: Option<IpAddr>,
}

impl ClientConnections {
    /// At most `max` connections per client; `trusted` are the proxies not counted (empty
    /// when `X-Forwarded-For` is not trusted).
    pub fn new(max: usize, trusted: Vec<IpNet>) -> Arc<ClientConnections> {
        Arc::new(ClientConnections {
            max,
            trusted,
            open: Mutex::new(HashMap::new()),
        })
    }

    /// A place for one more connection from `peer`, or `None` when its client already holds
    /// `max`. Peers without an address share one count.
    pub fn open(self: &Arc<Self>, peer: Option<IpAddr>) -> Option<ClientSlot> {
        let peer = peer.map(|ip| ip.to_canonical());
        if peer.is_some_and(|ip| self.trusted.iter().any(|n| n.contains(&ip))) {
            return Some(ClientSlot {
                table: self.clone(),
                key: None,
            });
        }
        let key = peer.map_or(IpAddr::V6(Ipv6Addr::UNSPECIFIED), client_key);
        let mut open = self.open.lock().unwrap_or_else(PoisonError::into_inner);
        let count = open.entry(key).or_insert(0);
        if *count >= self.max {
            return None;
        }
        *count += 1;
        Some(ClientSlot {
            table: self.clone(),
            key: Some(key),
        })
    }

    /// Connections counted for `peer`'s client now.
    #[cfg(test)]
    pub(crate) fn count(&self, peer: IpAddr) -> usize {
        let open = self.open.lock().unwrap_or_else(PoisonError::into_inner);
        open.get(&client_key(peer)).copied().unwrap_or(0)
    }
}

impl Drop for ClientSlot {
    fn drop(&mut self) {
        let Some(key) = self.key else { return };
        let mut open = self
            .table
            .open
            .lock()
            .unwrap_or_else(PoisonError::into_inner);
        if let Some(count) = open.get_mut(&key) {
            *count = count.saturating_sub(1);
            if *count == 0 {
                open.remove(&key);
            }
        }
    }
}

/// Places of connections still in their TLS handshake, which the TLS layer completes before
/// the connection reaches the code that counts it: each is taken when the handshake starts
/// and handed to the connection when it completes ([`Handshakes::take`]), so a client holding
/// connections mid-handshake fills its own cap, not the process's file descriptors. A
/// handshake that fails is never handed over; its place is kept until `window` (the TLS
/// layer's own handshake limit) has passed since it started, when the handshake is over
/// either way.
pub struct Handshakes {
    window: Duration,
    held: Mutex<HashMap<(SocketAddr, SocketAddr), (ClientSlot, Instant)>>,
}

impl Handshakes {
    /// A table whose places are kept at most `window` each.
    pub fn new(window: Duration) -> Arc<Handshakes> {
        Arc::new(Handshakes {
            window,
            held: Mutex::new(HashMap::new()),
        })
    }

    /// Keeps `slot` for the connection from `peer` to `local`, whose handshake starts `now`;
    /// places whose window has passed are freed first.
    pub fn hold(&self, local: SocketAddr, peer: SocketAddr, slot: ClientSlot, now: Instant) {
        let mut held = self.held.lock().unwrap_or_else(PoisonError::into_inner);
        held.retain(|_, (_, since)| now.saturating_duration_since(*since) < self.window);
        held.insert((local, peer), (slot, now));
    }

    /// The place kept for the connection from `peer` to `local`, if its handshake was counted.
    pub fn take(&self, local: SocketAddr, peer: SocketAddr) -> Option<ClientSlot> {
        let mut held = self.held.lock().unwrap_or_else(PoisonError::into_inner);
        held.remove(&(local, peer)).map(|(slot, _)| slot)
    }
}

/// Whether a request body that has delivered `bytes` in `elapsed` since its head was read is
/// keeping up: during the first `body_timeout` anything goes (a per-read timeout of the same
/// length catches a body that stalls), after it the body must average `min_body_rate` bytes
/// per second. A rate of 0 switches the average off.
pub fn body_on_pace(bytes: u64, elapsed: Duration, limits: &LimitsConfig) -> bool {
    if elapsed <= limits.body_timeout || limits.min_body_rate == 0 {
        return true;
    }
    let owed = u128::from(limits.min_body_rate).saturating_mul(elapsed.as_millis()) / 1000;
    u128::from(bytes) >= owed
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ip(s: &str) -> IpAddr {
        s.parse().expect("ip")
    }

    #[test]
    fn ipv6_clients_are_counted_by_their_64() {
        assert_eq!(client_key(ip("2001:db8:1:2:3:4:5:6")), ip("2001:db8:1:2::"));
        assert_eq!(
            client_key(ip("2001:db8:1:2:ffff::1")),
            client_key(ip("2001:db8:1:2::9"))
        );
        assert_ne!(
            client_key(ip("2001:db8:1:3::1")),
            client_key(ip("2001:db8:1:2::1"))
        );
        assert_eq!(client_key(ip("::ffff:203.0.113.7")), ip("203.0.113.7"));
        assert_eq!(client_key(ip("203.0.113.7")), ip("203.0.113.7"));
    }

    #[test]
    fn forwarded_for_is_believed_only_from_trusted_proxies() {
        let trusted: Vec<IpNet> = vec!["10.0.0.0/8".parse().expect("net")];
        let mut h = HeaderMap::new();
        h.append(
            "x-forwarded-for",
            "198.51.100.1, 203.0.113.9".parse().expect("v"),
        );
        h.append("x-forwarded-for", "10.1.1.1".parse().expect("v"));
        let from = |peer: &str, trust: bool| client_ip(Some(ip(peer)), &h, trust, &trusted);
        assert_eq!(
            from("10.0.0.5", true),
            Some(ip("203.0.113.9")),
            "rightmost untrusted"
        );
        assert_eq!(
            from("192.0.2.1", true),
            Some(ip("192.0.2.1")),
            "untrusted peer"
        );
        assert_eq!(
            from("10.0.0.5", false),
            Some(ip("10.0.0.5")),
            "switched off"
        );
        let mut bad = HeaderMap::new();
        bad.append("x-forwarded-for", "junk, 10.2.2.2".parse().expect("v"));
        assert_eq!(
            client_ip(Some(ip("10.0.0.5")), &bad, true, &trusted),
            Some(ip("10.2.2.2")),
            "the walk stops at garbage, keeping the last trusted hop"
        );
        assert_eq!(client_ip(None, &h, true, &trusted), None);
        // A dual-stack listener sees an IPv4 proxy as `::ffff:a.b.c.d`: still that proxy.
        assert_eq!(
            from("::ffff:10.0.0.5", true),
            Some(ip("203.0.113.9")),
            "mapped trusted peer"
        );
        let mut mapped = HeaderMap::new();
        mapped.append(
            "x-forwarded-for",
            "203.0.113.9, ::ffff:10.1.1.1".parse().expect("v"),
        );
        assert_eq!(
            client_ip(Some(ip("10.0.0.5")), &mapped, true, &trusted),
            Some(ip("203.0.113.9")),
            "mapped trusted hop"
        );
    }

    #[test]
    fn buckets_refuse_past_the_burst_per_client_and_action() {
        let limits = RateLimits::new(&LimitsConfig {
            create_per_minute: 3,
            ..LimitsConfig::default()
        });
        let a = Some(ip("203.0.113.7"));
        for _ in 0..3 {
            assert_eq!(limits.check(Action::Create, a), Ok(()));
        }
        let refused = limits.check(Action::Create, a).expect_err("over the burst");
        assert!((1..=21).contains(&refused.retry_after_secs), "{refused:?}");
        assert_eq!(
            limits.check(Action::Create, Some(ip("203.0.113.8"))),
            Ok(())
        );
        assert_eq!(
            limits.check(Action::Claim, a),
            Ok(()),
            "other actions unaffected"
        );
        // Another address in the same IPv6 /64 shares the bucket.
        for _ in 0..3 {
            let _ = limits.check(Action::Create, Some(ip("2001:db8::1")));
        }
        assert!(limits
            .check(Action::Create, Some(ip("2001:db8::2")))
            .is_err());
        assert!(limits.sweep() > 0, "recently used buckets are kept");
    }

    #[test]
    fn a_tokens_use_is_recorded_once_a_minute() {
        let notes = UseNotes::default();
        let (a, b) = ([1u8; 32], [2u8; 32]);
        assert!(notes.due(a, 1_000));
        assert!(!notes.due(a, 1_001));
        assert!(!notes.due(a, 60_999));
        assert!(notes.due(b, 2_000), "another token");
        assert!(notes.due(a, 61_000));
        notes.sweep(121_000);
        assert!(notes.last.is_empty());
        // A clock that went back records nothing twice.
        assert!(notes.due(a, 200_000));
        assert!(!notes.due(a, 100_000));
    }

    #[test]
    fn a_programs_token_has_its_own_bucket() {
        let limits = RateLimits::new(&LimitsConfig {
            token_per_minute: 2,
            ..LimitsConfig::default()
        });
        let (a, b) = ([1u8; 32], [2u8; 32]);
        assert_eq!(limits.check_token(&a), Ok(()));
        assert_eq!(limits.check_token(&a), Ok(()));
        let refused = limits.check_token(&a).expect_err("over the burst");
        assert!((1..=31).contains(&refused.retry_after_secs), "{refused:?}");
        assert_eq!(limits.check_token(&b), Ok(()), "another token");
        assert_eq!(
            limits.check(Action::Verify, Some(ip("203.0.113.7"))),
            Ok(()),
            "clients' buckets are apart"
        );
    }

    #[test]
    fn connections_are_capped_per_client_and_freed_on_drop() {
        let trusted: Vec<IpNet> = vec!["10.0.0.0/8".parse().expect("net")];
        let table = ClientConnections::new(2, trusted);
        let a = ip("2001:db8:1:2::1");
        let first = table.open(Some(a)).expect("first");
        let second = table
            .open(Some(ip("2001:db8:1:2::ffff")))
            .expect("same /64");
        assert!(table.open(Some(a)).is_none(), "the /64 holds two");
        assert!(
            table.open(Some(ip("2001:db8:1:3::1"))).is_some(),
            "another /64"
        );
        let proxied: Vec<ClientSlot> = (0..5)
            .map(|_| table.open(Some(ip("10.1.2.3"))).expect("a trusted proxy"))
            .collect();
        assert_eq!(table.count(ip("10.1.2.3")), 0);
        let mapped = table
            .open(Some(ip("::ffff:10.1.2.3")))
            .expect("a trusted proxy seen through a dual-stack listener");
        assert_eq!(table.count(ip("10.1.2.3")), 0);
        drop(mapped);
        drop(first);
        assert_eq!(table.count(a), 1);
        assert!(table.open(Some(a)).is_some(), "a place was freed");
        drop((second, proxied));
        assert_eq!(table.count(a), 0);
        assert!(
            table.open.lock().expect("lock").is_empty(),
            "no key left behind"
        );
    }

    #[test]
    fn a_handshake_holds_its_clients_place_until_handed_over_or_its_window_passes() {
        let table = ClientConnections::new(2, Vec::new());
        let handshakes = Handshakes::new(Duration::from_secs(60));
        let local: SocketAddr = "127.0.0.1:443".parse().expect("addr");
        let peer = |port: u16| SocketAddr::new(ip("192.0.2.1"), port);
        let t0 = Instant::now();
        for port in [1, 2] {
            let slot = table.open(Some(peer(port).ip())).expect("a place");
            handshakes.hold(local, peer(port), slot, t0);
        }
        assert!(
            table.open(Some(ip("192.0.2.1"))).is_none(),
            "two mid-handshake"
        );
        // A completed handshake hands its place to the connection: still counted once.
        let handed = handshakes.take(local, peer(1)).expect("held");
        assert!(
            handshakes.take(local, peer(1)).is_none(),
            "handed over once"
        );
        assert_eq!(table.count(ip("192.0.2.1")), 2);
        drop(handed);
        assert_eq!(table.count(ip("192.0.2.1")), 1);
        // One that failed is freed once the window has passed.
        let slot = table.open(Some(ip("192.0.2.9"))).expect("another client");
        let other = SocketAddr::new(ip("192.0.2.9"), 3);
        handshakes.hold(local, other, slot, t0 + Duration::from_secs(61));
        assert_eq!(
            table.count(ip("192.0.2.1")),
            0,
            "the failed handshake's place"
        );
        assert!(handshakes.take(local, peer(2)).is_none());
    }

    #[test]
    fn a_body_must_keep_the_minimum_pace_after_its_first_window() {
        let limits = LimitsConfig {
            body_timeout: Duration::from_secs(10),
            min_body_rate: 500,
            ..LimitsConfig::default()
        };
        let at = |bytes, secs| body_on_pace(bytes, Duration::from_secs(secs), &limits);
        assert!(at(0, 10), "the first window is free");
        assert!(at(5_500, 11));
        assert!(!at(5_499, 11));
        assert!(!at(10, 600), "a byte now and then is not a body");
        assert!(at(u64::MAX, 1 << 40), "no overflow");
        assert!(
            !at(u64::MAX, u64::MAX),
            "owed more than any count, without overflow"
        );
        assert!(!at(0, u64::MAX));
        let off = LimitsConfig {
            min_body_rate: 0,
            ..limits
        };
        assert!(body_on_pace(0, Duration::from_secs(3600), &off));
    }
}
