//! Synced calendar events: upsert by (calendar, provider id) with a content hash, soft
//! deletion, and the list queries of the events API and V1 meetings.
//!
//! `updated_at` moves only when the content hash (normalized fields + raw JSON) changes, so
//! `updated_at >= t` is an exact change feed. Sync never hard-deletes: a cancelled or removed
//! event gets `is_deleted = 1` and a new `updated_at`; only the retention sweep
//! (`store/retention.rs`) deletes rows, once ended or deleted for `CONVENE_RETENTION_DAYS`.

use std::collections::HashSet;
use std::sync::LazyLock;

use rusqlite::types::{ToSql, Value as SqlValue};
use rusqlite::{params, params_from_iter, Connection, OptionalExtension, Transaction};

use super::StoreError;
use crate::domain::{NormalizedEvent, Platform};

/// An event row as the APIs read it (joined with its calendar). It reads as its
/// normalized content (`Deref`): `e.title`, `e.start_time`, ….
#[derive(Debug, Clone)]
pub struct StoredEvent {
    pub id: String,
    pub calendar_id: String,
    /// The calendar's platform.
    pub platform: Platform,
    /// What the provider said, as normalized by the sync.
    pub event: NormalizedEvent,
    pub override_should_record: Option<bool>,
    /// The account's address (platform email, else the one the app gave), for `is_external`.
    pub calendar_email: Option<String>,
    /// The managed bot this event is on, and who put it there (`api` | `autorecord`).
    pub bot_id: Option<String>,
    pub bot_source: Option<String>,
    pub created_at: i64,
    pub updated_at: i64,
}

impl std::ops::Deref for StoredEvent {
    type Target = NormalizedEvent;

    fn deref(&self) -> &NormalizedEvent {
        &self.event
    }
}

/// The columns holding a [`NormalizedEvent`] after its `platform_id`, in the order
/// [`content`] lists and [`read_event`] reads them; `content_hash` covers all of them.
const CONTENT: [&str; 14] = [
    "ical_uid",
    "start_time",
    "end_time",
    "is_all_day",
    "title",
    "organizer_email",
    "attendees",
    "is_recurring",
    "is_hosted_by_me",
    "self_response",
    "meeting_platform",
    "meeting_url",
    "is_deleted",
    "raw",
];

/// The values of `ev` in [`CONTENT`] order (`attendees` as its stored JSON).
fn content<'a>(ev: &'a NormalizedEvent, attendees: &'a dyn ToSql) -> [&'a dyn ToSql; 14] {
    [
        &ev.ical_uid,
        &ev.start_time,
        &ev.end_time,
        &ev.is_all_day,
        &ev.title,
        &ev.organizer_email,
        attendees,
        &ev.is_recurring,
        &ev.is_hosted_by_me,
        &ev.self_response,
        &ev.meeting_platform,
        &ev.meeting_url,
        &ev.is_deleted,
        &ev.raw,
    ]
}

/// The event whose `platform_id` is column `at`, followed by the [`CONTENT`] columns.
fn read_event(r: &rusqlite::Row, at: usize) -> rusqlite::Result<NormalizedEvent> {
    let attendees = serde_json::from_str(r.get_ref(at + 7)?.as_str()?).unwrap_or_default();
    Ok(NormalizedEvent {
        platform_id: r.get(at)?,
        ical_uid: r.get(at + 1)?,
        start_time: r.get(at + 2)?,
        end_time: r.get(at + 3)?,
        is_all_day: r.get(at + 4)?,
        title: r.get(at + 5)?,
        organizer_email: r.get(at + 6)?,
        attendees,
        is_recurring: r.get(at + 8)?,
        is_hosted_by_me: r.get(at + 9)?,
        self_response: r.get(at + 10)?,
        meeting_platform: r.get(at + 11)?,
        meeting_url: r.get(at + 12)?,
        is_deleted: r.get(at + 13)?,
        raw: r.get(at + 14)?,
    })
}

static SELECT: LazyLock<String> = LazyLock::new(|| {
    let content: Vec<String> = CONTENT.iter().map(|c| format!("e.{c}")).collect();
    format!(
        "SELECT e.id, e.calendar_id, c.platform, e.platform_id, {},
            e.override_should_record, COALESCE(c.platform_email, c.oauth_email), l.bot_id,
            l.source, e.created_at, e.updated_at
        FROM calendar_events e JOIN calendars c ON c.id = e.calendar_id
        LEFT JOIN bot_event_links l ON l.event_id = e.id",
        content.join(", ")
    )
});

