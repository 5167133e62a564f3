//! Recording a batch of events inside one write transaction, and decoding stored events.

use std::collections::HashSet;

use sqlx::SqliteConnection;

use super::now_micros;
use crate::domain::history::{Event, EventPayload, Order, Refund};
use crate::domain::time::Timestamp;
use crate::domain::validate::FieldViolation;
use crate::store::{RecordOutcome, StoreError};

/// Applies `events` in order on a connection inside a write transaction. On `Err` the caller
/// must roll back: earlier events of the batch may already be written.
pub(super) async fn record(
    conn: &mut SqliteConnection,
    events: &[Event],
) -> Result<RecordOutcome, StoreError> {
    let now = now_micros();
    let mut outcome = RecordOutcome::default();
    let mut known_customers: HashSet<&str> = HashSet::new();
    for (index, event) in events.iter().enumerate() {
        let content = event.content_fingerprint();
        if content.is_empty() {
            return Err(StoreError::Backend(format!(
                "events[{index}] cannot be encoded"
            )));
        }
        // The customer row must exist before its events (foreign key); once per batch.
        if known_customers.insert(event.customer_id.as_str()) {
            sqlx::query(
                "INSERT INTO customers (id, profile, created_at, updated_at) \
                 VALUES (?1, NULL, ?2, ?2) ON CONFLICT (id) DO NOTHING",
            )
            .bind(&event.customer_id)
            .bind(now)
            .execute(&mut *conn)
            .await?;
        }

        // Insert first and look at the stored content only on a conflict: one statement for
        // the common case of a new event. Earlier events of this batch are already inserted,
        // so a repeat inside the batch is caught here as well.
        let inserted = sqlx::query(
            "INSERT INTO events (event_id, customer_id, at, content) VALUES (?, ?, ?, ?) \
             ON CONFLICT (event_id) DO NOTHING",
        )
        .bind(&event.event_id)
        .bind(&event.customer_id)
        .bind(event.at.micros())
        .bind(&content)
        .execute(&mut *conn)
        .await?
        .rows_affected();
        if inserted == 0 {
            let stored: Option<(String,)> =
                sqlx::query_as("SELECT content FROM events WHERE event_id = ?")
                    .bind(&event.event_id)
                    .fetch_optional(&mut *conn)
                    .await?;
            if stored.is_some_and(|(stored,)| stored == content) {
                outcome.duplicates += 1;
                continue;
            }
            return Err(reused(index, event));
        }

        match &event.payload {
            EventPayload::Order(order) => insert_order(conn, index, event, order).await?,
            EventPayload::Refund(refund) => apply_refund(conn, index, event, refund).await?,
            _ => {}
        }
        outcome.stored += 1;
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
    conn: &mut SqliteConnection,
    index: usize,
    event: &Event,
    order: &Order,
) -> Result<(), StoreError> {
    let inserted = sqlx::query(
        "INSERT INTO orders (customer_id, order_id, event_id, at, amount, refunded) \
         VALUES (?, ?, ?, ?, ?, 0) ON CONFLICT (customer_id, order_id) DO NOTHING",
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
        });
    }
    Ok(())
}

async fn apply_refund(
    conn: &mut SqliteConnection,
    index: usize,
    event: &Event,
    refund: &Refund,
) -> Result<(), StoreError> {
    let order: Option<(i64, i64, i64)> = sqlx::query_as(
        "SELECT at, amount, refunded FROM orders WHERE customer_id = ? AND order_id = ?",
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
        });
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
        return Err(StoreError::Invalid(violations));
    }

    sqlx::query("UPDATE orders SET refunded = refunded + ? WHERE customer_id = ? AND order_id = ?")
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
