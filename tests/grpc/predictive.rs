//! Predictive models over gRPC: GetPredictiveModel for the current snapshot and at an explicit
//! as_of, degenerate populations, churn risk and predicted value tier in Classify, and the
//! win-back action for a high-value customer at high churn risk.

use segmenter::api::pb;
use tonic::Code;

use crate::support::*;

/// Regular buyers of modest baskets (every other one stopped buying a while ago: the models
/// learn dropout from them), and one very big spender who bought every 14 days from 300 to 160
/// days ago and not since. Returns the number of buyers.
async fn record_population(t: &TestServer) -> u64 {
    let mut events = Vec::new();
    for i in 0..40_i64 {
        let id = format!("r{i:02}");
        let every = 20 + i; // days between purchases
        let last = if i % 2 == 1 { 60 + 4 * i } else { 0 };
        let mut day = 360 - 3 * i;
        let mut n = 0;
        while day >= last {
            let key = format!("{id}-{n}");
            events.push(order(&key, &id, ago(day), &key, 1_000 + 50 * i));
            day -= every;
            n += 1;
        }
    }
    for (n, day) in (160..=300).rev().step_by(14).enumerate() {
        let key = format!("whale-{n}");
        events.push(order(&key, "whale", ago(day), &key, 2_000_000));
    }
    t.record_ok(events).await;
    41
}

async fn model(
    t: &TestServer,
    as_of: Option<prost_types::Timestamp>,
) -> pb::GetPredictiveModelResponse {
    t.seg
        .clone()
        .get_predictive_model(pb::GetPredictiveModelRequest { as_of })
        .await
        .expect("predictive model")
        .into_inner()
}

fn reason<'a>(a: &'a pb::Assignment, rule: &str) -> &'a pb::Reason {
    let found = a.reasons.iter().find(|r| r.rule == rule);
    found.unwrap_or_else(|| panic!("no {rule} in {a:#?}"))
}

fn fact<'a>(facts: &'a [pb::Fact], name: &str) -> &'a str {
    let found = facts.iter().find(|f| f.name == name);
    found.map_or("", |f| f.value.as_str())
}

#[tokio::test]
async fn the_current_snapshot_carries_both_fitted_models() {
    let t = TestServer::start().await;
    let buyers = record_population(&t).await;
    let snapshot = t.refresh().await;
    let m = model(&t, None).await;
    assert_eq!(m.snapshot.as_ref(), Some(&snapshot));
    assert!(!m.rule_set_version.is_empty());
    // r37 and r39 stopped after their first purchase.
    assert_eq!((m.buyers, m.repeat_buyers), (buyers, buyers - 2));
    assert_eq!(m.time_unit, pb::TimeUnit::Days as i32);
    assert_eq!((m.horizon_days, m.annual_discount_rate), (365, 0.1));

    let bg = m.bg_nbd.expect("BG/NBD");
    assert_eq!(bg.status, pb::FitStatus::Fitted as i32, "{bg:?}");
    assert!(bg.failure.is_empty());
    for value in [bg.r, bg.alpha, bg.a, bg.b] {
        assert!(value.is_finite() && value > 0.0, "{bg:?}");
    }
    assert!(
        bg.log_likelihood.is_finite() && bg.log_likelihood < 0.0,
        "{bg:?}"
    );
    assert_eq!(bg.customers, buyers);
    assert!(bg.iterations > 0);

    let gg = m.gamma_gamma.expect("Gamma-Gamma");
    assert_eq!(gg.status, pb::FitStatus::Fitted as i32, "{gg:?}");
    for value in [
        gg.p,
        gg.q,
        gg.v,
        gg.log_likelihood,
        gg.population_mean_spend,
    ] {
        assert!(value.is_finite(), "{gg:?}");
    }
    assert_eq!(gg.customers, m.repeat_buyers);

    let tier = m.predicted_value_tier.expect("tier bounds");
    assert!(tier.high_customers >= 1, "{tier:?}");
    assert_eq!(tier.low_customers, buyers / 5); // floor(20 % of 41)
    assert_eq!(
        tier.last_high_customer_id.is_empty(),
        tier.last_high_clv.is_none()
    );
    t.shutdown().await;
}

#[tokio::test]
async fn a_snapshot_at_an_explicit_as_of_has_its_own_models() {
    let t = TestServer::start().await;
    record_population(&t).await;
    // 200 days ago: 40 regulars had bought (r39 started 243 days ago), the big spender too.
    let past = ago(200);
    let m = model(&t, Some(past)).await;
    let snapshot = m.snapshot.as_ref().expect("snapshot");
    assert_eq!(snapshot.as_of, Some(past));
    assert_eq!(m.buyers, 41);
    let bg = m.bg_nbd.as_ref().expect("BG/NBD");
    assert_eq!(
        (bg.status, bg.customers),
        (pb::FitStatus::Fitted as i32, 41)
    );
    // The same instant again: the cached snapshot, the same models.
    assert_eq!(model(&t, Some(past)).await, m);
    // Before anybody bought: a typed outcome, not an error.
    let empty = model(&t, Some(ago(400))).await;
    assert_eq!(empty.buyers, 0);
    let bg = empty.bg_nbd.expect("BG/NBD");
    assert_eq!(bg.status, pb::FitStatus::NoBuyers as i32);
    assert!(!bg.failure.is_empty());
    assert_eq!((bg.r, bg.alpha, bg.customers), (0.0, 0.0, 0));

    let status = t
        .seg
        .clone()
        .get_predictive_model(pb::GetPredictiveModelRequest {
            as_of: Some(from_now(3_600)),
        })
        .await
        .expect_err("the future is refused");
    assert_eq!(status.code(), Code::InvalidArgument);
    assert_eq!(violated_fields(&status), ["as_of"]);
    t.shutdown().await;
}

