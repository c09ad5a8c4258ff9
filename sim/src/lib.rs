//! # convene-sim: Google, Microsoft and Zoom on loopback
//!
//! A small HTTP server that plays the three providers Convene talks to, with all state in
//! memory, faithful to `spec/providers.md`. Use it from integration tests:
//!
//! ```no_run
//! use convene_sim::*;
//! use chrono::{Duration, Utc};
//!
//! # async fn demo() {
//! let sim = convene_sim::start().await;                 // 127.0.0.1:<random port>
//! sim.create_oauth_client(Provider::Google, "gid", "gsecret",
//!     vec!["http://127.0.0.1:8080/api/v1/calendar/google_oauth_callback/".into()]).await;
//! let alice = sim.create_account(Provider::Google, "alice@acme.test").await;
//! let start = Utc::now() + Duration::hours(1);
//! let ev = sim.create_event(&alice, EventSpec::new("Sync", start, start + Duration::minutes(30))
//!     .meet("https://meet.google.com/abc-defg-hij")).await;
//! let refresh = sim.mint_refresh_token(Provider::Google, "gid", &alice, &[]).await;
//! for (k, v) in sim.env_vars() { /* point Convene at the simulator */ let _ = (k, v); }
//! sim.cancel_event(&alice, &ev).await;
//! assert_eq!(sim.call_count(Endpoint::GoogleEvents).await, 0);
//! # let _ = refresh; }
//! ```
//!
//! ## URL layout (base `http://127.0.0.1:PORT`)
//! | provider | authorize | token | API base |
//! |---|---|---|---|
//! | Google | `/google/o/oauth2/v2/auth` | `/google/token` | `/google` (`/calendar/v3/...`, `/oauth2/v3/userinfo`) |
//! | Microsoft | `/microsoft/common/oauth2/v2.0/authorize` | `/microsoft/common/oauth2/v2.0/token` | `/microsoft/graph/v1.0` |
//! | Zoom | `/zoom/oauth/authorize` | `/zoom/oauth/token` | `/zoom/v2` |
//!
//! The control API lives under `/_sim/...` (see the crate README); [`SimHandle`] methods do
//! the same things directly on the shared state.
//!
//! ## Conventions
//! * Authorize "consents" at once: the account is `login_hint` (email), else the account
//!   pinned with [`SimHandle::set_authorize_account`], else the most recently created account
//!   of that provider.
//! * Handle methods panic on misuse (unknown account / event / client), with a message
//!   starting `convene-sim:`; the HTTP control API answers `404 {"error": ...}` instead.
//! * When scopes are empty, minted tokens get the seed scopes: Google
//!   `calendar.events.readonly userinfo.email openid`, Microsoft
//!   `offline_access openid email Calendars.Read`, Zoom `user:read:user user:read:email`.

#![allow(clippy::result_large_err)] // handlers return `HttpResponse` as their error

mod control;
mod generate;
mod google;
mod late;
mod microsoft;
mod model;
mod oauth;
mod push;
mod quirks;
mod server;
mod state;
mod util;
mod zones;
mod zoom;
mod zoom_meetings;

pub use model::*;
pub use push::{
    LifecycleEvent, PushChannelInfo, PushDelivery, PushListing, PushRefusal, PushSubscriptionInfo,
};
pub use state::SimError;
pub use zoom_meetings::{zoom_signature, ZoomMeeting, ZoomWebhook};

use chrono::{DateTime, Utc};
use server::Shared;
use state::SimState;
use std::sync::{Arc, Mutex};

/// The env vars (name, value) that point Convene at a simulator whose base URL is `base`.
pub fn env_vars_for(base: &str) -> Vec<(String, String)> {
    [
        (
            "CONVENE_GOOGLE_AUTH_URL",
            format!("{base}/google/o/oauth2/v2/auth"),
        ),
        ("CONVENE_GOOGLE_TOKEN_URL", format!("{base}/google/token")),
        ("CONVENE_GOOGLE_API_URL", format!("{base}/google")),
        (
            "CONVENE_MICROSOFT_AUTH_URL",
            format!("{base}/microsoft/common/oauth2/v2.0/authorize"),
        ),
        (
            "CONVENE_MICROSOFT_TOKEN_URL",
            format!("{base}/microsoft/common/oauth2/v2.0/token"),
        ),
        (
            "CONVENE_MICROSOFT_GRAPH_URL",
            format!("{base}/microsoft/graph/v1.0"),
        ),
        (
            "CONVENE_ZOOM_AUTH_URL",
            format!("{base}/zoom/oauth/authorize"),
        ),
        ("CONVENE_ZOOM_TOKEN_URL", format!("{base}/zoom/oauth/token")),
        ("CONVENE_ZOOM_API_URL", format!("{base}/zoom/v2")),
    ]
    .into_iter()
    .map(|(k, v)| (k.to_string(), v))
    .collect()
}

