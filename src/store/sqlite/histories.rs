//! Reading customers' events from both places they may be: the large `events` table, through
//! its customer index, and the pending table, through this process's index of it
//! ([`super::pending`]). Each read is one snapshot; when a fold moved pending rows while the
//! read looked them up, it reads again.

use std::sync::LazyLock;

use sqlx::SqliteConnection;

use super::pending::{self, Pending, PendingEvent};
use super::rows::{cut, execute_all, Shapes};
use super::{keyset, SqliteStore};
use crate::domain::history::{Event, History};
use crate::store::stored::{decode_event, decode_profile, history_page};
use crate::store::StoreError;

/// Reads of one snapshot before giving up: each retry means a fold step committed during the
/// read, and a step takes seconds, so a second attempt all but always succeeds.
const READ_ATTEMPTS: usize = 8;

// Each in (customer, at, rowid) order, the order of the customer index's entries.
const FOLDED_HISTORY: &str = "SELECT customer_id, content, at FROM events \
     WHERE customer_id = ?1 ORDER BY at, rowid";
const FOLDED_HISTORIES: &str = "SELECT customer_id, content, at FROM events \
     WHERE customer_id >= ?1 AND customer_id <= ?2 ORDER BY customer_id, at, rowid";

static DELETE_PENDING: LazyLock<[Shapes; 2]> = LazyLock::new(|| {
    ["pending_events", "pending_orders"]
        .map(|table| Shapes::new(&format!("DELETE FROM {table} WHERE seq IN ("), "?", ")"))
});

/// A stored event's owner, content and instant.
type Row = (String, String, i64);

impl SqliteStore {
    /// What [`crate::store::Store::history`] answers.
    pub(super) async fn read_history(&self, customer_id: &str) -> Result<History, StoreError> {
        for _ in 0..READ_ATTEMPTS {
            let generation = self.pending.generation();
            let mut tx = self.reader.begin().await?;
            let profile: Option<(Option<String>,)> =
                sqlx::query_as("SELECT profile FROM customers WHERE id = ?")
                    .bind(customer_id)
                    .fetch_optional(&mut *tx)
                    .await?;
            let folded: Vec<Row> = sqlx::query_as(FOLDED_HISTORY)
                .bind(customer_id)
                .fetch_all(&mut *tx)
                .await?;
            let Some(pending) = self.pending_of(&mut tx, generation, &[customer_id]).await? else {
                continue;
            };
            tx.commit().await?;
            let profile = profile
                .and_then(|(json,)| json)
                .map(|json| decode_profile(&json))
                .transpose()?;
            let events = merged(folded, pending)
                .map(|(_, content)| decode_event(&content))
                .collect::<Result<Vec<Event>, StoreError>>()?;
            return Ok(History { profile, events });
        }
        Err(moving())
    }

    /// What [`crate::store::Store::event_count`] answers.
    pub(super) async fn count_events(&self, customer_id: &str) -> Result<u64, StoreError> {
        for _ in 0..READ_ATTEMPTS {
            let generation = self.pending.generation();
            let mut tx = self.reader.begin().await?;
            let (folded,): (i64,) =
                sqlx::query_as("SELECT COUNT(*) FROM events WHERE customer_id = ?")
                    .bind(customer_id)
                    .fetch_one(&mut *tx)
                    .await?;
            let Some(pending) = self.pending_of(&mut tx, generation, &[customer_id]).await? else {
                continue;
            };
            tx.commit().await?;
            return Ok(super::count(folded) + pending.len() as u64);
        }
        Err(moving())
    }

    /// What [`crate::store::Store::histories`] answers.
    pub(super) async fn read_histories(
        &self,
        after: Option<&str>,
        limit: u32,
    ) -> Result<Vec<(String, History)>, StoreError> {
        for _ in 0..READ_ATTEMPTS {
            let generation = self.pending.generation();
            let mut tx = self.reader.begin().await?;
            let (sql, bound) = keyset(
                "SELECT id, profile FROM customers WHERE id > ?1 ORDER BY id LIMIT ?2",
                "SELECT id, profile FROM customers WHERE id >= ?1 ORDER BY id LIMIT ?2",
                after,
            );
            let customers: Vec<(String, Option<String>)> = sqlx::query_as(sql)
                .bind(bound)
                .bind(i64::from(limit))
                .fetch_all(&mut *tx)
                .await?;
            let (Some((first, _)), Some((last, _))) = (customers.first(), customers.last()) else {
                return Ok(Vec::new());
            };
            // The whole page's folded events in one range scan of the customer index.
            let folded: Vec<Row> = sqlx::query_as(FOLDED_HISTORIES)
                .bind(first)
                .bind(last)
                .fetch_all(&mut *tx)
                .await?;
            let ids: Vec<&str> = customers.iter().map(|(id, _)| id.as_str()).collect();
            let Some(pending) = self.pending_of(&mut tx, generation, &ids).await? else {
                continue;
            };
            tx.commit().await?;
            // BINARY collation orders ids as Rust's `str` does.
            return history_page(customers, merged(folded, pending));
        }
        Err(moving())
    }

