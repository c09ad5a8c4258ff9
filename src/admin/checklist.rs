//! The first-run checklist on the overview: save a platform client → register the redirect
//! URI → create an API key → add a webhook endpoint → test the OAuth setup. Each step is
//! ticked from the database (nothing is remembered by the page itself) and links to where
//! it is done; the list disappears once every step is done.
//!
//! "Register the redirect URI" happens at the provider, which Convene cannot see: it is
//! ticked when the operator says so (a button here) or when a hosted OAuth connection has
//! succeeded, which proves it.

use actix_web::web;

use crate::state::AppState;
use crate::store::ops::{self, SetupFacts};
use crate::store::settings as kv;

use super::csrf::AdminForm;
use super::render::{see_other, AdminResult, Flash};

pub fn configure(cfg: &mut web::ServiceConfig) {
    cfg.service(
        super::page("/checklist/redirect-registered/").route(web::post().to(redirect_registered)),
    );
}

/// One step of the checklist.
#[derive(Debug, Clone)]
pub struct Step {
    pub title: &'static str,
    pub detail: String,
    pub done: bool,
    /// Where the step is done.
    pub href: &'static str,
    /// Step 2 offers an "I registered it" button.
    pub confirm_button: bool,
}

/// The steps, or None when all are done.
pub fn steps(f: &SetupFacts) -> Option<Vec<Step>> {
    let client = !f.platform_clients.is_empty();
    let connected = f.hosted_connections > 0;
    let steps = vec![
        Step {
            title: "Save a platform client",
            detail: "The Google and/or Microsoft OAuth client your users sign in through.".into(),
            done: client,
            href: "/admin/platforms/",
            confirm_button: false,
        },
        Step {
            title: "Register the redirect URI",
            detail: "Copy the redirect URI from Platforms into the provider's console, \
                     exactly as written."
                .into(),
            done: f.redirect_uris_confirmed || connected,
            href: "/admin/platforms/",
            confirm_button: client && !(f.redirect_uris_confirmed || connected),
        },
        Step {
            title: "Create an API key",
            detail: "Your backend calls Convene with it (Authorization: Token …).".into(),
            done: f.active_api_keys > 0,
            href: "/admin/api-keys/",
            confirm_button: false,
        },
        Step {
            title: "Add a webhook endpoint",
            detail: "Where Convene tells your app about changes.".into(),
            done: f.webhook_endpoints > 0,
            href: "/admin/webhooks/",
            confirm_button: false,
        },
        Step {
            title: "Test the OAuth setup",
            detail: "Platforms → Test the OAuth setup: sign in once through the hosted flow."
                .into(),
            done: connected,
            href: "/admin/platforms/",
            confirm_button: false,
        },
    ];
    (!steps.iter().all(|s| s.done)).then_some(steps)
}

async fn redirect_registered(
    state: web::Data<AppState>,
    _form: AdminForm<serde::de::IgnoredAny>,
) -> AdminResult {
    let now = state.now_ms();
    state
        .store
        .write(move |tx| kv::set(tx, ops::REDIRECT_URIS_REGISTERED, &now.to_string(), now))
        .await?;
    Ok(see_other(
        &state,
        "/admin/",
        Some(Flash::success(
            "Noted: the redirect URI is registered. Test the OAuth setup to be sure.",
        )),
    ))
}
