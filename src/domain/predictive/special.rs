//! Special functions for the predictive models, written from their textbook definitions:
//! ln Γ (upward recurrence, then Stirling's series), log-sum-exp, the generalised hypergeometric
//! series pFq (Gauss's 2F1 is the case p = 2, q = 1), and a tanh-sinh quadrature of expectations
//! under a Beta distribution, the fallback where a series would be slow or ill-conditioned.

use std::f64::consts::{FRAC_PI_2, PI};

/// ln √(2π).
const LN_SQRT_2PI: f64 = 0.918_938_533_204_672_8;

/// ln Γ(x) for x > 0 (NaN otherwise). Below 10 the recurrence Γ(x) = Γ(x + n) / (x (x+1) … )
/// moves the argument up; from 10 on, Stirling's series through the B₁₄ term is exact to well
/// under 1e-15 (the first omitted term is 3617 / (122400 · 10¹⁵)).
pub fn ln_gamma(x: f64) -> f64 {
    if x.is_nan() || x <= 0.0 {
        return f64::NAN;
    }
    let mut y = x;
    let mut product = 1.0;
    while y < 10.0 {
        product *= y;
        y += 1.0;
    }
    let inv = 1.0 / y;
    let inv2 = inv * inv;
    // Σ B₂ₖ / (2k (2k−1) y^(2k−1)), k = 1..7, in Horner form.
    let series = inv
        * (1.0 / 12.0
            - inv2
                * (1.0 / 360.0
                    - inv2
                        * (1.0 / 1260.0
                            - inv2
                                * (1.0 / 1680.0
                                    - inv2
                                        * (1.0 / 1188.0
                                            - inv2 * (691.0 / 360_360.0 - inv2 / 156.0))))));
    (y - 0.5) * y.ln() - y + LN_SQRT_2PI + series - product.ln()
}

/// ln B(a, b) = ln Γ(a) + ln Γ(b) − ln Γ(a + b).
pub fn ln_beta(a: f64, b: f64) -> f64 {
    ln_gamma(a) + ln_gamma(b) - ln_gamma(a + b)
}

/// ln(eᵘ + eᵛ) without overflow or underflow.
pub fn log_sum_exp2(u: f64, v: f64) -> f64 {
    let (high, low) = if u >= v { (u, v) } else { (v, u) };
    if high.is_infinite() {
        return high; // both −∞, or one +∞
    }
    high + (low - high).exp().ln_1p()
}

/// ln Σ exp(vᵢ); −∞ for an empty slice.
pub fn log_sum_exp(values: &[f64]) -> f64 {
    let high = values.iter().copied().fold(f64::NEG_INFINITY, f64::max);
    if high.is_infinite() {
        return high;
    }
    high + values.iter().map(|v| (v - high).exp()).sum::<f64>().ln()
}

/// ln(1 + eʸ) without overflow.
fn softplus(y: f64) -> f64 {
    y.max(0.0) + (-y.abs()).exp().ln_1p()
}

/// Convergence guard of [`hypergeometric_series`]: the most terms summed before giving up.
pub const SERIES_MAX_TERMS: usize = 100_000;
/// Relative size of the (bounded) remaining tail at which the series stops.
const SERIES_TOLERANCE: f64 = 1e-16;
/// A series whose largest term exceeds its sum by this factor has lost too many digits.
const SERIES_MAX_CANCELLATION: f64 = 1e4;

/// The generalised hypergeometric series pFq(upper; lower; z) = Σₙ Π(uᵢ)ₙ / Π(lⱼ)ₙ · zⁿ / n!
/// for p ≤ q + 1 and |z| < 1, summed term by term.
///
/// Convergence guard: once every uᵢ + n and lⱼ + n is positive the terms keep one sign pattern
/// and their ratio tends to z, so the tail is bounded by |term| · m / (1 − m) with
/// m = max(|ratio|, |z|); summation stops when that bound is below 1e-16 of the sum. `None`
/// when the guard is not met within [`SERIES_MAX_TERMS`] terms (|z| very close to 1), when a
/// lower parameter is a non-positive integer, when the sum overflows, or when the largest term
/// exceeds the sum by 1e4 (cancellation would have cost more than four digits).
pub fn hypergeometric_series(upper: &[f64], lower: &[f64], z: f64) -> Option<f64> {
    hypergeometric_series_at(upper, lower, &[z])[0]
}

/// One series of [`hypergeometric_series_at`] being summed.
struct PartialSum {
    z: f64,
    term: f64,
    sum: f64,
    largest: f64,
    /// `None` while summing; then the result.
    result: Option<Option<f64>>,
}

impl PartialSum {
    fn finish(&mut self) {
        let trusted = self.largest <= SERIES_MAX_CANCELLATION * self.sum.abs();
        self.result = Some(trusted.then_some(self.sum));
    }
}

