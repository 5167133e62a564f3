//! Recording a batch of events inside one write transaction, and decoding stored events.
//!
//! A batch is decided in memory first, event by event in order (so the first bad event is the
//! one reported), against what the database already holds for the batch's event ids and
//! orders; then it is written with multi-row statements. SQLite's write transaction is
//! exclusive, so nothing can change between the reads and the writes.

use std::collections::{HashMap, HashSet};

use sqlx::{QueryBuilder, Sqlite, SqliteConnection};

use super::now_micros;
use crate::domain::history::{Event, EventPayload, Refund};
use crate::domain::time::Timestamp;
use crate::domain::validate::FieldViolation;
use crate::store::{RecordOutcome, StoreError};

/// Rows per multi-row statement: far below SQLite's limit of bound parameters.
const ROWS_PER_STATEMENT: usize = 500;

/// An order of the ledger: stored already, or added by this batch.
struct LedgerEntry {
    at: i64,
    amount: i64,
    refunded: i64,
    /// Added by this batch (inserted) rather than stored (updated when refunded).
    new: bool,
    event_id: String,
    changed: bool,
}

type OrderKey = (String, String);

/// Applies `events` in order on a connection inside a write transaction. On `Err` the caller
/// must roll back.
pub(super) async fn record(
    conn: &mut SqliteConnection,
    events: &[Event],
) -> Result<RecordOutcome, StoreError> {
    let mut contents = Vec::with_capacity(events.len());
    for (index, event) in events.iter().enumerate() {
        let content = event.content_fingerprint();
        if content.is_empty() {
            return Err(StoreError::Backend(format!(
                "events[{index}] cannot be encoded"
            )));
        }
        contents.push(content);
    }
    let stored = stored_contents(conn, events).await?;
    let mut ledger = stored_orders(conn, events).await?;

    let mut outcome = RecordOutcome::default();
    let mut seen: HashMap<&str, &str> = HashMap::new();
    let mut accepted = Vec::new();
    for (index, event) in events.iter().enumerate() {
        let content = contents[index].as_str();
        let earlier = seen
            .get(event.event_id.as_str())
            .copied()
            .or_else(|| stored.get(&event.event_id).map(String::as_str));
        if let Some(earlier) = earlier {
            if earlier == content {
                outcome.duplicates += 1;
                continue;
            }
            return Err(StoreError::EventIdReused {
                index,
                event_id: event.event_id.clone(),
            });
        }
        match &event.payload {
            EventPayload::Order(order) => {
                let key = (event.customer_id.clone(), order.order_id.clone());
                if ledger.contains_key(&key) {
                    return Err(StoreError::OrderIdTaken {
                        index,
                        customer_id: event.customer_id.clone(),
                        order_id: order.order_id.clone(),
                    });
                }
                let entry = LedgerEntry {
                    at: event.at.micros(),
                    amount: order.amount,
                    refunded: 0,
                    new: true,
                    event_id: event.event_id.clone(),
                    changed: false,
                };
                ledger.insert(key, entry);
            }
            EventPayload::Refund(refund) => apply_refund(&mut ledger, index, event, refund)?,
            _ => {}
        }
        seen.insert(&event.event_id, content);
        accepted.push(index);
        outcome.stored += 1;
    }

    write_customers(conn, events, &accepted).await?;
    write_events(conn, events, &contents, &accepted).await?;
    write_ledger(conn, &ledger).await?;
    Ok(outcome)
}

fn apply_refund(
    ledger: &mut HashMap<OrderKey, LedgerEntry>,
    index: usize,
    event: &Event,
    refund: &Refund,
) -> Result<(), StoreError> {
    let key = (event.customer_id.clone(), refund.order_id.clone());
    let Some(order) = ledger.get_mut(&key) else {
        return Err(StoreError::OrderMissing {
            index,
            customer_id: event.customer_id.clone(),
            order_id: refund.order_id.clone(),
        });
    };
    let mut violations = Vec::new();
    if event.at.micros() < order.at {
        violations.push(FieldViolation {
            field: format!("events[{index}].occurred_at"),
            description: format!(
                "refund at {} precedes its order {} at {}",
                event.at.to_rfc3339(),
                refund.order_id,
                Timestamp::from_micros(order.at).to_rfc3339()
            ),
        });
    }
    let left = order.amount - order.refunded;
    if refund.amount <= 0 {
        // Validation upstream rejects this; a negative refund would otherwise grow the order.
        violations.push(FieldViolation {
            field: format!("events[{index}].refund.amount"),
            description: "must be > 0".to_owned(),
        });
    } else if refund.amount > left {
        violations.push(FieldViolation {
            field: format!("events[{index}].refund.amount"),
            description: format!(
                "refund of {} exceeds the {left} left of order {}",
                refund.amount, refund.order_id
            ),
        });
    }
    if !violations.is_empty() {
        return Err(StoreError::Invalid(violations));
    }
    order.refunded += refund.amount;
    order.changed = true;
    Ok(())
}

/// The stored content of every event id of the batch that is stored already.
async fn stored_contents(
    conn: &mut SqliteConnection,
    events: &[Event],
) -> Result<HashMap<String, String>, StoreError> {
    let ids: Vec<&str> = events
        .iter()
        .map(|e| e.event_id.as_str())
        .collect::<HashSet<_>>()
        .into_iter()
        .collect();
    let mut stored = HashMap::new();
    for chunk in ids.chunks(ROWS_PER_STATEMENT) {
        let mut query =
            QueryBuilder::<Sqlite>::new("SELECT event_id, content FROM events WHERE event_id IN (");
        let mut list = query.separated(", ");
        for id in chunk {
            list.push_bind(*id);
        }
        query.push(")");
        let rows: Vec<(String, String)> = query.build_query_as().fetch_all(&mut *conn).await?;
        stored.extend(rows);
    }
    Ok(stored)
}

