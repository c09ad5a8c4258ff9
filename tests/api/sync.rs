//! Event sync against the simulator: full and incremental syncs, expired tokens, deltas with
//! removals and duplicates, series, all-day events, window sliding, change detection,
//! webhooks, backoff and parking.

use std::time::Duration as StdDuration;

use chrono::{Duration, DurationRound, Utc};
use convene_sim::{Endpoint, EventPatch, EventSpec, EventStatus, Fault, Provider, ResponseStatus};

use crate::helpers::spawn_app;
use crate::sync_fixtures::*;

fn hour() -> chrono::DateTime<Utc> {
    Utc::now().duration_trunc(Duration::hours(1)).unwrap() + Duration::hours(2)
}

#[tokio::test]
async fn google_full_then_incremental_then_expired_token_then_full() {
    let app = spawn_app().await;
    let cal = connect(&app, Provider::Google, "alice@acme.test").await;
    let t = hour();
    let a = app
        .sim
        .create_event(
            &cal.account,
            EventSpec::new("A", t, t + Duration::minutes(30))
                .meet("https://meet.google.com/abc-defg-hij"),
        )
        .await;
    let b = app
        .sim
        .create_event(
            &cal.account,
            EventSpec::new(
                "B",
                t + Duration::days(1),
                t + Duration::days(1) + Duration::hours(1),
            )
            .description("<p>Join <a href=\"https://zoom.us/j/81234567890?pwd=abc\">Zoom</a></p>"),
        )
        .await;
    let c = app
        .sim
        .create_event(
            &cal.account,
            EventSpec::new(
                "C",
                t + Duration::days(2),
                t + Duration::days(2) + Duration::hours(1),
            ),
        )
        .await;
    // Outside the default 28-day window: never stored.
    app.sim
        .create_event(
            &cal.account,
            EventSpec::new(
                "Far",
                t + Duration::days(40),
                t + Duration::days(40) + Duration::hours(1),
            ),
        )
        .await;

    // 1. Full sync: one page, three events, one webhook.
    let first = sync(&app, &cal).await;
    assert!(first.full);
    assert_eq!((first.changed, first.requests), (3, 1));
    assert_eq!(app.sim.call_count(Endpoint::GoogleEvents).await, 1);
    let events = stored(&app, &cal).await;
    assert_eq!(
        events
            .iter()
            .map(|e| e.title.clone().unwrap())
            .collect::<Vec<_>>(),
        ["A", "B", "C"]
    );
    let ea = stored_one(&app, &cal, &a).await;
    assert_eq!(ea.meeting_platform.as_deref(), Some("google_meet"));
    assert_eq!(ea.start_time, ms(t));
    let eb = stored_one(&app, &cal, &b).await;
    assert_eq!(
        eb.meeting_url.as_deref(),
        Some("https://zoom.us/j/81234567890?pwd=abc")
    );
    let hooks = sync_webhooks(&app, &cal).await;
    assert_eq!(hooks.len(), 1);
    assert_eq!(hooks[0]["event"], "calendar.sync_events");
    assert_eq!(hooks[0]["data"]["calendar_id"], cal.id);
    assert_eq!(
        hooks[0]["data"]["last_updated_ts"],
        convene::store::ms_to_rfc3339(ea.updated_at)
    );

    // 2. Idle incremental sync: one request, nothing changed, no webhook.
    let idle = sync(&app, &cal).await;
    assert!(!idle.full);
    assert_eq!((idle.changed, idle.requests), (0, 1));
    assert_eq!(sync_webhooks(&app, &cal).await.len(), 1);

    // 3. One edit: only that event moves in the change feed.
    app.state.clock.advance(StdDuration::from_secs(5));
    app.sim
        .update_event(&cal.account, &b, EventPatch::new().title("B2"))
        .await;
    let inc = sync(&app, &cal).await;
    assert_eq!((inc.full, inc.changed, inc.requests), (false, 1, 1));
    let eb2 = stored_one(&app, &cal, &b).await;
    assert_eq!(eb2.title.as_deref(), Some("B2"));
    assert!(eb2.updated_at > eb.updated_at);
    assert_eq!(stored_one(&app, &cal, &a).await.updated_at, ea.updated_at);
    let hooks = sync_webhooks(&app, &cal).await;
    assert_eq!(hooks.len(), 2);
    assert_eq!(
        hooks[1]["data"]["last_updated_ts"],
        convene::store::ms_to_rfc3339(eb2.updated_at)
    );

    // 4. The sync token expires while C is deleted: 410, then a full sync in the same run
    //    that notices the deletion; no duplicates.
    app.sim.expire_sync_tokens(&cal.account).await;
    app.sim.delete_event(&cal.account, &c).await;
    let before = app.sim.call_count(Endpoint::GoogleEvents).await;
    let full = sync(&app, &cal).await;
    assert!(full.full);
    assert_eq!((full.changed, full.requests), (1, 2));
    assert_eq!(app.sim.call_count(Endpoint::GoogleEvents).await, before + 2);
    let events = stored(&app, &cal).await;
    assert_eq!(events.len(), 3, "no duplicates after the full resync");
    assert!(stored_one(&app, &cal, &c).await.is_deleted);
    assert!(!stored_one(&app, &cal, &a).await.is_deleted);

    // 5. Back to incremental; a new event far outside the window is ignored, a cancellation
    //    arrives as a stub and marks the event deleted.
    app.sim
        .create_event(
            &cal.account,
            EventSpec::new(
                "Later",
                t + Duration::days(50),
                t + Duration::days(50) + Duration::hours(1),
            ),
        )
        .await;
    app.sim.cancel_event(&cal.account, &a).await;
    let inc = sync(&app, &cal).await;
    assert!(!inc.full);
    assert_eq!(inc.changed, 1);
    assert!(stored_one(&app, &cal, &a).await.is_deleted);
    assert_eq!(stored(&app, &cal).await.len(), 3);
}

