//! The BG/NBD model of Fader, Hardie & Lee (2005), "'Counting Your Customers' the Easy Way: An
//! Alternative to the Pareto/NBD Model": while alive a customer buys at Poisson rate λ,
//! λ ~ Gamma(r, α) (α a rate, in the time unit of the summaries); after each repeat purchase
//! the customer drops out for good with probability p, p ~ Beta(a, b).
//!
//! The fit maximises the likelihood (FHL 2005, eq. 6) over log-parameters (see [`fit_bg_nbd`]
//! and the module doc of [`super`]). Customers with identical (x, t_x, T) share one term, the part that
//! depends on x alone is summed once per distinct x, and ln(α + t) once per distinct time, so
//! an evaluation costs one exp and one ln per distinct (x, t_x, T). Times are divided by the
//! mean age before fitting (α scales with them, r, a, b do not), so the bounds do not depend
//! on the time unit.

use serde::{Deserialize, Serialize};

use rayon::prelude::*;

use super::special::{beta_expectation, hypergeometric_series_at, ln_gamma, log_sum_exp2};
use super::staged::{self, Likelihood};
use super::summary::CustomerSummary;
use super::{run_lengths, FitError};

/// Above this t / (α + T) the hypergeometric series would need more than ~10⁵ terms, so the
/// conditional expectation goes straight to quadrature.
const SERIES_MAX_SCALED_HORIZON: f64 = 1e3;

/// BG/NBD parameters: r, α of the Gamma purchase rates; a, b of the Beta dropout probabilities.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct BgNbdParams {
    pub r: f64,
    pub alpha: f64,
    pub a: f64,
    pub b: f64,
}

impl BgNbdParams {
    /// ln L(r, α, a, b | x, t_x, T) of one customer (FHL 2005, eq. 6), in log space:
    /// lnΓ(r+x) − lnΓ(r) + r ln α + lnΓ(a+b) + lnΓ(b+x) − lnΓ(b) − lnΓ(a+b+x)
    /// + ln[(α+T)^−(r+x) + δ(x>0) · a/(b+x−1) · (α+t_x)^−(r+x)].
    pub fn log_likelihood(&self, summary: &CustomerSummary) -> f64 {
        let Self { r, alpha, a, b } = *self;
        let x = f64::from(summary.frequency);
        let k = r + x;
        let alive = -k * (alpha + summary.age).ln();
        let tail = if summary.frequency == 0 {
            alive
        } else {
            let dead = a.ln() - (b + x - 1.0).ln() - k * (alpha + summary.recency).ln();
            log_sum_exp2(alive, dead)
        };
        ln_gamma(r + x) - ln_gamma(r) + r * alpha.ln() + ln_gamma(a + b) + ln_gamma(b + x)
            - ln_gamma(b)
            - ln_gamma(a + b + x)
            + tail
    }

    /// P(alive | x, t_x, T) = 1 / (1 + δ(x>0) · a/(b+x−1) · ((α+T)/(α+t_x))^(r+x)) (FHL 2005,
    /// eq. 11). Exactly 1 when x = 0: dropout only happens after a repeat purchase.
    pub fn probability_alive(&self, summary: &CustomerSummary) -> f64 {
        if summary.frequency == 0 {
            return 1.0;
        }
        let Self { r, alpha, a, b } = *self;
        let x = f64::from(summary.frequency);
        let gap = (summary.age - summary.recency).max(0.0);
        let ln_odds_dead =
            a.ln() - (b + x - 1.0).ln() + (r + x) * (gap / (alpha + summary.recency)).ln_1p();
        1.0 / (1.0 + ln_odds_dead.exp())
    }

    /// E[Y(t) | x, t_x, T]: the expected number of purchases in the next `t` time units (FHL
    /// 2005, eq. 10):
    /// (a+b+x−1)/(a−1) · [1 − ((α+T)/(α+T+t))^(r+x) · 2F1(r+x, b+x; a+b+x−1; z)] · P(alive),
    /// z = t/(α+T+t). 0 for t ≤ 0 (or NaN).
    pub fn expected_purchases(&self, summary: &CustomerSummary, t: f64) -> f64 {
        self.expected_purchases_at(summary, &[t])[0]
    }

