//! Zoom OAuth apps: creating one (its secrets sealed, never shown again) and reading one.

use crate::domain::ZoomAppKind;
use crate::state::AppState;
use crate::store::zoom::{self as zs, ZoomApp};
use crate::store::StoreError;

/// A validated new app, secrets in clear.
pub struct NewApp {
    pub kind: ZoomAppKind,
    pub client_id: String,
    pub client_secret: String,
    pub webhook_secret: Option<String>,
}

/// Creates the app with its secrets sealed; `None` when another app has this `client_id`.
pub async fn create(state: &AppState, new: NewApp) -> Result<Option<ZoomApp>, StoreError> {
    let now = state.now_ms();
    let app = ZoomApp {
        id: uuid::Uuid::new_v4().to_string(),
        kind: new.kind,
        client_id: new.client_id,
        client_secret_enc: state.keys.encrypt(&new.client_secret),
        webhook_secret_enc: new.webhook_secret.map(|s| state.keys.encrypt(&s)),
        created_at: now,
        updated_at: now,
        webhook_last_validation: None,
    };
    let stored = app.clone();
    let inserted = state
        .store
        .write(move |tx| zs::insert_app(tx, &stored))
        .await?;
    Ok(inserted.then_some(app))
}

pub async fn get(state: &AppState, id: &str) -> Result<Option<ZoomApp>, StoreError> {
    let id = id.to_string();
    state.store.read(move |c| zs::get_app(c, &id)).await
}
