//! Writing a demo population through a [`Store`], a chunk of customers at a time.
//!
//! A blocking task generates chunks (and writes the orders CSV) while the caller's task
//! stores earlier ones: generation and storage overlap, and a bounded queue keeps a few
//! chunks in memory whatever the population's size. Chunks hold whole customers, so chunks
//! stored side by side never share a customer (a refund always follows its order).

use std::path::PathBuf;
use std::time::{Duration, Instant};

use futures::stream::{FuturesUnordered, StreamExt};
use tokio::sync::mpsc;

use super::orders_csv::OrdersCsv;
use super::{DemoConfig, Generator};
use crate::domain::history::{CustomerProfile, Event};
use crate::store::{RecordOutcome, Store, StoreError};

/// Chunks generated ahead of those being stored.
const QUEUED_CHUNKS: usize = 1;

/// How a load proceeds.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LoadOptions {
    /// Customers whose histories are generated and stored at a time: what bounds the memory
    /// of a load.
    pub chunk_customers: usize,
    /// Customers whose profiles are stored in one transaction, ahead of their histories.
    /// Aliases are keyed by scattered values (phones, e-mail addresses), so each transaction
    /// rewrites pages all over the alias index: few large ones write far less than many small
    /// ones.
    pub profile_customers: usize,
    /// Events per `record_events` call, each one transaction.
    pub batch_events: usize,
    /// Chunks stored at once. PostgreSQL writes them side by side; SQLite's single writer
    /// takes them in turn.
    pub writers: usize,
    /// Where to write the orders as CSV ([`super::orders_csv`]), if anywhere.
    pub orders_csv: Option<PathBuf>,
}

impl Default for LoadOptions {
    fn default() -> Self {
        Self {
            chunk_customers: 10_000,
            profile_customers: 100_000,
            batch_events: 50_000,
            writers: 2,
            orders_csv: None,
        }
    }
}

#[derive(Debug, thiserror::Error)]
pub enum DemoError {
    #[error(transparent)]
    Store(#[from] StoreError),
    #[error("orders CSV {}: {source}", path.display())]
    Csv {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("demo generator: {0}")]
    Generator(String),
}

/// What a load wrote.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct DemoSummary {
    pub customers: u64,
    pub profiles: u64,
    pub events_stored: u64,
    /// Events already stored with the same content: loading the same demo twice is harmless.
    pub duplicates: u64,
    pub elapsed: Duration,
}

/// Generates the population of `config` and writes it with the default [`LoadOptions`].
pub async fn load_demo<S: Store + ?Sized>(
    store: &S,
    config: &DemoConfig,
) -> Result<DemoSummary, StoreError> {
    load_demo_with(store, config, &LoadOptions::default())
        .await
        .map_err(|error| match error {
            DemoError::Store(error) => error,
            other => StoreError::Backend(other.to_string()),
        })
}

/// Generates the population of `config` and writes it: the profiles of a span of customers
/// in one transaction, then the span's events chunk by chunk in batches (each customer's
/// events in order, so refunds follow their orders).
pub async fn load_demo_with<S: Store + ?Sized>(
    store: &S,
    config: &DemoConfig,
    options: &LoadOptions,
) -> Result<DemoSummary, DemoError> {
    let started = Instant::now();
    let csv = options
        .orders_csv
        .as_deref()
        .map(OrdersCsv::create)
        .transpose()?;
    let generator = Generator::new(config);
    let sizes = (
        options.profile_customers.max(1),
        options.chunk_customers.max(1),
    );
    let (sender, receiver) = mpsc::channel(QUEUED_CHUNKS);
    let producer = tokio::task::spawn_blocking(move || produce(&generator, sizes, csv, &sender));

    let mut summary = DemoSummary::default();
    let written = store_chunks(store, receiver, options, &mut summary).await;
    // Storing failed: the producer stops at its next chunk, the queue being closed.
    let produced = producer
        .await
        .map_err(|error| DemoError::Generator(error.to_string()))?;
    written?;
    produced?;
    store.settle().await?;
    summary.elapsed = started.elapsed();
    Ok(summary)
}

