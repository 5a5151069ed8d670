//! What the gateway counts, for Prometheus.
//!
//! One [`Metrics`] per gateway, owned beside the stores (it outlives reloads). Labels are app
//! names, protocol names, decisions, status classes and results — never a user name, a key,
//! a path or anything else a client chooses. Gauges that mirror a store (sessions, pending
//! attempts) are set when scraped.

use prometheus::{
    Encoder, Gauge, HistogramOpts, HistogramVec, IntCounterVec, IntGauge, IntGaugeVec, Opts,
    Registry, TextEncoder,
};

/// Every metric the gateway exports.
pub struct Metrics {
    registry: Registry,
    /// Requests by app, decision (`forwarded`, `public`, `local`, `login_redirect`,
    /// `unauthenticated`, `refused`) and status class (`2xx` …).
    pub requests: IntCounterVec,
    /// Seconds from forwarding a request to the upstream's response head, by app.
    pub upstream_seconds: HistogramVec,
    /// Login attempts by app, protocol (`any` where no protocol is involved yet) and event
    /// (`created`, `scanned`, `approved`, `rejected`, `claimed`, `stepped_up`, `confirmed`,
    /// `refused`).
    pub(crate) logins: IntCounterVec,
    /// Attempts that ran out of time unfinished.
    pub(crate) logins_expired: IntCounterVec,
    /// Requests refused for their rate, by action.
    pub(crate) rate_limited: IntCounterVec,
    /// Open login event streams.
    pub event_streams: IntGauge,
    /// Live sessions (set at scrape).
    pub sessions: IntGauge,
    /// Pending login attempts (set at scrape).
    pub pending: IntGauge,
    /// Config reloads by result (`ok`, `error`).
    pub reloads: IntCounterVec,
    /// Unix time of the last successful config load.
    pub last_reload: Gauge,
    /// OpenID Connect provider calls by client, endpoint and result.
    pub oidc: IntCounterVec,
    /// Back-channel logout deliveries by client and result (`ok`, `refused`, `failed`,
    /// `dropped`, `retry`).
    pub backchannel: IntCounterVec,
    /// Single sign-on across apps by app, step (`issue`, `redeem`, `family`) and result
    /// (`issued`, `redeemed`, `not_allowed`, `spent`, `other_app`, `other_browser`, `ended`).
    pub sso: IntCounterVec,
}

impl Default for Metrics {
    fn default() -> Self {
        Self::new()
    }
}

impl Metrics {
    /// Fresh metrics in a registry of their own.
    ///
    /// # Panics
    /// Never in practice: the names below are fixed, valid and registered once.
    pub(crate) fn new() -> Self {
        let registry = Registry::new();
        let counter = |name: &str, help: &str, labels: &[&str]| {
            let c = IntCounterVec::new(Opts::new(name, help), labels).expect("valid metric");
            registry
                .register(Box::new(c.clone()))
                .expect("registered once");
            c
        };
        let gauge = |name: &str, help: &str| {
            let g = IntGauge::new(name, help).expect("valid metric");
            registry
                .register(Box::new(g.clone()))
                .expect("registered once");
            g
        };
        let requests = counter(
            "qrgate_requests_total",
            "Requests by app, decision and status class.",
            &["app", "decision", "class"],
        );
        let upstream_seconds = HistogramVec::new(
            HistogramOpts::new(
                "qrgate_upstream_seconds",
                "Time to the upstream's response head.",
            )
            .buckets(vec![
                0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0,
            ]),
            &["app"],
        )
        .expect("valid metric");
        registry
            .register(Box::new(upstream_seconds.clone()))
            .expect("registered once");
        let logins = counter(
            "qrgate_logins_total",
            "Login attempt events by app and protocol.",
            &["app", "protocol", "event"],
        );
        let logins_expired = counter(
            "qrgate_logins_expired_total",
            "Login attempts that ran out of time unfinished.",
            &[],
        );
        let rate_limited = counter(
            "qrgate_rate_limited_total",
            "Requests refused for their rate, by action.",
            &["action"],
        );
        let event_streams = gauge("qrgate_event_streams", "Open login event streams.");
        let sessions = gauge("qrgate_sessions", "Live sessions.");
        let pending = gauge("qrgate_pending_logins", "Pending login attempts.");
        let reloads = counter(
            "qrgate_config_reloads_total",
            "Config reloads by result.",
            &["result"],
        );
        let last_reload = Gauge::new(
            "qrgate_config_last_success_seconds",
            "Unix time of the last successful config load.",
        )
        .expect("valid metric");
        registry
            .register(Box::new(last_reload.clone()))
            .expect("registered once");
        let oidc = counter(
            "qrgate_oidc_total",
            "OpenID Connect provider calls by client, endpoint and result.",
            &["client", "endpoint", "result"],
        );
        let backchannel = counter(
            "qrgate_oidc_backchannel_logout_total",
            "OpenID Connect back-channel logout deliveries by client and result.",
            &["client", "result"],
        );
        let sso = counter(
            "qrgate_sso_total",
            "Single sign-on across apps by app, step and result.",
            &["app", "step", "result"],
        );
        let build = IntGaugeVec::new(
            Opts::new("qrgate_build_info", "The running build."),
            &["version"],
        )
        .expect("valid metric");
        registry
            .register(Box::new(build.clone()))
            .expect("registered once");
        build.with_label_values(&[env!("CARGO_PKG_VERSION")]).set(1);
        Metrics {
            registry,
            requests,
            upstream_seconds,
            logins,
            logins_expired,
            rate_limited,
            event_streams,
            sessions,
            pending,
            reloads,
            last_reload,
            oidc,
            backchannel,
            sso,
        }
    }

    /// One login event.
    pub(crate) fn login(&self, app: &str, protocol: &str, event: &str) {
        self.logins.with_label_values(&[app, protocol, event]).inc();
    }

    /// The Prometheus text exposition of every metric.
    pub fn render(&self) -> String {
        let mut out = Vec::new();
        // Encoding our own well-formed families into a Vec cannot fail.
        let _ = TextEncoder::new().encode(&self.registry.gather(), &mut out);
        String::from_utf8(out).unwrap_or_default()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rendered_text_has_every_family_and_no_client_text() {
        let m = Metrics::new();
        m.login("Wiki", "native", "approved");
        m.requests
            .with_label_values(&["Wiki", "forwarded", "2xx"])
            .inc();
        m.upstream_seconds
            .with_label_values(&["Wiki"])
            .observe(0.003);
        m.rate_limited.with_label_values(&["create"]).inc();
        m.sessions.set(3);
        let text = m.render();
        for needle in [
            "qrgate_logins_total{app=\"Wiki\",event=\"approved\",protocol=\"native\"} 1",
            "qrgate_requests_total{app=\"Wiki\",class=\"2xx\",decision=\"forwarded\"} 1",
            "qrgate_upstream_seconds_bucket{app=\"Wiki\",le=\"0.005\"} 1",
            "qrgate_rate_limited_total{action=\"create\"} 1",
            "qrgate_sessions 3",
            "qrgate_build_info{version=",
        ] {
            assert!(text.contains(needle), "{needle} in\n{text}");
        }
    }
}
