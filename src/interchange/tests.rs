use std::collections::BTreeMap;

use serde_json::Value;

use super::*;
use crate::domain::history::ExternalId;

const NOW: &str = "2025-07-01T00:00:00Z";

/// The example lines of spec section 6, verbatim.
pub(super) const SPEC_LINES: &[&str] = &[
    r#"{"type": "PROFILE", "id": "c-1001", "display_name": "Li Wei", "plan": "PAID", "birthday": "03-14", "decision_style": "RATIONAL", "region": "Hangzhou", "phones": ["+8613800000000"], "emails": ["li.wei@example.com"], "external_ids": [{"system": "erp", "key": "K-10442"}], "attributes": {"age_band": "30-39"}, "pins": {"value_tier": "HIGH"}}"#,
    r#"{"type": "ORDER", "event_id": "e-1", "customer_id": "c-1001", "at": "2025-06-01T09:30:00Z", "order_id": "o-77", "amount": 12900, "currency": "CNY", "cost": 8000, "discount_amount": 1000, "coupon_code": "SUMMER", "units": 2, "categories": ["books", "toys"], "channel": "WEB", "consideration_seconds": 420}"#,
    r#"{"type": "REFUND", "event_id": "e-2", "customer_id": "c-1001", "at": "2025-06-03T10:00:00Z", "order_id": "o-77", "amount": 2900, "currency": "CNY"}"#,
    r#"{"type": "INTERACTION", "event_id": "e-3", "customer_id": "c-1001", "at": "2025-06-04T10:00:00Z", "kind": "PRODUCT_VIEW", "channel": "APP"}"#,
    r#"{"type": "SUPPORT_TICKET", "event_id": "e-4", "customer_id": "c-1001", "at": "2025-06-05T10:00:00Z", "ticket_id": "t-9", "kind": "COMPLAINT", "sentiment": -0.7, "resolved": false}"#,
    r#"{"type": "SURVEY", "event_id": "e-5", "customer_id": "c-1001", "at": "2025-06-06T10:00:00Z", "kind": "NPS", "score": 9}"#,
    r#"{"type": "REVIEW", "event_id": "e-6", "customer_id": "c-1001", "at": "2025-06-07T10:00:00Z", "rating": 5}"#,
    r#"{"type": "REFERRAL", "event_id": "e-7", "customer_id": "c-1001", "at": "2025-06-08T10:00:00Z", "referred_id": "c-2002"}"#,
    r#"{"type": "PLAN_CHANGE", "event_id": "e-8", "customer_id": "c-1001", "at": "2025-06-09T10:00:00Z", "plan": "PAID"}"#,
];

pub(super) fn now() -> Timestamp {
    parse_instant(NOW).unwrap()
}

pub(super) fn parse(line: &str) -> Result<Record, Vec<FieldViolation>> {
    parse_ndjson_line(line, "CNY", now())
}

fn at(text: &str) -> Timestamp {
    parse_instant(text).unwrap()
}

fn event(id: &str, when: &str, payload: EventPayload) -> Record {
    Record::Event(Event {
        event_id: id.into(),
        customer_id: "c-1001".into(),
        at: at(when),
        payload,
    })
}

fn expected_spec_records() -> Vec<Record> {
    let profile = CustomerProfile {
        id: "c-1001".into(),
        display_name: Some("Li Wei".into()),
        birthday: Some(Birthday { month: 3, day: 14 }),
        region: Some("Hangzhou".into()),
        plan: Some(Plan::Paid),
        decision_style: Some(DecisionStyle::Rational),
        phones: vec!["+8613800000000".into()],
        emails: vec!["li.wei@example.com".into()],
        external_ids: vec![ExternalId {
            system: "erp".into(),
            key: "K-10442".into(),
        }],
        attributes: BTreeMap::from([("age_band".into(), "30-39".into())]),
        pins: BTreeMap::from([(Dimension::ValueTier, "HIGH".into())]),
    };
    vec![
        Record::Profile(profile),
        event(
            "e-1",
            "2025-06-01T09:30:00Z",
            EventPayload::Order(Order {
                order_id: "o-77".into(),
                amount: 12900,
                cost: Some(8000),
                discount_amount: 1000,
                coupon_code: Some("SUMMER".into()),
                units: 2,
                categories: vec!["books".into(), "toys".into()],
                channel: Some(Channel::Web),
                consideration_seconds: Some(420),
            }),
        ),
        event(
            "e-2",
            "2025-06-03T10:00:00Z",
            EventPayload::Refund(Refund {
                order_id: "o-77".into(),
                amount: 2900,
            }),
        ),
        event(
            "e-3",
            "2025-06-04T10:00:00Z",
            EventPayload::Interaction {
                kind: InteractionKind::ProductView,
                channel: Some(Channel::App),
            },
        ),
        event(
            "e-4",
            "2025-06-05T10:00:00Z",
            EventPayload::SupportTicket(TicketUpdate {
                ticket_id: "t-9".into(),
                kind: TicketKind::Complaint,
                sentiment: Some(-0.7),
                resolved: false,
            }),
        ),
        event(
            "e-5",
            "2025-06-06T10:00:00Z",
            EventPayload::Survey {
                kind: SurveyKind::Nps,
                score: 9,
            },
        ),
        event(
            "e-6",
            "2025-06-07T10:00:00Z",
            EventPayload::Review { rating: 5 },
        ),
        event(
            "e-7",
            "2025-06-08T10:00:00Z",
            EventPayload::Referral {
                referred_id: Some("c-2002".into()),
            },
        ),
        event(
            "e-8",
            "2025-06-09T10:00:00Z",
            EventPayload::PlanChange { plan: Plan::Paid },
        ),
    ]
}

