//! Per-customer summary statistics (x, t_x, T, m̄) used by the BG/NBD and Gamma-Gamma models.
//!
//! Convention (the usual one for these models, e.g. Fader, Hardie & Lee 2005):
//! - purchases are grouped by UTC calendar day (day index): all purchases of one day form one
//!   transaction whose value is the day's total;
//! - purchases dated after the as-of day are ignored; a customer with no purchase left is a
//!   non-buyer and has no summary;
//! - the first purchase day starts the customer's observation and is not a repeat purchase:
//!   **frequency** x is the number of distinct purchase days after it;
//! - **recency** t_x is the time from the first to the last purchase day (0 when x = 0);
//! - **age** T is the time from the first purchase day to the as-of day;
//! - **mean repeat spend** m̄ is the mean of the daily totals of the x repeat days (the first
//!   day is excluded, as the Gamma-Gamma model asks), `None` when x = 0. Amounts are taken as
//!   given (minor currency units); a day whose total is ≤ 0 still counts as a purchase day.
//!
//! Times are expressed in a [`TimeUnit`]: days, or weeks = days / 7. A model fitted on
//! summaries in one unit must be used with summaries and horizons in the same unit.

use serde::{Deserialize, Serialize};

/// The unit of recency, age, horizons and of the fitted BG/NBD scale α. Written `days` or
/// `weeks` in rule sets and stored snapshots.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum TimeUnit {
    #[default]
    Days,
    Weeks,
}

impl TimeUnit {
    /// The rule-set spelling: `days` or `weeks`.
    pub fn code(self) -> &'static str {
        match self {
            Self::Days => "days",
            Self::Weeks => "weeks",
        }
    }

    /// Converts a number of days into this unit.
    pub fn from_days(self, days: f64) -> f64 {
        match self {
            Self::Days => days,
            Self::Weeks => days / 7.0,
        }
    }
}

/// One buyer's history as the models see it (see the module doc for the convention).
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct CustomerSummary {
    /// x: distinct purchase days after the first.
    pub frequency: u32,
    /// t_x: time from the first to the last purchase day.
    pub recency: f64,
    /// T: time from the first purchase day to the as-of day.
    pub age: f64,
    /// m̄: mean daily total over the repeat purchase days; `None` when `frequency` is 0.
    pub mean_repeat_spend: Option<f64>,
}

/// A buyer's purchase days as of an as-of day, in whole days: everything a
/// [`CustomerSummary`] is made of, exact integers, independent of the time unit. Features keep
/// this per customer, so one pass over a history serves the summary in any unit.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct PurchaseDays {
    /// The day index (UTC days since the epoch) of the first purchase.
    pub first_day: i64,
    /// The day index of the last purchase (at or before `as_of_day`).
    pub last_day: i64,
    /// The day index of the as-of instant.
    pub as_of_day: i64,
    /// Distinct purchase days after the first (x).
    pub repeat_days: u32,
    /// The sum of the daily totals of those repeat days, minor units.
    pub repeat_total: i128,
}

impl PurchaseDays {
    /// From `(day_index, amount)` purchases (any order), as of `as_of_day` (inclusive): later
    /// purchases are ignored. `None` for a non-buyer.
    pub fn from_purchases(mut purchases: Vec<(i64, i64)>, as_of_day: i64) -> Option<Self> {
        purchases.retain(|&(day, _)| day <= as_of_day);
        // Features pass them in day order already; checking is cheaper than sorting again.
        if !purchases.is_sorted_by_key(|&(day, _)| day) {
            purchases.sort_unstable_by_key(|&(day, _)| day);
        }
        let (first_day, _) = *purchases.first()?;
        let (last_day, _) = *purchases.last()?;

        let mut days = purchases.chunk_by(|left, right| left.0 == right.0);
        days.next(); // the first purchase day is not a repeat purchase
        let mut repeat_days: u64 = 0;
        let mut repeat_total: i128 = 0; // i128: no overflow whatever the amounts
        for day in days {
            repeat_days += 1;
            repeat_total += day
                .iter()
                .map(|&(_, amount)| i128::from(amount))
                .sum::<i128>();
        }
        Some(Self {
            first_day,
            last_day,
            as_of_day,
            repeat_days: u32::try_from(repeat_days).unwrap_or(u32::MAX),
            repeat_total,
        })
    }

    /// The summary in `unit`.
    pub fn summary(&self, unit: TimeUnit) -> CustomerSummary {
        let repeat_days = self.repeat_days;
        CustomerSummary {
            frequency: repeat_days,
            recency: unit.from_days((self.last_day - self.first_day) as f64),
            age: unit.from_days((self.as_of_day - self.first_day) as f64),
            mean_repeat_spend: (repeat_days > 0)
                .then(|| self.repeat_total as f64 / f64::from(repeat_days)),
        }
    }
}

/// Builds the summary of one customer from `(day_index, amount)` purchases (any order), as of
/// `as_of_day` (inclusive). `None` for a non-buyer.
pub fn summarize(
    purchases: &[(i64, i64)],
    as_of_day: i64,
    unit: TimeUnit,
) -> Option<CustomerSummary> {
    PurchaseDays::from_purchases(purchases.to_vec(), as_of_day).map(|days| days.summary(unit))
}

impl CustomerSummary {
    /// Checks the convention the models rely on: finite, non-negative times, recency not after
    /// age, a finite mean spend. (A zero-frequency recency is ignored by the models.)
    pub fn check(&self) -> Result<(), &'static str> {
        if !(self.age.is_finite() && self.recency.is_finite()) {
            return Err("recency and age must be finite");
        }
        if self.age < 0.0 || self.recency < 0.0 {
            return Err("recency and age must not be negative");
        }
        if self.frequency > 0 && self.recency > self.age {
            return Err("recency must not exceed age");
        }
        if self.mean_repeat_spend.is_some_and(|m| !m.is_finite()) {
            return Err("mean repeat spend must be finite");
        }
        Ok(())
    }
}
