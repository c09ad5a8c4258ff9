//! Keeps idle credentials alive: Zoom refresh tokens lapse when unused for a while (90 days
//! today), so every healthy credential whose refresh token is older than a week is
//! refreshed, far inside that lifetime even after days of downtime or failures.

use std::time::Duration;

use crate::state::AppState;
use crate::store::zoom as zs;

use super::tokens::{self, TokenError};

/// A credential's refresh token is renewed once it is this old.
pub const REFRESH_EVERY: Duration = Duration::from_secs(7 * 24 * 3600);
/// Credentials handled per run; the rest wait for the next tick.
const BATCH: usize = 500;

#[derive(Debug, Default, PartialEq, Eq)]
pub struct SweepReport {
    pub refreshed: usize,
    /// Became unhealthy (Zoom refused the refresh token).
    pub unhealthy: usize,
    /// Failed for now (Zoom unavailable, app secret refused, ...): retried next run.
    pub failed: usize,
}

/// Refreshes every due credential, one at a time (spread out by a small random pause so
/// Zoom is not hit in a burst). A failure of one never stops the others, and every
/// failure puts that credential's next attempt off (`next_attempt_at`), so it does not stay
/// first in line.
pub async fn refresh_stale(state: &AppState) -> anyhow::Result<SweepReport> {
    let now = state.now_ms();
    let due_before = now - REFRESH_EVERY.as_millis() as i64;
    let ids = state
        .store
        .read(move |c| zs::due_for_refresh(c, due_before, now, BATCH))
        .await?;
    let mut report = SweepReport::default();
    for (n, id) in ids.into_iter().enumerate() {
        if n > 0 {
            crate::calendars::tokens::stagger_pause().await;
        }
        match tokens::refresh_if_due(state, &id, due_before).await {
            Ok(true) => report.refreshed += 1,
            Ok(false) | Err(TokenError::NotFound) => {}
            Err(TokenError::Unhealthy(_)) => report.unhealthy += 1,
            Err(TokenError::Internal(e)) => {
                // Not Zoom's answer (a secret that cannot be opened, a database error):
                // recorded and put off like any failure.
                tracing::error!(credential = %id, error = %e, "Zoom credential refresh failed");
                if let Err(e2) = tokens::record_failure(state, &id, "refresh_error", &e).await {
                    tracing::warn!(credential = %id, error = %e2, "cannot record the failure");
                }
                report.failed += 1;
            }
            Err(e) => {
                tracing::warn!(credential = %id, error = %e, "Zoom credential refresh failed");
                report.failed += 1;
            }
        }
    }
    Ok(report)
}
