//! Microsoft: identity platform v2.0 (authorize/token) and Graph v1.0 (me, calendar, delta).

use crate::model::*;
use crate::oauth::{self, TokErr};
use crate::server::{self, json_resp, lock, Data};
use crate::state::{has_scope, scope_key, Account, Ev, SimState};
use crate::util;
use actix_web::{web, HttpRequest, HttpResponse};
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use serde_json::{json, Map, Value};

const TENANT: &str = "9188040d-6c67-4c5b-b112-36a304b66dad";

pub(crate) fn routes(cfg: &mut web::ServiceConfig) {
    cfg.route(
        "/microsoft/graph/v1.0/me/calendarView/delta",
        web::get().to(delta),
    )
    .route(
        "/microsoft/graph/v1.0/me/calendarview/delta",
        web::get().to(delta),
    )
    .route("/microsoft/graph/v1.0/me/calendar", web::get().to(calendar))
    .route("/microsoft/graph/v1.0/me", web::get().to(me))
    .route(
        "/microsoft/{tenant}/oauth2/v2.0/authorize",
        web::get().to(authorize),
    )
    .route(
        "/microsoft/{tenant}/oauth2/v2.0/token",
        web::post().to(token),
    );
}

async fn authorize(data: Data, req: HttpRequest) -> HttpResponse {
    oauth::authorize(data, req, Provider::Microsoft, Endpoint::MicrosoftAuthorize).await
}

/// Microsoft identity platform error body (`AADSTS<code>: <desc>` + trace lines).
pub(crate) fn aad_error_body(error: &str, code: u32, desc: &str) -> Value {
    let trace = util::uuid();
    let corr = util::uuid();
    let ts = Utc::now().format("%Y-%m-%d %H:%M:%SZ").to_string();
    json!({
        "error": error,
        "error_description": format!(
            "AADSTS{code}: {desc} Trace ID: {trace} Correlation ID: {corr} Timestamp: {ts}"
        ),
        "error_codes": [code],
        "timestamp": ts,
        "trace_id": trace,
        "correlation_id": corr,
        "error_uri": format!("https://login.microsoftonline.com/error?code={code}"),
    })
}

fn aad(status: u16, error: &str, code: u32, desc: &str) -> HttpResponse {
    json_resp(status, aad_error_body(error, code, desc))
}

const EXPIRED_70008: &str = "The provided authorization code or refresh token has expired due to inactivity. Send a new interactive authorization request for this user and resource.";

