//! SQLite implementation of the store (the embedded default).
//!
//! Writes go through a pool of one connection and open their transactions with
//! `BEGIN IMMEDIATE`, so writers queue instead of failing with SQLITE_BUSY on a lock upgrade
//! (the busy timeout covers other processes holding the lock). Reads use a separate pool; WAL
//! lets them run beside the writer. `synchronous = FULL` fsyncs the WAL on every commit, so
//! an acknowledged write survives a crash of the process or the machine.

mod customers;
mod events;
mod histories;
mod journal;
mod known;
mod pending;
mod rows;
mod shared;

use customers::{external_value, upsert_in, upsert_many};
use events::Lookups;
use events::Placement;
use journal::FoldGuard;
use known::KnownKeys;
use pending::PendingIndex;

use std::str::FromStr;
use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;
use futures::future::BoxFuture;
use sqlx::migrate::Migrator;
use sqlx::pool::PoolConnectionMetadata;
use sqlx::sqlite::{
    SqliteConnectOptions, SqliteConnection, SqliteJournalMode, SqlitePool, SqlitePoolOptions,
    SqliteSynchronous,
};
use sqlx::Connection;

use super::stored::decode_profile;
use super::{
    BatchesRecorded, DeleteOutcome, PoolStats, RecordOutcome, Store, StoreError, UpsertOutcome,
};
use crate::auth::ApiKeyRecord;
use crate::domain::history::{CustomerProfile, CustomerRef, Event, History};
use crate::domain::population::PopulationStats;
use crate::domain::time::Timestamp;

static MIGRATOR: Migrator = sqlx::migrate!("src/store/migrations/sqlite");

const BUSY_TIMEOUT: Duration = Duration::from_secs(5);
const READERS: u32 = 4;
const BEGIN_WRITE: &str = "BEGIN IMMEDIATE";

#[derive(Debug, Clone)]
pub struct SqliteStore {
    writer: SqlitePool,
    reader: SqlitePool,
    /// Keeps the background fold of the pending tables ([`journal`]) running.
    _folder: Arc<FoldGuard>,
    /// Folds everything pending after each event write, so that the next write meets its
    /// predecessors in the large tables: how the store suite checks both places.
    fold_after_writes: bool,
    placement: Placement,
    /// The stored keys this store knows without lookups ([`known`]).
    known: Arc<KnownKeys>,
    /// Where the pending rows are ([`pending`]).
    pending: Arc<PendingIndex>,
}

/// The writer's page cache, in KiB (negative: SQLite's unit for a size in KiB). SQLite's 2 MiB
/// default spills a batch of a few thousand events to the WAL before it commits, and reads
/// back what it spilled; 64 MiB holds a 10,000-event batch's dirty pages.
const WRITER_CACHE_PRAGMA: &str = "-65536";

/// Batches of a stream's group encoded ahead of the one being recorded
/// ([`SqliteStore::record_together`]).
const BATCHES_ENCODED_AHEAD: usize = 4;

/// WAL pages between automatic checkpoints (SQLite's default: 1,000, 4 MiB). A checkpoint
/// copies every page the WAL holds into the database file: random 4 KiB writes, the slowest
/// part of an ingest into a large population, where each event dirties its own index pages.
/// Over a longer WAL, a page that several batches dirtied is copied once, and neighbouring
/// pages are written together. At 262,144 pages (1 GiB), ingest into 1M customers averaged
/// 14.7k events/s over three runs against 11.9k at 16,000; the WAL file then grows to about
/// 1 GiB plus one commit under load, and recovery after a crash replays up to that much.
const WAL_CHECKPOINT_PAGES: &str = "262144";

/// Bytes of WAL file kept after a checkpoint: an idle server does not hold on to the 1 GiB a
/// busy ingest grew it to.
const WAL_KEPT_BYTES: &str = "67108864";

