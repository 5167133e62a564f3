//! Population statistics over the active buyers (spec section 2): the distributions that
//! percentile ranks are taken against, the means, and the value-tier boundaries (3.2).
//! Built once per snapshot, then shared read-only by every classification.

use std::sync::{Arc, OnceLock};

use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

use super::features::Features;
use super::predictive::PredictiveStats;
use super::rules::{Share, ValueTierRules};
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
    #[serde(skip)]
    fifth_bounds: FifthBounds,
}

/// The least value whose [`Distribution::fifth`] is 1, 2, 3 and 4 (`None`: no value is), found
/// once per distribution. Scoring a customer then takes four comparisons instead of two binary
/// searches through a million values, whose cache misses were a seventh of a re-segmentation.
#[derive(Debug, Clone, Default)]
struct FifthBounds(OnceLock<[Option<i64>; 4]>);

/// A cache of what the values determine: equal whether filled or not.
impl PartialEq for FifthBounds {
    fn eq(&self, _: &Self) -> bool {
        true
    }
}

impl Eq for FifthBounds {}

impl Distribution {
    pub fn new(mut values: Vec<i64>) -> Self {
        values.sort_unstable();
        let sum = values.iter().map(|&v| i128::from(v)).sum();
        Self {
            sorted: values,
            sum,
            fifth_bounds: FifthBounds::default(),
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
        let bounds = self.fifth_bounds.0.get_or_init(|| self.find_fifth_bounds());
        bounds.iter().flatten().filter(|&&bound| v >= bound).count() as u32
    }

    /// [`Self::fifth`] is non-decreasing in `v`: a larger value has at least as many values
    /// below it, counted twice as much as the equal ones. So each fifth starts at one least
    /// value, found by bisection over every i64.
    fn find_fifth_bounds(&self) -> [Option<i64>; 4] {
        std::array::from_fn(|i| {
            let fifth = i as u32 + 1;
            if self.fifth_by_rank(i64::MAX) < fifth {
                return None;
            }
            if self.fifth_by_rank(i64::MIN) >= fifth {
                return Some(i64::MIN);
            }
            // fifth_by_rank(low) < fifth <= fifth_by_rank(high)
            let (mut low, mut high) = (i64::MIN, i64::MAX);
            while i128::from(high) - i128::from(low) > 1 {
                let middle = ((i128::from(low) + i128::from(high)) / 2) as i64;
                if self.fifth_by_rank(middle) >= fifth {
                    high = middle;
                } else {
                    low = middle;
                }
            }
            Some(high)
        })
    }

    fn fifth_by_rank(&self, v: i64) -> u32 {
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

/// The value-tier boundaries of a population (spec 3.2). The predicted value tier keeps the same
/// boundaries over CLV in minor units (then `profit` reads "CLV").
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

impl ValueTierBounds {
    /// `true` when (value, id) lies in the HIGH head: at or before its last mark.
    pub fn is_high(&self, value: i64, customer_id: &str) -> bool {
        self.last_high
            .as_ref()
            .is_some_and(|mark| mark.is_at_or_before(value, customer_id))
    }

    /// `true` when (value, id) lies in the LOW tail: at or after its first mark.
    pub fn is_low(&self, value: i64, customer_id: &str) -> bool {
        self.first_low.as_ref().is_some_and(|mark| {
            value < mark.profit
                || (value == mark.profit && customer_id >= mark.customer_id.as_str())
        })
    }
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
    /// The fitted predictive models and the predicted value tier. Absent from snapshots stored
    /// before they existed, which read as "not fitted".
    #[serde(default)]
    pub predictive: PredictiveStats,
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

    /// The same statistics with the predictive models of the same population (see
    /// `predictive::fit_predictive`); the content id follows.
    pub fn with_predictive(mut self, predictive: PredictiveStats) -> Self {
        self.predictive = predictive;
        self.info.id = content_id(&self);
        self
    }
}

fn default_value_tier() -> ValueTierRules {
    ValueTierRules {
        high_profit_share: super::rules::Share::from_ppm(800_000),
        low_customer_share: super::rules::Share::from_ppm(200_000),
    }
}

/// One active buyer's contribution to the statistics. The id is shared with the population
/// it was computed from: a snapshot of a million customers allocates no copy of their ids.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BuyerSample {
    pub customer_id: Arc<str>,
    pub recency_days: i64,
    pub frequency: i64,
    pub monetary: i64,
    pub units: i64,
    pub profit: i64,
}

impl BuyerSample {
    /// The sample of an active buyer; `None` for anyone without a purchase within `L`.
    pub fn from_features(customer_id: &Arc<str>, features: &Features) -> Option<Self> {
        if !features.is_active_buyer() {
            return None;
        }
        Some(Self {
            customer_id: Arc::clone(customer_id),
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
        predictive: PredictiveStats::default(),
    };
    stats.info.id = content_id(&stats);
    stats
}

/// `samples` must already be in value-tier order.
fn value_tier_bounds(samples: &[BuyerSample], rules: &ValueTierRules) -> ValueTierBounds {
    pareto_bounds(
        samples,
        |s| (s.profit, &s.customer_id),
        rules.high_profit_share,
        rules.low_customer_share,
    )
}

/// The 80/20 boundaries of `ranked`, already in tier order (value descending, then customer id
/// ascending); `key` gives each one's (value, id). HIGH: the shortest head whose values add up
/// to at least `high_share` of the total positive value (nobody when that total is 0). LOW: the
/// tail of floor(`low_share` x n), minus whoever is already HIGH.
pub(crate) fn pareto_bounds<T>(
    ranked: &[T],
    key: fn(&T) -> (i64, &str),
    high_share: Share,
    low_share: Share,
) -> ValueTierBounds {
    let n = ranked.len();
    let value = |item: &T| i128::from(key(item).0);
    let total_positive: i128 = ranked.iter().map(value).filter(|&v| v > 0).sum();

    let mut high_count = 0usize;
    if total_positive > 0 {
        let target_scaled = i128::from(high_share.ppm) * total_positive;
        let mut cumulative = 0i128;
        for item in ranked {
            cumulative += value(item);
            high_count += 1;
            if cumulative * 1_000_000 >= target_scaled {
                break;
            }
        }
    }

    let tail = (i128::from(low_share.ppm) * n as i128 / 1_000_000) as usize;
    let low_start = (n - tail.min(n)).max(high_count);
    let mark = |item: &T| {
        let (profit, id) = key(item);
        TierMark {
            profit,
            customer_id: id.to_owned(),
        }
    };
    ValueTierBounds {
        last_high: high_count.checked_sub(1).map(|i| mark(&ranked[i])),
        first_low: ranked.get(low_start).map(mark),
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
    // The fits and the predicted tier, but not how long fitting took: equal content, equal id.
    let mut predictive = stats.predictive.clone();
    predictive.bg_nbd.fit_millis = 0;
    predictive.gamma_gamma.fit_millis = 0;
    hasher.update(serde_json::to_vec(&predictive).unwrap_or_default());
    format!("snap-{}", &hex::encode(hasher.finalize())[..16])
}

#[cfg(test)]
mod tests;
