//! The overview's System tile: version, uptime, public URL, configured platforms, database
//! size, the last `convene backup` (with a reminder when none was ever taken).

use rusqlite::Connection;

use crate::config::Settings;
use crate::domain::Platform;
use crate::store::ops::{self, SetupFacts};
use crate::store::StoreError;

use super::render::when;

#[derive(Debug, Clone)]
pub struct SystemInfo {
    pub version: &'static str,
    pub uptime: String,
    pub public_url: String,
    /// "Google, Microsoft; 1 Zoom app" or "none yet".
    pub platforms: String,
    pub db_size: String,
    pub data_dir: String,
    /// When `convene backup` last ran.
    pub last_backup: Option<String>,
    /// A backup is missing or older than two days.
    pub backup_reminder: Option<String>,
    pub sync_interval: String,
    /// "on (auto: the public URL is https)", "off", ...
    pub push: String,
    /// "30 days".
    pub retention: String,
}

pub fn load(
    c: &Connection,
    facts: &SetupFacts,
    settings: &Settings,
    now_ms: i64,
) -> Result<SystemInfo, StoreError> {
    let mut platforms: Vec<String> = facts
        .platform_clients
        .iter()
        .map(|p| match Platform::from_v1(p) {
            Some(platform) => platform.display().to_string(),
            None => p.clone(),
        })
        .collect();
    if facts.zoom_apps > 0 {
        platforms.push(format!(
            "{} Zoom app{}",
            facts.zoom_apps,
            if facts.zoom_apps == 1 { "" } else { "s" }
        ));
    }
    let last = ops::last_backup_at(c)?;
    let backup_reminder = match last {
        None => Some(
            "No backup was ever taken: run `convene backup PATH` daily (see Deployment) and \
             keep master.key apart from the copies."
                .to_string(),
        ),
        Some(at) if now_ms - at > 2 * 86_400_000 => Some(format!(
            "The last backup is {} days old.",
            (now_ms - at) / 86_400_000
        )),
        Some(_) => None,
    };
    Ok(SystemInfo {
        version: env!("CARGO_PKG_VERSION"),
        uptime: duration(crate::metrics::uptime_secs()),
        public_url: settings.public_base(),
        platforms: if platforms.is_empty() {
            "none yet".into()
        } else {
            platforms.join(", ")
        },
        db_size: bytes(ops::db_size_bytes(c)?),
        data_dir: settings.data_dir.display().to_string(),
        last_backup: last.map(when),
        backup_reminder,
        sync_interval: duration(settings.sync_interval.as_secs()),
        push: push_mode(settings),
        retention: format!("{} days", settings.retention_days),
    })
}

fn push_mode(settings: &Settings) -> String {
    use crate::config::PushMode;
    let on = settings.push_enabled();
    let why = match settings.push {
        PushMode::Auto if on => " (auto: the public URL is https)",
        PushMode::Auto => " (auto: the public URL is not https)",
        PushMode::On | PushMode::Off => "",
    };
    let poll = if on {
        format!(
            "; safety poll every {}",
            duration(settings.push_poll_interval.as_secs())
        )
    } else {
        String::new()
    };
    format!("{}{why}{poll}", if on { "on" } else { "off" })
}

/// `3 d 4 h`, `5 h 2 min`, `12 min`, `40 s`.
pub fn duration(secs: u64) -> String {
    let (d, h, m) = (secs / 86_400, secs / 3600 % 24, secs / 60 % 60);
    match (d, h, m) {
        (0, 0, 0) => format!("{secs} s"),
        (0, 0, m) => format!("{m} min"),
        (0, h, m) => format!("{h} h {m} min"),
        (d, h, _) => format!("{d} d {h} h"),
    }
}

/// `1.4 MB`.
pub fn bytes(n: i64) -> String {
    let n = n.max(0) as f64;
    if n < 1024.0 * 1024.0 {
        format!("{:.0} KB", n / 1024.0)
    } else if n < 1024.0 * 1024.0 * 1024.0 {
        format!("{:.1} MB", n / 1024.0 / 1024.0)
    } else {
        format!("{:.2} GB", n / 1024.0 / 1024.0 / 1024.0)
    }
}
