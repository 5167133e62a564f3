//! Per-customer predictions and customer lifetime value.
//!
//! CLV over a horizon of H days is the discounted expected spend:
//! Σₖ (E[Y(eₖ)] − E[Y(eₖ₋₁)]) · AOV · (1 + d)^(−eₖ / 365),
//! where the periods are consecutive [`CLV_PERIOD_DAYS`]-day months ending at eₖ = min(30k, H)
//! (the last one possibly shorter), E[Y(t)] is the BG/NBD conditional expectation, AOV the
//! Gamma-Gamma expected average order value, and d the annual discount rate. Each period's
//! purchases are discounted at its end, which for full months is the monthly rate
//! (1 + d)^(30/365) − 1 compounded k times. Purchases and order values are taken as
//! independent, as the Gamma-Gamma model assumes.

use serde::{Deserialize, Serialize};

use super::bgnbd::{BgNbdFit, BgNbdParams};
use super::gamma_gamma::GammaGammaFit;
use super::summary::{CustomerSummary, TimeUnit};

/// Length of a discounting period, in days.
pub const CLV_PERIOD_DAYS: u32 = 30;
const DAYS_PER_YEAR: f64 = 365.0;

/// What the models predict for one customer.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct Prediction {
    /// P(alive | x, t_x, T), in [0, 1]; 1 for a customer who has not bought again yet.
    pub probability_alive: f64,
    /// E[Y(horizon) | x, t_x, T]: expected purchase days within the horizon.
    pub expected_purchases: f64,
    /// Expected value of one future purchase day; `None` without a Gamma-Gamma fit and
    /// without a positive repeat spend of the customer's own.
    pub expected_average_order_value: Option<f64>,
    /// Discounted expected spend over the horizon (module doc); `None` when the average order
    /// value is.
    pub clv: Option<f64>,
}

/// The part of a prediction that depends on the customer's x and T alone: E[Y(H)] and the
/// discounted sum Σₖ ΔE[Y]ₖ · discountₖ of a customer known to be alive. P(alive) is a common
/// non-negative factor of every period's expectation, so a customer's own figures are these
/// times P(alive). Customers sharing (x, T) share a curve, which is what makes it worth keeping
/// (see [`super::memo`]).
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct AliveCurve {
    pub expected_purchases: f64,
    pub discounted_purchases: f64,
}

/// Predicts one customer over the next `horizon_days` days. `unit` must be the time unit of
/// `summary` and of the summaries `bg` was fitted on. Without a Gamma-Gamma fit the expected
/// order value falls back to the customer's own mean repeat spend, if positive. A discount
/// rate that is not finite or not above −100 % is treated as 0.
pub fn predict(
    bg: &BgNbdFit,
    gg: Option<&GammaGammaFit>,
    summary: &CustomerSummary,
    horizon_days: u32,
    annual_discount_rate: f64,
    unit: TimeUnit,
) -> Prediction {
    let curve = alive_curve(
        &bg.params(),
        summary.frequency,
        summary.age,
        horizon_days,
        annual_discount_rate,
        unit,
    );
    predict_on_curve(bg, gg, summary, curve)
}

/// [`predict`] with the customer's [`AliveCurve`] already at hand.
pub fn predict_on_curve(
    bg: &BgNbdFit,
    gg: Option<&GammaGammaFit>,
    summary: &CustomerSummary,
    curve: AliveCurve,
) -> Prediction {
    let alive = bg.params().probability_alive(summary);
    let expected_average_order_value = match gg {
        Some(gg) => Some(gg.expected_average_order_value(summary)),
        None => summary
            .mean_repeat_spend
            .filter(|&m| summary.frequency > 0 && m > 0.0 && m.is_finite()),
    };
    Prediction {
        probability_alive: alive,
        expected_purchases: alive * curve.expected_purchases,
        expected_average_order_value,
        clv: expected_average_order_value.map(|value| value * (alive * curve.discounted_purchases)),
    }
}

/// The [`AliveCurve`] of x = `frequency` and T = `age` over the 30-day periods of the horizon.
pub fn alive_curve(
    params: &BgNbdParams,
    frequency: u32,
    age: f64,
    horizon_days: u32,
    annual_discount_rate: f64,
    unit: TimeUnit,
) -> AliveCurve {
    let rate = if annual_discount_rate.is_finite() && annual_discount_rate > -1.0 {
        annual_discount_rate
    } else {
        0.0
    };
    let ln_growth = rate.ln_1p();
    // Period ends e_k = min(30k, H), all evaluated at once (they share most of the work).
    let ends: Vec<u32> = (1..=horizon_days.div_ceil(CLV_PERIOD_DAYS))
        .map(|k| k.saturating_mul(CLV_PERIOD_DAYS).min(horizon_days))
        .collect();
    let horizons: Vec<f64> = ends
        .iter()
        .map(|&end| unit.from_days(f64::from(end)))
        .collect();
    let expected = params.purchases_if_alive_at(frequency, age, &horizons);
    let (mut cumulative, mut discounted) = (0.0_f64, 0.0);
    for (&end, next) in ends.iter().zip(expected) {
        // E[Y(t)] is non-decreasing; max() keeps rounding noise from going negative.
        let increment = (next - cumulative).max(0.0);
        discounted += increment * (-ln_growth * f64::from(end) / DAYS_PER_YEAR).exp();
        cumulative = cumulative.max(next);
    }
    AliveCurve {
        expected_purchases: cumulative,
        discounted_purchases: discounted,
    }
}