async fn token(data: Data, req: HttpRequest, body: web::Bytes) -> HttpResponse {
    let (form, after) = match oauth::begin_token(&data, Endpoint::MicrosoftToken, &body).await {
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
    match oauth::token_core(&mut st, Provider::Microsoft, form, basic) {
        Ok(ok) => {
            let mut body = json!({
                "token_type": "Bearer",
                "scope": ok.scopes.join(" "),
                "expires_in": ok.expires_in,
                "ext_expires_in": ok.expires_in,
                "access_token": ok.access_token,
            });
            if let Some(r) = &ok.refresh_token {
                body["refresh_token"] = json!(r);
            }
            if has_scope(Provider::Microsoft, &ok.scopes, "openid") {
                body["id_token"] = json!(id_token(&st, &ok.account, &ok.client_id, &ok.scopes));
            }
            json_resp(200, body)
        }
        Err(e) => match e {
            TokErr::UnsupportedGrant(g) => aad(
                400,
                "unsupported_grant_type",
                70003,
                &format!("The app requested an unsupported grant type '{g}'."),
            ),
            TokErr::MissingClientId => aad(
                400,
                "invalid_request",
                900144,
                "The request body must contain the following parameter: 'client_id'.",
            ),
            TokErr::UnknownClient(id) => aad(
                400,
                "unauthorized_client",
                700016,
                &format!("Application with identifier '{id}' was not found in the directory 'convene-sim'. This can happen if the application has not been installed by the administrator of the tenant or consented to by any user in the tenant."),
            ),
            TokErr::BadSecret => aad(
                401,
                "invalid_client",
                7000215,
                "Invalid client secret provided. Ensure the secret being sent in the request is the client secret value, not the client secret ID, for a secret added to app.",
            ),
            TokErr::ClientRefused(id) => aad(
                401,
                "invalid_client",
                7000222,
                &format!("The provided client secret keys for app '{id}' are expired. Visit the Azure portal to create new keys for your app: https://aka.ms/NewClientSecret, or consider using certificate credentials for added security: https://aka.ms/certCreds."),
            ),
            TokErr::MissingSecret => aad(
                401,
                "invalid_client",
                7000218,
                "The request body must contain the following parameter: 'client_assertion' or 'client_secret'.",
            ),
            TokErr::MissingParam(p) => aad(
                400,
                "invalid_request",
                900144,
                &format!("The request body must contain the following parameter: '{p}'."),
            ),
            TokErr::CodeUnknown | TokErr::CodeWrongClient => aad(
                400,
                "invalid_grant",
                70000,
                "The provided value for the 'code' parameter is not valid.",
            ),
            TokErr::CodeUsed => aad(
                400,
                "invalid_grant",
                54005,
                "OAuth2 Authorization code was already redeemed, please retry with a new valid code or use an existing refresh token.",
            ),
            TokErr::CodeExpired | TokErr::RefreshInvalid | TokErr::RefreshExpired => {
                aad(400, "invalid_grant", 70008, EXPIRED_70008)
            }
            TokErr::RedirectMismatch => aad(
                400,
                "invalid_grant",
                50011,
                "The redirect URI specified in the request does not match the redirect URI used to request the authorization code.",
            ),
            TokErr::PkceMissing | TokErr::PkceMismatch => aad(
                400,
                "invalid_grant",
                50148,
                "The code_verifier does not match the code_challenge supplied in the authorization request for PKCE.",
            ),
            TokErr::RefreshWrongClient => aad(
                400,
                "invalid_grant",
                70000,
                "Provided grant is invalid or malformed.",
            ),
            TokErr::ScopeNotGranted(s) => aad(
                400,
                "invalid_grant",
                65001,
                &format!("The user or administrator has not consented to use the application with ID '{}' named 'convene-sim app'. Send an interactive authorization request for this user and resource. (scope: {s})", form.get("client_id").cloned().unwrap_or_default()),
            ),
        },
    }
}

fn id_token(st: &SimState, account: &AccountId, client_id: &str, scopes: &[String]) -> String {
    let now = st.now().timestamp();
    let mut claims = json!({
        "aud": client_id,
        "iss": format!("https://login.microsoftonline.com/{TENANT}/v2.0"),
        "iat": now,
        "nbf": now,
        "exp": now + 3600,
        "oid": account.0,
        "sub": format!("sim-{}", account.0.replace('-', "")),
        "tid": TENANT,
        "ver": "2.0",
    });
    if let Ok(a) = st.account(account) {
        claims["name"] = json!(a.info.display_name);
        claims["preferred_username"] = json!(a.info.email);
        if has_scope(Provider::Microsoft, scopes, "email") {
            if let Some(m) = &a.info.mail {
                claims["email"] = json!(m);
            }
        }
    }
    util::jwt(&claims)
}

fn graph_err(status: u16, code: &str, message: &str) -> HttpResponse {
    json_resp(
        status,
        json!({"error": {"code": code, "message": message, "innerError": {
            "date": util::rfc3339_secs(Utc::now()),
            "request-id": util::uuid(),
            "client-request-id": util::uuid(),
        }}}),
    )
}

fn auth(st: &SimState, req: &HttpRequest) -> Result<(AccountId, Vec<String>), HttpResponse> {
    let tok = util::parse_bearer(server::header(req, "authorization"));
    st.check_access(Provider::Microsoft, tok.as_deref())
        .map_err(|e| match e {
            crate::state::AccessError::Missing => {
                graph_err(401, "InvalidAuthenticationToken", "Access token is empty.")
            }
            crate::state::AccessError::Expired => graph_err(
                401,
                "InvalidAuthenticationToken",
                "Lifetime validation failed, the token is expired.",
            ),
            crate::state::AccessError::Invalid => graph_err(
                401,
                "InvalidAuthenticationToken",
                "IDX14100: JWT is not well formed, there are no dots (.).",
            ),
        })
}

fn access_denied() -> HttpResponse {
    graph_err(
        403,
        "ErrorAccessDenied",
        "Access is denied. Check credentials and try again.",
    )
}

fn can_read_calendar(scopes: &[String]) -> bool {
    scopes
        .iter()
        .any(|s| scope_key(Provider::Microsoft, s).starts_with("calendars."))
}

pub(crate) fn graph_base(base: &str) -> String {
    format!("{base}/microsoft/graph/v1.0")
}

async fn me(data: Data, req: HttpRequest) -> HttpResponse {
    if let Some(r) = server::pre(&data, Endpoint::MicrosoftMe).await {
        return r;
    }
    let st = lock(&data);
    let (account, scopes) = match auth(&st, &req) {
        Ok(x) => x,
        Err(r) => return r,
    };
    let ok = [
        "user.read",
        "user.readbasic.all",
        "user.read.all",
        "directory.read.all",
    ]
    .iter()
    .any(|k| has_scope(Provider::Microsoft, &scopes, k));
    if !ok {
        return access_denied();
    }
    let Ok(a) = st.account(&account) else {
        return access_denied();
    };
    json_resp(
        200,
        json!({
            "@odata.context": format!("{}/$metadata#users/$entity", graph_base(&st.base_url)),
            "businessPhones": [],
            "displayName": a.info.display_name,
            "givenName": a.first_name,
            "jobTitle": null,
            "mail": a.info.mail,
            "mobilePhone": null,
            "officeLocation": null,
            "preferredLanguage": "en-US",
            "surname": a.last_name,
            "userPrincipalName": a.info.email,
            "id": a.info.account_id.0,
        }),
    )
}

async fn calendar(data: Data, req: HttpRequest) -> HttpResponse {
    if let Some(r) = server::pre(&data, Endpoint::MicrosoftCalendar).await {
        return r;
    }
    let st = lock(&data);
    let (account, scopes) = match auth(&st, &req) {
        Ok(x) => x,
        Err(r) => return r,
    };
    if !can_read_calendar(&scopes) {
        return access_denied();
    }
    let Ok(a) = st.account(&account) else {
        return access_denied();
    };
    json_resp(
        200,
        json!({
            "@odata.context": format!("{}/$metadata#users('{}')/calendar/$entity", graph_base(&st.base_url), a.info.account_id),
            "id": format!("AAMkAGcal{}AAA=", a.info.account_id.0.replace('-', "")),
            "name": "Calendar",
            "color": "auto",
            "hexColor": "",
            "isDefaultCalendar": true,
            "changeKey": format!("sim{}", a.seq),
            "canShare": true,
            "canViewPrivateItems": true,
            "canEdit": true,
            "allowedOnlineMeetingProviders": ["teamsForBusiness"],
            "defaultOnlineMeetingProvider": "teamsForBusiness",
            "isTallyingResponses": true,
            "isRemovable": false,
            "owner": {
                "name": a.info.display_name,
                "address": a.info.mail.clone().unwrap_or_else(|| a.info.email.clone()),
            },
        }),
    )
}

#[derive(Serialize, Deserialize, Clone)]
struct SkipTok {
    a: String,
    /// 0 = initial sync, 1 = delta round
    m: u8,
    f: u64,
    s: u64,
    o: usize,
    e: u64,
    n: usize,
    st: i64,
    en: i64,
}

#[derive(Serialize, Deserialize)]
struct DeltaTok {
    a: String,
    e: u64,
    s: u64,
    st: i64,
    en: i64,
}

fn sync_gone() -> HttpResponse {
    graph_err(
        410,
        "SyncStateNotFound",
        "The sync state (delta token) is not found or has expired. A full synchronization is required.",
    )
}

/// `Prefer: outlook.timezone="X"` (any of several Prefer headers / comma lists).
fn prefer_time_zone(req: &HttpRequest) -> Option<String> {
    req.headers()
        .get_all("prefer")
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(',').map(str::trim).collect::<Vec<_>>())
        .find_map(|p| {
            p.strip_prefix("outlook.timezone=")
                .map(|z| z.trim().trim_matches('"').to_string())
        })
}

