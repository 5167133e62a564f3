//! The predictive part of a population snapshot: BG/NBD and Gamma-Gamma fitted once per
//! snapshot over every buyer's summary, the outcome of each fit (a population the models cannot
//! be fitted on is a recorded, typed outcome, never a panic), and the boundaries of the
//! predicted value tier (the 80/20 rule on predicted CLV, as the value tier of spec 3.2 does on
//! profit). Built by [`fit_predictive`]; read per customer by [`PredictiveStats::predict`].
//!
//! Every buyer counts (not only the active buyers of the value tier): a buyer who has not
//! bought for years is exactly what the dropout part of BG/NBD learns from.

use rayon::prelude::*;
use serde::{Deserialize, Serialize};

use super::clv::predict_on_curve;
use super::memo::{CurveKey, CurveMemo, CurveSetting};
use super::{
    fit_bg_nbd, fit_gamma_gamma, BgNbdFit, CustomerSummary, FitError, GammaGammaFit, Prediction,
    PurchaseDays, TimeUnit,
};
use crate::domain::population::{pareto_bounds, ValueTierBounds};
use crate::domain::rules::{PredictiveRules, Share};

/// Why a model has no fit in a snapshot.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum FitFailureKind {
    /// The snapshot was computed before predictive models existed (an older stored one).
    NotFitted,
    NoBuyers,
    NoRepeatBuyers,
    InvalidSummary,
    NonFiniteLikelihood,
}

impl FitFailureKind {
    pub fn code(self) -> &'static str {
        match self {
            Self::NotFitted => "NOT_FITTED",
            Self::NoBuyers => "NO_BUYERS",
            Self::NoRepeatBuyers => "NO_REPEAT_BUYERS",
            Self::InvalidSummary => "INVALID_SUMMARY",
            Self::NonFiniteLikelihood => "NON_FINITE_LIKELIHOOD",
        }
    }
}

/// A failed fit: its kind and a sentence for people.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct FitFailure {
    pub kind: FitFailureKind,
    pub message: String,
}

impl From<&FitError> for FitFailure {
    fn from(error: &FitError) -> Self {
        let kind = match error {
            FitError::NoBuyers => FitFailureKind::NoBuyers,
            FitError::NoRepeatBuyers => FitFailureKind::NoRepeatBuyers,
            FitError::InvalidSummary { .. } => FitFailureKind::InvalidSummary,
            FitError::NonFiniteLikelihood => FitFailureKind::NonFiniteLikelihood,
        };
        Self {
            kind,
            message: error.to_string(),
        }
    }
}

/// A fitted model, or why there is none.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum FitOutcome<T> {
    Fitted(T),
    Failed(FitFailure),
}

impl<T> FitOutcome<T> {
    pub fn fitted(&self) -> Option<&T> {
        match self {
            Self::Fitted(fit) => Some(fit),
            Self::Failed(_) => None,
        }
    }
}

/// One model's outcome and how long fitting it took (wall clock; not part of the snapshot id).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ModelFit<T> {
    pub outcome: FitOutcome<T>,
    pub fit_millis: u64,
}

impl<T> Default for ModelFit<T> {
    /// The outcome a snapshot stored before predictive models existed reads as.
    fn default() -> Self {
        Self {
            outcome: FitOutcome::Failed(FitFailure {
                kind: FitFailureKind::NotFitted,
                message: "this snapshot holds no predictive fit; refresh it".to_owned(),
            }),
            fit_millis: 0,
        }
    }
}

/// The predictive models of one snapshot and the settings they were fitted and applied with.
/// Predictions use these settings (not the rule set's, should it have changed since), so a
/// customer's CLV is always comparable with the tier boundaries beside it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct PredictiveStats {
    pub time_unit: TimeUnit,
    pub horizon_days: u32,
    pub annual_discount_rate: Share,
    /// Buyers summarised (customers with a purchase at or before `as_of`).
    pub buyers: u64,
    /// Buyers with at least one repeat purchase day.
    pub repeat_buyers: u64,
    pub bg_nbd: ModelFit<BgNbdFit>,
    pub gamma_gamma: ModelFit<GammaGammaFit>,
    /// Predicted value tier: the 80/20 boundaries over every buyer's CLV rounded to minor units
    /// (the marks' `profit` holds that CLV), ordered by CLV descending, then customer id.
    pub value_tier: ValueTierBounds,
    /// The alive curves of this snapshot's buyers and of those asked for since: a cache that
    /// replicas rebuild as they go, so it is not stored.
    #[serde(skip)]
    pub curves: std::sync::Arc<CurveMemo>,
}

impl Default for PredictiveStats {
    fn default() -> Self {
        Self {
            time_unit: TimeUnit::Days,
            horizon_days: 365,
            annual_discount_rate: Share::from_ppm(100_000),
            buyers: 0,
            repeat_buyers: 0,
            bg_nbd: ModelFit::default(),
            gamma_gamma: ModelFit::default(),
            value_tier: ValueTierBounds::default(),
            curves: Default::default(),
        }
    }
}

/// What the models say about one customer, with the summary they read.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct CustomerPrediction {
    pub summary: CustomerSummary,
    pub prediction: Prediction,
    /// The CLV rounded to whole minor units: the predicted value tier's ordering key. `None`
    /// when there is no CLV (no spend model and no repeat spend of the customer's own).
    pub clv_minor: Option<i64>,
    pub time_unit: TimeUnit,
    pub horizon_days: u32,
    pub annual_discount_rate: Share,
}

