//! What is stored about a customer: the profile with its aliases, and the events (spec section 1).

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use super::dimensions::Dimension;
use super::time::Timestamp;

/// Declares a closed set of stable codes, serialised as those codes (`"PAID"`, `"WEB"`, ...).
macro_rules! code_enum {
    ($(#[$meta:meta])* $name:ident { $($(#[$vmeta:meta])* $variant:ident => $code:literal),+ $(,)? }) => {
        $(#[$meta])*
        #[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
        pub enum $name {
            $($(#[$vmeta])* #[serde(rename = $code)] $variant),+
        }

        impl $name {
            pub const ALL: &'static [$name] = &[$($name::$variant),+];

            pub const fn code(self) -> &'static str {
                match self { $($name::$variant => $code),+ }
            }

            pub fn from_code(code: &str) -> Option<Self> {
                match code { $($code => Some($name::$variant),)+ _ => None }
            }
        }

        impl std::fmt::Display for $name {
            fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                f.write_str(self.code())
            }
        }
    };
}
pub(crate) use code_enum;

code_enum!(Plan { Free => "FREE", Trial => "TRIAL", Paid => "PAID" });
code_enum!(DecisionStyle { Rational => "RATIONAL", Emotional => "EMOTIONAL" });
code_enum!(Channel {
    Web => "WEB", App => "APP", Store => "STORE", Phone => "PHONE", Dealer => "DEALER",
});
code_enum!(InteractionKind {
    ProductView => "PRODUCT_VIEW",
    Comparison => "COMPARISON",
    ReviewRead => "REVIEW_READ",
    SiteVisit => "SITE_VISIT",
    StoreVisit => "STORE_VISIT",
    InboundCall => "INBOUND_CALL",
    Chat => "CHAT",
    OutboundContact => "OUTBOUND_CONTACT",
});
code_enum!(TicketKind {
    Question => "QUESTION", Complaint => "COMPLAINT", Claim => "CLAIM", Escalation => "ESCALATION",
});
code_enum!(SurveyKind { Csat => "CSAT", Nps => "NPS", Ces => "CES" });

impl TicketKind {
    /// COMPLAINT and CLAIM are "complaint tickets" in the spec.
    pub fn is_complaint(self) -> bool {
        matches!(self, TicketKind::Complaint | TicketKind::Claim)
    }
}

impl SurveyKind {
    /// The inclusive score range of the survey kind.
    pub fn score_range(self) -> (u32, u32) {
        match self {
            SurveyKind::Csat => (1, 5),
            SurveyKind::Nps => (0, 10),
            SurveyKind::Ces => (1, 7),
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub struct Birthday {
    pub month: u32,
    pub day: u32,
}

#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub struct ExternalId {
    pub system: String,
    pub key: String,
}

/// How a caller names a customer; every form resolves to the same customer id.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum CustomerRef {
    Id(String),
    Phone(String),
    Email(String),
    External(ExternalId),
}

/// The upserted profile of a customer. Aliases are stored normalised.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct CustomerProfile {
    pub id: String,
    pub display_name: Option<String>,
    pub birthday: Option<Birthday>,
    pub region: Option<String>,
    pub plan: Option<Plan>,
    pub decision_style: Option<DecisionStyle>,
    pub phones: Vec<String>,
    pub emails: Vec<String>,
    pub external_ids: Vec<ExternalId>,
    pub attributes: BTreeMap<String, String>,
    /// A person's choice of segment code per dimension; wins over the rules.
    pub pins: BTreeMap<Dimension, String>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Order {
    pub order_id: String,
    pub amount: i64,
    pub cost: Option<i64>,
    pub discount_amount: i64,
    pub coupon_code: Option<String>,
    pub units: u32,
    pub categories: Vec<String>,
    pub channel: Option<Channel>,
    pub consideration_seconds: Option<u64>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Refund {
    pub order_id: String,
    pub amount: i64,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct TicketUpdate {
    pub ticket_id: String,
    pub kind: TicketKind,
    pub sentiment: Option<f64>,
    pub resolved: bool,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "SCREAMING_SNAKE_CASE")]
pub enum EventPayload {
    Order(Order),
    Refund(Refund),
    Interaction {
        kind: InteractionKind,
        channel: Option<Channel>,
    },
    SupportTicket(TicketUpdate),
    Survey {
        kind: SurveyKind,
        score: u32,
    },
    Review {
        rating: u32,
    },
    Referral {
        referred_id: Option<String>,
    },
    PlanChange {
        plan: Plan,
    },
}

impl EventPayload {
    pub fn type_code(&self) -> &'static str {
        match self {
            EventPayload::Order(_) => "ORDER",
            EventPayload::Refund(_) => "REFUND",
            EventPayload::Interaction { .. } => "INTERACTION",
            EventPayload::SupportTicket(_) => "SUPPORT_TICKET",
            EventPayload::Survey { .. } => "SURVEY",
            EventPayload::Review { .. } => "REVIEW",
            EventPayload::Referral { .. } => "REFERRAL",
            EventPayload::PlanChange { .. } => "PLAN_CHANGE",
        }
    }
}

/// One stored fact. `customer_id` is already resolved from whatever reference the writer used.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Event {
    pub event_id: String,
    pub customer_id: String,
    pub at: Timestamp,
    pub payload: EventPayload,
}

impl Event {
    /// Canonical content used to tell a retry (same content) from a conflicting reuse of an id.
    pub fn content_fingerprint(&self) -> String {
        // serde_json of plain data with fixed field order is stable across runs and backends.
        serde_json::to_string(self).unwrap_or_default()
    }
}

/// Everything stored about one customer: what features are computed from.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct History {
    pub profile: Option<CustomerProfile>,
    /// In any order; feature computation does not rely on storage order.
    pub events: Vec<Event>,
}

impl History {
    /// An unknown customer has neither a profile nor events.
    pub fn is_known(&self) -> bool {
        self.profile.is_some() || !self.events.is_empty()
    }
}
