//! Tests of the provider simulator over real HTTP on loopback.

mod common;
mod faults;
mod google;
mod microsoft;
mod push;
mod quirks;
mod zoom;
mod zoom_meetings;
