//! Push notifications, the provider side (push.md, "What the simulator must add"):
//! Google `events.watch` / `channels.stop`, Graph `subscriptions` (create with the
//! validation handshake against the given URLs *before* answering, PATCH, DELETE), and the
//! notifications themselves, sent at once after every change made through the control API
//! or a [`crate::SimHandle`] method.
//!
//! Control: refuse the next create with a chosen error, expire a channel or subscription
//! early, drop an account's notifications, send a lifecycle notification, list the live
//! channels and subscriptions, wait until every notification sent was answered
//! ([`crate::SimHandle::push_flush`]).
//!
//! Notifications are collected under the state lock ([`SimState::push_collect`], which
//! compares each watched account's change counter with the last one notified) and sent
//! after it is released ([`Outgoing::dispatch`]).

use crate::model::*;
use crate::server::{self, json_resp, lock, Data};
use crate::state::{Account, SimError, SimResult, SimState};
use crate::util;
use actix_web::{web, HttpRequest, HttpResponse};
use chrono::{DateTime, Duration, Utc};
use serde::{Deserialize, Serialize};
use serde_json::{json, Value};
use std::collections::{HashMap, HashSet};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};

/// Longest Google channel (`params.ttl` is capped to it; also the default).
const GOOGLE_MAX_TTL_SECS: i64 = 604_800;
/// Longest Graph subscription on Outlook resources.
const GRAPH_MAX_MINUTES: i64 = 10_080;
const TENANT: &str = "9188040d-6c67-4c5b-b112-36a304b66dad";
/// Graph waits this long for a validation answer.
const VALIDATION_TIMEOUT_SECS: u64 = 10;

// ------------------------------------------------------------------------- public types

/// A Google channel as the simulator holds it.
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq, Eq)]
pub struct PushChannelInfo {
    pub id: String,
    pub resource_id: String,
    pub account_id: AccountId,
    pub client_id: String,
    pub address: String,
    pub token: Option<String>,
    pub expiration: DateTime<Utc>,
}

/// A Graph subscription as the simulator holds it.
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq, Eq)]
pub struct PushSubscriptionInfo {
    pub id: String,
    pub account_id: AccountId,
    pub client_id: String,
    pub resource: String,
    pub change_type: String,
    pub notification_url: String,
    pub lifecycle_notification_url: Option<String>,
    pub client_state: Option<String>,
    pub expiration: DateTime<Utc>,
}

/// Live channels and subscriptions (not stopped, deleted or expired).
#[derive(Clone, Debug, Default, Serialize, Deserialize)]
pub struct PushListing {
    pub channels: Vec<PushChannelInfo>,
    pub subscriptions: Vec<PushSubscriptionInfo>,
}

/// One request the simulator sent to a notification URL, and what came back.
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq, Eq)]
pub struct PushDelivery {
    /// `google` (a channel message), `graph` (change notifications), `lifecycle`,
    /// `validation` (the handshake).
    pub kind: String,
    /// Channel or subscription id (empty for a handshake before the id exists).
    pub target: String,
    /// `X-Goog-Resource-State` for Google (`sync`, `exists`), the change types for Graph,
    /// the lifecycle event.
    pub what: String,
    pub url: String,
    /// The HTTP status of the answer; None when the request failed.
    pub status: Option<u16>,
    pub error: Option<String>,
}

/// Graph lifecycle events.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub enum LifecycleEvent {
    ReauthorizationRequired,
    SubscriptionRemoved,
    Missed,
}

impl LifecycleEvent {
    fn wire(self) -> &'static str {
        match self {
            LifecycleEvent::ReauthorizationRequired => "reauthorizationRequired",
            LifecycleEvent::SubscriptionRemoved => "subscriptionRemoved",
            LifecycleEvent::Missed => "missed",
        }
    }
}

/// The error the next create answers with.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct PushRefusal {
    pub provider: Provider,
    /// HTTP status (default 403).
    #[serde(default = "forbidden")]
    pub status: u16,
    /// Google `reason` (default `push.webhookUrlUnauthorized`) / Graph error `code`
    /// (default `ExtensionError`).
    #[serde(default)]
    pub reason: Option<String>,
}

fn forbidden() -> u16 {
    403
}

// ------------------------------------------------------------------------- world state

struct Chan {
    info: PushChannelInfo,
    live: bool,
    messages: u64,
}

struct Sub {
    info: PushSubscriptionInfo,
    live: bool,
}

