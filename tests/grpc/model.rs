//! The worked examples and exact rules of the spec, checked end to end through the API.

use segmenter::api::pb;

use crate::support::*;

/// The RFM scores of `id` at now, against a snapshot taken at now.
async fn scores(t: &TestServer, id: &str) -> (u32, u32, u32) {
    let c = t
        .classify_with(by_id(id), at(now()))
        .await
        .expect("classify");
    let s = c.rfm_scores.expect("scores");
    (s.recency, s.frequency, s.monetary)
}

#[tokio::test]
async fn rfm_scores_follow_the_worked_examples() {
    // Monetary values 100, 200, 300, 500, 500 score M = 1, 2, 3, 5, 5.
    let t = TestServer::start().await;
    let amounts = [100, 200, 300, 500, 500];
    let events = amounts
        .iter()
        .enumerate()
        .map(|(i, amount)| {
            order(
                &format!("m-{i}"),
                &format!("m-{i}"),
                ago(10),
                "o-1",
                *amount,
            )
        })
        .collect();
    t.record_ok(events).await;
    let mut m = Vec::new();
    for i in 0..5 {
        let (r, f, score) = scores(&t, &format!("m-{i}")).await;
        // Equal values get equal scores: every recency and frequency is the same.
        assert_eq!((r, f), (3, 3));
        m.push(score);
    }
    assert_eq!(m, vec![1, 2, 3, 5, 5]);
    // Mean monetary is 320: only the two 500s are high; equal recency and frequency are low.
    for (i, want) in [
        "GENERAL_RETAIN",
        "GENERAL_RETAIN",
        "GENERAL_RETAIN",
        "IMPORTANT_RETAIN",
        "IMPORTANT_RETAIN",
    ]
    .iter()
    .enumerate()
    {
        let c = t.classify_with(by_id(&format!("m-{i}")), at(now())).await;
        assert_eq!(
            code(&c.expect("classify"), pb::Dimension::Rfm),
            *want,
            "m-{i}"
        );
    }
    t.shutdown().await;

    // Frequencies seven times 1, then 2, 3 and 10 score F = 2 (each 1), 4, 5, 5.
    let t = TestServer::start().await;
    let mut events = Vec::new();
    for (i, n) in [1, 1, 1, 1, 1, 1, 1, 2, 3, 10].iter().enumerate() {
        for k in 0..*n {
            events.push(order(
                &format!("f-{i}-{k}"),
                &format!("f-{i}"),
                ago(k + 1),
                &format!("o-{k}"),
                1_000,
            ));
        }
    }
    t.record_ok(events).await;
    let mut f = Vec::new();
    for i in 0..10 {
        f.push(scores(&t, &format!("f-{i}")).await.1);
    }
    assert_eq!(f, vec![2, 2, 2, 2, 2, 2, 2, 4, 5, 5]);
    t.shutdown().await;

    // Recencies 0, 10, 20, 30, 40 days score R = 5, 4, 3, 2, 1.
    let t = TestServer::start().await;
    let events = (0..5)
        .map(|i| {
            order(
                &format!("r-{i}"),
                &format!("r-{i}"),
                ago(10 * i),
                "o-1",
                1_000,
            )
        })
        .collect();
    t.record_ok(events).await;
    let mut r = Vec::new();
    for i in 0..5 {
        r.push(scores(&t, &format!("r-{i}")).await.0);
    }
    assert_eq!(r, vec![5, 4, 3, 2, 1]);
    t.shutdown().await;
}

