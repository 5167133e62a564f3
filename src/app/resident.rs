//! Resident histories: every customer's compact history held in memory, so that a
//! classification never waits on the database and whole-population work (snapshots, segment
//! statistics, batch classification) runs at memory speed on every core.
//!
//! The store stays the source of truth. The resident set is loaded from it once, on first
//! population-wide use (the server does it before it starts listening), and this process keeps
//! it in step with every write it makes: after the store commits, never before. Writes that
//! other processes make to the same database (another replica, the `import` command) are picked
//! up by [`App::reload_histories`].

use std::collections::{BTreeMap, HashSet};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, RwLock};

use futures::StreamExt;

use super::resident_index::Customers;
use crate::domain::compact::CompactHistory;
use crate::domain::history::{CustomerProfile, Event, History};
use crate::domain::prefetch::{prefetch, prefetch_value};
use crate::store::{Store, StoreError};

/// Customers read per store round trip while loading.
const LOAD_PAGE: u32 = 2_000;
/// Customer ids read per round trip while planning the load.
const ID_PAGE: u32 = 100_000;

/// Pages loaded at once: one per core, plus one waiting on the database.
fn load_parallelism() -> usize {
    std::thread::available_parallelism().map_or(2, |n| n.get()) + 1
}

/// Compact histories by customer id, in id order.
#[derive(Default)]
pub struct ResidentHistories {
    loaded: AtomicBool,
    /// One load at a time; writers and readers never take it.
    load_lock: tokio::sync::Mutex<()>,
    customers: RwLock<Customers>,
    /// The last whole-population list handed out, kept until the next write: repeated scans
    /// (segment statistics, snapshots) then skip copying a million references, and releasing
    /// them afterwards, on one core.
    listed: Mutex<Option<Arc<Population>>>,
    /// While a load runs: the customers written meanwhile, re-read from the store after it, as
    /// the page that held them may predate the write.
    written_during_load: Mutex<Option<Vec<String>>>,
}

/// A consistent view of the whole population at one moment: cheap to take, never blocks
/// writers while it is used.
pub type Population = Vec<(Arc<str>, Arc<CompactHistory>)>;

/// Customers per piece of a whole-population scan handed to one core.
pub const SCAN_CHUNK: usize = 4_096;

/// How many customers ahead a scan asks for the events it will read: far enough for memory to
/// answer before they are read, near enough to stay in cache.
const PREFETCH_AHEAD: usize = 4;

/// Visits `customers` in order, asking the CPU for each history's header and events a few
/// customers before it is read: the histories lie scattered in memory, and a scan that waits
/// for each in turn spends more time waiting than computing.
pub fn scan_prefetched(
    customers: &[(Arc<str>, Arc<CompactHistory>)],
    mut visit: impl FnMut(&Arc<str>, &CompactHistory),
) {
    for (position, (id, history)) in customers.iter().enumerate() {
        if let Some((id, further)) = customers.get(position + 2 * PREFETCH_AHEAD) {
            prefetch_value(Arc::as_ptr(further));
            prefetch(id.as_ptr());
        }
        if let Some((_, near)) = customers.get(position + PREFETCH_AHEAD) {
            near.prefetch_events();
        }
        visit(id, history);
    }
}

impl ResidentHistories {
    pub fn is_loaded(&self) -> bool {
        self.loaded.load(Ordering::Acquire)
    }

    /// Loads every stored history unless that already happened.
    pub async fn ensure_loaded(&self, store: &Arc<dyn Store>) -> Result<(), StoreError> {
        if self.is_loaded() {
            return Ok(());
        }
        let _one_load = self.load_lock.lock().await;
        if self.is_loaded() {
            return Ok(());
        }
        self.load(store).await
    }

    /// Replaces the resident set with what the store holds now.
    pub async fn reload(&self, store: &Arc<dyn Store>) -> Result<(), StoreError> {
        let _one_load = self.load_lock.lock().await;
        self.load(store).await
    }

