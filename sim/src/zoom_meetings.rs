//! Zoom meetings: the meeting lists (`/users/{me|id}/meetings`, paged with
//! `next_page_token`), the account's user list (`/users`), the token endpoints a Meeting SDK
//! bot needs (ZAK, on-behalf-of, local recording), and `meeting.*` events sent to the
//! apps' webhook URLs, signed like Zoom does (`x-zm-signature: v0=HMAC-SHA256`).
//!
//! Scopes (Zoom's granular names): listing one's meetings `meeting:read:list_meetings`
//! (another user's: `meeting:read:list_meetings:admin`, same account), listing users
//! `user:read:list_users:admin`, ZAK `user:read:zak`, on-behalf-of `user:read:token`, local
//! recording `meeting:read:local_recording_token`. A missing scope is Zoom's
//! `400 {"code": 4711, "message": "Invalid access token, does not contain scopes:[...]."}`.

use std::collections::BTreeMap;

use actix_web::{web, HttpRequest, HttpResponse};
use chrono::{DateTime, Duration, Utc};
use hmac::{Hmac, Mac};
use serde::{Deserialize, Serialize};
use serde_json::{json, Value};
use sha2::Sha256;

use crate::model::{AccountId, Endpoint, Provider};
use crate::server::{self, json_resp, lock, Data};
use crate::state::{has_scope, AccessError, SimResult, SimState};
use crate::{util, SimHandle};

pub const SCOPE_LIST_MEETINGS: &str = "meeting:read:list_meetings";
pub const SCOPE_LIST_MEETINGS_ADMIN: &str = "meeting:read:list_meetings:admin";
pub const SCOPE_LIST_USERS: &str = "user:read:list_users:admin";
pub const SCOPE_ZAK: &str = "user:read:zak";
pub const SCOPE_TOKEN: &str = "user:read:token";
pub const SCOPE_LOCAL_RECORDING: &str = "meeting:read:local_recording_token";

/// A scheduled Zoom meeting.
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq)]
pub struct ZoomMeeting {
    pub id: u64,
    pub uuid: String,
    /// The host's Zoom user id.
    pub host_id: String,
    pub topic: String,
    pub start_time: DateTime<Utc>,
    /// Minutes.
    pub duration: i64,
}

/// An app's event subscription: where Zoom posts events and the secret it signs them with.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct ZoomWebhook {
    pub url: String,
    pub secret: String,
}

#[derive(Default)]
pub(crate) struct ZoomWorld {
    pub meetings: BTreeMap<u64, ZoomMeeting>,
    pub next_id: u64,
    pub webhooks: Vec<ZoomWebhook>,
}

pub(crate) fn routes(cfg: &mut web::ServiceConfig) {
    cfg.route("/zoom/v2/users", web::get().to(list_users))
        .route("/zoom/v2/users/me/token", web::get().to(user_token))
        .route("/zoom/v2/users/{id}/meetings", web::get().to(list_meetings))
        .route(
            "/zoom/v2/meetings/{id}/jointoken/local_recording",
            web::get().to(local_recording_token),
        )
        .route(
            "/_sim/zoom/users/{id}/meetings",
            web::post().to(control_create),
        )
        .route("/_sim/zoom/meetings", web::get().to(control_list))
        .route("/_sim/zoom/meetings/{id}", web::patch().to(control_update))
        .route("/_sim/zoom/meetings/{id}", web::delete().to(control_delete))
        .route("/_sim/zoom/webhooks", web::post().to(control_webhook));
}

// ------------------------------------------------------------------ state

impl SimState {
    fn zoom_user(&self, id: &str) -> SimResult<(String, String)> {
        let a = self.account(&AccountId(id.to_string()))?;
        if a.info.provider != Provider::Zoom {
            return Err(crate::SimError(format!("{id} is not a Zoom user")));
        }
        Ok((
            a.info.account_id.0.clone(),
            a.info.zoom_account_id.clone().unwrap_or_default(),
        ))
    }