/// Start a simulator on `127.0.0.1:<random port>`. Works inside `#[tokio::test]` and
/// `#[actix_web::test]`: the server runs on its own thread and runtime. Dropping the handle
/// (or [`SimHandle::stop`]) stops it.
pub async fn start() -> SimHandle {
    start_on("127.0.0.1:0")
        .await
        .expect("convene-sim: cannot bind 127.0.0.1:0")
}

/// Start a simulator on `addr` (e.g. `127.0.0.1:9090`). The base URL uses the bound address
/// (`0.0.0.0` is shown as `127.0.0.1`).
pub async fn start_on(addr: &str) -> std::io::Result<SimHandle> {
    start_with(addr, 1)
}

pub(crate) fn start_with(addr: &str, workers: usize) -> std::io::Result<SimHandle> {
    let listener = std::net::TcpListener::bind(addr)?;
    let local = listener.local_addr()?;
    let host = if local.ip().is_unspecified() {
        "127.0.0.1".to_string()
    } else {
        local.ip().to_string()
    };
    let base_url = if local.is_ipv6() {
        format!("http://[{host}]:{}", local.port())
    } else {
        format!("http://{host}:{}", local.port())
    };
    let state: Shared = Arc::new(Mutex::new(SimState::new(base_url.clone())));
    let (server, thread) = server::spawn_server(listener, state.clone(), workers)?;
    Ok(SimHandle {
        base_url,
        state,
        guard: Arc::new(ServerGuard {
            server,
            thread: Mutex::new(Some(thread)),
        }),
    })
}

/// Stops the server when the last [`SimHandle`] clone goes away.
struct ServerGuard {
    server: actix_web::dev::ServerHandle,
    thread: Mutex<Option<std::thread::JoinHandle<()>>>,
}

impl Drop for ServerGuard {
    fn drop(&mut self) {
        // Sends the stop command right away; the server thread then winds down.
        drop(self.server.stop(false));
    }
}

/// A running simulator. All state is in memory and shared with the server. Clones share
/// the same simulator; it stops when the last clone is dropped or on [`SimHandle::stop`].
#[derive(Clone)]
pub struct SimHandle {
    /// `http://127.0.0.1:PORT`, no trailing slash.
    pub base_url: String,
    state: Shared,
    guard: Arc<ServerGuard>,
}

impl SimHandle {
    /// Runs `f` on the state; push notifications for the changes it made are sent once
    /// the lock is released.
    fn with<R>(&self, f: impl FnOnce(&mut SimState) -> R) -> R {
        let (r, out) = {
            let mut st = server::lock(&self.state);
            let r = f(&mut st);
            (r, st.push_collect())
        };
        out.dispatch();
        r
    }

    fn must<R>(&self, what: &str, f: impl FnOnce(&mut SimState) -> state::SimResult<R>) -> R {
        match self.with(f) {
            Ok(r) => r,
            Err(e) => panic!("convene-sim: {what}: {e}"),
        }
    }

    /// Stop the server (for every clone of this handle) and wait for its thread to end.
    pub async fn stop(self) {
        self.guard.server.stop(false).await;
        let thread = self
            .guard
            .thread
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .take();
        if let Some(t) = thread {
            let _ = tokio::task::spawn_blocking(move || t.join()).await;
        }
    }

    // ------------------------------------------------------------------ URLs