#[test]
fn spec_examples_parse_to_domain_values() {
    for (line, expected) in SPEC_LINES.iter().zip(expected_spec_records()) {
        assert_eq!(parse(line).unwrap(), expected, "{line}");
    }
}

#[test]
fn spec_examples_round_trip() {
    for line in SPEC_LINES {
        let record = parse(line).unwrap();
        let written = to_ndjson_in(&record, Some("CNY"));
        let original: Value = serde_json::from_str(line).unwrap();
        let rewritten: Value = serde_json::from_str(&written).unwrap();
        assert_eq!(rewritten, original, "{written}");
        assert!(written.starts_with("{\"type\":"), "{written}");
        assert_eq!(parse(&written).unwrap(), record);
        assert_eq!(parse(&to_ndjson(&record)).unwrap(), record);
    }
}

#[test]
fn absent_optionals_are_left_out() {
    let line = r#"{"type":"ORDER","event_id":"e","customer_id":"c","at":"2025-06-01T00:00:00Z","order_id":"o","amount":0,"units":1}"#;
    let record = parse(line).unwrap();
    let Record::Event(Event {
        payload: EventPayload::Order(order),
        ..
    }) = &record
    else {
        panic!("not an order")
    };
    assert_eq!(order.cost, None);
    assert_eq!(order.discount_amount, 0);
    assert_eq!(order.channel, None);
    assert_eq!(to_ndjson(&record), line);
    let profile = r#"{"type":"PROFILE","id":"c"}"#;
    assert_eq!(to_ndjson(&parse(profile).unwrap()), profile);
}

#[test]
fn offsets_convert_to_utc_and_micros_survive() {
    let line = r#"{"type":"REVIEW","event_id":"e","customer_id":"c","at":"2025-06-01T17:30:00.123456+08:00","rating":4}"#;
    let Record::Event(e) = parse(line).unwrap() else {
        panic!("not an event")
    };
    assert_eq!(e.at, at("2025-06-01T09:30:00.123456Z"));
    assert!(to_ndjson(&Record::Event(e)).contains("\"at\":\"2025-06-01T09:30:00.123456Z\""));
}

#[test]
fn profile_aliases_are_normalised() {
    let line = r#"{"type":"PROFILE","id":"c","phones":["+86 138-0000-0000","0086 13800000000"],"emails":[" Li@Example.COM "],"external_ids":[{"system":" shop ","key":"u_1"}]}"#;
    let Record::Profile(p) = parse(line).unwrap() else {
        panic!("not a profile")
    };
    assert_eq!(p.phones, ["+8613800000000"]);
    assert_eq!(p.emails, ["li@example.com"]);
    assert_eq!(p.external_ids[0].system, "shop");
}

/// The fields reported for a line, sorted.
fn bad_fields(line: &str) -> Vec<String> {
    let mut fields: Vec<String> = parse(line)
        .expect_err(line)
        .into_iter()
        .map(|v| v.field)
        .collect();
    fields.sort();
    fields
}

