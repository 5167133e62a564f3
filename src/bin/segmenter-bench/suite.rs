//! Every measurement against one server, in an order where each phase leaves the data as the
//! next expects: reads first, the snapshot refresh, then ingest, which writes.

use std::time::{Duration, Instant};

use anyhow::{Context, Result};

use segmenter::api::pb::{ClassificationView, SnapshotMode};

use crate::bulk::{self, BatchOutcome, RefreshOutcome, StatsOutcome};
use crate::cli::Phase;
use crate::ingest::{self, IngestOutcome, IngestPlan};
use crate::load::{self, Concurrency, Picker, Sample};
use crate::population::Population;
use crate::predictive::{self, FitFigures};
use crate::rpc::{self, CallKind, Connection, Reading};
use crate::server::{self, Segmenter, ServerProcess};

/// How long and how hard each phase runs.
#[derive(Debug, Clone)]
pub struct Settings {
    pub seed: u64,
    pub warmup_calls: u64,
    pub latency_calls: u64,
    pub throughput: Duration,
    /// Turns the throughput phase's calls take, each a share of `throughput`.
    pub throughput_rounds: u32,
    pub in_flight: usize,
    pub connections: usize,
    pub batch_message: usize,
    pub ingest_events: u64,
    pub ingest_chunk: usize,
    pub stats_runs: usize,
    pub phase_timeout: Duration,
    pub startup_timeout: Duration,
    /// `None`: every phase.
    pub phases: Option<Vec<Phase>>,
}

impl Settings {
    fn runs(&self, phase: Phase) -> bool {
        self.phases.as_ref().is_none_or(|p| p.contains(&phase))
    }
}

/// A phase's result, or why it has none; one failed phase does not stop the others.
pub type Outcome<T> = Result<T, String>;

/// One value per measured unary call.
#[derive(Debug, Clone)]
pub struct PerCall<T> {
    pub health: T,
    pub classify: T,
    pub recommend: T,
}

#[derive(Debug, Clone)]
pub struct Figures {
    pub customers: usize,
    pub startup: Duration,
    /// The first Classify at the population's as_of, which builds that instant's snapshot.
    pub first_call: Outcome<Duration>,
    pub latency: PerCall<Outcome<Sample>>,
    /// Throughput with the load client not decoding responses ([`Reading::WireOnly`]).
    pub throughput: PerCall<Outcome<Sample>>,
    /// Classify throughput with the client decoding every response, as an application would.
    pub decoded_throughput: Outcome<Sample>,
    /// Results counted without building the classifications ([`Reading::WireOnly`]).
    pub batch: Outcome<BatchOutcome>,
    /// Every result decoded, as a syncing application would.
    pub decoded_batch: Outcome<BatchOutcome>,
    pub stats: Outcome<StatsOutcome>,
    pub refresh: Outcome<RefreshOutcome>,
    /// The model fits of the snapshot the refresh computed.
    pub predictive: Outcome<FitFigures>,
    pub ingest: Outcome<IngestOutcome>,
    pub peak_rss: Outcome<u64>,
}

const KINDS: [CallKind; 3] = [CallKind::Health, CallKind::Classify, CallKind::Recommend];

