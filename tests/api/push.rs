//! Provider push notifications (push.md) against the simulator: Google channels and Graph
//! subscriptions (exact fields, handshake), the notification endpoints (valid, forged,
//! bursts, during a sync), renewal on a shrunk clock, refusals, dropped notifications and
//! the safety poll, lifecycle events, delete/disconnect/reconnect, secrets in logs, the
//! admin pages, settings.
//!
//! Sweeps are called directly; the latency test runs the sweeps' wake-up loops only (no
//! tick exists), so a webhook that arrives proves the chain notification → due → sync →
//! outbox → delivery.

use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration as StdDuration;

use chrono::{Duration, DurationRound, Utc};
use convene::domain::{CalendarStatus, ChannelState, PushState};
use convene::push::renew::{maintain_due, Report};
use convene::store::calendars::Calendar;
use convene::store::push::{self as db, Channel};
use convene::store::sync::insert_calendar_for_sync;
use convene_sim::{Endpoint, EventPatch, EventSpec, LifecycleEvent, Provider};
use serde_json::{json, Value};

use crate::helpers::{spawn_app_with, Options, TestApp};
use crate::receiver::Receiver;
use crate::sync_fixtures::{platform, stored, sync, Cal, GOOGLE_CLIENT, MICROSOFT_CLIENT};

const HOUR: StdDuration = StdDuration::from_secs(3600);
const DAY: StdDuration = StdDuration::from_secs(24 * 3600);

async fn push_app() -> TestApp {
    push_app_with(vec![]).await
}

async fn push_app_with(mut env: Vec<(String, String)>) -> TestApp {
    env.push(("CONVENE_PUSH".into(), "on".into()));
    spawn_app_with(Options {
        env,
        ..Default::default()
    })
    .await
}

/// A connected V2 calendar for a new simulator account; its webhooks also go to `webhook`
/// (None: only to workspace endpoints, of which the tests register none).
async fn calendar(app: &TestApp, provider: Provider, email: &str, webhook: Option<String>) -> Cal {
    let (cid, secret) = match provider {
        Provider::Google => GOOGLE_CLIENT,
        _ => MICROSOFT_CLIENT,
    };
    app.sim
        .create_oauth_client(provider, cid, secret, vec![])
        .await;
    let account = app.sim.create_account(provider, email).await;
    let refresh = app
        .sim
        .mint_refresh_token(provider, cid, &account, &[])
        .await;
    let now = app.state.now_ms();
    let cal = Calendar {
        oauth_client_id: Some(cid.to_string()),
        oauth_client_secret_enc: Some(app.state.keys.encrypt(secret)),
        oauth_refresh_token_enc: Some(app.state.keys.encrypt(&refresh)),
        platform_email: Some(email.to_string()),
        webhook_url: webhook,
        ..Calendar::new(
            "v2".parse().unwrap(),
            platform(provider).parse().unwrap(),
            CalendarStatus::Connected,
            now,
        )
    };
    let id = app
        .state
        .store
        .write(move |tx| insert_calendar_for_sync(tx, &cal, now))
        .await
        .unwrap();
    Cal {
        id,
        account,
        email: email.to_string(),
    }
}

async fn sweep(app: &TestApp) -> Report {
    maintain_due(&app.state).await.unwrap()
}

/// First sync, then the push sweep subscribes; returns the live channel row.
async fn subscribed(app: &TestApp, cal: &Cal) -> Channel {
    sync(app, cal).await;
    let report = sweep(app).await;
    assert_eq!(report.created, 1, "{report:?}");
    app.sim.push_flush().await;
    let active = active(app, cal).await;
    assert_eq!(active.len(), 1);
    assert_eq!(active[0].state, ChannelState::Live);
    active[0].clone()
}

async fn active(app: &TestApp, cal: &Cal) -> Vec<Channel> {
    let id = cal.id.clone();
    app.state
        .store
        .read(move |c| db::active_of(c, &id))
        .await
        .unwrap()
}

async fn all_channels(app: &TestApp) -> Vec<Channel> {
    app.state
        .store
        .read(|c| db::due(c, i64::MAX, 10_000))
        .await
        .unwrap()
}

async fn status(app: &TestApp, cal: &Cal) -> db::PushStatus {
    let id = cal.id.clone();
    app.state
        .store
        .read(move |c| db::status(c, &id))
        .await
        .unwrap()
}

async fn push_state(app: &TestApp, cal: &Cal) -> PushState {
    let (id, now) = (cal.id.clone(), app.state.now_ms());
    app.state
        .store
        .read(move |c| db::calendar_push(c, &id, true, now))
        .await
        .unwrap()
        .state
}

async fn next_sync_at(app: &TestApp, cal: &Cal) -> Option<i64> {
    crate::sync_fixtures::sync_state(app, cal)
        .await
        .next_sync_at
}

/// Every simulator endpoint's call count.
async fn counts(app: &TestApp) -> HashMap<Endpoint, u64> {
    let mut m = HashMap::new();
    for e in Endpoint::ALL {
        m.insert(e, app.sim.call_count(e).await);
    }
    m
}

fn hour() -> chrono::DateTime<Utc> {
    Utc::now().duration_trunc(Duration::hours(1)).unwrap() + Duration::hours(2)
}

fn spec(title: &str) -> EventSpec {
    let t = hour();
    EventSpec::new(title, t, t + Duration::minutes(30))
}

/// The sim's view of the (single) live Google channel.
async fn sim_channel(app: &TestApp) -> convene_sim::PushChannelInfo {
    let l = app.sim.push_listing().await;
    assert_eq!(l.channels.len(), 1, "{l:?}");
    l.channels[0].clone()
}

async fn sim_subscription(app: &TestApp) -> convene_sim::PushSubscriptionInfo {
    let l = app.sim.push_listing().await;
    assert_eq!(l.subscriptions.len(), 1, "{l:?}");
    l.subscriptions[0].clone()
}

/// A Google notification with the given headers (None: header left out).
async fn google_post(app: &TestApp, headers: &[(&str, Option<&str>)]) -> u16 {
    let mut req = app.client.post(app.url("/api/v1/push/google/"));
    for (k, v) in headers {
        if let Some(v) = v {
            req = req.header(*k, *v);
        }
    }
    req.send().await.unwrap().status().as_u16()
}

async fn google_notify(app: &TestApp, ch: &convene_sim::PushChannelInfo, state: &str) -> u16 {
    google_post(
        app,
        &[
            ("X-Goog-Channel-ID", Some(&ch.id)),
            ("X-Goog-Channel-Token", ch.token.as_deref()),
            ("X-Goog-Resource-ID", Some(&ch.resource_id)),
            ("X-Goog-Resource-State", Some(state)),
            ("X-Goog-Message-Number", Some("7")),
        ],
    )
    .await
}

async fn graph_post(app: &TestApp, path: &str, body: &Value) -> u16 {
    app.client
        .post(app.url(path))
        .json(body)
        .send()
        .await
        .unwrap()
        .status()
        .as_u16()
}

fn graph_item(sub: &str, client_state: &str) -> Value {
    json!({
        "subscriptionId": sub,
        "clientState": client_state,
        "changeType": "updated",
        "resource": "Users/x/Events/y",
        "resourceData": {"@odata.type": "#Microsoft.Graph.Event", "id": "y"},
        "subscriptionExpirationDateTime": "2030-01-01T00:00:00Z",
        "tenantId": "t",
    })
}

// ------------------------------------------------------------------------------- creation

