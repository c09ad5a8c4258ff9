//! Read models for the admin's calendar pages: filtered lists of calendars (V1 connections
//! and V2 calendars together), one calendar's details, calendar users with their
//! connections. These queries never select a secret column (client secret, tokens), so no
//! secret can reach a page through them.

use rusqlite::types::ToSql;
use rusqlite::{params, Connection, OptionalExtension};

use super::StoreError;

/// Filters of the admin calendar list; `None` = any.
#[derive(Debug, Default, Clone)]
pub struct CalendarFilter {
    /// `connecting` | `connected` | `disconnected`
    pub status: Option<String>,
    /// `google_calendar` | `microsoft_outlook`
    pub platform: Option<String>,
    /// `v1` | `v2`
    pub kind: Option<String>,
}

/// One row of the admin calendar list.
#[derive(Debug, Clone)]
pub struct CalendarRow {
    pub id: String,
    pub kind: String,
    pub platform: String,
    pub status: String,
    pub platform_email: Option<String>,
    pub oauth_email: Option<String>,
    /// V1: the app's user id of the calendar user.
    pub external_id: Option<String>,
    pub last_sync_at: Option<i64>,
    pub last_sync_error: Option<String>,
    pub created_at: i64,
}

fn where_clause(filter: &CalendarFilter, args: &mut Vec<Box<dyn ToSql>>) -> String {
    let mut sql = String::from(" WHERE 1 = 1");
    for (column, value) in [
        ("c.status", &filter.status),
        ("c.platform", &filter.platform),
        ("c.kind", &filter.kind),
    ] {
        if let Some(v) = value {
            args.push(Box::new(v.clone()));
            sql.push_str(&format!(" AND {column} = ?{}", args.len()));
        }
    }
    sql
}

/// One page of calendars, newest first. `before`: continue after this (created_at, id).
pub fn list(
    conn: &Connection,
    filter: &CalendarFilter,
    before: Option<(i64, String)>,
    limit: usize,
) -> Result<Vec<CalendarRow>, StoreError> {
    let mut args: Vec<Box<dyn ToSql>> = Vec::new();
    let mut sql = String::from(
        "SELECT c.id, c.kind, c.platform, c.status, c.platform_email, c.oauth_email,
                u.external_id, c.last_sync_at, c.last_sync_error, c.created_at
         FROM calendars c LEFT JOIN calendar_users u ON u.id = c.calendar_user_id",
    );
    sql.push_str(&where_clause(filter, &mut args));
    if let Some((key, id)) = before {
        args.push(Box::new(key));
        args.push(Box::new(id));
        let (k, i) = (args.len() - 1, args.len());
        sql.push_str(&format!(" AND (c.created_at, c.id) < (?{k}, ?{i})"));
    }
    sql.push_str(&format!(
        " ORDER BY c.created_at DESC, c.id DESC LIMIT {limit}"
    ));
    let mut stmt = conn.prepare(&sql)?;
    let refs: Vec<&dyn ToSql> = args.iter().map(|b| b.as_ref()).collect();
    let rows = stmt
        .query_map(refs.as_slice(), |r| {
            Ok(CalendarRow {
                id: r.get(0)?,
                kind: r.get(1)?,
                platform: r.get(2)?,
                status: r.get(3)?,
                platform_email: r.get(4)?,
                oauth_email: r.get(5)?,
                external_id: r.get(6)?,
                last_sync_at: r.get(7)?,
                last_sync_error: r.get(8)?,
                created_at: r.get(9)?,
            })
        })?
        .collect::<Result<_, _>>()?;
    Ok(rows)
}

/// How many calendars match the filter.
pub fn count(conn: &Connection, filter: &CalendarFilter) -> Result<i64, StoreError> {
    let mut args: Vec<Box<dyn ToSql>> = Vec::new();
    let sql = format!(
        "SELECT COUNT(*) FROM calendars c{}",
        where_clause(filter, &mut args)
    );
    let refs: Vec<&dyn ToSql> = args.iter().map(|b| b.as_ref()).collect();
    Ok(conn.query_row(&sql, refs.as_slice(), |r| r.get(0))?)
}

/// What the calendar detail page shows (no secrets).
#[derive(Debug, Clone)]
pub struct CalendarDetail {
    pub id: String,
    pub kind: String,
    pub platform: String,
    pub status: String,
    pub calendar_user_id: Option<String>,
    pub external_id: Option<String>,
    pub oauth_client_id: Option<String>,
    pub oauth_email: Option<String>,
    pub platform_email: Option<String>,
    pub granted_scopes: Option<String>,
    pub webhook_url: Option<String>,
    pub access_token_expires_at: Option<i64>,
    pub last_refresh_at: Option<i64>,
    pub next_refresh_at: Option<i64>,
    pub refresh_failures: i64,
    pub last_refresh_error: Option<String>,
    pub last_sync_at: Option<i64>,
    pub next_sync_at: Option<i64>,
    pub last_sync_error: Option<String>,
    pub sync_failures: i64,
    pub created_at: i64,
    pub updated_at: i64,
}