fn row(r: &rusqlite::Row) -> rusqlite::Result<StoredEvent> {
    const AFTER: usize = 4 + CONTENT.len();
    Ok(StoredEvent {
        id: r.get(0)?,
        calendar_id: r.get(1)?,
        platform: r.get(2)?,
        event: read_event(r, 3)?,
        override_should_record: r.get(AFTER)?,
        calendar_email: r.get(AFTER + 1)?,
        bot_id: r.get(AFTER + 2)?,
        bot_source: r.get(AFTER + 3)?,
        created_at: r.get(AFTER + 4)?,
        updated_at: r.get(AFTER + 5)?,
    })
}

/// `UPDATE` of the content of event `?1`, then `content_hash` and `updated_at`.
static UPDATE: LazyLock<String> = LazyLock::new(|| {
    let sets: Vec<String> = CONTENT
        .iter()
        .chain(&["content_hash", "updated_at"])
        .enumerate()
        .map(|(i, c)| format!("{c} = ?{}", i + 2))
        .collect();
    format!(
        "UPDATE calendar_events SET {} WHERE id = ?1",
        sets.join(", ")
    )
});

/// `INSERT` of id, calendar_id, platform_id, the content, content_hash and (twice) now.
static INSERT: LazyLock<String> = LazyLock::new(|| {
    let n = 3 + CONTENT.len();
    let marks: Vec<String> = (1..=n + 2).map(|i| format!("?{i}")).collect();
    format!(
        "INSERT INTO calendar_events (id, calendar_id, platform_id, {}, content_hash,
            created_at, updated_at)
         VALUES ({}, ?{})",
        CONTENT.join(", "),
        marks.join(", "),
        n + 2
    )
});

// ------------------------------------------------------------------------------ writes

/// Inserts or updates one event; returns true when something changed (new row or a
/// different content hash), in which case `updated_at = now`.
pub fn upsert(
    tx: &Transaction,
    calendar_id: &str,
    ev: &NormalizedEvent,
    now_ms: i64,
) -> Result<bool, StoreError> {
    let hash = ev.content_hash();
    let existing: Option<(String, String)> = tx
        .prepare_cached(
            "SELECT id, content_hash FROM calendar_events
             WHERE calendar_id = ?1 AND platform_id = ?2",
        )?
        .query_row(params![calendar_id, ev.platform_id], |r| {
            Ok((r.get(0)?, r.get(1)?))
        })
        .optional()?;
    let attendees = serde_json::to_string(&ev.attendees).expect("attendees serialize");
    let content = content(ev, &attendees);
    let stamp: [&dyn ToSql; 2] = [&hash, &now_ms];
    match existing {
        Some((_, old)) if old == hash => Ok(false),
        Some((id, _)) => {
            tx.prepare_cached(&UPDATE)?.execute(params_from_iter(
                std::iter::once(&id as &dyn ToSql)
                    .chain(content)
                    .chain(stamp),
            ))?;
            Ok(true)
        }
        None => {
            let new_id = uuid::Uuid::new_v4().to_string();
            tx.prepare_cached(&INSERT)?.execute(params_from_iter(
                [&new_id as &dyn ToSql, &calendar_id, &ev.platform_id]
                    .into_iter()
                    .chain(content)
                    .chain(stamp),
            ))?;
            Ok(true)
        }
    }
}

/// Marks a stored event deleted (a removal without details); true when it changed.
/// The hash is altered so that the same content coming back later counts as a change.
pub fn mark_deleted(
    tx: &Transaction,
    calendar_id: &str,
    platform_id: &str,
    now_ms: i64,
) -> Result<bool, StoreError> {
    let n = tx
        .prepare_cached(
            "UPDATE calendar_events
             SET is_deleted = 1, content_hash = 'removed:' || content_hash, updated_at = ?3
             WHERE calendar_id = ?1 AND platform_id = ?2 AND is_deleted = 0",
        )?
        .execute(params![calendar_id, platform_id, now_ms])?;
    Ok(n > 0)
}

