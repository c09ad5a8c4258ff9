//! Google: OAuth (accounts.google.com / oauth2.googleapis.com), userinfo and Calendar v3.

use crate::model::*;
use crate::oauth::{self, TokErr};
use crate::server::{self, json_resp, lock, Data};
use crate::state::{has_scope, Account, Ev, SimState, GOOGLE_SCOPE_PREFIX};
use crate::util;
use actix_web::{web, HttpRequest, HttpResponse};
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use serde_json::{json, Map, Value};

pub(crate) fn routes(cfg: &mut web::ServiceConfig) {
    cfg.route("/google/o/oauth2/v2/auth", web::get().to(authorize))
        .route("/google/token", web::post().to(token))
        .route("/google/oauth2/v3/userinfo", web::get().to(userinfo))
        .route(
            "/google/calendar/v3/calendars/primary",
            web::get().to(calendar),
        )
        .route(
            "/google/calendar/v3/calendars/primary/events",
            web::get().to(events),
        );
}

async fn authorize(data: Data, req: HttpRequest) -> HttpResponse {
    oauth::authorize(data, req, Provider::Google, Endpoint::GoogleAuthorize).await
}

fn oauth_err(status: u16, error: &str, desc: &str) -> HttpResponse {
    json_resp(status, json!({"error": error, "error_description": desc}))
}

async fn token(data: Data, req: HttpRequest, body: web::Bytes) -> HttpResponse {
    let (form, after) = match oauth::begin_token(&data, Endpoint::GoogleToken, &body).await {
        Ok(f) => f,
        Err(r) => return r,
    };
    let basic = util::parse_basic(server::header(&req, "authorization"));
    let resp = token_answer(&data, &form, basic);
    crate::late::finish(&data, after, resp).await
}

/// The token endpoint's answer (the shared state is locked only while it is computed).
fn token_answer(
    data: &Data,
    form: &std::collections::HashMap<String, String>,
    basic: Option<(String, String)>,
) -> HttpResponse {
    let mut st = lock(data);
    match oauth::token_core(&mut st, Provider::Google, form, basic) {
        Ok(ok) => {
            let mut body = json!({
                "access_token": ok.access_token,
                "expires_in": ok.expires_in,
                "scope": ok.scopes.join(" "),
                "token_type": "Bearer",
            });
            if let Some(r) = &ok.refresh_token {
                body["refresh_token"] = json!(r);
            }
            if has_scope(Provider::Google, &ok.scopes, "openid") {
                body["id_token"] = json!(id_token(&st, &ok.account, &ok.client_id, &ok.scopes));
            }
            json_resp(200, body)
        }
        Err(e) => match e {
            TokErr::UnsupportedGrant(g) => oauth_err(
                400,
                "unsupported_grant_type",
                &format!("Invalid grant_type: {g}"),
            ),
            TokErr::MissingClientId => oauth_err(
                400,
                "invalid_request",
                "Could not determine client ID from request.",
            ),
            TokErr::UnknownClient(_) => {
                oauth_err(401, "invalid_client", "The OAuth client was not found.")
            }
            TokErr::BadSecret | TokErr::MissingSecret => {
                oauth_err(401, "invalid_client", "Unauthorized")
            }
            TokErr::ClientRefused(_) => {
                oauth_err(401, "deleted_client", "The OAuth client was deleted.")
            }
            TokErr::MissingParam(p) => oauth_err(
                400,
                "invalid_request",
                &format!("Missing required parameter: {p}"),
            ),
            TokErr::CodeUnknown => oauth_err(400, "invalid_grant", "Malformed auth code."),
            TokErr::CodeUsed | TokErr::CodeExpired | TokErr::CodeWrongClient => {
                oauth_err(400, "invalid_grant", "Bad Request")
            }
            TokErr::RedirectMismatch => oauth_err(400, "redirect_uri_mismatch", "Bad Request"),
            TokErr::PkceMissing => oauth_err(400, "invalid_grant", "Missing code verifier."),
            TokErr::PkceMismatch => oauth_err(400, "invalid_grant", "Invalid code verifier."),
            TokErr::RefreshInvalid | TokErr::RefreshExpired => {
                oauth_err(400, "invalid_grant", "Token has been expired or revoked.")
            }
            TokErr::RefreshWrongClient => oauth_err(400, "unauthorized_client", "Unauthorized"),
            TokErr::ScopeNotGranted(s) => oauth_err(
                400,
                "invalid_scope",
                &format!("Some requested scopes were invalid. {{invalid=[{s}]}}"),
            ),
        },
    }
}

