//! A bounded, derivative-free Nelder–Mead simplex minimiser with restarts.
//!
//! The moves and acceptance rules are those of Nelder & Mead (1965) as stated by Lagarias,
//! Reeds, Wright & Wright (1998): reflection 1, expansion 2, contraction ½, shrink ½. Bounds are
//! enforced by projecting every trial point onto the box. A run stops when both the spread of
//! the simplex values and its diameter (max-norm) fall under the tolerances; it then restarts
//! from its best point with a fresh simplex (Nelder–Mead can stall on a collapsed simplex)
//! (usually smaller) until a restart no longer improves the value by more than the value
//! tolerance.

/// Settings of [`minimize`].
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Options {
    /// Lower bound of every coordinate.
    pub lower: f64,
    /// Upper bound of every coordinate.
    pub upper: f64,
    /// Edge length of the initial simplex of the first run.
    pub initial_step: f64,
    /// Edge length of the fresh simplex of each restart.
    pub restart_step: f64,
    /// Convergence: spread of the values over the simplex (and least useful restart gain).
    pub value_tolerance: f64,
    /// Convergence: largest coordinate distance of a vertex from the best vertex.
    pub point_tolerance: f64,
    /// Cap on the iterations over all runs.
    pub max_iterations: usize,
    /// Cap on the restarts after the first run.
    pub max_restarts: usize,
}

/// What [`minimize`] found.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Minimum<const N: usize> {
    pub point: [f64; N],
    pub value: f64,
    /// Simplex iterations over all runs.
    pub iterations: usize,
    /// Objective evaluations over all runs.
    pub evaluations: usize,
    /// The last run met the tolerances and its restart gained nothing.
    pub converged: bool,
}

/// Minimises `f` over the box `[lower, upper]ᴺ` from `start` (projected into the box). A NaN
/// objective value counts as +∞, so the minimiser steps away from it.
pub fn minimize<const N: usize>(
    mut f: impl FnMut(&[f64; N]) -> f64,
    start: [f64; N],
    options: &Options,
) -> Minimum<N> {
    let mut evaluations = 0;
    let mut objective = |x: &[f64; N]| {
        evaluations += 1;
        let value = f(x);
        if value.is_nan() {
            f64::INFINITY
        } else {
            value
        }
    };
    let mut best = project(start, options);
    let mut best_value = objective(&best);
    let mut iterations = 0;
    let mut converged = N == 0; // nothing to search
    for run in 0..=options.max_restarts {
        let budget = options.max_iterations.saturating_sub(iterations);
        if budget == 0 || N == 0 {
            break;
        }
        let step = if run == 0 {
            options.initial_step
        } else {
            options.restart_step
        };
        let outcome = run_simplex(&mut objective, best, best_value, step, options, budget);
        iterations += outcome.iterations;
        let gain = best_value - outcome.value;
        if outcome.value <= best_value {
            best = outcome.point;
            best_value = outcome.value;
        }
        if !outcome.converged {
            break;
        }
        if run > 0 && gain <= options.value_tolerance {
            converged = true;
            break;
        }
    }
    Minimum {
        point: best,
        value: best_value,
        iterations,
        evaluations,
        converged,
    }
}

struct Run<const N: usize> {
    point: [f64; N],
    value: f64,
    iterations: usize,
    converged: bool,
}

fn project<const N: usize>(mut x: [f64; N], options: &Options) -> [f64; N] {
    for c in &mut x {
        *c = if c.is_nan() {
            0.5 * (options.lower + options.upper)
        } else {
            c.clamp(options.lower, options.upper)
        };
    }
    x
}

/// `from + factor · (to − from)`, projected into the box.
fn along<const N: usize>(from: &[f64; N], to: &[f64; N], factor: f64, o: &Options) -> [f64; N] {
    project(
        std::array::from_fn(|i| from[i] + factor * (to[i] - from[i])),
        o,
    )
}

fn run_simplex<const N: usize>(
    objective: &mut impl FnMut(&[f64; N]) -> f64,
    start: [f64; N],
    start_value: f64,
    step: f64,
    options: &Options,
    budget: usize,
) -> Run<N> {
    let mut simplex: Vec<([f64; N], f64)> = Vec::with_capacity(N + 1);
    simplex.push((start, start_value));
    for i in 0..N {
        let mut vertex = start;
        vertex[i] += step;
        if vertex[i] > options.upper {
            vertex[i] = start[i] - step; // step inward from the upper bound
        }
        let vertex = project(vertex, options);
        let value = objective(&vertex);
        simplex.push((vertex, value));
    }
    let mut iterations = 0;
    let mut converged = false;
    while iterations < budget {
        simplex.sort_by(|l, r| l.1.total_cmp(&r.1));
        let (best, best_value) = simplex[0];
        let (worst, worst_value) = simplex[N];
        let second_worst_value = simplex[N - 1].1;
        let diameter = simplex
            .iter()
            .flat_map(|(x, _)| x.iter().zip(&best).map(|(c, b)| (c - b).abs()))
            .fold(0.0, f64::max);
        if worst_value - best_value <= options.value_tolerance
            && diameter <= options.point_tolerance
        {
            converged = true;
            break;
        }
        iterations += 1;
        let mut centroid = [0.0; N];
        for (x, _) in &simplex[..N] {
            for (c, v) in centroid.iter_mut().zip(x) {
                *c += v / N as f64;
            }
        }
        let reflected = along(&centroid, &worst, -1.0, options);
        let reflected_value = objective(&reflected);
        let replacement = if reflected_value < best_value {
            let expanded = along(&centroid, &worst, -2.0, options);
            let expanded_value = objective(&expanded);
            Some(if expanded_value < reflected_value {
                (expanded, expanded_value)
            } else {
                (reflected, reflected_value)
            })
        } else if reflected_value < second_worst_value {
            Some((reflected, reflected_value))
        } else if reflected_value < worst_value {
            let outside = along(&centroid, &worst, -0.5, options);
            let outside_value = objective(&outside);
            (outside_value <= reflected_value).then_some((outside, outside_value))
        } else {
            let inside = along(&centroid, &worst, 0.5, options);
            let inside_value = objective(&inside);
            (inside_value < worst_value).then_some((inside, inside_value))
        };
        match replacement {
            Some(vertex) => simplex[N] = vertex,
            None => {
                for vertex in &mut simplex[1..] {
                    let shrunk = along(&best, &vertex.0, 0.5, options);
                    *vertex = (shrunk, objective(&shrunk));
                }
            }
        }
    }
    simplex.sort_by(|l, r| l.1.total_cmp(&r.1));
    let (point, value) = simplex[0];
    Run {
        point,
        value,
        iterations,
        converged,
    }
}
