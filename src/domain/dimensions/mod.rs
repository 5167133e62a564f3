//! The 15 dimensions of the model: the 13 of spec section 3 and the two predictive ones of
//! issue 5 (churn risk, predicted value tier); their codes, the classification result, and the
//! order in which they are decided (later dimensions read earlier ones).

mod classify;
mod engagement;
mod fact_value;
mod feedback;
mod personas;
mod predictive;
mod value;

pub use classify::{
    classify, classify_codes, classify_codes_into, ClassifyInput, CodeSink, SegmentCodes,
};
pub use fact_value::{FactText, FactValue};

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

/// One value a rule looked at or compared with, already rendered as text.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Fact {
    /// Nearly always a name written in the code: borrowed, so a reason costs no copy of it.
    pub name: Cow<'static, str>,
    pub value: FactText,
}

impl Fact {
    pub fn new(name: impl Into<Cow<'static, str>>, value: impl FactValue) -> Self {
        Self {
            name: name.into(),
            value: value.into_text(),
        }
    }
}

/// A value rendered as text only when a reason records it: muted reasons (codes-only
/// classification) never pay for formatting dates, fractions or means.
pub(crate) struct Deferred<F>(F);

/// A value that may be missing, shown as "none" then.
pub(crate) struct OrNone<T>(pub Option<T>);

/// Defers rendering `value()` until the text is needed.
pub(crate) fn deferred<F: FnOnce() -> T, T: FactValue>(value: F) -> Deferred<F> {
    Deferred(value)
}

/// One rule that took part in a decision: whether it held, on which values, against which thresholds.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Reason {
    pub rule: Cow<'static, str>,
    pub matched: bool,
    pub observed: Vec<Fact>,
    pub thresholds: Vec<Fact>,
}

impl Reason {
    pub fn new(rule: impl Into<Cow<'static, str>>, matched: bool) -> Self {
        Self {
            rule: rule.into(),
            matched,
            observed: Vec::new(),
            thresholds: Vec::new(),
        }
    }

    pub fn observed(mut self, name: impl Into<Cow<'static, str>>, value: impl FactValue) -> Self {
        self.observed.push(Fact::new(name, value));
        self
    }

    pub fn threshold(mut self, name: impl Into<Cow<'static, str>>, value: impl FactValue) -> Self {
        self.thresholds.push(Fact::new(name, value));
        self
    }
}

/// A reason as the rules write it: recorded when the caller wants explanations, or muted
/// (codes-only classification), in which case it keeps only whether the rule held and no value
/// is rendered as text. A draft is a flag and a pointer, so the builder calls on a muted one
/// cost next to nothing: held in place, the reason made every muted draft 88 bytes to move
/// through each call, and full re-segmentation took twice as long.
#[derive(Debug)]
pub struct Draft {
    matched: bool,
    recorded: Option<Box<Reason>>,
}

impl Draft {
    pub fn muted(matched: bool) -> Self {
        Self {
            matched,
            recorded: None,
        }
    }

    /// Whether the rule's condition held.
    pub fn matched(&self) -> bool {
        self.matched
    }

    #[inline]
    pub fn observed(mut self, name: impl Into<Cow<'static, str>>, value: impl FactValue) -> Self {
        if let Some(reason) = self.recorded.as_mut() {
            reason.observed.push(Fact::new(name, value));
        }
        self
    }

    #[inline]
    pub fn threshold(mut self, name: impl Into<Cow<'static, str>>, value: impl FactValue) -> Self {
        if let Some(reason) = self.recorded.as_mut() {
            reason.thresholds.push(Fact::new(name, value));
        }
        self
    }

    /// The recorded reason; `None` when muted.
    pub fn finish(self) -> Option<Reason> {
        self.recorded.map(|reason| *reason)
    }
}

impl From<Reason> for Draft {
    fn from(reason: Reason) -> Self {
        Self {
            matched: reason.matched,
            recorded: Some(Box::new(reason)),
        }
    }
}

/// The recorded reasons of one decision. A muted draft leaves nothing behind, so a codes-only
/// classification allocates nothing for reasons.
#[derive(Debug, Default)]
pub struct Reasons(Vec<Reason>);

impl Reasons {
    pub fn push(&mut self, draft: Draft) {
        self.0.extend(draft.finish());
    }

    pub fn into_vec(self) -> Vec<Reason> {
        self.0
    }
}

impl FromIterator<Draft> for Reasons {
    fn from_iter<I: IntoIterator<Item = Draft>>(drafts: I) -> Self {
        Self(drafts.into_iter().filter_map(Draft::finish).collect())
    }
}

impl<const N: usize> From<[Draft; N]> for Reasons {
    fn from(drafts: [Draft; N]) -> Self {
        drafts.into_iter().collect()
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
    /// The `R-F-M` code, e.g. `5-3-4`.
    pub fn code(&self) -> String {
        format!("{}-{}-{}", self.recency, self.frequency, self.monetary)
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
