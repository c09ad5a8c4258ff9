//! In-process coordination: every lock and wake-up Convene uses, in one place.
//!
//! Today Convene is one process, so these are in-memory. A multi-node deployment (several
//! processes on one database) replaces exactly this module, e.g. with lease rows in the
//! database, without touching the features. What each piece guarantees:
//!
//! - [`LockName`] + [`KeyedLocks`]: at most one holder per name in this process.
//!   - `CalendarToken(id)`: one refresh-token exchange per calendar at a time; concurrent
//!     callers wait and then reuse the committed token (`calendars::tokens`).
//!   - `CalendarSync(id)`: a calendar is never synced twice at once (`sync`); the sweep
//!     skips a held calendar (`try_lock`), an explicit sync waits.
//!   - `ZoomCredential(id)`: one Zoom refresh per credential at a time (`zoom::tokens`,
//!     also taken by the admin page and the API around a forced refresh).
//!   - `ZoomMeetingSync(id)`: one meeting sync per credential at a time (`zoom::meetings`).
//!   - `BotEvent(id)` / `BotKey(key)`: one bot change per event and per deduplication key;
//!     the bot endpoints answer `409` when held. Correctness does not rest on these (the
//!     write transaction and the unique index of live keys do); they give "one wins".
//!   - `Sweep(name)`: a sweep never overlaps itself (`jobs`).
//! - [`Wakers`]: a notify that makes a background loop run now instead of at its next tick,
//!   sent after a commit that gave it work. Losing one only delays work to the next tick.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use tokio::sync::OwnedMutexGuard;

/// The name of a single-flight lock.
#[derive(Debug, Clone, Copy)]
pub enum LockName<'a> {
    CalendarToken(&'a str),
    CalendarSync(&'a str),
    ZoomCredential(&'a str),
    ZoomMeetingSync(&'a str),
    BotEvent(&'a str),
    BotKey(&'a str),
    Sweep(&'a str),
}

impl LockName<'_> {
    fn key(self) -> String {
        match self {
            LockName::CalendarToken(id) => format!("calendar-token:{id}"),
            LockName::CalendarSync(id) => format!("sync:{id}"),
            LockName::ZoomCredential(id) => format!("zoom_credential:{id}"),
            LockName::ZoomMeetingSync(id) => format!("zoom_meeting_sync:{id}"),
            LockName::BotEvent(id) => format!("bots:event:{id}"),
            LockName::BotKey(key) => format!("bots:key:{key}"),
            LockName::Sweep(name) => format!("sweep:{name}"),
        }
    }
}

/// A map of async mutexes by name, for single-flight work.
#[derive(Clone, Default)]
pub struct KeyedLocks {
    inner: Arc<Mutex<HashMap<String, Arc<tokio::sync::Mutex<()>>>>>,
}

impl KeyedLocks {
    fn get(&self, name: LockName) -> Arc<tokio::sync::Mutex<()>> {
        let mut map = self.inner.lock().expect("locks poisoned");
        // Drop entries nobody holds so the map does not grow without bound.
        if map.len() > 10_000 {
            map.retain(|_, m| Arc::strong_count(m) > 1);
        }
        map.entry(name.key()).or_default().clone()
    }

    /// Waits until the lock is free and holds it until the guard drops.
    pub async fn lock(&self, name: LockName<'_>) -> OwnedMutexGuard<()> {
        self.get(name).lock_owned().await
    }

    /// Holds the lock if it is free now; `None` when someone else holds it.
    pub fn try_lock(&self, name: LockName<'_>) -> Option<OwnedMutexGuard<()>> {
        self.get(name).try_lock_owned().ok()
    }
}

/// Wake-ups that let a background loop act at once instead of waiting for its next tick.
#[derive(Clone, Default)]
pub struct Wakers {
    pub webhooks: Arc<tokio::sync::Notify>,
    pub sync: Arc<tokio::sync::Notify>,
    pub bots: Arc<tokio::sync::Notify>,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn a_held_name_is_refused_and_others_are_free() {
        let locks = KeyedLocks::default();
        let held = locks.lock(LockName::CalendarSync("a")).await;
        assert!(locks.try_lock(LockName::CalendarSync("a")).is_none());
        assert!(locks.try_lock(LockName::CalendarToken("a")).is_some());
        drop(held);
        assert!(locks.try_lock(LockName::CalendarSync("a")).is_some());
    }
}
