//! Read models for the admin's calendar pages: filtered lists of calendars (V1 connections
//! and V2 calendars together), one calendar's details, calendar users with their
//! connections. Rows are `store::calendars::Calendar`s read with every sealed secret
//! (client secret, tokens) selected as NULL, so no secret can reach a page through them.

use rusqlite::types::ToSql;
use rusqlite::{Connection, OptionalExtension};

use super::calendar_users::{self, CalendarUser};
use super::calendars::{row, select_list, Calendar, COLUMNS};
use super::StoreError;
use crate::domain::{CalendarKind, CalendarStatus, Platform};

/// Filters of the admin calendar list; `None` = any.
#[derive(Debug, Default, Clone)]
pub struct CalendarFilter {
    pub status: Option<CalendarStatus>,
    pub platform: Option<Platform>,
    pub kind: Option<CalendarKind>,
}

/// A calendar (secrets left out) with the app's user id of its V1 calendar user.
#[derive(Debug, Clone)]
pub struct CalendarRow {
    pub cal: Calendar,
    /// V1: the app's user id of the calendar user.
    pub external_id: Option<String>,
}

/// `SELECT <calendar without secrets>, u.external_id FROM calendars c LEFT JOIN calendar_users u`
fn select() -> String {
    format!(
        "SELECT {}, u.external_id
         FROM calendars c LEFT JOIN calendar_users u ON u.id = c.calendar_user_id",
        select_list("c", false)
    )
}

fn calendar_row(r: &rusqlite::Row) -> rusqlite::Result<CalendarRow> {
    Ok(CalendarRow {
        cal: row(r)?,
        external_id: r.get(COLUMNS.len())?,
    })
}

fn where_clause(filter: &CalendarFilter, args: &mut Vec<Box<dyn ToSql>>) -> String {
    let mut sql = String::from(" WHERE 1 = 1");
    let mut add = |column: &str, value: Box<dyn ToSql>| {
        args.push(value);
        sql.push_str(&format!(" AND {column} = ?{}", args.len()));
    };
    if let Some(s) = filter.status {
        add("c.status", Box::new(s));
    }
    if let Some(p) = filter.platform {
        add("c.platform", Box::new(p));
    }
    if let Some(k) = filter.kind {
        add("c.kind", Box::new(k));
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
    let mut sql = select();
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
        .query_map(refs.as_slice(), calendar_row)?
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
pub fn detail(conn: &Connection, id: &str) -> Result<Option<CalendarRow>, StoreError> {
    Ok(conn
        .query_row(&format!("{} WHERE c.id = ?1", select()), [id], calendar_row)
        .optional()?)
}

/// The calendar's status, if it exists.
pub fn status_of(conn: &Connection, id: &str) -> Result<Option<CalendarStatus>, StoreError> {
    Ok(conn
        .query_row("SELECT status FROM calendars WHERE id = ?1", [id], |r| {
            r.get(0)
        })
        .optional()?)
}

/// A V1 calendar user with their connections (secrets left out), for the admin list.
#[derive(Debug, Clone)]
pub struct UserRow {
    pub user: CalendarUser,
    /// By platform.
    pub connections: Vec<Calendar>,
}

/// One page of calendar users, newest first, each with their connections. `before`:
/// continue after this (created_at, id).
pub fn users(
    conn: &Connection,
    before: Option<(i64, String)>,
    limit: usize,
) -> Result<Vec<UserRow>, StoreError> {
    let mut stmt = conn.prepare_cached(&format!(
        "SELECT {} FROM calendars
         WHERE kind = 'v1' AND calendar_user_id = ?1 ORDER BY platform, id",
        select_list("", false)
    ))?;
    calendar_users::list(conn, before, true, limit)?
        .into_iter()
        .map(|user| {
            let connections = stmt.query_map([&user.id], row)?.collect::<Result<_, _>>()?;
            Ok(UserRow { user, connections })
        })
        .collect()
}