fn id_token(st: &SimState, account: &AccountId, client_id: &str, scopes: &[String]) -> String {
    let now = st.now().timestamp();
    let mut claims = json!({
        "iss": "https://accounts.google.com",
        "azp": client_id,
        "aud": client_id,
        "sub": account.0,
        "at_hash": util::rand_alnum(22),
        "iat": now,
        "exp": now + 3600,
    });
    if let Ok(a) = st.account(account) {
        if has_scope(Provider::Google, scopes, "email") {
            claims["email"] = json!(a.info.email);
            claims["email_verified"] = json!(true);
        }
        if has_scope(Provider::Google, scopes, "profile") {
            claims["name"] = json!(a.info.display_name);
        }
    }
    util::jwt(&claims)
}

/// Google Calendar API error body.
fn api_err(code: u16, reason: &str, message: &str, domain: &str) -> HttpResponse {
    let mut r = json_resp(
        code,
        json!({"error": {
            "errors": [{"domain": domain, "reason": reason, "message": message}],
            "code": code,
            "message": message}}),
    );
    if code == 401 {
        r.headers_mut().insert(
            actix_web::http::header::WWW_AUTHENTICATE,
            actix_web::http::header::HeaderValue::from_static(
                "Bearer realm=\"https://accounts.google.com/\", error=\"invalid_token\"",
            ),
        );
    }
    r
}

fn unauthorized() -> HttpResponse {
    api_err(401, "authError", "Invalid Credentials", "global")
}

fn insufficient() -> HttpResponse {
    api_err(
        403,
        "insufficientPermissions",
        "Request had insufficient authentication scopes.",
        "global",
    )
}

/// Bearer check; `Err` is the 401 answer.
fn auth(st: &SimState, req: &HttpRequest) -> Result<(AccountId, Vec<String>), HttpResponse> {
    let tok = util::parse_bearer(server::header(req, "authorization"));
    st.check_access(Provider::Google, tok.as_deref())
        .map_err(|_| unauthorized())
}

async fn userinfo(data: Data, req: HttpRequest) -> HttpResponse {
    if let Some(r) = server::pre(&data, Endpoint::GoogleUserinfo).await {
        return r;
    }
    let st = lock(&data);
    let tok = util::parse_bearer(server::header(&req, "authorization"));
    let Ok((account, scopes)) = st.check_access(Provider::Google, tok.as_deref()) else {
        return oauth_err(401, "invalid_request", "Invalid Credentials");
    };
    if !has_scope(Provider::Google, &scopes, "email") {
        return oauth_err(403, "insufficient_scope", "Insufficient Permission");
    }
    let Ok(a) = st.account(&account) else {
        return oauth_err(401, "invalid_request", "Invalid Credentials");
    };
    let mut body =
        json!({"sub": a.info.account_id.0, "email": a.info.email, "email_verified": true});
    if has_scope(Provider::Google, &scopes, "profile") {
        body["name"] = json!(a.info.display_name);
        body["given_name"] = json!(a.first_name);
        body["family_name"] = json!(a.last_name);
    }
    json_resp(200, body)
}

async fn calendar(data: Data, req: HttpRequest) -> HttpResponse {
    if let Some(r) = server::pre(&data, Endpoint::GoogleCalendar).await {
        return r;
    }
    let st = lock(&data);
    let (account, scopes) = match auth(&st, &req) {
        Ok(x) => x,
        Err(r) => return r,
    };
    // calendars.get needs calendar or calendar.readonly (events scopes are not enough).
    let ok = scopes.iter().any(|s| {
        s == &format!("{GOOGLE_SCOPE_PREFIX}calendar")
            || s == &format!("{GOOGLE_SCOPE_PREFIX}calendar.readonly")
    });
    if !ok {
        return insufficient();
    }
    let Ok(a) = st.account(&account) else {
        return unauthorized();
    };
    json_resp(
        200,
        json!({
            "kind": "calendar#calendar",
            "etag": format!("\"{}\"", a.seq),
            "id": a.info.email,
            "summary": a.info.email,
            "timeZone": "UTC",
            "conferenceProperties": {"allowedConferenceSolutionTypes": ["hangoutsMeet"]},
        }),
    )
}

