//! Proto enums <-> domain enums, and the locale tag.
//!
//! Every mapping is an exhaustive `match` in both directions, so adding a value to either side
//! fails to compile until it is mapped. `*_UNSPECIFIED` maps to `None`: "not set".

use crate::api::pb;
use crate::domain::dimensions::Dimension;
use crate::domain::history::{
    Channel, DecisionStyle, InteractionKind, Plan, SurveyKind, TicketKind,
};
use crate::domain::rules::Locale;
use crate::domain::validate::Violations;

/// Declares `$from(pb::X) -> Option<X>` and `$to(X) -> pb::X` from one table of pairs.
macro_rules! enum_mapping {
    ($from:ident, $to:ident, $pb:ident <=> $domain:ident { $($p:ident <=> $d:ident),+ $(,)? }) => {
        #[doc = concat!("`pb::", stringify!($pb), "` -> domain; `None` for UNSPECIFIED.")]
        pub fn $from(value: pb::$pb) -> Option<$domain> {
            match value {
                pb::$pb::Unspecified => None,
                $(pb::$pb::$p => Some($domain::$d),)+
            }
        }

        #[doc = concat!("Domain `", stringify!($domain), "` -> `pb::", stringify!($pb), "`.")]
        pub fn $to(value: $domain) -> pb::$pb {
            match value {
                $($domain::$d => pb::$pb::$p,)+
            }
        }
    };
}

enum_mapping!(dimension_from_pb, dimension_to_pb, Dimension <=> Dimension {
    Rfm <=> Rfm,
    ValueTier <=> ValueTier,
    Engagement <=> Engagement,
    Demand <=> Demand,
    Lifecycle <=> Lifecycle,
    ActivityPeriod <=> ActivityPeriod,
    Satisfaction <=> Satisfaction,
    Advocacy <=> Advocacy,
    AccountQuadrant <=> AccountQuadrant,
    SalesPersona <=> SalesPersona,
    ServicePersona <=> ServicePersona,
    CustomerType <=> CustomerType,
    DecisionStyle <=> DecisionStyle,
    ChurnRisk <=> ChurnRisk,
    PredictedValueTier <=> PredictedValueTier,
});
enum_mapping!(plan_from_pb, plan_to_pb, Plan <=> Plan { Free <=> Free, Trial <=> Trial, Paid <=> Paid });
enum_mapping!(decision_style_from_pb, decision_style_to_pb, DecisionStyle <=> DecisionStyle {
    Rational <=> Rational,
    Emotional <=> Emotional,
});
enum_mapping!(channel_from_pb, channel_to_pb, Channel <=> Channel {
    Web <=> Web,
    App <=> App,
    Store <=> Store,
    Phone <=> Phone,
    Dealer <=> Dealer,
});
enum_mapping!(interaction_kind_from_pb, interaction_kind_to_pb, InteractionKind <=> InteractionKind {
    ProductView <=> ProductView,
    Comparison <=> Comparison,
    ReviewRead <=> ReviewRead,
    SiteVisit <=> SiteVisit,
    StoreVisit <=> StoreVisit,
    InboundCall <=> InboundCall,
    Chat <=> Chat,
    OutboundContact <=> OutboundContact,
});
enum_mapping!(ticket_kind_from_pb, ticket_kind_to_pb, TicketKind <=> TicketKind {
    Question <=> Question,
    Complaint <=> Complaint,
    Claim <=> Claim,
    Escalation <=> Escalation,
});
enum_mapping!(survey_kind_from_pb, survey_kind_to_pb, SurveyKind <=> SurveyKind {
    Csat <=> Csat,
    Nps <=> Nps,
    Ces <=> Ces,
});

/// Reads an enum field that may be left unset: `None` for UNSPECIFIED. prost keeps values the
/// proto does not define as raw `i32`s; those are reported as "unknown value N".
pub fn optional_enum<P, D>(
    raw: i32,
    field: &str,
    map: fn(P) -> Option<D>,
    violations: &mut Violations,
) -> Option<D>
where
    P: TryFrom<i32>,
{
    match P::try_from(raw) {
        Ok(value) => map(value),
        Err(_) => {
            violations.add(field, format!("unknown value {raw}"));
            None
        }
    }
}

/// Reads an enum field that must be set: UNSPECIFIED and undefined values are both reported.
pub fn required_enum<P, D>(
    raw: i32,
    field: &str,
    map: fn(P) -> Option<D>,
    violations: &mut Violations,
) -> Option<D>
where
    P: TryFrom<i32>,
{
    match P::try_from(raw) {
        Ok(value) => {
            let mapped = map(value);
            if mapped.is_none() {
                violations.add(field, "must be set (the UNSPECIFIED value is not allowed)");
            }
            mapped
        }
        Err(_) => {
            violations.add(field, format!("unknown value {raw}"));
            None
        }
    }
}

/// A `Dimension` field of a request: required, so UNSPECIFIED and undefined values are reported.
pub fn dimension_from_proto(
    raw: i32,
    field: &str,
    violations: &mut Violations,
) -> Option<Dimension> {
    required_enum(raw, field, dimension_from_pb, violations)
}

