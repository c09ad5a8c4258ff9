//! Secrets at rest and signatures.
//!
//! Stored secrets are AES-256-GCM ciphertexts written as `v1.<key id>.<base64 nonce+ct>`, so
//! a value says which master key sealed it and keys can rotate: `CONVENE_MASTER_KEY` may list
//! several keys separated by commas, the first seals, all of them open.
//! Signing keys (calendar auth tokens, OAuth state, cursors) are derived from every key:
//! tokens are signed with the first and verify under any, so a rotation does not void the
//! tokens already handed out. `rotation` re-seals stored values under the first key.

use std::path::Path;

use aes_gcm::aead::{Aead, KeyInit};
use aes_gcm::{Aes256Gcm, Nonce};
use base64::engine::general_purpose::{STANDARD, URL_SAFE_NO_PAD};
use base64::Engine;
use hmac::{Hmac, Mac};
use rand::RngCore;
use sha2::{Digest, Sha256};

type HmacSha256 = Hmac<Sha256>;

#[derive(Debug, thiserror::Error)]
pub enum CryptoError {
    #[error("value was sealed with master key id {0}, which is not configured")]
    UnknownKey(String),
    #[error("stored secret is malformed")]
    Malformed,
    #[error("stored secret failed authentication (tampered or wrong key)")]
    Tampered,
}

struct SealingKey {
    id: String,
    cipher: Aes256Gcm,
}

/// The master keys and what is derived from them.
pub struct Keyring {
    keys: Vec<SealingKey>,
    /// One per master key, in the same order; the first signs.
    signing_keys: Vec<[u8; 32]>,
}

impl std::fmt::Debug for Keyring {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Keyring")
            .field(
                "key_ids",
                &self.keys.iter().map(|k| &k.id).collect::<Vec<_>>(),
            )
            .finish()
    }
}

/// Decodes one or more comma-separated base64 master keys of 32 bytes each.
pub fn decode_master_key(value: &str) -> Result<Vec<[u8; 32]>, String> {
    value
        .split(',')
        .map(str::trim)
        .filter(|s| !s.is_empty())
        .map(|part| {
            let bytes = STANDARD
                .decode(part)
                .or_else(|_| URL_SAFE_NO_PAD.decode(part))
                .map_err(|_| {
                    "must be 32 random bytes in base64 (e.g. `openssl rand -base64 32`)".to_string()
                })?;
            <[u8; 32]>::try_from(bytes.as_slice())
                .map_err(|_| format!("must decode to exactly 32 bytes, got {}", bytes.len()))
        })
        .collect::<Result<Vec<_>, _>>()
        .and_then(|keys| {
            if keys.is_empty() {
                Err("is empty".to_string())
            } else {
                Ok(keys)
            }
        })
}

/// A key id: the first 8 hex characters of SHA-256 over a fixed label and the key.
fn key_id(key: &[u8; 32]) -> String {
    let mut h = Sha256::new();
    h.update(b"convene key id\0");
    h.update(key);
    hex(&h.finalize()[..4])
}

pub fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

impl Keyring {
    pub fn new(keys: &[[u8; 32]]) -> Self {
        assert!(!keys.is_empty(), "at least one master key");
        let sealing = keys
            .iter()
            .map(|k| SealingKey {
                id: key_id(k),
                cipher: Aes256Gcm::new_from_slice(k).expect("32-byte key"),
            })
            .collect();
        let signing_keys = keys
            .iter()
            .map(|k| {
                let mut mac = <HmacSha256 as Mac>::new_from_slice(k).expect("hmac key");
                mac.update(b"convene signing key v1");
                mac.finalize().into_bytes().into()
            })
            .collect();
        Keyring {
            keys: sealing,
            signing_keys,
        }
    }

    /// Loads the master key from settings, or from `DATA_DIR/master.key`, generating that
    /// file (mode 0600) on first start.
    pub fn load_or_create(
        configured: Option<&str>,
        data_dir: &Path,
    ) -> Result<Self, anyhow::Error> {
        if let Some(value) = configured {
            let keys =
                decode_master_key(value).map_err(|m| anyhow::anyhow!("CONVENE_MASTER_KEY: {m}"))?;
            return Ok(Self::new(&keys));
        }
        let path = data_dir.join("master.key");
        if path.exists() {
            let text = std::fs::read_to_string(&path)
                .map_err(|e| anyhow::anyhow!("cannot read {}: {e}", path.display()))?;
            let keys = decode_master_key(text.trim())
                .map_err(|m| anyhow::anyhow!("{}: {m}", path.display()))?;
            return Ok(Self::new(&keys));
        }
        let mut key = [0u8; 32];
        rand::rngs::OsRng.fill_bytes(&mut key);
        write_private_file(&path, format!("{}\n", STANDARD.encode(key)).as_bytes())?;
        tracing::info!(path = %path.display(), "generated a new master key; back it up with the database");
        Ok(Self::new(&[key]))
    }

    pub fn current_key_id(&self) -> &str {
        &self.keys[0].id
    }

