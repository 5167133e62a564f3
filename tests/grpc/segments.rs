//! SegmentationService: snapshots, segment members and segment counts over a crafted population.

use std::collections::{BTreeMap, BTreeSet};

use segmenter::api::pb;

use crate::support::*;

/// Every segment code of every dimension.
pub fn segment_codes(dimension: pb::Dimension) -> &'static [&'static str] {
    use pb::Dimension::*;
    match dimension {
        Rfm => &[
            "IMPORTANT_VALUE",
            "IMPORTANT_DEVELOP",
            "IMPORTANT_KEEP",
            "IMPORTANT_RETAIN",
            "GENERAL_VALUE",
            "GENERAL_DEVELOP",
            "GENERAL_KEEP",
            "GENERAL_RETAIN",
            "NONE",
        ],
        ValueTier | Demand => &["HIGH", "MEDIUM", "LOW", "NONE"],
        Engagement => &["FREQUENT", "OCCASIONAL", "RARE"],
        Lifecycle => &["POTENTIAL", "NEW", "MATURE", "LOYAL", "CHURNED"],
        ActivityPeriod => &["ACTIVE", "SILENT", "FORGOTTEN", "LOST", "NONE"],
        Satisfaction => &["HIGH", "MEDIUM", "LOW", "UNKNOWN"],
        Advocacy => &["PROMOTER", "PASSIVE", "DETRACTOR", "UNKNOWN"],
        AccountQuadrant => &["OLD_BIG", "NEW_BIG", "NEW_SMALL", "OLD_SMALL", "NONE"],
        SalesPersona => &[
            "FREE",
            "NEW",
            "BARGAIN_HUNTER",
            "IMPULSE",
            "INFORMED",
            "REGULAR",
        ],
        ServicePersona => &[
            "ANGRY",
            "DEMANDING",
            "CURIOUS",
            "BRAND_ADVOCATE",
            "LOYAL",
            "UNPREDICTABLE",
        ],
        CustomerType => &[
            "PROBLEM",
            "VALUE",
            "POTENTIAL",
            "CONVENIENCE",
            "UNSPECIFIED",
        ],
        DecisionStyle => &["RATIONAL", "EMOTIONAL", "UNKNOWN"],
        ChurnRisk | PredictedValueTier => &["HIGH", "MEDIUM", "LOW", "UNKNOWN", "NONE"],
        Unspecified => &[],
    }
}

/// Checks the shape of a stats answer: every dimension once, in order, every segment listed, and the counts of each dimension adding up to the customers counted.
pub fn assert_stats_add_up(stats: &pb::GetSegmentStatsResponse) {
    let dimensions: Vec<i32> = stats.dimensions.iter().map(|d| d.dimension).collect();
    assert_eq!(dimensions, (1..=15).collect::<Vec<i32>>());
    for d in &stats.dimensions {
        let dimension = pb::Dimension::try_from(d.dimension).expect("dimension");
        // Every segment once, empty ones included (the order is not specified).
        let mut listed: Vec<&str> = d.segments.iter().map(|s| s.code.as_str()).collect();
        listed.sort_unstable();
        let mut want = segment_codes(dimension).to_vec();
        want.sort_unstable();
        assert_eq!(listed, want, "{dimension:?}");
        let total: u64 = d.segments.iter().map(|s| s.customers).sum();
        assert_eq!(total, stats.customers, "{dimension:?} adds up");
        assert!(d.segments.iter().all(|s| !s.display_name.is_empty()));
    }
}