impl SqliteStore {
    /// [`Store::record_event_batches`]: fills `recorded` and commits what it holds. A batch that
    /// is refused writes nothing and ends the run; `Err` means nothing committed.
    async fn record_together(
        &self,
        batches: &[Vec<Event>],
        recorded: &mut BatchesRecorded,
    ) -> Result<(), StoreError> {
        // Each batch is encoded while the ones before it are recorded: this task encodes while
        // it waits for the writer thread, so the two threads work side by side. Encoding every
        // batch first left the writer idle for about a sixth of an ingest stream's group.
        let (encoded, mut to_record) = tokio::sync::mpsc::channel(BATCHES_ENCODED_AHEAD);
        let encoder = async move {
            for batch in batches {
                if encoded.send(events::encode(batch).await).await.is_err() {
                    return; // the recorder stopped at a refused batch
                }
            }
        };
        let recording = &mut *recorded;
        let mut looked_up = Vec::new();
        let looking_up = &mut looked_up;
        let recorder = async move {
            let mut conn = events::unenforced(&self.writer).await?;
            let mut tx = conn.begin_with(BEGIN_WRITE).await?;
            self.confirm_indexes(&mut tx).await?;
            for batch in batches {
                let contents = to_record.recv().await.ok_or_else(|| {
                    StoreError::Backend("the event encoder stopped early".to_owned())
                })?;
                let recorded_batch = match contents {
                    Ok(contents) => {
                        let lookups = self.lookups();
                        events::record(
                            &mut tx,
                            batch,
                            &contents,
                            self.placement,
                            lookups,
                            looking_up,
                        )
                        .await?
                    }
                    Err(error) => Err(error),
                };
                match recorded_batch {
                    Ok(outcome) => recording.outcomes.push(outcome),
                    Err(error) => {
                        recording.failure = Some(error);
                        break;
                    }
                }
            }
            // Ends the encoder, should it be waiting to hand over a batch after a refused one.
            drop(to_record);
            let committing = std::time::Instant::now();
            tx.commit().await?;
            tracing::debug!(
                batches = recording.outcomes.len(),
                commit_ms = committing.elapsed().as_millis() as u64,
                "event batches committed"
            );
            Ok::<_, StoreError>(())
        };
        let ((), committed) = futures::join!(encoder, recorder);
        committed?;
        self.known.note_customers(looked_up.into_iter());
        Ok(())
    }

    /// Checks inside a write transaction that the known keys and the pending index still
    /// hold: if another connection wrote, the index is rebuilt now and the keys later.
    async fn confirm_indexes(&self, tx: &mut SqliteConnection) -> Result<(), StoreError> {
        let now = self.known.current_baseline(tx).await?;
        if self.known.confirm(now) {
            self.known
                .rebuild_after_foreign_write(self.writer.clone(), self.reader.clone());
        }
        self.pending.sync(tx, now).await
    }