    pub fn google_auth_url(&self) -> String {
        format!("{}/google/o/oauth2/v2/auth", self.base_url)
    }
    pub fn google_token_url(&self) -> String {
        format!("{}/google/token", self.base_url)
    }
    /// Base of the Google APIs (`{this}/calendar/v3/...`, `{this}/oauth2/v3/userinfo`).
    pub fn google_api_url(&self) -> String {
        format!("{}/google", self.base_url)
    }
    pub fn microsoft_auth_url(&self) -> String {
        format!("{}/microsoft/common/oauth2/v2.0/authorize", self.base_url)
    }
    pub fn microsoft_token_url(&self) -> String {
        format!("{}/microsoft/common/oauth2/v2.0/token", self.base_url)
    }
    /// Graph base (`{this}/me`, `{this}/me/calendar`, `{this}/me/calendarView/delta`).
    pub fn microsoft_graph_url(&self) -> String {
        format!("{}/microsoft/graph/v1.0", self.base_url)
    }
    pub fn zoom_auth_url(&self) -> String {
        format!("{}/zoom/oauth/authorize", self.base_url)
    }
    pub fn zoom_token_url(&self) -> String {
        format!("{}/zoom/oauth/token", self.base_url)
    }
    /// Zoom API base including `/v2` (`{this}/users/me`).
    pub fn zoom_api_url(&self) -> String {
        format!("{}/zoom/v2", self.base_url)
    }
    /// The 9 `CONVENE_*_URL` variables pointing Convene at this simulator.
    pub fn env_vars(&self) -> Vec<(String, String)> {
        env_vars_for(&self.base_url)
    }

    // ------------------------------------------------------------------ clients, accounts

    /// Register (or replace) an OAuth client. Redirect URIs are matched exactly.
    pub async fn create_oauth_client(
        &self,
        provider: Provider,
        client_id: &str,
        client_secret: &str,
        redirect_uris: Vec<String>,
    ) {
        self.with(|s| s.add_client(provider, client_id, client_secret, redirect_uris))
    }

    /// Create an account (Zoom: a user in a new Zoom account). Returns its id.
    pub async fn create_account(&self, provider: Provider, email: &str) -> AccountId {
        self.create_account_with(AccountSpec::new(provider, email))
            .await
            .account_id
    }

    /// Create an account with options (display name, Microsoft `mail: null`, ...).
    pub async fn create_account_with(&self, spec: AccountSpec) -> AccountInfo {
        self.must("create_account", |s| s.add_account(&spec))
    }

    /// Create a Zoom user, in `account_id` (an existing Zoom account id) or a new account.
    /// Returns `(user_id, zoom_account_id)`; the user id is also its [`AccountId`].
    pub async fn create_zoom_user(
        &self,
        account_id: Option<&str>,
        email: &str,
    ) -> (String, String) {
        let mut spec = AccountSpec::new(Provider::Zoom, email);
        spec.zoom_account_id = account_id.map(str::to_string);
        let info = self.must("create_zoom_user", |s| s.add_account(&spec));
        (info.account_id.0, info.zoom_account_id.unwrap_or_default())
    }

    pub async fn account_info(&self, account: &AccountId) -> AccountInfo {
        self.must("account_info", |s| Ok(s.account(account)?.info.clone()))
    }

    // ------------------------------------------------------------------ grants

    /// A valid refresh token for (client, account), as after a consent. Empty `scopes` = the
    /// seed scopes. Zoom: revokes the user's earlier tokens for that client.
    pub async fn mint_refresh_token(
        &self,
        provider: Provider,
        client_id: &str,
        account: &AccountId,
        scopes: &[&str],
    ) -> String {
        let scopes: Vec<String> = scopes.iter().map(|s| s.to_string()).collect();
        self.must("mint_refresh_token", |s| {
            s.mint_refresh(provider, client_id, account, &scopes)
        })
    }

    /// An authorization code without a browser (as if authorize had consented with
    /// `prompt=consent`): single use, 5 minutes (Microsoft 10), bound to `redirect_uri`;
    /// `code_challenge` is an S256 PKCE challenge.
    pub async fn mint_code(
        &self,
        provider: Provider,
        client_id: &str,
        account: &AccountId,
        redirect_uri: &str,
        scopes: &[&str],
        code_challenge: Option<&str>,
    ) -> String {
        let scopes: Vec<String> = scopes.iter().map(|s| s.to_string()).collect();
        self.must("mint_code", |s| {
            s.mint_code(
                provider,
                client_id,
                account,
                redirect_uri,
                &scopes,
                code_challenge,
            )
        })
    }

