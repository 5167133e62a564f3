//! Key management: create (shown once), list, revoke, and install keys from a file such as a
//! mounted Kubernetes Secret.

use std::path::Path;

use serde::Deserialize;

use super::{generate_key, hash_key, ApiKeyRecord, Scope};
use crate::domain::time::Timestamp;
use crate::store::{Store, StoreError};

#[derive(Debug, thiserror::Error)]
pub enum KeysError {
    #[error("{0}")]
    Invalid(String),
    #[error("cannot read keys file {path}: {source}")]
    Read {
        path: String,
        source: std::io::Error,
    },
    #[error(transparent)]
    Store(#[from] StoreError),
}

fn check_name(name: &str) -> Result<(), KeysError> {
    let valid = !name.is_empty()
        && name.len() <= 64
        && name
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.'));
    if valid {
        Ok(())
    } else {
        Err(KeysError::Invalid(format!(
            "key name {name:?} must be 1..64 characters of letters, digits, '-', '_' or '.'"
        )))
    }
}

/// Creates a key for `name`; returns its record and the key itself, which is not stored.
pub async fn create_key(
    store: &dyn Store,
    name: &str,
    scopes: Vec<Scope>,
    now: Timestamp,
) -> Result<(ApiKeyRecord, String), KeysError> {
    check_name(name)?;
    let (id, key) = generate_key();
    let record = ApiKeyRecord {
        id,
        name: name.to_owned(),
        scopes,
        hash: hash_key(&key),
        created_at: now,
        revoked_at: None,
    };
    store.insert_api_key(&record).await?;
    Ok((record, key))
}

pub async fn list_keys(store: &dyn Store) -> Result<Vec<ApiKeyRecord>, KeysError> {
    Ok(store.api_keys().await?)
}

/// Revokes the active keys whose name or id is `name_or_id`; returns how many.
pub async fn revoke_key(
    store: &dyn Store,
    name_or_id: &str,
    now: Timestamp,
) -> Result<u64, KeysError> {
    Ok(store.revoke_api_keys(name_or_id, now).await?)
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct KeysFile {
    #[serde(default)]
    keys: Vec<KeyEntry>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct KeyEntry {
    name: String,
    scopes: Vec<Scope>,
    key: String,
}

/// Installs the keys listed in a TOML file (`[[keys]] name, scopes, key`), idempotently: a
/// listed key already stored keeps its record, its name and scopes updated to the file's; a
/// new key for a name revokes that name's older keys, so rotating a Secret rotates the keys.
/// A key revoked by a person stays revoked even while the file still lists it (rotate it).
/// Returns how many keys were added.
pub async fn install_keys_file(
    store: &dyn Store,
    path: &Path,
    now: Timestamp,
) -> Result<u64, KeysError> {
    let text = std::fs::read_to_string(path).map_err(|source| KeysError::Read {
        path: path.display().to_string(),
        source,
    })?;
    let file: KeysFile = toml::from_str(&text)
        .map_err(|e| KeysError::Invalid(format!("{}: {e}", path.display())))?;
    let stored = store.api_keys().await?;
    let mut added = 0;
    for entry in file.keys {
        check_name(&entry.name)?;
        if entry.key.len() < 32 {
            return Err(KeysError::Invalid(format!(
                "key for {:?} is too short: use at least 32 random characters",
                entry.name
            )));
        }
        let hash = hash_key(&entry.key);
        if let Some(existing) = stored.iter().find(|k| k.hash == hash) {
            if existing.is_revoked() {
                tracing::warn!(name = %entry.name, id = %existing.id, "a key in the keys file was revoked and stays revoked; rotate it");
            } else if existing.name != entry.name || existing.scopes != entry.scopes {
                let updated = ApiKeyRecord {
                    name: entry.name,
                    scopes: entry.scopes,
                    ..existing.clone()
                };
                store.update_api_key(&updated).await?;
            }
            continue;
        }
        store.revoke_api_keys(&entry.name, now).await?;
        store
            .insert_api_key(&ApiKeyRecord {
                id: hash[..8].to_owned(),
                name: entry.name,
                scopes: entry.scopes,
                hash,
                created_at: now,
                revoked_at: None,
            })
            .await?;
        added += 1;
    }
    Ok(added)
}
