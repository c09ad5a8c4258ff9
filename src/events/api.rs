//! `GET /api/v2/calendar-events/` and `GET /api/v2/calendar-events/{id}/`.

use actix_web::{web, HttpRequest, HttpResponse};
use serde::Serialize;
use serde_json::value::RawValue;
use serde_json::{json, Value};

use crate::api::auth::ApiKeyAuth;
use crate::api::pagination::{build_page, PageRequest};
use crate::api::params::{parse_bool, parse_time};
use crate::api::{parse_id, resource};
use crate::domain::Platform;
use crate::error::{ApiError, ApiResult};
use crate::state::AppState;
use crate::store::events::{EventQuery, Ordering, StoredEvent};
use crate::store::{self, ms_to_rfc3339};

pub fn configure(cfg: &mut web::ServiceConfig) {
    cfg.service(resource("/api/v2/calendar-events/").route(web::get().to(list)))
        .service(resource("/api/v2/calendar-events/{id}/").route(web::get().to(get_one)));
}

/// A CalendarEvent as the API shows it.
#[derive(Debug, Serialize)]
pub struct CalendarEvent {
    pub id: String,
    pub calendar_id: String,
    pub platform: Platform,
    pub platform_id: String,
    pub ical_uid: Option<String>,
    pub start_time: String,
    pub end_time: String,
    pub meeting_platform: Option<String>,
    pub meeting_url: Option<String>,
    pub is_deleted: bool,
    /// The provider's JSON, byte for byte.
    pub raw: Box<RawValue>,
    pub bots: Vec<Value>,
    pub created_at: String,
    pub updated_at: String,
}

/// The API shape of a stored event with its `bots`.
pub fn to_api(e: &StoredEvent, bots: Vec<Value>) -> CalendarEvent {
    CalendarEvent {
        id: e.id.clone(),
        calendar_id: e.calendar_id.clone(),
        platform: e.platform,
        platform_id: e.platform_id.clone(),
        ical_uid: e.ical_uid.clone(),
        start_time: ms_to_rfc3339(e.start_time),
        end_time: ms_to_rfc3339(e.end_time),
        meeting_platform: e.meeting_platform.clone(),
        meeting_url: e.meeting_url.clone(),
        is_deleted: e.is_deleted,
        raw: RawValue::from_string(e.raw.clone())
            .unwrap_or_else(|_| RawValue::from_string("null".into()).expect("null is JSON")),
        bots,
        created_at: ms_to_rfc3339(e.created_at),
        updated_at: ms_to_rfc3339(e.updated_at),
    }
}

/// The event's `bots` (the bot scheduler's view), looked up only for events on a bot.
fn bots_of(c: &rusqlite::Connection, e: &StoredEvent) -> Result<Vec<Value>, store::StoreError> {
    match e.bot_id {
        Some(_) => store::bots::bots_json_for_event(c, &e.id),
        None => Ok(Vec::new()),
    }
}

fn ordering_name(o: Ordering) -> &'static str {
    match o {
        Ordering::StartTime => "start_time",
        Ordering::UpdatedAt => "updated_at",
    }
}

fn query_from_request(req: &HttpRequest) -> Result<EventQuery, ApiError> {
    let pairs: Vec<(String, String)> = serde_urlencoded::from_str(req.query_string())
        .map_err(|_| ApiError::BadRequest("Malformed query string.".into()))?;
    let mut q = EventQuery::default();
    for (k, v) in pairs {
        match k.as_str() {
            "calendar_id" => {
                let id = uuid::Uuid::parse_str(v.trim())
                    .map_err(|_| ApiError::field("calendar_id", "Must be a valid UUID."))?;
                q.calendar_id = Some(id.to_string());
            }
            "start_time__gte" => q.start_gte = Some(parse_time(&k, &v)?),
            "start_time__lte" => q.start_lte = Some(parse_time(&k, &v)?),
            "updated_at__gte" => q.updated_gte = Some(parse_time(&k, &v)?),
            "is_deleted" => q.is_deleted = Some(parse_bool(&k, &v)?),
            "ical_uid" => q.ical_uid = Some(v),
            "ordering" => {
                q.ordering = match v.trim() {
                    "" | "start_time" => Ordering::StartTime,
                    "updated_at" => Ordering::UpdatedAt,
                    _ => {
                        return Err(ApiError::field(
                            "ordering",
                            "Must be start_time or updated_at.",
                        ))
                    }
                }
            }
            _ => {}
        }
    }
    Ok(q)
}

