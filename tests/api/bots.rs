//! Managed bot scheduling: dedup, last call wins, unscheduling, reconciliation with synced
//! changes, V1 auto-recording, and the bot backend queue against a fake backend.
//!
//! Calendars and events are inserted by hand (as sync would leave them) and changed with
//! SQL the way a sync would, then `reconcile_due` / `dispatch_due` are called directly.

use std::collections::{HashMap, HashSet};
use std::net::TcpListener;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use actix_web::{web, App, HttpRequest, HttpResponse, HttpServer};
use serde_json::{json, Value};

use convene::scheduling::{self, autorecord, dispatch, reconcile};
use convene::store::{bots as db, StoreError};

use crate::helpers::{spawn_app, spawn_app_with, Options, TestApp};

const HOUR: i64 = 3_600_000;
const BACKEND_KEY: &str = "bk_test_key";

// ------------------------------------------------------------------------------ fixtures

async fn sql(app: &TestApp, statement: &str, params: Vec<rusqlite::types::Value>) {
    let statement = statement.to_string();
    app.state
        .store
        .write(move |tx| {
            tx.execute(&statement, rusqlite::params_from_iter(params))?;
            Ok::<_, StoreError>(())
        })
        .await
        .unwrap();
}

fn text(s: &str) -> rusqlite::types::Value {
    rusqlite::types::Value::Text(s.to_string())
}

fn int(n: i64) -> rusqlite::types::Value {
    rusqlite::types::Value::Integer(n)
}

fn null() -> rusqlite::types::Value {
    rusqlite::types::Value::Null
}

/// A V2 calendar (or a V1 connection of `user_id`), connected.
async fn insert_calendar(app: &TestApp, user_id: Option<&str>) -> String {
    let id = uuid::Uuid::new_v4().to_string();
    let now = app.state.now_ms();
    sql(
        app,
        "INSERT INTO calendars (id, kind, calendar_user_id, platform, status, created_at, updated_at)
         VALUES (?1, ?2, ?3, 'google_calendar', 'connected', ?4, ?4)",
        vec![
            text(&id),
            text(if user_id.is_some() { "v1" } else { "v2" }),
            user_id.map(text).unwrap_or(null()),
            int(now),
        ],
    )
    .await;
    id
}

async fn insert_user(app: &TestApp, preferences: Value) -> String {
    let id = uuid::Uuid::new_v4().to_string();
    let now = app.state.now_ms();
    sql(
        app,
        "INSERT INTO calendar_users (id, external_id, preferences, created_at, updated_at)
         VALUES (?1, ?2, ?3, ?4, ?4)",
        vec![
            text(&id),
            text(&format!("user-{id}")),
            text(&preferences.to_string()),
            int(now),
        ],
    )
    .await;
    id
}

/// An event starting `start_in` ms from now, an hour long.
async fn insert_event(
    app: &TestApp,
    calendar_id: &str,
    start_in: i64,
    url: Option<&str>,
) -> String {
    let id = uuid::Uuid::new_v4().to_string();
    let now = app.state.now_ms();
    let start = now + start_in;
    sql(
        app,
        "INSERT INTO calendar_events (id, calendar_id, platform_id, ical_uid, start_time, end_time,
             meeting_platform, meeting_url, raw, content_hash, created_at, updated_at)
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, 'h', ?10, ?10)",
        vec![
            text(&id),
            text(calendar_id),
            text(&format!("p-{id}")),
            text(&format!("ical-{id}")),
            int(start),
            int(start + HOUR),
            url.map(|_| text("zoom")).unwrap_or(null()),
            url.map(text).unwrap_or(null()),
            text(&json!({"id": format!("p-{id}"), "summary": "Standup"}).to_string()),
            int(now),
        ],
    )
    .await;
    id
}

async fn event_start(app: &TestApp, event_id: &str) -> i64 {
    let id = event_id.to_string();
    app.state
        .store
        .read(move |c| {
            Ok::<i64, StoreError>(c.query_row(
                "SELECT start_time FROM calendar_events WHERE id = ?1",
                [id],
                |r| r.get(0),
            )?)
        })
        .await
        .unwrap()
}

/// Moves an event the way a sync would.
async fn move_event(app: &TestApp, event_id: &str, new_start: i64) {
    let now = app.state.now_ms();
    sql(
        app,
        "UPDATE calendar_events SET start_time = ?2, end_time = ?2 + 3600000, updated_at = ?3
         WHERE id = ?1",
        vec![text(event_id), int(new_start), int(now)],
    )
    .await;
}

async fn set_event_url(app: &TestApp, event_id: &str, url: &str) {
    let now = app.state.now_ms();
    sql(
        app,
        "UPDATE calendar_events SET meeting_url = ?2, updated_at = ?3 WHERE id = ?1",
        vec![text(event_id), text(url), int(now)],
    )
    .await;
}

async fn delete_event(app: &TestApp, event_id: &str) {
    let now = app.state.now_ms();
    sql(
        app,
        "UPDATE calendar_events SET is_deleted = 1, updated_at = ?2 WHERE id = ?1",
        vec![text(event_id), int(now)],
    )
    .await;
}

async fn event(app: &TestApp, event_id: &str) -> Value {
    let event = convene::events::bot::event_json(&app.state, event_id)
        .await
        .unwrap()
        .expect("event exists");
    serde_json::to_value(event).unwrap()
}

async fn bots_of(app: &TestApp, event_id: &str) -> Vec<Value> {
    event(app, event_id).await["bots"]
        .as_array()
        .cloned()
        .unwrap()
}

async fn bot(app: &TestApp, bot_id: &str) -> db::Bot {
    let id = bot_id.to_string();
    app.state
        .store
        .read(move |c| db::get_bot(c, &id))
        .await
        .unwrap()
        .expect("bot exists")
}

async fn bots_with_key(app: &TestApp, key: &str) -> Vec<db::Bot> {
    let key = key.to_string();
    app.state
        .store
        .read(move |c| db::bots_for_key(c, &key))
        .await
        .unwrap()
}

/// Payloads of the webhook messages of one type, oldest first.
async fn webhooks(app: &TestApp, event_type: &str) -> Vec<Value> {
    let t = event_type.to_string();
    app.state
        .store
        .read(move |c| {
            let mut s = c.prepare(
                "SELECT payload, ordering_key FROM webhook_messages WHERE event_type = ?1
                 ORDER BY created_at, rowid",
            )?;
            let rows = s
                .query_map([t], |r| {
                    Ok((r.get::<_, String>(0)?, r.get::<_, String>(1)?))
                })?
                .collect::<Result<Vec<_>, _>>()?;
            Ok::<_, StoreError>(
                rows.into_iter()
                    .map(|(p, key)| {
                        let mut v: Value = serde_json::from_str(&p).unwrap();
                        v["ordering_key"] = json!(key);
                        v
                    })
                    .collect(),
            )
        })
        .await
        .unwrap()
}

