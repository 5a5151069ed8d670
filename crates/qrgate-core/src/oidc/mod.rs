//! The OpenID Connect provider on the SSO origin: the protocol decisions, without I/O.
//!
//! The glue (`src/oidc/` of the `qrgate` crate) keeps the signing keys in a file and the
//! shared store in Redis and posts back-channel logout tokens; every answer is decided here.
//! [`Provider`] is what a gateway holds of it: the ID token signer in force, the store of what
//! it issued and the sender of logout tokens.

pub mod apps;
pub mod authorize;
pub mod backchannel;
pub mod claims;
pub mod device;
pub mod keys;
pub mod store;
pub mod token;

use std::sync::{Arc, RwLock};

use arc_swap::ArcSwapOption;

use crate::config::Config;
use backchannel::LogoutSender;
use device::{DeviceCodes, MemoryDeviceCodes};
use keys::IdTokenSigner;
use store::{Grant, MemoryOidc, OidcStore};

/// The provider's state in a gateway: the signer (installed by the glue from its key file,
/// at start, on every reload and whenever a periodic re-read finds it changed), the store (memory, or Redis with several instances) and
/// the back-channel logout sender (the glue's; none: nobody is told).
pub struct Provider {
    signer: ArcSwapOption<IdTokenSigner>,
    store: RwLock<Arc<dyn OidcStore>>,
    devices: RwLock<Arc<dyn DeviceCodes>>,
    logouts: RwLock<Option<Arc<dyn LogoutSender>>>,
    issued: device::Issued,
    guesses: device::Guesses,
}

impl Default for Provider {
    fn default() -> Self {
        Provider {
            signer: ArcSwapOption::empty(),
            store: RwLock::new(Arc::new(MemoryOidc::default())),
            devices: RwLock::new(Arc::new(MemoryDeviceCodes::default())),
            logouts: RwLock::new(None),
            issued: device::Issued::default(),
            guesses: device::Guesses::default(),
        }
    }
}

impl Provider {
    /// The device codes this instance issued that may still be waiting.
    pub(crate) fn issued(&self) -> &device::Issued {
        &self.issued
    }

    /// The failed user-code entries on this instance's verification page.
    pub(crate) fn guesses(&self) -> &device::Guesses {
        &self.guesses
    }

    /// The ID token signer in force, if `[sso]` is configured and its keys installed.
    pub(crate) fn signer(&self) -> Option<Arc<IdTokenSigner>> {
        self.signer.load_full()
    }

    /// What the signer in force publishes and signs with (none without a signer).
    pub fn keys_in_force(&self) -> Option<crate::rotation::InForce> {
        self.signer.load().as_ref().map(|s| s.in_force().clone())
    }

    /// Puts a signer in force (or none).
    pub fn install(&self, signer: Option<IdTokenSigner>) {
        self.signer.store(signer.map(Arc::new));
    }

    /// The store of codes, grants and tokens.
    pub(crate) fn store(&self) -> Arc<dyn OidcStore> {
        match self.store.read() {
            Ok(s) => s.clone(),
            Err(poisoned) => poisoned.into_inner().clone(),
        }
    }

    /// Ends every live grant of `user` (with `key`, hex: only those it approved) and tells
    /// their clients; how many.
    pub(crate) async fn end_of_user(
        &self,
        config: &Config,
        now_ms: u64,
        user: &str,
        key: Option<&str>,
    ) -> Result<usize, store::StoreError> {
        let ended = self.store().end_of_user(user, key).await?;
        self.ended(config, &ended, now_ms);
        Ok(ended.len())
    }

    /// Ends every live grant `test` picks and tells their clients; how many.
    pub(crate) async fn end_where(
        &self,
        config: &Config,
        now_ms: u64,
        test: store::GrantTest<'_>,
    ) -> Result<usize, store::StoreError> {
        let ended = self.store().end_where(test).await?;
        self.ended(config, &ended, now_ms);
        Ok(ended.len())
    }

    /// Replaces the store (the glue's Redis store, before serving).
    pub fn use_store(&self, store: Arc<dyn OidcStore>) {
        match self.store.write() {
            Ok(mut s) => *s = store,
            Err(poisoned) => *poisoned.into_inner() = store,
        }
    }

    /// Where device codes wait (RFC 8628).
    pub(crate) fn device_codes(&self) -> Arc<dyn DeviceCodes> {
        match self.devices.read() {
            Ok(s) => s.clone(),
            Err(poisoned) => poisoned.into_inner().clone(),
        }
    }

    /// Replaces the device code store (the glue's Redis store, before serving).
    pub fn use_device_codes(&self, codes: Arc<dyn DeviceCodes>) {
        match self.devices.write() {
            Ok(mut s) => *s = codes,
            Err(poisoned) => *poisoned.into_inner() = codes,
        }
    }

    /// Puts the back-channel logout sender in force (the glue's, before serving).
    pub fn send_logouts_with(&self, sender: Arc<dyn LogoutSender>) {
        match self.logouts.write() {
            Ok(mut l) => *l = Some(sender),
            Err(poisoned) => *poisoned.into_inner() = Some(sender),
        }
    }

    /// Tells the clients of `ended` grants (those with a `backchannel_logout_uri`) that they
    /// ended, in the background. Every step that revokes grants for a person calls this with
    /// what the store answered it ended, so each is told once, by the instance that ended it.
    pub(crate) fn ended(&self, config: &Config, ended: &[Grant], now_ms: u64) {
        if ended.is_empty() {
            return;
        }
        let sender = match self.logouts.read() {
            Ok(l) => l.clone(),
            Err(poisoned) => poisoned.into_inner().clone(),
        };
        let (Some(sender), Some(signer)) = (sender, self.signer()) else {
            return;
        };
        let notices = backchannel::notices(config, &signer, ended, now_ms);
        if !notices.is_empty() {
            sender.send(notices);
        }
    }

    /// Ends a single sign-on family's grants (every grant that came from the SSO session
    /// `family`) and its unredeemed codes, and tells their clients; returns how many grants
    /// ended. The family stays marked ended for an SSO session's longest life, so nothing of
    /// it is redeemed or refreshed after, even what reached the store in a race with the end.
    pub(crate) async fn end_family(
        &self,
        config: &Config,
        family: &str,
        now_ms: u64,
    ) -> Result<usize, store::StoreError> {
        let until_ms = now_ms.saturating_add(crate::clock::millis(config.session.lifetime));
        let ended = self.store().end_family(family, now_ms, until_ms).await?;
        self.ended(config, &ended, now_ms);
        Ok(ended.len())
    }
}
