//! The predictive rows (issue 5): churn risk x predicted value tier.

use super::super::super::rules::RuleSetError;
use super::*;

/// A big spender slipping away, as the retrospective dimensions also see them.
fn slipping_big_spender(churn: &str, tier: &str) -> Customer {
    Customer::known(&[
        (Rfm, "IMPORTANT_RETAIN"),
        (ValueTier, "HIGH"),
        (Lifecycle, "CHURNED"),
        (ActivityPeriod, "LOST"),
        (AccountQuadrant, "OLD_BIG"),
        (ChurnRisk, churn),
        (PredictedValueTier, tier),
    ])
}

#[test]
fn high_value_at_high_churn_risk_gets_the_win_back_first() {
    let customer = slipping_big_spender("HIGH", "HIGH");
    for touchpoint in [Campaign, AccountReview, InboundCall] {
        let actions = customer.actions(&rules(), touchpoint);
        let first = &actions[0];
        assert_eq!(
            first.code,
            "HIGH_VALUE_WIN_BACK",
            "{touchpoint}: {:?}",
            codes(&actions)
        );
        assert_eq!(first.priority, 2);
        assert_eq!(first.channel, "ACCOUNT_MANAGER");
        assert_eq!(
            first.triggers,
            [
                trigger(ChurnRisk, "HIGH"),
                trigger(PredictedValueTier, "HIGH")
            ]
        );
    }
    // Before the retrospective win-back and the top-value care of the same customer.
    assert_eq!(
        customer.codes(Campaign)[..3],
        ["HIGH_VALUE_WIN_BACK", "VIP_SERVICE", "RFM_WIN_BACK_NOW"]
    );
}

#[test]
fn problems_still_come_before_the_win_back() {
    let customer = slipping_big_spender("HIGH", "HIGH").with(ServicePersona, "ANGRY");
    assert_eq!(
        customer.codes(InboundCall)[..2],
        ["SERVICE_RECOVERY", "HIGH_VALUE_WIN_BACK"]
    );
}

#[test]
fn the_win_back_is_held_to_the_contact_cap_in_a_campaign_but_stays_first() {
    // LOST: one outbound contact in 90 days, already made.
    let customer = slipping_big_spender("HIGH", "HIGH").contacts(1, 1);
    let actions = customer.actions(&rules(), Campaign);
    assert_eq!(actions[0].code, "HIGH_VALUE_WIN_BACK");
    assert!(actions[0].suppressed);
    // The customer called: nothing is held back.
    let actions = customer.actions(&rules(), InboundCall);
    assert_eq!(actions[0].code, "HIGH_VALUE_WIN_BACK");
    assert!(!actions[0].suppressed);
}

#[test]
fn other_combinations_get_their_rows() {
    let cases = [
        (
            "MEDIUM",
            "HIGH",
            AccountReview,
            "HIGH_VALUE_RETENTION_CHECK_IN",
        ),
        ("LOW", "HIGH", Campaign, "FUTURE_VALUE_NURTURE"),
        ("MEDIUM", "MEDIUM", Campaign, "RETENTION_REMINDER"),
        ("HIGH", "MEDIUM", Campaign, "LOW_COST_REACTIVATION"),
        ("HIGH", "LOW", Campaign, "LOW_COST_REACTIVATION"),
    ];
    for (churn, tier, touchpoint, code) in cases {
        let customer = Customer::known(&[(ChurnRisk, churn), (PredictedValueTier, tier)]);
        let found = customer.codes(touchpoint);
        assert!(
            found.contains(&code.to_owned()),
            "{churn}/{tier}: {found:?}"
        );
        assert!(!found.contains(&"HIGH_VALUE_WIN_BACK".to_owned()));
    }
    // Nothing predictive for customers the models cannot speak for.
    for code in ["UNKNOWN", "NONE"] {
        let customer = Customer::known(&[(ChurnRisk, code), (PredictedValueTier, code)]);
        let found = customer.codes(Campaign);
        let predictive = [
            "HIGH_VALUE_WIN_BACK",
            "HIGH_VALUE_RETENTION_CHECK_IN",
            "FUTURE_VALUE_NURTURE",
            "RETENTION_REMINDER",
            "LOW_COST_REACTIVATION",
        ];
        assert!(
            found.iter().all(|c| !predictive.contains(&c.as_str())),
            "{found:?}"
        );
    }
}

fn problems(rules: &RuleSet) -> Vec<String> {
    match rules.validate() {
        Err(RuleSetError::Invalid(problems)) => problems,
        other => panic!("expected Invalid, got {other:?}"),
    }
}

#[test]
fn the_win_back_row_is_required_and_must_outrank_sales_actions() {
    let mut rules = rules();
    rules.playbook.retain(|r| r.code != "HIGH_VALUE_WIN_BACK");
    assert_eq!(
        problems(&rules),
        [
            "playbook has no row for the win-back of churn_risk HIGH with predicted_value_tier \
          HIGH (spec section 4)"
        ]
    );

    let mut rules = super::rules();
    let row = rules
        .playbook
        .iter_mut()
        .find(|r| r.code == "HIGH_VALUE_WIN_BACK")
        .expect("built-in row");
    row.priority = 4;
    let problems = problems(&rules);
    assert_eq!(problems.len(), 1, "{problems:?}");
    assert!(
        problems[0].contains(
            "(HIGH_VALUE_WIN_BACK): the high-value win-back must outrank every \
                              sales action, but its priority 4"
        ),
        "{problems:?}"
    );
}
