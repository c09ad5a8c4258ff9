//! The webhook outbox: messages are written in the same transaction as the change that
//! caused them, fanned out to one delivery row per target. The deliverer (webhooks module)
//! sends what is due.

use std::collections::HashMap;

use rusqlite::{params, Connection, OptionalExtension, Transaction};

use super::StoreError;
use crate::domain::DeliveryStatus;

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
    tx.prepare_cached(
        "INSERT INTO webhook_messages (id, event_type, ordering_key, payload, created_at)
         VALUES (?1, ?2, ?3, ?4, ?5)",
    )?
    .execute(params![
        id,
        event.event_type,
        event.ordering_key,
        payload,
        now_ms
    ])?;
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
    // Behind an older pending message of its pair it waits, off the due range, until that
    // one is delivered or finally failed (`promote_next`).
    let behind: bool = tx
        .prepare_cached(
            "SELECT EXISTS (SELECT 1 FROM webhook_deliveries
             WHERE target_key = ?1 AND ordering_key = ?2 AND status = ?3)",
        )?
        .query_row(
            params![target_key, ordering_key, DeliveryStatus::Pending],
            |r| r.get(0),
        )?;
    let due = if behind { WAITING } else { now_ms };
    tx.prepare_cached(
        "INSERT INTO webhook_deliveries
            (message_id, endpoint_id, target_url, target_key, ordering_key, status,
             attempts, next_attempt_at, created_at, updated_at)
         VALUES (?1, ?2, ?3, ?4, ?5, ?7, 0, ?8, ?6, ?6)",
    )?
    .execute(params![
        message_id,
        endpoint_id,
        target_url,
        target_key,
        ordering_key,
        now_ms,
        DeliveryStatus::Pending,
        due
    ])?;
    Ok(())
}

/// `next_attempt_at` of a pending delivery queued behind an older pending message of its
/// (target, ordering key) pair: never due by time. When the older one is delivered or
/// finally fails, the oldest pending delivery of the pair is made due (`promote_next`).
/// The oldest pending delivery of a pair therefore always has a real time, and the claim
/// reads only the heads of pairs, not every queued message.
pub const WAITING: i64 = i64::MAX;

/// After a delivery of the pair left `pending`: the pair's oldest pending delivery, if it
/// was waiting, is due at `now_ms`.
fn promote_next(
    tx: &Transaction,
    target_key: &str,
    ordering_key: &str,
    now_ms: i64,
) -> Result<(), StoreError> {
    tx.prepare_cached(
        "UPDATE webhook_deliveries SET next_attempt_at = ?4
         WHERE id = (SELECT id FROM webhook_deliveries
                     WHERE target_key = ?1 AND ordering_key = ?2 AND status = ?3
                     ORDER BY id LIMIT 1)
           AND next_attempt_at = ?5",
    )?
    .execute(params![
        target_key,
        ordering_key,
        DeliveryStatus::Pending,
        now_ms,
        WAITING
    ])?;
    Ok(())
}

/// A delivery taken for one attempt, with what is needed to sign and send it.
#[derive(Debug, Clone)]
pub struct ClaimedDelivery {
    pub id: i64,
    /// Sent as `webhook-id`, the same on every attempt.
    pub message_id: String,
    pub payload: String,
    /// None for a V2 calendar's own `webhook_url` (signed with the workspace secret).
    pub endpoint_id: Option<String>,
    /// The endpoint id, or `url:<webhook_url>`: what [`ClaimLimits::per_target`] counts.
    pub target_key: String,
    pub url: String,
    pub secret_enc: Option<String>,
    /// The rotated-out secret while it still signs (already checked against `now`).
    pub previous_secret_enc: Option<String>,
}

/// How many deliveries one claim may take.
#[derive(Debug, Clone, Copy)]
pub struct ClaimLimits<'a> {
    /// At most this many in all.
    pub total: usize,
    /// At most this many taken at once per target (endpoint or URL), counting those
    /// already held: a slow receiver holds only its own share.
    pub per_target: usize,
    /// Deliveries already taken and not yet recorded (running, waiting for a place, or
    /// finished), per target key.
    pub held: &'a HashMap<String, usize>,
}

/// Separates the target keys a claim skips (no id or URL holds a newline).
const SKIP_SEP: char = '\n';

/// The columns of a claimed delivery (`d`, its message `m`, its endpoint `e` if any).
const CLAIM_COLUMNS: &str = "d.id, d.message_id, m.payload, d.endpoint_id,
    COALESCE(e.url, d.target_url), e.secret_enc,
    CASE WHEN e.previous_secret_expires_at > ?1 THEN e.previous_secret_enc END,
    d.in_flight_since, d.next_attempt_at, d.target_key";

