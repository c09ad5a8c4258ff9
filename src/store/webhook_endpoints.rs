//! Webhook endpoints: where events go, which types they want, and their signing secrets
//! (sealed with the master key; the previous secret keeps signing during a rotation).

use rusqlite::{params, Connection, OptionalExtension};

use super::StoreError;

#[derive(Debug, Clone, PartialEq)]
pub struct Endpoint {
    pub id: String,
    pub url: String,
    pub description: String,
    /// Empty = every event type.
    pub event_types: Vec<String>,
    pub enabled: bool,
    /// Why the endpoint was disabled (410 Gone, failing for days, by hand).
    pub disabled_reason: Option<String>,
    /// Start of the current run of failed attempts (cleared by a success).
    pub failing_since: Option<i64>,
    pub created_at: i64,
    pub updated_at: i64,
}

impl Endpoint {
    /// Disabled automatically or currently failing: the overview lists it.
    pub fn troubled(&self) -> bool {
        self.failing_since.is_some() || self.disabled_reason.is_some()
    }
}

/// The sealed signing secrets of an endpoint.
#[derive(Debug, Clone)]
pub struct SealedSecrets {
    pub secret_enc: String,
    pub previous_secret_enc: Option<String>,
    pub previous_secret_expires_at: Option<i64>,
}

const COLUMNS: &str = "id, url, description, event_types, enabled, disabled_reason, \
                       failing_since, created_at, updated_at";

fn row(r: &rusqlite::Row) -> rusqlite::Result<Endpoint> {
    let types: String = r.get(3)?;
    Ok(Endpoint {
        id: r.get(0)?,
        url: r.get(1)?,
        description: r.get(2)?,
        event_types: serde_json::from_str(&types).unwrap_or_default(),
        enabled: r.get(4)?,
        disabled_reason: r.get(5)?,
        failing_since: r.get(6)?,
        created_at: r.get(7)?,
        updated_at: r.get(8)?,
    })
}

pub struct NewEndpoint<'a> {
    pub url: &'a str,
    pub description: &'a str,
    pub event_types: &'a [String],
    pub secret_enc: &'a str,
}

pub fn insert(conn: &Connection, new: &NewEndpoint, now_ms: i64) -> Result<Endpoint, StoreError> {
    let id = uuid::Uuid::new_v4().to_string();
    conn.execute(
        "INSERT INTO webhook_endpoints
            (id, url, description, event_types, enabled, secret_enc, created_at, updated_at)
         VALUES (?1, ?2, ?3, ?4, 1, ?5, ?6, ?6)",
        params![
            id,
            new.url,
            new.description,
            serde_json::to_string(new.event_types).expect("strings serialize"),
            new.secret_enc,
            now_ms
        ],
    )?;
    get(conn, &id)?.ok_or_else(|| StoreError::Task("inserted endpoint vanished".into()))
}

pub fn get(conn: &Connection, id: &str) -> Result<Option<Endpoint>, StoreError> {
    Ok(conn
        .query_row(
            &format!("SELECT {COLUMNS} FROM webhook_endpoints WHERE id = ?1"),
            [id],
            row,
        )
        .optional()?)
}

/// One page in (created_at, id) order after (or, `back`, before) a position; `limit` rows.
/// Rows come in the direction of travel (descending when `back`).
pub fn list_page(
    conn: &Connection,
    after: Option<(i64, &str)>,
    back: bool,
    limit: usize,
) -> Result<Vec<Endpoint>, StoreError> {
    let (cmp, dir) = if back { ("<", "DESC") } else { (">", "ASC") };
    let (key, id) = match after {
        Some((k, i)) => (Some(k), i),
        None => (None, ""),
    };
    let mut stmt = conn.prepare_cached(&format!(
        "SELECT {COLUMNS} FROM webhook_endpoints
         WHERE ?1 IS NULL OR (created_at, id) {cmp} (?1, ?2)
         ORDER BY created_at {dir}, id {dir} LIMIT ?3"
    ))?;
    let rows = stmt
        .query_map(params![key, id, limit as i64], row)?
        .collect::<Result<Vec<_>, _>>()?;
    Ok(rows)
}