/// Thirteen customers: eight active buyers, one former buyer, a fully refunded order, a free
/// order, a lead with an interaction only, and a profile without events.
async fn record_population(t: &TestServer) {
    t.upsert(pb::Customer {
        plan: pb::Plan::Free as i32,
        ..customer("s-profile")
    })
    .await
    .expect("upsert");
    let mut events = vec![
        order("s1-1", "s-01", ago(400), "o-0", 20_000),
        order("s1-2", "s-01", ago(300), "o-1", 20_000),
        order("s1-3", "s-01", ago(200), "o-2", 20_000),
        order("s1-4", "s-01", ago(100), "o-3", 20_000),
        order("s1-5", "s-01", ago(5), "o-4", 20_000),
        survey("s1-6", "s-01", ago(4), pb::SurveyKind::Nps, 10),
        survey("s1-7", "s-01", ago(4), pb::SurveyKind::Csat, 5),
        order("s2-1", "s-02", ago(3), "o-1", 1_000),
        order("s3-1", "s-03", ago(150), "o-1", 8_000),
        ticket(
            "s3-2",
            "s-03",
            ago(20),
            "t-1",
            pb::TicketKind::Claim,
            Some(-0.7),
            false,
        ),
        order("s4-1", "s-04", ago(60), "o-1", 4_000),
        order("s4-2", "s-04", ago(50), "o-2", 4_000),
        survey("s4-3", "s-04", ago(10), pb::SurveyKind::Csat, 3),
        order("s5-1", "s-05", ago(250), "o-1", 2_500),
        order("s6-1", "s-06", ago(25), "o-1", 60_000),
        referral("s6-2", "s-06", ago(24), "s-02"),
        order("s7-1", "s-07", ago(80), "o-1", 500),
        refund("s7-2", "s-07", ago(79), "o-1", 200),
        order("s8-1", "s-08", ago(10), "o-1", 7_000),
        order("s8-2", "s-08", ago(9), "o-2", 7_000),
        order("s8-3", "s-08", ago(8), "o-3", 7_000),
        order("old-1", "s-old", ago(400), "o-1", 9_000),
        order("rf-1", "s-refunded", ago(30), "o-1", 5_000),
        refund("rf-2", "s-refunded", ago(29), "o-1", 5_000),
        order("z-1", "s-zero", ago(30), "o-1", 0),
        interaction("l-1", "s-lead", ago(2), pb::InteractionKind::ProductView),
    ];
    events.extend((0..7).map(|i| {
        interaction(
            &format!("s8-i{i}"),
            "s-08",
            ago(i + 1),
            pb::InteractionKind::Chat,
        )
    }));
    t.record_ok(events).await;
}

const ALL_IDS: [&str; 13] = [
    "s-01",
    "s-02",
    "s-03",
    "s-04",
    "s-05",
    "s-06",
    "s-07",
    "s-08",
    "s-lead",
    "s-old",
    "s-profile",
    "s-refunded",
    "s-zero",
];

#[tokio::test]
async fn refresh_snapshot_counts_the_active_buyers() {
    let t = TestServer::start().await;
    let empty = t.refresh().await;
    assert_eq!((empty.customers, empty.active_buyers), (0, 0));
    record_population(&t).await;
    let snapshot = t.refresh().await;
    assert_eq!(snapshot.as_of, Some(now()));
    assert_eq!(snapshot.customers, 13);
    assert_eq!(snapshot.active_buyers, 8, "s-01..s-08");
    assert_ne!(snapshot.id, empty.id);
    // The same data at the same instant is the same snapshot.
    assert_eq!(t.refresh().await, snapshot);
    // The classifications and the stats use it.
    let c = t.classify(by_id("s-02")).await;
    assert_eq!(c.snapshot, Some(snapshot.clone()));
    let stats = t.stats(at_now()).await;
    assert_eq!(stats.snapshot, Some(snapshot.clone()));
    assert_eq!(stats.rule_set_version, c.rule_set_version);

    // The features agree with the snapshot: exactly eight customers have a purchase within L.
    let mut active = 0;
    for id in ALL_IDS {
        let f = t.classify(by_id(id)).await.features.expect("features");
        if f.frequency > 0 {
            active += 1;
        }
    }
    assert_eq!(active, snapshot.active_buyers);
    t.shutdown().await;
}

