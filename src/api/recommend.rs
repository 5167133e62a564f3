//! `RecommendAction`: the one handler that needs the playbook's types.

use std::sync::Arc;

use tonic::{Response, Status};

use super::convert::{dimension_to_proto, present_classification};
use super::history::required_ref;
use super::pb;
use super::segmentation::options_from_proto;
use super::status::ApiError;
use crate::app::{App, Contact};
use crate::domain::playbook::{RecommendedAction, Touchpoint};

fn touchpoint_from_proto(raw: i32) -> Result<Touchpoint, ApiError> {
    match pb::Touchpoint::try_from(raw) {
        Ok(pb::Touchpoint::Checkout) => Ok(Touchpoint::Checkout),
        Ok(pb::Touchpoint::InboundCall) => Ok(Touchpoint::InboundCall),
        Ok(pb::Touchpoint::AccountReview) => Ok(Touchpoint::AccountReview),
        Ok(pb::Touchpoint::Campaign) => Ok(Touchpoint::Campaign),
        Ok(pb::Touchpoint::SupportTicket) => Ok(Touchpoint::SupportTicket),
        Ok(pb::Touchpoint::Unspecified) => Err(ApiError::invalid(
            "touchpoint",
            "must be set: CHECKOUT, INBOUND_CALL, ACCOUNT_REVIEW, CAMPAIGN or SUPPORT_TICKET",
        )),
        Err(_) => Err(ApiError::invalid(
            "touchpoint",
            format!("unknown value {raw}"),
        )),
    }
}

fn action_to_proto(action: RecommendedAction) -> pb::Action {
    pb::Action {
        code: action.code,
        title: action.title,
        script: action.script,
        channel: action.channel,
        priority: action.priority,
        offer: action.offer.map(|offer| pb::Offer {
            kind: offer.kind,
            percent: offer.percent,
            days_valid: offer.days_valid,
        }),
        triggers: action
            .triggers
            .into_iter()
            .map(|trigger| pb::Trigger {
                dimension: trigger.dimension.map_or(0, dimension_to_proto),
                code: trigger.code,
            })
            .collect(),
        suppressed: action.suppressed,
        suppression_reason: action.suppression_reason.unwrap_or_default(),
    }
}

pub(super) async fn recommend_action(
    app: &Arc<App>,
    request: &pb::RecommendActionRequest,
) -> Result<Response<pb::RecommendActionResponse>, Status> {
    let reference = required_ref(request.customer.as_ref(), "customer")?;
    let touchpoint = touchpoint_from_proto(request.touchpoint)?;
    let (options, presentation) = options_from_proto(request.options.as_ref(), "options")?;
    let cart_value = request.context.as_ref().and_then(|c| c.cart_value);
    if cart_value.is_some_and(|v| v < 0) {
        return Err(ApiError::invalid("context.cart_value", "must be >= 0").into());
    }
    let contact = Contact {
        touchpoint,
        locale: presentation.locale,
        max_actions: (request.max_actions > 0).then_some(request.max_actions as usize),
        cart_value,
    };
    let (classified, actions) = app
        .recommend(&reference, &options, &contact)
        .await
        .map_err(ApiError::from)?;
    Ok(Response::new(pb::RecommendActionResponse {
        actions: actions.into_iter().map(action_to_proto).collect(),
        classification: Some(present_classification(
            classified.classification,
            &classified.rules.rules,
            presentation,
        )),
    }))
}
