//! Zoom OAuth credentials: made from an authorization code (exchange, `/users/me`, the
//! conflict rule, insert), read, and deleted.

use crate::coord::LockName;
use crate::domain::{ZoomCredentialStatus, ZoomMeetingSyncStatus};
use crate::state::AppState;
use crate::store::zoom::{self as zs, ZoomApp, ZoomCredential};
use crate::store::StoreError;

use super::apps;
use super::client::{self, ZoomError};

/// What the app sends from the end of a Zoom authorization.
pub struct AuthorizationCode {
    pub code: String,
    /// Exactly as in the authorize URL (Zoom compares it byte for byte).
    pub redirect_uri: String,
    pub code_verifier: Option<String>,
}

/// Why no credential was made.
#[derive(Debug)]
pub enum CreateError {
    /// No Zoom OAuth app has this id.
    AppNotFound,
    /// Zoom did not exchange the code (transient or refused).
    Exchange(ZoomError),
    /// Zoom exchanged the code but `/users/me` failed (transient or refused).
    UsersMe(ZoomError),
    /// The customer's `access_token_callback_url` did not answer a token.
    Callback(ZoomError),
    /// Another credential holds the app's conflict key (Zoom account or user).
    Conflict {
        app: Box<ZoomApp>,
        existing: Box<ZoomCredential>,
    },
    Store(StoreError),
    Internal(String),
}

impl From<StoreError> for CreateError {
    fn from(e: StoreError) -> Self {
        CreateError::Store(e)
    }
}

/// The conflict rule's key: one credential per Zoom account (account-level apps) or per
/// Zoom user (user-level apps).
pub fn conflict_key(app: &ZoomApp, user_id: &str, account_id: &str) -> String {
    if app.is_account_level() {
        format!("account:{account_id}")
    } else {
        format!("user:{user_id}")
    }
}

/// Exchanges the code, reads `/users/me` and stores the credential, unless one exists for
/// the same Zoom account (account-level app) or user (user-level app).
///
/// The exchange necessarily comes first (only the tokens say whose code it is), so a create
/// that then loses on the conflict rule has spent its code; Zoom also revokes the user's
/// earlier tokens on every new authorization, which is why the seed's answer to a conflict
/// is delete and recreate.
pub async fn create(
    state: &AppState,
    app_id: &str,
    code: &AuthorizationCode,
) -> Result<ZoomCredential, CreateError> {
    let app = apps::get(state, app_id)
        .await?
        .ok_or(CreateError::AppNotFound)?;
    let secret = state
        .keys
        .decrypt(&app.client_secret_enc)
        .map_err(|e| CreateError::Internal(e.to_string()))?;
    let tokens = client::exchange_code(
        state,
        &app.client_id,
        &secret,
        &code.code,
        &code.redirect_uri,
        code.code_verifier.as_deref(),
    )
    .await
    .map_err(|e| {
        if matches!(e, ZoomError::Transient { .. }) {
            tracing::warn!(error = %e, "Zoom code exchange failed");
        }
        CreateError::Exchange(e)
    })?;
    let issued = Issued {
        access_token: tokens.access_token,
        expires_in_secs: tokens.expires_in,
        refresh_token_enc: state.keys.encrypt(&tokens.refresh_token),
        scope: tokens.scope,
        callback_url_enc: None,
    };
    store_new(state, app, issued).await
}

/// What a new credential starts with (an exchanged code, or a customer's callback token).
pub(super) struct Issued {
    pub access_token: String,
    pub expires_in_secs: i64,
    /// Sealed; empty for customer-managed credentials (they have none).
    pub refresh_token_enc: String,
    pub scope: String,
    pub callback_url_enc: Option<String>,
}

/// Reads `/users/me` with the new access token and stores the credential unless the
/// conflict rule refuses it; then starts its first meeting sync with that token.
pub(super) async fn store_new(
    state: &AppState,
    app: ZoomApp,
    issued: Issued,
) -> Result<ZoomCredential, CreateError> {
    let user = client::users_me(state, &issued.access_token)
        .await
        .map_err(|e| {
            if matches!(e, ZoomError::Transient { .. }) {
                tracing::warn!(error = %e, "Zoom /users/me failed");
            }
            CreateError::UsersMe(e)
        })?;

    let now = state.now_ms();
    let cred = ZoomCredential {
        id: uuid::Uuid::new_v4().to_string(),
        oauth_app_id: app.id.clone(),
        conflict_key: conflict_key(&app, &user.id, &user.account_id),
        user_id: user.id,
        account_id: user.account_id,
        status: ZoomCredentialStatus::Healthy,
        access_token_enc: state.keys.encrypt(&issued.access_token),
        access_token_expires_at: now + issued.expires_in_secs.max(0) * 1000,
        refresh_token_enc: issued.refresh_token_enc,
        scope: issued.scope,
        last_refresh_at: now,
        refresh_failures: 0,
        last_error: None,
        created_at: now,
        updated_at: now,
        meeting_sync_status: ZoomMeetingSyncStatus::NotStarted,
        next_meeting_sync_at: Some(now),
        last_meeting_sync_at: None,
        access_token_callback_url_enc: issued.callback_url_enc,
    };
    let stored = cred.clone();
    let email = user.email.clone();
    match state
        .store
        .write(move |tx| {
            let inserted = zs::insert_credential(tx, &stored)?;
            if matches!(inserted, zs::InsertCredential::Inserted) {
                crate::store::search::set_zoom_credential_email(tx, &stored.id, email.as_deref())?;
            }
            Ok::<_, crate::store::StoreError>(inserted)
        })
        .await?
    {
        zs::InsertCredential::Inserted => {
            super::meetings::start_first_sync(state, &cred, issued.access_token);
            Ok(cred)
        }
        zs::InsertCredential::Conflict(existing) => Err(CreateError::Conflict {
            app: Box::new(app),
            existing,
        }),
    }
}

pub async fn get(state: &AppState, id: &str) -> Result<Option<ZoomCredential>, StoreError> {
    let id = id.to_string();
    state.store.read(move |c| zs::get_credential(c, &id)).await
}

/// Deletes the credential under its lock, so a refresh in flight finishes (and commits)
/// first; false when there was none.
pub async fn delete(state: &AppState, id: &str) -> Result<bool, StoreError> {
    let _guard = state.locks.lock(LockName::ZoomCredential(id)).await;
    let id = id.to_string();
    state
        .store
        .write(move |tx| zs::delete_credential(tx, &id))
        .await
}
