//! Shared per-process state handed to every handler.

use std::sync::Arc;

use tessera_auth_core::clock::Clock;
use tessera_auth_core::secret::MasterKey;
use tessera_auth_core::service::AuthService;
use tessera_store::SeaStore;

use crate::config::Config;
use crate::cookies::CookieFactory;
use crate::rate_limit::IpRateLimits;

pub struct AppState {
    pub service: Arc<AuthService>,
    pub store: SeaStore,
    pub config: Arc<Config>,
    pub cookies: CookieFactory,
    pub clock: Arc<dyn Clock>,
    /// Shared with the service, whose credential checks take from it (`AttemptLimiter`).
    pub rate_limits: Arc<IpRateLimits>,
    /// Needed to open signing keys when they rotate. Its `Debug` is redacted.
    pub master_key: MasterKey,
}

pub type SharedState = Arc<AppState>;
