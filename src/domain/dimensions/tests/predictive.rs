//! Churn risk and predicted value tier (issue 5) against populations whose models are fitted as
//! the snapshot fits them, and the purchase days the models read.

use crate::domain::dimensions::{Classification, Dimension::*, Reason};
use crate::domain::history::{History, InteractionKind};
use crate::domain::population::PopulationStats;
use crate::domain::predictive::{fit_predictive, PurchaseDays};
use crate::domain::rules::{RuleSet, VersionedRules};
use crate::domain::testkit::*;

/// The population statistics of `customers` with both models fitted over every buyer.
fn fitted(customers: &[(String, History)], rules: &VersionedRules) -> PopulationStats {
    let buyers: Vec<(String, PurchaseDays)> = customers
        .iter()
        .filter_map(|(id, history)| Some((id.clone(), features(history).purchase_days?)))
        .collect();
    let predictive = fit_predictive(&buyers, &rules.rules.predictive, &|run| {
        run();
        0
    });
    population(customers).with_predictive(predictive)
}

fn customer(builder: HistoryBuilder) -> (String, History) {
    (builder.id().to_owned(), builder.build())
}

/// Orders of `amount` at each of `days` (days before `AS_OF`).
fn orders(id: &str, days: &[i64], amount: i64) -> (String, History) {
    let builder = days
        .iter()
        .fold(HistoryBuilder::new(id), |b, &d| b.order(d, amount));
    customer(builder)
}

/// A population the models can be fitted on: steady buyers, buyers who stopped long ago,
/// one-time buyers, a big spender, and a lead who never bought.
fn population_of_buyers() -> Vec<(String, History)> {
    let mut customers = vec![
        orders("lapsed", &[700, 690, 680, 670, 660, 650], 3_000),
        orders("steady", &[350, 300, 250, 200, 150, 100, 50, 10], 3_000),
        orders(
            "whale",
            &(1..=52).map(|w| w * 7).collect::<Vec<_>>(),
            90_000,
        ),
        customer(HistoryBuilder::new("lead").interaction(3, InteractionKind::SiteVisit)),
    ];
    for i in 0..12 {
        customers.push(orders(&format!("once-{i:02}"), &[20 + 30 * i], 2_000));
        customers.push(orders(
            &format!("twice-{i:02}"),
            &[400 - 20 * i, 200 - 10 * i],
            2_500,
        ));
    }
    customers
}

fn classify_all(rules: &VersionedRules) -> Vec<Classification> {
    let customers = population_of_buyers();
    let stats = fitted(&customers, rules);
    customers
        .iter()
        .map(|(id, history)| classify_with(id, history, &stats, rules))
        .collect()
}

fn by_id<'a>(all: &'a [Classification], id: &str) -> &'a Classification {
    let found = all.iter().find(|c| c.customer_id == id);
    found.expect("classified")
}

fn observed<'a>(reason: &'a Reason, name: &str) -> Option<&'a str> {
    let fact = reason.observed_facts().iter().find(|f| f.name == name);
    fact.map(|f| f.value.as_str())
}

fn threshold<'a>(reason: &'a Reason, name: &str) -> Option<&'a str> {
    let fact = reason.threshold_facts().iter().find(|f| f.name == name);
    fact.map(|f| f.value.as_str())
}

#[test]
fn purchase_days_group_by_utc_day_net_of_refunds() {
    let history = HistoryBuilder::new("c")
        .order(30, 1_000)
        .order(30, 500) // the first day: not a repeat purchase
        .order(10, 2_000)
        .refund(9, "o3", 500) // net 1,500
        .order(5, 800)
        .refund(4, "o5", 800) // fully refunded: not a purchase
        .order(3, 0) // nothing bought
        .order(-2, 9_999) // after as_of
        .build();
    let days = features(&history).purchase_days.expect("a buyer");
    let as_of_day = AS_OF.micros().div_euclid(86_400_000_000);
    assert_eq!(
        days,
        PurchaseDays {
            first_day: as_of_day - 30,
            last_day: as_of_day - 10,
            as_of_day,
            repeat_days: 1,
            repeat_total: 1_500,
        }
    );
    let non_buyer = HistoryBuilder::new("n").order(4, 0).build();
    assert_eq!(features(&non_buyer).purchase_days, None);
}

