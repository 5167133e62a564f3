//! What the writer knows about the stored keys without asking the database: which event ids
//! and order keys are certainly not stored (Bloom filters), and which customers certainly are
//! (a set of their ids' 128-bit digests).
//!
//! Deciding a batch looks up each of its order keys, event ids and customers. In tables of
//! millions of rows those lookups are B-tree descents to pages mostly outside the cache, and
//! they were half of what the writer thread did during a large ingest, although new keys are
//! what writers send. With this knowledge a batch asks the database only about the keys it
//! may hold, and about customers it has not seen yet.
//!
//! The knowledge is built from one read snapshot ([`KnownKeys::build`]) and then kept in
//! step by this store's own writes. Writes by another process on the same file (an importer,
//! a second server) would make it wrong, so every write transaction first compares SQLite's
//! `data_version` of the writer connection with the one at the build: when another
//! connection committed meanwhile, the knowledge is dropped and later rebuilt.
//!
//! Mistakes are one-sided by construction: a key is added to a filter before its write
//! commits (an uncommitted one only costs a lookup), a customer joins the set only after a
//! commit shows it exists, and leaves it before it is deleted.

mod bloom;
mod scan;

use std::collections::HashSet;
use std::hash::{BuildHasher, Hash, Hasher, RandomState};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::{Duration, Instant};

use sqlx::{SqliteConnection, SqlitePool};

use bloom::GrowingBloom;
use scan::{KeyScan, PAGE_KEYS};

use crate::store::ledger::OrderKey;
use crate::store::StoreError;

/// How long after another process's write the knowledge is rebuilt: a process that writes
/// often would otherwise keep this one reading the whole database.
const REBUILD_AFTER_FOREIGN_WRITE: Duration = Duration::from_secs(30);

/// Keys planned for beyond those stored when the knowledge is built.
const HEADROOM_KEYS: usize = 1 << 20;

/// Which writes of other connections the writer connection has seen: its number in the
/// writer pool and its `data_version`, which another connection's commit changes and its own
/// do not. What this store knows of the file (these keys, the pending index) holds as long as
/// the baseline it was built at does.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) struct Baseline {
    connection: u64,
    data_version: i64,
}

impl Baseline {
    pub fn same_connection(&self, other: &Baseline) -> bool {
        self.connection == other.connection
    }
}

#[derive(Default)]
pub(super) struct KnownKeys {
    state: Mutex<State>,
    /// Counts the writer pool's connections: `data_version` compares only within one.
    connections: AtomicU64,
    /// Builds started, so that a build that was overtaken drops its result.
    builds: AtomicU64,
    customer_digest: DigestKeys,
}

#[derive(Default)]
enum State {
    /// Every key is looked up in the database.
    #[default]
    Unknown,
    /// A build reads the database; this store's writes meanwhile are noted for it.
    Building {
        build: u64,
        baseline: Baseline,
        noted: Noted,
    },
    Ready {
        baseline: Baseline,
        keys: Keys,
    },
}

struct Keys {
    events: GrowingBloom,
    orders: GrowingBloom,
    customers: DigestSet,
}

struct KeysSize {
    customers: usize,
    filter_bytes: usize,
}

/// This store's writes while a build reads: applied to its result in order.
#[derive(Default)]
struct Noted {
    events: Vec<u64>,
    orders: Vec<u64>,
    /// A customer that exists (`true`) or is about to be deleted (`false`).
    customers: Vec<(u128, bool)>,
}

/// Two independently keyed hashes of a customer id: distinct ids share a digest with odds of
/// about 2^-128 per pair, far below any hardware fault.
#[derive(Default)]
struct DigestKeys(RandomState, RandomState);

impl DigestKeys {
    fn digest(&self, id: &str) -> u128 {
        (u128::from(self.0.hash_one(id)) << 64) | u128::from(self.1.hash_one(id))
    }
}

/// The filters' hash: fixed keys, as the filters only live in this process, and a fast one,
/// as a key it confuses with another costs only a lookup (SipHash was 2 % of an ingest).
fn key_hash(key: impl Hash) -> u64 {
    foldhash::fast::FixedState::default().hash_one(key)
}

/// Hashes a customer digest in a set by its low half: the digest is a keyed hash already, so
/// hashing it again only cost time.
#[derive(Default, Clone, Copy)]
struct DigestAsHash;

impl BuildHasher for DigestAsHash {
    type Hasher = DigestHasher;

    fn build_hasher(&self) -> DigestHasher {
        DigestHasher(0)
    }
}

struct DigestHasher(u64);

impl Hasher for DigestHasher {
    fn finish(&self) -> u64 {
        self.0
    }

    fn write_u128(&mut self, digest: u128) {
        self.0 = digest as u64;
    }

    /// Not reached by `u128` keys; mixes the bytes in should anything else be hashed.
    fn write(&mut self, bytes: &[u8]) {
        for &byte in bytes {
            self.0 = self.0.rotate_left(8) ^ u64::from(byte);
        }
    }
}

type DigestSet = HashSet<u128, DigestAsHash>;

fn order_hash((customer, order): &OrderKey<'_>) -> u64 {
    key_hash((customer, order))
}

