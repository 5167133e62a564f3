use rand::SeedableRng;
use rand_chacha::ChaCha8Rng;

use super::{assert_close, sim};
use crate::domain::predictive::special::beta_expectation;
use crate::domain::predictive::{fit_bg_nbd, BgNbdParams, CustomerSummary};

/// The estimates Fader, Hardie & Lee (2005) report for the CDNOW sample (time in weeks).
const CDNOW: BgNbdParams = BgNbdParams {
    r: 0.243,
    alpha: 4.414,
    a: 0.793,
    b: 2.426,
};

pub fn customer(frequency: u32, recency: f64, age: f64) -> CustomerSummary {
    CustomerSummary {
        frequency,
        recency,
        age,
        mean_repeat_spend: None,
    }
}

/// P(alive) straight from the formula, with powf instead of log space.
fn naive_probability_alive(p: &BgNbdParams, x: u32, t_x: f64, age: f64) -> f64 {
    if x == 0 {
        return 1.0;
    }
    let x = f64::from(x);
    1.0 / (1.0 + p.a / (p.b + x - 1.0) * ((p.alpha + age) / (p.alpha + t_x)).powf(p.r + x))
}

/// 2F1 by brute force: add terms until one is below 1e-18 of the sum.
fn brute_force_2f1(a: f64, b: f64, c: f64, z: f64) -> f64 {
    let (mut term, mut sum) = (1.0, 1.0);
    for n in 0..10_000_000 {
        let n = f64::from(n);
        term *= (a + n) * (b + n) / ((c + n) * (n + 1.0)) * z;
        sum += term;
        if n > 10.0 && term.abs() < 1e-18 * sum.abs() {
            break;
        }
    }
    sum
}

/// FHL 2005 eq. 10 as printed.
fn naive_expected(p: &BgNbdParams, x: u32, t_x: f64, age: f64, t: f64) -> f64 {
    let xf = f64::from(x);
    let z = t / (p.alpha + age + t);
    let f = brute_force_2f1(p.r + xf, p.b + xf, p.a + p.b + xf - 1.0, z);
    let bracket = 1.0 - ((p.alpha + age) / (p.alpha + age + t)).powf(p.r + xf) * f;
    (p.a + p.b + xf - 1.0) / (p.a - 1.0) * bracket * naive_probability_alive(p, x, t_x, age)
}

#[test]
fn probability_alive_matches_the_closed_form_for_cdnow_parameters() {
    // Reference values computed independently (a plain Python script, IEEE doubles). For the
    // first: a/(b+x−1) = 0.793/3.426 = 0.231465, ((α+T)/(α+t_x))^(r+x) =
    // (43.274/34.844)^2.243 = 1.625852, so P = 1/(1 + 0.376331) = 0.726579.
    let cases = [
        (2, 30.43, 38.86, 0.726_578_570_080_673),
        (7, 35.0, 38.0, 0.861_991_065_093_432_7),
        (1, 2.0, 30.0, 0.274_872_586_048_393_9),
        (5, 10.0, 39.0, 0.024_398_008_980_840_127),
    ];
    for (x, t_x, age, expected) in cases {
        let p = CDNOW.probability_alive(&customer(x, t_x, age));
        assert_close(p, expected, 1e-9);
        assert_close(p, naive_probability_alive(&CDNOW, x, t_x, age), 1e-12);
    }
    // x = 0: nobody drops out before a repeat purchase.
    for age in [0.0, 1.0, 38.86, 1e6] {
        assert_eq!(CDNOW.probability_alive(&customer(0, 0.0, age)), 1.0);
    }
    // Buying right up to the as-of day (t_x = T): only the dropout odds a/(b+x−1) remain.
    let p = CDNOW.probability_alive(&customer(3, 20.0, 20.0));
    assert_close(p, 1.0 / (1.0 + 0.793 / 4.426), 1e-14);
}

