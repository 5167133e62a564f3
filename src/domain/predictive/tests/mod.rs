//! Tests of the predictive models. `sim` holds seeded samplers for the generative processes.

mod bgnbd;
mod clv;
mod degenerate;
mod gamma_gamma;
mod optimize;
mod sim;
mod snapshot;
mod special;
mod summary;

/// |actual − expected| ≤ tolerance · max(|expected|, tiny), with a readable failure.
#[track_caller]
fn assert_close(actual: f64, expected: f64, tolerance: f64) {
    let error = (actual - expected).abs() / expected.abs().max(1e-300);
    assert!(
        error <= tolerance,
        "{actual} vs {expected}: relative error {error:e} > {tolerance:e}"
    );
}
