//! Events: proto -> domain with every bad field reported, and domain -> proto.
//!
//! The event's customer is only a reference here; the caller resolves it against the store and
//! then calls [`ConvertedEvent::into_event`]. The server clock is a parameter, never read here.

use super::enums::{
    channel_from_pb, channel_to_pb, interaction_kind_from_pb, interaction_kind_to_pb,
    optional_enum, plan_from_pb, plan_to_pb, required_enum, survey_kind_from_pb, survey_kind_to_pb,
    ticket_kind_from_pb, ticket_kind_to_pb,
};
use super::refs_and_customers::customer_ref_from_proto;
use super::time::{required_timestamp, timestamp_to_proto};
use crate::api::pb;
use crate::api::pb::event::Payload;
use crate::domain::history::{
    CustomerRef, Event, EventPayload, InteractionKind, Order, Refund, TicketKind, TicketUpdate,
};
use crate::domain::time::Timestamp;
use crate::domain::validate::{check_currency, check_event, path, Violations};

/// A valid event whose customer reference is not resolved to a customer id yet.
#[derive(Debug, Clone, PartialEq)]
pub struct ConvertedEvent {
    pub customer: CustomerRef,
    pub event_id: String,
    pub at: Timestamp,
    pub payload: EventPayload,
}

impl ConvertedEvent {
    /// The domain event, once the reference has been resolved to `customer_id`.
    pub fn into_event(self, customer_id: String) -> Event {
        Event {
            event_id: self.event_id,
            customer_id,
            at: self.at,
            payload: self.payload,
        }
    }
}

/// A payload `check_event` has no rules for. It stands in where the real payload (or another
/// part) could not be converted, so that the checks of the remaining fields still run and every
/// bad field is reported in one answer. It is never returned: a violation was recorded already.
fn stand_in_payload() -> EventPayload {
    EventPayload::Interaction {
        kind: InteractionKind::SiteVisit,
        channel: None,
    }
}

/// A valid id for `check_event`'s customer check: the reference is checked, under its own
/// path, by `customer_ref_from_proto`, and must not be reported twice.
const STAND_IN_CUSTOMER_ID: &str = "unresolved";

/// Converts the event whose fields live under `prefix` (e.g. `events[3]`), reporting every bad
/// field (`events[3].order.amount`, `events[3].customer.phone`, `events[3].payload`, ...).
/// Money must be in `reporting_currency` (an empty currency means that one); `now` is the
/// server clock that bounds `occurred_at`. `None` when anything was reported for this event.
pub fn event_from_proto(
    event: &pb::Event,
    prefix: &str,
    reporting_currency: &str,
    now: Timestamp,
    violations: &mut Violations,
) -> Option<ConvertedEvent> {
    let before = violations.list.len();
    let field = |name: &str| path(prefix, name);
    let customer = customer_ref_from_proto(event.customer.as_ref(), &field("customer"), violations);
    let at = required_timestamp(
        event.occurred_at.as_ref(),
        &field("occurred_at"),
        violations,
    );
    let payload = match &event.payload {
        Some(payload) => payload_from_proto(payload, prefix, reporting_currency, violations),
        None => {
            violations.add(
                field("payload"),
                "must be set: one of order, refund, interaction, support_ticket, survey, review, referral, plan_change",
            );
            stand_in_payload()
        }
    };

    // Range and id rules live in the domain, shared with the importer.
    let checked = Event {
        event_id: event.event_id.clone(),
        customer_id: STAND_IN_CUSTOMER_ID.to_owned(),
        // A missing instant is reported already; `now` is never in the future of itself.
        at: at.unwrap_or(now),
        payload,
    };
    check_event(&checked, prefix, now, violations);

    if violations.list.len() != before {
        return None;
    }
    Some(ConvertedEvent {
        customer: customer?,
        event_id: checked.event_id,
        at: at?,
        payload: checked.payload,
    })
}

