//! The figures against their targets, one column per backend, and the RFM segment counts of
//! the servers beside DuckDB's.

use std::collections::BTreeSet;
use std::time::Duration;

use crate::duckdb::DuckDbOutcome;
use crate::load::Sample;
use crate::predictive::{self, FitFigures};
use crate::suite::{Figures, Outcome};
use crate::table::{self, Table};

/// Classify p99 with one call in flight, microseconds.
const CLASSIFY_P99_US: f64 = 1_000.0;
/// Classify p50 over the no-op's p50.
const CLASSIFY_P50_RATIO: f64 = 2.0;
/// Classify throughput over the no-op's, both at the same calls in flight.
const CLASSIFY_THROUGHPUT_SHARE: f64 = 0.5;
const BATCH_PER_SECOND: f64 = 300_000.0;
const REFRESH_SECONDS: f64 = 10.0;
/// A Classify call slower than this during a refresh counts as blocked by it.
const BLOCKED_US: f64 = 100_000.0;
const INGEST_PER_SECOND: f64 = 100_000.0;
const PEAK_RSS_BYTES: f64 = 1.5 * 1024.0 * 1024.0 * 1024.0;

/// One backend's results.
pub struct Column<'a> {
    pub label: String,
    pub figures: &'a Outcome<Figures>,
    /// DuckDB over the same population, when it ran.
    pub duckdb: Option<&'a Outcome<DuckDbOutcome>>,
}

/// How the load was shaped, for the section titles.
pub struct Shape {
    pub in_flight: usize,
    pub connections: usize,
    pub batch_message: usize,
}