    async fn load(&self, store: &Arc<dyn Store>) -> Result<(), StoreError> {
        let started = std::time::Instant::now();
        self.track_writes(Some(Vec::new()));
        // A first load builds the set aside; a reload replaces it page by page, so that it
        // never holds two copies of the population.
        let reloading = self.is_loaded();
        let mut fresh = Customers::default();
        let mut seen: HashSet<Arc<str>> = HashSet::new();
        let loaded = Self::read_all(store, |page| {
            if !reloading {
                fresh.extend(page);
            } else if let Ok(mut resident) = self.customers.write() {
                self.forget_listing();
                for (id, history) in page {
                    seen.insert(id.clone());
                    resident.insert(id, history);
                }
            }
        })
        .await;
        let written = self.track_writes(None).unwrap_or_default();
        loaded?;
        if let Ok(mut resident) = self.customers.write() {
            self.forget_listing();
            if reloading {
                // Erased elsewhere; this process's own new customers are re-read below.
                resident.retain(|id| seen.contains(id));
            } else {
                *resident = fresh;
            }
        }
        let count = self.len();
        self.loaded.store(true, Ordering::Release);
        for id in written {
            let history = store.history(&id).await?;
            self.put(&id, &history);
        }
        tracing::info!(
            customers = count,
            elapsed_ms = started.elapsed().as_millis() as u64,
            "customer histories loaded into memory"
        );
        Ok(())
    }

    /// Starts (`Some`) or stops (`None`) noting writes; returns what was noted.
    fn track_writes(&self, start: Option<Vec<String>>) -> Option<Vec<String>> {
        let mut noted = self.written_during_load.lock().ok()?;
        std::mem::replace(&mut *noted, start)
    }

    fn note_write(&self, customer_id: &str) {
        self.note_writes(std::iter::once(customer_id));
    }