/// The zone a Graph answer is written in: the `Prefer` zone when honoured and known, else
/// the mailbox's zone (`set_graph_time_zone`), as (name shown in `timeZone`, zone).
pub(crate) fn answer_zone(st: &SimState, req: &HttpRequest) -> (String, chrono_tz::Tz) {
    if !st.graph_ignore_prefer {
        if let Some(name) = prefer_time_zone(req) {
            if let Some(tz) = crate::zones::graph_zone(&name) {
                return (name, tz);
            }
        }
    }
    let name = st.graph_time_zone.clone();
    let tz = crate::zones::graph_zone(&name).unwrap_or(chrono_tz::Tz::UTC);
    (name, tz)
}

/// `Prefer: odata.maxpagesize=N` (any of several Prefer headers / comma lists).
fn prefer_page_size(req: &HttpRequest) -> Option<usize> {
    req.headers()
        .get_all("prefer")
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(',').map(str::trim).collect::<Vec<_>>())
        .find_map(|p| {
            p.strip_prefix("odata.maxpagesize=")
                .and_then(|n| n.trim().parse::<usize>().ok())
        })
        .filter(|n| *n > 0)
}

async fn delta(data: Data, req: HttpRequest) -> HttpResponse {
    if let Some(r) = server::pre(&data, Endpoint::MicrosoftDelta).await {
        return r;
    }
    let mut st = lock(&data);
    let (account, scopes) = match auth(&st, &req) {
        Ok(x) => x,
        Err(r) => return r,
    };
    if !can_read_calendar(&scopes) {
        return access_denied();
    }
    let q = server::query_map(&req);
    let pref = prefer_page_size(&req);
    let page_size = pref.unwrap_or(50).min(1000);
    let Ok(acct) = st.account(&account) else {
        return access_denied();
    };
    let page = if let Some(t) = q.get("$skiptoken") {
        match util::decode_token::<SkipTok>("SkP", t) {
            Some(mut p) if p.a == account.0 => {
                if let Some(n) = pref {
                    p.n = n.min(1000);
                }
                p
            }
            _ => {
                return graph_err(
                    400,
                    "ErrorInvalidUrlQuery",
                    "The following parameters are not valid: $skiptoken.",
                )
            }
        }
    } else if let Some(t) = q.get("$deltatoken") {
        match util::decode_token::<DeltaTok>("DtT", t) {
            Some(d) if d.a == account.0 && d.e == acct.sync_epoch && d.s <= acct.seq => SkipTok {
                a: d.a,
                m: 1,
                f: d.s,
                s: acct.seq,
                o: 0,
                e: d.e,
                n: page_size,
                st: d.st,
                en: d.en,
            },
            _ => return sync_gone(),
        }
    } else {
        let parse = |k: &str| {
            q.iter()
                .find(|(key, _)| key.eq_ignore_ascii_case(k))
                .and_then(|(_, v)| util::parse_time_lenient(v))
        };
        let (Some(s), Some(e)) = (parse("startDateTime"), parse("endDateTime")) else {
            return graph_err(
                400,
                "ErrorInvalidParameter",
                "This request requires a time window specified by the query string parameters StartDateTime and EndDateTime.",
            );
        };
        SkipTok {
            a: account.0.clone(),
            m: 0,
            f: 0,
            s: acct.seq,
            o: 0,
            e: acct.sync_epoch,
            n: page_size,
            st: s.timestamp(),
            en: e.timestamp(),
        }
    };
    if page.m == 1 && page.e != acct.sync_epoch {
        return sync_gone();
    }
    let (wmin, wmax) = (
        DateTime::from_timestamp(page.st, 0),
        DateTime::from_timestamp(page.en, 0),
    );
    let list: Vec<&Ev> = if page.m == 0 {
        let mut v: Vec<&Ev> = acct
            .events
            .iter()
            .filter(|e| !e.master && !e.deleted && e.overlaps(wmin, wmax))
            .collect();
        v.sort_by(|a, b| (a.start(), &a.id).cmp(&(b.start(), &b.id)));
        v
    } else {
        let mut v: Vec<&Ev> = acct
            .events
            .iter()
            .filter(|e| !e.master && e.seq > page.f && e.seq <= page.s)
            .collect();
        v.sort_by_key(|e| e.seq);
        v
    };
    let total = list.len();
    let end = (page.o + page.n).min(total);
    let graph = graph_base(&st.base_url);
    let zone = answer_zone(&st, &req);
    let mut items: Vec<Value> = list[page.o.min(total)..end]
        .iter()
        .map(|e| {
            if e.deleted || !e.overlaps(wmin, wmax) {
                json!({"@odata.type": "#microsoft.graph.event", "id": e.id, "@removed": {"reason": "deleted"}})
            } else {
                render_event(&graph, acct, e, (&zone.0, zone.1))
            }
        })
        .collect();
    let duplicate = acct.duplicate_next_delta && !items.is_empty();
    let mut body = json!({
        "@odata.context": format!("{graph}/$metadata#Collection(event)"),
    });
    if end < total {
        let mut next = page.clone();
        next.o = end;
        body["@odata.nextLink"] = json!(format!(
            "{graph}/me/calendarView/delta?$skiptoken={}",
            util::encode_token("SkP", &next)
        ));
    } else {
        body["@odata.deltaLink"] = json!(format!(
            "{graph}/me/calendarView/delta?$deltatoken={}",
            util::encode_token(
                "DtT",
                &DeltaTok {
                    a: page.a.clone(),
                    e: page.e,
                    s: page.s,
                    st: page.st,
                    en: page.en,
                }
            )
        ));
    }
    if duplicate {
        let copy = items.clone();
        items.extend(copy);
        if let Ok(a) = st.account_mut(&account) {
            a.duplicate_next_delta = false;
        }
    }
    body["value"] = Value::Array(items);
    let mut resp = json_resp(200, body);
    if let Some(n) = pref {
        if let Ok(v) =
            actix_web::http::header::HeaderValue::from_str(&format!("odata.maxpagesize={n}"))
        {
            resp.headers_mut().insert(
                actix_web::http::header::HeaderName::from_static("preference-applied"),
                v,
            );
        }
    }
    resp
}

