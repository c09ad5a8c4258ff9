//! OAuth logic shared by the three providers: authorize and the token endpoint core.

use crate::model::{AccountId, Endpoint, Fault, Provider};
use crate::server::{self, error_page, lock, Data};
use crate::state::{has_scope, normalize_scopes, scope_key, SimState};
use crate::util;
use actix_web::{HttpRequest, HttpResponse};
use chrono::Duration;
use std::collections::HashMap;

/// `GET` authorize for any provider: consents at once and redirects with a code.
pub(crate) async fn authorize(
    data: Data,
    req: HttpRequest,
    provider: Provider,
    ep: Endpoint,
) -> HttpResponse {
    if let Some(r) = server::pre(&data, ep).await {
        return r;
    }
    let q = server::query_map(&req);
    let mut st = lock(&data);
    let client_id = q.get("client_id").cloned().unwrap_or_default();
    let Some(client) = st.client(provider, &client_id) else {
        return match provider {
            Provider::Google => error_page(401, "Error 401: invalid_client", "The OAuth client was not found."),
            Provider::Microsoft => error_page(
                400,
                "Sign in error",
                &format!("AADSTS700016: Application with identifier '{client_id}' was not found in the directory 'convene-sim'."),
            ),
            Provider::Zoom => error_page(400, "Invalid client_id", "Invalid client_id: (4,700)"),
        };
    };
    let redirect_uri = q.get("redirect_uri").cloned().unwrap_or_default();
    if !client.redirect_uris.iter().any(|r| r == &redirect_uri) {
        return match provider {
            Provider::Google => error_page(
                400,
                "Error 400: redirect_uri_mismatch",
                &format!("redirect_uri={redirect_uri} does not match a registered redirect URI"),
            ),
            Provider::Microsoft => error_page(
                400,
                "Sign in error",
                &format!("AADSTS50011: The redirect URI '{redirect_uri}' specified in the request does not match the redirect URIs configured for the application '{client_id}'."),
            ),
            Provider::Zoom => error_page(400, "Invalid redirect", "Invalid redirect: (4,700)"),
        };
    }
    let Ok(mut target) = url::Url::parse(&redirect_uri) else {
        return error_page(
            400,
            "invalid redirect_uri",
            "redirect_uri is not an absolute URL",
        );
    };
    let state_param = q.get("state").cloned();
    let redirect = |target: &url::Url| {
        HttpResponse::Found()
            .insert_header(("Location", target.as_str()))
            .finish()
    };
    if q.get("response_type").map(String::as_str) != Some("code") {
        {
            let mut qp = target.query_pairs_mut();
            qp.append_pair("error", "unsupported_response_type");
            if let Some(s) = &state_param {
                qp.append_pair("state", s);
            }
        }
        return redirect(&target);
    }
    if let Some((error, desc)) = st.deny_next.remove(&provider) {
        let desc = desc.or_else(|| default_denial(provider, &error));
        {
            let mut qp = target.query_pairs_mut();
            qp.append_pair("error", &error);
            if let Some(d) = &desc {
                qp.append_pair("error_description", d);
            }
            if let Some(s) = &state_param {
                qp.append_pair("state", s);
            }
        }
        return redirect(&target);
    }
    let Some(account) = st.pick_account(provider, q.get("login_hint").map(String::as_str)) else {
        return error_page(
            400,
            "No simulated account",
            "convene-sim has no account for this provider (or matching login_hint).",
        );
    };
    let asked = util::split_scopes(q.get("scope").map(String::as_str).unwrap_or(""));
    let mut scopes = if asked.is_empty() {
        if provider == Provider::Google {
            return error_page(
                400,
                "Error 400: invalid_request",
                "Missing required parameter: scope",
            );
        }
        crate::state::default_scopes(provider)
    } else {
        normalize_scopes(provider, &asked)
    };
    if let Some(w) = st.withheld_scopes.get(&provider) {
        let keys: Vec<String> = w.iter().map(|s| scope_key(provider, s)).collect();
        scopes.retain(|s| !keys.contains(&scope_key(provider, s)));
    }
    let key = (account.clone(), client_id.clone());
    let issue_refresh = match provider {
        Provider::Google => {
            let offline = q.get("access_type").map(String::as_str) == Some("offline");
            let consent = q
                .get("prompt")
                .is_some_and(|p| p.split(' ').any(|x| x == "consent"));
            offline && (consent || !st.consented.contains(&key))
        }
        Provider::Microsoft => has_scope(provider, &scopes, "offline_access"),
        Provider::Zoom => true,
    };
    st.consented.insert(key);
    let challenge = q.get("code_challenge").filter(|c| !c.is_empty()).map(|c| {
        (
            c.clone(),
            q.get("code_challenge_method")
                .cloned()
                .unwrap_or_else(|| "plain".into()),
        )
    });
    let code = st.store_code(
        provider,
        &client_id,
        &account,
        Some(redirect_uri),
        scopes.clone(),
        challenge,
        issue_refresh,
    );
    {
        let mut qp = target.query_pairs_mut();
        qp.append_pair("code", &code);
        if let Some(s) = &state_param {
            qp.append_pair("state", s);
        }
        match provider {
            Provider::Google => {
                qp.append_pair("scope", &scopes.join(" "));
                qp.append_pair("authuser", "0");
                qp.append_pair("prompt", "consent");
            }
            Provider::Microsoft => {
                qp.append_pair("session_state", &util::uuid());
            }
            Provider::Zoom => {}
        }
    }
    redirect(&target)
}

