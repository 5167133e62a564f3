//! Representative customers at each touchpoint: the exact ranked list of action codes.

use super::*;

#[test]
fn checkout_new_customer_gets_the_welcome_plan() {
    let customer = Customer::known(&[
        (Rfm, "GENERAL_DEVELOP"),
        (ValueTier, "MEDIUM"),
        (Engagement, "OCCASIONAL"),
        (Demand, "LOW"),
        (Lifecycle, "NEW"),
        (ActivityPeriod, "ACTIVE"),
        (AccountQuadrant, "NEW_SMALL"),
        (SalesPersona, "NEW"),
        (CustomerType, "CONVENIENCE"),
        (DecisionStyle, "EMOTIONAL"),
    ])
    // A secondary trait does not trigger the impulse bundle; the primary persona decides.
    .secondary(SalesPersona, "IMPULSE")
    // Far over the cap: the customer is checking out, so nothing is suppressed.
    .contacts(9, 20);
    let actions = customer.actions(&rules(), Checkout);
    assert_eq!(codes(&actions), ["WELCOME_PLAN", "LEAD_WITH_RELATIONSHIP"]);
    assert!(actions.iter().all(|a| !a.suppressed));
    let welcome = &actions[0];
    assert_eq!(welcome.channel, "IN_PAGE");
    assert_eq!(welcome.priority, 4);
    assert_eq!(welcome.triggers, [trigger(SalesPersona, "NEW")]);
    assert_eq!(welcome.offer.as_ref().map(|o| o.percent), Some(10));
}

#[test]
fn checkout_one_time_impulse_buyer_past_90_days() {
    let customer = Customer::known(&[
        (Lifecycle, "NEW"),
        (ActivityPeriod, "FORGOTTEN"),
        (SalesPersona, "IMPULSE"),
        (ValueTier, "LOW"),
    ]);
    assert_eq!(
        customer.codes(Checkout),
        ["SECOND_PURCHASE_NUDGE", "FLASH_BUNDLE"]
    );
}

#[test]
fn inbound_call_angry_loyal_customer_gets_recovery_before_anything_else() {
    let customer = Customer::known(&[
        (Rfm, "IMPORTANT_VALUE"),
        (ValueTier, "HIGH"),
        (Engagement, "FREQUENT"),
        (Lifecycle, "LOYAL"),
        (ActivityPeriod, "ACTIVE"),
        (Satisfaction, "MEDIUM"),
        (Advocacy, "DETRACTOR"),
        (AccountQuadrant, "OLD_BIG"),
        (ServicePersona, "ANGRY"),
        (CustomerType, "VALUE"),
    ])
    .secondary(ServicePersona, "LOYAL")
    .birthday(7, 1)
    .contacts(4, 4);
    let actions = customer.actions(&rules(), InboundCall);
    assert_eq!(
        codes(&actions),
        [
            "SERVICE_RECOVERY",
            "SENIOR_RECOVERY_CALL",
            "VIP_SERVICE",
            "BIRTHDAY_GIFT"
        ]
    );
    // The customer called: the ACTIVE cap (4 in 30 days) is reached but nothing is held back.
    assert!(actions
        .iter()
        .all(|a| !a.suppressed && a.suppression_reason.is_none()));
    assert_eq!(actions[0].channel, "PHONE");
    assert_eq!(actions[0].triggers, [trigger(ServicePersona, "ANGRY")]);
}

#[test]
fn inbound_call_unknown_caller_gets_prospect_actions() {
    let customer = Customer::unknown();
    assert!(!customer.classification.known);
    assert_eq!(
        customer.codes(InboundCall),
        ["PROSPECT_INTRO", "CES_SURVEY"]
    );
    assert_eq!(customer.codes(Checkout), ["PROSPECT_INTRO"]);
    assert_eq!(customer.codes(Campaign), ["PROSPECT_INTRO"]);
    assert_eq!(customer.codes(SupportTicket), ["PROSPECT_INTRO"]);
}

#[test]
fn campaign_churned_big_spender_is_won_back() {
    let customer = Customer::known(&[
        (Rfm, "IMPORTANT_RETAIN"),
        (ValueTier, "MEDIUM"),
        (Demand, "MEDIUM"),
        (Lifecycle, "CHURNED"),
        (ActivityPeriod, "LOST"),
        (AccountQuadrant, "OLD_BIG"),
        (CustomerType, "CONVENIENCE"),
    ])
    .contacts(0, 0);
    let actions = customer.actions(&rules(), Campaign);
    assert_eq!(
        codes(&actions),
        [
            "RFM_WIN_BACK_NOW",
            "CHURN_WIN_BACK",
            "REGULAR_CARE",
            "MAJOR_PROMOTION_ONLY"
        ]
    );
    assert!(actions.iter().all(|a| !a.suppressed));
    assert_eq!(actions[1].channel, "EMAIL");
    assert_eq!(actions[3].channel, "WIN_BACK_TEAM");
}