async fn list(
    _auth: ApiKeyAuth,
    state: web::Data<AppState>,
    req: HttpRequest,
) -> ApiResult<HttpResponse> {
    let page = PageRequest::from_request(&state, &req)?;
    let mut q = query_from_request(&req)?;
    let ordering = ordering_name(q.ordering);
    if let Some(c) = &page.cursor {
        // Cursor keys are `[ordering, key]`; a cursor from another ordering is refused.
        let key = match &c.key {
            Value::Array(a) if a.len() == 2 && a[0] == ordering => a[1].as_i64(),
            _ => None,
        }
        .ok_or_else(|| ApiError::field("cursor", "Invalid cursor."))?;
        q.after = Some((key, c.id.clone()));
        q.backwards = c.back;
    }
    q.limit = page.page_size + 1;
    let events: Vec<Listed> = state
        .store
        .read(move |c| {
            let rows = store::events::list_for_api(c, &q)?;
            // The page's bots in a fixed number of queries, only for events on a bot.
            let on_bot: Vec<&str> = rows
                .iter()
                .filter(|e| e.bot_id.is_some())
                .map(|e| e.id.as_str())
                .collect();
            let mut bots = store::bots::bots_json_for_events(c, &on_bot)?;
            Ok::<_, store::StoreError>(
                rows.into_iter()
                    .map(|e| {
                        let bots = bots.remove(&e.id).unwrap_or_default();
                        Listed { event: e, bots }
                    })
                    .collect(),
            )
        })
        .await?;
    let by_updated = ordering == "updated_at";
    let body = build_page(&state, &req, &page, events, |l| {
        let key = if by_updated {
            l.event.updated_at
        } else {
            l.event.start_time
        };
        (json!([ordering, key]), l.event.id.clone())
    });
    // Written directly: the same bytes as serializing `Page<CalendarEvent>`, with each
    // `raw` copied from the stored text instead of parsed again.
    let mut out = Vec::with_capacity(
        64 + body
            .results
            .iter()
            .map(|l| l.event.raw.len() + 600)
            .sum::<usize>(),
    );
    out.extend_from_slice(b"{\"next\":");
    serde_json::to_writer(&mut out, &body.next).map_err(ApiError::internal)?;
    out.extend_from_slice(b",\"previous\":");
    serde_json::to_writer(&mut out, &body.previous).map_err(ApiError::internal)?;
    out.extend_from_slice(b",\"results\":[");
    for (i, l) in body.results.iter().enumerate() {
        if i > 0 {
            out.push(b',');
        }
        write_event(&mut out, &l.event, &l.bots).map_err(ApiError::internal)?;
    }
    out.extend_from_slice(b"]}");
    Ok(HttpResponse::Ok()
        .content_type(actix_web::http::header::ContentType::json())
        .body(out))
}

/// A listed event with its bots, before it is written.
struct Listed {
    event: StoredEvent,
    bots: Vec<Value>,
}

impl Serialize for Listed {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        to_api(&self.event, self.bots.clone()).serialize(s)
    }
}

/// Writes `e` exactly as `CalendarEvent`'s `Serialize` does (field order, compact), except
/// that `raw` is copied from the stored text (written by the sync as JSON) unparsed.
fn write_event(out: &mut Vec<u8>, e: &StoredEvent, bots: &[Value]) -> serde_json::Result<()> {
    fn field<T: Serialize + ?Sized>(
        out: &mut Vec<u8>,
        name: &str,
        value: &T,
    ) -> serde_json::Result<()> {
        if out.last() != Some(&b'{') {
            out.push(b',');
        }
        out.push(b'"');
        out.extend_from_slice(name.as_bytes());
        out.extend_from_slice(b"\":");
        serde_json::to_writer(&mut *out, value)
    }
    out.push(b'{');
    field(out, "id", &e.id)?;
    field(out, "calendar_id", &e.calendar_id)?;
    field(out, "platform", &e.platform)?;
    field(out, "platform_id", &e.platform_id)?;
    field(out, "ical_uid", &e.ical_uid)?;
    field(out, "start_time", &ms_to_rfc3339(e.start_time))?;
    field(out, "end_time", &ms_to_rfc3339(e.end_time))?;
    field(out, "meeting_platform", &e.meeting_platform)?;
    field(out, "meeting_url", &e.meeting_url)?;
    field(out, "is_deleted", &e.is_deleted)?;
    out.extend_from_slice(b",\"raw\":");
    let raw = e.raw.trim();
    if raw.is_empty() {
        out.extend_from_slice(b"null");
    } else {
        out.extend_from_slice(raw.as_bytes());
    }
    field(out, "bots", bots)?;
    field(out, "created_at", &ms_to_rfc3339(e.created_at))?;
    field(out, "updated_at", &ms_to_rfc3339(e.updated_at))?;
    out.push(b'}');
    Ok(())
}

/// The CalendarEvent JSON (contract fields + `bots`), or `None` when there is no such event.
pub async fn event_json(state: &AppState, event_id: &str) -> ApiResult<Option<CalendarEvent>> {
    let id = event_id.to_string();
    Ok(state
        .store
        .read(move |c| {
            store::events::get(c, &id)?
                .map(|e| Ok::<_, store::StoreError>(to_api(&e, bots_of(c, &e)?)))
                .transpose()
        })
        .await?)
}

async fn get_one(
    _auth: ApiKeyAuth,
    state: web::Data<AppState>,
    path: web::Path<String>,
) -> ApiResult<HttpResponse> {
    let id = parse_id(&path)?;
    let event = event_json(&state, &id).await?.ok_or(ApiError::NotFound)?;
    Ok(HttpResponse::Ok().json(event))
}
