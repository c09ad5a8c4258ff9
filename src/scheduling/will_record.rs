//! The V1 recording decision: `will_record` for a calendar user's meeting from their
//! preferences and the meeting's facts, and [`apply_will_record`], which hands the
//! decisions that differ from what is scheduled to [`super::autorecord`].

use serde::{Deserialize, Serialize};
use serde_json::Value;

use crate::domain::{Attendee, LinkSource};
use crate::error::ApiResult;
use crate::state::AppState;
use crate::store;
use crate::store::events::StoredEvent;

/// A calendar user's recording preferences (api.md: booleans default false).
#[derive(Debug, Clone, Default, Deserialize, Serialize, PartialEq)]
#[serde(default)]
pub struct Preferences {
    pub record_non_host: bool,
    pub record_recurring: bool,
    pub record_external: bool,
    pub record_internal: bool,
    pub record_confirmed: bool,
    pub record_only_host: bool,
    pub bot_name: Option<String>,
}

impl Preferences {
    /// From the stored JSON; unknown keys and wrong types fall back to defaults.
    pub fn from_json(text: &str) -> Self {
        let v: Value = serde_json::from_str(text).unwrap_or(Value::Null);
        let flag = |k: &str| v.get(k).and_then(Value::as_bool).unwrap_or(false);
        Preferences {
            record_non_host: flag("record_non_host"),
            record_recurring: flag("record_recurring"),
            record_external: flag("record_external"),
            record_internal: flag("record_internal"),
            record_confirmed: flag("record_confirmed"),
            record_only_host: flag("record_only_host"),
            // Blank means "not set": the bot gets the default name.
            bot_name: v
                .get("bot_name")
                .and_then(Value::as_str)
                .map(str::trim)
                .filter(|n| !n.is_empty())
                .map(str::to_string),
        }
    }

    /// The name the user's bots join with.
    pub fn bot_name(&self) -> &str {
        self.bot_name.as_deref().unwrap_or(super::DEFAULT_BOT_NAME)
    }
}

/// The facts about a meeting that the recording decision reads.
#[derive(Debug, Clone)]
pub struct MeetingFacts {
    pub has_meeting_url: bool,
    pub is_all_day: bool,
    pub is_deleted: bool,
    pub end_time: i64,
    pub override_should_record: Option<bool>,
    pub is_hosted_by_me: bool,
    pub is_external: bool,
    pub is_recurring: bool,
    /// accepted | declined | tentative | not_available
    pub self_response: Option<String>,
}

/// `will_record` and `will_record_reason` exactly as api.md says: only meetings with a
/// URL, real times, not cancelled and not over; then the override; then every preference
/// that is true must hold; with none true nothing is recorded.
pub fn will_record(m: &MeetingFacts, prefs: &Preferences, now_ms: i64) -> (bool, String) {
    if !m.has_meeting_url {
        return (false, "The meeting has no meeting URL.".into());
    }
    if m.is_all_day {
        return (false, "All-day events are not recorded.".into());
    }
    if m.is_deleted {
        return (false, "The meeting was cancelled.".into());
    }
    if m.end_time <= now_ms {
        return (false, "The meeting has ended.".into());
    }
    match m.override_should_record {
        Some(true) => return (true, "override_should_record is true.".into()),
        Some(false) => return (false, "override_should_record is false.".into()),
        None => {}
    }
    let accepted = m.self_response.as_deref() == Some("accepted");
    let checks: [(&str, bool, bool, &str); 6] = [
        (
            "record_non_host",
            prefs.record_non_host,
            !m.is_hosted_by_me,
            "you are the host",
        ),
        (
            "record_external",
            prefs.record_external,
            m.is_external,
            "no attendee is external",
        ),
        (
            "record_internal",
            prefs.record_internal,
            !m.is_external,
            "an attendee is external",
        ),
        (
            "record_recurring",
            prefs.record_recurring,
            m.is_recurring,
            "the meeting does not recur",
        ),
        (
            "record_confirmed",
            prefs.record_confirmed,
            accepted,
            "you have not accepted it",
        ),
        (
            "record_only_host",
            prefs.record_only_host,
            m.is_hosted_by_me,
            "you are not the host",
        ),
    ];
    let enabled: Vec<_> = checks.iter().filter(|c| c.1).collect();
    if enabled.is_empty() {
        return (false, "No recording preference is enabled.".into());
    }
    let failed: Vec<String> = enabled
        .iter()
        .filter(|c| !c.2)
        .map(|c| format!("{} ({})", c.0, c.3))
        .collect();
    if failed.is_empty() {
        let names: Vec<&str> = enabled.iter().map(|c| c.0).collect();
        (true, format!("Matches preferences: {}.", names.join(", ")))
    } else {
        (false, format!("Preference not met: {}.", failed.join("; ")))
    }
}

fn domain(email: &str) -> Option<String> {
    email
        .rsplit_once('@')
        .map(|(_, d)| d.trim().to_ascii_lowercase())
        .filter(|d| !d.is_empty())
}

/// Whether some attendee's email domain differs from the user's. Calendar resources
/// (rooms, group calendars) are not people and do not count.
pub fn is_external(my_email: Option<&str>, attendees: &[Attendee]) -> bool {
    let Some(mine) = my_email.and_then(domain) else {
        return false;
    };
    attendees
        .iter()
        .filter_map(|a| domain(&a.email))
        .filter(|d| !d.ends_with("calendar.google.com"))
        .any(|d| d != mine)
}

