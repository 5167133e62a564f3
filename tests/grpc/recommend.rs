//! SegmentationService.RecommendAction: the playbook at every touchpoint.

use segmenter::api::pb;
use segmenter::api::pb::Touchpoint;

use crate::support::*;

/// Actions that sell something; the recovery actions must outrank all of them.
const SALES_ACTIONS: &[&str] = &[
    "UPGRADE_OFFER",
    "WELCOME_PLAN",
    "SECOND_PURCHASE_NUDGE",
    "ANNUAL_PLAN_OFFER",
    "FLASH_BUNDLE",
    "EXPERT_DETAILS",
    "RFM_KEEP_BEST",
    "RFM_RAISE_FREQUENCY",
    "RFM_REENGAGE",
    "RFM_WIN_BACK_NOW",
    "RFM_UPSELL",
    "RFM_NURTURE",
    "RFM_LOW_COST_TOUCH",
    "RFM_MINIMAL_CONTACT",
    "PROSPECT_INTRO",
    "INTEREST_TARGETED_OFFERS",
    "REFERRAL_PROGRAMME",
];

fn assert_ranked(response: &pb::RecommendActionResponse) {
    let priorities: Vec<u32> = response.actions.iter().map(|a| a.priority).collect();
    let mut sorted = priorities.clone();
    sorted.sort_unstable();
    assert_eq!(priorities, sorted, "{:?}", action_codes(response));
    let codes = action_codes(response);
    let mut unique = codes.clone();
    unique.sort();
    unique.dedup();
    assert_eq!(
        unique.len(),
        codes.len(),
        "an action appears once: {codes:?}"
    );
    for action in &response.actions {
        assert!(!action.title.is_empty() && !action.script.is_empty());
        assert!(!action.channel.is_empty());
        assert!(
            !action.triggers.is_empty(),
            "{} has no trigger",
            action.code
        );
        assert_eq!(action.suppressed, !action.suppression_reason.is_empty());
    }
}

/// A big buyer, so that the small crafted customers are not in the top value tier.
async fn record_whale(t: &TestServer) {
    t.record_ok(vec![order("w-1", "c-whale", ago(3), "o-1", 1_000_000)])
        .await;
}

#[tokio::test]
async fn a_new_customer_at_checkout_gets_the_welcome_plan() {
    let t = TestServer::start().await;
    record_whale(&t).await;
    t.record_ok(vec![order("n-1", "c-new", ago(5), "o-1", 1_000)])
        .await;
    t.refresh().await;
    let response = t
        .recommend(by_id("c-new"), Touchpoint::Checkout, "en", 0)
        .await
        .expect("recommend");
    let c = response.classification.clone().expect("classification");
    assert_eq!(code(&c, pb::Dimension::SalesPersona), "NEW");
    assert_eq!(code(&c, pb::Dimension::ValueTier), "MEDIUM");
    assert_eq!(action_codes(&response), vec!["WELCOME_PLAN"]);
    let welcome = &response.actions[0];
    assert_eq!(welcome.channel, "IN_PAGE");
    assert_eq!(welcome.priority, 4);
    assert!(!welcome.suppressed);
    assert_eq!(
        welcome.offer,
        Some(pb::Offer {
            kind: "COUPON".to_owned(),
            percent: 10,
            days_valid: 30
        })
    );
    assert_eq!(
        welcome.triggers,
        vec![pb::Trigger {
            dimension: pb::Dimension::SalesPersona as i32,
            code: "NEW".to_owned()
        }]
    );
    t.shutdown().await;
}

async fn record_angry(t: &TestServer) {
    t.upsert(pb::Customer {
        decision_style: pb::DecisionStyle::Rational as i32,
        ..customer("c-angry")
    })
    .await
    .expect("upsert");
    let mut events = vec![
        order("x-1", "c-angry", ago(20), "o-1", 5_000),
        ticket(
            "x-2",
            "c-angry",
            ago(3),
            "t-1",
            pb::TicketKind::Complaint,
            Some(-0.9),
            false,
        ),
    ];
    // Worn out by outbound contacts: the cap never holds back what answers their own call.
    events.extend((0..10).map(|i| outbound(&format!("x-out-{i}"), "c-angry", ago(i + 1))));
    t.record_ok(events).await;
}

