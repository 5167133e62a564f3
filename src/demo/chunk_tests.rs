//! Chunked generation and loading give what one-shot generation gives; the orders CSV lists
//! exactly the generated orders.

use std::collections::HashMap;

use super::orders_csv::{self, HEADER};
use super::*;
use crate::domain::history::EventPayload;
use crate::store::{SqliteStore, Store};

fn small(customers: usize) -> DemoConfig {
    DemoConfig {
        customers,
        ..DemoConfig::default()
    }
}

#[test]
fn chunks_and_ranges_equal_one_shot_generation() {
    let config = small(1_234);
    let whole = generate(&config).customers;
    let generator = Generator::new(&config);
    assert_eq!(generator.len(), 1_234);
    // Chunk boundaries inside the population, at its end, and beyond it.
    for size in [1, 100, 617, 1_233, 1_234, 5_000] {
        let chunked: Vec<DemoCustomer> = generator.chunks(size).flatten().collect();
        assert_eq!(chunked, whole, "chunks of {size}");
    }
    assert_eq!(generator.range(400..700), whole[400..700]);
    assert_eq!(generator.range(1_200..2_000), whole[1_200..]);
    assert!(generator.range(2_000..3_000).is_empty());
    let profiles: Vec<CustomerProfile> = whole[99..1_001]
        .iter()
        .filter_map(|c| c.profile.clone())
        .collect();
    assert_eq!(generator.profiles(99..1_001), profiles);
}

#[test]
fn ids_keep_five_digits_below_100k_and_widen_beyond() {
    assert_eq!(customer_id(0, 10_000), "c00001");
    assert_eq!(customer_id(99_998, 99_999), "c99999");
    assert_eq!(customer_id(0, 100_000), "c000001");
    assert_eq!(customer_id(99_999, 100_000), "c100000");
    assert_eq!(customer_id(0, 1_000_000), "c0000001");
    assert_eq!(customer_id(999_999, 1_000_000), "c1000000");
    assert_eq!(customer_id(0, 0), "c00001");
    // One width per population, so byte order is index order.
    let ids: Vec<String> = (0..1_000_000)
        .step_by(9_973)
        .map(|i| customer_id(i, 1_000_000))
        .collect();
    assert!(ids
        .windows(2)
        .all(|w| w[0] < w[1] && w[0].len() == w[1].len()));
}

/// The order lines, computed here independently of `orders_csv`.
fn expected_lines(customers: &[DemoCustomer]) -> Vec<String> {
    let mut lines = Vec::new();
    for customer in customers {
        let mut refunded: HashMap<&str, i64> = HashMap::new();
        for event in &customer.events {
            if let EventPayload::Refund(refund) = &event.payload {
                *refunded.entry(&refund.order_id).or_default() += refund.amount;
            }
        }
        for event in &customer.events {
            if let EventPayload::Order(order) = &event.payload {
                let back = refunded.get(order.order_id.as_str()).copied().unwrap_or(0);
                lines.push(format!(
                    "{},{},{},{},{back}",
                    customer.id,
                    order.order_id,
                    event.at.micros(),
                    order.amount
                ));
            }
        }
    }
    lines
}

#[test]
fn csv_lines_are_the_orders_with_their_refunds_summed() {
    let data = generate(&small(1_000));
    let mut out = Vec::new();
    orders_csv::write_orders(&mut out, &data.customers).unwrap();
    let text = String::from_utf8(out).unwrap();
    let lines: Vec<&str> = text.lines().collect();
    let expected = expected_lines(&data.customers);
    assert_eq!(lines, expected);
    let orders = data
        .events()
        .filter(|e| matches!(e.payload, EventPayload::Order(_)))
        .count();
    assert_eq!(lines.len(), orders);
    // The demo refunds some orders in part and some in full.
    let refunded = lines.iter().filter(|l| !l.ends_with(",0")).count();
    assert!(refunded > 20, "{refunded}");
}

#[tokio::test]
async fn chunked_load_stores_the_one_shot_population_and_its_csv() {
    let dir = tempfile::tempdir().unwrap();
    let csv = dir.path().join("orders.csv");
    let store = SqliteStore::connect("sqlite::memory:").await.unwrap();
    let config = small(700);
    let options = LoadOptions {
        chunk_customers: 64,
        profile_customers: 150,
        batch_events: 1_000,
        writers: 3,
        orders_csv: Some(csv.clone()),
    };
    let summary = load_demo_with(&store, &config, &options).await.unwrap();

    let data = generate(&config);
    assert_eq!(summary.customers, 700);
    assert_eq!(summary.profiles, data.profiles().count() as u64);
    assert_eq!(summary.events_stored, data.events().count() as u64);
    assert_eq!(summary.duplicates, 0);
    assert_eq!(store.customer_count().await.unwrap(), 700);
    let mut after = None;
    let mut stored = Vec::new();
    loop {
        let page = store.histories(after.as_deref(), 97).await.unwrap();
        let Some((last, _)) = page.last() else { break };
        after = Some(last.clone());
        stored.extend(page);
    }
    assert_eq!(stored.len(), 700);
    for ((id, mut history), customer) in stored.into_iter().zip(&data.customers) {
        assert_eq!(id, customer.id);
        history
            .events
            .sort_by(|a, b| (a.at, &a.event_id).cmp(&(b.at, &b.event_id)));
        assert_eq!(history, customer.history(), "{id}");
    }

    let text = std::fs::read_to_string(&csv).unwrap();
    let mut expected = vec![HEADER.to_owned()];
    expected.extend(expected_lines(&data.customers));
    assert_eq!(text.lines().collect::<Vec<_>>(), expected);
}

#[tokio::test]
async fn a_bad_csv_path_fails_before_anything_is_stored() {
    let store = SqliteStore::connect("sqlite::memory:").await.unwrap();
    let options = LoadOptions {
        orders_csv: Some("/nonexistent-dir/orders.csv".into()),
        ..LoadOptions::default()
    };
    let result = load_demo_with(&store, &small(50), &options).await;
    assert!(matches!(result, Err(DemoError::Csv { .. })), "{result:?}");
    assert_eq!(store.customer_count().await.unwrap(), 0);
}
