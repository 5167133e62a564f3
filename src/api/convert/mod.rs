//! Pure conversions between the `segmenter.v1` messages and the domain types.
//!
//! Inbound conversions report every bad field, not just the first, as a [`FieldViolation`]
//! whose `field` is the proto path of the offending field under a caller-given prefix:
//! `events[3].order.amount`, `customer.phones[1]`, `customer.pins[0].dimension`, or the
//! message path itself (`events[3].customer`, `events[3].payload`) when a required message or
//! oneof is unset. They return `None` when they reported anything for that input, so a caller
//! can convert a whole batch into one [`Violations`] and answer once. Nothing here reads the
//! clock or the store.
//!
//! [`FieldViolation`]: crate::domain::validate::FieldViolation
//! [`Violations`]: crate::domain::validate::Violations

mod classification;
mod enums;
mod events;
mod predictive;
mod refs_and_customers;
mod time;

pub use classification::{
    assignment_to_proto, classification_codes_to_proto, classification_to_proto, fact_to_proto,
    features_to_proto, present_classification, reason_to_proto, rfm_scores_to_proto,
    snapshot_info_to_proto, Presentation, View,
};
pub use enums::{
    channel_from_pb, channel_to_pb, decision_style_from_pb, decision_style_to_pb,
    dimension_from_pb, dimension_from_proto, dimension_to_pb, dimension_to_proto,
    interaction_kind_from_pb, interaction_kind_to_pb, locale_from_proto, optional_enum,
    plan_from_pb, plan_to_pb, required_enum, survey_kind_from_pb, survey_kind_to_pb,
    ticket_kind_from_pb, ticket_kind_to_pb,
};
pub use events::{event_from_proto, event_to_proto, ConvertedEvent};
pub use predictive::{predictive_model_to_proto, predictive_scores_to_proto, time_unit_to_proto};
pub use refs_and_customers::{
    customer_from_proto, customer_ref_from_proto, customer_ref_to_proto, customer_to_proto,
};
pub use time::{
    optional_timestamp, required_timestamp, timestamp_from_proto, timestamp_to_proto,
    MAX_PROTO_SECONDS, MIN_PROTO_SECONDS,
};
