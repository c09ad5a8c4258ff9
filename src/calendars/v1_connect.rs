//! Connecting a V1 calendar user's calendar through the hosted OAuth flow, once the
//! callback (`callbacks`) has checked the state's return URLs: the rest of the state
//! (calendar auth token, redirect URL), the provider's answer, the code exchange with the
//! platform's saved client, the account email, then the connection stored (created, or
//! replaced for the same account) with its first sync scheduled and the app told.
//!
//! Every way this can fail is a [`Failure`]: a code for the app and words for the user.

use serde_json::Value;
use url::Url;

use super::callback_url;
use super::status;
use crate::api::auth::verify_calendar_token;
use crate::domain::{CalendarKind, CalendarStatus, Platform};
use crate::providers::{self, google, microsoft, OAuthError};
use crate::redirects::{parse_strict, AllowList};
use crate::state::AppState;
use crate::store::calendars::{self as cal_store, Calendar};
use crate::store::{calendar_users, settings as kv, StoreError};

/// A failure explained to the end user.
#[derive(Debug)]
pub(super) struct Failure {
    /// machine-readable, sent as `error`
    pub code: &'static str,
    /// sent as `error_description` and shown on the hosted page
    pub description: String,
    /// what to do, for the hosted page
    pub hint: &'static str,
}

pub(super) fn fail(
    code: &'static str,
    description: impl Into<String>,
    hint: &'static str,
) -> Failure {
    Failure {
        code,
        description: description.into(),
        hint,
    }
}

pub(super) const HINT_RESTART: &str =
    "Go back to the app and start connecting your calendar again.";
pub(super) const HINT_OPERATOR: &str =
    "This is a setup problem on the app's side: please tell the app's support team.";

/// Normalised form for comparing redirect URLs: lower-case scheme and host, default port
/// dropped, no trailing slash.
fn normalised(url: &Url) -> String {
    format!(
        "{}://{}:{}{}",
        url.scheme(),
        url.host_str().unwrap_or("").to_ascii_lowercase(),
        url.port_or_known_default().unwrap_or(0),
        url.path().trim_end_matches('/')
    )
}

/// The redirect URL named in the state must be where the provider sent the user: our own
/// callback, or a forwarding URL on one of the operator's allowed origins (production
/// redirect). Returns the text to send as `redirect_uri` (exactly as given).
fn check_redirect_url(
    given: &str,
    ours: &str,
    allow: &AllowList,
    public_origin: &str,
) -> Option<String> {
    let url = parse_strict(given)?;
    if url.query().is_some() || url.fragment().is_some() {
        return None;
    }
    let ours = Url::parse(ours).ok()?;
    if normalised(&url) == normalised(&ours) {
        return Some(given.to_string());
    }
    let origin = url.origin().ascii_serialization();
    (origin != public_origin && allow.check(given).is_some()).then(|| given.to_string())
}

/// Maps a provider's `error` / `error_description` to a clear code and words.
fn provider_failure(platform: Platform, error: &str, description: Option<&str>) -> Failure {
    let desc = description.unwrap_or("");
    let aadsts = providers::aadsts_code(desc);
    let suffix = aadsts.map(|n| format!(" (AADSTS{n})")).unwrap_or_default();
    const ADMIN: [u32; 4] = [65001, 90094, 90095, 90099];
    const INTERACTION: [u32; 5] = [50076, 50079, 53003, 50158, 50105];
    if aadsts.is_some_and(|n| ADMIN.contains(&n))
        || (error == "consent_required" && aadsts.is_none())
    {
        return fail(
            "admin_consent_required",
            format!("Your organisation's administrator must approve this app before you can connect your calendar.{suffix}"),
            "Ask your IT administrator to approve (grant admin consent for) this app, then connect again.",
        );
    }
    if error == "access_denied" || aadsts == Some(65004) {
        return fail(
            "access_denied",
            format!(
                "You declined the permission request, so your calendar was not connected.{suffix}"
            ),
            "Connect again and accept the requested calendar permission.",
        );
    }
    if error == "interaction_required"
        || error == "login_required"
        || aadsts.is_some_and(|n| INTERACTION.contains(&n))
    {
        return fail(
            "interaction_required",
            format!("Your organisation requires an extra sign-in step (such as multi-factor authentication or a managed device).{suffix}"),
            "Connect again and complete every sign-in step; if it keeps failing, ask your IT administrator.",
        );
    }
    let detail = if desc.is_empty() {
        error.to_string()
    } else {
        format!("{error}: {}", providers::clean_description(desc))
    };
    fail(
        "provider_error",
        format!("{} refused the connection ({detail}).", platform.display()),
        HINT_RESTART,
    )
}