    /// Every configured key id, the sealing one first.
    pub fn key_ids(&self) -> Vec<&str> {
        self.keys.iter().map(|k| k.id.as_str()).collect()
    }

    /// The key id a sealed value names (`v1.<id>.…`), without opening it.
    pub fn key_id_of(sealed: &str) -> Option<&str> {
        let mut parts = sealed.splitn(3, '.');
        match (parts.next(), parts.next(), parts.next()) {
            (Some("v1"), Some(id), Some(_)) => Some(id),
            _ => None,
        }
    }

    /// The value sealed under the current key: `None` when it already is, else the new
    /// ciphertext of the same plaintext.
    pub fn reseal(&self, sealed: &str) -> Result<Option<String>, CryptoError> {
        if Self::key_id_of(sealed) == Some(self.current_key_id()) {
            return Ok(None);
        }
        let plain = self.decrypt(sealed)?;
        Ok(Some(self.encrypt(&plain)))
    }

    /// Seals a secret for storage.
    pub fn encrypt(&self, plaintext: &str) -> String {
        let key = &self.keys[0];
        let mut nonce = [0u8; 12];
        rand::rngs::OsRng.fill_bytes(&mut nonce);
        let ct = key
            .cipher
            .encrypt(Nonce::from_slice(&nonce), plaintext.as_bytes())
            .expect("AES-GCM encryption cannot fail for in-memory data");
        let mut blob = nonce.to_vec();
        blob.extend_from_slice(&ct);
        format!("v1.{}.{}", key.id, URL_SAFE_NO_PAD.encode(blob))
    }

    /// Opens a sealed secret; fails loudly on tampering or an unknown key.
    pub fn decrypt(&self, sealed: &str) -> Result<String, CryptoError> {
        let mut parts = sealed.splitn(3, '.');
        let (Some("v1"), Some(kid), Some(body)) = (parts.next(), parts.next(), parts.next()) else {
            return Err(CryptoError::Malformed);
        };
        let key = self
            .keys
            .iter()
            .find(|k| k.id == kid)
            .ok_or_else(|| CryptoError::UnknownKey(kid.to_string()))?;
        let blob = URL_SAFE_NO_PAD
            .decode(body)
            .map_err(|_| CryptoError::Malformed)?;
        if blob.len() < 12 + 16 {
            return Err(CryptoError::Malformed);
        }
        let (nonce, ct) = blob.split_at(12);
        let pt = key
            .cipher
            .decrypt(Nonce::from_slice(nonce), ct)
            .map_err(|_| CryptoError::Tampered)?;
        String::from_utf8(pt).map_err(|_| CryptoError::Malformed)
    }

    /// HMAC-SHA256 over `purpose` and `data` with the first key's signing key, base64url.
    pub fn sign(&self, purpose: &str, data: &[u8]) -> String {
        URL_SAFE_NO_PAD.encode(
            Self::mac(&self.signing_keys[0], purpose, data)
                .finalize()
                .into_bytes(),
        )
    }

    fn mac(key: &[u8; 32], purpose: &str, data: &[u8]) -> HmacSha256 {
        let mut mac = <HmacSha256 as Mac>::new_from_slice(key).expect("hmac key");
        mac.update(purpose.as_bytes());
        mac.update(b"\0");
        mac.update(data);
        mac
    }

    /// Constant-time check of a signature made by [`Keyring::sign`] under any configured
    /// key (a rotation keeps the tokens signed before it valid while the old key is listed).
    pub fn verify(&self, purpose: &str, data: &[u8], signature: &str) -> bool {
        let Ok(sig) = URL_SAFE_NO_PAD.decode(signature) else {
            return false;
        };
        self.signing_keys
            .iter()
            .any(|k| Self::mac(k, purpose, data).verify_slice(&sig).is_ok())
    }

    /// Signs a payload into a compact token `base64url(payload).signature`.
    pub fn seal_token(&self, purpose: &str, payload: &[u8]) -> String {
        let body = URL_SAFE_NO_PAD.encode(payload);
        let sig = self.sign(purpose, body.as_bytes());
        format!("{body}.{sig}")
    }

    /// Opens a token made by [`Keyring::seal_token`]; None when forged or malformed.
    pub fn open_token(&self, purpose: &str, token: &str) -> Option<Vec<u8>> {
        let (body, sig) = token.rsplit_once('.')?;
        if !self.verify(purpose, body.as_bytes(), sig) {
            return None;
        }
        URL_SAFE_NO_PAD.decode(body).ok()
    }
}

/// Writes a file readable by its owner only.
pub fn write_private_file(path: &Path, contents: &[u8]) -> std::io::Result<()> {
    use std::io::Write;
    let mut opts = std::fs::OpenOptions::new();
    opts.write(true).create_new(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt;
        opts.mode(0o600);
    }
    let mut f = opts.open(path)?;
    f.write_all(contents)?;
    f.sync_all()
}

