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
//!   sent after a commit that gave it work. Losing one only delays work to the next tick
//!   (for the sync loop: to its next read of the due list, within 10 s).
//! - [`Detached`]: work that runs to its end even when its caller goes away (a refresh-token
//!   exchange and the commit of its answer); shutdown waits for it.
//! - [`KeyCache`]: live API keys recently confirmed by the database, so an API request
//!   needs no database read; a revoke in this process forgets the key at once, one made by
//!   another process (`convene` CLI) is seen within [`KeyCache::CONFIRM_EVERY_MS`].
//! - [`SyncLag`]: how late the last syncs started after their due time (p50/p95 for the
//!   overview and `/metrics`).
//! - [`SweepHealth`]: sweep runs not yet written to `job_runs`; an idle server writes them
//!   at most once per [`SweepHealth::FLUSH_EVERY_MS`], all sweeps in one transaction.

use std::collections::HashMap;
use std::future::Future;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

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
    pub push: Arc<tokio::sync::Notify>,
}

/// Runs work detached from its caller: [`Detached::run`] spawns it, so dropping the
/// caller's future (a client disconnect, a cancelled sweep) does not cancel it half-way,
/// and waits for its result. [`Detached::wait_idle`] lets shutdown wait for what runs.
#[derive(Clone, Default)]
pub struct Detached {
    inner: Arc<DetachedInner>,
}

#[derive(Default)]
struct DetachedInner {
    running: AtomicUsize,
    idle: tokio::sync::Notify,
}

/// Counts a detached task as finished when it ends, however it ends.
struct Finished(Arc<DetachedInner>);

impl Drop for Finished {
    fn drop(&mut self) {
        if self.0.running.fetch_sub(1, Ordering::SeqCst) == 1 {
            self.0.idle.notify_waiters();
        }
    }
}

