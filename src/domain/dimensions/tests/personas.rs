use crate::domain::dimensions::Dimension::*;
use crate::domain::history::{
    DecisionStyle, EventPayload, InteractionKind, Plan, SurveyKind, TicketKind,
};
use crate::domain::testkit::*;

/// `n` purchases within the last 100 days, the first `discounted` of them with a discount.
fn purchases(n: usize, discounted: usize) -> HistoryBuilder {
    (0..n).fold(HistoryBuilder::new("c").order(300, 10), |b, i| {
        b.order_with(100 - i as i64, 100, |o| {
            if i < discounted {
                o.discount_amount = 5;
            }
        })
    })
}

#[test]
fn bargain_hunter_at_exactly_sixty_percent() {
    // 6 purchases in L (the old one included), 4 discounted... use 5 with 3 discounted = 0.6.
    let b = (0..5).fold(HistoryBuilder::new("c"), |b, i| {
        b.order_with(200 - 10 * i, 100, |o| {
            if i < 3 {
                o.coupon_code = Some("SAVE".into());
            }
        })
    });
    let c = classify_alone(b);
    assert_eq!(c.features.discount_share.map(|s| s.to_f64()), Some(0.6));
    assert_eq!(code(&c, SalesPersona), "BARGAIN_HUNTER");
    // 2 of 4 = 0.5: not a bargain hunter.
    let c = classify_alone(purchases(3, 2));
    assert_eq!(c.features.discount_share.map(|s| s.to_f64()), Some(0.5));
    assert_eq!(code(&c, SalesPersona), "REGULAR");
    // All discounted but only 2 purchases in L.
    let b = HistoryBuilder::new("c")
        .order_with(200, 100, |o| o.discount_amount = 1)
        .order_with(150, 100, |o| o.discount_amount = 1);
    assert_eq!(code(&classify_alone(b), SalesPersona), "REGULAR");
    // An empty coupon code is no discount.
    let b = (0..3).fold(HistoryBuilder::new("c"), |b, i| {
        b.order_with(200 - i, 100, |o| o.coupon_code = Some(String::new()))
    });
    assert_eq!(code(&classify_alone(b), SalesPersona), "REGULAR");
}

fn considered(seconds: &[u64]) -> HistoryBuilder {
    seconds
        .iter()
        .enumerate()
        .fold(HistoryBuilder::new("c"), |b, (i, s)| {
            b.order_with(200 - i as i64, 100, |o| o.consideration_seconds = Some(*s))
        })
}

#[test]
fn impulse_and_informed_by_consideration_median() {
    assert_eq!(
        code(&classify_alone(considered(&[10, 900, 5000])), SalesPersona),
        "IMPULSE"
    );
    assert_eq!(
        code(&classify_alone(considered(&[10, 901, 5000])), SalesPersona),
        "REGULAR"
    );
    // Even count: median is (800 + 1000) / 2 = 900.
    assert_eq!(
        code(
            &classify_alone(considered(&[1, 800, 1000, 9000])),
            SalesPersona
        ),
        "IMPULSE"
    );
    assert_eq!(
        code(&classify_alone(considered(&[1, 10])), SalesPersona),
        "REGULAR"
    );
    let c = classify_alone(considered(&[259_200, 259_200, 300_000]));
    assert_eq!(code(&c, SalesPersona), "INFORMED");
    assert_eq!(code(&c, DecisionStyle), "RATIONAL");
    let c = classify_alone(considered(&[259_199, 259_199, 300_000]));
    assert_eq!(code(&c, SalesPersona), "REGULAR");
}

#[test]
fn informed_by_research_per_purchase() {
    let research = |views: usize| {
        (0..views).fold(
            HistoryBuilder::new("c").order(200, 10).order(150, 10),
            |b, i| {
                let kind = [
                    InteractionKind::ProductView,
                    InteractionKind::Comparison,
                    InteractionKind::ReviewRead,
                ][i % 3];
                b.interaction(100, kind)
            },
        )
    };
    assert_eq!(
        code(&classify_alone(research(10)), SalesPersona),
        "INFORMED"
    );
    assert_eq!(code(&classify_alone(research(9)), SalesPersona), "REGULAR");
    // A prospect with 5 research interactions: 5 / max(1, 0) = 5.
    let b = (0..5).fold(HistoryBuilder::new("p"), |b, _| {
        b.interaction(3, InteractionKind::ProductView)
    });
    let c = classify_alone(b);
    assert_eq!(code(&c, SalesPersona), "INFORMED");
    assert_eq!(code(&c, DecisionStyle), "RATIONAL");
}

