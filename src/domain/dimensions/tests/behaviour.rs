use crate::domain::dimensions::Dimension::*;
use crate::domain::history::{InteractionKind, SurveyKind, TicketKind};
use crate::domain::testkit::*;

fn last_order_days_ago(days: i64) -> HistoryBuilder {
    HistoryBuilder::new("c")
        .order(400, 1000)
        .order(300, 1000)
        .order(days, 1000)
}

#[test]
fn activity_period_boundaries() {
    for (days, expected) in [
        (0, "ACTIVE"),
        (30, "ACTIVE"),
        (31, "SILENT"),
        (90, "SILENT"),
        (91, "FORGOTTEN"),
        (180, "FORGOTTEN"),
        (181, "LOST"),
    ] {
        let c = classify_alone(last_order_days_ago(days));
        assert_eq!(code(&c, ActivityPeriod), expected, "recency {days}");
    }
    assert_eq!(
        code(&classify_alone(HistoryBuilder::new("p")), ActivityPeriod),
        "NONE"
    );
}

#[test]
fn a_day_is_floored_so_one_second_short_of_31_days_is_still_30() {
    let at = days_ago(31).plus_seconds(1);
    let c = classify_alone(HistoryBuilder::new("c").order(200, 10).event_at(
        at,
        crate::domain::history::EventPayload::Order(crate::domain::history::Order {
            order_id: "late".into(),
            amount: 10,
            cost: None,
            discount_amount: 0,
            coupon_code: None,
            units: 1,
            categories: vec![],
            channel: None,
            consideration_seconds: None,
        }),
    ));
    assert_eq!(c.features.recency_days, Some(30));
    assert_eq!(code(&c, ActivityPeriod), "ACTIVE");
}

#[test]
fn lifecycle_churned_after_180_days() {
    assert_eq!(
        code(&classify_alone(last_order_days_ago(180)), Lifecycle),
        "MATURE"
    );
    assert_eq!(
        code(&classify_alone(last_order_days_ago(181)), Lifecycle),
        "CHURNED"
    );
}

#[test]
fn lifecycle_new_by_first_purchase_window_or_single_purchase() {
    // First purchase 89 days ago is within 90 days; exactly 90 days ago is not.
    let c = classify_alone(HistoryBuilder::new("c").order(89, 10).order(5, 10));
    assert_eq!(code(&c, Lifecycle), "NEW");
    let c = classify_alone(HistoryBuilder::new("c").order(90, 10).order(5, 10));
    assert_eq!(code(&c, Lifecycle), "MATURE");
    // A one-time buyer long ago who has not churned is still NEW.
    let c = classify_alone(HistoryBuilder::new("c").order(150, 10));
    assert_eq!(code(&c, Lifecycle), "NEW");
    // A fully refunded order is no purchase: POTENTIAL.
    let c = classify_alone(HistoryBuilder::new("c").order(10, 10).refund(9, "o1", 10));
    assert_eq!(code(&c, Lifecycle), "POTENTIAL");
}

fn five_purchases_first_days_ago(first: i64) -> HistoryBuilder {
    HistoryBuilder::new("c")
        .order(first, 10)
        .order(200, 10)
        .order(100, 10)
        .order(50, 10)
        .order(10, 10)
}

#[test]
fn lifecycle_loyal_needs_tenure_purchases_and_satisfaction() {
    assert_eq!(
        code(
            &classify_alone(five_purchases_first_days_ago(365)),
            Lifecycle
        ),
        "LOYAL"
    );
    assert_eq!(
        code(
            &classify_alone(five_purchases_first_days_ago(364)),
            Lifecycle
        ),
        "MATURE"
    );
    let four = HistoryBuilder::new("c")
        .order(400, 10)
        .order(200, 10)
        .order(100, 10)
        .order(10, 10);
    assert_eq!(code(&classify_alone(four), Lifecycle), "MATURE");
    let unhappy = five_purchases_first_days_ago(400).survey(20, SurveyKind::Csat, 2);
    assert_eq!(code(&classify_alone(unhappy), Lifecycle), "MATURE");
    let complained =
        five_purchases_first_days_ago(400).ticket(10, "t", TicketKind::Complaint, true, None);
    // No CSAT and a recent complaint: satisfaction LOW, so not LOYAL.
    assert_eq!(code(&classify_alone(complained), Lifecycle), "MATURE");
}

#[test]
fn engagement_boundaries() {
    let with = |n: usize| {
        let mut b = HistoryBuilder::new("c");
        for _ in 0..n {
            b = b.interaction(10, InteractionKind::SiteVisit);
        }
        code(&classify_alone(b), Engagement)
    };
    assert_eq!(with(0), "RARE");
    assert_eq!(with(1), "RARE");
    assert_eq!(with(2), "OCCASIONAL");
    assert_eq!(with(5), "OCCASIONAL");
    assert_eq!(with(6), "FREQUENT");
}

#[test]
fn interactions_count_orders_tickets_once_and_skip_outbound_contacts() {
    let b = HistoryBuilder::new("c")
        .order(10, 0)
        .order(20, 100)
        .refund(19, "o2", 100)
        .interaction(30, InteractionKind::OutboundContact)
        .interaction(30, InteractionKind::Chat)
        .ticket(40, "t1", TicketKind::Question, false, None)
        .ticket(5, "t1", TicketKind::Question, true, None)
        .interaction(90, InteractionKind::Chat);
    let f = features(&b.build());
    // Two orders (purchase or not), one chat within 90 days, one ticket; 90 days ago is outside.
    assert_eq!(f.interactions_90d, 4);
    // Exactly 30 days ago is outside the 30-day window, inside the 90-day one.
    assert_eq!(f.outbound_contacts_30d, 0);
    assert_eq!(f.outbound_contacts_90d, 1);
}
