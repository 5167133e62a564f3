//! The one place where errors become `tonic::Status`.
//!
//! Handlers return [`ApiError`]; store errors convert into it with `?`. Bad input becomes
//! `INVALID_ARGUMENT` carrying a `google.rpc.BadRequest` with every field violation, so a client
//! can fix a whole request in one round.

use tonic::{Code, Status};
use tonic_types::{ErrorDetails, StatusExt};

use crate::app::AppError;
use crate::domain::validate::{FieldViolation, Violations};
use crate::store::StoreError;

/// How many violations the status message spells out; the details always carry all of them.
const MESSAGE_VIOLATIONS: usize = 5;

#[derive(Debug, thiserror::Error)]
pub enum ApiError {
    #[error("{}", summarize(.0))]
    InvalidArgument(Vec<FieldViolation>),
    #[error("{0}")]
    NotFound(String),
    #[error("{0}")]
    AlreadyExists(String),
    #[error("{0}")]
    FailedPrecondition(String),
    #[error("{0}")]
    ResourceExhausted(String),
    #[error("{0}")]
    Unavailable(String),
    #[error("{0}")]
    Internal(String),
}

impl ApiError {
    /// One bad field.
    pub fn invalid(field: impl Into<String>, description: impl Into<String>) -> Self {
        ApiError::InvalidArgument(vec![FieldViolation {
            field: field.into(),
            description: description.into(),
        }])
    }

    /// `Ok(())` when nothing was reported, else `INVALID_ARGUMENT` with every violation.
    pub fn check(violations: Violations) -> Result<(), ApiError> {
        violations.into_result().map_err(ApiError::InvalidArgument)
    }

    /// The gRPC code this error is answered with.
    pub fn code(&self) -> Code {
        match self {
            ApiError::InvalidArgument(_) => Code::InvalidArgument,
            ApiError::NotFound(_) => Code::NotFound,
            ApiError::AlreadyExists(_) => Code::AlreadyExists,
            ApiError::FailedPrecondition(_) => Code::FailedPrecondition,
            ApiError::ResourceExhausted(_) => Code::ResourceExhausted,
            ApiError::Unavailable(_) => Code::Unavailable,
            ApiError::Internal(_) => Code::Internal,
        }
    }
}

/// `3 invalid fields: events[0].order.amount: must be >= 0; ...`, the first few spelled out.
fn summarize(violations: &[FieldViolation]) -> String {
    let count = violations.len();
    let noun = if count == 1 { "field" } else { "fields" };
    let listed: Vec<String> = violations
        .iter()
        .take(MESSAGE_VIOLATIONS)
        .map(|v| format!("{}: {}", v.field, v.description))
        .collect();
    let mut message = format!("{count} invalid {noun}: {}", listed.join("; "));
    if count > MESSAGE_VIOLATIONS {
        message.push_str(&format!(
            "; and {} more (see BadRequest details)",
            count - MESSAGE_VIOLATIONS
        ));
    }
    message
}

impl From<Violations> for ApiError {
    fn from(violations: Violations) -> Self {
        ApiError::InvalidArgument(violations.list)
    }
}

impl From<StoreError> for ApiError {
    fn from(error: StoreError) -> Self {
        match error {
            StoreError::EventIdReused { index, event_id } => ApiError::AlreadyExists(format!(
                "events[{index}].event_id: event id {event_id:?} is already stored with other content"
            )),
            StoreError::OrderIdTaken {
                index,
                customer_id,
                order_id,
            } => ApiError::AlreadyExists(format!(
                "events[{index}].order.order_id: order id {order_id:?} is already stored for customer {customer_id:?} under another event id"
            )),
            StoreError::AliasTaken { alias, field } => {
                ApiError::AlreadyExists(format!("{field}: {alias} already belongs to another customer"))
            }
            StoreError::OrderMissing {
                index,
                customer_id,
                order_id,
            } => ApiError::FailedPrecondition(format!(
                "events[{index}].refund.order_id: order {order_id:?} of customer {customer_id:?} is not stored; retry after the order is recorded"
            )),
            StoreError::Invalid(violations) => ApiError::InvalidArgument(violations),
            StoreError::Backend(detail) => {
                // The backend's text may quote SQL and schema names: log it, answer briefly.
                tracing::warn!(error = %detail, "storage backend error");
                ApiError::Unavailable("storage backend unavailable; retry later".to_owned())
            }
        }
    }
}

impl From<AppError> for ApiError {
    fn from(error: AppError) -> Self {
        match error {
            AppError::Invalid(violations) => ApiError::InvalidArgument(violations),
            AppError::NotFound(message) => ApiError::NotFound(message),
            AppError::TooLarge(message) => ApiError::ResourceExhausted(message),
            AppError::Store(error) => error.into(),
            AppError::Internal(detail) => {
                tracing::error!(error = %detail, "internal error");
                ApiError::Internal("internal error".to_owned())
            }
        }
    }
}

