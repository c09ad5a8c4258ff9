//! Shared domain types: the states every layer names, and the normalized calendar event.
//!
//! This module sits below everything else (it imports only `crypto` and `meeting_links`
//! helpers), so `store`, `sync`, `scheduling` and the handlers can all use it without
//! depending on one another. Each state is an enum spelled in exactly one place; the
//! database and the wire use the `as_str` spelling.

pub mod event;
pub mod states;

pub use event::{Attendee, NormalizedEvent};
pub use states::*;