#[tokio::test]
async fn google_channel_is_created_after_the_first_sync_with_the_exact_fields() {
    let app = push_app().await;
    let cal = calendar(&app, Provider::Google, "alice@acme.test", None).await;
    // Not before the first sync.
    assert_eq!(sweep(&app).await, Report::default());
    assert_eq!(push_state(&app, &cal).await, PushState::Pending);
    assert_eq!(app.sim.call_count(Endpoint::GoogleWatch).await, 0);

    let before = app.state.now_ms();
    let ch = subscribed(&app, &cal).await;
    let sim = sim_channel(&app).await;
    // Convene names the channel; the address is the public Google URL; the token is a
    // URL-safe secret of at least 32 bytes; the TTL asked for is a week.
    assert_eq!(sim.id, ch.id);
    assert_eq!(ch.external_id.as_deref(), Some(ch.id.as_str()));
    assert!(uuid::Uuid::parse_str(&sim.id).is_ok());
    assert_eq!(sim.address, app.url("/api/v1/push/google/"));
    let token = sim.token.clone().expect("a channel token");
    assert!(token.len() >= 43, "{token}");
    assert!(token
        .chars()
        .all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_'));
    let week = 7 * 24 * 3600 * 1000;
    let exp = sim.expiration.timestamp_millis();
    assert!((exp - before - week).abs() < 60_000, "ttl 604800 s");
    // Stored: resource id, expiry, token sealed (not in the clear).
    assert_eq!(ch.resource_id.as_deref(), Some(sim.resource_id.as_str()));
    assert_eq!(ch.expires_at, Some(exp));
    assert_ne!(ch.secret_enc, token);
    assert!(!ch.secret_enc.contains(&token));
    assert_eq!(app.state.keys.decrypt(&ch.secret_enc).unwrap(), token);
    // Renewal is due when less than 24 h remain.
    assert_eq!(ch.due_at, exp - 24 * 3600 * 1000);
    assert_eq!(push_state(&app, &cal).await, PushState::Live);
    // Google's `sync` message arrived and was accepted, without a sync.
    assert_eq!(app.sim.call_count(Endpoint::GoogleEvents).await, 1);
    let st = status(&app, &cal).await;
    assert!(st.last_notification_at.is_some());
    assert_eq!(st.reason, None);
    // A second sweep does nothing.
    assert_eq!(sweep(&app).await, Report::default());
    assert_eq!(app.sim.call_count(Endpoint::GoogleWatch).await, 1);
}

#[tokio::test]
async fn graph_subscription_is_created_with_the_handshake_during_the_call() {
    let app = push_app().await;
    let cal = calendar(&app, Provider::Microsoft, "bob@contoso.test", None).await;
    sync(&app, &cal).await;
    let before = app.state.now_ms();
    let report = sweep(&app).await;
    assert_eq!(report.created, 1, "{report:?}");
    // The simulator validated both URLs before answering the create: Convene's server
    // answered while its own create call was in flight.
    let deliveries = app.sim.push_flush().await;
    let validations: Vec<_> = deliveries
        .iter()
        .filter(|d| d.kind == "validation")
        .collect();
    assert_eq!(validations.len(), 2, "{deliveries:?}");
    assert!(validations.iter().all(|d| d.status == Some(200)));
    let urls: Vec<&str> = validations.iter().map(|d| d.url.as_str()).collect();
    assert!(urls.contains(&app.url("/api/v1/push/microsoft/").as_str()));
    assert!(urls.contains(&app.url("/api/v1/push/microsoft/lifecycle/").as_str()));

    let sub = sim_subscription(&app).await;
    assert_eq!(sub.resource, "me/events");
    assert_eq!(sub.change_type, "created,updated,deleted");
    assert_eq!(sub.notification_url, app.url("/api/v1/push/microsoft/"));
    assert_eq!(
        sub.lifecycle_notification_url.as_deref(),
        Some(app.url("/api/v1/push/microsoft/lifecycle/").as_str())
    );
    let state = sub.client_state.clone().expect("clientState");
    assert!(!state.is_empty() && state.len() <= 128);
    let exp = sub.expiration.timestamp_millis();
    assert!(
        (exp - before - 4230 * 60 * 1000).abs() < 60_000,
        "4230 minutes"
    );

    let ch = &active(&app, &cal).await[0];
    assert_eq!(ch.state, ChannelState::Live);
    assert_eq!(ch.external_id.as_deref(), Some(sub.id.as_str()));
    assert_eq!(ch.expires_at, Some(exp));
    assert_eq!(app.state.keys.decrypt(&ch.secret_enc).unwrap(), state);
    assert!(!ch.secret_enc.contains(&state));
    // Renewal at half-life.
    let now = ch.updated_at;
    assert!((ch.due_at - (now + (exp - now) / 2)).abs() < 1000);
    assert_eq!(push_state(&app, &cal).await, PushState::Live);
}

#[tokio::test]
async fn the_validation_handshake_echoes_the_decoded_token_as_text() {
    let app = push_app().await;
    for path in [
        "/api/v1/push/microsoft/",
        "/api/v1/push/microsoft/lifecycle/",
    ] {
        let res = app
            .client
            .post(app.url(&format!(
                "{path}?validationToken=Validation%3a+Testing+client+application+reachability%2Fx%26y"
            )))
            .header("Content-Type", "text/plain")
            .send()
            .await
            .unwrap();
        assert_eq!(res.status(), 200);
        assert!(res.headers()["content-type"]
            .to_str()
            .unwrap()
            .starts_with("text/plain"));
        assert_eq!(
            res.text().await.unwrap(),
            "Validation: Testing client application reachability/x&y"
        );
    }
}

// -------------------------------------------------------------------------------- latency

/// Runs the wake-up loops of the sweeps that have one (the sync loop as the server runs it),
/// and nothing else (no tick).
fn wake_loops(app: &TestApp) -> Vec<tokio::task::JoinHandle<()>> {
    convene::jobs::all()
        .into_iter()
        .filter(|s| s.waker.is_some())
        .map(|sweep| {
            let st = app.state.clone();
            if let Some(run_loop) = sweep.continuous {
                return tokio::spawn(run_loop(st, Box::new(|_, _, _| {})));
            }
            let sweep = Arc::new(sweep);
            tokio::spawn(async move {
                let notify = (sweep.waker.unwrap())(&st.wake);
                loop {
                    notify.notified().await;
                    while !convene::jobs::run_sweep(&st, &sweep).await {
                        tokio::time::sleep(StdDuration::from_millis(20)).await;
                    }
                }
            })
        })
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_change_arrives_through_the_api_and_by_webhook_without_any_tick() {
    for provider in [Provider::Google, Provider::Microsoft] {
        let app = push_app().await;
        let mut hooks = Receiver::start().await;
        let cal = calendar(&app, provider, "carol@acme.test", Some(hooks.url("/cal"))).await;
        subscribed(&app, &cal).await;
        let loops = wake_loops(&app);
        app.sim.reset_counts().await;
        let list = if provider == Provider::Google {
            Endpoint::GoogleEvents
        } else {
            Endpoint::MicrosoftDelta
        };

        let started = std::time::Instant::now();
        let ev = app.sim.create_event(&cal.account, spec("Pushed")).await;
        // The notification makes the calendar due and wakes the sync sweep, whose commit
        // wakes the deliverer: the webhook arrives with no sweep tick anywhere.
        let hook = hooks.next_within(StdDuration::from_secs(30)).await;
        let elapsed = started.elapsed();
        assert_eq!(hook.json()["event"], "calendar.sync_events");
        assert_eq!(hook.json()["data"]["calendar_id"], cal.id);
        assert_eq!(app.sim.call_count(list).await, 1, "exactly one sync");
        let res = app
            .get(&format!("/api/v2/calendar-events/?calendar_id={}", cal.id))
            .await;
        let body: Value = res.json().await.unwrap();
        let found = body["results"]
            .as_array()
            .unwrap()
            .iter()
            .any(|e| e["platform_id"] == ev.as_str());
        assert!(found, "{body}");
        eprintln!("{provider}: change → webhook in {elapsed:?}");
        for l in loops {
            l.abort();
        }
    }
}

// -------------------------------------------------------------------------------- forgery

#[tokio::test]
async fn forged_notifications_change_nothing_and_call_no_provider() {
    let app = push_app().await;
    let g = calendar(&app, Provider::Google, "g@acme.test", None).await;
    let m = calendar(&app, Provider::Microsoft, "m@contoso.test", None).await;
    subscribed(&app, &g).await;
    subscribed(&app, &m).await;
    let ch = sim_channel(&app).await;
    let sub = sim_subscription(&app).await;
    let state = sub.client_state.clone().unwrap();
    let before = (
        next_sync_at(&app, &g).await,
        next_sync_at(&app, &m).await,
        status(&app, &g).await.last_notification_at,
        status(&app, &m).await.last_notification_at,
        all_channels(&app)
            .await
            .iter()
            .map(|c| (c.id.clone(), c.due_at, c.state, c.recreate))
            .collect::<Vec<_>>(),
    );
    let calls = counts(&app).await;
    let rejected_before = (
        push_metric("google", "rejected"),
        push_metric("microsoft", "rejected"),
    );

    let other = uuid::Uuid::new_v4().to_string();
    let token = ch.token.clone().unwrap();
    // Same length, last character changed.
    let last = if token.ends_with('A') { "B" } else { "A" };
    let near = format!("{}{last}", &token[..token.len() - 1]);
    let (id, res) = (ch.id.as_str(), ch.resource_id.as_str());
    let cases: Vec<Vec<(&str, Option<&str>)>> = vec![
        // Unknown channel.
        vec![
            ("X-Goog-Channel-ID", Some(&other)),
            ("X-Goog-Channel-Token", Some(&token)),
            ("X-Goog-Resource-ID", Some(res)),
            ("X-Goog-Resource-State", Some("exists")),
        ],
        // Wrong token: nearly right, a prefix, none.
        vec![
            ("X-Goog-Channel-ID", Some(id)),
            ("X-Goog-Channel-Token", Some(&near)),
            ("X-Goog-Resource-ID", Some(res)),
            ("X-Goog-Resource-State", Some("exists")),
        ],
        vec![
            ("X-Goog-Channel-ID", Some(id)),
            ("X-Goog-Channel-Token", Some(&token[..10])),
            ("X-Goog-Resource-ID", Some(res)),
            ("X-Goog-Resource-State", Some("not_exists")),
        ],
        vec![
            ("X-Goog-Channel-ID", Some(id)),
            ("X-Goog-Resource-ID", Some(res)),
            ("X-Goog-Resource-State", Some("exists")),
        ],
        // Right token, wrong resource.
        vec![
            ("X-Goog-Channel-ID", Some(id)),
            ("X-Goog-Channel-Token", Some(&token)),
            ("X-Goog-Resource-ID", Some("some-other-resource")),
            ("X-Goog-Resource-State", Some("exists")),
        ],
        // An unknown resource state, and no headers at all.
        vec![
            ("X-Goog-Channel-ID", Some(id)),
            ("X-Goog-Channel-Token", Some(&token)),
            ("X-Goog-Resource-ID", Some(res)),
            ("X-Goog-Resource-State", Some("gone")),
        ],
        vec![],
    ];
    for (i, headers) in cases.iter().enumerate() {
        assert_eq!(google_post(&app, headers).await, 404, "case {i}");
    }
    // Graph: unknown subscription, wrong or missing clientState — 202, ignored.
    let forged = [
        json!({"value": [graph_item(&other, &state)]}),
        json!({"value": [graph_item(&sub.id, "not-the-state")]}),
        json!({"value": [graph_item(&sub.id, &state[..state.len() - 1])]}),
        json!({"value": [{"subscriptionId": sub.id}]}),
    ];
    for body in &forged {
        assert_eq!(graph_post(&app, "/api/v1/push/microsoft/", body).await, 202);
    }
    for event in ["missed", "subscriptionRemoved", "reauthorizationRequired"] {
        let mut item = graph_item(&sub.id, "wrong");
        item["lifecycleEvent"] = json!(event);
        let body = json!({"value": [item]});
        assert_eq!(
            graph_post(&app, "/api/v1/push/microsoft/lifecycle/", &body).await,
            202
        );
    }
    // Not a notification collection: 400.
    for raw in ["not json", "{\"value\": 3}", "[]"] {
        let res = app
            .client
            .post(app.url("/api/v1/push/microsoft/"))
            .header("Content-Type", "application/json")
            .body(raw)
            .send()
            .await
            .unwrap();
        assert_eq!(res.status(), 400, "{raw}");
    }
    // Bodies over 1 MB are refused.
    let big = format!(
        "{{\"value\": [], \"pad\": \"{}\"}}",
        "x".repeat(1024 * 1024 + 10)
    );
    let res = app
        .client
        .post(app.url("/api/v1/push/microsoft/"))
        .header("Content-Type", "application/json")
        .body(big)
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 413);

    let after = (
        next_sync_at(&app, &g).await,
        next_sync_at(&app, &m).await,
        status(&app, &g).await.last_notification_at,
        status(&app, &m).await.last_notification_at,
        all_channels(&app)
            .await
            .iter()
            .map(|c| (c.id.clone(), c.due_at, c.state, c.recreate))
            .collect::<Vec<_>>(),
    );
    assert_eq!(before, after, "nothing changed");
    assert_eq!(convene::sync::sync_due(&app.state).await.unwrap().synced, 0);
    assert_eq!(sweep(&app).await, Report::default());
    assert_eq!(counts(&app).await, calls, "no provider call");
    // `/metrics` counts them as rejected (other tests run beside: at least, not exactly).
    assert!(push_metric("google", "rejected") > rejected_before.0);
    assert!(push_metric("microsoft", "rejected") > rejected_before.1);
    let accepted_before = push_metric("microsoft", "accepted");

    // The genuine ones work (the test can fail).
    assert_eq!(google_notify(&app, &ch, "exists").await, 200);
    let body = json!({"value": [graph_item(&sub.id, &state)]});
    assert_eq!(
        graph_post(&app, "/api/v1/push/microsoft/", &body).await,
        202
    );
    assert!(push_metric("microsoft", "accepted") > accepted_before);
    app.state.clock.advance(StdDuration::from_secs(2));
    assert_eq!(convene::sync::sync_due(&app.state).await.unwrap().synced, 2);
}

/// One Graph batch naming many subscriptions: each item is judged on its own (its
/// subscription, its clientState) and acted on, whatever the others in the batch are.
#[tokio::test]
async fn a_graph_batch_acts_on_each_valid_item_and_ignores_the_others() {
    let app = push_app().await;
    let mut cals = Vec::new();
    let mut subs = Vec::new();
    for i in 0..4 {
        let cal = calendar(
            &app,
            Provider::Microsoft,
            &format!("b{i}@contoso.test"),
            None,
        )
        .await;
        let ch = subscribed(&app, &cal).await;
        let secret = app.state.keys.decrypt(&ch.secret_enc).unwrap();
        subs.push((ch.external_id.clone().unwrap(), secret));
        cals.push(cal);
    }
    app.state.clock.advance(StdDuration::from_secs(5));
    let before: Vec<_> = {
        let mut v = Vec::new();
        for cal in &cals {
            v.push((
                next_sync_at(&app, cal).await,
                active(&app, cal).await[0].due_at,
            ));
        }
        v
    };
    let mut reauth = graph_item(&subs[3].0, &subs[3].1);
    reauth["lifecycleEvent"] = json!("reauthorizationRequired");
    let body = json!({"value": [
        graph_item(&subs[0].0, &subs[0].1),
        graph_item(&subs[1].0, "not-the-state"),
        graph_item(&uuid::Uuid::new_v4().to_string(), &subs[1].1),
        graph_item(&subs[2].0, &subs[2].1),
        reauth,
        graph_item(&subs[0].0, &subs[0].1),
    ]});
    assert_eq!(
        graph_post(&app, "/api/v1/push/microsoft/", &body).await,
        202
    );
    let now = app.state.now_ms();
    // Changes for 0 and 2: heard, due now.
    for i in [0, 2] {
        assert!(
            status(&app, &cals[i]).await.last_notification_at.is_some(),
            "{i}"
        );
        assert!(next_sync_at(&app, &cals[i]).await.unwrap() <= now, "{i}");
    }
    // A wrong clientState: nothing recorded, nothing due.
    assert_eq!(status(&app, &cals[1]).await.last_notification_at, None);
    assert_eq!(next_sync_at(&app, &cals[1]).await, before[1].0);
    assert_eq!(active(&app, &cals[1]).await[0].due_at, before[1].1);
    // reauthorizationRequired: heard, renewed now, no sync.
    assert!(status(&app, &cals[3]).await.last_notification_at.is_some());
    assert_eq!(next_sync_at(&app, &cals[3]).await, before[3].0);
    assert!(active(&app, &cals[3]).await[0].due_at <= now);

    app.state.clock.advance(StdDuration::from_secs(2));
    assert_eq!(convene::sync::sync_due(&app.state).await.unwrap().synced, 2);
    assert_eq!(sweep(&app).await.renewed, 1);
}

/// `convene_push_notifications_total{provider, outcome}` as `/metrics` renders it now.
fn push_metric(provider: &str, outcome: &str) -> u64 {
    let text = convene::metrics::render(&convene::metrics::Gauges::default());
    let want = format!("outcome=\"{outcome}\",provider=\"{provider}\"");
    text.lines()
        .filter(|l| l.starts_with("convene_push_notifications_total{") && l.contains(&want))
        .filter_map(|l| l.rsplit(' ').next()?.parse().ok())
        .next()
        .unwrap_or(0)
}

// ------------------------------------------------------------------------- coalescing

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_burst_coalesces_and_a_notification_during_a_sync_causes_exactly_one_more() {
    let app = push_app().await;
    let cal = calendar(&app, Provider::Google, "burst@acme.test", None).await;
    subscribed(&app, &cal).await;
    let ch = sim_channel(&app).await;
    app.sim.reset_counts().await;
    app.state.clock.advance(StdDuration::from_secs(5));

    // 1. A burst of 25 notifications at once: one sync.
    let sends = (0..25).map(|_| google_notify(&app, &ch, "exists"));
    let statuses = futures_util::future::join_all(sends).await;
    assert!(statuses.iter().all(|s| *s == 200), "{statuses:?}");
    assert!(next_sync_at(&app, &cal).await.unwrap() <= app.state.now_ms());
    assert_eq!(convene::sync::sync_due(&app.state).await.unwrap().synced, 1);
    assert_eq!(convene::sync::sync_due(&app.state).await.unwrap().synced, 0);
    // More of the same burst right after the sync: at most one more sync, a gap later.
    for _ in 0..10 {
        assert_eq!(google_notify(&app, &ch, "exists").await, 200);
    }
    assert_eq!(
        convene::sync::sync_due(&app.state).await.unwrap().synced,
        0,
        "not within the gap"
    );
    app.state.clock.advance(StdDuration::from_millis(
        convene::sync::PUSH_MIN_GAP_MS as u64,
    ));
    assert_eq!(convene::sync::sync_due(&app.state).await.unwrap().synced, 1);
    assert_eq!(convene::sync::sync_due(&app.state).await.unwrap().synced, 0);
    assert_eq!(app.sim.call_count(Endpoint::GoogleEvents).await, 2);

    // 2. Notifications while a sync runs: exactly one more sync after it.
    app.state.clock.advance(StdDuration::from_secs(5));
    assert_eq!(google_notify(&app, &ch, "exists").await, 200);
    app.sim.reset_counts().await;
    app.sim
        .inject_fault(
            Endpoint::GoogleEvents,
            convene_sim::Fault::Slow { millis: 1500 },
            1,
        )
        .await;
    let st = app.state.clone();
    let running = tokio::spawn(async move { convene::sync::sync_due(&st).await.unwrap() });
    // Wait until the provider has the sync's request (a condition, not a guess).
    let deadline = std::time::Instant::now() + StdDuration::from_secs(20);
    while app.sim.call_count(Endpoint::GoogleEvents).await == 0 {
        assert!(
            std::time::Instant::now() < deadline,
            "the sync never started"
        );
        tokio::time::sleep(StdDuration::from_millis(5)).await;
    }
    app.sim
        .create_event(&cal.account, spec("During the sync"))
        .await;
    let deliveries = app.sim.push_flush().await;
    assert!(
        deliveries.iter().any(|d| d.status == Some(200)),
        "{deliveries:?}"
    );
    for _ in 0..5 {
        assert_eq!(google_notify(&app, &ch, "exists").await, 200);
    }
    assert_eq!(running.await.unwrap().synced, 1);
    // The calendar is due again at once (a gap after the running sync started).
    let due = next_sync_at(&app, &cal).await.unwrap();
    assert!(due <= app.state.now_ms() + convene::sync::PUSH_MIN_GAP_MS);
    app.state.clock.advance(StdDuration::from_millis(
        convene::sync::PUSH_MIN_GAP_MS as u64,
    ));
    assert_eq!(convene::sync::sync_due(&app.state).await.unwrap().synced, 1);
    assert!(stored(&app, &cal)
        .await
        .iter()
        .any(|e| e.title.as_deref() == Some("During the sync")));
    // ... and only one: the next sync is the safety poll an hour away.
    assert_eq!(convene::sync::sync_due(&app.state).await.unwrap().synced, 0);
    let next = next_sync_at(&app, &cal).await.unwrap();
    assert!(
        next >= app.state.now_ms() + 3600 * 1000,
        "safety poll interval"
    );
    assert_eq!(app.sim.call_count(Endpoint::GoogleEvents).await, 2);
}

// ------------------------------------------------------------------------------- renewal

#[tokio::test]
async fn google_channels_are_replaced_before_expiry_and_the_old_one_stopped() {
    let app = push_app().await;
    let cal = calendar(&app, Provider::Google, "renew@acme.test", None).await;
    let old = subscribed(&app, &cal).await;
    let old_sim = sim_channel(&app).await;
    // Five days on: more than 24 h remain, nothing to do.
    app.state.clock.advance(5 * DAY);
    assert_eq!(sweep(&app).await, Report::default());
    // Six days and a minute: less than 24 h remain → new channel, then stop the old.
    app.state.clock.advance(DAY + StdDuration::from_secs(60));
    let report = sweep(&app).await;
    assert_eq!(report.replaced, 1, "{report:?}");
    assert_eq!(app.sim.call_count(Endpoint::GoogleWatch).await, 2);
    assert_eq!(app.sim.call_count(Endpoint::GoogleChannelsStop).await, 1);
    let new_sim = sim_channel(&app).await;
    assert_ne!(new_sim.id, old_sim.id);
    assert_ne!(new_sim.token, old_sim.token);
    let rows = all_channels(&app).await;
    assert_eq!(rows.len(), 1, "the old row is gone once stopped");
    assert_eq!(rows[0].id, new_sim.id);
    assert_eq!(rows[0].state, ChannelState::Live);
    assert_ne!(rows[0].id, old.id);
    app.sim.push_flush().await;
    // The old channel is unknown now; the new one works.
    assert_eq!(google_notify(&app, &old_sim, "exists").await, 404);
    assert_eq!(google_notify(&app, &new_sim, "exists").await, 200);
    assert_eq!(push_state(&app, &cal).await, PushState::Live);
}

#[tokio::test]
async fn graph_subscriptions_renew_at_half_life_and_are_recreated_when_gone() {
    let app = push_app().await;
    let cal = calendar(&app, Provider::Microsoft, "half@contoso.test", None).await;
    let ch = subscribed(&app, &cal).await;
    let sub = sim_subscription(&app).await;
    app.state.clock.advance(30 * HOUR);
    assert_eq!(sweep(&app).await, Report::default(), "before half-life");
    app.state.clock.advance(6 * HOUR);
    let report = sweep(&app).await;
    assert_eq!(report.renewed, 1, "{report:?}");
    assert_eq!(
        app.sim
            .call_count(Endpoint::MicrosoftSubscriptionUpdate)
            .await,
        1
    );
    let renewed = sim_subscription(&app).await;
    assert_eq!(renewed.id, sub.id);
    assert!(renewed.expiration > sub.expiration);
    let row = &active(&app, &cal).await[0];
    assert_eq!(row.id, ch.id);
    assert_eq!(row.expires_at, Some(renewed.expiration.timestamp_millis()));
    assert!(row.due_at > app.state.now_ms());

    // Graph drops it: the next renewal gets 404 and creates a new one.
    app.sim.expire_push(&sub.id).await;
    app.state.clock.advance(36 * HOUR);
    let report = sweep(&app).await;
    assert_eq!(report.replaced, 1, "{report:?}");
    let fresh = sim_subscription(&app).await;
    assert_ne!(fresh.id, sub.id);
    let rows = all_channels(&app).await;
    assert_eq!(rows.len(), 1);
    assert_eq!(rows[0].external_id.as_deref(), Some(fresh.id.as_str()));
    assert_eq!(push_state(&app, &cal).await, PushState::Live);
}

// ------------------------------------------------------------------ refusal → polling

#[tokio::test]
async fn a_refused_watch_polls_at_the_normal_interval_and_retries_after_six_hours() {
    let app = push_app().await;
    let g = calendar(&app, Provider::Google, "refused@acme.test", None).await;
    let m = calendar(&app, Provider::Microsoft, "refused@contoso.test", None).await;
    sync(&app, &g).await;
    sync(&app, &m).await;
    app.sim
        .refuse_next_push(Provider::Google, 403, Some("push.webhookUrlUnauthorized"))
        .await;
    app.sim
        .refuse_next_push(Provider::Microsoft, 400, Some("ValidationError"))
        .await;
    let report = sweep(&app).await;
    assert_eq!(report.failed, 2, "{report:?}");
    assert!(all_channels(&app).await.is_empty());
    for (cal, why) in [(&g, "push.webhookUrlUnauthorized"), (&m, "ValidationError")] {
        assert_eq!(push_state(&app, cal).await, PushState::Polling);
        let st = status(&app, cal).await;
        let reason = st.reason.unwrap();
        assert!(
            reason.starts_with("refused:") && reason.contains(why),
            "{reason}"
        );
        let retry = st.retry_at.unwrap() - app.state.now_ms();
        assert!((6 * 3600 * 1000 - retry).abs() < 5000, "{retry}");
        // Polling at CONVENE_SYNC_INTERVAL_SECS (60 s + jitter), not the safety poll.
        let o = sync(&app, cal).await;
        assert!(o.next_sync_at - app.state.now_ms() <= 72_000);
    }
    // Five hours later: not yet.
    app.state.clock.advance(5 * HOUR);
    assert_eq!(sweep(&app).await, Report::default());
    assert_eq!(app.sim.call_count(Endpoint::GoogleWatch).await, 1);
    // Six hours later: tried again, and now accepted.
    app.state.clock.advance(HOUR + StdDuration::from_secs(60));
    let report = sweep(&app).await;
    assert_eq!(report.created, 2, "{report:?}");
    assert_eq!(push_state(&app, &g).await, PushState::Live);
    assert_eq!(push_state(&app, &m).await, PushState::Live);
    assert_eq!(status(&app, &g).await.reason, None);
    let o = sync(&app, &g).await;
    assert!(o.next_sync_at - app.state.now_ms() >= 3600 * 1000);
}

#[tokio::test]
async fn a_failing_provider_backs_off_and_the_calendar_polls() {
    let app = push_app().await;
    let cal = calendar(&app, Provider::Google, "flaky@acme.test", None).await;
    sync(&app, &cal).await;
    app.sim
        .inject_fault(Endpoint::GoogleWatch, convene_sim::Fault::Status500, 1)
        .await;
    assert_eq!(sweep(&app).await.failed, 1);
    let st = status(&app, &cal).await;
    assert!(st.reason.as_deref().unwrap().starts_with("failing:"));
    assert_eq!(push_state(&app, &cal).await, PushState::Polling);
    assert!(st.retry_at.unwrap() - app.state.now_ms() <= 60_000);
    app.state.clock.advance(StdDuration::from_secs(61));
    assert_eq!(sweep(&app).await.created, 1);
    assert_eq!(push_state(&app, &cal).await, PushState::Live);
}

// ------------------------------------------------------- dropped notifications, 24 h rule

#[tokio::test]
async fn dropped_notifications_are_caught_by_the_safety_poll_and_a_quiet_channel_is_replaced() {
    let app = push_app().await;
    let cal = calendar(&app, Provider::Google, "quiet@acme.test", None).await;
    let first = subscribed(&app, &cal).await;
    app.sim.drop_push_notifications(&cal.account, true).await;
    app.sim.create_event(&cal.account, spec("Unheard")).await;
    assert!(app.sim.push_flush().await.is_empty(), "nothing was sent");
    app.state.clock.advance(StdDuration::from_secs(5));
    assert_eq!(convene::sync::sync_due(&app.state).await.unwrap().synced, 0);
    // The safety poll (CONVENE_PUSH_POLL_SECS, + up to 20 % jitter) brings it in.
    app.state
        .clock
        .advance(HOUR + 12 * StdDuration::from_secs(60));
    assert_eq!(convene::sync::sync_due(&app.state).await.unwrap().synced, 1);
    assert!(stored(&app, &cal)
        .await
        .iter()
        .any(|e| e.title.as_deref() == Some("Unheard")));
    // Found changes, but the channel is younger than a day: not broken yet.
    assert!(!active(&app, &cal).await[0].recreate);

    // A day without notifications while the safety poll keeps finding changes: broken.
    app.state.clock.advance(DAY);
    app.sim
        .create_event(&cal.account, spec("Still unheard"))
        .await;
    assert_eq!(convene::sync::sync_due(&app.state).await.unwrap().synced, 1);
    let row = &active(&app, &cal).await[0];
    assert!(row.recreate && row.due_at <= app.state.now_ms());
    let report = sweep(&app).await;
    assert_eq!(report.replaced, 1, "{report:?}");
    let now_active = active(&app, &cal).await;
    assert_eq!(now_active.len(), 1);
    assert_ne!(now_active[0].id, first.id);
    assert_eq!(app.sim.call_count(Endpoint::GoogleChannelsStop).await, 1);

    // A quiet calendar with no changes is not "broken".
    app.sim.drop_push_notifications(&cal.account, false).await;
    app.state.clock.advance(2 * DAY);
    assert_eq!(convene::sync::sync_due(&app.state).await.unwrap().synced, 1);
    assert!(!active(&app, &cal).await[0].recreate);
}

#[tokio::test]
async fn a_channel_older_than_a_day_that_still_notifies_is_not_replaced() {
    let app = push_app().await;
    let cal = calendar(&app, Provider::Google, "heard@acme.test", None).await;
    let first = subscribed(&app, &cal).await;
    app.state.clock.advance(DAY + HOUR);
    // The change is announced: the notification of a moment ago keeps the channel trusted
    // although it is older than a day and the sync finds a change.
    app.sim.create_event(&cal.account, spec("Heard")).await;
    assert_eq!(app.sim.push_flush().await.len(), 1);
    let heard = status(&app, &cal).await.last_notification_at;
    assert!(heard.is_some_and(|t| t > app.state.now_ms() - HOUR.as_millis() as i64));
    let report = convene::sync::sync_due(&app.state).await.unwrap();
    assert_eq!(report.synced, 1);
    assert!(stored(&app, &cal)
        .await
        .iter()
        .any(|e| e.title.as_deref() == Some("Heard")));
    let row = &active(&app, &cal).await[0];
    assert_eq!(row.id, first.id);
    assert!(!row.recreate, "a notifying channel is not broken");
}

// ------------------------------------------------------------------------------ lifecycle

#[tokio::test]
async fn graph_lifecycle_events_renew_recreate_and_sync() {
    let app = push_app().await;
    let cal = calendar(&app, Provider::Microsoft, "life@contoso.test", None).await;
    subscribed(&app, &cal).await;
    let sub = sim_subscription(&app).await;
    app.state.clock.advance(StdDuration::from_secs(5));
    app.sim.reset_counts().await;

    // missed → sync now.
    app.sim
        .send_lifecycle(&sub.id, LifecycleEvent::Missed)
        .await;
    let d = app.sim.push_flush().await;
    assert_eq!(d.len(), 1);
    assert_eq!((d[0].kind.as_str(), d[0].status), ("lifecycle", Some(202)));
    assert!(next_sync_at(&app, &cal).await.unwrap() <= app.state.now_ms());
    assert_eq!(convene::sync::sync_due(&app.state).await.unwrap().synced, 1);

    // reauthorizationRequired → renewed now.
    app.sim
        .send_lifecycle(&sub.id, LifecycleEvent::ReauthorizationRequired)
        .await;
    app.sim.push_flush().await;
    assert!(active(&app, &cal).await[0].due_at <= app.state.now_ms());
    assert_eq!(sweep(&app).await.renewed, 1);
    assert_eq!(
        app.sim
            .call_count(Endpoint::MicrosoftSubscriptionUpdate)
            .await,
        1
    );

    // subscriptionRemoved → a new subscription, and a sync.
    app.state.clock.advance(StdDuration::from_secs(5));
    app.sim
        .send_lifecycle(&sub.id, LifecycleEvent::SubscriptionRemoved)
        .await;
    app.sim.push_flush().await;
    assert!(next_sync_at(&app, &cal).await.unwrap() <= app.state.now_ms());
    let report = sweep(&app).await;
    assert_eq!(report.replaced, 1, "{report:?}");
    let fresh = sim_subscription(&app).await;
    assert_ne!(fresh.id, sub.id);
    assert_eq!(convene::sync::sync_due(&app.state).await.unwrap().synced, 1);
    assert_eq!(push_state(&app, &cal).await, PushState::Live);
    // The new one carries change notifications.
    app.state.clock.advance(StdDuration::from_secs(5));
    app.sim.create_event(&cal.account, spec("After")).await;
    let d = app.sim.push_flush().await;
    assert!(
        d.iter()
            .any(|x| x.kind == "graph" && x.target == fresh.id && x.status == Some(202)),
        "{d:?}"
    );
    assert_eq!(convene::sync::sync_due(&app.state).await.unwrap().synced, 1);
}

#[tokio::test]
async fn a_refused_access_token_is_refreshed_once_and_the_subscription_is_made() {
    let app = push_app().await;
    for (provider, email) in [
        (Provider::Google, "stale@acme.test"),
        (Provider::Microsoft, "stale@contoso.test"),
    ] {
        let cal = calendar(&app, provider, email, None).await;
        sync(&app, &cal).await;
        app.plant_refused_access_token(&cal.id).await;
        let refreshes = app.sim.token_refresh_count(provider).await;
        let report = sweep(&app).await;
        assert_eq!(report.created, 1, "{provider:?}: {report:?}");
        assert_eq!(
            app.sim.token_refresh_count(provider).await,
            refreshes + 1,
            "{provider:?}"
        );
        app.sim.push_flush().await;
        assert_eq!(
            push_state(&app, &cal).await,
            PushState::Live,
            "{provider:?}"
        );
    }
}

// ------------------------------------------------------------ delete, disconnect, reconnect

#[tokio::test]
async fn deleting_a_calendar_stops_its_channel_even_with_an_expired_access_token() {
    let app = push_app().await;
    let g = calendar(&app, Provider::Google, "del@acme.test", None).await;
    let m = calendar(&app, Provider::Microsoft, "del@contoso.test", None).await;
    subscribed(&app, &g).await;
    subscribed(&app, &m).await;
    let ch = sim_channel(&app).await;
    // Two hours on: the cached access tokens have expired.
    app.state.clock.advance(2 * HOUR);
    app.sim.reset_counts().await;
    for cal in [&g, &m] {
        let res = app.delete(&format!("/api/v2/calendars/{}/", cal.id)).await;
        assert_eq!(res.status(), 204);
    }
    let report = sweep(&app).await;
    assert_eq!(report.stopped, 2, "{report:?}");
    assert_eq!(app.sim.call_count(Endpoint::GoogleChannelsStop).await, 1);
    assert_eq!(
        app.sim
            .call_count(Endpoint::MicrosoftSubscriptionDelete)
            .await,
        1
    );
    // The saved credentials refreshed once each to stop them.
    assert_eq!(app.sim.token_refresh_count(Provider::Google).await, 1);
    assert_eq!(app.sim.token_refresh_count(Provider::Microsoft).await, 1);
    let l = app.sim.push_listing().await;
    assert!(l.channels.is_empty() && l.subscriptions.is_empty(), "{l:?}");
    assert!(all_channels(&app).await.is_empty());
    assert_eq!(google_notify(&app, &ch, "exists").await, 404);
}

#[tokio::test]
async fn v1_disconnect_stops_the_channel_and_a_provider_disconnect_retires_it() {
    let app = push_app_with(vec![(
        "CONVENE_REDIRECT_ALLOWLIST".into(),
        crate::calendar_support::APP_ORIGIN.into(),
    )])
    .await;
    use crate::calendar_support::*;
    app.sim
        .create_oauth_client(
            Provider::Google,
            GOOGLE_ID,
            GOOGLE_SECRET,
            vec![app.url("/api/v1/calendar/google_oauth_callback/")],
        )
        .await;
    save_platform_client(&app, "google", GOOGLE_ID, GOOGLE_SECRET).await;
    google_account(&app, "v1user@acme.test").await;
    let res = connect_v1(&app, "google", "user-1", None, None).await;
    assert!(res.status().is_success() || res.status().is_redirection());
    assert_eq!(convene::sync::sync_due(&app.state).await.unwrap().synced, 1);
    assert_eq!(sweep(&app).await.created, 1);
    assert_eq!(app.sim.push_listing().await.channels.len(), 1);

    let token = calendar_token(&app, "user-1").await;
    let res = app
        .client
        .post(app.url("/api/v1/calendar/user/disconnect/"))
        .header("x-recallcalendarauthtoken", &token)
        .json(&json!({"platform": "google"}))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 200);
    assert_eq!(sweep(&app).await.stopped, 1);
    assert!(app.sim.push_listing().await.channels.is_empty());

    // A calendar the provider disconnects (refresh token revoked) has its channel retired.
    let cal = calendar(&app, Provider::Google, "revoked@acme.test", None).await;
    subscribed(&app, &cal).await;
    app.sim.revoke_all_tokens(&cal.account).await;
    app.state.clock.advance(2 * HOUR);
    assert!(convene::sync::sync_calendar(&app.state, &cal.id)
        .await
        .is_err());
    assert_eq!(
        crate::sync_fixtures::sync_state(&app, &cal).await.status,
        CalendarStatus::Disconnected
    );
    sweep(&app).await;
    assert!(active(&app, &cal).await.is_empty(), "retired");
}

