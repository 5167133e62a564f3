//! Decides every dimension in dependency order. A manual pin replaces a dimension's segment
//! before later dimensions read it, so the pinned truth flows into everything that depends on it.

use std::borrow::Cow;

use super::predictive::{self, Outlook};
use super::{engagement, feedback, personas, value};
use super::{Assignment, Classification, Dimension, Draft, Reason};
use crate::domain::compact::CompactHistory;
use crate::domain::features::{compute_features, Features};
use crate::domain::population::PopulationStats;
use crate::domain::rules::{RuleSet, VersionedRules};
use crate::domain::time::Timestamp;

/// Everything one classification needs; all of it is plain data.
pub struct ClassifyInput<'a> {
    pub customer_id: &'a str,
    pub history: &'a CompactHistory,
    pub as_of: Timestamp,
    pub rules: &'a VersionedRules,
    pub population: &'a PopulationStats,
    /// Whether to record the reasons of each decision; segment codes are the same either way.
    pub explain: bool,
}

/// What the dimension rules read.
pub struct Context<'a> {
    pub customer_id: &'a str,
    pub features: &'a Features,
    pub rules: &'a RuleSet,
    pub population: &'a PopulationStats,
    pub explain: bool,
}

impl Context<'_> {
    /// A reason for a decision: recorded when the caller asked for explanations, else muted.
    pub fn reason(&self, rule: &'static str, matched: bool) -> Draft {
        if self.explain {
            Reason::new(rule, matched).into()
        } else {
            Draft::muted(matched)
        }
    }
}

/// A rule-made decision for one dimension, before pins.
pub struct Decision {
    pub code: &'static str,
    pub reasons: Vec<Draft>,
    pub secondary: Vec<&'static str>,
}

impl Decision {
    pub fn new(code: &'static str, reasons: Vec<Draft>) -> Self {
        Self {
            code,
            reasons,
            secondary: Vec::new(),
        }
    }

    pub fn with_secondary(mut self, secondary: Vec<&'static str>) -> Self {
        self.secondary = secondary;
        self
    }
}

/// Collects assignments in dimension order and applies the profile's pins.
struct Assignments<'a> {
    history: &'a CompactHistory,
    explain: bool,
    list: Vec<Assignment>,
}

impl Assignments<'_> {
    /// Records a dimension's decision (or its pin) and returns the code later rules must read.
    fn decide(&mut self, dimension: Dimension, decision: Decision) -> Cow<'static, str> {
        self.record(dimension, decision);
        self.list.last().map(|a| a.code.clone()).unwrap_or_default()
    }

    /// Records a dimension's decision (or its pin) that no later rule reads.
    fn record(&mut self, dimension: Dimension, decision: Decision) {
        let pin = self
            .history
            .profile
            .as_ref()
            .and_then(|p| p.pins.get(&dimension));
        let assignment = match pin {
            Some(pinned) => {
                let mut reasons = Vec::new();
                if self.explain {
                    reasons.push(
                        Reason::new("manual_pin", true)
                            .observed("pinned_segment", pinned)
                            .observed("rules_would_assign", decision.code),
                    );
                    reasons.extend(decision.reasons.into_iter().filter_map(Draft::finish));
                }
                Assignment {
                    dimension,
                    code: Cow::Owned(pinned.clone()),
                    pinned: true,
                    reasons,
                    secondary_traits: std::iter::once(decision.code)
                        .chain(decision.secondary)
                        .filter(|code| code != pinned && !is_fallback(dimension, code))
                        .map(str::to_owned)
                        .collect(),
                }
            }
            None => Assignment {
                dimension,
                code: Cow::Borrowed(decision.code),
                pinned: false,
                reasons: if self.explain {
                    decision
                        .reasons
                        .into_iter()
                        .filter_map(Draft::finish)
                        .collect()
                } else {
                    Vec::new()
                },
                secondary_traits: decision.secondary.into_iter().map(str::to_owned).collect(),
            },
        };
        self.list.push(assignment);
    }
}

/// Personas report their fallback only as the primary segment, never as a trait.
fn is_fallback(dimension: Dimension, code: &str) -> bool {
    matches!(
        (dimension, code),
        (Dimension::SalesPersona, "REGULAR") | (Dimension::ServicePersona, "UNPREDICTABLE")
    ) || !matches!(
        dimension,
        Dimension::SalesPersona | Dimension::ServicePersona
    )
}

pub fn classify(input: ClassifyInput<'_>) -> Classification {
    let rules = &input.rules.rules;
    let features = compute_features(input.history, input.as_of, &rules.windows);
    let ctx = Context {
        customer_id: input.customer_id,
        features: &features,
        rules,
        population: input.population,
        explain: input.explain,
    };
    let scores = value::rfm_scores(&ctx);

    // Decided out of display order where one dimension reads another; sorted at the end.
    let mut a = Assignments {
        history: input.history,
        explain: input.explain,
        list: Vec::with_capacity(Dimension::ALL.len()),
    };
    a.record(Dimension::Rfm, value::rfm(&ctx, scores));
    let value_tier = a.decide(Dimension::ValueTier, value::value_tier(&ctx));
    let engagement_code = a.decide(Dimension::Engagement, engagement::engagement(&ctx));
    a.record(Dimension::Demand, value::demand(&ctx));
    let satisfaction = a.decide(Dimension::Satisfaction, feedback::satisfaction(&ctx));
    let lifecycle = a.decide(
        Dimension::Lifecycle,
        engagement::lifecycle(&ctx, &satisfaction),
    );
    a.record(Dimension::ActivityPeriod, engagement::activity_period(&ctx));
    let advocacy = a.decide(Dimension::Advocacy, feedback::advocacy(&ctx));
    a.record(
        Dimension::AccountQuadrant,
        value::account_quadrant(&ctx, scores),
    );
    let sales = a.decide(Dimension::SalesPersona, personas::sales_persona(&ctx));
    a.record(
        Dimension::ServicePersona,
        personas::service_persona(&ctx, &advocacy, &lifecycle),
    );
    a.record(
        Dimension::CustomerType,
        personas::customer_type(
            &ctx,
            &personas::TypeInputs {
                value_tier: &value_tier,
                lifecycle: &lifecycle,
                engagement: &engagement_code,
            },
        ),
    );
    let profile_style = input
        .history
        .profile
        .as_ref()
        .and_then(|p| p.decision_style);
    let style = {
        let sales_traits = a
            .list
            .iter()
            .find(|x| x.dimension == Dimension::SalesPersona)
            .map_or(&[][..], |x| x.secondary_traits.as_slice());
        personas::decision_style(&ctx, profile_style, &sales, sales_traits)
    };
    a.record(Dimension::DecisionStyle, style);
    let outlook = Outlook::of(&ctx);
    a.record(Dimension::ChurnRisk, predictive::churn_risk(&ctx, &outlook));
    a.record(
        Dimension::PredictedValueTier,
        predictive::predicted_value_tier(&ctx, &outlook),
    );

    let mut assignments = a.list;
    assignments.sort_by_key(|x| x.dimension);
    Classification {
        customer_id: input.customer_id.to_owned(),
        known: input.history.is_known(),
        as_of: input.as_of,
        rule_set_version: input.rules.version.clone(),
        snapshot: input.population.info.clone(),
        assignments,
        rfm_scores: scores,
        prediction: outlook.prediction(),
        features,
    }
}