fn default_denial(provider: Provider, error: &str) -> Option<String> {
    if provider != Provider::Microsoft {
        return None;
    }
    Some(match error {
        "consent_required" => "AADSTS65001: The user or administrator has not consented to use the application. Send an interactive authorization request for this user and resource.".into(),
        "access_denied" => "AADSTS65004: User declined to consent to access the app.".into(),
        "interaction_required" => "AADSTS50076: Due to a configuration change made by your administrator, or because you moved to a new location, you must use multi-factor authentication to access the resource.".into(),
        other => format!("AADSTS90000: {other}"),
    })
}

/// Why a token request failed (rendered per provider).
#[derive(Debug)]
pub(crate) enum TokErr {
    UnsupportedGrant(String),
    MissingClientId,
    UnknownClient(String),
    /// The operator's client is refused as such (expired secret, deleted client).
    ClientRefused(String),
    BadSecret,
    MissingSecret,
    MissingParam(&'static str),
    CodeUnknown,
    CodeUsed,
    CodeExpired,
    CodeWrongClient,
    RedirectMismatch,
    PkceMissing,
    PkceMismatch,
    RefreshInvalid,
    RefreshExpired,
    RefreshWrongClient,
    ScopeNotGranted(String),
}

/// A successful token request.
pub(crate) struct TokOk {
    pub client_id: String,
    pub account: AccountId,
    pub access_token: String,
    pub refresh_token: Option<String>,
    pub scopes: Vec<String>,
    pub expires_in: i64,
}

/// Parse the body, count the grant and take the endpoint's fault. A fault that strikes
/// after handling is returned with the form, for [`crate::late::finish`] on the answer.
pub(crate) async fn begin_token(
    data: &Data,
    ep: Endpoint,
    body: &[u8],
) -> Result<(HashMap<String, String>, Option<Fault>), HttpResponse> {
    let form = server::form_map(body);
    let fault = {
        let mut st = lock(data);
        let p = ep.provider();
        match form.get("grant_type").map(String::as_str) {
            Some("refresh_token") => *st.refresh_counts.entry(p).or_default() += 1,
            Some("authorization_code") => *st.code_counts.entry(p).or_default() += 1,
            _ => {}
        }
        st.begin(ep)
    };
    if fault.as_ref().is_some_and(Fault::after_handling) {
        return Ok((form, fault));
    }
    match server::apply_fault(ep, fault).await {
        Some(r) => Err(r),
        None => Ok((form, None)),
    }
}

/// The token endpoint's logic. `basic` holds the HTTP Basic credentials if sent.
pub(crate) fn token_core(
    st: &mut SimState,
    provider: Provider,
    form: &HashMap<String, String>,
    basic: Option<(String, String)>,
) -> Result<TokOk, TokErr> {
    let grant_type = form.get("grant_type").cloned().unwrap_or_default();
    if grant_type != "authorization_code" && grant_type != "refresh_token" {
        return Err(TokErr::UnsupportedGrant(grant_type));
    }
    // Client authentication.
    let (client_id, secret) = match (provider, basic) {
        (_, Some((id, s))) => (id, Some(s)),
        (Provider::Zoom, None) => return Err(TokErr::BadSecret),
        (_, None) => match form.get("client_id") {
            Some(id) => (id.clone(), form.get("client_secret").cloned()),
            None => return Err(TokErr::MissingClientId),
        },
    };
    let Some(client) = st.client(provider, &client_id) else {
        return Err(if provider == Provider::Zoom {
            TokErr::BadSecret
        } else {
            TokErr::UnknownClient(client_id)
        });
    };
    if st.refused_clients.contains(&(provider, client_id.clone())) {
        return Err(TokErr::ClientRefused(client_id));
    }
    match secret {
        None => return Err(TokErr::MissingSecret),
        Some(s) if s != client.secret => return Err(TokErr::BadSecret),
        _ => {}
    }
    let now = st.now();
    if grant_type == "authorization_code" {
        let code_s = form.get("code").ok_or(TokErr::MissingParam("code"))?;
        let code = match st.codes.get(code_s) {
            Some(c) if c.provider == provider => c,
            _ => return Err(TokErr::CodeUnknown),
        };
        if code.client_id != client_id {
            return Err(TokErr::CodeWrongClient);
        }
        if code.used {
            return Err(TokErr::CodeUsed);
        }
        if code.expires <= now {
            return Err(TokErr::CodeExpired);
        }
        if let Some(r) = &code.redirect_uri {
            if form.get("redirect_uri") != Some(r) {
                return Err(TokErr::RedirectMismatch);
            }
        }
        if let Some((challenge, method)) = &code.challenge {
            match form.get("code_verifier") {
                None => return Err(TokErr::PkceMissing),
                Some(v) if !util::pkce_ok(challenge, method, v) => {
                    return Err(TokErr::PkceMismatch)
                }
                _ => {}
            }
        }
        let account = code.account.clone();
        let scopes = code.scopes.clone();
        let issue_refresh = code.issue_refresh;
        if let Some(c) = st.codes.get_mut(code_s) {
            c.used = true;
        }
        if !st.accounts.contains_key(&account) {
            return Err(TokErr::CodeUnknown);
        }
        if provider == Provider::Zoom {
            // Re-authorizing the same user and app revokes the earlier tokens.
            st.revoke_client_tokens(&account, &client_id);
        }
        let grant = st.new_grant();
        let access_token = st.issue_access(provider, &client_id, &account, scopes.clone(), grant);
        let refresh_token = issue_refresh
            .then(|| st.issue_refresh(provider, &client_id, &account, scopes.clone(), grant));
        return Ok(TokOk {
            client_id,
            account,
            access_token,
            refresh_token,
            scopes,
            expires_in: st.access_ttl,
        });
    }
    // refresh_token grant
    let rt = form
        .get("refresh_token")
        .ok_or(TokErr::MissingParam("refresh_token"))?
        .clone();
    let r = match st.refresh.get(&rt) {
        Some(r) if r.provider == provider && !r.revoked => r,
        _ => return Err(TokErr::RefreshInvalid),
    };
    if r.client_id != client_id {
        return Err(TokErr::RefreshWrongClient);
    }
    let inactivity = match provider {
        Provider::Google => Duration::days(183),
        Provider::Microsoft => Duration::days(90),
        Provider::Zoom => Duration::days(90),
    };
    if now - r.last_used > inactivity {
        return Err(TokErr::RefreshExpired);
    }
    if !st.accounts.contains_key(&r.account) {
        return Err(TokErr::RefreshInvalid);
    }
    let granted = r.scopes.clone();
    let account = r.account.clone();
    let grant = r.grant;
    let requested = util::split_scopes(form.get("scope").map(String::as_str).unwrap_or(""));
    let scopes = if requested.is_empty() || provider == Provider::Zoom {
        granted.clone()
    } else {
        let req = normalize_scopes(provider, &requested);
        for s in &req {
            let always_ok = provider == Provider::Microsoft
                && matches!(
                    scope_key(provider, s).as_str(),
                    "openid" | "profile" | "email" | "offline_access"
                );
            if !always_ok && !has_scope(provider, &granted, s) {
                return Err(TokErr::ScopeNotGranted(s.clone()));
            }
        }
        if provider == Provider::Microsoft {
            // The access token carries the granted set requested; openid & co. stay as granted.
            granted
                .iter()
                .filter(|g| {
                    matches!(
                        scope_key(provider, g).as_str(),
                        "openid" | "profile" | "email" | "offline_access"
                    ) || req
                        .iter()
                        .any(|x| scope_key(provider, x) == scope_key(provider, g))
                })
                .cloned()
                .collect()
        } else {
            req
        }
    };
    if let Some(r) = st.refresh.get_mut(&rt) {
        r.last_used = now;
    }
    let refresh_token = match provider {
        Provider::Google => None,
        Provider::Microsoft => {
            if st.strict_rotation {
                if let Some(r) = st.refresh.get_mut(&rt) {
                    r.revoked = true;
                }
            }
            Some(st.issue_refresh(provider, &client_id, &account, granted.clone(), grant))
        }
        Provider::Zoom => {
            if let Some(r) = st.refresh.get_mut(&rt) {
                r.revoked = true;
            }
            Some(st.issue_refresh(provider, &client_id, &account, granted.clone(), grant))
        }
    };
    let access_token = st.issue_access(provider, &client_id, &account, scopes.clone(), grant);
    Ok(TokOk {
        client_id,
        account,
        access_token,
        refresh_token,
        scopes,
        expires_in: st.access_ttl,
    })
}
