//! The Gamma-Gamma model of monetary value (Fader & Hardie 2013, "The Gamma-Gamma Model of
//! Monetary Value"): a customer's transaction values are i.i.d. Gamma(p, ν) (shape p, rate ν),
//! and ν ~ Gamma(q, v) across customers, independently of the purchase process. So the mean
//! value of a customer's transactions is E(Z) = p/ν, with population mean v·p/(q−1) when q > 1.
//!
//! The fit uses repeat buyers only (x ≥ 1 with a positive mean repeat spend m̄), as the note
//! prescribes: the first purchase is not part of m̄. Spends are divided by their mean before
//! fitting (v scales with them, p and q do not), so the bounds do not depend on the currency
//! unit. Customers with identical (x, m̄) share one likelihood term.

use serde::{Deserialize, Serialize};

use super::special::ln_gamma;
use super::staged::{self, Likelihood};
use super::summary::CustomerSummary;
use super::{run_lengths, FitError};

/// Gamma-Gamma parameters: p the transaction-value shape; q, v the shape and rate of ν.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct GammaGammaParams {
    pub p: f64,
    pub q: f64,
    pub v: f64,
}

impl GammaGammaParams {
    /// ln f(m̄ | p, q, v, x) of the mean m̄ > 0 of x ≥ 1 transaction values:
    /// lnΓ(px+q) − lnΓ(px) − lnΓ(q) + q ln v + (px−1) ln m̄ + px ln x − (px+q) ln(x m̄ + v).
    pub fn log_likelihood(&self, frequency: u32, mean_spend: f64) -> f64 {
        let Self { p, q, v } = *self;
        let x = f64::from(frequency);
        let px = p * x;
        ln_gamma(px + q) - ln_gamma(px) - ln_gamma(q)
            + q * v.ln()
            + (px - 1.0) * mean_spend.ln()
            + px * x.ln()
            - (px + q) * (x * mean_spend + v).ln()
    }

    /// The population mean transaction value v·p/(q−1); `None` unless q > 1 (infinite mean).
    pub fn population_mean(&self) -> Option<f64> {
        (self.q > 1.0).then(|| self.v * self.p / (self.q - 1.0))
    }

    /// E[Z | x, m̄] = (q−1)/(px+q−1) · v·p/(q−1) + px/(px+q−1) · m̄, a weighted average of the
    /// population mean and the customer's own mean; `None` unless q > 1.
    pub fn conditional_mean(&self, frequency: u32, mean_spend: f64) -> Option<f64> {
        let px = self.p * f64::from(frequency);
        (self.q > 1.0).then(|| (self.v * self.p + px * mean_spend) / (px + self.q - 1.0))
    }
}

/// A fitted Gamma-Gamma model (v in the currency unit of the spends it was fitted on).
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct GammaGammaFit {
    pub p: f64,
    pub q: f64,
    pub v: f64,
    /// The maximised total log-likelihood, in the original currency unit.
    pub log_likelihood: f64,
    /// Repeat buyers the fit used.
    pub customers: u64,
    /// Nelder–Mead iterations over both fitting stages and all restarts.
    pub iterations: u64,
    /// The optimiser met its tolerances; false when it hit the iteration cap.
    pub converged: bool,
    /// The plain mean of m̄ over the repeat buyers used: the fallback when q ≤ 1.
    pub observed_mean_spend: f64,
}

impl GammaGammaFit {
    pub fn params(&self) -> GammaGammaParams {
        GammaGammaParams {
            p: self.p,
            q: self.q,
            v: self.v,
        }
    }

    /// The expected value of a transaction of a customer without usable repeat spend: the
    /// model's v·p/(q−1) when q > 1, otherwise (the model mean is infinite) the observed mean.
    pub fn population_mean_spend(&self) -> f64 {
        self.params()
            .population_mean()
            .filter(|m| m.is_finite())
            .unwrap_or(self.observed_mean_spend)
    }

    /// Expected average order value of one customer: the conditional mean E[Z | x, m̄] when
    /// q > 1 and the customer has x ≥ 1 with m̄ > 0; [`Self::population_mean_spend`] otherwise
    /// (no repeat purchase, a non-positive repeat spend, or q ≤ 1, where the model's weighted
    /// average is undefined).
    pub fn expected_average_order_value(&self, summary: &CustomerSummary) -> f64 {
        summary
            .mean_repeat_spend
            .filter(|&m| summary.frequency > 0 && m > 0.0 && m.is_finite())
            .and_then(|m| self.params().conditional_mean(summary.frequency, m))
            .filter(|m| m.is_finite())
            .unwrap_or_else(|| self.population_mean_spend())
    }
}

