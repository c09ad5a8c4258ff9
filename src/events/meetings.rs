//! V1 calendar meetings: a calendar user's synced events with the recording decision.
//!
//! `GET /api/v1/calendar/meetings/` (plain array), `GET/PUT .../meetings/{id}/`
//! (`override_should_record`), `POST .../meetings/refresh/` (sync now, then the array).

use actix_web::{web, HttpRequest, HttpResponse};
use serde::Deserialize;
use serde_json::{json, Value};

use crate::api::auth::CalendarUserAuth;
use crate::api::params::parse_time;
use crate::api::{parse_id, token_resource};
use crate::domain::{CalendarStatus, Platform};
use crate::error::{ApiError, ApiResult};
use crate::meeting_links::{self, MeetingLink, MeetingPlatform};
use crate::scheduling::will_record::{apply_will_record, facts_of, will_record, Preferences};
use crate::state::AppState;
use crate::store::events::StoredEvent;
use crate::store::{self, ms_to_rfc3339};

pub fn configure(cfg: &mut web::ServiceConfig) {
    // `refresh/` before `{id}/`, so it is never taken for an id.
    cfg.service(
        token_resource("/api/v1/calendar/meetings/refresh/").route(web::post().to(refresh)),
    )
    .service(token_resource("/api/v1/calendar/meetings/").route(web::get().to(list)))
    .service(
        token_resource("/api/v1/calendar/meetings/{id}/")
            .route(web::get().to(get_one))
            .route(web::put().to(update))
            .route(web::patch().to(update)),
    );
}

/// A CalendarMeeting.
pub fn meeting_json(e: &StoredEvent, prefs: &Preferences, now_ms: i64) -> Value {
    let facts = facts_of(e);
    let external = facts.is_external;
    let (will, reason) = will_record(&facts, prefs, now_ms);
    let platform = e.platform.v1_name();
    let mut out = json!({
        "id": e.id,
        "title": e.title,
        "start_time": ms_to_rfc3339(e.start_time),
        "end_time": ms_to_rfc3339(e.end_time),
        "platform": platform,
        "platform_id": e.platform_id,
        "ical_uid": e.ical_uid,
        "meeting_platform": e.meeting_platform,
        "meeting_url": e.meeting_url,
        "calendar_platform": platform,
        "organizer_email": e.organizer_email,
        "attendees": &e.attendees,
        "attendee_emails": e.attendees.iter().map(|a| a.email.as_str()).collect::<Vec<_>>(),
        "visibility": visibility(e.platform, &e.raw),
        "is_external": external,
        "is_hosted_by_me": e.is_hosted_by_me,
        "is_recurring": e.is_recurring,
        "override_should_record": e.override_should_record,
        "will_record": will,
        "will_record_reason": reason,
        "bot_id": e.bot_id,
        "zoom_invite": null,
        "teams_invite": null,
        "meet_invite": null,
        "webex_invite": null,
    });
    let link = e
        .meeting_platform
        .as_deref()
        .and_then(MeetingPlatform::parse)
        .zip(e.meeting_url.clone())
        .map(|(platform, url)| MeetingLink { platform, url });
    if let Some((field, invite)) = link.as_ref().and_then(meeting_links::invite) {
        out[field] = invite;
    }
    out
}

/// The event's visibility as the provider says it: Google `visibility` (absent means
/// `default`), Graph `sensitivity` (`normal` is `default`, `personal` is `private`);
/// `null` when unknown.
pub fn visibility(platform: Platform, raw: &str) -> Option<&'static str> {
    let raw: Value = serde_json::from_str(raw).ok()?;
    let known = |v: &str| match v {
        "default" | "normal" => Some("default"),
        "public" => Some("public"),
        "private" | "personal" => Some("private"),
        "confidential" => Some("confidential"),
        _ => None,
    };
    match platform {
        Platform::Google => match raw.get("visibility") {
            None => raw.is_object().then_some("default"),
            Some(v) => v.as_str().and_then(known),
        },
        Platform::Microsoft => raw
            .get("sensitivity")
            .and_then(Value::as_str)
            .and_then(known),
    }
}