    fn lookups(&self) -> Lookups<'_> {
        Lookups {
            known: &self.known,
            pending: &self.pending,
        }
    }

    /// Learns the stored keys now ([`known`]), so that writes look up only keys that may be
    /// stored; they stay known while this store writes, and are relearned after another
    /// process writes to the file.
    pub async fn learn_keys(&self) -> Result<(), StoreError> {
        self.known.build(&self.writer, &self.reader).await
    }

    /// [`SqliteStore::learn_keys`] in the background: writes look keys up until it is done.
    pub fn learn_keys_in_background(&self) {
        self.known
            .rebuild_later(self.writer.clone(), self.reader.clone(), Duration::ZERO);
    }

    /// Whether the stored keys are known ([`SqliteStore::learn_keys`]).
    pub fn knows_keys(&self) -> bool {
        self.known.is_ready()
    }

    /// Opens (creating if missing) and migrates `sqlite://path/to/file.db` or `sqlite::memory:`.
    pub async fn connect(url: &str) -> Result<SqliteStore, StoreError> {
        let options = SqliteConnectOptions::from_str(url)?
            .create_if_missing(true)
            .foreign_keys(true)
            .busy_timeout(BUSY_TIMEOUT)
            .synchronous(SqliteSynchronous::Full);

        let known = Arc::new(KnownKeys::default());
        let pending = Arc::new(PendingIndex::default());
        if is_in_memory(url) {
            // A private in-memory database lives and dies with its connections: keep exactly
            // one open for the lifetime of the store and share it for reads and writes.
            let pool = writer_pool_options(&known)
                .min_connections(1)
                .connect_with(options)
                .await?;
            MIGRATOR.run(&pool).await?;
            return SqliteStore::serving(pool.clone(), pool, known, pending).await;
        }

        // Only the writer switches to WAL: the switch needs an exclusive lock that the busy
        // timeout cannot wait for, and the mode is persistent in the file anyway.
        let writer = writer_pool_options(&known)
            .connect_with(
                options
                    .clone()
                    .journal_mode(SqliteJournalMode::Wal)
                    .pragma("cache_size", WRITER_CACHE_PRAGMA)
                    // Statement journals (multi-row inserts inside a batch) stay in memory
                    // instead of a temporary file written for every statement.
                    .pragma("temp_store", "MEMORY")
                    .pragma("wal_autocheckpoint", WAL_CHECKPOINT_PAGES)
                    .pragma("journal_size_limit", WAL_KEPT_BYTES),
            )
            .await?;
        // What a process that ended without settling (a crash, a server stopped after an
        // ingest) left in the WAL is copied now, before anything is served: left alone, the
        // first commit's automatic checkpoint would copy it, a write that waits seconds.
        // PASSIVE waits for no other process's readers; it copies what they allow.
        sqlx::query("PRAGMA wal_checkpoint(PASSIVE)")
            .execute(&writer)
            .await?;
        MIGRATOR.run(&writer).await?;
        let reader = SqlitePoolOptions::new()
            .max_connections(READERS)
            .connect_with(options.pragma("query_only", "ON"))
            .await?;
        SqliteStore::serving(writer, reader, known, pending).await
    }

    /// The store over migrated pools, with its pending rows indexed.
    async fn serving(
        writer: SqlitePool,
        reader: SqlitePool,
        known: Arc<KnownKeys>,
        pending: Arc<PendingIndex>,
    ) -> Result<SqliteStore, StoreError> {
        {
            let mut conn = writer.acquire().await?;
            let mut tx = conn.begin().await?;
            let now = known.current_baseline(&mut tx).await?;
            pending.sync(&mut tx, now).await?;
            tx.commit().await?;
        }
        let folder = Arc::new(FoldGuard);
        journal::spawn_folder(writer.clone(), Arc::clone(&pending), &folder);
        Ok(SqliteStore {
            writer,
            reader,
            _folder: folder,
            fold_after_writes: false,
            placement: Placement::Pending,
            known,
            pending,
        })
    }

    /// The pool that writes (and migrates); one connection.
    pub fn pool(&self) -> &SqlitePool {
        &self.writer
    }

    /// The read-only pool.
    pub fn reader_pool(&self) -> &SqlitePool {
        &self.reader
    }

    /// Copies every page the WAL holds into the database file and empties the WAL. Left to
    /// the next process, a bulk load's WAL (about 1 GiB at 1M customers, see
    /// [`WAL_CHECKPOINT_PAGES`]) would be copied by the automatic checkpoint of its first
    /// commit: a write that waits seconds. Readers of other processes may hold the WAL, in
    /// which case it is copied as far as they allow and a later checkpoint does the rest.
    pub async fn checkpoint_wal(&self) -> Result<(), StoreError> {
        sqlx::query("PRAGMA wal_checkpoint(TRUNCATE)")
            .execute(&self.writer)
            .await?;
        Ok(())
    }

    /// Closes both pools, waiting for connections in use to be returned.
    pub async fn close(&self) {
        self.reader.close().await;
        self.writer.close().await;
    }

    async fn alias_owner(&self, kind: &str, value: &str) -> Result<Option<String>, StoreError> {
        let owner: Option<(String,)> =
            sqlx::query_as("SELECT customer_id FROM aliases WHERE kind = ? AND value = ?")
                .bind(kind)
                .bind(value)
                .fetch_optional(&self.reader)
                .await?;
        Ok(owner.map(|(id,)| id))
    }
}

