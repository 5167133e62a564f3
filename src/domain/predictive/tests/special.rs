use super::assert_close;
use crate::domain::predictive::special::{
    beta_expectation, hyp2f1, hypergeometric_series, hypergeometric_series_at, ln_beta, ln_gamma,
    log_sum_exp, log_sum_exp2,
};

#[test]
fn ln_gamma_matches_factorials_and_half_integers() {
    // Absolute error: ln Γ(1) = ln Γ(10) − ln 9! cancels to a few ulps of 12.8.
    assert!(ln_gamma(1.0).abs() < 1e-14 && ln_gamma(2.0).abs() < 1e-14);
    // ln Γ(n) = ln (n−1)! by a plain sum of logarithms.
    let mut ln_factorial = 0.0_f64; // ln 1!
    for n in 3..=170 {
        ln_factorial += f64::from(n - 1).ln();
        assert_close(ln_gamma(f64::from(n)), ln_factorial, 1e-14);
    }
    // Γ(1/2) = √π, Γ(3/2) = √π / 2 (absolute error: the values are near the zeros of ln Γ).
    let ln_sqrt_pi = 0.5 * std::f64::consts::PI.ln();
    assert!((ln_gamma(0.5) - ln_sqrt_pi).abs() < 1e-14);
    assert!((ln_gamma(1.5) - (ln_sqrt_pi - std::f64::consts::LN_2)).abs() < 1e-14);
    assert!(ln_gamma(0.0).is_nan() && ln_gamma(-1.0).is_nan() && ln_gamma(f64::NAN).is_nan());
}

#[test]
fn ln_gamma_satisfies_the_recurrence_over_the_parameter_range() {
    // Γ(x + 1) = x Γ(x), across the recurrence/Stirling switch at 10 and the bounds 1e-4, 1e4.
    let mut x = 1e-4;
    while x < 2e4 {
        let difference = ln_gamma(x + 1.0) - ln_gamma(x);
        assert!(
            (difference - x.ln()).abs() <= 1e-13 * (1.0 + ln_gamma(x).abs()),
            "x = {x}: {difference} vs {}",
            x.ln()
        );
        x *= 1.37;
    }
    // Small x: Γ(x) ≈ 1/x − γ, so ln Γ(1e-8) = −ln 1e-8 − γ·1e-8 to 1e-16.
    let euler_gamma = 0.577_215_664_901_532_9;
    assert_close(ln_gamma(1e-8), -(1e-8_f64).ln() - euler_gamma * 1e-8, 1e-15);
    assert_close(ln_beta(2.0, 3.0), (1.0_f64 / 12.0).ln(), 1e-14);
}

#[test]
fn log_sum_exp_is_stable() {
    assert_close(
        log_sum_exp2(1000.0, 1000.0),
        1000.0 + std::f64::consts::LN_2,
        1e-15,
    );
    assert_close(
        log_sum_exp2(-1000.0, -1000.0),
        -1000.0 + std::f64::consts::LN_2,
        1e-15,
    );
    assert_eq!(log_sum_exp2(0.0, -1e6), 0.0);
    assert_eq!(
        log_sum_exp2(f64::NEG_INFINITY, f64::NEG_INFINITY),
        f64::NEG_INFINITY
    );
    assert_eq!(log_sum_exp2(f64::NEG_INFINITY, 3.0), 3.0);
    assert_close(
        log_sum_exp(&[1.0, 2.0, 3.0]),
        (1f64.exp() + 2f64.exp() + 3f64.exp()).ln(),
        1e-15,
    );
    assert_eq!(log_sum_exp(&[]), f64::NEG_INFINITY);
    assert_close(
        log_sum_exp(&[800.0, 800.0, 800.0]),
        800.0 + 3f64.ln(),
        1e-15,
    );
}

