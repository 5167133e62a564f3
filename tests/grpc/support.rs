//! The harness: a real server in-process over a fresh SQLite file, a fixed clock, generated
//! clients, shortcuts for the calls, and assertions on statuses and classifications.

#![allow(dead_code)]

use std::collections::BTreeSet;
use std::net::SocketAddr;
use std::sync::Arc;

use prost_types::Timestamp as PbTimestamp;
use segmenter::api::pb;
use segmenter::api::pb::history_service_client::HistoryServiceClient;
use segmenter::api::pb::segmentation_service_client::SegmentationServiceClient;
use segmenter::app::{App, Clock};
use segmenter::config::Config;
use segmenter::domain::time::Timestamp;
use segmenter::server::{self, RunningServer};
use tonic::transport::Channel;
use tonic::{Code, Status};
use tonic_types::StatusExt;

pub use crate::fixtures::*;

/// The fixed server clock: 2025-07-01T00:00:00Z.
pub const NOW_SECONDS: i64 = 1_751_328_000;
pub const DAY: i64 = 86_400;

/// A clock that never moves, so every result is reproducible.
pub struct FixedClock(pub Timestamp);

impl Clock for FixedClock {
    fn now(&self) -> Timestamp {
        self.0
    }
}

pub fn now_domain() -> Timestamp {
    Timestamp::from_seconds(NOW_SECONDS)
}

/// The fixed now as a proto timestamp.
pub fn now() -> PbTimestamp {
    secs(NOW_SECONDS)
}

pub fn secs(seconds: i64) -> PbTimestamp {
    PbTimestamp { seconds, nanos: 0 }
}

/// `days` whole days before the fixed now.
pub fn ago(days: i64) -> PbTimestamp {
    secs(NOW_SECONDS - days * DAY)
}

/// `seconds` after the fixed now (negative: before).
pub fn from_now(seconds: i64) -> PbTimestamp {
    secs(NOW_SECONDS + seconds)
}

/// A running server with clients connected to it; the database lives in `_dir`.
pub struct TestServer {
    pub addr: SocketAddr,
    pub app: Arc<App>,
    pub history: HistoryServiceClient<Channel>,
    pub seg: SegmentationServiceClient<Channel>,
    pub channel: Channel,
    server: Option<RunningServer>,
    _dir: tempfile::TempDir,
}

/// Large enough for a BatchClassify answer of 1,000 classifications.
const CLIENT_MAX_MESSAGE: usize = 64 * 1024 * 1024;

impl TestServer {
    pub async fn start() -> Self {
        Self::start_with(|_| {}).await
    }

    /// Starts with the test defaults, after `adjust` changed the configuration.
    pub async fn start_with(adjust: impl FnOnce(&mut Config)) -> Self {
        let dir = tempfile::tempdir().expect("temp dir");
        let mut config = Config {
            listen: "127.0.0.1:0".to_owned(),
            database_url: format!("sqlite://{}", dir.path().join("t.db").display()),
            // No scheduled refresh during a test: snapshots change only when a test asks.
            snapshot_interval_seconds: 3_600,
            snapshot_refresh_events: 0,
            shutdown_grace_seconds: 5,
            metrics: segmenter::config::MetricsConfig {
                listen: "127.0.0.1:0".to_owned(),
            },
            // These tests are about the service's behaviour; tests/grpc/auth.rs covers keys.
            auth: segmenter::config::AuthConfig {
                enabled: false,
                ..Default::default()
            },
            ..Config::default()
        };
        adjust(&mut config);
        let clock = Arc::new(FixedClock(now_domain()));
        let app = server::build_app(&config, clock).await.expect("build app");
        let running = server::start(&config, app, futures::future::pending::<()>())
            .await
            .expect("start server");
        let addr = running.local_addr;
        let channel = tonic::transport::Endpoint::from_shared(format!("http://{addr}"))
            .expect("endpoint")
            .connect()
            .await
            .expect("connect");
        let history = HistoryServiceClient::new(channel.clone())
            .max_decoding_message_size(CLIENT_MAX_MESSAGE)
            .max_encoding_message_size(CLIENT_MAX_MESSAGE);
        let seg = SegmentationServiceClient::new(channel.clone())
            .max_decoding_message_size(CLIENT_MAX_MESSAGE)
            .max_encoding_message_size(CLIENT_MAX_MESSAGE);
        Self {
            addr,
            app: running.app.clone(),
            history,
            seg,
            channel,
            server: Some(running),
            _dir: dir,
        }
    }

