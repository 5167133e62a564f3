//! Population snapshots: computed from stored history, off the request path, then shared.

use std::collections::VecDeque;
use std::sync::atomic::Ordering;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use rayon::prelude::*;

use super::memory::release_freed_memory;
use super::resident::{scan_prefetched, Population, SCAN_CHUNK};
use super::{App, AppError};
use crate::domain::features::compute_features;
use crate::domain::population::{build_population, BuyerSample, PopulationStats};
use crate::domain::predictive::{fit_predictive, FitOutcome, PurchaseDays};
use crate::domain::rules::VersionedRules;
use crate::domain::time::Timestamp;

/// A small most-recently-used cache of snapshots at past instants, keyed by (as_of, rules).
pub struct SnapshotCache {
    capacity: usize,
    entries: Mutex<VecDeque<(Timestamp, String, Arc<PopulationStats>)>>,
}

impl SnapshotCache {
    pub fn new(capacity: usize) -> Self {
        Self {
            capacity,
            entries: Mutex::new(VecDeque::new()),
        }
    }

    fn get(&self, as_of: Timestamp, rules_version: &str) -> Option<Arc<PopulationStats>> {
        let mut entries = self.entries.lock().ok()?;
        let position = entries
            .iter()
            .position(|(t, v, _)| *t == as_of && v == rules_version)?;
        let entry = entries.remove(position)?;
        let stats = entry.2.clone();
        entries.push_front(entry);
        Some(stats)
    }

    fn put(&self, as_of: Timestamp, rules_version: &str, stats: Arc<PopulationStats>) {
        if self.capacity == 0 {
            return;
        }
        if let Ok(mut entries) = self.entries.lock() {
            entries.push_front((as_of, rules_version.to_owned(), stats));
            entries.truncate(self.capacity);
        }
    }

    pub fn clear(&self) {
        if let Ok(mut entries) = self.entries.lock() {
            entries.clear();
        }
    }
}

/// A shared snapshot replaces ours when it is at least as recent and differs.
fn is_newer(shared: &PopulationStats, ours: &PopulationStats) -> bool {
    shared.info.as_of >= ours.info.as_of && shared.info.id != ours.info.id
}

/// Computes the population statistics at `as_of` over `population`, on every core: one pass
/// computes each customer's features, which give both its buyer sample (the active buyers'
/// distributions and value tier) and its purchase days (every buyer's summary for the
/// predictive models); then both models are fitted once over those summaries.
pub fn compute_population(
    population: &Population,
    as_of: Timestamp,
    rules: &VersionedRules,
) -> PopulationStats {
    let windows = &rules.rules.windows;
    // One piece per scan chunk, in the population's (id) order, each sized for its chunk: the
    // whole is then copied once into vectors of exactly its size. Growing shared vectors by
    // doubling and appending them pairwise held up to three times the samples at once, the
    // largest transient of a snapshot of a million customers.
    type Buyer = (Arc<str>, PurchaseDays);
    let pieces: Vec<(Vec<BuyerSample>, Vec<Buyer>)> = population
        .par_chunks(SCAN_CHUNK)
        .map(|chunk| {
            let mut samples = Vec::with_capacity(chunk.len());
            let mut buyers = Vec::with_capacity(chunk.len());
            scan_prefetched(chunk, |id, history| {
                let features = compute_features(history, as_of, windows);
                if let Some(days) = features.purchase_days {
                    buyers.push((Arc::clone(id), days));
                }
                samples.extend(BuyerSample::from_features(id, &features));
            });
            (samples, buyers)
        })
        .collect();
    let (samples, buyers): (Vec<_>, Vec<_>) = pieces.into_iter().unzip();
    let (samples, buyers) = (concatenated(samples), concatenated(buyers));
    // Built (and its samples freed) before the fit, which needs memory of its own.
    let stats = build_population(
        samples,
        as_of,
        population.len() as u64,
        &rules.rules.value_tier,
    );
    // In id order, as the population is: every replica fits the same numbers.
    let predictive = fit_predictive(&buyers, &rules.rules.predictive, &wall_clock_millis);
    stats.with_predictive(predictive)
}

