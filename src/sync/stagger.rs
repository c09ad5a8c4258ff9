//! Start-up spreading of syncs that came due while the server was down: each sync may
//! need a token refresh, and a burst of refreshes is a burst of rotated refresh tokens in
//! flight when a crash strikes.

use crate::state::AppState;
use crate::store::{self, StoreError};

/// Spreads overdue syncs over up to one sync interval; returns how many moved.
pub async fn stagger_overdue(state: &AppState) -> Result<usize, StoreError> {
    let now = state.now_ms();
    let interval = state.settings.sync_interval.as_millis() as i64;
    state
        .store
        .write(move |tx| store::sync::spread_overdue(tx, now, interval))
        .await
}