async fn post_bot(app: &TestApp, event_id: &str, body: Value) -> reqwest::Response {
    app.post_json(&format!("/api/v2/calendar-events/{event_id}/bot/"), &body)
        .await
}

async fn schedule_ok(app: &TestApp, event_id: &str, key: &str, config: Value) -> Value {
    let res = post_bot(
        app,
        event_id,
        json!({"deduplication_key": key, "bot_config": config}),
    )
    .await;
    assert_eq!(res.status(), 200);
    res.json().await.unwrap()
}

async fn unschedule_ok(app: &TestApp, event_id: &str) -> Value {
    let res = app
        .delete(&format!("/api/v2/calendar-events/{event_id}/bot/"))
        .await;
    assert_eq!(res.status(), 200);
    res.json().await.unwrap()
}

fn rfc3339(ms: i64) -> String {
    convene::store::ms_to_rfc3339(ms)
}

// ------------------------------------------------------------------------ fake backend

#[derive(Debug, Clone)]
struct Call {
    method: String,
    path: String,
    idempotency_key: String,
    authorization: String,
    body: Value,
}

/// A bot service on loopback: records calls, fails the next N, honours Idempotency-Key
/// (a repeated key answers the bot it made), and can hang after making a bot (a "crash"
/// between its answer and Convene's commit).
#[derive(Default)]
struct FakeBackendState {
    calls: Mutex<Vec<Call>>,
    by_key: Mutex<HashMap<String, String>>,
    live: Mutex<HashMap<String, Value>>,
    made: AtomicUsize,
    fail_next: AtomicUsize,
    fail_status: AtomicUsize,
    hang_after_create: AtomicBool,
}

struct FakeBackend {
    url: String,
    state: Arc<FakeBackendState>,
}

impl FakeBackend {
    async fn start() -> FakeBackend {
        let state = Arc::new(FakeBackendState::default());
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let url = format!("http://{}", listener.local_addr().unwrap());
        let data = web::Data::from(state.clone());
        let server = HttpServer::new(move || {
            App::new()
                .app_data(data.clone())
                .app_data(web::PayloadConfig::default())
                .route("/api/v1/bot/", web::post().to(fake_create))
                .route("/api/v1/bot/{id}/", web::delete().to(fake_delete))
        })
        .workers(1)
        .listen(listener)
        .unwrap()
        .run();
        tokio::spawn(server);
        FakeBackend { url, state }
    }
    fn calls(&self) -> Vec<Call> {
        self.state.calls.lock().unwrap().clone()
    }
    fn calls_of(&self, method: &str) -> Vec<Call> {
        self.calls()
            .into_iter()
            .filter(|c| c.method == method)
            .collect()
    }
    fn live(&self) -> HashMap<String, Value> {
        self.state.live.lock().unwrap().clone()
    }
    fn fail_next(&self, n: usize, status: u16) {
        self.state
            .fail_status
            .store(status as usize, Ordering::SeqCst);
        self.state.fail_next.store(n, Ordering::SeqCst);
    }
    fn env(&self) -> Vec<(String, String)> {
        vec![
            ("CONVENE_BOT_API_URL".into(), self.url.clone()),
            ("CONVENE_BOT_API_KEY".into(), BACKEND_KEY.into()),
        ]
    }
}

fn record(state: &FakeBackendState, req: &HttpRequest, body: &[u8]) -> Option<HttpResponse> {
    let header = |name: &str| {
        req.headers()
            .get(name)
            .and_then(|v| v.to_str().ok())
            .unwrap_or_default()
            .to_string()
    };
    state.calls.lock().unwrap().push(Call {
        method: req.method().to_string(),
        path: req.path().to_string(),
        idempotency_key: header("idempotency-key"),
        authorization: header("authorization"),
        body: serde_json::from_slice(body).unwrap_or(Value::Null),
    });
    if header("authorization") != format!("Token {BACKEND_KEY}") {
        return Some(HttpResponse::Unauthorized().json(json!({"detail": "bad key"})));
    }
    let failing = state
        .fail_next
        .fetch_update(Ordering::SeqCst, Ordering::SeqCst, |n| n.checked_sub(1))
        .is_ok();
    failing.then(|| {
        let status = state.fail_status.load(Ordering::SeqCst) as u16;
        HttpResponse::build(actix_web::http::StatusCode::from_u16(status).unwrap())
            .json(json!({"detail": "backend trouble"}))
    })
}

async fn fake_create(
    state: web::Data<FakeBackendState>,
    req: HttpRequest,
    body: web::Bytes,
) -> HttpResponse {
    if let Some(res) = record(&state, &req, &body) {
        return res;
    }
    let key = req
        .headers()
        .get("idempotency-key")
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default()
        .to_string();
    let existing = state.by_key.lock().unwrap().get(&key).cloned();
    let id = match existing {
        Some(id) => id, // a replay: the same bot, not a new one
        None => {
            let id = format!("backend-{}", uuid::Uuid::new_v4());
            state.by_key.lock().unwrap().insert(key, id.clone());
            let body: Value = serde_json::from_slice(&body).unwrap_or(Value::Null);
            state.live.lock().unwrap().insert(id.clone(), body);
            state.made.fetch_add(1, Ordering::SeqCst);
            if state.hang_after_create.load(Ordering::SeqCst) {
                // The bot exists, but the caller never hears of it.
                std::future::pending::<()>().await;
            }
            id
        }
    };
    HttpResponse::Created().json(json!({ "id": id }))
}

async fn fake_delete(
    state: web::Data<FakeBackendState>,
    req: HttpRequest,
    path: web::Path<String>,
) -> HttpResponse {
    if let Some(res) = record(&state, &req, &[]) {
        return res;
    }
    match state.live.lock().unwrap().remove(path.as_str()) {
        Some(_) => HttpResponse::NoContent().finish(),
        None => HttpResponse::NotFound().json(json!({"detail": "Not found."})),
    }
}

async fn spawn_with_backend() -> (TestApp, FakeBackend) {
    let backend = FakeBackend::start().await;
    let app = spawn_app_with(Options {
        env: backend.env(),
        ..Default::default()
    })
    .await;
    (app, backend)
}

