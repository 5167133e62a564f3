use super::*;
use crate::domain::history::{Channel, Plan, SurveyKind};

const NOW: Timestamp = Timestamp::from_seconds(1_751_284_800);

fn by_id(id: &str) -> Option<pb::CustomerRef> {
    Some(pb::CustomerRef {
        kind: Some(pb::customer_ref::Kind::Id(id.into())),
    })
}

fn event(payload: Payload) -> pb::Event {
    pb::Event {
        event_id: "e-1".into(),
        customer: by_id("c-1"),
        occurred_at: Some(prost_types::Timestamp {
            seconds: 1_751_280_000,
            nanos: 5_000,
        }),
        payload: Some(payload),
    }
}

fn order() -> pb::Order {
    pb::Order {
        order_id: "o-1".into(),
        amount: 12_900,
        currency: "CNY".into(),
        cost: Some(8_000),
        discount_amount: 500,
        coupon_code: "SPRING".into(),
        units: 2,
        categories: vec!["tea".into(), "cups".into()],
        channel: pb::Channel::App as i32,
        consideration_seconds: Some(3_600),
    }
}

fn convert(proto: &pb::Event) -> (Option<ConvertedEvent>, Violations) {
    let mut v = Violations::default();
    let converted = event_from_proto(proto, "events[3]", "CNY", NOW, &mut v);
    (converted, v)
}

fn fields(v: &Violations) -> Vec<&str> {
    v.list.iter().map(|f| f.field.as_str()).collect()
}

/// One valid payload of every kind, as the domain should read it.
fn every_payload_kind() -> Vec<(Payload, EventPayload)> {
    vec![
        (
            Payload::Order(order()),
            EventPayload::Order(Order {
                order_id: "o-1".into(),
                amount: 12_900,
                cost: Some(8_000),
                discount_amount: 500,
                coupon_code: Some("SPRING".into()),
                units: 2,
                categories: vec!["tea".into(), "cups".into()],
                channel: Some(Channel::App),
                consideration_seconds: Some(3_600),
            }),
        ),
        (
            Payload::Refund(pb::Refund {
                order_id: "o-1".into(),
                amount: 900,
                currency: String::new(),
            }),
            EventPayload::Refund(Refund {
                order_id: "o-1".into(),
                amount: 900,
            }),
        ),
        (
            Payload::Interaction(pb::Interaction {
                kind: pb::InteractionKind::Comparison as i32,
                channel: pb::Channel::Web as i32,
            }),
            EventPayload::Interaction {
                kind: InteractionKind::Comparison,
                channel: Some(Channel::Web),
            },
        ),
        (
            Payload::SupportTicket(pb::SupportTicket {
                ticket_id: "t-1".into(),
                kind: pb::TicketKind::Claim as i32,
                sentiment: Some(-0.5),
                resolved: true,
            }),
            EventPayload::SupportTicket(TicketUpdate {
                ticket_id: "t-1".into(),
                kind: TicketKind::Claim,
                sentiment: Some(-0.5),
                resolved: true,
            }),
        ),
        (
            Payload::Survey(pb::Survey {
                kind: pb::SurveyKind::Nps as i32,
                score: 0,
            }),
            EventPayload::Survey {
                kind: SurveyKind::Nps,
                score: 0,
            },
        ),
        (
            Payload::Review(pb::Review { rating: 5 }),
            EventPayload::Review { rating: 5 },
        ),
        (
            Payload::Referral(pb::Referral {
                referred_id: "c-9".into(),
            }),
            EventPayload::Referral {
                referred_id: Some("c-9".into()),
            },
        ),
        (
            Payload::PlanChange(pb::PlanChange {
                plan: pb::Plan::Trial as i32,
            }),
            EventPayload::PlanChange { plan: Plan::Trial },
        ),
    ]
}