#[test]
fn hyp2f1_matches_closed_forms() {
    for z in [1e-6, 0.1, 0.5, 0.9, 0.99, 0.999] {
        // 2F1(1, 1; 2; z) = −ln(1 − z) / z
        let value = hyp2f1(1.0, 1.0, 2.0, z).expect("converges");
        assert_close(value, -(-z).ln_1p() / z, 1e-12);
        // 2F1(a, b; b; z) = (1 − z)^−a
        let value = hyp2f1(2.7, 1.3, 1.3, z).expect("converges");
        assert_close(value, (1.0 - z).powf(-2.7), 1e-12);
        // 2F1(1/2, 1; 3/2; z²) = atanh(z) / z
        let value = hyp2f1(0.5, 1.0, 1.5, z * z).expect("converges");
        assert_close(value, z.atanh() / z, 1e-12);
    }
    // A terminating series: 2F1(−2, b; c; z) = 1 − 2bz/c + b(b+1)z²/(c(c+1)).
    let (b, c, z) = (1.7, 3.1, 0.6);
    let expected = 1.0 - 2.0 * b * z / c + b * (b + 1.0) * z * z / (c * (c + 1.0));
    assert_close(hyp2f1(-2.0, b, c, z).expect("terminates"), expected, 1e-14);
    assert_eq!(hyp2f1(1.0, 1.0, 2.0, 0.0), Some(1.0));
}

#[test]
fn hypergeometric_series_refuses_what_it_cannot_sum() {
    assert_eq!(
        hyp2f1(1.0, 1.0, 2.0, 1.0),
        None,
        "z = 1 is outside the disc"
    );
    assert_eq!(hyp2f1(1.0, 1.0, 2.0, f64::NAN), None);
    assert_eq!(
        hyp2f1(1.0, 1.0, -3.0, 0.5),
        None,
        "c a non-positive integer is a pole"
    );
    // So close to 1 that the guard of 100 000 terms cannot be met.
    assert_eq!(hyp2f1(1.0, 1.0, 2.0, 1.0 - 1e-9), None);
    // 1F0(−60.5;; z) = (1 − z)^60.5 ≈ 1e-181 at z = 0.999, from alternating terms near 1e17:
    // far too much cancellation to trust.
    assert_eq!(hypergeometric_series(&[-60.5], &[], 0.999), None);
    assert_close(
        hypergeometric_series(&[-6.5], &[], 0.3).expect("fine"),
        0.7f64.powf(6.5),
        1e-12,
    );
}

#[test]
fn beta_expectation_reproduces_beta_moments() {
    // E[P] = a/(a+b), E[P²] = a(a+1)/((a+b)(a+b+1)), over shapes from 1e-4 to 1e4.
    for (a, b) in [
        (0.3, 0.7),
        (2.0, 5.0),
        (1e-4, 2.5),
        (2.5, 1e-4),
        (500.0, 300.0),
        (1e4, 1e4),
        (1e4, 1.0),
    ] {
        let mean = beta_expectation(a, b, |p| p);
        assert_close(mean, a / (a + b), 1e-10);
        let second = beta_expectation(a, b, |p| p * p);
        assert_close(second, a * (a + 1.0) / ((a + b) * (a + b + 1.0)), 1e-10);
        assert_close(beta_expectation(a, b, |_| 1.0), 1.0, 1e-12);
    }
}

#[test]
fn the_series_at_many_arguments_is_the_series_at_each() {
    let zs = [0.0, 1e-6, 0.3, 0.9, 0.999, 1.0, f64::NAN, -0.5, 1.0 - 1e-9];
    for (upper, lower) in [
        (&[1.0, 35.0, 34.7][..], &[2.0, 9_550.0][..]),
        (&[2.7, 1.3][..], &[1.3][..]),
        (&[-6.5][..], &[][..]),
        (&[1.0, 1.0][..], &[-3.0][..]),
    ] {
        let together = hypergeometric_series_at(upper, lower, &zs);
        assert_eq!(together.len(), zs.len());
        for (&z, value) in zs.iter().zip(together) {
            let alone = hypergeometric_series(upper, lower, z);
            match (value, alone) {
                (Some(v), Some(w)) => assert_close(v, w, 1e-14),
                (v, w) => assert_eq!(v, w, "{upper:?} {lower:?} at {z}"),
            }
        }
    }
    assert!(hypergeometric_series_at(&[1.0], &[2.0], &[]).is_empty());
}
