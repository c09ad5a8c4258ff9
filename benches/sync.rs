//! Sync benchmark (not a test): `cargo bench --bench sync`
//! (`BENCH_CALENDARS` / `BENCH_EVENTS` / `BENCH_IDLE_CALENDARS` override the sizes).
//!
//! 1. The in-process simulator generates `BENCH_CALENDARS` accounts (Google and Microsoft
//!    alternating) with `BENCH_EVENTS` events each.
//! 2. Convene syncs them all with the real engine and sweep (token refresh, provider paging,
//!    normalization, meeting-link detection, hashing, upsert, webhook outbox): events
//!    ingested per second.
//! 3. The same rows are upserted with a plain rusqlite batch (`INSERT … ON CONFLICT DO
//!    UPDATE` in one transaction) into a fresh database of the same schema: the ratio of
//!    the two rates is reported.
//! 4. An idle hour is simulated (the clock moved in steps, the sweep run after each) to
//!    count provider requests per idle calendar per hour.
//! 5. The list query of the events API is timed on a table grown to a million rows.
//! 6. Peak RSS (`VmHWM`) of the process after the ingest (simulator included; its share is
//!    printed) and at the end.

#[path = "common/mod.rs"]
mod common;

use std::collections::HashMap;
use std::time::{Duration, Instant};

use convene::config::Settings;
use convene::state::{AppState, Clock, KeyedLocks, Wakers};
use convene::store::events::{EventQuery, Ordering};
use convene_sim::Endpoint;

fn vm_hwm_kib() -> u64 {
    std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|s| {
            s.lines()
                .find(|l| l.starts_with("VmHWM:"))
                .and_then(|l| l.split_whitespace().nth(1))
                .and_then(|v| v.parse().ok())
        })
        .unwrap_or(0)
}

fn main() -> anyhow::Result<()> {
    let rt = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()?;
    rt.block_on(run())
}

