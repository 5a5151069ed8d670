//! [`Status`]: where an attempt stands as the browser sees it, and its pub/sub text.

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
    pub(crate) fn event_name(&self) -> &'static str {
        match self {
            Status::Pending => "pending",
            Status::Scanned => "scanned",
            Status::Approved { .. } => "approved",
            Status::Rejected => "rejected",
            Status::Expired => "expired",
        }
    }

    /// The SSE event payload.
    pub(crate) fn event_data(&self) -> serde_json::Value {
        match self {
            Status::Approved { name } => serde_json::json!({ "name": name }),
            _ => serde_json::json!({}),
        }
    }

    /// How an instance announces this status of attempt `id` to the others (`None`: not
    /// announced; pending is where every attempt starts, expiry each instance sees itself).
    #[cfg(test)]
    pub(crate) fn announcement(&self, id: &str) -> Option<String> {
        match self {
            Status::Scanned => Some(format!("{id} scanned")),
            Status::Rejected => Some(format!("{id} rejected")),
            Status::Approved { name } => Some(format!("{id} approved {name}")),
            Status::Pending | Status::Expired => None,
        }
    }

    /// An announcement read back: `(attempt id, status)`; `None` for anything else.
    pub fn from_announcement(text: &str) -> Option<(&str, Status)> {
        let mut parts = text.splitn(3, ' ');
        let id = parts.next()?;
        let status = match (parts.next()?, parts.next()) {
            ("scanned", None) => Status::Scanned,
            ("rejected", None) => Status::Rejected,
            ("approved", Some(name)) => Status::Approved {
                name: name.to_string(),
            },
            _ => return None,
        };
        Some((id, status))
    }

    /// Whether the stream ends after this.
    pub(crate) fn is_terminal(&self) -> bool {
        matches!(
            self,
            Status::Approved { .. } | Status::Rejected | Status::Expired
        )
    }
}