pub fn detail(conn: &Connection, id: &str) -> Result<Option<CalendarDetail>, StoreError> {
    Ok(conn
        .query_row(
            "SELECT c.id, c.kind, c.platform, c.status, c.calendar_user_id, u.external_id,
                    c.oauth_client_id, c.oauth_email, c.platform_email, c.granted_scopes,
                    c.webhook_url, c.access_token_expires_at, c.last_refresh_at,
                    c.next_refresh_at, c.refresh_failures, c.last_refresh_error,
                    c.last_sync_at, c.next_sync_at, c.last_sync_error, c.sync_failures,
                    c.created_at, c.updated_at
             FROM calendars c LEFT JOIN calendar_users u ON u.id = c.calendar_user_id
             WHERE c.id = ?1",
            [id],
            |r| {
                Ok(CalendarDetail {
                    id: r.get(0)?,
                    kind: r.get(1)?,
                    platform: r.get(2)?,
                    status: r.get(3)?,
                    calendar_user_id: r.get(4)?,
                    external_id: r.get(5)?,
                    oauth_client_id: r.get(6)?,
                    oauth_email: r.get(7)?,
                    platform_email: r.get(8)?,
                    granted_scopes: r.get(9)?,
                    webhook_url: r.get(10)?,
                    access_token_expires_at: r.get(11)?,
                    last_refresh_at: r.get(12)?,
                    next_refresh_at: r.get(13)?,
                    refresh_failures: r.get(14)?,
                    last_refresh_error: r.get(15)?,
                    last_sync_at: r.get(16)?,
                    next_sync_at: r.get(17)?,
                    last_sync_error: r.get(18)?,
                    sync_failures: r.get(19)?,
                    created_at: r.get(20)?,
                    updated_at: r.get(21)?,
                })
            },
        )
        .optional()?)
}

/// The calendar's status, if it exists.
pub fn status_of(conn: &Connection, id: &str) -> Result<Option<String>, StoreError> {
    Ok(conn
        .query_row("SELECT status FROM calendars WHERE id = ?1", [id], |r| {
            r.get(0)
        })
        .optional()?)
}

/// A V1 calendar user with their connections, for the admin list.
#[derive(Debug, Clone)]
pub struct UserRow {
    pub id: String,
    pub external_id: String,
    pub created_at: i64,
    pub connections: Vec<UserConnection>,
}

/// One connection of a V1 user.
#[derive(Debug, Clone)]
pub struct UserConnection {
    pub calendar_id: String,
    pub platform: String,
    pub status: String,
    pub platform_email: Option<String>,
}

/// One page of calendar users, newest first, each with their connections. `before`:
/// continue after this (created_at, id).
pub fn users(
    conn: &Connection,
    before: Option<(i64, String)>,
    limit: usize,
) -> Result<Vec<UserRow>, StoreError> {
    let map = |r: &rusqlite::Row| {
        Ok(UserRow {
            id: r.get(0)?,
            external_id: r.get(1)?,
            created_at: r.get(2)?,
            connections: Vec::new(),
        })
    };
    let mut users: Vec<UserRow> = match before {
        Some((key, id)) => conn
            .prepare_cached(
                "SELECT id, external_id, created_at FROM calendar_users
                 WHERE (created_at, id) < (?1, ?2)
                 ORDER BY created_at DESC, id DESC LIMIT ?3",
            )?
            .query_map(params![key, id, limit as i64], map)?
            .collect::<Result<_, _>>()?,
        None => conn
            .prepare_cached(
                "SELECT id, external_id, created_at FROM calendar_users
                 ORDER BY created_at DESC, id DESC LIMIT ?1",
            )?
            .query_map(params![limit as i64], map)?
            .collect::<Result<_, _>>()?,
    };
    let mut stmt = conn.prepare_cached(
        "SELECT id, platform, status, platform_email FROM calendars
         WHERE kind = 'v1' AND calendar_user_id = ?1 ORDER BY platform, id",
    )?;
    for user in &mut users {
        user.connections = stmt
            .query_map([&user.id], |r| {
                Ok(UserConnection {
                    calendar_id: r.get(0)?,
                    platform: r.get(1)?,
                    status: r.get(2)?,
                    platform_email: r.get(3)?,
                })
            })?
            .collect::<Result<_, _>>()?;
    }
    Ok(users)
}
