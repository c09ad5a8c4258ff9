//! The sync pipeline: keeps up to `CONVENE_SYNC_CONCURRENCY` syncs in flight (and at most
//! `CONVENE_SYNC_CONCURRENCY_PER_PROVIDER` on one provider), starting the next due calendar
//! the moment a slot frees. Nothing waits for the slowest sync of a batch: a calendar whose
//! provider takes 30 s holds one slot, not the sweep.
//!
//! Two forms share the code. [`drain`] syncs what is due when it starts and returns
//! (`sync_due`: tests, `convene` commands, the benchmarks). [`run_continuously`] is the
//! server's sync loop (`jobs`): it reads the next due calendars from the database whenever its
//! queue runs low, at most every [`REFILL_GAP_MS`] unless the last read was a full page,
//! and otherwise sleeps until the earliest `next_sync_at`, a wake (`state.wake.sync`: a push
//! notification, a reconnect) or a finished sync.

use std::collections::{HashMap, HashSet, VecDeque};
use std::time::Duration;

use tokio::task::JoinSet;

use crate::coord::LockName;
use crate::domain::Platform;
use crate::state::AppState;
use crate::store::{self, StoreError};

use super::{run_locked, SweepReport};

/// Shortest time between two reads of the due list in [`run_continuously`] (a read returns
/// the calendars in flight too, so reading after every finished sync would cost more than
/// the syncs). A due calendar waits at most this long for its read.
pub const REFILL_GAP_MS: i64 = 50;
/// Pause after a failed read of the due list.
const ERROR_PAUSE_MS: i64 = 1000;
/// Longest sleep of the continuous loop with nothing due: it notes its health at least
/// this often, and a clock moved by tests is seen within this time.
pub const IDLE_SLEEP_MS: i64 = 10_000;

/// A calendar waiting for a slot: id and the due time it is late for (None: first sync).
struct Due {
    id: String,
    due_at: Option<i64>,
}

/// One provider's queue and how many of its syncs are in flight.
#[derive(Default)]
struct Lane {
    queue: VecDeque<Due>,
    in_flight: usize,
}

/// Health of the continuous loop for the overview: one note per read of the due list
/// (started, finished, error), in the app clock's milliseconds.
pub type HealthNote = Box<dyn Fn(i64, i64, Option<String>) + Send + Sync>;

struct Pipeline {
    state: AppState,
    lanes: HashMap<Platform, Lane>,
    /// Queued or in flight: a read of the due list skips these.
    known: HashSet<String>,
    tasks: JoinSet<bool>,
    /// What each task syncs, by task id (a panicked task still has its id).
    running: HashMap<tokio::task::Id, (Platform, String)>,
    report: SweepReport,
}

impl Pipeline {
    fn new(state: &AppState) -> Self {
        Pipeline {
            state: state.clone(),
            lanes: HashMap::new(),
            known: HashSet::new(),
            tasks: JoinSet::new(),
            running: HashMap::new(),
            report: SweepReport::default(),
        }
    }

    fn queued(&self) -> usize {
        self.lanes.values().map(|l| l.queue.len()).sum()
    }

    /// Reads up to `want` due calendars not yet queued or in flight. Returns whether the
    /// read filled its page (more may be due).
    async fn refill(&mut self, want: usize) -> Result<bool, StoreError> {
        let now = self.state.now_ms();
        // The calendars in flight are still due in the database: read past them.
        let limit = want + self.known.len();
        let due = self
            .state
            .store
            .read(move |c| store::sync::due_calendars(c, now, limit))
            .await?;
        let rows = due.len();
        for (id, platform, due_at) in due {
            if self.known.insert(id.clone()) {
                let lane = self.lanes.entry(platform).or_default();
                lane.queue.push_back(Due { id, due_at });
            }
        }
        Ok(rows >= limit)
    }

