//! Push benchmark (not a test): `cargo bench --bench push`.
//! `BENCH_CALENDARS` (default 200), `BENCH_CHANGES` (100), `BENCH_SPACING_MS` (500) and
//! `BENCH_PUSH_IDLE_HOURS` (168) override the sizes.
//!
//! The in-process simulator generates the calendars (Google and Microsoft alternating);
//! Convene runs for real (HTTP server on loopback, background sweeps), its webhooks going to
//! a local receiver. Twice: with push (`CONVENE_PUSH=on`) and with polling only
//! (`CONVENE_PUSH=off`, `CONVENE_SYNC_INTERVAL_SECS=60`).
//!
//! (a) Latency: one new event on each of `BENCH_CHANGES` distinct calendars, one every
//!     `BENCH_SPACING_MS`; latency = the `calendar.sync_events` webhook's arrival at the
//!     receiver minus the moment the simulator made the change. p50 / p95 / max.
//! (b) Idle cost: with the sweeps stopped, the app and simulator clocks are moved forward in
//!     steps and the sweeps (sync, push, token refresh) run after each step; every provider
//!     request the simulator receives counts (event listings, token refreshes, watch / stop /
//!     subscription calls), per calendar per hour. Polling: one simulated hour in 10 s
//!     steps; push: `BENCH_PUSH_IDLE_HOURS` (a week by default, so channel renewals, daily
//!     token refreshes and the hourly safety polls all count) in 60 s steps.

#[path = "common/mod.rs"]
mod common;

use std::collections::HashMap;
use std::net::TcpListener;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use actix_web::{web, App, HttpResponse, HttpServer};
use convene::config::Settings;
use convene::domain::PushState;
use convene::startup::Application;
use convene::state::AppState;
use convene_sim::{Endpoint, EventSpec, GeneratedAccount, SimHandle};

type Arrivals = Arc<Mutex<HashMap<String, Vec<Instant>>>>;

/// A webhook receiver answering 200, recording when each calendar's webhook arrived.
fn start_receiver() -> (String, Arrivals) {
    let arrivals: Arrivals = Arc::default();
    let a = arrivals.clone();
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let url = format!(
        "http://127.0.0.1:{}/hook",
        listener.local_addr().unwrap().port()
    );
    let server = HttpServer::new(move || {
        let a = a.clone();
        App::new().default_service(web::to(move |body: web::Bytes| {
            let a = a.clone();
            async move {
                let at = Instant::now();
                if let Ok(v) = serde_json::from_slice::<serde_json::Value>(&body) {
                    if v["event"] == "calendar.sync_events" {
                        if let Some(id) = v["data"]["calendar_id"].as_str() {
                            a.lock()
                                .unwrap()
                                .entry(id.to_string())
                                .or_default()
                                .push(at);
                        }
                    }
                }
                HttpResponse::Ok().finish()
            }
        }))
    })
    .workers(2)
    .disable_signals()
    .listen(listener)
    .unwrap()
    .run();
    tokio::spawn(server);
    (url, arrivals)
}

struct Run {
    state: AppState,
    jobs: Option<convene::jobs::JobsHandle>,
    ids: Vec<String>,
    _dir: tempfile::TempDir,
}

async fn start_app(sim: &SimHandle, push: bool, generated: &[GeneratedAccount], hook: &str) -> Run {
    let dir = tempfile::tempdir().unwrap();
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let port = listener.local_addr().unwrap().port();
    let mut env: HashMap<String, String> = sim.env_vars().into_iter().collect();
    for (k, v) in [
        ("CONVENE_LISTEN", format!("127.0.0.1:{port}")),
        ("CONVENE_PUBLIC_URL", format!("http://127.0.0.1:{port}")),
        (
            "CONVENE_DATA_DIR",
            dir.path().to_string_lossy().into_owned(),
        ),
        ("CONVENE_LOG", "error".to_string()),
        ("CONVENE_PUSH", if push { "on" } else { "off" }.to_string()),
        ("CONVENE_SYNC_INTERVAL_SECS", "60".to_string()),
        ("CONVENE_PUSH_POLL_SECS", "3600".to_string()),
    ] {
        env.insert(k.to_string(), v);
    }
    let settings = Settings::from_sources(env, None).unwrap();
    let app = Application::build_with_listener(settings, listener)
        .await
        .unwrap();
    let state = app.state();
    tokio::spawn(app.run_until_stopped());
    let ids = common::insert_generated(&state, generated, Some(hook)).await;
    let jobs = convene::jobs::start(state.clone()).await.unwrap();
    Run {
        state,
        jobs: Some(jobs),
        ids,
        _dir: dir,
    }
}

