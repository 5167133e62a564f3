//! Recording a batch of events inside one write transaction, and decoding stored events.
//!
//! The batch's customers, events and new orders are inserted with one statement each (arrays
//! bound as parameters), and the stored orders its refunds name are locked and read with one
//! more; the events are then walked in order to sort out duplicates and conflicts and to apply
//! refunds to the ledger, so the first error (by index) is the one a one-by-one recording would
//! meet. One last statement writes the refunded amounts. Rows are locked in key order, so
//! two batches cannot wait on each other in a circle.

use std::collections::{HashMap, HashSet};

use sqlx::PgConnection;

use super::{now_micros, Failure};
use crate::domain::history::{Event, EventPayload};
use crate::store::ledger::{apply_refund, LedgerEntry, OrderKey};
use crate::store::{RecordOutcome, StoreError};

/// Applies `events` in order inside a write transaction. On `Err` the caller must roll back:
/// parts of the batch may already be written.
pub(super) async fn record(
    conn: &mut PgConnection,
    events: &[Event],
) -> Result<RecordOutcome, Failure> {
    let now = now_micros();
    let mut contents = Vec::with_capacity(events.len());
    for (index, event) in events.iter().enumerate() {
        let content = event.content_fingerprint();
        if content.is_empty() {
            return Err(StoreError::Backend(format!("events[{index}] cannot be encoded")).into());
        }
        contents.push(content);
    }

    // Customer rows first (foreign keys), in one order for every writer: two batches creating
    // the same customers cannot wait on each other in a circle.
    let mut customers: Vec<&str> = events.iter().map(|e| e.customer_id.as_str()).collect();
    customers.sort_unstable();
    customers.dedup();
    sqlx::query(
        "INSERT INTO customers (id, profile, created_at, updated_at) \
         SELECT id, NULL, $2, $2 FROM unnest($1::text[]) AS u (id) ORDER BY id COLLATE \"C\" \
         ON CONFLICT (id) DO NOTHING",
    )
    .bind(&customers)
    .bind(now)
    .execute(&mut *conn)
    .await?;

    // Every event in batch order; an id stored already, by a concurrent writer (waited for) or
    // earlier in this batch, is skipped here and compared below.
    let ids: Vec<&str> = events.iter().map(|e| e.event_id.as_str()).collect();
    let owners: Vec<&str> = events.iter().map(|e| e.customer_id.as_str()).collect();
    let instants: Vec<i64> = events.iter().map(|e| e.at.micros()).collect();
    // Optimistically every event id is new (what writers send, but on retries): a plain insert
    // costs a third less than one with ON CONFLICT. A repeated id takes it back.
    let plain = sqlx::query(
        "INSERT INTO events (event_id, customer_id, at, content) \
         SELECT event_id, customer_id, at, content \
         FROM unnest($1::text[], $2::text[], $3::int8[], $4::text[]) WITH ORDINALITY \
         AS u (event_id, customer_id, at, content, n) ORDER BY n",
    )
    .bind(&ids)
    .bind(&owners)
    .bind(&instants)
    .bind(&contents);
    // `None`: every event was inserted.
    let mut inserted: Option<HashSet<String>> = None;
    let mut stored = HashMap::new();
    if !insert_if_new(conn, plain, "events_pkey").await? {
        let rows: Vec<(String,)> = sqlx::query_as(
            "INSERT INTO events (event_id, customer_id, at, content) \
             SELECT event_id, customer_id, at, content \
             FROM unnest($1::text[], $2::text[], $3::int8[], $4::text[]) WITH ORDINALITY \
             AS u (event_id, customer_id, at, content, n) ORDER BY n \
             ON CONFLICT (event_id) DO NOTHING RETURNING event_id",
        )
        .bind(&ids)
        .bind(&owners)
        .bind(&instants)
        .bind(&contents)
        .fetch_all(&mut *conn)
        .await?;
        let rows: HashSet<String> = rows.into_iter().map(|(id,)| id).collect();
        let others: Vec<&str> = ids
            .iter()
            .copied()
            .filter(|id| !rows.contains(*id))
            .collect();
        let found: Vec<(String, String)> =
            sqlx::query_as("SELECT event_id, content FROM events WHERE event_id = ANY($1)")
                .bind(&others)
                .fetch_all(&mut *conn)
                .await?;
        stored.extend(found);
        inserted = Some(rows);
    }
    let is_inserted = |id: &str| inserted.as_ref().is_none_or(|rows| rows.contains(id));

    // Which events this batch stores (the rest are duplicates or errors, decided below).
    let mut fresh = vec![true; events.len()];
    if inserted.is_some() {
        let mut first: HashSet<&str> = HashSet::with_capacity(events.len());
        for (index, event) in events.iter().enumerate() {
            let id = event.event_id.as_str();
            fresh[index] = first.insert(id) && is_inserted(id);
        }
    }
    let orders_added = add_orders(conn, events, &fresh).await?;
    let mut ledger = locked_orders(conn, events, &fresh, &orders_added).await?;

    let mut outcome = RecordOutcome::default();
    // The content each event id has in this batch: the first occurrence's.
    let mut batch: HashMap<&str, &str> = HashMap::new();
    for (index, (event, content)) in events.iter().zip(&contents).enumerate() {
        let id = event.event_id.as_str();
        let earlier = match batch.get(id) {
            Some(&earlier) => Some(earlier),
            None if is_inserted(id) => None,
            None => match stored.get(id) {
                Some(stored) => Some(stored.as_str()),
                None => return Err(Failure::Raced("an event was erased while recorded again")),
            },
        };
        // Only a batch with repeated or stored ids needs to remember what it has seen.
        if inserted.is_some() {
            batch.entry(id).or_insert(content);
        }
        match earlier {
            Some(earlier) if earlier == content => outcome.duplicates += 1,
            Some(_) => return Err(reused(index, event).into()),
            None => {
                match &event.payload {
                    EventPayload::Order(order) => {
                        let key = (event.customer_id.as_str(), order.order_id.as_str());
                        if orders_added.get(&key) != Some(&index) {
                            return Err(StoreError::OrderIdTaken {
                                index,
                                customer_id: event.customer_id.clone(),
                                order_id: order.order_id.clone(),
                            }
                            .into());
                        }
                        let entry = LedgerEntry::added(index, event.at.micros(), order.amount);
                        ledger.insert(key, entry);
                    }
                    EventPayload::Refund(refund) => {
                        apply_refund(&mut ledger, index, event, refund)?;
                    }
                    _ => {}
                }
                outcome.stored += 1;
            }
        }
    }
    write_refunded(conn, &ledger).await?;
    Ok(outcome)
}

