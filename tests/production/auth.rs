//! API keys: authentication, scopes, revocation, keys files, per-key rate limits, and a key
//! made by the real `segmenter keys create`.

use std::sync::Arc;
use std::time::{Duration, Instant};

use segmenter::api::pb;
use segmenter::app::{App, SystemClock};
use segmenter::auth::Scope;
use segmenter::config::Config;
use tonic::Code;
use tonic_health::pb::health_check_response::ServingStatus;
use tonic_reflection::pb::v1;

use crate::support::*;

async fn start_with_auth(adjust: impl FnOnce(&mut Config)) -> TestServer {
    TestServer::start_with(|config, _| {
        config.auth.enabled = true;
        adjust(config);
    })
    .await
}

/// Two fresh 64-character keys for keys files.
const ERP_FILE_KEY: &str = "erp-file-key-0123456789abcdef0123456789abcdef0123456789abcdef0";
const SHOP_FILE_KEY: &str = "shop-file-key-0123456789abcdef0123456789abcdef0123456789abcdef";

#[tokio::test]
async fn calls_without_a_valid_key_are_unauthenticated() {
    let t = start_with_auth(|_| {}).await;
    t.put_customer("c-1").await;
    // A real key exists, so the refusals below are not about an empty key table.
    let good = t.create_key("erp", &[Scope::Classify]).await;
    let mut seg = t.seg().await;

    let missing = expect_code(
        seg.classify(classify_request("c-1")).await,
        Code::Unauthenticated,
    );
    assert_eq!(
        missing.message(),
        "missing API key: send metadata `authorization: Bearer <key>`"
    );

    for malformed in ["Basic abc", "Bearer", "Bearer ", good.as_str()] {
        let status = expect_code(
            seg.classify(with_authorization(classify_request("c-1"), malformed))
                .await,
            Code::Unauthenticated,
        );
        assert_eq!(
            status.message(),
            "missing API key: send metadata `authorization: Bearer <key>`",
            "authorization {malformed:?}"
        );
    }

    let unknown = format!("sgk_00000000_{}", "0".repeat(64));
    for key in [unknown.as_str(), "not-a-key", &good[..good.len() - 1]] {
        let status = expect_code(
            seg.classify(with_key(classify_request("c-1"), key)).await,
            Code::Unauthenticated,
        );
        assert_eq!(status.message(), "unknown API key", "key {key:?}");
    }

    // The good key still works after all those refusals.
    seg.classify(with_key(classify_request("c-1"), &good))
        .await
        .expect("good key");
    t.shutdown().await;
}