#[tokio::test]
async fn new_credentials_retire_the_old_channel_and_the_next_sync_subscribes_again() {
    let app = push_app().await;
    let cal = calendar(&app, Provider::Google, "re@acme.test", None).await;
    subscribed(&app, &cal).await;
    let old = sim_channel(&app).await;
    let refresh = app
        .sim
        .mint_refresh_token(Provider::Google, GOOGLE_CLIENT.0, &cal.account, &[])
        .await;
    let res = app
        .patch_json(
            &format!("/api/v2/calendars/{}/", cal.id),
            &json!({"oauth_refresh_token": refresh}),
        )
        .await;
    assert_eq!(res.status(), 200, "{}", res.text().await.unwrap());
    sync(&app, &cal).await;
    let report = sweep(&app).await;
    assert_eq!((report.stopped, report.created), (1, 1), "{report:?}");
    let new = sim_channel(&app).await;
    assert_ne!(new.id, old.id);
    assert_eq!(push_state(&app, &cal).await, PushState::Live);
}

#[tokio::test]
async fn turning_push_off_stops_every_channel_and_polls() {
    let app = push_app().await;
    let cal = calendar(&app, Provider::Google, "off@acme.test", None).await;
    subscribed(&app, &cal).await;
    // The same database, served with push off.
    let mut settings = (*app.state.settings).clone();
    settings.push = convene::config::PushMode::Off;
    let off = convene::state::AppState {
        settings: Arc::new(settings),
        ..app.state.clone()
    };
    let report = maintain_due(&off).await.unwrap();
    assert_eq!(report.stopped, 1, "{report:?}");
    assert!(app.sim.push_listing().await.channels.is_empty());
    let o = convene::sync::sync_calendar(&off, &cal.id).await.unwrap();
    assert!(o.next_sync_at - off.now_ms() <= 72_000);
    assert_eq!(maintain_due(&off).await.unwrap(), Report::default());
}

