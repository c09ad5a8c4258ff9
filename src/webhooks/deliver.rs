//! The deliverer: sends due deliveries from the outbox, signed, and records every attempt.
//!
//! The database is the queue. A delivery is leased before its attempt (`in_flight_since`,
//! `next_attempt_at` = end of the lease) and marked delivered only after a 2xx answer, in
//! the transaction that records the attempt; a crash in between leaves the lease to run
//! out and the message is sent again (at least once). Only the oldest pending delivery of
//! each (target, ordering key) pair is ever taken, so pairs stay in order while different
//! pairs are sent concurrently.

use std::collections::{HashMap, VecDeque};
use std::future::Future;
use std::pin::Pin;
use std::time::{Duration, Instant, SystemTime};

use tokio::task::JoinSet;

use crate::state::AppState;
use crate::store::outbox::{self, AttemptResult, ClaimedDelivery, RetryPolicy};
use crate::store::webhooks::{self as log, ReplayOutcome};

/// Attempts running at once, across targets and pairs.
pub const CONCURRENCY: usize = 64;
/// Attempts running at once to one target (an endpoint or a calendar's URL): a slow or
/// hanging receiver holds only this many of [`CONCURRENCY`], and one receiver never gets
/// more at once.
pub const PER_TARGET: usize = 16;
/// Deliveries taken ahead, in multiples of the places running (per target and in all):
/// they start the moment a place frees, while the next transaction records and takes more,
/// so one transaction records and takes many at once. One waits at most for `AHEAD`
/// attempts in a row (each under [`ATTEMPT_TIMEOUT`]), well inside its [`LEASE`].
pub const AHEAD: usize = 1;
const _: () = assert!(ATTEMPT_TIMEOUT.as_secs() * (AHEAD as u64 + 1) < LEASE.as_secs());
/// A receiver gets this long to answer, body included.
pub const ATTEMPT_TIMEOUT: Duration = Duration::from_secs(15);
/// How long a taken delivery is held; well above the timeout, so a slow attempt is never
/// taken twice, and short enough that a crash mid-attempt is retried soon after a restart.
pub const LEASE: Duration = Duration::from_secs(60);
/// An endpoint whose every attempt failed for this long is disabled and flagged.
pub const DISABLE_AFTER_FAILING: Duration = Duration::from_secs(5 * 24 * 3600);
/// How much of a response is kept in the log.
pub const RESPONSE_LOG_BYTES: usize = 2048;
/// The longest `Retry-After` honoured (a receiver cannot park a message for months).
pub const MAX_RETRY_AFTER: Duration = Duration::from_secs(24 * 3600);

