//! Platform settings: the OAuth clients Convene uses for Google, Microsoft and Zoom, and the
//! redirect URIs to register with each. Secrets are write-only: once saved the page shows
//! "set" and at most their last 4 characters.

use actix_web::web;
use askama::Template;

use crate::state::AppState;
use crate::store::{self, settings as kv};

use super::csrf::AdminForm;
use super::platform_oauth_test::{OAuthTest, OAuthTestResult};
use super::render::{render, see_other, when, AdminError, AdminResult, Flash, Layout};
use super::session::AdminSession;

pub fn configure(cfg: &mut web::ServiceConfig) {
    cfg.service(super::page("/platforms/").route(web::get().to(show)));
    cfg.service(super::page("/platforms/{platform}/").route(web::post().to(save)));
}

struct Platform {
    key: &'static str,
    name: &'static str,
    /// Path of Convene's OAuth callback for this platform; None when the app hosts it.
    callback: Option<&'static str>,
    console: &'static str,
}

const PLATFORMS: &[Platform] = &[
    Platform {
        key: "google",
        name: "Google Calendar",
        callback: Some("/api/v1/calendar/google_oauth_callback/"),
        console: "Google Cloud console → APIs & Services → Credentials → OAuth client ID \
                  (Web application) → Authorized redirect URIs",
    },
    Platform {
        key: "microsoft",
        name: "Microsoft Outlook",
        callback: Some("/api/v1/calendar/ms_oauth_callback/"),
        console: "Azure portal → App registrations → your app → Authentication → \
                  Web → Redirect URIs",
    },
];

/// What the page shows about one platform.
struct PlatformView {
    key: &'static str,
    name: &'static str,
    console: &'static str,
    redirect_uri: Option<String>,
    client_id: String,
    /// None when no secret is saved; else "set" with the last 4 characters at most.
    secret_status: Option<String>,
    updated: Option<String>,
    /// The platform has a "Test the OAuth setup" button.
    oauth_test: bool,
    test: Option<OAuthTestResult>,
}

#[derive(Template)]
#[template(path = "admin/platforms.html")]
struct PlatformsPage {
    layout: Layout,
    platforms: Vec<PlatformView>,
}

/// "set" plus the last 4 characters, only when the secret is long enough that 4 reveal
/// little; never the secret itself.
fn describe_secret(state: &AppState, sealed: &str) -> String {
    match state.keys.decrypt(sealed) {
        Ok(secret) if secret.chars().count() >= 12 => {
            let tail: String = secret
                .chars()
                .rev()
                .take(4)
                .collect::<Vec<_>>()
                .into_iter()
                .rev()
                .collect();
            format!("set · ends in …{tail}")
        }
        Ok(_) => "set".into(),
        Err(_) => "set (cannot be opened with the current master key; save it again)".into(),
    }
}

async fn show(session: AdminSession, state: web::Data<AppState>) -> AdminResult {
    page(&session, &state, None).await
}

/// Renders the page; `test` is the answer to a "Test the OAuth setup" button, shown in its
/// platform's section.
pub(super) async fn page(
    session: &AdminSession,
    state: &AppState,
    test: Option<OAuthTest>,
) -> AdminResult {
    let saved = state
        .store
        .read(|c| {
            PLATFORMS
                .iter()
                .map(|p| kv::get_platform_client(c, p.key))
                .collect::<Result<Vec<_>, store::StoreError>>()
        })
        .await?;
    let platforms = PLATFORMS
        .iter()
        .zip(saved)
        .map(|(p, client)| PlatformView {
            key: p.key,
            name: p.name,
            console: p.console,
            redirect_uri: p.callback.map(|path| state.settings.public_link(path)),
            client_id: client
                .as_ref()
                .map(|c| c.client_id.clone())
                .unwrap_or_default(),
            secret_status: client
                .as_ref()
                .map(|c| describe_secret(state, &c.client_secret_enc)),
            updated: client.as_ref().map(|c| when(c.updated_at)),
            oauth_test: OAuthTest::SUPPORTED.contains(&p.key),
            test: test
                .as_ref()
                .filter(|t| t.platform == p.key)
                .map(|t| t.result.clone()),
        })
        .collect();
    let page = PlatformsPage {
        layout: session.layout("platforms", "Platforms"),
        platforms,
    };
    render(&page.layout, &page)
}

#[derive(serde::Deserialize)]
struct ClientForm {
    #[serde(default)]
    client_id: String,
    #[serde(default)]
    client_secret: String,
}

/// A credential value: non-empty, bounded, no spaces or control characters (pasting
/// mistakes), as providers issue them.
fn valid_credential(v: &str, max: usize) -> bool {
    !v.is_empty() && v.len() <= max && !v.chars().any(|c| c.is_whitespace() || c.is_control())
}

async fn save(
    state: web::Data<AppState>,
    path: web::Path<String>,
    form: AdminForm<ClientForm>,
) -> AdminResult {
    let platform = PLATFORMS
        .iter()
        .find(|p| p.key == path.as_str())
        .ok_or(AdminError::NotFound)?;
    let back = "/admin/platforms/";
    let client_id = form.data.client_id.trim().to_string();
    let secret = form.data.client_secret.trim().to_string();
    if !valid_credential(&client_id, 512) {
        return Ok(see_other(
            &state,
            back,
            Some(Flash::error(format!(
                "{}: not saved. Enter the client ID (no spaces, 512 characters at most).",
                platform.name
            ))),
        ));
    }
    if !secret.is_empty() && !valid_credential(&secret, 1024) {
        return Ok(see_other(
            &state,
            back,
            Some(Flash::error(format!(
                "{}: not saved. The client secret must have no spaces and 1024 characters at \
                 most.",
                platform.name
            ))),
        ));
    }
    let sealed = (!secret.is_empty()).then(|| state.keys.encrypt(&secret));
    let key = platform.key;
    let now = state.now_ms();
    // A blank secret keeps the saved one (it is never shown, so it cannot be re-entered).
    let saved = state
        .store
        .write(move |tx| {
            let sealed = match sealed {
                Some(s) => s,
                None => match kv::get_platform_client(tx, key)? {
                    Some(existing) => existing.client_secret_enc,
                    None => return Ok::<_, store::StoreError>(false),
                },
            };
            kv::set_platform_client(tx, key, &client_id, &sealed, now)?;
            Ok(true)
        })
        .await?;
    let flash = if saved {
        tracing::info!(platform = key, "platform OAuth client saved in the admin");
        Flash::success(format!("{}: the OAuth client is saved.", platform.name))
    } else {
        Flash::error(format!(
            "{}: not saved. Enter the client secret too.",
            platform.name
        ))
    };
    Ok(see_other(&state, back, Some(flash)))
}
