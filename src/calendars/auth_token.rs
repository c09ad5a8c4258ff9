//! `POST /api/v1/calendar/authenticate/`: a calendar auth token for the app's user.

use actix_web::{web, HttpResponse};
use serde_json::{json, Value};

use crate::api::auth::{mint_calendar_token, ApiKeyAuth};
use crate::api::resource;
use crate::error::{ApiError, ApiResult};
use crate::state::AppState;
use crate::store::calendar_users::{self, CalendarUser};

pub fn configure(cfg: &mut web::ServiceConfig) {
    cfg.service(resource("/api/v1/calendar/authenticate/").route(web::post().to(authenticate)));
}

/// The app's user id from a body field: a non-empty string (numbers are taken as text).
pub fn user_id_field(body: &Value) -> ApiResult<String> {
    let id = match body.get("user_id") {
        Some(Value::String(s)) => s.trim().to_string(),
        Some(Value::Number(n)) => n.to_string(),
        None | Some(Value::Null) => {
            return Err(ApiError::field("user_id", "This field is required."))
        }
        Some(_) => return Err(ApiError::field("user_id", "Must be a string.")),
    };
    if id.is_empty() {
        return Err(ApiError::field("user_id", "This field may not be blank."));
    }
    if id.len() > 255 {
        return Err(ApiError::field(
            "user_id",
            "Ensure this field has no more than 255 characters.",
        ));
    }
    Ok(id)
}

/// The calendar user for `external_id`, created on first sight.
pub async fn ensure_user(state: &AppState, external_id: String) -> ApiResult<CalendarUser> {
    let now = state.now_ms();
    Ok(state
        .store
        .write(move |tx| calendar_users::get_or_create(tx, &external_id, now))
        .await?)
}

async fn authenticate(
    _auth: ApiKeyAuth,
    state: web::Data<AppState>,
    body: web::Json<Value>,
) -> ApiResult<HttpResponse> {
    let external_id = user_id_field(&body)?;
    let user = ensure_user(&state, external_id).await?;
    let token = mint_calendar_token(&state, &user.external_id);
    Ok(HttpResponse::Ok().json(json!({ "token": token })))
}