/// Sends every delivery that is due, until none is left; returns the attempts made.
///
/// Attempts run concurrently (at most [`CONCURRENCY`], [`PER_TARGET`] per target) and the
/// sweep never waits for a batch: while one transaction records finished attempts and takes
/// more (leased, so a crash sends them again), the attempts already taken keep going and
/// those taken ahead start as places free. The next message of a pair becomes due in the
/// transaction that records the previous one's success or final failure, and is taken
/// only after it, so one pair never has two attempts running.
pub async fn deliver_due(state: &AppState) -> anyhow::Result<usize> {
    let policy = RetryPolicy {
        schedule_ms: state
            .settings
            .webhook_retry_schedule
            .iter()
            .map(|d| d.as_millis() as i64)
            .collect(),
        disable_after_failing_ms: DISABLE_AFTER_FAILING.as_millis() as i64,
    };
    let mut secrets = Secrets::default();
    let mut running: JoinSet<AttemptResult> = JoinSet::new();
    // Target key of each running attempt.
    let mut targets: HashMap<tokio::task::Id, String> = HashMap::new();
    // Per target: attempts running, and deliveries taken (running, waiting or finished but
    // not yet recorded).
    let mut running_at: HashMap<String, usize> = HashMap::new();
    let mut held: HashMap<String, usize> = HashMap::new();
    let mut waiting: VecDeque<ClaimedDelivery> = VecDeque::new();
    let mut finished: Vec<(String, AttemptResult)> = Vec::new();
    let mut recording: Option<Pin<Box<dyn Future<Output = TxOutcome> + Send + '_>>> = None;
    // Whether the last claim was filled (so another may find more): one that was not saw
    // everything due, and only recorded results make more due meanwhile.
    let mut more = true;
    let mut asked = 0;
    let mut attempts = 0;
    loop {
        // Start what was taken, oldest first, where its target has a free place.
        let mut i = 0;
        while i < waiting.len() && running.len() < CONCURRENCY {
            if running_at.get(&waiting[i].target_key).copied().unwrap_or(0) >= PER_TARGET {
                i += 1;
                continue;
            }
            let delivery = waiting.remove(i).expect("in range");
            let key = delivery.target_key.clone();
            match secrets.for_delivery(state, &delivery).await {
                Ok(signing) => {
                    *running_at.entry(key.clone()).or_insert(0) += 1;
                    let st = state.clone();
                    let task = running.spawn(async move { attempt(&st, delivery, signing).await });
                    targets.insert(task.id(), key);
                }
                // Recorded as a failed attempt; never sent unsigned.
                Err(e) => finished.push((key, failed_before_sending(state, &delivery, e))),
            }
        }
        let room = (CONCURRENCY * (1 + AHEAD)).saturating_sub(held.values().sum());
        if recording.is_none() && (!finished.is_empty() || (more && room > 0)) {
            // Record what finished and take more work in one transaction: a recorded
            // success can make the next message of its pair eligible in the same step.
            let results = std::mem::take(&mut finished);
            attempts += results.len();
            for (key, _) in &results {
                release(&mut held, key);
            }
            let now = state.now_ms();
            let p = policy.clone();
            let busy = held.clone();
            let room = (CONCURRENCY * (1 + AHEAD)).saturating_sub(held.values().sum());
            asked = room;
            recording = Some(Box::pin(state.store.write(move |tx| {
                // Counted once committed (a rolled-back record is sent and counted again).
                let recorded = results
                    .iter()
                    .map(|(_, r)| outbox::record_attempt(tx, r, &p))
                    .collect::<Result<Vec<_>, _>>()?;
                let limits = outbox::ClaimLimits {
                    total: room,
                    per_target: PER_TARGET * (1 + AHEAD),
                    held: &busy,
                };
                Ok((
                    recorded,
                    outbox::claim_due(tx, now, LEASE.as_millis() as i64, limits)?,
                ))
            })));
        }
        if recording.is_none() && running.is_empty() && waiting.is_empty() {
            return Ok(attempts);
        }
        let step = tokio::select! {
            r = async { recording.as_mut().expect("checked").await }, if recording.is_some() => {
                Step::Recorded(r)
            }
            d = running.join_next_with_id(), if !running.is_empty() => Step::Finished(d),
        };
        match step {
            Step::Recorded(r) => {
                recording = None;
                let (recorded, claimed) = r?;
                recorded.into_iter().for_each(count);
                more = asked > 0 && claimed.len() >= asked;
                for delivery in claimed {
                    *held.entry(delivery.target_key.clone()).or_insert(0) += 1;
                    waiting.push_back(delivery);
                }
            }
            Step::Finished(done) => {
                let mut next = done;
                while let Some(done) = next {
                    collect(
                        done,
                        &mut targets,
                        &mut running_at,
                        &mut held,
                        &mut finished,
                    );
                    next = running.try_join_next_with_id();
                }
            }
        }
    }
}

type TxOutcome = Result<(Vec<outbox::Recorded>, Vec<ClaimedDelivery>), crate::store::StoreError>;

enum Step {
    Recorded(TxOutcome),
    Finished(Option<Result<(tokio::task::Id, AttemptResult), tokio::task::JoinError>>),
}

fn release(counts: &mut HashMap<String, usize>, key: &str) {
    if let Some(n) = counts.get_mut(key) {
        *n -= 1;
        if *n == 0 {
            counts.remove(key);
        }
    }
}

/// Counts a recorded attempt in `convene_webhook_deliveries_total{outcome}`.
fn count(recorded: outbox::Recorded) {
    use outbox::Recorded;
    let outcome = match recorded {
        Recorded::Delivered => "delivered",
        Recorded::RetryAt(_) => "retrying",
        Recorded::Failed => "failed",
        Recorded::Gone => return,
    };
    crate::metrics::webhook_delivery(outcome);
}

