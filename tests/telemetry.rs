//! OpenTelemetry export: with `telemetry.otlp_endpoint` set, the real binary sends its spans
//! to that OTLP/HTTP endpoint (here a minimal stand-in collector on loopback).

use std::io::{BufRead, BufReader, Read, Write};
use std::net::TcpListener;
use std::process::{Command, Stdio};
use std::sync::mpsc;
use std::time::Duration;

use segmenter::api::pb;

/// Accepts HTTP requests, answers 200 and reports each request line.
fn fake_collector() -> (String, mpsc::Receiver<String>) {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let endpoint = format!("http://{}/v1/traces", listener.local_addr().unwrap());
    let (tx, rx) = mpsc::channel();
    std::thread::spawn(move || {
        for stream in listener.incoming().flatten() {
            let mut reader = BufReader::new(stream);
            let mut request_line = String::new();
            if reader.read_line(&mut request_line).is_err() {
                continue;
            }
            let mut length = 0usize;
            loop {
                let mut header = String::new();
                if reader.read_line(&mut header).is_err() || header.trim().is_empty() {
                    break;
                }
                if let Some(value) = header.to_ascii_lowercase().strip_prefix("content-length:") {
                    length = value.trim().parse().unwrap_or(0);
                }
            }
            let mut body = vec![0; length];
            let _ = reader.read_exact(&mut body);
            let mut stream = reader.into_inner();
            let _ = stream.write_all(b"HTTP/1.1 200 OK\r\ncontent-type: application/x-protobuf\r\ncontent-length: 0\r\n\r\n");
            let _ = tx.send(format!("{} ({} bytes)", request_line.trim(), length));
        }
    });
    (endpoint, rx)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn spans_reach_the_configured_otlp_endpoint() {
    let (endpoint, requests) = fake_collector();
    let dir = tempfile::tempdir().unwrap();
    let database = format!("sqlite://{}", dir.path().join("t.db").display());
    let mut child = Command::new(env!("CARGO_BIN_EXE_segmenter"))
        .args([
            "--set",
            "log_format=json",
            "--set",
            "auth.enabled=false",
            "--set",
            "metrics.listen=",
        ])
        .args(["--set", &format!("telemetry.otlp_endpoint={endpoint}")])
        .args([
            "serve",
            "--listen",
            "127.0.0.1:0",
            "--database-url",
            &database,
        ])
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let stderr = child.stderr.take().unwrap();
    let (addr_tx, addr_rx) = mpsc::channel();
    std::thread::spawn(move || {
        for line in BufReader::new(stderr).lines().map_while(Result::ok) {
            if let Some(rest) = line.split("\"local_addr\":\"").nth(1) {
                let _ = addr_tx.send(rest.split('"').next().unwrap_or_default().to_owned());
            }
        }
    });
    let addr = addr_rx
        .recv_timeout(Duration::from_secs(60))
        .expect("server started");

    let mut client = pb::segmentation_service_client::SegmentationServiceClient::connect(format!(
        "http://{addr}"
    ))
    .await
    .unwrap();
    let reference = pb::CustomerRef {
        kind: Some(pb::customer_ref::Kind::Id("c-1".into())),
    };
    client
        .classify(pb::ClassifyRequest {
            customer: Some(reference),
            options: None,
        })
        .await
        .unwrap();

    // The batch exporter sends within its 5 s schedule.
    let received = requests.recv_timeout(Duration::from_secs(20));
    let _ = child.kill();
    let _ = child.wait();
    let request = received.expect("spans exported to the collector");
    assert!(request.starts_with("POST /v1/traces "), "{request}");
    assert!(!request.ends_with("(0 bytes)"), "{request}");
}