#[test]
fn churn_risk_follows_probability_alive() {
    let rules = rules();
    let all = classify_all(&rules);
    let lapsed = by_id(&all, "lapsed");
    let steady = by_id(&all, "steady");
    assert_eq!(code(lapsed, ChurnRisk), "HIGH");
    assert_eq!(code(steady, ChurnRisk), "LOW");
    let p_lapsed = lapsed.prediction.expect("predicted").prediction;
    let p_steady = steady.prediction.expect("predicted").prediction;
    assert!(p_lapsed.probability_alive < 0.3, "{p_lapsed:?}");
    assert!(p_steady.probability_alive >= 0.7, "{p_steady:?}");
    assert!(p_steady.expected_purchases > p_lapsed.expected_purchases);

    // The reason cites P(alive), expected purchases, CLV and the threshold.
    let reason = &lapsed.assignment(ChurnRisk).reasons[0];
    assert_eq!(
        (reason.rule.as_ref(), reason.matched),
        ("churn_risk.high", true)
    );
    for name in ["probability_alive", "expected_purchases", "clv"] {
        assert!(observed(reason, name).is_some(), "{name} in {reason:?}");
    }
    assert_eq!(observed(reason, "repeat_purchases"), Some("5"));
    assert_eq!(observed(reason, "recency"), Some("50"));
    assert_eq!(observed(reason, "age"), Some("700"));
    assert_eq!(threshold(reason, "churn_high_below"), Some("0.3"));
    assert_eq!(threshold(reason, "horizon_days"), Some("365"));
    let low = &steady.assignment(ChurnRisk).reasons;
    assert_eq!(low.len(), 2);
    assert_eq!(
        (low[1].rule.as_ref(), low[1].matched),
        ("churn_risk.low", true)
    );
    assert_eq!(threshold(&low[1], "churn_low_at_least"), Some("0.7"));
}

#[test]
fn churn_risk_bands_include_their_lower_bound() {
    // A one-time buyer has P(alive) = 1 exactly (BG/NBD drops customers out only after a
    // repeat purchase). With both thresholds at 1, P(alive) = 1 is not below the HIGH bound and
    // is at the LOW bound: LOW. Everyone else (P(alive) < 1) is HIGH.
    let at_one = RuleSet::from_toml_over_builtin(
        "[predictive]\nchurn_high_below = 1.0\nchurn_low_at_least = 1.0\n",
    )
    .expect("valid");
    let all = classify_all(&at_one);
    let once = by_id(&all, "once-03");
    assert_eq!(
        once.prediction.map(|p| p.prediction.probability_alive),
        Some(1.0)
    );
    assert_eq!(code(once, ChurnRisk), "LOW");
    assert_eq!(code(by_id(&all, "steady"), ChurnRisk), "HIGH");

    // HIGH never, LOW only at 1: every repeat buyer is MEDIUM.
    let wide = RuleSet::from_toml_over_builtin(
        "[predictive]\nchurn_high_below = 0.0\nchurn_low_at_least = 1.0\n",
    )
    .expect("valid");
    let all = classify_all(&wide);
    for id in ["lapsed", "steady", "whale", "twice-05"] {
        assert_eq!(code(by_id(&all, id), ChurnRisk), "MEDIUM", "{id}");
    }
    assert_eq!(code(by_id(&all, "once-00"), ChurnRisk), "LOW");
}

#[test]
fn predicted_value_tier_is_the_80_20_rule_on_clv() {
    let rules = rules();
    let customers = population_of_buyers();
    let stats = fitted(&customers, &rules);
    let all: Vec<Classification> = customers
        .iter()
        .map(|(id, history)| classify_with(id, history, &stats, &rules))
        .collect();
    let whale = by_id(&all, "whale");
    assert_eq!(code(whale, PredictedValueTier), "HIGH");
    let reason = &whale.assignment(PredictedValueTier).reasons[0];
    assert_eq!(reason.rule, "predicted_value_tier.high_head");
    assert_eq!(threshold(reason, "high_clv_share"), Some("0.8"));
    assert!(observed(reason, "clv").is_some() && observed(reason, "probability_alive").is_some());

    // The classification places every buyer exactly where the snapshot ranked it.
    let bounds = &stats.predictive.value_tier;
    let count = |tier: &str| {
        all.iter()
            .filter(|c| code(c, PredictedValueTier) == tier)
            .count() as u64
    };
    assert_eq!(count("HIGH"), bounds.high_count);
    assert_eq!(count("LOW"), bounds.low_count);
    let buyers = all.iter().filter(|c| c.prediction.is_some()).count() as u64;
    assert_eq!(buyers, stats.predictive.buyers);
    assert_eq!(count("HIGH") + count("MEDIUM") + count("LOW"), buyers);
    // floor(20 % of 27 buyers) = 5 at the bottom.
    assert_eq!((buyers, bounds.low_count), (27, 5));
    // The HIGH head holds at least 80 % of the total CLV, one customer fewer does not.
    let mut clvs: Vec<i64> = all
        .iter()
        .filter_map(|c| c.prediction.and_then(|p| p.clv_minor))
        .collect();
    clvs.sort_unstable_by(|a, b| b.cmp(a));
    let total: i64 = clvs.iter().sum();
    let head = bounds.high_count as usize;
    assert!(clvs[..head].iter().sum::<i64>() * 10 >= total * 8);
    assert!(clvs[..head - 1].iter().sum::<i64>() * 10 < total * 8);
}