#[tokio::test]
async fn microsoft_delta_with_removals_duplicates_and_dead_token() {
    let app = spawn_app().await;
    let cal = connect(&app, Provider::Microsoft, "bob@contoso.test").await;
    let t = hour();
    let mut ids = Vec::new();
    for i in 0..4 {
        let s = t + Duration::hours(3 * i);
        ids.push(
            app.sim
                .create_event(
                    &cal.account,
                    EventSpec::new(format!("M{i}"), s, s + Duration::hours(1))
                        .teams("https://teams.microsoft.com/meet/12345678901?p=abc")
                        .organizer("carol@partner.test")
                        .self_response(ResponseStatus::Tentative),
                )
                .await,
        );
    }
    let first = sync(&app, &cal).await;
    assert!(first.full);
    assert_eq!(first.changed, 4);
    let m0 = stored_one(&app, &cal, &ids[0]).await;
    assert_eq!(m0.meeting_platform.as_deref(), Some("microsoft_teams"));
    assert_eq!(m0.self_response.as_deref(), Some("tentative"));
    assert!(!m0.is_hosted_by_me);
    assert_eq!(m0.organizer_email.as_deref(), Some("carol@partner.test"));

    // Delete one, cancel one, edit one; the next delta page carries every item twice.
    app.sim.delete_event(&cal.account, &ids[1]).await;
    app.sim.cancel_event(&cal.account, &ids[2]).await;
    app.sim
        .update_event(&cal.account, &ids[3], EventPatch::new().title("M3 edited"))
        .await;
    app.sim.duplicate_next_delta_items(&cal.account).await;
    let delta = sync(&app, &cal).await;
    assert!(!delta.full);
    assert_eq!(delta.items, 6, "the simulator duplicated the page");
    assert_eq!(delta.changed, 3, "duplicates are not changes");
    let events = stored(&app, &cal).await;
    assert_eq!(events.len(), 4);
    assert!(stored_one(&app, &cal, &ids[1]).await.is_deleted);
    assert!(stored_one(&app, &cal, &ids[2]).await.is_deleted);
    assert_eq!(
        stored_one(&app, &cal, &ids[3]).await.title.as_deref(),
        Some("M3 edited")
    );
    assert_eq!(sync_webhooks(&app, &cal).await.len(), 2);

    // A replay of the same state changes nothing.
    let idle = sync(&app, &cal).await;
    assert_eq!((idle.changed, idle.requests), (0, 1));

    // Dead delta token: 410, then a full round; the deleted event stays deleted, nothing
    // duplicates, and nothing changed means no webhook.
    app.sim.expire_sync_tokens(&cal.account).await;
    let full = sync(&app, &cal).await;
    assert!(full.full);
    assert_eq!(full.requests, 2);
    assert_eq!(full.changed, 0);
    assert_eq!(stored(&app, &cal).await.len(), 4);
    assert_eq!(sync_webhooks(&app, &cal).await.len(), 2);
}

