//! `segmenter-bench`: one command that measures a real `segmenter` server on loopback holding
//! a synthetic population (1,000,000 customers by default), on SQLite and PostgreSQL, and
//! prints every figure beside its target, with DuckDB's RFM over the same orders as the
//! reference for a full re-segmentation.
//!
//! `cargo build --release --bins && cargo run --release --bin segmenter-bench -- [--quick]`

mod bulk;
mod cli;
mod duckdb;
mod ingest;
mod load;
mod population;
mod postgres;
mod predictive;
mod report;
mod rpc;
mod server;
mod skim;
mod suite;
mod table;

use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::time::Duration;

use anyhow::{Context, Result};
use clap::Parser;

use cli::Args;

use duckdb::DuckDbOutcome;
use population::Population;
use postgres::Postgres;
use server::Segmenter;
use suite::{Figures, Outcome, Settings};

fn main() -> ExitCode {
    let args = Args::parse();
    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
    {
        Ok(runtime) => runtime,
        Err(error) => {
            eprintln!("error: cannot start the runtime: {error}");
            return ExitCode::FAILURE;
        }
    };
    match runtime.block_on(run(args)) {
        Ok(()) => ExitCode::SUCCESS,
        Err(error) => {
            eprintln!("error: {error:#}");
            ExitCode::FAILURE
        }
    }
}

/// One backend's run, with the population it ran on.
struct Run<'a> {
    label: String,
    population: &'a Population,
    figures: Outcome<Figures>,
    /// DuckDB over the same population.
    duckdb: Outcome<DuckDbOutcome>,
}

async fn run(args: Args) -> Result<()> {
    if args.predictive_only {
        return fit_in_process(&args);
    }
    let settings = args.settings();
    let segmenter = Segmenter::locate()?;
    let cache = cache_dir(&args)?;
    let mut notes = Vec::new();
    let load_before = load_average();

    let main_population = Population::prepare(
        &segmenter,
        &cache,
        args.customers(),
        args.seed,
        args.rebuild,
    )
    .await?;
    note_build(
        &mut notes,
        "SQLite",
        &main_population,
        main_population.built_in,
    );
    // Before any server runs, so that DuckDB has the machine to itself as the servers do.
    let main_duckdb = run_duckdb(&main_population, settings.stats_runs);

    let run_dir = cache.join("run");
    std::fs::create_dir_all(&run_dir)?;
    let sqlite_db = run_dir.join("sqlite.db");
    let sqlite_figures = match main_population.sqlite_copy(&sqlite_db) {
        Ok(url) => {
            let log = run_dir.join("server-sqlite.log");
            suite::run(
                "SQLite",
                &segmenter,
                &url,
                &main_population,
                &settings,
                &log,
            )
            .await
            .map_err(|e| format!("{e:#}"))
        }
        Err(error) => Err(format!("{error:#}")),
    };
    remove_sqlite(&sqlite_db);
    let mut runs = vec![Run {
        label: "SQLite".to_owned(),
        population: &main_population,
        figures: sqlite_figures,
        duckdb: main_duckdb.clone(),
    }];

    let pg_customers = args.postgres_customers.unwrap_or(args.customers());
    let mut pg_population = None;
    let mut pg_duckdb = None;
    let mut pg_figures = None;
    if args.skip_postgres {
        notes.push("PostgreSQL skipped (--skip-postgres).".to_owned());
    } else {
        match Postgres::connect(&args.postgres_url).await {
            Err(error) => notes.push(format!(
                "PostgreSQL skipped: {} is unreachable or unusable: {error:#}",
                args.postgres_url
            )),
            Ok(postgres) => {
                let population = if pg_customers == main_population.customers {
                    None
                } else {
                    let other = Population::prepare(
                        &segmenter,
                        &cache,
                        pg_customers,
                        args.seed,
                        args.rebuild,
                    )
                    .await?;
                    pg_duckdb = Some(run_duckdb(&other, settings.stats_runs));
                    Some(other)
                };
                pg_population = population;
                let population = pg_population.as_ref().unwrap_or(&main_population);
                let log = run_dir.join("server-postgres.log");
                pg_figures = Some(
                    run_postgres(
                        &postgres, &segmenter, population, &settings, &log, &mut notes,
                    )
                    .await,
                );
            }
        }
    }
    if let Some(figures) = pg_figures {
        let population = pg_population.as_ref().unwrap_or(&main_population);
        runs.push(Run {
            label: "PostgreSQL".to_owned(),
            population,
            figures,
            duckdb: pg_duckdb.unwrap_or(main_duckdb),
        });
    }

    notes.push(small_population_fit(args.seed));
    // Other work on the machine shows in every figure, latency tails first: say how busy it was.
    if let (Some(before), Some(after)) = (load_before, load_average()) {
        notes.push(format!(
            "1-minute load average {before} before the run and {after} after it, on {} cores \
             shared by the bench, the server and anything else running.",
            cores()
        ));
    }
    let text = render(&args, &settings, &runs, &mut notes);
    println!("{}", text.plain);
    if let Some(path) = &args.output {
        std::fs::write(path, &text.markdown)
            .with_context(|| format!("writing {}", path.display()))?;
        eprintln!("report written to {}", path.display());
    }
    Ok(())
}

