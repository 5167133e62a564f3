//! The pure domain core: history types, features, population statistics, the 15 dimensions,
//! the playbook and the rule set. No I/O here: no tonic, no sqlx, no tokio, no clock.

pub mod compact;
pub mod dimensions;
pub mod features;
pub mod history;
pub mod playbook;
pub mod population;
pub mod predictive;
pub mod prefetch;
pub mod rules;
pub mod time;
pub mod validate;

#[cfg(test)]
pub(crate) mod testkit;
