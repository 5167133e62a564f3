//! Recording a batch of events inside one write transaction, and decoding stored events.
//!
//! The batch's customers and events are inserted with one statement each; the events are then
//! walked in order to sort out duplicates and conflicts and to apply orders and refunds to the
//! ledger, so the first error (by index) is the one a one-by-one recording would meet.

use std::collections::{HashMap, HashSet};

use sqlx::PgConnection;

use super::{now_micros, Failure};
use crate::domain::history::{Event, EventPayload, Order, Refund};
use crate::domain::time::Timestamp;
use crate::domain::validate::FieldViolation;
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
    let inserted: Vec<(String,)> = sqlx::query_as(
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
    let inserted: HashSet<String> = inserted.into_iter().map(|(id,)| id).collect();

    let mut stored = HashMap::new();
    if inserted.len() < events.len() {
        let others: Vec<&str> = ids
            .iter()
            .copied()
            .filter(|id| !inserted.contains(*id))
            .collect();
        let rows: Vec<(String, String)> =
            sqlx::query_as("SELECT event_id, content FROM events WHERE event_id = ANY($1)")
                .bind(&others)
                .fetch_all(&mut *conn)
                .await?;
        stored.extend(rows);
    }

    let mut outcome = RecordOutcome::default();
    // The content each event id has in this batch: the first occurrence's.
    let mut batch: HashMap<&str, &str> = HashMap::new();
    for (index, (event, content)) in events.iter().zip(&contents).enumerate() {
        let id = event.event_id.as_str();
        let earlier = match batch.get(id) {
            Some(&earlier) => Some(earlier),
            None if inserted.contains(id) => None,
            None => match stored.get(id) {
                Some(stored) => Some(stored.as_str()),
                None => return Err(Failure::Raced("an event was erased while recorded again")),
            },
        };
        batch.entry(id).or_insert(content);
        match earlier {
            Some(earlier) if earlier == content => outcome.duplicates += 1,
            Some(_) => return Err(reused(index, event).into()),
            None => {
                match &event.payload {
                    EventPayload::Order(order) => insert_order(conn, index, event, order).await?,
                    EventPayload::Refund(refund) => {
                        apply_refund(conn, index, event, refund).await?
                    }
                    _ => {}
                }
                outcome.stored += 1;
            }
        }
    }
    Ok(outcome)
}

fn reused(index: usize, event: &Event) -> StoreError {
    StoreError::EventIdReused {
        index,
        event_id: event.event_id.clone(),
    }
}

async fn insert_order(
    conn: &mut PgConnection,
    index: usize,
    event: &Event,
    order: &Order,
) -> Result<(), Failure> {
    // Waits for a concurrent insert of the same order id; taken once that commits.
    let inserted = sqlx::query(
        "INSERT INTO orders (customer_id, order_id, event_id, at, amount, refunded) \
         VALUES ($1, $2, $3, $4, $5, 0) ON CONFLICT (customer_id, order_id) DO NOTHING",
    )
    .bind(&event.customer_id)
    .bind(&order.order_id)
    .bind(&event.event_id)
    .bind(event.at.micros())
    .bind(order.amount)
    .execute(&mut *conn)
    .await?
    .rows_affected();
    if inserted == 0 {
        return Err(StoreError::OrderIdTaken {
            index,
            customer_id: event.customer_id.clone(),
            order_id: order.order_id.clone(),
        }
        .into());
    }
    Ok(())
}

async fn apply_refund(
    conn: &mut PgConnection,
    index: usize,
    event: &Event,
    refund: &Refund,
) -> Result<(), Failure> {
    // The row lock makes concurrent refunds of one order take turns: each sees what the
    // previous one left.
    let order: Option<(i64, i64, i64)> = sqlx::query_as(
        "SELECT at, amount, refunded FROM orders WHERE customer_id = $1 AND order_id = $2 \
         FOR UPDATE",
    )
    .bind(&event.customer_id)
    .bind(&refund.order_id)
    .fetch_optional(&mut *conn)
    .await?;
    let Some((order_at, amount, refunded)) = order else {
        return Err(StoreError::OrderMissing {
            index,
            customer_id: event.customer_id.clone(),
            order_id: refund.order_id.clone(),
        }
        .into());
    };

    let mut violations = Vec::new();
    if event.at.micros() < order_at {
        violations.push(FieldViolation {
            field: format!("events[{index}].occurred_at"),
            description: format!(
                "refund at {} precedes its order {} at {}",
                event.at.to_rfc3339(),
                refund.order_id,
                Timestamp::from_micros(order_at).to_rfc3339()
            ),
        });
    }
    let left = amount - refunded;
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
        return Err(StoreError::Invalid(violations).into());
    }

    sqlx::query(
        "UPDATE orders SET refunded = refunded + $1 WHERE customer_id = $2 AND order_id = $3",
    )
    .bind(refund.amount)
    .bind(&event.customer_id)
    .bind(&refund.order_id)
    .execute(&mut *conn)
    .await?;
    Ok(())
}

/// Decodes a stored `content_fingerprint()` back into the event. serde_json's
/// `float_roundtrip` feature (Cargo.toml) keeps ticket sentiments exact.
pub(super) fn decode_event(content: &str) -> Result<Event, StoreError> {
    serde_json::from_str(content)
        .map_err(|e| StoreError::Backend(format!("undecodable stored event: {e}")))
}
