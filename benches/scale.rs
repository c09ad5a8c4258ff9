//! Scale benchmark (issue 15, item 7), run by hand: N calendars polled every
//! `CONVENE_SYNC_INTERVAL_SECS` (60) against the simulator with a provider round trip of
//! `BENCH_LATENCY_MS` (200) on every provider request, with the real sweeps running.
//!
//! `cargo bench --bench scale` (release profile). `BENCH_SIZES` (default "1000,5000"; the
//! issue asks for 1000,5000,20000,50000), `BENCH_SECS` observed after the first sync
//! (default 180: three intervals), `BENCH_EVENTS` per calendar (default 10). Any
//! `CONVENE_SYNC_CONCURRENCY*` in the environment is passed on.
//!
//! Reports per N: the first sync's duration, sync start lag p50/p95 (how late syncs started
//! after their due time) and whether the instance keeps up (p95 < 10% of the interval),
//! CPU % of one core and RSS (of this process, which also runs the simulator with its
//! generated data), database and WAL size, provider requests per calendar-hour.

#[path = "common/mod.rs"]
mod common;

use std::collections::HashMap;
use std::net::TcpListener;
use std::time::{Duration, Instant};

use convene::config::Settings;
use convene::startup::Application;
use convene_sim::Endpoint;

fn env_or(name: &str, default: &str) -> String {
    std::env::var(name).unwrap_or_else(|_| default.to_string())
}

/// User + system CPU seconds of this process.
fn cpu_secs() -> f64 {
    let stat = std::fs::read_to_string("/proc/self/stat").unwrap_or_default();
    // Fields after the command name (which may hold spaces): utime is the 12th, stime 13th.
    let rest = stat.rsplit(')').next().unwrap_or("");
    let f: Vec<&str> = rest.split_whitespace().collect();
    let ticks = |i: usize| f.get(i).and_then(|v| v.parse::<f64>().ok()).unwrap_or(0.0);
    (ticks(11) + ticks(12)) / 100.0
}

fn rss_mib() -> f64 {
    std::fs::read_to_string("/proc/self/status")
        .unwrap_or_default()
        .lines()
        .find(|l| l.starts_with("VmRSS:"))
        .and_then(|l| l.split_whitespace().nth(1)?.parse::<f64>().ok())
        .unwrap_or(0.0)
        / 1024.0
}

fn size_mib(path: &std::path::Path) -> f64 {
    std::fs::metadata(path).map_or(0.0, |m| m.len() as f64 / 1024.0 / 1024.0)
}

async fn run(n: usize, events: usize, latency: Duration, secs: u64) {
    let sim = convene_sim::start().await;
    let generated = sim.generate(n, events, 42).await;
    sim.set_latency(latency).await;
    let dir = tempfile::tempdir().unwrap();
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let port = listener.local_addr().unwrap().port();
    let mut env: HashMap<String, String> = sim.env_vars().into_iter().collect();
    for (k, v) in std::env::vars().filter(|(k, _)| k.starts_with("CONVENE_SYNC_")) {
        env.insert(k, v);
    }
    env.insert("CONVENE_LISTEN".into(), format!("127.0.0.1:{port}"));
    env.insert(
        "CONVENE_PUBLIC_URL".into(),
        format!("http://127.0.0.1:{port}"),
    );
    env.insert(
        "CONVENE_DATA_DIR".into(),
        dir.path().to_string_lossy().into_owned(),
    );
    env.insert("CONVENE_LOG".into(), "error".into());
    env.insert("CONVENE_PUSH".into(), "off".into());
    let settings = Settings::from_sources(env, None).unwrap();
    let interval = settings.sync_interval;
    let app = Application::build_with_listener(settings, listener)
        .await
        .unwrap();
    let state = app.state();
    tokio::spawn(app.run_until_stopped());

    common::insert_generated(&state, &generated, None).await;

    let t = Instant::now();
    let first = convene::sync::sync_due(&state).await.unwrap();
    let first_secs = t.elapsed().as_secs_f64();

    sim.reset_counts().await;
    let (cpu0, wall0) = (cpu_secs(), Instant::now());
    let jobs = convene::jobs::start(state.clone()).await.unwrap();
    tokio::time::sleep(Duration::from_secs(secs)).await;
    let wall = wall0.elapsed().as_secs_f64();
    let cpu = (cpu_secs() - cpu0) / wall * 100.0;
    jobs.stop().await;
    let requests = sim.call_count(Endpoint::GoogleEvents).await
        + sim.call_count(Endpoint::MicrosoftDelta).await
        + sim.call_count(Endpoint::GoogleToken).await
        + sim.call_count(Endpoint::MicrosoftToken).await;
    let per_cal_hour = requests as f64 / n as f64 / (wall / 3600.0);
    let (p50, p95) = state.sync_lag.percentiles().unwrap_or((0, 0));
    let budget = interval.as_millis() as i64 / 10;
    let db = dir.path().join("convene.db");
    let wal = dir.path().join("convene.db-wal");
    println!(
        "N={n}: first sync {first_secs:.1} s ({} ok, {} failed); lag p50 {:.2} s p95 {:.2} s \
         ({:.1}% of the {} s interval) -> {}; CPU {cpu:.0}% of one core; RSS {:.0} MiB \
         ({:.1} KiB per calendar, simulator included); DB {:.1} MiB + WAL {:.1} MiB; \
         {per_cal_hour:.1} provider requests per calendar-hour",
        first.synced,
        first.failed,
        p50 as f64 / 1000.0,
        p95 as f64 / 1000.0,
        p95 as f64 / interval.as_millis() as f64 * 100.0,
        interval.as_secs(),
        if p95 < budget {
            "keeps up"
        } else {
            "FALLS BEHIND"
        },
        rss_mib(),
        rss_mib() * 1024.0 / n as f64,
        size_mib(&db),
        size_mib(&wal),
    );
}

#[tokio::main(flavor = "multi_thread")]
async fn main() {
    let sizes: Vec<usize> = env_or("BENCH_SIZES", "1000,5000")
        .split(',')
        .filter_map(|s| s.trim().parse().ok())
        .collect();
    let latency = Duration::from_millis(env_or("BENCH_LATENCY_MS", "200").parse().unwrap());
    let secs: u64 = env_or("BENCH_SECS", "180").parse().unwrap();
    let events: usize = env_or("BENCH_EVENTS", "10").parse().unwrap();
    println!(
        "scale benchmark: sizes {sizes:?}, provider latency {latency:?}, {secs} s observed, \
         {events} events per calendar"
    );
    for n in sizes {
        run(n, events, latency, secs).await;
    }
}
