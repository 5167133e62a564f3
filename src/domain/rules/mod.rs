//! The rule set (spec section 5): every threshold, window, share, display name and playbook row.
//!
//! The built-in default is `default.toml` beside this file. A deployment's file may be partial:
//! it is merged over the default table by table (arrays, such as the playbook, are replaced
//! whole), then validated. Its version is a content hash of the merged result, so two replicas
//! with equal rules report the same version whatever the file's formatting.

mod display_names;
mod validate;
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

use super::dimensions::Dimension;
use super::playbook::PlaybookRow;
use super::predictive::TimeUnit;

pub use display_names::{DisplayNameMap, DisplayNames};
pub use validate::RuleSetError;

const BUILTIN_TOML: &str = include_str!("default.toml");

/// A share such as 0.6 or 80%, held in parts per million so comparisons stay exact integers.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub struct Share {
    pub ppm: i64,
}

impl Share {
    pub const fn from_ppm(ppm: i64) -> Self {
        Self { ppm }
    }
}

impl Serialize for Share {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.serialize_f64(self.ppm as f64 / 1_000_000.0)
    }
}

impl<'de> Deserialize<'de> for Share {
    fn deserialize<D: serde::Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let value = f64::deserialize(deserializer)?;
        if !value.is_finite() {
            return Err(serde::de::Error::custom("a share must be a finite number"));
        }
        Ok(Self {
            ppm: (value * 1_000_000.0).round() as i64,
        })
    }
}

impl std::fmt::Display for Share {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}", self.ppm as f64 / 1_000_000.0)
    }
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Windows {
    /// The lookback window `L` of purchase features.
    pub lookback_days: i64,
    /// Surveys, reviews and referrals (365 in the spec whatever `L` is).
    pub feedback_days: i64,
    /// `interactions_90d` and spend-trend halves.
    pub interactions_days: i64,
}