impl From<ApiError> for Status {
    fn from(error: ApiError) -> Self {
        let code = error.code();
        let message = error.to_string();
        match error {
            ApiError::InvalidArgument(violations) => {
                let details: Vec<tonic_types::FieldViolation> = violations
                    .into_iter()
                    .map(|v| tonic_types::FieldViolation::new(v.field, v.description))
                    .collect();
                Status::with_error_details(code, message, ErrorDetails::with_bad_request(details))
            }
            ApiError::Internal(_) => {
                tracing::error!(error = %message, "internal error");
                Status::new(code, message)
            }
            _ => Status::new(code, message),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn violation(field: &str, description: &str) -> FieldViolation {
        FieldViolation {
            field: field.into(),
            description: description.into(),
        }
    }

    #[test]
    fn every_variant_maps_to_its_code() {
        let cases = [
            (
                ApiError::invalid("customer", "must be set"),
                Code::InvalidArgument,
            ),
            (ApiError::NotFound("no customer c-1".into()), Code::NotFound),
            (ApiError::AlreadyExists("taken".into()), Code::AlreadyExists),
            (
                ApiError::FailedPrecondition("order missing".into()),
                Code::FailedPrecondition,
            ),
            (
                ApiError::ResourceExhausted("too many".into()),
                Code::ResourceExhausted,
            ),
            (ApiError::Unavailable("down".into()), Code::Unavailable),
            (ApiError::Internal("bug".into()), Code::Internal),
        ];
        for (error, code) in cases {
            let text = error.to_string();
            let status = Status::from(error);
            assert_eq!(status.code(), code);
            assert_eq!(status.message(), text);
        }
    }

    #[test]
    fn bad_request_details_carry_every_violation() {
        let violations = vec![
            violation("events[0].order.amount", "must be >= 0"),
            violation(
                "events[0].order.currency",
                "currency \"USD\" is not the reporting currency CNY",
            ),
            violation("events[0].order.channel", "unknown value 42"),
        ];
        let status = Status::from(ApiError::InvalidArgument(violations.clone()));
        assert_eq!(status.code(), Code::InvalidArgument);
        assert_eq!(
            status.message(),
            "3 invalid fields: events[0].order.amount: must be >= 0; events[0].order.currency: \
             currency \"USD\" is not the reporting currency CNY; events[0].order.channel: unknown value 42"
        );
        let details = status.get_details_bad_request().unwrap();
        let decoded: Vec<FieldViolation> = details
            .field_violations
            .into_iter()
            .map(|v| violation(&v.field, &v.description))
            .collect();
        assert_eq!(decoded, violations);
    }

    #[test]
    fn long_lists_are_summarised_in_the_message_but_complete_in_the_details() {
        let violations: Vec<_> = (0..8)
            .map(|i| violation(&format!("events[{i}].event_id"), "must not be empty"))
            .collect();
        let status = Status::from(ApiError::InvalidArgument(violations));
        assert!(status
            .message()
            .starts_with("8 invalid fields: events[0].event_id"));
        assert!(
            status
                .message()
                .ends_with("and 3 more (see BadRequest details)"),
            "{}",
            status.message()
        );
        assert!(!status.message().contains("events[5]"));
        assert_eq!(
            status
                .get_details_bad_request()
                .unwrap()
                .field_violations
                .len(),
            8
        );
    }

    #[test]
    fn one_violation_reads_singular() {
        let status = Status::from(ApiError::invalid(
            "options.locale",
            "unsupported locale \"fr\"",
        ));
        assert_eq!(
            status.message(),
            "1 invalid field: options.locale: unsupported locale \"fr\""
        );
    }

    #[test]
    fn violations_convert_and_check() {
        assert!(ApiError::check(Violations::default()).is_ok());
        let mut v = Violations::default();
        v.add("customer", "must be set");
        let error = ApiError::check(v).unwrap_err();
        assert!(matches!(&error, ApiError::InvalidArgument(list) if list.len() == 1));
        let mut v = Violations::default();
        v.add("a", "b");
        assert!(matches!(ApiError::from(v), ApiError::InvalidArgument(_)));
    }

    #[test]
    fn store_errors_map_to_codes_and_name_the_ids() {
        let reused = ApiError::from(StoreError::EventIdReused {
            index: 2,
            event_id: "e-9".into(),
        });
        assert!(
            matches!(&reused, ApiError::AlreadyExists(m) if m.contains("events[2].event_id") && m.contains("e-9"))
        );

        let taken = ApiError::from(StoreError::OrderIdTaken {
            index: 1,
            customer_id: "c-1".into(),
            order_id: "o-7".into(),
        });
        assert!(
            matches!(&taken, ApiError::AlreadyExists(m) if m.contains("events[1].order.order_id") && m.contains("o-7") && m.contains("c-1"))
        );

        let alias = ApiError::from(StoreError::AliasTaken {
            alias: "phone +8613800000000".into(),
            field: "customer.phones[0]".into(),
        });
        assert!(
            matches!(&alias, ApiError::AlreadyExists(m) if m.starts_with("customer.phones[0]: phone +8613800000000"))
        );

        let missing = ApiError::from(StoreError::OrderMissing {
            index: 0,
            customer_id: "c-1".into(),
            order_id: "o-1".into(),
        });
        assert!(
            matches!(&missing, ApiError::FailedPrecondition(m) if m.contains("events[0].refund.order_id") && m.contains("o-1"))
        );

        let invalid = ApiError::from(StoreError::Invalid(vec![violation(
            "events[0].refund.amount",
            "exceeds what is left",
        )]));
        let status = Status::from(invalid);
        assert_eq!(status.code(), Code::InvalidArgument);
        assert_eq!(
            status.get_details_bad_request().unwrap().field_violations[0].field,
            "events[0].refund.amount"
        );

        let codes: Vec<Code> = [reused, taken, alias, missing]
            .into_iter()
            .map(|e| Status::from(e).code())
            .collect();
        assert_eq!(
            codes,
            [
                Code::AlreadyExists,
                Code::AlreadyExists,
                Code::AlreadyExists,
                Code::FailedPrecondition
            ]
        );
    }

    #[test]
    fn backend_errors_do_not_leak_sql() {
        let error = ApiError::from(StoreError::Backend(
            "error returned from database: UNIQUE constraint failed: events.event_id".into(),
        ));
        let status = Status::from(error);
        assert_eq!(status.code(), Code::Unavailable);
        assert!(!status.message().contains("UNIQUE"));
        assert!(!status.message().contains("events."));
    }
}
