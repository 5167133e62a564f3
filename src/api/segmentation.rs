//! `segmenter.v1.SegmentationService`: validate, convert, delegate.

use std::sync::Arc;

use tokio::sync::mpsc;
use tokio_stream::wrappers::ReceiverStream;
use tonic::{Request, Response, Status, Streaming};

use super::convert::{
    dimension_from_proto, dimension_to_proto, locale_from_proto, optional_timestamp,
    snapshot_info_to_proto, Presentation, View,
};
use super::history::required_ref;
use super::pb;
use super::status::ApiError;
use crate::app::{App, ClassifyOptions, SnapshotChoice};
use crate::domain::validate::{path, FieldPath, Violations};

/// Results buffered per streaming call before the sender waits for the client to read.
const STREAM_BUFFER: usize = 16;

pub struct SegmentationApi {
    app: Arc<App>,
}

impl SegmentationApi {
    pub fn new(app: Arc<App>) -> Self {
        Self { app }
    }
}

/// The shared options of every classifying request.
pub(super) fn options_from_proto(
    options: Option<&pb::ClassifyOptions>,
    prefix: &str,
) -> Result<(ClassifyOptions, Presentation), ApiError> {
    let Some(options) = options else {
        return Ok((ClassifyOptions::default(), Presentation::default()));
    };
    let mut violations = Violations::default();
    let as_of = optional_timestamp(
        options.as_of.as_ref(),
        FieldPath::new(prefix, "as_of"),
        &mut violations,
    );
    let locale = locale_from_proto(
        &options.locale,
        FieldPath::new(prefix, "locale"),
        &mut violations,
    );
    let view = match pb::ClassificationView::try_from(options.view) {
        Ok(pb::ClassificationView::Unspecified | pb::ClassificationView::Full) => View::Full,
        Ok(pb::ClassificationView::Codes) => View::Codes,
        Err(_) => {
            violations.add(
                path(prefix, "view"),
                format!("unknown value {}", options.view),
            );
            View::Full
        }
    };
    let snapshot = match pb::SnapshotMode::try_from(options.snapshot) {
        Ok(pb::SnapshotMode::Unspecified | pb::SnapshotMode::Current) => SnapshotChoice::Current,
        Ok(pb::SnapshotMode::AtAsOf) => SnapshotChoice::AtAsOf,
        Err(_) => {
            violations.add(
                path(prefix, "snapshot"),
                format!("unknown value {}", options.snapshot),
            );
            SnapshotChoice::Current
        }
    };
    ApiError::check(violations)?;
    let as_of = as_of.flatten();
    if snapshot == SnapshotChoice::AtAsOf && as_of.is_none() {
        return Err(ApiError::invalid(
            path(prefix, "as_of"),
            "is required with SNAPSHOT_MODE_AT_AS_OF",
        ));
    }
    Ok((
        ClassifyOptions {
            as_of,
            snapshot,
            codes_only: view == View::Codes,
        },
        Presentation {
            locale: locale.unwrap_or_default(),
            view,
        },
    ))
}

type ResponseStream<T> = ReceiverStream<Result<T, Status>>;

#[tonic::async_trait]
impl pb::segmentation_service_server::SegmentationService for SegmentationApi {
    async fn classify(
        &self,
        request: Request<pb::ClassifyRequest>,
    ) -> Result<Response<pb::ClassifyResponse>, Status> {
        let request = request.get_ref();
        let reference = required_ref(request.customer.as_ref(), "customer")?;
        let (options, presentation) = options_from_proto(request.options.as_ref(), "options")?;
        let classified = self
            .app
            .classify(&reference, &options)
            .await
            .map_err(ApiError::from)?;
        Ok(Response::new(pb::ClassifyResponse::written(
            &classified.classification,
            &classified.rules,
            presentation,
        )))
    }

    type BatchClassifyStream = ResponseStream<pb::BatchClassifyResponse>;

    async fn batch_classify(
        &self,
        request: Request<Streaming<pb::BatchClassifyRequest>>,
    ) -> Result<Response<Self::BatchClassifyStream>, Status> {
        let mut input = request.into_inner();
        let (tx, rx) = mpsc::channel(STREAM_BUFFER);
        let app = self.app.clone();
        tokio::spawn(async move {
            if let Err(status) = super::batch::run_batch(app, &mut input, &tx).await {
                let _ = tx.send(Err(status)).await;
            }
        });
        Ok(Response::new(ReceiverStream::new(rx)))
    }