#[tokio::test]
async fn scopes_decide_what_a_key_may_call() {
    let t = start_with_auth(|_| {}).await;
    t.put_customer("c-1").await;
    let classify = t.create_key("erp", &[Scope::Classify]).await;
    let write = t.create_key("shop", &[Scope::Write]).await;
    let both = t.create_key("crm", &[Scope::Classify, Scope::Write]).await;
    let admin = t.create_key("ops", &[Scope::Admin]).await;
    let mut seg = t.seg().await;
    let mut history = t.history().await;

    // classify: classifying yes, writing or refreshing no.
    seg.classify(with_key(classify_request("c-1"), &classify))
        .await
        .expect("classify key classifies");
    history
        .get_customer(with_key(
            pb::GetCustomerRequest {
                customer: Some(by_id("c-1")),
            },
            &classify,
        ))
        .await
        .expect("classify key reads a customer");
    let denied = expect_code(
        history
            .record_events(with_key(
                record_request(vec![order("e-1", "c-1", 100)]),
                &classify,
            ))
            .await,
        Code::PermissionDenied,
    );
    assert_eq!(
        denied.message(),
        "key \"erp\" lacks scope write needed by /segmenter.v1.HistoryService/RecordEvents"
    );
    let denied = expect_code(
        seg.refresh_snapshot(with_key(pb::RefreshSnapshotRequest {}, &classify))
            .await,
        Code::PermissionDenied,
    );
    assert_eq!(
        denied.message(),
        "key \"erp\" lacks scope admin needed by /segmenter.v1.SegmentationService/RefreshSnapshot"
    );

    // write: writing yes, classifying or refreshing no.
    let stored = history
        .record_events(with_key(
            record_request(vec![order("e-1", "c-1", 100)]),
            &write,
        ))
        .await
        .expect("write key records events")
        .into_inner();
    assert_eq!((stored.stored, stored.duplicates), (1, 0));
    let denied = expect_code(
        seg.classify(with_key(classify_request("c-1"), &write))
            .await,
        Code::PermissionDenied,
    );
    assert_eq!(
        denied.message(),
        "key \"shop\" lacks scope classify needed by /segmenter.v1.SegmentationService/Classify"
    );
    let denied = expect_code(
        seg.refresh_snapshot(with_key(pb::RefreshSnapshotRequest {}, &write))
            .await,
        Code::PermissionDenied,
    );
    assert_eq!(
        denied.message(),
        "key \"shop\" lacks scope admin needed by /segmenter.v1.SegmentationService/RefreshSnapshot"
    );

    // classify,write: both, but not admin.
    seg.classify(with_key(classify_request("c-1"), &both))
        .await
        .expect("classify,write classifies");
    history
        .record_events(with_key(
            record_request(vec![order("e-2", "c-1", 200)]),
            &both,
        ))
        .await
        .expect("classify,write writes");
    expect_code(
        seg.refresh_snapshot(with_key(pb::RefreshSnapshotRequest {}, &both))
            .await,
        Code::PermissionDenied,
    );

    // admin: everything.
    history
        .upsert_customer(with_key(
            pb::UpsertCustomerRequest {
                customer: Some(pb::Customer {
                    id: "c-2".to_owned(),
                    ..pb::Customer::default()
                }),
            },
            &admin,
        ))
        .await
        .expect("admin upserts");
    history
        .record_events(with_key(
            record_request(vec![order("e-3", "c-2", 300)]),
            &admin,
        ))
        .await
        .expect("admin writes");
    let snapshot = seg
        .refresh_snapshot(with_key(pb::RefreshSnapshotRequest {}, &admin))
        .await
        .expect("admin refreshes")
        .into_inner()
        .snapshot
        .expect("snapshot info");
    assert_eq!(snapshot.customers, 2);
    let classified = seg
        .classify(with_key(classify_request("c-2"), &admin))
        .await
        .expect("admin classifies")
        .into_inner()
        .classification
        .expect("classification");
    assert!(classified.known);
    history
        .delete_customer(with_key(
            pb::DeleteCustomerRequest {
                customer: Some(by_id("c-2")),
            },
            &admin,
        ))
        .await
        .expect("admin erases");
    t.shutdown().await;
}

#[tokio::test]
async fn a_revoked_key_is_refused_within_seconds() {
    let t = start_with_auth(|_| {}).await;
    t.put_customer("c-1").await;
    let key = t.create_key("erp", &[Scope::Classify]).await;
    let other = t.create_key("shop", &[Scope::Classify]).await;
    let seg = t.seg().await;
    seg.clone()
        .classify(with_key(classify_request("c-1"), &key))
        .await
        .expect("key works before revocation");

    let revoked = segmenter::auth::revoke_key(t.store(), "erp", now())
        .await
        .expect("revoke");
    assert_eq!(revoked, 1);
    let refused = poll_until(Duration::from_secs(8), || {
        let mut seg = seg.clone();
        let key = key.clone();
        async move {
            seg.classify(with_key(classify_request("c-1"), &key))
                .await
                .err()
        }
    })
    .await;
    let (status, after) = refused.expect("the revoked key is refused within 8 s");
    assert_eq!(status.code(), Code::Unauthenticated, "{status:?}");
    assert_eq!(status.message(), "API key \"erp\" is revoked");
    assert!(
        after <= Duration::from_secs(6),
        "revocation took {after:?}; the README promises 5 seconds"
    );
    // Revoking one system's key leaves the others alone.
    seg.clone()
        .classify(with_key(classify_request("c-1"), &other))
        .await
        .expect("other key still works");
    t.shutdown().await;
}

#[tokio::test]
async fn health_and_reflection_need_no_key() {
    let t = start_with_auth(|_| {}).await;
    let mut health = t.health().await;
    assert_eq!(health_status(&mut health, "").await, ServingStatus::Serving);
    assert_eq!(
        health_status(&mut health, "liveness").await,
        ServingStatus::Serving
    );

    let mut reflection =
        v1::server_reflection_client::ServerReflectionClient::new(t.channel().await);
    let request = v1::ServerReflectionRequest {
        host: String::new(),
        message_request: Some(v1::server_reflection_request::MessageRequest::ListServices(
            String::new(),
        )),
    };
    let mut stream = reflection
        .server_reflection_info(futures::stream::iter(vec![request]))
        .await
        .expect("reflection without a key")
        .into_inner();
    let response = stream
        .message()
        .await
        .expect("reflection answer")
        .expect("a message");
    let Some(v1::server_reflection_response::MessageResponse::ListServicesResponse(list)) =
        response.message_response
    else {
        panic!("not a service list: {response:?}");
    };
    let names: Vec<String> = list.service.into_iter().map(|s| s.name).collect();
    assert!(
        names.contains(&"segmenter.v1.SegmentationService".to_owned()),
        "{names:?}"
    );
    t.shutdown().await;
}

