use crate::domain::validate::FieldViolation;
use crate::store::StoreError;

/// Errors of the use-case layer; `api::status` maps them to gRPC codes.
#[derive(Debug, thiserror::Error)]
pub enum AppError {
    #[error("invalid input")]
    Invalid(Vec<FieldViolation>),
    #[error("{0}")]
    NotFound(String),
    #[error("{0}")]
    TooLarge(String),
    #[error(transparent)]
    Store(#[from] StoreError),
    /// A bug or a lost worker thread; the message is for logs.
    #[error("{0}")]
    Internal(String),
}

impl AppError {
    pub fn invalid(field: impl Into<String>, description: impl Into<String>) -> Self {
        AppError::Invalid(vec![FieldViolation {
            field: field.into(),
            description: description.into(),
        }])
    }
}
