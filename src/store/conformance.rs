//! The `Store` contract as backend-agnostic checks. A backend joins by implementing [`Backend`]
//! and invoking `store_suite!(name, constructor)`, which expands one `#[tokio::test]` per check
//! (the constructor is an async expression valid inside the generated module, whose `super` is
//! the invoking module). A PostgreSQL store would add, next to its own `Backend`:
//!
//! ```ignore
//! crate::store::conformance::store_suite!(postgres, super::fresh_database());
//! ```

use std::collections::BTreeMap;
use std::sync::Arc;

use async_trait::async_trait;

use super::{DeleteOutcome, RecordOutcome, SqliteStore, Store, StoreError, UpsertOutcome};
use crate::domain::dimensions::Dimension;
use crate::domain::history::*;
use crate::domain::time::Timestamp;
use crate::domain::validate::FieldViolation;

mod customers;
mod events;
mod scale;
mod shared;

pub(crate) use customers::*;
pub(crate) use events::*;
pub(crate) use scale::*;
pub(crate) use shared::*;

/// One test's database, fresh and empty when the backend is constructed.
#[async_trait]
pub(crate) trait Backend: Send + Sync {
    /// A store on this test's database; every call reaches the same data (as a restart would).
    async fn open(&self) -> Arc<dyn Store>;
}

macro_rules! store_suite {
    ($suite:ident, $backend:expr) => {
        mod $suite {
            #[allow(unused_imports)]
            use super::*;
            $crate::store::conformance::store_suite!(@checks $backend;
                upsert_creates_then_replaces, alias_conflict_changes_nothing,
                resolve_by_every_reference, history_round_trips_every_payload,
                retried_batch_is_idempotent, event_id_reuse_is_refused, batch_is_all_or_nothing,
                order_id_reuse_is_refused, refund_without_order_is_missing,
                refunds_are_bounded_by_what_is_left, refund_before_its_order_is_invalid,
                delete_erases_everything, pages_through_ids_and_histories,
                concurrent_writers_all_succeed, data_survives_reopening,
                api_keys_round_trip_and_revoke, snapshot_lease_is_held_by_one_replica,
                snapshots_are_shared_latest_first, batch_upserts_replay_in_order,
                ledger_follows_batch_order, large_batches_are_stored_whole,
                batches_stop_at_the_first_failure);
        }
    };
    (@checks $backend:expr; $($check:ident),+) => {
        $(
            #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            async fn $check() {
                let backend = $backend.await;
                $crate::store::conformance::$check(&backend).await;
            }
        )+
    };
}
pub(crate) use store_suite;

/// How a SQLite suite's stores write events.
#[derive(Clone, Copy)]
enum Writes {
    /// Into the pending tables, as a server does.
    Pending,
    /// Into the pending tables, folded after every write: each write meets the earlier ones
    /// in the large tables.
    Folded,
    /// Straight into the large tables, as a bulk loader does.
    Direct,
    /// As `Pending`, with the stored keys learned first, as a server does: writes look up
    /// only the keys that may be stored.
    KnownPending,
    /// As `Folded`, with the stored keys learned first.
    KnownFolded,
}

struct SqliteFile {
    dir: tempfile::TempDir,
    writes: Writes,
}

#[async_trait]
impl Backend for SqliteFile {
    async fn open(&self) -> Arc<dyn Store> {
        let url = format!("sqlite://{}", self.dir.path().join("store.db").display());
        let store = SqliteStore::connect(&url).await.unwrap();
        if matches!(self.writes, Writes::KnownPending | Writes::KnownFolded) {
            store.learn_keys().await.unwrap();
            assert!(store.knows_keys());
        }
        Arc::new(match self.writes {
            Writes::Pending | Writes::KnownPending => store,
            Writes::Folded | Writes::KnownFolded => store.folding_after_writes(),
            Writes::Direct => store.writing_directly(),
        })
    }
}

/// An in-memory database is gone once its store is, so "reopening" hands out the same store.
struct SqliteMemory(Arc<dyn Store>);

#[async_trait]
impl Backend for SqliteMemory {
    async fn open(&self) -> Arc<dyn Store> {
        self.0.clone()
    }
}

async fn sqlite_file_backend(writes: Writes) -> SqliteFile {
    SqliteFile {
        dir: tempfile::tempdir().unwrap(),
        writes,
    }
}

async fn sqlite_memory_backend() -> SqliteMemory {
    SqliteMemory(Arc::new(
        SqliteStore::connect("sqlite::memory:").await.unwrap(),
    ))
}

store_suite!(sqlite_file, sqlite_file_backend(Writes::Pending));
store_suite!(sqlite_folded, sqlite_file_backend(Writes::Folded));
store_suite!(sqlite_direct, sqlite_file_backend(Writes::Direct));
store_suite!(sqlite_known, sqlite_file_backend(Writes::KnownPending));
store_suite!(
    sqlite_known_folded,
    sqlite_file_backend(Writes::KnownFolded)
);
store_suite!(sqlite_memory, sqlite_memory_backend());

/// A fresh database of its own per test on the server `SEGMENTER_TEST_POSTGRES_URL` names;
/// `None` (after a printed note) when the variable is not set.
async fn postgres_backend() -> Option<super::postgres::testing::TestDatabase> {
    super::postgres::testing::TestDatabase::create().await
}

// Without a server each check returns at once, skipped (the block returns from the test).
store_suite!(postgres, {
    let Some(database) = super::postgres_backend().await else {
        return;
    };
    std::future::ready(database)
});

// ---- fixtures ----

const PHONE: &str = "+8613800000001";
const EMAIL: &str = "li.wei@example.com";

