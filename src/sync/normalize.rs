//! Provider events (Google Calendar v3, Graph) → one normalized row.
//!
//! Each item keeps its exact JSON text (`raw`). The normalized fields are what the API
//! returns (V2 events and V1 meetings); `content_hash` covers them and `raw`, so a re-sync
//! of an unchanged event is recognised and leaves `updated_at` alone.

use chrono::{DateTime, NaiveDate, NaiveDateTime, Utc};
use serde::Deserialize;

use crate::domain::{Attendee, NormalizedEvent};
use crate::meeting_links;

/// What one provider item means for the store.
#[derive(Debug, Clone, PartialEq)]
pub enum Item {
    Upsert(Box<NormalizedEvent>),
    /// Removed or cancelled without details: mark the stored event deleted, if any.
    Remove {
        platform_id: String,
    },
    /// Nothing to store (e.g. a Graph series master).
    Skip,
    /// The provider sent something that does not normalize: the stored copy (if any) is
    /// kept, the failure recorded, and the sync does not move past it (`sync::apply`).
    Unreadable {
        /// The item's id when at least that could be read.
        platform_id: Option<String>,
        error: String,
    },
}

/// What to make of one provider item's normalization: `None` for nothing to store, an
/// [`Item::Unreadable`] (with the id, when readable) for a failure.
pub fn read_item(raw: &str, result: Result<Item, NormalizeError>) -> Option<Item> {
    match result {
        Ok(Item::Skip) => None,
        Ok(item) => Some(item),
        Err(e) => {
            #[derive(Deserialize)]
            struct Id {
                id: Option<String>,
            }
            let platform_id = serde_json::from_str::<Id>(raw)
                .ok()
                .and_then(|i| i.id)
                .filter(|id| !id.is_empty());
            tracing::warn!(event_id = platform_id.as_deref().unwrap_or("?"), error = %e, "cannot read a provider event; its stored copy is kept");
            Some(Item::Unreadable {
                platform_id,
                error: e.0,
            })
        }
    }
}

#[derive(Debug, thiserror::Error)]
#[error("unusable provider event: {0}")]
pub struct NormalizeError(pub String);

// ------------------------------------------------------------------------------ Google

#[derive(Deserialize, Default)]
#[serde(rename_all = "camelCase", default)]
struct GEvent {
    id: String,
    #[serde(rename = "iCalUID")]
    ical_uid: Option<String>,
    status: Option<String>,
    summary: Option<String>,
    description: Option<String>,
    location: Option<String>,
    start: Option<GWhen>,
    end: Option<GWhen>,
    recurring_event_id: Option<String>,
    hangout_link: Option<String>,
    conference_data: Option<GConference>,
    attendees: Vec<GAttendee>,
    organizer: Option<GPerson>,
}

#[derive(Deserialize, Default)]
#[serde(rename_all = "camelCase", default)]
struct GWhen {
    date_time: Option<String>,
    date: Option<String>,
}

#[derive(Deserialize, Default)]
#[serde(rename_all = "camelCase", default)]
struct GConference {
    entry_points: Vec<GEntryPoint>,
}

#[derive(Deserialize, Default)]
#[serde(rename_all = "camelCase", default)]
struct GEntryPoint {
    entry_point_type: Option<String>,
    uri: Option<String>,
}

#[derive(Deserialize, Default)]
#[serde(rename_all = "camelCase", default)]
struct GAttendee {
    email: Option<String>,
    display_name: Option<String>,
    response_status: Option<String>,
    organizer: bool,
    #[serde(rename = "self")]
    is_self: bool,
    resource: bool,
}

#[derive(Deserialize, Default)]
#[serde(rename_all = "camelCase", default)]
struct GPerson {
    email: Option<String>,
    display_name: Option<String>,
    #[serde(rename = "self")]
    is_self: bool,
}

fn google_status(s: Option<&str>) -> String {
    match s {
        Some("accepted") => "accepted",
        Some("declined") => "declined",
        Some("tentative") => "tentative",
        _ => "not_available",
    }
    .to_string()
}

