//! The maximum-likelihood procedure both models share: validate and group the summaries,
//! minimise the negative mean log-likelihood over ln-parameters in
//! `[ln PARAMETER_MIN, ln PARAMETER_MAX]` with the bounded Nelder–Mead of [`super::optimize`].
//!
//! Large populations are fitted in two stages, because a full-data evaluation costs one pass
//! over the distinct groups (nearly one per customer with day-level times) and Nelder–Mead
//! needs hundreds of them from a cold start: first a fit on a systematic subsample (every k-th
//! summary, about [`SUBSAMPLE`] of them), then the full-data fit started from that point with
//! a small simplex. The result is the full-data maximum either way; the first stage only saves
//! evaluations.

use super::optimize::{minimize, Options};
use super::summary::CustomerSummary;
use super::{FitError, PARAMETER_MAX, PARAMETER_MIN};

/// Populations above this many summaries are fitted in two stages.
const SUBSAMPLE_ABOVE: usize = 50_000;
/// Target size of the first-stage subsample.
const SUBSAMPLE: usize = 20_000;
/// Simplex edge (in ln-parameters) of the full-data stage after a subsample fit: a subsample
/// of 20 000 usually puts the estimates within ~10 % of the full-data ones (and Nelder–Mead
/// expands the simplex when they are further off).
const POLISH_STEP: f64 = 0.1;

/// A model's grouped data and likelihood, in scaled units.
pub(super) trait Likelihood<const N: usize>: Sized {
    /// Index of the parameter that is expressed relative to [`Likelihood::scale`].
    const SCALED: usize;
    /// Validates and groups the summaries.
    fn build(summaries: &[CustomerSummary]) -> Result<Self, FitError>;
    /// The data scale (mean age, mean spend) the scaled parameter is relative to.
    fn scale(&self) -> f64;
    /// A neutral starting point, in ln-parameters.
    fn start(&self) -> [f64; N];
    /// −(Σ ln L) / customers at the given (scaled) parameters.
    fn negative_mean_log_likelihood(&self, params: [f64; N]) -> f64;
}

/// A fitted model, its scaled parameters and the optimiser's account.
pub(super) struct Fitted<M, const N: usize> {
    pub model: M,
    /// Scaled parameters, within the bounds.
    pub params: [f64; N],
    /// The minimised −(Σ ln L) / customers.
    pub value: f64,
    /// Nelder–Mead iterations over both stages.
    pub iterations: u64,
    pub converged: bool,
}

/// Tolerances: 1e-10 on the mean negative log-likelihood and 1e-4 on ln-parameters (0.01 %,
/// far below the sampling error of any population worth fitting). Restarts from the claimed
/// minimum use a simplex 1/50 of the first one: enough to move on if the first simplex had
/// stalled, and cheap to shrink again (on a million customers each evaluation counts).
fn options(initial_step: f64, restart_step: f64, max_restarts: usize) -> Options {
    Options {
        lower: PARAMETER_MIN.ln(),
        upper: PARAMETER_MAX.ln(),
        initial_step,
        restart_step,
        value_tolerance: 1e-10,
        point_tolerance: 1e-4,
        max_iterations: 5_000,
        max_restarts,
    }
}

pub(super) fn fit<M: Likelihood<N>, const N: usize>(
    summaries: &[CustomerSummary],
) -> Result<Fitted<M, N>, FitError> {
    let model = M::build(summaries)?;
    let mut start = model.start();
    let mut step = 1.0;
    let mut iterations = 0;
    if summaries.len() > SUBSAMPLE_ABOVE {
        let stride = summaries.len().div_ceil(SUBSAMPLE);
        let sample: Vec<CustomerSummary> = summaries.iter().step_by(stride).copied().collect();
        // A subsample without repeat buyers just means no head start.
        if let Ok(small) = M::build(&sample) {
            let found = minimize(
                |theta| small.negative_mean_log_likelihood(theta.map(f64::exp)),
                small.start(),
                &options(1.0, 0.1, 0), // a head start needs no confirmation
            );
            if found.value.is_finite() {
                start = found.point;
                start[M::SCALED] += (small.scale() / model.scale()).ln();
                step = POLISH_STEP;
                iterations += found.iterations;
            }
        }
    }
    let found = minimize(
        |theta| model.negative_mean_log_likelihood(theta.map(f64::exp)),
        start,
        &options(step, step / 50.0, 8),
    );
    if !found.value.is_finite() {
        return Err(FitError::NonFiniteLikelihood);
    }
    Ok(Fitted {
        // exp(ln bound) can round just outside the bound.
        params: found
            .point
            .map(|t| t.exp().clamp(PARAMETER_MIN, PARAMETER_MAX)),
        value: found.value,
        iterations: (iterations + found.iterations) as u64,
        converged: found.converged,
        model,
    })
}