/// [`hypergeometric_series`] at several arguments at once: the coefficients
/// Π(uᵢ)ₙ / Π(lⱼ)ₙ / n! do not depend on z, so each term's coefficient ratio is computed once
/// for all of them, and only the multiplication by z and the guard are per argument. Each
/// result is what [`hypergeometric_series`] gives for that z (up to rounding).
pub fn hypergeometric_series_at(upper: &[f64], lower: &[f64], zs: &[f64]) -> Vec<Option<f64>> {
    let lower_is_pole = lower.iter().any(|&l| l <= 0.0 && l.fract() == 0.0);
    let mut sums: Vec<PartialSum> = zs
        .iter()
        .map(|&z| PartialSum {
            z,
            term: 1.0,
            sum: 1.0,
            largest: 1.0,
            result: (z.is_nan() || z.abs() >= 1.0).then_some(None),
        })
        .collect();
    if upper.len() > lower.len() + 1 || lower_is_pole {
        return vec![None; zs.len()];
    }
    // From n > settle on, every uᵢ + n and lⱼ + n is positive.
    let settle = upper
        .iter()
        .chain(lower)
        .fold(f64::NEG_INFINITY, |m, &c| m.max(-c));
    let mut active = sums.iter().filter(|p| p.result.is_none()).count();
    let mut n = 0;
    while active > 0 {
        let nf = n as f64;
        let mut coefficient = 1.0 / (nf + 1.0);
        for &u in upper {
            coefficient *= u + nf;
        }
        for &l in lower {
            coefficient /= l + nf;
        }
        for p in sums.iter_mut().filter(|p| p.result.is_none()) {
            let ratio = coefficient * p.z;
            let m = ratio.abs().max(p.z.abs());
            // |term| · m / (1 − m) <= tolerance · |sum|, without a division.
            if nf > settle
                && m < 1.0
                && p.term.abs() * m <= SERIES_TOLERANCE * p.sum.abs() * (1.0 - m)
            {
                p.finish();
            } else {
                p.term *= ratio;
                p.sum += p.term;
                p.largest = p.largest.max(p.term.abs());
                if !p.sum.is_finite() || (p.term != 0.0 && n + 1 == SERIES_MAX_TERMS) {
                    p.result = Some(None);
                } else if p.term == 0.0 {
                    p.finish(); // a terminating series (an upper parameter is a non-positive integer)
                }
            }
            if p.result.is_some() {
                active -= 1;
            }
        }
        n += 1;
    }
    sums.into_iter().map(|p| p.result.flatten()).collect()
}

/// Gauss's hypergeometric function 2F1(a, b; c; z) for |z| < 1 by its series; see
/// [`hypergeometric_series`] for the convergence guard and when this is `None`.
pub fn hyp2f1(a: f64, b: f64, c: f64, z: f64) -> Option<f64> {
    hypergeometric_series(&[a, b], &[c], z)
}

/// Earliest level at which tanh-sinh may stop, and the finest level (steps 2⁻³ and 2⁻¹⁰).
const QUADRATURE_MIN_LEVEL: u32 = 3;
const QUADRATURE_MAX_LEVEL: u32 = 10;
/// |τ| beyond which no node is taken: the Beta weight is negligible there for shapes ≥ 1e-4.
const QUADRATURE_TAU_MAX: f64 = 16.0;

/// E[g(P)] for P ~ Beta(a, b), a, b > 0, by tanh-sinh quadrature: p = 1 / (1 + e^(−π sinh τ)),
/// which absorbs the endpoint singularities of the Beta density. The weights are evaluated in
/// log space (no underflow for extreme shapes) and `g` is called with p = 0 or 1 where p
/// rounds to an endpoint. The step halves until two levels agree to 1e-12 and the weights
/// integrate to 1 within 1e-10, or the finest level is reached; the result is normalised by
/// the summed weights, which cancels most of the truncation error of a coarse level.
pub fn beta_expectation(a: f64, b: f64, g: impl Fn(f64) -> f64) -> f64 {
    let ln_norm = ln_beta(a, b);
    // Adds the nodes τ = ±(first + i·stride) h, i = 0, 1, … on one side, walking outward until
    // the weight is negligible and decreasing. Returns (Σ w, Σ w g).
    let side = |h: f64, first: f64, stride: f64, sign: f64| -> (f64, f64) {
        let (mut weights, mut values) = (0.0, 0.0);
        let mut previous = f64::NEG_INFINITY; // so the first node never ends the walk
        let mut k = first;
        loop {
            let tau = sign * k * h;
            if tau.abs() > QUADRATURE_TAU_MAX {
                break;
            }
            let q = 2.0 * FRAC_PI_2 * tau.sinh(); // p = logistic(q)
            let ln_p = -softplus(-q);
            let ln_not_p = -softplus(q);
            let ln_w = (PI * tau.cosh()).ln() + a * ln_p + b * ln_not_p - ln_norm;
            let w = ln_w.exp();
            weights += w;
            values += w * g(ln_p.exp());
            if ln_w + h.ln() < -46.0 && ln_w <= previous {
                break;
            }
            previous = ln_w;
            k += stride;
        }
        (weights, values)
    };
    let mut h = 1.0;
    let (mut weights, mut values) = (0.0, 0.0);
    // Level 0: τ = 0, ±h, ±2h, …
    let (w0, v0) = side(h, 0.0, 1.0, 1.0);
    let (w1, v1) = side(h, 1.0, 1.0, -1.0);
    weights += w0 + w1;
    values += v0 + v1;
    let mut estimate = values / weights;
    for level in 1..=QUADRATURE_MAX_LEVEL {
        h /= 2.0;
        // Halving the step adds the odd multiples of the new step on both sides.
        let (wp, vp) = side(h, 1.0, 2.0, 1.0);
        let (wn, vn) = side(h, 1.0, 2.0, -1.0);
        weights += wp + wn;
        values += vp + vn;
        let refined = values / weights;
        let mass = weights * h;
        let agreed = (refined - estimate).abs() <= 1e-12 * refined.abs();
        estimate = refined;
        if level >= QUADRATURE_MIN_LEVEL && agreed && (mass - 1.0).abs() <= 1e-10 {
            break;
        }
    }
    estimate
}
