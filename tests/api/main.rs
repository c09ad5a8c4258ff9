//! The one integration-test binary: real server on port 0, real SQLite, simulator beside it.

mod helpers;

mod events;
mod foundation;
mod meetings;
mod sync;
mod sync_fixtures;
