//! Storage: the only module that runs SQL.
//!
//! One SQLite file in WAL mode behind an r2d2 pool. Every call runs on tokio's blocking pool
//! (never on an async worker), except short page reads by [`Store::read_in_place`]. Writes
//! that read first go through [`Store::write`], which opens `BEGIN IMMEDIATE` so two writers
//! never both read and then collide on upgrade.
//! Times are stored as Unix milliseconds (INTEGER) and converted at the API boundary.

pub mod admin;
pub mod api_keys;
pub mod bot_admin;
pub mod bots;
pub mod calendar_admin;
pub mod calendar_users;
pub mod calendars;
pub mod events;
mod in_place;
pub mod jobs;
pub mod migrations;
pub mod ops;
pub mod outbox;
pub mod overview;
pub mod platform_alarms;
pub mod push;
pub mod retention;
pub mod sealed;
pub mod search;
pub mod settings;
pub mod sync;
pub mod sync_failures;
pub mod webhook_endpoints;
pub mod webhooks;
pub mod zoom;
pub mod zoom_logs;
pub mod zoom_meetings;

use std::path::Path;
use std::time::Duration;

use r2d2_sqlite::SqliteConnectionManager;
use rusqlite::{Connection, Transaction, TransactionBehavior};

pub type Pool = r2d2::Pool<SqliteConnectionManager>;

