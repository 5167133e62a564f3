//! Birthday windows: today through `days_ahead` days ahead, 29 February, the year's end.

use super::super::conditions::days_until_birthday;
use super::*;

fn greeted(month: u32, day: u32, as_of: Timestamp) -> bool {
    let customer = Customer::known(&[(Lifecycle, "MATURE")])
        .birthday(month, day)
        .on(as_of);
    greets(&customer, &rules())
}

fn greets(customer: &Customer, rules: &RuleSet) -> bool {
    let actions = customer.actions(rules, InboundCall);
    actions.iter().any(|a| a.code == "BIRTHDAY_GREETING")
}

#[test]
fn today_through_day_seven_but_not_day_eight() {
    let as_of = at(2025, 7, 1, 0);
    assert!(greeted(7, 1, as_of), "today");
    assert!(greeted(7, 8, as_of), "day 7");
    assert!(!greeted(7, 9, as_of), "day 8");
    assert!(!greeted(6, 30, as_of), "yesterday");
    // The UTC date counts, whatever the time of day.
    let late = at(2025, 7, 1, 86_399);
    assert!(greeted(7, 8, late));
    assert!(!greeted(7, 9, late));
}

#[test]
fn twenty_ninth_of_february() {
    // Leap year: the day itself.
    assert_eq!(days_until_birthday(feb29(), at(2024, 2, 29, 0)), Some(0));
    assert_eq!(days_until_birthday(feb29(), at(2024, 2, 22, 0)), Some(7));
    assert!(greeted(2, 29, at(2024, 2, 22, 0)));
    assert!(!greeted(2, 29, at(2024, 2, 21, 0)));
    // Other years: it counts as 28 February.
    assert_eq!(days_until_birthday(feb29(), at(2025, 2, 28, 0)), Some(0));
    assert!(greeted(2, 29, at(2025, 2, 28, 0)));
    assert!(greeted(2, 29, at(2025, 2, 21, 0)));
    assert!(!greeted(2, 29, at(2025, 2, 20, 0)));
    assert!(!greeted(2, 29, at(2025, 3, 1, 0)));
    // From 1 March 2027 the next one is 29 February 2028.
    assert_eq!(days_until_birthday(feb29(), at(2027, 3, 1, 0)), Some(365));
    assert_eq!(days_until_birthday(feb29(), at(2028, 2, 27, 0)), Some(2));
}

fn feb29() -> Birthday {
    Birthday { month: 2, day: 29 }
}

#[test]
fn the_window_wraps_into_january() {
    let as_of = at(2025, 12, 28, 0);
    assert!(greeted(12, 28, as_of));
    assert!(greeted(1, 3, as_of), "6 days");
    assert!(greeted(1, 4, as_of), "7 days");
    assert!(!greeted(1, 5, as_of), "8 days");
    let new_years_eve = at(2025, 12, 31, 86_399);
    assert!(greeted(1, 7, new_years_eve));
    assert!(!greeted(1, 8, new_years_eve));
}

#[test]
fn impossible_dates_and_missing_profiles_never_match() {
    let as_of = at(2025, 7, 1, 0);
    for (month, day) in [(0, 1), (13, 1), (6, 31), (7, 0), (2, 30)] {
        assert_eq!(days_until_birthday(Birthday { month, day }, as_of), None);
    }
    let mut customer = Customer::known(&[(Lifecycle, "MATURE")]).birthday(7, 1);
    assert!(greets(&customer, &rules()));
    customer.profile = None;
    assert!(!greets(&customer, &rules()));
}

#[test]
fn top_value_customers_get_the_gift_instead() {
    let customer = Customer::known(&[(Lifecycle, "MATURE"), (ValueTier, "HIGH")]).birthday(7, 3);
    let actions = customer.actions(&rules(), Campaign);
    assert_eq!(
        codes(&actions),
        ["VIP_SERVICE", "BIRTHDAY_GIFT", "PERSONAL_RECOMMENDATIONS"]
    );
    let gift = &actions[1];
    assert_eq!(
        gift.triggers,
        [
            Trigger {
                dimension: None,
                code: "BIRTHDAY".to_owned()
            },
            trigger(ValueTier, "HIGH")
        ]
    );
    assert_eq!(gift.offer.as_ref().map(|o| o.kind.as_str()), Some("GIFT"));
}

#[test]
fn days_ahead_comes_from_the_rule_set() {
    let mut rules = rules();
    rules.birthday.days_ahead = 0;
    let tomorrow = Customer::known(&[(Lifecycle, "MATURE")]).birthday(7, 2);
    assert!(greets(&tomorrow, &super::rules()));
    assert!(!greets(&tomorrow, &rules));
    let today = Customer::known(&[(Lifecycle, "MATURE")]).birthday(7, 1);
    assert!(greets(&today, &rules));
}