async fn dispatch(app: &TestApp) -> usize {
    dispatch::dispatch_due(&app.state).await.unwrap()
}

async fn reconcile(app: &TestApp) -> usize {
    reconcile::reconcile_due(&app.state).await.unwrap()
}

// ---------------------------------------------------------------------------------- tests

#[tokio::test]
async fn schedule_validates_and_applies_defaults() {
    let app = spawn_app().await;
    let cal = insert_calendar(&app, None).await;
    let ev = insert_event(&app, &cal, 2 * HOUR, Some("https://zoom.us/j/123?pwd=x")).await;
    let no_url = insert_event(&app, &cal, 2 * HOUR, None).await;
    let past = insert_event(&app, &cal, -HOUR, Some("https://zoom.us/j/9")).await;
    let deleted = insert_event(&app, &cal, HOUR, Some("https://zoom.us/j/8")).await;
    delete_event(&app, &deleted).await;

    // Field validation, Django-REST style.
    let res = post_bot(&app, &ev, json!({})).await;
    assert_eq!(res.status(), 400);
    let body: Value = res.json().await.unwrap();
    assert!(body["deduplication_key"].is_array(), "{body}");
    assert!(body["bot_config"].is_array(), "{body}");
    let res = post_bot(
        &app,
        &ev,
        json!({"deduplication_key": "  ", "bot_config": {}}),
    )
    .await;
    assert_eq!(res.status(), 400);
    let res = post_bot(
        &app,
        &ev,
        json!({"deduplication_key": "k", "bot_config": "x"}),
    )
    .await;
    assert_eq!(res.status(), 400);
    let res = post_bot(
        &app,
        &ev,
        json!({"deduplication_key": "k", "bot_config": {"join_at": "tomorrow"}}),
    )
    .await;
    assert_eq!(res.status(), 400);
    let body: Value = res.json().await.unwrap();
    assert!(body["bot_config"].is_array(), "{body}");

    // No meeting URL anywhere, deleted and past events: 400; with a URL in the config: ok.
    for (event_id, why) in [(&no_url, "no url"), (&past, "past"), (&deleted, "deleted")] {
        let res = post_bot(
            &app,
            event_id,
            json!({"deduplication_key": "k", "bot_config": {}}),
        )
        .await;
        assert_eq!(res.status(), 400, "{why}");
        assert!(bots_of(&app, event_id).await.is_empty(), "{why}");
    }
    let body = schedule_ok(
        &app,
        &no_url,
        "other",
        json!({"meeting_url": "https://meet.google.com/abc-defg-hij"}),
    )
    .await;
    assert_eq!(
        body["bots"][0]["meeting_url"],
        "https://meet.google.com/abc-defg-hij"
    );

    // Unknown and malformed ids.
    let res = post_bot(
        &app,
        &uuid::Uuid::new_v4().to_string(),
        json!({"deduplication_key": "k", "bot_config": {}}),
    )
    .await;
    assert_eq!(res.status(), 404);
    let res = post_bot(
        &app,
        "nope",
        json!({"deduplication_key": "k", "bot_config": {}}),
    )
    .await;
    assert_eq!(res.status(), 404);
    let res = app.get(&format!("/api/v2/calendar-events/{ev}/bot/")).await;
    assert_eq!(res.status(), 405);
    let res = app
        .client
        .post(app.url(&format!("/api/v2/calendar-events/{ev}/bot/")))
        .json(&json!({"deduplication_key": "k", "bot_config": {}}))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 401);

    // Defaults: meeting URL and start from the event; the key is trimmed.
    let before = event(&app, &ev).await;
    let body = schedule_ok(
        &app,
        &ev,
        "  meeting-1 \n",
        json!({"recording_mode": "speaker_view"}),
    )
    .await;
    assert_eq!(body["id"], json!(ev));
    assert_eq!(body["calendar_id"], json!(cal));
    assert_eq!(body["platform"], "google_calendar");
    assert_eq!(body["raw"]["summary"], "Standup");
    assert_eq!(body["is_deleted"], false);
    let bots = body["bots"].as_array().unwrap();
    assert_eq!(bots.len(), 1);
    assert_eq!(bots[0]["deduplication_key"], "meeting-1");
    assert_eq!(bots[0]["meeting_url"], "https://zoom.us/j/123?pwd=x");
    assert_eq!(bots[0]["start_time"], body["start_time"]);
    assert_eq!(bots[0]["bot_name"], "Meeting Notetaker");
    assert_eq!(bots[0]["status"], "scheduled");
    assert!(body["updated_at"].as_str() >= before["updated_at"].as_str());

    // No backend: a Convene id and a bot.scheduled webhook ordered by the bot.
    let bot_id = bots[0]["bot_id"].as_str().unwrap().to_string();
    assert!(uuid::Uuid::parse_str(&bot_id).is_ok());
    let sent = webhooks(&app, "bot.scheduled").await;
    let mine: Vec<&Value> = sent
        .iter()
        .filter(|w| w["data"]["bot_id"] == json!(bot_id))
        .collect();
    assert_eq!(mine.len(), 1);
    assert_eq!(mine[0]["ordering_key"], json!(bot_id));
    assert_eq!(mine[0]["data"]["deduplication_key"], "meeting-1");
    assert_eq!(
        mine[0]["data"]["bot_config"]["recording_mode"],
        "speaker_view"
    );
    assert_eq!(mine[0]["data"]["calendar_event_ids"], json!([ev]));

    // The same call again changes nothing (no new webhook).
    schedule_ok(
        &app,
        &ev,
        "meeting-1",
        json!({"recording_mode": "speaker_view"}),
    )
    .await;
    assert_eq!(webhooks(&app, "bot.scheduled").await.len(), sent.len());
}

