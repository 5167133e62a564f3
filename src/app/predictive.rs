//! The predictive models of a population snapshot (GetPredictiveModel). They are fitted with
//! the snapshot (see `snapshot::compute_population`), so asking for them never fits anything on
//! the request path, except that a snapshot at a past instant is computed on first use, as
//! `SNAPSHOT_MODE_AT_AS_OF` does for classifications.

use std::sync::Arc;

use super::{App, AppError};
use crate::domain::population::PopulationStats;
use crate::domain::rules::VersionedRules;
use crate::domain::time::Timestamp;

/// A snapshot (its predictive models included) and the rule set in force.
#[derive(Debug, Clone)]
pub struct PredictiveModel {
    pub snapshot: Arc<PopulationStats>,
    pub rules: Arc<VersionedRules>,
}

impl App {
    /// The current snapshot's models, or with `as_of` those of the snapshot taken at exactly
    /// that instant (computed once, then cached). An `as_of` in the future is refused.
    pub async fn predictive_model(
        &self,
        as_of: Option<Timestamp>,
    ) -> Result<PredictiveModel, AppError> {
        let instant = self.instant(as_of, "as_of")?;
        let rules = self.rules();
        let snapshot = match as_of {
            Some(_) => self.snapshot_at(instant, &rules).await?,
            None => self.current_snapshot(),
        };
        Ok(PredictiveModel { snapshot, rules })
    }
}
