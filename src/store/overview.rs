//! Counts for the admin overview page.

use rusqlite::Connection;

use super::StoreError;
use crate::domain::ZoomCredentialStatus;

/// Zoom OAuth credentials per status (`healthy`, `unhealthy`) and the number of apps.
pub fn zoom_counts(conn: &Connection) -> Result<(i64, i64, i64), StoreError> {
    Ok(conn.query_row(
        "SELECT (SELECT COUNT(*) FROM zoom_oauth_credentials WHERE status = ?1),
                (SELECT COUNT(*) FROM zoom_oauth_credentials WHERE status = ?2),
                (SELECT COUNT(*) FROM zoom_oauth_apps)",
        (
            ZoomCredentialStatus::Healthy,
            ZoomCredentialStatus::Unhealthy,
        ),
        |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?)),
    )?)
}

pub fn count_calendar_users(conn: &Connection) -> Result<i64, StoreError> {
    Ok(conn.query_row("SELECT COUNT(*) FROM calendar_users", [], |r| r.get(0))?)
}