async fn run() -> anyhow::Result<()> {
    let calendars = common::env_usize("BENCH_CALENDARS", 1000);
    let events = common::env_usize("BENCH_EVENTS", 200);
    let idle_calendars = common::env_usize("BENCH_IDLE_CALENDARS", calendars.min(200));
    println!("sync benchmark: {calendars} calendars x {events} generated events");

    let sim = convene_sim::start().await;
    let t = Instant::now();
    let generated = sim.generate(calendars, events, 42).await;
    println!("  simulator generated the data in {:.1?}", t.elapsed());
    let rss_sim = vm_hwm_kib();

    let dir = tempfile::tempdir()?;
    let mut env: HashMap<String, String> = sim.env_vars().into_iter().collect();
    env.insert(
        "CONVENE_DATA_DIR".into(),
        dir.path().to_string_lossy().into_owned(),
    );
    env.insert("CONVENE_LOG".into(), "error".into());
    let settings = Settings::from_sources(env, None)?;
    let (store, keys) = convene::startup::open_data(&settings)?;
    let state = AppState {
        settings: std::sync::Arc::new(settings),
        store,
        keys: std::sync::Arc::new(keys),
        http: reqwest::Client::builder()
            .timeout(Duration::from_secs(60))
            .build()?,
        clock: Clock::default(),
        locks: KeyedLocks::default(),
        wake: Wakers::default(),
        detached: Default::default(),
        sweeps: Default::default(),
        api_keys: Default::default(),
        sync_lag: Default::default(),
    };

    // Calendars as V2 creates them (secrets sealed), all due at once.
    let ids = common::insert_generated(&state, &generated, None).await;

    // ---- 1. Convene ingest
    sim.reset_counts().await;
    let t = Instant::now();
    let report = convene::sync::sync_due(&state).await?;
    let ingest = t.elapsed();
    anyhow::ensure!(
        report.failed == 0 && report.synced == ids.len(),
        "sync failures: {report:?}"
    );
    let stored: i64 = state
        .store
        .read(|c| {
            c.query_row("SELECT COUNT(*) FROM calendar_events", [], |r| r.get(0))
                .map_err(convene::store::StoreError::from)
        })
        .await?;
    let provider_requests = sim.call_count(Endpoint::GoogleEvents).await
        + sim.call_count(Endpoint::MicrosoftDelta).await;
    let token_requests = sim.call_count(Endpoint::GoogleToken).await
        + sim.call_count(Endpoint::MicrosoftToken).await;
    let convene_rate = stored as f64 / ingest.as_secs_f64();
    println!(
        "  convene: {stored} events from {} calendars in {ingest:.2?} = {convene_rate:.0} events/s \
         ({provider_requests} event-list requests, {token_requests} token refreshes, concurrency {})",
        ids.len(),
        state.settings.sync_concurrency
    );

    let rss_ingest = vm_hwm_kib();
    println!(
        "  peak RSS after the ingest: {:.1} MiB (of which the simulator with its generated data \
         ~{:.1} MiB before Convene started)",
        rss_ingest as f64 / 1024.0,
        rss_sim as f64 / 1024.0
    );

    // ---- 2. Raw rusqlite batch upsert of the same rows
    let raw_path = dir.path().join("raw.db");
    let db_path = state.settings.db_path();
    let raw_rate = tokio::task::spawn_blocking(move || raw_upsert(&db_path, &raw_path)).await??;
    println!(
        "  raw rusqlite batch upsert of the same rows: {raw_rate:.0} events/s; \
         convene / raw = {:.3}",
        convene_rate / raw_rate
    );

    // ---- 3. Idle hour: requests per idle calendar
    let idle: Vec<String> = ids.iter().take(idle_calendars).cloned().collect();
    let idle_set = idle.clone();
    state
        .store
        .write(move |tx| {
            // Only the measured calendars stay connected.
            tx.execute("UPDATE calendars SET status = 'disconnected'", [])?;
            for id in &idle_set {
                tx.execute(
                    "UPDATE calendars SET status = 'connected' WHERE id = ?1",
                    [id],
                )?;
            }
            Ok::<_, convene::store::StoreError>(())
        })
        .await?;
    sim.reset_counts().await;
    let step = Duration::from_secs(10);
    let steps = 3600 / step.as_secs();
    let t = Instant::now();
    let mut failed = 0;
    for _ in 0..steps {
        state.clock.advance(step);
        failed += convene::sync::sync_due(&state).await?.failed;
    }
    let counts = [
        Endpoint::GoogleEvents,
        Endpoint::MicrosoftDelta,
        Endpoint::GoogleToken,
        Endpoint::MicrosoftToken,
    ];
    let mut per = Vec::new();
    for e in counts {
        per.push(sim.call_count(e).await);
    }
    let total: u64 = per.iter().sum();
    println!(
        "  idle hour ({} calendars, sync interval {}s + up to 20% jitter, {failed} failures, \
         simulated in {:.1?}): {:.1} provider requests per calendar per hour \
         ({:.1} event-list + {:.1} token refresh)",
        idle.len(),
        state.settings.sync_interval.as_secs(),
        t.elapsed(),
        total as f64 / idle.len() as f64,
        (per[0] + per[1]) as f64 / idle.len() as f64,
        (per[2] + per[3]) as f64 / idle.len() as f64,
    );

    // ---- 4. Listing at a million events
    let raw_path = dir.path().join("raw.db");
    let target = common::env_usize("BENCH_LIST_ROWS", 1_000_000) as i64;
    tokio::task::spawn_blocking(move || list_at_scale(&raw_path, target)).await??;

    println!(
        "  peak RSS at the end (VmHWM; the raw baseline holds every row in memory): {:.1} MiB",
        vm_hwm_kib() as f64 / 1024.0
    );
    Ok(())
}

const EVENT_COLUMNS: &str = "id, calendar_id, platform_id, ical_uid, start_time, end_time,
    is_all_day, title, organizer_email, attendees, is_recurring, is_hosted_by_me, self_response,
    meeting_platform, meeting_url, is_deleted, raw, content_hash, created_at, updated_at";

fn open(path: &std::path::Path) -> anyhow::Result<rusqlite::Connection> {
    let c = rusqlite::Connection::open(path)?;
    c.execute_batch(
        "PRAGMA journal_mode = WAL; PRAGMA synchronous = NORMAL; PRAGMA foreign_keys = ON;",
    )?;
    Ok(c)
}

