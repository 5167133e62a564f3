//! The interchange records of spec section 6: one JSON object per line (NDJSON), or the same
//! records as CSV rows, to and from the domain types. Parsing applies the API's validation
//! (`normalize_profile`, `check_event`, `check_currency`) and reports every bad field at once,
//! under the record's own field names (`amount`, not `order.amount`).
//!
//! Instants: RFC 3339 with any offset is accepted and converted to UTC (an offset is
//! unambiguous, so refusing it would only annoy writers); exports always write UTC (`Z`).
//! Precision below a microsecond is truncated.

mod csv_form;
mod fields;
#[cfg(test)]
mod tests;
mod write;

use std::collections::BTreeMap;

use serde_json::{Map, Value};

use crate::domain::dimensions::Dimension;
use crate::domain::history::{
    Birthday, Channel, CustomerProfile, DecisionStyle, Event, EventPayload, InteractionKind, Order,
    Plan, Refund, SurveyKind, TicketKind, TicketUpdate,
};
use crate::domain::time::Timestamp;
use crate::domain::validate::{
    check_currency, check_event, normalize_profile, FieldViolation, Violations,
};

pub use csv_form::{csv_columns, CsvLayout};
pub use write::{to_ndjson, to_ndjson_in};

use fields::Fields;

/// One line of an interchange file.
#[derive(Debug, Clone, PartialEq)]
pub enum Record {
    Profile(CustomerProfile),
    Event(Event),
}

/// The record types (`type` field), in spec order.
pub const RECORD_TYPES: &[&str] = &[
    "PROFILE",
    "ORDER",
    "REFUND",
    "INTERACTION",
    "SUPPORT_TICKET",
    "SURVEY",
    "REVIEW",
    "REFERRAL",
    "PLAN_CHANGE",
];

/// Parses and validates one NDJSON line. `now` bounds event instants (5 minutes of skew).
pub fn parse_ndjson_line(
    line: &str,
    reporting_currency: &str,
    now: Timestamp,
) -> Result<Record, Vec<FieldViolation>> {
    match serde_json::from_str::<Value>(line) {
        Ok(Value::Object(map)) => parse_fields(map, reporting_currency, now),
        Ok(_) => Err(vec![violation("json", "a record must be a JSON object")]),
        Err(error) => Err(vec![violation("json", format!("not valid JSON: {error}"))]),
    }
}

/// Parses and validates one record given as a field map (an NDJSON object or a CSV row).
pub(crate) fn parse_fields(
    map: Map<String, Value>,
    reporting_currency: &str,
    now: Timestamp,
) -> Result<Record, Vec<FieldViolation>> {
    let mut fields = Fields::new(map);
    let record_type = fields.required_string("type");
    let mut record = match record_type.as_deref() {
        None => return Err(fields.violations.list),
        Some("PROFILE") => Record::Profile(read_profile(&mut fields)),
        Some(event_type) if RECORD_TYPES.contains(&event_type) => {
            Record::Event(read_event(event_type, &mut fields, reporting_currency))
        }
        Some(other) => {
            fields.violations.add(
                "type",
                format!("{other:?} is not a record type; expected one of {RECORD_TYPES:?}"),
            );
            return Err(fields.violations.list);
        }
    };
    fields.reject_unknown(record_type.as_deref().unwrap_or_default());

    // The domain checks run even when a field was unreadable (it holds a placeholder then),
    // so every bad field is reported in one go; a field is reported once.
    let mut domain = Violations::default();
    match &mut record {
        Record::Profile(profile) => normalize_profile(profile, "", &mut domain),
        Record::Event(event) => check_event(event, "", now, &mut domain),
    }
    let mut all = fields.violations.list;
    for violation in domain.list {
        let field = wire_field(&violation.field);
        if !all.iter().any(|v| v.field == field) {
            all.push(FieldViolation {
                field,
                description: violation.description,
            });
        }
    }
    if all.is_empty() {
        Ok(record)
    } else {
        Err(all)
    }
}

/// The interchange field name of a domain or API field path, e.g. `events[3].order.amount` ->
/// `amount`, `occurred_at` -> `at`: so a rejected line names the field as the file spells it.
pub fn wire_field(path: &str) -> String {
    let mut rest = path;
    if let Some(after) = rest.strip_prefix("events[") {
        if let Some((_, tail)) = after.split_once("].") {
            rest = tail;
        }
    }
    for payload in [
        "order.",
        "refund.",
        "interaction.",
        "support_ticket.",
        "survey.",
        "review.",
        "referral.",
        "plan_change.",
    ] {
        if let Some(tail) = rest.strip_prefix(payload) {
            rest = tail;
        }
    }
    match rest {
        "occurred_at" => "at".to_owned(),
        "customer" => "customer_id".to_owned(),
        "birthday.month" | "birthday.day" => "birthday".to_owned(),
        // `customer.phones[0]`: the profile of an upsert request.
        other => other.strip_prefix("customer.").unwrap_or(other).to_owned(),
    }
}

fn violation(field: &str, description: impl Into<String>) -> FieldViolation {
    FieldViolation {
        field: field.to_owned(),
        description: description.into(),
    }
}

/// "MM-DD", both parts two digits; the month/day ranges are checked by `normalize_profile`.
fn parse_birthday(text: &str) -> Option<Birthday> {
    let (month, day) = text.split_once('-')?;
    let two_digits = |s: &str| s.len() == 2 && s.bytes().all(|b| b.is_ascii_digit());
    if !two_digits(month) || !two_digits(day) {
        return None;
    }
    Some(Birthday {
        month: month.parse().ok()?,
        day: day.parse().ok()?,
    })
}