fn exchange_failure(platform: Platform, e: &OAuthError) -> Failure {
    match e {
        OAuthError::Transient { .. } => fail(
            "provider_unavailable",
            format!("{} is not answering right now.", platform.display()),
            "Please try again in a few minutes.",
        ),
        OAuthError::ClientRefused { .. } => fail(
            "invalid_client",
            format!("{} rejected this app's OAuth client credentials.", platform.display()),
            HINT_OPERATOR,
        ),
        other => fail(
            "code_exchange_failed",
            format!(
                "{} did not accept the sign-in ({}). The link may have expired or been used already.",
                platform.display(),
                other.code()
            ),
            HINT_RESTART,
        ),
    }
}

/// Validates the rest of the state and makes the connection.
pub(super) async fn connect(
    state: &AppState,
    platform: Platform,
    st: &serde_json::Map<String, Value>,
    allow: &AllowList,
    param: &(dyn Fn(&str) -> Option<String> + Sync),
) -> Result<(), Failure> {
    let token = st
        .get("recall_calendar_auth_token")
        .and_then(Value::as_str)
        .filter(|t| !t.is_empty())
        .ok_or_else(|| {
            fail(
                "invalid_state",
                "The state has no recall_calendar_auth_token.",
                HINT_RESTART,
            )
        })?;
    let external_id = verify_calendar_token(state, token).ok_or_else(|| {
        fail(
            "invalid_auth_token",
            "The calendar auth token in the state is invalid or has expired.",
            HINT_RESTART,
        )
    })?;
    let field = match platform {
        Platform::Google => "google_oauth_redirect_url",
        Platform::Microsoft => "ms_oauth_redirect_url",
    };
    let given = st.get(field).and_then(Value::as_str).ok_or_else(|| {
        fail(
            "invalid_state",
            format!("The state has no {field}."),
            HINT_RESTART,
        )
    })?;
    let public_origin = state.settings.public_url.origin().ascii_serialization();
    let redirect_uri = check_redirect_url(
        given,
        &callback_url(&state.settings, platform),
        allow,
        &public_origin,
    )
    .ok_or_else(|| {
        fail(
            "redirect_uri_mismatch",
            format!(
                "The state's {field} is not this server's {} callback URL.",
                platform.display()
            ),
            HINT_OPERATOR,
        )
    })?;
    if let Some(error) = param("error") {
        let f = provider_failure(platform, &error, param("error_description").as_deref());
        tracing::info!(
            platform = platform.v1_name(),
            code = f.code,
            "provider reported an OAuth error"
        );
        return Err(f);
    }
    let code = param("code").ok_or_else(|| {
        fail(
            "invalid_request",
            "The sign-in response has no authorization code.",
            HINT_RESTART,
        )
    })?;
    let client = client_for(state, platform).await?;
    let resp = providers::exchange_code(
        &state.http,
        &state.settings,
        platform,
        &client,
        &code,
        &redirect_uri,
    )
    .await
    .map_err(|e| {
        tracing::warn!(platform = platform.v1_name(), error = %e, "code exchange failed");
        exchange_failure(platform, &e)
    })?;
    let Some(refresh_token) = resp.refresh_token.clone() else {
        return Err(fail(
            "no_refresh_token",
            format!(
                "{} did not grant offline access, so the connection could not be kept alive.",
                platform.display()
            ),
            HINT_RESTART,
        ));
    };
    if let Some(scopes) = resp.scope.as_deref() {
        let ok = match platform {
            Platform::Google => google::can_read_events(scopes),
            Platform::Microsoft => microsoft::can_read_events(scopes),
        };
        if !ok {
            return Err(fail(
                "insufficient_scope",
                "Calendar access was not granted.",
                "Connect again and allow access to your calendar when asked.",
            ));
        }
    }
    let email = providers::discover_email(
        &state.http,
        &state.settings,
        platform,
        &resp,
        resp.scope.as_deref(),
    )
    .await;
    let now = state.now_ms();
    let lifetime = resp.lifetime_secs();
    let conn = NewConnection {
        external_id: external_id.clone(),
        platform,
        refresh_token_enc: state.keys.encrypt(&refresh_token),
        access_token_enc: state.keys.encrypt(&resp.access_token),
        access_token_expires_at: now + lifetime * 1000,
        granted_scopes: resp.scope.clone(),
        email,
    };
    // Hold the old connection's lock while replacing its credentials.
    let existing = {
        let ext = external_id.clone();
        state
            .store
            .read(move |c| {
                let Some(u) = calendar_users::find_by_external_id(c, &ext)? else {
                    return Ok(None);
                };
                Ok::<_, StoreError>(cal_store::v1_find(c, &u.id, platform)?.map(|c| c.id))
            })
            .await
            .map_err(server_failure)?
    };
    let _guard = match &existing {
        Some(id) => Some(super::tokens::lock_calendar(state, id).await),
        None => None,
    };
    state
        .store
        .write(move |tx| store_connection(tx, conn, now))
        .await
        .map_err(server_failure)?;
    state.wake.webhooks.notify_one();
    state.wake.sync.notify_one();
    state.wake.push.notify_one(); // a replaced connection's push channel is stopped
    tracing::info!(platform = platform.v1_name(), user = %external_id, "calendar connected (V1)");
    Ok(())
}

