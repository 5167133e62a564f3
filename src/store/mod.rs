//! Storage behind one trait. The trait speaks domain types; SQL stays in the implementations,
//! and backend errors are translated into [`StoreError`] there.

mod aliases;
#[cfg(test)]
mod conformance;
mod ledger;
mod postgres;
mod sqlite;
mod stored;

use std::sync::Arc;

use async_trait::async_trait;

use crate::auth::{ApiKeyRecord, Scope};
use crate::domain::history::{CustomerProfile, CustomerRef, Event, History};
use crate::domain::population::PopulationStats;
use crate::domain::time::Timestamp;
use crate::domain::validate::FieldViolation;

pub use postgres::PostgresStore;
pub use sqlite::SqliteStore;

#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    /// An event id already stored with other content.
    #[error("event id {event_id:?} (events[{index}]) is already stored with other content")]
    EventIdReused { index: usize, event_id: String },
    /// An ORDER whose order id the customer already has under another event id.
    #[error(
        "order id {order_id:?} (events[{index}]) is already stored for customer {customer_id:?}"
    )]
    OrderIdTaken {
        index: usize,
        customer_id: String,
        order_id: String,
    },
    /// A phone, e-mail or external id that belongs to another customer.
    #[error("{alias} already belongs to another customer")]
    AliasTaken { alias: String, field: String },
    /// A refund whose order is not stored (yet): the writer may retry after the order arrives.
    #[error("events[{index}]: order {order_id:?} of customer {customer_id:?} is not stored")]
    OrderMissing {
        index: usize,
        customer_id: String,
        order_id: String,
    },
    /// Input that only the stored state shows to be bad (e.g. a refund above what is left).
    #[error("invalid input: {0:?}")]
    Invalid(Vec<FieldViolation>),
    /// The backend failed or is unreachable.
    #[error("storage backend: {0}")]
    Backend(String),
}

impl From<sqlx::Error> for StoreError {
    fn from(error: sqlx::Error) -> Self {
        StoreError::Backend(error.to_string())
    }
}

impl From<sqlx::migrate::MigrateError> for StoreError {
    fn from(error: sqlx::migrate::MigrateError) -> Self {
        StoreError::Backend(error.to_string())
    }
}

/// What an upsert did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct UpsertOutcome {
    pub created: bool,
}

/// What a batch of events did.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct RecordOutcome {
    pub stored: u64,
    pub duplicates: u64,
}

/// What [`Store::record_event_batches`] did: the outcome of every committed batch, in order,
/// and the error of the batch that stopped it, if one did (none after it was tried).
#[derive(Debug, Default)]
pub struct BatchesRecorded {
    pub outcomes: Vec<RecordOutcome>,
    pub failure: Option<StoreError>,
}

/// Shared snapshots kept per rules version; older ones are pruned on save.
pub(crate) const SNAPSHOTS_KEPT: i64 = 3;

/// A snapshot's stored form, written on the blocking pool: a million customers' distributions
/// take tens of milliseconds to write out, time an async worker would take from the calls
/// queued on it (a Classify during a refresh waited up to 113 ms).
pub(crate) async fn encode_snapshot(stats: &Arc<PopulationStats>) -> Result<String, StoreError> {
    let stats = Arc::clone(stats);
    let started = std::time::Instant::now();
    let body = off_workers(move || {
        serde_json::to_string(&*stats)
            .map_err(|e| StoreError::Backend(format!("cannot encode snapshot: {e}")))
    })
    .await?;
    tracing::debug!(
        bytes = body.len(),
        elapsed_ms = started.elapsed().as_millis() as u64,
        "snapshot encoded"
    );
    Ok(body)
}

/// A stored snapshot read back, on the blocking pool like [`encode_snapshot`].
pub(crate) async fn decode_snapshot(body: String) -> Result<PopulationStats, StoreError> {
    off_workers(move || {
        serde_json::from_str(&body)
            .map_err(|e| StoreError::Backend(format!("undecodable stored snapshot: {e}")))
    })
    .await
}

