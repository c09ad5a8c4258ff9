//! Admin search: find a calendar by account email, user id or calendar id; a calendar user
//! by user id or connection email; a Zoom credential by email, Zoom user id or account id.
//! (Deliveries are searched through `webhooks::DeliveryFilter::search`.) Text matches are
//! case-insensitive substrings; ids match exactly. Secrets are never selected.

use rusqlite::{params, Connection};

use super::calendar_admin::{CalendarRow, UserRow};
use super::calendars::{row, select_list, COLUMNS};
use super::StoreError;

/// `%text%` for LIKE, with LIKE's wildcards in `text` taken literally (escape `\`).
pub fn like_pattern(text: &str) -> String {
    let mut out = String::from("%");
    for c in text.trim().chars() {
        if matches!(c, '%' | '_' | '\\') {
            out.push('\\');
        }
        out.push(c);
    }
    out.push('%');
    out
}

/// Calendars whose account email, platform email or calendar user's id contains `q`, or
/// whose id is `q`; newest first.
pub fn calendars(conn: &Connection, q: &str, limit: usize) -> Result<Vec<CalendarRow>, StoreError> {
    let mut stmt = conn.prepare_cached(&format!(
        "SELECT {}, u.external_id
         FROM calendars c LEFT JOIN calendar_users u ON u.id = c.calendar_user_id
         WHERE c.id = ?1
            OR c.platform_email LIKE ?2 ESCAPE '\\'
            OR c.oauth_email LIKE ?2 ESCAPE '\\'
            OR u.external_id LIKE ?2 ESCAPE '\\'
         ORDER BY c.created_at DESC, c.id DESC LIMIT ?3",
        select_list("c", false)
    ))?;
    let rows = stmt
        .query_map(params![q.trim(), like_pattern(q), limit as i64], |r| {
            Ok(CalendarRow {
                cal: row(r)?,
                external_id: r.get(COLUMNS.len())?,
            })
        })?
        .collect::<Result<_, _>>()?;
    Ok(rows)
}

/// Calendar users whose id contains `q` or who have a connection whose email contains it;
/// newest first, each with their connections.
pub fn calendar_users(
    conn: &Connection,
    q: &str,
    limit: usize,
) -> Result<Vec<UserRow>, StoreError> {
    let mut stmt = conn.prepare_cached(
        "SELECT u.id FROM calendar_users u
         WHERE u.id = ?1 OR u.external_id LIKE ?2 ESCAPE '\\'
            OR EXISTS (SELECT 1 FROM calendars c WHERE c.calendar_user_id = u.id
                       AND (c.platform_email LIKE ?2 ESCAPE '\\'
                            OR c.oauth_email LIKE ?2 ESCAPE '\\'))
         ORDER BY u.created_at DESC, u.id DESC LIMIT ?3",
    )?;
    let ids: Vec<String> = stmt
        .query_map(params![q.trim(), like_pattern(q), limit as i64], |r| {
            r.get(0)
        })?
        .collect::<Result<_, _>>()?;
    let mut connections = conn.prepare_cached(&format!(
        "SELECT {} FROM calendars
         WHERE kind = 'v1' AND calendar_user_id = ?1 ORDER BY platform, id",
        select_list("", false)
    ))?;
    let mut out = Vec::with_capacity(ids.len());
    for id in ids {
        if let Some(user) = super::calendar_users::get(conn, &id)? {
            let connections = connections
                .query_map([&user.id], row)?
                .collect::<Result<_, _>>()?;
            out.push(UserRow { user, connections });
        }
    }
    Ok(out)
}

/// Ids of Zoom credentials whose email contains `q` or whose Zoom user id, account id or
/// own id is `q`; newest first.
pub fn zoom_credential_ids(
    conn: &Connection,
    q: &str,
    limit: usize,
) -> Result<Vec<String>, StoreError> {
    let mut stmt = conn.prepare_cached(
        "SELECT id FROM zoom_oauth_credentials
         WHERE id = ?1 OR user_id = ?1 OR account_id = ?1 OR email LIKE ?2 ESCAPE '\\'
         ORDER BY created_at DESC, id DESC LIMIT ?3",
    )?;
    let ids = stmt
        .query_map(params![q.trim(), like_pattern(q), limit as i64], |r| {
            r.get(0)
        })?
        .collect::<Result<_, _>>()?;
    Ok(ids)
}

/// Remembers the Zoom account email of a credential (read from `/users/me`).
pub fn set_zoom_credential_email(
    conn: &Connection,
    id: &str,
    email: Option<&str>,
) -> Result<(), StoreError> {
    conn.execute(
        "UPDATE zoom_oauth_credentials SET email = ?2 WHERE id = ?1",
        params![id, email],
    )?;
    Ok(())
}

/// The stored Zoom account emails of credentials, by id (those not known are absent), in
/// one query for a whole page.
pub fn zoom_credential_emails(
    conn: &Connection,
    ids: &[&str],
) -> Result<std::collections::HashMap<String, String>, StoreError> {
    let ids = super::json_ids(ids);
    let mut stmt = conn.prepare_cached(
        "SELECT id, email FROM zoom_oauth_credentials
         WHERE id IN (SELECT value FROM json_each(?1)) AND email IS NOT NULL",
    )?;
    let emails = stmt
        .query_map([ids], |r| Ok((r.get(0)?, r.get(1)?)))?
        .collect::<Result<_, _>>()?;
    Ok(emails)
}
