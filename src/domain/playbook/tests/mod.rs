//! Golden tests of the built-in playbook. Classifications are built by hand, so these tests
//! pin the playbook alone, whatever the classifier decides.

mod birthday;
mod golden;
mod policy;
mod predictive;
mod rows;

use super::super::dimensions::{Assignment, Classification, Dimension};
use super::super::features::Features;
use super::super::history::{Birthday, CustomerProfile};
use super::super::population::SnapshotInfo;
use super::super::rules::{Locale, RuleSet};
use super::super::time::{days_from_civil, Timestamp};
use super::{recommend, ActionRequest, RecommendedAction, Touchpoint, Trigger};

pub(super) use Dimension::*;
pub(super) use Touchpoint::*;

pub(super) fn rules() -> RuleSet {
    RuleSet::builtin()
        .expect("the built-in rule set is valid")
        .rules
}

/// Midnight UTC of a civil date, plus seconds.
pub(super) fn at(year: i32, month: u32, day: u32, seconds: i64) -> Timestamp {
    Timestamp::from_seconds(days_from_civil(year, month, day) * 86_400 + seconds)
}

/// What an unknown customer is classified as (spec section 3).
fn fallback(dimension: Dimension) -> &'static str {
    match dimension {
        Rfm | ValueTier | Demand | ActivityPeriod | AccountQuadrant => "NONE",
        ChurnRisk | PredictedValueTier => "NONE",
        Engagement => "RARE",
        Lifecycle => "POTENTIAL",
        Satisfaction | Advocacy | DecisionStyle => "UNKNOWN",
        SalesPersona => "REGULAR",
        ServicePersona => "UNPREDICTABLE",
        CustomerType => "UNSPECIFIED",
    }
}

/// A hand-made classified customer and the request context around it.
pub(super) struct Customer {
    pub classification: Classification,
    pub profile: Option<CustomerProfile>,
}

impl Customer {
    /// No profile, no events: every dimension at its fallback.
    pub fn unknown() -> Self {
        let as_of = at(2025, 7, 1, 0);
        let assignments = Dimension::ALL
            .iter()
            .map(|&dimension| Assignment {
                dimension,
                code: fallback(dimension).into(),
                pinned: false,
                reasons: Vec::new(),
                secondary_traits: Vec::new(),
            })
            .collect();
        let classification = Classification {
            customer_id: "c-test".to_owned(),
            known: false,
            as_of,
            rule_set_version: "rules-test".to_owned(),
            snapshot: SnapshotInfo {
                id: "snapshot-test".to_owned(),
                as_of,
                active_buyers: 0,
                customers: 0,
            },
            assignments,
            rfm_scores: None,
            prediction: None,
            features: Features::default(),
        };
        Self {
            classification,
            profile: None,
        }
    }

    /// A known customer with the given primary segments; the rest at their fallbacks.
    pub fn known(codes: &[(Dimension, &str)]) -> Self {
        let mut customer = Self::unknown();
        customer.classification.known = true;
        customer.profile = Some(CustomerProfile {
            id: "c-test".to_owned(),
            ..CustomerProfile::default()
        });
        for &(dimension, code) in codes {
            customer = customer.with(dimension, code);
        }
        customer
    }

    fn assignment(&mut self, dimension: Dimension) -> &mut Assignment {
        let found = self
            .classification
            .assignments
            .iter_mut()
            .find(|a| a.dimension == dimension);
        found.expect("every dimension is assigned")
    }

    pub fn with(mut self, dimension: Dimension, code: &str) -> Self {
        assert!(dimension.has_segment(code), "{dimension} {code}");
        self.assignment(dimension).code = code.to_owned().into();
        self
    }

    pub fn secondary(mut self, dimension: Dimension, code: &str) -> Self {
        self.assignment(dimension)
            .secondary_traits
            .push(code.to_owned());
        self
    }

    pub fn contacts(mut self, last_30d: u64, last_90d: u64) -> Self {
        self.classification.features.outbound_contacts_30d = last_30d;
        self.classification.features.outbound_contacts_90d = last_90d;
        self
    }

    pub fn birthday(mut self, month: u32, day: u32) -> Self {
        let profile = self.profile.get_or_insert_with(CustomerProfile::default);
        profile.birthday = Some(Birthday { month, day });
        self
    }

    pub fn on(mut self, as_of: Timestamp) -> Self {
        self.classification.as_of = as_of;
        self
    }

    pub fn request(&self, touchpoint: Touchpoint) -> ActionRequest<'_> {
        ActionRequest {
            classification: &self.classification,
            birthday: self.profile.as_ref().and_then(|p| p.birthday),
            touchpoint,
            locale: Locale::En,
            max_actions: None,
            cart_value: None,
        }
    }

    pub fn actions(&self, rules: &RuleSet, touchpoint: Touchpoint) -> Vec<RecommendedAction> {
        recommend(rules, &self.request(touchpoint))
    }

    /// The ranked action codes at a touchpoint under the built-in rules.
    pub fn codes(&self, touchpoint: Touchpoint) -> Vec<String> {
        codes(&self.actions(&rules(), touchpoint))
    }
}

pub(super) fn codes(actions: &[RecommendedAction]) -> Vec<String> {
    actions.iter().map(|a| a.code.clone()).collect()
}

pub(super) fn trigger(dimension: Dimension, code: &str) -> Trigger {
    Trigger {
        dimension: Some(dimension),
        code: code.to_owned(),
    }
}

pub(super) fn find<'a>(actions: &'a [RecommendedAction], code: &str) -> &'a RecommendedAction {
    let found = actions.iter().find(|a| a.code == code);
    found.unwrap_or_else(|| panic!("no {code} in {:?}", codes(actions)))
}