// ------------------------------------------------------------------------------- settings

#[test]
fn push_settings_default_and_bad_values_name_the_variable() {
    let dir = tempfile::tempdir().unwrap();
    let base = |extra: &[(&str, &str)]| {
        let mut env: HashMap<String, String> = HashMap::from([(
            "CONVENE_DATA_DIR".to_string(),
            dir.path().to_string_lossy().into_owned(),
        )]);
        for (k, v) in extra {
            env.insert(k.to_string(), v.to_string());
        }
        convene::config::Settings::from_sources(env, None)
    };
    let s = base(&[]).unwrap();
    assert_eq!(s.push, convene::config::PushMode::Auto);
    assert_eq!(s.push_poll_interval, HOUR);
    assert!(!s.push_enabled(), "auto with an http public URL is off");
    let s = base(&[("CONVENE_PUBLIC_URL", "https://cal.example.com")]).unwrap();
    assert!(s.push_enabled(), "auto with https is on");
    let s = base(&[
        ("CONVENE_PUSH", "OFF"),
        ("CONVENE_PUBLIC_URL", "https://x.example.com"),
    ])
    .unwrap();
    assert!(!s.push_enabled());
    let s = base(&[("CONVENE_PUSH", "on"), ("CONVENE_PUSH_POLL_SECS", "900")]).unwrap();
    assert!(s.push_enabled());
    assert_eq!(s.push_poll_interval.as_secs(), 900);
    for (var, value) in [
        ("CONVENE_PUSH", "yes"),
        ("CONVENE_PUSH", ""),
        ("CONVENE_PUSH_POLL_SECS", "0"),
        ("CONVENE_PUSH_POLL_SECS", "soon"),
        ("CONVENE_PUSH_POLL_SECS", "-1"),
    ] {
        let err = base(&[(var, value)]).unwrap_err();
        assert_eq!(err.variable, var, "{value:?}");
        assert!(!err.message.is_empty());
    }
}

