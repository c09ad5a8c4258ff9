//! Tests of the provider simulator over real HTTP on loopback.

mod common;
mod faults;
mod google;
mod microsoft;
mod zoom;
mod zoom_meetings;
