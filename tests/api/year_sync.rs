//! Issue 13, items 8 to 12: sync results on the real providers. Graph times in the
//! mailbox's zone, all-day events at the window's edge, unreadable items, series cancelled
//! as a whole, and a sync that outlives a credentials reset.

use std::time::Duration as StdDuration;

use chrono::{Duration, DurationRound, Utc};
use convene_sim::{Endpoint, EventSpec, Fault, Provider};
use serde_json::json;

use crate::admin::logged_in;
use crate::admin_webhooks::page;
use crate::helpers::spawn_app;
use crate::sync_fixtures::*;

fn hour() -> chrono::DateTime<Utc> {
    Utc::now().duration_trunc(Duration::hours(1)).unwrap() + Duration::hours(2)
}

/// Item 8: a mailbox that answers in its own zone (`Prefer` absent or ignored), with a
/// Windows zone name or an IANA one: the stored times are the real instants.
#[tokio::test]
async fn graph_times_in_the_mailbox_zone_are_converted() {
    let app = spawn_app().await;
    let cal = connect(&app, Provider::Microsoft, "m@acme.test").await;
    app.sim
        .set_graph_time_zone("Pacific Standard Time", true)
        .await;
    let t = hour();
    let a = app
        .sim
        .create_event(
            &cal.account,
            EventSpec::new("Standup", t, t + Duration::minutes(30)),
        )
        .await;
    sync(&app, &cal).await;
    let ea = stored_one(&app, &cal, &a).await;
    assert_eq!(
        (ea.start_time, ea.end_time),
        (ms(t), ms(t + Duration::minutes(30))),
        "Pacific Standard Time read as such, not as UTC"
    );
    assert!(ea.raw.contains("Pacific Standard Time"));

    app.sim.set_graph_time_zone("Asia/Kolkata", true).await;
    let b = app
        .sim
        .create_event(
            &cal.account,
            EventSpec::new("Review", t + Duration::hours(3), t + Duration::hours(4)),
        )
        .await;
    sync(&app, &cal).await;
    assert_eq!(
        stored_one(&app, &cal, &b).await.start_time,
        ms(t + Duration::hours(3))
    );
}

/// Item 9: Google lists all-day events by their extent in the calendar's zone. In a UTC+10
/// calendar, a day that ended (there) before the window's start drops out of the listing
/// while its stored UTC-midnight row still overlaps the window: not a deletion.
#[tokio::test]
async fn an_all_day_event_at_the_window_edge_is_not_deleted() {
    let app = spawn_app().await;
    let cal = connect(&app, Provider::Google, "g@acme.test").await;
    app.sim
        .set_calendar_time_zone(&cal.account, "Etc/GMT-10")
        .await;
    let day = app.state.clock.now().date_naive() + Duration::days(3);
    let id = app
        .sim
        .create_event(&cal.account, EventSpec::all_day("Offsite", day, 1))
        .await;
    // And one that is really deleted, inside the window: still noticed.
    let gone = app
        .sim
        .create_event(
            &cal.account,
            EventSpec::all_day("Gone", day + Duration::days(5), 1),
        )
        .await;
    sync(&app, &cal).await;
    assert!(!stored_one(&app, &cal, &id).await.is_deleted);
    let hooks = sync_webhooks(&app, &cal).await.len();

    // Now is day+1 18:00 UTC: the window (one day back) starts at `day` 18:00 UTC. In
    // UTC+10 the event's day ended at `day` 14:00 UTC; its stored row ends at day+1 00:00.
    let target = (day + Duration::days(1))
        .and_hms_opt(18, 0, 0)
        .unwrap()
        .and_utc()
        .timestamp_millis();
    let by = target - app.state.now_ms();
    app.state.clock.advance(StdDuration::from_millis(by as u64));
    app.sim.delete_event(&cal.account, &gone).await;
    let out = sync(&app, &cal).await;
    assert!(out.full, "the window moved on by days: a full listing");
    assert!(
        !stored_one(&app, &cal, &id).await.is_deleted,
        "absent from the listing only because of the calendar's time zone"
    );
    assert!(stored_one(&app, &cal, &gone).await.is_deleted);
    assert_eq!(
        sync_webhooks(&app, &cal).await.len(),
        hooks + 1,
        "one, for `gone`"
    );
}

