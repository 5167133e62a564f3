//! PostgreSQL implementation of the store, for deployments with several replicas.
//!
//! Writes run in READ COMMITTED transactions and stay correct with other writers (replicas)
//! at work on the same rows:
//! - events and customers are inserted with `ON CONFLICT DO NOTHING`, which waits for a
//!   concurrent insert of the same key to commit or roll back; an event id that was already
//!   there is then compared with what is stored, so one of two writers of the same event stores
//!   it and the other counts a duplicate (or gets `EventIdReused`);
//! - a refund locks its order row (`SELECT ... FOR UPDATE`) before checking what is left;
//! - a customer's row is locked by its upsert, and an alias claimed concurrently by another
//!   customer fails on the aliases primary key: the transaction is retried and its alias check
//!   then names the alias as taken;
//! - an erasure locks the customer row first, so concurrent writers of its events either finish
//!   before it (and their events are counted and erased) or fail their foreign-key check after
//!   it and are retried (and create the customer anew).
//!
//! Serialization failures, deadlocks and the races above are retried a few times with a short
//! random pause. Reads of several statements share one REPEATABLE READ, READ ONLY snapshot.

mod customers;
mod events;
mod shared;
#[cfg(test)]
pub(super) mod testing;
#[cfg(test)]
mod tests;

use std::future::Future;
use std::str::FromStr;
use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;
use rand::Rng;
use sqlx::migrate::Migrator;
use sqlx::postgres::{PgConnectOptions, PgPool, PgPoolOptions};
use sqlx::{Postgres, Transaction};

use self::customers::{external_value, upsert_many};
use super::stored::{decode_event, decode_profile, history_page};
use super::{DeleteOutcome, PoolStats, RecordOutcome, Store, StoreError, UpsertOutcome};
use crate::auth::ApiKeyRecord;
use crate::domain::history::{CustomerProfile, CustomerRef, Event, History};
use crate::domain::population::PopulationStats;
use crate::domain::time::Timestamp;

static MIGRATOR: Migrator = sqlx::migrate!("src/store/migrations/postgres");

const MAX_CONNECTIONS: u32 = 16;
const ACQUIRE_TIMEOUT: Duration = Duration::from_secs(10);
/// Attempts of one write transaction when it fails transiently.
const ATTEMPTS: u32 = 6;
const BEGIN_WRITE: &str = "BEGIN ISOLATION LEVEL READ COMMITTED";
const BEGIN_SNAPSHOT: &str = "BEGIN ISOLATION LEVEL REPEATABLE READ, READ ONLY";
/// A customer's events, off the `events_by_customer` index in its order.
const HISTORY_EVENTS: &str = "SELECT content FROM events WHERE customer_id = $1 ORDER BY at, seq";
/// The events of a page of customers (an id range), off the same index in its order.
const PAGE_EVENTS: &str = "SELECT customer_id, content FROM events \
    WHERE customer_id >= $1 AND customer_id <= $2 ORDER BY customer_id, at, seq";

#[derive(Debug, Clone)]
pub struct PostgresStore {
    pool: PgPool,
}

impl PostgresStore {
    /// Connects to `postgres://...` (or `postgresql://...`) and applies pending migrations.
    pub async fn connect(url: &str) -> Result<PostgresStore, StoreError> {
        PostgresStore::connect_with(PgConnectOptions::from_str(url)?).await
    }

    /// Connects with explicit options and applies pending migrations. The migrator holds an
    /// advisory lock meanwhile, so replicas starting together migrate once.
    pub async fn connect_with(options: PgConnectOptions) -> Result<PostgresStore, StoreError> {
        let pool = PgPoolOptions::new()
            .max_connections(MAX_CONNECTIONS)
            .acquire_timeout(ACQUIRE_TIMEOUT)
            .connect_with(options)
            .await?;
        MIGRATOR.run(&pool).await?;
        Ok(PostgresStore { pool })
    }

    /// The connection pool.
    pub fn pool(&self) -> &PgPool {
        &self.pool
    }

