//! Reused buffers for large response bodies (an events page is ~200 KB).
//!
//! A fresh allocation that size costs more per request than it seems: glibc serves it from
//! the top of an arena after consolidating its fast bins, and its pages fault in again
//! whenever the arena gave them back. A few buffers are kept and handed out again instead.

use std::ops::{Deref, DerefMut};
use std::sync::Mutex;

use actix_web::web::Bytes;

/// Buffers kept at most (memory held: this many times a large page).
const KEPT: usize = 8;
/// A buffer grown past this (an unusually large page) is freed, not kept.
const KEEP_AT_MOST: usize = 4 << 20;

static SPARE: Mutex<Vec<Vec<u8>>> = Mutex::new(Vec::new());

/// A growable body buffer that goes back to the spares when dropped, also once sent as
/// [`BodyBuffer::into_bytes`] (actix drops the body after writing it).
pub struct BodyBuffer(Vec<u8>);

impl BodyBuffer {
    /// An empty buffer with room for at least `capacity` bytes.
    pub fn with_capacity(capacity: usize) -> Self {
        let spare = SPARE.lock().unwrap_or_else(|e| e.into_inner()).pop();
        let mut buf = spare.unwrap_or_default();
        buf.reserve(capacity);
        BodyBuffer(buf)
    }

    /// The written bytes as a response body, without a copy.
    pub fn into_bytes(self) -> Bytes {
        Bytes::from_owner(self)
    }
}

impl Deref for BodyBuffer {
    type Target = Vec<u8>;
    fn deref(&self) -> &Vec<u8> {
        &self.0
    }
}

impl DerefMut for BodyBuffer {
    fn deref_mut(&mut self) -> &mut Vec<u8> {
        &mut self.0
    }
}

impl AsRef<[u8]> for BodyBuffer {
    fn as_ref(&self) -> &[u8] {
        &self.0
    }
}

impl Drop for BodyBuffer {
    fn drop(&mut self) {
        let mut buf = std::mem::take(&mut self.0);
        if buf.capacity() == 0 || buf.capacity() > KEEP_AT_MOST {
            return;
        }
        buf.clear();
        let mut spare = SPARE.lock().unwrap_or_else(|e| e.into_inner());
        if spare.len() < KEPT {
            spare.push(buf);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_sent_buffer_comes_back_empty_and_keeps_its_room() {
        let mut b = BodyBuffer::with_capacity(300_000);
        b.extend_from_slice(b"secret page");
        let ptr = b.as_ptr();
        let bytes = b.into_bytes().slice(7..);
        assert_eq!(&bytes[..], b"page");
        drop(bytes);
        // Tests share the spares: look for this buffer among them.
        let spare = SPARE.lock().unwrap();
        let back = spare.iter().find(|v| v.as_ptr() == ptr).expect("kept");
        assert!(back.is_empty() && back.capacity() >= 300_000);
    }
}