/// A new random token: `prefix` + base64url of `n` random bytes.
pub fn random_token(prefix: &str, n: usize) -> String {
    let mut bytes = vec![0u8; n];
    rand::rngs::OsRng.fill_bytes(&mut bytes);
    format!("{prefix}{}", URL_SAFE_NO_PAD.encode(bytes))
}

/// SHA-256 hex digest; API keys are stored only as this.
pub fn sha256_hex(data: &str) -> String {
    hex(&Sha256::digest(data.as_bytes()))
}

/// Argon2id hash of a password in PHC string form.
pub fn hash_password(password: &str) -> String {
    use argon2::password_hash::{PasswordHasher, SaltString};
    let salt = SaltString::generate(&mut rand::rngs::OsRng);
    argon2::Argon2::default()
        .hash_password(password.as_bytes(), &salt)
        .expect("argon2 hashing")
        .to_string()
}

pub fn verify_password(password: &str, phc: &str) -> bool {
    use argon2::password_hash::{PasswordHash, PasswordVerifier};
    match PasswordHash::new(phc) {
        Ok(hash) => argon2::Argon2::default()
            .verify_password(password.as_bytes(), &hash)
            .is_ok(),
        Err(_) => false,
    }
}

/// Constant-time equality for secrets compared as strings.
pub fn constant_time_eq(a: &str, b: &str) -> bool {
    let (a, b) = (a.as_bytes(), b.as_bytes());
    if a.len() != b.len() {
        return false;
    }
    a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ring() -> Keyring {
        Keyring::new(&[[7u8; 32]])
    }

    #[test]
    fn round_trip_carries_key_id() {
        let r = ring();
        let sealed = r.encrypt("refresh-token-123");
        assert!(sealed.starts_with(&format!("v1.{}.", r.current_key_id())));
        assert!(!sealed.contains("refresh-token-123"));
        assert_eq!(r.decrypt(&sealed).unwrap(), "refresh-token-123");
    }

    #[test]
    fn tampering_fails_loudly() {
        let r = ring();
        let sealed = r.encrypt("secret");
        let mut bytes = sealed.into_bytes();
        let last = bytes.len() - 3;
        bytes[last] = if bytes[last] == b'A' { b'B' } else { b'A' };
        let tampered = String::from_utf8(bytes).unwrap();
        assert!(matches!(r.decrypt(&tampered), Err(CryptoError::Tampered)));
    }

    #[test]
    fn rotated_keyring_opens_old_values_and_seals_with_new() {
        let old = Keyring::new(&[[1u8; 32]]);
        let sealed = old.encrypt("x");
        let rotated = Keyring::new(&[[2u8; 32], [1u8; 32]]);
        assert_eq!(rotated.decrypt(&sealed).unwrap(), "x");
        assert_ne!(rotated.current_key_id(), old.current_key_id());
        let other = Keyring::new(&[[3u8; 32]]);
        assert!(matches!(
            other.decrypt(&sealed),
            Err(CryptoError::UnknownKey(_))
        ));
    }

    #[test]
    fn signed_tokens_reject_forgery() {
        let r = ring();
        let t = r.seal_token("cal", b"{\"u\":1}");
        assert_eq!(r.open_token("cal", &t).unwrap(), b"{\"u\":1}");
        assert!(r.open_token("other", &t).is_none());
        let forged = t.replacen('e', "f", 1);
        assert!(forged == t || r.open_token("cal", &forged).is_none());
    }

    #[test]
    fn tokens_signed_before_a_rotation_verify_after_it() {
        let old = Keyring::new(&[[1u8; 32]]);
        let token = old.seal_token("state", b"payload");
        let sig = old.sign("csrf", b"v");
        let rotated = Keyring::new(&[[2u8; 32], [1u8; 32]]);
        assert_eq!(rotated.open_token("state", &token).unwrap(), b"payload");
        assert!(rotated.verify("csrf", b"v", &sig));
        // New tokens are signed with the new key: they fail under the old key alone.
        let fresh = rotated.seal_token("state", b"payload");
        assert!(old.open_token("state", &fresh).is_none());
        let dropped = Keyring::new(&[[2u8; 32]]);
        assert!(dropped.open_token("state", &token).is_none());
        assert_eq!(dropped.open_token("state", &fresh).unwrap(), b"payload");
    }

    #[test]
    fn reseal_moves_values_to_the_first_key() {
        let old = Keyring::new(&[[1u8; 32]]);
        let sealed = old.encrypt("secret");
        let rotated = Keyring::new(&[[2u8; 32], [1u8; 32]]);
        let moved = rotated.reseal(&sealed).unwrap().unwrap();
        assert_eq!(Keyring::key_id_of(&moved), Some(rotated.current_key_id()));
        assert_eq!(rotated.reseal(&moved).unwrap(), None);
        assert_eq!(
            Keyring::new(&[[2u8; 32]]).decrypt(&moved).unwrap(),
            "secret"
        );
    }

    #[test]
    fn password_hash_verifies() {
        let h = hash_password("correct horse");
        assert!(h.starts_with("$argon2id$"));
        assert!(verify_password("correct horse", &h));
        assert!(!verify_password("wrong", &h));
    }
}