/// Sender shared by every dispatch: the HTTP client, in-flight count and delivery log.
#[derive(Clone)]
pub(crate) struct Dispatcher {
    http: reqwest::Client,
    inflight: Arc<AtomicUsize>,
    log: Arc<Mutex<Vec<PushDelivery>>>,
}

/// The push part of [`SimState`].
pub(crate) struct PushWorld {
    channels: HashMap<String, Chan>,
    subscriptions: HashMap<String, Sub>,
    /// Per watched account: the change counter up to which notifications went out.
    seen: HashMap<AccountId, u64>,
    resource_ids: HashMap<AccountId, String>,
    dropped: HashSet<AccountId>,
    refuse_next: HashMap<Provider, PushRefusal>,
    /// Notifications collected and not yet handed to the dispatcher.
    queued: Vec<Note>,
    dispatcher: Dispatcher,
}

impl Default for PushWorld {
    fn default() -> Self {
        PushWorld {
            channels: HashMap::new(),
            subscriptions: HashMap::new(),
            seen: HashMap::new(),
            resource_ids: HashMap::new(),
            dropped: HashSet::new(),
            refuse_next: HashMap::new(),
            queued: Vec::new(),
            dispatcher: Dispatcher {
                http: reqwest::Client::builder()
                    .timeout(std::time::Duration::from_secs(VALIDATION_TIMEOUT_SECS))
                    .redirect(reqwest::redirect::Policy::none())
                    .build()
                    .unwrap_or_default(),
                inflight: Arc::new(AtomicUsize::new(0)),
                log: Arc::new(Mutex::new(Vec::new())),
            },
        }
    }
}

/// One request to send.
struct Note {
    kind: &'static str,
    target: String,
    what: String,
    url: String,
    headers: Vec<(String, String)>,
    body: Option<Value>,
}

/// Notifications taken from the state, to send once its lock is released.
pub(crate) struct Outgoing {
    notes: Vec<Note>,
    dispatcher: Dispatcher,
}

impl Outgoing {
    /// Sends every notification now (each in its own task).
    pub(crate) fn dispatch(self) {
        if self.notes.is_empty() {
            return;
        }
        let Outgoing { notes, dispatcher } = self;
        let run = async move {
            for note in notes {
                let d = dispatcher.clone();
                tokio::spawn(async move { d.send(note).await });
            }
        };
        match tokio::runtime::Handle::try_current() {
            Ok(h) => {
                h.spawn(run);
            }
            Err(_) => {
                // Outside any runtime (a plain thread): a small one of its own.
                std::thread::spawn(move || {
                    if let Ok(rt) = tokio::runtime::Builder::new_current_thread()
                        .enable_all()
                        .build()
                    {
                        rt.block_on(async move {
                            run.await;
                            tokio::time::sleep(std::time::Duration::from_secs(
                                VALIDATION_TIMEOUT_SECS + 1,
                            ))
                            .await;
                        });
                    }
                });
            }
        }
    }
}

impl Dispatcher {
    async fn send(&self, note: Note) {
        let mut req = self.http.post(&note.url);
        for (k, v) in &note.headers {
            req = req.header(k.as_str(), v.as_str());
        }
        req = match &note.body {
            Some(b) => req.json(b),
            None => req.header("Content-Length", "0"),
        };
        let (status, error) = match req.send().await {
            Ok(res) => (Some(res.status().as_u16()), None),
            Err(e) => (None, Some(e.without_url().to_string())),
        };
        self.record(PushDelivery {
            kind: note.kind.to_string(),
            target: note.target,
            what: note.what,
            url: note.url,
            status,
            error,
        });
        self.inflight.fetch_sub(1, Ordering::SeqCst);
    }

    fn record(&self, d: PushDelivery) {
        self.log.lock().unwrap_or_else(|e| e.into_inner()).push(d);
    }

    /// Waits until nothing is in flight (at most `within`); returns the deliveries logged
    /// since the last call.
    pub(crate) async fn flush(&self, within: std::time::Duration) -> Vec<PushDelivery> {
        let deadline = tokio::time::Instant::now() + within;
        while self.inflight.load(Ordering::SeqCst) > 0 && tokio::time::Instant::now() < deadline {
            tokio::time::sleep(std::time::Duration::from_millis(2)).await;
        }
        std::mem::take(&mut *self.log.lock().unwrap_or_else(|e| e.into_inner()))
    }
}

impl PushWorld {
    fn queue(&mut self, note: Note) {
        self.dispatcher.inflight.fetch_add(1, Ordering::SeqCst);
        self.queued.push(note);
    }

