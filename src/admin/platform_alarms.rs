//! The overview's alarm about refused platform OAuth clients (`calendars::client_alarm`):
//! one self-contained widget, listed in `overview::WIDGETS`.

use rusqlite::Connection;

use super::overview::{Stat, Widget};
use super::render::when;
use crate::calendars::client_alarm;
use crate::config::Settings;
use crate::store::{self, StoreError};

/// "The Microsoft OAuth client … was refused at …": one row per platform whose client the
/// provider refuses; red while any is.
pub fn widget(c: &Connection, _: &Settings, _now: i64) -> Result<Widget, StoreError> {
    let alarms = store::platform_alarms::list(c)?;
    let rows: Vec<Vec<String>> = alarms
        .iter()
        .map(|a| {
            vec![
                a.platform.clone(),
                client_alarm::describe(a, &when(a.first_at)),
                when(a.last_at),
            ]
        })
        .collect();
    Ok(Widget {
        title: "Platform OAuth clients",
        link: Some("/admin/platforms/"),
        stats: vec![Stat::new(
            "refused by the provider",
            alarms.len(),
            if alarms.is_empty() { "good" } else { "bad" },
        )],
        columns: vec!["Platform", "Problem", "Last refused"],
        wide: !rows.is_empty(),
        row_links: alarms
            .iter()
            .map(|_| Some("/admin/platforms/".into()))
            .collect(),
        raw: alarms.iter().map(|_| None).collect(),
        rows,
        empty: "The providers accept every saved OAuth client.",
    })
}