impl Detached {
    /// Spawns `work` and waits for it; `Err` only when it panicked.
    pub async fn run<T: Send + 'static>(
        &self,
        work: impl Future<Output = T> + Send + 'static,
    ) -> Result<T, String> {
        self.inner.running.fetch_add(1, Ordering::SeqCst);
        let done = Finished(self.inner.clone());
        tokio::spawn(async move {
            let _done = done;
            work.await
        })
        .await
        .map_err(|e| format!("detached task failed: {e}"))
    }

    /// Detached tasks running now.
    pub fn running(&self) -> usize {
        self.inner.running.load(Ordering::SeqCst)
    }

    /// Waits until nothing detached runs, at most `limit`; true when idle.
    pub async fn wait_idle(&self, limit: Duration) -> bool {
        let deadline = tokio::time::Instant::now() + limit;
        loop {
            let notified = self.inner.idle.notified();
            tokio::pin!(notified);
            notified.as_mut().enable();
            if self.running() == 0 {
                return true;
            }
            if tokio::time::timeout_at(deadline, notified).await.is_err() {
                return self.running() == 0;
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn detached_work_outlives_its_dropped_caller() {
        let detached = Detached::default();
        let (tx, rx) = tokio::sync::oneshot::channel::<()>();
        let (done_tx, done_rx) = tokio::sync::oneshot::channel::<u8>();
        let d = detached.clone();
        let caller = tokio::spawn(async move {
            d.run(async move {
                let _ = rx.await;
                let _ = done_tx.send(7);
            })
            .await
        });
        tokio::task::yield_now().await;
        while detached.running() == 0 {
            tokio::task::yield_now().await;
        }
        caller.abort();
        let _ = caller.await;
        assert_eq!(
            detached.running(),
            1,
            "still running after its caller was dropped"
        );
        tx.send(()).unwrap();
        assert_eq!(done_rx.await.unwrap(), 7);
        assert!(detached.wait_idle(Duration::from_secs(5)).await);
    }

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

/// One sweep's runs since its health was last written (`job_runs`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SweepRuns {
    pub name: &'static str,
    pub last_started_at: i64,
    pub last_finished_at: i64,
    pub last_error: Option<String>,
    /// Runs to add to the stored count.
    pub runs: i64,
}

#[derive(Default)]
struct SweepHealthInner {
    last_flush: Option<i64>,
    pending: HashMap<&'static str, SweepRuns>,
    /// The error last written per sweep (`None` inside: written as healthy).
    written: HashMap<&'static str, Option<String>>,
}

/// Coalesces sweep health so that an idle server does not commit every second (the 1 s
/// webhook sweep alone made ~1.2 commits a second). A run is written at once when its
/// sweep was never written or its error changed (failing, recovering, a new error);
/// otherwise runs pile up in memory and are written, all sweeps together, by the first run
/// that finishes [`SweepHealth::FLUSH_EVERY_MS`] after the last write.
#[derive(Clone, Default)]
pub struct SweepHealth {
    inner: Arc<Mutex<SweepHealthInner>>,
}

impl SweepHealth {
    pub const FLUSH_EVERY_MS: i64 = 60_000;

    /// Counts one run; returns what to write now (empty: nothing to write yet).
    pub fn note(
        &self,
        name: &'static str,
        started: i64,
        finished: i64,
        error: Option<String>,
    ) -> Vec<SweepRuns> {
        let mut g = self.inner.lock().unwrap_or_else(|e| e.into_inner());
        let changed = g.written.get(name) != Some(&error);
        let p = g.pending.entry(name).or_insert(SweepRuns {
            name,
            last_started_at: started,
            last_finished_at: finished,
            last_error: None,
            runs: 0,
        });
        p.last_started_at = started;
        p.last_finished_at = finished;
        p.last_error = error;
        p.runs += 1;
        let due = g
            .last_flush
            .is_none_or(|at| finished - at >= Self::FLUSH_EVERY_MS);
        if !changed && !due {
            return Vec::new();
        }
        g.last_flush = Some(finished);
        let rows: Vec<SweepRuns> = g.pending.drain().map(|(_, r)| r).collect();
        for r in &rows {
            g.written.insert(r.name, r.last_error.clone());
        }
        rows
    }
}

/// One live API key as [`KeyCache`] holds it.
#[derive(Debug, Clone)]
pub struct CachedKey {
    pub id: String,
    /// SHA-256 (hex) of the key.
    pub hash: String,
    /// When the database last said the key is live.
    pub confirmed_at: i64,
    /// The use stamp last written (`api_keys.last_used_at`).
    pub last_used_at: Option<i64>,
}

/// Live API keys by hash. Only keys the database confirmed are held, so its size is bounded
/// by the number of live keys, not by what clients send.
#[derive(Clone, Default)]
pub struct KeyCache {
    inner: Arc<Mutex<HashMap<String, CachedKey>>>,
}

impl KeyCache {
    /// How long a confirmation holds before the database is asked again.
    pub const CONFIRM_EVERY_MS: i64 = 5_000;

    /// The key with this hash, when confirmed within [`Self::CONFIRM_EVERY_MS`] of `now`.
    pub fn get(&self, hash: &str, now: i64) -> Option<CachedKey> {
        let g = self.inner.lock().unwrap_or_else(|e| e.into_inner());
        g.get(hash)
            .filter(|k| now - k.confirmed_at < Self::CONFIRM_EVERY_MS && k.confirmed_at <= now)
            .cloned()
    }

    pub fn put(&self, key: CachedKey) {
        let mut g = self.inner.lock().unwrap_or_else(|e| e.into_inner());
        g.insert(key.hash.clone(), key);
    }

    /// Forgets a key (revoked, or no longer found).
    pub fn forget_id(&self, id: &str) {
        let mut g = self.inner.lock().unwrap_or_else(|e| e.into_inner());
        g.retain(|_, k| k.id != id);
    }

    pub fn forget_hash(&self, hash: &str) {
        let mut g = self.inner.lock().unwrap_or_else(|e| e.into_inner());
        g.remove(hash);
    }
}

/// How far behind its due time each of the last [`SyncLag::KEPT`] sweep syncs started.
#[derive(Clone, Default)]
pub struct SyncLag {
    inner: Arc<Mutex<std::collections::VecDeque<i64>>>,
}

impl SyncLag {
    pub const KEPT: usize = 4096;

    /// A sync started `lag_ms` after its due time.
    pub fn record(&self, lag_ms: i64) {
        let mut g = self.inner.lock().unwrap_or_else(|e| e.into_inner());
        if g.len() == Self::KEPT {
            g.pop_front();
        }
        g.push_back(lag_ms);
    }

    /// (p50, p95) in milliseconds of the recorded lags; None before any sync.
    pub fn percentiles(&self) -> Option<(i64, i64)> {
        let mut v: Vec<i64> = {
            let g = self.inner.lock().unwrap_or_else(|e| e.into_inner());
            g.iter().copied().collect()
        };
        if v.is_empty() {
            return None;
        }
        v.sort_unstable();
        let at = |q: usize| v[((v.len() - 1) * q).div_ceil(100)];
        Some((at(50), at(95)))
    }
}