    pub async fn shutdown(mut self) {
        if let Some(server) = self.server.take() {
            server.shutdown().await;
        }
    }

    // ---- HistoryService shortcuts ----

    pub async fn upsert(
        &self,
        customer: pb::Customer,
    ) -> Result<pb::UpsertCustomerResponse, Status> {
        self.history
            .clone()
            .upsert_customer(pb::UpsertCustomerRequest {
                customer: Some(customer),
            })
            .await
            .map(tonic::Response::into_inner)
    }

    pub async fn record(&self, events: Vec<pb::Event>) -> Result<pb::RecordEventsResponse, Status> {
        self.history
            .clone()
            .record_events(pb::RecordEventsRequest { events })
            .await
            .map(tonic::Response::into_inner)
    }

    /// Records and asserts that every event was newly stored.
    pub async fn record_ok(&self, events: Vec<pb::Event>) {
        let n = events.len() as u64;
        let got = self.record(events).await.expect("record events");
        assert_eq!((got.stored, got.duplicates), (n, 0), "record_ok");
    }

    pub async fn get(&self, reference: pb::CustomerRef) -> Result<pb::GetCustomerResponse, Status> {
        self.history
            .clone()
            .get_customer(pb::GetCustomerRequest {
                customer: Some(reference),
            })
            .await
            .map(tonic::Response::into_inner)
    }

    /// The stored event count of a customer, 0 when the customer does not exist.
    pub async fn event_count(&self, id: &str) -> u64 {
        match self.get(by_id(id)).await {
            Ok(found) => found.event_count,
            Err(status) if status.code() == Code::NotFound => 0,
            Err(status) => panic!("get customer {id}: {status:?}"),
        }
    }

    // ---- SegmentationService shortcuts ----

    pub async fn classify_with(
        &self,
        reference: pb::CustomerRef,
        options: pb::ClassifyOptions,
    ) -> Result<pb::Classification, Status> {
        self.seg
            .clone()
            .classify(pb::ClassifyRequest {
                customer: Some(reference),
                options: Some(options),
            })
            .await
            .map(|r| r.into_inner().classification.expect("classification"))
    }

    /// Classifies at the fixed now against the current snapshot (refresh it after writing).
    pub async fn classify(&self, reference: pb::CustomerRef) -> pb::Classification {
        self.classify_with(reference, at_now())
            .await
            .expect("classify")
    }

    pub async fn recommend(
        &self,
        reference: pb::CustomerRef,
        touchpoint: pb::Touchpoint,
        locale: &str,
        max_actions: u32,
    ) -> Result<pb::RecommendActionResponse, Status> {
        self.seg
            .clone()
            .recommend_action(pb::RecommendActionRequest {
                customer: Some(reference),
                touchpoint: touchpoint as i32,
                options: Some(pb::ClassifyOptions {
                    locale: locale.to_owned(),
                    ..at_now()
                }),
                context: None,
                max_actions,
            })
            .await
            .map(tonic::Response::into_inner)
    }

    pub async fn refresh(&self) -> pb::SnapshotInfo {
        self.seg
            .clone()
            .refresh_snapshot(pb::RefreshSnapshotRequest {})
            .await
            .expect("refresh snapshot")
            .into_inner()
            .snapshot
            .expect("snapshot")
    }