#[tokio::test]
async fn one_bot_per_key_across_calendars_and_last_call_wins() {
    let app = spawn_app().await;
    let (cal_a, cal_b) = (
        insert_calendar(&app, None).await,
        insert_calendar(&app, None).await,
    );
    let url = "https://zoom.us/j/555";
    let a = insert_event(&app, &cal_a, 3 * HOUR, Some(url)).await;
    let b = insert_event(&app, &cal_b, 3 * HOUR, Some(url)).await;

    let ba = schedule_ok(&app, &a, "ical-shared", json!({"bot_name": "A's bot"})).await;
    let bb = schedule_ok(&app, &b, "ical-shared", json!({"bot_name": "B's bot"})).await;
    let bot_id = ba["bots"][0]["bot_id"].clone();
    assert_eq!(
        bb["bots"][0]["bot_id"], bot_id,
        "one bot for both calendars"
    );
    assert_eq!(bots_with_key(&app, "ical-shared").await.len(), 1);
    // The second call's config replaced the first's for the shared bot.
    assert_eq!(bots_of(&app, &a).await[0]["bot_name"], "B's bot");

    // Last call wins, including meeting_url and join_at overrides.
    let start = event_start(&app, &a).await;
    let join = start - 120_000;
    let body = schedule_ok(
        &app,
        &a,
        "ical-shared",
        json!({"meeting_url": "https://zoom.us/j/556", "join_at": rfc3339(join)}),
    )
    .await;
    assert_eq!(body["bots"][0]["bot_id"], bot_id);
    assert_eq!(body["bots"][0]["meeting_url"], "https://zoom.us/j/556");
    assert_eq!(body["bots"][0]["start_time"], json!(rfc3339(join)));
    assert_eq!(
        body["bots"][0]["bot_name"], "Meeting Notetaker",
        "config replaced entirely"
    );
    let b_view = bots_of(&app, &b).await;
    assert_eq!(b_view[0]["meeting_url"], "https://zoom.us/j/556");
    let stored = bot(&app, bot_id.as_str().unwrap()).await;
    assert_eq!(
        stored.config,
        json!({"meeting_url": "https://zoom.us/j/556", "join_at": rfc3339(join)}).to_string()
    );

    // Moving one event to another key leaves the shared bot with the other event.
    let body = schedule_ok(&app, &a, "other-key", json!({})).await;
    assert_ne!(body["bots"][0]["bot_id"], bot_id);
    assert_eq!(bots_of(&app, &b).await[0]["bot_id"], bot_id);
    assert_eq!(
        bot(&app, bot_id.as_str().unwrap()).await.status.as_str(),
        "scheduled"
    );
}

#[tokio::test]
async fn unscheduling_cancels_a_bot_only_when_no_event_uses_it() {
    let app = spawn_app().await;
    let (cal_a, cal_b) = (
        insert_calendar(&app, None).await,
        insert_calendar(&app, None).await,
    );
    let a = insert_event(&app, &cal_a, HOUR, Some("https://zoom.us/j/1")).await;
    let b = insert_event(&app, &cal_b, HOUR, Some("https://zoom.us/j/1")).await;
    let solo = insert_event(&app, &cal_a, 2 * HOUR, Some("https://zoom.us/j/2")).await;

    let shared = schedule_ok(&app, &a, "shared", json!({})).await["bots"][0]["bot_id"].clone();
    schedule_ok(&app, &b, "shared", json!({})).await;
    let solo_bot = schedule_ok(&app, &solo, "solo", json!({})).await["bots"][0]["bot_id"].clone();

    // Shared: removing one event keeps the bot for the other.
    let body = unschedule_ok(&app, &a).await;
    assert_eq!(body["bots"], json!([]));
    assert_eq!(bots_of(&app, &b).await[0]["bot_id"], shared);
    assert_eq!(
        bot(&app, shared.as_str().unwrap()).await.status.as_str(),
        "scheduled"
    );
    assert!(webhooks(&app, "bot.cancelled").await.is_empty());
    // Idempotent.
    assert_eq!(unschedule_ok(&app, &a).await["bots"], json!([]));

    // Last event gone: the bot is cancelled and announced once.
    unschedule_ok(&app, &b).await;
    let shared_bot = bot(&app, shared.as_str().unwrap()).await;
    assert_eq!(shared_bot.status.as_str(), "cancelled");
    assert!(!shared_bot.active);
    unschedule_ok(&app, &solo).await;
    unschedule_ok(&app, &solo).await;
    let cancelled = webhooks(&app, "bot.cancelled").await;
    let ids: Vec<&Value> = cancelled.iter().map(|w| &w["data"]["bot_id"]).collect();
    assert_eq!(ids, vec![&shared, &solo_bot]);

    // A cancelled key starts afresh.
    let again = schedule_ok(&app, &a, "shared", json!({})).await["bots"][0]["bot_id"].clone();
    assert_ne!(again, shared);
    assert_eq!(bots_with_key(&app, "shared").await.len(), 2);
    let res = app
        .delete(&format!(
            "/api/v2/calendar-events/{}/bot/",
            uuid::Uuid::new_v4()
        ))
        .await;
    assert_eq!(res.status(), 404);
}