    pub(crate) fn create_zoom_meeting(
        &mut self,
        host: &str,
        topic: &str,
        start: DateTime<Utc>,
        duration: i64,
    ) -> SimResult<ZoomMeeting> {
        self.zoom_user(host)?;
        if self.zoom.next_id == 0 {
            self.zoom.next_id = 81_000_000_000 + rand::random::<u32>() as u64 % 1_000_000;
        }
        self.zoom.next_id += 1 + rand::random::<u8>() as u64;
        let m = ZoomMeeting {
            id: self.zoom.next_id,
            uuid: format!("{}==", util::rand_alnum(22)),
            host_id: host.to_string(),
            topic: topic.to_string(),
            start_time: start,
            duration,
        };
        self.zoom.meetings.insert(m.id, m.clone());
        Ok(m)
    }

    fn zoom_meeting_mut(&mut self, id: u64) -> SimResult<&mut ZoomMeeting> {
        self.zoom
            .meetings
            .get_mut(&id)
            .ok_or_else(|| crate::SimError(format!("unknown Zoom meeting {id}")))
    }
}

/// The meeting as Zoom's list shows it.
fn meeting_json(m: &ZoomMeeting) -> Value {
    json!({
        "uuid": m.uuid,
        "id": m.id,
        "host_id": m.host_id,
        "topic": m.topic,
        "type": 2,
        "start_time": util::rfc3339_secs(m.start_time),
        "duration": m.duration,
        "timezone": "UTC",
        "created_at": util::rfc3339_secs(m.start_time - Duration::days(1)),
        "join_url": format!("https://us05web.zoom.us/j/{}", m.id),
    })
}

// ------------------------------------------------------------------ provider endpoints

/// The bearer token's Zoom user, zoom account and scopes, or Zoom's 401.
fn caller(st: &SimState, req: &HttpRequest) -> Result<(String, String, Vec<String>), HttpResponse> {
    let tok = util::parse_bearer(server::header(req, "authorization"));
    match st.check_access(Provider::Zoom, tok.as_deref()) {
        Ok((account, scopes)) => {
            let (user, zoom_account) = st
                .zoom_user(account.as_str())
                .map_err(|_| invalid_token("Invalid access token."))?;
            Ok((user, zoom_account, scopes))
        }
        Err(AccessError::Expired) => Err(invalid_token("Access token is expired.")),
        Err(_) => Err(invalid_token("Invalid access token.")),
    }
}

fn invalid_token(message: &str) -> HttpResponse {
    json_resp(401, json!({"code": 124, "message": message}))
}

/// Zoom's answer to a token without any of `wanted`.
fn need_scope(scopes: &[String], wanted: &[&str]) -> Result<(), HttpResponse> {
    if wanted.iter().any(|w| has_scope(Provider::Zoom, scopes, w)) {
        return Ok(());
    }
    Err(json_resp(
        400,
        json!({
            "code": 4711,
            "message": format!("Invalid access token, does not contain scopes:[{}].", wanted.join(", ")),
        }),
    ))
}

fn meeting_missing(id: &str) -> HttpResponse {
    json_resp(
        404,
        json!({"code": 3001, "message": format!("Meeting does not exist: {id}.")}),
    )
}

/// `page_size` (1..=300, default 30) and the offset in `next_page_token`.
fn paging(req: &HttpRequest) -> Result<(usize, usize), HttpResponse> {
    let q = server::query_map(req);
    let size = match q.get("page_size") {
        None => 30,
        Some(v) => match v.parse::<usize>() {
            Ok(n) if n >= 1 => n.min(300),
            _ => {
                return Err(json_resp(
                    400,
                    json!({"code": 300, "message": "Invalid field: page_size."}),
                ))
            }
        },
    };
    let offset = match q.get("next_page_token").filter(|t| !t.is_empty()) {
        None => 0,
        Some(t) => match util::decode_token::<usize>("zpt", t) {
            Some(o) => o,
            None => {
                return Err(json_resp(
                    400,
                    json!({"code": 300, "message": "Invalid next_page_token."}),
                ))
            }
        },
    };
    Ok((size, offset))
}

fn page<T: Clone>(all: &[T], size: usize, offset: usize) -> (Vec<T>, String) {
    let items: Vec<T> = all.iter().skip(offset).take(size).cloned().collect();
    let next = if offset + items.len() < all.len() {
        util::encode_token("zpt", &(offset + items.len()))
    } else {
        String::new()
    };
    (items, next)
}

