//! Why a login operation was refused. [`crate::web::respond`] maps each to its HTTP answer.

use crate::gate::limits::Limited;
use crate::login::attempts::AttemptError;
use crate::login::signers::protocol::Refusal;
use crate::session::StoreError;

/// A refused login operation (create, scan, approve, reject, claim, verify, events).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum LoginError {
    /// The attempt is unknown, expired, already done, not approved, or not this browser's.
    #[error(transparent)]
    Attempt(AttemptError),
    /// The signer protocol refused the approval.
    #[error(transparent)]
    Refused(#[from] Refusal),
    /// The body is not JSON.
    #[error("The body is not valid JSON: {0}")]
    BadJson(String),
    /// The body is JSON of no protocol this gateway knows.
    #[error(
        "Malformed approval: expected a native {{public_key, signature}} or a Tana approval body."
    )]
    UnknownBody,
    /// The app does not offer the protocol that approved.
    #[error("This app does not accept {0} approvals.")]
    NotOffered(&'static str),
    /// Nobody waits on this signer endpoint channel.
    #[error("No login is waiting on this channel.")]
    UnknownChannel,
    /// The body is over the endpoint's cap.
    #[error("The request body is larger than {0} bytes.")]
    BodyTooLarge(usize),
    /// The key belongs to a user who may not use this app.
    #[error("{user} may not sign in to {app}.")]
    NotPermitted {
        /// The key's user.
        user: String,
        /// The app.
        app: String,
    },
    /// The key is a device enrolled for other apps (its browser key belongs to another
    /// origin).
    #[error("This device of {user} was enrolled for another app, not {app}.")]
    DeviceOtherApp {
        /// The device's user.
        user: String,
        /// The app.
        app: String,
    },
    /// The key is not configured (and the app has no open enrollment).
    #[error("This key is not registered for {app}.")]
    UnknownKey {
        /// The app.
        app: String,
    },
    /// The protocol's body names another user than the key's.
    #[error("This key belongs to {owner}, not {asserted}.")]
    IdentityMismatch {
        /// The key's configured user.
        owner: String,
        /// The name the body asserted.
        asserted: String,
    },
    /// A state-changing request from another origin.
    #[error("{0}")]
    CrossOrigin(&'static str),
    /// No live session.
    #[error("No valid session.")]
    Unauthenticated,
    /// This client asked too often.
    #[error("Too many requests from this address; retry in {} s.", .0.retry_after_secs)]
    RateLimited(Limited),
    /// A step-up was approved with another key than the session's.
    #[error("Confirm with the key you signed in with.")]
    OtherKey,
    /// An action was approved with a key that is not its person's.
    #[error("Only a key of {user} can confirm this.")]
    OtherUser {
        /// The person the action is for.
        user: String,
    },
    /// A device's removal was approved by that device.
    #[error("Confirm with another of your keys: a device cannot approve its own removal.")]
    SameDevice,
    /// A device's removal was asked for, but its person has no other key to confirm with.
    #[error("Removing this device needs an approval from another of your keys, and you have none. Ask your administrator to remove it.")]
    NoOtherKey,
    /// The device named is not one of the person's.
    #[error("No such device of yours.")]
    UnknownDevice,
    /// The approval came from another network than the browser that asked.
    #[error("This sign-in was requested from another network. Approve it from a phone on the same network as the computer that shows the code.")]
    OtherNetwork,
    /// The session store could not answer.
    #[error(transparent)]
    Store(#[from] StoreError),
    /// The gateway failed on its own (never the client's doing).
    #[error("{0}")]
    Internal(&'static str),
}

impl From<AttemptError> for LoginError {
    fn from(e: AttemptError) -> Self {
        match e {
            // A store failure is one kind of error wherever it surfaces.
            AttemptError::Store(e) => LoginError::Store(e),
            e => LoginError::Attempt(e),
        }
    }
}

impl LoginError {
    /// The machine-readable code of this refusal (the `error` field of a JSON answer, the
    /// `reason` of an audit event).
    pub(crate) fn code(&self) -> &'static str {
        match self {
            LoginError::Attempt(a) => match a {
                AttemptError::NotFound => "unknown_attempt",
                AttemptError::Expired => "expired",
                AttemptError::AlreadyDone(_) => "already_done",
                AttemptError::NotApproved => "not_approved",
                AttemptError::WrongBrowser => "wrong_browser",
                AttemptError::OtherPurpose => "other_purpose",
                AttemptError::Full => "busy",
                AttemptError::ClientBusy => "too_many_pending",
                AttemptError::Store(_) => "store_unavailable",
            },
            LoginError::Refused(r) => match r {
                Refusal::BadBody(_) => "bad_body",
                Refusal::BadKey(_) => "bad_key",
                Refusal::BadSignatureEncoding(_) => "bad_signature_encoding",
                Refusal::BadMessage(_) => "bad_message",
                Refusal::WrongChallenge => "wrong_challenge",
                Refusal::Inconsistent => "inconsistent",
                Refusal::Undecryptable => "undecryptable",
                Refusal::Stale(_) => "stale",
                Refusal::BadSignature(_) => "bad_signature",
                Refusal::BadToken(_) => "bad_token",
                Refusal::WrongCapabilities => "wrong_capabilities",
                Refusal::Replay => "replay",
            },
            LoginError::BadJson(_) => "bad_json",
            LoginError::UnknownBody => "bad_body",
            LoginError::NotOffered(_) => "protocol_not_offered",
            LoginError::UnknownChannel => "unknown_channel",
            LoginError::BodyTooLarge(_) => "body_too_large",
            LoginError::NotPermitted { .. } => "not_permitted",
            LoginError::UnknownKey { .. } => "unknown_key",
            LoginError::DeviceOtherApp { .. } => "device_other_app",
            LoginError::IdentityMismatch { .. } => "identity_mismatch",
            LoginError::CrossOrigin(_) => "cross_origin",
            LoginError::Unauthenticated => "unauthenticated",
            LoginError::RateLimited(_) => "rate_limited",
            LoginError::OtherNetwork => "other_network",
            LoginError::OtherKey => "other_key",
            LoginError::OtherUser { .. } => "other_user",
            LoginError::SameDevice => "same_device",
            LoginError::NoOtherKey => "no_other_key",
            LoginError::UnknownDevice => "unknown_device",
            LoginError::Store(_) => "store_unavailable",
            LoginError::Internal(_) => "internal",
        }
    }
}
