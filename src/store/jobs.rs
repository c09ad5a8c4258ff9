//! Health records of periodic sweeps.

use rusqlite::{params, Connection};

use super::StoreError;

#[derive(Debug, Clone)]
pub struct JobRun {
    pub name: String,
    pub last_started_at: Option<i64>,
    pub last_finished_at: Option<i64>,
    pub last_error: Option<String>,
    pub runs: i64,
}

/// Records the latest of `runs` runs of a sweep (`runs` is added to the stored count).
pub fn record(
    conn: &Connection,
    name: &str,
    started_at: i64,
    finished_at: i64,
    error: Option<&str>,
    runs: i64,
) -> Result<(), StoreError> {
    conn.prepare_cached(
        "INSERT INTO job_runs (name, last_started_at, last_finished_at, last_error, runs)
         VALUES (?1, ?2, ?3, ?4, ?5)
         ON CONFLICT (name) DO UPDATE SET last_started_at = excluded.last_started_at,
            last_finished_at = excluded.last_finished_at, last_error = excluded.last_error,
            runs = runs + excluded.runs",
    )?
    .execute(params![name, started_at, finished_at, error, runs])?;
    Ok(())
}

pub fn list(conn: &Connection) -> Result<Vec<JobRun>, StoreError> {
    let mut stmt = conn.prepare_cached(
        "SELECT name, last_started_at, last_finished_at, last_error, runs FROM job_runs ORDER BY name",
    )?;
    let rows = stmt
        .query_map([], |r| {
            Ok(JobRun {
                name: r.get(0)?,
                last_started_at: r.get(1)?,
                last_finished_at: r.get(2)?,
                last_error: r.get(3)?,
                runs: r.get(4)?,
            })
        })?
        .collect::<Result<_, _>>()?;
    Ok(rows)
}
