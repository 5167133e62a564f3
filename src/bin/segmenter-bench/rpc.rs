//! The bench's side of the wire: connections to the server under test, the API key on every
//! call, the request options, and the three unary calls the latency phases compare.

use std::time::Duration;

use anyhow::{Context, Result};
use tonic::client::Grpc;
use tonic::codegen::http::uri::PathAndQuery;
use tonic::metadata::{Ascii, MetadataValue};
use tonic::service::interceptor::InterceptedService;
use tonic::service::Interceptor;
use tonic::transport::{Channel, Endpoint};
use tonic::{Request, Status};
use tonic_health::pb::health_client::HealthClient;
use tonic_health::pb::HealthCheckRequest;

use segmenter::api::pb;

use crate::skim::{Counted, Unread};
use segmenter::api::pb::history_service_client::HistoryServiceClient;
use segmenter::api::pb::segmentation_service_client::SegmentationServiceClient;

/// Large enough for any response the bench asks for (BatchClassify pages, segment stats).
const MAX_MESSAGE_BYTES: usize = 64 * 1024 * 1024;

/// Adds `authorization: Bearer <key>` to every call.
#[derive(Clone)]
pub struct BearerAuth(MetadataValue<Ascii>);

impl Interceptor for BearerAuth {
    fn call(&mut self, mut request: Request<()>) -> Result<Request<()>, Status> {
        request
            .metadata_mut()
            .insert("authorization", self.0.clone());
        Ok(request)
    }
}

type Authed = InterceptedService<Channel, BearerAuth>;

/// How the unary calls of [`Connection::call`] treat their responses.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Reading {
    /// Decoded into the generated messages, as an application would.
    Decoded,
    /// Received whole and walked field by field, but not built into messages, as a load
    /// generator such as h2load treats a body. Decoding a full classification (hundreds of
    /// strings) costs the client about as much CPU as the server spends producing it, and on
    /// one shared machine that would measure the client instead of the server.
    WireOnly,
}

/// Clients of every service over one HTTP/2 connection; clones share the connection.
#[derive(Clone)]
pub struct Connection {
    pub segmentation: SegmentationServiceClient<Authed>,
    pub history: HistoryServiceClient<Authed>,
    /// Health checks need no key, like the orchestrators that send them.
    pub health: HealthClient<Channel>,
    /// The same connection for calls whose responses are read as [`Reading::WireOnly`].
    raw: Grpc<Authed>,
    reading: Reading,
}

impl Connection {
    /// Opens a new HTTP/2 connection to `addr` (host:port) that sends `key` on every call.
    pub async fn open(addr: &str, key: &str) -> Result<Connection> {
        let channel = Endpoint::from_shared(format!("http://{addr}"))?
            .tcp_nodelay(true)
            .connect_timeout(Duration::from_secs(5))
            .connect()
            .await
            .with_context(|| format!("cannot connect to {addr}"))?;
        let value: MetadataValue<Ascii> = format!("Bearer {key}")
            .parse()
            .context("the API key is not valid metadata")?;
        let auth = BearerAuth(value);
        Ok(Connection {
            segmentation: SegmentationServiceClient::with_interceptor(
                channel.clone(),
                auth.clone(),
            )
            .max_decoding_message_size(MAX_MESSAGE_BYTES)
            .max_encoding_message_size(MAX_MESSAGE_BYTES),
            history: HistoryServiceClient::with_interceptor(channel.clone(), auth.clone())
                .max_decoding_message_size(MAX_MESSAGE_BYTES)
                .max_encoding_message_size(MAX_MESSAGE_BYTES),
            raw: Grpc::new(InterceptedService::new(channel.clone(), auth))
                .max_decoding_message_size(MAX_MESSAGE_BYTES),
            health: HealthClient::new(channel),
            reading: Reading::Decoded,
        })
    }

    /// This connection with its unary calls reading responses as `reading` says.
    pub fn reading(mut self, reading: Reading) -> Self {
        self.reading = reading;
        self
    }

    /// `true` once the whole server reports SERVING.
    pub async fn is_serving(&mut self) -> bool {
        let request = HealthCheckRequest {
            service: String::new(),
        };
        match self.health.check(request).await {
            Ok(response) => response.into_inner().status == SERVING,
            Err(_) => false,
        }
    }

