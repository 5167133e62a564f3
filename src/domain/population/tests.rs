//! Percentile scores, medians and the value-tier 80/20 boundaries.

use super::*;

fn scores_asc(values: &[i64]) -> Vec<u32> {
    let dist = Distribution::new(values.to_vec());
    values.iter().map(|&v| dist.score_ascending(v)).collect()
}

#[test]
fn spec_worked_examples_of_quintile_scores() {
    assert_eq!(scores_asc(&[100, 200, 300, 500, 500]), vec![1, 2, 3, 5, 5]);
    let frequencies = [1, 1, 1, 1, 1, 1, 1, 2, 3, 10];
    assert_eq!(scores_asc(&frequencies), vec![2, 2, 2, 2, 2, 2, 2, 4, 5, 5]);
    let recency = Distribution::new(vec![0, 10, 20, 30, 40]);
    let r: Vec<u32> = [0, 10, 20, 30, 40]
        .iter()
        .map(|&v| recency.score_descending(v))
        .collect();
    assert_eq!(r, vec![5, 4, 3, 2, 1]);
}

#[test]
fn equal_values_always_share_a_score() {
    assert_eq!(scores_asc(&[7; 9]), vec![3; 9]);
    // Four equal of five: pct = (0 + 4/2) / 5 = 0.4, floor(2) = 2, score 3.
    assert_eq!(scores_asc(&[1, 1, 1, 1, 9]), vec![3, 3, 3, 3, 5]);
    assert_eq!(scores_asc(&[1, 9, 9, 9, 9]), vec![1, 4, 4, 4, 4]);
    let recency = Distribution::new(vec![5; 4]);
    assert_eq!(recency.score_descending(5), 3);
}

#[test]
fn distinct_values_split_into_fifths() {
    let values: Vec<i64> = (1..=10).collect();
    assert_eq!(scores_asc(&values), vec![1, 1, 2, 2, 3, 3, 4, 4, 5, 5]);
    let values: Vec<i64> = (1..=3).collect();
    // pct = 1/6, 3/6, 5/6 -> floor(5 pct) = 0, 2, 4.
    assert_eq!(scores_asc(&values), vec![1, 3, 5]);
}

#[test]
fn empty_population_scores_one_and_values_outside_rank_at_the_edges() {
    let empty = Distribution::default();
    assert_eq!(empty.score_ascending(10), 1);
    assert_eq!(empty.score_descending(10), 1);
    let dist = Distribution::new(vec![10, 20, 30]);
    assert_eq!(dist.score_ascending(0), 1);
    assert_eq!(dist.score_ascending(99), 5);
    assert_eq!(dist.score_descending(999), 1);
    assert_eq!(dist.score_descending(-1), 5);
}

#[test]
fn median_of_even_count_is_mean_of_middle_two() {
    assert_eq!(Distribution::new(vec![1, 2, 3, 10]).twice_median(), Some(5));
    assert_eq!(Distribution::new(vec![4, 1, 3]).twice_median(), Some(6));
    assert_eq!(Distribution::default().twice_median(), None);
}

fn sample(id: &str, profit: i64) -> BuyerSample {
    BuyerSample {
        customer_id: id.into(),
        recency_days: 1,
        frequency: 1,
        monetary: profit.max(0),
        units: 1,
        profit,
    }
}

fn tiers(samples: Vec<BuyerSample>) -> ValueTierBounds {
    build_population(samples, Timestamp(0), 0, &default_value_tier()).value_tier
}

#[test]
fn pareto_with_no_buyers_has_no_tiers() {
    let bounds = tiers(vec![]);
    assert_eq!((bounds.high_count, bounds.low_count), (0, 0));
    assert!(bounds.last_high.is_none() && bounds.first_low.is_none());
}

#[test]
fn pareto_with_one_buyer() {
    let bounds = tiers(vec![sample("a", 500)]);
    assert_eq!((bounds.high_count, bounds.low_count), (1, 0));
    // A lone loss-making buyer: no positive profit, nobody HIGH; floor(0.2) = 0 LOW.
    let bounds = tiers(vec![sample("a", -5)]);
    assert_eq!((bounds.high_count, bounds.low_count), (0, 0));
}

