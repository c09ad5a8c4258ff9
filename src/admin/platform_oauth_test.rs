//! "Test the OAuth setup" on the Platforms page (Google and Microsoft): builds the authorize
//! URL of the hosted V1 flow exactly as `POST /api/v1/calendar/oauth_url/` does, for the
//! test user [`TEST_USER`], and shows it as a link to open. Opening it checks what only the
//! provider can: the client ID is known, the redirect URI is registered, consent works.
//! Completing it connects the account as that test user, like any connection.
//!
//! A POST (CSRF-checked) answered with the page itself: the URL carries a fresh calendar
//! auth token, so it is never put in a redirect, a cookie or a GET link.

use actix_web::web;

use crate::calendars::oauth_url::hosted_authorize_url;
use crate::providers::Platform;
use crate::state::AppState;
use crate::store::settings as kv;

use super::csrf::AdminForm;
use super::render::{AdminError, AdminResult};

pub fn configure(cfg: &mut web::ServiceConfig) {
    cfg.service(super::page("/platforms/{platform}/test-oauth/").route(web::post().to(test)));
}

/// The calendar user the test link connects as.
pub const TEST_USER: &str = "admin-test";

/// The answer to a test, for one platform's section.
pub(super) struct OAuthTest {
    /// The platform's key on the page (`google`, `microsoft`).
    pub platform: &'static str,
    pub result: OAuthTestResult,
}

impl OAuthTest {
    /// Platforms with a hosted flow to test.
    pub const SUPPORTED: [&'static str; 2] = ["google", "microsoft"];
}

#[derive(Clone)]
pub(super) enum OAuthTestResult {
    /// The authorize URL to open.
    Url(String),
    /// Why no URL could be built.
    Problem(String),
}

async fn test(
    state: web::Data<AppState>,
    path: web::Path<String>,
    form: AdminForm<serde::de::IgnoredAny>,
) -> AdminResult {
    let platform = Platform::from_v1(&path).ok_or(AdminError::NotFound)?;
    let client = state
        .store
        .read(move |c| kv::get_platform_client(c, platform.v1_name()))
        .await?;
    // Same rule as the API: the saved client ID is what the URL needs.
    let result = match client {
        None => OAuthTestResult::Problem(format!(
            "No OAuth client is saved for {} yet: save its client ID and secret below, then \
             test again.",
            platform.display()
        )),
        // The callback will need the secret: say so now rather than after the consent.
        Some(client) if state.keys.decrypt(&client.client_secret_enc).is_err() => {
            OAuthTestResult::Problem(format!(
                "The saved {} client secret cannot be opened with the current master key: \
                 save the secret again.",
                platform.display()
            ))
        }
        Some(client) => OAuthTestResult::Url(hosted_authorize_url(
            &state,
            platform,
            &client.client_id,
            TEST_USER,
            None,
            None,
        )),
    };
    let key = platform.v1_name();
    super::platforms::page(
        &form.session,
        &state,
        Some(OAuthTest {
            platform: key,
            result,
        }),
    )
    .await
}
