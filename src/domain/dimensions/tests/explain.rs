//! Reasons are an explanation, never an input: classifying without them, or for codes alone,
//! gives the same codes.

use crate::demo::{generate, DemoConfig};
use crate::domain::compact::CompactHistory;
use crate::domain::dimensions::{
    classify, classify_codes, classify_codes_only, ClassifyInput, Dimension,
};
use crate::domain::features::compute_features;
use crate::domain::population::{build_population, BuyerSample};
use crate::domain::rules::RuleSet;

#[test]
fn codes_only_classification_agrees_with_the_explained_one_on_every_persona() {
    let config = DemoConfig {
        customers: 1_500,
        ..DemoConfig::default()
    };
    let rules = RuleSet::builtin().expect("built-in rules");
    let customers: Vec<(String, CompactHistory)> = generate(&config)
        .customers
        .iter()
        .map(|c| (c.id.clone(), CompactHistory::from_history(&c.history())))
        .enumerate()
        .map(|(n, (id, mut history))| {
            add_pins(n, &mut history);
            (id, history)
        })
        .collect();
    let samples = customers.iter().filter_map(|(id, history)| {
        BuyerSample::from_features(
            &id.as_str().into(),
            &compute_features(history, config.as_of, &rules.rules.windows),
        )
    });
    let population = build_population(
        samples,
        config.as_of,
        customers.len() as u64,
        &rules.rules.value_tier,
    );
    for (id, history) in &customers {
        let input = |explain| ClassifyInput {
            customer_id: id,
            history,
            as_of: config.as_of,
            rules: &rules,
            population: &population,
            explain,
        };
        let (explained, quiet) = (classify(input(true)), classify(input(false)));
        let codes = classify_codes(input(true));
        for (dimension, code) in codes.iter() {
            assert_eq!(code, explained.code(dimension), "{id}: {dimension:?}");
        }
        let codes_only = classify_codes_only(input(true));
        assert_eq!(codes_only.codes, codes, "{id}");
        for assignment in &explained.assignments {
            let at = assignment.dimension as usize;
            assert_eq!(codes_only.pinned[at], assignment.pinned, "{id}");
        }
        assert_eq!(
            (
                codes_only.known,
                codes_only.rfm_scores,
                codes_only.prediction
            ),
            (explained.known, explained.rfm_scores, explained.prediction),
            "{id}"
        );
        assert_eq!(quiet.rfm_scores, explained.rfm_scores, "{id}");
        assert_eq!(quiet.features, explained.features, "{id}");
        for (q, e) in quiet.assignments.iter().zip(&explained.assignments) {
            assert_eq!(
                (q.dimension, &q.code, q.pinned, &q.secondary_traits),
                (e.dimension, &e.code, e.pinned, &e.secondary_traits),
                "{id}"
            );
            assert!(q.reasons.is_empty(), "{id}: quiet reasons recorded");
            assert!(!e.reasons.is_empty(), "{id}: {:?} unexplained", e.dimension);
        }
    }
}

/// Pins on some customers, beside the demo's own: a pinned sales persona changes the traits
/// decision style reads, and a pin may name a code outside the dimension's list.
fn add_pins(n: usize, history: &mut CompactHistory) {
    let pins = &mut history.profile.get_or_insert_with(Default::default).pins;
    if n.is_multiple_of(7) {
        pins.insert(Dimension::SalesPersona, "INFORMED".to_owned());
    }
    if n.is_multiple_of(11) {
        pins.insert(Dimension::SalesPersona, "REGULAR".to_owned());
        pins.insert(Dimension::Lifecycle, "STRATEGIC".to_owned());
    }
}

/// A muted draft keeps whether its rule held and records nothing; a recorded one keeps all.
#[test]
fn drafts_record_only_when_explaining() {
    use crate::domain::dimensions::{Draft, Reason};
    let muted = Draft::muted(true)
        .observed("recency_days", 12)
        .threshold("churned_after_days", 180);
    assert!(muted.matched());
    assert_eq!(muted.finish(), None);

    let recorded = Draft::from(Reason::new("lifecycle.churned", false))
        .observed("recency_days", 12)
        .threshold("churned_after_days", 180);
    assert!(!recorded.matched());
    let reason = recorded.finish().expect("recorded");
    assert_eq!(reason.rule, "lifecycle.churned");
    assert_eq!(reason.observed_facts()[0].value, "12");
    assert_eq!(reason.threshold_facts()[0].name, "churned_after_days");
}