#[derive(Deserialize)]
struct ListQuery {
    start_time_after: Option<String>,
    start_time_before: Option<String>,
    ical_uid: Option<String>,
}

async fn meetings(
    state: &AppState,
    auth: &CalendarUserAuth,
    req: &HttpRequest,
) -> ApiResult<Vec<Value>> {
    let q: ListQuery = serde_urlencoded::from_str(req.query_string())
        .map_err(|_| ApiError::BadRequest("Malformed query string.".into()))?;
    let after = q
        .start_time_after
        .as_deref()
        .map(|v| parse_time("start_time_after", v))
        .transpose()?;
    let before = q
        .start_time_before
        .as_deref()
        .map(|v| parse_time("start_time_before", v))
        .transpose()?;
    let user_id = auth.user.id.clone();
    let ical = q.ical_uid.clone();
    let rows = state
        .store
        .read(move |c| store::events::list_for_user(c, &user_id, after, before, ical.as_deref()))
        .await?;
    let prefs = Preferences::from_json(&auth.user.preferences);
    let now = state.now_ms();
    Ok(rows.iter().map(|e| meeting_json(e, &prefs, now)).collect())
}

async fn list(
    auth: CalendarUserAuth,
    state: web::Data<AppState>,
    req: HttpRequest,
) -> ApiResult<HttpResponse> {
    Ok(HttpResponse::Ok().json(meetings(&state, &auth, &req).await?))
}

async fn load(state: &AppState, auth: &CalendarUserAuth, id: &str) -> ApiResult<StoredEvent> {
    let id = parse_id(id)?;
    let user_id = auth.user.id.clone();
    state
        .store
        .read(move |c| store::events::get_for_user(c, &user_id, &id))
        .await?
        .ok_or(ApiError::NotFound)
}

async fn get_one(
    auth: CalendarUserAuth,
    state: web::Data<AppState>,
    path: web::Path<String>,
) -> ApiResult<HttpResponse> {
    let event = load(&state, &auth, &path).await?;
    let prefs = Preferences::from_json(&auth.user.preferences);
    Ok(HttpResponse::Ok().json(meeting_json(&event, &prefs, state.now_ms())))
}

async fn update(
    auth: CalendarUserAuth,
    state: web::Data<AppState>,
    path: web::Path<String>,
    body: web::Json<Value>,
) -> ApiResult<HttpResponse> {
    let event = load(&state, &auth, &path).await?;
    let value = match body.get("override_should_record") {
        None => {
            return Err(ApiError::field(
                "override_should_record",
                "This field is required.",
            ))
        }
        Some(Value::Null) => None,
        Some(Value::Bool(b)) => Some(*b),
        Some(_) => {
            return Err(ApiError::field(
                "override_should_record",
                "Must be true, false or null.",
            ))
        }
    };
    let id = event.id.clone();
    state
        .store
        .write(move |tx| store::events::set_override(tx, &id, value))
        .await?;
    apply_will_record(&state, &auth.user.id).await?;
    let event = load(&state, &auth, &event.id).await?;
    let prefs = Preferences::from_json(&auth.user.preferences);
    Ok(HttpResponse::Ok().json(meeting_json(&event, &prefs, state.now_ms())))
}

/// Syncs the user's connections now (failures are logged, the stored meetings are still
/// returned), then answers like the list.
async fn refresh(
    auth: CalendarUserAuth,
    state: web::Data<AppState>,
    req: HttpRequest,
) -> ApiResult<HttpResponse> {
    let user_id = auth.user.id.clone();
    let calendars = state
        .store
        .read(move |c| store::calendars::v1_for_user(c, &user_id))
        .await?;
    for cal in calendars
        .iter()
        .filter(|c| c.status != CalendarStatus::Disconnected)
    {
        if let Err(e) = crate::sync::sync_calendar(&state, &cal.id).await {
            tracing::warn!(calendar_id = %cal.id, error = %e, "refresh: sync failed");
        }
    }
    Ok(HttpResponse::Ok().json(meetings(&state, &auth, &req).await?))
}