#[tokio::test]
async fn recurring_series_with_one_moved_and_one_cancelled_instance() {
    let app = spawn_app().await;
    for (provider, email) in [
        (Provider::Google, "g@acme.test"),
        (Provider::Microsoft, "m@acme.test"),
    ] {
        let cal = connect(&app, provider, email).await;
        let t = hour();
        let series = app
            .sim
            .create_event(
                &cal.account,
                EventSpec::new("Weekly", t, t + Duration::minutes(30))
                    .zoom("https://acme.zoom.us/j/91234567890?pwd=w")
                    .weekly(4),
            )
            .await;
        let instances = app.sim.instance_ids(&cal.account, &series).await;
        assert_eq!(instances.len(), 4);
        let first = sync(&app, &cal).await;
        assert_eq!(first.changed, 4, "{email}");
        for e in stored(&app, &cal).await {
            assert!(e.is_recurring, "{email}");
            assert_eq!(e.meeting_platform.as_deref(), Some("zoom"));
        }
        let moved_to = t + Duration::days(7) + Duration::hours(3);
        let moved = app
            .sim
            .move_instance(
                &cal.account,
                &series,
                1,
                moved_to,
                moved_to + Duration::minutes(45),
            )
            .await;
        let cancelled = app.sim.cancel_instance(&cal.account, &series, 2).await;
        let untouched = stored_one(&app, &cal, &instances[3]).await;
        let inc = sync(&app, &cal).await;
        assert_eq!(inc.changed, 2, "{email}");
        let m = stored_one(&app, &cal, &moved).await;
        assert_eq!(
            (m.start_time, m.end_time),
            (ms(moved_to), ms(moved_to + Duration::minutes(45)))
        );
        assert!(!m.is_deleted && m.is_recurring);
        assert!(
            stored_one(&app, &cal, &cancelled).await.is_deleted,
            "{email}"
        );
        assert_eq!(
            stored_one(&app, &cal, &instances[3]).await.updated_at,
            untouched.updated_at
        );
        assert_eq!(stored(&app, &cal).await.len(), 4);
    }
}

#[tokio::test]
async fn all_day_events_are_stored_at_midnight_utc() {
    let app = spawn_app().await;
    for provider in [Provider::Google, Provider::Microsoft] {
        let cal = connect(&app, provider, &format!("{}@acme.test", provider.as_str())).await;
        let date = (Utc::now() + Duration::days(3)).date_naive();
        let id = app
            .sim
            .create_event(&cal.account, EventSpec::all_day("Offsite", date, 2))
            .await;
        sync(&app, &cal).await;
        let e = stored_one(&app, &cal, &id).await;
        assert!(e.is_all_day, "{provider:?}");
        let midnight = date.and_hms_opt(0, 0, 0).unwrap().and_utc();
        assert_eq!(e.start_time, ms(midnight));
        assert_eq!(e.end_time, ms(midnight + Duration::days(2)));
        let res = app.get(&format!("/api/v2/calendar-events/{}/", e.id)).await;
        let body: serde_json::Value = res.json().await.unwrap();
        assert_eq!(
            body["start_time"],
            convene::store::ms_to_rfc3339(ms(midnight))
        );
    }
}