    pub async fn stats(&self, options: pb::ClassifyOptions) -> pb::GetSegmentStatsResponse {
        self.seg
            .clone()
            .get_segment_stats(pb::GetSegmentStatsRequest {
                options: Some(options),
            })
            .await
            .expect("segment stats")
            .into_inner()
    }

    /// Every member of one segment, in stream order.
    pub async fn members(
        &self,
        dimension: pb::Dimension,
        code: &str,
        options: pb::ClassifyOptions,
    ) -> Vec<pb::ListSegmentMembersResponse> {
        let mut stream = self
            .seg
            .clone()
            .list_segment_members(pb::ListSegmentMembersRequest {
                dimension: dimension as i32,
                segment_code: code.to_owned(),
                options: Some(options),
            })
            .await
            .expect("list segment members")
            .into_inner();
        let mut members = Vec::new();
        while let Some(member) = stream.message().await.expect("member") {
            members.push(member);
        }
        members
    }
}

/// Options: at the fixed now, against the current snapshot. With the fixed clock the current
/// snapshot is the one taken at now by the last refresh, so tests refresh after writing.
pub fn at_now() -> pb::ClassifyOptions {
    pb::ClassifyOptions {
        as_of: Some(now()),
        snapshot: pb::SnapshotMode::Current as i32,
        ..pb::ClassifyOptions::default()
    }
}

/// Options: at `as_of`, with a snapshot taken at that instant.
pub fn at(as_of: PbTimestamp) -> pb::ClassifyOptions {
    pb::ClassifyOptions {
        as_of: Some(as_of),
        snapshot: pb::SnapshotMode::AtAsOf as i32,
        ..pb::ClassifyOptions::default()
    }
}

// ---- assertions on statuses and classifications ----

/// The fields the BadRequest details of an INVALID_ARGUMENT status name, in order.
pub fn violated_fields(status: &Status) -> Vec<String> {
    assert_eq!(status.code(), Code::InvalidArgument, "{status:?}");
    let details = status
        .get_details_bad_request()
        .unwrap_or_else(|| panic!("INVALID_ARGUMENT without BadRequest details: {status:?}"));
    details
        .field_violations
        .into_iter()
        .map(|v| {
            assert!(
                !v.description.is_empty(),
                "violation of {} has no description",
                v.field
            );
            v.field
        })
        .collect()
}

/// The set of fields of an INVALID_ARGUMENT status.
pub fn violated_set(status: &Status) -> BTreeSet<String> {
    violated_fields(status).into_iter().collect()
}

pub fn set(fields: &[&str]) -> BTreeSet<String> {
    fields.iter().map(|f| (*f).to_owned()).collect()
}

/// The segment code of one dimension.
pub fn code(classification: &pb::Classification, dimension: pb::Dimension) -> String {
    assignment(classification, dimension).code.clone()
}

pub fn assignment(
    classification: &pb::Classification,
    dimension: pb::Dimension,
) -> &pb::Assignment {
    classification
        .assignments
        .iter()
        .find(|a| a.dimension == dimension as i32)
        .unwrap_or_else(|| panic!("no assignment for {dimension:?}"))
}

/// (dimension, code) of every assignment, for compact comparisons.
pub fn codes(classification: &pb::Classification) -> Vec<(pb::Dimension, String)> {
    classification
        .assignments
        .iter()
        .map(|a| {
            (
                pb::Dimension::try_from(a.dimension).expect("known dimension"),
                a.code.clone(),
            )
        })
        .collect()
}

/// The action codes of a recommendation, in ranked order.
pub fn action_codes(response: &pb::RecommendActionResponse) -> Vec<String> {
    response.actions.iter().map(|a| a.code.clone()).collect()
}

/// Position of an action code, panicking with the whole list when absent.
pub fn position(response: &pb::RecommendActionResponse, code: &str) -> usize {
    let codes = action_codes(response);
    codes
        .iter()
        .position(|c| c == code)
        .unwrap_or_else(|| panic!("{code} not among {codes:?}"))
}
