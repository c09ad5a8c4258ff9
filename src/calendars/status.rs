//! The status machine `connecting → connected | disconnected` and the webhooks that
//! announce changes, always written in the transaction of the change (outbox).
//!
//! Webhook shapes:
//! * V2 calendars: `calendar.update` `{"calendar_id"}`, ordering key the calendar id, also
//!   delivered to the calendar's own `webhook_url`.
//! * V1 connections: `calendar_user.update` `{"calendar_user_id", "external_id", "platform"
//!   ("google"|"microsoft"), "connected", "connection_id"}`, ordering key the calendar
//!   user's id. `connection_id` is null when the connection was removed.

use rusqlite::Transaction;
use serde_json::json;

use crate::domain::{CalendarKind, CalendarStatus, Platform};
use crate::store::calendars::{self as cal_store, Calendar};
use crate::store::outbox::{self, OutboxEvent};
use crate::store::{calendar_users, StoreError};

/// Announces that `cal` changed (status or settings).
pub fn announce(tx: &Transaction, cal: &Calendar, now_ms: i64) -> Result<(), StoreError> {
    if cal.kind == CalendarKind::V2 {
        outbox::enqueue(
            tx,
            &OutboxEvent {
                event_type: "calendar.update".into(),
                ordering_key: cal.id.clone(),
                data: json!({ "calendar_id": cal.id }),
                extra_url: cal.webhook_url.clone().filter(|u| !u.is_empty()),
            },
            now_ms,
        )?;
        return Ok(());
    }
    let Some(user_id) = cal.calendar_user_id.as_deref() else {
        return Ok(());
    };
    announce_user(
        tx,
        user_id,
        cal.platform,
        Some(&cal.id),
        cal.status == CalendarStatus::Connected,
        now_ms,
    )
}

/// `calendar_user.update` for a V1 user's connection on `platform`.
pub fn announce_user(
    tx: &Transaction,
    user_id: &str,
    platform: Platform,
    connection_id: Option<&str>,
    connected: bool,
    now_ms: i64,
) -> Result<(), StoreError> {
    let external_id = calendar_users::get(tx, user_id)?
        .map(|u| u.external_id)
        .unwrap_or_default();
    outbox::enqueue(
        tx,
        &OutboxEvent {
            event_type: "calendar_user.update".into(),
            ordering_key: user_id.to_string(),
            data: json!({
                "calendar_user_id": user_id,
                "external_id": external_id,
                "platform": platform.v1_name(),
                "connected": connected,
                "connection_id": connection_id,
            }),
            extra_url: None,
        },
        now_ms,
    )?;
    Ok(())
}

/// Moves `cal` to `to`, records the change (with its error) and announces it; saves `cal`.
/// Returns false (and does nothing) when the status would not change and there is no error
/// to record.
pub fn transition(
    tx: &Transaction,
    cal: &mut Calendar,
    to: CalendarStatus,
    error: Option<(&str, &str)>,
    now_ms: i64,
) -> Result<bool, StoreError> {
    if cal.status == to && error.is_none() {
        return Ok(false);
    }
    cal.status = to;
    cal.updated_at = now_ms;
    if to == CalendarStatus::Disconnected {
        // Never hand out a token of a dead grant; wait for new credentials.
        cal.access_token_enc = None;
        cal.access_token_expires_at = None;
        cal.next_refresh_at = None;
    }
    cal_store::add_status_change(tx, &cal.id, to, error, now_ms)?;
    cal_store::save(tx, cal)?;
    announce(tx, cal, now_ms)?;
    Ok(true)
}