fn server_failure(e: StoreError) -> Failure {
    tracing::error!(error = %e, "cannot store the calendar connection");
    fail(
        "server_error",
        "Convene could not save the connection.",
        "Please try again in a moment.",
    )
}

async fn client_for(
    state: &AppState,
    platform: Platform,
) -> Result<providers::ClientCredentials, Failure> {
    let not_configured = || {
        fail(
            "not_configured",
            format!(
                "This app's {} connection is not set up yet.",
                platform.display()
            ),
            HINT_OPERATOR,
        )
    };
    let saved = state
        .store
        .read(move |c| kv::get_platform_client(c, platform.v1_name()))
        .await
        .map_err(server_failure)?
        .ok_or_else(not_configured)?;
    let secret = state.keys.decrypt(&saved.client_secret_enc).map_err(|e| {
        tracing::error!(error = %e, "cannot open the platform client secret");
        not_configured()
    })?;
    Ok(providers::ClientCredentials {
        client_id: saved.client_id,
        client_secret: secret,
    })
}

struct NewConnection {
    external_id: String,
    platform: Platform,
    refresh_token_enc: String,
    access_token_enc: String,
    access_token_expires_at: i64,
    granted_scopes: Option<String>,
    email: Option<String>,
}

/// Creates or replaces the user's connection for the platform (one per platform per user),
/// schedules its first sync and announces it (`calendar_user.update`).
fn store_connection(
    tx: &rusqlite::Transaction,
    c: NewConnection,
    now: i64,
) -> Result<(), StoreError> {
    let user = calendar_users::get_or_create(tx, &c.external_id, now)?;
    let existing = cal_store::v1_find(tx, &user.id, c.platform)?;
    // The same account again: keep the row (and its synced events), swap the credentials.
    // Another account: the old connection and its events go, a new one starts.
    let same_account = existing
        .as_ref()
        .is_some_and(|old| match (&old.platform_email, &c.email) {
            (Some(a), Some(b)) => a.eq_ignore_ascii_case(b),
            (None, None) => true,
            _ => false,
        });
    let mut cal = match existing {
        Some(old) if same_account => old,
        other => {
            if let Some(old) = other {
                super::remove_calendar(tx, &old.id, now)?;
            }
            let cal = Calendar {
                calendar_user_id: Some(user.id.clone()),
                ..Calendar::new(
                    CalendarKind::V1,
                    c.platform,
                    CalendarStatus::Connecting,
                    now,
                )
            };
            cal_store::insert(tx, &cal)?;
            cal
        }
    };
    cal.oauth_refresh_token_enc = Some(c.refresh_token_enc);
    cal.access_token_enc = Some(c.access_token_enc);
    cal.access_token_expires_at = Some(c.access_token_expires_at);
    cal.granted_scopes = c.granted_scopes;
    if c.email.is_some() {
        cal.platform_email = c.email;
    }
    cal.credentials_version += 1;
    cal.last_refresh_at = Some(now);
    cal.next_refresh_at = Some(now + super::tokens::LIVENESS_INTERVAL_MS);
    cal.refresh_failures = 0;
    cal.last_refresh_error = None;
    cal.updated_at = now;
    if !status::transition(tx, &mut cal, CalendarStatus::Connected, None, now)? {
        // Already connected (a reconnect of the same account): still tell the app.
        cal_store::save(tx, &cal)?;
        status::announce(tx, &cal, now)?;
    }
    cal_store::schedule_sync_now(tx, &cal.id, now)?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn redirect_url_comparison() {
        let allow = AllowList::new(
            &Url::parse("https://cal.example.com").unwrap(),
            vec!["https://app.example.com".to_string()],
        );
        let ours = "https://cal.example.com/api/v1/calendar/ms_oauth_callback/";
        let pub_origin = "https://cal.example.com";
        for ok in [
            ours,
            "https://cal.example.com/api/v1/calendar/ms_oauth_callback",
            "HTTPS://CAL.example.com:443/api/v1/calendar/ms_oauth_callback/",
            "https://app.example.com/api/ms_oauth_callback",
        ] {
            assert_eq!(
                check_redirect_url(ok, ours, &allow, pub_origin).as_deref(),
                Some(ok),
                "{ok}"
            );
        }
        for bad in [
            "https://cal.example.com/api/v1/calendar/google_oauth_callback/",
            "https://cal.example.com/elsewhere",
            "https://evil.example.com/api/v1/calendar/ms_oauth_callback/",
            "http://cal.example.com/api/v1/calendar/ms_oauth_callback/",
            "https://cal.example.com/api/v1/calendar/ms_oauth_callback/?x=1",
            "//cal.example.com/api/v1/calendar/ms_oauth_callback/",
        ] {
            assert!(
                check_redirect_url(bad, ours, &allow, pub_origin).is_none(),
                "{bad}"
            );
        }
    }

    #[test]
    fn provider_errors_get_clear_codes() {
        let f = provider_failure(
            Platform::Microsoft,
            "consent_required",
            Some("AADSTS65001: The user or administrator has not consented"),
        );
        assert_eq!(f.code, "admin_consent_required");
        assert!(f.hint.contains("administrator"));
        assert!(f.description.contains("AADSTS65001"));
        let f = provider_failure(
            Platform::Microsoft,
            "access_denied",
            Some("AADSTS65004: declined"),
        );
        assert_eq!(f.code, "access_denied");
        let f = provider_failure(Platform::Google, "access_denied", None);
        assert_eq!(f.code, "access_denied");
        let f = provider_failure(
            Platform::Microsoft,
            "interaction_required",
            Some("AADSTS50076: MFA"),
        );
        assert_eq!(f.code, "interaction_required");
        let f = provider_failure(
            Platform::Microsoft,
            "invalid_request",
            Some("AADSTS90094: admin"),
        );
        assert_eq!(f.code, "admin_consent_required");
        let f = provider_failure(Platform::Google, "server_error", None);
        assert_eq!(f.code, "provider_error");
    }
}
