//! Use-cases: what the gRPC handlers and the CLI delegate to. Resolves customer references,
//! reads history (resident in memory once loaded, else from the store), takes the shared rule
//! set and population snapshot, and runs the pure domain. Shared read-mostly state is swapped
//! atomically; the resident histories' lock is only held to copy a pointer.

mod classify;
mod customers;
mod error;
mod ingest;
mod memory;
pub use ingest::{GroupRecorded, IngestStream};
mod predictive;
mod recommend;
mod resident;
mod resident_index;
mod segments;
mod snapshot;

use std::sync::atomic::AtomicU64;
use std::sync::Arc;

use arc_swap::ArcSwap;

use crate::domain::population::PopulationStats;
use crate::domain::rules::{RuleSet, RuleSetError, VersionedRules};
use crate::domain::time::Timestamp;
use crate::store::Store;

pub use classify::{Classified, ClassifyOptions, SnapshotChoice};
pub use error::AppError;
pub use predictive::PredictiveModel;
pub use recommend::Contact;
pub use resident::ResidentHistories;
pub use segments::{Scan, SegmentStats};
pub use snapshot::SnapshotCache;

/// Where "now" comes from; tests and backtests pass explicit `as_of` values instead.
pub trait Clock: Send + Sync + 'static {
    fn now(&self) -> Timestamp;
}

/// The system clock.
pub struct SystemClock;

impl Clock for SystemClock {
    fn now(&self) -> Timestamp {
        let micros = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0, |d| d.as_micros() as i64);
        Timestamp::from_micros(micros)
    }
}

/// Settings of the use-cases (a slice of the server configuration).
#[derive(Debug, Clone)]
pub struct AppSettings {
    /// ISO 4217 code of the one reporting currency.
    pub reporting_currency: String,
    /// Most events in one RecordEvents call or one ingest chunk.
    pub max_batch_events: usize,
    /// Refresh the current snapshot after this many newly stored events (0 = never by count).
    pub snapshot_refresh_events: u64,
    /// Snapshots at past instants kept in memory for audits and backtests.
    pub past_snapshot_cache: usize,
}

impl Default for AppSettings {
    fn default() -> Self {
        Self {
            reporting_currency: "CNY".to_owned(),
            max_batch_events: 10_000,
            snapshot_refresh_events: 10_000,
            past_snapshot_cache: 8,
        }
    }
}

pub struct App {
    store: Arc<dyn Store>,
    clock: Arc<dyn Clock>,
    settings: AppSettings,
    rules: ArcSwap<VersionedRules>,
    current: ArcSwap<PopulationStats>,
    snapshots: SnapshotCache,
    resident: ResidentHistories,
    events_since_refresh: AtomicU64,
    events_stored_total: AtomicU64,
    refresh_durations: std::sync::Mutex<Vec<f64>>,
    refresh_wanted: tokio::sync::Notify,
    refresh_lock: tokio::sync::Mutex<()>,
    /// Names this process as a holder of the shared snapshot lease.
    instance_id: String,
}

impl App {
    /// Builds the app with an empty current snapshot; call [`App::refresh_snapshot`] before serving.
    pub fn new(
        store: Arc<dyn Store>,
        rules: VersionedRules,
        settings: AppSettings,
        clock: Arc<dyn Clock>,
    ) -> Self {
        let now = clock.now();
        Self {
            store,
            snapshots: SnapshotCache::new(settings.past_snapshot_cache),
            resident: ResidentHistories::default(),
            clock,
            settings,
            rules: ArcSwap::from_pointee(rules),
            current: ArcSwap::from_pointee(PopulationStats::empty(now)),
            events_since_refresh: AtomicU64::new(0),
            events_stored_total: AtomicU64::new(0),
            refresh_durations: std::sync::Mutex::new(Vec::new()),
            refresh_wanted: tokio::sync::Notify::new(),
            refresh_lock: tokio::sync::Mutex::new(()),
            instance_id: format!("{}-{:08x}", std::process::id(), rand::random::<u32>()),
        }
    }

    pub fn store(&self) -> &Arc<dyn Store> {
        &self.store
    }

    pub fn settings(&self) -> &AppSettings {
        &self.settings
    }

    pub fn now(&self) -> Timestamp {
        self.clock.now()
    }

    /// The rule set in force.
    pub fn rules(&self) -> Arc<VersionedRules> {
        self.rules.load_full()
    }

    /// Replaces the rule set after validating it; the running one stays when it is refused.
    /// Past snapshots are dropped because value-tier shares may have changed.
    pub fn replace_rules(&self, text: &str) -> Result<String, RuleSetError> {
        let rules = RuleSet::from_toml_over_builtin(text)?;
        let version = rules.version.clone();
        self.rules.store(Arc::new(rules));
        self.snapshots.clear();
        self.refresh_wanted.notify_one();
        Ok(version)
    }

