//! `GET /api/v2/calendar-events/` and `GET /api/v2/calendar-events/{id}/`.

use actix_web::{web, HttpRequest, HttpResponse};
use serde::Serialize;
use serde_json::value::RawValue;
use serde_json::{json, Value};

use crate::api::auth::ApiKeyAuth;
use crate::api::body_buffer::BodyBuffer;
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
    let by_updated = q.ordering == Ordering::UpdatedAt;
    let page_size = page.page_size;
    // Each event is written straight from SQLite's row (borrowed, nothing copied into
    // owned fields), in place when it can (`Store::read_in_place`); the page's bots in a fixed number of queries,
    // only for events on a bot, spliced in where each event's `bots` goes.
    let (written, rows, mut bots) = state
        .store
        .read_in_place(move |c| {
            // Room for the head and typical events (about 2 KB each, 4 KB kept): rarely regrown.
            let mut written = BodyBuffer::with_capacity(HEAD_ROOM + page_size * 4096 + 2);
            written.resize(HEAD_ROOM, b' ');
            let mut rows: Vec<Written> = Vec::with_capacity(q.limit);
            store::events::for_each_api_row(c, &q, |r| {
                // The row past the page only says that another page follows.
                let listed = rows.len() < page_size;
                if listed && !rows.is_empty() {
                    written.push(b',');
                }
                let start = written.len();
                let mut bots_at = start;
                if listed {
                    bots_at = write_event_head(&mut written, &r);
                    if !r.on_bot {
                        written.extend_from_slice(b"[]");
                    }
                    write_event_tail(&mut written, &r);
                }
                rows.push(Written {
                    key: if by_updated {
                        r.updated_at
                    } else {
                        r.start_time
                    },
                    id: r.id.to_string(),
                    on_bot: r.on_bot,
                    span: (start, bots_at, written.len()),
                });
            })?;
            let on_bot: Vec<&str> = rows
                .iter()
                .take(page_size)
                .filter(|w| w.on_bot)
                .map(|w| w.id.as_str())
                .collect();
            let bots = store::bots::bots_json_for_events(c, &on_bot)?;
            Ok::<_, store::StoreError>((written, rows, bots))
        })
        .await?;
    let body = build_page(&state, &req, &page, rows, |w| {
        (json!([ordering, w.key]), w.id.clone())
    });
    // The same bytes as serializing `Page<CalendarEvent>`, with each `raw` copied from the
    // stored text instead of parsed again.
    let mut head = Vec::with_capacity(512);
    head.extend_from_slice(b"{\"next\":");
    serde_json::to_writer(&mut head, &body.next).map_err(ApiError::internal)?;
    head.extend_from_slice(b",\"previous\":");
    serde_json::to_writer(&mut head, &body.previous).map_err(ApiError::internal)?;
    head.extend_from_slice(b",\"results\":[");
    let json_type = actix_web::http::header::ContentType::json();
    // A forward page without bots is already written in order, commas between events:
    // the head goes into the room before them and the buffer is sent without a copy.
    if !page.backwards() && !body.results.iter().any(|w| w.on_bot) && head.len() <= HEAD_ROOM {
        let mut written = written;
        let at = HEAD_ROOM - head.len();
        written[at..HEAD_ROOM].copy_from_slice(&head);
        written.extend_from_slice(b"]}");
        let bytes = written.into_bytes().slice(at..);
        return Ok(HttpResponse::Ok().content_type(json_type).body(bytes));
    }
    let mut out = head;
    out.reserve(written.len());
    for (i, w) in body.results.iter().enumerate() {
        if i > 0 {
            out.push(b',');
        }
        let (start, bots_at, end) = w.span;
        if !w.on_bot {
            out.extend_from_slice(&written[start..end]);
            continue;
        }
        out.extend_from_slice(&written[start..bots_at]);
        match bots.remove(&w.id) {
            Some(b) => serde_json::to_writer(&mut out, &b).map_err(ApiError::internal)?,
            None => out.extend_from_slice(b"[]"),
        }
        out.extend_from_slice(&written[bots_at..end]);
    }
    out.extend_from_slice(b"]}");
    Ok(HttpResponse::Ok().content_type(json_type).body(out))
}

