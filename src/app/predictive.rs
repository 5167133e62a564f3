//! The predictive models of a population snapshot (GetPredictiveModel). They are fitted with
//! the snapshot (see `snapshot::compute_population`), so asking for them never fits anything on
//! the request path, except that a snapshot at a past instant is computed on first use, as
//! `SNAPSHOT_MODE_AT_AS_OF` does for classifications.

use std::sync::Arc;

use super::{App, AppError, ClassifyOptions, SnapshotChoice};
use crate::domain::population::PopulationStats;
use crate::domain::rules::VersionedRules;
use crate::domain::time::Timestamp;
use crate::domain::validate::FieldViolation;

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
        let options = ClassifyOptions {
            as_of,
            snapshot: match as_of {
                Some(_) => SnapshotChoice::AtAsOf,
                None => SnapshotChoice::Current,
            },
            codes_only: true,
        };
        let basis = self.basis(&options).await.map_err(top_level_as_of)?;
        Ok(PredictiveModel {
            snapshot: basis.population,
            rules: basis.rules,
        })
    }
}

/// `basis` names the instant `options.as_of`, as the classifying requests hold it; here it is
/// the request's own top-level `as_of`.
fn top_level_as_of(error: AppError) -> AppError {
    match error {
        AppError::Invalid(violations) => AppError::Invalid(
            violations
                .into_iter()
                .map(|v| FieldViolation {
                    field: match v.field.as_str() {
                        "options.as_of" => "as_of".to_owned(),
                        _ => v.field,
                    },
                    description: v.description,
                })
                .collect(),
        ),
        other => other,
    }
}
