//! API keys: created here (for the CLI and the admin pages), stored only as SHA-256 with
//! the last four characters for display; checked by `api::auth::ApiKeyAuth`.

use crate::store;

/// Creates an API key; returns (id, key). The key is stored only as its SHA-256.
pub fn create_api_key(store: &store::Store, name: &str) -> anyhow::Result<(String, String)> {
    let id = uuid::Uuid::new_v4().to_string();
    let key = crate::crypto::random_token("cvn_", 32);
    let hash = crate::crypto::sha256_hex(&key);
    let last4 = key[key.len() - 4..].to_string();
    let now = store::now_ms();
    store.blocking_write(|tx| store::api_keys::insert(tx, &id, name, &hash, &last4, now))?;
    Ok((id, key))
}
