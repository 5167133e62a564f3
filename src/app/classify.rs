//! Classifying customers: one, many, or for a recommendation.

use std::sync::Arc;

use super::{App, AppError};
use crate::domain::dimensions::{
    classify, classify_codes_into, classify_codes_only, Classification, ClassifyInput, CodeSink,
    CodesOnly,
};
use rayon::prelude::*;

use crate::domain::compact::CompactHistory;
use crate::domain::history::{Birthday, CustomerRef};
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
    /// Segment codes only, without the reasons behind them: several times cheaper, for bulk
    /// work whose caller does not read reasons.
    pub codes_only: bool,
}

/// A classification together with the rule set it was made with (for display texts) and the
/// birthday it read (for the playbook's birthday condition).
#[derive(Debug, Clone)]
pub struct Classified {
    pub classification: Classification,
    pub rules: Arc<VersionedRules>,
    pub birthday: Option<Birthday>,
}

/// The shared inputs of a classification: fixed once per request or per batch.
pub(crate) struct Basis {
    pub as_of: Timestamp,
    pub rules: Arc<VersionedRules>,
    pub population: Arc<PopulationStats>,
    pub explain: bool,
}

impl App {
    /// The customer id a reference points at, if stored.
    pub async fn resolve(&self, reference: &CustomerRef) -> Result<Option<String>, AppError> {
        Ok(self.store.resolve(reference).await?)
    }

    pub(crate) async fn basis(&self, options: &ClassifyOptions) -> Result<Basis, AppError> {
        let as_of = self.instant(options.as_of, "options.as_of")?;
        let rules = self.rules();
        let population = match options.snapshot {
            SnapshotChoice::Current => self.current_snapshot(),
            SnapshotChoice::AtAsOf => self.snapshot_at(as_of, &rules).await?,
        };
        Ok(Basis {
            as_of,
            rules,
            population,
            explain: !options.codes_only,
        })
    }

    /// The instant a request names in `field`, or now; one in the future is refused.
    pub(crate) fn instant(
        &self,
        as_of: Option<Timestamp>,
        field: &str,
    ) -> Result<Timestamp, AppError> {
        let now = self.now();
        let as_of = as_of.unwrap_or(now);
        if as_of > now.plus_seconds(MAX_FUTURE_SKEW_SECONDS) {
            return Err(AppError::invalid(
                field,
                format!(
                    "{} lies in the future; classify at now or earlier",
                    as_of.to_rfc3339()
                ),
            ));
        }
        Ok(as_of)
    }

    /// Loads what one reference needs: (customer id to report, history). An unknown customer
    /// has an empty history; an id reference keeps its id so callers can tell who it was.
    async fn load(
        &self,
        reference: &CustomerRef,
    ) -> Result<(String, Arc<CompactHistory>), AppError> {
        let resident = self.resident.is_loaded();
        let id = match reference {
            // Resident histories hold every stored customer: no store round trip for an id.
            CustomerRef::Id(id) if resident => Some(id.clone()),
            other => self.store.resolve(other).await?,
        };
        let Some(id) = id else {
            let echoed = match reference {
                CustomerRef::Id(id) => id.clone(),
                _ => String::new(),
            };
            return Ok((echoed, Arc::default()));
        };
        if resident {
            return Ok((id.clone(), self.resident.get(&id).unwrap_or_default()));
        }
        let history = self.store.history(&id).await?;
        Ok((id, Arc::new(CompactHistory::from_history(&history))))
    }

    /// [`App::load`] for every reference, in order. Ids are looked up among the resident
    /// histories together (a nightly batch names customers by id).
    pub(crate) async fn load_many(
        &self,
        references: &[CustomerRef],
    ) -> Vec<Result<(String, Arc<CompactHistory>), AppError>> {
        let ids: Option<Vec<&str>> = references
            .iter()
            .map(|reference| match reference {
                CustomerRef::Id(id) => Some(id.as_str()),
                _ => None,
            })
            .collect();
        if let (Some(ids), true) = (&ids, self.resident.is_loaded()) {
            let histories = self.resident.get_many(ids.iter().copied());
            return ids
                .iter()
                .zip(histories)
                .map(|(id, history)| Ok(((*id).to_owned(), history.unwrap_or_default())))
                .collect();
        }
        let mut loaded = Vec::with_capacity(references.len());
        for reference in references {
            loaded.push(self.load(reference).await);
        }
        loaded
    }

