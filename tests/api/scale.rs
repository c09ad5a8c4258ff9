//! Issue 15 (one small VM, many calendars): the WAL stays bounded, an idle server does not
//! write, and the hot claim/reconcile queries use indexes.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;

use convene::domain::{CalendarKind, CalendarStatus, Platform};
use convene::store::calendars::Calendar;
use convene::store::sync::insert_calendar_for_sync;
use convene_sim::Provider;

use crate::helpers::spawn_app;

/// Bulk first sync of `calendars` generated accounts, while the pool keeps serving short reads
/// (as the API does under load): the `-wal` file must end under the bound.
#[tokio::test]
async fn bulk_first_sync_leaves_the_wal_bounded() {
    let app = spawn_app().await;
    let calendars = 120;
    let generated = app.sim.generate(calendars, 150, 7).await;
    let now = app.state.now_ms();
    let rows: Vec<Calendar> = generated
        .iter()
        .map(|g| Calendar {
            oauth_client_id: Some(g.client_id.clone()),
            oauth_client_secret_enc: Some(app.state.keys.encrypt(&g.client_secret)),
            oauth_refresh_token_enc: Some(app.state.keys.encrypt(&g.refresh_token)),
            platform_email: Some(g.email.clone()),
            ..Calendar::new(
                CalendarKind::V2,
                if g.provider == Provider::Google {
                    Platform::Google
                } else {
                    Platform::Microsoft
                },
                CalendarStatus::Connected,
                now,
            )
        })
        .collect();
    app.state
        .store
        .write(move |tx| {
            rows.iter()
                .map(|c| insert_calendar_for_sync(tx, c, now))
                .collect::<Result<Vec<_>, _>>()
        })
        .await
        .unwrap();

    // Readers in a loop until the sync is done: each one a short read transaction.
    let done = Arc::new(AtomicBool::new(false));
    let mut readers = Vec::new();
    for _ in 0..3 {
        let (store, done) = (app.state.store.clone(), done.clone());
        readers.push(tokio::spawn(async move {
            let mut reads = 0u64;
            while !done.load(Ordering::Relaxed) {
                let _: i64 = store
                    .read(|c| {
                        c.query_row("SELECT COUNT(*) FROM calendar_events", [], |r| r.get(0))
                            .map_err(convene::store::StoreError::from)
                    })
                    .await
                    .unwrap();
                reads += 1;
                tokio::task::yield_now().await;
            }
            reads
        }));
    }
    let report = convene::sync::sync_due(&app.state).await.unwrap();
    done.store(true, Ordering::Relaxed);
    for r in readers {
        r.await.unwrap();
    }
    assert_eq!(report.synced, calendars, "{report:?}");
    assert_eq!(report.failed, 0, "{report:?}");

    let db_bytes = std::fs::metadata(app.data_dir.path().join("convene.db"))
        .map(|m| m.len())
        .unwrap_or(0);
    let wal = app.state.store.wal_bytes();
    // The bound: twice the checkpoint threshold (32 MiB), room for the commits that land
    // while a checkpoint waits for a reader on a loaded machine. Measured (debug build, 120
    // calendars x 150 events, ~110 MiB database): without the checkpointer and
    // journal_size_limit this run leaves a 306 MiB WAL (2.8x the database, the same runaway
    // the issue saw at 5.4 GB); with them, 6.3 MiB.
    let bound = 2 * convene::store::CHECKPOINT_AT_BYTES;
    assert!(
        wal <= bound,
        "WAL is {wal} bytes after a bulk first sync (bound {bound}; database {db_bytes} bytes)"
    );
    // And a checkpoint when nothing is reading empties it.
    let store = app.state.store.clone();
    let emptied = tokio::task::spawn_blocking(move || store.checkpoint_now())
        .await
        .unwrap()
        .unwrap();
    assert!(emptied);
    assert_eq!(app.state.store.wal_bytes(), 0);
}

