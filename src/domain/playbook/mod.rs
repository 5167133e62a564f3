//! The playbook (spec section 4): which actions a classification calls for at a touchpoint.
//!
//! A playbook row says when it applies (`when` all hold, no `unless` holds, at one of its
//! touchpoints) and what to do. Several rows may share one action code: that is how several
//! segments trigger the same action, which is then returned once naming all of them.

mod check;
mod conditions;
mod engine;
#[cfg(test)]
mod tests;

use serde::{Deserialize, Serialize};

use super::dimensions::Dimension;
use super::history::code_enum;
use super::rules::LocalizedText;

pub(crate) use check::{check_playbook, check_text};
pub use conditions::{Condition, SpecialCondition, TouchpointSet};
pub use engine::{recommend, ActionRequest};

code_enum!(
    /// Where the customer is met when actions are asked for.
    Touchpoint {
        Checkout => "CHECKOUT",
        InboundCall => "INBOUND_CALL",
        AccountReview => "ACCOUNT_REVIEW",
        Campaign => "CAMPAIGN",
        SupportTicket => "SUPPORT_TICKET",
    }
);

impl Touchpoint {
    /// The customer started this contact (a purchase, a call, a ticket): answering it is never
    /// an outbound contact, so the contact policy does not apply here.
    pub fn is_customer_initiated(self) -> bool {
        matches!(
            self,
            Touchpoint::Checkout | Touchpoint::InboundCall | Touchpoint::SupportTicket
        )
    }

    /// The channel an action with channel `TOUCHPOINT` uses here: the medium of the contact.
    pub fn own_channel(self) -> &'static str {
        match self {
            Touchpoint::Checkout => "IN_PAGE",
            Touchpoint::InboundCall => "PHONE",
            Touchpoint::AccountReview => "ACCOUNT_MANAGER",
            Touchpoint::Campaign => "EMAIL",
            Touchpoint::SupportTicket => "TICKET_REPLY",
        }
    }
}

/// The row channel that stands for "the touchpoint's own medium" (see `Touchpoint::own_channel`).
pub const TOUCHPOINT_CHANNEL: &str = "TOUCHPOINT";

/// An offer attached to an action.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Offer {
    /// e.g. `DISCOUNT`, `COUPON`, `CREDIT`, `UPGRADE`, `GIFT`, `TRIAL`.
    pub kind: String,
    /// Percent off; 0 when the offer is not a percentage.
    #[serde(default)]
    pub percent: u32,
    pub days_valid: u32,
}

/// One row of the playbook.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PlaybookRow {
    /// Stable action code; rows sharing a code describe the same action.
    pub code: String,
    /// Every condition must hold.
    pub when: Vec<Condition>,
    /// No condition may hold.
    #[serde(default)]
    pub unless: Vec<Condition>,
    /// `"ANY"` or a list of touchpoints.
    pub touchpoints: TouchpointSet,
    /// 1 is most urgent; ties keep row order.
    pub priority: u32,
    /// e.g. `PHONE`, `EMAIL`, `SMS`, `IN_PAGE`, or `TOUCHPOINT` for the touchpoint's own medium.
    pub channel: String,
    /// The action reaches out to the customer, so the contact policy applies to it (except at
    /// touchpoints the customer started).
    pub contacts_customer: bool,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub offer: Option<Offer>,
    pub title: LocalizedText,
    pub script: LocalizedText,
}

/// A segment (or a non-segment rule such as `BIRTHDAY`) that triggered an action.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Trigger {
    /// `None` for non-segment rules.
    pub dimension: Option<Dimension>,
    pub code: String,
}

/// One recommended action, its texts already in the request's locale.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct RecommendedAction {
    pub code: String,
    pub title: String,
    pub script: String,
    pub channel: String,
    pub priority: u32,
    pub offer: Option<Offer>,
    /// Every segment that triggered it, in row order, each once.
    pub triggers: Vec<Trigger>,
    /// The contact policy holds it back; it is still listed so the caller sees why.
    pub suppressed: bool,
    pub suppression_reason: Option<String>,
}