/// Fits Gamma-Gamma by maximum likelihood over the repeat buyers (x ≥ 1, m̄ > 0; the other
/// summaries are skipped), warm-started on a subsample above 50 000 of them. Parameters are searched in ln-space within
/// p, q ∈ [1e-4, 1e4] and v ∈ [1e-4, 1e4] × (observed mean spend); a population too small or
/// too uniform ends at a bound (finite). Errors: [`FitError::NoBuyers`] for no summaries,
/// [`FitError::NoRepeatBuyers`] when no summary qualifies, [`FitError::InvalidSummary`] for a
/// non-finite spend or time.
pub fn fit_gamma_gamma(summaries: &[CustomerSummary]) -> Result<GammaGammaFit, FitError> {
    let fitted = staged::fit::<Spenders, 3>(summaries)?;
    let spenders = &fitted.model;
    let [p, q, v] = fitted.params;
    Ok(GammaGammaFit {
        p,
        q,
        v: v * spenders.scale,
        // Rescaling spends by c changes each customer's ln f by −ln c.
        log_likelihood: -(fitted.value + spenders.scale.ln()) * spenders.customers,
        customers: spenders.customers as u64,
        iterations: fitted.iterations,
        converged: fitted.converged,
        observed_mean_spend: spenders.scale,
    })
}

/// Repeat buyers grouped by (x, m̄), spends divided by `scale` (their plain mean).
struct Spenders {
    scale: f64,
    customers: f64,
    /// (x, customers) for each distinct x.
    frequencies: Vec<(f64, f64)>,
    groups: Vec<SpendGroup>,
}

/// Customers sharing (x, m̄), with what does not depend on the parameters precomputed.
struct SpendGroup {
    x: f64,
    ln_mean: f64,
    x_ln_mean_x: f64,
    total: f64,
    count: f64,
}

impl Likelihood<3> for Spenders {
    const SCALED: usize = 2;

    fn build(summaries: &[CustomerSummary]) -> Result<Self, FitError> {
        if summaries.is_empty() {
            return Err(FitError::NoBuyers);
        }
        let mut keys = Vec::new();
        for (index, summary) in summaries.iter().enumerate() {
            summary
                .check()
                .map_err(|reason| FitError::InvalidSummary { index, reason })?;
            if let Some(m) = summary.mean_repeat_spend {
                if summary.frequency > 0 && m > 0.0 {
                    keys.push((summary.frequency, m.to_bits()));
                }
            }
        }
        if keys.is_empty() {
            return Err(FitError::NoRepeatBuyers);
        }
        keys.sort_unstable();
        let customers = keys.len() as f64;
        let scale = keys.iter().map(|&(_, m)| f64::from_bits(m)).sum::<f64>() / customers;
        let mut frequencies: Vec<(f64, f64)> = Vec::new();
        let mut groups = Vec::new();
        for ((x, m), count) in run_lengths(&keys) {
            let x = f64::from(x);
            let m = f64::from_bits(m) / scale;
            match frequencies.last_mut() {
                Some((last, n)) if *last == x => *n += count,
                _ => frequencies.push((x, count)),
            }
            groups.push(SpendGroup {
                x,
                ln_mean: m.ln(),
                x_ln_mean_x: x * (m * x).ln(),
                total: x * m,
                count,
            });
        }
        Ok(Self {
            scale,
            customers,
            frequencies,
            groups,
        })
    }

    fn scale(&self) -> f64 {
        self.scale
    }

    /// p = 1, q = 2, v = 1: the model mean v·p/(q−1) equals the observed (scaled) mean of 1.
    fn start(&self) -> [f64; 3] {
        [0.0, std::f64::consts::LN_2, 0.0]
    }

    /// Γ terms once per distinct x, one ln per distinct (x, m̄).
    fn negative_mean_log_likelihood(&self, [p, q, v]: [f64; 3]) -> f64 {
        let mut total = self.customers * (q * v.ln() - ln_gamma(q));
        for &(x, count) in &self.frequencies {
            total += count * (ln_gamma(p * x + q) - ln_gamma(p * x));
        }
        for g in &self.groups {
            // (px−1) ln m̄ + px ln x = p·x·ln(m̄ x) − ln m̄
            total += g.count * (p * g.x_ln_mean_x - g.ln_mean - (p * g.x + q) * (g.total + v).ln());
        }
        -total / self.customers
    }
}