    /// The pending events of `customers` (sorted) in this read's snapshot, sorted by
    /// (customer, at, seq); `None` when a fold moved rows since `generation`, read before the
    /// snapshot began.
    pub(super) async fn pending_of(
        &self,
        conn: &mut SqliteConnection,
        generation: u64,
        customers: &[&str],
    ) -> Result<Option<Vec<PendingEvent>>, StoreError> {
        let (newest,): (Option<i64>,) = sqlx::query_as("SELECT max(seq) FROM pending_events")
            .fetch_one(&mut *conn)
            .await?;
        let found = self
            .pending
            .of_customers(Pending::Events, customers.iter().copied());
        if found.generation != generation {
            return Ok(None);
        }
        let mut rows = if newest.unwrap_or(0) > found.newest_event {
            // Another process wrote pending events since this one's last write.
            pending::events_of_scanned(conn, customers).await?
        } else {
            pending::events_at(conn, &found.rowids).await?
        };
        // The index finds by hash: other customers' rows are dropped here.
        rows.retain(|row| customers.binary_search(&row.customer_id.as_str()).is_ok());
        rows.sort_unstable_by(|a, b| {
            (a.customer_id.as_str(), a.at, a.seq).cmp(&(b.customer_id.as_str(), b.at, b.seq))
        });
        Ok(Some(rows))
    }

    /// Inside the write transaction that deletes `customer_id`: deletes its pending events
    /// and orders, and returns how many events that was.
    pub(super) async fn delete_pending_of(
        &self,
        conn: &mut SqliteConnection,
        customer_id: &str,
    ) -> Result<u64, StoreError> {
        let now = self.known.current_baseline(conn).await?;
        self.pending.sync(conn, now).await?;
        let of_customer = |table| {
            self.pending
                .of_customers(table, std::iter::once(customer_id))
                .rowids
        };
        let events: Vec<i64> = pending::events_at(conn, &of_customer(Pending::Events))
            .await?
            .into_iter()
            .filter(|row| row.customer_id == customer_id)
            .map(|row| row.seq)
            .collect();
        let orders: Vec<i64> = pending::orders_at(conn, &of_customer(Pending::Orders))
            .await?
            .into_iter()
            .filter(|row| row.customer_id == customer_id)
            .map(|row| row.seq)
            .collect();
        let deleted = execute_all(conn, deletions(&DELETE_PENDING[0], &events)).await?;
        execute_all(conn, deletions(&DELETE_PENDING[1], &orders)).await?;
        Ok(deleted)
    }
}

fn deletions<'q>(
    shapes: &'q Shapes,
    seqs: &'q [i64],
) -> impl Iterator<Item = super::rows::Statement<'q>> + 'q {
    cut(seqs.len()).map(move |range| {
        let mut query = sqlx::query(shapes.sql(range.len()));
        for seq in &seqs[range] {
            query = query.bind(*seq);
        }
        query
    })
}

fn moving() -> StoreError {
    StoreError::Backend(format!(
        "pending events were folded during each of {READ_ATTEMPTS} reads"
    ))
}

/// Folded and pending events, each sorted by (customer, at, recording order), as one list in
/// that order: at equal instants the folded ones first, as they were all recorded before.
fn merged(folded: Vec<Row>, pending: Vec<PendingEvent>) -> impl Iterator<Item = (String, String)> {
    let mut folded = folded.into_iter().peekable();
    let mut pending = pending.into_iter().peekable();
    std::iter::from_fn(move || {
        let folded_first = match (folded.peek(), pending.peek()) {
            (Some((customer, _, at)), Some(p)) => {
                (customer.as_str(), *at) <= (p.customer_id.as_str(), p.at)
            }
            (Some(_), None) => true,
            (None, _) => false,
        };
        if folded_first {
            folded
                .next()
                .map(|(customer, content, _)| (customer, content))
        } else {
            pending.next().map(|p| (p.customer_id, p.content))
        }
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn folded_histories_are_read_in_index_order_without_a_sort() {
        let store = SqliteStore::connect("sqlite::memory:").await.unwrap();
        for sql in [FOLDED_HISTORY, FOLDED_HISTORIES] {
            let plan: Vec<(i64, i64, i64, String)> =
                sqlx::query_as(&format!("EXPLAIN QUERY PLAN {sql}"))
                    .bind("a")
                    .bind("z")
                    .fetch_all(store.pool())
                    .await
                    .unwrap();
            let details: Vec<&str> = plan.iter().map(|row| row.3.as_str()).collect();
            assert!(
                details
                    .iter()
                    .any(|d| d.contains("USING INDEX events_by_customer")),
                "{sql}: {details:?}"
            );
            assert!(
                !details.iter().any(|d| d.contains("TEMP B-TREE")),
                "{sql}: {details:?}"
            );
        }
    }

    #[test]
    fn folded_events_come_first_at_equal_instants() {
        let folded = vec![
            ("a".to_owned(), "a1".to_owned(), 5),
            ("b".to_owned(), "b1".to_owned(), 5),
        ];
        let pending_event = |customer: &str, content: &str, at, seq| PendingEvent {
            seq,
            event_id: content.to_owned(),
            customer_id: customer.to_owned(),
            at,
            content: content.to_owned(),
        };
        let pending = vec![
            pending_event("a", "a0", 4, 9),
            pending_event("a", "a2", 5, 1),
            pending_event("b", "b2", 6, 2),
        ];
        let contents: Vec<String> = merged(folded, pending).map(|(_, c)| c).collect();
        assert_eq!(contents, ["a0", "a1", "a2", "b1", "b2"]);
    }
}
