//! Calendar users (V1): the app's users, newest first, each with their connections
//! (platform, account email, connected or not), linked to the calendar pages.

use actix_web::web;
use askama::Template;

use crate::domain::CalendarStatus;
use crate::state::AppState;
use crate::store::calendar_admin as db;

use super::calendars::{platform_name, status_tone};
use super::paging::{self, PAGE_SIZE};
use super::render::{render, when, AdminResult, Layout};
use super::session::AdminSession;

pub fn configure(cfg: &mut web::ServiceConfig) {
    cfg.service(super::page("/calendar-users/").route(web::get().to(show)));
}

struct ConnectionView {
    calendar_id: String,
    platform: &'static str,
    email: Option<String>,
    status: CalendarStatus,
    tone: &'static str,
}

struct UserView {
    id: String,
    external_id: String,
    created: String,
    connections: Vec<ConnectionView>,
}

#[derive(Template)]
#[template(path = "admin/calendar_users.html")]
struct UsersPage {
    layout: Layout,
    users: Vec<UserView>,
    total: i64,
    next_url: Option<String>,
    first_url: Option<String>,
    /// The search, if any (user id or connection email).
    q: String,
}

#[derive(serde::Deserialize)]
struct ListQuery {
    before: Option<String>,
    q: Option<String>,
}

async fn show(
    session: AdminSession,
    state: web::Data<AppState>,
    query: web::Query<ListQuery>,
) -> AdminResult {
    let before = paging::decode_before(&state, query.before.as_deref())?;
    let paged = before.is_some();
    let q = query.q.as_deref().unwrap_or_default().trim().to_string();
    let search = q.clone();
    let (mut users, total) = state
        .store
        .read(move |c| {
            if !search.is_empty() {
                let found = crate::store::search::calendar_users(c, &search, PAGE_SIZE)?;
                let n = found.len() as i64;
                return Ok::<_, crate::store::StoreError>((found, n));
            }
            Ok::<_, crate::store::StoreError>((
                db::users(c, before, PAGE_SIZE + 1)?,
                crate::store::calendar_users::count(c)?,
            ))
        })
        .await?;
    let next_url = paging::next_page(
        &state,
        &mut users,
        PAGE_SIZE,
        "/admin/calendar-users/",
        &[],
        |u| (u.user.created_at, &u.user.id),
    );
    let users = users
        .into_iter()
        .map(|u| UserView {
            created: when(u.user.created_at),
            connections: u
                .connections
                .into_iter()
                .map(|c| ConnectionView {
                    platform: platform_name(c.platform),
                    tone: status_tone(c.status),
                    calendar_id: c.id,
                    email: c.platform_email,
                    status: c.status,
                })
                .collect(),
            id: u.user.id,
            external_id: u.user.external_id,
        })
        .collect();
    let page = UsersPage {
        layout: session.layout("calendar_users", "Calendar users"),
        users,
        total,
        next_url,
        first_url: paged.then(|| "/admin/calendar-users/".to_string()),
        q,
    };
    render(&page.layout, &page)
}