/// Always yields a payload (a stand-in where a required enum is bad); see [`stand_in_payload`].
fn payload_from_proto(
    payload: &Payload,
    prefix: &str,
    reporting_currency: &str,
    violations: &mut Violations,
) -> EventPayload {
    let field = |name: &str| path(prefix, name);
    match payload {
        Payload::Order(order) => {
            check_currency(
                &order.currency,
                reporting_currency,
                &field("order.currency"),
                violations,
            );
            EventPayload::Order(Order {
                order_id: order.order_id.clone(),
                amount: order.amount,
                cost: order.cost,
                discount_amount: order.discount_amount,
                coupon_code: non_blank(&order.coupon_code),
                units: order.units,
                categories: order.categories.clone(),
                channel: optional_enum(
                    order.channel,
                    &field("order.channel"),
                    channel_from_pb,
                    violations,
                ),
                consideration_seconds: order.consideration_seconds,
            })
        }
        Payload::Refund(refund) => {
            check_currency(
                &refund.currency,
                reporting_currency,
                &field("refund.currency"),
                violations,
            );
            EventPayload::Refund(Refund {
                order_id: refund.order_id.clone(),
                amount: refund.amount,
            })
        }
        Payload::Interaction(interaction) => {
            let kind = required_enum(
                interaction.kind,
                &field("interaction.kind"),
                interaction_kind_from_pb,
                violations,
            );
            let channel = optional_enum(
                interaction.channel,
                &field("interaction.channel"),
                channel_from_pb,
                violations,
            );
            kind.map_or_else(stand_in_payload, |kind| EventPayload::Interaction {
                kind,
                channel,
            })
        }
        Payload::SupportTicket(ticket) => {
            let kind = required_enum(
                ticket.kind,
                &field("support_ticket.kind"),
                ticket_kind_from_pb,
                violations,
            );
            let mut sentiment = ticket.sentiment;
            if sentiment.is_some_and(|s| !s.is_finite()) {
                violations.add(field("support_ticket.sentiment"), "must be a finite number");
                // Dropped so that check_event does not report the same field again.
                sentiment = None;
            }
            EventPayload::SupportTicket(TicketUpdate {
                ticket_id: ticket.ticket_id.clone(),
                // The ticket checks do not depend on the kind; a bad kind was reported above.
                kind: kind.unwrap_or(TicketKind::Question),
                sentiment,
                resolved: ticket.resolved,
            })
        }
        Payload::Survey(survey) => {
            let kind = required_enum(
                survey.kind,
                &field("survey.kind"),
                survey_kind_from_pb,
                violations,
            );
            // Without a kind the score has no range to be checked against.
            kind.map_or_else(stand_in_payload, |kind| EventPayload::Survey {
                kind,
                score: survey.score,
            })
        }
        Payload::Review(review) => EventPayload::Review {
            rating: review.rating,
        },
        Payload::Referral(referral) => EventPayload::Referral {
            referred_id: non_blank(&referral.referred_id),
        },
        Payload::PlanChange(change) => {
            let plan = required_enum(
                change.plan,
                &field("plan_change.plan"),
                plan_from_pb,
                violations,
            );
            plan.map_or_else(stand_in_payload, |plan| EventPayload::PlanChange { plan })
        }
    }
}

/// Proto3 cannot tell an empty string from an absent one; blank means absent.
fn non_blank(text: &str) -> Option<String> {
    (!text.trim().is_empty()).then(|| text.to_owned())
}

/// The stored event as a proto message: the customer by id, money in the reporting currency
/// (left empty, which means exactly that).
pub fn event_to_proto(event: &Event) -> pb::Event {
    pb::Event {
        event_id: event.event_id.clone(),
        customer: Some(pb::CustomerRef {
            kind: Some(pb::customer_ref::Kind::Id(event.customer_id.clone())),
        }),
        occurred_at: Some(timestamp_to_proto(event.at)),
        payload: Some(payload_to_proto(&event.payload)),
    }
}

fn payload_to_proto(payload: &EventPayload) -> Payload {
    match payload {
        EventPayload::Order(order) => Payload::Order(pb::Order {
            order_id: order.order_id.clone(),
            amount: order.amount,
            currency: String::new(),
            cost: order.cost,
            discount_amount: order.discount_amount,
            coupon_code: order.coupon_code.clone().unwrap_or_default(),
            units: order.units,
            categories: order.categories.clone(),
            channel: order
                .channel
                .map_or(pb::Channel::Unspecified, channel_to_pb) as i32,
            consideration_seconds: order.consideration_seconds,
        }),
        EventPayload::Refund(refund) => Payload::Refund(pb::Refund {
            order_id: refund.order_id.clone(),
            amount: refund.amount,
            currency: String::new(),
        }),
        EventPayload::Interaction { kind, channel } => Payload::Interaction(pb::Interaction {
            kind: interaction_kind_to_pb(*kind) as i32,
            channel: channel.map_or(pb::Channel::Unspecified, channel_to_pb) as i32,
        }),
        EventPayload::SupportTicket(ticket) => Payload::SupportTicket(pb::SupportTicket {
            ticket_id: ticket.ticket_id.clone(),
            kind: ticket_kind_to_pb(ticket.kind) as i32,
            sentiment: ticket.sentiment,
            resolved: ticket.resolved,
        }),
        EventPayload::Survey { kind, score } => Payload::Survey(pb::Survey {
            kind: survey_kind_to_pb(*kind) as i32,
            score: *score,
        }),
        EventPayload::Review { rating } => Payload::Review(pb::Review { rating: *rating }),
        EventPayload::Referral { referred_id } => Payload::Referral(pb::Referral {
            referred_id: referred_id.clone().unwrap_or_default(),
        }),
        EventPayload::PlanChange { plan } => Payload::PlanChange(pb::PlanChange {
            plan: plan_to_pb(*plan) as i32,
        }),
    }
}

#[cfg(test)]
#[path = "events_tests.rs"]
mod tests;