    /// [`Self::expected_purchases`] at every horizon of `horizons`, sharing what does not depend
    /// on the horizon: P(alive), and the coefficients of the series (see
    /// [`hypergeometric_series_at`]). A CLV needs a dozen horizons; this is several times
    /// cheaper than asking for them one by one.
    pub fn expected_purchases_at(&self, summary: &CustomerSummary, horizons: &[f64]) -> Vec<f64> {
        let alive = self.probability_alive(summary);
        self.purchases_if_alive_at(summary.frequency, summary.age, horizons)
            .into_iter()
            .map(|if_alive| alive * if_alive)
            .collect()
    }

    /// E[Y(t)] at every horizon for a customer known to be alive: [`Self::expected_purchases_at`]
    /// without the P(alive) factor. It depends on x and T only (not on t_x), so customers who
    /// share them share it; this is the costly part of a prediction.
    pub fn purchases_if_alive_at(&self, frequency: u32, age: f64, horizons: &[f64]) -> Vec<f64> {
        let x = f64::from(frequency);
        let scaled: Vec<f64> = horizons
            .iter()
            .map(|&t| {
                if t.is_nan() || t <= 0.0 {
                    f64::NAN // no purchase in no time; no series to sum either
                } else {
                    t / (self.alpha + age)
                }
            })
            .collect();
        let series = self.series_if_alive_at(x, &scaled);
        scaled
            .iter()
            .zip(series)
            .map(|(&s, series)| {
                if s.is_nan() {
                    0.0
                } else {
                    self.if_alive_or_quadrature(x, s, series)
                }
            })
            .collect()
    }

    /// E[Y(t)] for a customer known to be alive, i.e. E[(1 − (1 + P·t/(α+T))^−(r+x)) / P] with
    /// P ~ Beta(a, b+x) (λ integrated out over its posterior Gamma(r+x, α+T)), at the scaled
    /// horizon s = t/(α+T): the series value when there is one, else by quadrature.
    fn if_alive_or_quadrature(&self, x: f64, scaled: f64, series: Option<f64>) -> f64 {
        let value = match series {
            Some(value) => value,
            None => {
                let k = self.r + x;
                beta_expectation(self.a, self.b + x, |p| {
                    if p > 0.0 {
                        -(-k * (p * scaled).ln_1p()).exp_m1() / p
                    } else {
                        k * scaled // the limit p → 0
                    }
                })
            }
        };
        // Bounded by the posterior mean rate times t (no dropout at all); guards the fallbacks.
        let bound = (self.r + x) * scaled;
        if value.is_finite() {
            value.clamp(0.0, bound)
        } else {
            bound
        }
    }

    /// The closed form of eq. 10 without the P(alive) factor at every scaled horizon s =
    /// t/(α+T), in whichever of two exact forms converges faster: the terms of the Euler form
    /// ([`Self::euler_series_at`]) fall off like n^(a−2) zⁿ, those of Gauss's series as printed
    /// ([`Self::gauss_series_at`]) like n^(r+x−1) zⁿ, so a population with a large a (rare
    /// dropout, a few repeat purchases each) needs several times fewer terms in the second.
    /// Where the chosen form cannot be trusted for a horizon, the other is tried.
    fn series_if_alive_at(&self, x: f64, scaled: &[f64]) -> Vec<Option<f64>> {
        let gauss_first = self.r + x + 1.0 < self.a;
        let (first, second): (FormAt<'_>, FormAt<'_>) = if gauss_first {
            (&|s| self.gauss_series_at(x, s), &|s| {
                self.euler_series_at(x, s)
            })
        } else {
            (&|s| self.euler_series_at(x, s), &|s| {
                self.gauss_series_at(x, s)
            })
        };
        let mut values = first(scaled);
        if values.iter().all(Option::is_some) {
            return values;
        }
        // Only the horizons the first form left out.
        let left: Vec<f64> = scaled
            .iter()
            .zip(&values)
            .map(|(&s, value)| if value.is_none() { s } else { f64::NAN })
            .collect();
        for (value, other) in values.iter_mut().zip(second(&left)) {
            if value.is_none() {
                *value = other;
            }
        }
        values
    }