/// The pieces one after the other in a vector of exactly their size, each freed once moved.
fn concatenated<T>(pieces: Vec<Vec<T>>) -> Vec<T> {
    let mut whole = Vec::with_capacity(pieces.iter().map(Vec::len).sum());
    for mut piece in pieces {
        whole.append(&mut piece);
    }
    whole
}

/// The snapshot's stopwatch for the model fits (the domain reads no clock).
fn wall_clock_millis(run: &mut dyn FnMut()) -> u64 {
    let started = std::time::Instant::now();
    run();
    u64::try_from(started.elapsed().as_millis()).unwrap_or(u64::MAX)
}

/// `FITTED`, or the failure's code, for logs.
fn outcome_code<T>(outcome: &FitOutcome<T>) -> &'static str {
    match outcome {
        FitOutcome::Fitted(_) => "FITTED",
        FitOutcome::Failed(failure) => failure.kind.code(),
    }
}

impl App {
    /// Recomputes the current snapshot at now, shares it through the store and swaps it in;
    /// readers never wait for it. This is the on-demand path (start-up, `RefreshSnapshot`).
    pub async fn refresh_snapshot(&self) -> Result<Arc<PopulationStats>, AppError> {
        let _one_at_a_time = self.refresh_lock.lock().await;
        self.compute_and_share().await
    }

    async fn compute_and_share(&self) -> Result<Arc<PopulationStats>, AppError> {
        let rules = self.rules();
        let now = self.now();
        let started = std::time::Instant::now();
        let stats = self.compute_off_workers(now, rules.clone()).await?;
        // Sharing is best effort: this replica serves its own snapshot either way.
        if let Err(error) = self.store.save_snapshot(&stats, &rules.version).await {
            tracing::warn!(%error, "snapshot computed but not shared");
        }
        self.adopt(stats.clone());
        if let Ok(mut durations) = self.refresh_durations.lock() {
            // Bounded: nobody may scrape metrics for a long time.
            if durations.len() < 1_000 {
                durations.push(started.elapsed().as_secs_f64());
            }
        }
        let predictive = &stats.predictive;
        tracing::info!(
            snapshot = %stats.info.id,
            customers = stats.info.customers,
            active_buyers = stats.info.active_buyers,
            buyers = predictive.buyers,
            repeat_buyers = predictive.repeat_buyers,
            bg_nbd = outcome_code(&predictive.bg_nbd.outcome),
            bg_nbd_fit_ms = predictive.bg_nbd.fit_millis,
            gamma_gamma = outcome_code(&predictive.gamma_gamma.outcome),
            gamma_gamma_fit_ms = predictive.gamma_gamma.fit_millis,
            elapsed_ms = started.elapsed().as_millis() as u64,
            "population snapshot computed"
        );
        Ok(stats)
    }

    /// Computes a snapshot on the blocking pool, so that the async workers keep serving.
    async fn compute_off_workers(
        &self,
        as_of: Timestamp,
        rules: Arc<VersionedRules>,
    ) -> Result<Arc<PopulationStats>, AppError> {
        self.load_histories().await?;
        let population = self.resident.population();
        tokio::task::spawn_blocking(move || {
            let stats = compute_population(&population, as_of, &rules);
            release_freed_memory();
            Arc::new(stats)
        })
        .await
        .map_err(|e| AppError::Internal(format!("snapshot computation stopped: {e}")))
    }

    fn adopt(&self, stats: Arc<PopulationStats>) {
        self.current.store(stats);
        self.events_since_refresh.store(0, Ordering::Relaxed);
    }

    /// At start-up: the latest shared snapshot when one younger than `max_age` exists for the
    /// rules in force, else a fresh one, so a fleet of new replicas does not recompute at once.
    pub async fn load_or_refresh_snapshot(
        &self,
        max_age: Duration,
    ) -> Result<Arc<PopulationStats>, AppError> {
        let rules = self.rules();
        let max_age = i64::try_from(max_age.as_micros()).unwrap_or(i64::MAX);
        if let Some(shared) = self.store.latest_snapshot(&rules.version).await? {
            if self.now().micros() - shared.info.as_of.micros() <= max_age {
                let shared = Arc::new(shared);
                self.adopt(shared.clone());
                tracing::info!(snapshot = %shared.info.id, "adopted the shared population snapshot");
                return Ok(shared);
            }
        }
        self.refresh_snapshot().await
    }