#[test]
fn expected_purchases_match_the_closed_form_with_a_brute_force_2f1() {
    // (x, t_x, T, t, reference from the same independent script).
    let cases = [
        (0, 0.0, 0.0, 39.0, 1.196_723_193_320_803_1),
        (0, 0.0, 38.86, 39.0, 0.195_098_052_011_253_96),
        (2, 30.43, 38.86, 39.0, 1.226_028_174_767_135),
        (7, 35.0, 38.0, 52.0, 5.728_681_664_346_094),
        (1, 2.0, 30.0, 10.0, 0.093_777_807_593_140_35),
        (5, 10.0, 39.0, 39.0, 0.092_645_885_432_041_47),
    ];
    for (x, t_x, age, t, expected) in cases {
        let e = CDNOW.expected_purchases(&customer(x, t_x, age), t);
        assert_close(e, expected, 1e-9);
        assert_close(e, naive_expected(&CDNOW, x, t_x, age, t), 1e-9);
    }
    // FHL 2005 report 1.226 expected purchases in 39 weeks for x = 2, t_x = 30.43, T = 38.86.
    let e = CDNOW.expected_purchases(&customer(2, 30.43, 38.86), 39.0);
    assert!((e - 1.226).abs() < 5e-4, "{e}");
    assert_eq!(
        CDNOW.expected_purchases(&customer(2, 30.43, 38.86), 0.0),
        0.0
    );
}

/// E[Y(t) | alive] as E[(1 − (1 + P s)^−(r+x)) / P], P ~ Beta(a, b+x), by quadrature.
fn quadrature_if_alive(p: &BgNbdParams, x: u32, age: f64, t: f64) -> f64 {
    let k = p.r + f64::from(x);
    let s = t / (p.alpha + age);
    beta_expectation(p.a, p.b + f64::from(x), |q| {
        if q > 0.0 {
            -(-k * (q * s).ln_1p()).exp_m1() / q
        } else {
            k * s
        }
    })
}

#[test]
fn expected_purchases_agree_with_quadrature_including_a_equal_to_one() {
    let sets = [
        CDNOW,
        BgNbdParams {
            r: 0.5,
            alpha: 5.0,
            a: 0.8,
            b: 2.5,
        },
        BgNbdParams {
            r: 2.0,
            alpha: 30.0,
            a: 3.0,
            b: 0.4,
        },
        BgNbdParams {
            r: 0.05,
            alpha: 0.5,
            a: 1.0,
            b: 1.0,
        },
        BgNbdParams {
            r: 0.05,
            alpha: 0.5,
            a: 1.0 + 1e-9,
            b: 1.0,
        },
        BgNbdParams {
            r: 40.0,
            alpha: 200.0,
            a: 0.3,
            b: 12.0,
        },
        // Rare dropout (a large, b larger): Gauss's series as printed converges faster than
        // the Euler form for the smaller x, and is the one used.
        BgNbdParams {
            r: 2.36,
            alpha: 156.5,
            a: 34.7,
            b: 9_517.7,
        },
        BgNbdParams {
            r: 0.4,
            alpha: 20.0,
            a: 6.0,
            b: 3.0,
        },
    ];
    for params in &sets {
        for (x, t_x, age) in [
            (0, 0.0, 0.0),
            (0, 0.0, 40.0),
            (3, 20.0, 30.0),
            (60, 29.0, 30.0),
        ] {
            for t in [0.5, 10.0, 100.0] {
                let summary = customer(x, t_x, age);
                let series = params.expected_purchases(&summary, t);
                let quadrature =
                    params.probability_alive(&summary) * quadrature_if_alive(params, x, age, t);
                assert_close(series, quadrature, 1e-9);
            }
        }
    }
    // Where the production code leaves the series for quadrature — a horizon 10⁴ times α + T
    // (z = 0.9999), and r far above a + b (alternating terms) — eq. 10 as printed, with a
    // brute-force 2F1 of up to ~10⁶ terms, still agrees.
    let far = BgNbdParams {
        r: 0.5,
        alpha: 0.01,
        a: 0.8,
        b: 2.5,
    };
    let e = far.expected_purchases(&customer(0, 0.0, 0.0), 100.0);
    assert_close(e, naive_expected(&far, 0, 0.0, 0.0, 100.0), 1e-8);
    let steep = BgNbdParams {
        r: 50.0,
        alpha: 100.0,
        a: 0.5,
        b: 0.7,
    };
    let e = steep.expected_purchases(&customer(0, 0.0, 0.0), 100.0);
    assert_close(e, naive_expected(&steep, 0, 0.0, 0.0, 100.0), 1e-8);
    // a = 1 is a removable singularity of eq. 10: the value is continuous through it.
    let summary = customer(3, 20.0, 30.0);
    let at = |a: f64| BgNbdParams { a, ..sets[3] }.expected_purchases(&summary, 10.0);
    assert_close(at(1.0 + 1e-7), at(1.0), 1e-6);
    assert_close(at(1.0 - 1e-7), at(1.0), 1e-6);
}

