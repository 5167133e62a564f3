use rand::SeedableRng;
use rand_chacha::ChaCha8Rng;

use super::{assert_close, sim};
use crate::domain::predictive::optimize::{minimize, Options};
use crate::domain::predictive::{fit_bg_nbd, fit_gamma_gamma, BgNbdParams, GammaGammaParams};

const OPTIONS: Options = Options {
    lower: -10.0,
    upper: 10.0,
    initial_step: 1.0,
    restart_step: 0.1,
    value_tolerance: 1e-14,
    point_tolerance: 1e-8,
    max_iterations: 20_000,
    max_restarts: 8,
};

#[test]
fn nelder_mead_finds_the_rosenbrock_minimum() {
    // Σ 100 (xᵢ₊₁ − xᵢ²)² + (1 − xᵢ)², minimum 0 at (1, …, 1), a curved narrow valley.
    let rosenbrock = |x: &[f64; 4]| {
        x.windows(2)
            .map(|w| 100.0 * (w[1] - w[0] * w[0]).powi(2) + (1.0 - w[0]).powi(2))
            .sum::<f64>()
    };
    let found = minimize(rosenbrock, [-1.2, 1.0, -1.2, 1.0], &OPTIONS);
    assert!(found.converged, "{found:?}");
    for c in found.point {
        assert!((c - 1.0).abs() < 1e-5, "{found:?}");
    }
    assert!(found.value < 1e-10 && found.evaluations > found.iterations);
}

#[test]
fn nelder_mead_respects_the_bounds_and_survives_nan() {
    // The unconstrained minimum (−20, 3) lies outside: the answer is on the lower bound.
    let found = minimize(
        |x: &[f64; 2]| (x[0] + 20.0).powi(2) + (x[1] - 3.0).powi(2),
        [0.0, 0.0],
        &OPTIONS,
    );
    assert!(
        (found.point[0] + 10.0).abs() < 1e-12 && (found.point[1] - 3.0).abs() < 1e-6,
        "{found:?}"
    );
    // NaN where x < 0 counts as +∞; the start is projected into the box.
    let found = minimize(
        |x: &[f64; 1]| x[0].sqrt() + (x[0] - 4.0).powi(2) * 0.0,
        [50.0],
        &OPTIONS,
    );
    assert!(
        found.point[0].abs() < 1e-6 && found.value.is_finite(),
        "{found:?}"
    );
    // An iteration cap ends the search unconverged, still with a finite best point.
    let capped = Options {
        max_iterations: 3,
        ..OPTIONS
    };
    let found = minimize(
        |x: &[f64; 2]| (x[0] - 1.0).powi(2) + x[1] * x[1],
        [5.0, 5.0],
        &capped,
    );
    assert!(!found.converged && found.iterations == 3 && found.value.is_finite());
}

#[test]
fn two_stage_fits_reach_the_full_data_maximum() {
    // 2 500 customers repeated 24 times: 60 000 summaries (above the subsample threshold) whose
    // likelihood is 24 times that of the 2 500, so both fits share one maximum. This runs the
    // subsample-then-polish path against the single-stage one.
    let mut rng = ChaCha8Rng::seed_from_u64(3);
    let truth = BgNbdParams {
        r: 0.5,
        alpha: 5.0,
        a: 0.8,
        b: 2.5,
    };
    let base = sim::simulate_bg_nbd(&mut rng, &truth, 2_500, (26.0, 78.0));
    let repeated: Vec<_> = (0..24).flat_map(|_| base.iter().copied()).collect();
    let (small, large) = (
        fit_bg_nbd(&base).expect("fit"),
        fit_bg_nbd(&repeated).expect("fit"),
    );
    assert!(large.converged && large.customers == 60_000);
    for (l, s) in [
        (large.r, small.r),
        (large.alpha, small.alpha),
        (large.a, small.a),
        (large.b, small.b),
    ] {
        assert_close(l, s, 1e-3);
    }
    assert_close(large.log_likelihood, 24.0 * small.log_likelihood, 1e-9);

    let truth = GammaGammaParams {
        p: 6.0,
        q: 4.0,
        v: 15.0,
    };
    let base = sim::simulate_gamma_gamma(&mut rng, &truth, 2_500);
    let repeated: Vec<_> = (0..24).flat_map(|_| base.iter().copied()).collect();
    let (small, large) = (
        fit_gamma_gamma(&base).expect("fit"),
        fit_gamma_gamma(&repeated).expect("fit"),
    );
    assert!(large.converged && large.customers == 60_000);
    for (l, s) in [(large.p, small.p), (large.q, small.q), (large.v, small.v)] {
        assert_close(l, s, 1e-3);
    }
    assert_close(large.log_likelihood, 24.0 * small.log_likelihood, 1e-9);
}