    pub(crate) fn dispatcher(&self) -> Dispatcher {
        self.dispatcher.clone()
    }

    fn channel_live(c: &Chan, now: DateTime<Utc>) -> bool {
        c.live && c.info.expiration > now
    }

    fn sub_live(s: &Sub, now: DateTime<Utc>) -> bool {
        s.live && s.info.expiration > now
    }

    pub(crate) fn listing(&self, now: DateTime<Utc>) -> PushListing {
        let mut channels: Vec<PushChannelInfo> = self
            .channels
            .values()
            .filter(|c| Self::channel_live(c, now))
            .map(|c| c.info.clone())
            .collect();
        channels.sort_by(|a, b| (a.expiration, &a.id).cmp(&(b.expiration, &b.id)));
        let mut subscriptions: Vec<PushSubscriptionInfo> = self
            .subscriptions
            .values()
            .filter(|s| Self::sub_live(s, now))
            .map(|s| s.info.clone())
            .collect();
        subscriptions.sort_by(|a, b| (a.expiration, &a.id).cmp(&(b.expiration, &b.id)));
        PushListing {
            channels,
            subscriptions,
        }
    }

    pub(crate) fn refuse_next(&mut self, r: PushRefusal) {
        self.refuse_next.insert(r.provider, r);
    }

    pub(crate) fn set_dropped(&mut self, account: &AccountId, drop: bool) {
        if drop {
            self.dropped.insert(account.clone());
        } else {
            self.dropped.remove(account);
        }
    }

    /// Ends a channel or subscription now (it stops notifying; Graph renewals get 404).
    pub(crate) fn expire(&mut self, id: &str) -> SimResult<()> {
        if let Some(c) = self.channels.get_mut(id) {
            c.live = false;
            return Ok(());
        }
        if let Some(s) = self.subscriptions.get_mut(id) {
            s.live = false;
            return Ok(());
        }
        Err(SimError(format!("unknown channel or subscription {id}")))
    }

    /// Sends a lifecycle notification for a live subscription (`subscriptionRemoved` also
    /// removes it).
    pub(crate) fn lifecycle(
        &mut self,
        id: &str,
        event: LifecycleEvent,
        now: DateTime<Utc>,
    ) -> SimResult<()> {
        let Some(s) = self
            .subscriptions
            .get_mut(id)
            .filter(|s| Self::sub_live(s, now))
        else {
            return Err(SimError(format!("no live subscription {id}")));
        };
        let Some(url) = s.info.lifecycle_notification_url.clone() else {
            return Err(SimError(format!(
                "subscription {id} has no lifecycleNotificationUrl"
            )));
        };
        let mut item = json!({
            "subscriptionId": s.info.id,
            "subscriptionExpirationDateTime": graph_time(s.info.expiration),
            "tenantId": TENANT,
            "lifecycleEvent": event.wire(),
        });
        if let Some(cs) = &s.info.client_state {
            item["clientState"] = json!(cs);
        }
        if event == LifecycleEvent::SubscriptionRemoved {
            s.live = false;
        }
        let target = s.info.id.clone();
        self.queue(Note {
            kind: "lifecycle",
            target,
            what: event.wire().to_string(),
            url,
            headers: vec![],
            body: Some(json!({ "value": [item] })),
        });
        Ok(())
    }
}

fn graph_time(t: DateTime<Utc>) -> String {
    util::graph_timestamp(t)
}

fn http_date(t: DateTime<Utc>) -> String {
    t.format("%a, %d %b %Y %H:%M:%S GMT").to_string()
}

impl SimState {
    /// Notifications for every change since the last call on watched accounts, to send
    /// after the lock is released.
    pub(crate) fn push_collect(&mut self) -> Outgoing {
        let now = self.now();
        let base = self.base_url.clone();
        let SimState { accounts, push, .. } = self;
        let watched: Vec<AccountId> = push.seen.keys().cloned().collect();
        for account in watched {
            let Some(acct) = accounts.get(&account) else {
                continue;
            };
            let seen = push.seen.get(&account).copied().unwrap_or(0);
            if acct.seq <= seen {
                continue;
            }
            push.seen.insert(account.clone(), acct.seq);
            if push.dropped.contains(&account) {
                continue;
            }
            notes_for(push, acct, seen, now, &base);
        }
        Outgoing {
            notes: std::mem::take(&mut push.queued),
            dispatcher: push.dispatcher.clone(),
        }
    }
}

