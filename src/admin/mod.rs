//! Admin pages (server-rendered with askama, assets embedded with rust-embed).

use actix_web::web;

use crate::state::AppState;
use crate::store::{self, settings as kv};

pub fn configure(_cfg: &mut web::ServiceConfig) {}

/// First start without an admin password: log a one-time setup link. The token is stored
/// only as a hash and dies once the password is set.
pub async fn announce_setup_link(state: &AppState) -> anyhow::Result<()> {
    let has_password = state
        .store
        .read(|c| kv::get(c, kv::ADMIN_PASSWORD_HASH))
        .await?
        .is_some();
    if has_password {
        return Ok(());
    }
    let token = crate::crypto::random_token("", 24);
    let hash = crate::crypto::sha256_hex(&token);
    let now = state.now_ms();
    state
        .store
        .write(move |tx| kv::set(tx, kv::ADMIN_SETUP_TOKEN_HASH, &hash, now))
        .await
        .map_err(|e: store::StoreError| anyhow::anyhow!(e))?;
    let link = state
        .settings
        .public_link(&format!("/admin/setup/?token={token}"));
    // Deliberately printed: the operator needs it once, and it only sets the first password.
    tracing::warn!("no admin password yet; open this one-time setup link: {link}");
    Ok(())
}