    /// Eq. 10 rewritten so that it has no removable singularity at a = 1 and no overflow for
    /// large x. With z = s/(1+s), Euler's transformation gives (1−z)^(r+x) 2F1(r+x, b+x; c; z) =
    /// (1−z)^(a−1) 2F1(c−r−x, a−1; c; z), c = a+b+x−1, and splitting off the n = 0 term and the
    /// factor (a−1) of the rest leaves
    /// c · L · expm1(u)/u − (1−z)^(a−1) · A z · 3F2(1, A+1, a; 2, c+1; z),
    /// with L = ln(1+s), u = −(a−1) L, A = a+b−1−r. The 3F2 coefficients depend on the customer
    /// (x) only, so every horizon shares them. For each s, `None` when the series cannot be
    /// trusted (see [`hypergeometric_series_at`]), when s is NaN or beyond
    /// [`SERIES_MAX_SCALED_HORIZON`], or when the difference cancels more than four digits, so
    /// a result keeps at least eight.
    fn euler_series_at(&self, x: f64, scaled: &[f64]) -> Vec<Option<f64>> {
        let Self { r, a, b, .. } = *self;
        let c = a + b + x - 1.0;
        let big_a = a + b - 1.0 - r;
        let zs = series_arguments(scaled);
        let series = hypergeometric_series_at(&[1.0, big_a + 1.0, a], &[2.0, c + 1.0], &zs);
        scaled
            .iter()
            .zip(zs)
            .zip(series)
            .map(|((&s, z), series)| {
                let series = series?;
                let l = s.ln_1p();
                let u = -(a - 1.0) * l;
                let phi = if u == 0.0 { 1.0 } else { u.exp_m1() / u };
                let head = c * l * phi;
                let tail = u.exp() * big_a * z * series;
                let value = head - tail;
                let trusted = value.is_finite() && value >= 1e-4 * head.abs().max(tail.abs());
                trusted.then_some(value)
            })
            .collect()
    }

    /// Eq. 10 as printed, c/(a−1) · [1 − (1−z)^(r+x) 2F1(r+x, b+x; c; z)], c = a+b+x−1, for
    /// a > 1 (`None` otherwise). The bracket is −expm1(ln 2F1 − (r+x) L), L = ln(1+s) =
    /// −ln(1−z), whose absolute error is about 1e-14; `None` when the bracket is below 1e-6 (it
    /// would keep fewer than eight digits) or the series cannot be trusted.
    fn gauss_series_at(&self, x: f64, scaled: &[f64]) -> Vec<Option<f64>> {
        let Self { r, a, b, .. } = *self;
        if a <= 1.0 {
            return vec![None; scaled.len()];
        }
        let k = r + x;
        let c = a + b + x - 1.0;
        let zs = series_arguments(scaled);
        let series = hypergeometric_series_at(&[k, b + x], &[c], &zs);
        scaled
            .iter()
            .zip(series)
            .map(|(&s, series)| {
                let bracket = -(series?.ln() - k * s.ln_1p()).exp_m1();
                let trusted = bracket.is_finite() && bracket >= 1e-6;
                trusted.then(|| c / (a - 1.0) * bracket)
            })
            .collect()
    }
}

/// One form of eq. 10 over a list of scaled horizons.
type FormAt<'a> = &'a dyn Fn(&[f64]) -> Vec<Option<f64>>;

/// z = s/(1+s) for each scaled horizon s within [`SERIES_MAX_SCALED_HORIZON`]; NaN (no series)
/// beyond it and for NaN.
fn series_arguments(scaled: &[f64]) -> Vec<f64> {
    scaled
        .iter()
        .map(|&s| {
            if s <= SERIES_MAX_SCALED_HORIZON {
                s / (1.0 + s)
            } else {
                f64::NAN
            }
        })
        .collect()
}

