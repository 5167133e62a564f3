//! Streaming ingest: fresh ORDER and INTERACTION events for existing customers through
//! IngestEvents, each message its own durable all-or-nothing batch on the server.

use std::str::FromStr;
use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::{anyhow, bail, Context, Result};
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;
use sqlx::sqlite::{SqliteConnectOptions, SqlitePoolOptions};

use segmenter::api::pb;

use crate::rpc::{by_id, timestamp, Connection};

const MICROS_PER_DAY: i64 = 86_400_000_000;

/// Events are dated within this many days before the population's `as_of`: recent history,
/// and never in the server's future.
const RECENT_DAYS: i64 = 3;

pub struct IngestPlan {
    pub events: u64,
    /// Events per stream message.
    pub chunk: usize,
    pub as_of_micros: i64,
    pub seed: u64,
    /// Makes event and order ids unique to this run.
    pub run_tag: String,
    pub currency: String,
}

#[derive(Debug, Clone)]
pub struct IngestOutcome {
    pub stored: u64,
    pub elapsed: Duration,
    /// SQLite: how long after the summary the server's background fold took to move the
    /// pending rows into the indexed tables ([`wait_folded`]); `None` elsewhere.
    pub folded_after: Option<Duration>,
}

impl IngestOutcome {
    pub fn per_second(&self) -> f64 {
        self.stored as f64 / self.elapsed.as_secs_f64().max(1e-9)
    }

    /// Events per second from the first event to the end of the fold: the pace that
    /// sustained ingest could keep.
    pub fn per_second_folded(&self) -> Option<f64> {
        let total = self.elapsed + self.folded_after?;
        Some(self.stored as f64 / total.as_secs_f64().max(1e-9))
    }
}

/// Waits until the SQLite database at `database_url` holds no pending events or orders (the
/// server folds them in the background once ingest stops) and returns how long that took;
/// `None` for other databases.
pub async fn wait_folded(database_url: &str, timeout: Duration) -> Result<Option<Duration>> {
    if !database_url.starts_with("sqlite:") {
        return Ok(None);
    }
    let started = Instant::now();
    let options = SqliteConnectOptions::from_str(database_url)?.read_only(true);
    let pool = SqlitePoolOptions::new()
        .max_connections(1)
        .connect_with(options)
        .await?;
    loop {
        let (pending,): (i64,) = sqlx::query_as(
            "SELECT (SELECT count(*) FROM pending_events) + (SELECT count(*) FROM pending_orders)",
        )
        .fetch_one(&pool)
        .await
        .context("counting the pending rows")?;
        if pending == 0 {
            pool.close().await;
            return Ok(Some(started.elapsed()));
        }
        if started.elapsed() > timeout {
            bail!("{pending} rows still pending after {} s", timeout.as_secs());
        }
        tokio::time::sleep(Duration::from_millis(250)).await;
    }
}

/// Streams `plan.events` new events and waits for the server's summary, which it sends only
/// after the last chunk is committed.
pub async fn ingest(
    connection: &mut Connection,
    ids: &Arc<Vec<String>>,
    plan: IngestPlan,
    timeout: Duration,
) -> Result<IngestOutcome> {
    let chunk = plan.chunk.max(1) as u64;
    let total = plan.events;
    let mut generator = EventGenerator::new(ids.clone(), &plan);
    // Generated as the transport asks for them, so memory stays at a chunk or two.
    let requests = futures::stream::unfold(0u64, move |sent| {
        let batch = (total - sent).min(chunk);
        let message = (batch > 0).then(|| pb::IngestEventsRequest {
            events: (sent..sent + batch).map(|n| generator.event(n)).collect(),
        });
        std::future::ready(message.map(|m| (m, sent + batch)))
    });
    let started = Instant::now();
    let response = tokio::time::timeout(timeout, connection.history.ingest_events(requests))
        .await
        .map_err(|_| anyhow!("no end within {} s", timeout.as_secs()))?
        .context("IngestEvents")?
        .into_inner();
    let elapsed = started.elapsed();
    if response.stored != total {
        bail!(
            "IngestEvents stored {} of {total} events ({} duplicates)",
            response.stored,
            response.duplicates
        );
    }
    Ok(IngestOutcome {
        stored: response.stored,
        elapsed,
        folded_after: None,
    })
}

/// Alternates orders and interactions for uniformly random customers.
struct EventGenerator {
    ids: Arc<Vec<String>>,
    rng: ChaCha8Rng,
    as_of_micros: i64,
    run_tag: String,
    currency: String,
}

impl EventGenerator {
    fn new(ids: Arc<Vec<String>>, plan: &IngestPlan) -> EventGenerator {
        let mut rng = ChaCha8Rng::seed_from_u64(plan.seed);
        // A stream of its own, apart from the pickers of the latency phases.
        rng.set_stream(u64::MAX - 1);
        EventGenerator {
            ids,
            rng,
            as_of_micros: plan.as_of_micros,
            run_tag: plan.run_tag.clone(),
            currency: plan.currency.clone(),
        }
    }

    fn event(&mut self, n: u64) -> pb::Event {
        let customer = &self.ids[self.rng.gen_range(0..self.ids.len())];
        let age = self.rng.gen_range(1..RECENT_DAYS * MICROS_PER_DAY);
        let payload = if n.is_multiple_of(2) {
            pb::event::Payload::Order(pb::Order {
                order_id: format!("bench-{}-o{n}", self.run_tag),
                amount: self.rng.gen_range(1_000..50_000),
                currency: self.currency.clone(),
                cost: None,
                discount_amount: 0,
                coupon_code: String::new(),
                units: self.rng.gen_range(1..=3),
                categories: vec!["books".to_owned()],
                channel: pb::Channel::Web as i32,
                consideration_seconds: None,
            })
        } else {
            pb::event::Payload::Interaction(pb::Interaction {
                kind: pb::InteractionKind::ProductView as i32,
                channel: pb::Channel::App as i32,
            })
        };
        pb::Event {
            event_id: format!("bench-{}-e{n}", self.run_tag),
            customer: Some(by_id(customer)),
            occurred_at: Some(timestamp(self.as_of_micros - age)),
            payload: Some(payload),
        }
    }
}
