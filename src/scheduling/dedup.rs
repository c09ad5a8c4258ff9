//! The scheduling rules, each run inside the caller's write transaction (so two writers
//! never interleave): one live bot per deduplication key (the partial UNIQUE index on
//! `bots(dedup_key) WHERE active = 1` backs it), last call wins for a bot's config, a bot is
//! cancelled only when no event uses it any more.
//!
//! Local bots announce themselves with `bot.scheduled` / `bot.cancelled` webhooks written in
//! the same transaction; backend bots get a `bot_operations` row for the dispatcher.

use rusqlite::Transaction;
use serde_json::{json, Map, Value};

use super::{ScheduleError, DEFAULT_BOT_NAME};
use crate::domain::{BotMode, BotOpKind, BotStatus, LinkSource};
use crate::store::bots::{self as db, Bot, EventRow, Link};
use crate::store::outbox::{self, OutboxEvent};
use crate::store::{ms_to_rfc3339, StoreError};

/// The V1 auto-recording key: `{start_time RFC 3339}-{meeting_url}`, so colleagues invited
/// to the same meeting share one bot.
pub fn v1_key(start_time_ms: i64, meeting_url: &str) -> String {
    format!("{}-{}", ms_to_rfc3339(start_time_ms), meeting_url.trim())
}

/// What a bot for one event looks like once defaults are applied.
#[derive(Debug, Clone, PartialEq)]
pub struct Effective {
    pub meeting_url: String,
    pub join_at: i64,
    pub bot_name: String,
    pub explicit_url: bool,
    /// `bot_config.join_at` relative to the event start, when given (kept when it moves).
    pub join_offset_ms: Option<i64>,
}

fn config_str<'a>(
    config: &'a Map<String, Value>,
    field: &str,
) -> Result<Option<&'a str>, ScheduleError> {
    match config.get(field) {
        None | Some(Value::Null) => Ok(None),
        Some(Value::String(s)) if s.trim().is_empty() => Ok(None),
        Some(Value::String(s)) => Ok(Some(s.trim())),
        Some(_) => Err(ScheduleError::InvalidConfig(format!(
            "{field} must be a string."
        ))),
    }
}

/// Applies the defaults: `meeting_url` from the event, `join_at` = the event start.
pub fn effective(
    event: &EventRow,
    config: &Map<String, Value>,
) -> Result<Effective, ScheduleError> {
    let explicit_url = config_str(config, "meeting_url")?;
    let meeting_url = match explicit_url {
        Some(u) => u.to_string(),
        None => event
            .meeting_url
            .as_deref()
            .map(str::trim)
            .filter(|u| !u.is_empty())
            .ok_or(ScheduleError::NoMeetingUrl)?
            .to_string(),
    };
    let join_offset_ms = match config_str(config, "join_at")? {
        None => None,
        Some(s) => {
            let at = chrono::DateTime::parse_from_rfc3339(s).map_err(|_| {
                ScheduleError::InvalidConfig("join_at must be an RFC 3339 date-time.".into())
            })?;
            Some(at.timestamp_millis() - event.start_time)
        }
    };
    let bot_name = config_str(config, "bot_name")?
        .unwrap_or(DEFAULT_BOT_NAME)
        .to_string();
    Ok(Effective {
        meeting_url,
        join_at: event.start_time + join_offset_ms.unwrap_or(0),
        bot_name,
        explicit_url: explicit_url.is_some(),
        join_offset_ms,
    })
}

/// The same for an already linked event, from the config stored on its link (so a moved
/// event keeps an explicit join offset and an explicit meeting URL).
pub fn effective_for_link(
    link: &Link,
    start_time: i64,
    event_meeting_url: Option<&str>,
) -> Result<Effective, ScheduleError> {
    let config = parse_config(&link.bot_config);
    let meeting_url = if link.explicit_url {
        config_str(&config, "meeting_url")?.map(str::to_string)
    } else {
        event_meeting_url
            .map(str::trim)
            .filter(|u| !u.is_empty())
            .map(str::to_string)
    }
    .ok_or(ScheduleError::NoMeetingUrl)?;
    let bot_name = config_str(&config, "bot_name")?
        .unwrap_or(DEFAULT_BOT_NAME)
        .to_string();
    Ok(Effective {
        meeting_url,
        join_at: start_time + link.join_offset_ms.unwrap_or(0),
        bot_name,
        explicit_url: link.explicit_url,
        join_offset_ms: link.join_offset_ms,
    })
}

