//! The command line: every flag, and the phase lengths `--quick` shortens.

use std::path::PathBuf;
use std::time::Duration;

use clap::Parser;

use crate::bulk;
use crate::suite::Settings;

#[derive(Parser)]
#[command(
    name = "segmenter-bench",
    about = "Measures a segmenter server against its performance targets."
)]
pub struct Args {
    /// Customers in the synthetic population [default: 1000000; 20000 with --quick].
    #[arg(long)]
    pub customers: Option<usize>,
    /// Seed of the population and of every random choice of the bench.
    #[arg(long, default_value_t = 42)]
    pub seed: u64,
    /// A smoke run: 20,000 customers and short phases.
    #[arg(long)]
    pub quick: bool,
    /// Measure SQLite only.
    #[arg(long)]
    pub skip_postgres: bool,
    /// A PostgreSQL role that may create databases; skipped with a note when unreachable.
    #[arg(long, default_value = "postgres://postgres@127.0.0.1:5432/postgres")]
    pub postgres_url: String,
    /// A smaller population for PostgreSQL, if loading the full one is too slow.
    #[arg(long)]
    pub postgres_customers: Option<usize>,
    /// Also write the report as Markdown to this file.
    #[arg(long)]
    pub output: Option<PathBuf>,
    /// Calls per RPC before measuring [default: 2000; 200 with --quick].
    #[arg(long)]
    pub warmup_calls: Option<u64>,
    /// Calls per RPC measured with one in flight [default: 20000; 2000 with --quick].
    #[arg(long)]
    pub latency_calls: Option<u64>,
    /// Seconds per RPC of the many-in-flight phase [default: 10; 2 with --quick].
    #[arg(long)]
    pub throughput_seconds: Option<f64>,
    /// Turns the throughput phase's RPCs take: no-op, Classify, RecommendAction, then again,
    /// each turn a share of --throughput-seconds, so that the machine's drift falls on each
    /// alike [default: 5; 2 with --quick].
    #[arg(long)]
    pub throughput_rounds: Option<u32>,
    /// Calls in flight in the throughput phase.
    #[arg(long, default_value_t = 64)]
    pub in_flight: usize,
    /// HTTP/2 connections the throughput phase spreads its calls over.
    #[arg(long, default_value_t = 4)]
    pub connections: usize,
    /// Customer references per BatchClassify message.
    #[arg(long, default_value_t = bulk::BATCH_MESSAGE)]
    pub batch_message: usize,
    /// Events streamed through IngestEvents [default: 1000000; 50000 with --quick].
    #[arg(long)]
    pub ingest_events: Option<u64>,
    /// Runs of the full re-segmentation, and of DuckDB's RFM query; each side reports its
    /// median, as one run of under a second varies by a tenth from run to run.
    #[arg(long, default_value_t = 3)]
    pub stats_runs: usize,
    /// Events per IngestEvents message.
    #[arg(long, default_value_t = 2_000)]
    pub ingest_chunk: usize,
    /// Longest wait for one bulk phase (BatchClassify, GetSegmentStats, refresh, ingest).
    #[arg(long, default_value_t = 1_800)]
    pub phase_timeout_seconds: u64,
    /// Longest wait for a server to report SERVING.
    #[arg(long, default_value_t = 1_800)]
    pub startup_timeout_seconds: u64,
    /// Generate and load the population again even when cached.
    #[arg(long)]
    pub rebuild: bool,
    /// Where populations and run databases live [default: <target dir>/bench].
    #[arg(long)]
    pub cache_dir: Option<PathBuf>,
    /// Only fit the predictive models in this process, over `--customers` demo customers and
    /// over 5,000: no server, no database.
    #[arg(long)]
    pub predictive_only: bool,
    /// Run only these phases (comma-separated), to profile one of them; the others are reported
    /// as not run.
    #[arg(long, value_delimiter = ',', value_enum)]
    pub phases: Vec<Phase>,
}

/// The measured phases of one server run, in the order they run.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum Phase {
    Latency,
    Throughput,
    Batch,
    Stats,
    Refresh,
    Ingest,
}

impl Args {
    pub fn customers(&self) -> usize {
        self.customers
            .unwrap_or(if self.quick { 20_000 } else { 1_000_000 })
    }

    pub fn settings(&self) -> Settings {
        let pick = |given: Option<u64>, quick: u64, full: u64| {
            given.unwrap_or(if self.quick { quick } else { full })
        };
        let throughput = self
            .throughput_seconds
            .unwrap_or(if self.quick { 2.0 } else { 10.0 });
        Settings {
            seed: self.seed,
            warmup_calls: pick(self.warmup_calls, 200, 2_000),
            latency_calls: pick(self.latency_calls, 2_000, 20_000),
            throughput: Duration::from_secs_f64(throughput.max(0.1)),
            throughput_rounds: self
                .throughput_rounds
                .unwrap_or(if self.quick { 2 } else { 5 })
                .max(1),
            in_flight: self.in_flight.max(1),
            connections: self.connections.max(1),
            batch_message: self.batch_message.max(1),
            ingest_events: pick(self.ingest_events, 50_000, 1_000_000),
            ingest_chunk: self.ingest_chunk.max(1),
            stats_runs: self.stats_runs.max(1),
            phase_timeout: Duration::from_secs(self.phase_timeout_seconds),
            startup_timeout: Duration::from_secs(self.startup_timeout_seconds),
            phases: if self.phases.is_empty() {
                None
            } else {
                Some(self.phases.clone())
            },
        }
    }
}
