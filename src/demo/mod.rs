//! A synthetic, deterministic customer population for demos and tests: a weighted mix of the
//! personas of the spec's sources (champions, dealers, bargain hunters, angry complainers, ...),
//! whose classification at `as_of` fills every segment of every dimension.
//!
//! [`generate`] is pure (a seeded `ChaCha8Rng`, one stream per customer); [`load_demo`] writes
//! its output through a [`Store`].

mod builder;
mod personas;
mod profiles;
#[cfg(test)]
mod tests;

use std::time::{Duration, Instant};

use rand::seq::SliceRandom;
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;

use crate::domain::history::{CustomerProfile, Event, History, InteractionKind};
use crate::domain::time::Timestamp;
use crate::store::{Store, StoreError};

use builder::Builder;
pub use personas::{Persona, MIX};

/// Events per `record_events` call when loading.
const LOAD_BATCH: usize = 10_000;

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DemoConfig {
    pub customers: usize,
    pub seed: u64,
    /// The demo's "now": every event is at or before it.
    pub as_of: Timestamp,
    /// How far back histories reach (ages are scaled from a two-year story).
    pub history_days: i64,
}

impl DemoConfig {
    /// The defaults (10,000 customers, seed 42, two years) at `as_of`.
    pub fn at(as_of: Timestamp) -> Self {
        Self {
            customers: 10_000,
            seed: 42,
            as_of,
            history_days: 730,
        }
    }
}

impl Default for DemoConfig {
    /// The defaults at a fixed instant, 2025-06-30T12:00:00Z, so that the default demo is the
    /// same everywhere. A live demo passes the server clock with [`DemoConfig::at`].
    fn default() -> Self {
        Self::at(Timestamp::from_seconds(1_751_284_800))
    }
}

/// One generated customer.
#[derive(Debug, Clone, PartialEq)]
pub struct DemoCustomer {
    pub id: String,
    pub persona: Persona,
    pub profile: Option<CustomerProfile>,
    /// In chronological order; a refund always follows its order.
    pub events: Vec<Event>,
}

impl DemoCustomer {
    pub fn history(&self) -> History {
        History {
            profile: self.profile.clone(),
            events: self.events.clone(),
        }
    }
}

#[derive(Debug, Clone, PartialEq)]
pub struct DemoData {
    /// In id order.
    pub customers: Vec<DemoCustomer>,
}

impl DemoData {
    pub fn profiles(&self) -> impl Iterator<Item = &CustomerProfile> {
        self.customers.iter().filter_map(|c| c.profile.as_ref())
    }

    pub fn events(&self) -> impl Iterator<Item = &Event> {
        self.customers.iter().flat_map(|c| &c.events)
    }
}

/// The id of the customer with 0-based `index`: `c00001`, `c00002`, ...
pub fn customer_id(index: usize) -> String {
    format!("c{:05}", index + 1)
}

/// Generates the population of `config`: the same config always gives the same data.
pub fn generate(config: &DemoConfig) -> DemoData {
    let personas = assign_personas(config);
    let customers = personas
        .into_iter()
        .enumerate()
        .map(|(index, persona)| generate_customer(config, index, persona))
        .collect();
    DemoData { customers }
}

/// Personas by quota (largest remainder over the mix), then shuffled: a population of 1,000
/// has the mix exactly, and any population of at least 23 has every persona.
fn assign_personas(config: &DemoConfig) -> Vec<Persona> {
    let n = config.customers;
    let total: u64 = MIX.iter().map(|(_, w)| u64::from(*w)).sum();
    let mut quotas: Vec<(usize, u64, Persona)> = MIX
        .iter()
        .map(|&(persona, weight)| {
            let scaled = n as u64 * u64::from(weight);
            ((scaled / total) as usize, scaled % total, persona)
        })
        .collect();
    let assigned: usize = quotas.iter().map(|q| q.0).sum();
    let mut by_remainder: Vec<usize> = (0..quotas.len()).collect();
    // Largest remainder first; the mix order breaks ties, so the result is deterministic.
    by_remainder.sort_by(|&a, &b| quotas[b].1.cmp(&quotas[a].1).then(a.cmp(&b)));
    for &i in by_remainder.iter().take(n.saturating_sub(assigned)) {
        quotas[i].0 += 1;
    }
    // Every persona present once the population can hold them all: a persona the rounding
    // left out takes one customer from the largest group.
    if n >= quotas.len() {
        while let Some(empty) = quotas.iter().position(|q| q.0 == 0) {
            let largest = (0..quotas.len()).max_by_key(|&i| (quotas[i].0, usize::MAX - i));
            if let Some(largest) = largest {
                quotas[largest].0 -= 1;
                quotas[empty].0 += 1;
            }
        }
    }
    let mut personas: Vec<Persona> = quotas
        .iter()
        .flat_map(|&(count, _, persona)| std::iter::repeat_n(persona, count))
        .collect();
    let mut rng = ChaCha8Rng::seed_from_u64(config.seed);
    rng.set_stream(u64::MAX);
    personas.shuffle(&mut rng);
    personas
}

fn generate_customer(config: &DemoConfig, index: usize, persona: Persona) -> DemoCustomer {
    let mut rng = ChaCha8Rng::seed_from_u64(config.seed);
    rng.set_stream(index as u64);
    let id = customer_id(index);
    let profile = profiles::profile(persona, index, &id, config.as_of, &mut rng);
    let mut b = Builder::new(&mut rng, config.as_of, &id, config.history_days);
    personas::write_history(persona, &mut b, config.customers);
    add_outbound_contacts(&mut b);
    DemoCustomer {
        id,
        persona,
        profile,
        events: b.finish(),
    }
}

/// Marketing and service touches by the business. One customer in sixteen was contacted hard
/// in the last month, so the playbook's contact caps visibly suppress further contact.
fn add_outbound_contacts(b: &mut Builder) {
    let roll = b.rng.gen_range(0..100);
    let (count, newest, oldest) = match roll {
        0..=5 => (b.rng.gen_range(5..=8), 1, 29),
        6..=40 => (b.rng.gen_range(1..=2), 1, 89),
        _ => (0, 0, 0),
    };
    b.interactions(count, newest, oldest, &[InteractionKind::OutboundContact]);
}

/// What a load wrote.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct DemoSummary {
    pub customers: u64,
    pub profiles: u64,
    pub events_stored: u64,
    /// Events already stored with the same content: loading the same demo twice is harmless.
    pub duplicates: u64,
    pub elapsed: Duration,
}

/// Generates the population of `config` and writes it: profiles, then events in large batches
/// (each customer's events in order, so refunds follow their orders).
pub async fn load_demo<S: Store + ?Sized>(
    store: &S,
    config: &DemoConfig,
) -> Result<DemoSummary, StoreError> {
    let started = Instant::now();
    let data = generate(config);
    let mut summary = DemoSummary {
        customers: data.customers.len() as u64,
        ..DemoSummary::default()
    };
    let profiles: Vec<CustomerProfile> = data.profiles().cloned().collect();
    store.upsert_customers(&profiles).await?;
    summary.profiles = profiles.len() as u64;
    let events: Vec<Event> = data.customers.into_iter().flat_map(|c| c.events).collect();
    for batch in events.chunks(LOAD_BATCH) {
        let outcome = store.record_events(batch).await?;
        summary.events_stored += outcome.stored;
        summary.duplicates += outcome.duplicates;
    }
    summary.elapsed = started.elapsed();
    Ok(summary)
}
