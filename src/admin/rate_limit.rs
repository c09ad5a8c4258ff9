//! Login attempt limiting: at most `MAX_FAILURES` failed logins per client address in a
//! sliding window; further attempts are refused until the window passes.

use std::collections::HashMap;
use std::sync::Mutex;

pub const MAX_FAILURES: usize = 5;
pub const WINDOW_MS: i64 = 15 * 60 * 1000;

#[derive(Default)]
pub struct LoginLimiter {
    failures: Mutex<HashMap<String, Vec<i64>>>,
}

impl LoginLimiter {
    /// True when `client` may try to log in now.
    pub fn allowed(&self, client: &str, now_ms: i64) -> bool {
        let mut map = self.failures.lock().expect("limiter poisoned");
        let list = map.entry(client.to_string()).or_default();
        list.retain(|t| now_ms - t < WINDOW_MS);
        list.len() < MAX_FAILURES
    }

    pub fn record_failure(&self, client: &str, now_ms: i64) {
        let mut map = self.failures.lock().expect("limiter poisoned");
        map.entry(client.to_string()).or_default().push(now_ms);
    }

    pub fn reset(&self, client: &str) {
        self.failures
            .lock()
            .expect("limiter poisoned")
            .remove(client);
    }
}
