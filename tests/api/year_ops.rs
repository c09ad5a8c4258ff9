//! Issue 13, items 3, 4 and 14: the daily retention sweep, `/readyz` noticing a database
//! file deleted or replaced under the server, and the bounded, count-first login limiter.

use std::time::Duration as StdDuration;

use chrono::{Duration, Utc};
use convene::store::outbox::OutboxEvent;
use convene::store::StoreError;
use convene_sim::{EventSpec, Provider};
use serde_json::{json, Value};

use crate::admin::{input_value, new_client, set_up};
use crate::helpers::{spawn_app, TestApp};
use crate::sync_fixtures::{connect, stored, sync};

async fn readyz(app: &TestApp) -> (u16, Value) {
    let res = app.client.get(app.url("/readyz/")).send().await.unwrap();
    (res.status().as_u16(), res.json().await.unwrap())
}

/// Item 4: `rm convene.db` under a running server.
#[tokio::test]
async fn readyz_fails_when_the_database_file_is_deleted() {
    let app = spawn_app().await;
    assert_eq!(readyz(&app).await.0, 200);
    std::fs::remove_file(app.data_dir.path().join("convene.db")).unwrap();
    let (status, body) = readyz(&app).await;
    assert_eq!(status, 503, "{body}");
    assert_eq!(body["reason"], "database_file_changed");
    // It stays failed: the server writes into a file nobody will see again.
    assert_eq!(readyz(&app).await.0, 503);
}

/// Item 4: a restore copied over the live file.
#[tokio::test]
async fn readyz_fails_when_the_database_file_is_replaced() {
    let app = spawn_app().await;
    let path = app.data_dir.path().join("convene.db");
    let copy = app.data_dir.path().join("copy.db");
    app.state.store.backup_to(&copy).unwrap();
    std::fs::rename(&copy, &path).unwrap();
    let (status, body) = readyz(&app).await;
    assert_eq!(status, 503, "{body}");
    assert_eq!(body["reason"], "database_file_changed");
}

/// Item 14: parallel wrong passwords from one address cannot all pass the check before
/// any is counted.
#[tokio::test]
async fn parallel_wrong_passwords_are_counted_before_they_are_checked() {
    let app = spawn_app().await;
    let client = new_client();
    set_up(&app, &client).await;
    let page = client
        .get(app.url("/admin/login/"))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    let csrf = input_value(&page, "csrf_token");
    let attempts = (0..16).map(|_| {
        let (client, url, csrf) = (client.clone(), app.url("/admin/login/"), csrf.clone());
        async move {
            client
                .post(url)
                .form(&[
                    ("csrf_token", csrf.as_str()),
                    ("password", "wrong password"),
                ])
                .send()
                .await
                .unwrap()
                .status()
                .as_u16()
        }
    });
    let statuses = futures_util::future::join_all(attempts).await;
    let checked = statuses.iter().filter(|s| **s == 401).count();
    let refused = statuses.iter().filter(|s| **s == 429).count();
    assert_eq!(checked, 5, "{statuses:?}");
    assert_eq!(refused, 11, "{statuses:?}");
}

async fn count(app: &TestApp, sql: &str) -> i64 {
    let sql = sql.to_string();
    app.state
        .store
        .read(move |c| Ok::<_, StoreError>(c.query_row(&sql, [], |r| r.get(0))?))
        .await
        .unwrap()
}

async fn exec(app: &TestApp, sql: &str) {
    let sql = sql.to_string();
    app.state
        .store
        .write(move |tx| {
            tx.execute_batch(&sql)?;
            Ok::<_, StoreError>(())
        })
        .await
        .unwrap();
}

