//! Seeded samplers written for the tests (no rand_distr): Box–Muller normals, Marsaglia–Tsang
//! gammas, betas as gamma ratios, and the two models' generative processes.

use rand::Rng;
use rand_chacha::ChaCha8Rng;

use crate::domain::predictive::{BgNbdParams, CustomerSummary, GammaGammaParams};

/// Uniform on (0, 1).
pub fn open_unit(rng: &mut ChaCha8Rng) -> f64 {
    loop {
        let u: f64 = rng.gen();
        if u > 0.0 {
            return u;
        }
    }
}

pub fn standard_normal(rng: &mut ChaCha8Rng) -> f64 {
    let (u, v) = (open_unit(rng), open_unit(rng));
    (-2.0 * u.ln()).sqrt() * (std::f64::consts::TAU * v).cos()
}

/// Gamma(shape, rate): Marsaglia & Tsang (2000); shape < 1 by Gamma(shape + 1) · U^(1/shape).
pub fn gamma(rng: &mut ChaCha8Rng, shape: f64, rate: f64) -> f64 {
    if shape < 1.0 {
        return gamma(rng, shape + 1.0, rate) * open_unit(rng).powf(1.0 / shape);
    }
    let d = shape - 1.0 / 3.0;
    let c = 1.0 / (9.0 * d).sqrt();
    loop {
        let z = standard_normal(rng);
        let v = 1.0 + c * z;
        if v <= 0.0 {
            continue;
        }
        let v = v * v * v;
        if open_unit(rng).ln() < 0.5 * z * z + d - d * v + d * v.ln() {
            return d * v / rate;
        }
    }
}

pub fn beta(rng: &mut ChaCha8Rng, a: f64, b: f64) -> f64 {
    let x = gamma(rng, a, 1.0);
    let y = gamma(rng, b, 1.0);
    x / (x + y)
}

/// Poisson(mean) by multiplying uniforms (Knuth); fine for small means.
pub fn poisson(rng: &mut ChaCha8Rng, mean: f64) -> u32 {
    let limit = (-mean).exp();
    let mut product = open_unit(rng);
    let mut count = 0;
    while product > limit {
        product *= open_unit(rng);
        count += 1;
    }
    count
}

/// BG/NBD customers (FHL 2005, section 2): λ ~ Gamma(r, α), p ~ Beta(a, b); from the first
/// purchase at 0, exponential gaps at rate λ; after each repeat purchase the customer drops out
/// with probability p; observed over an age T uniform in [min_age, max_age].
pub fn simulate_bg_nbd(
    rng: &mut ChaCha8Rng,
    params: &BgNbdParams,
    customers: usize,
    (min_age, max_age): (f64, f64),
) -> Vec<CustomerSummary> {
    (0..customers)
        .map(|_| {
            let lambda = gamma(rng, params.r, params.alpha);
            let p = beta(rng, params.a, params.b);
            let age = min_age + (max_age - min_age) * open_unit(rng);
            let (mut t, mut frequency, mut recency) = (0.0, 0, 0.0);
            loop {
                t += -open_unit(rng).ln() / lambda;
                if t > age {
                    break;
                }
                frequency += 1;
                recency = t;
                if open_unit(rng) < p {
                    break;
                }
            }
            CustomerSummary {
                frequency,
                recency,
                age,
                mean_repeat_spend: None,
            }
        })
        .collect()
}

/// Gamma-Gamma repeat buyers (Fader & Hardie 2013): ν ~ Gamma(q, v), x = 1 + Poisson(2)
/// transactions each Gamma(p, ν); m̄ is their mean.
pub fn simulate_gamma_gamma(
    rng: &mut ChaCha8Rng,
    params: &GammaGammaParams,
    customers: usize,
) -> Vec<CustomerSummary> {
    (0..customers)
        .map(|_| {
            let nu = gamma(rng, params.q, params.v);
            let frequency = 1 + poisson(rng, 2.0);
            let total: f64 = (0..frequency).map(|_| gamma(rng, params.p, nu)).sum();
            CustomerSummary {
                frequency,
                recency: 1.0,
                age: 2.0,
                mean_repeat_spend: Some(total / f64::from(frequency)),
            }
        })
        .collect()
}

/// Sanity of the samplers themselves: sample means and variances of Gamma and Beta.
#[test]
fn samplers_have_the_right_moments() {
    use rand::SeedableRng;
    let mut rng = ChaCha8Rng::seed_from_u64(7);
    for (shape, rate) in [(0.5, 5.0), (2.5, 1.0), (6.0, 0.2)] {
        let n = 200_000;
        let draws: Vec<f64> = (0..n).map(|_| gamma(&mut rng, shape, rate)).collect();
        let mean = draws.iter().sum::<f64>() / n as f64;
        let var = draws.iter().map(|d| (d - mean).powi(2)).sum::<f64>() / n as f64;
        // Standard errors are below 0.5 % of the mean here; 2 % leaves a wide margin.
        super::assert_close(mean, shape / rate, 0.02);
        super::assert_close(var, shape / (rate * rate), 0.05);
    }
    let n = 200_000;
    let mean = (0..n).map(|_| beta(&mut rng, 0.8, 2.5)).sum::<f64>() / n as f64;
    super::assert_close(mean, 0.8 / 3.3, 0.02);
}
