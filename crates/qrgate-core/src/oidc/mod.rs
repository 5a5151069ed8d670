//! The OpenID Connect provider on the SSO origin: the protocol decisions, without I/O.
//!
//! The glue (`src/oidc/` of the `qrgate` crate) keeps the signing keys in a file and the
//! shared store in Redis; every answer is decided here. [`Provider`] is what a gateway holds
//! of it: the ID token signer in force and the store of what it issued.

pub mod authorize;
pub mod claims;
pub mod keys;
pub mod store;
pub mod token;

use std::sync::{Arc, RwLock};

use arc_swap::ArcSwapOption;

use keys::IdTokenSigner;
use store::{MemoryOidc, OidcStore};

/// The provider's state in a gateway: the signer (installed by the glue from its key file,
/// at start and on every reload) and the store (memory, or Redis with several instances).
pub struct Provider {
    signer: ArcSwapOption<IdTokenSigner>,
    store: RwLock<Arc<dyn OidcStore>>,
}

impl Default for Provider {
    fn default() -> Self {
        Provider {
            signer: ArcSwapOption::empty(),
            store: RwLock::new(Arc::new(MemoryOidc::default())),
        }
    }
}

impl Provider {
    /// The ID token signer in force, if `[sso]` is configured and its keys installed.
    pub(crate) fn signer(&self) -> Option<Arc<IdTokenSigner>> {
        self.signer.load_full()
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

    /// Ends the grants [`store::departed`] under `config` (after a reload); how many.
    pub async fn purge(&self, config: &crate::config::Config) -> Result<usize, store::StoreError> {
        self.store().purge(config).await
    }

    /// Replaces the store (the glue's Redis store, before serving).
    pub fn use_store(&self, store: Arc<dyn OidcStore>) {
        match self.store.write() {
            Ok(mut s) => *s = store,
            Err(poisoned) => *poisoned.into_inner() = store,
        }
    }
}
