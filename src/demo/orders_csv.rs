//! The demo's orders as CSV, for baselines outside the service (e.g. RFM in DuckDB over the
//! same orders): one line per ORDER event with the sum of its refunds, money in minor units,
//! instants in microseconds since the Unix epoch (UTC).

use std::fmt;
use std::fs::File;
use std::io::{self, BufWriter, Write};
use std::path::{Path, PathBuf};

use super::{DemoCustomer, DemoError};
use crate::domain::history::EventPayload;

/// The first line of the file.
pub const HEADER: &str = "customer_id,order_id,ordered_at_micros,amount,refunded_amount";

/// One order of a demo customer.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct OrderLine<'a> {
    pub customer_id: &'a str,
    pub order_id: &'a str,
    pub ordered_at_micros: i64,
    pub amount: i64,
    /// The sum of the order's refunds.
    pub refunded_amount: i64,
}

impl fmt::Display for OrderLine<'_> {
    /// Demo ids are letters, digits and dashes, so no field needs quoting.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{},{},{},{},{}",
            self.customer_id,
            self.order_id,
            self.ordered_at_micros,
            self.amount,
            self.refunded_amount
        )
    }
}

/// The orders of one customer in event order, each with its refunds summed.
pub fn order_lines(customer: &DemoCustomer) -> Vec<OrderLine<'_>> {
    let mut lines: Vec<OrderLine<'_>> = Vec::new();
    for event in &customer.events {
        match &event.payload {
            EventPayload::Order(order) => lines.push(OrderLine {
                customer_id: &event.customer_id,
                order_id: &order.order_id,
                ordered_at_micros: event.at.micros(),
                amount: order.amount,
                refunded_amount: 0,
            }),
            EventPayload::Refund(refund) => {
                // A customer has a few dozen orders at most, and a refund follows its order.
                if let Some(line) = lines.iter_mut().find(|l| l.order_id == refund.order_id) {
                    line.refunded_amount += refund.amount;
                }
            }
            _ => {}
        }
    }
    lines
}

/// Writes the order lines of `customers` (no header).
pub fn write_orders<W: Write>(out: &mut W, customers: &[DemoCustomer]) -> io::Result<()> {
    for customer in customers {
        for line in order_lines(customer) {
            writeln!(out, "{line}")?;
        }
    }
    Ok(())
}

/// An orders file being written, chunk by chunk.
pub(super) struct OrdersCsv {
    path: PathBuf,
    out: BufWriter<File>,
}

impl OrdersCsv {
    /// Creates (or truncates) the file and writes the header, so a bad path fails before the
    /// store is touched.
    pub(super) fn create(path: &Path) -> Result<Self, DemoError> {
        let failed = |source| DemoError::Csv {
            path: path.to_owned(),
            source,
        };
        let file = File::create(path).map_err(failed)?;
        let mut out = BufWriter::with_capacity(1 << 20, file);
        writeln!(out, "{HEADER}").map_err(failed)?;
        Ok(Self {
            path: path.to_owned(),
            out,
        })
    }

    pub(super) fn write(&mut self, customers: &[DemoCustomer]) -> Result<(), DemoError> {
        write_orders(&mut self.out, customers).map_err(|source| self.failed(source))
    }

    /// Flushes the buffer; an error here is the last chance to hear of a full disk.
    pub(super) fn finish(mut self) -> Result<(), DemoError> {
        self.out.flush().map_err(|source| self.failed(source))
    }

    fn failed(&self, source: io::Error) -> DemoError {
        DemoError::Csv {
            path: self.path.clone(),
            source,
        }
    }
}
