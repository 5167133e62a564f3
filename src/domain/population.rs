//! Population statistics over the active buyers (spec section 2): the distributions that
//! percentile ranks are taken against, the means, and the value-tier boundaries (3.2).
//! Built once per snapshot, then shared read-only by every classification.

use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

use super::features::Features;
use super::rules::ValueTierRules;
use super::time::Timestamp;

/// What a classification reports about the snapshot it used.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SnapshotInfo {
    /// Content hash of the statistics.
    pub id: String,
    pub as_of: Timestamp,
    pub active_buyers: u64,
    pub customers: u64,
}

/// A sorted sample supporting exact percentile ranks, means and medians.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Distribution {
    sorted: Vec<i64>,
    sum: i128,
}

impl Distribution {
    pub fn new(mut values: Vec<i64>) -> Self {
        values.sort_unstable();
        let sum = values.iter().map(|&v| i128::from(v)).sum();
        Self {
            sorted: values,
            sum,
        }
    }

    pub fn len(&self) -> u64 {
        self.sorted.len() as u64
    }

    pub fn is_empty(&self) -> bool {
        self.sorted.is_empty()
    }

    pub fn sum(&self) -> i128 {
        self.sum
    }

    /// (values below `v`, values equal to `v`).
    pub fn rank(&self, v: i64) -> (u64, u64) {
        let below = self.sorted.partition_point(|&x| x < v);
        let not_above = self.sorted.partition_point(|&x| x <= v);
        (below as u64, (not_above - below) as u64)
    }

    /// `floor(5 * pct(v))` capped at 4, in integers:
    /// `floor((10 * below + 5 * equal) / (2 * n))`; 0 for an empty population.
    pub fn fifth(&self, v: i64) -> u32 {
        let n = self.len();
        if n == 0 {
            return 0;
        }
        let (below, equal) = self.rank(v);
        let fifth = (10 * u128::from(below) + 5 * u128::from(equal)) / (2 * u128::from(n));
        fifth.min(4) as u32
    }

    /// 1..5 where higher values score higher (F, M, units). 1 for an empty population.
    pub fn score_ascending(&self, v: i64) -> u32 {
        1 + self.fifth(v)
    }

    /// 1..5 where lower values score higher (R). 1 for an empty population.
    pub fn score_descending(&self, v: i64) -> u32 {
        if self.is_empty() {
            return 1;
        }
        5 - self.fifth(v)
    }

    /// The median as an exact half-integer `(twice_median)`; `None` when empty.
    pub fn twice_median(&self) -> Option<i128> {
        let n = self.sorted.len();
        if n == 0 {
            return None;
        }
        let mid = n / 2;
        Some(if n % 2 == 1 {
            2 * i128::from(self.sorted[mid])
        } else {
            i128::from(self.sorted[mid - 1]) + i128::from(self.sorted[mid])
        })
    }
}

/// A point in the value-tier order: profit descending, then customer id ascending.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct TierMark {
    pub profit: i64,
    pub customer_id: String,
}

impl TierMark {
    /// `true` when (profit, id) comes at or before `self` in the value-tier order.
    pub fn is_at_or_before(&self, profit: i64, customer_id: &str) -> bool {
        profit > self.profit || (profit == self.profit && customer_id <= self.customer_id.as_str())
    }
}

/// The value-tier boundaries of a population (spec 3.2).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct ValueTierBounds {
    /// The last customer of the HIGH head; `None` when nobody is HIGH.
    pub last_high: Option<TierMark>,
    /// The first customer of the LOW tail; `None` when nobody is LOW.
    pub first_low: Option<TierMark>,
    pub high_count: u64,
    pub low_count: u64,
    pub total_positive_profit: i128,
}

/// Everything the population-relative rules need, for one instant.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct PopulationStats {
    pub info: SnapshotInfo,
    pub recency_days: Distribution,
    pub frequency: Distribution,
    pub monetary: Distribution,
    pub units: Distribution,
    pub value_tier: ValueTierBounds,
}

impl PopulationStats {
    /// The number of active buyers.
    pub fn active_buyers(&self) -> u64 {
        self.frequency.len()
    }

    /// An empty population (no buyers yet) at `as_of`.
    pub fn empty(as_of: Timestamp) -> Self {
        build_population(std::iter::empty(), as_of, 0, &default_value_tier())
    }
}