#[tokio::test]
async fn value_tier_takes_the_80_20_head_and_the_20_percent_tail() {
    let t = TestServer::start().await;
    // Profits in id order; v-07 and v-08 tie, and the id decides which one is in the tail.
    let profits = [
        50_000, 30_000, 10_000, 5_000, 3_000, 1_000, 500, 200, 200, -100,
    ];
    let events = profits
        .iter()
        .enumerate()
        .map(|(i, profit)| {
            let id = format!("v-{i:02}");
            if *profit < 0 {
                order_with(&id, &id, ago(5), "o-1", 100, |o| {
                    o.cost = Some(100 - profit)
                })
            } else {
                order(&id, &id, ago(5), "o-1", *profit)
            }
        })
        .collect();
    t.record_ok(events).await;
    let mut tiers = Vec::new();
    for (i, profit) in profits.iter().enumerate() {
        let c = t
            .classify_with(by_id(&format!("v-{i:02}")), at(now()))
            .await
            .expect("classify");
        assert_eq!(c.features.as_ref().expect("features").profit, *profit);
        tiers.push(code(&c, pb::Dimension::ValueTier));
    }
    // 50,000 + 30,000 is at least 80 % of the 99,900 positive profit; the tail is
    // floor(20 % of 10) = 2 customers.
    assert_eq!(
        tiers,
        vec![
            "HIGH", "HIGH", "MEDIUM", "MEDIUM", "MEDIUM", "MEDIUM", "MEDIUM", "MEDIUM", "LOW",
            "LOW"
        ]
    );
    t.shutdown().await;
}

#[tokio::test]
async fn windows_are_half_open_and_days_are_floored() {
    let t = TestServer::start().await;
    t.record_ok(vec![
        // Exactly 365 days before now: outside the lookback window.
        order("w-1", "w-out", ago(365), "o-1", 1_000),
        // One second later: inside.
        order("w-2", "w-in", from_now(-365 * DAY + 1), "o-1", 1_000),
        interaction("w-3", "w-in", ago(90), pb::InteractionKind::Chat),
        interaction(
            "w-4",
            "w-in",
            from_now(-90 * DAY + 1),
            pb::InteractionKind::Chat,
        ),
    ])
    .await;
    let out = t
        .classify_with(by_id("w-out"), at(now()))
        .await
        .expect("w-out");
    let snapshot = out.snapshot.clone().expect("snapshot");
    assert_eq!((snapshot.customers, snapshot.active_buyers), (2, 1));
    let f = out.features.clone().expect("features");
    assert_eq!((f.frequency, f.monetary, f.recency_days), (0, 0, Some(365)));
    assert_eq!(f.purchases_ever, 1);
    // A buyer without a purchase within L is still placed, low.
    assert_eq!(code(&out, pb::Dimension::ValueTier), "LOW");
    assert_eq!(code(&out, pb::Dimension::Lifecycle), "CHURNED");
    assert_eq!(code(&out, pb::Dimension::ActivityPeriod), "LOST");
    assert_ne!(code(&out, pb::Dimension::Rfm), "NONE");

    let inside = t
        .classify_with(by_id("w-in"), at(now()))
        .await
        .expect("w-in");
    let f = inside.features.clone().expect("features");
    assert_eq!((f.frequency, f.recency_days), (1, Some(364)));
    assert_eq!(f.interactions_90d, 1, "the chat exactly 90 days ago is out");
    t.shutdown().await;
}

#[tokio::test]
async fn the_latest_of_equal_instants_is_the_greater_event_id() {
    let t = TestServer::start().await;
    t.record_ok(vec![
        survey("n-b", "c-1", ago(10), pb::SurveyKind::Nps, 3),
        survey("n-a", "c-1", ago(10), pb::SurveyKind::Nps, 10),
        // Byte order: "s-10" < "s-2", so the 1 is the latest answer.
        survey("s-2", "c-1", ago(10), pb::SurveyKind::Csat, 1),
        survey("s-10", "c-1", ago(10), pb::SurveyKind::Csat, 5),
    ])
    .await;
    let c = t.classify(by_id("c-1")).await;
    let f = c.features.clone().expect("features");
    assert_eq!((f.last_nps, f.last_csat), (Some(3), Some(1)));
    assert_eq!(f.csat_avg_365d, Some(3.0));
    assert_eq!(code(&c, pb::Dimension::Advocacy), "DETRACTOR");
    assert_eq!(code(&c, pb::Dimension::Satisfaction), "MEDIUM");
    assert_eq!(code(&c, pb::Dimension::ServicePersona), "ANGRY");
    t.shutdown().await;
}