/// Room kept before a page's events for its head (`{"next":…,"previous":…,"results":[`).
const HEAD_ROOM: usize = 2048;

/// A listed event written into the page's buffer: its sort key and id (for the cursors),
/// and where its bytes are, `span.0..span.2`; an event on a bot has its `bots` left out,
/// to be inserted at `span.1`.
#[derive(Serialize)]
struct Written {
    key: i64,
    id: String,
    on_bot: bool,
    span: (usize, usize, usize),
}

/// A JSON string, escaped as serde_json escapes it; one without anything to escape (ids,
/// URLs, most titles) is copied as it is.
fn string(out: &mut Vec<u8>, s: &str) {
    if !needs_escape(s.as_bytes()) {
        out.reserve(s.len() + 2);
        out.push(b'"');
        out.extend_from_slice(s.as_bytes());
        out.push(b'"');
    } else {
        serde_json::to_writer(&mut *out, s).expect("writing to a Vec cannot fail");
    }
}

/// Whether JSON escapes any byte of `s` (`"`, `\\` or a control character), checked eight
/// bytes at a time: ids, URLs and platform ids are most of a page's strings.
fn needs_escape(s: &[u8]) -> bool {
    const ONES: u64 = 0x0101_0101_0101_0101;
    const HIGH: u64 = 0x8080_8080_8080_8080;
    // Whether a byte of `x` is below `n` (n <= 128), and whether one is zero: exact as a
    // yes/no (a borrow can only spread past a byte that already answered yes).
    let below = |x: u64, n: u8| x.wrapping_sub(ONES * n as u64) & !x & HIGH != 0;
    let has = |x: u64, b: u8| below(x ^ (ONES * b as u64), 1);
    let mut chunks = s.chunks_exact(8);
    for c in &mut chunks {
        let x = u64::from_le_bytes(c.try_into().expect("eight bytes"));
        if below(x, 0x20) || has(x, b'"') || has(x, b'\\') {
            return true;
        }
    }
    chunks
        .remainder()
        .iter()
        .any(|&b| b < 0x20 || b == b'"' || b == b'\\')
}

fn opt_string(out: &mut Vec<u8>, s: Option<&str>) {
    match s {
        Some(s) => string(out, s),
        None => out.extend_from_slice(b"null"),
    }
}

/// Writes `e` exactly as `CalendarEvent`'s `Serialize` does (field order, compact) up to
/// and including `"bots":`, with `raw` copied from the stored text (written by the sync as
/// JSON) unparsed; returns where the `bots` value goes. [`write_event_tail`] writes the rest.
fn write_event_head(out: &mut Vec<u8>, e: &store::events::ApiRow) -> usize {
    out.extend_from_slice(b"{\"id\":");
    string(out, e.id);
    out.extend_from_slice(b",\"calendar_id\":");
    string(out, e.calendar_id);
    out.extend_from_slice(b",\"platform\":");
    string(out, e.platform.v2_name());
    out.extend_from_slice(b",\"platform_id\":");
    string(out, e.platform_id);
    out.extend_from_slice(b",\"ical_uid\":");
    opt_string(out, e.ical_uid);
    out.extend_from_slice(b",\"start_time\":");
    write_time(out, e.start_time);
    out.extend_from_slice(b",\"end_time\":");
    write_time(out, e.end_time);
    out.extend_from_slice(b",\"meeting_platform\":");
    opt_string(out, e.meeting_platform);
    out.extend_from_slice(b",\"meeting_url\":");
    opt_string(out, e.meeting_url);
    out.extend_from_slice(if e.is_deleted {
        b",\"is_deleted\":true,\"raw\":"
    } else {
        b",\"is_deleted\":false,\"raw\":"
    });
    let raw = e.raw.trim_ascii();
    if raw.is_empty() {
        out.extend_from_slice(b"null");
    } else {
        out.extend_from_slice(raw);
    }
    out.extend_from_slice(b",\"bots\":");
    out.len()
}