#[tokio::test]
async fn window_slides_and_events_entering_it_appear_within_a_day() {
    let app = spawn_app().await;
    for provider in [Provider::Google, Provider::Microsoft] {
        let cal = connect(
            &app,
            provider,
            &format!("w-{}@acme.test", provider.as_str()),
        )
        .await;
        let now = chrono::DateTime::from_timestamp(app.state.now_ms() / 1000, 0).unwrap();
        // 28.5 days ahead: outside the 28-day window today, inside it a day later.
        let far = now + Duration::hours(28 * 24 + 12);
        let id = app
            .sim
            .create_event(
                &cal.account,
                EventSpec::new("Far", far, far + Duration::hours(1)),
            )
            .await;
        let first = sync(&app, &cal).await;
        assert!(first.full);
        assert!(stored(&app, &cal).await.is_empty());

        // Half a day later the token's window is still fresh: incremental.
        app.state.clock.advance(StdDuration::from_secs(12 * 3600));
        let inc = sync(&app, &cal).await;
        assert!(!inc.full, "{provider:?}");
        assert!(stored(&app, &cal).await.is_empty());

        // Past a day the window slides: a full sync of the new window brings the event in.
        app.state.clock.advance(StdDuration::from_secs(13 * 3600));
        let slid = sync(&app, &cal).await;
        assert!(slid.full, "{provider:?}");
        assert_eq!(slid.changed, 1);
        assert_eq!(stored_one(&app, &cal, &id).await.start_time, ms(far));
        let st = sync_state(&app, &cal).await;
        let expected = app.state.now_ms() - 24 * 3600 * 1000;
        let start = st.sync_window_start.unwrap();
        assert!(
            (expected - 10_000..=expected).contains(&start),
            "window slid to now - 1 day"
        );
    }
}

#[tokio::test]
async fn an_unchanged_resync_leaves_updated_at_alone_and_sends_no_webhook() {
    let app = spawn_app().await;
    for provider in [Provider::Google, Provider::Microsoft] {
        let cal = connect(
            &app,
            provider,
            &format!("u-{}@acme.test", provider.as_str()),
        )
        .await;
        let t = hour();
        for i in 0..3 {
            let s = t + Duration::hours(i);
            app.sim
                .create_event(
                    &cal.account,
                    EventSpec::new(format!("E{i}"), s, s + Duration::minutes(20))
                        .attendee("x@partner.test", ResponseStatus::Accepted),
                )
                .await;
        }
        sync(&app, &cal).await;
        let before = stored(&app, &cal).await;
        assert_eq!(sync_webhooks(&app, &cal).await.len(), 1);
        app.state.clock.advance(StdDuration::from_secs(60));
        // Forget the token: the next sync is a complete re-listing of identical events.
        let id = cal.id.clone();
        app.state
            .store
            .write(move |tx| convene::store::sync::clear_sync_token(tx, &id))
            .await
            .unwrap();
        let again = sync(&app, &cal).await;
        assert!(again.full);
        assert_eq!(again.changed, 0, "{provider:?}");
        let after = stored(&app, &cal).await;
        let stamps = |v: &[convene::store::events::StoredEvent]| {
            v.iter()
                .map(|e| (e.id.clone(), e.updated_at))
                .collect::<Vec<_>>()
        };
        assert_eq!(stamps(&before), stamps(&after));
        assert_eq!(sync_webhooks(&app, &cal).await.len(), 1);
    }
}