/// The stored orders that the batch's orders and refunds name.
async fn stored_orders(
    conn: &mut SqliteConnection,
    events: &[Event],
) -> Result<HashMap<OrderKey, LedgerEntry>, StoreError> {
    let keys: Vec<(&str, &str)> = events
        .iter()
        .filter_map(|e| match &e.payload {
            EventPayload::Order(o) => Some((e.customer_id.as_str(), o.order_id.as_str())),
            EventPayload::Refund(r) => Some((e.customer_id.as_str(), r.order_id.as_str())),
            _ => None,
        })
        .collect::<HashSet<_>>()
        .into_iter()
        .collect();
    let mut ledger = HashMap::new();
    for chunk in keys.chunks(ROWS_PER_STATEMENT) {
        let mut query = QueryBuilder::<Sqlite>::new(
            "SELECT customer_id, order_id, event_id, at, amount, refunded FROM orders \
             WHERE (customer_id, order_id) IN (VALUES ",
        );
        let mut list = query.separated(", ");
        for (customer, order) in chunk {
            list.push("(");
            list.push_bind_unseparated(*customer);
            list.push_unseparated(", ");
            list.push_bind_unseparated(*order);
            list.push_unseparated(")");
        }
        query.push(")");
        let rows: Vec<(String, String, String, i64, i64, i64)> =
            query.build_query_as().fetch_all(&mut *conn).await?;
        for (customer, order, event_id, at, amount, refunded) in rows {
            let entry = LedgerEntry {
                at,
                amount,
                refunded,
                new: false,
                event_id,
                changed: false,
            };
            ledger.insert((customer, order), entry);
        }
    }
    Ok(ledger)
}

/// Creates the customer rows the accepted events need (foreign key), once each.
async fn write_customers(
    conn: &mut SqliteConnection,
    events: &[Event],
    accepted: &[usize],
) -> Result<(), StoreError> {
    let now = now_micros();
    let customers: Vec<&str> = accepted
        .iter()
        .map(|&i| events[i].customer_id.as_str())
        .collect::<HashSet<_>>()
        .into_iter()
        .collect();
    for chunk in customers.chunks(ROWS_PER_STATEMENT) {
        let mut query = QueryBuilder::<Sqlite>::new(
            "INSERT INTO customers (id, profile, created_at, updated_at) ",
        );
        query.push_values(chunk, |mut row, id| {
            row.push_bind(*id)
                .push("NULL")
                .push_bind(now)
                .push_bind(now);
        });
        query.push(" ON CONFLICT (id) DO NOTHING");
        query.build().execute(&mut *conn).await?;
    }
    Ok(())
}

async fn write_events(
    conn: &mut SqliteConnection,
    events: &[Event],
    contents: &[String],
    accepted: &[usize],
) -> Result<(), StoreError> {
    for chunk in accepted.chunks(ROWS_PER_STATEMENT) {
        let mut query =
            QueryBuilder::<Sqlite>::new("INSERT INTO events (event_id, customer_id, at, content) ");
        query.push_values(chunk, |mut row, &i| {
            let event = &events[i];
            row.push_bind(event.event_id.as_str())
                .push_bind(event.customer_id.as_str())
                .push_bind(event.at.micros())
                .push_bind(contents[i].as_str());
        });
        query.build().execute(&mut *conn).await?;
    }
    Ok(())
}

/// Inserts the batch's new orders (with their refunds so far) and updates refunded stored ones.
async fn write_ledger(
    conn: &mut SqliteConnection,
    ledger: &HashMap<OrderKey, LedgerEntry>,
) -> Result<(), StoreError> {
    let new: Vec<(&OrderKey, &LedgerEntry)> = ledger.iter().filter(|(_, e)| e.new).collect();
    for chunk in new.chunks(ROWS_PER_STATEMENT) {
        let mut query = QueryBuilder::<Sqlite>::new(
            "INSERT INTO orders (customer_id, order_id, event_id, at, amount, refunded) ",
        );
        query.push_values(chunk, |mut row, ((customer, order), entry)| {
            row.push_bind(customer.as_str())
                .push_bind(order.as_str())
                .push_bind(entry.event_id.as_str())
                .push_bind(entry.at)
                .push_bind(entry.amount)
                .push_bind(entry.refunded);
        });
        query.build().execute(&mut *conn).await?;
    }
    for ((customer, order), entry) in ledger.iter().filter(|(_, e)| !e.new && e.changed) {
        sqlx::query("UPDATE orders SET refunded = ? WHERE customer_id = ? AND order_id = ?")
            .bind(entry.refunded)
            .bind(customer)
            .bind(order)
            .execute(&mut *conn)
            .await?;
    }
    Ok(())
}

/// Decodes a stored `content_fingerprint()` back into the event. serde_json's
/// `float_roundtrip` feature (Cargo.toml) keeps ticket sentiments exact.
pub(super) fn decode_event(content: &str) -> Result<Event, StoreError> {
    serde_json::from_str(content)
        .map_err(|e| StoreError::Backend(format!("undecodable stored event: {e}")))
}
