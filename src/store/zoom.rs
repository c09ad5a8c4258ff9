//! Zoom OAuth apps, credentials and the credentials' history.

use rusqlite::types::Value;
use rusqlite::{params, params_from_iter, Connection, OptionalExtension};

use super::{is_unique_violation, StoreError};
use crate::domain::{ZoomAppKind, ZoomCredentialStatus, ZoomMeetingSyncStatus};

/// Declares a table's row type together with its one column list (`COLUMNS`: the fields in
/// order, named as the columns; `SELECT` reads them), its one row mapper (`from_row`) and
/// `insert_row` (every column), so the three cannot drift apart.
macro_rules! table_row {
    (
        $(#[$meta:meta])*
        pub struct $name:ident in $table:literal {
            $(#[$first_meta:meta])* pub $first:ident: $first_ty:ty,
            $($(#[$field_meta:meta])* pub $field:ident: $ty:ty,)*
        }
    ) => {
        $(#[$meta])*
        pub struct $name {
            $(#[$first_meta])* pub $first: $first_ty,
            $($(#[$field_meta])* pub $field: $ty,)*
        }

        impl $name {
            const COLUMNS: &'static str =
                concat!(stringify!($first) $(, ", ", stringify!($field))*);
            /// `SELECT {COLUMNS} FROM {table}`, for [`Self::from_row`].
            const SELECT: &'static str = concat!(
                "SELECT ", stringify!($first) $(, ", ", stringify!($field))*, " FROM ", $table
            );

            fn from_row(r: &rusqlite::Row) -> rusqlite::Result<Self> {
                let mut column = 0usize..;
                let mut next = || column.next().expect("an unbounded range");
                Ok($name {
                    $first: r.get(next())?,
                    $($field: r.get(next())?,)*
                })
            }

            fn insert_row(&self, conn: &Connection) -> rusqlite::Result<usize> {
                let values: &[&dyn rusqlite::ToSql] = &[&self.$first $(, &self.$field)*];
                let marks = vec!["?"; values.len()].join(", ");
                conn.execute(
                    &format!("INSERT INTO {} ({}) VALUES ({marks})", $table, Self::COLUMNS),
                    values,
                )
            }
        }
    };
}

// ------------------------------------------------------------------ apps

table_row! {
    #[derive(Debug, Clone)]
    pub struct ZoomApp in "zoom_oauth_apps" {
        pub id: String,
        pub kind: ZoomAppKind,
        pub client_id: String,
        pub client_secret_enc: String,
        pub webhook_secret_enc: Option<String>,
        pub created_at: i64,
        pub updated_at: i64,
        /// The last valid `endpoint.url_validation` challenge (ms), or None.
        pub webhook_last_validation: Option<i64>,
    }
}

impl ZoomApp {
    pub fn is_account_level(&self) -> bool {
        self.kind == ZoomAppKind::AccountLevel
    }
}

/// Inserts an app; false when another app already has this `client_id`.
pub fn insert_app(conn: &Connection, app: &ZoomApp) -> Result<bool, StoreError> {
    match app.insert_row(conn) {
        Ok(_) => Ok(true),
        Err(e) if is_unique_violation(&e) => Ok(false),
        Err(e) => Err(e.into()),
    }
}

pub fn get_app(conn: &Connection, id: &str) -> Result<Option<ZoomApp>, StoreError> {
    Ok(conn
        .query_row(
            &format!("{} WHERE id = ?1", ZoomApp::SELECT),
            [id],
            ZoomApp::from_row,
        )
        .optional()?)
}

/// A keyset page position: rows after (or, `back`, before) `(created_at, id)` in the
/// list's order.
#[derive(Debug, Clone)]
pub struct Position {
    pub created_at: i64,
    pub id: String,
    pub back: bool,
}

/// A page of a list ordered by (created_at, id): where it starts, which way the list is
/// ordered (`desc`: newest first) and how many rows to read.
#[derive(Debug, Clone, Default)]
pub struct Window {
    pub position: Option<Position>,
    pub desc: bool,
    pub limit: usize,
}

/// `created_at_after` / `created_at_before` (inclusive, ms).
#[derive(Debug, Clone, Copy, Default)]
pub struct CreatedRange {
    pub after: Option<i64>,
    pub before: Option<i64>,
}

impl CreatedRange {
    pub(super) fn push(&self, column: &str, conds: &mut Vec<String>, values: &mut Vec<Value>) {
        if let Some(t) = self.after {
            conds.push(format!("{column} >= ?"));
            values.push(Value::Integer(t));
        }
        if let Some(t) = self.before {
            conds.push(format!("{column} <= ?"));
            values.push(Value::Integer(t));
        }
    }
}

/// Apps in the window's order, filtered by creation time.
pub fn list_apps(
    conn: &Connection,
    created: &CreatedRange,
    window: &Window,
) -> Result<Vec<ZoomApp>, StoreError> {
    let (mut conds, mut values) = (Vec::new(), Vec::new());
    created.push("created_at", &mut conds, &mut values);
    list_page(
        conn,
        ZoomApp::SELECT,
        conds,
        values,
        window,
        ZoomApp::from_row,
    )
}

/// Records a valid `endpoint.url_validation` challenge.
pub fn set_webhook_validated(
    conn: &Connection,
    app_id: &str,
    now_ms: i64,
) -> Result<(), StoreError> {
    conn.execute(
        "UPDATE zoom_oauth_apps SET webhook_last_validation = ?2 WHERE id = ?1",
        params![app_id, now_ms],
    )?;
    Ok(())
}

pub enum DeleteApp {
    Deleted,
    NotFound,
    /// Refused: this many credentials still use the app.
    InUse(i64),
}

/// Deletes an app unless credentials use it (checked and deleted in one transaction).
pub fn delete_app(conn: &Connection, id: &str) -> Result<DeleteApp, StoreError> {
    let in_use: i64 = conn.query_row(
        "SELECT COUNT(*) FROM zoom_oauth_credentials WHERE oauth_app_id = ?1",
        [id],
        |r| r.get(0),
    )?;
    if in_use > 0 {
        return Ok(DeleteApp::InUse(in_use));
    }
    let n = conn.execute("DELETE FROM zoom_oauth_apps WHERE id = ?1", [id])?;
    Ok(if n == 0 {
        DeleteApp::NotFound
    } else {
        DeleteApp::Deleted
    })
}

// ------------------------------------------------------------------ credentials

table_row! {
    #[derive(Debug, Clone)]
    pub struct ZoomCredential in "zoom_oauth_credentials" {
        pub id: String,
        pub oauth_app_id: String,
        pub user_id: String,
        pub account_id: String,
        /// One credential per (app, key): see `zoom::credentials::conflict_key`.
        pub conflict_key: String,
        pub status: ZoomCredentialStatus,
        pub access_token_enc: String,
        pub access_token_expires_at: i64,
        pub refresh_token_enc: String,
        pub scope: String,
        pub last_refresh_at: i64,
        pub refresh_failures: i64,
        pub last_error: Option<String>,
        pub created_at: i64,
        pub updated_at: i64,
        pub meeting_sync_status: ZoomMeetingSyncStatus,
        /// When the next meeting sync is due (None: not scheduled).
        pub next_meeting_sync_at: Option<i64>,
        pub last_meeting_sync_at: Option<i64>,
        /// Customer-managed tokens: the sealed URL that answers an access token.
        pub access_token_callback_url_enc: Option<String>,
    }
}

impl ZoomCredential {
    pub fn is_healthy(&self) -> bool {
        self.status == ZoomCredentialStatus::Healthy
    }
    /// Tokens come from the app's `access_token_callback_url`; never refreshed here.
    pub fn is_customer_managed(&self) -> bool {
        self.access_token_callback_url_enc.is_some()
    }
}

pub fn get_credential(conn: &Connection, id: &str) -> Result<Option<ZoomCredential>, StoreError> {
    Ok(conn
        .query_row(
            &format!("{} WHERE id = ?1", ZoomCredential::SELECT),
            [id],
            ZoomCredential::from_row,
        )
        .optional()?)
}

pub fn find_by_conflict_key(
    conn: &Connection,
    app_id: &str,
    key: &str,
) -> Result<Option<ZoomCredential>, StoreError> {
    Ok(conn
        .query_row(
            &format!(
                "{} WHERE oauth_app_id = ?1 AND conflict_key = ?2",
                ZoomCredential::SELECT
            ),
            params![app_id, key],
            ZoomCredential::from_row,
        )
        .optional()?)
}

pub enum InsertCredential {
    Inserted,
    /// Another credential holds the (app, conflict key): nothing was written.
    Conflict(Box<ZoomCredential>),
}

/// Inserts a credential and its `created` history entry unless one already exists for the
/// same (app, conflict key). Run inside `BEGIN IMMEDIATE` so check and insert are atomic;
/// the UNIQUE index is the backstop.
pub fn insert_credential(
    conn: &Connection,
    cred: &ZoomCredential,
) -> Result<InsertCredential, StoreError> {
    if let Some(existing) = find_by_conflict_key(conn, &cred.oauth_app_id, &cred.conflict_key)? {
        return Ok(InsertCredential::Conflict(Box::new(existing)));
    }
    match cred.insert_row(conn) {
        Ok(_) => {}
        Err(e) if is_unique_violation(&e) => {
            if let Some(existing) =
                find_by_conflict_key(conn, &cred.oauth_app_id, &cred.conflict_key)?
            {
                return Ok(InsertCredential::Conflict(Box::new(existing)));
            }
            return Err(e.into());
        }
        Err(e) => return Err(e.into()),
    }
    add_event(
        conn,
        &cred.id,
        "created",
        Some(&format!(
            "Zoom user {} in account {}",
            cred.user_id, cred.account_id
        )),
        cred.created_at,
    )?;
    Ok(InsertCredential::Inserted)
}

/// Filters of the credentials list (all optional, combined with AND).
#[derive(Debug, Clone, Default)]
pub struct CredentialFilter {
    pub oauth_app: Option<String>,
    pub account_id: Option<String>,
    pub user_id: Option<String>,
    pub status: Option<ZoomCredentialStatus>,
    pub meeting_sync_status: Option<ZoomMeetingSyncStatus>,
    pub created: CreatedRange,
}

pub fn list_credentials(
    conn: &Connection,
    filter: &CredentialFilter,
    window: &Window,
) -> Result<Vec<ZoomCredential>, StoreError> {
    let mut conds = Vec::new();
    let mut values = Vec::new();
    for (column, value) in [
        ("oauth_app_id", filter.oauth_app.as_deref()),
        ("account_id", filter.account_id.as_deref()),
        ("user_id", filter.user_id.as_deref()),
        ("status", filter.status.map(ZoomCredentialStatus::as_str)),
        (
            "meeting_sync_status",
            filter
                .meeting_sync_status
                .map(ZoomMeetingSyncStatus::as_str),
        ),
    ] {
        if let Some(v) = value {
            conds.push(format!("{column} = ?"));
            values.push(Value::Text(v.to_string()));
        }
    }
    filter.created.push("created_at", &mut conds, &mut values);
    list_page(
        conn,
        ZoomCredential::SELECT,
        conds,
        values,
        window,
        ZoomCredential::from_row,
    )
}

/// Per app id: (healthy, unhealthy) credential counts, for the admin's apps list.
pub fn credential_counts(
    conn: &Connection,
) -> Result<std::collections::HashMap<String, (i64, i64)>, StoreError> {
    let mut stmt = conn.prepare_cached(
        "SELECT oauth_app_id, COALESCE(SUM(status = ?1), 0), COALESCE(SUM(status = ?2), 0)
         FROM zoom_oauth_credentials GROUP BY oauth_app_id",
    )?;
    let statuses = (
        ZoomCredentialStatus::Healthy,
        ZoomCredentialStatus::Unhealthy,
    );
    let counts = stmt
        .query_map(statuses, |r| Ok((r.get(0)?, (r.get(1)?, r.get(2)?))))?
        .collect::<Result<_, _>>()?;
    Ok(counts)
}

/// Every app, oldest first (admin pages; apps are few).
pub fn list_all_apps(conn: &Connection) -> Result<Vec<ZoomApp>, StoreError> {
    let mut stmt = conn.prepare_cached(&format!("{} ORDER BY created_at, id", ZoomApp::SELECT))?;
    let apps = stmt
        .query_map([], ZoomApp::from_row)?
        .collect::<Result<_, _>>()?;
    Ok(apps)
}

pub fn delete_credential(conn: &Connection, id: &str) -> Result<bool, StoreError> {
    Ok(conn.execute("DELETE FROM zoom_oauth_credentials WHERE id = ?1", [id])? > 0)
}

/// Stores the tokens of a successful refresh (the rotated refresh token included) on a
/// credential that is still healthy; false when it is gone or no longer healthy.
pub fn save_refresh(
    conn: &Connection,
    id: &str,
    access_token_enc: &str,
    expires_at: i64,
    refresh_token_enc: &str,
    scope: &str,
    now_ms: i64,
) -> Result<bool, StoreError> {
    let n = conn.execute(
        "UPDATE zoom_oauth_credentials
         SET access_token_enc = ?2, access_token_expires_at = ?3, refresh_token_enc = ?4,
             scope = ?5, last_refresh_at = ?6, refresh_failures = 0, last_error = NULL,
             updated_at = ?6
         WHERE id = ?1 AND status = ?7",
        params![
            id,
            access_token_enc,
            expires_at,
            refresh_token_enc,
            scope,
            now_ms,
            ZoomCredentialStatus::Healthy
        ],
    )?;
    Ok(n > 0)
}

/// Stores a token fetched from a customer's callback (a cache, no refresh token).
pub fn save_customer_token(
    conn: &Connection,
    id: &str,
    access_token_enc: &str,
    expires_at: i64,
    now_ms: i64,
) -> Result<bool, StoreError> {
    let n = conn.execute(
        "UPDATE zoom_oauth_credentials
         SET access_token_enc = ?2, access_token_expires_at = ?3, last_refresh_at = ?4,
             refresh_failures = 0, last_error = NULL
         WHERE id = ?1",
        params![id, access_token_enc, expires_at, now_ms],
    )?;
    Ok(n > 0)
}

/// Counts a failed refresh that may succeed later (Zoom down, rate limited, ...).
pub fn record_refresh_failure(
    conn: &Connection,
    id: &str,
    error: &str,
    now_ms: i64,
) -> Result<(), StoreError> {
    conn.execute(
        "UPDATE zoom_oauth_credentials
         SET refresh_failures = refresh_failures + 1, last_error = ?2, updated_at = ?3
         WHERE id = ?1",
        params![id, error, now_ms],
    )?;
    Ok(())
}

/// Marks a healthy credential unhealthy; false when it was not healthy (or is gone), so a
/// repeated cause does not announce the change twice.
pub fn mark_unhealthy(
    conn: &Connection,
    id: &str,
    error: &str,
    now_ms: i64,
) -> Result<bool, StoreError> {
    let n = conn.execute(
        "UPDATE zoom_oauth_credentials
         SET status = ?4, last_error = ?2, updated_at = ?3
         WHERE id = ?1 AND status = ?5",
        params![
            id,
            error,
            now_ms,
            ZoomCredentialStatus::Unhealthy,
            ZoomCredentialStatus::Healthy
        ],
    )?;
    Ok(n > 0)
}

/// Credentials of an app that a Zoom `app_deauthorized` event names.
pub fn find_deauthorized(
    conn: &Connection,
    app: &ZoomApp,
    user_id: Option<&str>,
    account_id: Option<&str>,
) -> Result<Vec<String>, StoreError> {
    // Account-level apps are removed for the whole account; user-level ones per user.
    let (column, value) = if app.is_account_level() {
        ("account_id", account_id)
    } else {
        ("user_id", user_id)
    };
    let Some(value) = value else {
        return Ok(Vec::new());
    };
    let mut stmt = conn.prepare_cached(&format!(
        "SELECT id FROM zoom_oauth_credentials WHERE oauth_app_id = ?1 AND {column} = ?2"
    ))?;
    let ids = stmt
        .query_map(params![app.id, value], |r| r.get(0))?
        .collect::<Result<_, _>>()?;
    Ok(ids)
}

/// Healthy credentials whose refresh token was issued before `before` (oldest first).
/// Customer-managed credentials have no refresh token and are left out.
pub fn due_for_refresh(
    conn: &Connection,
    before: i64,
    limit: usize,
) -> Result<Vec<String>, StoreError> {
    let mut stmt = conn.prepare_cached(
        "SELECT id FROM zoom_oauth_credentials
         WHERE status = ?3 AND last_refresh_at < ?1 AND access_token_callback_url_enc IS NULL
         ORDER BY last_refresh_at, id LIMIT ?2",
    )?;
    let ids = stmt
        .query_map(
            params![before, limit as i64, ZoomCredentialStatus::Healthy],
            |r| r.get(0),
        )?
        .collect::<Result<_, _>>()?;
    Ok(ids)
}

// ------------------------------------------------------------------ history

#[derive(Debug, Clone)]
pub struct CredentialEvent {
    pub id: i64,
    pub credential_id: String,
    pub kind: String,
    pub detail: Option<String>,
    pub created_at: i64,
}

pub fn add_event(
    conn: &Connection,
    credential_id: &str,
    kind: &str,
    detail: Option<&str>,
    now_ms: i64,
) -> Result<(), StoreError> {
    conn.execute(
        "INSERT INTO zoom_credential_events (credential_id, kind, detail, created_at)
         VALUES (?1, ?2, ?3, ?4)",
        params![credential_id, kind, detail, now_ms],
    )?;
    Ok(())
}

/// A credential's history, newest first.
pub fn events(
    conn: &Connection,
    credential_id: &str,
    limit: usize,
) -> Result<Vec<CredentialEvent>, StoreError> {
    let mut stmt = conn.prepare_cached(
        "SELECT id, credential_id, kind, detail, created_at FROM zoom_credential_events
         WHERE credential_id = ?1 ORDER BY id DESC LIMIT ?2",
    )?;
    let rows = stmt
        .query_map(params![credential_id, limit as i64], |r| {
            Ok(CredentialEvent {
                id: r.get(0)?,
                credential_id: r.get(1)?,
                kind: r.get(2)?,
                detail: r.get(3)?,
                created_at: r.get(4)?,
            })
        })?
        .collect::<Result<_, _>>()?;
    Ok(rows)
}

// ------------------------------------------------------------------ paging

/// Runs `select` with `conds` plus the keyset condition, ordered by (created_at, id) in the
/// window's order and the page's direction (rows come in the direction of travel).
pub(super) fn list_page<T>(
    conn: &Connection,
    select: &str,
    mut conds: Vec<String>,
    mut values: Vec<Value>,
    window: &Window,
    row: fn(&rusqlite::Row) -> rusqlite::Result<T>,
) -> Result<Vec<T>, StoreError> {
    let back = window.position.as_ref().is_some_and(|p| p.back);
    // Travelling towards smaller keys: a descending list forwards, an ascending one back.
    let down = back != window.desc;
    if let Some(p) = &window.position {
        let op = if down { "<" } else { ">" };
        conds.push(format!("(created_at, id) {op} (?, ?)"));
        values.push(Value::Integer(p.created_at));
        values.push(Value::Text(p.id.clone()));
    }
    let filter = if conds.is_empty() {
        String::new()
    } else {
        format!(" WHERE {}", conds.join(" AND "))
    };
    let dir = if down { "DESC" } else { "ASC" };
    values.push(Value::Integer(window.limit as i64));
    let sql = format!("{select}{filter} ORDER BY created_at {dir}, id {dir} LIMIT ?");
    let mut stmt = conn.prepare_cached(&sql)?;
    let rows = stmt
        .query_map(params_from_iter(values), row)?
        .collect::<Result<_, _>>()?;
    Ok(rows)
}
