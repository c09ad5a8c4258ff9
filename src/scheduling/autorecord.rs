//! V1 auto-recording: meetings whose `will_record` is true get a bot through the same
//! machinery as the V2 endpoint, keyed `{start_time RFC 3339}-{meeting_url}` so colleagues
//! in the same meeting share one bot, named by the user's `bot_name` preference. Sync
//! computes `will_record` and calls [`apply`] with its decisions.

use serde_json::{json, Map};

use super::{dedup, new_bot_mode, ScheduleError};
use crate::domain::LinkSource;
use crate::state::AppState;
use crate::store::bots as db;
use crate::store::StoreError;

/// What [`apply`] did, per event.
#[derive(Debug, Default, Clone)]
pub struct ApplyReport {
    /// (event id, bot id) of events now on a bot.
    pub scheduled: Vec<(String, String)>,
    /// Events taken off their bot.
    pub removed: Vec<String>,
    /// (event id, why) of decisions left alone.
    pub skipped: Vec<(String, String)>,
}

/// The user's `bot_name` preference, or the default.
pub fn bot_name_from_preferences(preferences: &str) -> String {
    super::will_record::Preferences::from_json(preferences)
        .bot_name()
        .to_string()
}

/// Applies `will_record` decisions for one V1 user's events: true → the event is on the
/// shared bot for its key; false → it leaves its auto-recording bot (cancelled when no
/// colleague's event uses it). Events that already started are left alone (their bots are
/// history), and so are events the app scheduled through the V2 endpoint.
pub async fn apply(
    state: &AppState,
    calendar_user_id: &str,
    decisions: Vec<(String, bool)>,
) -> Result<ApplyReport, StoreError> {
    let mode = new_bot_mode(state);
    let now = state.now_ms();
    let user_id = calendar_user_id.to_string();
    let report = state
        .store
        .write(move |tx| {
            let mut report = ApplyReport::default();
            let Some(prefs) = db::user_preferences(tx, &user_id)? else {
                for (event_id, _) in decisions {
                    report
                        .skipped
                        .push((event_id, "no such calendar user".into()));
                }
                return Ok(report);
            };
            let mut config = Map::new();
            config.insert("bot_name".into(), json!(bot_name_from_preferences(&prefs)));
            for (event_id, will_record) in decisions {
                let skip = |report: &mut ApplyReport, why: &str| {
                    report.skipped.push((event_id.clone(), why.to_string()))
                };
                let Some(event) = db::get_event(tx, &event_id)? else {
                    skip(&mut report, "no such event");
                    continue;
                };
                if event.calendar_user_id.as_deref() != Some(user_id.as_str()) {
                    skip(&mut report, "not this user's event");
                    continue;
                }
                if event.start_time <= now {
                    skip(&mut report, "the event has started");
                    continue;
                }
                let link = db::link_for_event(tx, &event.id)?;
                if link.as_ref().is_some_and(|l| l.source == LinkSource::Api) {
                    skip(&mut report, "scheduled through the API");
                    continue;
                }
                let url = event
                    .meeting_url
                    .as_deref()
                    .map(str::trim)
                    .filter(|u| !u.is_empty());
                let (true, Some(url)) = (will_record, url) else {
                    let why = if will_record {
                        "the event has no meeting URL"
                    } else {
                        "will_record is false"
                    };
                    if dedup::unschedule(tx, &event.id, Some(LinkSource::Autorecord), why, now)? {
                        report.removed.push(event.id.clone());
                    } else if will_record {
                        skip(&mut report, why);
                    }
                    continue;
                };
                let key = dedup::v1_key(event.start_time, url);
                match dedup::schedule(tx, &event, &key, &config, LinkSource::Autorecord, mode, now)
                {
                    Ok((bot_id, _)) => report.scheduled.push((event.id.clone(), bot_id)),
                    Err(ScheduleError::Store(e)) => return Err(e),
                    Err(e) => skip(&mut report, &e.to_string()),
                }
            }
            Ok(report)
        })
        .await?;
    super::wake(state);
    Ok(report)
}

#[cfg(test)]
mod tests {
    use super::super::DEFAULT_BOT_NAME;
    use super::*;

    #[test]
    fn bot_name_comes_from_preferences_or_default() {
        assert_eq!(bot_name_from_preferences(r#"{"bot_name": " Ada "}"#), "Ada");
        assert_eq!(
            bot_name_from_preferences(r#"{"bot_name": ""}"#),
            DEFAULT_BOT_NAME
        );
        assert_eq!(bot_name_from_preferences("{}"), DEFAULT_BOT_NAME);
        assert_eq!(bot_name_from_preferences("not json"), DEFAULT_BOT_NAME);
        // The decision's own reading of the preferences agrees (it once kept "" and spaces).
        for blank in [r#"{"bot_name": ""}"#, r#"{"bot_name": "  "}"#] {
            let prefs = crate::scheduling::will_record::Preferences::from_json(blank);
            assert_eq!(prefs.bot_name(), DEFAULT_BOT_NAME);
        }
    }
}