#[tokio::test]
async fn an_angry_caller_gets_recovery_before_any_sales_action() {
    let t = TestServer::start().await;
    record_whale(&t).await;
    record_angry(&t).await;
    t.refresh().await;
    for touchpoint in [Touchpoint::InboundCall, Touchpoint::SupportTicket] {
        let response = t
            .recommend(by_id("c-angry"), touchpoint, "en", 0)
            .await
            .expect("recommend");
        let c = response.classification.clone().expect("classification");
        assert_eq!(code(&c, pb::Dimension::ServicePersona), "ANGRY");
        assert_eq!(code(&c, pb::Dimension::Satisfaction), "LOW");
        assert_ranked(&response);
        let codes = action_codes(&response);
        assert_eq!(codes[0], "SERVICE_RECOVERY", "{touchpoint:?}: {codes:?}");
        assert_eq!(codes[1], "RESOLVE_THEN_SURVEY", "{touchpoint:?}: {codes:?}");
        assert_eq!(response.actions[0].priority, 1);
        let last_recovery = position(&response, "RESOLVE_THEN_SURVEY");
        for sales in SALES_ACTIONS {
            if let Some(p) = codes.iter().position(|c| c == sales) {
                assert!(
                    p > last_recovery,
                    "{sales} ranked above recovery: {codes:?}"
                );
            }
        }
        // The welcome plan of a new buyer is there, below the recovery.
        assert!(position(&response, "WELCOME_PLAN") > 1);
        assert!(response.actions.iter().all(|a| !a.suppressed), "{codes:?}");
        let channel = if touchpoint == Touchpoint::InboundCall {
            "PHONE"
        } else {
            "TICKET_REPLY"
        };
        assert_eq!(response.actions[0].channel, channel);
    }
    let call = t
        .recommend(by_id("c-angry"), Touchpoint::InboundCall, "en", 0)
        .await
        .expect("call");
    assert!(position(&call, "LEAD_WITH_VALUE") > position(&call, "WELCOME_PLAN"));

    // max_actions caps the ranked list.
    let capped = t
        .recommend(by_id("c-angry"), Touchpoint::InboundCall, "en", 2)
        .await
        .expect("capped");
    assert_eq!(capped.actions, call.actions[..2].to_vec());
    assert_eq!(capped.classification, call.classification);
    let one = t
        .recommend(by_id("c-angry"), Touchpoint::InboundCall, "en", 1)
        .await
        .expect("one");
    assert_eq!(action_codes(&one), vec!["SERVICE_RECOVERY"]);
    t.shutdown().await;
}