pub fn figures_table(columns: &[Column<'_>], shape: &Shape) -> Table {
    let mut headers = vec!["metric".to_owned(), "target".to_owned()];
    headers.extend(columns.iter().map(|c| c.label.clone()));
    let mut table = Table::new(headers);
    let row = |table: &mut Table, metric: &str, target: &str, cell: &dyn Fn(Ctx) -> String| {
        let mut cells = vec![metric.to_owned(), target.to_owned()];
        for column in columns {
            cells.push(match column.figures {
                Ok(figures) => cell(Ctx {
                    f: figures,
                    duckdb: column.duckdb.and_then(|d| d.as_ref().ok()),
                }),
                Err(_) => "not measured (see below)".to_owned(),
            });
        }
        table.row(cells);
    };

    table.section("population and server");
    row(&mut table, "customers", "", &|c| {
        table::thousands(c.f.customers as u64)
    });
    row(&mut table, "server start-up to SERVING", "", &|c| {
        table::seconds(c.f.startup)
    });
    row(
        &mut table,
        "first Classify at as_of (builds its snapshot)",
        "",
        &|c| outcome(&c.f.first_call, |d| table::seconds(*d)),
    );

    table.section("latency, 1 call in flight: p50 / p99 / p99.9 (calls)");
    row(&mut table, "Health/Check, no-op (ceiling)", "", &|c| {
        outcome(&c.f.latency.health, percentiles)
    });
    row(&mut table, "Classify", "", &|c| {
        outcome(&c.f.latency.classify, percentiles)
    });
    row(&mut table, "Classify p99", "<= 1,000 µs", &|c| {
        outcome(&c.f.latency.classify, |s| {
            let p99 = s.quantile_us(0.99);
            let verdict = table::at_most(p99 as f64, CLASSIFY_P99_US, |v| table::micros(v as u64));
            format!("{}: {verdict}", table::micros(p99))
        })
    });
    row(&mut table, "Classify p50 / no-op p50", "<= 2.0x", &|c| {
        both(
            &c.f.latency.classify,
            &c.f.latency.health,
            |classify, noop| {
                let ratio = classify.quantile_us(0.5) as f64 / noop.quantile_us(0.5).max(1) as f64;
                let verdict = table::at_most(ratio, CLASSIFY_P50_RATIO, |v| format!("{v:.2}x"));
                format!("{ratio:.2}x: {verdict}")
            },
        )
    });
    row(&mut table, "RecommendAction", "", &|c| {
        outcome(&c.f.latency.recommend, percentiles)
    });

    table.section(format!(
        "throughput, {} calls in flight over {} HTTP/2 connections, responses received but not decoded: calls/s (p99)",
        shape.in_flight, shape.connections
    ));
    row(&mut table, "Health/Check, no-op (ceiling)", "", &|c| {
        outcome(&c.f.throughput.health, per_second)
    });
    row(&mut table, "Classify", ">= 50 % of no-op", &|c| {
        both(
            &c.f.throughput.classify,
            &c.f.throughput.health,
            |classify, noop| {
                let share = classify.per_second() / noop.per_second().max(1e-9);
                let verdict = if share >= CLASSIFY_THROUGHPUT_SHARE {
                    "pass".to_owned()
                } else {
                    format!(
                        "MISS by {:.0} points",
                        (CLASSIFY_THROUGHPUT_SHARE - share) * 100.0
                    )
                };
                format!(
                    "{} = {:.0} % of no-op: {verdict}",
                    per_second(classify),
                    share * 100.0
                )
            },
        )
    });
    row(&mut table, "RecommendAction", "", &|c| {
        outcome(&c.f.throughput.recommend, per_second)
    });
    row(
        &mut table,
        "Classify, the client decoding every response",
        "",
        &|c| {
            both(
                &c.f.decoded_throughput,
                &c.f.throughput.health,
                |decoded, noop| {
                    let share = decoded.per_second() / noop.per_second().max(1e-9);
                    format!("{} = {:.0} % of no-op", per_second(decoded), share * 100.0)
                },
            )
        },
    );

    table.section("whole population");
    let batch_metric = format!(
        "BatchClassify, CODES view, {} refs/message, results counted",
        table::thousands(shape.batch_message as u64)
    );
    row(&mut table, &batch_metric, ">= 300,000 customers/s", &|c| {
        outcome(&c.f.batch, |b| {
            let verdict = table::at_least(b.per_second(), BATCH_PER_SECOND, |v| {
                table::rate(v, "customers")
            });
            let errors = if b.item_errors > 0 {
                format!(" ({} item errors)", table::thousands(b.item_errors))
            } else {
                String::new()
            };
            format!(
                "{}{errors}: {verdict}",
                table::rate(b.per_second(), "customers")
            )
        })
    });
    row(
        &mut table,
        "BatchClassify, the client decoding every result",
        "",
        &|c| {
            outcome(&c.f.decoded_batch, |b| {
                table::rate(b.per_second(), "customers")
            })
        },
    );
    row(
        &mut table,
        "full re-segmentation (GetSegmentStats)",
        "< DuckDB RFM query",
        &|c| {
            outcome(&c.f.stats, |s| {
                let ours = median_of(s.elapsed, &s.runs);
                let Some(duck) = c.duckdb else {
                    return format!("{ours} (no DuckDB figure)");
                };
                let ratio = s.elapsed.as_secs_f64() / duck.query.as_secs_f64().max(1e-9);
                let verdict = if s.elapsed < duck.query {
                    "pass".to_owned()
                } else {
                    format!("MISS by {}", table::seconds(s.elapsed - duck.query))
                };
                format!(
                    "{ours} = {ratio:.2}x DuckDB's {}: {verdict}",
                    table::seconds(duck.query)
                )
            })
        },
    );
    row(
        &mut table,
        "snapshot refresh (RefreshSnapshot)",
        "<= 10 s",
        &|c| {
            outcome(&c.f.refresh, |r| {
                let s = r.elapsed.as_secs_f64();
                let verdict = table::at_most(s, REFRESH_SECONDS, |v| format!("{v:.1} s"));
                format!("{}: {verdict}", table::seconds(r.elapsed))
            })
        },
    );
    row(
        &mut table,
        "Classify during the refresh: p99 / max",
        "max <= 100 ms (not blocked)",
        &|c| {
            outcome(&c.f.refresh, |r| {
                let max = r.during.max_us();
                let verdict = table::at_most(max as f64, BLOCKED_US, |v| table::micros(v as u64));
                format!(
                    "{} / {} ({} calls): {verdict}",
                    table::micros(r.during.quantile_us(0.99)),
                    table::micros(max),
                    table::thousands(r.during.calls())
                )
            })
        },
    );
    row(
        &mut table,
        "predictive fits in that snapshot (BG/NBD + Gamma-Gamma)",
        "<= 5 s",
        &|c| outcome(&c.f.predictive, predictive_fits),
    );
    row(
        &mut table,
        "streaming ingest (IngestEvents), durable",
        ">= 100,000 events/s",
        &|c| {
            outcome(&c.f.ingest, |i| {
                let verdict = table::at_least(i.per_second(), INGEST_PER_SECOND, |v| {
                    table::rate(v, "events")
                });
                let folded = match (i.folded_after, i.per_second_folded()) {
                    (Some(after), Some(rate)) => format!(
                        "; the pending rows were folded into the indexed tables {} after the \
                         last commit, {} counting the fold",
                        table::seconds(after),
                        table::rate(rate, "events")
                    ),
                    _ => String::new(),
                };
                format!(
                    "{} ({} events): {verdict}{folded}",
                    table::rate(i.per_second(), "events"),
                    table::thousands(i.stored)
                )
            })
        },
    );
    row(&mut table, "server peak RSS (VmHWM)", "<= 1.5 GiB", &|c| {
        outcome(&c.f.peak_rss, |b| {
            let verdict = table::at_most(*b as f64, PEAK_RSS_BYTES, |v| table::bytes(v as u64));
            format!("{}: {verdict}", table::bytes(*b))
        })
    });

    table.section("DuckDB, same orders and as_of (python3 bench/duckdb_rfm.py)");
    let duck = |column: &Column<'_>, show: &dyn Fn(&DuckDbOutcome) -> String| match column.duckdb {
        Some(Ok(d)) => show(d),
        Some(Err(e)) => format!("failed: {e}"),
        None => "not run".to_owned(),
    };
    for (metric, show) in [
        (
            "CSV load",
            &(|d: &DuckDbOutcome| {
                format!(
                    "{} ({} orders)",
                    table::seconds(d.load),
                    table::thousands(d.orders)
                )
            }) as &dyn Fn(&DuckDbOutcome) -> String,
        ),
        ("RFM query (8 segments, scores)", &|d: &DuckDbOutcome| {
            format!(
                "{} (DuckDB {})",
                median_of(d.query, &d.query_runs),
                d.version
            )
        }),
    ] {
        let mut cells = vec![metric.to_owned(), String::new()];
        cells.extend(columns.iter().map(|c| duck(c, show)));
        table.row(cells);
    }
    table
}