#[test]
fn log_likelihood_equals_a_naive_evaluation() {
    // FHL eq. 6 with Γ(r+x)/Γ(r) = Π (r+j) and B(a, b+x)/B(a, b) = Π (b+j)/(a+b+j), j < x.
    let naive = |p: &BgNbdParams, x: u32, t_x: f64, age: f64| -> f64 {
        let (mut rate, mut beta) = (1.0, 1.0);
        for j in 0..x {
            let j = f64::from(j);
            rate *= p.r + j;
            beta *= (p.b + j) / (p.a + p.b + j);
        }
        let k = p.r + f64::from(x);
        let common = rate * p.alpha.powf(p.r) * beta;
        let alive = common * (p.alpha + age).powf(-k);
        let dead = if x > 0 {
            common * p.a / (p.b + f64::from(x) - 1.0) * (p.alpha + t_x).powf(-k)
        } else {
            0.0
        };
        (alive + dead).ln()
    };
    for params in [
        CDNOW,
        BgNbdParams {
            r: 1.7,
            alpha: 12.0,
            a: 2.2,
            b: 0.6,
        },
    ] {
        for (x, t_x, age) in [
            (0, 0.0, 0.0),
            (0, 0.0, 25.0),
            (1, 3.0, 25.0),
            (4, 24.9, 25.0),
            (12, 40.0, 70.0),
        ] {
            let stable = params.log_likelihood(&customer(x, t_x, age));
            let direct = naive(&params, x, t_x, age);
            assert!(
                (stable - direct).abs() < 1e-11,
                "{x} {t_x} {age}: {stable} vs {direct}"
            );
        }
    }
    // Where the naive form overflows and underflows (∞ · 0), the stable one stays finite.
    let extreme = customer(400, 10.0, 5000.0);
    assert!(!naive(&CDNOW, 400, 10.0, 5000.0).is_finite());
    assert!(CDNOW.log_likelihood(&extreme).is_finite());
}

#[test]
fn expected_purchases_stay_bounded_at_the_corners_of_the_parameter_box() {
    // With no dropout at all the expectation would be the posterior mean rate times t, so
    // 0 ≤ E[Y(t)] ≤ (r+x) t / (α+T); and it grows with t.
    let grid = [1e-4, 1.0, 1e4];
    for &r in &grid {
        for &alpha in &grid {
            for &a in &grid {
                for &b in &grid {
                    let params = BgNbdParams { r, alpha, a, b };
                    for (x, t_x, age) in [
                        (0, 0.0, 0.0),
                        (0, 0.0, 30.0),
                        (3, 20.0, 30.0),
                        (50, 29.0, 30.0),
                    ] {
                        let summary = customer(x, t_x, age);
                        let alive = params.probability_alive(&summary);
                        assert!(
                            (0.0..=1.0).contains(&alive),
                            "{params:?} {summary:?}: {alive}"
                        );
                        let mut previous = 0.0;
                        for t in [1.0, 30.0, 365.0] {
                            let e = params.expected_purchases(&summary, t);
                            let bound = (r + f64::from(x)) * t / (alpha + age);
                            assert!(e.is_finite() && e >= 0.0, "{params:?} {summary:?} {t}: {e}");
                            assert!(
                                e <= bound * (1.0 + 1e-12),
                                "{params:?} {summary:?} {t}: {e} > {bound}"
                            );
                            assert!(
                                e >= previous * (1.0 - 1e-9),
                                "{params:?} {summary:?} {t}: {e} < {previous}"
                            );
                            previous = e;
                        }
                    }
                }
            }
        }
    }
}