/// Item 10: an item that does not normalize keeps its stored copy, is recorded (admin
/// calendar page), and the incremental sync does not move past it.
#[tokio::test]
async fn an_unreadable_event_is_kept_recorded_and_not_skipped() {
    let app = spawn_app().await;
    let cal = connect(&app, Provider::Google, "g@acme.test").await;
    let t = hour();
    let id = app
        .sim
        .create_event(
            &cal.account,
            EventSpec::new("Board", t, t + Duration::hours(1)),
        )
        .await;
    sync(&app, &cal).await;
    let before = stored_one(&app, &cal, &id).await;
    let token = sync_state(&app, &cal).await.sync_token;

    app.sim.corrupt_event(&cal.account, &id, true).await;
    let out = sync(&app, &cal).await;
    assert_eq!((out.full, out.unreadable), (false, 1));
    let kept = stored_one(&app, &cal, &id).await;
    assert!(!kept.is_deleted);
    assert_eq!(
        kept.updated_at, before.updated_at,
        "the stored copy is untouched"
    );
    assert_eq!(
        sync_state(&app, &cal).await.sync_token,
        token,
        "the incremental sync did not move past the item"
    );
    // A full listing that contains it does not call it absent.
    app.sim.expire_sync_tokens(&cal.account).await;
    let out = sync(&app, &cal).await;
    assert_eq!((out.full, out.unreadable), (true, 1));
    assert!(!stored_one(&app, &cal, &id).await.is_deleted);
    assert_eq!(
        sync_webhooks(&app, &cal).await.len(),
        1,
        "no change announced"
    );

    let admin = logged_in(&app).await;
    let (status, html) = page(&app, &admin, &format!("/admin/calendars/{}/", cal.id)).await;
    assert_eq!(status, 200);
    assert!(html.contains("Events the sync could not read"), "{html}");
    assert!(html.contains(&id));

    // Readable again: applied, the record goes away.
    app.sim.corrupt_event(&cal.account, &id, false).await;
    let out = sync(&app, &cal).await;
    assert_eq!(out.unreadable, 0);
    let (_, html) = page(&app, &admin, &format!("/admin/calendars/{}/", cal.id)).await;
    assert!(!html.contains("Events the sync could not read"));
}

/// Many unreadable items in one calendar: each record goes when its item reads again or is
/// deleted, and only then; records of other calendars are left alone.
#[tokio::test]
async fn unreadable_records_go_item_by_item_when_read_again_or_deleted() {
    let app = spawn_app().await;
    let cal = connect(&app, Provider::Google, "g@acme.test").await;
    let other = connect(&app, Provider::Google, "o@acme.test").await;
    let t = hour();
    let mut ids = Vec::new();
    for i in 0..6 {
        let spec = EventSpec::new(format!("E{i}"), t, t + Duration::hours(1));
        ids.push(app.sim.create_event(&cal.account, spec).await);
    }
    let spec = EventSpec::new("Other", t, t + Duration::hours(1));
    let other_id = app.sim.create_event(&other.account, spec).await;
    sync(&app, &cal).await;
    sync(&app, &other).await;
    for id in &ids {
        app.sim.corrupt_event(&cal.account, id, true).await;
    }
    app.sim.corrupt_event(&other.account, &other_id, true).await;
    assert_eq!(sync(&app, &cal).await.unreadable, 6);
    assert_eq!(sync(&app, &other).await.unreadable, 1);
    let failures = |cal_id: String| {
        let store = app.state.store.clone();
        async move {
            let mut v: Vec<String> = store
                .read(move |c| convene::store::sync_failures::list(c, &cal_id))
                .await
                .unwrap()
                .into_iter()
                .map(|f| f.platform_id)
                .collect();
            v.sort();
            v
        }
    };
    let mut all = ids.clone();
    all.sort();
    assert_eq!(failures(cal.id.clone()).await, all);

    // Three read again, two are deleted, one stays unreadable.
    for id in &ids[..3] {
        app.sim.corrupt_event(&cal.account, id, false).await;
    }
    for id in &ids[3..5] {
        app.sim.delete_event(&cal.account, id).await;
    }
    let out = sync(&app, &cal).await;
    assert_eq!(out.unreadable, 1);
    assert_eq!(failures(cal.id.clone()).await, vec![ids[5].clone()]);
    assert_eq!(failures(other.id.clone()).await, vec![other_id.clone()]);
    for id in &ids[..3] {
        assert!(!stored_one(&app, &cal, id).await.is_deleted);
    }

    app.sim.corrupt_event(&cal.account, &ids[5], false).await;
    assert_eq!(sync(&app, &cal).await.unreadable, 0);
    assert!(failures(cal.id.clone()).await.is_empty());
    assert_eq!(failures(other.id.clone()).await, vec![other_id]);
}