impl PredictiveStats {
    /// The prediction for a buyer; the BG/NBD failure when the snapshot has no fit.
    pub fn predict(&self, days: &PurchaseDays) -> Result<CustomerPrediction, &FitFailure> {
        match &self.bg_nbd.outcome {
            FitOutcome::Fitted(bg) => {
                Ok(self.predict_summary(bg, days, days.summary(self.time_unit)))
            }
            FitOutcome::Failed(failure) => Err(failure),
        }
    }

    fn curve_setting(&self, bg: &BgNbdFit) -> CurveSetting {
        CurveSetting {
            params: bg.params(),
            horizon_days: self.horizon_days,
            annual_discount_rate: self.annual_discount_rate.ppm as f64 / 1_000_000.0,
            unit: self.time_unit,
        }
    }

    /// The prediction of a buyer with these purchase days, whose summary is `summary`.
    fn predict_summary(
        &self,
        bg: &BgNbdFit,
        days: &PurchaseDays,
        summary: CustomerSummary,
    ) -> CustomerPrediction {
        let setting = self.curve_setting(bg);
        let key = curve_key(days);
        let curve = self.curves.curve(setting, key, || setting.curve(key));
        let prediction = predict_on_curve(bg, self.gamma_gamma.outcome.fitted(), &summary, curve);
        CustomerPrediction {
            summary,
            prediction,
            // `as` saturates; a CLV is finite and non-negative (see `clv`).
            clv_minor: prediction.clv.map(|clv| clv.round() as i64),
            time_unit: self.time_unit,
            horizon_days: self.horizon_days,
            annual_discount_rate: self.annual_discount_rate,
        }
    }
}

/// Runs a closure and returns the milliseconds it took: the caller's stopwatch, so that the
/// domain never reads a clock (tests pass one that returns 0).
pub type Stopwatch<'a> = &'a (dyn Fn(&mut dyn FnMut()) -> u64 + Sync);

/// Fits both models over every buyer's purchase days and computes the predicted value tier.
/// `buyers` are (customer id, purchase days) in any fixed order (the snapshot passes id order,
/// so every replica fits the same numbers). Predictions run on every core.
pub fn fit_predictive<S: AsRef<str> + Sync>(
    buyers: &[(S, PurchaseDays)],
    rules: &PredictiveRules,
    stopwatch: Stopwatch<'_>,
) -> PredictiveStats {
    let unit = rules.time_unit;
    let summaries: Vec<CustomerSummary> = buyers
        .par_iter()
        .map(|(_, days)| days.summary(unit))
        .collect();

    let mut bg = Err(FitError::NoBuyers);
    let bg_millis = stopwatch(&mut || bg = fit_bg_nbd(&summaries));
    let mut gg = Err(FitError::NoBuyers);
    let gg_millis = stopwatch(&mut || gg = fit_gamma_gamma(&summaries));

    let mut stats = PredictiveStats {
        time_unit: unit,
        horizon_days: rules.horizon_days,
        annual_discount_rate: rules.annual_discount_rate,
        buyers: summaries.len() as u64,
        repeat_buyers: summaries.iter().filter(|s| s.frequency > 0).count() as u64,
        bg_nbd: ModelFit {
            outcome: outcome(bg.and_then(finite_bg)),
            fit_millis: bg_millis,
        },
        gamma_gamma: ModelFit {
            outcome: outcome(gg.and_then(finite_gg)),
            fit_millis: gg_millis,
        },
        value_tier: ValueTierBounds::default(),
        curves: Default::default(),
    };
    if let FitOutcome::Fitted(bg) = &stats.bg_nbd.outcome {
        // Each distinct (x, T) once; every buyer's prediction then reads its curve.
        let setting = stats.curve_setting(bg);
        let keys = buyers.iter().map(|(_, days)| curve_key(days)).collect();
        stats.curves.fill(setting, keys, |key| setting.curve(key));
        let mut ranked: Vec<(i64, &str)> = buyers
            .par_iter()
            .zip(summaries.par_iter())
            .filter_map(|((id, days), summary)| {
                let clv = stats.predict_summary(bg, days, *summary).clv_minor?;
                Some((clv, id.as_ref()))
            })
            .collect();
        // One order, independent of how the buyers came: CLV descending, then id ascending.
        ranked.par_sort_unstable_by(|a, b| b.0.cmp(&a.0).then_with(|| a.1.cmp(b.1)));
        stats.value_tier = pareto_bounds(
            &ranked,
            |&(clv, id)| (clv, id),
            rules.high_clv_share,
            rules.low_customer_share,
        );
    }
    stats
}

/// A buyer's [`CurveKey`]: repeat purchase days and age in whole days.
fn curve_key(days: &PurchaseDays) -> CurveKey {
    (days.repeat_days, days.as_of_day - days.first_day)
}

fn outcome<T>(result: Result<T, FitError>) -> FitOutcome<T> {
    match result {
        Ok(fit) => FitOutcome::Fitted(fit),
        Err(error) => FitOutcome::Failed(FitFailure::from(&error)),
    }
}

/// Snapshots are stored as JSON, which has no NaN or infinity: a fit must be finite to be kept.
fn finite_bg(fit: BgNbdFit) -> Result<BgNbdFit, FitError> {
    let values = [fit.r, fit.alpha, fit.a, fit.b, fit.log_likelihood];
    if values.iter().all(|v| v.is_finite()) {
        Ok(fit)
    } else {
        Err(FitError::NonFiniteLikelihood)
    }
}

fn finite_gg(fit: GammaGammaFit) -> Result<GammaGammaFit, FitError> {
    let values = [
        fit.p,
        fit.q,
        fit.v,
        fit.log_likelihood,
        fit.observed_mean_spend,
    ];
    if values.iter().all(|v| v.is_finite()) {
        Ok(fit)
    } else {
        Err(FitError::NonFiniteLikelihood)
    }
}