/// An idle server: every sweep on its schedule for ten simulated minutes. Before: the 1 s
/// webhook sweep alone committed every run (600 commits here); now at most one commit per
/// minute for all sweeps together, and the overview's staleness data stays fresh.
#[tokio::test]
async fn an_idle_server_commits_at_most_once_a_minute() {
    let app = spawn_app().await;
    let sweeps = convene::jobs::all();
    // First runs (start-up): each sweep's health is written once.
    for s in &sweeps {
        assert!(convene::jobs::run_sweep(&app.state, s).await);
    }
    let other = rusqlite::Connection::open(app.data_dir.path().join("convene.db")).unwrap();
    let version = || -> i64 {
        other
            .query_row("PRAGMA data_version", [], |r| r.get(0))
            .unwrap()
    };
    let mut last = version();
    let mut commits = 0;
    let minutes = 10;
    for second in 1..=minutes * 60u64 {
        app.state.clock.advance(std::time::Duration::from_secs(1));
        for s in sweeps.iter().filter(|s| second % s.every.as_secs() == 0) {
            assert!(convene::jobs::run_sweep(&app.state, s).await);
            let v = version();
            if v != last {
                commits += 1;
                last = v;
            }
        }
    }
    assert!(
        (1..=minutes).contains(&commits),
        "{commits} commits in {minutes} idle minutes"
    );
    // What was written is recent enough for the overview's stale-job flag.
    let now = app.state.now_ms();
    let (runs, finished): (i64, i64) = other
        .query_row(
            "SELECT runs, last_finished_at FROM job_runs WHERE name = 'deliver_webhooks'",
            [],
            |r| Ok((r.get(0)?, r.get(1)?)),
        )
        .unwrap();
    assert!(now - finished <= convene::coord::SweepHealth::FLUSH_EVERY_MS);
    assert!(runs >= 600 - 60, "{runs}");
}

/// The webhook claim and the bot reconcile run inside `BEGIN IMMEDIATE` every few seconds:
/// their plans must reach rows through indexes, never by scanning the deliveries (a
/// disabled endpoint's held backlog) or every bot link ever made.
#[tokio::test]
async fn claim_and_reconcile_queries_use_indexes() {
    let app = spawn_app().await;
    let (claim, reconcile) = app
        .state
        .store
        .read(|c| {
            Ok::<_, convene::store::StoreError>((
                convene::store::outbox::claim_due_plan(c)?,
                convene::store::bots::drifted_links_plan(c)?,
            ))
        })
        .await
        .unwrap();
    for (name, plan) in [("claim", &claim), ("reconcile", &reconcile)] {
        for row in plan.iter() {
            // The endpoints table is configuration (a handful of rows), not history; the
            // partial index of changed links holds only what changed since the last pass.
            let allowed = row == "SCAN e" || row == "SCAN l USING INDEX bot_event_links_changed";
            assert!(
                !row.starts_with("SCAN") || allowed,
                "{name} scans a table: {row} (plan {plan:#?})"
            );
        }
    }
    // Deliveries are reached per enabled endpoint (and for direct targets) on the
    // endpoint's due index, never along the global due index where a disabled endpoint's
    // held backlog sits first.
    let on = |plan: &[String], index: &str| plan.iter().filter(|r| r.contains(index)).count();
    assert_eq!(
        on(&claim, "webhook_deliveries_endpoint_due"),
        2,
        "{claim:#?}"
    );
    assert_eq!(on(&claim, "webhook_deliveries_due "), 0, "{claim:#?}");
    // Links of live bots, and of events flagged as changed: never all links.
    assert_eq!(on(&reconcile, "bot_event_links_bot"), 1, "{reconcile:#?}");
    assert_eq!(
        on(&reconcile, "bot_event_links_changed"),
        1,
        "{reconcile:#?}"
    );
}

/// API-key auth answers from memory: a key confirmed by the database moments ago needs no
/// read. A revoke by another process (the `convene` CLI writes the row directly) is seen
/// once the confirmation is older than `KeyCache::CONFIRM_EVERY_MS`; a revoke in the admin
/// forgets the key at once (`admin::api_key_created_in_the_page_works_until_revoked`).
#[tokio::test]
async fn api_key_auth_is_cached_and_reconfirmed() {
    let app = spawn_app().await;
    let path = "/api/v2/calendar-events/";
    assert_eq!(app.get(path).await.status(), 200);
    let other = rusqlite::Connection::open(app.data_dir.path().join("convene.db")).unwrap();
    let revoked = other
        .execute(
            "UPDATE api_keys SET revoked_at = 1 WHERE revoked_at IS NULL",
            [],
        )
        .unwrap();
    assert_eq!(revoked, 1);
    // Answered from the cache: the database was not asked.
    assert_eq!(app.get(path).await.status(), 200);
    app.state.clock.advance(std::time::Duration::from_millis(
        convene::coord::KeyCache::CONFIRM_EVERY_MS as u64,
    ));
    assert_eq!(app.get(path).await.status(), 401);
    // An unknown key is never cached.
    let res = app
        .client
        .get(app.url(path))
        .header("Authorization", "Token cvn_not_a_key")
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 401);
}

