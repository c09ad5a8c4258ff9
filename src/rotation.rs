//! Master keys over time: the start-up check that every stored secret can be opened with
//! the configured keys, and `convene rotate-master-key`, which re-seals every stored value
//! under the first key in small batches (safe while the server runs), so the old key can
//! then be removed.

use std::collections::BTreeMap;

use crate::crypto::Keyring;
use crate::store::{self, sealed, settings as kv, Store, StoreError};

/// Values re-sealed per transaction: each batch is one short write.
pub const BATCH: usize = 200;

/// How many stored values one key id seals.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct KeyCount {
    pub key_id: String,
    pub values: u64,
    /// Listed in `CONVENE_MASTER_KEY` (or `master.key`).
    pub configured: bool,
    /// The first key: it seals new values.
    pub current: bool,
}

/// Stored values per key id: every configured key (zero when it seals nothing) and every
/// key id found in the database.
pub fn counts(store: &Store, keys: &Keyring) -> Result<Vec<KeyCount>, StoreError> {
    let found: BTreeMap<String, u64> = store.blocking(|c| sealed::count_by_key(c))?;
    let ids = keys.key_ids();
    let mut out: Vec<KeyCount> = ids
        .iter()
        .map(|id| KeyCount {
            key_id: id.to_string(),
            values: found.get(*id).copied().unwrap_or(0),
            configured: true,
            current: *id == keys.current_key_id(),
        })
        .collect();
    out.extend(
        found
            .iter()
            .filter(|(id, _)| !ids.contains(&id.as_str()))
            .map(|(id, n)| KeyCount {
                key_id: id.clone(),
                values: *n,
                configured: false,
                current: false,
            }),
    );
    Ok(out)
}

/// Refuses to start when a stored value is sealed under a key that is not configured
/// (naming the key id and how many values need it), instead of failing every refresh and
/// delivery later; seals a probe on a new database so a wrong key is caught even then.
pub fn check(store: &Store, keys: &Keyring) -> anyhow::Result<()> {
    const PROBE: &str = "convene master key check";
    let missing: Vec<KeyCount> = counts(store, keys)?
        .into_iter()
        .filter(|k| !k.configured)
        .collect();
    if !missing.is_empty() {
        let list: Vec<String> = missing
            .iter()
            .map(|k| {
                format!(
                    "{} value(s) sealed with master key id {}",
                    k.values, k.key_id
                )
            })
            .collect();
        anyhow::bail!(
            "the master key does not match this database: it holds {}, and that key is not \
             configured (configured: {}). Set CONVENE_MASTER_KEY (or DATA_DIR/master.key) to \
             include it, after the new key when rotating (comma-separated); run `convene \
             rotate-master-key`, and only then remove it",
            list.join(" and "),
            keys.key_ids().join(", ")
        );
    }
    match store.blocking(|c| kv::get(c, kv::MASTER_KEY_CHECK))? {
        None => {
            let sealed = keys.encrypt(PROBE);
            store
                .blocking_write(|tx| kv::set(tx, kv::MASTER_KEY_CHECK, &sealed, store::now_ms()))?;
        }
        Some(sealed) => match keys.decrypt(&sealed) {
            Ok(v) if v == PROBE => {}
            _ => anyhow::bail!(
                "the master key does not match this database (key id {} cannot open its \
                 check value)",
                Keyring::key_id_of(&sealed).unwrap_or("?")
            ),
        },
    }
    Ok(())
}

/// What a rotation did.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct RotationReport {
    /// Values re-sealed under the first key.
    pub resealed: u64,
    /// Values that could not be opened with any configured key (left as they are).
    pub unreadable: u64,
    /// Values per key id afterwards.
    pub counts: Vec<KeyCount>,
}

/// Re-seals every stored value under the first key, `batch` values per transaction. A
/// value changed meanwhile by the running server is left to it (it seals with its own
/// first key). Safe to run again; a second run finds nothing to do.
pub fn rotate(store: &Store, keys: &Keyring, batch: usize) -> anyhow::Result<RotationReport> {
    let current = keys.current_key_id().to_string();
    let mut report = RotationReport::default();
    for (table, column) in sealed::SEALED {
        let mut after = 0i64;
        loop {
            let cur = current.clone();
            let rows = store
                .blocking(|c| sealed::not_under(c, table, column, &cur, after, batch.max(1)))?;
            let Some((last, _)) = rows.last() else {
                break;
            };
            after = *last;
            let mut updates = Vec::with_capacity(rows.len());
            for (rowid, old) in rows {
                match keys.reseal(&old) {
                    Ok(Some(new)) => updates.push((rowid, old, new)),
                    Ok(None) => {}
                    Err(e) => {
                        tracing::warn!(table, column, rowid, error = %e, "cannot re-seal a stored value");
                        report.unreadable += 1;
                    }
                }
            }
            let done = store.blocking_write(|tx| {
                let mut n = 0u64;
                for (rowid, old, new) in &updates {
                    if sealed::replace(tx, table, column, *rowid, old, new)? {
                        n += 1;
                    }
                }
                Ok(n)
            })?;
            report.resealed += done;
        }
    }
    report.counts = counts(store, keys)?;
    Ok(report)
}