/// The enabled endpoints (configuration: a handful of rows).
const ENABLED_ENDPOINTS_SQL: &str = "SELECT e.id FROM webhook_endpoints e WHERE e.enabled = 1";

/// Only the oldest pending delivery of its (target, ordering key) pair may be taken.
const HEAD_OF_PAIR: &str = "NOT EXISTS (
    SELECT 1 FROM webhook_deliveries o
    WHERE o.target_key = d.target_key AND o.ordering_key = d.ordering_key
      AND o.status = ?3 AND o.id < d.id)";

/// Parameters: now, limit, pending, endpoint id. Read in the order of
/// `webhook_deliveries_endpoint_due` (due, then id), so it stops after `limit` rows.
fn endpoint_due_sql() -> String {
    format!(
        "SELECT {CLAIM_COLUMNS}
         FROM webhook_endpoints e
         CROSS JOIN webhook_deliveries d ON d.endpoint_id = e.id
         JOIN webhook_messages m ON m.id = d.message_id
         WHERE e.id = ?4 AND e.enabled = 1
           AND d.status = ?3 AND d.next_attempt_at <= ?1 AND {HEAD_OF_PAIR}
         ORDER BY d.next_attempt_at, d.id
         LIMIT ?2"
    )
}

/// Deliveries to a calendar's own URL (`endpoint_id IS NULL`), skipping targets already at
/// their share (`?4`: newline-separated and -enclosed target keys).
/// Parameters: now, limit, pending, skipped targets.
fn url_due_sql() -> String {
    format!(
        "SELECT d.id, d.message_id, m.payload, NULL, d.target_url, NULL, NULL,
                d.in_flight_since, d.next_attempt_at, d.target_key
         FROM webhook_deliveries d
         JOIN webhook_messages m ON m.id = d.message_id
         WHERE d.endpoint_id IS NULL AND d.status = ?3 AND d.next_attempt_at <= ?1
           AND instr(?4, char(10) || d.target_key || char(10)) = 0 AND {HEAD_OF_PAIR}
         ORDER BY d.next_attempt_at, d.id
         LIMIT ?2"
    )
}

/// `EXPLAIN QUERY PLAN` of the claim's queries (tests: they must use indexes, not scan
/// history).
pub fn claim_due_plan(conn: &Connection) -> Result<Vec<String>, StoreError> {
    let mut plan = super::query_plan(conn, ENABLED_ENDPOINTS_SQL, [])?;
    plan.extend(super::query_plan(
        conn,
        &endpoint_due_sql(),
        params![0i64, 1i64, DeliveryStatus::Pending, "ep"],
    )?);
    plan.extend(super::query_plan(
        conn,
        &url_due_sql(),
        params![0i64, 1i64, DeliveryStatus::Pending, ""],
    )?);
    Ok(plan)
}

