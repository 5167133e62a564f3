use super::*;
use crate::domain::history::{DecisionStyle, Plan};

fn reference(kind: Kind) -> pb::CustomerRef {
    pb::CustomerRef { kind: Some(kind) }
}

fn fields(v: &Violations) -> Vec<&str> {
    v.list.iter().map(|f| f.field.as_str()).collect()
}

#[test]
fn references_normalise_their_identifier() {
    let cases = [
        (Kind::Id("c-1".into()), CustomerRef::Id("c-1".into())),
        (
            Kind::Phone("+86 138-0000-0000".into()),
            CustomerRef::Phone("+8613800000000".into()),
        ),
        (
            Kind::Email(" Li.Wei@Example.COM ".into()),
            CustomerRef::Email("li.wei@example.com".into()),
        ),
        (
            Kind::ExternalId(pb::ExternalId {
                system: " erp ".into(),
                key: "K-10442".into(),
            }),
            CustomerRef::External(ExternalId {
                system: "erp".into(),
                key: "K-10442".into(),
            }),
        ),
    ];
    for (kind, expected) in cases {
        let mut v = Violations::default();
        let got = customer_ref_from_proto(Some(&reference(kind)), "customer", &mut v);
        assert_eq!(got, Some(expected.clone()));
        assert!(v.is_empty());
        // Back to proto and in again: the stored form is a fixed point.
        let again =
            customer_ref_from_proto(Some(&customer_ref_to_proto(&expected)), "customer", &mut v);
        assert_eq!(again, Some(expected));
    }
}

#[test]
fn unset_references_are_reported_at_the_reference_path() {
    let mut v = Violations::default();
    assert_eq!(customer_ref_from_proto(None, "customer", &mut v), None);
    assert_eq!(
        customer_ref_from_proto(
            Some(&pb::CustomerRef { kind: None }),
            "events[2].customer",
            &mut v
        ),
        None
    );
    assert_eq!(fields(&v), ["customer", "events[2].customer"]);
}

#[test]
fn bad_identifiers_are_reported_at_their_oneof_member() {
    let mut v = Violations::default();
    let bad = [
        Kind::Id(String::new()),
        Kind::Phone("13800000000".into()),
        Kind::Email("not-an-address".into()),
        Kind::ExternalId(pb::ExternalId {
            system: " ".into(),
            key: String::new(),
        }),
    ];
    for kind in bad {
        assert_eq!(
            customer_ref_from_proto(Some(&reference(kind)), "customer", &mut v),
            None
        );
    }
    assert_eq!(
        fields(&v),
        [
            "customer.id",
            "customer.phone",
            "customer.email",
            "customer.external_id.system",
            "customer.external_id.key",
        ]
    );
}

fn full_customer() -> pb::Customer {
    pb::Customer {
        id: "c-42".into(),
        display_name: "Li Wei".into(),
        birthday: Some(pb::Birthday { month: 2, day: 29 }),
        region: "Shanghai".into(),
        plan: pb::Plan::Paid as i32,
        decision_style: pb::DecisionStyle::Emotional as i32,
        phones: vec!["+8613800000000".into()],
        emails: vec!["li.wei@example.com".into()],
        external_ids: vec![
            pb::ExternalId {
                system: "erp".into(),
                key: "K-10442".into(),
            },
            pb::ExternalId {
                system: "shop".into(),
                key: "u_99812".into(),
            },
        ],
        attributes: [("age_band".to_owned(), "30-39".to_owned())]
            .into_iter()
            .collect(),
        pins: vec![
            pb::SegmentPin {
                dimension: pb::Dimension::ValueTier as i32,
                segment_code: "HIGH".into(),
            },
            pb::SegmentPin {
                dimension: pb::Dimension::Lifecycle as i32,
                segment_code: "LOYAL".into(),
            },
        ],
    }
}

#[test]
fn customers_round_trip() {
    let proto = full_customer();
    let mut v = Violations::default();
    let profile = customer_from_proto(&proto, "customer", &mut v);
    assert!(v.is_empty(), "{:?}", v.list);
    let profile = profile.unwrap();
    assert_eq!(profile.plan, Some(Plan::Paid));
    assert_eq!(profile.decision_style, Some(DecisionStyle::Emotional));
    assert_eq!(profile.birthday, Some(Birthday { month: 2, day: 29 }));
    assert_eq!(
        profile.pins.get(&Dimension::ValueTier).map(String::as_str),
        Some("HIGH")
    );
    assert_eq!(customer_to_proto(&profile), proto);
}