fn default_value_tier() -> ValueTierRules {
    ValueTierRules {
        high_profit_share: super::rules::Share::from_ppm(800_000),
        low_customer_share: super::rules::Share::from_ppm(200_000),
    }
}

/// One active buyer's contribution to the statistics.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BuyerSample {
    pub customer_id: String,
    pub recency_days: i64,
    pub frequency: i64,
    pub monetary: i64,
    pub units: i64,
    pub profit: i64,
}

impl BuyerSample {
    /// The sample of an active buyer; `None` for anyone without a purchase within `L`.
    pub fn from_features(customer_id: &str, features: &Features) -> Option<Self> {
        if !features.is_active_buyer() {
            return None;
        }
        Some(Self {
            customer_id: customer_id.to_owned(),
            recency_days: features.recency_days?,
            frequency: features.frequency as i64,
            monetary: features.monetary,
            units: features.units as i64,
            profit: features.profit,
        })
    }
}

/// Builds the statistics from every active buyer's sample. `customers` counts everyone stored.
pub fn build_population(
    samples: impl IntoIterator<Item = BuyerSample>,
    as_of: Timestamp,
    customers: u64,
    tier_rules: &ValueTierRules,
) -> PopulationStats {
    let mut samples: Vec<BuyerSample> = samples.into_iter().collect();
    // One order for the value tiers, independent of how the store returned the rows.
    samples.sort_by(|a, b| {
        b.profit
            .cmp(&a.profit)
            .then_with(|| a.customer_id.cmp(&b.customer_id))
    });

    let value_tier = value_tier_bounds(&samples, tier_rules);
    let column =
        |pick: fn(&BuyerSample) -> i64| Distribution::new(samples.iter().map(pick).collect());
    let mut stats = PopulationStats {
        info: SnapshotInfo {
            id: String::new(),
            as_of,
            active_buyers: samples.len() as u64,
            customers,
        },
        recency_days: column(|s| s.recency_days),
        frequency: column(|s| s.frequency),
        monetary: column(|s| s.monetary),
        units: column(|s| s.units),
        value_tier,
    };
    stats.info.id = content_id(&stats);
    stats
}

/// `samples` must already be in value-tier order.
fn value_tier_bounds(samples: &[BuyerSample], rules: &ValueTierRules) -> ValueTierBounds {
    let n = samples.len();
    let total_positive: i128 = samples
        .iter()
        .filter(|s| s.profit > 0)
        .map(|s| i128::from(s.profit))
        .sum();

    // HIGH: shortest head with cumulative profit >= share x total positive profit.
    let mut high_count = 0usize;
    if total_positive > 0 {
        let target_scaled = i128::from(rules.high_profit_share.ppm) * total_positive;
        let mut cumulative = 0i128;
        for sample in samples {
            cumulative += i128::from(sample.profit);
            high_count += 1;
            if cumulative * 1_000_000 >= target_scaled {
                break;
            }
        }
    }

    // LOW: the tail of floor(share x n), minus whoever is already HIGH.
    let tail = (i128::from(rules.low_customer_share.ppm) * n as i128 / 1_000_000) as usize;
    let low_start = (n - tail.min(n)).max(high_count);
    let mark = |s: &BuyerSample| TierMark {
        profit: s.profit,
        customer_id: s.customer_id.clone(),
    };
    ValueTierBounds {
        last_high: high_count.checked_sub(1).map(|i| mark(&samples[i])),
        first_low: samples.get(low_start).map(mark),
        high_count: high_count as u64,
        low_count: (n - low_start) as u64,
        total_positive_profit: total_positive,
    }
}

fn content_id(stats: &PopulationStats) -> String {
    let mut hasher = Sha256::new();
    hasher.update(stats.info.as_of.micros().to_le_bytes());
    hasher.update(stats.info.customers.to_le_bytes());
    for dist in [
        &stats.recency_days,
        &stats.frequency,
        &stats.monetary,
        &stats.units,
    ] {
        hasher.update(dist.len().to_le_bytes());
        for v in &dist.sorted {
            hasher.update(v.to_le_bytes());
        }
    }
    let bounds = serde_json::to_vec(&stats.value_tier).unwrap_or_default();
    hasher.update(&bounds);
    format!("snap-{}", &hex::encode(hasher.finalize())[..16])
}

#[cfg(test)]
mod tests {
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
            customer_id: id.to_owned(),
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
}