/// Queues the notifications for `acct`'s changes after `seen`.
fn notes_for(push: &mut PushWorld, acct: &Account, seen: u64, now: DateTime<Utc>, base: &str) {
    let account = &acct.info.account_id;
    let mut google = Vec::new();
    for c in push.channels.values_mut() {
        if &c.info.account_id == account && PushWorld::channel_live(c, now) {
            c.messages += 1;
            google.push(Note {
                kind: "google",
                target: c.info.id.clone(),
                what: "exists".into(),
                url: c.info.address.clone(),
                headers: google_headers(&c.info, c.messages, "exists", base),
                body: None,
            });
        }
    }
    let changed: Vec<_> = acct
        .events
        .iter()
        .filter(|e| e.seq > seen && !e.master)
        .collect();
    let mut graph = Vec::new();
    for s in push.subscriptions.values() {
        if &s.info.account_id != account || !PushWorld::sub_live(s, now) {
            continue;
        }
        let mut items = Vec::new();
        let mut kinds = Vec::new();
        for e in &changed {
            let change = if e.deleted {
                "deleted"
            } else if e.created == e.updated {
                "created"
            } else {
                "updated"
            };
            if !s.info.change_type.split(',').any(|t| t.trim() == change) {
                continue;
            }
            let resource = format!("Users/{}/Events/{}", account, e.id);
            let mut item = json!({
                "subscriptionId": s.info.id,
                "subscriptionExpirationDateTime": graph_time(s.info.expiration),
                "changeType": change,
                "resource": resource,
                "resourceData": {
                    "@odata.type": "#Microsoft.Graph.Event",
                    "@odata.id": resource,
                    "@odata.etag": format!("W/\"{}\"", e.seq),
                    "id": e.id,
                },
                "tenantId": TENANT,
            });
            if let Some(cs) = &s.info.client_state {
                item["clientState"] = json!(cs);
            }
            items.push(item);
            kinds.push(change);
        }
        if !items.is_empty() {
            kinds.dedup();
            graph.push(Note {
                kind: "graph",
                target: s.info.id.clone(),
                what: kinds.join(","),
                url: s.info.notification_url.clone(),
                headers: vec![],
                body: Some(json!({ "value": items })),
            });
        }
    }
    for n in google.into_iter().chain(graph) {
        push.queue(n);
    }
}

fn google_headers(
    c: &PushChannelInfo,
    number: u64,
    state: &str,
    base: &str,
) -> Vec<(String, String)> {
    let mut h = vec![
        ("X-Goog-Channel-ID".to_string(), c.id.clone()),
        ("X-Goog-Resource-ID".to_string(), c.resource_id.clone()),
        ("X-Goog-Resource-State".to_string(), state.to_string()),
        ("X-Goog-Message-Number".to_string(), number.to_string()),
        (
            "X-Goog-Channel-Expiration".to_string(),
            http_date(c.expiration),
        ),
        (
            "X-Goog-Resource-URI".to_string(),
            format!("{base}/google/calendar/v3/calendars/primary/events?alt=json"),
        ),
    ];
    if let Some(t) = &c.token {
        h.push(("X-Goog-Channel-Token".to_string(), t.clone()));
    }
    h
}

// ------------------------------------------------------------------------------- routes

pub(crate) fn routes(cfg: &mut web::ServiceConfig) {
    cfg.route(
        "/google/calendar/v3/calendars/primary/events/watch",
        web::post().to(google_watch),
    )
    .route(
        "/google/calendar/v3/channels/stop",
        web::post().to(google_stop),
    )
    .route(
        "/microsoft/graph/v1.0/subscriptions",
        web::post().to(graph_create),
    )
    .route(
        "/microsoft/graph/v1.0/subscriptions/{id}",
        web::patch().to(graph_update),
    )
    .route(
        "/microsoft/graph/v1.0/subscriptions/{id}",
        web::delete().to(graph_delete),
    )
    .route("/_sim/push", web::get().to(ctl_list))
    .route("/_sim/push/refuse", web::post().to(ctl_refuse))
    .route("/_sim/push/expire", web::post().to(ctl_expire))
    .route("/_sim/push/lifecycle", web::post().to(ctl_lifecycle))
    .route("/_sim/push/deliveries", web::get().to(ctl_deliveries))
    .route("/_sim/accounts/{id}/push/drop", web::post().to(ctl_drop));
}

fn google_err(code: u16, reason: &str, message: &str) -> HttpResponse {
    json_resp(
        code,
        json!({"error": {
            "errors": [{"domain": "global", "reason": reason, "message": message}],
            "code": code,
            "message": message}}),
    )
}

