//! Back-channel logout delivery: posts the logout tokens the core decided
//! (`qrgate_core::oidc::backchannel`) to each client's `backchannel_logout_uri`, in the
//! background of the request that ended the grants.
//!
//! Bounds: one POST waits at most [`TIMEOUT`]; a failed one (no answer, or a 5xx) is tried
//! again after a doubling pause, [`ATTEMPTS`] times in all; a 4xx is the relying party
//! refusing the token and is not repeated; at most [`CONCURRENT`] POSTs run at once and at
//! most [`BACKLOG`] notices wait, more are dropped. Each outcome is logged, audited and
//! counted (`qrgate_oidc_backchannel_logout_total{client,result}`). The HTTP client follows
//! no redirect, takes no proxy from the environment and posts only to the configured URI
//! (`http` or `https`; anything else is refused and logged).
//!
//! Delivery is at most once and from the instance whose store step ended the grants (the
//! store answers with the grants only to that step). If that instance stops before a notice
//! is delivered, the notice is lost: the grants are revoked all the same (their tokens no
//! longer work here), only the relying party's own session lives on until it expires.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::Duration;

use prometheus::IntCounterVec;
use qrgate_core::oidc::backchannel::{LogoutSender, Notice};
use tokio::sync::Semaphore;

/// How long one POST may take.
pub const TIMEOUT: Duration = Duration::from_secs(5);
/// Tries per notice, the first included.
pub const ATTEMPTS: u32 = 3;
/// The pause after the first failed try; doubled after each.
pub const BACKOFF: Duration = Duration::from_millis(500);
/// POSTs in flight at once.
pub const CONCURRENT: usize = 8;
/// Notices waiting or in flight; more are dropped (and counted).
pub const BACKLOG: usize = 1024;

/// Why the sender could not be made.
#[derive(Debug, thiserror::Error)]
pub enum BackchannelError {
    /// The HTTP client could not be built.
    #[error("back-channel logout client: {0}")]
    Client(#[from] reqwest::Error),
}

/// The glue's [`LogoutSender`].
pub struct Backchannel {
    http: reqwest::Client,
    counter: IntCounterVec,
    slots: Arc<Semaphore>,
    waiting: Arc<AtomicUsize>,
}

impl Backchannel {
    /// A sender counting into `counter` (the gateway's back-channel metric).
    pub fn new(counter: IntCounterVec) -> Result<Self, BackchannelError> {
        let http = reqwest::Client::builder()
            .no_proxy()
            .redirect(reqwest::redirect::Policy::none())
            .timeout(TIMEOUT)
            .connect_timeout(TIMEOUT)
            .build()?;
        Ok(Backchannel {
            http,
            counter,
            slots: Arc::new(Semaphore::new(CONCURRENT)),
            waiting: Arc::new(AtomicUsize::new(0)),
        })
    }
}

/// Puts a [`Backchannel`] sender in force for `gw`'s provider.
pub fn install(gw: &qrgate_core::gateway::Gateway) -> Result<(), BackchannelError> {
    let sender = Backchannel::new(gw.metrics().backchannel.clone())?;
    gw.oidc().send_logouts_with(Arc::new(sender));
    Ok(())
}

impl LogoutSender for Backchannel {
    fn send(&self, notices: Vec<Notice>) {
        let runtime = tokio::runtime::Handle::try_current().ok();
        for n in notices {
            let admitted = self
                .waiting
                .fetch_update(Ordering::AcqRel, Ordering::Acquire, |w| {
                    (w < BACKLOG).then_some(w + 1)
                })
                .is_ok();
            let Some(runtime) = runtime.as_ref().filter(|_| admitted) else {
                outcome(&self.counter, &n, "dropped", "too many logouts waiting");
                continue;
            };
            let job = Job {
                http: self.http.clone(),
                counter: self.counter.clone(),
                slots: self.slots.clone(),
                waiting: self.waiting.clone(),
            };
            runtime.spawn(job.deliver(n));
        }
    }
}

/// One notice's delivery and what it needs.
struct Job {
    http: reqwest::Client,
    counter: IntCounterVec,
    slots: Arc<Semaphore>,
    waiting: Arc<AtomicUsize>,
}

/// What one POST came to.
enum Try {
    Delivered,
    Refused(u16),
    Failed(String),
}

impl Job {
    async fn deliver(self, n: Notice) {
        let (result, detail) = self.attempts(&n).await;
        outcome(&self.counter, &n, result, &detail);
        self.waiting.fetch_sub(1, Ordering::AcqRel);
    }

    async fn attempts(&self, n: &Notice) -> (&'static str, String) {
        let scheme_ok =
            url::Url::parse(&n.uri).is_ok_and(|u| matches!(u.scheme(), "http" | "https"));
        if !scheme_ok {
            return ("refused", "backchannel_logout_uri is not http(s)".into());
        }
        let body = url::form_urlencoded::Serializer::new(String::new())
            .append_pair("logout_token", &n.token)
            .finish();
        let mut pause = BACKOFF;
        let mut last = String::new();
        for attempt in 1..=ATTEMPTS {
            let tried = {
                let Ok(_slot) = self.slots.acquire().await else {
                    return ("failed", "sender closed".into());
                };
                self.post(&n.uri, &body).await
            };
            match tried {
                Try::Delivered => return ("ok", format!("attempt {attempt}")),
                Try::Refused(status) => return ("refused", format!("status {status}")),
                Try::Failed(why) => last = why,
            }
            if attempt < ATTEMPTS {
                self.counter
                    .with_label_values(&[n.client_id.as_str(), "retry"])
                    .inc();
                tracing::info!(client = %n.client_id, attempt, reason = %last, "back-channel logout will be tried again");
                tokio::time::sleep(pause).await;
                pause = pause.saturating_mul(2);
            }
        }
        ("failed", format!("{ATTEMPTS} attempts: {last}"))
    }

    async fn post(&self, uri: &str, body: &str) -> Try {
        let sent = self
            .http
            .post(uri)
            .header("content-type", "application/x-www-form-urlencoded")
            .body(body.to_string())
            .send()
            .await;
        match sent {
            // §2.8: 200 (or 204) on success; a redirect is not followed and not success.
            Ok(r) if r.status().is_success() => Try::Delivered,
            Ok(r) if r.status().is_client_error() => Try::Refused(r.status().as_u16()),
            Ok(r) => Try::Failed(format!("status {}", r.status().as_u16())),
            Err(e) => Try::Failed(e.without_url().to_string()),
        }
    }
}

fn outcome(counter: &IntCounterVec, n: &Notice, result: &str, detail: &str) {
    counter
        .with_label_values(&[n.client_id.as_str(), result])
        .inc();
    let detail = format!("{result}: {detail}");
    qrgate_core::observe::audit::oidc(
        "oidc_backchannel_logout",
        &n.client_id,
        &n.user,
        &n.sid,
        &detail,
        None,
    );
    if result != "ok" {
        tracing::warn!(client = %n.client_id, uri = %n.uri, %detail, "back-channel logout not delivered");
    }
}