/// A provider that stops answering holds only its share of the sweep: with Google's event
/// listings held, every due Microsoft calendar still syncs in the same sweep run (with one
/// shared limit, as before, the held Google syncs could fill every slot).
#[tokio::test]
async fn a_slow_provider_does_not_hold_up_the_other() {
    use crate::sync_fixtures::{connect, stored};
    use convene_sim::{Endpoint, EventSpec, Fault};
    let app = crate::helpers::spawn_app_with(crate::helpers::Options {
        env: vec![
            ("CONVENE_SYNC_CONCURRENCY".into(), "4".into()),
            ("CONVENE_SYNC_CONCURRENCY_PER_PROVIDER".into(), "2".into()),
        ],
        ..Default::default()
    })
    .await;
    let t = chrono::Utc::now() + chrono::Duration::days(1);
    let mut google = Vec::new();
    let mut microsoft = Vec::new();
    for i in 0..4 {
        google.push(connect(&app, Provider::Google, &format!("g{i}@acme.test")).await);
        let m = connect(&app, Provider::Microsoft, &format!("m{i}@contoso.test")).await;
        app.sim
            .create_event(
                &m.account,
                EventSpec::new("Standup", t, t + chrono::Duration::minutes(15)),
            )
            .await;
        microsoft.push(m);
    }
    app.sim
        .inject_fault(Endpoint::GoogleEvents, Fault::HoldAnswer, 4)
        .await;
    let state = app.state.clone();
    let sweep = tokio::spawn(async move { convene::sync::sync_due(&state).await });
    app.sim.wait_held().await;
    // Each Microsoft sync that stores its event wakes the deliverer; wait for all four.
    let all_synced = async {
        loop {
            let mut done = 0;
            for m in &microsoft {
                if !stored(&app, m).await.is_empty() {
                    done += 1;
                }
            }
            if done == microsoft.len() {
                break;
            }
            app.state.wake.webhooks.notified().await;
        }
    };
    tokio::time::timeout(std::time::Duration::from_secs(60), all_synced)
        .await
        .expect("Microsoft calendars synced while Google was held");
    assert!(!sweep.is_finished());
    // Let the held answers go, one release per held request (a release given before the
    // next request is held is remembered), until the sweep is done.
    let mut sweep = sweep;
    let report = loop {
        app.sim.release_held().await;
        if let Ok(done) =
            tokio::time::timeout(std::time::Duration::from_millis(100), &mut sweep).await
        {
            break done.unwrap().unwrap();
        }
    };
    assert_eq!((report.synced, report.failed), (8, 0), "{report:?}");
    drop(google);
}

/// The events list is written by hand (raw spliced in unparsed); every listed event must be
/// byte for byte what the single-event answer (serde) writes.
#[tokio::test]
async fn the_events_list_is_byte_identical_to_serde() {
    use crate::sync_fixtures::{connect, sync};
    use convene_sim::EventSpec;
    let app = spawn_app().await;
    let cal = connect(&app, Provider::Google, "bytes@acme.test").await;
    let t = chrono::Utc::now() + chrono::Duration::days(1);
    for i in 0..3 {
        let mut spec = EventSpec::new(
            format!("Üñí \"quoted\" {i}"),
            t + chrono::Duration::hours(i),
            t + chrono::Duration::hours(i + 1),
        );
        spec.description = Some("<a href=\"https://zoom.us/j/123\">join</a>\n\ttab".into());
        app.sim.create_event(&cal.account, spec).await;
    }
    sync(&app, &cal).await;
    let body = app
        .get("/api/v2/calendar-events/?page_size=2")
        .await
        .text()
        .await
        .unwrap();
    #[derive(serde::Deserialize)]
    struct Page<'a> {
        #[serde(borrow)]
        results: Vec<&'a serde_json::value::RawValue>,
        next: Option<String>,
    }
    let page: Page = serde_json::from_str(&body).unwrap();
    assert_eq!(page.results.len(), 2);
    assert!(page.next.is_some());
    for listed in page.results {
        let id = serde_json::from_str::<serde_json::Value>(listed.get()).unwrap()["id"]
            .as_str()
            .unwrap()
            .to_string();
        let single = app
            .get(&format!("/api/v2/calendar-events/{id}/"))
            .await
            .text()
            .await
            .unwrap();
        assert_eq!(listed.get(), single);
    }
}