    /// Make the next authorize call of `provider` redirect with `error` (e.g.
    /// `access_denied`, `consent_required`, `interaction_required`). Microsoft gets a default
    /// `AADSTS...` `error_description` when `description` is `None`.
    pub async fn deny_next_authorize(
        &self,
        provider: Provider,
        error: &str,
        description: Option<&str>,
    ) {
        self.with(|s| {
            s.deny_next.insert(
                provider,
                (error.to_string(), description.map(str::to_string)),
            )
        });
    }

    /// Pin which account consents at authorize when no `login_hint` is given (`None` unpins).
    pub async fn set_authorize_account(&self, provider: Provider, account: Option<&AccountId>) {
        self.with(|s| match account {
            Some(a) => {
                s.authorize_account.insert(provider, a.clone());
            }
            None => {
                s.authorize_account.remove(&provider);
            }
        })
    }

    /// Scopes the simulated user un-ticks at consent (granted = asked − withheld).
    pub async fn set_withheld_scopes(&self, provider: Provider, scopes: &[&str]) {
        self.with(|s| {
            s.withheld_scopes
                .insert(provider, scopes.iter().map(|x| x.to_string()).collect())
        });
    }

    // ------------------------------------------------------------------ events

    /// Create an event (or a series, expanded into instances). Returns the event id (the
    /// series master id for a series; see [`SimHandle::instance_ids`]).
    pub async fn create_event(&self, account: &AccountId, spec: EventSpec) -> String {
        self.must("create_event", |s| s.create_event(account, &spec))
    }

    /// Instance ids of a series, in order.
    pub async fn instance_ids(&self, account: &AccountId, series_id: &str) -> Vec<String> {
        self.must("instance_ids", |s| s.instance_ids(account, series_id))
    }

    /// Stored events of an account (masters, instances and deleted ones included).
    pub async fn events(&self, account: &AccountId) -> Vec<EventInfo> {
        self.must("events", |s| s.event_infos(account))
    }

    /// Edit an event; on a series id, every instance is edited.
    pub async fn update_event(&self, account: &AccountId, id: &str, patch: EventPatch) {
        self.must("update_event", |s| s.update_event(account, id, &patch))
    }

    /// Move an event to `[start, end)`; on a series id, every instance shifts by the same
    /// offset (and gets the new duration).
    pub async fn move_event(
        &self,
        account: &AccountId,
        id: &str,
        start: DateTime<Utc>,
        end: DateTime<Utc>,
    ) {
        self.must("move_event", |s| s.move_event(account, id, start, end))
    }

    /// Cancel an event (status `cancelled`; Graph `isCancelled: true`).
    pub async fn cancel_event(&self, account: &AccountId, id: &str) {
        self.must("cancel_event", |s| s.cancel_event(account, id))
    }

    /// Delete an event (Google: `cancelled` item in the next incremental sync; Graph:
    /// `@removed` in the next delta).
    pub async fn delete_event(&self, account: &AccountId, id: &str) {
        self.must("delete_event", |s| s.delete_event(account, id))
    }

    /// Move instance `index` (0-based) of a series. Returns the instance id.
    pub async fn move_instance(
        &self,
        account: &AccountId,
        series_id: &str,
        index: usize,
        start: DateTime<Utc>,
        end: DateTime<Utc>,
    ) -> String {
        self.must("move_instance", |s| {
            s.move_instance(account, series_id, index, start, end)
        })
    }

    /// Cancel instance `index` (0-based) of a series. Returns the instance id.
    pub async fn cancel_instance(
        &self,
        account: &AccountId,
        series_id: &str,
        index: usize,
    ) -> String {
        self.must("cancel_instance", |s| {
            s.cancel_instance(account, series_id, index)
        })
    }

    // ------------------------------------------------------------------ tokens, sync state

    /// Revoke a refresh token's grant: it, its rotations and the access tokens issued from it.
    pub async fn revoke_refresh_token(&self, provider: Provider, token: &str) {
        self.must("revoke_refresh_token", |s| {
            s.revoke_refresh_token(provider, token)
        })
    }

