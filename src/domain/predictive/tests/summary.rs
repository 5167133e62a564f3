use crate::domain::predictive::{summarize, CustomerSummary, TimeUnit};

#[test]
fn non_buyers_have_no_summary() {
    assert_eq!(summarize(&[], 100, TimeUnit::Days), None);
    // Purchases after the as-of day are not seen yet.
    assert_eq!(
        summarize(&[(101, 500), (150, 20)], 100, TimeUnit::Days),
        None
    );
}

#[test]
fn a_single_purchase_day_is_a_first_timer() {
    // Two purchases on the first day are one transaction: no repeat purchase.
    let summary = summarize(&[(90, 500), (90, 700)], 100, TimeUnit::Days).expect("a buyer");
    let expected = CustomerSummary {
        frequency: 0,
        recency: 0.0,
        age: 10.0,
        mean_repeat_spend: None,
    };
    assert_eq!(summary, expected);
    // Bought on the as-of day itself: T = 0.
    let today = summarize(&[(100, 1)], 100, TimeUnit::Weeks).expect("a buyer");
    assert_eq!((today.frequency, today.recency, today.age), (0, 0.0, 0.0));
}

#[test]
fn repeat_days_are_counted_once_and_their_totals_averaged() {
    // Unsorted input; day 10 is the first day (its 999 is not a repeat spend); day 17 has two
    // purchases (total 300); day 31 one (100); day 40 is after the as-of day.
    let purchases = [(17, 100), (31, 100), (10, 999), (17, 200), (40, 5_000)];
    let summary = summarize(&purchases, 38, TimeUnit::Days).expect("a buyer");
    let expected = CustomerSummary {
        frequency: 2,
        recency: 21.0,
        age: 28.0,
        mean_repeat_spend: Some(200.0), // (300 + 100) / 2
    };
    assert_eq!(summary, expected);
    let weeks = summarize(&purchases, 38, TimeUnit::Weeks).expect("a buyer");
    assert_eq!((weeks.recency, weeks.age), (3.0, 4.0));
    assert_eq!(weeks.frequency, 2);
}

#[test]
fn refunds_and_large_amounts_are_taken_as_given() {
    // A repeat day whose net total is negative still counts as a purchase day.
    let summary = summarize(&[(0, 100), (5, 300), (5, -400)], 5, TimeUnit::Days).expect("buyer");
    assert_eq!(summary.frequency, 1);
    assert_eq!(summary.mean_repeat_spend, Some(-100.0));
    // Sums do not overflow.
    let summary =
        summarize(&[(0, 1), (1, i64::MAX), (1, i64::MAX)], 1, TimeUnit::Days).expect("buyer");
    assert_eq!(summary.mean_repeat_spend, Some(2.0 * i64::MAX as f64));
    assert!(summary.check().is_ok());
}

#[test]
fn check_rejects_summaries_breaking_the_convention() {
    let good = CustomerSummary {
        frequency: 2,
        recency: 3.0,
        age: 5.0,
        mean_repeat_spend: Some(1.0),
    };
    assert!(good.check().is_ok());
    assert!(CustomerSummary {
        recency: 6.0,
        ..good
    }
    .check()
    .is_err());
    assert!(CustomerSummary { age: -1.0, ..good }.check().is_err());
    assert!(CustomerSummary {
        age: f64::NAN,
        ..good
    }
    .check()
    .is_err());
    assert!(CustomerSummary {
        mean_repeat_spend: Some(f64::INFINITY),
        ..good
    }
    .check()
    .is_err());
}
