//! The order ledger a batch of events is decided against, the same on every backend: which
//! orders exist, what is left of each to refund, and what the batch changed.

use std::collections::HashMap;

use crate::domain::history::{Event, Refund};
use crate::domain::time::Timestamp;
use crate::domain::validate::FieldViolation;
use crate::store::StoreError;

/// (customer id, order id), borrowed from the batch.
pub(super) type OrderKey<'e> = (&'e str, &'e str);

/// An order of the ledger: stored already, or added by this batch.
pub(super) struct LedgerEntry {
    pub at: i64,
    pub amount: i64,
    pub refunded: i64,
    /// The index of the batch's event that adds the order; `None` for a stored order (updated
    /// when refunded).
    pub added_by: Option<usize>,
    pub changed: bool,
}

impl LedgerEntry {
    /// An order stored before the batch.
    pub fn stored(at: i64, amount: i64, refunded: i64) -> Self {
        Self {
            at,
            amount,
            refunded,
            added_by: None,
            changed: false,
        }
    }

    /// An order that the batch's event `index` adds.
    pub fn added(index: usize, at: i64, amount: i64) -> Self {
        Self {
            at,
            amount,
            refunded: 0,
            added_by: Some(index),
            changed: false,
        }
    }
}

/// Applies the refund of the batch's event `index` to its order: the order must exist, be no
/// later than the refund, and have at least the refund's amount left.
pub(super) fn apply_refund<'e>(
    ledger: &mut HashMap<OrderKey<'e>, LedgerEntry>,
    index: usize,
    event: &'e Event,
    refund: &'e Refund,
) -> Result<(), StoreError> {
    let key = (event.customer_id.as_str(), refund.order_id.as_str());
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