/// Sync lag is visible: how late each sweep sync started after its due time, as p50/p95
/// on the overview (flagged when p95 exceeds a tenth of the interval) and in `/metrics`.
#[tokio::test]
async fn sync_lag_is_on_the_overview_and_in_metrics() {
    use crate::sync_fixtures::connect;
    let token = "metrics-token-for-scale-tests-0123456789";
    let app = crate::helpers::spawn_app_with(crate::helpers::Options {
        env: vec![("CONVENE_METRICS_TOKEN".into(), token.into())],
        ..Default::default()
    })
    .await;
    for i in 0..3 {
        connect(&app, Provider::Google, &format!("lag{i}@acme.test")).await;
    }
    // First syncs have no due time to be late for.
    convene::sync::sync_due(&app.state).await.unwrap();
    assert_eq!(app.state.sync_lag.percentiles(), None);
    // Due 60-72 s after that sync; the sweep comes 180 s later: 108-120 s late.
    app.state.clock.advance(std::time::Duration::from_secs(180));
    let report = convene::sync::sync_due(&app.state).await.unwrap();
    assert_eq!(report.synced, 3, "{report:?}");
    let (p50, p95) = app.state.sync_lag.percentiles().unwrap();
    assert!((108_000..=120_000).contains(&p50), "{p50}");
    assert!((108_000..=120_000).contains(&p95), "{p95}");

    let metrics = reqwest::Client::new()
        .get(app.url("/metrics"))
        .bearer_auth(token)
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    let line = metrics
        .lines()
        .find(|l| l.starts_with("convene_sync_start_lag_seconds{quantile=\"0.95\"}"))
        .unwrap_or_else(|| panic!("{metrics}"));
    let secs: f64 = line.rsplit(' ').next().unwrap().parse().unwrap();
    assert_eq!(secs, p95 as f64 / 1000.0);

    let admin = crate::admin::logged_in(&app).await;
    let page = admin
        .get(app.url("/admin/"))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(page.contains("sync lag p50"), "{page}");
    assert!(page.contains("sync lag p95: falling behind"), "{page}");
}

/// The server's sync loop starts a due calendar as soon as a slot is free: a sync whose
/// provider does not answer holds its own slot, not every calendar that comes due after it
/// (the old sweep waited for its slowest sync before it read the due list again).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_held_sync_does_not_keep_later_due_calendars_waiting() {
    use crate::sync_fixtures::{connect, sync, sync_state};
    use convene_sim::{Endpoint, Fault};
    let app = crate::helpers::spawn_app_with(crate::helpers::Options {
        jobs: true,
        ..Default::default()
    })
    .await;
    let slow = connect(&app, Provider::Google, "slow@acme.test").await;
    let fast = connect(&app, Provider::Google, "fast@acme.test").await;
    sync(&app, &slow).await;
    sync(&app, &fast).await;
    let due_now = |id: String| {
        let state = app.state.clone();
        async move {
            let now = state.now_ms();
            state
                .store
                .write(move |tx| convene::store::sync::mark_due(tx, &id, now, 0))
                .await
                .unwrap();
            state.wake.sync.notify_one();
        }
    };
    let app = &app;
    let synced_at = |cal| async move { sync_state(app, cal).await.last_sync_at };

    app.sim
        .inject_fault(Endpoint::GoogleEvents, Fault::HoldAnswer, 1)
        .await;
    let slow_before = synced_at(&slow).await;
    due_now(slow.id.clone()).await;
    app.sim.wait_held().await;

    // Twice in a row, while the slow calendar's sync is still waiting for its answer.
    for _ in 0..2 {
        let before = synced_at(&fast).await;
        due_now(fast.id.clone()).await;
        until_changed(|| synced_at(&fast), before)
            .await
            .expect("the due calendar synced while another sync was held");
    }
    assert_eq!(synced_at(&slow).await, slow_before, "still held");

    app.sim.release_held().await;
    until_changed(|| synced_at(&slow), slow_before)
        .await
        .expect("the held sync finished once answered");
}