/// `--predictive-only`: the model fits of the population size asked for and of the small one,
/// in this process, without a server.
fn fit_in_process(args: &Args) -> Result<()> {
    let customers = args.customers();
    eprintln!("predictive fits: generating and summarising {customers} demo customers ...");
    let big = predictive::in_process(customers, args.seed)?;
    println!(
        "predictive fits, {} customers: {}",
        table::thousands(customers as u64),
        report::predictive_fits(&big)
    );
    println!("{}", small_population_fit(args.seed));
    Ok(())
}

/// The model fits of a small demo population, fitted in this process.
fn small_population_fit(seed: u64) -> String {
    let customers = predictive::SMALL_POPULATION;
    match predictive::in_process(customers, seed) {
        Ok(fits) => format!(
            "Predictive fits of {} demo customers (seed {seed}) in the bench process: {}.",
            table::thousands(customers as u64),
            fits.describe()
        ),
        Err(error) => format!("Predictive fits of {customers} demo customers failed: {error:#}"),
    }
}

async fn run_postgres(
    postgres: &Postgres,
    segmenter: &Segmenter,
    population: &Population,
    settings: &Settings,
    log: &Path,
    notes: &mut Vec<String>,
) -> Outcome<Figures> {
    let loaded = postgres
        .ensure_template(segmenter, population, false)
        .await
        .map_err(|e| format!("loading the population: {e:#}"))?;
    note_build(notes, "PostgreSQL", population, loaded);
    let url = postgres
        .fresh_copy(population)
        .await
        .map_err(|e| format!("copying the population: {e:#}"))?;
    let figures = suite::run("PostgreSQL", segmenter, &url, population, settings, log)
        .await
        .map_err(|e| format!("{e:#}"));
    if let Err(error) = postgres.drop_copy().await {
        notes.push(format!(
            "the PostgreSQL run database was not dropped: {error:#}"
        ));
    }
    figures
}

fn run_duckdb(population: &Population, runs: usize) -> Outcome<DuckDbOutcome> {
    eprintln!(
        "DuckDB: RFM of {} customers at {}",
        population.ids.len(),
        population.as_of
    );
    let outcome = duckdb::run(population, runs).map_err(|e| format!("{e:#}"));
    match &outcome {
        Ok(d) => eprintln!(
            "DuckDB: CSV load {:.2} s, query {:.3} s",
            d.load.as_secs_f64(),
            d.query.as_secs_f64()
        ),
        Err(error) => eprintln!("DuckDB: FAILED: {error}"),
    }
    outcome
}

fn note_build(
    notes: &mut Vec<String>,
    backend: &str,
    population: &Population,
    took: Option<Duration>,
) {
    if let Some(took) = took {
        notes.push(format!(
            "{backend}: generated and loaded {} customers in {} (cached for later runs).",
            table::thousands(population.customers as u64),
            table::seconds(took)
        ));
    }
}

/// `--cache-dir`, else `bench/` in the target directory this executable was built into.
fn cache_dir(args: &Args) -> Result<PathBuf> {
    let dir = match &args.cache_dir {
        Some(dir) => dir.clone(),
        None => {
            let me = std::env::current_exe()?;
            let target = me
                .parent()
                .and_then(Path::parent)
                .context("cannot tell the target directory from this executable's path")?;
            target.join("bench")
        }
    };
    std::fs::create_dir_all(&dir).with_context(|| format!("creating {}", dir.display()))?;
    dir.canonicalize()
        .with_context(|| format!("resolving {}", dir.display()))
}

fn remove_sqlite(path: &Path) {
    for suffix in ["", "-wal", "-shm"] {
        let mut name = path.as_os_str().to_owned();
        name.push(suffix);
        let _ = std::fs::remove_file(PathBuf::from(name));
    }
}

struct Rendered {
    plain: String,
    markdown: String,
}