#[tokio::test]
async fn the_contact_policy_suppresses_campaign_actions_over_the_cap() {
    let t = TestServer::start().await;
    record_whale(&t).await;
    let mut events = vec![
        // ACTIVE (cap 4 in 30 days): at the cap, and one below it.
        order("p-1", "c-capped", ago(10), "o-1", 2_000),
        order("p-2", "c-under", ago(10), "o-1", 2_000),
        // SILENT (cap 2 in 30 days).
        order("p-3", "c-silent", ago(60), "o-1", 2_000),
        order("p-3b", "c-silent", ago(200), "o-0", 2_000),
        // LOST (cap 1 in 90 days): the one contact is older than 30 days.
        order("p-4", "c-lost", ago(300), "o-1", 2_000),
        outbound("p-4-out", "c-lost", ago(60)),
    ];
    events.extend((0..4).map(|i| outbound(&format!("p-1-out-{i}"), "c-capped", ago(i + 1))));
    events.extend((0..3).map(|i| outbound(&format!("p-2-out-{i}"), "c-under", ago(i + 1))));
    events.extend((0..2).map(|i| outbound(&format!("p-3-out-{i}"), "c-silent", ago(i + 1))));
    t.record_ok(events).await;
    t.refresh().await;

    let capped = t
        .recommend(by_id("c-capped"), Touchpoint::Campaign, "en", 0)
        .await
        .expect("capped");
    assert_ranked(&capped);
    let welcome = &capped.actions[position(&capped, "WELCOME_PLAN")];
    assert!(welcome.suppressed);
    assert!(
        welcome
            .suppression_reason
            .contains("4 outbound contacts in the last 30 days")
            && welcome.suppression_reason.contains("ACTIVE"),
        "{}",
        welcome.suppression_reason
    );
    // Every campaign action contacts the customer, so all are held back, and all still shown.
    assert!(capped.actions.iter().all(|a| a.suppressed));

    let under = t
        .recommend(by_id("c-under"), Touchpoint::Campaign, "en", 0)
        .await
        .expect("under");
    assert!(position(&under, "WELCOME_PLAN") < under.actions.len());
    assert!(under
        .actions
        .iter()
        .all(|a| !a.suppressed && a.suppression_reason.is_empty()));

    // At a touchpoint the customer started nothing is suppressed.
    let checkout = t
        .recommend(by_id("c-capped"), Touchpoint::Checkout, "en", 0)
        .await
        .expect("checkout");
    assert!(!checkout.actions[position(&checkout, "WELCOME_PLAN")].suppressed);

    let silent = t
        .recommend(by_id("c-silent"), Touchpoint::Campaign, "en", 0)
        .await
        .expect("silent");
    let c = silent.classification.clone().expect("classification");
    assert_eq!(code(&c, pb::Dimension::ActivityPeriod), "SILENT");
    let keep = &silent.actions[position(&silent, "KEEP_IN_TOUCH")];
    assert!(keep.suppressed, "2 contacts reach the SILENT cap of 2");
    assert!(keep.suppression_reason.contains("SILENT"));

    let lost = t
        .recommend(by_id("c-lost"), Touchpoint::Campaign, "en", 0)
        .await
        .expect("lost");
    let c = lost.classification.clone().expect("classification");
    assert_eq!(code(&c, pb::Dimension::ActivityPeriod), "LOST");
    assert_eq!(code(&c, pb::Dimension::Lifecycle), "CHURNED");
    let promo = &lost.actions[position(&lost, "MAJOR_PROMOTION_ONLY")];
    assert!(
        promo.suppressed,
        "1 contact in 90 days reaches the LOST cap"
    );
    assert!(promo.suppression_reason.contains("in the last 90 days"));
    assert!(lost.actions[position(&lost, "CHURN_WIN_BACK")].suppressed);

    let zh = t
        .recommend(by_id("c-capped"), Touchpoint::Campaign, "zh-CN", 0)
        .await
        .expect("zh-CN");
    let zh_welcome = &zh.actions[position(&zh, "WELCOME_PLAN")];
    assert!(zh_welcome.suppressed);
    assert_ne!(zh_welcome.suppression_reason, welcome.suppression_reason);
    t.shutdown().await;
}

#[tokio::test]
async fn an_unknown_caller_gets_prospect_actions_in_either_locale() {
    let t = TestServer::start().await;
    let en = t
        .recommend(by_phone("+8613700001111"), Touchpoint::InboundCall, "en", 0)
        .await
        .expect("unknown caller");
    let c = en.classification.clone().expect("classification");
    assert!(!c.known);
    assert_eq!(action_codes(&en), vec!["PROSPECT_INTRO", "CES_SURVEY"]);
    assert_ranked(&en);
    let intro = &en.actions[0];
    assert_eq!(intro.title, "Introduce the brand: trial and demo");
    assert_eq!(intro.channel, "PHONE");
    assert_eq!(
        intro.triggers,
        vec![pb::Trigger {
            dimension: pb::Dimension::Lifecycle as i32,
            code: "POTENTIAL".to_owned()
        }]
    );

    let zh = t
        .recommend(
            by_phone("+8613700001111"),
            Touchpoint::InboundCall,
            "zh-CN",
            0,
        )
        .await
        .expect("zh-CN");
    assert_eq!(action_codes(&zh), action_codes(&en));
    assert_eq!(zh.actions[0].title, "品牌介绍：试用与产品演示");
    for (a, b) in en.actions.iter().zip(&zh.actions) {
        assert_ne!(a.title, b.title, "{}", a.code);
        assert_ne!(a.script, b.script, "{}", a.code);
        assert_eq!(
            (a.priority, &a.channel, &a.offer),
            (b.priority, &b.channel, &b.offer)
        );
    }

    // A prospect is introduced at every touchpoint.
    for touchpoint in [
        Touchpoint::Checkout,
        Touchpoint::AccountReview,
        Touchpoint::Campaign,
        Touchpoint::SupportTicket,
    ] {
        let response = t
            .recommend(by_id("prospect"), touchpoint, "en", 0)
            .await
            .expect("prospect");
        assert_eq!(
            action_codes(&response),
            vec!["PROSPECT_INTRO"],
            "{touchpoint:?}"
        );
        assert!(!response.actions[0].suppressed);
    }
    t.shutdown().await;
}