/// Item 11: Google reports a series cancelled as a whole as ONE cancelled master id; the
/// stored rows are its instances.
#[tokio::test]
async fn a_series_cancelled_as_a_whole_deletes_every_stored_instance() {
    let app = spawn_app().await;
    let cal = connect(&app, Provider::Google, "g@acme.test").await;
    let t = hour();
    let series = app
        .sim
        .create_event(
            &cal.account,
            EventSpec::new("Weekly", t, t + Duration::hours(1)).weekly(3),
        )
        .await;
    sync(&app, &cal).await;
    let instances = app.sim.instance_ids(&cal.account, &series).await;
    for i in &instances {
        assert!(!stored_one(&app, &cal, i).await.is_deleted);
    }
    app.sim.cancel_series(&cal.account, &series).await;
    let out = sync(&app, &cal).await;
    assert_eq!((out.full, out.items, out.changed), (false, 1, 3));
    for i in &instances {
        assert!(stored_one(&app, &cal, i).await.is_deleted, "{i}");
    }
}

/// Item 12: a V2 `PATCH` to another account while a sync of the old one is in flight: the
/// old sync must not commit the old account's events and token.
#[tokio::test]
async fn a_sync_cannot_overwrite_a_credentials_reset() {
    let app = spawn_app().await;
    let cal = connect(&app, Provider::Google, "old@acme.test").await;
    let t = hour();
    app.sim
        .create_event(
            &cal.account,
            EventSpec::new("Old account", t, t + Duration::hours(1)),
        )
        .await;
    let new_account = app
        .sim
        .create_account(Provider::Google, "new@acme.test")
        .await;
    let refresh = app
        .sim
        .mint_refresh_token(Provider::Google, GOOGLE_CLIENT.0, &new_account, &[])
        .await;

    app.sim
        .inject_fault(Endpoint::GoogleEvents, Fault::HoldAnswer, 1)
        .await;
    let (state, id) = (app.state.clone(), cal.id.clone());
    let running = tokio::spawn(async move { convene::sync::sync_calendar(&state, &id).await });
    app.sim.wait_held().await;
    let res = app
        .patch_json(
            &format!("/api/v2/calendars/{}/", cal.id),
            &json!({"oauth_refresh_token": refresh}),
        )
        .await;
    assert_eq!(res.status(), 200);
    app.sim.release_held().await;
    let result = running.await.unwrap();
    assert!(
        matches!(result, Err(convene::sync::SyncError::CredentialsChanged)),
        "{result:?}"
    );
    assert!(
        stored(&app, &cal).await.is_empty(),
        "no event of the old account"
    );
    let row = sync_state(&app, &cal).await;
    assert_eq!(row.sync_token, None, "no sync token of the old account");
    assert_eq!(row.platform_email.as_deref(), Some("new@acme.test"));
}
