//! Convene: calendars, Zoom OAuth and meeting-bot scheduling for an application's users.

pub mod admin;
pub mod api;
pub mod calendars;
pub mod cli;
pub mod config;
pub mod coord;
pub mod crypto;
#[cfg(feature = "demo")]
pub mod demo;
pub mod domain;
pub mod error;
pub mod events;
pub mod jobs;
pub mod meeting_links;
pub mod metrics;
pub mod providers;
pub mod redirects;
pub mod scheduling;
pub mod startup;
pub mod state;
pub mod store;
pub mod sync;
pub mod telemetry;
pub mod webhooks;
pub mod zoom;
