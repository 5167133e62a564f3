//! An acknowledged write survives `kill -9`: the real binary is started as a child process over
//! a SQLite file, killed with SIGKILL after acknowledging batches (and while writing more), and
//! restarted on the same file.

use std::io::{BufRead, BufReader};
use std::net::SocketAddr;
use std::process::{Child, Command, Stdio};
use std::sync::mpsc;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use segmenter::api::pb;
use segmenter::api::pb::history_service_client::HistoryServiceClient;
use tonic::transport::Channel;
use tonic::Code;
use tonic_health::pb::health_check_response::ServingStatus;
use tonic_health::pb::health_client::HealthClient;
use tonic_health::pb::HealthCheckRequest;

use crate::support::*;

/// Longest wait for a started server to answer health checks (debug build, slow CI).
const START_TIMEOUT: Duration = Duration::from_secs(60);

/// `segmenter serve` as a child process; killed (SIGKILL) when dropped.
struct ServerProcess {
    child: Child,
    addr: SocketAddr,
    log: Arc<Mutex<Vec<String>>>,
}

impl ServerProcess {
    /// Starts the binary on port 0 over `database_url` and learns its address from the
    /// `local_addr` field of the JSON log line it writes once it listens.
    fn start(database_url: &str) -> Self {
        let mut command = Command::new(env!("CARGO_BIN_EXE_segmenter"));
        command
            .args([
                "--set",
                "log_format=json",
                "--set",
                "log_level=info",
                "--set",
                "metrics.listen=127.0.0.1:0",
                "--set",
                "auth.enabled=false",
                "serve",
                "--listen",
                "127.0.0.1:0",
                "--database-url",
                database_url,
            ])
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .env("NO_COLOR", "1");
        for (name, _) in std::env::vars_os() {
            if name.to_string_lossy().starts_with("SEGMENTER") {
                command.env_remove(name);
            }
        }
        let mut child = command.spawn().expect("start segmenter serve");
        let stderr = child.stderr.take().expect("stderr");
        let log = Arc::new(Mutex::new(Vec::new()));
        let (found, addr) = mpsc::channel();
        let lines = log.clone();
        // Reads the log to its end (the pipe must never fill), passing on the address.
        std::thread::spawn(move || {
            for line in BufReader::new(stderr).lines() {
                let Ok(line) = line else { break };
                if let Some(addr) = local_addr(&line) {
                    let _ = found.send(addr);
                }
                lines.lock().expect("log").push(line);
            }
        });
        let addr = match addr.recv_timeout(START_TIMEOUT) {
            Ok(addr) => addr,
            Err(_) => {
                let _ = child.kill();
                let _ = child.wait();
                panic!(
                    "the server logged no local_addr within {START_TIMEOUT:?}:\n{}",
                    log.lock().expect("log").join("\n")
                );
            }
        };
        Self { child, addr, log }
    }

    /// SIGKILL (`Child::kill` on Unix), and waits until the process is gone.
    fn kill_9(&mut self) {
        let _ = self.child.kill();
        self.child.wait().expect("wait for the killed server");
    }

    fn log(&self) -> String {
        self.log.lock().expect("log").join("\n")
    }
}

