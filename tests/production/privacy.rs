//! Phone numbers and e-mail addresses never reach the server's logs unmasked, even at debug
//! level and in the answers to bad calls about them.

use std::io::{BufRead, BufReader};
use std::process::{Command, Stdio};
use std::sync::mpsc;
use std::time::Duration;

use segmenter::api::pb;
use tonic::Code;

use super::support::expect_code;

const PHONE: &str = "+8613912345678";
const EMAIL: &str = "wang.fang@example.com";

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn logs_mask_phones_and_emails() {
    let dir = tempfile::tempdir().unwrap();
    let database = format!("sqlite://{}", dir.path().join("t.db").display());
    let mut child = Command::new(env!("CARGO_BIN_EXE_segmenter"))
        .args([
            "--set",
            "log_format=json",
            "--set",
            "log_level=debug",
            "--set",
            "auth.enabled=false",
        ])
        .args(["--set", "metrics.listen="])
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
    let (lines_tx, lines) = mpsc::channel::<String>();
    std::thread::spawn(move || {
        for line in BufReader::new(stderr).lines().map_while(Result::ok) {
            let _ = lines_tx.send(line);
        }
    });
    let addr = loop {
        let line = lines
            .recv_timeout(Duration::from_secs(60))
            .expect("server started");
        if let Some(rest) = line.split("\"local_addr\":\"").nth(1) {
            break rest.split('"').next().unwrap_or_default().to_owned();
        }
    };

    let endpoint = format!("http://{addr}");
    let mut history = pb::history_service_client::HistoryServiceClient::connect(endpoint.clone())
        .await
        .unwrap();
    let customer = |id: &str| pb::Customer {
        id: id.into(),
        phones: vec![PHONE.into()],
        emails: vec![EMAIL.into()],
        ..Default::default()
    };
    history
        .upsert_customer(pb::UpsertCustomerRequest {
            customer: Some(customer("c-1")),
        })
        .await
        .unwrap();
    // Refused calls that name the phone and the e-mail.
    let conflict = history
        .upsert_customer(pb::UpsertCustomerRequest {
            customer: Some(customer("c-2")),
        })
        .await;
    expect_code(conflict, Code::AlreadyExists);
    let unknown = history
        .get_customer(pb::GetCustomerRequest {
            customer: Some(pb::CustomerRef {
                kind: Some(pb::customer_ref::Kind::Phone("+8613700000000".into())),
            }),
        })
        .await;
    let status = expect_code(unknown, Code::NotFound);
    assert!(
        !status.message().contains("13700000000"),
        "{}",
        status.message()
    );
    let by_email = history
        .get_customer(pb::GetCustomerRequest {
            customer: Some(pb::CustomerRef {
                kind: Some(pb::customer_ref::Kind::Email("nobody@example.com".into())),
            }),
        })
        .await;
    expect_code(by_email, Code::NotFound);

    tokio::time::sleep(Duration::from_millis(500)).await;
    let _ = child.kill();
    let _ = child.wait();
    let logged: Vec<String> = lines.try_iter().collect();
    assert!(
        logged.len() > 3,
        "the server logged at debug level: {logged:?}"
    );
    for secret in ["13912345678", "wang.fang", "13700000000", "nobody@"] {
        let leaks: Vec<_> = logged.iter().filter(|l| l.contains(secret)).collect();
        assert!(leaks.is_empty(), "{secret} appears in the logs: {leaks:?}");
    }
}