#[test]
fn free_new_and_secondary_traits() {
    let trial = HistoryBuilder::new("c").event(5, EventPayload::PlanChange { plan: Plan::Trial });
    assert_eq!(code(&classify_alone(trial), SalesPersona), "FREE");
    let free_profile = HistoryBuilder::new("c").profile(|p| p.plan = Some(Plan::Free));
    assert_eq!(code(&classify_alone(free_profile), SalesPersona), "FREE");
    let paid_later = HistoryBuilder::new("c")
        .profile(|p| p.plan = Some(Plan::Free))
        .event(5, EventPayload::PlanChange { plan: Plan::Paid });
    assert_eq!(code(&classify_alone(paid_later), SalesPersona), "REGULAR");

    // New buyer who also bought impulsively: NEW with IMPULSE as a trait, never REGULAR.
    let b = (0..3).fold(HistoryBuilder::new("c"), |b, i| {
        b.order_with(10 + i, 100, |o| o.consideration_seconds = Some(60))
    });
    let c = classify_alone(b);
    let persona = c.assignment(SalesPersona);
    assert_eq!(persona.code, "NEW");
    assert_eq!(persona.secondary_traits, vec!["IMPULSE".to_owned()]);
    let regular = classify_alone(HistoryBuilder::new("c").order(200, 5).order(150, 5));
    assert!(regular.assignment(SalesPersona).secondary_traits.is_empty());
}

#[test]
fn angry_by_unresolved_complaint_sentiment_or_bad_csat() {
    let unresolved = HistoryBuilder::new("c").ticket(89, "t", TicketKind::Claim, false, None);
    assert_eq!(code(&classify_alone(unresolved), ServicePersona), "ANGRY");
    let old = HistoryBuilder::new("c").ticket(90, "t", TicketKind::Claim, false, None);
    assert_eq!(code(&classify_alone(old), ServicePersona), "UNPREDICTABLE");
    let resolved_later = HistoryBuilder::new("c")
        .ticket(60, "t", TicketKind::Complaint, false, Some(-0.9))
        .ticket(50, "t", TicketKind::Complaint, true, None);
    assert_eq!(
        code(&classify_alone(resolved_later), ServicePersona),
        "UNPREDICTABLE"
    );
    // Resolved, but opened within 30 days at sentiment exactly -0.5 (kept from the first event).
    let upset = HistoryBuilder::new("c")
        .ticket(20, "t", TicketKind::Complaint, false, Some(-0.5))
        .ticket(10, "t", TicketKind::Complaint, true, None);
    assert_eq!(code(&classify_alone(upset), ServicePersona), "ANGRY");
    let mild = HistoryBuilder::new("c").ticket(20, "t", TicketKind::Complaint, true, Some(-0.49));
    assert_eq!(code(&classify_alone(mild), ServicePersona), "UNPREDICTABLE");
    let bad_csat = HistoryBuilder::new("c").survey(29, SurveyKind::Csat, 2);
    assert_eq!(code(&classify_alone(bad_csat), ServicePersona), "ANGRY");
    let later_good = HistoryBuilder::new("c")
        .survey(29, SurveyKind::Csat, 1)
        .survey(5, SurveyKind::Csat, 4);
    assert_eq!(
        code(&classify_alone(later_good), ServicePersona),
        "UNPREDICTABLE"
    );
    let old_csat = HistoryBuilder::new("c").survey(30, SurveyKind::Csat, 1);
    assert_eq!(
        code(&classify_alone(old_csat), ServicePersona),
        "UNPREDICTABLE"
    );
}

