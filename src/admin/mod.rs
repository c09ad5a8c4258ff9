//! Admin pages: server-rendered with askama (`templates/admin/`), assets embedded with
//! rust-embed (`static/`, served under `/static/...`), usable without JavaScript.
//!
//! # Adding a page (how to extend this)
//! 1. Write `src/admin/<screen>.rs` (or a module in your area) with a
//!    `pub fn configure(cfg: &mut web::ServiceConfig)` that registers its routes with
//!    [`page`]`("/things/")` — paths are relative to `/admin` and end with `/`.
//! 2. Add one line to [`configure`] below (`.configure(things::configure)`) and, for a nav
//!    entry, one line to [`NAV`]. The nav shows only what is listed there, so list a page
//!    only once it exists.
//! 3. A GET handler takes an [`AdminSession`] (not logged in → 303 to `/admin/login/`),
//!    builds its askama template with a `layout: Layout` field from
//!    `session.layout("things", "Things")` and returns `render(&page.layout, &page)`.
//!    The template starts with `{% extends "admin/base.html" %}` and fills
//!    `{% block content %}`. Every form carries
//!    `<input type="hidden" name="csrf_token" value="{{ layout.csrf_token }}">`.
//! 4. A POST handler takes an [`AdminForm<T>`]: it requires the session, checks the CSRF
//!    token (403 page otherwise, before anything runs) and parses `T` from the form. Answer
//!    with `see_other(&state, "/admin/things/", Some(Flash::success("Saved.")))` (the flash
//!    shows once on the next page), or render a page directly when it must show a value once
//!    (a new key).
//! 5. Errors: return [`AdminError`] (HTML error pages; `?` works on store errors). Every
//!    `/admin` response carries the security headers of [`security_headers`] (no framing,
//!    strict CSP, `no-store`). SQL stays in `crate::store`, as everywhere.
//!
//! The overview's tiles are a list too: see `overview::WIDGETS`.

mod api_keys;
mod assets;
mod bots;
mod calendar_detail;
mod calendar_sync_now;
mod calendar_users;
mod calendars;
mod checklist;
mod csrf;
pub mod errors_plain;
mod login;
mod logout;
mod overview;
mod paging;
pub mod password;
mod platform_alarms;
mod platform_oauth_test;
mod platforms;
mod push;
pub mod rate_limit;
mod redirect_origins;
mod render;
mod session;
pub mod setup;
mod system;
mod webhook_deliveries;
mod webhook_delivery;
mod webhook_endpoint;
mod webhook_endpoints;
mod webhook_secret;
mod webhook_secrets;
mod zoom_apps;
mod zoom_credential;
mod zoom_credentials;

use actix_web::middleware::DefaultHeaders;
use actix_web::web;

pub use assets::asset_url;
pub use csrf::AdminForm;
pub use render::{
    not_found_page, render, render_status, see_other, AdminError, AdminResult, Flash, Layout,
    NavItem,
};
pub use session::AdminSession;
pub use setup::{announce_setup_link, issue_setup_token};

/// The navigation, in order. One line per page that exists; add yours here.
pub const NAV: &[NavItem] = &[
    NavItem::new("overview", "Overview", "/admin/"),
    NavItem::new("platforms", "Platforms", "/admin/platforms/"),
    NavItem::new("api_keys", "API keys", "/admin/api-keys/"),
    NavItem::new(
        "redirect_origins",
        "Redirect origins",
        "/admin/redirect-origins/",
    ),
    NavItem::new("calendars", "Calendars", "/admin/calendars/"),
    NavItem::new("calendar_users", "Calendar users", "/admin/calendar-users/"),
    NavItem::new("bots", "Bots", "/admin/bots/"),
    NavItem::new("webhooks", "Webhooks", "/admin/webhooks/"),
    NavItem::new("zoom", "Zoom", "/admin/zoom/"),
];

/// Registers `/static/...` and every `/admin/...` page.
pub fn configure(cfg: &mut web::ServiceConfig) {
    assets::configure(cfg);
    cfg.service(
        web::scope("/admin")
            .wrap(security_headers())
            .configure(setup::configure)
            .configure(login::configure)
            .configure(logout::configure)
            .configure(overview::configure)
            .configure(checklist::configure)
            .configure(platforms::configure)
            .configure(api_keys::configure)
            .configure(webhook_secret::configure)
            .configure(redirect_origins::configure)
            .configure(platform_oauth_test::configure)
            .configure(calendars::configure)
            .configure(calendar_detail::configure)
            .configure(calendar_sync_now::configure)
            .configure(calendar_users::configure)
            .configure(bots::configure)
            // The delivery pages before `/webhooks/{id}/...`, which would shadow them.
            .configure(webhook_deliveries::configure)
            .configure(webhook_delivery::configure)
            .configure(webhook_endpoints::configure)
            .configure(webhook_endpoint::configure)
            .configure(webhook_secrets::configure)
            .configure(zoom_apps::configure)
            .configure(zoom_credentials::configure)
            .configure(zoom_credential::configure)
            .default_service(web::to(not_found_page)),
    );
}

/// A page resource under `/admin`; other methods get a 405 page.
pub fn page(path: &str) -> actix_web::Resource {
    web::resource(path).default_service(web::to(render::method_not_allowed_page))
}

/// Headers on every admin response: never framed (clickjacking), never cached (pages show
/// secrets and session-bound tokens), only our own scripts and styles, no referrer (the
/// setup link carries its token in the query).
pub fn security_headers() -> DefaultHeaders {
    DefaultHeaders::new()
        .add(("X-Frame-Options", "DENY"))
        .add((
            "Content-Security-Policy",
            "default-src 'none'; style-src 'self'; script-src 'self'; img-src 'self' data:; \
             form-action 'self'; frame-ancestors 'none'; base-uri 'none'",
        ))
        .add(("Cache-Control", "no-store"))
        .add(("X-Content-Type-Options", "nosniff"))
        .add(("Referrer-Policy", "no-referrer"))
        .add(("Cross-Origin-Opener-Policy", "same-origin"))
}
