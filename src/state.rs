//! Shared application state handed to handlers and jobs.

use std::collections::HashMap;
use std::sync::atomic::{AtomicI64, Ordering};
use std::sync::{Arc, Mutex};

use crate::config::Settings;
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
    /// Single-flight locks, e.g. one refresh-token exchange per connection at a time.
    pub locks: KeyedLocks,
    pub wake: Wakers,
    pub login_limiter: Arc<crate::admin_rate_limit::LoginLimiter>,
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

/// A map of async mutexes by key, for single-flight work.
#[derive(Clone, Default)]
pub struct KeyedLocks {
    inner: Arc<Mutex<HashMap<String, Arc<tokio::sync::Mutex<()>>>>>,
}

impl KeyedLocks {
    pub fn get(&self, key: &str) -> Arc<tokio::sync::Mutex<()>> {
        let mut map = self.inner.lock().expect("locks poisoned");
        // Drop entries nobody holds so the map does not grow without bound.
        if map.len() > 10_000 {
            map.retain(|_, m| Arc::strong_count(m) > 1);
        }
        map.entry(key.to_string()).or_default().clone()
    }
}

/// Wake-ups that let a background loop act at once instead of waiting for its next tick.
#[derive(Clone, Default)]
pub struct Wakers {
    pub webhooks: Arc<tokio::sync::Notify>,
    pub sync: Arc<tokio::sync::Notify>,
    pub bots: Arc<tokio::sync::Notify>,
}
