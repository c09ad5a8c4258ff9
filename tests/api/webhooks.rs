//! Webhooks: the endpoints API, signed delivery verified by the independent
//! `standardwebhooks` crate, retries on the shrunk clock, rotation, 410, ordering, crash
//! safety, replay, and the JSON error model of POST bodies.

use std::collections::{HashMap, HashSet};
use std::net::TcpListener;
use std::time::Duration;

use base64::Engine;
use convene::config::Settings;
use convene::startup::Application;
use convene::state::AppState;
use convene::store::outbox::{self, OutboxEvent};
use convene::store::webhook_endpoints;
use convene::store::webhooks::{self as log, DeliveryDetail, DeliveryFilter, ReplayOutcome};
use convene::webhooks::deliver::{self, deliver_due};
use serde_json::{json, Value};

use crate::helpers::{spawn_app, spawn_app_with, Options, TestApp};
use crate::receiver::{Receiver, Reply};

const ENDPOINTS: &str = "/api/v1/webhook-endpoints/";
const WAIT: Duration = Duration::from_secs(30);

async fn app_with_schedule(schedule: &str) -> TestApp {
    spawn_app_with(Options {
        env: vec![("CONVENE_WEBHOOK_RETRY_SCHEDULE".into(), schedule.into())],
        ..Default::default()
    })
    .await
}

/// Creates an endpoint through the API; returns (id, secret).
async fn create_endpoint(app: &TestApp, url: &str, event_types: Option<Value>) -> (String, String) {
    let mut body = json!({ "url": url });
    if let Some(t) = event_types {
        body["event_types"] = t;
    }
    let res = app.post_json(ENDPOINTS, &body).await;
    assert_eq!(res.status(), 201);
    let body: Value = res.json().await.unwrap();
    (
        body["id"].as_str().unwrap().to_string(),
        body["secret"].as_str().unwrap().to_string(),
    )
}

/// Writes an event to the outbox as a feature would, and wakes the deliverer.
async fn enqueue_on(
    state: &AppState,
    event_type: &str,
    key: &str,
    data: Value,
    extra_url: Option<String>,
) -> String {
    let event = OutboxEvent {
        event_type: event_type.into(),
        ordering_key: key.into(),
        data,
        extra_url,
    };
    let now = state.now_ms();
    let id = state
        .store
        .write(move |tx| outbox::enqueue(tx, &event, now))
        .await
        .unwrap();
    state.wake.webhooks.notify_one();
    id
}

async fn enqueue(app: &TestApp, event_type: &str, key: &str) -> String {
    enqueue_on(
        &app.state,
        event_type,
        key,
        json!({ "calendar_id": key }),
        None,
    )
    .await
}

async fn deliver(app: &TestApp) -> usize {
    deliver_due(&app.state).await.unwrap()
}

fn advance(app: &TestApp, secs: u64) {
    app.state.clock.advance(Duration::from_secs(secs));
}

/// The delivery log entry of `message_id` for `endpoint_id`.
async fn delivery(state: &AppState, endpoint_id: &str, message_id: &str) -> DeliveryDetail {
    let filter = DeliveryFilter {
        endpoint_id: Some(endpoint_id.into()),
        ..Default::default()
    };
    let msg = message_id.to_string();
    state
        .store
        .read(move |c| {
            let rows = log::list_deliveries(c, &filter, 1000)?;
            let row = rows
                .into_iter()
                .find(|r| r.message_id == msg)
                .expect("delivery listed");
            log::get_delivery(c, row.id).map(|d| d.expect("delivery found"))
        })
        .await
        .unwrap()
}

async fn endpoint(state: &AppState, id: &str) -> webhook_endpoints::Endpoint {
    let id = id.to_string();
    state
        .store
        .read(move |c| webhook_endpoints::get(c, &id))
        .await
        .unwrap()
        .unwrap()
}

fn ids_of(taken: &[outbox::ClaimedDelivery]) -> Vec<String> {
    taken.iter().map(|d| d.message_id.clone()).collect()
}

fn ids(received: &[crate::receiver::Received]) -> Vec<String> {
    received.iter().map(|r| r.id().to_string()).collect()
}

