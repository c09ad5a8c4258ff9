//! Shared set-up for the calendar tests: OAuth clients in the simulator and in Convene,
//! the hosted flow driven like a browser, and a look at the webhook outbox.
#![allow(dead_code)]

use convene_sim::{AccountId, Provider};
use serde_json::Value;

use crate::helpers::{spawn_app_with, Options, TestApp};

pub const GOOGLE_ID: &str = "google-client";
pub const GOOGLE_SECRET: &str = "google-secret-value";
pub const MS_ID: &str = "ms-client";
pub const MS_SECRET: &str = "ms-secret-value";
/// An operator origin in the redirect allow-list.
pub const APP_ORIGIN: &str = "https://app.example.com";

/// The fields of a CalendarEvent, as the spec lists them.
pub const CALENDAR_EVENT_KEYS: &[&str] = &[
    "id",
    "calendar_id",
    "platform",
    "platform_id",
    "ical_uid",
    "start_time",
    "end_time",
    "meeting_platform",
    "meeting_url",
    "is_deleted",
    "raw",
    "bots",
    "created_at",
    "updated_at",
];

/// The app with `APP_ORIGIN` allowed, and both platforms' OAuth clients registered in the
/// simulator (callback URLs of this server) and saved in Convene.
pub async fn spawn_calendar_app() -> TestApp {
    let app = spawn_app_with(Options {
        env: vec![("CONVENE_REDIRECT_ALLOWLIST".into(), APP_ORIGIN.into())],
        ..Default::default()
    })
    .await;
    app.sim
        .create_oauth_client(
            Provider::Google,
            GOOGLE_ID,
            GOOGLE_SECRET,
            vec![app.url("/api/v1/calendar/google_oauth_callback/")],
        )
        .await;
    app.sim
        .create_oauth_client(
            Provider::Microsoft,
            MS_ID,
            MS_SECRET,
            vec![
                app.url("/api/v1/calendar/ms_oauth_callback/"),
                // The seeds' "production redirect" on the operator's own domain.
                format!("{APP_ORIGIN}/api/ms_oauth_callback"),
            ],
        )
        .await;
    save_platform_client(&app, "google", GOOGLE_ID, GOOGLE_SECRET).await;
    save_platform_client(&app, "microsoft", MS_ID, MS_SECRET).await;
    app
}

pub async fn save_platform_client(app: &TestApp, platform: &str, id: &str, secret: &str) {
    let sealed = app.state.keys.encrypt(secret);
    let (platform, id) = (platform.to_string(), id.to_string());
    let now = app.state.now_ms();
    app.state
        .store
        .write(move |tx| {
            convene::store::settings::set_platform_client(tx, &platform, &id, &sealed, now)
        })
        .await
        .unwrap();
}

/// Payloads of outbox messages of `event_type`, oldest first.
pub async fn webhooks(app: &TestApp, event_type: &str) -> Vec<Value> {
    let et = event_type.to_string();
    let rows: Vec<String> = app
        .state
        .store
        .read(move |c| {
            let mut s = c.prepare(
                "SELECT payload FROM webhook_messages WHERE event_type = ?1 ORDER BY created_at, rowid",
            )?;
            let rows = s
                .query_map([et], |r| r.get(0))?
                .collect::<Result<Vec<String>, _>>()?;
            Ok::<_, convene::store::StoreError>(rows)
        })
        .await
        .unwrap();
    rows.iter()
        .map(|p| serde_json::from_str(p).unwrap())
        .collect()
}

/// Deliveries to a calendar's own `webhook_url`.
pub async fn url_deliveries(app: &TestApp, url: &str) -> i64 {
    let url = url.to_string();
    app.state
        .store
        .read(move |c| {
            Ok::<_, convene::store::StoreError>(c.query_row(
                "SELECT COUNT(*) FROM webhook_deliveries WHERE target_url = ?1",
                [url],
                |r| r.get(0),
            )?)
        })
        .await
        .unwrap()
}

/// One SQL value from the calendars table (for checks the API does not show).
pub async fn calendar_column(app: &TestApp, id: &str, column: &str) -> Option<String> {
    let sql = format!("SELECT CAST({column} AS TEXT) FROM calendars WHERE id = ?1");
    let id = id.to_string();
    app.state
        .store
        .read(move |c| Ok::<_, convene::store::StoreError>(c.query_row(&sql, [id], |r| r.get(0))?))
        .await
        .unwrap()
}

pub async fn calendar_token(app: &TestApp, user_id: &str) -> String {
    let res = app
        .post_json(
            "/api/v1/calendar/authenticate/",
            &serde_json::json!({ "user_id": user_id }),
        )
        .await;
    assert_eq!(res.status(), 200);
    res.json::<Value>().await.unwrap()["token"]
        .as_str()
        .unwrap()
        .to_string()
}

/// `POST /api/v1/calendar/oauth_url/`.
pub async fn oauth_url(
    app: &TestApp,
    platform: &str,
    user_id: &str,
    success_url: Option<&str>,
    error_url: Option<&str>,
) -> String {
    let mut body = serde_json::json!({ "platform": platform, "user_id": user_id });
    if let Some(u) = success_url {
        body["success_url"] = u.into();
    }
    if let Some(u) = error_url {
        body["error_url"] = u.into();
    }
    let res = app.post_json("/api/v1/calendar/oauth_url/", &body).await;
    assert_eq!(res.status(), 200);
    res.json::<Value>().await.unwrap()["url"]
        .as_str()
        .unwrap()
        .to_string()
}

/// Plays the browser at the provider: the authorize URL answers with a redirect to our
/// callback; returns that callback URL.
pub async fn authorize(app: &TestApp, url: &str) -> String {
    let res = app.client.get(url).send().await.unwrap();
    assert_eq!(
        res.status(),
        302,
        "authorize: {}",
        res.text().await.unwrap()
    );
    res.headers()["location"].to_str().unwrap().to_string()
}

/// The whole hosted flow; returns the callback's answer.
pub async fn connect_v1(
    app: &TestApp,
    platform: &str,
    user_id: &str,
    success_url: Option<&str>,
    error_url: Option<&str>,
) -> reqwest::Response {
    let url = oauth_url(app, platform, user_id, success_url, error_url).await;
    let callback = authorize(app, &url).await;
    app.client.get(callback).send().await.unwrap()
}

pub fn location(res: &reqwest::Response) -> Option<String> {
    res.headers()
        .get("location")
        .map(|v| v.to_str().unwrap().to_string())
}

pub async fn google_account(app: &TestApp, email: &str) -> AccountId {
    app.sim.create_account(Provider::Google, email).await
}

pub async fn ms_account(app: &TestApp, email: &str) -> AccountId {
    app.sim.create_account(Provider::Microsoft, email).await
}
