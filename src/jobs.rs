//! Background sweeps.
//!
//! tokio-cron-scheduler only *triggers*; the database says what is due (`next_attempt_at`,
//! `next_sync_at`, ...), so a missed tick, a restart or a crash loses nothing. A sweep never
//! overlaps itself (a per-sweep lock taken with `try_lock`), and each sweep is a plain async
//! function that tests call directly. Sweeps with a waker also run as soon as it is notified
//! (e.g. a webhook was enqueued), so first attempts do not wait for the next tick.

use std::sync::Arc;
use std::time::Duration;

use futures_util::future::BoxFuture;
use tokio::sync::Notify;
use tokio_cron_scheduler::{Job, JobScheduler};

use crate::state::{AppState, Wakers};
use crate::store;

pub type SweepFn = fn(AppState) -> BoxFuture<'static, anyhow::Result<()>>;
/// A sweep that runs as one long loop instead of on a tick; it notes its health itself.
pub type LoopFn = fn(AppState, crate::sync::pipeline::HealthNote) -> BoxFuture<'static, ()>;

pub struct Sweep {
    pub name: &'static str,
    /// The tick; for a loop, how often it notes its health at least (the overview flags a
    /// sweep silent for much longer).
    pub every: Duration,
    /// One run (the tick's, and tests').
    pub run: SweepFn,
    pub waker: Option<fn(&Wakers) -> Arc<Notify>>,
    /// When set, the server runs this loop instead of ticking `run`.
    pub continuous: Option<LoopFn>,
}

/// Every periodic sweep of the server.
pub fn all() -> Vec<Sweep> {
    vec![
        Sweep {
            name: "prune_admin_sessions",
            every: Duration::from_secs(3600),
            run: |s| Box::pin(async move { prune_admin_sessions(&s).await.map(|_| ()) }),
            waker: None,
            continuous: None,
        },
        Sweep {
            name: "sync_events",
            // The loop notes its health at least this often.
            every: Duration::from_millis(crate::sync::pipeline::IDLE_SLEEP_MS as u64),
            run: |s| Box::pin(async move { crate::sync::sync_due(&s).await.map(|_| ()) }),
            waker: Some(|w| w.sync.clone()),
            // Syncs start as slots free, not in batches (`sync::pipeline`).
            continuous: Some(|s, health| {
                Box::pin(crate::sync::pipeline::run_continuously(s, health))
            }),
        },
        // Daily liveness refresh of every calendar token, and retries after failures.
        Sweep {
            name: "refresh_calendar_tokens",
            every: Duration::from_secs(60),
            run: |s| {
                Box::pin(async move { crate::calendars::tokens::refresh_due(&s).await.map(|_| ()) })
            },
            waker: None,
            continuous: None,
        },
        Sweep {
            name: "deliver_webhooks",
            every: Duration::from_secs(1),
            run: |s| {
                Box::pin(async move { crate::webhooks::deliver::deliver_due(&s).await.map(|_| ()) })
            },
            waker: Some(|w| w.webhooks.clone()),
            continuous: None,
        },
        Sweep {
            name: "zoom_token_refresh",
            every: Duration::from_secs(3600),
            run: |s| {
                Box::pin(async move { crate::zoom::sweep::refresh_stale(&s).await.map(|_| ()) })
            },
            waker: None,
            continuous: None,
        },
        // Hourly Zoom meeting sync per credential (the database says which are due).
        Sweep {
            name: "zoom_meeting_sync",
            every: Duration::from_secs(60),
            run: |s| Box::pin(async move { crate::zoom::meetings::sync_due(&s).await.map(|_| ()) }),
            waker: None,
            continuous: None,
        },
        // Push channels and subscriptions: create, renew, replace, stop (push.md).
        Sweep {
            name: "push",
            every: Duration::from_secs(60),
            run: |s| {
                Box::pin(async move { crate::push::renew::maintain_due(&s).await.map(|_| ()) })
            },
            waker: Some(|w| w.push.clone()),
            continuous: None,
        },
        // Deletes what `CONVENE_RETENTION_DAYS` no longer keeps, and shrinks the file.
        Sweep {
            name: "retention",
            every: Duration::from_secs(24 * 3600),
            run: |s| Box::pin(async move { crate::retention::run(&s).await.map(|_| ()) }),
            waker: None,
            continuous: None,
        },
        Sweep {
            name: "bots",
            every: Duration::from_secs(30),
            run: |s| Box::pin(async move { crate::scheduling::dispatch::bot_sweep(&s).await }),
            waker: Some(|w| w.bots.clone()),
            continuous: None,
        },
    ]
}