#[tokio::test]
async fn endpoints_api_creates_lists_updates_and_hides_secrets() {
    let app = spawn_app().await;
    let res = app
        .post_json(
            ENDPOINTS,
            &json!({ "url": "http://127.0.0.1:9/hook", "description": "main" }),
        )
        .await;
    assert_eq!(res.status(), 201);
    let created: Value = res.json().await.unwrap();
    let keys: HashSet<&str> = created
        .as_object()
        .unwrap()
        .keys()
        .map(String::as_str)
        .collect();
    assert_eq!(
        keys,
        HashSet::from([
            "id",
            "url",
            "event_types",
            "description",
            "enabled",
            "created_at",
            "secret"
        ])
    );
    assert_eq!(created["event_types"], json!([]));
    assert_eq!(created["enabled"], true);
    assert_eq!(created["description"], "main");
    assert!(created["created_at"].as_str().unwrap().ends_with('Z'));
    let secret = created["secret"].as_str().unwrap().to_string();
    let raw = base64::engine::general_purpose::STANDARD
        .decode(secret.strip_prefix("whsec_").expect("whsec_ prefix"))
        .unwrap();
    assert!(raw.len() >= 24);
    let id = created["id"].as_str().unwrap().to_string();
    let path = format!("{ENDPOINTS}{id}/");

    // Reads never show the secret.
    let res = app.get(&path).await;
    assert_eq!(res.status(), 200);
    let text = res.text().await.unwrap();
    assert!(!text.contains(&secret) && !text.contains("secret"));
    let got: Value = serde_json::from_str(&text).unwrap();
    assert_eq!(got["url"], "http://127.0.0.1:9/hook");
    let res = app.get(&format!("{path}secret/")).await;
    assert_eq!(
        res.json::<Value>().await.unwrap(),
        json!({ "secret": secret })
    );

    // PATCH is partial.
    let res = app
        .patch_json(
            &path,
            &json!({ "event_types": ["calendar.update", "calendar.update"], "enabled": false }),
        )
        .await;
    assert_eq!(res.status(), 200);
    let text = res.text().await.unwrap();
    assert!(!text.contains(&secret));
    let patched: Value = serde_json::from_str(&text).unwrap();
    assert_eq!(patched["event_types"], json!(["calendar.update"]));
    assert_eq!(patched["enabled"], false);
    assert_eq!(patched["url"], "http://127.0.0.1:9/hook");
    assert_eq!(patched["description"], "main");
    let res = app
        .patch_json(
            &path,
            &json!({ "enabled": true, "url": "https://127.0.0.1:9/new" }),
        )
        .await;
    let patched: Value = res.json().await.unwrap();
    assert_eq!(patched["enabled"], true);
    assert_eq!(patched["url"], "https://127.0.0.1:9/new");
    assert_eq!(patched["event_types"], json!(["calendar.update"]));

    // Validation.
    for bad in [
        json!("ftp://127.0.0.1/x"),
        json!("not a url"),
        json!("/relative/path"),
        json!("mailto:someone@localhost"),
        json!(" http://127.0.0.1/padded"),
        json!(42),
    ] {
        let res = app.post_json(ENDPOINTS, &json!({ "url": bad })).await;
        assert_eq!(res.status(), 400, "{bad}");
        let body: Value = res.json().await.unwrap();
        assert!(body["url"][0].is_string(), "{bad}: {body}");
        let res = app.patch_json(&path, &json!({ "url": bad })).await;
        assert_eq!(res.status(), 400, "{bad}");
    }
    let res = app
        .post_json(ENDPOINTS, &json!({ "description": "no url" }))
        .await;
    assert_eq!(res.status(), 400);
    assert!(res.json::<Value>().await.unwrap()["url"][0].is_string());
    for bad in [
        json!(["calendar.nope"]),
        json!("calendar.update"),
        json!([1]),
    ] {
        let res = app
            .post_json(
                ENDPOINTS,
                &json!({ "url": "http://127.0.0.1:9/", "event_types": bad }),
            )
            .await;
        assert_eq!(res.status(), 400, "{bad}");
        let body: Value = res.json().await.unwrap();
        assert!(body["event_types"][0].is_string(), "{bad}: {body}");
    }
    let res = app
        .post_json(ENDPOINTS, &json!(["not", "an", "object"]))
        .await;
    assert_eq!(res.status(), 400);
    assert!(res.json::<Value>().await.unwrap()["detail"].is_string());
    let unchanged: Value = app.get(&path).await.json().await.unwrap();
    assert_eq!(unchanged["url"], "https://127.0.0.1:9/new");

    // Cursor pagination over three endpoints.
    // (Distinct creation times make the expected order certain.)
    advance(&app, 1);
    create_endpoint(&app, "http://127.0.0.1:9/two", None).await;
    advance(&app, 1);
    create_endpoint(
        &app,
        "http://127.0.0.1:9/three",
        Some(json!(["bot.scheduled"])),
    )
    .await;
    let first: Value = app
        .get(&format!("{ENDPOINTS}?page_size=2"))
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(first["results"].as_array().unwrap().len(), 2);
    assert!(first["previous"].is_null());
    assert_eq!(first["results"][0]["id"], id.as_str());
    assert!(!first.to_string().contains("secret"));
    let next = first["next"].as_str().unwrap();
    assert!(next.starts_with(&app.address));
    let second: Value = app
        .client
        .get(next)
        .header("Authorization", app.auth())
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(second["results"].as_array().unwrap().len(), 1);
    assert_eq!(second["results"][0]["url"], "http://127.0.0.1:9/three");
    assert!(second["next"].is_null());
    let back: Value = app
        .client
        .get(second["previous"].as_str().unwrap())
        .header("Authorization", app.auth())
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(back["results"], first["results"]);
    let res = app.get(&format!("{ENDPOINTS}?cursor=tampered")).await;
    assert_eq!(res.status(), 400);

    // Unknown ids, no auth, delete.
    let other = uuid::Uuid::new_v4();
    for p in [
        format!("{ENDPOINTS}{other}/"),
        format!("{ENDPOINTS}{other}/secret/"),
        format!("{ENDPOINTS}not-a-uuid/"),
    ] {
        assert_eq!(app.get(&p).await.status(), 404, "{p}");
    }
    let res = app
        .post_json(&format!("{ENDPOINTS}{other}/rotate-secret/"), &json!({}))
        .await;
    assert_eq!(res.status(), 404);
    assert_eq!(
        app.delete(&format!("{ENDPOINTS}{other}/")).await.status(),
        404
    );
    let res = app.client.get(app.url(ENDPOINTS)).send().await.unwrap();
    assert_eq!(res.status(), 401);
    let res = app.delete(&path).await;
    assert_eq!(res.status(), 204);
    assert_eq!(app.get(&path).await.status(), 404);
}