#[tokio::test]
async fn synced_moves_link_changes_and_deletions_are_reconciled_at_the_backend() {
    let (app, backend) = spawn_with_backend().await;
    let cal = insert_calendar(&app, None).await;
    // Joins in two minutes: no "too close" cut-off may freeze it.
    let ev = insert_event(&app, &cal, 120_000, Some("https://zoom.us/j/10")).await;
    let body = schedule_ok(&app, &ev, "k-move", json!({"recording_mode": "audio_only"})).await;
    let bot_id = body["bots"][0]["bot_id"].as_str().unwrap().to_string();
    assert_eq!(dispatch(&app).await, 1);
    let first = bot(&app, &bot_id).await;
    assert_eq!(first.status.as_str(), "dispatched");
    let first_backend = first.backend_id.clone().unwrap();
    assert!(backend.live().contains_key(&first_backend));

    // Nothing drifted: nothing to do.
    assert_eq!(reconcile(&app).await, 0);
    assert_eq!(dispatch(&app).await, 0);

    // The event moves by a minute (a start-time-only change): the bot moves.
    let new_start = event_start(&app, &ev).await + 60_000;
    move_event(&app, &ev, new_start).await;
    assert_eq!(reconcile(&app).await, 1);
    assert_eq!(bot(&app, &bot_id).await.status.as_str(), "moving");
    assert_eq!(
        bots_of(&app, &ev).await[0]["start_time"],
        json!(rfc3339(new_start))
    );
    dispatch(&app).await;
    let moved = bot(&app, &bot_id).await;
    assert_eq!(moved.status.as_str(), "dispatched");
    let live = backend.live();
    assert_eq!(
        live.len(),
        1,
        "old backend bot deleted, new one made: {live:?}"
    );
    let second_backend = moved.backend_id.clone().unwrap();
    assert_ne!(second_backend, first_backend);
    let deletes = backend.calls_of("DELETE");
    assert_eq!(deletes.len(), 1);
    assert_eq!(deletes[0].path, format!("/api/v1/bot/{first_backend}/"));
    assert_eq!(live[&second_backend]["join_at"], json!(rfc3339(new_start)));
    assert_eq!(live[&second_backend]["recording_mode"], "audio_only");
    assert_eq!(
        bots_of(&app, &ev).await[0]["bot_id"],
        json!(bot_id),
        "stable Convene id"
    );

    // The meeting link changes: the bot is made again with the new link.
    set_event_url(&app, &ev, "https://meet.google.com/new-link-abc").await;
    assert_eq!(reconcile(&app).await, 1);
    dispatch(&app).await;
    let live = backend.live();
    assert_eq!(live.len(), 1);
    let third = bot(&app, &bot_id).await;
    assert_eq!(
        live[third.backend_id.as_ref().unwrap()]["meeting_url"],
        "https://meet.google.com/new-link-abc"
    );
    assert_eq!(
        bots_of(&app, &ev).await[0]["meeting_url"],
        "https://meet.google.com/new-link-abc"
    );

    // The event is cancelled: the bot is cancelled at the backend.
    delete_event(&app, &ev).await;
    assert_eq!(reconcile(&app).await, 1);
    assert_eq!(bot(&app, &bot_id).await.status.as_str(), "cancelling");
    dispatch(&app).await;
    assert!(backend.live().is_empty());
    let done = bot(&app, &bot_id).await;
    assert_eq!(done.status.as_str(), "cancelled");
    assert!(bots_of(&app, &ev).await.is_empty());

    // History tells the story; every call carried the key and an Idempotency-Key.
    let history = {
        let id = bot_id.clone();
        app.state
            .store
            .read(move |c| db::history(c, &id, 100))
            .await
            .unwrap()
    };
    let statuses: Vec<&str> = history.iter().map(|h| h.status.as_str()).collect();
    for s in [
        "scheduled",
        "dispatched",
        "moving",
        "cancelling",
        "cancelled",
    ] {
        assert!(statuses.contains(&s), "{s} in {statuses:?}");
    }
    assert!(backend
        .calls()
        .iter()
        .all(|c| c.authorization == format!("Token {BACKEND_KEY}")
            && c.idempotency_key.starts_with(&bot_id)));
}

#[tokio::test]
async fn shared_bot_follows_the_moved_event_and_survives_one_deletion() {
    let app = spawn_app().await;
    let (cal_a, cal_b) = (
        insert_calendar(&app, None).await,
        insert_calendar(&app, None).await,
    );
    let a = insert_event(&app, &cal_a, 5 * HOUR, Some("https://zoom.us/j/77")).await;
    let b = insert_event(&app, &cal_b, 5 * HOUR, Some("https://zoom.us/j/77")).await;
    let bot_id = schedule_ok(&app, &a, "team-sync", json!({"bot_name": "A"})).await["bots"][0]
        ["bot_id"]
        .clone();
    schedule_ok(&app, &b, "team-sync", json!({"bot_name": "B"})).await;
    let scheduled_before = webhooks(&app, "bot.scheduled").await.len();

    let new_start = event_start(&app, &a).await + HOUR;
    move_event(&app, &a, new_start).await;
    move_event(&app, &b, new_start).await;
    reconcile(&app).await;
    assert_eq!(
        bots_of(&app, &b).await[0]["start_time"],
        json!(rfc3339(new_start))
    );
    // One re-announcement for the move (the second event's change matched it already).
    let sent = webhooks(&app, "bot.scheduled").await;
    assert_eq!(sent.len(), scheduled_before + 1);
    assert_eq!(
        sent.last().unwrap()["data"]["join_at"],
        json!(rfc3339(new_start))
    );

    delete_event(&app, &a).await;
    reconcile(&app).await;
    assert!(bots_of(&app, &a).await.is_empty());
    assert_eq!(bots_of(&app, &b).await[0]["bot_id"], bot_id);
    assert_eq!(
        bot(&app, bot_id.as_str().unwrap()).await.status.as_str(),
        "scheduled"
    );
    assert!(webhooks(&app, "bot.cancelled").await.is_empty());
}

#[tokio::test]
async fn an_event_moving_from_the_past_into_the_future_gets_a_new_bot() {
    let app = spawn_app().await;
    let cal = insert_calendar(&app, None).await;
    let ev = insert_event(&app, &cal, 10 * 60_000, Some("https://zoom.us/j/31")).await;
    let old = schedule_ok(&app, &ev, "weekly", json!({"bot_name": "Scribe"})).await["bots"][0]
        ["bot_id"]
        .clone();

    // The meeting happens: its bot starts and its key is free again.
    app.state.clock.advance(Duration::from_secs(20 * 60));
    reconcile(&app).await;
    assert!(!bot(&app, old.as_str().unwrap()).await.active);
    assert_eq!(
        bots_of(&app, &ev).await[0]["bot_id"],
        old,
        "past bot stays on its event"
    );
    // DELETE leaves a bot that already started alone.
    assert_eq!(unschedule_ok(&app, &ev).await["bots"][0]["bot_id"], old);

    // Then the organiser moves it to tomorrow: a new bot, same key and config.
    let tomorrow = app.state.now_ms() + 24 * HOUR;
    move_event(&app, &ev, tomorrow).await;
    assert_eq!(reconcile(&app).await, 1);
    let bots = bots_of(&app, &ev).await;
    assert_ne!(bots[0]["bot_id"], old);
    assert_eq!(bots[0]["start_time"], json!(rfc3339(tomorrow)));
    assert_eq!(bots[0]["deduplication_key"], "weekly");
    assert_eq!(bots[0]["bot_name"], "Scribe");
    assert_eq!(bots[0]["status"], "scheduled");
    // The started bot was not cancelled, only left.
    assert_eq!(
        bot(&app, old.as_str().unwrap()).await.status.as_str(),
        "scheduled"
    );
    assert!(webhooks(&app, "bot.cancelled").await.is_empty());
}