#[tokio::test]
async fn segment_members_and_stats_agree_with_classify() {
    let t = TestServer::start().await;
    record_population(&t).await;
    t.refresh().await;

    // What Classify says of each customer, per dimension.
    let mut expected: BTreeMap<(i32, String), BTreeSet<String>> = BTreeMap::new();
    for id in ALL_IDS {
        let c = t.classify(by_id(id)).await;
        assert!(c.known, "{id}");
        for a in &c.assignments {
            expected
                .entry((a.dimension, a.code.clone()))
                .or_default()
                .insert(id.to_owned());
        }
    }
    let stats = t.stats(at_now()).await;
    assert_eq!(stats.customers, 13);
    assert_stats_add_up(&stats);

    for d in &stats.dimensions {
        let dimension = pb::Dimension::try_from(d.dimension).expect("dimension");
        for segment in &d.segments {
            let members = t.members(dimension, &segment.code, at_now()).await;
            let ids: Vec<String> = members.iter().map(|m| m.customer_id.clone()).collect();
            let mut sorted = ids.clone();
            sorted.sort();
            assert_eq!(ids, sorted, "members stream in id order");
            let want: Vec<String> = expected
                .get(&(d.dimension, segment.code.clone()))
                .map(|s| s.iter().cloned().collect())
                .unwrap_or_default();
            assert_eq!(ids, want, "{dimension:?}/{}", segment.code);
            assert_eq!(
                segment.customers,
                ids.len() as u64,
                "{dimension:?}/{}",
                segment.code
            );
            for m in &members {
                let a = m.assignment.as_ref().expect("assignment");
                assert_eq!(
                    (a.dimension, a.code.as_str()),
                    (d.dimension, segment.code.as_str())
                );
                assert!(!a.reasons.is_empty());
            }
        }
    }

    // Some segments worked out by hand from the spec.
    let lifecycle = |code: &str| expected.get(&(pb::Dimension::Lifecycle as i32, code.to_owned()));
    assert_eq!(
        lifecycle("POTENTIAL").cloned().unwrap_or_default(),
        set(&["s-lead", "s-profile", "s-refunded", "s-zero"])
    );
    assert_eq!(
        lifecycle("CHURNED").cloned().unwrap_or_default(),
        set(&["s-05", "s-old"])
    );
    assert_eq!(
        lifecycle("LOYAL").cloned().unwrap_or_default(),
        set(&["s-01"])
    );
    let members = t
        .members(pb::Dimension::SalesPersona, "FREE", at_now())
        .await;
    let free: Vec<&str> = members.iter().map(|m| m.customer_id.as_str()).collect();
    assert_eq!(free, vec!["s-profile"]);
    let members = t
        .members(pb::Dimension::Engagement, "FREQUENT", at_now())
        .await;
    let frequent: Vec<&str> = members.iter().map(|m| m.customer_id.as_str()).collect();
    assert_eq!(frequent, vec!["s-08"]);

    // Display names follow the locale in the stats as well.
    let zh = t
        .stats(pb::ClassifyOptions {
            locale: "zh-CN".to_owned(),
            ..at_now()
        })
        .await;
    let potential = |stats: &pb::GetSegmentStatsResponse| {
        let lifecycle = &stats.dimensions[4];
        assert_eq!(lifecycle.dimension, pb::Dimension::Lifecycle as i32);
        let segment = lifecycle.segments.iter().find(|s| s.code == "POTENTIAL");
        let segment = segment.expect("POTENTIAL").clone();
        (segment.display_name, segment.customers)
    };
    assert_eq!(potential(&stats), ("Potential".to_owned(), 4));
    assert_eq!(potential(&zh), ("潜在客户".to_owned(), 4));
    t.shutdown().await;
}

#[tokio::test]
async fn bad_segment_requests_are_invalid_arguments() {
    let t = TestServer::start().await;
    for (dimension, code, field) in [
        (0, "HIGH", "dimension"),
        (99, "HIGH", "dimension"),
        (pb::Dimension::Rfm as i32, "HIGH", "segment_code"),
        (pb::Dimension::Lifecycle as i32, "potential", "segment_code"),
    ] {
        let status = t
            .seg
            .clone()
            .list_segment_members(pb::ListSegmentMembersRequest {
                dimension,
                segment_code: code.to_owned(),
                options: None,
            })
            .await
            .expect_err("bad segment");
        assert_eq!(violated_fields(&status), vec![field], "{dimension} {code}");
    }
    let status = t
        .seg
        .clone()
        .get_segment_stats(pb::GetSegmentStatsRequest {
            options: Some(pb::ClassifyOptions {
                locale: "xx".to_owned(),
                ..at_now()
            }),
        })
        .await
        .expect_err("bad locale");
    assert_eq!(violated_fields(&status), vec!["options.locale"]);
    t.shutdown().await;
}
