//! Push notifications on the admin pages: the "Push" card of a calendar's page (state,
//! subscription, expiry, last notification, why it polls) and the overview's tile counting
//! connected calendars by push state. Secrets (channel token, clientState) are never read.

use rusqlite::Connection;

use crate::config::Settings;
use crate::domain::{CalendarStatus, Platform, PushState};
use crate::store::calendars::Calendar;
use crate::store::{self, StoreError};

use super::overview::{Stat, Widget};
use super::render::{when, when_or};

/// The calendar page's push card.
pub struct PushView {
    pub state: PushState,
    pub tone: &'static str,
    /// "Google channel" / "Graph subscription".
    pub kind: &'static str,
    /// The provider's id of the live or pending channel.
    pub subscription: Option<String>,
    pub expires: String,
    pub renews: String,
    pub last_notification: String,
    /// Why the calendar polls (or what it waits for).
    pub reason: Option<String>,
}

fn tone(state: PushState) -> &'static str {
    match state {
        PushState::Live => "good",
        PushState::Pending => "",
        PushState::Polling => "warn",
    }
}

/// The push card of `cal` (`enabled`: push is on in the settings).
pub fn view(
    conn: &Connection,
    cal: &Calendar,
    enabled: bool,
    now: i64,
) -> Result<PushView, StoreError> {
    let push = store::push::calendar_push(conn, &cal.id, enabled, now)?;
    let reason = match push.state {
        PushState::Live => None,
        PushState::Polling if !enabled => Some("push is off (CONVENE_PUSH)".to_string()),
        PushState::Polling => Some(
            push.status
                .reason
                .clone()
                .unwrap_or_else(|| "failing".into()),
        ),
        PushState::Pending if push.channel.is_some() => {
            Some("being created at the provider".to_string())
        }
        PushState::Pending if cal.status != CalendarStatus::Connected => {
            Some("waiting for the calendar to connect".to_string())
        }
        PushState::Pending if cal.last_sync_at.is_none() => {
            Some("subscribes after the first sync".to_string())
        }
        PushState::Pending => Some("subscribes on the next push sweep".to_string()),
    };
    let retry = match (push.state, push.status.retry_at) {
        (PushState::Polling, Some(t)) if enabled => format!("tries again {}", when(t)),
        _ => String::new(),
    };
    let channel = push.channel.as_ref();
    Ok(PushView {
        state: push.state,
        tone: tone(push.state),
        kind: match cal.platform {
            Platform::Google => "Google channel",
            Platform::Microsoft => "Graph subscription",
        },
        subscription: channel.and_then(|c| c.external_id.clone()),
        expires: when_or(channel.and_then(|c| c.expires_at), "—"),
        renews: if push.state == PushState::Live {
            when_or(channel.map(|c| c.due_at), "—")
        } else {
            retry
        },
        last_notification: when_or(push.status.last_notification_at, "none yet"),
        reason,
    })
}

/// Overview tile: connected calendars by push state.
pub fn widget(c: &Connection, settings: &Settings, now: i64) -> Result<Widget, StoreError> {
    let enabled = settings.push_enabled();
    let stats = store::push::count_by_state(c, enabled, now)?
        .into_iter()
        .map(|(state, n)| {
            let t = if n > 0 { tone(state) } else { "" };
            Stat::new(state.as_str(), n, t)
        })
        .collect();
    Ok(Widget {
        title: if enabled {
            "Push notifications"
        } else {
            "Push notifications (off)"
        },
        link: Some("/admin/calendars/"),
        stats,
        ..Default::default()
    })
}