/// What the producer hands over: the profiles of a span of customers, then the events of
/// each chunk of that span.
enum Chunk {
    Profiles(Vec<CustomerProfile>),
    Events { customers: u64, events: Vec<Event> },
}

/// Runs on a blocking thread: generates the spans and chunks, writes their orders to the CSV,
/// and queues them for storing.
fn produce(
    generator: &Generator,
    (profile_customers, chunk_customers): (usize, usize),
    mut csv: Option<OrdersCsv>,
    sender: &mpsc::Sender<Chunk>,
) -> Result<(), DemoError> {
    for span in (0..generator.len()).step_by(profile_customers) {
        let span_end = span.saturating_add(profile_customers).min(generator.len());
        let profiles = Chunk::Profiles(generator.profiles(span..span_end));
        if sender.blocking_send(profiles).is_err() {
            // The writer stopped; it reports why.
            return Ok(());
        }
        for start in (span..span_end).step_by(chunk_customers) {
            let end = start.saturating_add(chunk_customers).min(span_end);
            let customers = generator.range(start..end);
            if let Some(csv) = csv.as_mut() {
                csv.write(&customers)?;
            }
            let chunk = Chunk::Events {
                customers: customers.len() as u64,
                events: customers.into_iter().flat_map(|c| c.events).collect(),
            };
            if sender.blocking_send(chunk).is_err() {
                return Ok(());
            }
        }
    }
    csv.map_or(Ok(()), OrdersCsv::finish)
}

/// Stores the queued chunks, up to `options.writers` event chunks at once. A span's profiles
/// wait for the chunks before them, and the chunks after them wait for the profiles.
async fn store_chunks<S: Store + ?Sized>(
    store: &S,
    mut receiver: mpsc::Receiver<Chunk>,
    options: &LoadOptions,
    summary: &mut DemoSummary,
) -> Result<(), StoreError> {
    let batch_events = options.batch_events.max(1);
    let writers = options.writers.max(1);
    let mut in_flight = FuturesUnordered::new();
    let mut profiles: Option<Vec<CustomerProfile>> = None;
    let mut open = true;
    loop {
        if in_flight.is_empty() {
            if let Some(profiles) = profiles.take() {
                store_profiles(store, &profiles).await?;
                summary.profiles += profiles.len() as u64;
                tokio::task::spawn_blocking(move || drop(profiles));
            }
        }
        let take = open && profiles.is_none() && in_flight.len() < writers;
        tokio::select! {
            chunk = receiver.recv(), if take => match chunk {
                Some(Chunk::Profiles(span)) => profiles = Some(span),
                Some(Chunk::Events { customers, events }) => {
                    in_flight.push(store_events(store, customers, events, batch_events));
                }
                None => open = false,
            },
            Some(stored) = in_flight.next() => {
                let (customers, outcome) = stored?;
                summary.customers += customers;
                summary.events_stored += outcome.stored;
                summary.duplicates += outcome.duplicates;
            }
            else => return Ok(()),
        }
    }
}

async fn store_profiles<S: Store + ?Sized>(
    store: &S,
    profiles: &[CustomerProfile],
) -> Result<(), StoreError> {
    let started = Instant::now();
    if !profiles.is_empty() {
        store.upsert_customers(profiles).await?;
    }
    tracing::debug!(
        profiles = profiles.len(),
        elapsed_ms = started.elapsed().as_millis() as u64,
        "demo profiles stored"
    );
    Ok(())
}

/// One chunk's events in batches, in order.
async fn store_events<S: Store + ?Sized>(
    store: &S,
    customers: u64,
    events: Vec<Event>,
    batch_events: usize,
) -> Result<(u64, RecordOutcome), StoreError> {
    let started = Instant::now();
    let mut total = RecordOutcome::default();
    for batch in events.chunks(batch_events) {
        let outcome = store.record_events(batch).await?;
        total.stored += outcome.stored;
        total.duplicates += outcome.duplicates;
    }
    tracing::debug!(
        customers,
        events = events.len(),
        elapsed_ms = started.elapsed().as_millis() as u64,
        "demo events stored"
    );
    // Freeing a chunk's million small allocations is work for the other core.
    tokio::task::spawn_blocking(move || drop(events));
    Ok((customers, total))
}