fn render(args: &Args, settings: &Settings, runs: &[Run<'_>], notes: &mut Vec<String>) -> Rendered {
    let columns: Vec<report::Column<'_>> = runs
        .iter()
        .map(|run| report::Column {
            label: run.label.clone(),
            figures: &run.figures,
            duckdb: Some(&run.duckdb),
        })
        .collect();
    let shape = report::Shape {
        in_flight: settings.in_flight,
        connections: settings.connections,
        batch_message: settings.batch_message,
    };
    let figures = report::figures_table(&columns, &shape);
    let mut plain = format!("\n{}", figures.text());
    let mut markdown = format!("# segmenter-bench\n\n{}", figures.markdown());

    // One RFM comparison per population: DuckDB beside every server that served it.
    let mut populations: Vec<&Run<'_>> = Vec::new();
    for run in runs {
        if !populations
            .iter()
            .any(|p| p.population.customers == run.population.customers)
        {
            populations.push(run);
        }
    }
    for first in populations {
        let population = first.population;
        let servers: Vec<(String, &Figures)> = runs
            .iter()
            .filter(|run| run.population.customers == population.customers)
            .filter_map(|run| run.figures.as_ref().ok().map(|f| (run.label.clone(), f)))
            .collect();
        if let Ok(duck) = &first.duckdb {
            let (rfm, warnings) = report::rfm_table(duck, &servers);
            let title = format!(
                "RFM segments of {} customers at {}",
                table::thousands(population.customers as u64),
                population.as_of
            );
            plain.push_str(&format!("\n{title}\n{}", rfm.text()));
            markdown.push_str(&format!("\n## {title}\n\n{}", rfm.markdown()));
            for warning in warnings {
                plain.push_str(&format!("{warning}\n"));
                markdown.push_str(&format!("\n**{warning}**\n"));
            }
        }
    }

    for run in runs {
        if let Err(error) = &run.figures {
            notes.push(format!("{} not measured: {error}", run.label));
        }
    }
    notes.extend(method_notes(args, settings, runs));
    plain.push_str("\nNotes:\n");
    markdown.push_str("\n## Notes\n\n");
    for note in notes.iter() {
        plain.push_str(&format!("- {note}\n"));
        markdown.push_str(&format!("- {note}\n"));
    }
    Rendered { plain, markdown }
}

fn method_notes(args: &Args, settings: &Settings, runs: &[Run<'_>]) -> Vec<String> {
    let mut notes = Vec::new();
    if let Some(run) = runs.first() {
        notes.push(format!(
            "Population: seed {}, as_of {}. Every request classifies at that as_of with \
             SNAPSHOT_MODE_AT_AS_OF (the snapshot at as_of is built by the first call and cached \
             by the server), except the Classify calls during the refresh, which read the current \
             snapshot that the refresh replaces.",
            args.seed, run.population.as_of
        ));
    }
    for run in runs.iter().skip(1) {
        if run.population.customers != runs[0].population.customers {
            notes.push(format!(
                "{} ran on a population of {} customers (--postgres-customers).",
                run.label,
                table::thousands(run.population.customers as u64)
            ));
        }
    }
    notes.push(format!(
        "Latency: {} calls per RPC, back to back on one HTTP/2 connection, after {} warm-up calls; \
         customers drawn uniformly at random (seeded) by id. Throughput: {} closed-loop callers \
         round-robin over {} HTTP/2 connections for {:.1} s per RPC, in {} turns of {:.1} s taken \
         by the no-op, Classify and RecommendAction in that order, so that drift in the machine's \
         speed over the run falls on all three alike; they receive every response \
         whole and walk its protobuf fields without building messages, as a load generator such as \
         h2load does, because decoding a full classification costs the client about as much CPU as \
         the server spends producing it. One more Classify run decodes every response, as an \
         application would. Latency calls decode their responses. The bench and the server share \
         this machine's {} cores.",
        table::thousands(settings.latency_calls),
        table::thousands(settings.warmup_calls),
        settings.in_flight,
        settings.connections,
        settings.throughput.as_secs_f64(),
        settings.throughput_rounds,
        settings.throughput.as_secs_f64() / f64::from(settings.throughput_rounds),
        cores()
    ));
    notes.push(format!(
        "Full re-segmentation: GetSegmentStats {runs} times in a row on one connection, and \
         DuckDB's query {runs} times after one load of the CSV; each side's median is compared.",
        runs = settings.stats_runs
    ));
    notes.push(format!(
        "Ingest: {} new events (half ORDER, half INTERACTION) for random existing customers, \
         dated within the 3 days before as_of, {} per message; the rate counts until the server's \
         summary, sent after the last chunk is committed. SQLite commits them into pending \
         tables; the bench then waits until the server's background fold has moved them into \
         the indexed tables (it polls the database file) and reports that time too, and the rate \
         counting it.",
        table::thousands(settings.ingest_events),
        table::thousands(settings.ingest_chunk as u64)
    ));
    notes.push(
        "Server settings: auth on (admin key), no rate limit, max_in_flight 1,000,000, \
         snapshot_interval_seconds 86400 and snapshot_refresh_events 0 (no refresh behind the \
         bench's back), metrics endpoint off. Each run serves a fresh copy of the cached population."
            .to_owned(),
    );
    notes
}

fn cores() -> usize {
    std::thread::available_parallelism().map_or(0, |n| n.get())
}

/// The 1-minute load average of the machine, where Linux tells it.
fn load_average() -> Option<String> {
    let text = std::fs::read_to_string("/proc/loadavg").ok()?;
    text.split_whitespace().next().map(str::to_owned)
}