/// How RFM high/low is decided against the population.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum HighLowMethod {
    Mean,
    Median,
    Fixed,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RfmRules {
    pub high_low: HighLowMethod,
    /// With `fixed`: R is high when recency_days is below this.
    pub fixed_recency_days: i64,
    /// With `fixed`: F is high when frequency is above this.
    pub fixed_frequency: i64,
    /// With `fixed`: M is high when monetary is above this (minor units).
    pub fixed_monetary: i64,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ValueTierRules {
    /// HIGH: the shortest head adding up to at least this share of total positive profit.
    pub high_profit_share: Share,
    /// LOW: the tail of floor(this share x n) customers.
    pub low_customer_share: Share,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct EngagementRules {
    pub frequent_min: u64,
    pub occasional_min: u64,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DemandRules {
    pub high_units_score: u32,
    pub high_min_categories: u64,
    pub low_max_units_score: u32,
    /// LOW needs fewer distinct categories than this.
    pub low_categories_below: u64,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct LifecycleRules {
    /// CHURNED when recency_days is above this.
    pub churned_after_days: i64,
    /// NEW when the first purchase is within this many days.
    pub new_within_days: i64,
    pub loyal_min_tenure_days: i64,
    pub loyal_min_purchases: u64,
}

/// The contact cap of one activity period: at most `max_contacts` outbound contacts in `per_days`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ContactCap {
    pub max_contacts: u64,
    /// 30 or 90: the windows for which outbound contacts are counted.
    pub per_days: i64,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ActivityRules {
    pub active_max_days: i64,
    pub silent_max_days: i64,
    pub forgotten_max_days: i64,
    pub active_cap: ContactCap,
    pub silent_cap: ContactCap,
    pub forgotten_cap: ContactCap,
    pub lost_cap: ContactCap,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SatisfactionRules {
    pub high_min_csat: Share,
    pub medium_min_csat: Share,
    /// A complaint ticket opened within this many days lowers satisfaction one level.
    pub complaint_window_days: i64,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AdvocacyRules {
    pub promoter_min_nps: u32,
    pub passive_min_nps: u32,
    /// A referral lifts a PASSIVE to PROMOTER.
    pub referral_lifts_passive: bool,
}

/// What makes an account "big" in the account quadrant.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum BigAccountRule {
    /// M score at least `big_min_m_score`.
    MScore,
    /// monetary at least `big_min_monetary`.
    FixedAmount,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AccountQuadrantRules {
    pub old_min_tenure_days: i64,
    pub big_rule: BigAccountRule,
    pub big_min_m_score: u32,
    pub big_min_monetary: i64,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SalesPersonaRules {
    pub new_within_days: i64,
    pub bargain_min_discount_share: Share,
    pub bargain_min_purchases: u64,
    pub impulse_min_considerations: u64,
    pub impulse_max_median_seconds: u64,
    pub informed_min_research_per_purchase: Share,
    pub informed_min_considerations: u64,
    pub informed_min_median_seconds: u64,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ServicePersonaRules {
    /// ANGRY: an unresolved complaint ticket opened within this many days.
    pub angry_unresolved_window_days: i64,
    /// ANGRY: a complaint ticket opened within 30 days with sentiment at most this.
    pub angry_max_sentiment: f64,
    /// ANGRY: the latest CSAT answer at most this, within 30 days.
    pub angry_max_csat: u32,
    pub demanding_min_escalations_90d: u64,
    pub demanding_min_tickets_30d: u64,
    pub curious_min_questions_90d: u64,
    /// BRAND_ADVOCATE: no complaint ticket opened within this many days.
    pub advocate_complaint_free_days: i64,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CustomerTypeRules {
    pub problem_min_tickets_180d: u64,
    pub problem_min_refund_rate: Share,
    pub convenience_min_discount_share: Share,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct BirthdayRules {
    /// Greet when the birthday falls within this many days from `as_of`'s date (0 = today only).
    pub days_ahead: i64,
}

/// The predictive models (BG/NBD + Gamma-Gamma) and the two dimensions read from them.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PredictiveRules {
    /// The unit of recency, age and the fitted scale α: `days` or `weeks`.
    pub time_unit: TimeUnit,
    /// Expected purchases and CLV are predicted over this many days from `as_of`.
    pub horizon_days: u32,
    /// The yearly rate CLV is discounted at (0.1 = 10 %).
    pub annual_discount_rate: Share,
    /// CHURN_RISK HIGH when P(alive) is strictly below this.
    pub churn_high_below: Share,
    /// CHURN_RISK LOW when P(alive) is at or above this; MEDIUM in between
    /// (`churn_high_below <= P(alive) < churn_low_at_least`).
    pub churn_low_at_least: Share,
    /// PREDICTED_VALUE_TIER HIGH: the shortest head, by CLV, holding at least this share of the
    /// total predicted CLV.
    pub high_clv_share: Share,
    /// PREDICTED_VALUE_TIER LOW: the tail of floor(this share x buyers), by CLV.
    pub low_customer_share: Share,
}

/// A text in every supported locale.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct LocalizedText {
    pub en: String,
    #[serde(rename = "zh-CN")]
    pub zh_cn: String,
}

/// The locales display texts exist in.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default, Serialize, Deserialize)]
pub enum Locale {
    #[default]
    #[serde(rename = "en")]
    En,
    #[serde(rename = "zh-CN")]
    ZhCn,
}

impl Locale {
    /// Accepts `en` and `zh-CN` (case-insensitive, `_` for `-`); empty means `en`.
    pub fn parse(tag: &str) -> Option<Self> {
        match tag.trim().to_ascii_lowercase().replace('_', "-").as_str() {
            "" | "en" => Some(Locale::En),
            "zh-cn" => Some(Locale::ZhCn),
            _ => None,
        }
    }
}

impl LocalizedText {
    pub fn get(&self, locale: Locale) -> &str {
        match locale {
            Locale::En => &self.en,
            Locale::ZhCn => &self.zh_cn,
        }
    }
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RuleSet {
    /// A free label for people; the version is the content hash.
    pub name: String,
    pub windows: Windows,
    pub rfm: RfmRules,
    pub value_tier: ValueTierRules,
    pub engagement: EngagementRules,
    pub demand: DemandRules,
    pub lifecycle: LifecycleRules,
    pub activity: ActivityRules,
    pub satisfaction: SatisfactionRules,
    pub advocacy: AdvocacyRules,
    pub account_quadrant: AccountQuadrantRules,
    pub sales_persona: SalesPersonaRules,
    pub service_persona: ServicePersonaRules,
    pub customer_type: CustomerTypeRules,
    pub birthday: BirthdayRules,
    pub predictive: PredictiveRules,
    /// Display names: dimension key -> segment code -> text.
    pub display_names: DisplayNames,
    /// The playbook, in the order rows rank within one priority.
    pub playbook: Vec<PlaybookRow>,
}

/// A validated rule set together with its content hash.
#[derive(Debug, Clone)]
pub struct VersionedRules {
    pub rules: RuleSet,
    pub version: String,
}

impl RuleSet {
    /// The text of the built-in rule set, as `segmenter rules default` prints it.
    pub fn builtin_toml() -> &'static str {
        BUILTIN_TOML
    }

    /// The built-in rule set, parsed and validated.
    pub fn builtin() -> Result<VersionedRules, RuleSetError> {
        Self::from_toml_over_builtin("")
    }

    /// Parses a (possibly partial) rule-set file over the built-in default and validates it.
    pub fn from_toml_over_builtin(text: &str) -> Result<VersionedRules, RuleSetError> {
        let mut base: toml::Table =
            toml::from_str(BUILTIN_TOML).map_err(|e| RuleSetError::Syntax(e.to_string()))?;
        let overrides: toml::Table =
            toml::from_str(text).map_err(|e| RuleSetError::Syntax(e.to_string()))?;
        merge_tables(&mut base, overrides);
        let rules: RuleSet = toml::Value::Table(base)
            .try_into()
            .map_err(|e: toml::de::Error| RuleSetError::Syntax(e.to_string()))?;
        rules.validate()?;
        let version = rules.content_hash();
        Ok(VersionedRules { rules, version })
    }

    /// The first 16 hex digits of SHA-256 over the canonical JSON of the rule set.
    pub fn content_hash(&self) -> String {
        let canonical = serde_json::to_vec(self).unwrap_or_default();
        let digest = Sha256::digest(&canonical);
        format!("rules-{}", &hex::encode(digest)[..16])
    }

    /// The display name of a segment, falling back to its code when no text is configured.
    pub fn display_name<'a>(
        &'a self,
        dimension: Dimension,
        code: &'a str,
        locale: Locale,
    ) -> &'a str {
        self.display_names
            .get(dimension, code, locale)
            .unwrap_or(code)
    }
}

fn merge_tables(base: &mut toml::Table, overrides: toml::Table) {
    for (key, value) in overrides {
        match (base.get_mut(&key), value) {
            (Some(toml::Value::Table(inner)), toml::Value::Table(over)) => {
                merge_tables(inner, over)
            }
            (_, value) => {
                base.insert(key, value);
            }
        }
    }
}