    /// Events newly stored by this process since it started (for metrics).
    pub fn events_stored_total(&self) -> u64 {
        self.events_stored_total
            .load(std::sync::atomic::Ordering::Relaxed)
    }

    /// Snapshot refresh durations (seconds) since the last call, for metrics.
    pub fn take_refresh_durations(&self) -> Vec<f64> {
        self.refresh_durations
            .lock()
            .map(|mut d| std::mem::take(&mut *d))
            .unwrap_or_default()
    }

    /// Loads every stored history into memory unless that already happened; population-wide
    /// work does it on first use, the server before it listens.
    pub async fn load_histories(&self) -> Result<(), AppError> {
        Ok(self.resident.ensure_loaded(&self.store).await?)
    }

    /// Re-reads every history from the store: after another process wrote to the database.
    pub async fn reload_histories(&self) -> Result<(), AppError> {
        Ok(self.resident.reload(&self.store).await?)
    }

    /// Customers whose histories are resident (0 before loading).
    pub fn resident_customers(&self) -> usize {
        self.resident.len()
    }

    /// The current population snapshot.
    pub fn current_snapshot(&self) -> Arc<PopulationStats> {
        self.current.load_full()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::history::CustomerRef;
    use crate::store::SqliteStore;

    struct FixedClock;

    impl Clock for FixedClock {
        fn now(&self) -> Timestamp {
            Timestamp::from_seconds(1_751_328_000)
        }
    }

    async fn app() -> App {
        let store = Arc::new(SqliteStore::connect("sqlite::memory:").await.unwrap());
        let rules = RuleSet::builtin().unwrap();
        App::new(store, rules, AppSettings::default(), Arc::new(FixedClock))
    }

    /// Two replicas on one database: the lease holder computes, the other adopts its snapshot.
    #[tokio::test]
    async fn replicas_share_one_scheduled_snapshot() {
        let dir = tempfile::tempdir().unwrap();
        let url = format!("sqlite://{}", dir.path().join("shared.db").display());
        let replica = || async {
            let store = Arc::new(SqliteStore::connect(&url).await.unwrap());
            App::new(
                store,
                RuleSet::builtin().unwrap(),
                AppSettings::default(),
                Arc::new(FixedClock),
            )
        };
        let (a, b) = (replica().await, replica().await);
        let order = crate::domain::history::Event {
            event_id: "e1".into(),
            customer_id: String::new(),
            at: Timestamp::from_seconds(1_751_000_000),
            payload: crate::domain::history::EventPayload::Order(crate::domain::history::Order {
                order_id: "o1".into(),
                amount: 500,
                cost: None,
                discount_amount: 0,
                coupon_code: None,
                units: 1,
                categories: vec![],
                channel: None,
                consideration_seconds: None,
            }),
        };
        a.record_events(vec![(CustomerRef::Id("c1".into()), order)])
            .await
            .unwrap();

        let lease = std::time::Duration::from_secs(60);
        a.scheduled_refresh(lease).await.unwrap();
        assert_eq!(a.current_snapshot().info.active_buyers, 1);
        b.scheduled_refresh(lease).await.unwrap();
        assert_eq!(b.current_snapshot().info.id, a.current_snapshot().info.id);
        // A new replica adopts the shared snapshot instead of recomputing it.
        let c = replica().await;
        let adopted = c
            .load_or_refresh_snapshot(std::time::Duration::from_secs(300))
            .await
            .unwrap();
        assert_eq!(adopted.info.id, a.current_snapshot().info.id);
    }

    #[tokio::test]
    async fn a_refused_rule_set_leaves_the_running_one_in_force() {
        let app = app().await;
        let before = app.rules().version.clone();
        let refused = app.replace_rules("[lifecycle]\nchurned_after_days = \"soon\"\n");
        assert!(refused.is_err());
        assert_eq!(app.rules().version, before);

        let accepted = app
            .replace_rules("[lifecycle]\nchurned_after_days = 200\n")
            .unwrap();
        assert_ne!(accepted, before);
        assert_eq!(app.rules().version, accepted);
        assert_eq!(app.rules().rules.lifecycle.churned_after_days, 200);
    }

    #[tokio::test]
    async fn an_oversized_batch_is_refused_before_touching_the_store() {
        let mut app = app().await;
        app.settings.max_batch_events = 2;
        let event = |id: &str| {
            (
                CustomerRef::Id("c".into()),
                crate::domain::history::Event {
                    event_id: id.into(),
                    customer_id: String::new(),
                    at: Timestamp::from_seconds(0),
                    payload: crate::domain::history::EventPayload::Review { rating: 5 },
                },
            )
        };
        let error = app
            .record_events(vec![event("a"), event("b"), event("c")])
            .await
            .unwrap_err();
        assert!(matches!(error, AppError::Invalid(ref v) if v[0].field == "events"));
        assert_eq!(app.store().customer_count().await.unwrap(), 0);
    }
}