#[tokio::test]
async fn deleting_a_calendar_cancels_its_future_bots() {
    let app = spawn_app().await;
    let (cal_a, cal_b) = (
        insert_calendar(&app, None).await,
        insert_calendar(&app, None).await,
    );
    let shared_a = insert_event(&app, &cal_a, HOUR, Some("https://zoom.us/j/5")).await;
    let shared_b = insert_event(&app, &cal_b, HOUR, Some("https://zoom.us/j/5")).await;
    let only_a = insert_event(&app, &cal_a, 2 * HOUR, Some("https://zoom.us/j/6")).await;
    let shared = schedule_ok(&app, &shared_a, "s", json!({})).await["bots"][0]["bot_id"].clone();
    schedule_ok(&app, &shared_b, "s", json!({})).await;
    let alone = schedule_ok(&app, &only_a, "a", json!({})).await["bots"][0]["bot_id"].clone();

    // The calendar DELETE calls this in its transaction, before deleting the row.
    let now = app.state.now_ms();
    let cal = cal_a.clone();
    let detached = app
        .state
        .store
        .write(move |tx| {
            let n = scheduling::cancel_bots_for_calendar(tx, &cal, now)?;
            tx.execute("DELETE FROM calendars WHERE id = ?1", [&cal])?;
            Ok::<_, StoreError>(n)
        })
        .await
        .unwrap();
    assert_eq!(detached, 2);
    assert_eq!(
        bot(&app, alone.as_str().unwrap()).await.status.as_str(),
        "cancelled"
    );
    assert_eq!(
        bot(&app, shared.as_str().unwrap()).await.status.as_str(),
        "scheduled"
    );
    assert_eq!(bots_of(&app, &shared_b).await[0]["bot_id"], shared);

    // A calendar deleted without that call (rows cascade): the sweep cancels the orphan.
    sql(
        &app,
        "DELETE FROM calendars WHERE id = ?1",
        vec![text(&cal_b)],
    )
    .await;
    assert_eq!(reconcile(&app).await, 1);
    assert_eq!(
        bot(&app, shared.as_str().unwrap()).await.status.as_str(),
        "cancelled"
    );
    let cancelled: Vec<Value> = webhooks(&app, "bot.cancelled")
        .await
        .into_iter()
        .map(|w| w["data"]["bot_id"].clone())
        .collect();
    assert_eq!(cancelled, vec![alone, shared]);
}

#[tokio::test]
async fn v1_autorecord_shares_one_bot_per_meeting_and_follows_will_record() {
    let app = spawn_app().await;
    let ada = insert_user(
        &app,
        json!({"record_external": true, "bot_name": "Ada's Notetaker"}),
    )
    .await;
    let bob = insert_user(&app, json!({})).await;
    let (cal_ada, cal_bob) = (
        insert_calendar(&app, Some(&ada)).await,
        insert_calendar(&app, Some(&bob)).await,
    );
    let url = "https://zoom.us/j/4242";
    let e_ada = insert_event(&app, &cal_ada, 4 * HOUR, Some(url)).await;
    let e_bob = insert_event(&app, &cal_bob, 4 * HOUR, Some(url)).await;
    sql(
        &app,
        "UPDATE calendar_events SET start_time = (SELECT start_time FROM calendar_events WHERE id = ?1),
             end_time = (SELECT end_time FROM calendar_events WHERE id = ?1) WHERE id = ?2",
        vec![text(&e_ada), text(&e_bob)],
    )
    .await;
    let start = event_start(&app, &e_ada).await;
    let key = format!("{}-{url}", rfc3339(start));

    let report = autorecord::apply(&app.state, &ada, vec![(e_ada.clone(), true)])
        .await
        .unwrap();
    assert_eq!(report.scheduled.len(), 1);
    let bots = bots_of(&app, &e_ada).await;
    assert_eq!(bots[0]["deduplication_key"], json!(key));
    assert_eq!(bots[0]["bot_name"], "Ada's Notetaker");
    let bot_id = bots[0]["bot_id"].clone();

    // Re-applying the same decision changes nothing.
    let updated = event(&app, &e_ada).await["updated_at"].clone();
    let sent = webhooks(&app, "bot.scheduled").await.len();
    autorecord::apply(&app.state, &ada, vec![(e_ada.clone(), true)])
        .await
        .unwrap();
    assert_eq!(event(&app, &e_ada).await["updated_at"], updated);
    assert_eq!(webhooks(&app, "bot.scheduled").await.len(), sent);

    // A colleague in the same meeting shares the bot; without a preference, the default name.
    autorecord::apply(&app.state, &bob, vec![(e_bob.clone(), true)])
        .await
        .unwrap();
    let bots = bots_of(&app, &e_bob).await;
    assert_eq!(bots[0]["bot_id"], bot_id);
    assert_eq!(bots[0]["bot_name"], "Meeting Notetaker");
    assert_eq!(bots_with_key(&app, &key).await.len(), 1);

    // Not Bob's event: refused. Preference turned off for Ada: she leaves, Bob keeps it.
    let report = autorecord::apply(&app.state, &bob, vec![(e_ada.clone(), false)])
        .await
        .unwrap();
    assert_eq!(report.skipped.len(), 1);
    let report = autorecord::apply(&app.state, &ada, vec![(e_ada.clone(), false)])
        .await
        .unwrap();
    assert_eq!(report.removed, vec![e_ada.clone()]);
    assert!(bots_of(&app, &e_ada).await.is_empty());
    assert_eq!(
        bot(&app, bot_id.as_str().unwrap()).await.status.as_str(),
        "scheduled"
    );

    // A V1 meeting that moves gets the bot of its new key (its colleague's copy moved too).
    autorecord::apply(&app.state, &ada, vec![(e_ada.clone(), true)])
        .await
        .unwrap();
    move_event(&app, &e_ada, start + HOUR).await;
    move_event(&app, &e_bob, start + HOUR).await;
    reconcile(&app).await;
    let new_key = format!("{}-{url}", rfc3339(start + HOUR));
    let a = bots_of(&app, &e_ada).await;
    let b = bots_of(&app, &e_bob).await;
    assert_eq!(a[0]["deduplication_key"], json!(new_key));
    assert_eq!(a[0]["bot_id"], b[0]["bot_id"]);
    assert_eq!(
        bot(&app, bot_id.as_str().unwrap()).await.status.as_str(),
        "cancelled"
    );
    assert_eq!(bots_with_key(&app, &new_key).await.len(), 1);

    // Both overrides off: the bot is cancelled.
    autorecord::apply(&app.state, &ada, vec![(e_ada.clone(), false)])
        .await
        .unwrap();
    autorecord::apply(&app.state, &bob, vec![(e_bob.clone(), false)])
        .await
        .unwrap();
    let last = bots_with_key(&app, &new_key).await;
    assert_eq!(last[0].status.as_str(), "cancelled");
}

