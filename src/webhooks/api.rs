//! `/api/v1/webhook-secret/` and the webhook endpoints API (`/api/v1/webhook-endpoints/`).

use actix_web::{web, HttpRequest, HttpResponse};
use serde_json::{json, Map, Value};

use crate::api::auth::ApiKeyAuth;
use crate::api::pagination::{build_page, IntWindow, PageRequest};
use crate::api::{parse_id, resource};
use crate::error::{ApiError, ApiResult};
use crate::state::AppState;
use crate::store::ms_to_rfc3339;
use crate::store::webhook_endpoints::{self as endpoints, Endpoint, EndpointPatch};

pub fn configure(cfg: &mut web::ServiceConfig) {
    cfg.service(resource("/api/v1/webhook-secret/").route(web::get().to(workspace_secret)))
        .service(
            resource("/api/v1/webhook-endpoints/")
                .route(web::get().to(list))
                .route(web::post().to(create)),
        )
        .service(
            resource("/api/v1/webhook-endpoints/{id}/")
                .route(web::get().to(get))
                .route(web::patch().to(update))
                .route(web::delete().to(delete)),
        )
        .service(resource("/api/v1/webhook-endpoints/{id}/secret/").route(web::get().to(secret)))
        .service(
            resource("/api/v1/webhook-endpoints/{id}/rotate-secret/")
                .route(web::post().to(rotate_secret)),
        );
}

/// The workspace secret that signs deliveries to V2 calendars' `webhook_url`.
async fn workspace_secret(
    _auth: ApiKeyAuth,
    state: web::Data<AppState>,
) -> ApiResult<HttpResponse> {
    let secret = super::secret::workspace_secret(&state)
        .await
        .map_err(ApiError::internal)?;
    Ok(HttpResponse::Ok().json(json!({ "secret": secret })))
}

/// An endpoint as the API shows it (never with its secret).
pub fn endpoint_json(e: &Endpoint) -> Value {
    json!({
        "id": e.id,
        "url": e.url,
        "event_types": e.event_types,
        "description": e.description,
        "enabled": e.enabled,
        "created_at": ms_to_rfc3339(e.created_at),
    })
}

/// Checks a receiver URL: absolute http(s) with a host.
pub fn validate_url(url: &str) -> Result<(), String> {
    const MESSAGE: &str = "Enter a valid absolute http:// or https:// URL.";
    let parsed = url::Url::parse(url).map_err(|_| MESSAGE.to_string())?;
    let ok = matches!(parsed.scheme(), "http" | "https")
        && parsed.host_str().is_some_and(|h| !h.is_empty())
        && url.len() <= 2048
        && url.trim() == url;
    ok.then_some(()).ok_or_else(|| MESSAGE.to_string())
}

/// Checks `event_types`: a list of known event types (duplicates dropped). Unknown types
/// are refused, so a typo does not silently subscribe to nothing.
pub fn validate_event_types(value: &Value) -> Result<Vec<String>, String> {
    let items = match value {
        Value::Null => return Ok(Vec::new()),
        Value::Array(items) => items,
        _ => return Err("Expected a list of event types.".into()),
    };
    let mut out: Vec<String> = Vec::new();
    for item in items {
        let Some(t) = item.as_str() else {
            return Err("Expected a list of event types.".into());
        };
        if !super::EVENT_TYPES.contains(&t) {
            return Err(format!(
                "\"{t}\" is not a known event type; known types: {}.",
                super::EVENT_TYPES.join(", ")
            ));
        }
        if !out.iter().any(|o| o == t) {
            out.push(t.to_string());
        }
    }
    Ok(out)
}

/// Validates a create (`partial` = false) or PATCH body; field errors are collected.
fn parse_body(body: &Value, partial: bool) -> ApiResult<EndpointPatch> {
    let obj = body
        .as_object()
        .ok_or_else(|| ApiError::BadRequest("Expected a JSON object.".into()))?;
    let mut errors = Map::new();
    let mut fail = |field: &str, msg: String| {
        errors.insert(field.to_string(), json!([msg]));
    };
    let mut patch = EndpointPatch::default();
    match obj.get("url") {
        None if !partial => fail("url", "This field is required.".into()),
        None => {}
        Some(Value::String(u)) => match validate_url(u) {
            Ok(()) => patch.url = Some(u.clone()),
            Err(m) => fail("url", m),
        },
        Some(_) => fail(
            "url",
            "Enter a valid absolute http:// or https:// URL.".into(),
        ),
    }
    if let Some(v) = obj.get("event_types") {
        match validate_event_types(v) {
            Ok(types) => patch.event_types = Some(types),
            Err(m) => fail("event_types", m),
        }
    }
    match obj.get("description") {
        None => {}
        Some(Value::Null) => patch.description = Some(String::new()),
        Some(Value::String(d)) => patch.description = Some(d.clone()),
        Some(_) => fail("description", "Expected a string.".into()),
    }
    if partial {
        match obj.get("enabled") {
            None => {}
            Some(Value::Bool(b)) => patch.enabled = Some(*b),
            Some(_) => fail("enabled", "Expected true or false.".into()),
        }
    }
    if errors.is_empty() {
        Ok(patch)
    } else {
        Err(ApiError::Validation(Value::Object(errors)))
    }
}

