//! Contact policy, locales, merging of shared actions and the action cap.

use super::super::super::rules::Locale;
use super::super::{Condition, TouchpointSet};
use super::*;

/// A customer whose only campaign action contacts them (lifecycle MATURE: recommendations).
fn mature_in(period: &str) -> Customer {
    Customer::known(&[(Lifecycle, "MATURE"), (ActivityPeriod, period)])
}

#[test]
fn each_period_suppresses_at_exactly_its_cap_and_not_below() {
    // (period, the window its cap counts, cap) with the built-in caps of spec 3.6.
    let caps = [
        ("ACTIVE", 30, 4),
        ("SILENT", 30, 2),
        ("FORGOTTEN", 30, 1),
        ("LOST", 90, 1),
        // No purchases yet: the ACTIVE cap applies (documented decision).
        ("NONE", 30, 4),
    ];
    let rules = rules();
    for (period, days, cap) in caps {
        for (count, suppressed) in [(cap - 1, false), (cap, true), (cap + 1, true)] {
            // Only the counted window carries the count; the other one is far over any cap,
            // which proves the right window is read.
            let (last_30d, last_90d) = if days == 30 { (count, 99) } else { (99, count) };
            let customer = mature_in(period).contacts(last_30d, last_90d);
            let actions = customer.actions(&rules, Campaign);
            let action = find(&actions, "PERSONAL_RECOMMENDATIONS");
            assert_eq!(action.suppressed, suppressed, "{period} at {count}");
            assert_eq!(action.suppression_reason.is_some(), suppressed);
            if let Some(reason) = &action.suppression_reason {
                assert!(reason.contains(period), "{reason}");
                assert!(
                    reason.contains(&format!("{count} outbound contacts")),
                    "{reason}"
                );
                assert!(reason.contains(&format!("last {days} days")), "{reason}");
                assert!(reason.contains(&format!("is {cap}")), "{reason}");
            }
        }
    }
}

#[test]
fn the_reason_names_period_count_and_cap() {
    let customer = mature_in("SILENT").contacts(2, 3);
    let actions = customer.actions(&rules(), Campaign);
    assert_eq!(
        actions[0].suppression_reason.as_deref(),
        Some(
            "contact cap reached: 2 outbound contacts in the last 30 days, \
             the cap for activity period SILENT (Silent) is 2"
        )
    );
    let mut request = customer.request(Campaign);
    request.locale = Locale::ZhCn;
    let actions = recommend(&rules(), &request);
    assert_eq!(
        actions[0].suppression_reason.as_deref(),
        Some("已达联系上限：近 30 天已主动联系 2 次，活跃度分期 SILENT（沉默期）的上限为 2 次")
    );
}

#[test]
fn customer_initiated_touchpoints_are_never_suppressed() {
    // Satisfaction LOW answers at every touchpoint and is marked as contacting the customer.
    let customer =
        Customer::known(&[(Satisfaction, "LOW"), (ActivityPeriod, "LOST")]).contacts(50, 50);
    let rules = rules();
    for touchpoint in Touchpoint::ALL.iter().copied() {
        let actions = customer.actions(&rules, touchpoint);
        let action = find(&actions, "RESOLVE_THEN_SURVEY");
        assert_eq!(
            action.suppressed,
            !touchpoint.is_customer_initiated(),
            "{touchpoint}"
        );
    }
}

#[test]
fn both_locales_are_served() {
    let customer = Customer::known(&[
        (Rfm, "IMPORTANT_RETAIN"),
        (Lifecycle, "CHURNED"),
        (ActivityPeriod, "LOST"),
    ]);
    let rules = rules();
    let english = customer.actions(&rules, Campaign);
    let mut request = customer.request(Campaign);
    request.locale = Locale::ZhCn;
    let chinese = recommend(&rules, &request);
    assert_eq!(codes(&english), codes(&chinese));
    for (en, zh) in english.iter().zip(&chinese) {
        assert_ne!(en.title, zh.title);
        assert_ne!(en.script, zh.script);
        assert_eq!((en.priority, &en.channel), (zh.priority, &zh.channel));
    }
    assert_eq!(english[0].title, "Win back a big spender now");
    assert_eq!(chinese[0].title, "立即挽回大额客户");
}