/// The fields after `bots`, and the closing brace.
fn write_event_tail(out: &mut Vec<u8>, e: &store::events::ApiRow) {
    out.extend_from_slice(b",\"created_at\":");
    write_time(out, e.created_at);
    out.extend_from_slice(b",\"updated_at\":");
    write_time(out, e.updated_at);
    out.push(b'}');
}

/// Milliseconds since the epoch as the JSON string [`store::ms_to_rfc3339`] gives
/// (`"YYYY-MM-DDTHH:MM:SS.mmmZ"`), written without allocating for years 0 to 9999.
pub fn write_time(out: &mut Vec<u8>, ms: i64) {
    // 0000-01-01T00:00:00Z and 10000-01-01T00:00:00Z.
    const FROM: i64 = -62_167_219_200_000;
    const UNTIL: i64 = 253_402_300_800_000;
    if !(FROM..UNTIL).contains(&ms) {
        string(out, &ms_to_rfc3339(ms));
        return;
    }
    let (days, in_day) = (ms.div_euclid(86_400_000), ms.rem_euclid(86_400_000));
    // Civil date from days since 1970-01-01 (H. Hinnant's `civil_from_days`).
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = doy - (153 * mp + 2) / 5 + 1;
    let month = if mp < 10 { mp + 3 } else { mp - 9 };
    let year = yoe + era * 400 + i64::from(month <= 2);
    let (secs, milli) = (in_day / 1000, in_day % 1000);
    let mut b = *b"\"0000-00-00T00:00:00.000Z\"";
    // Two digits at a time from a table (this runs four times per listed event).
    const PAIRS: [u8; 200] = {
        let mut t = [0u8; 200];
        let mut i = 0;
        while i < 100 {
            t[2 * i] = b'0' + (i / 10) as u8;
            t[2 * i + 1] = b'0' + (i % 10) as u8;
            i += 1;
        }
        t
    };
    let mut two = |at: usize, v: i64| {
        let v = v as usize * 2;
        b[at..at + 2].copy_from_slice(&PAIRS[v..v + 2]);
    };
    two(1, year / 100);
    two(3, year % 100);
    two(6, month);
    two(9, day);
    two(12, secs / 3600);
    two(15, secs / 60 % 60);
    two(18, secs % 60);
    two(22, milli % 100);
    b[21] = b'0' + (milli / 100) as u8;
    out.extend_from_slice(&b);
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

#[cfg(test)]
mod tests {
    #[test]
    fn strings_are_written_as_serde_writes_them() {
        let mut samples: Vec<String> = [
            "",
            "plain-id_123",
            "https://meet.google.com/abc-defg-hij?pwd=x&y=1",
            "a \"quoted\" \\ back\\slash",
            "tab\tnew\nline\r",
            "Üñí 日本 🎉",
            "del\u{7f} nul\u{0} esc\u{1b} us\u{1f}",
        ]
        .map(String::from)
        .to_vec();
        samples.extend((0u8..=0x7f).map(|b| format!("x{}y", b as char)));
        // Every byte that matters at every place of an eight-byte chunk and of the tail,
        // beside bytes just above and below it.
        for special in (0u8..0x20).chain([b'"', b'\\', b' ', b'!', b'#', b'[', b']', 0x7f]) {
            for at in 0..19 {
                let mut v = vec![b'a'; 19];
                v[at] = special;
                samples.push(String::from_utf8(v).unwrap());
            }
        }
        samples.push("é".repeat(9) + "\"");
        for s in samples {
            let mut out = Vec::new();
            super::string(&mut out, &s);
            assert_eq!(out, serde_json::to_vec(&s).unwrap(), "{s:?}");
        }
    }
}
