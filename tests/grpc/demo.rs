//! The demo population, loaded into the test server's store and seen through the API.

use segmenter::api::pb;
use segmenter::demo::{load_demo, DemoConfig};

use crate::segments::assert_stats_add_up;
use crate::support::*;

#[tokio::test]
async fn the_demo_population_fills_the_segments() {
    let t = TestServer::start().await;
    let config = DemoConfig {
        customers: 2_000,
        ..DemoConfig::at(now_domain())
    };
    let summary = load_demo(t.app.store().as_ref(), &config)
        .await
        .expect("load demo");
    assert_eq!(summary.customers, 2_000);
    assert_eq!(summary.duplicates, 0);
    assert!(summary.events_stored > 2_000, "{summary:?}");
    // Loaded straight into the store, past the server's resident histories.
    t.app.reload_histories().await.expect("reload");

    let snapshot = t.refresh().await;
    assert_eq!(snapshot.customers, 2_000);
    assert!(snapshot.active_buyers > 0 && snapshot.active_buyers < 2_000);

    let stats = t.stats(at_now()).await;
    assert_eq!(stats.customers, 2_000);
    assert_eq!(stats.snapshot, Some(snapshot));
    assert_stats_add_up(&stats);

    let mut empty = Vec::new();
    for d in &stats.dimensions {
        let dimension = pb::Dimension::try_from(d.dimension).expect("dimension");
        let counts: Vec<String> = d
            .segments
            .iter()
            .map(|s| format!("{}={}", s.code, s.customers))
            .collect();
        eprintln!("{dimension:?}: {}", counts.join(" "));
        // UNKNOWN of the predictive dimensions needs a population the models cannot be fitted
        // on (tests/grpc/predictive.rs has one).
        let predictive = matches!(
            dimension,
            pb::Dimension::ChurnRisk | pb::Dimension::PredictedValueTier
        );
        for s in &d.segments {
            if s.customers == 0 && !(predictive && s.code == "UNKNOWN") {
                empty.push(format!("{dimension:?}/{}", s.code));
            }
        }
    }
    assert!(empty.is_empty(), "segments without members: {empty:?}");

    // The count of one segment matches its members.
    let loyal = stats.dimensions[4]
        .segments
        .iter()
        .find(|s| s.code == "LOYAL")
        .expect("LOYAL")
        .customers;
    let members = t.members(pb::Dimension::Lifecycle, "LOYAL", at_now()).await;
    assert_eq!(members.len() as u64, loyal);
    t.shutdown().await;
}