#[test]
fn syntax_and_type_errors_are_reported() {
    assert_eq!(bad_fields("{not json"), ["json"]);
    assert_eq!(bad_fields("[1, 2]"), ["json"]);
    assert_eq!(bad_fields(""), ["json"]);
    assert_eq!(bad_fields(r#"{"id":"c"}"#), ["type"]);
    assert_eq!(bad_fields(r#"{"type":"CUSTOMER","id":"c"}"#), ["type"]);
    assert_eq!(bad_fields(r#"{"type":7}"#), ["type"]);
}

#[test]
fn every_bad_field_is_reported() {
    let order = r#"{"type":"ORDER","event_id":"","at":"yesterday","order_id":"o","amount":"12","currency":"USD","units":0,"channel":"FAX","categories":["a",3],"colour":"red"}"#;
    assert_eq!(
        bad_fields(order),
        [
            "amount",
            "at",
            "categories[1]",
            "channel",
            "colour",
            "currency",
            "customer_id",
            "event_id",
            "units"
        ]
    );
    let missing =
        r#"{"type":"ORDER","event_id":"e","customer_id":"c","at":"2025-06-01T00:00:00Z"}"#;
    assert_eq!(bad_fields(missing), ["amount", "order_id", "units"]);
}

#[test]
fn domain_rules_are_reported_under_wire_names() {
    let base = r#""event_id":"e","customer_id":"c","at":"2025-06-01T00:00:00Z""#;
    let line = |rest: &str| format!("{{{base},{rest}}}");
    assert_eq!(
        bad_fields(&line(
            r#""type":"ORDER","order_id":"o","amount":-5,"units":1,"cost":-1,"discount_amount":-1,"categories":[""]"#
        )),
        ["amount", "categories[0]", "cost", "discount_amount"]
    );
    assert_eq!(
        bad_fields(&line(r#""type":"REFUND","order_id":"o","amount":0"#)),
        ["amount"]
    );
    assert_eq!(
        bad_fields(&line(r#""type":"SURVEY","kind":"CSAT","score":6"#)),
        ["score"]
    );
    assert_eq!(
        bad_fields(&line(r#""type":"SURVEY","kind":"XYZ","score":6"#)),
        ["kind"]
    );
    assert_eq!(
        bad_fields(&line(r#""type":"REVIEW","rating":0"#)),
        ["rating"]
    );
    assert_eq!(
        bad_fields(&line(
            r#""type":"SUPPORT_TICKET","ticket_id":"t","kind":"QUESTION","sentiment":-2"#
        )),
        ["sentiment"]
    );
    assert_eq!(
        bad_fields(&line(
            r#""type":"SUPPORT_TICKET","ticket_id":"t","kind":"RANT","resolved":"no""#
        )),
        ["kind", "resolved"]
    );
    assert_eq!(
        bad_fields(&line(r#""type":"INTERACTION","channel":"APP""#)),
        ["kind"]
    );
    assert_eq!(
        bad_fields(&line(r#""type":"PLAN_CHANGE","plan":"GOLD""#)),
        ["plan"]
    );
    assert_eq!(
        bad_fields(&line(r#""type":"REFERRAL","currency":"CNY""#)),
        ["currency"]
    );
    let future = r#"{"type":"REVIEW","event_id":"e","customer_id":"c","at":"2025-07-01T00:10:00Z","rating":3}"#;
    assert_eq!(bad_fields(future), ["at"]);
    let currency = r#"{"type":"REFUND","event_id":"e","customer_id":"c","at":"2025-06-01T00:00:00Z","order_id":"o","amount":1,"currency":"usd"}"#;
    let reasons = parse(currency).unwrap_err();
    assert!(
        reasons[0].description.contains("reporting currency CNY"),
        "{reasons:?}"
    );
    assert!(parse(&currency.replace("usd", "cny")).is_ok());
}

#[test]
fn bad_profile_fields_are_reported() {
    let line = r#"{"type":"PROFILE","id":"","plan":"GOLD","birthday":"02-30","decision_style":"MOODY","phones":["13800000000"],"emails":["nobody"],"external_ids":[{"system":"erp"}],"attributes":{"age":30},"pins":{"mood":"HIGH","value_tier":"TOP"}}"#;
    assert_eq!(
        bad_fields(line),
        [
            "attributes.age",
            "birthday",
            "decision_style",
            "emails[0]",
            "external_ids[0]",
            "id",
            "phones[0]",
            "pins.mood",
            "pins.value_tier",
            "plan"
        ]
    );
    assert_eq!(
        bad_fields(r#"{"type":"PROFILE","id":"c","birthday":"3-14"}"#),
        ["birthday"]
    );
    let shifted = r#"{"type":"PROFILE","id":"c","phones":[86,"+8613800000000","555"]}"#;
    assert_eq!(bad_fields(shifted), ["phones[0]", "phones[2]"]);
    assert_eq!(
        bad_fields(r#"{"type":"PROFILE","id":"c","phones":"+8613800000000"}"#),
        ["phones"]
    );
}

#[test]
fn wire_field_maps_api_paths() {
    assert_eq!(wire_field("events[3].order.amount"), "amount");
    assert_eq!(wire_field("events[0].occurred_at"), "at");
    assert_eq!(wire_field("customer"), "customer_id");
    assert_eq!(wire_field("birthday.day"), "birthday");
    assert_eq!(wire_field("phones[1]"), "phones[1]");
    assert_eq!(wire_field("customer.emails[0]"), "emails[0]");
}