/// A fitted BG/NBD model (α in the time unit of the summaries it was fitted on).
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct BgNbdFit {
    pub r: f64,
    pub alpha: f64,
    pub a: f64,
    pub b: f64,
    /// The maximised total log-likelihood, in the original time unit.
    pub log_likelihood: f64,
    /// Customers (summaries) the fit used.
    pub customers: u64,
    /// Nelder–Mead iterations over both fitting stages and all restarts.
    pub iterations: u64,
    /// The optimiser met its tolerances; false when it hit the iteration cap.
    pub converged: bool,
}

impl BgNbdFit {
    pub fn params(&self) -> BgNbdParams {
        BgNbdParams {
            r: self.r,
            alpha: self.alpha,
            a: self.a,
            b: self.b,
        }
    }
}

/// Fits BG/NBD by maximum likelihood. Parameters are searched in ln-space within
/// r, a, b ∈ [1e-4, 1e4] and α ∈ [1e-4, 1e4] × (mean age); a population too small or too
/// uniform to pin them down ends at a bound (finite, with `converged` telling whether the
/// optimiser settled). Errors: [`FitError::NoBuyers`] for no summaries,
/// [`FitError::NoRepeatBuyers`] when every frequency is 0 (the likelihood then only grows as
/// r → 0, leaving a and b unidentified), [`FitError::InvalidSummary`].
pub fn fit_bg_nbd(summaries: &[CustomerSummary]) -> Result<BgNbdFit, FitError> {
    let fitted = staged::fit::<Population, 4>(summaries)?;
    let population = &fitted.model;
    let [r, alpha, a, b] = fitted.params;
    Ok(BgNbdFit {
        r,
        alpha: alpha * population.scale,
        a,
        b,
        // Rescaling times by c changes each customer's ln L by −x ln c.
        log_likelihood: -fitted.value * population.customers
            - population.repeat_purchases * population.scale.ln(),
        customers: summaries.len() as u64,
        iterations: fitted.iterations,
        converged: fitted.converged,
    })
}

/// The fitting data, grouped; times are divided by `scale` and stored once in `times`.
struct Population {
    scale: f64,
    customers: f64,
    repeat_purchases: f64,
    times: Vec<f64>,
    /// (x, customers) for each distinct x > 0.
    frequencies: Vec<(f64, f64)>,
    /// (age slot, customers) of customers with x = 0.
    first_timers: Vec<(u32, f64)>,
    /// Customers sharing (x, t_x, T), x > 0, as parallel columns: slot in `frequencies`,
    /// slots in `times` of t_x and T, and the number of customers.
    repeat_frequency: Vec<u32>,
    repeat_recency: Vec<u32>,
    repeat_age: Vec<u32>,
    repeat_count: Vec<f64>,
}

/// Repeat-buyer groups per parallel chunk of the likelihood sum: fixed, for a reproducible sum.
const GROUP_CHUNK: usize = 8_192;

impl Likelihood<4> for Population {
    const SCALED: usize = 1;

    fn build(summaries: &[CustomerSummary]) -> Result<Self, FitError> {
        if summaries.is_empty() {
            return Err(FitError::NoBuyers);
        }
        for (index, summary) in summaries.iter().enumerate() {
            summary
                .check()
                .map_err(|reason| FitError::InvalidSummary { index, reason })?;
        }
        let repeat_purchases: f64 = summaries.iter().map(|s| f64::from(s.frequency)).sum();
        if repeat_purchases == 0.0 {
            return Err(FitError::NoRepeatBuyers);
        }
        let customers = summaries.len() as f64;
        let mean_age = summaries.iter().map(|s| s.age).sum::<f64>() / customers;
        let scale = if mean_age > 0.0 && mean_age.is_finite() {
            mean_age
        } else {
            1.0
        };
        // Equal times give equal bit patterns (+ 0.0 folds −0 into +0): exact grouping keys.
        let key = |t: f64| (t / scale + 0.0).to_bits();

        let mut repeat_keys = Vec::new();
        let mut first_keys = Vec::new();
        for s in summaries {
            match s.frequency {
                0 => first_keys.push(key(s.age)),
                x => repeat_keys.push((x, key(s.recency), key(s.age))),
            }
        }
        repeat_keys.sort_unstable();
        first_keys.sort_unstable();
        let repeat_runs = run_lengths(&repeat_keys);
        let first_runs = run_lengths(&first_keys);

        let mut times: Vec<u64> = first_runs.iter().map(|&(t, _)| t).collect();
        times.extend(repeat_runs.iter().flat_map(|&((_, tx, t), _)| [tx, t]));
        times.sort_unstable();
        times.dedup();
        let slot = |bits: u64| times.binary_search(&bits).unwrap_or_default() as u32;

        let mut population = Self {
            scale,
            customers,
            repeat_purchases,
            times: Vec::new(),
            frequencies: Vec::new(),
            first_timers: first_runs.iter().map(|&(t, n)| (slot(t), n)).collect(),
            repeat_frequency: Vec::with_capacity(repeat_runs.len()),
            repeat_recency: Vec::with_capacity(repeat_runs.len()),
            repeat_age: Vec::with_capacity(repeat_runs.len()),
            repeat_count: Vec::with_capacity(repeat_runs.len()),
        };
        for &((x, tx, t), count) in &repeat_runs {
            let x = f64::from(x);
            match population.frequencies.last_mut() {
                Some((last, n)) if *last == x => *n += count,
                _ => population.frequencies.push((x, count)),
            }
            population
                .repeat_frequency
                .push(population.frequencies.len() as u32 - 1);
            population.repeat_recency.push(slot(tx));
            population.repeat_age.push(slot(t));
            population.repeat_count.push(count);
        }
        population.times = times.into_iter().map(f64::from_bits).collect();
        Ok(population)
    }