async fn off_workers<T: Send + 'static>(
    work: impl FnOnce() -> Result<T, StoreError> + Send + 'static,
) -> Result<T, StoreError> {
    tokio::task::spawn_blocking(work)
        .await
        .map_err(|e| StoreError::Backend(format!("snapshot coding stopped: {e}")))?
}

/// Scopes as stored: comma-separated codes.
pub(crate) fn scopes_to_text(scopes: &[Scope]) -> String {
    scopes
        .iter()
        .map(|s| s.code())
        .collect::<Vec<_>>()
        .join(",")
}

/// Reads stored scopes; an unknown code (from a newer version) grants nothing.
pub(crate) fn scopes_from_text(text: &str) -> Vec<Scope> {
    text.split(',').filter_map(Scope::from_code).collect()
}

/// A row of `api_keys` as both backends read it.
pub(crate) type ApiKeyRow = (String, String, String, String, i64, Option<i64>);

pub(crate) fn api_key_from_row(
    (id, name, scopes, hash, created_at, revoked_at): ApiKeyRow,
) -> ApiKeyRecord {
    ApiKeyRecord {
        id,
        name,
        scopes: scopes_from_text(&scopes),
        hash,
        created_at: Timestamp(created_at),
        revoked_at: revoked_at.map(Timestamp),
    }
}

/// Open and idle connections of a store's pools.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct PoolStats {
    pub size: u32,
    pub idle: usize,
}

/// What an erasure removed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct DeleteOutcome {
    pub events_deleted: u64,
}

