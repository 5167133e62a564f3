//! Customer references and profiles: proto <-> domain, aliases normalised on the way in.

use std::collections::BTreeMap;

use super::enums::{
    decision_style_from_pb, decision_style_to_pb, dimension_from_proto, dimension_to_proto,
    optional_enum, plan_from_pb, plan_to_pb,
};
use crate::api::pb;
use crate::api::pb::customer_ref::Kind;
use crate::domain::dimensions::Dimension;
use crate::domain::history::{Birthday, CustomerProfile, CustomerRef, ExternalId};
use crate::domain::validate::{
    check_id, normalize_email, normalize_phone, normalize_profile, path, FieldPath, Violations,
};

/// Converts the reference found at path `field` (e.g. `customer` or `events[3].customer`).
/// An unset reference or oneof is reported at `field`; a bad identifier at `field.id`,
/// `field.phone`, `field.email` or `field.external_id.{system,key}`. Phone and e-mail come back
/// normalised, external ids trimmed, as they are stored.
pub fn customer_ref_from_proto(
    reference: Option<&pb::CustomerRef>,
    field: &str,
    violations: &mut Violations,
) -> Option<CustomerRef> {
    let Some(kind) = reference.and_then(|r| r.kind.as_ref()) else {
        violations.add(
            field,
            "must name a customer: set one of id, phone, email, external_id",
        );
        return None;
    };
    let before = violations.list.len();
    let converted = match kind {
        Kind::Id(id) => {
            check_id(FieldPath::new(field, "id"), id, violations);
            CustomerRef::Id(id.clone())
        }
        Kind::Phone(raw) => match normalize_phone(raw) {
            Ok(phone) => CustomerRef::Phone(phone),
            Err(why) => {
                violations.add(path(field, "phone"), why);
                return None;
            }
        },
        Kind::Email(raw) => match normalize_email(raw) {
            Ok(email) => CustomerRef::Email(email),
            Err(why) => {
                violations.add(path(field, "email"), why);
                return None;
            }
        },
        Kind::ExternalId(external) => CustomerRef::External(external_id_from_proto(
            external,
            &path(field, "external_id"),
            violations,
        )),
    };
    (violations.list.len() == before).then_some(converted)
}

/// The domain reference as a proto reference (the identifier as stored).
pub fn customer_ref_to_proto(reference: &CustomerRef) -> pb::CustomerRef {
    let kind = match reference {
        CustomerRef::Id(id) => Kind::Id(id.clone()),
        CustomerRef::Phone(phone) => Kind::Phone(phone.clone()),
        CustomerRef::Email(email) => Kind::Email(email.clone()),
        CustomerRef::External(external) => Kind::ExternalId(external_id_to_proto(external)),
    };
    pb::CustomerRef { kind: Some(kind) }
}

/// Trimmed, then both parts checked like ids, the same rule profiles apply to their aliases.
fn external_id_from_proto(
    external: &pb::ExternalId,
    prefix: &str,
    violations: &mut Violations,
) -> ExternalId {
    let system = external.system.trim().to_owned();
    let key = external.key.trim().to_owned();
    check_id(&path(prefix, "system"), &system, violations);
    check_id(&path(prefix, "key"), &key, violations);
    ExternalId { system, key }
}

fn external_id_to_proto(external: &ExternalId) -> pb::ExternalId {
    pb::ExternalId {
        system: external.system.clone(),
        key: external.key.clone(),
    }
}

/// Empty proto3 strings mean "not given".
fn non_empty(text: &str) -> Option<String> {
    (!text.is_empty()).then(|| text.to_owned())
}