// ---------------------------------------------------------------------------------- admin

#[tokio::test]
async fn the_admin_shows_push_state_expiry_last_notification_and_why_it_polls() {
    let app = push_app().await;
    let live = calendar(&app, Provider::Google, "live@acme.test", None).await;
    let refused = calendar(&app, Provider::Microsoft, "nope@contoso.test", None).await;
    let waiting = calendar(&app, Provider::Google, "new@acme.test", None).await;
    subscribed(&app, &live).await;
    sync(&app, &refused).await;
    app.sim
        .refuse_next_push(Provider::Microsoft, 403, Some("ExtensionError"))
        .await;
    assert_eq!(sweep(&app).await.failed, 1);

    let client = crate::admin::logged_in(&app).await;
    let page = |id: String| {
        let client = client.clone();
        let url = app.url(&format!("/admin/calendars/{id}/"));
        async move { client.get(url).send().await.unwrap().text().await.unwrap() }
    };
    let html = page(live.id.clone()).await;
    let ch = sim_channel(&app).await;
    assert!(html.contains("id=\"push-state\">live<"), "{html}");
    assert!(html.contains(&ch.id));
    assert!(html.contains(&ch.expiration.format("%Y-%m-%d %H:%M UTC").to_string()));
    assert!(
        !html.contains("none yet"),
        "the sync message was a notification"
    );
    assert!(!html.contains(ch.token.as_deref().unwrap()), "no secret");
    let html = page(refused.id.clone()).await;
    assert!(html.contains("id=\"push-state\">polling<"), "{html}");
    assert!(
        html.contains("refused:") && html.contains("ExtensionError"),
        "{html}"
    );
    assert!(html.contains("Next attempt"));
    let html = page(waiting.id.clone()).await;
    assert!(html.contains("id=\"push-state\">pending<"), "{html}");
    assert!(html.contains("subscribes after the first sync"));

    let html = client
        .get(app.url("/admin/"))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    let tile = &html[html.find("Push notifications").expect("the push tile")..];
    let tile = &tile[..tile.find("</section>").unwrap()];
    for (n, state) in [(1, "live"), (1, "pending"), (1, "polling")] {
        assert!(
            tile.contains(&format!("<dd>{n}</dd><dt>{state}</dt>")),
            "{state}: {tile}"
        );
    }
}