impl std::fmt::Debug for KnownKeys {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let state = match &*self.state() {
            State::Unknown => "unknown",
            State::Building { .. } => "building",
            State::Ready { .. } => "ready",
        };
        f.debug_struct("KnownKeys").field("state", &state).finish()
    }
}

impl KnownKeys {
    fn state(&self) -> MutexGuard<'_, State> {
        // A panic while holding the lock leaves plain data behind; it stays usable.
        self.state
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    /// To be called by every new writer connection.
    pub fn note_new_connection(&self) {
        self.connections.fetch_add(1, Ordering::AcqRel);
    }

    pub fn is_ready(&self) -> bool {
        matches!(*self.state(), State::Ready { .. })
    }

    /// Checks, inside a write transaction whose baseline is `now`, that no other connection
    /// wrote since the build; if one did, forgets everything and returns true: the caller
    /// should schedule a rebuild ([`KnownKeys::rebuild_later`]).
    pub fn confirm(&self, now: Baseline) -> bool {
        let Some(expected) = self.baseline() else {
            return false;
        };
        if now == expected {
            return false;
        }
        let mut state = self.state();
        if matches!(&*state, State::Building { baseline, .. } | State::Ready { baseline, .. } if *baseline == expected)
        {
            *state = State::Unknown;
            tracing::info!(
                "another connection wrote to the database: stored keys will be relearned"
            );
            return true;
        }
        false
    }

    fn baseline(&self) -> Option<Baseline> {
        match &*self.state() {
            State::Unknown => None,
            State::Building { baseline, .. } | State::Ready { baseline, .. } => Some(*baseline),
        }
    }

    /// The writer connection's baseline now.
    pub async fn current_baseline(
        &self,
        conn: &mut SqliteConnection,
    ) -> Result<Baseline, StoreError> {
        let (data_version,): (i64,) = sqlx::query_as("PRAGMA data_version")
            .fetch_one(conn)
            .await?;
        Ok(Baseline {
            connection: self.connections.load(Ordering::Acquire),
            data_version,
        })
    }

