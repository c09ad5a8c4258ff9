//! Zoom credentials: status, Zoom user and account, last refresh; filtered by app, status,
//! account or user, paged oldest first like the API.

use std::collections::HashMap;

use actix_web::{web, HttpRequest};
use askama::Template;

use crate::domain::ZoomCredentialStatus;
use crate::state::AppState;
use crate::store::zoom::{self as zs, CredentialFilter, Position};
use crate::store::StoreError;

use super::errors_plain::{self, PlainError};
use super::render::{render, when, AdminError, AdminResult, Layout};
use super::session::AdminSession;

pub const PAGE_SIZE: usize = 50;

pub fn configure(cfg: &mut web::ServiceConfig) {
    cfg.service(super::page("/zoom/credentials/").route(web::get().to(show)));
}

/// The query string; blank values mean "any".
#[derive(Debug, Default, serde::Deserialize)]
struct Query {
    #[serde(default)]
    oauth_app: String,
    #[serde(default)]
    status: String,
    #[serde(default)]
    account_id: String,
    #[serde(default)]
    user_id: String,
    /// Paging: `<created_at ms>.<id>` of the row the page starts after / ends before.
    #[serde(default)]
    after: String,
    #[serde(default)]
    before: String,
    /// Search: email, Zoom user id, account id or credential id.
    #[serde(default)]
    q: String,
}

struct CredentialRow {
    id: String,
    app: String,
    user_id: String,
    account_id: String,
    email: Option<String>,
    status: ZoomCredentialStatus,
    last_refresh: String,
    created: String,
    last_error: Option<PlainError>,
}

struct AppOption {
    id: String,
    label: String,
}

#[derive(Template)]
#[template(path = "admin/zoom_credentials.html")]
struct CredentialsPage {
    layout: Layout,
    rows: Vec<CredentialRow>,
    apps: Vec<AppOption>,
    oauth_app: String,
    statuses: &'static [ZoomCredentialStatus],
    status: String,
    account_id: String,
    user_id: String,
    q: String,
    filtered: bool,
    previous: Option<String>,
    next: Option<String>,
    first: Option<String>,
}

fn position(value: &str, back: bool) -> Result<Option<Position>, AdminError> {
    if value.is_empty() {
        return Ok(None);
    }
    let bad = || AdminError::BadRequest("The page position in the address is not valid.".into());
    let (ms, id) = value.split_once('.').ok_or_else(bad)?;
    Ok(Some(Position {
        created_at: ms.parse().map_err(|_| bad())?,
        id: id.to_string(),
        back,
    }))
}

fn some(v: &str) -> Option<String> {
    let v = v.trim();
    (!v.is_empty()).then(|| v.to_string())
}

async fn show(session: AdminSession, state: web::Data<AppState>, req: HttpRequest) -> AdminResult {
    let q: Query = serde_urlencoded::from_str(req.query_string())
        .map_err(|_| AdminError::BadRequest("The filter in the address is not valid.".into()))?;
    let status = q.status.trim().to_string();
    let unknown = || {
        AdminError::BadRequest(format!(
            "Unknown status \"{status}\"; use healthy or unhealthy."
        ))
    };
    let filter = CredentialFilter {
        oauth_app: some(&q.oauth_app),
        account_id: some(&q.account_id),
        user_id: some(&q.user_id),
        status: some(&status)
            .map(|s| ZoomCredentialStatus::parse(&s).ok_or_else(unknown))
            .transpose()?,
        ..Default::default()
    };
    let pos = match position(&q.before, true)? {
        Some(p) => Some(p),
        None => position(&q.after, false)?,
    };
    let back = pos.as_ref().is_some_and(|p| p.back);
    let f = filter.clone();
    let search = q.q.trim().to_string();
    let needle = search.clone();
    let (mut creds, apps, emails) = state
        .store
        .read(move |c| {
            let creds = if needle.is_empty() {
                zs::list_credentials(
                    c,
                    &f,
                    &zs::Window {
                        position: pos,
                        desc: false,
                        limit: PAGE_SIZE + 1,
                    },
                )?
            } else {
                // A search shows its first page of matches, across every filter.
                let mut found = Vec::new();
                for id in crate::store::search::zoom_credential_ids(c, &needle, PAGE_SIZE)? {
                    found.extend(zs::get_credential(c, &id)?);
                }
                found
            };
            let ids: Vec<&str> = creds.iter().map(|cred| cred.id.as_str()).collect();
            let emails = crate::store::search::zoom_credential_emails(c, &ids)?;
            Ok::<_, StoreError>((creds, zs::list_all_apps(c)?, emails))
        })
        .await?;
    let more = creds.len() > PAGE_SIZE;
    creds.truncate(PAGE_SIZE);
    if back {
        creds.reverse();
    }
    let paged = !q.before.is_empty() || !q.after.is_empty();
    let (has_previous, has_next) = if back { (more, true) } else { (paged, more) };
    let link = |extra: Option<(&str, String)>| {
        let mut pairs: Vec<(&str, String)> = [
            ("oauth_app", filter.oauth_app.as_deref()),
            ("status", filter.status.map(ZoomCredentialStatus::as_str)),
            ("account_id", filter.account_id.as_deref()),
            ("user_id", filter.user_id.as_deref()),
        ]
        .into_iter()
        .filter_map(|(k, v)| v.map(|v| (k, v.to_string())))
        .collect();
        pairs.extend(extra);
        let query = serde_urlencoded::to_string(&pairs).unwrap_or_default();
        if query.is_empty() {
            "/admin/zoom/credentials/".to_string()
        } else {
            format!("/admin/zoom/credentials/?{query}")
        }
    };
    let at = |c: &zs::ZoomCredential| format!("{}.{}", c.created_at, c.id);
    let previous = creds
        .first()
        .filter(|_| has_previous)
        .map(|c| link(Some(("before", at(c)))));
    let next = creds
        .last()
        .filter(|_| has_next)
        .map(|c| link(Some(("after", at(c)))));
    let first = paged.then(|| link(None));
    let labels: HashMap<&str, &str> = apps
        .iter()
        .map(|a| (a.id.as_str(), a.client_id.as_str()))
        .collect();
    let rows = creds
        .into_iter()
        .map(|c| CredentialRow {
            app: labels
                .get(c.oauth_app_id.as_str())
                .map_or_else(|| c.oauth_app_id.clone(), |l| l.to_string()),
            last_refresh: when(c.last_refresh_at),
            created: when(c.created_at),
            last_error: c.last_error.as_deref().map(errors_plain::explain),
            email: emails.get(&c.id).cloned(),
            id: c.id,
            user_id: c.user_id,
            account_id: c.account_id,
            status: c.status,
        })
        .collect();
    let page = CredentialsPage {
        layout: session.layout("zoom", "Zoom credentials"),
        rows,
        apps: apps
            .iter()
            .map(|a| AppOption {
                id: a.id.clone(),
                label: format!("{} ({})", a.client_id, a.kind),
            })
            .collect(),
        filtered: filter.oauth_app.is_some()
            || filter.status.is_some()
            || filter.account_id.is_some()
            || filter.user_id.is_some()
            || !search.is_empty(),
        q: search,
        oauth_app: filter.oauth_app.unwrap_or_default(),
        statuses: ZoomCredentialStatus::ALL,
        status,
        account_id: filter.account_id.unwrap_or_default(),
        user_id: filter.user_id.unwrap_or_default(),
        previous,
        next,
        first,
    };
    render(&page.layout, &page)
}