/// Waits until every calendar synced once and, with push, has a live subscription.
async fn settle(run: &Run, push: bool) {
    let n = run.ids.len() as i64;
    let started = Instant::now();
    loop {
        let now = run.state.now_ms();
        let (synced, live) = run
            .state
            .store
            .read(move |c| {
                let synced: i64 = c.query_row(
                    "SELECT COUNT(*) FROM calendars WHERE last_sync_at IS NOT NULL",
                    [],
                    |r| r.get(0),
                )?;
                let live = convene::store::push::count_by_state(c, true, now)?
                    .into_iter()
                    .find(|(s, _)| *s == PushState::Live)
                    .map_or(0, |(_, n)| n);
                Ok::<_, convene::store::StoreError>((synced, live))
            })
            .await
            .unwrap();
        if synced == n && (!push || live == n) {
            // Calendars connected at different moments poll at different phases: spread
            // the next polls over one interval, as in a deployment that grew over time.
            let interval = run.state.settings.sync_interval.as_millis() as i64;
            run.state
                .store
                .write(move |tx| {
                    tx.execute(
                        "UPDATE calendars SET next_sync_at = ?1 + (ABS(RANDOM()) % ?2)",
                        [now, interval],
                    )?;
                    Ok::<_, convene::store::StoreError>(())
                })
                .await
                .unwrap();
            println!(
                "  {} calendars synced{} in {:.1?}",
                n,
                if push { " and subscribed" } else { "" },
                started.elapsed()
            );
            return;
        }
        assert!(
            started.elapsed() < Duration::from_secs(300),
            "not settled: {synced} synced, {live} live"
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}

fn percentile(sorted: &[f64], p: f64) -> f64 {
    let i = ((sorted.len() as f64 - 1.0) * p).round() as usize;
    sorted[i.min(sorted.len() - 1)]
}

struct Latency {
    p50: f64,
    p95: f64,
    max: f64,
}

/// (a): one change on each of `changes` calendars; seconds from change to webhook.
async fn latency(
    sim: &SimHandle,
    run: &Run,
    generated: &[GeneratedAccount],
    arrivals: &Arrivals,
    changes: usize,
    spacing: Duration,
) -> Latency {
    arrivals.lock().unwrap().clear();
    let step = (run.ids.len() / changes).max(1);
    let start = chrono::Utc::now() + chrono::Duration::hours(3);
    let mut made: Vec<(String, Instant)> = Vec::new();
    for i in 0..changes {
        let k = (i * step) % run.ids.len();
        let at = Instant::now();
        sim.create_event(
            &generated[k].account_id,
            EventSpec::new(
                format!("Change {i}"),
                start,
                start + chrono::Duration::minutes(30),
            ),
        )
        .await;
        made.push((run.ids[k].clone(), at));
        tokio::time::sleep(spacing).await;
    }
    let deadline = Instant::now() + Duration::from_secs(240);
    let mut seconds = loop {
        let got: Vec<Option<f64>> = {
            let a = arrivals.lock().unwrap();
            made.iter()
                .map(|(id, at)| {
                    a.get(id)
                        .and_then(|v| v.iter().find(|t| *t >= at))
                        .map(|t| t.duration_since(*at).as_secs_f64())
                })
                .collect()
        };
        if got.iter().all(Option::is_some) {
            break got.into_iter().map(Option::unwrap).collect::<Vec<f64>>();
        }
        assert!(
            Instant::now() < deadline,
            "{} changes never arrived",
            got.iter().filter(|g| g.is_none()).count()
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    };
    seconds.sort_by(|a, b| a.partial_cmp(b).unwrap());
    if std::env::var("BENCH_VERBOSE").is_ok() {
        println!("  latencies (s): {seconds:.3?}");
    }
    Latency {
        p50: percentile(&seconds, 0.5),
        p95: percentile(&seconds, 0.95),
        max: *seconds.last().unwrap(),
    }
}

struct Idle {
    per_hour: f64,
    listings_per_hour: f64,
    by_endpoint: Vec<(Endpoint, u64)>,
}

/// (b): provider requests per calendar-hour with the clocks moved `hours` in `step`s.
async fn idle(sim: &SimHandle, run: &mut Run, hours: u64, step: Duration) -> Idle {
    if let Some(j) = run.jobs.take() {
        j.stop().await;
    }
    let state = &run.state;
    // Let everything in flight finish, then count from zero.
    convene::sync::sync_due(state).await.unwrap();
    convene::push::renew::maintain_due(state).await.unwrap();
    sim.push_flush().await;
    sim.set_now(Some(chrono::Utc::now())).await;
    sim.reset_counts().await;
    let steps = hours * 3600 / step.as_secs();
    let mut failed = 0;
    for _ in 0..steps {
        state.clock.advance(step);
        sim.set_now(Some(state.clock.now())).await;
        failed += convene::sync::sync_due(state).await.unwrap().failed;
        failed += convene::push::renew::maintain_due(state)
            .await
            .unwrap()
            .failed;
        convene::calendars::tokens::refresh_due(state)
            .await
            .unwrap();
    }
    sim.push_flush().await;
    assert_eq!(failed, 0, "failures while idle");
    let mut by_endpoint = Vec::new();
    for e in Endpoint::ALL {
        let n = sim.call_count(e).await;
        if n > 0 {
            by_endpoint.push((e, n));
        }
    }
    let total: u64 = by_endpoint.iter().map(|(_, n)| n).sum();
    let listings: u64 = by_endpoint
        .iter()
        .filter(|(e, _)| matches!(e, Endpoint::GoogleEvents | Endpoint::MicrosoftDelta))
        .map(|(_, n)| n)
        .sum();
    let cal_hours = (run.ids.len() as u64 * hours) as f64;
    sim.set_now(None).await;
    Idle {
        per_hour: total as f64 / cal_hours,
        listings_per_hour: listings as f64 / cal_hours,
        by_endpoint,
    }
}

fn main() -> anyhow::Result<()> {
    let rt = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()?;
    rt.block_on(run())
}

async fn run() -> anyhow::Result<()> {
    let calendars = common::env_usize("BENCH_CALENDARS", 200);
    let changes = common::env_usize("BENCH_CHANGES", 100).min(calendars);
    let spacing = Duration::from_millis(common::env_usize("BENCH_SPACING_MS", 500) as u64);
    let push_hours = common::env_usize("BENCH_PUSH_IDLE_HOURS", 168) as u64;
    println!(
        "push benchmark: {calendars} calendars, {changes} changes {} ms apart",
        spacing.as_millis()
    );
    let (hook, arrivals) = start_receiver();
    let mut results = Vec::new();
    for push in [true, false] {
        let label = if push {
            "push (CONVENE_PUSH=on, safety poll 3600 s)"
        } else {
            "polling (CONVENE_PUSH=off, every 60 s)"
        };
        println!("{label}");
        // A fresh simulator per mode, so nothing of one run reaches the other.
        let sim = convene_sim::start().await;
        let generated = sim.generate(calendars, 10, 42).await;
        let mut run = start_app(&sim, push, &generated, &hook).await;
        settle(&run, push).await;
        let lat = latency(&sim, &run, &generated, &arrivals, changes, spacing).await;
        println!(
            "  latency change → webhook: p50 {:.3} s, p95 {:.3} s, max {:.3} s",
            lat.p50, lat.p95, lat.max
        );
        let (hours, step) = if push {
            (push_hours, Duration::from_secs(60))
        } else {
            (1, Duration::from_secs(10))
        };
        let t = Instant::now();
        let idle = idle(&sim, &mut run, hours, step).await;
        println!(
            "  idle: {:.2} provider requests per calendar-hour ({:.2} event listings) over \
             {hours} simulated h (simulated in {:.1?})",
            idle.per_hour,
            idle.listings_per_hour,
            t.elapsed()
        );
        for (e, n) in &idle.by_endpoint {
            println!("    {:<32} {n}", e.name());
        }
        results.push((lat, idle));
    }
    let (push, poll) = (&results[0], &results[1]);
    println!("ratios (polling / push):");
    println!(
        "  latency p50 {:.0}×, p95 {:.0}×, max {:.0}×",
        poll.0.p50 / push.0.p50,
        poll.0.p95 / push.0.p95,
        poll.0.max / push.0.max
    );
    println!(
        "  idle provider requests {:.1}× fewer with push (event listings alone {:.1}×)",
        poll.1.per_hour / push.1.per_hour,
        poll.1.listings_per_hour / push.1.listings_per_hour
    );
    Ok(())
}