/// POSTs a raw body with the given content type to the endpoints list.
async fn post_raw(app: &TestApp, content_type: &str, body: &'static str) -> reqwest::Response {
    app.client
        .post(app.url(ENDPOINTS))
        .header("Authorization", app.auth())
        .header("content-type", content_type)
        .body(body)
        .send()
        .await
        .unwrap()
}

#[tokio::test]
async fn json_posts_answer_415_413_and_400_with_detail() {
    let app = spawn_app().await;
    let res = post_raw(&app, "text/plain", r#"{"url": "http://127.0.0.1:9/"}"#).await;
    assert_eq!(res.status(), 415);
    assert!(res.json::<Value>().await.unwrap()["detail"].is_string());

    let huge = json!({ "url": "http://127.0.0.1:9/", "description": "x".repeat(1024 * 1024 + 10) });
    let res = app.post_json(ENDPOINTS, &huge).await;
    assert_eq!(res.status(), 413);
    assert!(res.json::<Value>().await.unwrap()["detail"].is_string());

    let res = post_raw(
        &app,
        "application/json",
        r#"{"url": "http://127.0.0.1:9/","#,
    )
    .await;
    assert_eq!(res.status(), 400);
    assert!(res.json::<Value>().await.unwrap()["detail"].is_string());
    // Nothing was created by any of them.
    let list: Value = app.get(ENDPOINTS).await.json().await.unwrap();
    assert_eq!(list["results"], json!([]));
}

#[tokio::test]
async fn deliveries_are_signed_per_standard_webhooks_and_filtered_by_type() {
    let app = spawn_app().await;
    let mut rx = Receiver::start().await;
    let (all_id, all_secret) = create_endpoint(&app, &rx.url("/all"), None).await;
    let (_, updates_secret) =
        create_endpoint(&app, &rx.url("/updates"), Some(json!(["calendar.update"]))).await;
    let workspace: Value = app
        .get("/api/v1/webhook-secret/")
        .await
        .json()
        .await
        .unwrap();
    let workspace = workspace["secret"].as_str().unwrap().to_string();

    let data = json!({ "calendar_id": "cal-1", "last_updated_ts": "2026-11-23T15:00:00Z" });
    let msg = enqueue_on(
        &app.state,
        "calendar.sync_events",
        "cal-1",
        data.clone(),
        Some(rx.url("/calendar-own")),
    )
    .await;
    assert_eq!(deliver(&app).await, 2);
    let mut got = rx.drain();
    got.sort_by(|a, b| a.path.cmp(&b.path));
    assert_eq!(
        got.iter().map(|r| r.path.as_str()).collect::<Vec<_>>(),
        ["/all", "/calendar-own"]
    );
    let now = chrono::Utc::now().timestamp();
    for r in &got {
        assert_eq!(r.method, "POST");
        assert_eq!(r.id(), msg);
        assert_eq!(r.header("content-type"), "application/json");
        assert!(
            r.header("user-agent").starts_with("Convene/"),
            "{}",
            r.header("user-agent")
        );
        let ts: i64 = r.header("webhook-timestamp").parse().unwrap();
        assert!((ts - now).abs() < 60);
        assert!(r.header("webhook-signature").starts_with("v1,"));
        assert!(!r.header("webhook-signature").contains(' '));
        assert_eq!(
            r.json(),
            json!({ "event": "calendar.sync_events", "data": data })
        );
    }
    // The endpoint's own secret signs endpoint deliveries, the workspace secret the
    // calendar's webhook_url; each verifies only with its own secret.
    got[0]
        .verify(&all_secret)
        .expect("endpoint delivery verifies");
    assert!(got[0].verify(&workspace).is_err());
    got[1]
        .verify(&workspace)
        .expect("webhook_url delivery verifies");
    assert!(got[1].verify(&all_secret).is_err());
    // The verifier does check the body.
    let mut tampered = got[0].clone();
    tampered.body = br#"{"event":"calendar.update","data":{}}"#.to_vec();
    assert!(tampered.verify(&all_secret).is_err());

    let msg2 = enqueue(&app, "calendar.update", "cal-1").await;
    assert_eq!(deliver(&app).await, 2);
    let got = rx.drain();
    let mut paths: Vec<&str> = got.iter().map(|r| r.path.as_str()).collect();
    paths.sort();
    assert_eq!(paths, ["/all", "/updates"]);
    for r in &got {
        assert_eq!(r.id(), msg2);
        let secret = if r.path == "/all" {
            &all_secret
        } else {
            &updates_secret
        };
        r.verify(secret).expect("verifies");
    }

    // The log has the attempt.
    let d = delivery(&app.state, &all_id, &msg).await;
    assert_eq!(d.delivery.status.as_str(), "delivered");
    assert_eq!(d.attempts.len(), 1);
    assert_eq!(d.attempts[0].status_code, Some(200));
    assert_eq!(
        serde_json::from_str::<Value>(&d.payload).unwrap()["data"],
        data
    );
    assert_eq!(deliver(&app).await, 0);
}

#[tokio::test]
async fn retries_follow_the_schedule_and_retry_after_with_the_same_id() {
    let app = app_with_schedule("10,20").await;
    let mut rx = Receiver::scripted(|_, n| match n {
        0 => Reply::status(500).body("e".repeat(5000)),
        1 => Reply::status(503).header("Retry-After", "60"),
        _ => Reply::status(500),
    })
    .await;
    let (endpoint_id, secret) = create_endpoint(&app, &rx.url("/hook"), None).await;
    let msg = enqueue(&app, "calendar.update", "cal-1").await;

    assert_eq!(deliver(&app).await, 1, "first attempt at once");
    assert_eq!(deliver(&app).await, 0);
    advance(&app, 9);
    assert_eq!(deliver(&app).await, 0, "10 s not yet over");
    advance(&app, 1);
    assert_eq!(deliver(&app).await, 1, "second attempt after 10 s");
    advance(&app, 20);
    assert_eq!(
        deliver(&app).await,
        0,
        "Retry-After 60 s is longer than the schedule's 20 s"
    );
    advance(&app, 39);
    assert_eq!(deliver(&app).await, 0);
    advance(&app, 1);
    assert_eq!(deliver(&app).await, 1, "third attempt after Retry-After");
    advance(&app, 86_400);
    assert_eq!(deliver(&app).await, 0, "schedule exhausted");

    let got = rx.drain();
    assert_eq!(ids(&got), vec![msg.clone(), msg.clone(), msg.clone()]);
    for r in &got {
        r.verify(&secret).expect("every retry verifies");
        assert_eq!(r.body, got[0].body);
    }
    let d = delivery(&app.state, &endpoint_id, &msg).await;
    assert_eq!(d.delivery.status.as_str(), "failed");
    assert_eq!(d.delivery.attempts, 3);
    let codes: Vec<Option<i64>> = d.attempts.iter().map(|a| a.status_code).collect();
    assert_eq!(codes, [Some(500), Some(503), Some(500)]);
    assert_eq!(d.attempts[0].response_body.as_deref().unwrap().len(), 2048);
    assert!(endpoint(&app.state, &endpoint_id)
        .await
        .failing_since
        .is_some());
}

#[tokio::test]
async fn connection_errors_are_logged_and_retried() {
    let app = app_with_schedule("5").await;
    let port = {
        let l = TcpListener::bind("127.0.0.1:0").unwrap();
        l.local_addr().unwrap().port()
    };
    let (endpoint_id, _) =
        create_endpoint(&app, &format!("http://127.0.0.1:{port}/closed"), None).await;
    let msg = enqueue(&app, "calendar.update", "cal-1").await;
    assert_eq!(deliver(&app).await, 1);
    advance(&app, 5);
    assert_eq!(deliver(&app).await, 1);
    let d = delivery(&app.state, &endpoint_id, &msg).await;
    assert_eq!(d.delivery.status.as_str(), "failed");
    assert_eq!(d.attempts.len(), 2);
    for a in &d.attempts {
        assert_eq!(a.status_code, None);
        assert!(
            a.error.as_deref().unwrap().contains("connection"),
            "{:?}",
            a.error
        );
    }
}

#[tokio::test]
async fn rotated_secrets_both_sign_for_a_day() {
    let app = spawn_app().await;
    let mut rx = Receiver::start().await;
    let (id, old) = create_endpoint(&app, &rx.url("/hook"), None).await;
    let res = app
        .post_json(&format!("{ENDPOINTS}{id}/rotate-secret/"), &json!({}))
        .await;
    assert_eq!(res.status(), 200);
    let new = res.json::<Value>().await.unwrap()["secret"]
        .as_str()
        .unwrap()
        .to_string();
    assert!(new.starts_with("whsec_") && new != old);
    let shown: Value = app
        .get(&format!("{ENDPOINTS}{id}/secret/"))
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(shown["secret"], new.as_str());

    enqueue(&app, "calendar.update", "cal-1").await;
    deliver(&app).await;
    let r = rx.drain().pop().unwrap();
    let header = r.header("webhook-signature").to_string();
    let sigs: Vec<&str> = header.split(' ').collect();
    assert_eq!(sigs.len(), 2, "{header}");
    r.verify(&new).expect("verifies with the new secret");
    r.verify(&old).expect("verifies with the old secret");
    // Each signature on its own: the first is the new secret's, the second the old one's.
    for (sig, secret, other) in [(sigs[0], &new, &old), (sigs[1], &old, &new)] {
        let mut single = r.clone();
        single
            .headers
            .insert("webhook-signature", sig.parse().unwrap());
        single.verify(secret).expect("single signature verifies");
        assert!(single.verify(other).is_err());
    }

    advance(&app, 24 * 3600 + 1);
    enqueue(&app, "calendar.update", "cal-1").await;
    deliver(&app).await;
    let r = rx.drain().pop().unwrap();
    assert!(!r.header("webhook-signature").contains(' '));
    r.verify(&new).expect("new secret still signs");
    assert!(
        r.verify(&old).is_err(),
        "old secret stopped signing after 24 h"
    );
}

#[tokio::test]
async fn gone_disables_the_endpoint_and_holds_its_queue() {
    let app = spawn_app().await;
    let mut rx = Receiver::scripted(|r, n| {
        if r.path == "/gone" && n == 0 && r.json()["data"]["n"] == 1 {
            Reply::status(410)
        } else {
            Reply::status(200)
        }
    })
    .await;
    let (gone_id, _) = create_endpoint(&app, &rx.url("/gone"), None).await;
    let (ok_id, _) = create_endpoint(&app, &rx.url("/ok"), None).await;
    let m1 = enqueue_on(
        &app.state,
        "calendar.update",
        "cal-1",
        json!({ "n": 1 }),
        None,
    )
    .await;
    let m2 = enqueue_on(
        &app.state,
        "calendar.update",
        "cal-1",
        json!({ "n": 2 }),
        None,
    )
    .await;
    // /gone: m1 answered 410 (no retry), m2 held; /ok: both delivered.
    assert_eq!(deliver(&app).await, 3);
    let got = rx.drain();
    let gone: Vec<String> = got
        .iter()
        .filter(|r| r.path == "/gone")
        .map(|r| r.id().to_string())
        .collect();
    assert_eq!(gone, vec![m1.clone()]);
    let ok: Vec<String> = got
        .iter()
        .filter(|r| r.path == "/ok")
        .map(|r| r.id().to_string())
        .collect();
    assert_eq!(ok, vec![m1.clone(), m2.clone()]);
    let d1 = delivery(&app.state, &gone_id, &m1).await;
    assert_eq!(d1.delivery.status.as_str(), "failed");
    assert_eq!(d1.delivery.attempts, 1);
    let ep = endpoint(&app.state, &gone_id).await;
    assert!(!ep.enabled);
    assert!(ep.disabled_reason.unwrap().contains("410"));
    let shown: Value = app
        .get(&format!("{ENDPOINTS}{gone_id}/"))
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(shown["enabled"], false);
    assert!(endpoint(&app.state, &ok_id).await.enabled);

    // Held, not attempted, even much later; new events skip the disabled endpoint.
    advance(&app, 3600);
    let m3 = enqueue(&app, "calendar.update", "cal-2").await;
    assert_eq!(deliver(&app).await, 1);
    assert_eq!(ids(&rx.drain()), vec![m3.clone()]);
    assert_eq!(
        delivery(&app.state, &gone_id, &m2)
            .await
            .delivery
            .status
            .as_str(),
        "pending"
    );

    // Enabling again resumes the held delivery.
    let res = app
        .patch_json(
            &format!("{ENDPOINTS}{gone_id}/"),
            &json!({ "enabled": true }),
        )
        .await;
    assert_eq!(res.status(), 200);
    assert_eq!(deliver(&app).await, 1);
    let got = rx.drain();
    assert_eq!((got[0].path.as_str(), got[0].id()), ("/gone", m2.as_str()));
    let ep = endpoint(&app.state, &gone_id).await;
    assert!(ep.enabled && ep.disabled_reason.is_none() && ep.failing_since.is_none());
}

#[tokio::test]
async fn an_endpoint_failing_for_five_days_is_disabled_and_flagged() {
    let app = app_with_schedule("86400,86400,86400,86400,86400,86400,86400").await;
    let rx = Receiver::scripted(|_, _| Reply::status(500)).await;
    let (id, _) = create_endpoint(&app, &rx.url("/down"), None).await;
    enqueue(&app, "calendar.update", "cal-1").await;
    assert_eq!(deliver(&app).await, 1);
    let since = endpoint(&app.state, &id)
        .await
        .failing_since
        .expect("failing since set");
    for day in 1..=4 {
        advance(&app, 86_400);
        assert_eq!(deliver(&app).await, 1, "day {day}");
        let ep = endpoint(&app.state, &id).await;
        assert!(ep.enabled, "still enabled on day {day}");
        assert_eq!(ep.failing_since, Some(since));
    }
    advance(&app, 86_400);
    assert_eq!(deliver(&app).await, 1);
    let ep = endpoint(&app.state, &id).await;
    assert!(!ep.enabled, "disabled after 5 days of failures");
    assert!(ep.disabled_reason.is_some());
    let flagged = app
        .state
        .store
        .read(webhook_endpoints::list_troubled)
        .await
        .unwrap();
    assert_eq!(
        flagged.iter().map(|e| e.id.as_str()).collect::<Vec<_>>(),
        [id.as_str()]
    );
    advance(&app, 86_400);
    assert_eq!(
        deliver(&app).await,
        0,
        "nothing is attempted while disabled"
    );
}

#[tokio::test]
async fn ordering_holds_per_endpoint_and_key_under_failures() {
    let app = app_with_schedule("5").await;
    // On /a: message "A1" fails once, "A3" always; everything else succeeds.
    let mut rx = Receiver::scripted(|r, n| {
        let tag = r.json()["data"]["tag"]
            .as_str()
            .unwrap_or_default()
            .to_string();
        match (r.path.as_str(), tag.as_str()) {
            ("/a", "A1") if n == 0 => Reply::status(500),
            ("/a", "A3") => Reply::status(500),
            _ => Reply::status(200),
        }
    })
    .await;
    let (a_id, _) = create_endpoint(&app, &rx.url("/a"), None).await;
    create_endpoint(&app, &rx.url("/b"), None).await;
    let send = |tag: &'static str, key: &'static str| {
        let state = app.state.clone();
        async move { enqueue_on(&state, "calendar.update", key, json!({ "tag": tag }), None).await }
    };
    let a1 = send("A1", "cal-a").await;
    let a2 = send("A2", "cal-a").await;
    let b1 = send("B1", "cal-b").await;

    deliver(&app).await;
    let got = rx.drain();
    let on = |path: &str, got: &[crate::receiver::Received]| -> Vec<String> {
        got.iter()
            .filter(|r| r.path == path)
            .map(|r| r.id().to_string())
            .collect()
    };
    // /a: A1 failed, so A2 waits; B1 (another key) is not blocked.
    let mut a = on("/a", &got);
    a.sort();
    let mut expected = vec![a1.clone(), b1.clone()];
    expected.sort();
    assert_eq!(a, expected);
    // /b: the same key on another endpoint is not blocked by /a's failure, and in order.
    let b = on("/b", &got);
    assert_eq!(
        b.iter().filter(|m| **m != b1).cloned().collect::<Vec<_>>(),
        vec![a1.clone(), a2.clone()]
    );

    advance(&app, 5);
    deliver(&app).await;
    assert_eq!(
        on("/a", &rx.drain()),
        vec![a1.clone(), a2.clone()],
        "A1 succeeds, then A2"
    );
    assert!(
        endpoint(&app.state, &a_id).await.failing_since.is_none(),
        "a success ends the streak"
    );

    // A final failure also releases the next message.
    let a3 = send("A3", "cal-a").await;
    let a4 = send("A4", "cal-a").await;
    deliver(&app).await;
    assert_eq!(on("/a", &rx.drain()), vec![a3.clone()]);
    advance(&app, 5);
    deliver(&app).await;
    assert_eq!(
        on("/a", &rx.drain()),
        vec![a3.clone(), a4.clone()],
        "A3 fails finally, then A4"
    );
    assert_eq!(
        delivery(&app.state, &a_id, &a3)
            .await
            .delivery
            .status
            .as_str(),
        "failed"
    );
    assert_eq!(
        delivery(&app.state, &a_id, &a4)
            .await
            .delivery
            .status
            .as_str(),
        "delivered"
    );
}

/// A second `Application` on the same data directory: what a restart sees.
async fn restart(app: &TestApp) -> AppState {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let port = listener.local_addr().unwrap().port();
    let env = HashMap::from([
        ("CONVENE_LISTEN".to_string(), format!("127.0.0.1:{port}")),
        (
            "CONVENE_PUBLIC_URL".to_string(),
            format!("http://127.0.0.1:{port}"),
        ),
        (
            "CONVENE_DATA_DIR".to_string(),
            app.data_dir.path().to_string_lossy().into_owned(),
        ),
        ("CONVENE_LOG".to_string(), "warn".to_string()),
    ]);
    let settings = Settings::from_sources(env, None).unwrap();
    let restarted = Application::build_with_listener(settings, listener)
        .await
        .unwrap();
    let state = restarted.state();
    tokio::spawn(restarted.run_until_stopped());
    state
}

#[tokio::test]
async fn queued_and_in_flight_deliveries_survive_a_restart() {
    let app = spawn_app().await;
    let mut rx = Receiver::start().await;
    let (endpoint_id, secret) = create_endpoint(&app, &rx.url("/hook"), None).await;
    // An attempt of `in_flight` was running when the process died: taken, never recorded.
    let in_flight = enqueue(&app, "calendar.update", "cal-2").await;
    let now = app.state.now_ms();
    let taken = app
        .state
        .store
        .write(move |tx| {
            let none = HashMap::new();
            let limits = outbox::ClaimLimits {
                total: 16,
                per_target: 16,
                held: &none,
            };
            outbox::claim_due(tx, now, 60_000, limits)
        })
        .await
        .unwrap();
    assert_eq!(ids_of(&taken), vec![in_flight.clone()]);
    let queued = enqueue(&app, "calendar.update", "cal-1").await;
    assert_eq!(
        deliver(&app).await,
        1,
        "a running process does not send a leased delivery twice"
    );
    assert_eq!(ids(&rx.drain()), vec![queued]);

    let state = restart(&app).await;
    assert_eq!(deliver_due(&state).await.unwrap(), 1);
    let got = rx.drain();
    assert_eq!(ids(&got), vec![in_flight.clone()]);
    got[0].verify(&secret).unwrap();
    let d = delivery(&state, &endpoint_id, &in_flight).await;
    assert_eq!(d.delivery.status.as_str(), "delivered");
    assert_eq!(d.attempts.len(), 2);
    assert!(d.attempts[0].error.as_deref().unwrap().contains("stopped"));
    assert_eq!(d.attempts[1].status_code, Some(200));

    // Queued before a stop, delivered by the next process.
    let m = enqueue_on(&state, "calendar.update", "cal-3", json!({}), None).await;
    let state2 = restart(&app).await;
    assert_eq!(deliver_due(&state2).await.unwrap(), 1);
    assert_eq!(ids(&rx.drain()), vec![m]);
}

/// The real binary, killed with SIGKILL by the test that started it.
struct Server(std::process::Child);

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

async fn start_server(dir: &std::path::Path, port: u16) -> Server {
    let child = std::process::Command::new(env!("CARGO_BIN_EXE_convene"))
        .arg("serve")
        .env("CONVENE_DATA_DIR", dir)
        .env("CONVENE_LISTEN", format!("127.0.0.1:{port}"))
        .env("CONVENE_PUBLIC_URL", format!("http://127.0.0.1:{port}"))
        .env("CONVENE_LOG", "error")
        .stdout(std::process::Stdio::null())
        .spawn()
        .unwrap();
    let server = Server(child);
    let client = reqwest::Client::new();
    let deadline = tokio::time::Instant::now() + WAIT;
    loop {
        let ready = client
            .get(format!("http://127.0.0.1:{port}/readyz/"))
            .send()
            .await
            .is_ok_and(|r| r.status() == 200);
        if ready {
            return server;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "server did not start"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

#[tokio::test]
async fn kill_9_mid_attempt_and_before_delivery_loses_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let port = TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    // The first attempt of the cal-1 message hangs, so the process dies mid-attempt.
    let mut rx = Receiver::scripted(|r, n| {
        if n == 0 && r.json()["data"]["calendar_id"] == "cal-1" {
            Reply::status(200).delay(Duration::from_secs(600))
        } else {
            Reply::status(200)
        }
    })
    .await;
    let mut server = start_server(dir.path(), port).await;
    let store = convene::store::Store::open(&dir.path().join("convene.db")).unwrap();
    let st = store.clone();
    let (_, key) =
        tokio::task::spawn_blocking(move || convene::api::keys::create_api_key(&st, "t"))
            .await
            .unwrap()
            .unwrap();
    let res = reqwest::Client::new()
        .post(format!("http://127.0.0.1:{port}{ENDPOINTS}"))
        .header("Authorization", format!("Token {key}"))
        .json(&json!({ "url": rx.url("/hook") }))
        .send()
        .await
        .unwrap();
    let secret = res.json::<Value>().await.unwrap()["secret"]
        .as_str()
        .unwrap()
        .to_string();

    let write = |key: &'static str| {
        let store = store.clone();
        async move {
            let event = OutboxEvent {
                event_type: "calendar.update".into(),
                ordering_key: key.into(),
                data: json!({ "calendar_id": key }),
                extra_url: None,
            };
            store
                .write(move |tx| outbox::enqueue(tx, &event, convene::store::now_ms()))
                .await
                .unwrap()
        }
    };
    let m1 = write("cal-1").await;
    let first = rx.next_within(WAIT).await;
    assert_eq!(first.id(), m1);
    server.0.kill().unwrap(); // SIGKILL while the attempt is in flight
    server.0.wait().unwrap();
    let m2 = write("cal-2").await; // queued while the server is down

    let _server = start_server(dir.path(), port).await;
    let mut seen = HashMap::new();
    while seen.len() < 2 {
        let r = rx.next_within(WAIT).await;
        r.verify(&secret).expect("verifies");
        seen.insert(r.id().to_string(), r);
    }
    assert!(
        seen.contains_key(&m1),
        "the interrupted message is sent again, same id"
    );
    assert!(
        seen.contains_key(&m2),
        "the message queued while down arrives"
    );
}

#[tokio::test]
async fn first_attempt_is_immediate_with_jobs_running() {
    let app = spawn_app_with(Options {
        jobs: true,
        ..Default::default()
    })
    .await;
    let mut rx = Receiver::start().await;
    let (_, secret) = create_endpoint(&app, &rx.url("/hook"), None).await;
    let msg = enqueue(&app, "bot.scheduled", "bot-1").await;
    let r = rx.next_within(WAIT).await;
    assert_eq!(r.id(), msg);
    r.verify(&secret).unwrap();
}

#[tokio::test]
async fn replay_sends_the_same_message_again() {
    let app = spawn_app().await;
    let mut rx = Receiver::start().await;
    let (endpoint_id, secret) = create_endpoint(&app, &rx.url("/hook"), None).await;
    let msg = enqueue(&app, "calendar.update", "cal-1").await;
    assert_eq!(deliver(&app).await, 1);
    let first = rx.drain().pop().unwrap();
    let d = delivery(&app.state, &endpoint_id, &msg).await;
    assert_eq!(d.delivery.status.as_str(), "delivered");

    assert_eq!(
        deliver::replay(&app.state, d.delivery.id).await.unwrap(),
        ReplayOutcome::Scheduled
    );
    assert_eq!(deliver(&app).await, 1);
    let again = rx.drain().pop().unwrap();
    assert_eq!(again.id(), msg);
    assert_eq!(again.body, first.body);
    again.verify(&secret).unwrap();
    let d = delivery(&app.state, &endpoint_id, &msg).await;
    assert_eq!(d.delivery.status.as_str(), "delivered");
    assert_eq!(d.attempts.len(), 2);
    assert_eq!(
        deliver::replay(&app.state, 999_999).await.unwrap(),
        ReplayOutcome::NotFound
    );
}

/// Messages received on `path`, as (ordering key, `webhook-id`) in arrival order.
fn arrivals_on(got: &[crate::receiver::Received], path: &str) -> Vec<(String, String)> {
    got.iter()
        .filter(|r| r.path == path)
        .map(|r| {
            let key = r.json()["data"]["calendar_id"]
                .as_str()
                .unwrap_or_default()
                .to_string();
            (key, r.id().to_string())
        })
        .collect()
}

#[tokio::test]
async fn a_slow_receiver_holds_only_its_own_share() {
    let app = spawn_app().await;
    let (open, gate) = tokio::sync::watch::channel(false);
    // /slow answers nothing until the gate opens; on /fast only the key "cal-held" hangs.
    let mut rx = Receiver::scripted(move |r, _| {
        let key = r.json()["data"]["calendar_id"]
            .as_str()
            .unwrap_or_default()
            .to_string();
        if r.path == "/slow" || key == "cal-held" {
            Reply::status(200).hold(gate.clone())
        } else {
            Reply::status(200)
        }
    })
    .await;
    create_endpoint(&app, &rx.url("/slow"), None).await;
    create_endpoint(&app, &rx.url("/fast"), None).await;
    let mut sent: Vec<(String, String)> = Vec::new();
    for key in ["cal-held", "cal-held"] {
        sent.push((key.into(), enqueue(&app, "calendar.update", key).await));
    }
    // More keys than attempts may run at once in all; eight of them with two messages.
    let keys = deliver::CONCURRENCY + 8;
    for i in 0..(keys + 8) {
        let key = format!("cal-{}", i % keys);
        sent.push((key.clone(), enqueue(&app, "calendar.update", &key).await));
    }

    let state = app.state.clone();
    let sweep = tokio::spawn(async move { deliver_due(&state).await.unwrap() });
    // Everything for /fast arrives while /slow and the key "cal-held" hang: all but the
    // second "cal-held" message, which waits for the first.
    let mut got = Vec::new();
    let fast_expected = sent.len() - 1;
    while arrivals_on(&got, "/fast").len() < fast_expected {
        got.push(rx.next_within(Duration::from_secs(10)).await);
    }
    let fast = arrivals_on(&got, "/fast");
    assert!(
        fast.iter().all(|(_, id)| *id != sent[1].1),
        "the second message of a hanging key waits"
    );
    let slow = arrivals_on(&got, "/slow").len();
    assert!(
        slow > 0 && slow <= deliver::PER_TARGET,
        "a target gets at most its share at once ({slow})"
    );
    assert!(!sweep.is_finished());

    open.send(true).unwrap();
    let attempts = sweep.await.unwrap();
    assert_eq!(attempts, 2 * sent.len());
    got.extend(rx.drain());
    for path in ["/slow", "/fast"] {
        let arrived = arrivals_on(&got, path);
        assert_eq!(arrived.len(), sent.len(), "each message once on {path}");
        let mut keys: Vec<&String> = sent.iter().map(|(k, _)| k).collect();
        keys.dedup();
        for key in keys {
            let want: Vec<&String> = sent
                .iter()
                .filter(|(k, _)| k == key)
                .map(|(_, id)| id)
                .collect();
            let had: Vec<&String> = arrived
                .iter()
                .filter(|(k, _)| k == key)
                .map(|(_, id)| id)
                .collect();
            assert_eq!(had, want, "{path} {key} in order");
        }
    }
    assert_eq!(rx.most_at_once_per_key(), 1);
}

#[tokio::test]
async fn ordering_per_key_holds_with_many_attempts_at_once() {
    let app = app_with_schedule("5").await;
    // Answers take 0-3 ms so attempts overlap and finish out of order; on /a every
    // message whose number is 3 mod 7 fails once (and its key's later messages wait).
    let mut rx = Receiver::scripted(|r, n| {
        let num = r.json()["data"]["n"].as_u64().unwrap_or(0);
        let reply = if r.path == "/a" && num % 7 == 3 && n == 0 {
            Reply::status(500)
        } else {
            Reply::status(200)
        };
        reply.delay(Duration::from_millis(num % 4))
    })
    .await;
    create_endpoint(&app, &rx.url("/a"), None).await;
    create_endpoint(&app, &rx.url("/b"), None).await;
    let mut sent: Vec<(String, String)> = Vec::new();
    for n in 0..120u64 {
        let key = format!("cal-{}", n % 12);
        let data = json!({ "calendar_id": key, "n": n });
        let id = enqueue_on(&app.state, "calendar.update", &key, data, None).await;
        sent.push((key, id));
    }
    let mut got = Vec::new();
    for _ in 0..20 {
        deliver(&app).await;
        got.extend(rx.drain());
        if arrivals_on(&got, "/a").len() >= sent.len() + 120 / 7 {
            break;
        }
        advance(&app, 5);
    }
    for path in ["/a", "/b"] {
        let arrived = arrivals_on(&got, path);
        for key in (0..12).map(|k| format!("cal-{k}")) {
            let want: Vec<&String> = sent
                .iter()
                .filter(|(k, _)| *k == key)
                .map(|(_, id)| id)
                .collect();
            let mut had: Vec<&String> = arrived
                .iter()
                .filter(|(k, _)| *k == key)
                .map(|(_, id)| id)
                .collect();
            // A retried message arrives twice in a row, never after a later one.
            had.dedup();
            assert_eq!(had, want, "{path} {key} in order");
        }
    }
    assert_eq!(
        rx.most_at_once_per_key(),
        1,
        "one attempt per key at a time"
    );
}