fn collect(
    joined: Result<(tokio::task::Id, AttemptResult), tokio::task::JoinError>,
    targets: &mut HashMap<tokio::task::Id, String>,
    running_at: &mut HashMap<String, usize>,
    held: &mut HashMap<String, usize>,
    into: &mut Vec<(String, AttemptResult)>,
) {
    match joined {
        Ok((id, r)) => {
            let key = targets.remove(&id).unwrap_or_default();
            release(running_at, &key);
            into.push((key, r));
        }
        // The lease runs out and the delivery is taken again.
        Err(e) => {
            if let Some(key) = targets.remove(&e.id()) {
                release(running_at, &key);
                release(held, &key);
            }
            tracing::error!(error = %e, "webhook attempt task failed");
        }
    }
}

/// The secrets that sign deliveries, opened once per sweep: an endpoint's (current first,
/// then the rotated-out one while it lasts) or the workspace secret for a calendar's own
/// `webhook_url`.
#[derive(Default)]
struct Secrets {
    workspace: Option<String>,
    /// Opened secrets by their sealed form.
    opened: HashMap<String, String>,
}

impl Secrets {
    async fn for_delivery(
        &mut self,
        state: &AppState,
        d: &ClaimedDelivery,
    ) -> anyhow::Result<Vec<String>> {
        if d.endpoint_id.is_some() {
            let mut out = Vec::with_capacity(2);
            for sealed in [&d.secret_enc, &d.previous_secret_enc]
                .into_iter()
                .flatten()
            {
                out.push(self.open(state, sealed)?);
            }
            anyhow::ensure!(!out.is_empty(), "endpoint has no signing secret");
            return Ok(out);
        }
        if self.workspace.is_none() {
            self.workspace = Some(super::secret::workspace_secret(state).await?);
        }
        Ok(vec![self.workspace.clone().expect("set above")])
    }

    fn open(&mut self, state: &AppState, sealed: &str) -> anyhow::Result<String> {
        if let Some(s) = self.opened.get(sealed) {
            return Ok(s.clone());
        }
        let secret = state.keys.decrypt(sealed)?;
        self.opened.insert(sealed.to_string(), secret.clone());
        Ok(secret)
    }
}

fn failed_before_sending(state: &AppState, d: &ClaimedDelivery, e: anyhow::Error) -> AttemptResult {
    tracing::error!(delivery = d.id, error = %e, "cannot sign webhook");
    let now = state.now_ms();
    AttemptResult {
        delivery_id: d.id,
        endpoint_id: d.endpoint_id.clone(),
        started_at: now,
        finished_at: now,
        latency_ms: 0,
        status_code: None,
        response_body: None,
        error: Some(format!("not sent: cannot sign ({e})")),
        retry_after_ms: None,
    }
}