    /// Classifies one customer; an unknown one is classified from an empty history.
    pub async fn classify(
        &self,
        reference: &CustomerRef,
        options: &ClassifyOptions,
    ) -> Result<Classified, AppError> {
        let basis = self.basis(options).await?;
        let (id, history) = self.load(reference).await?;
        Ok(classify_on(&basis, &id, &history))
    }

    /// Classifies many customers against one basis; each item succeeds or fails on its own.
    /// Large batches are classified on every core, off the async workers, and each result is
    /// handed to `present` on the worker that made it, so that turning results into responses
    /// is spread over the cores too.
    pub async fn classify_many<T: Send + 'static>(
        &self,
        references: &[CustomerRef],
        options: &ClassifyOptions,
        present: impl Fn(Classified) -> T + Send + Sync + 'static,
    ) -> Result<Vec<Result<T, AppError>>, AppError> {
        self.classify_each(references, options, move |basis, id, history| {
            present(classify_on(basis, id, history))
        })
        .await
    }

    /// As [`App::classify_many`], for the codes view: each customer's codes, scores and
    /// prediction ([`CodesOnly`]) are handed to `present` with the basis they were decided on,
    /// and no full classification is built.
    pub(crate) async fn classify_many_codes<T: Send + 'static>(
        &self,
        references: &[CustomerRef],
        options: &ClassifyOptions,
        present: impl Fn(&Basis, &str, CodesOnly) -> T + Send + Sync + 'static,
    ) -> Result<Vec<Result<T, AppError>>, AppError> {
        self.classify_each(references, options, move |basis, id, history| {
            present(basis, id, classify_codes_only(input(basis, id, history)))
        })
        .await
    }

    /// Loads every referenced history and runs `each` on it, in parallel for large batches.
    async fn classify_each<T: Send + 'static>(
        &self,
        references: &[CustomerRef],
        options: &ClassifyOptions,
        each: impl Fn(&Basis, &str, &CompactHistory) -> T + Send + Sync + 'static,
    ) -> Result<Vec<Result<T, AppError>>, AppError> {
        let basis = Arc::new(self.basis(options).await?);
        let loaded = self.load_many(references).await;
        let classify_all = move || {
            loaded
                .into_par_iter()
                .map(|item| item.map(|(id, history)| each(&basis, &id, &history)))
                .collect()
        };
        if references.len() < PARALLEL_BATCH {
            return Ok(classify_all());
        }
        tokio::task::spawn_blocking(classify_all)
            .await
            .map_err(|e| AppError::Internal(format!("batch classification stopped: {e}")))
    }
}

/// Below this many customers a batch is classified in place: handing work to other threads
/// would cost more than it saves.
const PARALLEL_BATCH: usize = 64;

pub(crate) fn classify_on(
    basis: &Basis,
    customer_id: &str,
    history: &CompactHistory,
) -> Classified {
    Classified {
        classification: classify(input(basis, customer_id, history)),
        rules: basis.rules.clone(),
        birthday: history.profile.as_ref().and_then(|p| p.birthday),
    }
}

/// The codes of one customer on `basis`, handed to `sink` as they are decided: for counting.
pub(crate) fn codes_into(
    basis: &Basis,
    customer_id: &str,
    history: &CompactHistory,
    sink: &mut impl CodeSink,
) {
    let input = ClassifyInput {
        explain: false,
        ..input(basis, customer_id, history)
    };
    classify_codes_into(input, sink);
}

/// What classifying one customer on `basis` reads.
fn input<'a>(
    basis: &'a Basis,
    customer_id: &'a str,
    history: &'a CompactHistory,
) -> ClassifyInput<'a> {
    ClassifyInput {
        customer_id,
        history,
        as_of: basis.as_of,
        rules: &basis.rules,
        population: &basis.population,
        explain: basis.explain,
    }
}