async fn list_meetings(data: Data, req: HttpRequest, path: web::Path<String>) -> HttpResponse {
    if let Some(r) = server::pre(&data, Endpoint::ZoomMeetings).await {
        return r;
    }
    let st = lock(&data);
    let (me, my_account, scopes) = match caller(&st, &req) {
        Ok(c) => c,
        Err(r) => return r,
    };
    let target = path.into_inner();
    let user = if target == "me" || target == me {
        if let Err(r) = need_scope(&scopes, &[SCOPE_LIST_MEETINGS, SCOPE_LIST_MEETINGS_ADMIN]) {
            return r;
        }
        me
    } else {
        if let Err(r) = need_scope(&scopes, &[SCOPE_LIST_MEETINGS_ADMIN]) {
            return r;
        }
        match st.zoom_user(&target) {
            Ok((u, acct)) if acct == my_account => u,
            _ => {
                return json_resp(
                    404,
                    json!({"code": 1001, "message": format!("User does not exist: {target}.")}),
                )
            }
        }
    };
    let kind = server::query_map(&req)
        .get("type")
        .cloned()
        .unwrap_or_else(|| "scheduled".into());
    let now = st.now();
    let all: Vec<&ZoomMeeting> = st
        .zoom
        .meetings
        .values()
        .filter(|m| m.host_id == user)
        .filter(|m| match kind.as_str() {
            "upcoming" | "upcoming_meetings" => m.start_time + Duration::minutes(m.duration) > now,
            "previous_meetings" => m.start_time + Duration::minutes(m.duration) <= now,
            _ => true,
        })
        .collect();
    let (size, offset) = match paging(&req) {
        Ok(p) => p,
        Err(r) => return r,
    };
    let (items, next) = page(&all, size, offset);
    json_resp(
        200,
        json!({
            "page_size": size,
            "total_records": all.len(),
            "next_page_token": next,
            "meetings": items.iter().map(|m| meeting_json(m)).collect::<Vec<_>>(),
        }),
    )
}

async fn list_users(data: Data, req: HttpRequest) -> HttpResponse {
    if let Some(r) = server::pre(&data, Endpoint::ZoomUsers).await {
        return r;
    }
    let st = lock(&data);
    let (_, my_account, scopes) = match caller(&st, &req) {
        Ok(c) => c,
        Err(r) => return r,
    };
    if let Err(r) = need_scope(&scopes, &[SCOPE_LIST_USERS]) {
        return r;
    }
    let users: Vec<Value> = st
        .account_order
        .iter()
        .filter_map(|id| st.accounts.get(id))
        .filter(|a| a.info.zoom_account_id.as_deref() == Some(my_account.as_str()))
        .map(|a| {
            json!({
                "id": a.info.account_id.0,
                "email": a.info.email,
                "first_name": a.first_name,
                "last_name": a.last_name,
                "type": 1,
                "status": "active",
                "timezone": "UTC",
            })
        })
        .collect();
    let (size, offset) = match paging(&req) {
        Ok(p) => p,
        Err(r) => return r,
    };
    let (items, next) = page(&users, size, offset);
    json_resp(
        200,
        json!({
            "page_size": size,
            "total_records": users.len(),
            "next_page_token": next,
            "users": items,
        }),
    )
}

/// `GET /users/me/token?type=zak` or `?type=onbehalf&meeting_id=<id>`.
async fn user_token(data: Data, req: HttpRequest) -> HttpResponse {
    if let Some(r) = server::pre(&data, Endpoint::ZoomUserToken).await {
        return r;
    }
    let st = lock(&data);
    let (me, _, scopes) = match caller(&st, &req) {
        Ok(c) => c,
        Err(r) => return r,
    };
    let q = server::query_map(&req);
    match q.get("type").map(String::as_str) {
        Some("zak") => {
            if let Err(r) = need_scope(&scopes, &[SCOPE_ZAK]) {
                return r;
            }
            json_resp(
                200,
                json!({"token": format!("zak.{me}.{}", util::rand_alnum(24))}),
            )
        }
        Some("onbehalf") => {
            if let Err(r) = need_scope(&scopes, &[SCOPE_TOKEN]) {
                return r;
            }
            let Some(mid) = q.get("meeting_id") else {
                return json_resp(
                    400,
                    json!({"code": 300, "message": "meeting_id is required for type onbehalf."}),
                );
            };
            if mid
                .parse::<u64>()
                .ok()
                .and_then(|id| st.zoom.meetings.get(&id))
                .is_none()
            {
                return meeting_missing(mid);
            }
            json_resp(
                200,
                json!({"token": format!("obf.{me}.{mid}.{}", util::rand_alnum(24))}),
            )
        }
        _ => json_resp(
            400,
            json!({"code": 300, "message": "Invalid field: type. Use zak, token or onbehalf."}),
        ),
    }
}

