//! Webhook signing secrets: `whsec_` + base64 of 32 random bytes (Standard Webhooks), and
//! the workspace secret created on first use.

use crate::crypto::Keyring;
use crate::state::AppState;
use crate::store::{self, settings as kv, Store};

/// The workspace webhook secret in clear (made at start-up by [`ensure_workspace_secret`]).
pub async fn workspace_secret(state: &AppState) -> anyhow::Result<String> {
    let sealed = state
        .store
        .read(|c| kv::get(c, kv::WORKSPACE_WEBHOOK_SECRET))
        .await?
        .ok_or_else(|| anyhow::anyhow!("workspace webhook secret missing"))?;
    Ok(state.keys.decrypt(&sealed)?)
}

/// The workspace webhook secret (`whsec_...`), created on first use.
pub fn ensure_workspace_secret(store: &Store, keys: &Keyring) -> anyhow::Result<String> {
    if let Some(sealed) = store.blocking(|c| kv::get(c, kv::WORKSPACE_WEBHOOK_SECRET))? {
        return Ok(keys.decrypt(&sealed)?);
    }
    let secret = new_webhook_secret();
    let sealed = keys.encrypt(&secret);
    store
        .blocking_write(|tx| kv::set(tx, kv::WORKSPACE_WEBHOOK_SECRET, &sealed, store::now_ms()))?;
    Ok(secret)
}

/// A Standard Webhooks signing secret: `whsec_` + base64 of 32 random bytes.
pub fn new_webhook_secret() -> String {
    use base64::Engine;
    use rand::RngCore;
    let mut bytes = [0u8; 32];
    rand::rngs::OsRng.fill_bytes(&mut bytes);
    format!(
        "whsec_{}",
        base64::engine::general_purpose::STANDARD.encode(bytes)
    )
}