/// After a full listing of `[start, end)`: live events overlapping the window that the
/// provider did not list are gone. Returns how many were marked deleted.
pub fn mark_unlisted_deleted(
    tx: &Transaction,
    calendar_id: &str,
    window: (i64, i64),
    listed: &HashSet<String>,
    now_ms: i64,
) -> Result<usize, StoreError> {
    let candidates: Vec<String> = tx
        .prepare_cached(
            "SELECT platform_id FROM calendar_events
             WHERE calendar_id = ?1 AND is_deleted = 0 AND start_time < ?3 AND end_time > ?2",
        )?
        .query_map(params![calendar_id, window.0, window.1], |r| r.get(0))?
        .collect::<Result<_, _>>()?;
    let mut n = 0;
    for platform_id in candidates.iter().filter(|p| !listed.contains(*p)) {
        if mark_deleted(tx, calendar_id, platform_id, now_ms)? {
            n += 1;
        }
    }
    Ok(n)
}

/// A live stored event overlapping a window, as a full listing's absence check sees it.
#[derive(Debug, Clone)]
pub struct Listed {
    pub platform_id: String,
    pub start_time: i64,
    pub end_time: i64,
    pub is_all_day: bool,
}

/// Live events of the calendar overlapping `[start, end)` (stored times).
pub fn live_in_window(
    tx: &Connection,
    calendar_id: &str,
    window: (i64, i64),
) -> Result<Vec<Listed>, StoreError> {
    let rows = tx
        .prepare_cached(
            "SELECT platform_id, start_time, end_time, is_all_day FROM calendar_events
             WHERE calendar_id = ?1 AND is_deleted = 0 AND start_time < ?3 AND end_time > ?2",
        )?
        .query_map(params![calendar_id, window.0, window.1], |r| {
            Ok(Listed {
                platform_id: r.get(0)?,
                start_time: r.get(1)?,
                end_time: r.get(2)?,
                is_all_day: r.get(3)?,
            })
        })?
        .collect::<Result<_, _>>()?;
    Ok(rows)
}

/// Google: a recurring series cancelled as a whole arrives as one cancelled master id,
/// while the stored rows are its instances (`<master>_<start>`). Marks every live stored
/// instance of `master_id` deleted; returns how many.
pub fn mark_instances_deleted(
    tx: &Transaction,
    calendar_id: &str,
    master_id: &str,
    now_ms: i64,
) -> Result<usize, StoreError> {
    // Instance ids are the master id, `_`, then the start: the range [master_, master`).
    let (from, to) = (format!("{master_id}_"), format!("{master_id}`"));
    Ok(tx
        .prepare_cached(
            "UPDATE calendar_events
             SET is_deleted = 1, content_hash = 'removed:' || content_hash, updated_at = ?4
             WHERE calendar_id = ?1 AND platform_id >= ?2 AND platform_id < ?3
               AND is_deleted = 0",
        )?
        .execute(params![calendar_id, from, to, now_ms])?)
}

/// Whether the calendar already holds this provider event.
pub fn exists(tx: &Connection, calendar_id: &str, platform_id: &str) -> Result<bool, StoreError> {
    Ok(tx
        .prepare_cached(
            "SELECT 1 FROM calendar_events WHERE calendar_id = ?1 AND platform_id = ?2",
        )?
        .exists(params![calendar_id, platform_id])?)
}

/// V1 `override_should_record` (NULL, 0 or 1). Not part of the content hash: it is the
/// app's setting, not the provider's data.
pub fn set_override(
    tx: &Transaction,
    event_id: &str,
    value: Option<bool>,
) -> Result<bool, StoreError> {
    Ok(tx.execute(
        "UPDATE calendar_events SET override_should_record = ?2 WHERE id = ?1",
        params![event_id, value],
    )? > 0)
}

// ------------------------------------------------------------------------------ reads