#[test]
fn campaign_free_user_gets_the_upgrade_offer() {
    let customer = Customer::known(&[
        (Engagement, "FREQUENT"),
        (SalesPersona, "FREE"),
        (CustomerType, "POTENTIAL"),
    ]);
    assert_eq!(
        customer.codes(Campaign),
        [
            "UPGRADE_OFFER",
            "PROSPECT_INTRO",
            "INTEREST_TARGETED_OFFERS"
        ]
    );
}

#[test]
fn account_review_old_big_dealer() {
    let customer = Customer::known(&[
        (Rfm, "IMPORTANT_VALUE"),
        (ValueTier, "HIGH"),
        (Lifecycle, "LOYAL"),
        (ActivityPeriod, "ACTIVE"),
        (Satisfaction, "HIGH"),
        (Advocacy, "PASSIVE"),
        (AccountQuadrant, "OLD_BIG"),
        (SalesPersona, "BARGAIN_HUNTER"),
        (ServicePersona, "LOYAL"),
        (CustomerType, "VALUE"),
        (DecisionStyle, "RATIONAL"),
    ]);
    let actions = customer.actions(&rules(), AccountReview);
    assert_eq!(codes(&actions), ["VIP_SERVICE", "HOLD_POLICY_LINE"]);
    assert_eq!(actions[1].channel, "ACCOUNT_MANAGER");

    // An account review is not the customer's own contact: reaching out obeys the cap, while
    // internal account planning is never held back.
    let capped = customer.contacts(4, 4);
    let actions = capped.actions(&rules(), AccountReview);
    assert_eq!(codes(&actions), ["VIP_SERVICE", "HOLD_POLICY_LINE"]);
    assert!(actions[0].suppressed);
    assert!(!actions[1].suppressed);
}

#[test]
fn account_review_each_quadrant_has_its_action() {
    for (quadrant, action) in [
        ("OLD_BIG", "HOLD_POLICY_LINE"),
        ("NEW_BIG", "PROTECT_BEFORE_COMMIT"),
        ("NEW_SMALL", "DEVELOP_BOLDLY"),
        ("OLD_SMALL", "SERVE_AT_LOW_COST"),
    ] {
        let customer = Customer::known(&[(Lifecycle, "MATURE"), (AccountQuadrant, quadrant)]);
        assert_eq!(customer.codes(AccountReview), [action], "{quadrant}");
    }
}

#[test]
fn support_ticket_from_a_demanding_curious_problem_customer() {
    let customer = Customer::known(&[
        (Rfm, "GENERAL_VALUE"),
        (ValueTier, "MEDIUM"),
        (Lifecycle, "MATURE"),
        (ActivityPeriod, "ACTIVE"),
        (Satisfaction, "LOW"),
        (Advocacy, "PASSIVE"),
        (SalesPersona, "INFORMED"),
        (ServicePersona, "DEMANDING"),
        (CustomerType, "PROBLEM"),
        (DecisionStyle, "RATIONAL"),
    ])
    .secondary(ServicePersona, "CURIOUS");
    let actions = customer.actions(&rules(), SupportTicket);
    assert_eq!(
        codes(&actions),
        [
            "CALM_PROFESSIONAL_SOLUTION",
            "RESOLVE_THEN_SURVEY",
            "PRIORITY_QUEUE"
        ]
    );
    assert!(actions.iter().all(|a| a.channel == "TICKET_REPLY"));
    // The same customer on the phone also hears the specifications and facts.
    assert_eq!(
        customer.codes(InboundCall),
        [
            "CALM_PROFESSIONAL_SOLUTION",
            "RESOLVE_THEN_SURVEY",
            "PRIORITY_QUEUE",
            "EXPERT_DETAILS",
            "LEAD_WITH_VALUE"
        ]
    );
}

#[test]
fn campaign_each_rfm_segment_has_its_own_action() {
    let expected = [
        ("IMPORTANT_VALUE", "RFM_KEEP_BEST"),
        ("IMPORTANT_DEVELOP", "RFM_RAISE_FREQUENCY"),
        ("IMPORTANT_KEEP", "RFM_REENGAGE"),
        ("IMPORTANT_RETAIN", "RFM_WIN_BACK_NOW"),
        ("GENERAL_VALUE", "RFM_UPSELL"),
        ("GENERAL_DEVELOP", "RFM_NURTURE"),
        ("GENERAL_KEEP", "RFM_LOW_COST_TOUCH"),
        ("GENERAL_RETAIN", "RFM_MINIMAL_CONTACT"),
    ];
    for (segment, action) in expected {
        let customer = Customer::known(&[(Rfm, segment), (Lifecycle, "LOYAL")]);
        assert_eq!(customer.codes(Campaign), [action], "{segment}");
    }
}