/// One signed POST; never fails, the outcome is in the result.
async fn attempt(state: &AppState, d: ClaimedDelivery, secrets: Vec<String>) -> AttemptResult {
    let started_at = state.now_ms();
    // Receivers check the timestamp against their own clock: use real time, not the
    // (test-shiftable) application clock.
    let timestamp = crate::store::now_ms() / 1000;
    let refs: Vec<&str> = secrets.iter().map(String::as_str).collect();
    let mut result = AttemptResult {
        delivery_id: d.id,
        endpoint_id: d.endpoint_id.clone(),
        started_at,
        finished_at: started_at,
        latency_ms: 0,
        status_code: None,
        response_body: None,
        error: None,
        retry_after_ms: None,
    };
    let signature = match super::sign::signature_header(&refs, &d.message_id, timestamp, &d.payload)
    {
        Ok(s) => s,
        Err(e) => {
            result.error = Some(format!("not sent: {e}"));
            return result;
        }
    };
    let clock = Instant::now();
    let sent = state
        .http
        .post(&d.url)
        .timeout(ATTEMPT_TIMEOUT)
        .header(reqwest::header::CONTENT_TYPE, "application/json")
        .header(reqwest::header::USER_AGENT, super::USER_AGENT)
        .header("webhook-id", &d.message_id)
        .header("webhook-timestamp", timestamp.to_string())
        .header("webhook-signature", signature)
        .body(d.payload)
        .send()
        .await;
    match sent {
        Ok(mut res) => {
            result.status_code = Some(res.status().as_u16());
            if !res.status().is_success() {
                result.retry_after_ms = res
                    .headers()
                    .get(reqwest::header::RETRY_AFTER)
                    .and_then(|v| v.to_str().ok())
                    .and_then(|v| parse_retry_after(v, SystemTime::now()))
                    .map(|d| d.min(MAX_RETRY_AFTER).as_millis() as i64);
            }
            let mut body = Vec::new();
            loop {
                match res.chunk().await {
                    Ok(Some(chunk)) => {
                        let room = RESPONSE_LOG_BYTES - body.len();
                        body.extend_from_slice(&chunk[..chunk.len().min(room)]);
                        if body.len() >= RESPONSE_LOG_BYTES {
                            break;
                        }
                    }
                    Ok(None) => break,
                    // The status already arrived; a body cut short does not undo it.
                    Err(e) => {
                        if e.is_timeout() {
                            result.error = Some(describe(e));
                        }
                        break;
                    }
                }
            }
            if !body.is_empty() {
                result.response_body = Some(String::from_utf8_lossy(&body).into_owned());
            }
        }
        Err(e) => result.error = Some(describe(e)),
    }
    result.latency_ms = clock.elapsed().as_millis() as i64;
    result.finished_at = state.now_ms();
    result
}

/// A short reason for a failed request (no URL query strings, which may hold tokens).
fn describe(e: reqwest::Error) -> String {
    let kind = if e.is_timeout() {
        "timed out"
    } else if e.is_connect() {
        "connection failed"
    } else if e.is_request() {
        "request failed"
    } else if e.is_body() || e.is_decode() {
        "reading the response failed"
    } else {
        "error"
    };
    let e = e.without_url();
    let mut text = format!("{kind}: {e}");
    let mut source = std::error::Error::source(&e);
    while let Some(s) = source {
        text.push_str(&format!(": {s}"));
        source = s.source();
    }
    text
}

/// `Retry-After` as delta-seconds or an HTTP date (a date in the past means no wait).
pub fn parse_retry_after(value: &str, now: SystemTime) -> Option<Duration> {
    let value = value.trim();
    if let Ok(secs) = value.parse::<u64>() {
        return Some(Duration::from_secs(secs));
    }
    let at = httpdate::parse_http_date(value).ok()?;
    Some(at.duration_since(now).unwrap_or_default())
}

/// Called once at start-up: deliveries a killed process left mid-attempt are due again
/// now instead of when their lease would have run out.
pub async fn release_stale_leases(state: &AppState) -> anyhow::Result<usize> {
    let now = state.now_ms();
    let released = state
        .store
        .write(move |tx| outbox::release_leases(tx, now))
        .await?;
    if released > 0 {
        tracing::warn!(
            released,
            "webhook attempts were interrupted by a stop; sending again"
        );
    }
    Ok(released)
}

/// Schedules a new attempt of a delivery now (same message, same `webhook-id`) and wakes
/// the deliverer. Used by the admin pages.
pub async fn replay(state: &AppState, delivery_id: i64) -> anyhow::Result<ReplayOutcome> {
    let now = state.now_ms();
    let outcome = state
        .store
        .write(move |tx| log::replay(tx, delivery_id, now))
        .await?;
    if outcome == ReplayOutcome::Scheduled {
        state.wake.webhooks.notify_one();
    }
    Ok(outcome)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn retry_after_takes_seconds_and_http_dates() {
        let now = httpdate::parse_http_date("Wed, 21 Oct 2015 07:28:00 GMT").unwrap();
        assert_eq!(
            parse_retry_after("120", now),
            Some(Duration::from_secs(120))
        );
        assert_eq!(
            parse_retry_after("Wed, 21 Oct 2015 07:30:00 GMT", now),
            Some(Duration::from_secs(120))
        );
        assert_eq!(
            parse_retry_after("Wed, 21 Oct 2015 07:00:00 GMT", now),
            Some(Duration::ZERO)
        );
        assert_eq!(parse_retry_after("soon", now), None);
        assert_eq!(parse_retry_after("-5", now), None);
    }
}