pub fn parse_config(text: &str) -> Map<String, Value> {
    match serde_json::from_str(text) {
        Ok(Value::Object(m)) => m,
        _ => Map::new(),
    }
}

/// The backend's create body: the bot_config with the effective `meeting_url`, `join_at`
/// and `bot_name`.
pub fn create_body(config: &Map<String, Value>, eff: &Effective) -> String {
    let mut body = config.clone();
    body.insert("meeting_url".into(), json!(eff.meeting_url));
    body.insert("join_at".into(), json!(ms_to_rfc3339(eff.join_at)));
    body.insert("bot_name".into(), json!(eff.bot_name));
    Value::Object(body).to_string()
}

/// Puts `event` on the bot for `key` with `config` (replacing what the event had). Returns
/// the bot id and whether anything changed.
pub fn schedule(
    tx: &Transaction,
    event: &EventRow,
    key: &str,
    config: &Map<String, Value>,
    source: LinkSource,
    mode: BotMode,
    now_ms: i64,
) -> Result<(String, bool), ScheduleError> {
    if event.is_deleted {
        return Err(ScheduleError::EventDeleted);
    }
    if event.start_time <= now_ms {
        return Err(ScheduleError::EventStarted);
    }
    let eff = effective(event, config)?;
    if eff.join_at <= now_ms {
        return Err(ScheduleError::JoinAtPast);
    }
    retire_started(tx, now_ms)?;
    let config_text = Value::Object(config.clone()).to_string();
    let link = Link {
        event_id: event.id.clone(),
        bot_id: String::new(),
        source,
        bot_config: config_text.clone(),
        explicit_url: eff.explicit_url,
        join_offset_ms: eff.join_offset_ms,
        event_start_time: event.start_time,
        event_meeting_url: event.meeting_url.clone(),
    };

    // Already on the live bot for this key: update it in place (last call wins).
    if let Some(current) = db::link_for_event(tx, &event.id)? {
        if let Some(bot) = db::get_bot(tx, &current.bot_id)? {
            if bot.active && bot.dedup_key == key {
                let link = Link {
                    bot_id: bot.id.clone(),
                    ..link
                };
                let link_changed = !same_link(&current, &link);
                if link_changed {
                    db::upsert_link(tx, &link, now_ms)?;
                }
                let bot_changed = apply_desired(
                    tx,
                    &bot,
                    &eff,
                    &config_text,
                    &format!("bot_config replaced by event {}", event.id),
                    Some(&event.id),
                    now_ms,
                )?;
                if link_changed || bot_changed {
                    db::touch_event(tx, &event.id, now_ms)?;
                }
                return Ok((bot.id, link_changed || bot_changed));
            }
        }
        detach(
            tx,
            &current,
            "it was scheduled again with another key",
            now_ms,
        )?;
    }

    // Join the live bot for this key (last call wins), or make one.
    let joined = db::live_bot_for_key(tx, key)?;
    let bot_id = match &joined {
        Some(bot) => bot.id.clone(),
        None => {
            let id = uuid::Uuid::new_v4().to_string();
            create_bot(
                tx,
                &id,
                key,
                &eff,
                config,
                &config_text,
                mode,
                &event.id,
                now_ms,
            )?;
            id
        }
    };
    db::upsert_link(
        tx,
        &Link {
            bot_id: bot_id.clone(),
            ..link
        },
        now_ms,
    )?;
    if let Some(bot) = joined {
        apply_desired(
            tx,
            &bot,
            &eff,
            &config_text,
            &format!("event {} joined (last call wins)", event.id),
            Some(&event.id),
            now_ms,
        )?;
    }
    db::touch_event(tx, &event.id, now_ms)?;
    Ok((bot_id, true))
}

fn same_link(a: &Link, b: &Link) -> bool {
    a.bot_id == b.bot_id
        && a.source == b.source
        && a.bot_config == b.bot_config
        && a.explicit_url == b.explicit_url
        && a.join_offset_ms == b.join_offset_ms
        && a.event_start_time == b.event_start_time
        && a.event_meeting_url == b.event_meeting_url
}