async fn create(
    _auth: ApiKeyAuth,
    state: web::Data<AppState>,
    body: web::Json<Value>,
) -> ApiResult<HttpResponse> {
    let patch = parse_body(&body, false)?;
    let (endpoint, secret) = super::create_endpoint(&state, patch).await?;
    let mut out = endpoint_json(&endpoint);
    out["secret"] = json!(secret);
    Ok(HttpResponse::Created().json(out))
}

async fn list(
    _auth: ApiKeyAuth,
    state: web::Data<AppState>,
    req: HttpRequest,
) -> ApiResult<HttpResponse> {
    let page = PageRequest::from_request(&state, &req)?;
    let IntWindow {
        after,
        backwards: back,
        limit,
    } = page.int_window()?;
    let rows = state
        .store
        .read(move |c| {
            endpoints::list_page(c, after.as_ref().map(|a| (a.0, a.1.as_str())), back, limit)
        })
        .await?;
    let rows = rows.iter().map(ListedEndpoint::from).collect();
    let page = build_page(&state, &req, &page, rows, |e| (json!(e.key), e.id.clone()));
    Ok(HttpResponse::Ok().json(page))
}

/// A list row: the API shape plus its position (not serialized) for the cursor.
#[derive(serde::Serialize)]
struct ListedEndpoint {
    #[serde(flatten)]
    json: Value,
    #[serde(skip)]
    key: i64,
    #[serde(skip)]
    id: String,
}

impl From<&Endpoint> for ListedEndpoint {
    fn from(e: &Endpoint) -> Self {
        ListedEndpoint {
            json: endpoint_json(e),
            key: e.created_at,
            id: e.id.clone(),
        }
    }
}

async fn get(
    _auth: ApiKeyAuth,
    state: web::Data<AppState>,
    path: web::Path<String>,
) -> ApiResult<HttpResponse> {
    let id = parse_id(&path)?;
    let endpoint = state
        .store
        .read(move |c| endpoints::get(c, &id))
        .await?
        .ok_or(ApiError::NotFound)?;
    Ok(HttpResponse::Ok().json(endpoint_json(&endpoint)))
}

async fn update(
    _auth: ApiKeyAuth,
    state: web::Data<AppState>,
    path: web::Path<String>,
    body: web::Json<Value>,
) -> ApiResult<HttpResponse> {
    let id = parse_id(&path)?;
    let patch = parse_body(&body, true)?;
    let endpoint = super::update_endpoint(&state, &id, patch)
        .await?
        .ok_or(ApiError::NotFound)?;
    Ok(HttpResponse::Ok().json(endpoint_json(&endpoint)))
}

async fn delete(
    _auth: ApiKeyAuth,
    state: web::Data<AppState>,
    path: web::Path<String>,
) -> ApiResult<HttpResponse> {
    let id = parse_id(&path)?;
    let existed = state
        .store
        .write(move |tx| endpoints::delete(tx, &id))
        .await?;
    if existed {
        Ok(HttpResponse::NoContent().finish())
    } else {
        Err(ApiError::NotFound)
    }
}

async fn secret(
    _auth: ApiKeyAuth,
    state: web::Data<AppState>,
    path: web::Path<String>,
) -> ApiResult<HttpResponse> {
    let secret = super::endpoint_secret(&state, &parse_id(&path)?)
        .await
        .map_err(ApiError::internal)?
        .ok_or(ApiError::NotFound)?;
    Ok(HttpResponse::Ok().json(json!({ "secret": secret })))
}

async fn rotate_secret(
    _auth: ApiKeyAuth,
    state: web::Data<AppState>,
    path: web::Path<String>,
) -> ApiResult<HttpResponse> {
    let rotated = super::rotate_secret(&state, &parse_id(&path)?)
        .await?
        .ok_or(ApiError::NotFound)?;
    Ok(HttpResponse::Ok().json(json!({ "secret": rotated.secret })))
}
