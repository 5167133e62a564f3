use crate::domain::dimensions::Dimension::*;
use crate::domain::history::{CustomerProfile, History};
use crate::domain::population::PopulationStats;
use crate::domain::testkit::*;

/// Classifies every customer of a population against it.
fn classify_all(
    customers: &[(String, History)],
) -> (
    PopulationStats,
    Vec<crate::domain::dimensions::Classification>,
) {
    let pop = population(customers);
    let all = customers
        .iter()
        .map(|(id, h)| classify_in(id, h, &pop))
        .collect();
    (pop, all)
}

fn customer(builder: HistoryBuilder) -> (String, History) {
    (builder.id().to_owned(), builder.build())
}

#[test]
fn rfm_segments_against_the_population_means() {
    // Means: recency (1 + 10 + 100) / 3 = 37, frequency (3 + 1 + 1) / 3 = 1.67,
    // monetary (9000 + 5000 + 100) / 3 = 4700.
    let customers = vec![
        customer(
            HistoryBuilder::new("a")
                .order(50, 3000)
                .order(20, 3000)
                .order(1, 3000),
        ),
        customer(HistoryBuilder::new("b").order(10, 5000)),
        customer(HistoryBuilder::new("c").order(100, 100)),
    ];
    let (_, all) = classify_all(&customers);
    let codes: Vec<_> = all.iter().map(|c| code(c, Rfm)).collect();
    assert_eq!(
        codes,
        vec!["IMPORTANT_VALUE", "IMPORTANT_DEVELOP", "GENERAL_RETAIN"]
    );
    let scores: Vec<_> = all.iter().map(|c| c.rfm_scores.map(|s| s.code())).collect();
    // recency 1, 10, 100 -> pct 1/6, 3/6, 5/6 -> R 5, 3, 1.
    assert_eq!(
        scores,
        vec![
            Some("5-5-5".to_owned()),
            Some("3-2-3".to_owned()),
            Some("1-2-1".to_owned())
        ]
    );
}

#[test]
fn a_value_equal_to_the_mean_is_low() {
    // Two buyers with identical RFM: every value equals the mean, so everything is low.
    let customers = vec![
        customer(HistoryBuilder::new("a").order(10, 500)),
        customer(HistoryBuilder::new("b").order(10, 500)),
    ];
    let (_, all) = classify_all(&customers);
    assert!(all.iter().all(|c| code(c, Rfm) == "GENERAL_RETAIN"));
}

#[test]
fn buyers_outside_the_lookback_land_low_and_non_buyers_are_none() {
    let customers = vec![
        customer(HistoryBuilder::new("a").order(10, 500).order(5, 500)),
        customer(HistoryBuilder::new("old").order(400, 90_000)),
        customer(HistoryBuilder::new("prospect")),
    ];
    let (pop, all) = classify_all(&customers);
    assert_eq!(pop.active_buyers(), 1);
    let old = &all[1];
    assert_eq!(old.rfm_scores.map(|s| s.code()), Some("1-1-1".to_owned()));
    assert_eq!(code(old, Rfm), "GENERAL_RETAIN");
    assert_eq!(code(old, ValueTier), "LOW");
    assert_eq!(code(old, Demand), "LOW");
    let prospect = &all[2];
    for dim in [Rfm, ValueTier, Demand, ActivityPeriod, AccountQuadrant] {
        assert_eq!(code(prospect, dim), "NONE", "{dim}");
    }
    assert_eq!(prospect.rfm_scores, None);
}

#[test]
fn without_active_buyers_every_score_is_one() {
    let (_, all) = classify_all(&[customer(HistoryBuilder::new("old").order(400, 100))]);
    assert_eq!(
        all[0].rfm_scores.map(|s| s.code()),
        Some("1-1-1".to_owned())
    );
    assert_eq!(code(&all[0], Rfm), "GENERAL_RETAIN");
}

#[test]
fn value_tier_follows_the_80_20_order() {
    // Profits 700, 200, 60, 40, 0 (no costs): HIGH = first two (900 >= 800), LOW = 1 customer.
    let customers: Vec<_> = [("a", 700), ("b", 200), ("c", 60), ("d", 40), ("e", 1)]
        .iter()
        .map(|(id, amount)| customer(HistoryBuilder::new(id).order(10, *amount)))
        .collect();
    let (_, all) = classify_all(&customers);
    let codes: Vec<_> = all.iter().map(|c| code(c, ValueTier)).collect();
    assert_eq!(codes, vec!["HIGH", "HIGH", "MEDIUM", "MEDIUM", "LOW"]);
}