#[test]
fn every_payload_kind_round_trips() {
    for (payload, expected) in every_payload_kind() {
        let proto = event(payload);
        let (converted, v) = convert(&proto);
        assert!(v.is_empty(), "{:?}", v.list);
        let converted = converted.unwrap();
        assert_eq!(converted.payload, expected);
        assert_eq!(converted.customer, CustomerRef::Id("c-1".into()));
        assert_eq!(converted.at, Timestamp::from_micros(1_751_280_000_000_005));

        let stored = converted.into_event("c-1".into());
        let back = event_to_proto(&stored);
        // Only the currency differs: the stored form leaves it empty (the reporting currency).
        let (again, v) = convert(&back);
        assert!(v.is_empty(), "{:?}", v.list);
        assert_eq!(again.unwrap().into_event("c-1".into()), stored);
    }
}

#[test]
fn into_event_takes_the_resolved_customer_id() {
    let mut proto = event(Payload::Review(pb::Review { rating: 4 }));
    proto.customer = Some(pb::CustomerRef {
        kind: Some(pb::customer_ref::Kind::Phone("+8613800000000".into())),
    });
    let converted = convert(&proto).0.unwrap();
    assert_eq!(
        converted.customer,
        CustomerRef::Phone("+8613800000000".into())
    );
    let stored = converted.into_event("c-77".into());
    assert_eq!(stored.customer_id, "c-77");
    assert_eq!(stored.event_id, "e-1");
}

#[test]
fn negative_amount_foreign_currency_and_unknown_channel_are_all_reported() {
    let proto = event(Payload::Order(pb::Order {
        amount: -1,
        currency: "USD".into(),
        channel: 42,
        ..order()
    }));
    let (converted, v) = convert(&proto);
    assert_eq!(converted, None);
    let mut got = fields(&v);
    got.sort_unstable();
    assert_eq!(
        got,
        [
            "events[3].order.amount",
            "events[3].order.channel",
            "events[3].order.currency"
        ]
    );
    assert!(v.list.iter().any(|f| f.description == "unknown value 42"));
    assert!(v.list.iter().any(|f| f.description == "must be >= 0"));
}

#[test]
fn envelope_problems_are_reported_together() {
    let proto = pb::Event {
        event_id: String::new(),
        customer: None,
        occurred_at: None,
        payload: None,
    };
    let (converted, v) = convert(&proto);
    assert_eq!(converted, None);
    let mut got = fields(&v);
    got.sort_unstable();
    assert_eq!(
        got,
        [
            "events[3].customer",
            "events[3].event_id",
            "events[3].occurred_at",
            "events[3].payload"
        ]
    );
}

#[test]
fn the_future_is_bounded_by_the_given_clock() {
    let mut proto = event(Payload::Review(pb::Review { rating: 5 }));
    proto.occurred_at = Some(prost_types::Timestamp {
        seconds: NOW.micros() / 1_000_000 + 301,
        nanos: 0,
    });
    let (converted, v) = convert(&proto);
    assert_eq!(converted, None);
    assert_eq!(fields(&v), ["events[3].occurred_at"]);

    proto.occurred_at = Some(prost_types::Timestamp {
        seconds: NOW.micros() / 1_000_000 + 300,
        nanos: 0,
    });
    assert!(convert(&proto).0.is_some());
}

#[test]
fn a_bad_customer_reference_is_reported_once_at_its_path() {
    let mut proto = event(Payload::Review(pb::Review { rating: 5 }));
    proto.customer = by_id("");
    let (_, v) = convert(&proto);
    assert_eq!(fields(&v), ["events[3].customer.id"]);
}