/// A Calendar v3 event resource.
pub fn google(raw: &str) -> Result<Item, NormalizeError> {
    let ev: GEvent =
        serde_json::from_str(raw).map_err(|e| NormalizeError(format!("google event: {e}")))?;
    if ev.id.is_empty() {
        return Err(NormalizeError("google event without id".into()));
    }
    let cancelled = ev.status.as_deref() == Some("cancelled");
    let (Some(start), Some(end)) = (&ev.start, &ev.end) else {
        // Incremental syncs report deletions as stubs with little more than the id.
        return if cancelled {
            Ok(Item::Remove { platform_id: ev.id })
        } else {
            Err(NormalizeError(format!(
                "google event {} without times",
                ev.id
            )))
        };
    };
    let (start_time, all_day) = google_when(start)?;
    let (end_time, _) = google_when(end)?;
    let join = ev
        .conference_data
        .as_ref()
        .and_then(|c| {
            c.entry_points
                .iter()
                .find(|e| e.entry_point_type.as_deref() == Some("video"))
                .and_then(|e| e.uri.clone())
        })
        .or(ev.hangout_link.clone());
    let link = meeting_links::detect(
        join.as_deref(),
        ev.location.as_deref(),
        ev.description.as_deref(),
    );
    let organizer_email = ev.organizer.as_ref().and_then(|o| o.email.clone());
    let mut attendees: Vec<Attendee> = ev
        .attendees
        .iter()
        .filter(|a| !a.resource)
        .filter_map(|a| {
            Some(Attendee {
                name: a.display_name.clone(),
                email: a.email.clone()?,
                is_organizer: a.organizer
                    || same_email(a.email.as_deref(), organizer_email.as_deref()),
                status: google_status(a.response_status.as_deref()),
            })
        })
        .collect();
    let hosted = ev.organizer.as_ref().is_some_and(|o| o.is_self);
    if attendees.is_empty() {
        // An event without guests: its organizer is the only participant.
        if let Some(o) = &ev.organizer {
            if let Some(email) = &o.email {
                attendees.push(Attendee {
                    name: o.display_name.clone(),
                    email: email.clone(),
                    is_organizer: true,
                    status: "accepted".into(),
                });
            }
        }
    }
    let self_response = ev
        .attendees
        .iter()
        .find(|a| a.is_self)
        .map(|a| google_status(a.response_status.as_deref()))
        .or_else(|| hosted.then(|| "accepted".to_string()));
    Ok(Item::Upsert(Box::new(NormalizedEvent {
        platform_id: ev.id,
        ical_uid: ev.ical_uid,
        start_time,
        end_time,
        is_all_day: all_day,
        title: ev.summary,
        organizer_email,
        attendees,
        is_recurring: ev.recurring_event_id.is_some(),
        is_hosted_by_me: hosted,
        self_response,
        meeting_platform: link.as_ref().map(|l| l.platform.as_str().to_string()),
        meeting_url: link.map(|l| l.url),
        is_deleted: cancelled,
        raw: raw.to_string(),
    })))
}

fn google_when(w: &GWhen) -> Result<(i64, bool), NormalizeError> {
    if let Some(dt) = &w.date_time {
        let t = DateTime::parse_from_rfc3339(dt)
            .map_err(|e| NormalizeError(format!("bad dateTime {dt}: {e}")))?;
        return Ok((t.timestamp_millis(), false));
    }
    if let Some(d) = &w.date {
        return Ok((date_ms(d)?, true));
    }
    Err(NormalizeError("event time without dateTime or date".into()))
}

/// All-day dates are floating; they are stored as midnight UTC of that date.
fn date_ms(d: &str) -> Result<i64, NormalizeError> {
    let date = NaiveDate::parse_from_str(d, "%Y-%m-%d")
        .map_err(|e| NormalizeError(format!("bad date {d}: {e}")))?;
    Ok(date
        .and_hms_opt(0, 0, 0)
        .expect("midnight exists")
        .and_utc()
        .timestamp_millis())
}

// ------------------------------------------------------------------------------ Graph

#[derive(Deserialize, Default)]
#[serde(rename_all = "camelCase", default)]
struct MEvent {
    id: String,
    #[serde(rename = "@removed")]
    removed: Option<serde_json::Value>,
    #[serde(rename = "iCalUId")]
    ical_uid: Option<String>,
    subject: Option<String>,
    body: Option<MBody>,
    location: Option<MLocation>,
    start: Option<MWhen>,
    end: Option<MWhen>,
    is_all_day: bool,
    is_cancelled: bool,
    is_organizer: bool,
    organizer: Option<MRecipient>,
    attendees: Vec<MAttendee>,
    response_status: Option<MResponse>,
    #[serde(rename = "type")]
    kind: Option<String>,
    series_master_id: Option<String>,
    online_meeting: Option<MOnline>,
    online_meeting_url: Option<String>,
}

#[derive(Deserialize, Default)]
#[serde(rename_all = "camelCase", default)]
struct MBody {
    content: Option<String>,
}

#[derive(Deserialize, Default)]
#[serde(rename_all = "camelCase", default)]
struct MLocation {
    display_name: Option<String>,
}