    /// Revoke every token of the account (and forget its consents).
    pub async fn revoke_all_tokens(&self, account: &AccountId) {
        self.must("revoke_all_tokens", |s| s.revoke_all(account))
    }

    /// Zoom: the user removes the app (revokes all of the user's tokens).
    pub async fn deauthorize(&self, zoom_user: &AccountId) {
        self.must("deauthorize", |s| s.revoke_all(zoom_user))
    }

    /// Every Google sync token / Graph delta token of the account now answers `410`.
    pub async fn expire_sync_tokens(&self, account: &AccountId) {
        self.must("expire_sync_tokens", |s| {
            s.account_mut(account)?.sync_epoch += 1;
            Ok(())
        })
    }

    /// The next non-empty Graph delta page of the account carries each of its items twice.
    pub async fn duplicate_next_delta_items(&self, account: &AccountId) {
        self.must("duplicate_next_delta_items", |s| {
            s.account_mut(account)?.duplicate_next_delta = true;
            Ok(())
        })
    }

    /// Microsoft: when true (default) a refresh revokes the refresh token it used.
    pub async fn set_strict_rotation(&self, strict: bool) {
        self.with(|s| s.strict_rotation = strict)
    }

    /// Lifetime (and `expires_in`) of access tokens issued from now on; default 3599.
    pub async fn set_access_token_ttl(&self, secs: i64) {
        self.with(|s| s.access_ttl = secs)
    }

    /// Freeze the simulator clock (`None` = real clock). Affects token and code expiry and
    /// `updated` stamps.
    pub async fn set_now(&self, now: Option<DateTime<Utc>>) {
        self.with(|s| s.now_override = now)
    }

    /// The simulator's current time.
    pub async fn now(&self) -> DateTime<Utc> {
        self.with(|s| s.now())
    }

    // ------------------------------------------------------------------ provider quirks

    /// The provider refuses the operator's OAuth client as such from now on: Microsoft
    /// `401 invalid_client` AADSTS7000222 (the client secret expired), Google `401
    /// deleted_client`, Zoom `401 invalid_client`. Registering the client again
    /// ([`SimHandle::create_oauth_client`], e.g. with a new secret) ends it.
    pub async fn refuse_client(&self, provider: Provider, client_id: &str) {
        self.with(|s| {
            s.refused_clients.insert((provider, client_id.to_string()));
        })
    }

    /// Graph: the mailbox's time zone (a Windows name such as `Pacific Standard Time`, or
    /// an IANA name) and whether `Prefer: outlook.timezone` is ignored. Graph answers in
    /// the mailbox's zone when the header is absent or ignored.
    pub async fn set_graph_time_zone(&self, zone: &str, ignore_prefer: bool) {
        self.with(|s| {
            s.graph_time_zone = zone.to_string();
            s.graph_ignore_prefer = ignore_prefer;
        })
    }

    /// Google: the calendar's time zone (IANA). The events list answers with it as
    /// `timeZone`, and a full listing filters all-day events by their extent in it.
    pub async fn set_calendar_time_zone(&self, account: &AccountId, zone: &str) {
        self.must("set_calendar_time_zone", |s| s.set_time_zone(account, zone))
    }

    /// Cancel a whole series. Google reports it as one cancelled master item
    /// (`{"id": <series id>, "status": "cancelled"}`), not per instance; Graph removes
    /// each occurrence.
    pub async fn cancel_series(&self, account: &AccountId, series_id: &str) {
        self.must("cancel_series", |s| s.cancel_series(account, series_id))
    }

    /// Make an event unreadable (a start time no parser accepts) or readable again.
    pub async fn corrupt_event(&self, account: &AccountId, id: &str, corrupt: bool) {
        self.must("corrupt_event", |s| s.corrupt_event(account, id, corrupt))
    }

    /// Waits until a request hit by [`Fault::HoldAnswer`] is held.
    pub async fn wait_held(&self) {
        let gate = self.with(|s| s.gate.clone());
        gate.arrived.notified().await;
    }

    /// Lets one held answer go (remembered if none is held yet).
    pub async fn release_held(&self) {
        self.with(|s| s.gate.release.notify_one())
    }

    // ------------------------------------------------------------------ faults, counters

