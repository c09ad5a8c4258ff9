//! Short reads run on the calling thread ([`super::Store::read_in_place`]).
//!
//! A read on the blocking pool costs two thread hand-offs (to a pool thread and back), each
//! a wake-up and a context switch: for a page of events served from the page cache that is
//! more than the read itself (measured: an events page costs ~290 µs of CPU in place, ~370 µs
//! through the pool). A read in place never waits for a connection, and after one that had
//! to wait for the disk (the thread's block reads grew: a cold page cache) or held its thread
//! for long, reads go back to the pool for a while, so an async worker waits on the disk at
//! most once per [`CLOSED_FOR`]. Wall time alone would not tell: on a busy 2-core machine a
//! read in memory is often preempted for 10 ms and more.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::LazyLock;
use std::time::{Duration, Instant};

use tokio::sync::Semaphore;

/// An in-place read that read from the disk, or took longer than this, sends reads to the
/// blocking pool for [`CLOSED_FOR`].
pub const SLOW_READ: Duration = Duration::from_millis(100);
pub const CLOSED_FOR: Duration = Duration::from_secs(30);

/// Whether reads may run in place now, and the bound on those that cannot.
pub(super) struct InPlaceReads {
    /// Milliseconds since [`EPOCH`] until which reads go to the blocking pool.
    closed_until_ms: AtomicU64,
    /// Reads sent to the pool instead wait here (without a thread) beyond twice the cores:
    /// more at once would only park threads on the connection pool.
    pub(super) fallback: Semaphore,
}

static EPOCH: LazyLock<Instant> = LazyLock::new(Instant::now);

fn now_ms() -> u64 {
    EPOCH.elapsed().as_millis() as u64
}

impl InPlaceReads {
    pub(super) fn new(pool_size: u32) -> Self {
        let cores = std::thread::available_parallelism().map_or(2, |n| n.get());
        InPlaceReads {
            closed_until_ms: AtomicU64::new(0),
            fallback: Semaphore::new((2 * cores).clamp(2, pool_size as usize)),
        }
    }

    pub(super) fn open(&self) -> bool {
        now_ms() >= self.closed_until_ms.load(Ordering::Relaxed)
    }

    /// Runs `read` on this thread, noting how long it held it and whether it read from
    /// the disk.
    pub(super) fn timed<R>(&self, read: impl FnOnce() -> R) -> R {
        let (started, before) = (Instant::now(), thread_disk_reads());
        let out = read();
        let read_the_disk = before.zip(thread_disk_reads()).is_some_and(|(a, b)| b > a);
        self.took(started.elapsed(), read_the_disk);
        out
    }

    fn took(&self, held: Duration, read_the_disk: bool) {
        if read_the_disk || held > SLOW_READ {
            let until = now_ms() + CLOSED_FOR.as_millis() as u64;
            self.closed_until_ms.fetch_max(until, Ordering::Relaxed);
            tracing::debug!(
                held_ms = held.as_millis() as u64,
                read_the_disk,
                "a read in place waited: reads use the blocking pool for a while"
            );
        }
    }
}

/// How many times this thread has read from a block device (the page cache missed), where
/// the platform tells.
fn thread_disk_reads() -> Option<u64> {
    #[cfg(target_os = "linux")]
    {
        // SAFETY: getrusage writes one `rusage` into the zeroed struct it is given.
        let mut usage: libc::rusage = unsafe { std::mem::zeroed() };
        let ok = unsafe { libc::getrusage(libc::RUSAGE_THREAD, &mut usage) } == 0;
        ok.then_some(usage.ru_inblock as u64)
    }
    #[cfg(not(target_os = "linux"))]
    {
        None
    }
}

#[cfg(test)]
mod tests {
    use std::thread::ThreadId;

    use super::*;
    use crate::store::{Store, StoreError};

    /// The thread a read ran on.
    async fn reader_thread(store: &Store) -> ThreadId {
        store
            .read_in_place(|_| Ok::<_, StoreError>(std::thread::current().id()))
            .await
            .unwrap()
    }

