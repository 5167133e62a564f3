//! Builders of requests: customer references, profiles, and events whose instants are
//! relative to the fixed "now" of the test server.

#![allow(dead_code)]

use prost_types::Timestamp as PbTimestamp;
use segmenter::api::pb;
use segmenter::api::pb::event::Payload;

// ---- customer references ----

pub fn by_id(id: &str) -> pb::CustomerRef {
    pb::CustomerRef {
        kind: Some(pb::customer_ref::Kind::Id(id.to_owned())),
    }
}

pub fn by_phone(phone: &str) -> pb::CustomerRef {
    pb::CustomerRef {
        kind: Some(pb::customer_ref::Kind::Phone(phone.to_owned())),
    }
}

pub fn by_email(email: &str) -> pb::CustomerRef {
    pb::CustomerRef {
        kind: Some(pb::customer_ref::Kind::Email(email.to_owned())),
    }
}

pub fn by_external(system: &str, key: &str) -> pb::CustomerRef {
    pb::CustomerRef {
        kind: Some(pb::customer_ref::Kind::ExternalId(external(system, key))),
    }
}

pub fn external(system: &str, key: &str) -> pb::ExternalId {
    pb::ExternalId {
        system: system.to_owned(),
        key: key.to_owned(),
    }
}

/// A bare profile with only an id.
pub fn customer(id: &str) -> pb::Customer {
    pb::Customer {
        id: id.to_owned(),
        ..pb::Customer::default()
    }
}

/// A full profile with every kind of alias, some in need of normalisation.
pub fn li_wei() -> pb::Customer {
    pb::Customer {
        id: "c-1001".to_owned(),
        display_name: "Li Wei".to_owned(),
        region: "Hangzhou".to_owned(),
        plan: pb::Plan::Paid as i32,
        birthday: Some(pb::Birthday { month: 3, day: 14 }),
        phones: vec![
            "+86 138-0000-0000".to_owned(),
            "0086 13800000000".to_owned(),
        ],
        emails: vec!["  Li.Wei@Example.COM ".to_owned()],
        external_ids: vec![external(" erp ", "K-10442"), external("shop", "u_99812")],
        ..pb::Customer::default()
    }
}

// ---- events ----

/// An event of customer `id` (by id reference).
pub fn event(event_id: &str, id: &str, at: PbTimestamp, payload: Payload) -> pb::Event {
    event_for(event_id, by_id(id), at, payload)
}

pub fn event_for(
    event_id: &str,
    reference: pb::CustomerRef,
    at: PbTimestamp,
    payload: Payload,
) -> pb::Event {
    pb::Event {
        event_id: event_id.to_owned(),
        customer: Some(reference),
        occurred_at: Some(at),
        payload: Some(payload),
    }
}

/// A plain order payload: one unit on the web, in the reporting currency.
pub fn order_payload(order_id: &str, amount: i64) -> pb::Order {
    pb::Order {
        order_id: order_id.to_owned(),
        amount,
        currency: "CNY".to_owned(),
        units: 1,
        categories: vec!["books".to_owned()],
        channel: pb::Channel::Web as i32,
        ..pb::Order::default()
    }
}

pub fn order(event_id: &str, id: &str, at: PbTimestamp, order_id: &str, amount: i64) -> pb::Event {
    event(
        event_id,
        id,
        at,
        Payload::Order(order_payload(order_id, amount)),
    )
}

/// An order whose payload `adjust` changed (cost, discount, categories, ...).
pub fn order_with(
    event_id: &str,
    id: &str,
    at: PbTimestamp,
    order_id: &str,
    amount: i64,
    adjust: impl FnOnce(&mut pb::Order),
) -> pb::Event {
    let mut payload = order_payload(order_id, amount);
    adjust(&mut payload);
    event(event_id, id, at, Payload::Order(payload))
}

pub fn refund(event_id: &str, id: &str, at: PbTimestamp, order_id: &str, amount: i64) -> pb::Event {
    event(
        event_id,
        id,
        at,
        Payload::Refund(pb::Refund {
            order_id: order_id.to_owned(),
            amount,
            currency: String::new(),
        }),
    )
}

pub fn interaction(
    event_id: &str,
    id: &str,
    at: PbTimestamp,
    kind: pb::InteractionKind,
) -> pb::Event {
    event(
        event_id,
        id,
        at,
        Payload::Interaction(pb::Interaction {
            kind: kind as i32,
            channel: pb::Channel::Phone as i32,
        }),
    )
}

pub fn outbound(event_id: &str, id: &str, at: PbTimestamp) -> pb::Event {
    interaction(event_id, id, at, pb::InteractionKind::OutboundContact)
}

pub fn ticket(
    event_id: &str,
    id: &str,
    at: PbTimestamp,
    ticket_id: &str,
    kind: pb::TicketKind,
    sentiment: Option<f64>,
    resolved: bool,
) -> pb::Event {
    event(
        event_id,
        id,
        at,
        Payload::SupportTicket(pb::SupportTicket {
            ticket_id: ticket_id.to_owned(),
            kind: kind as i32,
            sentiment,
            resolved,
        }),
    )
}

pub fn survey(
    event_id: &str,
    id: &str,
    at: PbTimestamp,
    kind: pb::SurveyKind,
    score: u32,
) -> pb::Event {
    event(
        event_id,
        id,
        at,
        Payload::Survey(pb::Survey {
            kind: kind as i32,
            score,
        }),
    )
}

pub fn review(event_id: &str, id: &str, at: PbTimestamp, rating: u32) -> pb::Event {
    event(event_id, id, at, Payload::Review(pb::Review { rating }))
}

pub fn referral(event_id: &str, id: &str, at: PbTimestamp, referred: &str) -> pb::Event {
    event(
        event_id,
        id,
        at,
        Payload::Referral(pb::Referral {
            referred_id: referred.to_owned(),
        }),
    )
}

pub fn plan_change(event_id: &str, id: &str, at: PbTimestamp, plan: pb::Plan) -> pb::Event {
    event(
        event_id,
        id,
        at,
        Payload::PlanChange(pb::PlanChange { plan: plan as i32 }),
    )
}