fn graph_response(r: ResponseStatus, attendee_list: bool) -> &'static str {
    match r {
        ResponseStatus::Accepted => "accepted",
        ResponseStatus::Declined => "declined",
        ResponseStatus::Tentative => "tentativelyAccepted",
        ResponseStatus::NeedsAction => {
            if attendee_list {
                "none"
            } else {
                "notResponded"
            }
        }
    }
}

/// "bob.smith@x.test" → "Bob Smith"
pub(crate) fn name_from_email(email: &str) -> String {
    email
        .split('@')
        .next()
        .unwrap_or(email)
        .split(['.', '_', '-'])
        .filter(|p| !p.is_empty())
        .map(|p| {
            let mut c = p.chars();
            match c.next() {
                Some(f) => f.to_uppercase().collect::<String>() + c.as_str(),
                None => String::new(),
            }
        })
        .collect::<Vec<_>>()
        .join(" ")
}

fn email_address(name: Option<&str>, address: &str) -> Value {
    json!({"name": name.map(str::to_string).unwrap_or_else(|| name_from_email(address)), "address": address})
}

/// A Graph `dateTimeTimeZone` in `zone`: local wall-clock time and the zone's name.
fn graph_when(t: DateTime<Utc>, zone: (&str, chrono_tz::Tz)) -> Value {
    let local = crate::zones::to_local(zone.1, t).and_utc();
    json!({"dateTime": util::graph_datetime(local), "timeZone": zone.0})
}