#[derive(Deserialize, Default)]
#[serde(rename_all = "camelCase", default)]
struct MWhen {
    date_time: Option<String>,
    time_zone: Option<String>,
}

#[derive(Deserialize, Default)]
#[serde(rename_all = "camelCase", default)]
struct MRecipient {
    email_address: Option<MEmail>,
}

#[derive(Deserialize, Default)]
#[serde(rename_all = "camelCase", default)]
struct MEmail {
    name: Option<String>,
    address: Option<String>,
}

#[derive(Deserialize, Default)]
#[serde(rename_all = "camelCase", default)]
struct MAttendee {
    email_address: Option<MEmail>,
    status: Option<MResponse>,
    #[serde(rename = "type")]
    kind: Option<String>,
}

#[derive(Deserialize, Default)]
#[serde(rename_all = "camelCase", default)]
struct MResponse {
    response: Option<String>,
}

#[derive(Deserialize, Default)]
#[serde(rename_all = "camelCase", default)]
struct MOnline {
    join_url: Option<String>,
}

fn graph_status(s: Option<&str>) -> String {
    match s {
        Some("accepted" | "organizer") => "accepted",
        Some("declined") => "declined",
        Some("tentativelyAccepted") => "tentative",
        _ => "not_available",
    }
    .to_string()
}

/// A Graph event resource (from `calendarView/delta`, times in UTC by preference).
pub fn microsoft(raw: &str) -> Result<Item, NormalizeError> {
    let ev: MEvent =
        serde_json::from_str(raw).map_err(|e| NormalizeError(format!("graph event: {e}")))?;
    if ev.id.is_empty() {
        return Err(NormalizeError("graph event without id".into()));
    }
    if ev.removed.is_some() {
        return Ok(Item::Remove { platform_id: ev.id });
    }
    if ev.kind.as_deref() == Some("seriesMaster") {
        // calendarView lists occurrences; a master carries no occurrence of its own.
        return Ok(Item::Skip);
    }
    let (Some(start), Some(end)) = (&ev.start, &ev.end) else {
        return Err(NormalizeError(format!(
            "graph event {} without times",
            ev.id
        )));
    };
    let (start_time, end_time) = if ev.is_all_day {
        // All-day dates are floating: the date as written, at midnight UTC (as Google's).
        (graph_date(start)?, graph_date(end)?)
    } else {
        (graph_when(start, &ev.id)?, graph_when(end, &ev.id)?)
    };
    let link = meeting_links::detect(
        ev.online_meeting
            .as_ref()
            .and_then(|o| o.join_url.as_deref())
            .or(ev.online_meeting_url.as_deref()),
        ev.location.as_ref().and_then(|l| l.display_name.as_deref()),
        ev.body.as_ref().and_then(|b| b.content.as_deref()),
    );
    let organizer = ev.organizer.as_ref().and_then(|o| o.email_address.as_ref());
    let organizer_email = organizer.and_then(|o| o.address.clone());
    let mut attendees: Vec<Attendee> = ev
        .attendees
        .iter()
        .filter(|a| a.kind.as_deref() != Some("resource"))
        .filter_map(|a| {
            let email = a.email_address.as_ref()?;
            let address = email.address.clone()?;
            let is_organizer = same_email(Some(&address), organizer_email.as_deref());
            Some(Attendee {
                name: email.name.clone(),
                status: if is_organizer {
                    "accepted".into()
                } else {
                    graph_status(a.status.as_ref().and_then(|s| s.response.as_deref()))
                },
                email: address,
                is_organizer,
            })
        })
        .collect();
    // Graph leaves the organizer out of `attendees`; Google lists them. Same shape for both.
    if let Some(org) = organizer {
        if let Some(address) = &org.address {
            if !attendees.iter().any(|a| a.is_organizer) {
                attendees.insert(
                    0,
                    Attendee {
                        name: org.name.clone(),
                        email: address.clone(),
                        is_organizer: true,
                        status: "accepted".into(),
                    },
                );
            }
        }
    }
    let self_response = if ev.is_organizer {
        Some("accepted".to_string())
    } else {
        ev.response_status
            .as_ref()
            .map(|r| graph_status(r.response.as_deref()))
    };
    Ok(Item::Upsert(Box::new(NormalizedEvent {
        platform_id: ev.id,
        ical_uid: ev.ical_uid,
        start_time,
        end_time,
        is_all_day: ev.is_all_day,
        title: ev.subject,
        organizer_email,
        attendees,
        is_recurring: ev.series_master_id.is_some()
            || matches!(ev.kind.as_deref(), Some("occurrence" | "exception")),
        is_hosted_by_me: ev.is_organizer,
        self_response,
        meeting_platform: link.as_ref().map(|l| l.platform.as_str().to_string()),
        meeting_url: link.map(|l| l.url),
        is_deleted: ev.is_cancelled,
        raw: raw.to_string(),
    })))
}