#[test]
fn pareto_with_four_buyers_has_no_low_tail() {
    // Total 1000; head 700 < 800, 700 + 200 >= 800: two HIGH. floor(0.8) = 0 LOW.
    let bounds = tiers(vec![
        sample("a", 200),
        sample("b", 700),
        sample("c", 60),
        sample("d", 40),
    ]);
    assert_eq!(bounds.high_count, 2);
    assert_eq!(
        bounds.last_high.as_ref().map(|m| m.customer_id.as_str()),
        Some("a")
    );
    assert_eq!(bounds.low_count, 0);
}

#[test]
fn pareto_ties_are_broken_by_customer_id() {
    // Five equal profits of 100: 80% of 500 = 400 needs four; the tie order is by id.
    let samples = ["e", "b", "d", "a", "c"]
        .iter()
        .map(|id| sample(id, 100))
        .collect();
    let bounds = tiers(samples);
    assert_eq!(bounds.high_count, 4);
    let last_high = bounds.last_high.expect("a HIGH head");
    assert_eq!(last_high.customer_id, "d");
    assert!(last_high.is_at_or_before(100, "a"));
    assert!(!last_high.is_at_or_before(100, "e"));
    // floor(0.2 x 5) = 1 LOW: "e", the last in order and not HIGH.
    assert_eq!(bounds.low_count, 1);
    assert_eq!(
        bounds.first_low.map(|m| m.customer_id),
        Some("e".to_owned())
    );
}

#[test]
fn pareto_low_tail_skips_high_customers_and_counts_losses() {
    // Ten buyers: one makes all the profit, the rest lose money.
    let mut samples = vec![sample("top", 1000)];
    samples.extend((0..9).map(|i| sample(&format!("l{i}"), -(i + 1))));
    let bounds = tiers(samples);
    assert_eq!(bounds.high_count, 1);
    assert_eq!(bounds.low_count, 2);
    let first_low = bounds.first_low.expect("a LOW tail");
    assert_eq!(
        (first_low.profit, first_low.customer_id.as_str()),
        (-8, "l7")
    );
}

#[test]
fn pareto_zero_total_profit_has_no_high() {
    let bounds = tiers((0..5).map(|i| sample(&format!("z{i}"), 0)).collect());
    assert_eq!(bounds.high_count, 0);
    assert_eq!(bounds.low_count, 1);
}

#[test]
fn snapshot_id_depends_on_content_only() {
    let a = build_population(
        vec![sample("a", 5), sample("b", 7)],
        Timestamp(9),
        2,
        &default_value_tier(),
    );
    let b = build_population(
        vec![sample("b", 7), sample("a", 5)],
        Timestamp(9),
        2,
        &default_value_tier(),
    );
    let c = build_population(
        vec![sample("b", 8), sample("a", 5)],
        Timestamp(9),
        2,
        &default_value_tier(),
    );
    assert_eq!(a.info.id, b.info.id);
    assert_ne!(a.info.id, c.info.id);
}

#[test]
fn fifths_from_the_bounds_equal_fifths_from_ranks_for_every_value() {
    // Small deterministic pseudo-random samples with many ties, plus the extremes.
    let mut state: u64 = 0x2545_f491_4f6c_dd1d;
    let mut next = move || {
        state ^= state << 13;
        state ^= state >> 7;
        state ^= state << 17;
        state
    };
    let mut samples: Vec<Vec<i64>> = vec![
        vec![],
        vec![7],
        vec![i64::MIN, i64::MAX],
        vec![i64::MIN, 0, 0, 0, i64::MAX],
        vec![5; 10],
    ];
    for len in [2, 3, 4, 5, 9, 10, 11, 37, 100, 1_000] {
        let spread = (next() % 50 + 1) as i64;
        samples.push(
            (0..len)
                .map(|_| (next() % spread as u64) as i64 - spread / 2)
                .collect(),
        );
    }
    for values in samples {
        let dist = Distribution::new(values.clone());
        let mut probes: Vec<i64> = vec![i64::MIN, i64::MIN + 1, -1, 0, 1, i64::MAX - 1, i64::MAX];
        for &v in &values {
            probes.extend([v.saturating_sub(1), v, v.saturating_add(1)]);
        }
        probes.extend((-60..60).map(i64::from));
        for v in probes {
            assert_eq!(
                dist.fifth(v),
                dist.fifth_by_rank(v),
                "value {v} in {values:?}"
            );
        }
    }
}
