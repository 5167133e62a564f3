//! Checks of what replicas share through the store: API keys, the snapshot lease, snapshots.

use std::sync::Arc;

use super::Backend;
use crate::auth::{ApiKeyRecord, Scope};
use crate::domain::population::{build_population, BuyerSample, PopulationStats};
use crate::domain::rules::{Share, ValueTierRules};
use crate::domain::time::Timestamp;

fn key(id: &str, name: &str, scopes: Vec<Scope>, at: i64) -> ApiKeyRecord {
    ApiKeyRecord {
        id: id.to_owned(),
        name: name.to_owned(),
        scopes,
        hash: format!("hash-{id}"),
        created_at: Timestamp(at),
        revoked_at: None,
    }
}

pub(crate) async fn api_keys_round_trip_and_revoke(backend: &impl Backend) {
    let store = backend.open().await;
    assert!(store.api_keys().await.unwrap().is_empty());
    let erp = key("aaaa0001", "erp", vec![Scope::Classify, Scope::Write], 10);
    let shop = key("aaaa0002", "shop", vec![Scope::Classify], 20);
    let shop2 = key("aaaa0003", "shop", vec![Scope::Admin], 30);
    for k in [&erp, &shop, &shop2] {
        store.insert_api_key(k).await.unwrap();
    }
    assert_eq!(
        store.api_keys().await.unwrap(),
        vec![erp.clone(), shop.clone(), shop2.clone()]
    );
    // By name: both shop keys; by id: one; again: none left to revoke.
    assert_eq!(
        store.revoke_api_keys("shop", Timestamp(40)).await.unwrap(),
        2
    );
    assert_eq!(
        store
            .revoke_api_keys("aaaa0001", Timestamp(50))
            .await
            .unwrap(),
        1
    );
    assert_eq!(
        store.revoke_api_keys("shop", Timestamp(60)).await.unwrap(),
        0
    );
    let keys = backend.open().await.api_keys().await.unwrap();
    let revoked: Vec<_> = keys.iter().map(|k| k.revoked_at).collect();
    assert_eq!(
        revoked,
        vec![
            Some(Timestamp(50)),
            Some(Timestamp(40)),
            Some(Timestamp(40))
        ]
    );
    // A hash is unique: the same key cannot be stored twice.
    assert!(store
        .insert_api_key(&key("bbbb0001", "x", vec![Scope::Admin], 70))
        .await
        .is_ok());
    let mut twin = key("bbbb0002", "y", vec![Scope::Admin], 80);
    twin.hash = "hash-bbbb0001".to_owned();
    assert!(store.insert_api_key(&twin).await.is_err());
}

pub(crate) async fn snapshot_lease_is_held_by_one_replica(backend: &impl Backend) {
    let a = backend.open().await;
    let b = backend.open().await;
    let t = Timestamp::from_seconds;
    assert!(a
        .try_snapshot_lease("replica-a", t(100), t(200))
        .await
        .unwrap());
    assert!(!b
        .try_snapshot_lease("replica-b", t(150), t(250))
        .await
        .unwrap());
    // The holder renews.
    assert!(a
        .try_snapshot_lease("replica-a", t(190), t(300))
        .await
        .unwrap());
    assert!(!b
        .try_snapshot_lease("replica-b", t(299), t(400))
        .await
        .unwrap());
    // Expired: another replica takes over, and the old holder is refused.
    assert!(b
        .try_snapshot_lease("replica-b", t(301), t(400))
        .await
        .unwrap());
    assert!(!a
        .try_snapshot_lease("replica-a", t(302), t(500))
        .await
        .unwrap());
}

fn stats(as_of: i64, profits: &[i64]) -> PopulationStats {
    let samples = profits.iter().enumerate().map(|(i, p)| BuyerSample {
        customer_id: format!("c{i}").into(),
        recency_days: i as i64,
        frequency: 1,
        monetary: *p,
        units: 1,
        profit: *p,
    });
    let tiers = ValueTierRules {
        high_profit_share: Share::from_ppm(800_000),
        low_customer_share: Share::from_ppm(200_000),
    };
    build_population(
        samples,
        Timestamp::from_seconds(as_of),
        profits.len() as u64,
        &tiers,
    )
}

pub(crate) async fn snapshots_are_shared_latest_first(backend: &impl Backend) {
    let store = backend.open().await;
    assert_eq!(store.latest_snapshot("rules-1").await.unwrap(), None);
    let older = Arc::new(stats(100, &[5, 7, 9]));
    let newer = Arc::new(stats(200, &[5, 7, 9, 11]));
    store.save_snapshot(&newer, "rules-1").await.unwrap();
    store.save_snapshot(&older, "rules-1").await.unwrap();
    // Saving the same snapshot again is harmless.
    store.save_snapshot(&newer, "rules-1").await.unwrap();
    let other = backend.open().await;
    assert_eq!(
        other.latest_snapshot("rules-1").await.unwrap(),
        Some((*newer).clone())
    );
    assert_eq!(other.latest_snapshot("rules-2").await.unwrap(), None);
    // Only a few are kept per rules version.
    for as_of in 300..306 {
        store
            .save_snapshot(&Arc::new(stats(as_of, &[1, 2])), "rules-1")
            .await
            .unwrap();
    }
    let latest = other.latest_snapshot("rules-1").await.unwrap().unwrap();
    assert_eq!(latest.info.as_of, Timestamp::from_seconds(305));
}
