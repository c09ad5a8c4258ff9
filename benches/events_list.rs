//! The events list against a bare handler that returns a pre-serialized body of the same
//! size, in the same process and run (issue 15, item 4: target ≥ 0.3x, p99 ≤ 50 ms at 32
//! connections).
//!
//! Both are served by the application's own server, under the same middleware, and loaded
//! by the same client (same headers, connections and duration).
//!
//! `cargo bench --bench events_list` (release profile). `BENCH_EVENTS` sets the number of
//! stored events (default 100000; the figure is at 1000000), `BENCH_SECS` how long
//! each handler is loaded (default 10), in `BENCH_ROUNDS` alternating rounds (default 2),
//! `BENCH_CONNECTIONS` the clients in flight (32).
//! Events are synced from the simulator once (20 calendars x 50 events), then copied with
//! new ids up to `BENCH_EVENTS` (same sizes of `raw`, spread over a year); the copy drops
//! the table's secondary indexes and builds them again afterwards (the same schema, built
//! in seconds rather than by a million random inserts), and is not timed.

#[path = "common/mod.rs"]
mod common;

use std::collections::HashMap;
use std::net::TcpListener;
use std::sync::OnceLock;
use std::time::{Duration, Instant};

use actix_web::{web, HttpResponse};
use convene::config::Settings;
use convene::startup::Application;

const EVENT_COLUMNS: &str = "calendar_id, ical_uid, start_time, end_time,
    is_all_day, title, organizer_email, attendees, is_recurring, is_hosted_by_me, self_response,
    meeting_platform, meeting_url, is_deleted, raw, content_hash, created_at, updated_at";

/// The bare handler's body: a copy of an events page, set once the page has been read.
static BARE: OnceLock<web::Bytes> = OnceLock::new();

/// The bare handler, mounted on the application's server beside its routes.
fn bare_route(cfg: &mut web::ServiceConfig) {
    cfg.route(
        "/bench/bare/",
        web::get().to(|| async {
            HttpResponse::Ok()
                .content_type("application/json")
                .body(BARE.get().cloned().unwrap_or_default())
        }),
    );
}

/// The latencies of the requests to `url` made by `conns` clients during `time`, and the
/// size of an answer.
async fn load(url: &str, auth: &str, conns: usize, time: Duration) -> (Vec<Duration>, usize) {
    let client = reqwest::Client::builder()
        .pool_max_idle_per_host(conns)
        .build()
        .unwrap();
    let end = Instant::now() + time;
    let mut tasks = Vec::new();
    for _ in 0..conns {
        let (client, url, auth) = (client.clone(), url.to_string(), auth.to_string());
        tasks.push(tokio::spawn(async move {
            let mut lat = Vec::new();
            let mut bytes = 0;
            while Instant::now() < end {
                let t = Instant::now();
                let res = client
                    .get(&url)
                    .header("Authorization", &auth)
                    .send()
                    .await
                    .unwrap();
                assert!(res.status().is_success(), "{}", res.status());
                bytes = res.bytes().await.unwrap().len();
                lat.push(t.elapsed());
            }
            (lat, bytes)
        }));
    }
    let mut all = Vec::new();
    let mut size = 0;
    for t in tasks {
        let (lat, bytes) = t.await.unwrap();
        all.extend(lat);
        size = bytes;
    }
    (all, size)
}

/// This process's CPU time (user + system) so far, in seconds.
fn process_cpu_secs() -> f64 {
    let stat = std::fs::read_to_string("/proc/self/stat").unwrap_or_default();
    // Fields after the command name (which ends at the last ')'): utime and stime are the
    // 12th and 13th, in clock ticks (100 per second on Linux).
    let rest = stat.rsplit_once(')').map_or("", |(_, r)| r);
    let f: Vec<f64> = rest
        .split_whitespace()
        .map(|v| v.parse().unwrap_or(0.0))
        .collect();
    f.get(11)
        .zip(f.get(12))
        .map_or(0.0, |(u, s)| (u + s) / 100.0)
}

/// Requests/s and p99 of latencies gathered over `secs`.
fn summary(mut all: Vec<Duration>, secs: u64) -> (f64, Duration) {
    all.sort();
    let p99 = all[(all.len() * 99 / 100).min(all.len() - 1)];
    (all.len() as f64 / secs as f64, p99)
}

