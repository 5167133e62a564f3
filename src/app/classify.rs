//! Classifying customers: one, many, or for a recommendation.

use std::sync::Arc;

use super::{App, AppError};
use crate::domain::dimensions::{classify, Classification, ClassifyInput};
use crate::domain::history::{CustomerProfile, CustomerRef, History};
use crate::domain::population::PopulationStats;
use crate::domain::rules::VersionedRules;
use crate::domain::time::Timestamp;
use crate::domain::validate::MAX_FUTURE_SKEW_SECONDS;

/// Which population snapshot a request is classified against.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub enum SnapshotChoice {
    /// The shared current snapshot.
    #[default]
    Current,
    /// A snapshot taken at the request's `as_of` (audits, backtests).
    AtAsOf,
}

#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct ClassifyOptions {
    /// `None` means now.
    pub as_of: Option<Timestamp>,
    pub snapshot: SnapshotChoice,
}

/// A classification together with the rule set it was made with (for display texts) and the
/// profile it read (for birthday and similar playbook conditions).
#[derive(Debug, Clone)]
pub struct Classified {
    pub classification: Classification,
    pub rules: Arc<VersionedRules>,
    pub profile: Option<CustomerProfile>,
}

/// The shared inputs of a classification: fixed once per request or per batch.
pub(crate) struct Basis {
    pub as_of: Timestamp,
    pub rules: Arc<VersionedRules>,
    pub population: Arc<PopulationStats>,
}

impl App {
    /// The customer id a reference points at, if stored.
    pub async fn resolve(&self, reference: &CustomerRef) -> Result<Option<String>, AppError> {
        Ok(self.store.resolve(reference).await?)
    }

    pub(crate) async fn basis(&self, options: &ClassifyOptions) -> Result<Basis, AppError> {
        let now = self.now();
        let as_of = options.as_of.unwrap_or(now);
        if as_of > now.plus_seconds(MAX_FUTURE_SKEW_SECONDS) {
            return Err(AppError::invalid(
                "options.as_of",
                format!(
                    "{} lies in the future; classify at now or earlier",
                    as_of.to_rfc3339()
                ),
            ));
        }
        let rules = self.rules();
        let population = match options.snapshot {
            SnapshotChoice::Current => self.current_snapshot(),
            SnapshotChoice::AtAsOf => self.snapshot_at(as_of, &rules).await?,
        };
        Ok(Basis {
            as_of,
            rules,
            population,
        })
    }

    /// Loads what one reference needs: (customer id to report, history). An unknown customer
    /// has an empty history; an id reference keeps its id so callers can tell who it was.
    async fn load(&self, reference: &CustomerRef) -> Result<(String, History), AppError> {
        match self.store.resolve(reference).await? {
            Some(id) => {
                let history = self.store.history(&id).await?;
                Ok((id, history))
            }
            None => {
                let id = match reference {
                    CustomerRef::Id(id) => id.clone(),
                    _ => String::new(),
                };
                Ok((id, History::default()))
            }
        }
    }

    pub(crate) fn classify_loaded(
        &self,
        basis: &Basis,
        customer_id: &str,
        history: History,
    ) -> Classified {
        let classification = classify(ClassifyInput {
            customer_id,
            history: &history,
            as_of: basis.as_of,
            rules: &basis.rules,
            population: &basis.population,
        });
        Classified {
            classification,
            rules: basis.rules.clone(),
            profile: history.profile,
        }
    }

    /// Classifies one customer; an unknown one is classified from an empty history.
    pub async fn classify(
        &self,
        reference: &CustomerRef,
        options: &ClassifyOptions,
    ) -> Result<Classified, AppError> {
        let basis = self.basis(options).await?;
        let (id, history) = self.load(reference).await?;
        Ok(self.classify_loaded(&basis, &id, history))
    }

    /// Classifies many customers against one basis; each item succeeds or fails on its own.
    pub async fn classify_many(
        &self,
        references: &[CustomerRef],
        options: &ClassifyOptions,
    ) -> Result<Vec<Result<Classified, AppError>>, AppError> {
        let basis = self.basis(options).await?;
        let mut results = Vec::with_capacity(references.len());
        for reference in references {
            let result = self
                .load(reference)
                .await
                .map(|(id, history)| self.classify_loaded(&basis, &id, history));
            results.push(result);
        }
        Ok(results)
    }
}
