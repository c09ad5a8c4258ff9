//! The `/_sim/...` JSON control API (the HTTP mirror of [`crate::SimHandle`]).

use crate::model::*;
use crate::server::{json_resp, lock, Data};
use crate::state::{SimResult, SimState};
use actix_web::{web, HttpResponse};
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use serde_json::{json, Value};

pub(crate) fn routes(cfg: &mut web::ServiceConfig) {
    cfg.route("/_sim", web::get().to(info))
        .route("/_sim/", web::get().to(info))
        .route("/_sim/clients", web::post().to(create_client))
        .route("/_sim/clients", web::get().to(list_clients))
        .route("/_sim/accounts", web::post().to(create_account))
        .route("/_sim/accounts", web::get().to(list_accounts))
        .route("/_sim/zoom/users", web::post().to(create_zoom_user))
        .route(
            "/_sim/zoom/users/{id}/deauthorize",
            web::post().to(deauthorize),
        )
        .route("/_sim/tokens/refresh", web::post().to(mint_refresh))
        .route("/_sim/codes", web::post().to(mint_code))
        .route("/_sim/tokens/revoke", web::post().to(revoke_token))
        .route("/_sim/accounts/{id}/revoke_all", web::post().to(revoke_all))
        .route(
            "/_sim/accounts/{id}/expire_sync_tokens",
            web::post().to(expire_sync),
        )
        .route(
            "/_sim/accounts/{id}/duplicate_next_delta",
            web::post().to(duplicate_delta),
        )
        .route("/_sim/accounts/{id}/events", web::post().to(create_event))
        .route("/_sim/accounts/{id}/events", web::get().to(list_events))
        .route(
            "/_sim/accounts/{id}/events/{eid}",
            web::patch().to(update_event),
        )
        .route(
            "/_sim/accounts/{id}/events/{eid}",
            web::delete().to(delete_event),
        )
        .route(
            "/_sim/accounts/{id}/events/{eid}/move",
            web::post().to(move_event),
        )
        .route(
            "/_sim/accounts/{id}/events/{eid}/cancel",
            web::post().to(cancel_event),
        )
        .route(
            "/_sim/accounts/{id}/events/{eid}/instances/{idx}/move",
            web::post().to(move_instance),
        )
        .route(
            "/_sim/accounts/{id}/events/{eid}/instances/{idx}/cancel",
            web::post().to(cancel_instance),
        )
        .route("/_sim/faults", web::post().to(inject_fault))
        .route("/_sim/faults", web::delete().to(clear_faults))
        .route("/_sim/counts", web::get().to(counts))
        .route("/_sim/counts/reset", web::post().to(reset_counts))
        .route("/_sim/settings", web::post().to(settings))
        .route("/_sim/authorize/deny", web::post().to(deny_next))
        .route("/_sim/authorize/account", web::post().to(pin_account))
        .route("/_sim/generate", web::post().to(generate));
}

fn reply<T: Serialize>(r: SimResult<T>) -> HttpResponse {
    match r {
        Ok(v) => json_resp(200, serde_json::to_value(v).unwrap_or(Value::Null)),
        Err(e) => json_resp(404, json!({"error": e.0})),
    }
}

fn with<T: Serialize>(data: &Data, f: impl FnOnce(&mut SimState) -> SimResult<T>) -> HttpResponse {
    // Changes notify push channels and subscriptions once the lock is released.
    let (r, out) = {
        let mut st = lock(data);
        let r = f(&mut st);
        (r, st.push_collect())
    };
    out.dispatch();
    reply(r)
}

/// URLs and environment variables of this simulator.
pub(crate) fn info_json(base: &str) -> Value {
    let env: serde_json::Map<String, Value> = crate::env_vars_for(base)
        .into_iter()
        .map(|(k, v)| (k, Value::String(v)))
        .collect();
    json!({"base_url": base, "env": env})
}

async fn info(data: Data) -> HttpResponse {
    let base = lock(&data).base_url.clone();
    json_resp(200, info_json(&base))
}

async fn create_client(data: Data, body: web::Json<ClientInfo>) -> HttpResponse {
    let c = body.into_inner();
    with(&data, |st| {
        st.add_client(
            c.provider,
            &c.client_id,
            &c.client_secret,
            c.redirect_uris.clone(),
        );
        Ok(c)
    })
}

async fn list_clients(data: Data) -> HttpResponse {
    with(&data, |st| {
        let mut v: Vec<ClientInfo> = st
            .clients
            .iter()
            .map(|((p, id), c)| ClientInfo {
                provider: *p,
                client_id: id.clone(),
                client_secret: c.secret.clone(),
                redirect_uris: c.redirect_uris.clone(),
            })
            .collect();
        v.sort_by(|a, b| a.client_id.cmp(&b.client_id));
        Ok(v)
    })
}

async fn create_account(data: Data, body: web::Json<AccountSpec>) -> HttpResponse {
    with(&data, |st| st.add_account(&body))
}