/// Upserts Convene's synced rows into a fresh database with the same schema in one
/// transaction; returns rows per second.
fn raw_upsert(convene_db: &std::path::Path, raw_db: &std::path::Path) -> anyhow::Result<f64> {
    let src = open(convene_db)?;
    let mut dst = open(raw_db)?;
    convene::store::migrations::migrate(&mut dst)?;
    dst.execute_batch(&format!(
        "ATTACH DATABASE '{}' AS src;
         INSERT INTO calendars SELECT * FROM src.calendars;
         DETACH DATABASE src;",
        convene_db.display()
    ))?;
    type Row = Vec<rusqlite::types::Value>;
    let rows: Vec<Row> = {
        let mut s = src.prepare(&format!("SELECT {EVENT_COLUMNS} FROM calendar_events"))?;
        let n = s.column_count();
        let v = s
            .query_map([], |r| {
                (0..n)
                    .map(|i| r.get::<_, rusqlite::types::Value>(i))
                    .collect()
            })?
            .collect::<Result<Vec<Row>, _>>()?;
        v
    };
    let t = Instant::now();
    let tx = dst.transaction()?;
    {
        let mut stmt = tx.prepare(&format!(
            "INSERT INTO calendar_events ({EVENT_COLUMNS})
             VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13, ?14, ?15, ?16, ?17,
                     ?18, ?19, ?20)
             ON CONFLICT (calendar_id, platform_id) DO UPDATE SET
                ical_uid = excluded.ical_uid, start_time = excluded.start_time,
                end_time = excluded.end_time, is_all_day = excluded.is_all_day,
                title = excluded.title, organizer_email = excluded.organizer_email,
                attendees = excluded.attendees, is_recurring = excluded.is_recurring,
                is_hosted_by_me = excluded.is_hosted_by_me,
                self_response = excluded.self_response,
                meeting_platform = excluded.meeting_platform,
                meeting_url = excluded.meeting_url, is_deleted = excluded.is_deleted,
                raw = excluded.raw, content_hash = excluded.content_hash,
                updated_at = excluded.updated_at"
        ))?;
        for r in &rows {
            stmt.execute(rusqlite::params_from_iter(r.iter()))?;
        }
    }
    tx.commit()?;
    Ok(rows.len() as f64 / t.elapsed().as_secs_f64())
}

/// Grows the raw copy to `target` events and times first and deep pages of the list.
fn list_at_scale(raw_db: &std::path::Path, target: i64) -> anyhow::Result<()> {
    let c = open(raw_db)?;
    let have: i64 = c.query_row("SELECT COUNT(*) FROM calendar_events", [], |r| r.get(0))?;
    if have == 0 {
        return Ok(());
    }
    // Synthetic copies of the synced rows, shifted in time, with a tiny `raw` to keep the
    // file small: listing cost is in the index walk, not in the raw text of 101 rows.
    let t = Instant::now();
    let mut count = have;
    let mut copy = 0;
    while count < target {
        copy += 1;
        count += c.execute(
            &format!(
                "INSERT INTO calendar_events ({EVENT_COLUMNS})
                 SELECT lower(hex(randomblob(16))), calendar_id, platform_id || '-c{copy}',
                    ical_uid, start_time + {copy} * 3600000, end_time + {copy} * 3600000,
                    is_all_day, title, organizer_email, '[]', is_recurring,
                    is_hosted_by_me, self_response, meeting_platform, meeting_url, is_deleted,
                    '{{}}', content_hash, created_at, updated_at + {copy}
                 FROM calendar_events WHERE rowid <= {have}
                 LIMIT {}",
                target - count
            ),
            [],
        )? as i64;
    }
    let total: i64 = c.query_row("SELECT COUNT(*) FROM calendar_events", [], |r| r.get(0))?;
    let cal: String = c.query_row("SELECT id FROM calendars LIMIT 1", [], |r| r.get(0))?;
    println!(
        "  list at {total} events (table grown in {:.1?}):",
        t.elapsed()
    );
    let mid: (i64, String) = c.query_row(
        &format!(
            "SELECT start_time, id FROM calendar_events ORDER BY start_time, id LIMIT 1 OFFSET {}",
            total / 2
        ),
        [],
        |r| Ok((r.get(0)?, r.get(1)?)),
    )?;
    let cases: Vec<(&str, EventQuery)> = vec![
        ("first page, all calendars", EventQuery::default()),
        (
            "page in the middle of the list (cursor)",
            EventQuery {
                after: Some(mid.clone()),
                ..Default::default()
            },
        ),
        (
            "one calendar",
            EventQuery {
                calendar_id: Some(cal.clone()),
                ..Default::default()
            },
        ),
        (
            "change feed, updated_at__gte, ordering=updated_at",
            EventQuery {
                ordering: Ordering::UpdatedAt,
                updated_gte: Some(0),
                ..Default::default()
            },
        ),
        (
            "start_time window, is_deleted=false",
            EventQuery {
                start_gte: Some(mid.0),
                start_lte: Some(mid.0 + 7 * 86_400_000),
                is_deleted: Some(false),
                ..Default::default()
            },
        ),
    ];
    for (name, mut q) in cases {
        q.limit = 101;
        let runs = 20;
        let t = Instant::now();
        let mut n = 0;
        for _ in 0..runs {
            n = convene::store::events::list(&c, &q)?.len();
        }
        println!(
            "    {name}: {:.2?} per page of {n}",
            t.elapsed() / runs as u32
        );
    }
    Ok(())
}
