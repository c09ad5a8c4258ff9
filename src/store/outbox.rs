//! The webhook outbox: messages are written in the same transaction as the change that
//! caused them, fanned out to one delivery row per target. The deliverer (webhooks module)
//! sends what is due.

use rusqlite::{params, OptionalExtension, Transaction};

use super::StoreError;

/// An event to announce.
#[derive(Debug, Clone)]
pub struct OutboxEvent {
    /// e.g. `calendar.update`
    pub event_type: String,
    /// What the event is about (a calendar, credential or user id): deliveries for one
    /// target and one key are attempted strictly in order.
    pub ordering_key: String,
    /// The `data` object of the payload.
    pub data: serde_json::Value,
    /// A V2 calendar's own `webhook_url`, signed with the workspace secret.
    pub extra_url: Option<String>,
}

/// Writes `event` and its deliveries; returns the message id (`msg_...`).
pub fn enqueue(tx: &Transaction, event: &OutboxEvent, now_ms: i64) -> Result<String, StoreError> {
    let id = format!("msg_{}", uuid::Uuid::new_v4().simple());
    let payload = serde_json::json!({ "event": event.event_type, "data": event.data }).to_string();
    tx.execute(
        "INSERT INTO webhook_messages (id, event_type, ordering_key, payload, created_at)
         VALUES (?1, ?2, ?3, ?4, ?5)",
        params![id, event.event_type, event.ordering_key, payload, now_ms],
    )?;
    let mut stmt = tx.prepare_cached(
        "SELECT id, event_types FROM webhook_endpoints WHERE enabled = 1 ORDER BY created_at",
    )?;
    let endpoints: Vec<(String, String)> = stmt
        .query_map([], |r| Ok((r.get(0)?, r.get(1)?)))?
        .collect::<Result<_, _>>()?;
    for (endpoint_id, types) in endpoints {
        let types: Vec<String> = serde_json::from_str(&types).unwrap_or_default();
        if types.is_empty() || types.iter().any(|t| t == &event.event_type) {
            insert_delivery(
                tx,
                &id,
                Some(&endpoint_id),
                None,
                &endpoint_id,
                &event.ordering_key,
                now_ms,
            )?;
        }
    }
    if let Some(url) = &event.extra_url {
        let key = format!("url:{url}");
        insert_delivery(tx, &id, None, Some(url), &key, &event.ordering_key, now_ms)?;
    }
    Ok(id)
}

fn insert_delivery(
    tx: &Transaction,
    message_id: &str,
    endpoint_id: Option<&str>,
    target_url: Option<&str>,
    target_key: &str,
    ordering_key: &str,
    now_ms: i64,
) -> Result<(), StoreError> {
    tx.execute(
        "INSERT INTO webhook_deliveries
            (message_id, endpoint_id, target_url, target_key, ordering_key, status,
             attempts, next_attempt_at, created_at, updated_at)
         VALUES (?1, ?2, ?3, ?4, ?5, 'pending', 0, ?6, ?6, ?6)",
        params![
            message_id,
            endpoint_id,
            target_url,
            target_key,
            ordering_key,
            now_ms
        ],
    )?;
    Ok(())
}

/// The payload of a message, for tests and the delivery log.
pub fn message_payload(tx: &rusqlite::Connection, id: &str) -> Result<Option<String>, StoreError> {
    Ok(tx
        .query_row(
            "SELECT payload FROM webhook_messages WHERE id = ?1",
            [id],
            |r| r.get(0),
        )
        .optional()?)
}