    /// One lock per batch: ingest calls this on every write.
    fn note_writes<'a>(&self, customer_ids: impl IntoIterator<Item = &'a str>) {
        if let Ok(mut noted) = self.written_during_load.lock() {
            if let Some(noted) = noted.as_mut() {
                noted.extend(customer_ids.into_iter().map(str::to_owned));
            }
        }
    }

    /// Reads every history: the id list first, then pages of it on every core at once, since
    /// decoding stored events costs more than reading them.
    async fn read_all(
        store: &Arc<dyn Store>,
        mut take: impl FnMut(Population),
    ) -> Result<(), StoreError> {
        let mut starts: Vec<Option<String>> = vec![None];
        let mut after: Option<String> = None;
        loop {
            let ids = store.customer_ids(after.as_deref(), ID_PAGE).await?;
            let full = ids.len() == ID_PAGE as usize;
            for chunk in ids.chunks(LOAD_PAGE as usize) {
                if let Some(last) = chunk.last() {
                    starts.push(Some(last.clone()));
                }
            }
            after = ids.last().cloned();
            if !full {
                break;
            }
        }
        let pages = starts.into_iter().map(|after| {
            let store = store.clone();
            tokio::spawn(async move {
                let page = store.histories(after.as_deref(), LOAD_PAGE).await?;
                Ok::<_, StoreError>(
                    page.into_iter()
                        .map(|(id, history)| (Arc::<str>::from(id), Arc::new(compact(&history))))
                        .collect::<Vec<_>>(),
                )
            })
        });
        let mut pages = futures::stream::iter(pages).buffered(load_parallelism());
        while let Some(page) = pages.next().await {
            let page =
                page.map_err(|e| StoreError::Backend(format!("history load stopped: {e}")))??;
            // Pages may overlap when customers arrive meanwhile; the later read wins.
            take(page);
        }
        Ok(())
    }

    /// The resident history of one customer; `None` when unknown or not loaded.
    pub fn get(&self, customer_id: &str) -> Option<Arc<CompactHistory>> {
        let customers = self.customers.read().ok()?;
        customers.get(customer_id).cloned()
    }

    /// [`ResidentHistories::get`] for many customers under one lock: the lookups of a batch
    /// then run back to back, so the processor overlaps their cache misses.
    pub fn get_many<'a>(
        &self,
        customer_ids: impl Iterator<Item = &'a str>,
    ) -> Vec<Option<Arc<CompactHistory>>> {
        let Ok(customers) = self.customers.read() else {
            return customer_ids.map(|_| None).collect();
        };
        customer_ids.map(|id| customers.get(id).cloned()).collect()
    }

    /// Every resident customer, in id order, as of the last write.
    pub fn population(&self) -> Arc<Population> {
        if let Some(listed) = self.listed.lock().ok().and_then(|l| l.clone()) {
            return listed;
        }
        let Ok(customers) = self.customers.read() else {
            return Arc::default();
        };
        let listed: Arc<Population> = Arc::new(
            customers
                .iter()
                .map(|(id, history)| (id.clone(), history.clone()))
                .collect(),
        );
        // Kept while the read lock still excludes writers, so no write can come in between
        // and be missed by the kept list.
        if let Ok(mut slot) = self.listed.lock() {
            *slot = Some(listed.clone());
        }
        listed
    }

    /// Drops the kept list; every writer calls this while it holds the write lock, before it
    /// changes anything (a history still listed would be copied on write).
    fn forget_listing(&self) {
        let stale = self.listed.lock().ok().and_then(|mut slot| slot.take());
        if let Some(stale) = stale {
            // Releasing a million references takes a while; the writer does not wait for it.
            rayon::spawn(move || drop(stale));
        }
    }

    /// Up to `limit` customers with ids strictly after `after`, in id order.
    pub fn page(&self, after: Option<&str>, limit: usize) -> Population {
        let Ok(customers) = self.customers.read() else {
            return Vec::new();
        };
        customers
            .after(after)
            .take(limit)
            .map(|(id, history)| (id.clone(), history.clone()))
            .collect()
    }

    pub fn len(&self) -> usize {
        self.customers.read().map_or(0, |c| c.len())
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Adds events the store has just committed. Returns the customers whose histories must be
    /// rebuilt from the store because a new event shares an instant with an older one.
    pub fn add_events(&self, events: &[Event]) -> Vec<String> {
        self.note_writes(events.iter().map(|e| e.customer_id.as_str()));
        if !self.is_loaded() {
            return Vec::new();
        }
        let mut by_customer: BTreeMap<&str, Vec<&Event>> = BTreeMap::new();
        for event in events {
            by_customer
                .entry(event.customer_id.as_str())
                .or_default()
                .push(event);
        }
        let mut rebuild = Vec::new();
        let Ok(mut customers) = self.customers.write() else {
            return rebuild;
        };
        self.forget_listing();
        for (id, new_events) in by_customer {
            if !customers.modify(id, |history| history.extend(new_events)) {
                rebuild.push(id.to_owned());
            }
        }
        rebuild
    }

    /// Puts a customer's full history as the store has it now (or removes the customer when
    /// the store knows nothing of it).
    pub fn put(&self, customer_id: &str, history: &History) {
        self.note_write(customer_id);
        if !self.is_loaded() {
            return;
        }
        if let Ok(mut customers) = self.customers.write() {
            self.forget_listing();
            if history.is_known() {
                customers.insert(Arc::from(customer_id), Arc::new(compact(history)));
            } else {
                customers.remove(customer_id);
            }
        }
    }

    /// Records an upserted profile.
    pub fn set_profile(&self, profile: &CustomerProfile) {
        self.note_write(&profile.id);
        if !self.is_loaded() {
            return;
        }
        if let Ok(mut customers) = self.customers.write() {
            self.forget_listing();
            customers.modify(&profile.id, |history| history.set_profile(Some(profile)));
        }
    }

    pub fn remove(&self, customer_id: &str) {
        self.note_write(customer_id);
        if let Ok(mut customers) = self.customers.write() {
            self.forget_listing();
            customers.remove(customer_id);
        }
    }
}

impl super::App {
    /// Re-reads every history every `interval` until `shutdown` (never when it is zero), so
    /// that writes of other replicas reach this one's resident set.
    pub async fn run_history_reloader(
        self: Arc<Self>,
        interval: std::time::Duration,
        shutdown: impl std::future::Future<Output = ()>,
    ) {
        if interval.is_zero() {
            return;
        }
        tokio::pin!(shutdown);
        loop {
            tokio::select! {
                _ = &mut shutdown => return,
                _ = tokio::time::sleep(interval) => {}
            }
            if let Err(error) = self.reload_histories().await {
                tracing::warn!(%error, "history reload failed; the resident set stays as it was");
            }
        }
    }
}

fn compact(history: &History) -> CompactHistory {
    let mut compact = CompactHistory::from_history(history);
    compact.shrink_to_fit();
    compact
}

#[cfg(test)]
#[path = "resident_tests.rs"]
mod tests;
