//! A synthetic, deterministic customer population for demos and tests: a weighted mix of the
//! personas of the spec's sources (champions, dealers, bargain hunters, angry complainers, ...),
//! whose classification at `as_of` fills every segment of every dimension.
//!
//! [`generate`] is pure (a seeded `ChaCha8Rng`, one stream per customer), and [`Generator`]
//! gives the same customers a range at a time; [`load_demo`] writes them through a [`Store`]
//! chunk by chunk, so a population of millions needs the memory of one chunk, and can write
//! the orders as CSV on the way ([`orders_csv`]).
//!
//! [`Store`]: crate::store::Store

mod builder;
#[cfg(test)]
mod chunk_tests;
mod load;
pub mod orders_csv;
mod personas;
mod profiles;
#[cfg(test)]
mod tests;

use rand::seq::SliceRandom;
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;

use crate::domain::history::{CustomerProfile, Event, History, InteractionKind};
use crate::domain::time::Timestamp;

use builder::Builder;
pub use load::{load_demo, load_demo_with, DemoError, DemoSummary, LoadOptions};
pub use personas::{Persona, MIX};

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

/// The id of the customer with 0-based `index` in a population of `population`: `c00001`,
/// `c00002`, ... The number is zero-padded to five digits, or to as many as the population
/// has when that is more (`c0000001` ... `c1000000` for a million), so every id of one
/// population has the same length and byte order equals index order: keyset pages and
/// `histories` read the population in generation order, and ids below 100,000 customers stay
/// what they always were.
pub fn customer_id(index: usize, population: usize) -> String {
    format!("c{:0width$}", index + 1, width = id_width(population))
}

/// Digits of the largest id number (the population), at least five.
fn id_width(population: usize) -> usize {
    (population.max(1).ilog10() as usize + 1).max(5)
}

/// Generates the population of `config`: the same config always gives the same data.
pub fn generate(config: &DemoConfig) -> DemoData {
    let generator = Generator::new(config);
    DemoData {
        customers: generator.range(0..generator.len()),
    }
}

/// The population of a config, generated a range of customers at a time: the personas are
/// assigned up front (one byte per customer), histories on demand. Every customer has an RNG
/// stream of its own, so any range gives exactly the customers [`generate`] gives there.
#[derive(Debug, Clone)]
pub struct Generator {
    config: DemoConfig,
    personas: Vec<Persona>,
}

impl Generator {
    pub fn new(config: &DemoConfig) -> Self {
        Self {
            config: config.clone(),
            personas: assign_personas(config),
        }
    }

    /// Customers in the population.
    pub fn len(&self) -> usize {
        self.personas.len()
    }

    pub fn is_empty(&self) -> bool {
        self.personas.is_empty()
    }

    /// The customers with 0-based indices in `range` (cut to the population), in id order.
    pub fn range(&self, range: std::ops::Range<usize>) -> Vec<DemoCustomer> {
        let end = range.end.min(self.len());
        let start = range.start.min(end);
        (start..end)
            .map(|index| generate_customer(&self.config, index, self.personas[index]))
            .collect()
    }

    /// The profiles of the customers with indices in `range`, in id order: those of
    /// [`Generator::range`], without generating histories (a profile is the first thing drawn
    /// from a customer's stream).
    pub fn profiles(&self, range: std::ops::Range<usize>) -> Vec<CustomerProfile> {
        let end = range.end.min(self.len());
        let start = range.start.min(end);
        (start..end)
            .filter_map(|index| {
                let mut rng = customer_rng(&self.config, index);
                let id = customer_id(index, self.config.customers);
                profiles::profile(
                    self.personas[index],
                    index,
                    &id,
                    self.config.as_of,
                    &mut rng,
                )
            })
            .collect()
    }

    /// The population in consecutive chunks of `size` customers (the last one may be short).
    pub fn chunks(&self, size: usize) -> impl Iterator<Item = Vec<DemoCustomer>> + '_ {
        let size = size.max(1);
        (0..self.len())
            .step_by(size)
            .map(move |start| self.range(start..start.saturating_add(size)))
    }
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

/// The random stream of customer `index`: its own, so customers can be generated in any
/// order and any range.
fn customer_rng(config: &DemoConfig, index: usize) -> ChaCha8Rng {
    let mut rng = ChaCha8Rng::seed_from_u64(config.seed);
    rng.set_stream(index as u64);
    rng
}

fn generate_customer(config: &DemoConfig, index: usize, persona: Persona) -> DemoCustomer {
    let mut rng = customer_rng(config, index);
    let id = customer_id(index, config.customers);
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