/// An all-day bound: midnight of the date, written in the answer's zone (as Graph does).
fn graph_date(d: chrono::NaiveDate, zone: (&str, chrono_tz::Tz)) -> Value {
    json!({"dateTime": util::graph_datetime(util::date_start(d)), "timeZone": zone.0})
}

/// Render one stored event as a Graph event resource, times in `zone`.
pub(crate) fn render_event(
    graph: &str,
    acct: &Account,
    e: &Ev,
    zone: (&str, chrono_tz::Tz),
) -> Value {
    let me = acct
        .info
        .mail
        .clone()
        .unwrap_or_else(|| acct.info.email.clone());
    let c = &e.content;
    let organizer = c.organizer.clone().unwrap_or_else(|| me.clone());
    let self_org =
        organizer.eq_ignore_ascii_case(&me) || organizer.eq_ignore_ascii_case(&acct.info.email);
    let is_me = |x: &str| x.eq_ignore_ascii_case(&me) || x.eq_ignore_ascii_case(&acct.info.email);
    let cancelled = e.status == EventStatus::Cancelled;
    let resp_time = util::rfc3339_secs(e.updated);
    let never = "0001-01-01T00:00:00Z";
    let mut m = Map::new();
    m.insert(
        "@odata.etag".into(),
        json!(format!("W/\"DwAAABYAAAB{:012}\"", e.seq)),
    );
    m.insert("id".into(), json!(e.id));
    m.insert(
        "createdDateTime".into(),
        json!(util::graph_timestamp(e.created)),
    );
    m.insert(
        "lastModifiedDateTime".into(),
        json!(util::graph_timestamp(e.updated)),
    );
    m.insert(
        "changeKey".into(),
        json!(format!("DwAAABYAAAB{:012}", e.seq)),
    );
    m.insert("categories".into(), json!([]));
    m.insert("transactionId".into(), Value::Null);
    m.insert("originalStartTimeZone".into(), json!(zone.0));
    m.insert("originalEndTimeZone".into(), json!(zone.0));
    m.insert("iCalUId".into(), json!(e.ical_uid));
    m.insert(
        "uid".into(),
        json!(e
            .ical_uid
            .get(..e.ical_uid.len().saturating_sub(8))
            .unwrap_or("")),
    );
    m.insert("reminderMinutesBeforeStart".into(), json!(15));
    m.insert("isReminderOn".into(), json!(!cancelled));
    m.insert("hasAttachments".into(), json!(false));
    m.insert("subject".into(), json!(c.title));
    let content = match &c.description {
        None => String::new(),
        Some(d) if d.contains("<html") => d.clone(),
        Some(d) => format!(
            "<html><head><meta http-equiv=\"Content-Type\" content=\"text/html; charset=utf-8\"></head><body>{d}</body></html>"
        ),
    };
    m.insert("bodyPreview".into(), json!(util::html_preview(&content)));
    m.insert("importance".into(), json!("normal"));
    m.insert("sensitivity".into(), json!("normal"));
    m.insert(
        "isAllDay".into(),
        json!(matches!(e.when, EventWhen::AllDay { .. })),
    );
    m.insert("isCancelled".into(), json!(cancelled));
    m.insert("isOrganizer".into(), json!(self_org));
    m.insert("responseRequested".into(), json!(true));
    m.insert(
        "seriesMasterId".into(),
        e.series_id.as_ref().map_or(Value::Null, |s| json!(s)),
    );
    m.insert(
        "showAs".into(),
        json!(if cancelled { "free" } else { "busy" }),
    );
    let typ = match (&e.series_id, e.exception) {
        (None, _) => "singleInstance",
        (Some(_), false) => "occurrence",
        (Some(_), true) => "exception",
    };
    m.insert("type".into(), json!(typ));
    m.insert(
        "webLink".into(),
        json!(format!(
            "{}/owa/?itemid={}&exvsurl=1&path=/calendar/item",
            graph.trim_end_matches("/graph/v1.0"),
            e.id
        )),
    );
    m.insert("onlineMeetingUrl".into(), Value::Null);
    let online = c.conference.as_ref();
    m.insert("isOnlineMeeting".into(), json!(online.is_some()));
    m.insert(
        "onlineMeetingProvider".into(),
        json!(match online.map(|o| o.kind) {
            None => "unknown",
            Some(ConferenceKind::Teams) => "teamsForBusiness",
            Some(_) => "unknown",
        }),
    );
    m.insert("allowNewTimeProposals".into(), json!(true));
    m.insert("isDraft".into(), json!(false));
    m.insert("hideAttendees".into(), json!(false));
    let self_resp = c.self_response.unwrap_or(if self_org {
        ResponseStatus::Accepted
    } else {
        ResponseStatus::NeedsAction
    });
    m.insert(
        "responseStatus".into(),
        if self_org {
            json!({"response": "organizer", "time": never})
        } else {
            json!({"response": graph_response(self_resp, false),
                   "time": if self_resp == ResponseStatus::NeedsAction { never.to_string() } else { resp_time.clone() }})
        },
    );
    m.insert(
        "body".into(),
        json!({"contentType": "html", "content": content}),
    );
    let (start, end) = match e.when {
        EventWhen::AllDay {
            start_date,
            end_date,
        } => (graph_date(start_date, zone), graph_date(end_date, zone)),
        EventWhen::Timed { start, end } => (graph_when(start, zone), graph_when(end, zone)),
    };
    m.insert(
        "start".into(),
        if e.corrupt {
            json!({"dateTime": "not a time", "timeZone": zone.0})
        } else {
            start
        },
    );
    m.insert("end".into(), end);
    let loc = c.location.clone().unwrap_or_default();
    let loc_json = json!({"displayName": loc, "locationType": "default", "uniqueIdType": if loc.is_empty() { "unknown" } else { "private" }, "address": {}, "coordinates": {}});
    m.insert(
        "locations".into(),
        if loc.is_empty() {
            json!([])
        } else {
            json!([loc_json.clone()])
        },
    );
    m.insert("location".into(), loc_json);
    m.insert("recurrence".into(), Value::Null);
    if let (Some(_), Some(o)) = (&e.series_id, &e.original_start) {
        let t = match o {
            EventWhen::Timed { start, .. } => *start,
            EventWhen::AllDay { start_date, .. } => util::date_start(*start_date),
        };
        m.insert("originalStart".into(), json!(util::rfc3339_secs(t)));
    }
    let mut atts = Vec::new();
    let mut has_self = false;
    for a in &c.attendees {
        if a.email.eq_ignore_ascii_case(&organizer) {
            continue;
        }
        let mine = is_me(&a.email);
        has_self |= mine;
        let r = if mine && c.self_response.is_some() {
            self_resp
        } else {
            a.response
        };
        atts.push(json!({
            "type": if a.optional { "optional" } else { "required" },
            "status": {"response": graph_response(r, true),
                       "time": if r == ResponseStatus::NeedsAction { never.to_string() } else { resp_time.clone() }},
            "emailAddress": email_address(a.name.as_deref(), &a.email),
        }));
    }
    if !self_org && !has_self {
        atts.push(json!({
            "type": "required",
            "status": {"response": graph_response(self_resp, true),
                       "time": if self_resp == ResponseStatus::NeedsAction { never.to_string() } else { resp_time.clone() }},
            "emailAddress": email_address(Some(&acct.info.display_name), &me),
        }));
    }
    m.insert("attendees".into(), Value::Array(atts));
    let org_name = if self_org {
        Some(acct.info.display_name.as_str())
    } else {
        None
    };
    m.insert(
        "organizer".into(),
        json!({"emailAddress": email_address(org_name, &organizer)}),
    );
    m.insert(
        "onlineMeeting".into(),
        online.map_or(Value::Null, |o| json!({"joinUrl": o.url})),
    );
    Value::Object(m)
}