    async fn recommend_action(
        &self,
        request: Request<pb::RecommendActionRequest>,
    ) -> Result<Response<pb::RecommendActionResponse>, Status> {
        super::recommend::recommend_action(&self.app, request.get_ref()).await
    }

    type ListSegmentMembersStream = ResponseStream<pb::ListSegmentMembersResponse>;

    async fn list_segment_members(
        &self,
        request: Request<pb::ListSegmentMembersRequest>,
    ) -> Result<Response<Self::ListSegmentMembersStream>, Status> {
        let request = request.into_inner();
        let mut violations = Violations::default();
        let dimension = dimension_from_proto(request.dimension, "dimension", &mut violations);
        if let Some(dimension) = dimension {
            if !dimension.has_segment(&request.segment_code) {
                violations.add(
                    "segment_code",
                    format!(
                        "{:?} is not a segment of {}; expected one of {:?}",
                        request.segment_code,
                        dimension.code(),
                        dimension.segment_codes()
                    ),
                );
            }
        }
        ApiError::check(violations)?;
        let dimension = dimension.ok_or_else(|| ApiError::invalid("dimension", "is required"))?;
        let (options, presentation) = options_from_proto(request.options.as_ref(), "options")?;
        let locale = presentation.locale;
        let mut scan = self
            .app
            .start_scan(&options)
            .await
            .map_err(ApiError::from)?;

        let (tx, rx) = mpsc::channel(STREAM_BUFFER);
        let app = self.app.clone();
        tokio::spawn(async move {
            loop {
                let page = match app.next_page(&mut scan).await {
                    Ok(Some(page)) => page,
                    Ok(None) => return,
                    Err(error) => {
                        let _ = tx.send(Err(ApiError::from(error).into())).await;
                        return;
                    }
                };
                for classified in page {
                    let assignment = classified.classification.assignment(dimension);
                    if assignment.code != request.segment_code {
                        continue;
                    }
                    let member = pb::ListSegmentMembersResponse {
                        customer_id: classified.classification.customer_id.clone(),
                        assignment: Some(super::convert::assignment_to_proto(
                            assignment,
                            &classified.rules.rules,
                            locale,
                        )),
                    };
                    if tx.send(Ok(member)).await.is_err() {
                        return; // the client went away
                    }
                }
            }
        });
        Ok(Response::new(ReceiverStream::new(rx)))
    }

    async fn get_segment_stats(
        &self,
        request: Request<pb::GetSegmentStatsRequest>,
    ) -> Result<Response<pb::GetSegmentStatsResponse>, Status> {
        let (options, presentation) =
            options_from_proto(request.get_ref().options.as_ref(), "options")?;
        let locale = presentation.locale;
        let stats = self
            .app
            .segment_stats(&options)
            .await
            .map_err(ApiError::from)?;
        let rules = &stats.rules.rules;
        let dimensions = stats
            .counts
            .iter()
            .map(|(dimension, counts)| pb::DimensionStats {
                dimension: dimension_to_proto(*dimension),
                // In the dimension's own order (best segment first), not alphabetically.
                segments: dimension
                    .segment_codes()
                    .iter()
                    .map(|code| pb::SegmentCount {
                        code: (*code).to_owned(),
                        display_name: rules.display_name(*dimension, code, locale).to_owned(),
                        customers: counts.get(*code).copied().unwrap_or(0),
                    })
                    .collect(),
            })
            .collect();
        Ok(Response::new(pb::GetSegmentStatsResponse {
            customers: stats.customers,
            dimensions,
            snapshot: Some(snapshot_info_to_proto(&stats.snapshot)),
            rule_set_version: stats.rules.version.clone(),
        }))
    }

    async fn refresh_snapshot(
        &self,
        _request: Request<pb::RefreshSnapshotRequest>,
    ) -> Result<Response<pb::RefreshSnapshotResponse>, Status> {
        let stats = self.app.refresh_snapshot().await.map_err(ApiError::from)?;
        Ok(Response::new(pb::RefreshSnapshotResponse {
            snapshot: Some(snapshot_info_to_proto(&stats.info)),
        }))
    }

    async fn get_predictive_model(
        &self,
        request: Request<pb::GetPredictiveModelRequest>,
    ) -> Result<Response<pb::GetPredictiveModelResponse>, Status> {
        super::predictive::get_predictive_model(&self.app, request.get_ref()).await
    }
}
