use crate::domain::dimensions::Dimension;
use crate::domain::history::TicketKind;
use crate::domain::testkit::*;

#[test]
fn an_unknown_customer_gets_the_prospect_defaults() {
    let c = classify_alone(HistoryBuilder::new("nobody"));
    assert!(!c.known);
    let expected = [
        (Dimension::Rfm, "NONE"),
        (Dimension::ValueTier, "NONE"),
        (Dimension::Engagement, "RARE"),
        (Dimension::Demand, "NONE"),
        (Dimension::Lifecycle, "POTENTIAL"),
        (Dimension::ActivityPeriod, "NONE"),
        (Dimension::Satisfaction, "UNKNOWN"),
        (Dimension::Advocacy, "UNKNOWN"),
        (Dimension::AccountQuadrant, "NONE"),
        (Dimension::SalesPersona, "REGULAR"),
        (Dimension::ServicePersona, "UNPREDICTABLE"),
        (Dimension::CustomerType, "UNSPECIFIED"),
        (Dimension::DecisionStyle, "UNKNOWN"),
        (Dimension::ChurnRisk, "NONE"),
        (Dimension::PredictedValueTier, "NONE"),
    ];
    let got: Vec<_> = c
        .assignments
        .iter()
        .map(|a| (a.dimension, a.code.as_ref()))
        .collect();
    assert_eq!(got, expected);
}

#[test]
fn every_assignment_has_a_reason_and_dimensions_come_in_order() {
    let c = classify_alone(HistoryBuilder::new("c").order(100, 500).ticket(
        3,
        "t",
        TicketKind::Complaint,
        false,
        Some(-0.8),
    ));
    assert!(c.known);
    assert_eq!(c.assignments.len(), Dimension::ALL.len());
    for (assignment, dimension) in c.assignments.iter().zip(Dimension::ALL) {
        assert_eq!(assignment.dimension, *dimension);
        assert!(!assignment.reasons.is_empty(), "{dimension} has no reason");
        assert!(
            dimension.has_segment(&assignment.code),
            "{dimension}: {}",
            assignment.code
        );
    }
    assert!(!c.rule_set_version.is_empty());
    assert!(c.snapshot.id.starts_with("snap-"));
}

#[test]
fn events_after_as_of_do_not_count() {
    let c = classify_alone(HistoryBuilder::new("c").order(-1, 500));
    assert_eq!(code(&c, Dimension::Lifecycle), "POTENTIAL");
    assert!(c.known);
}

#[test]
fn classification_is_deterministic_whatever_the_event_order() {
    let b = HistoryBuilder::new("c")
        .order(100, 500)
        .refund(50, "o1", 100)
        .ticket(3, "t", TicketKind::Complaint, false, Some(-0.8))
        .order(20, 300);
    let history = b.build();
    let mut reversed = history.clone();
    reversed.events.reverse();
    let pop = population(&[("c".into(), history.clone())]);
    assert_eq!(
        classify_in("c", &history, &pop),
        classify_in("c", &reversed, &pop)
    );
}