/// Converts and normalises a profile whose fields live under `prefix` (e.g. `customer`).
/// Reports every bad field (`customer.plan`, `customer.phones[1]`, `customer.pins[0].dimension`,
/// `customer.pins[2].segment_code`, `customer.birthday.day`, ...) and returns `None` if there was
/// any. Aliases come back normalised and de-duplicated, as the store expects them.
pub fn customer_from_proto(
    customer: &pb::Customer,
    prefix: &str,
    violations: &mut Violations,
) -> Option<CustomerProfile> {
    let before = violations.list.len();
    let field = |name: &str| path(prefix, name);
    let mut profile = CustomerProfile {
        id: customer.id.clone(),
        display_name: non_empty(&customer.display_name),
        birthday: customer.birthday.as_ref().map(|b| Birthday {
            month: b.month,
            day: b.day,
        }),
        region: non_empty(&customer.region),
        plan: optional_enum(customer.plan, &field("plan"), plan_from_pb, violations),
        decision_style: optional_enum(
            customer.decision_style,
            &field("decision_style"),
            decision_style_from_pb,
            violations,
        ),
        phones: customer.phones.clone(),
        emails: customer.emails.clone(),
        external_ids: customer
            .external_ids
            .iter()
            .map(external_id_to_domain_untrimmed)
            .collect(),
        attributes: customer.attributes.clone(),
        pins: BTreeMap::new(),
    };
    let pins = pins_from_proto(&customer.pins, prefix, violations);
    // Pins are checked above under their proto paths (`pins[2].segment_code`), so they are kept
    // out of normalize_profile, which would report them again under domain keys (`pins.rfm`).
    normalize_profile(&mut profile, prefix, violations);
    profile.pins = pins;
    (violations.list.len() == before).then_some(profile)
}

/// normalize_profile trims and checks external ids itself, under the same indexes.
fn external_id_to_domain_untrimmed(external: &pb::ExternalId) -> ExternalId {
    ExternalId {
        system: external.system.clone(),
        key: external.key.clone(),
    }
}

fn pins_from_proto(
    pins: &[pb::SegmentPin],
    prefix: &str,
    violations: &mut Violations,
) -> BTreeMap<Dimension, String> {
    let mut by_dimension: BTreeMap<Dimension, (usize, String)> = BTreeMap::new();
    for (i, pin) in pins.iter().enumerate() {
        let pin_path = path(prefix, &format!("pins[{i}]"));
        let Some(dimension) =
            dimension_from_proto(pin.dimension, &path(&pin_path, "dimension"), violations)
        else {
            continue;
        };
        if let Some((first, _)) = by_dimension.get(&dimension) {
            violations.add(
                path(&pin_path, "dimension"),
                format!(
                    "duplicate pin for {} (already pinned by pins[{first}]); at most one per dimension",
                    dimension_to_pb_name(dimension)
                ),
            );
            continue;
        }
        if !dimension.has_segment(&pin.segment_code) {
            violations.add(
                path(&pin_path, "segment_code"),
                format!(
                    "{:?} is not a segment of {}; expected one of {:?}",
                    pin.segment_code,
                    dimension_to_pb_name(dimension),
                    dimension.segment_codes()
                ),
            );
        }
        by_dimension.insert(dimension, (i, pin.segment_code.clone()));
    }
    by_dimension
        .into_iter()
        .map(|(dimension, (_, code))| (dimension, code))
        .collect()
}

fn dimension_to_pb_name(dimension: Dimension) -> &'static str {
    super::enums::dimension_to_pb(dimension).as_str_name()
}

/// The stored profile as a proto message; pins in dimension order, unset fields empty.
pub fn customer_to_proto(profile: &CustomerProfile) -> pb::Customer {
    pb::Customer {
        id: profile.id.clone(),
        display_name: profile.display_name.clone().unwrap_or_default(),
        birthday: profile.birthday.map(|b| pb::Birthday {
            month: b.month,
            day: b.day,
        }),
        region: profile.region.clone().unwrap_or_default(),
        plan: profile.plan.map_or(pb::Plan::Unspecified, plan_to_pb) as i32,
        decision_style: profile
            .decision_style
            .map_or(pb::DecisionStyle::Unspecified, decision_style_to_pb)
            as i32,
        phones: profile.phones.clone(),
        emails: profile.emails.clone(),
        external_ids: profile
            .external_ids
            .iter()
            .map(external_id_to_proto)
            .collect(),
        attributes: profile.attributes.clone(),
        pins: profile
            .pins
            .iter()
            .map(|(&dimension, code)| pb::SegmentPin {
                dimension: dimension_to_proto(dimension),
                segment_code: code.clone(),
            })
            .collect(),
    }
}

#[cfg(test)]
#[path = "refs_and_customers_tests.rs"]
mod tests;