// ------------------------------------------------------------------------ secrets in logs

/// The real binary at debug level: channel tokens and clientStates never reach the logs
/// (the channel and subscription ids do).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn push_secrets_never_reach_the_logs() {
    use std::io::Read;
    let sim = convene_sim::start().await;
    let dir = tempfile::tempdir().unwrap();
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let base = format!("http://127.0.0.1:{port}");
    let mut env: Vec<(String, String)> = sim.env_vars();
    env.extend([
        (
            "CONVENE_DATA_DIR".into(),
            dir.path().to_string_lossy().into_owned(),
        ),
        ("CONVENE_LISTEN".into(), format!("127.0.0.1:{port}")),
        ("CONVENE_PUBLIC_URL".into(), base.clone()),
        ("CONVENE_PUSH".into(), "on".into()),
        ("CONVENE_LOG".into(), "debug".into()),
    ]);
    let bin = env!("CARGO_BIN_EXE_convene");
    let out = std::process::Command::new(bin)
        .args(["api-key", "create", "--name", "t"])
        .envs(env.clone())
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let key = String::from_utf8_lossy(&out.stdout)
        .lines()
        .last()
        .unwrap()
        .trim()
        .to_string();
    let mut child = std::process::Command::new(bin)
        .arg("serve")
        .envs(env)
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    let client = reqwest::Client::new();
    let wait_for = |what: &'static str| {
        let deadline = std::time::Instant::now() + StdDuration::from_secs(30);
        move || assert!(std::time::Instant::now() < deadline, "timed out: {what}")
    };
    let check = wait_for("ready");
    while client.get(format!("{base}/readyz/")).send().await.is_err() {
        check();
        tokio::time::sleep(StdDuration::from_millis(50)).await;
    }
    let mut secrets = Vec::new();
    let mut ids = Vec::new();
    for (provider, email, (cid, csecret)) in [
        (Provider::Google, "logs@acme.test", GOOGLE_CLIENT),
        (Provider::Microsoft, "logs@contoso.test", MICROSOFT_CLIENT),
    ] {
        sim.create_oauth_client(provider, cid, csecret, vec![])
            .await;
        let account = sim.create_account(provider, email).await;
        let refresh = sim.mint_refresh_token(provider, cid, &account, &[]).await;
        let res = client
            .post(format!("{base}/api/v2/calendars/"))
            .header("Authorization", format!("Token {key}"))
            .json(&json!({
                "platform": platform(provider),
                "oauth_client_id": cid,
                "oauth_client_secret": csecret,
                "oauth_refresh_token": refresh,
            }))
            .send()
            .await
            .unwrap();
        assert_eq!(res.status(), 201, "{}", res.text().await.unwrap());
        let cal: Value = res.json().await.unwrap();
        let cal_id = cal["id"].as_str().unwrap().to_string();
        // Connected, synced, subscribed by the running sweeps.
        let check = wait_for("subscription");
        let secret = loop {
            let l = sim.push_listing().await;
            let found = match provider {
                Provider::Google => l.channels.first().map(|c| (c.id.clone(), c.token.clone())),
                _ => l
                    .subscriptions
                    .first()
                    .map(|s| (s.id.clone(), s.client_state.clone())),
            };
            if let Some((id, Some(secret))) = found {
                ids.push(id);
                break secret;
            }
            check();
            tokio::time::sleep(StdDuration::from_millis(50)).await;
        };
        secrets.push(secret);
        // A change arrives by push.
        let ev = sim.create_event(&account, spec("Logged")).await;
        let check = wait_for("event by push");
        loop {
            let body: Value = client
                .get(format!(
                    "{base}/api/v2/calendar-events/?calendar_id={cal_id}"
                ))
                .header("Authorization", format!("Token {key}"))
                .send()
                .await
                .unwrap()
                .json()
                .await
                .unwrap();
            if body["results"]
                .as_array()
                .is_some_and(|r| r.iter().any(|e| e["platform_id"] == ev.as_str()))
            {
                break;
            }
            check();
            tokio::time::sleep(StdDuration::from_millis(50)).await;
        }
        sim.create_event(&account, spec("Logged")).await;
        sim.push_flush().await;
    }
    // Forged ones too.
    let res = client
        .post(format!("{base}/api/v1/push/google/"))
        .header("X-Goog-Channel-ID", &ids[0])
        .header("X-Goog-Channel-Token", "forged-token")
        .header("X-Goog-Resource-ID", "r")
        .header("X-Goog-Resource-State", "exists")
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 404);

    let status = std::process::Command::new("kill")
        .args(["-TERM", &child.id().to_string()])
        .status()
        .unwrap();
    assert!(status.success());
    let logs = tokio::task::spawn_blocking(move || {
        child.wait().unwrap();
        let mut logs = String::new();
        child
            .stderr
            .take()
            .unwrap()
            .read_to_string(&mut logs)
            .unwrap();
        logs
    })
    .await
    .unwrap();
    for secret in &secrets {
        assert!(!logs.contains(secret.as_str()), "a push secret in the logs");
    }
    for id in &ids {
        assert!(logs.contains(id.as_str()), "ids are logged: {id}\n{logs}");
    }
    assert!(logs.contains("push subscription live"));
}