/// Runs one sweep unless it is already running; records its health for the overview page.
/// Returns false when skipped because a previous run was still going.
pub async fn run_sweep(state: &AppState, sweep: &Sweep) -> bool {
    let Some(_guard) = state
        .locks
        .try_lock(crate::coord::LockName::Sweep(sweep.name))
    else {
        return false;
    };
    let started = state.now_ms();
    let result = (sweep.run)(state.clone()).await;
    let finished = state.now_ms();
    let error = result.as_ref().err().map(|e| format!("{e:#}"));
    if let Some(e) = &error {
        tracing::warn!(sweep = sweep.name, error = %e, "sweep failed");
    }
    // Written on change, else at most once a minute for all sweeps (`coord::SweepHealth`).
    let rows = state.sweeps.note(sweep.name, started, finished, error);
    write_health(state, rows).await;
    true
}

async fn write_health(state: &AppState, rows: Vec<crate::coord::SweepRuns>) {
    if rows.is_empty() {
        return;
    }
    let _ = state
        .store
        .write(move |tx| {
            rows.iter().try_for_each(|r| {
                store::jobs::record(
                    tx,
                    r.name,
                    r.last_started_at,
                    r.last_finished_at,
                    r.last_error.as_deref(),
                    r.runs,
                )
            })
        })
        .await
        .map_err(|e: store::StoreError| tracing::warn!(error = %e, "cannot record sweep run"));
}

/// Starts the scheduler and the waker loops; the returned handle stops them.
pub async fn start(state: AppState) -> anyhow::Result<JobsHandle> {
    // Refreshes and syncs that came due while the server was down: spread, not a burst.
    crate::calendars::tokens::stagger_overdue(&state).await?;
    crate::sync::stagger::stagger_overdue(&state).await?;
    let scheduler = JobScheduler::new().await?;
    let mut tasks = Vec::new();
    for sweep in all() {
        if let Some(run_loop) = sweep.continuous {
            let st = state.clone();
            let name = sweep.name;
            let health: crate::sync::pipeline::HealthNote =
                Box::new(move |started, finished, error| {
                    let rows = st.sweeps.note(name, started, finished, error);
                    if !rows.is_empty() {
                        let st = st.clone();
                        tokio::spawn(async move { write_health(&st, rows).await });
                    }
                });
            tasks.push(tokio::spawn(run_loop(state.clone(), health)));
            continue;
        }
        let sweep = Arc::new(sweep);
        let st = state.clone();
        let sw = sweep.clone();
        scheduler
            .add(Job::new_repeated_async(sweep.every, move |_id, _l| {
                let st = st.clone();
                let sw = sw.clone();
                Box::pin(async move {
                    run_sweep(&st, &sw).await;
                })
            })?)
            .await?;
        if let Some(waker) = sweep.waker {
            let notify = waker(&state.wake);
            let st = state.clone();
            let sw = sweep.clone();
            tasks.push(tokio::spawn(async move {
                loop {
                    notify.notified().await;
                    // A run already in progress may miss this change; run until one took it.
                    while !run_sweep(&st, &sw).await {
                        tokio::time::sleep(Duration::from_millis(50)).await;
                    }
                }
            }));
        }
        // Run each sweep once at start: work that came due while the server was down.
        let st = state.clone();
        tasks.push(tokio::spawn(async move {
            run_sweep(&st, &sweep).await;
        }));
    }
    scheduler.start().await?;
    Ok(JobsHandle { scheduler, tasks })
}

pub struct JobsHandle {
    scheduler: JobScheduler,
    tasks: Vec<tokio::task::JoinHandle<()>>,
}

impl JobsHandle {
    pub async fn stop(mut self) {
        for t in &self.tasks {
            t.abort();
        }
        let _ = self.scheduler.shutdown().await;
    }
}

/// Deletes expired admin sessions.
pub async fn prune_admin_sessions(state: &AppState) -> anyhow::Result<usize> {
    let now = state.now_ms();
    Ok(state
        .store
        .write(move |tx| store::admin::prune_sessions(tx, now))
        .await?)
}