#[tokio::test]
async fn refunds_are_attributed_to_their_orders_window() {
    let t = TestServer::start().await;
    t.record_ok(vec![
        order("a-1", "c-1", ago(100), "o-1", 10_000),
        order("a-2", "c-1", ago(10), "o-2", 5_000),
        refund("a-3", "c-1", ago(5), "o-1", 4_000),
    ])
    .await;
    let c = t.classify(by_id("c-1")).await;
    let f = c.features.expect("features");
    assert_eq!(f.monetary, 11_000);
    assert_eq!(f.spend_trend, 5_000 - 6_000);
    assert_eq!(f.refund_rate, Some(4_000.0 / 15_000.0));
    // Before the refund was made it does not count.
    let earlier = t
        .classify_with(by_id("c-1"), at(ago(50)))
        .await
        .expect("earlier");
    let f = earlier.features.expect("features");
    assert_eq!(
        (f.monetary, f.spend_trend, f.refund_rate),
        (10_000, 10_000, Some(0.0))
    );
    t.shutdown().await;
}

#[tokio::test]
async fn advocacy_satisfaction_type_and_secondary_traits() {
    let t = TestServer::start().await;
    let coupon = |o: &mut pb::Order| o.coupon_code = "SAVE".to_owned();
    t.record_ok(vec![
        // An NPS of 7 lifted by a referral; an 8 without one.
        survey("p-1", "c-lifted", ago(20), pb::SurveyKind::Nps, 7),
        referral("p-2", "c-lifted", ago(10), "c-friend"),
        survey("p-3", "c-passive", ago(20), pb::SurveyKind::Nps, 8),
        // High CSAT lowered one level by a recent complaint.
        survey("s-1", "c-sat", ago(40), pb::SurveyKind::Csat, 5),
        ticket(
            "s-2",
            "c-sat",
            ago(30),
            "t-1",
            pb::TicketKind::Complaint,
            None,
            true,
        ),
        // The only order fully refunded: not a buyer, but a problem customer.
        order("r-1", "c-refunded", ago(20), "o-1", 3_000),
        refund("r-2", "c-refunded", ago(19), "o-1", 3_000),
        // A new buyer who always uses a coupon: NEW first, BARGAIN_HUNTER as a trait.
        order_with("b-1", "c-bargain", ago(30), "o-1", 1_000, coupon),
        order_with("b-2", "c-bargain", ago(20), "o-2", 1_000, coupon),
        order_with("b-3", "c-bargain", ago(10), "o-3", 1_000, coupon),
    ])
    .await;
    t.refresh().await;
    let lifted = t.classify(by_id("c-lifted")).await;
    assert_eq!(code(&lifted, pb::Dimension::Advocacy), "PROMOTER");
    assert_eq!(
        code(&lifted, pb::Dimension::ServicePersona),
        "BRAND_ADVOCATE"
    );
    let passive = t.classify(by_id("c-passive")).await;
    assert_eq!(code(&passive, pb::Dimension::Advocacy), "PASSIVE");
    let sat = t.classify(by_id("c-sat")).await;
    assert_eq!(code(&sat, pb::Dimension::Satisfaction), "MEDIUM");
    assert_eq!(code(&sat, pb::Dimension::ServicePersona), "UNPREDICTABLE");

    let refunded = t.classify(by_id("c-refunded")).await;
    assert_eq!(code(&refunded, pb::Dimension::Lifecycle), "POTENTIAL");
    assert_eq!(code(&refunded, pb::Dimension::CustomerType), "PROBLEM");
    assert_eq!(code(&refunded, pb::Dimension::Rfm), "NONE");
    assert_eq!(refunded.features.expect("features").refund_rate, Some(1.0));

    let bargain = t.classify(by_id("c-bargain")).await;
    let sales = assignment(&bargain, pb::Dimension::SalesPersona);
    assert_eq!(sales.code, "NEW");
    assert_eq!(sales.secondary_traits, vec!["BARGAIN_HUNTER"]);
    assert_eq!(
        bargain.features.expect("features").discount_share,
        Some(1.0)
    );
    t.shutdown().await;
}
