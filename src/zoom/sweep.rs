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

pub async fn refresh_stale(state: &AppState) -> anyhow::Result<SweepReport> {
    let due_before = state.now_ms() - REFRESH_EVERY.as_millis() as i64;
    let ids = state
        .store
        .read(move |c| zs::due_for_refresh(c, due_before, BATCH))
        .await?;
    let mut report = SweepReport::default();
    for id in ids {
        match tokens::refresh_if_due(state, &id, due_before).await {
            Ok(true) => report.refreshed += 1,
            Ok(false) | Err(TokenError::NotFound) => {}
            Err(TokenError::Unhealthy(_)) => report.unhealthy += 1,
            Err(TokenError::Internal(e)) => anyhow::bail!(e),
            Err(e) => {
                tracing::warn!(credential = %id, error = %e, "Zoom credential refresh failed");
                report.failed += 1;
            }
        }
    }
    Ok(report)
}