fn at(seconds: i64) -> Timestamp {
    Timestamp::from_micros(1_700_000_000_000_000 + seconds * 1_000_000)
}

fn ext(system: &str, key: &str) -> ExternalId {
    ExternalId {
        system: system.into(),
        key: key.into(),
    }
}

fn bare(id: &str) -> CustomerProfile {
    CustomerProfile {
        id: id.into(),
        ..CustomerProfile::default()
    }
}

fn full_profile(id: &str) -> CustomerProfile {
    CustomerProfile {
        id: id.into(),
        display_name: Some("李伟 \"Li\" Wei".into()),
        birthday: Some(Birthday { month: 2, day: 29 }),
        region: Some("CN-31".into()),
        plan: Some(Plan::Paid),
        decision_style: Some(DecisionStyle::Emotional),
        phones: vec![PHONE.into()],
        emails: vec![EMAIL.into()],
        external_ids: vec![ext("erp", "K-10442")],
        attributes: BTreeMap::from([
            ("age_band".into(), "30-39".into()),
            ("income".into(), "high".into()),
        ]),
        pins: BTreeMap::from([(Dimension::ValueTier, "HIGH".into())]),
    }
}

fn event(event_id: &str, customer: &str, at: Timestamp, payload: EventPayload) -> Event {
    Event {
        event_id: event_id.into(),
        customer_id: customer.into(),
        at,
        payload,
    }
}

fn visit(event_id: &str, customer: &str) -> Event {
    let payload = EventPayload::Interaction {
        kind: InteractionKind::SiteVisit,
        channel: Some(Channel::Web),
    };
    event(event_id, customer, at(0), payload)
}

fn order(event_id: &str, customer: &str, t: Timestamp, order_id: &str, amount: i64) -> Event {
    let payload = EventPayload::Order(Order {
        order_id: order_id.into(),
        amount,
        cost: Some(amount / 2),
        discount_amount: 150,
        coupon_code: Some("SPRING".into()),
        units: 3,
        categories: vec!["phones".into(), "cases".into()],
        channel: Some(Channel::App),
        consideration_seconds: Some(86_400),
    });
    event(event_id, customer, t, payload)
}

fn refund(event_id: &str, customer: &str, t: Timestamp, order_id: &str, amount: i64) -> Event {
    event(
        event_id,
        customer,
        t,
        EventPayload::Refund(Refund {
            order_id: order_id.into(),
            amount,
        }),
    )
}

fn sorted(mut events: Vec<Event>) -> Vec<Event> {
    events.sort_by(|a, b| a.event_id.cmp(&b.event_id));
    events
}

fn stored(n: u64) -> RecordOutcome {
    RecordOutcome {
        stored: n,
        duplicates: 0,
    }
}

fn violation(field: &str, description: &str) -> Vec<FieldViolation> {
    vec![FieldViolation {
        field: field.into(),
        description: description.into(),
    }]
}

async fn record(store: &dyn Store, events: &[Event]) -> Result<RecordOutcome, StoreError> {
    store.record_events(events).await
}

fn every_payload(customer: &str) -> Vec<Event> {
    let t = at(-1_000_000).micros() + 123_456;
    let ticket = |id: &str, sentiment: Option<f64>, kind, resolved| {
        EventPayload::SupportTicket(TicketUpdate {
            ticket_id: id.into(),
            kind,
            sentiment,
            resolved,
        })
    };
    let payloads = vec![
        EventPayload::Order(Order {
            order_id: "o-bare".into(),
            amount: 0,
            cost: None,
            discount_amount: 0,
            coupon_code: None,
            units: 1,
            categories: vec![],
            channel: None,
            consideration_seconds: None,
        }),
        EventPayload::Refund(Refund {
            order_id: "o-1".into(),
            amount: 250,
        }),
        EventPayload::Interaction {
            kind: InteractionKind::OutboundContact,
            channel: None,
        },
        EventPayload::Interaction {
            kind: InteractionKind::Comparison,
            channel: Some(Channel::Dealer),
        },
        ticket("t-1", None, TicketKind::Question, false),
        ticket("t-1", Some(0.1 + 0.2), TicketKind::Escalation, true),
        ticket("t-2", Some(-0.35), TicketKind::Complaint, false),
        ticket(
            "t-3",
            Some(0.115_382_024_222_247_41),
            TicketKind::Claim,
            true,
        ),
        ticket(
            "t-\"sentiment\":0.5",
            Some(-0.986_925_149_236_510_1),
            TicketKind::Claim,
            false,
        ),
        ticket(
            "t-5",
            Some(0.028_601_981_316_470_626),
            TicketKind::Complaint,
            true,
        ),
        ticket("t-6", Some(-1.0), TicketKind::Question, true),
        ticket("t-7", Some(1e-7), TicketKind::Question, true),
        EventPayload::Survey {
            kind: SurveyKind::Csat,
            score: 5,
        },
        EventPayload::Survey {
            kind: SurveyKind::Nps,
            score: 0,
        },
        EventPayload::Survey {
            kind: SurveyKind::Ces,
            score: 7,
        },
        EventPayload::Review { rating: 1 },
        EventPayload::Referral {
            referred_id: Some("c-friend".into()),
        },
        EventPayload::Referral { referred_id: None },
        EventPayload::PlanChange { plan: Plan::Trial },
    ];
    let mut events = vec![order("e-00", customer, at(-2_000_000), "o-1", 1_999)];
    for (i, payload) in payloads.into_iter().enumerate() {
        events.push(event(
            &format!("e-{:02}", i + 1),
            customer,
            Timestamp(t + i as i64),
            payload,
        ));
    }
    events
}
