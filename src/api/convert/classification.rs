//! Domain results -> proto: classifications with display names in the requested locale.

use super::enums::dimension_to_proto;
use super::predictive::predictive_scores_to_proto;
use super::time::timestamp_to_proto;
use crate::api::pb;
use crate::domain::dimensions::{Assignment, Classification, Fact, Reason, RfmScores};
use crate::domain::features::{Features, Fraction};
use crate::domain::population::SnapshotInfo;
use crate::domain::rules::{Locale, RuleSet};

/// How much of a classification a response carries (`ClassificationView`).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub enum View {
    #[default]
    Full,
    /// Dimension, code and pinned flag per assignment, plus RFM scores: for bulk sync.
    Codes,
}

/// How the caller wants classifications presented.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Presentation {
    pub locale: Locale,
    pub view: View,
}

/// A classification in the caller's presentation. Takes it by value: the rendered reasons are
/// most of a response, and moving them saves copying every text once more.
pub fn present_classification(
    classification: Classification,
    rules: &RuleSet,
    presentation: Presentation,
) -> pb::Classification {
    match presentation.view {
        View::Full => classification_to_proto(classification, rules, presentation.locale),
        View::Codes => classification_codes_to_proto(classification),
    }
}

/// The codes-only view: what a nightly sync stores, without the reasons that are most of the
/// bytes of a full classification. Scores (RFM and predictive) are kept: they are a few numbers.
pub fn classification_codes_to_proto(mut classification: Classification) -> pb::Classification {
    let assignments = std::mem::take(&mut classification.assignments)
        .into_iter()
        .map(|a| pb::Assignment {
            dimension: dimension_to_proto(a.dimension),
            code: a.code.into_owned(),
            pinned: a.pinned,
            ..pb::Assignment::default()
        })
        .collect();
    with_assignments(classification, assignments, None)
}

/// A classification as the API reports it; display names come from `rules` in `locale`.
pub fn classification_to_proto(
    mut classification: Classification,
    rules: &RuleSet,
    locale: Locale,
) -> pb::Classification {
    let assignments = std::mem::take(&mut classification.assignments)
        .into_iter()
        .map(|a| assignment_into_proto(a, rules, locale))
        .collect();
    let features = features_to_proto(&classification.features);
    with_assignments(classification, assignments, Some(features))
}

/// The parts every view shares, around the view's assignments and features.
fn with_assignments(
    classification: Classification,
    assignments: Vec<pb::Assignment>,
    features: Option<pb::Features>,
) -> pb::Classification {
    pb::Classification {
        as_of: Some(timestamp_to_proto(classification.as_of)),
        snapshot: Some(snapshot_info_to_proto(&classification.snapshot)),
        rfm_scores: classification.rfm_scores.as_ref().map(rfm_scores_to_proto),
        predictive: classification
            .prediction
            .as_ref()
            .map(predictive_scores_to_proto),
        customer_id: classification.customer_id,
        known: classification.known,
        rule_set_version: classification.rule_set_version,
        assignments,
        features,
    }
}

/// One assignment, its display name looked up in `rules` (falling back to the code).
pub fn assignment_to_proto(
    assignment: &Assignment,
    rules: &RuleSet,
    locale: Locale,
) -> pb::Assignment {
    assignment_into_proto(assignment.clone(), rules, locale)
}

/// [`assignment_to_proto`] for an assignment the caller is done with.
pub fn assignment_into_proto(
    assignment: Assignment,
    rules: &RuleSet,
    locale: Locale,
) -> pb::Assignment {
    pb::Assignment {
        dimension: dimension_to_proto(assignment.dimension),
        display_name: rules
            .display_name(assignment.dimension, &assignment.code, locale)
            .to_owned(),
        code: assignment.code.into_owned(),
        pinned: assignment.pinned,
        reasons: assignment
            .reasons
            .into_iter()
            .map(reason_into_proto)
            .collect(),
        secondary_traits: assignment.secondary_traits,
    }
}

pub fn reason_to_proto(reason: &Reason) -> pb::Reason {
    reason_into_proto(reason.clone())
}

fn reason_into_proto(mut reason: Reason) -> pb::Reason {
    let rule = std::mem::take(&mut reason.rule).into_owned();
    let matched = reason.matched;
    let (observed, thresholds) = reason.into_facts();
    pb::Reason {
        rule,
        matched,
        observed: observed.into_iter().map(fact_into_proto).collect(),
        thresholds: thresholds.into_iter().map(fact_into_proto).collect(),
    }
}

pub fn fact_to_proto(fact: &Fact) -> pb::Fact {
    fact_into_proto(fact.clone())
}

fn fact_into_proto(fact: Fact) -> pb::Fact {
    pb::Fact {
        name: fact.name.into_owned(),
        value: fact.value.into_string(),
    }
}

pub fn rfm_scores_to_proto(scores: &RfmScores) -> pb::RfmScores {
    pb::RfmScores {
        recency: scores.recency,
        frequency: scores.frequency,
        monetary: scores.monetary,
    }
}

pub fn snapshot_info_to_proto(info: &SnapshotInfo) -> pb::SnapshotInfo {
    pb::SnapshotInfo {
        id: info.id.clone(),
        as_of: Some(timestamp_to_proto(info.as_of)),
        active_buyers: info.active_buyers,
        customers: info.customers,
    }
}

/// The reported features. Exact fractions become `f64` only here, at the edge, for display;
/// the rules compared the exact values.
pub fn features_to_proto(f: &Features) -> pb::Features {
    // No `..Default::default()`: a field added to the proto must be mapped here to compile.
    pb::Features {
        purchases_ever: f.purchases_ever,
        first_purchase_at: f.first_purchase_at.map(timestamp_to_proto),
        last_purchase_at: f.last_purchase_at.map(timestamp_to_proto),
        recency_days: f.recency_days,
        tenure_days: f.tenure_days,
        frequency: f.frequency,
        monetary: f.monetary,
        profit: f.profit,
        units: f.units,
        distinct_categories: f.distinct_categories,
        discount_share: f.discount_share.map(Fraction::to_f64),
        median_consideration_seconds: f.median_consideration_seconds.map(Fraction::to_f64),
        consideration_count: f.consideration_count,
        research_per_purchase: f.research_per_purchase.to_f64(),
        interactions_90d: f.interactions_90d,
        outbound_contacts_30d: f.outbound_contacts_30d,
        outbound_contacts_90d: f.outbound_contacts_90d,
        csat_avg_365d: f.csat_avg_365d.map(Fraction::to_f64),
        last_nps: f.last_nps.map(|nps| nps.score),
        referrals_365d: f.referrals_365d,
        review_avg_365d: f.review_avg_365d.map(Fraction::to_f64),
        refund_rate: f.refund_rate.map(Fraction::to_f64),
        spend_trend: f.spend_trend,
        current_plan: f
            .current_plan
            .map(|p| p.code().to_owned())
            .unwrap_or_default(),
        complaint_tickets_90d: f.tickets_90d.complaints(),
        tickets_30d: f.tickets_30d.total(),
        last_csat: f.last_csat.map(|csat| csat.score),
    }
}

#[cfg(test)]
#[path = "classification_tests.rs"]
mod tests;