/// Opaque page token.
#[derive(Serialize, Deserialize, Clone)]
struct PageTok {
    a: String,
    /// 0 = full sync, 1 = incremental
    m: u8,
    /// incremental: changes after this sequence number
    f: u64,
    /// snapshot sequence number (becomes the next sync token)
    s: u64,
    o: usize,
    e: u64,
    n: usize,
    tmin: Option<i64>,
    tmax: Option<i64>,
    del: bool,
}

/// Opaque sync token.
#[derive(Serialize, Deserialize)]
struct SyncTok {
    a: String,
    e: u64,
    s: u64,
}

fn sync_gone() -> HttpResponse {
    api_err(
        410,
        "fullSyncRequired",
        "Sync token is no longer valid, a full sync is required.",
        "global",
    )
}

fn bad_request(message: &str) -> HttpResponse {
    api_err(400, "invalid", message, "global")
}

fn ts(v: i64) -> Option<DateTime<Utc>> {
    DateTime::from_timestamp(v, 0)
}

async fn events(data: Data, req: HttpRequest) -> HttpResponse {
    if let Some(r) = server::pre(&data, Endpoint::GoogleEvents).await {
        return r;
    }
    let st = lock(&data);
    let (account, scopes) = match auth(&st, &req) {
        Ok(x) => x,
        Err(r) => return r,
    };
    if !scopes
        .iter()
        .any(|s| s.starts_with(&format!("{GOOGLE_SCOPE_PREFIX}calendar")))
    {
        return insufficient();
    }
    let q = server::query_map(&req);
    let Ok(acct) = st.account(&account) else {
        return unauthorized();
    };
    let max_results = match q.get("maxResults") {
        None => 250,
        Some(v) => match v.parse::<i64>() {
            Ok(n) if n >= 1 => (n as usize).min(2500),
            _ => return bad_request("Invalid value for: maxResults"),
        },
    };
    let page = if let Some(pt) = q.get("pageToken").filter(|p| !p.is_empty()) {
        match util::decode_token::<PageTok>("CgP", pt) {
            Some(p) if p.a == account.0 => p,
            _ => return bad_request("Invalid page token value."),
        }
    } else if let Some(stok) = q.get("syncToken").filter(|p| !p.is_empty()) {
        for k in [
            "timeMin",
            "timeMax",
            "orderBy",
            "q",
            "updatedMin",
            "iCalUID",
        ] {
            if q.contains_key(k) {
                return bad_request(&format!(
                    "Invalid value for parameter {k}: syncToken cannot be combined with {k}."
                ));
            }
        }
        match util::decode_token::<SyncTok>("CPDs", stok) {
            Some(t) if t.a == account.0 && t.e == acct.sync_epoch && t.s <= acct.seq => PageTok {
                a: t.a,
                m: 1,
                f: t.s,
                s: acct.seq,
                o: 0,
                e: t.e,
                n: max_results,
                tmin: None,
                tmax: None,
                del: true,
            },
            _ => return sync_gone(),
        }
    } else {
        let bound = |k: &str| -> Result<Option<i64>, HttpResponse> {
            match q.get(k) {
                None => Ok(None),
                Some(v) => util::parse_rfc3339(v)
                    .map(|t| Some(t.timestamp()))
                    .ok_or_else(|| bad_request(&format!("Bad Request: invalid {k}"))),
            }
        };
        let tmin = match bound("timeMin") {
            Ok(x) => x,
            Err(r) => return r,
        };
        let tmax = match bound("timeMax") {
            Ok(x) => x,
            Err(r) => return r,
        };
        if let (Some(a), Some(b)) = (tmin, tmax) {
            if a >= b {
                return bad_request("The specified time range is empty.");
            }
        }
        PageTok {
            a: account.0.clone(),
            m: 0,
            f: 0,
            s: acct.seq,
            o: 0,
            e: acct.sync_epoch,
            n: max_results,
            tmin,
            tmax,
            del: q.get("showDeleted").map(String::as_str) == Some("true"),
        }
    };
    if page.m == 1 && page.e != acct.sync_epoch {
        return sync_gone();
    }
    let mut list: Vec<&Ev> = if page.m == 0 {
        let (min, max) = (page.tmin.and_then(ts), page.tmax.and_then(ts));
        let mut v: Vec<&Ev> = acct
            .events
            .iter()
            .filter(|e| {
                !e.master
                    && !e.deleted
                    && (page.del || e.status != EventStatus::Cancelled)
                    && e.overlaps_in(acct.time_zone, min, max)
            })
            .collect();
        v.sort_by(|a, b| (a.start(), &a.id).cmp(&(b.start(), &b.id)));
        v
    } else {
        let mut v: Vec<&Ev> = acct
            .events
            .iter()
            // A series cancelled as a whole shows as its master alone.
            .filter(|e| (!e.master || e.series_cancelled) && e.seq > page.f && e.seq <= page.s)
            .collect();
        v.sort_by_key(|e| e.seq);
        v
    };
    let total = list.len();
    let end = (page.o + page.n).min(total);
    let items: Vec<Value> = list
        .drain(page.o.min(total)..end)
        .map(|e| render_event(&st.base_url, acct, e))
        .collect();
    let updated = acct
        .events
        .iter()
        .map(|e| e.updated)
        .max()
        .unwrap_or(acct.created);
    let mut body = json!({
        "kind": "calendar#events",
        "etag": format!("\"p{}\"", acct.seq),
        "summary": acct.info.email,
        "description": "",
        "updated": util::rfc3339_millis(updated),
        "timeZone": acct.time_zone.name(),
        "accessRole": "owner",
        "defaultReminders": [],
        "items": items,
    });
    if end < total {
        let mut next = page.clone();
        next.o = end;
        body["nextPageToken"] = json!(util::encode_token("CgP", &next));
    } else {
        body["nextSyncToken"] = json!(util::encode_token(
            "CPDs",
            &SyncTok {
                a: page.a.clone(),
                e: page.e,
                s: page.s,
            }
        ));
    }
    json_resp(200, body)
}

