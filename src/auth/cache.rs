//! Authenticating a presented key without a database round trip per call: the key table is
//! held in memory and reloaded every few seconds (revocations take effect within that time)
//! and at once, at most once a second, when an unknown key is presented (new keys work at once).

use std::collections::HashMap;
use std::sync::Arc;
use std::time::{Duration, Instant};

use arc_swap::ArcSwap;

use super::{ApiKeyRecord, KeyDigest};
use crate::store::Store;

const RELOAD_EVERY: Duration = Duration::from_secs(5);
const RELOAD_ON_MISS_AT_MOST_EVERY: Duration = Duration::from_secs(1);

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum AuthError {
    #[error("unknown API key")]
    Unknown,
    #[error("API key {0:?} is revoked")]
    Revoked(String),
    #[error("keys cannot be checked right now: {0}")]
    Unavailable(String),
}

struct Table {
    /// By the stored hash read back into bytes, so a call looks its key up without writing
    /// the presented key's digest out as hex. A stored hash that is not 64 hex digits matches
    /// no key, as before.
    by_digest: HashMap<KeyDigest, Arc<ApiKeyRecord>>,
    loaded: Instant,
}

pub struct KeyCache {
    store: Arc<dyn Store>,
    table: ArcSwap<Table>,
    reloading: tokio::sync::Mutex<()>,
}

impl KeyCache {
    pub fn new(store: Arc<dyn Store>) -> Self {
        let stale = Instant::now()
            .checked_sub(RELOAD_EVERY * 2)
            .unwrap_or_else(Instant::now);
        Self {
            store,
            table: ArcSwap::from_pointee(Table {
                by_digest: HashMap::new(),
                loaded: stale,
            }),
            reloading: tokio::sync::Mutex::new(()),
        }
    }

    async fn reload(&self, older_than: Duration) -> Result<(), AuthError> {
        let _one = self.reloading.lock().await;
        if self.table.load().loaded.elapsed() < older_than {
            return Ok(()); // another call reloaded while this one waited
        }
        let keys = self
            .store
            .api_keys()
            .await
            .map_err(|e| AuthError::Unavailable(e.to_string()))?;
        let by_digest = keys
            .into_iter()
            .filter_map(|k| {
                let mut digest = KeyDigest::default();
                hex::decode_to_slice(&k.hash, &mut digest).ok()?;
                Some((digest, Arc::new(k)))
            })
            .collect();
        self.table.store(Arc::new(Table {
            by_digest,
            loaded: Instant::now(),
        }));
        Ok(())
    }

    /// The active key whose digest ([`super::key_digest`]) is `digest`.
    pub async fn authenticate(&self, digest: &KeyDigest) -> Result<Arc<ApiKeyRecord>, AuthError> {
        if self.table.load().loaded.elapsed() >= RELOAD_EVERY {
            self.reload(RELOAD_EVERY).await?;
        }
        let mut found = self.table.load().by_digest.get(digest).cloned();
        if found.is_none() {
            self.reload(RELOAD_ON_MISS_AT_MOST_EVERY).await?;
            found = self.table.load().by_digest.get(digest).cloned();
        }
        match found {
            None => Err(AuthError::Unknown),
            Some(record) if record.is_revoked() => Err(AuthError::Revoked(record.name.clone())),
            Some(record) => Ok(record),
        }
    }
}
