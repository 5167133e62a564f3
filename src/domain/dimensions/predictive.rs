//! The predictive dimensions (issue 5), read from the BG/NBD and Gamma-Gamma models fitted with
//! the population snapshot:
//! - churn risk by P(alive): `HIGH` when P(alive) < `churn_high_below`, `LOW` when P(alive) >=
//!   `churn_low_at_least`, `MEDIUM` in between (the lower bound of each band is included, so a
//!   customer exactly at 0.3 is `MEDIUM` and exactly at 0.7 is `LOW`). The comparison is in
//!   floating point against the share as a double (0.3 is the double nearest 0.3): P(alive) is
//!   itself a model output, not an exact count.
//! - predicted value tier: the 80/20 rule on predicted CLV (CLV in whole minor units, ordered
//!   descending, then by customer id), with the same HIGH / MEDIUM / LOW boundaries as the value
//!   tier of spec 3.2 on profit.
//!
//! Both are `NONE` for a customer without purchases and `UNKNOWN` (insufficient data) when the
//! snapshot has no BG/NBD fit (no buyers, nobody bought twice, an old snapshot) or, for the
//! tier, no CLV. BG/NBD gives P(alive) = 1 to a buyer with no repeat purchase (dropout happens
//! only after a repeat purchase), so one-time buyers are `LOW` churn risk by this model;
//! lifecycle and activity period speak for them.

use super::classify::{Context, Decision};
use super::value::{no_purchases, pareto_tier, TierLabels};
use super::{deferred, Draft, OrNone, UNKNOWN};
use crate::domain::predictive::{CustomerPrediction, FitFailure, FitOutcome};
use crate::domain::rules::Share;

/// What the models can say about the customer being classified.
pub enum Outlook<'a> {
    NoPurchases,
    /// The snapshot has no BG/NBD fit, for this reason.
    Unfitted(&'a FitFailure),
    Predicted(CustomerPrediction),
}

impl<'a> Outlook<'a> {
    /// Predicts once per classification; both dimensions read the result.
    pub fn of(ctx: &Context<'a>) -> Self {
        let Some(days) = ctx.features.purchase_days else {
            return Outlook::NoPurchases;
        };
        match ctx.population.predictive.predict(&days) {
            Ok(prediction) => Outlook::Predicted(prediction),
            Err(failure) => Outlook::Unfitted(failure),
        }
    }

    pub fn prediction(&self) -> Option<CustomerPrediction> {
        match self {
            Outlook::Predicted(prediction) => Some(*prediction),
            _ => None,
        }
    }
}

/// A model output rounded for people: four decimals.
fn rounded(value: f64) -> f64 {
    (value * 10_000.0).round() / 10_000.0
}

fn optional(value: Option<f64>) -> OrNone<f64> {
    OrNone(value.map(rounded))
}

/// The share as the double it is compared with.
fn as_f64(share: Share) -> f64 {
    share.ppm as f64 / 1_000_000.0
}

/// Adds what the models predicted, and the summary they read, to a reason.
fn cite(reason: Draft, p: &CustomerPrediction) -> Draft {
    let (s, q) = (&p.summary, &p.prediction);
    reason
        .observed(
            "probability_alive",
            deferred(|| rounded(q.probability_alive)),
        )
        .observed(
            "expected_purchases",
            deferred(|| rounded(q.expected_purchases)),
        )
        .observed(
            "expected_average_order_value",
            deferred(|| optional(q.expected_average_order_value)),
        )
        .observed("clv", deferred(|| optional(q.clv)))
        .observed("repeat_purchases", s.frequency)
        .observed("recency", deferred(|| rounded(s.recency)))
        .observed("age", deferred(|| rounded(s.age)))
        .observed("time_unit", p.time_unit.code())
        .threshold("horizon_days", p.horizon_days)
        .threshold("annual_discount_rate", p.annual_discount_rate)
}

/// UNKNOWN, because the snapshot could not fit a model.
fn unfitted(ctx: &Context<'_>, rule: &'static str, model: &str, failure: &FitFailure) -> Decision {
    let stats = &ctx.population.predictive;
    Decision::new(
        UNKNOWN,
        [ctx.reason(rule, true)
            .observed("model", model)
            .observed("fit_outcome", failure.kind.code())
            .observed("fit_problem", &failure.message)
            .observed("buyers", stats.buyers)
            .observed("repeat_buyers", stats.repeat_buyers)],
    )
}

/// The prediction, or the decision for a customer without one (NONE, or UNKNOWN citing the
/// BG/NBD fit's failure under `rule`).
fn predicted<'o>(
    ctx: &Context<'_>,
    outlook: &'o Outlook<'_>,
    rule: &'static str,
) -> Result<&'o CustomerPrediction, Decision> {
    match outlook {
        Outlook::NoPurchases => Err(no_purchases(ctx)),
        Outlook::Unfitted(failure) => Err(unfitted(ctx, rule, "bg_nbd", failure)),
        Outlook::Predicted(p) => Ok(p),
    }
}

pub fn churn_risk(ctx: &Context<'_>, outlook: &Outlook<'_>) -> Decision {
    let p = match predicted(ctx, outlook, "churn_risk.not_fitted") {
        Ok(p) => p,
        Err(decision) => return decision,
    };
    let rules = &ctx.rules.predictive;
    let alive = p.prediction.probability_alive;
    let high = alive < as_f64(rules.churn_high_below);
    let high_reason = cite(ctx.reason("churn_risk.high", high), p)
        .threshold("churn_high_below", rules.churn_high_below);
    if high {
        return Decision::new("HIGH", [high_reason]);
    }
    let low = alive >= as_f64(rules.churn_low_at_least);
    // The first reason already cites everything else the models said.
    let low_reason = ctx
        .reason("churn_risk.low", low)
        .observed("probability_alive", deferred(|| rounded(alive)))
        .threshold("churn_low_at_least", rules.churn_low_at_least);
    Decision::new(
        if low { "LOW" } else { "MEDIUM" },
        [high_reason, low_reason],
    )
}

pub fn predicted_value_tier(ctx: &Context<'_>, outlook: &Outlook<'_>) -> Decision {
    let p = match predicted(ctx, outlook, "predicted_value_tier.not_fitted") {
        Ok(p) => p,
        Err(decision) => return decision,
    };
    let stats = &ctx.population.predictive;
    let Some(clv) = p.clv_minor else {
        // No order value: only without a Gamma-Gamma fit, for a customer with no repeat spend.
        return match &stats.gamma_gamma.outcome {
            FitOutcome::Failed(failure) => unfitted(
                ctx,
                "predicted_value_tier.not_fitted",
                "gamma_gamma",
                failure,
            ),
            FitOutcome::Fitted(_) => Decision::new(
                UNKNOWN,
                [cite(ctx.reason("predicted_value_tier.no_clv", true), p)],
            ),
        };
    };
    let rules = &ctx.rules.predictive;
    pareto_tier(
        ctx,
        &stats.value_tier,
        clv,
        (rules.high_clv_share, rules.low_customer_share),
        &TierLabels {
            high_rule: "predicted_value_tier.high_head",
            low_rule: "predicted_value_tier.low_tail",
            value: "clv_minor_units",
            high_share: "high_clv_share",
            last_high: "last_high_clv",
            first_low: "first_low_clv",
        },
        |reason| cite(reason, p),
    )
}
