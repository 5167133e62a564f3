//! Records to NDJSON lines, for exports.

use serde_json::{Map, Value};

use super::Record;
use crate::domain::history::{Channel, DecisionStyle, EventPayload, Plan};

/// The NDJSON line of a record (no trailing newline), absent optionals left out. Money carries
/// no currency: the reader assumes its reporting currency. See [`to_ndjson_in`].
pub fn to_ndjson(record: &Record) -> String {
    to_ndjson_in(record, None)
}

/// Like [`to_ndjson`], stating `currency` on ORDER and REFUND lines so that an import into a
/// deployment with another reporting currency is refused instead of misread.
pub fn to_ndjson_in(record: &Record, currency: Option<&str>) -> String {
    let mut line = Line::default();
    match record {
        Record::Profile(p) => {
            line.put("type", "PROFILE");
            line.put("id", p.id.as_str());
            line.opt("display_name", p.display_name.as_deref());
            line.opt("plan", p.plan.map(Plan::code));
            line.opt(
                "birthday",
                p.birthday.map(|b| format!("{:02}-{:02}", b.month, b.day)),
            );
            line.opt("decision_style", p.decision_style.map(DecisionStyle::code));
            line.opt("region", p.region.as_deref());
            line.list("phones", &p.phones);
            line.list("emails", &p.emails);
            if !p.external_ids.is_empty() {
                let ids = p.external_ids.iter().map(|e| {
                    let mut pair = Map::new();
                    pair.insert("system".into(), e.system.clone().into());
                    pair.insert("key".into(), e.key.clone().into());
                    Value::Object(pair)
                });
                line.put("external_ids", Value::Array(ids.collect()));
            }
            line.map(
                "attributes",
                p.attributes.iter().map(|(k, v)| (k.as_str(), v)),
            );
            line.map("pins", p.pins.iter().map(|(d, code)| (d.code(), code)));
        }
        Record::Event(e) => {
            line.put("type", e.payload.type_code());
            line.put("event_id", e.event_id.as_str());
            line.put("customer_id", e.customer_id.as_str());
            line.put("at", e.at.to_rfc3339());
            put_payload(&mut line, &e.payload, currency);
        }
    }
    line.finish()
}

fn put_payload(line: &mut Line, payload: &EventPayload, currency: Option<&str>) {
    match payload {
        EventPayload::Order(o) => {
            line.put("order_id", o.order_id.as_str());
            line.put("amount", o.amount);
            line.opt("currency", currency);
            line.opt("cost", o.cost);
            line.opt(
                "discount_amount",
                (o.discount_amount != 0).then_some(o.discount_amount),
            );
            line.opt("coupon_code", o.coupon_code.as_deref());
            line.put("units", o.units);
            line.list("categories", &o.categories);
            line.opt("channel", o.channel.map(Channel::code));
            line.opt("consideration_seconds", o.consideration_seconds);
        }
        EventPayload::Refund(r) => {
            line.put("order_id", r.order_id.as_str());
            line.put("amount", r.amount);
            line.opt("currency", currency);
        }
        EventPayload::Interaction { kind, channel } => {
            line.put("kind", kind.code());
            line.opt("channel", channel.map(Channel::code));
        }
        EventPayload::SupportTicket(t) => {
            line.put("ticket_id", t.ticket_id.as_str());
            line.put("kind", t.kind.code());
            line.opt("sentiment", t.sentiment);
            line.put("resolved", t.resolved);
        }
        EventPayload::Survey { kind, score } => {
            line.put("kind", kind.code());
            line.put("score", *score);
        }
        EventPayload::Review { rating } => line.put("rating", *rating),
        EventPayload::Referral { referred_id } => line.opt("referred_id", referred_id.as_deref()),
        EventPayload::PlanChange { plan } => line.put("plan", plan.code()),
    }
}

/// A JSON object written field by field, so the output keeps the spec's field order (a
/// `serde_json::Map` would sort the keys and put `type` somewhere in the middle).
#[derive(Default)]
struct Line {
    text: String,
}

impl Line {
    fn put(&mut self, name: &str, value: impl Into<Value>) {
        self.text.push(if self.text.is_empty() { '{' } else { ',' });
        self.text.push_str(&Value::from(name).to_string());
        self.text.push(':');
        self.text.push_str(&value.into().to_string());
    }

    fn opt<T: Into<Value>>(&mut self, name: &str, value: Option<T>) {
        if let Some(value) = value {
            self.put(name, value);
        }
    }

    fn list(&mut self, name: &str, items: &[String]) {
        if !items.is_empty() {
            self.put(name, items.to_vec());
        }
    }

    fn map<'a>(&mut self, name: &str, entries: impl Iterator<Item = (&'a str, &'a String)>) {
        let object: Map<String, Value> = entries
            .map(|(k, v)| (k.to_owned(), Value::from(v.as_str())))
            .collect();
        if !object.is_empty() {
            self.put(name, Value::Object(object));
        }
    }

    fn finish(mut self) -> String {
        self.text.push('}');
        self.text
    }
}
