//! Scale benchmark (issue 15, item 7), run by hand: N calendars polled every
//! `CONVENE_SYNC_INTERVAL_SECS` (60) against the simulator with a provider round trip of
//! `BENCH_LATENCY_MS` (200) on every provider request, with the server's own sync loop.
//!
//! `cargo bench --bench scale` (release profile). `BENCH_SIZES` (default "1000,5000"; the
//! issue asks for 1000,5000,20000,50000), `BENCH_SECS` observed after the first sync
//! (default 180: three intervals), `BENCH_EVENTS` per calendar (default 10). Any
//! `CONVENE_SYNC_*` in the environment is passed on.
//!
//! The simulator runs in a child process (this same binary, started with
//! `BENCH_SIM_CHILD=1`), so CPU and RSS are Convene's own. Reports per N: the first sync's
//! duration, sync start lag p50/p95 (how late syncs started after their due time) and
//! whether the instance keeps up (p95 < 10% of the interval), syncs per second, Convene's
//! CPU % of one core (and the simulator's), RSS before the calendars and after, the growth
//! per calendar, database and WAL size, provider requests per calendar-hour.

#[path = "common/mod.rs"]
mod common;

use std::collections::HashMap;
use std::net::TcpListener;
use std::time::{Duration, Instant};

use convene::config::Settings;
use convene::startup::Application;
use convene_sim::{Endpoint, GeneratedAccount};
use std::io::BufRead;

fn env_or(name: &str, default: &str) -> String {
    std::env::var(name).unwrap_or_else(|_| default.to_string())
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

/// glibc's heap statistics (all arenas), for the live heap apart from what the allocator
/// keeps after a peak.
#[repr(C)]
#[derive(Default)]
struct MallInfo2 {
    arena: usize,
    ordblks: usize,
    smblks: usize,
    hblks: usize,
    hblkhd: usize,
    usmblks: usize,
    fsmblks: usize,
    uordblks: usize,
    fordblks: usize,
    keepcost: usize,
}

extern "C" {
    fn mallinfo2() -> MallInfo2;
    fn malloc_trim(pad: usize) -> i32;
}

/// Bytes allocated and not freed (small chunks in the arenas plus mmapped ones), in MiB.
fn live_heap_mib() -> f64 {
    // SAFETY: a plain glibc call that returns a struct by value.
    let m = unsafe { mallinfo2() };
    (m.uordblks + m.hblkhd) as f64 / 1024.0 / 1024.0
}

/// RSS after giving the allocator's free pages back to the system.
fn trimmed_rss_mib() -> f64 {
    // SAFETY: glibc call with no preconditions.
    unsafe { malloc_trim(0) };
    rss_mib()
}

/// User + system CPU seconds of process `pid`.
fn cpu_secs_of(pid: u32) -> f64 {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).unwrap_or_default();
    // Fields after the command name (which may hold spaces): utime is the 12th, stime 13th.
    let rest = stat.rsplit(')').next().unwrap_or("");
    let f: Vec<&str> = rest.split_whitespace().collect();
    let ticks = |i: usize| f.get(i).and_then(|v| v.parse::<f64>().ok()).unwrap_or(0.0);
    (ticks(11) + ticks(12)) / 100.0
}

/// The child: a simulator with `BENCH_N` generated accounts and the latency set; prints one
/// JSON line (base URL, accounts) and serves until its stdin closes (the parent is gone).
fn sim_child() {
    let rt = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .unwrap();
    rt.block_on(async {
        let n: usize = env_or("BENCH_N", "1000").parse().unwrap();
        let events: usize = env_or("BENCH_EVENTS", "10").parse().unwrap();
        let latency = Duration::from_millis(env_or("BENCH_LATENCY_MS", "200").parse().unwrap());
        let sim = convene_sim::start().await;
        let generated = sim.generate(n, events, 42).await;
        sim.set_latency(latency).await;
        let line = serde_json::json!({"base_url": sim.base_url, "accounts": generated});
        println!("{line}");
        tokio::task::spawn_blocking(|| {
            let mut sink = String::new();
            while std::io::stdin().read_line(&mut sink).is_ok_and(|r| r > 0) {}
        })
        .await
        .unwrap();
    });
}

struct SimChild {
    child: std::process::Child,
    base_url: String,
    accounts: Vec<GeneratedAccount>,
}

impl SimChild {
    fn start(n: usize, events: usize, latency: Duration) -> Self {
        let mut child = std::process::Command::new(std::env::current_exe().unwrap())
            .env("BENCH_SIM_CHILD", "1")
            .env("BENCH_N", n.to_string())
            .env("BENCH_EVENTS", events.to_string())
            .env("BENCH_LATENCY_MS", latency.as_millis().to_string())
            .stdin(std::process::Stdio::piped())
            .stdout(std::process::Stdio::piped())
            .spawn()
            .unwrap();
        let mut line = String::new();
        std::io::BufReader::new(child.stdout.take().unwrap())
            .read_line(&mut line)
            .unwrap();
        let v: serde_json::Value = serde_json::from_str(&line).unwrap();
        SimChild {
            base_url: v["base_url"].as_str().unwrap().to_string(),
            accounts: serde_json::from_value(v["accounts"].clone()).unwrap(),
            child,
        }
    }