#[test]
fn fit_recovers_simulated_parameters() {
    let truth = BgNbdParams {
        r: 0.5,
        alpha: 5.0,
        a: 0.8,
        b: 2.5,
    };
    let mut rng = ChaCha8Rng::seed_from_u64(2005);
    let summaries = sim::simulate_bg_nbd(&mut rng, &truth, 20_000, (26.0, 78.0));
    let started = std::time::Instant::now();
    let fit = fit_bg_nbd(&summaries).expect("a population with repeat buyers");
    println!(
        "BG/NBD fit of {} simulated customers: {:?} ({} iterations) → r {:.4} α {:.4} a {:.4} b {:.4}",
        summaries.len(),
        started.elapsed(),
        fit.iterations,
        fit.r,
        fit.alpha,
        fit.a,
        fit.b
    );
    assert!(fit.converged);
    assert_eq!(fit.customers, 20_000);
    // Relative tolerances: r 10 %, α 10 %, a 20 %, b 25 %. Over seeds 0..20 of this set-up the
    // largest errors were r 2.1 %, α 3.3 %, a 6.8 %, b 12.2 % (the dropout shape is the least
    // determined); this seed gives r 0.0 %, α 0.1 %, a 5.1 %, b 6.3 %.
    assert_close(fit.r, truth.r, 0.10);
    assert_close(fit.alpha, truth.alpha, 0.10);
    assert_close(fit.a, truth.a, 0.20);
    assert_close(fit.b, truth.b, 0.25);
    // The grouped, rescaled likelihood the optimiser saw is the plain per-customer sum.
    let direct: f64 = summaries
        .iter()
        .map(|s| fit.params().log_likelihood(s))
        .sum();
    assert_close(fit.log_likelihood, direct, 1e-10);
}

#[test]
fn fit_does_not_depend_on_the_time_unit() {
    let truth = BgNbdParams {
        r: 0.5,
        alpha: 35.0,
        a: 0.8,
        b: 2.5,
    };
    let mut rng = ChaCha8Rng::seed_from_u64(7);
    let in_days = sim::simulate_bg_nbd(&mut rng, &truth, 3_000, (180.0, 540.0));
    let in_weeks: Vec<CustomerSummary> = in_days
        .iter()
        .map(|s| customer(s.frequency, s.recency / 7.0, s.age / 7.0))
        .collect();
    let days = fit_bg_nbd(&in_days).expect("fit");
    let weeks = fit_bg_nbd(&in_weeks).expect("fit");
    assert_close(days.r, weeks.r, 1e-4);
    assert_close(days.a, weeks.a, 1e-4);
    assert_close(days.b, weeks.b, 1e-4);
    assert_close(days.alpha, 7.0 * weeks.alpha, 1e-4);
    // Densities in days are densities in weeks divided by 7 per repeat purchase.
    let repeats: f64 = in_days.iter().map(|s| f64::from(s.frequency)).sum();
    assert_close(
        days.log_likelihood,
        weeks.log_likelihood - repeats * 7f64.ln(),
        1e-9,
    );
}

#[test]
fn expected_purchases_at_many_horizons_are_those_at_each() {
    let horizons = [-1.0, 0.0, 0.5, 4.3, 30.0, 52.0, 400.0, 1e7, f64::NAN];
    for params in [
        CDNOW,
        BgNbdParams {
            r: 2.36,
            alpha: 156.5,
            a: 34.7,
            b: 9_517.7,
        },
    ] {
        for summary in [
            customer(0, 0.0, 20.0),
            customer(3, 20.0, 38.0),
            customer(40, 70.0, 78.0),
        ] {
            let together = params.expected_purchases_at(&summary, &horizons);
            for (&t, value) in horizons.iter().zip(together) {
                let alone = params.expected_purchases(&summary, t);
                assert!(value.is_finite() && value >= 0.0, "{value} at {t}");
                if alone == 0.0 {
                    assert_eq!(value, 0.0);
                } else {
                    assert_close(value, alone, 1e-12);
                }
            }
        }
    }
}