#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    #[error("database error: {0}")]
    Sqlite(#[from] rusqlite::Error),
    #[error("database pool error: {0}")]
    Pool(#[from] r2d2::Error),
    #[error("database task failed: {0}")]
    Task(String),
    #[error("{0}")]
    Schema(String),
}

#[derive(Clone)]
pub struct Store {
    pool: Pool,
    /// The database file, and its identity (device, inode) when it was opened: `/readyz`
    /// notices a file deleted or replaced under the running server.
    path: std::sync::Arc<std::path::PathBuf>,
    file_id: Option<(u64, u64)>,
    checkpointer: std::sync::Arc<Checkpointer>,
    /// Every write transaction of this process (see [`Writer`]).
    writer: Writer,
    in_place: std::sync::Arc<in_place::InPlaceReads>,
}

/// What a write transaction needs on the blocking pool. This process's writes run one at
/// a time on one connection of their own, behind a mutex taken before `BEGIN IMMEDIATE`:
/// SQLite lets one writer in at a time anyway, and a writer that finds the lock taken waits
/// in SQLite's busy handler, which *sleeps* (1, 2, 5, 10 … ms) instead of being woken; and a
/// writer that took a pooled connection would wait behind every read for one. With hundreds
/// of syncs committing per second those waits, not the commits, set the pace. Other
/// processes (the CLI) still meet the busy timeout. Readers never take the mutex.
#[derive(Clone)]
struct Writer {
    db_path: std::sync::Arc<std::path::PathBuf>,
    conn: std::sync::Arc<std::sync::Mutex<Option<Connection>>>,
    checkpointer: std::sync::Arc<Checkpointer>,
}

impl Writer {
    /// `f` inside `BEGIN IMMEDIATE … COMMIT`: the outer error is the store's (cannot open,
    /// busy, commit failed), the inner one `f`'s own (rolled back).
    fn commit<T, E>(
        self,
        f: impl FnOnce(&Transaction) -> Result<T, E>,
    ) -> Result<Result<T, E>, StoreError> {
        let value = {
            let mut slot = self.conn.lock().unwrap_or_else(|e| e.into_inner());
            if slot.is_none() {
                let mut c = Connection::open(self.db_path.as_path())?;
                init_connection(&mut c)?;
                *slot = Some(c);
            }
            let conn = slot.as_mut().expect("opened above");
            let tx = conn.transaction_with_behavior(TransactionBehavior::Immediate)?;
            match f(&tx) {
                Ok(v) => {
                    tx.commit()?;
                    v
                }
                Err(e) => return Ok(Err(e)),
            }
        };
        self.checkpointer.after_commit();
        Ok(Ok(value))
    }
}

/// Pooled connections (reads; writes have their own connection, [`Writer`]).
pub const READ_POOL_SIZE: u32 = 8;

/// `journal_size_limit` of every connection: a reset WAL is truncated back to this size.
pub const JOURNAL_SIZE_LIMIT: i64 = 16 * 1024 * 1024;
/// A commit that leaves the WAL file larger than this runs a `TRUNCATE` checkpoint.
pub const CHECKPOINT_AT_BYTES: u64 = 16 * 1024 * 1024;

/// Keeps the WAL bounded. SQLite's own auto-checkpoint is `PASSIVE`: it never waits for
/// readers, so under a steady stream of short reads the WAL is never reset and the file only
/// grows (5.4 GB beside a 1.3 GB database during a bulk first sync). After any commit that
/// leaves the WAL over [`CHECKPOINT_AT_BYTES`], one thread (the others skip) runs
/// `wal_checkpoint(TRUNCATE)` on a dedicated connection: it waits briefly for the short
/// read transactions in flight, copies the WAL back and truncates the file to zero.
struct Checkpointer {
    db_path: std::path::PathBuf,
    wal_path: std::path::PathBuf,
    conn: std::sync::Mutex<Option<Connection>>,
}

impl Checkpointer {
    fn new(db_path: &Path) -> Self {
        let mut wal = db_path.as_os_str().to_owned();
        wal.push("-wal");
        Checkpointer {
            db_path: db_path.to_path_buf(),
            wal_path: wal.into(),
            conn: std::sync::Mutex::new(None),
        }
    }

    fn wal_bytes(&self) -> u64 {
        std::fs::metadata(&self.wal_path).map_or(0, |m| m.len())
    }

    /// Called after every commit (on the blocking pool): one `stat` when the WAL is small.
    fn after_commit(&self) {
        if self.wal_bytes() <= CHECKPOINT_AT_BYTES {
            return;
        }
        let Ok(mut guard) = self.conn.try_lock() else {
            return; // another thread is checkpointing
        };
        match self.run(&mut guard) {
            Ok(true) => {}
            Ok(false) => tracing::debug!("WAL checkpoint could not finish; readers in the way"),
            Err(e) => tracing::warn!(error = %e, "WAL checkpoint failed"),
        }
    }

    fn run(&self, conn: &mut Option<Connection>) -> Result<bool, StoreError> {
        if conn.is_none() {
            let c = Connection::open(&self.db_path)?;
            c.execute_batch("PRAGMA busy_timeout = 2000;")?;
            c.pragma_update(None, "journal_size_limit", JOURNAL_SIZE_LIMIT)?;
            *conn = Some(c);
        }
        let c = conn.as_ref().expect("opened above");
        // (busy, WAL frames, frames checkpointed); busy = 1 when it could not finish.
        let busy: i64 = c.query_row("PRAGMA wal_checkpoint(TRUNCATE)", [], |r| r.get(0))?;
        Ok(busy == 0)
    }
}

/// The pragmas of every connection (the pool's and the writer's).
fn init_connection(c: &mut Connection) -> rusqlite::Result<()> {
    c.execute_batch(
        // busy_timeout first: the pool opens connections in parallel, and switching a new
        // file to WAL needs a lock another connection may briefly hold. auto_vacuum before
        // anything else: it only takes on a new, empty file (an older database is switched
        // once at start, `retention`).
        "PRAGMA busy_timeout = 10000;
         PRAGMA auto_vacuum = INCREMENTAL;
         PRAGMA journal_mode = WAL;
         PRAGMA synchronous = NORMAL;
         PRAGMA foreign_keys = ON;",
    )?;
    // Each connection truncates the WAL back to this size when it resets it.
    c.pragma_update(None, "journal_size_limit", JOURNAL_SIZE_LIMIT)
}

/// (device, inode) of a file; None where the platform has no such notion.
fn file_identity(path: &Path) -> std::io::Result<Option<(u64, u64)>> {
    let meta = std::fs::metadata(path)?;
    #[cfg(unix)]
    {
        use std::os::unix::fs::MetadataExt;
        Ok(Some((meta.dev(), meta.ino())))
    }
    #[cfg(not(unix))]
    {
        let _ = meta;
        Ok(None)
    }
}

impl Store {
    /// Opens (creating if needed) the database file and applies pragmas on every connection.
    pub fn open(path: &Path) -> Result<Self, StoreError> {
        let manager = SqliteConnectionManager::file(path).with_init(init_connection);
        let pool = r2d2::Pool::builder()
            .max_size(READ_POOL_SIZE)
            .connection_timeout(Duration::from_secs(30))
            .build(manager)?;
        // The pool has opened (and so created) the file.
        let file_id = file_identity(path).ok().flatten();
        let checkpointer = std::sync::Arc::new(Checkpointer::new(path));
        let db_path = std::sync::Arc::new(path.to_path_buf());
        Ok(Store {
            pool,
            path: db_path.clone(),
            file_id,
            checkpointer: checkpointer.clone(),
            writer: Writer {
                db_path,
                conn: Default::default(),
                checkpointer,
            },
            in_place: std::sync::Arc::new(in_place::InPlaceReads::new(READ_POOL_SIZE)),
        })
    }

    /// A `wal_checkpoint(TRUNCATE)` now, from the checkpointer's own connection (blocking:
    /// call it from the blocking pool or a CLI). Waits up to its busy timeout for readers of
    /// the WAL to finish; returns whether the WAL was emptied.
    pub fn checkpoint_now(&self) -> Result<bool, StoreError> {
        let mut guard = self
            .checkpointer
            .conn
            .lock()
            .unwrap_or_else(|e| e.into_inner());
        self.checkpointer.run(&mut guard)
    }

    /// Size of the `-wal` file in bytes (0 when it does not exist).
    pub fn wal_bytes(&self) -> u64 {
        self.checkpointer.wal_bytes()
    }

    /// Whether the file at the database's path is still the one this store opened. A file
    /// deleted under the server keeps working (SQLite writes to the unlinked inode), and
    /// everything written since is lost at the next restart; a replaced one splits writes.
    pub fn file_check(&self) -> Result<(), String> {
        match file_identity(&self.path) {
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Err(format!(
                "the database file {} was deleted while the server has it open",
                self.path.display()
            )),
            Err(e) => Err(format!(
                "cannot inspect the database file {}: {e}",
                self.path.display()
            )),
            Ok(now) if self.file_id.is_some() && now != self.file_id => Err(format!(
                "the database file {} was replaced by another file while the server has the \
                 old one open",
                self.path.display()
            )),
            Ok(_) => Ok(()),
        }
    }

    /// Runs `f` with a pooled connection on the blocking pool.
    pub async fn read<T, E, F>(&self, f: F) -> Result<T, E>
    where
        T: Send + 'static,
        E: From<StoreError> + Send + 'static,
        F: FnOnce(&Connection) -> Result<T, E> + Send + 'static,
    {
        let pool = self.pool.clone();
        tokio::task::spawn_blocking(move || {
            let conn = pool.get().map_err(StoreError::from)?;
            f(&conn)
        })
        .await
        .map_err(|e| E::from(StoreError::Task(e.to_string())))?
    }

    /// Runs a short, indexed read `f` (a page of a list) on the calling thread when a pooled
    /// connection is free at once, without the blocking pool's two hand-offs; else, or for a
    /// while after an in-place read went to the disk or held its thread long, on
    /// the blocking pool as [`Store::read`] (at most twice the cores at once; the rest wait
    /// without a thread). Never for a read that can be long or wait (see `in_place`).
    pub async fn read_in_place<T, E, F>(&self, f: F) -> Result<T, E>
    where
        T: Send + 'static,
        E: From<StoreError> + Send + 'static,
        F: FnOnce(&Connection) -> Result<T, E> + Send + 'static,
    {
        if self.in_place.open() {
            if let Some(conn) = self.pool.try_get() {
                // A panic is an error of this read, as it is on the blocking pool (where it
                // ends the pool thread's task), not the end of the async worker.
                return self.in_place.timed(|| {
                    std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| f(&conn)))
                        .unwrap_or_else(|_| {
                            Err(E::from(StoreError::Task("a read panicked".to_string())))
                        })
                });
            }
        }
        let _permit = self
            .in_place
            .fallback
            .acquire()
            .await
            .map_err(|e| E::from(StoreError::Task(e.to_string())))?;
        self.read(f).await
    }

    /// Runs `f` inside `BEGIN IMMEDIATE … COMMIT` on the blocking pool; an `Err` rolls back.
    pub async fn write<T, E, F>(&self, f: F) -> Result<T, E>
    where
        T: Send + 'static,
        E: From<StoreError> + Send + 'static,
        F: FnOnce(&Transaction) -> Result<T, E> + Send + 'static,
    {
        let writer = self.writer();
        tokio::task::spawn_blocking(move || writer.commit(f))
            .await
            .map_err(|e| E::from(StoreError::Task(e.to_string())))?
            .unwrap_or_else(|e| Err(E::from(e)))
    }

    /// Like [`Store::write`] for a commit that must not be dropped (a rotated refresh token
    /// the provider already issued): when the database stays busy past `busy_timeout` (another
    /// process writing), the transaction is tried again with backoff instead of failing. `f` may run more than once (only the last run commits).
    pub async fn write_persistent<T, E, F>(&self, f: F) -> Result<T, E>
    where
        T: Send + 'static,
        E: From<StoreError> + Send + 'static,
        F: Fn(&Transaction) -> Result<T, E> + Send + Sync + 'static,
    {
        let f = std::sync::Arc::new(f);
        let mut wait = Duration::from_millis(50);
        let mut attempt = 0u32;
        loop {
            let (writer, g) = (self.writer(), f.clone());
            let outcome = tokio::task::spawn_blocking(move || writer.commit(|tx| g(tx)))
                .await
                .map_err(|e| StoreError::Task(e.to_string()))?;
            match outcome {
                Ok(done) => return done,
                Err(e) if is_busy(&e) && attempt < PERSISTENT_ATTEMPTS => {
                    attempt += 1;
                    tracing::warn!(error = %e, attempt, "database busy; retrying a commit that must not be lost");
                    tokio::time::sleep(wait).await;
                    wait = (wait * 2).min(Duration::from_secs(5));
                }
                Err(e) => return Err(E::from(e)),
            }
        }
    }

    fn writer(&self) -> Writer {
        self.writer.clone()
    }

    /// Runs `f` with a pooled connection outside any transaction, on the blocking pool:
    /// for `PRAGMA`s and `VACUUM` (file upkeep), not for data changes.
    pub async fn maintain<T, F>(&self, f: F) -> Result<T, StoreError>
    where
        T: Send + 'static,
        F: FnOnce(&Connection) -> Result<T, StoreError> + Send + 'static,
    {
        self.read(f).await
    }

    /// Synchronous access for CLI commands and start-up (not for async contexts).
    pub fn blocking<T>(
        &self,
        f: impl FnOnce(&mut Connection) -> Result<T, StoreError>,
    ) -> Result<T, StoreError> {
        let mut conn = self.pool.get()?;
        f(&mut conn)
    }

    /// Synchronous `BEGIN IMMEDIATE` transaction for CLI commands and start-up.
    pub fn blocking_write<T>(
        &self,
        f: impl FnOnce(&Transaction) -> Result<T, StoreError>,
    ) -> Result<T, StoreError> {
        self.writer().commit(f)?
    }

    /// A consistent online copy of the database (`VACUUM INTO`), safe while serving.
    pub fn backup_to(&self, dest: &Path) -> Result<(), StoreError> {
        if dest.exists() {
            return Err(StoreError::Schema(format!(
                "{} already exists; choose a new file name",
                dest.display()
            )));
        }
        let conn = self.pool.get()?;
        conn.execute("VACUUM INTO ?1", [dest.to_string_lossy()])?;
        Ok(())
    }
}