fn read_profile(fields: &mut Fields) -> CustomerProfile {
    let id = fields.required_string("id");
    let display_name = fields.string("display_name");
    let plan = fields.code("plan", Plan::from_code, Plan::ALL);
    let birthday = fields.string("birthday").and_then(|text| {
        let parsed = parse_birthday(&text);
        if parsed.is_none() {
            fields.violations.add(
                "birthday",
                format!("{text:?} is not a month and day as MM-DD"),
            );
        }
        parsed
    });
    let decision_style = fields.code(
        "decision_style",
        DecisionStyle::from_code,
        DecisionStyle::ALL,
    );
    let region = fields.string("region");
    let phones = fields.string_list("phones");
    let emails = fields.string_list("emails");
    let external_ids = fields.external_ids();
    let attributes = fields.string_map("attributes");
    let mut pins = BTreeMap::new();
    for (key, code) in fields.string_map("pins") {
        match Dimension::from_code(&key) {
            Some(dimension) => {
                pins.insert(dimension, code);
            }
            None => fields.violations.add(
                format!("pins.{key}"),
                format!(
                    "{key:?} is not a dimension; expected one of {:?}",
                    dimension_codes()
                ),
            ),
        }
    }
    CustomerProfile {
        id: id.unwrap_or_default(),
        display_name,
        birthday,
        region,
        plan,
        decision_style,
        phones,
        emails,
        external_ids,
        attributes,
        pins,
    }
}

fn dimension_codes() -> Vec<&'static str> {
    Dimension::ALL.iter().map(|d| d.code()).collect()
}

/// The event of a line whose `type` is an event type; `None` when a required part is unreadable.
fn read_event(record_type: &str, fields: &mut Fields, reporting_currency: &str) -> Event {
    let event_id = fields.required_string("event_id");
    let customer_id = fields.required_string("customer_id");
    let at = fields.required_string("at").and_then(|text| {
        let parsed = parse_instant(&text);
        if parsed.is_none() {
            fields.violations.add(
                "at",
                format!("{text:?} is not an RFC 3339 instant such as 2025-06-30T12:00:00Z"),
            );
        }
        parsed
    });
    if matches!(record_type, "ORDER" | "REFUND") {
        if let Some(currency) = fields.string("currency") {
            check_currency(
                &currency,
                reporting_currency,
                "currency",
                &mut fields.violations,
            );
        }
    }
    Event {
        event_id: event_id.unwrap_or_default(),
        customer_id: customer_id.unwrap_or_default(),
        at: at.unwrap_or(Timestamp::from_micros(0)),
        payload: read_payload(record_type, fields),
    }
}

/// Unreadable required parts get placeholders (already reported) so that the domain checks
/// still run on the rest; NPS stands in for an unknown survey kind, as its score range
/// contains the others'.
fn read_payload(record_type: &str, f: &mut Fields) -> EventPayload {
    let channel = |f: &mut Fields| f.code("channel", Channel::from_code, Channel::ALL);
    match record_type {
        "ORDER" => {
            let order_id = f.required_string("order_id").unwrap_or_default();
            let amount = f.required("amount", Fields::int).unwrap_or(0);
            let cost = f.int("cost");
            let discount_amount = f.int("discount_amount").unwrap_or(0);
            let coupon_code = f.string("coupon_code").filter(|c| !c.is_empty());
            let units = f.required("units", Fields::u32).unwrap_or(1);
            let categories = f.string_list("categories");
            let channel = channel(f);
            let consideration_seconds = f.unsigned("consideration_seconds", u64::MAX);
            EventPayload::Order(Order {
                order_id,
                amount,
                cost,
                discount_amount,
                coupon_code,
                units,
                categories,
                channel,
                consideration_seconds,
            })
        }
        "REFUND" => EventPayload::Refund(Refund {
            order_id: f.required_string("order_id").unwrap_or_default(),
            amount: f.required("amount", Fields::int).unwrap_or(1),
        }),
        "INTERACTION" => EventPayload::Interaction {
            kind: f
                .required("kind", |f, n| {
                    f.code(n, InteractionKind::from_code, InteractionKind::ALL)
                })
                .unwrap_or(InteractionKind::SiteVisit),
            channel: channel(f),
        },
        "SUPPORT_TICKET" => EventPayload::SupportTicket(TicketUpdate {
            ticket_id: f.required_string("ticket_id").unwrap_or_default(),
            kind: f
                .required("kind", |f, n| {
                    f.code(n, TicketKind::from_code, TicketKind::ALL)
                })
                .unwrap_or(TicketKind::Question),
            sentiment: f.float("sentiment"),
            resolved: f.bool("resolved").unwrap_or(false),
        }),
        "SURVEY" => EventPayload::Survey {
            kind: f
                .required("kind", |f, n| {
                    f.code(n, SurveyKind::from_code, SurveyKind::ALL)
                })
                .unwrap_or(SurveyKind::Nps),
            score: f.required("score", Fields::u32).unwrap_or(0),
        },
        "REVIEW" => EventPayload::Review {
            rating: f.required("rating", Fields::u32).unwrap_or(1),
        },
        "REFERRAL" => EventPayload::Referral {
            referred_id: f.string("referred_id"),
        },
        _ => EventPayload::PlanChange {
            plan: f
                .required("plan", |f, n| f.code(n, Plan::from_code, Plan::ALL))
                .unwrap_or(Plan::Free),
        },
    }
}

/// RFC 3339 with any offset, converted to UTC microseconds.
pub fn parse_instant(text: &str) -> Option<Timestamp> {
    Timestamp::parse_rfc3339(text)
}