#[test]
fn value_tier_uses_profit_after_costs_and_refunds() {
    let customers = vec![
        // Revenue 1000, cost 900: profit 100.
        customer(HistoryBuilder::new("a").order_with(10, 1000, |o| o.cost = Some(900))),
        // Revenue 500 - 100 refunded, cost 0: profit 400 (the full cost would still count).
        customer(HistoryBuilder::new("b").order(10, 500).refund(9, "o1", 100)),
    ];
    let (_, all) = classify_all(&customers);
    assert_eq!(all[0].features.profit, 100);
    assert_eq!(all[1].features.profit, 400);
    // 400 alone reaches 80% of 500; with two buyers the LOW tail is floor(0.4) = 0.
    assert_eq!(code(&all[1], ValueTier), "HIGH");
    assert_eq!(code(&all[0], ValueTier), "MEDIUM");
}

#[test]
fn a_repeated_order_id_counts_once_the_first_time() {
    // The store refuses a repeat; a history built elsewhere may hold one, with or without a
    // refund of it, and features must not depend on which.
    let repeat = |id: &str| {
        HistoryBuilder::new(id)
            .order_with(40, 300, |o| o.order_id = "same".into())
            .order(20, 200)
            .order_with(10, 900, |o| o.order_id = "same".into())
    };
    let plain = features(&repeat("a").build());
    assert_eq!((plain.frequency, plain.monetary), (2, 500));
    assert_eq!(plain.last_purchase_at, Some(days_ago(20)));

    let refunded = features(&repeat("b").refund(5, "same", 100).build());
    assert_eq!((refunded.frequency, refunded.monetary), (2, 400));

    let distinct = features(
        &HistoryBuilder::new("c")
            .order(40, 300)
            .order(20, 200)
            .build(),
    );
    assert_eq!((distinct.frequency, distinct.monetary), (2, 500));
    assert_eq!(distinct.first_purchase_at, Some(days_ago(40)));
}

#[test]
fn demand_by_units_score_and_breadth() {
    let many_units = |id: &str, units: u32, cats: &[&str]| {
        let cats: Vec<String> = cats.iter().map(|c| c.to_string()).collect();
        customer(HistoryBuilder::new(id).order_with(10, 100, |o| {
            o.units = units;
            o.categories = cats;
        }))
    };
    let customers = vec![
        many_units("a", 1, &["x"]),
        many_units("b", 2, &["x", "y"]),
        many_units("c", 3, &[]),
        many_units("d", 4, &["a", "b", "c", "d"]),
        many_units("e", 50, &[]),
    ];
    let (_, all) = classify_all(&customers);
    let codes: Vec<_> = all.iter().map(|c| code(c, Demand)).collect();
    // Scores 1, 2, 3, 4, 5: a is LOW, b has 2 categories (MEDIUM), c score 3 MEDIUM,
    // d has 4 categories (HIGH), e score 5 (HIGH).
    assert_eq!(codes, vec!["LOW", "MEDIUM", "MEDIUM", "HIGH", "HIGH"]);
}

#[test]
fn account_quadrant_by_tenure_and_m_score() {
    let customers: Vec<_> = [
        ("old_big", 365, 16000),
        ("new_big", 364, 8000),
        ("old_small", 365, 10),
        ("new_small", 10, 20),
        ("mid", 10, 30),
    ]
    .iter()
    .map(|(id, first, amount)| {
        customer(
            HistoryBuilder::new(id)
                .order(*first, *amount)
                .order(5, *amount),
        )
    })
    .collect();
    // An order exactly 365 days ago is outside L, so old_big's monetary equals new_big's 16000:
    // equal values share the top score.
    let (_, all) = classify_all(&customers);
    let codes: Vec<_> = all.iter().map(|c| code(c, AccountQuadrant)).collect();
    assert_eq!(
        codes,
        vec!["OLD_BIG", "NEW_BIG", "OLD_SMALL", "NEW_SMALL", "NEW_SMALL"]
    );
}

#[test]
fn pins_win_and_flow_into_dependent_dimensions() {
    let b = HistoryBuilder::new("p")
        .profile(|p: &mut CustomerProfile| {
            p.pins.insert(
                crate::domain::dimensions::Dimension::ValueTier,
                "LOW".into(),
            );
        })
        .order(400, 10)
        .order(300, 10)
        .order(200, 10)
        .order(100, 10)
        .order(20, 10);
    let c = classify_alone(b);
    let tier = c.assignment(ValueTier);
    assert!(tier.pinned);
    assert_eq!(tier.code, "LOW");
    assert_eq!(tier.reasons[0].rule, "manual_pin");
    assert_eq!(tier.reasons[0].observed_facts()[1].value, "HIGH");
    // Customer type reads the pinned tier: a LOYAL full-price buyer outside the top is UNSPECIFIED
    // (unpinned, as the lone profitable buyer, it would be HIGH and so VALUE).
    assert_eq!(code(&c, Lifecycle), "LOYAL");
    assert_eq!(code(&c, CustomerType), "UNSPECIFIED");
}
