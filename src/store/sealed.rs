//! Every stored value sealed with the master key, for the start-up key check and
//! `convene rotate-master-key`. A table that stores a sealed column adds it to [`SEALED`].

use std::collections::BTreeMap;

use rusqlite::{params, Connection, Transaction};

use super::StoreError;

/// (table, column) of every column that holds `v1.<key id>.<ciphertext>` values. Values
/// are recognised by that shape, so tables mixing sealed and plain rows (`settings`) work.
pub const SEALED: &[(&str, &str)] = &[
    ("settings", "value"),
    ("platform_clients", "client_secret_enc"),
    ("calendars", "oauth_client_secret_enc"),
    ("calendars", "oauth_refresh_token_enc"),
    ("calendars", "access_token_enc"),
    ("webhook_endpoints", "secret_enc"),
    ("webhook_endpoints", "previous_secret_enc"),
    ("zoom_oauth_apps", "client_secret_enc"),
    ("zoom_oauth_apps", "webhook_secret_enc"),
    ("zoom_oauth_credentials", "access_token_enc"),
    ("zoom_oauth_credentials", "refresh_token_enc"),
    ("zoom_oauth_credentials", "access_token_callback_url_enc"),
    // `push_channels.stop_with` (JSON holding sealed values of a gone calendar) is not
    // listed: its rows live until the provider stopped the channel (a few tries at most).
    ("push_channels", "secret_enc"),
];

/// `v1.` + an 8-hex-digit key id + `.`; the key id is `substr(value, 4, 8)`.
const SHAPE: &str = "v1.[0-9a-f][0-9a-f][0-9a-f][0-9a-f][0-9a-f][0-9a-f][0-9a-f][0-9a-f].*";

/// How many stored values each key id seals.
pub fn count_by_key(conn: &Connection) -> Result<BTreeMap<String, u64>, StoreError> {
    let mut counts = BTreeMap::new();
    for (table, column) in SEALED {
        let mut stmt = conn.prepare_cached(&format!(
            "SELECT substr({column}, 4, 8), COUNT(*) FROM {table}
             WHERE {column} GLOB ?1 GROUP BY 1"
        ))?;
        let rows = stmt.query_map([SHAPE], |r| {
            Ok((r.get::<_, String>(0)?, r.get::<_, i64>(1)? as u64))
        })?;
        for row in rows {
            let (id, n) = row?;
            *counts.entry(id).or_insert(0) += n;
        }
    }
    Ok(counts)
}

/// Up to `limit` values of `table.column` sealed under another key than `current`, in
/// rowid order after `after_rowid`, as (rowid, value).
pub fn not_under(
    conn: &Connection,
    table: &str,
    column: &str,
    current: &str,
    after_rowid: i64,
    limit: usize,
) -> Result<Vec<(i64, String)>, StoreError> {
    let mut stmt = conn.prepare_cached(&format!(
        "SELECT rowid, {column} FROM {table}
         WHERE {column} GLOB ?1 AND substr({column}, 4, 8) <> ?2 AND rowid > ?3
         ORDER BY rowid LIMIT ?4"
    ))?;
    let rows = stmt
        .query_map(params![SHAPE, current, after_rowid, limit as i64], |r| {
            Ok((r.get(0)?, r.get(1)?))
        })?
        .collect::<Result<_, _>>()?;
    Ok(rows)
}

/// Replaces one sealed value if it is still `old` (a concurrent writer wins); true when
/// replaced. Nothing else of the row changes (no `updated_at`: the plaintext is the same).
pub fn replace(
    tx: &Transaction,
    table: &str,
    column: &str,
    rowid: i64,
    old: &str,
    new: &str,
) -> Result<bool, StoreError> {
    let n = tx.execute(
        &format!("UPDATE {table} SET {column} = ?3 WHERE rowid = ?1 AND {column} = ?2"),
        params![rowid, old, new],
    )?;
    Ok(n > 0)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A new sealed column (`…_enc`) must be listed in [`SEALED`], or the start-up key
    /// check and `convene rotate-master-key` would silently skip it.
    #[test]
    fn every_sealed_column_of_the_schema_is_listed() {
        let mut c = Connection::open_in_memory().unwrap();
        crate::store::migrations::migrate(&mut c).unwrap();
        let tables: Vec<String> = c
            .prepare("SELECT name FROM sqlite_master WHERE type = 'table'")
            .unwrap()
            .query_map([], |r| r.get(0))
            .unwrap()
            .collect::<Result<_, _>>()
            .unwrap();
        let mut missing = Vec::new();
        for table in &tables {
            let columns: Vec<String> = c
                .prepare(&format!("SELECT name FROM pragma_table_info('{table}')"))
                .unwrap()
                .query_map([], |r| r.get(0))
                .unwrap()
                .collect::<Result<_, _>>()
                .unwrap();
            for column in columns.iter().filter(|c| c.ends_with("_enc")) {
                if !SEALED.contains(&(table.as_str(), column.as_str())) {
                    missing.push(format!("{table}.{column}"));
                }
            }
        }
        assert!(
            missing.is_empty(),
            "sealed columns not in SEALED: {missing:?}"
        );
        assert!(SEALED.len() > 10);
    }
}