fn keys_file(erp_scopes: &str) -> String {
    format!(
        "[[keys]]\nname = \"erp\"\nscopes = [{erp_scopes}]\nkey = \"{ERP_FILE_KEY}\"\n\n\
         [[keys]]\nname = \"shop\"\nscopes = [\"write\"]\nkey = \"{SHOP_FILE_KEY}\"\n"
    )
}

#[tokio::test]
async fn keys_from_a_keys_file_authenticate() {
    let dir = tempfile::tempdir().expect("temp dir");
    let mut config = base_config(dir.path());
    config.auth.enabled = true;
    config.auth.keys_file = Some(write_file(
        dir.path(),
        "keys.toml",
        &keys_file("\"classify\""),
    ));
    let t = TestServer::start_built(config, dir).await;
    t.put_customer("c-1").await;
    let mut seg = t.seg().await;
    let mut history = t.history().await;

    seg.classify(with_key(classify_request("c-1"), ERP_FILE_KEY))
        .await
        .expect("erp key from the file classifies");
    expect_code(
        history
            .record_events(with_key(
                record_request(vec![order("e-1", "c-1", 100)]),
                ERP_FILE_KEY,
            ))
            .await,
        Code::PermissionDenied,
    );
    history
        .record_events(with_key(
            record_request(vec![order("e-1", "c-1", 100)]),
            SHOP_FILE_KEY,
        ))
        .await
        .expect("shop key from the file writes");
    expect_code(
        seg.classify(with_key(classify_request("c-1"), SHOP_FILE_KEY))
            .await,
        Code::PermissionDenied,
    );
    t.shutdown().await;
}

/// A keys file is the deployment's source of truth: restarting with the same file changes
/// nothing, and restarting after a key's scopes were edited there gives the key the new scopes
/// (the key itself is unchanged, so this is not a rotation).
#[tokio::test]
async fn restarting_with_edited_scopes_in_the_keys_file_applies_them() {
    let dir = tempfile::tempdir().expect("temp dir");
    let mut config = base_config(dir.path());
    config.auth.enabled = true;
    let path = write_file(dir.path(), "keys.toml", &keys_file("\"classify\""));
    config.auth.keys_file = Some(path.clone());
    let build = || async { segmenter::server::build_app(&config, Arc::new(SystemClock)).await };

    let first = build().await.expect("first start with the keys file");
    assert_eq!(
        active_scopes(&first, "erp").await,
        vec![vec![Scope::Classify]]
    );
    drop(first);

    let same = build().await.expect("restart with the same keys file");
    assert_eq!(
        active_scopes(&same, "erp").await,
        vec![vec![Scope::Classify]]
    );
    drop(same);

    std::fs::write(&path, keys_file("\"classify\", \"write\"")).expect("edit keys file");
    let edited = build()
        .await
        .expect("restart after the scopes of a key changed in the keys file");
    assert_eq!(
        active_scopes(&edited, "erp").await,
        vec![vec![Scope::Classify, Scope::Write]]
    );
    assert_eq!(
        active_scopes(&edited, "shop").await,
        vec![vec![Scope::Write]]
    );
}

/// A key of the keys file that an operator revoked (`segmenter keys revoke erp`) must not stop
/// the next start: the server starts, and the other keys of the file keep working.
#[tokio::test]
async fn restarting_after_a_file_key_was_revoked_still_starts() {
    let dir = tempfile::tempdir().expect("temp dir");
    let mut config = base_config(dir.path());
    config.auth.enabled = true;
    config.auth.keys_file = Some(write_file(
        dir.path(),
        "keys.toml",
        &keys_file("\"classify\""),
    ));
    let first = segmenter::server::build_app(&config, Arc::new(SystemClock))
        .await
        .expect("first start with the keys file");
    let revoked = segmenter::auth::revoke_key(first.store().as_ref(), "erp", now())
        .await
        .expect("revoke");
    assert_eq!(revoked, 1);
    drop(first);

    let again = segmenter::server::build_app(&config, Arc::new(SystemClock))
        .await
        .expect("restart after a key of the keys file was revoked");
    assert!(active_scopes(&again, "erp").await.len() <= 1);
    assert_eq!(
        active_scopes(&again, "shop").await,
        vec![vec![Scope::Write]]
    );
}