/// Takes up to `limits.total` due deliveries for one attempt each, holding them for
/// `lease_ms`.
///
/// Only the oldest pending delivery of each (target, ordering key) pair is eligible, so a
/// pair never has two attempts running and a message never overtakes an older one; the
/// rows returned therefore belong to distinct pairs and may be sent concurrently.
/// Deliveries to disabled endpoints are held: their backlog is never read. A delivery whose
/// previous lease ran out without a result (the server stopped mid-attempt) is logged as
/// such and taken again.
///
/// Each target gets at most its free share (`per_target` minus what is in flight): per
/// enabled endpoint, its oldest due heads on `webhook_deliveries_endpoint_due` (read in
/// index order, so a long queue costs no more than the rows taken); then the calendars'
/// own URLs. Of these, the oldest due are taken first. Messages waiting behind an older
/// one of their pair ([`WAITING`]) are never read.
pub fn claim_due(
    tx: &Transaction,
    now_ms: i64,
    lease_ms: i64,
    limits: ClaimLimits,
) -> Result<Vec<ClaimedDelivery>, StoreError> {
    if limits.total == 0 || limits.per_target == 0 {
        return Ok(Vec::new());
    }
    let busy = |key: &str| limits.held.get(key).copied().unwrap_or(0);
    let mut candidates: Vec<Candidate> = Vec::new();
    let endpoints: Vec<String> = tx
        .prepare_cached(ENABLED_ENDPOINTS_SQL)?
        .query_map([], |r| r.get(0))?
        .collect::<Result<_, _>>()?;
    let mut per_endpoint = tx.prepare_cached(&endpoint_due_sql())?;
    for id in endpoints {
        let free = limits
            .per_target
            .saturating_sub(busy(&id))
            .min(limits.total);
        if free > 0 {
            let rows = per_endpoint
                .query_map(
                    params![now_ms, free as i64, DeliveryStatus::Pending, id],
                    candidate,
                )?
                .collect::<Result<Vec<_>, _>>()?;
            candidates.extend(rows);
        }
    }
    // Calendars' own URLs: many targets on one index. Each round skips the targets at their
    // share; a full round that had to pass rows over (their target filled up meanwhile) is
    // followed by another without those targets.
    let mut taken: HashMap<String, usize> = HashMap::new();
    let mut seen: std::collections::HashSet<i64> = std::collections::HashSet::new();
    let mut by_url = tx.prepare_cached(&url_due_sql())?;
    for _round in 0..8 {
        let share = |key: &str, taken: &HashMap<String, usize>| {
            busy(key) + taken.get(key).copied().unwrap_or(0)
        };
        let mut skip = String::from(SKIP_SEP);
        for key in limits.held.keys().chain(taken.keys()) {
            if share(key, &taken) >= limits.per_target && !key.contains(SKIP_SEP) {
                skip.push_str(key);
                skip.push(SKIP_SEP);
            }
        }
        let rows = by_url
            .query_map(
                params![now_ms, limits.total as i64, DeliveryStatus::Pending, skip],
                candidate,
            )?
            .collect::<Result<Vec<_>, _>>()?;
        let full_round = rows.len() == limits.total;
        let mut passed_over = false;
        for c in rows {
            if seen.contains(&c.delivery.id) {
                continue;
            }
            if share(&c.delivery.target_key, &taken) >= limits.per_target {
                passed_over = true;
                continue;
            }
            *taken.entry(c.delivery.target_key.clone()).or_insert(0) += 1;
            seen.insert(c.delivery.id);
            candidates.push(c);
        }
        if !(passed_over && full_round) {
            break;
        }
    }
    // The oldest due first, across targets.
    candidates.sort_by_key(|c| (c.due, c.delivery.id));
    candidates.truncate(limits.total);
    let mut claimed = Vec::with_capacity(candidates.len());
    for c in candidates {
        if let Some(started) = c.in_flight_since {
            // Not counted against the retry schedule: the outcome is simply unknown.
            tx.prepare_cached(
                "INSERT INTO webhook_attempts
                    (delivery_id, attempted_at, status_code, latency_ms, response_body, error)
                 VALUES (?1, ?2, NULL, 0, NULL, ?3)",
            )?
            .execute(params![
                c.delivery.id,
                started,
                "no result recorded: the server stopped during this attempt; sending again"
            ])?;
        }
        tx.prepare_cached(
            "UPDATE webhook_deliveries SET in_flight_since = ?2, next_attempt_at = ?3,
                updated_at = ?2 WHERE id = ?1",
        )?
        .execute(params![c.delivery.id, now_ms, now_ms + lease_ms])?;
        claimed.push(c.delivery);
    }
    Ok(claimed)
}

/// A due delivery the claim may take.
struct Candidate {
    delivery: ClaimedDelivery,
    in_flight_since: Option<i64>,
    due: i64,
}

fn candidate(r: &rusqlite::Row) -> rusqlite::Result<Candidate> {
    Ok(Candidate {
        delivery: ClaimedDelivery {
            id: r.get(0)?,
            message_id: r.get(1)?,
            payload: r.get(2)?,
            endpoint_id: r.get(3)?,
            url: r.get(4)?,
            secret_enc: r.get(5)?,
            previous_secret_enc: r.get(6)?,
            target_key: r.get(9)?,
        },
        in_flight_since: r.get(7)?,
        due: r.get(8)?,
    })
}

/// What one attempt produced.
#[derive(Debug, Clone)]
pub struct AttemptResult {
    pub delivery_id: i64,
    pub endpoint_id: Option<String>,
    pub started_at: i64,
    /// Retries are counted from here.
    pub finished_at: i64,
    pub latency_ms: i64,
    pub status_code: Option<u16>,
    /// The first 2 KB of the response.
    pub response_body: Option<String>,
    pub error: Option<String>,
    /// A `Retry-After` the receiver asked for, in milliseconds.
    pub retry_after_ms: Option<i64>,
}

impl AttemptResult {
    pub fn succeeded(&self) -> bool {
        self.error.is_none() && self.status_code.is_some_and(|c| (200..300).contains(&c))
    }
}

/// Policy for recording attempts.
#[derive(Debug, Clone)]
pub struct RetryPolicy {
    /// Delays after the 1st, 2nd, ... failed attempt; when exhausted the delivery fails.
    pub schedule_ms: Vec<i64>,
    /// An endpoint failing without a success for this long is disabled.
    pub disable_after_failing_ms: i64,
}

/// How a recorded attempt left its delivery.
#[derive(Debug, Clone, PartialEq)]
pub enum Recorded {
    Delivered,
    RetryAt(i64),
    Failed,
    /// The delivery was deleted meanwhile (its endpoint was removed).
    Gone,
}