impl Drop for ServerProcess {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// The `local_addr` of a JSON log line, when it has one.
fn local_addr(line: &str) -> Option<SocketAddr> {
    let value: serde_json::Value = serde_json::from_str(line).ok()?;
    value["fields"]["local_addr"].as_str()?.parse().ok()
}

/// Connects to the server and waits until its health check answers SERVING.
async fn connect(server: &ServerProcess) -> HistoryServiceClient<Channel> {
    let deadline = Instant::now() + START_TIMEOUT;
    let endpoint = tonic::transport::Endpoint::from_shared(format!("http://{}", server.addr))
        .expect("endpoint")
        .timeout(Duration::from_secs(60));
    loop {
        if let Ok(channel) = endpoint.connect().await {
            let health = HealthClient::new(channel.clone())
                .check(HealthCheckRequest {
                    service: "segmenter.v1.HistoryService".to_owned(),
                })
                .await;
            if let Ok(answer) = health {
                if answer.into_inner().status == ServingStatus::Serving as i32 {
                    return HistoryServiceClient::new(channel);
                }
            }
        }
        assert!(
            Instant::now() < deadline,
            "server at {} never served:\n{}",
            server.addr,
            server.log()
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

async fn record(
    client: &HistoryServiceClient<Channel>,
    events: Vec<pb::Event>,
) -> Result<pb::RecordEventsResponse, tonic::Status> {
    client
        .clone()
        .record_events(pb::RecordEventsRequest { events })
        .await
        .map(tonic::Response::into_inner)
}

async fn event_count(client: &HistoryServiceClient<Channel>, id: &str) -> u64 {
    match client
        .clone()
        .get_customer(pb::GetCustomerRequest {
            customer: Some(by_id(id)),
        })
        .await
    {
        Ok(found) => found.into_inner().event_count,
        Err(status) if status.code() == Code::NotFound => 0,
        Err(status) => panic!("get customer {id}: {status:?}"),
    }
}

/// `per_customer` orders for each of `customers`, all of customer `prefix-i`.
fn batch(prefix: &str, customers: usize, per_customer: usize) -> Vec<pb::Event> {
    let mut events = Vec::new();
    for c in 0..customers {
        for e in 0..per_customer {
            let id = format!("{prefix}-{c}");
            let order_id = format!("{id}-o{e}");
            events.push(order(
                &format!("{order_id}-ev"),
                &id,
                ago(1 + (e % 300) as i64),
                &order_id,
                100 + e as i64,
            ));
        }
    }
    events
}

/// Events per batch of the writer that is running when the server is killed.
const IN_FLIGHT_BATCH: usize = 200;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn acknowledged_events_survive_kill_9() {
    let dir = tempfile::tempdir().expect("temp dir");
    let database_url = format!("sqlite://{}", dir.path().join("d.db").display());

    let mut server = ServerProcess::start(&database_url);
    let client = connect(&server).await;

    // One acknowledged batch: 10 customers of 100 orders.
    let acknowledged = batch("dur", 10, 100);
    let got = record(&client, acknowledged.clone())
        .await
        .expect("record the batch");
    assert_eq!((got.stored, got.duplicates), (1_000, 0));

    // A writer keeps sending batches (one new customer each) while the server is killed.
    let (acks_tx, mut acks) = tokio::sync::mpsc::unbounded_channel::<usize>();
    let writer_client = client.clone();
    let writer = tokio::spawn(async move {
        let mut attempted = 0;
        loop {
            let events = batch(&format!("flight{attempted}"), 1, IN_FLIGHT_BATCH);
            attempted += 1;
            match record(&writer_client, events).await {
                Ok(got) => {
                    assert_eq!(got.stored, IN_FLIGHT_BATCH as u64, "in-flight batch");
                    if acks_tx.send(attempted - 1).is_err() {
                        break;
                    }
                }
                Err(_) => break,
            }
        }
        attempted
    });
    let mut acknowledged_in_flight = Vec::new();
    while acknowledged_in_flight.len() < 3 {
        let ack = tokio::time::timeout(Duration::from_secs(60), acks.recv())
            .await
            .expect("the writer is acknowledged")
            .expect("the writer runs");
        acknowledged_in_flight.push(ack);
    }
    // Let the next batch reach the server, so that the kill most likely lands in its write.
    tokio::time::sleep(Duration::from_millis(5)).await;
    server.kill_9();
    let attempted = tokio::time::timeout(Duration::from_secs(60), writer)
        .await
        .expect("the writer notices the kill")
        .expect("writer");
    // Acks that arrived before the kill but were not yet taken off the channel count too.
    while let Ok(ack) = acks.try_recv() {
        acknowledged_in_flight.push(ack);
    }
    drop(server);

    let server = ServerProcess::start(&database_url);
    let client = connect(&server).await;
    for c in 0..10 {
        let id = format!("dur-{c}");
        assert_eq!(
            event_count(&client, &id).await,
            100,
            "{id} after kill -9:\n{}",
            server.log()
        );
    }
    let mut unacknowledged_stored = Vec::new();
    for k in 0..attempted {
        let id = format!("flight{k}-0");
        let count = event_count(&client, &id).await;
        if !acknowledged_in_flight.contains(&k) {
            unacknowledged_stored.push((k, count));
        }
        if acknowledged_in_flight.contains(&k) {
            assert_eq!(count, IN_FLIGHT_BATCH as u64, "acknowledged batch {k}");
        } else {
            // Not acknowledged: stored all or nothing.
            assert!(
                count == 0 || count == IN_FLIGHT_BATCH as u64,
                "batch {k} was stored in part: {count} of {IN_FLIGHT_BATCH}"
            );
        }
    }

    eprintln!(
        "killed after {} acknowledged in-flight batches of {attempted} attempted; \
         unacknowledged (batch, stored events): {unacknowledged_stored:?}",
        acknowledged_in_flight.len()
    );

    // The retry of the acknowledged batch is all duplicates.
    let retry = record(&client, acknowledged).await.expect("retry");
    assert_eq!((retry.stored, retry.duplicates), (0, 1_000));
    let again = record(&client, batch("flight0", 1, IN_FLIGHT_BATCH))
        .await
        .expect("retry in-flight batch 0");
    assert_eq!(
        (again.stored, again.duplicates),
        (0, IN_FLIGHT_BATCH as u64)
    );
    drop(server);
}
