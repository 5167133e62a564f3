//! The reference point: DuckDB computing the RFM segments of spec 3.1 over the same orders
//! at the same `as_of`, run as `python3 bench/duckdb_rfm.py` (DuckDB installed with pip when
//! missing).

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::process::{Command, Stdio};
use std::time::Duration;

use anyhow::{bail, Context, Result};
use serde::Deserialize;

use crate::population::Population;

#[derive(Debug, Clone)]
pub struct DuckDbOutcome {
    pub version: String,
    pub orders: u64,
    /// Reading the CSV into a table.
    pub load: Duration,
    /// The RFM query alone: the median run.
    pub query: Duration,
    /// Every run of the query, in order.
    pub query_runs: Vec<Duration>,
    /// Segment code to customers, `NONE` (no purchase) included.
    pub segments: BTreeMap<String, u64>,
}

/// What the script prints on stdout.
#[derive(Deserialize)]
struct ScriptOutput {
    duckdb_version: String,
    orders: u64,
    load_seconds: f64,
    query_seconds: f64,
    query_runs: Vec<f64>,
    segments: BTreeMap<String, u64>,
}

fn bench_dir() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("bench")
}

/// Installs the script's requirements when `import duckdb` fails.
fn ensure_duckdb() -> Result<()> {
    let found = Command::new("python3")
        .args(["-c", "import duckdb"])
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .context("cannot run python3")?;
    if found.success() {
        return Ok(());
    }
    eprintln!("installing DuckDB for Python with pip");
    let requirements = bench_dir().join("requirements.txt");
    let status = Command::new("python3")
        .args(["-m", "pip", "install", "--quiet", "-r"])
        .arg(&requirements)
        .status()
        .context("cannot run pip")?;
    if !status.success() {
        bail!("pip could not install {}", requirements.display());
    }
    Ok(())
}

/// Loads the orders once and runs the query `runs` times; the outcome holds the median.
pub fn run(population: &Population, runs: usize) -> Result<DuckDbOutcome> {
    ensure_duckdb()?;
    let script = bench_dir().join("duckdb_rfm.py");
    let output = Command::new("python3")
        .arg(&script)
        .arg("--csv")
        .arg(population.orders_csv())
        .arg("--as-of")
        .arg(&population.as_of)
        .arg("--customers")
        .arg(population.ids.len().to_string())
        .arg("--runs")
        .arg(runs.max(1).to_string())
        .stdin(Stdio::null())
        .output()
        .with_context(|| format!("cannot run {}", script.display()))?;
    if !output.status.success() {
        bail!(
            "{} failed: {}",
            script.display(),
            String::from_utf8_lossy(&output.stderr).trim()
        );
    }
    let parsed: ScriptOutput = serde_json::from_slice(&output.stdout)
        .with_context(|| format!("unexpected output of {}", script.display()))?;
    Ok(DuckDbOutcome {
        version: parsed.duckdb_version,
        orders: parsed.orders,
        load: Duration::from_secs_f64(parsed.load_seconds),
        query: Duration::from_secs_f64(parsed.query_seconds),
        query_runs: parsed
            .query_runs
            .into_iter()
            .map(Duration::from_secs_f64)
            .collect(),
        segments: parsed.segments,
    })
}