    fn scale(&self) -> f64 {
        self.scale
    }

    /// r = a = b = 1 and α matching the mean repeat rate (the mean scaled age is 1).
    fn start(&self) -> [f64; 4] {
        [0.0, (self.customers / self.repeat_purchases).ln(), 0.0, 0.0]
    }

    fn negative_mean_log_likelihood(&self, [r, alpha, a, b]: [f64; 4]) -> f64 {
        let ln_shifted: Vec<f64> = self.times.iter().map(|t| (alpha + t).ln()).collect();
        let (ln_gamma_r, ln_gamma_b, ln_gamma_ab) = (ln_gamma(r), ln_gamma(b), ln_gamma(a + b));
        let mut total = self.customers * r * alpha.ln();
        // Per distinct x: the Γ terms, and k = r + x and ln(a / (b + x − 1)) for the groups.
        let mut per_frequency = Vec::with_capacity(self.frequencies.len());
        for &(x, count) in &self.frequencies {
            total += count
                * (ln_gamma(r + x) - ln_gamma_r + ln_gamma_ab + ln_gamma(b + x)
                    - ln_gamma_b
                    - ln_gamma(a + b + x));
            per_frequency.push((r + x, a.ln() - (b + x - 1.0).ln()));
        }
        for &(age, count) in &self.first_timers {
            total -= count * r * ln_shifted[age as usize];
        }
        // The groups' terms dominate at a million customers: summed on every core, in fixed
        // chunks added up in order, so the total (and the fit) is the same bit for bit however
        // the threads are scheduled.
        let groups = self.repeat_count.len();
        let partials: Vec<f64> = (0..groups.div_ceil(GROUP_CHUNK))
            .into_par_iter()
            .map(|chunk| {
                let end = ((chunk + 1) * GROUP_CHUNK).min(groups);
                let mut partial = 0.0;
                for i in chunk * GROUP_CHUNK..end {
                    let (k, ln_dead) = per_frequency[self.repeat_frequency[i] as usize];
                    let ln_age = ln_shifted[self.repeat_age[i] as usize];
                    let ln_recency = ln_shifted[self.repeat_recency[i] as usize];
                    // ln[(α+T)^−k + e^ln_dead (α+t_x)^−k] = −k ln(α+T) + softplus(d); T ≥ t_x.
                    let d = ln_dead + k * (ln_age - ln_recency);
                    // ln(1 + e^−|d|) by ln rather than ln_1p: the absolute error stays ~1e-16.
                    let softplus = d.max(0.0) + (1.0 + (-d.abs()).exp()).ln();
                    partial += self.repeat_count[i] * (softplus - k * ln_age);
                }
                partial
            })
            .collect();
        total += partials.iter().sum::<f64>();
        -total / self.customers
    }
}
