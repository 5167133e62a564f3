//! Predictive results -> proto: a customer's scores, and the models of a snapshot.

use super::classification::snapshot_info_to_proto;
use crate::api::pb;
use crate::domain::population::{PopulationStats, ValueTierBounds};
use crate::domain::predictive::{
    BgNbdFit, CustomerPrediction, FitFailureKind, FitOutcome, GammaGammaFit, ModelFit, TimeUnit,
};
use crate::domain::rules::Share;

pub fn time_unit_to_proto(unit: TimeUnit) -> i32 {
    match unit {
        TimeUnit::Days => pb::TimeUnit::Days as i32,
        TimeUnit::Weeks => pb::TimeUnit::Weeks as i32,
    }
}

fn share_to_f64(share: Share) -> f64 {
    share.ppm as f64 / 1_000_000.0
}

/// One customer's predictions and the summary they were made from.
pub fn predictive_scores_to_proto(p: &CustomerPrediction) -> pb::PredictiveScores {
    pb::PredictiveScores {
        probability_alive: p.prediction.probability_alive,
        expected_purchases: p.prediction.expected_purchases,
        expected_average_order_value: p.prediction.expected_average_order_value,
        clv: p.prediction.clv,
        horizon_days: p.horizon_days,
        annual_discount_rate: share_to_f64(p.annual_discount_rate),
        frequency: p.summary.frequency,
        recency: p.summary.recency,
        age: p.summary.age,
        mean_repeat_spend: p.summary.mean_repeat_spend,
        time_unit: time_unit_to_proto(p.time_unit),
    }
}

fn fit_status(kind: FitFailureKind) -> pb::FitStatus {
    match kind {
        FitFailureKind::NotFitted => pb::FitStatus::NotFitted,
        FitFailureKind::NoBuyers => pb::FitStatus::NoBuyers,
        FitFailureKind::NoRepeatBuyers => pb::FitStatus::NoRepeatBuyers,
        FitFailureKind::InvalidSummary => pb::FitStatus::InvalidSummary,
        FitFailureKind::NonFiniteLikelihood => pb::FitStatus::NonFiniteLikelihood,
    }
}

/// (status, failure text) of a model's outcome.
fn status_of<T>(fit: &ModelFit<T>) -> (i32, String) {
    match &fit.outcome {
        FitOutcome::Fitted(_) => (pb::FitStatus::Fitted as i32, String::new()),
        FitOutcome::Failed(failure) => (fit_status(failure.kind) as i32, failure.message.clone()),
    }
}

fn bg_nbd_to_proto(model: &ModelFit<BgNbdFit>) -> pb::BgNbdModel {
    let (status, failure) = status_of(model);
    let base = pb::BgNbdModel {
        status,
        failure,
        fit_millis: model.fit_millis,
        ..pb::BgNbdModel::default()
    };
    match model.outcome.fitted() {
        Some(fit) => pb::BgNbdModel {
            r: fit.r,
            alpha: fit.alpha,
            a: fit.a,
            b: fit.b,
            log_likelihood: fit.log_likelihood,
            customers: fit.customers,
            iterations: fit.iterations,
            converged: fit.converged,
            ..base
        },
        None => base,
    }
}

fn gamma_gamma_to_proto(model: &ModelFit<GammaGammaFit>) -> pb::GammaGammaModel {
    let (status, failure) = status_of(model);
    let base = pb::GammaGammaModel {
        status,
        failure,
        fit_millis: model.fit_millis,
        ..pb::GammaGammaModel::default()
    };
    match model.outcome.fitted() {
        Some(fit) => pb::GammaGammaModel {
            p: fit.p,
            q: fit.q,
            v: fit.v,
            log_likelihood: fit.log_likelihood,
            customers: fit.customers,
            iterations: fit.iterations,
            converged: fit.converged,
            population_mean_spend: fit.population_mean_spend(),
            ..base
        },
        None => base,
    }
}

fn tier_bounds_to_proto(bounds: &ValueTierBounds) -> pb::PredictedValueTierBounds {
    pb::PredictedValueTierBounds {
        high_customers: bounds.high_count,
        low_customers: bounds.low_count,
        last_high_clv: bounds.last_high.as_ref().map(|m| m.profit),
        last_high_customer_id: bounds
            .last_high
            .as_ref()
            .map(|m| m.customer_id.clone())
            .unwrap_or_default(),
        first_low_clv: bounds.first_low.as_ref().map(|m| m.profit),
        first_low_customer_id: bounds
            .first_low
            .as_ref()
            .map(|m| m.customer_id.clone())
            .unwrap_or_default(),
        total_clv: i64::try_from(bounds.total_positive_profit).unwrap_or(i64::MAX),
    }
}

/// The models of a snapshot, as GetPredictiveModel answers.
pub fn predictive_model_to_proto(
    stats: &PopulationStats,
    rule_set_version: &str,
) -> pb::GetPredictiveModelResponse {
    let p = &stats.predictive;
    pb::GetPredictiveModelResponse {
        snapshot: Some(snapshot_info_to_proto(&stats.info)),
        rule_set_version: rule_set_version.to_owned(),
        time_unit: time_unit_to_proto(p.time_unit),
        horizon_days: p.horizon_days,
        annual_discount_rate: share_to_f64(p.annual_discount_rate),
        buyers: p.buyers,
        repeat_buyers: p.repeat_buyers,
        bg_nbd: Some(bg_nbd_to_proto(&p.bg_nbd)),
        gamma_gamma: Some(gamma_gamma_to_proto(&p.gamma_gamma)),
        predicted_value_tier: Some(tier_bounds_to_proto(&p.value_tier)),
    }
}