#[async_trait]
pub trait Store: Send + Sync + 'static {
    /// Creates or replaces a profile and its aliases (normalised by the caller). Fails with
    /// `AliasTaken` when an alias belongs to another customer; then nothing changes.
    async fn upsert_customer(&self, profile: &CustomerProfile)
        -> Result<UpsertOutcome, StoreError>;

    /// Upserts many profiles in one transaction, all or nothing; returns how many were new.
    async fn upsert_customers(&self, profiles: &[CustomerProfile]) -> Result<u64, StoreError>;

    /// The customer id a reference points at, if any (an `Id` resolves when the customer exists).
    async fn resolve(&self, reference: &CustomerRef) -> Result<Option<String>, StoreError>;

    /// The stored profile; `None` for a customer known only from events or not at all.
    async fn profile(&self, customer_id: &str) -> Result<Option<CustomerProfile>, StoreError>;

    /// Profile and every event of one customer, read through indexes only.
    async fn history(&self, customer_id: &str) -> Result<History, StoreError>;

    /// Number of stored events of one customer.
    async fn event_count(&self, customer_id: &str) -> Result<u64, StoreError>;

    /// Erases a customer: profile, aliases, events. `None` when it did not exist.
    async fn delete_customer(&self, customer_id: &str)
        -> Result<Option<DeleteOutcome>, StoreError>;

    /// Stores events in one transaction, all or nothing, in the given order (a refund may follow
    /// its order in the same batch). Customers referenced by id are created when missing. An
    /// event id already stored with equal content counts as a duplicate.
    async fn record_events(&self, events: &[Event]) -> Result<RecordOutcome, StoreError>;

    /// Stores `batches` in order, each all or nothing as [`Store::record_events`] would, and
    /// stops at the first that fails. Every batch before it is durable when this returns. A
    /// backend may commit them together (one commit for many small batches of a stream); the
    /// default commits each on its own.
    async fn record_event_batches(&self, batches: &[Vec<Event>]) -> BatchesRecorded {
        let mut recorded = BatchesRecorded::default();
        for batch in batches {
            match self.record_events(batch).await {
                Ok(outcome) => recorded.outcomes.push(outcome),
                Err(error) => {
                    recorded.failure = Some(error);
                    break;
                }
            }
        }
        recorded
    }

    /// Customer ids in byte order, strictly after `after`, at most `limit`.
    async fn customer_ids(
        &self,
        after: Option<&str>,
        limit: u32,
    ) -> Result<Vec<String>, StoreError>;

    /// Histories of the customers with ids in byte order strictly after `after`, at most `limit`,
    /// in id order: what population snapshots and segment scans page through.
    async fn histories(
        &self,
        after: Option<&str>,
        limit: u32,
    ) -> Result<Vec<(String, History)>, StoreError>;

    /// Number of stored customers.
    async fn customer_count(&self) -> Result<u64, StoreError>;

    /// Cheap liveness check of the backend.
    async fn ping(&self) -> Result<(), StoreError>;

    /// Stores a new API key record (its id and hash must be new).
    async fn insert_api_key(&self, key: &ApiKeyRecord) -> Result<(), StoreError>;

    /// Changes the name and scopes of the key with `key.id` (nothing else); `false` if unknown.
    async fn update_api_key(&self, key: &ApiKeyRecord) -> Result<bool, StoreError>;

    /// Every API key record, revoked ones included, in creation order.
    async fn api_keys(&self) -> Result<Vec<ApiKeyRecord>, StoreError>;

    /// Marks the active keys whose name or id equals `name_or_id` revoked; returns how many.
    async fn revoke_api_keys(&self, name_or_id: &str, at: Timestamp) -> Result<u64, StoreError>;

    /// Takes or renews the scheduled-snapshot lease for `holder` until `until`: granted when it
    /// is free, expired at `now`, or held by `holder` already.
    async fn try_snapshot_lease(
        &self,
        holder: &str,
        now: Timestamp,
        until: Timestamp,
    ) -> Result<bool, StoreError>;

    /// Shares a computed snapshot with the other replicas (older ones of the same rules are
    /// pruned, keeping a few).
    async fn save_snapshot(
        &self,
        stats: &Arc<PopulationStats>,
        rules_version: &str,
    ) -> Result<(), StoreError>;

    /// The latest shared snapshot computed with `rules_version`, if any.
    async fn latest_snapshot(
        &self,
        rules_version: &str,
    ) -> Result<Option<PopulationStats>, StoreError>;

    /// Puts in place whatever the backend set aside to write later (SQLite's pending events,
    /// see `sqlite::journal`), so that the next process to open the database does not start
    /// with that work. Bulk loaders call it before they end; servers need not.
    async fn settle(&self) -> Result<(), StoreError> {
        Ok(())
    }

    /// Connection pool figures for metrics; zero where a backend has no pool.
    fn pool_stats(&self) -> PoolStats {
        PoolStats::default()
    }
}

/// Opens the store for a bulk loader (demo, import): as [`connect`], but SQLite writes new
/// events straight into its indexed tables instead of the pending ones a server folds later.
pub async fn connect_for_loading(
    database_url: &str,
) -> Result<std::sync::Arc<dyn Store>, StoreError> {
    if database_url.starts_with("sqlite:") {
        return Ok(std::sync::Arc::new(
            SqliteStore::connect(database_url).await?.writing_directly(),
        ));
    }
    connect(database_url).await
}

/// Opens the store a database URL names. `sqlite:` is the embedded default;
/// `postgres://` or `postgresql://` opens PostgreSQL (for several replicas).
pub async fn connect(database_url: &str) -> Result<std::sync::Arc<dyn Store>, StoreError> {
    if database_url.starts_with("sqlite:") {
        let store = SqliteStore::connect(database_url).await?;
        store.learn_keys_in_background();
        return Ok(std::sync::Arc::new(store));
    }
    if database_url.starts_with("postgres://") || database_url.starts_with("postgresql://") {
        return Ok(std::sync::Arc::new(
            PostgresStore::connect(database_url).await?,
        ));
    }
    Err(StoreError::Backend(format!(
        "unsupported database URL {:?}: use sqlite://FILE or postgres://...",
        database_url.split("://").next().unwrap_or("")
    )))
}