#[tokio::test]
async fn rate_limits_and_server_errors_back_off_and_recover() {
    let app = spawn_app().await;
    let interval = app.state.settings.sync_interval.as_millis() as i64;
    let g = connect(&app, Provider::Google, "rl@acme.test").await;
    let m = connect(&app, Provider::Microsoft, "rl@contoso.test").await;
    let t = hour();
    app.sim
        .create_event(&g.account, EventSpec::new("G", t, t + Duration::hours(1)))
        .await;
    app.sim
        .create_event(&m.account, EventSpec::new("M", t, t + Duration::hours(1)))
        .await;

    // Google 429 with Retry-After 600 s; Graph 429 with Retry-After 30 s.
    app.sim
        .inject_fault(
            Endpoint::GoogleEvents,
            Fault::RateLimited429 {
                retry_after_secs: 600,
            },
            1,
        )
        .await;
    app.sim
        .inject_fault(
            Endpoint::MicrosoftDelta,
            Fault::RateLimited429 {
                retry_after_secs: 30,
            },
            1,
        )
        .await;
    let now = app.state.now_ms();
    let report = convene::sync::sync_due(&app.state).await.unwrap();
    assert_eq!((report.synced, report.failed), (0, 2));
    let gs = sync_state(&app, &g).await;
    assert_eq!(gs.sync_failures, 1);
    assert!(
        gs.next_sync_at.unwrap() >= now + 600_000,
        "Retry-After honoured"
    );
    assert!(gs
        .last_sync_error
        .as_deref()
        .unwrap()
        .contains("rate limited"));
    let ms_state = sync_state(&app, &m).await;
    // Exponential backoff is the floor when the provider asks for less.
    assert!(ms_state.next_sync_at.unwrap() >= now + 2 * interval);

    // Nothing is due yet: the sweep makes no provider call.
    let calls = app.sim.call_count(Endpoint::GoogleEvents).await
        + app.sim.call_count(Endpoint::MicrosoftDelta).await;
    let report = convene::sync::sync_due(&app.state).await.unwrap();
    assert_eq!(report.synced + report.failed, 0);
    assert_eq!(
        app.sim.call_count(Endpoint::GoogleEvents).await
            + app.sim.call_count(Endpoint::MicrosoftDelta).await,
        calls
    );

    // Google 403 rateLimitExceeded and then a 500 grow the backoff further.
    app.state.clock.advance(StdDuration::from_secs(601));
    app.sim
        .inject_fault(Endpoint::GoogleEvents, Fault::Google403RateLimitExceeded, 1)
        .await;
    app.sim
        .inject_fault(Endpoint::MicrosoftDelta, Fault::Status500, 1)
        .await;
    let now = app.state.now_ms();
    let report = convene::sync::sync_due(&app.state).await.unwrap();
    assert_eq!(report.failed, 2);
    let gs = sync_state(&app, &g).await;
    assert_eq!(gs.sync_failures, 2);
    assert!(gs.next_sync_at.unwrap() >= now + 4 * interval);
    let ms_state = sync_state(&app, &m).await;
    assert_eq!(ms_state.sync_failures, 2);
    assert!(ms_state.last_sync_error.as_deref().unwrap().contains("500"));

    // Malformed JSON is a failure like any other, not a crash.
    app.state.clock.advance(StdDuration::from_secs(3600));
    app.sim
        .inject_fault(Endpoint::GoogleEvents, Fault::MalformedJson, 1)
        .await;
    let report = convene::sync::sync_due(&app.state).await.unwrap();
    assert_eq!((report.synced, report.failed), (1, 1));

    // Recovery: the next due sweep succeeds, resets the failures and stores the events.
    app.state.clock.advance(StdDuration::from_secs(3600));
    let report = convene::sync::sync_due(&app.state).await.unwrap();
    assert_eq!((report.synced, report.failed), (2, 0));
    for cal in [&g, &m] {
        let st = sync_state(&app, cal).await;
        assert_eq!(st.sync_failures, 0);
        assert!(st.last_sync_error.is_none());
        assert_eq!(stored(&app, cal).await.len(), 1);
        let next = st.next_sync_at.unwrap() - app.state.now_ms();
        assert!(
            (interval..=interval + interval / 5 + 1000).contains(&next),
            "regular interval with jitter: {next}"
        );
    }
}