/// A notification for a valid change also changes `updated_at__gte` feeds exactly as a
/// poll would: the API view of the event after a push-driven sync equals the polled one.
#[tokio::test]
async fn a_push_driven_sync_is_the_normal_incremental_sync() {
    let app = push_app().await;
    let cal = calendar(&app, Provider::Google, "same@acme.test", None).await;
    subscribed(&app, &cal).await;
    app.state.clock.advance(StdDuration::from_secs(5));
    let ev = app.sim.create_event(&cal.account, spec("One")).await;
    app.sim.push_flush().await;
    app.sim.reset_counts().await;
    let o = convene::sync::sync_due(&app.state).await.unwrap();
    assert_eq!(o.synced, 1);
    // Incremental: one request with the sync token.
    assert_eq!(app.sim.call_count(Endpoint::GoogleEvents).await, 1);
    app.sim
        .update_event(&cal.account, &ev, EventPatch::new().title("Two"))
        .await;
    app.sim.push_flush().await;
    app.state.clock.advance(StdDuration::from_secs(2));
    let out = sync(&app, &cal).await;
    assert_eq!((out.full, out.changed, out.requests), (false, 1, 1));
}

/// Renewal times live in the database: a restarted process (new clock, locks and wakers
/// over the same data) renews on time.
#[tokio::test]
async fn renewals_survive_a_restart() {
    let app = push_app().await;
    let cal = calendar(&app, Provider::Google, "restart@acme.test", None).await;
    let old = subscribed(&app, &cal).await;
    let restarted = convene::state::AppState {
        clock: convene::state::Clock::default(),
        locks: convene::state::KeyedLocks::default(),
        wake: convene::state::Wakers::default(),
        ..app.state.clone()
    };
    restarted
        .clock
        .advance(6 * DAY + StdDuration::from_secs(60));
    let report = maintain_due(&restarted).await.unwrap();
    assert_eq!(report.replaced, 1, "{report:?}");
    let rows = all_channels(&app).await;
    assert_eq!(rows.len(), 1);
    assert_ne!(rows[0].id, old.id);
}