#[test]
fn without_purchases_or_without_a_fit_the_dimensions_say_why() {
    let rules = rules();
    let all = classify_all(&rules);
    let lead = by_id(&all, "lead");
    for dimension in [ChurnRisk, PredictedValueTier] {
        assert_eq!(code(lead, dimension), "NONE");
        assert_eq!(lead.assignment(dimension).reasons[0].rule, "no_purchases");
    }
    assert_eq!(lead.prediction, None);

    // Nobody bought on a second day: BG/NBD is not identified, so nobody has a prediction.
    let first_timers: Vec<(String, History)> = (0..6)
        .map(|i| orders(&format!("f{i}"), &[10 + 40 * i], 1_000))
        .collect();
    let stats = fitted(&first_timers, &rules);
    let c = classify_with("f2", &first_timers[2].1, &stats, &rules);
    assert_eq!(c.prediction, None);
    for (dimension, rule) in [
        (ChurnRisk, "churn_risk.not_fitted"),
        (PredictedValueTier, "predicted_value_tier.not_fitted"),
    ] {
        assert_eq!(code(&c, dimension), "UNKNOWN");
        let reason = &c.assignment(dimension).reasons[0];
        assert_eq!(reason.rule, rule);
        assert_eq!(observed(reason, "fit_outcome"), Some("NO_REPEAT_BUYERS"));
        assert_eq!(observed(reason, "buyers"), Some("6"));
        assert_eq!(observed(reason, "repeat_buyers"), Some("0"));
    }

    // A population built without the models (an old stored snapshot) reads as not fitted.
    let plain = population(&first_timers);
    let c = classify_with("f2", &first_timers[2].1, &plain, &rules);
    let reason = &c.assignment(ChurnRisk).reasons[0];
    assert_eq!(observed(reason, "fit_outcome"), Some("NOT_FITTED"));
}

#[test]
fn codes_only_classification_gives_the_same_codes_and_scores() {
    let rules = rules();
    let customers = population_of_buyers();
    let stats = fitted(&customers, &rules);
    for (id, history) in &customers {
        let full = classify_with(id, history, &stats, &rules);
        let compact: crate::domain::compact::CompactHistory = history.into();
        let input = || crate::domain::dimensions::ClassifyInput {
            customer_id: id,
            history: &compact,
            as_of: AS_OF,
            rules: &rules,
            population: &stats,
            explain: false,
        };
        let lean = crate::domain::dimensions::classify(input());
        let codes = crate::domain::dimensions::classify_codes_only(input());
        for dimension in [ChurnRisk, PredictedValueTier] {
            assert_eq!(code(&full, dimension), code(&lean, dimension), "{id}");
            assert_eq!(code(&full, dimension), codes.codes.code(dimension), "{id}");
            assert!(lean.assignment(dimension).reasons.is_empty());
        }
        assert_eq!(full.prediction, lean.prediction);
        assert_eq!(full.prediction, codes.prediction);
        assert_eq!(full.rfm_scores, codes.rfm_scores);
    }
}

/// The demo population (persona-driven histories) fills every predictive segment but UNKNOWN,
/// which needs a population the models cannot be fitted on.
#[test]
fn the_demo_population_fills_every_predictive_segment() {
    use crate::demo::{generate, DemoConfig};
    let config = DemoConfig {
        customers: 1_000,
        ..DemoConfig::default()
    };
    let rules = rules();
    let customers: Vec<(String, History)> = generate(&config)
        .customers
        .iter()
        .map(|c| (c.id.clone(), c.history()))
        .collect();
    // The demo's own instant, not `AS_OF`: the builders' features are at `AS_OF`, a day later.
    let as_of = config.as_of;
    let windows = &rules.rules.windows;
    let features =
        |h: &History| crate::domain::features::compute_features(&h.into(), as_of, windows);
    let samples = customers.iter().filter_map(|(id, h)| {
        crate::domain::population::BuyerSample::from_features(&id.as_str().into(), &features(h))
    });
    let buyers: Vec<(String, PurchaseDays)> = customers
        .iter()
        .filter_map(|(id, h)| Some((id.clone(), features(h).purchase_days?)))
        .collect();
    let stats = crate::domain::population::build_population(
        samples,
        as_of,
        customers.len() as u64,
        &rules.rules.value_tier,
    )
    .with_predictive(fit_predictive(&buyers, &rules.rules.predictive, &|run| {
        run();
        0
    }));
    let mut seen = std::collections::BTreeSet::new();
    for (id, history) in &customers {
        let c = crate::domain::dimensions::classify(crate::domain::dimensions::ClassifyInput {
            customer_id: id,
            history: &history.into(),
            as_of,
            rules: &rules,
            population: &stats,
            explain: false,
        });
        for dimension in [ChurnRisk, PredictedValueTier] {
            seen.insert((dimension, code(&c, dimension)));
        }
    }
    for dimension in [ChurnRisk, PredictedValueTier] {
        for segment in ["HIGH", "MEDIUM", "LOW", "NONE"] {
            assert!(
                seen.contains(&(dimension, segment.to_owned())),
                "{dimension} {segment}: {seen:?}"
            );
        }
    }
}