async fn list_accounts(data: Data) -> HttpResponse {
    with(&data, |st| {
        Ok(st
            .account_order
            .iter()
            .filter_map(|id| st.accounts.get(id).map(|a| a.info.clone()))
            .collect::<Vec<_>>())
    })
}

#[derive(Deserialize)]
struct ZoomUserReq {
    #[serde(default)]
    account_id: Option<String>,
    email: String,
}

async fn create_zoom_user(data: Data, body: web::Json<ZoomUserReq>) -> HttpResponse {
    with(&data, |st| {
        let mut spec = AccountSpec::new(Provider::Zoom, body.email.clone());
        spec.zoom_account_id = body.account_id.clone();
        let info = st.add_account(&spec)?;
        Ok(json!({"user_id": info.account_id, "account_id": info.zoom_account_id}))
    })
}

async fn deauthorize(data: Data, path: web::Path<String>) -> HttpResponse {
    with(&data, |st| st.revoke_all(&AccountId(path.into_inner())))
}

#[derive(Deserialize)]
struct MintRefreshReq {
    provider: Provider,
    client_id: String,
    account_id: AccountId,
    #[serde(default)]
    scopes: Vec<String>,
}

async fn mint_refresh(data: Data, body: web::Json<MintRefreshReq>) -> HttpResponse {
    with(&data, |st| {
        let t = st.mint_refresh(
            body.provider,
            &body.client_id,
            &body.account_id,
            &body.scopes,
        )?;
        Ok(json!({"refresh_token": t}))
    })
}

#[derive(Deserialize)]
struct MintCodeReq {
    provider: Provider,
    client_id: String,
    account_id: AccountId,
    redirect_uri: String,
    #[serde(default)]
    scopes: Vec<String>,
    #[serde(default)]
    code_challenge: Option<String>,
}

async fn mint_code(data: Data, body: web::Json<MintCodeReq>) -> HttpResponse {
    with(&data, |st| {
        let c = st.mint_code(
            body.provider,
            &body.client_id,
            &body.account_id,
            &body.redirect_uri,
            &body.scopes,
            body.code_challenge.as_deref(),
        )?;
        Ok(json!({"code": c}))
    })
}

#[derive(Deserialize)]
struct RevokeReq {
    provider: Provider,
    token: String,
}

async fn revoke_token(data: Data, body: web::Json<RevokeReq>) -> HttpResponse {
    with(&data, |st| {
        st.revoke_refresh_token(body.provider, &body.token)
    })
}

async fn revoke_all(data: Data, path: web::Path<String>) -> HttpResponse {
    with(&data, |st| st.revoke_all(&AccountId(path.into_inner())))
}

async fn expire_sync(data: Data, path: web::Path<String>) -> HttpResponse {
    with(&data, |st| {
        st.account_mut(&AccountId(path.into_inner()))?.sync_epoch += 1;
        Ok(())
    })
}

async fn duplicate_delta(data: Data, path: web::Path<String>) -> HttpResponse {
    with(&data, |st| {
        st.account_mut(&AccountId(path.into_inner()))?
            .duplicate_next_delta = true;
        Ok(())
    })
}

async fn create_event(
    data: Data,
    path: web::Path<String>,
    body: web::Json<EventSpec>,
) -> HttpResponse {
    with(&data, |st| {
        let acct = AccountId(path.into_inner());
        let id = st.create_event(&acct, &body)?;
        let instance_ids = if body.recurrence.is_some() {
            st.instance_ids(&acct, &id)?
        } else {
            Vec::new()
        };
        Ok(json!({"event_id": id, "instance_ids": instance_ids}))
    })
}

async fn list_events(data: Data, path: web::Path<String>) -> HttpResponse {
    with(&data, |st| st.event_infos(&AccountId(path.into_inner())))
}

async fn update_event(
    data: Data,
    path: web::Path<(String, String)>,
    body: web::Json<EventPatch>,
) -> HttpResponse {
    let (a, e) = path.into_inner();
    with(&data, |st| st.update_event(&AccountId(a), &e, &body))
}

async fn delete_event(data: Data, path: web::Path<(String, String)>) -> HttpResponse {
    let (a, e) = path.into_inner();
    with(&data, |st| st.delete_event(&AccountId(a), &e))
}

async fn cancel_event(data: Data, path: web::Path<(String, String)>) -> HttpResponse {
    let (a, e) = path.into_inner();
    with(&data, |st| st.cancel_event(&AccountId(a), &e))
}

#[derive(Deserialize)]
struct MoveReq {
    start: DateTime<Utc>,
    end: DateTime<Utc>,
}

async fn move_event(
    data: Data,
    path: web::Path<(String, String)>,
    body: web::Json<MoveReq>,
) -> HttpResponse {
    let (a, e) = path.into_inner();
    with(&data, |st| {
        st.move_event(&AccountId(a), &e, body.start, body.end)
    })
}

async fn move_instance(
    data: Data,
    path: web::Path<(String, String, usize)>,
    body: web::Json<MoveReq>,
) -> HttpResponse {
    let (a, e, i) = path.into_inner();
    with(&data, |st| {
        let id = st.move_instance(&AccountId(a), &e, i, body.start, body.end)?;
        Ok(json!({"instance_id": id}))
    })
}