#[tokio::test]
async fn with_push_off_the_admin_says_why_the_calendar_polls() {
    // The default: auto, and the test server's public URL is plain http.
    let app = crate::helpers::spawn_app().await;
    assert!(!app.state.settings.push_enabled());
    let cal = calendar(&app, Provider::Google, "off@acme.test", None).await;
    sync(&app, &cal).await;
    assert_eq!(sweep(&app).await, Report::default());
    assert_eq!(app.sim.call_count(Endpoint::GoogleWatch).await, 0);
    let client = crate::admin::logged_in(&app).await;
    let html = client
        .get(app.url(&format!("/admin/calendars/{}/", cal.id)))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(html.contains("id=\"push-state\">polling<"), "{html}");
    assert!(html.contains("push is off (CONVENE_PUSH)"));
    let html = client
        .get(app.url("/admin/"))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(html.contains("Push notifications (off)"));
    // Notifications for unknown channels are refused whatever the setting.
    let status = google_post(
        &app,
        &[
            ("X-Goog-Channel-ID", Some("x")),
            ("X-Goog-Channel-Token", Some("y")),
            ("X-Goog-Resource-ID", Some("z")),
            ("X-Goog-Resource-State", Some("exists")),
        ],
    )
    .await;
    assert_eq!(status, 404);
}