/// Removes the event from its bot if that bot is still to come (past bots stay on their
/// events). `only` limits it to links made by one source. Returns whether it detached.
pub fn unschedule(
    tx: &Transaction,
    event_id: &str,
    only: Option<LinkSource>,
    reason: &str,
    now_ms: i64,
) -> Result<bool, StoreError> {
    let Some(link) = db::link_for_event(tx, event_id)? else {
        return Ok(false);
    };
    if only.is_some_and(|s| s != link.source) {
        return Ok(false);
    }
    let Some(bot) = db::get_bot(tx, &link.bot_id)? else {
        return Ok(false);
    };
    if !bot.active && bot.status != BotStatus::Cancelled {
        return Ok(false);
    }
    detach(tx, &link, reason, now_ms)?;
    Ok(true)
}

/// Removes one event from its bot; cancels the bot when it was live and no event uses it.
pub fn detach(tx: &Transaction, link: &Link, reason: &str, now_ms: i64) -> Result<(), StoreError> {
    db::delete_link(tx, &link.event_id)?;
    db::touch_event(tx, &link.event_id, now_ms)?;
    let Some(bot) = db::get_bot(tx, &link.bot_id)? else {
        return Ok(());
    };
    db::add_history(
        tx,
        &bot.id,
        bot.version,
        bot.status,
        &format!("event {} removed: {reason}", link.event_id),
        Some(&link.event_id),
        now_ms,
    )?;
    if bot.active && db::link_count(tx, &bot.id)? == 0 {
        cancel_bot(tx, &bot, "no event uses it any more", now_ms)?;
    }
    Ok(())
}

/// Bots whose join time has come stop being dedup targets.
pub fn retire_started(tx: &Transaction, now_ms: i64) -> Result<(), StoreError> {
    for (id, version, status) in db::retire_started(tx, now_ms)? {
        db::add_history(
            tx,
            &id,
            version,
            status,
            "join time reached; its key is free for new bots",
            None,
            now_ms,
        )?;
    }
    Ok(())
}

#[allow(clippy::too_many_arguments)]
fn create_bot(
    tx: &Transaction,
    id: &str,
    key: &str,
    eff: &Effective,
    config: &Map<String, Value>,
    config_text: &str,
    mode: BotMode,
    event_id: &str,
    now_ms: i64,
) -> Result<(), StoreError> {
    db::insert_bot(
        tx,
        &db::NewBot {
            id,
            dedup_key: key,
            mode,
            meeting_url: &eff.meeting_url,
            join_at: eff.join_at,
            bot_name: &eff.bot_name,
            config: config_text,
            status: BotStatus::Scheduled,
        },
        now_ms,
    )?;
    db::add_history(
        tx,
        id,
        1,
        BotStatus::Scheduled,
        &format!("created for event {event_id}"),
        Some(event_id),
        now_ms,
    )?;
    match mode {
        BotMode::Local => {
            let bot = db::get_bot(tx, id)?.expect("bot just inserted");
            announce(tx, "bot.scheduled", &bot, &[event_id.to_string()], now_ms)?;
        }
        BotMode::Backend => {
            db::insert_op(
                tx,
                id,
                1,
                BotOpKind::Create,
                Some(&create_body(config, eff)),
                now_ms,
            )?;
        }
    }
    Ok(())
}

