//! The pending tables: where recorded events and orders wait before they join the large
//! tables, and the fold that moves them there.
//!
//! Each event that a commit inserts into a large table dirties a page of every index of it
//! that is keyed by something random (event id, customer): at 12 million events that is
//! about 12 KB written per event, whatever the batch size, and the WAL checkpoint writes those
//! pages again at random places in the file. The pending tables are only appended to, in
//! recording order, and their rows are found through this process's index of them
//! ([`super::pending`]), so a commit writes the pages it appended and little else. The fold
//! then moves many rows at once and in key order, so neighbouring rows share the pages they
//! dirty. This is how log-structured stores defer index work; readers take the union of both
//! places ([`super::histories`]), so a fold changes no answer.
//!
//! The fold runs in the background: when the writer has been idle for [`IDLE_BEFORE_FOLD`],
//! or, under sustained writes, when the pending tables hold [`FOLD_AT_EVENTS`] events, so
//! that the index of them in memory stays bounded. It moves at most [`FOLD_STEP_ROWS`] rows
//! of each table per transaction, so a writer waits at most one step.

use std::sync::{Arc, Weak};
use std::time::Duration;

use sqlx::{Connection, SqliteConnection, SqlitePool};

use super::events::{self, Placement};
use super::pending::PendingIndex;
use super::{SqliteStore, BEGIN_WRITE};
use crate::store::StoreError;

/// Idle time of the writer after which the pending rows are folded.
const IDLE_BEFORE_FOLD: Duration = Duration::from_secs(1);

/// Pending events at which the fold runs even while writes go on.
const FOLD_AT_EVENTS: i64 = 2_000_000;

/// Rows of each pending table moved by one fold transaction.
const FOLD_STEP_ROWS: i64 = 500_000;

/// How many rows one fold step moved.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Folded {
    pub events: u64,
    pub orders: u64,
}

impl SqliteStore {
    /// This store, writing new events straight into the large tables: for bulk loaders
    /// ([`Placement::Direct`]).
    pub fn writing_directly(self) -> SqliteStore {
        SqliteStore {
            placement: Placement::Direct,
            ..self
        }
    }

    /// This store, folding all that is pending after every event write.
    pub fn folding_after_writes(self) -> SqliteStore {
        SqliteStore {
            fold_after_writes: true,
            ..self
        }
    }

    pub(super) async fn fold_if_asked(&self) -> Result<(), StoreError> {
        if self.fold_after_writes {
            self.fold_pending().await?;
        }
        Ok(())
    }

    /// Moves every pending event and order into the large tables now, instead of when the
    /// background fold gets to them.
    pub async fn fold_pending(&self) -> Result<Folded, StoreError> {
        fold_all(&self.writer, &self.pending).await
    }
}

/// Moves up to `limit` of the oldest pending events and orders into the large tables in one
/// write transaction.
pub(super) async fn fold_step(
    pool: &SqlitePool,
    pending: &PendingIndex,
    limit: i64,
) -> Result<Folded, StoreError> {
    // Every pending row names a stored customer (deleting it deletes them), so the moved
    // rows need no key checks.
    let mut conn = events::unenforced(pool).await?;
    let mut tx = conn.begin_with(BEGIN_WRITE).await?;
    let (folded, last_event, last_order) = fold_in(&mut tx, limit).await?;
    tx.commit().await?;
    // While this task still holds the writer: once the tables are empty, the next write
    // gives seqs from 1 again, which must not meet the moved rows' entries.
    pending.note_folded(last_event, last_order);
    drop(conn);
    Ok(folded)
}

/// One pending table's fold: the SQL that finds the last of the oldest rows, ranks them in
/// the large table's key order, copies them in that order and deletes them.
pub(super) struct PendingTable {
    last: &'static str,
    rank: &'static str,
    pub(super) copy: &'static str,
    delete: &'static str,
}

/// Events move in customer order, so that consecutive inserts share index pages. Within a
/// customer, (at, seq) order gives rowids that keep the recording order of equal instants,
/// which is all `events.rowid` orders.
pub(super) const PENDING_EVENTS: PendingTable = PendingTable {
    last: "SELECT max(seq) FROM (SELECT seq FROM pending_events ORDER BY seq LIMIT ?)",
    rank: "INSERT INTO temp.fold_order (seq) \
           SELECT seq FROM pending_events WHERE seq <= ? ORDER BY customer_id, at, seq",
    copy: "INSERT OR ROLLBACK INTO events (event_id, customer_id, at, content) \
           SELECT p.event_id, p.customer_id, p.at, p.content \
           FROM temp.fold_order AS o JOIN pending_events AS p ON p.seq = o.seq \
           ORDER BY o.rank",
    delete: "DELETE FROM pending_events WHERE seq <= ?",
};

pub(super) const PENDING_ORDERS: PendingTable = PendingTable {
    last: "SELECT max(seq) FROM (SELECT seq FROM pending_orders ORDER BY seq LIMIT ?)",
    rank: "INSERT INTO temp.fold_order (seq) \
           SELECT seq FROM pending_orders WHERE seq <= ? ORDER BY customer_id, order_id",
    copy: "INSERT OR ROLLBACK INTO orders \
           (customer_id, order_id, event_id, at, amount, refunded) \
           SELECT p.customer_id, p.order_id, p.event_id, p.at, p.amount, p.refunded \
           FROM temp.fold_order AS o JOIN pending_orders AS p ON p.seq = o.seq \
           ORDER BY o.rank",
    delete: "DELETE FROM pending_orders WHERE seq <= ?",
};