    /// Closes the pool, waiting for connections in use to be returned.
    pub async fn close(&self) {
        self.pool.close().await;
    }

    async fn begin_write(&self) -> Result<Transaction<'static, Postgres>, sqlx::Error> {
        self.pool.begin_with(BEGIN_WRITE).await
    }

    async fn begin_snapshot(&self) -> Result<Transaction<'static, Postgres>, sqlx::Error> {
        self.pool.begin_with(BEGIN_SNAPSHOT).await
    }

    async fn alias_owner(&self, kind: &str, value: &str) -> Result<Option<String>, StoreError> {
        let owner: Option<(String,)> =
            sqlx::query_as("SELECT customer_id FROM aliases WHERE kind = $1 AND value = $2")
                .bind(kind)
                .bind(value)
                .fetch_optional(&self.pool)
                .await?;
        Ok(owner.map(|(id,)| id))
    }

    async fn upsert_once(&self, profiles: &[CustomerProfile]) -> Result<u64, Failure> {
        let mut tx = self.begin_write().await?;
        let created = upsert_many(&mut tx, profiles).await?;
        tx.commit().await?;
        Ok(created)
    }

    async fn record_once(&self, events: &[Event]) -> Result<RecordOutcome, Failure> {
        let mut tx = self.begin_write().await?;
        let outcome = events::record(&mut tx, events).await?;
        tx.commit().await?;
        Ok(outcome)
    }

    async fn delete_once(&self, customer_id: &str) -> Result<Option<DeleteOutcome>, Failure> {
        let mut tx = self.begin_write().await?;
        // The row lock waits for writers of this customer's events and holds off new ones.
        let exists = sqlx::query("SELECT 1 FROM customers WHERE id = $1 FOR UPDATE")
            .bind(customer_id)
            .fetch_optional(&mut *tx)
            .await?
            .is_some();
        if !exists {
            tx.rollback().await?;
            return Ok(None);
        }
        let events_deleted = sqlx::query("DELETE FROM events WHERE customer_id = $1")
            .bind(customer_id)
            .execute(&mut *tx)
            .await?
            .rows_affected();
        for statement in [
            "DELETE FROM orders WHERE customer_id = $1",
            "DELETE FROM aliases WHERE customer_id = $1",
            "DELETE FROM customers WHERE id = $1",
        ] {
            sqlx::query(statement)
                .bind(customer_id)
                .execute(&mut *tx)
                .await?;
        }
        tx.commit().await?;
        Ok(Some(DeleteOutcome { events_deleted }))
    }
}

/// Why one attempt at a write transaction failed.
#[derive(Debug)]
enum Failure {
    /// An answer for the caller that the stored data gives (a conflict, a bad refund...).
    Store(StoreError),
    /// The database failed; retried when the failure is transient.
    Db(sqlx::Error),
    /// A concurrent writer changed a row between two statements; retried.
    Raced(&'static str),
}

impl From<sqlx::Error> for Failure {
    fn from(error: sqlx::Error) -> Self {
        Failure::Db(error)
    }
}

impl From<StoreError> for Failure {
    fn from(error: StoreError) -> Self {
        Failure::Store(error)
    }
}

impl Failure {
    fn is_transient(&self) -> bool {
        match self {
            Failure::Store(_) => false,
            Failure::Raced(_) => true,
            Failure::Db(sqlx::Error::Database(db)) => {
                // 40001 serialization failure, 40P01 deadlock, 23503: the customer row was
                // erased under a writer of its events. A claim of an alias that a concurrent
                // upsert has just taken: the retry's alias check names it.
                matches!(db.code().as_deref(), Some("40001" | "40P01" | "23503"))
                    || (db.is_unique_violation() && db.constraint() == Some("aliases_pkey"))
            }
            Failure::Db(_) => false,
        }
    }