/// The single-connection writer pool. The connection is kept for the store's lifetime: the
/// known keys are checked against its `data_version`, which a new connection would restart.
fn writer_pool_options(known: &Arc<KnownKeys>) -> SqlitePoolOptions {
    let known = Arc::clone(known);
    SqlitePoolOptions::new()
        .before_acquire(enforce_keys)
        .after_connect(move |_, _| {
            known.note_new_connection();
            Box::pin(async { Ok(()) })
        })
        .max_connections(1)
        .idle_timeout(None)
        .max_lifetime(None)
}

/// Turns foreign key enforcement back on for every user of the writer: event writes turn it
/// off for their transaction ([`events::unenforced`]), and may be cancelled before they end.
fn enforce_keys(
    conn: &mut SqliteConnection,
    _: PoolConnectionMetadata,
) -> BoxFuture<'_, Result<bool, sqlx::Error>> {
    Box::pin(async move {
        sqlx::query("PRAGMA foreign_keys = ON")
            .execute(conn)
            .await?;
        Ok(true)
    })
}

fn is_in_memory(url: &str) -> bool {
    url.contains(":memory:") || url.contains("mode=memory")
}

fn now_micros() -> i64 {
    chrono::Utc::now().timestamp_micros()
}

fn count(value: i64) -> u64 {
    u64::try_from(value).unwrap_or_default()
}

/// The statement and bound of a keyset page. Every text is `>= ''` in BINARY collation, so the
/// first page binds `''` to the `>=` variant and both shapes bind the same parameters.
fn keyset<'a>(
    after_sql: &'static str,
    first_sql: &'static str,
    after: Option<&'a str>,
) -> (&'static str, &'a str) {
    match after {
        Some(after) => (after_sql, after),
        None => (first_sql, ""),
    }
}

fn is_unique_violation(error: &sqlx::Error) -> bool {
    matches!(error, sqlx::Error::Database(db) if db.is_unique_violation())
}

#[async_trait]
impl Store for SqliteStore {
    async fn settle(&self) -> Result<(), StoreError> {
        self.fold_pending().await?;
        self.checkpoint_wal().await
    }

    async fn upsert_customer(
        &self,
        profile: &CustomerProfile,
    ) -> Result<UpsertOutcome, StoreError> {
        let mut tx = self.writer.begin_with(BEGIN_WRITE).await?;
        let outcome = upsert_in(&mut tx, profile).await?;
        tx.commit().await?;
        Ok(outcome)
    }

    async fn upsert_customers(&self, profiles: &[CustomerProfile]) -> Result<u64, StoreError> {
        // One transaction (one fsync) for a whole load instead of one per profile.
        let mut tx = self.writer.begin_with(BEGIN_WRITE).await?;
        let created = upsert_many(&mut tx, profiles).await?;
        tx.commit().await?;
        Ok(created)
    }