async fn cancel_instance(data: Data, path: web::Path<(String, String, usize)>) -> HttpResponse {
    let (a, e, i) = path.into_inner();
    with(&data, |st| {
        let id = st.cancel_instance(&AccountId(a), &e, i)?;
        Ok(json!({"instance_id": id}))
    })
}

#[derive(Deserialize)]
struct FaultReq {
    endpoint: Endpoint,
    fault: Fault,
    #[serde(default = "one")]
    times: u32,
}

fn one() -> u32 {
    1
}

async fn inject_fault(data: Data, body: web::Json<FaultReq>) -> HttpResponse {
    with(&data, |st| {
        st.inject(body.endpoint, body.fault.clone(), body.times);
        Ok(())
    })
}

async fn clear_faults(data: Data) -> HttpResponse {
    with(&data, |st| {
        st.faults.clear();
        Ok(())
    })
}

pub(crate) fn counts_json(st: &SimState) -> Value {
    let mut calls = serde_json::Map::new();
    for ep in Endpoint::ALL {
        calls.insert(ep.name(), json!(st.counts.get(&ep).copied().unwrap_or(0)));
    }
    let per = |m: &std::collections::HashMap<Provider, u64>| {
        json!({
            "google": m.get(&Provider::Google).copied().unwrap_or(0),
            "microsoft": m.get(&Provider::Microsoft).copied().unwrap_or(0),
            "zoom": m.get(&Provider::Zoom).copied().unwrap_or(0),
        })
    };
    json!({"calls": calls, "refresh_grants": per(&st.refresh_counts), "code_grants": per(&st.code_counts)})
}

async fn counts(data: Data) -> HttpResponse {
    let st = lock(&data);
    json_resp(200, counts_json(&st))
}

async fn reset_counts(data: Data) -> HttpResponse {
    with(&data, |st| {
        st.counts.clear();
        st.refresh_counts.clear();
        st.code_counts.clear();
        Ok(())
    })
}

#[derive(Deserialize)]
struct SettingsReq {
    #[serde(default)]
    access_token_ttl_secs: Option<i64>,
    #[serde(default)]
    strict_rotation: Option<bool>,
    /// RFC 3339 time to freeze the clock at; `null` with `reset_clock: true` = real clock.
    #[serde(default)]
    now: Option<DateTime<Utc>>,
    #[serde(default)]
    reset_clock: bool,
    /// Scopes the (simulated) user un-ticks at consent, per provider.
    #[serde(default)]
    withheld_scopes: Option<Vec<String>>,
    #[serde(default)]
    provider: Option<Provider>,
}

async fn settings(data: Data, body: web::Json<SettingsReq>) -> HttpResponse {
    with(&data, |st| {
        if let Some(t) = body.access_token_ttl_secs {
            st.access_ttl = t;
        }
        if let Some(s) = body.strict_rotation {
            st.strict_rotation = s;
        }
        if body.reset_clock {
            st.now_override = None;
        }
        if let Some(n) = body.now {
            st.now_override = Some(n);
        }
        if let Some(w) = &body.withheld_scopes {
            let Some(p) = body.provider else {
                return Err(crate::state::SimError(
                    "withheld_scopes needs provider".into(),
                ));
            };
            st.withheld_scopes.insert(p, w.clone());
        }
        Ok(
            json!({"access_token_ttl_secs": st.access_ttl, "strict_rotation": st.strict_rotation,
                  "now": st.now_override.map(|n| n.to_rfc3339())}),
        )
    })
}

#[derive(Deserialize)]
struct DenyReq {
    provider: Provider,
    #[serde(default = "access_denied")]
    error: String,
    #[serde(default)]
    error_description: Option<String>,
}

fn access_denied() -> String {
    "access_denied".into()
}

async fn deny_next(data: Data, body: web::Json<DenyReq>) -> HttpResponse {
    with(&data, |st| {
        st.deny_next.insert(
            body.provider,
            (body.error.clone(), body.error_description.clone()),
        );
        Ok(())
    })
}

#[derive(Deserialize)]
struct PinReq {
    provider: Provider,
    account_id: Option<AccountId>,
}

async fn pin_account(data: Data, body: web::Json<PinReq>) -> HttpResponse {
    with(&data, |st| {
        match &body.account_id {
            Some(a) => {
                st.account(a)?;
                st.authorize_account.insert(body.provider, a.clone());
            }
            None => {
                st.authorize_account.remove(&body.provider);
            }
        }
        Ok(())
    })
}

#[derive(Deserialize)]
struct GenReq {
    accounts: usize,
    events_per_account: usize,
    #[serde(default)]
    seed: u64,
}

async fn generate(data: Data, body: web::Json<GenReq>) -> HttpResponse {
    with(&data, |st| {
        Ok(crate::generate::generate(
            st,
            body.accounts,
            body.events_per_account,
            body.seed,
        ))
    })
}