#[test]
fn empty_customer_fields_are_none() {
    let proto = pb::Customer {
        id: "c-1".into(),
        ..Default::default()
    };
    let mut v = Violations::default();
    let profile = customer_from_proto(&proto, "customer", &mut v).unwrap();
    assert_eq!(
        profile,
        CustomerProfile {
            id: "c-1".into(),
            ..Default::default()
        }
    );
    assert_eq!(customer_to_proto(&profile), proto);
}

#[test]
fn aliases_are_normalised_and_deduplicated() {
    let proto = pb::Customer {
        id: "c-1".into(),
        phones: vec!["0086 138 0000 0000".into(), "+8613800000000".into()],
        emails: vec![" A@B.COM".into()],
        external_ids: vec![pb::ExternalId {
            system: " shop ".into(),
            key: "u1".into(),
        }],
        ..Default::default()
    };
    let mut v = Violations::default();
    let profile = customer_from_proto(&proto, "customer", &mut v).unwrap();
    assert_eq!(profile.phones, ["+8613800000000"]);
    assert_eq!(profile.emails, ["a@b.com"]);
    assert_eq!(
        profile.external_ids,
        [ExternalId {
            system: "shop".into(),
            key: "u1".into()
        }]
    );
}

#[test]
fn every_bad_customer_field_is_reported() {
    let proto = pb::Customer {
        id: String::new(),
        birthday: Some(pb::Birthday { month: 4, day: 31 }),
        plan: 7,
        decision_style: -3,
        phones: vec!["+8613800000000".into(), "12345".into()],
        emails: vec!["x@y.com".into(), "nope".into()],
        external_ids: vec![pb::ExternalId {
            system: "erp".into(),
            key: " ".into(),
        }],
        pins: vec![
            pb::SegmentPin {
                dimension: 0,
                segment_code: "HIGH".into(),
            },
            pb::SegmentPin {
                dimension: pb::Dimension::Rfm as i32,
                segment_code: "HIGH".into(),
            },
            pb::SegmentPin {
                dimension: pb::Dimension::Demand as i32,
                segment_code: "LOW".into(),
            },
            pb::SegmentPin {
                dimension: pb::Dimension::Demand as i32,
                segment_code: "HIGH".into(),
            },
            pb::SegmentPin {
                dimension: 77,
                segment_code: "HIGH".into(),
            },
        ],
        ..Default::default()
    };
    let mut v = Violations::default();
    assert_eq!(customer_from_proto(&proto, "customer", &mut v), None);
    let mut got = fields(&v);
    got.sort_unstable();
    assert_eq!(
        got,
        [
            "customer.birthday.day",
            "customer.decision_style",
            "customer.emails[1]",
            "customer.external_ids[0].key",
            "customer.id",
            "customer.phones[1]",
            "customer.pins[0].dimension",
            "customer.pins[1].segment_code",
            "customer.pins[3].dimension",
            "customer.pins[4].dimension",
            "customer.plan",
        ]
    );
    let plan = v.list.iter().find(|f| f.field == "customer.plan").unwrap();
    assert_eq!(plan.description, "unknown value 7");
    let duplicate = v
        .list
        .iter()
        .find(|f| f.field == "customer.pins[3].dimension")
        .unwrap();
    assert!(
        duplicate.description.contains("pins[2]"),
        "{}",
        duplicate.description
    );
}

#[test]
fn a_bad_birthday_month_is_reported_under_the_prefix() {
    let proto = pb::Customer {
        id: "c-1".into(),
        birthday: Some(pb::Birthday { month: 13, day: 1 }),
        ..Default::default()
    };
    let mut v = Violations::default();
    assert_eq!(customer_from_proto(&proto, "", &mut v), None);
    assert_eq!(fields(&v), ["birthday.month"]);
}

#[test]
fn earlier_violations_do_not_spoil_a_good_customer() {
    let mut v = Violations::default();
    v.add("events[0].event_id", "must not be empty");
    assert!(customer_from_proto(&full_customer(), "customer", &mut v).is_some());
    assert_eq!(v.list.len(), 1);
}
