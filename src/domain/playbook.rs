//! The playbook (spec section 4): which actions a classification calls for at a touchpoint.

use serde::{Deserialize, Serialize};

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct PlaybookRow {
    pub code: String,
}