#[test]
fn an_action_triggered_twice_appears_once_naming_both() {
    let customer = Customer::known(&[
        (Lifecycle, "LOYAL"),
        (Advocacy, "PROMOTER"),
        (ServicePersona, "BRAND_ADVOCATE"),
    ]);
    let actions = customer.actions(&rules(), Campaign);
    assert_eq!(codes(&actions), ["REFERRAL_PROGRAMME"]);
    assert_eq!(
        actions[0].triggers,
        [
            trigger(ServicePersona, "BRAND_ADVOCATE"),
            trigger(Advocacy, "PROMOTER")
        ]
    );
    // At checkout only the advocate row applies.
    let actions = customer.actions(&rules(), Checkout);
    assert_eq!(
        actions[0].triggers,
        [trigger(ServicePersona, "BRAND_ADVOCATE")]
    );
}

#[test]
fn a_shared_action_ranks_by_its_most_urgent_row() {
    let mut rules = rules();
    // A second, more urgent trigger for the LOST promotion, placed after everything else.
    let mut extra = rules
        .playbook
        .iter()
        .find(|r| r.code == "MAJOR_PROMOTION_ONLY")
        .cloned()
        .expect("built-in row");
    extra.when = vec![Condition::Segment {
        dimension: Rfm,
        segments: vec!["IMPORTANT_RETAIN".to_owned()],
    }];
    // Priority 2 would be refused: the promotion carries an offer, and problems come first.
    extra.priority = 3;
    extra.touchpoints = TouchpointSet::Only(vec![Campaign]);
    rules.playbook.push(extra);
    assert_eq!(rules.validate(), Ok(()));

    let customer = Customer::known(&[
        (Rfm, "IMPORTANT_RETAIN"),
        (Lifecycle, "CHURNED"),
        (ActivityPeriod, "LOST"),
    ]);
    let actions = customer.actions(&rules, Campaign);
    assert_eq!(
        codes(&actions),
        ["RFM_WIN_BACK_NOW", "MAJOR_PROMOTION_ONLY", "CHURN_WIN_BACK"]
    );
    assert_eq!(actions[1].priority, 3);
    assert_eq!(
        actions[1].triggers,
        [
            trigger(ActivityPeriod, "LOST"),
            trigger(Rfm, "IMPORTANT_RETAIN")
        ]
    );
}

#[test]
fn max_actions_caps_the_ranked_list() {
    let customer = Customer::known(&[
        (Rfm, "IMPORTANT_RETAIN"),
        (ValueTier, "MEDIUM"),
        (Lifecycle, "CHURNED"),
        (ActivityPeriod, "LOST"),
    ]);
    let rules = rules();
    let all = codes(&customer.actions(&rules, Campaign));
    assert_eq!(all.len(), 4);
    for (max, expected) in [
        (Some(2), &all[..2]),
        (Some(1), &all[..1]),
        (Some(10), &all[..]),
        (Some(0), &all[..]),
        (None, &all[..]),
    ] {
        let mut request = customer.request(Campaign);
        request.max_actions = max;
        assert_eq!(codes(&recommend(&rules, &request)), expected, "{max:?}");
    }
    // Suppressed actions keep their rank and count toward the cap.
    let capped = customer.contacts(0, 1);
    let mut request = capped.request(Campaign);
    request.max_actions = Some(1);
    let actions = recommend(&rules, &request);
    assert_eq!(codes(&actions), ["RFM_WIN_BACK_NOW"]);
    assert!(actions[0].suppressed);
}

#[test]
fn cart_value_does_not_change_the_default_playbook() {
    let customer = Customer::known(&[(SalesPersona, "IMPULSE"), (Lifecycle, "MATURE")]);
    let rules = rules();
    let mut request = customer.request(Checkout);
    let without = recommend(&rules, &request);
    request.cart_value = Some(25_000);
    assert_eq!(recommend(&rules, &request), without);
    assert_eq!(codes(&without), ["FLASH_BUNDLE"]);
}
