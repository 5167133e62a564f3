use super::assert_close;
use super::bgnbd::customer;
use super::gamma_gamma::spender;
use crate::domain::predictive::{predict, BgNbdFit, CustomerSummary, GammaGammaFit, TimeUnit};

/// The CDNOW estimates of FHL 2005 (weeks) as a fit.
const BG: BgNbdFit = BgNbdFit {
    r: 0.243,
    alpha: 4.414,
    a: 0.793,
    b: 2.426,
    log_likelihood: 0.0,
    customers: 0,
    iterations: 0,
    converged: true,
};

const GG: GammaGammaFit = GammaGammaFit {
    p: 6.0,
    q: 4.0,
    v: 15.0,
    log_likelihood: 0.0,
    customers: 0,
    iterations: 0,
    converged: true,
    observed_mean_spend: 30.0,
};

fn buyer() -> CustomerSummary {
    CustomerSummary {
        mean_repeat_spend: Some(5.0),
        ..customer(3, 20.0, 30.0)
    }
}

#[test]
fn without_discounting_clv_is_expected_purchases_times_order_value() {
    let summary = buyer();
    let prediction = predict(&BG, Some(&GG), &summary, 365, 0.0, TimeUnit::Weeks);
    let params = BG.params();
    assert_eq!(
        prediction.probability_alive,
        params.probability_alive(&summary)
    );
    assert_close(
        prediction.expected_purchases,
        params.expected_purchases(&summary, 365.0 / 7.0),
        1e-15,
    );
    // x = 3, m̄ = 5: (3 · 30 + 18 · 5) / 21 = 180 / 21.
    let value = prediction
        .expected_average_order_value
        .expect("a Gamma-Gamma fit");
    assert_close(value, 180.0 / 21.0, 1e-15);
    // The monthly increments telescope.
    assert_close(
        prediction.clv.expect("a value"),
        prediction.expected_purchases * value,
        1e-12,
    );
}

#[test]
fn purchases_are_discounted_at_the_end_of_their_month() {
    let summary = buyer();
    let params = BG.params();
    let value = 180.0 / 21.0;
    // Horizon 45 days: months end at day 30 and day 45; 10 % a year.
    let e30 = params.expected_purchases(&summary, 30.0 / 7.0);
    let e45 = params.expected_purchases(&summary, 45.0 / 7.0);
    let expected =
        value * (e30 * 1.1f64.powf(-30.0 / 365.0) + (e45 - e30) * 1.1f64.powf(-45.0 / 365.0));
    let prediction = predict(&BG, Some(&GG), &summary, 45, 0.1, TimeUnit::Weeks);
    assert_close(prediction.clv.expect("a value"), expected, 1e-12);
    assert_close(prediction.expected_purchases, e45, 1e-15);
    // Over three years the discounted value lies between the undiscounted one and the one
    // discounted entirely at the horizon.
    let prediction = predict(&BG, Some(&GG), &summary, 3 * 365, 0.1, TimeUnit::Weeks);
    let undiscounted = prediction.expected_purchases * value;
    let clv = prediction.clv.expect("a value");
    assert!(
        clv < undiscounted && clv > undiscounted * 1.1f64.powi(-3),
        "{clv} {undiscounted}"
    );
}

#[test]
fn edge_inputs_give_defined_predictions() {
    let summary = buyer();
    let nothing = predict(&BG, Some(&GG), &summary, 0, 0.1, TimeUnit::Weeks);
    assert_eq!((nothing.expected_purchases, nothing.clv), (0.0, Some(0.0)));
    // Unusable discount rates count as 0.
    let plain = predict(&BG, Some(&GG), &summary, 200, 0.0, TimeUnit::Weeks);
    for rate in [f64::NAN, f64::INFINITY, -1.0, -3.0] {
        assert_eq!(
            predict(&BG, Some(&GG), &summary, 200, rate, TimeUnit::Weeks),
            plain
        );
    }
    // Without Gamma-Gamma: the customer's own mean repeat spend, or nothing for a first-timer.
    let own = predict(&BG, None, &summary, 200, 0.0, TimeUnit::Weeks);
    assert_eq!(own.expected_average_order_value, Some(5.0));
    assert_close(
        own.clv.expect("a value"),
        own.expected_purchases * 5.0,
        1e-12,
    );
    let first = predict(
        &BG,
        None,
        &customer(0, 0.0, 10.0),
        200,
        0.0,
        TimeUnit::Weeks,
    );
    assert_eq!(
        (
            first.probability_alive,
            first.expected_average_order_value,
            first.clv
        ),
        (1.0, None, None)
    );
    // With Gamma-Gamma a first-timer gets the population mean order value.
    let first = predict(
        &BG,
        Some(&GG),
        &customer(0, 0.0, 10.0),
        200,
        0.0,
        TimeUnit::Weeks,
    );
    assert_eq!(first.expected_average_order_value, Some(30.0));
    // The time unit only converts the horizon: a weekly fit seen in days is the same model.
    let in_days = BgNbdFit {
        alpha: BG.alpha * 7.0,
        ..BG
    };
    let summary_days = CustomerSummary {
        recency: 140.0,
        age: 210.0,
        ..summary
    };
    let days = predict(
        &in_days,
        Some(&GG),
        &summary_days,
        200,
        0.05,
        TimeUnit::Days,
    );
    let weeks = predict(&BG, Some(&GG), &summary, 200, 0.05, TimeUnit::Weeks);
    assert_close(days.expected_purchases, weeks.expected_purchases, 1e-12);
    assert_close(days.clv.expect("value"), weeks.clv.expect("value"), 1e-12);
    let _ = spender(1, 1.0);
}
