//! Login attempt limiting: at most `MAX_FAILURES` failed logins per client address in a
//! sliding window; further attempts are refused until the window passes.
//!
//! An attempt is counted when it starts, before the password is verified, so parallel
//! wrong passwords cannot all slip past the check while the slow verification runs; a
//! successful login clears the address's count. The map is bounded: past
//! `MAX_CLIENTS` addresses, expired entries go first, then the least recently seen.

use std::collections::HashMap;
use std::sync::Mutex;

pub const MAX_FAILURES: usize = 5;
pub const WINDOW_MS: i64 = 15 * 60 * 1000;
/// Addresses remembered at most.
pub const MAX_CLIENTS: usize = 10_000;

#[derive(Default)]
pub struct LoginLimiter {
    attempts: Mutex<HashMap<String, Vec<i64>>>,
}

impl LoginLimiter {
    /// Counts an attempt of `client` now and says whether it may go ahead (false: over the
    /// limit, not counted).
    pub fn try_begin(&self, client: &str, now_ms: i64) -> bool {
        let mut map = self.attempts.lock().expect("limiter poisoned");
        if !map.contains_key(client) && map.len() >= MAX_CLIENTS {
            make_room(&mut map, now_ms);
        }
        let list = map.entry(client.to_string()).or_default();
        list.retain(|t| now_ms - t < WINDOW_MS);
        if list.len() >= MAX_FAILURES {
            return false;
        }
        list.push(now_ms);
        true
    }

    /// The attempt was the right password: forget the address's attempts.
    pub fn succeeded(&self, client: &str) {
        self.attempts
            .lock()
            .expect("limiter poisoned")
            .remove(client);
    }

    /// Addresses remembered now.
    pub fn len(&self) -> usize {
        self.attempts.lock().expect("limiter poisoned").len()
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

/// Drops expired entries; if that is not enough, the tenth of the addresses seen least
/// recently (in one go, so a full map is not scanned again at every new address).
fn make_room(map: &mut HashMap<String, Vec<i64>>, now_ms: i64) {
    map.retain(|_, list| list.iter().any(|t| now_ms - t < WINDOW_MS));
    if map.len() >= MAX_CLIENTS {
        let mut last_seen: Vec<i64> = map
            .values()
            .map(|list| list.iter().max().copied().unwrap_or(i64::MIN))
            .collect();
        let drop = MAX_CLIENTS / 10;
        let (_, cut, _) = last_seen.select_nth_unstable(drop);
        let cut = *cut;
        map.retain(|_, list| list.iter().max().copied().unwrap_or(i64::MIN) > cut);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_sixth_attempt_in_the_window_is_refused_and_success_clears() {
        let l = LoginLimiter::default();
        for _ in 0..MAX_FAILURES {
            assert!(l.try_begin("a", 1000));
        }
        assert!(!l.try_begin("a", 1000));
        assert!(l.try_begin("b", 1000), "other addresses are not affected");
        assert!(l.try_begin("a", 1000 + WINDOW_MS), "the window passed");
        l.succeeded("a");
        for _ in 0..MAX_FAILURES {
            assert!(l.try_begin("a", 2000 + WINDOW_MS));
        }
    }

    #[test]
    fn the_map_stays_bounded() {
        let l = LoginLimiter::default();
        for i in 0..(3 * MAX_CLIENTS) {
            assert!(l.try_begin(&format!("10.0.{}.{}", i / 256, i % 256), i as i64));
        }
        assert!(l.len() <= MAX_CLIENTS, "{}", l.len());
        // When full again, expired entries make room first.
        let later = 10 * WINDOW_MS;
        let mut i = 0;
        while l.len() < MAX_CLIENTS {
            assert!(l.try_begin(&format!("late-{i}"), later));
            i += 1;
        }
        assert!(l.try_begin("one more", later));
        assert_eq!(l.len(), i + 1, "only the fresh addresses are left");
    }
}