    /// Provider requests since the last reset: (all kinds, event listings = syncs).
    async fn calls(&self) -> (u64, u64) {
        let v: serde_json::Value = reqwest::get(format!("{}/_sim/counts", self.base_url))
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
        let calls = v["calls"].as_object().unwrap();
        let all = calls.values().filter_map(|c| c.as_u64()).sum();
        let listings = [Endpoint::GoogleEvents, Endpoint::MicrosoftDelta]
            .iter()
            .filter_map(|e| calls.get(&e.name())?.as_u64())
            .sum();
        (all, listings)
    }

    async fn reset_counts(&self) {
        reqwest::Client::new()
            .post(format!("{}/_sim/counts/reset", self.base_url))
            .send()
            .await
            .unwrap();
    }

    fn stop(mut self) {
        // Closing stdin ends the child; wait for it (it is ours).
        drop(self.child.stdin.take());
        let _ = self.child.wait();
    }
}

async fn run(n: usize, events: usize, latency: Duration, secs: u64) {
    let sim = SimChild::start(n, events, latency);
    let dir = tempfile::tempdir().unwrap();
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let port = listener.local_addr().unwrap().port();
    let mut env: HashMap<String, String> = convene_sim::env_vars_for(&sim.base_url)
        .into_iter()
        .collect();
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
    let (concurrency, per_provider) = (
        settings.sync_concurrency,
        settings.sync_concurrency_per_provider,
    );
    let app = Application::build_with_listener(settings, listener)
        .await
        .unwrap();
    let state = app.state();
    tokio::spawn(app.run_until_stopped());
    let (rss_empty, heap_empty) = (trimmed_rss_mib(), live_heap_mib());

    common::insert_generated(&state, &sim.accounts, None).await;

    let t = Instant::now();
    let first = convene::sync::sync_due(&state).await.unwrap();
    let first_secs = t.elapsed().as_secs_f64();

    sim.reset_counts().await;
    let sim_pid = sim.child.id();
    let (cpu0, sim_cpu0, wall0) = (
        cpu_secs_of(std::process::id()),
        cpu_secs_of(sim_pid),
        Instant::now(),
    );
    let jobs = convene::jobs::start(state.clone()).await.unwrap();
    tokio::time::sleep(Duration::from_secs(secs)).await;
    let wall = wall0.elapsed().as_secs_f64();
    let cpu = (cpu_secs_of(std::process::id()) - cpu0) / wall * 100.0;
    let sim_cpu = (cpu_secs_of(sim_pid) - sim_cpu0) / wall * 100.0;
    let (calls, listings) = sim.calls().await;
    jobs.stop().await;
    let syncs_per_sec = listings as f64 / wall;
    let per_cal_hour = calls as f64 / n as f64 / (wall / 3600.0);
    let (p50, p95) = state.sync_lag.percentiles().unwrap_or((0, 0));
    let budget = interval.as_millis() as i64 / 10;
    let db = dir.path().join("convene.db");
    let wal = dir.path().join("convene.db-wal");
    let rss = rss_mib();
    // Idle: the syncs in flight have finished.
    tokio::time::sleep(Duration::from_secs(2)).await;
    let (rss_trimmed, heap) = (trimmed_rss_mib(), live_heap_mib());
    println!(
        "N={n} (concurrency {concurrency}, {per_provider} per provider): first sync {first_secs:.1} s \
         ({} ok, {} failed); {syncs_per_sec:.0} syncs/s; lag p50 {:.2} s p95 {:.2} s \
         ({:.1}% of the {} s interval) -> {}; CPU {cpu:.0}% of one core (simulator {sim_cpu:.0}%); \
         RSS {rss_empty:.0} MiB empty, {rss:.0} MiB after ({:.1} KiB per calendar), \
         {rss_trimmed:.0} MiB once the allocator gave back its free pages; live heap \
         {heap_empty:.1} MiB empty, {heap:.1} MiB idle ({:.2} KiB per calendar); \
         DB {:.1} MiB + WAL {:.1} MiB; {per_cal_hour:.1} provider requests per calendar-hour",
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
        (rss - rss_empty) * 1024.0 / n as f64,
        (heap - heap_empty) * 1024.0 / n as f64,
        size_mib(&db),
        size_mib(&wal),
    );
    drop(state);
    sim.stop();
}

fn main() {
    if std::env::var_os("BENCH_SIM_CHILD").is_some() {
        return sim_child();
    }
    tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .unwrap()
        .block_on(bench());
}

async fn bench() {
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