async fn local_recording_token(
    data: Data,
    req: HttpRequest,
    path: web::Path<String>,
) -> HttpResponse {
    if let Some(r) = server::pre(&data, Endpoint::ZoomLocalRecordingToken).await {
        return r;
    }
    let st = lock(&data);
    let (me, _, scopes) = match caller(&st, &req) {
        Ok(c) => c,
        Err(r) => return r,
    };
    if let Err(r) = need_scope(&scopes, &[SCOPE_LOCAL_RECORDING]) {
        return r;
    }
    let mid = path.into_inner();
    let Some(m) = mid
        .parse::<u64>()
        .ok()
        .and_then(|id| st.zoom.meetings.get(&id))
    else {
        return meeting_missing(&mid);
    };
    if m.host_id != me {
        return json_resp(
            400,
            json!({"code": 3000, "message": "Only the meeting host can get a local recording join token."}),
        );
    }
    json_resp(
        200,
        json!({"token": format!("lrt.{mid}.{}", util::rand_alnum(24)), "expire_in": 120}),
    )
}

// ------------------------------------------------------------------ events

/// `x-zm-signature` for `body` at `timestamp` (seconds).
pub fn zoom_signature(secret: &str, timestamp: &str, body: &str) -> String {
    let mut mac = <Hmac<Sha256> as Mac>::new_from_slice(secret.as_bytes()).expect("hmac key");
    mac.update(format!("v0:{timestamp}:{body}").as_bytes());
    let bytes = mac.finalize().into_bytes();
    let hex: String = bytes.iter().map(|b| format!("{b:02x}")).collect();
    format!("v0={hex}")
}

/// The event Zoom sends for a meeting change, and where to (every subscription).
fn event_for(st: &SimState, event: &str, m: &ZoomMeeting) -> (Vec<ZoomWebhook>, Value, i64) {
    let account = st.zoom_user(&m.host_id).map(|u| u.1).unwrap_or_default();
    let now = st.now();
    let body = json!({
        "event": event,
        "event_ts": now.timestamp_millis(),
        "payload": {
            "account_id": account,
            "operator_id": m.host_id,
            "object": meeting_json(m),
        },
    });
    (st.zoom.webhooks.clone(), body, now.timestamp())
}

/// Posts the event to every subscription (outside the state lock); returns the statuses.
async fn deliver(hooks: Vec<ZoomWebhook>, body: Value, ts: i64) -> Vec<u16> {
    let text = body.to_string();
    let client = reqwest::Client::new();
    let mut statuses = Vec::new();
    for h in hooks {
        let ts = ts.to_string();
        let res = client
            .post(&h.url)
            .header("content-type", "application/json")
            .header("x-zm-request-timestamp", &ts)
            .header("x-zm-signature", zoom_signature(&h.secret, &ts, &text))
            .body(text.clone())
            .send()
            .await;
        statuses.push(res.map(|r| r.status().as_u16()).unwrap_or(0));
    }
    statuses
}

#[derive(Deserialize)]
struct MeetingReq {
    topic: Option<String>,
    start_time: Option<DateTime<Utc>>,
    duration: Option<i64>,
}

fn bad(e: crate::SimError) -> HttpResponse {
    json_resp(404, json!({"error": e.0}))
}

async fn control_create(
    data: Data,
    path: web::Path<String>,
    body: web::Json<MeetingReq>,
) -> HttpResponse {
    let made = {
        let mut st = lock(&data);
        let start = body
            .start_time
            .unwrap_or_else(|| st.now() + Duration::hours(1));
        st.create_zoom_meeting(
            &path,
            body.topic.as_deref().unwrap_or("Zoom meeting"),
            start,
            body.duration.unwrap_or(30),
        )
        .map(|m| {
            let ev = event_for(&st, "meeting.created", &m);
            (m, ev)
        })
    };
    match made {
        Ok((m, (hooks, ev, ts))) => {
            let delivered = deliver(hooks, ev, ts).await;
            json_resp(
                200,
                json!({"meeting": meeting_json(&m), "delivered": delivered}),
            )
        }
        Err(e) => bad(e),
    }
}