    /// The event ids that may be stored (all of them unless the knowledge is ready).
    pub fn event_ids_maybe_stored<'e>(&self, ids: &[&'e str]) -> Vec<&'e str> {
        match &*self.state() {
            State::Ready { keys, .. } => ids
                .iter()
                .copied()
                .filter(|id| keys.events.may_hold(key_hash(id)))
                .collect(),
            _ => ids.to_vec(),
        }
    }

    /// The order keys that may be stored (all of them unless the knowledge is ready).
    pub fn orders_maybe_stored<'e>(&self, keys: &[OrderKey<'e>]) -> Vec<OrderKey<'e>> {
        match &*self.state() {
            State::Ready { keys: known, .. } => keys
                .iter()
                .copied()
                .filter(|key| known.orders.may_hold(order_hash(key)))
                .collect(),
            _ => keys.to_vec(),
        }
    }

    /// The customers not known to be stored.
    pub fn customers_not_known<'c>(&self, ids: &[&'c str]) -> Vec<&'c str> {
        match &*self.state() {
            State::Ready { keys, .. } => ids
                .iter()
                .copied()
                .filter(|id| !keys.customers.contains(&self.customer_digest.digest(id)))
                .collect(),
            _ => ids.to_vec(),
        }
    }

    /// Event ids and order keys about to be written.
    pub fn note_written<'e>(
        &self,
        event_ids: impl Iterator<Item = &'e str>,
        orders: impl Iterator<Item = OrderKey<'e>>,
    ) {
        match &mut *self.state() {
            State::Unknown => {}
            State::Building { noted, .. } => {
                noted.events.extend(event_ids.map(key_hash));
                noted.orders.extend(orders.map(|key| order_hash(&key)));
            }
            State::Ready { keys, .. } => {
                event_ids.for_each(|id| keys.events.add(key_hash(id)));
                orders.for_each(|key| keys.orders.add(order_hash(&key)));
            }
        }
    }

    /// Customers that a committed write showed to be stored.
    pub fn note_customers<'c>(&self, ids: impl Iterator<Item = &'c str>) {
        let digests = ids.map(|id| self.customer_digest.digest(id));
        match &mut *self.state() {
            State::Unknown => {}
            State::Building { noted, .. } => {
                noted.customers.extend(digests.map(|digest| (digest, true)));
            }
            State::Ready { keys, .. } => keys.customers.extend(digests),
        }
    }

    /// A customer about to be deleted: from now on it is looked up again.
    pub fn forget_customer(&self, id: &str) {
        let digest = self.customer_digest.digest(id);
        match &mut *self.state() {
            State::Unknown => {}
            State::Building { noted, .. } => noted.customers.push((digest, false)),
            State::Ready { keys, .. } => {
                keys.customers.remove(&digest);
            }
        }
    }

    /// Learns the stored keys from one read snapshot. `writer` is the single-connection pool
    /// this store writes through; `reader` may be the same pool.
    pub async fn build(&self, writer: &SqlitePool, reader: &SqlitePool) -> Result<(), StoreError> {
        let started = Instant::now();
        let build = self.builds.fetch_add(1, Ordering::AcqRel) + 1;
        {
            // Holding the writer connection, so that no write falls between the baseline and
            // the start of the noting.
            let mut conn = writer.acquire().await?;
            let baseline = self.current_baseline(&mut conn).await?;
            *self.state() = State::Building {
                build,
                baseline,
                noted: Noted::default(),
            };
        }
        // Every commit before this snapshot is in it, and every write of this store after the
        // baseline is noted: together they hold every key.
        let read = self.read_keys(reader).await;
        let installed = self.install(build, read)?;
        if let Some(keys) = installed {
            tracing::info!(
                customers = keys.customers,
                filter_bytes = keys.filter_bytes,
                seconds = started.elapsed().as_secs_f64(),
                "learned the stored keys"
            );
        }
        Ok(())
    }

    /// Completes build `build` with the keys it read and what was noted meanwhile, unless
    /// another build or a foreign write overtook it. Returns the sizes of what it installed.
    fn install(
        &self,
        build: u64,
        read: Result<Keys, StoreError>,
    ) -> Result<Option<KeysSize>, StoreError> {
        let mut state = self.state();
        let State::Building {
            build: current,
            baseline,
            noted,
        } = &mut *state
        else {
            return Ok(None);
        };
        if *current != build {
            return Ok(None);
        }
        let mut keys = match read {
            Ok(keys) => keys,
            Err(error) => {
                *state = State::Unknown;
                return Err(error);
            }
        };
        let noted = std::mem::take(noted);
        noted.events.into_iter().for_each(|h| keys.events.add(h));
        noted.orders.into_iter().for_each(|h| keys.orders.add(h));
        for (digest, stored) in noted.customers {
            if stored {
                keys.customers.insert(digest);
            } else {
                keys.customers.remove(&digest);
            }
        }
        let size = KeysSize {
            customers: keys.customers.len(),
            filter_bytes: keys.events.bytes() + keys.orders.bytes(),
        };
        *state = State::Ready {
            baseline: *baseline,
            keys,
        };
        Ok(Some(size))
    }

    async fn read_keys(&self, reader: &SqlitePool) -> Result<Keys, StoreError> {
        let mut tx = reader.begin().await?;
        // The newest rowid bounds the events.
        let (newest, pending): (Option<i64>, i64) = sqlx::query_as(
            "SELECT (SELECT max(rowid) FROM events), (SELECT count(*) FROM pending_events)",
        )
        .fetch_one(&mut *tx)
        .await?;
        let stored = usize::try_from(newest.unwrap_or(0) + pending).unwrap_or(0);
        // Orders are about half the events in the histories seen so far; a filter outgrowing
        // its plan grows a layer.
        let mut keys = Keys {
            events: GrowingBloom::planned_for(stored + stored / 2 + HEADROOM_KEYS),
            orders: GrowingBloom::planned_for(stored * 3 / 4 + HEADROOM_KEYS),
            customers: DigestSet::default(),
        };
        // The pending tables have no index but their seq, which leads their keys.
        let event_ids = [("events", "event_id"), ("pending_events", "seq, event_id")];
        for (from, columns) in event_ids {
            let columns: Vec<&str> = columns.split(", ").collect();
            KeyScan::new(from, &columns)
                .run(&mut tx, PAGE_KEYS, |key| {
                    if let Some(id) = key.last() {
                        keys.events.add(key_hash(id));
                    }
                })
                .await?;
        }
        let order_keys = [
            ("orders", "customer_id, order_id"),
            ("pending_orders", "seq, customer_id, order_id"),
        ];
        for (from, columns) in order_keys {
            let columns: Vec<&str> = columns.split(", ").collect();
            KeyScan::new(from, &columns)
                .run(&mut tx, PAGE_KEYS, |key| {
                    if let [.., customer, order] = key {
                        keys.orders.add(order_hash(&(*customer, *order)));
                    }
                })
                .await?;
        }
        let digests = &self.customer_digest;
        KeyScan::new("customers INDEXED BY customers_by_id", &["id"])
            .run(&mut tx, PAGE_KEYS, |key| {
                keys.customers.insert(digests.digest(key[0]));
            })
            .await?;
        tx.commit().await?;
        Ok(keys)
    }

    /// Builds in the background, after `delay`, unless the store is gone by then.
    pub fn rebuild_later(
        self: &Arc<Self>,
        writer: SqlitePool,
        reader: SqlitePool,
        delay: Duration,
    ) {
        let known = Arc::downgrade(self);
        tokio::spawn(async move {
            tokio::time::sleep(delay).await;
            let Some(known) = known.upgrade() else {
                return;
            };
            if writer.is_closed() {
                return;
            }
            if let Err(error) = known.build(&writer, &reader).await {
                tracing::warn!(%error, "learning the stored keys failed; looking them up instead");
            }
        });
    }

    pub fn rebuild_after_foreign_write(self: &Arc<Self>, writer: SqlitePool, reader: SqlitePool) {
        self.rebuild_later(writer, reader, REBUILD_AFTER_FOREIGN_WRITE);
    }
}

#[cfg(test)]
mod tests;