/// What a cell is computed from.
#[derive(Clone, Copy)]
pub struct Ctx<'a> {
    f: &'a Figures,
    duckdb: Option<&'a DuckDbOutcome>,
}

fn outcome<T>(outcome: &Outcome<T>, show: impl Fn(&T) -> String) -> String {
    match outcome {
        Ok(value) => show(value),
        Err(error) => format!("failed: {error}"),
    }
}

fn both<A, B>(a: &Outcome<A>, b: &Outcome<B>, show: impl Fn(&A, &B) -> String) -> String {
    match (a, b) {
        (Ok(a), Ok(b)) => show(a, b),
        (Err(error), _) | (_, Err(error)) => format!("failed: {error}"),
    }
}

/// Both fits against their target, with what they were fitted on.
pub fn predictive_fits(fits: &FitFigures) -> String {
    let verdict = table::at_most(
        fits.fits().as_secs_f64(),
        predictive::TARGET.as_secs_f64(),
        |v| format!("{v:.2} s"),
    );
    format!("{}: {verdict}", fits.describe())
}

fn percentiles(sample: &Sample) -> String {
    format!(
        "{} / {} / {} ({})",
        table::micros(sample.quantile_us(0.5)),
        table::micros(sample.quantile_us(0.99)),
        table::micros(sample.quantile_us(0.999)),
        table::thousands(sample.calls())
    )
}

fn per_second(sample: &Sample) -> String {
    format!(
        "{} ({})",
        table::rate(sample.per_second(), "calls"),
        table::micros(sample.quantile_us(0.99))
    )
}

/// RFM segment counts of DuckDB and of each server that ran on the same population, and a
/// warning line per server whose counts differ from DuckDB's.
pub fn rfm_table(duckdb: &DuckDbOutcome, servers: &[(String, &Figures)]) -> (Table, Vec<String>) {
    let mut headers = vec!["RFM segment".to_owned(), "DuckDB".to_owned()];
    headers.extend(servers.iter().map(|(label, _)| format!("{label} server")));
    let mut table = Table::new(headers);
    let stats: Vec<_> = servers
        .iter()
        .map(|(label, f)| (label, f.stats.as_ref().ok()))
        .collect();
    let mut codes: BTreeSet<&String> = duckdb.segments.keys().collect();
    for (_, s) in &stats {
        codes.extend(s.iter().flat_map(|s| s.rfm.keys()));
    }
    for code in codes {
        let mut cells = vec![code.clone(), count(duckdb.segments.get(code))];
        cells.extend(stats.iter().map(|(_, s)| match s {
            Some(s) => count(s.rfm.get(code)),
            None => "-".to_owned(),
        }));
        table.row(cells);
    }
    let mut cells = vec![
        "customers counted".to_owned(),
        table::thousands(duckdb.segments.values().sum()),
    ];
    cells.extend(stats.iter().map(|(_, s)| match s {
        Some(s) => table::thousands(s.customers),
        None => "-".to_owned(),
    }));
    table.row(cells);
    let warnings = stats
        .iter()
        .filter_map(|(label, s)| {
            let s = s.as_ref()?;
            let differ = duckdb.segments.iter().any(|(k, v)| s.rfm.get(k) != Some(v))
                || s.rfm.iter().any(|(k, v)| *v > 0 && !duckdb.segments.contains_key(k));
            differ.then(|| {
                format!(
                    "WARNING: the {label} server's RFM counts differ from DuckDB's at the same as_of"
                )
            })
        })
        .collect();
    (table, warnings)
}

fn count(n: Option<&u64>) -> String {
    n.map_or("-".to_owned(), |n| table::thousands(*n))
}

/// A median time, with the runs it was taken from when there were several.
fn median_of(median: Duration, runs: &[Duration]) -> String {
    let median = table::seconds(median);
    if runs.len() < 2 {
        return median;
    }
    let runs: Vec<String> = runs.iter().map(|r| table::seconds(*r)).collect();
    format!("{median} (median of {})", runs.join(", "))
}
