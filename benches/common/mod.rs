//! Setup shared by the benchmarks; each includes it with `#[path = "common/mod.rs"] mod common;`.
// Each benchmark uses part of it.
#![allow(dead_code)]

use convene::domain::{CalendarKind, CalendarStatus, Platform};
use convene::state::AppState;
use convene::store::calendars::Calendar;
use convene::store::sync::insert_calendar_for_sync;
use convene_sim::{GeneratedAccount, Provider};

/// The simulator's generated accounts as connected V2 calendars, as `POST /api/v2/calendars/`
/// leaves them (secrets sealed), all due at once; their ids in the same order.
pub async fn insert_generated(
    state: &AppState,
    generated: &[GeneratedAccount],
    webhook_url: Option<&str>,
) -> Vec<String> {
    let now = state.now_ms();
    let rows: Vec<Calendar> = generated
        .iter()
        .map(|g| Calendar {
            oauth_client_id: Some(g.client_id.clone()),
            oauth_client_secret_enc: Some(state.keys.encrypt(&g.client_secret)),
            oauth_refresh_token_enc: Some(state.keys.encrypt(&g.refresh_token)),
            platform_email: Some(g.email.clone()),
            webhook_url: webhook_url.map(str::to_string),
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
    state
        .store
        .write(move |tx| {
            rows.iter()
                .map(|c| insert_calendar_for_sync(tx, c, now))
                .collect::<Result<Vec<_>, _>>()
        })
        .await
        .expect("calendars inserted")
}

/// A number from the environment, or `default`.
pub fn env_usize(name: &str, default: usize) -> usize {
    std::env::var(name)
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}
