//! Closed-loop load: each worker sends its next call as soon as the last one answered. One
//! worker gives latency with one call in flight; many workers over a few connections give
//! throughput. Customers are drawn uniformly at random from a seeded generator.

use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::{anyhow, Context, Result};
use hdrhistogram::Histogram;
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;

use segmenter::api::pb;

use crate::rpc::{CallKind, Connection};

/// Latencies in microseconds, 1 µs to 10 minutes, three significant digits.
pub fn new_histogram() -> Result<Histogram<u64>> {
    Histogram::new_with_bounds(1, 600_000_000, 3).context("histogram bounds")
}

/// What one load phase measured.
#[derive(Debug, Clone)]
pub struct Sample {
    pub histogram: Histogram<u64>,
    pub elapsed: Duration,
}

impl Sample {
    pub fn calls(&self) -> u64 {
        self.histogram.len()
    }

    /// Latency at quantile `q` (0..=1), microseconds.
    pub fn quantile_us(&self, q: f64) -> u64 {
        self.histogram.value_at_quantile(q)
    }

    pub fn max_us(&self) -> u64 {
        self.histogram.max()
    }

    /// Completed calls per second.
    pub fn per_second(&self) -> f64 {
        self.calls() as f64 / self.elapsed.as_secs_f64().max(1e-9)
    }
}

/// Uniformly random customer ids from a seeded generator: the same seed, the same sequence.
pub struct Picker {
    ids: Arc<Vec<String>>,
    rng: ChaCha8Rng,
}

impl Picker {
    /// `stream` separates the sequences of workers that share a seed.
    pub fn new(ids: Arc<Vec<String>>, seed: u64, stream: u64) -> Picker {
        let mut rng = ChaCha8Rng::seed_from_u64(seed);
        rng.set_stream(stream);
        Picker { ids, rng }
    }

    pub fn next_id(&mut self) -> &str {
        let index = self.rng.gen_range(0..self.ids.len());
        &self.ids[index]
    }
}

/// Calls made one after another, each timed.
pub async fn one_in_flight(
    connection: &mut Connection,
    kind: CallKind,
    picker: &mut Picker,
    calls: u64,
    options: &pb::ClassifyOptions,
) -> Result<Sample> {
    let mut histogram = new_histogram()?;
    let started = Instant::now();
    for _ in 0..calls {
        let customer = picker.next_id().to_owned();
        let sent = Instant::now();
        connection
            .call(kind, &customer, options)
            .await
            .map_err(|status| anyhow!("{} of {customer}: {status}", kind.name()))?;
        record(&mut histogram, sent.elapsed())?;
    }
    Ok(Sample {
        histogram,
        elapsed: started.elapsed(),
    })
}

/// How a many-in-flight phase is shaped.
pub struct Concurrency {
    pub in_flight: usize,
    pub duration: Duration,
    pub seed: u64,
}

/// `in_flight` closed-loop workers spread round-robin over `connections` for `duration`.
/// Throughput counts the calls completed until the last worker stopped.
pub async fn many_in_flight(
    connections: &[Connection],
    kind: CallKind,
    ids: &Arc<Vec<String>>,
    shape: &Concurrency,
    options: &pb::ClassifyOptions,
) -> Result<Sample> {
    if connections.is_empty() || shape.in_flight == 0 {
        return Err(anyhow!("no connection or no call in flight"));
    }
    let started = Instant::now();
    let until = started + shape.duration;
    let mut workers = Vec::with_capacity(shape.in_flight);
    for worker in 0..shape.in_flight {
        let mut connection = connections[worker % connections.len()].clone();
        let mut picker = Picker::new(ids.clone(), shape.seed, worker as u64 + 1);
        let options = options.clone();
        workers.push(tokio::spawn(async move {
            let mut histogram = new_histogram()?;
            while Instant::now() < until {
                let customer = picker.next_id().to_owned();
                let sent = Instant::now();
                connection
                    .call(kind, &customer, &options)
                    .await
                    .map_err(|status| anyhow!("{} of {customer}: {status}", kind.name()))?;
                record(&mut histogram, sent.elapsed())?;
            }
            Ok::<_, anyhow::Error>(histogram)
        }));
    }
    let mut histogram = new_histogram()?;
    for worker in workers {
        let part = worker.await.context("a load worker panicked")??;
        histogram
            .add(&part)
            .map_err(|e| anyhow!("merging histograms: {e:?}"))?;
    }
    Ok(Sample {
        histogram,
        elapsed: started.elapsed(),
    })
}

/// Many-in-flight runs of several kinds of call taking turns: `rounds` windows per kind, each
/// a `rounds`-th of `shape.duration`, kind after kind, round after round; one merged sample
/// per kind, in the order of `kinds`. This machine's speed drifts by a fifth from one minute
/// to the next, so a kind measured in one block and another in the next compared the minutes
/// as much as the calls; taking turns spreads the drift over every kind alike.
pub async fn many_in_flight_taking_turns(
    connections: &[Connection],
    kinds: &[CallKind],
    ids: &Arc<Vec<String>>,
    shape: &Concurrency,
    rounds: u32,
    options: &pb::ClassifyOptions,
) -> Result<Vec<Sample>> {
    let rounds = rounds.max(1);
    let mut merged = Vec::with_capacity(kinds.len());
    for _ in kinds {
        merged.push(Sample {
            histogram: new_histogram()?,
            elapsed: Duration::ZERO,
        });
    }
    for round in 0..rounds {
        let window = Concurrency {
            in_flight: shape.in_flight,
            duration: shape.duration / rounds,
            // Each round its own customers, the same on every run.
            seed: shape.seed.wrapping_add(u64::from(round) << 32),
        };
        for (kind, total) in kinds.iter().zip(merged.iter_mut()) {
            let sample = many_in_flight(connections, *kind, ids, &window, options).await?;
            total
                .histogram
                .add(&sample.histogram)
                .map_err(|e| anyhow!("merging histograms: {e:?}"))?;
            total.elapsed += sample.elapsed;
        }
    }
    Ok(merged)
}

pub fn record(histogram: &mut Histogram<u64>, elapsed: Duration) -> Result<()> {
    let micros = u64::try_from(elapsed.as_micros())
        .unwrap_or(u64::MAX)
        .max(1);
    histogram
        .record(micros.min(histogram.high()))
        .map_err(|e| anyhow!("recording {micros} µs: {e:?}"))
}