    fn into_store(self) -> StoreError {
        match self {
            Failure::Store(error) => error,
            Failure::Db(error) => error.into(),
            Failure::Raced(what) => {
                StoreError::Backend(format!("{what}: concurrent writers kept interfering"))
            }
        }
    }
}

/// Runs `attempt` (one write transaction) until it succeeds, fails for good, or has failed
/// transiently `ATTEMPTS` times; pauses a short random while between attempts.
async fn retrying<T, F, Fut>(mut attempt: F) -> Result<T, StoreError>
where
    F: FnMut() -> Fut,
    Fut: Future<Output = Result<T, Failure>>,
{
    let mut tries = 1;
    loop {
        match attempt().await {
            Err(failure) if failure.is_transient() && tries < ATTEMPTS => {
                let cap = 5u64 << tries.min(6);
                let pause = Duration::from_millis(rand::thread_rng().gen_range(1..=cap));
                tracing::debug!(?failure, tries, "retrying a PostgreSQL transaction");
                tokio::time::sleep(pause).await;
                tries += 1;
            }
            result => return result.map_err(Failure::into_store),
        }
    }
}

fn now_micros() -> i64 {
    chrono::Utc::now().timestamp_micros()
}

fn count(value: i64) -> u64 {
    u64::try_from(value).unwrap_or_default()
}

#[async_trait]
impl Store for PostgresStore {
    async fn upsert_customer(
        &self,
        profile: &CustomerProfile,
    ) -> Result<UpsertOutcome, StoreError> {
        let created = retrying(|| self.upsert_once(std::slice::from_ref(profile))).await?;
        Ok(UpsertOutcome {
            created: created == 1,
        })
    }

    async fn upsert_customers(&self, profiles: &[CustomerProfile]) -> Result<u64, StoreError> {
        retrying(|| self.upsert_once(profiles)).await
    }

    async fn resolve(&self, reference: &CustomerRef) -> Result<Option<String>, StoreError> {
        match reference {
            CustomerRef::Id(id) => {
                let row: Option<(String,)> =
                    sqlx::query_as("SELECT id FROM customers WHERE id = $1")
                        .bind(id)
                        .fetch_optional(&self.pool)
                        .await?;
                Ok(row.map(|(id,)| id))
            }
            CustomerRef::Phone(phone) => self.alias_owner("phone", phone).await,
            CustomerRef::Email(email) => self.alias_owner("email", email).await,
            CustomerRef::External(external) => {
                self.alias_owner("external", &external_value(external))
                    .await
            }
        }
    }

    async fn profile(&self, customer_id: &str) -> Result<Option<CustomerProfile>, StoreError> {
        let row: Option<(Option<String>,)> =
            sqlx::query_as("SELECT profile FROM customers WHERE id = $1")
                .bind(customer_id)
                .fetch_optional(&self.pool)
                .await?;
        row.and_then(|(json,)| json)
            .map(|json| decode_profile(&json))
            .transpose()
    }

    async fn history(&self, customer_id: &str) -> Result<History, StoreError> {
        // One snapshot: profile and events as of the same instant.
        let mut tx = self.begin_snapshot().await?;
        let row: Option<(Option<String>,)> =
            sqlx::query_as("SELECT profile FROM customers WHERE id = $1")
                .bind(customer_id)
                .fetch_optional(&mut *tx)
                .await?;
        let contents: Vec<(String,)> = sqlx::query_as(HISTORY_EVENTS)
            .bind(customer_id)
            .fetch_all(&mut *tx)
            .await?;
        tx.commit().await?;

        let profile = row
            .and_then(|(json,)| json)
            .map(|json| decode_profile(&json))
            .transpose()?;
        let events = contents
            .iter()
            .map(|(content,)| decode_event(content))
            .collect::<Result<Vec<Event>, StoreError>>()?;
        Ok(History { profile, events })
    }

    async fn event_count(&self, customer_id: &str) -> Result<u64, StoreError> {
        let (n,): (i64,) = sqlx::query_as("SELECT COUNT(*) FROM events WHERE customer_id = $1")
            .bind(customer_id)
            .fetch_one(&self.pool)
            .await?;
        Ok(count(n))
    }