/// Polls `read` until it differs from `from` (within 30 s): the state it reads is written by
/// a background loop the test does not drive.
async fn until_changed<T: PartialEq, F: std::future::Future<Output = T>>(
    read: impl Fn() -> F,
    from: T,
) -> Result<(), tokio::time::error::Elapsed> {
    tokio::time::timeout(std::time::Duration::from_secs(30), async {
        while read().await == from {
            tokio::time::sleep(std::time::Duration::from_millis(20)).await;
        }
    })
    .await
}

/// Per calendar, how late its scheduled syncs started: the last one and the longest of the
/// last day, on the admin calendar page with a warning past a tenth of the interval.
#[tokio::test]
async fn each_calendars_sync_lag_is_on_its_admin_page() {
    use crate::sync_fixtures::{connect, sync};
    use convene::store::sync::calendar_sync_lag;
    let app = spawn_app().await;
    let cal = connect(&app, Provider::Google, "late@acme.test").await;
    sync(&app, &cal).await;
    let lag = |app: &crate::helpers::TestApp| {
        let (state, id) = (app.state.clone(), cal.id.clone());
        async move {
            state
                .store
                .read(move |c| calendar_sync_lag(c, &id))
                .await
                .unwrap()
        }
    };
    // A sync by hand is not late for anything.
    assert_eq!(lag(&app).await.last_ms, None);
    let due_ago = |ago_ms: i64| {
        let (state, id) = (app.state.clone(), cal.id.clone());
        async move {
            let at = state.now_ms() - ago_ms;
            state
                .store
                .write(move |tx| {
                    tx.execute(
                        "UPDATE calendars SET next_sync_at = ?2 WHERE id = ?1",
                        rusqlite::params![id, at],
                    )
                    .map_err(convene::store::StoreError::from)
                })
                .await
                .unwrap();
            let report = convene::sync::sync_due(&state).await.unwrap();
            assert_eq!(report.synced, 1, "{report:?}");
        }
    };

    due_ago(30_000).await;
    let first = lag(&app).await;
    assert!(
        (30_000..40_000).contains(&first.last_ms.unwrap()),
        "{first:?}"
    );
    assert_eq!(first.worst_ms, first.last_ms);
    let client = crate::admin::logged_in(&app).await;
    let page = crate::admin::page(&app, &client, &format!("/admin/calendars/{}/", cal.id)).await;
    assert!(page.contains("the last scheduled sync started 3"), "{page}");
    assert!(page.contains("falling behind"), "{page}");

    // A punctual sync: the last is small, the longest of the day stays.
    due_ago(0).await;
    let second = lag(&app).await;
    assert!(second.last_ms.unwrap() < 10_000, "{second:?}");
    assert_eq!(second.worst_ms, first.worst_ms);

    // A day later the old worst is forgotten at the next scheduled sync.
    app.state
        .clock
        .advance(std::time::Duration::from_secs(25 * 3600));
    due_ago(0).await;
    // (The admin session ended with the day.)
    let login = crate::admin::try_login(&app, &client, crate::admin::PASSWORD).await;
    assert_eq!(login.status(), 303);
    let later = lag(&app).await;
    assert_eq!(later.worst_ms, later.last_ms, "{later:?}");
    let page = crate::admin::page(&app, &client, &format!("/admin/calendars/{}/", cal.id)).await;
    assert!(
        page.contains("the last scheduled sync started 0."),
        "{page}"
    );
    assert!(!page.contains("falling behind"), "{page}");
}

/// The sync loop reads the due list many times a second: each read walks the due index
/// (never every connected calendar's row, nor a sort of them).
#[tokio::test]
async fn the_due_list_is_read_along_its_index() {
    let app = spawn_app().await;
    let plans = app
        .state
        .store
        .read(convene::store::sync::due_plans)
        .await
        .unwrap();
    assert_eq!(plans.len(), 3);
    for plan in &plans {
        assert!(
            plan.iter()
                .all(|r| r.contains("USING") && r.contains("INDEX calendars_sync_due")),
            "{plan:#?}"
        );
        assert!(!plan.iter().any(|r| r.contains("TEMP B-TREE")), "{plan:#?}");
    }
}