/// Graph `dateTime` is zone-less (`2026-11-23T15:00:00.0000000`) with the zone aside. We
/// ask for UTC with `Prefer: outlook.timezone="UTC"`, but a mailbox may answer in its own
/// zone (a Windows or IANA name): converted (`timezones`). An offset, when present, is
/// honoured; an unknown zone is read as UTC with a warning naming the event.
fn graph_when(w: &MWhen, event_id: &str) -> Result<i64, NormalizeError> {
    let dt = w
        .date_time
        .as_deref()
        .ok_or_else(|| NormalizeError("graph time without dateTime".into()))?;
    if let Ok(t) = DateTime::parse_from_rfc3339(dt) {
        return Ok(t.timestamp_millis());
    }
    let naive = NaiveDateTime::parse_from_str(dt, "%Y-%m-%dT%H:%M:%S%.f")
        .map_err(|e| NormalizeError(format!("bad dateTime {dt}: {e}")))?;
    let zone = w.time_zone.as_deref().unwrap_or("UTC");
    match super::timezones::resolve(zone) {
        Some(tz) => Ok(super::timezones::local_to_utc(tz, naive).timestamp_millis()),
        None => {
            tracing::warn!(
                event_id,
                time_zone = zone,
                "unknown time zone in a Graph event; its time is read as UTC"
            );
            Ok(DateTime::<Utc>::from_naive_utc_and_offset(naive, Utc).timestamp_millis())
        }
    }
}

/// The date of an all-day Graph bound (`2026-11-23T00:00:00.0000000`), at midnight UTC.
fn graph_date(w: &MWhen) -> Result<i64, NormalizeError> {
    let dt = w
        .date_time
        .as_deref()
        .ok_or_else(|| NormalizeError("graph time without dateTime".into()))?;
    date_ms(dt.get(..10).unwrap_or(dt))
}

