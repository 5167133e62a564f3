//! Profile data and history updates that steer the rules: pins, decision style, plan changes,
//! ticket updates.

use segmenter::api::pb;
use segmenter::api::pb::Touchpoint;

use crate::support::*;

fn pin(dimension: pb::Dimension, code: &str) -> pb::SegmentPin {
    pb::SegmentPin {
        dimension: dimension as i32,
        segment_code: code.to_owned(),
    }
}

#[tokio::test]
async fn a_pin_wins_over_the_rules_and_is_reported() {
    let t = TestServer::start().await;
    let stored = t
        .upsert(pb::Customer {
            pins: vec![pin(pb::Dimension::ValueTier, "LOW")],
            ..customer("c-pinned")
        })
        .await
        .expect("upsert");
    assert_eq!(
        stored.customer.expect("customer").pins,
        vec![pin(pb::Dimension::ValueTier, "LOW")]
    );
    // The only buyer: by the rules the top value tier.
    t.record_ok(vec![order("p-1", "c-pinned", ago(5), "o-1", 50_000)])
        .await;
    t.refresh().await;
    let c = t.classify(by_id("c-pinned")).await;
    let tier = assignment(&c, pb::Dimension::ValueTier);
    assert_eq!((tier.code.as_str(), tier.pinned), ("LOW", true));
    assert!(!tier.reasons.is_empty());
    assert!(c
        .assignments
        .iter()
        .filter(|a| a.dimension != pb::Dimension::ValueTier as i32)
        .all(|a| !a.pinned));
    let members = t.members(pb::Dimension::ValueTier, "LOW", at_now()).await;
    assert_eq!(members.len(), 1);
    assert_eq!(members[0].customer_id, "c-pinned");
    assert!(members[0].assignment.as_ref().expect("assignment").pinned);
    // The playbook follows the pin: the low-value row, not the top-value one.
    let review = t
        .recommend(by_id("c-pinned"), Touchpoint::AccountReview, "en", 0)
        .await
        .expect("recommend");
    let codes = action_codes(&review);
    assert!(
        codes.contains(&"LOW_VALUE_DEVELOPMENT".to_owned()),
        "{codes:?}"
    );
    assert!(!codes.contains(&"VIP_SERVICE".to_owned()), "{codes:?}");

    let status = t
        .upsert(pb::Customer {
            pins: vec![
                pin(pb::Dimension::Rfm, "HIGH"),
                pin(pb::Dimension::Lifecycle, "LOYAL"),
                pin(pb::Dimension::Lifecycle, "NEW"),
                pin(pb::Dimension::Unspecified, "NEW"),
            ],
            ..customer("c-bad-pins")
        })
        .await
        .expect_err("bad pins");
    assert_eq!(
        violated_fields(&status),
        vec![
            "customer.pins[0].segment_code",
            "customer.pins[2].dimension",
            "customer.pins[3].dimension",
        ]
    );
    t.shutdown().await;
}

#[tokio::test]
async fn a_decision_style_set_by_a_person_is_reported_and_used() {
    let t = TestServer::start().await;
    t.upsert(pb::Customer {
        decision_style: pb::DecisionStyle::Emotional as i32,
        ..customer("c-emotional")
    })
    .await
    .expect("upsert");
    let response = t
        .recommend(by_id("c-emotional"), Touchpoint::Checkout, "en", 0)
        .await
        .expect("recommend");
    let c = response.classification.clone().expect("classification");
    assert!(c.known);
    assert_eq!(code(&c, pb::Dimension::DecisionStyle), "EMOTIONAL");
    assert_eq!(code(&c, pb::Dimension::Lifecycle), "POTENTIAL");
    assert_eq!(
        action_codes(&response),
        vec!["PROSPECT_INTRO", "LEAD_WITH_RELATIONSHIP"]
    );
    t.shutdown().await;
}

#[tokio::test]
async fn a_plan_change_makes_a_free_user() {
    let t = TestServer::start().await;
    t.upsert(pb::Customer {
        plan: pb::Plan::Paid as i32,
        ..customer("c-trial")
    })
    .await
    .expect("upsert");
    t.record_ok(vec![plan_change(
        "pc-1",
        "c-trial",
        ago(3),
        pb::Plan::Trial,
    )])
    .await;
    let c = t.classify(by_id("c-trial")).await;
    assert_eq!(c.features.as_ref().expect("features").current_plan, "TRIAL");
    assert_eq!(code(&c, pb::Dimension::SalesPersona), "FREE");
    let response = t
        .recommend(by_id("c-trial"), Touchpoint::Checkout, "en", 0)
        .await
        .expect("recommend");
    assert_eq!(
        action_codes(&response),
        vec!["UPGRADE_OFFER", "PROSPECT_INTRO"]
    );
    // Before the change the profile's plan applies.
    let before = t
        .classify_with(by_id("c-trial"), at(ago(4)))
        .await
        .expect("before");
    let features = before.features.clone().expect("features");
    assert_eq!(features.current_plan, "PAID");
    assert_eq!(code(&before, pb::Dimension::SalesPersona), "REGULAR");
    t.shutdown().await;
}