    async fn resolve(&self, reference: &CustomerRef) -> Result<Option<String>, StoreError> {
        match reference {
            CustomerRef::Id(id) => {
                let row: Option<(String,)> =
                    sqlx::query_as("SELECT id FROM customers WHERE id = ?")
                        .bind(id)
                        .fetch_optional(&self.reader)
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
            sqlx::query_as("SELECT profile FROM customers WHERE id = ?")
                .bind(customer_id)
                .fetch_optional(&self.reader)
                .await?;
        row.and_then(|(json,)| json)
            .map(|json| decode_profile(&json))
            .transpose()
    }

    async fn history(&self, customer_id: &str) -> Result<History, StoreError> {
        self.read_history(customer_id).await
    }

    async fn event_count(&self, customer_id: &str) -> Result<u64, StoreError> {
        self.count_events(customer_id).await
    }

    async fn delete_customer(
        &self,
        customer_id: &str,
    ) -> Result<Option<DeleteOutcome>, StoreError> {
        let mut tx = self.writer.begin_with(BEGIN_WRITE).await?;
        let exists = sqlx::query("SELECT 1 FROM customers WHERE id = ?")
            .bind(customer_id)
            .fetch_optional(&mut *tx)
            .await?
            .is_some();
        if !exists {
            return Ok(None);
        }
        // Before the delete: should it not commit, the customer is only looked up again.
        self.known.forget_customer(customer_id);
        let mut events_deleted = self.delete_pending_of(&mut tx, customer_id).await?;
        events_deleted += sqlx::query("DELETE FROM events WHERE customer_id = ?")
            .bind(customer_id)
            .execute(&mut *tx)
            .await?
            .rows_affected();
        for statement in [
            "DELETE FROM orders WHERE customer_id = ?",
            "DELETE FROM aliases WHERE customer_id = ?",
            "DELETE FROM customers WHERE id = ?",
        ] {
            sqlx::query(statement)
                .bind(customer_id)
                .execute(&mut *tx)
                .await?;
        }
        tx.commit().await?;
        Ok(Some(DeleteOutcome { events_deleted }))
    }

    async fn record_events(&self, events: &[Event]) -> Result<RecordOutcome, StoreError> {
        if events.is_empty() {
            return Ok(RecordOutcome::default());
        }
        // Encoded before the transaction begins, so that it overlaps another writer's.
        let contents = events::encode(events).await?;
        let mut conn = events::unenforced(&self.writer).await?;
        let mut tx = conn.begin_with(BEGIN_WRITE).await?;
        self.confirm_indexes(&mut tx).await?;
        let mut looked_up = Vec::new();
        let lookups = self.lookups();
        let outcome = events::record(
            &mut tx,
            events,
            &contents,
            self.placement,
            lookups,
            &mut looked_up,
        )
        .await??;
        tx.commit().await?;
        self.known.note_customers(looked_up.into_iter());
        // The fold needs the writer back.
        drop(conn);
        self.fold_if_asked().await?;
        Ok(outcome)
    }

    /// One transaction for all: a commit rewrites every page the batches
    /// dirtied, and random customers dirty about a page per event, so committing a stream's
    /// batches together writes the shared index pages once instead of once per batch.
    async fn record_event_batches(&self, batches: &[Vec<Event>]) -> BatchesRecorded {
        let mut recorded = BatchesRecorded::default();
        if let Err(error) = self.record_together(batches, &mut recorded).await {
            // Nothing was committed: the batches before the failure are not stored either.
            recorded.outcomes.clear();
            recorded.failure = Some(error);
        } else if let Err(error) = self.fold_if_asked().await {
            recorded.failure = Some(error);
        }
        recorded
    }

    async fn customer_ids(
        &self,
        after: Option<&str>,
        limit: u32,
    ) -> Result<Vec<String>, StoreError> {
        let (sql, bound) = keyset(
            "SELECT id FROM customers WHERE id > ?1 ORDER BY id LIMIT ?2",
            "SELECT id FROM customers WHERE id >= ?1 ORDER BY id LIMIT ?2",
            after,
        );
        let rows: Vec<(String,)> = sqlx::query_as(sql)
            .bind(bound)
            .bind(i64::from(limit))
            .fetch_all(&self.reader)
            .await?;
        Ok(rows.into_iter().map(|(id,)| id).collect())
    }

    async fn histories(
        &self,
        after: Option<&str>,
        limit: u32,
    ) -> Result<Vec<(String, History)>, StoreError> {
        self.read_histories(after, limit).await
    }

    async fn customer_count(&self) -> Result<u64, StoreError> {
        let (n,): (i64,) = sqlx::query_as("SELECT COUNT(*) FROM customers")
            .fetch_one(&self.reader)
            .await?;
        Ok(count(n))
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
        // `sqlite::memory:` shares one pool between both handles; it is counted twice there.
        PoolStats {
            size: self.writer.size() + self.reader.size(),
            idle: self.writer.num_idle() + self.reader.num_idle(),
        }
    }

    async fn ping(&self) -> Result<(), StoreError> {
        sqlx::query("SELECT 1").execute(&self.reader).await?;
        Ok(())
    }
}

#[cfg(test)]
mod tests;