    /// The scheduled path: the replica holding the lease computes and shares; the others adopt
    /// the latest shared snapshot when it is newer than theirs.
    pub(crate) async fn scheduled_refresh(&self, lease: Duration) -> Result<(), AppError> {
        let _one_at_a_time = self.refresh_lock.lock().await;
        let now = self.now();
        let until =
            now.plus_seconds(i64::try_from(lease.as_secs()).unwrap_or(i64::MAX / 2_000_000));
        if self
            .store
            .try_snapshot_lease(&self.instance_id, now, until)
            .await?
        {
            self.compute_and_share().await?;
            return Ok(());
        }
        let rules = self.rules();
        match self.store.latest_snapshot(&rules.version).await? {
            Some(shared) if is_newer(&shared, &self.current_snapshot()) => {
                tracing::debug!(snapshot = %shared.info.id, "adopted the shared population snapshot");
                self.adopt(Arc::new(shared));
            }
            Some(_) => {}
            // New rules nobody has computed with yet: do not wait for the lease holder.
            None => {
                self.compute_and_share().await?;
            }
        }
        Ok(())
    }

    /// The snapshot taken at exactly `as_of`, computed once and then cached.
    pub async fn snapshot_at(
        &self,
        as_of: Timestamp,
        rules: &Arc<VersionedRules>,
    ) -> Result<Arc<PopulationStats>, AppError> {
        if let Some(stats) = self.snapshots.get(as_of, &rules.version) {
            return Ok(stats);
        }
        // Concurrent requests for the same instant compute it once.
        let _one_at_a_time = self.refresh_lock.lock().await;
        if let Some(stats) = self.snapshots.get(as_of, &rules.version) {
            return Ok(stats);
        }
        let stats = self.compute_off_workers(as_of, rules.clone()).await?;
        self.snapshots.put(as_of, &rules.version, stats.clone());
        Ok(stats)
    }

    /// Counts stored events and wakes the refresher when enough have arrived.
    pub(crate) fn note_events_stored(&self, stored: u64) {
        if stored == 0 {
            return;
        }
        // A late event may be dated before a cached past instant: recompute on next use.
        self.snapshots.clear();
        self.events_stored_total
            .fetch_add(stored, Ordering::Relaxed);
        let threshold = self.settings.snapshot_refresh_events;
        let total = self
            .events_since_refresh
            .fetch_add(stored, Ordering::Relaxed)
            + stored;
        if threshold > 0 && total >= threshold {
            self.refresh_wanted.notify_one();
        }
    }

    /// Refreshes the current snapshot every `interval`, and sooner when enough events arrived,
    /// until `shutdown` resolves. Across replicas one computes (it holds a lease of three
    /// intervals, renewed each time) and the others adopt its snapshot from the store.
    pub async fn run_snapshot_refresher(
        self: Arc<Self>,
        interval: Duration,
        shutdown: impl std::future::Future<Output = ()>,
    ) {
        let lease = (interval * 3).max(Duration::from_secs(60));
        tokio::pin!(shutdown);
        loop {
            tokio::select! {
                _ = &mut shutdown => return,
                _ = tokio::time::sleep(interval) => {}
                _ = self.refresh_wanted.notified() => {}
            }
            if let Err(error) = self.scheduled_refresh(lease).await {
                tracing::warn!(%error, "population snapshot refresh failed; the previous one stays");
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::concatenated;

    #[test]
    fn pieces_are_concatenated_in_order_into_a_vector_of_their_size() {
        let pieces = vec![vec![1, 2], Vec::with_capacity(64), vec![3], vec![4, 5, 6]];
        let whole = concatenated(pieces);
        assert_eq!(whole, [1, 2, 3, 4, 5, 6]);
        assert_eq!(whole.capacity(), 6);
    }
}