    /// One call of `kind` about `customer`; the response is decoded, then dropped.
    pub async fn call(
        &mut self,
        kind: CallKind,
        customer: &str,
        options: &pb::ClassifyOptions,
    ) -> Result<(), Status> {
        match kind {
            CallKind::Health => {
                let request = HealthCheckRequest {
                    service: String::new(),
                };
                match self.reading {
                    Reading::Decoded => drop(self.health.check(request).await?),
                    Reading::WireOnly => self.unread(HEALTH_CHECK, request).await?,
                }
            }
            CallKind::Classify => {
                let request = pb::ClassifyRequest {
                    customer: Some(by_id(customer)),
                    options: Some(options.clone()),
                };
                match self.reading {
                    Reading::Decoded => drop(self.segmentation.classify(request).await?),
                    Reading::WireOnly => self.unread(CLASSIFY, request).await?,
                }
            }
            CallKind::Recommend => {
                let request = pb::RecommendActionRequest {
                    customer: Some(by_id(customer)),
                    touchpoint: pb::Touchpoint::InboundCall as i32,
                    options: Some(options.clone()),
                    context: None,
                    max_actions: 3,
                };
                match self.reading {
                    Reading::Decoded => drop(self.segmentation.recommend_action(request).await?),
                    Reading::WireOnly => self.unread(RECOMMEND_ACTION, request).await?,
                }
            }
        }
        Ok(())
    }

    /// Waits until the raw client can take a call.
    async fn raw_ready(&mut self) -> Result<(), Status> {
        self.raw
            .ready()
            .await
            .map_err(|e| Status::unknown(format!("the connection is not ready: {e}")))
    }

    /// A unary call at `path` whose response is read as [`Reading::WireOnly`].
    async fn unread<Q: prost::Message + Send + Sync + 'static>(
        &mut self,
        path: &'static str,
        request: Q,
    ) -> Result<(), Status> {
        self.raw_ready().await?;
        let codec = tonic_prost::ProstCodec::<Q, Unread>::default();
        let path = PathAndQuery::from_static(path);
        self.raw.unary(Request::new(request), path, codec).await?;
        Ok(())
    }
}

impl Connection {
    /// BatchClassify with each response read as [`Counted`]: how many results, how many of them
    /// errors, without building the classifications ([`Reading::WireOnly`] for a stream).
    pub async fn batch_classify_counted(
        &mut self,
        requests: impl futures::Stream<Item = pb::BatchClassifyRequest> + Send + 'static,
    ) -> Result<tonic::Streaming<Counted>, Status> {
        self.raw_ready().await?;
        let codec = tonic_prost::ProstCodec::<pb::BatchClassifyRequest, Counted>::default();
        let path = PathAndQuery::from_static(BATCH_CLASSIFY);
        let response = self
            .raw
            .streaming(Request::new(requests), path, codec)
            .await?;
        Ok(response.into_inner())
    }
}

const HEALTH_CHECK: &str = "/grpc.health.v1.Health/Check";
const BATCH_CLASSIFY: &str = "/segmenter.v1.SegmentationService/BatchClassify";
const CLASSIFY: &str = "/segmenter.v1.SegmentationService/Classify";
const RECOMMEND_ACTION: &str = "/segmenter.v1.SegmentationService/RecommendAction";

/// `grpc.health.v1.HealthCheckResponse.ServingStatus.SERVING`.
const SERVING: i32 = 1;

/// The unary calls whose latency and throughput are measured.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CallKind {
    /// `grpc.health.v1.Health/Check`: the same server stack doing no work, the ceiling.
    Health,
    Classify,
    /// At the call-centre touchpoint, at most three actions.
    Recommend,
}

impl CallKind {
    pub fn name(self) -> &'static str {
        match self {
            CallKind::Health => "Health/Check (no-op)",
            CallKind::Classify => "Classify",
            CallKind::Recommend => "RecommendAction",
        }
    }
}

pub fn by_id(id: &str) -> pb::CustomerRef {
    pb::CustomerRef {
        kind: Some(pb::customer_ref::Kind::Id(id.to_owned())),
    }
}

/// Microseconds since the epoch as a protobuf timestamp.
pub fn timestamp(micros: i64) -> prost_types::Timestamp {
    prost_types::Timestamp {
        seconds: micros.div_euclid(1_000_000),
        nanos: (micros.rem_euclid(1_000_000) * 1_000) as i32,
    }
}

/// Options of every classifying request: the population's fixed `as_of`, so that every run
/// classifies the same histories the same way.
pub fn options(
    as_of_micros: i64,
    snapshot: pb::SnapshotMode,
    view: pb::ClassificationView,
) -> pb::ClassifyOptions {
    pb::ClassifyOptions {
        as_of: Some(timestamp(as_of_micros)),
        locale: String::new(),
        snapshot: snapshot as i32,
        view: view as i32,
    }
}