pub fn get(conn: &Connection, id: &str) -> Result<Option<StoredEvent>, StoreError> {
    Ok(conn
        .query_row(&format!("{} WHERE e.id = ?1", *SELECT), [id], row)
        .optional()?)
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Ordering {
    #[default]
    StartTime,
    UpdatedAt,
}

/// Filters and position of a V2 list page.
#[derive(Debug, Clone, Default)]
pub struct EventQuery {
    pub calendar_id: Option<String>,
    pub start_gte: Option<i64>,
    pub start_lte: Option<i64>,
    pub updated_gte: Option<i64>,
    pub is_deleted: Option<bool>,
    pub ical_uid: Option<String>,
    pub ordering: Ordering,
    /// Keyset position: rows strictly after (or, when `backwards`, before) (key, id).
    pub after: Option<(i64, String)>,
    pub backwards: bool,
    pub limit: usize,
}

fn list_sql(q: &EventQuery) -> (String, Vec<SqlValue>) {
    list_sql_from(&SELECT, q)
}

/// [`list_sql`] with the given `SELECT … FROM … JOIN …` (aliases `e`, `c`, `l`).
fn list_sql_from(select: &str, q: &EventQuery) -> (String, Vec<SqlValue>) {
    let mut sql = select.to_string();
    let mut args: Vec<SqlValue> = Vec::new();
    let mut conds: Vec<String> = Vec::new();
    let key = match q.ordering {
        Ordering::StartTime => "e.start_time",
        Ordering::UpdatedAt => "e.updated_at",
    };
    let arg = |v: SqlValue, args: &mut Vec<SqlValue>| {
        args.push(v);
        format!("?{}", args.len())
    };
    if let Some(c) = &q.calendar_id {
        conds.push(format!(
            "e.calendar_id = {}",
            arg(c.clone().into(), &mut args)
        ));
    }
    if let Some(t) = q.start_gte {
        conds.push(format!("e.start_time >= {}", arg(t.into(), &mut args)));
    }
    if let Some(t) = q.start_lte {
        conds.push(format!("e.start_time <= {}", arg(t.into(), &mut args)));
    }
    if let Some(t) = q.updated_gte {
        conds.push(format!("e.updated_at >= {}", arg(t.into(), &mut args)));
    }
    if let Some(d) = q.is_deleted {
        conds.push(format!(
            "e.is_deleted = {}",
            arg((d as i64).into(), &mut args)
        ));
    }
    if let Some(prefix) = q.ical_uid.as_deref().filter(|p| !p.is_empty()) {
        // A case-sensitive prefix match as a range, so the ical_uid index serves it.
        let lo = arg(prefix.to_string().into(), &mut args);
        let cond = match prefix_end(prefix) {
            Some(hi) => format!(
                "e.ical_uid >= {lo} AND e.ical_uid < {}",
                arg(hi.into(), &mut args)
            ),
            None => format!("e.ical_uid >= {lo}"),
        };
        conds.push(cond);
    }
    if let Some((k, id)) = &q.after {
        let op = if q.backwards { "<" } else { ">" };
        let (a, b) = (
            arg((*k).into(), &mut args),
            arg(id.clone().into(), &mut args),
        );
        conds.push(format!("({key}, e.id) {op} ({a}, {b})"));
    }
    if !conds.is_empty() {
        sql.push_str(" WHERE ");
        sql.push_str(&conds.join(" AND "));
    }
    let dir = if q.backwards { "DESC" } else { "ASC" };
    sql.push_str(&format!(
        " ORDER BY {key} {dir}, e.id {dir} LIMIT {}",
        q.limit
    ));
    (sql, args)
}

/// The least string greater than every string that starts with `prefix` (None: no such
/// bound, i.e. every string from `prefix` on qualifies). SQLite compares text bytewise
/// (BINARY), which for UTF-8 is code point order, so `[prefix, prefix_end)` is exactly the
/// strings starting with `prefix`.
pub fn prefix_end(prefix: &str) -> Option<String> {
    let mut chars: Vec<char> = prefix.chars().collect();
    while let Some(last) = chars.pop() {
        let mut next = last as u32 + 1;
        if (0xD800..0xE000).contains(&next) {
            next = 0xE000;
        }
        if let Some(c) = char::from_u32(next) {
            chars.push(c);
            return Some(chars.into_iter().collect());
        }
    }
    None
}

/// One page of events in the direction of travel.
pub fn list(conn: &Connection, q: &EventQuery) -> Result<Vec<StoredEvent>, StoreError> {
    let (sql, args) = list_sql(q);
    let mut stmt = conn.prepare_cached(&sql)?;
    let rows = stmt
        .query_map(params_from_iter(args), row)?
        .collect::<Result<_, _>>()?;
    Ok(rows)
}

/// The columns the events API shows, in [`ApiRow`] order but the platform: no attendees, title or other
/// normalized fields it does not show, so SQLite neither decodes nor copies them.
/// The platform is looked up once per calendar of the page ([`for_each_api_row`]), not
/// joined on every row: a page holds few calendars, and the join's two lookups per row were
/// a good part of the page's SQLite time.
const API_SELECT: &str = "SELECT e.id, e.calendar_id, e.platform_id, e.ical_uid,
        e.start_time, e.end_time, e.meeting_platform, e.meeting_url, e.is_deleted, e.raw,
        l.bot_id IS NOT NULL, e.created_at, e.updated_at
    FROM calendar_events e LEFT JOIN bot_event_links l ON l.event_id = e.id";

/// One listed event as the events API shows it, borrowed from SQLite's current row (valid
/// only inside the callback of [`for_each_api_row`]).
#[derive(Debug, Clone, Copy)]
pub struct ApiRow<'a> {
    pub id: &'a str,
    pub calendar_id: &'a str,
    pub platform: Platform,
    pub platform_id: &'a str,
    pub ical_uid: Option<&'a str>,
    pub start_time: i64,
    pub end_time: i64,
    pub meeting_platform: Option<&'a str>,
    pub meeting_url: Option<&'a str>,
    pub is_deleted: bool,
    /// The stored provider JSON, as SQLite holds the text: the sync wrote it from a
    /// serialized `serde_json::Value`, so it is not checked as UTF-8 again on every read.
    pub raw: &'a [u8],
    /// Whether a bot is linked to the event.
    pub on_bot: bool,
    pub created_at: i64,
    pub updated_at: i64,
}