/// Serves `database_url` and measures everything; `label` prefixes the progress lines.
pub async fn run(
    label: &str,
    segmenter: &Segmenter,
    database_url: &str,
    population: &Population,
    settings: &Settings,
    log: &std::path::Path,
) -> Result<Figures> {
    let key = segmenter.create_admin_key(database_url)?;
    let server =
        ServerProcess::start(segmenter, database_url, log, settings.startup_timeout).await?;
    let say = |text: String| eprintln!("[{label}] {text}");
    say(format!(
        "server pid {} on {} serving after {:.1} s (log: {})",
        server.pid(),
        server.addr,
        server.startup.as_secs_f64(),
        log.display()
    ));
    let mut connections = Vec::with_capacity(settings.connections.max(1));
    for _ in 0..settings.connections.max(1) {
        connections.push(Connection::open(&server.addr, &key).await?);
    }
    let mut main = connections[0].clone();
    let ids = population.ids.clone();
    // Classified at the population's fixed as_of against the snapshot taken at that instant:
    // the same answers on every run, and the same statistics DuckDB computes.
    let at_as_of = rpc::options(
        population.as_of_micros,
        SnapshotMode::AtAsOf,
        ClassificationView::Full,
    );

    let first_call = timed(
        &say,
        "first Classify at as_of (builds that snapshot)",
        async {
            let started = Instant::now();
            let first = ids.first().context("no customer")?;
            tokio::time::timeout(
                settings.phase_timeout,
                main.call(CallKind::Classify, first, &at_as_of),
            )
            .await
            .context("no answer in time")??;
            Ok(started.elapsed())
        },
    )
    .await;

    let mut picker = Picker::new(ids.clone(), settings.seed, 0);
    let unary = settings.runs(Phase::Latency) || settings.runs(Phase::Throughput);
    for kind in KINDS.into_iter().filter(|_| unary) {
        let warm = load::one_in_flight(
            &mut main,
            kind,
            &mut picker,
            settings.warmup_calls,
            &at_as_of,
        );
        if let Err(error) = warm.await {
            say(format!("warm-up of {} failed: {error:#}", kind.name()));
        }
    }
    // The many-in-flight path too: every connection and server worker thread gets busy once.
    let warm_shape = Concurrency {
        in_flight: settings.in_flight,
        duration: (settings.throughput / 5).min(Duration::from_secs(2)),
        seed: settings.seed ^ 1,
    };
    if unary {
        let warm = load::many_in_flight(
            &connections,
            CallKind::Classify,
            &ids,
            &warm_shape,
            &at_as_of,
        );
        if let Err(error) = warm.await {
            say(format!("warm-up in flight failed: {error:#}"));
        }
    }

    let calls = settings.latency_calls;
    let mut latency_of = async |kind: CallKind| {
        let what = format!("{} latency, 1 in flight", kind.name());
        let run = load::one_in_flight(&mut main, kind, &mut picker, calls, &at_as_of);
        phase(settings, Phase::Latency, &say, &what, run).await
    };
    let latency = PerCall {
        health: latency_of(CallKind::Health).await,
        classify: latency_of(CallKind::Classify).await,
        recommend: latency_of(CallKind::Recommend).await,
    };

    let shape = Concurrency {
        in_flight: settings.in_flight,
        duration: settings.throughput,
        seed: settings.seed,
    };
    // The server's capacity: the load client does not build the responses it receives.
    let wire_only: Vec<Connection> = connections
        .iter()
        .map(|c| c.clone().reading(Reading::WireOnly))
        .collect();
    let throughput_of = async |kind: CallKind, over: &[Connection], how: &str| {
        let what = format!(
            "{} throughput, {} in flight, {how}",
            kind.name(),
            shape.in_flight
        );
        let run = load::many_in_flight(over, kind, &ids, &shape, &at_as_of);
        phase(settings, Phase::Throughput, &say, &what, run).await
    };
    let taking_turns = format!(
        "{}, {} and {} throughput, {} in flight, responses not decoded, {} turns each",
        CallKind::Health.name(),
        CallKind::Classify.name(),
        CallKind::Recommend.name(),
        shape.in_flight,
        settings.throughput_rounds
    );
    let run = load::many_in_flight_taking_turns(
        &wire_only,
        &KINDS,
        &ids,
        &shape,
        settings.throughput_rounds,
        &at_as_of,
    );
    let samples = phase(settings, Phase::Throughput, &say, &taking_turns, run).await;
    // In the order of `KINDS`.
    let sample_of = |index: usize| {
        let samples = samples.as_ref().map_err(Clone::clone)?;
        samples
            .get(index)
            .cloned()
            .ok_or_else(|| "no sample".to_owned())
    };
    let throughput = PerCall {
        health: sample_of(0),
        classify: sample_of(1),
        recommend: sample_of(2),
    };
    let decoded_throughput =
        throughput_of(CallKind::Classify, &connections, "responses decoded").await;

    let codes = rpc::options(
        population.as_of_micros,
        SnapshotMode::AtAsOf,
        ClassificationView::Codes,
    );
    let batch_with = async |reading: Reading, what: &str| {
        let mut connection = main.clone();
        let run = bulk::batch_classify(
            &mut connection,
            &ids,
            settings.batch_message,
            codes.clone(),
            reading,
            settings.phase_timeout,
        );
        phase(settings, Phase::Batch, &say, what, run).await
    };
    let batch = batch_with(
        Reading::WireOnly,
        "BatchClassify of every customer, results counted",
    )
    .await;
    let decoded_batch = batch_with(
        Reading::Decoded,
        "BatchClassify of every customer, results decoded",
    )
    .await;

    let stats = phase(
        settings,
        Phase::Stats,
        &say,
        "GetSegmentStats (full re-segmentation)",
        async {
            bulk::segment_stats(
                &mut main,
                at_as_of.clone(),
                settings.stats_runs,
                settings.phase_timeout,
            )
            .await
        },
    )
    .await;

    // Here the calls read the current snapshot, the one the refresh replaces.
    let current = rpc::options(
        population.as_of_micros,
        SnapshotMode::Current,
        ClassificationView::Full,
    );
    let refresh = phase(
        settings,
        Phase::Refresh,
        &say,
        "RefreshSnapshot with Classify going on",
        async {
            let mut classifier = connections[connections.len() - 1].clone();
            bulk::refresh_under_load(
                &main,
                &mut classifier,
                &mut picker,
                &current,
                settings.phase_timeout,
            )
            .await
        },
    )
    .await;

    let predictive = phase(
        settings,
        Phase::Refresh,
        &say,
        "GetPredictiveModel (fit times of the refreshed snapshot)",
        predictive::from_server(&main),
    )
    .await;

    let plan = IngestPlan {
        events: settings.ingest_events,
        chunk: settings.ingest_chunk,
        as_of_micros: population.as_of_micros,
        seed: settings.seed,
        run_tag: format!("{:x}", chrono::Utc::now().timestamp_micros()),
        currency: server::CURRENCY.to_owned(),
    };
    let ingest = phase(settings, Phase::Ingest, &say, "IngestEvents", async {
        let mut outcome = ingest::ingest(&mut main, &ids, plan, settings.phase_timeout).await?;
        outcome.folded_after = ingest::wait_folded(database_url, settings.phase_timeout).await?;
        Ok(outcome)
    })
    .await;

    let peak_rss = server.peak_rss_bytes().map_err(|e| format!("{e:#}"));
    Ok(Figures {
        customers: ids.len(),
        startup: server.startup,
        first_call,
        latency,
        throughput,
        decoded_throughput,
        batch,
        decoded_batch,
        stats,
        refresh,
        predictive,
        ingest,
        peak_rss,
    })
}

/// Runs one phase unless `--phases` leaves it out.
async fn phase<T>(
    settings: &Settings,
    which: Phase,
    say: &impl Fn(String),
    what: &str,
    phase: impl std::future::Future<Output = Result<T>>,
) -> Outcome<T> {
    if !settings.runs(which) {
        return Err("not run (--phases)".to_owned());
    }
    timed(say, what, phase).await
}

/// Runs one phase, says how long it took or why it failed, and keeps the failure as text.
async fn timed<T>(
    say: &impl Fn(String),
    what: &str,
    phase: impl std::future::Future<Output = Result<T>>,
) -> Outcome<T> {
    say(format!("{what} ..."));
    let started = Instant::now();
    let outcome = phase.await.map_err(|e| format!("{e:#}"));
    match &outcome {
        Ok(_) => say(format!(
            "{what}: done in {:.1} s",
            started.elapsed().as_secs_f64()
        )),
        Err(error) => say(format!("{what}: FAILED: {error}")),
    }
    outcome
}
