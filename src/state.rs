//! Shared application state handed to handlers and jobs.

use std::sync::atomic::{AtomicI64, Ordering};
use std::sync::Arc;

use crate::config::Settings;
pub use crate::coord::{Detached, KeyCache, KeyedLocks, SweepHealth, SyncLag, Wakers};
use crate::crypto::Keyring;
use crate::redirects::AllowList;
use crate::store::Store;

#[derive(Clone)]
pub struct AppState {
    pub settings: Arc<Settings>,
    pub store: Store,
    pub keys: Arc<Keyring>,
    /// Client for provider APIs, webhook receivers and the bot backend.
    pub http: reqwest::Client,
    pub clock: Clock,
    /// Single-flight locks (see `coord` for what each name guarantees).
    pub locks: KeyedLocks,
    pub wake: Wakers,
    /// Work that must finish even if its caller goes away (refresh exchanges + commits).
    pub detached: Detached,
    /// Sweep runs not yet written to `job_runs` (`jobs::run_sweep`).
    pub sweeps: SweepHealth,
    /// Live API keys recently confirmed by the database (`api::auth::ApiKeyAuth`).
    pub api_keys: KeyCache,
    /// How late the sweep's recent syncs started (`sync::sync_due`).
    pub sync_lag: SyncLag,
}

impl AppState {
    pub fn now_ms(&self) -> i64 {
        self.clock.now_ms()
    }

    /// Redirect origins: the public URL's, the configured ones and those saved in the admin.
    pub async fn allow_list(&self) -> Result<AllowList, crate::store::StoreError> {
        let saved = self
            .store
            .read(crate::store::settings::list_redirect_origins)
            .await?;
        Ok(AllowList::new(
            &self.settings.public_url,
            self.settings
                .redirect_allowlist
                .iter()
                .cloned()
                .chain(saved),
        ))
    }
}

/// Wall clock with an offset tests can move forward (the "shrunk clock").
#[derive(Clone, Default)]
pub struct Clock {
    offset_ms: Arc<AtomicI64>,
}

impl Clock {
    pub fn now_ms(&self) -> i64 {
        crate::store::now_ms() + self.offset_ms.load(Ordering::SeqCst)
    }
    pub fn now(&self) -> chrono::DateTime<chrono::Utc> {
        chrono::DateTime::from_timestamp_millis(self.now_ms()).unwrap_or_default()
    }
    pub fn advance(&self, by: std::time::Duration) {
        self.offset_ms
            .fetch_add(by.as_millis() as i64, Ordering::SeqCst);
    }
}
