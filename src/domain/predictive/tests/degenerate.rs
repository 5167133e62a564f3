//! Populations the models cannot learn much from: typed errors or finite, bounded fits.

use super::bgnbd::customer;
use super::gamma_gamma::spender;
use crate::domain::predictive::{
    fit_bg_nbd, fit_gamma_gamma, predict, summarize, BgNbdFit, CustomerSummary, FitError, TimeUnit,
    PARAMETER_MAX, PARAMETER_MIN,
};

/// Everything a degenerate fit returns is finite and within its bounds, and so are the
/// predictions it makes for a range of customers.
fn assert_usable(fit: &BgNbdFit, mean_age: f64) {
    for value in [fit.r, fit.a, fit.b] {
        assert!((PARAMETER_MIN..=PARAMETER_MAX).contains(&value), "{fit:?}");
    }
    let alpha = fit.alpha / mean_age;
    assert!(
        (PARAMETER_MIN * 0.999_999..=PARAMETER_MAX * 1.000_001).contains(&alpha),
        "{fit:?}"
    );
    assert!(fit.log_likelihood.is_finite(), "{fit:?}");
    for summary in [
        customer(0, 0.0, 0.0),
        customer(0, 0.0, 50.0),
        customer(2, 10.0, 20.0),
        customer(40, 300.0, 365.0),
    ] {
        let p = predict(fit, None, &summary, 365, 0.1, TimeUnit::Days);
        assert!(
            (0.0..=1.0).contains(&p.probability_alive),
            "{fit:?} {summary:?} {p:?}"
        );
        assert!(
            p.expected_purchases.is_finite() && p.expected_purchases >= 0.0,
            "{fit:?} {summary:?} {p:?}"
        );
    }
}

#[test]
fn bg_nbd_without_buyers_or_repeat_buyers_is_an_error() {
    assert_eq!(fit_bg_nbd(&[]), Err(FitError::NoBuyers));
    // Non-buyers have no summary at all, so a population of them is empty.
    let summaries: Vec<CustomerSummary> = [vec![], vec![(200, 5)]]
        .iter()
        .filter_map(|p| summarize(p, 100, TimeUnit::Days))
        .collect();
    assert_eq!(fit_bg_nbd(&summaries), Err(FitError::NoBuyers));
    let first_timers: Vec<CustomerSummary> = (0..1000)
        .map(|i| customer(0, 0.0, f64::from(i % 90)))
        .collect();
    assert_eq!(fit_bg_nbd(&first_timers), Err(FitError::NoRepeatBuyers));
    assert_eq!(
        fit_bg_nbd(&[customer(0, 0.0, 12.0)]),
        Err(FitError::NoRepeatBuyers)
    );
    assert_eq!(
        fit_bg_nbd(&[customer(0, 0.0, 0.0)]),
        Err(FitError::NoRepeatBuyers)
    );
}

#[test]
fn bg_nbd_rejects_invalid_summaries() {
    let summaries = [customer(1, 5.0, 10.0), customer(2, 11.0, 10.0)];
    assert!(matches!(
        fit_bg_nbd(&summaries),
        Err(FitError::InvalidSummary { index: 1, .. })
    ));
    let summaries = [customer(1, f64::NAN, 10.0)];
    assert!(matches!(
        fit_bg_nbd(&summaries),
        Err(FitError::InvalidSummary { index: 0, .. })
    ));
}

#[test]
fn bg_nbd_of_a_single_buyer_is_finite_and_bounded() {
    let fit = fit_bg_nbd(&[customer(3, 40.0, 60.0)]).expect("one repeat buyer");
    assert_usable(&fit, 60.0);
    assert_eq!(fit.customers, 1);
}

#[test]
fn bg_nbd_of_identical_buyers_is_finite_and_bounded() {
    let identical = vec![customer(2, 10.0, 20.0); 5000];
    let fit = fit_bg_nbd(&identical).expect("repeat buyers");
    assert_usable(&fit, 20.0);
    // Identical first-timers beside identical repeaters.
    let mut mixed = identical;
    mixed.extend(vec![customer(0, 0.0, 20.0); 5000]);
    let fit = fit_bg_nbd(&mixed).expect("repeat buyers");
    assert_usable(&fit, 20.0);
    // Everybody bought on the as-of day except one repeater: mean age is tiny.
    let mut today = vec![customer(0, 0.0, 0.0); 999];
    today.push(customer(1, 1.0, 1.0));
    let fit = fit_bg_nbd(&today).expect("one repeat buyer");
    assert_usable(&fit, 1.0 / 1000.0);
}

#[test]
fn gamma_gamma_without_buyers_or_repeat_spend_is_an_error() {
    assert_eq!(fit_gamma_gamma(&[]), Err(FitError::NoBuyers));
    let first_timers = vec![customer(0, 0.0, 10.0); 100];
    assert_eq!(
        fit_gamma_gamma(&first_timers),
        Err(FitError::NoRepeatBuyers)
    );
    // Repeat buyers whose repeat days net to zero or less (refunds) carry no spend to model.
    let refunds = [spender(2, 0.0), spender(1, -30.0)];
    assert_eq!(fit_gamma_gamma(&refunds), Err(FitError::NoRepeatBuyers));
    let invalid = [spender(2, 10.0), spender(1, f64::NAN)];
    assert!(matches!(
        fit_gamma_gamma(&invalid),
        Err(FitError::InvalidSummary { index: 1, .. })
    ));
}

#[test]
fn gamma_gamma_of_a_single_or_identical_spenders_is_finite_and_sensible() {
    for population in [vec![spender(3, 25.0)], vec![spender(3, 25.0); 2000]] {
        let fit = fit_gamma_gamma(&population).expect("repeat buyers");
        for value in [fit.p, fit.q] {
            assert!((PARAMETER_MIN..=PARAMETER_MAX).contains(&value), "{fit:?}");
        }
        assert!(
            fit.v.is_finite() && fit.v > 0.0 && fit.log_likelihood.is_finite(),
            "{fit:?}"
        );
        assert_eq!(fit.observed_mean_spend, 25.0);
        // Whatever the parameters, the order value stays finite and positive; for the
        // identical population it is the common spend (tolerance 1 %).
        for summary in [spender(3, 25.0), spender(1, 400.0), customer(0, 0.0, 3.0)] {
            let value = fit.expected_average_order_value(&summary);
            assert!(
                value.is_finite() && value > 0.0,
                "{fit:?} {summary:?} {value}"
            );
        }
        if population.len() > 1 {
            let value = fit.expected_average_order_value(&spender(3, 25.0));
            assert!((value - 25.0).abs() <= 0.25, "{fit:?}: {value}");
        }
    }
}