/// `n` messages with 2 KB payloads, each delivered once to the endpoint (one attempt with
/// a 2 KB response), at the app's current time; returns their ids.
async fn delivered_messages(app: &TestApp, n: usize, tag: &str) -> Vec<String> {
    let now = app.state.now_ms();
    let tag = tag.to_string();
    let ids = app
        .state
        .store
        .write(move |tx| {
            let mut ids = Vec::new();
            for i in 0..n {
                ids.push(convene::store::outbox::enqueue(
                    tx,
                    &OutboxEvent {
                        event_type: "calendar.sync_events".into(),
                        ordering_key: format!("{tag}-{i}"),
                        data: json!({"padding": "x".repeat(2048)}),
                        extra_url: None,
                    },
                    now,
                )?);
            }
            Ok::<_, StoreError>(ids)
        })
        .await
        .unwrap();
    let list = ids
        .iter()
        .map(|i| format!("'{i}'"))
        .collect::<Vec<_>>()
        .join(",");
    exec(
        app,
        &format!(
            "UPDATE webhook_deliveries SET status = 'delivered', attempts = 1
               WHERE message_id IN ({list});
             INSERT INTO webhook_attempts (delivery_id, attempted_at, status_code, latency_ms,
                 response_body)
               SELECT id, {now}, 200, 5, '{}' FROM webhook_deliveries
               WHERE message_id IN ({list});",
            "y".repeat(2048)
        ),
    )
    .await;
    ids
}