fn api_row<'a>(
    r: &'a rusqlite::Row,
    calendar_id: &'a str,
    platform: Platform,
) -> rusqlite::Result<ApiRow<'a>> {
    let text = |i: usize| -> rusqlite::Result<&'a str> { Ok(r.get_ref(i)?.as_str()?) };
    let opt =
        |i: usize| -> rusqlite::Result<Option<&'a str>> { Ok(r.get_ref(i)?.as_str_or_null()?) };
    Ok(ApiRow {
        id: text(0)?,
        calendar_id,
        platform,
        platform_id: text(2)?,
        ical_uid: opt(3)?,
        start_time: r.get(4)?,
        end_time: r.get(5)?,
        meeting_platform: opt(6)?,
        meeting_url: opt(7)?,
        is_deleted: r.get(8)?,
        raw: r.get_ref(9)?.as_bytes()?,
        on_bot: r.get(10)?,
        created_at: r.get(11)?,
        updated_at: r.get(12)?,
    })
}

/// The rows of [`list`] for the events API, each handed to `f` borrowed from SQLite (no
/// owned copy of any column), in the direction of travel.
pub fn for_each_api_row(
    conn: &Connection,
    q: &EventQuery,
    mut f: impl FnMut(ApiRow<'_>),
) -> Result<(), StoreError> {
    let (sql, args) = list_sql_from(API_SELECT, q);
    let mut stmt = conn.prepare_cached(&sql)?;
    let mut platform_of = conn.prepare_cached("SELECT platform FROM calendars WHERE id = ?1")?;
    // The page's calendars and their platforms: few, so a list beats a map.
    let mut platforms: Vec<(String, Option<Platform>)> = Vec::new();
    let mut rows = stmt.query(params_from_iter(args))?;
    while let Some(r) = rows.next()? {
        let calendar_id = r.get_ref(1)?.as_str().map_err(rusqlite::Error::from)?;
        let platform = match platforms.iter().find(|(id, _)| id == calendar_id) {
            Some((_, p)) => *p,
            None => {
                let p = platform_of
                    .query_row([calendar_id], |c| c.get(0))
                    .optional()?;
                platforms.push((calendar_id.to_string(), p));
                p
            }
        };
        // Events are deleted with their calendar (foreign key); the join this replaces
        // skipped an event without one as well.
        if let Some(platform) = platform {
            f(api_row(r, calendar_id, platform)?);
        }
    }
    Ok(())
}

/// `EXPLAIN QUERY PLAN` of [`for_each_api_row`] (the events API's list).
pub fn api_list_plan(conn: &Connection, q: &EventQuery) -> Result<Vec<String>, StoreError> {
    let (sql, args) = list_sql_from(API_SELECT, q);
    let mut stmt = conn.prepare(&format!("EXPLAIN QUERY PLAN {sql}"))?;
    let rows = stmt
        .query_map(params_from_iter(args), |r| r.get::<_, String>(3))?
        .collect::<Result<_, _>>()?;
    Ok(rows)
}

/// `EXPLAIN QUERY PLAN` of [`list`] (tests and the indexing note use it).
pub fn list_plan(conn: &Connection, q: &EventQuery) -> Result<Vec<String>, StoreError> {
    let (sql, args) = list_sql(q);
    let mut stmt = conn.prepare(&format!("EXPLAIN QUERY PLAN {sql}"))?;
    let rows = stmt
        .query_map(params_from_iter(args), |r| r.get::<_, String>(3))?
        .collect::<Result<_, _>>()?;
    Ok(rows)
}

/// A V1 user's meetings (events of their connections), live ones only, by start time.
pub fn list_for_user(
    conn: &Connection,
    calendar_user_id: &str,
    start_gte: Option<i64>,
    start_lte: Option<i64>,
    ical_uid: Option<&str>,
) -> Result<Vec<StoredEvent>, StoreError> {
    let sql = format!(
        "{} WHERE c.calendar_user_id = ?1 AND c.kind = 'v1' AND e.is_deleted = 0
           AND (?2 IS NULL OR e.start_time >= ?2) AND (?3 IS NULL OR e.start_time <= ?3)
           AND (?4 IS NULL OR e.ical_uid >= ?4) AND (?5 IS NULL OR e.ical_uid < ?5)
         ORDER BY e.start_time, e.id",
        *SELECT
    );
    // `ical_uid` is a case-sensitive prefix (see [`prefix_end`]).
    let ical_uid = ical_uid.filter(|p| !p.is_empty());
    let ical_end = ical_uid.and_then(prefix_end);
    let mut stmt = conn.prepare_cached(&sql)?;
    let rows = stmt
        .query_map(
            params![calendar_user_id, start_gte, start_lte, ical_uid, ical_end],
            row,
        )?
        .collect::<Result<_, _>>()?;
    Ok(rows)
}

/// One meeting of a V1 user (deleted ones included), or None when it is not theirs.
pub fn get_for_user(
    conn: &Connection,
    calendar_user_id: &str,
    event_id: &str,
) -> Result<Option<StoredEvent>, StoreError> {
    Ok(conn
        .query_row(
            &format!(
                "{} WHERE e.id = ?1 AND c.calendar_user_id = ?2 AND c.kind = 'v1'",
                *SELECT
            ),
            params![event_id, calendar_user_id],
            row,
        )
        .optional()?)
}

/// A V1 user's events that have not started yet (deleted ones included): the meetings
/// whose recording decision can still change.
pub fn future_for_user(
    conn: &Connection,
    calendar_user_id: &str,
    now_ms: i64,
) -> Result<Vec<StoredEvent>, StoreError> {
    let sql = format!(
        "{} WHERE c.calendar_user_id = ?1 AND c.kind = 'v1' AND e.start_time > ?2
         ORDER BY e.start_time, e.id",
        *SELECT
    );
    let mut stmt = conn.prepare_cached(&sql)?;
    let rows = stmt
        .query_map(params![calendar_user_id, now_ms], row)?
        .collect::<Result<_, _>>()?;
    Ok(rows)
}

/// Upcoming events of a calendar (admin pages): not yet ended, deleted ones included.
pub fn upcoming(
    conn: &Connection,
    calendar_id: &str,
    now_ms: i64,
    limit: usize,
) -> Result<Vec<StoredEvent>, StoreError> {
    let sql = format!(
        "{} WHERE e.calendar_id = ?1 AND e.end_time > ?2
         ORDER BY e.start_time, e.id LIMIT ?3",
        *SELECT
    );
    let mut stmt = conn.prepare_cached(&sql)?;
    let rows = stmt
        .query_map(params![calendar_id, now_ms, limit as i64], row)?
        .collect::<Result<_, _>>()?;
    Ok(rows)
}

#[cfg(test)]
mod tests {
    use super::prefix_end;

    #[test]
    fn prefix_end_bounds_exactly_the_strings_with_the_prefix() {
        assert_eq!(prefix_end("abc").as_deref(), Some("abd"));
        assert_eq!(prefix_end("a\u{10FFFF}").as_deref(), Some("b"));
        assert_eq!(prefix_end("\u{10FFFF}"), None);
        assert_eq!(prefix_end("x\u{D7FF}").as_deref(), Some("x\u{E000}"));
        let end = prefix_end("AbC").unwrap();
        for s in ["AbC", "AbCd", "AbC\u{10FFFF}zz"] {
            assert!(s >= "AbC" && s < end.as_str(), "{s}");
        }
        for s in ["abc", "AbD", "Ab", "ABC"] {
            assert!(!(s >= "AbC" && s < end.as_str()), "{s}");
        }
    }
}