    #[tokio::test(flavor = "current_thread")]
    async fn reads_run_in_place_until_one_is_slow() {
        let dir = tempfile::tempdir().unwrap();
        let store = Store::open(&dir.path().join("t.db")).unwrap();
        let here = std::thread::current().id();
        assert_eq!(reader_thread(&store).await, here);

        // A read that holds its thread past the bound sends the next ones to the pool (a
        // read from the disk does too, without waiting that long).
        store
            .read_in_place(|_| {
                std::thread::sleep(SLOW_READ * 2);
                Ok::<_, StoreError>(())
            })
            .await
            .unwrap();
        assert!(!store.in_place.open());
        assert_ne!(reader_thread(&store).await, here);
    }

    #[cfg(target_os = "linux")]
    #[tokio::test(flavor = "current_thread")]
    async fn a_read_that_went_to_the_disk_sends_reads_to_the_pool() {
        use std::os::fd::AsRawFd;
        let dir = tempfile::tempdir().unwrap();
        let store = Store::open(&dir.path().join("t.db")).unwrap();
        let here = std::thread::current().id();
        // A file out of the page cache: written, synced, then dropped from the cache.
        let cold = dir.path().join("cold");
        let file = std::fs::File::create(&cold).unwrap();
        std::io::Write::write_all(&mut &file, &vec![7u8; 4 << 20]).unwrap();
        file.sync_all().unwrap();
        let advised =
            unsafe { libc::posix_fadvise(file.as_raw_fd(), 0, 0, libc::POSIX_FADV_DONTNEED) };
        assert_eq!(advised, 0);
        let read = store
            .read_in_place(move |_| Ok::<_, StoreError>(std::fs::read(cold).unwrap().len()))
            .await
            .unwrap();
        assert_eq!(read, 4 << 20);
        assert!(
            !store.in_place.open(),
            "a read from the disk closes the gate"
        );
        assert_ne!(reader_thread(&store).await, here);
    }

    #[tokio::test(flavor = "current_thread")]
    async fn a_panicking_read_in_place_is_an_error_of_that_read() {
        let dir = tempfile::tempdir().unwrap();
        let store = Store::open(&dir.path().join("t.db")).unwrap();
        let out = store
            .read_in_place(|_| -> Result<(), StoreError> { panic!("broken page") })
            .await;
        assert!(matches!(out, Err(StoreError::Task(_))));
        // The connection went back to the pool and serves the next read.
        let one: i64 = store
            .read_in_place(|c| Ok::<_, StoreError>(c.query_row("SELECT 1", [], |r| r.get(0))?))
            .await
            .unwrap();
        assert_eq!(one, 1);
    }

    #[tokio::test(flavor = "current_thread")]
    async fn a_read_never_waits_for_a_connection_in_place() {
        let dir = tempfile::tempdir().unwrap();
        let store = Store::open(&dir.path().join("t.db")).unwrap();
        let here = std::thread::current().id();
        // Every pooled connection held by a read on the blocking pool.
        let (release, held) = std::sync::mpsc::channel::<()>();
        let held = std::sync::Arc::new(std::sync::Mutex::new(held));
        let (taken_tx, mut taken) = tokio::sync::mpsc::unbounded_channel();
        let mut holders = Vec::new();
        for _ in 0..crate::store::READ_POOL_SIZE {
            let (store, held, taken_tx) = (store.clone(), held.clone(), taken_tx.clone());
            holders.push(tokio::spawn(async move {
                store
                    .read(move |_| {
                        taken_tx.send(()).unwrap();
                        held.lock().unwrap().recv().unwrap();
                        Ok::<_, StoreError>(())
                    })
                    .await
            }));
        }
        for _ in 0..crate::store::READ_POOL_SIZE {
            taken.recv().await.unwrap();
        }
        // The read goes to the pool and waits there, not on this thread.
        let waiting = tokio::spawn({
            let store = store.clone();
            async move { reader_thread(&store).await }
        });
        tokio::task::yield_now().await;
        for _ in 0..crate::store::READ_POOL_SIZE {
            release.send(()).unwrap();
        }
        for h in holders {
            h.await.unwrap().unwrap();
        }
        assert_ne!(waiting.await.unwrap(), here);
        // With connections free again, reads run in place.
        assert_eq!(reader_thread(&store).await, here);
    }
}
