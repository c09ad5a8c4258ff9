//! Time zones: Graph answers in the mailbox's zone when `Prefer: outlook.timezone` is absent
//! or ignored (with Windows zone names such as `Pacific Standard Time`), and Google filters
//! all-day events in the calendar's own zone.

use chrono::{DateTime, NaiveDate, NaiveDateTime, TimeZone, Utc};
use chrono_tz::Tz;

/// A few Windows zone names Outlook mailboxes use, with their CLDR "001" IANA zone.
const WINDOWS: &[(&str, &str)] = &[
    ("UTC", "Etc/UTC"),
    ("Pacific Standard Time", "America/Los_Angeles"),
    ("Mountain Standard Time", "America/Denver"),
    ("Central Standard Time", "America/Chicago"),
    ("Eastern Standard Time", "America/New_York"),
    ("GMT Standard Time", "Europe/London"),
    ("W. Europe Standard Time", "Europe/Berlin"),
    ("Romance Standard Time", "Europe/Paris"),
    ("India Standard Time", "Asia/Calcutta"),
    ("China Standard Time", "Asia/Shanghai"),
    ("Tokyo Standard Time", "Asia/Tokyo"),
    ("AUS Eastern Standard Time", "Australia/Sydney"),
    ("New Zealand Standard Time", "Pacific/Auckland"),
];

/// The zone a Graph zone name stands for (Windows or IANA name), if the simulator knows it.
pub(crate) fn graph_zone(name: &str) -> Option<Tz> {
    let name = name.trim().trim_matches('"');
    if let Some((_, iana)) = WINDOWS.iter().find(|(w, _)| w.eq_ignore_ascii_case(name)) {
        return iana.parse().ok();
    }
    name.parse().ok()
}

/// Midnight of `date` in `tz`, as a UTC instant (the earliest one if the day starts twice).
pub(crate) fn local_midnight(tz: Tz, date: NaiveDate) -> DateTime<Utc> {
    let naive = date.and_hms_opt(0, 0, 0).unwrap_or_default();
    local_to_utc(tz, naive)
}

/// A local wall-clock time in `tz` as a UTC instant (gaps move forward an hour).
pub(crate) fn local_to_utc(tz: Tz, naive: NaiveDateTime) -> DateTime<Utc> {
    tz.from_local_datetime(&naive)
        .earliest()
        .or_else(|| {
            tz.from_local_datetime(&(naive + chrono::Duration::hours(1)))
                .earliest()
        })
        .map(|t| t.with_timezone(&Utc))
        .unwrap_or_else(|| naive.and_utc())
}

/// `t` as wall-clock time in `tz`.
pub(crate) fn to_local(tz: Tz, t: DateTime<Utc>) -> NaiveDateTime {
    t.with_timezone(&tz).naive_local()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_windows_name_resolves() {
        for (w, _) in WINDOWS {
            assert!(graph_zone(w).is_some(), "{w}");
        }
        assert_eq!(graph_zone("Europe/Berlin"), Some(Tz::Europe__Berlin));
        assert_eq!(graph_zone("Mars Standard Time"), None);
    }

    #[test]
    fn midnight_in_a_zone_ahead_of_utc() {
        let d = NaiveDate::from_ymd_opt(2026, 1, 10).unwrap();
        let t = local_midnight("Etc/GMT-10".parse().unwrap(), d);
        assert_eq!(t.to_rfc3339(), "2026-01-09T14:00:00+00:00");
    }
}
