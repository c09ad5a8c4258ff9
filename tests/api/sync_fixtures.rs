//! Shared set-up for the sync, events and meetings tests: connected calendars backed by
//! simulator accounts, and readers for what a sync stored and announced.

use convene::domain::CalendarStatus;
use convene::store::calendars::Calendar;
use convene::store::events::{EventQuery, StoredEvent};
use convene::store::sync::insert_calendar_for_sync;
use convene::sync::SyncOutcome;
use convene_sim::{AccountId, Provider};

use crate::helpers::TestApp;

pub const GOOGLE_CLIENT: (&str, &str) = ("gid", "gsecret");
pub const MICROSOFT_CLIENT: (&str, &str) = ("mid", "msecret");

pub struct Cal {
    pub id: String,
    pub account: AccountId,
    pub email: String,
}

fn client(provider: Provider) -> (&'static str, &'static str) {
    match provider {
        Provider::Google => GOOGLE_CLIENT,
        _ => MICROSOFT_CLIENT,
    }
}

pub fn platform(provider: Provider) -> &'static str {
    match provider {
        Provider::Google => "google_calendar",
        _ => "microsoft_outlook",
    }
}

/// A connected V2 calendar for a new simulator account of `provider`.
pub async fn connect(app: &TestApp, provider: Provider, email: &str) -> Cal {
    connect_with(
        app,
        provider,
        email,
        "v2",
        None,
        Some("https://hooks.app.test/cal"),
    )
    .await
}

/// A V1 connection of `calendar_user_id` (the platform client is saved as the workspace's).
pub async fn connect_v1(app: &TestApp, provider: Provider, email: &str, user_id: &str) -> Cal {
    let (cid, secret) = client(provider);
    let sealed = app.state.keys.encrypt(secret);
    let name = if provider == Provider::Google {
        "google"
    } else {
        "microsoft"
    };
    app.state
        .store
        .write(move |tx| convene::store::settings::set_platform_client(tx, name, cid, &sealed, 0))
        .await
        .unwrap();
    connect_with(app, provider, email, "v1", Some(user_id.to_string()), None).await
}

async fn connect_with(
    app: &TestApp,
    provider: Provider,
    email: &str,
    kind: &str,
    user_id: Option<String>,
    webhook_url: Option<&str>,
) -> Cal {
    let (cid, secret) = client(provider);
    app.sim
        .create_oauth_client(provider, cid, secret, vec![])
        .await;
    let account = app.sim.create_account(provider, email).await;
    let refresh = app
        .sim
        .mint_refresh_token(provider, cid, &account, &[])
        .await;
    let v2 = kind == "v2";
    let now = app.state.now_ms();
    let cal = Calendar {
        calendar_user_id: user_id,
        oauth_client_id: v2.then(|| cid.to_string()),
        oauth_client_secret_enc: v2.then(|| app.state.keys.encrypt(secret)),
        oauth_refresh_token_enc: Some(app.state.keys.encrypt(&refresh)),
        oauth_email: None,
        platform_email: Some(email.to_string()),
        webhook_url: webhook_url.map(str::to_string),
        ..Calendar::new(
            kind.parse().unwrap(),
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

pub async fn sync(app: &TestApp, cal: &Cal) -> SyncOutcome {
    convene::sync::sync_calendar(&app.state, &cal.id)
        .await
        .unwrap_or_else(|e| panic!("sync of {} failed: {e}", cal.email))
}

/// Every stored event of the calendar (deleted included), by start time.
pub async fn stored(app: &TestApp, cal: &Cal) -> Vec<StoredEvent> {
    let q = EventQuery {
        calendar_id: Some(cal.id.clone()),
        limit: 100_000,
        ..Default::default()
    };
    app.state
        .store
        .read(move |c| convene::store::events::list(c, &q))
        .await
        .unwrap()
}

pub async fn stored_one(app: &TestApp, cal: &Cal, platform_id: &str) -> StoredEvent {
    stored(app, cal)
        .await
        .into_iter()
        .find(|e| e.platform_id == platform_id)
        .unwrap_or_else(|| panic!("event {platform_id} not stored"))
}

/// Payloads of the `calendar.sync_events` messages about the calendar, oldest first.
pub async fn sync_webhooks(app: &TestApp, cal: &Cal) -> Vec<serde_json::Value> {
    let id = cal.id.clone();
    app.state
        .store
        .read(move |c| {
            let mut s = c.prepare(
                "SELECT payload FROM webhook_messages
                 WHERE event_type = 'calendar.sync_events' AND ordering_key = ?1
                 ORDER BY created_at, rowid",
            )?;
            let rows = s
                .query_map([id], |r| r.get::<_, String>(0))?
                .collect::<Result<Vec<_>, _>>()?;
            Ok::<_, convene::store::StoreError>(rows)
        })
        .await
        .unwrap()
        .into_iter()
        .map(|p| serde_json::from_str(&p).unwrap())
        .collect()
}

/// The calendar's sync bookkeeping.
pub async fn sync_state(app: &TestApp, cal: &Cal) -> Calendar {
    let id = cal.id.clone();
    app.state
        .store
        .read(move |c| convene::store::calendars::get(c, &id))
        .await
        .unwrap()
        .unwrap()
}

pub fn ms(t: chrono::DateTime<chrono::Utc>) -> i64 {
    t.timestamp_millis()
}