async fn control_list(data: Data) -> HttpResponse {
    let st = lock(&data);
    json_resp(
        200,
        json!(st
            .zoom
            .meetings
            .values()
            .map(meeting_json)
            .collect::<Vec<_>>()),
    )
}

async fn control_update(
    data: Data,
    path: web::Path<u64>,
    body: web::Json<MeetingReq>,
) -> HttpResponse {
    let changed = {
        let mut st = lock(&data);
        st.zoom_meeting_mut(*path)
            .map(|m| {
                if let Some(t) = &body.topic {
                    m.topic = t.clone();
                }
                if let Some(s) = body.start_time {
                    m.start_time = s;
                }
                if let Some(d) = body.duration {
                    m.duration = d;
                }
                m.clone()
            })
            .map(|m| event_for(&st, "meeting.updated", &m))
    };
    match changed {
        Ok((hooks, ev, ts)) => json_resp(200, json!({"delivered": deliver(hooks, ev, ts).await})),
        Err(e) => bad(e),
    }
}

async fn control_delete(data: Data, path: web::Path<u64>) -> HttpResponse {
    let removed = {
        let mut st = lock(&data);
        match st.zoom.meetings.remove(&path) {
            Some(m) => Ok(event_for(&st, "meeting.deleted", &m)),
            None => Err(crate::SimError(format!("unknown Zoom meeting {path}"))),
        }
    };
    match removed {
        Ok((hooks, ev, ts)) => json_resp(200, json!({"delivered": deliver(hooks, ev, ts).await})),
        Err(e) => bad(e),
    }
}

async fn control_webhook(data: Data, body: web::Json<ZoomWebhook>) -> HttpResponse {
    lock(&data).zoom.webhooks.push(body.into_inner());
    json_resp(200, json!({}))
}

// ------------------------------------------------------------------ handle

impl SimHandle {
    /// Schedule a Zoom meeting hosted by `host` (a Zoom user id); `meeting.created` goes to
    /// every subscription ([`SimHandle::add_zoom_webhook`]) before this returns.
    pub async fn create_zoom_meeting(
        &self,
        host: &str,
        topic: &str,
        start: DateTime<Utc>,
        duration_minutes: i64,
    ) -> ZoomMeeting {
        let (m, (hooks, ev, ts)) = self.must("create_zoom_meeting", |s| {
            let m = s.create_zoom_meeting(host, topic, start, duration_minutes)?;
            let ev = event_for(s, "meeting.created", &m);
            Ok((m, ev))
        });
        deliver(hooks, ev, ts).await;
        m
    }

    /// Move or rename a meeting; sends `meeting.updated`. Returns the delivery statuses.
    pub async fn update_zoom_meeting(
        &self,
        id: u64,
        topic: Option<&str>,
        start: Option<DateTime<Utc>>,
    ) -> Vec<u16> {
        let (hooks, ev, ts) = self.must("update_zoom_meeting", |s| {
            let m = s.zoom_meeting_mut(id)?;
            if let Some(t) = topic {
                m.topic = t.to_string();
            }
            if let Some(st) = start {
                m.start_time = st;
            }
            let m = m.clone();
            Ok(event_for(s, "meeting.updated", &m))
        });
        deliver(hooks, ev, ts).await
    }

    /// Delete a meeting; sends `meeting.deleted`. Returns the delivery statuses.
    pub async fn delete_zoom_meeting(&self, id: u64) -> Vec<u16> {
        let (hooks, ev, ts) = self.must("delete_zoom_meeting", |s| {
            let m = s
                .zoom
                .meetings
                .remove(&id)
                .ok_or_else(|| crate::SimError(format!("unknown Zoom meeting {id}")))?;
            Ok(event_for(s, "meeting.deleted", &m))
        });
        deliver(hooks, ev, ts).await
    }

    /// Subscribe an app's webhook URL to meeting events, signed with `secret`.
    pub async fn add_zoom_webhook(&self, url: &str, secret: &str) {
        self.with(|s| {
            s.zoom.webhooks.push(ZoomWebhook {
                url: url.to_string(),
                secret: secret.to_string(),
            })
        })
    }

    /// Every meeting the simulator holds.
    pub async fn zoom_meetings(&self) -> Vec<ZoomMeeting> {
        self.with(|s| s.zoom.meetings.values().cloned().collect())
    }
}