#[tokio::test]
async fn a_later_ticket_event_updates_the_ticket() {
    let t = TestServer::start().await;
    t.record_ok(vec![
        order("k-1", "c-1", ago(200), "o-1", 1_000),
        order("k-2", "c-1", ago(100), "o-2", 1_000),
        ticket(
            "k-3",
            "c-1",
            ago(60),
            "t-1",
            pb::TicketKind::Complaint,
            Some(-0.9),
            false,
        ),
    ])
    .await;
    let open = t.classify(by_id("c-1")).await;
    assert_eq!(code(&open, pb::Dimension::ServicePersona), "ANGRY");
    assert_eq!(code(&open, pb::Dimension::Satisfaction), "LOW");

    t.record_ok(vec![ticket(
        "k-4",
        "c-1",
        ago(50),
        "t-1",
        pb::TicketKind::Complaint,
        None,
        true,
    )])
    .await;
    let resolved = t.classify(by_id("c-1")).await;
    assert_eq!(
        code(&resolved, pb::Dimension::ServicePersona),
        "UNPREDICTABLE"
    );
    // Still a complaint opened within 90 days, and no CSAT answer.
    assert_eq!(code(&resolved, pb::Dimension::Satisfaction), "LOW");
    let f = resolved.features.expect("features");
    assert_eq!(f.complaint_tickets_90d, 1, "one ticket, not two");
    assert_eq!(
        f.interactions_90d, 1,
        "a ticket counts once, by its first instant"
    );
    // Seen at an instant before the update, the ticket is still open.
    let earlier = t
        .classify_with(by_id("c-1"), at(ago(55)))
        .await
        .expect("earlier");
    assert_eq!(code(&earlier, pb::Dimension::ServicePersona), "ANGRY");
    t.shutdown().await;
}

/// 2025-02-25, 2024-02-25, 2024-12-28 and 2025-03-10, each at 00:00:00Z.
const FEB_25_2025: i64 = 1_740_441_600;
const FEB_25_2024: i64 = 1_708_819_200;
const DEC_28_2024: i64 = 1_735_344_000;
const MAR_10_2025: i64 = 1_741_564_800;

#[tokio::test]
async fn birthdays_within_the_week_are_greeted() {
    let t = TestServer::start().await;
    for (id, month, day) in [("c-leap", 2, 29), ("c-jan", 1, 2)] {
        t.upsert(pb::Customer {
            birthday: Some(pb::Birthday { month, day }),
            ..customer(id)
        })
        .await
        .expect("upsert");
    }
    for (id, as_of, greeted) in [
        // 29 February counts as 28 February in other years.
        ("c-leap", FEB_25_2025, true),
        ("c-leap", FEB_25_2024, true),
        ("c-leap", MAR_10_2025, false),
        // The week may run into the next year.
        ("c-jan", DEC_28_2024, true),
        ("c-jan", FEB_25_2025, false),
    ] {
        let response = t
            .seg
            .clone()
            .recommend_action(pb::RecommendActionRequest {
                customer: Some(by_id(id)),
                touchpoint: Touchpoint::Campaign as i32,
                options: Some(at(secs(as_of))),
                context: None,
                max_actions: 0,
            })
            .await
            .expect("recommend")
            .into_inner();
        let codes = action_codes(&response);
        assert_eq!(
            codes.contains(&"BIRTHDAY_GREETING".to_owned()),
            greeted,
            "{id} at {as_of}: {codes:?}"
        );
    }
    t.shutdown().await;
}

#[tokio::test]
async fn an_action_asked_for_by_several_segments_appears_once_naming_them_all() {
    let t = TestServer::start().await;
    t.upsert(pb::Customer {
        birthday: Some(pb::Birthday { month: 7, day: 4 }),
        ..customer("c-fan")
    })
    .await
    .expect("upsert");
    t.record_ok(vec![
        order("f-1", "c-fan", ago(40), "o-1", 9_000),
        order("f-2", "c-fan", ago(200), "o-0", 9_000),
        survey("f-3", "c-fan", ago(20), pb::SurveyKind::Nps, 10),
        order("s-1", "c-small", ago(40), "o-1", 100),
    ])
    .await;
    t.refresh().await;
    let response = t
        .recommend(by_id("c-fan"), Touchpoint::Campaign, "en", 0)
        .await
        .expect("recommend");
    let c = response.classification.clone().expect("classification");
    assert_eq!(code(&c, pb::Dimension::ServicePersona), "BRAND_ADVOCATE");
    assert_eq!(code(&c, pb::Dimension::Advocacy), "PROMOTER");
    assert_eq!(code(&c, pb::Dimension::ValueTier), "HIGH");
    let codes = action_codes(&response);
    let referral: Vec<&pb::Action> = response
        .actions
        .iter()
        .filter(|a| a.code == "REFERRAL_PROGRAMME")
        .collect();
    assert_eq!(referral.len(), 1, "{codes:?}");
    let mut triggers: Vec<(i32, String)> = referral[0]
        .triggers
        .iter()
        .map(|t| (t.dimension, t.code.clone()))
        .collect();
    triggers.sort();
    assert_eq!(
        triggers,
        vec![
            (pb::Dimension::Advocacy as i32, "PROMOTER".to_owned()),
            (
                pb::Dimension::ServicePersona as i32,
                "BRAND_ADVOCATE".to_owned()
            ),
        ]
    );
    // A top-value customer's birthday: the gift, not the plain greeting.
    let gift = &response.actions[position(&response, "BIRTHDAY_GIFT")];
    assert!(
        !codes.contains(&"BIRTHDAY_GREETING".to_owned()),
        "{codes:?}"
    );
    let mut triggers: Vec<(i32, String)> = gift
        .triggers
        .iter()
        .map(|t| (t.dimension, t.code.clone()))
        .collect();
    triggers.sort();
    assert_eq!(
        triggers,
        vec![
            (0, "BIRTHDAY".to_owned()),
            (pb::Dimension::ValueTier as i32, "HIGH".to_owned()),
        ]
    );
    t.shutdown().await;
}
