use super::*;
use crate::domain::dimensions::Dimension;
use crate::domain::features::{DatedScore, TicketCounts};
use crate::domain::history::Plan;
use crate::domain::predictive::{CustomerPrediction, CustomerSummary, Prediction, TimeUnit};
use crate::domain::rules::Share;
use crate::domain::time::Timestamp;

/// The built-in rule set's display names; parsed without validation so the test does not
/// depend on the rest of the rule set being complete.
fn rules() -> RuleSet {
    toml::from_str(RuleSet::builtin_toml()).unwrap()
}

fn fraction(numerator: i128, denominator: i128) -> Fraction {
    Fraction::new(numerator, denominator).unwrap()
}

fn features() -> Features {
    Features {
        as_of: Some(Timestamp::from_seconds(1_000_000)),
        first_purchase_at: Some(Timestamp::from_seconds(10)),
        last_purchase_at: Some(Timestamp::from_micros(20_000_001)),
        purchases_ever: 7,
        recency_days: Some(11),
        tenure_days: Some(400),
        frequency: 5,
        monetary: 123_400,
        profit: -5,
        units: 9,
        distinct_categories: 3,
        discounted_purchases: 3,
        discount_share: Some(fraction(3, 5)),
        median_consideration_seconds: Some(fraction(901, 2)),
        consideration_count: 4,
        research_interactions: 6,
        research_per_purchase: fraction(6, 5),
        interactions_90d: 12,
        outbound_contacts_30d: 2,
        outbound_contacts_90d: 4,
        tickets_30d: TicketCounts {
            question: 1,
            complaint: 1,
            claim: 0,
            escalation: 2,
            unresolved_complaints: 1,
        },
        tickets_90d: TicketCounts {
            question: 3,
            complaint: 1,
            claim: 2,
            escalation: 2,
            unresolved_complaints: 0,
        },
        csat_avg_365d: Some(fraction(13, 3)),
        csat_count_365d: 3,
        last_csat: Some(DatedScore {
            score: 4,
            at: Timestamp::from_seconds(5),
        }),
        last_nps: Some(DatedScore {
            score: 9,
            at: Timestamp::from_seconds(6),
        }),
        referrals_365d: 1,
        review_avg_365d: Some(fraction(9, 2)),
        refund_rate: Some(fraction(1, 8)),
        spend_trend: -300,
        current_plan: Some(Plan::Paid),
        ..Features::default()
    }
}

fn classification() -> Classification {
    let assignments = Dimension::ALL
        .iter()
        .map(|&dimension| Assignment {
            dimension,
            code: dimension.segment_codes()[0].into(),
            pinned: dimension == Dimension::Demand,
            reasons: vec![Reason::new("x.rule", true)
                .observed("recency_days", 31)
                .threshold("max", "0.6")],
            secondary_traits: if dimension == Dimension::SalesPersona {
                vec!["IMPULSE".into()]
            } else {
                vec![]
            },
        })
        .collect();
    Classification {
        customer_id: "c-1".into(),
        known: true,
        as_of: Timestamp::from_seconds(1_000_000),
        rule_set_version: "rules-0123456789abcdef".into(),
        snapshot: SnapshotInfo {
            id: "snap-1".into(),
            as_of: Timestamp::from_seconds(999_000),
            active_buyers: 40,
            customers: 100,
        },
        assignments,
        rfm_scores: Some(RfmScores {
            recency: 5,
            frequency: 3,
            monetary: 4,
        }),
        prediction: Some(prediction()),
        features: features(),
    }
}

fn prediction() -> CustomerPrediction {
    CustomerPrediction {
        summary: CustomerSummary {
            frequency: 3,
            recency: 6.0,
            age: 10.5,
            mean_repeat_spend: Some(2_500.0),
        },
        prediction: Prediction {
            probability_alive: 0.8,
            expected_purchases: 2.5,
            expected_average_order_value: Some(2_400.0),
            clv: Some(5_500.4),
        },
        clv_minor: Some(5_500),
        time_unit: TimeUnit::Weeks,
        horizon_days: 180,
        annual_discount_rate: Share::from_ppm(100_000),
    }
}