/// Records an attempt and moves its delivery on: delivered, retry later, or failed; keeps
/// the endpoint's failure streak and disables it on `410 Gone` or a too-long streak.
pub fn record_attempt(
    tx: &Transaction,
    a: &AttemptResult,
    policy: &RetryPolicy,
) -> Result<Recorded, StoreError> {
    let pending: Option<(i64, String, String)> = tx
        .prepare_cached(
            "SELECT attempts, target_key, ordering_key FROM webhook_deliveries
             WHERE id = ?1 AND status = ?2",
        )?
        .query_row(params![a.delivery_id, DeliveryStatus::Pending], |r| {
            Ok((r.get(0)?, r.get(1)?, r.get(2)?))
        })
        .optional()?;
    let Some((attempts, target_key, ordering_key)) = pending else {
        return Ok(Recorded::Gone);
    };
    tx.prepare_cached(
        "INSERT INTO webhook_attempts
            (delivery_id, attempted_at, status_code, latency_ms, response_body, error)
         VALUES (?1, ?2, ?3, ?4, ?5, ?6)",
    )?
    .execute(params![
        a.delivery_id,
        a.started_at,
        a.status_code,
        a.latency_ms,
        a.response_body,
        a.error
    ])?;
    let attempts = attempts + 1;
    let gone = a.status_code == Some(410);
    let outcome = if a.succeeded() {
        Recorded::Delivered
    } else if gone {
        Recorded::Failed
    } else {
        match policy.schedule_ms.get(attempts as usize - 1) {
            Some(delay) => {
                let wait = (*delay).max(a.retry_after_ms.unwrap_or(0));
                Recorded::RetryAt(a.finished_at + wait)
            }
            None => Recorded::Failed,
        }
    };
    let (status, next) = match &outcome {
        Recorded::Delivered => (DeliveryStatus::Delivered, a.finished_at),
        Recorded::RetryAt(at) => (DeliveryStatus::Pending, *at),
        _ => (DeliveryStatus::Failed, a.finished_at),
    };
    tx.prepare_cached(
        "UPDATE webhook_deliveries SET status = ?2, attempts = ?3, next_attempt_at = ?4,
            last_attempt_at = ?5, last_status_code = ?6, last_error = ?7,
            in_flight_since = NULL, updated_at = ?8
         WHERE id = ?1",
    )?
    .execute(params![
        a.delivery_id,
        status,
        attempts,
        next,
        a.started_at,
        a.status_code,
        a.error,
        a.finished_at
    ])?;
    if status != DeliveryStatus::Pending {
        // Delivered or finally failed: the next message of the pair may go now.
        promote_next(tx, &target_key, &ordering_key, a.finished_at)?;
    }
    if let Some(endpoint_id) = &a.endpoint_id {
        if a.succeeded() {
            tx.prepare_cached(
                "UPDATE webhook_endpoints SET failing_since = NULL
                 WHERE id = ?1 AND failing_since IS NOT NULL",
            )?
            .execute([endpoint_id])?;
        } else {
            tx.execute(
                "UPDATE webhook_endpoints SET failing_since = COALESCE(failing_since, ?2)
                 WHERE id = ?1",
                params![endpoint_id, a.started_at],
            )?;
            let since: Option<i64> = tx
                .query_row(
                    "SELECT failing_since FROM webhook_endpoints WHERE id = ?1 AND enabled = 1",
                    [endpoint_id],
                    |r| r.get(0),
                )
                .optional()?
                .flatten();
            let reason = if gone {
                Some(format!(
                    "The endpoint answered 410 Gone at {}.",
                    super::ms_to_rfc3339(a.finished_at)
                ))
            } else {
                since
                    .filter(|s| a.finished_at - s >= policy.disable_after_failing_ms)
                    .map(|s| {
                        format!(
                            "Every attempt failed from {} to {}.",
                            super::ms_to_rfc3339(s),
                            super::ms_to_rfc3339(a.finished_at)
                        )
                    })
            };
            if let Some(reason) = reason {
                super::webhook_endpoints::disable(tx, endpoint_id, &reason, a.finished_at)?;
            }
        }
    }
    Ok(outcome)
}

/// At start-up no attempt of this server can be running: leases left by a previous process
/// (killed mid-attempt) are ended now so those deliveries are sent again at once. Returns
/// how many were released.
pub fn release_leases(tx: &Transaction, now_ms: i64) -> Result<usize, StoreError> {
    Ok(tx.execute(
        "UPDATE webhook_deliveries SET next_attempt_at = MIN(next_attempt_at, ?1)
         WHERE status = ?2 AND in_flight_since IS NOT NULL",
        params![now_ms, DeliveryStatus::Pending],
    )?)
}