fn same_email(a: Option<&str>, b: Option<&str>) -> bool {
    matches!((a, b), (Some(a), Some(b)) if a.eq_ignore_ascii_case(b))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn upsert(item: Item) -> NormalizedEvent {
        match item {
            Item::Upsert(e) => *e,
            other => panic!("expected upsert, got {other:?}"),
        }
    }

    #[test]
    fn google_timed_event_with_meet() {
        let raw = r#"{"id":"g1","iCalUID":"g1@google.com","status":"confirmed","summary":"Sync",
            "start":{"dateTime":"2026-11-23T15:00:00+01:00","timeZone":"Europe/Paris"},
            "end":{"dateTime":"2026-11-23T16:00:00+01:00"},
            "hangoutLink":"https://meet.google.com/abc-defg-hij",
            "organizer":{"email":"me@acme.test","self":true},
            "attendees":[{"email":"me@acme.test","self":true,"organizer":true,"responseStatus":"accepted"},
                         {"email":"bob@partner.test","displayName":"Bob","responseStatus":"needsAction"},
                         {"email":"room@resource.calendar.google.com","resource":true,"responseStatus":"accepted"}]}"#;
        let e = upsert(google(raw).unwrap());
        assert_eq!(e.start_time, 1_795_442_400_000);
        assert_eq!(e.end_time - e.start_time, 3_600_000);
        assert_eq!(e.meeting_platform.as_deref(), Some("google_meet"));
        assert!(e.is_hosted_by_me);
        assert_eq!(e.self_response.as_deref(), Some("accepted"));
        assert_eq!(e.attendees.len(), 2);
        assert_eq!(e.attendees[1].status, "not_available");
        assert!(e.attendees[0].is_organizer);
        assert_eq!(e.raw, raw);
    }

    #[test]
    fn google_all_day_and_cancelled_stub() {
        let raw = r#"{"id":"d","status":"confirmed","start":{"date":"2026-11-23"},"end":{"date":"2026-11-24"}}"#;
        let e = upsert(google(raw).unwrap());
        assert!(e.is_all_day);
        assert_eq!(e.end_time - e.start_time, 86_400_000);
        assert_eq!(
            google(r#"{"id":"x","status":"cancelled"}"#).unwrap(),
            Item::Remove {
                platform_id: "x".into()
            }
        );
    }

    #[test]
    fn graph_event_maps_organizer_and_responses() {
        let raw = r#"{"id":"m1","iCalUId":"040000","subject":"Review","isAllDay":false,"isCancelled":false,
            "isOrganizer":false,"type":"occurrence","seriesMasterId":"mm",
            "start":{"dateTime":"2026-11-23T15:00:00.0000000","timeZone":"UTC"},
            "end":{"dateTime":"2026-11-23T15:30:00.0000000","timeZone":"UTC"},
            "responseStatus":{"response":"tentativelyAccepted"},
            "organizer":{"emailAddress":{"name":"Ann","address":"ann@partner.test"}},
            "attendees":[{"type":"required","status":{"response":"accepted"},"emailAddress":{"name":"Me","address":"me@acme.test"}}],
            "onlineMeeting":{"joinUrl":"https://teams.microsoft.com/meet/12345678901?p=abc"},
            "body":{"contentType":"html","content":"<p>hi</p>"}}"#;
        let e = upsert(microsoft(raw).unwrap());
        assert_eq!(e.start_time, 1_795_446_000_000);
        assert!(e.is_recurring);
        assert!(!e.is_hosted_by_me);
        assert_eq!(e.self_response.as_deref(), Some("tentative"));
        assert_eq!(e.attendees[0].email, "ann@partner.test");
        assert!(e.attendees[0].is_organizer);
        assert_eq!(e.meeting_platform.as_deref(), Some("microsoft_teams"));
        assert_eq!(
            microsoft(r#"{"id":"m2","@removed":{"reason":"deleted"}}"#).unwrap(),
            Item::Remove {
                platform_id: "m2".into()
            }
        );
    }

    #[test]
    fn graph_times_in_other_zones_are_converted() {
        let ev = |zone: &str, start: &str| {
            format!(
                r#"{{"id":"z","subject":"s","isAllDay":false,
                "start":{{"dateTime":"{start}","timeZone":"{zone}"}},
                "end":{{"dateTime":"{start}","timeZone":"{zone}"}}}}"#
            )
        };
        // 09:00 Pacific in January is 17:00 UTC; 09:00 Berlin in July is 07:00 UTC.
        let e =
            upsert(microsoft(&ev("Pacific Standard Time", "2026-01-15T09:00:00.0000000")).unwrap());
        assert_eq!(e.start_time, 1_768_496_400_000);
        let e = upsert(microsoft(&ev("Europe/Berlin", "2026-07-15T09:00:00.0000000")).unwrap());
        assert_eq!(e.start_time, 1_784_098_800_000);
        let e = upsert(microsoft(&ev("UTC", "2026-01-15T17:00:00.0000000")).unwrap());
        assert_eq!(e.start_time, 1_768_496_400_000);
        // Unknown: read as UTC (and warned about).
        let e =
            upsert(microsoft(&ev("Mars Standard Time", "2026-01-15T17:00:00.0000000")).unwrap());
        assert_eq!(e.start_time, 1_768_496_400_000);
        // All-day dates stay the date, whatever the zone.
        let raw = r#"{"id":"d","isAllDay":true,
            "start":{"dateTime":"2026-11-23T00:00:00.0000000","timeZone":"Tokyo Standard Time"},
            "end":{"dateTime":"2026-11-24T00:00:00.0000000","timeZone":"Tokyo Standard Time"}}"#;
        let e = upsert(microsoft(raw).unwrap());
        assert_eq!(e.start_time, date_ms("2026-11-23").unwrap());
        assert_eq!(e.end_time - e.start_time, 86_400_000);
    }

    #[test]
    fn unreadable_items_keep_their_id() {
        let raw = r#"{"id":"g9","status":"confirmed","start":{"dateTime":"nope"},"end":{"date":"2026-01-01"}}"#;
        match read_item(raw, google(raw)) {
            Some(Item::Unreadable { platform_id, .. }) => {
                assert_eq!(platform_id.as_deref(), Some("g9"))
            }
            other => panic!("{other:?}"),
        }
        match read_item("[]", google("[]")) {
            Some(Item::Unreadable { platform_id, .. }) => assert_eq!(platform_id, None),
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn hash_changes_with_any_field_and_not_otherwise() {
        let raw = r#"{"id":"d","start":{"date":"2026-11-23"},"end":{"date":"2026-11-24"}}"#;
        let a = upsert(google(raw).unwrap());
        let b = upsert(google(raw).unwrap());
        assert_eq!(a.content_hash(), b.content_hash());
        let mut c = a.clone();
        c.is_deleted = true;
        assert_ne!(a.content_hash(), c.content_hash());
    }
}
