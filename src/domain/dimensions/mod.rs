//! The 15 dimensions of the model: the 13 of spec section 3 and the two predictive ones of
//! issue 5 (churn risk, predicted value tier); their codes, the classification result, and the
//! order in which they are decided (later dimensions read earlier ones).

mod classify;
mod engagement;
mod fact_value;
mod feedback;
mod personas;
mod predictive;
mod reason;
mod value;

pub use classify::{
    classify, classify_codes, classify_codes_into, classify_codes_only, ClassifyInput, CodeSink,
    CodesOnly, SegmentCodes,
};
pub use fact_value::{FactText, FactValue};
pub(crate) use reason::{deferred, Deferred, OrNone};
pub use reason::{Draft, Fact, Reason, Reasons};

use std::borrow::Cow;

use serde::{Deserialize, Serialize};

use super::features::Features;
use super::history::code_enum;
use super::population::SnapshotInfo;
use super::predictive::CustomerPrediction;
use super::time::Timestamp;

code_enum!(
    /// A segmentation dimension. The codes are the lower-case keys used in rule sets and NDJSON pins.
    Dimension {
        Rfm => "rfm",
        ValueTier => "value_tier",
        Engagement => "engagement",
        Demand => "demand",
        Lifecycle => "lifecycle",
        ActivityPeriod => "activity_period",
        Satisfaction => "satisfaction",
        Advocacy => "advocacy",
        AccountQuadrant => "account_quadrant",
        SalesPersona => "sales_persona",
        ServicePersona => "service_persona",
        CustomerType => "customer_type",
        DecisionStyle => "decision_style",
        ChurnRisk => "churn_risk",
        PredictedValueTier => "predicted_value_tier",
    }
);

/// The segment code the predictive dimensions report when the snapshot has no usable fit.
pub const UNKNOWN: &str = "UNKNOWN";

/// The segment code every purchase-based dimension reports for a customer without purchases.
pub const NONE: &str = "NONE";

impl Dimension {
    /// Every segment code the dimension can report, in display order.
    pub fn segment_codes(self) -> &'static [&'static str] {
        match self {
            Dimension::Rfm => &[
                "IMPORTANT_VALUE",
                "IMPORTANT_DEVELOP",
                "IMPORTANT_KEEP",
                "IMPORTANT_RETAIN",
                "GENERAL_VALUE",
                "GENERAL_DEVELOP",
                "GENERAL_KEEP",
                "GENERAL_RETAIN",
                NONE,
            ],
            Dimension::ValueTier => &["HIGH", "MEDIUM", "LOW", NONE],
            Dimension::Engagement => &["FREQUENT", "OCCASIONAL", "RARE"],
            Dimension::Demand => &["HIGH", "MEDIUM", "LOW", NONE],
            Dimension::Lifecycle => &["POTENTIAL", "NEW", "MATURE", "LOYAL", "CHURNED"],
            Dimension::ActivityPeriod => &["ACTIVE", "SILENT", "FORGOTTEN", "LOST", NONE],
            Dimension::Satisfaction => &["HIGH", "MEDIUM", "LOW", "UNKNOWN"],
            Dimension::Advocacy => &["PROMOTER", "PASSIVE", "DETRACTOR", "UNKNOWN"],
            Dimension::AccountQuadrant => &["OLD_BIG", "NEW_BIG", "NEW_SMALL", "OLD_SMALL", NONE],
            Dimension::SalesPersona => &[
                "FREE",
                "NEW",
                "BARGAIN_HUNTER",
                "IMPULSE",
                "INFORMED",
                "REGULAR",
            ],
            Dimension::ServicePersona => &[
                "ANGRY",
                "DEMANDING",
                "CURIOUS",
                "BRAND_ADVOCATE",
                "LOYAL",
                "UNPREDICTABLE",
            ],
            Dimension::CustomerType => &[
                "PROBLEM",
                "VALUE",
                "POTENTIAL",
                "CONVENIENCE",
                "UNSPECIFIED",
            ],
            Dimension::DecisionStyle => &["RATIONAL", "EMOTIONAL", "UNKNOWN"],
            Dimension::ChurnRisk => &["HIGH", "MEDIUM", "LOW", UNKNOWN, NONE],
            Dimension::PredictedValueTier => &["HIGH", "MEDIUM", "LOW", UNKNOWN, NONE],
        }
    }

    pub fn has_segment(self, code: &str) -> bool {
        self.segment_codes().contains(&code)
    }
}

/// The segment of one dimension, with the reasons that decided it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Assignment {
    pub dimension: Dimension,
    /// A code the rules decided is one of the dimension's own, borrowed; a pin may name any.
    pub code: Cow<'static, str>,
    pub pinned: bool,
    pub reasons: Vec<Reason>,
    /// Other matching segments (personas only), in rule order, fallbacks excluded.
    pub secondary_traits: Vec<String>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct RfmScores {
    pub recency: u32,
    pub frequency: u32,
    pub monetary: u32,
}

impl RfmScores {
    /// The `R-F-M` code, e.g. `5-3-4`: the text the RFM reason shows.
    pub fn code(&self) -> String {
        self.into_text().into_string()
    }
}

/// A customer's segments along every dimension.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Classification {
    pub customer_id: String,
    pub known: bool,
    pub as_of: Timestamp,
    pub rule_set_version: String,
    pub snapshot: SnapshotInfo,
    /// One per dimension, in `Dimension::ALL` order.
    pub assignments: Vec<Assignment>,
    pub rfm_scores: Option<RfmScores>,
    /// P(alive), expected purchases, expected order value and CLV; `None` for customers
    /// without purchases and when the snapshot has no BG/NBD fit.
    pub prediction: Option<CustomerPrediction>,
    pub features: Features,
}

impl Classification {
    pub fn assignment(&self, dimension: Dimension) -> &Assignment {
        // `classify` always fills every dimension in `Dimension::ALL` order.
        &self.assignments[dimension as usize]
    }

    pub fn code(&self, dimension: Dimension) -> &str {
        &self.assignment(dimension).code
    }
}

#[cfg(test)]
mod tests;