    /// Starts queued syncs while the limits allow.
    fn start_ready(&mut self) {
        let total = self.state.settings.sync_concurrency;
        let per_provider = self.state.settings.sync_concurrency_per_provider;
        // Round-robin over the providers so one long queue does not take every slot.
        loop {
            let mut started = false;
            for (platform, lane) in self.lanes.iter_mut() {
                if self.tasks.len() >= total {
                    return;
                }
                if lane.in_flight >= per_provider {
                    continue;
                }
                let Some(next) = lane.queue.pop_front() else {
                    continue;
                };
                let Some(guard) = self.state.locks.try_lock(LockName::CalendarSync(&next.id))
                else {
                    // Being synced by someone else (a manual sync, an API call).
                    self.known.remove(&next.id);
                    self.report.busy += 1;
                    started = true;
                    continue;
                };
                lane.in_flight += 1;
                started = true;
                let state = self.state.clone();
                let id = next.id.clone();
                let task = self.tasks.spawn(async move {
                    // How late it starts (first syncs have no due time to be late for).
                    let lag_ms = next.due_at.map(|due| (state.now_ms() - due).max(0));
                    if let Some(lag) = lag_ms {
                        state.sync_lag.record(lag);
                    }
                    let result = run_locked(&state, &next.id, lag_ms).await;
                    drop(guard);
                    result.is_ok()
                });
                self.running.insert(task.id(), (*platform, id));
            }
            if !started {
                return;
            }
        }
    }

    /// Counts a finished sync and frees its slot.
    fn finished(&mut self, joined: Result<(tokio::task::Id, bool), tokio::task::JoinError>) {
        let (task, ok) = match joined {
            Ok((task, ok)) => (task, ok),
            // A panicked sync: its calendar keeps its due time and is read again.
            Err(e) => (e.id(), false),
        };
        if let Some((platform, id)) = self.running.remove(&task) {
            if let Some(lane) = self.lanes.get_mut(&platform) {
                lane.in_flight = lane.in_flight.saturating_sub(1);
            }
            self.known.remove(&id);
        }
        if ok {
            self.report.synced += 1;
        } else {
            self.report.failed += 1;
        }
    }
}

/// Syncs every calendar due now (see the module docs) and returns what it did.
pub async fn drain(state: &AppState) -> Result<SweepReport, StoreError> {
    let mut p = Pipeline::new(state);
    p.refill(100_000).await?;
    p.start_ready();
    while let Some(joined) = p.tasks.join_next_with_id().await {
        p.finished(joined);
        p.start_ready();
    }
    Ok(p.report)
}

/// The server's sync loop (see the module docs). Runs until its task is dropped.
pub async fn run_continuously(state: AppState, health: HealthNote) {
    let mut p = Pipeline::new(&state);
    let page = state.settings.sync_concurrency * 2;
    let wake = state.wake.sync.clone();
    // When the due list may hold more than the queue (a fresh wake, a full page read).
    let mut more_due = true;
    let mut last_read = i64::MIN / 2;
    loop {
        let now = state.now_ms();
        let low = p.queued() < state.settings.sync_concurrency;
        if low && more_due && now - last_read >= REFILL_GAP_MS {
            let result = p.refill(page).await;
            last_read = now;
            let finished = state.now_ms();
            match result {
                Ok(full) => {
                    more_due = full;
                    health(now, finished, None);
                }
                Err(e) => {
                    tracing::warn!(error = %e, "cannot read the calendars due for sync");
                    health(now, finished, Some(e.to_string()));
                    // Try again in a second, not at the next gap.
                    last_read = now + ERROR_PAUSE_MS - REFILL_GAP_MS;
                }
            }
        }
        p.start_ready();

        // How long to sleep if nothing finishes and nobody wakes us.
        let sleep_ms = if more_due && p.queued() < state.settings.sync_concurrency {
            (last_read + REFILL_GAP_MS - state.now_ms()).max(1)
        } else if p.queued() > 0 {
            // Queued behind full lanes: a finished sync makes room.
            IDLE_SLEEP_MS
        } else {
            let now = state.now_ms();
            let next = state
                .store
                .read(move |c| store::sync::next_due_between(c, now, now + IDLE_SLEEP_MS))
                .await
                .unwrap_or(None);
            next.map_or(IDLE_SLEEP_MS, |at| (at - now).clamp(1, IDLE_SLEEP_MS))
        };
        let slept_fully = tokio::select! {
            Some(joined) = p.tasks.join_next_with_id(), if !p.tasks.is_empty() => {
                p.finished(joined);
                // Rows that were in flight may be due again (a notification meanwhile).
                more_due = true;
                false
            }
            _ = wake.notified() => {
                more_due = true;
                false
            }
            _ = tokio::time::sleep(Duration::from_millis(sleep_ms as u64)) => true,
        };
        if slept_fully {
            // The earliest due time arrived, or the idle sleep ended: read again.
            more_due = true;
        }
    }
}