#[tokio::test]
async fn a_revoked_refresh_token_parks_the_calendar() {
    let app = spawn_app().await;
    let cal = connect(&app, Provider::Google, "gone@acme.test").await;
    app.sim.revoke_all_tokens(&cal.account).await;
    let report = convene::sync::sync_due(&app.state).await.unwrap();
    assert_eq!(report.failed, 1);
    let st = sync_state(&app, &cal).await;
    assert_eq!(st.next_sync_at, Some(convene::store::sync::PARKED));
    assert!(st.last_sync_error.unwrap().contains("invalid_grant"));
    // Parked: later sweeps leave it alone (no token request, no events request).
    app.state
        .clock
        .advance(StdDuration::from_secs(7 * 24 * 3600));
    let refreshes = app.sim.token_refresh_count(Provider::Google).await;
    let report = convene::sync::sync_due(&app.state).await.unwrap();
    assert_eq!(report.failed + report.synced, 0);
    assert_eq!(
        app.sim.token_refresh_count(Provider::Google).await,
        refreshes
    );
    assert_eq!(app.sim.call_count(Endpoint::GoogleEvents).await, 0);
}

#[tokio::test]
async fn one_calendar_is_never_synced_twice_at_once() {
    let app = spawn_app().await;
    let cal = connect(&app, Provider::Microsoft, "twice@contoso.test").await;
    let t = hour();
    for i in 0..5 {
        let s = t + Duration::hours(i);
        app.sim
            .create_event(
                &cal.account,
                EventSpec::new(format!("E{i}"), s, s + Duration::minutes(30)),
            )
            .await;
    }
    // Slow answers keep the first sync in flight while the others start.
    app.sim
        .inject_fault(Endpoint::MicrosoftDelta, Fault::Slow { millis: 300 }, 1)
        .await;
    let (a, b, report) = tokio::join!(
        convene::sync::sync_calendar(&app.state, &cal.id),
        convene::sync::sync_calendar(&app.state, &cal.id),
        async {
            tokio::time::sleep(StdDuration::from_millis(100)).await;
            convene::sync::sync_due(&app.state).await.unwrap()
        }
    );
    let (a, b) = (a.unwrap(), b.unwrap());
    // Serialized: exactly one full listing, then one incremental round; the sweep skipped it.
    assert_eq!([a.full, b.full].iter().filter(|f| **f).count(), 1);
    assert_eq!(a.changed + b.changed, 5);
    assert_eq!(report.busy, 1);
    assert_eq!(app.sim.call_count(Endpoint::MicrosoftDelta).await, 2);
    assert_eq!(stored(&app, &cal).await.len(), 5);
    assert_eq!(sync_webhooks(&app, &cal).await.len(), 1);
}

#[tokio::test]
async fn v2_calendar_webhooks_also_go_to_its_webhook_url() {
    let app = spawn_app().await;
    let cal = connect(&app, Provider::Google, "hook@acme.test").await;
    let t = hour();
    app.sim
        .create_event(
            &cal.account,
            EventSpec::new("E", t, t + Duration::hours(1)).status(EventStatus::Tentative),
        )
        .await;
    sync(&app, &cal).await;
    let id = cal.id.clone();
    let targets: Vec<String> = app
        .state
        .store
        .read(move |c| {
            let mut s = c.prepare(
                "SELECT d.target_url FROM webhook_deliveries d JOIN webhook_messages m ON m.id = d.message_id
                 WHERE m.ordering_key = ?1 AND d.target_url IS NOT NULL",
            )?;
            let rows = s.query_map([id], |r| r.get(0))?.collect::<Result<Vec<String>, _>>()?;
            Ok::<_, convene::store::StoreError>(rows)
        })
        .await
        .unwrap();
    assert_eq!(targets, ["https://hooks.app.test/cal"]);
}

#[tokio::test]
async fn the_background_sweep_syncs_a_new_calendar_when_woken() {
    use crate::helpers::{spawn_app_with, Options};
    let app = spawn_app_with(Options {
        jobs: true,
        ..Default::default()
    })
    .await;
    let cal = connect(&app, Provider::Google, "bg@acme.test").await;
    let t = hour();
    app.sim
        .create_event(&cal.account, EventSpec::new("E", t, t + Duration::hours(1)))
        .await;
    app.state.wake.sync.notify_one();
    // Wait for the job (bounded); the assertion is on the outcome, not on timing.
    for _ in 0..200 {
        if !stored(&app, &cal).await.is_empty() {
            break;
        }
        tokio::time::sleep(StdDuration::from_millis(25)).await;
    }
    assert_eq!(stored(&app, &cal).await.len(), 1);
    assert!(sync_state(&app, &cal).await.last_sync_at.is_some());
}