/// Every endpoint, oldest first (admin pages).
pub fn list_all(conn: &Connection) -> Result<Vec<Endpoint>, StoreError> {
    let mut stmt = conn.prepare(&format!(
        "SELECT {COLUMNS} FROM webhook_endpoints ORDER BY created_at, id"
    ))?;
    let rows = stmt.query_map([], row)?.collect::<Result<Vec<_>, _>>()?;
    Ok(rows)
}

/// Endpoints disabled automatically or currently failing ([`Endpoint::troubled`]).
pub fn list_troubled(conn: &Connection) -> Result<Vec<Endpoint>, StoreError> {
    Ok(list_all(conn)?
        .into_iter()
        .filter(Endpoint::troubled)
        .collect())
}

/// A partial update; `None` leaves a field alone.
#[derive(Debug, Default, Clone)]
pub struct EndpointPatch {
    pub url: Option<String>,
    pub description: Option<String>,
    pub event_types: Option<Vec<String>>,
    pub enabled: Option<bool>,
}

pub fn update(
    conn: &Connection,
    id: &str,
    patch: &EndpointPatch,
    now_ms: i64,
) -> Result<Option<Endpoint>, StoreError> {
    let Some(current) = get(conn, id)? else {
        return Ok(None);
    };
    let url = patch.url.as_deref().unwrap_or(&current.url);
    let description = patch.description.as_deref().unwrap_or(&current.description);
    let types = patch.event_types.as_ref().unwrap_or(&current.event_types);
    conn.execute(
        "UPDATE webhook_endpoints SET url = ?2, description = ?3, event_types = ?4,
            updated_at = ?5 WHERE id = ?1",
        params![
            id,
            url,
            description,
            serde_json::to_string(types).expect("strings serialize"),
            now_ms
        ],
    )?;
    match patch.enabled {
        Some(true) if !current.enabled => enable(conn, id, now_ms)?,
        Some(false) if current.enabled => disable(conn, id, "Disabled by hand.", now_ms)?,
        _ => {}
    }
    get(conn, id)
}

/// Enables an endpoint and forgets its failure history; held deliveries resume.
pub fn enable(conn: &Connection, id: &str, now_ms: i64) -> Result<(), StoreError> {
    conn.execute(
        "UPDATE webhook_endpoints SET enabled = 1, disabled_reason = NULL,
            failing_since = NULL, updated_at = ?2 WHERE id = ?1",
        params![id, now_ms],
    )?;
    Ok(())
}

/// Disables an endpoint: no new deliveries are queued for it and pending ones are held.
pub fn disable(conn: &Connection, id: &str, reason: &str, now_ms: i64) -> Result<(), StoreError> {
    conn.execute(
        "UPDATE webhook_endpoints SET enabled = 0, disabled_reason = ?2, updated_at = ?3
         WHERE id = ?1",
        params![id, reason, now_ms],
    )?;
    Ok(())
}

/// Deletes the endpoint and (cascade) its deliveries; true when it existed.
pub fn delete(conn: &Connection, id: &str) -> Result<bool, StoreError> {
    Ok(conn.execute("DELETE FROM webhook_endpoints WHERE id = ?1", [id])? > 0)
}

pub fn secrets(conn: &Connection, id: &str) -> Result<Option<SealedSecrets>, StoreError> {
    Ok(conn
        .query_row(
            "SELECT secret_enc, previous_secret_enc, previous_secret_expires_at
             FROM webhook_endpoints WHERE id = ?1",
            [id],
            |r| {
                Ok(SealedSecrets {
                    secret_enc: r.get(0)?,
                    previous_secret_enc: r.get(1)?,
                    previous_secret_expires_at: r.get(2)?,
                })
            },
        )
        .optional()?)
}

/// Installs a new secret; the current one keeps signing until `previous_expires_at`.
/// (A second rotation within that window drops the oldest secret.) False when not found.
pub fn rotate_secret(
    conn: &Connection,
    id: &str,
    new_secret_enc: &str,
    previous_expires_at: i64,
    now_ms: i64,
) -> Result<bool, StoreError> {
    Ok(conn.execute(
        "UPDATE webhook_endpoints SET previous_secret_enc = secret_enc,
            previous_secret_expires_at = ?3, secret_enc = ?2, updated_at = ?4
         WHERE id = ?1",
        params![id, new_secret_enc, previous_expires_at, now_ms],
    )? > 0)
}