/// Item 3: the daily retention sweep deletes what `CONVENE_RETENTION_DAYS` does not keep,
/// keeps what the API and the change feed promise, and gives the space back.
#[tokio::test]
async fn retention_prunes_old_rows_keeps_promises_and_shrinks_the_file() {
    let app = spawn_app().await;
    assert_eq!(
        app.state
            .store
            .maintain(convene::store::retention::auto_vacuum_mode)
            .await
            .unwrap(),
        2,
        "a new database uses incremental auto-vacuum"
    );
    let res = app
        .post_json(
            "/api/v1/webhook-endpoints/",
            &json!({"url": "https://hooks.app.test/x"}),
        )
        .await;
    assert_eq!(res.status(), 201);

    // Month 1: traffic, events, histories.
    let old = delivered_messages(&app, 400, "old").await;
    let cal = connect(&app, Provider::Google, "g@acme.test").await;
    let t = Utc::now() + Duration::hours(2);
    let past = app
        .sim
        .create_event(
            &cal.account,
            EventSpec::new("Soon over", t, t + Duration::hours(1)),
        )
        .await;
    let later = t + Duration::days(20);
    let future = app
        .sim
        .create_event(
            &cal.account,
            EventSpec::new("Later", later, later + Duration::hours(1)),
        )
        .await;
    let cancelled = app
        .sim
        .create_event(
            &cal.account,
            EventSpec::new(
                "Cancelled",
                t + Duration::days(10),
                t + Duration::days(10) + Duration::hours(1),
            ),
        )
        .await;
    sync(&app, &cal).await;
    app.sim.delete_event(&cal.account, &cancelled).await;
    sync(&app, &cal).await;
    // A pending delivery from month 1 (its endpoint is still failing): kept.
    let pending = delivered_messages(&app, 1, "pending").await.remove(0);
    exec(
        &app,
        &format!("UPDATE webhook_deliveries SET status = 'pending' WHERE message_id = '{pending}'"),
    )
    .await;
    let now = app.state.now_ms();
    let mut history = String::new();
    for i in 0..15 {
        history.push_str(&format!(
            "INSERT INTO calendar_status_changes (calendar_id, status, created_at)
             VALUES ('{}', 'connected', {});",
            cal.id,
            now - 1000 + i
        ));
    }
    history.push_str(&format!(
        "INSERT INTO zoom_oauth_apps (id, kind, client_id, client_secret_enc, created_at,
             updated_at)
         VALUES ('app-old', 'user_level', 'zoom-client', 'sealed', {now}, {now});"
    ));
    for i in 0..15 {
        history.push_str(&format!(
            "INSERT INTO zoom_app_events (app_id, level, kind, message, created_at)
             VALUES ('app-old', 'info', 'validation', 'validated', {});",
            now - 1000 + i
        ));
    }
    history.push_str(&format!(
        "INSERT INTO bots (id, dedup_key, mode, meeting_url, join_at, bot_name, config, status,
             active, created_at, updated_at)
         VALUES ('bot-old', 'k', 'local', 'https://zoom.us/j/1', {now}, 'b', '{{}}',
             'cancelled', 0, {now}, {now});
         INSERT INTO bot_history (bot_id, version, status, note, created_at)
         VALUES ('bot-old', 1, 'scheduled', 'n', {now});
         INSERT INTO bot_operations (bot_id, bot_version, op, status, next_attempt_at,
             created_at, updated_at)
         VALUES ('bot-old', 1, 'create', 'done', {now}, {now}, {now});"
    ));
    exec(&app, &history).await;

    // Month 2: the retention period has passed for all of that; some new traffic.
    app.state
        .clock
        .advance(StdDuration::from_secs(31 * 24 * 3600));
    let recent = delivered_messages(&app, 3, "recent").await;
    let size_before = app
        .state
        .store
        .maintain(convene::store::ops::db_size_bytes)
        .await
        .unwrap();

    let report = convene::retention::run(&app.state).await.unwrap();
    // (The syncs' own messages of month 1 go too.)
    assert!(report.deleted["webhook_deliveries"] >= 400, "{report:?}");
    assert!(report.deleted["webhook_messages"] >= 400, "{report:?}");
    assert!(report.pages_freed > 0, "{report:?}");

    let msg = |id: &str| format!("SELECT COUNT(*) FROM webhook_messages WHERE id = '{id}'");
    assert_eq!(count(&app, &msg(&old[0])).await, 0);
    assert_eq!(count(&app, &msg(&pending)).await, 1, "pending: kept");
    assert_eq!(count(&app, &msg(&recent[0])).await, 1, "recent: kept");
    assert_eq!(
        count(&app, "SELECT COUNT(*) FROM webhook_attempts").await,
        4,
        "attempts go with their deliveries (3 recent, 1 of the pending one)"
    );
    let events = stored(&app, &cal).await;
    let ids: Vec<&str> = events.iter().map(|e| e.platform_id.as_str()).collect();
    assert!(!ids.contains(&past.as_str()), "ended a month ago: pruned");
    assert!(
        !ids.contains(&cancelled.as_str()),
        "deleted a month ago: pruned"
    );
    assert!(ids.contains(&future.as_str()), "not over yet: kept");
    assert_eq!(
        count(
            &app,
            &format!(
                "SELECT COUNT(*) FROM calendar_status_changes WHERE calendar_id = '{}'",
                cal.id
            )
        )
        .await,
        10,
        "the newest history entries stay"
    );
    assert_eq!(
        count(&app, "SELECT COUNT(*) FROM bots WHERE id = 'bot-old'").await,
        0
    );
    assert_eq!(
        count(
            &app,
            "SELECT COUNT(*) FROM zoom_app_events WHERE app_id = 'app-old'"
        )
        .await,
        10,
        "the newest Zoom app events stay"
    );
    let (free, size_after) = app
        .state
        .store
        .maintain(|c| {
            Ok((
                convene::store::retention::freelist_count(c)?,
                convene::store::ops::db_size_bytes(c)?,
            ))
        })
        .await
        .unwrap();
    assert_eq!(free, 0, "free pages given back");
    assert!(size_after < size_before, "{size_after} < {size_before}");
    // Nothing left to do the next day.
    let again = convene::retention::run(&app.state).await.unwrap();
    assert!(again.deleted.is_empty(), "{again:?}");
}

/// Item 3: a database made before incremental vacuum is switched once at start.
#[tokio::test]
async fn an_old_database_is_switched_to_incremental_vacuum_at_start() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("convene.db");
    {
        let c = rusqlite::Connection::open(&path).unwrap();
        c.execute_batch("PRAGMA auto_vacuum = NONE; CREATE TABLE t (x); DROP TABLE t;")
            .unwrap();
        let mode: i64 = c.query_row("PRAGMA auto_vacuum", [], |r| r.get(0)).unwrap();
        assert_eq!(mode, 0);
    }
    let store = convene::store::Store::open(&path).unwrap();
    convene::retention::ensure_incremental_vacuum(&store).unwrap();
    let mode = store
        .blocking(|c| convene::store::retention::auto_vacuum_mode(c))
        .unwrap();
    assert_eq!(mode, 2);
}