#[test]
fn required_enums_must_be_set_and_defined() {
    let cases = [
        (
            Payload::Interaction(pb::Interaction {
                kind: 0,
                channel: 99,
            }),
            vec![
                "events[3].interaction.channel",
                "events[3].interaction.kind",
            ],
        ),
        (
            Payload::SupportTicket(pb::SupportTicket {
                ticket_id: String::new(),
                kind: 0,
                sentiment: None,
                resolved: false,
            }),
            vec![
                "events[3].support_ticket.kind",
                "events[3].support_ticket.ticket_id",
            ],
        ),
        (
            Payload::Survey(pb::Survey { kind: 9, score: 50 }),
            vec!["events[3].survey.kind"],
        ),
        (
            Payload::PlanChange(pb::PlanChange { plan: 0 }),
            vec!["events[3].plan_change.plan"],
        ),
    ];
    for (payload, expected) in cases {
        let (converted, v) = convert(&event(payload));
        assert_eq!(converted, None);
        let mut got = fields(&v);
        got.sort_unstable();
        assert_eq!(got, expected);
    }
}

#[test]
fn domain_ranges_are_checked_per_payload() {
    let cases = [
        (
            Payload::Order(pb::Order {
                units: 0,
                cost: Some(-1),
                discount_amount: -1,
                categories: vec![String::new()],
                ..order()
            }),
            vec![
                "events[3].order.categories[0]",
                "events[3].order.cost",
                "events[3].order.discount_amount",
                "events[3].order.units",
            ],
        ),
        (
            Payload::Refund(pb::Refund {
                order_id: "o-1".into(),
                amount: 0,
                currency: "EUR".into(),
            }),
            vec!["events[3].refund.amount", "events[3].refund.currency"],
        ),
        (
            Payload::Survey(pb::Survey {
                kind: pb::SurveyKind::Csat as i32,
                score: 0,
            }),
            vec!["events[3].survey.score"],
        ),
        (
            Payload::Review(pb::Review { rating: 6 }),
            vec!["events[3].review.rating"],
        ),
        (
            Payload::Referral(pb::Referral {
                referred_id: "x".repeat(200),
            }),
            vec!["events[3].referral.referred_id"],
        ),
        (
            Payload::SupportTicket(pb::SupportTicket {
                ticket_id: "t".into(),
                kind: 1,
                sentiment: Some(1.5),
                resolved: false,
            }),
            vec!["events[3].support_ticket.sentiment"],
        ),
    ];
    for (payload, expected) in cases {
        let (converted, v) = convert(&event(payload));
        assert_eq!(converted, None);
        let mut got = fields(&v);
        got.sort_unstable();
        assert_eq!(got, expected);
    }
}

#[test]
fn non_finite_sentiment_is_reported_once() {
    for sentiment in [f64::NAN, f64::INFINITY, f64::NEG_INFINITY] {
        let payload = Payload::SupportTicket(pb::SupportTicket {
            ticket_id: "t-1".into(),
            kind: pb::TicketKind::Question as i32,
            sentiment: Some(sentiment),
            resolved: false,
        });
        let (converted, v) = convert(&event(payload));
        assert_eq!(converted, None);
        assert_eq!(fields(&v), ["events[3].support_ticket.sentiment"]);
        assert_eq!(v.list[0].description, "must be a finite number");
    }
}

#[test]
fn empty_optional_texts_and_currency_are_absent_or_default() {
    let payload = Payload::Order(pb::Order {
        coupon_code: "  ".into(),
        currency: "cny".into(),
        cost: None,
        channel: 0,
        consideration_seconds: None,
        ..order()
    });
    let converted = convert(&event(payload)).0.unwrap();
    let EventPayload::Order(order) = converted.payload else {
        panic!("not an order");
    };
    assert_eq!(
        (
            order.coupon_code,
            order.cost,
            order.channel,
            order.consideration_seconds
        ),
        (None, None, None, None)
    );

    let payload = Payload::Referral(pb::Referral {
        referred_id: String::new(),
    });
    let converted = convert(&event(payload)).0.unwrap();
    assert_eq!(
        converted.payload,
        EventPayload::Referral { referred_id: None }
    );
}

#[test]
fn an_empty_prefix_gives_top_level_paths() {
    let mut v = Violations::default();
    let proto = event(Payload::Review(pb::Review { rating: 0 }));
    assert!(event_from_proto(&proto, "", "CNY", NOW, &mut v).is_none());
    assert_eq!(fields(&v), ["review.rating"]);
}