/// A domain dimension as the `i32` that prost message fields hold.
pub fn dimension_to_proto(dimension: Dimension) -> i32 {
    dimension_to_pb(dimension) as i32
}

/// A request's locale tag (`en` by default, or `zh-CN`), reported at `field` when unsupported.
pub fn locale_from_proto(
    tag: &str,
    field: impl Into<String>,
    violations: &mut Violations,
) -> Option<Locale> {
    let locale = Locale::parse(tag);
    if locale.is_none() {
        violations.add(
            field,
            format!("unsupported locale {tag:?}; supported: en, zh-CN"),
        );
    }
    locale
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn dimensions_map_both_ways_in_proto_order() {
        for (i, &dimension) in Dimension::ALL.iter().enumerate() {
            let raw = dimension_to_proto(dimension);
            // The proto numbers the dimensions 1..=15 in the domain's order.
            assert_eq!(raw, i as i32 + 1);
            let mut v = Violations::default();
            assert_eq!(
                dimension_from_proto(raw, "dimension", &mut v),
                Some(dimension)
            );
            assert!(v.is_empty());
        }
        assert_eq!(Dimension::ALL.len(), 15);
    }

    #[test]
    fn unspecified_and_unknown_dimensions_are_reported() {
        let mut v = Violations::default();
        assert_eq!(dimension_from_proto(0, "pins[0].dimension", &mut v), None);
        assert_eq!(dimension_from_proto(99, "dimension", &mut v), None);
        assert_eq!(v.list.len(), 2);
        assert_eq!(v.list[0].field, "pins[0].dimension");
        assert!(v.list[0].description.contains("UNSPECIFIED"));
        assert_eq!(v.list[1].description, "unknown value 99");
    }

    #[test]
    fn every_enum_round_trips_through_its_proto_twin() {
        for &plan in Plan::ALL {
            assert_eq!(plan_from_pb(plan_to_pb(plan)), Some(plan));
        }
        for &style in DecisionStyle::ALL {
            assert_eq!(
                decision_style_from_pb(decision_style_to_pb(style)),
                Some(style)
            );
        }
        for &channel in Channel::ALL {
            assert_eq!(channel_from_pb(channel_to_pb(channel)), Some(channel));
        }
        for &kind in InteractionKind::ALL {
            assert_eq!(
                interaction_kind_from_pb(interaction_kind_to_pb(kind)),
                Some(kind)
            );
        }
        for &kind in TicketKind::ALL {
            assert_eq!(ticket_kind_from_pb(ticket_kind_to_pb(kind)), Some(kind));
        }
        for &kind in SurveyKind::ALL {
            assert_eq!(survey_kind_from_pb(survey_kind_to_pb(kind)), Some(kind));
        }
        // The domain codes are the proto names without their prefix.
        assert_eq!(plan_to_pb(Plan::Paid).as_str_name(), "PLAN_PAID");
        assert_eq!(
            interaction_kind_to_pb(InteractionKind::OutboundContact).as_str_name(),
            "INTERACTION_KIND_OUTBOUND_CONTACT"
        );
    }

    #[test]
    fn optional_enums_accept_unset_and_reject_undefined() {
        let mut v = Violations::default();
        assert_eq!(
            optional_enum(0, "order.channel", channel_from_pb, &mut v),
            None
        );
        assert!(v.is_empty());
        assert_eq!(
            optional_enum(3, "order.channel", channel_from_pb, &mut v),
            Some(Channel::Store)
        );
        assert_eq!(
            optional_enum(42, "order.channel", channel_from_pb, &mut v),
            None
        );
        assert_eq!(v.list.len(), 1);
        assert_eq!(v.list[0].description, "unknown value 42");
    }

    #[test]
    fn required_enums_reject_unspecified() {
        let mut v = Violations::default();
        assert_eq!(
            required_enum(0, "survey.kind", survey_kind_from_pb, &mut v),
            None
        );
        assert_eq!(
            required_enum(2, "survey.kind", survey_kind_from_pb, &mut v),
            Some(SurveyKind::Nps)
        );
        assert_eq!(
            required_enum(-1, "survey.kind", survey_kind_from_pb, &mut v),
            None
        );
        assert_eq!(v.list.len(), 2);
    }

    #[test]
    fn locales_parse_or_name_the_supported_ones() {
        let mut v = Violations::default();
        assert_eq!(
            locale_from_proto("", "options.locale", &mut v),
            Some(Locale::En)
        );
        assert_eq!(
            locale_from_proto("zh_cn", "options.locale", &mut v),
            Some(Locale::ZhCn)
        );
        assert_eq!(locale_from_proto("fr", "options.locale", &mut v), None);
        assert_eq!(v.list.len(), 1);
        assert_eq!(v.list[0].field, "options.locale");
        assert!(v.list[0].description.contains("supported: en, zh-CN"));
    }
}