#[tokio::test]
async fn admin_pages_show_sync_status_events_and_sync_now() {
    use crate::admin::{input_value, logged_in, new_client};
    let app = spawn_app().await;
    let cal = connect(&app, Provider::Google, "admin-view@acme.test").await;
    let t = hour();
    app.sim
        .create_event(
            &cal.account,
            EventSpec::new("Roadmap review", t, t + Duration::hours(1))
                .zoom("https://acme.zoom.us/j/81234567890?pwd=abc"),
        )
        .await;
    let gone = app
        .sim
        .create_event(
            &cal.account,
            EventSpec::new(
                "Cancelled lunch",
                t + Duration::hours(2),
                t + Duration::hours(3),
            ),
        )
        .await;
    sync(&app, &cal).await;
    app.sim.delete_event(&cal.account, &gone).await;
    sync(&app, &cal).await;

    // Not logged in: to the login page.
    let res = new_client()
        .get(app.url("/admin/calendars/"))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 303);

    let client = logged_in(&app).await;
    let page = client
        .get(app.url("/admin/calendars/"))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(page.contains("admin-view@acme.test"));
    assert!(page.contains(&format!("/admin/calendars/{}/", cal.id)));

    let url = app.url(&format!("/admin/calendars/{}/", cal.id));
    let page = client.get(&url).send().await.unwrap().text().await.unwrap();
    assert!(page.contains("Roadmap review"));
    assert!(page.contains(">Zoom</a>"));
    assert!(page.contains("https://acme.zoom.us/j/81234567890?pwd=abc"));
    let deleted_row = page
        .split("<tr")
        .find(|r| r.contains("Cancelled lunch"))
        .unwrap();
    assert!(
        deleted_row.starts_with(" class=\"dim\""),
        "deleted events are greyed"
    );
    assert!(deleted_row.contains("deleted"));

    // Sync now: a provider failure is reported and recorded as the last error.
    app.sim
        .inject_fault(Endpoint::GoogleEvents, Fault::Status500, 1)
        .await;
    let csrf = input_value(&page, "csrf_token");
    let sync_url = app.url(&format!("/admin/calendars/{}/sync-now/", cal.id));
    let res = client
        .post(&sync_url)
        .form(&[("csrf_token", csrf.as_str())])
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 303);
    let page = client.get(&url).send().await.unwrap().text().await.unwrap();
    assert!(page.contains("Sync failed"), "{page}");
    assert!(page.contains("google answered 500"));
    // Without the CSRF token nothing runs.
    let before = app.sim.call_count(Endpoint::GoogleEvents).await;
    let res = client.post(&sync_url).send().await.unwrap();
    assert_eq!(res.status(), 403);
    assert_eq!(app.sim.call_count(Endpoint::GoogleEvents).await, before);
    // And a successful one clears the error.
    client
        .post(&sync_url)
        .form(&[("csrf_token", csrf.as_str())])
        .send()
        .await
        .unwrap();
    let page = client.get(&url).send().await.unwrap().text().await.unwrap();
    assert!(page.contains("Synced (incremental)"), "{page}");
    assert!(sync_state(&app, &cal).await.last_sync_error.is_none());
}

#[tokio::test]
async fn a_refused_access_token_is_refreshed_once_and_the_sync_goes_on() {
    let app = spawn_app().await;
    let cal = connect(&app, Provider::Microsoft, "stale@contoso.test").await;
    let t = hour();
    app.sim
        .create_event(&cal.account, EventSpec::new("E", t, t + Duration::hours(1)))
        .await;
    app.plant_refused_access_token(&cal.id).await;
    let refreshes = app.sim.token_refresh_count(Provider::Microsoft).await;
    let out = sync(&app, &cal).await;
    assert_eq!(out.changed, 1);
    assert_eq!(out.requests, 2, "one 401, one retry with a fresh token");
    assert_eq!(
        app.sim.token_refresh_count(Provider::Microsoft).await,
        refreshes + 1
    );
}