fn reused(index: usize, event: &Event) -> StoreError {
    StoreError::EventIdReused {
        index,
        event_id: event.event_id.clone(),
    }
}

/// Inserts the orders of the fresh ORDER events, in key order (the batch's first of equal keys
/// wins); returns which event added each key. A key stored already, or committed meanwhile by
/// a concurrent writer (waited for), is not added: that order id is taken.
async fn add_orders<'e>(
    conn: &mut PgConnection,
    events: &'e [Event],
    fresh: &[bool],
) -> Result<HashMap<OrderKey<'e>, usize>, Failure> {
    let mut orders: Vec<(OrderKey<'e>, usize)> = events
        .iter()
        .enumerate()
        .filter(|(index, _)| fresh[*index])
        .filter_map(|(index, e)| match &e.payload {
            EventPayload::Order(o) => Some(((e.customer_id.as_str(), o.order_id.as_str()), index)),
            _ => None,
        })
        .collect();
    if orders.is_empty() {
        return Ok(HashMap::new());
    }
    orders.sort_unstable();
    let customers: Vec<&str> = orders.iter().map(|((c, _), _)| *c).collect();
    let order_ids: Vec<&str> = orders.iter().map(|((_, o), _)| *o).collect();
    let event_ids: Vec<&str> = orders
        .iter()
        .map(|(_, i)| events[*i].event_id.as_str())
        .collect();
    let instants: Vec<i64> = orders.iter().map(|(_, i)| events[*i].at.micros()).collect();
    let amounts: Vec<i64> = orders
        .iter()
        .map(|(_, i)| match &events[*i].payload {
            EventPayload::Order(o) => o.amount,
            _ => 0,
        })
        .collect();
    let plain = sqlx::query(
        "INSERT INTO orders (customer_id, order_id, event_id, at, amount, refunded) \
         SELECT customer_id, order_id, event_id, at, amount, 0 \
         FROM unnest($1::text[], $2::text[], $3::text[], $4::int8[], $5::int8[]) \
         AS u (customer_id, order_id, event_id, at, amount)",
    )
    .bind(&customers)
    .bind(&order_ids)
    .bind(&event_ids)
    .bind(&instants)
    .bind(&amounts);
    if insert_if_new(conn, plain, "orders_pkey").await? {
        return Ok(orders.into_iter().collect());
    }
    let added: Vec<(String,)> = sqlx::query_as(
        "INSERT INTO orders (customer_id, order_id, event_id, at, amount, refunded) \
         SELECT customer_id, order_id, event_id, at, amount, 0 \
         FROM unnest($1::text[], $2::text[], $3::text[], $4::int8[], $5::int8[]) WITH ORDINALITY \
         AS u (customer_id, order_id, event_id, at, amount, n) ORDER BY n \
         ON CONFLICT (customer_id, order_id) DO NOTHING RETURNING event_id",
    )
    .bind(&customers)
    .bind(&order_ids)
    .bind(&event_ids)
    .bind(&instants)
    .bind(&amounts)
    .fetch_all(&mut *conn)
    .await?;
    let added: HashSet<String> = added.into_iter().map(|(id,)| id).collect();
    Ok(orders
        .into_iter()
        .filter(|(_, index)| added.contains(&events[*index].event_id))
        .collect())
}