    /// Make the next `times` calls of `endpoint` fail with `fault` (queued after earlier ones).
    pub async fn inject_fault(&self, endpoint: Endpoint, fault: Fault, times: u32) {
        self.with(|s| s.inject(endpoint, fault, times))
    }

    /// Adds `latency` before every provider answer (OAuth, Calendar, Graph, Zoom; not the
    /// `/_sim` control API), like a real provider's round trip. Zero by default.
    pub async fn set_latency(&self, latency: std::time::Duration) {
        self.with(|s| s.latency_ms = latency.as_millis() as u64)
    }

    /// Drop all pending faults.
    pub async fn clear_faults(&self) {
        self.with(|s| s.faults.clear())
    }

    /// Requests received by `endpoint` (faulted ones included) since start / reset.
    pub async fn call_count(&self, endpoint: Endpoint) -> u64 {
        self.with(|s| s.counts.get(&endpoint).copied().unwrap_or(0))
    }

    /// Token-endpoint requests with `grant_type=refresh_token` for `provider`.
    pub async fn token_refresh_count(&self, provider: Provider) -> u64 {
        self.with(|s| s.refresh_counts.get(&provider).copied().unwrap_or(0))
    }

    /// Token-endpoint requests with `grant_type=authorization_code` for `provider`.
    pub async fn code_exchange_count(&self, provider: Provider) -> u64 {
        self.with(|s| s.code_counts.get(&provider).copied().unwrap_or(0))
    }

    /// Zero every counter.
    pub async fn reset_counts(&self) {
        self.with(|s| {
            s.counts.clear();
            s.refresh_counts.clear();
            s.code_counts.clear();
        })
    }

    // ------------------------------------------------------------------ data generator

    /// Create `accounts` accounts (alternating Google, Microsoft) with `events_per_account`
    /// events each around now (next 28 days; ≈20% series, ≈5% all-day, ≈5% cancelled; meeting
    /// links of Zoom/Meet/Teams/Webex/none in conferenceData, location or HTML description,
    /// SafeLinks-wrapped for some Microsoft ones). Content is deterministic for a `seed`; ids
    /// and tokens are random. Each account gets a refresh token for the generator's client
    /// (`convene-sim-google-client` / `convene-sim-microsoft-client`).
    pub async fn generate(
        &self,
        accounts: usize,
        events_per_account: usize,
        seed: u64,
    ) -> Vec<GeneratedAccount> {
        self.with(|s| generate::generate(s, accounts, events_per_account, seed))
    }

    // ------------------------------------------------------------------ push notifications

    /// Live Google channels and Graph subscriptions with their expiry (`GET /_sim/push`).
    pub async fn push_listing(&self) -> PushListing {
        self.with(|s| {
            let now = s.now();
            s.push.listing(now)
        })
    }

    /// Make the next `events.watch` (Google) or `POST /subscriptions` (Microsoft) answer
    /// `status` with `reason` (Google error reason / Graph error code).
    pub async fn refuse_next_push(&self, provider: Provider, status: u16, reason: Option<&str>) {
        self.with(|s| {
            s.push.refuse_next(PushRefusal {
                provider,
                status,
                reason: reason.map(str::to_string),
            })
        })
    }

    /// End a channel or subscription now: it stops notifying, Graph renewals get `404`.
    pub async fn expire_push(&self, id: &str) {
        self.must("expire_push", |s| s.push.expire(id))
    }

    /// Send no notifications for the account's changes (`false`: send them again).
    pub async fn drop_push_notifications(&self, account: &AccountId, drop: bool) {
        self.must("drop_push_notifications", |s| {
            s.account(account)?;
            s.push.set_dropped(account, drop);
            Ok(())
        })
    }

    /// Send a Graph lifecycle notification for a live subscription.
    pub async fn send_lifecycle(&self, subscription_id: &str, event: LifecycleEvent) {
        self.must("send_lifecycle", |s| {
            let now = s.now();
            s.push.lifecycle(subscription_id, event, now)
        })
    }

    /// Waits (at most 10 s) until every notification sent so far was answered, and returns
    /// the deliveries (notifications and validation handshakes) since the last call.
    pub async fn push_flush(&self) -> Vec<PushDelivery> {
        let d = self.with(|s| s.push.dispatcher());
        d.flush(std::time::Duration::from_secs(10)).await
    }
}