#[test]
fn classification_maps_every_part() {
    let rules = rules();
    let proto = classification_to_proto(classification(), &rules, Locale::En);
    assert_eq!(proto.customer_id, "c-1");
    assert!(proto.known);
    assert_eq!(
        proto.as_of,
        Some(prost_types::Timestamp {
            seconds: 1_000_000,
            nanos: 0
        })
    );
    assert_eq!(proto.rule_set_version, "rules-0123456789abcdef");
    assert_eq!(
        proto.snapshot,
        Some(pb::SnapshotInfo {
            id: "snap-1".into(),
            as_of: Some(prost_types::Timestamp {
                seconds: 999_000,
                nanos: 0
            }),
            active_buyers: 40,
            customers: 100,
        })
    );
    assert_eq!(
        proto.rfm_scores,
        Some(pb::RfmScores {
            recency: 5,
            frequency: 3,
            monetary: 4
        })
    );

    // One assignment per dimension, in proto enum order 1..=15.
    let dimensions: Vec<i32> = proto.assignments.iter().map(|a| a.dimension).collect();
    assert_eq!(dimensions, (1..=15).collect::<Vec<_>>());
    let rfm = &proto.assignments[0];
    assert_eq!(
        (rfm.code.as_str(), rfm.display_name.as_str()),
        ("IMPORTANT_VALUE", "Important value")
    );
    assert!(proto.assignments[pb::Dimension::Demand as usize - 1].pinned);
    assert_eq!(
        proto.assignments[pb::Dimension::SalesPersona as usize - 1].secondary_traits,
        ["IMPULSE"]
    );
    assert_eq!(
        rfm.reasons,
        [pb::Reason {
            rule: "x.rule".into(),
            matched: true,
            observed: vec![pb::Fact {
                name: "recency_days".into(),
                value: "31".into()
            }],
            thresholds: vec![pb::Fact {
                name: "max".into(),
                value: "0.6".into()
            }],
        }]
    );
}

#[test]
fn display_names_follow_the_locale_and_fall_back_to_the_code() {
    let rules = rules();
    let mut c = classification();
    let zh = classification_to_proto(c.clone(), &rules, Locale::ZhCn);
    assert_eq!(zh.assignments[0].display_name, "重要价值客户");

    c.assignments[0].code = "NOT_CONFIGURED".into();
    let en = classification_to_proto(c.clone(), &rules, Locale::En);
    assert_eq!(en.assignments[0].display_name, "NOT_CONFIGURED");
}

#[test]
fn features_map_fractions_counts_and_plan() {
    let f = features_to_proto(&features());
    assert_eq!(f.purchases_ever, 7);
    assert_eq!(
        f.first_purchase_at,
        Some(prost_types::Timestamp {
            seconds: 10,
            nanos: 0
        })
    );
    assert_eq!(
        f.last_purchase_at,
        Some(prost_types::Timestamp {
            seconds: 20,
            nanos: 1_000
        })
    );
    assert_eq!((f.recency_days, f.tenure_days), (Some(11), Some(400)));
    assert_eq!(
        (
            f.frequency,
            f.monetary,
            f.profit,
            f.units,
            f.distinct_categories
        ),
        (5, 123_400, -5, 9, 3)
    );
    assert_eq!(f.discount_share, Some(0.6));
    assert_eq!(f.median_consideration_seconds, Some(450.5));
    assert_eq!(f.consideration_count, 4);
    assert_eq!(f.research_per_purchase, 1.2);
    assert_eq!(
        (
            f.interactions_90d,
            f.outbound_contacts_30d,
            f.outbound_contacts_90d
        ),
        (12, 2, 4)
    );
    assert_eq!(f.csat_avg_365d, Some(13.0 / 3.0));
    assert_eq!((f.last_nps, f.last_csat), (Some(9), Some(4)));
    assert_eq!(f.referrals_365d, 1);
    assert_eq!(f.review_avg_365d, Some(4.5));
    assert_eq!(f.refund_rate, Some(0.125));
    assert_eq!(f.spend_trend, -300);
    assert_eq!(f.current_plan, "PAID");
    // COMPLAINT + CLAIM of 90 days; every kind of 30 days.
    assert_eq!(f.complaint_tickets_90d, 3);
    assert_eq!(f.tickets_30d, 4);
}

#[test]
fn empty_features_stay_absent() {
    let f = features_to_proto(&Features::default());
    assert_eq!(f.first_purchase_at, None);
    assert_eq!(
        (
            f.recency_days,
            f.discount_share,
            f.refund_rate,
            f.csat_avg_365d
        ),
        (None, None, None, None)
    );
    assert_eq!((f.last_nps, f.last_csat), (None, None));
    assert_eq!(f.research_per_purchase, 0.0);
    assert_eq!(f.current_plan, "");
}

#[test]
fn customers_without_purchases_have_no_rfm_scores() {
    let mut c = classification();
    c.rfm_scores = None;
    let proto = classification_to_proto(c.clone(), &rules(), Locale::En);
    assert_eq!(proto.rfm_scores, None);
}

#[test]
fn predictive_scores_are_carried_in_both_views() {
    let expected = pb::PredictiveScores {
        probability_alive: 0.8,
        expected_purchases: 2.5,
        expected_average_order_value: Some(2_400.0),
        clv: Some(5_500.4),
        horizon_days: 180,
        annual_discount_rate: 0.1,
        frequency: 3,
        recency: 6.0,
        age: 10.5,
        mean_repeat_spend: Some(2_500.0),
        time_unit: pb::TimeUnit::Weeks as i32,
    };
    let full = classification_to_proto(classification(), &rules(), Locale::En);
    assert_eq!(full.predictive, Some(expected));
    let codes = classification_codes_to_proto(classification());
    assert_eq!(codes.predictive, Some(expected));

    let mut c = classification();
    c.prediction = None;
    let proto = classification_to_proto(c.clone(), &rules(), Locale::En);
    assert_eq!(proto.predictive, None);
}
