//! Live login status for the waiting browser, as server-sent events.
//!
//! The stream follows one login attempt's status channel: every change becomes an event
//! named after the status (`pending`, `scanned`, `approved`, `rejected`, `expired`), a
//! `: heartbeat` comment keeps proxies from idling the connection out, and the stream ends
//! after a terminal event. Framing is pure; only the proxy glue writes it to a socket.

use std::time::Duration;

use bytes::Bytes;
use serde::Serialize;
use tokio::sync::watch;

use crate::login::attempts::Status;

/// How often an idle stream sends a heartbeat comment.
pub(crate) const HEARTBEAT: Duration = Duration::from_secs(15);

/// One SSE frame: `event: NAME\ndata: JSON\n\n`.
pub(crate) fn frame<T: Serialize>(event: &str, data: &T) -> Bytes {
    let json = serde_json::to_string(data).unwrap_or_else(|_| "{}".into());
    // JSON from serde_json never contains a raw newline, so one `data:` line is enough.
    Bytes::from(format!("event: {event}\ndata: {json}\n\n"))
}

/// The heartbeat comment.
pub(crate) fn heartbeat() -> Bytes {
    Bytes::from_static(b": heartbeat\n\n")
}

/// The events of one login attempt, as the browser should see them.
pub struct EventStream {
    rx: watch::Receiver<Status>,
    started: bool,
    done: bool,
    /// When the attempt expires, so an unobserved expiry still ends the stream.
    expires_in: Duration,
    deadline: Option<tokio::time::Instant>,
}

impl EventStream {
    /// A stream over an attempt's status channel.
    pub(crate) fn new(rx: watch::Receiver<Status>, expires_in: Duration) -> Self {
        Self {
            rx,
            started: false,
            done: false,
            expires_in,
            deadline: None,
        }
    }

    /// The next frame to send, or `None` once a terminal event has been sent.
    /// Waits at most `HEARTBEAT`, then yields a heartbeat.
    pub async fn next_frame(&mut self) -> Option<Bytes> {
        if self.done {
            return None;
        }
        let deadline = *self
            .deadline
            .get_or_insert_with(|| tokio::time::Instant::now() + self.expires_in);
        if !self.started {
            self.started = true;
            let status = self.rx.borrow_and_update().clone();
            return Some(self.emit(&status));
        }
        let changed = tokio::select! {
            r = self.rx.changed() => Some(r.is_ok()),
            _ = tokio::time::sleep(HEARTBEAT) => None,
            _ = tokio::time::sleep_until(deadline) => Some(false),
        };
        match changed {
            None => Some(heartbeat()),
            Some(true) => {
                let status = self.rx.borrow_and_update().clone();
                Some(self.emit(&status))
            }
            // The attempt was dropped (swept) or its time ran out: tell the page it expired.
            Some(false) => self.end(),
        }
    }

    /// The last frame when the stream ends early because the gateway is shutting down (a
    /// restart or an upgrade, which do not carry pending logins over): `expired`, so the
    /// page fetches a fresh code — from the new process. `None` after a terminal event.
    pub fn end(&mut self) -> Option<Bytes> {
        if self.done {
            return None;
        }
        self.done = true;
        Some(frame("expired", &serde_json::json!({})))
    }

    fn emit(&mut self, status: &Status) -> Bytes {
        if status.is_terminal() {
            self.done = true;
        }
        frame(status.event_name(), &status.event_data())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn frames_are_well_formed() {
        let f = frame("approved", &serde_json::json!({"name": "a\nb"}));
        assert_eq!(&f[..], b"event: approved\ndata: {\"name\":\"a\\nb\"}\n\n");
        assert_eq!(&heartbeat()[..], b": heartbeat\n\n");
    }

    #[tokio::test]
    async fn stream_emits_changes_in_order_and_ends_after_terminal() {
        let (tx, rx) = watch::channel(Status::Pending);
        let mut s = EventStream::new(rx, Duration::from_secs(60));
        assert!(
            String::from_utf8_lossy(&s.next_frame().await.expect("first"))
                .starts_with("event: pending")
        );
        tx.send_replace(Status::Scanned);
        assert!(
            String::from_utf8_lossy(&s.next_frame().await.expect("scanned"))
                .starts_with("event: scanned")
        );
        tx.send_replace(Status::Rejected);
        assert!(
            String::from_utf8_lossy(&s.next_frame().await.expect("rejected"))
                .starts_with("event: rejected")
        );
        assert!(s.next_frame().await.is_none());
    }

    #[tokio::test(start_paused = true)]
    async fn idle_stream_heartbeats_then_expires() {
        let (_tx, rx) = watch::channel(Status::Pending);
        let mut s = EventStream::new(rx, Duration::from_secs(20));
        s.next_frame().await;
        assert_eq!(s.next_frame().await, Some(heartbeat()));
        let last = s.next_frame().await.expect("expiry");
        assert!(String::from_utf8_lossy(&last).starts_with("event: expired"));
        assert!(s.next_frame().await.is_none());
    }
}