/// The step's rows in the order they are copied: its row id is the rank. Sorting only the
/// keys and seqs, instead of whole rows with their content, is what bounds a step's memory:
/// the sorter holds what it sorts, in memory (temp_store), and sorting a step's 500,000 whole
/// events raised the server's resident set by about 160 MB, its peak at 1M customers.
pub(super) const FOLD_ORDER_TABLE: &str =
    "CREATE TEMP TABLE IF NOT EXISTS fold_order (rank INTEGER PRIMARY KEY, seq INTEGER NOT NULL)";

/// The copies are `OR ROLLBACK`: a conflict (which recording rules out) fails the whole
/// transaction, so SQLite keeps no statement journal, which would hold in memory (temp_store)
/// the old content of every page a step touches: 300 MB for a step of 500,000 events.
/// Returns what moved, and the last event and order seq moved.
async fn fold_in(
    conn: &mut SqliteConnection,
    limit: i64,
) -> Result<(Folded, Option<i64>, Option<i64>), StoreError> {
    sqlx::query(FOLD_ORDER_TABLE).execute(&mut *conn).await?;
    let (events, last_event) = move_oldest(conn, limit, &PENDING_EVENTS).await?;
    let (orders, last_order) = move_oldest(conn, limit, &PENDING_ORDERS).await?;
    Ok((Folded { events, orders }, last_event, last_order))
}

/// Copies the `limit` oldest rows of a pending table into its large table in key order, then
/// deletes them; returns how many moved and the last one's seq.
async fn move_oldest(
    conn: &mut SqliteConnection,
    limit: i64,
    table: &PendingTable,
) -> Result<(u64, Option<i64>), StoreError> {
    let (last,): (Option<i64>,) = sqlx::query_as(table.last)
        .bind(limit)
        .fetch_one(&mut *conn)
        .await?;
    let Some(last) = last else {
        return Ok((0, None));
    };
    sqlx::query(table.rank)
        .bind(last)
        .execute(&mut *conn)
        .await?;
    let moved = sqlx::query(table.copy)
        .execute(&mut *conn)
        .await?
        .rows_affected();
    sqlx::query("DELETE FROM temp.fold_order")
        .execute(&mut *conn)
        .await?;
    sqlx::query(table.delete).bind(last).execute(conn).await?;
    Ok((moved, Some(last)))
}

/// Folds every pending row, step by step.
pub(super) async fn fold_all(
    pool: &SqlitePool,
    pending: &PendingIndex,
) -> Result<Folded, StoreError> {
    let mut total = Folded::default();
    loop {
        let step = fold_step(pool, pending, FOLD_STEP_ROWS).await?;
        if step == Folded::default() {
            return Ok(total);
        }
        total.events += step.events;
        total.orders += step.orders;
    }
}

/// An upper bound of the pending events and the newest seq (0 when none are pending): seqs
/// increase, and taken-back batches leave gaps.
async fn pending_span(pool: &SqlitePool) -> Result<(i64, i64), StoreError> {
    let (first, last): (Option<i64>, Option<i64>) =
        sqlx::query_as("SELECT min(seq), max(seq) FROM pending_events")
            .fetch_one(pool)
            .await?;
    Ok(match (first, last) {
        (Some(first), Some(last)) => (last - first + 1, last),
        _ => (0, 0),
    })
}

async fn orders_pending(pool: &SqlitePool) -> Result<bool, StoreError> {
    let row: Option<(i64,)> = sqlx::query_as("SELECT 1 FROM pending_orders LIMIT 1")
        .fetch_optional(pool)
        .await?;
    Ok(row.is_some())
}

/// Keeps the background fold running while the store is alive: dropping the last clone of
/// the store drops this, and the task ends at its next look.
#[derive(Debug)]
pub(super) struct FoldGuard;

/// Starts the background fold of the store that owns `guard`.
pub(super) fn spawn_folder(pool: SqlitePool, pending: Arc<PendingIndex>, guard: &Arc<FoldGuard>) {
    let alive: Weak<FoldGuard> = Arc::downgrade(guard);
    tokio::spawn(async move {
        let mut seen_last = 0;
        let mut folded = false;
        loop {
            // Straight on after a step: a look that finds no new events goes on folding.
            if !folded {
                tokio::time::sleep(IDLE_BEFORE_FOLD).await;
            }
            if alive.strong_count() == 0 || pool.is_closed() {
                return;
            }
            folded = fold_when_due(&pool, &pending, &mut seen_last)
                .await
                .unwrap_or_else(|error| {
                    tracing::warn!(%error, "folding the pending events failed; will retry");
                    false
                });
        }
    });
}

/// One look: folds a step when the pending events are many, or when none arrived since the
/// last look (`seen_last`: the newest seq then) and some wait. Returns whether it folded.
async fn fold_when_due(
    pool: &SqlitePool,
    index: &PendingIndex,
    seen_last: &mut i64,
) -> Result<bool, StoreError> {
    let (pending, last) = pending_span(pool).await?;
    let idle = last == *seen_last;
    *seen_last = last;
    let due = pending >= FOLD_AT_EVENTS
        || (idle && pending > 0)
        || (idle && orders_pending(pool).await?);
    if due {
        let folded = fold_step(pool, index, FOLD_STEP_ROWS).await?;
        tracing::debug!(
            events = folded.events,
            orders = folded.orders,
            "folded pending events"
        );
    }
    Ok(due)
}