/// The `EXPLAIN QUERY PLAN` rows (`detail` column) of `sql` with `params`.
pub(crate) fn query_plan(
    conn: &Connection,
    sql: &str,
    params: impl rusqlite::Params,
) -> Result<Vec<String>, StoreError> {
    let mut stmt = conn.prepare(&format!("EXPLAIN QUERY PLAN {sql}"))?;
    let rows = stmt
        .query_map(params, |r| r.get::<_, String>(3))?
        .collect::<Result<_, _>>()?;
    Ok(rows)
}

/// Current time in Unix milliseconds.
pub fn now_ms() -> i64 {
    chrono::Utc::now().timestamp_millis()
}

/// A list of ids as the JSON array a query reads with `IN (SELECT value FROM json_each(?n))`:
/// one bound parameter for any number of ids, so the statement is prepared (and cached) once.
pub(crate) fn json_ids<S: AsRef<str> + serde::Serialize>(ids: &[S]) -> String {
    serde_json::to_string(ids).expect("strings serialize")
}

/// Unix milliseconds as RFC 3339 UTC with `Z` (API format).
pub fn ms_to_rfc3339(ms: i64) -> String {
    chrono::DateTime::<chrono::Utc>::from_timestamp_millis(ms)
        .unwrap_or_default()
        .to_rfc3339_opts(chrono::SecondsFormat::Millis, true)
}

/// Tries of [`Store::write_persistent`] on a busy database (each waits `busy_timeout`).
const PERSISTENT_ATTEMPTS: u32 = 30;

/// True when the database was busy or locked (past `busy_timeout`), or no pooled connection
/// was free (reads): worth another try.
pub fn is_busy(e: &StoreError) -> bool {
    match e {
        StoreError::Sqlite(rusqlite::Error::SqliteFailure(f, _)) => matches!(
            f.code,
            rusqlite::ErrorCode::DatabaseBusy | rusqlite::ErrorCode::DatabaseLocked
        ),
        StoreError::Pool(_) => true,
        _ => false,
    }
}

/// True when the error is a UNIQUE constraint violation.
pub fn is_unique_violation(e: &rusqlite::Error) -> bool {
    matches!(e, rusqlite::Error::SqliteFailure(f, _)
        if f.extended_code == rusqlite::ffi::SQLITE_CONSTRAINT_UNIQUE
            || f.extended_code == rusqlite::ffi::SQLITE_CONSTRAINT_PRIMARYKEY)
}
