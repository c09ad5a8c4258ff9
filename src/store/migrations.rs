//! Numbered SQL migrations from `migrations/`, embedded in the binary, applied in order,
//! each inside its own transaction, and recorded in `schema_migrations`.

use rusqlite::Connection;
use rust_embed::RustEmbed;

use super::StoreError;

#[derive(RustEmbed)]
#[folder = "migrations/"]
struct MigrationFiles;

/// (version, file name, SQL) sorted by version.
pub fn all() -> Vec<(i64, String, String)> {
    let mut list: Vec<(i64, String, String)> = MigrationFiles::iter()
        .filter_map(|name| {
            if !name.ends_with(".sql") {
                return None;
            }
            let version: i64 = name.split('_').next()?.parse().ok()?;
            let file = MigrationFiles::get(&name)?;
            let sql = String::from_utf8(file.data.into_owned()).ok()?;
            Some((version, name.to_string(), sql))
        })
        .collect();
    list.sort_by_key(|(v, _, _)| *v);
    list
}

pub fn latest_version() -> i64 {
    all().last().map(|(v, _, _)| *v).unwrap_or(0)
}

pub fn current_version(conn: &Connection) -> Result<i64, StoreError> {
    conn.execute_batch(
        "CREATE TABLE IF NOT EXISTS schema_migrations (
            version INTEGER PRIMARY KEY,
            name TEXT NOT NULL,
            applied_at INTEGER NOT NULL
        );",
    )?;
    Ok(conn.query_row(
        "SELECT COALESCE(MAX(version), 0) FROM schema_migrations",
        [],
        |r| r.get(0),
    )?)
}

/// Applies every pending migration; refuses a database newer than this binary.
/// Returns the names of the migrations applied.
pub fn migrate(conn: &mut Connection) -> Result<Vec<String>, StoreError> {
    let current = current_version(conn)?;
    let latest = latest_version();
    if current > latest {
        return Err(StoreError::Schema(format!(
            "the database is at schema version {current}, newer than this binary knows \
             ({latest}); run a newer convene or restore a backup"
        )));
    }
    // Every migration not recorded yet, in order: one numbered below the newest applied
    // (branches merged out of order) is still applied.
    let done: std::collections::HashSet<i64> = {
        let mut stmt = conn.prepare("SELECT version FROM schema_migrations")?;
        let rows = stmt.query_map([], |r| r.get(0))?;
        rows.collect::<Result<_, _>>()?
    };
    let mut applied = Vec::new();
    for (version, name, sql) in all() {
        if done.contains(&version) {
            continue;
        }
        let tx = conn.transaction_with_behavior(rusqlite::TransactionBehavior::Immediate)?;
        tx.execute_batch(&sql)
            .map_err(|e| StoreError::Schema(format!("migration {name} failed: {e}")))?;
        tx.execute(
            "INSERT INTO schema_migrations (version, name, applied_at) VALUES (?1, ?2, ?3)",
            rusqlite::params![version, name, super::now_ms()],
        )?;
        tx.commit()?;
        applied.push(name);
    }
    Ok(applied)
}