fn when_json(w: &EventWhen, start: bool) -> Value {
    match w {
        EventWhen::Timed { start: s, end: e } => {
            json!({"dateTime": util::rfc3339_secs(if start { *s } else { *e }), "timeZone": "UTC"})
        }
        EventWhen::AllDay {
            start_date,
            end_date,
        } => {
            let d = if start { start_date } else { end_date };
            json!({"date": d.format("%Y-%m-%d").to_string()})
        }
    }
}

fn response_str(r: ResponseStatus) -> &'static str {
    match r {
        ResponseStatus::Accepted => "accepted",
        ResponseStatus::Declined => "declined",
        ResponseStatus::Tentative => "tentative",
        ResponseStatus::NeedsAction => "needsAction",
    }
}

/// Render one stored event as a Calendar v3 event resource.
pub(crate) fn render_event(base: &str, acct: &Account, e: &Ev) -> Value {
    let etag = format!("\"{}\"", 3_000_000_000_000_000u64 + e.seq);
    if e.status == EventStatus::Cancelled || e.deleted {
        let mut v =
            json!({"kind": "calendar#event", "etag": etag, "id": e.id, "status": "cancelled"});
        if let Some(s) = &e.series_id {
            v["recurringEventId"] = json!(s);
            if let Some(o) = &e.original_start {
                v["originalStartTime"] = when_json(o, true);
            }
        }
        return v;
    }
    let me = &acct.info.email;
    let c = &e.content;
    let organizer = c.organizer.clone().unwrap_or_else(|| me.clone());
    let self_org = organizer.eq_ignore_ascii_case(me);
    let mut m = Map::new();
    m.insert("kind".into(), json!("calendar#event"));
    m.insert("etag".into(), json!(etag));
    m.insert("id".into(), json!(e.id));
    m.insert(
        "status".into(),
        json!(if e.status == EventStatus::Tentative {
            "tentative"
        } else {
            "confirmed"
        }),
    );
    m.insert(
        "htmlLink".into(),
        json!(format!("{base}/google/calendar/event?eid={}", e.id)),
    );
    m.insert("created".into(), json!(util::rfc3339_millis(e.created)));
    m.insert("updated".into(), json!(util::rfc3339_millis(e.updated)));
    m.insert("summary".into(), json!(c.title));
    if let Some(d) = &c.description {
        m.insert("description".into(), json!(d));
    }
    if let Some(l) = &c.location {
        m.insert("location".into(), json!(l));
    }
    let person = |email: &str| {
        let mut p = json!({"email": email});
        if email.eq_ignore_ascii_case(me) {
            p["self"] = json!(true);
        }
        p
    };
    m.insert("creator".into(), person(&organizer));
    m.insert("organizer".into(), person(&organizer));
    if e.corrupt {
        m.insert(
            "start".into(),
            json!({"dateTime": "2026-13-45T99:00:00Z", "timeZone": "UTC"}),
        );
    } else {
        m.insert("start".into(), when_json(&e.when, true));
    }
    m.insert("end".into(), when_json(&e.when, false));
    if let Some(s) = &e.series_id {
        m.insert("recurringEventId".into(), json!(s));
        if let Some(o) = &e.original_start {
            m.insert("originalStartTime".into(), when_json(o, true));
        }
    }
    m.insert("iCalUID".into(), json!(e.ical_uid));
    m.insert("sequence".into(), json!(0));
    // Attendees: as given, plus self and organizer when missing.
    let self_resp = c.self_response.unwrap_or(if self_org {
        ResponseStatus::Accepted
    } else {
        ResponseStatus::NeedsAction
    });
    let mut atts: Vec<Value> = Vec::new();
    let mut has_self = false;
    let mut has_org = false;
    for a in &c.attendees {
        let is_self = a.email.eq_ignore_ascii_case(me);
        let is_org = a.email.eq_ignore_ascii_case(&organizer);
        has_self |= is_self;
        has_org |= is_org;
        let mut v = json!({
            "email": a.email,
            "responseStatus": response_str(if is_self && c.self_response.is_some() { self_resp } else { a.response }),
        });
        if let Some(n) = &a.name {
            v["displayName"] = json!(n);
        }
        if is_org {
            v["organizer"] = json!(true);
        }
        if is_self {
            v["self"] = json!(true);
        }
        if a.optional {
            v["optional"] = json!(true);
        }
        atts.push(v);
    }
    if !c.attendees.is_empty() || !self_org {
        if !has_org && !self_org {
            atts.insert(
                0,
                json!({"email": organizer, "organizer": true, "responseStatus": "accepted"}),
            );
        }
        if !has_self {
            let mut v =
                json!({"email": me, "self": true, "responseStatus": response_str(self_resp)});
            if self_org {
                v["organizer"] = json!(true);
            }
            atts.push(v);
        }
        m.insert("attendees".into(), Value::Array(atts));
    }
    if let Some(conf) = &c.conference {
        let (key, name) = match conf.kind {
            ConferenceKind::Meet => ("hangoutsMeet", "Google Meet"),
            ConferenceKind::Zoom => ("addOn", "Zoom Meeting"),
            ConferenceKind::Teams => ("addOn", "Microsoft Teams Meeting"),
            ConferenceKind::Webex => ("addOn", "Webex"),
            ConferenceKind::Other => ("addOn", "Video call"),
        };
        if conf.kind == ConferenceKind::Meet {
            m.insert("hangoutLink".into(), json!(conf.url));
        }
        let label = conf
            .url
            .trim_start_matches("https://")
            .trim_start_matches("http://");
        let conf_id = conf
            .url
            .split(['?', '#'])
            .next()
            .and_then(|u| u.trim_end_matches('/').rsplit('/').next())
            .unwrap_or("");
        m.insert(
            "conferenceData".into(),
            json!({
                "entryPoints": [{"entryPointType": "video", "uri": conf.url, "label": label}],
                "conferenceSolution": {"key": {"type": key}, "name": name},
                "conferenceId": conf_id,
            }),
        );
    }
    m.insert("reminders".into(), json!({"useDefault": true}));
    m.insert("eventType".into(), json!("default"));
    Value::Object(m)
}