#[test]
fn demanding_curious_advocate_loyal() {
    let escalations = HistoryBuilder::new("c")
        .ticket(80, "a", TicketKind::Escalation, true, None)
        .ticket(70, "b", TicketKind::Escalation, true, None);
    assert_eq!(
        code(&classify_alone(escalations), ServicePersona),
        "DEMANDING"
    );
    let busy = HistoryBuilder::new("c")
        .ticket(29, "a", TicketKind::Question, true, None)
        .ticket(20, "b", TicketKind::Question, true, None)
        .ticket(1, "c", TicketKind::Question, true, None);
    let c = classify_alone(busy);
    assert_eq!(code(&c, ServicePersona), "DEMANDING");
    assert_eq!(
        c.assignment(ServicePersona).secondary_traits,
        vec!["CURIOUS".to_owned()]
    );
    let curious = HistoryBuilder::new("c")
        .ticket(80, "a", TicketKind::Question, true, None)
        .ticket(60, "b", TicketKind::Question, true, None)
        .ticket(40, "c", TicketKind::Question, true, None);
    assert_eq!(code(&classify_alone(curious), ServicePersona), "CURIOUS");
    let promoter = HistoryBuilder::new("c").survey(10, SurveyKind::Nps, 10);
    assert_eq!(
        code(&classify_alone(promoter), ServicePersona),
        "BRAND_ADVOCATE"
    );
    let complained = HistoryBuilder::new("c")
        .survey(10, SurveyKind::Nps, 10)
        .ticket(179, "t", TicketKind::Complaint, true, None);
    assert_eq!(
        code(&classify_alone(complained), ServicePersona),
        "UNPREDICTABLE"
    );
    let loyal = (0..5).fold(HistoryBuilder::new("c"), |b, i| b.order(400 - 90 * i, 10));
    assert_eq!(code(&classify_alone(loyal), ServicePersona), "LOYAL");
}

#[test]
fn customer_type_rules_in_order() {
    // Refund rate exactly 0.3 is a problem.
    let refunds = HistoryBuilder::new("c")
        .order(10, 1000)
        .refund(9, "o1", 300);
    assert_eq!(code(&classify_alone(refunds), CustomerType), "PROBLEM");
    let fewer = HistoryBuilder::new("c")
        .order(10, 1000)
        .refund(9, "o1", 299);
    assert_ne!(code(&classify_alone(fewer), CustomerType), "PROBLEM");
    // A non-buyer whose only order was refunded.
    let refunded = HistoryBuilder::new("c")
        .order(10, 1000)
        .refund(9, "o1", 1000);
    let c = classify_alone(refunded);
    assert_eq!(code(&c, Lifecycle), "POTENTIAL");
    assert_eq!(code(&c, CustomerType), "PROBLEM");
    // Three serious tickets within 180 days.
    let tickets = HistoryBuilder::new("c")
        .ticket(170, "a", TicketKind::Complaint, true, None)
        .ticket(160, "b", TicketKind::Claim, true, None)
        .ticket(150, "d", TicketKind::Escalation, true, None);
    assert_eq!(code(&classify_alone(tickets), CustomerType), "PROBLEM");
    // A frequent newcomer is POTENTIAL.
    let engaged = (0..6).fold(HistoryBuilder::new("c").order(10, 100), |b, _| {
        b.interaction(5, InteractionKind::Chat)
    });
    assert_eq!(code(&classify_alone(engaged), CustomerType), "POTENTIAL");
    // A mature buyer outside the top tier with falling spend: CONVENIENCE (low loyalty).
    let mature = HistoryBuilder::new("c")
        .order(200, 100)
        .order(100, 100)
        .order(20, 50)
        .build();
    let whale = HistoryBuilder::new("w").order(10, 100_000).build();
    let pop = population(&[("c".into(), mature.clone()), ("w".into(), whale)]);
    let c = classify_in("c", &mature, &pop);
    assert_eq!(code(&c, ValueTier), "MEDIUM");
    assert_eq!(code(&c, Lifecycle), "MATURE");
    assert_eq!(code(&c, CustomerType), "CONVENIENCE");
    // The same customer as the top earner is VALUE.
    let pop = population(&[("c".into(), mature.clone())]);
    assert_eq!(
        code(&classify_in("c", &mature, &pop), CustomerType),
        "VALUE"
    );
    // A prospect who matches nothing.
    assert_eq!(
        code(&classify_alone(HistoryBuilder::new("c")), CustomerType),
        "UNSPECIFIED"
    );
}

#[test]
fn decision_style_from_profile_first() {
    let b = considered(&[259_200, 259_200, 300_000])
        .profile(|p| p.decision_style = Some(DecisionStyle::Emotional));
    let c = classify_alone(b);
    assert_eq!(code(&c, DecisionStyle), "EMOTIONAL");
    assert_eq!(
        code(
            &classify_alone(HistoryBuilder::new("c").order(100, 5)),
            DecisionStyle
        ),
        "UNKNOWN"
    );
}