/// Makes the bot what `eff` says (last call or last change wins). Returns whether it changed.
/// Re-applying to a failed bot queues its backend call again (the way to retry by hand).
pub fn apply_desired(
    tx: &Transaction,
    bot: &Bot,
    eff: &Effective,
    config_text: &str,
    note: &str,
    event_id: Option<&str>,
    now_ms: i64,
) -> Result<bool, StoreError> {
    let url_changed = bot.meeting_url != eff.meeting_url;
    let join_changed = bot.join_at != eff.join_at;
    let changed =
        url_changed || join_changed || bot.bot_name != eff.bot_name || bot.config != config_text;
    if !changed && bot.status != BotStatus::Failed {
        return Ok(false);
    }
    let version = db::set_desired(
        tx,
        &bot.id,
        &eff.meeting_url,
        eff.join_at,
        &eff.bot_name,
        config_text,
        now_ms,
    )?;
    let what = if url_changed {
        "meeting link changed"
    } else if join_changed {
        "start time changed"
    } else if changed {
        "config changed"
    } else {
        "retry requested"
    };
    let note = format!("{note}: {what}");
    if bot.mode == BotMode::Local {
        db::set_status(tx, &bot.id, BotStatus::Scheduled, None, now_ms)?;
        db::add_history(
            tx,
            &bot.id,
            version,
            BotStatus::Scheduled,
            &note,
            event_id,
            now_ms,
        )?;
        let bot = db::get_bot(tx, &bot.id)?.expect("bot exists");
        let events = db::linked_event_ids(tx, &bot.id)?;
        announce(tx, "bot.scheduled", &bot, &events, now_ms)?;
    } else {
        let may_exist = db::backend_may_have_bot(tx, &bot.id)?;
        db::supersede_unsent_ops(tx, &bot.id, now_ms)?;
        let (op, status) = match (may_exist, url_changed) {
            (false, _) => (BotOpKind::Create, BotStatus::Scheduled),
            (true, true) => (BotOpKind::Recreate, BotStatus::Moving),
            (true, false) => (BotOpKind::Move, BotStatus::Moving),
        };
        let body = create_body(&parse_config(config_text), eff);
        db::insert_op(tx, &bot.id, version, op, Some(&body), now_ms)?;
        db::set_status(tx, &bot.id, status, bot.last_error.as_deref(), now_ms)?;
        db::add_history(tx, &bot.id, version, status, &note, event_id, now_ms)?;
    }
    if url_changed || join_changed {
        db::touch_events_of_bot(tx, &bot.id, now_ms)?;
    }
    Ok(true)
}

/// Cancels a bot no event wants: locally at once (webhook), at the backend through a
/// delete op, or directly when the backend never heard of it.
pub fn cancel_bot(
    tx: &Transaction,
    bot: &Bot,
    reason: &str,
    now_ms: i64,
) -> Result<(), StoreError> {
    let events = db::linked_event_ids(tx, &bot.id)?;
    let version = db::set_cancelled_desired(tx, &bot.id, now_ms)?;
    let note = format!("cancelled: {reason}");
    if bot.mode == BotMode::Local {
        db::set_status(tx, &bot.id, BotStatus::Cancelled, None, now_ms)?;
        db::add_history(
            tx,
            &bot.id,
            version,
            BotStatus::Cancelled,
            &note,
            None,
            now_ms,
        )?;
        let bot = db::get_bot(tx, &bot.id)?.expect("bot exists");
        announce(tx, "bot.cancelled", &bot, &events, now_ms)?;
        return Ok(());
    }
    let may_exist = db::backend_may_have_bot(tx, &bot.id)?;
    db::supersede_unsent_ops(tx, &bot.id, now_ms)?;
    if may_exist {
        db::insert_op(tx, &bot.id, version, BotOpKind::Delete, None, now_ms)?;
        db::set_status(
            tx,
            &bot.id,
            BotStatus::Cancelling,
            bot.last_error.as_deref(),
            now_ms,
        )?;
        db::add_history(
            tx,
            &bot.id,
            version,
            BotStatus::Cancelling,
            &note,
            None,
            now_ms,
        )?;
    } else {
        db::set_status(tx, &bot.id, BotStatus::Cancelled, None, now_ms)?;
        db::add_history(
            tx,
            &bot.id,
            version,
            BotStatus::Cancelled,
            &format!("{note} (never reached the backend)"),
            None,
            now_ms,
        )?;
    }
    Ok(())
}

/// `bot.scheduled` / `bot.cancelled` for a local bot, ordered per bot.
fn announce(
    tx: &Transaction,
    event_type: &str,
    bot: &Bot,
    event_ids: &[String],
    now_ms: i64,
) -> Result<(), StoreError> {
    let data = json!({
        "bot_id": bot.id,
        "deduplication_key": bot.dedup_key,
        "meeting_url": bot.meeting_url,
        "join_at": ms_to_rfc3339(bot.join_at),
        "bot_name": bot.bot_name,
        "bot_config": Value::Object(parse_config(&bot.config)),
        "calendar_event_ids": event_ids,
        "version": bot.version,
    });
    outbox::enqueue(
        tx,
        &OutboxEvent {
            event_type: event_type.into(),
            ordering_key: bot.id.clone(),
            data,
            extra_url: None,
        },
        now_ms,
    )?;
    Ok(())
}