fn graph_err(code: u16, err: &str, message: &str) -> HttpResponse {
    json_resp(
        code,
        json!({"error": {"code": err, "message": message,
            "innerError": {"date": util::rfc3339_secs(Utc::now()), "request-id": util::uuid()}}}),
    )
}

/// The bearer's (account, client id, scopes), or the provider's 401.
fn bearer(
    st: &SimState,
    provider: Provider,
    req: &HttpRequest,
) -> Result<(AccountId, String, Vec<String>), HttpResponse> {
    let tok = util::parse_bearer(server::header(req, "authorization"));
    let unauthorized = || match provider {
        Provider::Microsoft => graph_err(
            401,
            "InvalidAuthenticationToken",
            "Access token validation failure.",
        ),
        _ => google_err(401, "authError", "Invalid Credentials"),
    };
    let (account, scopes) = st
        .check_access(provider, tok.as_deref())
        .map_err(|_| unauthorized())?;
    let client = tok
        .as_deref()
        .and_then(|t| st.access.get(t))
        .map(|a| a.client_id.clone())
        .unwrap_or_default();
    Ok((account, client, scopes))
}

fn valid_address(url: &str) -> bool {
    url::Url::parse(url).is_ok_and(|u| matches!(u.scheme(), "http" | "https"))
}

#[derive(Deserialize)]
struct WatchReq {
    #[serde(default)]
    id: String,
    #[serde(default, rename = "type")]
    kind: String,
    #[serde(default)]
    address: String,
    #[serde(default)]
    token: Option<String>,
    #[serde(default)]
    params: Option<HashMap<String, String>>,
}