/// Runs an insert under a savepoint: `false`, with the insert taken back, when it would
/// repeat a key of `constraint` (stored, committed meanwhile by a concurrent writer, or twice
/// in the statement); the caller then takes the slower path that sorts such rows out.
pub(super) async fn insert_if_new(
    conn: &mut PgConnection,
    statement: sqlx::query::Query<'_, sqlx::Postgres, sqlx::postgres::PgArguments>,
    constraint: &str,
) -> Result<bool, Failure> {
    sqlx::query("SAVEPOINT insert_if_new")
        .execute(&mut *conn)
        .await?;
    match statement.execute(&mut *conn).await {
        Ok(_) => {
            sqlx::query("RELEASE SAVEPOINT insert_if_new")
                .execute(&mut *conn)
                .await?;
            Ok(true)
        }
        Err(sqlx::Error::Database(db))
            if db.is_unique_violation() && db.constraint() == Some(constraint) =>
        {
            sqlx::query("ROLLBACK TO SAVEPOINT insert_if_new")
                .execute(&mut *conn)
                .await?;
            Ok(false)
        }
        Err(error) => Err(error.into()),
    }
}

/// Locks and reads the stored orders that the fresh refunds name (not those this batch
/// added: the walk adds them at their event), in key order.
async fn locked_orders<'e>(
    conn: &mut PgConnection,
    events: &'e [Event],
    fresh: &[bool],
    added: &HashMap<OrderKey<'e>, usize>,
) -> Result<HashMap<OrderKey<'e>, LedgerEntry>, Failure> {
    let mut keys: Vec<OrderKey<'e>> = events
        .iter()
        .enumerate()
        .filter(|(index, _)| fresh[*index])
        .filter_map(|(_, e)| match &e.payload {
            EventPayload::Refund(r) => Some((e.customer_id.as_str(), r.order_id.as_str())),
            _ => None,
        })
        .filter(|key| !added.contains_key(key))
        .collect();
    keys.sort_unstable();
    keys.dedup();
    if keys.is_empty() {
        return Ok(HashMap::new());
    }
    let customers: Vec<&str> = keys.iter().map(|(c, _)| *c).collect();
    let order_ids: Vec<&str> = keys.iter().map(|(_, o)| *o).collect();
    // The row locks make concurrent refunds of one order take turns: each sees what the
    // previous one left.
    let rows: Vec<(String, String, i64, i64, i64)> = sqlx::query_as(
        "SELECT o.customer_id, o.order_id, o.at, o.amount, o.refunded \
         FROM unnest($1::text[], $2::text[]) AS k (customer_id, order_id) \
         JOIN orders o ON o.customer_id = k.customer_id AND o.order_id = k.order_id \
         ORDER BY o.customer_id, o.order_id FOR UPDATE OF o",
    )
    .bind(&customers)
    .bind(&order_ids)
    .fetch_all(&mut *conn)
    .await?;
    let mut ledger = HashMap::with_capacity(rows.len());
    for (customer, order, at, amount, refunded) in rows {
        if let Ok(found) = keys.binary_search(&(customer.as_str(), order.as_str())) {
            let entry = LedgerEntry::stored(at, amount, refunded);
            ledger.insert(keys[found], entry);
        }
    }
    Ok(ledger)
}

/// Writes the refunded amounts of the orders the batch's refunds changed (every such row is
/// locked: added or locked by this transaction).
async fn write_refunded(
    conn: &mut PgConnection,
    ledger: &HashMap<OrderKey<'_>, LedgerEntry>,
) -> Result<(), Failure> {
    let mut changed: Vec<(&OrderKey<'_>, i64)> = ledger
        .iter()
        .filter(|(_, entry)| entry.changed)
        .map(|(key, entry)| (key, entry.refunded))
        .collect();
    if changed.is_empty() {
        return Ok(());
    }
    changed.sort_unstable();
    let customers: Vec<&str> = changed.iter().map(|((c, _), _)| *c).collect();
    let order_ids: Vec<&str> = changed.iter().map(|((_, o), _)| *o).collect();
    let refunded: Vec<i64> = changed.iter().map(|(_, r)| *r).collect();
    sqlx::query(
        "UPDATE orders o SET refunded = u.refunded \
         FROM unnest($1::text[], $2::text[], $3::int8[]) AS u (customer_id, order_id, refunded) \
         WHERE o.customer_id = u.customer_id AND o.order_id = u.order_id",
    )
    .bind(&customers)
    .bind(&order_ids)
    .bind(&refunded)
    .execute(&mut *conn)
    .await?;
    Ok(())
}
