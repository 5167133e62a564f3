//! The synthetic population, generated once per (customers, seed) and cached: a pristine
//! SQLite database, the orders CSV DuckDB reads, the customer ids, and the fixed `as_of`
//! every request and DuckDB use, so that a second run measures the very same data.
//!
//! Cache layout, `<cache>/population-<customers>-<seed>/`: `population.db` (never served;
//! each run serves a copy), `orders.csv`, `customers.txt` (one id a line), `as_of.txt`, and
//! `ready`, written last, so that an interrupted build is redone rather than trusted.

use std::fs;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::{bail, Context, Result};
use chrono::{DateTime, SecondsFormat, Utc};
use sqlx::sqlite::SqliteConnectOptions;
use sqlx::{Connection, SqliteConnection};

use crate::server::Segmenter;

/// Ids read per store round trip.
const ID_PAGE: u32 = 50_000;

pub struct Population {
    pub customers: usize,
    pub seed: u64,
    dir: PathBuf,
    /// RFC 3339, whole seconds, UTC.
    pub as_of: String,
    pub as_of_micros: i64,
    /// Every customer id, in byte order.
    pub ids: Arc<Vec<String>>,
    /// How long generating and loading took, when this run did it.
    pub built_in: Option<Duration>,
}

impl Population {
    /// The cached population of (`customers`, `seed`), built first when missing or when
    /// `rebuild` asks for it.
    pub async fn prepare(
        segmenter: &Segmenter,
        cache: &Path,
        customers: usize,
        seed: u64,
        rebuild: bool,
    ) -> Result<Population> {
        let dir = cache.join(format!("population-{customers}-{seed}"));
        let mut built_in = None;
        if rebuild || !dir.join("ready").is_file() {
            built_in = Some(build(segmenter, &dir, customers, seed).await?);
        }
        empty_wal(&dir.join("population.db")).await?;
        let as_of = fs::read_to_string(dir.join("as_of.txt"))
            .context("reading the cached as_of")?
            .trim()
            .to_owned();
        let as_of_micros = parse_micros(&as_of)?;
        let ids: Vec<String> = fs::read_to_string(dir.join("customers.txt"))
            .context("reading the cached customer ids")?
            .lines()
            .map(str::to_owned)
            .collect();
        if ids.is_empty() {
            bail!("the cached population in {} has no customer", dir.display());
        }
        Ok(Population {
            customers,
            seed,
            dir,
            as_of,
            as_of_micros,
            ids: Arc::new(ids),
            built_in,
        })
    }

    pub fn orders_csv(&self) -> PathBuf {
        self.dir.join("orders.csv")
    }

    /// `segmenter demo` arguments that generate this very population.
    pub fn demo_args(&self, orders_csv: &Path) -> Vec<String> {
        demo_args(self.customers, self.seed, &self.as_of, orders_csv)
    }

    /// A fresh copy of the pristine database at `target`, to serve and write to; returns its
    /// URL. The WAL file, if one was left, is copied too: it may hold committed pages.
    pub fn sqlite_copy(&self, target: &Path) -> Result<String> {
        let source = self.dir.join("population.db");
        for suffix in ["", "-wal", "-shm"] {
            let to = with_suffix(target, suffix);
            if to.exists() {
                fs::remove_file(&to).with_context(|| format!("removing {}", to.display()))?;
            }
        }
        for suffix in ["", "-wal"] {
            let from = with_suffix(&source, suffix);
            if from.exists() {
                fs::copy(&from, with_suffix(target, suffix))
                    .with_context(|| format!("copying {}", from.display()))?;
            }
        }
        Ok(sqlite_url(target))
    }
}

fn demo_args(customers: usize, seed: u64, as_of: &str, orders_csv: &Path) -> Vec<String> {
    vec![
        "demo".to_owned(),
        "--customers".to_owned(),
        customers.to_string(),
        "--seed".to_owned(),
        seed.to_string(),
        "--as-of".to_owned(),
        as_of.to_owned(),
        "--orders-csv".to_owned(),
        orders_csv.display().to_string(),
    ]
}

/// Generates the population into a pristine SQLite database at a new `as_of` (now, to the
/// second) and records what later runs need.
async fn build(segmenter: &Segmenter, dir: &Path, customers: usize, seed: u64) -> Result<Duration> {
    if dir.exists() {
        fs::remove_dir_all(dir).with_context(|| format!("clearing {}", dir.display()))?;
    }
    fs::create_dir_all(dir).with_context(|| format!("creating {}", dir.display()))?;
    let as_of = Utc::now().to_rfc3339_opts(SecondsFormat::Secs, true);
    let url = sqlite_url(&dir.join("population.db"));
    eprintln!("generating {customers} customers (seed {seed}, as_of {as_of}) into {url}");
    let started = Instant::now();
    segmenter.run_visible(
        &url,
        &demo_args(customers, seed, &as_of, &dir.join("orders.csv")),
    )?;
    let elapsed = started.elapsed();
    eprintln!(
        "loaded in {:.1} s; reading the customer ids",
        elapsed.as_secs_f64()
    );

    // Read back from the store rather than assumed: every customer, buyer or not, in the
    // store's own order, whatever the generator's id format.
    let store = segmenter::store::connect(&url)
        .await
        .context("opening the population")?;
    let mut ids = String::new();
    let mut count = 0usize;
    let mut after: Option<String> = None;
    loop {
        let page = store.customer_ids(after.as_deref(), ID_PAGE).await?;
        for id in &page {
            ids.push_str(id);
            ids.push('\n');
        }
        count += page.len();
        match page.last() {
            Some(last) if page.len() == ID_PAGE as usize => after = Some(last.clone()),
            _ => break,
        }
    }
    if count != customers {
        bail!("the demo stored {count} customers, not {customers}");
    }
    fs::write(dir.join("customers.txt"), ids)?;
    fs::write(dir.join("as_of.txt"), format!("{as_of}\n"))?;
    fs::write(
        dir.join("ready"),
        format!("customers={customers} seed={seed} as_of={as_of}\n"),
    )?;
    Ok(elapsed)
}

/// Copies what the WAL of the pristine database holds into its file. Loaders now leave no
/// WAL (`Store::settle`), but a cache built before them holds about 1 GiB, and every copy
/// served would start with that checkpoint in its first commit: seconds of the first
/// measured write.
async fn empty_wal(database: &Path) -> Result<()> {
    let wal = with_suffix(database, "-wal");
    if fs::metadata(&wal).map_or(true, |m| m.len() == 0) {
        return Ok(());
    }
    eprintln!(
        "checkpointing the cached population's WAL ({})",
        wal.display()
    );
    let options = SqliteConnectOptions::new().filename(database);
    let mut connection = SqliteConnection::connect_with(&options)
        .await
        .context("opening the cached population")?;
    sqlx::query("PRAGMA wal_checkpoint(TRUNCATE)")
        .execute(&mut connection)
        .await
        .context("checkpointing the cached population")?;
    connection.close().await?;
    Ok(())
}

pub fn sqlite_url(path: &Path) -> String {
    format!("sqlite://{}", path.display())
}

fn with_suffix(path: &Path, suffix: &str) -> PathBuf {
    let mut name = path.as_os_str().to_owned();
    name.push(suffix);
    PathBuf::from(name)
}

fn parse_micros(rfc3339: &str) -> Result<i64> {
    let instant = DateTime::parse_from_rfc3339(rfc3339)
        .with_context(|| format!("{rfc3339:?} is not an RFC 3339 instant"))?;
    Ok(instant.with_timezone(&Utc).timestamp_micros())
}
