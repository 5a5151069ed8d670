//! The signer protocols the gateway speaks, and their registry.
//!
//! - [`protocol`]: the [`Signer`] trait every protocol implements.
//! - [`native`]: qrgate's own challenge (docs/protocol.md).
//! - [`pubky`]: Pubky Ring's pubkyauth, with the gateway as the relay.
//! - [`tana`]: tana-mobile's identity protocol, minus its flaws.
//! - [`program`]: what a program's device code asks for, as every protocol shows it.
//!
//! Adding a protocol is one file implementing [`Signer`] and one line in `REGISTRY`; config
//! validation, the login page, the scan answer, the approve endpoint, own endpoints and the
//! sweeper all find it there.

pub mod native;
pub mod program;
pub mod protocol;
pub mod pubky;
pub mod tana;

use crate::login::signers::protocol::{Signer, SignerId};

/// Makes one instance of a protocol.
type Make = fn() -> Box<dyn Signer>;

/// Every protocol: its name and how to make one (each gateway gets its own instances, so
/// replay memories are never shared between gateways in one process).
const REGISTRY: &[(SignerId, Make)] = &[
    (native::ID, native::new),
    (pubky::ID, pubky::new),
    (tana::ID, tana::new),
];

/// The protocol an app offers when its config names none.
pub(crate) const DEFAULT: SignerId = native::ID;

/// The protocol named `name` in config.
pub(crate) fn lookup(name: &str) -> Option<SignerId> {
    REGISTRY
        .iter()
        .map(|(id, _)| *id)
        .find(|id| id.name() == name)
}

/// Every protocol's name, in registry order.
pub(crate) fn names() -> impl Iterator<Item = &'static str> {
    REGISTRY.iter().map(|(id, _)| id.name())
}

/// One instance of every protocol, in registry order.
pub(crate) struct Signers(Vec<Box<dyn Signer>>);

impl Default for Signers {
    fn default() -> Self {
        Signers(REGISTRY.iter().map(|(_, make)| make()).collect())
    }
}

impl Signers {
    /// The instance of protocol `id`.
    pub(crate) fn get(&self, id: SignerId) -> Option<&dyn Signer> {
        self.0.iter().find(|s| s.id() == id).map(|s| &**s)
    }

    /// Every instance, in registry order.
    pub(crate) fn iter(&self) -> impl Iterator<Item = &dyn Signer> {
        self.0.iter().map(|s| &**s)
    }

    /// Frees every protocol's expired replay records; returns how many.
    pub(crate) fn sweep(&self, now_ms: u64) -> usize {
        self.iter().map(|s| s.sweep(now_ms)).sum()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn registry_names_are_unique_and_instances_match() {
        let names: Vec<_> = names().collect();
        assert_eq!(names, ["native", "pubky", "tana"]);
        let signers = Signers::default();
        for name in names {
            let id = lookup(name).expect("registered");
            assert_eq!(signers.get(id).map(|s| s.id()), Some(id));
        }
        assert_eq!(lookup("Native"), None, "names are exact");
        let endpoints: Vec<_> = signers.iter().filter_map(|s| s.endpoint()).collect();
        assert_eq!(endpoints.len(), 1, "only Pubky has an endpoint of its own");
    }
}