async fn google_watch(data: Data, req: HttpRequest, body: web::Bytes) -> HttpResponse {
    if let Some(r) = server::pre(&data, Endpoint::GoogleWatch).await {
        return r;
    }
    let out;
    let resp = {
        let mut st = lock(&data);
        let (account, client, _) = match bearer(&st, Provider::Google, &req) {
            Ok(x) => x,
            Err(r) => return r,
        };
        let Ok(w) = serde_json::from_slice::<WatchReq>(&body) else {
            return google_err(400, "parseError", "Parse Error");
        };
        if let Some(r) = st.push.refuse_next.remove(&Provider::Google) {
            let reason = r
                .reason
                .unwrap_or_else(|| "push.webhookUrlUnauthorized".into());
            return google_err(
                r.status,
                &reason,
                &format!("Unauthorized WebHook callback channel: {}", w.address),
            );
        }
        if w.id.is_empty() || w.id.len() > 64 {
            return google_err(400, "required", "Required: id");
        }
        if !matches!(w.kind.as_str(), "web_hook" | "webhook") {
            return google_err(400, "invalid", "Invalid value for: type");
        }
        if !valid_address(&w.address) {
            return google_err(
                400,
                "push.webhookUrlNotHttps",
                "WebHook callback must be HTTPS: ",
            );
        }
        if w.token.as_ref().is_some_and(|t| t.len() > 256) {
            return google_err(400, "invalid", "Invalid value for: token");
        }
        if st.push.channels.contains_key(&w.id) {
            return google_err(
                400,
                "channelIdNotUnique",
                &format!("Channel id {} not unique", w.id),
            );
        }
        let ttl = w
            .params
            .as_ref()
            .and_then(|p| p.get("ttl"))
            .and_then(|t| t.parse::<i64>().ok())
            .filter(|t| *t > 0)
            .unwrap_or(GOOGLE_MAX_TTL_SECS)
            .min(GOOGLE_MAX_TTL_SECS);
        let now = st.now();
        let seq = st.account(&account).map(|a| a.seq).unwrap_or(0);
        let push = &mut st.push;
        let resource_id = push
            .resource_ids
            .entry(account.clone())
            .or_insert_with(|| util::rand_alnum(27))
            .clone();
        let info = PushChannelInfo {
            id: w.id.clone(),
            resource_id: resource_id.clone(),
            account_id: account.clone(),
            client_id: client,
            address: w.address.clone(),
            token: w.token.clone(),
            expiration: now + Duration::seconds(ttl),
        };
        push.seen.entry(account).or_insert(seq);
        // Google confirms a new channel with a `sync` message.
        let base = st.base_url.clone();
        let push = &mut st.push;
        push.queue(Note {
            kind: "google",
            target: info.id.clone(),
            what: "sync".into(),
            url: info.address.clone(),
            headers: google_headers(&info, 1, "sync", &base),
            body: None,
        });
        push.channels.insert(
            info.id.clone(),
            Chan {
                info: info.clone(),
                live: true,
                messages: 1,
            },
        );
        let resp = json_resp(
            200,
            json!({
                "kind": "api#channel",
                "id": info.id,
                "resourceId": info.resource_id,
                "resourceUri": format!("{base}/google/calendar/v3/calendars/primary/events?alt=json"),
                "token": info.token,
                "expiration": info.expiration.timestamp_millis().to_string(),
            }),
        );
        out = st.push_collect();
        resp
    };
    out.dispatch();
    resp
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct StopReq {
    #[serde(default)]
    id: String,
    #[serde(default)]
    resource_id: String,
}

async fn google_stop(data: Data, req: HttpRequest, body: web::Bytes) -> HttpResponse {
    if let Some(r) = server::pre(&data, Endpoint::GoogleChannelsStop).await {
        return r;
    }
    let mut st = lock(&data);
    let (_, client, _) = match bearer(&st, Provider::Google, &req) {
        Ok(x) => x,
        Err(r) => return r,
    };
    let Ok(s) = serde_json::from_slice::<StopReq>(&body) else {
        return google_err(400, "parseError", "Parse Error");
    };
    let now = st.now();
    match st.push.channels.get_mut(&s.id) {
        // Channels belong to the project (OAuth client) that created them.
        Some(c)
            if c.info.resource_id == s.resource_id
                && c.info.client_id == client
                && PushWorld::channel_live(c, now) =>
        {
            c.live = false;
            HttpResponse::NoContent().finish()
        }
        _ => google_err(
            404,
            "notFound",
            &format!("Channel '{}' not found for project", s.id),
        ),
    }
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct SubReq {
    #[serde(default)]
    change_type: String,
    #[serde(default)]
    notification_url: String,
    #[serde(default)]
    lifecycle_notification_url: Option<String>,
    #[serde(default)]
    resource: String,
    #[serde(default)]
    expiration_date_time: String,
    #[serde(default)]
    client_state: Option<String>,
}

fn graph_json(base: &str, s: &PushSubscriptionInfo) -> Value {
    json!({
        "@odata.context": format!("{base}/microsoft/graph/v1.0/$metadata#subscriptions/$entity"),
        "id": s.id,
        "resource": s.resource,
        "applicationId": s.client_id,
        "changeType": s.change_type,
        "clientState": s.client_state,
        "notificationUrl": s.notification_url,
        "lifecycleNotificationUrl": s.lifecycle_notification_url,
        "expirationDateTime": graph_time(s.expiration),
        "creatorId": s.account_id,
        "includeResourceData": false,
        "latestSupportedTlsVersion": "v1_2",
        "encryptionCertificate": null,
        "encryptionCertificateId": null,
        "notificationQueryOptions": null,
        "notificationContentType": null,
    })
}

/// A new expiry: in the future and within Graph's maximum.
fn graph_expiry(text: &str, now: DateTime<Utc>) -> Result<DateTime<Utc>, HttpResponse> {
    let Some(t) = util::parse_rfc3339(text) else {
        return Err(graph_err(
            400,
            "InvalidRequest",
            "expirationDateTime is required and must be an ISO 8601 date.",
        ));
    };
    if t <= now {
        return Err(graph_err(
            400,
            "InvalidRequest",
            "Subscription expiration must be in the future.",
        ));
    }
    if t > now + Duration::minutes(GRAPH_MAX_MINUTES) {
        return Err(graph_err(
            400,
            "InvalidRequest",
            &format!(
                "Subscription expiration can only be {GRAPH_MAX_MINUTES} minutes in the future."
            ),
        ));
    }
    Ok(t)
}

fn calendars_scope(scopes: &[String]) -> bool {
    scopes
        .iter()
        .any(|s| crate::state::scope_key(Provider::Microsoft, s).starts_with("calendars."))
}

/// The handshake: POST `url?validationToken=…`, expect `200` and the token as the body.
async fn validate(d: &Dispatcher, url: &str, target: &str) -> Result<(), String> {
    let token = format!(
        "Validation: Testing client application reachability for subscription Request-Id: {}",
        util::uuid()
    );
    let mut u = url::Url::parse(url).map_err(|e| e.to_string())?;
    u.query_pairs_mut().append_pair("validationToken", &token);
    let res = d
        .http
        .post(u.as_str())
        .header("Content-Type", "text/plain; charset=utf-8")
        .header("Content-Length", "0")
        .send()
        .await;
    let (status, error, ok) = match res {
        Ok(r) => {
            let status = r.status().as_u16();
            let ct_ok = r
                .headers()
                .get("content-type")
                .and_then(|v| v.to_str().ok())
                .is_some_and(|v| v.starts_with("text/plain"));
            let body = r.text().await.unwrap_or_default();
            let ok = status == 200 && ct_ok && body == token;
            (
                Some(status),
                (!ok).then(|| {
                    format!(
                        "answered {status} {:?}",
                        body.chars().take(80).collect::<String>()
                    )
                }),
                ok,
            )
        }
        Err(e) => (None, Some(e.without_url().to_string()), false),
    };
    d.record(PushDelivery {
        kind: "validation".into(),
        target: target.to_string(),
        what: "validationToken".into(),
        url: url.to_string(),
        status,
        error: error.clone(),
    });
    if ok {
        Ok(())
    } else {
        Err(error.unwrap_or_default())
    }
}

async fn graph_create(data: Data, req: HttpRequest, body: web::Bytes) -> HttpResponse {
    if let Some(r) = server::pre(&data, Endpoint::MicrosoftSubscriptionCreate).await {
        return r;
    }
    let (account, client, s, expiration, dispatcher) = {
        let mut st = lock(&data);
        let (account, client, scopes) = match bearer(&st, Provider::Microsoft, &req) {
            Ok(x) => x,
            Err(r) => return r,
        };
        if !calendars_scope(&scopes) {
            return graph_err(
                403,
                "ExtensionError",
                "Operation: Create; Exception: [Status Code: Forbidden; Reason: Access is denied.]",
            );
        }
        let Ok(s) = serde_json::from_slice::<SubReq>(&body) else {
            return graph_err(400, "BadRequest", "Unable to read JSON request payload.");
        };
        if let Some(r) = st.push.refuse_next.remove(&Provider::Microsoft) {
            let code = r.reason.unwrap_or_else(|| "ExtensionError".into());
            return graph_err(
                r.status,
                &code,
                "Operation: Create; Exception: [Status Code: Forbidden; Reason: The subscription was refused.]",
            );
        }
        let resource = s.resource.trim_start_matches('/').to_ascii_lowercase();
        if !matches!(resource.as_str(), "me/events" | "me/calendar/events") {
            return graph_err(
                400,
                "ExtensionError",
                &format!("Operation: Create; Exception: [Status Code: BadRequest; Reason: Unsupported resource '{}']", s.resource),
            );
        }
        let types_ok = !s.change_type.is_empty()
            && s.change_type
                .split(',')
                .all(|t| matches!(t.trim(), "created" | "updated" | "deleted"));
        if !types_ok {
            return graph_err(400, "InvalidRequest", "Invalid changeType.");
        }
        if !valid_address(&s.notification_url)
            || s.lifecycle_notification_url
                .as_deref()
                .is_some_and(|u| !valid_address(u))
        {
            return graph_err(400, "InvalidRequest", "Invalid notification URL.");
        }
        if s.client_state.as_ref().is_some_and(|c| c.len() > 128) {
            return graph_err(
                400,
                "ValidationError",
                "clientState must not be longer than 128 characters.",
            );
        }
        let now = st.now();
        let expiration = match graph_expiry(&s.expiration_date_time, now) {
            Ok(t) => t,
            Err(r) => return r,
        };
        (account, client, s, expiration, st.push.dispatcher())
    };
    // Graph validates the URLs before it answers, with the state lock released.
    let mut urls = vec![s.notification_url.clone()];
    urls.extend(s.lifecycle_notification_url.clone());
    for url in &urls {
        if let Err(e) = validate(&dispatcher, url, "").await {
            return graph_err(
                400,
                "ValidationError",
                &format!("Subscription validation request failed. Notification endpoint must respond with 200 OK to validation request. ({e})"),
            );
        }
    }
    let mut st = lock(&data);
    let seq = st.account(&account).map(|a| a.seq).unwrap_or(0);
    let info = PushSubscriptionInfo {
        id: util::uuid(),
        account_id: account.clone(),
        client_id: client,
        resource: s.resource.clone(),
        change_type: s.change_type.clone(),
        notification_url: s.notification_url.clone(),
        lifecycle_notification_url: s.lifecycle_notification_url.clone(),
        client_state: s.client_state.clone(),
        expiration,
    };
    st.push.seen.entry(account).or_insert(seq);
    st.push.subscriptions.insert(
        info.id.clone(),
        Sub {
            info: info.clone(),
            live: true,
        },
    );
    json_resp(201, graph_json(&st.base_url, &info))
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct PatchReq {
    #[serde(default)]
    expiration_date_time: String,
}

fn not_found() -> HttpResponse {
    graph_err(404, "ResourceNotFound", "The object was not found.")
}

async fn graph_update(
    data: Data,
    req: HttpRequest,
    path: web::Path<String>,
    body: web::Bytes,
) -> HttpResponse {
    if let Some(r) = server::pre(&data, Endpoint::MicrosoftSubscriptionUpdate).await {
        return r;
    }
    let mut st = lock(&data);
    let (_, client, _) = match bearer(&st, Provider::Microsoft, &req) {
        Ok(x) => x,
        Err(r) => return r,
    };
    let Ok(p) = serde_json::from_slice::<PatchReq>(&body) else {
        return graph_err(400, "BadRequest", "Unable to read JSON request payload.");
    };
    let now = st.now();
    let expiration = match graph_expiry(&p.expiration_date_time, now) {
        Ok(t) => t,
        Err(r) => return r,
    };
    let base = st.base_url.clone();
    match st.push.subscriptions.get_mut(path.as_str()) {
        Some(s) if PushWorld::sub_live(s, now) && s.info.client_id == client => {
            s.info.expiration = expiration;
            json_resp(200, graph_json(&base, &s.info))
        }
        _ => not_found(),
    }
}

async fn graph_delete(data: Data, req: HttpRequest, path: web::Path<String>) -> HttpResponse {
    if let Some(r) = server::pre(&data, Endpoint::MicrosoftSubscriptionDelete).await {
        return r;
    }
    let mut st = lock(&data);
    let (_, client, _) = match bearer(&st, Provider::Microsoft, &req) {
        Ok(x) => x,
        Err(r) => return r,
    };
    let now = st.now();
    match st.push.subscriptions.get_mut(path.as_str()) {
        Some(s) if PushWorld::sub_live(s, now) && s.info.client_id == client => {
            s.live = false;
            HttpResponse::NoContent().finish()
        }
        _ => not_found(),
    }
}

// ------------------------------------------------------------------------- control API

fn reply<T: Serialize>(r: SimResult<T>) -> HttpResponse {
    match r {
        Ok(v) => json_resp(200, serde_json::to_value(v).unwrap_or(Value::Null)),
        Err(e) => json_resp(404, json!({"error": e.0})),
    }
}

/// Runs `f` on the state, then sends what it queued.
fn with<T: Serialize>(data: &Data, f: impl FnOnce(&mut SimState) -> SimResult<T>) -> HttpResponse {
    let (r, out) = {
        let mut st = lock(data);
        let r = f(&mut st);
        (r, st.push_collect())
    };
    out.dispatch();
    reply(r)
}

async fn ctl_list(data: Data) -> HttpResponse {
    with(&data, |st| {
        let now = st.now();
        Ok(st.push.listing(now))
    })
}

async fn ctl_refuse(data: Data, body: web::Json<PushRefusal>) -> HttpResponse {
    with(&data, |st| {
        st.push.refuse_next(body.into_inner());
        Ok(())
    })
}

#[derive(Deserialize)]
struct IdReq {
    id: String,
}

async fn ctl_expire(data: Data, body: web::Json<IdReq>) -> HttpResponse {
    with(&data, |st| st.push.expire(&body.id))
}

#[derive(Deserialize)]
struct LifecycleReq {
    subscription_id: String,
    event: LifecycleEvent,
}

async fn ctl_lifecycle(data: Data, body: web::Json<LifecycleReq>) -> HttpResponse {
    with(&data, |st| {
        let now = st.now();
        st.push.lifecycle(&body.subscription_id, body.event, now)
    })
}

#[derive(Deserialize)]
struct DropReq {
    #[serde(default = "yes")]
    drop: bool,
}

fn yes() -> bool {
    true
}

async fn ctl_drop(data: Data, path: web::Path<String>, body: web::Json<DropReq>) -> HttpResponse {
    with(&data, |st| {
        let account = AccountId(path.into_inner());
        st.account(&account)?;
        st.push.set_dropped(&account, body.drop);
        Ok(())
    })
}

/// Waits (up to 10 s) until every notification sent was answered; returns and forgets the
/// deliveries logged since the last call.
async fn ctl_deliveries(data: Data) -> HttpResponse {
    let d = lock(&data).push.dispatcher();
    let list = d.flush(std::time::Duration::from_secs(10)).await;
    json_resp(200, json!(list))
}
