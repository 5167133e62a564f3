//! `GetPredictiveModel`: validate, convert, delegate.

use tonic::{Response, Status};

use super::convert::{optional_timestamp, predictive_model_to_proto};
use super::pb;
use super::status::ApiError;
use crate::app::App;
use crate::domain::validate::Violations;

pub(super) async fn get_predictive_model(
    app: &App,
    request: &pb::GetPredictiveModelRequest,
) -> Result<Response<pb::GetPredictiveModelResponse>, Status> {
    let mut violations = Violations::default();
    let as_of = optional_timestamp(request.as_of.as_ref(), "as_of", &mut violations);
    ApiError::check(violations)?;
    let model = app
        .predictive_model(as_of.flatten())
        .await
        .map_err(ApiError::from)?;
    Ok(Response::new(predictive_model_to_proto(
        &model.snapshot,
        &model.rules.version,
    )))
}