/// The scopes of each active key named `name`.
async fn active_scopes(app: &App, name: &str) -> Vec<Vec<Scope>> {
    segmenter::auth::list_keys(app.store().as_ref())
        .await
        .expect("list keys")
        .into_iter()
        .filter(|k| k.name == name && k.revoked_at.is_none())
        .map(|k| k.scopes)
        .collect()
}

#[tokio::test]
async fn a_key_over_its_rate_limit_is_refused_and_others_are_not() {
    let t = start_with_auth(|config| {
        config.auth.rate_limit_per_second = 1;
        config.auth.rate_limit_burst = 2;
    })
    .await;
    t.put_customer("c-1").await;
    let erp = t.create_key("erp", &[Scope::Classify]).await;
    let shop = t.create_key("shop", &[Scope::Classify]).await;
    let mut seg = t.seg().await;
    // Warm the key table so the burst below is not slowed by its first load.
    seg.classify(with_key(classify_request("c-1"), &shop))
        .await
        .expect("warm-up");

    let started = Instant::now();
    seg.classify(with_key(classify_request("c-1"), &erp))
        .await
        .expect("1st call of the burst");
    seg.classify(with_key(classify_request("c-1"), &erp))
        .await
        .expect("2nd call of the burst");
    let third = seg.classify(with_key(classify_request("c-1"), &erp)).await;
    let elapsed = started.elapsed();
    assert!(
        elapsed < Duration::from_millis(900),
        "the burst took {elapsed:?}; too slow to test a 1/s limit"
    );
    let status = expect_code(third, Code::ResourceExhausted);
    assert_eq!(
        status.message(),
        "rate limit of key \"erp\" reached; retry with backoff"
    );
    // The other key has its own bucket (one token used by the warm-up, one left).
    seg.classify(with_key(classify_request("c-1"), &shop))
        .await
        .expect("another key is not limited");
    // A second later the limited key has a token again.
    tokio::time::sleep(Duration::from_millis(1_100)).await;
    seg.classify(with_key(classify_request("c-1"), &erp))
        .await
        .expect("the limited key recovers at its rate");
    t.shutdown().await;
}

/// `segmenter keys create` prints a key that a server on the same database accepts.
#[tokio::test]
async fn a_key_created_by_the_cli_authenticates() {
    let t = start_with_auth(|_| {}).await;
    t.put_customer("c-1").await;
    let database_url = t.config.database_url.clone();
    let output = tokio::task::spawn_blocking(move || {
        std::process::Command::new(env!("CARGO_BIN_EXE_segmenter"))
            .args([
                "--set",
                &format!("database_url={database_url}"),
                "keys",
                "create",
                "--name",
                "erp",
                "--scopes",
                "classify",
            ])
            .env_remove("SEGMENTER_CONFIG")
            .env("NO_COLOR", "1")
            .output()
            .expect("run segmenter keys create")
    })
    .await
    .expect("join");
    let stdout = String::from_utf8_lossy(&output.stdout);
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(
        output.status.success(),
        "keys create failed\nstdout:\n{stdout}\nstderr:\n{stderr}"
    );
    let lines: Vec<&str> = stdout.lines().collect();
    assert_eq!(lines.len(), 1, "stdout holds only the key: {stdout:?}");
    let key = lines[0].trim();
    assert!(
        key.starts_with("sgk_") && key.len() == 77,
        "unexpected key shape {key:?}"
    );
    assert!(
        !stderr.contains(key),
        "the key must not be repeated on stderr"
    );

    let mut seg = t.seg().await;
    seg.classify(with_key(classify_request("c-1"), key))
        .await
        .expect("the CLI's key authenticates");
    let denied = expect_code(
        t.history()
            .await
            .record_events(with_key(
                record_request(vec![order("e-1", "c-1", 100)]),
                key,
            ))
            .await,
        Code::PermissionDenied,
    );
    assert_eq!(
        denied.message(),
        "key \"erp\" lacks scope write needed by /segmenter.v1.HistoryService/RecordEvents"
    );
    t.shutdown().await;
}