#[tokio::test]
async fn accounts_campaigns_and_birthdays_get_their_rows() {
    let t = TestServer::start().await;
    t.upsert(pb::Customer {
        birthday: Some(pb::Birthday { month: 7, day: 3 }),
        ..customer("c-birthday")
    })
    .await
    .expect("upsert");
    let mut events = vec![
        // An old, big dealer account: tenure over a year, the top fifth by monetary.
        order("d-1", "c-dealer", ago(400), "o-1", 500_000),
        order("d-2", "c-dealer", ago(10), "o-2", 500_000),
        // A churned customer.
        order("h-1", "c-churned", ago(250), "o-1", 3_000),
        order("b-1", "c-birthday", ago(30), "o-1", 2_000),
        order("b-2", "c-birthday", ago(20), "o-2", 2_000),
    ];
    events.extend((0..4).map(|i| {
        order(
            &format!("f-{i}"),
            &format!("c-filler-{i}"),
            ago(50 + i),
            "o-1",
            1_000 + i,
        )
    }));
    t.record_ok(events).await;
    t.refresh().await;

    let review = t
        .recommend(by_id("c-dealer"), Touchpoint::AccountReview, "en", 0)
        .await
        .expect("dealer");
    let c = review.classification.clone().expect("classification");
    assert_eq!(code(&c, pb::Dimension::AccountQuadrant), "OLD_BIG");
    assert_eq!(code(&c, pb::Dimension::ValueTier), "HIGH");
    assert_ranked(&review);
    assert_eq!(
        action_codes(&review),
        vec!["VIP_SERVICE", "HOLD_POLICY_LINE"]
    );

    let churned = t
        .recommend(by_id("c-churned"), Touchpoint::Campaign, "en", 0)
        .await
        .expect("churned");
    let c = churned.classification.clone().expect("classification");
    assert_eq!(code(&c, pb::Dimension::Lifecycle), "CHURNED");
    assert_ranked(&churned);
    let win_back = position(&churned, "CHURN_WIN_BACK");
    assert!(win_back < position(&churned, "MAJOR_PROMOTION_ONLY"));
    let account = t
        .recommend(by_id("c-churned"), Touchpoint::AccountReview, "en", 0)
        .await
        .expect("churned account");
    assert!(position(&account, "CHURN_WIN_BACK") < account.actions.len());
    assert!(position(&account, "DEVELOP_BOLDLY") < account.actions.len());

    let birthday = t
        .recommend(by_id("c-birthday"), Touchpoint::Campaign, "en", 0)
        .await
        .expect("birthday");
    let greeting = &birthday.actions[position(&birthday, "BIRTHDAY_GREETING")];
    assert_eq!(
        greeting.triggers,
        vec![pb::Trigger {
            dimension: 0,
            code: "BIRTHDAY".to_owned()
        }]
    );
    assert!(!action_codes(&birthday).contains(&"BIRTHDAY_GIFT".to_owned()));
    // Not a campaign touchpoint nor a call: no birthday row at checkout.
    let checkout = t
        .recommend(by_id("c-birthday"), Touchpoint::Checkout, "en", 0)
        .await
        .expect("checkout");
    assert!(!action_codes(&checkout)
        .iter()
        .any(|c| c.starts_with("BIRTHDAY")));
    t.shutdown().await;
}

#[tokio::test]
async fn bad_recommend_requests_are_invalid_arguments() {
    let t = TestServer::start().await;
    let status = t
        .recommend(by_id("c-1"), Touchpoint::Unspecified, "en", 0)
        .await
        .expect_err("no touchpoint");
    assert_eq!(violated_fields(&status), vec!["touchpoint"]);
    let status = t
        .seg
        .clone()
        .recommend_action(pb::RecommendActionRequest {
            customer: Some(by_id("c-1")),
            touchpoint: Touchpoint::Checkout as i32,
            options: None,
            context: Some(pb::ActionContext {
                cart_value: Some(-1),
                channel: "WEB".to_owned(),
            }),
            max_actions: 0,
        })
        .await
        .expect_err("negative cart");
    assert_eq!(violated_fields(&status), vec!["context.cart_value"]);
    let status = t
        .recommend(by_id("c-1"), Touchpoint::Checkout, "de", 0)
        .await
        .expect_err("locale");
    assert_eq!(violated_fields(&status), vec!["options.locale"]);
    t.shutdown().await;
}
