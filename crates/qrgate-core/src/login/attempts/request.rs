//! What a login page asks for when it creates an attempt: [`NewAttempt`] and its [`Purpose`].

use super::*;
use crate::login::signers::program::ProgramAsk;

/// What the login page asked for when it created the attempt.
#[derive(Debug, Clone)]
pub struct NewAttempt {
    /// The name of the app the browser asked to sign in to (names survive reloads).
    pub app: Arc<str>,
    /// SHA-256 of the browser's binding cookie.
    pub bind_hash: BindingHash,
    /// The requesting client's address, if known.
    pub requester: Option<IpAddr>,
    /// The key its pending attempts are counted under (see `crate::gate::limits::client_key`).
    pub client_key: Option<IpAddr>,
    /// Requester IP as shown to the signer.
    pub requester_ip: String,
    /// Short user-agent summary as shown to the signer.
    pub requester_agent: String,
    /// Validated return path.
    pub return_to: String,
    /// What an approval is for: a new session, a step-up, or an action.
    pub purpose: Purpose,
    /// What the login asks for (and its session will hold): the app's grant at creation.
    pub grant: Arc<Grant>,
}

/// What an attempt's approval is for. Each is claimed as itself only: a session's claim
/// never collects an action's approval, nor one action's approval another's.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Purpose {
    /// A new session for the browser that asked.
    SignIn,
    /// A fresh approval of a live session (step-up).
    StepUp(StepUp),
    /// An action of a live session's person (see [`crate::login::confirm`]).
    Action(Confirm),
    /// A program's device code, approved or declined on the phone (RFC 8628). Nobody claims
    /// it: the approval itself is recorded with the device code, which the program redeems.
    Device(DeviceConsent),
}

impl Purpose {
    /// The action confirmed, if this is an action.
    pub(crate) fn action(&self) -> Option<&Confirm> {
        match self {
            Purpose::Action(c) => Some(c),
            _ => None,
        }
    }

    /// What the approval confirms beyond a sign-in, in words the phone shows and the native
    /// protocol signs under its action domain: an action's text, or what a program asks for
    /// (a device code is worth more than a sign-in, so it is never approved as one).
    pub(crate) fn confirms(&self) -> Option<&str> {
        match self {
            Purpose::Action(c) => Some(c.text()),
            Purpose::Device(d) => Some(&d.shown),
            Purpose::SignIn | Purpose::StepUp(_) => None,
        }
    }

    /// The device code this approves, if it approves one.
    pub(crate) fn device(&self) -> Option<&DeviceConsent> {
        match self {
            Purpose::Device(d) => Some(d),
            _ => None,
        }
    }

    /// What a claim of this attempt must name, written as the share compares it: an action's
    /// written form, `device:` and the device code's hash for a device code (which nothing
    /// claims), empty for a sign-in or a step-up.
    pub(crate) fn claimed_as(&self) -> String {
        match self {
            Purpose::SignIn | Purpose::StepUp(_) => String::new(),
            Purpose::Action(c) => c.action.wire(),
            Purpose::Device(d) => crate::login::share::device_tag(&hex::encode(d.device)),
        }
    }

    /// The step-up, if this is one.
    pub(crate) fn step_up(&self) -> Option<&StepUp> {
        match self {
            Purpose::StepUp(s) => Some(s),
            _ => None,
        }
    }
}

/// What a step-up attempt confirms: a live session, by the key it belongs to.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct StepUp {
    /// The session's token hash.
    pub(crate) session: TokenHash,
    /// The key that must approve.
    pub(crate) key: KeyBytes,
}

/// What a device code's approval shows and records.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DeviceConsent {
    /// The device code's hash.
    pub(crate) device: [u8; 32],
    /// What the program asks for: every protocol shows it, Pubky Ring's capabilities
    /// carry it.
    pub(crate) ask: ProgramAsk,
    /// What the phone shows and the native protocol signs ([`ProgramAsk::describe`]).
    pub(crate) shown: String,
}

impl DeviceConsent {
    /// The approval of device code `device` (its hash), asking for `ask`.
    pub(crate) fn new(device: [u8; 32], ask: ProgramAsk) -> Self {
        let shown = ask.describe();
        DeviceConsent { device, ask, shown }
    }
}