    async fn delete_customer(
        &self,
        customer_id: &str,
    ) -> Result<Option<DeleteOutcome>, StoreError> {
        retrying(|| self.delete_once(customer_id)).await
    }

    async fn record_events(&self, events: &[Event]) -> Result<RecordOutcome, StoreError> {
        if events.is_empty() {
            return Ok(RecordOutcome::default());
        }
        retrying(|| self.record_once(events)).await
    }

    async fn customer_ids(
        &self,
        after: Option<&str>,
        limit: u32,
    ) -> Result<Vec<String>, StoreError> {
        let query = match after {
            Some(after) => {
                sqlx::query_as("SELECT id FROM customers WHERE id > $1 ORDER BY id LIMIT $2")
                    .bind(after)
            }
            None => sqlx::query_as("SELECT id FROM customers ORDER BY id LIMIT $1"),
        };
        let rows: Vec<(String,)> = query.bind(i64::from(limit)).fetch_all(&self.pool).await?;
        Ok(rows.into_iter().map(|(id,)| id).collect())
    }

    async fn histories(
        &self,
        after: Option<&str>,
        limit: u32,
    ) -> Result<Vec<(String, History)>, StoreError> {
        let mut tx = self.begin_snapshot().await?;
        let query = match after {
            Some(after) => sqlx::query_as(
                "SELECT id, profile FROM customers WHERE id > $1 ORDER BY id LIMIT $2",
            )
            .bind(after),
            None => sqlx::query_as("SELECT id, profile FROM customers ORDER BY id LIMIT $1"),
        };
        let customers: Vec<(String, Option<String>)> =
            query.bind(i64::from(limit)).fetch_all(&mut *tx).await?;
        let (Some((first, _)), Some((last, _))) = (customers.first(), customers.last()) else {
            tx.commit().await?;
            return Ok(Vec::new());
        };
        // The whole page's events in one range scan of the (customer_id, at, seq) index: in
        // the snapshot, every customer in that id range is on the page.
        let rows: Vec<(String, String)> = sqlx::query_as(PAGE_EVENTS)
            .bind(first)
            .bind(last)
            .fetch_all(&mut *tx)
            .await?;
        tx.commit().await?;

        // COLLATE "C" orders ids as Rust's `str` does.
        history_page(customers, rows.into_iter())
    }

    async fn customer_count(&self) -> Result<u64, StoreError> {
        let (n,): (i64,) = sqlx::query_as("SELECT COUNT(*) FROM customers")
            .fetch_one(&self.pool)
            .await?;
        Ok(count(n))
    }

    async fn ping(&self) -> Result<(), StoreError> {
        sqlx::query("SELECT 1").execute(&self.pool).await?;
        Ok(())
    }

    async fn insert_api_key(&self, key: &ApiKeyRecord) -> Result<(), StoreError> {
        self.keys_insert(key).await
    }

    async fn update_api_key(&self, key: &ApiKeyRecord) -> Result<bool, StoreError> {
        self.keys_update(key).await
    }

    async fn api_keys(&self) -> Result<Vec<ApiKeyRecord>, StoreError> {
        self.keys_all().await
    }

    async fn revoke_api_keys(&self, name_or_id: &str, at: Timestamp) -> Result<u64, StoreError> {
        self.keys_revoke(name_or_id, at).await
    }

    async fn try_snapshot_lease(
        &self,
        holder: &str,
        now: Timestamp,
        until: Timestamp,
    ) -> Result<bool, StoreError> {
        self.lease_try(holder, now, until).await
    }

    async fn save_snapshot(
        &self,
        stats: &Arc<PopulationStats>,
        rules_version: &str,
    ) -> Result<(), StoreError> {
        self.snapshot_save(stats, rules_version).await
    }

    async fn latest_snapshot(
        &self,
        rules_version: &str,
    ) -> Result<Option<PopulationStats>, StoreError> {
        self.snapshot_latest(rules_version).await
    }

    fn pool_stats(&self) -> PoolStats {
        PoolStats {
            size: self.pool.size(),
            idle: self.pool.num_idle(),
        }
    }
}