#[tokio::test]
async fn without_repeat_buyers_the_models_and_dimensions_say_so() {
    let t = TestServer::start().await;
    let events = (0..5)
        .map(|i| {
            let id = format!("once-{i}");
            order(&id, &id, ago(10 + 20 * i), &id, 5_000)
        })
        .collect();
    t.record_ok(events).await;
    t.refresh().await;
    let m = model(&t, None).await;
    assert_eq!((m.buyers, m.repeat_buyers), (5, 0));
    for status in [
        m.bg_nbd.as_ref().map(|b| b.status),
        m.gamma_gamma.as_ref().map(|g| g.status),
    ] {
        assert_eq!(status, Some(pb::FitStatus::NoRepeatBuyers as i32));
    }

    let c = t.classify(by_id("once-2")).await;
    assert_eq!(c.predictive, None);
    for (dimension, rule) in [
        (pb::Dimension::ChurnRisk, "churn_risk.not_fitted"),
        (
            pb::Dimension::PredictedValueTier,
            "predicted_value_tier.not_fitted",
        ),
    ] {
        let a = assignment(&c, dimension);
        assert_eq!(a.code, "UNKNOWN");
        assert!(!a.display_name.is_empty());
        let why = reason(a, rule);
        assert_eq!(fact(&why.observed, "fit_outcome"), "NO_REPEAT_BUYERS");
        assert_eq!(fact(&why.observed, "repeat_buyers"), "0");
    }
    t.shutdown().await;
}

#[tokio::test]
async fn classify_reports_churn_risk_and_predicted_value_with_reasons() {
    let t = TestServer::start().await;
    record_population(&t).await;
    t.refresh().await;

    let whale = t.classify(by_id("whale")).await;
    let scores = whale.predictive.expect("predicted");
    assert!(scores.probability_alive < 0.3, "{scores:?}");
    assert_eq!(
        (scores.frequency, scores.recency, scores.age),
        (10, 140.0, 300.0)
    );
    assert_eq!(scores.mean_repeat_spend, Some(2_000_000.0));
    assert!(scores.clv.is_some_and(|clv| clv > 0.0), "{scores:?}");
    let churn = assignment(&whale, pb::Dimension::ChurnRisk);
    assert_eq!(churn.code, "HIGH");
    let why = reason(churn, "churn_risk.high");
    assert!(why.matched);
    for name in ["probability_alive", "expected_purchases", "clv"] {
        assert!(!fact(&why.observed, name).is_empty(), "{name}: {why:?}");
    }
    assert_eq!(fact(&why.thresholds, "churn_high_below"), "0.3");
    let tier = assignment(&whale, pb::Dimension::PredictedValueTier);
    assert_eq!(tier.code, "HIGH");
    let why = reason(tier, "predicted_value_tier.high_head");
    assert_eq!(fact(&why.thresholds, "high_clv_share"), "0.8");

    // A regular recent buyer.
    let regular = t.classify(by_id("r06")).await;
    assert_eq!(code(&regular, pb::Dimension::ChurnRisk), "LOW");
    let p = regular.predictive.expect("predicted");
    assert!(
        p.probability_alive >= 0.7 && p.expected_purchases > 1.0,
        "{p:?}"
    );

    // Nobody: no purchases, no prediction.
    let nobody = t.classify(by_id("nobody")).await;
    assert_eq!(code(&nobody, pb::Dimension::ChurnRisk), "NONE");
    assert_eq!(code(&nobody, pb::Dimension::PredictedValueTier), "NONE");
    t.shutdown().await;
}

#[tokio::test]
async fn a_high_value_customer_at_high_churn_risk_gets_the_win_back_first() {
    let t = TestServer::start().await;
    record_population(&t).await;
    t.refresh().await;
    for touchpoint in [
        pb::Touchpoint::Campaign,
        pb::Touchpoint::AccountReview,
        pb::Touchpoint::InboundCall,
    ] {
        let response = t
            .recommend(by_id("whale"), touchpoint, "en", 0)
            .await
            .expect("recommend");
        let codes = action_codes(&response);
        assert_eq!(codes[0], "HIGH_VALUE_WIN_BACK", "{touchpoint:?}: {codes:?}");
        let first = &response.actions[0];
        let triggered: Vec<(i32, &str)> = first
            .triggers
            .iter()
            .map(|s| (s.dimension, s.code.as_str()))
            .collect();
        assert_eq!(
            triggered,
            [
                (pb::Dimension::ChurnRisk as i32, "HIGH"),
                (pb::Dimension::PredictedValueTier as i32, "HIGH"),
            ]
        );
    }
    t.shutdown().await;
}