/// The recording facts of a stored event (`is_external` worked out from its attendees).
pub fn facts_of(e: &StoredEvent) -> MeetingFacts {
    // The user's address: the connection's, else the organizer's when I host.
    let my_email = e.calendar_email.clone().or_else(|| {
        e.is_hosted_by_me
            .then(|| e.organizer_email.clone())
            .flatten()
    });
    MeetingFacts {
        has_meeting_url: e.meeting_url.is_some(),
        is_all_day: e.is_all_day,
        is_deleted: e.is_deleted,
        end_time: e.end_time,
        override_should_record: e.override_should_record,
        is_hosted_by_me: e.is_hosted_by_me,
        is_external: is_external(my_email.as_deref(), &e.attendees),
        is_recurring: e.is_recurring,
        self_response: e.self_response.clone(),
    }
}

/// Hands the bot scheduler the recording decisions of a V1 user's future meetings that
/// differ from what is scheduled (a will-record meeting without a bot, or an auto-recording
/// bot on a meeting that no longer should record). Runs after every sync of the user's
/// connections and after an override, so preference changes take effect within one sync
/// interval. Returns how many decisions were handed over.
pub async fn apply_will_record(state: &AppState, calendar_user_id: &str) -> ApiResult<usize> {
    let now = state.now_ms();
    let uid = calendar_user_id.to_string();
    let (prefs, events) = state
        .store
        .read(move |c| {
            let prefs = store::bots::user_preferences(c, &uid)?;
            let events = store::events::future_for_user(c, &uid, now)?;
            Ok::<_, store::StoreError>((prefs, events))
        })
        .await?;
    let Some(prefs) = prefs else {
        return Ok(0);
    };
    let prefs = Preferences::from_json(&prefs);
    let decisions: Vec<(String, bool)> = events
        .iter()
        .filter_map(|e| {
            let will = will_record(&facts_of(e), &prefs, now).0;
            let differs = if will {
                e.bot_id.is_none()
            } else {
                e.bot_source.as_deref().and_then(LinkSource::parse) == Some(LinkSource::Autorecord)
            };
            differs.then(|| (e.id.clone(), will))
        })
        .collect();
    if decisions.is_empty() {
        return Ok(0);
    }
    let n = decisions.len();
    super::autorecord::apply(state, calendar_user_id, decisions).await?;
    Ok(n)
}

#[cfg(test)]
mod tests {
    use super::*;

    const NOW: i64 = 1_000_000;

    fn facts() -> MeetingFacts {
        MeetingFacts {
            has_meeting_url: true,
            is_all_day: false,
            is_deleted: false,
            end_time: NOW + 1,
            override_should_record: None,
            is_hosted_by_me: false,
            is_external: true,
            is_recurring: false,
            self_response: Some("accepted".into()),
        }
    }

    fn prefs(f: impl FnOnce(&mut Preferences)) -> Preferences {
        let mut p = Preferences::default();
        f(&mut p);
        p
    }

    #[test]
    fn nothing_recorded_without_preferences() {
        assert!(!will_record(&facts(), &Preferences::default(), NOW).0);
    }

    #[test]
    fn gates_come_before_override() {
        let p = prefs(|p| p.record_external = true);
        for f in [
            MeetingFacts {
                has_meeting_url: false,
                ..facts()
            },
            MeetingFacts {
                is_all_day: true,
                ..facts()
            },
            MeetingFacts {
                is_deleted: true,
                ..facts()
            },
            MeetingFacts {
                end_time: NOW,
                ..facts()
            },
        ] {
            let f = MeetingFacts {
                override_should_record: Some(true),
                ..f
            };
            assert!(!will_record(&f, &p, NOW).0);
        }
    }

    #[test]
    fn override_decides_when_set() {
        let p = prefs(|p| p.record_external = true);
        let f = MeetingFacts {
            override_should_record: Some(false),
            ..facts()
        };
        assert!(!will_record(&f, &p, NOW).0);
        let f = MeetingFacts {
            override_should_record: Some(true),
            is_external: false,
            ..facts()
        };
        assert!(will_record(&f, &Preferences::default(), NOW).0);
    }

    #[test]
    fn every_true_preference_must_hold() {
        let p = prefs(|p| {
            p.record_external = true;
            p.record_recurring = true;
        });
        let (w, reason) = will_record(&facts(), &p, NOW);
        assert!(!w);
        assert!(reason.contains("record_recurring"), "{reason}");
        let f = MeetingFacts {
            is_recurring: true,
            ..facts()
        };
        assert!(will_record(&f, &p, NOW).0);
        // host / non-host / confirmed / internal
        let host = MeetingFacts {
            is_hosted_by_me: true,
            ..facts()
        };
        assert!(will_record(&host, &prefs(|p| p.record_only_host = true), NOW).0);
        assert!(!will_record(&host, &prefs(|p| p.record_non_host = true), NOW).0);
        assert!(will_record(&facts(), &prefs(|p| p.record_non_host = true), NOW).0);
        let tentative = MeetingFacts {
            self_response: Some("tentative".into()),
            ..facts()
        };
        assert!(!will_record(&tentative, &prefs(|p| p.record_confirmed = true), NOW).0);
        assert!(!will_record(&facts(), &prefs(|p| p.record_internal = true), NOW).0);
    }

    #[test]
    fn external_is_by_domain() {
        let a = |e: &str| Attendee {
            name: None,
            email: e.into(),
            is_organizer: false,
            status: "accepted".into(),
        };
        let inside = [
            a("me@acme.test"),
            a("Bob@ACME.test"),
            a("room@resource.calendar.google.com"),
        ];
        assert!(!is_external(Some("me@acme.test"), &inside));
        assert!(is_external(Some("me@acme.test"), &[a("x@partner.test")]));
        assert!(!is_external(None, &[a("x@partner.test")]));
    }
}