#[tokio::main(flavor = "multi_thread")]
async fn main() {
    let events = common::env_usize("BENCH_EVENTS", 100_000);
    let secs = common::env_usize("BENCH_SECS", 10) as u64;
    let conns = common::env_usize("BENCH_CONNECTIONS", 32);
    let sim = convene_sim::start().await;
    let generated = sim.generate(20, 50, 42).await;
    let dir = tempfile::tempdir().unwrap();
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let port = listener.local_addr().unwrap().port();
    let mut env: HashMap<String, String> = sim.env_vars().into_iter().collect();
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
    let settings = Settings::from_sources(env, None).unwrap();
    let app = Application::build_with_extra_routes(settings, listener, bare_route)
        .await
        .unwrap();
    let state = app.state();
    tokio::spawn(app.run_until_stopped());

    common::insert_generated(&state, &generated, None).await;
    convene::sync::sync_due(&state).await.unwrap();

    // Copies of the synced events with new ids, up to `events` rows (not timed).
    let db = dir.path().join("convene.db");
    let t = Instant::now();
    tokio::task::spawn_blocking(move || {
        let mut c = rusqlite::Connection::open(db).unwrap();
        c.execute_batch("PRAGMA busy_timeout = 10000; PRAGMA cache_size = -1048576;")
            .unwrap();
        let (seed, last): (i64, i64) = c
            .query_row(
                "SELECT COUNT(*), MAX(rowid) FROM calendar_events",
                [],
                |r| Ok((r.get(0)?, r.get(1)?)),
            )
            .unwrap();
        let copies = (events as i64 / seed.max(1)).max(1);
        let tx = c.transaction().unwrap();
        let indexes: Vec<(String, String)> = tx
            .prepare(
                "SELECT name, sql FROM sqlite_master
                 WHERE type = 'index' AND tbl_name = 'calendar_events' AND sql IS NOT NULL",
            )
            .unwrap()
            .query_map([], |r| Ok((r.get(0)?, r.get(1)?)))
            .unwrap()
            .collect::<Result<_, _>>()
            .unwrap();
        for (name, _) in &indexes {
            tx.execute_batch(&format!("DROP INDEX \"{name}\"")).unwrap();
        }
        for n in 1..copies {
            tx.execute(
                &format!(
                    "INSERT INTO calendar_events (id, platform_id, {EVENT_COLUMNS})
                     SELECT lower(hex(randomblob(16))), platform_id || '-' || ?1, {}
                     FROM calendar_events WHERE rowid <= ?2",
                    EVENT_COLUMNS.replace(
                        "start_time, end_time",
                        "start_time + ?1 * 60000, end_time + ?1 * 60000"
                    )
                ),
                [n, last],
            )
            .unwrap();
        }
        for (_, sql) in &indexes {
            tx.execute_batch(sql).unwrap();
        }
        tx.commit().unwrap();
        c.query_row("PRAGMA wal_checkpoint(TRUNCATE)", [], |_| Ok(()))
            .unwrap();
    })
    .await
    .unwrap();
    let total: i64 = state
        .store
        .read(|c| {
            c.query_row("SELECT COUNT(*) FROM calendar_events", [], |r| r.get(0))
                .map_err(convene::store::StoreError::from)
        })
        .await
        .unwrap();
    println!(
        "events list benchmark: {total} events stored (copied in {:.1?})",
        t.elapsed()
    );

    let st = state.store.clone();
    let (_, key) =
        tokio::task::spawn_blocking(move || convene::api::keys::create_api_key(&st, "bench"))
            .await
            .unwrap()
            .unwrap();
    let auth = format!("Token {key}");
    let url = format!("http://127.0.0.1:{port}/api/v2/calendar-events/?page_size=100");
    let body = reqwest::Client::new()
        .get(&url)
        .header("Authorization", &auth)
        .send()
        .await
        .unwrap()
        .bytes()
        .await
        .unwrap();

    // The bare handler: the same bytes, pre-serialized.
    BARE.set(body).unwrap();
    let bare_url = format!("http://127.0.0.1:{port}/bench/bare/");

    let loadavg = || {
        std::fs::read_to_string("/proc/loadavg")
            .map(|l| l.split_whitespace().take(3).collect::<Vec<_>>().join(" "))
            .unwrap_or_default()
    };
    let before = loadavg();
    // Alternating rounds, so that a change in the machine's load falls on both.
    let rounds = common::env_usize("BENCH_ROUNDS", 2).max(1);
    let phase = Duration::from_secs(secs) / rounds as u32;
    let (mut bare, mut list, mut bare_size, mut list_size) = (Vec::new(), Vec::new(), 0, 0);
    // CPU seconds of this process (server and client) spent in each handler's phases.
    let (mut bare_cpu, mut list_cpu) = (0.0, 0.0);
    for _ in 0..rounds {
        let cpu = process_cpu_secs();
        let (lat, size) = load(&bare_url, &auth, conns, phase).await;
        bare_cpu += process_cpu_secs() - cpu;
        bare.extend(lat);
        bare_size = size;
        let cpu = process_cpu_secs();
        let (lat, size) = load(&url, &auth, conns, phase).await;
        list_cpu += process_cpu_secs() - cpu;
        list.extend(lat);
        list_size = size;
    }
    let (bare_n, list_n) = (bare.len().max(1) as f64, list.len().max(1) as f64);
    let (bare_rps, bare_p99) = summary(bare, secs);
    let (list_rps, list_p99) = summary(list, secs);
    println!(
        "  load average before the runs: {before}; after: {}",
        loadavg()
    );
    println!(
        "  bare handler: {bare_rps:.0} req/s, p99 {bare_p99:.1?} ({bare_size} bytes per answer)"
    );
    println!(
        "  events list (page of 100): {list_rps:.0} req/s, p99 {list_p99:.1?} ({list_size} bytes)"
    );
    println!(
        "  CPU (server and client, of {} cores) per request: bare {:.0} us ({:.0}% busy), \
         list {:.0} us ({:.0}% busy)",
        std::thread::available_parallelism().map_or(0, |n| n.get()),
        bare_cpu / bare_n * 1e6,
        bare_cpu / secs as f64 * 100.0,
        list_cpu / list_n * 1e6,
        list_cpu / secs as f64 * 100.0,
    );
    println!(
        "  ratio: {:.2}x the bare handler (target >= 0.3x, p99 <= 50 ms at {conns} connections)",
        list_rps / bare_rps
    );
}