#[tokio::test]
async fn backend_failures_retry_with_backoff_and_show_on_the_event() {
    let (app, backend) = spawn_with_backend().await;
    let cal = insert_calendar(&app, None).await;
    let ev = insert_event(&app, &cal, 6 * HOUR, Some("https://zoom.us/j/99")).await;
    backend.fail_next(2, 503);
    let body = schedule_ok(
        &app,
        &ev,
        "retry-me",
        json!({"transcription": {"provider": "x"}}),
    )
    .await;
    let bot_id = body["bots"][0]["bot_id"].as_str().unwrap().to_string();
    assert_eq!(body["bots"][0]["status"], "scheduled");
    assert!(
        webhooks(&app, "bot.scheduled").await.is_empty(),
        "backend mode: no local webhooks"
    );

    // Attempt 1 fails: visible on the event, retried in 10 s.
    assert_eq!(dispatch(&app).await, 1);
    let b = &bots_of(&app, &ev).await[0];
    assert_eq!(b["status"], "failed");
    assert!(b["last_error"].as_str().unwrap().contains("503"), "{b}");
    assert!(b["next_retry_at"].is_string());
    let failed = {
        let s = app.state.store.clone();
        s.read(db::failed_bot_count).await.unwrap()
    };
    assert_eq!(failed, 1);
    assert_eq!(dispatch(&app).await, 0, "not due yet");
    app.state.clock.advance(Duration::from_secs(11));
    assert_eq!(dispatch(&app).await, 1);
    assert_eq!(backend.calls_of("POST").len(), 2);
    // Attempt 2 failed: the next waits 20 s.
    app.state.clock.advance(Duration::from_secs(15));
    assert_eq!(dispatch(&app).await, 0);
    app.state.clock.advance(Duration::from_secs(6));
    assert_eq!(dispatch(&app).await, 1);

    let b = &bots_of(&app, &ev).await[0];
    assert_eq!(b["status"], "dispatched");
    assert_eq!(b["last_error"], Value::Null);
    let posts = backend.calls_of("POST");
    assert_eq!(posts.len(), 3);
    assert!(posts
        .iter()
        .all(|c| c.idempotency_key == format!("{bot_id}:1")));
    let sent = &posts[2].body;
    assert_eq!(sent["meeting_url"], "https://zoom.us/j/99");
    assert_eq!(sent["join_at"], body["start_time"]);
    assert_eq!(sent["bot_name"], "Meeting Notetaker");
    assert_eq!(sent["transcription"]["provider"], "x");
    assert_eq!(
        b["backend_bot_id"],
        json!(backend.live().keys().next().unwrap())
    );

    // A refusal (4xx) is not retried: failed at once; POSTing again queues it afresh.
    let ev2 = insert_event(&app, &cal, 7 * HOUR, Some("https://zoom.us/j/98")).await;
    backend.fail_next(1, 400);
    schedule_ok(&app, &ev2, "refused", json!({})).await;
    dispatch(&app).await;
    app.state.clock.advance(Duration::from_secs(3600));
    assert_eq!(dispatch(&app).await, 0, "given up");
    assert_eq!(bots_of(&app, &ev2).await[0]["status"], "failed");
    assert_eq!(bots_of(&app, &ev2).await[0]["next_retry_at"], Value::Null);
    schedule_ok(&app, &ev2, "refused", json!({})).await;
    assert_eq!(dispatch(&app).await, 1);
    assert_eq!(bots_of(&app, &ev2).await[0]["status"], "dispatched");
}

#[tokio::test]
async fn a_crash_between_dispatch_and_commit_does_not_make_a_second_bot() {
    let (app, backend) = spawn_with_backend().await;
    let cal = insert_calendar(&app, None).await;
    let ev = insert_event(&app, &cal, 6 * HOUR, Some("https://zoom.us/j/1234")).await;
    let bot_id = schedule_ok(&app, &ev, "crash", json!({})).await["bots"][0]["bot_id"]
        .as_str()
        .unwrap()
        .to_string();

    // The backend makes the bot but its answer never arrives; the dispatcher "dies".
    backend
        .state
        .hang_after_create
        .store(true, Ordering::SeqCst);
    let state = app.state.clone();
    let run = tokio::spawn(async move { dispatch::dispatch_due(&state).await });
    for _ in 0..500 {
        if backend.state.made.load(Ordering::SeqCst) == 1 {
            break;
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    assert_eq!(
        backend.state.made.load(Ordering::SeqCst),
        1,
        "the backend made the bot"
    );
    run.abort();
    let _ = run.await;
    backend
        .state
        .hang_after_create
        .store(false, Ordering::SeqCst);
    let stuck = bot(&app, &bot_id).await;
    assert_eq!(stuck.status.as_str(), "dispatching");
    assert_eq!(stuck.backend_id, None, "nothing committed");

    // Within the lease nobody resends; after it, the retry carries the same key.
    assert_eq!(dispatch(&app).await, 0);
    app.state
        .clock
        .advance(Duration::from_millis(dispatch::LEASE_MS as u64 + 1000));
    assert_eq!(dispatch(&app).await, 1);
    let posts = backend.calls_of("POST");
    assert_eq!(posts.len(), 2);
    assert_eq!(posts[0].idempotency_key, posts[1].idempotency_key);
    assert_eq!(
        backend.state.made.load(Ordering::SeqCst),
        1,
        "no second bot"
    );
    let done = bot(&app, &bot_id).await;
    assert_eq!(done.status.as_str(), "dispatched");
    assert_eq!(
        done.backend_id.as_deref(),
        backend.live().keys().next().map(|s| s.as_str())
    );
    assert_eq!(dispatch(&app).await, 0, "nothing dispatched twice");
}

#[tokio::test]
async fn a_change_during_an_in_flight_create_is_sent_after_it() {
    let (app, backend) = spawn_with_backend().await;
    let cal = insert_calendar(&app, None).await;
    let ev = insert_event(&app, &cal, 6 * HOUR, Some("https://zoom.us/j/5000")).await;
    let bot_id = schedule_ok(&app, &ev, "busy", json!({})).await["bots"][0]["bot_id"]
        .as_str()
        .unwrap()
        .to_string();
    // First create attempt fails after being sent (outcome unknown to us: a 503).
    backend.fail_next(1, 503);
    dispatch(&app).await;
    // The app changes the config before the retry: the sent create must still complete
    // (so its bot can be deleted) before the new version is made.
    schedule_ok(&app, &ev, "busy", json!({"bot_name": "Renamed"})).await;
    app.state.clock.advance(Duration::from_secs(11));
    dispatch(&app).await;
    let live = backend.live();
    assert_eq!(live.len(), 1, "{live:?}");
    assert_eq!(live.values().next().unwrap()["bot_name"], "Renamed");
    let b = bot(&app, &bot_id).await;
    assert_eq!(b.status.as_str(), "dispatched");
    assert_eq!(b.backend_version, Some(b.version));
}

#[tokio::test]
async fn concurrent_calls_on_one_key_never_make_two_bots() {
    let (app, _backend) = spawn_with_backend().await;
    let cal = insert_calendar(&app, None).await;
    let mut events = Vec::new();
    for _ in 0..4 {
        events.push(insert_event(&app, &cal, 3 * HOUR, Some("https://zoom.us/j/321")).await);
    }
    let app = Arc::new(app);
    let mut tasks = Vec::new();
    for i in 0..20 {
        let app = app.clone();
        let ev = events[i % events.len()].clone();
        tasks.push(tokio::spawn(async move {
            let config = json!({"bot_name": format!("bot {i}")});
            let res = post_bot(
                &app,
                &ev,
                json!({"deduplication_key": "hot", "bot_config": config}),
            )
            .await;
            (res.status().as_u16(), config)
        }));
    }
    let mut winners = HashSet::new();
    for t in tasks {
        let (status, config) = t.await.unwrap();
        assert!(status == 200 || status == 409, "{status}");
        if status == 200 {
            winners.insert(config.to_string());
        }
    }
    assert!(!winners.is_empty());
    let bots = bots_with_key(&app, "hot").await;
    assert_eq!(bots.len(), 1, "exactly one bot");
    assert!(
        winners.contains(&bots[0].config),
        "the bot has a winner's config"
    );
    let create_ops = {
        let id = bots[0].id.clone();
        app.state
            .store
            .read(move |c| db::ops_for_bot(c, &id))
            .await
            .unwrap()
    };
    assert_eq!(
        create_ops
            .iter()
            .filter(|o| o.status.as_str() == "pending")
            .count(),
        1,
        "one pending backend call, older unsent ones superseded"
    );

    // A call while another holds the key answers 409 (deterministically, holding the lock).
    schedule_ok(&app, &events[1], "hot", json!({})).await;
    let guard = app
        .state
        .locks
        .lock(convene::coord::LockName::BotKey("hot"))
        .await;
    let res = post_bot(
        &app,
        &events[0],
        json!({"deduplication_key": "hot", "bot_config": {}}),
    )
    .await;
    assert_eq!(res.status(), 409);
    let body: Value = res.json().await.unwrap();
    assert!(body["detail"].is_string());
    let res = app
        .delete(&format!("/api/v2/calendar-events/{}/bot/", events[1]))
        .await;
    assert_eq!(res.status(), 409);
    drop(guard);
    assert_eq!(unschedule_ok(&app, &events[1]).await["bots"], json!([]));
}

#[tokio::test]
async fn with_background_jobs_a_scheduled_bot_reaches_the_backend_on_its_own() {
    let backend = FakeBackend::start().await;
    let app = spawn_app_with(Options {
        jobs: true,
        env: backend.env(),
    })
    .await;
    let cal = insert_calendar(&app, None).await;
    let ev = insert_event(&app, &cal, HOUR, Some("https://zoom.us/j/808")).await;
    schedule_ok(&app, &ev, "woken", json!({})).await;
    // The POST wakes the bots sweep; wait for its outcome (bounded), not for a tick.
    let mut status = Value::Null;
    for _ in 0..500 {
        status = bots_of(&app, &ev).await[0]["status"].clone();
        if status == "dispatched" {
            break;
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    assert_eq!(status, "dispatched");
    assert_eq!(backend.live().len(), 1);

    // A synced move is picked up the same way once sync wakes the sweep.
    let new_start = event_start(&app, &ev).await + HOUR;
    move_event(&app, &ev, new_start).await;
    app.state.wake.bots.notify_one();
    for _ in 0..500 {
        let live = backend.live();
        if live
            .values()
            .any(|b| b["join_at"] == json!(rfc3339(new_start)))
            && live.len() == 1
        {
            break;
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    let live = backend.live();
    assert_eq!(live.len(), 1);
    assert_eq!(
        live.values().next().unwrap()["join_at"],
        json!(rfc3339(new_start))
    );
}

#[tokio::test]
async fn a_bot_unscheduled_before_dispatch_never_reaches_the_backend() {
    let (app, backend) = spawn_with_backend().await;
    let cal = insert_calendar(&app, None).await;
    let ev = insert_event(&app, &cal, HOUR, Some("https://zoom.us/j/77")).await;
    let bot_id = schedule_ok(&app, &ev, "brief", json!({})).await["bots"][0]["bot_id"]
        .as_str()
        .unwrap()
        .to_string();
    schedule_ok(&app, &ev, "brief", json!({"bot_name": "Second thoughts"})).await;
    unschedule_ok(&app, &ev).await;
    assert_eq!(bot(&app, &bot_id).await.status.as_str(), "cancelled");
    assert_eq!(dispatch(&app).await, 0);
    assert!(backend.calls().is_empty());
}

/// The events list loads the bots of a whole page at once (`bots_json_for_events`, a fixed
/// number of queries); each event's `bots` must be what the single-event answer shows,
/// with events without a bot in between.
#[tokio::test]
async fn the_events_list_shows_each_page_events_bots() {
    let app = spawn_app().await;
    let cal = insert_calendar(&app, None).await;
    let mut ids = Vec::new();
    for i in 0..6 {
        let ev = insert_event(
            &app,
            &cal,
            (2 + i) * HOUR,
            Some(&format!("https://zoom.us/j/{i}")),
        )
        .await;
        if i % 2 == 0 {
            schedule_ok(&app, &ev, &format!("key-{i}"), json!({})).await;
        }
        ids.push(ev);
    }
    let res = app
        .get(&format!("/api/v2/calendar-events/?calendar_id={cal}"))
        .await;
    assert_eq!(res.status(), 200);
    let page: Value = res.json().await.unwrap();
    let results = page["results"].as_array().unwrap();
    assert_eq!(results.len(), 6);
    let mut with_bots = 0;
    for e in results {
        let id = e["id"].as_str().unwrap();
        let single = app.get(&format!("/api/v2/calendar-events/{id}/")).await;
        let single: Value = single.json().await.unwrap();
        assert_eq!(e["bots"], single["bots"], "{id}");
        if !e["bots"].as_array().unwrap().is_empty() {
            with_bots += 1;
            assert_eq!(
                e["bots"][0]["history"],
                bots_of(&app, id).await[0]["history"]
            );
        }
    }
    assert_eq!(with_bots, 3);
}
